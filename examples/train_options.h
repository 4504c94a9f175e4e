/* attn-train's command line: every option, its default, and how it maps onto the library's knobs. */
#ifndef TRAIN_OPTIONS_H
#define TRAIN_OPTIONS_H

#include <stdint.h>

#include "attnagent/attnagent.h"

typedef struct train_options {
    const char *env;        /* "minatar:<game>" or "ale:<game>" */
    const char *game;       /* the part after the colon */
    int ale;                /* 1 for "ale:<game>" (real Atari through ale-py), 0 for the built-in games */
    attn_preset preset;     /* minatar for the built-in games; atari84 (default) or atari for ALE */
    attn_loss_kind algo;
    attn_optim_kind optim;
    double lr, epsilon, max_grad_norm;        /* NAN: the optimizer's default */
    double entropy_cost, baseline_cost, discount, gae_lambda, reward_clip;  /* NAN: the loss's default */
    int no_advantage_norm; /* PPO: 1 turns off per-minibatch advantage normalisation */
    int ppo_epochs, ppo_minibatches;          /* 0: the loss's default */
    int lr_decay;           /* decay the learning rate linearly to 0 over the run */
    int envs, unroll, threads;
    int64_t frames, checkpoint_every;
    uint64_t seed;
    const char *out;
    int resume;
    float sticky;           /* negative: the default (built-in games 0.1, ALE 0.25) */
    int max_episode_steps;  /* agent steps; default 10000 for the built-in games, 27000 (108000 frames) for ALE */
    /* ALE preprocessing (docs/atari.md) */
    int frame_skip;         /* 4 */
    int max_pool;           /* 1: max over the last two frames of each step */
    int noop_max;           /* default 0 with sticky actions, 30 without */
    int full_action_set;    /* 0: the game's minimal set */
    int life_loss_terminal; /* 0 */
    int ale_procs;          /* server processes, 0: one per CPU (at most B) */
    double ale_timeout;     /* seconds before a silent server counts as hung (20) */
} train_options;

/* Fills `o` from argv; prints usage or the problem and returns non-zero on --help or a bad option. */
int train_options_parse(train_options *o, int argc, char **argv);

/* Applies the optimizer knobs to `opt` and fills the loss configuration. */
attn_status train_options_apply(const train_options *o, attn_optimizer *opt, attn_loss_config *lc);

/* Sets the learning-rate schedule for this run's --frames (decay to 0 at the last update, or none). attn-train
 * calls it again after --resume: a run resumed with a larger --frames decays over the new length, not the one
 * stored in the checkpoint (which would leave the rate at 0 from the old end on). */
attn_status train_options_apply_schedule(const train_options *o, const attn_loss_config *lc, attn_optimizer *opt);

const char *train_algo_name(attn_loss_kind algo);

#endif
