/* attn-bench: how fast the agent acts and trains on this machine, as one JSON line.
 *
 *   attn-bench [--preset minatar|atari84|atari] [--batch B] [--unroll T] [--threads N] [--seconds S]
 *              [--iterations K]
 *
 * act_fps: attn_forward without recording, frames per second. train_fps: per update, T recorded forward steps,
 * attn_backward and an RMSProp step, over T×B frames. step_latency_us: one forward step of the batch.
 * peak_rss_mb: the process's peak resident memory; train_rss_mb: how far training raised it above the resident
 * memory before the learner's state and optimizer existed (bench/torch_bench.py reports the same two).
 * Each phase runs one untimed warm-up, then for S seconds, or exactly K times with --iterations (for
 * instruction counts under callgrind). Speed is measured here, never asserted by a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attnagent/attnagent.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Resident memory now, from /proc (0 where there is none). */
static double rss_now_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void die(const char *what)
{
    fprintf(stderr, "attn-bench: %s: %s\n", what, attn_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    const char *preset = "minatar";
    int B = 16, T = 20, threads = 0;
    double seconds = 3.0;
    int iterations = 0;
    const char *conv_plan = NULL; /* NULL: the library's default ($ATTN_CONV_PLAN, else the rule) */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--unroll")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--iterations")) iterations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conv-plan")) conv_plan = argv[i + 1];
        else {
            fprintf(stderr, "usage: attn-bench [--preset minatar|atari84|atari] [--batch B] [--unroll T] "
                            "[--threads N] [--seconds S] [--iterations K] [--conv-plan rule|measure|LIST]\n");
            return 2;
        }
    }
    attn_preset p = !strcmp(preset, "atari") ? ATTN_PRESET_ATARI
                    : !strcmp(preset, "atari84") ? ATTN_PRESET_ATARI84 : ATTN_PRESET_MINATAR;
    attn_config *cfg;
    if (attn_config_create(&cfg, p) || attn_config_set(cfg, ATTN_CFG_THREADS, threads)) die("configuration");
    if (p == ATTN_PRESET_MINATAR && attn_config_set(cfg, ATTN_CFG_OBS_C, 4)) die("configuration");
    int H, W, C, A;
    attn_config_get(cfg, ATTN_CFG_OBS_H, &H);
    attn_config_get(cfg, ATTN_CFG_OBS_W, &W);
    attn_config_get(cfg, ATTN_CFG_OBS_C, &C);
    attn_config_get(cfg, ATTN_CFG_NUM_ACTIONS, &A);
    attn_model *m;
    attn_state *act, *learn;
    attn_optimizer *opt;
    if (attn_model_create(&m, cfg, 1)) die("model");
    if (attn_state_create(&act, m, B, 0)) die("state");
    if (conv_plan && attn_state_set_conv_plan(act, conv_plan)) die("--conv-plan");

    size_t obs_bytes = (size_t)B * H * W * C;
    uint8_t *obs = malloc(obs_bytes);
    for (size_t i = 0; i < obs_bytes; i++) obs[i] = (uint8_t)((i * 2654435761u) >> 24);
    float *logits = malloc(sizeof(float) * (size_t)T * B * A), *values = malloc(sizeof(float) * (size_t)T * B);
    float *dlogits = calloc((size_t)T * B * A, sizeof(float)), *dvalues = malloc(sizeof(float) * (size_t)T * B);
    for (int i = 0; i < T * B; i++) dvalues[i] = 1e-3f;

    /* Acting: also gives the latency of one step of the batch. */
    int steps = -1;
    double t0 = now();
    do {
        if (attn_forward(m, act, ATTN_FORWARD_ACT, obs, obs_bytes, NULL, NULL, NULL, logits, values)) die("forward");
        if (++steps == 0) t0 = now(); /* the first step warms up, untimed */
    } while (iterations > 0 ? steps < iterations : steps == 0 || now() - t0 < seconds);
    double t = now() - t0;
    double act_fps = (double)steps * B / t, latency_us = 1e6 * t / steps;

    /* Training: T recorded steps, backward, optimizer step. */
    double rss_before = rss_now_mb();
    if (attn_state_create(&learn, m, B, T)) die("state");
    if (conv_plan && attn_state_set_conv_plan(learn, conv_plan)) die("--conv-plan");
    if (attn_optimizer_create(&opt, m, ATTN_OPTIM_RMSPROP)) die("optimizer");
    int updates = -1;
    t0 = now();
    do {
        for (int s = 0; s < T; s++)
            if (attn_forward(m, learn, ATTN_FORWARD_RECORD, obs, obs_bytes, NULL, NULL, NULL,
                             logits + (size_t)s * B * A, values + (size_t)s * B))
                die("forward");
        if (attn_model_zero_grad(m) || attn_backward(m, learn, dlogits, dvalues) ||
            attn_optimizer_step(opt, m, NULL))
            die("update");
        if (++updates == 0) t0 = now();
    } while (iterations > 0 ? updates < iterations : updates == 0 || now() - t0 < seconds);
    t = now() - t0;
    double train_fps = (double)updates * T * B / t;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"preset\": \"%s\", \"batch\": %d, \"unroll\": %d, \"threads\": %d, \"act_fps\": %.1f, "
           "\"train_fps\": %.1f, \"step_latency_us\": %.1f, \"peak_rss_mb\": %.1f, \"train_rss_mb\": %.1f, "
           "\"params\": %zu, \"kernels\": \"%s\", \"conv_plan_act\": \"%s\", \"conv_plan_train\": \"%s\"}\n",
           preset, B, T, threads, act_fps, train_fps, latency_us, ru.ru_maxrss / 1024.0,
           ru.ru_maxrss / 1024.0 - rss_before, attn_model_param_count(m), attn_cpu_kernels(),
           attn_state_conv_plan(act), attn_state_conv_plan(learn));
    free(obs), free(logits), free(values), free(dlogits), free(dvalues);
    attn_optimizer_destroy(opt);
    attn_state_destroy(act);
    attn_state_destroy(learn);
    attn_model_destroy(m);
    attn_config_destroy(cfg);
    return 0;
}
