/* Which vector code this CPU runs, decided at run time. The library is built for the baseline x86-64 (SSE2)
 * so that one binary runs anywhere; hot loops are compiled a second time for AVX2 (element-wise loops: eight
 * floats per instruction instead of four) or written for AVX2 + FMA (conv_direct.c's kernels), and used when
 * the CPU has them.
 *
 * The element-wise copies perform the same IEEE operations in the same order as the baseline (ISO C mode keeps
 * GCC from contracting into FMA, and AVX2 alone has none), so choosing them changes no bit. The FMA kernels
 * round differently from the BLAS path they replace: results are bitwise repeatable on one kind of machine.
 *
 * Setting the environment variable ATTN_PORTABLE=1 (read once per process) turns all of it off, for
 * comparing against the portable paths or running them on a machine that has AVX2; the test suite does. */
#ifndef ATTN_CPU_DISPATCH_H
#define ATTN_CPU_DISPATCH_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_AVX2_TARGET __attribute__((target("avx2")))
#else
#define CPU_AVX2_TARGET
#endif

/* Non-zero when AVX2 code may run: the CPU has it and ATTN_PORTABLE is not set. */
int cpu_use_avx2(void);
/* The same for AVX2 together with FMA. */
int cpu_use_avx2_fma(void);

#endif
