#include "minatar_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int failed(minatar_env *e, int index, int status, const char *what)
{
    snprintf(e->error[index], sizeof e->error[index], "%s: %s", what, attn_minatar_status_str(status));
    return status;
}

static int env_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    minatar_env *e = ctx;
    int st = attn_minatar_reset(e->games[index], seed);
    if (st) return failed(e, index, st, "reset");
    e->steps[index] = 0;
    st = attn_minatar_observe(e->games[index], obs, (size_t)ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * e->channels);
    return st ? failed(e, index, st, "observe") : 0;
}

static int env_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    minatar_env *e = ctx;
    int st = attn_minatar_step(e->games[index], action, reward, terminated);
    if (st) return failed(e, index, st, "step");
    e->steps[index]++;
    *truncated = e->max_steps > 0 && e->steps[index] >= e->max_steps;
    st = attn_minatar_observe(e->games[index], obs, (size_t)ATTN_MINATAR_SIZE * ATTN_MINATAR_SIZE * e->channels);
    return st ? failed(e, index, st, "observe") : 0;
}

static int env_save(void *ctx, int index, void *buf, size_t cap, size_t *len)
{
    minatar_env *e = ctx;
    int st = attn_minatar_save(e->games[index], buf, cap > sizeof(int32_t) ? cap - sizeof(int32_t) : 0, len);
    if (st) return failed(e, index, st, "save");
    /* The episode's step count (for truncation) travels with the game. */
    if (buf) memcpy((char *)buf + *len, &e->steps[index], sizeof(int32_t));
    *len += sizeof(int32_t);
    return 0;
}

static int env_load(void *ctx, int index, const void *buf, size_t len)
{
    minatar_env *e = ctx;
    if (len < sizeof(int32_t)) return failed(e, index, ATTN_MINATAR_ERR_INVALID, "load");
    int32_t steps;
    memcpy(&steps, (const char *)buf + len - sizeof steps, sizeof steps);
    int st = attn_minatar_load(e->games[index], buf, len - sizeof steps);
    if (st) return failed(e, index, st, "load");
    e->steps[index] = steps;
    return 0;
}

static const char *env_error(void *ctx, int index) { return ((minatar_env *)ctx)->error[index]; }

int minatar_env_create(minatar_env *e, const char *game, int B, float sticky, int max_steps, char *err,
                       size_t err_size)
{
    memset(e, 0, sizeof *e);
    e->B = B;
    e->max_steps = max_steps;
    e->games = calloc((size_t)B, sizeof *e->games);
    e->steps = calloc((size_t)B, sizeof *e->steps);
    e->error = calloc((size_t)B, sizeof *e->error);
    if (!e->games || !e->steps || !e->error) {
        snprintf(err, err_size, "out of memory");
        minatar_env_destroy(e);
        return -1;
    }
    attn_minatar_options opts = ATTN_MINATAR_OPTIONS_INIT;
    if (sticky >= 0) opts.sticky_action_prob = sticky;
    for (int b = 0; b < B; b++) {
        int st = attn_minatar_create(&e->games[b], game, &opts, (uint64_t)b);
        if (st) {
            snprintf(err, err_size, "cannot create game \"%s\": %s", game, attn_minatar_status_str(st));
            minatar_env_destroy(e);
            return -1;
        }
    }
    attn_minatar_channels(e->games[0], &e->channels);
    attn_minatar_num_actions(e->games[0], &e->actions);
    return 0;
}

void minatar_env_destroy(minatar_env *e)
{
    if (e->games)
        for (int b = 0; b < e->B; b++) attn_minatar_destroy(e->games[b]);
    free(e->games);
    free(e->steps);
    free(e->error);
    memset(e, 0, sizeof *e);
}

attn_env minatar_env_callbacks(minatar_env *e)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = e;
    env.reset = env_reset;
    env.step = env_step;
    env.error = env_error;
    env.save = env_save;
    env.load = env_load;
    env.thread_safe = 1;
    return env;
}
