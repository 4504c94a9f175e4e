/*
 * Optimizers: every update rule against numbers worked out by hand (the arithmetic is in the comments; nothing
 * here recomputes a formula the library uses), clipping, the learning-rate schedule, refusal of non-finite
 * gradients with nothing changed, the knobs and their defaults, the slots, and every bad argument.
 *
 * Gradients follow one pattern on a tiny model: g = 0.5 at even indices, −0.25 at odd ones, so a rule applied
 * to the wrong entry, to only part of the vector, or with a wrong sign shows up. Parameters start at 0 unless
 * weight decay needs something to decay, so each parameter is exactly minus the sum of its updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "test_util.h"

#define G_EVEN 0.5f
#define G_ODD (-0.25f)
#define NUM_KINDS 4
#define NUM_KNOBS (ATTN_OPT_LR_END + 1)

/* ---- Helpers ------------------------------------------------------------------------------------------- */

static attn_model *tiny_model(void)
{
    attn_config *cfg = tiny_config();
    assert_non_null(cfg);
    attn_model *m = NULL;
    assert_int_equal(attn_model_create(&m, cfg, 7), ATTN_OK);
    attn_config_destroy(cfg);
    return m;
}

static void fill(float *x, size_t n, float even, float odd)
{
    for (size_t i = 0; i < n; i++) x[i] = i % 2 ? odd : even;
}

/* A model whose parameters are all `theta` and whose gradients follow the even/odd pattern, and an optimizer
 * of `kind` for it with clipping off (the pattern's norm, √(n·0.15625), depends on the model's size). */
typedef struct rig {
    attn_model *model;
    attn_optimizer *opt;
    size_t n;
    float *theta, *g;
} rig;

static rig rig_make(attn_optim_kind kind, float theta)
{
    rig r;
    r.model = tiny_model();
    r.n = attn_model_param_count(r.model);
    assert_true(r.n > 4);
    r.theta = attn_model_params(r.model);
    r.g = attn_model_grads(r.model);
    fill(r.theta, r.n, theta, theta);
    fill(r.g, r.n, G_EVEN, G_ODD);
    assert_int_equal(attn_optimizer_create(&r.opt, r.model, kind), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_MAX_GRAD_NORM, 0.0), ATTN_OK);
    /* The hand computations below use lr 2e-4 (the default until 0.2; any rate would do). */
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 2e-4), ATTN_OK);
    return r;
}

static void rig_free(rig *r)
{
    attn_optimizer_destroy(r->opt);
    attn_model_destroy(r->model);
}

static float *slot_data(attn_optimizer *opt, int index)
{
    float *data = NULL;
    assert_int_equal(attn_optimizer_slot(opt, index, NULL, &data), ATTN_OK);
    assert_non_null(data);
    return data;
}

static void step_ok(rig *r)
{
    assert_int_equal(attn_optimizer_step(r->opt, r->model, NULL), ATTN_OK);
}

/* Float storage keeps about 7 digits of the hand-worked values. */
#define REL_TOL 2e-6

static void expect_near_at(double got, double want, const char *what, size_t i, int line)
{
    if (fabs(got - want) > REL_TOL * fabs(want) + 1e-12)
        fail_msg("line %d: %s[%zu] = %.10g, expected %.10g", line, what, i, got, want);
}
#define expect_near(got, want, what, i) expect_near_at((got), (want), (what), (i), __LINE__)

/* Checks x at the first two and last two entries against the value for even and for odd indices. */
static void expect_pattern_at(const float *x, size_t n, double even, double odd, const char *what, int line)
{
    const size_t idx[4] = {0, 1, n - 2, n - 1};
    for (int k = 0; k < 4; k++) expect_near_at(x[idx[k]], idx[k] % 2 ? odd : even, what, idx[k], line);
}
#define expect_pattern(x, n, even, odd, what) expect_pattern_at((x), (n), (even), (odd), (what), __LINE__)

/* Checks every entry, for the rules' "all of the vector" claims. */
static void expect_all_pattern(const float *x, size_t n, double even, double odd, const char *what)
{
    for (size_t i = 0; i < n; i++) expect_near_at(x[i], i % 2 ? odd : even, what, i, __LINE__);
}

static void expect_failure(attn_status got, attn_status want, const char *keyword)
{
    if (got != want)
        fail_msg("status %d (%s), expected %d (%s)", (int)got, attn_status_str(got), (int)want,
                 attn_status_str(want));
    const char *msg = attn_last_error();
    if (!msg || !msg[0]) fail_msg("no last error after a failure");
    if (keyword && !strstr(msg, keyword)) fail_msg("last error \"%s\" does not mention \"%s\"", msg, keyword);
}

/* ---- Knobs -------------------------------------------------------------------------------------------- */

static void defaults_per_kind(void **state)
{
    (void)state;
    attn_model *m = tiny_model();
    /* ε: RMSProp's 0.01 sits inside the square root, Adam's 1e-8 outside; SGD ignores it (Adam's value). */
    const double eps[NUM_KINDS] = {0.01, 1e-8, 1e-8, 1e-8};
    for (int k = 0; k < NUM_KINDS; k++) {
        attn_optimizer *o = NULL;
        assert_int_equal(attn_optimizer_create(&o, m, (attn_optim_kind)k), ATTN_OK);
        assert_int_equal(attn_optimizer_kind(o), k);
        const double want[NUM_KNOBS] = {
            [ATTN_OPT_LR] = 5e-4,          [ATTN_OPT_EPSILON] = eps[k],      [ATTN_OPT_DECAY] = 0.99,
            [ATTN_OPT_MOMENTUM] = 0.0,     [ATTN_OPT_BETA1] = 0.9,           [ATTN_OPT_BETA2] = 0.999,
            [ATTN_OPT_WEIGHT_DECAY] = 0.01, [ATTN_OPT_MAX_GRAD_NORM] = 0.5,  [ATTN_OPT_LR_DECAY_STEPS] = 0.0,
            [ATTN_OPT_LR_END] = 0.0,
        };
        for (int p = 0; p < NUM_KNOBS; p++) {
            double v = -1.0;
            assert_int_equal(attn_optimizer_get(o, (attn_optim_param)p, &v), ATTN_OK);
            if (v != want[p]) fail_msg("kind %d knob %d is %g by default, expected %g", k, p, v, want[p]);
        }
        assert_int_equal(attn_optimizer_steps(o), 0);
        assert_true(attn_optimizer_current_lr(o) == 5e-4);
        attn_optimizer_destroy(o);
    }
    attn_model_destroy(m);
}

static void set_get_round_trip(void **state)
{
    (void)state;
    attn_model *m = tiny_model();
    attn_optimizer *o = NULL;
    assert_int_equal(attn_optimizer_create(&o, m, ATTN_OPTIM_ADAMW), ATTN_OK);
    const double value[NUM_KNOBS] = {0.125, 0.0, 0.5, 0.75, 0.0, 0.25, 3.5, 0.0, 1000.0, 1e-5};
    for (int p = 0; p < NUM_KNOBS; p++)
        assert_int_equal(attn_optimizer_set(o, (attn_optim_param)p, value[p]), ATTN_OK);
    for (int p = 0; p < NUM_KNOBS; p++) {
        double v = -1.0;
        assert_int_equal(attn_optimizer_get(o, (attn_optim_param)p, &v), ATTN_OK);
        if (v != value[p]) fail_msg("knob %d reads %g after setting %g", p, v, value[p]);
    }
    /* The upper ends just below 1 are accepted too. */
    assert_int_equal(attn_optimizer_set(o, ATTN_OPT_BETA2, 0.999999), ATTN_OK);
    attn_optimizer_destroy(o);
    attn_model_destroy(m);
}

static void bad_knobs_change_nothing(void **state)
{
    (void)state;
    attn_model *m = tiny_model();
    attn_optimizer *o = NULL;
    assert_int_equal(attn_optimizer_create(&o, m, ATTN_OPTIM_RMSPROP), ATTN_OK);
    const struct {
        attn_optim_param p;
        double v;
        attn_status want;
        const char *keyword;
    } bad[] = {
        {ATTN_OPT_LR, -1e-4, ATTN_ERR_INVALID, "ATTN_OPT_LR"},
        {ATTN_OPT_LR_END, -1.0, ATTN_ERR_INVALID, "ATTN_OPT_LR_END"},
        {ATTN_OPT_EPSILON, -1e-8, ATTN_ERR_INVALID, "ATTN_OPT_EPSILON"},
        {ATTN_OPT_MOMENTUM, -0.5, ATTN_ERR_INVALID, "ATTN_OPT_MOMENTUM"},
        {ATTN_OPT_WEIGHT_DECAY, -0.01, ATTN_ERR_INVALID, "ATTN_OPT_WEIGHT_DECAY"},
        {ATTN_OPT_MAX_GRAD_NORM, -40.0, ATTN_ERR_INVALID, "ATTN_OPT_MAX_GRAD_NORM"},
        {ATTN_OPT_LR_DECAY_STEPS, -1.0, ATTN_ERR_INVALID, "ATTN_OPT_LR_DECAY_STEPS"},
        {ATTN_OPT_DECAY, 1.0, ATTN_ERR_INVALID, "ATTN_OPT_DECAY"},
        {ATTN_OPT_DECAY, -0.01, ATTN_ERR_INVALID, "ATTN_OPT_DECAY"},
        {ATTN_OPT_BETA1, 1.0, ATTN_ERR_INVALID, "ATTN_OPT_BETA1"},
        {ATTN_OPT_BETA1, -0.1, ATTN_ERR_INVALID, "ATTN_OPT_BETA1"},
        {ATTN_OPT_BETA2, 1.5, ATTN_ERR_INVALID, "ATTN_OPT_BETA2"},
        {ATTN_OPT_LR, NAN, ATTN_ERR_NONFINITE, "ATTN_OPT_LR"},
        {ATTN_OPT_MAX_GRAD_NORM, INFINITY, ATTN_ERR_NONFINITE, "ATTN_OPT_MAX_GRAD_NORM"},
        {ATTN_OPT_DECAY, -INFINITY, ATTN_ERR_NONFINITE, "ATTN_OPT_DECAY"},
        {(attn_optim_param)NUM_KNOBS, 0.5, ATTN_ERR_INVALID, "parameter"},
        {(attn_optim_param)-1, 0.5, ATTN_ERR_INVALID, "parameter"},
    };
    double before[NUM_KNOBS], after[NUM_KNOBS];
    for (int p = 0; p < NUM_KNOBS; p++) assert_int_equal(attn_optimizer_get(o, (attn_optim_param)p, &before[p]), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_failure(attn_optimizer_set(o, bad[i].p, bad[i].v), bad[i].want, bad[i].keyword);
    for (int p = 0; p < NUM_KNOBS; p++) assert_int_equal(attn_optimizer_get(o, (attn_optim_param)p, &after[p]), 0);
    assert_memory_equal(before, after, sizeof before);
    attn_optimizer_destroy(o);
    attn_model_destroy(m);
}

static void bad_arguments(void **state)
{
    (void)state;
    attn_model *m = tiny_model();
    attn_optimizer *o = (attn_optimizer *)&o; /* a non-NULL junk value create must overwrite */
    expect_failure(attn_optimizer_create(NULL, m, ATTN_OPTIM_ADAM), ATTN_ERR_NULL, "out");
    expect_failure(attn_optimizer_create(&o, NULL, ATTN_OPTIM_ADAM), ATTN_ERR_NULL, "model");
    assert_null(o);
    o = (attn_optimizer *)&o;
    expect_failure(attn_optimizer_create(&o, m, (attn_optim_kind)4), ATTN_ERR_INVALID, "kind");
    assert_null(o);
    expect_failure(attn_optimizer_create(&o, m, (attn_optim_kind)-1), ATTN_ERR_INVALID, "kind");

    assert_int_equal(attn_optimizer_create(&o, m, ATTN_OPTIM_ADAM), ATTN_OK);
    double v;
    expect_failure(attn_optimizer_set(NULL, ATTN_OPT_LR, 0.1), ATTN_ERR_NULL, "opt");
    expect_failure(attn_optimizer_get(NULL, ATTN_OPT_LR, &v), ATTN_ERR_NULL, "opt");
    expect_failure(attn_optimizer_get(o, ATTN_OPT_LR, NULL), ATTN_ERR_NULL, "value");
    expect_failure(attn_optimizer_get(o, (attn_optim_param)NUM_KNOBS, &v), ATTN_ERR_INVALID, "parameter");
    expect_failure(attn_optimizer_step(NULL, m, NULL), ATTN_ERR_NULL, "opt");
    expect_failure(attn_optimizer_step(o, NULL, NULL), ATTN_ERR_NULL, "model");
    expect_failure(attn_optimizer_set_steps(NULL, 3), ATTN_ERR_NULL, "opt");
    expect_failure(attn_optimizer_set_steps(o, -1), ATTN_ERR_INVALID, "step");
    assert_int_equal(attn_optimizer_steps(o), 0);
    const char *name = NULL;
    float *data = NULL;
    expect_failure(attn_optimizer_slot(NULL, 0, &name, &data), ATTN_ERR_NULL, "opt");
    expect_failure(attn_optimizer_slot(o, -1, &name, &data), ATTN_ERR_INVALID, "slot");
    expect_failure(attn_optimizer_slot(o, 2, &name, &data), ATTN_ERR_INVALID, "slot");
    assert_null(name);
    assert_null(data);

    /* Getters on NULL answer something harmless; destroy accepts NULL. */
    assert_int_equal(attn_optimizer_steps(NULL), 0);
    assert_int_equal(attn_optimizer_slot_count(NULL), 0);
    assert_true(attn_optimizer_current_lr(NULL) == 0.0);
    assert_int_equal(attn_optimizer_kind(NULL), ATTN_OPTIM_RMSPROP);
    attn_optimizer_destroy(NULL);
    attn_optimizer_destroy(o);
    attn_model_destroy(m);
}

/* Another model with a different parameter count: refused, and neither model nor optimizer changes. */
static void refuses_another_model(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_SGD, 0.0f);
    attn_config *cfg = minatar_config(4, 3);
    attn_model *other = NULL;
    assert_int_equal(attn_model_create(&other, cfg, 3), ATTN_OK);
    attn_config_destroy(cfg);
    const size_t n2 = attn_model_param_count(other);
    assert_true(n2 != r.n);
    fill(attn_model_grads(other), n2, 1.0f, 1.0f);
    float *before = malloc(n2 * sizeof *before);
    assert_non_null(before);
    memcpy(before, attn_model_params(other), n2 * sizeof *before);
    float norm = -1.0f;
    expect_failure(attn_optimizer_step(r.opt, other, &norm), ATTN_ERR_INVALID, "parameters");
    assert_memory_equal(before, attn_model_params(other), n2 * sizeof *before);
    assert_int_equal(attn_optimizer_steps(r.opt), 0);
    /* The model it was made for still steps. */
    step_ok(&r);
    free(before);
    attn_model_destroy(other);
    rig_free(&r);
}

/* ---- Slots -------------------------------------------------------------------------------------------- */

static void slots_per_kind(void **state)
{
    (void)state;
    attn_model *m = tiny_model();
    const size_t n = attn_model_param_count(m);
    const int count[NUM_KINDS] = {2, 2, 2, 1};
    const char *names[NUM_KINDS][2] = {{"ms", "mom"}, {"m", "v"}, {"m", "v"}, {"mom", NULL}};
    /* RMSProp's mean square starts at 1 as in TF1's RMSPropOptimizer (docs/training.md); the rest at 0. */
    const float start[NUM_KINDS][2] = {{1.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}};
    for (int k = 0; k < NUM_KINDS; k++) {
        attn_optimizer *o = NULL;
        assert_int_equal(attn_optimizer_create(&o, m, (attn_optim_kind)k), ATTN_OK);
        assert_int_equal(attn_optimizer_slot_count(o), count[k]);
        float *data[2] = {NULL, NULL};
        for (int s = 0; s < count[k]; s++) {
            const char *name = NULL;
            assert_int_equal(attn_optimizer_slot(o, s, &name, &data[s]), ATTN_OK);
            assert_non_null(name);
            assert_string_equal(name, names[k][s]);
            for (size_t i = 0; i < n; i++)
                if (data[s][i] != start[k][s]) fail_msg("kind %d slot %s[%zu] starts at %g", k, name, i, data[s][i]);
        }
        /* Two slots never overlap: writing all of one leaves the other alone. */
        if (count[k] == 2) {
            assert_true(data[0] + n <= data[1] || data[1] + n <= data[0]);
            fill(data[1], n, 7.0f, 7.0f);
            assert_true(data[0][n - 1] == start[k][0]);
        }
        attn_optimizer_destroy(o);
    }
    attn_model_destroy(m);
}

/* ---- RMSProp ------------------------------------------------------------------------------------------ */

/*
 * Defaults but the rig's lr 2e-4: ρ 0.99, ε 0.01, μ 0, ms starting at 1.
 *   g = 0.5:   ms = 0.99·1 + 0.01·0.25   = 0.9925;   √(0.9925 + 0.01) = √1.0025   = 1.00124922
 *              mom = 2e-4·0.5 / 1.00124922  = 1e-4 / 1.00124922  = 9.98752339e-5
 *   g = −0.25: ms = 0.99·1 + 0.01·0.0625 = 0.990625; √(0.990625 + 0.01) = √1.000625 = 1.00031245
 *              mom = 2e-4·(−0.25) / 1.00031245 = −5e-5 / 1.00031245 = −4.99843823e-5
 * θ goes from 0 to −mom. With ε outside the root it would be 1e-4 / (√0.9925 + 0.01) = 9.9376e-5 instead.
 */
static void rmsprop_first_step(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_RMSPROP, 0.0f);
    float norm = -1.0f;
    assert_int_equal(attn_optimizer_step(r.opt, r.model, &norm), ATTN_OK);
    assert_true(norm > 0.0f);
    expect_all_pattern(r.theta, r.n, -9.98752339e-5, 4.99843823e-5, "theta");
    expect_pattern(slot_data(r.opt, 0), r.n, 0.9925, 0.990625, "ms");
    expect_pattern(slot_data(r.opt, 1), r.n, 9.98752339e-5, -4.99843823e-5, "mom");
    /* Without clipping the gradients are left exactly as they were. */
    expect_all_pattern(r.g, r.n, 0.5, -0.25, "g");
    assert_int_equal(attn_optimizer_steps(r.opt), 1);
    rig_free(&r);
}

/*
 * A host that wants PyTorch's start writes zeros into "ms". Then for g = 0.5:
 *   ms = 0.01·0.25 = 0.0025; √(0.0025 + 0.01) = √0.0125 = 0.111803399; mom = 1e-4 / 0.111803399 = 8.94427191e-4
 * and for g = −0.25: ms = 0.01·0.0625 = 0.000625; √0.010625 = 0.103077641; mom = −5e-5 / 0.103077641
 *   = −4.85071250e-4.
 */
static void rmsprop_from_zero_mean_square(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_RMSPROP, 0.0f);
    fill(slot_data(r.opt, 0), r.n, 0.0f, 0.0f);
    step_ok(&r);
    expect_pattern(slot_data(r.opt, 0), r.n, 0.0025, 0.000625, "ms");
    expect_pattern(r.theta, r.n, -8.94427191e-4, 4.85071250e-4, "theta");
    rig_free(&r);
}

/*
 * lr 0.01, μ 0.9, the same gradients twice.
 * g = 0.5:
 *   step 1: ms1 = 0.9925, mom1 = 0.005 / √1.0025 = 0.005 / 1.00124922 = 4.99376169e-3
 *   step 2: ms2 = 0.99·0.9925 + 0.0025 = 0.982575 + 0.0025 = 0.985075; √(0.995075) = 0.997534461
 *           mom2 = 0.9·4.99376169e-3 + 0.005 / 0.997534461 = 4.49438552e-3 + 5.01235817e-3 = 9.50674369e-3
 *   θ2 = −(mom1 + mom2) = −1.45005054e-2
 * g = −0.25:
 *   step 1: ms1 = 0.990625, mom1 = −0.0025 / 1.00031245 = −2.49921912e-3
 *   step 2: ms2 = 0.99·0.990625 + 0.000625 = 0.98071875 + 0.000625 = 0.98134375; √0.99134375 = 0.995662468
 *           mom2 = 0.9·(−2.49921912e-3) − 0.0025 / 0.995662468 = −2.24929721e-3 − 2.51089107e-3 = −4.76018828e-3
 *   θ2 = −(mom1 + mom2) = 7.25940739e-3
 */
static void rmsprop_momentum_two_steps(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_RMSPROP, 0.0f);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 0.01), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_MOMENTUM, 0.9), ATTN_OK);
    step_ok(&r);
    expect_pattern(slot_data(r.opt, 1), r.n, 4.99376169e-3, -2.49921912e-3, "mom");
    step_ok(&r);
    expect_pattern(slot_data(r.opt, 0), r.n, 0.985075, 0.98134375, "ms");
    expect_pattern(slot_data(r.opt, 1), r.n, 9.50674369e-3, -4.76018828e-3, "mom");
    expect_all_pattern(r.theta, r.n, -1.45005054e-2, 7.25940739e-3, "theta");
    rig_free(&r);
}

/* ---- Adam and AdamW ----------------------------------------------------------------------------------- */

/*
 * Step 1, defaults and the rig's lr (lr 2e-4, β1 0.9, β2 0.999, ε 1e-8): m = 0.1·g, v = 0.001·g², and the bias correction
 * undoes both factors: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g):
 *   g = 0.5: m = 0.05, v = 0.00025, θ = −2e-4·0.5/0.50000001 = −1.99999996e-4
 *   g = −0.25: m = −0.025, v = 0.0000625, θ = +1.99999992e-4
 */
static void adam_first_step_is_lr_times_sign(void **state)
{
    (void)state;
    for (int k = ATTN_OPTIM_ADAM; k <= ATTN_OPTIM_ADAMW; k++) {
        rig r = rig_make((attn_optim_kind)k, 0.0f);
        step_ok(&r);
        expect_all_pattern(r.theta, r.n, -1.99999996e-4, 1.99999992e-4, "theta");
        expect_pattern(slot_data(r.opt, 0), r.n, 0.05, -0.025, "m");
        expect_pattern(slot_data(r.opt, 1), r.n, 0.00025, 0.0000625, "v");
        rig_free(&r);
    }
}

/*
 * lr 0.01; step 1 with g1 (0.5 / −0.25), step 2 with g2 (1.0 / 0.1). 1 − 0.9² = 0.19, 1 − 0.999² = 0.001999.
 * even: m1 = 0.05, v1 = 0.00025, u1 = 0.01·0.5/0.50000001 = 9.9999998e-3
 *       m2 = 0.9·0.05 + 0.1·1.0 = 0.145; v2 = 0.999·0.00025 + 0.001·1 = 0.00124975
 *       m̂ = 0.145/0.19 = 0.763157895; v̂ = 0.00124975/0.001999 = 0.625187594; √v̂ = 0.790688051
 *       u2 = 0.01·0.763157895/0.790688061 = 9.65182014e-3; θ2 = −(u1 + u2) = −1.96518199e-2
 * odd:  m1 = −0.025, v1 = 0.0000625, u1 = −0.01·0.25/0.25000001 = −9.9999996e-3
 *       m2 = 0.9·(−0.025) + 0.1·0.1 = −0.0125; v2 = 0.999·0.0000625 + 0.001·0.01 = 0.0000724375
 *       m̂ = −0.0125/0.19 = −0.0657894737; v̂ = 0.0000724375/0.001999 = 0.0362368684; √v̂ = 0.190359839
 *       u2 = 0.01·(−0.0657894737)/0.190359849 = −3.45605830e-3; θ2 = 1.34560579e-2
 */
static void adam_two_steps(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_ADAM, 0.0f);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 0.01), ATTN_OK);
    step_ok(&r);
    fill(r.g, r.n, 1.0f, 0.1f);
    step_ok(&r);
    expect_pattern(slot_data(r.opt, 0), r.n, 0.145, -0.0125, "m");
    expect_pattern(slot_data(r.opt, 1), r.n, 0.00124975, 0.0000724375, "v");
    expect_all_pattern(r.theta, r.n, -1.96518199e-2, 1.34560579e-2, "theta");
    rig_free(&r);
}

/* ε = 0.5 makes its place visible: outside the root, step 1 is 2e-4·0.5/(0.5 + 0.5) = 1e-4 for g = 0.5 and
 * 2e-4·0.25/(0.25 + 0.5) = 6.66666667e-5 for g = −0.25 (inside it would be 2e-4·0.5/√0.75 = 1.1547e-4). */
static void adam_epsilon_outside_the_root(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_ADAM, 0.0f);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_EPSILON, 0.5), ATTN_OK);
    step_ok(&r);
    expect_pattern(r.theta, r.n, -1e-4, 6.66666667e-5, "theta");
    rig_free(&r);
}

/*
 * θ0 = 2, lr 0.01, weight decay 0.01 (default).
 *   AdamW: θ ← 2 − 0.01·0.01·2 = 1.9998, then the Adam step ∓0.01 (≈ lr·sign(g), as above):
 *          g = 0.5 → 1.9898; g = −0.25 → 2.0098.
 *   Adam ignores the weight decay: 1.99 and 2.01.
 */
static void adamw_decays_decoupled(void **state)
{
    (void)state;
    const double want[2][2] = {{1.99, 2.01}, {1.9898, 2.0098}};
    for (int k = ATTN_OPTIM_ADAM; k <= ATTN_OPTIM_ADAMW; k++) {
        rig r = rig_make((attn_optim_kind)k, 2.0f);
        assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 0.01), ATTN_OK);
        step_ok(&r);
        expect_all_pattern(r.theta, r.n, want[k - ATTN_OPTIM_ADAM][0], want[k - ATTN_OPTIM_ADAM][1], "theta");
        rig_free(&r);
    }
}

/*
 * Bias correction counts the optimizer's steps, so a restored step count carries on where it was: after
 * set_steps(1) the first update is step t = 2. g = 0.5, defaults and lr 2e-4: m = 0.05, v = 0.00025,
 * m̂ = 0.05/0.19 = 0.263157895, v̂ = 0.00025/0.001999 = 0.125062531, √v̂ = 0.353641812,
 * θ = −2e-4·0.263157895/0.353641822 = −1.48827361e-4.
 */
static void adam_bias_correction_follows_set_steps(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_ADAM, 0.0f);
    assert_int_equal(attn_optimizer_set_steps(r.opt, 1), ATTN_OK);
    step_ok(&r);
    expect_near(r.theta[0], -1.48827361e-4, "theta", (size_t)0);
    assert_int_equal(attn_optimizer_steps(r.opt), 2);
    rig_free(&r);
}

/* ---- SGD ---------------------------------------------------------------------------------------------- */

/*
 * lr 0.1; g1 = 0.5 / −0.25, then g2 = −0.25 / 0.5 (the pattern swapped).
 *   μ = 0:   even: θ1 = −0.05, θ2 = −0.05 + 0.025 = −0.025; odd: θ1 = 0.025, θ2 = 0.025 − 0.05 = −0.025.
 *   μ = 0.9: even: mom1 = 0.5, θ1 = −0.05; mom2 = 0.45 − 0.25 = 0.2, θ2 = −0.05 − 0.02 = −0.07.
 *            odd:  mom1 = −0.25, θ1 = 0.025; mom2 = −0.225 + 0.5 = 0.275, θ2 = 0.025 − 0.0275 = −0.0025.
 */
static void sgd_with_and_without_momentum(void **state)
{
    (void)state;
    const double mu[2] = {0.0, 0.9};
    const double theta2[2][2] = {{-0.025, -0.025}, {-0.07, -0.0025}};
    const double mom2[2][2] = {{-0.25, 0.5}, {0.2, 0.275}};
    for (int c = 0; c < 2; c++) {
        rig r = rig_make(ATTN_OPTIM_SGD, 0.0f);
        assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 0.1), ATTN_OK);
        assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_MOMENTUM, mu[c]), ATTN_OK);
        step_ok(&r);
        expect_all_pattern(r.theta, r.n, -0.05, 0.025, "theta");
        fill(r.g, r.n, G_ODD, G_EVEN);
        step_ok(&r);
        expect_all_pattern(r.theta, r.n, theta2[c][0], theta2[c][1], "theta");
        expect_pattern(slot_data(r.opt, 0), r.n, mom2[c][0], mom2[c][1], "mom");
        rig_free(&r);
    }
}

/* ---- Clipping ----------------------------------------------------------------------------------------- */

/* Gradients zero but for the first (48) and the last (64): global norm √(48² + 64²) = √(2304 + 4096) = 80.
 * SGD with lr 1 and no momentum, so θ = −(the gradient used). */
static rig clip_rig(double max_norm)
{
    rig r = rig_make(ATTN_OPTIM_SGD, 0.0f);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 1.0), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_MAX_GRAD_NORM, max_norm), ATTN_OK);
    fill(r.g, r.n, 0.0f, 0.0f);
    r.g[0] = 48.0f;
    r.g[r.n - 1] = 64.0f;
    return r;
}

/* max 40 < 80: every gradient is scaled by 40/80 = 0.5: 24 and 32, the others stay 0. */
static void clipping_scales_to_the_max_norm(void **state)
{
    (void)state;
    rig r = clip_rig(40.0);
    float norm = -1.0f;
    assert_int_equal(attn_optimizer_step(r.opt, r.model, &norm), ATTN_OK);
    assert_true(norm == 80.0f);
    assert_true(r.g[0] == 24.0f && r.g[r.n - 1] == 32.0f);
    assert_true(r.theta[0] == -24.0f && r.theta[r.n - 1] == -32.0f);
    for (size_t i = 1; i + 1 < r.n; i++) assert_true(r.g[i] == 0.0f && r.theta[i] == 0.0f);
    rig_free(&r);

    /* The default is 0.5: the same gradients are scaled by 0.5/80, to 0.3 and 0.4. */
    r = clip_rig(40.0);
    attn_optimizer_destroy(r.opt);
    assert_int_equal(attn_optimizer_create(&r.opt, r.model, ATTN_OPTIM_SGD), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 1.0), ATTN_OK);
    step_ok(&r);
    assert_float_equal(r.theta[0], -0.3f, 1e-7f);
    assert_float_equal(r.theta[r.n - 1], -0.4f, 1e-7f);
    rig_free(&r);
}

/* max 0 (off) and max 100 (> 80): nothing scaled, θ = −48 and −64; the norm is reported all the same. */
static void clipping_off_or_below(void **state)
{
    (void)state;
    const double max_norm[2] = {0.0, 100.0};
    for (int c = 0; c < 2; c++) {
        rig r = clip_rig(max_norm[c]);
        float norm = -1.0f;
        assert_int_equal(attn_optimizer_step(r.opt, r.model, &norm), ATTN_OK);
        assert_true(norm == 80.0f);
        assert_true(r.g[0] == 48.0f && r.g[r.n - 1] == 64.0f);
        assert_true(r.theta[0] == -48.0f && r.theta[r.n - 1] == -64.0f);
        rig_free(&r);
    }
}

/* ---- Learning-rate schedule --------------------------------------------------------------------------- */

/*
 * lr 0.1 → 0.02 over 10 steps: lr_t = 0.1 + (0.02 − 0.1)·min(1, t/10) = 0.1 − 0.008·t up to t = 10.
 *   t = 0: 0.1; t = 5: 0.1 − 0.04 = 0.06; t = 10: 0.02; t = 15: still 0.02.
 */
static void linear_learning_rate_decay(void **state)
{
    (void)state;
    rig r = rig_make(ATTN_OPTIM_SGD, 0.0f);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR, 0.1), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR_END, 0.02), ATTN_OK);
    assert_true(attn_optimizer_current_lr(r.opt) == 0.1); /* no decay steps yet: the end rate is unused */
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR_DECAY_STEPS, 10.0), ATTN_OK);
    expect_near(attn_optimizer_current_lr(r.opt), 0.1, "lr", (size_t)0);

    /* Five real steps with zero gradients move the schedule, not the parameters. */
    fill(r.g, r.n, 0.0f, 0.0f);
    for (int t = 0; t < 5; t++) step_ok(&r);
    assert_int_equal(attn_optimizer_steps(r.opt), 5);
    expect_near(attn_optimizer_current_lr(r.opt), 0.06, "lr", (size_t)5);
    assert_true(r.theta[0] == 0.0f);

    /* The sixth step uses the rate of t = 5: θ = −0.06·0.5 = −0.03; afterwards t = 6: 0.1 − 0.048 = 0.052. */
    fill(r.g, r.n, G_EVEN, G_ODD);
    step_ok(&r);
    expect_pattern(r.theta, r.n, -0.03, 0.015, "theta");
    expect_near(attn_optimizer_current_lr(r.opt), 0.052, "lr", (size_t)6);

    /* set_steps moves the schedule: the end, beyond it, and back. */
    assert_int_equal(attn_optimizer_set_steps(r.opt, 10), ATTN_OK);
    assert_int_equal(attn_optimizer_steps(r.opt), 10);
    assert_true(attn_optimizer_current_lr(r.opt) == 0.02);
    assert_int_equal(attn_optimizer_set_steps(r.opt, 15), ATTN_OK);
    assert_true(attn_optimizer_current_lr(r.opt) == 0.02);
    assert_int_equal(attn_optimizer_set_steps(r.opt, 0), ATTN_OK);
    assert_true(attn_optimizer_current_lr(r.opt) == 0.1);
    assert_int_equal(attn_optimizer_set_steps(r.opt, 5), ATTN_OK);
    expect_near(attn_optimizer_current_lr(r.opt), 0.06, "lr", (size_t)5);

    /* A rising schedule is linear just the same: 0.1 → 0.3 over 10 steps is 0.2 at t = 5. */
    assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_LR_END, 0.3), ATTN_OK);
    expect_near(attn_optimizer_current_lr(r.opt), 0.2, "lr", (size_t)5);
    rig_free(&r);
}

/* ---- Non-finite gradients ----------------------------------------------------------------------------- */

/* After one good step (so the slots are not at their start), one NaN or infinite gradient: the status, and
 * parameters, gradients, slots and step count all bit for bit as they were, even with clipping on. */
static void nonfinite_gradient_changes_nothing(void **state)
{
    (void)state;
    const float poison[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < NUM_KINDS; k++) {
        for (int p = 0; p < 3; p++) {
            rig r = rig_make((attn_optim_kind)k, 1.0f);
            assert_int_equal(attn_optimizer_set(r.opt, ATTN_OPT_MAX_GRAD_NORM, 1.0), ATTN_OK);
            step_ok(&r);
            fill(r.g, r.n, G_EVEN, G_ODD);
            r.g[r.n / 2] = poison[p];
            const size_t bytes = r.n * sizeof(float);
            const int nslots = attn_optimizer_slot_count(r.opt);
            float *saved = malloc(bytes * (size_t)(2 + nslots));
            assert_non_null(saved);
            memcpy(saved, r.theta, bytes);
            memcpy(saved + r.n, r.g, bytes);
            for (int s = 0; s < nslots; s++) memcpy(saved + (size_t)(2 + s) * r.n, slot_data(r.opt, s), bytes);

            float norm = 0.0f;
            expect_failure(attn_optimizer_step(r.opt, r.model, &norm), ATTN_ERR_NONFINITE, "gradient");
            assert_false(isfinite(norm));
            assert_memory_equal(saved, r.theta, bytes);
            assert_memory_equal(saved + r.n, r.g, bytes);
            for (int s = 0; s < nslots; s++)
                assert_memory_equal(saved + (size_t)(2 + s) * r.n, slot_data(r.opt, s), bytes);
            assert_int_equal(attn_optimizer_steps(r.opt), 1);
            free(saved);
            rig_free(&r);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_per_kind),
        cmocka_unit_test(set_get_round_trip),
        cmocka_unit_test(bad_knobs_change_nothing),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(refuses_another_model),
        cmocka_unit_test(slots_per_kind),
        cmocka_unit_test(rmsprop_first_step),
        cmocka_unit_test(rmsprop_from_zero_mean_square),
        cmocka_unit_test(rmsprop_momentum_two_steps),
        cmocka_unit_test(adam_first_step_is_lr_times_sign),
        cmocka_unit_test(adam_two_steps),
        cmocka_unit_test(adam_epsilon_outside_the_root),
        cmocka_unit_test(adamw_decays_decoupled),
        cmocka_unit_test(adam_bias_correction_follows_set_steps),
        cmocka_unit_test(sgd_with_and_without_momentum),
        cmocka_unit_test(clipping_scales_to_the_max_norm),
        cmocka_unit_test(clipping_off_or_below),
        cmocka_unit_test(linear_learning_rate_decay),
        cmocka_unit_test(nonfinite_gradient_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
