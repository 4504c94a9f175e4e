/* Element-wise nonlinearities shared by every layer. */
#ifndef ATTN_ACTIVATIONS_H
#define ATTN_ACTIVATIONS_H

#include <stddef.h>

float sigmoidf(float x);

/* x = max(x, 0) in place over n floats. */
void relu_forward(float *x, size_t n);
/* dx *= (y > 0), where y is the ReLU output: the gradient passes only where the unit was active. */
void relu_backward(float *dx, const float *y, size_t n);

#endif
