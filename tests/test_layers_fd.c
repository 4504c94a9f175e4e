/* Each layer alone against finite differences: conv, ConvLSTM, spatial basis + attention + softmax, MLP, LSTM,
 * heads. Built against the double-precision build of the library (see test_model_fd.c for why), so the error
 * measure and bound are those of the whole-model test: per input or parameter array, the normalised error
 * ||fd − analytic||₂ / max(||fd||₂, ||analytic||₂) over every entry, bound 1e-6 (h = 1e-5 in double: rounding
 * ~1e-11, truncation ~1e-10; a layer alone has few ReLUs, so no kink comes within h). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "activations.h"
#include "attention.h"
#include "conv.h"
#include "linear.h"
#include "lstm_cell.h"
#include "test_util.h"

#define BOUND 1e-6
#define STEP 1e-5f

static float *rand_array(test_rng *r, size_t n, float scale)
{
    float *x = malloc(sizeof(float) * n);
    fill_uniform(r, x, n, -scale, scale);
    return x;
}

static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void expect_close(loss_fn loss, void *ctx, float *x, const float *analytic, size_t n, const char *what)
{
    double err = gradient_error(loss, ctx, x, analytic, n, n, STEP, 1e-12);
    printf("  %-28s %6zu entries  normalised error %.1e\n", what, n, err);
    assert_true(err <= BOUND);
}

/* ---- conv ---- */

typedef struct conv_case {
    conv_shape s;
    float *in, *w, *b, *out, *cols, *r; /* r: the upstream gradient; loss = Σ r·out */
    float *wp;                          /* w repacked for conv2d_forward */
} conv_case;

static double conv_loss(void *ctx)
{
    conv_case *c = ctx;
    conv_pack_weights(c->wp, c->w, &c->s);
    conv2d_forward(c->out, c->cols, c->in, c->w, c->wp, c->b, &c->s);
    return dot(c->r, c->out, (size_t)conv_rows(&c->s) * c->s.cout);
}

static void test_conv(void **unused)
{
    (void)unused;
    test_rng r = {1};
    /* Stride 2, padding 1 and an even kernel exercise every index path of im2col and its adjoint. */
    conv_case c = {.s = {2, 7, 6, 3, 4, 4, 2, 1, 3, 3}};
    size_t nin = 2 * 7 * 6 * 3, nw = 4 * 3 * 4 * 4, nout = (size_t)conv_rows(&c.s) * 4;
    c.in = rand_array(&r, nin, 1);
    c.w = rand_array(&r, nw, 0.5f);
    c.b = rand_array(&r, 4, 0.5f);
    c.out = zeros(nout);
    c.wp = zeros(nw);
    c.cols = zeros((size_t)(conv_rows(&c.s) * conv_cols(&c.s)));
    c.r = rand_array(&r, nout, 1);
    float *din = zeros(nin), *dw = zeros(nw), *db = zeros(4), *dcols = zeros((size_t)(conv_rows(&c.s) * conv_cols(&c.s)));
    conv_loss(&c);
    conv2d_backward(din, dw, NULL, NULL, db, c.cols, dcols, c.in, c.w, c.r, &c.s);
    expect_close(conv_loss, &c, c.in, din, nin, "conv input");
    expect_close(conv_loss, &c, c.w, dw, nw, "conv weight");
    expect_close(conv_loss, &c, c.b, db, 4, "conv bias");
    free(c.in), free(c.w), free(c.b), free(c.out), free(c.cols), free(c.r), free(c.wp);
    free(din), free(dw), free(db), free(dcols);
}

/* ---- ConvLSTM: the gate convolution over [f, h_prev], then the cell ---- */

typedef struct convlstm_case {
    int B, gh, gw, F, L;
    conv_shape s;
    float *f, *h_prev, *c_prev, *w, *b; /* inputs and parameters */
    float *wp;                          /* w repacked for conv2d_forward */
    float *xin, *cols, *gates, *h, *c;  /* work */
    float *rh, *rc;                     /* loss = Σ rh·h + Σ rc·c */
} convlstm_case;

static void convlstm_forward(convlstm_case *k)
{
    long cells = (long)k->B * k->gh * k->gw;
    for (long p = 0; p < cells; p++) {
        memcpy(k->xin + p * (k->F + k->L), k->f + p * k->F, sizeof(float) * (size_t)k->F);
        memcpy(k->xin + p * (k->F + k->L) + k->F, k->h_prev + p * k->L, sizeof(float) * (size_t)k->L);
    }
    conv_pack_weights(k->wp, k->w, &k->s);
    conv2d_forward(k->gates, k->cols, k->xin, k->w, k->wp, k->b, &k->s);
    lstm_cell_forward(k->h, k->c, k->gates, k->c_prev, (int)cells, k->L);
}

static double convlstm_loss(void *ctx)
{
    convlstm_case *k = ctx;
    convlstm_forward(k);
    size_t n = (size_t)k->B * k->gh * k->gw * k->L;
    return dot(k->rh, k->h, n) + dot(k->rc, k->c, n);
}

static void test_convlstm(void **unused)
{
    (void)unused;
    test_rng r = {2};
    convlstm_case k = {.B = 2, .gh = 4, .gw = 3, .F = 3, .L = 2};
    k.s = (conv_shape){k.B, k.gh, k.gw, k.F + k.L, 4 * k.L, 3, 1, 1, k.gh, k.gw};
    size_t cells = (size_t)k.B * k.gh * k.gw, nv = cells * k.L, nw = (size_t)4 * k.L * (k.F + k.L) * 9;
    k.f = rand_array(&r, cells * k.F, 1);
    k.h_prev = rand_array(&r, nv, 1);
    k.c_prev = rand_array(&r, nv, 1);
    k.w = rand_array(&r, nw, 0.4f);
    k.b = rand_array(&r, 4 * (size_t)k.L, 0.5f);
    k.wp = zeros(nw);
    k.xin = zeros(cells * (k.F + k.L));
    k.cols = zeros(cells * (k.F + k.L) * 9);
    k.gates = zeros(cells * 4 * k.L);
    k.h = zeros(nv);
    k.c = zeros(nv);
    k.rh = rand_array(&r, nv, 1);
    k.rc = rand_array(&r, nv, 1);

    convlstm_forward(&k);
    float *dgates = zeros(cells * 4 * k.L), *dc_prev = zeros(nv), *dxin = zeros(cells * (k.F + k.L));
    float *dcols = zeros(cells * (k.F + k.L) * 9), *dw = zeros(nw), *db = zeros(4 * (size_t)k.L);
    lstm_cell_backward(dgates, dc_prev, k.rh, k.rc, k.gates, k.c, k.c_prev, (int)cells, k.L);
    conv2d_backward(dxin, dw, NULL, NULL, db, k.cols, dcols, k.xin, k.w, dgates, &k.s);
    float *df = zeros(cells * k.F), *dh_prev = zeros(nv);
    for (size_t p = 0; p < cells; p++) {
        memcpy(df + p * k.F, dxin + p * (k.F + k.L), sizeof(float) * (size_t)k.F);
        memcpy(dh_prev + p * k.L, dxin + p * (k.F + k.L) + k.F, sizeof(float) * (size_t)k.L);
    }
    expect_close(convlstm_loss, &k, k.f, df, cells * k.F, "convlstm input f");
    expect_close(convlstm_loss, &k, k.h_prev, dh_prev, nv, "convlstm h_prev");
    expect_close(convlstm_loss, &k, k.c_prev, dc_prev, nv, "convlstm c_prev");
    expect_close(convlstm_loss, &k, k.w, dw, nw, "convlstm weight");
    expect_close(convlstm_loss, &k, k.b, db, 4 * (size_t)k.L, "convlstm bias");
    free(k.f), free(k.h_prev), free(k.c_prev), free(k.w), free(k.wp), free(k.b), free(k.xin), free(k.cols), free(k.gates);
    free(k.h), free(k.c), free(k.rh), free(k.rc), free(dgates), free(dc_prev), free(dxin), free(dcols), free(dw);
    free(db), free(df), free(dh_prev);
}

/* ---- spatial basis + attention + softmax ---- */

typedef struct attention_case {
    attn_shape s;
    float *O, *S, *Q, *maps, *ans, *r; /* loss = Σ r·ans */
} attention_case;

static double attention_loss(void *ctx)
{
    attention_case *a = ctx;
    attention_forward(a->maps, a->ans, a->O, a->S, a->Q, &a->s);
    return dot(a->r, a->ans, (size_t)a->s.B * a->s.N * (a->s.L - a->s.ck + a->s.cs));
}

static void test_attention(void **unused)
{
    (void)unused;
    test_rng r = {3};
    int gh = 3, gw = 4, U = 2, V = 2;
    attention_case a = {.s = {2, gh * gw, 5, 2, U * V, 3}};
    size_t nO = (size_t)a.s.B * a.s.P * a.s.L, kd = (size_t)a.s.ck + a.s.cs, vd = (size_t)a.s.L - a.s.ck + a.s.cs;
    size_t nQ = (size_t)a.s.B * a.s.N * kd, nA = (size_t)a.s.B * a.s.N * vd;
    a.O = rand_array(&r, nO, 1);
    a.S = zeros((size_t)a.s.P * a.s.cs);
    spatial_basis(a.S, gh, gw, U, V);
    a.Q = rand_array(&r, nQ, 1.5f);
    a.maps = zeros((size_t)a.s.B * a.s.N * a.s.P);
    a.ans = zeros(nA);
    a.r = rand_array(&r, nA, 1);
    attention_forward(a.maps, a.ans, a.O, a.S, a.Q, &a.s);
    float *dQ = zeros(nQ), *dO = zeros(nO), *tmp = zeros((size_t)a.s.N * a.s.P);
    attention_backward(dQ, dO, tmp, a.r, a.maps, a.O, a.S, a.Q, &a.s);
    expect_close(attention_loss, &a, a.O, dO, nO, "attention keys+values O");
    expect_close(attention_loss, &a, a.Q, dQ, nQ, "attention queries Q");
    free(a.O), free(a.S), free(a.Q), free(a.maps), free(a.ans), free(a.r), free(dQ), free(dO), free(tmp);
}

/* ---- MLP (linear, ReLU, linear), heads (linear), policy LSTM (two linears + cell) ---- */

typedef struct mlp_case {
    int B, in, hid, out;
    float *x, *w0, *b0, *w1, *b1, *hidden, *y, *r;
} mlp_case;

static double mlp_loss(void *ctx)
{
    mlp_case *m = ctx;
    linear_forward(m->hidden, m->x, m->w0, m->b0, m->B, m->in, m->hid, 0);
    relu_forward(m->hidden, (size_t)m->B * m->hid);
    linear_forward(m->y, m->hidden, m->w1, m->b1, m->B, m->hid, m->out, 0);
    return dot(m->r, m->y, (size_t)m->B * m->out);
}

static void test_mlp_and_heads(void **unused)
{
    (void)unused;
    test_rng r = {4};
    mlp_case m = {.B = 3, .in = 5, .hid = 7, .out = 4};
    m.x = rand_array(&r, 15, 1);
    m.w0 = rand_array(&r, 35, 0.6f);
    m.b0 = rand_array(&r, 7, 0.5f);
    m.w1 = rand_array(&r, 28, 0.6f);
    m.b1 = rand_array(&r, 4, 0.5f);
    m.hidden = zeros(21);
    m.y = zeros(12);
    m.r = rand_array(&r, 12, 1);
    mlp_loss(&m);
    float *dx = zeros(15), *dw0 = zeros(35), *db0 = zeros(7), *dw1 = zeros(28), *db1 = zeros(4), *dh = zeros(21);
    linear_backward(dh, dw1, db1, m.r, m.hidden, m.w1, m.B, m.hid, m.out, 0);
    relu_backward(dh, m.hidden, 21);
    linear_backward(dx, dw0, db0, dh, m.x, m.w0, m.B, m.in, m.hid, 0);
    expect_close(mlp_loss, &m, m.x, dx, 15, "mlp input");
    expect_close(mlp_loss, &m, m.w0, dw0, 35, "mlp layer 0 weight");
    expect_close(mlp_loss, &m, m.b0, db0, 7, "mlp layer 0 bias");
    /* The second layer alone is exactly a head: a linear map of the hidden state. */
    expect_close(mlp_loss, &m, m.w1, dw1, 28, "mlp layer 1 / head weight");
    expect_close(mlp_loss, &m, m.b1, db1, 4, "mlp layer 1 / head bias");
    free(m.x), free(m.w0), free(m.b0), free(m.w1), free(m.b1), free(m.hidden), free(m.y), free(m.r);
    free(dx), free(dw0), free(db0), free(dw1), free(db1), free(dh);
}

typedef struct lstm_case {
    int B, in, n;
    float *z, *h_prev, *c_prev, *wih, *whh, *b, *gates, *h, *c, *rh, *rc;
} lstm_case;

static double lstm_loss(void *ctx)
{
    lstm_case *l = ctx;
    linear_forward(l->gates, l->z, l->wih, l->b, l->B, l->in, 4 * l->n, 0);
    linear_forward(l->gates, l->h_prev, l->whh, NULL, l->B, l->n, 4 * l->n, 1);
    lstm_cell_forward(l->h, l->c, l->gates, l->c_prev, l->B, l->n);
    size_t n = (size_t)l->B * l->n;
    return dot(l->rh, l->h, n) + dot(l->rc, l->c, n);
}

static void test_lstm(void **unused)
{
    (void)unused;
    test_rng r = {5};
    lstm_case l = {.B = 3, .in = 4, .n = 3};
    size_t ns = 9, nih = 48, nhh = 36;
    l.z = rand_array(&r, 12, 1);
    l.h_prev = rand_array(&r, ns, 1);
    l.c_prev = rand_array(&r, ns, 1);
    l.wih = rand_array(&r, nih, 0.7f);
    l.whh = rand_array(&r, nhh, 0.7f);
    l.b = rand_array(&r, 12, 0.5f);
    l.gates = zeros(36);
    l.h = zeros(ns);
    l.c = zeros(ns);
    l.rh = rand_array(&r, ns, 1);
    l.rc = rand_array(&r, ns, 1);
    lstm_loss(&l);
    float *dg = zeros(36), *dc_prev = zeros(ns), *dz = zeros(12), *dh_prev = zeros(ns);
    float *dwih = zeros(nih), *dwhh = zeros(nhh), *db = zeros(12);
    lstm_cell_backward(dg, dc_prev, l.rh, l.rc, l.gates, l.c, l.c_prev, l.B, l.n);
    linear_backward(dz, dwih, db, dg, l.z, l.wih, l.B, l.in, 12, 0);
    linear_backward(dh_prev, dwhh, NULL, dg, l.h_prev, l.whh, l.B, l.n, 12, 0);
    expect_close(lstm_loss, &l, l.z, dz, 12, "lstm input");
    expect_close(lstm_loss, &l, l.h_prev, dh_prev, ns, "lstm h_prev");
    expect_close(lstm_loss, &l, l.c_prev, dc_prev, ns, "lstm c_prev");
    expect_close(lstm_loss, &l, l.wih, dwih, nih, "lstm weight_ih");
    expect_close(lstm_loss, &l, l.whh, dwhh, nhh, "lstm weight_hh");
    expect_close(lstm_loss, &l, l.b, db, 12, "lstm bias");
    free(l.z), free(l.h_prev), free(l.c_prev), free(l.wih), free(l.whh), free(l.b), free(l.gates), free(l.h);
    free(l.c), free(l.rh), free(l.rc), free(dg), free(dc_prev), free(dz), free(dh_prev), free(dwih), free(dwhh);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_convlstm),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_mlp_and_heads),
        cmocka_unit_test(test_lstm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
