/*
 * Space Invaders: a 4×6 block of aliens marches sideways, stepping down and turning at the walls; the cannon
 * on row 9 shoots upward (+1 per alien, one shot per SHOT_COOL_DOWN steps) and the alien nearest the cannon
 * fires back. Being hit, or aliens reaching the cannon, ends the episode. Few aliens move faster; a cleared
 * wave comes back one step faster. No randomness at all. Rules and constants:
 * docs/games.md#space-invaders.
 *
 * Aliens and bullets are bit rows: bit x of row[y] is the cell (x, y).
 */
#include "minatar_internal.h"

enum { CH_CANNON, CH_ALIEN, CH_ALIEN_LEFT, CH_ALIEN_RIGHT, CH_FRIENDLY_BULLET, CH_ENEMY_BULLET, CHANNELS };

#define SHOT_COOL_DOWN 5
#define ENEMY_MOVE_INTERVAL 12
#define ENEMY_SHOT_INTERVAL 10
#define MIN_MOVE_INTERVAL 6 /* waves stop speeding up here */
#define CANNON_START_X 5
#define WAVE_TOP 0          /* a wave fills rows 0..3, columns 2..7 */
#define WAVE_BOTTOM 3
#define WAVE_COLUMNS 0x0fcu
#define LEFT_COLUMN 0x001u
#define RIGHT_COLUMN 0x200u
#define BOTTOM (GRID - 1)

static void new_wave(space_invaders_state *s)
{
    for (int y = WAVE_TOP; y <= WAVE_BOTTOM; y++)
        s->aliens[y] = WAVE_COLUMNS;
}

static void reset(attn_minatar *g)
{
    space_invaders_state *s = &g->s.space_invaders;
    s->cannon_x = CANNON_START_X;
    for (int y = 0; y < GRID; y++)
        s->aliens[y] = s->bullets[y] = s->enemy_bullets[y] = 0;
    new_wave(s);
    s->alien_dir = -1;
    s->move_interval = ENEMY_MOVE_INTERVAL;
    s->move_timer = s->move_interval;
    s->alien_shot_timer = ENEMY_SHOT_INTERVAL;
    s->ramp_index = 0;
    s->shot_timer = 0;
}

static int count_aliens(const space_invaders_state *s)
{
    int n = 0;
    for (int y = 0; y < GRID; y++)
        n += attn_minatar_popcount(s->aliens[y]);
    return n;
}

/* The columns holding at least one alien, as a bit row. */
static unsigned alien_columns(const space_invaders_state *s)
{
    unsigned any = 0;
    for (int y = 0; y < GRID; y++)
        any |= s->aliens[y];
    return any;
}

/* Rolls bit rows down by one: row y takes row y-1; row 0 takes what was on row 9 when `wrap`, else nothing. */
static void roll_down(uint16_t *rows, int wrap)
{
    uint16_t last = rows[GRID - 1];
    for (int y = GRID - 1; y > 0; y--)
        rows[y] = rows[y - 1];
    rows[0] = wrap ? last : 0;
}

static int cannon_hit(const space_invaders_state *s, const uint16_t *rows)
{
    return rows[BOTTOM] >> s->cannon_x & 1u;
}

/* The alien that fires: in the occupied column nearest the cannon (the left one on a tie), the lowest. */
static void alien_fires(space_invaders_state *s)
{
    unsigned columns = alien_columns(s);
    for (int d = 0; d < GRID; d++) {
        for (int side = -1; side <= 1; side += 2) {
            int x = s->cannon_x + side * d;
            if (x < 0 || x >= GRID || !(columns >> x & 1u))
                continue;
            for (int y = GRID - 1; y >= 0; y--) {
                if (s->aliens[y] >> x & 1u) {
                    s->enemy_bullets[y] |= (uint16_t)(1u << x);
                    return;
                }
            }
        }
    }
}

static float step(attn_minatar *g, int action)
{
    space_invaders_state *s = &g->s.space_invaders;
    float reward = 0.0f;

    if (action == ATTN_MINATAR_FIRE && s->shot_timer == 0) {
        s->bullets[BOTTOM] |= (uint16_t)(1u << s->cannon_x);
        s->shot_timer = SHOT_COOL_DOWN;
    } else if (action == ATTN_MINATAR_LEFT && s->cannon_x > 0) {
        s->cannon_x--;
    } else if (action == ATTN_MINATAR_RIGHT && s->cannon_x < GRID - 1) {
        s->cannon_x++;
    }

    /* Friendly bullets rise one row (leaving from row 0), enemy bullets fall one (leaving from row 9). */
    for (int y = 0; y < GRID - 1; y++)
        s->bullets[y] = s->bullets[y + 1];
    s->bullets[BOTTOM] = 0;
    roll_down(s->enemy_bullets, 0);
    if (cannon_hit(s, s->enemy_bullets))
        g->terminated = 1;

    if (cannon_hit(s, s->aliens))
        g->terminated = 1;
    if (s->move_timer == 0) {
        int n = count_aliens(s);
        s->move_timer = n < s->move_interval ? n : s->move_interval;
        unsigned columns = alien_columns(s);
        if ((columns & LEFT_COLUMN && s->alien_dir < 0) || (columns & RIGHT_COLUMN && s->alien_dir > 0)) {
            s->alien_dir = -s->alien_dir;
            if (s->aliens[BOTTOM])
                g->terminated = 1;
            roll_down(s->aliens, 1);
        } else {
            /* Never wraps: a wave at a wall turns instead of moving. */
            for (int y = 0; y < GRID; y++)
                s->aliens[y] = (uint16_t)(s->alien_dir > 0 ? s->aliens[y] << 1 : s->aliens[y] >> 1);
        }
        if (cannon_hit(s, s->aliens))
            g->terminated = 1;
    }
    if (s->alien_shot_timer == 0) {
        s->alien_shot_timer = ENEMY_SHOT_INTERVAL;
        alien_fires(s);
    }

    for (int y = 0; y < GRID; y++) {
        uint16_t killed = s->aliens[y] & s->bullets[y];
        reward += (float)attn_minatar_popcount(killed);
        s->aliens[y] &= (uint16_t)~killed;
        s->bullets[y] &= (uint16_t)~killed;
    }

    if (s->shot_timer > 0)
        s->shot_timer--;
    s->move_timer--;
    s->alien_shot_timer--;
    if (count_aliens(s) == 0) {
        if (s->move_interval > MIN_MOVE_INTERVAL && g->ramping) {
            s->move_interval--;
            s->ramp_index++;
        }
        new_wave(s);
    }
    return reward;
}

static void observe(const attn_minatar *g, uint8_t *obs)
{
    const space_invaders_state *s = &g->s.space_invaders;
    int dir_channel = s->alien_dir < 0 ? CH_ALIEN_LEFT : CH_ALIEN_RIGHT;
    attn_minatar_set(obs, CHANNELS, s->cannon_x, BOTTOM, CH_CANNON);
    for (int y = 0; y < GRID; y++) {
        unsigned any = (unsigned)s->aliens[y] | s->bullets[y] | s->enemy_bullets[y];
        for (int x = 0; any >> x; x++) {
            if (s->aliens[y] >> x & 1u) {
                attn_minatar_set(obs, CHANNELS, x, y, CH_ALIEN);
                attn_minatar_set(obs, CHANNELS, x, y, dir_channel);
            }
            if (s->bullets[y] >> x & 1u)
                attn_minatar_set(obs, CHANNELS, x, y, CH_FRIENDLY_BULLET);
            if (s->enemy_bullets[y] >> x & 1u)
                attn_minatar_set(obs, CHANNELS, x, y, CH_ENEMY_BULLET);
        }
    }
}

static int ramp_index(const attn_minatar *g)
{
    return g->s.space_invaders.ramp_index;
}

static const char *const channel_names[CHANNELS] = { "cannon", "alien", "alien_left",
                                                     "alien_right", "friendly_bullet", "enemy_bullet" };
static const int minimal[] = { ATTN_MINATAR_NOOP, ATTN_MINATAR_LEFT, ATTN_MINATAR_RIGHT, ATTN_MINATAR_FIRE };

const attn_minatar_game attn_minatar_space_invaders = {
    .name = "space_invaders",
    .channels = CHANNELS,
    .channel_names = channel_names,
    .num_minimal = (int)(sizeof minimal / sizeof minimal[0]),
    .minimal = minimal,
    .reset = reset,
    .step = step,
    .observe = observe,
    .ramp_index = ramp_index,
};
