/* Timing an attn_env from outside (env_timer.h). Per callback: two clock reads and two uncontended lock round
 * trips, no allocation; the environments see the same calls in the same order, so training stays bitwise what
 * it was. */
#include "env_timer.h"

#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void enter(env_timer *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->running++ == 0) t->since = now();
    pthread_mutex_unlock(&t->lock);
}

static void leave(env_timer *t)
{
    pthread_mutex_lock(&t->lock);
    if (--t->running == 0) t->busy += now() - t->since;
    pthread_mutex_unlock(&t->lock);
}

static int timed_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    env_timer *t = ctx;
    enter(t);
    const int rc = t->inner.reset(t->inner.ctx, index, seed, obs);
    leave(t);
    return rc;
}

static int timed_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    env_timer *t = ctx;
    enter(t);
    const int rc = t->inner.step(t->inner.ctx, index, action, obs, reward, terminated, truncated);
    leave(t);
    return rc;
}

/* The rest only forward: an error message, and the saved states of a checkpoint, are not stepping. */
static const char *forward_error(void *ctx, int index)
{
    env_timer *t = ctx;
    return t->inner.error(t->inner.ctx, index);
}

static int forward_save(void *ctx, int index, void *buf, size_t cap, size_t *len)
{
    env_timer *t = ctx;
    return t->inner.save(t->inner.ctx, index, buf, cap, len);
}

static int forward_load(void *ctx, int index, const void *buf, size_t len)
{
    env_timer *t = ctx;
    return t->inner.load(t->inner.ctx, index, buf, len);
}

int env_timer_init(env_timer *t, const attn_env *inner)
{
    t->inner = *inner;
    t->running = 0;
    t->since = t->busy = 0.0;
    return pthread_mutex_init(&t->lock, NULL) ? -1 : 0;
}

void env_timer_destroy(env_timer *t) { pthread_mutex_destroy(&t->lock); }

attn_env env_timer_env(env_timer *t)
{
    attn_env env = t->inner;
    env.ctx = t;
    /* NULL stays NULL: the library reads a missing callback as "not offered". */
    env.reset = t->inner.reset ? timed_reset : NULL;
    env.step = t->inner.step ? timed_step : NULL;
    env.error = t->inner.error ? forward_error : NULL;
    env.save = t->inner.save ? forward_save : NULL;
    env.load = t->inner.load ? forward_load : NULL;
    return env;
}

double env_timer_seconds(env_timer *t)
{
    pthread_mutex_lock(&t->lock);
    const double s = t->busy;
    pthread_mutex_unlock(&t->lock);
    return s;
}
