/*
 * Seaquest: a two-cell submarine shoots enemy fish and enemy subs (+1 each) that cross rows 1..8, picks up
 * divers, and must surface (row 0) before its oxygen runs out. Surfacing with divers refills the oxygen and
 * costs a diver, surfacing with six pays a bonus proportional to the oxygen left; surfacing with none, running
 * out of oxygen, or touching an enemy or an enemy bullet ends the episode. Every surfacing speeds the enemies
 * up. Rules and constants: docs/games.md#seaquest.
 *
 * The lists are kept in insertion order and walked newest first, as MinAtar walks its Python lists, because
 * which bullet meets which enemy first depends on that order.
 */
#include <string.h>

#include "minatar_internal.h"

enum {
    CH_SUB_FRONT,
    CH_SUB_BACK,
    CH_FRIENDLY_BULLET,
    CH_TRAIL,
    CH_ENEMY_BULLET,
    CH_ENEMY_FISH,
    CH_ENEMY_SUB,
    CH_OXYGEN_GAUGE,
    CH_DIVER_GAUGE,
    CH_DIVER,
    CHANNELS
};

#define MAX_OXYGEN 200
#define INIT_SPAWN_SPEED 20
#define DIVER_SPAWN_SPEED 30
#define INIT_MOVE_INTERVAL 5
#define SHOT_COOL_DOWN 5
#define ENEMY_SHOT_INTERVAL 10
#define DIVER_MOVE_INTERVAL 5
#define MAX_DIVERS 6
#define SUB_PROB (1.0 / 3.0)
#define MIN_MOVE_SPEED 2 /* ramping stops speeding enemies up here */
#define SUB_START_X 5
#define LOWEST_ROW 8     /* the submarine's rows are 0 (surface) .. 8 */
#define GAUGE_CELLS 10

/* ---- Lists ---------------------------------------------------------------------------------------- */

static void list_remove(seaquest_mover *list, int *n, int i)
{
    memmove(&list[i], &list[i + 1], (size_t)(*n - i - 1) * sizeof *list);
    (*n)--;
}

static void list_append(seaquest_mover *list, int *n, int capacity, seaquest_mover m)
{
    if (*n < capacity)
        list[(*n)++] = m;
}

/* The index of the first (oldest) mover of `list` at (x, y), or -1. */
static int list_find(const seaquest_mover *list, int n, int x, int y)
{
    for (int i = 0; i < n; i++)
        if (list[i].x == x && list[i].y == y)
            return i;
    return -1;
}

static int at_sub(const seaquest_state *s, const seaquest_mover *m)
{
    return m->x == s->sub_x && m->y == s->sub_y;
}

static int off_screen(const seaquest_mover *m)
{
    return m->x < 0 || m->x > GRID - 1;
}

/* ---- Episode -------------------------------------------------------------------------------------- */

static void reset(attn_minatar *g)
{
    seaquest_state *s = &g->s.seaquest;
    s->oxygen = MAX_OXYGEN;
    s->diver_count = 0;
    s->sub_x = SUB_START_X;
    s->sub_y = 0;
    s->sub_right = 0;
    s->n_bullets = s->n_enemy_bullets = s->n_fish = s->n_subs = s->n_divers = 0;
    s->enemy_spawn_speed = INIT_SPAWN_SPEED;
    s->enemy_spawn_timer = s->enemy_spawn_speed;
    s->diver_spawn_timer = DIVER_SPAWN_SPEED;
    s->move_speed = INIT_MOVE_INTERVAL;
    s->ramp_index = 0;
    s->shot_timer = 0;
    s->surfaced = 1;
}

/* An enemy at a random edge of a random row 1..8, a sub with probability 1/3; nothing spawns where an enemy
 * already heads the other way in that row. */
static void spawn_enemy(attn_minatar *g)
{
    seaquest_state *s = &g->s.seaquest;
    int right = attn_minatar_rng_uniform(&g->rng) < 0.5;
    int is_sub = attn_minatar_rng_uniform(&g->rng) < SUB_PROB;
    int y = 1 + attn_minatar_rng_below(&g->rng, LOWEST_ROW);
    for (int i = 0; i < s->n_subs; i++)
        if (s->subs[i].y == y && s->subs[i].right != right)
            return;
    for (int i = 0; i < s->n_fish; i++)
        if (s->fish[i].y == y && s->fish[i].right != right)
            return;
    seaquest_mover m = { right ? 0 : GRID - 1, y, right, s->move_speed, ENEMY_SHOT_INTERVAL };
    if (is_sub)
        list_append(s->subs, &s->n_subs, SEAQUEST_MAX_ENEMIES, m);
    else
        list_append(s->fish, &s->n_fish, SEAQUEST_MAX_ENEMIES, m);
}

static void spawn_diver(attn_minatar *g)
{
    seaquest_state *s = &g->s.seaquest;
    int right = attn_minatar_rng_uniform(&g->rng) < 0.5;
    int y = 1 + attn_minatar_rng_below(&g->rng, LOWEST_ROW);
    seaquest_mover m = { right ? 0 : GRID - 1, y, right, DIVER_MOVE_INTERVAL, 0 };
    list_append(s->divers, &s->n_divers, SEAQUEST_MAX_DIVERS, m);
}

/* Resolves a surfacing with at least one diver aboard; returns the bonus. */
static float surface(attn_minatar *g)
{
    seaquest_state *s = &g->s.seaquest;
    float bonus = 0.0f;
    s->surfaced = 1;
    if (s->diver_count == MAX_DIVERS) {
        s->diver_count = 0;
        bonus = (float)(s->oxygen * 10 / MAX_OXYGEN);
    }
    s->oxygen = MAX_OXYGEN;
    /* After a full load this leaves -1 (MinAtar does the same; docs/games.md, "quirks kept"). */
    s->diver_count--;
    if (g->ramping && (s->enemy_spawn_speed > 1 || s->move_speed > MIN_MOVE_SPEED)) {
        if (s->move_speed > MIN_MOVE_SPEED && s->ramp_index % 2)
            s->move_speed--;
        if (s->enemy_spawn_speed > 1)
            s->enemy_spawn_speed--;
        s->ramp_index++;
    }
    return bonus;
}

/* ---- Step parts, in MinAtar's order ------------------------------------------------------------------ */

static float move_bullets(seaquest_state *s)
{
    float reward = 0.0f;
    for (int i = s->n_bullets - 1; i >= 0; i--) {
        seaquest_mover *b = &s->bullets[i];
        b->x += b->right ? 1 : -1;
        if (off_screen(b)) {
            list_remove(s->bullets, &s->n_bullets, i);
            continue;
        }
        int hit = list_find(s->fish, s->n_fish, b->x, b->y);
        if (hit >= 0) {
            list_remove(s->fish, &s->n_fish, hit);
        } else {
            hit = list_find(s->subs, s->n_subs, b->x, b->y);
            if (hit >= 0)
                list_remove(s->subs, &s->n_subs, hit);
        }
        if (hit >= 0) {
            list_remove(s->bullets, &s->n_bullets, i);
            reward += 1.0f;
        }
    }
    return reward;
}

static void move_divers(seaquest_state *s)
{
    for (int i = s->n_divers - 1; i >= 0; i--) {
        seaquest_mover *d = &s->divers[i];
        if (at_sub(s, d) && s->diver_count < MAX_DIVERS) {
            list_remove(s->divers, &s->n_divers, i);
            s->diver_count++;
        } else if (d->move_timer == 0) {
            d->move_timer = DIVER_MOVE_INTERVAL;
            d->x += d->right ? 1 : -1;
            if (off_screen(d)) {
                list_remove(s->divers, &s->n_divers, i);
            } else if (at_sub(s, d) && s->diver_count < MAX_DIVERS) {
                list_remove(s->divers, &s->n_divers, i);
                s->diver_count++;
            }
        } else {
            d->move_timer--;
        }
    }
}

/*
 * Moves the enemies of one list (fish or subs): contact with the submarine ends the episode, an enemy that
 * moves onto a friendly bullet dies (+1) with the bullet. Subs also fire: every ENEMY_SHOT_INTERVAL + 1 steps
 * a bullet starts on the sub's cell heading its way, even on the step the sub dies or leaves the screen.
 */
static float move_enemies(attn_minatar *g, seaquest_mover *list, int *n, int shoots)
{
    seaquest_state *s = &g->s.seaquest;
    float reward = 0.0f;
    for (int i = *n - 1; i >= 0; i--) {
        seaquest_mover *e = &list[i];
        int gone = 0;
        if (at_sub(s, e))
            g->terminated = 1;
        if (e->move_timer == 0) {
            e->move_timer = s->move_speed;
            e->x += e->right ? 1 : -1;
            int hit;
            if (off_screen(e)) {
                gone = 1;
            } else if (at_sub(s, e)) {
                g->terminated = 1;
            } else if ((hit = list_find(s->bullets, s->n_bullets, e->x, e->y)) >= 0) {
                gone = 1;
                list_remove(s->bullets, &s->n_bullets, hit);
                reward += 1.0f;
            }
        } else {
            e->move_timer--;
        }
        if (shoots) {
            if (e->shot_timer == 0) {
                seaquest_mover bullet = { e->x, e->y, e->right, 0, 0 };
                list_append(s->enemy_bullets, &s->n_enemy_bullets, SEAQUEST_MAX_ENEMY_BULLETS, bullet);
                e->shot_timer = ENEMY_SHOT_INTERVAL;
            } else {
                e->shot_timer--;
            }
        }
        if (gone)
            list_remove(list, n, i);
    }
    return reward;
}

static void move_enemy_bullets(attn_minatar *g)
{
    seaquest_state *s = &g->s.seaquest;
    for (int i = s->n_enemy_bullets - 1; i >= 0; i--) {
        seaquest_mover *b = &s->enemy_bullets[i];
        if (at_sub(s, b))
            g->terminated = 1;
        b->x += b->right ? 1 : -1;
        if (off_screen(b))
            list_remove(s->enemy_bullets, &s->n_enemy_bullets, i);
        else if (at_sub(s, b))
            g->terminated = 1;
    }
}

static float step(attn_minatar *g, int action)
{
    seaquest_state *s = &g->s.seaquest;
    float reward = 0.0f;

    if (s->enemy_spawn_timer == 0) {
        spawn_enemy(g);
        s->enemy_spawn_timer = s->enemy_spawn_speed;
    }
    if (s->diver_spawn_timer == 0) {
        spawn_diver(g);
        s->diver_spawn_timer = DIVER_SPAWN_SPEED;
    }

    if (action == ATTN_MINATAR_FIRE && s->shot_timer == 0) {
        seaquest_mover b = { s->sub_x, s->sub_y, s->sub_right, 0, 0 };
        list_append(s->bullets, &s->n_bullets, SEAQUEST_MAX_BULLETS, b);
        s->shot_timer = SHOT_COOL_DOWN;
    } else if (action == ATTN_MINATAR_LEFT) {
        if (s->sub_x > 0)
            s->sub_x--;
        s->sub_right = 0;
    } else if (action == ATTN_MINATAR_RIGHT) {
        if (s->sub_x < GRID - 1)
            s->sub_x++;
        s->sub_right = 1;
    } else if (action == ATTN_MINATAR_UP) {
        if (s->sub_y > 0)
            s->sub_y--;
    } else if (action == ATTN_MINATAR_DOWN) {
        if (s->sub_y < LOWEST_ROW)
            s->sub_y++;
    }

    reward += move_bullets(s);
    move_divers(s);
    reward += move_enemies(g, s->subs, &s->n_subs, 1);
    move_enemy_bullets(g);
    reward += move_enemies(g, s->fish, &s->n_fish, 0);

    if (s->enemy_spawn_timer > 0)
        s->enemy_spawn_timer--;
    if (s->diver_spawn_timer > 0)
        s->diver_spawn_timer--;
    if (s->shot_timer > 0)
        s->shot_timer--;
    if (s->oxygen <= 0)
        g->terminated = 1;
    if (s->sub_y > 0) {
        s->oxygen--;
        s->surfaced = 0;
    } else if (!s->surfaced) {
        if (s->diver_count == 0)
            g->terminated = 1;
        else
            reward += surface(g);
    }
    return reward;
}

/* ---- Observation ---------------------------------------------------------------------------------- */

static void observe_list(uint8_t *obs, const seaquest_mover *list, int n, int channel, int trail)
{
    for (int i = 0; i < n; i++) {
        const seaquest_mover *m = &list[i];
        attn_minatar_set(obs, CHANNELS, m->x, m->y, channel);
        if (!trail)
            continue;
        int back = m->right ? m->x - 1 : m->x + 1;
        if (back >= 0 && back < GRID)
            attn_minatar_set(obs, CHANNELS, back, m->y, CH_TRAIL);
    }
}

static void observe(const attn_minatar *g, uint8_t *obs)
{
    const seaquest_state *s = &g->s.seaquest;
    attn_minatar_set(obs, CHANNELS, s->sub_x, s->sub_y, CH_SUB_FRONT);
    int back = s->sub_right ? s->sub_x - 1 : s->sub_x + 1;
    if (back >= 0 && back < GRID)
        attn_minatar_set(obs, CHANNELS, back, s->sub_y, CH_SUB_BACK);
    int oxygen_cells = (s->oxygen > 0 ? s->oxygen : 0) * GAUGE_CELLS / MAX_OXYGEN;
    for (int x = 0; x < oxygen_cells; x++)
        attn_minatar_set(obs, CHANNELS, x, GRID - 1, CH_OXYGEN_GAUGE);
    /* Divers aboard fill row 9 from column 8 leftwards (none shown for MinAtar's negative count). */
    for (int x = GRID - 1 - s->diver_count; x < GRID - 1; x++)
        attn_minatar_set(obs, CHANNELS, x, GRID - 1, CH_DIVER_GAUGE);
    observe_list(obs, s->bullets, s->n_bullets, CH_FRIENDLY_BULLET, 0);
    observe_list(obs, s->enemy_bullets, s->n_enemy_bullets, CH_ENEMY_BULLET, 0);
    observe_list(obs, s->fish, s->n_fish, CH_ENEMY_FISH, 1);
    observe_list(obs, s->subs, s->n_subs, CH_ENEMY_SUB, 1);
    observe_list(obs, s->divers, s->n_divers, CH_DIVER, 1);
}

static int ramp_index(const attn_minatar *g)
{
    return g->s.seaquest.ramp_index;
}

static const char *const channel_names[CHANNELS] = {
    "sub_front", "sub_back", "friendly_bullet", "trail", "enemy_bullet",
    "enemy_fish", "enemy_sub", "oxygen_gauge", "diver_gauge", "diver",
};
static const int minimal[] = { ATTN_MINATAR_NOOP, ATTN_MINATAR_LEFT, ATTN_MINATAR_UP,
                               ATTN_MINATAR_RIGHT, ATTN_MINATAR_DOWN, ATTN_MINATAR_FIRE };

const attn_minatar_game attn_minatar_seaquest = {
    .name = "seaquest",
    .channels = CHANNELS,
    .channel_names = channel_names,
    .num_minimal = (int)(sizeof minimal / sizeof minimal[0]),
    .minimal = minimal,
    .reset = reset,
    .step = step,
    .observe = observe,
    .ramp_index = ramp_index,
};
