#include "train_options.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option_numbers.h"

#define PROG "attn-train"

static const char *const ALGOS[] = {"a2c", "vtrace", "ppo"};
static const char *const OPTIMS[] = {"rmsprop", "adam", "adamw", "sgd"};

const char *train_algo_name(attn_loss_kind algo) { return ALGOS[algo]; }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attn-train [options]\n"
            "  --env minatar:GAME       breakout (default), asterix, freeway, seaquest, space_invaders\n"
            "  --env ale:GAME           a real Atari game through ale-py, e.g. ale:breakout (docs/atari.md)\n"
            "  --preset P               the network preset: minatar for the built-in games; atari84 (default,\n"
            "                           84x84 RGB) or atari (210x160 RGB) for ale:\n"
            "  --algo a2c|vtrace|ppo    loss (default ppo: 4 epochs of 4 minibatches per unroll)\n"
            "  --optim rmsprop|adam|adamw|sgd   optimizer (default adam)\n"
            "  --lr X                   learning rate (default 5e-4), decayed linearly to 0 over --frames\n"
            "  --no-lr-decay            keep the learning rate constant\n"
            "  --epsilon X --max-grad-norm X (default 0.5)\n"
            "  --entropy-cost X --baseline-cost X --discount X --lambda X --reward-clip X\n"
            "  --ppo-epochs N --ppo-minibatches N --no-advantage-norm\n"
            "  --envs B                 environments stepped together (default 32)\n"
            "  --unroll T               steps per update (default 64)\n"
            "  --frames N               environment steps to train for, all environments together (default 1000000)\n"
            "  --seed S --threads N     (threads 0 = all CPUs or $ATTN_NUM_THREADS)\n"
            "  --sticky P               sticky-action probability (default 0.1; ale: 0.25, as ALE v5)\n"
            "  --max-episode-steps N    truncate longer episodes (default 10000; ale: 27000 = 108000 frames)\n"
            "  ale: only (docs/atari.md):\n"
            "  --frame-skip N           emulator frames per agent step (default 4)\n"
            "  --no-max-pool            observe the last frame, not the max of the last two\n"
            "  --noop-max N             1..N no-op frames after each reset (default 0 with sticky actions, else 30)\n"
            "  --full-action-set        all 18 actions instead of the game's minimal set\n"
            "  --life-loss-terminal     a lost life ends the training episode (scores stay whole games)\n"
            "  --ale-procs N            emulator server processes (default one per CPU, at most --envs)\n"
            "  --ale-timeout S          seconds before a silent emulator server counts as hung (default 20)\n"
            "  --out DIR                checkpoint.safetensors and metrics.jsonl (default runs/GAME, runs/ale_GAME)\n"
            "  --checkpoint-every N     frames between checkpoints (default 100000)\n"
            "  --resume                 continue from DIR/checkpoint.safetensors\n");
}

static int pick(const char *value, const char *const *names, int n, const char *option)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(value, names[i])) return i;
    fprintf(stderr, PROG ": %s: unknown value \"%s\"\n", option, value);
    return -1;
}

/* The numeric options: where each goes and the values it may take. Every one is parsed whole and range-checked
 * before it is converted (option_numbers.h), so nothing out of range is ever cast, and "the default" is never a
 * value a user can type: a negative --sticky or --max-episode-steps is refused, not taken to mean it. The bounds
 * are the library's own (ATTN_MAX_BATCH, ATTN_MAX_UNROLL, the thread limit, the loss's ranges) or, for the run
 * lengths, far beyond any run (10^15 frames) so that no sum of them can overflow. */
typedef enum { NUM_DOUBLE, NUM_FLOAT, NUM_INT, NUM_INT64, NUM_UINT64 } numeric_kind;
typedef struct numeric_option {
    const char *name;
    numeric_kind kind;
    double lo, hi;
    size_t offset;
} numeric_option;

#define RUN_LENGTH_MAX 1e15
#define OPT(name, kind, lo, hi, field) {name, kind, lo, hi, offsetof(train_options, field)}
static const numeric_option NUMERIC[] = {
    OPT("--lr", NUM_DOUBLE, 0, DBL_MAX, lr),
    OPT("--epsilon", NUM_DOUBLE, 0, DBL_MAX, epsilon),
    OPT("--max-grad-norm", NUM_DOUBLE, 0, DBL_MAX, max_grad_norm),
    /* The loss's floats: their range, and nothing a float cannot hold. */
    OPT("--entropy-cost", NUM_DOUBLE, 0, FLT_MAX, entropy_cost),
    OPT("--baseline-cost", NUM_DOUBLE, 0, FLT_MAX, baseline_cost),
    OPT("--discount", NUM_DOUBLE, 0, 1, discount),
    OPT("--lambda", NUM_DOUBLE, 0, 1, gae_lambda),
    OPT("--reward-clip", NUM_DOUBLE, 0, FLT_MAX, reward_clip),
    OPT("--ppo-epochs", NUM_INT, 1, 100000, ppo_epochs),
    OPT("--ppo-minibatches", NUM_INT, 1, ATTN_MAX_BATCH, ppo_minibatches),
    OPT("--envs", NUM_INT, 1, ATTN_MAX_BATCH, envs),
    OPT("--unroll", NUM_INT, 1, ATTN_MAX_UNROLL, unroll),
    OPT("--frames", NUM_INT64, 1, RUN_LENGTH_MAX, frames),
    OPT("--checkpoint-every", NUM_INT64, 1, RUN_LENGTH_MAX, checkpoint_every),
    OPT("--seed", NUM_UINT64, 0, 0, seed),
    OPT("--threads", NUM_INT, 0, 1024, threads),
    OPT("--sticky", NUM_FLOAT, 0, 1, sticky),
    OPT("--max-episode-steps", NUM_INT, 1, 10000000, max_episode_steps),
    OPT("--frame-skip", NUM_INT, 1, 64, frame_skip),
    OPT("--noop-max", NUM_INT, 0, 100000, noop_max),
    OPT("--ale-procs", NUM_INT, 0, ATTN_MAX_BATCH, ale_procs),
    OPT("--ale-timeout", NUM_DOUBLE, 0.001, 86400, ale_timeout),
};
#undef OPT

/* Parses `value` for the numeric option `name` into `o`: 0, 1 with a message naming the option, or -1 when
 * there is no such option. */
static int numeric(train_options *o, const char *name, const char *value)
{
    for (size_t k = 0; k < sizeof NUMERIC / sizeof NUMERIC[0]; k++) {
        const numeric_option *n = &NUMERIC[k];
        if (strcmp(name, n->name)) continue;
        void *field = (char *)o + n->offset;
        double x;
        int64_t i;
        int bad = 0;
        switch (n->kind) {
        case NUM_DOUBLE:
            if (!(bad = option_double(PROG, name, value, n->lo, n->hi, &x))) *(double *)field = x;
            break;
        case NUM_FLOAT:
            if (!(bad = option_double(PROG, name, value, n->lo, n->hi, &x))) *(float *)field = (float)x;
            break;
        case NUM_INT:
            if (!(bad = option_int64(PROG, name, value, (int64_t)n->lo, (int64_t)n->hi, &i))) *(int *)field = (int)i;
            break;
        case NUM_INT64:
            if (!(bad = option_int64(PROG, name, value, (int64_t)n->lo, (int64_t)n->hi, &i))) *(int64_t *)field = i;
            break;
        case NUM_UINT64: bad = option_uint64(PROG, name, value, (uint64_t *)field); break;
        }
        return bad ? 1 : 0;
    }
    return -1;
}

int train_options_parse(train_options *o, int argc, char **argv)
{
    static char out_default[256];
    *o = (train_options){.env = "minatar:breakout",
                         /* PPO with Adam at 5e-4 decayed to 0 over the run, unrolls of 64 steps, minibatches
                            of 8 environments × 64 steps, the library's clipping at 0.5: what the published PPO
                            setups for MinAtar use. On breakout (seed 1, one thread) it was level with the
                            earlier defaults (20 steps, a constant rate, clipping at 40) up to 0.6 M frames and
                            ahead after (8.3 against 7.5 at 0.85 M); docs/results.md, "How the defaults were
                            chosen". */
                         .algo = ATTN_LOSS_PPO,
                         .optim = ATTN_OPTIM_ADAM,
                         .lr = 5e-4, .lr_decay = 1, .epsilon = NAN, .max_grad_norm = NAN,
                         .entropy_cost = NAN, .baseline_cost = NAN, .discount = NAN, .gae_lambda = NAN,
                         .reward_clip = NAN,
                         .envs = 32, .unroll = 64, .threads = 0,
                         .frames = 1000000, .checkpoint_every = 100000, .seed = 1,
                         .sticky = -1.0f, .max_episode_steps = -1,
                         .preset = ATTN_PRESET_MINATAR, .frame_skip = 4, .max_pool = 1, .noop_max = -1,
                         .ale_timeout = 20.0};
    const char *preset = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--resume")) {
            o->resume = 1;
            continue;
        }
        if (!strcmp(a, "--lr-decay") || !strcmp(a, "--no-lr-decay")) {
            o->lr_decay = !strcmp(a, "--lr-decay");
            continue;
        }
        int *flag = !strcmp(a, "--full-action-set")      ? &o->full_action_set
                    : !strcmp(a, "--life-loss-terminal") ? &o->life_loss_terminal
                    : !strcmp(a, "--no-advantage-norm")  ? &o->no_advantage_norm
                                                         : NULL;
        if (flag || !strcmp(a, "--no-max-pool")) {
            if (flag) *flag = 1;
            else o->max_pool = 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, PROG ": %s needs a value (or is unknown; see --help)\n", a);
            return 1;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--env")) o->env = v;
        else if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--algo")) { int k = pick(v, ALGOS, 3, a); bad = k < 0; o->algo = (attn_loss_kind)(k < 0 ? 0 : k); }
        else if (!strcmp(a, "--optim")) { int k = pick(v, OPTIMS, 4, a); bad = k < 0; o->optim = (attn_optim_kind)(k < 0 ? 0 : k); }
        else if (!strcmp(a, "--out")) o->out = v;
        else if ((bad = numeric(o, a, v)) < 0) {
            fprintf(stderr, PROG ": unknown option %s (see --help)\n", a);
            return 1;
        }
        if (bad) return 1;
    }
    if (!strncmp(o->env, "minatar:", 8)) {
        o->game = o->env + 8;
        if (preset && strcmp(preset, "minatar")) {
            fprintf(stderr, PROG ": the built-in games use --preset minatar\n");
            return 1;
        }
        o->preset = ATTN_PRESET_MINATAR;
        if (o->max_episode_steps < 0) o->max_episode_steps = 10000;
    } else if (!strncmp(o->env, "ale:", 4) && o->env[4]) {
        o->ale = 1;
        o->game = o->env + 4;
        /* atari84 by default: the full 210x160 preset costs about three times as much per frame. */
        if (!preset || !strcmp(preset, "atari84")) o->preset = ATTN_PRESET_ATARI84;
        else if (!strcmp(preset, "atari")) o->preset = ATTN_PRESET_ATARI;
        else {
            fprintf(stderr, PROG ": ale: games use --preset atari84 (default) or atari, not \"%s\"\n", preset);
            return 1;
        }
        if (o->sticky < 0) o->sticky = 0.25f;
        if (o->noop_max < 0) o->noop_max = o->sticky > 0 ? 0 : 30;
        if (o->max_episode_steps < 0) o->max_episode_steps = 27000;
        /* Rewards are clipped to [-1, 1] for the loss (the reported scores stay raw), as in IMPALA's Atari setup. */
        if (isnan(o->reward_clip)) o->reward_clip = 1.0;
    } else {
        fprintf(stderr, PROG ": --env must be minatar:GAME or ale:GAME, not \"%s\"\n", o->env);
        return 1;
    }
    /* What the library would refuse only once the games, the model and the rollout were built: checked here,
     * before anything is. */
    if ((int64_t)o->envs * o->unroll > INT_MAX) {
        fprintf(stderr, PROG ": --envs %d × --unroll %d: %lld samples per update, over the %d a rollout holds\n",
                o->envs, o->unroll, (long long)o->envs * o->unroll, INT_MAX);
        return 1;
    }
    if (o->algo == ATTN_LOSS_PPO) {
        attn_loss_config lc;
        attn_loss_config_init(&lc, o->algo);
        const int minibatches = o->ppo_minibatches ? o->ppo_minibatches : lc.ppo_minibatches;
        if (o->envs % minibatches) {
            fprintf(stderr, PROG ": --ppo-minibatches %d must divide --envs %d\n", minibatches, o->envs);
            return 1;
        }
    }
    if (!o->out) {
        snprintf(out_default, sizeof out_default, o->ale ? "runs/ale_%s" : "runs/%s", o->game);
        o->out = out_default;
    }
    return 0;
}

attn_status train_options_apply(const train_options *o, attn_optimizer *opt, attn_loss_config *lc)
{
    attn_status st = attn_loss_config_init(lc, o->algo);
    if (!isnan(o->entropy_cost)) lc->entropy_cost = (float)o->entropy_cost;
    if (!isnan(o->baseline_cost)) lc->baseline_cost = (float)o->baseline_cost;
    if (!isnan(o->discount)) lc->discount = (float)o->discount;
    if (!isnan(o->gae_lambda)) lc->gae_lambda = (float)o->gae_lambda;
    if (!isnan(o->reward_clip)) lc->reward_clip = (float)o->reward_clip;
    if (o->ppo_epochs) lc->ppo_epochs = o->ppo_epochs;
    if (o->ppo_minibatches) lc->ppo_minibatches = o->ppo_minibatches;
    if (o->no_advantage_norm) lc->normalize_advantages = 0;
    if (!st && !isnan(o->lr)) st = attn_optimizer_set(opt, ATTN_OPT_LR, o->lr);
    if (!st && !isnan(o->epsilon)) st = attn_optimizer_set(opt, ATTN_OPT_EPSILON, o->epsilon);
    if (!st && !isnan(o->max_grad_norm)) st = attn_optimizer_set(opt, ATTN_OPT_MAX_GRAD_NORM, o->max_grad_norm);
    if (!st) st = train_options_apply_schedule(o, lc, opt);
    return st;
}

attn_status train_options_apply_schedule(const train_options *o, const attn_loss_config *lc, attn_optimizer *opt)
{
    if (!o->lr_decay) return attn_optimizer_set(opt, ATTN_OPT_LR_DECAY_STEPS, 0.0);
    /* Updates in the whole run: every update consumes envs × unroll frames (PPO: epochs × minibatches steps). */
    double steps = ceil((double)o->frames / ((double)o->envs * o->unroll));
    if (o->algo == ATTN_LOSS_PPO) steps *= (double)lc->ppo_epochs * lc->ppo_minibatches;
    return attn_optimizer_set(opt, ATTN_OPT_LR_DECAY_STEPS, steps);
}
