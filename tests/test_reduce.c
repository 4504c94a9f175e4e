/*
 * The reduction hook of data-parallel training (attn_learner_set_reduce, training.h), on a plain single-process
 * host with no MPI: replicas on threads of this process, summed by the host's own barrier-based reduction.
 *
 *  - the identity reduction (one process) changes no bit, and the calls come in the documented order and sizes;
 *  - replicas of 8 + 8 (and of 12 + 4) environments stay bitwise identical and match one learner of 16 to float
 *    tolerance: A2C, and PPO with its advantages normalised over all processes' samples;
 *  - a non-finite gradient, or a failure flagged by one process, makes every process skip the same step;
 *  - a callback that fails, aborts or does not sum stops the update without a step.
 *
 * The environments depend only on their global index (the host's numbering across processes) and acting is
 * greedy, so 2 × 8 environments produce exactly the samples 1 × 16 do, whatever the rollouts' seeds: the
 * library derives each environment's sampling stream from its rollout's seed and its local index.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attnagent/attnagent.h"
#include "index_env.h"
#include "test_util.h"

#define MAX_REPLICAS 2
#define UNROLL 6
#define UPDATES 3

/* ---- A replica: model, optimizer, rollout and learner of one process ---------------------------------- */

typedef struct replica {
    int B;
    index_env env;
    attn_env callbacks;
    attn_config *cfg;
    attn_model *model;
    attn_optimizer *opt;
    attn_rollout *rollout;
    attn_learner *learner;
    attn_loss_stats stats[UPDATES];
    attn_status status; /* the first failure of a threaded run */
} replica;

/* PPO with one minibatch, so each step's minibatch is every process's whole batch, split or not; two epochs, so
 * the second replays with weights the first changed. */
static void loss_for(attn_loss_config *lc, attn_loss_kind kind, int minibatches)
{
    assert_int_equal(attn_loss_config_init(lc, kind), ATTN_OK);
    if (kind == ATTN_LOSS_PPO) {
        lc->ppo_epochs = 2;
        lc->ppo_minibatches = minibatches;
    }
}

static void replica_create(replica *r, attn_loss_kind kind, int minibatches, int base, int B, uint64_t rollout_seed)
{
    memset(r, 0, sizeof *r);
    r->B = B;
    r->callbacks = index_env_callbacks(&r->env, base);
    r->cfg = tiny_config();
    assert_non_null(r->cfg);
    attn_loss_config lc;
    loss_for(&lc, kind, minibatches);
    /* Every replica starts from the same weights: the same configuration and model seed. */
    assert_int_equal(attn_model_create(&r->model, r->cfg, 11), ATTN_OK);
    assert_int_equal(attn_optimizer_create(&r->opt, r->model, ATTN_OPTIM_ADAM), ATTN_OK);
    assert_int_equal(attn_optimizer_set(r->opt, ATTN_OPT_LR, 3e-3), ATTN_OK);
    assert_int_equal(attn_rollout_create(&r->rollout, r->model, B, UNROLL, rollout_seed), ATTN_OK);
    assert_int_equal(attn_learner_create(&r->learner, r->model, &lc, B, UNROLL), ATTN_OK);
}

static void replica_destroy(replica *r)
{
    attn_learner_destroy(r->learner);
    attn_rollout_destroy(r->rollout);
    attn_optimizer_destroy(r->opt);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
}

/* One collect and one update; the first failure is kept in r->status. */
static void replica_update(replica *r, attn_act_mode mode, int u)
{
    attn_status st = attn_rollout_collect(r->rollout, r->model, &r->callbacks, mode);
    if (!st) st = attn_learner_update(r->learner, r->opt, r->rollout, &r->stats[u]);
    if (st && !r->status) r->status = st;
}

static const float *params(const replica *r) { return attn_model_params(r->model); }
static size_t nparams(const replica *r) { return attn_model_param_count(r->model); }

/* ---- The host's reduction: replicas on threads meet at a barrier and sum in rank order ---------------- */

typedef struct group {
    int size;
    pthread_barrier_t barrier;
    void *data[MAX_REPLICAS];
    size_t count[MAX_REPLICAS];
    attn_reduce_type type[MAX_REPLICAS];
} group;

typedef struct member {
    group *g;
    int rank;
    replica *r;
    void *scratch;  /* nparams floats or doubles */
    /* Faults injected into this member's contributions, counted by call: */
    int poison_gradient_call; /* 1-based index of an F32 call whose data becomes NaN before the sum; 0 none */
    int flag_failure_call;    /* 1-based index of a count-8 F64 call whose failure flag is raised; 0 none */
    int f32_calls, stats_calls;
    int mismatch; /* the members called with different sizes or types: the protocol broke */
} member;

/* The sum of every member's contribution in rank order, into this member's scratch: the same order in every
 * member, so every member gets the same bits (as MPI_Allreduce's would be). */
static void sum_into_scratch(member *m, attn_reduce_type type, size_t count)
{
    const group *g = m->g;
    for (size_t i = 0; i < count; i++) {
        if (type == ATTN_REDUCE_FLOAT32) {
            float s = ((const float *)g->data[0])[i];
            for (int k = 1; k < g->size; k++) s += ((const float *)g->data[k])[i];
            ((float *)m->scratch)[i] = s;
        } else {
            double s = ((const double *)g->data[0])[i];
            for (int k = 1; k < g->size; k++) s += ((const double *)g->data[k])[i];
            ((double *)m->scratch)[i] = s;
        }
    }
}

static int barrier_sum(void *payload, attn_reduce_type type, void *data, size_t count)
{
    member *m = payload;
    group *g = m->g;
    if (type == ATTN_REDUCE_FLOAT32 && ++m->f32_calls == m->poison_gradient_call) ((float *)data)[count / 2] = NAN;
    if (type == ATTN_REDUCE_FLOAT64 && count == 8 && ++m->stats_calls == m->flag_failure_call)
        ((double *)data)[7] = 1.0;
    g->data[m->rank] = data;
    g->count[m->rank] = count;
    g->type[m->rank] = type;
    pthread_barrier_wait(&g->barrier);
    int same = 1;
    for (int k = 1; k < g->size; k++) same &= g->count[k] == g->count[0] && g->type[k] == g->type[0];
    if (same) sum_into_scratch(m, type, count);
    /* Everyone has read every contribution before anyone overwrites its own. */
    pthread_barrier_wait(&g->barrier);
    if (!same) {
        m->mismatch = 1;
        return 1;
    }
    memcpy(data, m->scratch, count * (type == ATTN_REDUCE_FLOAT32 ? sizeof(float) : sizeof(double)));
    return 0;
}

typedef struct run_args {
    member *m;
    attn_act_mode mode;
} run_args;

static void *run_member(void *arg)
{
    run_args *a = arg;
    for (int u = 0; u < UPDATES; u++) replica_update(a->m->r, a->mode, u);
    return NULL;
}

/* Trains `n` replicas for UPDATES updates in parallel, summed by barrier_sum; faults as set in members. */
static void run_group(replica *reps, member *members, int n, attn_act_mode mode)
{
    group g = {.size = n};
    assert_int_equal(pthread_barrier_init(&g.barrier, NULL, (unsigned)n), 0);
    pthread_t threads[MAX_REPLICAS];
    run_args args[MAX_REPLICAS];
    for (int k = 0; k < n; k++) {
        members[k].g = &g;
        members[k].rank = k;
        members[k].r = &reps[k];
        members[k].scratch = malloc(nparams(&reps[k]) * sizeof(double));
        assert_non_null(members[k].scratch);
        assert_int_equal(attn_learner_set_reduce(reps[k].learner, barrier_sum, &members[k]), ATTN_OK);
        args[k] = (run_args){&members[k], mode};
    }
    for (int k = 0; k < n; k++) assert_int_equal(pthread_create(&threads[k], NULL, run_member, &args[k]), 0);
    for (int k = 0; k < n; k++) pthread_join(threads[k], NULL);
    pthread_barrier_destroy(&g.barrier);
    for (int k = 0; k < n; k++) {
        free(members[k].scratch);
        assert_int_equal(members[k].mismatch, 0);
    }
}

static void assert_bitwise_equal(const replica *a, const replica *b)
{
    assert_int_equal(nparams(a), nparams(b));
    assert_memory_equal(params(a), params(b), nparams(a) * sizeof(float));
    assert_int_equal(attn_optimizer_steps(a->opt), attn_optimizer_steps(b->opt));
}

/* max |a − b| over the parameters, relative to the largest parameter of b. */
static double param_distance(const replica *a, const replica *b)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < nparams(b); i++) {
        diff = fmax(diff, fabs((double)params(a)[i] - params(b)[i]));
        scale = fmax(scale, fabs((double)params(b)[i]));
    }
    return diff / scale;
}

/* How far training moved the reference: the equivalence bound below must be far smaller. */
static double distance_from_start(const replica *r, attn_loss_kind kind)
{
    replica fresh;
    replica_create(&fresh, kind, 1, 0, 1, 1);
    double d = param_distance(&fresh, r);
    replica_destroy(&fresh);
    return d;
}

/* ---- The tests --------------------------------------------------------------------------------------- */

static void test_set_reduce_errors(void **state)
{
    (void)state;
    assert_int_equal(attn_learner_set_reduce(NULL, barrier_sum, NULL), ATTN_ERR_NULL);
    replica r;
    replica_create(&r, ATTN_LOSS_A2C, 1, 0, 4, 1);
    assert_int_equal(attn_learner_set_reduce(r.learner, barrier_sum, &r), ATTN_OK);
    /* NULL goes back to a single process: an update then runs without calling anything. */
    assert_int_equal(attn_learner_set_reduce(r.learner, NULL, NULL), ATTN_OK);
    replica_update(&r, ATTN_ACT_SAMPLE, 0);
    assert_int_equal(r.status, ATTN_OK);
    replica_destroy(&r);
}

/* The identity reduction, logging every call. */
typedef struct call_log {
    int n;
    attn_reduce_type type[128];
    size_t count[128];
    int fail_at;     /* 1-based call that returns `fail_code`; 0 none */
    int fail_code;
    int zero_doubles; /* leave zeros instead of the sum in F64 calls: not a sum */
} call_log;

static int identity(void *payload, attn_reduce_type type, void *data, size_t count)
{
    call_log *log = payload;
    if (log->n < 128) {
        log->type[log->n] = type;
        log->count[log->n] = count;
    }
    log->n++;
    if (log->zero_doubles && type == ATTN_REDUCE_FLOAT64) memset(data, 0, count * sizeof(double));
    return log->n == log->fail_at ? log->fail_code : 0;
}

static void identity_is_bitwise(attn_loss_kind kind, int minibatches)
{
    replica plain, hooked;
    replica_create(&plain, kind, minibatches, 0, 8, 5);
    replica_create(&hooked, kind, minibatches, 0, 8, 5);
    call_log log = {0};
    assert_int_equal(attn_learner_set_reduce(hooked.learner, identity, &log), ATTN_OK);
    for (int u = 0; u < UPDATES; u++) {
        replica_update(&plain, ATTN_ACT_SAMPLE, u);
        replica_update(&hooked, ATTN_ACT_SAMPLE, u);
    }
    assert_int_equal(plain.status, ATTN_OK);
    assert_int_equal(hooked.status, ATTN_OK);
    assert_bitwise_equal(&plain, &hooked);
    assert_memory_equal(plain.stats, hooked.stats, sizeof plain.stats);

    /* The order training.h documents, for every optimizer step. */
    const int steps = (int)attn_optimizer_steps(hooked.opt), per = kind == ATTN_LOSS_PPO ? 4 : 2;
    assert_int_equal(steps, kind == ATTN_LOSS_PPO ? UPDATES * 2 * minibatches : UPDATES);
    assert_int_equal(log.n, steps * per);
    for (int s = 0; s < steps; s++) {
        const int at = s * per;
        if (kind == ATTN_LOSS_PPO) {
            assert_true(log.type[at] == ATTN_REDUCE_FLOAT64 && log.count[at] == 2);
            assert_true(log.type[at + 1] == ATTN_REDUCE_FLOAT64 && log.count[at + 1] == 1);
        }
        assert_true(log.type[at + per - 2] == ATTN_REDUCE_FLOAT64 && log.count[at + per - 2] == 8);
        assert_true(log.type[at + per - 1] == ATTN_REDUCE_FLOAT32 && log.count[at + per - 1] == nparams(&hooked));
    }
    replica_destroy(&plain);
    replica_destroy(&hooked);
}

static void test_identity_reduce_bitwise_a2c(void **state)
{
    (void)state;
    identity_is_bitwise(ATTN_LOSS_A2C, 1);
}

static void test_identity_reduce_bitwise_ppo(void **state)
{
    (void)state;
    identity_is_bitwise(ATTN_LOSS_PPO, 2);
}

/* Replicas of `split` environments (summing to 16) against one learner of 16. */
static void split_matches_single(attn_loss_kind kind, int b0, int b1)
{
    replica single, reps[2];
    replica_create(&single, kind, 1, 0, b0 + b1, 1);
    for (int u = 0; u < UPDATES; u++) replica_update(&single, ATTN_ACT_GREEDY, u);
    assert_int_equal(single.status, ATTN_OK);

    replica_create(&reps[0], kind, 1, 0, b0, 2);
    replica_create(&reps[1], kind, 1, b0, b1, 3); /* another rollout seed: greedy acting does not use it */
    member members[2] = {{0}};
    run_group(reps, members, 2, ATTN_ACT_GREEDY);
    assert_int_equal(reps[0].status, ATTN_OK);
    assert_int_equal(reps[1].status, ATTN_OK);
    assert_bitwise_equal(&reps[0], &reps[1]);
    assert_memory_equal(reps[0].stats, reps[1].stats, sizeof reps[0].stats);
    assert_int_equal(attn_optimizer_steps(reps[0].opt), attn_optimizer_steps(single.opt));

    const double d = param_distance(&reps[0], &single), moved = distance_from_start(&single, kind);
    print_message("%s %d + %d: parameters within %.3g of one learner of 16 (relative), training moved them %.3g\n",
                  kind == ATTN_LOSS_PPO ? "PPO" : "A2C", b0, b1, d, moved);
    assert_true(moved > 1e-3);
    assert_true(d < 2e-5);
    for (int u = 0; u < UPDATES; u++) {
        assert_float_equal(reps[0].stats[u].total, single.stats[u].total, 1e-4);
        assert_float_equal(reps[0].stats[u].entropy, single.stats[u].entropy, 1e-4);
        assert_float_equal(reps[0].stats[u].grad_norm, single.stats[u].grad_norm, 1e-4);
        assert_int_equal(reps[0].stats[u].skipped, 0);
    }
    replica_destroy(&single);
    replica_destroy(&reps[0]);
    replica_destroy(&reps[1]);
}

static void test_split_equals_single_a2c(void **state)
{
    (void)state;
    split_matches_single(ATTN_LOSS_A2C, 8, 8);
}

/* Unequal batches: each process weights its gradient by its share of the samples. */
static void test_split_equals_single_a2c_unequal(void **state)
{
    (void)state;
    split_matches_single(ATTN_LOSS_A2C, 12, 4);
}

/* The advantages are normalised by the mean and deviation over both processes' samples. */
static void test_split_equals_single_ppo(void **state)
{
    (void)state;
    split_matches_single(ATTN_LOSS_PPO, 8, 8);
}

/* Process 1's gradient of the first step is NaN: both skip that step, both count it, both stay identical. */
static void test_nonfinite_gradient_skips_everywhere(void **state)
{
    (void)state;
    replica reps[2];
    replica_create(&reps[0], ATTN_LOSS_A2C, 1, 0, 8, 2);
    replica_create(&reps[1], ATTN_LOSS_A2C, 1, 8, 8, 3);
    member members[2] = {{0}};
    members[1].poison_gradient_call = 1;
    run_group(reps, members, 2, ATTN_ACT_SAMPLE);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(reps[k].status, ATTN_OK);
        assert_int_equal(reps[k].stats[0].skipped, 1);
        assert_int_equal(reps[k].stats[1].skipped, 0);
        assert_int_equal(attn_learner_skipped(reps[k].learner), 1);
        assert_int_equal(attn_optimizer_steps(reps[k].opt), UPDATES - 1);
        assert_int_equal(members[k].f32_calls, UPDATES);
    }
    assert_bitwise_equal(&reps[0], &reps[1]);
    replica_destroy(&reps[0]);
    replica_destroy(&reps[1]);
}

/* Process 1 flags its loss as failed in the last step of the first update (PPO's stats are its last epoch's): both
 * skip that step, and neither sends a gradient for it. */
static void test_failure_flag_skips_everywhere(void **state)
{
    (void)state;
    replica reps[2];
    replica_create(&reps[0], ATTN_LOSS_PPO, 2, 0, 8, 2);
    replica_create(&reps[1], ATTN_LOSS_PPO, 2, 8, 8, 3);
    member members[2] = {{0}};
    members[1].flag_failure_call = 4;
    run_group(reps, members, 2, ATTN_ACT_SAMPLE);
    const int steps = UPDATES * 2 * 2;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(reps[k].status, ATTN_OK);
        assert_int_equal(reps[k].stats[0].skipped, 1);
        assert_int_equal(attn_learner_skipped(reps[k].learner), 1);
        assert_int_equal(attn_optimizer_steps(reps[k].opt), steps - 1);
        assert_int_equal(members[k].stats_calls, steps);
        assert_int_equal(members[k].f32_calls, steps - 1);
    }
    assert_bitwise_equal(&reps[0], &reps[1]);
    replica_destroy(&reps[0]);
    replica_destroy(&reps[1]);
}

/* A callback's failure stops the update with nothing of that step taken. */
static void failing_call(attn_loss_kind kind, int fail_at, int code, attn_status expected, int64_t steps_after)
{
    replica r;
    replica_create(&r, kind, 2, 0, 8, 1);
    float *before = malloc(nparams(&r) * sizeof(float));
    assert_non_null(before);
    call_log log = {.fail_at = fail_at, .fail_code = code};
    assert_int_equal(attn_learner_set_reduce(r.learner, identity, &log), ATTN_OK);
    assert_int_equal(attn_rollout_collect(r.rollout, r.model, &r.callbacks, ATTN_ACT_SAMPLE), ATTN_OK);
    memcpy(before, params(&r), nparams(&r) * sizeof(float));
    attn_loss_stats s;
    assert_int_equal(attn_learner_update(r.learner, r.opt, r.rollout, &s), expected);
    assert_non_null(strstr(attn_last_error(), "reduction callback"));
    assert_int_equal(log.n, fail_at);
    assert_int_equal(attn_optimizer_steps(r.opt), steps_after);
    if (steps_after == 0) assert_memory_equal(before, params(&r), nparams(&r) * sizeof(float));
    assert_int_equal(attn_learner_skipped(r.learner), 0);
    free(before);
    replica_destroy(&r);
}

static void test_callback_failure_stops_update(void **state)
{
    (void)state;
    failing_call(ATTN_LOSS_A2C, 1, 7, ATTN_ERR_CALLBACK, 0);                   /* the statistics */
    failing_call(ATTN_LOSS_A2C, 2, 7, ATTN_ERR_CALLBACK, 0);                   /* the gradient */
    failing_call(ATTN_LOSS_A2C, 2, ATTN_CALLBACK_ABORT, ATTN_ERR_ABORTED, 0);
    failing_call(ATTN_LOSS_PPO, 1, 7, ATTN_ERR_CALLBACK, 0);                   /* the advantages' sum */
    failing_call(ATTN_LOSS_PPO, 4 + 2, -3, ATTN_ERR_CALLBACK, 1);              /* step 2's deviations */
}

/* A callback that leaves something other than a sum (here zeros) is caught by the sample count. */
static void test_callback_not_summing(void **state)
{
    (void)state;
    replica r;
    replica_create(&r, ATTN_LOSS_A2C, 1, 0, 8, 1);
    call_log log = {.zero_doubles = 1};
    assert_int_equal(attn_learner_set_reduce(r.learner, identity, &log), ATTN_OK);
    assert_int_equal(attn_rollout_collect(r.rollout, r.model, &r.callbacks, ATTN_ACT_SAMPLE), ATTN_OK);
    attn_loss_stats s;
    assert_int_equal(attn_learner_update(r.learner, r.opt, r.rollout, &s), ATTN_ERR_CALLBACK);
    assert_non_null(strstr(attn_last_error(), "sum"));
    assert_int_equal(attn_optimizer_steps(r.opt), 0);
    replica_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_reduce_errors),
        cmocka_unit_test(test_identity_reduce_bitwise_a2c),
        cmocka_unit_test(test_identity_reduce_bitwise_ppo),
        cmocka_unit_test(test_split_equals_single_a2c),
        cmocka_unit_test(test_split_equals_single_a2c_unequal),
        cmocka_unit_test(test_split_equals_single_ppo),
        cmocka_unit_test(test_nonfinite_gradient_skips_everywhere),
        cmocka_unit_test(test_failure_flag_skips_everywhere),
        cmocka_unit_test(test_callback_failure_stops_update),
        cmocka_unit_test(test_callback_not_summing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
