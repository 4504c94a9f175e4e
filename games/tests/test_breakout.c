/*
 * Breakout, scripted with sticky actions off. Every expected position below is worked out by hand from the
 * rules in docs/games.md#breakout:
 *   - the ball starts on row 3 at column 0 heading down-right, or at column 9 heading down-left; the paddle at
 *     column 4 of row 9; bricks fill rows 1..3; the trail is the ball's previous cell;
 *   - each step the paddle moves first, then the ball one cell diagonally; a side wall reverses dx, the ceiling
 *     or a brick reverses dy (a broken brick sends the ball back to its previous row, +1);
 *   - on reaching row 9 the ball bounces (dy reversed, back to row 8) if it was above the paddle, is sent back
 *     the way it came (both reversed, back to row 8) if it lands on the paddle's cell diagonally, otherwise the
 *     episode ends with the ball on row 9.
 */
#include "game_test.h"

enum { PADDLE, BALL, TRAIL, BRICK };

typedef struct xy {
    int x, y;
} xy;

/* A seed whose episode starts with the ball at column `corner` (0 or 9). */
static uint64_t seed_with_corner(int corner)
{
    for (uint64_t seed = 0; seed < 1000; seed++) {
        test_game t;
        tg_open(&t, "breakout", seed, 1);
        int x, y;
        int found = tg_find(&t, BALL, &x, &y);
        tg_close(&t);
        if (found && x == corner)
            return seed;
    }
    fail_msg("no seed in 0..999 starts at column %d", corner);
    return 0;
}

/* Plays `n` steps of `actions`, checking ball and trail after each step against `ball` (trail = the ball's
 * previous cell) and the rewards against `rewarded_step` (1-based; 0 for none). No step may end the game. */
static void follow(test_game *t, int n, const int *actions, const xy *ball, int rewarded_step)
{
    xy prev;
    assert_true(tg_find(t, BALL, &prev.x, &prev.y));
    for (int i = 0; i < n; i++) {
        int done;
        float r = tg_step(t, actions[i], &done);
        assert_int_equal(done, 0);
        assert_true(r == (i + 1 == rewarded_step ? 1.0f : 0.0f));
        tg_only(t, BALL, ball[i].x, ball[i].y);
        tg_only(t, TRAIL, prev.x, prev.y);
        prev = ball[i];
    }
}

static void test_start_state(void **state)
{
    (void)state;
    int seen[2] = { 0, 0 };
    for (uint64_t seed = 0; seed < 64; seed++) {
        test_game t;
        tg_open(&t, "breakout", seed, 1);
        assert_int_equal(t.channels, 4);
        tg_only(&t, PADDLE, 4, 9);
        int x, y;
        assert_true(tg_find(&t, BALL, &x, &y));
        tg_only(&t, BALL, x, y);
        assert_int_equal(y, 3);
        assert_true(x == 0 || x == 9);
        seen[x == 9]++;
        tg_only(&t, TRAIL, x, 3); /* no previous cell yet: the trail sits under the ball */
        assert_int_equal(tg_count(&t, BRICK), 30);
        for (int by = 1; by <= 3; by++)
            for (int bx = 0; bx < 10; bx++)
                assert_int_equal(tg_cell(&t, bx, by, BRICK), 1);
        tg_close(&t);
    }
    /* A fair coin picks the corner: 64 seeds all alike would be a broken draw. */
    assert_true(seen[0] > 0 && seen[1] > 0);
}

/* Left start, paddle idle: (0,3) → (1,4) (2,5) (3,6) (4,7) (5,8), then row 9 at column 6: the ball was above
 * column 5 and lands on 6, the paddle is at 4: missed, the episode ends at step 6 with the ball on (6,9). */
static void test_left_start_missed(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(0), 1);
    const int a[5] = { N, N, N, N, N };
    const xy ball[5] = { { 1, 4 }, { 2, 5 }, { 3, 6 }, { 4, 7 }, { 5, 8 } };
    follow(&t, 5, a, ball, 0);
    int done;
    float r = tg_step(&t, N, &done);
    assert_true(r == 0.0f);
    assert_int_equal(done, 1);
    tg_only(&t, BALL, 6, 9);
    tg_only(&t, TRAIL, 5, 8);
    tg_only(&t, PADDLE, 4, 9);
    /* Nothing moves after the end. */
    assert_int_equal(attn_minatar_step(t.g, N, &r, &done), ATTN_MINATAR_ERR_TERMINATED);
    tg_close(&t);
}

/* Right start, paddle idle: (9,3) → (8,4) (7,5) (6,6) (5,7) (4,8); step 6: the ball is above the paddle
 * (column 4) so it bounces: up-left, back to row 8 at column 3. Then (2,7) (1,6) (0,5); step 10 hits the left
 * wall: column clamped to 0, now up-right, (0,4); step 11 enters the brick at (1,3): +1, the brick goes, the
 * ball returns to row 4 heading down-right: (1,4); step 12: (2,5). */
static void test_right_start_bounce_wall_brick(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(9), 1);
    const int a[12] = { N, N, N, N, N, N, N, N, N, N, N, N };
    const xy ball[12] = { { 8, 4 }, { 7, 5 }, { 6, 6 }, { 5, 7 }, { 4, 8 }, { 3, 8 },
                          { 2, 7 }, { 1, 6 }, { 0, 5 }, { 0, 4 }, { 1, 4 }, { 2, 5 } };
    follow(&t, 12, a, ball, 11);
    assert_int_equal(tg_cell(&t, 1, 3, BRICK), 0);
    assert_int_equal(tg_count(&t, BRICK), 29);
    tg_close(&t);
}

/* Left start, paddle one step right (column 5): the ball comes down over column 5 and bounces off the paddle's
 * face at step 6 to (6,8) heading up-right; (7,7) (8,6) (9,5); step 10 hits the right wall: (9,4) heading
 * up-left; step 11 breaks the brick at (8,3): +1, back to (8,4) heading down-left. */
static void test_paddle_face(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(0), 1);
    const int a[11] = { R, N, N, N, N, N, N, N, N, N, N };
    const xy ball[11] = { { 1, 4 }, { 2, 5 }, { 3, 6 }, { 4, 7 }, { 5, 8 }, { 6, 8 },
                          { 7, 7 }, { 8, 6 }, { 9, 5 }, { 9, 4 }, { 8, 4 } };
    follow(&t, 11, a, ball, 11);
    tg_only(&t, PADDLE, 5, 9);
    assert_int_equal(tg_cell(&t, 8, 3, BRICK), 0);
    tg_close(&t);
}

/* Left start, paddle two steps right (column 6): at step 6 the ball (over column 5) lands diagonally on the
 * paddle's cell, so it is sent back the way it came: up-left from (6,8); (5,7) (4,6) (3,5) (2,4); step 11
 * breaks (1,3): +1, back to (1,4) heading down-left. */
static void test_paddle_corner(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(0), 1);
    const int a[11] = { R, R, N, N, N, N, N, N, N, N, N };
    const xy ball[11] = { { 1, 4 }, { 2, 5 }, { 3, 6 }, { 4, 7 }, { 5, 8 }, { 6, 8 },
                          { 5, 7 }, { 4, 6 }, { 3, 5 }, { 2, 4 }, { 1, 4 } };
    follow(&t, 11, a, ball, 11);
    tg_only(&t, PADDLE, 6, 9);
    assert_int_equal(tg_cell(&t, 1, 3, BRICK), 0);
    tg_close(&t);
}

/* The paddle stops at the walls: five lefts from column 4 end at 0 (the fifth pushes against the wall), five
 * rights end at 9. */
static void test_paddle_walls(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(9), 1);
    /* From the right start the ball bounces at step 6 only if the paddle is under column 4 (see above), so
     * only look at the paddle for the first five steps. */
    for (int i = 0; i < 5; i++)
        tg_quiet(&t, L);
    tg_only(&t, PADDLE, 0, 9);
    tg_close(&t);
    tg_open(&t, "breakout", seed_with_corner(9), 1);
    for (int i = 0; i < 5; i++)
        tg_quiet(&t, R);
    tg_only(&t, PADDLE, 9, 9);
    tg_close(&t);
}

/* A cleared wall refills when the ball next reaches the paddle row. With every brick removed (through the
 * internal state), the left start with the paddle at column 5 reaches row 9 at step 6 and bounces: 30 bricks
 * again, no reward for them. */
static void test_wall_refills(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(0), 1);
    for (int y = 0; y < GRID; y++)
        t.g->s.breakout.bricks[y] = 0;
    tg_quiet(&t, R);
    for (int i = 0; i < 4; i++)
        tg_quiet(&t, N);
    assert_int_equal(tg_count(&t, BRICK), 0);
    tg_quiet(&t, N);
    tg_only(&t, BALL, 6, 8);
    assert_int_equal(tg_count(&t, BRICK), 30);
    tg_close(&t);
}

/* Right after breaking a brick the ball passes through a brick it touches next without breaking it (MinAtar's
 * strike flag). Set up through the internal state: the ball at (2,4) heading up-right under the full wall,
 * one extra brick at (4,5). Step 1 breaks (3,3): +1, the ball returns to row 4 heading down-right: (3,4).
 * Step 2 enters the brick at (4,5) with the flag still set: no reward, the brick stays, the ball sits on it.
 * Step 3 moves on to (5,6), no brick there, so the flag clears. */
static void test_strike_flag(void **state)
{
    (void)state;
    test_game t;
    tg_open(&t, "breakout", seed_with_corner(0), 1);
    breakout_state *s = &t.g->s.breakout;
    s->ball_x = 2;
    s->ball_y = 4;
    s->last_x = 1;
    s->last_y = 5;
    s->ball_dir = 1; /* 0 up-left, 1 up-right, 2 down-right, 3 down-left */
    s->bricks[5] = 1u << 4;
    int done;
    assert_true(tg_step(&t, N, &done) == 1.0f);
    tg_only(&t, BALL, 3, 4);
    assert_int_equal(tg_cell(&t, 3, 3, BRICK), 0);
    assert_true(tg_step(&t, N, &done) == 0.0f);
    tg_only(&t, BALL, 4, 5);
    assert_int_equal(tg_cell(&t, 4, 5, BRICK), 1);
    assert_true(tg_step(&t, N, &done) == 0.0f);
    tg_only(&t, BALL, 5, 6);
    assert_int_equal(tg_cell(&t, 4, 5, BRICK), 1);
    assert_int_equal(s->strike, 0);
    tg_close(&t);
}

/* The minimal action set is n, l, r: index 2 moves the paddle right. */
static void test_minimal_actions(void **state)
{
    (void)state;
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.sticky_action_prob = 0.0f;
    o.minimal_action_set = 1;
    attn_minatar *g;
    assert_int_equal(attn_minatar_create(&g, "breakout", &o, seed_with_corner(0)), ATTN_MINATAR_OK);
    int n, meaning;
    assert_int_equal(attn_minatar_num_actions(g, &n), ATTN_MINATAR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(attn_minatar_action_meaning(g, 2, &meaning), ATTN_MINATAR_OK);
    assert_int_equal(meaning, ATTN_MINATAR_RIGHT);
    assert_int_equal(attn_minatar_step(g, 2, NULL, NULL), ATTN_MINATAR_OK);
    uint8_t obs[400];
    assert_int_equal(attn_minatar_observe(g, obs, sizeof obs), ATTN_MINATAR_OK);
    assert_int_equal(obs[(9 * 10 + 5) * 4 + PADDLE], 1);
    assert_int_equal(attn_minatar_step(g, 3, NULL, NULL), ATTN_MINATAR_ERR_ACTION);
    attn_minatar_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_state),
        cmocka_unit_test(test_left_start_missed),
        cmocka_unit_test(test_right_start_bounce_wall_brick),
        cmocka_unit_test(test_paddle_face),
        cmocka_unit_test(test_paddle_corner),
        cmocka_unit_test(test_paddle_walls),
        cmocka_unit_test(test_wall_refills),
        cmocka_unit_test(test_strike_flag),
        cmocka_unit_test(test_minimal_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
