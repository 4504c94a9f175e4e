/*
 * Freeway, scripted with sticky actions off. Expectations are worked out by hand from the rules in
 * docs/games.md#freeway:
 *   - the chicken starts on row 9 of column 4; its move timer starts at 3, counts down by one at the end of
 *     every step, and an up/down move is only taken when it is 0 (which resets it to 3): so holding "up" moves
 *     the chicken on steps 4, 7, 10, ... (every third step);
 *   - reaching row 0 gives +1 and puts the chicken back on row 9;
 *   - car i lives on row i+1; a car with speed s (1..5) moves one cell (wrapping) every s+1 steps; a car on the
 *     chicken's cell, before or after its move, sends the chicken back to row 9;
 *   - the episode's time counter starts at 2500 and ends the episode on the step it drops below 0.
 * Cars are placed through the internal state where a test needs them out of the way.
 */
#include "game_test.h"

enum { CHICKEN, CAR, SPEED1 };

/* Parks every car at column 5 moving right at the slowest speed (a move every 6 steps): from there a car needs
 * 9 moves (54 steps) to wrap round to column 4. */
static void park_cars(freeway_state *s)
{
    for (int i = 0; i < FREEWAY_CARS; i++) {
        s->car[i].x = 5;
        s->car[i].speed = 5;
        s->car[i].timer = 5;
    }
}

static void test_start_state(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 16; seed++) {
        test_game t;
        tg_open(&t, "freeway", seed, 1);
        assert_int_equal(t.channels, 7);
        tg_only(&t, CHICKEN, 4, 9);
        /* One car per lane on column 0, each with one trail cell behind it in exactly one speed channel:
         * column 9 (wrapped) for a car heading right, column 1 for one heading left. */
        assert_int_equal(tg_count(&t, CAR), 8);
        for (int row = 1; row <= 8; row++) {
            assert_int_equal(tg_cell(&t, 0, row, CAR), 1);
            int trails = 0;
            for (int c = SPEED1; c < SPEED1 + 5; c++)
                trails += tg_cell(&t, 9, row, c) + tg_cell(&t, 1, row, c);
            assert_int_equal(trails, 1);
        }
        for (int x = 0; x < GRID; x++)
            for (int c = CAR; c < SPEED1 + 5; c++)
                assert_int_equal(tg_cell(&t, x, 0, c) + tg_cell(&t, x, 9, c), 0);
        tg_close(&t);
    }
}

/* Holding "up" with the road clear: rows 8, 7, ..., 1 after steps 4, 7, ..., 25; step 28 reaches row 0: +1
 * and the chicken is back on row 9. Nothing else rewards. */
static void test_crossing(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 3, 1);
    park_cars(&t.g->s.freeway);
    for (int step = 1; step <= 27; step++) {
        tg_quiet(&t, U);
        int row = step < 4 ? 9 : 8 - (step - 4) / 3;
        tg_only(&t, CHICKEN, 4, row);
    }
    int done;
    assert_true(tg_step(&t, U, &done) == 1.0f);
    assert_int_equal(done, 0);
    tg_only(&t, CHICKEN, 4, 9);
    tg_close(&t);
}

/* "Down" at the bottom and "up"/"down" while the timer runs do nothing: down on step 4 is taken (row 9 stays
 * 9 but the timer restarts), so up on step 5 and 6 is refused and up on step 7 moves to row 8. */
static void test_move_timer(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 3, 1);
    park_cars(&t.g->s.freeway);
    const int a[7] = { N, N, N, D, U, U, U };
    const int row[7] = { 9, 9, 9, 9, 9, 9, 8 };
    for (int i = 0; i < 7; i++) {
        tg_quiet(&t, a[i]);
        tg_only(&t, CHICKEN, 4, row[i]);
    }
    tg_close(&t);
}

/* A car in lane 8 (row 8) at column 3, speed 1 (a move every 2 steps, first after its timer of 1 runs out):
 * it moves to column 4 on step 2. Holding "up", the chicken steps onto row 8 on step 4, where the car stands:
 * back to row 9 on that very step, no reward. */
static void test_hit_before_car_moves(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 3, 1);
    freeway_state *s = &t.g->s.freeway;
    park_cars(s);
    s->car[7].x = 3;
    s->car[7].speed = 1;
    s->car[7].timer = 1;
    tg_quiet(&t, U);
    tg_quiet(&t, U);
    assert_int_equal(tg_cell(&t, 4, 8, CAR), 1);
    tg_quiet(&t, U);
    tg_only(&t, CHICKEN, 4, 9);
    tg_quiet(&t, U);
    tg_only(&t, CHICKEN, 4, 9);
    tg_close(&t);
}

/* The same car starting at column 2 reaches column 3 on step 2 and, on step 4, moves onto column 4 just after
 * the chicken stepped onto row 8: hit after the move, back to row 9. */
static void test_hit_after_car_moves(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 3, 1);
    freeway_state *s = &t.g->s.freeway;
    park_cars(s);
    s->car[7].x = 2;
    s->car[7].speed = 1;
    s->car[7].timer = 1;
    for (int i = 0; i < 3; i++)
        tg_quiet(&t, U);
    tg_only(&t, CHICKEN, 4, 9);
    tg_quiet(&t, U);
    tg_only(&t, CHICKEN, 4, 9);
    assert_int_equal(tg_cell(&t, 4, 8, CAR), 1);
    tg_close(&t);
}

/* Cars wrap: a speed-1 car heading left from column 0 with its timer run out moves on step 1 to column 9,
 * its trail (the cell behind it, to its right) wrapping to column 0; a speed-1 car heading right at column 9
 * with one step left on its timer moves on step 2 to column 0, its trail on column 9. */
static void test_wrap(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 3, 1);
    freeway_state *s = &t.g->s.freeway;
    park_cars(s);
    s->car[0].x = 0;
    s->car[0].speed = -1;
    s->car[0].timer = 0;
    s->car[1].x = 9;
    s->car[1].speed = 1;
    s->car[1].timer = 1;
    tg_quiet(&t, N);
    assert_int_equal(tg_cell(&t, 9, 1, CAR), 1);
    assert_int_equal(tg_cell(&t, 0, 1, SPEED1), 1); /* trail behind a left-mover is on its right, wrapped */
    assert_int_equal(tg_cell(&t, 9, 2, CAR), 1);
    tg_quiet(&t, N);
    assert_int_equal(tg_cell(&t, 0, 2, CAR), 1);
    assert_int_equal(tg_cell(&t, 9, 2, SPEED1), 1);
    tg_close(&t);
}

/* Standing still, the episode lasts exactly 2501 steps (the counter goes 2500 → -1), with no reward. */
static void test_time_limit(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "freeway", 5, 1);
    for (int step = 1; step <= 2500; step++) {
        float r;
        int done;
        assert_int_equal(attn_minatar_step(t.g, N, &r, &done), ATTN_MINATAR_OK);
        assert_true(r == 0.0f);
        assert_int_equal(done, 0);
    }
    int done;
    assert_true(tg_step(&t, N, &done) == 0.0f);
    assert_int_equal(done, 1);
    tg_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_state),
        cmocka_unit_test(test_crossing),
        cmocka_unit_test(test_move_timer),
        cmocka_unit_test(test_hit_before_car_moves),
        cmocka_unit_test(test_hit_after_car_moves),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_time_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
