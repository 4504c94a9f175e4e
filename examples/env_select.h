/* The environment attn-train trains in, chosen by --env: the built-in games (minatar:GAME) or real Atari
 * through the ALE bridge (ale:GAME). One place that knows both, so the trainer's loop does not. */
#ifndef ENV_SELECT_H
#define ENV_SELECT_H

#include "ale_env.h"
#include "attnagent/attnagent.h"
#include "minatar_env.h"
#include "train_options.h"

typedef struct env_select {
    int ale;               /* which of the two below is live */
    minatar_env games;
    ale_env *atari;
    attn_env env;          /* the callbacks to train on */
    int channels, actions; /* what the network must be configured for (the preset gives the frame size) */
    int obs_type;          /* what the observation bytes mean: MINATAR_ENV_OBS_TYPE or ALE_ENV_OBS_TYPE */
} env_select;

/* Creates the environments the options ask for. Returns 0, or -1 with a sentence in `err`. */
int env_select_create(env_select *s, const train_options *o, char *err, size_t err_size);
void env_select_destroy(env_select *s);

/* Sets what the network must know of these environments on `cfg`: channels, actions, and what the observation
 * bytes mean (ATTN_CFG_OBS_TYPE), so a model is never configured for another input convention than its games'. */
attn_status env_select_configure(const env_select *s, attn_config *cfg);

/* Raw scores of the episodes (whole games for ALE, even with --life-loss-terminal) that finished during the
 * last collect: up to `cap` into `scores`; returns how many finished. */
int env_select_scores(env_select *s, const attn_rollout *ro, float *scores, int cap);

#endif
