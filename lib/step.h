/* Pieces of one step that the forward and the backward pass both need. */
#ifndef ATTN_STEP_H
#define ATTN_STEP_H

#include "attention.h"
#include "conv.h"
#include "model.h"

/* The conv_shape of conv layer i, or of the ConvLSTM's gate convolution when i == nconv, for B images. */
conv_shape layer_shape(const dims *d, int i, int B);

/* xin [B·P][F+L] = [f, h_prev] per grid cell: the ConvLSTM's input. */
void convlstm_concat(float *xin, const float *f, const float *h_prev, const dims *d, int B);

attn_shape attention_shape(const dims *d, int B);

#endif
