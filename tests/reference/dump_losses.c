/* The C side of the PyTorch loss comparison (compare_losses.py): for each loss kind and a few seeded random
 * unrolls (T = 5, B = 3, A = 4) it runs the library's internal loss functions exactly as the learner calls them
 * and writes inputs, configuration and outputs to DIR/<case>.safetensors.
 *
 * Each unroll has terminations and truncations in the middle (and at the last step in some cases, one step with
 * both flags), rewards beyond the clip range, and behaviour logits that differ from the current ones so the
 * importance ratios fall on both sides of ρ̄, c̄ and PPO's [1 − ε, 1 + ε].
 *
 *   A2C      loss_a2c on the unroll (plus loss_gae's adv/ret on it, for diagnosis);
 *   V-trace  loss_vtrace on the unroll (plus loss_vtrace_targets' vs/pg_weight, for diagnosis);
 *   PPO      as lib/learner.c does it: adv/ret = loss_gae over the collection with the values the behaviour
 *            policy recorded (behaviour_values), then loss_ppo with the current logits/values, the behaviour
 *            (collection-time) logits and those adv/ret.
 *
 * Tensors: inputs logits, values, bootstrap, behaviour_logits, behaviour_values (PPO), actions, rewards,
 * terminated, truncated, truncation_values; outputs out.dlogits, out.dvalues, stats.<field> (shape [1]; the
 * six fields the losses fill plus grad_norm and skipped, which they must leave at the caller's 0), and
 * out.adv/out.ret (A2C, PPO) or out.vs/out.pg_weight/out.rho_clipped (V-trace). Metadata: case, kind, T, B, A
 * and every attn_loss_config field (floats as %.9g, exact for float32).
 *
 * Usage: dump_losses DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attnagent/attnagent.h"
#include "attnagent/training.h"
#include "losses.h"
#include "safetensors.h"
#include "test_util.h"

enum { T = 5, B = 3, A = 4, N = T * B };
#define MAX_TENSORS 32
#define MAX_META 24

/* One case: the kind, a seed, and how it departs from attn_loss_config_init's defaults. */
typedef struct loss_case {
    const char *name;
    attn_loss_kind kind;
    uint64_t seed;
    int variant; /* 0..3: configuration and episode-boundary layout, see set_config and set_flags */
} loss_case;

static const loss_case CASES[] = {
    {"a2c_0", ATTN_LOSS_A2C, 11, 0},       {"a2c_1", ATTN_LOSS_A2C, 12, 1},
    {"a2c_2", ATTN_LOSS_A2C, 13, 2},       {"a2c_3", ATTN_LOSS_A2C, 14, 3},
    {"vtrace_0", ATTN_LOSS_VTRACE, 21, 0}, {"vtrace_1", ATTN_LOSS_VTRACE, 22, 1},
    {"vtrace_2", ATTN_LOSS_VTRACE, 23, 2}, {"vtrace_3", ATTN_LOSS_VTRACE, 24, 3},
    {"ppo_0", ATTN_LOSS_PPO, 31, 0},       {"ppo_1", ATTN_LOSS_PPO, 32, 1},
    {"ppo_2", ATTN_LOSS_PPO, 33, 2},       {"ppo_3", ATTN_LOSS_PPO, 34, 3},
};

/* Variant 0: the defaults. 1: γ 0.9, λ 1, more entropy, ρ̄ = c̄ = 0 (no truncation), reward clip 1, PPO
 * ε 0.1 without advantage normalisation. 2: λ 0, no entropy cost, ρ̄ 2 and c̄ 0.5, PPO ε 0.3. 3: γ 1, λ 0.7,
 * ρ̄ 0 with c̄ 1.5, reward clip 2.5, PPO ε 0.25. */
static void set_config(attn_loss_config *cfg, int variant) {
    switch (variant) {
    case 1:
        cfg->discount = 0.9f;
        cfg->gae_lambda = 1.0f;
        cfg->entropy_cost = 0.05f;
        cfg->baseline_cost = 1.0f;
        cfg->rho_bar = 0.0f;
        cfg->c_bar = 0.0f;
        cfg->reward_clip = 1.0f;
        cfg->clip_range = 0.1f;
        cfg->normalize_advantages = 0;
        break;
    case 2:
        cfg->gae_lambda = 0.0f;
        cfg->entropy_cost = 0.0f;
        cfg->baseline_cost = 0.25f;
        cfg->rho_bar = 2.0f;
        cfg->c_bar = 0.5f;
        cfg->clip_range = 0.3f;
        break;
    case 3:
        cfg->discount = 1.0f;
        cfg->gae_lambda = 0.7f;
        cfg->entropy_cost = 0.02f;
        cfg->rho_bar = 0.0f;
        cfg->c_bar = 1.5f;
        cfg->reward_clip = 2.5f;
        cfg->clip_range = 0.25f;
        break;
    default:
        break;
    }
}

/* Episode boundaries, [t][b]. Always: env 0 terminated at t = 1 (or 2), env 1 truncated at t = 2. Variant 1:
 * env 2 terminated AND truncated at t = 2 (termination wins). 2: env 2 truncated at the last step (its value
 * replaces the bootstrap). 3: env 2 terminated at the last step and truncated at t = 0, env 1 also terminated at
 * t = 3. */
static void set_flags(uint8_t *term, uint8_t *trunc, int variant) {
    memset(term, 0, N);
    memset(trunc, 0, N);
    term[(1 + (variant & 1)) * B + 0] = 1;
    trunc[2 * B + 1] = 1;
    switch (variant) {
    case 1:
        term[2 * B + 2] = 1;
        trunc[2 * B + 2] = 1;
        break;
    case 2:
        trunc[(T - 1) * B + 2] = 1;
        break;
    case 3:
        term[(T - 1) * B + 2] = 1;
        trunc[0 * B + 2] = 1;
        term[3 * B + 1] = 1;
        break;
    default:
        break;
    }
}

typedef struct tensor_list {
    st_tensor t[MAX_TENSORS];
    int n;
} tensor_list;

static void add(tensor_list *l, const char *name, st_dtype dtype, const void *data, int ndim, int64_t d0,
                int64_t d1, int64_t d2) {
    st_tensor *t = &l->t[l->n++];
    const int64_t dims[3] = {d0, d1, d2};
    t->name = name;
    t->dtype = dtype;
    t->ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = dims[d];
        count *= (size_t)dims[d];
    }
    t->data = data;
    t->nbytes = count * st_dtype_size(dtype);
}

static int fail_status(const char *name, const char *what, attn_status st) {
    fprintf(stderr, "dump_losses: %s: %s failed: %s (%s)\n", name, what, attn_status_str(st), attn_last_error());
    return 1;
}

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_ != ATTN_OK) return fail_status(lc->name, #call, st_);                                            \
    } while (0)

static int run_case(const loss_case *lc, const char *dir, float *workspace) {
    attn_loss_config cfg;
    CHECK(attn_loss_config_init(&cfg, lc->kind));
    set_config(&cfg, lc->variant);
    CHECK(loss_config_check(&cfg));

    test_rng rng = {lc->seed * 0x2545F4914F6CDD1Dull + 7u};
    static float logits[N * A], behaviour_logits[N * A], values[N], behaviour_values[N], bootstrap[B];
    static float rewards[N], truncation_values[N];
    static int32_t actions[N];
    static uint8_t terminated[N], truncated[N];
    for (int i = 0; i < N * A; i++) {
        logits[i] = trng_range(&rng, -2.0f, 2.0f);
        /* The acting policy differs by up to ±0.5 per logit: ratios π/μ from about 0.5 to 2. */
        behaviour_logits[i] = logits[i] + trng_range(&rng, -0.5f, 0.5f);
    }
    for (int i = 0; i < N; i++) {
        values[i] = trng_range(&rng, -1.5f, 1.5f);
        behaviour_values[i] = values[i] + trng_range(&rng, -0.3f, 0.3f);
        /* Everywhere, not only where truncated: using one where it does not belong changes the result. */
        truncation_values[i] = trng_range(&rng, -2.0f, 2.0f);
        actions[i] = (int32_t)(trng_next(&rng) % A);
        uint64_t k = trng_next(&rng) % 6;
        rewards[i] = k == 0 ? 0.0f : k == 1 ? 4.0f : k == 2 ? -3.0f : trng_range(&rng, -1.5f, 1.5f);
    }
    for (int b = 0; b < B; b++) bootstrap[b] = trng_range(&rng, -1.5f, 1.5f);
    set_flags(terminated, truncated, lc->variant);

    const loss_inputs in = {T,       B,           A,       logits,     values,    bootstrap,
                            behaviour_logits, actions, rewards, terminated, truncated, truncation_values};
    static float dlogits[N * A], dvalues[N], aux1[N], aux2[N];
    int32_t rho_clipped = 0;
    attn_loss_stats stats;
    memset(&stats, 0, sizeof stats);
    memset(dlogits, 0, sizeof dlogits);
    memset(dvalues, 0, sizeof dvalues);
    switch (lc->kind) {
    case ATTN_LOSS_A2C:
        loss_gae(aux1, aux2, &in, cfg.discount, cfg.gae_lambda, cfg.reward_clip);
        CHECK(loss_a2c(&cfg, &in, dlogits, dvalues, &stats, workspace));
        break;
    case ATTN_LOSS_VTRACE:
        rho_clipped = loss_vtrace_targets(aux1, aux2, &in, cfg.discount, cfg.rho_bar, cfg.c_bar, cfg.reward_clip);
        CHECK(loss_vtrace(&cfg, &in, dlogits, dvalues, &stats, workspace));
        break;
    case ATTN_LOSS_PPO: {
        /* lib/learner.c: GAE once per collection over the rollout's own values and logits (the behaviour
         * policy's), then the minibatch loss with the recomputed logits/values against the stored logits. */
        const loss_inputs collected = {T,       B,           A,       behaviour_logits, behaviour_values, bootstrap,
                                       behaviour_logits, actions, rewards, terminated, truncated, truncation_values};
        loss_gae(aux1, aux2, &collected, cfg.discount, cfg.gae_lambda, cfg.reward_clip);
        CHECK(loss_ppo(&cfg, &in, aux1, aux2, dlogits, dvalues, &stats, workspace));
        break;
    }
    }

    float st_total = stats.total, st_policy = stats.policy_loss, st_value = stats.value_loss;
    float st_entropy = stats.entropy, st_kl = stats.approx_kl, st_clip = stats.clip_fraction;
    float st_gnorm = stats.grad_norm;
    int32_t st_skipped = stats.skipped;

    tensor_list list = {0};
    add(&list, "logits", ST_F32, logits, 3, T, B, A);
    add(&list, "values", ST_F32, values, 2, T, B, 0);
    add(&list, "bootstrap", ST_F32, bootstrap, 1, B, 0, 0);
    add(&list, "behaviour_logits", ST_F32, behaviour_logits, 3, T, B, A);
    if (lc->kind == ATTN_LOSS_PPO) add(&list, "behaviour_values", ST_F32, behaviour_values, 2, T, B, 0);
    add(&list, "actions", ST_I32, actions, 2, T, B, 0);
    add(&list, "rewards", ST_F32, rewards, 2, T, B, 0);
    add(&list, "terminated", ST_U8, terminated, 2, T, B, 0);
    add(&list, "truncated", ST_U8, truncated, 2, T, B, 0);
    add(&list, "truncation_values", ST_F32, truncation_values, 2, T, B, 0);
    add(&list, "out.dlogits", ST_F32, dlogits, 3, T, B, A);
    add(&list, "out.dvalues", ST_F32, dvalues, 2, T, B, 0);
    add(&list, "stats.total", ST_F32, &st_total, 1, 1, 0, 0);
    add(&list, "stats.policy_loss", ST_F32, &st_policy, 1, 1, 0, 0);
    add(&list, "stats.value_loss", ST_F32, &st_value, 1, 1, 0, 0);
    add(&list, "stats.entropy", ST_F32, &st_entropy, 1, 1, 0, 0);
    add(&list, "stats.approx_kl", ST_F32, &st_kl, 1, 1, 0, 0);
    add(&list, "stats.clip_fraction", ST_F32, &st_clip, 1, 1, 0, 0);
    add(&list, "stats.grad_norm", ST_F32, &st_gnorm, 1, 1, 0, 0);
    add(&list, "stats.skipped", ST_I32, &st_skipped, 1, 1, 0, 0);
    if (lc->kind == ATTN_LOSS_VTRACE) {
        add(&list, "out.vs", ST_F32, aux1, 2, T, B, 0);
        add(&list, "out.pg_weight", ST_F32, aux2, 2, T, B, 0);
        add(&list, "out.rho_clipped", ST_I32, &rho_clipped, 1, 1, 0, 0);
    } else {
        add(&list, "out.adv", ST_F32, aux1, 2, T, B, 0);
        add(&list, "out.ret", ST_F32, aux2, 2, T, B, 0);
    }

    static const char *const kinds[] = {"a2c", "vtrace", "ppo"};
    char text[MAX_META][40];
    const char *keys[MAX_META], *vals[MAX_META];
    int m = 0;
#define META(key, ...) (keys[m] = (key), snprintf(text[m], sizeof text[m], __VA_ARGS__), vals[m] = text[m], m++)
    META("case", "%s", lc->name);
    META("kind", "%s", kinds[lc->kind]);
    META("T", "%d", T);
    META("B", "%d", B);
    META("A", "%d", A);
    META("seed", "%llu", (unsigned long long)lc->seed);
    META("discount", "%.9g", (double)cfg.discount);
    META("gae_lambda", "%.9g", (double)cfg.gae_lambda);
    META("entropy_cost", "%.9g", (double)cfg.entropy_cost);
    META("baseline_cost", "%.9g", (double)cfg.baseline_cost);
    META("rho_bar", "%.9g", (double)cfg.rho_bar);
    META("c_bar", "%.9g", (double)cfg.c_bar);
    META("clip_range", "%.9g", (double)cfg.clip_range);
    META("reward_clip", "%.9g", (double)cfg.reward_clip);
    META("normalize_advantages", "%d", cfg.normalize_advantages);
    META("ppo_epochs", "%d", cfg.ppo_epochs);
    META("ppo_minibatches", "%d", cfg.ppo_minibatches);
#undef META

    char path[4096];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, lc->name);
    CHECK(st_write(path, list.t, list.n, keys, vals, m));
    printf("dump_losses: %-9s %-6s γ %.3g λ %.3g ρ̄ %.3g c̄ %.3g ε %.3g clip %.3g norm %d -> %s\n", lc->name,
           kinds[lc->kind], (double)cfg.discount, (double)cfg.gae_lambda, (double)cfg.rho_bar, (double)cfg.c_bar,
           (double)cfg.clip_range, (double)cfg.reward_clip, cfg.normalize_advantages, path);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (mkdir(argv[1], 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dump_losses: cannot create %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    float *workspace = calloc(loss_workspace_floats(T, B, A) + 1, sizeof(float));
    if (!workspace) {
        fprintf(stderr, "dump_losses: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0] && rc == 0; i++) rc = run_case(&CASES[i], argv[1], workspace);
    free(workspace);
    return rc;
}
