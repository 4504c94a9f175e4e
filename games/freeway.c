/*
 * Freeway: a chicken walks up column 4 across eight lanes (rows 1..8) of cars that wrap around the screen.
 * A car hit sends it back to the bottom row; reaching row 0 gives +1, puts it back at the bottom and redraws
 * every car's speed and direction. The chicken moves at most every third step. The episode ends on a time
 * limit. No difficulty ramp. Rules and constants: docs/games.md#freeway.
 */
#include "minatar_internal.h"

enum { CH_CHICKEN, CH_CAR, CH_SPEED1, CH_SPEED2, CH_SPEED3, CH_SPEED4, CH_SPEED5, CHANNELS };

#define PLAYER_SPEED 3
#define TIME_LIMIT 2500
#define MAX_CAR_SPEED 5
#define CHICKEN_X 4
#define BOTTOM (GRID - 1)

/* Every car gets a speed uniform in 1..5 and then every car a direction: the draws in MinAtar's order. */
static void randomize_cars(attn_minatar *g)
{
    freeway_state *s = &g->s.freeway;
    for (int i = 0; i < FREEWAY_CARS; i++)
        s->car[i].speed = 1 + attn_minatar_rng_below(&g->rng, MAX_CAR_SPEED);
    for (int i = 0; i < FREEWAY_CARS; i++) {
        if (attn_minatar_rng_uniform(&g->rng) < 0.5)
            s->car[i].speed = -s->car[i].speed;
        s->car[i].timer = s->car[i].speed < 0 ? -s->car[i].speed : s->car[i].speed;
    }
}

static void reset(attn_minatar *g)
{
    freeway_state *s = &g->s.freeway;
    randomize_cars(g);
    for (int i = 0; i < FREEWAY_CARS; i++)
        s->car[i].x = 0;
    s->chicken_y = BOTTOM;
    s->move_timer = PLAYER_SPEED;
    s->time_left = TIME_LIMIT;
}

static int hits_chicken(const freeway_state *s, int i)
{
    return s->car[i].x == CHICKEN_X && i + 1 == s->chicken_y;
}

static float step(attn_minatar *g, int action)
{
    freeway_state *s = &g->s.freeway;
    float reward = 0.0f;

    if (action == ATTN_MINATAR_UP && s->move_timer == 0) {
        s->move_timer = PLAYER_SPEED;
        if (s->chicken_y > 0)
            s->chicken_y--;
    } else if (action == ATTN_MINATAR_DOWN && s->move_timer == 0) {
        s->move_timer = PLAYER_SPEED;
        if (s->chicken_y < BOTTOM)
            s->chicken_y++;
    }

    if (s->chicken_y == 0) {
        reward += 1.0f;
        randomize_cars(g);
        s->chicken_y = BOTTOM;
    }

    /* A car hits the chicken where it stands before moving and where it lands after. */
    for (int i = 0; i < FREEWAY_CARS; i++) {
        freeway_car *c = &s->car[i];
        if (hits_chicken(s, i))
            s->chicken_y = BOTTOM;
        if (c->timer == 0) {
            c->timer = c->speed < 0 ? -c->speed : c->speed;
            c->x += c->speed > 0 ? 1 : -1;
            if (c->x < 0)
                c->x = GRID - 1;
            else if (c->x > GRID - 1)
                c->x = 0;
            if (hits_chicken(s, i))
                s->chicken_y = BOTTOM;
        } else {
            c->timer--;
        }
    }

    if (s->move_timer > 0)
        s->move_timer--;
    s->time_left--;
    if (s->time_left < 0)
        g->terminated = 1;
    return reward;
}

static void observe(const attn_minatar *g, uint8_t *obs)
{
    const freeway_state *s = &g->s.freeway;
    attn_minatar_set(obs, CHANNELS, CHICKEN_X, s->chicken_y, CH_CHICKEN);
    for (int i = 0; i < FREEWAY_CARS; i++) {
        const freeway_car *c = &s->car[i];
        attn_minatar_set(obs, CHANNELS, c->x, i + 1, CH_CAR);
        /* The trail cell behind the car (wrapping) tells its direction, its channel the speed. */
        int back = c->speed > 0 ? c->x - 1 : c->x + 1;
        if (back < 0)
            back = GRID - 1;
        else if (back > GRID - 1)
            back = 0;
        int speed = c->speed < 0 ? -c->speed : c->speed;
        attn_minatar_set(obs, CHANNELS, back, i + 1, CH_SPEED1 + speed - 1);
    }
}

static const char *const channel_names[CHANNELS] = { "chicken", "car", "speed1", "speed2",
                                                     "speed3", "speed4", "speed5" };
static const int minimal[] = { ATTN_MINATAR_NOOP, ATTN_MINATAR_UP, ATTN_MINATAR_DOWN };

const attn_minatar_game attn_minatar_freeway = {
    .name = "freeway",
    .channels = CHANNELS,
    .channel_names = channel_names,
    .num_minimal = (int)(sizeof minimal / sizeof minimal[0]),
    .minimal = minimal,
    .reset = reset,
    .step = step,
    .observe = observe,
    .ramp_index = NULL,
};
