/*
 * viewer — an interactive page of one played episode: what the agent saw, where each query looked, what it did
 * and what it expected, for the example programs (not part of libattnagent's API). `attn-play --html DIR` uses
 * it; docs/viewer.md describes the page and the data format.
 *
 * Steps stream to DIR/data.js as they are played (nothing but the previous frame is kept), and finishing
 * writes DIR/index.html beside it: a static page, plain HTML, JavaScript and canvas, that opens from disk
 * (file://) with no server or network.
 *
 *     viewer_info info = VIEWER_INFO_INIT;
 *     info.env = "minatar:breakout"; info.obs_h = 10; ...        // sizes from the checkpoint's configuration
 *     viewer *v;
 *     if (viewer_open(&v, "runs/breakout/viewer", &info)) fail(viewer_last_error());
 *     each step:
 *         attn_forward(...);  attn_get_maps(state, maps, N * gh * gw);
 *         viewer_record(v, obs, maps, logits, value, action);    // obs is the frame the agent just saw
 *         ... play the action ...
 *         viewer_reward(v, reward);                              // what that action earned
 *     viewer_finish(v, &summary);                                // or viewer_abandon(v) after a failure
 *
 * Conventions as in render.h: every fallible call returns a viewer_status, VIEWER_OK (0) or negative, and
 * viewer_last_error() says what was wrong (per thread). Nothing prints, exits or aborts.
 */
#ifndef ATTN_EXAMPLES_VIEWER_H
#define ATTN_EXAMPLES_VIEWER_H

#include <stddef.h>
#include <stdint.h>

typedef enum viewer_status {
    VIEWER_OK = 0,
    VIEWER_ERR_INVALID = -1, /* a NULL pointer, a size out of range, a non-finite value, calls out of order */
    VIEWER_ERR_NOMEM = -2,   /* an allocation failed */
    VIEWER_ERR_IO = -3       /* creating, writing, closing or renaming a file failed */
} viewer_status;

/* What the last failing call on this thread said, or "" if none failed yet. */
const char *viewer_last_error(void);

typedef enum viewer_obs_kind {
    VIEWER_OBS_PLANES = 0, /* MinAtar-style: one byte per cell and channel, non-zero where that object is */
    VIEWER_OBS_RGB = 1     /* RGB pixels (channels must be 3), e.g. an Atari frame */
} viewer_obs_kind;

/* What the page needs to know about the episode before its first step. Strings are copied. */
typedef struct viewer_info {
    const char *env;        /* e.g. "minatar:breakout" or "ale:breakout" (shown as the title) */
    const char *checkpoint; /* the checkpoint's path (shown) */
    const char *policy;     /* "greedy" or "sampled" (shown) */
    uint64_t seed;          /* the game's seed (shown) */
    int obs_h, obs_w, obs_c;
    viewer_obs_kind obs_kind;
    int grid_h, grid_w;               /* each attention map is grid_h × grid_w */
    int queries;                      /* N maps per step, 1..64 */
    int actions;                      /* A, 1..255 */
    const char *const *action_names;  /* A names, or NULL for "0", "1", ... */
    const char *const *channel_names; /* obs_c names for the legend (planes), or NULL */
} viewer_info;

#define VIEWER_INFO_INIT {"", "", "greedy", 0, 0, 0, 0, VIEWER_OBS_PLANES, 0, 0, 0, 0, NULL, NULL}

/* Every this many steps (and at step 0) a frame is stored on its own rather than as a change from the one
 * before, so the page reaches any step by decoding at most this many frames. */
#define VIEWER_KEYFRAME_INTERVAL 32

/* Episodes longer than this are refused (the page holds every step's numbers in memory). */
#define VIEWER_MAX_STEPS 1000000

typedef struct viewer viewer;

/* Creates `dir` (and its parents) if needed and starts DIR/data.js.part. Nothing named data.js or index.html
 * is touched until viewer_finish. */
viewer_status viewer_open(viewer **out, const char *dir, const viewer_info *info);

/*
 * Records one step: `obs` (obs_h × obs_w × obs_c bytes) is the frame the agent saw, `maps` its attn_get_maps
 * output (queries × grid_h × grid_w non-negative finite floats, each map not all zero), `logits` (actions
 * finite floats) and `value` what it computed from it, `action` (0 ≤ action < actions) what it played. The
 * step is written once viewer_reward gives what the action earned; viewer_record twice in a row is refused.
 */
viewer_status viewer_record(viewer *v, const uint8_t *obs, const float *maps, const float *logits, float value,
                            int action);

/* The (finite) reward the action of the step just recorded earned; writes that step. */
viewer_status viewer_reward(viewer *v, float reward);

typedef struct viewer_summary {
    int steps;
    double episode_return;
    size_t payload_bytes; /* the binary steps, before base64 */
    size_t data_bytes;    /* the size of data.js */
} viewer_summary;

/*
 * Writes the trailer, renames data.js.part to data.js and writes index.html, then frees `v` whatever happened.
 * At least one complete step is needed; a step recorded without its reward is left out. `summary` may be NULL.
 * After a failure no data.js.part is left behind.
 */
viewer_status viewer_finish(viewer *v, viewer_summary *summary);

/* Removes DIR/data.js.part and frees `v`, leaving any earlier viewer in DIR as it was. Accepts NULL. */
void viewer_abandon(viewer *v);

#endif /* ATTN_EXAMPLES_VIEWER_H */
