/* Finding NaN and infinity in the network's own results. Where they are looked for (docs/errors.md, "Non-finite
 * values"): attn_forward checks everything a step hands on — the recurrent state, the maps, the logits and values
 * — before any of it reaches the state or the caller, and attn_backward checks the gradients before any reaches
 * the model's; inputs are checked where they enter (observations, rewards, state parts, dlogits, dvalues). */
#ifndef ATTN_FINITE_H
#define ATTN_FINITE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Non-zero when all n values are finite. Tested on the bits as integers (an exponent of all ones is an infinity
 * or a NaN), so the loop vectorises without any floating-point flag: it runs on every step's outputs and must
 * cost a small fraction of the step. The double-precision build of the network (lib/meson.build) reads doubles. */
static inline int all_finite(const float *x, size_t n)
{
#ifdef ATTN_FLOAT64
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (~u & 0x7ff0000000000000u) == 0;
    }
#else
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (~u & 0x7f800000u) == 0;
    }
#endif
    return !bad;
}

/* The largest magnitude among n values (0 for none), in double; for saying which input overflowed. */
static inline double max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double a = x[i] < 0 ? -(double)x[i] : (double)x[i];
        if (a > m || a != a) m = a; /* a NaN is the largest of all */
    }
    return m;
}

#endif
