/*
 * Space Invaders, scripted (the game has no randomness). Expectations are worked out by hand from the rules
 * in docs/games.md#space-invaders:
 *   - the cannon starts at column 5 of row 9; the wave fills rows 0..3, columns 2..7 (24 aliens), heading left;
 *   - each step: the cannon fires (at most once per 5 steps: the cool-down of 5 counts down at the end of each
 *     step) or moves; friendly bullets rise one row, the new one included (so it is first seen on row 8);
 *     enemy bullets fall one row; the wave moves when its timer (12 at the start) has run out; the alien nearest
 *     the cannon fires every 11 steps (first on step 11) from its own cell; bullets and aliens on the same
 *     cell both vanish, +1 each;
 *   - the wave moves one column sideways, or, if an alien stands on the wall it heads for, turns and moves one
 *     row down; its timer restarts at min(aliens left, 12), so it first moves on step 13, then every 12 steps;
 *   - an enemy bullet or an alien on the cannon's cell ends the episode.
 */
#include "game_test.h"

enum { CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, BULLET, ENEMY_BULLET };

static void assert_wave(const test_game *t, int left, int top, int dir_channel)
{
    assert_int_equal(tg_count(t, ALIEN), 24);
    assert_int_equal(tg_count(t, dir_channel), 24);
    assert_int_equal(tg_count(t, dir_channel == ALIEN_LEFT ? ALIEN_RIGHT : ALIEN_LEFT), 0);
    for (int y = top; y < top + 4; y++)
        for (int x = left; x < left + 6; x++)
            assert_int_equal(tg_cell(t, x, y, ALIEN), 1);
}

static void test_start_state(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "space_invaders", 0, 1);
    assert_int_equal(t.channels, 6);
    tg_only(&t, CANNON, 5, 9);
    assert_wave(&t, 2, 0, ALIEN_LEFT);
    assert_int_equal(tg_count(&t, BULLET) + tg_count(&t, ENEMY_BULLET), 0);
    tg_close(&t);
}

/*
 * Fire on steps 1..6 and then wait:
 *   step 1   shot; the bullet is on (5,8)
 *   2..5     fire refused (cool-down 4, 3, 2, 1); the bullet climbs to (5,7) .. (5,4)
 *   6        cool-down 0: a second shot, on (5,8); the first bullet reaches (5,3), the alien there: +1
 *   7..11    the second bullet climbs to (5,3), now empty
 *   11       the alien nearest the cannon fires: column 5's lowest alien is now on row 2: enemy bullet (5,2)
 *   12       the enemy bullet falls to (5,3); the second bullet reaches (5,2): +1
 *   13       the wave moves one column left
 *   13..17   the enemy bullet falls to (5,4) .. (5,8)
 *   18       it reaches (5,9), the cannon's cell: the episode ends
 */
static void test_shoot_cooldown_and_return_fire(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "space_invaders", 0, 1);
    int done;
    tg_quiet(&t, F);
    tg_only(&t, BULLET, 5, 8);
    for (int step = 2; step <= 5; step++) {
        tg_quiet(&t, F);
        tg_only(&t, BULLET, 5, 9 - step);
    }
    assert_true(tg_step(&t, F, &done) == 1.0f);
    assert_int_equal(done, 0);
    tg_only(&t, BULLET, 5, 8);
    assert_int_equal(tg_cell(&t, 5, 3, ALIEN), 0);
    assert_int_equal(tg_count(&t, ALIEN), 23);
    for (int step = 7; step <= 11; step++) {
        tg_quiet(&t, N);
        tg_only(&t, BULLET, 5, 14 - step);
    }
    tg_only(&t, ENEMY_BULLET, 5, 2);
    assert_true(tg_step(&t, N, &done) == 1.0f);
    assert_int_equal(done, 0);
    assert_int_equal(tg_count(&t, BULLET), 0);
    assert_int_equal(tg_count(&t, ALIEN), 22);
    tg_only(&t, ENEMY_BULLET, 5, 3);
    tg_quiet(&t, N);
    assert_int_equal(tg_cell(&t, 1, 0, ALIEN), 1); /* the wave now spans columns 1..6 */
    assert_int_equal(tg_cell(&t, 7, 0, ALIEN), 0);
    for (int step = 14; step <= 17; step++) {
        tg_quiet(&t, N);
        tg_only(&t, ENEMY_BULLET, 5, step - 9);
    }
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Idle, the first enemy bullet starts on (5,3) at step 11 (column 5 is complete) and falls onto the cannon at
 * step 17. Stepping left on step 16 dodges it: the bullet passes (5,9) on step 17 and is gone on step 18. */
static void test_enemy_fire_and_dodge(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "space_invaders", 0, 1);
    for (int step = 1; step <= 16; step++)
        tg_quiet(&t, N);
    tg_only(&t, ENEMY_BULLET, 5, 8);
    int done;
    tg_step(&t, N, &done);
    assert_int_equal(done, 1);
    tg_close(&t);

    tg_open(&t, "space_invaders", 0, 1);
    for (int step = 1; step <= 15; step++)
        tg_quiet(&t, N);
    tg_quiet(&t, L);
    tg_quiet(&t, N);
    tg_only(&t, ENEMY_BULLET, 5, 9);
    tg_only(&t, CANNON, 4, 9);
    tg_quiet(&t, N);
    assert_int_equal(tg_count(&t, ENEMY_BULLET), 0);
    tg_close(&t);
}

/* The march, with the aliens' fire silenced through the internal state: columns 1..6 after step 13, 0..5 after
 * step 25; on step 37 the wave stands on the left wall, so it turns right and moves down to rows 1..4; on step
 * 49 it moves right to columns 1..6. */
static void test_march(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "space_invaders", 0, 1);
    t.g->s.space_invaders.alien_shot_timer = 1000;
    for (int step = 1; step <= 49; step++) {
        tg_quiet(&t, N);
        if (step == 12)
            assert_wave(&t, 2, 0, ALIEN_LEFT);
        if (step == 13)
            assert_wave(&t, 1, 0, ALIEN_LEFT);
        if (step == 25)
            assert_wave(&t, 0, 0, ALIEN_LEFT);
        if (step == 36)
            assert_wave(&t, 0, 0, ALIEN_LEFT);
        if (step == 37)
            assert_wave(&t, 0, 1, ALIEN_RIGHT);
        if (step == 49)
            assert_wave(&t, 1, 1, ALIEN_RIGHT);
    }
    tg_close(&t);
}

/* A lone alien moves every step (its timer restarts at min(1, 12)). Placed on (0,8) heading left with one step
 * on its timer and the cannon on column 3: step 2 it turns at the wall and drops to (0,9); steps 3, 4, 5 it
 * moves right to (1,9), (2,9), (3,9), the cannon's cell: the episode ends on step 5. */
static void test_lone_alien_reaches_cannon(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "space_invaders", 0, 1);
    space_invaders_state *s = &t.g->s.space_invaders;
    for (int y = 0; y < GRID; y++)
        s->aliens[y] = 0;
    s->aliens[8] = 1u << 0;
    s->move_timer = 1;
    s->alien_shot_timer = 1000;
    s->cannon_x = 3;
    tg_quiet(&t, N);
    tg_only(&t, ALIEN, 0, 8);
    tg_quiet(&t, N);
    tg_only(&t, ALIEN, 0, 9);
    tg_only(&t, ALIEN_RIGHT, 0, 9);
    tg_quiet(&t, N);
    tg_only(&t, ALIEN, 1, 9);
    tg_quiet(&t, N);
    tg_only(&t, ALIEN, 2, 9);
    int done;
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Clearing a wave: one alien left on (5,4) (placed through the internal state, timers parked); the shot of
 * step 1 climbs (5,8) .. and hits it on step 5: +1, and a new full wave appears at once. With ramping the new
 * wave's move interval drops from 12 to 11 and the ramp level becomes 1; without, both stay. */
static void test_wave_cleared(void **state)
{
    (void)state;
    for (int ramping = 0; ramping <= 1; ramping++) {
        test_game t;
        tg_open(&t, "space_invaders", 0, ramping);
        space_invaders_state *s = &t.g->s.space_invaders;
        for (int y = 0; y < GRID; y++)
            s->aliens[y] = 0;
        s->aliens[4] = 1u << 5;
        s->move_timer = 100;
        s->alien_shot_timer = 100;
        for (int step = 1; step <= 4; step++)
            tg_quiet(&t, F);
        int done;
        assert_true(tg_step(&t, N, &done) == 1.0f);
        assert_int_equal(done, 0);
        assert_wave(&t, 2, 0, ALIEN_LEFT);
        int level;
        assert_int_equal(attn_minatar_ramp_index(t.g, &level), ATTN_MINATAR_OK);
        assert_int_equal(level, ramping);
        assert_int_equal(s->move_interval, ramping ? 11 : 12);
        tg_close(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_state),
        cmocka_unit_test(test_shoot_cooldown_and_return_fire),
        cmocka_unit_test(test_enemy_fire_and_dodge),
        cmocka_unit_test(test_march),
        cmocka_unit_test(test_lone_alien_reaches_cannon),
        cmocka_unit_test(test_wave_cleared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
