/* Checked size arithmetic. Every size that comes from a configuration, a file header or a caller's argument is
 * multiplied and added through these two, never with a bare `*` on int: they saturate at SIZE_MAX instead of
 * wrapping, so a chain of them (a tensor's elements, a buffer's bytes, a whole layout) is compared once with its
 * limit at the end and an overflow anywhere along the way shows as "too large". A saturated value times zero is
 * zero, which is the true product too. */
#ifndef ATTN_SIZES_H
#define ATTN_SIZES_H

#include <stddef.h>
#include <stdint.h>

/* The larger of two float counts (buffers sized for the most any layer needs). */
static inline long max_l(long a, long b) { return a > b ? a : b; }

static inline size_t size_mul(size_t a, size_t b)
{
    return b && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static inline size_t size_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* The product of `n` sizes (each taken as given: callers pass values already known to be non-negative). */
static inline size_t size_prod(int n, const size_t *factors)
{
    size_t p = 1;
    for (int i = 0; i < n; i++) p = size_mul(p, factors[i]);
    return p;
}

#endif
