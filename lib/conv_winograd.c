#include "conv_winograd.h"

#include "cpu_dispatch.h"
#include "conv_winograd_tiles.h"
#include "gemm.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ATTN_FLOAT64)
#define CONV_WINOGRAD_X86 1
#include <immintrin.h>
#endif

static int weight_grad_by_gemm(const conv_shape *s) { return (long)s->cin * s->cout > MAX_PAIRS; }
static int weight_grad_chunk(const conv_shape *s) { return weight_grad_by_gemm(s) ? WB_GEMM : WB; }

long conv_winograd_packed_floats(const conv_shape *s) { return (long)POINTS * s->cin * s->cout; }

/* Blocks of tiles per pass over the transformed weights: one while the weights stay in the level-2 cache
 * between blocks (512 KB here; the minatar ConvLSTM's are 393 KB); for larger ones (the Atari ConvLSTM's 6.3
 * MB) eight, so that each point's weights (12 KB a panel) serve eight blocks from the level-1 cache and the
 * whole set streams once per 40 tiles instead of once per 5. */
static int subblocks(const conv_shape *s) { return (long)s->cin * s->cout <= MAX_PAIRS ? 1 : 8; }

long conv_winograd_scratch_floats(const conv_shape *s)
{
    return (long)POINTS * WT * subblocks(s) * (s->cin + 2 * NR); /* v, and m for up to two panels */
}

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

int conv_winograd_available(const conv_shape *s)
{
    if (s->k != 3 || s->stride != 1 || s->pad != 1 || s->cin % 8 || s->cout % NR) return 0;
    return cpu_use_avx2_fma();
}

/* v[ξ][i][c] (ld tiles per point) ← (Bᵀ·d·B)[ξ] of tile t + i's 4 × 4 input patch d (zeros outside the
 * input), Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], 8 channels at a time, for i < nt; tiles nt ≤ i < fill
 * are zero. */
__attribute__((target("avx2"))) static void input_transform(float *v, int ld, const float *in, const conv_shape *s,
                                                            long t, int nt, int fill)
{
    const int cin = s->cin;
    const __m256 zero = _mm256_setzero_ps();
    for (int i = 0; i < fill; i++) {
        if (i >= nt) {
            for (int p = 0; p < POINTS; p++)
                for (int c = 0; c < cin; c += 8) _mm256_storeu_ps(v + ((long)p * ld + i) * cin + c, zero);
            continue;
        }
        const float *px[4][4];
        tile_patch(px, in, s, t + i);
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
                float *o = v + ((long)(a * 4) * ld + i) * cin + c;
                const long step = (long)ld * cin;
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

/* The AVX-512 path (conv_winograd_avx512.c): two panels per product call, one vector per panel elsewhere. */
static void forward_block_avx512(float *out, const float *v, float *m, const float *up, const float *b,
                                 const conv_shape *s, long t, int nt, int ld)
{
    const int cin = s->cin, panels = s->cout / NR, blocks = (nt + WT - 1) / WT;
    float *m1 = m + (long)POINTS * ld * NR;
    for (int j = 0; j < panels; j += 2) {
        const int pair = j + 1 < panels;
        for (int p = 0; p < POINTS; p++) {
            const float *u0 = up + ((long)j * POINTS + p) * cin * NR, *u1 = u0 + (long)POINTS * cin * NR;
            for (int q = 0; q < blocks; q++) {
                const long at = ((long)q * POINTS + p) * WT * NR;
                const float *vq = v + ((long)p * ld + q * WT) * cin;
                if (pair)
                    winograd512_point_product_pair(m + at, m1 + at, vq, u0, u1, cin);
                else
                    point_product(m + at, vq, u0, cin);
            }
        }
        for (int k = 0; k < 1 + pair; k++)
            for (int q = 0; q < blocks; q++) {
                const int in_block = nt - q * WT < WT ? nt - q * WT : WT;
                winograd512_output_transform(out, (k ? m1 : m) + (long)q * POINTS * WT * NR,
                                             b ? b + (j + k) * NR : NULL, s, t + q * WT, in_block, j + k);
            }
    }
}

/* Super-blocks of `sub` blocks of WT tiles: transform their patches once (v: [point][tile][cin], in the level-1
 * cache for one block of the minatar ConvLSTM, 15 KB), then for each panel and point the products of every
 * block (m: [block][point][tile][16]) against that point's weights, which stay in the level-1 cache across the
 * blocks, and for each block the way back. */
void conv_winograd_forward_units(float *out, const float *in, const float *up, const float *b, const conv_shape *s,
                                 long u0, long u1, float *scratch)
{
    const int tw = (s->ow + 1) / 2, cin = s->cin, panels = s->cout / NR, sub = subblocks(s), ld = WT * sub;
    const int wide = cpu_use_avx512(), wide_in = wide && cin % 16 == 0;
    const long t1 = u1 * tw;
    float *v = scratch, *m = scratch + (long)POINTS * ld * cin;
    for (long t = u0 * tw; t < t1; t += ld) {
        const int nt = t1 - t < ld ? (int)(t1 - t) : ld, blocks = (nt + WT - 1) / WT;
        if (wide_in)
            winograd512_input_transform(v, ld, in, s, t, nt, blocks * WT);
        else
            input_transform(v, ld, in, s, t, nt, blocks * WT);
        if (wide) {
            forward_block_avx512(out, v, m, up, b, s, t, nt, ld);
            continue;
        }
        for (int j = 0; j < panels; j++) {
            for (int p = 0; p < POINTS; p++) {
                const float *u = up + ((long)j * POINTS + p) * cin * NR;
                for (int q = 0; q < blocks; q++)
                    point_product(m + ((long)q * POINTS + p) * WT * NR, v + ((long)p * ld + q * WT) * cin, u, cin);
            }
            for (int q = 0; q < blocks; q++) {
                const int in_block = nt - q * WT < WT ? nt - q * WT : WT;
                output_transform(out, m + (long)q * POINTS * WT * NR, b ? b + j * NR : NULL, s, t + q * WT, in_block,
                                 j);
            }
        }
    }
}


/* ---- The weight gradient ------------------------------------------------------------------------------ */

/* dw = Σ over tiles of the correlation of each tile's 4 × 4 input patch with its 2 × 2 output gradient g. The
 * forward algorithm F(2×2, 3×3) transposed (dw is the derivative of Σ g·out with respect to the weights):
 * dw = Gᵀ·[Σ_tiles (A·g·Aᵀ) ⊙ (Bᵀ·d·B)]·G, with A the transpose of the forward's Aᵀ. The sum over tiles happens
 * in the transformed domain, per (point, out, in), as 16 products reducing over tiles; Gᵀ·M·G is applied once,
 * when the caller has summed all it wants (a whole attn_backward). */
int conv_winograd_weight_grad_available(const conv_shape *s)
{
    return s->cin % KC == 0 && conv_winograd_available(s);
}

long conv_winograd_weight_grad_floats(const conv_shape *s) { return (long)POINTS * s->cin * s->cout; }

long conv_winograd_weight_grad_scratch_floats(const conv_shape *s)
{
    return (long)POINTS * weight_grad_chunk(s) * (s->cin + s->cout);
}

/* gd[ξ][i][o] (ld tiles per point) ← (A·g·Aᵀ)[ξ] of tile t + i's 2 × 2 output gradient g (zeros past the
 * grid's edge), A = [1 0; 1 1; 1 −1; 0 −1], 8 channels at a time, for i < nt. */
__attribute__((target("avx2"))) static void dout_transform(float *gd, int ld, const float *dout, const conv_shape *s,
                                                           long t, int nt)
{
    const int cout = s->cout;
    const __m256 zero = _mm256_setzero_ps();
    for (int i = 0; i < nt; i++) {
        const float *px[2][2];
        tile_outputs(px, dout, s, t + i);
        for (int o = 0; o < cout; o += 8) {
            __m256 g[2][2], r[4][2];
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 2; x++) g[y][x] = px[y][x] ? _mm256_loadu_ps(px[y][x] + o) : zero;
            for (int x = 0; x < 2; x++) { /* A·g, column x */
                r[0][x] = g[0][x];
                r[1][x] = _mm256_add_ps(g[0][x], g[1][x]);
                r[2][x] = _mm256_sub_ps(g[0][x], g[1][x]);
                r[3][x] = _mm256_sub_ps(zero, g[1][x]);
            }
            for (int a = 0; a < 4; a++) { /* (A·g)·Aᵀ, row a */
                float *q = gd + ((long)(a * 4) * ld + i) * cout + o;
                const long step = (long)ld * cout;
                _mm256_storeu_ps(q, r[a][0]);
                _mm256_storeu_ps(q + step, _mm256_add_ps(r[a][0], r[a][1]));
                _mm256_storeu_ps(q + 2 * step, _mm256_sub_ps(r[a][0], r[a][1]));
                _mm256_storeu_ps(q + 3 * step, _mm256_sub_ps(zero, r[a][1]));
            }
        }
    }
}

#define SUM_ADD(i)                                                                                                 \
    _mm256_storeu_ps(m + (i) * NR, _mm256_add_ps(_mm256_loadu_ps(m + (i) * NR), lo##i));                           \
    _mm256_storeu_ps(m + (i) * NR + 8, _mm256_add_ps(_mm256_loadu_ps(m + (i) * NR + 8), hi##i))
#define TILE_FMA(i)                                                                                                \
    do {                                                                                                           \
        const __m256 a = _mm256_broadcast_ss(vi + (i));                                                            \
        lo##i = _mm256_fmadd_ps(a, g0, lo##i);                                                                     \
        hi##i = _mm256_fmadd_ps(a, g1, hi##i);                                                                     \
    } while (0)

/* m[k][0..16) += Σ_{i < nt} gd[i][0..16) · v[i][k] for the KC channels k of one point and one panel (gd and v
 * rows ldg and ldv floats apart). */
__attribute__((target("avx2,fma"))) static void point_accumulate(float *m, const float *gd, long ldg, const float *v,
                                                                 long ldv, int nt)
{
    ACC_START(0);
    ACC_START(1);
    ACC_START(2);
    ACC_START(3);
    ACC_START(4);
    ACC_START(5);
    for (int i = 0; i < nt; i++) {
        const float *gi = gd + i * ldg, *vi = v + i * ldv;
        const __m256 g0 = _mm256_loadu_ps(gi), g1 = _mm256_loadu_ps(gi + 8);
        TILE_FMA(0);
        TILE_FMA(1);
        TILE_FMA(2);
        TILE_FMA(3);
        TILE_FMA(4);
        TILE_FMA(5);
    }
    SUM_ADD(0);
    SUM_ADD(1);
    SUM_ADD(2);
    SUM_ADD(3);
    SUM_ADD(4);
    SUM_ADD(5);
}

/* The sums: acc [cout/16][ξ][cin][16] by the register tiles, or [ξ][cin][cout] by the GEMMs. */
void conv_winograd_weight_grad(float *acc, float *scratch, const float *in, const float *dout, const conv_shape *s)
{
    const int cin = s->cin, cout = s->cout, panels = cout / NR, chunk = weight_grad_chunk(s);
    const int wide = cpu_use_avx512();
    const long tiles = (long)s->B * ((s->oh + 1) / 2) * ((s->ow + 1) / 2);
    float *v = scratch, *gd = scratch + (long)POINTS * chunk * cin;
    for (long t = 0; t < tiles; t += chunk) {
        const int nt = tiles - t < chunk ? (int)(tiles - t) : chunk;
        if (wide && cin % 16 == 0)
            winograd512_input_transform(v, chunk, in, s, t, nt, nt);
        else
            input_transform(v, chunk, in, s, t, nt, nt);
        if (wide)
            winograd512_dout_transform(gd, chunk, dout, s, t, nt);
        else
            dout_transform(gd, chunk, dout, s, t, nt);
        for (int p = 0; p < POINTS; p++) { /* one point's rows of gd and v stay in the level-1 cache */
            const float *vp = v + (long)p * chunk * cin, *gp = gd + (long)p * chunk * cout;
            if (chunk == WB_GEMM) { /* acc[ξ] += vᵀ·gd over the chunk's tiles */
                gemm(1, 0, cin, cout, nt, 1.0f, vp, cin, gp, cout, 1.0f, acc + (long)p * cin * cout, cout);
                continue;
            }
            for (int j = 0; j < panels; j++)
                for (int c0 = 0; c0 < cin; c0 += KC) {
                    float *mj = acc + (((long)j * POINTS + p) * cin + c0) * NR;
                    if (wide && c0 + 2 * KC <= cin) { /* twelve channels in one register tile */
                        winograd512_point_accumulate(mj, gp + j * NR, cout, vp + c0, cin, nt);
                        c0 += KC;
                        continue;
                    }
                    point_accumulate(mj, gp + j * NR, cout, vp + c0, cin, nt);
                }
        }
    }
}

/* dw[o][c][ky][kx] += (Gᵀ·M·G)[ky][kx] with Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1], 8 output channels at a time,
 * from either layout of the sums. */
__attribute__((target("avx2"))) void conv_winograd_finish_weight_grad(float *dw, const float *acc,
                                                                      const conv_shape *s)
{
    const int cin = s->cin, cout = s->cout, by_gemm = weight_grad_by_gemm(s);
    const __m256 half = _mm256_set1_ps(0.5f);
    for (int o = 0; o < cout; o += 8)
        for (int c = 0; c < cin; c++) {
            /* Where point 0's sums of outputs o..o+8 for input c are, and how far apart the points are. */
            const float *m0 = by_gemm ? acc + (long)c * cout + o
                                      : acc + (((long)o / NR * POINTS) * cin + c) * NR + o % NR;
            const long step = by_gemm ? (long)cin * cout : (long)cin * NR;
            __m256 q[4][4], r[3][4];
            for (int p = 0; p < POINTS; p++) q[p / 4][p % 4] = _mm256_loadu_ps(m0 + p * step);
            for (int x = 0; x < 4; x++) { /* Gᵀ·M, column x */
                const __m256 inner = _mm256_mul_ps(_mm256_add_ps(q[1][x], q[2][x]), half);
                r[0][x] = _mm256_add_ps(q[0][x], inner);
                r[1][x] = _mm256_mul_ps(_mm256_sub_ps(q[1][x], q[2][x]), half);
                r[2][x] = _mm256_add_ps(inner, q[3][x]);
            }
            float y[9][8];
            for (int k = 0; k < 3; k++) { /* (Gᵀ·M)·G, row k */
                const __m256 inner = _mm256_mul_ps(_mm256_add_ps(r[k][1], r[k][2]), half);
                _mm256_storeu_ps(y[k * 3], _mm256_add_ps(r[k][0], inner));
                _mm256_storeu_ps(y[k * 3 + 1], _mm256_mul_ps(_mm256_sub_ps(r[k][1], r[k][2]), half));
                _mm256_storeu_ps(y[k * 3 + 2], _mm256_add_ps(inner, r[k][3]));
            }
            for (int l = 0; l < 8; l++) {
                float *d = dw + ((long)(o + l) * cin + c) * 9;
                for (int tap = 0; tap < 9; tap++) d[tap] += y[tap][l];
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

int conv_winograd_weight_grad_available(const conv_shape *s)
{
    (void)s;
    return 0;
}

long conv_winograd_weight_grad_floats(const conv_shape *s) { return (long)POINTS * s->cin * s->cout; }

long conv_winograd_weight_grad_scratch_floats(const conv_shape *s)
{
    return (long)POINTS * weight_grad_chunk(s) * (s->cin + s->cout);
}

void conv_winograd_weight_grad(float *acc, float *scratch, const float *in, const float *dout, const conv_shape *s)
{
    (void)acc, (void)scratch, (void)in, (void)dout, (void)s;
}

void conv_winograd_finish_weight_grad(float *dw, const float *acc, const conv_shape *s)
{
    (void)dw, (void)acc, (void)s;
}

void conv_winograd_forward_units(float *out, const float *in, const float *up, const float *b, const conv_shape *s,
                                 long u0, long u1, float *scratch)
{
    (void)out, (void)in, (void)up, (void)b, (void)s, (void)u0, (void)u1, (void)scratch;
}

#endif
