/* The one matrix-multiply entry point of the library (row-major, CBLAS underneath):
 * C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, where op(X) is X or Xᵀ as trans_a / trans_b say and
 * lda, ldb, ldc are the row strides of A, B, C as stored. */
#ifndef ATTN_GEMM_H
#define ATTN_GEMM_H

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc);

/* The same by three plain loops in double precision: slow and obviously right, for tests. */
void gemm_reference(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);

#endif
