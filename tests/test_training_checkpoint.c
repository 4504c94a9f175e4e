/*
 * Training checkpoints: a save/load round trip restores the model, the optimizer and the rollout bit for bit;
 * training resumed from a checkpoint (everything destroyed and recreated in between) continues bitwise
 * identically to an uninterrupted run, for V-trace with RMSProp and PPO with Adam; every truncation and every
 * corruption of a file, every mismatch between a file and the objects, and every failing environment callback
 * is refused with nothing changed; a training checkpoint is a model file; host metadata comes back.
 *
 * The environment is the test's own: a grid game with a randomly drifting goal, its own random stream per
 * environment, and save/load callbacks, so an exact resume needs the environments' states as well.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attnagent/attnagent.h"
#include "rollout.h"
#include "safetensors.h"
#include "test_util.h"

/* ---- The grid game ------------------------------------------------------------------------------------ */

#define GAME_H 5
#define GAME_W 5
#define GAME_C 2          /* channel 0: the agent, channel 1: the goal */
#define GAME_ACTIONS 4    /* up, down, left, right */
#define GAME_MAX_STEPS 9  /* then truncated */
#define MAX_ENVS 8
#define GAME_BYTES 28     /* five int32 and the random state, little-endian */

typedef struct game {
    int32_t ay, ax, gy, gx, t;
    uint64_t rng;
} game;

typedef struct world {
    game g[MAX_ENVS];
    int f32;          /* observations as float32 (else uint8) */
    int resets, saves, loads;
    int fail_load_at; /* the index whose load fails (-1: none), returning fail_code */
    int fail_save_at;
    int fail_code;
} world;

static uint64_t game_next(game *g)
{
    /* splitmix64: the game's own generator, independent of the library's. */
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void game_draw(const world *w, const game *g, void *obs)
{
    const size_t n = GAME_H * GAME_W * GAME_C;
    const size_t agent = ((size_t)g->ay * GAME_W + (size_t)g->ax) * GAME_C;
    const size_t goal = ((size_t)g->gy * GAME_W + (size_t)g->gx) * GAME_C + 1;
    if (w->f32) {
        float *o = obs;
        for (size_t i = 0; i < n; i++) o[i] = 0.0f;
        o[agent] = 1.0f;
        o[goal] = 1.0f;
    } else {
        uint8_t *o = obs;
        memset(o, 0, n);
        o[agent] = 255;
        o[goal] = 255;
    }
}

static int game_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    world *w = ctx;
    game *g = &w->g[index];
    g->rng = seed;
    g->ay = (int32_t)(game_next(g) % GAME_H);
    g->ax = (int32_t)(game_next(g) % GAME_W);
    do {
        g->gy = (int32_t)(game_next(g) % GAME_H);
        g->gx = (int32_t)(game_next(g) % GAME_W);
    } while (g->gy == g->ay && g->gx == g->ax);
    g->t = 0;
    w->resets++;
    game_draw(w, g, obs);
    return 0;
}

static int32_t clamp(int32_t v, int32_t n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

static int game_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    world *w = ctx;
    game *g = &w->g[index];
    static const int dy[4] = {-1, 1, 0, 0}, dx[4] = {0, 0, -1, 1};
    g->ay = clamp(g->ay + dy[action], GAME_H);
    g->ax = clamp(g->ax + dx[action], GAME_W);
    /* The goal drifts one cell a quarter of the time: the game's random state matters for every later step. */
    uint64_t r = game_next(g);
    if (r % 4 == 0) {
        int d = (int)((r >> 8) % 4);
        g->gy = clamp(g->gy + dy[d], GAME_H);
        g->gx = clamp(g->gx + dx[d], GAME_W);
    }
    g->t++;
    *terminated = g->ay == g->gy && g->ax == g->gx;
    *truncated = !*terminated && g->t >= GAME_MAX_STEPS;
    *reward = *terminated ? 1.0f : -0.05f * (float)(1 + (r >> 16) % 3);
    game_draw(w, g, obs);
    return 0;
}

static const char *game_error(void *ctx, int index)
{
    (void)ctx;
    return index == 1 ? "the second game is broken" : "a game is broken";
}

static int game_save(void *ctx, int index, void *buf, size_t cap, size_t *len)
{
    world *w = ctx;
    if (index == w->fail_save_at) return w->fail_code;
    *len = GAME_BYTES;
    if (!buf) return 0;
    if (cap < GAME_BYTES) return 1;
    const game *g = &w->g[index];
    const int32_t ints[5] = {g->ay, g->ax, g->gy, g->gx, g->t};
    memcpy(buf, ints, sizeof ints);
    memcpy((char *)buf + sizeof ints, &g->rng, sizeof g->rng);
    w->saves++;
    return 0;
}

static int game_load(void *ctx, int index, const void *buf, size_t len)
{
    world *w = ctx;
    if (index == w->fail_load_at) return w->fail_code;
    if (len != GAME_BYTES) return 2;
    game *g = &w->g[index];
    int32_t ints[5];
    memcpy(ints, buf, sizeof ints);
    memcpy(&g->rng, (const char *)buf + sizeof ints, sizeof g->rng);
    g->ay = ints[0], g->ax = ints[1], g->gy = ints[2], g->gx = ints[3], g->t = ints[4];
    w->loads++;
    return 0;
}

static attn_env game_env(world *w, int with_save_load)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = w;
    env.reset = game_reset;
    env.step = game_step;
    env.error = game_error;
    if (with_save_load) {
        env.save = game_save;
        env.load = game_load;
    }
    return env;
}

/* ---- Sessions: everything one training run holds ----------------------------------------------------- */

static attn_config *game_config(int f32, int actions)
{
    attn_config *c = NULL;
    assert_int_equal(attn_config_create(&c, ATTN_PRESET_MINATAR), ATTN_OK);
    attn_config_set(c, ATTN_CFG_OBS_H, GAME_H);
    attn_config_set(c, ATTN_CFG_OBS_W, GAME_W);
    attn_config_set(c, ATTN_CFG_OBS_C, GAME_C);
    attn_config_set(c, ATTN_CFG_OBS_TYPE, f32 ? ATTN_OBS_F32 : ATTN_OBS_U8);
    attn_config_set(c, ATTN_CFG_NUM_ACTIONS, actions);
    attn_config_set(c, ATTN_CFG_CONV_LAYERS, 1);
    attn_config_set_conv(c, 0, 4, 3, 1, 1);
    attn_config_set(c, ATTN_CFG_LSTM_CHANNELS, 4);
    attn_config_set(c, ATTN_CFG_KEY_CHANNELS, 2);
    attn_config_set(c, ATTN_CFG_BASIS_U, 2);
    attn_config_set(c, ATTN_CFG_BASIS_V, 2);
    attn_config_set(c, ATTN_CFG_NUM_QUERIES, 2);
    attn_config_set(c, ATTN_CFG_CORE_UNITS, 8);
    attn_config_set(c, ATTN_CFG_QUERY_LAYERS, 0);
    attn_config_set(c, ATTN_CFG_ANSWER_LAYERS, 1);
    attn_config_set_mlp_hidden(c, ATTN_MLP_ANSWER, 0, 8);
    attn_config_set(c, ATTN_CFG_THREADS, 1);
    if (attn_config_validate(c) != ATTN_OK) fail_msg("test configuration: %s", attn_last_error());
    return c;
}

typedef struct session {
    attn_config *cfg;
    attn_model *model;
    attn_optimizer *opt;
    attn_rollout *ro;
    attn_learner *ln; /* only where updates are made */
    world *w;
    attn_env env;
} session;

typedef struct session_spec {
    int f32, actions, B, T;
    attn_optim_kind kind;
    uint64_t seed; /* model, rollout */
} session_spec;

static session_spec spec(attn_optim_kind kind, int B, int T, uint64_t seed)
{
    return (session_spec){0, GAME_ACTIONS, B, T, kind, seed};
}

static void session_open(session *s, session_spec sp)
{
    memset(s, 0, sizeof *s);
    assert_true(sp.B <= MAX_ENVS);
    s->cfg = game_config(sp.f32, sp.actions);
    if (attn_model_create(&s->model, s->cfg, sp.seed) != ATTN_OK) fail_msg("model: %s", attn_last_error());
    if (attn_optimizer_create(&s->opt, s->model, sp.kind) != ATTN_OK) fail_msg("optimizer: %s", attn_last_error());
    if (attn_rollout_create(&s->ro, s->model, sp.B, sp.T, sp.seed + 1000) != ATTN_OK)
        fail_msg("rollout: %s", attn_last_error());
    s->w = calloc(1, sizeof *s->w);
    assert_non_null(s->w);
    s->w->f32 = sp.f32;
    s->w->fail_load_at = s->w->fail_save_at = -1;
    s->env = game_env(s->w, 1);
}

static void session_learner(session *s, attn_loss_kind loss)
{
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, loss), ATTN_OK);
    if (loss == ATTN_LOSS_PPO) {
        lc.ppo_epochs = 2;
        lc.ppo_minibatches = 2;
    }
    if (attn_learner_create(&s->ln, s->model, &lc, s->ro->B, s->ro->T) != ATTN_OK)
        fail_msg("learner: %s", attn_last_error());
}

static void session_close(session *s)
{
    attn_learner_destroy(s->ln);
    attn_rollout_destroy(s->ro);
    attn_optimizer_destroy(s->opt);
    attn_model_destroy(s->model);
    attn_config_destroy(s->cfg);
    free(s->w);
    memset(s, 0, sizeof *s);
}

static void collect(session *s)
{
    if (attn_rollout_collect(s->ro, s->model, &s->env, ATTN_ACT_SAMPLE) != ATTN_OK)
        fail_msg("collect: %s", attn_last_error());
}

/* Knobs away from every default, so a load that forgot one shows. */
static void unusual_knobs(attn_optimizer *opt)
{
    static const double v[] = {[ATTN_OPT_LR] = 3e-3,          [ATTN_OPT_EPSILON] = 0.0137,
                               [ATTN_OPT_DECAY] = 0.95,        [ATTN_OPT_MOMENTUM] = 0.3,
                               [ATTN_OPT_BETA1] = 0.85,        [ATTN_OPT_BETA2] = 0.995,
                               [ATTN_OPT_WEIGHT_DECAY] = 0.02, [ATTN_OPT_MAX_GRAD_NORM] = 2.5,
                               [ATTN_OPT_LR_DECAY_STEPS] = 40, [ATTN_OPT_LR_END] = 1.0 / 3.0 * 1e-4};
    for (int k = 0; k <= ATTN_OPT_LR_END; k++)
        assert_int_equal(attn_optimizer_set(opt, (attn_optim_param)k, v[k]), ATTN_OK);
}

/* Random slots and a step count, as if after some updates, without needing the learner. */
static void scramble_optimizer(attn_optimizer *opt, const attn_model *model, uint64_t seed)
{
    test_rng r = {seed};
    for (int s = 0; s < attn_optimizer_slot_count(opt); s++) {
        float *data;
        assert_int_equal(attn_optimizer_slot(opt, s, NULL, &data), ATTN_OK);
        fill_uniform(&r, data, attn_model_param_count(model), 0.0f, 0.5f);
    }
    assert_int_equal(attn_optimizer_set_steps(opt, 17), ATTN_OK);
}

/* ---- Snapshots: every bit a checkpoint is meant to carry, in one buffer ------------------------------ */

typedef struct snap {
    unsigned char *bytes;
    size_t n, cap;
} snap;

static void put(snap *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->bytes = realloc(s->bytes, s->cap);
        assert_non_null(s->bytes);
    }
    memcpy(s->bytes + s->n, p, n);
    s->n += n;
}

/* The model, the optimizer, the rollout's carried state (not its unroll buffer) and the games; `valid` and the
 * world's call counters are not part of it. */
static snap snapshot(session *s)
{
    snap out = {0};
    put(&out, attn_model_params(s->model), attn_model_param_count(s->model) * sizeof(float));
    attn_optim_kind kind = attn_optimizer_kind(s->opt);
    int64_t steps = attn_optimizer_steps(s->opt);
    put(&out, &kind, sizeof kind);
    put(&out, &steps, sizeof steps);
    for (int k = 0; k <= ATTN_OPT_LR_END; k++) {
        double v;
        assert_int_equal(attn_optimizer_get(s->opt, (attn_optim_param)k, &v), ATTN_OK);
        put(&out, &v, sizeof v);
    }
    for (int k = 0; k < attn_optimizer_slot_count(s->opt); k++) {
        float *data;
        assert_int_equal(attn_optimizer_slot(s->opt, k, NULL, &data), ATTN_OK);
        put(&out, data, attn_model_param_count(s->model) * sizeof(float));
    }
    const attn_rollout *r = s->ro;
    const size_t B = (size_t)r->B;
    for (int p = 0; p < 4; p++) {
        size_t n = attn_state_part_size(r->act, (attn_state_part)p);
        float *part = malloc(n * sizeof(float));
        assert_non_null(part);
        assert_int_equal(attn_state_get(r->act, (attn_state_part)p, part, n), ATTN_OK);
        put(&out, part, n * sizeof(float));
        free(part);
    }
    put(&out, r->cur_obs, B * r->obs_elems * r->obs_elem_size);
    put(&out, r->cur_first, B);
    put(&out, r->last_action, B * sizeof(int32_t));
    put(&out, r->last_reward, B * sizeof(float));
    put(&out, r->streams, B * sizeof(rng));
    put(&out, r->episode_count, B * sizeof(uint64_t));
    put(&out, r->ep_return, B * sizeof(double));
    put(&out, r->ep_length, B * sizeof(int32_t));
    put(&out, &r->frames, sizeof r->frames);
    put(&out, &r->episodes, sizeof r->episodes);
    put(&out, &r->started, sizeof r->started);
    put(&out, &r->seed, sizeof r->seed);
    for (size_t b = 0; b < B; b++) {
        const game *g = &s->w->g[b];
        const int32_t ints[5] = {g->ay, g->ax, g->gy, g->gx, g->t};
        put(&out, ints, sizeof ints);
        put(&out, &g->rng, sizeof g->rng);
    }
    return out;
}

static void assert_same_snap(const snap *a, const snap *b, const char *what)
{
    if (a->n != b->n) fail_msg("%s: snapshots of %zu and %zu bytes", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (a->bytes[i] != b->bytes[i]) fail_msg("%s: snapshots differ at byte %zu of %zu", what, i, a->n);
}

/* The session is exactly as `before` says, and its rollout still holds what it held. */
static void assert_unchanged(session *s, const snap *before, int valid)
{
    snap now = snapshot(s);
    assert_same_snap(before, &now, "after a refused load");
    assert_int_equal(s->ro->valid, valid);
    assert_int_equal(s->w->loads, 0);
    free(now.bytes);
}

/* ---- Files ---------------------------------------------------------------------------------------------- */

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    return scratch_dir_create(dir, sizeof dir, "attn_tck_");
}

static int remove_dir(void **state)
{
    (void)state;
    return scratch_dir_remove(dir);
}

static const char *in_dir(const char *name, int slot)
{
    static char paths[3][600];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", dir, name);
    return paths[slot];
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void expect_message(const char *fragment)
{
    if (!strstr(attn_last_error(), fragment))
        fail_msg("error message \"%s\" does not mention \"%s\"", attn_last_error(), fragment);
}

static void save(session *s, const char *path)
{
    if (attn_training_save(path, s->model, s->opt, s->ro, &s->env, NULL, NULL, 0) != ATTN_OK)
        fail_msg("attn_training_save: %s", attn_last_error());
}

static void load(session *s, const char *path)
{
    if (attn_training_load(path, s->model, s->opt, s->ro, &s->env) != ATTN_OK)
        fail_msg("attn_training_load: %s", attn_last_error());
}

/* A session mid-run: unusual knobs, scrambled slots, three collects or more (episodes finished and under way). */
static void mid_run(session *s, session_spec sp)
{
    session_open(s, sp);
    unusual_knobs(s->opt);
    scramble_optimizer(s->opt, s->model, sp.seed + 7);
    for (int i = 0; i < 3 || (s->ro->episodes == 0 && i < 20); i++) collect(s);
    assert_true(s->ro->episodes > 0);
}

/* ---- Round trip ----------------------------------------------------------------------------------------- */

/* Everything comes back bit for bit into objects created from other seeds with default knobs; saving the
 * restored session writes the same bytes; and both sessions collect the same next unroll. */
static void check_round_trip(session_spec sp)
{
    session a, b;
    mid_run(&a, sp);
    const char *path = in_dir("round.safetensors", 0), *again = in_dir("again.safetensors", 1);
    save(&a, path);
    assert_int_equal(a.w->saves, sp.B);

    session_spec other = sp;
    other.seed = sp.seed + 50;
    session_open(&b, other);
    snap sa = snapshot(&a), before = snapshot(&b);
    assert_true(sa.n == before.n && memcmp(sa.bytes, before.bytes, sa.n) != 0);
    load(&b, path);
    snap sb = snapshot(&b);
    assert_same_snap(&sa, &sb, "restored session");
    assert_int_equal(b.ro->valid, 0);
    assert_int_equal(b.w->loads, sp.B);
    assert_true(b.ro->started);

    save(&b, again);
    size_t n1, n2;
    unsigned char *f1 = read_file_bytes(path, &n1), *f2 = read_file_bytes(again, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);

    collect(&a);
    collect(&b);
    attn_rollout_view va, vb;
    assert_int_equal(attn_rollout_view_get(a.ro, &va), ATTN_OK);
    assert_int_equal(attn_rollout_view_get(b.ro, &vb), ATTN_OK);
    const size_t TB = (size_t)va.T * (size_t)va.B;
    assert_memory_equal(va.obs, vb.obs, (TB + 0) * a.ro->obs_elems * a.ro->obs_elem_size);
    assert_memory_equal(va.actions, vb.actions, TB * sizeof(int32_t));
    assert_memory_equal(va.rewards, vb.rewards, TB * sizeof(float));
    assert_memory_equal(va.logits, vb.logits, TB * (size_t)va.A * sizeof(float));
    assert_memory_equal(va.bootstrap, vb.bootstrap, (size_t)va.B * sizeof(float));
    free(sa.bytes);
    free(sb.bytes);
    sa = snapshot(&a);
    sb = snapshot(&b);
    assert_same_snap(&sa, &sb, "after one more collect");

    free(f1);
    free(f2);
    free(sa.bytes);
    free(sb.bytes);
    free(before.bytes);
    unlink(path);
    unlink(again);
    session_close(&a);
    session_close(&b);
}

static void round_trip_u8_rmsprop(void **state)
{
    (void)state;
    check_round_trip(spec(ATTN_OPTIM_RMSPROP, 3, 4, 11));
}

static void round_trip_f32_adamw(void **state)
{
    (void)state;
    session_spec sp = spec(ATTN_OPTIM_ADAMW, 2, 5, 12);
    sp.f32 = 1;
    check_round_trip(sp);
}

static void round_trip_sgd_and_adam(void **state)
{
    (void)state;
    check_round_trip(spec(ATTN_OPTIM_SGD, 2, 3, 13));
    check_round_trip(spec(ATTN_OPTIM_ADAM, 4, 2, 14));
}

/* ---- The file's layout ---------------------------------------------------------------------------------- */

/* The contract with other readers: the model part as attn_model_save writes it, then the slots, then the
 * rollout, then the environments; the metadata keys and their text. */
static void file_layout(void **state)
{
    (void)state;
    session s;
    mid_run(&s, spec(ATTN_OPTIM_RMSPROP, 2, 3, 21));
    const char *path = in_dir("layout.safetensors", 0);
    const char *keys[1] = {"updates"}, *values[1] = {"5"};
    assert_int_equal(attn_training_save(path, s.model, s.opt, s.ro, &s.env, keys, values, 1), ATTN_OK);
    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    const int n = attn_model_tensor_count(s.model);
    assert_int_equal(st_count(f), n * 3 + 11 + 2);
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t offset;
        assert_int_equal(attn_model_tensor(s.model, i, &name, NULL, NULL, &offset), ATTN_OK);
        assert_string_equal(st_get(f, i)->name, name);
        static const char *const slots[2] = {"ms", "mom"};
        for (int k = 0; k < 2; k++) {
            char want[128];
            float *data;
            snprintf(want, sizeof want, "optim.%s.%s", slots[k], name);
            const st_tensor *t = st_get(f, n * (1 + k) + i);
            assert_string_equal(t->name, want);
            assert_int_equal(t->dtype, ST_F32);
            assert_int_equal(t->ndim, st_get(f, i)->ndim);
            assert_int_equal(attn_optimizer_slot(s.opt, k, NULL, &data), ATTN_OK);
            assert_memory_equal(t->data, data + offset, t->nbytes);
        }
    }
    static const struct {
        const char *name;
        st_dtype dtype;
        int ndim;
        int64_t shape[4];
    } train[] = {
        {"train.state.vision_h", ST_F32, 4, {2, 5, 5, 4}}, {"train.state.vision_c", ST_F32, 4, {2, 5, 5, 4}},
        {"train.state.core_h", ST_F32, 2, {2, 8}},         {"train.state.core_c", ST_F32, 2, {2, 8}},
        {"train.obs", ST_U8, 4, {2, 5, 5, 2}},             {"train.first", ST_U8, 1, {2}},
        {"train.last_action", ST_I32, 1, {2}},             {"train.last_reward", ST_F32, 1, {2}},
        {"train.episode_count", ST_I64, 1, {2}},           {"train.ep_return", ST_F64, 1, {2}},
        {"train.ep_length", ST_I32, 1, {2}},               {"train.env.0", ST_U8, 1, {GAME_BYTES}},
        {"train.env.1", ST_U8, 1, {GAME_BYTES}},
    };
    for (int i = 0; i < (int)(sizeof train / sizeof train[0]); i++) {
        const st_tensor *t = st_get(f, 3 * n + i);
        assert_string_equal(t->name, train[i].name);
        assert_int_equal(t->dtype, train[i].dtype);
        assert_int_equal(t->ndim, train[i].ndim);
        for (int d = 0; d < t->ndim; d++) assert_true(t->shape[d] == train[i].shape[d]);
    }
    assert_memory_equal(st_find(f, "train.ep_return")->data, s.ro->ep_return, 2 * sizeof(double));
    assert_memory_equal(st_find(f, "train.episode_count")->data, s.ro->episode_count, 2 * sizeof(uint64_t));

    static const char *const meta[] = {
        "format", "format_version", "config", "train.version", "optim.kind", "optim.steps", "optim.lr",
        "optim.epsilon", "optim.decay", "optim.momentum", "optim.beta1", "optim.beta2", "optim.weight_decay",
        "optim.max_grad_norm", "optim.lr_decay_steps", "optim.lr_end", "train.batch", "train.unroll", "train.seed",
        "train.frames", "train.episodes", "train.started", "train.rng", "host.updates",
    };
    assert_int_equal(st_meta_count(f), (int)(sizeof meta / sizeof meta[0]));
    for (int i = 0; i < st_meta_count(f); i++) {
        const char *key;
        st_meta_entry(f, i, &key, NULL);
        assert_string_equal(key, meta[i]);
    }
    assert_string_equal(st_meta(f, "format"), "attnagent");
    assert_string_equal(st_meta(f, "train.version"), "1");
    assert_string_equal(st_meta(f, "optim.kind"), "rmsprop");
    assert_string_equal(st_meta(f, "optim.steps"), "17");
    assert_string_equal(st_meta(f, "optim.lr"), "0.0030000000000000001");
    assert_string_equal(st_meta(f, "optim.lr_decay_steps"), "40");
    assert_string_equal(st_meta(f, "train.batch"), "2");
    assert_string_equal(st_meta(f, "train.unroll"), "3");
    assert_string_equal(st_meta(f, "train.seed"), "1021");
    assert_string_equal(st_meta(f, "train.frames"), "18");
    assert_string_equal(st_meta(f, "train.started"), "1");
    assert_string_equal(st_meta(f, "host.updates"), "5");
    char rng_text[80];
    snprintf(rng_text, sizeof rng_text, "%016llx %016llx", (unsigned long long)s.ro->streams[0].s[0],
             (unsigned long long)s.ro->streams[0].s[1]);
    const char *stored = st_meta(f, "train.rng");
    assert_int_equal(strlen(stored), 2 * 4 * 17 - 1);
    assert_memory_equal(stored, rng_text, strlen(rng_text));
    st_close(f);
    unlink(path);
    session_close(&s);
}

/* ---- Exact resume --------------------------------------------------------------------------------------- */

#define RESUME_UPDATES 6
#define RESUME_SPLIT 3
#define MAX_RETURNS 512

typedef struct run_log {
    float returns[MAX_RETURNS];
    int32_t lengths[MAX_RETURNS];
    int n;
    attn_loss_stats stats[RESUME_UPDATES];
} run_log;

static void update(session *s, run_log *log, int u)
{
    collect(s);
    int count = 0;
    assert_int_equal(attn_rollout_finished(s->ro, log->returns + log->n, log->lengths + log->n, MAX_RETURNS - log->n,
                                           &count),
                     ATTN_OK);
    assert_true(log->n + count <= MAX_RETURNS);
    log->n += count;
    if (attn_learner_update(s->ln, s->opt, s->ro, &log->stats[u]) != ATTN_OK)
        fail_msg("update %d: %s", u, attn_last_error());
    assert_int_equal(log->stats[u].skipped, 0);
}

typedef enum resume_how {
    RESUME_WITH_ENVS, /* the checkpoint holds the games and the load restores them */
    RESUME_WITHOUT_ENVS /* the load is given no environment: the games restart (the control that must differ) */
} resume_how;

/* N updates in one go against K updates, a checkpoint, everything destroyed, everything recreated from other
 * seeds and default knobs, the load, and N − K more updates. Returns whether the two runs ended identical
 * (parameters, slots, steps, knobs, rollout state, games, every episode's return and length, every update's
 * statistics), after asserting the checkpoint restored what it holds. */
static int resume_matches(attn_loss_kind loss, attn_optim_kind kind, resume_how how)
{
    const session_spec sp = spec(kind, 4, 6, 31);
    session one, two;
    run_log *log1 = calloc(1, sizeof *log1), *log2 = calloc(1, sizeof *log2);
    assert_non_null(log1);
    assert_non_null(log2);

    session_open(&one, sp);
    session_learner(&one, loss);
    unusual_knobs(one.opt);
    for (int u = 0; u < RESUME_UPDATES; u++) update(&one, log1, u);

    session_open(&two, sp);
    session_learner(&two, loss);
    unusual_knobs(two.opt);
    for (int u = 0; u < RESUME_SPLIT; u++) update(&two, log2, u);
    const char *path = in_dir("resume.safetensors", 0);
    save(&two, path);
    session_close(&two);

    session_spec other = sp;
    other.seed = 977;
    session_open(&two, other);
    session_learner(&two, loss);
    attn_status st = attn_training_load(path, two.model, two.opt, two.ro, how == RESUME_WITH_ENVS ? &two.env : NULL);
    if (st != ATTN_OK) fail_msg("load: %s", attn_last_error());
    assert_int_equal(two.ro->started, how == RESUME_WITH_ENVS);
    for (int u = RESUME_SPLIT; u < RESUME_UPDATES; u++) update(&two, log2, u);

    snap s1 = snapshot(&one), s2 = snapshot(&two);
    int same = s1.n == s2.n && memcmp(s1.bytes, s2.bytes, s1.n) == 0 && log1->n == log2->n &&
               memcmp(log1->returns, log2->returns, sizeof(float) * (size_t)log1->n) == 0 &&
               memcmp(log1->lengths, log2->lengths, sizeof(int32_t) * (size_t)log1->n) == 0 &&
               memcmp(log1->stats, log2->stats, sizeof log1->stats) == 0;
    if (how == RESUME_WITH_ENVS) {
        /* Said once in detail, so a failure names what diverged. */
        assert_memory_equal(attn_model_params(one.model), attn_model_params(two.model),
                            attn_model_param_count(one.model) * sizeof(float));
        for (int k = 0; k < attn_optimizer_slot_count(one.opt); k++) {
            float *d1, *d2;
            assert_int_equal(attn_optimizer_slot(one.opt, k, NULL, &d1), ATTN_OK);
            assert_int_equal(attn_optimizer_slot(two.opt, k, NULL, &d2), ATTN_OK);
            assert_memory_equal(d1, d2, attn_model_param_count(one.model) * sizeof(float));
        }
        assert_int_equal(attn_optimizer_steps(one.opt), attn_optimizer_steps(two.opt));
        assert_int_equal(log1->n, log2->n);
        assert_true(log1->n >= 8);
        assert_memory_equal(log1->returns, log2->returns, sizeof(float) * (size_t)log1->n);
        assert_memory_equal(log1->lengths, log2->lengths, sizeof(int32_t) * (size_t)log1->n);
        assert_memory_equal(log1->stats, log2->stats, sizeof log1->stats);
        assert_same_snap(&s1, &s2, "resumed run");
        assert_true(attn_rollout_frames(one.ro) == attn_rollout_frames(two.ro));
        assert_true(attn_rollout_episodes(one.ro) == attn_rollout_episodes(two.ro));
        /* And training did something: the parameters moved away from their initialisation. */
        attn_model *init = NULL;
        assert_int_equal(attn_model_create(&init, one.cfg, sp.seed), ATTN_OK);
        assert_true(memcmp(attn_model_params(init), attn_model_params(one.model),
                           attn_model_param_count(init) * sizeof(float)) != 0);
        attn_model_destroy(init);
    }
    free(s1.bytes);
    free(s2.bytes);
    free(log1);
    free(log2);
    unlink(path);
    session_close(&one);
    session_close(&two);
    return same;
}

static void exact_resume_vtrace_rmsprop(void **state)
{
    (void)state;
    assert_true(resume_matches(ATTN_LOSS_VTRACE, ATTN_OPTIM_RMSPROP, RESUME_WITH_ENVS));
}

static void exact_resume_ppo_adam(void **state)
{
    (void)state;
    assert_true(resume_matches(ATTN_LOSS_PPO, ATTN_OPTIM_ADAM, RESUME_WITH_ENVS));
}

static void exact_resume_a2c_sgd(void **state)
{
    (void)state;
    assert_true(resume_matches(ATTN_LOSS_A2C, ATTN_OPTIM_SGD, RESUME_WITH_ENVS));
}

/* The control: the same resume with the games restarted instead of restored ends elsewhere, so the
 * comparison above can fail. */
static void resume_without_envs_diverges(void **state)
{
    (void)state;
    assert_false(resume_matches(ATTN_LOSS_VTRACE, ATTN_OPTIM_RMSPROP, RESUME_WITHOUT_ENVS));
}

/* ---- A model file ------------------------------------------------------------------------------------- */

static void model_loaders_open_it(void **state)
{
    (void)state;
    session s;
    mid_run(&s, spec(ATTN_OPTIM_ADAM, 2, 3, 41));
    const char *path = in_dir("model_view.safetensors", 0);
    save(&s, path);
    attn_model *m = NULL;
    if (attn_model_load(&m, path) != ATTN_OK) fail_msg("attn_model_load: %s", attn_last_error());
    assert_int_equal(attn_model_param_count(m), attn_model_param_count(s.model));
    assert_memory_equal(attn_model_params(m), attn_model_params(s.model), attn_model_param_count(m) * sizeof(float));
    attn_model_destroy(m);
    assert_int_equal(attn_model_create(&m, s.cfg, 99), ATTN_OK);
    assert_int_equal(attn_model_load_params(m, path), ATTN_OK);
    assert_memory_equal(attn_model_params(m), attn_model_params(s.model), attn_model_param_count(m) * sizeof(float));

    /* The other way round: a model file is not a training checkpoint. */
    const char *plain = in_dir("plain.safetensors", 1);
    assert_int_equal(attn_model_save(s.model, plain), ATTN_OK);
    snap before = snapshot(&s);
    assert_int_equal(attn_training_load(plain, s.model, s.opt, s.ro, &s.env), ATTN_ERR_FORMAT);
    expect_message("not a training checkpoint");
    assert_unchanged(&s, &before, 1);
    free(before.bytes);
    attn_model_destroy(m);
    unlink(path);
    unlink(plain);
    session_close(&s);
}

/* ---- Truncation ----------------------------------------------------------------------------------------- */

static void every_truncation_is_refused(void **state)
{
    (void)state;
    session a, b;
    mid_run(&a, spec(ATTN_OPTIM_RMSPROP, 2, 2, 51));
    const char *path = in_dir("full.safetensors", 0), *cut = in_dir("cut.safetensors", 1);
    save(&a, path);
    size_t n;
    unsigned char *bytes = read_file_bytes(path, &n);
    session_open(&b, spec(ATTN_OPTIM_RMSPROP, 2, 2, 52));
    collect(&b);
    snap before = snapshot(&b);
    FILE *fp = fopen(cut, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    for (size_t len = n; len-- > 0;) {
        assert_int_equal(truncate(cut, (off_t)len), 0);
        attn_status st = attn_training_load(cut, b.model, b.opt, b.ro, &b.env);
        if (st != ATTN_ERR_FORMAT && st != ATTN_ERR_IO) fail_msg("load of %zu/%zu bytes: status %d", len, n, (int)st);
    }
    assert_unchanged(&b, &before, 1);
    /* The control: the whole file loads. */
    load(&b, path);
    snap sa = snapshot(&a), sb = snapshot(&b);
    assert_same_snap(&sa, &sb, "the whole file");
    free(sa.bytes);
    free(sb.bytes);
    free(before.bytes);
    free(bytes);
    unlink(cut);
    unlink(path);
    session_close(&a);
    session_close(&b);
}

/* ---- Corruption: a real checkpoint re-written with one thing changed -------------------------------- */

#define MAX_PARTS 256

typedef struct parts {
    st_file *f;
    st_tensor t[MAX_PARTS];
    void *owned[MAX_PARTS]; /* copies of tensor data made writable */
    int n;
    const char *keys[64], *values[64];
    int n_meta;
} parts;

static void take_apart(parts *p, const char *path)
{
    memset(p, 0, sizeof *p);
    assert_int_equal(st_open(&p->f, path), ATTN_OK);
    p->n = st_count(p->f);
    assert_true(p->n <= MAX_PARTS);
    for (int i = 0; i < p->n; i++) p->t[i] = *st_get(p->f, i);
    p->n_meta = st_meta_count(p->f);
    assert_true(p->n_meta <= 64);
    for (int i = 0; i < p->n_meta; i++) st_meta_entry(p->f, i, &p->keys[i], &p->values[i]);
}

static void free_parts(parts *p)
{
    for (int i = 0; i < MAX_PARTS; i++) free(p->owned[i]);
    st_close(p->f);
}

static int part_index(parts *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0) return i;
    fail_msg("no tensor %s", name);
    return -1;
}

/* A writable copy of tensor `name`'s data. */
static void *writable(parts *p, const char *name)
{
    int i = part_index(p, name);
    if (!p->owned[i]) {
        p->owned[i] = malloc(p->t[i].nbytes + 1);
        assert_non_null(p->owned[i]);
        memcpy(p->owned[i], p->t[i].data, p->t[i].nbytes);
        p->t[i].data = p->owned[i];
    }
    return p->owned[i];
}

static void drop_tensor(parts *p, const char *name)
{
    int i = part_index(p, name);
    free(p->owned[i]);
    for (int j = i; j + 1 < p->n; j++) {
        p->t[j] = p->t[j + 1];
        p->owned[j] = p->owned[j + 1];
    }
    p->owned[--p->n] = NULL;
}

static void set_meta(parts *p, const char *key, const char *value)
{
    for (int i = 0; i < p->n_meta; i++)
        if (strcmp(p->keys[i], key) == 0) {
            p->values[i] = value;
            return;
        }
    p->keys[p->n_meta] = key;
    p->values[p->n_meta++] = value;
}

static void drop_meta(parts *p, const char *key)
{
    for (int i = 0; i < p->n_meta; i++)
        if (strcmp(p->keys[i], key) == 0) {
            for (int j = i; j + 1 < p->n_meta; j++) {
                p->keys[j] = p->keys[j + 1];
                p->values[j] = p->values[j + 1];
            }
            p->n_meta--;
            return;
        }
    fail_msg("no metadata %s", key);
}

/* Writes the changed file and expects the load to refuse it, naming `fragment`, with nothing changed. */
static void expect_refused(parts *p, session *s, const snap *before, const char *fragment)
{
    const char *bad = in_dir("bad.safetensors", 2);
    if (st_write(bad, p->t, p->n, p->keys, p->values, p->n_meta) != ATTN_OK)
        fail_msg("st_write (%s): %s", fragment, attn_last_error());
    attn_status st = attn_training_load(bad, s->model, s->opt, s->ro, &s->env);
    if (st != ATTN_ERR_FORMAT) fail_msg("%s: status %d (%s)", fragment, (int)st, attn_last_error());
    expect_message(fragment);
    assert_unchanged(s, before, 1);
    unlink(bad);
}

typedef struct corruption_env {
    session src, dst;
    snap before;
    const char *path;
} corruption_env;

static corruption_env *corruption_setup(void)
{
    corruption_env *c = calloc(1, sizeof *c);
    assert_non_null(c);
    mid_run(&c->src, spec(ATTN_OPTIM_RMSPROP, 2, 3, 61));
    c->path = in_dir("source.safetensors", 0);
    save(&c->src, c->path);
    session_open(&c->dst, spec(ATTN_OPTIM_RMSPROP, 2, 3, 62));
    collect(&c->dst);
    c->before = snapshot(&c->dst);
    return c;
}

static void corruption_teardown(corruption_env *c)
{
    /* The untouched file still loads into the same session. */
    load(&c->dst, c->path);
    snap sa = snapshot(&c->src), sb = snapshot(&c->dst);
    assert_same_snap(&sa, &sb, "the unmodified file");
    free(sa.bytes);
    free(sb.bytes);
    free(c->before.bytes);
    unlink(c->path);
    session_close(&c->src);
    session_close(&c->dst);
    free(c);
}

static void refuses_bad_metadata(void **state)
{
    (void)state;
    corruption_env *c = corruption_setup();
    static const struct {
        const char *key, *value, *fragment;
    } cases[] = {
        {"train.version", "2", "train.version \"2\" is not supported"},
        {"optim.kind", "adagrad", "unknown optimizer kind \"adagrad\""},
        {"optim.kind", "adam", "the file's optimizer is adam, this one is rmsprop"},
        {"optim.steps", "-1", "\"optim.steps\" = \"-1\""},
        {"optim.steps", "12a", "\"optim.steps\" = \"12a\""},
        {"optim.steps", "99999999999999999999", "optim.steps"},
        {"optim.steps", "", "optim.steps"},
        {"optim.lr", "nan", "\"optim.lr\" = \"nan\" is not a finite number"},
        {"optim.lr", "inf", "optim.lr"},
        {"optim.lr", "1e999", "optim.lr"},
        {"optim.lr", " 0.1", "optim.lr"},
        {"optim.lr", "0.1 ", "optim.lr"},
        {"optim.lr", "0,1", "optim.lr"},
        {"optim.lr", "-0.5", "\"optim.lr\" refused by the optimizer"},
        {"optim.decay", "1", "\"optim.decay\" refused by the optimizer"},
        {"train.batch", "3", "the file's rollout is 3 environments × 3 steps, this one 2 × 3"},
        {"train.unroll", "4", "this one 2 × 3"},
        {"train.unroll", "0", "train.unroll"},
        {"train.seed", "-5", "train.seed"},
        {"train.seed", "18446744073709551616", "train.seed"},
        {"train.frames", "-2", "train.frames"},
        {"train.episodes", "x", "train.episodes"},
        {"train.started", "2", "train.started"},
        {"train.rng", "0123", "\"train.rng\" has 4 characters"},
        {"train.extra", "1", "unknown metadata \"train.extra\""},
        {"optim.nesterov", "1", "unknown metadata \"optim.nesterov\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parts p;
        take_apart(&p, c->path);
        set_meta(&p, cases[i].key, cases[i].value);
        expect_refused(&p, &c->dst, &c->before, cases[i].fragment);
        free_parts(&p);
    }
    static const char *const required[] = {"train.version", "optim.kind", "optim.steps", "optim.lr_end", "train.batch",
                                           "train.rng", "train.started", "config"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        parts p;
        take_apart(&p, c->path);
        drop_meta(&p, required[i]);
        expect_refused(&p, &c->dst, &c->before, i == 0 ? "not a training checkpoint" : required[i]);
        free_parts(&p);
    }
    /* The random streams: a bad digit, an upper-case digit, a wrong separator, a stream of zeros. */
    for (int k = 0; k < 4; k++) {
        parts p;
        take_apart(&p, c->path);
        char *text = strdup(st_meta(p.f, "train.rng"));
        assert_non_null(text);
        const char *fragment = "\"train.rng\" word";
        if (k == 0) text[20] = 'g';
        if (k == 1) text[3] = 'A';
        if (k == 2) text[16] = '_';
        if (k == 3) {
            memcpy(text + 4 * 17, "0000000000000000 0000000000000000 0000000000000000 0000000000000000", 67);
            fragment = "stream 1 is all zero";
        }
        set_meta(&p, "train.rng", text);
        expect_refused(&p, &c->dst, &c->before, fragment);
        free(text);
        free_parts(&p);
    }
    /* Foreign metadata outside the reserved prefixes is none of the loader's business. */
    parts p;
    take_apart(&p, c->path);
    set_meta(&p, "trainer", "someone else's");
    const char *ok = in_dir("foreign.safetensors", 2);
    assert_int_equal(st_write(ok, p.t, p.n, p.keys, p.values, p.n_meta), ATTN_OK);
    free_parts(&p);
    session tmp;
    session_open(&tmp, spec(ATTN_OPTIM_RMSPROP, 2, 3, 63));
    load(&tmp, ok);
    session_close(&tmp);
    unlink(ok);
    corruption_teardown(c);
}

static void refuses_bad_tensors(void **state)
{
    (void)state;
    corruption_env *c = corruption_setup();
    parts p;
    const char *w = "core.weight_hh", *slot = "optim.ms.core.weight_hh", *mom = "optim.mom.policy.bias";

#define CASE(setup, fragment)                                                                                     \
    do {                                                                                                          \
        take_apart(&p, c->path);                                                                                  \
        setup;                                                                                                    \
        expect_refused(&p, &c->dst, &c->before, fragment);                                                        \
        free_parts(&p);                                                                                           \
    } while (0)

    CASE(drop_tensor(&p, w), "tensor \"core.weight_hh\" is missing");
    CASE(drop_tensor(&p, slot), "tensor \"optim.ms.core.weight_hh\" is missing");
    CASE(p.t[part_index(&p, slot)].dtype = ST_I32, "\"optim.ms.core.weight_hh\" is I32, expected F32");
    CASE((p.t[part_index(&p, slot)].ndim = 1, p.t[part_index(&p, slot)].shape[0] = 32 * 8),
         "\"optim.ms.core.weight_hh\" has shape [256], expected [32, 8]");
    CASE(((float *)writable(&p, mom))[1] = NAN, "\"optim.mom.policy.bias\" has a non-finite value at element 1");
    CASE((p.t[p.n] = p.t[part_index(&p, mom)], p.t[p.n++].name = "optim.extra.policy.bias"),
         "35 optimizer tensors, a rmsprop optimizer has 34 (2 slots × 17 tensors)");
    CASE(((float *)writable(&p, "train.state.core_c"))[3] = INFINITY,
         "\"train.state.core_c\" has a non-finite value at element 3");
    CASE(((float *)writable(&p, "train.last_reward"))[0] = NAN, "\"train.last_reward\" has a non-finite value");
    CASE(((double *)writable(&p, "train.ep_return"))[1] = -INFINITY, "\"train.ep_return\" has a non-finite value");
    CASE(((uint8_t *)writable(&p, "train.first"))[1] = 2, "\"train.first\" has a flag other than 0 or 1 at element 1");
    CASE(((int32_t *)writable(&p, "train.last_action"))[0] = GAME_ACTIONS,
         "\"train.last_action\" has an action outside [-1, A) at element 0");
    CASE(((int32_t *)writable(&p, "train.last_action"))[1] = -2, "an action outside");
    CASE(((int32_t *)writable(&p, "train.ep_length"))[0] = -1, "\"train.ep_length\" has a negative count");
    CASE((p.t[part_index(&p, "train.obs")].dtype = ST_I32, p.t[part_index(&p, "train.obs")].ndim = 1,
          p.t[part_index(&p, "train.obs")].shape[0] = 25),
         "\"train.obs\" is I32, expected U8");
    CASE((p.t[part_index(&p, "train.episode_count")].dtype = ST_F64), "\"train.episode_count\" is F64, expected I64");
    CASE((p.t[part_index(&p, "train.state.vision_h")].shape[1] = 25,
          p.t[part_index(&p, "train.state.vision_h")].shape[2] = 1),
         "\"train.state.vision_h\" has shape [2, 25, 1, 4], expected [2, 5, 5, 4]");
    CASE(drop_tensor(&p, "train.ep_return"), "tensor \"train.ep_return\" is missing");
    CASE((p.t[p.n] = p.t[part_index(&p, "train.first")], p.t[p.n++].name = "train.later"),
         "unexpected tensor \"train.later\"");
    CASE(drop_tensor(&p, "train.env.1"), "1 environment states for 2 environments");
    CASE((p.t[p.n] = p.t[part_index(&p, "train.env.0")], p.t[p.n++].name = "train.env.2"),
         "3 environment states for 2 environments");
    CASE(p.t[part_index(&p, "train.env.1")].name = "train.env.01", "tensor \"train.env.1\" is missing");
    CASE((p.t[part_index(&p, "train.env.1")].dtype = ST_I32, p.t[part_index(&p, "train.env.1")].shape[0] = 7),
         "\"train.env.1\" is not a U8 vector");
#undef CASE
    corruption_teardown(c);
}

/* ---- Mismatches between the file and the objects ----------------------------------------------------- */

static void expect_mismatch(session_spec sp, const char *path, attn_status want, const char *fragment)
{
    session s;
    session_open(&s, sp);
    collect(&s);
    snap before = snapshot(&s);
    attn_status st = attn_training_load(path, s.model, s.opt, s.ro, &s.env);
    if (st != want) fail_msg("%s: status %d (%s)", fragment, (int)st, attn_last_error());
    expect_message(fragment);
    assert_unchanged(&s, &before, 1);
    free(before.bytes);
    session_close(&s);
}

static void refuses_other_objects(void **state)
{
    (void)state;
    session s;
    const session_spec sp = spec(ATTN_OPTIM_RMSPROP, 2, 3, 71);
    mid_run(&s, sp);
    const char *path = in_dir("mismatch.safetensors", 0);
    save(&s, path);
    expect_mismatch(spec(ATTN_OPTIM_RMSPROP, 4, 3, 72), path, ATTN_ERR_FORMAT, "2 environments × 3 steps, this one 4");
    expect_mismatch(spec(ATTN_OPTIM_RMSPROP, 2, 5, 73), path, ATTN_ERR_FORMAT, "3 steps, this one 2 × 5");
    expect_mismatch(spec(ATTN_OPTIM_ADAMW, 2, 3, 74), path, ATTN_ERR_FORMAT,
                    "the file's optimizer is rmsprop, this one is adamw");
    session_spec other = sp;
    other.actions = 3;
    expect_mismatch(other, path, ATTN_ERR_FORMAT, "num_actions is 4, the model's is 3");
    other = sp;
    other.f32 = 1;
    expect_mismatch(other, path, ATTN_ERR_FORMAT, "obs_type is u8, the model's is f32");

    /* A rollout made for another network than the model it is loaded with is the caller's error. */
    session t;
    session_open(&t, sp);
    attn_config *cfg = game_config(0, 3);
    attn_model *m3 = NULL;
    assert_int_equal(attn_model_create(&m3, cfg, 1), ATTN_OK);
    assert_int_equal(attn_training_load(path, m3, t.opt, t.ro, &t.env), ATTN_ERR_INVALID);
    expect_message("another configuration");
    assert_int_equal(attn_training_save(path, m3, t.opt, t.ro, &t.env, NULL, NULL, 0), ATTN_ERR_INVALID);
    attn_model_destroy(m3);
    attn_config_destroy(cfg);
    session_close(&t);
    unlink(path);
    session_close(&s);
}

/* ---- Environments --------------------------------------------------------------------------------------- */

static int count_env_tensors(const char *path)
{
    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    int n = 0;
    for (int i = 0; i < st_count(f); i++) n += strncmp(st_get(f, i)->name, "train.env.", 10) == 0;
    st_close(f);
    return n;
}

static void environments_without_callbacks(void **state)
{
    (void)state;
    session a, b;
    mid_run(&a, spec(ATTN_OPTIM_RMSPROP, 3, 3, 81));
    const char *with = in_dir("with_envs.safetensors", 0), *without = in_dir("without_envs.safetensors", 1);
    save(&a, with);
    assert_int_equal(count_env_tensors(with), 3);
    attn_env plain = game_env(a.w, 0);
    assert_int_equal(attn_training_save(without, a.model, a.opt, a.ro, &plain, NULL, NULL, 0), ATTN_OK);
    assert_int_equal(count_env_tensors(without), 0);
    assert_int_equal(attn_training_save(without, a.model, a.opt, a.ro, NULL, NULL, NULL, 0), ATTN_OK);
    assert_int_equal(count_env_tensors(without), 0);

    /* No states in the file, callbacks at hand: everything else restored, the games restart at the next
     * collect. The same with states in the file and no callbacks, or no environment at all. */
    for (int k = 0; k < 3; k++) {
        session_open(&b, spec(ATTN_OPTIM_RMSPROP, 3, 3, 82));
        attn_env none = game_env(b.w, 0);
        const attn_env *env = k == 0 ? &b.env : k == 1 ? &none : NULL;
        assert_int_equal(attn_training_load(k == 0 ? without : with, b.model, b.opt, b.ro, env), ATTN_OK);
        assert_int_equal(b.ro->started, 0);
        assert_int_equal(b.w->loads, 0);
        assert_memory_equal(attn_model_params(b.model), attn_model_params(a.model),
                            attn_model_param_count(a.model) * sizeof(float));
        assert_memory_equal(b.ro->streams, a.ro->streams, 3 * sizeof(rng));
        collect(&b);
        assert_int_equal(b.w->resets, 3 + (int)b.ro->episodes - (int)a.ro->episodes);
        session_close(&b);
    }

    /* A rollout that never collected has no games to save. */
    session_open(&b, spec(ATTN_OPTIM_RMSPROP, 3, 3, 83));
    save(&b, without);
    assert_int_equal(count_env_tensors(without), 0);
    assert_int_equal(b.w->saves, 0);
    session_close(&b);

    /* Half a pair is refused. */
    attn_env half = game_env(a.w, 1);
    half.load = NULL;
    assert_int_equal(attn_training_save(without, a.model, a.opt, a.ro, &half, NULL, NULL, 0), ATTN_ERR_INVALID);
    expect_message("both or neither");
    half = game_env(a.w, 1);
    half.save = NULL;
    assert_int_equal(attn_training_load(with, a.model, a.opt, a.ro, &half), ATTN_ERR_INVALID);
    half.version = 99;
    assert_int_equal(attn_training_load(with, a.model, a.opt, a.ro, &half), ATTN_ERR_INVALID);
    expect_message("env version 99");
    unlink(with);
    unlink(without);
    session_close(&a);
}

static void failing_environment_callbacks(void **state)
{
    (void)state;
    session a, b;
    mid_run(&a, spec(ATTN_OPTIM_RMSPROP, 3, 3, 91));
    const char *path = in_dir("envs.safetensors", 0);
    save(&a, path);
    size_t n_before;
    unsigned char *good = read_file_bytes(path, &n_before);

    /* A failing save writes nothing: the good file stays. */
    a.w->fail_save_at = 1;
    a.w->fail_code = 7;
    assert_int_equal(attn_training_save(path, a.model, a.opt, a.ro, &a.env, NULL, NULL, 0), ATTN_ERR_CALLBACK);
    expect_message("environment 1: save (size query) returned 7: the second game is broken");
    a.w->fail_code = ATTN_CALLBACK_ABORT;
    assert_int_equal(attn_training_save(path, a.model, a.opt, a.ro, &a.env, NULL, NULL, 0), ATTN_ERR_ABORTED);
    const char *fresh = in_dir("never.safetensors", 1);
    assert_int_equal(attn_training_save(fresh, a.model, a.opt, a.ro, &a.env, NULL, NULL, 0), ATTN_ERR_ABORTED);
    assert_false(file_exists(fresh));
    size_t n_after;
    unsigned char *after = read_file_bytes(path, &n_after);
    assert_int_equal(n_before, n_after);
    assert_memory_equal(good, after, n_before);
    a.w->fail_save_at = -1;

    /* A failing load: the model, the optimizer and the rollout as they were, except that the rollout now
     * knows its games were partly overwritten and resets them all at the next collect. */
    for (int k = 0; k < 2; k++) {
        session_open(&b, spec(ATTN_OPTIM_RMSPROP, 3, 3, 92));
        collect(&b);
        snap before = snapshot(&b);
        b.w->fail_load_at = 2;
        b.w->fail_code = k ? ATTN_CALLBACK_ABORT : 5;
        attn_status st = attn_training_load(path, b.model, b.opt, b.ro, &b.env);
        assert_int_equal(st, k ? ATTN_ERR_ABORTED : ATTN_ERR_CALLBACK);
        expect_message(k ? "environment 2 asked to stop" : "environment 2: load returned 5: a game is broken");
        assert_int_equal(b.w->loads, 2);
        assert_int_equal(b.ro->started, 0);
        b.ro->started = 1; /* the one change; the rest (games aside) is as before */
        snap now = snapshot(&b);
        const size_t games = 3 * (5 * sizeof(int32_t) + sizeof(uint64_t));
        assert_int_equal(now.n, before.n);
        assert_memory_equal(now.bytes, before.bytes, now.n - games);
        assert_int_equal(b.ro->valid, 1);
        b.ro->started = 0;
        /* And the run goes on: the next collect restarts every game. */
        b.w->fail_load_at = -1;
        int resets = b.w->resets;
        collect(&b);
        assert_true(b.w->resets >= resets + 3);
        free(before.bytes);
        free(now.bytes);
        session_close(&b);
    }
    free(good);
    free(after);
    unlink(path);
    session_close(&a);
}

/* ---- Host metadata ------------------------------------------------------------------------------------- */

static void *meta_in_another_thread(void *arg)
{
    (void)arg;
    return (void *)attn_training_meta("updates");
}

static void host_metadata(void **state)
{
    (void)state;
    session a, b;
    mid_run(&a, spec(ATTN_OPTIM_RMSPROP, 2, 2, 101));
    session_open(&b, spec(ATTN_OPTIM_RMSPROP, 2, 2, 102));
    const char *path = in_dir("host.safetensors", 0), *bare = in_dir("bare.safetensors", 1);
    const char *keys[4] = {"updates", "run name", "empty", "host.nested"};
    const char *values[4] = {"42", "grid/ü \"quoted\"", "", "x"};
    assert_int_equal(attn_training_save(path, a.model, a.opt, a.ro, &a.env, keys, values, 4), ATTN_OK);
    save(&a, bare);

    load(&b, path);
    assert_string_equal(attn_training_meta("updates"), "42");
    assert_string_equal(attn_training_meta("run name"), "grid/ü \"quoted\"");
    assert_string_equal(attn_training_meta("empty"), "");
    assert_string_equal(attn_training_meta("host.nested"), "x");
    assert_null(attn_training_meta("host.updates"));
    assert_null(attn_training_meta("train.batch"));
    assert_null(attn_training_meta("missing"));
    assert_null(attn_training_meta(NULL));
    pthread_t thread;
    void *seen = (void *)1;
    assert_int_equal(pthread_create(&thread, NULL, meta_in_another_thread, NULL), 0);
    assert_int_equal(pthread_join(thread, &seen), 0);
    assert_null(seen);

    /* A failed load keeps the last good one's metadata; the next good load replaces it. */
    assert_int_equal(attn_training_load(in_dir("absent.safetensors", 2), b.model, b.opt, b.ro, &b.env), ATTN_ERR_IO);
    assert_string_equal(attn_training_meta("updates"), "42");
    load(&b, bare);
    assert_null(attn_training_meta("updates"));

    /* Bad extra arguments write nothing. */
    const char *never = in_dir("never.safetensors", 2);
    const char *dup_keys[2] = {"a", "a"}, *dup_values[2] = {"1", "2"};
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, dup_keys, dup_values, 2),
                     ATTN_ERR_INVALID);
    expect_message("host.a");
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, keys, values, -1), ATTN_ERR_INVALID);
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, NULL, values, 1), ATTN_ERR_NULL);
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, keys, NULL, 1), ATTN_ERR_NULL);
    const char *null_key[1] = {NULL}, *null_value[1] = {NULL};
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, null_key, values, 1), ATTN_ERR_NULL);
    expect_message("extra_keys[0]");
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, keys, null_value, 1), ATTN_ERR_NULL);
    const char *bad_utf8[1] = {"\xff"};
    assert_int_equal(attn_training_save(never, a.model, a.opt, a.ro, &a.env, keys, bad_utf8, 1), ATTN_ERR_INVALID);
    assert_false(file_exists(never));
    unlink(path);
    unlink(bare);
    session_close(&a);
    session_close(&b);
}

/* ---- Numbers under another locale ------------------------------------------------------------------------ */

/* A host that set a decimal-comma locale still writes "0.0030000000000000001" and reads it back exactly. Needs
 * such a locale (e.g. LOCPATH pointing at one made with localedef); skipped without one. */
static void knobs_ignore_the_locale(void **state)
{
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *chosen = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !chosen; i++)
        if (setlocale(LC_NUMERIC, names[i])) chosen = names[i];
    if (!chosen) {
        print_message("no decimal-comma locale installed; knobs_ignore_the_locale checks nothing\n");
        skip();
    }
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    assert_string_equal(probe, "0,5");
    session a, b;
    mid_run(&a, spec(ATTN_OPTIM_RMSPROP, 2, 2, 111));
    session_open(&b, spec(ATTN_OPTIM_RMSPROP, 2, 2, 112));
    const char *path = in_dir("locale.safetensors", 0);
    save(&a, path);
    load(&b, path);
    setlocale(LC_NUMERIC, "C");
    st_file *f = NULL;
    assert_int_equal(st_open(&f, path), ATTN_OK);
    assert_string_equal(st_meta(f, "optim.lr"), "0.0030000000000000001");
    st_close(f);
    snap sa = snapshot(&a), sb = snapshot(&b);
    assert_same_snap(&sa, &sb, "under a decimal-comma locale");
    free(sa.bytes);
    free(sb.bytes);
    unlink(path);
    session_close(&a);
    session_close(&b);
}

/* ---- Arguments and refusals to save --------------------------------------------------------------------- */

static void arguments_and_io(void **state)
{
    (void)state;
    session s;
    mid_run(&s, spec(ATTN_OPTIM_RMSPROP, 2, 2, 121));
    const char *path = in_dir("args.safetensors", 0);
    assert_int_equal(attn_training_save(NULL, s.model, s.opt, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NULL);
    assert_int_equal(attn_training_save(path, NULL, s.opt, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NULL);
    assert_int_equal(attn_training_save(path, s.model, NULL, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NULL);
    expect_message("opt");
    assert_int_equal(attn_training_save(path, s.model, s.opt, NULL, &s.env, NULL, NULL, 0), ATTN_ERR_NULL);
    expect_message("rollout");
    assert_false(file_exists(path));
    assert_int_equal(attn_training_save(in_dir("no/such/dir.safetensors", 1), s.model, s.opt, s.ro, &s.env, NULL, NULL,
                                        0),
                     ATTN_ERR_IO);
    save(&s, path);
    assert_int_equal(attn_training_load(NULL, s.model, s.opt, s.ro, &s.env), ATTN_ERR_NULL);
    assert_int_equal(attn_training_load(path, NULL, s.opt, s.ro, &s.env), ATTN_ERR_NULL);
    assert_int_equal(attn_training_load(path, s.model, NULL, s.ro, &s.env), ATTN_ERR_NULL);
    assert_int_equal(attn_training_load(path, s.model, s.opt, NULL, &s.env), ATTN_ERR_NULL);
    assert_int_equal(attn_training_load(in_dir("missing.safetensors", 1), s.model, s.opt, s.ro, &s.env), ATTN_ERR_IO);

    /* A diverged run must not overwrite its last good checkpoint: non-finite weights or slots write nothing. */
    size_t n1, n2;
    unsigned char *good = read_file_bytes(path, &n1);
    float *params = attn_model_params(s.model);
    float saved = params[5];
    params[5] = NAN;
    assert_int_equal(attn_training_save(path, s.model, s.opt, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NONFINITE);
    params[5] = saved;
    float *slot;
    assert_int_equal(attn_optimizer_slot(s.opt, 1, NULL, &slot), ATTN_OK);
    slot[attn_model_param_count(s.model) - 1] = INFINITY;
    assert_int_equal(attn_training_save(path, s.model, s.opt, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NONFINITE);
    expect_message("optimizer slot mom of \"value.bias\"");
    slot[attn_model_param_count(s.model) - 1] = 0.0f;
    s.ro->ep_return[1] = INFINITY;
    assert_int_equal(attn_training_save(path, s.model, s.opt, s.ro, &s.env, NULL, NULL, 0), ATTN_ERR_NONFINITE);
    expect_message("\"train.ep_return\" has a non-finite value at element 1");
    unsigned char *after = read_file_bytes(path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(good, after, n1);
    free(good);
    free(after);
    unlink(path);
    session_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_u8_rmsprop),
        cmocka_unit_test(round_trip_f32_adamw),
        cmocka_unit_test(round_trip_sgd_and_adam),
        cmocka_unit_test(file_layout),
        cmocka_unit_test(exact_resume_vtrace_rmsprop),
        cmocka_unit_test(exact_resume_ppo_adam),
        cmocka_unit_test(exact_resume_a2c_sgd),
        cmocka_unit_test(resume_without_envs_diverges),
        cmocka_unit_test(model_loaders_open_it),
        cmocka_unit_test(every_truncation_is_refused),
        cmocka_unit_test(refuses_bad_metadata),
        cmocka_unit_test(refuses_bad_tensors),
        cmocka_unit_test(refuses_other_objects),
        cmocka_unit_test(environments_without_callbacks),
        cmocka_unit_test(failing_environment_callbacks),
        cmocka_unit_test(host_metadata),
        cmocka_unit_test(knobs_ignore_the_locale),
        cmocka_unit_test(arguments_and_io),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
