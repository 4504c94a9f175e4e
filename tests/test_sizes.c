/*
 * Size arithmetic on configurations, batches and unrolls: every size a configuration, a file header or an argument
 * drives is multiplied with checked arithmetic (lib/sizes.h), validation bounds every layer's tensors (not only the
 * last layer's), and a batch or unroll too large for the network is refused before anything is allocated. Each
 * case here was accepted before (docs/errors.md names them): the configurations validated and then overflowed an
 * int in attn_state_create (undefined behaviour), the layouts wrapped around size_t.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "carve.h"
#include "test_errors.h"

/* The helper saturates instead of wrapping, so a chain of products is checked once at its end. */
static void test_size_arithmetic_saturates(void **ctx)
{
    (void)ctx;
    assert_true(size_mul(3, 5) == 15);
    assert_true(size_mul(SIZE_MAX / 2, 3) == SIZE_MAX);
    assert_true(size_mul(SIZE_MAX, 0) == 0);
    assert_true(size_mul(size_mul((size_t)1 << 40, (size_t)1 << 30), 2) == SIZE_MAX);
    assert_true(size_add(SIZE_MAX - 1, 2) == SIZE_MAX);
    assert_true(size_add(SIZE_MAX, 0) == SIZE_MAX);
    const size_t f[3] = {(size_t)1 << 30, (size_t)1 << 30, (size_t)1 << 30};
    assert_true(size_prod(2, f) == (size_t)1 << 60);
    assert_true(size_prod(3, f) == SIZE_MAX);

    /* A layout beyond the address space measures SIZE_MAX (it used to wrap to a small block) and is refused. */
    carver c = {NULL, 0};
    take(&c, 10, 4);
    take(&c, SIZE_MAX / 8, 16);
    assert_true(c.used == SIZE_MAX);
    take(&c, 1, 1);
    assert_true(c.used == SIZE_MAX);
    assert_null(carve_alloc(&c));
    carver fine = {NULL, 0};
    take(&fine, 3, 4);
    take(&fine, 1, 1); /* 64-byte aligned pieces: 12 bytes, then one at 64 */
    assert_true(fine.used == 65);
}

/* A configuration with one conv layer per entry of `conv` ({out, kernel, stride, pad}) and the smallest everything
 * else: 2 ConvLSTM channels, one key channel, a 1×1 basis, one core unit, no hidden MLP layers. */
static attn_config *lean_config(int h, int w, int c, int layers, const int conv[][4], int queries)
{
    attn_config *cfg = NULL;
    assert_int_equal(attn_config_create(&cfg, ATTN_PRESET_MINATAR), ATTN_OK);
    const attn_config_key keys[] = {ATTN_CFG_OBS_H,         ATTN_CFG_OBS_W,       ATTN_CFG_OBS_C,
                                    ATTN_CFG_NUM_ACTIONS,   ATTN_CFG_CONV_LAYERS, ATTN_CFG_LSTM_CHANNELS,
                                    ATTN_CFG_KEY_CHANNELS,  ATTN_CFG_BASIS_U,     ATTN_CFG_BASIS_V,
                                    ATTN_CFG_NUM_QUERIES,   ATTN_CFG_CORE_UNITS,  ATTN_CFG_QUERY_LAYERS,
                                    ATTN_CFG_ANSWER_LAYERS, ATTN_CFG_THREADS};
    const int values[] = {h, w, c, 2, layers, 2, 1, 1, 1, queries, 1, 0, 0, 1};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_int_equal(attn_config_set(cfg, keys[k], values[k]), ATTN_OK);
    for (int i = 0; i < layers; i++)
        assert_int_equal(attn_config_set_conv(cfg, i, conv[i][0], conv[i][1], conv[i][2], conv[i][3]), ATTN_OK);
    return cfg;
}

/* Refused by validation and by model creation, with `keyword` in the message. */
static void expect_refused(attn_config *cfg, const char *keyword)
{
    EXPECT_STATUS(attn_config_validate(cfg), ATTN_ERR_INVALID, keyword);
    attn_model *m = (attn_model *)&m;
    EXPECT_STATUS(attn_model_create(&m, cfg, 1), ATTN_ERR_INVALID, keyword);
    assert_null(m);
    attn_config_destroy(cfg);
}

/* Every layer's tensors are bounded, not only the grid the last one leaves: each configuration below validated
 * before and made attn_state_create multiply its sizes past INT_MAX in int. */
static void test_config_validate_bounds_every_layer(void **ctx)
{
    (void)ctx;
    /* The first of two conv layers: 4096×4096 cells × 65536 channels; the second shrinks it to a 64×64 grid. */
    const int wide_first[2][4] = {{65536, 1, 1, 0}, {1, 64, 64, 0}};
    expect_refused(lean_config(4096, 4096, 1, 2, wide_first, 1), "conv layer 0's 4096×4096×65536 output");
    /* The middle one of three: its unfolded input is 961×961 cells × 64·64·64 taps; its output is small. */
    const int deep_middle[3][4] = {{64, 1, 1, 0}, {1, 64, 1, 0}, {1, 31, 31, 0}};
    expect_refused(lean_config(1024, 1024, 1, 3, deep_middle, 1), "conv layer 1's unfolded input");
    /* A 1000×100 grid with 65536 queries: 6.5e9 map cells per environment. */
    const int plain[1][4] = {{1, 1, 1, 0}};
    expect_refused(lean_config(1000, 100, 1, 1, plain, 65536), "the attention maps");
    /* A weight: 65536 hidden units of the query MLP from 65536 core units. */
    attn_config *cfg = lean_config(8, 8, 1, 1, plain, 1);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_CORE_UNITS, 65536), ATTN_OK);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_QUERY_LAYERS, 1), ATTN_OK);
    assert_int_equal(attn_config_set_mlp_hidden(cfg, ATTN_MLP_QUERY, 0, 65536), ATTN_OK);
    expect_refused(cfg, "query MLP layer 0's weight");

    /* Just inside: the same network with a modest first layer validates. */
    const int modest[2][4] = {{8, 1, 1, 0}, {1, 64, 64, 0}};
    cfg = lean_config(4096, 4096, 1, 2, modest, 1);
    assert_int_equal(attn_config_validate(cfg), ATTN_OK);
    attn_config_destroy(cfg);
}

/* A state's rows (B × a layer's cells) go to BLAS as an int: a batch that cannot fit is refused before anything is
 * allocated (it used to try to allocate terabytes), and so are the rollouts and learners built on states. */
static void test_state_create_bounds_batch_rows(void **ctx)
{
    (void)ctx;
    const int conv[1][4] = {{16, 3, 1, 1}};
    attn_config *cfg = lean_config(64, 64, 1, 1, conv, 1); /* 4096 cells: 1048576 environments make 2^32 rows */
    attn_model *model;
    assert_int_equal(attn_model_create(&model, cfg, 1), ATTN_OK);
    attn_state *state = (attn_state *)&state;
    EXPECT_STATUS(attn_state_create(&state, model, 1048576, 0), ATTN_ERR_SIZE, "batch 1048576 is too large");
    assert_null(state);
    EXPECT_STATUS(attn_state_create(&state, model, 1048577, 0), ATTN_ERR_SIZE, "batch");
    EXPECT_STATUS(attn_state_create(&state, model, 1, 65537), ATTN_ERR_SIZE, "max_unroll");
    attn_rollout *ro = (attn_rollout *)&ro;
    EXPECT_STATUS(attn_rollout_create(&ro, model, 1048576, 1, 7), ATTN_ERR_SIZE, "too large");
    assert_null(ro);
    /* The episodes finished in one collect are counted in an int: batch × unroll is bounded by INT_MAX. */
    EXPECT_STATUS(attn_rollout_create(&ro, model, 2, INT_MAX, 7), ATTN_ERR_SIZE, "samples");
    assert_null(ro);
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, ATTN_LOSS_A2C), ATTN_OK);
    attn_learner *ln = (attn_learner *)&ln;
    EXPECT_STATUS(attn_learner_create(&ln, model, &lc, 1048576, 1), ATTN_ERR_SIZE, "too large");
    assert_null(ln);

    /* The largest batch that fits is accepted by the check (then allocated only as far as memory allows: a
     * batch of 2 stands in for it here). */
    assert_int_equal(attn_state_create(&state, model, 2, 3), ATTN_OK);
    attn_state_destroy(state);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_arithmetic_saturates),
        cmocka_unit_test(test_config_validate_bounds_every_layer),
        cmocka_unit_test(test_state_create_bounds_batch_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
