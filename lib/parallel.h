/* A fixed pool of worker threads for running independent jobs (the environments of a rollout) side by side.
 * Created once; running a batch allocates nothing. */
#ifndef ATTN_PARALLEL_H
#define ATTN_PARALLEL_H

typedef struct pool pool;

/* A pool that runs jobs on `threads` threads in all (the caller's plus threads − 1 workers). NULL on failure. */
pool *pool_create(int threads);
void pool_destroy(pool *p);
/* The threads it runs jobs on, the caller's included. */
int pool_threads(const pool *p);

/* Calls fn(ctx, i) for every i in [0, n), spread over the pool, and returns when all are done. Job i always
 * runs on thread i mod threads, so which thread runs what is fixed; the jobs must not depend on each other. */
void pool_run(pool *p, int n, void (*fn)(void *ctx, int i), void *ctx);

#endif
