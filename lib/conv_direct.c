#include "conv_direct.h"

#include "cpu_dispatch.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ATTN_FLOAT64)
#define CONV_DIRECT_X86 1
#include <immintrin.h>
#endif

/* A tile is MR output rows × NR output channels: 10 accumulators of 8 floats, two weight vectors and one
 * broadcast input value fill 13 of the 16 vector registers (the weight gradient's tiles use 12 + 3). MR = 5
 * divides the 100 cells of a minatar grid and its halves, the row blocks that one environment is split into on
 * two threads (6 rows measured no faster at B = 16 and slower at B = 1). */
enum { NR = 16, MR = 5, MAX_TAPS = 64 };

long conv_direct_packed_floats(const conv_shape *s) { return (long)s->cout * conv_cols(s) + s->cin; }

/* Panels take w's columns q = c·kk + p (w's own (channel, tap) order) to [tap][channel]: where column q of
 * output channel panel·16 + j goes. */
static inline long packed_index(int panel, long q, int j, int cin, int kk)
{
    return (((long)panel * kk + q % kk) * cin + q / kk) * NR + j;
}

/* Columns [q0, cin·kk) of every panel, one float at a time. */
static void pack_columns(float *wp, const float *w, int cout, int cin, int kk, long q0)
{
    const long K = (long)cin * kk;
    for (int panel = 0; panel < cout / NR; panel++)
        for (long q = q0; q < K; q++)
            for (int j = 0; j < NR; j++) wp[packed_index(panel, q, j, cin, kk)] = w[((long)panel * NR + j) * K + q];
}

static long pack_columns_fast(float *wp, const float *w, int cout, int cin, int kk);

void conv_direct_pack(float *wp, const float *w, const conv_shape *s)
{
    const long q0 = pack_columns_fast(wp, w, s->cout, s->cin, s->k * s->k);
    pack_columns(wp, w, s->cout, s->cin, s->k * s->k, q0);
    float *zeros = wp + (long)s->cout * conv_cols(s);
    for (int c = 0; c < s->cin; c++) zeros[c] = 0.0f;
}

long conv_direct_weight_grad_floats(const conv_shape *s) { return (long)s->cout * conv_cols(s); }

void conv_direct_unpack_weight_grad(float *dw, const float *dwp, const conv_shape *s)
{
    const int kk = s->k * s->k;
    const long K = conv_cols(s);
    for (int o = 0; o < s->cout; o++)
        for (long q = 0; q < K; q++) dw[o * K + q] += dwp[packed_index(o / NR, q, o % NR, s->cin, kk)];
}

conv_shape conv_direct_input_grad_shape(const conv_shape *s)
{
    return (conv_shape){s->B, s->oh, s->ow, s->cout, s->cin, s->k, 1, s->k - 1 - s->pad, s->ih, s->iw};
}

void conv_direct_pack_input_grad(float *wp, const float *w, const conv_shape *s)
{
    const int k = s->k, kk = k * k, cin = s->cin, cout = s->cout;
    float *dst = wp;
    /* The transposed layer's weight for (its output c, its input o, tap p) is w[o][c] at the mirrored tap. */
    for (int panel = 0; panel < cin / NR; panel++)
        for (int p = 0; p < kk; p++)
            for (int o = 0; o < cout; o++) {
                const float *src = w + (long)o * cin * kk + (long)panel * NR * kk + (kk - 1 - p);
                for (int j = 0; j < NR; j++) *dst++ = src[j * kk];
            }
    for (int o = 0; o < cout; o++) *dst++ = 0.0f;
}

/* px[i·kk + p] ← where output row r0 + i reads tap p: its input pixel's cin channels, or the zeros for a tap
 * in the padding or a row past the end (r0 + i ≥ end), whose result is computed and dropped. (Skipping the
 * taps that every row of a tile reads from the padding, 6.7 % of a minatar layer's products, made acting 6–12 %
 * slower: the weight panels no longer streamed in order.) */
static void tap_pointers(const float **px, const float *in, const float *zeros, const conv_shape *s, long r0,
                         long end)
{
    const int k = s->k, kk = k * k;
    conv_origin at = conv_row_origin(in, s, r0);
    for (int i = 0; i < MR; i++) {
        const long r = r0 + i;
        if (r >= end) {
            for (int p = 0; p < kk; p++) px[i * kk + p] = zeros;
            continue;
        }
        if (i) at = conv_next_row(at, s); /* only for rows that exist: it never steps past the input */
        /* Bounds as unsigned compares joined by &, not &&: the short-circuit branches mispredicted at every
         * change of the padding pattern and made this loop cost as much as a small layer's products. */
        for (int ky = 0; ky < k; ky++) {
            const int iy = at.y0 + ky, row_inside = (unsigned)iy < (unsigned)s->ih;
            for (int kx = 0; kx < k; kx++) {
                const int ix = at.x0 + kx, inside = row_inside & ((unsigned)ix < (unsigned)s->iw);
                px[i * kk + ky * k + kx] = inside ? at.img + ((long)iy * s->iw + ix) * s->cin : zeros;
            }
        }
    }
}

#ifdef CONV_DIRECT_X86

/* Packing is a transpose: 8 output channels × 8 consecutive columns are loaded as rows and stored as columns
 * (8 channels of one (tap, channel) each), in 8 × 8 blocks of unpack/shuffle/permute. At B = 1 the packing,
 * done on every attn_forward, cost as much as a sixth of a step one float at a time. Returns the columns
 * done (whole blocks of 8); the caller packs the rest. */
__attribute__((target("avx2"))) static long pack_columns_avx2(float *wp, const float *w, int cout, int cin, int kk)
{
    const long K = (long)cin * kk, whole = K / 8 * 8;
    for (int o = 0; o < cout; o += 8) {
        const int panel = o / NR, j0 = o % NR;
        const float *src = w + (long)o * K;
        for (long q = 0; q < whole; q += 8) {
            __m256 r0 = _mm256_loadu_ps(src + q), r1 = _mm256_loadu_ps(src + K + q),
                   r2 = _mm256_loadu_ps(src + 2 * K + q), r3 = _mm256_loadu_ps(src + 3 * K + q),
                   r4 = _mm256_loadu_ps(src + 4 * K + q), r5 = _mm256_loadu_ps(src + 5 * K + q),
                   r6 = _mm256_loadu_ps(src + 6 * K + q), r7 = _mm256_loadu_ps(src + 7 * K + q);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
                   t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                   t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                   u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                   u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                   u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            const __m256 col[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                                   _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                                   _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                                   _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(wp + packed_index(panel, q + i, j0, cin, kk), col[i]);
        }
    }
    return whole;
}

static long pack_columns_fast(float *wp, const float *w, int cout, int cin, int kk)
{
    /* cout is a multiple of 16 wherever the kernel runs; anything else is packed one float at a time. */
    return cout % 8 == 0 && cpu_use_avx2() ? pack_columns_avx2(wp, w, cout, cin, kk) : 0;
}

int conv_direct_available(const conv_shape *s)
{
    if (s->cout % NR || conv_cols(s) > 512 || s->k * s->k > MAX_TAPS) return 0;
    return cpu_use_avx2_fma();
}

int conv_direct_input_grad_available(const conv_shape *s)
{
    if (s->stride != 1 || s->pad > s->k - 1 || s->cin % NR || (long)s->cout * s->k * s->k > 1152 ||
        s->k * s->k > MAX_TAPS)
        return 0;
    return cpu_use_avx2_fma();
}

#define ROW_START(i) __m256 lo##i = _mm256_setzero_ps(), hi##i = _mm256_setzero_ps()
#define ROW_TAP(i) const float *a##i = px[(i) * kk + p]
#define ROW_FMA(i)                                                                                                 \
    do {                                                                                                           \
        const __m256 a = _mm256_broadcast_ss(a##i + c);                                                            \
        lo##i = _mm256_fmadd_ps(a, w0, lo##i);                                                                     \
        hi##i = _mm256_fmadd_ps(a, w1, hi##i);                                                                     \
    } while (0)
#define ROW_STORE(i)                                                                                               \
    if ((i) < rows) {                                                                                              \
        float *o_ = out + (long)(i) * ldo;                                                                         \
        if (!bias) b0 = _mm256_loadu_ps(o_), b1 = _mm256_loadu_ps(o_ + 8);                                         \
        _mm256_storeu_ps(o_, _mm256_add_ps(lo##i, b0));                                                            \
        _mm256_storeu_ps(o_ + 8, _mm256_add_ps(hi##i, b1));                                                        \
    }

/* One tile: `rows` (≤ MR) output rows × the 16 channels of one weight panel: out = Σ taps, channels + bias,
 * or with bias NULL, out += Σ taps, channels. */
__attribute__((target("avx2,fma"))) static void tile_panel(float *out, long ldo, const float *const *px,
                                                           const float *panel, const float *bias, int kk, int cin,
                                                           int rows)
{
    ROW_START(0);
    ROW_START(1);
    ROW_START(2);
    ROW_START(3);
    ROW_START(4);
    for (int p = 0; p < kk; p++) {
        ROW_TAP(0);
        ROW_TAP(1);
        ROW_TAP(2);
        ROW_TAP(3);
        ROW_TAP(4);
        const float *wv = panel + (long)p * cin * NR;
        for (int c = 0; c < cin; c++, wv += NR) {
            const __m256 w0 = _mm256_loadu_ps(wv), w1 = _mm256_loadu_ps(wv + 8);
            ROW_FMA(0);
            ROW_FMA(1);
            ROW_FMA(2);
            ROW_FMA(3);
            ROW_FMA(4);
        }
    }
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    if (bias) b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    ROW_STORE(0);
    ROW_STORE(1);
    ROW_STORE(2);
    ROW_STORE(3);
    ROW_STORE(4);
}

void conv_direct_forward_rows(float *out, const float *in, const float *wp, const float *b, const conv_shape *s,
                              long r0, long n)
{
    const int kk = s->k * s->k, cin = s->cin, panels = s->cout / NR;
    const long psize = (long)kk * cin * NR, end = r0 + n;
    const float *zeros = wp + (long)s->cout * conv_cols(s);
    const float *px[MR * MAX_TAPS];
    /* Tiles outside, panels inside: a tile's input pixels stay in the level-1 cache while the weights (at most
     * 32 KB per panel) stream from level 2. */
    for (long r = r0; r < end; r += MR) {
        tap_pointers(px, in, zeros, s, r, end);
        const int rows = end - r < MR ? (int)(end - r) : MR;
        for (int j = 0; j < panels; j++)
            tile_panel(out + r * s->cout + j * NR, s->cout, px, wp + j * psize, b ? b + j * NR : NULL, kk, cin,
                       rows);
    }
}

/* The weight gradient, vectorised over output channels: dwp += Σ_rows dout[row][o] · in[pixel][c] for KB
 * consecutive input channels of one tap × 16 output channels, the sum running over the output rows of image b
 * whose tap lands inside the input (padding taps add nothing and are skipped). dwp is in the forward packing's
 * layout, [cout/16][tap][cin][16], so a tile adds its sums as 12 whole vectors: scattered one float at a time
 * into w's [out][in][tap] layout, the sums' cache lines evicted the image the next tiles read (the direct
 * weight gradient measured 25–28 % faster packed, unpacking included). */
enum { KB = 6 };

/* The output positions o in [0, n) whose input position o·stride − pad + kt lies in [0, size): [*lo, *hi). */
static void inside_range(int n, int size, int stride, int pad, int kt, int *lo, int *hi)
{
    int a = 0, z = n;
    while (a < n && a * stride - pad + kt < 0) a++;
    while (z > a && (z - 1) * stride - pad + kt >= size) z--;
    *lo = a, *hi = z;
}

__attribute__((target("avx2,fma"))) static void weight_grad_tile(float *dwp, const float *in, const float *dout,
                                                                 const conv_shape *s, int b, int ky, int kx, int c0,
                                                                 int o0)
{
    const int cin = s->cin, kk = s->k * s->k;
    int oy0, oy1, ox0, ox1;
    inside_range(s->oh, s->ih, s->stride, s->pad, ky, &oy0, &oy1);
    inside_range(s->ow, s->iw, s->stride, s->pad, kx, &ox0, &ox1);
    const long dstep = s->cout, istep = (long)s->stride * cin;
    ROW_START(0);
    ROW_START(1);
    ROW_START(2);
    ROW_START(3);
    ROW_START(4);
    ROW_START(5);
    for (int oy = oy0; oy < oy1; oy++) {
        const int iy = oy * s->stride - s->pad + ky, ix0 = ox0 * s->stride - s->pad + kx;
        const float *d = dout + (((long)b * s->oh + oy) * s->ow + ox0) * s->cout + o0;
        const float *px = in + (((long)b * s->ih + iy) * s->iw + ix0) * cin + c0;
        for (int ox = ox0; ox < ox1; ox++, d += dstep, px += istep) {
            const __m256 w0 = _mm256_loadu_ps(d), w1 = _mm256_loadu_ps(d + 8);
            const float *a0 = px, *a1 = px + 1, *a2 = px + 2, *a3 = px + 3, *a4 = px + 4, *a5 = px + 5;
            const int c = 0; /* ROW_FMA broadcasts a_i[c]: here each a_i already points at its channel */
            ROW_FMA(0);
            ROW_FMA(1);
            ROW_FMA(2);
            ROW_FMA(3);
            ROW_FMA(4);
            ROW_FMA(5);
        }
    }
    float *sum = dwp + (((long)(o0 / NR) * kk + ky * s->k + kx) * cin + c0) * NR;
#define ROW_ADD(i)                                                                                                 \
    _mm256_storeu_ps(sum + (i) * NR, _mm256_add_ps(_mm256_loadu_ps(sum + (i) * NR), lo##i));                       \
    _mm256_storeu_ps(sum + (i) * NR + 8, _mm256_add_ps(_mm256_loadu_ps(sum + (i) * NR + 8), hi##i))
    ROW_ADD(0);
    ROW_ADD(1);
    ROW_ADD(2);
    ROW_ADD(3);
    ROW_ADD(4);
    ROW_ADD(5);
}

int conv_direct_weight_grad_available(const conv_shape *s) { return s->cin % KB == 0 && conv_direct_available(s); }

/* One image at a time: its output gradient for 16 channels and its input stay in the level-1 cache across the
 * tiles (a minatar image: 6.4 KB and 19 KB), where a whole batch would stream from level 2 for every tile. Each
 * image's sum is added to dw in image order. */
void conv_direct_weight_grad(float *dwp, const float *in, const float *dout, const conv_shape *s)
{
    for (int b = 0; b < s->B; b++)
        for (int o0 = 0; o0 < s->cout; o0 += NR)
            for (int ky = 0; ky < s->k; ky++)
                for (int kx = 0; kx < s->k; kx++)
                    for (int c0 = 0; c0 < s->cin; c0 += KB) weight_grad_tile(dwp, in, dout, s, b, ky, kx, c0, o0);
}

#else /* no AVX2 kernel in this build: the same sums in plain C, never chosen by the forward pass */

static long pack_columns_fast(float *wp, const float *w, int cout, int cin, int kk)
{
    (void)wp, (void)w, (void)cout, (void)cin, (void)kk;
    return 0;
}

int conv_direct_available(const conv_shape *s)
{
    (void)s;
    return 0;
}

int conv_direct_input_grad_available(const conv_shape *s)
{
    (void)s;
    return 0;
}

int conv_direct_weight_grad_available(const conv_shape *s)
{
    (void)s;
    return 0;
}

void conv_direct_forward_rows(float *out, const float *in, const float *wp, const float *b, const conv_shape *s,
                              long r0, long n)
{
    const int kk = s->k * s->k, cin = s->cin;
    const float *zeros = wp + (long)s->cout * conv_cols(s);
    const float *px[MR * MAX_TAPS];
    for (long r = r0; r < r0 + n; r += MR) {
        tap_pointers(px, in, zeros, s, r, r0 + n);
        for (int i = 0; i < MR && r + i < r0 + n; i++)
            for (int o = 0; o < s->cout; o++) {
                const float *panel = wp + (long)(o / NR) * kk * cin * NR + o % NR;
                float acc = 0.0f;
                for (int p = 0; p < kk; p++)
                    for (int c = 0; c < cin; c++) acc += px[i * kk + p][c] * panel[((long)p * cin + c) * NR];
                out[(r + i) * s->cout + o] = acc + (b ? b[o] : out[(r + i) * s->cout + o]);
            }
    }
}

void conv_direct_weight_grad(float *dwp, const float *in, const float *dout, const conv_shape *s)
{
    const int kk = s->k * s->k;
    for (long r = 0; r < conv_rows(s); r++) {
        const conv_origin at = conv_row_origin(in, s, r);
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++) {
                const int iy = at.y0 + ky, ix = at.x0 + kx;
                if (iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw) continue;
                const float *px = at.img + ((long)iy * s->iw + ix) * s->cin;
                for (int o = 0; o < s->cout; o++)
                    for (int c = 0; c < s->cin; c++)
                        dwp[packed_index(o / NR, (long)c * kk + ky * s->k + kx, o % NR, s->cin, kk)] +=
                            dout[r * s->cout + o] * px[c];
            }
    }
}

#endif
