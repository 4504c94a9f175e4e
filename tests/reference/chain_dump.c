/* The C side of link 6 of the training chain (docs/testing.md, "The training chain, link by link";
 * chain_losses.py): the losses on a *recorded* unroll of the built-in breakout instead of random inputs.
 *
 * A minatar-preset agent acts in B = 4 games of breakout through attn-train's adapter (examples/minatar_env.c,
 * sticky actions 0.1, episodes cut at 12 steps so truncations occur) and records two unrolls of T = 20; the
 * second, which starts from a carried-in state, is the case. Then the weights are perturbed (each by up to
 * ±40 % of itself, plus up to ±0.03), as if the learner had moved on, so the current policy differs from the
 * one that acted and PPO's ratios fall on both sides of 1 ± ε. The unroll is replayed with the perturbed
 * weights from the rollout's stored initial state and inputs, giving the current logits and values. Written
 * to DIR, in compare_losses.py's case format (dump_losses.c says what each tensor is):
 *
 *   rec_gae.safetensors     the advantages and λ-returns lib/learner.c computes for PPO once per collection —
 *                           loss_gae over the whole batch with the values recorded while acting (checked with
 *                           NumPy by chain_losses.py);
 *   rec_a2c.safetensors     loss_a2c on the whole batch, as the learner calls it;
 *   rec_ppo.safetensors     one PPO minibatch, environments 3 and 1 gathered in that order as the learner
 *                           gathers them: GAE from the whole batch, then loss_ppo with the current logits and
 *                           values against the recorded ones;
 *   rec_vtrace.safetensors  loss_vtrace on that same minibatch;
 *   rec_learner.safetensors the whole batch with the current logits and values, and the statistics of
 *                           attn_learner_update itself (learning rate 0, so every minibatch sees the same
 *                           weights) for A2C, V-trace and PPO with one epoch of B one-environment minibatches
 *                           (their mean does not depend on the shuffle): learner.<kind>.<stat>.
 *
 * Usage: chain_dump DIR */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attnagent/attnagent.h"
#include "losses.h"
#include "minatar_env.h"
#include "rollout.h"
#include "safetensors.h"
#include "test_util.h"

enum { B = 4, T = 20, N = T * B, MB = 2, MAX_TENSORS = 48, MAX_META = 24, MAX_STEPS = 12 };
static const int MINIBATCH[MB] = {3, 1};

typedef struct tensor_list {
    st_tensor t[MAX_TENSORS];
    int n;
} tensor_list;

static void add(tensor_list *l, const char *name, st_dtype dtype, const void *data, int ndim, int64_t d0,
                int64_t d1, int64_t d2)
{
    st_tensor *t = &l->t[l->n++];
    const int64_t dims[3] = {d0, d1, d2};
    t->name = name;
    t->dtype = dtype;
    t->ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)(t->shape[d] = dims[d]);
    t->data = data;
    t->nbytes = count * st_dtype_size(dtype);
}

/* The metadata compare_losses.py reads: the case's name and kind, sizes, and every loss configuration field. */
typedef struct meta {
    char text[MAX_META][48];
    const char *keys[MAX_META], *vals[MAX_META];
    int n;
} meta;

static void meta_add(meta *m, const char *key, const char *fmt, double value)
{
    m->keys[m->n] = key;
    snprintf(m->text[m->n], sizeof m->text[m->n], fmt, value);
    m->vals[m->n] = m->text[m->n];
    m->n++;
}

static void meta_fill(meta *m, const char *name, const char *kind, int Bc, const attn_loss_config *c)
{
    m->n = 0;
    m->keys[m->n] = "case", m->vals[m->n++] = name;
    m->keys[m->n] = "kind", m->vals[m->n++] = kind;
    meta_add(m, "T", "%.0f", T);
    meta_add(m, "B", "%.0f", Bc);
    meta_add(m, "A", "%.0f", 6);
    meta_add(m, "discount", "%.9g", c->discount);
    meta_add(m, "gae_lambda", "%.9g", c->gae_lambda);
    meta_add(m, "entropy_cost", "%.9g", c->entropy_cost);
    meta_add(m, "baseline_cost", "%.9g", c->baseline_cost);
    meta_add(m, "rho_bar", "%.9g", c->rho_bar);
    meta_add(m, "c_bar", "%.9g", c->c_bar);
    meta_add(m, "clip_range", "%.9g", c->clip_range);
    meta_add(m, "reward_clip", "%.9g", c->reward_clip);
    meta_add(m, "normalize_advantages", "%.0f", c->normalize_advantages);
    meta_add(m, "ppo_epochs", "%.0f", c->ppo_epochs);
    meta_add(m, "ppo_minibatches", "%.0f", c->ppo_minibatches);
}

/* One batch of loss inputs, time-major [T][Bc], with room for every output a case writes. */
typedef struct batch {
    int Bc;
    float logits[N * 6], values[N], behaviour_logits[N * 6], behaviour_values[N], bootstrap[B];
    float rewards[N], truncation_values[N];
    int32_t actions[N];
    uint8_t terminated[N], truncated[N];
    float dlogits[N * 6], dvalues[N], aux1[N], aux2[N];
    float stats[6];
    int32_t zero_i;
    float zero_f;
    int32_t rho_clipped;
} batch;

static loss_inputs inputs_of(const batch *x)
{
    return (loss_inputs){T, x->Bc, 6, x->logits, x->values, x->bootstrap, x->behaviour_logits, x->actions,
                         x->rewards, x->terminated, x->truncated, x->truncation_values};
}

/* Columns `envs` of the recorded unroll (current = the replay with the perturbed weights). */
static void gather(batch *x, const attn_rollout *r, const float *cur_logits, const float *cur_values,
                   const int *envs, int count)
{
    memset(x, 0, sizeof *x);
    x->Bc = count;
    for (int j = 0; j < count; j++) {
        const int b = envs[j];
        for (int t = 0; t < T; t++) {
            const size_t s = (size_t)t * B + b, d = (size_t)t * count + j;
            memcpy(x->logits + d * 6, cur_logits + s * 6, sizeof(float) * 6);
            memcpy(x->behaviour_logits + d * 6, r->logits + s * 6, sizeof(float) * 6);
            x->values[d] = cur_values[s];
            x->behaviour_values[d] = r->values[s];
            x->rewards[d] = r->rewards[s];
            x->truncation_values[d] = r->truncation_values[s];
            x->actions[d] = r->actions[s];
            x->terminated[d] = r->terminated[s];
            x->truncated[d] = r->truncated[s];
        }
        x->bootstrap[j] = r->bootstrap[b];
    }
}

static void add_inputs(tensor_list *l, const batch *x, int with_behaviour_values)
{
    add(l, "logits", ST_F32, x->logits, 3, T, x->Bc, 6);
    add(l, "values", ST_F32, x->values, 2, T, x->Bc, 0);
    add(l, "bootstrap", ST_F32, x->bootstrap, 1, x->Bc, 0, 0);
    add(l, "behaviour_logits", ST_F32, x->behaviour_logits, 3, T, x->Bc, 6);
    if (with_behaviour_values) add(l, "behaviour_values", ST_F32, x->behaviour_values, 2, T, x->Bc, 0);
    add(l, "actions", ST_I32, x->actions, 2, T, x->Bc, 0);
    add(l, "rewards", ST_F32, x->rewards, 2, T, x->Bc, 0);
    add(l, "terminated", ST_U8, x->terminated, 2, T, x->Bc, 0);
    add(l, "truncated", ST_U8, x->truncated, 2, T, x->Bc, 0);
    add(l, "truncation_values", ST_F32, x->truncation_values, 2, T, x->Bc, 0);
}

static const char *const STAT_NAMES[6] = {"total", "policy_loss", "value_loss", "entropy", "approx_kl",
                                          "clip_fraction"};

static void keep_stats(float *out, const attn_loss_stats *s)
{
    const float v[6] = {s->total, s->policy_loss, s->value_loss, s->entropy, s->approx_kl, s->clip_fraction};
    memcpy(out, v, sizeof v);
}

static int write_case(const char *dir, const char *name, tensor_list *l, const meta *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    attn_status st = st_write(path, l->t, l->n, m->keys, m->vals, m->n);
    if (st) fprintf(stderr, "chain_dump: writing %s: %s\n", path, attn_last_error());
    return st != ATTN_OK;
}

/* One loss case in compare_losses.py's format. */
static int loss_case(const char *dir, const char *name, attn_loss_kind kind, batch *x, const float *adv,
                     const float *ret, float *workspace)
{
    static const char *const kinds[] = {"a2c", "vtrace", "ppo"};
    attn_loss_config cfg;
    attn_loss_config_init(&cfg, kind);
    loss_inputs in = inputs_of(x);
    attn_loss_stats s;
    memset(&s, 0, sizeof s);
    attn_status st = ATTN_OK;
    switch (kind) {
    case ATTN_LOSS_A2C:
        loss_gae(x->aux1, x->aux2, &in, cfg.discount, cfg.gae_lambda, cfg.reward_clip);
        st = loss_a2c(&cfg, &in, x->dlogits, x->dvalues, &s, workspace);
        break;
    case ATTN_LOSS_VTRACE:
        x->rho_clipped = loss_vtrace_targets(x->aux1, x->aux2, &in, cfg.discount, cfg.rho_bar, cfg.c_bar,
                                             cfg.reward_clip);
        st = loss_vtrace(&cfg, &in, x->dlogits, x->dvalues, &s, workspace);
        break;
    case ATTN_LOSS_PPO:
        memcpy(x->aux1, adv, sizeof(float) * (size_t)T * x->Bc);
        memcpy(x->aux2, ret, sizeof(float) * (size_t)T * x->Bc);
        st = loss_ppo(&cfg, &in, x->aux1, x->aux2, x->dlogits, x->dvalues, &s, workspace);
        break;
    }
    if (st) {
        fprintf(stderr, "chain_dump: %s: %s\n", name, attn_last_error());
        return 1;
    }
    keep_stats(x->stats, &s);
    tensor_list l = {0};
    add_inputs(&l, x, kind == ATTN_LOSS_PPO);
    add(&l, "out.dlogits", ST_F32, x->dlogits, 3, T, x->Bc, 6);
    add(&l, "out.dvalues", ST_F32, x->dvalues, 2, T, x->Bc, 0);
    static char stat_keys[6][32];
    for (int k = 0; k < 6; k++) {
        snprintf(stat_keys[k], sizeof stat_keys[k], "stats.%s", STAT_NAMES[k]);
        add(&l, stat_keys[k], ST_F32, &x->stats[k], 1, 1, 0, 0);
    }
    add(&l, "stats.grad_norm", ST_F32, &x->zero_f, 1, 1, 0, 0);
    add(&l, "stats.skipped", ST_I32, &x->zero_i, 1, 1, 0, 0);
    if (kind == ATTN_LOSS_VTRACE) {
        add(&l, "out.vs", ST_F32, x->aux1, 2, T, x->Bc, 0);
        add(&l, "out.pg_weight", ST_F32, x->aux2, 2, T, x->Bc, 0);
        add(&l, "out.rho_clipped", ST_I32, &x->rho_clipped, 1, 1, 0, 0);
    } else {
        add(&l, "out.adv", ST_F32, x->aux1, 2, T, x->Bc, 0);
        add(&l, "out.ret", ST_F32, x->aux2, 2, T, x->Bc, 0);
    }
    meta m;
    meta_fill(&m, name, kinds[kind], x->Bc, &cfg);
    return write_case(dir, name, &l, &m);
}

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_ != ATTN_OK) {                                                                                    \
            fprintf(stderr, "chain_dump: %s failed: %s (%s)\n", #call, attn_status_str(st_), attn_last_error()); \
            return 1;                                                                                            \
        }                                                                                                        \
    } while (0)

/* The learner's own statistics on the recorded unroll with the current weights (learning rate 0). */
static int learner_stats(attn_model *model, const attn_rollout *ro, attn_loss_kind kind, float *out)
{
    attn_loss_config lc;
    CHECK(attn_loss_config_init(&lc, kind));
    lc.ppo_epochs = 1;
    lc.ppo_minibatches = B;
    attn_learner *ln;
    attn_optimizer *opt;
    CHECK(attn_learner_create(&ln, model, &lc, B, T));
    CHECK(attn_optimizer_create(&opt, model, ATTN_OPTIM_SGD));
    CHECK(attn_optimizer_set(opt, ATTN_OPT_LR, 0.0));
    attn_loss_stats s;
    CHECK(attn_learner_update(ln, opt, ro, &s));
    keep_stats(out, &s);
    attn_optimizer_destroy(opt);
    attn_learner_destroy(ln);
    return s.skipped;
}

static int run(const char *dir)
{
    char err[160];
    minatar_env games;
    if (minatar_env_create(&games, "breakout", B, -1.0f, MAX_STEPS, err, sizeof err)) {
        fprintf(stderr, "chain_dump: %s\n", err);
        return 1;
    }
    attn_env env = minatar_env_callbacks(&games);
    attn_config *cfg = minatar_config(games.channels, games.actions);
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, MINATAR_ENV_OBS_TYPE));
    CHECK(attn_config_set(cfg, ATTN_CFG_THREADS, 1));
    attn_model *model;
    CHECK(attn_model_create(&model, cfg, 2024));
    attn_rollout *ro;
    CHECK(attn_rollout_create(&ro, model, B, T, 77));
    CHECK(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE));
    CHECK(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE));

    int rewarded = 0, terminated = 0, truncated = 0;
    for (int i = 0; i < N; i++) {
        rewarded += ro->rewards[i] != 0.0f;
        terminated += ro->terminated[i];
        truncated += ro->truncated[i];
    }
    printf("chain_dump: breakout, %d environments × %d steps: %d rewards, %d terminations, %d truncations\n", B, T,
           rewarded, terminated, truncated);
    if (!rewarded || !terminated || !truncated) {
        fprintf(stderr, "chain_dump: the recorded unroll lacks a reward, a termination or a truncation\n");
        return 1;
    }

    /* The learner's next weights, stood in for by a perturbation of the ones that acted. The policy head starts
     * at 1 % of its fan-in scale (a near-uniform policy), so it gets a larger, additive change: ratios then
     * spread over about 0.5 .. 2 and depend on the observation, not only on the action. */
    test_rng rng = {99};
    float *p = attn_model_params(model);
    for (size_t i = 0; i < attn_model_param_count(model); i++)
        p[i] = p[i] * (1.0f + trng_range(&rng, -0.4f, 0.4f)) + trng_range(&rng, -0.03f, 0.03f);
    static const char *const head[2] = {"policy.weight", "policy.bias"};
    for (int h = 0; h < 2; h++) {
        int idx, ndim;
        int64_t shape[4];
        size_t off;
        CHECK(attn_model_find_tensor(model, head[h], &idx));
        CHECK(attn_model_tensor(model, idx, NULL, &ndim, shape, &off));
        const size_t numel = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        const float bound = h ? 1.5f : 6.0f / sqrtf((float)(numel / (size_t)shape[0]));
        for (size_t i = 0; i < numel; i++) p[off + i] += trng_range(&rng, -bound, bound);
    }

    /* Their logits and values on the recorded unroll, replayed as the learner replays it. */
    static float cur_logits[N * 6], cur_values[N];
    attn_state *s;
    CHECK(attn_state_create(&s, model, B, 0));
    for (int k = 0; k < 4; k++) CHECK(attn_state_set(s, STATE_PARTS[k], ro->init_state[k], ro->init_size[k]));
    const size_t obs_bytes = (size_t)B * ro->obs_elems * ro->obs_elem_size;
    for (int t = 0; t < T; t++)
        CHECK(attn_forward(model, s, ATTN_FORWARD_ACT, (const char *)ro->obs + t * obs_bytes, obs_bytes,
                           ro->prev_reward + t * B, ro->prev_action + t * B, ro->first + t * B, cur_logits + t * B * 6,
                           cur_values + t * B));
    attn_state_destroy(s);

    float *workspace = calloc(loss_workspace_floats(T, B, 6) + 1, sizeof(float));
    static batch all, mb;
    const int every[B] = {0, 1, 2, 3};
    int rc = 0;

    /* PPO's advantages, once per collection from the recorded values and logits (lib/learner.c). */
    attn_loss_config ppo;
    attn_loss_config_init(&ppo, ATTN_LOSS_PPO);
    gather(&all, ro, ro->logits, ro->values, every, B);
    loss_inputs collected = inputs_of(&all);
    static float adv[N], ret[N], adv_mb[T * MB], ret_mb[T * MB];
    loss_gae(adv, ret, &collected, ppo.discount, ppo.gae_lambda, ppo.reward_clip);
    {
        tensor_list l = {0};
        add_inputs(&l, &all, 0);
        add(&l, "out.adv", ST_F32, adv, 2, T, B, 0);
        add(&l, "out.ret", ST_F32, ret, 2, T, B, 0);
        meta m;
        meta_fill(&m, "rec_gae", "ppo", B, &ppo);
        rc |= write_case(dir, "rec_gae", &l, &m);
    }
    for (int t = 0; t < T; t++)
        for (int j = 0; j < MB; j++) {
            adv_mb[t * MB + j] = adv[t * B + MINIBATCH[j]];
            ret_mb[t * MB + j] = ret[t * B + MINIBATCH[j]];
        }

    gather(&all, ro, cur_logits, cur_values, every, B);
    rc |= loss_case(dir, "rec_a2c", ATTN_LOSS_A2C, &all, NULL, NULL, workspace);
    gather(&mb, ro, cur_logits, cur_values, MINIBATCH, MB);
    rc |= loss_case(dir, "rec_ppo", ATTN_LOSS_PPO, &mb, adv_mb, ret_mb, workspace);
    gather(&mb, ro, cur_logits, cur_values, MINIBATCH, MB);
    rc |= loss_case(dir, "rec_vtrace", ATTN_LOSS_VTRACE, &mb, NULL, NULL, workspace);

    static float learner[3][6];
    static char names[3][6][40];
    static const char *const kinds[] = {"a2c", "vtrace", "ppo"};
    gather(&all, ro, cur_logits, cur_values, every, B);
    tensor_list l = {0};
    add_inputs(&l, &all, 1);
    for (int k = 0; k < 3 && !rc; k++) {
        rc |= learner_stats(model, ro, (attn_loss_kind)k, learner[k]);
        for (int j = 0; j < 6; j++) {
            snprintf(names[k][j], sizeof names[k][j], "learner.%s.%s", kinds[k], STAT_NAMES[j]);
            add(&l, names[k][j], ST_F32, &learner[k][j], 1, 1, 0, 0);
        }
    }
    meta m;
    attn_loss_config a2c;
    attn_loss_config_init(&a2c, ATTN_LOSS_A2C);
    a2c.ppo_epochs = 1;
    a2c.ppo_minibatches = B;
    meta_fill(&m, "rec_learner", "learner", B, &a2c);
    if (!rc) rc |= write_case(dir, "rec_learner", &l, &m);

    free(workspace);
    attn_rollout_destroy(ro);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    minatar_env_destroy(&games);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (mkdir(argv[1], 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "chain_dump: cannot create %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    return run(argv[1]);
}
