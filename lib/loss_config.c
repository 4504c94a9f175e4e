#include <math.h>

#include "errors.h"
#include "losses.h"

attn_status attn_loss_config_init(attn_loss_config *config, attn_loss_kind kind)
{
    attn_status st = check_not_null(config, "config");
    if (st != ATTN_OK) return st;
    if (kind != ATTN_LOSS_A2C && kind != ATTN_LOSS_VTRACE && kind != ATTN_LOSS_PPO)
        return fail(ATTN_ERR_INVALID, "unknown loss kind %d", (int)kind);
    /* One set of defaults serves every kind: each reads only its own fields, and these are the paper settings
     * (IMPALA's costs, discount and ρ̄ = c̄ = 1; PPO's ε = 0.2; GAE's λ = 0.95). */
    *config = (attn_loss_config){
        .version = ATTN_LOSS_CONFIG_VERSION,
        .kind = kind,
        .discount = 0.99f,
        .gae_lambda = 0.95f,
        .entropy_cost = 0.01f,
        .baseline_cost = 0.5f,
        .rho_bar = 1.0f,
        .c_bar = 1.0f,
        .clip_range = 0.2f,
        .reward_clip = 0.0f,
        .ppo_epochs = 4,
        .ppo_minibatches = 4,
        .normalize_advantages = 1,
    };
    return ATTN_OK;
}

/* x in [lo, hi]; NaN is outside every range. */
static int within(float x, float lo, float hi) { return x >= lo && x <= hi; }

attn_status loss_config_check(const attn_loss_config *cfg)
{
    attn_status st = check_not_null(cfg, "loss config");
    if (st != ATTN_OK) return st;
    if (cfg->version != ATTN_LOSS_CONFIG_VERSION)
        return fail(ATTN_ERR_INVALID, "loss config version is %d, expected %d (use attn_loss_config_init)",
                    cfg->version, ATTN_LOSS_CONFIG_VERSION);
    if (cfg->kind != ATTN_LOSS_A2C && cfg->kind != ATTN_LOSS_VTRACE && cfg->kind != ATTN_LOSS_PPO)
        return fail(ATTN_ERR_INVALID, "unknown loss kind %d", (int)cfg->kind);
    const struct { const char *name; float value, lo, hi; } ranges[] = {
        {"discount", cfg->discount, 0.0f, 1.0f},
        {"gae_lambda", cfg->gae_lambda, 0.0f, 1.0f},
        {"entropy_cost", cfg->entropy_cost, 0.0f, INFINITY},
        {"baseline_cost", cfg->baseline_cost, 0.0f, INFINITY},
        {"rho_bar", cfg->rho_bar, 0.0f, INFINITY},
        {"c_bar", cfg->c_bar, 0.0f, INFINITY},
        {"reward_clip", cfg->reward_clip, 0.0f, INFINITY},
    };
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++)
        if (!within(ranges[k].value, ranges[k].lo, ranges[k].hi) || !isfinite(ranges[k].value))
            return fail(ATTN_ERR_INVALID, "loss config %s is %g; it must be finite and in [%g, %g]", ranges[k].name,
                        (double)ranges[k].value, (double)ranges[k].lo, (double)ranges[k].hi);
    /* Checked whatever the kind, since loss_ppo may be handed any configuration; the default suits all. */
    if (!(cfg->clip_range > 0.0f) || !isfinite(cfg->clip_range))
        return fail(ATTN_ERR_INVALID, "loss config clip_range is %g, must be finite and > 0", (double)cfg->clip_range);
    if (cfg->kind == ATTN_LOSS_PPO && (cfg->ppo_epochs < 1 || cfg->ppo_minibatches < 1))
        return fail(ATTN_ERR_INVALID, "loss config has %d PPO epochs and %d minibatches; each must be at least 1",
                    cfg->ppo_epochs, cfg->ppo_minibatches);
    return ATTN_OK;
}
