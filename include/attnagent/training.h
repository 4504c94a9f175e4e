/*
 * libattnagent training: host environments through callbacks, a rollout buffer that acts in them, losses built
 * on attn_backward (A2C with GAE, V-trace, PPO), optimizers, and training checkpoints that resume exactly.
 * Included by attnagent.h; the conventions there hold here.
 *
 * One update, the whole loop:
 *
 *     attn_env env = ATTN_ENV_INIT;            // your callbacks
 *     env.reset = my_reset; env.step = my_step; env.ctx = my_world;
 *     attn_rollout *ro;   attn_rollout_create(&ro, model, 16, 20, seed);
 *     attn_loss_config lc; attn_loss_config_init(&lc, ATTN_LOSS_PPO);
 *     attn_learner *ln;   attn_learner_create(&ln, model, &lc, 16, 20);
 *     attn_optimizer *opt; attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM);  // defaults: 5e-4, clip 0.5
 *     for (;;) {
 *         attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE);   // 20 steps in each of 16 environments
 *         attn_loss_stats st;
 *         attn_learner_update(ln, opt, ro, &st);                    // loss, attn_backward, optimizer step
 *     }
 */
#ifndef ATTNAGENT_TRAINING_H
#define ATTNAGENT_TRAINING_H

#ifndef ATTNAGENT_H
#error "include <attnagent/attnagent.h>, not this file"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Environments ----------------------------------------------------------------------------------- */

/* Returned by a callback to ask the library to stop (attn_rollout_collect then returns ATTN_ERR_ABORTED). Any
 * other non-zero return is a failure (ATTN_ERR_CALLBACK, naming the environment and the callback's message). */
#define ATTN_CALLBACK_ABORT (-1000)

#define ATTN_ENV_VERSION 1

/*
 * A host environment: B independent copies, addressed by index 0..B-1, behind callbacks on one context.
 * Observations are written into `obs`, H×W×C in the model's observation type (uint8 or float32). Callbacks
 * return 0 on success. The library calls reset() itself whenever an episode ends (terminated or truncated), so
 * step() is never called on a finished episode.
 */
typedef struct attn_env {
    int version; /* ATTN_ENV_VERSION */
    void *ctx;   /* handed back to every callback */
    /* Starts a new episode in environment `index`, seeded by `seed`; writes its first observation. */
    int (*reset)(void *ctx, int index, uint64_t seed, void *obs);
    /* Applies `action` (0..A-1); writes the next observation, the reward, and the Gymnasium flags: terminated
     * (the episode ended inside the task: no bootstrap) and truncated (cut by a time limit: the value of the
     * observation written now is bootstrapped). */
    int (*step)(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated);
    /* Optional: a sentence for the last failure in environment `index` (copied at once). */
    const char *(*error)(void *ctx, int index);
    /* Optional, for exact resume: serialise environment `index` into buf (capacity cap), setting *len; with
     * buf NULL, set *len to the size needed. And restore it. Both or neither. */
    int (*save)(void *ctx, int index, void *buf, size_t cap, size_t *len);
    int (*load)(void *ctx, int index, const void *buf, size_t len);
    /* Non-zero when reset/step for *different* indices may run concurrently: the library then steps the
     * environments on its worker threads. */
    int thread_safe;
} attn_env;

#define ATTN_ENV_INIT {ATTN_ENV_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0}

/* ---- Rollouts --------------------------------------------------------------------------------------- */

/*
 * The actor side of training: B environments' current observations, previous actions and rewards, a recurrent
 * state for acting, one seeded random stream per environment, running episode returns, and a buffer of the
 * last T steps: observations, actions, rewards, terminated/truncated flags, behaviour-policy logits, values,
 * the recurrent state at the start of the unroll and the bootstrap value after it. The recurrent state carries
 * across consecutive unrolls.
 */
typedef struct attn_rollout attn_rollout;

typedef enum attn_act_mode {
    ATTN_ACT_SAMPLE = 0, /* sample from the softmax of the logits with the environment's random stream */
    ATTN_ACT_GREEDY = 1  /* the arg-max action (lowest index on ties) */
} attn_act_mode;

/* Environment b's episodes are seeded from `seed` and b; its sampling stream too. */
ATTN_API attn_status attn_rollout_create(attn_rollout **out, const attn_model *model, int batch, int unroll,
                                         uint64_t seed);
ATTN_API void attn_rollout_destroy(attn_rollout *rollout);

/*
 * Runs T steps in every environment (the first call resets them all first): forward without recording,
 * choose actions, step, reset finished episodes, and record everything; then computes the bootstrap value.
 * Rewards are stored raw (clipping is the loss's business). On a callback failure (ATTN_ERR_CALLBACK), an
 * abort (ATTN_ERR_ABORTED) or a NaN or infinite reward or float observation written by a callback
 * (ATTN_ERR_NONFINITE), the status and attn_last_error() say which environment failed and why; the rollout's
 * buffer is then incomplete (attn_learner_update refuses it) but the rollout, the model and the environments
 * stay usable: the next collect resets every environment.
 */
ATTN_API attn_status attn_rollout_collect(attn_rollout *rollout, const attn_model *model, const attn_env *env,
                                          attn_act_mode mode);

/* Counters: environment steps taken in total, and episodes finished in total. */
ATTN_API int64_t attn_rollout_frames(const attn_rollout *rollout);
ATTN_API int64_t attn_rollout_episodes(const attn_rollout *rollout);

/*
 * Episodes finished during the last collect, oldest first: up to `cap` raw returns and lengths (either array
 * may be NULL); *count gets how many finished (which may exceed cap).
 */
ATTN_API attn_status attn_rollout_finished(const attn_rollout *rollout, float *returns, int32_t *lengths, int cap,
                                           int *count);

/* Read access to the last unroll, for hosts that compute their own loss. Sizes: obs (T+1)·B·H·W·C in the
 * observation type, actions T·B, rewards T·B, terminated/truncated T·B, logits T·B·A, values T·B,
 * bootstrap B. Pointers stay valid until the next collect or destroy. */
typedef struct attn_rollout_view {
    int T, B, A;
    const void *obs;
    const int32_t *actions;
    const float *rewards;
    const uint8_t *terminated, *truncated;
    const float *truncation_values; /* T·B: value of the final observation where truncated, else 0 */
    const float *logits, *values, *bootstrap;
} attn_rollout_view;
ATTN_API attn_status attn_rollout_view_get(const attn_rollout *rollout, attn_rollout_view *view);

/* ---- Losses ----------------------------------------------------------------------------------------- */

typedef enum attn_loss_kind {
    ATTN_LOSS_A2C = 0,    /* advantage actor-critic with GAE(λ) advantages and λ-returns */
    ATTN_LOSS_VTRACE = 1, /* IMPALA's V-trace targets and policy gradient with truncated importance weights */
    ATTN_LOSS_PPO = 2     /* clipped surrogate, several epochs over minibatches of environments */
} attn_loss_kind;

#define ATTN_LOSS_CONFIG_VERSION 1

typedef struct attn_loss_config {
    int version;            /* ATTN_LOSS_CONFIG_VERSION */
    attn_loss_kind kind;
    float discount;         /* γ, default 0.99 */
    float gae_lambda;       /* λ for A2C and PPO, default 0.95 (A2C) */
    float entropy_cost;     /* default 0.01 */
    float baseline_cost;    /* default 0.5 */
    float rho_bar, c_bar;   /* V-trace truncation, default 1.0 and 1.0; 0 means no truncation */
    float clip_range;       /* PPO ε, default 0.2 */
    float reward_clip;      /* clip rewards to ±reward_clip before the loss; 0 = off (default 0) */
    int ppo_epochs;         /* default 4 */
    int ppo_minibatches;    /* minibatches of environments per epoch, must divide B; default 4 */
    int normalize_advantages; /* PPO: per-minibatch advantage normalisation, default 1 */
} attn_loss_config;

/* The defaults above for `kind` (the paper's setting for V-trace). */
ATTN_API attn_status attn_loss_config_init(attn_loss_config *config, attn_loss_kind kind);

/* What one update measured (means over the T·B samples it used; PPO: over its last epoch). */
typedef struct attn_loss_stats {
    float total;           /* policy + baseline_cost·value − entropy_cost·entropy */
    float policy_loss;
    float value_loss;      /* ½ mean squared error of the value */
    float entropy;
    float approx_kl;       /* mean of behaviour log-prob − current log-prob of the taken actions */
    float clip_fraction;   /* PPO: share of samples with |ratio − 1| > ε; V-trace: share with ρ > ρ̄ */
    float grad_norm;       /* global gradient norm before clipping */
    int skipped;           /* 1 if the update was skipped for a non-finite loss or gradient */
} attn_loss_stats;

/* ---- Optimizers ------------------------------------------------------------------------------------- */

typedef struct attn_optimizer attn_optimizer;

typedef enum attn_optim_kind {
    ATTN_OPTIM_RMSPROP = 0, /* IMPALA's (TensorFlow 1's): ms ← ρ·ms + (1−ρ)·g², ms starting at 1;
                               mom ← μ·mom + lr·g/√(ms + ε); θ ← θ − mom. The losses are means over the
                               T·B samples (IMPALA summed them): with ε = 0.01 inside the root, small mean
                               gradients take small steps; Adam does not care about the scale. */
    ATTN_OPTIM_ADAM = 1,    /* Kingma & Ba with bias correction; ε outside the square root */
    ATTN_OPTIM_ADAMW = 2,   /* Adam with decoupled weight decay: θ ← θ − lr·wd·θ before the Adam step */
    ATTN_OPTIM_SGD = 3      /* with optional momentum: mom ← μ·mom + g; θ ← θ − lr·mom */
} attn_optim_kind;

/* Knobs, set one by one (values are doubles). Stable; only ever appended. */
typedef enum attn_optim_param {
    ATTN_OPT_LR = 0,             /* learning rate, default 5e-4 (2e-4 before 0.2) */
    ATTN_OPT_EPSILON = 1,        /* RMSProp 0.01 (inside the square root), Adam 1e-8 (outside) */
    ATTN_OPT_DECAY = 2,          /* RMSProp ρ, default 0.99 */
    ATTN_OPT_MOMENTUM = 3,       /* RMSProp and SGD μ, default 0 */
    ATTN_OPT_BETA1 = 4,          /* Adam, default 0.9 */
    ATTN_OPT_BETA2 = 5,          /* Adam, default 0.999 */
    ATTN_OPT_WEIGHT_DECAY = 6,   /* AdamW, default 0.01; others ignore it */
    ATTN_OPT_MAX_GRAD_NORM = 7,  /* global-norm clipping threshold, default 0.5 (40 before 0.2); 0 = off */
    ATTN_OPT_LR_DECAY_STEPS = 8, /* linear decay of the rate to ATTN_OPT_LR_END over this many steps; 0 = none */
    ATTN_OPT_LR_END = 9          /* default 0 */
} attn_optim_param;

ATTN_API attn_status attn_optimizer_create(attn_optimizer **out, const attn_model *model, attn_optim_kind kind);
ATTN_API void attn_optimizer_destroy(attn_optimizer *opt);
ATTN_API attn_status attn_optimizer_set(attn_optimizer *opt, attn_optim_param param, double value);
ATTN_API attn_status attn_optimizer_get(const attn_optimizer *opt, attn_optim_param param, double *value);
ATTN_API attn_optim_kind attn_optimizer_kind(const attn_optimizer *opt);

/*
 * One update from the model's gradients: the global norm of all gradients is measured (*grad_norm, may be
 * NULL), gradients are scaled down to ATTN_OPT_MAX_GRAD_NORM if above it, the learning rate of this step is
 * taken from the schedule, and the parameters and slots are updated. A non-finite gradient, or a step that would
 * make a parameter or slot non-finite (a huge finite gradient without clipping), changes nothing — parameters,
 * slots, step count, gradients — and gives ATTN_ERR_NONFINITE. Otherwise the gradients are left as they were
 * (scaled by the clipping).
 */
ATTN_API attn_status attn_optimizer_step(attn_optimizer *opt, attn_model *model, float *grad_norm);

/* Updates taken so far (the schedule's position); settable for resuming. */
ATTN_API int64_t attn_optimizer_steps(const attn_optimizer *opt);
ATTN_API attn_status attn_optimizer_set_steps(attn_optimizer *opt, int64_t steps);

/* The learning rate the next step will use. */
ATTN_API double attn_optimizer_current_lr(const attn_optimizer *opt);

/* Slot arrays (e.g. "ms" and "mom" for RMSProp, "m" and "v" for Adam), each attn_model_param_count floats
 * laid out like the parameters. For checkpoints and inspection. */
ATTN_API int attn_optimizer_slot_count(const attn_optimizer *opt);
ATTN_API attn_status attn_optimizer_slot(attn_optimizer *opt, int index, const char **name, float **data);

/* ---- Learner ------------------------------------------------------------------------------------------- */

/*
 * The learner side: recomputes the unroll from the rollout's stored initial state with the current
 * parameters (recording), computes the loss's gradients with respect to logits and values, runs attn_backward
 * and one optimizer step (PPO: epochs × minibatches of them). Memory for `batch` × `unroll` is reserved here.
 */
typedef struct attn_learner attn_learner;

ATTN_API attn_status attn_learner_create(attn_learner **out, attn_model *model, const attn_loss_config *config,
                                         int batch, int unroll);
ATTN_API void attn_learner_destroy(attn_learner *learner);

/* One update on the rollout's last unroll. A non-finite loss or gradient skips the optimizer step (weights
 * and the optimizer's slots and step count untouched), sets stats->skipped and counts it
 * (attn_learner_skipped); the call still returns ATTN_OK. The rollout must come from a model of the same
 * configuration and observation type (ATTN_ERR_INVALID) and have the learner's batch and unroll
 * (ATTN_ERR_SIZE). */
ATTN_API attn_status attn_learner_update(attn_learner *learner, attn_optimizer *opt, const attn_rollout *rollout,
                                         attn_loss_stats *stats);
/* Optimizer steps skipped for a non-finite loss or gradient since the learner was created (PPO counts each
 * skipped minibatch step); 0 for NULL. */
ATTN_API int64_t attn_learner_skipped(const attn_learner *learner);

/*
 * Data-parallel training (docs/distributed.md). P processes each hold an identical model, optimizer and learner
 * and their own rollout; a reduction set on each learner makes every optimizer step use the gradient of the
 * mean loss over all P processes' samples, so the replicas stay bitwise identical without sending weights. The
 * library never communicates: the host's callback does (MPI_Allreduce, NCCL, Gloo, a game's own network).
 *
 * What the callback must do: reduce(payload, type, data, count) replaces data[0..count) — `count` floats
 * (ATTN_REDUCE_FLOAT32) or doubles (ATTN_REDUCE_FLOAT64) — in every process by the element-wise SUM of the
 * arrays all P processes passed to the same call, bitwise the same in every process (MPI_Allreduce with
 * MPI_SUM; or a reduce to one process and a broadcast), and returns 0. It must not keep `data` after it
 * returns. The library divides, weighting each process by its sample count, so processes with different
 * batches are exact too. With P = 1, returning 0 and leaving data alone is the reduction, and it changes no
 * result by a bit.
 *
 * When it is called: inside attn_learner_update, for each optimizer step (A2C and V-trace: one per update;
 * PPO: epochs × minibatches), in this order, the same on every process given the same loss configuration:
 *   1. PPO with normalize_advantages: FLOAT64 {samples, Σ Â} (count 2), then FLOAT64 {Σ (Â − mean)²}
 *      (count 1): the advantages are normalised by the mean and standard deviation of all processes' samples;
 *   2. FLOAT64, count 8: the sample count, the loss statistics weighted by it, and a failure flag;
 *   3. unless the flag says a process failed: FLOAT32 with data = attn_model_grads(model) and count =
 *      attn_model_param_count(model), after each process has scaled its gradient by its share of the samples.
 * Then the optimizer step sees the summed gradient (clipping measures its global norm), and the stats are the
 * means over all processes' samples. Use `count` as given: a later version may reduce more scalars.
 *
 * Failures stay in step. A non-finite loss or gradient on any process makes every process skip the step
 * (ATTN_OK with stats->skipped, counted by attn_learner_skipped); a process whose replay, loss or backward fails
 * otherwise still makes every call, skips the step with the others, and returns its error. A non-zero return
 * from the callback stops the update: ATTN_CALLBACK_ABORT gives ATTN_ERR_ABORTED, any other value
 * ATTN_ERR_CALLBACK, without the step of that call (PPO's earlier steps of the update stay taken). The other
 * processes may then be waiting inside the same reduction, and so may they be when attn_learner_update refuses
 * its arguments (no call is made): the host must stop them all (MPI_Abort).
 *
 * attn_learner_set_reduce(learner, NULL, NULL) goes back to a single process. ATTN_ERR_NULL for a NULL
 * learner. Added in 0.2.
 */
typedef enum attn_reduce_type {
    ATTN_REDUCE_FLOAT32 = 0, /* data is float[count]: the gradient */
    ATTN_REDUCE_FLOAT64 = 1  /* data is double[count]: counts and sums for the loss */
} attn_reduce_type;
typedef int (*attn_reduce_fn)(void *payload, attn_reduce_type type, void *data, size_t count);
ATTN_API attn_status attn_learner_set_reduce(attn_learner *learner, attn_reduce_fn reduce, void *payload);

/*
 * Is it learning? Two signs that a run is stuck, measured by the learner so every host can print them
 * (docs/training.md, "Is it learning?"): a policy still uniform after many updates (its entropy at ln A: the
 * weights that matter did not move, or the advantages carry no signal), and weights that barely moved at all
 * (a learning rate or optimizer that does not suit the loss's scale). Each flag is raised only after
 * ATTN_HEALTH_MIN_UPDATES updates, and means "look", not "failed": a task with no reward yet also keeps a
 * uniform policy.
 */
#define ATTN_HEALTH_MIN_UPDATES 100
#define ATTN_HEALTH_UNIFORM_POLICY 1u /* entropy_ratio above 0.99 */
#define ATTN_HEALTH_FROZEN_WEIGHTS 2u /* weight_change below 0.001 */

typedef struct attn_learner_health {
    int64_t updates;     /* attn_learner_update calls that ran the loss */
    float entropy_ratio; /* the last update's mean policy entropy divided by ln A: 1 is a uniform policy */
    float weight_change; /* |θ − θ₀| / |θ₀|, θ₀ the parameters at the first update (Euclidean norms) */
    unsigned flags;      /* ATTN_HEALTH_* bits */
} attn_learner_health;

ATTN_API attn_status attn_learner_health_get(const attn_learner *learner, attn_learner_health *health);

/* ---- Training checkpoints ----------------------------------------------------------------------------- */

/*
 * Saves everything needed to continue training exactly: the model, the optimizer (kind, knobs, step count,
 * slots), the rollout (acting state, observations, previous actions and rewards, random streams, counters,
 * running returns) and, when `env` has save/load callbacks, every environment. `extra_keys/values` (n_extra
 * pairs, may be 0) are stored in the metadata for the host (e.g. its own counters). Atomic, like
 * attn_model_save; the file is also a valid model file for attn_model_load.
 */
ATTN_API attn_status attn_training_save(const char *path, const attn_model *model, const attn_optimizer *opt,
                                        const attn_rollout *rollout, const attn_env *env,
                                        const char *const *extra_keys, const char *const *extra_values, int n_extra);

/*
 * Restores a training checkpoint into objects created with the same configuration, batch and unroll. Every
 * part is validated before anything is changed; on failure nothing is. Restores the environments when `env`
 * has load callbacks and the file holds their states; otherwise the next collect resets them. Metadata value
 * for a host key: attn_training_meta (valid until the next load on this thread).
 */
ATTN_API attn_status attn_training_load(const char *path, attn_model *model, attn_optimizer *opt,
                                        attn_rollout *rollout, const attn_env *env);
ATTN_API const char *attn_training_meta(const char *key);

/*
 * The value a host saved under `key` (attn_training_save's extra_keys) in the checkpoint at `path`, read from
 * the file's header alone, without loading or changing anything: copied with its NUL into `buf` (`cap` bytes;
 * buf may be NULL when cap is 0), its length without the NUL in *len (may be NULL). For a program that plays a
 * training checkpoint with attn_model_load and needs what it was trained on (attn-play reads "env"). A key the
 * file does not hold gives ATTN_ERR_INVALID; a buffer too small ATTN_ERR_SIZE with *len set to the length needed
 * and `buf` untouched; an unreadable file ATTN_ERR_IO and one that is no attnagent checkpoint ATTN_ERR_FORMAT.
 * Model files from attn_model_save hold no host keys. Added in 0.2.
 */
ATTN_API attn_status attn_checkpoint_meta(const char *path, const char *key, char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* ATTNAGENT_TRAINING_H */
