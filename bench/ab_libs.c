/*
 * Two builds of libattnagent in one process, timed in alternation: the before/after measurement for a speed
 * change on a machine whose speed drifts (docs/performance.md, "Measuring a change"). Separate runs of
 * attn-bench minutes apart differed by up to 1.5x on this project's virtual machine; samples of about 20 ms
 * from both builds, alternating which goes first, see the same drift.
 *
 *   ab_libs OLD.so NEW.so act|train PRESET B T THREADS SAMPLES
 *
 * PRESET is atari, atari84 or minatar; T is the unroll of a training update (ignored for act). Prints one line:
 * the paired median of NEW's time over OLD's, its quartiles, how often NEW was faster, and each build's best.
 *
 * Where the two libraries' memory lands still matters (up to 10 % on this machine): run it twice with the
 * libraries swapped (bench/ab.sh does) and take the geometric mean of the two ratios.
 */
#include <attnagent/attnagent.h>
#include <attnagent/training.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct build {
    void *handle;
    attn_status (*config_create)(attn_config **, attn_preset);
    attn_status (*config_set)(attn_config *, attn_config_key, int64_t);
    void (*config_destroy)(attn_config *);
    attn_status (*model_create)(attn_model **, const attn_config *, uint64_t);
    attn_status (*state_create)(attn_state **, const attn_model *, int, int);
    attn_status (*forward)(attn_model *, attn_state *, attn_forward_mode, const void *, size_t, const float *,
                           const int32_t *, const uint8_t *, float *, float *);
    attn_status (*backward)(attn_model *, attn_state *, const float *, const float *);
    attn_status (*zero_grad)(attn_model *);
    attn_status (*optimizer_create)(attn_optimizer **, const attn_model *, attn_optim_kind);
    attn_status (*optimizer_step)(attn_optimizer *, attn_model *, float *);
    const char *(*last_error)(void);
    attn_model *model;
    attn_state *state;
    attn_optimizer *opt;
} build;

typedef struct work {
    int train, B, T, A;
    size_t obs_bytes;
    uint8_t *obs;
    float *logits, *values, *dlogits, *dvalues;
} work;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "ab_libs: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void *symbol(void *handle, const char *name)
{
    void *p = dlsym(handle, name);
    if (!p) die("missing symbol", name);
    return p;
}

#define BIND(b, field, name) *(void **)&(b)->field = symbol((b)->handle, name)

static void load(build *b, const char *path, attn_preset preset, const work *w, int threads)
{
    b->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->handle) die("cannot load", dlerror());
    BIND(b, config_create, "attn_config_create");
    BIND(b, config_set, "attn_config_set");
    BIND(b, config_destroy, "attn_config_destroy");
    BIND(b, model_create, "attn_model_create");
    BIND(b, state_create, "attn_state_create");
    BIND(b, forward, "attn_forward");
    BIND(b, backward, "attn_backward");
    BIND(b, zero_grad, "attn_model_zero_grad");
    BIND(b, optimizer_create, "attn_optimizer_create");
    BIND(b, optimizer_step, "attn_optimizer_step");
    BIND(b, last_error, "attn_last_error");
    attn_config *cfg;
    if (b->config_create(&cfg, preset) || b->config_set(cfg, ATTN_CFG_THREADS, threads) ||
        b->config_set(cfg, ATTN_CFG_NUM_ACTIONS, w->A) ||
        (preset == ATTN_PRESET_MINATAR && b->config_set(cfg, ATTN_CFG_OBS_C, 4)) ||
        b->model_create(&b->model, cfg, 1) || b->state_create(&b->state, b->model, w->B, w->train ? w->T : 0) ||
        b->optimizer_create(&b->opt, b->model, ATTN_OPTIM_RMSPROP))
        die(path, b->last_error());
    b->config_destroy(cfg);
}

/* Seconds per iteration: one acting step of the batch, or one whole update (T recorded steps, backward,
 * RMSProp step), as attn-bench measures them. */
static double run(build *b, const work *w, int iterations)
{
    const double t0 = now();
    for (int it = 0; it < iterations; it++) {
        if (!w->train) {
            if (b->forward(b->model, b->state, ATTN_FORWARD_ACT, w->obs, w->obs_bytes, NULL, NULL, NULL, w->logits,
                           w->values))
                die("attn_forward", b->last_error());
            continue;
        }
        for (int t = 0; t < w->T; t++)
            if (b->forward(b->model, b->state, ATTN_FORWARD_RECORD, w->obs, w->obs_bytes, NULL, NULL, NULL,
                           w->logits + (size_t)t * w->B * w->A, w->values + (size_t)t * w->B))
                die("attn_forward", b->last_error());
        if (b->zero_grad(b->model) || b->backward(b->model, b->state, w->dlogits, w->dvalues) ||
            b->optimizer_step(b->opt, b->model, NULL))
            die("update", b->last_error());
    }
    return (now() - t0) / iterations;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: ab_libs OLD.so NEW.so act|train atari|atari84|minatar B T THREADS SAMPLES\n");
        return 2;
    }
    work w = {.train = !strcmp(argv[3], "train"), .B = atoi(argv[5]), .T = atoi(argv[6])};
    const int threads = atoi(argv[7]), samples = atoi(argv[8]);
    attn_preset preset;
    size_t per_env;
    if (!strcmp(argv[4], "minatar")) preset = ATTN_PRESET_MINATAR, per_env = 10 * 10 * 4, w.A = 6;
    else if (!strcmp(argv[4], "atari84")) preset = ATTN_PRESET_ATARI84, per_env = 84 * 84 * 3, w.A = 18;
    else if (!strcmp(argv[4], "atari")) preset = ATTN_PRESET_ATARI, per_env = 210 * 160 * 3, w.A = 18;
    else die("unknown preset", argv[4]);
    if (strcmp(argv[3], "act") && !w.train) die("mode must be act or train", argv[3]);
    if (w.B < 1 || threads < 1 || samples < 2 || (w.train && w.T < 1)) die("B, THREADS, SAMPLES (>= 2) and a training T must be positive", NULL);

    const size_t steps = w.train ? (size_t)w.T : 1, outs = steps * (size_t)w.B;
    w.obs_bytes = (size_t)w.B * per_env;
    w.obs = malloc(w.obs_bytes);
    w.logits = malloc(sizeof(float) * outs * (size_t)w.A), w.dlogits = malloc(sizeof(float) * outs * (size_t)w.A);
    w.values = malloc(sizeof(float) * outs), w.dvalues = malloc(sizeof(float) * outs);
    double *t_old = malloc(sizeof(double) * (size_t)samples), *t_new = malloc(sizeof(double) * (size_t)samples);
    double *ratio = malloc(sizeof(double) * (size_t)samples);
    if (!w.obs || !w.logits || !w.dlogits || !w.values || !w.dvalues || !t_old || !t_new || !ratio)
        die("out of memory", NULL);
    /* The same inputs and output gradients as attn-bench: a fixed pattern, not data. */
    for (size_t i = 0; i < w.obs_bytes; i++) w.obs[i] = i * 7 % 3 == 0 ? 255 : 0;
    for (size_t i = 0; i < outs * (size_t)w.A; i++) w.dlogits[i] = (float)((int)(i % 5) - 2) * 0.01f;
    for (size_t i = 0; i < outs; i++) w.dvalues[i] = 0.01f;

    build old_build = {0}, new_build = {0};
    load(&old_build, argv[1], preset, &w, threads);
    load(&new_build, argv[2], preset, &w, threads);
    run(&old_build, &w, 1), run(&new_build, &w, 1); /* warm-up */
    int iterations = (int)(0.02 / run(&old_build, &w, 1));
    if (iterations < 1) iterations = 1;

    int new_faster = 0;
    for (int k = 0; k < samples; k++) {
        if (k % 2) {
            t_new[k] = run(&new_build, &w, iterations);
            t_old[k] = run(&old_build, &w, iterations);
        } else {
            t_old[k] = run(&old_build, &w, iterations);
            t_new[k] = run(&new_build, &w, iterations);
        }
        ratio[k] = t_new[k] / t_old[k];
        new_faster += t_new[k] < t_old[k];
    }
    qsort(ratio, (size_t)samples, sizeof *ratio, by_value);
    qsort(t_old, (size_t)samples, sizeof *t_old, by_value);
    qsort(t_new, (size_t)samples, sizeof *t_new, by_value);
    const double frames = (double)outs;
    printf("{\"mode\": \"%s\", \"preset\": \"%s\", \"batch\": %d, \"unroll\": %d, \"threads\": %d, \"samples\": %d, "
           "\"new_over_old\": %.4f, \"q1\": %.4f, \"q3\": %.4f, \"new_faster\": %d, \"old_best_fps\": %.1f, "
           "\"new_best_fps\": %.1f}\n",
           argv[3], argv[4], w.B, w.train ? w.T : 0, threads, samples, ratio[samples / 2], ratio[samples / 4],
           ratio[3 * samples / 4], new_faster, frames / t_old[0], frames / t_new[0]);
    return 0;
}
