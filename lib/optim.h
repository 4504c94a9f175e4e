/* What the rest of the library needs to know of an optimizer beyond the public API. */
#ifndef ATTN_OPTIM_H
#define ATTN_OPTIM_H

#include "attnagent/attnagent.h"

/* ATTN_OK when `opt` was created for `model` itself; otherwise ATTN_ERR_INVALID with a message. Its slots are
 * that model's moments, parameter by parameter: applied to another model — even one of the same configuration
 * and size — they would move its weights by someone else's history. Every call that takes both checks it before
 * it changes anything (attn_optimizer_step, attn_learner_update, attn_training_save, attn_training_load). */
attn_status optimizer_check_model(const attn_optimizer *opt, const attn_model *model);

#endif
