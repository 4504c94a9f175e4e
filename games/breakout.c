/*
 * Breakout: a paddle on the bottom row bounces a diagonally moving ball into three rows of bricks.
 * +1 per brick; a cleared wall refills when the ball next reaches the paddle row; missing the ball ends the
 * episode. No difficulty ramp. Rules and constants: docs/games.md#breakout.
 */
#include "minatar_internal.h"

enum { CH_PADDLE, CH_BALL, CH_TRAIL, CH_BRICK, CHANNELS };
enum { UP_LEFT, UP_RIGHT, DOWN_RIGHT, DOWN_LEFT };

#define FULL_ROW 0x3ffu
#define BRICK_TOP 1    /* bricks fill rows 1..3 */
#define BRICK_BOTTOM 3
#define BALL_START_Y 3
#define PADDLE_START_X 4

static const int dir_dx[4] = { -1, +1, +1, -1 };
static const int dir_dy[4] = { -1, -1, +1, +1 };
/* A side wall reverses dx, the ceiling / a brick / the paddle's face reverses dy, the paddle's corner both. */
static const int flip_x[4] = { UP_RIGHT, UP_LEFT, DOWN_LEFT, DOWN_RIGHT };
static const int flip_y[4] = { DOWN_LEFT, DOWN_RIGHT, UP_RIGHT, UP_LEFT };
static const int flip_xy[4] = { DOWN_RIGHT, DOWN_LEFT, UP_LEFT, UP_RIGHT };

static void fill_bricks(breakout_state *s)
{
    for (int y = BRICK_TOP; y <= BRICK_BOTTOM; y++)
        s->bricks[y] = FULL_ROW;
}

static int no_bricks(const breakout_state *s)
{
    uint16_t any = 0;
    for (int y = 0; y < GRID; y++)
        any |= s->bricks[y];
    return any == 0;
}

static void reset(attn_minatar *g)
{
    breakout_state *s = &g->s.breakout;
    /* The ball starts on row 3 in a random top corner column, heading down and away from it. */
    int right_corner = attn_minatar_rng_below(&g->rng, 2);
    s->ball_x = right_corner ? GRID - 1 : 0;
    s->ball_dir = right_corner ? DOWN_LEFT : DOWN_RIGHT;
    s->ball_y = BALL_START_Y;
    s->last_x = s->ball_x;
    s->last_y = s->ball_y;
    s->paddle_x = PADDLE_START_X;
    s->strike = 0;
    fill_bricks(s);
}

static float step(attn_minatar *g, int action)
{
    breakout_state *s = &g->s.breakout;
    float reward = 0.0f;

    if (action == ATTN_MINATAR_LEFT && s->paddle_x > 0)
        s->paddle_x--;
    else if (action == ATTN_MINATAR_RIGHT && s->paddle_x < GRID - 1)
        s->paddle_x++;

    s->last_x = s->ball_x;
    s->last_y = s->ball_y;
    int nx = s->ball_x + dir_dx[s->ball_dir];
    int ny = s->ball_y + dir_dy[s->ball_dir];

    if (nx < 0 || nx > GRID - 1) {
        nx = nx < 0 ? 0 : GRID - 1;
        s->ball_dir = flip_x[s->ball_dir];
    }
    int touching_brick = 0;
    if (ny < 0) {
        ny = 0;
        s->ball_dir = flip_y[s->ball_dir];
    } else if (s->bricks[ny] >> nx & 1u) {
        touching_brick = 1;
        /* Right after a hit the ball may enter a brick cell without breaking it (MinAtar's strike flag). */
        if (!s->strike) {
            reward += 1.0f;
            s->strike = 1;
            s->bricks[ny] &= (uint16_t)~(1u << nx);
            ny = s->last_y;
            s->ball_dir = flip_y[s->ball_dir];
        }
    } else if (ny == GRID - 1) {
        if (no_bricks(s))
            fill_bricks(s);
        if (s->ball_x == s->paddle_x) {
            /* Coming straight over the paddle: bounce back up on the same diagonal side. */
            s->ball_dir = flip_y[s->ball_dir];
            ny = s->last_y;
        } else if (nx == s->paddle_x) {
            /* Catching the paddle's corner: sent back the way it came. */
            s->ball_dir = flip_xy[s->ball_dir];
            ny = s->last_y;
        } else {
            g->terminated = 1;
        }
    }
    if (!touching_brick)
        s->strike = 0;

    s->ball_x = nx;
    s->ball_y = ny;
    return reward;
}

static void observe(const attn_minatar *g, uint8_t *obs)
{
    const breakout_state *s = &g->s.breakout;
    attn_minatar_set(obs, CHANNELS, s->paddle_x, GRID - 1, CH_PADDLE);
    attn_minatar_set(obs, CHANNELS, s->ball_x, s->ball_y, CH_BALL);
    attn_minatar_set(obs, CHANNELS, s->last_x, s->last_y, CH_TRAIL);
    for (int y = 0; y < GRID; y++)
        for (int x = 0; s->bricks[y] >> x; x++)
            if (s->bricks[y] >> x & 1u)
                attn_minatar_set(obs, CHANNELS, x, y, CH_BRICK);
}

static const char *const channel_names[CHANNELS] = { "paddle", "ball", "trail", "brick" };
static const int minimal[] = { ATTN_MINATAR_NOOP, ATTN_MINATAR_LEFT, ATTN_MINATAR_RIGHT };

const attn_minatar_game attn_minatar_breakout = {
    .name = "breakout",
    .channels = CHANNELS,
    .channel_names = channel_names,
    .num_minimal = (int)(sizeof minimal / sizeof minimal[0]),
    .minimal = minimal,
    .reset = reset,
    .step = step,
    .observe = observe,
    .ramp_index = NULL,
};
