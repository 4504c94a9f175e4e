/*
 * Shared by the bad-input tests (test_errors_*.c, test_nonfinite.c): checking one failing call, and a small
 * callback environment that can be told to fail, abort, or hand back a bad reward or observation.
 * docs/errors.md names, for every public function and class of bad input, the test case that proves it.
 */
#ifndef ATTN_TEST_ERRORS_H
#define ATTN_TEST_ERRORS_H

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"

/* ---- One failing call ------------------------------------------------------------------------------------ */

/* A message no call under test produces, planted before each checked call, so a failure that forgets to set
 * its own message is caught instead of passing on a stale one. */
static char errors_planted[512];

static inline void errors_plant(void)
{
    attn_config *c = NULL;
    assert_int_equal(attn_config_create(&c, (attn_preset)4242), ATTN_ERR_INVALID);
    snprintf(errors_planted, sizeof errors_planted, "%s", attn_last_error());
}

/* `got` must be `want`, with a fresh last error that contains `keyword` (may be NULL). */
static inline void errors_check(attn_status got, attn_status want, const char *keyword, const char *call)
{
    if (got != want)
        fail_msg("%s: status %d (%s), expected %d (%s); last error: \"%s\"", call, (int)got, attn_status_str(got),
                 (int)want, attn_status_str(want), attn_last_error());
    const char *msg = attn_last_error();
    if (!msg || msg[0] == '\0' || !strcmp(msg, errors_planted))
        fail_msg("%s: the failure did not set its own last error", call);
    if (keyword && !strstr(msg, keyword)) fail_msg("%s: last error \"%s\" does not mention \"%s\"", call, msg, keyword);
}

#define EXPECT_STATUS(call, want, keyword)                                                                     \
    do {                                                                                                       \
        errors_plant();                                                                                        \
        errors_check((call), (want), (keyword), #call);                                                        \
    } while (0)

static inline float *errors_copy_floats(const float *x, size_t n)
{
    float *c = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(c);
    if (n) memcpy(c, x, n * sizeof(float));
    return c;
}

/* ---- A callback environment with planted faults --------------------------------------------------------- */

#define ERRW_MAX_ENVS 8

/* Environment b lights one cell per step and ends its episode after 4 + b steps; reward 1 per step unless
 * `reward` overrides it. Faults are planted at (fault_env, fault_step): a callback return code, a bad reward or
 * a bad float observation. */
typedef struct errw {
    int side_h, side_w, channels, is_float;
    uint8_t lit;                   /* the byte of a lit cell: 255 for pixels, 1 for binary planes */
    int steps[ERRW_MAX_ENVS], resets[ERRW_MAX_ENVS];
    int fault_env, fault_step;     /* the step of that environment's episode the fault strikes at; -1: every */
    int reset_code, step_code;     /* returned by reset / step at the fault (0: none) */
    int save_code;                 /* returned by save for environment fault_env (0: none) */
    float fault_reward;            /* used at the fault when use_fault_reward */
    int use_fault_reward;
    int fault_obs_bad;             /* at the fault, write what the observation type forbids: a NaN float, a
                                      binary-plane byte of 255 */
    int fault_obs_huge;            /* at the fault, a float observation of FLT_MAX everywhere: finite, but far
                                      too large for the network's sums */
    float reward;                  /* the ordinary reward */
} errw;

static inline void errw_draw(const errw *w, int b, void *obs)
{
    const size_t n = (size_t)w->side_h * w->side_w * w->channels;
    const size_t lit = ((size_t)w->steps[b] * 7 + (size_t)b) % n;
    if (w->is_float) {
        float *o = obs;
        for (size_t i = 0; i < n; i++) o[i] = i == lit ? 1.0f : 0.0f;
    } else {
        uint8_t *o = obs;
        memset(o, 0, n);
        o[lit] = w->lit;
    }
}

static inline int errw_at_fault(const errw *w, int b)
{
    return b == w->fault_env && (w->fault_step < 0 || w->steps[b] == w->fault_step);
}

static inline int errw_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    (void)seed;
    errw *w = ctx;
    if (errw_at_fault(w, index) && w->reset_code) return w->reset_code;
    w->steps[index] = 0;
    w->resets[index]++;
    errw_draw(w, index, obs);
    return 0;
}

static inline int errw_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated,
                            int *truncated)
{
    (void)action;
    errw *w = ctx;
    const int fault = errw_at_fault(w, index);
    if (fault && w->step_code) return w->step_code;
    w->steps[index]++;
    errw_draw(w, index, obs);
    *reward = fault && w->use_fault_reward ? w->fault_reward : w->reward;
    if (fault && w->fault_obs_bad && w->is_float) ((float *)obs)[1] = NAN;
    if (fault && w->fault_obs_bad && !w->is_float && w->lit == 1) ((uint8_t *)obs)[1] = 255;
    if (fault && w->fault_obs_huge && w->is_float)
        for (int i = 0; i < w->side_h * w->side_w * w->channels; i++) ((float *)obs)[i] = FLT_MAX;
    *terminated = w->steps[index] >= 4 + index;
    *truncated = 0;
    return 0;
}

static inline const char *errw_error(void *ctx, int index)
{
    (void)ctx;
    (void)index;
    return "the planted fault";
}

static inline int errw_save(void *ctx, int index, void *buf, size_t cap, size_t *len)
{
    errw *w = ctx;
    if (index == w->fault_env && w->save_code) return w->save_code;
    *len = sizeof(int);
    if (buf) {
        if (cap < sizeof(int)) return 1;
        memcpy(buf, &w->steps[index], sizeof(int));
    }
    return 0;
}

static inline int errw_load(void *ctx, int index, const void *buf, size_t len)
{
    errw *w = ctx;
    if (len != sizeof(int)) return 1;
    memcpy(&w->steps[index], buf, sizeof(int));
    return 0;
}

/* A world matching `model`'s observations, with no faults planted. */
static inline attn_env errw_env(errw *w, const attn_model *model)
{
    memset(w, 0, sizeof *w);
    const attn_config *cfg = attn_model_config(model);
    int type;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &w->side_h);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &w->side_w);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &w->channels);
    attn_config_get(cfg, ATTN_CFG_OBS_TYPE, &type);
    w->is_float = type == ATTN_OBS_F32;
    w->lit = type == ATTN_OBS_U8_BINARY ? 1 : 255;
    w->fault_env = -1;
    w->reward = 1.0f;
    attn_env env = ATTN_ENV_INIT;
    env.ctx = w;
    env.reset = errw_reset;
    env.step = errw_step;
    env.error = errw_error;
    return env;
}

#endif
