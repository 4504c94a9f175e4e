/*
 * What the five games share: the random generator, options, the handle's life cycle, sticky actions and the
 * dispatch to each game's table.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "minatar_internal.h"

/* ---- Random generator ------------------------------------------------------------------------------ */

/* splitmix64 turns any seed, even 0, into a well-mixed xoshiro state (the seeding its authors recommend). */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void attn_minatar_rng_seed(attn_minatar_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t attn_minatar_rng_next(attn_minatar_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double attn_minatar_rng_uniform(attn_minatar_rng *rng)
{
    return (double)(attn_minatar_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

int attn_minatar_rng_below(attn_minatar_rng *rng, int n)
{
    /* Rejection on the top 32 bits: only draws below the largest multiple of n are kept, so every value
     * has the same weight. */
    uint64_t bound = (uint64_t)n;
    uint64_t limit = (UINT64_C(1) << 32) - (UINT64_C(1) << 32) % bound;
    for (;;) {
        uint64_t r = attn_minatar_rng_next(rng) >> 32;
        if (r < limit)
            return (int)(r % bound);
    }
}

/* ---- Status and names ------------------------------------------------------------------------------- */

const char *attn_minatar_status_str(int status)
{
    switch (status) {
    case ATTN_MINATAR_OK: return "ATTN_MINATAR_OK: success";
    case ATTN_MINATAR_ERR_NULL: return "ATTN_MINATAR_ERR_NULL: a required pointer was NULL";
    case ATTN_MINATAR_ERR_UNKNOWN_GAME: return "ATTN_MINATAR_ERR_UNKNOWN_GAME: no game of that name";
    case ATTN_MINATAR_ERR_ACTION: return "ATTN_MINATAR_ERR_ACTION: action out of range";
    case ATTN_MINATAR_ERR_TERMINATED: return "ATTN_MINATAR_ERR_TERMINATED: step after the episode ended";
    case ATTN_MINATAR_ERR_INVALID: return "ATTN_MINATAR_ERR_INVALID: argument out of range";
    case ATTN_MINATAR_ERR_NOMEM: return "ATTN_MINATAR_ERR_NOMEM: out of memory";
    default: return "unknown attn_minatar status";
    }
}

/* Alphabetical, as attn_minatar_game_name promises. */
static const attn_minatar_game *const games[ATTN_MINATAR_NUM_GAMES] = {
    &attn_minatar_asterix, &attn_minatar_breakout, &attn_minatar_freeway, &attn_minatar_seaquest,
    &attn_minatar_space_invaders,
};

int attn_minatar_game_name(int index, const char **name)
{
    if (!name)
        return ATTN_MINATAR_ERR_NULL;
    if (index < 0 || index >= ATTN_MINATAR_NUM_GAMES)
        return ATTN_MINATAR_ERR_INVALID;
    *name = games[index]->name;
    return ATTN_MINATAR_OK;
}

int attn_minatar_options_init(attn_minatar_options *opts)
{
    if (!opts)
        return ATTN_MINATAR_ERR_NULL;
    const attn_minatar_options defaults = ATTN_MINATAR_OPTIONS_INIT;
    *opts = defaults;
    return ATTN_MINATAR_OK;
}

/* ---- Life cycle ------------------------------------------------------------------------------------ */

static void start_episode(attn_minatar *g)
{
    g->terminated = 0;
    memset(&g->s, 0, sizeof g->s);
    g->game->reset(g);
}

int attn_minatar_create(attn_minatar **out, const char *game, const attn_minatar_options *opts, uint64_t seed)
{
    if (!out || !game)
        return ATTN_MINATAR_ERR_NULL;
    *out = NULL;
    const attn_minatar_game *def = NULL;
    for (int i = 0; i < ATTN_MINATAR_NUM_GAMES; i++)
        if (strcmp(games[i]->name, game) == 0)
            def = games[i];
    if (!def)
        return ATTN_MINATAR_ERR_UNKNOWN_GAME;
    attn_minatar_options o = ATTN_MINATAR_OPTIONS_INIT;
    if (opts) {
        if (opts->version != ATTN_MINATAR_OPTIONS_VERSION)
            return ATTN_MINATAR_ERR_INVALID;
        o = *opts;
    }
    /* Written so that NaN fails too. */
    if (!(o.sticky_action_prob >= 0.0f && o.sticky_action_prob <= 1.0f))
        return ATTN_MINATAR_ERR_INVALID;

    attn_minatar *g = calloc(1, sizeof *g);
    if (!g)
        return ATTN_MINATAR_ERR_NOMEM;
    g->game = def;
    g->sticky_action_prob = o.sticky_action_prob;
    g->ramping = o.difficulty_ramping != 0;
    g->minimal_action_set = o.minimal_action_set != 0;
    attn_minatar_reset(g, seed);
    *out = g;
    return ATTN_MINATAR_OK;
}

void attn_minatar_destroy(attn_minatar *game)
{
    free(game);
}

int attn_minatar_clone(attn_minatar **out, const attn_minatar *src)
{
    if (!out || !src)
        return ATTN_MINATAR_ERR_NULL;
    *out = malloc(sizeof **out);
    if (!*out)
        return ATTN_MINATAR_ERR_NOMEM;
    **out = *src;
    return ATTN_MINATAR_OK;
}

int attn_minatar_copy(attn_minatar *dst, const attn_minatar *src)
{
    if (!dst || !src)
        return ATTN_MINATAR_ERR_NULL;
    if (dst->game != src->game)
        return ATTN_MINATAR_ERR_INVALID;
    *dst = *src;
    return ATTN_MINATAR_OK;
}

/* Saved form: magic, game index, checksum, then the handle's bytes after its game pointer (the handle is
 * calloc'ed, so padding bytes are zero and the bytes are deterministic). */
#define SAVE_MAGIC 0x4d696e41u /* "MinA" */
#define SAVE_HEADER (3 * sizeof(uint64_t))
#define SAVE_BODY (sizeof(attn_minatar) - offsetof(attn_minatar, sticky_action_prob))

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t game_index(const attn_minatar_game *g)
{
    for (uint64_t i = 0; i < ATTN_MINATAR_NUM_GAMES; i++)
        if (games[i] == g) return i;
    return UINT64_MAX;
}

int attn_minatar_save(const attn_minatar *game, void *buf, size_t cap, size_t *len)
{
    if (!game || !len)
        return ATTN_MINATAR_ERR_NULL;
    *len = SAVE_HEADER + SAVE_BODY;
    if (!buf)
        return ATTN_MINATAR_OK;
    if (cap < *len)
        return ATTN_MINATAR_ERR_INVALID;
    const unsigned char *body = (const unsigned char *)game + offsetof(attn_minatar, sticky_action_prob);
    uint64_t head[3] = {SAVE_MAGIC, game_index(game->game), fnv1a(body, SAVE_BODY)};
    memcpy(buf, head, sizeof head);
    memcpy((unsigned char *)buf + SAVE_HEADER, body, SAVE_BODY);
    return ATTN_MINATAR_OK;
}

int attn_minatar_load(attn_minatar *game, const void *buf, size_t len)
{
    if (!game || !buf)
        return ATTN_MINATAR_ERR_NULL;
    if (len != SAVE_HEADER + SAVE_BODY)
        return ATTN_MINATAR_ERR_INVALID;
    uint64_t head[3];
    memcpy(head, buf, sizeof head);
    const unsigned char *body = (const unsigned char *)buf + SAVE_HEADER;
    if (head[0] != SAVE_MAGIC || head[1] != game_index(game->game) || head[2] != fnv1a(body, SAVE_BODY))
        return ATTN_MINATAR_ERR_INVALID;
    memcpy((unsigned char *)game + offsetof(attn_minatar, sticky_action_prob), body, SAVE_BODY);
    return ATTN_MINATAR_OK;
}

int attn_minatar_reset(attn_minatar *game, uint64_t seed)
{
    if (!game)
        return ATTN_MINATAR_ERR_NULL;
    attn_minatar_rng_seed(&game->rng, seed);
    game->last_action = ATTN_MINATAR_NOOP;
    start_episode(game);
    return ATTN_MINATAR_OK;
}

int attn_minatar_restart(attn_minatar *game)
{
    if (!game)
        return ATTN_MINATAR_ERR_NULL;
    start_episode(game);
    return ATTN_MINATAR_OK;
}

/* ---- Playing --------------------------------------------------------------------------------------- */

static int action_count(const attn_minatar *game)
{
    return game->minimal_action_set ? game->game->num_minimal : ATTN_MINATAR_NUM_FULL_ACTIONS;
}

int attn_minatar_step(attn_minatar *game, int action, float *reward, int *terminated)
{
    if (!game)
        return ATTN_MINATAR_ERR_NULL;
    if (action < 0 || action >= action_count(game))
        return ATTN_MINATAR_ERR_ACTION;
    if (game->terminated)
        return ATTN_MINATAR_ERR_TERMINATED;
    int full = game->minimal_action_set ? game->game->minimal[action] : action;
    /* As MinAtar, the sticky coin is drawn from the game's own generator before the game moves, whatever the
     * probability, so the random stream is the same for every setting (and the same as MinAtar's). */
    if (attn_minatar_rng_uniform(&game->rng) < game->sticky_action_prob)
        full = game->last_action;
    game->last_action = full;
    float r = game->game->step(game, full);
    if (reward)
        *reward = r;
    if (terminated)
        *terminated = game->terminated;
    return ATTN_MINATAR_OK;
}

int attn_minatar_observe(const attn_minatar *game, uint8_t *obs, size_t obs_bytes)
{
    if (!game || !obs)
        return ATTN_MINATAR_ERR_NULL;
    size_t need = (size_t)GRID * GRID * (size_t)game->game->channels;
    if (obs_bytes < need)
        return ATTN_MINATAR_ERR_INVALID;
    memset(obs, 0, need);
    game->game->observe(game, obs);
    return ATTN_MINATAR_OK;
}

/* ---- Queries --------------------------------------------------------------------------------------- */

int attn_minatar_name(const attn_minatar *game, const char **name)
{
    if (!game || !name)
        return ATTN_MINATAR_ERR_NULL;
    *name = game->game->name;
    return ATTN_MINATAR_OK;
}

int attn_minatar_channels(const attn_minatar *game, int *channels)
{
    if (!game || !channels)
        return ATTN_MINATAR_ERR_NULL;
    *channels = game->game->channels;
    return ATTN_MINATAR_OK;
}

int attn_minatar_channel_name(const attn_minatar *game, int channel, const char **name)
{
    if (!game || !name)
        return ATTN_MINATAR_ERR_NULL;
    if (channel < 0 || channel >= game->game->channels)
        return ATTN_MINATAR_ERR_INVALID;
    *name = game->game->channel_names[channel];
    return ATTN_MINATAR_OK;
}

int attn_minatar_num_actions(const attn_minatar *game, int *count)
{
    if (!game || !count)
        return ATTN_MINATAR_ERR_NULL;
    *count = action_count(game);
    return ATTN_MINATAR_OK;
}

int attn_minatar_action_meaning(const attn_minatar *game, int action, int *full_action)
{
    if (!game || !full_action)
        return ATTN_MINATAR_ERR_NULL;
    if (action < 0 || action >= action_count(game))
        return ATTN_MINATAR_ERR_ACTION;
    *full_action = game->minimal_action_set ? game->game->minimal[action] : action;
    return ATTN_MINATAR_OK;
}

int attn_minatar_terminated(const attn_minatar *game, int *terminated)
{
    if (!game || !terminated)
        return ATTN_MINATAR_ERR_NULL;
    *terminated = game->terminated;
    return ATTN_MINATAR_OK;
}

int attn_minatar_ramp_index(const attn_minatar *game, int *level)
{
    if (!game || !level)
        return ATTN_MINATAR_ERR_NULL;
    *level = game->game->ramp_index ? game->game->ramp_index(game) : 0;
    return ATTN_MINATAR_OK;
}
