/* 2-D convolution with bias over channels-last activations, as one GEMM over the whole batch:
 * the input is unfolded (im2col) into one row per output position, and the weight keeps PyTorch's
 * [out][in][k][k] layout, so each row of the unfolded input is ordered (in channel, ky, kx) to match it. */
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

/* cols [B·oh·ow][cin·k·k] ← unfold(in [B][ih][iw][cin]); cells of the zero padding give 0. */
void im2col(float *cols, const float *in, const conv_shape *s);
/* din [B][ih][iw][cin] += fold(dcols): the adjoint of im2col. */
void col2im_add(float *din, const float *dcols, const conv_shape *s);

/* out [B·oh·ow][cout] = unfold(in) · wᵀ + b. `cols` is scratch of conv_rows × conv_cols floats. */
void conv2d_forward(float *out, float *cols, const float *in, const float *w, const float *b, const conv_shape *s);

/* Given dout [B·oh·ow][cout]: dw += doutᵀ · unfold(in), db += column sums of dout, and, when din is not NULL,
 * din += fold(dout · w). `cols` and `dcols` are scratch of conv_rows × conv_cols floats each. */
void conv2d_backward(float *din, float *dw, float *db, float *cols, float *dcols, const float *in, const float *w,
                     const float *dout, const conv_shape *s);

#endif
