/* Spatial basis and attention: N queries each take a softmax over the P grid cells of the keys and read the
 * values with it. Keys K' = [O[:, :c_k], S] and values V' = [O[:, c_k:], S], where O [P][L] is the ConvLSTM
 * output of one environment and S [P][c_s] the fixed spatial basis; neither concatenation is materialised. */
#ifndef ATTN_ATTENTION_H
#define ATTN_ATTENTION_H

typedef struct attn_shape {
    int B;      /* environments */
    int P;      /* grid cells h·w */
    int L;      /* ConvLSTM channels: keys are the first ck, values the other L - ck */
    int ck, cs; /* key and basis channels */
    int N;      /* queries */
} attn_shape;

/* S [h·w][U·V]: S[y][x][(u−1)·V + (v−1)] = cos(π·u·(y+1)/h) · cos(π·v·(x+1)/w). */
void spatial_basis(float *S, int h, int w, int U, int V);

/* For each environment b: maps [B][N][P] = softmax over cells of K'·Qᵀ, ans [B][N][c_v + c_s] = maps · V'.
 * O is [B][P][L], Q is [B][N][c_k + c_s]. */
void attention_forward(float *maps, float *ans, const float *O, const float *S, const float *Q, const attn_shape *s);

/* Given dans [B][N][c_v + c_s]: dQ [B][N][c_k + c_s] is written, dO [B][P][L] is added to. `scratch` holds
 * N·P floats. */
void attention_backward(float *dQ, float *dO, float *scratch, const float *dans, const float *maps, const float *O,
                        const float *S, const float *Q, const attn_shape *s);

#endif
