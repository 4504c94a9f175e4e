/*
 * libattnagent-games — five MinAtar-style games (asterix, breakout, freeway, seaquest, space_invaders) in C.
 *
 * The games follow the rules of MinAtar (Young & Tian, 2019; docs/games.md lists every constant and where it
 * comes from). Each game plays out on a 10×10 grid; an observation is 10 × 10 × C uint8 values, channels last,
 * each 0 or 1. This library is separate from the agent library and not part of its stable ABI.
 *
 * A minimal session:
 *
 *     attn_minatar *game;
 *     attn_minatar_create(&game, "breakout", NULL, 42);     // NULL options: sticky 0.1, ramping on, 6 actions
 *     int channels, actions;
 *     attn_minatar_channels(game, &channels);                // 4 for breakout
 *     attn_minatar_num_actions(game, &actions);              // 6 (or 3 with the minimal action set)
 *     uint8_t obs[10 * 10 * ATTN_MINATAR_MAX_CHANNELS];
 *     attn_minatar_observe(game, obs, sizeof obs);
 *     for (;;) {
 *         float reward;
 *         int done;
 *         attn_minatar_step(game, policy(obs), &reward, &done);
 *         attn_minatar_observe(game, obs, sizeof obs);
 *         if (done)
 *             attn_minatar_restart(game);                    // next episode, same random stream
 *     }
 *     attn_minatar_destroy(game);
 *
 * Conventions.
 *  - Every call returns a status: ATTN_MINATAR_OK (0) or a negative attn_minatar_status. Destroy returns
 *    nothing and accepts NULL. Nothing here prints, exits, aborts or allocates after create/clone.
 *  - A handle is deterministic: its only randomness is its own generator, seeded at create/reset. The same
 *    seed, options and actions give the same observations, rewards and terminations on every platform.
 *  - Sticky actions (as MinAtar's Environment.act): before each step, with probability sticky_action_prob the
 *    previous action is played instead of the chosen one; the previous action starts as no-op at create/reset
 *    and carries over restart, as in MinAtar.
 *  - Distinct handles may be used from distinct threads at once; one handle from one thread at a time.
 */
#ifndef ATTN_MINATAR_H
#define ATTN_MINATAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The grid is ATTN_MINATAR_SIZE × ATTN_MINATAR_SIZE; no game has more than ATTN_MINATAR_MAX_CHANNELS. */
#define ATTN_MINATAR_SIZE 10
#define ATTN_MINATAR_MAX_CHANNELS 10
#define ATTN_MINATAR_NUM_GAMES 5

/* Values are stable; new codes are only ever appended. */
typedef enum attn_minatar_status {
    ATTN_MINATAR_OK = 0,
    ATTN_MINATAR_ERR_NULL = -1,         /* a required pointer argument was NULL */
    ATTN_MINATAR_ERR_UNKNOWN_GAME = -2, /* the game name is not one of attn_minatar_game_name() */
    ATTN_MINATAR_ERR_ACTION = -3,       /* the action index is outside the handle's action set */
    ATTN_MINATAR_ERR_TERMINATED = -4,   /* step after the episode ended; call restart or reset first */
    ATTN_MINATAR_ERR_INVALID = -5,      /* another argument out of range (option, index, buffer size) */
    ATTN_MINATAR_ERR_NOMEM = -6         /* an allocation failed (create and clone only) */
} attn_minatar_status;

/* A short constant description of a status, e.g. "ATTN_MINATAR_ERR_ACTION: action out of range". */
const char *attn_minatar_status_str(int status);

/* The six MinAtar actions. A game's action set maps its indices to these. Values are stable. */
typedef enum attn_minatar_action {
    ATTN_MINATAR_NOOP = 0,  /* n */
    ATTN_MINATAR_LEFT = 1,  /* l */
    ATTN_MINATAR_UP = 2,    /* u */
    ATTN_MINATAR_RIGHT = 3, /* r */
    ATTN_MINATAR_DOWN = 4,  /* d */
    ATTN_MINATAR_FIRE = 5   /* f */
} attn_minatar_action;
#define ATTN_MINATAR_NUM_FULL_ACTIONS 6
/* The one-letter names of the six actions, indexed by attn_minatar_action. */
#define ATTN_MINATAR_ACTION_LETTERS "nlurdf"

/* ---- Options -------------------------------------------------------------------------------------- */

#define ATTN_MINATAR_OPTIONS_VERSION 1

/*
 * Options of a new game. Start from ATTN_MINATAR_OPTIONS_INIT or attn_minatar_options_init() and change what
 * you need; `version` lets this struct grow without breaking callers compiled against an older header.
 */
typedef struct attn_minatar_options {
    unsigned version;         /* ATTN_MINATAR_OPTIONS_VERSION */
    float sticky_action_prob; /* in [0, 1]; default 0.1 (MinAtar's default) */
    int difficulty_ramping;   /* non-zero: the games speed up over time as MinAtar's do (default 1) */
    int minimal_action_set;   /* non-zero: actions index the game's minimal set (MinAtar's "v1" envs);
                                 zero (default): all six actions, as in the MinAtar paper's results */
} attn_minatar_options;

#define ATTN_MINATAR_OPTIONS_INIT { ATTN_MINATAR_OPTIONS_VERSION, 0.1f, 1, 0 }

int attn_minatar_options_init(attn_minatar_options *opts);

/* ---- Games ---------------------------------------------------------------------------------------- */

/* Game `index` (0 ≤ index < ATTN_MINATAR_NUM_GAMES) in alphabetical order: "asterix", "breakout", "freeway",
 * "seaquest", "space_invaders". The string is static. */
int attn_minatar_game_name(int index, const char **name);

/* ---- Handles -------------------------------------------------------------------------------------- */

typedef struct attn_minatar attn_minatar;

/* A new game `game` (a name from attn_minatar_game_name) at the start of an episode. `opts` may be NULL for
 * the defaults. The random stream is a function of `seed` alone. */
int attn_minatar_create(attn_minatar **out, const char *game, const attn_minatar_options *opts, uint64_t seed);
void attn_minatar_destroy(attn_minatar *game);

/* A new handle in exactly the state of `src` (game, options, random stream, episode). */
int attn_minatar_clone(attn_minatar **out, const attn_minatar *src);
/* Overwrites `dst` with the whole state of `src`; both must play the same game (ATTN_MINATAR_ERR_INVALID
 * otherwise). Allocates nothing: a cheap snapshot/restore for search or tests. */
int attn_minatar_copy(attn_minatar *dst, const attn_minatar *src);

/*
 * The whole state of a handle as bytes, for checkpoints that resume a run exactly: with buf NULL, *len gets
 * the size; otherwise the state is written (ATTN_MINATAR_ERR_INVALID if cap is too small). The bytes are tied
 * to this build of the library and carry a checksum; attn_minatar_load refuses bytes of another game, size or
 * checksum (ATTN_MINATAR_ERR_INVALID) and then changes nothing.
 */
int attn_minatar_save(const attn_minatar *game, void *buf, size_t cap, size_t *len);
int attn_minatar_load(attn_minatar *game, const void *buf, size_t len);

/* Reseeds the random stream with `seed` and starts a new episode: afterwards the handle behaves exactly as a
 * freshly created one with the same game, options and seed. */
int attn_minatar_reset(attn_minatar *game, uint64_t seed);
/* Starts a new episode continuing the current random stream (MinAtar's env.reset()). */
int attn_minatar_restart(attn_minatar *game);

/*
 * Plays one step. `action` indexes the handle's action set (0 ≤ action < attn_minatar_num_actions). On
 * success *reward holds the step's reward and *terminated is 1 if the episode has just ended, else 0.
 * Stepping an ended episode gives ATTN_MINATAR_ERR_TERMINATED; a bad action gives ATTN_MINATAR_ERR_ACTION;
 * on any failure nothing changes. `reward` and `terminated` may be NULL.
 */
int attn_minatar_step(attn_minatar *game, int action, float *reward, int *terminated);

/* Writes the current observation: exactly 10 × 10 × C bytes, index (y·10 + x)·C + c (row y from the top,
 * column x from the left, channel c), each 0 or 1. `obs_bytes` must be at least that
 * (ATTN_MINATAR_ERR_INVALID otherwise); bytes past it are not touched. */
int attn_minatar_observe(const attn_minatar *game, uint8_t *obs, size_t obs_bytes);

/* ---- Queries -------------------------------------------------------------------------------------- */

/* The game's name (static string). */
int attn_minatar_name(const attn_minatar *game, const char **name);
/* C, the number of observation channels. */
int attn_minatar_channels(const attn_minatar *game, int *channels);
/* The name of channel `channel` (0 ≤ channel < C), e.g. "paddle"; static string. */
int attn_minatar_channel_name(const attn_minatar *game, int channel, const char **name);
/* The size of the handle's action set: 6, or the game's minimal set. */
int attn_minatar_num_actions(const attn_minatar *game, int *count);
/* The MinAtar action (an attn_minatar_action) that action index `action` plays. */
int attn_minatar_action_meaning(const attn_minatar *game, int action, int *full_action);
/* 1 if the current episode has ended, else 0. */
int attn_minatar_terminated(const attn_minatar *game, int *terminated);
/* The difficulty-ramp level (MinAtar's difficulty_ramp()): 0 at an episode's start, growing as the game
 * speeds up; always 0 for breakout and freeway, which do not ramp. */
int attn_minatar_ramp_index(const attn_minatar *game, int *level);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_MINATAR_H */
