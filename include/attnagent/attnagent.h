/*
 * libattnagent — an attention-augmented reinforcement-learning agent that shows where it looks.
 *
 * This header is the manual. Read it top to bottom once.
 *
 * The agent (Mott et al., NeurIPS 2019): a conv stack and a ConvLSTM turn each observation into an h×w grid;
 * every grid cell is split into a key and a value, a fixed cosine spatial basis is appended to both, N queries
 * computed from the policy LSTM's previous hidden state attend over the grid (one softmax over space per
 * query), and the answers, the queries, the previous reward and the previous action feed the policy LSTM,
 * whose hidden state gives policy logits and a value. attn_get_maps() returns the N attention maps of the last
 * step: where each query looked.
 *
 * A minimal session:
 *
 *     attn_config *cfg;
 *     attn_config_create(&cfg, ATTN_PRESET_MINATAR);
 *     attn_config_set(cfg, ATTN_CFG_OBS_C, 4);          // the host's observation channels
 *     attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, 3);
 *     attn_model *model;
 *     attn_model_create(&model, cfg, 42);                // deterministic initialisation from the seed
 *     attn_state *state;
 *     attn_state_create(&state, model, 16, 20);          // 16 environments, unrolls of up to 20 steps
 *     for (int t = 0; t < 20; t++) {
 *         // obs: 16 × H × W × C uint8; first[b] = 1 at an episode start
 *         attn_forward(model, state, ATTN_FORWARD_RECORD, obs, obs_bytes,
 *                      prev_reward, prev_action, first, logits, values);
 *     }
 *     attn_model_zero_grad(model);
 *     attn_backward(model, state, dlogits, dvalues);     // dL/dlogits [20][16][A], dL/dvalues [20][16]
 *     // ... apply attn_model_grads(model) to attn_model_params(model) with an optimizer ...
 *     attn_state_destroy(state); attn_model_destroy(model); attn_config_destroy(cfg);
 *
 * Conventions.
 *  - Every fallible call returns an attn_status: ATTN_OK (0) or a negative code. attn_last_error() gives a
 *    sentence saying what was wrong; it is per thread and stays valid until the next failing call on it.
 *  - Nothing here prints, exits or aborts. Destroy functions accept NULL.
 *  - Arrays are row-major, batch first; observations are B × H × W × C (channels last), as frames come.
 *  - Thread safety: distinct handles may be used from distinct threads at once. One model may be shared by
 *    several threads for attn_forward on distinct states; attn_backward and anything that writes the
 *    parameters or gradients need the model to themselves.
 *  - Threads: ATTN_CFG_THREADS (0, the default, means the environment variable ATTN_NUM_THREADS if set, else
 *    every online CPU) is how many threads a state splits its environments over; each thread runs its slice
 *    through the whole network with a single-threaded BLAS (the model sets OpenBLAS's process-wide pool to 1
 *    thread when created). Results are bitwise identical for the same seed, inputs and thread count.
 *  - Memory is reserved when a model or state is created; attn_forward and attn_backward never allocate.
 */
#ifndef ATTNAGENT_H
#define ATTNAGENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ATTN_BUILDING_LIBRARY) && defined(__GNUC__)
#define ATTN_API __attribute__((visibility("default")))
#else
#define ATTN_API
#endif

/* ---- Version -------------------------------------------------------------------------------------- */

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 2
#define ATTN_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, comparable with attn_version_number(). */
#define ATTN_VERSION_NUMBER (ATTN_VERSION_MAJOR * 10000 + ATTN_VERSION_MINOR * 100 + ATTN_VERSION_PATCH)

/* The version of the library actually linked, as a number and as "MAJOR.MINOR.PATCH". */
ATTN_API unsigned attn_version_number(void);
ATTN_API const char *attn_version_string(void);

/* Which copies of the hand-written kernels this process runs, chosen once at run time from the CPU: "avx512",
 * "avx2+fma", "avx2" or "portable". The environment variable ATTN_ISA=avx2 (or =portable; ATTN_PORTABLE=1 is
 * the same) caps the choice, read once per process. AVX-512 and AVX2 + FMA compute the same bits; the portable
 * path rounds differently (docs/architecture.md, "Kernels"). */
ATTN_API const char *attn_cpu_kernels(void);

/* ---- Status --------------------------------------------------------------------------------------- */

/* Values are stable; new codes are only ever appended. */
typedef enum attn_status {
    ATTN_OK = 0,
    ATTN_ERR_NULL = -1,        /* a required pointer argument was NULL */
    ATTN_ERR_INVALID = -2,     /* an argument is out of its documented range (unknown key, bad action, ...) */
    ATTN_ERR_SIZE = -3,        /* a size disagrees with the model, or exceeds what was reserved */
    ATTN_ERR_NONFINITE = -4,   /* a float input is NaN or infinite where the API forbids it */
    ATTN_ERR_NOMEM = -5,       /* an allocation failed */
    ATTN_ERR_STATE = -6,       /* the call is out of order (e.g. attn_backward with nothing recorded) */
    ATTN_ERR_IO = -7,          /* reading or writing a file failed */
    ATTN_ERR_FORMAT = -8,      /* a file is corrupt, truncated, or does not match the configuration */
    ATTN_ERR_CALLBACK = -9,    /* a host callback reported a failure */
    ATTN_ERR_ABORTED = -10     /* a host callback asked to stop */
} attn_status;

/* A short constant name for a status ("ATTN_ERR_SIZE: size mismatch or over the reserved maximum"). */
ATTN_API const char *attn_status_str(attn_status status);

/* The detailed message of the last failing call on this thread, or "" if none failed yet. */
ATTN_API const char *attn_last_error(void);

/* ---- Configuration -------------------------------------------------------------------------------- */

/* The presets of the specification (docs/architecture.md gives the table). */
typedef enum attn_preset {
    ATTN_PRESET_ATARI = 0,   /* 210×160×3 frames, 27×20 grid */
    ATTN_PRESET_ATARI84 = 1, /* 84×84×3 frames, 11×11 grid */
    ATTN_PRESET_MINATAR = 2  /* 10×10×C frames, 10×10 grid */
} attn_preset;

/*
 * What the observation bytes mean: the model's first layer must see objects as objects. Pixels (a camera, an
 * Atari screen) are uint8 and divided by 255; binary planes (one channel per kind of object, as MinAtar draws
 * them) are uint8 0 or 1 and reach the network as 0.0 and 1.0. The type is stored in every checkpoint and a
 * loader refuses a file whose type differs from the model it is loaded into. Binary planes are checked at every
 * step: a byte other than 0 or 1 is refused (ATTN_ERR_INVALID), so planes drawn as 0/255 cannot pass silently.
 * The opposite mistake, planes of 0/1 declared as ATTN_OBS_U8 pixels, would reach the network as 0 and 1/255;
 * docs/embedding.md ("What your observation bytes mean") says how to tell.
 */
typedef enum attn_obs_type {
    ATTN_OBS_U8 = 0,        /* uint8 pixels, scaled by 1/255 inside the model */
    ATTN_OBS_F32 = 1,       /* float32 values used as given (must be finite) */
    ATTN_OBS_U8_BINARY = 2  /* uint8 binary planes: each byte 0 or 1, used as 0.0 or 1.0 */
} attn_obs_type;

/*
 * Integer knobs, set one at a time so the configuration can grow without changing any struct.
 * Values are stable; new keys are only ever appended.
 */
typedef enum attn_config_key {
    ATTN_CFG_OBS_H = 0,           /* observation height H */
    ATTN_CFG_OBS_W = 1,           /* observation width W */
    ATTN_CFG_OBS_C = 2,           /* observation channels C */
    ATTN_CFG_OBS_TYPE = 3,        /* an attn_obs_type */
    ATTN_CFG_NUM_ACTIONS = 4,     /* A, the size of the discrete action space */
    ATTN_CFG_CONV_LAYERS = 5,     /* number of conv layers before the ConvLSTM, 1..ATTN_MAX_CONV_LAYERS */
    ATTN_CFG_LSTM_CHANNELS = 6,   /* L, ConvLSTM channels (keys + values) */
    ATTN_CFG_KEY_CHANNELS = 7,    /* c_k; values get c_v = L - c_k */
    ATTN_CFG_BASIS_U = 8,         /* U, vertical frequencies of the spatial basis */
    ATTN_CFG_BASIS_V = 9,         /* V, horizontal frequencies; c_s = U·V */
    ATTN_CFG_NUM_QUERIES = 10,    /* N */
    ATTN_CFG_CORE_UNITS = 11,     /* H_p, policy LSTM units */
    ATTN_CFG_QUERY_LAYERS = 12,   /* hidden layers of MLP_q (0..ATTN_MAX_MLP_HIDDEN) */
    ATTN_CFG_ANSWER_LAYERS = 13,  /* hidden layers of MLP_a (0..ATTN_MAX_MLP_HIDDEN) */
    ATTN_CFG_THREADS = 14,        /* threads per state; 0 = $ATTN_NUM_THREADS or all online CPUs */
    ATTN_CFG_GRID_H = 15,         /* read-only: h, the grid height the conv stack leaves */
    ATTN_CFG_GRID_W = 16          /* read-only: w */
} attn_config_key;

#define ATTN_MAX_CONV_LAYERS 4
#define ATTN_MAX_MLP_HIDDEN 4

/* Which MLP attn_config_set_mlp_hidden() addresses. */
typedef enum attn_mlp { ATTN_MLP_QUERY = 0, ATTN_MLP_ANSWER = 1 } attn_mlp;

typedef struct attn_config attn_config;

/* A new configuration holding `preset`. For the minatar preset set ATTN_CFG_OBS_C and ATTN_CFG_NUM_ACTIONS
 * (defaults 6 and 6); the Atari presets default to 18 actions. */
ATTN_API attn_status attn_config_create(attn_config **out, attn_preset preset);
ATTN_API void attn_config_destroy(attn_config *cfg);
/* A deep copy. */
ATTN_API attn_status attn_config_clone(attn_config **out, const attn_config *cfg);

/* Sets one knob. Values are range-checked here (must be >= 1, except where 0 is documented); whether the whole
 * configuration fits together (e.g. the conv stack leaves a non-empty grid) is checked by attn_config_validate
 * and attn_model_create. Read-only keys give ATTN_ERR_INVALID. */
ATTN_API attn_status attn_config_set(attn_config *cfg, attn_config_key key, int value);
ATTN_API attn_status attn_config_get(const attn_config *cfg, attn_config_key key, int *value);

/* Conv layer `layer` (0-based, below ATTN_CFG_CONV_LAYERS): out channels, square kernel, stride, zero padding.
 * Every conv layer is followed by ReLU. */
ATTN_API attn_status attn_config_set_conv(attn_config *cfg, int layer, int out_channels, int kernel, int stride,
                                          int padding);
ATTN_API attn_status attn_config_get_conv(const attn_config *cfg, int layer, int *out_channels, int *kernel,
                                          int *stride, int *padding);

/* Width of hidden layer `layer` of an MLP (below ATTN_CFG_QUERY_LAYERS / ATTN_CFG_ANSWER_LAYERS). MLP_q maps
 * H_p → hidden... → N·(c_k+c_s); MLP_a maps its input → hidden... → H_p; ReLU between layers, none after. */
ATTN_API attn_status attn_config_set_mlp_hidden(attn_config *cfg, attn_mlp mlp, int layer, int width);
ATTN_API attn_status attn_config_get_mlp_hidden(const attn_config *cfg, attn_mlp mlp, int layer, int *width);

/* Checks the whole configuration; ATTN_OK or a status with a message naming the first problem. Besides fitting
 * together, every tensor one environment's step forms — each conv layer's output and unfolded input, the
 * ConvLSTM's, the spatial basis, the maps, every weight — must hold at most INT_MAX elements
 * (ATTN_ERR_INVALID naming it). */
ATTN_API attn_status attn_config_validate(const attn_config *cfg);

/* ---- Model ---------------------------------------------------------------------------------------- */

typedef struct attn_model attn_model;

/*
 * Creates a model (parameters and their gradients) from a valid configuration; the configuration is copied.
 * Initialisation is a deterministic function of `seed` alone (see docs/architecture.md): the vision weights
 * (conv stack and ConvLSTM) are uniform in ±sqrt(6/fan_in) (He), so that objects stand out in the keys the
 * queries search; every other weight is uniform in ±1/sqrt(fan_in) (fan_in = in·k·k for a convolution, the row
 * length for a linear map), the policy head's weights scaled by 0.01 so the first policy is near uniform; biases
 * are uniform in ±1/sqrt(fan_in) of their layer, but the policy and value heads' start at zero. Gradients start
 * at zero.
 */
ATTN_API attn_status attn_model_create(attn_model **out, const attn_config *cfg, uint64_t seed);
ATTN_API void attn_model_destroy(attn_model *model);

/* The model's own configuration (read-only; valid while the model lives). */
ATTN_API const attn_config *attn_model_config(const attn_model *model);

/* Total number of float parameters (the length of attn_model_params and attn_model_grads). */
ATTN_API size_t attn_model_param_count(const attn_model *model);

/* All parameters, resp. all gradients, as one contiguous float array, tensors in the order of
 * attn_model_tensor(). Writing the parameters is how an optimizer updates the model. */
ATTN_API float *attn_model_params(attn_model *model);
ATTN_API float *attn_model_grads(attn_model *model);

/* Sets every gradient to zero (attn_backward accumulates). */
ATTN_API attn_status attn_model_zero_grad(attn_model *model);

/* Number of parameter tensors. */
ATTN_API int attn_model_tensor_count(const attn_model *model);

/*
 * Describes parameter tensor `index` (0 ≤ index < attn_model_tensor_count): its checkpoint name (e.g.
 * "vision.convlstm.weight"; valid while the model lives), its rank and shape (PyTorch layout, unused trailing
 * dims set to 1), and its offset in floats into attn_model_params / attn_model_grads. Any out-pointer may be
 * NULL.
 */
ATTN_API attn_status attn_model_tensor(const attn_model *model, int index, const char **name, int *ndim,
                                       int64_t shape[4], size_t *offset);

/* The index of the tensor called `name`, or ATTN_ERR_INVALID. */
ATTN_API attn_status attn_model_find_tensor(const attn_model *model, const char *name, int *index);

/* ---- Recurrent state ------------------------------------------------------------------------------ */

/*
 * The recurrent state of `batch` environments (ConvLSTM h and c, policy LSTM h and c), the last step's
 * attention maps, and a tape that records up to `max_unroll` steps for attn_backward (0: acting only, no tape).
 * All memory the model needs for these environments is reserved here. Several states may share one model.
 * A new state is zero, as at the start of an episode. batch outside [1, ATTN_MAX_BATCH], max_unroll outside
 * [0, ATTN_MAX_UNROLL], or a batch whose rows (B × a layer's grid cells) would not fit an int give
 * ATTN_ERR_SIZE; a state too large for memory (or the address space) ATTN_ERR_NOMEM.
 */
typedef struct attn_state attn_state;

#define ATTN_MAX_BATCH 1048576
#define ATTN_MAX_UNROLL 65536

ATTN_API attn_status attn_state_create(attn_state **out, const attn_model *model, int batch, int max_unroll);
ATTN_API void attn_state_destroy(attn_state *state);

/* The state's batch size B and tape capacity T, as created. */
ATTN_API int attn_state_batch(const attn_state *state);
ATTN_API int attn_state_max_unroll(const attn_state *state);

/* Zeroes the recurrent state of every environment and discards the tape. */
ATTN_API attn_status attn_state_reset(attn_state *state);

/*
 * How attn_forward computes the state's convolutions (its conv layers, then the ConvLSTM), for its batch:
 *   "rule"      a fixed rule (Winograd for the ConvLSTM from two environments on, the direct kernel where
 *               it runs, else im2col + BLAS); the default;
 *   "measure"   each method this CPU can run is timed once on the layer's real shape and the fastest kept
 *               (a few milliseconds; allocates temporary buffers, so not a per-step call);
 *   a list      one of "unfold", "unfold-by-pixel", "direct", "winograd" per layer, separated by commas, in
 *               the form attn_state_conv_plan returns, e.g. "direct,winograd" for the minatar preset.
 * The methods round differently, so results are bitwise repeatable under a fixed plan (the rule or a list);
 * a measured plan can differ from one run to the next: record attn_state_conv_plan and set it again to repeat
 * a run. attn_state_create applies $ATTN_CONV_PLAN (the same words) when it is set and non-empty, failing with
 * ATTN_ERR_INVALID when it is not a plan. Errors: ATTN_ERR_NULL, ATTN_ERR_INVALID (unknown word, a list of the
 * wrong length, a method this CPU or layer cannot run), ATTN_ERR_NOMEM; the plan is unchanged on failure.
 * The backward pass keeps its own fixed choices.
 */
ATTN_API attn_status attn_state_set_conv_plan(attn_state *state, const char *plan);
/* The plan in use, as a list (never "rule" or "measure"); "" for NULL. Valid until the state changes plan. */
ATTN_API const char *attn_state_conv_plan(const attn_state *state);

/* The parts of the recurrent state, for saving, restoring and inspection. */
typedef enum attn_state_part {
    ATTN_STATE_VISION_H = 0, /* ConvLSTM hidden, B × h × w × L */
    ATTN_STATE_VISION_C = 1, /* ConvLSTM cell,   B × h × w × L */
    ATTN_STATE_CORE_H = 2,   /* policy LSTM hidden, B × H_p */
    ATTN_STATE_CORE_C = 3    /* policy LSTM cell,   B × H_p */
} attn_state_part;

/* Number of floats in one part for this state's batch. */
ATTN_API size_t attn_state_part_size(const attn_state *state, attn_state_part part);

/* Copies a part out of / into the state; `count` must equal attn_state_part_size. Setting a part while steps
 * are recorded gives ATTN_ERR_STATE (the tape would no longer describe the state); values must be finite. */
ATTN_API attn_status attn_state_get(const attn_state *state, attn_state_part part, float *dst, size_t count);
ATTN_API attn_status attn_state_set(attn_state *state, attn_state_part part, const float *src, size_t count);

/* Number of steps currently recorded on the tape. */
ATTN_API int attn_state_recorded(const attn_state *state);

/* Discards the recorded steps (the recurrent state itself is kept). */
ATTN_API attn_status attn_state_clear_tape(attn_state *state);

/* ---- Stepping ------------------------------------------------------------------------------------- */

typedef enum attn_forward_mode {
    ATTN_FORWARD_ACT = 0,   /* compute and advance the state; record nothing (cheapest) */
    ATTN_FORWARD_RECORD = 1 /* also append this step to the state's tape for attn_backward */
} attn_forward_mode;

/* Previous action meaning "none" (episode start, or no action yet). */
#define ATTN_NO_ACTION (-1)

/*
 * One step for the B environments of `state`.
 *   obs          B × H × W × C, uint8 or float32 as ATTN_CFG_OBS_TYPE says; float values must be finite.
 *   obs_bytes    the size of `obs` in bytes, checked against the configuration.
 *   prev_reward  B rewards received on the previous step (finite), or NULL for all 0.
 *   prev_action  B previous actions in [0, A) or ATTN_NO_ACTION, or NULL for all none.
 *   first        B flags, non-zero where this is the first step of an episode, or NULL for none. A first
 *                step zeroes that environment's recurrent state before use and ignores its prev_reward and
 *                prev_action; no other environment is affected.
 *   logits       out: B × A policy logits (may be NULL).
 *   values       out: B values (may be NULL).
 * RECORD mode appends the step to the tape; with the tape full it fails with ATTN_ERR_SIZE and changes nothing.
 * On any failure the state is unchanged.
 */
ATTN_API attn_status attn_forward(attn_model *model, attn_state *state, attn_forward_mode mode, const void *obs,
                                  size_t obs_bytes, const float *prev_reward, const int32_t *prev_action,
                                  const uint8_t *first, float *logits, float *values);

/*
 * Backpropagation through the T steps recorded on the tape (truncated BPTT: the state that entered the first
 * recorded step is a constant). `dlogits` is T × B × A and `dvalues` T × B (either may be NULL for zeros): the
 * gradient of the caller's loss with respect to each step's outputs. The gradient of every parameter is
 * *added* to attn_model_grads. The tape is then cleared; the recurrent state is that after the last step.
 * Inputs must be finite. `state` must have been created for this model.
 */
ATTN_API attn_status attn_backward(attn_model *model, attn_state *state, const float *dlogits, const float *dvalues);

/* ---- Attention maps ------------------------------------------------------------------------------- */

/*
 * The attention maps of the last attn_forward on `state`: B × N × h × w floats (count must be exactly that),
 * each h×w map non-negative and summing to 1. ATTN_ERR_STATE before the first step.
 */
ATTN_API attn_status attn_get_maps(const attn_state *state, float *maps, size_t count);

/*
 * Resamples one h×w map onto the observation's H×W pixels for drawing: bilinear interpolation between grid-cell
 * centres (a cell's centre sits at the centre of the pixels it covers), clamped at the borders, then rescaled
 * to sum to 1. `pixels` holds H × W floats; `map` holds h × w, finite (ATTN_ERR_NONFINITE), non-negative and
 * not all zero (ATTN_ERR_INVALID); a refused map leaves `pixels` untouched.
 */
ATTN_API attn_status attn_map_to_pixels(const attn_model *model, const float *map, float *pixels, size_t count);

/* ---- Checkpoints ---------------------------------------------------------------------------------- */

/*
 * Model files are safetensors (docs/checkpoint.md): an 8-byte little-endian header length, a JSON header, raw
 * little-endian float32 tensors named and shaped as attn_model_tensor() says, and the configuration in the
 * header's __metadata__. Python opens them with the `safetensors` package or a few lines of json + struct.
 */

/* Writes the model's weights and configuration to `path` atomically: a temporary file in the same directory,
 * fsync, then rename, so a crash never leaves a torn file where a good one was. A model with a non-finite
 * weight is refused (ATTN_ERR_NONFINITE) and nothing is written, so a diverged run cannot overwrite its last
 * good checkpoint. */
ATTN_API attn_status attn_model_save(const attn_model *model, const char *path);

/* Creates a model from a file written by attn_model_save (gradients zero). Every name, dtype, shape and byte
 * range is validated; a corrupt or truncated file gives ATTN_ERR_FORMAT, an unreadable one ATTN_ERR_IO. The
 * thread count is not stored in files: the new model uses the default (ATTN_CFG_THREADS = 0). */
ATTN_API attn_status attn_model_load(attn_model **out, const char *path);

/* Loads the weights of `path` into an existing model whose configuration must match the file's
 * (ATTN_ERR_FORMAT otherwise). On failure the model is unchanged. */
ATTN_API attn_status attn_model_load_params(attn_model *model, const char *path);

#ifdef __cplusplus
}
#endif

/* Training: environments, rollouts, losses, optimizers, training checkpoints. */
#include "training.h"

#endif /* ATTNAGENT_H */
