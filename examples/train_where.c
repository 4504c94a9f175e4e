/* A host program that trains the agent on an environment of its own through the training API, and prints the
 * learning curve. The task, "where": a 6×6 frame shows one lit cell in channel 0 (the target) among three lit
 * cells in channel 1 (distractors); the agent must answer with the quadrant of the target (4 actions) and gets
 * +1 if right, 0 if wrong; every episode is one step. Chance is 0.25. It needs the attention to find the target
 * and the spatial basis to say where it is. At the end it shows one frame and where each query looks.
 *
 *   train_where [updates] [seed]
 *
 * Output: one line per 10 updates, "update N frames F success-rate X mean-return R" over the episodes of those
 * updates (actions sampled, as in training), then the greedy policy's success rate on 512 fresh episodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"

#define CHECK(call)                                                                                              \
    do {                                                                                                         \
        attn_status st_ = (call);                                                                                \
        if (st_ != ATTN_OK) {                                                                                    \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, attn_status_str(st_), attn_last_error());             \
            exit(1);                                                                                             \
        }                                                                                                        \
    } while (0)

enum { SIDE = 6, CHANNELS = 2, ACTIONS = 4, DISTRACTORS = 3, BATCH = 16, UNROLL = 4, QUERIES = 2 };

/* ---- The environment: B copies behind callbacks, each touching only its own slot ---- */

typedef struct where_slot {
    uint64_t rng;
    int target; /* the rewarded action: quadrant of the target cell */
} where_slot;

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Draws a frame: the target and the distractors on distinct cells. */
static int where_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    where_slot *s = (where_slot *)ctx + index;
    uint8_t *frame = obs;
    memset(frame, 0, SIDE * SIDE * CHANNELS);
    s->rng = seed;
    int cells[1 + DISTRACTORS];
    for (int k = 0; k < 1 + DISTRACTORS; k++) {
        int taken;
        do {
            cells[k] = (int)(next_random(&s->rng) % (SIDE * SIDE));
            taken = 0;
            for (int j = 0; j < k; j++) taken |= cells[j] == cells[k];
        } while (taken);
        frame[cells[k] * CHANNELS + (k == 0 ? 0 : 1)] = 1; /* binary planes: the model is configured for ATTN_OBS_U8_BINARY */
    }
    int y = cells[0] / SIDE, x = cells[0] % SIDE;
    s->target = (y >= SIDE / 2) * 2 + (x >= SIDE / 2);
    return 0;
}

static int where_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    where_slot *s = (where_slot *)ctx + index;
    *reward = action == s->target ? 1.0f : 0.0f;
    *terminated = 1;
    *truncated = 0;
    memset(obs, 0, SIDE * SIDE * CHANNELS);
    return 0;
}

/* The callbacks touch only their own index's slot, so the library may step the copies in parallel. */
static attn_env where_env(where_slot *slots)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = slots;
    env.reset = where_reset;
    env.step = where_step;
    env.thread_safe = 1;
    return env;
}

/* ---- Drawing ---- */

static char shade(float v, float peak)
{
    static const char ramp[] = " .:-=+*#%@";
    int i = peak > 0 ? (int)(v / peak * 9.0f + 0.5f) : 0;
    return ramp[i < 0 ? 0 : i > 9 ? 9 : i];
}

/* Shows one fresh frame (T target, d distractor), the greedy action, and each query's attention map. */
static void show_attention(attn_model *model, uint64_t seed)
{
    where_slot slot;
    uint8_t frame[SIDE * SIDE * CHANNELS];
    where_reset(&slot, 0, seed, frame);
    attn_state *state;
    CHECK(attn_state_create(&state, model, 1, 0));
    uint8_t first = 1;
    float logits[ACTIONS], value, maps[QUERIES * SIDE * SIDE];
    CHECK(attn_forward(model, state, ATTN_FORWARD_ACT, frame, sizeof frame, NULL, NULL, &first, logits, &value));
    CHECK(attn_get_maps(state, maps, sizeof maps / sizeof *maps));
    int best = 0;
    for (int a = 1; a < ACTIONS; a++)
        if (logits[a] > logits[best]) best = a;
    printf("\na fresh frame: target in quadrant %d, the agent answers %d\n", slot.target, best);
    printf("frame   ");
    for (int q = 0; q < QUERIES; q++) printf("  query %d", q);
    printf("\n");
    for (int y = 0; y < SIDE; y++) {
        printf("|");
        for (int x = 0; x < SIDE; x++) {
            const uint8_t *px = frame + (y * SIDE + x) * CHANNELS;
            putchar(px[0] ? 'T' : px[1] ? 'd' : '.');
        }
        printf("|");
        for (int q = 0; q < QUERIES; q++) {
            const float *m = maps + q * SIDE * SIDE;
            float peak = 0;
            for (int i = 0; i < SIDE * SIDE; i++) peak = m[i] > peak ? m[i] : peak;
            printf("  |");
            for (int x = 0; x < SIDE; x++) putchar(shade(m[y * SIDE + x], peak));
            printf("|");
        }
        printf("\n");
    }
    attn_state_destroy(state);
}

int main(int argc, char **argv)
{
    int updates = argc > 1 ? atoi(argv[1]) : 300;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;

    /* A small agent for a small world: one 3×3 conv keeps the 6×6 grid, so every grid cell is one pixel. */
    attn_config *cfg;
    CHECK(attn_config_create(&cfg, ATTN_PRESET_MINATAR));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_H, SIDE));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_W, SIDE));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_C, CHANNELS));
    CHECK(attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, ACTIONS));
    CHECK(attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_U8_BINARY)); /* frames are 0/1 planes */
    CHECK(attn_config_set_conv(cfg, 0, 8, 3, 1, 1));
    CHECK(attn_config_set(cfg, ATTN_CFG_LSTM_CHANNELS, 16));
    CHECK(attn_config_set(cfg, ATTN_CFG_KEY_CHANNELS, 4));
    CHECK(attn_config_set(cfg, ATTN_CFG_BASIS_U, 3));
    CHECK(attn_config_set(cfg, ATTN_CFG_BASIS_V, 3));
    CHECK(attn_config_set(cfg, ATTN_CFG_NUM_QUERIES, QUERIES));
    CHECK(attn_config_set_mlp_hidden(cfg, ATTN_MLP_QUERY, 0, 32));
    CHECK(attn_config_set_mlp_hidden(cfg, ATTN_MLP_ANSWER, 0, 64));
    CHECK(attn_config_set(cfg, ATTN_CFG_CORE_UNITS, 32));
    CHECK(attn_config_set(cfg, ATTN_CFG_THREADS, 1));
    attn_model *model;
    CHECK(attn_model_create(&model, cfg, seed));
    printf("libattnagent %s: training on the \"where\" task (%zu parameters, %d environments × %d steps per "
           "update, PPO, Adam lr 1e-3)\n",
           attn_version_string(), attn_model_param_count(model), BATCH, UNROLL);

    where_slot slots[BATCH];
    attn_env env = where_env(slots);

    attn_rollout *rollout;
    CHECK(attn_rollout_create(&rollout, model, BATCH, UNROLL, seed));
    attn_loss_config loss;
    CHECK(attn_loss_config_init(&loss, ATTN_LOSS_PPO));
    attn_learner *learner;
    CHECK(attn_learner_create(&learner, model, &loss, BATCH, UNROLL));
    attn_optimizer *opt;
    CHECK(attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM));
    CHECK(attn_optimizer_set(opt, ATTN_OPT_LR, 1e-3));

    float returns[BATCH * UNROLL];
    double sum = 0.0;
    int episodes = 0, successes = 0;
    for (int u = 1; u <= updates; u++) {
        CHECK(attn_rollout_collect(rollout, model, &env, ATTN_ACT_SAMPLE));
        int finished;
        CHECK(attn_rollout_finished(rollout, returns, NULL, BATCH * UNROLL, &finished));
        for (int i = 0; i < finished && i < BATCH * UNROLL; i++) {
            sum += returns[i];
            successes += returns[i] > 0.0f;
            episodes++;
        }
        attn_loss_stats stats;
        CHECK(attn_learner_update(learner, opt, rollout, &stats));
        if (u % 10 == 0 || u == updates) {
            printf("update %d frames %lld success-rate %.3f mean-return %.3f\n", u,
                   (long long)attn_rollout_frames(rollout), episodes ? (double)successes / episodes : 0.0,
                   episodes ? sum / episodes : 0.0);
            fflush(stdout);
            sum = 0.0;
            episodes = successes = 0;
        }
    }

    /* The greedy policy on fresh episodes: new environments, a new rollout with another seed. */
    where_slot eval_slots[BATCH];
    attn_env eval_env = where_env(eval_slots);
    attn_rollout *eval;
    CHECK(attn_rollout_create(&eval, model, BATCH, UNROLL, seed + 1000));
    int greedy_right = 0, greedy_total = 0;
    while (greedy_total < 512) {
        CHECK(attn_rollout_collect(eval, model, &eval_env, ATTN_ACT_GREEDY));
        int finished;
        CHECK(attn_rollout_finished(eval, returns, NULL, BATCH * UNROLL, &finished));
        for (int i = 0; i < finished && i < BATCH * UNROLL; i++) greedy_right += returns[i] > 0.0f;
        greedy_total += finished;
    }
    printf("greedy success-rate %.3f over %d fresh episodes (chance 0.25)\n", (double)greedy_right / greedy_total,
           greedy_total);
    show_attention(model, seed + 2000);

    attn_rollout_destroy(eval);
    attn_optimizer_destroy(opt);
    attn_learner_destroy(learner);
    attn_rollout_destroy(rollout);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    return 0;
}
