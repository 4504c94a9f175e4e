/*
 * Training checkpoints (docs/checkpoint.md, "Training checkpoints"): one safetensors file that is first of all
 * a model checkpoint, written by the same code as attn_model_save (checkpoint_model.h), plus the optimizer, the
 * rollout's actor side and the environments' own bytes as tensors and metadata under the reserved prefixes
 * "optim." and "train.", which the model loaders skip. So attn_model_load opens a training checkpoint, and
 * attn_training_load refuses a plain model file.
 *
 * A load checks the whole file against the objects it is loaded into before it changes any of them. The
 * optimizer is reached through its public API only; the rollout through its internal struct (rollout.h).
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "checkpoint_model.h"
#include "errors.h"
#include "json.h"
#include "optim.h"
#include "rollout.h"
#include "safetensors.h"

#define TRAIN_VERSION "1"
#define ENV_PREFIX "train.env."
#define HOST_PREFIX "host."

static const char *const optim_kind_names[] = {
    [ATTN_OPTIM_RMSPROP] = "rmsprop",
    [ATTN_OPTIM_ADAM] = "adam",
    [ATTN_OPTIM_ADAMW] = "adamw",
    [ATTN_OPTIM_SGD] = "sgd",
};
#define N_OPTIM_KINDS ((int)(sizeof optim_kind_names / sizeof optim_kind_names[0]))

/* The metadata key of every attn_optim_param, indexed by it. */
static const char *const knob_keys[] = {
    [ATTN_OPT_LR] = "optim.lr",
    [ATTN_OPT_EPSILON] = "optim.epsilon",
    [ATTN_OPT_DECAY] = "optim.decay",
    [ATTN_OPT_MOMENTUM] = "optim.momentum",
    [ATTN_OPT_BETA1] = "optim.beta1",
    [ATTN_OPT_BETA2] = "optim.beta2",
    [ATTN_OPT_WEIGHT_DECAY] = "optim.weight_decay",
    [ATTN_OPT_MAX_GRAD_NORM] = "optim.max_grad_norm",
    [ATTN_OPT_LR_DECAY_STEPS] = "optim.lr_decay_steps",
    [ATTN_OPT_LR_END] = "optim.lr_end",
};
#define N_KNOBS ((int)(sizeof knob_keys / sizeof knob_keys[0]))
_Static_assert(N_KNOBS == ATTN_OPT_LR_END + 1, "every optimizer knob has a metadata key");

/* The other metadata keys under the reserved prefixes, all required. */
static const char *const scalar_keys[] = {
    "train.version", "optim.kind",    "optim.steps",  "train.batch", "train.unroll",
    "train.seed",    "train.frames",  "train.episodes", "train.started", "train.rng",
};
#define N_SCALAR_KEYS ((int)(sizeof scalar_keys / sizeof scalar_keys[0]))

static int has_prefix(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* ---- The rollout's carried state as tensors ------------------------------------------------------------ */

/* What a loader accepts in an array, beyond its dtype and shape. */
typedef enum value_rule {
    RULE_ANY,    /* every bit pattern */
    RULE_FINITE, /* F32 or F64, no NaN or infinity */
    RULE_FLAG,   /* U8, 0 or 1 */
    RULE_ACTION, /* I32, ATTN_NO_ACTION or an action of the model */
    RULE_COUNT   /* I32, >= 0 */
} value_rule;

static const char *const rule_text[] = {
    [RULE_ANY] = "",
    [RULE_FINITE] = "a non-finite value",
    [RULE_FLAG] = "a flag other than 0 or 1",
    [RULE_ACTION] = "an action outside [-1, A)",
    [RULE_COUNT] = "a negative count",
};

/* One array the rollout carries from one collect to the next, [B, ...]. */
typedef struct array_spec {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[4];
    size_t nbytes;
    value_rule rule;
    int part;   /* the attn_state_part it holds (read and written through attn_state_get/set), or -1 */
    void *data; /* part < 0: the rollout's own array */
} array_spec;

#define N_ARRAYS 11

static array_spec array_of(const char *name, st_dtype dtype, value_rule rule, int part, void *data, int ndim,
                        const int64_t *shape)
{
    array_spec a = {name, dtype, ndim, {0}, st_dtype_size(dtype), rule, part, data};
    for (int d = 0; d < ndim; d++) {
        a.shape[d] = shape[d];
        a.nbytes *= (size_t)shape[d];
    }
    return a;
}

static int config_int(const attn_model *model, attn_config_key key)
{
    int v = 0;
    attn_config_get(attn_model_config(model), key, &v);
    return v;
}

/* The rollout's carried arrays, shaped from the model's configuration and checked against the rollout's own
 * sizes (a disagreement is the library's bug, ATTN_ERR_STATE). */
static attn_status rollout_arrays(const attn_rollout *r, const attn_model *model, array_spec a[N_ARRAYS])
{
    const int64_t B = r->B, H = config_int(model, ATTN_CFG_OBS_H), W = config_int(model, ATTN_CFG_OBS_W),
                  C = config_int(model, ATTN_CFG_OBS_C), h = config_int(model, ATTN_CFG_GRID_H),
                  w = config_int(model, ATTN_CFG_GRID_W), L = config_int(model, ATTN_CFG_LSTM_CHANNELS),
                  Hp = config_int(model, ATTN_CFG_CORE_UNITS);
    const int64_t obs_shape[4] = {B, H, W, C}, vision[4] = {B, h, w, L}, core[2] = {B, Hp}, per_env[1] = {B};
    const st_dtype obs_dtype = r->obs_elem_size == 1 ? ST_U8 : ST_F32;
    a[0] = array_of("train.state.vision_h", ST_F32, RULE_FINITE, ATTN_STATE_VISION_H, NULL, 4, vision);
    a[1] = array_of("train.state.vision_c", ST_F32, RULE_FINITE, ATTN_STATE_VISION_C, NULL, 4, vision);
    a[2] = array_of("train.state.core_h", ST_F32, RULE_FINITE, ATTN_STATE_CORE_H, NULL, 2, core);
    a[3] = array_of("train.state.core_c", ST_F32, RULE_FINITE, ATTN_STATE_CORE_C, NULL, 2, core);
    a[4] = array_of("train.obs", obs_dtype, obs_dtype == ST_F32 ? RULE_FINITE : RULE_ANY, -1, r->cur_obs, 4, obs_shape);
    a[5] = array_of("train.first", ST_U8, RULE_FLAG, -1, r->cur_first, 1, per_env);
    a[6] = array_of("train.last_action", ST_I32, RULE_ACTION, -1, r->last_action, 1, per_env);
    a[7] = array_of("train.last_reward", ST_F32, RULE_FINITE, -1, r->last_reward, 1, per_env);
    a[8] = array_of("train.episode_count", ST_I64, RULE_ANY, -1, r->episode_count, 1, per_env);
    a[9] = array_of("train.ep_return", ST_F64, RULE_FINITE, -1, r->ep_return, 1, per_env);
    a[10] = array_of("train.ep_length", ST_I32, RULE_COUNT, -1, r->ep_length, 1, per_env);
    for (int p = 0; p < 4; p++)
        if (a[p].nbytes != r->init_size[p] * sizeof(float))
            return fail(ATTN_ERR_STATE, "rollout state part %d has %zu floats, the configuration says %zu", p,
                        r->init_size[p], a[p].nbytes / sizeof(float));
    if (a[4].nbytes != (size_t)r->B * r->obs_elems * r->obs_elem_size)
        return fail(ATTN_ERR_STATE, "the rollout's observations disagree with the configuration");
    return ATTN_OK;
}

/* Whether element i of `a` passes its rule (file bytes have no alignment guarantee, hence memcpy). */
static int element_ok(const array_spec *a, const unsigned char *bytes, size_t i, int num_actions)
{
    const unsigned char *at = bytes + i * st_dtype_size(a->dtype);
    float f;
    double d;
    int32_t v;
    switch (a->rule) {
    case RULE_ANY: return 1;
    case RULE_FINITE:
        if (a->dtype == ST_F64) {
            memcpy(&d, at, sizeof d);
            return isfinite(d);
        }
        memcpy(&f, at, sizeof f);
        return isfinite(f);
    case RULE_FLAG: return *at <= 1;
    case RULE_ACTION: memcpy(&v, at, sizeof v); return v >= ATTN_NO_ACTION && v < num_actions;
    case RULE_COUNT: memcpy(&v, at, sizeof v); return v >= 0;
    }
    return 0;
}

/* The index of the first element of `a` its rule refuses, or the element count. */
static size_t first_refused(const array_spec *a, const void *bytes, int num_actions)
{
    const size_t n = a->rule == RULE_ANY ? 0 : a->nbytes / st_dtype_size(a->dtype);
    for (size_t i = 0; i < n; i++)
        if (!element_ok(a, bytes, i, num_actions)) return i;
    return a->nbytes / st_dtype_size(a->dtype);
}

/* ---- Numbers as metadata text -------------------------------------------------------------------------- */

/* Knobs are doubles written with %.17g, which a correctly rounding reader (strtod, Python's float) turns back
 * into the same double. Both directions run in the C locale on this thread only, so a host that chose a locale
 * with a decimal comma still writes and reads files every other host can. */
typedef struct c_numeric {
    locale_t c, previous;
} c_numeric;

static attn_status c_numeric_enter(c_numeric *n)
{
    n->previous = (locale_t)0;
    n->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (n->c == (locale_t)0) return fail(ATTN_ERR_NOMEM, "cannot create the C locale for number formatting");
    n->previous = uselocale(n->c);
    return ATTN_OK;
}

static void c_numeric_leave(c_numeric *n)
{
    uselocale(n->previous);
    freelocale(n->c);
}

/* A decimal integer as this library writes it: an optional '-' (when `is_signed`), then digits, nothing else;
 * within int64 (signed) or uint64. Returns 0 when the text is anything else. */
static int parse_integer(const char *s, int is_signed, int64_t *i, uint64_t *u)
{
    int negative = is_signed && *s == '-';
    if (negative) s++;
    if (*s < '0' || *s > '9') return 0;
    const uint64_t limit = !is_signed ? UINT64_MAX : negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned digit = (unsigned)(*s - '0');
        if (v > (limit - digit) / 10) return 0;
        v = v * 10 + digit;
    }
    if (u) *u = v;
    if (i) *i = negative ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 1;
}

/* Random streams, 4 words of xoshiro256** state per environment: "%016x" each, lowercase, single spaces. */
#define RNG_WORD_CHARS 17

static int parse_hex_word(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int k = 0; k < 16; k++) {
        char c = s[k];
        unsigned digit;
        if (c >= '0' && c <= '9') digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') digit = (unsigned)(c - 'a' + 10);
        else return 0;
        v = v << 4 | digit;
    }
    *out = v;
    return 1;
}

static attn_status parse_streams(const char *text, int B, rng *streams, const char *origin)
{
    const size_t words = (size_t)B * 4;
    if (strlen(text) != words * RNG_WORD_CHARS - 1)
        return fail(ATTN_ERR_FORMAT, "%s: metadata \"train.rng\" has %zu characters, %d streams need %zu", origin,
                    strlen(text), B, words * RNG_WORD_CHARS - 1);
    for (size_t k = 0; k < words; k++) {
        const char *word = text + k * RNG_WORD_CHARS;
        if (!parse_hex_word(word, &streams[k / 4].s[k % 4]) || (k + 1 < words && word[16] != ' '))
            return fail(ATTN_ERR_FORMAT, "%s: metadata \"train.rng\" word %zu is not 16 lowercase hex digits", origin,
                        k);
    }
    for (int b = 0; b < B; b++)
        if ((streams[b].s[0] | streams[b].s[1] | streams[b].s[2] | streams[b].s[3]) == 0)
            return fail(ATTN_ERR_FORMAT, "%s: metadata \"train.rng\": stream %d is all zero (xoshiro never leaves it)",
                        origin, b);
    return ATTN_OK;
}

/* ---- Common argument checks ---------------------------------------------------------------------------- */

static attn_status check_objects(const char *path, const attn_model *model, const attn_optimizer *opt,
                                 const attn_rollout *rollout, const attn_env *env)
{
    attn_status st = check_not_null(path, "path");
    if (st || (st = check_not_null(model, "model")) || (st = check_not_null(opt, "opt")) ||
        (st = check_not_null(rollout, "rollout")))
        return st;
    if (env && env->version != ATTN_ENV_VERSION)
        return fail(ATTN_ERR_INVALID, "env version %d, this library speaks %d (initialise with ATTN_ENV_INIT)",
                    env->version, ATTN_ENV_VERSION);
    if (env && !env->save != !env->load)
        return fail(ATTN_ERR_INVALID, "env->save and env->load go together: set both or neither");
    recorded_config mine, its;
    if ((st = ckpt_record_config(attn_model_config(model), &mine)) ||
        (st = ckpt_record_config(attn_model_config(rollout->model), &its)))
        return st;
    if (memcmp(&mine, &its, sizeof mine))
        return fail(ATTN_ERR_INVALID, "the rollout was created for a model of another configuration");
    return optimizer_check_model(opt, model);
}

/* Both environment callbacks set: the environments can be saved and restored. */
static int env_saves(const attn_env *env) { return env && env->save && env->load; }

/* A failing environment callback as a status, as attn_rollout_collect reports one. */
static attn_status env_failure(const attn_env *env, int b, const char *what, int rc)
{
    const char *msg = env->error ? env->error(env->ctx, b) : NULL;
    char detail[200];
    snprintf(detail, sizeof detail, "%s%s", msg ? ": " : "", msg ? msg : "");
    if (rc == ATTN_CALLBACK_ABORT)
        return fail(ATTN_ERR_ABORTED, "environment %d asked to stop (%s returned %d%s)", b, what, rc, detail);
    return fail(ATTN_ERR_CALLBACK, "environment %d: %s returned %d%s", b, what, rc, detail);
}

/* ---- Saving -------------------------------------------------------------------------------------------- */

/* Everything a save writes, assembled before st_write; owns the strings and buffers it points to. Appends do
 * not fail one by one: the first allocation failure is remembered and reported by plan_status. */
typedef struct plan {
    st_tensor *tensors;
    int n, cap;
    const char **keys, **values;
    int n_meta, keys_cap, values_cap;
    void **owned;
    int n_owned, owned_cap;
    int failed;
} plan;

/* `array` (capacity *cap elements of `elem` bytes) with room for `need`, or NULL, leaving it as it was. */
static void *grown(void *array, int *cap, int need, size_t elem)
{
    if (need <= *cap) return array;
    int next = *cap ? *cap * 2 : 64;
    while (next < need) next *= 2;
    void *p = realloc(array, (size_t)next * elem);
    if (p) *cap = next;
    return p;
}

/* Takes ownership of `p` (NULL: an allocation that failed). */
static void *plan_own(plan *pl, void *p)
{
    void **owned = p ? grown(pl->owned, &pl->owned_cap, pl->n_owned + 1, sizeof *owned) : NULL;
    if (!owned) {
        free(p);
        pl->failed = 1;
        return NULL;
    }
    pl->owned = owned;
    pl->owned[pl->n_owned++] = p;
    return p;
}

static char *plan_printf(plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *plan_printf(plan *pl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return plan_own(pl, s);
}

/* Room for `more` tensors. */
static int plan_room(plan *pl, int more)
{
    st_tensor *tensors = grown(pl->tensors, &pl->cap, pl->n + more, sizeof *tensors);
    if (!tensors) pl->failed = 1;
    else pl->tensors = tensors;
    return tensors != NULL;
}

static st_tensor *plan_tensor(plan *pl, const char *name)
{
    if (!name || !plan_room(pl, 1)) {
        pl->failed = 1;
        return NULL;
    }
    st_tensor *t = &pl->tensors[pl->n++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return t;
}

static void plan_meta(plan *pl, const char *key, const char *value)
{
    const char **keys = key && value ? grown(pl->keys, &pl->keys_cap, pl->n_meta + 1, sizeof *keys) : NULL;
    if (keys) pl->keys = keys;
    const char **values = keys ? grown(pl->values, &pl->values_cap, pl->n_meta + 1, sizeof *values) : NULL;
    if (!values) {
        pl->failed = 1;
        return;
    }
    pl->values = values;
    pl->keys[pl->n_meta] = key;
    pl->values[pl->n_meta] = value;
    pl->n_meta++;
}

static attn_status plan_status(const plan *pl)
{
    return pl->failed ? fail(ATTN_ERR_NOMEM, "out of memory assembling a training checkpoint") : ATTN_OK;
}

static void plan_free(plan *pl)
{
    for (int i = 0; i < pl->n_owned; i++) free(pl->owned[i]);
    free(pl->owned);
    free(pl->tensors);
    free(pl->keys);
    free(pl->values);
}

/* The model's tensors and configuration, exactly as attn_model_save writes them. */
static attn_status plan_model(plan *pl, const attn_model *model, const char *path)
{
    json_buf config;
    json_buf_init(&config);
    attn_status st = ckpt_config_text(model, &config);
    if (st == ATTN_OK) {
        plan_meta(pl, "format", CKPT_FORMAT_NAME);
        plan_meta(pl, "format_version", CKPT_FORMAT_VERSION);
        plan_meta(pl, "config", plan_printf(pl, "%s", config.data));
    }
    json_buf_free(&config);
    if (st || (st = plan_status(pl))) return st;
    const int n = attn_model_tensor_count(model);
    if (!plan_room(pl, n)) return plan_status(pl);
    memset(pl->tensors + pl->n, 0, (size_t)n * sizeof *pl->tensors);
    if ((st = ckpt_weight_tensors(model, path, pl->tensors + pl->n))) return st;
    pl->n += n;
    return ATTN_OK;
}

/* Kind, knobs, step count, and every slot split into one tensor per parameter tensor. */
static attn_status plan_optimizer(plan *pl, const attn_model *model, attn_optimizer *opt, const char *path)
{
    const attn_optim_kind kind = attn_optimizer_kind(opt);
    if ((int)kind < 0 || (int)kind >= N_OPTIM_KINDS)
        return fail(ATTN_ERR_STATE, "optimizer kind %d has no checkpoint name", (int)kind);
    plan_meta(pl, "optim.kind", optim_kind_names[kind]);
    plan_meta(pl, "optim.steps", plan_printf(pl, "%" PRId64, attn_optimizer_steps(opt)));
    c_numeric locale;
    attn_status st = c_numeric_enter(&locale);
    if (st) return st;
    for (int k = 0; k < N_KNOBS && st == ATTN_OK; k++) {
        double v;
        if ((st = attn_optimizer_get(opt, (attn_optim_param)k, &v)) == ATTN_OK)
            plan_meta(pl, knob_keys[k], plan_printf(pl, "%.17g", v));
    }
    c_numeric_leave(&locale);
    if (st) return st;

    const int slots = attn_optimizer_slot_count(opt), n = attn_model_tensor_count(model);
    for (int s = 0; s < slots; s++) {
        const char *slot;
        float *data;
        if ((st = attn_optimizer_slot(opt, s, &slot, &data))) return st;
        for (int i = 0; i < n; i++) {
            model_tensor m;
            if ((st = ckpt_model_tensor(model, i, &m))) return st;
            size_t bad = ckpt_first_nonfinite(data + m.offset, m.numel);
            if (bad < m.numel)
                return fail(ATTN_ERR_NONFINITE, "not saving %s: optimizer slot %s of \"%s\" has a non-finite value "
                            "at element %zu", path, slot, m.name, bad);
            st_tensor *t = plan_tensor(pl, plan_printf(pl, CKPT_OPTIM_PREFIX "%s.%s", slot, m.name));
            if (!t) return plan_status(pl);
            *t = (st_tensor){t->name, ST_F32, m.ndim, {0}, data + m.offset, m.numel * sizeof(float)};
            memcpy(t->shape, m.shape, sizeof m.shape);
        }
    }
    return ATTN_OK;
}

/* The rollout's carried state: its arrays as tensors, its counters and random streams as metadata. */
static attn_status plan_rollout(plan *pl, const attn_model *model, const attn_rollout *r, const char *path)
{
    array_spec a[N_ARRAYS];
    attn_status st = rollout_arrays(r, model, a);
    if (st) return st;
    for (int i = 0; i < N_ARRAYS; i++) {
        if (a[i].part >= 0) {
            a[i].data = plan_own(pl, malloc(a[i].nbytes ? a[i].nbytes : 1));
            if (!a[i].data) return plan_status(pl);
            if ((st = attn_state_get(r->act, (attn_state_part)a[i].part, a[i].data, a[i].nbytes / sizeof(float))))
                return st;
        }
        /* What a load would refuse must not replace a good checkpoint. */
        size_t bad = first_refused(&a[i], a[i].data, r->A);
        if (bad < a[i].nbytes / st_dtype_size(a[i].dtype))
            return fail(ATTN_ERR_NONFINITE, "not saving %s: the rollout's \"%s\" has %s at element %zu", path,
                        a[i].name, rule_text[a[i].rule], bad);
        st_tensor *t = plan_tensor(pl, a[i].name);
        if (!t) return plan_status(pl);
        *t = (st_tensor){a[i].name, a[i].dtype, a[i].ndim, {0}, a[i].data, a[i].nbytes};
        memcpy(t->shape, a[i].shape, sizeof a[i].shape);
    }
    plan_meta(pl, "train.batch", plan_printf(pl, "%d", r->B));
    plan_meta(pl, "train.unroll", plan_printf(pl, "%d", r->T));
    plan_meta(pl, "train.seed", plan_printf(pl, "%" PRIu64, r->seed));
    plan_meta(pl, "train.frames", plan_printf(pl, "%" PRId64, r->frames));
    plan_meta(pl, "train.episodes", plan_printf(pl, "%" PRId64, r->episodes));
    plan_meta(pl, "train.started", r->started ? "1" : "0");
    char *rng_text = plan_own(pl, malloc((size_t)r->B * 4 * RNG_WORD_CHARS));
    if (!rng_text) return plan_status(pl);
    const int words = r->B * 4;
    for (int k = 0; k < words; k++)
        snprintf(rng_text + (size_t)k * RNG_WORD_CHARS, RNG_WORD_CHARS + 1, "%016" PRIx64 "%s",
                 r->streams[k / 4].s[k % 4], k + 1 < words ? " " : "");
    plan_meta(pl, "train.rng", rng_text);
    return plan_status(pl);
}

/* Each environment's own bytes, when it can save them and has been started (else the next collect resets
 * them all anyway). */
static attn_status plan_envs(plan *pl, const attn_rollout *r, const attn_env *env)
{
    if (!env_saves(env) || !r->started) return ATTN_OK;
    for (int b = 0; b < r->B; b++) {
        size_t need = 0, len = 0;
        int rc = env->save(env->ctx, b, NULL, 0, &need);
        if (rc) return env_failure(env, b, "save (size query)", rc);
        unsigned char *buf = plan_own(pl, malloc(need ? need : 1));
        if (!buf) return plan_status(pl);
        if ((rc = env->save(env->ctx, b, buf, need, &len))) return env_failure(env, b, "save", rc);
        if (len > need)
            return fail(ATTN_ERR_CALLBACK, "environment %d: save reported %zu bytes into a buffer of %zu it asked for",
                        b, len, need);
        st_tensor *t = plan_tensor(pl, plan_printf(pl, ENV_PREFIX "%d", b));
        if (!t) return plan_status(pl);
        *t = (st_tensor){t->name, ST_U8, 1, {(int64_t)len}, buf, len};
    }
    return ATTN_OK;
}

static attn_status plan_host(plan *pl, const char *const *keys, const char *const *values, int n)
{
    if (n < 0) return fail(ATTN_ERR_INVALID, "n_extra %d is negative", n);
    if (n > 0 && !keys) return check_not_null(keys, "extra_keys");
    if (n > 0 && !values) return check_not_null(values, "extra_values");
    for (int i = 0; i < n; i++) {
        if (!keys[i]) return fail(ATTN_ERR_NULL, "extra_keys[%d] is NULL", i);
        if (!values[i]) return fail(ATTN_ERR_NULL, "extra_values[%d] is NULL", i);
        plan_meta(pl, plan_printf(pl, HOST_PREFIX "%s", keys[i]), values[i]);
    }
    return plan_status(pl);
}

attn_status attn_training_save(const char *path, const attn_model *model, const attn_optimizer *opt,
                               const attn_rollout *rollout, const attn_env *env, const char *const *extra_keys,
                               const char *const *extra_values, int n_extra)
{
    attn_status st = check_objects(path, model, opt, rollout, env);
    if (st) return st;
    plan pl = {0};
    st = plan_model(&pl, model, path);
    if (st == ATTN_OK) {
        plan_meta(&pl, "train.version", TRAIN_VERSION);
        /* attn_optimizer_slot hands out writable pointers, so it takes a mutable optimizer; this only reads. */
        st = plan_optimizer(&pl, model, (attn_optimizer *)opt, path);
    }
    if (st == ATTN_OK) st = plan_rollout(&pl, model, rollout, path);
    if (st == ATTN_OK) st = plan_host(&pl, extra_keys, extra_values, n_extra);
    /* The environments last: their callbacks run only once everything else is known to be writable. */
    if (st == ATTN_OK) st = plan_envs(&pl, rollout, env);
    if (st == ATTN_OK) st = st_write(path, pl.tensors, pl.n, pl.keys, pl.values, pl.n_meta);
    plan_free(&pl);
    return st;
}

/* ---- Loading ------------------------------------------------------------------------------------------- */

/* Everything a load checked and will apply, read from the file before anything changes. */
typedef struct train_meta {
    int64_t steps;
    double knob[N_KNOBS];
    uint64_t seed;
    int64_t frames, episodes;
    int started;
    rng *streams;                     /* [B] */
    array_spec arrays[N_ARRAYS];      /* the rollout's, as the configuration shapes them */
    const st_tensor *found[N_ARRAYS]; /* the file's tensor for each */
    int n_env;                        /* environment states in the file: 0 or B */
    char *host;                       /* the host's metadata (copy_host_meta) */
    size_t host_size;
    float *scratch;                   /* room for the largest state part */
} train_meta;

static attn_status meta_int(const st_file *f, const char *origin, const char *key, int64_t min, int64_t max,
                            int64_t *out)
{
    const char *v = st_meta(f, key);
    if (!parse_integer(v, 1, out, NULL) || *out < min || *out > max)
        return fail(ATTN_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not an integer in [%" PRId64 ", %" PRId64 "]",
                    origin, key, v, min, max);
    return ATTN_OK;
}

/* A knob's text: the whole string one finite number (strtod would also skip leading spaces and read "inf"). */
static attn_status meta_double(const st_file *f, const char *origin, const char *key, double *out)
{
    const char *v = st_meta(f, key);
    char *end = NULL;
    int ok = (*v == '-' || (*v >= '0' && *v <= '9'));
    if (ok) {
        *out = strtod(v, &end);
        ok = *end == '\0' && isfinite(*out);
    }
    return ok ? ATTN_OK : fail(ATTN_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not a finite number", origin, key, v);
}

/* Every key under the reserved prefixes is one this library writes (a newer writer's state would otherwise be
 * silently dropped, and the resume would not be exact); every one is present; the optimizer kind and the
 * rollout's batch and unroll are those of the objects loaded into. */
static attn_status read_meta(const st_file *f, const char *origin, const attn_optimizer *opt, const attn_rollout *r,
                             train_meta *m)
{
    const char *version = st_meta(f, "train.version");
    if (!version)
        return fail(ATTN_ERR_FORMAT, "%s: not a training checkpoint (the metadata has no \"train.version\"); a model "
                    "file loads with attn_model_load", origin);
    if (strcmp(version, TRAIN_VERSION) != 0)
        return fail(ATTN_ERR_FORMAT, "%s: train.version \"%s\" is not supported (this library reads \"%s\")", origin,
                    version, TRAIN_VERSION);
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *key;
        st_meta_entry(f, i, &key, NULL);
        if (!has_prefix(key, CKPT_OPTIM_PREFIX) && !has_prefix(key, CKPT_TRAIN_PREFIX)) continue;
        int known = 0;
        for (int k = 0; k < N_KNOBS && !known; k++) known = strcmp(key, knob_keys[k]) == 0;
        for (int k = 0; k < N_SCALAR_KEYS && !known; k++) known = strcmp(key, scalar_keys[k]) == 0;
        if (!known) return fail(ATTN_ERR_FORMAT, "%s: unknown metadata \"%s\"", origin, key);
    }
    for (int k = 0; k < N_SCALAR_KEYS + N_KNOBS; k++) {
        const char *key = k < N_SCALAR_KEYS ? scalar_keys[k] : knob_keys[k - N_SCALAR_KEYS];
        if (!st_meta(f, key)) return fail(ATTN_ERR_FORMAT, "%s: the metadata has no \"%s\"", origin, key);
    }

    const char *kind = st_meta(f, "optim.kind");
    const attn_optim_kind have = attn_optimizer_kind(opt);
    int file_kind = -1;
    for (int k = 0; k < N_OPTIM_KINDS; k++)
        if (strcmp(kind, optim_kind_names[k]) == 0) file_kind = k;
    if (file_kind < 0) return fail(ATTN_ERR_FORMAT, "%s: unknown optimizer kind \"%s\"", origin, kind);
    if (file_kind != (int)have)
        return fail(ATTN_ERR_FORMAT, "%s: the file's optimizer is %s, this one is %s", origin, kind,
                    (int)have >= 0 && (int)have < N_OPTIM_KINDS ? optim_kind_names[have] : "unknown");

    int64_t B, T, started;
    attn_status st;
    if ((st = meta_int(f, origin, "train.batch", 1, INT32_MAX, &B)) ||
        (st = meta_int(f, origin, "train.unroll", 1, INT32_MAX, &T)))
        return st;
    if (B != r->B || T != r->T)
        return fail(ATTN_ERR_FORMAT, "%s: the file's rollout is %" PRId64 " environments × %" PRId64
                    " steps, this one %d × %d", origin, B, T, r->B, r->T);
    if ((st = meta_int(f, origin, "optim.steps", 0, INT64_MAX, &m->steps)) ||
        (st = meta_int(f, origin, "train.frames", 0, INT64_MAX, &m->frames)) ||
        (st = meta_int(f, origin, "train.episodes", 0, INT64_MAX, &m->episodes)) ||
        (st = meta_int(f, origin, "train.started", 0, 1, &started)))
        return st;
    m->started = (int)started;
    const char *seed = st_meta(f, "train.seed");
    if (!parse_integer(seed, 0, NULL, &m->seed))
        return fail(ATTN_ERR_FORMAT, "%s: metadata \"train.seed\" = \"%s\" is not an unsigned 64-bit integer", origin,
                    seed);

    c_numeric locale;
    if ((st = c_numeric_enter(&locale))) return st;
    for (int k = 0; k < N_KNOBS && st == ATTN_OK; k++) st = meta_double(f, origin, knob_keys[k], &m->knob[k]);
    c_numeric_leave(&locale);
    if (st) return st;

    m->streams = malloc((size_t)r->B * sizeof *m->streams);
    if (!m->streams) return fail(ATTN_ERR_NOMEM, "out of memory for %d random streams", r->B);
    return parse_streams(st_meta(f, "train.rng"), r->B, m->streams, origin);
}

/* The tensor `name`, present with exactly this dtype and shape. */
static attn_status expect_tensor(const st_file *f, const char *origin, const char *name, st_dtype dtype, int ndim,
                                 const int64_t *shape, const st_tensor **out)
{
    char want[96], got[96];
    const st_tensor *t = st_find(f, name);
    if (!t) return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is missing", origin, name);
    if (t->dtype != dtype)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is %s, expected %s", origin, name, st_dtype_name(t->dtype),
                    st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same)
        return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s", origin, name,
                    st_shape_text(t->shape, t->ndim, got, sizeof got), st_shape_text(shape, ndim, want, sizeof want));
    *out = t;
    return ATTN_OK;
}

static size_t count_prefixed(const st_file *f, const char *prefix)
{
    size_t n = 0;
    for (int i = 0; i < st_count(f); i++) n += has_prefix(st_get(f, i)->name, prefix);
    return n;
}

/* Builds "optim.<slot>.<tensor>" into buf. */
static attn_status slot_name(char *buf, size_t n, const char *slot, const char *tensor)
{
    if ((size_t)snprintf(buf, n, CKPT_OPTIM_PREFIX "%s.%s", slot, tensor) >= n)
        return fail(ATTN_ERR_STATE, "optimizer slot name %s.%s is too long", slot, tensor);
    return ATTN_OK;
}

/* Every slot of the optimizer, per parameter tensor, F32 of the tensor's shape and finite; no other optim.*. */
static attn_status check_slots(const st_file *f, const char *origin, const attn_model *model, attn_optimizer *opt)
{
    const int slots = attn_optimizer_slot_count(opt), n = attn_model_tensor_count(model);
    char name[512];
    attn_status st;
    for (int s = 0; s < slots; s++) {
        const char *slot;
        if ((st = attn_optimizer_slot(opt, s, &slot, NULL))) return st;
        for (int i = 0; i < n; i++) {
            model_tensor m;
            const st_tensor *t;
            if ((st = ckpt_model_tensor(model, i, &m)) || (st = slot_name(name, sizeof name, slot, m.name)) ||
                (st = expect_tensor(f, origin, name, ST_F32, m.ndim, m.shape, &t)))
                return st;
            size_t bad = ckpt_first_nonfinite(t->data, m.numel);
            if (bad < m.numel)
                return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" has a non-finite value at element %zu", origin, name,
                            bad);
        }
    }
    size_t found = count_prefixed(f, CKPT_OPTIM_PREFIX);
    if (found != (size_t)slots * (size_t)n)
        return fail(ATTN_ERR_FORMAT, "%s: %zu optimizer tensors, a %s optimizer has %d (%d slots × %d tensors)",
                    origin, found, optim_kind_names[attn_optimizer_kind(opt)], slots * n, slots, n);
    return ATTN_OK;
}

/* The rollout's arrays with their dtypes, shapes and values; the environment states all there or none (their
 * count in *n_env); no other train.* tensor. */
static attn_status check_rollout(const st_file *f, const char *origin, const attn_rollout *r,
                                 const array_spec a[N_ARRAYS], const st_tensor *found[N_ARRAYS], int *n_env)
{
    attn_status st;
    for (int i = 0; i < N_ARRAYS; i++) {
        if ((st = expect_tensor(f, origin, a[i].name, a[i].dtype, a[i].ndim, a[i].shape, &found[i]))) return st;
        size_t bad = first_refused(&a[i], found[i]->data, r->A);
        if (bad < a[i].nbytes / st_dtype_size(a[i].dtype))
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" has %s at element %zu", origin, a[i].name,
                        rule_text[a[i].rule], bad);
    }
    size_t envs = count_prefixed(f, ENV_PREFIX);
    if (envs != 0 && envs != (size_t)r->B)
        return fail(ATTN_ERR_FORMAT, "%s: %zu environment states for %d environments", origin, envs, r->B);
    for (int b = 0; b < (int)envs; b++) {
        char name[64];
        snprintf(name, sizeof name, ENV_PREFIX "%d", b);
        const st_tensor *t = st_find(f, name);
        if (!t) return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is missing", origin, name);
        if (t->dtype != ST_U8 || t->ndim != 1)
            return fail(ATTN_ERR_FORMAT, "%s: tensor \"%s\" is not a U8 vector", origin, name);
    }
    for (int i = 0; i < st_count(f); i++) {
        const char *name = st_get(f, i)->name;
        int known = !has_prefix(name, CKPT_TRAIN_PREFIX) || has_prefix(name, ENV_PREFIX);
        for (int k = 0; k < N_ARRAYS && !known; k++) known = strcmp(name, a[k].name) == 0;
        if (!known) return fail(ATTN_ERR_FORMAT, "%s: unexpected tensor \"%s\"", origin, name);
    }
    *n_env = (int)envs;
    return ATTN_OK;
}

/* The host's metadata ("host.<key>" entries, prefix dropped) as "key\0value\0" pairs in one block. */
static attn_status copy_host_meta(const st_file *f, char **out, size_t *size)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t used = 0;
        for (int i = 0; i < st_meta_count(f); i++) {
            const char *key, *value;
            st_meta_entry(f, i, &key, &value);
            if (!has_prefix(key, HOST_PREFIX)) continue;
            key += strlen(HOST_PREFIX);
            size_t k = strlen(key) + 1, v = strlen(value) + 1;
            if (pass) {
                memcpy(*out + used, key, k);
                memcpy(*out + used + k, value, v);
            }
            used += k + v;
        }
        if (pass == 0) {
            n = used;
            *out = malloc(n ? n : 1);
            if (!*out) return fail(ATTN_ERR_NOMEM, "out of memory for %zu bytes of host metadata", n);
        }
    }
    *size = n;
    return ATTN_OK;
}

/* The host metadata of the last successful load on this thread (copy_host_meta's layout). The same block is
 * registered under a thread-specific key whose destructor frees it when the thread ends: a thread-local
 * pointer alone would leak one block per thread that ever loaded. */
static _Thread_local char *host_meta;
static _Thread_local size_t host_meta_size;
static pthread_once_t host_meta_once = PTHREAD_ONCE_INIT;
static pthread_key_t host_meta_key;
static int host_meta_key_ok;

static void host_meta_make_key(void) { host_meta_key_ok = pthread_key_create(&host_meta_key, free) == 0; }

/* Makes `block` this thread's host metadata, freeing the previous one. */
static void host_meta_set(char *block, size_t size)
{
    pthread_once(&host_meta_once, host_meta_make_key);
    free(host_meta);
    host_meta = block;
    host_meta_size = size;
    /* Fails only without memory for the key's slot; the block then lives until the next load here. */
    if (host_meta_key_ok) (void)pthread_setspecific(host_meta_key, block);
}

const char *attn_training_meta(const char *key)
{
    if (!key || !host_meta) return NULL;
    for (size_t at = 0; at < host_meta_size;) {
        const char *k = host_meta + at, *v = k + strlen(k) + 1;
        if (strcmp(k, key) == 0) return v;
        at = (size_t)(v + strlen(v) + 1 - host_meta);
    }
    return NULL;
}

attn_status attn_checkpoint_meta(const char *path, const char *key, char *buf, size_t cap, size_t *len)
{
    attn_status st = check_not_null(path, "path");
    if (st || (st = check_not_null(key, "key")) || (cap && (st = check_not_null(buf, "buf")))) return st;
    /* ckpt_open reads the header alone (every tensor range checked against the file's size, no tensor read). */
    st_file *f;
    recorded_config rc;
    if ((st = ckpt_open(path, &f, &rc))) return st;
    char name[512];
    const char *value = NULL;
    if ((size_t)snprintf(name, sizeof name, HOST_PREFIX "%s", key) < sizeof name) value = st_meta(f, name);
    if (!value) {
        st = fail(ATTN_ERR_INVALID, "%s holds no host metadata \"%s\"", path, key);
    } else {
        const size_t n = strlen(value);
        if (len) *len = n;
        if (n >= cap)
            st = fail(ATTN_ERR_SIZE, "host metadata \"%s\" of %s is %zu bytes; a buffer of %zu cannot hold it with its "
                      "NUL", key, path, n, cap);
        else
            memcpy(buf, value, n + 1);
    }
    st_close(f);
    return st;
}

static void restore_knobs(attn_optimizer *opt, const double *knob)
{
    for (int k = 0; k < N_KNOBS; k++) attn_optimizer_set(opt, (attn_optim_param)k, knob[k]);
}

/* Sets the file's knobs. The optimizer judges their ranges itself; if it refuses one, the knobs it had are put
 * back (they were valid, and knobs are checked one by one) and the file is blamed. */
static attn_status set_knobs(attn_optimizer *opt, const double *knob, const double *old, const char *origin)
{
    for (int k = 0; k < N_KNOBS; k++)
        if (attn_optimizer_set(opt, (attn_optim_param)k, knob[k]) != ATTN_OK) {
            char reason[400];
            snprintf(reason, sizeof reason, "%s", attn_last_error());
            restore_knobs(opt, old);
            return fail(ATTN_ERR_FORMAT, "%s: metadata \"%s\" refused by the optimizer: %s", origin, knob_keys[k],
                        reason);
        }
    return ATTN_OK;
}

/* Applies what every check approved; nothing here can fail for a reason the file or the caller controls. */
static attn_status restore(const st_file *f, attn_model *model, attn_optimizer *opt, attn_rollout *r,
                           const train_meta *m, int envs_restored)
{
    attn_status st = ckpt_copy_weights(model, f);
    const int slots = attn_optimizer_slot_count(opt), n = attn_model_tensor_count(model);
    char name[512];
    for (int s = 0; s < slots && st == ATTN_OK; s++) {
        const char *slot;
        float *data;
        if ((st = attn_optimizer_slot(opt, s, &slot, &data))) break;
        for (int i = 0; i < n && st == ATTN_OK; i++) {
            model_tensor mt;
            if (!(st = ckpt_model_tensor(model, i, &mt)) && !(st = slot_name(name, sizeof name, slot, mt.name)))
                memcpy(data + mt.offset, st_find(f, name)->data, mt.numel * sizeof(float));
        }
    }
    if (st == ATTN_OK) st = attn_optimizer_set_steps(opt, m->steps);
    for (int i = 0; i < N_ARRAYS && st == ATTN_OK; i++) {
        const array_spec *a = &m->arrays[i];
        if (a->part < 0) {
            memcpy(a->data, m->found[i]->data, a->nbytes);
            continue;
        }
        /* File data has no alignment guarantee: through an aligned copy. */
        memcpy(m->scratch, m->found[i]->data, a->nbytes);
        st = attn_state_set(r->act, (attn_state_part)a->part, m->scratch, a->nbytes / sizeof(float));
    }
    if (st) return st;
    memcpy(r->streams, m->streams, (size_t)r->B * sizeof *r->streams);
    r->seed = m->seed;
    r->frames = m->frames;
    r->episodes = m->episodes;
    /* Environments that were not restored are reset by the next collect, as after a failed one. */
    r->started = m->started && envs_restored;
    r->valid = 0;
    r->finished = 0;
    return ATTN_OK;
}

/* Every check of the file against the objects, and every allocation the restore needs. */
static attn_status check_file(const st_file *f, const char *path, const recorded_config *file_config,
                              const attn_model *model, attn_optimizer *opt, const attn_rollout *r, train_meta *m)
{
    recorded_config have;
    attn_status st;
    if ((st = ckpt_record_config(attn_model_config(model), &have)) ||
        (st = ckpt_compare_configs(file_config, &have, path)) || (st = ckpt_check_weights(model, f, path)) ||
        (st = read_meta(f, path, opt, r, m)) || (st = check_slots(f, path, model, opt)) ||
        (st = rollout_arrays(r, model, m->arrays)) || (st = check_rollout(f, path, r, m->arrays, m->found, &m->n_env)) ||
        (st = copy_host_meta(f, &m->host, &m->host_size)))
        return st;
    size_t scratch_bytes = 1;
    for (int i = 0; i < N_ARRAYS; i++)
        if (m->arrays[i].part >= 0 && m->arrays[i].nbytes > scratch_bytes) scratch_bytes = m->arrays[i].nbytes;
    m->scratch = malloc(scratch_bytes);
    if (!m->scratch) return fail(ATTN_ERR_NOMEM, "out of memory for %zu bytes of acting state", scratch_bytes);
    return ATTN_OK;
}

/* Hands every environment its saved bytes. A failure leaves the environments before it restored and the rest as
 * they were, so the caller's rollout must reset them all. */
static attn_status load_envs(const st_file *f, const attn_env *env, int B)
{
    for (int b = 0; b < B; b++) {
        char name[64];
        snprintf(name, sizeof name, ENV_PREFIX "%d", b);
        const st_tensor *t = st_find(f, name);
        int rc = env->load(env->ctx, b, t->data, t->nbytes);
        if (rc) return env_failure(env, b, "load", rc);
    }
    return ATTN_OK;
}

attn_status attn_training_load(const char *path, attn_model *model, attn_optimizer *opt, attn_rollout *rollout,
                               const attn_env *env)
{
    attn_status st = check_objects(path, model, opt, rollout, env);
    if (st) return st;
    st_file *f;
    recorded_config file_config;
    if ((st = ckpt_open(path, &f, &file_config))) return st;
    train_meta m = {0};
    double old_knobs[N_KNOBS];
    st = check_file(f, path, &file_config, model, opt, rollout, &m);
    for (int k = 0; k < N_KNOBS && st == ATTN_OK; k++)
        st = attn_optimizer_get(opt, (attn_optim_param)k, &old_knobs[k]);
    if (st == ATTN_OK) st = set_knobs(opt, m.knob, old_knobs, path);

    /* The environments before the library's objects: their callbacks can fail, and then the model, the
     * optimizer (its knobs put back) and the rollout are still as they were, except that the rollout must now
     * reset its partly overwritten environments. */
    const int envs = st == ATTN_OK && m.started && m.n_env == rollout->B && env_saves(env);
    if (envs && (st = load_envs(f, env, rollout->B))) {
        restore_knobs(opt, old_knobs);
        rollout->started = 0;
    }
    if (st == ATTN_OK) st = restore(f, model, opt, rollout, &m, envs);
    if (st == ATTN_OK) {
        host_meta_set(m.host, m.host_size);
        m.host = NULL;
    }
    free(m.host);
    free(m.scratch);
    free(m.streams);
    st_close(f);
    return st;
}
