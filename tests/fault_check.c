/* fault_check PATH ENVS UNROLL: loads the training checkpoint PATH the way a resume would — the model from the
 * file's own configuration, then attn_training_load into an Adam optimizer and a rollout of ENVS × UNROLL —
 * and prints its frame counter. Exit 0 only if every part loaded; used by fault_kill.sh after each SIGKILL.
 * Through the public API only, so it checks what any host would see. */
#include <stdio.h>
#include <stdlib.h>

#include "attnagent/attnagent.h"

static int fail(const char *what, attn_status st)
{
    fprintf(stderr, "fault_check: %s: %s\n  %s\n", what, attn_status_str(st), attn_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fault_check CHECKPOINT ENVS UNROLL\n");
        return 2;
    }
    const char *path = argv[1];
    const int envs = atoi(argv[2]), unroll = atoi(argv[3]);
    attn_model *model = NULL;
    attn_optimizer *opt = NULL;
    attn_rollout *ro = NULL;
    attn_status st = attn_model_load(&model, path);
    if (st) return fail("attn_model_load", st);
    int rc = 0;
    if ((st = attn_optimizer_create(&opt, model, ATTN_OPTIM_ADAM)))
        rc = fail("optimizer", st);
    else if ((st = attn_rollout_create(&ro, model, envs, unroll, 0)))
        rc = fail("rollout", st);
    else if ((st = attn_training_load(path, model, opt, ro, NULL)))
        rc = fail("attn_training_load", st);
    else
        printf("%lld\n", (long long)attn_rollout_frames(ro));
    attn_rollout_destroy(ro);
    attn_optimizer_destroy(opt);
    attn_model_destroy(model);
    return rc;
}
