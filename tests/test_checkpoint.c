/* Checkpoints: save → load round trips for every preset, a configuration written by hand as the PyTorch side
 * writes it, and every way a checkpoint can be wrong, each of which must be refused with ATTN_ERR_FORMAT
 * (or ATTN_ERR_IO) without touching the model it was loaded into. Malformed files are made by re-writing a real
 * checkpoint through the safetensors writer with one thing changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attnagent/attnagent.h"
#include "json.h"
#include "safetensors.h"
#include "test_util.h"

/* ---- Helpers ---------------------------------------------------------------------------------------------- */

static char ck_dir[256];

static int make_dir(void **state)
{
    (void)state;
    return scratch_dir_create(ck_dir, sizeof ck_dir, "attn_ck_");
}

static int remove_dir(void **state)
{
    (void)state;
    return scratch_dir_remove(ck_dir);
}

/* A path in the test directory; `slot` picks one of a few buffers so two paths can be alive at once. */
static const char *in_dir(const char *name, int slot)
{
    static char paths[3][600];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", ck_dir, name);
    return paths[slot];
}

static void expect_message(const char *fragment)
{
    if (!strstr(attn_last_error(), fragment))
        fail_msg("error message \"%s\" does not mention \"%s\"", attn_last_error(), fragment);
}

static attn_model *new_model(const attn_config *cfg, uint64_t seed)
{
    assert_non_null(cfg);
    attn_model *m = NULL;
    attn_status st = attn_model_create(&m, cfg, seed);
    if (st != ATTN_OK) fail_msg("attn_model_create: %s", attn_last_error());
    return m;
}

static attn_config *preset_config(attn_preset preset)
{
    attn_config *cfg = NULL;
    assert_int_equal(attn_config_create(&cfg, preset), ATTN_OK);
    attn_config_set(cfg, ATTN_CFG_THREADS, 1);
    return cfg;
}

static int config_value(const attn_config *cfg, attn_config_key key)
{
    int v;
    assert_int_equal(attn_config_get(cfg, key, &v), ATTN_OK);
    return v;
}

/* Every knob but the thread count, read through the public getters. */
static void assert_same_config(const attn_config *a, const attn_config *b)
{
    for (int k = ATTN_CFG_OBS_H; k <= ATTN_CFG_GRID_W; k++) {
        if (k == ATTN_CFG_THREADS) continue;
        if (config_value(a, (attn_config_key)k) != config_value(b, (attn_config_key)k))
            fail_msg("config key %d: %d vs %d", k, config_value(a, (attn_config_key)k),
                     config_value(b, (attn_config_key)k));
    }
    for (int l = 0; l < config_value(a, ATTN_CFG_CONV_LAYERS); l++) {
        int ca[4], cb[4];
        assert_int_equal(attn_config_get_conv(a, l, &ca[0], &ca[1], &ca[2], &ca[3]), ATTN_OK);
        assert_int_equal(attn_config_get_conv(b, l, &cb[0], &cb[1], &cb[2], &cb[3]), ATTN_OK);
        assert_memory_equal(ca, cb, sizeof ca);
    }
    const attn_config_key layers[2] = {ATTN_CFG_QUERY_LAYERS, ATTN_CFG_ANSWER_LAYERS};
    for (int m = 0; m < 2; m++)
        for (int l = 0; l < config_value(a, layers[m]); l++) {
            int wa, wb;
            assert_int_equal(attn_config_get_mlp_hidden(a, (attn_mlp)m, l, &wa), ATTN_OK);
            assert_int_equal(attn_config_get_mlp_hidden(b, (attn_mlp)m, l, &wb), ATTN_OK);
            assert_int_equal(wa, wb);
        }
}

static void assert_same_params(attn_model *a, attn_model *b)
{
    assert_int_equal(attn_model_param_count(a), attn_model_param_count(b));
    assert_int_equal(attn_model_tensor_count(a), attn_model_tensor_count(b));
    assert_memory_equal(attn_model_params(a), attn_model_params(b), attn_model_param_count(a) * sizeof(float));
}

/* A copy of a model's parameters, to prove later that a failed load left them alone. */
static float *snapshot(attn_model *m)
{
    size_t bytes = attn_model_param_count(m) * sizeof(float);
    float *copy = malloc(bytes);
    assert_non_null(copy);
    memcpy(copy, attn_model_params(m), bytes);
    return copy;
}

static void assert_params_are(attn_model *m, const float *expected)
{
    assert_memory_equal(attn_model_params(m), expected, attn_model_param_count(m) * sizeof(float));
}

/* `s` with its only occurrence of `from` replaced by `to` (malloc'd). */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (!at) fail_msg("\"%s\" not found in \"%s\"", from, s);
    assert_null(strstr(at + 1, from));
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    assert_non_null(out);
    size_t head = (size_t)(at - s);
    memcpy(out, s, head);
    strcpy(out + head, to);
    strcat(out, at + strlen(from));
    return out;
}

/* ---- Round trips ------------------------------------------------------------------------------------------ */

/* Save, load, load_params, save again: the parameters are bitwise identical throughout, the configuration is
 * equal, and the second file is byte for byte the first. */
static void check_round_trip(attn_config *cfg)
{
    attn_model *model = new_model(cfg, 1234);
    randomize_params(model, 99, 1.0f);
    const char *path = in_dir("model.safetensors", 0);
    assert_int_equal(attn_model_save(model, path), ATTN_OK);

    attn_model *loaded = NULL;
    if (attn_model_load(&loaded, path) != ATTN_OK) fail_msg("attn_model_load: %s", attn_last_error());
    assert_same_config(attn_model_config(model), attn_model_config(loaded));
    assert_same_params(model, loaded);
    /* The load really came from the file: a model built from seed 0 (what the loader creates) differs. */
    attn_model *fresh = new_model(cfg, 0);
    assert_true(memcmp(attn_model_params(fresh), attn_model_params(model),
                       attn_model_param_count(model) * sizeof(float)) != 0);
    assert_int_equal(attn_model_load_params(fresh, path), ATTN_OK);
    assert_same_params(model, fresh);

    const char *again = in_dir("again.safetensors", 1);
    assert_int_equal(attn_model_save(loaded, again), ATTN_OK);
    size_t n1, n2;
    unsigned char *b1 = read_file_bytes(path, &n1), *b2 = read_file_bytes(again, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    unlink(again);
    attn_model_destroy(fresh);
    attn_model_destroy(loaded);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

static void round_trip_minatar(void **state)
{
    (void)state;
    attn_config *cfg = preset_config(ATTN_PRESET_MINATAR);
    attn_config_set(cfg, ATTN_CFG_OBS_C, 4);
    attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, 3);
    check_round_trip(cfg);
}

static void round_trip_atari84(void **state)
{
    (void)state;
    check_round_trip(preset_config(ATTN_PRESET_ATARI84));
}

static void round_trip_atari(void **state)
{
    (void)state;
    check_round_trip(preset_config(ATTN_PRESET_ATARI));
}

/* Every knob away from its preset value, with no two equal where a swap could hide (U ≠ V, H ≠ W, ...). */
static void round_trip_unusual_config(void **state)
{
    (void)state;
    attn_config *cfg = preset_config(ATTN_PRESET_MINATAR);
    attn_config_set(cfg, ATTN_CFG_OBS_H, 9);
    attn_config_set(cfg, ATTN_CFG_OBS_W, 7);
    attn_config_set(cfg, ATTN_CFG_OBS_C, 2);
    attn_config_set(cfg, ATTN_CFG_OBS_TYPE, ATTN_OBS_F32);
    attn_config_set(cfg, ATTN_CFG_NUM_ACTIONS, 5);
    attn_config_set(cfg, ATTN_CFG_CONV_LAYERS, 2);
    attn_config_set_conv(cfg, 0, 6, 3, 1, 2);
    attn_config_set_conv(cfg, 1, 11, 4, 2, 1);
    attn_config_set(cfg, ATTN_CFG_LSTM_CHANNELS, 13);
    attn_config_set(cfg, ATTN_CFG_KEY_CHANNELS, 4);
    attn_config_set(cfg, ATTN_CFG_BASIS_U, 3);
    attn_config_set(cfg, ATTN_CFG_BASIS_V, 2);
    attn_config_set(cfg, ATTN_CFG_NUM_QUERIES, 3);
    attn_config_set(cfg, ATTN_CFG_CORE_UNITS, 17);
    attn_config_set(cfg, ATTN_CFG_QUERY_LAYERS, 0);
    attn_config_set(cfg, ATTN_CFG_ANSWER_LAYERS, 3);
    attn_config_set_mlp_hidden(cfg, ATTN_MLP_ANSWER, 0, 19);
    attn_config_set_mlp_hidden(cfg, ATTN_MLP_ANSWER, 1, 23);
    attn_config_set_mlp_hidden(cfg, ATTN_MLP_ANSWER, 2, 29);
    if (attn_config_validate(cfg) != ATTN_OK) fail_msg("test configuration invalid: %s", attn_last_error());
    check_round_trip(cfg);
}

/* The file holds exactly the model's tensors, in its order, float32, with its ranks (no padding dims of 1), and
 * the three metadata keys of the contract; the thread count is not recorded. Checked with the safetensors
 * reader, independently of the checkpoint loader. */
static void file_layout_is_the_contract(void **state)
{
    (void)state;
    attn_config *cfg = tiny_config();
    attn_config_set(cfg, ATTN_CFG_THREADS, 3);
    attn_model *model = new_model(cfg, 5);
    const char *path = in_dir("layout.safetensors", 0);
    assert_int_equal(attn_model_save(model, path), ATTN_OK);
    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    assert_int_equal(st_count(f), attn_model_tensor_count(model));
    for (int i = 0; i < st_count(f); i++) {
        const char *name;
        int ndim;
        int64_t shape[4];
        size_t offset;
        assert_int_equal(attn_model_tensor(model, i, &name, &ndim, shape, &offset), ATTN_OK);
        const st_tensor *t = st_get(f, i);
        assert_string_equal(t->name, name);
        assert_int_equal(t->dtype, ST_F32);
        assert_int_equal(t->ndim, ndim);
        size_t numel = 1;
        for (int d = 0; d < ndim; d++) {
            assert_true(t->shape[d] == shape[d]);
            numel *= (size_t)shape[d];
        }
        assert_int_equal(t->nbytes, numel * sizeof(float));
        assert_memory_equal(t->data, attn_model_params(model) + offset, t->nbytes);
    }
    assert_int_equal(st_meta_count(f), 3);
    assert_string_equal(st_meta(f, "format"), "attnagent");
    assert_string_equal(st_meta(f, "format_version"), "1");
    const char *config = st_meta(f, "config");
    assert_non_null(config);
    assert_null(strstr(config, "thread"));
    /* Every field, against the values tiny_config() sets (where no two knobs that could be swapped are equal). */
    json_doc *doc = NULL;
    assert_int_equal(json_parse(&doc, config, strlen(config), "config"), ATTN_OK);
    const json_value *root = json_root(doc);
    assert_int_equal(root->type, JSON_OBJECT);
    assert_int_equal(root->count, 14);
    static const struct {
        const char *key;
        int value;
    } ints[] = {{"obs_h", 6},         {"obs_w", 5},        {"obs_c", 3},   {"num_actions", 3}, {"lstm_channels", 6},
                {"key_channels", 2}, {"basis_u", 2},       {"basis_v", 3}, {"num_queries", 2}, {"core_units", 5}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const json_value *v = json_get(root, ints[i].key);
        if (!v || v->type != JSON_INT || v->integer != ints[i].value) fail_msg("config %s wrong", ints[i].key);
    }
    assert_string_equal(json_get(root, "obs_type")->string, "f32");
    const json_value *conv = json_get(root, "conv");
    assert_int_equal(conv->count, 2);
    const int want_conv[2][4] = {{4, 3, 1, 1}, {5, 2, 2, 1}};
    int l = 0;
    for (const json_value *layer = conv->child; layer; layer = layer->next, l++) {
        int k = 0;
        for (const json_value *v = layer->child; v; v = v->next, k++) assert_true(v->integer == want_conv[l][k]);
        assert_int_equal(k, 4);
    }
    const json_value *q = json_get(root, "query_hidden"), *a = json_get(root, "answer_hidden");
    assert_int_equal(q->count, 1);
    assert_true(q->child->integer == 7);
    assert_int_equal(a->count, 2);
    assert_true(a->child->integer == 9 && a->child->next->integer == 8);
    json_free(doc);
    st_close(f);

    /* A different thread count gives the same file. */
    attn_config_set(cfg, ATTN_CFG_THREADS, 1);
    attn_model *model1 = new_model(cfg, 5);
    const char *path1 = in_dir("layout1.safetensors", 1);
    assert_int_equal(attn_model_save(model1, path1), ATTN_OK);
    size_t n0, n1;
    unsigned char *b0 = read_file_bytes(path, &n0), *b1 = read_file_bytes(path1, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(b0, b1, n0);
    free(b0);
    free(b1);
    unlink(path);
    unlink(path1);
    attn_model_destroy(model);
    attn_model_destroy(model1);
    attn_config_destroy(cfg);
}

/* A checkpoint whose header was written the way Python's json.dumps writes it (spaces, its own key order) with
 * the minatar values of the specification's preset table, typed in here rather than produced by our writer. */
static void reads_a_python_style_config(void **state)
{
    (void)state;
    attn_config *cfg = preset_config(ATTN_PRESET_MINATAR);
    attn_model *model = new_model(cfg, 77);
    randomize_params(model, 3, 1.0f);
    const char *saved = in_dir("base.safetensors", 0);
    assert_int_equal(attn_model_save(model, saved), ATTN_OK);
    st_file *f = NULL;
    assert_int_equal(st_open(&f, saved), ATTN_OK);
    st_tensor tensors[64];
    int n = st_count(f);
    assert_true(n <= 64);
    for (int i = 0; i < n; i++) tensors[n - 1 - i] = *st_get(f, i); /* another tensor order, too */
    const char *keys[4] = {"config", "format_version", "format", "trainer"};
    const char *values[4] = {
        "{\"obs_type\": \"u8\", \"obs_h\": 10, \"obs_w\": 10, \"obs_c\": 6, \"num_actions\": 6, "
        "\"conv\": [[16, 3, 1, 1]], \"lstm_channels\": 32, \"key_channels\": 8, \"basis_u\": 4, \"basis_v\": 4, "
        "\"num_queries\": 4, \"query_hidden\": [128], \"answer_hidden\": [256], \"core_units\": 128}",
        "1", "attnagent", "{\"updates\": 10}"};
    const char *path = in_dir("python.safetensors", 1);
    assert_int_equal(st_write(path, tensors, n, keys, values, 4), ATTN_OK);
    st_close(f);

    attn_model *loaded = NULL;
    if (attn_model_load(&loaded, path) != ATTN_OK) fail_msg("attn_model_load: %s", attn_last_error());
    assert_same_config(cfg, attn_model_config(loaded));
    assert_same_params(model, loaded);
    unlink(path);
    unlink(saved);
    attn_model_destroy(loaded);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* ---- Malformed checkpoints -------------------------------------------------------------------------------- */

/* A real checkpoint of the tiny model taken apart, to be written back with one change. */
typedef struct parts {
    st_file *file;
    st_tensor tensors[64];
    int n;
    const char *keys[8];
    const char *values[8];
    int n_meta;
    attn_model *model;    /* the model that was saved */
    attn_model *target;   /* a model of the same configuration, other weights, for load_params */
    float *target_before; /* its parameters */
} parts;

static void take_apart(parts *p)
{
    memset(p, 0, sizeof *p);
    attn_config *cfg = tiny_config();
    p->model = new_model(cfg, 11);
    p->target = new_model(cfg, 12);
    attn_config_destroy(cfg);
    p->target_before = snapshot(p->target);
    const char *path = in_dir("whole.safetensors", 2);
    assert_int_equal(attn_model_save(p->model, path), ATTN_OK);
    assert_int_equal(st_open(&p->file, path), ATTN_OK);
    p->n = st_count(p->file);
    assert_true(p->n <= 60);
    for (int i = 0; i < p->n; i++) p->tensors[i] = *st_get(p->file, i);
    p->n_meta = st_meta_count(p->file);
    for (int i = 0; i < p->n_meta; i++) st_meta_entry(p->file, i, &p->keys[i], &p->values[i]);
}

static void free_parts(parts *p)
{
    st_close(p->file);
    attn_model_destroy(p->model);
    attn_model_destroy(p->target);
    free(p->target_before);
}

static int find_part(const parts *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->tensors[i].name, name) == 0) return i;
    fail_msg("no tensor %s", name);
    return -1;
}

static void set_meta(parts *p, const char *key, const char *value)
{
    for (int i = 0; i < p->n_meta; i++)
        if (strcmp(p->keys[i], key) == 0) {
            p->values[i] = value;
            return;
        }
    fail_msg("no metadata %s", key);
}

static void drop_meta(parts *p, const char *key)
{
    for (int i = 0; i < p->n_meta; i++)
        if (strcmp(p->keys[i], key) == 0) {
            p->keys[i] = p->keys[p->n_meta - 1];
            p->values[i] = p->values[p->n_meta - 1];
            p->n_meta--;
            return;
        }
    fail_msg("no metadata %s", key);
}

/* Writes the parts and expects both loaders to refuse them with `status` and a message containing `fragment`
 * (for load_params `params_fragment`, if not NULL), the target model untouched. */
static void expect_refused_as(const parts *p, attn_status status, const char *fragment, const char *params_fragment)
{
    const char *path = in_dir("bad.safetensors", 0);
    if (st_write(path, p->tensors, p->n, p->keys, p->values, p->n_meta) != ATTN_OK)
        fail_msg("st_write: %s", attn_last_error());
    attn_model *loaded = (attn_model *)&loaded;
    attn_status st = attn_model_load(&loaded, path);
    if (st != status) fail_msg("attn_model_load: status %d (%s), expected %d", (int)st, attn_last_error(), (int)status);
    assert_null(loaded);
    expect_message(fragment);
    st = attn_model_load_params(p->target, path);
    if (st != status)
        fail_msg("attn_model_load_params: status %d (%s), expected %d", (int)st, attn_last_error(), (int)status);
    expect_message(params_fragment ? params_fragment : fragment);
    assert_params_are(p->target, p->target_before);
    unlink(path);
}

static void expect_refused(const parts *p, const char *fragment)
{
    expect_refused_as(p, ATTN_ERR_FORMAT, fragment, NULL);
}

static void unmodified_parts_load(void **state)
{
    (void)state;
    parts p;
    take_apart(&p);
    const char *path = in_dir("same.safetensors", 0);
    assert_int_equal(st_write(path, p.tensors, p.n, p.keys, p.values, p.n_meta), ATTN_OK);
    assert_int_equal(attn_model_load_params(p.target, path), ATTN_OK);
    assert_same_params(p.model, p.target);
    unlink(path);
    free_parts(&p);
}

static void refuses_missing_and_extra_tensors(void **state)
{
    (void)state;
    parts p;
    take_apart(&p);
    int i = find_part(&p, "core.bias");
    p.tensors[i] = p.tensors[--p.n];
    expect_refused(&p, "tensor \"core.bias\" is missing");
    free_parts(&p);

    take_apart(&p);
    p.tensors[p.n] = p.tensors[0];
    p.tensors[p.n++].name = "vision.conv9.weight";
    expect_refused(&p, "unexpected tensor \"vision.conv9.weight\"");
    p.tensors[p.n - 1].name = "optim"; /* the prefix is "optim.", not "optim" */
    expect_refused(&p, "unexpected tensor \"optim\"");
    free_parts(&p);
}

/* Optimizer slots belong to the trainer: a model load ignores them. */
static void accepts_optimizer_slots(void **state)
{
    (void)state;
    parts p;
    take_apart(&p);
    int n = p.n;
    char names[2][64];
    for (int k = 0; k < 2; k++) {
        snprintf(names[k], sizeof names[k], "optim.%s.%s", k ? "v" : "m", p.tensors[k].name);
        p.tensors[p.n] = p.tensors[k];
        p.tensors[p.n++].name = names[k];
    }
    /* Slots may be of any dtype and shape: they are not the model's business. */
    static const int64_t step[1] = {0};
    p.tensors[p.n++] = (st_tensor){"optim.step", ST_I64, 1, {1}, step, 8};
    assert_true(p.n == n + 3);
    const char *path = in_dir("optim.safetensors", 0);
    assert_int_equal(st_write(path, p.tensors, p.n, p.keys, p.values, p.n_meta), ATTN_OK);
    assert_int_equal(attn_model_load_params(p.target, path), ATTN_OK);
    assert_same_params(p.model, p.target);
    attn_model *loaded = NULL;
    assert_int_equal(attn_model_load(&loaded, path), ATTN_OK);
    assert_same_params(p.model, loaded);
    attn_model_destroy(loaded);
    unlink(path);
    free_parts(&p);
}

static void refuses_wrong_shapes_and_dtypes(void **state)
{
    (void)state;
    parts p;
    take_apart(&p);
    /* Same bytes, other shapes: the safetensors layer is content, the checkpoint must not be. */
    int w = find_part(&p, "core.weight_hh"); /* [4·5, 5] */
    st_tensor saved = p.tensors[w];
    p.tensors[w].shape[0] = saved.shape[1];
    p.tensors[w].shape[1] = saved.shape[0];
    expect_refused(&p, "tensor \"core.weight_hh\" has shape [5, 20], the model's is [20, 5]");
    p.tensors[w].ndim = 1;
    p.tensors[w].shape[0] = saved.shape[0] * saved.shape[1];
    expect_refused(&p, "has shape [100], the model's is [20, 5]");
    p.tensors[w].ndim = 3;
    p.tensors[w].shape[0] = saved.shape[0];
    p.tensors[w].shape[1] = saved.shape[1];
    p.tensors[w].shape[2] = 1;
    expect_refused(&p, "has shape [20, 5, 1], the model's is [20, 5]");
    p.tensors[w] = saved;
    p.tensors[w].dtype = ST_I32;
    expect_refused(&p, "tensor \"core.weight_hh\" is I32, expected F32");
    p.tensors[w] = saved;
    /* A smaller tensor than the model's. */
    p.tensors[w].shape[0] = saved.shape[0] - 1;
    p.tensors[w].nbytes = saved.nbytes - (size_t)saved.shape[1] * 4;
    expect_refused(&p, "has shape [19, 5]");
    free_parts(&p);
}

static void refuses_non_finite_weights(void **state)
{
    (void)state;
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        parts p;
        take_apart(&p);
        int w = find_part(&p, "answer.fc1.weight");
        float *copy = malloc(p.tensors[w].nbytes);
        assert_non_null(copy);
        memcpy(copy, p.tensors[w].data, p.tensors[w].nbytes);
        copy[13] = bad[k];
        p.tensors[w].data = copy;
        expect_refused(&p, "tensor \"answer.fc1.weight\" has a non-finite value at element 13");
        free(copy);
        free_parts(&p);
    }
}

static void refuses_bad_metadata(void **state)
{
    (void)state;
    parts p;
    take_apart(&p);
    set_meta(&p, "format", "safetensors");
    expect_refused(&p, "not an attnagent checkpoint (metadata \"format\" is \"safetensors\")");
    drop_meta(&p, "format");
    expect_refused(&p, "not an attnagent checkpoint (the metadata has no \"format\")");
    free_parts(&p);

    take_apart(&p);
    set_meta(&p, "format_version", "2");
    expect_refused(&p, "format_version \"2\" is not supported");
    drop_meta(&p, "format_version");
    expect_refused(&p, "the metadata has no \"format_version\"");
    free_parts(&p);

    take_apart(&p);
    drop_meta(&p, "config");
    expect_refused(&p, "no \"config\"");
    free_parts(&p);

    /* Other metadata (a trainer's counters) is allowed. */
    take_apart(&p);
    p.keys[p.n_meta] = "updates";
    p.values[p.n_meta++] = "1000";
    const char *path = in_dir("extra-meta.safetensors", 0);
    assert_int_equal(st_write(path, p.tensors, p.n, p.keys, p.values, p.n_meta), ATTN_OK);
    assert_int_equal(attn_model_load_params(p.target, path), ATTN_OK);
    unlink(path);
    free_parts(&p);
}

/* The config metadata with `from` replaced by `to`, written and refused with `fragment` by attn_model_load and
 * `params_fragment` by attn_model_load_params. */
static void expect_config_refused(const char *from, const char *to, const char *fragment, const char *params_fragment)
{
    parts p;
    take_apart(&p);
    char *config = replace_once(st_meta(p.file, "config"), from, to);
    set_meta(&p, "config", config);
    expect_refused_as(&p, ATTN_ERR_FORMAT, fragment, params_fragment);
    free(config);
    free_parts(&p);
}

static void refuses_bad_configs(void **state)
{
    (void)state;
    /* Not JSON, or not the shape of a configuration. */
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":6,,", "config: expected a string key", NULL);
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":6.0,", "only integers", NULL);
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":\"6\",", "config \"obs_h\" is missing or not an integer", NULL);
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":4294967302,", "\"obs_h\" is missing or not an integer", NULL);
    expect_config_refused("\"obs_h\":6,", "", "\"obs_h\" is missing", NULL);
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":6,\"threads\":2,", "unknown config field \"threads\"", NULL);
    expect_config_refused("\"obs_h\":6,", "\"obs_h\":6,\"obs_h\":6,", "duplicate key \"obs_h\"", NULL);
    expect_config_refused("\"obs_type\":\"f32\"", "\"obs_type\":\"u16\"", "\"obs_type\" must be", NULL);
    expect_config_refused("\"obs_type\":\"f32\"", "\"obs_type\":1", "\"obs_type\" must be", NULL);
    expect_config_refused("[[4,3,1,1],[5,2,2,1]]", "[[4,3,1],[5,2,2,1]]", "conv[0] is not [out, kernel", NULL);
    expect_config_refused("[[4,3,1,1],[5,2,2,1]]", "[]", "\"conv\" has 0 entries, 1 to 4", NULL);
    expect_config_refused("[[4,3,1,1],[5,2,2,1]]", "[[4,3,1,1],[5,2,2,1],[5,1,1,0],[5,1,1,0],[5,1,1,0]]",
                          "\"conv\" has 5 entries", NULL);
    expect_config_refused("\"answer_hidden\":[9,8]", "\"answer_hidden\":[9,8,1,1,1]", "\"answer_hidden\" has 5", NULL);
    expect_config_refused("\"answer_hidden\":[9,8]", "\"answer_hidden\":9", "\"answer_hidden\" is missing or not an",
                          NULL);

    /* Well-formed, but not a valid configuration: refused by the configuration's own checks on load, and as
     * a mismatch with the model by load_params. */
    expect_config_refused("\"num_actions\":3", "\"num_actions\":0", "config num_actions refused",
                          "the file's num_actions is 0, the model's is 3");
    expect_config_refused("\"key_channels\":2", "\"key_channels\":6", "config as a whole refused",
                          "the file's key_channels is 6, the model's is 2");
    expect_config_refused("[[4,3,1,1],[5,2,2,1]]", "[[4,3,1,1],[5,2,2,9]]", "config conv[1] refused",
                          "the file's conv[1] pad is 9, the model's is 1");

    /* Valid, but another network than the weights: the shapes say so on load, the configuration on load_params. */
    expect_config_refused("\"num_actions\":3", "\"num_actions\":4", "has shape",
                          "the file's num_actions is 4, the model's is 3");
    expect_config_refused("\"query_hidden\":[7]", "\"query_hidden\":[]", "tensor \"query.fc0.weight\" has shape",
                          "the file's number of query_hidden layers is 0, the model's is 1");
    expect_config_refused("\"answer_hidden\":[9,8]", "\"answer_hidden\":[9,7]", "has shape",
                          "the file's answer_hidden[1] is 7, the model's is 8");
}

static void load_params_requires_the_same_config(void **state)
{
    (void)state;
    /* The observation type changes no tensor: load builds the file's network, load_params refuses it. */
    parts p;
    take_apart(&p);
    char *config = replace_once(st_meta(p.file, "config"), "\"obs_type\":\"f32\"", "\"obs_type\":\"u8\"");
    set_meta(&p, "config", config);
    const char *u8_path = in_dir("u8.safetensors", 0);
    assert_int_equal(st_write(u8_path, p.tensors, p.n, p.keys, p.values, p.n_meta), ATTN_OK);
    attn_model *loaded = NULL;
    assert_int_equal(attn_model_load(&loaded, u8_path), ATTN_OK);
    assert_int_equal(config_value(attn_model_config(loaded), ATTN_CFG_OBS_TYPE), ATTN_OBS_U8);
    assert_same_params(p.model, loaded);
    assert_int_equal(attn_model_load_params(p.target, u8_path), ATTN_ERR_FORMAT);
    expect_message("the file's obs_type is u8, the model's is f32");
    assert_params_are(p.target, p.target_before);
    attn_model_destroy(loaded);
    unlink(u8_path);
    free(config);
    free_parts(&p);

    /* Another preset altogether. */
    attn_config *cfg = preset_config(ATTN_PRESET_ATARI84);
    attn_model *big = new_model(cfg, 1);
    const char *path = in_dir("atari84.safetensors", 0);
    assert_int_equal(attn_model_save(big, path), ATTN_OK);
    attn_config *small_cfg = tiny_config();
    attn_model *small = new_model(small_cfg, 2);
    float *before = snapshot(small);
    assert_int_equal(attn_model_load_params(small, path), ATTN_ERR_FORMAT);
    expect_message("the file's obs_h is 84, the model's is 6");
    assert_params_are(small, before);
    unlink(path);
    free(before);
    attn_model_destroy(small);
    attn_model_destroy(big);
    attn_config_destroy(small_cfg);
    attn_config_destroy(cfg);
}

/* Every prefix of a checkpoint is refused by both loaders, and load_params changes nothing. */
static void every_truncation_is_refused(void **state)
{
    (void)state;
    attn_config *cfg = tiny_config();
    attn_model *model = new_model(cfg, 21);
    attn_model *target = new_model(cfg, 22);
    float *before = snapshot(target);
    const char *path = in_dir("full.safetensors", 0);
    assert_int_equal(attn_model_save(model, path), ATTN_OK);
    size_t n;
    unsigned char *bytes = read_file_bytes(path, &n);
    const char *cut = in_dir("cut.safetensors", 1);
    for (size_t len = 0; len < n; len++) {
        write_file_bytes(cut, bytes, len);
        attn_model *loaded = (attn_model *)&loaded;
        attn_status st = attn_model_load(&loaded, cut);
        if (st != ATTN_ERR_FORMAT && st != ATTN_ERR_IO) fail_msg("load of %zu/%zu bytes: status %d", len, n, (int)st);
        assert_null(loaded);
        st = attn_model_load_params(target, cut);
        if (st != ATTN_ERR_FORMAT && st != ATTN_ERR_IO)
            fail_msg("load_params of %zu/%zu bytes: status %d", len, n, (int)st);
    }
    assert_params_are(target, before);
    /* The control: the whole file loads. */
    write_file_bytes(cut, bytes, n);
    assert_int_equal(attn_model_load_params(target, cut), ATTN_OK);
    assert_same_params(model, target);
    unlink(cut);
    unlink(path);
    free(bytes);
    free(before);
    attn_model_destroy(model);
    attn_model_destroy(target);
    attn_config_destroy(cfg);
}

/* ---- Saving ----------------------------------------------------------------------------------------------- */

static void save_failures_write_nothing(void **state)
{
    (void)state;
    attn_config *cfg = tiny_config();
    attn_model *model = new_model(cfg, 3);
    int entries = count_dir_entries(ck_dir);

    assert_int_equal(attn_model_save(model, in_dir("missing/dir/model.safetensors", 0)), ATTN_ERR_IO);
    expect_message("missing/dir/model.safetensors");
    assert_int_equal(count_dir_entries(ck_dir), entries);

    const char *dir = in_dir("is-a-directory", 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(attn_model_save(model, dir), ATTN_ERR_IO);
    assert_int_equal(count_dir_entries(ck_dir), entries + 1); /* the directory, and no temporary file */
    assert_int_equal(rmdir(dir), 0);

    /* A diverged model is not saved, and the good checkpoint at the path survives. */
    const char *path = in_dir("good.safetensors", 0);
    assert_int_equal(attn_model_save(model, path), ATTN_OK);
    size_t n_before;
    unsigned char *before = read_file_bytes(path, &n_before);
    attn_model *diverged = new_model(cfg, 4);
    attn_model_params(diverged)[attn_model_param_count(diverged) - 1] = NAN;
    assert_int_equal(attn_model_save(diverged, path), ATTN_ERR_NONFINITE);
    expect_message("non-finite");
    size_t n_after;
    unsigned char *after = read_file_bytes(path, &n_after);
    assert_int_equal(n_after, n_before);
    assert_memory_equal(after, before, n_before);
    assert_int_equal(count_dir_entries(ck_dir), entries + 1);
    unlink(path);
    free(before);
    free(after);
    attn_model_destroy(diverged);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

static void io_and_null_errors(void **state)
{
    (void)state;
    attn_config *cfg = tiny_config();
    attn_model *model = new_model(cfg, 3);
    const char *path = in_dir("null.safetensors", 0);
    assert_int_equal(attn_model_save(NULL, path), ATTN_ERR_NULL);
    assert_int_equal(attn_model_save(model, NULL), ATTN_ERR_NULL);
    attn_model *out = (attn_model *)&out;
    assert_int_equal(attn_model_load(NULL, path), ATTN_ERR_NULL);
    assert_int_equal(attn_model_load(&out, NULL), ATTN_ERR_NULL);
    assert_null(out);
    assert_int_equal(attn_model_load_params(NULL, path), ATTN_ERR_NULL);
    assert_int_equal(attn_model_load_params(model, NULL), ATTN_ERR_NULL);
    assert_false(access(path, F_OK) == 0);

    out = (attn_model *)&out;
    assert_int_equal(attn_model_load(&out, in_dir("absent.safetensors", 0)), ATTN_ERR_IO);
    assert_null(out);
    expect_message("absent.safetensors");
    assert_int_equal(attn_model_load_params(model, in_dir("absent.safetensors", 0)), ATTN_ERR_IO);
    /* Not a safetensors file at all. */
    write_file_bytes(path, "hello, world", 12);
    assert_int_equal(attn_model_load(&out, path), ATTN_ERR_FORMAT);
    unlink(path);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* Regression (found by fuzz/fuzz_model_load): sizes each within range whose products overflow an int — a
 * 65536×65536 grid, a 65536×65536 spatial basis — were multiplied in int (undefined behaviour; in practice a
 * wrapped, zero-sized grid or basis that validated). They are refused as too large, directly and from a file. */
static void refuses_configs_whose_sizes_overflow(void **state)
{
    (void)state;
    attn_config *cfg = preset_config(ATTN_PRESET_MINATAR);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_H, 65536), ATTN_OK);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_OBS_W, 65536), ATTN_OK);
    assert_int_equal(attn_config_validate(cfg), ATTN_ERR_INVALID);
    expect_message("configuration too large: the observation would hold 25769803776 elements");
    attn_config_destroy(cfg);

    expect_config_refused("\"basis_u\":2,\"basis_v\":3", "\"basis_u\":65536,\"basis_v\":65536",
                          "config as a whole refused: configuration too large",
                          "the file's basis_u is 65536, the model's is 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_minatar),
        cmocka_unit_test(round_trip_atari84),
        cmocka_unit_test(round_trip_atari),
        cmocka_unit_test(round_trip_unusual_config),
        cmocka_unit_test(file_layout_is_the_contract),
        cmocka_unit_test(reads_a_python_style_config),
        cmocka_unit_test(unmodified_parts_load),
        cmocka_unit_test(refuses_missing_and_extra_tensors),
        cmocka_unit_test(accepts_optimizer_slots),
        cmocka_unit_test(refuses_wrong_shapes_and_dtypes),
        cmocka_unit_test(refuses_non_finite_weights),
        cmocka_unit_test(refuses_bad_metadata),
        cmocka_unit_test(refuses_bad_configs),
        cmocka_unit_test(load_params_requires_the_same_config),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(save_failures_write_nothing),
        cmocka_unit_test(io_and_null_errors),
        cmocka_unit_test(refuses_configs_whose_sizes_overflow),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
