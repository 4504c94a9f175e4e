/* Convolution as an implicit GEMM with a hand-written AVX2/FMA kernel, for CPUs that have it.
 *
 * Why not im2col + cblas_sgemm here: at the sizes of the minatar preset (100 output rows per image, a
 * 128 × 432 weight matrix) OpenBLAS spends as long packing the operands as multiplying them — it repacks the
 * weights on every call and every thread, and the unfolded input is copied twice (im2col, then packing).
 * This kernel reads the input pixels in place (channels-last, so every kernel tap is a contiguous run of
 * `cin` values) against weights packed once per attn_forward into panels of 16 output channels, and keeps a
 * tile of 5 output rows × 16 channels in registers. Each output value is one accumulator summed in a fixed
 * order (taps, then channels), whatever the row range or thread, so results are bitwise repeatable. */
#ifndef ATTN_CONV_DIRECT_H
#define ATTN_CONV_DIRECT_H

#include "conv.h"

/* Non-zero when this CPU and build can run the kernel on shape s: x86-64 with AVX2 and FMA, a float32 build,
 * cout a multiple of 16, and at most 512 columns (k·k·cin), so a panel of packed weights (≤ 32 KB) stays in the
 * level-1 or level-2 cache; larger layers (the Atari ConvLSTM) go to the BLAS, which blocks them better. */
int conv_direct_available(const conv_shape *s);

/* Floats conv_direct_pack writes: cout·k·k·cin weights plus cin zeros that padding taps read. */
long conv_direct_packed_floats(const conv_shape *s);

/* wp ← w [cout][cin][k][k] as panels [cout/16][k·k][cin][16], followed by cin zeros. */
void conv_direct_pack(float *wp, const float *w, const conv_shape *s);

/* Rows [r0, r0 + n) of out [B·oh·ow][cout] = in ⋆ w + b, with wp from conv_direct_pack; touches only those
 * rows of out. With b NULL, out += in ⋆ w instead. Only when conv_direct_available(s). */
void conv_direct_forward_rows(float *out, const float *in, const float *wp, const float *b, const conv_shape *s,
                              long r0, long n);

/* Non-zero when conv_direct_weight_grad can run shape s: conv_direct_available(s) and cin a multiple of 6 (the
 * ConvLSTM's 48 channels; a minatar first layer's 4–10 channels are a negligible share and stay unfolded). */
int conv_direct_weight_grad_available(const conv_shape *s);
/* dwp += the weight gradient of the layer for output gradient dout [B·oh·ow][cout] and input in, summed in a
 * fixed order (so bitwise repeatable), without unfolding the input. dwp holds conv_direct_weight_grad_floats(s)
 * floats in the kernel's own layout, [cout/16][k·k][cin][16]: callers sum into it over as many calls as they
 * like (a whole unroll), then add it to the gradient once with conv_direct_unpack_weight_grad. */
long conv_direct_weight_grad_floats(const conv_shape *s);
void conv_direct_weight_grad(float *dwp, const float *in, const float *dout, const conv_shape *s);
/* dw [cout][cin][k][k] += dwp. */
void conv_direct_unpack_weight_grad(float *dw, const float *dwp, const conv_shape *s);

/* The input gradient of a stride-1 convolution is itself a convolution: of dout with the weights transposed
 * (in and out channels swapped) and mirrored, padded by k − 1 − pad. This is its shape for layer s. */
conv_shape conv_direct_input_grad_shape(const conv_shape *s);
/* Non-zero when din += dout ⋆ transposed w can run on the kernel: stride 1, cin a multiple of 16, at most 1152
 * columns (the minatar ConvLSTM's; its panel of 72 KB stays in the level-2 cache). */
int conv_direct_input_grad_available(const conv_shape *s);
/* wp ← the transposed, mirrored w [cout][cin][k][k] as conv_direct_pack lays out the layer of
 * conv_direct_input_grad_shape(s): conv_direct_packed_floats of that shape. Then
 * conv_direct_forward_rows(din, dout, wp, NULL, &shape, r0, n) adds rows of the input gradient. */
void conv_direct_pack_input_grad(float *wp, const float *w, const conv_shape *s);

#endif
