/* Model checkpoints: safetensors files holding every parameter tensor under its checkpoint name and the
 * configuration in the metadata (docs/checkpoint.md). The model part itself (configuration and weights) lives
 * in checkpoint_model.c, shared with the training checkpoints. */
#include <stdlib.h>

#include "attnagent/attnagent.h"
#include "checkpoint_model.h"
#include "errors.h"
#include "json.h"
#include "model.h"
#include "safetensors.h"

/* ---- Public API ------------------------------------------------------------------------------------------- */

attn_status attn_model_save(const attn_model *model, const char *path)
{
    attn_status st = check_not_null(model, "model");
    if (st != ATTN_OK || (st = check_not_null(path, "path")) != ATTN_OK) return st;

    json_buf config;
    json_buf_init(&config);
    if ((st = ckpt_config_text(model, &config)) != ATTN_OK) {
        json_buf_free(&config);
        return st;
    }

    int n = attn_model_tensor_count(model);
    st_tensor *tensors = calloc(n > 0 ? (size_t)n : 1, sizeof *tensors);
    if (!tensors) {
        json_buf_free(&config);
        return fail(ATTN_ERR_NOMEM, "out of memory saving %d tensors", n);
    }
    st = ckpt_weight_tensors(model, path, tensors);
    if (st == ATTN_OK) {
        const char *keys[3] = {"format", "format_version", "config"};
        const char *values[3] = {CKPT_FORMAT_NAME, CKPT_FORMAT_VERSION, config.data};
        st = st_write(path, tensors, n, keys, values, 3);
    }
    free(tensors);
    json_buf_free(&config);
    return st;
}

attn_status attn_model_load(attn_model **out, const char *path)
{
    attn_status st = check_not_null(out, "out");
    if (st != ATTN_OK) return st;
    *out = NULL;
    if ((st = check_not_null(path, "path")) != ATTN_OK) return st;

    st_file *f;
    recorded_config rc;
    if ((st = ckpt_open(path, &f, &rc)) != ATTN_OK) return st;
    attn_config *cfg = NULL;
    attn_model *model = NULL;
    st = ckpt_build_config(&rc, path, &cfg);
    /* The file's tensors are held against the model its configuration describes before that model is created:
     * a small file whose header declares a huge network is refused without allocating (or initialising) it. The
     * weights the file must then hold are no larger than the file, which st_open checked against its header. */
    attn_model *described = NULL;
    if (st == ATTN_OK && !(described = malloc(sizeof *described)))
        st = fail(ATTN_ERR_NOMEM, "out of memory loading %s", path);
    if (st == ATTN_OK) st = model_describe(described, cfg);
    if (st == ATTN_OK) st = ckpt_check_weights(described, f, path);
    free(described);
    if (st == ATTN_OK) st = attn_model_create(&model, cfg, 0);
    if (st == ATTN_OK) st = ckpt_copy_weights(model, f);
    attn_config_destroy(cfg);
    st_close(f);
    if (st != ATTN_OK) {
        attn_model_destroy(model);
        return st;
    }
    *out = model;
    return ATTN_OK;
}

attn_status attn_model_load_params(attn_model *model, const char *path)
{
    attn_status st = check_not_null(model, "model");
    if (st != ATTN_OK || (st = check_not_null(path, "path")) != ATTN_OK) return st;

    recorded_config have;
    if ((st = ckpt_record_config(attn_model_config(model), &have)) != ATTN_OK) return st;
    st_file *f;
    recorded_config rc;
    if ((st = ckpt_open(path, &f, &rc)) != ATTN_OK) return st;
    st = ckpt_compare_configs(&rc, &have, path);
    if (st == ATTN_OK) st = ckpt_check_weights(model, f, path);
    if (st == ATTN_OK) st = ckpt_copy_weights(model, f);
    st_close(f);
    return st;
}
