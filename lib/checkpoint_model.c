/* The model part every checkpoint shares (checkpoint_model.h). Everything here goes through the public model
 * and configuration API, so the file format stays independent of how the model keeps its parameters. */
#include "checkpoint_model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* ---- The configuration as a checkpoint records it --------------------------------------------------------- */

/* The integer fields of the "config" object, in the order they are written. */
static const struct {
    const char *name;
    attn_config_key key;
} int_fields[] = {
    {"obs_h", ATTN_CFG_OBS_H},
    {"obs_w", ATTN_CFG_OBS_W},
    {"obs_c", ATTN_CFG_OBS_C},
    {"num_actions", ATTN_CFG_NUM_ACTIONS},
    {"lstm_channels", ATTN_CFG_LSTM_CHANNELS},
    {"key_channels", ATTN_CFG_KEY_CHANNELS},
    {"basis_u", ATTN_CFG_BASIS_U},
    {"basis_v", ATTN_CFG_BASIS_V},
    {"num_queries", ATTN_CFG_NUM_QUERIES},
    {"core_units", ATTN_CFG_CORE_UNITS},
};
#define N_INT_FIELDS ((int)(sizeof int_fields / sizeof int_fields[0]))
_Static_assert(N_INT_FIELDS == CKPT_CONFIG_INTS, "recorded_config holds every integer field");

static const struct {
    const char *name;
    attn_mlp mlp;
    attn_config_key layers;
} mlp_fields[2] = {
    {"query_hidden", ATTN_MLP_QUERY, ATTN_CFG_QUERY_LAYERS},
    {"answer_hidden", ATTN_MLP_ANSWER, ATTN_CFG_ANSWER_LAYERS},
};

static const char *const conv_params[4] = {"out", "kernel", "stride", "pad"};

static const char *const obs_type_names[] = {[ATTN_OBS_U8] = "u8", [ATTN_OBS_F32] = "f32",
                                             [ATTN_OBS_U8_BINARY] = "u8_binary"};
enum { N_OBS_TYPES = (int)(sizeof obs_type_names / sizeof *obs_type_names) };

attn_status ckpt_record_config(const attn_config *cfg, recorded_config *r)
{
    memset(r, 0, sizeof *r);
    attn_status st;
    for (int i = 0; i < N_INT_FIELDS; i++)
        if ((st = attn_config_get(cfg, int_fields[i].key, &r->ints[i])) != ATTN_OK) return st;
    if ((st = attn_config_get(cfg, ATTN_CFG_OBS_TYPE, &r->obs_type)) != ATTN_OK) return st;
    if ((st = attn_config_get(cfg, ATTN_CFG_CONV_LAYERS, &r->conv_layers)) != ATTN_OK) return st;
    if (r->conv_layers < 1 || r->conv_layers > ATTN_MAX_CONV_LAYERS)
        return fail(ATTN_ERR_INVALID, "the configuration has %d conv layers", r->conv_layers);
    for (int l = 0; l < r->conv_layers; l++) {
        int *c = r->conv[l];
        if ((st = attn_config_get_conv(cfg, l, &c[0], &c[1], &c[2], &c[3])) != ATTN_OK) return st;
    }
    for (int m = 0; m < 2; m++) {
        if ((st = attn_config_get(cfg, mlp_fields[m].layers, &r->mlp_layers[m])) != ATTN_OK) return st;
        if (r->mlp_layers[m] < 0 || r->mlp_layers[m] > ATTN_MAX_MLP_HIDDEN)
            return fail(ATTN_ERR_INVALID, "the configuration has %d %s layers", r->mlp_layers[m], mlp_fields[m].name);
        for (int l = 0; l < r->mlp_layers[m]; l++)
            if ((st = attn_config_get_mlp_hidden(cfg, mlp_fields[m].mlp, l, &r->mlp_hidden[m][l])) != ATTN_OK)
                return st;
    }
    if (r->obs_type < 0 || r->obs_type >= N_OBS_TYPES)
        return fail(ATTN_ERR_INVALID, "observation type %d has no checkpoint name", r->obs_type);
    return ATTN_OK;
}

static void write_int_array(json_buf *b, const int *v, int n)
{
    json_buf_raw(b, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i) json_buf_raw(b, ",", 1);
        json_buf_int(b, v[i]);
    }
    json_buf_raw(b, "]", 1);
}

static void write_key(json_buf *b, const char *key)
{
    json_buf_raw(b, ",", 1);
    json_buf_string(b, key);
    json_buf_raw(b, ":", 1);
}

/* {"obs_h":10,...,"obs_type":"u8","conv":[[16,3,1,1]],"query_hidden":[128],"answer_hidden":[256]} */
attn_status ckpt_config_json(const recorded_config *r, json_buf *b)
{
    json_buf_raw(b, "{", 1);
    for (int i = 0; i < N_INT_FIELDS; i++) {
        if (i) json_buf_raw(b, ",", 1);
        json_buf_string(b, int_fields[i].name);
        json_buf_raw(b, ":", 1);
        json_buf_int(b, r->ints[i]);
    }
    write_key(b, "obs_type");
    json_buf_string(b, obs_type_names[r->obs_type]);
    write_key(b, "conv");
    json_buf_raw(b, "[", 1);
    for (int l = 0; l < r->conv_layers; l++) {
        if (l) json_buf_raw(b, ",", 1);
        write_int_array(b, r->conv[l], 4);
    }
    json_buf_raw(b, "]", 1);
    for (int m = 0; m < 2; m++) {
        write_key(b, mlp_fields[m].name);
        write_int_array(b, r->mlp_hidden[m], r->mlp_layers[m]);
    }
    json_buf_raw(b, "}", 1);
    return json_buf_status(b);
}

static attn_status read_int(const json_value *v, const char *origin, const char *what, int *out)
{
    if (!v || v->type != JSON_INT || v->integer < INT_MIN || v->integer > INT_MAX)
        return fail(ATTN_ERR_FORMAT, "%s: config %s is missing or not an integer", origin, what);
    *out = (int)v->integer;
    return ATTN_OK;
}

/* An array of at most `max` elements (at least `min`) under `key`; its element count in *n. */
static attn_status read_array(const json_value *root, const char *origin, const char *key, int min, int max,
                              const json_value **arr, int *n)
{
    const json_value *a = json_get(root, key);
    if (!a || a->type != JSON_ARRAY)
        return fail(ATTN_ERR_FORMAT, "%s: config \"%s\" is missing or not an array", origin, key);
    if (a->count < (size_t)min || a->count > (size_t)max)
        return fail(ATTN_ERR_FORMAT, "%s: config \"%s\" has %zu entries, %d to %d supported", origin, key,
                    a->count, min, max);
    *arr = a;
    *n = (int)a->count;
    return ATTN_OK;
}

static int known_config_key(const char *key)
{
    for (int i = 0; i < N_INT_FIELDS; i++)
        if (strcmp(key, int_fields[i].name) == 0) return 1;
    return strcmp(key, "obs_type") == 0 || strcmp(key, "conv") == 0 || strcmp(key, mlp_fields[0].name) == 0 ||
           strcmp(key, mlp_fields[1].name) == 0;
}

/* Reads the "config" object: every field present, of its type, and nothing else, so a file from a newer writer
 * with knobs this library does not know is refused rather than silently built into another network. */
static attn_status read_config(const json_value *root, const char *origin, recorded_config *r)
{
    attn_status st;
    char name[64];
    if (root->type != JSON_OBJECT) return fail(ATTN_ERR_FORMAT, "%s: config is not a JSON object", origin);
    for (const json_value *m = root->child; m; m = m->next)
        if (!known_config_key(m->key)) return fail(ATTN_ERR_FORMAT, "%s: unknown config field \"%s\"", origin, m->key);
    for (int i = 0; i < N_INT_FIELDS; i++) {
        snprintf(name, sizeof name, "\"%s\"", int_fields[i].name);
        if ((st = read_int(json_get(root, int_fields[i].name), origin, name, &r->ints[i])) != ATTN_OK) return st;
    }

    const json_value *type = json_get(root, "obs_type");
    r->obs_type = -1;
    for (int t = 0; t < N_OBS_TYPES; t++)
        if (type && type->type == JSON_STRING && strcmp(type->string, obs_type_names[t]) == 0) r->obs_type = t;
    if (r->obs_type < 0) return fail(ATTN_ERR_FORMAT, "%s: config \"obs_type\" must be \"u8\", \"f32\" or \"u8_binary\"",
                                     origin);

    const json_value *arr = NULL;
    if ((st = read_array(root, origin, "conv", 1, ATTN_MAX_CONV_LAYERS, &arr, &r->conv_layers)) != ATTN_OK) return st;
    int l = 0;
    for (const json_value *layer = arr->child; layer; layer = layer->next, l++) {
        if (layer->type != JSON_ARRAY || layer->count != 4)
            return fail(ATTN_ERR_FORMAT, "%s: config conv[%d] is not [out, kernel, stride, pad]", origin, l);
        int p = 0;
        for (const json_value *v = layer->child; v; v = v->next, p++) {
            snprintf(name, sizeof name, "conv[%d] %s", l, conv_params[p]);
            if ((st = read_int(v, origin, name, &r->conv[l][p])) != ATTN_OK) return st;
        }
    }

    for (int m = 0; m < 2; m++) {
        st = read_array(root, origin, mlp_fields[m].name, 0, ATTN_MAX_MLP_HIDDEN, &arr, &r->mlp_layers[m]);
        if (st != ATTN_OK) return st;
        l = 0;
        for (const json_value *v = arr->child; v; v = v->next, l++) {
            snprintf(name, sizeof name, "%s[%d]", mlp_fields[m].name, l);
            if ((st = read_int(v, origin, name, &r->mlp_hidden[m][l])) != ATTN_OK) return st;
        }
    }
    return ATTN_OK;
}

static attn_status parse_config(const char *text, const char *origin, recorded_config *r)
{
    memset(r, 0, sizeof *r);
    char what[320];
    snprintf(what, sizeof what, "%s: config", origin);
    json_doc *doc;
    attn_status st = json_parse(&doc, text, strlen(text), what);
    if (st != ATTN_OK) return st;
    st = read_config(json_root(doc), origin, r);
    json_free(doc);
    return st;
}

/* A configuration call refused a value from the file: that is the file's fault, so ATTN_ERR_FORMAT, with the
 * configuration's own reason. */
static attn_status refused(const char *origin, const char *what)
{
    char reason[400];
    snprintf(reason, sizeof reason, "%s", attn_last_error()); /* fail() below overwrites it */
    return fail(ATTN_ERR_FORMAT, "%s: config %s refused: %s", origin, what, reason);
}

attn_status ckpt_build_config(const recorded_config *r, const char *origin, attn_config **out)
{
    attn_config *cfg;
    attn_status st = attn_config_create(&cfg, ATTN_PRESET_MINATAR);
    if (st != ATTN_OK) return st;
    char name[64];
    for (int i = 0; i < N_INT_FIELDS && st == ATTN_OK; i++)
        if (attn_config_set(cfg, int_fields[i].key, r->ints[i]) != ATTN_OK) st = refused(origin, int_fields[i].name);
    if (st == ATTN_OK && attn_config_set(cfg, ATTN_CFG_OBS_TYPE, r->obs_type) != ATTN_OK)
        st = refused(origin, "obs_type");
    if (st == ATTN_OK && attn_config_set(cfg, ATTN_CFG_CONV_LAYERS, r->conv_layers) != ATTN_OK)
        st = refused(origin, "conv layer count");
    for (int l = 0; l < r->conv_layers && st == ATTN_OK; l++) {
        const int *c = r->conv[l];
        if (attn_config_set_conv(cfg, l, c[0], c[1], c[2], c[3]) != ATTN_OK) {
            snprintf(name, sizeof name, "conv[%d]", l);
            st = refused(origin, name);
        }
    }
    for (int m = 0; m < 2 && st == ATTN_OK; m++) {
        if (attn_config_set(cfg, mlp_fields[m].layers, r->mlp_layers[m]) != ATTN_OK) {
            st = refused(origin, mlp_fields[m].name);
            break;
        }
        for (int l = 0; l < r->mlp_layers[m] && st == ATTN_OK; l++)
            if (attn_config_set_mlp_hidden(cfg, mlp_fields[m].mlp, l, r->mlp_hidden[m][l]) != ATTN_OK) {
                snprintf(name, sizeof name, "%s[%d]", mlp_fields[m].name, l);
                st = refused(origin, name);
            }
    }
    if (st == ATTN_OK && attn_config_validate(cfg) != ATTN_OK) st = refused(origin, "as a whole");
    if (st != ATTN_OK) {
        attn_config_destroy(cfg);
        return st;
    }
    *out = cfg;
    return ATTN_OK;
}

static attn_status mismatch(const char *origin, const char *what, int file, int model)
{
    return fail(ATTN_ERR_FORMAT, "%s: the file's %s is %d, the model's is %d", origin, what, file, model);
}

/* The first difference between the file's configuration and the model's, as ATTN_ERR_FORMAT. */
attn_status ckpt_compare_configs(const recorded_config *file, const recorded_config *model, const char *origin)
{
    char name[64];
    for (int i = 0; i < N_INT_FIELDS; i++)
        if (file->ints[i] != model->ints[i])
            return mismatch(origin, int_fields[i].name, file->ints[i], model->ints[i]);
    if (file->obs_type != model->obs_type)
        return fail(ATTN_ERR_FORMAT, "%s: the file's obs_type is %s, the model's is %s", origin,
                    obs_type_names[file->obs_type], obs_type_names[model->obs_type]);
    if (file->conv_layers != model->conv_layers)
        return mismatch(origin, "number of conv layers", file->conv_layers, model->conv_layers);
    for (int l = 0; l < file->conv_layers; l++)
        for (int p = 0; p < 4; p++)
            if (file->conv[l][p] != model->conv[l][p]) {
                snprintf(name, sizeof name, "conv[%d] %s", l, conv_params[p]);
                return mismatch(origin, name, file->conv[l][p], model->conv[l][p]);
            }
    for (int m = 0; m < 2; m++) {
        if (file->mlp_layers[m] != model->mlp_layers[m]) {
            snprintf(name, sizeof name, "number of %s layers", mlp_fields[m].name);
            return mismatch(origin, name, file->mlp_layers[m], model->mlp_layers[m]);
        }
        for (int l = 0; l < file->mlp_layers[m]; l++)
            if (file->mlp_hidden[m][l] != model->mlp_hidden[m][l]) {
                snprintf(name, sizeof name, "%s[%d]", mlp_fields[m].name, l);
                return mismatch(origin, name, file->mlp_hidden[m][l], model->mlp_hidden[m][l]);
            }
    }
    return ATTN_OK;
}

/* ---- Weights ---------------------------------------------------------------------------------------------- */

/* Tensor `index` of the model, checked to lie inside the parameter array before anything reads or writes it. */
attn_status ckpt_model_tensor(const attn_model *model, int index, model_tensor *t)
{
    attn_status st = attn_model_tensor(model, index, &t->name, &t->ndim, t->shape, &t->offset);
    if (st != ATTN_OK) return st;
    if (t->ndim < 0 || t->ndim > 4) return fail(ATTN_ERR_STATE, "model tensor %s has rank %d", t->name, t->ndim);
    size_t total = attn_model_param_count(model);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || (t->shape[d] > 0 && t->numel > total / (size_t)t->shape[d]))
            return fail(ATTN_ERR_STATE, "model tensor %s has an impossible shape", t->name);
        t->numel *= (size_t)t->shape[d];
    }
    if (t->offset > total || t->numel > total - t->offset)
        return fail(ATTN_ERR_STATE, "model tensor %s extends past the %zu parameters", t->name, total);
    return ATTN_OK;
}

/* The index of the first NaN or infinity among `count` floats at `bytes` (any alignment), or `count`. */
size_t ckpt_first_nonfinite(const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < count; i++) {
        float v;
        memcpy(&v, p + i * sizeof v, sizeof v);
        if (!isfinite(v)) return i;
    }
    return count;
}

/* Every tensor the model has is in the file as float32 of exactly its shape with finite values, and the file
 * holds nothing else but the trainer's tensors (ckpt_reserved_name). Only once this holds is anything copied, so
 * a failed load leaves the model as it was. */
attn_status ckpt_check_weights(const attn_model *model, const st_file *f, const char *origin)
{
    attn_status st;
    char want[96], got[96];
    int n = attn_model_tensor_count(model);
    for (int i = 0; i < n; i++) {
        model_tensor m;
        if ((st = ckpt_model_tensor(model, i, &m)) != ATTN_OK) return st;
        const st_tensor *t = st_find(f, m.name);
        if (!t) return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is missing", origin, m.name);
        if (t->dtype != ST_F32)
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is %s, expected F32", origin, m.name,
                        st_dtype_name(t->dtype));
        int same = t->ndim == m.ndim;
        for (int d = 0; same && d < m.ndim; d++) same = t->shape[d] == m.shape[d];
        if (!same)
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, the model's is %s", origin, m.name,
                        st_shape_text(t->shape, t->ndim, got, sizeof got),
                        st_shape_text(m.shape, m.ndim, want, sizeof want));
        size_t bad = ckpt_first_nonfinite(t->data, m.numel);
        if (bad < m.numel)
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" has a non-finite value at element %zu", origin, m.name,
                        bad);
    }
    for (int j = 0; j < st_count(f); j++) {
        const char *name = st_get(f, j)->name;
        int index;
        if (ckpt_reserved_name(name)) continue;
        if (attn_model_find_tensor(model, name, &index) != ATTN_OK)
            return fail(ATTN_ERR_FORMAT, "%s: unexpected tensor \"%s\" (the model has no such parameter)", origin,
                        name);
    }
    return ATTN_OK;
}

/* Copies what check_weights approved. */
attn_status ckpt_copy_weights(attn_model *model, const st_file *f)
{
    float *params = attn_model_params(model);
    int n = attn_model_tensor_count(model);
    for (int i = 0; i < n; i++) {
        model_tensor m;
        attn_status st = ckpt_model_tensor(model, i, &m);
        if (st != ATTN_OK) return st;
        memcpy(params + m.offset, st_find(f, m.name)->data, m.numel * sizeof(float));
    }
    return ATTN_OK;
}

/* Opens `path` and reads what a checkpoint must say about itself before its tensors mean anything. */
attn_status ckpt_open(const char *path, st_file **out, recorded_config *cfg)
{
    st_file *f;
    attn_status st = st_open(&f, path);
    if (st != ATTN_OK) return st;
    const char *format = st_meta(f, "format"), *version = st_meta(f, "format_version"), *config = st_meta(f, "config");
    if (!format)
        st = fail(ATTN_ERR_FORMAT, "%s: not an attnagent checkpoint (the metadata has no \"format\")", path);
    else if (strcmp(format, CKPT_FORMAT_NAME) != 0)
        st = fail(ATTN_ERR_FORMAT, "%s: not an attnagent checkpoint (metadata \"format\" is \"%s\")", path, format);
    else if (!version)
        st = fail(ATTN_ERR_FORMAT, "%s: the metadata has no \"format_version\"", path);
    else if (strcmp(version, CKPT_FORMAT_VERSION) != 0)
        st = fail(ATTN_ERR_FORMAT, "%s: checkpoint format_version \"%s\" is not supported (this library reads \"%s\")",
                  path, version, CKPT_FORMAT_VERSION);
    else if (!config)
        st = fail(ATTN_ERR_FORMAT, "%s: the metadata has no \"config\"", path);
    else
        st = parse_config(config, path, cfg);
    if (st != ATTN_OK) {
        st_close(f);
        return st;
    }
    *out = f;
    return ATTN_OK;
}

int ckpt_reserved_name(const char *name)
{
    return strncmp(name, CKPT_OPTIM_PREFIX, strlen(CKPT_OPTIM_PREFIX)) == 0 ||
           strncmp(name, CKPT_TRAIN_PREFIX, strlen(CKPT_TRAIN_PREFIX)) == 0;
}

attn_status ckpt_config_text(const attn_model *model, json_buf *config)
{
    recorded_config rc;
    attn_status st = ckpt_record_config(attn_model_config(model), &rc);
    if (st != ATTN_OK) return st;
    return ckpt_config_json(&rc, config);
}

attn_status ckpt_weight_tensors(const attn_model *model, const char *path, st_tensor *tensors)
{
    /* attn_model_params takes a mutable model only because it hands out a writable pointer; this reads. */
    const float *params = attn_model_params((attn_model *)model);
    int n = attn_model_tensor_count(model);
    for (int i = 0; i < n; i++) {
        model_tensor m;
        attn_status st = ckpt_model_tensor(model, i, &m);
        if (st != ATTN_OK) return st;
        /* A diverged model would make a file no loader accepts; refusing keeps the last good checkpoint. */
        size_t bad = ckpt_first_nonfinite(params + m.offset, m.numel);
        if (bad < m.numel)
            return fail(ATTN_ERR_NONFINITE, "not saving %s: tensor \"%s\" has a non-finite value at element %zu",
                        path, m.name, bad);
        st_tensor *t = &tensors[i];
        t->name = m.name;
        t->dtype = ST_F32;
        t->ndim = m.ndim;
        memcpy(t->shape, m.shape, sizeof m.shape);
        t->data = params + m.offset;
        t->nbytes = m.numel * sizeof(float);
    }
    return ATTN_OK;
}
