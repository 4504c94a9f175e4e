#include "conv.h"

#include <string.h>

#include "conv_direct.h"
#include "conv_winograd.h"
#include "gemm.h"

long conv_rows(const conv_shape *s) { return (long)s->B * s->oh * s->ow; }
long conv_cols(const conv_shape *s) { return (long)s->cin * s->k * s->k; }

void im2col(float *cols, const float *in, const conv_shape *s, long r0, long n)
{
    const int k = s->k, cin = s->cin;
    const long ncol = conv_cols(s);
    conv_origin at = conv_row_origin(in, s, r0);
    for (long r = r0; r < r0 + n; r++, at = conv_next_row(at, s)) {
        float *row = cols + r * ncol;
        for (int ky = 0; ky < k; ky++) {
            int iy = at.y0 + ky;
            for (int kx = 0; kx < k; kx++) {
                int ix = at.x0 + kx;
                int inside = iy >= 0 && iy < s->ih && ix >= 0 && ix < s->iw;
                const float *px = inside ? at.img + ((long)iy * s->iw + ix) * cin : NULL;
                for (int c = 0; c < cin; c++) row[(c * k + ky) * k + kx] = inside ? px[c] : 0.0f;
            }
        }
    }
}

void im2col_by_pixel(float *cols, const float *in, const conv_shape *s, long r0, long n)
{
    const int k = s->k, cin = s->cin;
    const long ncol = conv_cols(s);
    const size_t run = sizeof(float) * (size_t)cin;
    conv_origin at = conv_row_origin(in, s, r0);
    for (long r = r0; r < r0 + n; r++, at = conv_next_row(at, s)) {
        float *px = cols + r * ncol;
        for (int ky = 0; ky < k; ky++) {
            int iy = at.y0 + ky;
            for (int kx = 0; kx < k; kx++, px += cin) {
                int ix = at.x0 + kx;
                if (iy >= 0 && iy < s->ih && ix >= 0 && ix < s->iw)
                    memcpy(px, at.img + ((long)iy * s->iw + ix) * cin, run);
                else
                    memset(px, 0, run);
            }
        }
    }
}

int conv_pack_pays(const conv_shape *s) { return conv_rows(s) >= 2L * s->cout; }

void conv_pack_weights(float *wp, const float *w, const conv_shape *s)
{
    const int kk = s->k * s->k, cin = s->cin;
    for (int o = 0; o < s->cout; o++)
        for (int c = 0; c < cin; c++)
            for (int p = 0; p < kk; p++) wp[((long)o * kk + p) * cin + c] = w[((long)o * cin + c) * kk + p];
}

void col2im_add(float *din, const float *dcols, const conv_shape *s)
{
    const int k = s->k, cin = s->cin;
    const long ncol = conv_cols(s);
    for (int b = 0; b < s->B; b++) {
        float *img = din + (long)b * s->ih * s->iw * cin;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                const float *row = dcols + (((long)b * s->oh + oy) * s->ow + ox) * ncol;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s->stride - s->pad + ky;
                    if (iy < 0 || iy >= s->ih) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s->stride - s->pad + kx;
                        if (ix < 0 || ix >= s->iw) continue;
                        float *px = img + ((long)iy * s->iw + ix) * cin;
                        for (int c = 0; c < cin; c++) px[c] += row[(c * k + ky) * k + kx];
                    }
                }
            }
    }
}

void conv2d_forward_rows(float *out, float *cols, const float *in, const float *w, const float *wp, const float *b,
                         const conv_shape *s, long r0, long n)
{
    const long ncol = conv_cols(s);
    for (long r = r0; r < r0 + n; r++) memcpy(out + r * s->cout, b, sizeof(float) * (size_t)s->cout);
    if (wp)
        im2col_by_pixel(cols, in, s, r0, n);
    else
        im2col(cols, in, s, r0, n);
    gemm(0, 1, (int)n, s->cout, (int)ncol, 1.0f, cols + r0 * ncol, (int)ncol, wp ? wp : w, (int)ncol, 1.0f,
         out + r0 * s->cout, s->cout);
}

void conv2d_forward(float *out, float *cols, const float *in, const float *w, const float *wp, const float *b,
                    const conv_shape *s)
{
    conv2d_forward_rows(out, cols, in, w, wp, b, s, 0, conv_rows(s));
}

/* Measured when Winograd's transform of the weights was redone on every attn_forward: for a single image (a
 * B = 1 step) it cost more than the products it saved; from two images on, the forward pass gained (B = 4:
 * 11 %, B = 16: 26 % of a minatar acting step). attn_forward now packs only when the weights change, so B = 1
 * may pay too; the rule is kept (changing it changes B = 1 results), and the plan "measure" can choose it. */
static int winograd_pays(const conv_shape *s) { return s->B >= 2 && conv_winograd_available(s); }

int conv_method_available(const conv_shape *s, conv_method m)
{
    switch (m) {
    case CONV_WINOGRAD: return conv_winograd_available(s);
    case CONV_DIRECT: return conv_direct_available(s);
    case CONV_UNFOLD_BY_PIXEL:
    case CONV_UNFOLD: return 1;
    }
    return 0;
}

conv_method conv_rule_method(const conv_shape *s)
{
    if (winograd_pays(s)) return CONV_WINOGRAD;
    if (conv_direct_available(s)) return CONV_DIRECT;
    return conv_pack_pays(s) ? CONV_UNFOLD_BY_PIXEL : CONV_UNFOLD;
}

static long method_floats(const conv_shape *s, conv_method m)
{
    switch (m) {
    case CONV_WINOGRAD: return conv_winograd_packed_floats(s) + conv_direct_packed_floats(s);
    case CONV_DIRECT: return conv_direct_packed_floats(s);
    case CONV_UNFOLD_BY_PIXEL: return (long)s->cout * conv_cols(s);
    case CONV_UNFOLD: break;
    }
    return 0;
}

long conv_plan_floats(const conv_shape *s)
{
    long most = 0;
    for (conv_method m = CONV_UNFOLD; m <= CONV_WINOGRAD; m++)
        if (conv_method_available(s, m) && method_floats(s, m) > most) most = method_floats(s, m);
    return most;
}

long conv_plan_prepare_method(conv_plan *plan, float *buf, const float *w, const conv_shape *s, conv_method m)
{
    switch (m) {
    case CONV_WINOGRAD: { /* by way of the direct kernel's packing, after the transformed weights */
        float *direct = buf + conv_winograd_packed_floats(s);
        conv_direct_pack(direct, w, s);
        conv_winograd_transform(buf, direct, s);
        break;
    }
    case CONV_DIRECT: conv_direct_pack(buf, w, s); break;
    case CONV_UNFOLD_BY_PIXEL: conv_pack_weights(buf, w, s); break;
    case CONV_UNFOLD: buf = NULL; break;
    }
    *plan = (conv_plan){m, buf};
    return method_floats(s, m);
}

long conv_plan_attach(conv_plan *plan, float *buf, const conv_shape *s, conv_method m)
{
    *plan = (conv_plan){m, m == CONV_UNFOLD ? NULL : buf};
    return method_floats(s, m);
}

long conv_plan_prepare(conv_plan *plan, float *buf, const float *w, const conv_shape *s)
{
    return conv_plan_prepare_method(plan, buf, w, s, conv_rule_method(s));
}

void conv_plan_part(const conv_plan *plan, const conv_shape *s, int k, int parts, long *r0, long *n)
{
    if (plan->method == CONV_WINOGRAD) {
        const long units = conv_winograd_units(s);
        *r0 = conv_winograd_unit_row(s, units * k / parts);
        *n = conv_winograd_unit_row(s, units * (k + 1) / parts) - *r0;
        return;
    }
    const long rows = conv_rows(s);
    *r0 = rows * k / parts;
    *n = rows * (k + 1) / parts - *r0;
}

/* Winograd for the input gradient of s: its transposed shape can run it, and the direct kernel's packing of
 * the transposed weights (panels over s's in channels), which the transform starts from, applies. */
static int input_grad_winograd(const conv_shape *s)
{
    const conv_shape ts = conv_direct_input_grad_shape(s);
    return s->stride == 1 && s->pad <= s->k - 1 && s->cin % 16 == 0 && conv_winograd_available(&ts);
}

long conv_plan_input_grad_floats(const conv_shape *s)
{
    const conv_shape ts = conv_direct_input_grad_shape(s);
    if (input_grad_winograd(s)) return conv_winograd_packed_floats(&ts) + conv_direct_packed_floats(&ts);
    if (conv_direct_input_grad_available(s)) return conv_direct_packed_floats(&ts);
    return 0;
}

long conv_plan_input_grad(conv_plan *plan, float *buf, const float *w, const conv_shape *s)
{
    const conv_shape ts = conv_direct_input_grad_shape(s);
    if (input_grad_winograd(s)) { /* by way of the direct kernel's packing, after the transformed weights */
        float *direct = buf + conv_winograd_packed_floats(&ts);
        conv_direct_pack_input_grad(direct, w, s);
        conv_winograd_transform(buf, direct, &ts);
        *plan = (conv_plan){CONV_WINOGRAD, buf};
        return conv_winograd_packed_floats(&ts) + conv_direct_packed_floats(&ts);
    }
    if (conv_direct_input_grad_available(s)) {
        conv_direct_pack_input_grad(buf, w, s);
        *plan = (conv_plan){CONV_DIRECT, buf};
        return conv_direct_packed_floats(&ts);
    }
    *plan = (conv_plan){CONV_UNFOLD, NULL};
    return 0;
}

/* The Winograd unit that starts at output row r (a boundary from conv_plan_part). */
static long winograd_unit_at(const conv_shape *s, long r)
{
    const long per_image = (long)s->oh * s->ow;
    return r / per_image * ((s->oh + 1) / 2) + r % per_image / s->ow / 2;
}

long conv_plan_scratch_floats(const conv_shape *s)
{
    return conv_winograd_available(s) ? conv_winograd_scratch_floats(s) : 0;
}

void conv_plan_forward_rows(float *out, float *cols, float *scratch, const float *in, const float *w,
                            const conv_plan *plan, const float *b, const conv_shape *s, long r0, long n)
{
    if (plan->method == CONV_WINOGRAD)
        conv_winograd_forward_units(out, in, plan->wp, b, s, winograd_unit_at(s, r0), winograd_unit_at(s, r0 + n),
                                    scratch);
    else if (plan->method == CONV_DIRECT)
        conv_direct_forward_rows(out, in, plan->wp, b, s, r0, n);
    else
        conv2d_forward_rows(out, cols, in, w, plan->method == CONV_UNFOLD_BY_PIXEL ? plan->wp : NULL, b, s, r0, n);
}

conv_wgrad_method conv_wgrad_choose(const conv_shape *s)
{
    if (conv_winograd_weight_grad_available(s)) return WGRAD_WINOGRAD;
    if (conv_direct_weight_grad_available(s)) return WGRAD_DIRECT;
    return WGRAD_UNFOLD;
}

long conv_wgrad_floats(const conv_shape *s)
{
    switch (conv_wgrad_choose(s)) {
    case WGRAD_WINOGRAD: return conv_winograd_weight_grad_floats(s);
    case WGRAD_DIRECT: return conv_direct_weight_grad_floats(s);
    case WGRAD_UNFOLD: break;
    }
    return 0;
}

long conv_wgrad_scratch_floats(const conv_shape *s)
{
    return conv_wgrad_choose(s) == WGRAD_WINOGRAD ? conv_winograd_weight_grad_scratch_floats(s) : 0;
}

void conv_wgrad_finish(float *dw, const float *acc, const conv_shape *s)
{
    switch (conv_wgrad_choose(s)) {
    case WGRAD_WINOGRAD: conv_winograd_finish_weight_grad(dw, acc, s); break;
    case WGRAD_DIRECT: conv_direct_unpack_weight_grad(dw, acc, s); break;
    case WGRAD_UNFOLD: break;
    }
}

void conv2d_backward(float *din, float *dw, float *acc, float *scratch, float *db, float *cols, float *dcols,
                     const float *in, const float *w, const float *dout, const conv_shape *s)
{
    const long rows = conv_rows(s), ncol = conv_cols(s);
    for (long r = 0; r < rows; r++)
        for (int o = 0; o < s->cout; o++) db[o] += dout[r * s->cout + o];
    if (acc && conv_wgrad_choose(s) == WGRAD_WINOGRAD) {
        conv_winograd_weight_grad(acc, scratch, in, dout, s);
    } else if (acc) {
        conv_direct_weight_grad(acc, in, dout, s);
    } else {
        im2col(cols, in, s, 0, rows);
        gemm(1, 0, s->cout, (int)ncol, (int)rows, 1.0f, dout, s->cout, cols, (int)ncol, 1.0f, dw, (int)ncol);
    }
    if (!din) return;
    gemm(0, 0, (int)rows, (int)ncol, s->cout, 1.0f, dout, s->cout, w, (int)ncol, 0.0f, dcols, (int)ncol);
    col2im_add(din, dcols, s);
}
