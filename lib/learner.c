#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "errors.h"
#include "learner_reduce.h"
#include "losses.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "rollout.h"

struct attn_learner {
    attn_model *model;
    attn_loss_config cfg;
    int B, T, A;
    int Bm;                 /* environments per minibatch (B except for PPO) */
    size_t obs_bytes;       /* per environment */
    attn_state *state;      /* Bm environments, T steps of tape */
    int64_t skipped;
    int64_t updates;        /* attn_learner_update calls that ran the loss */
    float last_entropy;     /* mean policy entropy of the last update */
    float *params0;         /* the parameters at the first update, for attn_learner_health_get */
    learner_reduce reduce;  /* the host's reduction across processes (attn_learner_set_reduce), or none */

    /* One minibatch's copy of the unroll, time-major [T][Bm] (gathered from the rollout for PPO). */
    void *obs;
    uint8_t *first, *terminated, *truncated;
    int32_t *prev_action, *actions;
    float *prev_reward, *rewards, *truncation_values, *behaviour_logits, *behaviour_values, *bootstrap;
    float *init_state[4];
    size_t init_size[4];    /* for Bm environments */
    float *adv, *ret;       /* PPO: [T][B] for the whole batch, and [T][Bm] gathered */
    float *adv_mb, *ret_mb;
    float *adv_norm;        /* PPO with a reduction: [T][Bm] advantages normalised over every process's samples */
    /* The learner's own forward and the loss's gradients, [T][Bm]. */
    float *logits, *values, *dlogits, *dvalues;
    float *workspace;
    int32_t *order;         /* PPO: environments in this epoch's order */
    void *memory;
};

static void layout(carver *c, attn_learner *l)
{
    const size_t T = (size_t)l->T, Bm = (size_t)l->Bm, B = (size_t)l->B, A = (size_t)l->A;
    l->obs = take(c, T * Bm, l->obs_bytes);
    l->first = take(c, T * Bm, 1);
    l->terminated = take(c, T * Bm, 1);
    l->truncated = take(c, T * Bm, 1);
    l->prev_action = take(c, T * Bm, sizeof(int32_t));
    l->actions = take(c, T * Bm, sizeof(int32_t));
    l->prev_reward = TAKE_F(c, T * Bm);
    l->rewards = TAKE_F(c, T * Bm);
    l->truncation_values = TAKE_F(c, T * Bm);
    l->behaviour_logits = TAKE_F(c, T * Bm * A);
    l->behaviour_values = TAKE_F(c, T * Bm);
    l->bootstrap = TAKE_F(c, Bm);
    for (int p = 0; p < 4; p++) l->init_state[p] = TAKE_F(c, l->init_size[p]);
    l->adv = TAKE_F(c, T * B);
    l->ret = TAKE_F(c, T * B);
    l->adv_mb = TAKE_F(c, T * Bm);
    l->ret_mb = TAKE_F(c, T * Bm);
    l->adv_norm = TAKE_F(c, T * Bm);
    l->logits = TAKE_F(c, T * Bm * A);
    l->values = TAKE_F(c, T * Bm);
    l->dlogits = TAKE_F(c, T * Bm * A);
    l->dvalues = TAKE_F(c, T * Bm);
    l->workspace = TAKE_F(c, loss_workspace_floats(l->T, l->B, l->A));
    l->order = take(c, B, sizeof(int32_t));
    l->params0 = TAKE_F(c, l->model->nparams);
}

attn_status attn_learner_create(attn_learner **out, attn_model *model, const attn_loss_config *config, int batch,
                                int unroll)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(model, "model")) || (st = check_not_null(config, "config"))) return st;
    if (config->version != ATTN_LOSS_CONFIG_VERSION)
        return fail(ATTN_ERR_INVALID, "loss config version %d, expected %d (use attn_loss_config_init)",
                    config->version, ATTN_LOSS_CONFIG_VERSION);
    if ((st = loss_config_check(config))) return st;
    if (batch < 1 || unroll < 1) return fail(ATTN_ERR_SIZE, "batch %d and unroll %d must be positive", batch, unroll);
    int Bm = batch;
    if (config->kind == ATTN_LOSS_PPO) {
        if (config->ppo_epochs < 1 || config->ppo_minibatches < 1 || batch % config->ppo_minibatches)
            return fail(ATTN_ERR_INVALID, "PPO needs epochs >= 1 and minibatches (%d) dividing the batch (%d)",
                        config->ppo_minibatches, batch);
        Bm = batch / config->ppo_minibatches;
    }
    attn_learner *l = calloc(1, sizeof *l);
    if (!l) return fail(ATTN_ERR_NOMEM, "cannot allocate a learner");
    l->model = model;
    l->cfg = *config;
    l->B = batch;
    l->T = unroll;
    l->A = model->d.A;
    l->Bm = Bm;
    l->obs_bytes = (size_t)model->d.H * model->d.W * model->d.C * obs_elem_size(model->cfg.obs_type);
    if ((st = attn_state_create(&l->state, model, Bm, unroll))) {
        free(l);
        return st;
    }
    for (int p = 0; p < 4; p++) l->init_size[p] = attn_state_part_size(l->state, STATE_PARTS[p]);
    carver c = {NULL, 0};
    layout(&c, l);
    l->memory = carve_alloc(&c);
    if (!l->memory) {
        attn_learner_destroy(l);
        return fail(ATTN_ERR_NOMEM, "cannot allocate a learner for %d environments × %d steps", batch, unroll);
    }
    c = (carver){carve_align(l->memory), 0};
    layout(&c, l);
    *out = l;
    return ATTN_OK;
}

void attn_learner_destroy(attn_learner *learner)
{
    if (!learner) return;
    attn_state_destroy(learner->state);
    free(learner->memory);
    free(learner);
}

int64_t attn_learner_skipped(const attn_learner *learner) { return learner ? learner->skipped : 0; }

attn_status attn_learner_set_reduce(attn_learner *learner, attn_reduce_fn reduce, void *payload)
{
    attn_status st = check_not_null(learner, "learner");
    if (st) return st;
    learner->reduce = (learner_reduce){reduce, reduce ? payload : NULL};
    return ATTN_OK;
}

/* Copies environment src of the rollout's [T][B] arrays into column dst of the learner's [T][Bm] arrays. */
static void gather_env(attn_learner *l, const attn_rollout *r, int src, int dst)
{
    const int T = l->T, B = l->B, Bm = l->Bm, A = l->A;
    for (int t = 0; t < T; t++) {
        size_t s = (size_t)t * B + src, d = (size_t)t * Bm + dst;
        memcpy((char *)l->obs + d * l->obs_bytes, (const char *)r->obs + s * l->obs_bytes, l->obs_bytes);
        l->first[d] = r->first[s];
        l->terminated[d] = r->terminated[s];
        l->truncated[d] = r->truncated[s];
        l->prev_action[d] = r->prev_action[s];
        l->actions[d] = r->actions[s];
        l->prev_reward[d] = r->prev_reward[s];
        l->rewards[d] = r->rewards[s];
        l->truncation_values[d] = r->truncation_values[s];
        l->behaviour_values[d] = r->values[s];
        memcpy(l->behaviour_logits + d * A, r->logits + s * A, sizeof(float) * (size_t)A);
        l->adv_mb[d] = l->adv[s];
        l->ret_mb[d] = l->ret[s];
    }
    l->bootstrap[dst] = r->bootstrap[src];
    for (int p = 0; p < 4; p++) {
        size_t row = l->init_size[p] / (size_t)Bm;
        memcpy(l->init_state[p] + (size_t)dst * row, r->init_state[p] + (size_t)src * row, sizeof(float) * row);
    }
}

/* Replays the gathered unroll from its initial state with the current parameters, recording for backward. */
static attn_status replay(attn_learner *l)
{
    attn_status st = attn_state_clear_tape(l->state);
    for (int p = 0; !st && p < 4; p++) st = attn_state_set(l->state, STATE_PARTS[p], l->init_state[p], l->init_size[p]);
    const size_t Bm = (size_t)l->Bm;
    for (int t = 0; !st && t < l->T; t++)
        st = attn_forward(l->model, l->state, ATTN_FORWARD_RECORD, (char *)l->obs + t * Bm * l->obs_bytes,
                          Bm * l->obs_bytes, l->prev_reward + t * Bm, l->prev_action + t * Bm, l->first + t * Bm,
                          l->logits + t * Bm * l->A, l->values + t * Bm);
    return st;
}

static loss_inputs minibatch_inputs(const attn_learner *l)
{
    return (loss_inputs){l->T,       l->Bm,          l->A,          l->logits,     l->values,
                         l->bootstrap, l->behaviour_logits, l->actions, l->rewards, l->terminated,
                         l->truncated, l->truncation_values};
}

/* Loss gradients → backward → optimizer step on the current minibatch; non-finite anywhere skips the step. */
static attn_status update_minibatch(attn_learner *l, attn_optimizer *opt, attn_loss_stats *stats)
{
    /* A replay refused for a non-finite recurrent state counts as a skipped update, like a non-finite loss. */
    attn_status st = replay(l);
    loss_inputs in = minibatch_inputs(l);
    attn_loss_stats s = {0};
    /* With a host reduction every call of it below is made whatever failed here, so that no process waits for
     * one that gave up (training.h); rs is a failure of the reduction itself, which ends the update. */
    const learner_reduce *red = l->reduce.fn ? &l->reduce : NULL;
    attn_loss_config cfg = l->cfg;
    const float *adv = l->adv_mb;
    const size_t n = (size_t)l->T * (size_t)l->Bm;
    attn_status rs = ATTN_OK;
    if (red && cfg.kind == ATTN_LOSS_PPO && cfg.normalize_advantages) {
        rs = reduce_normalized_advantages(red, l->adv_norm, l->adv_mb, n);
        adv = l->adv_norm;
        cfg.normalize_advantages = 0;
    }
    if (st == ATTN_OK && !rs) switch (cfg.kind) {
    case ATTN_LOSS_A2C: st = loss_a2c(&cfg, &in, l->dlogits, l->dvalues, &s, l->workspace); break;
    case ATTN_LOSS_VTRACE: st = loss_vtrace(&cfg, &in, l->dlogits, l->dvalues, &s, l->workspace); break;
    case ATTN_LOSS_PPO:
        st = loss_ppo(&cfg, &in, adv, l->ret_mb, l->dlogits, l->dvalues, &s, l->workspace);
        break;
    }
    double share = 1.0;
    int any_failed = 0;
    if (red && !rs) rs = reduce_step_scalars(red, &s, n, st != ATTN_OK, &any_failed, &share);
    if (st == ATTN_OK && any_failed) st = ATTN_ERR_NONFINITE; /* another process's: every process skips */
    if (st == ATTN_OK && !rs) {
        attn_model_zero_grad(l->model);
        st = attn_backward(l->model, l->state, l->dlogits, l->dvalues);
        if (red) rs = reduce_gradients(red, attn_model_grads(l->model), attn_model_param_count(l->model), share,
                                       st != ATTN_OK);
        if (st == ATTN_OK && !rs) st = attn_optimizer_step(opt, l->model, &s.grad_norm);
    }
    attn_state_clear_tape(l->state);
    if (rs) {
        *stats = s;
        return rs;
    }
    if (st == ATTN_ERR_NONFINITE) {
        /* A non-finite loss or gradient must not reach the weights: count it and move on. */
        l->skipped++;
        s.skipped = 1;
        st = ATTN_OK;
    }
    *stats = s;
    return st;
}

/* Adds one minibatch's statistics into a running mean. */
static void accumulate(attn_loss_stats *sum, const attn_loss_stats *s, int n)
{
    float w = 1.0f / (float)n;
    sum->total += w * s->total;
    sum->policy_loss += w * s->policy_loss;
    sum->value_loss += w * s->value_loss;
    sum->entropy += w * s->entropy;
    sum->approx_kl += w * s->approx_kl;
    sum->clip_fraction += w * s->clip_fraction;
    sum->grad_norm += w * s->grad_norm;
    sum->skipped |= s->skipped;
}

attn_status attn_learner_update(attn_learner *learner, attn_optimizer *opt, const attn_rollout *rollout,
                                attn_loss_stats *stats)
{
    attn_status st = check_not_null(learner, "learner");
    if (st || (st = check_not_null(opt, "opt")) || (st = check_not_null(rollout, "rollout")) ||
        (st = check_not_null(stats, "stats")))
        return st;
    if (!rollout->valid) return fail(ATTN_ERR_STATE, "the rollout holds no complete unroll");
    if (rollout->B != learner->B || rollout->T != learner->T)
        return fail(ATTN_ERR_SIZE, "rollout of %d environments × %d steps, learner of %d × %d", rollout->B,
                    rollout->T, learner->B, learner->T);
    /* The observation type is not part of the dims, and the learner copies observations at its own width. */
    if (memcmp(&rollout->model->d, &learner->model->d, sizeof learner->model->d) ||
        rollout->model->cfg.obs_type != learner->model->cfg.obs_type)
        return fail(ATTN_ERR_INVALID, "the rollout's model configuration differs from the learner's");
    /* Before the replay: it would write the gradients of a model the optimizer cannot then step. */
    if ((st = optimizer_check_model(opt, learner->model))) return st;
    memset(stats, 0, sizeof *stats);
    /* The reference for "did the weights move" is taken here, not at creation: a host may load a checkpoint
     * into the model after creating the learner. */
    if (!learner->updates)
        memcpy(learner->params0, learner->model->params, sizeof(float) * learner->model->nparams);
    learner->updates++;
    if (learner->cfg.kind != ATTN_LOSS_PPO) {
        for (int b = 0; b < learner->B; b++) gather_env(learner, rollout, b, b);
        st = update_minibatch(learner, opt, stats);
        learner->last_entropy = stats->entropy;
        return st;
    }

    /* PPO: advantages once from the values the behaviour policy saw, then epochs of shuffled minibatches. */
    loss_inputs all = {rollout->T,        rollout->B,        rollout->A,        rollout->logits,
                       rollout->values,   rollout->bootstrap, rollout->logits,  rollout->actions,
                       rollout->rewards,  rollout->terminated, rollout->truncated, rollout->truncation_values};
    loss_gae(learner->adv, learner->ret, &all, learner->cfg.discount, learner->cfg.gae_lambda,
             learner->cfg.reward_clip);
    /* The shuffle is a function of the optimizer's step count, so a resumed run shuffles identically. */
    rng order;
    rng_seed(&order, 0x5eed0f9900ULL ^ (uint64_t)attn_optimizer_steps(opt));
    const int M = learner->cfg.ppo_minibatches;
    for (int e = 0; e < learner->cfg.ppo_epochs; e++) {
        for (int b = 0; b < learner->B; b++) learner->order[b] = b;
        for (int b = learner->B - 1; b > 0; b--) {
            int k = (int)(rng_next(&order) % (uint64_t)(b + 1));
            int32_t tmp = learner->order[b];
            learner->order[b] = learner->order[k];
            learner->order[k] = tmp;
        }
        attn_loss_stats epoch = {0};
        for (int m = 0; m < M; m++) {
            for (int j = 0; j < learner->Bm; j++) gather_env(learner, rollout, learner->order[m * learner->Bm + j], j);
            attn_loss_stats s;
            if ((st = update_minibatch(learner, opt, &s))) return st;
            accumulate(&epoch, &s, M);
        }
        *stats = epoch;
    }
    learner->last_entropy = stats->entropy;
    return ATTN_OK;
}

attn_status attn_learner_health_get(const attn_learner *learner, attn_learner_health *health)
{
    attn_status st = check_not_null(learner, "learner");
    if (st || (st = check_not_null(health, "health"))) return st;
    const attn_model *m = learner->model;
    double moved = 0.0, size = 0.0;
    if (learner->updates)
        for (size_t i = 0; i < m->nparams; i++) {
            const double d = (double)m->params[i] - learner->params0[i];
            moved += d * d;
            size += (double)learner->params0[i] * learner->params0[i];
        }
    *health = (attn_learner_health){.updates = learner->updates};
    health->entropy_ratio = learner->A > 1 ? learner->last_entropy / logf((float)learner->A) : 0.0f;
    health->weight_change = size > 0.0 ? (float)sqrt(moved / size) : 0.0f;
    if (learner->updates >= ATTN_HEALTH_MIN_UPDATES) {
        if (health->entropy_ratio > 0.99f) health->flags |= ATTN_HEALTH_UNIFORM_POLICY;
        if (health->weight_change < 1e-3f) health->flags |= ATTN_HEALTH_FROZEN_WEIGHTS;
    }
    return ATTN_OK;
}
