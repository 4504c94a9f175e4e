/* The processes one attn-train job runs as (docs/distributed.md): on MPI when the build found it
 * (distributed_mpi.c), else a single process (distributed_single.c), chosen by meson's `mpi` option. The
 * library itself stays free of MPI: it only sees the reduction callback that distributed_attach sets.
 *
 * Every call below except distributed_rank_* is collective: all processes make it, in the same order. A call
 * that waits longer than $ATTN_MPI_TIMEOUT seconds (default 600) for the others ends this process with a
 * message (exit status 3), so that a lost peer cannot hang the job forever when the launcher does not notice. */
#ifndef DISTRIBUTED_H
#define DISTRIBUTED_H

#include <stddef.h>
#include <stdint.h>

#include "attnagent/attnagent.h"

typedef struct distributed {
    int rank, size;       /* this process among `size`; rank 0 writes every file */
    int local_size;       /* processes of the job on this machine (they share its CPUs) */
    int64_t reductions;   /* gradient reductions made so far, and the seconds spent in them */
    double reduce_seconds;
    double wait_seconds;  /* seconds inside every collective so far (the gradient reductions' included): this
                           * rank's waiting for the others, and the messages' time; 0 with one process */
} distributed;

/* Starts the job's communication (MPI_Init) and, on ranks other than 0, sends stdout to /dev/null, so the
 * progress lines are printed once; stderr stays, so every rank's errors are seen. Returns 0, or -1 with a
 * message on stderr. A process that returns from main without distributed_finalize (an error path) takes the
 * whole job down (MPI_Abort) rather than leaving the others waiting. */
int distributed_init(distributed *d, int *argc, char ***argv);
void distributed_finalize(distributed *d);

/* Sets the learner's reduction (attn_learner_set_reduce) to a sum over all processes; nothing with one. */
attn_status distributed_attach(distributed *d, attn_learner *learner);

/* The bitwise OR of every process's `bits`: how all processes agree on stopping. */
int distributed_or(distributed *d, int bits);
int64_t distributed_sum_i64(distributed *d, int64_t value);

/* Rank 0 gets every process's `n` floats, rank order, in `all` (cap floats; the rest are dropped) and their
 * total count as the result; the other ranks get 0. */
int distributed_gather_floats(distributed *d, const float *mine, int n, float *all, int cap);

/* 1 if every process passed the same value (e.g. a hash of the parameters), else 0. */
int distributed_all_equal(distributed *d, uint64_t value);

/* Point to point, for rank 0 to collect and hand out the other ranks' checkpoint files. A send of NULL with
 * n = 0 tells the receiver there is nothing (it gets *bytes NULL and returns 0 with *n 0). recv allocates
 * *bytes (free it). Return 0, or -1. */
int distributed_send_bytes(distributed *d, int to, const void *bytes, size_t n);
int distributed_recv_bytes(distributed *d, int from, void **bytes, size_t *n);

#endif
