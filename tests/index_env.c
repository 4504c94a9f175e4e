#include "index_env.h"

#include <stdint.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void draw(const index_env *e, int index, float *obs)
{
    const uint64_t g = (uint64_t)(e->base + index), key = mix(g * 1000003u + (uint64_t)e->episode[index] * 7919u);
    for (int j = 0; j < INDEX_ENV_OBS_FLOATS; j++)
        obs[j] = (float)(mix(key + (uint64_t)e->t[index] * 131u + (uint64_t)j) >> 40) / (float)(1u << 24);
}

static int env_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    (void)seed; /* the library's seed depends on the local index: the task must not */
    index_env *e = ctx;
    if (index < 0 || index >= INDEX_ENV_MAX) return 1;
    e->t[index] = 0;
    draw(e, index, obs);
    return 0;
}

static int env_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    index_env *e = ctx;
    if (index < 0 || index >= INDEX_ENV_MAX) return 1;
    const int g = e->base + index, ep = e->episode[index];
    /* Rewards that depend on the action, so the policy gradient is not zero, and on the index, so the
     * environments differ. */
    *reward = action == (g + e->t[index]) % 3 ? 1.0f : -0.25f * (float)(g % 3);
    const int length = 2 + (g + ep) % 5, cut = (g + ep) % 4 == 0;
    e->t[index]++;
    *terminated = *truncated = 0;
    if (e->t[index] >= length) {
        if (cut) *truncated = 1;
        else *terminated = 1;
        e->episode[index]++;
    }
    draw(e, index, obs);
    return 0;
}

attn_env index_env_callbacks(index_env *e, int base)
{
    memset(e, 0, sizeof *e);
    e->base = base;
    attn_env env = ATTN_ENV_INIT;
    env.ctx = e;
    env.reset = env_reset;
    env.step = env_step;
    return env;
}
