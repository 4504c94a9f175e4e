/* 3 × 3, stride-1, padding-1 convolutions by Winograd's minimal filtering F(2×2, 3×3) on AVX2 + FMA, picked at
 * run time (cpu_dispatch.h): the ConvLSTM's forward (from two environments on), its input gradient (itself such a
 * convolution, conv_plan_input_grad) and its weight gradient, in every preset. Each 2 × 2 block of outputs ("tile") is computed from a 4 × 4
 * patch of the input: the patch and the weights go to a transformed domain of 16 points, where the
 * convolution becomes 16 independent products over the input channels, and the 16 products come back to the
 * 2 × 2 outputs. That is 16 multiply-adds per (tile, in, out) instead of the direct kernel's 36: 2.25 times
 * fewer. The transforms are additions (and halvings) vectorised over channels, a few per cent of the work at
 * the ConvLSTM's sizes. Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (2016), give the
 * matrices; the weight gradient is the forward algorithm transposed (see conv_winograd_weight_grad).
 *
 * Rounding differs from the direct kernel (the transforms add and subtract around the products): the
 * comparisons against the definition in tests/test_kernels.c hold it to the same tolerance as the other
 * paths, and each output's arithmetic is fixed, whichever thread computes it. */
#ifndef ATTN_CONV_WINOGRAD_H
#define ATTN_CONV_WINOGRAD_H

#include "conv.h"

/* Non-zero when shape s can run here: k = 3, stride 1, padding 1, in channels a multiple of 8 (the input
 * transform runs 8 channels at a time), out channels a multiple of 16; AVX2 and FMA. */
int conv_winograd_available(const conv_shape *s);

/* Floats of the transformed weights, [cout/16][16 points][cin][16]: a panel's 16 points are one run. */
long conv_winograd_packed_floats(const conv_shape *s);
/* up ← the transformed weights (G·g·Gᵀ per (out, in) pair) of the weights dp that conv_direct_pack (or, for an
 * input gradient's shape, conv_direct_pack_input_grad) packed for shape s. */
void conv_winograd_transform(float *up, const float *dp, const conv_shape *s);

/* Work is split in units of one row of tiles of one image (two rows of outputs, one for an odd last row):
 * B·⌈oh/2⌉ units. conv_winograd_unit_row(s, u) is the first output row (B·oh·ow rows in all) of unit u, and
 * conv_rows(s) for u = the number of units. */
long conv_winograd_units(const conv_shape *s);
long conv_winograd_unit_row(const conv_shape *s, long u);

/* Output rows [conv_winograd_unit_row(u0), conv_winograd_unit_row(u1)) of out [B·oh·ow][cout] = in ⋆ w + b (with
 * b NULL, out += in ⋆ w), with up from conv_winograd_transform; touches only those rows of out. `scratch`:
 * conv_winograd_scratch_floats(s) floats of the caller's (kept off the stack: a host's thread may have a small
 * one), one per concurrent call. */
long conv_winograd_scratch_floats(const conv_shape *s);
void conv_winograd_forward_units(float *out, const float *in, const float *up, const float *b, const conv_shape *s,
                                 long u0, long u1, float *scratch);

/* The weight gradient (F(2×2, 3×3) transposed): conv_winograd_weight_grad adds the transformed-domain sums of
 * shape s's tiles for output gradient dout and input in to acc (conv_winograd_weight_grad_floats floats, zero
 * before the first call), using `scratch` (conv_winograd_weight_grad_scratch_floats); callers sum as many
 * calls as they like (an unroll) and conv_winograd_finish_weight_grad adds the result to dw [cout][cin][3][3].
 * Available where the forward is and cin is a multiple of 6. */
int conv_winograd_weight_grad_available(const conv_shape *s);
long conv_winograd_weight_grad_floats(const conv_shape *s);
long conv_winograd_weight_grad_scratch_floats(const conv_shape *s);
void conv_winograd_weight_grad(float *acc, float *scratch, const float *in, const float *dout, const conv_shape *s);
void conv_winograd_finish_weight_grad(float *dw, const float *acc, const conv_shape *s);

#endif
