/*
 * attn_forward packs the conv weights once and reuses the packing while the weights keep the same bits
 * (lib/forward.c, packing_is_current). Reuse must never be visible: every step here is compared, bit for bit,
 * with the same step on a fresh state, which always packs. The cases are the ways a packing goes stale —
 * weights written by the host through attn_model_params between two steps (one float, at either end of the
 * conv weights), an optimizer step, a new plan, and attn_backward, which packs the ConvLSTM's transposed
 * weights into the same buffer — and each checks first that the change really moves the outputs, so a stale
 * packing could not pass unnoticed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "test_util.h"

enum { B = 3, C = 4, A = 5, OBS = B * 10 * 10 * C, T = 2 };

typedef struct step_out {
    float logits[B * A], values[B];
} step_out;

static attn_model *model(int threads)
{
    attn_config *cfg = minatar_config(C, A);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_THREADS, threads), ATTN_OK);
    /* Binary planes, as the built-in games send: a weight change then reaches the outputs at full size. */
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY), ATTN_OK);
    attn_model *m;
    assert_int_equal(attn_model_create(&m, cfg, 11), ATTN_OK);
    attn_config_destroy(cfg);
    randomize_params(m, 4, 1.0f);
    return m;
}

static void observation(uint8_t *obs, uint64_t seed)
{
    test_rng r = {seed};
    for (int i = 0; i < OBS; i++) obs[i] = (uint8_t)trng_int(&r, 2);
}

static void step(attn_model *m, attn_state *s, const uint8_t *obs, step_out *o)
{
    assert_int_equal(attn_forward(m, s, ATTN_FORWARD_ACT, obs, OBS, NULL, NULL, NULL, o->logits, o->values), ATTN_OK);
}

/* A state that has never stepped (so it packs on its first step) holding `from`'s recurrent state and plan. */
static attn_state *fresh_copy(attn_model *m, const attn_state *from)
{
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, 0), ATTN_OK);
    assert_int_equal(attn_state_set_conv_plan(s, attn_state_conv_plan(from)), ATTN_OK);
    for (int part = ATTN_STATE_VISION_H; part <= ATTN_STATE_CORE_C; part++) {
        const size_t n = attn_state_part_size(from, (attn_state_part)part);
        float *x = test_malloc(sizeof(float) * n);
        assert_int_equal(attn_state_get(from, (attn_state_part)part, x, n), ATTN_OK);
        assert_int_equal(attn_state_set(s, (attn_state_part)part, x, n), ATTN_OK);
        test_free(x);
    }
    return s;
}

static void assert_same_step(const step_out *a, const step_out *b)
{
    assert_memory_equal(a->logits, b->logits, sizeof a->logits);
    assert_memory_equal(a->values, b->values, sizeof a->values);
}

static void assert_moved(const step_out *a, const step_out *b)
{
    assert_true(memcmp(a->logits, b->logits, sizeof a->logits) != 0);
}

typedef void (*change_fn)(attn_model *m, attn_state *s, void *ctx);

/* s steps once (packing), then `change` runs, then s steps again: that step must equal a fresh state's from the
 * same recurrent state, and differ from the step s would have taken without the change. */
static void check_change(int threads, change_fn change, void *ctx)
{
    attn_model *m = model(threads);
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, 0), ATTN_OK);
    uint8_t obs0[OBS], obs1[OBS];
    observation(obs0, 1), observation(obs1, 2);
    step_out first, unchanged, reused, repacked;
    step(m, s, obs0, &first);
    attn_state *before = fresh_copy(m, s);
    step(m, before, obs1, &unchanged);
    change(m, s, ctx);
    attn_state *fresh = fresh_copy(m, s);
    step(m, s, obs1, &reused);
    step(m, fresh, obs1, &repacked);
    assert_moved(&repacked, &unchanged);
    assert_same_step(&reused, &repacked);
    attn_state_destroy(before), attn_state_destroy(fresh), attn_state_destroy(s);
    attn_model_destroy(m);
}

/* Host writes: one float of the named tensor, its first (at = 0) or last (at = 1) element. */
typedef struct poke {
    const char *tensor;
    int last;
} poke;

static void poke_weight(attn_model *m, attn_state *s, void *ctx)
{
    (void)s;
    const poke *p = ctx;
    int index;
    int64_t shape[4];
    size_t offset;
    assert_int_equal(attn_model_find_tensor(m, p->tensor, &index), ATTN_OK);
    assert_int_equal(attn_model_tensor(m, index, NULL, NULL, shape, &offset), ATTN_OK);
    const size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    float *w = attn_model_params(m) + offset + (p->last ? n - 1 : 0);
    *w += 0.5f + fabsf(*w);
}

static void test_host_write_to_the_first_conv_is_seen(void **ctx)
{
    (void)ctx;
    poke p = {"vision.conv0.weight", 0};
    check_change(1, poke_weight, &p);
    check_change(2, poke_weight, &p);
}

static void test_host_write_to_the_last_convlstm_weight_is_seen(void **ctx)
{
    (void)ctx;
    poke p = {"vision.convlstm.weight", 1};
    check_change(1, poke_weight, &p);
    check_change(2, poke_weight, &p);
}

/* An optimizer step on a gradient from a recorded unroll of another state. */
static void optimizer_step(attn_model *m, attn_state *s, void *ctx)
{
    (void)s, (void)ctx;
    attn_state *tape;
    assert_int_equal(attn_state_create(&tape, m, B, 1), ATTN_OK);
    uint8_t obs[OBS];
    observation(obs, 9);
    float logits[B * A], values[B], dl[B * A], dv[B];
    assert_int_equal(attn_forward(m, tape, ATTN_FORWARD_RECORD, obs, OBS, NULL, NULL, NULL, logits, values), ATTN_OK);
    test_rng r = {3};
    fill_uniform(&r, dl, B * A, -1, 1), fill_uniform(&r, dv, B, -1, 1);
    assert_int_equal(attn_model_zero_grad(m), ATTN_OK);
    assert_int_equal(attn_backward(m, tape, dl, dv), ATTN_OK);
    attn_optimizer *opt;
    assert_int_equal(attn_optimizer_create(&opt, m, ATTN_OPTIM_ADAM), ATTN_OK);
    assert_int_equal(attn_optimizer_set(opt, ATTN_OPT_LR, 0.05), ATTN_OK);
    assert_int_equal(attn_optimizer_step(opt, m, NULL), ATTN_OK);
    attn_optimizer_destroy(opt);
    attn_state_destroy(tape);
}

static void test_optimizer_step_is_seen(void **ctx)
{
    (void)ctx;
    check_change(1, optimizer_step, NULL);
    check_change(2, optimizer_step, NULL);
}

/* A new plan on the same weights: the packing made for the old methods must not be read as the new ones'. The
 * outputs then move only by rounding, so this case compares with a fresh state and not with the old step. */
static void test_new_plan_repacks(void **ctx)
{
    (void)ctx;
    attn_model *m = model(1);
    attn_state *s;
    assert_int_equal(attn_state_create(&s, m, B, 0), ATTN_OK);
    uint8_t obs0[OBS], obs1[OBS];
    observation(obs0, 1), observation(obs1, 2);
    step_out o, reused, repacked;
    step(m, s, obs0, &o);
    const char *plans[] = {"unfold,unfold", "unfold-by-pixel,unfold-by-pixel", "rule"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(attn_state_set_conv_plan(s, plans[i]), ATTN_OK);
        attn_state *fresh = fresh_copy(m, s);
        step(m, s, obs1, &reused);
        step(m, fresh, obs1, &repacked);
        assert_same_step(&reused, &repacked);
        attn_state_destroy(fresh);
    }
    attn_state_destroy(s);
    attn_model_destroy(m);
}

/* Record, backward (which packs into the same buffer), record again: the second unroll's steps equal a fresh
 * state's. The weights do not change in between, so only the overwritten buffer could make them differ. */
static void test_steps_after_backward_repack(void **ctx)
{
    (void)ctx;
    for (int threads = 1; threads <= 2; threads++) {
        attn_model *m = model(threads);
        attn_state *s;
        assert_int_equal(attn_state_create(&s, m, B, T), ATTN_OK);
        uint8_t obs[OBS];
        float logits[T * B * A], values[T * B], dl[T * B * A], dv[T * B];
        test_rng r = {6};
        fill_uniform(&r, dl, T * B * A, -1, 1), fill_uniform(&r, dv, T * B, -1, 1);
        for (int t = 0; t < T; t++) {
            observation(obs, 20 + (uint64_t)t);
            assert_int_equal(attn_forward(m, s, ATTN_FORWARD_RECORD, obs, OBS, NULL, NULL, NULL, logits + t * B * A,
                                          values + t * B),
                             ATTN_OK);
        }
        assert_int_equal(attn_backward(m, s, dl, dv), ATTN_OK);
        attn_state *fresh = fresh_copy(m, s);
        step_out reused, repacked;
        observation(obs, 30);
        step(m, s, obs, &reused);
        step(m, fresh, obs, &repacked);
        assert_same_step(&reused, &repacked);
        attn_state_destroy(fresh), attn_state_destroy(s);
        attn_model_destroy(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_write_to_the_first_conv_is_seen),
        cmocka_unit_test(test_host_write_to_the_last_convlstm_weight_is_seen),
        cmocka_unit_test(test_optimizer_step_is_seen),
        cmocka_unit_test(test_new_plan_repacks),
        cmocka_unit_test(test_steps_after_backward_repack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
