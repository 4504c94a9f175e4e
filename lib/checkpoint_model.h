/* The model part every checkpoint file shares (docs/checkpoint.md): the "config" metadata, written, read and
 * compared through the public configuration API, and the weight tensors, checked and copied through the public
 * model API. Model checkpoints (checkpoint.c) and training checkpoints (training_checkpoint.c) both use it, so
 * a training checkpoint holds its model exactly as attn_model_save writes one. */
#ifndef ATTN_CHECKPOINT_MODEL_H
#define ATTN_CHECKPOINT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"
#include "json.h"
#include "safetensors.h"

#define CKPT_FORMAT_NAME "attnagent"
#define CKPT_FORMAT_VERSION "1"
/* Tensors under these prefixes belong to the trainer (optimizer slots; the rollout's and the environments'
 * state); the model loaders ignore them, whatever their dtype and shape. */
#define CKPT_OPTIM_PREFIX "optim."
#define CKPT_TRAIN_PREFIX "train."

/* The integer fields of the "config" object (obs_h ... core_units). */
#define CKPT_CONFIG_INTS 10

/* Everything the file says about the network (the thread count is a property of the machine, not the
 * network, and is not recorded). Read from a configuration through the getters, or from a file. */
typedef struct recorded_config {
    int ints[CKPT_CONFIG_INTS];
    int obs_type;
    int conv_layers;
    int conv[ATTN_MAX_CONV_LAYERS][4]; /* out, kernel, stride, pad */
    int mlp_layers[2];
    int mlp_hidden[2][ATTN_MAX_MLP_HIDDEN];
} recorded_config;

/* One parameter tensor as attn_model_tensor describes it, with its element count. */
typedef struct model_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
    size_t offset, numel;
} model_tensor;

/* Reads a configuration through the getters. */
attn_status ckpt_record_config(const attn_config *cfg, recorded_config *r);
/* The "config" metadata value: {"obs_h":10,...,"obs_type":"u8","conv":[[16,3,1,1]],...}. */
attn_status ckpt_config_json(const recorded_config *r, json_buf *b);
/* The same for a model's own configuration. */
attn_status ckpt_config_text(const attn_model *model, json_buf *config);
/* A configuration built from a file's record through the setters and validated; a refusal is the file's fault
 * (ATTN_ERR_FORMAT, naming `origin`). */
attn_status ckpt_build_config(const recorded_config *r, const char *origin, attn_config **out);
/* The first difference between the file's configuration and the model's, as ATTN_ERR_FORMAT. */
attn_status ckpt_compare_configs(const recorded_config *file, const recorded_config *model, const char *origin);

/* Opens `path` (ATTN_ERR_IO / ATTN_ERR_FORMAT as st_open) and checks "format", "format_version" and "config",
 * which it parses into *cfg. */
attn_status ckpt_open(const char *path, st_file **out, recorded_config *cfg);

/* Tensor `index` of the model, checked to lie inside the parameter array. */
attn_status ckpt_model_tensor(const attn_model *model, int index, model_tensor *t);
/* The index of the first NaN or infinity among `count` floats at `bytes` (any alignment), or `count`. */
size_t ckpt_first_nonfinite(const void *bytes, size_t count);
/* Non-zero for a tensor name under CKPT_OPTIM_PREFIX or CKPT_TRAIN_PREFIX. */
int ckpt_reserved_name(const char *name);
/* Fills tensors[0 .. attn_model_tensor_count) with the model's weights (pointing into its parameters), refusing
 * a non-finite one with ATTN_ERR_NONFINITE (naming `path`). */
attn_status ckpt_weight_tensors(const attn_model *model, const char *path, st_tensor *tensors);
/* Every tensor of the model is in `f`, F32, of exactly its shape, finite; nothing else is but reserved names. */
attn_status ckpt_check_weights(const attn_model *model, const st_file *f, const char *origin);
/* Copies what ckpt_check_weights approved into the model's parameters. */
attn_status ckpt_copy_weights(attn_model *model, const st_file *f);

#endif
