#include "losses.h"

#include <math.h>

#include "errors.h"

/* Per-sample arithmetic runs in double and only the results are stored as float: the recursions then lose
 * nothing over a long unroll, and the finite-difference build (float → double) gets full precision too. */

/* Advantage normalisation: (Â − mean) / (std + this), so a minibatch of equal advantages gives 0, not NaN. */
#define ADVANTAGE_EPS 1e-8

size_t loss_workspace_floats(int T, int B, int A)
{
    (void)A; /* per-sample rows are recomputed rather than stored */
    return 2 * (size_t)T * (size_t)B;
}

static double clip_reward(float r, float reward_clip)
{
    if (reward_clip > 0.0f) {
        if (r > reward_clip) return reward_clip;
        if (r < -reward_clip) return -reward_clip;
    }
    return r;
}

/* Whether the recursions may carry information from step t+1 back to step t of the same environment. */
static int episode_continues(const loss_inputs *in, size_t i) { return !in->terminated[i] && !in->truncated[i]; }

/* The value of whatever followed step t in environment b, read from `later` [T][B] (values, or targets) while
 * the episode goes on inside the unroll: 0 after a termination (it wins when both flags are set, as in
 * Gymnasium), the final observation's value after a truncation, the bootstrap after the last step. */
static double value_after(const loss_inputs *in, int t, int b, const float *later)
{
    size_t i = (size_t)t * in->B + b;
    if (in->terminated[i]) return 0.0;
    if (in->truncated[i]) return in->truncation_values[i];
    if (t == in->T - 1) return in->bootstrap[b];
    return later[i + in->B];
}

void loss_gae(float *adv, float *ret, const loss_inputs *in, float discount, float lambda, float reward_clip)
{
    for (int b = 0; b < in->B; b++) {
        double next_adv = 0.0;
        for (int t = in->T - 1; t >= 0; t--) {
            size_t i = (size_t)t * in->B + b;
            double v = in->values[i];
            double r = clip_reward(in->rewards[i], reward_clip);
            double delta = r + (double)discount * value_after(in, t, b, in->values) - v;
            double a = delta + (episode_continues(in, i) ? (double)discount * lambda * next_adv : 0.0);
            adv[i] = (float)a;
            ret[i] = (float)(a + v);
            next_adv = a;
        }
    }
}

/* log Σ_j exp(z_j), shifted by the largest z so no exponential overflows. */
static double log_sum_exp(const float *z, int A)
{
    double m = z[0];
    for (int j = 1; j < A; j++)
        if (z[j] > m) m = z[j];
    double s = 0.0;
    for (int j = 0; j < A; j++) s += exp(z[j] - m);
    return m + log(s);
}

/* log π(a) for the policy with logits z. */
static double log_prob(const float *z, int A, int a) { return z[a] - log_sum_exp(z, A); }

int loss_vtrace_targets(float *vs, float *pg_weight, const loss_inputs *in, float discount, float rho_bar,
                        float c_bar, float reward_clip)
{
    const int A = in->A;
    const size_t N = (size_t)in->T * in->B;
    int over_rho_bar = 0;
    /* π/μ of the taken actions, parked in pg_weight until the backward pass replaces each by its weight. */
    for (size_t i = 0; i < N; i++) {
        int a = in->actions[i];
        pg_weight[i] = (float)exp(log_prob(in->logits + i * A, A, a) - log_prob(in->behaviour_logits + i * A, A, a));
        if (rho_bar > 0.0f && pg_weight[i] > rho_bar) over_rho_bar++;
    }
    for (int b = 0; b < in->B; b++) {
        double next_correction = 0.0; /* v_{t+1} − V(x_{t+1}) */
        for (int t = in->T - 1; t >= 0; t--) {
            size_t i = (size_t)t * in->B + b;
            double ratio = pg_weight[i];
            double rho = rho_bar > 0.0f && ratio > rho_bar ? rho_bar : ratio;
            double c = c_bar > 0.0f && ratio > c_bar ? c_bar : ratio;
            double r = clip_reward(in->rewards[i], reward_clip), v = in->values[i];
            double delta = rho * (r + (double)discount * value_after(in, t, b, in->values) - v);
            double correction = delta + (episode_continues(in, i) ? (double)discount * c * next_correction : 0.0);
            vs[i] = (float)(v + correction);
            /* v_{t+1} was written on the previous iteration (or is the bootstrap / boundary value). */
            pg_weight[i] = (float)(rho * (r + (double)discount * value_after(in, t, b, vs) - v));
            next_correction = correction;
        }
    }
    return over_rho_bar;
}

/* Sizes, pointers and actions; `trajectory` also requires what the targets are computed from. */
static attn_status check_inputs(const attn_loss_config *cfg, const loss_inputs *in, int trajectory,
                                const float *dlogits, const float *dvalues, const attn_loss_stats *stats)
{
    attn_status st;
    if ((st = loss_config_check(cfg)) != ATTN_OK) return st;
    if ((st = check_not_null(in, "loss inputs")) != ATTN_OK) return st;
    if (in->T < 1 || in->B < 1 || in->A < 1)
        return fail(ATTN_ERR_SIZE, "loss inputs have T = %d, B = %d, A = %d; each must be at least 1", in->T, in->B,
                    in->A);
    if ((st = check_not_null(in->logits, "loss inputs: logits")) != ATTN_OK ||
        (st = check_not_null(in->values, "loss inputs: values")) != ATTN_OK ||
        (st = check_not_null(in->behaviour_logits, "loss inputs: behaviour_logits")) != ATTN_OK ||
        (st = check_not_null(in->actions, "loss inputs: actions")) != ATTN_OK ||
        (st = check_not_null(dlogits, "dlogits")) != ATTN_OK || (st = check_not_null(dvalues, "dvalues")) != ATTN_OK ||
        (st = check_not_null(stats, "stats")) != ATTN_OK)
        return st;
    if (trajectory &&
        ((st = check_not_null(in->bootstrap, "loss inputs: bootstrap")) != ATTN_OK ||
         (st = check_not_null(in->rewards, "loss inputs: rewards")) != ATTN_OK ||
         (st = check_not_null(in->terminated, "loss inputs: terminated")) != ATTN_OK ||
         (st = check_not_null(in->truncated, "loss inputs: truncated")) != ATTN_OK ||
         (st = check_not_null(in->truncation_values, "loss inputs: truncation_values")) != ATTN_OK))
        return st;
    for (int t = 0; t < in->T; t++)
        for (int b = 0; b < in->B; b++) {
            int32_t a = in->actions[(size_t)t * in->B + b];
            if (a < 0 || a >= in->A)
                return fail(ATTN_ERR_INVALID, "action %d at step %d of environment %d is outside [0, %d)", (int)a, t,
                            b, in->A);
        }
    return ATTN_OK;
}

/* The loss and its gradients from constant weights and targets (loss_fixed_targets without the checks). */
static attn_status combine(const attn_loss_config *cfg, const loss_inputs *in, loss_policy_form form,
                           const float *weights, const float *targets, float *dlogits, float *dvalues,
                           attn_loss_stats *stats)
{
    const int A = in->A;
    const size_t N = (size_t)in->T * in->B;
    const double scale = 1.0 / (double)N, eps = cfg->clip_range;
    double policy = 0.0, value = 0.0, entropy = 0.0, kl = 0.0;
    size_t clipped = 0;
    for (size_t i = 0; i < N; i++) {
        const float *z = in->logits + i * A;
        float *dz = dlogits + i * A;
        int a = in->actions[i];
        double lse = log_sum_exp(z, A);
        /* H = −Σ p_j (z_j − lse) = lse − Σ p_j z_j */
        double mean_z = 0.0;
        for (int j = 0; j < A; j++) mean_z += exp(z[j] - lse) * z[j];
        double H = lse - mean_z;
        double logp_a = z[a] - lse, logmu_a = log_prob(in->behaviour_logits + i * A, A, a);
        double w = weights[i];
        /* d(policy term)/dz_j = g·(p_j − [j = a]): g = w for −w·log π(a), and g = w·r for −r·w since
         * dr/dz_j = r·([j = a] − p_j). */
        double g;
        if (form == LOSS_POLICY_LOG_PROB) {
            g = w;
            policy += -w * logp_a;
        } else {
            double r = exp(logp_a - logmu_a);
            double r_clip = r > 1.0 + eps ? 1.0 + eps : r < 1.0 - eps ? 1.0 - eps : r;
            double surrogate = r * w < r_clip * w ? r * w : r_clip * w;
            policy += -surrogate;
            /* The min picks the constant clipped term only when the ratio has moved past the range in the
             * direction the advantage favours; elsewhere the surrogate is r·w. */
            int flat = (w > 0.0 && r > 1.0 + eps) || (w < 0.0 && r < 1.0 - eps);
            g = flat ? 0.0 : w * r;
            if (fabs(r - 1.0) > eps) clipped++;
        }
        /* d(−H)/dz_j = p_j·(log p_j + H) */
        for (int j = 0; j < A; j++) {
            double logp = z[j] - lse, p = exp(logp);
            dz[j] = (float)(scale * (g * (p - (j == a)) + cfg->entropy_cost * p * (logp + H)));
        }
        double err = (double)in->values[i] - targets[i];
        dvalues[i] = (float)(scale * cfg->baseline_cost * err);
        value += 0.5 * err * err;
        entropy += H;
        kl += logmu_a - logp_a;
    }
    policy *= scale, value *= scale, entropy *= scale;
    double total = policy + cfg->baseline_cost * value - cfg->entropy_cost * entropy;
    if (!isfinite(total))
        return fail(ATTN_ERR_NONFINITE, "the loss is not finite (policy %g, value %g, entropy %g)", policy, value,
                    entropy);
    stats->total = (float)total;
    stats->policy_loss = (float)policy;
    stats->value_loss = (float)value;
    stats->entropy = (float)entropy;
    stats->approx_kl = (float)(kl * scale);
    stats->clip_fraction = (float)((double)clipped * scale);
    return ATTN_OK;
}

attn_status loss_fixed_targets(const attn_loss_config *cfg, const loss_inputs *in, loss_policy_form form,
                               const float *weights, const float *targets, float *dlogits, float *dvalues,
                               attn_loss_stats *stats)
{
    attn_status st = check_inputs(cfg, in, 0, dlogits, dvalues, stats);
    if (st != ATTN_OK) return st;
    if ((st = check_not_null(weights, "weights")) != ATTN_OK || (st = check_not_null(targets, "targets")) != ATTN_OK)
        return st;
    if (form != LOSS_POLICY_LOG_PROB && form != LOSS_POLICY_CLIPPED)
        return fail(ATTN_ERR_INVALID, "unknown policy form %d", (int)form);
    return combine(cfg, in, form, weights, targets, dlogits, dvalues, stats);
}

attn_status loss_a2c(const attn_loss_config *cfg, const loss_inputs *in, float *dlogits, float *dvalues,
                     attn_loss_stats *stats, float *workspace)
{
    attn_status st = check_inputs(cfg, in, 1, dlogits, dvalues, stats);
    if (st != ATTN_OK || (st = check_not_null(workspace, "workspace")) != ATTN_OK) return st;
    float *adv = workspace, *ret = workspace + (size_t)in->T * in->B; /* [T][B] each */
    loss_gae(adv, ret, in, cfg->discount, cfg->gae_lambda, cfg->reward_clip);
    return combine(cfg, in, LOSS_POLICY_LOG_PROB, adv, ret, dlogits, dvalues, stats);
}

attn_status loss_vtrace(const attn_loss_config *cfg, const loss_inputs *in, float *dlogits, float *dvalues,
                        attn_loss_stats *stats, float *workspace)
{
    attn_status st = check_inputs(cfg, in, 1, dlogits, dvalues, stats);
    if (st != ATTN_OK || (st = check_not_null(workspace, "workspace")) != ATTN_OK) return st;
    const size_t N = (size_t)in->T * in->B;
    float *vs = workspace, *pg_weight = workspace + N; /* [T][B] each */
    int over = loss_vtrace_targets(vs, pg_weight, in, cfg->discount, cfg->rho_bar, cfg->c_bar, cfg->reward_clip);
    st = combine(cfg, in, LOSS_POLICY_LOG_PROB, pg_weight, vs, dlogits, dvalues, stats);
    if (st == ATTN_OK) stats->clip_fraction = (float)((double)over / (double)N);
    return st;
}

void loss_normalize_advantages(float *out, const float *adv, size_t n, double mean, double variance)
{
    const double inv = 1.0 / (sqrt(variance) + ADVANTAGE_EPS);
    for (size_t i = 0; i < n; i++) out[i] = (float)((adv[i] - mean) * inv);
}

attn_status loss_ppo(const attn_loss_config *cfg, const loss_inputs *in, const float *adv, const float *ret,
                     float *dlogits, float *dvalues, attn_loss_stats *stats, float *workspace)
{
    attn_status st = check_inputs(cfg, in, 0, dlogits, dvalues, stats);
    if (st != ATTN_OK || (st = check_not_null(adv, "advantages")) != ATTN_OK ||
        (st = check_not_null(ret, "returns")) != ATTN_OK || (st = check_not_null(workspace, "workspace")) != ATTN_OK)
        return st;
    const size_t N = (size_t)in->T * in->B;
    const float *weights = adv;
    if (cfg->normalize_advantages) {
        /* Population standard deviation (divides by N), so a one-sample minibatch is well defined. */
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < N; i++) mean += adv[i];
        mean /= (double)N;
        for (size_t i = 0; i < N; i++) var += (adv[i] - mean) * (adv[i] - mean);
        float *normalized = workspace; /* [T][B] */
        loss_normalize_advantages(normalized, adv, N, mean, var / (double)N);
        weights = normalized;
    }
    return combine(cfg, in, LOSS_POLICY_CLIPPED, weights, ret, dlogits, dvalues, stats);
}
