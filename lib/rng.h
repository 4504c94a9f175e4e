/* The library's random numbers: xoshiro256** seeded through splitmix64. Our own generator, so initialisation
 * and sampling are bitwise identical on every platform and libc. */
#ifndef ATTN_RNG_H
#define ATTN_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float rng_uniform(rng *r);
/* Uniform in [lo, hi). */
float rng_range(rng *r, float lo, float hi);

#endif
