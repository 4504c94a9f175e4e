/*
 * Asterix: the player walks rows 1..8; enemies and gold enter rows 1..8 from the left or right edge and cross
 * horizontally. Touching gold +1, touching an enemy ends the episode. Spawning and movement speed up over
 * time. Rules and constants: docs/games.md#asterix.
 */
#include "minatar_internal.h"

enum { CH_PLAYER, CH_ENEMY, CH_TRAIL, CH_GOLD, CHANNELS };

#define RAMP_INTERVAL 100
#define INIT_SPAWN_SPEED 10
#define INIT_MOVE_INTERVAL 5
#define PLAYER_START 5
#define TOP_ROW 1    /* the player's rows */
#define BOTTOM_ROW 8
#define GOLD_PROB (1.0 / 3.0)

static void reset(attn_minatar *g)
{
    asterix_state *s = &g->s.asterix;
    s->player_x = PLAYER_START;
    s->player_y = PLAYER_START;
    for (int i = 0; i < ASTERIX_SLOTS; i++)
        s->slot[i].active = 0;
    s->spawn_speed = INIT_SPAWN_SPEED;
    s->spawn_timer = s->spawn_speed;
    s->move_speed = INIT_MOVE_INTERVAL;
    s->move_timer = s->move_speed;
    s->ramp_timer = RAMP_INTERVAL;
    s->ramp_index = 0;
}

/* A new entity in a random free row at a random edge; the side and kind are drawn even when every row is
 * taken and nothing spawns. */
static void spawn(attn_minatar *g)
{
    asterix_state *s = &g->s.asterix;
    int right = attn_minatar_rng_uniform(&g->rng) < 0.5;
    int gold = attn_minatar_rng_uniform(&g->rng) < GOLD_PROB;
    int free_slots[ASTERIX_SLOTS];
    int n_free = 0;
    for (int i = 0; i < ASTERIX_SLOTS; i++)
        if (!s->slot[i].active)
            free_slots[n_free++] = i;
    if (n_free == 0)
        return;
    asterix_entity *e = &s->slot[free_slots[attn_minatar_rng_below(&g->rng, n_free)]];
    e->active = 1;
    e->x = right ? 0 : GRID - 1;
    e->right = right;
    e->gold = gold;
}

/* Resolves contact between the player and slot `i`: gold is collected, an enemy ends the episode. */
static float touch(attn_minatar *g, int i)
{
    asterix_state *s = &g->s.asterix;
    asterix_entity *e = &s->slot[i];
    if (!e->active || e->x != s->player_x || i + 1 != s->player_y)
        return 0.0f;
    if (e->gold) {
        e->active = 0;
        return 1.0f;
    }
    g->terminated = 1;
    return 0.0f;
}

static float step(attn_minatar *g, int action)
{
    asterix_state *s = &g->s.asterix;
    float reward = 0.0f;

    if (s->spawn_timer == 0) {
        spawn(g);
        s->spawn_timer = s->spawn_speed;
    }

    if (action == ATTN_MINATAR_LEFT && s->player_x > 0)
        s->player_x--;
    else if (action == ATTN_MINATAR_RIGHT && s->player_x < GRID - 1)
        s->player_x++;
    else if (action == ATTN_MINATAR_UP && s->player_y > TOP_ROW)
        s->player_y--;
    else if (action == ATTN_MINATAR_DOWN && s->player_y < BOTTOM_ROW)
        s->player_y++;

    /* Contact is checked where the player stepped, then again after the entities move. */
    for (int i = 0; i < ASTERIX_SLOTS; i++)
        reward += touch(g, i);
    if (s->move_timer == 0) {
        s->move_timer = s->move_speed;
        for (int i = 0; i < ASTERIX_SLOTS; i++) {
            asterix_entity *e = &s->slot[i];
            if (!e->active)
                continue;
            e->x += e->right ? 1 : -1;
            if (e->x < 0 || e->x > GRID - 1)
                e->active = 0;
            reward += touch(g, i);
        }
    }

    s->spawn_timer--;
    s->move_timer--;

    /* Every RAMP_INTERVAL + 2 steps: one step faster spawning, and on every second ramp faster movement. */
    if (g->ramping && (s->spawn_speed > 1 || s->move_speed > 1)) {
        if (s->ramp_timer >= 0) {
            s->ramp_timer--;
        } else {
            if (s->move_speed > 1 && s->ramp_index % 2)
                s->move_speed--;
            if (s->spawn_speed > 1)
                s->spawn_speed--;
            s->ramp_index++;
            s->ramp_timer = RAMP_INTERVAL;
        }
    }
    return reward;
}

static void observe(const attn_minatar *g, uint8_t *obs)
{
    const asterix_state *s = &g->s.asterix;
    attn_minatar_set(obs, CHANNELS, s->player_x, s->player_y, CH_PLAYER);
    for (int i = 0; i < ASTERIX_SLOTS; i++) {
        const asterix_entity *e = &s->slot[i];
        if (!e->active)
            continue;
        attn_minatar_set(obs, CHANNELS, e->x, i + 1, e->gold ? CH_GOLD : CH_ENEMY);
        int back = e->right ? e->x - 1 : e->x + 1;
        if (back >= 0 && back < GRID)
            attn_minatar_set(obs, CHANNELS, back, i + 1, CH_TRAIL);
    }
}

static int ramp_index(const attn_minatar *g)
{
    return g->s.asterix.ramp_index;
}

static const char *const channel_names[CHANNELS] = { "player", "enemy", "trail", "gold" };
static const int minimal[] = { ATTN_MINATAR_NOOP, ATTN_MINATAR_LEFT, ATTN_MINATAR_UP, ATTN_MINATAR_RIGHT,
                               ATTN_MINATAR_DOWN };

const attn_minatar_game attn_minatar_asterix = {
    .name = "asterix",
    .channels = CHANNELS,
    .channel_names = channel_names,
    .num_minimal = (int)(sizeof minimal / sizeof minimal[0]),
    .minimal = minimal,
    .reset = reset,
    .step = step,
    .observe = observe,
    .ramp_index = ramp_index,
};
