/* viewer_truth: the browser test's ground truth, computed without attn-play or the viewer's writer.
 *
 *   viewer_truth model OUT GAME SEED SCALE   an untrained minatar-preset model for GAME, attention sharpened
 *   viewer_truth play CKPT GAME SEED MAX_STEPS OUT
 *
 * `play` replays the episode attn-play plays for the same checkpoint, game and seed (greedy, the game's
 * default options, at most MAX_STEPS steps) and writes, as JSON, every step's observation bytes, action,
 * reward and attn_get_maps output, for the test to hold the page's pixels and data.js against. Run both with
 * the same ATTN_NUM_THREADS so the forward passes are bitwise alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "minatar.h"
#include "minatar_env.h"

static int failed(const char *what, attn_status st)
{
    fprintf(stderr, "viewer_truth: %s: %s\n  %s\n", what, attn_status_str(st), attn_last_error());
    return 1;
}

static int make_model(const char *out, const char *game_name, uint64_t seed, float scale)
{
    attn_minatar *game;
    int st = attn_minatar_create(&game, game_name, NULL, seed);
    if (st) {
        fprintf(stderr, "viewer_truth: game %s: %s\n", game_name, attn_minatar_status_str(st));
        return 1;
    }
    int C = 0, A = 0;
    attn_minatar_channels(game, &C);
    attn_minatar_num_actions(game, &A);
    attn_minatar_destroy(game);
    attn_config *cfg;
    attn_status s = attn_config_create(&cfg, ATTN_PRESET_MINATAR);
    if (s) return failed("config", s);
    if (!s) s = attn_config_set(cfg, ATTN_CFG_OBS_C, C);
    if (!s) s = attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, A);
    if (!s) s = attn_config_set(cfg, ATTN_CFG_OBS_TYPE, MINATAR_ENV_OBS_TYPE);
    attn_model *model = NULL;
    if (!s) s = attn_model_create(&model, cfg, seed);
    /* An untrained model's maps are nearly flat (the peak about 1% above the next cell), which a transposed
     * or shifted drawing would match as well as the right one; scaling the last query layer by `scale`
     * multiplies every attention logit, which gives the maps the structure a trained agent's have. The test
     * tries a few scales and keeps the one whose maps say most, so a change of initialisation does not weaken
     * it. */
    int index;
    if (!s) s = attn_model_find_tensor(model, "query.fc1.weight", &index);
    for (int k = 0; !s && k < 2; k++) {
        int64_t shape[4];
        size_t offset;
        s = attn_model_tensor(model, index + k, NULL, NULL, shape, &offset); /* the weight, then its bias */
        float *p = attn_model_params(model) + offset;
        for (int64_t i = 0; !s && i < shape[0] * shape[1] * shape[2] * shape[3]; i++) p[i] *= scale;
    }
    if (!s) s = attn_model_save(model, out);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    return s ? failed("model", s) : 0;
}

static int play(const char *ckpt, const char *game_name, uint64_t seed, int max_steps, const char *out_path)
{
    attn_model *model;
    attn_status s = attn_model_load(&model, ckpt);
    if (s) return failed("loading the checkpoint", s);
    const attn_config *cfg = attn_model_config(model);
    int H, W, C, A, N, gh, gw;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &H);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &A);
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &N);
    attn_config_get(cfg, ATTN_CFG_GRID_H, &gh);
    attn_config_get(cfg, ATTN_CFG_GRID_W, &gw);
    attn_minatar *game = NULL;
    attn_state *state = NULL;
    const size_t obs_bytes = (size_t)H * W * C, map_count = (size_t)N * gh * gw;
    uint8_t *obs = malloc(obs_bytes);
    float *logits = malloc(sizeof(float) * (size_t)A), *maps = malloc(sizeof(float) * map_count);
    FILE *out = fopen(out_path, "w");
    int rc = 1;
    if (!obs || !logits || !maps || !out) {
        fprintf(stderr, "viewer_truth: out of memory or cannot create %s\n", out_path);
        goto done;
    }
    int st = attn_minatar_create(&game, game_name, NULL, seed);
    if (st) {
        fprintf(stderr, "viewer_truth: game %s: %s\n", game_name, attn_minatar_status_str(st));
        goto done;
    }
    if ((s = attn_state_create(&state, model, 1, 0))) {
        failed("state", s);
        goto done;
    }
    fprintf(out, "{\"obs\": [%d, %d, %d], \"grid\": [%d, %d], \"queries\": %d, \"steps\": [\n", H, W, C, gh, gw, N);
    attn_minatar_observe(game, obs, obs_bytes);
    float reward = 0.0f, value;
    int32_t prev_action = ATTN_NO_ACTION;
    for (int t = 0, term = 0; !term && t < max_steps; t++) {
        uint8_t first = t == 0;
        if ((s = attn_forward(model, state, ATTN_FORWARD_ACT, obs, obs_bytes, &reward, &prev_action, &first, logits,
                              &value)) ||
            (s = attn_get_maps(state, maps, map_count))) {
            failed("step", s);
            goto done;
        }
        int action = 0; /* greedy, the first of equal logits, as attn-play chooses */
        for (int a = 1; a < A; a++)
            if (logits[a] > logits[action]) action = a;
        fprintf(out, "%s{\"obs\": [", t ? ",\n" : "");
        for (size_t i = 0; i < obs_bytes; i++) fprintf(out, "%s%d", i ? "," : "", obs[i]);
        fprintf(out, "], \"action\": %d, \"value\": %.9g, \"maps\": [", action, (double)value);
        for (size_t i = 0; i < map_count; i++) fprintf(out, "%s%.9g", i ? "," : "", (double)maps[i]);
        if ((st = attn_minatar_step(game, action, &reward, &term))) {
            fprintf(stderr, "viewer_truth: game step: %s\n", attn_minatar_status_str(st));
            goto done;
        }
        fprintf(out, "], \"reward\": %.9g}", (double)reward);
        attn_minatar_observe(game, obs, obs_bytes);
        prev_action = action;
    }
    fprintf(out, "\n]}\n");
    rc = 0;
done:
    if (out && fclose(out) && !rc) {
        fprintf(stderr, "viewer_truth: writing %s failed\n", out_path);
        rc = 1;
    }
    free(obs), free(logits), free(maps);
    attn_state_destroy(state);
    attn_minatar_destroy(game);
    attn_model_destroy(model);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "model"))
        return make_model(argv[2], argv[3], strtoull(argv[4], NULL, 10), strtof(argv[5], NULL));
    if (argc == 7 && !strcmp(argv[1], "play"))
        return play(argv[2], argv[3], strtoull(argv[4], NULL, 10), atoi(argv[5]), argv[6]);
    fprintf(stderr, "usage: viewer_truth model OUT GAME SEED SCALE | viewer_truth play CKPT GAME SEED MAX_STEPS OUT\n");
    return 2;
}
