/* The AVX-512 twins of conv_winograd.c's kernels (see conv_winograd_tiles.h). A panel's 16 output channels are
 * one 512-bit vector where the AVX2 kernels use two 256-bit halves, and the forward's products take two panels
 * per call; per output, every addition, subtraction and multiply-add is the AVX2 kernel's, in its order. */
#include "conv_winograd_tiles.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ATTN_FLOAT64)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

AVX512 void winograd512_input_transform(float *v, int ld, const float *in, const conv_shape *s, long t, int nt,
                                        int fill)
{
    const int cin = s->cin;
    const __m512 zero = _mm512_setzero_ps();
    const long step = (long)ld * cin;
    for (int i = 0; i < fill; i++) {
        if (i >= nt) {
            for (int p = 0; p < POINTS; p++)
                for (int c = 0; c < cin; c += 16) _mm512_storeu_ps(v + ((long)p * ld + i) * cin + c, zero);
            continue;
        }
        const float *px[4][4];
        tile_patch(px, in, s, t + i);
        for (int c = 0; c < cin; c += 16) {
            __m512 d[4][4], r[4][4];
            for (int dy = 0; dy < 4; dy++)
                for (int dx = 0; dx < 4; dx++) d[dy][dx] = px[dy][dx] ? _mm512_loadu_ps(px[dy][dx] + c) : zero;
            for (int x = 0; x < 4; x++) { /* Bᵀ·d, column x */
                r[0][x] = _mm512_sub_ps(d[0][x], d[2][x]);
                r[1][x] = _mm512_add_ps(d[1][x], d[2][x]);
                r[2][x] = _mm512_sub_ps(d[2][x], d[1][x]);
                r[3][x] = _mm512_sub_ps(d[1][x], d[3][x]);
            }
            for (int a = 0; a < 4; a++) { /* (Bᵀ·d)·B, row a */
                float *o = v + ((long)(a * 4) * ld + i) * cin + c;
                _mm512_storeu_ps(o, _mm512_sub_ps(r[a][0], r[a][2]));
                _mm512_storeu_ps(o + step, _mm512_add_ps(r[a][1], r[a][2]));
                _mm512_storeu_ps(o + 2 * step, _mm512_sub_ps(r[a][2], r[a][1]));
                _mm512_storeu_ps(o + 3 * step, _mm512_sub_ps(r[a][1], r[a][3]));
            }
        }
    }
}

/* WT tiles × two panels: 10 accumulators; per input channel two weight loads and WT broadcasts. */
AVX512 void winograd512_point_product_pair(float *m0, float *m1, const float *v, const float *u0, const float *u1,
                                           int cin)
{
    __m512 a[WT], b[WT];
    for (int i = 0; i < WT; i++) a[i] = _mm512_setzero_ps(), b[i] = _mm512_setzero_ps();
    for (int c = 0; c < cin; c++) {
        const __m512 w0 = _mm512_loadu_ps(u0 + (long)c * NR), w1 = _mm512_loadu_ps(u1 + (long)c * NR);
        for (int i = 0; i < WT; i++) {
            const __m512 x = _mm512_set1_ps(v[(long)i * cin + c]);
            a[i] = _mm512_fmadd_ps(x, w0, a[i]);
            b[i] = _mm512_fmadd_ps(x, w1, b[i]);
        }
    }
    for (int i = 0; i < WT; i++) _mm512_storeu_ps(m0 + i * NR, a[i]), _mm512_storeu_ps(m1 + i * NR, b[i]);
}

AVX512 void winograd512_output_transform(float *out, const float *m, const float *bias, const conv_shape *s, long t,
                                         int nt, int panel)
{
    const __m512 b = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
    for (int i = 0; i < nt; i++) {
        const tile_at at = tile_position(s, t + i);
        __m512 q[4][4], r[2][4];
        for (int p = 0; p < POINTS; p++) q[p / 4][p % 4] = _mm512_loadu_ps(m + ((long)p * WT + i) * NR);
        for (int x = 0; x < 4; x++) {
            r[0][x] = _mm512_add_ps(_mm512_add_ps(q[0][x], q[1][x]), q[2][x]);
            r[1][x] = _mm512_sub_ps(_mm512_sub_ps(q[1][x], q[2][x]), q[3][x]);
        }
        for (int y = 0; y < 2; y++) {
            const __m512 y0 = _mm512_add_ps(_mm512_add_ps(r[y][0], r[y][1]), r[y][2]);
            const __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(r[y][1], r[y][2]), r[y][3]);
            const int oy = at.oy + y;
            if (oy >= s->oh) continue;
            for (int x = 0; x < 2; x++) {
                const int ox = at.ox + x;
                if (ox >= s->ow) continue;
                float *o = out + ((at.b * s->oh + oy) * s->ow + ox) * s->cout + panel * NR;
                const __m512 add = bias ? b : _mm512_loadu_ps(o);
                _mm512_storeu_ps(o, _mm512_add_ps(x ? y1 : y0, add));
            }
        }
    }
}

AVX512 void winograd512_dout_transform(float *gd, int ld, const float *dout, const conv_shape *s, long t, int nt)
{
    const int cout = s->cout;
    const __m512 zero = _mm512_setzero_ps();
    const long step = (long)ld * cout;
    for (int i = 0; i < nt; i++) {
        const float *px[2][2];
        tile_outputs(px, dout, s, t + i);
        for (int o = 0; o < cout; o += 16) {
            __m512 g[2][2], r[4][2];
            for (int y = 0; y < 2; y++)
                for (int x = 0; x < 2; x++) g[y][x] = px[y][x] ? _mm512_loadu_ps(px[y][x] + o) : zero;
            for (int x = 0; x < 2; x++) { /* A·g, column x */
                r[0][x] = g[0][x];
                r[1][x] = _mm512_add_ps(g[0][x], g[1][x]);
                r[2][x] = _mm512_sub_ps(g[0][x], g[1][x]);
                r[3][x] = _mm512_sub_ps(zero, g[1][x]);
            }
            for (int a = 0; a < 4; a++) { /* (A·g)·Aᵀ, row a */
                float *q = gd + ((long)(a * 4) * ld + i) * cout + o;
                _mm512_storeu_ps(q, r[a][0]);
                _mm512_storeu_ps(q + step, _mm512_add_ps(r[a][0], r[a][1]));
                _mm512_storeu_ps(q + 2 * step, _mm512_sub_ps(r[a][0], r[a][1]));
                _mm512_storeu_ps(q + 3 * step, _mm512_sub_ps(zero, r[a][1]));
            }
        }
    }
}

AVX512 void winograd512_point_accumulate(float *m, const float *gd, long ldg, const float *v, long ldv, int nt)
{
    enum { K2 = 2 * KC };
    __m512 acc[K2];
    for (int k = 0; k < K2; k++) acc[k] = _mm512_setzero_ps();
    for (int i = 0; i < nt; i++) {
        const float *vi = v + i * ldv;
        const __m512 g = _mm512_loadu_ps(gd + i * ldg);
        for (int k = 0; k < K2; k++) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(vi[k]), g, acc[k]);
    }
    for (int k = 0; k < K2; k++) _mm512_storeu_ps(m + k * NR, _mm512_add_ps(_mm512_loadu_ps(m + k * NR), acc[k]));
}

#else /* never called: cpu_use_avx512() is false on such builds */

void winograd512_input_transform(float *v, int ld, const float *in, const conv_shape *s, long t, int nt, int fill)
{
    (void)v, (void)ld, (void)in, (void)s, (void)t, (void)nt, (void)fill;
}
void winograd512_point_product_pair(float *m0, float *m1, const float *v, const float *u0, const float *u1, int cin)
{
    (void)m0, (void)m1, (void)v, (void)u0, (void)u1, (void)cin;
}
void winograd512_output_transform(float *out, const float *m, const float *bias, const conv_shape *s, long t,
                                  int nt, int panel)
{
    (void)out, (void)m, (void)bias, (void)s, (void)t, (void)nt, (void)panel;
}
void winograd512_dout_transform(float *gd, int ld, const float *dout, const conv_shape *s, long t, int nt)
{
    (void)gd, (void)ld, (void)dout, (void)s, (void)t, (void)nt;
}
void winograd512_point_accumulate(float *m, const float *gd, long ldg, const float *v, long ldv, int nt)
{
    (void)m, (void)gd, (void)ldg, (void)v, (void)ldv, (void)nt;
}

#endif
