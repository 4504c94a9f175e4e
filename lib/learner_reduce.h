/* The learner's side of a host's reduction across processes (attn_learner_set_reduce, training.h): the three
 * kinds of call one optimizer step makes, in the order the header documents. Each returns ATTN_OK, or for a
 * failed callback ATTN_ERR_ABORTED / ATTN_ERR_CALLBACK with the error set. */
#ifndef ATTN_LEARNER_REDUCE_H
#define ATTN_LEARNER_REDUCE_H

#include <stddef.h>

#include "attnagent/attnagent.h"

typedef struct learner_reduce {
    attn_reduce_fn fn; /* NULL: a single process, nothing is reduced */
    void *payload;
} learner_reduce;

/* Call 1: out [n] = adv [n] normalised by the mean and population variance of every process's advantages. */
attn_status reduce_normalized_advantages(const learner_reduce *r, float *out, const float *adv, size_t n);

/* Call 2: this process's `n` samples, its stats and whether its replay or loss failed. Sets *any_failed when
 * some process's did; otherwise *stats becomes the mean over all processes' samples and *share this process's
 * part of them (its gradient's weight in the sum). */
attn_status reduce_step_scalars(const learner_reduce *r, attn_loss_stats *stats, size_t n, int failed,
                                int *any_failed, double *share);

/* Call 3: grads [count] scaled by `share` and summed over the processes. `poisoned` (this process's backward
 * failed) sends NaN instead, so that every process's optimizer refuses the step. */
attn_status reduce_gradients(const learner_reduce *r, float *grads, size_t count, double share, int poisoned);

#endif
