/* The element-wise part of an LSTM cell, shared by the ConvLSTM (one cell per grid position) and the policy
 * LSTM (one cell per environment). Gates are rows of 4n values in the order i, f, g, o; the forget gate gets
 * the constant bias +1.0 of the specification, which no parameter stores. */
#ifndef ATTN_LSTM_CELL_H
#define ATTN_LSTM_CELL_H

#define LSTM_FORGET_BIAS 1.0f

/* gates [R][4n]: pre-activations in, activations out (σ(i), σ(f + 1), tanh(g), σ(o)).
 * c = σf·c_prev + σi·tanh g;  h = σo·tanh c. */
void lstm_cell_forward(float *h, float *c, float *gates, const float *c_prev, int R, int n);

/* Given dh [R][n] and dc [R][n] (the gradient reaching c from later steps; NULL for none): writes dgates
 * [R][4n] (gradients of the pre-activations) and dc_prev [R][n]. gates holds the activations of the forward. */
void lstm_cell_backward(float *dgates, float *dc_prev, const float *dh, const float *dc, const float *gates,
                        const float *c, const float *c_prev, int R, int n);

#endif
