/* A fully connected layer over a batch: y [B][out] = x [B][in] · wᵀ + b, w in PyTorch's [out][in] layout. */
#ifndef ATTN_LINEAR_H
#define ATTN_LINEAR_H

/* With `accumulate`, y += x · wᵀ (no bias added), so two inputs can feed one output (the LSTM's W_ih and
 * W_hh). Otherwise y = x · wᵀ + b (b may be NULL for no bias). */
void linear_forward(float *y, const float *x, const float *w, const float *b, int B, int in, int out,
                    int accumulate);

/* dw += dyᵀ · x; db += column sums of dy (when db is not NULL); dx = dy · w, or dx += dy · w with
 * `accumulate_dx` (dx may be NULL when the input needs no gradient). */
void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B, int in,
                     int out, int accumulate_dx);

#endif
