/*
 * The three training losses over one unroll of T steps in B environments: A2C with GAE(λ) (Schulman et al.
 * 2016), V-trace (Espeholt et al. 2018) and PPO's clipped surrogate (Schulman et al. 2017). Each turns the
 * policy logits and values the learner recomputed into the loss's gradients with respect to them, which
 * attn_backward then carries into the parameters. Targets and advantages are constants: no gradient flows
 * through them.
 *
 * Every loss is a mean over the T·B samples of
 *     policy term + baseline_cost·½(target − V)² − entropy_cost·H(π),   H(π) = −Σ_a π(a)·log π(a),
 * and only the policy term and the value target differ between them:
 *     A2C      −Â_t·log π(a_t),                      target the λ-return Â_t + V(x_t)
 *     V-trace  −ρ_t·(r_t + γ·v_{t+1} − V(x_t))·log π(a_t),   target v_t
 *     PPO      −min(r_t·Â_t, clip(r_t, 1−ε, 1+ε)·Â_t), r_t = π(a_t)/μ(a_t),   target the λ-return
 * docs/training.md ("Losses") writes out the conventions at episode boundaries.
 *
 * Everything is computed in one fixed order (environments, then time backwards for the recursions; samples in
 * [t][b] order for the means, accumulated in double), so the same inputs give bitwise the same outputs.
 */
#ifndef ATTN_LOSSES_H
#define ATTN_LOSSES_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

typedef struct loss_inputs {
    int T, B, A;                    /* time-major: index [t][b] = t*B + b */
    const float *logits;            /* [T][B][A] current (target) policy logits */
    const float *values;            /* [T][B] current value estimates V(x_t) */
    const float *bootstrap;         /* [B] value of the observation after the last step */
    const float *behaviour_logits;  /* [T][B][A] the policy that acted (V-trace ratios, PPO old policy) */
    const int32_t *actions;         /* [T][B] */
    const float *rewards;           /* [T][B] raw rewards r_t received after action a_t */
    const uint8_t *terminated;      /* [T][B] episode ended at step t inside the task: no bootstrap */
    const uint8_t *truncated;       /* [T][B] episode cut at step t: bootstrap from truncation_values */
    const float *truncation_values; /* [T][B] V(final observation) where truncated */
} loss_inputs;

/* ATTN_OK for a configuration the losses accept: version, kind, discount and λ in [0, 1], costs, ρ̄, c̄ and
 * reward_clip finite and ≥ 0, clip_range finite and > 0 (for any kind); for PPO at least one epoch and
 * minibatch. Otherwise ATTN_ERR_INVALID (ATTN_ERR_NULL for NULL) naming the field. Defined in loss_config.c. */
attn_status loss_config_check(const attn_loss_config *cfg);

/* Floats of workspace the functions below need for T, B, A (the learner allocates once). */
size_t loss_workspace_floats(int T, int B, int A);

/* GAE(λ) advantages adv [T][B] and λ-returns ret = adv + values [T][B], from inputs->values/bootstrap,
 * rewards clipped to ±reward_clip when reward_clip > 0. The value after step t is: 0 if terminated[t];
 * truncation_values[t] if truncated[t]; else values[t+1] (bootstrap at t = T-1). The advantage recursion does
 * not cross a step where terminated or truncated. Inputs are not validated here (the losses do that). */
void loss_gae(float *adv, float *ret, const loss_inputs *in, float discount, float lambda, float reward_clip);

/*
 * V-trace's targets on their own, as loss_vtrace uses them: vs [T][B] the v_s of IMPALA's eq. 1 with λ = 1
 * (c_s = min(c̄, π/μ)), and pg_weight [T][B] = ρ_s·(r_s + γ·v_{s+1} − V(x_s)), the policy gradient's weight,
 * where ρ_s = min(ρ̄, π/μ) and ρ̄ or c̄ = 0 means no truncation. At episode boundaries v_{s+1} and V(x_{s+1})
 * are 0 after a termination and truncation_values[s] after a truncation, and the recursion stops there.
 * Returns how many samples had π/μ > ρ̄ (0 when ρ̄ = 0). Inputs are not validated here.
 */
int loss_vtrace_targets(float *vs, float *pg_weight, const loss_inputs *in, float discount, float rho_bar,
                        float c_bar, float reward_clip);

/* The policy term's shape, given a constant per-sample weight w_t. */
typedef enum loss_policy_form {
    LOSS_POLICY_LOG_PROB = 0, /* −w_t·log π(a_t): A2C (w = Â) and V-trace (w = ρ·advantage) */
    LOSS_POLICY_CLIPPED = 1   /* −min(r_t·w_t, clip(r_t, 1−ε, 1+ε)·w_t), r_t = π(a_t)/μ(a_t): PPO (w = Â) */
} loss_policy_form;

/*
 * What every loss reduces to once its targets are computed: the loss for constant per-sample policy weights
 * [T][B] and value targets [T][B], its gradients and its stats (clip_fraction: PPO's share of |r − 1| > ε for
 * LOSS_POLICY_CLIPPED, else 0). Uses only logits, values, behaviour_logits and actions of `in`. Exposed so the
 * finite-difference tests can differentiate the loss with the targets frozen.
 */
attn_status loss_fixed_targets(const attn_loss_config *cfg, const loss_inputs *in, loss_policy_form form,
                               const float *weights, const float *targets, float *dlogits, float *dvalues,
                               attn_loss_stats *stats);

/* Fill dlogits [T][B][A] and dvalues [T][B] with d(total loss)/d(logits, values), and stats (all fields but
 * grad_norm and skipped). Loss = mean over the T·B samples of: policy term + baseline_cost·½(target − V)² −
 * entropy_cost·H(π). Returns ATTN_OK, or ATTN_ERR_NONFINITE if the loss is not finite (outputs then undefined).
 * Invalid sizes, NULL pointers, actions outside [0, A) or a bad configuration give ATTN_ERR_SIZE / _NULL /
 * _INVALID and touch no output. Every pointer of `in` is required. `workspace` holds loss_workspace_floats. */
attn_status loss_a2c(const attn_loss_config *cfg, const loss_inputs *in, float *dlogits, float *dvalues,
                     attn_loss_stats *stats, float *workspace);
attn_status loss_vtrace(const attn_loss_config *cfg, const loss_inputs *in, float *dlogits, float *dvalues,
                        attn_loss_stats *stats, float *workspace);
/* out [n] = (adv − mean) / (√variance + 1e-8): PPO's advantage normalisation for a given mean and population
 * variance, so the learner can pass those of every process's samples (attn_learner_set_reduce). */
void loss_normalize_advantages(float *out, const float *adv, size_t n, double mean, double variance);

/* PPO on one minibatch: `in` holds the minibatch's CURRENT logits/values and its behaviour (old) logits; adv and
 * ret [T][B] were computed once per collection by loss_gae from the collection-time values (with
 * cfg->reward_clip: this function never sees rewards, so only logits, values, behaviour_logits and actions of
 * `in` are used). Advantages are normalised over the minibatch when cfg->normalize_advantages. Clipped
 * surrogate with cfg->clip_range; value loss ½(ret − V)² (no value clipping); approx_kl and clip_fraction in
 * stats. */
attn_status loss_ppo(const attn_loss_config *cfg, const loss_inputs *in, const float *adv, const float *ret,
                     float *dlogits, float *dvalues, attn_loss_stats *stats, float *workspace);

#endif
