/*
 * Helpers shared by the game tests: make a game with sticky actions off, step it while checking the status,
 * and read cells of its observation. Header-only so every test stays one file.
 */
#ifndef GAME_TEST_H
#define GAME_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "minatar_internal.h"

enum { N = ATTN_MINATAR_NOOP, L = ATTN_MINATAR_LEFT, U = ATTN_MINATAR_UP, R = ATTN_MINATAR_RIGHT,
       D = ATTN_MINATAR_DOWN, F = ATTN_MINATAR_FIRE };

typedef struct test_game {
    attn_minatar *g;
    int channels;
    uint8_t obs[GRID * GRID * ATTN_MINATAR_MAX_CHANNELS];
} test_game;

/* A game with sticky actions off, ramping as given, all six actions; its first observation in t->obs. */
static inline void tg_open(test_game *t, const char *name, uint64_t seed, int ramping)
{
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    o.sticky_action_prob = 0.0f;
    o.difficulty_ramping = ramping;
    assert_int_equal(attn_minatar_create(&t->g, name, &o, seed), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_channels(t->g, &t->channels), ATTN_MINATAR_OK);
    assert_int_equal(attn_minatar_observe(t->g, t->obs, sizeof t->obs), ATTN_MINATAR_OK);
}

static inline void tg_close(test_game *t)
{
    attn_minatar_destroy(t->g);
    t->g = NULL;
}

/* Re-reads the observation (after a test changed the internal state). */
static inline void tg_look(test_game *t)
{
    assert_int_equal(attn_minatar_observe(t->g, t->obs, sizeof t->obs), ATTN_MINATAR_OK);
}

/* One step with full action `a`; returns the reward, sets *done, refreshes t->obs. */
static inline float tg_step(test_game *t, int a, int *done)
{
    float r = -1.0f;
    int d = -1;
    assert_int_equal(attn_minatar_step(t->g, a, &r, &d), ATTN_MINATAR_OK);
    assert_true(d == 0 || d == 1);
    if (done)
        *done = d;
    tg_look(t);
    return r;
}

/* The same, asserting the step neither rewards nor ends the episode. */
static inline void tg_quiet(test_game *t, int a)
{
    int done;
    float r = tg_step(t, a, &done);
    assert_true(r == 0.0f);
    assert_int_equal(done, 0);
}

static inline int tg_cell(const test_game *t, int x, int y, int c)
{
    return t->obs[(y * GRID + x) * t->channels + c];
}

/* Number of 1s in channel c. */
static inline int tg_count(const test_game *t, int c)
{
    int n = 0;
    for (int y = 0; y < GRID; y++)
        for (int x = 0; x < GRID; x++)
            n += tg_cell(t, x, y, c);
    return n;
}

/* Asserts channel c holds exactly one 1, at (x, y). */
static inline void tg_only(const test_game *t, int c, int x, int y)
{
    assert_int_equal(tg_count(t, c), 1);
    assert_int_equal(tg_cell(t, x, y, c), 1);
}

/* Position of the first 1 of channel c in reading order; returns 0 (and -1, -1) if the channel is empty. */
static inline int tg_find(const test_game *t, int c, int *x, int *y)
{
    *x = *y = -1;
    for (int yy = 0; yy < GRID; yy++)
        for (int xx = 0; xx < GRID; xx++)
            if (tg_cell(t, xx, yy, c)) {
                *x = xx;
                *y = yy;
                return 1;
            }
    return 0;
}

#endif /* GAME_TEST_H */
