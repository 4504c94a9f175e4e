#include "lstm_cell.h"

#include "activations.h"

void lstm_cell_forward(float *h, float *c, float *gates, const float *c_prev, int R, int n)
{
    for (long r = 0; r < R; r++) {
        float *g = gates + r * 4 * n;
        for (int j = 0; j < n; j++) {
            float i_ = sigmoidf(g[j]);
            float f_ = sigmoidf(g[n + j] + LSTM_FORGET_BIAS);
            float g_ = tanh_fast(g[2 * n + j]);
            float o_ = sigmoidf(g[3 * n + j]);
            g[j] = i_;
            g[n + j] = f_;
            g[2 * n + j] = g_;
            g[3 * n + j] = o_;
            float cn = f_ * c_prev[r * n + j] + i_ * g_;
            c[r * n + j] = cn;
            h[r * n + j] = o_ * tanh_fast(cn);
        }
    }
}

void lstm_cell_backward(float *dgates, float *dc_prev, const float *dh, const float *dc, const float *gates,
                        const float *c, const float *c_prev, int R, int n)
{
    for (long r = 0; r < R; r++) {
        const float *g = gates + r * 4 * n;
        float *dg = dgates + r * 4 * n;
        for (int j = 0; j < n; j++) {
            long e = r * n + j;
            float i_ = g[j], f_ = g[n + j], g_ = g[2 * n + j], o_ = g[3 * n + j];
            float tc = tanh_fast(c[e]);
            float dct = dh[e] * o_ * (1.0f - tc * tc) + (dc ? dc[e] : 0.0f);
            dg[j] = dct * g_ * i_ * (1.0f - i_);
            dg[n + j] = dct * c_prev[e] * f_ * (1.0f - f_);
            dg[2 * n + j] = dct * i_ * (1.0f - g_ * g_);
            dg[3 * n + j] = dh[e] * tc * o_ * (1.0f - o_);
            dc_prev[e] = dct * f_;
        }
    }
}
