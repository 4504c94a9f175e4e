/* distributed.h without MPI: one process, every collective the identity. attn-train then runs exactly as it did
 * before distributed training existed (no reduction is set on the learner). */
#include "distributed.h"

#include <string.h>

int distributed_init(distributed *d, int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    return 0;
}

void distributed_finalize(distributed *d) { (void)d; }

attn_status distributed_attach(distributed *d, attn_learner *learner)
{
    (void)d;
    (void)learner;
    return ATTN_OK;
}

int distributed_or(distributed *d, int bits)
{
    (void)d;
    return bits;
}

int64_t distributed_sum_i64(distributed *d, int64_t value)
{
    (void)d;
    return value;
}

int distributed_gather_floats(distributed *d, const float *mine, int n, float *all, int cap)
{
    (void)d;
    const int k = n < cap ? n : cap;
    if (k > 0 && all != mine) memmove(all, mine, (size_t)k * sizeof *all);
    return k;
}

int distributed_all_equal(distributed *d, uint64_t value)
{
    (void)d;
    (void)value;
    return 1;
}

/* Never called with one process: there is no other rank to talk to. */
int distributed_send_bytes(distributed *d, int to, const void *bytes, size_t n)
{
    (void)d;
    (void)to;
    (void)bytes;
    (void)n;
    return -1;
}

int distributed_recv_bytes(distributed *d, int from, void **bytes, size_t *n)
{
    (void)d;
    (void)from;
    *bytes = NULL;
    *n = 0;
    return -1;
}
