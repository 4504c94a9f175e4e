#include "gemm.h"

#include <cblas.h>

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc)
{
    if (M == 0 || N == 0) return;
    /* A product with a single row or column is a matrix-vector product. sgemv reads the matrix once where
     * sgemm would first copy it into its packed layout: for one environment's MLP and LSTM layers that copy
     * cost more than the multiplication. (K = 0 stays with sgemm: sgemv returns at once without scaling C.) */
    if (M == 1 && !trans_a && K > 0) {
        cblas_sgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, trans_b ? N : K, trans_b ? K : N, alpha, B,
                    ldb, A, 1, beta, C, 1);
        return;
    }
    if (N == 1 && !trans_a && trans_b && K > 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, A, lda, B, 1, beta, C, ldc);
        return;
    }
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
