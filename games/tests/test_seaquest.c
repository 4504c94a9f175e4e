/*
 * Seaquest, scripted with sticky actions off. Expectations are worked out by hand from the rules in
 * docs/games.md#seaquest:
 *   - the submarine starts at (5,0), the surface, facing left (its back cell on its right), with 200 oxygen
 *     shown as 200·10/200 = 10 cells on row 9; each step below the surface costs one oxygen; the episode ends
 *     on the first step that starts with oxygen 0;
 *   - each step, in this order: spawns, the player's move or shot, friendly bullets (one cell per step, the
 *     new one included), divers, enemy subs (which fire), enemy bullets, enemy fish, then timers, oxygen and
 *     surfacing;
 *   - the spawn timers (enemies 20, divers 30) and the submarine's shot cool-down (5) count down at the end of
 *     every step, the step that set them included: the first enemy comes on step 21, the first diver on step
 *     31, and the submarine shoots at most every 5 steps; an enemy's or diver's move timer t counts down on the
 *     steps it stays and is reloaded on the step it moves: it moves every t+1 steps;
 *   - a friendly bullet and an enemy on the same cell both vanish: +1; touching an enemy or an enemy bullet
 *     ends the episode; a diver on the submarine's cell is picked up while fewer than 6 are aboard;
 *   - coming up to row 0 with divers refills the oxygen and costs one diver (with 6, all go and the bonus is
 *     oxygen·10/200); with none it ends the episode.
 * Positions are set through the internal state, with the random spawns parked, where a test needs them.
 */
#include "game_test.h"

enum { SUB_FRONT, SUB_BACK, BULLET, TRAIL, ENEMY_BULLET, FISH, ENEMY_SUB, OXYGEN, DIVER_GAUGE, DIVER };

static seaquest_state *open_parked(test_game *t, int ramping)
{
    tg_open(t, "seaquest", 7, ramping);
    seaquest_state *s = &t->g->s.seaquest;
    s->enemy_spawn_timer = 1000000;
    s->diver_spawn_timer = 1000000;
    return s;
}

static void put(seaquest_mover *list, int *n, int x, int y, int right, int move_timer, int shot_timer)
{
    seaquest_mover m = { x, y, right, move_timer, shot_timer };
    list[(*n)++] = m;
}

static void test_start_and_first_spawns(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 16; seed++) {
        test_game t;
        tg_open(&t, "seaquest", seed, 1);
        assert_int_equal(t.channels, 10);
        tg_only(&t, SUB_FRONT, 5, 0);
        tg_only(&t, SUB_BACK, 6, 0);
        assert_int_equal(tg_count(&t, OXYGEN), 10);
        for (int x = 0; x < GRID; x++)
            assert_int_equal(tg_cell(&t, x, 9, OXYGEN), 1);
        for (int c = BULLET; c <= DIVER; c++)
            if (c != OXYGEN)
                assert_int_equal(tg_count(&t, c), 0);
        /* Idling at the surface is safe (enemies keep to rows 1..8) and costs no oxygen. The first enemy
         * appears on step 21 on an edge of rows 1..8, not yet moved (no trail); the first diver on step 31. */
        for (int step = 1; step <= 31; step++) {
            tg_quiet(&t, N);
            int enemies = tg_count(&t, FISH) + tg_count(&t, ENEMY_SUB);
            assert_int_equal(enemies, step < 21 ? 0 : 1);
            assert_int_equal(tg_count(&t, DIVER), step < 31 ? 0 : 1);
            if (step == 21) {
                int x, y;
                assert_true(tg_find(&t, tg_count(&t, FISH) ? FISH : ENEMY_SUB, &x, &y));
                assert_true(x == 0 || x == 9);
                assert_true(y >= 1 && y <= 8);
                assert_int_equal(tg_count(&t, TRAIL), 0);
            }
        }
        assert_int_equal(tg_count(&t, OXYGEN), 10);
        tg_close(&t);
    }
}

/* Cadence: a fish and a diver as they spawn (move timer 5) move on steps 6, 12, 18, ... (every 6 steps); the
 * trail follows one cell behind. */
static void test_movers_cadence(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    put(s->fish, &s->n_fish, 0, 2, 1, 5, 0);
    put(s->divers, &s->n_divers, 9, 4, 0, 5, 0);
    for (int step = 1; step <= 18; step++) {
        tg_quiet(&t, N);
        int moves = step / 6;
        tg_only(&t, FISH, moves, 2);
        tg_only(&t, DIVER, 9 - moves, 4);
        assert_int_equal(tg_count(&t, TRAIL), moves ? 2 : 0);
    }
    tg_close(&t);
}

/* Down then up with no diver aboard: the episode ends on step 2, without reward. */
static void test_surfacing_without_divers(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "seaquest", 1, 1);
    tg_quiet(&t, D);
    tg_only(&t, SUB_FRONT, 5, 1);
    int done;
    assert_true(tg_step(&t, U, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Oxygen: one step down and then waiting. After step k below the surface 200-k oxygen is left, shown as
 * (200-k)·10/200 cells: 9 after step 1 and still after step 20, 8 after step 21, 0 after step 200. Step 201
 * starts with oxygen 0: the episode ends. */
static void test_oxygen_runs_out(void **state)
{
    (void)state;
    test_game t;
    open_parked(&t, 1);
    for (int step = 1; step <= 200; step++) {
        tg_quiet(&t, step == 1 ? D : N);
        if (step == 1 || step == 20)
            assert_int_equal(tg_count(&t, OXYGEN), 9);
        if (step == 21)
            assert_int_equal(tg_count(&t, OXYGEN), 8);
        if (step == 200)
            assert_int_equal(tg_count(&t, OXYGEN), 0);
    }
    int done;
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Shots at the surface, facing left, firing every step: a shot on step 1 (seen on (4,0)), refused on steps
 * 2..5 while it flies to (0,0), a second shot on step 6 (on (4,0)) as the first leaves the grid. */
static void test_shot_cooldown(void **state)
{
    (void)state;
    test_game t;
    open_parked(&t, 1);
    tg_quiet(&t, F);
    tg_only(&t, BULLET, 4, 0);
    for (int step = 2; step <= 5; step++) {
        tg_quiet(&t, F);
        tg_only(&t, BULLET, 5 - step, 0);
    }
    tg_quiet(&t, F);
    tg_only(&t, BULLET, 4, 0);
    tg_close(&t);
}

/* The bullet moves onto a fish: submarine at (5,3) facing left, a fish at (1,3) heading right with its move
 * timer at 5 (it moves on step 6). Fire on step 1: the bullet flies (4,3), (3,3), (2,3) and meets the fish on
 * (1,3) on step 4: +1, both gone. */
static void test_shoot_fish(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_y = 3;
    put(s->fish, &s->n_fish, 1, 3, 1, 5, 0);
    tg_look(&t);
    tg_only(&t, FISH, 1, 3);
    tg_only(&t, TRAIL, 0, 3);
    tg_quiet(&t, F);
    tg_quiet(&t, N);
    tg_quiet(&t, N);
    tg_only(&t, BULLET, 2, 3);
    int done;
    assert_true(tg_step(&t, N, &done) == 1.0f);
    assert_int_equal(done, 0);
    assert_int_equal(tg_count(&t, FISH) + tg_count(&t, BULLET), 0);
    tg_close(&t);
}

/* An enemy sub moves onto the bullet: submarine at (6,3) facing left, an enemy sub at (2,3) heading right with
 * move timer 2 (it moves on step 3) and its gun parked. The bullet fired on step 1 is on (5,3), (4,3), then
 * (3,3) on step 3, where the sub moves: +1, both gone. */
static void test_shoot_enemy_sub(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_x = 6;
    s->sub_y = 3;
    put(s->subs, &s->n_subs, 2, 3, 1, 2, 100);
    tg_quiet(&t, F);
    tg_only(&t, BULLET, 5, 3);
    tg_quiet(&t, N);
    tg_only(&t, BULLET, 4, 3);
    tg_only(&t, ENEMY_SUB, 2, 3);
    int done;
    assert_true(tg_step(&t, N, &done) == 1.0f);
    assert_int_equal(done, 0);
    assert_int_equal(tg_count(&t, ENEMY_SUB) + tg_count(&t, BULLET), 0);
    tg_close(&t);
}

/* An enemy sub fires: at (0,3) heading right with move and shot timers run out, the submarine at (5,3). Step 1:
 * it moves to (1,3) and fires a bullet there, which moves on at once to (2,3); steps 2, 3: (3,3), (4,3); step
 * 4: onto the submarine: the episode ends. */
static void test_enemy_sub_fires(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_y = 3;
    put(s->subs, &s->n_subs, 0, 3, 1, 0, 0);
    tg_quiet(&t, N);
    tg_only(&t, ENEMY_SUB, 1, 3);
    tg_only(&t, TRAIL, 0, 3);
    tg_only(&t, ENEMY_BULLET, 2, 3);
    tg_quiet(&t, N);
    tg_quiet(&t, N);
    tg_only(&t, ENEMY_BULLET, 4, 3);
    int done;
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/* Touching a fish ends the episode, whether the fish moves onto the submarine or the submarine onto it. */
static void test_fish_collision(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_y = 3;
    put(s->fish, &s->n_fish, 4, 3, 1, 0, 0);
    int done;
    tg_step(&t, N, &done);
    assert_int_equal(done, 1);
    tg_close(&t);

    s = open_parked(&t, 1);
    s->sub_y = 3;
    put(s->fish, &s->n_fish, 4, 3, 1, 100, 0);
    tg_step(&t, L, &done);
    tg_only(&t, SUB_FRONT, 4, 3);
    tg_only(&t, SUB_BACK, 5, 3);
    assert_int_equal(done, 1);
    tg_close(&t);
}

/*
 * A diver at (4,3) heading right, its move timer run out; the submarine at (5,3).
 *   step 1   the diver moves onto the submarine: picked up, one cell of the diver gauge (8,9); oxygen 199
 *   2..4     up to rows 2, 1, 0 (oxygen 197 after step 3); step 4 surfaces with one diver: oxygen back to 200
 *            (10 cells), the diver is spent, no reward, and the difficulty ramps once (level 1: the enemy
 *            spawn interval 20 → 19; the move interval only drops on odd levels)
 *   5        idling at the surface does nothing
 *   6, 7     down and up again, now with no diver: the episode ends on step 7
 */
static void test_diver_and_surfacing(void **state)
{
    (void)state;
    for (int ramping = 0; ramping <= 1; ramping++) {
        test_game t;
        seaquest_state *s = open_parked(&t, ramping);
        s->sub_y = 3;
        put(s->divers, &s->n_divers, 4, 3, 1, 0, 0);
        tg_quiet(&t, N);
        assert_int_equal(tg_count(&t, DIVER), 0);
        tg_only(&t, DIVER_GAUGE, 8, 9);
        assert_int_equal(tg_count(&t, OXYGEN), 9);
        tg_quiet(&t, U);
        tg_quiet(&t, U);
        assert_int_equal(s->oxygen, 197);
        tg_quiet(&t, U);
        tg_only(&t, SUB_FRONT, 5, 0);
        assert_int_equal(tg_count(&t, OXYGEN), 10);
        assert_int_equal(tg_count(&t, DIVER_GAUGE), 0);
        int level;
        assert_int_equal(attn_minatar_ramp_index(t.g, &level), ATTN_MINATAR_OK);
        assert_int_equal(level, ramping);
        assert_int_equal(s->enemy_spawn_speed, ramping ? 19 : 20);
        assert_int_equal(s->move_speed, 5);
        tg_quiet(&t, N);
        tg_quiet(&t, D);
        int done;
        tg_step(&t, U, &done);
        assert_int_equal(done, 1);
        tg_close(&t);
    }
}

/* No more than six divers: with five aboard, two divers heading at the submarine from both sides move onto it
 * on step 1. The newer one (on the right, handled first) is picked up, making six; the other stays on the
 * submarine's cell. */
static void test_six_divers_at_most(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_y = 3;
    s->diver_count = 5;
    put(s->divers, &s->n_divers, 4, 3, 1, 0, 0);
    put(s->divers, &s->n_divers, 6, 3, 0, 0, 0);
    tg_quiet(&t, N);
    assert_int_equal(tg_count(&t, DIVER_GAUGE), 6);
    for (int x = 3; x <= 8; x++)
        assert_int_equal(tg_cell(&t, x, 9, DIVER_GAUGE), 1);
    tg_only(&t, DIVER, 5, 3);
    tg_close(&t);
}

/* Surfacing with six divers and 137 oxygen pays 137·10/200 = 6 and refills the oxygen. As in MinAtar the count
 * then drops to -1 (all six leave, then the usual one more), so the gauge shows nothing and a later surfacing
 * without picking anyone up does not end the episode. */
static void test_six_divers_bonus(void **state)
{
    (void)state;
    test_game t;
    seaquest_state *s = open_parked(&t, 1);
    s->sub_y = 1;
    s->diver_count = 6;
    s->oxygen = 137;
    s->surfaced = 0;
    int done;
    assert_true(tg_step(&t, U, &done) == 6.0f);
    assert_int_equal(done, 0);
    assert_int_equal(tg_count(&t, OXYGEN), 10);
    assert_int_equal(tg_count(&t, DIVER_GAUGE), 0);
    tg_quiet(&t, D);
    tg_quiet(&t, U);
    tg_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_and_first_spawns),
        cmocka_unit_test(test_movers_cadence),
        cmocka_unit_test(test_surfacing_without_divers),
        cmocka_unit_test(test_oxygen_runs_out),
        cmocka_unit_test(test_shot_cooldown),
        cmocka_unit_test(test_shoot_fish),
        cmocka_unit_test(test_shoot_enemy_sub),
        cmocka_unit_test(test_enemy_sub_fires),
        cmocka_unit_test(test_fish_collision),
        cmocka_unit_test(test_diver_and_surfacing),
        cmocka_unit_test(test_six_divers_at_most),
        cmocka_unit_test(test_six_divers_bonus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
