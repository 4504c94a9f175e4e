/*
 * Data-parallel training on MPI, through the glue attn-train uses (examples/distributed_mpi.c), under
 * `mpirun -np 2`:
 *
 *  - replicas: after 5 updates of A2C and of PPO at attn-train's defaults (4 epochs × 4 minibatches), sampling
 *    with rank-seeded rollouts, rank 1's parameters are bitwise rank 0's (the whole array is sent and compared);
 *  - equivalence: 2 ranks × 8 environments give the parameters of 1 process × 16 environments with the same
 *    per-environment data (tests/index_env.h, greedy acting), to float tolerance: A2C, and PPO with one
 *    minibatch per epoch, whose advantages are normalised over both ranks' samples.
 *
 * Both ranks exit with the same status: 0 when every check passed, 1 otherwise (rank 0 says which on stderr).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "distributed.h"
#include "index_env.h"
#include "test_util.h"

#define UNROLL 6

typedef struct replica {
    index_env env;
    attn_env callbacks;
    attn_config *cfg;
    attn_model *model;
    attn_optimizer *opt;
    attn_rollout *rollout;
    attn_learner *learner;
} replica;

static int checks_failed;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "mpi_replicas: FAILED: %s\n", what);
        checks_failed++;
    }
}

static void must(attn_status st, const char *what)
{
    if (st == ATTN_OK) return;
    /* A setup failure on one rank leaves the other in a collective: the glue's exit handler ends the job. */
    fprintf(stderr, "mpi_replicas: %s: %s (%s)\n", what, attn_status_str(st), attn_last_error());
    exit(1);
}

/* minibatches 0: attn-train's PPO (4 epochs × 4 minibatches); otherwise 2 epochs of that many. */
static void replica_create(replica *r, attn_loss_kind kind, int minibatches, int base, int B, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    r->callbacks = index_env_callbacks(&r->env, base);
    r->cfg = tiny_config();
    if (!r->cfg) must(ATTN_ERR_INVALID, "tiny_config");
    attn_loss_config lc;
    must(attn_loss_config_init(&lc, kind), "loss config");
    if (kind == ATTN_LOSS_PPO && minibatches) {
        lc.ppo_epochs = 2;
        lc.ppo_minibatches = minibatches;
    }
    must(attn_model_create(&r->model, r->cfg, 11), "model");
    must(attn_optimizer_create(&r->opt, r->model, ATTN_OPTIM_ADAM), "optimizer");
    must(attn_optimizer_set(r->opt, ATTN_OPT_LR, 3e-3), "learning rate");
    must(attn_rollout_create(&r->rollout, r->model, B, UNROLL, seed), "rollout");
    must(attn_learner_create(&r->learner, r->model, &lc, B, UNROLL), "learner");
}

static void replica_destroy(replica *r)
{
    attn_learner_destroy(r->learner);
    attn_rollout_destroy(r->rollout);
    attn_optimizer_destroy(r->opt);
    attn_model_destroy(r->model);
    attn_config_destroy(r->cfg);
}

static void train(replica *r, attn_act_mode mode, int updates)
{
    for (int u = 0; u < updates; u++) {
        attn_loss_stats s;
        must(attn_rollout_collect(r->rollout, r->model, &r->callbacks, mode), "collect");
        must(attn_learner_update(r->learner, r->opt, r->rollout, &s), "update");
    }
}

/* Rank 1's parameters on rank 0 (malloc'ed there; NULL on rank 1). */
static float *rank1_params(distributed *d, const replica *r)
{
    const size_t bytes = attn_model_param_count(r->model) * sizeof(float);
    if (d->rank == 1) {
        if (distributed_send_bytes(d, 0, attn_model_params(r->model), bytes)) must(ATTN_ERR_IO, "send");
        return NULL;
    }
    void *got;
    size_t n;
    if (distributed_recv_bytes(d, 1, &got, &n) || n != bytes) must(ATTN_ERR_IO, "receive");
    return got;
}

static void replicas_identical(distributed *d, attn_loss_kind kind, const char *name)
{
    replica r;
    /* Each rank its own sampling streams, as attn-train seeds them apart. */
    replica_create(&r, kind, 0, 8 * d->rank, 8, 100 + (uint64_t)d->rank);
    must(distributed_attach(d, r.learner), "attach");
    train(&r, ATTN_ACT_SAMPLE, 5);
    float *other = rank1_params(d, &r);
    if (d->rank == 0) {
        const size_t n = attn_model_param_count(r.model);
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += memcmp(&other[i], &attn_model_params(r.model)[i], sizeof(float)) != 0;
        fprintf(stderr, "mpi_replicas: %s: after 5 updates (%lld optimizer steps), %zu of %zu parameters differ "
                "between the ranks\n", name, (long long)attn_optimizer_steps(r.opt), differ, n);
        char what[128];
        snprintf(what, sizeof what, "%s replicas bitwise identical", name);
        check(differ == 0, what);
        free(other);
    }
    check(distributed_all_equal(d, (uint64_t)attn_optimizer_steps(r.opt)), "same optimizer step counts");
    replica_destroy(&r);
}

static void equals_single(distributed *d, attn_loss_kind kind, int minibatches, const char *name)
{
    replica r;
    replica_create(&r, kind, minibatches, 8 * d->rank, 8, 200 + (uint64_t)d->rank);
    must(distributed_attach(d, r.learner), "attach");
    train(&r, ATTN_ACT_GREEDY, 3);
    float *other = rank1_params(d, &r);
    if (d->rank == 0) {
        /* The reference: one process, all 16 environments, no reduction. */
        replica single;
        replica_create(&single, kind, minibatches, 0, 16, 300);
        train(&single, ATTN_ACT_GREEDY, 3);
        const size_t n = attn_model_param_count(r.model);
        const float *mine = attn_model_params(r.model), *ref = attn_model_params(single.model);
        double diff = 0.0, scale = 0.0;
        for (size_t i = 0; i < n; i++) {
            diff = fmax(diff, fabs((double)mine[i] - ref[i]));
            scale = fmax(scale, fabs((double)ref[i]));
        }
        fprintf(stderr, "mpi_replicas: %s: 2 ranks x 8 against 1 x 16: max difference %.3g (relative %.3g)\n", name,
                diff, diff / scale);
        char what[128];
        snprintf(what, sizeof what, "%s 2 x 8 equals 1 x 16 to 2e-5", name);
        check(diff / scale < 2e-5, what);
        snprintf(what, sizeof what, "%s replicas bitwise identical", name);
        check(!memcmp(other, mine, n * sizeof(float)), what);
        check(attn_optimizer_steps(single.opt) == attn_optimizer_steps(r.opt), "same step counts as one process");
        replica_destroy(&single);
        free(other);
    }
    replica_destroy(&r);
}

int main(int argc, char **argv)
{
    distributed d;
    if (distributed_init(&d, &argc, &argv)) return 1;
    if (d.size != 2) {
        fprintf(stderr, "mpi_replicas: run under mpirun -np 2 (this job has %d ranks)\n", d.size);
        distributed_finalize(&d);
        return 1;
    }
    replicas_identical(&d, ATTN_LOSS_A2C, "A2C");
    replicas_identical(&d, ATTN_LOSS_PPO, "PPO 4x4");
    equals_single(&d, ATTN_LOSS_A2C, 0, "A2C");
    equals_single(&d, ATTN_LOSS_PPO, 1, "PPO, advantages normalised");
    const int failed = distributed_or(&d, checks_failed != 0);
    if (d.rank == 0) fprintf(stderr, "mpi_replicas: %s\n", failed ? "FAILED" : "all checks passed");
    distributed_finalize(&d);
    return failed ? 1 : 0;
}
