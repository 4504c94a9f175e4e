/* Concurrency through the public API, as the header promises it: distinct handles used from distinct threads
 * at once, and one model shared by several threads for attn_forward on distinct states. Each check runs the
 * same work one job after the other and then all jobs at once on their own pthreads, and requires every result
 * to be bitwise identical. meson also runs this program under valgrind's helgrind (tests/meson.build), which
 * reports any unsynchronised access the concurrent half makes, even one that happened not to change a result.
 *
 * cmocka's assertions longjmp, so the threads only record what happened; the main thread asserts. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

enum { SIDE_H = 6, SIDE_W = 5, CH = 3, ACTIONS = 3, B = 4, T = 5, UPDATES = 6, EPISODE = 7 };
#define OBS_FLOATS (SIDE_H * SIDE_W * CH)

/* ---- A small callback environment ----------------------------------------------------------------------
 * "Follow the light": a cell lit in channel 0 marks the target column; the agent's action moves a marker in
 * channel 1 left, nowhere or right, and each step pays 1 when the marker is on the target column. Channel 2
 * shows the step count. Each index keeps its own state, so it declares itself thread-safe and the library
 * steps the environments on its workers. */
typedef struct world {
    int target[B], marker[B], steps[B];
} world;

static void draw(const world *w, int b, float *obs)
{
    memset(obs, 0, sizeof(float) * OBS_FLOATS);
    obs[(0 * SIDE_W + w->target[b]) * CH + 0] = 1.0f;
    obs[((SIDE_H - 1) * SIDE_W + w->marker[b]) * CH + 1] = 1.0f;
    obs[((w->steps[b] % SIDE_H) * SIDE_W) * CH + 2] = 1.0f;
}

static int w_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    world *w = ctx;
    w->target[index] = (int)(seed % SIDE_W);
    w->marker[index] = (int)((seed >> 8) % SIDE_W);
    w->steps[index] = 0;
    draw(w, index, obs);
    return 0;
}

static int w_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    world *w = ctx;
    int m = w->marker[index] + action - 1;
    w->marker[index] = m < 0 ? 0 : m >= SIDE_W ? SIDE_W - 1 : m;
    w->steps[index]++;
    *reward = w->marker[index] == w->target[index] ? 1.0f : 0.0f;
    *terminated = 0;
    *truncated = w->steps[index] >= EPISODE;
    draw(w, index, obs);
    return 0;
}

/* ---- One complete trainer: world, model, rollout, learner, optimizer --------------------------------- */

typedef struct trainer_spec {
    uint64_t seed;
    attn_loss_kind loss;
    attn_optim_kind optim;
    int threads; /* ATTN_CFG_THREADS: each trainer also runs its own worker pool */
} trainer_spec;

typedef struct trainer {
    trainer_spec spec;
    world w;
    attn_env env;
    attn_config *cfg;
    attn_model *model;
    attn_rollout *ro;
    attn_learner *ln;
    attn_optimizer *opt;
    attn_loss_stats stats[UPDATES];
    attn_status status; /* the first failure, recorded by whichever thread ran the trainer */
    const char *failed_call;
} trainer;

static attn_status trainer_fail(trainer *t, const char *call, attn_status st)
{
    if (st != ATTN_OK && t->status == ATTN_OK) {
        t->status = st;
        t->failed_call = call;
    }
    return st;
}

/* Everything from creation to the last update, so the concurrent run also creates and configures at once. */
static void *trainer_run(void *arg)
{
    trainer *t = arg;
    t->env = (attn_env)ATTN_ENV_INIT;
    t->env.ctx = &t->w;
    t->env.reset = w_reset;
    t->env.step = w_step;
    t->env.thread_safe = 1;
    t->cfg = tiny_config();
    if (!t->cfg) {
        trainer_fail(t, "tiny_config", ATTN_ERR_INVALID);
        return NULL;
    }
    attn_loss_config lc;
    if (trainer_fail(t, "config", attn_config_set(t->cfg, ATTN_CFG_THREADS, t->spec.threads)) ||
        trainer_fail(t, "model", attn_model_create(&t->model, t->cfg, t->spec.seed)) ||
        trainer_fail(t, "rollout", attn_rollout_create(&t->ro, t->model, B, T, t->spec.seed)) ||
        trainer_fail(t, "loss config", attn_loss_config_init(&lc, t->spec.loss)))
        return NULL;
    lc.ppo_minibatches = 2;
    lc.ppo_epochs = 2;
    if (trainer_fail(t, "learner", attn_learner_create(&t->ln, t->model, &lc, B, T)) ||
        trainer_fail(t, "optimizer", attn_optimizer_create(&t->opt, t->model, t->spec.optim)) ||
        trainer_fail(t, "lr", attn_optimizer_set(t->opt, ATTN_OPT_LR, 3e-3)))
        return NULL;
    for (int u = 0; u < UPDATES; u++)
        if (trainer_fail(t, "collect", attn_rollout_collect(t->ro, t->model, &t->env, ATTN_ACT_SAMPLE)) ||
            trainer_fail(t, "update", attn_learner_update(t->ln, t->opt, t->ro, &t->stats[u])))
            return NULL;
    return NULL;
}

static void trainer_close(trainer *t)
{
    attn_optimizer_destroy(t->opt);
    attn_learner_destroy(t->ln);
    attn_rollout_destroy(t->ro);
    attn_model_destroy(t->model);
    attn_config_destroy(t->cfg);
}

static void assert_trained(const trainer *t)
{
    if (t->status != ATTN_OK) fail_msg("%s failed: %s", t->failed_call, attn_status_str(t->status));
    assert_int_equal(attn_optimizer_steps(t->opt) > 0, 1);
    assert_int_equal(attn_rollout_frames(t->ro), (int64_t)UPDATES * B * T);
}

static void assert_same_floats(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0)
            fail_msg("%s differ at element %zu: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* Parameters, every optimizer slot, the rollout's counters and buffer, and every update's statistics. */
static void assert_same_training(trainer *a, trainer *b)
{
    const size_t n = attn_model_param_count(a->model);
    assert_int_equal(n, attn_model_param_count(b->model));
    assert_same_floats(attn_model_params(a->model), attn_model_params(b->model), n, "parameters");
    assert_int_equal(attn_optimizer_steps(a->opt), attn_optimizer_steps(b->opt));
    assert_int_equal(attn_optimizer_slot_count(a->opt), attn_optimizer_slot_count(b->opt));
    for (int s = 0; s < attn_optimizer_slot_count(a->opt); s++) {
        float *sa, *sb;
        assert_int_equal(attn_optimizer_slot(a->opt, s, NULL, &sa), ATTN_OK);
        assert_int_equal(attn_optimizer_slot(b->opt, s, NULL, &sb), ATTN_OK);
        assert_same_floats(sa, sb, n, "optimizer slots");
    }
    assert_int_equal(attn_rollout_episodes(a->ro), attn_rollout_episodes(b->ro));
    attn_rollout_view va, vb;
    assert_int_equal(attn_rollout_view_get(a->ro, &va), ATTN_OK);
    assert_int_equal(attn_rollout_view_get(b->ro, &vb), ATTN_OK);
    assert_memory_equal(va.actions, vb.actions, sizeof(int32_t) * T * B);
    assert_same_floats(va.logits, vb.logits, (size_t)T * B * ACTIONS, "behaviour logits");
    assert_memory_equal(a->stats, b->stats, sizeof a->stats);
}

/* The specs of the trainers that run together: different seeds, losses, optimizers and pool sizes, so the
 * threads run different code at the same moment. */
static const trainer_spec specs[] = {
    {11, ATTN_LOSS_VTRACE, ATTN_OPTIM_RMSPROP, 2},
    {12, ATTN_LOSS_PPO, ATTN_OPTIM_ADAM, 2},
    {13, ATTN_LOSS_A2C, ATTN_OPTIM_SGD, 1},
};
#define N_TRAINERS ((int)(sizeof specs / sizeof specs[0]))

static void test_trainers_in_threads_match_sequential(void **unused)
{
    (void)unused;
    trainer seq[N_TRAINERS], par[N_TRAINERS];
    memset(seq, 0, sizeof seq);
    memset(par, 0, sizeof par);
    for (int i = 0; i < N_TRAINERS; i++) {
        seq[i].spec = par[i].spec = specs[i];
        trainer_run(&seq[i]);
        assert_trained(&seq[i]);
    }
    pthread_t threads[N_TRAINERS];
    for (int i = 0; i < N_TRAINERS; i++) assert_int_equal(pthread_create(&threads[i], NULL, trainer_run, &par[i]), 0);
    for (int i = 0; i < N_TRAINERS; i++) assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < N_TRAINERS; i++) {
        assert_trained(&par[i]);
        assert_same_training(&seq[i], &par[i]);
    }
    /* The comparison means something only if training moved the weights away from the seed's, and if the
     * trainers differ from each other (one trainer's result copied into another would show here). */
    for (int i = 0; i < N_TRAINERS; i++) {
        const size_t bytes = sizeof(float) * attn_model_param_count(seq[i].model);
        attn_model *fresh;
        assert_int_equal(attn_model_create(&fresh, seq[i].cfg, specs[i].seed), ATTN_OK);
        assert_memory_not_equal(attn_model_params(fresh), attn_model_params(seq[i].model), bytes);
        attn_model_destroy(fresh);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(attn_model_params(seq[j].model), attn_model_params(seq[i].model), bytes);
    }
    for (int i = 0; i < N_TRAINERS; i++) {
        trainer_close(&seq[i]);
        trainer_close(&par[i]);
    }
}

/* ---- One model, several acting threads ------------------------------------------------------------------ */

enum { ACTORS = 3, ACT_STEPS = 12, ACT_B = 2 };

typedef struct actor {
    attn_model *model; /* shared, read-only for attn_forward */
    attn_state *state;
    uint64_t seed;
    float logits[ACT_STEPS][ACT_B * ACTIONS];
    float values[ACT_STEPS][ACT_B];
    float maps[ACT_B * 2 * 4 * 3]; /* B × N × h × w of tiny_config: 2 queries over a 4×3 grid */
    attn_status status;
} actor;

/* Steps the actor's own state through seeded random frames, with an episode start in the middle. */
static void *actor_run(void *arg)
{
    actor *a = arg;
    test_rng r = {a->seed};
    float obs[ACT_B * OBS_FLOATS], reward[ACT_B];
    int32_t action[ACT_B];
    uint8_t first[ACT_B];
    for (int t = 0; t < ACT_STEPS && a->status == ATTN_OK; t++) {
        fill_uniform(&r, obs, ACT_B * OBS_FLOATS, 0.0f, 1.0f);
        fill_uniform(&r, reward, ACT_B, -1.0f, 1.0f);
        for (int b = 0; b < ACT_B; b++) {
            action[b] = trng_int(&r, ACTIONS);
            first[b] = t == 0 || (t == ACT_STEPS / 2 && b == 1);
        }
        a->status = attn_forward(a->model, a->state, ATTN_FORWARD_ACT, obs, sizeof obs, reward, action, first,
                                 a->logits[t], a->values[t]);
    }
    if (a->status == ATTN_OK) a->status = attn_get_maps(a->state, a->maps, sizeof a->maps / sizeof a->maps[0]);
    return NULL;
}

static void test_shared_model_forward_in_threads_matches_sequential(void **unused)
{
    (void)unused;
    attn_config *cfg = tiny_config();
    assert_non_null(cfg);
    assert_int_equal(attn_config_set(cfg, ATTN_CFG_THREADS, 2), ATTN_OK);
    attn_model *model;
    assert_int_equal(attn_model_create(&model, cfg, 5), ATTN_OK);
    int n = 0, h = 0, w = 0;
    attn_config_get(cfg, ATTN_CFG_NUM_QUERIES, &n);
    attn_config_get(attn_model_config(model), ATTN_CFG_GRID_H, &h);
    attn_config_get(attn_model_config(model), ATTN_CFG_GRID_W, &w);
    assert_int_equal((size_t)(ACT_B * n * h * w), sizeof((actor *)0)->maps / sizeof(float));

    actor seq[ACTORS], par[ACTORS];
    memset(seq, 0, sizeof seq);
    memset(par, 0, sizeof par);
    for (int i = 0; i < ACTORS; i++) {
        seq[i].model = par[i].model = model;
        seq[i].seed = par[i].seed = 100 + (uint64_t)i;
        assert_int_equal(attn_state_create(&seq[i].state, model, ACT_B, 0), ATTN_OK);
        assert_int_equal(attn_state_create(&par[i].state, model, ACT_B, 0), ATTN_OK);
    }
    for (int i = 0; i < ACTORS; i++) {
        actor_run(&seq[i]);
        assert_int_equal(seq[i].status, ATTN_OK);
    }
    pthread_t threads[ACTORS];
    for (int i = 0; i < ACTORS; i++) assert_int_equal(pthread_create(&threads[i], NULL, actor_run, &par[i]), 0);
    for (int i = 0; i < ACTORS; i++) assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < ACTORS; i++) {
        assert_int_equal(par[i].status, ATTN_OK);
        assert_same_floats(&seq[i].logits[0][0], &par[i].logits[0][0], ACT_STEPS * ACT_B * ACTIONS, "logits");
        assert_same_floats(&seq[i].values[0][0], &par[i].values[0][0], ACT_STEPS * ACT_B, "values");
        assert_same_floats(seq[i].maps, par[i].maps, sizeof seq[i].maps / sizeof(float), "maps");
    }
    /* Different inputs give different outputs: a state mixed up between threads could not hide. */
    assert_memory_not_equal(seq[0].logits, seq[1].logits, sizeof seq[0].logits);
    for (int i = 0; i < ACTORS; i++) {
        attn_state_destroy(seq[i].state);
        attn_state_destroy(par[i].state);
    }
    attn_model_destroy(model);
    attn_config_destroy(cfg);
}

/* A host may call the library from a thread with a small stack (game engines' job threads often have 64 KB to
 * 256 KB): the convolution kernels keep their scratch in the state, not on the stack. A minatar model with
 * several environments (Winograd's kernels, whose scratch was once an 85 KB stack array) records and learns on
 * a thread of 128 KB — of which glibc gives the static thread-local storage of the libraries loaded (OpenBLAS's
 * is about 64 KB here) — on the host's thread alone (1 thread) and with a worker (2). */
typedef struct small_stack_job {
    int threads;
    attn_status status;
    float logits[3][4 * 6];
} small_stack_job;

static void *small_stack_run(void *arg)
{
    small_stack_job *j = arg;
    attn_config *cfg = minatar_config(4, 6);
    attn_model *m = NULL;
    attn_state *s = NULL;
    uint8_t obs[4 * 10 * 10 * 4];
    float values[3][4], dlogits[3 * 4 * 6], dvalues[3 * 4];
    for (size_t i = 0; i < sizeof obs; i++) obs[i] = (uint8_t)(i * 37 % 5 == 0);
    for (size_t i = 0; i < sizeof dlogits / sizeof *dlogits; i++) dlogits[i] = (float)((int)(i % 5) - 2) * 0.01f;
    for (size_t i = 0; i < sizeof dvalues / sizeof *dvalues; i++) dvalues[i] = 0.01f;
    j->status = cfg ? attn_config_set(cfg, ATTN_CFG_THREADS, j->threads) : ATTN_ERR_NOMEM;
    if (!j->status) j->status = attn_model_create(&m, cfg, 3);
    if (!j->status) j->status = attn_state_create(&s, m, 4, 3);
    for (int t = 0; t < 3 && !j->status; t++)
        j->status = attn_forward(m, s, ATTN_FORWARD_RECORD, obs, sizeof obs, NULL, NULL, NULL, j->logits[t], values[t]);
    if (!j->status) j->status = attn_backward(m, s, dlogits, dvalues);
    attn_state_destroy(s);
    attn_model_destroy(m);
    attn_config_destroy(cfg);
    return NULL;
}

static void test_small_host_stack(void **unused)
{
    (void)unused;
    for (int threads = 1; threads <= 2; threads++) {
        small_stack_job job = {.threads = threads};
        pthread_attr_t attr;
        pthread_t thread;
        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, 128 * 1024), 0);
        assert_int_equal(pthread_create(&thread, &attr, small_stack_run, &job), 0);
        assert_int_equal(pthread_join(thread, NULL), 0);
        pthread_attr_destroy(&attr);
        assert_int_equal(job.status, ATTN_OK);
        for (size_t i = 0; i < sizeof job.logits / sizeof(float); i++) assert_true(isfinite((&job.logits[0][0])[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trainers_in_threads_match_sequential),
        cmocka_unit_test(test_shared_model_forward_in_threads_matches_sequential),
        cmocka_unit_test(test_small_host_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
