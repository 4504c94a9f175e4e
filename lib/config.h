/* The configuration object and the network dimensions derived from it. */
#ifndef ATTN_CONFIG_H
#define ATTN_CONFIG_H

#include "attnagent/attnagent.h"

struct attn_config {
    int obs_h, obs_w, obs_c, obs_type, num_actions;
    int conv_layers;
    int conv_out[ATTN_MAX_CONV_LAYERS], conv_k[ATTN_MAX_CONV_LAYERS];
    int conv_stride[ATTN_MAX_CONV_LAYERS], conv_pad[ATTN_MAX_CONV_LAYERS];
    int lstm_channels, key_channels, basis_u, basis_v, num_queries, core_units;
    int mlp_layers[2];                       /* hidden layer counts, indexed by attn_mlp */
    int mlp_hidden[2][ATTN_MAX_MLP_HIDDEN];  /* hidden widths */
    int threads;
};

/* Sizes every layer works with, computed once from a valid configuration. */
typedef struct dims {
    int H, W, C, A;          /* observation and actions */
    int nconv;
    int cin[ATTN_MAX_CONV_LAYERS], cout[ATTN_MAX_CONV_LAYERS], k[ATTN_MAX_CONV_LAYERS];
    int stride[ATTN_MAX_CONV_LAYERS], pad[ATTN_MAX_CONV_LAYERS];
    int ih[ATTN_MAX_CONV_LAYERS], iw[ATTN_MAX_CONV_LAYERS], oh[ATTN_MAX_CONV_LAYERS], ow[ATTN_MAX_CONV_LAYERS];
    int F;                   /* channels out of the conv stack */
    int gh, gw, P;           /* grid height, width, cells */
    int L, ck, cv, cs, N;    /* ConvLSTM channels, key/value/basis channels, queries */
    int kd, vd;              /* key width c_k + c_s, value width c_v + c_s */
    int U, V;
    int Hp;                  /* policy LSTM units */
    /* MLP layer widths: layer j maps width[j] -> width[j+1]; layers = hidden count + 1. */
    int q_layers, q_width[ATTN_MAX_MLP_HIDDEN + 2];
    int a_layers, a_width[ATTN_MAX_MLP_HIDDEN + 2];
    int a_in;                /* N·vd + N·kd + 1 + A, the answer MLP's input */
} dims;

/* Bytes of one observation element of an attn_obs_type. */
static inline size_t obs_elem_size(int obs_type) { return obs_type == ATTN_OBS_F32 ? sizeof(float) : 1; }

/* The first element of `n` that the observation type forbids (a non-finite float, a binary byte other than 0
 * or 1), or n when there is none. */
size_t obs_first_invalid(const void *obs, int obs_type, size_t n);

/* Fills `d` from `cfg`; fails with a message when the configuration does not fit together. */
attn_status config_dims(const attn_config *cfg, dims *d);

#endif
