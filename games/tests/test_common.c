/*
 * What all five games share: names, channels and action sets as the specification lists them
 * (../shared/spec/minatar-rules.md), 0/1 observations of the documented size, seeded determinism, snapshots,
 * sticky actions, and the errors of every call.
 */
#include <math.h>
#include <string.h>

#include "game_test.h"

typedef struct game_spec {
    const char *name;
    int channels;
    const char *channel_names[ATTN_MINATAR_MAX_CHANNELS];
    int num_minimal;
    int minimal[ATTN_MINATAR_NUM_FULL_ACTIONS];
} game_spec;

/* The table of the specification, alphabetical. */
static const game_spec specs[ATTN_MINATAR_NUM_GAMES] = {
    { "asterix", 4, { "player", "enemy", "trail", "gold" }, 5, { N, L, U, R, D } },
    { "breakout", 4, { "paddle", "ball", "trail", "brick" }, 3, { N, L, R } },
    { "freeway", 7, { "chicken", "car", "speed1", "speed2", "speed3", "speed4", "speed5" }, 3, { N, U, D } },
    { "seaquest", 10,
      { "sub_front", "sub_back", "friendly_bullet", "trail", "enemy_bullet", "enemy_fish", "enemy_sub",
        "oxygen_gauge", "diver_gauge", "diver" },
      6, { N, L, U, R, D, F } },
    { "space_invaders", 6,
      { "cannon", "alien", "alien_left", "alien_right", "friendly_bullet", "enemy_bullet" }, 4,
      { N, L, R, F } },
};

/* A small generator for the tests' own random actions, independent of the games'. */
static int test_action(uint64_t *state, int count)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (int)((*state >> 33) % (uint64_t)count);
}

static void test_names_channels_actions(void **state)
{
    (void)state;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        const game_spec *spec = &specs[i];
        const char *name;
        assert_int_equal(attn_minatar_game_name(i, &name), ATTN_MINATAR_OK);
        assert_string_equal(name, spec->name);
        for (int minimal = 0; minimal <= 1; minimal++) {
            attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
            o.minimal_action_set = minimal;
            attn_minatar *g;
            assert_int_equal(attn_minatar_create(&g, name, &o, 1), ATTN_MINATAR_OK);
            const char *own;
            assert_int_equal(attn_minatar_name(g, &own), ATTN_MINATAR_OK);
            assert_string_equal(own, spec->name);
            int channels, count, meaning;
            assert_int_equal(attn_minatar_channels(g, &channels), ATTN_MINATAR_OK);
            assert_int_equal(channels, spec->channels);
            for (int c = 0; c < channels; c++) {
                const char *cname;
                assert_int_equal(attn_minatar_channel_name(g, c, &cname), ATTN_MINATAR_OK);
                assert_string_equal(cname, spec->channel_names[c]);
            }
            assert_int_equal(attn_minatar_num_actions(g, &count), ATTN_MINATAR_OK);
            assert_int_equal(count, minimal ? spec->num_minimal : 6);
            for (int a = 0; a < count; a++) {
                assert_int_equal(attn_minatar_action_meaning(g, a, &meaning), ATTN_MINATAR_OK);
                assert_int_equal(meaning, minimal ? spec->minimal[a] : a);
            }
            attn_minatar_destroy(g);
        }
    }
}

/* Every byte of every observation is 0 or 1; exactly 100·C bytes are written; the bytes after are left alone.
 * 20000 random steps per game with the default options, through many episodes. */
static void test_observations_are_binary(void **state)
{
    (void)state;
    uint64_t policy = 1;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        attn_minatar *g;
        assert_int_equal(attn_minatar_create(&g, specs[i].name, NULL, 11), ATTN_MINATAR_OK);
        size_t size = (size_t)100 * (size_t)specs[i].channels;
        uint8_t obs[1000 + 16];
        int nonzero_seen = 0;
        for (int t = 0; t < 20000; t++) {
            memset(obs, 0xAB, sizeof obs);
            assert_int_equal(attn_minatar_observe(g, obs, size), ATTN_MINATAR_OK);
            int ones = 0;
            for (size_t k = 0; k < size; k++) {
                assert_true(obs[k] <= 1);
                ones += obs[k];
            }
            for (size_t k = size; k < sizeof obs; k++)
                assert_int_equal(obs[k], 0xAB);
            nonzero_seen |= ones > 0;
            int done;
            assert_int_equal(attn_minatar_step(g, test_action(&policy, 6), NULL, &done), ATTN_MINATAR_OK);
            if (done)
                assert_int_equal(attn_minatar_restart(g), ATTN_MINATAR_OK);
        }
        assert_true(nonzero_seen);
        attn_minatar_destroy(g);
    }
}

/* Steps `a` and `b` alike through `steps` random actions (from `policy_seed`), restarting each at its episode
 * ends; *identical tells whether every observation, reward and termination agreed. */
static void run_pair(attn_minatar *a, attn_minatar *b, int steps, uint64_t policy_seed, int *identical)
{
    uint64_t policy = policy_seed;
    uint8_t oa[1000], ob[1000];
    *identical = 1;
    int actions, channels;
    attn_minatar_num_actions(a, &actions);
    attn_minatar_channels(a, &channels);
    size_t size = (size_t)100 * (size_t)channels;
    for (int t = 0; t < steps; t++) {
        int act = test_action(&policy, actions);
        float ra, rb;
        int da, db;
        assert_int_equal(attn_minatar_step(a, act, &ra, &da), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_step(b, act, &rb, &db), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_observe(a, oa, sizeof oa), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_observe(b, ob, sizeof ob), ATTN_MINATAR_OK);
        if (ra != rb || da != db || memcmp(oa, ob, size) != 0)
            *identical = 0;
        if (da)
            attn_minatar_restart(a);
        if (db)
            attn_minatar_restart(b);
    }
}

/* Two handles with the same seed and default options (sticky actions on) given the same 10000 actions agree on
 * every observation, reward and termination; a handle reset to that seed mid-game replays the same again; a
 * different seed diverges. */
static void test_determinism(void **state)
{
    (void)state;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        attn_minatar *a, *b, *c;
        assert_int_equal(attn_minatar_create(&a, specs[i].name, NULL, 1234), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_create(&b, specs[i].name, NULL, 1234), ATTN_MINATAR_OK);
        int identical;
        run_pair(a, b, 10000, 99, &identical);
        assert_true(identical);

        assert_int_equal(attn_minatar_create(&c, specs[i].name, NULL, 1234), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_reset(a, 1234), ATTN_MINATAR_OK);
        run_pair(a, c, 10000, 99, &identical);
        assert_true(identical);

        assert_int_equal(attn_minatar_reset(a, 1234), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_reset(b, 4321), ATTN_MINATAR_OK);
        run_pair(a, b, 10000, 99, &identical);
        assert_false(identical);
        attn_minatar_destroy(a);
        attn_minatar_destroy(b);
        attn_minatar_destroy(c);
    }
}

/* Saved bytes loaded into another handle of the same game continue exactly as the original; a corrupted or
 * foreign blob is refused and changes nothing. */
static void test_save_and_load(void **state)
{
    (void)state;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        attn_minatar *a, *b;
        assert_int_equal(attn_minatar_create(&a, specs[i].name, NULL, 77), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_create(&b, specs[i].name, NULL, 5), ATTN_MINATAR_OK);
        int identical;
        uint64_t policy = 3;
        int actions;
        attn_minatar_num_actions(a, &actions);
        for (int t = 0; t < 300; t++) {
            int done;
            assert_int_equal(attn_minatar_step(a, test_action(&policy, actions), NULL, &done), ATTN_MINATAR_OK);
            if (done) attn_minatar_restart(a);
        }
        size_t len;
        assert_int_equal(attn_minatar_save(a, NULL, 0, &len), ATTN_MINATAR_OK);
        static unsigned char buf[1 << 16];
        assert_true(len <= sizeof buf);
        assert_int_equal(attn_minatar_save(a, buf, len - 1, &len), ATTN_MINATAR_ERR_INVALID);
        assert_int_equal(attn_minatar_save(a, buf, sizeof buf, &len), ATTN_MINATAR_OK);

        /* A flipped byte in the state, a wrong length, or another game's bytes are refused. */
        attn_minatar *before;
        assert_int_equal(attn_minatar_clone(&before, b), ATTN_MINATAR_OK);
        buf[len - 1] ^= 1;
        assert_int_equal(attn_minatar_load(b, buf, len), ATTN_MINATAR_ERR_INVALID);
        buf[len - 1] ^= 1;
        assert_int_equal(attn_minatar_load(b, buf, len - 1), ATTN_MINATAR_ERR_INVALID);
        attn_minatar *other;
        assert_int_equal(attn_minatar_create(&other, specs[(i + 1) % ATTN_MINATAR_NUM_GAMES].name, NULL, 1),
                         ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_load(other, buf, len), ATTN_MINATAR_ERR_INVALID);
        run_pair(b, before, 500, 11, &identical);
        assert_true(identical); /* the refused loads left b as it was */

        assert_int_equal(attn_minatar_load(b, buf, len), ATTN_MINATAR_OK);
        run_pair(a, b, 5000, 12, &identical);
        assert_true(identical);
        attn_minatar_destroy(a);
        attn_minatar_destroy(b);
        attn_minatar_destroy(before);
        attn_minatar_destroy(other);
    }
}

/* A clone, and a copy into another handle, taken mid-episode continue exactly as the original. */
static void test_clone_and_copy(void **state)
{
    (void)state;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++) {
        attn_minatar *a, *b, *c;
        assert_int_equal(attn_minatar_create(&a, specs[i].name, NULL, 5), ATTN_MINATAR_OK);
        int identical;
        assert_int_equal(attn_minatar_create(&b, specs[i].name, NULL, 5), ATTN_MINATAR_OK);
        run_pair(a, b, 137, 3, &identical);
        attn_minatar_destroy(b);
        assert_int_equal(attn_minatar_clone(&b, a), ATTN_MINATAR_OK);
        run_pair(a, b, 3000, 4, &identical);
        assert_true(identical);
        assert_int_equal(attn_minatar_create(&c, specs[i].name, NULL, 77), ATTN_MINATAR_OK);
        assert_int_equal(attn_minatar_copy(c, a), ATTN_MINATAR_OK);
        run_pair(a, c, 3000, 5, &identical);
        assert_true(identical);
        attn_minatar_destroy(a);
        attn_minatar_destroy(b);
        attn_minatar_destroy(c);
    }
}

/*
 * Sticky actions, seen through the breakout paddle (which moves -1, 0, +1 for l, n, r away from the walls).
 * Each step asks for an action different from the one the paddle showed last, so the paddle's move tells
 * whether the previous action was played instead. Over 20000 steps the repeat frequency must be near the
 * probability: 0.1 ± 0.02 (about 9 standard deviations: sqrt(0.09/20000) ≈ 0.0021). With probability 0 nothing
 * is ever repeated; with probability 1 the first action (no-op) repeats forever.
 */
static double sticky_frequency(float prob, int steps)
{
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.sticky_action_prob = prob;
    o.minimal_action_set = 1; /* n, l, r */
    attn_minatar *g;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 2024), ATTN_MINATAR_OK);
    uint8_t obs[400];
    uint64_t policy = 17;
    int last = 0; /* minimal index of the action last played: 0 n, 1 l, 2 r */
    int repeats = 0, counted = 0;
    for (int t = 0; t < steps; t++) {
        attn_minatar_observe(g, obs, sizeof obs);
        int x = 0;
        while (!obs[(90 + x) * 4])
            x++;
        /* Keep off the walls: near one, only actions that do not push further are asked for. */
        int choice;
        do
            choice = test_action(&policy, 3);
        while (choice == last || (x <= 1 && choice == 1) || (x >= 8 && choice == 2));
        int done;
        assert_int_equal(attn_minatar_step(g, choice, NULL, &done), ATTN_MINATAR_OK);
        attn_minatar_observe(g, obs, sizeof obs);
        int nx = 0;
        while (!obs[(90 + nx) * 4])
            nx++;
        int played = nx == x ? 0 : nx < x ? 1 : 2;
        /* Against a wall a push looks like "n": only steps that start off the walls are counted (choosing
         * by where the paddle ends would drop repeats selectively). */
        if (x > 0 && x < 9) {
            counted++;
            repeats += played == last;
        }
        last = played;
        if (done)
            attn_minatar_restart(g);
    }
    attn_minatar_destroy(g);
    return (double)repeats / counted;
}

static void test_sticky_actions(void **state)
{
    (void)state;
    double f = sticky_frequency(0.1f, 20000);
    assert_true(f > 0.08 && f < 0.12);
    assert_true(sticky_frequency(0.0f, 2000) == 0.0);
    f = sticky_frequency(0.3f, 20000);
    assert_true(f > 0.27 && f < 0.33);
    /* Probability 1: every step plays the first "previous action", the no-op; the paddle never moves. */
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.sticky_action_prob = 1.0f;
    attn_minatar *g;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 3), ATTN_MINATAR_OK);
    uint8_t obs[400];
    for (int t = 0; t < 5; t++) {
        assert_int_equal(attn_minatar_step(g, ATTN_MINATAR_RIGHT, NULL, NULL), ATTN_MINATAR_OK);
        attn_minatar_observe(g, obs, sizeof obs);
        assert_int_equal(obs[(90 + 4) * 4], 1);
    }
    attn_minatar_destroy(g);
}

static void test_errors(void **state)
{
    (void)state;
    attn_minatar *g = (attn_minatar *)&g; /* anything but NULL, to see create clear it on failure */
    const char *name;
    int value;
    float reward;
    uint8_t obs[400];

    assert_int_equal(attn_minatar_create(NULL, "breakout", NULL, 0), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_create(&g, NULL, NULL, 0), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_create(&g, "pong", NULL, 0), ATTN_MINATAR_ERR_UNKNOWN_GAME);
    assert_null(g);
    assert_int_equal(attn_minatar_create(&g, "Breakout", NULL, 0), ATTN_MINATAR_ERR_UNKNOWN_GAME);
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.version = 99;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 0), ATTN_MINATAR_ERR_INVALID);
    const float bad_probs[3] = { -0.1f, 1.5f, NAN };
    for (int k = 0; k < 3; k++) {
        assert_int_equal(attn_minatar_options_init(&o), ATTN_MINATAR_OK);
        o.sticky_action_prob = bad_probs[k];
        assert_int_equal(attn_minatar_create(&g, "breakout", &o, 0), ATTN_MINATAR_ERR_INVALID);
    }
    assert_int_equal(attn_minatar_options_init(NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_options_init(&o), ATTN_MINATAR_OK);
    assert_true(o.version == ATTN_MINATAR_OPTIONS_VERSION && o.sticky_action_prob == 0.1f &&
                o.difficulty_ramping == 1 && o.minimal_action_set == 0);

    assert_int_equal(attn_minatar_game_name(-1, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_game_name(ATTN_MINATAR_NUM_GAMES, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_game_name(0, NULL), ATTN_MINATAR_ERR_NULL);

    o.minimal_action_set = 1;
    o.sticky_action_prob = 0.0f;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, 0), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_step(NULL, 0, &reward, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_step(g, -1, &reward, &value), ATTN_MINATAR_ERR_ACTION);
    assert_int_equal(attn_minatar_step(g, 3, &reward, &value), ATTN_MINATAR_ERR_ACTION);
    assert_int_equal(attn_minatar_action_meaning(g, 3, &value), ATTN_MINATAR_ERR_ACTION);
    assert_int_equal(attn_minatar_action_meaning(g, 0, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_observe(g, obs, 399), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_observe(g, NULL, 400), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_observe(NULL, obs, 400), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channel_name(g, 4, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_channel_name(g, -1, &name), ATTN_MINATAR_ERR_INVALID);
    assert_int_equal(attn_minatar_channels(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_channels(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_num_actions(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_name(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_terminated(NULL, &value), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_ramp_index(g, NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_reset(NULL, 0), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_restart(NULL), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_clone(NULL, g), ATTN_MINATAR_ERR_NULL);
    assert_int_equal(attn_minatar_copy(g, NULL), ATTN_MINATAR_ERR_NULL);

    /* Play until the ball is missed (no-ops lose within 12 steps), then: stepping fails and changes nothing,
     * even with a bad action the action error comes first; restart clears it. */
    int done = 0, steps = 0;
    while (!done && steps < 100) {
        assert_int_equal(attn_minatar_step(g, 0, &reward, &done), ATTN_MINATAR_OK);
        steps++;
    }
    assert_int_equal(done, 1);
    assert_int_equal(attn_minatar_terminated(g, &value), ATTN_MINATAR_OK);
    assert_int_equal(value, 1);
    uint8_t before[400], after[400];
    attn_minatar_observe(g, before, sizeof before);
    reward = 42.0f;
    assert_int_equal(attn_minatar_step(g, 0, &reward, &value), ATTN_MINATAR_ERR_TERMINATED);
    assert_true(reward == 42.0f);
    assert_int_equal(attn_minatar_step(g, 7, &reward, &value), ATTN_MINATAR_ERR_ACTION);
    attn_minatar_observe(g, after, sizeof after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(attn_minatar_restart(g), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_terminated(g, &value), ATTN_MINATAR_OK);
    assert_int_equal(value, 0);
    assert_int_equal(attn_minatar_step(g, 0, NULL, NULL), ATTN_MINATAR_OK);

    attn_minatar *other;
    assert_int_equal(attn_minatar_create(&other, "freeway", NULL, 0), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_copy(other, g), ATTN_MINATAR_ERR_INVALID);
    attn_minatar_destroy(other);
    attn_minatar_destroy(g);
    attn_minatar_destroy(NULL);

    /* Every status has a description naming it. */
    const int codes[] = { ATTN_MINATAR_OK, ATTN_MINATAR_ERR_NULL, ATTN_MINATAR_ERR_UNKNOWN_GAME,
                          ATTN_MINATAR_ERR_ACTION, ATTN_MINATAR_ERR_TERMINATED, ATTN_MINATAR_ERR_INVALID,
                          ATTN_MINATAR_ERR_NOMEM };
    const char *names[] = { "ATTN_MINATAR_OK", "ATTN_MINATAR_ERR_NULL", "ATTN_MINATAR_ERR_UNKNOWN_GAME",
                            "ATTN_MINATAR_ERR_ACTION", "ATTN_MINATAR_ERR_TERMINATED", "ATTN_MINATAR_ERR_INVALID",
                            "ATTN_MINATAR_ERR_NOMEM" };
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++)
        assert_non_null(strstr(attn_minatar_status_str(codes[k]), names[k]));
    assert_non_null(attn_minatar_status_str(-1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_channels_actions),
        cmocka_unit_test(test_observations_are_binary),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_clone_and_copy),
        cmocka_unit_test(test_save_and_load),
        cmocka_unit_test(test_sticky_actions),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
