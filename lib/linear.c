#include "linear.h"

#include <string.h>

#include "gemm.h"

void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out, int accumulate)
{
    float beta = 0.0f;
    if (accumulate) {
        beta = 1.0f;
    } else if (b) {
        for (int r = 0; r < B; r++) memcpy(y + (long)r * out, b, sizeof(float) * (size_t)out);
        beta = 1.0f;
    }
    gemm(0, 1, B, out, in, 1.0f, x, in, w, in, beta, y, out);
}

void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B, int in,
                     int out, int accumulate_dx)
{
    gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        for (int r = 0; r < B; r++)
            for (int o = 0; o < out; o++) db[o] += dy[(long)r * out + o];
    if (dx) gemm(0, 0, B, in, out, 1.0f, dy, out, w, in, accumulate_dx ? 1.0f : 0.0f, dx, in);
}
