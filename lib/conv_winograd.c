#include "conv_winograd.h"

#include "cpu_dispatch.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ATTN_FLOAT64)
#define CONV_WINOGRAD_X86 1
#include <immintrin.h>
#endif

/* NR output channels per weight panel; WT tiles per block, the rows of the products' register tile (as in
 * conv_direct.c: 10 accumulators of 8 floats); POINTS of the transformed domain. */
enum { NR = 16, WT = 5, POINTS = 16, MAX_CIN = 256 };

/* Every block of WT tiles reads all the transformed weights (16·cin·cout floats): the method pays while they
 * stay in the level-2 cache (512 KB here; the minatar ConvLSTM's are 393 KB), not for the Atari ConvLSTM's
 * 6.3 MB, which stays on one GEMM per layer. */
enum { MAX_PAIRS = 8192 };

long conv_winograd_packed_floats(const conv_shape *s) { return (long)POINTS * s->cin * s->cout; }

long conv_winograd_units(const conv_shape *s) { return (long)s->B * ((s->oh + 1) / 2); }

long conv_winograd_unit_row(const conv_shape *s, long u)
{
    const long th = (s->oh + 1) / 2;
    return (u / th * s->oh + 2 * (u % th)) * s->ow;
}

#ifdef CONV_WINOGRAD_X86

/* From the direct kernel's packing [panel][tap][cin][16] to U [panel][ξ][cin][16] = G·g·Gᵀ, with G = [1 0 0;
 * ½ ½ ½; ½ −½ ½; 0 0 1], 8 output channels at a time: the packing's 8 × 8 transposes already put a panel's
 * channels side by side, and a scalar transform (in double, one (out, in) pair at a time) cost more than a
 * whole B = 1 step. */
__attribute__((target("avx2"))) void conv_winograd_transform(float *up, const float *dp, const conv_shape *s)
{
    const int cin = s->cin, panels = s->cout / NR;
    const __m256 half = _mm256_set1_ps(0.5f);
    for (int j = 0; j < panels; j++)
        for (int c = 0; c < cin; c++)
            for (int h = 0; h < NR; h += 8) {
                __m256 g[3][3], t[4][3];
                for (int tap = 0; tap < 9; tap++)
                    g[tap / 3][tap % 3] = _mm256_loadu_ps(dp + (((long)j * 9 + tap) * cin + c) * NR + h);
                for (int x = 0; x < 3; x++) { /* G·g, column x */
                    const __m256 outer = _mm256_add_ps(g[0][x], g[2][x]);
                    t[0][x] = g[0][x];
                    t[1][x] = _mm256_mul_ps(_mm256_add_ps(outer, g[1][x]), half);
                    t[2][x] = _mm256_mul_ps(_mm256_sub_ps(outer, g[1][x]), half);
                    t[3][x] = g[2][x];
                }
                for (int a = 0; a < 4; a++) { /* (G·g)·Gᵀ, row a */
                    const __m256 outer = _mm256_add_ps(t[a][0], t[a][2]);
                    const __m256 u[4] = {t[a][0], _mm256_mul_ps(_mm256_add_ps(outer, t[a][1]), half),
                                         _mm256_mul_ps(_mm256_sub_ps(outer, t[a][1]), half), t[a][2]};
                    for (int b = 0; b < 4; b++)
                        _mm256_storeu_ps(up + (((long)j * POINTS + a * 4 + b) * cin + c) * NR + h, u[b]);
                }
            }
}

/* Where tile t of the shape sits: its image, and the output coordinates of its top-left output. */
typedef struct tile_at {
    long b;
    int oy, ox;
} tile_at;

static tile_at tile_position(const conv_shape *s, long t)
{
    const int th = (s->oh + 1) / 2, tw = (s->ow + 1) / 2;
    const long per_image = (long)th * tw;
    return (tile_at){t / per_image, (int)(t % per_image / tw) * 2, (int)(t % tw) * 2};
}


int conv_winograd_available(const conv_shape *s)
{
    if (s->k != 3 || s->stride != 1 || s->pad != 1 || s->cin % 8 || s->cin > MAX_CIN || s->cout % NR ||
        (long)s->cin * s->cout > MAX_PAIRS)
        return 0;
    return cpu_use_avx2_fma();
}

/* v[ξ][i][c] ← (Bᵀ·d·B)[ξ] of tile i's 4 × 4 input patch d (zeros outside the input), Bᵀ = [1 0 −1 0;
 * 0 1 1 0; 0 −1 1 0; 0 1 0 −1], 8 channels at a time; tiles i ≥ nt are zero. */
__attribute__((target("avx2"))) static void input_transform(float *v, const float *in, const conv_shape *s, long t,
                                                            int nt)
{
    const int cin = s->cin;
    const __m256 zero = _mm256_setzero_ps();
    for (int i = 0; i < WT; i++) {
        if (i >= nt) {
            for (int p = 0; p < POINTS; p++)
                for (int c = 0; c < cin; c += 8) _mm256_storeu_ps(v + ((long)p * WT + i) * cin + c, zero);
            continue;
        }
        const tile_at at = tile_position(s, t + i);
        const float *img = in + at.b * s->ih * s->iw * cin;
        const float *px[4][4];
        for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++) {
                const int iy = at.oy - 1 + dy, ix = at.ox - 1 + dx;
                const int inside = ((unsigned)iy < (unsigned)s->ih) & ((unsigned)ix < (unsigned)s->iw);
                px[dy][dx] = inside ? img + ((long)iy * s->iw + ix) * cin : NULL;
            }
        for (int c = 0; c < cin; c += 8) {
            __m256 d[4][4], r[4][4];
            for (int dy = 0; dy < 4; dy++)
                for (int dx = 0; dx < 4; dx++) d[dy][dx] = px[dy][dx] ? _mm256_loadu_ps(px[dy][dx] + c) : zero;
            for (int x = 0; x < 4; x++) { /* Bᵀ·d, column x */
                r[0][x] = _mm256_sub_ps(d[0][x], d[2][x]);
                r[1][x] = _mm256_add_ps(d[1][x], d[2][x]);
                r[2][x] = _mm256_sub_ps(d[2][x], d[1][x]);
                r[3][x] = _mm256_sub_ps(d[1][x], d[3][x]);
            }
            for (int a = 0; a < 4; a++) { /* (Bᵀ·d)·B, row a */
                float *o = v + ((long)(a * 4) * WT + i) * cin + c;
                const long step = (long)WT * cin;
                _mm256_storeu_ps(o, _mm256_sub_ps(r[a][0], r[a][2]));
                _mm256_storeu_ps(o + step, _mm256_add_ps(r[a][1], r[a][2]));
                _mm256_storeu_ps(o + 2 * step, _mm256_sub_ps(r[a][2], r[a][1]));
                _mm256_storeu_ps(o + 3 * step, _mm256_sub_ps(r[a][1], r[a][3]));
            }
        }
    }
}

#define ACC_START(i) __m256 lo##i = _mm256_setzero_ps(), hi##i = _mm256_setzero_ps()
#define ACC_FMA(i)                                                                                                 \
    do {                                                                                                           \
        const __m256 a = _mm256_broadcast_ss(v + (i) * cin + c);                                                   \
        lo##i = _mm256_fmadd_ps(a, u0, lo##i);                                                                     \
        hi##i = _mm256_fmadd_ps(a, u1, hi##i);                                                                     \
    } while (0)
#define ACC_STORE(i) _mm256_storeu_ps(m + (i) * NR, lo##i), _mm256_storeu_ps(m + (i) * NR + 8, hi##i)

/* One point of the transformed domain for one panel: m[i][0..16) = Σ_c v[i][c]·u[c][0..16) for the WT tiles. */
__attribute__((target("avx2,fma"))) static void point_product(float *m, const float *v, const float *u, int cin)
{
    ACC_START(0);
    ACC_START(1);
    ACC_START(2);
    ACC_START(3);
    ACC_START(4);
    for (int c = 0; c < cin; c++, u += NR) {
        const __m256 u0 = _mm256_loadu_ps(u), u1 = _mm256_loadu_ps(u + 8);
        ACC_FMA(0);
        ACC_FMA(1);
        ACC_FMA(2);
        ACC_FMA(3);
        ACC_FMA(4);
    }
    ACC_STORE(0);
    ACC_STORE(1);
    ACC_STORE(2);
    ACC_STORE(3);
    ACC_STORE(4);
}

/* Tile i's 2 × 2 outputs for the panel's 16 channels from m[ξ][i][16]: Aᵀ·m·A with Aᵀ = [1 1 1 0; 0 1 −1 −1],
 * plus the bias (or, with bias NULL, added to what out holds); outputs past the grid's edge are dropped. */
__attribute__((target("avx2"))) static void output_transform(float *out, const float *m, const float *bias,
                                                             const conv_shape *s, long t, int nt, int panel)
{
    for (int i = 0; i < nt; i++) {
        const tile_at at = tile_position(s, t + i);
        for (int half = 0; half < 2; half++) {
            __m256 q[4][4], r[2][4];
            for (int p = 0; p < POINTS; p++) q[p / 4][p % 4] = _mm256_loadu_ps(m + ((long)p * WT + i) * NR + 8 * half);
            for (int x = 0; x < 4; x++) {
                r[0][x] = _mm256_add_ps(_mm256_add_ps(q[0][x], q[1][x]), q[2][x]);
                r[1][x] = _mm256_sub_ps(_mm256_sub_ps(q[1][x], q[2][x]), q[3][x]);
            }
            const __m256 b = bias ? _mm256_loadu_ps(bias + 8 * half) : _mm256_setzero_ps();
            for (int y = 0; y < 2; y++) {
                const __m256 y0 = _mm256_add_ps(_mm256_add_ps(r[y][0], r[y][1]), r[y][2]);
                const __m256 y1 = _mm256_sub_ps(_mm256_sub_ps(r[y][1], r[y][2]), r[y][3]);
                const int oy = at.oy + y;
                if (oy >= s->oh) continue;
                for (int x = 0; x < 2; x++) {
                    const int ox = at.ox + x;
                    if (ox >= s->ow) continue;
                    float *o = out + ((at.b * s->oh + oy) * s->ow + ox) * s->cout + panel * NR + 8 * half;
                    const __m256 add = bias ? b : _mm256_loadu_ps(o);
                    _mm256_storeu_ps(o, _mm256_add_ps(x ? y1 : y0, add));
                }
            }
        }
    }
}

/* Blocks of WT tiles: transform their patches once (they stay in the level-1 cache, 15 KB at 48 channels),
 * then for each panel the 16 point products and the way back. */
void conv_winograd_forward_units(float *out, const float *in, const float *up, const float *b, const conv_shape *s,
                                 long u0, long u1)
{
    const int tw = (s->ow + 1) / 2, cin = s->cin, panels = s->cout / NR;
    const long t1 = u1 * tw;
    float v[POINTS * WT * MAX_CIN], m[POINTS * WT * NR];
    for (long t = u0 * tw; t < t1; t += WT) {
        const int nt = t1 - t < WT ? (int)(t1 - t) : WT;
        input_transform(v, in, s, t, nt);
        for (int j = 0; j < panels; j++) {
            for (int p = 0; p < POINTS; p++)
                point_product(m + (long)p * WT * NR, v + (long)p * WT * cin, up + ((long)j * POINTS + p) * cin * NR,
                              cin);
            output_transform(out, m, b ? b + j * NR : NULL, s, t, nt, j);
        }
    }
}

#else /* no AVX2 in this build: never available, so the passes never call the stubs below */

int conv_winograd_available(const conv_shape *s)
{
    (void)s;
    return 0;
}

void conv_winograd_transform(float *up, const float *dp, const conv_shape *s)
{
    (void)up, (void)dp, (void)s;
}

void conv_winograd_forward_units(float *out, const float *in, const float *up, const float *b, const conv_shape *s,
                                 long u0, long u1)
{
    (void)out, (void)in, (void)up, (void)b, (void)s, (void)u0, (void)u1;
}

#endif
