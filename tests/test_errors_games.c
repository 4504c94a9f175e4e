/*
 * Bad input to the games library (games/minatar.h): every fallible call with NULL pointers, out-of-range
 * indices, actions and options, stepping an ended episode, and corrupt or foreign saved states — each gives
 * its documented status and changes nothing (the game's saved bytes compare equal before and after).
 * docs/errors.md names these cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "minatar.h"

#define OBS_BYTES (ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * ATTN_MINATAR_MAX_CHANNELS)

typedef struct saved {
    unsigned char *bytes;
    size_t n;
} saved;

static saved save_game(const attn_minatar *g)
{
    saved s;
    assert_int_equal(attn_minatar_save(g, NULL, 0, &s.n), ATTN_MINATAR_OK);
    s.bytes = malloc(s.n);
    assert_non_null(s.bytes);
    assert_int_equal(attn_minatar_save(g, s.bytes, s.n, &s.n), ATTN_MINATAR_OK);
    return s;
}

/* The game is in exactly the state `before` recorded; frees it. */
static void expect_unchanged(saved *before, const attn_minatar *g)
{
    saved now = save_game(g);
    assert_int_equal(now.n, before->n);
    assert_memory_equal(now.bytes, before->bytes, now.n);
    free(now.bytes);
    free(before->bytes);
}

static attn_minatar *new_game(const char *name, uint64_t seed)
{
    attn_minatar *g;
    assert_int_equal(attn_minatar_create(&g, name, NULL, seed), ATTN_MINATAR_OK);
    return g;
}

static void test_minatar_create_errors(void **unused)
{
    (void)unused;
    attn_minatar *g = NULL;
    assert_int_equal(attn_minatar_create(NULL, "breakout", NULL, 1), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_create(&g, NULL, NULL, 1), ATTN_MINATAR_ERR_NULL);
    const char *unknown[] = {"pong", "", "Breakout", "breakout ", "breakou"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        assert_int_equal(attn_minatar_create(&g, unknown[i], NULL, 1), ATTN_MINATAR_ERR_UNKNOWN_GAME);
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.version = ATTN_MINATAR_OPTIONS_VERSION + 1;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 1), ATTN_MINATAR_ERR_INVALID);
    const float bad_prob[] = {-0.01f, 1.01f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_prob / sizeof bad_prob[0]; i++) {
        assert_int_equal(attn_minatar_options_init(&o), ATTN_MINATAR_OK);
        o.sticky_action_prob = bad_prob[i];
        assert_int_equal(attn_minatar_create(&g, "breakout", &o, 1), ATTN_MINATAR_ERR_INVALID);
    }
    assert_null(g); /* never set by a failing create */
    assert_int_equal(attn_minatar_options_init(NULL), ATTN_MINATAR_ERR_NULL);
    attn_minatar_destroy(NULL);
}

static void test_minatar_game_name_errors(void **unused)
{
    (void)unused;
    const char *name = "untouched";
    assert_int_equal(attn_minatar_game_name(-1, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_game_name(ATTN_MINATAR_NUM_GAMES, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_game_name(0, NULL), ATTN_MINATAR_ERR_NULL);
    assert_string_equal(name, "untouched");
    /* Every status has its own description; unknown codes get one too. */
    const int codes[] = {ATTN_MINATAR_OK,         ATTN_MINATAR_ERR_NULL,       ATTN_MINATAR_ERR_UNKNOWN_GAME,
                         ATTN_MINATAR_ERR_ACTION, ATTN_MINATAR_ERR_TERMINATED, ATTN_MINATAR_ERR_INVALID,
                         ATTN_MINATAR_ERR_NOMEM};
    const int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            assert_string_not_equal(attn_minatar_status_str(codes[i]), attn_minatar_status_str(codes[j]));
    assert_non_null(attn_minatar_status_str(-99));
    assert_non_null(attn_minatar_status_str(7));
}

static void test_minatar_query_errors(void **unused)
{
    (void)unused;
    attn_minatar *g = new_game("breakout", 3);
    int value = -7;
    const char *name = "untouched";
    assert_int_equal(attn_minatar_name(NULL, &name), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_name(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channels(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channels(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channel_name(NULL, 0, &name), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channel_name(g, 0, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channel_name(g, -1, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_channel_name(g, 4, &name), ATTN_MINATAR_ERR_INVALID); /* breakout has 4 */
    assert_int_equal(attn_minatar_num_actions(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_num_actions(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_action_meaning(NULL, 0, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_action_meaning(g, 0, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_action_meaning(g, -1, &value), ATTN_MINATAR_ERR_ACTION);
    assert_int_equal(attn_minatar_action_meaning(g, ATTN_MINATAR_NUM_FULL_ACTIONS, &value), ATTN_MINATAR_ERR_ACTION);
    assert_int_equal(attn_minatar_terminated(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_terminated(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_ramp_index(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_ramp_index(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(value, -7);
    assert_string_equal(name, "untouched");
    attn_minatar_destroy(g);
}

static void test_minatar_step_and_observe_errors(void **unused)
{
    (void)unused;
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.minimal_action_set = 1;
    attn_minatar *g;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 4), ATTN_MINATAR_OK);
    int actions;
    assert_int_equal(attn_minatar_num_actions(g, &actions), ATTN_MINATAR_OK);
    float reward = -7.0f;
    int done = -7;
    saved before = save_game(g);
    assert_int_equal(attn_minatar_step(NULL, 0, &reward, &done), ATTN_MINATAR_ERR_NULL);
    const int bad[] = {-1, actions, ATTN_MINATAR_NUM_FULL_ACTIONS, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(attn_minatar_step(g, bad[i], &reward, &done), ATTN_MINATAR_ERR_ACTION);
    assert_true(reward == -7.0f && done == -7);
    expect_unchanged(&before, g);

    uint8_t obs[OBS_BYTES + 1];
    memset(obs, 0xab, sizeof obs);
    int channels;
    assert_int_equal(attn_minatar_channels(g, &channels), ATTN_MINATAR_OK);
    const size_t need = (size_t)ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * channels;
    assert_int_equal(attn_minatar_observe(NULL, obs, need), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_observe(g, NULL, need), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_observe(g, obs, need - 1), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_observe(g, obs, 0), ATTN_MINATAR_ERR_INVALID);
    for (size_t i = 0; i < sizeof obs; i++) assert_int_equal(obs[i], 0xab);

    /* Play until the episode ends, then step again: refused, nothing changes, restart recovers. */
    int steps = 0;
    done = 0;
    while (!done) {
        assert_int_equal(attn_minatar_step(g, 0, &reward, &done), ATTN_MINATAR_OK);
        assert_true(++steps < 100000);
    }
    before = save_game(g);
    assert_int_equal(attn_minatar_step(g, 0, &reward, &done), ATTN_MINATAR_ERR_TERMINATED);
    expect_unchanged(&before, g);
    assert_int_equal(attn_minatar_reset(NULL, 1), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_restart(NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_restart(g), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_step(g, 0, &reward, &done), ATTN_MINATAR_OK);
    attn_minatar_destroy(g);
}

static void test_minatar_clone_copy_errors(void **unused)
{
    (void)unused;
    attn_minatar *g = new_game("freeway", 5), *other = new_game("asterix", 5), *c = NULL;
    assert_int_equal(attn_minatar_clone(NULL, g), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_clone(&c, NULL), ATTN_MINATAR_ERR_NULL);
    assert_null(c);
    saved before = save_game(g);
    assert_int_equal(attn_minatar_copy(NULL, other), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_copy(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_copy(g, other), ATTN_MINATAR_ERR_INVALID); /* another game */
    expect_unchanged(&before, g);
    attn_minatar_destroy(other);
    attn_minatar_destroy(g);
}

static void test_minatar_save_load_errors(void **unused)
{
    (void)unused;
    attn_minatar *g = new_game("seaquest", 6), *other = new_game("space_invaders", 6);
    size_t len = 0;
    assert_int_equal(attn_minatar_save(NULL, NULL, 0, &len), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_save(g, NULL, 0, NULL), ATTN_MINATAR_ERR_NULL);
    saved s = save_game(g);
    unsigned char *small = malloc(s.n);
    assert_non_null(small);
    memset(small, 0xcd, s.n);
    assert_int_equal(attn_minatar_save(g, small, s.n - 1, &len), ATTN_MINATAR_ERR_INVALID);
    for (size_t i = 0; i < s.n; i++) assert_int_equal(small[i], 0xcd);
    free(small);

    /* Move the game on, so a load that changed anything would show. */
    float reward;
    int done;
    for (int i = 0; i < 5; i++) attn_minatar_step(g, i % 3, &reward, &done);
    saved before = save_game(g);
    assert_int_equal(attn_minatar_load(NULL, s.bytes, s.n), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_load(g, NULL, s.n), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_load(g, s.bytes, s.n - 1), ATTN_MINATAR_ERR_INVALID); /* truncated */
    assert_int_equal(attn_minatar_load(g, s.bytes, 0), ATTN_MINATAR_ERR_INVALID);
    /* Every single flipped byte is caught by the header or the checksum. */
    for (size_t i = 0; i < s.n; i++) {
        s.bytes[i] ^= 0x20;
        assert_int_equal(attn_minatar_load(g, s.bytes, s.n), ATTN_MINATAR_ERR_INVALID);
        s.bytes[i] ^= 0x20;
    }
    saved foreign = save_game(other);
    assert_int_equal(attn_minatar_load(g, foreign.bytes, foreign.n), ATTN_MINATAR_ERR_INVALID);
    expect_unchanged(&before, g);
    /* The control: the intact bytes load. */
    assert_int_equal(attn_minatar_load(g, s.bytes, s.n), ATTN_MINATAR_OK);
    free(foreign.bytes);
    free(s.bytes);
    attn_minatar_destroy(other);
    attn_minatar_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minatar_create_errors),
        cmocka_unit_test(test_minatar_game_name_errors),
        cmocka_unit_test(test_minatar_query_errors),
        cmocka_unit_test(test_minatar_step_and_observe_errors),
        cmocka_unit_test(test_minatar_clone_copy_errors),
        cmocka_unit_test(test_minatar_save_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
