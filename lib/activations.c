#include "activations.h"

void relu_forward(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float *dx, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(y[i] > 0.0f)) dx[i] = 0.0f;
}
