/*
 * Asterix, scripted with sticky actions off. Expectations are worked out by hand from the rules in
 * docs/games.md#asterix:
 *   - the player starts at (5,5) and walks rows 1..8, columns 0..9;
 *   - the spawn timer starts at 10 and counts down at the end of every step; when it is 0 at the start of a
 *     step one entity appears (left edge heading right, or right edge heading left; gold with probability 1/3)
 *     in a random free row 1..8, and the timer restarts at the spawn interval (10) and is counted down at the
 *     end of that same step: spawns on steps 11, 21, 31, ...;
 *   - the move timer works the same way from 5: entities move one column on steps 6, 11, 16, 21, 26, ... —
 *     so an entity spawned on step 11 (or 21, ...) moves on its first step: it is first seen one column in from
 *     its edge, its trail on the edge cell;
 *   - an entity on the player's cell (after the player moves, or after the entity moves) is collected if gold
 *     (+1, it vanishes) and ends the episode if an enemy;
 *   - ramping: every 102 steps the spawn interval drops by one, and on every second ramp the move interval too.
 * Where the random spawns matter, the tests look for a seed whose first spawn is the case they need; what
 * follows from that spawn is then fixed by the rules.
 */
#include "game_test.h"

enum { PLAYER, ENEMY, TRAIL, GOLD };

static int entities(const test_game *t)
{
    return tg_count(t, ENEMY) + tg_count(t, GOLD);
}

/* A seed whose first spawn (step 11) is a `kind` (GOLD or ENEMY) entity on the right edge of row 5, so at (8,5)
 * after step 11. */
static uint64_t seed_with_first_spawn(int kind)
{
    for (uint64_t seed = 0; seed < 5000; seed++) {
        test_game t;
        tg_open(&t, "asterix", seed, 1);
        for (int i = 0; i < 11; i++)
            tg_quiet(&t, N);
        int hit = entities(&t) == 1 && tg_cell(&t, 8, 5, kind);
        tg_close(&t);
        if (hit)
            return seed;
    }
    fail_msg("no seed in 0..4999 spawns channel %d on row 5's right edge first", kind);
    return 0;
}

static void test_start_and_first_spawn(void **state)
{
    (void)state;
    int gold = 0, left = 0;
    for (uint64_t seed = 0; seed < 64; seed++) {
        test_game t;
        tg_open(&t, "asterix", seed, 1);
        assert_int_equal(t.channels, 4);
        tg_only(&t, PLAYER, 5, 5);
        assert_int_equal(entities(&t) + tg_count(&t, TRAIL), 0);
        for (int step = 1; step <= 10; step++) {
            tg_quiet(&t, N);
            assert_int_equal(entities(&t), 0);
        }
        tg_quiet(&t, N);
        assert_int_equal(entities(&t), 1);
        int x, y, kind = tg_count(&t, GOLD) ? GOLD : ENEMY;
        assert_true(tg_find(&t, kind, &x, &y));
        assert_true(x == 1 || x == 8);
        assert_true(y >= 1 && y <= 8);
        int edge = x == 1 ? 0 : 9, dx = x == 1 ? 1 : -1;
        tg_only(&t, TRAIL, edge, y);
        /* Still there after steps 12..15; one column further after step 16. */
        for (int step = 12; step <= 15; step++) {
            tg_quiet(&t, N);
            tg_only(&t, kind, x, y);
        }
        tg_quiet(&t, N);
        tg_only(&t, kind, x + dx, y);
        tg_only(&t, TRAIL, x, y);
        gold += kind == GOLD;
        left += edge == 0;
        tg_close(&t);
    }
    /* Both sides and both kinds occur (each has probability at least 1/3 per seed). */
    assert_true(gold > 0 && gold < 64);
    assert_true(left > 0 && left < 64);
}

/* Gold spawned on row 5's right edge on step 11 moves left on steps 11, 16, 21 to columns 8, 7, 6, and on step
 * 26 onto the idle player at (5,5): +1 then, never before, and the gold is gone. Other spawns take other
 * rows. */
static void test_gold_collected(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "asterix", seed_with_first_spawn(GOLD), 1);
    for (int step = 1; step <= 25; step++) {
        tg_quiet(&t, N);
        if (step == 11 || step == 16 || step == 21)
            assert_int_equal(tg_cell(&t, 8 - (step - 11) / 5, 5, GOLD), 1);
    }
    int done;
    assert_true(tg_step(&t, N, &done) == 1.0f);
    assert_int_equal(done, 0);
    for (int x = 0; x < GRID; x++)
        assert_int_equal(tg_cell(&t, x, 5, GOLD), 0);
    tg_only(&t, PLAYER, 5, 5);
    tg_close(&t);
}

/* The same with an enemy: the episode ends on step 26, without reward. */
static void test_enemy_kills(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "asterix", seed_with_first_spawn(ENEMY), 1);
    for (int step = 1; step <= 25; step++)
        tg_quiet(&t, N);
    assert_int_equal(tg_cell(&t, 6, 5, ENEMY), 1);
    int done;
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Walking into the enemy also kills: with the enemy at (6,5) after step 21, stepping right on step 22 lands on
 * it. */
static void test_walk_into_enemy(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "asterix", seed_with_first_spawn(ENEMY), 1);
    for (int step = 1; step <= 21; step++)
        tg_quiet(&t, N);
    int done;
    tg_step(&t, R, &done);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Spawns come every 10 steps: 1 entity from step 11, 2 from 21, ... 5 from 51; the first one leaves the screen
 * at its tenth move, step 56, so count up to step 55. Seeds that put an entity in the idle player's row are
 * skipped. */
static void test_spawn_cadence(void **state)
{
    (void)state;
    int checked = 0;
    for (uint64_t seed = 0; seed < 200 && checked < 5; seed++) {
        test_game t;
        tg_open(&t, "asterix", seed, 1);
        int counts[56], in_row5 = 0;
        for (int step = 1; step <= 55 && !in_row5; step++) {
            int done;
            float r = tg_step(&t, N, &done);
            in_row5 |= done || r != 0.0f;
            for (int x = 0; x < GRID; x++)
                in_row5 |= tg_cell(&t, x, 5, ENEMY) | tg_cell(&t, x, 5, GOLD);
            counts[step] = entities(&t);
        }
        tg_close(&t);
        if (in_row5)
            continue;
        for (int step = 1; step <= 55; step++)
            assert_int_equal(counts[step], step < 11 ? 0 : (step - 1) / 10);
        checked++;
    }
    assert_int_equal(checked, 5);
}

/* The player's walls: rows 1..8, columns 0..9 (spawns parked through the internal state). */
static void test_player_bounds(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "asterix", 1, 1);
    t.g->s.asterix.spawn_timer = 1000000;
    for (int i = 0; i < 6; i++)
        tg_quiet(&t, U);
    tg_only(&t, PLAYER, 5, 1);
    for (int i = 0; i < 9; i++)
        tg_quiet(&t, D);
    tg_only(&t, PLAYER, 5, 8);
    for (int i = 0; i < 7; i++)
        tg_quiet(&t, L);
    tg_only(&t, PLAYER, 0, 8);
    for (int i = 0; i < 11; i++)
        tg_quiet(&t, R);
    tg_only(&t, PLAYER, 9, 8);
    tg_quiet(&t, F); /* fire does nothing here */
    tg_only(&t, PLAYER, 9, 8);
    tg_close(&t);
}

/* Ramping (spawns parked): the level is 0 through step 101 and 1 from step 102, when the spawn interval drops to
 * 9; the second ramp, on step 204, also drops the move interval (5 → 4) since the level was odd then. Spawn interval 10 → 1 takes nine
 * ramps, movement 5 → 1 four (on levels 1, 3, 5, 7); then ramping stops at level 9. Without ramping the level
 * stays 0. */
static void test_ramping(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "asterix", 1, 1);
    asterix_state *s = &t.g->s.asterix;
    int level;
    for (int step = 1; step <= 5000; step++) {
        s->spawn_timer = 1000000;
        tg_quiet(&t, N);
        assert_int_equal(attn_minatar_ramp_index(t.g, &level), ATTN_MINATAR_OK);
        if (step == 101)
            assert_int_equal(level, 0);
        if (step == 102) {
            assert_int_equal(level, 1);
            assert_int_equal(s->spawn_speed, 9);
            assert_int_equal(s->move_speed, 5);
        }
        if (step == 203)
            assert_int_equal(level, 1);
        if (step == 204) {
            assert_int_equal(level, 2);
            assert_int_equal(s->spawn_speed, 8);
            assert_int_equal(s->move_speed, 4);
        }
    }
    assert_int_equal(level, 9);
    assert_int_equal(s->spawn_speed, 1);
    assert_int_equal(s->move_speed, 1);
    tg_close(&t);

    tg_open(&t, "asterix", 1, 0);
    for (int step = 1; step <= 300; step++) {
        t.g->s.asterix.spawn_timer = 1000000;
        tg_quiet(&t, N);
    }
    assert_int_equal(attn_minatar_ramp_index(t.g, &level), ATTN_MINATAR_OK);
    assert_int_equal(level, 0);
    tg_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_and_first_spawn),
        cmocka_unit_test(test_gold_collected),
        cmocka_unit_test(test_enemy_kills),
        cmocka_unit_test(test_walk_into_enemy),
        cmocka_unit_test(test_spawn_cadence),
        cmocka_unit_test(test_player_bounds),
        cmocka_unit_test(test_ramping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
