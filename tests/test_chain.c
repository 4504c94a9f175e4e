/*
 * The training chain, link by link (docs/testing.md, "The training chain, link by link"): every contract
 * between two units from an environment's step to the loss, each checked against an expectation computed here,
 * independently of the code under test, from what the environment itself did and from the documentation.
 *
 *   link 1  rewards, terminated and truncated as attn_rollout_collect stores them; the truncation value (the
 *           value of the cut episode's final observation under its own state), none after a termination,
 *           termination winning over truncation, and the bootstrap after the unroll — all against a replay
 *           through a separate state fed with inputs this file derives, and against the world's own log.
 *   link 2  what the network is fed at every step (first flag, previous action and reward: none/0 after a
 *           reset), derived here from the recorded actions, rewards and flags, must reproduce the behaviour
 *           logits and values bitwise; the arrays the learner replays from equal the derivation; and the
 *           learner's own replay (A2C, V-trace, PPO minibatches) gives the behaviour policy back exactly
 *           (approx_kl = 0 with unchanged weights).
 *   link 3  an episode end in environment b zeroes b's recurrent state and nothing else: the next step equals,
 *           bitwise, a step from a copy of the state with only b's rows zeroed by hand.
 *   link 4  sticky actions in the built-in games through the training adapter (examples/minatar_env.c): each
 *           step the game plays the chosen action or, when its coin (recomputed here with our own xoshiro256**
 *           from the generator's state, docs/games.md) falls below 0.1, the previous *executed* action, as
 *           MinAtar's Environment.act defines; which action was played is read off the game's behaviour (a copy
 *           stepped with each candidate and sticky actions off); the repeat rate seen in behaviour is 0.1.
 *   link 5  attn_rollout_finished: the raw sum of rewards and the length of each finished episode, episodes
 *           spanning several unrolls, against the environment's own ledger.
 * Link 6 (GAE, PPO and V-trace on a recorded breakout unroll against NumPy/PyTorch) is
 * tests/reference/chain_dump.c with chain_losses.py.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "minatar_env.h"
#include "minatar_internal.h"
#include "rollout.h"
#include "test_util.h"

/* tiny_config's observation: 6×5×3 floats, 3 actions. */
enum { OH = 6, OW = 5, OC = 3, OBS = OH * OW * OC, A = 3, B = 4, T = 5, MAXG = 64, MAXDONE = 256 };

/* ---- A scripted world that logs everything it does ----------------------------------------------------- */

enum { END_TERM = 1, END_TRUNC = 2, END_BOTH = 3 };

typedef struct world {
    /* Episode k of environment b lasts len[b][k % 3] steps and ends as kind[b][k % 3]. */
    int len[B][3], kind[B][3];
    int g[B];           /* steps taken so far */
    int episode[B];     /* index of the current episode */
    int ep_step[B];
    int fresh[B];       /* reset since the last step */
    float cur[B][OBS];  /* the observation environment b wrote last */
    /* Per step g of environment b: what it was shown, whether a reset preceded it, what it did. */
    float seen[B][MAXG][OBS], wrote[B][MAXG][OBS];
    uint8_t fresh_at[B][MAXG], term[B][MAXG], trunc[B][MAXG];
    int action[B][MAXG];
    float reward[B][MAXG];
    /* The ledger: every finished episode's return (summed in double) and length, in the order they ended. */
    double running[B];
    int running_len[B];
    float done_return[MAXDONE];
    int32_t done_len[MAXDONE];
    int n_done;
} world;

static void draw(const world *w, int b, float *obs)
{
    test_rng r = {(uint64_t)b * 1000003u + (uint64_t)w->episode[b] * 7919u + (uint64_t)w->ep_step[b] * 31u + 1u};
    fill_uniform(&r, obs, OBS, 0.0f, 1.0f);
}

/* Multiples of 0.25 of both signs up to ±5: exact in float, so sums are exact too, and beyond any clip range. */
static float reward_of(int b, int g, int ep_step)
{
    return 0.25f * (float)(((b * 7 + g * 5) % 11) - 5) * (float)(1 + (ep_step % 2) * 3);
}

static int w_reset(void *ctx, int b, uint64_t seed, void *obs)
{
    world *w = ctx;
    (void)seed;
    w->episode[b]++;
    w->ep_step[b] = 0;
    w->fresh[b] = 1;
    draw(w, b, obs);
    memcpy(w->cur[b], obs, sizeof w->cur[b]);
    return 0;
}

static int w_step(void *ctx, int b, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    world *w = ctx;
    int g = w->g[b]++;
    if (g >= MAXG || w->n_done >= MAXDONE) return 1;
    memcpy(w->seen[b][g], w->cur[b], sizeof w->cur[b]);
    w->fresh_at[b][g] = (uint8_t)w->fresh[b];
    w->fresh[b] = 0;
    w->action[b][g] = action;
    int s = ++w->ep_step[b];
    float r = reward_of(b, g, s);
    int k = w->episode[b] % 3, end = s >= w->len[b][k];
    *reward = w->reward[b][g] = r;
    *terminated = w->term[b][g] = (uint8_t)(end && (w->kind[b][k] & END_TERM));
    *truncated = w->trunc[b][g] = (uint8_t)(end && (w->kind[b][k] & END_TRUNC));
    draw(w, b, obs);
    memcpy(w->cur[b], obs, sizeof w->cur[b]);
    memcpy(w->wrote[b][g], obs, sizeof w->cur[b]);
    w->running[b] += r;
    w->running_len[b]++;
    if (end) {
        w->done_return[w->n_done] = (float)w->running[b];
        w->done_len[w->n_done++] = w->running_len[b];
        w->running[b] = 0.0;
        w->running_len[b] = 0;
    }
    return 0;
}

static world *world_new(const int len[B][3], const int kind[B][3], attn_env *env)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    memcpy(w->len, len, sizeof w->len);
    memcpy(w->kind, kind, sizeof w->kind);
    for (int b = 0; b < B; b++) w->episode[b] = -1;
    *env = (attn_env)ATTN_ENV_INIT;
    env->ctx = w;
    env->reset = w_reset;
    env->step = w_step;
    return w; /* thread_safe 0: callbacks in index order on this thread, so the ledger is in the rollout's order */
}

typedef struct rig {
    attn_config *cfg;
    attn_model *model;
    attn_rollout *ro;
} rig;

static void rig_open(rig *r, uint64_t seed)
{
    r->cfg = tiny_config();
    assert_non_null(r->cfg);
    assert_int_equal(attn_model_create(&r->model, r->cfg, seed), ATTN_OK);
    /* A decided, varied policy and values, so a wrong input shows in the outputs. */
    randomize_params(r->model, seed + 100, 1.5f);
    assert_int_equal(attn_rollout_create(&r->ro, r->model, B, T, seed), ATTN_OK);
}

static void rig_close(rig *r)
{
    attn_rollout_destroy(r->ro);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
}

/* ---- The independent replay (links 1, 2, 3) ----------------------------------------------------------- */

typedef struct replay {
    attn_state *s;       /* follows the rollout step by step on the inputs derived here */
    attn_state *probe;   /* one-off steps from a copy of s */
    float *part[4];
    size_t size[4];
    int collects;        /* unrolls replayed so far */
    uint8_t ended[B];    /* the last replayed step ended environment b's episode */
    int32_t last_action[B];
    float last_reward[B];
    int resets_checked;  /* steps where link 3 was checked */
    int truncations_checked;
} replay;

static void replay_open(replay *p, attn_model *model)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(attn_state_create(&p->s, model, B, 0), ATTN_OK);
    assert_int_equal(attn_state_create(&p->probe, model, B, 0), ATTN_OK);
    for (int k = 0; k < 4; k++) {
        p->size[k] = attn_state_part_size(p->s, STATE_PARTS[k]);
        p->part[k] = malloc(sizeof(float) * p->size[k]);
        assert_non_null(p->part[k]);
    }
}

static void replay_close(replay *p)
{
    attn_state_destroy(p->s);
    attn_state_destroy(p->probe);
    for (int k = 0; k < 4; k++) free(p->part[k]);
}

/* probe ← s, with the rows of the environments flagged in `zero` (may be NULL) set to 0 by hand. */
static void copy_to_probe(replay *p, const uint8_t *zero)
{
    for (int k = 0; k < 4; k++) {
        assert_int_equal(attn_state_get(p->s, STATE_PARTS[k], p->part[k], p->size[k]), ATTN_OK);
        size_t row = p->size[k] / B; /* environment-major: environment b owns [b·row, (b+1)·row) */
        for (int b = 0; zero && b < B; b++)
            if (zero[b]) memset(p->part[k] + (size_t)b * row, 0, sizeof(float) * row);
        assert_int_equal(attn_state_set(p->probe, STATE_PARTS[k], p->part[k], p->size[k]), ATTN_OK);
    }
}

static void expect_bits(const void *got, const void *want, size_t n, const char *what, int c, int t)
{
    if (memcmp(got, want, n)) fail_msg("%s differs (unroll %d, step %d)", what, c, t);
}

/* Replays the rollout's last unroll and checks links 1, 2 and 3 on it (see the top of the file). */
static void replay_unroll(replay *p, attn_model *model, const attn_rollout *ro, const world *w)
{
    attn_rollout_view v;
    assert_int_equal(attn_rollout_view_get(ro, &v), ATTN_OK);
    const int c = p->collects;
    float obs[B * OBS], pr[B], logits[B * A], values[B];
    int32_t pa[B];
    uint8_t first[B];
    for (int t = 0; t < T; t++) {
        const size_t tb = (size_t)t * B;
        int any_reset = 0;
        for (int b = 0; b < B; b++) {
            const size_t i = tb + b;
            const int g = c * T + t;
            /* The inputs, from the recorded flags, actions and rewards of the step before (none/0 after an
             * episode end, and on the very first step). */
            first[b] = (uint8_t)(p->collects == 0 && t == 0 ? 1 : p->ended[b]);
            pa[b] = first[b] ? ATTN_NO_ACTION : p->last_action[b];
            pr[b] = first[b] ? 0.0f : p->last_reward[b];
            any_reset |= first[b] && !(c == 0 && t == 0);
            /* Link 1: what was stored is what the environment did. Rewards raw (bitwise); a step with both
             * flags is a termination only (Gymnasium: termination wins). */
            assert_int_equal(first[b], w->fresh_at[b][g]);
            assert_int_equal(v.actions[i], w->action[b][g]);
            expect_bits(&v.rewards[i], &w->reward[b][g], sizeof(float), "reward", c, t);
            assert_int_equal(v.terminated[i], w->term[b][g]);
            assert_int_equal(v.truncated[i], w->trunc[b][g] && !w->term[b][g]);
            expect_bits((const float *)v.obs + i * OBS, w->seen[b][g], sizeof(float) * OBS, "stored observation",
                        c, t);
            /* Link 2: the arrays the learner replays from hold exactly these inputs. */
            assert_int_equal(ro->first[i], first[b]);
            assert_int_equal(ro->prev_action[i], pa[b]);
            expect_bits(&ro->prev_reward[i], &pr[b], sizeof(float), "stored previous reward", c, t);
            memcpy(obs + b * OBS, w->seen[b][g], sizeof(float) * OBS);
        }
        /* Link 3: the rollout's step with the episode-start flags equals a step from the carried state with
         * only the starting environments' rows zeroed here — every other environment's state untouched. */
        if (any_reset) {
            copy_to_probe(p, first);
            assert_int_equal(attn_forward(model, p->probe, ATTN_FORWARD_ACT, obs, sizeof obs, pr, pa, NULL, logits,
                                          values),
                             ATTN_OK);
            expect_bits(logits, v.logits + tb * A, sizeof logits, "logits after a reset (hand-zeroed rows)", c, t);
            expect_bits(values, v.values + tb, sizeof values, "values after a reset (hand-zeroed rows)", c, t);
            p->resets_checked++;
        }
        /* Link 2: the derived inputs reproduce the behaviour policy bitwise. */
        assert_int_equal(
            attn_forward(model, p->s, ATTN_FORWARD_ACT, obs, sizeof obs, pr, pa, first, logits, values), ATTN_OK);
        expect_bits(logits, v.logits + tb * A, sizeof logits, "behaviour logits", c, t);
        expect_bits(values, v.values + tb, sizeof values, "behaviour values", c, t);
        int any_truncated = 0;
        for (int b = 0; b < B; b++) {
            const size_t i = tb + b;
            p->ended[b] = (uint8_t)(v.terminated[i] || v.truncated[i]);
            p->last_action[b] = v.actions[i];
            p->last_reward[b] = v.rewards[i];
            any_truncated |= v.truncated[i];
            pa[b] = v.actions[i];
            pr[b] = v.rewards[i];
            memcpy(obs + b * OBS, w->wrote[b][c * T + t], sizeof(float) * OBS);
        }
        /* Link 1: a truncation bootstraps from its final observation's value under the episode's own state
         * (continuing it: the step's action and reward as the previous ones); nothing else has a value. */
        if (any_truncated) {
            copy_to_probe(p, NULL);
            assert_int_equal(attn_forward(model, p->probe, ATTN_FORWARD_ACT, obs, sizeof obs, pr, pa, NULL, logits,
                                          values),
                             ATTN_OK);
        }
        for (int b = 0; b < B; b++) {
            const size_t i = tb + b;
            if (v.truncated[i]) {
                expect_bits(&v.truncation_values[i], &values[b], sizeof(float), "truncation value", c, t);
                assert_true(values[b] != 0.0f);
                p->truncations_checked++;
            } else {
                assert_true(v.truncation_values[i] == 0.0f);
            }
        }
    }
    /* Link 1: the bootstrap is the value of the observation after the unroll (a new episode's first one
     * where the last step ended an episode), from the state after the last step; that observation is the
     * (T+1)-th the view promises. */
    for (int b = 0; b < B; b++) {
        first[b] = p->ended[b];
        pa[b] = first[b] ? ATTN_NO_ACTION : p->last_action[b];
        pr[b] = first[b] ? 0.0f : p->last_reward[b];
        memcpy(obs + b * OBS, w->cur[b], sizeof(float) * OBS);
    }
    expect_bits((const float *)v.obs + (size_t)T * B * OBS, obs, sizeof obs, "observation after the unroll", c, T);
    copy_to_probe(p, NULL);
    assert_int_equal(attn_forward(model, p->probe, ATTN_FORWARD_ACT, obs, sizeof obs, pr, pa, first, logits, values),
                     ATTN_OK);
    expect_bits(v.bootstrap, values, sizeof values, "bootstrap", c, T);
    p->collects++;
}

/* Link 2, the learner's side: with the weights that acted, replaying the stored unroll must give the behaviour
 * policy back, so every log-ratio and approx_kl are 0. Exactly 0 where the learner replays the whole batch
 * (A2C, V-trace, PPO with one minibatch): same inputs, same batch, same bits. PPO's minibatches of two
 * environments replay in a state of two, and a GEMM over another number of rows rounds differently (measured:
 * 4 of 36 logits differ, by at most 3e-8), so there the bound is 1e-7 — a wrong input gives a KL of order 1e-2.
 * A learning rate of 0 keeps the weights as they were (checked), so the collects that follow act with them. */
static void learner_replays_the_behaviour_policy(attn_model *model, const attn_rollout *ro)
{
    const size_t n = attn_model_param_count(model);
    float *before = malloc(sizeof(float) * n);
    assert_non_null(before);
    memcpy(before, attn_model_params(model), sizeof(float) * n);
    static const struct { attn_loss_kind kind; int minibatches; double bound; } runs[] = {
        {ATTN_LOSS_A2C, 1, 0.0}, {ATTN_LOSS_VTRACE, 1, 0.0}, {ATTN_LOSS_PPO, 1, 0.0}, {ATTN_LOSS_PPO, 2, 1e-7}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        attn_loss_config lc;
        assert_int_equal(attn_loss_config_init(&lc, runs[k].kind), ATTN_OK);
        lc.ppo_epochs = 2;
        lc.ppo_minibatches = runs[k].minibatches;
        attn_learner *ln;
        attn_optimizer *opt;
        assert_int_equal(attn_learner_create(&ln, model, &lc, B, T), ATTN_OK);
        assert_int_equal(attn_optimizer_create(&opt, model, ATTN_OPTIM_SGD), ATTN_OK);
        assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_LR, 0.0), ATTN_OK);
        attn_loss_stats st;
        assert_int_equal(attn_learner_update(ln, opt, ro, &st), ATTN_OK);
        assert_int_equal(st.skipped, 0);
        if (!(fabs(st.approx_kl) <= runs[k].bound))
            fail_msg("loss kind %d, %d minibatches: the learner's replay differs from the behaviour policy "
                     "(approx_kl %g)", (int)runs[k].kind, runs[k].minibatches, (double)st.approx_kl);
        if (runs[k].kind == ATTN_LOSS_PPO) assert_true(st.clip_fraction == 0.0f);
        assert_memory_equal(attn_model_params(model), before, sizeof(float) * n);
        attn_optimizer_destroy(opt);
        attn_learner_destroy(ln);
    }
    free(before);
}

/* Episode layouts for links 1–3 (T = 5, three unrolls): env 0 terminates every 3 steps (the last one at the
 * very last step); env 1 is truncated every 4 (episodes cross the unroll boundary); env 2 ends every 2 steps
 * with both flags set (one at t = 0 of an unroll); env 3 is truncated every 5 steps, at the last step of each
 * unroll, so its truncation value and the bootstrap after the unroll (a fresh episode) are both needed. */
static const int LINK1_LEN[B][3] = {{3, 3, 3}, {4, 4, 4}, {2, 2, 2}, {5, 5, 5}};
static const int LINK1_KIND[B][3] = {{END_TERM, END_TERM, END_TERM},
                                     {END_TRUNC, END_TRUNC, END_TRUNC},
                                     {END_BOTH, END_BOTH, END_BOTH},
                                     {END_TRUNC, END_TRUNC, END_TRUNC}};

static void test_link1_2_3_rollout_against_an_independent_replay(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 41);
    attn_env env;
    world *w = world_new(LINK1_LEN, LINK1_KIND, &env);
    replay p;
    replay_open(&p, r.model);
    for (int c = 0; c < 3; c++) {
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
        replay_unroll(&p, r.model, r.ro, w);
        learner_replays_the_behaviour_policy(r.model, r.ro);
    }
    /* The layout reached every case it was built for. */
    printf("  replayed %d unrolls: %d steps with resets, %d truncation values\n", p.collects, p.resets_checked,
           p.truncations_checked);
    assert_true(p.resets_checked >= 10);
    assert_true(p.truncations_checked >= 6);
    replay_close(&p);
    free(w);
    rig_close(&r);
}

/* ---- Link 5: episode returns ------------------------------------------------------------------------- */

/* Episodes from 1 to 17 steps, most longer than the unroll of 5, ended every way. */
static const int LINK5_LEN[B][3] = {{7, 11, 2}, {13, 3, 6}, {4, 9, 1}, {17, 5, 8}};
static const int LINK5_KIND[B][3] = {{END_TERM, END_TRUNC, END_BOTH},
                                     {END_TRUNC, END_TERM, END_TERM},
                                     {END_BOTH, END_TERM, END_TRUNC},
                                     {END_TERM, END_TRUNC, END_TERM}};

static void test_link5_finished_episode_returns(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 42);
    attn_env env;
    world *w = world_new(LINK5_LEN, LINK5_KIND, &env);
    int seen = 0, spanning = 0;
    for (int c = 0; c < 10; c++) {
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
        float returns[B * T + 1];
        int32_t lengths[B * T + 1];
        int count = -1;
        assert_int_equal(attn_rollout_finished(r.ro, returns, lengths, B * T, &count), ATTN_OK);
        /* Exactly the episodes the world ended during this collect, in the order it ended them, each with the
         * raw sum of everything it paid (across unrolls) and its length. */
        assert_int_equal(count, w->n_done - seen);
        for (int k = 0; k < count; k++) {
            if (returns[k] != w->done_return[seen + k])
                fail_msg("unroll %d, episode %d: return %g, the environment paid %g", c, k, (double)returns[k],
                         (double)w->done_return[seen + k]);
            assert_int_equal(lengths[k], w->done_len[seen + k]);
            spanning += w->done_len[seen + k] > T;
        }
        /* A short buffer gets the oldest episodes and the full count. */
        if (count >= 2) {
            float one[2] = {0.0f, -123.0f};
            int n2 = -1;
            assert_int_equal(attn_rollout_finished(r.ro, one, NULL, 1, &n2), ATTN_OK);
            assert_int_equal(n2, count);
            assert_true(one[0] == w->done_return[seen] && one[1] == -123.0f);
        }
        seen = w->n_done;
        assert_int_equal(attn_rollout_episodes(r.ro), seen);
        assert_int_equal(attn_rollout_frames(r.ro), (int64_t)(c + 1) * B * T);
    }
    printf("  %d episodes, %d of them longer than one unroll\n", seen, spanning);
    assert_true(spanning >= 8);
    free(w);
    rig_close(&r);
}

/* ---- Link 4: sticky actions in the built-in games --------------------------------------------------- */

enum { GB = 4, GT = 16, GCOLLECTS = 60, GOBS = ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * 4 };
#define STICKY 0.1f /* MinAtar's default, which minatar_env_create keeps for a negative argument */

/* The training adapter, wrapped: before each step a snapshot of the game, after it the judgement. */
typedef struct sticky_watch {
    minatar_env games;
    attn_env inner;
    attn_minatar *before[GB], *shadow[GB];
    int prev_executed[GB], prev_chosen[GB];
    int steps, coins;               /* steps, and coins below STICKY by our own generator */
    int distinguishable, repeated;  /* steps where repeating differs from obeying, and how often it repeated */
    int executed_not_chosen;        /* sticky steps where the previous executed and chosen actions differ */
} sticky_watch;

/* The next uniform the game will draw — its sticky coin, the first draw of a step — from its generator's state:
 * xoshiro256**'s output rotl(s1·5, 7)·9 (Blackman & Vigna), top 53 bits / 2^53 (docs/games.md). Only the output
 * is needed, not the state update. */
static uint64_t our_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static double our_uniform(const uint64_t state[4])
{
    uint64_t result = our_rotl(state[1] * 5, 7) * 9;
    return (double)(result >> 11) / 9007199254740992.0;
}

/* The observation, reward and end flag of playing full action `a` from the snapshot with sticky actions off
 * (the coin is still drawn, docs/games.md, so the game's random stream stays aligned with the real step). */
static void play_from(sticky_watch *s, int b, int a, uint8_t *obs, float *reward, int *done)
{
    assert_int_equal(attn_minatar_copy(s->shadow[b], s->before[b]), ATTN_MINATAR_OK);
    s->shadow[b]->sticky_action_prob = 0.0;
    assert_int_equal(attn_minatar_step(s->shadow[b], a, reward, done), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_observe(s->shadow[b], obs, GOBS), ATTN_MINATAR_OK);
}

static int same_outcome(const uint8_t *o1, float r1, int d1, const uint8_t *o2, float r2, int d2)
{
    return !memcmp(o1, o2, GOBS) && r1 == r2 && d1 == d2;
}

static int sw_reset(void *ctx, int b, uint64_t seed, void *obs)
{
    sticky_watch *s = ctx;
    /* The adapter reseeds the game (attn_minatar_reset), which starts the previous action at no-op. */
    s->prev_executed[b] = s->prev_chosen[b] = ATTN_MINATAR_NOOP;
    return s->inner.reset(s->inner.ctx, b, seed, obs);
}

static int sw_step(void *ctx, int b, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    sticky_watch *s = ctx;
    assert_int_equal(attn_minatar_copy(s->before[b], s->games.games[b]), ATTN_MINATAR_OK);
    const int coin = our_uniform(s->before[b]->rng.s) < (double)STICKY;
    const int expected = coin ? s->prev_executed[b] : action;
    int rc = s->inner.step(s->inner.ctx, b, action, obs, reward, terminated, truncated);
    if (rc) return rc;
    uint8_t o_exp[GOBS], o_obey[GOBS], o_repeat[GOBS], o_chosen[GOBS];
    float r_exp, r_obey, r_repeat, r_chosen;
    int d_exp, d_obey, d_repeat, d_chosen;
    play_from(s, b, expected, o_exp, &r_exp, &d_exp);
    if (!same_outcome(obs, *reward, *terminated, o_exp, r_exp, d_exp))
        fail_msg("step %d, env %d: chose %d, coin %s, previous executed %d: the game did not play %d", s->steps, b,
                 action, coin ? "sticky" : "not sticky", s->prev_executed[b], expected);
    /* The rate as the game's behaviour shows it, where obeying and repeating are told apart by the outcome. */
    play_from(s, b, action, o_obey, &r_obey, &d_obey);
    play_from(s, b, s->prev_executed[b], o_repeat, &r_repeat, &d_repeat);
    if (!same_outcome(o_obey, r_obey, d_obey, o_repeat, r_repeat, d_repeat)) {
        s->distinguishable++;
        s->repeated += same_outcome(obs, *reward, *terminated, o_repeat, r_repeat, d_repeat);
    }
    /* The steps that tell "previous executed" from "previous chosen": both candidates played differently. */
    play_from(s, b, s->prev_chosen[b], o_chosen, &r_chosen, &d_chosen);
    if (coin && !same_outcome(o_repeat, r_repeat, d_repeat, o_chosen, r_chosen, d_chosen)) s->executed_not_chosen++;
    s->steps++;
    s->coins += coin;
    s->prev_executed[b] = expected;
    s->prev_chosen[b] = action;
    return 0;
}

static void test_link4_sticky_actions_repeat_the_previous_executed_action(void **unused)
{
    (void)unused;
    sticky_watch *s = calloc(1, sizeof *s);
    assert_non_null(s);
    char err[160];
    /* As attn-train builds it: negative sticky = the games' default; no time limit. */
    assert_int_equal(minatar_env_create(&s->games, "breakout", GB, -1.0f, 0, err, sizeof err), 0);
    s->inner = minatar_env_callbacks(&s->games);
    for (int b = 0; b < GB; b++) {
        assert_int_equal(attn_minatar_clone(&s->before[b], s->games.games[b]), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_clone(&s->shadow[b], s->games.games[b]), ATTN_MINATAR_OK);
    }
    attn_env env = s->inner;
    env.ctx = s;
    env.reset = sw_reset;
    env.step = sw_step;
    env.save = NULL;
    env.load = NULL;
    env.thread_safe = 0;

    attn_config *cfg = minatar_config(s->games.channels, s->games.actions);
    assert_non_null(cfg);
    attn_config_set(cfg, ATTN_CFG_OBS_TYPE, MINATAR_ENV_OBS_TYPE);
    attn_config_set(cfg, ATTN_CFG_THREADS, 1);
    attn_model *model;
    assert_int_equal(attn_model_create(&model, cfg, 5), ATTN_OK);
    attn_rollout *ro;
    assert_int_equal(attn_rollout_create(&ro, model, GB, GT, 6), ATTN_OK);
    for (int c = 0; c < GCOLLECTS; c++)
        assert_int_equal(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE), ATTN_OK);

    double coin_rate = (double)s->coins / s->steps, seen_rate = (double)s->repeated / s->distinguishable;
    printf("  %d steps: coin below %.1f in %.4f; repeated in %d of %d distinguishable steps (%.4f); %d sticky steps "
           "where the previous executed and chosen actions played differently\n",
           s->steps, (double)STICKY, coin_rate, s->repeated, s->distinguishable, seen_rate, s->executed_not_chosen);
    /* Binomial standard errors: sqrt(0.09 / 3840) ≈ 0.005 for the coins; with about half the steps
     * distinguishable, ≈ 0.007 for the behaviour. The bounds are about 5 of them. */
    assert_true(fabs(coin_rate - 0.1) < 0.025);
    assert_true(s->distinguishable > s->steps / 4);
    assert_true(fabs(seen_rate - 0.1) < 0.035);
    assert_true(s->executed_not_chosen >= 5);

    attn_rollout_destroy(ro);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    for (int b = 0; b < GB; b++) {
        attn_minatar_destroy(s->before[b]);
        attn_minatar_destroy(s->shadow[b]);
    }
    minatar_env_destroy(&s->games);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link1_2_3_rollout_against_an_independent_replay),
        cmocka_unit_test(test_link4_sticky_actions_repeat_the_previous_executed_action),
        cmocka_unit_test(test_link5_finished_episode_returns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
