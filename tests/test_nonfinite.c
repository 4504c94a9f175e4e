/*
 * Non-finite updates: a loss or gradient that is NaN or infinite, or a step that would overflow a parameter or
 * an optimizer slot, must skip the update — weights, optimizer slots and step count bit for bit as they were —
 * and be counted (stats->skipped, attn_learner_skipped). The non-finite values are produced honestly: an
 * environment paying a huge but finite reward, parameters so large that the forward pass overflows, and
 * gradients so large that g² overflows a float.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_errors.h"
#include "test_util.h"

enum { B = 2, T = 3, PPO_EPOCHS = 2, PPO_MINIBATCHES = 2 };

/* Everything an update may change: parameters, every optimizer slot, the step count. */
typedef struct training_snapshot {
    float *params;
    float *slots[2];
    int nslots;
    int64_t steps;
    size_t np;
} training_snapshot;

static void snapshot_take(training_snapshot *s, attn_model *model, attn_optimizer *opt)
{
    s->np = attn_model_param_count(model);
    s->params = errors_copy_floats(attn_model_params(model), s->np);
    s->nslots = attn_optimizer_slot_count(opt);
    assert_true(s->nslots >= 1 && s->nslots <= 2);
    for (int k = 0; k < s->nslots; k++) {
        float *data;
        assert_int_equal(attn_optimizer_slot(opt, k, NULL, &data), ATTN_OK);
        s->slots[k] = errors_copy_floats(data, s->np);
    }
    s->steps = attn_optimizer_steps(opt);
}

/* Compares bit for bit (NaN-safe: memcmp, not ==), then frees the snapshot. */
static void snapshot_expect_unchanged(training_snapshot *s, attn_model *model, attn_optimizer *opt)
{
    assert_memory_equal(attn_model_params(model), s->params, s->np * sizeof(float));
    for (int k = 0; k < s->nslots; k++) {
        float *data;
        assert_int_equal(attn_optimizer_slot(opt, k, NULL, &data), ATTN_OK);
        assert_memory_equal(data, s->slots[k], s->np * sizeof(float));
        free(s->slots[k]);
    }
    assert_int_equal(attn_optimizer_steps(opt), s->steps);
    free(s->params);
}

static void snapshot_free(training_snapshot *s)
{
    for (int k = 0; k < s->nslots; k++) free(s->slots[k]);
    free(s->params);
}

typedef struct rig {
    attn_config *cfg;
    attn_model *model;
    attn_rollout *ro;
    attn_learner *ln;
    attn_optimizer *opt;
    errw w;
    attn_env env;
} rig;

static void rig_open(rig *r, attn_loss_kind kind, attn_optim_kind optim)
{
    r->cfg = tiny_config();
    assert_non_null(r->cfg);
    assert_int_equal(attn_model_create(&r->model, r->cfg, 21), ATTN_OK);
    assert_int_equal(attn_rollout_create(&r->ro, r->model, B, T, 5), ATTN_OK);
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, kind), ATTN_OK);
    lc.ppo_epochs = PPO_EPOCHS;
    lc.ppo_minibatches = PPO_MINIBATCHES;
    assert_int_equal(attn_learner_create(&r->ln, r->model, &lc, B, T), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&r->opt, r->model, optim), ATTN_OK);
    if (optim == ATTN_OPTIM_RMSPROP || optim == ATTN_OPTIM_SGD)
        assert_int_equal(attn_optimizer_set(r->opt, ATTN_OPT_MOMENTUM, 0.9), ATTN_OK);
    r->env = errw_env(&r->w, r->model);
}

static void rig_close(rig *r)
{
    attn_optimizer_destroy(r->opt);
    attn_learner_destroy(r->ln);
    attn_rollout_destroy(r->ro);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
}

/* Optimizer steps one update takes. */
static int64_t steps_per_update(attn_loss_kind kind) { return kind == ATTN_LOSS_PPO ? PPO_EPOCHS * PPO_MINIBATCHES : 1; }

/* One update that must be skipped entirely; returns the skip counter's increase. */
static int64_t expect_skipped_update(rig *r)
{
    training_snapshot before;
    snapshot_take(&before, r->model, r->opt);
    const int64_t skipped = attn_learner_skipped(r->ln);
    attn_loss_stats st;
    memset(&st, 0, sizeof st);
    assert_int_equal(attn_learner_update(r->ln, r->opt, r->ro, &st), ATTN_OK);
    assert_int_equal(st.skipped, 1);
    snapshot_expect_unchanged(&before, r->model, r->opt);
    return attn_learner_skipped(r->ln) - skipped;
}

/* A good update after skipped ones: not skipped, not counted, and it moves the weights and the slots. */
static void expect_good_update(rig *r, attn_loss_kind kind)
{
    training_snapshot before;
    snapshot_take(&before, r->model, r->opt);
    const int64_t skipped = attn_learner_skipped(r->ln);
    attn_loss_stats st;
    attn_status status = attn_learner_update(r->ln, r->opt, r->ro, &st);
    if (status != ATTN_OK) fail_msg("update: %s (%s)", attn_status_str(status), attn_last_error());
    assert_int_equal(st.skipped, 0);
    assert_true(isfinite(st.total));
    assert_int_equal(attn_learner_skipped(r->ln), skipped);
    assert_int_equal(attn_optimizer_steps(r->opt), before.steps + steps_per_update(kind));
    assert_true(memcmp(attn_model_params(r->model), before.params, before.np * sizeof(float)) != 0);
    float *slot;
    assert_int_equal(attn_optimizer_slot(r->opt, before.nslots - 1, NULL, &slot), ATTN_OK);
    assert_true(memcmp(slot, before.slots[before.nslots - 1], before.np * sizeof(float)) != 0);
    snapshot_free(&before);
}

/* Each loss with two optimizers: an environment paying FLT_MAX (finite, so the rollout takes it) overflows the
 * returns, the loss is not finite, and the update is skipped and counted — cumulatively, per optimizer step. */
static void test_huge_reward_skips_the_update(void **unused)
{
    (void)unused;
    const attn_optim_kind optims[] = {ATTN_OPTIM_RMSPROP, ATTN_OPTIM_ADAM};
    for (int kind = ATTN_LOSS_A2C; kind <= ATTN_LOSS_PPO; kind++)
        for (size_t o = 0; o < 2; o++) {
            rig r;
            rig_open(&r, (attn_loss_kind)kind, optims[o]);
            /* A good update first, so the slots and step count are not merely at their initial values. */
            assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
            expect_good_update(&r, (attn_loss_kind)kind);

            r.w.reward = FLT_MAX;
            assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
            const int64_t per_update = steps_per_update((attn_loss_kind)kind);
            assert_int_equal(expect_skipped_update(&r), per_update);
            assert_int_equal(expect_skipped_update(&r), per_update);
            assert_int_equal(attn_learner_skipped(r.ln), 2 * per_update);

            r.w.reward = 1.0f;
            assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
            expect_good_update(&r, (attn_loss_kind)kind);
            assert_int_equal(attn_learner_skipped(r.ln), 2 * per_update);
            rig_close(&r);
        }
}

/* Parameters set so large (alternating in sign) that the learner's forward pass overflows: the loss is not
 * finite, and the update is skipped, leaving those parameters exactly as they were set. */
static void test_overflowing_forward_skips_the_update(void **unused)
{
    (void)unused;
    for (int kind = ATTN_LOSS_A2C; kind <= ATTN_LOSS_PPO; kind++) {
        rig r;
        rig_open(&r, (attn_loss_kind)kind, ATTN_OPTIM_ADAM);
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
        expect_good_update(&r, (attn_loss_kind)kind);
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
        float *p = attn_model_params(r.model);
        const size_t np = attn_model_param_count(r.model);
        float *good = errors_copy_floats(p, np);
        for (size_t i = 0; i < np; i++) p[i] = i % 2 ? 1e30f : -1e30f;
        assert_int_equal(expect_skipped_update(&r), steps_per_update((attn_loss_kind)kind));

        /* Acting with such weights makes the recurrent state non-finite: the collect says so. */
        EXPECT_STATUS(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_ERR_NONFINITE,
                      "non-finite");
        /* With good weights back, the next collect starts afresh and the training goes on. */
        memcpy(p, good, np * sizeof(float));
        assert_int_equal(attn_rollout_collect(r.ro, r.model, &r.env, ATTN_ACT_SAMPLE), ATTN_OK);
        expect_good_update(&r, (attn_loss_kind)kind);
        free(good);
        rig_close(&r);
    }
}

/* ---- attn_optimizer_step on its own ------------------------------------------------------------------------ */

static void optimizer_rig(attn_config **cfg, attn_model **model, attn_optimizer **opt, attn_optim_kind kind)
{
    *cfg = tiny_config();
    assert_non_null(*cfg);
    assert_int_equal(attn_model_create(model, *cfg, 2), ATTN_OK);
    assert_int_equal(attn_optimizer_create(opt, *model, kind), ATTN_OK);
    if (kind == ATTN_OPTIM_RMSPROP || kind == ATTN_OPTIM_SGD)
        assert_int_equal(attn_optimizer_set(*opt, ATTN_OPT_MOMENTUM, 0.9), ATTN_OK);
    /* One ordinary step, so every slot holds something of its own. */
    test_rng rng = {3};
    fill_uniform(&rng, attn_model_grads(*model), attn_model_param_count(*model), -1.0f, 1.0f);
    assert_int_equal(attn_optimizer_step(*opt, *model, NULL), ATTN_OK);
}

/* A NaN or infinite gradient anywhere: ATTN_ERR_NONFINITE, and parameters, slots, step count, learning rate and
 * the gradients themselves are untouched. */
static void test_nonfinite_gradient_changes_nothing(void **unused)
{
    (void)unused;
    for (int kind = ATTN_OPTIM_RMSPROP; kind <= ATTN_OPTIM_SGD; kind++) {
        attn_config *cfg;
        attn_model *model;
        attn_optimizer *opt;
        optimizer_rig(&cfg, &model, &opt, (attn_optim_kind)kind);
        const size_t np = attn_model_param_count(model);
        float *g = attn_model_grads(model);
        const size_t where[] = {0, np / 2, np - 1};
        const float bad[] = {NAN, INFINITY, -INFINITY};
        for (size_t w = 0; w < 3; w++)
            for (size_t b = 0; b < 3; b++) {
                test_rng rng = {w * 3 + b + 10};
                fill_uniform(&rng, g, np, -1.0f, 1.0f);
                g[where[w]] = bad[b];
                float *grads = errors_copy_floats(g, np);
                const double lr = attn_optimizer_current_lr(opt);
                training_snapshot before;
                snapshot_take(&before, model, opt);
                float norm = 0.0f;
                EXPECT_STATUS(attn_optimizer_step(opt, model, &norm), ATTN_ERR_NONFINITE, "gradient");
                assert_false(isfinite(norm)); /* reported, so a host can log it */
                snapshot_expect_unchanged(&before, model, opt);
                assert_memory_equal(g, grads, np * sizeof(float));
                assert_true(attn_optimizer_current_lr(opt) == lr);
                free(grads);
            }
        attn_optimizer_destroy(opt);
        attn_model_destroy(model);
        attn_config_destroy(cfg);
    }
}

/* A finite gradient whose step would overflow: g² beyond the float range in RMSProp's and Adam's second
 * moments, a step beyond it in SGD. Without clipping the step is refused whole; with clipping it is taken. */
static void test_overflowing_step_changes_nothing(void **unused)
{
    (void)unused;
    for (int kind = ATTN_OPTIM_RMSPROP; kind <= ATTN_OPTIM_SGD; kind++) {
        attn_config *cfg;
        attn_model *model;
        attn_optimizer *opt;
        optimizer_rig(&cfg, &model, &opt, (attn_optim_kind)kind);
        assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_MAX_GRAD_NORM, 0.0), ATTN_OK);
        if (kind == ATTN_OPTIM_SGD) assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_LR, 1e10), ATTN_OK);
        const size_t np = attn_model_param_count(model);
        float *g = attn_model_grads(model);
        test_rng rng = {kind + 40};
        fill_uniform(&rng, g, np, -1.0f, 1.0f);
        g[np - 1] = 1e30f; /* finite; its square, 1e60, is not a float */
        training_snapshot before;
        snapshot_take(&before, model, opt);
        float norm = 0.0f;
        EXPECT_STATUS(attn_optimizer_step(opt, model, &norm), ATTN_ERR_NONFINITE, "non-finite");
        assert_true(isfinite(norm));
        snapshot_expect_unchanged(&before, model, opt);

        /* Clipped to the default norm, the same gradient makes an ordinary step. */
        assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_MAX_GRAD_NORM, 40.0), ATTN_OK);
        if (kind == ATTN_OPTIM_SGD) assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_LR, 1e-3), ATTN_OK);
        snapshot_take(&before, model, opt);
        assert_int_equal(attn_optimizer_step(opt, model, &norm), ATTN_OK);
        assert_int_equal(attn_optimizer_steps(opt), before.steps + 1);
        const float *p = attn_model_params(model);
        for (size_t i = 0; i < np; i++) assert_true(isfinite(p[i]));
        snapshot_free(&before);
        attn_optimizer_destroy(opt);
        attn_model_destroy(model);
        attn_config_destroy(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_reward_skips_the_update),
        cmocka_unit_test(test_overflowing_forward_skips_the_update),
        cmocka_unit_test(test_nonfinite_gradient_changes_nothing),
        cmocka_unit_test(test_overflowing_step_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
