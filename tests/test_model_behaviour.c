/* What the model must do, checked through its outputs: attention maps are distributions, a reset isolates one
 * environment exactly, the queries are live, both LSTM states carry, keys and values come from the right grid
 * cell, uint8 and float observations agree, backward accumulates, and a seed fixes everything. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"
#include "test_util.h"

enum { C_OBS = 4, A_ACT = 5 };

typedef struct rig {
    attn_config *cfg;
    attn_model *model;
    attn_state *state;
    int B, H, W, C, A, N, gh, gw;
    size_t obs_n;
    uint8_t *obs;
    float *logits, *values, *maps;
} rig;

static void rig_init(rig *g, attn_config *cfg, int B, int T, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->cfg = cfg;
    assert_int_equal(attn_model_create(&g->model, cfg, seed), ATTN_OK);
    assert_int_equal(attn_state_create(&g->state, g->model, B, T), ATTN_OK);
    g->B = B;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &g->H);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &g->W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &g->C);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &g->A);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &g->N);
    attn_config_get(cfg, ATTN_CFG_GRID_H, &g->gh);
    attn_config_get(cfg, ATTN_CFG_GRID_W, &g->gw);
    g->obs_n = (size_t)B * g->H * g->W * g->C;
    g->obs = malloc(g->obs_n);
    g->logits = malloc(sizeof(float) * B * g->A);
    g->values = malloc(sizeof(float) * B);
    g->maps = malloc(sizeof(float) * B * g->N * g->gh * g->gw);
}

static void rig_free(rig *g)
{
    attn_state_destroy(g->state);
    attn_model_destroy(g->model);
    attn_config_destroy(g->cfg);
    free(g->obs), free(g->logits), free(g->values), free(g->maps);
}

static void random_obs(rig *g, test_rng *r)
{
    for (size_t i = 0; i < g->obs_n; i++) g->obs[i] = (uint8_t)(trng_uniform(r) < 0.3 ? 255 : 0);
}

static void step(rig *g, const uint8_t *first)
{
    assert_int_equal(attn_forward(g->model, g->state, ATTN_FORWARD_ACT, g->obs, g->obs_n, NULL, NULL, first,
                                  g->logits, g->values),
                     ATTN_OK);
    assert_int_equal(attn_get_maps(g->state, g->maps, (size_t)g->B * g->N * g->gh * g->gw), ATTN_OK);
}

static void test_maps_are_distributions(void **unused)
{
    (void)unused;
    test_rng r = {31};
    attn_config *cfgs[2];
    cfgs[0] = minatar_config(C_OBS, A_ACT);
    attn_config_create(&cfgs[1], ATTN_PRESET_ATARI84);
    for (int k = 0; k < 2; k++) {
        rig g;
        rig_init(&g, cfgs[k], 2, 0, 5);
        for (int t = 0; t < 3; t++) {
            random_obs(&g, &r);
            step(&g, NULL);
            for (int m = 0; m < g.B * g.N; m++) {
                double sum = 0.0;
                for (int p = 0; p < g.gh * g.gw; p++) {
                    assert_true(g.maps[m * g.gh * g.gw + p] >= 0.0f);
                    sum += g.maps[m * g.gh * g.gw + p];
                }
                assert_true(fabs(sum - 1.0) < 1e-5);
            }
        }
        rig_free(&g);
    }
}

/* A reset in environment 1 gives bitwise the output of a fresh state, and environments 0 and 2 are bitwise what
 * they would have been without it. */
static void test_reset_isolates_one_environment(void **unused)
{
    (void)unused;
    test_rng r = {32};
    rig a, b, fresh;
    rig_init(&a, minatar_config(C_OBS, A_ACT), 3, 0, 7);
    rig_init(&b, minatar_config(C_OBS, A_ACT), 3, 0, 7);
    rig_init(&fresh, minatar_config(C_OBS, A_ACT), 3, 0, 7);
    for (int t = 0; t < 4; t++) {
        random_obs(&a, &r);
        memcpy(b.obs, a.obs, a.obs_n);
        step(&a, NULL);
        step(&b, NULL);
    }
    random_obs(&a, &r);
    memcpy(b.obs, a.obs, a.obs_n);
    memcpy(fresh.obs, a.obs, a.obs_n);
    const uint8_t reset_1[3] = {0, 1, 0}, all[3] = {1, 1, 1};
    step(&a, reset_1);
    step(&b, NULL);
    step(&fresh, all);
    const int A = a.A, M = a.N * a.gh * a.gw;
    for (int e = 0; e < 3; e++) {
        const rig *want = e == 1 ? &fresh : &b;
        assert_memory_equal(a.logits + e * A, want->logits + e * A, sizeof(float) * A);
        assert_memory_equal(a.values + e, want->values + e, sizeof(float));
        assert_memory_equal(a.maps + e * M, want->maps + e * M, sizeof(float) * M);
    }
    /* And the reset really changed environment 1 (the check above is not comparing equal things). */
    assert_memory_not_equal(a.logits + A, b.logits + A, sizeof(float) * A);
    rig_free(&a), rig_free(&b), rig_free(&fresh);
}

/* Top-down attention is live: the same frame with a different previous policy state gives other queries and
 * other maps. */
static void test_queries_follow_policy_state(void **unused)
{
    (void)unused;
    test_rng r = {33};
    rig g;
    rig_init(&g, minatar_config(C_OBS, A_ACT), 2, 0, 9);
    random_obs(&g, &r);
    size_t nh = attn_state_part_size(g.state, ATTN_STATE_CORE_H), nm = (size_t)g.B * g.N * g.gh * g.gw;
    step(&g, NULL);
    float *maps0 = malloc(sizeof(float) * nm), *q0 = malloc(sizeof(float) * g.B * g.model->d.N * g.model->d.kd);
    size_t nq = (size_t)g.B * g.model->d.N * g.model->d.kd;
    memcpy(maps0, g.maps, sizeof(float) * nm);
    memcpy(q0, g.state->tape[0].Q, sizeof(float) * nq);

    float *h = malloc(sizeof(float) * nh);
    fill_uniform(&r, h, nh, -1, 1);
    float *zero = calloc(attn_state_part_size(g.state, ATTN_STATE_VISION_H), sizeof(float));
    attn_state_set(g.state, ATTN_STATE_VISION_H, zero, attn_state_part_size(g.state, ATTN_STATE_VISION_H));
    attn_state_set(g.state, ATTN_STATE_VISION_C, zero, attn_state_part_size(g.state, ATTN_STATE_VISION_C));
    attn_state_set(g.state, ATTN_STATE_CORE_H, h, nh);
    attn_state_set(g.state, ATTN_STATE_CORE_C, zero, nh);
    step(&g, NULL);
    double dq = 0.0, dm = 0.0;
    for (size_t i = 0; i < nq; i++) dq = fmax(dq, fabs(q0[i] - g.state->tape[0].Q[i]));
    for (size_t i = 0; i < nm; i++) dm = fmax(dm, fabs(maps0[i] - g.maps[i]));
    printf("  queries moved by up to %.3g, maps by up to %.3g\n", dq, dm);
    assert_true(dq > 1e-3);
    assert_true(dm > 1e-5);
    free(maps0), free(q0), free(h), free(zero);
    rig_free(&g);
}

/* Both recurrent states carry: step 2's output depends on step 1 through the ConvLSTM state and through the
 * policy state, each alone. */
static void test_both_states_carry(void **unused)
{
    (void)unused;
    test_rng r = {34};
    rig g;
    rig_init(&g, minatar_config(C_OBS, A_ACT), 2, 0, 10);
    random_obs(&g, &r);
    step(&g, NULL);
    size_t nv = attn_state_part_size(g.state, ATTN_STATE_VISION_H), np = attn_state_part_size(g.state, ATTN_STATE_CORE_H);
    float *saved[4], *zero = calloc(nv, sizeof(float));
    for (int p = 0; p < 4; p++) {
        size_t n = attn_state_part_size(g.state, (attn_state_part)p);
        saved[p] = malloc(sizeof(float) * n);
        attn_state_get(g.state, (attn_state_part)p, saved[p], n);
        double mx = 0.0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(saved[p][i]));
        assert_true(mx > 0.0); /* the step wrote every part */
    }
    random_obs(&g, &r);
    float *full = malloc(sizeof(float) * g.B * g.A);
    step(&g, NULL);
    memcpy(full, g.logits, sizeof(float) * g.B * g.A);
    /* Same second step with the vision state dropped, then with the policy state dropped. */
    for (int drop = 0; drop < 2; drop++) {
        for (int p = 0; p < 4; p++) {
            int vision = p <= ATTN_STATE_VISION_C;
            size_t n = vision ? nv : np;
            attn_state_set(g.state, (attn_state_part)p, (vision == (drop == 0)) ? zero : saved[p], n);
        }
        step(&g, NULL);
        assert_memory_not_equal(full, g.logits, sizeof(float) * g.B * g.A);
    }
    for (int p = 0; p < 4; p++) free(saved[p]);
    free(zero), free(full);
    rig_free(&g);
}

/* Keys and values of grid cell (y, x) are the ConvLSTM output at (y, x): the maps and the answers recomputed
 * here from the public ConvLSTM state (B × h × w × L) and the queries, by the formula, match the model's. */
static void test_keys_and_values_come_from_their_cell(void **unused)
{
    (void)unused;
    test_rng r = {35};
    rig g;
    rig_init(&g, minatar_config(C_OBS, A_ACT), 2, 0, 11);
    random_obs(&g, &r);
    step(&g, NULL);
    random_obs(&g, &r);
    step(&g, NULL);
    const dims *d = &g.model->d;
    float *vh = malloc(sizeof(float) * attn_state_part_size(g.state, ATTN_STATE_VISION_H));
    attn_state_get(g.state, ATTN_STATE_VISION_H, vh, attn_state_part_size(g.state, ATTN_STATE_VISION_H));
    const step_record *rec = &g.state->tape[0];
    const double pi = acos(-1.0);
    double worst_map = 0.0, worst_ans = 0.0;
    double *logit = malloc(sizeof(double) * d->P);
    for (int b = 0; b < g.B; b++)
        for (int n = 0; n < d->N; n++) {
            const float *q = rec->Q + ((size_t)b * d->N + n) * d->kd;
            double mx = -1e300, sum = 0.0;
            for (int y = 0; y < d->gh; y++)
                for (int x = 0; x < d->gw; x++) {
                    const float *cell = vh + (((size_t)b * d->gh + y) * d->gw + x) * d->L;
                    double l = 0.0;
                    for (int c = 0; c < d->ck; c++) l += (double)cell[c] * q[c];
                    for (int u = 1; u <= d->U; u++)
                        for (int v = 1; v <= d->V; v++)
                            l += cos(pi * u * (y + 1) / d->gh) * cos(pi * v * (x + 1) / d->gw) *
                                 q[d->ck + (u - 1) * d->V + (v - 1)];
                    logit[y * d->gw + x] = l;
                    mx = fmax(mx, l);
                }
            for (int p = 0; p < d->P; p++) sum += exp(logit[p] - mx);
            for (int p = 0; p < d->P; p++) {
                double a = exp(logit[p] - mx) / sum;
                worst_map = fmax(worst_map, fabs(a - g.maps[((size_t)b * d->N + n) * d->P + p]));
                logit[p] = a;
            }
            /* Value channels of the answer: Σ_p a_p · O[p][c_k + c]. */
            for (int c = 0; c < d->cv; c++) {
                double want = 0.0;
                for (int p = 0; p < d->P; p++) want += logit[p] * vh[((size_t)b * d->P + p) * d->L + d->ck + c];
                worst_ans = fmax(worst_ans, fabs(want - rec->ans[((size_t)b * d->N + n) * d->vd + c]));
            }
        }
    printf("  maps by formula: max error %.2e; answers: %.2e\n", worst_map, worst_ans);
    assert_true(worst_map < 1e-5);
    assert_true(worst_ans < 1e-5);
    free(vh), free(logit);
    rig_free(&g);
}

/* The same pixels as uint8 and as float32 (value/255) give the same outputs. */
static void test_uint8_and_float_agree(void **unused)
{
    (void)unused;
    test_rng r = {36};
    rig g;
    rig_init(&g, minatar_config(C_OBS, A_ACT), 2, 0, 12);
    attn_config *fc = minatar_config(C_OBS, A_ACT);
    attn_config_set(fc, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32);
    attn_model *fm;
    attn_state *fs;
    assert_int_equal(attn_model_create(&fm, fc, 12), ATTN_OK);
    assert_int_equal(attn_state_create(&fs, fm, 2, 0), ATTN_OK);
    float *fobs = malloc(sizeof(float) * g.obs_n), *fl = malloc(sizeof(float) * 2 * g.A), fv[2];
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < g.obs_n; i++) g.obs[i] = (uint8_t)trng_int(&r, 256);
        for (size_t i = 0; i < g.obs_n; i++) fobs[i] = (float)(g.obs[i] / 255.0);
        step(&g, NULL);
        assert_int_equal(attn_forward(fm, fs, ATTN_FORWARD_ACT, fobs, sizeof(float) * g.obs_n, NULL, NULL, NULL, fl, fv),
                         ATTN_OK);
        for (int i = 0; i < 2 * g.A; i++) assert_true(fabs(fl[i] - g.logits[i]) <= 1e-6 * (1 + fabs(fl[i])));
        for (int i = 0; i < 2; i++) assert_true(fabs(fv[i] - g.values[i]) <= 1e-6 * (1 + fabs(fv[i])));
    }
    free(fobs), free(fl);
    attn_state_destroy(fs);
    attn_model_destroy(fm);
    attn_config_destroy(fc);
    rig_free(&g);
}

/* Runs two recorded steps and a backward with a fixed upstream gradient. */
static void record_and_backward(rig *g, test_rng *r, const float *dl, const float *dv)
{
    for (int t = 0; t < 2; t++) {
        random_obs(g, r);
        assert_int_equal(attn_forward(g->model, g->state, ATTN_FORWARD_RECORD, g->obs, g->obs_n, NULL, NULL, NULL,
                                      g->logits, g->values),
                         ATTN_OK);
    }
    assert_int_equal(attn_backward(g->model, g->state, dl, dv), ATTN_OK);
}

static void test_backward_accumulates(void **unused)
{
    (void)unused;
    rig g;
    rig_init(&g, minatar_config(C_OBS, A_ACT), 2, 2, 13);
    float dl[2 * 2 * A_ACT], dv[4];
    test_rng r = {37};
    fill_uniform(&r, dl, 2 * 2 * A_ACT, -1, 1);
    fill_uniform(&r, dv, 4, -1, 1);
    size_t n = attn_model_param_count(g.model);
    float *once = malloc(sizeof(float) * n);
    test_rng r1 = {38}, r2 = {38};
    attn_model_zero_grad(g.model);
    record_and_backward(&g, &r1, dl, dv);
    memcpy(once, attn_model_grads(g.model), sizeof(float) * n);
    attn_state_reset(g.state);
    record_and_backward(&g, &r2, dl, dv);
    const float *twice = attn_model_grads(g.model);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs(twice[i] - 2 * once[i]) <= 1e-6 * (1 + fabs(twice[i])));
        nonzero += once[i] != 0.0f;
    }
    assert_true(nonzero > n / 2);
    free(once);
    rig_free(&g);
}

/* The same seed gives bitwise-identical parameters, outputs and gradients; another seed does not. */
static void test_seed_determines_everything(void **unused)
{
    (void)unused;
    rig a, b, c;
    rig_init(&a, minatar_config(C_OBS, A_ACT), 2, 2, 14);
    rig_init(&b, minatar_config(C_OBS, A_ACT), 2, 2, 14);
    rig_init(&c, minatar_config(C_OBS, A_ACT), 2, 2, 15);
    size_t n = attn_model_param_count(a.model);
    assert_memory_equal(attn_model_params(a.model), attn_model_params(b.model), sizeof(float) * n);
    assert_memory_not_equal(attn_model_params(a.model), attn_model_params(c.model), sizeof(float) * n);
    float dl[2 * 2 * A_ACT], dv[4];
    test_rng r = {39};
    fill_uniform(&r, dl, 2 * 2 * A_ACT, -1, 1);
    fill_uniform(&r, dv, 4, -1, 1);
    test_rng ra = {40}, rb = {40};
    record_and_backward(&a, &ra, dl, dv);
    record_and_backward(&b, &rb, dl, dv);
    assert_memory_equal(a.logits, b.logits, sizeof(float) * 2 * A_ACT);
    assert_memory_equal(a.values, b.values, sizeof(float) * 2);
    assert_memory_equal(attn_model_grads(a.model), attn_model_grads(b.model), sizeof(float) * n);
    rig_free(&a), rig_free(&b), rig_free(&c);
}

/* attn_map_to_pixels: a distribution over pixels; on the minatar grid (one cell per pixel) it is the map itself;
 * on the Atari grid a one-hot map peaks inside the pixels its cell covers. */
static void test_map_to_pixels(void **unused)
{
    (void)unused;
    rig m, a;
    rig_init(&m, minatar_config(C_OBS, A_ACT), 1, 0, 16);
    attn_config *ac;
    attn_config_create(&ac, ATTN_PRESET_ATARI);
    rig_init(&a, ac, 1, 0, 16);
    test_rng r = {41};
    float map[100], pix[100];
    double s = 0.0;
    for (int i = 0; i < 100; i++) s += map[i] = (float)trng_uniform(&r);
    for (int i = 0; i < 100; i++) map[i] = (float)(map[i] / s);
    assert_int_equal(attn_map_to_pixels(m.model, map, pix, 100), ATTN_OK);
    for (int i = 0; i < 100; i++) assert_true(fabs(pix[i] - map[i]) < 1e-6);

    float *grid = calloc((size_t)a.gh * a.gw, sizeof(float)), *big = malloc(sizeof(float) * a.H * a.W);
    int cy = 13, cx = 5;
    grid[cy * a.gw + cx] = 1.0f;
    assert_int_equal(attn_map_to_pixels(a.model, grid, big, (size_t)a.H * a.W), ATTN_OK);
    int best = 0;
    double total = 0.0;
    for (int i = 0; i < a.H * a.W; i++) {
        total += big[i];
        if (big[i] > big[best]) best = i;
    }
    assert_true(fabs(total - 1.0) < 1e-4);
    int py = best / a.W, px = best % a.W;
    assert_true(py * a.gh / a.H == cy);
    assert_true(px * a.gw / a.W == cx);
    free(grid), free(big);
    rig_free(&m), rig_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maps_are_distributions),
        cmocka_unit_test(test_reset_isolates_one_environment),
        cmocka_unit_test(test_queries_follow_policy_state),
        cmocka_unit_test(test_both_states_carry),
        cmocka_unit_test(test_keys_and_values_come_from_their_cell),
        cmocka_unit_test(test_uint8_and_float_agree),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_seed_determines_everything),
        cmocka_unit_test(test_map_to_pixels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
