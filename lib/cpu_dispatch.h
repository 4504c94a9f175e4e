/* Wider vector code for element-wise loops, chosen at run time. The library is built for the baseline x86-64
 * (SSE2) so that one binary runs anywhere; a loop body compiled a second time with AVX2 enabled does eight
 * floats per instruction instead of four. Both copies perform the same IEEE operations in the same order (ISO C
 * mode keeps GCC from contracting into FMA, and AVX2 alone has none), so which one runs does not change a
 * single bit of the results. */
#ifndef ATTN_CPU_DISPATCH_H
#define ATTN_CPU_DISPATCH_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_AVX2_TARGET __attribute__((target("avx2")))
static inline int cpu_has_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
#define CPU_AVX2_TARGET
static inline int cpu_has_avx2(void) { return 0; }
#endif

#endif
