#include "train_options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    fprintf(stderr, "attn-train: %s: unknown value \"%s\"\n", option, value);
    return -1;
}

static int number(const char *value, double *out, const char *option)
{
    char *end;
    *out = strtod(value, &end);
    if (!*value || *end || !isfinite(*out)) {
        fprintf(stderr, "attn-train: %s needs a number, not \"%s\"\n", option, value);
        return -1;
    }
    return 0;
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
            fprintf(stderr, "attn-train: %s needs a value (or is unknown; see --help)\n", a);
            return 1;
        }
        const char *v = argv[++i];
        double x = 0;
        int bad = 0;
        if (!strcmp(a, "--env")) o->env = v;
        else if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--algo")) { int k = pick(v, ALGOS, 3, a); bad = k < 0; o->algo = (attn_loss_kind)(k < 0 ? 0 : k); }
        else if (!strcmp(a, "--optim")) { int k = pick(v, OPTIMS, 4, a); bad = k < 0; o->optim = (attn_optim_kind)(k < 0 ? 0 : k); }
        else if (!strcmp(a, "--out")) o->out = v;
        else if ((bad = number(v, &x, a))) ;
        else if (!strcmp(a, "--lr")) o->lr = x;
        else if (!strcmp(a, "--epsilon")) o->epsilon = x;
        else if (!strcmp(a, "--max-grad-norm")) o->max_grad_norm = x;
        else if (!strcmp(a, "--entropy-cost")) o->entropy_cost = x;
        else if (!strcmp(a, "--baseline-cost")) o->baseline_cost = x;
        else if (!strcmp(a, "--discount")) o->discount = x;
        else if (!strcmp(a, "--lambda")) o->gae_lambda = x;
        else if (!strcmp(a, "--reward-clip")) o->reward_clip = x;
        else if (!strcmp(a, "--ppo-epochs")) o->ppo_epochs = (int)x;
        else if (!strcmp(a, "--ppo-minibatches")) o->ppo_minibatches = (int)x;
        else if (!strcmp(a, "--envs")) o->envs = (int)x;
        else if (!strcmp(a, "--unroll")) o->unroll = (int)x;
        else if (!strcmp(a, "--frames")) o->frames = (int64_t)x;
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)x;
        else if (!strcmp(a, "--threads")) o->threads = (int)x;
        else if (!strcmp(a, "--sticky")) o->sticky = (float)x;
        else if (!strcmp(a, "--max-episode-steps")) o->max_episode_steps = (int)x;
        else if (!strcmp(a, "--checkpoint-every")) o->checkpoint_every = (int64_t)x;
        else if (!strcmp(a, "--frame-skip")) o->frame_skip = (int)x;
        else if (!strcmp(a, "--noop-max")) o->noop_max = (int)x;
        else if (!strcmp(a, "--ale-procs")) o->ale_procs = (int)x;
        else if (!strcmp(a, "--ale-timeout")) o->ale_timeout = x;
        else {
            fprintf(stderr, "attn-train: unknown option %s (see --help)\n", a);
            return 1;
        }
        if (bad) return 1;
    }
    if (!strncmp(o->env, "minatar:", 8)) {
        o->game = o->env + 8;
        if (preset && strcmp(preset, "minatar")) {
            fprintf(stderr, "attn-train: the built-in games use --preset minatar\n");
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
            fprintf(stderr, "attn-train: ale: games use --preset atari84 (default) or atari, not \"%s\"\n", preset);
            return 1;
        }
        if (o->sticky < 0) o->sticky = 0.25f;
        if (o->noop_max < 0) o->noop_max = o->sticky > 0 ? 0 : 30;
        if (o->max_episode_steps < 0) o->max_episode_steps = 27000;
        /* Rewards are clipped to [-1, 1] for the loss (the reported scores stay raw), as in IMPALA's Atari setup. */
        if (isnan(o->reward_clip)) o->reward_clip = 1.0;
        if (o->frame_skip < 1 || o->frame_skip > 64 || o->sticky > 1 || o->ale_procs < 0 || !(o->ale_timeout > 0) ||
            o->noop_max > 100000 || o->max_episode_steps > 10000000) {
            fprintf(stderr, "attn-train: --frame-skip must be 1..64, --sticky at most 1, --ale-procs >= 0, "
                            "--ale-timeout positive, --noop-max at most 100000, --max-episode-steps at most 1e7\n");
            return 1;
        }
    } else {
        fprintf(stderr, "attn-train: --env must be minatar:GAME or ale:GAME, not \"%s\"\n", o->env);
        return 1;
    }
    if (o->envs < 1 || o->unroll < 1 || o->frames < 1 || o->checkpoint_every < 1 || o->threads < 0) {
        fprintf(stderr, "attn-train: --envs, --unroll, --frames and --checkpoint-every must be positive\n");
        return 1;
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
