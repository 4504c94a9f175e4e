/* The rollout and the learner through the public API: what a collect records, how episodes end (termination
 * vs truncation), greedy and sampled actions, callback failures and aborts, parallel stepping, bad arguments,
 * and a non-finite loss that must skip the update. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

enum { SIDE = 4, CH = 2, ACTIONS = 3, B = 4, T = 6 };

/* A counting world: environment b shows its step count as a lit cell (channel 0) and its index (channel 1);
 * reward = action + 1; the episode ends after 3 + b steps, by termination for even b and truncation for odd b.
 * A failure or abort can be planted at a given environment and step. */
typedef struct world {
    int steps[B];
    int resets[B];
    int last_action[B];
    uint64_t last_seed[B];
    int fail_env, fail_at, fail_code; /* fail_code returned by step when steps[fail_env] == fail_at */
    int nan_reward;
    int calls;
} world;

static void draw(const world *w, int b, uint8_t *obs)
{
    memset(obs, 0, SIDE * SIDE * CH);
    obs[(w->steps[b] % (SIDE * SIDE)) * CH + 0] = 255;
    obs[(b % (SIDE * SIDE)) * CH + 1] = 255;
}

static int w_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    world *w = ctx;
    w->steps[index] = 0;
    w->resets[index]++;
    w->last_seed[index] = seed;
    draw(w, index, obs);
    return 0;
}

static int w_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    world *w = ctx;
    w->calls++;
    if (index == w->fail_env && w->steps[index] == w->fail_at) return w->fail_code;
    w->last_action[index] = action;
    w->steps[index]++;
    *reward = w->nan_reward && index == w->fail_env ? NAN : (float)(action + 1);
    int end = w->steps[index] >= 3 + index;
    *terminated = end && index % 2 == 0;
    *truncated = end && index % 2 == 1;
    draw(w, index, obs);
    return 0;
}

static const char *w_error(void *ctx, int index)
{
    (void)ctx;
    (void)index;
    return "the planted failure";
}

static attn_env world_env(world *w, int thread_safe)
{
    memset(w, 0, sizeof *w);
    w->fail_env = -1;
    attn_env env = ATTN_ENV_INIT;
    env.ctx = w;
    env.reset = w_reset;
    env.step = w_step;
    env.error = w_error;
    env.thread_safe = thread_safe;
    return env;
}

typedef struct rig {
    attn_config *cfg;
    attn_model *model;
    attn_rollout *ro;
} rig;

static void rig_open(rig *r, int threads, uint64_t seed)
{
    r->cfg = tiny_config();
    assert_non_null(r->cfg);
    attn_config_set(r->cfg, ATTN_CFG_OBS_H, SIDE);
    attn_config_set(r->cfg, ATTN_CFG_OBS_W, SIDE);
    attn_config_set(r->cfg, ATTN_CFG_OBS_C, CH);
    attn_config_set(r->cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8);
    attn_config_set(r->cfg, ATTN_CFG_NUM_ACTIONS, ACTIONS);
    attn_config_set(r->cfg, ATTN_CFG_THREADS, threads);
    assert_int_equal(attn_model_create(&r->model, r->cfg, seed), ATTN_OK);
    assert_int_equal(attn_rollout_create(&r->ro, r->model, B, T, seed), ATTN_OK);
}

static void rig_close(rig *r)
{
    attn_rollout_destroy(r->ro);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
}

/* What a collect records, step by step, against what the world did. */
static void test_collect_records_the_unroll(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 3);
    world w;
    attn_env env = world_env(&w, 0);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    attn_rollout_view v;
    assert_int_equal(attn_rollout_view_get(r.ro, &v), ATTN_OK);
    assert_int_equal(v.T, T);
    assert_int_equal(v.B, B);
    assert_int_equal(v.A, ACTIONS);
    int episode_steps[B] = {0};
    double running[B] = {0};
    int finished = 0;
    float expected_returns[B * T];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)t * B + b;
            const uint8_t *obs = (const uint8_t *)v.obs + i * SIDE * SIDE * CH;
            /* The observation the agent acted on shows the step count within the episode. */
            assert_int_equal(obs[(episode_steps[b] % (SIDE * SIDE)) * CH], 255);
            assert_true(v.actions[i] >= 0 && v.actions[i] < ACTIONS);
            assert_true(v.rewards[i] == (float)(v.actions[i] + 1));
            episode_steps[b]++;
            running[b] += v.rewards[i];
            int end = episode_steps[b] >= 3 + b;
            assert_int_equal(v.terminated[i], end && b % 2 == 0);
            assert_int_equal(v.truncated[i], end && b % 2 == 1);
            /* Only a truncation bootstraps: its final observation's value is stored, nothing else is. */
            if (!v.truncated[i]) assert_true(v.truncation_values[i] == 0.0f);
            if (end) {
                expected_returns[finished++] = (float)running[b];
                running[b] = 0;
                episode_steps[b] = 0;
            }
        }
    /* Episodes finished in step order, b ascending within a step. */
    float returns[B * T];
    int32_t lengths[B * T];
    int count;
    assert_int_equal(attn_rollout_finished(r.ro, returns, lengths, B * T, &count), ATTN_OK);
    assert_int_equal(count, finished);
    for (int k = 0; k < count; k++) assert_true(returns[k] == expected_returns[k]);
    assert_int_equal(attn_rollout_frames(r.ro), B * T);
    assert_int_equal(attn_rollout_episodes(r.ro), finished);
    /* Every environment was reset once at the start and once per finished episode, with distinct seeds. */
    int resets = 0;
    for (int b = 0; b < B; b++) resets += w.resets[b];
    assert_int_equal(resets, B + finished);
    assert_true(w.last_seed[0] != w.last_seed[1]);
    rig_close(&r);
}

/* The truncation value is the value of the final observation under the episode's own state: replaying the
 * same inputs through a fresh state reproduces it. */
static void test_truncation_value_is_the_final_observations_value(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 4);
    world w;
    attn_env env = world_env(&w, 0);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_GREEDY), ATTN_OK);
    attn_rollout_view v;
    attn_rollout_view_get(r.ro, &v);
    /* Environment 1 truncates after 4 steps (t = 3). Replay its steps 0..3 and then the final observation. */
    const int b = 1, cut = 3;
    assert_true(v.truncated[cut * B + b]);
    attn_state *s;
    assert_int_equal(attn_state_create(&s, r.model, B, 0), ATTN_OK);
    uint8_t obs[B * SIDE * SIDE * CH];
    float logits[B * ACTIONS], values[B], prev_reward[B] = {0};
    int32_t prev_action[B];
    uint8_t first[B];
    for (int t = 0; t <= cut + 1; t++) {
        for (int e = 0; e < B; e++) {
            if (t <= cut) {
                memcpy(obs + e * SIDE * SIDE * CH, (const uint8_t *)v.obs + ((size_t)t * B + e) * SIDE * SIDE * CH,
                       SIDE * SIDE * CH);
            } else {
                w.steps[e] = cut + 1; /* the final observation environment 1 wrote */
                draw(&w, e, obs + e * SIDE * SIDE * CH);
            }
            first[e] = t == 0;
            prev_action[e] = t ? v.actions[(size_t)(t - 1) * B + e] : ATTN_NO_ACTION;
            prev_reward[e] = t ? v.rewards[(size_t)(t - 1) * B + e] : 0.0f;
        }
        assert_int_equal(attn_forward(r.model, s, ATTN_FORWARD_ACT, obs, sizeof obs, prev_reward, prev_action, first,
                                      logits, values),
                         ATTN_OK);
        if (t <= cut) assert_true(values[b] == v.values[(size_t)t * B + b]);
    }
    assert_true(values[b] == v.truncation_values[cut * B + b]);
    assert_true(v.truncation_values[cut * B + b] != 0.0f);
    attn_state_destroy(s);
    rig_close(&r);
}

static void test_greedy_takes_the_argmax(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 5);
    randomize_params(r.model, 9, 3.0f); /* a decided policy, so ties do not hide a wrong choice */
    world w;
    attn_env env = world_env(&w, 0);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_GREEDY), ATTN_OK);
    attn_rollout_view v;
    attn_rollout_view_get(r.ro, &v);
    for (int i = 0; i < T * B; i++) {
        int best = 0;
        for (int a = 1; a < ACTIONS; a++)
            if (v.logits[i * ACTIONS + a] > v.logits[i * ACTIONS + best]) best = a;
        assert_int_equal(v.actions[i], best);
    }
    rig_close(&r);
}

/* Sampled actions follow the softmax: over many collects the frequency of each action matches the mean
 * probability within 5 standard errors. */
static void test_sampling_follows_the_policy(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 6);
    randomize_params(r.model, 10, 1.0f);
    world w;
    attn_env env = world_env(&w, 0);
    double count[ACTIONS] = {0}, prob[ACTIONS] = {0};
    int n = 0;
    for (int k = 0; k < 300; k++) {
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
        attn_rollout_view v;
        attn_rollout_view_get(r.ro, &v);
        for (int i = 0; i < T * B; i++, n++) {
            const float *l = v.logits + i * ACTIONS;
            double mx = fmax(fmax(l[0], l[1]), l[2]), z = 0;
            for (int a = 0; a < ACTIONS; a++) z += exp(l[a] - mx);
            for (int a = 0; a < ACTIONS; a++) prob[a] += exp(l[a] - mx) / z;
            count[v.actions[i]]++;
        }
    }
    for (int a = 0; a < ACTIONS; a++) {
        double p = prob[a] / n, f = count[a] / n, se = sqrt(p * (1 - p) / n);
        printf("  action %d: sampled %.4f, policy %.4f\n", a, f, p);
        assert_true(fabs(f - p) < 5 * se + 1e-3);
    }
    rig_close(&r);
}

/* Stepping thread-safe environments in parallel gives bitwise the same rollout as stepping them in order. */
static void test_parallel_stepping_matches_serial(void **unused)
{
    (void)unused;
    rig a, b;
    rig_open(&a, 2, 7);
    rig_open(&b, 2, 7);
    world wa, wb;
    attn_env ea = world_env(&wa, 1), eb = world_env(&wb, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(attn_rollout_collect(a.ro, a.model, &ea, ATTN_ACT_SAMPLE), ATTN_OK);
        assert_int_equal(attn_rollout_collect(b.ro, b.model, &eb, ATTN_ACT_SAMPLE), ATTN_OK);
        attn_rollout_view va, vb;
        attn_rollout_view_get(a.ro, &va);
        attn_rollout_view_get(b.ro, &vb);
        assert_memory_equal(va.actions, vb.actions, sizeof(int32_t) * T * B);
        assert_memory_equal(va.logits, vb.logits, sizeof(float) * T * B * ACTIONS);
        assert_memory_equal(va.bootstrap, vb.bootstrap, sizeof(float) * B);
    }
    rig_close(&a);
    rig_close(&b);
}

/* A failing callback stops the collect with the environment's index and message; the model is untouched and
 * the next collect starts every environment afresh. An abort request gives ATTN_ERR_ABORTED. */
static void test_callback_failure_and_abort(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 2, 8);
    size_t n = attn_model_param_count(r.model);
    float *before = malloc(sizeof(float) * n);
    memcpy(before, attn_model_params(r.model), sizeof(float) * n);
    for (int thread_safe = 0; thread_safe < 2; thread_safe++) {
        world w;
        attn_env env = world_env(&w, thread_safe);
        w.fail_env = 2;
        w.fail_at = 1;
        w.fail_code = 7;
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_ERR_CALLBACK);
        assert_non_null(strstr(attn_last_error(), "environment 2"));
        assert_non_null(strstr(attn_last_error(), "the planted failure"));
        attn_rollout_view v;
        assert_int_equal(attn_rollout_view_get(r.ro, &v), ATTN_ERR_STATE);
        assert_memory_equal(attn_model_params(r.model), before, sizeof(float) * n);

        w.fail_code = ATTN_CALLBACK_ABORT;
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_ERR_ABORTED);

        /* Usable again: the failure is gone, every environment is reset and the collect completes. */
        w.fail_env = -1;
        int resets_before = w.resets[0];
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
        assert_true(w.resets[0] > resets_before);
        assert_int_equal(attn_rollout_view_get(r.ro, &v), ATTN_OK);
    }
    world w;
    attn_env env = world_env(&w, 0);
    w.fail_env = 1;
    w.fail_at = -1;
    w.nan_reward = 1;
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_ERR_NONFINITE);
    assert_non_null(strstr(attn_last_error(), "non-finite reward"));
    free(before);
    rig_close(&r);
}

static void test_bad_arguments(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 9);
    world w;
    attn_env env = world_env(&w, 0);
    attn_rollout *ro;
    assert_int_equal(attn_rollout_create(NULL, r.model, B, T, 1), ATTN_ERR_NULL);
    assert_int_equal(attn_rollout_create(&ro, NULL, B, T, 1), ATTN_ERR_NULL);
    assert_int_equal(attn_rollout_create(&ro, r.model, 0, T, 1), ATTN_ERR_SIZE);
    assert_null(ro);
    assert_int_equal(attn_rollout_create(&ro, r.model, B, 0, 1), ATTN_ERR_SIZE);
    assert_int_equal(attn_rollout_collect(NULL, r.model, &env, ATTN_ACT_SAMPLE), ATTN_ERR_NULL);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, NULL, ATTN_ACT_SAMPLE), ATTN_ERR_NULL);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, (attn_act_mode)7), ATTN_ERR_INVALID);
    attn_env old = env;
    old.version = 0;
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &old, ATTN_ACT_SAMPLE), ATTN_ERR_INVALID);
    attn_env missing = env;
    missing.step = NULL;
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &missing, ATTN_ACT_SAMPLE), ATTN_ERR_NULL);
    int count;
    assert_int_equal(attn_rollout_finished(r.ro, NULL, NULL, -1, &count), ATTN_ERR_INVALID);

    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_PPO), ATTN_OK);
    attn_learner *ln;
    lc.ppo_minibatches = 3; /* does not divide B = 4 */
    assert_int_equal(attn_learner_create(&ln, r.model, &lc, B, T), ATTN_ERR_INVALID);
    attn_loss_config_init(&lc, ATTN_LOSS_A2C);
    lc.version = 99;
    assert_int_equal(attn_learner_create(&ln, r.model, &lc, B, T), ATTN_ERR_INVALID);
    attn_loss_config_init(&lc, ATTN_LOSS_A2C);
    assert_int_equal(attn_learner_create(&ln, r.model, &lc, B, T + 1), ATTN_OK);
    attn_optimizer *opt;
    assert_int_equal(attn_optimizer_create(&opt, r.model, ATTN_OPTIM_ADAM), ATTN_OK);
    attn_loss_stats st;
    /* Nothing collected yet, then a rollout of another unroll length. */
    assert_int_equal(attn_learner_update(ln, opt, r.ro, &st), ATTN_ERR_STATE);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_learner_update(ln, opt, r.ro, &st), ATTN_ERR_SIZE);
    assert_int_equal(attn_learner_update(ln, NULL, r.ro, &st), ATTN_ERR_NULL);
    attn_learner_destroy(ln);
    attn_optimizer_destroy(opt);
    attn_rollout_destroy(NULL);
    attn_learner_destroy(NULL);
    rig_close(&r);
}

/* A non-finite loss (here: a value head whose weights went NaN) skips the update: no weight moves, the
 * optimizer takes no step, the skip is counted and reported, and the call still succeeds. */
static void test_non_finite_loss_skips_the_update(void **unused)
{
    (void)unused;
    rig r;
    rig_open(&r, 1, 10);
    world w;
    attn_env env = world_env(&w, 0);
    assert_int_equal(attn_rollout_collect(r.ro, r.model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    int idx;
    size_t off;
    assert_int_equal(attn_model_find_tensor(r.model, "value.bias", &idx), ATTN_OK);
    attn_model_tensor(r.model, idx, NULL, NULL, NULL, &off);
    attn_model_params(r.model)[off] = NAN;
    size_t n = attn_model_param_count(r.model);
    float *before = malloc(sizeof(float) * n);
    memcpy(before, attn_model_params(r.model), sizeof(float) * n);
    for (int kind = ATTN_LOSS_A2C; kind <= ATTN_LOSS_PPO; kind++) {
        attn_loss_config lc;
        attn_loss_config_init(&lc, (attn_loss_kind)kind);
        lc.ppo_minibatches = 2;
        attn_learner *ln;
        attn_optimizer *opt;
        assert_int_equal(attn_learner_create(&ln, r.model, &lc, B, T), ATTN_OK);
        assert_int_equal(attn_optimizer_create(&opt, r.model, ATTN_OPTIM_RMSPROP), ATTN_OK);
        attn_loss_stats st;
        assert_int_equal(attn_learner_update(ln, opt, r.ro, &st), ATTN_OK);
        assert_int_equal(st.skipped, 1);
        assert_true(attn_learner_skipped(ln) >= 1);
        assert_int_equal(attn_optimizer_steps(opt), 0);
        assert_memory_equal(attn_model_params(r.model), before, sizeof(float) * n);
        attn_optimizer_destroy(opt);
        attn_learner_destroy(ln);
    }
    free(before);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect_records_the_unroll),
        cmocka_unit_test(test_truncation_value_is_the_final_observations_value),
        cmocka_unit_test(test_greedy_takes_the_argmax),
        cmocka_unit_test(test_sampling_follows_the_policy),
        cmocka_unit_test(test_parallel_stepping_matches_serial),
        cmocka_unit_test(test_callback_failure_and_abort),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_non_finite_loss_skips_the_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
