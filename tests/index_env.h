/* A test environment for data-parallel training: what environment i of a process shows and rewards depends only
 * on its global index (the process's base + i), its episode number and its step, never on the library's seed,
 * so with greedy acting P processes of B environments produce exactly the samples one process of P·B does.
 * Float observations in tiny_config's shape (6×5×3), 3 actions, episodes of 2–6 steps that end by termination
 * or, for some, truncation. Shared by test_reduce.c (threads) and mpi_replicas.c (MPI ranks). */
#ifndef INDEX_ENV_H
#define INDEX_ENV_H

#include "attnagent/attnagent.h"

#define INDEX_ENV_MAX 32
#define INDEX_ENV_OBS_FLOATS (6 * 5 * 3)

typedef struct index_env {
    int base; /* global index of this process's environment 0 */
    int t[INDEX_ENV_MAX], episode[INDEX_ENV_MAX];
} index_env;

/* Resets `e` for environments numbered from `base`, and returns its callbacks (ctx = e). */
attn_env index_env_callbacks(index_env *e, int base);

#endif
