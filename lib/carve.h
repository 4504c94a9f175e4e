/* Carving many buffers out of one allocation: run a layout function once with base == NULL to measure, then
 * allocate `used` + 63 bytes and run it again on the aligned base. Pieces are 64-byte aligned (a cache line,
 * and enough for any SIMD load in BLAS). */
#ifndef ATTN_CARVE_H
#define ATTN_CARVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct carver {
    char *base;
    size_t used;
} carver;

static inline void *take(carver *c, size_t count, size_t size)
{
    size_t off = (c->used + 63) & ~(size_t)63;
    c->used = off + count * size;
    return c->base ? c->base + off : NULL;
}

#define TAKE_F(c, n) ((float *)take((c), (size_t)(n), sizeof(float)))

/* The 64-byte aligned address inside an allocation of used + 63 bytes. */
static inline char *carve_align(void *memory) { return (char *)(((uintptr_t)memory + 63) & ~(uintptr_t)63); }

#endif
