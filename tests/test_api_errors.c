/*
 * Every public function's bad-argument paths: the status the header documents, a fresh attn_last_error()
 * naming the problem, and nothing changed — configurations, parameters, gradients, recurrent state, tape and
 * attention maps are compared bit for bit before and after each failing call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attnagent/attnagent.h"
#include "test_util.h"

#define OBS_C 4
#define ACTIONS 3
#define BATCH 2
#define UNROLL 3
#define NUM_PARTS 4

/* ---- Checking one failure ------------------------------------------------------------------------------ */

/* A message no call under test produces, planted before each checked call so a failure that forgets to set
 * its own message is caught instead of passing on a stale one. */
#define PLANTED_PRESET 12345
static char planted[512];

static void plant_last_error(void)
{
    attn_config *c = NULL;
    assert_int_equal(attn_config_create(&c, (attn_preset)PLANTED_PRESET), ATTN_ERR_INVALID);
    snprintf(planted, sizeof planted, "%s", attn_last_error());
    assert_true(planted[0] != '\0');
}

/* `keyword` (may be NULL) is a word the message must contain: the argument or the problem it names. */
static void check_failure(attn_status got, attn_status want, const char *keyword)
{
    if (got != want)
        fail_msg("status %d (%s), expected %d (%s); last error: \"%s\"", (int)got, attn_status_str(got), (int)want,
                 attn_status_str(want), attn_last_error());
    const char *msg = attn_last_error();
    assert_non_null(msg);
    if (msg[0] == '\0' || !strcmp(msg, planted)) fail_msg("the failure did not set its own last error");
    if (keyword && !strstr(msg, keyword)) fail_msg("last error \"%s\" does not mention \"%s\"", msg, keyword);
}

#define EXPECT_FAIL(call, want, keyword)                                                                       \
    do {                                                                                                       \
        plant_last_error();                                                                                    \
        check_failure((call), (want), (keyword));                                                              \
    } while (0)

/* ---- Snapshots of everything a failing call must leave alone --------------------------------------------- */

#define NUM_INT_KEYS (ATTN_CFG_THREADS + 1)

typedef struct config_snapshot {
    int keys[NUM_INT_KEYS];
    int conv[ATTN_MAX_CONV_LAYERS][4];
    int mlp[2][ATTN_MAX_MLP_HIDDEN];
} config_snapshot;

static void config_take(config_snapshot *s, const attn_config *cfg)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < NUM_INT_KEYS; k++)
        assert_int_equal(attn_config_get(cfg, (attn_config_key)k, &s->keys[k]), ATTN_OK);
    /* Only the layers in use: the others are outside the documented range of the getters. */
    for (int i = 0; i < s->keys[ATTN_CFG_CONV_LAYERS]; i++)
        assert_int_equal(attn_config_get_conv(cfg, i, &s->conv[i][0], &s->conv[i][1], &s->conv[i][2], &s->conv[i][3]),
                         ATTN_OK);
    const int mlp_layers[2] = {s->keys[ATTN_CFG_QUERY_LAYERS], s->keys[ATTN_CFG_ANSWER_LAYERS]};
    for (int m = 0; m < 2; m++)
        for (int j = 0; j < mlp_layers[m]; j++)
            assert_int_equal(attn_config_get_mlp_hidden(cfg, (attn_mlp)m, j, &s->mlp[m][j]), ATTN_OK);
}

static void config_expect_unchanged(const config_snapshot *before, const attn_config *cfg)
{
    config_snapshot now;
    config_take(&now, cfg);
    assert_memory_equal(&now, before, sizeof now);
}

typedef struct state_snapshot {
    float *part[NUM_PARTS];
    size_t size[NUM_PARTS];
    int recorded;
    attn_status maps_status; /* ATTN_OK, or ATTN_ERR_STATE before the first step */
    float *maps;
    size_t map_count;
} state_snapshot;

static size_t map_count(const attn_model *model, int batch)
{
    const attn_config *cfg = attn_model_config(model);
    int n, gh, gw;
    assert_int_equal(attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &n), ATTN_OK);
    assert_int_equal(attn_config_get(cfg, ATTN_CFG_GRID_H, &gh), ATTN_OK);
    assert_int_equal(attn_config_get(cfg, ATTN_CFG_GRID_W, &gw), ATTN_OK);
    return (size_t)batch * n * gh * gw;
}

static void state_take(state_snapshot *s, const attn_state *state, const attn_model *model)
{
    for (int p = 0; p < NUM_PARTS; p++) {
        s->size[p] = attn_state_part_size(state, (attn_state_part)p);
        assert_true(s->size[p] > 0);
        s->part[p] = malloc(s->size[p] * sizeof(float));
        assert_non_null(s->part[p]);
        assert_int_equal(attn_state_get(state, (attn_state_part)p, s->part[p], s->size[p]), ATTN_OK);
    }
    s->recorded = attn_state_recorded(state);
    s->map_count = map_count(model, attn_state_batch(state));
    s->maps = malloc(s->map_count * sizeof(float));
    assert_non_null(s->maps);
    s->maps_status = attn_get_maps(state, s->maps, s->map_count);
    assert_true(s->maps_status == ATTN_OK || s->maps_status == ATTN_ERR_STATE);
}

static void state_free(state_snapshot *s)
{
    for (int p = 0; p < NUM_PARTS; p++) free(s->part[p]);
    free(s->maps);
}

/* Compares the state now with `before` bit for bit, then frees `before`. */
static void state_expect_unchanged(state_snapshot *before, const attn_state *state, const attn_model *model)
{
    state_snapshot now;
    state_take(&now, state, model);
    for (int p = 0; p < NUM_PARTS; p++) {
        assert_int_equal(now.size[p], before->size[p]);
        assert_memory_equal(now.part[p], before->part[p], now.size[p] * sizeof(float));
    }
    assert_int_equal(now.recorded, before->recorded);
    assert_int_equal(now.maps_status, before->maps_status);
    if (now.maps_status == ATTN_OK) assert_memory_equal(now.maps, before->maps, now.map_count * sizeof(float));
    state_free(&now);
    state_free(before);
}

static float *copy_floats(const float *x, size_t n)
{
    float *c = malloc(n * sizeof(float));
    assert_non_null(c);
    memcpy(c, x, n * sizeof(float));
    return c;
}

/* ---- Fixture: a small minatar model with a state of BATCH environments and an UNROLL-step tape ------------- */

typedef struct fixture {
    attn_config *cfg;
    attn_model *model;
    attn_state *state;
    test_rng rng;
    size_t obs_bytes;
    uint8_t *obs;              /* [BATCH][10][10][OBS_C] */
    float logits[BATCH * ACTIONS];
    float values[BATCH];
} fixture;

static attn_config *small_config(void)
{
    attn_config *cfg = minatar_config(OBS_C, ACTIONS);
    assert_non_null(cfg);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_THREADS, 1), ATTN_OK);
    return cfg;
}

static int setup(void **ctx)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->cfg = small_config();
    f->rng.s = 7;
    if (attn_model_create(&f->model, f->cfg, 42) || attn_state_create(&f->state, f->model, BATCH, UNROLL))
        return -1;
    int h, w;
    attn_config_get(f->cfg, ATTN_CFG_OBS_H, &h);
    attn_config_get(f->cfg, ATTN_CFG_OBS_W, &w);
    f->obs_bytes = (size_t)BATCH * h * w * OBS_C;
    f->obs = malloc(f->obs_bytes);
    if (!f->obs) return -1;
    *ctx = f;
    return 0;
}

static int teardown(void **ctx)
{
    fixture *f = *ctx;
    attn_state_destroy(f->state);
    attn_model_destroy(f->model);
    attn_config_destroy(f->cfg);
    free(f->obs);
    free(f);
    return 0;
}

static void new_frames(fixture *f)
{
    for (size_t i = 0; i < f->obs_bytes; i++) f->obs[i] = (uint8_t)trng_int(&f->rng, 256);
}

/* Takes `steps` steps on fresh frames so the recurrent state and the maps are non-trivial. */
static void take_steps(fixture *f, attn_forward_mode mode, int steps)
{
    for (int t = 0; t < steps; t++) {
        new_frames(f);
        assert_int_equal(attn_forward(f->model, f->state, mode, f->obs, f->obs_bytes, NULL, NULL, NULL, f->logits,
                                      f->values),
                         ATTN_OK);
    }
}

/* ---- Status, last error, version -------------------------------------------------------------------------- */

static const struct {
    attn_status status;
    const char *name;
} all_statuses[] = {
    {ATTN_OK, "ATTN_OK"},
    {ATTN_ERR_NULL, "ATTN_ERR_NULL"},
    {ATTN_ERR_INVALID, "ATTN_ERR_INVALID"},
    {ATTN_ERR_SIZE, "ATTN_ERR_SIZE"},
    {ATTN_ERR_NONFINITE, "ATTN_ERR_NONFINITE"},
    {ATTN_ERR_NOMEM, "ATTN_ERR_NOMEM"},
    {ATTN_ERR_STATE, "ATTN_ERR_STATE"},
    {ATTN_ERR_IO, "ATTN_ERR_IO"},
    {ATTN_ERR_FORMAT, "ATTN_ERR_FORMAT"},
    {ATTN_ERR_CALLBACK, "ATTN_ERR_CALLBACK"},
    {ATTN_ERR_ABORTED, "ATTN_ERR_ABORTED"},
};
#define NUM_STATUSES (sizeof all_statuses / sizeof all_statuses[0])

/* `s` begins with the whole identifier `name`, not merely a prefix of a longer one. */
static int starts_with_name(const char *s, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(s, name, n) && !(s[n] == '_' || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9'));
}

static void test_status_str(void **ctx)
{
    (void)ctx;
    for (size_t i = 0; i < NUM_STATUSES; i++) {
        const char *s = attn_status_str(all_statuses[i].status);
        assert_non_null(s);
        if (!starts_with_name(s, all_statuses[i].name))
            fail_msg("attn_status_str(%d) = \"%s\" does not start with %s", (int)all_statuses[i].status, s,
                     all_statuses[i].name);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(s, attn_status_str(all_statuses[j].status));
    }
    const attn_status unknown[] = {(attn_status)1, (attn_status)-11, (attn_status)-999};
    for (size_t u = 0; u < sizeof unknown / sizeof unknown[0]; u++) {
        const char *s = attn_status_str(unknown[u]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        for (size_t i = 0; i < NUM_STATUSES; i++) {
            assert_string_not_equal(s, attn_status_str(all_statuses[i].status));
            assert_false(starts_with_name(s, all_statuses[i].name));
        }
    }
}

static void test_last_error_kept_until_next_failure(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_config_set(f->cfg, (attn_config_key)999, 1), ATTN_ERR_INVALID, "999");
    char kept[512];
    snprintf(kept, sizeof kept, "%s", attn_last_error());
    int value;
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_OBS_C, &value), ATTN_OK);
    take_steps(f, ATTN_FORWARD_ACT, 1);
    assert_string_equal(attn_last_error(), kept);
}

typedef struct thread_report {
    int empty_at_start;
    int set_after_failure;
} thread_report;

static void *failing_thread(void *arg)
{
    thread_report *r = arg;
    r->empty_at_start = attn_last_error()[0] == '\0';
    r->set_after_failure = attn_config_create(NULL, ATTN_PRESET_MINATAR) == ATTN_ERR_NULL && attn_last_error()[0];
    return NULL;
}

/* Documented per thread: a new thread starts with "", and its failures do not touch other threads' messages. */
static void test_last_error_per_thread(void **ctx)
{
    fixture *f = *ctx;
    attn_state *s;
    EXPECT_FAIL(attn_state_create(&s, f->model, 0, 1), ATTN_ERR_SIZE, "batch");
    char mine[512];
    snprintf(mine, sizeof mine, "%s", attn_last_error());
    thread_report r = {0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, failing_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(r.empty_at_start);
    assert_true(r.set_after_failure);
    assert_string_equal(attn_last_error(), mine);
}

static void test_version(void **ctx)
{
    (void)ctx;
    assert_int_equal(attn_version_number(), ATTN_VERSION_NUMBER);
    assert_int_equal(ATTN_VERSION_NUMBER, ATTN_VERSION_MAJOR * 10000 + ATTN_VERSION_MINOR * 100 + ATTN_VERSION_PATCH);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH);
    assert_non_null(attn_version_string());
    assert_string_equal(attn_version_string(), want);
}

/* One of the four documented names, never NULL, the same on every call; "portable" when the environment says
 * so (tests/check_dispatch_bitwise.sh checks the ATTN_ISA=avx2 cap on the programs it runs). */
static void test_cpu_kernels(void **ctx)
{
    (void)ctx;
    const char *k = attn_cpu_kernels();
    assert_non_null(k);
    assert_true(strcmp(k, "avx512") == 0 || strcmp(k, "avx2+fma") == 0 || strcmp(k, "avx2") == 0 ||
                strcmp(k, "portable") == 0);
    assert_string_equal(attn_cpu_kernels(), k);
    const char *portable = getenv("ATTN_PORTABLE"), *isa = getenv("ATTN_ISA");
    if ((portable && strcmp(portable, "1") == 0) || (isa && strcmp(isa, "portable") == 0))
        assert_string_equal(k, "portable");
    if (isa && strcmp(isa, "avx2") == 0) assert_string_not_equal(k, "avx512");
}

static void test_destroy_accepts_null(void **ctx)
{
    (void)ctx;
    attn_config_destroy(NULL);
    attn_model_destroy(NULL);
    attn_state_destroy(NULL);
}

/* Calls that return a value rather than a status give a neutral value for a NULL handle or an unknown part
 * (0, or NULL), never a crash; the same calls on a real handle give something else, so the check can fail. */
static void test_queries_of_null_handles(void **ctx)
{
    fixture *f = *ctx;
    assert_null(attn_model_config(NULL));
    assert_int_equal(attn_model_param_count(NULL), 0);
    assert_null(attn_model_params(NULL));
    assert_null(attn_model_grads(NULL));
    assert_int_equal(attn_model_tensor_count(NULL), 0);
    assert_int_equal(attn_state_batch(NULL), 0);
    assert_int_equal(attn_state_max_unroll(NULL), 0);
    assert_int_equal(attn_state_recorded(NULL), 0);
    assert_int_equal(attn_state_part_size(NULL, ATTN_STATE_CORE_H), 0);
    assert_int_equal(attn_state_part_size(f->state, (attn_state_part)NUM_PARTS), 0);
    assert_int_equal(attn_state_part_size(f->state, (attn_state_part)-1), 0);

    assert_non_null(attn_model_config(f->model));
    assert_true(attn_model_param_count(f->model) > 0);
    assert_non_null(attn_model_params(f->model));
    assert_non_null(attn_model_grads(f->model));
    assert_true(attn_model_tensor_count(f->model) > 0);
    assert_int_equal(attn_state_batch(f->state), BATCH);
    assert_int_equal(attn_state_max_unroll(f->state), UNROLL);
    take_steps(f, ATTN_FORWARD_RECORD, 1);
    assert_int_equal(attn_state_recorded(f->state), 1);
    assert_true(attn_state_part_size(f->state, ATTN_STATE_CORE_H) > 0);
}

/* ---- Configuration ------------------------------------------------------------------------------------------ */

static void test_config_create_errors(void **ctx)
{
    (void)ctx;
    EXPECT_FAIL(attn_config_create(NULL, ATTN_PRESET_MINATAR), ATTN_ERR_NULL, NULL);
    const attn_preset bad[] = {(attn_preset)3, (attn_preset)-1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        attn_config *cfg = (attn_config *)&cfg; /* any non-NULL value the call must overwrite */
        EXPECT_FAIL(attn_config_create(&cfg, bad[i]), ATTN_ERR_INVALID, "preset");
        assert_null(cfg);
    }
}

static void test_config_clone_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_config_clone(NULL, f->cfg), ATTN_ERR_NULL, NULL);
    attn_config *copy = (attn_config *)&copy;
    EXPECT_FAIL(attn_config_clone(&copy, NULL), ATTN_ERR_NULL, NULL);
    assert_null(copy);
}

static void expect_set_rejected(attn_config *cfg, attn_config_key key, int value)
{
    config_snapshot before;
    config_take(&before, cfg);
    plant_last_error();
    attn_status st = attn_config_set(cfg, key, value);
    if (st != ATTN_ERR_INVALID)
        fail_msg("attn_config_set(key %d, %d) gave %s, expected ATTN_ERR_INVALID", (int)key, value,
                 attn_status_str(st));
    check_failure(st, ATTN_ERR_INVALID, NULL);
    config_expect_unchanged(&before, cfg);
}

static void test_config_set_unknown_and_read_only_keys(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_config_set(NULL, ATTN_CFG_OBS_C, 4), ATTN_ERR_NULL, NULL);
    expect_set_rejected(f->cfg, (attn_config_key)(ATTN_CFG_GRID_W + 1), 1);
    expect_set_rejected(f->cfg, (attn_config_key)-1, 1);
    expect_set_rejected(f->cfg, ATTN_CFG_GRID_H, 5);
    assert_non_null(strstr(attn_last_error(), "read-only"));
    expect_set_rejected(f->cfg, ATTN_CFG_GRID_W, 5);
    assert_non_null(strstr(attn_last_error(), "read-only"));
    int g;
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_GRID_H, &g), ATTN_OK);
    assert_int_equal(g, 10);
}

static void test_config_set_out_of_range(void **ctx)
{
    fixture *f = *ctx;
    /* Keys that must be >= 1. */
    const attn_config_key positive[] = {ATTN_CFG_OBS_H,         ATTN_CFG_OBS_W,        ATTN_CFG_OBS_C,
                                        ATTN_CFG_NUM_ACTIONS,   ATTN_CFG_CONV_LAYERS,  ATTN_CFG_LSTM_CHANNELS,
                                        ATTN_CFG_KEY_CHANNELS,  ATTN_CFG_BASIS_U,      ATTN_CFG_BASIS_V,
                                        ATTN_CFG_NUM_QUERIES,   ATTN_CFG_CORE_UNITS};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
        expect_set_rejected(f->cfg, positive[i], 0);
        expect_set_rejected(f->cfg, positive[i], -1);
        expect_set_rejected(f->cfg, positive[i], -2147483647 - 1);
    }
    /* Keys where 0 is documented: 0 is accepted, below is not. */
    const attn_config_key zero_ok[] = {ATTN_CFG_QUERY_LAYERS, ATTN_CFG_ANSWER_LAYERS, ATTN_CFG_THREADS};
    for (size_t i = 0; i < sizeof zero_ok / sizeof zero_ok[0]; i++) {
        expect_set_rejected(f->cfg, zero_ok[i], -1);
        assert_int_equal(attn_config_set(f->cfg, zero_ok[i], 0), ATTN_OK);
    }
    expect_set_rejected(f->cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY + 1);
    expect_set_rejected(f->cfg, ATTN_CFG_OBS_TYPE, -1);
    expect_set_rejected(f->cfg, ATTN_CFG_CONV_LAYERS, ATTN_MAX_CONV_LAYERS + 1);
    expect_set_rejected(f->cfg, ATTN_CFG_QUERY_LAYERS, ATTN_MAX_MLP_HIDDEN + 1);
    expect_set_rejected(f->cfg, ATTN_CFG_ANSWER_LAYERS, ATTN_MAX_MLP_HIDDEN + 1);
    /* The documented ends of the ranges are accepted. */
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_CONV_LAYERS, ATTN_MAX_CONV_LAYERS), ATTN_OK);
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_QUERY_LAYERS, ATTN_MAX_MLP_HIDDEN), ATTN_OK);
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32), ATTN_OK);
}

static void test_config_get_errors(void **ctx)
{
    fixture *f = *ctx;
    int value = -7;
    EXPECT_FAIL(attn_config_get(f->cfg, ATTN_CFG_OBS_C, NULL), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_config_get(NULL, ATTN_CFG_OBS_C, &value), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_config_get(f->cfg, (attn_config_key)(ATTN_CFG_GRID_W + 1), &value), ATTN_ERR_INVALID, NULL);
    EXPECT_FAIL(attn_config_get(f->cfg, (attn_config_key)-1, &value), ATTN_ERR_INVALID, NULL);
    assert_int_equal(value, -7);
    /* The grid is derived: a conv stack that leaves none has no grid size to report. */
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_OBS_H, 2), ATTN_OK);
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_OBS_W, 2), ATTN_OK);
    assert_int_equal(attn_config_set_conv(f->cfg, 0, 16, 8, 1, 0), ATTN_OK);
    EXPECT_FAIL(attn_config_get(f->cfg, ATTN_CFG_GRID_H, &value), ATTN_ERR_INVALID, "kernel");
    assert_int_equal(value, -7);
}

static void expect_conv_rejected(attn_config *cfg, int layer, int out, int kernel, int stride, int padding)
{
    config_snapshot before;
    config_take(&before, cfg);
    plant_last_error();
    attn_status st = attn_config_set_conv(cfg, layer, out, kernel, stride, padding);
    if (st != ATTN_ERR_INVALID)
        fail_msg("attn_config_set_conv(layer %d, out %d, kernel %d, stride %d, padding %d) gave %s", layer, out,
                 kernel, stride, padding, attn_status_str(st));
    check_failure(st, ATTN_ERR_INVALID, NULL);
    config_expect_unchanged(&before, cfg);
}

static void test_config_set_conv_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_config_set_conv(NULL, 0, 16, 3, 1, 1), ATTN_ERR_NULL, NULL);
    expect_conv_rejected(f->cfg, -1, 16, 3, 1, 1);
    expect_conv_rejected(f->cfg, ATTN_MAX_CONV_LAYERS, 16, 3, 1, 1);
    expect_conv_rejected(f->cfg, 0, 0, 3, 1, 1);   /* no output channels */
    expect_conv_rejected(f->cfg, 0, -4, 3, 1, 1);
    expect_conv_rejected(f->cfg, 0, 16, 0, 1, 1);  /* kernel */
    expect_conv_rejected(f->cfg, 0, 16, -3, 1, 1);
    expect_conv_rejected(f->cfg, 0, 16, 3, 0, 1);  /* stride */
    expect_conv_rejected(f->cfg, 0, 16, 3, -1, 1);
    expect_conv_rejected(f->cfg, 0, 16, 3, 1, -1); /* padding */

    int out = -7, k = -7, s = -7, p = -7;
    EXPECT_FAIL(attn_config_get_conv(NULL, 0, &out, &k, &s, &p), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_config_get_conv(f->cfg, -1, &out, &k, &s, &p), ATTN_ERR_INVALID, NULL);
    EXPECT_FAIL(attn_config_get_conv(f->cfg, ATTN_MAX_CONV_LAYERS, &out, &k, &s, &p), ATTN_ERR_INVALID, NULL);
    assert_true(out == -7 && k == -7 && s == -7 && p == -7);
}

/* The header: `layer` is "0-based, below ATTN_CFG_CONV_LAYERS". The minatar preset has one conv layer. */
static void test_config_conv_layer_beyond_count(void **ctx)
{
    fixture *f = *ctx;
    expect_conv_rejected(f->cfg, 1, 16, 3, 1, 1);
    int out = -7;
    EXPECT_FAIL(attn_config_get_conv(f->cfg, 1, &out, NULL, NULL, NULL), ATTN_ERR_INVALID, NULL);
    assert_int_equal(out, -7);
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_CONV_LAYERS, 2), ATTN_OK);
    assert_int_equal(attn_config_set_conv(f->cfg, 1, 16, 3, 1, 1), ATTN_OK);
    assert_int_equal(attn_config_get_conv(f->cfg, 1, &out, NULL, NULL, NULL), ATTN_OK);
    assert_int_equal(out, 16);
}

static void expect_mlp_rejected(attn_config *cfg, attn_mlp mlp, int layer, int width)
{
    config_snapshot before;
    config_take(&before, cfg);
    plant_last_error();
    attn_status st = attn_config_set_mlp_hidden(cfg, mlp, layer, width);
    if (st != ATTN_ERR_INVALID)
        fail_msg("attn_config_set_mlp_hidden(mlp %d, layer %d, width %d) gave %s", (int)mlp, layer, width,
                 attn_status_str(st));
    check_failure(st, ATTN_ERR_INVALID, NULL);
    config_expect_unchanged(&before, cfg);
}

static void test_config_set_mlp_hidden_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_config_set_mlp_hidden(NULL, ATTN_MLP_QUERY, 0, 64), ATTN_ERR_NULL, NULL);
    expect_mlp_rejected(f->cfg, (attn_mlp)2, 0, 64);
    expect_mlp_rejected(f->cfg, (attn_mlp)-1, 0, 64);
    expect_mlp_rejected(f->cfg, ATTN_MLP_QUERY, -1, 64);
    expect_mlp_rejected(f->cfg, ATTN_MLP_ANSWER, ATTN_MAX_MLP_HIDDEN, 64);
    expect_mlp_rejected(f->cfg, ATTN_MLP_QUERY, 0, 0);
    expect_mlp_rejected(f->cfg, ATTN_MLP_ANSWER, 0, -1);

    int width = -7;
    EXPECT_FAIL(attn_config_get_mlp_hidden(NULL, ATTN_MLP_QUERY, 0, &width), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_config_get_mlp_hidden(f->cfg, ATTN_MLP_QUERY, 0, NULL), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_config_get_mlp_hidden(f->cfg, (attn_mlp)2, 0, &width), ATTN_ERR_INVALID, NULL);
    EXPECT_FAIL(attn_config_get_mlp_hidden(f->cfg, ATTN_MLP_ANSWER, ATTN_MAX_MLP_HIDDEN, &width), ATTN_ERR_INVALID,
                NULL);
    assert_int_equal(width, -7);
}

/* The header: `layer` is "below ATTN_CFG_QUERY_LAYERS / ATTN_CFG_ANSWER_LAYERS"; minatar has one of each. */
static void test_config_mlp_layer_beyond_count(void **ctx)
{
    fixture *f = *ctx;
    expect_mlp_rejected(f->cfg, ATTN_MLP_QUERY, 1, 64);
    expect_mlp_rejected(f->cfg, ATTN_MLP_ANSWER, 1, 64);
    int width = -7;
    EXPECT_FAIL(attn_config_get_mlp_hidden(f->cfg, ATTN_MLP_QUERY, 1, &width), ATTN_ERR_INVALID, NULL);
    assert_int_equal(width, -7);
    assert_int_equal(attn_config_set(f->cfg, ATTN_CFG_ANSWER_LAYERS, 2), ATTN_OK);
    assert_int_equal(attn_config_set_mlp_hidden(f->cfg, ATTN_MLP_ANSWER, 1, 64), ATTN_OK);
    assert_int_equal(attn_config_get_mlp_hidden(f->cfg, ATTN_MLP_ANSWER, 1, &width), ATTN_OK);
    assert_int_equal(width, 64);
}

/* attn_config_validate and attn_model_create both refuse `cfg`, and the model's out-pointer is cleared. */
static void expect_config_refused(const attn_config *cfg, const char *keyword)
{
    EXPECT_FAIL(attn_config_validate(cfg), ATTN_ERR_INVALID, keyword);
    attn_model *m = (attn_model *)&m;
    EXPECT_FAIL(attn_model_create(&m, cfg, 1), ATTN_ERR_INVALID, keyword);
    assert_null(m);
}

static void test_config_validate(void **ctx)
{
    fixture *f = *ctx;
    assert_int_equal(attn_config_validate(f->cfg), ATTN_OK);
    EXPECT_FAIL(attn_config_validate(NULL), ATTN_ERR_NULL, NULL);

    /* A 2×2 observation under an 8×8 kernel leaves no grid. */
    attn_config *no_grid = small_config();
    assert_int_equal(attn_config_set(no_grid, ATTN_CFG_OBS_H, 2), ATTN_OK);
    assert_int_equal(attn_config_set(no_grid, ATTN_CFG_OBS_W, 2), ATTN_OK);
    assert_int_equal(attn_config_set_conv(no_grid, 0, 16, 8, 1, 0), ATTN_OK);
    expect_config_refused(no_grid, "kernel");
    attn_config_destroy(no_grid);

    /* Key channels must leave at least one value channel. */
    const int keys[] = {32, 33};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        attn_config *no_values = small_config();
        assert_int_equal(attn_config_set(no_values, ATTN_CFG_LSTM_CHANNELS, 32), ATTN_OK);
        assert_int_equal(attn_config_set(no_values, ATTN_CFG_KEY_CHANNELS, keys[i]), ATTN_OK);
        expect_config_refused(no_values, "key");
        attn_config_destroy(no_values);
    }

    /* A second conv layer that was never described. */
    attn_config *unset_conv = small_config();
    assert_int_equal(attn_config_set(unset_conv, ATTN_CFG_CONV_LAYERS, 2), ATTN_OK);
    expect_config_refused(unset_conv, "conv");
    attn_config_destroy(unset_conv);
}

/* ---- Model ---------------------------------------------------------------------------------------------- */

static void test_model_create_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_model_create(NULL, f->cfg, 1), ATTN_ERR_NULL, NULL);
    attn_model *m = (attn_model *)&m;
    EXPECT_FAIL(attn_model_create(&m, NULL, 1), ATTN_ERR_NULL, NULL);
    assert_null(m);
    EXPECT_FAIL(attn_model_zero_grad(NULL), ATTN_ERR_NULL, NULL);
}

static void test_model_tensor_errors(void **ctx)
{
    fixture *f = *ctx;
    const char *name = "untouched";
    int ndim = -7;
    int64_t shape[4] = {-7, -7, -7, -7};
    size_t offset = 7777;
    const int count = attn_model_tensor_count(f->model);
    assert_true(count > 0);
    EXPECT_FAIL(attn_model_tensor(NULL, 0, &name, &ndim, shape, &offset), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_model_tensor(f->model, -1, &name, &ndim, shape, &offset), ATTN_ERR_INVALID, NULL);
    EXPECT_FAIL(attn_model_tensor(f->model, count, &name, &ndim, shape, &offset), ATTN_ERR_INVALID, NULL);
    assert_string_equal(name, "untouched");
    assert_int_equal(ndim, -7);
    for (int i = 0; i < 4; i++) assert_int_equal(shape[i], -7);
    assert_int_equal(offset, 7777);
    /* The last valid index still works. */
    assert_int_equal(attn_model_tensor(f->model, count - 1, &name, NULL, NULL, NULL), ATTN_OK);

    int index = -7;
    EXPECT_FAIL(attn_model_find_tensor(f->model, "vision.no_such_layer.weight", &index), ATTN_ERR_INVALID,
                "vision.no_such_layer.weight");
    EXPECT_FAIL(attn_model_find_tensor(f->model, "", &index), ATTN_ERR_INVALID, NULL);
    EXPECT_FAIL(attn_model_find_tensor(NULL, name, &index), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_model_find_tensor(f->model, NULL, &index), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_model_find_tensor(f->model, name, NULL), ATTN_ERR_NULL, NULL);
    assert_int_equal(index, -7);
    assert_int_equal(attn_model_find_tensor(f->model, name, &index), ATTN_OK);
    assert_int_equal(index, count - 1);
}

/* ---- State -------------------------------------------------------------------------------------------- */

static void test_state_create_errors(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_state_create(NULL, f->model, BATCH, UNROLL), ATTN_ERR_NULL, NULL);
    attn_state *s = (attn_state *)&s;
    EXPECT_FAIL(attn_state_create(&s, NULL, BATCH, UNROLL), ATTN_ERR_NULL, NULL);
    assert_null(s);
    const int bad_batch[] = {0, -1, -2147483647 - 1};
    for (size_t i = 0; i < sizeof bad_batch / sizeof bad_batch[0]; i++) {
        s = (attn_state *)&s;
        EXPECT_FAIL(attn_state_create(&s, f->model, bad_batch[i], UNROLL), ATTN_ERR_SIZE, "batch");
        assert_null(s);
    }
    const int bad_unroll[] = {-1, -2147483647 - 1};
    for (size_t i = 0; i < sizeof bad_unroll / sizeof bad_unroll[0]; i++) {
        s = (attn_state *)&s;
        EXPECT_FAIL(attn_state_create(&s, f->model, BATCH, bad_unroll[i]), ATTN_ERR_SIZE, "max_unroll");
        assert_null(s);
    }
    EXPECT_FAIL(attn_state_reset(NULL), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_state_clear_tape(NULL), ATTN_ERR_NULL, NULL);
}

static void test_state_get_errors(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 2);
    const size_t n = attn_state_part_size(f->state, ATTN_STATE_CORE_H);
    assert_true(n > 0);
    float *dst = calloc(n + 1, sizeof(float));
    assert_non_null(dst);
    for (size_t i = 0; i <= n; i++) dst[i] = -7.0f;
    float *sentinel = copy_floats(dst, n + 1);
    EXPECT_FAIL(attn_state_get(NULL, ATTN_STATE_CORE_H, dst, n), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_state_get(f->state, ATTN_STATE_CORE_H, NULL, n), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_state_get(f->state, ATTN_STATE_CORE_H, dst, n - 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_state_get(f->state, ATTN_STATE_CORE_H, dst, n + 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_state_get(f->state, ATTN_STATE_CORE_H, dst, 0), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_state_get(f->state, (attn_state_part)NUM_PARTS, dst, n), ATTN_ERR_INVALID, "part");
    EXPECT_FAIL(attn_state_get(f->state, (attn_state_part)-1, dst, n), ATTN_ERR_INVALID, "part");
    assert_memory_equal(dst, sentinel, (n + 1) * sizeof(float));
    free(dst);
    free(sentinel);
}

static void test_state_set_errors(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 2);
    for (int p = 0; p < NUM_PARTS; p++) {
        const attn_state_part part = (attn_state_part)p;
        const size_t n = attn_state_part_size(f->state, part);
        float *src = calloc(n + 1, sizeof(float));
        assert_non_null(src);
        fill_uniform(&f->rng, src, n + 1, -0.5f, 0.5f);
        state_snapshot before;
        state_take(&before, f->state, f->model);
        EXPECT_FAIL(attn_state_set(NULL, part, src, n), ATTN_ERR_NULL, NULL);
        EXPECT_FAIL(attn_state_set(f->state, part, NULL, n), ATTN_ERR_NULL, NULL);
        EXPECT_FAIL(attn_state_set(f->state, part, src, n - 1), ATTN_ERR_SIZE, NULL);
        EXPECT_FAIL(attn_state_set(f->state, part, src, n + 1), ATTN_ERR_SIZE, NULL);
        EXPECT_FAIL(attn_state_set(f->state, (attn_state_part)NUM_PARTS, src, n), ATTN_ERR_INVALID, "part");
        /* One bad value anywhere, even the last, rejects the whole copy: nothing is half-written. */
        const float bad[] = {NAN, INFINITY, -INFINITY};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            float keep = src[n - 1];
            src[n - 1] = bad[b];
            EXPECT_FAIL(attn_state_set(f->state, part, src, n), ATTN_ERR_NONFINITE, NULL);
            src[n - 1] = keep;
        }
        state_expect_unchanged(&before, f->state, f->model);
        free(src);
    }
}

static void test_state_set_while_recorded(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_RECORD, 1);
    const size_t n = attn_state_part_size(f->state, ATTN_STATE_VISION_H);
    float *src = calloc(n, sizeof(float));
    assert_non_null(src);
    state_snapshot before;
    state_take(&before, f->state, f->model);
    EXPECT_FAIL(attn_state_set(f->state, ATTN_STATE_VISION_H, src, n), ATTN_ERR_STATE, "record");
    state_expect_unchanged(&before, f->state, f->model);
    /* Once the tape is cleared the same call is allowed. */
    assert_int_equal(attn_state_clear_tape(f->state), ATTN_OK);
    assert_int_equal(attn_state_set(f->state, ATTN_STATE_VISION_H, src, n), ATTN_OK);
    free(src);
}

/* ---- attn_forward ------------------------------------------------------------------------------------- */

typedef struct forward_call {
    attn_model *model;
    attn_state *state;
    attn_forward_mode mode;
    const void *obs;
    size_t obs_bytes;
    const float *prev_reward;
    const int32_t *prev_action;
} forward_call;

/* The call with every argument valid for the fixture, in `mode`. */
static forward_call good_call(fixture *f, attn_forward_mode mode)
{
    return (forward_call){f->model, f->state, mode, f->obs, f->obs_bytes, NULL, NULL};
}

/* `c` must fail with `want` and leave `observed` (on `model`) exactly as it was. */
static void expect_forward_fails_on(forward_call c, attn_status want, const char *keyword, attn_state *observed,
                                    attn_model *model)
{
    state_snapshot before;
    state_take(&before, observed, model);
    float logits[BATCH * ACTIONS], values[BATCH];
    plant_last_error();
    attn_status st = attn_forward(c.model, c.state, c.mode, c.obs, c.obs_bytes, c.prev_reward, c.prev_action, NULL,
                                  logits, values);
    check_failure(st, want, keyword);
    state_expect_unchanged(&before, observed, model);
}

static void expect_forward_fails(fixture *f, forward_call c, attn_status want, const char *keyword)
{
    expect_forward_fails_on(c, want, keyword, f->state, f->model);
}

/* Runs the argument checks against a state in the two situations that matter: never stepped (no maps yet: a
 * failed call must not make attn_get_maps succeed), and stepped with one step on the tape. */
static void forward_argument_checks(fixture *f, attn_forward_mode mode)
{
    new_frames(f);
    forward_call c;

    c = good_call(f, mode);
    c.model = NULL;
    expect_forward_fails(f, c, ATTN_ERR_NULL, NULL);
    c = good_call(f, mode);
    c.state = NULL;
    expect_forward_fails(f, c, ATTN_ERR_NULL, NULL);
    c = good_call(f, mode);
    c.obs = NULL;
    expect_forward_fails(f, c, ATTN_ERR_NULL, NULL);

    const attn_forward_mode bad_modes[] = {(attn_forward_mode)2, (attn_forward_mode)-1};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        c = good_call(f, mode);
        c.mode = bad_modes[i];
        expect_forward_fails(f, c, ATTN_ERR_INVALID, "mode");
    }

    const size_t bad_sizes[] = {0, f->obs_bytes - 1, f->obs_bytes + 1, f->obs_bytes * sizeof(float),
                                f->obs_bytes / BATCH};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        c = good_call(f, mode);
        c.obs_bytes = bad_sizes[i];
        expect_forward_fails(f, c, ATTN_ERR_SIZE, "obs_bytes");
    }

    /* Checked for every environment, not just the first. */
    for (int b = 0; b < BATCH; b++) {
        const int32_t bad_actions[] = {ACTIONS, -2, 1 << 30, -2147483647 - 1};
        for (size_t i = 0; i < sizeof bad_actions / sizeof bad_actions[0]; i++) {
            int32_t actions[BATCH] = {0, ACTIONS - 1};
            actions[b] = bad_actions[i];
            c = good_call(f, mode);
            c.prev_action = actions;
            expect_forward_fails(f, c, ATTN_ERR_INVALID, "prev_action");
        }
        const float bad_rewards[] = {NAN, INFINITY, -INFINITY};
        for (size_t i = 0; i < sizeof bad_rewards / sizeof bad_rewards[0]; i++) {
            float rewards[BATCH] = {1.0f, -1.0f};
            rewards[b] = bad_rewards[i];
            c = good_call(f, mode);
            c.prev_reward = rewards;
            expect_forward_fails(f, c, ATTN_ERR_NONFINITE, "prev_reward");
        }
    }
}

static void test_forward_arguments_fresh_state(void **ctx)
{
    fixture *f = *ctx;
    forward_argument_checks(f, ATTN_FORWARD_ACT);
    forward_argument_checks(f, ATTN_FORWARD_RECORD);
    float *maps = malloc(map_count(f->model, BATCH) * sizeof(float));
    assert_non_null(maps);
    EXPECT_FAIL(attn_get_maps(f->state, maps, map_count(f->model, BATCH)), ATTN_ERR_STATE, NULL);
    free(maps);
}

static void test_forward_arguments_recording_state(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 2);
    take_steps(f, ATTN_FORWARD_RECORD, 1);
    forward_argument_checks(f, ATTN_FORWARD_RECORD);
    /* The tape still holds a valid recording. */
    assert_int_equal(attn_state_recorded(f->state), 1);
    assert_int_equal(attn_backward(f->model, f->state, NULL, NULL), ATTN_OK);
}

static void test_forward_act_arguments_after_steps(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 2);
    forward_argument_checks(f, ATTN_FORWARD_ACT);
}

static void test_forward_state_of_another_model(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 1);
    attn_model *other;
    assert_int_equal(attn_model_create(&other, f->cfg, 42), ATTN_OK); /* same configuration, same seed */
    new_frames(f);
    forward_call c = good_call(f, ATTN_FORWARD_ACT);
    c.model = other;
    expect_forward_fails(f, c, ATTN_ERR_INVALID, NULL);
    c.mode = ATTN_FORWARD_RECORD;
    expect_forward_fails(f, c, ATTN_ERR_INVALID, NULL);
    attn_model_destroy(other);
}

static void test_forward_float_observations(void **ctx)
{
    fixture *f = *ctx;
    attn_config *cfg = small_config();
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32), ATTN_OK);
    attn_model *model;
    attn_state *state;
    assert_int_equal(attn_model_create(&model, cfg, 3), ATTN_OK);
    assert_int_equal(attn_state_create(&state, model, BATCH, UNROLL), ATTN_OK);
    const size_t n = f->obs_bytes; /* floats: the uint8 fixture's byte count is this model's value count */
    float *obs = malloc(n * sizeof(float));
    assert_non_null(obs);
    fill_uniform(&f->rng, obs, n, 0.0f, 1.0f);
    assert_int_equal(attn_forward(model, state, ATTN_FORWARD_ACT, obs, n * sizeof(float), NULL, NULL, NULL, NULL,
                                  NULL),
                     ATTN_OK);
    fill_uniform(&f->rng, obs, n, 0.0f, 1.0f);

    forward_call c = {model, state, ATTN_FORWARD_RECORD, obs, n, NULL, NULL}; /* a uint8 model's size */
    expect_forward_fails_on(c, ATTN_ERR_SIZE, "obs_bytes", state, model);
    c.obs_bytes = n * sizeof(float);
    const size_t where[] = {0, n / 2, n - 1}; /* the last value of the last environment too */
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            float keep = obs[where[w]];
            obs[where[w]] = bad[b];
            c.mode = ATTN_FORWARD_ACT;
            expect_forward_fails_on(c, ATTN_ERR_NONFINITE, "obs", state, model);
            c.mode = ATTN_FORWARD_RECORD;
            expect_forward_fails_on(c, ATTN_ERR_NONFINITE, "obs", state, model);
            obs[where[w]] = keep;
        }
    free(obs);
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* Binary planes hold 0 and 1: a pixel byte anywhere is refused by name, in both modes, with nothing changed;
 * (what reaches the first layer is the obs_contract test's business). */
static void test_forward_binary_observations(void **ctx)
{
    fixture *f = *ctx;
    attn_config *cfg = small_config();
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY), ATTN_OK);
    attn_model *model;
    attn_state *state;
    assert_int_equal(attn_model_create(&model, cfg, 3), ATTN_OK);
    assert_int_equal(attn_state_create(&state, model, BATCH, UNROLL), ATTN_OK);
    const size_t n = f->obs_bytes;
    uint8_t *obs = malloc(n);
    assert_non_null(obs);
    for (size_t i = 0; i < n; i++) obs[i] = (uint8_t)((i * 7 + 3) % 5 == 0);
    forward_call c = {model, state, ATTN_FORWARD_RECORD, obs, n, NULL, NULL};
    const size_t where[] = {0, n / 2, n - 1};
    const uint8_t bad[] = {2, 128, 255};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++)
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            uint8_t keep = obs[where[w]];
            obs[where[w]] = bad[b];
            c.mode = ATTN_FORWARD_ACT;
            expect_forward_fails_on(c, ATTN_ERR_INVALID, "ATTN_OBS_U8_BINARY", state, model);
            c.mode = ATTN_FORWARD_RECORD;
            expect_forward_fails_on(c, ATTN_ERR_INVALID, "binary planes", state, model);
            obs[where[w]] = keep;
        }
    assert_int_equal(attn_forward(model, state, ATTN_FORWARD_RECORD, obs, n, NULL, NULL, NULL, NULL, NULL), ATTN_OK);
    free(obs);
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

static void test_forward_record_beyond_max_unroll(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_RECORD, UNROLL);
    assert_int_equal(attn_state_recorded(f->state), UNROLL);
    new_frames(f);
    expect_forward_fails(f, good_call(f, ATTN_FORWARD_RECORD), ATTN_ERR_SIZE, "tape");
    assert_int_equal(attn_state_recorded(f->state), UNROLL);
}

static void test_forward_record_without_tape(void **ctx)
{
    fixture *f = *ctx;
    attn_state_destroy(f->state);
    assert_int_equal(attn_state_create(&f->state, f->model, BATCH, 0), ATTN_OK);
    new_frames(f);
    expect_forward_fails(f, good_call(f, ATTN_FORWARD_RECORD), ATTN_ERR_SIZE, NULL);
    take_steps(f, ATTN_FORWARD_ACT, 1); /* acting is what such a state is for */
    new_frames(f);
    expect_forward_fails(f, good_call(f, ATTN_FORWARD_RECORD), ATTN_ERR_SIZE, NULL);
}

static void test_forward_act_while_recorded(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_RECORD, 2);
    new_frames(f);
    expect_forward_fails(f, good_call(f, ATTN_FORWARD_ACT), ATTN_ERR_STATE, "record");
    assert_int_equal(attn_state_recorded(f->state), 2);
}

/* ---- attn_backward ------------------------------------------------------------------------------------ */

static void test_backward_nothing_recorded(void **ctx)
{
    fixture *f = *ctx;
    EXPECT_FAIL(attn_backward(f->model, f->state, NULL, NULL), ATTN_ERR_STATE, "record");
    take_steps(f, ATTN_FORWARD_ACT, 1);
    EXPECT_FAIL(attn_backward(f->model, f->state, NULL, NULL), ATTN_ERR_STATE, "record");
    take_steps(f, ATTN_FORWARD_RECORD, 1);
    assert_int_equal(attn_backward(f->model, f->state, NULL, NULL), ATTN_OK);
    EXPECT_FAIL(attn_backward(f->model, f->state, NULL, NULL), ATTN_ERR_STATE, "record"); /* tape consumed */
}

/* `dlogits`/`dvalues` must be refused with `want`, leaving gradients, parameters, state and tape untouched. */
static void expect_backward_fails(fixture *f, attn_model *model, attn_state *state, const float *dlogits,
                                  const float *dvalues, attn_status want, const char *keyword)
{
    const size_t np = attn_model_param_count(f->model);
    float *grads = copy_floats(attn_model_grads(f->model), np);
    float *params = copy_floats(attn_model_params(f->model), np);
    state_snapshot before;
    state_take(&before, f->state, f->model);
    EXPECT_FAIL(attn_backward(model, state, dlogits, dvalues), want, keyword);
    assert_memory_equal(attn_model_grads(f->model), grads, np * sizeof(float));
    assert_memory_equal(attn_model_params(f->model), params, np * sizeof(float));
    state_expect_unchanged(&before, f->state, f->model);
    free(grads);
    free(params);
}

static void test_backward_errors(void **ctx)
{
    fixture *f = *ctx;
    enum { T = 2 };
    take_steps(f, ATTN_FORWARD_RECORD, T);
    /* Make the gradients non-zero first, so "unchanged" is not merely "still zero". */
    fill_uniform(&f->rng, attn_model_grads(f->model), attn_model_param_count(f->model), -1.0f, 1.0f);
    float dlogits[T * BATCH * ACTIONS], dvalues[T * BATCH];
    fill_uniform(&f->rng, dlogits, T * BATCH * ACTIONS, -1.0f, 1.0f);
    fill_uniform(&f->rng, dvalues, T * BATCH, -1.0f, 1.0f);

    expect_backward_fails(f, NULL, f->state, dlogits, dvalues, ATTN_ERR_NULL, NULL);
    expect_backward_fails(f, f->model, NULL, dlogits, dvalues, ATTN_ERR_NULL, NULL);

    attn_model *other;
    assert_int_equal(attn_model_create(&other, f->cfg, 42), ATTN_OK);
    expect_backward_fails(f, other, f->state, dlogits, dvalues, ATTN_ERR_INVALID, NULL);
    attn_model_destroy(other);

    /* A bad value in the last entry, i.e. the first step backpropagated: found before anything is added. */
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        float keep = dlogits[T * BATCH * ACTIONS - 1];
        dlogits[T * BATCH * ACTIONS - 1] = bad[b];
        expect_backward_fails(f, f->model, f->state, dlogits, dvalues, ATTN_ERR_NONFINITE, "dlogits");
        expect_backward_fails(f, f->model, f->state, dlogits, NULL, ATTN_ERR_NONFINITE, "dlogits");
        dlogits[T * BATCH * ACTIONS - 1] = keep;

        keep = dvalues[0];
        dvalues[0] = bad[b];
        expect_backward_fails(f, f->model, f->state, dlogits, dvalues, ATTN_ERR_NONFINITE, "dvalues");
        expect_backward_fails(f, f->model, f->state, NULL, dvalues, ATTN_ERR_NONFINITE, "dvalues");
        dvalues[0] = keep;
    }
    /* The tape survived every refusal. */
    assert_int_equal(attn_backward(f->model, f->state, dlogits, dvalues), ATTN_OK);
    assert_int_equal(attn_state_recorded(f->state), 0);
}

/* Finite dlogits and dvalues whose gradients overflow (dvalues of FLT_MAX: the value bias alone sums T·B of
 * them): refused before any gradient is added, the gradients and the tape as they were. They used to be added,
 * infinities and all, with ATTN_OK. */
static void test_backward_nonfinite_gradient(void **ctx)
{
    fixture *f = *ctx;
    enum { T = 2 };
    take_steps(f, ATTN_FORWARD_RECORD, T);
    fill_uniform(&f->rng, attn_model_grads(f->model), attn_model_param_count(f->model), -1.0f, 1.0f);
    float dlogits[T * BATCH * ACTIONS], dvalues[T * BATCH];
    fill_uniform(&f->rng, dlogits, T * BATCH * ACTIONS, -1.0f, 1.0f);
    for (int i = 0; i < T * BATCH; i++) dvalues[i] = FLT_MAX;
    expect_backward_fails(f, f->model, f->state, dlogits, dvalues, ATTN_ERR_NONFINITE, "would not be finite");
    assert_int_equal(attn_state_recorded(f->state), T);
    for (int i = 0; i < T * BATCH * ACTIONS; i++) dlogits[i] = -FLT_MAX;
    expect_backward_fails(f, f->model, f->state, dlogits, NULL, ATTN_ERR_NONFINITE, "would not be finite");
    /* The tape is still there for a good call. */
    fill_uniform(&f->rng, dvalues, T * BATCH, -1.0f, 1.0f);
    assert_int_equal(attn_backward(f->model, f->state, NULL, dvalues), ATTN_OK);
    assert_int_equal(attn_state_recorded(f->state), 0);
}

/* `c` must fail with ATTN_ERR_NONFINITE naming `keyword` and the environment, leaving the state (parts, tape,
 * maps) and the caller's logits and values as they were. */
static void expect_step_overflows(forward_call c, const char *keyword, const char *environment)
{
    state_snapshot before;
    state_take(&before, c.state, c.model);
    float logits[BATCH * ACTIONS], values[BATCH];
    for (int i = 0; i < BATCH * ACTIONS; i++) logits[i] = -7.0f;
    for (int i = 0; i < BATCH; i++) values[i] = -7.0f;
    plant_last_error();
    check_failure(attn_forward(c.model, c.state, c.mode, c.obs, c.obs_bytes, c.prev_reward, c.prev_action, NULL,
                               logits, values),
                  ATTN_ERR_NONFINITE, keyword);
    if (!strstr(attn_last_error(), environment))
        fail_msg("last error \"%s\" does not name %s", attn_last_error(), environment);
    state_expect_unchanged(&before, c.state, c.model);
    for (int i = 0; i < BATCH * ACTIONS; i++) assert_true(logits[i] == -7.0f);
    for (int i = 0; i < BATCH; i++) assert_true(values[i] == -7.0f);
}

/* Finite inputs whose step overflows are refused before the state, the tape, the maps or the caller's buffers
 * take anything of it, with the cause named: float observations of ±FLT_MAX (the observation), weights grown
 * huge (the weights). Each used to return ATTN_OK with a NaN ConvLSTM state,
 * and attn_get_maps then returned NaN maps. */
static void test_forward_nonfinite_result(void **ctx)
{
    fixture *f = *ctx;
    attn_config *cfg = small_config();
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32), ATTN_OK);
    attn_model *model;
    attn_state *state;
    assert_int_equal(attn_model_create(&model, cfg, 3), ATTN_OK);
    assert_int_equal(attn_state_create(&state, model, BATCH, UNROLL), ATTN_OK);
    const size_t n = f->obs_bytes, per_env = n / BATCH;
    float *obs = malloc(n * sizeof(float));
    assert_non_null(obs);
    fill_uniform(&f->rng, obs, n, 0.0f, 1.0f);
    assert_int_equal(attn_forward(model, state, ATTN_FORWARD_ACT, obs, n * sizeof(float), NULL, NULL, NULL, NULL,
                                  NULL),
                     ATTN_OK);
    /* Environment 1 sees ±FLT_MAX everywhere; environment 0 an ordinary frame. */
    for (size_t i = per_env; i < n; i++) obs[i] = i % 2 ? FLT_MAX : -FLT_MAX;
    forward_call c = {model, state, ATTN_FORWARD_ACT, obs, n * sizeof(float), NULL, NULL};
    expect_step_overflows(c, "the observation", "environment 1");
    c.mode = ATTN_FORWARD_RECORD;
    expect_step_overflows(c, "the observation", "environment 1");
    assert_int_equal(attn_state_recorded(state), 0);

    fill_uniform(&f->rng, obs, n, 0.0f, 1.0f);
    c.mode = ATTN_FORWARD_ACT;

    /* The first conv layer's weights at FLT_MAX / 4: its sums overflow on an ordinary frame. */
    int index;
    int64_t shape[4];
    size_t offset;
    assert_int_equal(attn_model_find_tensor(model, "vision.conv0.weight", &index), ATTN_OK);
    assert_int_equal(attn_model_tensor(model, index, NULL, NULL, shape, &offset), ATTN_OK);
    float *w = attn_model_params(model) + offset;
    float *saved = copy_floats(w, (size_t)(shape[0] * shape[1] * shape[2] * shape[3]));
    for (int64_t i = 0; i < shape[0] * shape[1] * shape[2] * shape[3]; i++) w[i] = FLT_MAX / 4;
    expect_step_overflows(c, "weights", "environment 0");
    memcpy(w, saved, sizeof(float) * (size_t)(shape[0] * shape[1] * shape[2] * shape[3]));
    free(saved);

    /* Nothing stuck: the next ordinary step goes through, with finite maps. */
    float logits[BATCH * ACTIONS], values[BATCH];
    assert_int_equal(attn_forward(model, state, ATTN_FORWARD_RECORD, obs, n * sizeof(float), NULL, NULL, NULL, logits,
                                  values),
                     ATTN_OK);
    const size_t nm = map_count(model, BATCH);
    float *maps = malloc(nm * sizeof(float));
    assert_non_null(maps);
    assert_int_equal(attn_get_maps(state, maps, nm), ATTN_OK);
    for (size_t i = 0; i < nm; i++) assert_true(isfinite(maps[i]));
    free(maps);
    free(obs);
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* ---- Attention maps ------------------------------------------------------------------------------------- */

static void test_get_maps_errors(void **ctx)
{
    fixture *f = *ctx;
    const size_t n = map_count(f->model, BATCH);
    float *maps = malloc((n + 1) * sizeof(float));
    assert_non_null(maps);
    for (size_t i = 0; i <= n; i++) maps[i] = -7.0f;
    float *sentinel = copy_floats(maps, n + 1);
    EXPECT_FAIL(attn_get_maps(f->state, maps, n), ATTN_ERR_STATE, "step");
    EXPECT_FAIL(attn_get_maps(NULL, maps, n), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_get_maps(f->state, NULL, n), ATTN_ERR_NULL, NULL);
    take_steps(f, ATTN_FORWARD_ACT, 1);
    EXPECT_FAIL(attn_get_maps(f->state, maps, n - 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_get_maps(f->state, maps, n + 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_get_maps(f->state, maps, n / BATCH), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_get_maps(f->state, maps, 0), ATTN_ERR_SIZE, NULL);
    assert_memory_equal(maps, sentinel, (n + 1) * sizeof(float));
    assert_int_equal(attn_get_maps(f->state, maps, n), ATTN_OK);
    free(maps);
    free(sentinel);
}

static void test_map_to_pixels_errors(void **ctx)
{
    fixture *f = *ctx;
    take_steps(f, ATTN_FORWARD_ACT, 1);
    const size_t n = map_count(f->model, BATCH);
    float *maps = malloc(n * sizeof(float));
    assert_non_null(maps);
    assert_int_equal(attn_get_maps(f->state, maps, n), ATTN_OK);
    int h, w;
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_OBS_H, &h), ATTN_OK);
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_OBS_W, &w), ATTN_OK);
    const size_t np = (size_t)h * w;
    float *pixels = malloc((np + 1) * sizeof(float));
    assert_non_null(pixels);
    for (size_t i = 0; i <= np; i++) pixels[i] = -7.0f;
    float *sentinel = copy_floats(pixels, np + 1);
    EXPECT_FAIL(attn_map_to_pixels(NULL, maps, pixels, np), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_map_to_pixels(f->model, NULL, pixels, np), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_map_to_pixels(f->model, maps, NULL, np), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_map_to_pixels(f->model, maps, pixels, np - 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_map_to_pixels(f->model, maps, pixels, np + 1), ATTN_ERR_SIZE, NULL);
    EXPECT_FAIL(attn_map_to_pixels(f->model, maps, pixels, 0), ATTN_ERR_SIZE, NULL);
    /* A map that is not a distribution: checked whole before any pixel is written, the last cell too. */
    int queries;
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_NUM_QUERIES, &queries), ATTN_OK);
    const size_t cells = map_count(f->model, 1) / (size_t)queries, last = cells - 1; /* one h×w map */
    const float keep = maps[last];
    const float nonfinite[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        maps[last] = nonfinite[i];
        EXPECT_FAIL(attn_map_to_pixels(f->model, maps, pixels, np), ATTN_ERR_NONFINITE, "not finite");
    }
    maps[last] = -1e-6f;
    EXPECT_FAIL(attn_map_to_pixels(f->model, maps, pixels, np), ATTN_ERR_INVALID, "negative");
    maps[last] = keep;
    float *zeros = calloc(cells, sizeof(float));
    assert_non_null(zeros);
    EXPECT_FAIL(attn_map_to_pixels(f->model, zeros, pixels, np), ATTN_ERR_INVALID, "zero");
    free(zeros);
    assert_memory_equal(pixels, sentinel, (np + 1) * sizeof(float));
    assert_int_equal(attn_map_to_pixels(f->model, maps, pixels, np), ATTN_OK);
    free(pixels);
    free(sentinel);
    free(maps);
}

/* A map whose only weight is a subnormal float resamples like the same map scaled up: finite pixels summing to 1.
 * The float reciprocal of its sum (1e-45) used to overflow, and every pixel came out NaN or infinite. */
static void test_map_to_pixels_subnormal_map(void **ctx)
{
    fixture *f = *ctx;
    int h, w, gh, gw;
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_OBS_H, &h), ATTN_OK);
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_OBS_W, &w), ATTN_OK);
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_GRID_H, &gh), ATTN_OK);
    assert_int_equal(attn_config_get(f->cfg, ATTN_CFG_GRID_W, &gw), ATTN_OK);
    const size_t cells = (size_t)gh * gw, np = (size_t)h * w;
    float *map = calloc(cells, sizeof(float)), *unit = calloc(cells, sizeof(float));
    float *pixels = malloc(np * sizeof(float)), *expected = malloc(np * sizeof(float));
    assert_true(map && unit && pixels && expected);
    const float tiny[] = {1e-45f, FLT_MIN / 3, FLT_MIN};
    for (size_t k = 0; k < sizeof tiny / sizeof tiny[0]; k++) {
        const size_t at = (k * 37 + 5) % cells;
        memset(map, 0, cells * sizeof(float));
        memset(unit, 0, cells * sizeof(float));
        map[at] = tiny[k];
        unit[at] = 1.0f;
        assert_int_equal(attn_map_to_pixels(f->model, unit, expected, np), ATTN_OK);
        assert_int_equal(attn_map_to_pixels(f->model, map, pixels, np), ATTN_OK);
        double sum = 0.0;
        for (size_t i = 0; i < np; i++) {
            assert_true(isfinite(pixels[i]) && pixels[i] >= 0.0f);
            assert_true(fabsf(pixels[i] - expected[i]) <= 1e-6f);
            sum += pixels[i];
        }
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    /* A few subnormal weights, the rest zero, spread over the map. */
    memset(map, 0, cells * sizeof(float));
    for (size_t i = 0; i < cells; i += 7) map[i] = 1e-45f * (float)(1 + i % 3);
    assert_int_equal(attn_map_to_pixels(f->model, map, pixels, np), ATTN_OK);
    double sum = 0.0;
    for (size_t i = 0; i < np; i++) {
        assert_true(isfinite(pixels[i]));
        sum += pixels[i];
    }
    assert_true(fabs(sum - 1.0) < 1e-5);
    free(map);
    free(unit);
    free(pixels);
    free(expected);
}

/* ---- Checkpoints ---------------------------------------------------------------------------------------- */

static void test_checkpoint_errors(void **ctx)
{
    fixture *f = *ctx;
    char dir[] = "/tmp/attn_api_errors_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char missing_dir_path[256], missing_file[256];
    snprintf(missing_dir_path, sizeof missing_dir_path, "%s/no_such_dir/model.safetensors", dir);
    snprintf(missing_file, sizeof missing_file, "%s/no_such_model.safetensors", dir);

    EXPECT_FAIL(attn_model_save(f->model, missing_dir_path), ATTN_ERR_IO, "no_such_dir");
    EXPECT_FAIL(attn_model_save(NULL, missing_file), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_model_save(f->model, NULL), ATTN_ERR_NULL, NULL);
    assert_int_equal(access(missing_file, F_OK), -1); /* a refused save leaves nothing behind */

    attn_model *m = (attn_model *)&m;
    EXPECT_FAIL(attn_model_load(&m, missing_file), ATTN_ERR_IO, "no_such_model");
    assert_null(m);
    m = (attn_model *)&m;
    EXPECT_FAIL(attn_model_load(&m, NULL), ATTN_ERR_NULL, NULL);
    assert_null(m);
    EXPECT_FAIL(attn_model_load(NULL, missing_file), ATTN_ERR_NULL, NULL);

    const size_t np = attn_model_param_count(f->model);
    float *params = copy_floats(attn_model_params(f->model), np);
    EXPECT_FAIL(attn_model_load_params(f->model, missing_file), ATTN_ERR_IO, "no_such_model");
    EXPECT_FAIL(attn_model_load_params(NULL, missing_file), ATTN_ERR_NULL, NULL);
    EXPECT_FAIL(attn_model_load_params(f->model, NULL), ATTN_ERR_NULL, NULL);
    assert_memory_equal(attn_model_params(f->model), params, np * sizeof(float));
    free(params);

    assert_int_equal(rmdir(dir), 0); /* also proves no temporary file was left in it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_str),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_cpu_kernels),
        cmocka_unit_test(test_destroy_accepts_null),
        cmocka_unit_test_setup_teardown(test_queries_of_null_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_error_kept_until_next_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_error_per_thread, setup, teardown),
        cmocka_unit_test(test_config_create_errors),
        cmocka_unit_test_setup_teardown(test_config_clone_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_unknown_and_read_only_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_conv_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_conv_layer_beyond_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_mlp_hidden_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_mlp_layer_beyond_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_tensor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_set_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_set_while_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_arguments_fresh_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_arguments_recording_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_act_arguments_after_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_state_of_another_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_float_observations, setup, teardown),

        cmocka_unit_test_setup_teardown(test_forward_binary_observations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_record_beyond_max_unroll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_record_without_tape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_act_while_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_nothing_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_nonfinite_gradient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_nonfinite_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_maps_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_to_pixels_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_to_pixels_subnormal_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
