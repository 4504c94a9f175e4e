/* Carving many buffers out of one allocation: run a layout function once with base == NULL to measure, then
 * allocate with carve_alloc and run it again on the aligned base. Pieces are 64-byte aligned (a cache line,
 * and enough for any SIMD load in BLAS). The sizes come from a configuration and the caller's batch and unroll,
 * so the measuring pass adds them with saturating arithmetic (sizes.h): a layout beyond the address space
 * measures SIZE_MAX, which carve_alloc refuses, instead of wrapping to a small block that the second pass would
 * overrun. */
#ifndef ATTN_CARVE_H
#define ATTN_CARVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sizes.h"

typedef struct carver {
    char *base;
    size_t used;
} carver;

static inline void *take(carver *c, size_t count, size_t size)
{
    const size_t off = c->used > SIZE_MAX - 63 ? SIZE_MAX : (c->used + 63) & ~(size_t)63;
    c->used = size_add(off, size_mul(count, size));
    return c->base ? c->base + off : NULL;
}

#define TAKE_F(c, n) ((float *)take((c), (size_t)(n), sizeof(float)))

/* A zeroed block for the layout `c` measured, or NULL: out of memory, or a layout too large to address. */
static inline void *carve_alloc(const carver *c)
{
    return c->used > SIZE_MAX - 63 ? NULL : calloc(1, c->used + 63);
}

/* The 64-byte aligned address inside a block from carve_alloc. */
static inline char *carve_align(void *memory) { return (char *)(((uintptr_t)memory + 63) & ~(uintptr_t)63); }

#endif
