/*
 * ale_env — real Atari games (the Arcade Learning Environment, from the `ale-py` package) as an attn_env.
 *
 * ale-py is a Python package with no C library to link, so the bridge starts `procs` Python servers
 * (ale_server.py) as child processes, each owning a slice of the B environments (environment b lives in server
 * b mod procs), and talks to each over a Unix socket with the binary protocol of ale_protocol.h. The callbacks
 * are thread-safe across servers, so the library's worker threads step different servers' games at once; with
 * as many servers as library threads, every thread keeps to its own server.
 *
 * Failure is always a sentence and a clean stop, never a hang or a crash: every read from a server has a
 * deadline (poll), a server that exits, crashes, hangs or sends a malformed message fails the callback with a
 * message saying which and how (the env's `error` callback returns it), after which every callback fails at
 * once with the same message. Writes use MSG_NOSIGNAL, so a dead server never raises SIGPIPE.
 *
 * The interpreter is opt->python, else $ATTN_PYTHON, else `python3` from PATH; the server script is
 * opt->server, else $ATTN_ALE_SERVER, else ale_server.py in this directory of the source tree.
 */
#ifndef ATTN_EXAMPLES_ALE_ENV_H
#define ATTN_EXAMPLES_ALE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

/* Frames are RGB pixels, 0..255 per channel: the model divides them by 255. */
#define ALE_ENV_OBS_TYPE ATTN_OBS_U8

typedef struct ale_env_options {
    const char *game;         /* an ALE game id, e.g. "breakout" */
    int envs;                 /* B */
    int procs;                /* server processes; 0: min(B, online CPUs) */
    int height, width;        /* observation size: 210×160 (the raw screen) or e.g. 84×84 (area-resized) */
    int frame_skip;           /* agent steps repeat the action this many frames (4) */
    int max_pool;             /* observe the max of the last two frames of a step (1) */
    float sticky;             /* ALE's repeat_action_probability (0.25, ALE v5) */
    int noop_max;             /* 1..noop_max no-op frames after each reset; 0 = none */
    int full_action_set;      /* 18 actions instead of the game's minimal set */
    int life_loss_terminal;   /* a lost life ends the training episode (the game carries on) */
    int max_episode_frames;   /* truncate episodes at this many emulator frames (108000); 0 = never */
    double timeout;           /* seconds to wait for a reply to a step or reset before giving up (20) */
    double startup_timeout;   /* seconds for the servers to start: Python, imports, ROMs (60) */
    uint64_t seed;
    const char *python;       /* NULL: $ATTN_PYTHON or python3 */
    const char *server;       /* NULL: $ATTN_ALE_SERVER or the built-in path */
} ale_env_options;

#define ALE_ENV_OPTIONS_INIT {"breakout", 1, 0, 84, 84, 4, 1, 0.25f, 0, 0, 0, 108000, 20.0, 60.0, 1, NULL, NULL}

typedef struct ale_env ale_env;

/* Starts the servers and waits until all are ready. Returns 0, or -1 with a sentence in `err` (e.g. how to
 * install ale-py when the interpreter has none). */
int ale_env_create(ale_env **out, const ale_env_options *opt, char *err, size_t err_size);

/* Says goodbye to the servers, waits briefly for them to exit, kills any that do not, and frees. NULL is fine. */
void ale_env_destroy(ale_env *e);

/* The number of actions of the chosen action set. */
int ale_env_num_actions(const ale_env *e);

/* reset/step/error callbacks with ctx = e, thread_safe = 1. No save/load: emulators are not checkpointed, so a
 * resumed run starts fresh episodes. */
attn_env ale_env_callbacks(ale_env *e);

/* Moves the raw game scores of games finished since the last call (game over or truncation, whatever
 * life_loss_terminal says) into scores[0..cap), oldest first; returns how many finished (may exceed cap). */
int ale_env_take_scores(ale_env *e, float *scores, int cap);

/* The first failure, or "" while healthy. */
const char *ale_env_error(const ale_env *e);

/*
 * Steps all B environments at once: writes every request to every server, then reads the replies, so the
 * servers emulate side by side. obs gets B × H × W × 3 bytes, rewards B raw rewards, flags B ALE_OBS_* bits.
 * Games that ended are not reset: call the reset callback for them. 0 or -1 (see ale_env_error).
 */
int ale_env_step_all(ale_env *e, const int *actions, uint8_t *obs, float *rewards, uint32_t *flags);

#endif
