/* An attn_env that forwards to another and measures how long the environments kept the trainer waiting: the
 * wall-clock seconds during which at least one of its reset or step callbacks was running. Under a library that
 * steps the environments on several threads this is the stepping's share of the wall clock, not the sum of the
 * callbacks' times (which would count two parallel steps twice). attn-train's "t_env" (docs/training.md). */
#ifndef ENV_TIMER_H
#define ENV_TIMER_H

#include <pthread.h>

#include "attnagent/attnagent.h"

typedef struct env_timer {
    attn_env inner;       /* the environments the callbacks go to */
    pthread_mutex_t lock; /* guards the three below: callbacks for different indices may run concurrently */
    int running;          /* callbacks in progress */
    double since;         /* CLOCK_MONOTONIC seconds when `running` last became non-zero */
    double busy;          /* seconds so far with `running` non-zero */
} env_timer;

/* Starts timing `inner` (copied). Returns 0, or -1 if the lock cannot be made. */
int env_timer_init(env_timer *t, const attn_env *inner);
void env_timer_destroy(env_timer *t);

/* The callbacks to hand the library instead of `inner`'s: the same environments, flags and saved states. */
attn_env env_timer_env(env_timer *t);

/* The seconds spent inside the environments so far. */
double env_timer_seconds(env_timer *t);

#endif
