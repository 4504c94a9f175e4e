/* Pieces of one step that the forward and the backward pass both need. */
#ifndef ATTN_STEP_H
#define ATTN_STEP_H

#include "attention.h"
#include "conv.h"
#include "model.h"

/* The conv_shape of conv layer i, or of the ConvLSTM's gate convolution when i == nconv, for B images. */
conv_shape layer_shape(const dims *d, int i, int B);
/* Floats of that layer's weights ([out][in][k][k]). */
size_t layer_weight_floats(const dims *d, int i);

/* xin [B·P][F+L] = [f, h_prev] per grid cell: the ConvLSTM's input. */
void convlstm_concat(float *xin, const float *f, const float *h_prev, const dims *d, int B);

attn_shape attention_shape(const dims *d, int B);

/* Where each conv layer (i < nconv) and the ConvLSTM (i == nconv) keeps its weight-gradient accumulator in a
 * thread's share of attn_state.wgrad_packed: at[i] floats in, or −1 for a layer whose weight gradient is
 * unfolded instead (conv_wgrad_choose); *scratch_at: where the share's scratch for them starts. Returns the
 * floats one thread needs. */
long wgrad_packed_layout(const dims *d, long at[ATTN_MAX_CONV_LAYERS + 1], long *scratch_at);

#endif
