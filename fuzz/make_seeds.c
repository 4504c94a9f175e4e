/*
 * Writes the seed corpora of the checkpoint fuzz targets (fuzz/corpus/, committed; rerun to refresh after a
 * format change):  fuzz_make_seeds DIR  fills DIR/{model_load,training_load,safetensors}.
 *
 * Real files saved by the library from the fuzz network (fuzz_common.h) — a model, variants of its
 * configuration, training checkpoints before and after acting, with and without environment states and host
 * metadata — plus cut and edited copies, so the fuzzer starts next to every check the loaders make instead of
 * having to discover the format from nothing.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "fuzz_common.h"
#include "safetensors.h"

static const char *out_dir;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, attn_last_error());
    exit(1);
}

static char *path_of(const char *target, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s/%s", out_dir, target, name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die(path);
    fclose(f);
    *size = (size_t)n;
    return b;
}

static void spit(const char *target, const char *name, const unsigned char *b, size_t n)
{
    const char *path = path_of(target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) die(path);
}

/* Copies of a seed cut inside the length, the header and the data, and with one edit of the header each (the
 * length field rewritten to match, so the change reaches the checks behind the parser). */
static void variants(const char *target, const char *name, const char *const *edits, int n_edits)
{
    size_t n;
    unsigned char *b = slurp(path_of(target, name), &n);
    uint64_t header = 0;
    for (int i = 0; i < 8; i++) header |= (uint64_t)b[i] << (8 * i);
    const size_t cuts[] = {5, 8 + (size_t)header / 2, 8 + (size_t)header, 8 + (size_t)header + (n - 8 - header) / 2,
                           n - 1};
    char out[256];
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        snprintf(out, sizeof out, "%s.cut%zu", name, c);
        spit(target, out, b, cuts[c]);
    }
    for (int e = 0; e < n_edits; e++) {
        const char *from = edits[2 * e], *to = edits[2 * e + 1];
        const unsigned char *at = memmem(b + 8, (size_t)header, from, strlen(from));
        if (!at) die(from);
        /* Header with the edit, padded with spaces to a multiple of 8 as the writer does, then the same data. */
        size_t head = (size_t)(at - b) - 8, new_header = (size_t)header - strlen(from) + strlen(to);
        new_header += (8 - new_header % 8) % 8;
        unsigned char *copy = malloc(8 + new_header + (n - 8 - header));
        if (!copy) die("out of memory");
        for (int i = 0; i < 8; i++) copy[i] = (unsigned char)((uint64_t)new_header >> (8 * i));
        memset(copy + 8, ' ', new_header);
        memcpy(copy + 8, b + 8, head);
        memcpy(copy + 8 + head, to, strlen(to));
        size_t rest = (size_t)header - head - strlen(from);
        memcpy(copy + 8 + head + strlen(to), at + strlen(from), rest);
        memcpy(copy + 8 + new_header, b + 8 + header, n - 8 - header);
        snprintf(out, sizeof out, "%s.edit%d", name, e);
        spit(target, out, copy, 8 + new_header + (n - 8 - header));
        free(copy);
    }
    free(b);
}

static attn_model *small_model(int variant)
{
    attn_config *cfg;
    attn_model *m;
    if (fuzz_small_config(&cfg) != ATTN_OK) die("config");
    if (variant == 1) { /* two conv layers, no MLP hidden layers, float frames */
        if (attn_config_set(cfg, ATTN_CFG_CONV_LAYERS, 2) || attn_config_set_conv(cfg, 1, 4, 3, 2, 0) ||
            attn_config_set(cfg, ATTN_CFG_QUERY_LAYERS, 0) || attn_config_set(cfg, ATTN_CFG_ANSWER_LAYERS, 0) ||
            attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32))
            die("variant config");
    }
    if (attn_model_create(&m, cfg, 7) != ATTN_OK) die("model");
    attn_config_destroy(cfg);
    return m;
}

static const char *const model_edits[] = {
    /* "config" is JSON inside a JSON string, so its quotes are escaped in the header. */
    "\\\"num_actions\\\":3", "\\\"num_actions\\\":4", /* the weights no longer fit the configuration */
    "\\\"obs_type\\\":\\\"u8", "\\\"obs_type\\\":\\\"f8",
    "\"format_version\":\"1\"", "\"format_version\":\"2\"",
    "\"dtype\":\"F32\"", "\"dtype\":\"I32\"",
    "policy.bias", "policy.bia_",
    /* Each size in range, their products not in an int (the loader once crashed on the basis). */
    "\\\"basis_u\\\":2,\\\"basis_v\\\":2", "\\\"basis_u\\\":65536,\\\"basis_v\\\":65536",
    "\\\"obs_h\\\":5,\\\"obs_w\\\":5", "\\\"obs_h\\\":65536,\\\"obs_w\\\":65536",
};

static void model_seeds(void)
{
    attn_model *m = small_model(0), *v = small_model(1);
    if (attn_model_save(m, path_of("model_load", "model.safetensors")) ||
        attn_model_save(v, path_of("model_load", "variant.safetensors")))
        die("save");
    variants("model_load", "model.safetensors", model_edits, (int)(sizeof model_edits / sizeof *model_edits / 2));
    attn_model_destroy(m);
    attn_model_destroy(v);
}

/* Training checkpoints: before any collect (no environment state), after collects (with it), with host keys. */
static void training_seeds(void)
{
    attn_config *cfg;
    attn_model *model;
    attn_optimizer *opt;
    attn_rollout *ro;
    attn_learner *ln;
    attn_loss_config lc;
    fuzz_world w = {{0}};
    const attn_env env = fuzz_env(&w);
    attn_env no_saves = env;
    no_saves.save = NULL;
    no_saves.load = NULL;
    if (fuzz_small_config(&cfg) || attn_model_create(&model, cfg, 3) || attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM) ||
        attn_rollout_create(&ro, model, FUZZ_BATCH, FUZZ_UNROLL, 5) || attn_loss_config_init(&lc, ATTN_LOSS_A2C) ||
        attn_learner_create(&ln, model, &lc, FUZZ_BATCH, FUZZ_UNROLL))
        die("training objects");
    if (attn_training_save(path_of("training_load", "fresh.safetensors"), model, opt, ro, &env, NULL, NULL, 0))
        die("save fresh");
    attn_loss_stats stats;
    for (int i = 0; i < 3; i++)
        if (attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE) || attn_learner_update(ln, opt, ro, &stats))
            die("train");
    const char *keys[2] = {"updates", "run"}, *values[2] = {"3", "fuzz seed"};
    if (attn_training_save(path_of("training_load", "trained.safetensors"), model, opt, ro, &env, keys, values, 2) ||
        attn_training_save(path_of("training_load", "no_envs.safetensors"), model, opt, ro, &no_saves, NULL, NULL, 0))
        die("save trained");
    static const char *const edits[] = {
        "\"train.batch\":\"2\"", "\"train.batch\":\"3\"",
        "\"train.started\":\"1\"", "\"train.started\":\"0\"",
        "\"optim.kind\":\"adam\"", "\"optim.kind\":\"sgd\"",
        "\"train.version\":\"1\"", "\"train.version\":\"9\"",
        "\"dtype\":\"I32\"", "\"dtype\":\"F32\"",
        "\"dtype\":\"U8\"", "\"dtype\":\"I8\"",
    };
    variants("training_load", "trained.safetensors", edits, (int)(sizeof edits / sizeof *edits / 2));
    attn_learner_destroy(ln);
    attn_rollout_destroy(ro);
    attn_optimizer_destroy(opt);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* Small hand-built files for the bare reader: every dtype, empty and zero-sized tensors, metadata only. */
static void safetensors_seeds(void)
{
    static const float f32[3] = {1.0f, -2.0f, 0.5f};
    static const double f64[2] = {1e300, -0.0};
    static const int32_t i32[2] = {-1, 7};
    static const int64_t i64[1] = {INT64_MIN};
    static const uint8_t u8[5] = {0, 1, 2, 254, 255};
    const st_tensor all[] = {
        {"f32", ST_F32, 2, {1, 3}, f32, sizeof f32}, {"f64", ST_F64, 1, {2}, f64, sizeof f64},
        {"i32", ST_I32, 1, {2}, i32, sizeof i32},    {"i64", ST_I64, 0, {0}, i64, sizeof i64},
        {"u8", ST_U8, 3, {5, 1, 1}, u8, sizeof u8},  {"empty", ST_F32, 2, {0, 4}, NULL, 0},
    };
    const char *keys[2] = {"a", "\xc3\xa9t\xc3\xa9"}, *values[2] = {"b", "{\"json\": [1, 2]}"};
    if (st_write(path_of("safetensors", "dtypes.safetensors"), all, 6, keys, values, 2) ||
        st_write(path_of("safetensors", "meta_only.safetensors"), NULL, 0, keys, values, 2) ||
        st_write(path_of("safetensors", "empty.safetensors"), NULL, 0, NULL, NULL, 0))
        die("st_write");
    static const char *const edits[] = {
        "\"data_offsets\":[0,12]", "\"data_offsets\":[0,13]",
        "\"shape\":[1,3]", "\"shape\":[3,1]",
        "\"I64\"", "\"U64\"",
    };
    variants("safetensors", "dtypes.safetensors", edits, (int)(sizeof edits / sizeof *edits / 2));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (writes DIR/model_load, DIR/training_load, DIR/safetensors)\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    model_seeds();
    training_seeds();
    safetensors_seeds();
    return 0;
}
