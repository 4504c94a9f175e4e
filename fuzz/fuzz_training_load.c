/* libFuzzer target: training checkpoints through attn_training_load, into a model, an Adam optimizer and a
 * rollout of the seeds' shape (fuzz_common.h) created afresh for every input, with environments that save and
 * load. A load that succeeds must leave objects that train: one collect and one learner update follow. A load
 * that fails must have changed nothing: the parameters, the optimizer's knobs and step count, and the rollout's
 * counters are compared with what they were. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static attn_config *cfg;
static attn_loss_config loss;

/* What a refused load must leave as it was, besides the parameters. */
typedef struct observable {
    double knob[ATTN_OPT_LR_END + 1];
    int64_t steps, frames, episodes;
} observable;

static observable observe(const attn_optimizer *opt, const attn_rollout *ro)
{
    observable o;
    memset(&o, 0, sizeof o);
    for (int k = 0; k <= ATTN_OPT_LR_END; k++)
        if (attn_optimizer_get(opt, (attn_optim_param)k, &o.knob[k]) != ATTN_OK) abort();
    o.steps = attn_optimizer_steps(opt);
    o.frames = attn_rollout_frames(ro);
    o.episodes = attn_rollout_episodes(ro);
    return o;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("ATTN_NUM_THREADS", "1", 1);
    if (fuzz_small_config(&cfg) != ATTN_OK || attn_loss_config_init(&loss, ATTN_LOSS_A2C) != ATTN_OK) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size);
    attn_model *model = NULL;
    attn_optimizer *opt = NULL;
    attn_rollout *ro = NULL;
    attn_learner *ln = NULL;
    fuzz_world world = {{0}};
    const attn_env env = fuzz_env(&world);
    if (attn_model_create(&model, cfg, 1) != ATTN_OK || attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM) != ATTN_OK ||
        attn_rollout_create(&ro, model, FUZZ_BATCH, FUZZ_UNROLL, 2) != ATTN_OK ||
        attn_learner_create(&ln, model, &loss, FUZZ_BATCH, FUZZ_UNROLL) != ATTN_OK)
        abort();
    const size_t param_bytes = attn_model_param_count(model) * sizeof(float);
    void *before = malloc(param_bytes);
    if (!before) abort();
    memcpy(before, attn_model_params(model), param_bytes);
    const observable was = observe(opt, ro);

    if (attn_training_load(path, model, opt, ro, &env) == ATTN_OK) {
        attn_loss_stats stats;
        (void)attn_training_meta("host.key");
        /* Finite weights can still overflow (a file's weights may be any finite floats), which the library
         * reports as ATTN_ERR_NONFINITE; any other failure means the loader accepted a state the library
         * cannot continue from. */
        attn_status st = attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE);
        if (st == ATTN_OK) st = attn_learner_update(ln, opt, ro, &stats);
        if (st != ATTN_OK && st != ATTN_ERR_NONFINITE) {
            fprintf(stderr, "training after a successful load failed: %s\n", attn_last_error());
            abort();
        }
    } else {
        const observable is = observe(opt, ro);
        if (memcmp(before, attn_model_params(model), param_bytes) != 0 || memcmp(&was, &is, sizeof was) != 0) {
            fprintf(stderr, "a refused file changed the objects (%s)\n", attn_last_error());
            abort();
        }
    }
    free(before);
    attn_learner_destroy(ln);
    attn_rollout_destroy(ro);
    attn_optimizer_destroy(opt);
    attn_model_destroy(model);
    return 0;
}
