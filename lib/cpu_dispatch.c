#include "cpu_dispatch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "attnagent/attnagent.h"

/* Each level includes the ones below it (the bits are cumulative), so a cap is a bitwise AND. */
enum { UNKNOWN = -1, NONE = 0, AVX2 = 1, AVX2_FMA = 3, AVX512 = 7 };

/* Computed on first use; threads racing to compute it store the same value. */
static atomic_int level = UNKNOWN;

static int cpu_level(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!__builtin_cpu_supports("avx2")) return NONE;
    if (!__builtin_cpu_supports("fma")) return AVX2;
    /* libgcc's check includes the operating system's saving of the 512-bit registers (XCR0). */
    return __builtin_cpu_supports("avx512f") ? AVX512 : AVX2_FMA;
#else
    return NONE;
#endif
}

/* The most the environment allows: ATTN_PORTABLE=1 or ATTN_ISA=portable the baseline, ATTN_ISA=avx2 at most
 * AVX2 + FMA; anything else (unset, "avx512", an unknown word) no cap. */
static int allowed(void)
{
    const char *portable = getenv("ATTN_PORTABLE");
    if (portable && *portable && strcmp(portable, "0") != 0) return NONE;
    const char *isa = getenv("ATTN_ISA");
    if (isa && strcmp(isa, "portable") == 0) return NONE;
    if (isa && strcmp(isa, "avx2") == 0) return AVX2_FMA;
    return AVX512;
}

static int current(void)
{
    int l = atomic_load_explicit(&level, memory_order_relaxed);
    if (l == UNKNOWN) {
        l = cpu_level() & allowed();
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}

int cpu_use_avx2(void) { return (current() & AVX2) != 0; }
int cpu_use_avx2_fma(void) { return (current() & AVX2_FMA) == AVX2_FMA; }
int cpu_use_avx512(void) { return current() == AVX512; }

const char *cpu_kernels_name(void)
{
    switch (current()) {
    case AVX512: return "avx512";
    case AVX2_FMA: return "avx2+fma";
    case AVX2: return "avx2";
    default: return "portable";
    }
}

const char *attn_cpu_kernels(void) { return cpu_kernels_name(); }
