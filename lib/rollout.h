/* The rollout behind attn_rollout: what the learner replays and what a training checkpoint saves. */
#ifndef ATTN_ROLLOUT_H
#define ATTN_ROLLOUT_H

#include <stdint.h>

#include "attnagent/attnagent.h"
#include "parallel.h"
#include "rng.h"

struct attn_rollout {
    const attn_model *model; /* the model it was created for; collect accepts any of the same configuration */
    int B, T, A;
    size_t obs_elems;        /* H·W·C per environment */
    size_t obs_elem_size;    /* 1 (uint8) or 4 (float32) */
    int obs_type;            /* the model's attn_obs_type, for checking what environments write */
    uint64_t seed;
    attn_state *act;         /* acting state: B environments, no tape */
    pool *workers;

    /* Carried from one collect to the next, per environment [B]. */
    int started;             /* every environment has been reset since creation or the last failure */
    void *cur_obs;           /* [B][obs_elems] the observation to act on next */
    uint8_t *cur_first;      /* it starts an episode */
    int32_t *last_action;    /* the previous action, ATTN_NO_ACTION at an episode start */
    float *last_reward;
    rng *streams;            /* sampling, one per environment */
    uint64_t *episode_count; /* episodes started per environment: seeds the next reset */
    double *ep_return;
    int32_t *ep_length;
    int64_t frames, episodes;

    /* The last unroll, time-major [T][B] (obs [T+1][B][obs_elems]: the last row is the bootstrap's). */
    int valid;               /* a complete unroll is stored */
    void *obs;
    uint8_t *first;
    int32_t *prev_action;
    float *prev_reward;
    int32_t *actions;
    float *rewards;
    uint8_t *terminated, *truncated;
    float *truncation_values;
    float *logits;           /* [T][B][A] behaviour policy */
    float *values;           /* [T][B] */
    float *bootstrap;        /* [B] */
    float *init_state[4];    /* the acting state at the unroll's start, one array per attn_state_part */
    size_t init_size[4];

    /* Finished during the last collect: at most T·B. */
    int finished;
    float *finished_return;
    int32_t *finished_length;

    /* Per-environment step results of the current step, filled by the (possibly parallel) environment jobs. */
    int *env_status;
    char (*env_error)[160];
    int32_t *step_action;
    float *step_reward;
    int *step_term, *step_trunc;

    /* Scratch for computing values without moving the acting state. */
    float *saved_state[4];
    float *scratch_values;   /* [B] */
    float *scratch_logits;   /* [B][A] */
    void *memory;
};

/* The four parts of a recurrent state, in the order rollouts and learners keep their copies of them. */
extern const attn_state_part STATE_PARTS[4];

/* Derives the seed of episode `k` of environment `b`: distinct, well mixed, reproducible. */
uint64_t rollout_episode_seed(uint64_t seed, int b, uint64_t k);

#endif
