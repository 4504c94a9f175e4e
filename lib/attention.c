#include "attention.h"

#include <math.h>

#include "activations.h"
#include "gemm.h"

void spatial_basis(float *S, int h, int w, int U, int V)
{
    const double pi = 3.14159265358979323846;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int u = 1; u <= U; u++)
                for (int v = 1; v <= V; v++)
                    S[((long)y * w + x) * U * V + (u - 1) * V + (v - 1)] =
                        (float)(cos(pi * u * (y + 1) / h) * cos(pi * v * (x + 1) / w));
}

static void softmax_rows(float *x, int rows, int n)
{
    for (int r = 0; r < rows; r++) {
        float *row = x + (long)r * n;
        float mx = row[0];
        for (int p = 1; p < n; p++) mx = row[p] > mx ? row[p] : mx;
        /* Two loops: the first, free of the sum's serial dependence, vectorises. */
        for (int p = 0; p < n; p++) row[p] = exp_fast(row[p] - mx);
        float sum = 0.0f;
        for (int p = 0; p < n; p++) sum += row[p];
        float inv = 1.0f / sum;
        for (int p = 0; p < n; p++) row[p] *= inv;
    }
}

void attention_forward(float *maps, float *ans, const float *O, const float *S, const float *Q, const attn_shape *s)
{
    const int P = s->P, L = s->L, ck = s->ck, cs = s->cs, N = s->N, cv = L - ck;
    const int kd = ck + cs, vd = cv + cs;
    for (int b = 0; b < s->B; b++) {
        const float *Ob = O + (long)b * P * L, *Qb = Q + (long)b * N * kd;
        float *Mb = maps + (long)b * N * P, *Ab = ans + (long)b * N * vd;
        /* logits [N][P] = Q_keys · O_keysᵀ + Q_basis · Sᵀ */
        gemm(0, 1, N, P, ck, 1.0f, Qb, kd, Ob, L, 0.0f, Mb, P);
        gemm(0, 1, N, P, cs, 1.0f, Qb + ck, kd, S, cs, 1.0f, Mb, P);
        softmax_rows(Mb, N, P);
        /* answers: [maps · O_values, maps · S] */
        gemm(0, 0, N, cv, P, 1.0f, Mb, P, Ob + ck, L, 0.0f, Ab, vd);
        gemm(0, 0, N, cs, P, 1.0f, Mb, P, S, cs, 0.0f, Ab + cv, vd);
    }
}

void attention_backward(float *dQ, float *dO, float *scratch, const float *dans, const float *maps, const float *O,
                        const float *S, const float *Q, const attn_shape *s)
{
    const int P = s->P, L = s->L, ck = s->ck, cs = s->cs, N = s->N, cv = L - ck;
    const int kd = ck + cs, vd = cv + cs;
    for (int b = 0; b < s->B; b++) {
        const float *Ob = O + (long)b * P * L, *Qb = Q + (long)b * N * kd;
        const float *Mb = maps + (long)b * N * P, *dAb = dans + (long)b * N * vd;
        float *dQb = dQ + (long)b * N * kd, *dOb = dO + (long)b * P * L;
        float *dlogit = scratch;
        /* d maps [N][P] = dans_values · O_valuesᵀ + dans_basis · Sᵀ */
        gemm(0, 1, N, P, cv, 1.0f, dAb, vd, Ob + ck, L, 0.0f, dlogit, P);
        gemm(0, 1, N, P, cs, 1.0f, dAb + cv, vd, S, cs, 1.0f, dlogit, P);
        /* softmax: dlogit = maps ⊙ (dmaps − Σ_p maps·dmaps) */
        for (int n = 0; n < N; n++) {
            const float *m = Mb + (long)n * P;
            float *d = dlogit + (long)n * P;
            float dot = 0.0f;
            for (int p = 0; p < P; p++) dot += m[p] * d[p];
            for (int p = 0; p < P; p++) d[p] = m[p] * (d[p] - dot);
        }
        gemm(0, 0, N, ck, P, 1.0f, dlogit, P, Ob, L, 0.0f, dQb, kd);
        gemm(0, 0, N, cs, P, 1.0f, dlogit, P, S, cs, 0.0f, dQb + ck, kd);
        gemm(1, 0, P, ck, N, 1.0f, dlogit, P, Qb, kd, 1.0f, dOb, L);
        gemm(1, 0, P, cv, N, 1.0f, Mb, P, dAb, vd, 1.0f, dOb + ck, L);
    }
}
