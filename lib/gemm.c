#include "gemm.h"

#include <cblas.h>

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc)
{
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_reference(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(long)k * lda + i] : A[(long)i * lda + k];
                double b = trans_b ? B[(long)j * ldb + k] : B[(long)k * ldb + j];
                acc += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : beta * (double)*c));
        }
}
