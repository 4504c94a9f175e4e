#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>

struct pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped for every batch; workers wait for it to move */
    int pending;              /* workers still running the current batch */
    int stopping;
    void (*fn)(void *ctx, int i);
    void *ctx;
    int n;
};

typedef struct worker_arg {
    pool *p;
    int slot;
} worker_arg;

static void run_slot(pool *p, int slot)
{
    for (int i = slot; i < p->n; i += p->threads) p->fn(p->ctx, i);
}

static void *worker_main(void *arg)
{
    worker_arg *w = arg;
    pool *p = w->p;
    int slot = w->slot;
    free(w);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->generation == seen && !p->stopping) pthread_cond_wait(&p->start, &p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_slot(p, slot);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

pool *pool_create(int threads)
{
    pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads > 0 ? threads : 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)p->threads, sizeof *p->workers);
    if (!p->workers) {
        pool_destroy(p);
        return NULL;
    }
    for (int s = 1; s < p->threads; s++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w) {
            p->threads = s;
            pool_destroy(p);
            return NULL;
        }
        *w = (worker_arg){p, s};
        if (pthread_create(&p->workers[s], NULL, worker_main, w)) {
            free(w);
            p->threads = s;
            pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void pool_destroy(pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    for (int s = 1; s < p->threads; s++) pthread_join(p->workers[s], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int pool_threads(const pool *p) { return p->threads; }

void pool_run(pool *p, int n, void (*fn)(void *ctx, int i), void *ctx)
{
    if (p->threads == 1 || n <= 1) {
        for (int i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->pending = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->lock);
    run_slot(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->pending) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
