/* libFuzzer target: model checkpoints through the public loaders. Each input becomes a file, then
 * attn_model_load creates a model from it (any configuration the file declares) and attn_model_load_params
 * loads it into a fixed small model. A model that loads must also run: one forward step on a blank frame. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "checkpoint_model.h"
#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static attn_model *fixed;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A loaded model uses the default thread count; one thread keeps worker pools out of every input. */
    setenv("ATTN_NUM_THREADS", "1", 1);
    attn_config *cfg;
    if (fuzz_small_config(&cfg) != ATTN_OK || attn_model_create(&fixed, cfg, 1) != ATTN_OK) abort();
    attn_config_destroy(cfg);
    return 0;
}

static int config_value(const attn_model *m, attn_config_key key)
{
    int v = 0;
    if (attn_config_get(attn_model_config(m), key, &v) != ATTN_OK) abort();
    return v;
}

/* One acting step of a freshly loaded model on an all-zero frame. */
static void step_once(attn_model *m)
{
    const size_t elem = config_value(m, ATTN_CFG_OBS_TYPE) == ATTN_OBS_U8 ? 1 : sizeof(float);
    const size_t obs_bytes = (size_t)config_value(m, ATTN_CFG_OBS_H) * (size_t)config_value(m, ATTN_CFG_OBS_W) *
                             (size_t)config_value(m, ATTN_CFG_OBS_C) * elem;
    const int actions = config_value(m, ATTN_CFG_NUM_ACTIONS);
    void *obs = calloc(obs_bytes, 1);
    float *logits = malloc((size_t)actions * sizeof *logits), value, reward = 0.0f;
    int32_t action = ATTN_NO_ACTION;
    uint8_t first = 1;
    attn_state *s = NULL;
    if (!obs || !logits || attn_state_create(&s, m, 1, 0) != ATTN_OK) abort();
    /* Any finite weights are valid and may overflow, which the library reports as ATTN_ERR_NONFINITE; another
     * failure means the loader accepted a model the library itself cannot run. */
    attn_status st = attn_forward(m, s, ATTN_FORWARD_ACT, obs, obs_bytes, &reward, &action, &first, logits, &value);
    if (st != ATTN_OK && st != ATTN_ERR_NONFINITE) {
        fprintf(stderr, "a loaded model cannot step: %s\n", attn_last_error());
        abort();
    }
    attn_state_destroy(s);
    free(logits);
    free(obs);
}

/* A file may declare any network the configuration API accepts, and memory for the spatial basis and the
 * activations grows with the grid and the basis, not with the weights the file must hold: a valid 15 KiB file
 * can declare a 2000×2000 grid that needs gigabytes. Creating that model is what the loader is for (and it
 * reports ATTN_ERR_NOMEM when memory runs out), so such inputs are skipped rather than reported as the
 * fuzzer's out-of-memory "crashes"; the parsing and checks before model creation still run on them, below,
 * through attn_model_load_params. */
static int declares_a_huge_network(const char *path)
{
    st_file *f;
    recorded_config rc;
    if (ckpt_open(path, &f, &rc) != ATTN_OK) return 0;
    st_close(f);
    attn_config *cfg;
    if (ckpt_build_config(&rc, path, &cfg) != ATTN_OK) return 0;
    dims d;
    int huge = config_dims(cfg, &d) != ATTN_OK;
    attn_config_destroy(cfg);
    if (huge) return 1;
    const double cells_limit = 1 << 14, floats_limit = 1 << 24;
    huge = (double)d.H * d.W > cells_limit || (double)d.P * (d.cs + 9.0 * (d.F + d.L)) > floats_limit;
    for (int i = 0; i < d.nconv; i++)
        huge |= (double)d.oh[i] * d.ow[i] * d.cin[i] * d.k[i] * d.k[i] > floats_limit;
    return huge;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size);
    attn_model *m;
    if (!declares_a_huge_network(path) && attn_model_load(&m, path) == ATTN_OK) {
        step_once(m);
        attn_model_destroy(m);
    }
    (void)attn_model_load_params(fixed, path);
    return 0;
}
