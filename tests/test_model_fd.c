/* The whole model's gradients against finite differences: T steps, a reset in the middle, a recurrent state
 * carried in from before the unroll, every parameter tensor.
 *
 * This program is built against the double-precision build of the library (the same source compiled with
 * float = double, see lib/meson.build), so finite differences are exact to about 1e-10 instead of drowning in
 * float32 rounding: with float32 a weight of the first conv layer moves the loss by less than its rounding
 * noise. The float32 build is compared with the float64 PyTorch reference in tests/reference/. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

typedef struct episode {
    attn_model *model;
    attn_state *state;
    int B, T, A;
    size_t obs_bytes;
    void *obs;           /* [T] observations of all environments */
    float *rewards;      /* [T][B] */
    int32_t *actions;    /* [T][B] */
    uint8_t *first;      /* [T][B] */
    float *init[4];      /* the state carried in, one buffer per attn_state_part */
    float *dlogits;      /* [T][B][A] upstream gradient, i.e. the loss is Σ dlogits·logits + Σ dvalues·values */
    float *dvalues;      /* [T][B] */
    float *logits, *values;
} episode;

static void load_initial_state(episode *e)
{
    for (int p = 0; p < 4; p++)
        assert_int_equal(attn_state_set(e->state, (attn_state_part)p, e->init[p],
                                         attn_state_part_size(e->state, (attn_state_part)p)),
                         ATTN_OK);
}

static const void *obs_at(const episode *e, int t) { return (const char *)e->obs + (size_t)t * e->obs_bytes; }

/* The loss: runs the unroll from the carried-in state and contracts the outputs with the upstream gradient. */
static double episode_loss(void *ctx)
{
    episode *e = ctx;
    assert_int_equal(attn_state_clear_tape(e->state), ATTN_OK);
    load_initial_state(e);
    double loss = 0.0;
    for (int t = 0; t < e->T; t++) {
        assert_int_equal(attn_forward(e->model, e->state, ATTN_FORWARD_ACT, obs_at(e, t), e->obs_bytes,
                                      e->rewards + t * e->B, e->actions + t * e->B, e->first + t * e->B, e->logits,
                                      e->values),
                         ATTN_OK);
        for (int i = 0; i < e->B * e->A; i++) loss += (double)e->dlogits[(size_t)t * e->B * e->A + i] * e->logits[i];
        for (int b = 0; b < e->B; b++) loss += (double)e->dvalues[t * e->B + b] * e->values[b];
    }
    return loss;
}

static void analytic_gradients(episode *e)
{
    load_initial_state(e);
    for (int t = 0; t < e->T; t++)
        assert_int_equal(attn_forward(e->model, e->state, ATTN_FORWARD_RECORD, obs_at(e, t), e->obs_bytes,
                                      e->rewards + t * e->B, e->actions + t * e->B, e->first + t * e->B, NULL, NULL),
                         ATTN_OK);
    assert_int_equal(attn_model_zero_grad(e->model), ATTN_OK);
    assert_int_equal(attn_backward(e->model, e->state, e->dlogits, e->dvalues), ATTN_OK);
}

static void episode_init(episode *e, attn_config *cfg, int B, int T, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    test_rng r = {seed};
    assert_int_equal(attn_model_create(&e->model, cfg, seed), ATTN_OK);
    /* Random biases too: the default initialisation zeroes them, which would hide a wrong bias gradient. */
    randomize_params(e->model, seed + 1, 1.5f);
    assert_int_equal(attn_state_create(&e->state, e->model, B, T), ATTN_OK);
    int H, W, C, type;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &H);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C);
    attn_config_get(cfg, ATTN_CFG_OBS_TYPE, &type);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &e->A);
    e->B = B;
    e->T = T;
    size_t pixels = (size_t)B * H * W * C;
    e->obs_bytes = pixels * (type == ATTN_OBS_U8 ? 1 : sizeof(float));
    e->obs = malloc(e->obs_bytes * T);
    for (size_t i = 0; i < pixels * T; i++) {
        if (type == ATTN_OBS_U8)
            ((uint8_t *)e->obs)[i] = (uint8_t)trng_int(&r, 256);
        else
            ((float *)e->obs)[i] = trng_range(&r, 0.0f, 1.0f);
    }
    e->rewards = malloc(sizeof(float) * B * T);
    e->actions = malloc(sizeof(int32_t) * B * T);
    e->first = calloc((size_t)B * T, 1);
    fill_uniform(&r, e->rewards, (size_t)B * T, -1.0f, 1.0f);
    for (int i = 0; i < B * T; i++) e->actions[i] = trng_int(&r, e->A + 1) - 1; /* includes ATTN_NO_ACTION */
    /* Environment 0 restarts in the middle of the unroll; every other one carries the state in. */
    e->first[(T / 2) * B + 0] = 1;
    for (int p = 0; p < 4; p++) {
        size_t n = attn_state_part_size(e->state, (attn_state_part)p);
        e->init[p] = malloc(sizeof(float) * n);
        fill_uniform(&r, e->init[p], n, -0.8f, 0.8f);
    }
    e->dlogits = malloc(sizeof(float) * B * T * e->A);
    e->dvalues = malloc(sizeof(float) * B * T);
    fill_uniform(&r, e->dlogits, (size_t)B * T * e->A, -1.0f, 1.0f);
    fill_uniform(&r, e->dvalues, (size_t)B * T, -1.0f, 1.0f);
    e->logits = malloc(sizeof(float) * B * e->A);
    e->values = malloc(sizeof(float) * B);
}

static void episode_free(episode *e)
{
    attn_state_destroy(e->state);
    attn_model_destroy(e->model);
    free(e->obs);
    free(e->rewards);
    free(e->actions);
    free(e->first);
    for (int p = 0; p < 4; p++) free(e->init[p]);
    free(e->dlogits);
    free(e->dvalues);
    free(e->logits);
    free(e->values);
}

/*
 * Error measure, per tensor: ||fd − analytic||₂ / max(||fd||₂, ||analytic||₂), once over sampled single entries
 * and once over 4 random ±1 directions (which also covers the entries not sampled). Bound 1e-5. Why: in
 * double precision a central difference with h = 1e-5 has a rounding error near 1e-16/1e-5 ≈ 1e-11 and a
 * truncation error O(h²) ≈ 1e-10, relative; a step that small rarely carries a ReLU across its kink
 * (measured worst over both checks: ~1e-7, where small entries meet rounding). A wrong gradient (a swapped gate, a path through time missing, a transposed split)
 * errs by order 1, and even a bug touching one entry in a thousand stays far above 1e-5.
 */
#define FD_BOUND 1e-5
#define FD_STEP 1e-5f

static void check_all_tensors(episode *e, size_t samples, const char *label)
{
    analytic_gradients(e);
    size_t n = attn_model_param_count(e->model);
    float *analytic = malloc(sizeof(float) * n);
    memcpy(analytic, attn_model_grads(e->model), sizeof(float) * n);
    float *params = attn_model_params(e->model);
    double worst = 0.0;
    for (int i = 0; i < attn_model_tensor_count(e->model); i++) {
        const char *name;
        int ndim;
        int64_t shape[4];
        size_t offset;
        assert_int_equal(attn_model_tensor(e->model, i, &name, &ndim, shape, &offset), ATTN_OK);
        size_t numel = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
        double entries = gradient_error(episode_loss, e, params + offset, analytic + offset, numel, samples, FD_STEP,
                                        1e-12);
        double directions = directional_error(episode_loss, e, params + offset, analytic + offset, numel, 4, FD_STEP,
                                              (uint64_t)i);
        printf("  %-8s %-24s %6zu entries  entry error %.1e  direction error %.1e\n", label, name, numel, entries,
               directions);
        worst = fmax(worst, fmax(entries, directions));
        assert_true(entries <= FD_BOUND);
        assert_true(directions <= FD_BOUND);
    }
    printf("  %-8s worst normalised error %.1e (bound %.0e)\n", label, worst, FD_BOUND);
    free(analytic);
}

static void test_tiny_model_every_tensor(void **unused)
{
    (void)unused;
    attn_config *cfg = tiny_config();
    assert_non_null(cfg);
    episode e;
    episode_init(&e, cfg, 3, 4, 11);
    check_all_tensors(&e, 40, "tiny");
    episode_free(&e);
    attn_config_destroy(cfg);
}

static void test_minatar_preset_sampled(void **unused)
{
    (void)unused;
    attn_config *cfg = minatar_config(4, 6);
    attn_config_set(cfg, ATTN_CFG_THREADS, 1);
    episode e;
    episode_init(&e, cfg, 2, 3, 12);
    check_all_tensors(&e, 6, "minatar");
    episode_free(&e);
    attn_config_destroy(cfg);
}

/* A gradient check that can fail: corrupting one entry of the analytic gradient must push the error of its
 * tensor far over the bound, so the comparison above is not vacuous. */
static void test_check_detects_wrong_gradient(void **unused)
{
    (void)unused;
    attn_config *cfg = tiny_config();
    episode e;
    episode_init(&e, cfg, 2, 3, 13);
    analytic_gradients(&e);
    int idx;
    assert_int_equal(attn_model_find_tensor(e.model, "core.weight_hh", &idx), ATTN_OK);
    size_t offset;
    int64_t shape[4];
    attn_model_tensor(e.model, idx, NULL, NULL, shape, &offset);
    size_t numel = (size_t)(shape[0] * shape[1]);
    float *g = malloc(sizeof(float) * numel);
    memcpy(g, attn_model_grads(e.model) + offset, sizeof(float) * numel);
    g[3] = -g[3] + 0.5f;
    double err = gradient_error(episode_loss, &e, attn_model_params(e.model) + offset, g, numel, numel, FD_STEP, 1e-12);
    assert_true(err > 1000 * FD_BOUND);
    free(g);
    episode_free(&e);
    attn_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_model_every_tensor),
        cmocka_unit_test(test_minatar_preset_sampled),
        cmocka_unit_test(test_check_detects_wrong_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
