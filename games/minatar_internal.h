/*
 * Internals of the games library: the handle's layout, each game's state, the random generator and the
 * table every game fills in. Not installed; the tests include it to set up positions that would otherwise
 * need long random waits.
 *
 * Coordinates are MinAtar's: x is the column (0 left .. 9 right), y the row (0 top .. 9 bottom).
 * A handle is one flat struct with no pointers into itself, so copying it is a memcpy.
 */
#ifndef ATTN_MINATAR_INTERNAL_H
#define ATTN_MINATAR_INTERNAL_H

#include <stdint.h>

#include "minatar.h"

#define GRID ATTN_MINATAR_SIZE

/* ---- Random generator: xoshiro256** seeded through splitmix64 ------------------------------------------ */

typedef struct attn_minatar_rng {
    uint64_t s[4];
} attn_minatar_rng;

void attn_minatar_rng_seed(attn_minatar_rng *rng, uint64_t seed);
uint64_t attn_minatar_rng_next(attn_minatar_rng *rng);
/* Uniform in [0, 1) with 53 random bits (numpy's rand()). */
double attn_minatar_rng_uniform(attn_minatar_rng *rng);
/* Uniform integer in [0, n), n ≥ 1, without modulo bias (numpy's randint(n)). */
int attn_minatar_rng_below(attn_minatar_rng *rng, int n);

/* ---- Per-game state ------------------------------------------------------------------------------- */

typedef struct breakout_state {
    int ball_x, ball_y;
    int ball_dir;         /* 0 up-left, 1 up-right, 2 down-right, 3 down-left */
    int last_x, last_y;   /* the ball's previous cell: the trail channel */
    int paddle_x;         /* the paddle sits on row 9 */
    int strike;           /* a brick was hit on the previous step: the next brick contact scores nothing */
    uint16_t bricks[GRID]; /* bit x of bricks[y] set: a brick at (x, y) */
} breakout_state;

typedef struct asterix_entity {
    int active;
    int x;     /* its row is its slot + 1 */
    int right; /* moving right (spawned on the left edge) */
    int gold;  /* gold (reward) rather than an enemy (death) */
} asterix_entity;

#define ASTERIX_SLOTS 8

typedef struct asterix_state {
    int player_x, player_y;
    asterix_entity slot[ASTERIX_SLOTS];
    int spawn_speed, spawn_timer;
    int move_speed, move_timer;
    int ramp_timer, ramp_index;
} asterix_state;

typedef struct freeway_car {
    int x;     /* its row is its index + 1 */
    int timer; /* steps until its next move */
    int speed; /* ±1..±5: sign is the direction (+ right), magnitude the move period minus one */
} freeway_car;

#define FREEWAY_CARS 8

typedef struct freeway_state {
    freeway_car car[FREEWAY_CARS];
    int chicken_y; /* the chicken walks column 4 */
    int move_timer;
    int time_left;
} freeway_state;

/* A horizontally moving thing in seaquest: enemy fish and subs, divers, bullets. */
typedef struct seaquest_mover {
    int x, y;
    int right;      /* moving right */
    int move_timer; /* fish, subs, divers */
    int shot_timer; /* subs */
} seaquest_mover;

/* Capacities well above what the rules can produce (docs/games.md derives the bounds); a spawn into a full
 * list is skipped, which the rules never reach. */
#define SEAQUEST_MAX_ENEMIES 64
#define SEAQUEST_MAX_ENEMY_BULLETS 128
#define SEAQUEST_MAX_DIVERS 16
#define SEAQUEST_MAX_BULLETS 16

typedef struct seaquest_state {
    int sub_x, sub_y;
    int sub_right; /* facing right; the back cell is behind the front */
    int oxygen;
    int diver_count;
    int surfaced; /* at the surface since the last surfacing was resolved */
    int shot_timer;
    int enemy_spawn_speed, enemy_spawn_timer;
    int diver_spawn_timer;
    int move_speed;
    int ramp_index;
    /* Lists in insertion order (MinAtar's Python lists), iterated newest first where MinAtar does. */
    int n_bullets, n_enemy_bullets, n_fish, n_subs, n_divers;
    seaquest_mover bullets[SEAQUEST_MAX_BULLETS];
    seaquest_mover enemy_bullets[SEAQUEST_MAX_ENEMY_BULLETS];
    seaquest_mover fish[SEAQUEST_MAX_ENEMIES];
    seaquest_mover subs[SEAQUEST_MAX_ENEMIES];
    seaquest_mover divers[SEAQUEST_MAX_DIVERS];
} seaquest_state;

typedef struct space_invaders_state {
    int cannon_x; /* the cannon sits on row 9 */
    int alien_dir; /* -1 left, +1 right */
    int move_interval, move_timer;
    int shot_timer, alien_shot_timer;
    int ramp_index;
    /* bit x of row[y] set: something at (x, y) */
    uint16_t aliens[GRID];
    uint16_t bullets[GRID];
    uint16_t enemy_bullets[GRID];
} space_invaders_state;

/* ---- Game table ----------------------------------------------------------------------------------- */

typedef struct attn_minatar_game {
    const char *name;
    int channels;
    const char *const *channel_names;
    int num_minimal;
    const int *minimal; /* attn_minatar_action values */
    /* Starts an episode; may draw from game->rng. */
    void (*reset)(attn_minatar *game);
    /* Plays full action `action`; returns the reward and sets game->terminated when the episode ends. */
    float (*step)(attn_minatar *game, int action);
    /* Sets the 1s of the observation; `obs` (10·10·channels bytes) is already zeroed. */
    void (*observe)(const attn_minatar *game, uint8_t *obs);
    int (*ramp_index)(const attn_minatar *game);
} attn_minatar_game;

extern const attn_minatar_game attn_minatar_asterix;
extern const attn_minatar_game attn_minatar_breakout;
extern const attn_minatar_game attn_minatar_freeway;
extern const attn_minatar_game attn_minatar_seaquest;
extern const attn_minatar_game attn_minatar_space_invaders;

struct attn_minatar {
    const attn_minatar_game *game;
    double sticky_action_prob;
    int ramping;
    int minimal_action_set;
    attn_minatar_rng rng;
    int last_action; /* full action played on the previous step (sticky actions) */
    int terminated;
    union {
        breakout_state breakout;
        asterix_state asterix;
        freeway_state freeway;
        seaquest_state seaquest;
        space_invaders_state space_invaders;
    } s;
};

/* Sets the observation cell (x, y, c) to 1 for a game with `channels` channels. */
static inline void attn_minatar_set(uint8_t *obs, int channels, int x, int y, int c)
{
    obs[(y * GRID + x) * channels + c] = 1;
}

/* Number of set bits of a 10-bit grid row. */
static inline int attn_minatar_popcount(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

#endif /* ATTN_MINATAR_INTERNAL_H */
