/*
 * The convolution plan (attn_state_set_conv_plan, $ATTN_CONV_PLAN, lib/conv_planner.c): every fixed plan this
 * CPU can run computes the same network as the plain im2col + BLAS plan (within float rounding) — outputs,
 * maps and gradients; a measured plan, read back and set on another state, repeats its run bit for bit; the
 * default is the rule; bad plans are refused with the plan unchanged, from the API and from the environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

enum { B = 3, T = 2, C = 4, A = 5 };

typedef struct run_out {
    float logits[T * B * A], values[T * B];
    float *maps, *grads;
    size_t nmaps, nparams;
} run_out;

/* T recorded steps on fixed observations, then attn_backward with fixed output gradients, under `plan` (NULL:
 * whatever the state starts with). */
static void run(attn_model *m, const char *plan, run_out *o)
{
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
    if (plan) assert_int_equal(attn_state_set_conv_plan(s, plan), ATTN_OK);
    test_rng r = {5};
    uint8_t obs[B * 10 * 10 * C];
    int gh, gw, N;
    attn_config_get(attn_model_config(m), ATTN_CFG_GRID_H, &gh), attn_config_get(attn_model_config(m), ATTN_CFG_GRID_W, &gw);
    attn_config_get(attn_model_config(m), ATTN_CFG_NUM_QUERIES, &N);
    o->nmaps = (size_t)B * N * gh * gw;
    o->maps = malloc(sizeof(float) * o->nmaps * T);
    for (int t = 0; t < T; t++) {
        for (size_t i = 0; i < sizeof obs; i++) obs[i] = (uint8_t)trng_int(&r, 2);
        assert_int_equal(attn_forward(m, s, ATTN_FORWARD_RECORD, obs, sizeof obs, NULL, NULL, NULL,
                                      o->logits + t * B * A, o->values + t * B),
                         ATTN_OK);
        assert_int_equal(attn_get_maps(s, o->maps + (size_t)t * o->nmaps, o->nmaps), ATTN_OK);
    }
    float dl[T * B * A], dv[T * B];
    fill_uniform(&r, dl, T * B * A, -1, 1);
    fill_uniform(&r, dv, T * B, -1, 1);
    assert_int_equal(attn_model_zero_grad(m), ATTN_OK);
    assert_int_equal(attn_backward(m, s, dl, dv), ATTN_OK);
    o->nparams = attn_model_param_count(m);
    o->grads = malloc(sizeof(float) * o->nparams);
    memcpy(o->grads, attn_model_grads(m), sizeof(float) * o->nparams);
    attn_state_destroy(s);
}

static void run_free(run_out *o) { free(o->maps), free(o->grads); }

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static void assert_close(const float *a, const float *b, size_t n, double rel, const char *what, const char *plan)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    const double bound = rel * (1.0 + max_abs(b, n));
    if (worst > bound) fail_msg("plan %s: %s differ by %.3g (bound %.3g)", plan, what, worst, bound);
}

static attn_model *model(void)
{
    attn_config *cfg = minatar_config(C, A);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_THREADS, 2), ATTN_OK);
    attn_model *m;
    assert_int_equal(attn_model_create(&m, cfg, 3), ATTN_OK);
    attn_config_destroy(cfg);
    randomize_params(m, 8, 1.0f);
    return m;
}

static const char *const methods[] = {"unfold", "unfold-by-pixel", "direct", "winograd"};

static void test_every_runnable_plan_computes_the_same_network(void **ctx)
{
    (void)ctx;
    attn_model *m = model();
    run_out base;
    run(m, "unfold,unfold", &base);
    int ran = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            char plan[64];
            snprintf(plan, sizeof plan, "%s,%s", methods[a], methods[b]);
            attn_state *probe;
            assert_int_equal(attn_state_create(&probe, m, B, T), ATTN_OK);
            const attn_status st = attn_state_set_conv_plan(probe, plan);
            attn_state_destroy(probe);
            if (st != ATTN_OK) { /* a method this CPU or layer cannot run: refused, never run */
                assert_int_equal(st, ATTN_ERR_INVALID);
                printf("  %-26s not runnable here (kernels: %s)\n", plan, attn_cpu_kernels());
                continue;
            }
            run_out o;
            run(m, plan, &o);
            assert_close(o.logits, base.logits, T * B * A, 1e-4, "logits", plan);
            assert_close(o.values, base.values, T * B, 1e-4, "values", plan);
            assert_close(o.maps, base.maps, base.nmaps * T, 1e-4, "maps", plan);
            assert_close(o.grads, base.grads, base.nparams, 1e-3, "gradients", plan);
            printf("  %-26s the same network as unfold,unfold\n", plan);
            run_free(&o);
            ran++;
        }
    assert_true(ran >= 4); /* the unfoldings run on every CPU: 2 × 2 plans at least */
    run_free(&base);
    attn_model_destroy(m);
}

static void test_measured_plan_replays_bitwise(void **ctx)
{
    (void)ctx;
    attn_model *m = model();
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
    assert_int_equal(attn_state_set_conv_plan(s, "measure"), ATTN_OK);
    char measured[128];
    snprintf(measured, sizeof measured, "%s", attn_state_conv_plan(s));
    attn_state_destroy(s);
    printf("  measured: %s\n", measured);
    assert_non_null(strchr(measured, ',')); /* a list, one method per layer, never "measure" */
    run_out a, b;
    run(m, measured, &a);
    run(m, measured, &b);
    assert_memory_equal(a.logits, b.logits, sizeof a.logits);
    assert_memory_equal(a.maps, b.maps, sizeof(float) * a.nmaps * T);
    assert_memory_equal(a.grads, b.grads, sizeof(float) * a.nparams);
    run_free(&a), run_free(&b);
    attn_model_destroy(m);
}

static void test_default_is_the_rule_and_the_environment_applies(void **ctx)
{
    (void)ctx;
    attn_model *m = model();
    attn_state *s, *t;
    unsetenv("ATTN_CONV_PLAN");
    assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
    char by_default[128];
    snprintf(by_default, sizeof by_default, "%s", attn_state_conv_plan(s));
    assert_int_equal(attn_state_set_conv_plan(s, "rule"), ATTN_OK);
    assert_string_equal(attn_state_conv_plan(s), by_default);
    attn_state_destroy(s);
    /* A list from the environment is the state's plan from the start. */
    setenv("ATTN_CONV_PLAN", "unfold-by-pixel,unfold", 1);
    assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
    assert_string_equal(attn_state_conv_plan(s), "unfold-by-pixel,unfold");
    attn_state_destroy(s);
    /* Not a plan: the state is not created, and the message names the variable. */
    setenv("ATTN_CONV_PLAN", "fastest", 1);
    t = (attn_state *)&t;
    assert_int_equal(attn_state_create(&t, m, B, T), ATTN_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(attn_last_error(), "ATTN_CONV_PLAN"));
    unsetenv("ATTN_CONV_PLAN");
    attn_model_destroy(m);
}

static void test_bad_plans_are_refused_unchanged(void **ctx)
{
    (void)ctx;
    attn_model *m = model();
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
    assert_int_equal(attn_state_set_conv_plan(s, "unfold,unfold-by-pixel"), ATTN_OK);
    assert_int_equal(attn_state_set_conv_plan(NULL, "rule"), ATTN_ERR_NULL);
    assert_int_equal(attn_state_set_conv_plan(s, NULL), ATTN_ERR_NULL);
    const char *bad[] = {"", "fast", "unfold", "unfold,unfold,unfold", "unfold,", ",unfold", "unfold;unfold",
                         "winograd,unfold" /* 4 input channels: Winograd needs a multiple of 8, on any CPU */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(attn_state_set_conv_plan(s, bad[i]), ATTN_ERR_INVALID);
        assert_true(strlen(attn_last_error()) > 0);
        assert_string_equal(attn_state_conv_plan(s), "unfold,unfold-by-pixel");
    }
    assert_string_equal(attn_state_conv_plan(NULL), "");
    attn_state_destroy(s);
    attn_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_runnable_plan_computes_the_same_network),
        cmocka_unit_test(test_measured_plan_replays_bitwise),
        cmocka_unit_test(test_default_is_the_rule_and_the_environment_applies),
        cmocka_unit_test(test_bad_plans_are_refused_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
