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
 * comparing against the portable paths or running them on a machine that has AVX2; the test suite does.
 *
 * On a CPU with AVX-512 the Winograd kernels and the element-wise loops have a third copy working on sixteen
 * floats at a time. Each of them performs, lane by lane, the same operations in the same order as its AVX2 +
 * FMA counterpart (a wider vector holds more independent outputs; no sum is reordered), so AVX-512 and AVX2 +
 * FMA machines compute the same bits (test dispatch_bitwise). ATTN_ISA=avx2 caps a process at AVX2 + FMA,
 * ATTN_ISA=portable is ATTN_PORTABLE=1. */
#ifndef ATTN_CPU_DISPATCH_H
#define ATTN_CPU_DISPATCH_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_AVX2_TARGET __attribute__((target("avx2")))
/* prefer-vector-width: GCC otherwise keeps auto-vectorised loops at 256 bits on these CPUs; clang does not
 * accept it in the attribute (and the fuzz build is clang's). */
#if defined(__clang__)
#define CPU_AVX512_TARGET __attribute__((target("avx512f,avx2,fma")))
#else
#define CPU_AVX512_TARGET __attribute__((target("avx512f,avx2,fma,prefer-vector-width=512")))
#endif
#else
#define CPU_AVX2_TARGET
#define CPU_AVX512_TARGET
#endif

/* On the shared body that each CPU_*_TARGET copy wraps. Without it GCC may keep the body out of line, compiled
 * once for the baseline, and the copies become jumps to that SSE2 code: the LSTM forward's did (its AVX2 and
 * AVX-512 copies were `jmp rows_forward`) until this was added. The body is compiled again inside each copy,
 * with that copy's instructions. */
#if defined(__GNUC__) || defined(__clang__)
#define CPU_INLINE static inline __attribute__((always_inline))
#else
#define CPU_INLINE static inline
#endif

/* Non-zero when AVX2 code may run: the CPU has it and ATTN_PORTABLE is not set. */
int cpu_use_avx2(void);
/* The same for AVX2 together with FMA. */
int cpu_use_avx2_fma(void);
/* The same for AVX-512 (foundation), which here always comes with AVX2 and FMA. */
int cpu_use_avx512(void);
/* "avx512", "avx2+fma", "avx2" or "portable": the copies this process runs (attn_cpu_kernels). */
const char *cpu_kernels_name(void);

#endif
