/* libFuzzer target: attn-train's command line (examples/train_options.c) and the strict number parsers it shares
 * with attn-play (examples/option_numbers.h). The input is split at NUL bytes into arguments after the program
 * name. A command line the parser accepts must describe a run the library can build — every count in range,
 * envs × unroll within a rollout, PPO's minibatches dividing the batch — and each argument handed to the number
 * parsers directly must come back in range or be refused; UBSan (clang's -fsanitize=undefined includes
 * float-cast-overflow) reports any out-of-range conversion on the way. The seeds (fuzz/corpus/options/) are written by hand: one
 * ordinary command line per kind of option, and the out-of-range values of docs/testing.md, "Bad input". */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "option_numbers.h"
#include "train_options.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each argument through the number parsers on its own: in range whenever accepted. */
static void numbers(const char *text)
{
    int64_t i;
    if (!option_int64("fuzz", "--n", text, -1000, 1000000, &i) && (i < -1000 || i > 1000000)) __builtin_trap();
    int k;
    if (!option_int("fuzz", "--n", text, 1, 64, &k) && (k < 1 || k > 64)) __builtin_trap();
    uint64_t u;
    if (!option_uint64("fuzz", "--n", text, &u) && text[0] == '-') __builtin_trap();
    double x;
    if (!option_double("fuzz", "--x", text, 0.0, 1.0, &x) && !(x >= 0.0 && x <= 1.0)) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    static char prog[] = "attn-train";
    char *argv[MAX_ARGS + 2] = {prog};
    int argc = 1;
    for (size_t at = 0; at <= size && argc <= MAX_ARGS;) {
        argv[argc++] = text + at;
        at += strlen(text + at) + 1;
    }
    argv[argc] = NULL;
    for (int a = 1; a < argc; a++) numbers(argv[a]);
    train_options o;
    if (!train_options_parse(&o, argc, argv)) {
        if (o.envs < 1 || o.envs > ATTN_MAX_BATCH || o.unroll < 1 || o.unroll > ATTN_MAX_UNROLL) __builtin_trap();
        if ((int64_t)o.envs * o.unroll > INT_MAX) __builtin_trap();
        if (o.frames < 1 || o.checkpoint_every < 1 || o.threads < 0 || o.max_episode_steps < 1) __builtin_trap();
        if (!(o.sticky >= 0.0f && o.sticky <= 1.0f) && !(o.sticky == -1.0f && !o.ale)) __builtin_trap();
        if (o.frame_skip < 1 || o.frame_skip > 64 || o.ale_procs < 0 || !(o.ale_timeout > 0.0)) __builtin_trap();
        if (o.ale && (int64_t)o.max_episode_steps * o.frame_skip > INT_MAX) __builtin_trap();
        if (!o.game || !o.out) __builtin_trap();
        attn_loss_config lc;
        attn_loss_config_init(&lc, o.algo);
        const int minibatches = o.ppo_minibatches ? o.ppo_minibatches : lc.ppo_minibatches;
        if (o.algo == ATTN_LOSS_PPO && o.envs % minibatches) __builtin_trap();
        const double losses[] = {o.entropy_cost, o.baseline_cost, o.discount, o.gae_lambda, o.reward_clip};
        for (size_t k = 0; k < sizeof losses / sizeof losses[0]; k++)
            if (!isnan(losses[k]) && !(losses[k] >= 0.0 && losses[k] <= FLT_MAX)) __builtin_trap();
    }
    free(text);
    return 0;
}
