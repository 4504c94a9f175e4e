/* Helpers shared by the test programs: seeded random data, small configurations, finite differences. */
#ifndef ATTN_TEST_UTIL_H
#define ATTN_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

/* Deterministic test data (the test's own generator, independent of the library's). */
typedef struct test_rng { uint64_t s; } test_rng;
uint64_t trng_next(test_rng *r);             /* 64 random bits */
double trng_uniform(test_rng *r);            /* [0, 1) */
float trng_range(test_rng *r, float lo, float hi);
int trng_int(test_rng *r, int n);            /* [0, n) */
void fill_uniform(test_rng *r, float *x, size_t n, float lo, float hi);

/* FNV-1a over the bits of n floats, continuing from h (HASH_START to begin): bitwise comparisons of runs. */
#define HASH_START 1469598103934665603ull
uint64_t hash_floats(uint64_t h, const float *x, size_t n);

/* A deliberately tiny configuration (6×6×3 observation, one 3×3 conv, 6 ConvLSTM channels, 2 queries, ...)
 * whose every tensor is small enough to check entry by entry. */
attn_config *tiny_config(void);
/* The minatar preset with C channels and A actions. */
attn_config *minatar_config(int C, int A);

/* Redraws every parameter: weights uniform in ±scale/sqrt(fan_in), biases in ±scale/2, so no bias sits at
 * exactly zero and the policy head is not scaled down. */
void randomize_params(attn_model *m, uint64_t seed, float scale);

/*
 * Central finite difference of loss(ctx) with respect to x[i]: (L(x+h) − L(x−h)) / 2h, restoring x[i].
 * The loss is evaluated in double from float32 computations.
 */
typedef double (*loss_fn)(void *ctx);
double finite_difference(loss_fn loss, void *ctx, float *x, size_t i, float h);

/*
 * Compares analytic gradients with finite differences at `count` entries of x (all entries when count >= n,
 * else evenly spread ones). Returns the normalised error ||fd − an||₂ / max(||fd||₂, ||an||₂, floor).
 */
double gradient_error(loss_fn loss, void *ctx, float *x, const float *analytic, size_t n, size_t count, float h,
                      double floor);

/*
 * The same through directional derivatives: for `directions` random ±1 directions u, compares
 * (L(x + h·u) − L(x − h·u)) / 2h with analytic·u. Moving every entry at once makes the change in the loss
 * about sqrt(n) times larger than a single entry's, lifting it far above float32 rounding noise. Returns
 * sqrt(Σ (fd − an)² / Σ max(fd², an²)).
 */
double directional_error(loss_fn loss, void *ctx, float *x, const float *analytic, size_t n, int directions,
                         float h, uint64_t seed);

/* A fresh directory under $TMPDIR (or /tmp) named <prefix>XXXXXX, written into dir (size n); 0 or -1. */
int scratch_dir_create(char *dir, size_t n, const char *prefix);
/* Removes the directory's entries (files and empty subdirectories) and the directory; 0 or -1. */
int scratch_dir_remove(const char *dir);

/* Whole-file helpers for the file-format tests; they fail the running cmocka test on any I/O error. */
unsigned char *read_file_bytes(const char *path, size_t *n); /* malloc'ed, one spare byte at the end */
void write_file_bytes(const char *path, const void *bytes, size_t n);
int count_dir_entries(const char *dir);                      /* entries other than . and .. */

/* Failures a test run as root cannot provoke with permissions (root writes into read-only directories), made
 * with resource limits instead: limit_push lowers the soft limit of `resource` (RLIMIT_NOFILE: no descriptor
 * left, so no file can be created; RLIMIT_FSIZE: writes past `value` bytes fail with EFBIG, as on a full
 * disk) and limit_pop restores it, passing a status through so a call can sit between them in one expression:
 *     limit_pop(attn_model_save(m, path))  after  limit_push(RLIMIT_FSIZE, 256). */
void limit_push(int resource, uint64_t value);
attn_status limit_pop(attn_status st);
/* Whether such a limit is enforced here: valgrind keeps its own descriptor table and ignores RLIMIT_NOFILE, and
 * sanitizer runtimes may write on their own; a test skips the case (and says so) where it is not. */
int limit_enforced(int resource);
uint64_t lowest_free_descriptor(void); /* the RLIMIT_NOFILE value at which the next open fails */

#endif
