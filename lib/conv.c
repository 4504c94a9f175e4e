#include "conv.h"

#include <string.h>

#include "gemm.h"

long conv_rows(const conv_shape *s) { return (long)s->B * s->oh * s->ow; }
long conv_cols(const conv_shape *s) { return (long)s->cin * s->k * s->k; }

void im2col(float *cols, const float *in, const conv_shape *s)
{
    const int k = s->k, cin = s->cin;
    const long ncol = conv_cols(s);
    for (int b = 0; b < s->B; b++) {
        const float *img = in + (long)b * s->ih * s->iw * cin;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++) {
                float *row = cols + (((long)b * s->oh + oy) * s->ow + ox) * ncol;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * s->stride - s->pad + ky;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s->stride - s->pad + kx;
                        int inside = iy >= 0 && iy < s->ih && ix >= 0 && ix < s->iw;
                        const float *px = inside ? img + ((long)iy * s->iw + ix) * cin : NULL;
                        for (int c = 0; c < cin; c++) row[(c * k + ky) * k + kx] = inside ? px[c] : 0.0f;
                    }
                }
            }
    }
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

void conv2d_forward(float *out, float *cols, const float *in, const float *w, const float *b, const conv_shape *s)
{
    const long rows = conv_rows(s);
    for (long r = 0; r < rows; r++) memcpy(out + r * s->cout, b, sizeof(float) * (size_t)s->cout);
    im2col(cols, in, s);
    gemm(0, 1, (int)rows, s->cout, (int)conv_cols(s), 1.0f, cols, (int)conv_cols(s), w, (int)conv_cols(s), 1.0f,
         out, s->cout);
}

void conv2d_backward(float *din, float *dw, float *db, float *cols, float *dcols, const float *in, const float *w,
                     const float *dout, const conv_shape *s)
{
    const long rows = conv_rows(s), ncol = conv_cols(s);
    for (long r = 0; r < rows; r++)
        for (int o = 0; o < s->cout; o++) db[o] += dout[r * s->cout + o];
    im2col(cols, in, s);
    gemm(1, 0, s->cout, (int)ncol, (int)rows, 1.0f, dout, s->cout, cols, (int)ncol, 1.0f, dw, (int)ncol);
    if (!din) return;
    gemm(0, 0, (int)rows, (int)ncol, s->cout, 1.0f, dout, s->cout, w, (int)ncol, 0.0f, dcols, (int)ncol);
    col2im_add(din, dcols, s);
}
