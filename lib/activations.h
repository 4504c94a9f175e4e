/* Element-wise nonlinearities shared by every layer. */
#ifndef ATTN_ACTIVATIONS_H
#define ATTN_ACTIVATIONS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The bits of a float, for building powers of two and selecting without a branch. */
typedef union {
    int32_t i;
    float f;
} float_bits;

/* x where `keep` is −1 (all bits), y where it is 0. A select on the bits rather than `?:` on floats: GCC
 * turns a float `?:` followed by arithmetic into a branch, which keeps the loops around from vectorising. */
static inline float select_float(int32_t keep, float x, float y)
{
    float_bits a = {.f = x}, b = {.f = y}, r;
    r.i = (a.i & keep) | (b.i & ~keep);
    return r.f;
}

/* e^x without a branch or a library call, so that loops over it vectorise (glibc's expf, called per element,
 * and its tanhf through expm1f were together a fifth of a training step). x is clamped to [−87, 88], where
 * e^x is a normal float; inside, the relative error is below 3e-7 (measured 2.4e-7): x = n·ln2 + r with
 * |r| ≤ ln2/2, e^r by its Taylor polynomial to r⁶ (truncation below 2e-8), 2^n built in the exponent bits.
 * NaN stays NaN. The double-precision build of the same source (lib/meson.build, for the finite-difference
 * tests) takes libm's exp instead. */
static inline float exp_fast(float x)
{
    if (sizeof(float) == sizeof(double)) return expf(x);
    x = select_float(-(int32_t)!(x <= -87.0f), x, -87.0f);
    x = select_float(-(int32_t)!(x >= 88.0f), x, 88.0f);
    const float round_magic = 12582912.0f; /* 1.5·2²³: adding it rounds to an integer in round-to-nearest */
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f; /* ln 2 in two parts, the first exact */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    n = select_float(-(int32_t)(n == n), n, 0.0f); /* a NaN x converts no NaN to an integer; p carries it */
    float_bits scale = {.i = ((int32_t)n + 127) * (1 << 23)}; /* n is in [−126, 127]: 2^n exactly */
    return p * scale.f;
}

/* σ(x) = 1 / (1 + e^−x); the clamp in exp_fast keeps the denominator finite. */
static inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

/* tanh x = sign(x)·(1 − e)/(1 + e) with e = e^(−2|x|) ≤ 1: absolute error below 3e-7 (relative error grows
 * only where tanh itself is below 1e-4). */
static inline float tanh_fast(float x)
{
    float e = exp_fast(-2.0f * fabsf(x));
    float t = (1.0f - e) / (1.0f + e);
    if (sizeof(float) == sizeof(double)) return x < 0.0f ? -t : t;
    float_bits tb = {.f = t}, xb = {.f = x};
    tb.i |= xb.i & INT32_MIN; /* t ≥ 0: give it the sign of x */
    return tb.f;
}

/* x = max(x, 0) in place over n floats. */
void relu_forward(float *x, size_t n);
/* dx *= (y > 0), where y is the ReLU output: the gradient passes only where the unit was active. */
void relu_backward(float *dx, const float *y, size_t n);

#endif
