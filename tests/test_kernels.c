/* Fast kernels against slow, obviously-correct versions written here: GEMM, convolution, the spatial basis,
 * and the softmax's invariants. Float32 build. Bound: max |fast − slow| ≤ 1e-5 · (1 + max |slow|), the float32
 * rounding of sums of a few hundred products. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attention.h"
#include "conv.h"
#include "conv_direct.h"
#include "conv_winograd.h"
#include "gemm.h"
#include "test_util.h"

static double max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

static void assert_close_arrays(const float *fast, const float *slow, size_t n, const char *what)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)fast[i] - slow[i]));
    double bound = 1e-5 * (1.0 + max_abs(slow, n));
    printf("  %-34s max error %.2e (bound %.2e)\n", what, worst, bound);
    assert_true(worst <= bound);
}

static void test_gemm_matches_reference(void **unused)
{
    (void)unused;
    test_rng r = {21};
    /* A general shape, then a single row and a single column, which gemm hands to matrix-vector code. */
    /* (K = 0: C becomes beta·C, which sgemv's early return would skip, so those stay with sgemm.) */
    const int shapes[][3] = {{13, 7, 29}, {1, 7, 29}, {13, 1, 29}, {1, 1, 29}, {1, 7, 0}, {13, 1, 0}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++) {
                const int M = shapes[sh][0], N = shapes[sh][1], K = shapes[sh][2];
                /* Row strides larger than the rows, as when a GEMM reads a slice of a wider buffer. */
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
                float *A = malloc(sizeof(float) * (size_t)(ta ? K : M) * lda);
                float *B = malloc(sizeof(float) * (size_t)(tb ? N : K) * ldb);
                float *C1 = malloc(sizeof(float) * (size_t)M * ldc), *C2 = malloc(sizeof(float) * (size_t)M * ldc);
                fill_uniform(&r, A, (size_t)(ta ? K : M) * lda, -1, 1);
                fill_uniform(&r, B, (size_t)(tb ? N : K) * ldb, -1, 1);
                fill_uniform(&r, C1, (size_t)M * ldc, -1, 1);
                memcpy(C2, C1, sizeof(float) * (size_t)M * ldc);
                gemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C1, ldc);
                gemm_reference(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C2, ldc);
                char what[64];
                snprintf(what, sizeof what, "gemm %dx%dx%d trans_a=%d trans_b=%d beta=%d", M, N, K, ta, tb, acc);
                assert_close_arrays(C1, C2, (size_t)M * ldc, what);
                free(A), free(B), free(C1), free(C2);
            }
}

/* Convolution straight from its definition: out[b][oy][ox][o] = bias[o] + Σ w[o][c][ky][kx]·in[b][iy][ix][c]. */
static void direct_conv(float *out, const float *in, const float *w, const float *bias, const conv_shape *s)
{
    for (int b = 0; b < s->B; b++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int o = 0; o < s->cout; o++) {
                    double acc = bias[o];
                    for (int c = 0; c < s->cin; c++)
                        for (int ky = 0; ky < s->k; ky++)
                            for (int kx = 0; kx < s->k; kx++) {
                                int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw) continue;
                                acc += (double)w[((o * s->cin + c) * s->k + ky) * s->k + kx] *
                                       in[(((long)b * s->ih + iy) * s->iw + ix) * s->cin + c];
                            }
                    out[(((long)b * s->oh + oy) * s->ow + ox) * s->cout + o] = (float)acc;
                }
}

static void test_conv_matches_definition(void **unused)
{
    (void)unused;
    test_rng r = {22};
    /* The minatar layer, the two Atari layers at a reduced input size, and an odd stride/padding mix. */
    conv_shape shapes[] = {
        {3, 10, 10, 6, 16, 3, 1, 1, 10, 10},
        {2, 42, 34, 3, 32, 8, 4, 1, 10, 8},
        {2, 10, 8, 32, 64, 4, 2, 2, 6, 5},
        {1, 7, 9, 2, 3, 5, 3, 2, 3, 3},
        {2, 10, 10, 48, 128, 3, 1, 1, 10, 10}, /* the minatar ConvLSTM's gates */
        {2, 10, 10, 128, 48, 3, 1, 1, 10, 10}, /* their input gradient's shape */
        {3, 11, 11, 16, 32, 3, 1, 1, 11, 11},  /* odd sides: Winograd's last tiles are cut */
        {2, 7, 9, 8, 16, 3, 1, 1, 7, 9},
        {2, 9, 7, 64, 256, 3, 1, 1, 9, 7}, /* weights past the level-2 cache: Winograd in blocks of 8 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        conv_shape *s = &shapes[i];
        assert_int_equal(s->oh, (s->ih + 2 * s->pad - s->k) / s->stride + 1);
        assert_int_equal(s->ow, (s->iw + 2 * s->pad - s->k) / s->stride + 1);
        size_t nin = (size_t)s->B * s->ih * s->iw * s->cin, nw = (size_t)s->cout * s->cin * s->k * s->k;
        size_t nout = (size_t)conv_rows(s) * s->cout;
        float *in = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * s->cout);
        float *o1 = malloc(sizeof(float) * nout), *o2 = malloc(sizeof(float) * nout), *wp = malloc(sizeof(float) * nw);
        float *cols = malloc(sizeof(float) * (size_t)(conv_rows(s) * conv_cols(s)));
        fill_uniform(&r, in, nin, -1, 1);
        fill_uniform(&r, w, nw, -0.3f, 0.3f);
        fill_uniform(&r, b, (size_t)s->cout, -0.3f, 0.3f);
        direct_conv(o2, in, w, b, s);
        char what[64];
        /* Both unfoldings: against the weights as stored, and against them repacked. */
        conv2d_forward(o1, cols, in, w, NULL, b, s);
        snprintf(what, sizeof what, "conv k%d s%d p%d %dx%dx%d", s->k, s->stride, s->pad, s->ih, s->iw, s->cin);
        assert_close_arrays(o1, o2, nout, what);
        conv_pack_weights(wp, w, s);
        conv2d_forward(o1, cols, in, w, wp, b, s);
        snprintf(what, sizeof what, "packed conv k%d s%d p%d %dx%dx%d", s->k, s->stride, s->pad, s->ih, s->iw, s->cin);
        assert_close_arrays(o1, o2, nout, what);
        /* The AVX2 kernel, where this CPU has it, in two row ranges that split a tile of rows. */
        if (conv_direct_available(s)) {
            float *dp = malloc(sizeof(float) * (size_t)conv_direct_packed_floats(s));
            conv_direct_pack(dp, w, s);
            for (size_t v = 0; v < nout; v++) o1[v] = NAN;
            long split = conv_rows(s) / 3;
            conv_direct_forward_rows(o1, in, dp, b, s, 0, split);
            conv_direct_forward_rows(o1, in, dp, b, s, split, conv_rows(s) - split);
            snprintf(what, sizeof what, "direct conv k%d s%d p%d %dx%dx%d", s->k, s->stride, s->pad, s->ih, s->iw,
                     s->cin);
            assert_close_arrays(o1, o2, nout, what);
            free(dp);
        } else {
            printf("  direct conv: not available for this shape or CPU\n");
        }
        /* Winograd, where this CPU and shape allow it, in the parts conv_plan_part gives three threads (all the
         * shapes here have two images or more: for one, the plan keeps another method). */
        if (conv_winograd_available(s)) {
            conv_shape one = *s;
            one.B = 1;
            conv_plan single;
            float *buf = malloc(sizeof(float) * (size_t)conv_plan_floats(&one));
            conv_plan_prepare(&single, buf, w, &one);
            assert_int_not_equal(single.method, CONV_WINOGRAD);
            free(buf);
            conv_plan plan;
            float *up = malloc(sizeof(float) * (size_t)conv_plan_floats(s));
            float *scratch = malloc(sizeof(float) * (size_t)conv_plan_scratch_floats(s));
            assert_int_equal(conv_plan_prepare(&plan, up, w, s), conv_plan_floats(s));
            assert_int_equal(plan.method, CONV_WINOGRAD);
            for (size_t v = 0; v < nout; v++) o1[v] = NAN;
            long next = 0;
            for (int k = 0; k < 3; k++) {
                long r0, n;
                conv_plan_part(&plan, s, k, 3, &r0, &n);
                assert_int_equal(r0, next);
                conv_plan_forward_rows(o1, cols, scratch, in, w, &plan, b, s, r0, n);
                next = r0 + n;
            }
            assert_int_equal(next, conv_rows(s));
            snprintf(what, sizeof what, "winograd k%d s%d p%d %dx%dx%d", s->k, s->stride, s->pad, s->ih, s->iw,
                     s->cin);
            assert_close_arrays(o1, o2, nout, what);
            free(up), free(scratch);
        }
        free(in), free(w), free(b), free(o1), free(o2), free(wp), free(cols);
    }
}

/* The weight and bias gradients of conv2d_backward — by the method conv_wgrad_choose picks on this CPU:
 * Winograd, the direct kernel, or unfolding and GEMM — against their definition: dw[o][c][ky][kx] +=
 * Σ dout[r][o]·in[pixel][c]. The first two sum one image per call into their accumulator, as attn_backward
 * sums the steps of an unroll, and conv_wgrad_finish adds the sum once. */
static void test_weight_grad_matches_definition(void **unused)
{
    (void)unused;
    test_rng r = {24};
    conv_shape shapes[] = {
        {2, 10, 10, 48, 128, 3, 1, 1, 10, 10}, /* the minatar ConvLSTM's gates */
        {3, 11, 11, 24, 32, 3, 1, 1, 11, 11},  /* odd sides: Winograd's last tiles are cut */
        {2, 9, 7, 96, 128, 3, 1, 1, 9, 7},     /* past 8192 (in, out) pairs: Winograd's sums by GEMM */
        {2, 10, 10, 7, 16, 3, 1, 1, 10, 10},   /* a minatar first layer: unfolded (7 channels) */
        {2, 42, 34, 6, 32, 8, 4, 1, 10, 8},    /* the Atari first layer's shape, 6 channels, stride 4 */
        {1, 7, 9, 12, 16, 3, 2, 0, 3, 4},      /* stride 2, no padding */
        {1, 7, 9, 2, 3, 5, 3, 2, 3, 3},        /* no direct kernel: 3 output channels */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        conv_shape *s = &shapes[i];
        const int kk = s->k * s->k;
        size_t nin = (size_t)s->B * s->ih * s->iw * s->cin, nw = (size_t)s->cout * conv_cols(s);
        size_t nout = (size_t)conv_rows(s) * s->cout, ncols = (size_t)(conv_rows(s) * conv_cols(s));
        float *in = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * nw), *dout = malloc(sizeof(float) * nout);
        float *dw = malloc(sizeof(float) * nw), *want = malloc(sizeof(float) * nw);
        float *db = calloc((size_t)s->cout, sizeof(float)), *dbwant = calloc((size_t)s->cout, sizeof(float));
        float *cols = malloc(sizeof(float) * ncols), *dcols = malloc(sizeof(float) * ncols);
        fill_uniform(&r, in, nin, -1, 1);
        fill_uniform(&r, w, nw, -0.3f, 0.3f);
        fill_uniform(&r, dout, nout, -1, 1);
        fill_uniform(&r, dw, nw, -1, 1); /* the gradient is added to what is there */
        for (size_t v = 0; v < nw; v++) {
            const int o = (int)(v / conv_cols(s)), c = (int)(v % conv_cols(s) / kk), ky = (int)(v % kk / s->k),
                      kx = (int)(v % s->k);
            double acc = dw[v];
            for (long row = 0; row < conv_rows(s); row++) {
                const int b = (int)(row / (s->oh * s->ow)), oy = (int)(row % (s->oh * s->ow) / s->ow),
                          ox = (int)(row % s->ow);
                const int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                if (iy < 0 || iy >= s->ih || ix < 0 || ix >= s->iw) continue;
                acc += (double)dout[row * s->cout + o] * in[(((long)b * s->ih + iy) * s->iw + ix) * s->cin + c];
            }
            want[v] = (float)acc;
        }
        for (long row = 0; row < conv_rows(s); row++)
            for (int o = 0; o < s->cout; o++) dbwant[o] += dout[row * s->cout + o];
        const conv_wgrad_method method = conv_wgrad_choose(s);
        if (method != WGRAD_UNFOLD) {
            float *acc = calloc((size_t)conv_wgrad_floats(s), sizeof(float));
            float *scratch = malloc(sizeof(float) * (size_t)(conv_wgrad_scratch_floats(s) + 1));
            conv_shape one = *s;
            one.B = 1;
            const long in_image = (long)s->ih * s->iw * s->cin, out_image = (long)s->oh * s->ow * s->cout;
            for (int b = 0; b < s->B; b++)
                conv2d_backward(NULL, dw, acc, scratch, db, cols, dcols, in + b * in_image, w, dout + b * out_image,
                                &one);
            conv_wgrad_finish(dw, acc, s);
            free(acc), free(scratch);
        } else {
            conv2d_backward(NULL, dw, NULL, NULL, db, cols, dcols, in, w, dout, s);
        }
        char what[64];
        snprintf(what, sizeof what, "%s dw k%d s%d p%d %dx%dx%d",
                 method == WGRAD_WINOGRAD ? "winograd" : method == WGRAD_DIRECT ? "direct" : "unfolded",
                 s->k, s->stride, s->pad, s->ih, s->iw, s->cin);
        assert_close_arrays(dw, want, nw, what);
        assert_close_arrays(db, dbwant, (size_t)s->cout, "  its db");
        free(in), free(w), free(dout), free(dw), free(want), free(db), free(dbwant), free(cols), free(dcols);
    }
}

/* The input gradient on the direct kernel (a convolution of dout with the transposed, mirrored weights) adds
 * the same as the unfold-and-GEMM path's fold(dout · w), row ranges split mid-tile. */
static void test_direct_input_grad_matches_unfolded(void **unused)
{
    (void)unused;
    test_rng r = {25};
    conv_shape shapes[] = {
        {2, 10, 10, 48, 128, 3, 1, 1, 10, 10}, /* the minatar ConvLSTM's gates */
        {1, 7, 9, 16, 32, 3, 1, 0, 5, 7},
        {1, 6, 6, 32, 16, 5, 1, 2, 6, 6},
        {2, 9, 7, 64, 256, 3, 1, 1, 9, 7}, /* too many columns for the direct kernel; Winograd in blocks of 8 */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        conv_shape *s = &shapes[i];
        conv_shape ts = conv_direct_input_grad_shape(s);
        const int direct = conv_direct_input_grad_available(s);
        if (!direct && !conv_winograd_available(&ts)) {
            printf("  input gradient as a convolution: not available for this shape or CPU\n");
            continue;
        }
        size_t nin = (size_t)s->B * s->ih * s->iw * s->cin, nw = (size_t)s->cout * conv_cols(s);
        size_t nout = (size_t)conv_rows(s) * s->cout, ncols = (size_t)(conv_rows(s) * conv_cols(s));
        float *in = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * nw), *dout = malloc(sizeof(float) * nout);
        float *din1 = malloc(sizeof(float) * nin), *din2 = malloc(sizeof(float) * nin);
        float *dw = calloc(nw, sizeof(float)), *db = calloc((size_t)s->cout, sizeof(float));
        float *cols = malloc(sizeof(float) * ncols), *dcols = malloc(sizeof(float) * ncols);
        fill_uniform(&r, in, nin, -1, 1);
        fill_uniform(&r, w, nw, -0.3f, 0.3f);
        fill_uniform(&r, dout, nout, -1, 1);
        fill_uniform(&r, din1, nin, -1, 1); /* both paths add to what is there */
        memcpy(din2, din1, sizeof(float) * nin);
        conv2d_backward(din1, dw, NULL, NULL, db, cols, dcols, in, w, dout, s);
        assert_int_equal(ts.oh, s->ih);
        assert_int_equal(ts.ow, s->iw);
        float *wp = malloc(sizeof(float) * (size_t)conv_direct_packed_floats(&ts));
        char what[64];
        if (direct) {
            conv_direct_pack_input_grad(wp, w, s);
            long split = conv_rows(&ts) / 3 + 1;
            conv_direct_forward_rows(din2, dout, wp, NULL, &ts, 0, split);
            conv_direct_forward_rows(din2, dout, wp, NULL, &ts, split, conv_rows(&ts) - split);
            snprintf(what, sizeof what, "direct dx k%d p%d %dx%dx%d", s->k, s->pad, s->ih, s->iw, s->cin);
            assert_close_arrays(din2, din1, nin, what);
        }
        /* As the backward pass plans it (Winograd where the transposed shape allows), in two parts. */
        conv_plan plan;
        float *pp = malloc(sizeof(float) * (size_t)conv_plan_input_grad_floats(s));
        float *scratch = malloc(sizeof(float) * (size_t)(conv_plan_scratch_floats(&ts) + 1));
        assert_true(conv_plan_input_grad(&plan, pp, w, s) <= conv_plan_input_grad_floats(s));
        assert_int_equal(plan.method, conv_winograd_available(&ts) ? CONV_WINOGRAD : CONV_DIRECT);
        fill_uniform(&r, din2, nin, -1, 1);
        memcpy(din1, din2, sizeof(float) * nin);
        conv2d_backward(din1, dw, NULL, NULL, db, cols, dcols, in, w, dout, s);
        for (int k = 0; k < 2; k++) {
            long r0, n;
            conv_plan_part(&plan, &ts, k, 2, &r0, &n);
            conv_plan_forward_rows(din2, NULL, scratch, dout, NULL, &plan, NULL, &ts, r0, n);
        }
        snprintf(what, sizeof what, "%s dx k%d p%d %dx%dx%d", plan.method == CONV_WINOGRAD ? "winograd" : "planned",
                 s->k, s->pad, s->ih, s->iw, s->cin);
        assert_close_arrays(din2, din1, nin, what);
        free(pp), free(scratch);
        free(in), free(w), free(dout), free(din1), free(din2), free(dw), free(db), free(cols), free(dcols), free(wp);
    }
}

/* col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)> for all x, y. */
static void test_col2im_is_adjoint(void **unused)
{
    (void)unused;
    test_rng r = {23};
    conv_shape s = {2, 9, 7, 3, 1, 4, 2, 1, 4, 3};
    size_t nin = (size_t)s.B * s.ih * s.iw * s.cin, ncol = (size_t)(conv_rows(&s) * conv_cols(&s));
    float *x = malloc(sizeof(float) * nin), *y = malloc(sizeof(float) * ncol);
    float *cx = malloc(sizeof(float) * ncol), *ty = calloc(nin, sizeof(float));
    fill_uniform(&r, x, nin, -1, 1);
    fill_uniform(&r, y, ncol, -1, 1);
    im2col(cx, x, &s, 0, conv_rows(&s));
    col2im_add(ty, y, &s);
    double lhs = 0.0, rhs = 0.0;
    for (size_t i = 0; i < ncol; i++) lhs += (double)cx[i] * y[i];
    for (size_t i = 0; i < nin; i++) rhs += (double)x[i] * ty[i];
    assert_true(fabs(lhs - rhs) <= 1e-4 * (1.0 + fabs(lhs)));
    free(x), free(y), free(cx), free(ty);
}

static void test_spatial_basis_formula(void **unused)
{
    (void)unused;
    const int h = 27, w = 20, U = 8, V = 8;
    float *S = malloc(sizeof(float) * h * w * U * V);
    spatial_basis(S, h, w, U, V);
    const double pi = acos(-1.0);
    double worst = 0.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int u = 1; u <= U; u++)
                for (int v = 1; v <= V; v++) {
                    double want = cos(pi * u * (y + 1) / h) * cos(pi * v * (x + 1) / w);
                    worst = fmax(worst, fabs(S[(y * w + x) * U * V + (u - 1) * V + (v - 1)] - want));
                }
    printf("  spatial basis max error %.2e\n", worst);
    assert_true(worst <= 1e-6);
    /* Spot values worked by hand: at the last row and column cos(π·u)·cos(π·v) = (−1)^(u+v). */
    assert_true(fabs(S[((h - 1) * w + (w - 1)) * U * V + 0] - 1.0f) < 1e-6);         /* u = v = 1 */
    assert_true(fabs(S[((h - 1) * w + (w - 1)) * U * V + 1] + 1.0f) < 1e-6);         /* u = 1, v = 2 */
    free(S);
}

static void test_softmax_maps_are_distributions(void **unused)
{
    (void)unused;
    test_rng r = {24};
    attn_shape s = {3, 100, 32, 8, 16, 4};
    size_t nO = (size_t)s.B * s.P * s.L, nQ = (size_t)s.B * s.N * (s.ck + s.cs);
    float *O = malloc(sizeof(float) * nO), *Q = malloc(sizeof(float) * nQ), *S = malloc(sizeof(float) * s.P * s.cs);
    float *maps = malloc(sizeof(float) * s.B * s.N * s.P), *ans = malloc(sizeof(float) * s.B * s.N * (s.L - s.ck + s.cs));
    fill_uniform(&r, O, nO, -1, 1);
    /* Huge logits: a naive softmax would overflow to inf/NaN. */
    fill_uniform(&r, Q, nQ, -300, 300);
    spatial_basis(S, 10, 10, 4, 4);
    attention_forward(maps, ans, O, S, Q, &s);
    for (int m = 0; m < s.B * s.N; m++) {
        double sum = 0.0;
        for (int p = 0; p < s.P; p++) {
            float v = maps[m * s.P + p];
            assert_true(isfinite(v) && v >= 0.0f);
            sum += v;
        }
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    free(O), free(Q), free(S), free(maps), free(ans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_reference),
        cmocka_unit_test(test_conv_matches_definition),
        cmocka_unit_test(test_weight_grad_matches_definition),
        cmocka_unit_test(test_direct_input_grad_matches_unfolded),
        cmocka_unit_test(test_col2im_is_adjoint),
        cmocka_unit_test(test_spatial_basis_formula),
        cmocka_unit_test(test_softmax_maps_are_distributions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
