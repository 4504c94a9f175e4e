/* Element-wise nonlinearities shared by every layer. */
#ifndef ATTN_ACTIVATIONS_H
#define ATTN_ACTIVATIONS_H

#include <stddef.h>

float sigmoidf(float x);
/* tanh through one expf: glibc's tanhf goes through expm1f, which cost a fifth of a training step. Absolute
 * error below 1e-7 (relative error grows only where tanh itself is below 1e-4). */
float tanh_fast(float x);

/* x = max(x, 0) in place over n floats. */
void relu_forward(float *x, size_t n);
/* dx *= (y > 0), where y is the ReLU output: the gradient passes only where the unit was active. */
void relu_backward(float *dx, const float *y, size_t n);

#endif
