#include "threads.h"

#include <stdlib.h>
#include <unistd.h>

#ifdef ATTN_HAVE_OPENBLAS
void openblas_set_num_threads(int num_threads);
#endif

int threads_resolve(int requested)
{
    if (requested > 0) return requested;
    const char *env = getenv("ATTN_NUM_THREADS");
    if (env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*env && !*end && n > 0 && n <= 1024) return (int)n;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (int)cpus : 1;
}

void threads_apply(int n)
{
#ifdef ATTN_HAVE_OPENBLAS
    openblas_set_num_threads(n);
#else
    (void)n;
#endif
}
