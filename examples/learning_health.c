#include "learning_health.h"

void learning_health_warn(FILE *f, const char *program, const attn_learner *learner, unsigned *warned)
{
    attn_learner_health h;
    if (attn_learner_health_get(learner, &h)) return;
    const unsigned fresh = h.flags & ~*warned;
    if (fresh & ATTN_HEALTH_UNIFORM_POLICY)
        fprintf(f,
                "%s: warning: after %lld updates the policy is still uniform (entropy %.1f%% of ln A): learning "
                "may be stuck. Check that rewards reach the loss, that observations mean what the model is told "
                "(ATTN_CFG_OBS_TYPE), and the learning rate (docs/training.md, \"Is it learning?\")\n",
                program, (long long)h.updates, 100.0 * h.entropy_ratio);
    if (fresh & ATTN_HEALTH_FROZEN_WEIGHTS)
        fprintf(f,
                "%s: warning: after %lld updates the weights moved by %.2g of their size: the optimizer's steps "
                "are too small for this loss (try Adam, or a larger learning rate; docs/training.md, \"Is it "
                "learning?\")\n",
                program, (long long)h.updates, (double)h.weight_change);
    *warned |= fresh;
}
