/* attn-train's side of a job of several processes (docs/distributed.md): each rank's options, the checkpoint of
 * every rank's actor state, and the checks that keep the replicas one agent. With one process every function
 * here does what attn-train always did. */
#ifndef DISTRIBUTED_TRAIN_H
#define DISTRIBUTED_TRAIN_H

#include "attnagent/attnagent.h"
#include "distributed.h"
#include "train_options.h"

/* This rank's copy of the options: its own rollout and emulator seed (rank 0 keeps --seed, so one rank is the
 * single-process run), its share of --frames (which counts every rank's frames), and its share of the machine's
 * CPUs when --threads / --ale-procs are left to the default and several ranks share a machine. The model's seed
 * stays --seed everywhere: every replica starts from the same weights. */
train_options train_ranks_options(const distributed *d, const train_options *o);

/* Saves one consistent checkpoint of the whole job at `path` (DIR/checkpoint.safetensors), written by rank 0
 * alone: every other rank's actor state first, sent to rank 0 and written as DIR/ranks/u<steps>.rank<r>.safetensors,
 * then the main file (rank 0's state, the model and the optimizer, `keys`/`values` and the rank count) that
 * names them; older rank files are removed only after it is in place, so a kill at any moment leaves the last
 * complete set. Collective; every rank gets the same status. Refused (ATTN_ERR_STATE) if the replicas' weights
 * differ. */
attn_status train_ranks_save(distributed *d, const char *dir, const char *path, const attn_model *model,
                             const attn_optimizer *opt, const attn_rollout *rollout, const attn_env *env,
                             const char *const *keys, const char *const *values, int n);

/* Resumes every rank from the set train_ranks_save wrote. A checkpoint written by another number of ranks is
 * refused with a message. Collective; returns 0, or 1 on every rank after printing what went wrong. */
int train_ranks_load(distributed *d, const char *dir, const char *path, attn_model *model, attn_optimizer *opt,
                     attn_rollout *rollout, const attn_env *env);

/* 1 if every rank's parameters are bitwise the same; else prints which differ and returns 0. Collective. */
int train_ranks_same_weights(distributed *d, const attn_model *model);

/* For a rank that stops because another failed: says so (that rank printed why) and returns 1. */
int train_ranks_peer_failed(const distributed *d, const char *what);

/* At the end, on rank 0's stdout: the gradient reductions' count and time. Nothing with one rank. */
void train_ranks_report(const distributed *d);

#endif
