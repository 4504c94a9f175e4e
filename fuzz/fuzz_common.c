#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

attn_status fuzz_small_config(attn_config **out)
{
    attn_config *cfg;
    attn_status st = attn_config_create(&cfg, ATTN_PRESET_MINATAR);
    if (st != ATTN_OK) return st;
    const struct {
        attn_config_key key;
        int value;
    } knobs[] = {
        {ATTN_CFG_OBS_H, FUZZ_OBS},         {ATTN_CFG_OBS_W, FUZZ_OBS},       {ATTN_CFG_OBS_C, FUZZ_CHANNELS},
        {ATTN_CFG_NUM_ACTIONS, FUZZ_ACTIONS}, {ATTN_CFG_LSTM_CHANNELS, 6},    {ATTN_CFG_KEY_CHANNELS, 2},
        {ATTN_CFG_BASIS_U, 2},              {ATTN_CFG_BASIS_V, 2},            {ATTN_CFG_NUM_QUERIES, 2},
        {ATTN_CFG_CORE_UNITS, 8},           {ATTN_CFG_THREADS, 1},
    };
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0] && st == ATTN_OK; i++)
        st = attn_config_set(cfg, knobs[i].key, knobs[i].value);
    if (st == ATTN_OK) st = attn_config_set_conv(cfg, 0, 4, 3, 1, 1);
    if (st == ATTN_OK) st = attn_config_set_mlp_hidden(cfg, ATTN_MLP_QUERY, 0, 8);
    if (st == ATTN_OK) st = attn_config_set_mlp_hidden(cfg, ATTN_MLP_ANSWER, 0, 8);
    if (st == ATTN_OK) st = attn_config_validate(cfg);
    if (st != ATTN_OK) {
        attn_config_destroy(cfg);
        return st;
    }
    *out = cfg;
    return ATTN_OK;
}

static void draw(const fuzz_world *w, int index, void *obs)
{
    uint8_t *o = obs;
    memset(o, 0, FUZZ_OBS * FUZZ_OBS * FUZZ_CHANNELS);
    o[(w->t[index] % (FUZZ_OBS * FUZZ_OBS)) * FUZZ_CHANNELS] = 255;
}

static int env_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    fuzz_world *w = ctx;
    w->t[index] = seed % 7;
    draw(w, index, obs);
    return 0;
}

static int env_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    fuzz_world *w = ctx;
    w->t[index] += (uint64_t)action + 1;
    draw(w, index, obs);
    *reward = action == 1 ? 1.0f : 0.0f;
    *terminated = w->t[index] % 5 == 0;
    *truncated = 0;
    return 0;
}

static int env_save(void *ctx, int index, void *buf, size_t cap, size_t *len)
{
    const fuzz_world *w = ctx;
    *len = FUZZ_ENV_BYTES;
    if (!buf) return 0;
    if (cap < FUZZ_ENV_BYTES) return 1;
    for (int i = 0; i < FUZZ_ENV_BYTES; i++) ((uint8_t *)buf)[i] = (uint8_t)(w->t[index] >> (8 * i));
    return 0;
}

static int env_load(void *ctx, int index, const void *buf, size_t len)
{
    fuzz_world *w = ctx;
    if (len != FUZZ_ENV_BYTES) return 1;
    uint64_t t = 0;
    for (int i = 0; i < FUZZ_ENV_BYTES; i++) t |= (uint64_t)((const uint8_t *)buf)[i] << (8 * i);
    w->t[index] = t;
    return 0;
}

attn_env fuzz_env(fuzz_world *w)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = w;
    env.reset = env_reset;
    env.step = env_step;
    env.save = env_save;
    env.load = env_load;
    return env;
}

static char input_path[256];

static void remove_input_file(void) { unlink(input_path); }

const char *fuzz_input_file(const uint8_t *data, size_t size)
{
    /* $TMPDIR when set (scripts/fuzz.sh points it at a scratch directory on tmpfs that it removes afterwards,
     * so files of runs that crashed do not pile up), else tmpfs when there is one: a file per input costs a
     * few microseconds there. */
    char *path = input_path;
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof input_path, "%s/attn-fuzz-%ld.safetensors", dir, (long)getpid());
        atexit(remove_input_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}
