/* distributed.h on MPI (Open MPI or MPICH): every process of `mpirun -np N attn-train ...` is one rank of
 * MPI_COMM_WORLD. Only the main thread calls MPI (the library's worker threads never do): MPI_THREAD_FUNNELED. */
#include "distributed.h"

#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Larger messages go in pieces: MPI counts are ints. */
#define CHUNK (1 << 30)
#define TAG_BYTES 17

static int started, finished;
static unsigned timeout_seconds = 600;
static char timeout_message[160];
static size_t timeout_message_len;

/* A collective that has waited this long will not complete: a peer died without the launcher noticing, or is
 * stuck. Only async-signal-safe calls here; the exit makes the launcher end the job. */
static void on_timeout(int sig)
{
    (void)sig;
    ssize_t ignored = write(STDERR_FILENO, timeout_message, timeout_message_len);
    (void)ignored;
    _exit(3);
}

static void watch(void) { alarm(timeout_seconds); }
static void unwatch(void) { alarm(0); }

/* A rank leaving main by an error path must not leave the others blocked in their next collective. */
static void abort_unfinished(void)
{
    if (started && !finished) MPI_Abort(MPI_COMM_WORLD, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A collective's time, from `start`, into the rank's waiting (attn-train's "t_wait"). */
static void waited(distributed *d, double start) { d->wait_seconds += now() - start; }

int distributed_init(distributed *d, int *argc, char ***argv)
{
    memset(d, 0, sizeof *d);
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "attn-train: MPI_Init_thread failed\n");
        return -1;
    }
    started = 1;
    atexit(abort_unfinished);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);

    const char *t = getenv("ATTN_MPI_TIMEOUT");
    if (t && *t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 1 || v > 1000000) {
            fprintf(stderr, "attn-train: ATTN_MPI_TIMEOUT must be a number of seconds (1..1000000), not \"%s\"\n", t);
            return -1;
        }
        timeout_seconds = (unsigned)v;
    }
    int w = snprintf(timeout_message, sizeof timeout_message,
                     "attn-train: rank %d: no answer from the other ranks for %u s (one died or hangs); stopping "
                     "(ATTN_MPI_TIMEOUT sets the limit)\n", d->rank, timeout_seconds);
    timeout_message_len = w > 0 && (size_t)w < sizeof timeout_message ? (size_t)w : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timeout;
    sigaction(SIGALRM, &sa, NULL);

    if (provided < MPI_THREAD_FUNNELED && d->rank == 0)
        fprintf(stderr, "attn-train: this MPI does not promise MPI_THREAD_FUNNELED; only the main thread calls it\n");
    if (d->rank > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "attn-train: rank %d: cannot silence stdout\n", d->rank);
        return -1;
    }
    return 0;
}

void distributed_finalize(distributed *d)
{
    (void)d;
    if (!started || finished) return;
    fflush(stdout);
    watch();
    MPI_Finalize();
    unwatch();
    finished = 1;
}

/* The library's reduction callback: the sum in place over MPI_COMM_WORLD. MPI_Allreduce gives every rank the
 * same bits in Open MPI and MPICH (each element is reduced once and the result distributed, or reduced in the
 * same pairwise order everywhere); the replicas test and the hash check at every checkpoint hold them to it. */
static int allreduce_sum(void *payload, attn_reduce_type type, void *data, size_t count)
{
    distributed *d = payload;
    const MPI_Datatype t = type == ATTN_REDUCE_FLOAT32 ? MPI_FLOAT : MPI_DOUBLE;
    const size_t elem = type == ATTN_REDUCE_FLOAT32 ? sizeof(float) : sizeof(double);
    const double start = now();
    int rc = MPI_SUCCESS;
    watch();
    for (size_t done = 0; rc == MPI_SUCCESS && done < count;) {
        const size_t n = count - done < (size_t)INT_MAX ? count - done : (size_t)INT_MAX;
        rc = MPI_Allreduce(MPI_IN_PLACE, (char *)data + done * elem, (int)n, t, MPI_SUM, MPI_COMM_WORLD);
        done += n;
    }
    unwatch();
    if (type == ATTN_REDUCE_FLOAT32) {
        d->reductions++;
        d->reduce_seconds += now() - start;
    }
    waited(d, start);
    return rc == MPI_SUCCESS ? 0 : 1;
}

attn_status distributed_attach(distributed *d, attn_learner *learner)
{
    /* One rank reduces nothing: the library's single-process path, bit for bit. */
    if (d->size == 1) return ATTN_OK;
    return attn_learner_set_reduce(learner, allreduce_sum, d);
}

int distributed_or(distributed *d, int bits)
{
    const double start = now();
    int all = bits;
    watch();
    MPI_Allreduce(&bits, &all, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
    unwatch();
    waited(d, start);
    return all;
}

int64_t distributed_sum_i64(distributed *d, int64_t value)
{
    const double start = now();
    int64_t all = value;
    watch();
    MPI_Allreduce(&value, &all, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    unwatch();
    waited(d, start);
    return all;
}

int distributed_gather_floats(distributed *d, const float *mine, int n, float *all, int cap)
{
    const double start = now();
    int *counts = NULL, *offsets = NULL, total = 0;
    if (d->rank == 0) {
        counts = calloc((size_t)d->size, sizeof *counts);
        offsets = calloc((size_t)d->size, sizeof *offsets);
        if (!counts || !offsets) MPI_Abort(MPI_COMM_WORLD, 1); /* a few ints per rank */
    }
    watch();
    MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (d->rank == 0) {
        /* Whatever does not fit in `cap` is dropped, rank by rank from the end. */
        for (int r = 0; r < d->size; r++) {
            offsets[r] = total;
            if (counts[r] > cap - total) counts[r] = cap - total;
            total += counts[r];
        }
    }
    /* Every rank sends what rank 0 kept of it: rank 0 tells each its count. */
    int keep = n;
    MPI_Scatter(counts, 1, MPI_INT, &keep, 1, MPI_INT, 0, MPI_COMM_WORLD);
    /* Rank 0's own floats may already sit at the start of `all` (offset 0), in place. */
    const void *send = d->rank == 0 && (const float *)all == mine ? MPI_IN_PLACE : (const void *)mine;
    MPI_Gatherv(send, keep, MPI_FLOAT, all, counts, offsets, MPI_FLOAT, 0, MPI_COMM_WORLD);
    unwatch();
    free(counts);
    free(offsets);
    waited(d, start);
    return d->rank == 0 ? total : 0;
}

int distributed_all_equal(distributed *d, uint64_t value)
{
    const double start = now();
    uint64_t lo = value, hi = value;
    watch();
    MPI_Allreduce(&value, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&value, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    unwatch();
    waited(d, start);
    return lo == hi;
}

int distributed_send_bytes(distributed *d, int to, const void *bytes, size_t n)
{
    (void)d;
    uint64_t size = n;
    int rc;
    watch();
    rc = MPI_Send(&size, 1, MPI_UINT64_T, to, TAG_BYTES, MPI_COMM_WORLD);
    for (size_t done = 0; rc == MPI_SUCCESS && done < n;) {
        const size_t k = n - done < CHUNK ? n - done : CHUNK;
        rc = MPI_Send((const char *)bytes + done, (int)k, MPI_BYTE, to, TAG_BYTES, MPI_COMM_WORLD);
        done += k;
    }
    unwatch();
    return rc == MPI_SUCCESS ? 0 : -1;
}

int distributed_recv_bytes(distributed *d, int from, void **bytes, size_t *n)
{
    (void)d;
    uint64_t size = 0;
    *bytes = NULL;
    *n = 0;
    watch();
    int rc = MPI_Recv(&size, 1, MPI_UINT64_T, from, TAG_BYTES, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    char *buf = NULL;
    if (rc == MPI_SUCCESS && size > 0) {
        /* The sender's pieces must still be received, or it blocks: out of memory here ends the job. */
        if (size > SIZE_MAX || !(buf = malloc((size_t)size))) MPI_Abort(MPI_COMM_WORLD, 1);
        for (size_t done = 0; rc == MPI_SUCCESS && done < size;) {
            const size_t k = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
            rc = MPI_Recv(buf + done, (int)k, MPI_BYTE, from, TAG_BYTES, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            done += k;
        }
    }
    unwatch();
    if (rc != MPI_SUCCESS) {
        free(buf);
        return -1;
    }
    *bytes = buf;
    *n = (size_t)size;
    return 0;
}
