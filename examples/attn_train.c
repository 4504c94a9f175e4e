/* attn-train: trains the attention agent on a built-in game or a real Atari game (ale:GAME, docs/atari.md) and
 * writes checkpoints and a metrics log.
 *
 *   attn-train [--env minatar:breakout|ale:breakout] [--algo a2c|vtrace|ppo] [--frames N] [--out DIR] [--resume]
 *
 * attn-train --help lists every option. Outputs in DIR: checkpoint.safetensors (the latest, replaced
 * atomically), metrics.jsonl (one JSON object per update, with where its time went). Ctrl-C saves a checkpoint
 * and exits. When the environments fail (e.g. an emulator server dies), it stops with the reason and exit status
 * 1, leaving the last checkpoint as it was. Under mpirun every process is one rank of a single data-parallel job
 * (docs/distributed.md). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attnagent/attnagent.h"
#include "distributed.h"
#include "distributed_train.h"
#include "env_select.h"
#include "env_timer.h"
#include "learning_health.h"
#include "make_dirs.h"
#include "metrics_trim.h"
#include "train_options.h"

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define RECENT 100
/* The returns of the last RECENT finished episodes. */
typedef struct recent_returns {
    float value[RECENT];
    int count, next;
} recent_returns;

static void recent_add(recent_returns *r, float v)
{
    r->value[r->next] = v;
    r->next = (r->next + 1) % RECENT;
    if (r->count < RECENT) r->count++;
}

static double recent_mean(const recent_returns *r)
{
    double s = 0.0;
    for (int i = 0; i < r->count; i++) s += r->value[i];
    return r->count ? s / r->count : NAN;
}

/* The returns oldest first, as text for the checkpoint ("%.9g" round-trips a float exactly), so that a
 * resumed run's mean covers the episodes before the checkpoint as an uninterrupted run's does. */
static void recent_format(const recent_returns *r, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->count && used < n; i++) {
        const int at = (r->next - r->count + i + RECENT) % RECENT;
        int w = snprintf(buf + used, n - used, "%s%.9g", i ? " " : "", (double)r->value[at]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

/* Refills `r` from recent_format's text; 0 on success, -1 (and `r` left empty) if the text is malformed. */
static int recent_parse(recent_returns *r, const char *text)
{
    recent_returns got = {{0}, 0, 0};
    const char *p = text;
    while (*p) {
        char *end;
        float v = strtof(p, &end);
        if (end == p || !isfinite(v) || (*end && *end != ' ') || got.count == RECENT) return -1;
        recent_add(&got, v);
        p = *end ? end + 1 : end;
    }
    *r = got;
    return 0;
}

/* A trainer killed mid-checkpoint leaves "checkpoint.safetensors.tmp.*" behind (the checkpoint itself is intact:
 * the library writes a temporary file and renames it). The output directory belongs to one trainer at a time,
 * so at start-up any such file is a leftover and is removed rather than left to pile up. */
static void remove_stale_temporaries(const char *dir)
{
    static const char prefix[] = "checkpoint.safetensors.tmp.";
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) printf("removed %s, left by an interrupted checkpoint write\n", path);
    }
    closedir(d);
}

static int fail_with(const char *what, attn_status st)
{
    fprintf(stderr, "attn-train: %s: %s\n  %s\n", what, attn_status_str(st), attn_last_error());
    return 1;
}

static void format_duration(char *buf, size_t n, double seconds)
{
    if (!(seconds >= 0) || seconds > 1e7) {
        snprintf(buf, n, "--");
        return;
    }
    int s = (int)seconds;
    snprintf(buf, n, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
}

/* Frames of the whole job: every rank steps the same number per update. */
static int64_t job_frames(const attn_rollout *ro, const distributed *d) { return attn_rollout_frames(ro) * d->size; }

static attn_status save(const train_options *o, distributed *d, const char *path, attn_model *m,
                        attn_optimizer *opt, attn_rollout *ro, const attn_env *env, const recent_returns *recent)
{
    char mean[32], returns[RECENT * 18];
    snprintf(mean, sizeof mean, "%.6g", recent_mean(recent));
    recent_format(recent, returns, sizeof returns);
    const char *keys[] = {"env", "algo", "return_mean_100", "recent_returns"};
    const char *values[] = {o->env, train_algo_name(o->algo), mean, returns};
    return train_ranks_save(d, o->out, path, m, opt, ro, env, keys, values, 4);
}

/* Where the wall clock of the training loop went, in seconds (docs/training.md, metrics.jsonl's t_* fields):
 * inside the environments' callbacks, the rest of collecting (the network's acting passes, sampling, copies),
 * attn_learner_update without its reductions, and inside the collectives with the other ranks. */
typedef struct time_split {
    double env, act, learn, wait;
} time_split;

static void time_split_add(time_split *sum, const time_split *t)
{
    sum->env += t->env;
    sum->act += t->act;
    sum->learn += t->learn;
    sum->wait += t->wait;
}

/* The run's breakdown as shares of `total`, the loop's wall time; "other" is what none of the four covers
 * (checkpoints, the metrics log, progress lines). */
static void time_split_report(const time_split *sum, double total, int64_t updates, int ranks)
{
    if (updates <= 0 || !(total > 0)) return;
    const double other = total - sum->env - sum->act - sum->learn - sum->wait;
    const double pct = 100.0 / total, ms = 1e3 / (double)updates;
    printf("time%s: environments %.1f %% (%.1f ms per update), acting %.1f %% (%.1f ms), learning %.1f %% (%.1f ms), "
           "waiting %.1f %% (%.1f ms), other %.1f %%, of %.1f s over %lld updates\n", ranks > 1 ? " on rank 0" : "",
           pct * sum->env, ms * sum->env, pct * sum->act, ms * sum->act, pct * sum->learn, ms * sum->learn,
           pct * sum->wait, ms * sum->wait, pct * (other > 0 ? other : 0.0), total, (long long)updates);
}

int main(int argc, char **argv)
{
    distributed dist;
    if (distributed_init(&dist, &argc, &argv)) return 1;
    train_options o;
    if (train_options_parse(&o, argc, argv)) {
        distributed_finalize(&dist);
        return 2;
    }
    /* This rank's seed for its environments and its share of the frames and CPUs; the model's seed is o.seed. */
    const train_options mine = train_ranks_options(&dist, &o);
    /* Every exit from here on goes through `done`, which frees whatever was built (LeakSanitizer finds nothing
     * on any path, tests/check_program_options.sh). Before the training loop a failure is this process's alone:
     * it returns without distributed_finalize, which takes an MPI job down (distributed.h); from the loop on
     * the ranks stop together, and finalize. */
    attn_config *cfg = NULL;
    attn_model *model = NULL;
    attn_optimizer *opt = NULL;
    attn_rollout *ro = NULL;
    attn_learner *learner = NULL;
    int games_built = 0, timer_built = 0, status = 1, finalize = 0;
    env_timer timer;
    if (dist.rank == 0 && make_dirs(o.out)) {
        fprintf(stderr, "attn-train: cannot create %s: %s\n", o.out, strerror(errno));
        goto done;
    }
    char ckpt[1024], metrics_path[1024];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", o.out);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", o.out);
    if (dist.rank == 0) remove_stale_temporaries(o.out);

    env_select games;
    char err[1024];
    if (env_select_create(&games, &mine, err, sizeof err)) {
        fprintf(stderr, "attn-train: %s\n", err);
        goto done;
    }
    games_built = 1;
    /* Every callback goes through the timer: the library's collect does the stepping and the acting between
     * them, so the host tells the two apart by the time inside its own callbacks. */
    if (env_timer_init(&timer, &games.env)) {
        fprintf(stderr, "attn-train: cannot create the environments' timer\n");
        goto done;
    }
    timer_built = 1;
    attn_env env = env_timer_env(&timer);

    attn_status st = attn_config_create(&cfg, o.preset);
    if (!st) st = env_select_configure(&games, cfg);
    if (!st) st = attn_config_set(cfg, ATTN_CFG_THREADS, mine.threads);
    if (st) {
        fail_with("configuration", st);
        goto done;
    }
    attn_loss_config lc;
    if ((st = attn_model_create(&model, cfg, o.seed))) {
        fail_with("model", st);
        goto done;
    }
    if ((st = attn_optimizer_create(&opt, model, o.optim))) {
        fail_with("optimizer", st);
        goto done;
    }
    if ((st = train_options_apply(&mine, opt, &lc))) {
        fail_with("options", st);
        goto done;
    }
    if ((st = attn_rollout_create(&ro, model, o.envs, o.unroll, mine.seed))) {
        fail_with("rollout", st);
        goto done;
    }
    if ((st = attn_learner_create(&learner, model, &lc, o.envs, o.unroll))) {
        fail_with("learner", st);
        goto done;
    }
    if ((st = distributed_attach(&dist, learner))) {
        fail_with("learner", st);
        goto done;
    }

    recent_returns recent = {{0}, 0, 0};
    if (o.resume) {
        if (train_ranks_load(&dist, o.out, ckpt, model, opt, ro, &env)) goto done;
        double stored = 0.0, now_steps = 0.0;
        attn_optimizer_get(opt, ATTN_OPT_LR_DECAY_STEPS, &stored);
        if ((st = train_options_apply_schedule(&mine, &lc, opt))) {
            fail_with("options", st);
            goto done;
        }
        attn_optimizer_get(opt, ATTN_OPT_LR_DECAY_STEPS, &now_steps);
        printf("resumed from %s at %lld frames\n", ckpt, (long long)job_frames(ro, &dist));
        if (stored != now_steps)
            printf("attn-train: the learning rate now decays to 0 over %lld frames (the checkpoint's schedule was "
                   "for another --frames or decay setting)\n", (long long)o.frames);
        /* Checkpoints from before this key start the mean afresh; a damaged value does too, with a warning. */
        const char *returns = attn_training_meta("recent_returns");
        if (returns && recent_parse(&recent, returns))
            fprintf(stderr, "attn-train: %s: unreadable recent_returns; the return mean restarts\n", ckpt);
    }
    if (!train_ranks_same_weights(&dist, model)) { /* every rank knows: they end the job together */
        finalize = 1;
        goto done;
    }
    if (o.resume && dist.rank == 0) {
        char why[1200];
        int dropped;
        if (metrics_trim(metrics_path, job_frames(ro, &dist), &dropped, why, sizeof why)) {
            fprintf(stderr, "attn-train: %s\n", why);
            goto done;
        }
        if (dropped)
            printf("attn-train: dropped %d lines of %s past the checkpoint's %lld frames (logged after it was saved)\n",
                   dropped, metrics_path, (long long)job_frames(ro, &dist));
    }
    FILE *metrics = fopen(dist.rank ? "/dev/null" : metrics_path, o.resume ? "a" : "w");
    if (!metrics) {
        fprintf(stderr, "attn-train: cannot write %s: %s\n", metrics_path, strerror(errno));
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int tty = isatty(STDOUT_FILENO);
    char threads[32];
    if (o.threads)
        snprintf(threads, sizeof threads, "%d threads", o.threads);
    else
        snprintf(threads, sizeof threads, "threads: all CPUs");
    printf("attn-train: %s, %s, %d environments × %d steps, %lld frames, %s, %zu parameters, out %s\n", o.env,
           train_algo_name(o.algo), o.envs, o.unroll, (long long)o.frames, threads, attn_model_param_count(model),
           o.out);
    fflush(stdout);

    const double start = now();
    const int64_t start_frames = job_frames(ro, &dist);
    int64_t next_checkpoint = start_frames + o.checkpoint_every;
    double last_print = 0.0;
    float finished[4096];
    time_split spent = {0.0, 0.0, 0.0, 0.0};
    int64_t updates = 0;
    status = 0;
    unsigned health_warned = 0;
    int stop = 0;
    while (job_frames(ro, &dist) < o.frames && !stop) {
        /* The update's clock: collect [t0, t1) less the environments' time is acting; learn [t2, t3) less its
         * reductions is learning; every collective of the update is waiting. */
        const double t0 = now(), env0 = env_timer_seconds(&timer), wait0 = dist.wait_seconds;
        /* Every rank stops when one cannot go on: the others would wait for it in the learner's reduction. */
        st = attn_rollout_collect(ro, model, &env, ATTN_ACT_SAMPLE);
        const double t1 = now(), env1 = env_timer_seconds(&timer);
        if (distributed_or(&dist, st != ATTN_OK)) {
            status = st ? fail_with("collecting", st) : train_ranks_peer_failed(&dist, "collecting");
            break;
        }
        int count = env_select_scores(&games, ro, finished, 4096);
        count = distributed_gather_floats(&dist, finished, count < 4096 ? count : 4096, finished, 4096);
        for (int i = 0; i < count && i < 4096; i++) recent_add(&recent, finished[i]);
        attn_loss_stats s;
        const double t2 = now(), wait2 = dist.wait_seconds;
        st = attn_learner_update(learner, opt, ro, &s);
        const double t3 = now(), wait3 = dist.wait_seconds;
        /* An interrupt of any rank stops all of them after the same update, so their checkpoint is one. */
        const int agreed = distributed_or(&dist, (st != ATTN_OK) | (interrupted ? 2 : 0));
        if (agreed & 1) {
            status = st ? fail_with("learning", st) : train_ranks_peer_failed(&dist, "learning");
            break;
        }
        stop = agreed & 2;
        const int64_t frames = job_frames(ro, &dist);
        const int64_t episodes = distributed_sum_i64(&dist, attn_rollout_episodes(ro));
        const time_split u = {env1 - env0, (t1 - t0) - (env1 - env0), (t3 - t2) - (wait3 - wait2),
                              dist.wait_seconds - wait0};
        time_split_add(&spent, &u);
        updates++;
        const double t = now() - start, fps = (double)(frames - start_frames) / (t > 0 ? t : 1);
        fprintf(metrics,
                "{\"update\": %lld, \"frames\": %lld, \"seconds\": %.2f, \"fps\": %.1f, \"episodes\": %lld, "
                "\"return_mean\": %.4f, \"loss\": %.6g, \"policy_loss\": %.6g, \"value_loss\": %.6g, "
                "\"entropy\": %.6g, \"approx_kl\": %.6g, \"clip_fraction\": %.6g, \"grad_norm\": %.6g, "
                "\"lr\": %.6g, \"skipped\": %d, \"t_env\": %.6f, \"t_act\": %.6f, \"t_learn\": %.6f, "
                "\"t_wait\": %.6f}\n",
                (long long)attn_optimizer_steps(opt), (long long)frames, t, fps,
                (long long)episodes, recent.count ? recent_mean(&recent) : 0.0, s.total,
                s.policy_loss, s.value_loss, s.entropy, s.approx_kl, s.clip_fraction, s.grad_norm,
                attn_optimizer_current_lr(opt), s.skipped, u.env, u.act, u.learn, u.wait);
        fflush(metrics); /* whole lines only: a killed run leaves a readable log to resume appending to */
        if (frames >= next_checkpoint) {
            if ((st = save(&o, &dist, ckpt, model, opt, ro, &env, &recent))) {
                status = fail_with("checkpoint", st);
                break;
            }
            next_checkpoint += o.checkpoint_every;
        }
        if (t - last_print >= (tty ? 0.5 : 10.0) || frames >= o.frames) {
            last_print = t;
            char eta[32];
            format_duration(eta, sizeof eta, (double)(o.frames - frames) / (fps > 0 ? fps : 1));
            printf("%sframes %9lld  %6.0f f/s  return(100) %7.2f  episodes %6lld  loss %8.4f  entropy %.3f  "
                   "ETA %s%s",
                   tty ? "\r" : "", (long long)frames, fps, recent.count ? recent_mean(&recent) : 0.0,
                   (long long)episodes, s.total, s.entropy, eta, tty ? "  " : "\n");
            fflush(stdout);
            if (health_warned != (ATTN_HEALTH_UNIFORM_POLICY | ATTN_HEALTH_FROZEN_WEIGHTS)) {
                if (tty) printf("\n");
                learning_health_warn(stdout, "attn-train", learner, &health_warned);
            }
        }
    }
    const double loop_seconds = now() - start;
    if (tty) printf("\n");
    fclose(metrics);
    if (!status) {
        if ((st = save(&o, &dist, ckpt, model, opt, ro, &env, &recent))) {
            status = fail_with("checkpoint", st);
        } else {
            printf("%s at %lld frames; checkpoint %s, metrics %s\n", interrupted || stop ? "interrupted" : "finished",
                   (long long)job_frames(ro, &dist), ckpt, metrics_path);
        }
    }
    if (!status) time_split_report(&spent, loop_seconds, updates, dist.size);
    train_ranks_report(&dist);
    finalize = 1;
done:
    attn_learner_destroy(learner);
    attn_rollout_destroy(ro);
    attn_optimizer_destroy(opt);
    attn_model_destroy(model);
    attn_config_destroy(cfg);
    if (timer_built) env_timer_destroy(&timer);
    if (games_built) env_select_destroy(&games);
    if (finalize) distributed_finalize(&dist);
    return status;
}
