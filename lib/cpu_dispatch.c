#include "cpu_dispatch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { UNKNOWN = -1, NONE = 0, AVX2 = 1, AVX2_FMA = 3 };

/* Computed on first use; threads racing to compute it store the same value. */
static atomic_int level = UNKNOWN;

static int detect(void)
{
    const char *portable = getenv("ATTN_PORTABLE");
    if (portable && *portable && strcmp(portable, "0") != 0) return NONE;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!__builtin_cpu_supports("avx2")) return NONE;
    return __builtin_cpu_supports("fma") ? AVX2_FMA : AVX2;
#else
    return NONE;
#endif
}

static int current(void)
{
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l == UNKNOWN) {
        l = detect();
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}

int cpu_use_avx2(void) { return (current() & AVX2) != 0; }
int cpu_use_avx2_fma(void) { return current() == AVX2_FMA; }
