/* 2-D convolution with bias over channels-last activations, as one GEMM over the whole batch: the input is
 * unfolded (im2col) into one row per output position. The weights are stored in PyTorch's [out][in][k][k]
 * layout, which an unfolded row ordered (in channel, ky, kx) matches; the backward pass uses that order, so
 * the weight gradient lands in place. The forward pass prefers (ky, kx, in channel) order — every kernel
 * pixel's channels are one contiguous run of the channels-last input, copied whole instead of one strided
 * store per value — against the weights repacked to [out][k][k][in] once per step, when there are enough
 * rows to pay for the repacking (conv_pack_pays). */
#ifndef ATTN_CONV_H
#define ATTN_CONV_H

typedef struct conv_shape {
    int B;              /* images */
    int ih, iw, cin;    /* input height, width, channels */
    int cout, k, stride, pad;
    int oh, ow;         /* output height, width */
} conv_shape;

/* Rows (B·oh·ow) and columns (cin·k·k) of the unfolded input. */
long conv_rows(const conv_shape *s);
long conv_cols(const conv_shape *s);

/* Where output row r reads: its image's first input pixel, and the input coordinates of its kernel's top-left
 * tap, so tap (ky, kx) is pixel (y0 + ky, x0 + kx) — padding when outside [0, ih) × [0, iw). (oy, ox) is the
 * row's output position. */
typedef struct conv_origin {
    const float *img;
    int y0, x0;
    int oy, ox;
} conv_origin;

static inline conv_origin conv_row_origin(const float *in, const conv_shape *s, long r)
{
    const long per_image = (long)s->oh * s->ow;
    const int oy = (int)(r % per_image / s->ow), ox = (int)(r % s->ow);
    return (conv_origin){in + r / per_image * s->ih * s->iw * s->cin, oy * s->stride - s->pad,
                         ox * s->stride - s->pad, oy, ox};
}

/* The origin of the row after `at`, without conv_row_origin's divisions (a long division per coordinate cost
 * more than a small layer's products: the unfolding loops start from one origin and step). */
static inline conv_origin conv_next_row(conv_origin at, const conv_shape *s)
{
    if (++at.ox < s->ow) {
        at.x0 += s->stride;
        return at;
    }
    at.ox = 0, at.x0 = -s->pad;
    if (++at.oy < s->oh) {
        at.y0 += s->stride;
        return at;
    }
    at.oy = 0, at.y0 = -s->pad;
    at.img += (long)s->ih * s->iw * s->cin;
    return at;
}

/* Rows [r0, r0 + n) of cols [B·oh·ow][cin·k·k] ← unfold(in [B][ih][iw][cin]), each row ordered (in channel,
 * ky, kx); cells of the zero padding give 0. */
void im2col(float *cols, const float *in, const conv_shape *s, long r0, long n);
/* Rows [r0, r0 + n) of cols [B·oh·ow][k·k·cin] ← unfold(in), each row ordered (ky, kx, in channel). */
void im2col_by_pixel(float *cols, const float *in, const conv_shape *s, long r0, long n);
/* wp [cout][k][k][cin] ← w [cout][cin][k][k]: the weights in the order of im2col_by_pixel's rows. */
void conv_pack_weights(float *wp, const float *w, const conv_shape *s);
/* Non-zero when the shape has enough rows that repacking its weights costs less than it saves in unfolding
 * (measured on the minatar ConvLSTM: break-even near 1.4 rows per output channel; 2 leaves a margin). */
int conv_pack_pays(const conv_shape *s);

/* din [B][ih][iw][cin] += fold(dcols): the adjoint of im2col. */
void col2im_add(float *din, const float *dcols, const conv_shape *s);

/* out [B·oh·ow][cout] = in ⋆ w + b. wp is NULL, or conv_pack_weights(w), which the unfolding then matches.
 * `cols` is scratch of conv_rows × conv_cols floats. */
void conv2d_forward(float *out, float *cols, const float *in, const float *w, const float *wp, const float *b,
                    const conv_shape *s);
/* The same for output rows [r0, r0 + n) only, touching only those rows of `out` and `cols` (full-size arrays):
 * disjoint row ranges can run on different threads. */
void conv2d_forward_rows(float *out, float *cols, const float *in, const float *w, const float *wp, const float *b,
                         const conv_shape *s, long r0, long n);

/* How the forward pass computes one layer in one attn_forward, chosen per shape and CPU: Winograd's F(2×2, 3×3)
 * of conv_winograd.h, the AVX2 kernel of conv_direct.h, im2col in (ky, kx, in channel) order against repacked
 * weights, or im2col against the weights as stored. `wp` is the packed weights the method reads (NULL for the
 * last). */
typedef enum conv_method { CONV_UNFOLD, CONV_UNFOLD_BY_PIXEL, CONV_DIRECT, CONV_WINOGRAD } conv_method;
typedef struct conv_plan {
    conv_method method;
    const float *wp;
} conv_plan;

/* Whether method m can compute shape s on this CPU (the unfolding methods always can). */
int conv_method_available(const conv_shape *s, conv_method m);
/* The fixed rule's choice for s (the default plan): Winograd from two images on where it runs, else the direct
 * kernel where it runs, else an unfolding (repacked weights when there are enough rows to repay it). */
conv_method conv_rule_method(const conv_shape *s);
/* The most floats any available method's conv_plan_prepare_method writes for shape s. */
long conv_plan_floats(const conv_shape *s);
/* Packs w into buf for method m (available for s) and returns how many floats of buf it used (at most
 * conv_plan_floats(s)); conv_plan_prepare does it for the rule's method. */
long conv_plan_prepare_method(conv_plan *plan, float *buf, const float *w, const conv_shape *s, conv_method m);
/* The plan of method m over a buf that conv_plan_prepare_method already filled for s, without packing again;
 * returns the same count. */
long conv_plan_attach(conv_plan *plan, float *buf, const conv_shape *s, conv_method m);
long conv_plan_prepare(conv_plan *plan, float *buf, const float *w, const conv_shape *s);
/* For the input gradient of layer s, computed as a convolution of the output gradient (with shape
 * conv_direct_input_grad_shape(s)) where that is available: chooses Winograd or the direct kernel, packs the
 * transposed weights into buf, and returns the floats used (at most conv_plan_input_grad_floats(s)). Where
 * it is not, the method is CONV_UNFOLD and nothing is packed: the input gradient is conv2d_backward's. */
long conv_plan_input_grad_floats(const conv_shape *s);
long conv_plan_input_grad(conv_plan *plan, float *buf, const float *w, const conv_shape *s);

/* Part k of `parts` of the output rows, [*r0, *r0 + *n): contiguous, in order, covering all rows, and on the
 * boundaries the plan's method can start at (whole rows of Winograd tiles). */
void conv_plan_part(const conv_plan *plan, const conv_shape *s, int k, int parts, long *r0, long *n);
/* conv2d_forward_rows by the plan's method, for rows [r0, r0 + n) from conv_plan_part (or all rows). `cols` is
 * the unfolding methods' scratch, `scratch` CONV_WINOGRAD's (conv_plan_scratch_floats(s), one per concurrent
 * part); each may be NULL where the method does not use it. */
long conv_plan_scratch_floats(const conv_shape *s);
void conv_plan_forward_rows(float *out, float *cols, float *scratch, const float *in, const float *w,
                            const conv_plan *plan, const float *b, const conv_shape *s, long r0, long n);

/* How attn_backward sums a layer's weight gradient over an unroll, chosen per shape and CPU: in Winograd's
 * transformed domain (conv_winograd.h), in the direct kernel's packed layout (conv_direct.h), or unfolded and
 * added straight to the gradient. The first two sum into an accumulator of conv_wgrad_floats(s) floats (zero
 * at the start) and need conv_wgrad_scratch_floats(s) floats of scratch; conv_wgrad_finish adds the
 * accumulator to dw [cout][cin][k][k] at the end. */
typedef enum conv_wgrad_method { WGRAD_UNFOLD, WGRAD_DIRECT, WGRAD_WINOGRAD } conv_wgrad_method;
conv_wgrad_method conv_wgrad_choose(const conv_shape *s);
long conv_wgrad_floats(const conv_shape *s);
long conv_wgrad_scratch_floats(const conv_shape *s);
void conv_wgrad_finish(float *dw, const float *acc, const conv_shape *s);

/* Given dout [B·oh·ow][cout]: dw += doutᵀ · unfold(in), db += column sums of dout, and, when din is not NULL,
 * din += fold(dout · w). With acc not NULL (only where conv_wgrad_choose(s) is not WGRAD_UNFOLD), the weight
 * gradient goes to that accumulator instead of to dw, with `scratch` for it (see above). `cols` and `dcols`
 * are scratch of conv_rows × conv_cols floats each. */
void conv2d_backward(float *din, float *dw, float *acc, float *scratch, float *db, float *cols, float *dcols,
                     const float *in, const float *w, const float *dout, const conv_shape *s);

#endif
