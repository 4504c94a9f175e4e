/*
 * Learning tests: the agent, trained through the public training API only (attn_env callbacks, attn_rollout,
 * attn_learner, attn_optimizer), learns tiny tasks that each need one part of it, with every loss.
 *
 *   bandit  a blank 4×4 frame, two actions, +1 for action 1, 0 for action 0, one step: the end-to-end sign
 *           check (collect → loss → attn_backward → optimizer) before anything harder.
 *   memory  6×6 frames. A cue (channel 0 or 1 fully lit) on the first frame, `delay` blank frames, then a "go"
 *           frame (channel 2 lit) on which the action must equal the cue: +1 if right, −1 if wrong, and the
 *           episode ends. A third action, WAIT, is free before the go frame and every other action there costs
 *           FIDGET, so the agent cannot park the cue in its own actions (the previous action is one of its
 *           inputs) and must keep it in its recurrent state; memory_probe checks that it does.
 *   where   4×4 frames: one lit cell in channel 0 among DISTRACTORS cells lit in channel 1; the action (A = 4)
 *           is the quadrant of the channel-0 cell: +1 if right, 0 if wrong, one step. Finding the cell takes
 *           attention, saying where it is takes the spatial basis (or features that know their position).
 *   what    6×6 frames: one OBJECT×OBJECT square anywhere, in channel c ∈ {0, 1, 2}; the action (A = 3) must
 *           be c: +1 / 0, one step. Identity regardless of position.
 *
 * Each test trains with fixed seeds and one thread for at most a stated number of updates, measures the greedy
 * policy (ATTN_ACT_GREEDY) on at least EVAL_EPISODES held-out episodes every few updates, stops as soon as the
 * stated success rate is reached and fails if it never is. The same seeds and thread count give the same run
 * (runs_repeat checks it), so the printed numbers are reproducible; docs/training.md ("Learning tests") lists
 * them and the margins.
 *
 * The memory ablation trains the same agent on the same task with its memory cut through the public API: the
 * environment ends a one-step "episode" by truncation after every step and its next reset continues the same
 * task episode, so the library zeroes the recurrent state (and the previous reward and action) before every
 * step while the observations, rewards and learner stay the same. The go frame alone says nothing about the
 * cue, so the greedy success rate must stay near chance (0.5) for the whole budget.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_util.h"

/* ---- The tasks, as attn_env callbacks ------------------------------------------------------------------ */

enum { CHANNELS = 3, LIT = 255, DISTRACTORS = 3, OBJECT = 2, GO_CHANNEL = 2, WAIT = 2 };

/* The memory task's cost of acting (any action but WAIT) before the go frame. */
static const float FIDGET = 0.1f;

typedef enum task_kind { TASK_BANDIT = 0, TASK_MEMORY = 1, TASK_WHERE = 2, TASK_WHAT = 3 } task_kind;

static const char *const task_name[] = {"bandit", "memory", "where", "what"};
static const int task_actions[] = {2, 3, 4, 3};
/* Frames are side × side × CHANNELS. "where" uses 4×4: on 6×6 its one-step episodes start every run with a
 * long plateau at chance for A2C and V-trace (docs/training.md, "Learning tests", says why). */
static const int task_side[] = {4, 6, 4, 6};

/* One environment's whole state: environments never share anything, so stepping them in parallel is safe. */
typedef struct task_slot {
    test_rng rng;     /* seeded by every real reset */
    int answer;       /* the rewarded action */
    int phase;        /* memory: the frame on screen, 0 = cue, 1..delay blank, delay+1 = go */
    int carry_on;     /* ablation: the next reset continues this episode instead of starting one */
    int64_t trials;   /* decisive steps taken (one per task episode) and how many of them were right */
    int64_t successes;
} task_slot;

typedef struct task_env {
    task_kind kind;
    int side;
    int delay;        /* memory: blank frames between cue and go */
    int memoryless;   /* the ablation: every step ends a library episode, the task episode goes on */
    int B;
    task_slot *slots; /* [B] */
} task_env;

static size_t frame_bytes(const task_env *e) { return (size_t)e->side * e->side * CHANNELS; }

/* Lights channel c of cell `cell` (row-major over side × side). */
static void light(uint8_t *obs, int cell, int c) { obs[(size_t)cell * CHANNELS + c] = LIT; }

static void light_channel(const task_env *e, uint8_t *obs, int c)
{
    for (int cell = 0; cell < e->side * e->side; cell++) light(obs, cell, c);
}

/* The memory task's frame at `phase`. */
static void memory_frame(const task_env *e, const task_slot *s, uint8_t *obs)
{
    memset(obs, 0, frame_bytes(e));
    if (s->phase == 0) light_channel(e, obs, s->answer);
    else if (s->phase == e->delay + 1) light_channel(e, obs, GO_CHANNEL);
}

/* Starts a task episode: draws its answer and writes its (only or first) frame. */
static void start_episode(const task_env *e, task_slot *s, uint64_t seed, uint8_t *obs)
{
    s->rng.s = seed;
    s->phase = 0;
    memset(obs, 0, frame_bytes(e));
    const int n = e->side * e->side, half = e->side / 2;
    switch (e->kind) {
    case TASK_BANDIT:
        s->answer = 1;
        break;
    case TASK_MEMORY:
        s->answer = trng_int(&s->rng, 2);
        memory_frame(e, s, obs);
        break;
    case TASK_WHERE: {
        /* Distinct cells: the first is the target, the rest distractors. */
        int cells[1 + DISTRACTORS];
        for (int k = 0; k < 1 + DISTRACTORS; k++) {
            int fresh;
            do {
                cells[k] = trng_int(&s->rng, n);
                fresh = 1;
                for (int j = 0; j < k; j++) fresh &= cells[j] != cells[k];
            } while (!fresh);
            light(obs, cells[k], k == 0 ? 0 : 1);
        }
        int y = cells[0] / e->side, x = cells[0] % e->side;
        s->answer = (y >= half) * 2 + (x >= half);
        break;
    }
    case TASK_WHAT: {
        /* A square of OBJECT × OBJECT cells with its top-left corner anywhere it fits. */
        const int room = e->side - OBJECT + 1, corner = trng_int(&s->rng, room * room);
        s->answer = trng_int(&s->rng, CHANNELS);
        for (int dy = 0; dy < OBJECT; dy++)
            for (int dx = 0; dx < OBJECT; dx++)
                light(obs, (corner / room + dy) * e->side + corner % room + dx, s->answer);
        break;
    }
    }
}

static int task_reset(void *ctx, int index, uint64_t seed, void *obs)
{
    task_env *e = ctx;
    task_slot *s = &e->slots[index];
    if (s->carry_on) {
        /* The ablation's cut: a new library episode (zero state) on the frame the task episode is at. */
        s->carry_on = 0;
        memory_frame(e, s, obs);
        return 0;
    }
    start_episode(e, s, seed, obs);
    return 0;
}

static int task_step(void *ctx, int index, int action, void *obs, float *reward, int *terminated, int *truncated)
{
    task_env *e = ctx;
    task_slot *s = &e->slots[index];
    *reward = 0.0f;
    *terminated = *truncated = 0;
    if (e->kind == TASK_MEMORY && s->phase <= e->delay) {
        s->phase++;
        if (action != WAIT) *reward = -FIDGET;
        memory_frame(e, s, obs);
        if (e->memoryless) *truncated = s->carry_on = 1;
        return 0;
    }
    /* The decisive step: the go frame of the memory task, the only frame of the others. */
    int right = action == s->answer;
    s->trials++;
    s->successes += right;
    *reward = right ? 1.0f : e->kind == TASK_MEMORY ? -1.0f : 0.0f;
    *terminated = 1;
    memset(obs, 0, frame_bytes(e));
    return 0;
}

static void task_env_init(task_env *e, task_kind kind, int delay, int memoryless, int B)
{
    *e = (task_env){kind, task_side[kind], delay, memoryless, B, calloc((size_t)B, sizeof(task_slot))};
    assert_non_null(e->slots);
}

static attn_env task_env_callbacks(task_env *e, int thread_safe)
{
    attn_env env = ATTN_ENV_INIT;
    env.ctx = e;
    env.reset = task_reset;
    env.step = task_step;
    env.thread_safe = thread_safe;
    return env;
}

/* ---- The agent ------------------------------------------------------------------------------------------- */

/* A small agent: side×side×3 frames, one 3×3 conv of 8 channels keeping the side×side grid, ConvLSTM 16
 * (4 key channels), a 3×3 spatial basis, 2 queries, MLP_q 32 and MLP_a 64 hidden, 32 policy units. */
static attn_config *task_config(task_kind kind, int threads)
{
    attn_config *c = NULL;
    assert_int_equal(attn_config_create(&c, ATTN_PRESET_MINATAR), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_OBS_H, task_side[kind]), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_OBS_W, task_side[kind]), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_OBS_C, CHANNELS), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_NUM_ACTIONS, task_actions[kind]), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_CONV_LAYERS, 1), ATTN_OK);
    assert_int_equal(attn_config_set_conv(c, 0, 8, 3, 1, 1), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_LSTM_CHANNELS, 16), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_KEY_CHANNELS, 4), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_BASIS_U, 3), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_BASIS_V, 3), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_NUM_QUERIES, 2), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_QUERY_LAYERS, 1), ATTN_OK);
    assert_int_equal(attn_config_set_mlp_hidden(c, ATTN_MLP_QUERY, 0, 32), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_ANSWER_LAYERS, 1), ATTN_OK);
    assert_int_equal(attn_config_set_mlp_hidden(c, ATTN_MLP_ANSWER, 0, 64), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_CORE_UNITS, 32), ATTN_OK);
    assert_int_equal(attn_config_set(c, ATTN_CFG_THREADS, threads), ATTN_OK);
    assert_int_equal(attn_config_validate(c), ATTN_OK);
    return c;
}

/* ---- Training and measuring ------------------------------------------------------------------------------ */

/* Held-out evaluation: its own environments, episode seeds and batch, greedy actions. */
enum { EVAL_EPISODES = 200, EVAL_BATCH = 32, EVAL_SEED = 777 };

/* What a run must reach: the greedy policy's success rate on held-out episodes, or (the bandit, where greedy
 * is right as soon as the policy leans the right way) the success rate of the sampled training actions. */
typedef enum run_measure { MEASURE_GREEDY = 0, MEASURE_SAMPLED = 1 } run_measure;

typedef struct run_spec {
    task_kind task;
    attn_loss_kind loss;
    int delay;          /* memory only */
    int memoryless;     /* the memory ablation */
    int threads;        /* ATTN_CFG_THREADS */
    int thread_safe;    /* declare the callbacks thread-safe (they are) */
    int B, T;
    double lr;          /* Adam's learning rate */
    int max_updates;
    int eval_every;
    run_measure measure;
    double target;      /* success rate to reach; the ablation must instead stay below it */
    uint64_t seed;
} run_spec;

/* Everything one training run owns. */
typedef struct trainer {
    attn_config *cfg;
    attn_model *model;
    task_env e;
    attn_env env;
    attn_rollout *ro;
    attn_learner *ln;
    attn_optimizer *opt;
} trainer;

static void trainer_init(trainer *t, const run_spec *s)
{
    t->cfg = task_config(s->task, s->threads);
    assert_int_equal(attn_model_create(&t->model, t->cfg, s->seed), ATTN_OK);
    task_env_init(&t->e, s->task, s->delay, s->memoryless, s->B);
    t->env = task_env_callbacks(&t->e, s->thread_safe);
    assert_int_equal(attn_rollout_create(&t->ro, t->model, s->B, s->T, s->seed + 1), ATTN_OK);
    attn_loss_config lc;
    assert_int_equal(attn_loss_config_init(&lc, s->loss), ATTN_OK);
    assert_int_equal(attn_learner_create(&t->ln, t->model, &lc, s->B, s->T), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&t->opt, t->model, ATTN_OPTIM_ADAM), ATTN_OK);
    assert_int_equal(attn_optimizer_set(t->opt, ATTN_OPT_LR, s->lr), ATTN_OK);
}

static void trainer_free(trainer *t)
{
    attn_optimizer_destroy(t->opt);
    attn_learner_destroy(t->ln);
    attn_rollout_destroy(t->ro);
    free(t->e.slots);
    attn_model_destroy(t->model);
    attn_config_destroy(t->cfg);
}

/* Success counters summed over an environment's slots. */
static void tally(const task_env *e, int64_t *trials, int64_t *successes)
{
    *trials = *successes = 0;
    for (int b = 0; b < e->B; b++) *trials += e->slots[b].trials, *successes += e->slots[b].successes;
}

/* One collect with sampled actions and one update; adds the returns of the episodes that finished. */
static void trainer_update(trainer *t, const run_spec *s, double *return_sum, int64_t *episodes)
{
    enum { CAP = 1024 };
    float returns[CAP];
    assert_int_equal(attn_rollout_collect(t->ro, t->model, &t->env, ATTN_ACT_SAMPLE), ATTN_OK);
    int finished = 0;
    assert_int_equal(attn_rollout_finished(t->ro, returns, NULL, CAP, &finished), ATTN_OK);
    assert_true(finished <= CAP);
    for (int i = 0; i < finished; i++) {
        assert_true(returns[i] >= -1.0f - FIDGET * (float)(s->delay + 1) && returns[i] <= 1.0f);
        *return_sum += returns[i];
    }
    *episodes += finished;
    attn_loss_stats st;
    assert_int_equal(attn_learner_update(t->ln, t->opt, t->ro, &st), ATTN_OK);
    assert_int_equal(st.skipped, 0);
}

/* The greedy policy's success rate over at least EVAL_EPISODES fresh task episodes (the same ones at every
 * evaluation of a run: new environments and a new rollout with the same seed). */
static double evaluate(const run_spec *s, const attn_model *model)
{
    task_env e;
    task_env_init(&e, s->task, s->delay, s->memoryless, EVAL_BATCH);
    attn_env env = task_env_callbacks(&e, s->thread_safe);
    attn_rollout *ro = NULL;
    assert_int_equal(attn_rollout_create(&ro, model, EVAL_BATCH, s->T, EVAL_SEED), ATTN_OK);
    int64_t trials = 0, successes = 0, episodes = 0;
    while (trials < EVAL_EPISODES) {
        assert_int_equal(attn_rollout_collect(ro, model, &env, ATTN_ACT_GREEDY), ATTN_OK);
        int finished = 0;
        assert_int_equal(attn_rollout_finished(ro, NULL, NULL, 0, &finished), ATTN_OK);
        episodes += finished;
        tally(&e, &trials, &successes);
    }
    /* Without the ablation every library episode is one task episode. */
    if (!s->memoryless) assert_int_equal(episodes, trials);
    attn_rollout_destroy(ro);
    free(e.slots);
    return (double)successes / (double)trials;
}

/*
 * Where the memory task's cue is kept. The agent could carry it in its recurrent state, or in its own actions:
 * the previous action is an input, so answering the cue from the first frame on and repeating that action
 * would also work. This replays PROBE_EPISODES episodes (cues alternating) with attn_forward directly, giving
 * the model the true frames and episode starts but "no previous action or reward" at every step, and returns
 * the greedy success rate at the go frame: near 1 when the recurrent state holds the cue.
 */
enum { PROBE_EPISODES = 256 };

static double memory_probe(const run_spec *s, attn_model *model)
{
    task_env e;
    task_env_init(&e, TASK_MEMORY, s->delay, 0, PROBE_EPISODES);
    const int A = task_actions[TASK_MEMORY];
    const size_t frame = frame_bytes(&e);
    uint8_t *obs = malloc(frame * PROBE_EPISODES), *first = malloc(PROBE_EPISODES);
    float *logits = malloc(sizeof(float) * PROBE_EPISODES * (size_t)A);
    assert_true(obs && first && logits);
    attn_state *state = NULL;
    assert_int_equal(attn_state_create(&state, model, PROBE_EPISODES, 0), ATTN_OK);
    for (int phase = 0; phase <= s->delay + 1; phase++) {
        for (int b = 0; b < PROBE_EPISODES; b++) {
            e.slots[b].answer = b % 2;
            e.slots[b].phase = phase;
            memory_frame(&e, &e.slots[b], obs + (size_t)b * frame);
            first[b] = phase == 0;
        }
        assert_int_equal(attn_forward(model, state, ATTN_FORWARD_ACT, obs, frame * PROBE_EPISODES, NULL, NULL, first,
                                      logits, NULL),
                         ATTN_OK);
    }
    int right = 0;
    for (int b = 0; b < PROBE_EPISODES; b++) {
        const float *z = logits + (size_t)b * A;
        int best = 0;
        for (int a = 1; a < A; a++)
            if (z[a] > z[best]) best = a;
        right += best == b % 2;
    }
    attn_state_destroy(state);
    free(obs), free(first), free(logits), free(e.slots);
    return (double)right / PROBE_EPISODES;
}

typedef struct run_result {
    int updates;
    int64_t frames;
    double success;     /* s->measure at the last evaluation */
    double state_only;  /* memory: memory_probe at the end */
} run_result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Trains until the measured success rate reaches s->target (the ablation: for all s->max_updates), printing
 * the learning curve: at every evaluation, the greedy success rate, the sampled success rate and mean return
 * of the training episodes since the previous evaluation. */
static run_result train(const run_spec *s, const char *name)
{
    const double start = now();
    const clock_t cpu_start = clock();
    trainer t;
    trainer_init(&t, s);
    run_result res = {0, 0, 0.0, 0.0};
    int64_t trials0 = 0, successes0 = 0, episodes = 0;
    double return_sum = 0.0;
    printf("[ %-14s ] update: greedy / sampled success, mean return\n", name);
    while (res.updates < s->max_updates) {
        trainer_update(&t, s, &return_sum, &episodes);
        res.updates++;
        if (res.updates % s->eval_every && res.updates < s->max_updates) continue;
        int64_t trials, successes;
        tally(&t.e, &trials, &successes);
        double sampled = (double)(successes - successes0) / (double)(trials - trials0 ? trials - trials0 : 1);
        double greedy = evaluate(s, t.model);
        printf("[ %-14s ] %5d: %.3f / %.3f, %+.3f\n", name, res.updates, greedy, sampled,
               episodes ? return_sum / (double)episodes : 0.0);
        trials0 = trials, successes0 = successes, episodes = 0, return_sum = 0.0;
        res.success = s->measure == MEASURE_GREEDY ? greedy : sampled;
        if (!s->memoryless && res.success >= s->target) break;
    }
    res.frames = attn_rollout_frames(t.ro);
    assert_int_equal(attn_learner_skipped(t.ln), 0);
    if (s->task == TASK_MEMORY && !s->memoryless) {
        res.state_only = memory_probe(s, t.model);
        printf("[ %-14s ] greedy success with no previous actions given: %.3f\n", name, res.state_only);
    }
    trainer_free(&t);
    printf("[ %-14s ] %s: %s success %.3f (target %s %.2f) after %d updates, %lld frames; %.1f s, %.1f s CPU\n",
           name, s->memoryless ? "ablation" : res.success >= s->target ? "reached" : "NOT REACHED",
           s->measure == MEASURE_GREEDY ? "greedy" : "sampled", res.success, s->memoryless ? "<" : ">=", s->target,
           res.updates, (long long)res.frames, now() - start, (double)(clock() - cpu_start) / CLOCKS_PER_SEC);
    fflush(stdout);
    return res;
}

/* ---- The tests ------------------------------------------------------------------------------------------- */

static const char *loss_name(attn_loss_kind k)
{
    return k == ATTN_LOSS_A2C ? "a2c" : k == ATTN_LOSS_VTRACE ? "vtrace" : "ppo";
}

static void learns(void **state)
{
    const run_spec *s = *state;
    char name[32];
    snprintf(name, sizeof name, "%s/%s", task_name[s->task], loss_name(s->loss));
    run_result r = train(s, name);
    assert_true(r.success >= s->target);
    if (s->task == TASK_MEMORY) assert_true(r.state_only >= s->target);
}

static void memory_ablation_fails(void **state)
{
    const run_spec *s = *state;
    char name[32];
    snprintf(name, sizeof name, "memory-cut/%s", loss_name(s->loss));
    run_result r = train(s, name);
    assert_int_equal(r.updates, s->max_updates);
    assert_true(r.success < s->target);
}

/* The premise of the numbers above: the same seeds and thread count give the same run, bit for bit, here with
 * the environments stepped on two worker threads and two BLAS threads. */
static void runs_repeat(void **state)
{
    const run_spec *s = *state;
    trainer a, b;
    trainer_init(&a, s);
    trainer_init(&b, s);
    double sum_a = 0.0, sum_b = 0.0;
    int64_t ep_a = 0, ep_b = 0;
    for (int u = 0; u < s->max_updates; u++) {
        trainer_update(&a, s, &sum_a, &ep_a);
        trainer_update(&b, s, &sum_b, &ep_b);
    }
    assert_int_equal(ep_a, ep_b);
    assert_true(sum_a == sum_b);
    size_t n = attn_model_param_count(a.model);
    assert_memory_equal(attn_model_params(a.model), attn_model_params(b.model), n * sizeof(float));
    trainer_free(&a);
    trainer_free(&b);
}

/* attn_learner_health_get tells a stuck run from a learning one: the same bandit trained at a rate too small to
 * move anything raises both flags once ATTN_HEALTH_MIN_UPDATES updates have run (and neither before), while
 * the spec's own rate learns and raises none. */
static void health_flags(void **state)
{
    const run_spec *s = *state;
    for (int stuck = 1; stuck >= 0; stuck--) {
        run_spec spec = *s;
        if (stuck) spec.lr = 1e-9;
        trainer t;
        trainer_init(&t, &spec);
        double sum = 0.0;
        int64_t episodes = 0;
        attn_learner_health h;
        for (int u = 1; u <= ATTN_HEALTH_MIN_UPDATES + 20; u++) {
            trainer_update(&t, &spec, &sum, &episodes);
            assert_int_equal(attn_learner_health_get(t.ln, &h), ATTN_OK);
            assert_int_equal(h.updates, u);
            if (u < ATTN_HEALTH_MIN_UPDATES) assert_int_equal(h.flags, 0);
        }
        printf("[ health         ] lr %g: entropy %.4f of ln A, weights moved %.3g, flags %u\n", spec.lr,
               (double)h.entropy_ratio, (double)h.weight_change, h.flags);
        if (stuck) {
            assert_int_equal(h.flags, ATTN_HEALTH_UNIFORM_POLICY | ATTN_HEALTH_FROZEN_WEIGHTS);
        } else {
            assert_int_equal(h.flags, 0);
            assert_true(h.entropy_ratio < 0.9f && h.weight_change > 0.01f);
        }
        trainer_free(&t);
    }
}

/* Every spec lists: task, loss, delay, memoryless, threads, thread_safe, B, T, Adam learning rate, max updates,
 * evaluate every, measure, target, seed. A2C and V-trace take one optimizer step per update and use lr 3e-3;
 * PPO takes epochs × minibatches = 16 and uses 1e-3. V-trace on fresh on-policy data of one-step episodes is
 * A2C (every ratio is 1 and both targets are r), so with the same seeds those rows repeat A2C's numbers. */
#define SPEC(...) (&(run_spec){__VA_ARGS__})
#define TEST(name, fn, ...) {name, fn, NULL, NULL, SPEC(__VA_ARGS__)}
#define A2C ATTN_LOSS_A2C
#define VTRACE ATTN_LOSS_VTRACE
#define PPO ATTN_LOSS_PPO
#define GREEDY MEASURE_GREEDY
#define SAMPLED MEASURE_SAMPLED

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST("bandit_a2c", learns, TASK_BANDIT, A2C, 0, 0, 1, 0, 8, 4, 3e-3, 200, 5, SAMPLED, 0.9, 1),
        TEST("bandit_vtrace", learns, TASK_BANDIT, VTRACE, 0, 0, 1, 0, 8, 4, 3e-3, 200, 5, SAMPLED, 0.9, 1),
        TEST("bandit_ppo", learns, TASK_BANDIT, PPO, 0, 0, 1, 0, 8, 4, 1e-3, 100, 5, SAMPLED, 0.9, 1),
        TEST("memory_a2c", learns, TASK_MEMORY, A2C, 3, 0, 1, 1, 16, 5, 3e-3, 600, 25, GREEDY, 0.95, 1),
        TEST("memory_vtrace", learns, TASK_MEMORY, VTRACE, 3, 0, 1, 1, 16, 5, 3e-3, 600, 25, GREEDY, 0.95, 1),
        TEST("memory_ppo", learns, TASK_MEMORY, PPO, 3, 0, 1, 1, 16, 5, 1e-3, 200, 25, GREEDY, 0.95, 1),
        TEST("memory_cut_a2c", memory_ablation_fails, TASK_MEMORY, A2C, 3, 1, 1, 1, 16, 5, 3e-3, 400, 100, GREEDY, 0.65, 1),
        TEST("where_a2c", learns, TASK_WHERE, A2C, 0, 0, 1, 1, 8, 4, 3e-3, 1500, 25, GREEDY, 0.95, 1),
        TEST("where_vtrace", learns, TASK_WHERE, VTRACE, 0, 0, 1, 1, 8, 4, 3e-3, 1500, 25, GREEDY, 0.95, 1),
        TEST("where_ppo", learns, TASK_WHERE, PPO, 0, 0, 1, 1, 32, 4, 1e-3, 300, 25, GREEDY, 0.95, 1),
        TEST("what_a2c", learns, TASK_WHAT, A2C, 0, 0, 1, 0, 8, 4, 3e-3, 1000, 25, GREEDY, 0.95, 1),
        TEST("what_vtrace", learns, TASK_WHAT, VTRACE, 0, 0, 1, 0, 8, 4, 3e-3, 1000, 25, GREEDY, 0.95, 1),
        TEST("what_ppo", learns, TASK_WHAT, PPO, 0, 0, 1, 0, 16, 4, 1e-3, 300, 25, GREEDY, 0.95, 1),
        TEST("health_flags", health_flags, TASK_BANDIT, A2C, 0, 0, 1, 0, 8, 4, 3e-3, 0, 0, SAMPLED, 0.0, 1),
        TEST("runs_repeat", runs_repeat, TASK_MEMORY, PPO, 3, 0, 2, 1, 16, 5, 1e-3, 5, 0, GREEDY, 0.0, 1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
