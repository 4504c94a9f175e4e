/* What conv_winograd.c and its AVX-512 kernels (conv_winograd_avx512.c) share: the blocking constants and where
 * a tile sits. Internal to those two files. */
#ifndef ATTN_CONV_WINOGRAD_TILES_H
#define ATTN_CONV_WINOGRAD_TILES_H

#include <stddef.h>

#include "conv.h"

/* NR output channels per weight panel; WT tiles per block, the rows of the products' register tile (as in
 * conv_direct.c: 10 accumulators of 8 floats); POINTS of the transformed domain. */
enum { NR = 16, WT = 5, POINTS = 16 };

/* The weight gradient's blocks: WB tiles (the reduction length per pass over the sums) and KC input channels
 * per register tile (12 accumulators, as conv_direct.c's). Past MAX_PAIRS (in, out) pairs, where one pass over
 * the sums (16·cin·cout floats) would stream from level 3 for every block, chunks of WB_GEMM tiles instead,
 * each point's sums one GEMM over the chunk's tiles. */
enum { WB = 40, KC = 6, WB_GEMM = 64, MAX_PAIRS = 8192 };

/* Where tile t of the shape sits: its image, and the output coordinates of its top-left output. */
typedef struct tile_at {
    long b;
    int oy, ox;
} tile_at;

static inline tile_at tile_position(const conv_shape *s, long t)
{
    const int th = (s->oh + 1) / 2, tw = (s->ow + 1) / 2;
    const long per_image = (long)th * tw;
    return (tile_at){t / per_image, (int)(t % per_image / tw) * 2, (int)(t % tw) * 2};
}

/* px[dy][dx] ← where tile t's 4 × 4 input patch reads each pixel (its first channel), NULL outside the input. */
static inline void tile_patch(const float *px[4][4], const float *in, const conv_shape *s, long t)
{
    const tile_at at = tile_position(s, t);
    const float *img = in + at.b * s->ih * s->iw * s->cin;
    for (int dy = 0; dy < 4; dy++)
        for (int dx = 0; dx < 4; dx++) {
            const int iy = at.oy - 1 + dy, ix = at.ox - 1 + dx;
            const int inside = ((unsigned)iy < (unsigned)s->ih) & ((unsigned)ix < (unsigned)s->iw);
            px[dy][dx] = inside ? img + ((long)iy * s->iw + ix) * s->cin : NULL;
        }
}

/* px[y][x] ← where tile t's 2 × 2 outputs are in dout [B·oh·ow][cout], NULL past the grid's edge. */
static inline void tile_outputs(const float *px[2][2], const float *dout, const conv_shape *s, long t)
{
    const tile_at at = tile_position(s, t);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) {
            const int oy = at.oy + y, ox = at.ox + x;
            px[y][x] = oy < s->oh && ox < s->ow ? dout + ((at.b * s->oh + oy) * s->ow + ox) * s->cout : NULL;
        }
}

/* The AVX-512 kernels, each the lane-for-lane twin of the AVX2 kernel of the same name in conv_winograd.c
 * (same operations in the same order per output; wider vectors hold more outputs), so both give the same bits.
 * Called only when cpu_use_avx512(). */

/* input_transform for cin a multiple of 16. */
void winograd512_input_transform(float *v, int ld, const float *in, const conv_shape *s, long t, int nt, int fill);
/* point_product for two panels at once (their weights u0, u1; their products m0, m1): each broadcast input
 * value feeds two multiply-adds. */
void winograd512_point_product_pair(float *m0, float *m1, const float *v, const float *u0, const float *u1, int cin);
void winograd512_output_transform(float *out, const float *m, const float *bias, const conv_shape *s, long t,
                                  int nt, int panel);
void winograd512_dout_transform(float *gd, int ld, const float *dout, const conv_shape *s, long t, int nt);
/* point_accumulate for 2·KC input channels (12 accumulators of 16 floats). */
void winograd512_point_accumulate(float *m, const float *gd, long ldg, const float *v, long ldv, int nt);

#endif
