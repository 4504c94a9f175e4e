/*
 * Bad input to the training API (training.h): rollouts, losses, optimizers, learners and training
 * checkpoints. Each case checks the documented status, a fresh attn_last_error() naming the problem, and that
 * nothing the failing call could reach changed. docs/errors.md names these cases row by row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_errors.h"
#include "test_util.h"

enum { B = 2, T = 3 };

typedef struct rig {
    attn_config *cfg;
    attn_model *model;
    attn_rollout *ro;
    errw w;
    attn_env env;
    char dir[256];
} rig;

static int rig_setup(void **ctx)
{
    rig *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->cfg = tiny_config();
    if (!r->cfg || attn_model_create(&r->model, r->cfg, 5) || attn_rollout_create(&r->ro, r->model, B, T, 11))
        return -1;
    r->env = errw_env(&r->w, r->model);
    if (scratch_dir_create(r->dir, sizeof r->dir, "attn_errors_training_")) return -1;
    *ctx = r;
    return 0;
}

static int rig_teardown(void **ctx)
{
    rig *r = *ctx;
    attn_rollout_destroy(r->ro);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
    scratch_dir_remove(r->dir);
    free(r);
    return 0;
}

static const char *in_dir(rig *r, const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", r->dir, name);
    return path;
}

/* A model of the tiny configuration with one knob changed. */
static attn_model *other_model(attn_config_key key, int value)
{
    attn_config *c = tiny_config();
    assert_non_null(c);
    assert_int_equal(attn_config_set(c, key, value), ATTN_OK);
    attn_model *m;
    assert_int_equal(attn_model_create(&m, c, 5), ATTN_OK);
    attn_config_destroy(c);
    return m;
}

/* ---- Rollouts ------------------------------------------------------------------------------------------- */

/* ---- Learner health ---------------------------------------------------------------------------------- */

static void test_learner_health_errors(void **ctx)
{
    rig *r = *ctx;
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_A2C), ATTN_OK);
    attn_learner *ln;
    assert_int_equal(attn_learner_create(&ln, r->model, &lc, B, T), ATTN_OK);
    attn_learner_health h;
    memset(&h, 0x5a, sizeof h);
    attn_learner_health untouched = h;
    EXPECT_STATUS(attn_learner_health_get(NULL, &h), ATTN_ERR_NULL, "learner");
    assert_memory_equal(&h, &untouched, sizeof h);
    EXPECT_STATUS(attn_learner_health_get(ln, NULL), ATTN_ERR_NULL, "health");
    /* Before any update: nothing measured, nothing flagged. */
    assert_int_equal(attn_learner_health_get(ln, &h), ATTN_OK);
    assert_int_equal(h.updates, 0);
    assert_int_equal(h.flags, 0);
    assert_true(h.weight_change == 0.0f);
    attn_learner_destroy(ln);
}

static void test_rollout_create_errors(void **ctx)
{
    rig *r = *ctx;
    EXPECT_STATUS(attn_rollout_create(NULL, r->model, B, T, 1), ATTN_ERR_NULL, "out");
    attn_rollout *ro = (attn_rollout *)&ro;
    EXPECT_STATUS(attn_rollout_create(&ro, NULL, B, T, 1), ATTN_ERR_NULL, "model");
    assert_null(ro);
    const int bad[] = {0, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ro = (attn_rollout *)&ro;
        EXPECT_STATUS(attn_rollout_create(&ro, r->model, bad[i], T, 1), ATTN_ERR_SIZE, "batch");
        assert_null(ro);
        ro = (attn_rollout *)&ro;
        EXPECT_STATUS(attn_rollout_create(&ro, r->model, B, bad[i], 1), ATTN_ERR_SIZE, "unroll");
        assert_null(ro);
    }
    attn_rollout_destroy(NULL);
    assert_int_equal(attn_rollout_frames(NULL), 0);
    assert_int_equal(attn_rollout_episodes(NULL), 0);
}

static void test_rollout_collect_bad_arguments(void **ctx)
{
    rig *r = *ctx;
    EXPECT_STATUS(attn_rollout_collect(NULL, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_NULL, "rollout");
    EXPECT_STATUS(attn_rollout_collect(r->ro, NULL, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_NULL, "model");
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, NULL, ATTN_ACT_SAMPLE), ATTN_ERR_NULL, "env");
    attn_env e = r->env;
    e.version = ATTN_ENV_VERSION + 1;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &e, ATTN_ACT_SAMPLE), ATTN_ERR_INVALID, "version");
    e = r->env;
    e.reset = NULL;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &e, ATTN_ACT_SAMPLE), ATTN_ERR_NULL, "reset");
    e = r->env;
    e.step = NULL;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &e, ATTN_ACT_SAMPLE), ATTN_ERR_NULL, "step");
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, (attn_act_mode)2), ATTN_ERR_INVALID, "mode");
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, (attn_act_mode)-1), ATTN_ERR_INVALID, "mode");
    attn_model *more_actions = other_model(ATTN_CFG_NUM_ACTIONS, 4);
    EXPECT_STATUS(attn_rollout_collect(r->ro, more_actions, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_INVALID,
                  "configuration");
    attn_model_destroy(more_actions);
    attn_model *bytes = other_model(ATTN_CFG_OBS_TYPE, ATTN_OBS_U8);
    EXPECT_STATUS(attn_rollout_collect(r->ro, bytes, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_INVALID, "configuration");
    attn_model_destroy(bytes);
    /* None of it touched an environment. */
    for (int b = 0; b < B; b++) assert_int_equal(r->w.resets[b], 0);
    assert_int_equal(attn_rollout_frames(r->ro), 0);
    assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);
}

/* After a failed collect: the buffer is refused, the weights are as they were, and the next collect resets
 * every environment and completes, as does an update on it (whose weights are then copied into `params`). */
static void expect_usable_after_failure(rig *r, float *params)
{
    const size_t np = attn_model_param_count(r->model);
    assert_memory_equal(attn_model_params(r->model), params, np * sizeof(float));
    attn_rollout_view v;
    EXPECT_STATUS(attn_rollout_view_get(r->ro, &v), ATTN_ERR_STATE, "collect");
    attn_loss_config lc;
    attn_learner *ln;
    attn_optimizer *opt;
    attn_loss_stats st;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_A2C), ATTN_OK);
    assert_int_equal(attn_learner_create(&ln, r->model, &lc, B, T), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&opt, r->model, ATTN_OPTIM_ADAM), ATTN_OK);
    EXPECT_STATUS(attn_learner_update(ln, opt, r->ro, &st), ATTN_ERR_STATE, "unroll");
    assert_int_equal(attn_optimizer_steps(opt), 0);

    r->w.fault_env = -1;
    int resets[B];
    for (int b = 0; b < B; b++) resets[b] = r->w.resets[b];
    assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);
    for (int b = 0; b < B; b++) assert_true(r->w.resets[b] > resets[b]);
    assert_int_equal(attn_rollout_view_get(r->ro, &v), ATTN_OK);
    assert_int_equal(attn_learner_update(ln, opt, r->ro, &st), ATTN_OK);
    assert_int_equal(st.skipped, 0);
    memcpy(params, attn_model_params(r->model), np * sizeof(float));
    attn_learner_destroy(ln);
    attn_optimizer_destroy(opt);
}

/* A callback's failure code: ATTN_ERR_CALLBACK naming the environment, the callback and its message, serially
 * and on worker threads, from reset (at the start) and from step (in the middle of an unroll). */
static void test_rollout_collect_callback_failure(void **ctx)
{
    rig *r = *ctx;
    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    for (int thread_safe = 0; thread_safe < 2; thread_safe++) {
        r->env.thread_safe = thread_safe;
        r->w.fault_env = 1;
        r->w.fault_step = -1;
        r->w.step_code = 0;
        r->w.reset_code = 17; /* the first reset of environment 1 fails */
        EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_CALLBACK,
                      "environment 1");
        assert_non_null(strstr(attn_last_error(), "reset returned 17"));
        assert_non_null(strstr(attn_last_error(), "the planted fault"));
        expect_usable_after_failure(r, params);

        r->w.reset_code = 0;
        r->w.fault_env = 1;
        r->w.fault_step = r->w.steps[1] + 1; /* the second step of the next unroll */
        r->w.step_code = 3;
        EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_GREEDY), ATTN_ERR_CALLBACK,
                      "environment 1");
        assert_non_null(strstr(attn_last_error(), "step returned 3"));
        assert_non_null(strstr(attn_last_error(), "the planted fault"));
        expect_usable_after_failure(r, params);
    }
    /* Without an error callback the code alone is reported. */
    r->env.error = NULL;
    r->w.fault_env = 0;
    r->w.fault_step = -1;
    r->w.step_code = 9;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_CALLBACK,
                  "environment 0: step returned 9");
    free(params);
}

static void test_rollout_collect_abort(void **ctx)
{
    rig *r = *ctx;
    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    r->w.fault_env = 0;
    r->w.fault_step = 1;
    r->w.step_code = ATTN_CALLBACK_ABORT;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_ABORTED,
                  "environment 0");
    expect_usable_after_failure(r, params);
    free(params);
}

/* A reward or observation that is NaN or infinite never reaches the buffer: ATTN_ERR_NONFINITE naming the
 * environment. A huge but finite reward is the loss's business (test_nonfinite.c). */
static void test_rollout_collect_nonfinite_reward(void **ctx)
{
    rig *r = *ctx;
    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r->w.fault_env = 1;
        r->w.fault_step = 1;
        r->w.use_fault_reward = 1;
        r->w.fault_reward = bad[i];
        r->w.resets[1] = 0;
        r->w.steps[1] = 0;
        EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_NONFINITE,
                      "environment 1");
        assert_non_null(strstr(attn_last_error(), "non-finite reward"));
        expect_usable_after_failure(r, params);
    }
    r->w.use_fault_reward = 0;
    r->w.fault_env = 0;
    r->w.fault_step = -1;
    r->w.fault_obs_bad = 1;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_NONFINITE,
                  "environment 0");
    assert_non_null(strstr(attn_last_error(), "non-finite observation"));
    free(params);
}

/* An environment whose float observation is finite but FLT_MAX: the step that reads it overflows, and the collect
 * says so naming the environment and its observation. It used to blame the weights ("have the model's weights
 * diverged?") after acting on a NaN state. */
static void test_rollout_collect_huge_observation(void **ctx)
{
    rig *r = *ctx;
    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    r->w.fault_env = 1;
    r->w.fault_step = 2;
    r->w.fault_obs_huge = 1;
    EXPECT_STATUS(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_ERR_NONFINITE,
                  "environment 1");
    assert_non_null(strstr(attn_last_error(), "the observation"));
    assert_null(strstr(attn_last_error(), "diverged"));
    r->w.fault_obs_huge = 0;
    expect_usable_after_failure(r, params);
    free(params);
}

/* A binary-plane environment that draws a pixel byte (255) is told so by name, not trained on. */
static void test_rollout_collect_binary_plane_byte(void **ctx)
{
    (void)ctx;
    attn_model *model = other_model(ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY);
    attn_rollout *ro;
    assert_int_equal(attn_rollout_create(&ro, model, B, T, 11), ATTN_OK);
    errw w;
    attn_env env = errw_env(&w, model);
    assert_int_equal(w.lit, 1);
    assert_int_equal(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    const size_t np = attn_model_param_count(model);
    float *params = errors_copy_floats(attn_model_params(model), np);
    w.fault_env = 1;
    w.fault_step = -1;
    w.fault_obs_bad = 1;
    EXPECT_STATUS(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE), ATTN_ERR_INVALID, "environment 1");
    assert_non_null(strstr(attn_last_error(), "byte 255"));
    assert_non_null(strstr(attn_last_error(), "ATTN_OBS_U8_BINARY"));
    assert_memory_equal(params, attn_model_params(model), np * sizeof(float));
    /* Usable afterwards: with the environment mended, the next collect resets and runs. */
    w.fault_obs_bad = 0;
    assert_int_equal(attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE), ATTN_OK);
    free(params);
    attn_rollout_destroy(ro);
    attn_model_destroy(model);
}

static void test_rollout_finished_and_view_errors(void **ctx)
{
    rig *r = *ctx;
    int count = -7;
    float returns[4] = {-7, -7, -7, -7};
    attn_rollout_view v;
    memset(&v, 0x5a, sizeof v);
    attn_rollout_view untouched = v;
    EXPECT_STATUS(attn_rollout_view_get(NULL, &v), ATTN_ERR_NULL, "rollout");
    EXPECT_STATUS(attn_rollout_view_get(r->ro, NULL), ATTN_ERR_NULL, "view");
    EXPECT_STATUS(attn_rollout_view_get(r->ro, &v), ATTN_ERR_STATE, "collect");
    assert_memory_equal(&v, &untouched, sizeof v);

    EXPECT_STATUS(attn_rollout_finished(NULL, returns, NULL, 4, &count), ATTN_ERR_NULL, "rollout");
    EXPECT_STATUS(attn_rollout_finished(r->ro, returns, NULL, 4, NULL), ATTN_ERR_NULL, "count");
    EXPECT_STATUS(attn_rollout_finished(r->ro, returns, NULL, -1, &count), ATTN_ERR_INVALID, "cap");
    assert_int_equal(count, -7);
    assert_true(returns[0] == -7.0f);
    /* cap 0 and NULL arrays are allowed: the count alone. Episodes end after 4 + b steps, so run until one does. */
    for (int i = 0; i < 3; i++) assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_rollout_finished(r->ro, NULL, NULL, 0, &count), ATTN_OK);
    assert_true(count >= 1);
    /* A cap below the count writes only cap entries. */
    assert_int_equal(attn_rollout_finished(r->ro, returns, NULL, 0, &count), ATTN_OK);
    assert_true(returns[0] == -7.0f);
}

/* ---- Losses ---------------------------------------------------------------------------------------------- */

static void test_loss_config_init_errors(void **ctx)
{
    (void)ctx;
    EXPECT_STATUS(attn_loss_config_init(NULL, ATTN_LOSS_A2C), ATTN_ERR_NULL, "config");
    attn_loss_config c;
    memset(&c, 0x33, sizeof c);
    attn_loss_config untouched = c;
    const attn_loss_kind bad[] = {(attn_loss_kind)3, (attn_loss_kind)-1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_STATUS(attn_loss_config_init(&c, bad[i]), ATTN_ERR_INVALID, "kind");
        assert_memory_equal(&c, &untouched, sizeof c);
    }
}

/* ---- Learners -------------------------------------------------------------------------------------------- */

typedef struct bad_field {
    const char *name;
    size_t offset;
    float value;
} bad_field;

#define BAD(field, v) {#field, offsetof(attn_loss_config, field), (v)}

static void test_learner_create_errors(void **ctx)
{
    rig *r = *ctx;
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_VTRACE), ATTN_OK);
    attn_learner *ln = (attn_learner *)&ln;
    EXPECT_STATUS(attn_learner_create(NULL, r->model, &lc, B, T), ATTN_ERR_NULL, "out");
    EXPECT_STATUS(attn_learner_create(&ln, NULL, &lc, B, T), ATTN_ERR_NULL, "model");
    assert_null(ln);
    EXPECT_STATUS(attn_learner_create(&ln, r->model, NULL, B, T), ATTN_ERR_NULL, "config");
    const int bad_sizes[] = {0, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        EXPECT_STATUS(attn_learner_create(&ln, r->model, &lc, bad_sizes[i], T), ATTN_ERR_SIZE, "batch");
        EXPECT_STATUS(attn_learner_create(&ln, r->model, &lc, B, bad_sizes[i]), ATTN_ERR_SIZE, "unroll");
        assert_null(ln);
    }

    attn_loss_config c = lc;
    c.version = ATTN_LOSS_CONFIG_VERSION + 1;
    EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, "version");
    c = lc;
    c.kind = (attn_loss_kind)3;
    EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, "kind");

    const bad_field fields[] = {
        BAD(discount, -0.1f),      BAD(discount, 1.5f),       BAD(discount, NAN),        BAD(gae_lambda, -0.5f),
        BAD(gae_lambda, 2.0f),     BAD(gae_lambda, NAN),      BAD(entropy_cost, -0.01f), BAD(entropy_cost, INFINITY),
        BAD(entropy_cost, NAN),    BAD(baseline_cost, -1.0f), BAD(baseline_cost, INFINITY), BAD(rho_bar, -1.0f),
        BAD(rho_bar, NAN),         BAD(c_bar, -1.0f),         BAD(c_bar, INFINITY),      BAD(reward_clip, -1.0f),
        BAD(reward_clip, NAN),     BAD(clip_range, 0.0f),     BAD(clip_range, -0.2f),    BAD(clip_range, INFINITY),
        BAD(clip_range, NAN),
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        c = lc;
        memcpy((char *)&c + fields[i].offset, &fields[i].value, sizeof(float));
        EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, fields[i].name);
        assert_null(ln);
    }

    assert_int_equal(attn_loss_config_init(&c, ATTN_LOSS_PPO), ATTN_OK);
    c.ppo_epochs = 0;
    EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, "epochs");
    assert_int_equal(attn_loss_config_init(&c, ATTN_LOSS_PPO), ATTN_OK);
    c.ppo_minibatches = 0;
    EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, "minibatches");
    c.ppo_minibatches = 3; /* does not divide B = 2 */
    EXPECT_STATUS(attn_learner_create(&ln, r->model, &c, B, T), ATTN_ERR_INVALID, "divid");
    assert_null(ln);
    attn_learner_destroy(NULL);
    assert_int_equal(attn_learner_skipped(NULL), 0);
}

static void test_learner_update_errors(void **ctx)
{
    rig *r = *ctx;
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_A2C), ATTN_OK);
    attn_learner *ln;
    attn_optimizer *opt;
    attn_loss_stats st;
    assert_int_equal(attn_learner_create(&ln, r->model, &lc, B, T), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&opt, r->model, ATTN_OPTIM_RMSPROP), ATTN_OK);
    EXPECT_STATUS(attn_learner_update(ln, opt, r->ro, &st), ATTN_ERR_STATE, "unroll"); /* nothing collected */
    assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);

    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    EXPECT_STATUS(attn_learner_update(NULL, opt, r->ro, &st), ATTN_ERR_NULL, "learner");
    EXPECT_STATUS(attn_learner_update(ln, NULL, r->ro, &st), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_learner_update(ln, opt, NULL, &st), ATTN_ERR_NULL, "rollout");
    EXPECT_STATUS(attn_learner_update(ln, opt, r->ro, NULL), ATTN_ERR_NULL, "stats");

    /* A learner of another batch, and of another unroll. */
    attn_learner *wide, *long_ln;
    assert_int_equal(attn_learner_create(&wide, r->model, &lc, B + 1, T), ATTN_OK);
    assert_int_equal(attn_learner_create(&long_ln, r->model, &lc, B, T + 1), ATTN_OK);
    EXPECT_STATUS(attn_learner_update(wide, opt, r->ro, &st), ATTN_ERR_SIZE, "environments");
    EXPECT_STATUS(attn_learner_update(long_ln, opt, r->ro, &st), ATTN_ERR_SIZE, "steps");
    attn_learner_destroy(wide);
    attn_learner_destroy(long_ln);

    /* A learner for a model of another configuration, and of the same shapes but byte observations: both would
     * read the rollout's observations at the wrong width. */
    const attn_config_key keys[] = {ATTN_CFG_NUM_ACTIONS, ATTN_CFG_OBS_TYPE};
    const int values[] = {4, ATTN_OBS_U8};
    for (int k = 0; k < 2; k++) {
        attn_model *m = other_model(keys[k], values[k]);
        attn_learner *other;
        attn_optimizer *other_opt;
        assert_int_equal(attn_learner_create(&other, m, &lc, B, T), ATTN_OK);
        assert_int_equal(attn_optimizer_create(&other_opt, m, ATTN_OPTIM_RMSPROP), ATTN_OK);
        float *mp = errors_copy_floats(attn_model_params(m), attn_model_param_count(m));
        EXPECT_STATUS(attn_learner_update(other, other_opt, r->ro, &st), ATTN_ERR_INVALID, "configuration");
        assert_memory_equal(attn_model_params(m), mp, attn_model_param_count(m) * sizeof(float));
        assert_int_equal(attn_optimizer_steps(other_opt), 0);
        free(mp);
        attn_optimizer_destroy(other_opt);
        attn_learner_destroy(other);
        attn_model_destroy(m);
    }

    /* An optimizer created for another model of the same configuration (and so the same size): refused before
     * the replay writes any gradient. It used to be accepted, moving these weights by that model's moments. */
    attn_model *twin;
    attn_optimizer *twin_opt;
    assert_int_equal(attn_model_create(&twin, r->cfg, 5), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&twin_opt, twin, ATTN_OPTIM_RMSPROP), ATTN_OK);
    float *grads = errors_copy_floats(attn_model_grads(r->model), np);
    EXPECT_STATUS(attn_learner_update(ln, twin_opt, r->ro, &st), ATTN_ERR_INVALID, "another model");
    assert_memory_equal(attn_model_grads(r->model), grads, np * sizeof(float));
    assert_int_equal(attn_optimizer_steps(twin_opt), 0);
    free(grads);
    attn_optimizer_destroy(twin_opt);
    attn_model_destroy(twin);

    /* An optimizer created for a model with another parameter count. */
    attn_model *bigger = other_model(ATTN_CFG_CORE_UNITS, 6);
    attn_optimizer *wrong_opt;
    assert_int_equal(attn_optimizer_create(&wrong_opt, bigger, ATTN_OPTIM_RMSPROP), ATTN_OK);
    EXPECT_STATUS(attn_learner_update(ln, wrong_opt, r->ro, &st), ATTN_ERR_INVALID, "parameters");
    assert_int_equal(attn_optimizer_steps(wrong_opt), 0);
    attn_optimizer_destroy(wrong_opt);
    attn_model_destroy(bigger);

    assert_memory_equal(attn_model_params(r->model), params, np * sizeof(float));
    assert_int_equal(attn_optimizer_steps(opt), 0);
    assert_int_equal(attn_learner_update(ln, opt, r->ro, &st), ATTN_OK);
    assert_int_equal(attn_optimizer_steps(opt), 1);
    free(params);
    attn_optimizer_destroy(opt);
    attn_learner_destroy(ln);
}

/* ---- Optimizers ------------------------------------------------------------------------------------------ */

static void test_optimizer_errors(void **ctx)
{
    rig *r = *ctx;
    attn_optimizer *o = (attn_optimizer *)&o;
    EXPECT_STATUS(attn_optimizer_create(NULL, r->model, ATTN_OPTIM_ADAM), ATTN_ERR_NULL, "out");
    EXPECT_STATUS(attn_optimizer_create(&o, NULL, ATTN_OPTIM_ADAM), ATTN_ERR_NULL, "model");
    assert_null(o);
    EXPECT_STATUS(attn_optimizer_create(&o, r->model, (attn_optim_kind)4), ATTN_ERR_INVALID, "kind");
    EXPECT_STATUS(attn_optimizer_create(&o, r->model, (attn_optim_kind)-1), ATTN_ERR_INVALID, "kind");
    assert_null(o);
    attn_optimizer_destroy(NULL);
    assert_int_equal(attn_optimizer_steps(NULL), 0);
    assert_int_equal(attn_optimizer_slot_count(NULL), 0);
    assert_true(attn_optimizer_current_lr(NULL) == 0.0);
    assert_int_equal(attn_optimizer_kind(NULL), ATTN_OPTIM_RMSPROP);

    assert_int_equal(attn_optimizer_create(&o, r->model, ATTN_OPTIM_ADAMW), ATTN_OK);
    double knobs[ATTN_OPT_LR_END + 1];
    for (int k = 0; k <= ATTN_OPT_LR_END; k++) assert_int_equal(attn_optimizer_get(o, (attn_optim_param)k, &knobs[k]), ATTN_OK);
    EXPECT_STATUS(attn_optimizer_set(NULL, ATTN_OPT_LR, 0.1), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_optimizer_set(o, (attn_optim_param)(ATTN_OPT_LR_END + 1), 0.1), ATTN_ERR_INVALID, "parameter");
    EXPECT_STATUS(attn_optimizer_set(o, (attn_optim_param)-1, 0.1), ATTN_ERR_INVALID, "parameter");
    for (int k = 0; k <= ATTN_OPT_LR_END; k++) {
        EXPECT_STATUS(attn_optimizer_set(o, (attn_optim_param)k, NAN), ATTN_ERR_NONFINITE, NULL);
        EXPECT_STATUS(attn_optimizer_set(o, (attn_optim_param)k, INFINITY), ATTN_ERR_NONFINITE, NULL);
        EXPECT_STATUS(attn_optimizer_set(o, (attn_optim_param)k, -1.0), ATTN_ERR_INVALID, NULL);
    }
    const attn_optim_param fractions[] = {ATTN_OPT_DECAY, ATTN_OPT_BETA1, ATTN_OPT_BETA2};
    for (size_t i = 0; i < 3; i++) EXPECT_STATUS(attn_optimizer_set(o, fractions[i], 1.0), ATTN_ERR_INVALID, "[0, 1)");
    for (int k = 0; k <= ATTN_OPT_LR_END; k++) {
        double v;
        assert_int_equal(attn_optimizer_get(o, (attn_optim_param)k, &v), ATTN_OK);
        assert_true(v == knobs[k]);
    }
    double v = -7.0;
    EXPECT_STATUS(attn_optimizer_get(NULL, ATTN_OPT_LR, &v), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_optimizer_get(o, ATTN_OPT_LR, NULL), ATTN_ERR_NULL, "value");
    EXPECT_STATUS(attn_optimizer_get(o, (attn_optim_param)(ATTN_OPT_LR_END + 1), &v), ATTN_ERR_INVALID, "parameter");
    assert_true(v == -7.0);

    EXPECT_STATUS(attn_optimizer_set_steps(NULL, 3), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_optimizer_set_steps(o, -1), ATTN_ERR_INVALID, "step");
    assert_int_equal(attn_optimizer_steps(o), 0);

    const char *name = "untouched";
    float *data = NULL;
    EXPECT_STATUS(attn_optimizer_slot(NULL, 0, &name, &data), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_optimizer_slot(o, -1, &name, &data), ATTN_ERR_INVALID, "slot");
    EXPECT_STATUS(attn_optimizer_slot(o, attn_optimizer_slot_count(o), &name, &data), ATTN_ERR_INVALID, "slot");
    assert_string_equal(name, "untouched");
    assert_null(data);

    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    float norm = -7.0f;
    EXPECT_STATUS(attn_optimizer_step(NULL, r->model, &norm), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_optimizer_step(o, NULL, &norm), ATTN_ERR_NULL, "model");
    attn_model *bigger = other_model(ATTN_CFG_CORE_UNITS, 6);
    EXPECT_STATUS(attn_optimizer_step(o, bigger, &norm), ATTN_ERR_INVALID, "parameters");
    attn_model_destroy(bigger);
    /* A model of the same configuration and size that is not the optimizer's own. */
    attn_model *twin;
    assert_int_equal(attn_model_create(&twin, r->cfg, 5), ATTN_OK);
    float *twin_params = errors_copy_floats(attn_model_params(twin), np);
    fill_uniform(&(test_rng){3}, attn_model_grads(twin), np, -1.0f, 1.0f);
    EXPECT_STATUS(attn_optimizer_step(o, twin, &norm), ATTN_ERR_INVALID, "another model");
    assert_memory_equal(attn_model_params(twin), twin_params, np * sizeof(float));
    assert_int_equal(attn_optimizer_steps(o), 0);
    free(twin_params);
    attn_model_destroy(twin);
    assert_int_equal(attn_optimizer_set_steps(o, INT64_MAX), ATTN_OK);
    EXPECT_STATUS(attn_optimizer_step(o, r->model, &norm), ATTN_ERR_INVALID, "maximum");
    assert_memory_equal(attn_model_params(r->model), params, np * sizeof(float));
    free(params);
    attn_optimizer_destroy(o);
}

/* ---- Training checkpoints -------------------------------------------------------------------------------- */

typedef struct trainer {
    attn_optimizer *opt;
    attn_learner *ln;
} trainer;

static void train_once(rig *r, trainer *t)
{
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_A2C), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&t->opt, r->model, ATTN_OPTIM_ADAM), ATTN_OK);
    assert_int_equal(attn_learner_create(&t->ln, r->model, &lc, B, T), ATTN_OK);
    attn_loss_stats st;
    assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_learner_update(t->ln, t->opt, r->ro, &st), ATTN_OK);
}

static void trainer_close(trainer *t)
{
    attn_learner_destroy(t->ln);
    attn_optimizer_destroy(t->opt);
}

static void test_training_save_errors(void **ctx)
{
    rig *r = *ctx;
    trainer t;
    train_once(r, &t);
    const char *path = in_dir(r, "never.safetensors");
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    EXPECT_STATUS(attn_training_save(NULL, r->model, t.opt, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_NULL, "path");
    EXPECT_STATUS(attn_training_save(p, NULL, t.opt, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_NULL, "model");
    EXPECT_STATUS(attn_training_save(p, r->model, NULL, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, NULL, &r->env, NULL, NULL, 0), ATTN_ERR_NULL, "rollout");
    attn_env e = r->env;
    e.version = 0;
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &e, NULL, NULL, 0), ATTN_ERR_INVALID, "version");
    e = r->env;
    e.save = errw_save; /* without load */
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &e, NULL, NULL, 0), ATTN_ERR_INVALID, "load");
    const char *keys[1] = {"k"}, *values[1] = {"v"}, *null_key[1] = {NULL}, *bad_utf8[1] = {"\xff\xfe"};
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &r->env, keys, values, -1), ATTN_ERR_INVALID,
                  "n_extra");
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &r->env, NULL, values, 1), ATTN_ERR_NULL,
                  "extra_keys");
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &r->env, keys, NULL, 1), ATTN_ERR_NULL,
                  "extra_values");
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &r->env, null_key, values, 1), ATTN_ERR_NULL,
                  "extra_keys[0]");
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &r->env, keys, bad_utf8, 1), ATTN_ERR_INVALID, NULL);
    attn_model *m = other_model(ATTN_CFG_NUM_ACTIONS, 4);
    EXPECT_STATUS(attn_training_save(p, m, t.opt, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_INVALID, "rollout");
    attn_model_destroy(m);
    /* The optimizer of another model of this configuration: its slots are not this model's. */
    attn_model *twin;
    attn_optimizer *twin_opt;
    assert_int_equal(attn_model_create(&twin, r->cfg, 5), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&twin_opt, twin, ATTN_OPTIM_ADAM), ATTN_OK);
    EXPECT_STATUS(attn_training_save(p, r->model, twin_opt, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_INVALID,
                  "another model");
    attn_optimizer_destroy(twin_opt);
    attn_model_destroy(twin);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no/such/dir.safetensors", r->dir);
    EXPECT_STATUS(attn_training_save(missing, r->model, t.opt, r->ro, &r->env, NULL, NULL, 0), ATTN_ERR_IO,
                  "no/such");
    /* A failing environment save callback. */
    e = r->env;
    e.save = errw_save;
    e.load = errw_load;
    r->w.fault_env = 1;
    r->w.save_code = 5;
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &e, NULL, NULL, 0), ATTN_ERR_CALLBACK,
                  "environment 1");
    r->w.save_code = ATTN_CALLBACK_ABORT;
    EXPECT_STATUS(attn_training_save(p, r->model, t.opt, r->ro, &e, NULL, NULL, 0), ATTN_ERR_ABORTED,
                  "environment 1");
    r->w.save_code = 0;
    assert_int_equal(access(p, F_OK), -1); /* nothing was written */
    assert_int_equal(count_dir_entries(r->dir), 0);
    trainer_close(&t);
}

static void test_training_load_errors(void **ctx)
{
    rig *r = *ctx;
    trainer t;
    train_once(r, &t);
    char good[512], model_only[512], truncated[512];
    snprintf(good, sizeof good, "%s", in_dir(r, "good.safetensors"));
    snprintf(model_only, sizeof model_only, "%s", in_dir(r, "model.safetensors"));
    snprintf(truncated, sizeof truncated, "%s", in_dir(r, "truncated.safetensors"));
    assert_int_equal(attn_training_save(good, r->model, t.opt, r->ro, &r->env, NULL, NULL, 0), ATTN_OK);
    assert_int_equal(attn_model_save(r->model, model_only), ATTN_OK);
    size_t n;
    unsigned char *bytes = read_file_bytes(good, &n);
    write_file_bytes(truncated, bytes, n - 5);
    free(bytes);

    /* Move on, so a load that changed anything would show. */
    attn_loss_stats st;
    assert_int_equal(attn_rollout_collect(r->ro, r->model, &r->env, ATTN_ACT_SAMPLE), ATTN_OK);
    assert_int_equal(attn_learner_update(t.ln, t.opt, r->ro, &st), ATTN_OK);
    const size_t np = attn_model_param_count(r->model);
    float *params = errors_copy_floats(attn_model_params(r->model), np);
    float *slot;
    assert_int_equal(attn_optimizer_slot(t.opt, 0, NULL, &slot), ATTN_OK);
    float *slot0 = errors_copy_floats(slot, np);
    const int64_t steps = attn_optimizer_steps(t.opt), frames = attn_rollout_frames(r->ro);

    EXPECT_STATUS(attn_training_load(NULL, r->model, t.opt, r->ro, &r->env), ATTN_ERR_NULL, "path");
    EXPECT_STATUS(attn_training_load(good, NULL, t.opt, r->ro, &r->env), ATTN_ERR_NULL, "model");
    EXPECT_STATUS(attn_training_load(good, r->model, NULL, r->ro, &r->env), ATTN_ERR_NULL, "opt");
    EXPECT_STATUS(attn_training_load(good, r->model, t.opt, NULL, &r->env), ATTN_ERR_NULL, "rollout");
    attn_env e = r->env;
    e.version = 7;
    EXPECT_STATUS(attn_training_load(good, r->model, t.opt, r->ro, &e), ATTN_ERR_INVALID, "version");
    EXPECT_STATUS(attn_training_load(in_dir(r, "absent.safetensors"), r->model, t.opt, r->ro, &r->env), ATTN_ERR_IO,
                  "absent");
    EXPECT_STATUS(attn_training_load(r->dir, r->model, t.opt, r->ro, &r->env), ATTN_ERR_IO, NULL);
    EXPECT_STATUS(attn_training_load(model_only, r->model, t.opt, r->ro, &r->env), ATTN_ERR_FORMAT, NULL);
    EXPECT_STATUS(attn_training_load(truncated, r->model, t.opt, r->ro, &r->env), ATTN_ERR_FORMAT, NULL);
    /* The file of a run with another optimizer, batch or unroll. */
    attn_optimizer *sgd;
    assert_int_equal(attn_optimizer_create(&sgd, r->model, ATTN_OPTIM_SGD), ATTN_OK);
    EXPECT_STATUS(attn_training_load(good, r->model, sgd, r->ro, &r->env), ATTN_ERR_FORMAT, NULL);
    attn_optimizer_destroy(sgd);
    attn_rollout *wide;
    assert_int_equal(attn_rollout_create(&wide, r->model, B + 1, T, 1), ATTN_OK);
    EXPECT_STATUS(attn_training_load(good, r->model, t.opt, wide, &r->env), ATTN_ERR_FORMAT, "environments");
    attn_rollout_destroy(wide);
    attn_model *m = other_model(ATTN_CFG_NUM_ACTIONS, 4);
    EXPECT_STATUS(attn_training_load(good, m, t.opt, r->ro, &r->env), ATTN_ERR_INVALID, "rollout");
    attn_model_destroy(m);
    /* An optimizer of the right kind created for another model of this configuration. */
    attn_model *twin;
    attn_optimizer *twin_opt;
    assert_int_equal(attn_model_create(&twin, r->cfg, 5), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&twin_opt, twin, ATTN_OPTIM_ADAM), ATTN_OK);
    EXPECT_STATUS(attn_training_load(good, r->model, twin_opt, r->ro, &r->env), ATTN_ERR_INVALID, "another model");
    assert_int_equal(attn_optimizer_steps(twin_opt), 0);
    attn_optimizer_destroy(twin_opt);
    attn_model_destroy(twin);

    assert_memory_equal(attn_model_params(r->model), params, np * sizeof(float));
    assert_memory_equal(slot, slot0, np * sizeof(float));
    assert_int_equal(attn_optimizer_steps(t.opt), steps);
    assert_int_equal(attn_rollout_frames(r->ro), frames);
    assert_int_equal(attn_training_load(good, r->model, t.opt, r->ro, &r->env), ATTN_OK);
    assert_true(attn_optimizer_steps(t.opt) < steps);
    free(params);
    free(slot0);
    trainer_close(&t);
}

/* A load on another thread: its metadata is that thread's own, and is freed when the thread ends (the valgrind
 * stage runs this test with leak checking). */
typedef struct meta_load {
    const char *path;
    rig *r;
    trainer *t;
    char epoch[16];
} meta_load;

static void *load_on_thread(void *arg)
{
    meta_load *ml = arg;
    if (attn_training_load(ml->path, ml->r->model, ml->t->opt, ml->r->ro, &ml->r->env) == ATTN_OK &&
        attn_training_meta("epoch"))
        snprintf(ml->epoch, sizeof ml->epoch, "%s", attn_training_meta("epoch"));
    return NULL;
}

static void test_training_meta_errors(void **ctx)
{
    rig *r = *ctx;
    trainer t;
    train_once(r, &t);
    const char *keys[1] = {"epoch"}, *values[1] = {"12"};
    char path[512];
    snprintf(path, sizeof path, "%s", in_dir(r, "meta.safetensors"));
    assert_int_equal(attn_training_save(path, r->model, t.opt, r->ro, &r->env, keys, values, 1), ATTN_OK);
    assert_int_equal(attn_training_load(path, r->model, t.opt, r->ro, &r->env), ATTN_OK);
    assert_string_equal(attn_training_meta("epoch"), "12");
    assert_null(attn_training_meta(NULL));
    assert_null(attn_training_meta("no such key"));
    assert_null(attn_training_meta("")); /* the empty key was never stored */

    const char *values13[1] = {"13"};
    char path13[512];
    snprintf(path13, sizeof path13, "%s", in_dir(r, "meta13.safetensors"));
    assert_int_equal(attn_training_save(path13, r->model, t.opt, r->ro, &r->env, keys, values13, 1), ATTN_OK);
    meta_load ml = {path13, r, &t, ""};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, load_on_thread, &ml), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_string_equal(ml.epoch, "13");
    assert_string_equal(attn_training_meta("epoch"), "12"); /* this thread's last load is unchanged */
    trainer_close(&t);
}

/* attn_checkpoint_meta reads a host key from the header alone. */
static void test_checkpoint_meta_errors(void **ctx)
{
    rig *r = *ctx;
    trainer t;
    train_once(r, &t);
    const char *keys[2] = {"env", "empty"}, *values[2] = {"minatar:breakout", ""};
    char path[512], model_only[512];
    snprintf(path, sizeof path, "%s", in_dir(r, "run.safetensors"));
    snprintf(model_only, sizeof model_only, "%s", in_dir(r, "model.safetensors"));
    assert_int_equal(attn_training_save(path, r->model, t.opt, r->ro, &r->env, keys, values, 2), ATTN_OK);
    assert_int_equal(attn_model_save(r->model, model_only), ATTN_OK);
    char buf[32];
    size_t len = 99;
    assert_int_equal(attn_checkpoint_meta(path, "env", buf, sizeof buf, &len), ATTN_OK);
    assert_string_equal(buf, "minatar:breakout");
    assert_int_equal(len, 16);
    assert_int_equal(attn_checkpoint_meta(path, "empty", buf, 1, NULL), ATTN_OK);
    assert_string_equal(buf, "");

    memset(buf, 'x', sizeof buf);
    EXPECT_STATUS(attn_checkpoint_meta(NULL, "env", buf, sizeof buf, &len), ATTN_ERR_NULL, "path");
    EXPECT_STATUS(attn_checkpoint_meta(path, NULL, buf, sizeof buf, &len), ATTN_ERR_NULL, "key");
    EXPECT_STATUS(attn_checkpoint_meta(path, "env", NULL, sizeof buf, &len), ATTN_ERR_NULL, "buf");
    EXPECT_STATUS(attn_checkpoint_meta(in_dir(r, "absent.safetensors"), "env", buf, sizeof buf, &len), ATTN_ERR_IO,
                  "absent");
    EXPECT_STATUS(attn_checkpoint_meta(r->dir, "env", buf, sizeof buf, &len), ATTN_ERR_IO, NULL);
    size_t n;
    unsigned char *bytes = read_file_bytes(path, &n);
    write_file_bytes(in_dir(r, "cut.safetensors"), bytes, n - 1);
    free(bytes);
    EXPECT_STATUS(attn_checkpoint_meta(in_dir(r, "cut.safetensors"), "env", buf, sizeof buf, &len), ATTN_ERR_FORMAT,
                  NULL);
    EXPECT_STATUS(attn_checkpoint_meta(path, "no such key", buf, sizeof buf, &len), ATTN_ERR_INVALID, "no such key");
    EXPECT_STATUS(attn_checkpoint_meta(model_only, "env", buf, sizeof buf, &len), ATTN_ERR_INVALID, "env");
    /* Too small by one (the NUL): the length needed, the buffer untouched. */
    len = 0;
    EXPECT_STATUS(attn_checkpoint_meta(path, "env", buf, 16, &len), ATTN_ERR_SIZE, "16 bytes");
    assert_int_equal(len, 16);
    EXPECT_STATUS(attn_checkpoint_meta(path, "env", NULL, 0, &len), ATTN_ERR_SIZE, NULL);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 'x');
    trainer_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollout_create_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_collect_bad_arguments, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_collect_callback_failure, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_collect_abort, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_collect_nonfinite_reward, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_collect_huge_observation, rig_setup, rig_teardown),
        cmocka_unit_test(test_rollout_collect_binary_plane_byte),
        cmocka_unit_test_setup_teardown(test_learner_health_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_rollout_finished_and_view_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_loss_config_init_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_learner_create_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_learner_update_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_optimizer_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_training_save_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_training_load_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_training_meta_errors, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_meta_errors, rig_setup, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
