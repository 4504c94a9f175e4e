/*
 * The observation contract, environment by environment: what the network's first layer actually receives on a
 * real frame when the model is configured the way attn-train configures it (env_select_configure).
 *
 * The expectations come from the games' rules (../shared/spec/minatar-rules.md, docs/games.md), not from the
 * code under test: an object cell must reach the network as exactly 1.0 and an empty one as 0.0, and each
 * game's first frame holds the objects its rules put there (breakout's three rows of bricks, space_invaders'
 * block of aliens, ...). ALE frames are pixels: each byte b must arrive as b/255. The test reads the input
 * the forward pass stored for the backward pass (the tape's scaled observation), so it sees what the first
 * convolution multiplies, after every conversion.
 *
 * This is the test that was missing when the games sent 0/1 bytes that the model read as pixels: every object
 * reached the network as 1/255 and learning suffered while every unit test passed.
 *
 *   test_obs_contract           the five built-in games
 *   test_obs_contract ale       ale:breakout through the bridge (skipped, exit 77, without ale_py)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "env_select.h"
#include "model.h"

enum { ENVS = 2 };

/* What one game's rules put on its first frame: at least `min_count` (and at most `max_count`) cells lit in
 * channel `channel`, all of them in rows [row_lo, row_hi]. */
typedef struct plane_rule {
    int channel, min_count, max_count, row_lo, row_hi;
    const char *what;
} plane_rule;

typedef struct game_case {
    const char *env;
    int channels;
    plane_rule rules[3];
    int n_rules;
} game_case;

static const game_case GAMES[] = {
    /* Three rows of ten bricks below the top row; one paddle cell on the bottom row; one ball at row 3. */
    {"minatar:breakout", 4, {{3, 30, 30, 1, 3, "bricks"}, {0, 1, 1, 9, 9, "paddle"}, {1, 1, 1, 3, 3, "ball"}}, 3},
    /* The player starts alone in the middle of the field. */
    {"minatar:asterix", 4, {{0, 1, 1, 1, 8, "player"}}, 1},
    /* The chicken on the bottom row, one car in each of the eight lanes (rows 1..8). */
    {"minatar:freeway", 7, {{0, 1, 1, 9, 9, "chicken"}, {1, 8, 8, 1, 8, "cars"}}, 2},
    /* The submarine (front and back) at the surface, the oxygen gauge full along the bottom row. */
    {"minatar:seaquest", 10, {{0, 1, 1, 0, 0, "sub front"}, {1, 1, 1, 0, 0, "sub back"},
                              {7, 10, 10, 9, 9, "oxygen gauge"}}, 3},
    /* A block of 4 × 6 aliens at the top, the cannon on the bottom row. */
    {"minatar:space_invaders", 6, {{1, 24, 24, 0, 3, "aliens"}, {0, 1, 1, 9, 9, "cannon"}}, 2},
};

/* Everything one check builds, freed by one function whatever failed. */
typedef struct rig {
    train_options opt;
    env_select games;
    attn_config *cfg;
    attn_model *model;
    attn_state *state;
    void *obs;
    int live;
} rig;

static void rig_free(rig *r)
{
    attn_state_destroy(r->state);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
    if (r->live) env_select_destroy(&r->games);
    free(r->obs);
}

/* Builds the environments and model from attn-train's own option parsing, resets every environment, and runs
 * one recorded step. Returns the first layer's input, [ENVS][H][W][C]. */
static const float *first_layer_input(rig *r, const char *env, size_t *frame)
{
    /* Two minibatches of one environment: PPO's default four would not divide the batch, which the parser refuses. */
    char *argv[] = {"attn-train", "--env", (char *)env, "--envs", "2", "--unroll", "1", "--threads", "1",
                    "--ppo-minibatches", "2", NULL};
    assert_int_equal(train_options_parse(&r->opt, 11, argv), 0);
    char err[512];
    if (env_select_create(&r->games, &r->opt, err, sizeof err)) fail_msg("%s: %s", env, err);
    r->live = 1;
    assert_int_equal(attn_config_create(&r->cfg, r->opt.preset), ATTN_OK);
    assert_int_equal(env_select_configure(&r->games, r->cfg), ATTN_OK);
    assert_int_equal(attn_model_create(&r->model, r->cfg, 1), ATTN_OK);
    assert_int_equal(attn_state_create(&r->state, r->model, ENVS, 1), ATTN_OK);
    const dims *d = &r->model->d;
    *frame = (size_t)d->H * d->W * d->C;
    const size_t elem = obs_elem_size(r->model->cfg.obs_type);
    r->obs = calloc(ENVS * *frame, elem);
    assert_non_null(r->obs);
    for (int b = 0; b < ENVS; b++)
        assert_int_equal(r->games.env.reset(r->games.env.ctx, b, 100 + (uint64_t)b, (char *)r->obs + b * *frame * elem),
                         0);
    uint8_t first[ENVS] = {1, 1};
    assert_int_equal(attn_forward(r->model, r->state, ATTN_FORWARD_RECORD, r->obs, ENVS * *frame * elem, NULL, NULL,
                                  first, NULL, NULL),
                     ATTN_OK);
    return r->state->tape[0].x;
}

static void minatar_planes_arrive_as_zero_and_one(void **unused)
{
    (void)unused;
    for (size_t g = 0; g < sizeof GAMES / sizeof *GAMES; g++) {
        const game_case *gc = &GAMES[g];
        rig r = {0};
        size_t frame;
        const float *x = first_layer_input(&r, gc->env, &frame);
        const int C = gc->channels, side = 10;
        assert_int_equal((int)frame, side * side * C);
        for (int b = 0; b < ENVS; b++) {
            const float *xb = x + (size_t)b * frame;
            const uint8_t *ob = (const uint8_t *)r.obs + (size_t)b * frame;
            for (size_t i = 0; i < frame; i++) {
                /* Exactly 0.0 or 1.0, and 1.0 exactly where the game drew an object. */
                if (xb[i] != (ob[i] ? 1.0f : 0.0f))
                    fail_msg("%s env %d: element %zu (cell %zu, channel %zu) reaches the network as %g for byte %d",
                             gc->env, b, i, i / (size_t)C, i % (size_t)C, (double)xb[i], ob[i]);
            }
            for (int k = 0; k < gc->n_rules; k++) {
                const plane_rule *pr = &gc->rules[k];
                int count = 0, outside = 0;
                for (int y = 0; y < side; y++)
                    for (int col = 0; col < side; col++) {
                        float v = xb[((size_t)y * side + col) * C + pr->channel];
                        if (v == 1.0f) count++, outside += y < pr->row_lo || y > pr->row_hi;
                    }
                printf("%-24s env %d: %-12s %2d cells at 1.0\n", gc->env, b, pr->what, count);
                if (count < pr->min_count || count > pr->max_count || outside)
                    fail_msg("%s env %d: %s: %d cells at 1.0 in channel %d (%d outside rows %d..%d); the rules say "
                             "%d..%d", gc->env, b, pr->what, count, pr->channel, outside, pr->row_lo, pr->row_hi,
                             pr->min_count, pr->max_count);
            }
        }
        rig_free(&r);
    }
}

static void ale_pixels_arrive_divided_by_255(void **unused)
{
    (void)unused;
    rig r = {0};
    size_t frame;
    const float *x = first_layer_input(&r, "ale:breakout", &frame);
    assert_int_equal((int)frame, 84 * 84 * 3);
    size_t lit = 0;
    for (int b = 0; b < ENVS; b++)
        for (size_t i = 0; i < frame; i++) {
            const uint8_t byte = ((const uint8_t *)r.obs)[(size_t)b * frame + i];
            if (fabsf(x[(size_t)b * frame + i] - (float)byte / 255.0f) > 1e-7f)
                fail_msg("ale:breakout env %d: byte %zu = %d reaches the network as %g, not %g", b, i, byte,
                         (double)x[(size_t)b * frame + i], byte / 255.0);
            lit += byte > 0;
        }
    /* A real screen: Breakout's walls and score are drawn from the first frame on. */
    printf("ale:breakout: %zu of %zu bytes non-zero, every one divided by 255\n", lit, ENVS * frame);
    assert_true(lit > frame / 20);
    rig_free(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest games[] = {cmocka_unit_test(minatar_planes_arrive_as_zero_and_one)};
    const struct CMUnitTest ale[] = {cmocka_unit_test(ale_pixels_arrive_divided_by_255)};
    if (argc > 1 && !strcmp(argv[1], "ale")) {
        const char *py = getenv("ATTN_PYTHON") ? getenv("ATTN_PYTHON") : "python3";
        char probe[512];
        snprintf(probe, sizeof probe, "%s -c 'import ale_py, ale_py.roms' >/dev/null 2>&1", py);
        if (system(probe) != 0) {
            printf("SKIP: %s cannot import ale_py (install: %s -m pip install ale-py)\n", py, py);
            return 77;
        }
        return cmocka_run_group_tests(ale, NULL, NULL);
    }
    return cmocka_run_group_tests(games, NULL, NULL);
}
