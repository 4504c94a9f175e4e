/* The forward pass's convolution plan: which method (conv.h) computes each conv layer and the ConvLSTM for a
 * state's batch. Three ways to get one, all set per state (attn_state_set_conv_plan, or $ATTN_CONV_PLAN at
 * attn_state_create):
 *   "rule"     conv_rule_method per layer: fixed, the default;
 *   "measure"  each available method timed once on the layer's real shape — the rows one thread computes,
 *              plus the weights' packing every attn_forward repeats — and the fastest kept, as FFTW's planner
 *              and cuDNN's benchmark mode do;
 *   a list     "direct,winograd": one method per layer, conv layers first, as conv_plan_text writes it, so a
 *              measured plan can be recorded and replayed bit for bit.
 * The backward pass keeps its own fixed choices (conv_plan_input_grad, conv_wgrad_choose). */
#ifndef ATTN_CONV_PLANNER_H
#define ATTN_CONV_PLANNER_H

#include <stddef.h>

#include "attnagent/attnagent.h"
#include "conv.h"
#include "model.h"

/* methods[0..nconv] ← the plan `text` describes for `model` in a state of B environments over `threads`
 * slices (the rule looks at B, as it always did; measuring times a slice's rows). ATTN_ERR_INVALID
 * (naming `origin`, e.g. "ATTN_CONV_PLAN") for an unknown word, a list of the wrong length or a method this CPU
 * cannot run for its layer; ATTN_ERR_NOMEM when measuring cannot get its buffers. methods is unchanged on
 * failure. */
attn_status conv_plan_choose(int *methods, const attn_model *model, int B, int threads, const char *text,
                             const char *origin);

/* The list form of methods[0..nconv] ("direct,winograd") into out (CONV_PLAN_TEXT chars). */
void conv_plan_text(char *out, const int *methods, int nconv);

#endif
