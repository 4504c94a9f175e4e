#include "rollout.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carve.h"
#include "errors.h"
#include "model.h"
#include "threads.h"

const attn_state_part STATE_PARTS[4] = {ATTN_STATE_VISION_H, ATTN_STATE_VISION_C, ATTN_STATE_CORE_H,
                                        ATTN_STATE_CORE_C};

uint64_t rollout_episode_seed(uint64_t seed, int b, uint64_t k)
{
    rng r;
    rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(b + 1)) ^ (0xd1b54a32d192ed03ULL * (k + 1)));
    return rng_next(&r);
}

/* T is the caller's unroll, unbounded but for int: every product with it is saturating (sizes.h), so a rollout
 * beyond the address space measures SIZE_MAX and is refused. */
static void layout(carver *c, attn_rollout *r)
{
    const size_t B = (size_t)r->B, T = (size_t)r->T, A = (size_t)r->A, ob = r->obs_elems * r->obs_elem_size;
    const size_t TB = size_mul(T, B);
    r->cur_obs = take(c, B, ob);
    r->cur_first = take(c, B, 1);
    r->last_action = take(c, B, sizeof(int32_t));
    r->last_reward = TAKE_F(c, B);
    r->streams = take(c, B, sizeof(rng));
    r->episode_count = take(c, B, sizeof(uint64_t));
    r->ep_return = take(c, B, sizeof(double));
    r->ep_length = take(c, B, sizeof(int32_t));
    r->obs = take(c, size_mul(T + 1, B), ob); /* and the observation after the unroll, as the view promises */
    r->first = take(c, TB, 1);
    r->prev_action = take(c, TB, sizeof(int32_t));
    r->prev_reward = TAKE_F(c, TB);
    r->actions = take(c, TB, sizeof(int32_t));
    r->rewards = TAKE_F(c, TB);
    r->terminated = take(c, TB, 1);
    r->truncated = take(c, TB, 1);
    r->truncation_values = TAKE_F(c, TB);
    r->logits = TAKE_F(c, size_mul(TB, A));
    r->values = TAKE_F(c, TB);
    r->bootstrap = TAKE_F(c, B);
    for (int p = 0; p < 4; p++) {
        r->init_state[p] = TAKE_F(c, r->init_size[p]);
        r->saved_state[p] = TAKE_F(c, r->init_size[p]);
    }
    r->finished_return = TAKE_F(c, TB);
    r->finished_length = take(c, TB, sizeof(int32_t));
    r->env_status = take(c, B, sizeof(int));
    r->env_error = take(c, B, sizeof *r->env_error);
    r->step_action = take(c, B, sizeof(int32_t));
    r->step_reward = TAKE_F(c, B);
    r->step_term = take(c, B, sizeof(int));
    r->step_trunc = take(c, B, sizeof(int));
    r->scratch_values = TAKE_F(c, B);
    r->scratch_logits = TAKE_F(c, size_mul(B, A));
}

attn_status attn_rollout_create(attn_rollout **out, const attn_model *model, int batch, int unroll, uint64_t seed)
{
    attn_status st = check_not_null(out, "out");
    if (st) return st;
    *out = NULL;
    if ((st = check_not_null(model, "model"))) return st;
    if (unroll < 1) return fail(ATTN_ERR_SIZE, "unroll %d must be at least 1", unroll);
    /* The episodes finished in one collect (at most T·B) are counted in an int. */
    if (batch > 0 && size_mul((size_t)batch, (size_t)unroll) > INT_MAX)
        return fail(ATTN_ERR_SIZE, "%d environments × %d steps are more than %d samples", batch, unroll, INT_MAX);
    attn_rollout *r = calloc(1, sizeof *r);
    if (!r) return fail(ATTN_ERR_NOMEM, "cannot allocate a rollout");
    if ((st = attn_state_create(&r->act, model, batch, 0))) {
        free(r);
        return st;
    }
    const dims *d = &model->d;
    r->model = model;
    r->B = batch;
    r->T = unroll;
    r->A = d->A;
    r->seed = seed;
    r->obs_elems = (size_t)d->H * d->W * d->C;
    r->obs_elem_size = obs_elem_size(model->cfg.obs_type);
    r->obs_type = model->cfg.obs_type;
    for (int p = 0; p < 4; p++) r->init_size[p] = attn_state_part_size(r->act, STATE_PARTS[p]);
    carver c = {NULL, 0};
    layout(&c, r);
    r->memory = carve_alloc(&c);
    r->workers = pool_create(model->threads < batch ? model->threads : batch);
    if (!r->memory || !r->workers) {
        attn_rollout_destroy(r);
        return fail(ATTN_ERR_NOMEM, "cannot allocate a rollout of %d environments × %d steps", batch, unroll);
    }
    c = (carver){carve_align(r->memory), 0};
    layout(&c, r);
    for (int b = 0; b < batch; b++) rng_seed(&r->streams[b], rollout_episode_seed(seed, b, UINT64_MAX));
    *out = r;
    return ATTN_OK;
}

void attn_rollout_destroy(attn_rollout *rollout)
{
    if (!rollout) return;
    pool_destroy(rollout->workers);
    attn_state_destroy(rollout->act);
    free(rollout->memory);
    free(rollout);
}

int64_t attn_rollout_frames(const attn_rollout *rollout) { return rollout ? rollout->frames : 0; }
int64_t attn_rollout_episodes(const attn_rollout *rollout) { return rollout ? rollout->episodes : 0; }

attn_status attn_rollout_finished(const attn_rollout *rollout, float *returns, int32_t *lengths, int cap, int *count)
{
    attn_status st = check_not_null(rollout, "rollout");
    if (st || (st = check_not_null(count, "count"))) return st;
    if (cap < 0) return fail(ATTN_ERR_INVALID, "cap %d is negative", cap);
    int n = rollout->finished < cap ? rollout->finished : cap;
    if (returns) memcpy(returns, rollout->finished_return, sizeof(float) * (size_t)n);
    if (lengths) memcpy(lengths, rollout->finished_length, sizeof(int32_t) * (size_t)n);
    *count = rollout->finished;
    return ATTN_OK;
}

attn_status attn_rollout_view_get(const attn_rollout *rollout, attn_rollout_view *view)
{
    attn_status st = check_not_null(rollout, "rollout");
    if (st || (st = check_not_null(view, "view"))) return st;
    if (!rollout->valid) return fail(ATTN_ERR_STATE, "the rollout holds no complete unroll; call attn_rollout_collect");
    *view = (attn_rollout_view){rollout->T,        rollout->B,          rollout->A,
                                rollout->obs,      rollout->actions,    rollout->rewards,
                                rollout->terminated, rollout->truncated, rollout->truncation_values,
                                rollout->logits,   rollout->values,     rollout->bootstrap};
    return ATTN_OK;
}

/* ---- collecting ---- */

typedef struct env_job {
    attn_rollout *r;
    const attn_env *env;
    int resetting; /* 1: reset the environments flagged in cur_first; 0: step them all */
} env_job;

static void *obs_slot(const attn_rollout *r, void *base, size_t index)
{
    return (char *)base + index * r->obs_elems * r->obs_elem_size;
}

/* Checks a freshly written observation against the model's observation type (a float environment must not
 * hand the model NaN or infinity, a binary one nothing but 0 and 1), naming the environment's mistake. */
static void check_obs(attn_rollout *r, int b, const void *obs, const char *what)
{
    size_t bad = obs_first_invalid(obs, r->obs_type, r->obs_elems);
    if (bad == r->obs_elems) return;
    if (r->obs_type == ATTN_OBS_F32) {
        r->env_status[b] = ATTN_ERR_NONFINITE;
        snprintf(r->env_error[b], sizeof r->env_error[b], "%s wrote a non-finite observation (element %zu)", what,
                 bad);
    } else {
        r->env_status[b] = ATTN_ERR_INVALID;
        snprintf(r->env_error[b], sizeof r->env_error[b],
                 "%s wrote byte %d at element %zu of a binary-plane observation (ATTN_OBS_U8_BINARY takes 0 or 1; "
                 "pixels are ATTN_OBS_U8)", what, ((const uint8_t *)obs)[bad], bad);
    }
}

/* env_status[b] holds the attn_status environment b's job ended with; env_error[b] says why. */
static void env_failed(attn_rollout *r, const attn_env *env, int b, int code, const char *what)
{
    const char *msg = env->error ? env->error(env->ctx, b) : NULL;
    r->env_status[b] = code == ATTN_CALLBACK_ABORT ? ATTN_ERR_ABORTED : ATTN_ERR_CALLBACK;
    snprintf(r->env_error[b], sizeof r->env_error[b], "%s returned %d%s%s", what, code, msg ? ": " : "",
             msg ? msg : "");
}

static void env_job_run(void *ctx, int b)
{
    env_job *j = ctx;
    attn_rollout *r = j->r;
    void *obs = obs_slot(r, r->cur_obs, (size_t)b);
    r->env_status[b] = 0;
    if (j->resetting) {
        if (!r->cur_first[b]) return;
        uint64_t seed = rollout_episode_seed(r->seed, b, r->episode_count[b]);
        int rc = j->env->reset(j->env->ctx, b, seed, obs);
        if (rc) {
            env_failed(r, j->env, b, rc, "reset");
            return;
        }
        r->episode_count[b]++;
    } else {
        int term = 0, trunc = 0;
        float reward = 0.0f;
        int rc = j->env->step(j->env->ctx, b, r->step_action[b], obs, &reward, &term, &trunc);
        if (rc) {
            env_failed(r, j->env, b, rc, "step");
            return;
        }
        if (!isfinite(reward)) {
            r->env_status[b] = ATTN_ERR_NONFINITE;
            snprintf(r->env_error[b], sizeof r->env_error[b], "step returned a non-finite reward (%g)",
                     (double)reward);
            return;
        }
        r->step_reward[b] = reward;
        r->step_term[b] = term != 0;
        r->step_trunc[b] = trunc != 0;
    }
    check_obs(r, b, obs, j->resetting ? "reset" : "step");
}

/* Runs the environment jobs (in parallel when the host allows) and turns the first failure into a status. */
static attn_status run_envs(attn_rollout *r, const attn_env *env, int resetting)
{
    env_job j = {r, env, resetting};
    if (env->thread_safe)
        pool_run(r->workers, r->B, env_job_run, &j);
    else
        for (int b = 0; b < r->B; b++) env_job_run(&j, b);
    for (int b = 0; b < r->B; b++) {
        if (!r->env_status[b]) continue;
        r->valid = 0;
        r->started = 0;
        if (r->env_status[b] == ATTN_ERR_ABORTED)
            return fail(ATTN_ERR_ABORTED, "environment %d asked to stop (%s)", b, r->env_error[b]);
        return fail((attn_status)r->env_status[b], "environment %d: %s", b, r->env_error[b]);
    }
    return ATTN_OK;
}

/* Values of the current observations under the current acting state, leaving the state as it was: the
 * bootstrap after the unroll, or the value of a truncated episode's final observation. */
static attn_status peek_values(attn_rollout *r, const attn_model *model, const uint8_t *first,
                               const int32_t *prev_action, const float *prev_reward)
{
    for (int p = 0; p < 4; p++) attn_state_get(r->act, STATE_PARTS[p], r->saved_state[p], r->init_size[p]);
    attn_status st = attn_forward((attn_model *)model, r->act, ATTN_FORWARD_ACT, r->cur_obs,
                                  (size_t)r->B * r->obs_elems * r->obs_elem_size, prev_reward, prev_action, first,
                                  r->scratch_logits, r->scratch_values);
    /* A refused step left the state as it was, and its message names the cause (attn_forward checks every
     * step's results before the state takes them), so putting the saved state back cannot fail. */
    for (int p = 0; p < 4; p++) attn_state_set(r->act, STATE_PARTS[p], r->saved_state[p], r->init_size[p]);
    return st;
}

/* The action for environment b from its logits: a sample by inverse CDF with its own stream, or the arg-max. */
static int32_t choose_action(attn_rollout *r, int b, const float *logits, attn_act_mode mode)
{
    int best = 0;
    for (int a = 1; a < r->A; a++)
        if (logits[a] > logits[best]) best = a;
    if (mode == ATTN_ACT_GREEDY) return best;
    double total = 0.0;
    for (int a = 0; a < r->A; a++) total += exp((double)logits[a] - logits[best]);
    double u = (double)(rng_next(&r->streams[b]) >> 11) * (1.0 / 9007199254740992.0) * total;
    for (int a = 0; a < r->A; a++) {
        u -= exp((double)logits[a] - logits[best]);
        if (u < 0.0) return a;
    }
    return r->A - 1;
}

static attn_status start_all(attn_rollout *r, const attn_env *env)
{
    /* The first step zeroes every environment's state anyway; zeroing it now also keeps whatever a failed
     * collect left in it (even NaN, from diverged weights) out of the unroll's stored initial state. */
    attn_status st = attn_state_reset(r->act);
    if (st) return st;
    memset(r->cur_first, 1, (size_t)r->B);
    for (int b = 0; b < r->B; b++) {
        r->last_action[b] = ATTN_NO_ACTION;
        r->last_reward[b] = 0.0f;
        r->ep_return[b] = 0.0;
        r->ep_length[b] = 0;
    }
    if ((st = run_envs(r, env, 1))) return st;
    r->started = 1;
    return ATTN_OK;
}

static attn_status collect_step(attn_rollout *r, const attn_model *model, const attn_env *env, attn_act_mode mode,
                                int t)
{
    const int B = r->B, A = r->A;
    const size_t tb = (size_t)t * B;
    memcpy(obs_slot(r, r->obs, tb), r->cur_obs, (size_t)B * r->obs_elems * r->obs_elem_size);
    memcpy(r->first + tb, r->cur_first, (size_t)B);
    memcpy(r->prev_action + tb, r->last_action, sizeof(int32_t) * B);
    memcpy(r->prev_reward + tb, r->last_reward, sizeof(float) * B);
    attn_status st = attn_forward((attn_model *)model, r->act, ATTN_FORWARD_ACT, r->cur_obs,
                                  (size_t)B * r->obs_elems * r->obs_elem_size, r->last_reward, r->last_action,
                                  r->cur_first, r->logits + tb * A, r->values + tb);
    if (st) return st;
    for (int b = 0; b < B; b++) r->step_action[b] = r->actions[tb + b] = choose_action(r, b, r->logits + (tb + b) * A, mode);
    if ((st = run_envs(r, env, 0))) return st;

    int any_truncated = 0;
    for (int b = 0; b < B; b++) {
        r->rewards[tb + b] = r->step_reward[b];
        r->terminated[tb + b] = (uint8_t)r->step_term[b];
        r->truncated[tb + b] = (uint8_t)(r->step_trunc[b] && !r->step_term[b]);
        r->truncation_values[tb + b] = 0.0f;
        any_truncated |= r->truncated[tb + b];
        r->ep_return[b] += r->step_reward[b];
        r->ep_length[b]++;
        r->last_action[b] = r->step_action[b];
        r->last_reward[b] = r->step_reward[b];
        r->cur_first[b] = 0;
    }
    r->frames += B;
    if (any_truncated) {
        /* A time limit is not the end of the task: bootstrap from the value of the observation it cut at. */
        if ((st = peek_values(r, model, NULL, r->last_action, r->last_reward))) return st;
        for (int b = 0; b < B; b++)
            if (r->truncated[tb + b]) r->truncation_values[tb + b] = r->scratch_values[b];
    }
    for (int b = 0; b < B; b++) {
        if (!r->terminated[tb + b] && !r->truncated[tb + b]) continue;
        r->finished_return[r->finished] = (float)r->ep_return[b];
        r->finished_length[r->finished] = r->ep_length[b];
        r->finished++;
        r->episodes++;
        r->ep_return[b] = 0.0;
        r->ep_length[b] = 0;
        r->cur_first[b] = 1;
        r->last_action[b] = ATTN_NO_ACTION;
        r->last_reward[b] = 0.0f;
    }
    return run_envs(r, env, 1);
}

attn_status attn_rollout_collect(attn_rollout *rollout, const attn_model *model, const attn_env *env,
                                 attn_act_mode mode)
{
    attn_status st = check_not_null(rollout, "rollout");
    if (st || (st = check_not_null(model, "model")) || (st = check_not_null(env, "env"))) return st;
    if (env->version != ATTN_ENV_VERSION)
        return fail(ATTN_ERR_INVALID, "env version %d, this library speaks %d (initialise with ATTN_ENV_INIT)",
                    env->version, ATTN_ENV_VERSION);
    if (!env->reset || !env->step) return fail(ATTN_ERR_NULL, "env->reset and env->step are required");
    if (mode != ATTN_ACT_SAMPLE && mode != ATTN_ACT_GREEDY) return fail(ATTN_ERR_INVALID, "unknown act mode %d", mode);
    if (memcmp(&model->d, &rollout->model->d, sizeof model->d) || model->cfg.obs_type != rollout->model->cfg.obs_type)
        return fail(ATTN_ERR_INVALID, "the model's configuration differs from the rollout's");
    /* The acting state belongs to the rollout's model; a same-shaped model acts through it. */
    rollout->act->model = model;
    rollout->valid = 0;
    rollout->finished = 0;
    if (!rollout->started && (st = start_all(rollout, env))) return st;
    for (int p = 0; p < 4; p++) attn_state_get(rollout->act, STATE_PARTS[p], rollout->init_state[p], rollout->init_size[p]);
    for (int t = 0; t < rollout->T && !st; t++) st = collect_step(rollout, model, env, mode, t);
    if (!st) st = peek_values(rollout, model, rollout->cur_first, rollout->last_action, rollout->last_reward);
    if (st) {
        /* Whatever stopped the unroll, the next collect starts every environment (and its state) afresh. */
        rollout->started = 0;
        return st;
    }
    memcpy(rollout->bootstrap, rollout->scratch_values, sizeof(float) * rollout->B);
    /* The bootstrap's observation, for hosts that read the view (T+1 observations per environment). */
    memcpy(obs_slot(rollout, rollout->obs, (size_t)rollout->T * rollout->B), rollout->cur_obs,
           (size_t)rollout->B * rollout->obs_elems * rollout->obs_elem_size);
    rollout->valid = 1;
    return ATTN_OK;
}
