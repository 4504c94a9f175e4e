/* sgemm-bench: the machine's single-precision GEMM rate through the CBLAS libattnagent links, at a given shape
 * and thread count, as one JSON line. The comparison (compare.sh) runs it at the shape of the atari preset's
 * largest GEMM, the ConvLSTM gate convolution: M = B·27·20 output cells, N = 4·128 gates, K = 9·(64+128).
 *
 *   sgemm-bench [--m M] [--n N] [--k K] [--threads T] [--seconds S]
 *
 * With T threads it reports the better of two ways to use them: one GEMM on T OpenBLAS threads, and T
 * single-threaded GEMMs of M/T rows each on T threads of its own (what libattnagent does). */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int num_threads);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    int m, n, k, reps;
    const float *a, *b;
    float *c;
} job;

static void *run(void *arg)
{
    const job *j = arg;
    for (int r = 0; r < j->reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->m, j->n, j->k, 1.0f, j->a, j->k, j->b, j->k, 0.0f,
                    j->c, j->n);
    return NULL;
}

/* GFLOP/s of `reps` GEMMs split row-wise over `split` threads (each a single-threaded GEMM), or one GEMM on
 * OpenBLAS's own threads when split == 1. */
static double rate(int M, int N, int K, int split, int reps, const float *a, const float *b, float *c)
{
    pthread_t th[64];
    job jobs[64];
    double t0 = now();
    for (int s = 0; s < split; s++) {
        int r0 = (int)((long)M * s / split), r1 = (int)((long)M * (s + 1) / split);
        jobs[s] = (job){r1 - r0, N, K, reps, a + (long)r0 * K, b, c + (long)r0 * N};
        if (s) pthread_create(&th[s], NULL, run, &jobs[s]);
    }
    run(&jobs[0]);
    for (int s = 1; s < split; s++) pthread_join(th[s], NULL);
    return 2.0 * M * N * K * reps / (now() - t0) / 1e9;
}

int main(int argc, char **argv)
{
    int M = 2160, N = 512, K = 1728, threads = 1;
    double seconds = 2.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--m")) M = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) K = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: sgemm-bench [--m M] [--n N] [--k K] [--threads T] [--seconds S]\n");
            return 2;
        }
    }
    if (M < 1 || N < 1 || K < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "sgemm-bench: sizes must be positive and threads in 1..64\n");
        return 2;
    }
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)N * K),
          *c = malloc(sizeof(float) * (size_t)M * N);
    if (!a || !b || !c) return 1;
    for (long i = 0; i < (long)M * K; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f;
    for (long i = 0; i < (long)N * K; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f;
    /* Calibrate the repetitions to the time asked for, then take the better of three runs of each way. */
    openblas_set_num_threads(1);
    double one = rate(M, N, K, 1, 1, a, b, c);
    int reps = (int)(seconds / 6.0 * one * 1e9 / (2.0 * M * N * K) * threads) + 1;
    double blas_threads = 0.0, split = 0.0;
    for (int r = 0; r < 3; r++) {
        openblas_set_num_threads(threads);
        double x = rate(M, N, K, 1, reps, a, b, c);
        blas_threads = x > blas_threads ? x : blas_threads;
        openblas_set_num_threads(1);
        x = rate(M, N, K, threads, reps, a, b, c);
        split = x > split ? x : split;
    }
    printf("{\"m\": %d, \"n\": %d, \"k\": %d, \"threads\": %d, \"gflops_blas_threads\": %.2f, "
           "\"gflops_split\": %.2f, \"gflops\": %.2f}\n",
           M, N, K, threads, blas_threads, split, blas_threads > split ? blas_threads : split);
    free(a), free(b), free(c);
    return 0;
}
