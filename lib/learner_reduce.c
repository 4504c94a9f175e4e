/* The reductions one optimizer step makes across a host's processes (learner_reduce.h, training.h). Everything a
 * process contributes is a sum, so the callback needs one operation (MPI_SUM) and processes with different
 * batches still give the mean over all samples: each weights its part by its sample count. */
#include "learner_reduce.h"

#include <math.h>

#include "errors.h"
#include "losses.h"

/* The scalars of call 2, as doubles: the count, the stats multiplied by it, the failure flag. */
enum { SC_SAMPLES, SC_TOTAL, SC_POLICY, SC_VALUE, SC_ENTROPY, SC_KL, SC_CLIP, SC_FAILED, SC_COUNT };

static attn_status call(const learner_reduce *r, attn_reduce_type type, void *data, size_t count, const char *what)
{
    const int rc = r->fn(r->payload, type, data, count);
    if (rc == 0) return ATTN_OK;
    if (rc == ATTN_CALLBACK_ABORT)
        return fail(ATTN_ERR_ABORTED, "the reduction callback asked to stop (reducing %s); no step was taken", what);
    return fail(ATTN_ERR_CALLBACK, "the reduction callback returned %d (reducing %s); no step was taken", rc, what);
}

/* A sum over processes includes this one's part: a smaller (or non-finite) total means the callback did not
 * sum, and dividing by it would silently scale every step. */
static attn_status check_total(double total, size_t local, const char *what)
{
    if (isfinite(total) && total >= (double)local) return ATTN_OK;
    return fail(ATTN_ERR_CALLBACK, "the reduction callback gave %g as the sum of the %s, below this process's %zu: "
                "it must leave the sum over all processes", total, what, local);
}

attn_status reduce_normalized_advantages(const learner_reduce *r, float *out, const float *adv, size_t n)
{
    /* Two passes, as loss_ppo's single-process normalisation: the variance around the global mean, not
     * E[Â²] − mean², which cancels badly when the mean is large. Sums in the same order as loss_ppo's, so with
     * one process the bits are the same. */
    double moments[2] = {(double)n, 0.0};
    for (size_t i = 0; i < n; i++) moments[1] += adv[i];
    attn_status st = call(r, ATTN_REDUCE_FLOAT64, moments, 2, "the advantages' sum");
    if (!st) st = check_total(moments[0], n, "sample counts");
    if (st) return st;
    const double mean = moments[1] / moments[0];
    double squares = 0.0;
    for (size_t i = 0; i < n; i++) squares += (adv[i] - mean) * (adv[i] - mean);
    if ((st = call(r, ATTN_REDUCE_FLOAT64, &squares, 1, "the advantages' squared deviations"))) return st;
    loss_normalize_advantages(out, adv, n, mean, squares / moments[0]);
    return ATTN_OK;
}

attn_status reduce_step_scalars(const learner_reduce *r, attn_loss_stats *stats, size_t n, int failed,
                                int *any_failed, double *share)
{
    const double w = (double)n;
    double s[SC_COUNT] = {
        [SC_SAMPLES] = w,
        [SC_TOTAL] = w * stats->total,
        [SC_POLICY] = w * stats->policy_loss,
        [SC_VALUE] = w * stats->value_loss,
        [SC_ENTROPY] = w * stats->entropy,
        [SC_KL] = w * stats->approx_kl,
        [SC_CLIP] = w * stats->clip_fraction,
        [SC_FAILED] = failed ? 1.0 : 0.0,
    };
    /* A failed loss may have left non-finite stats: they must not make the others' sums NaN, the flag says it. */
    if (failed)
        for (int k = SC_TOTAL; k <= SC_CLIP; k++) s[k] = 0.0;
    attn_status st = call(r, ATTN_REDUCE_FLOAT64, s, SC_COUNT, "the loss statistics");
    if (!st) st = check_total(s[SC_SAMPLES], n, "sample counts");
    if (st) return st;
    *any_failed = s[SC_FAILED] != 0.0;
    *share = w / s[SC_SAMPLES];
    if (*any_failed) return ATTN_OK;
    /* Divided, not multiplied by a reciprocal: w·x / w is x exactly (a float times a count below 2^29 is exact
     * in double), so a single process keeps its bits. */
    const double all = s[SC_SAMPLES];
    stats->total = (float)(s[SC_TOTAL] / all);
    stats->policy_loss = (float)(s[SC_POLICY] / all);
    stats->value_loss = (float)(s[SC_VALUE] / all);
    stats->entropy = (float)(s[SC_ENTROPY] / all);
    stats->approx_kl = (float)(s[SC_KL] / all);
    stats->clip_fraction = (float)(s[SC_CLIP] / all);
    return ATTN_OK;
}

attn_status reduce_gradients(const learner_reduce *r, float *grads, size_t count, double share, int poisoned)
{
    if (poisoned) {
        if (count) grads[0] = NAN;
    } else if (share != 1.0) {
        for (size_t i = 0; i < count; i++) grads[i] = (float)(grads[i] * share);
    }
    return call(r, ATTN_REDUCE_FLOAT32, grads, count, "the gradient");
}
