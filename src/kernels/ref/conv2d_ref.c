/*
** conv2d_ref.c -- reference 2-D convolution (any kernel size, stride, zero padding)
** and nearest 2x upsampling, channel-major (C, H, W) for one image.
**
** Direct convolution without an im2col buffer: for each output row segment,
** accumulate w[co, ci, ky, kx] * (shifted input row), ci then ky then kx, so every
** output element sums in the same fixed order whatever the thread split.
** Threads split output channels. This is the spec, not the fast path.
*/
#include <string.h>

#include "kernels/kernels.h"

/* Output columns [*j0, *j1) of a segment of nx starting at x0 whose input column
** (x0 + j) * s + kx - p falls inside [0, W): the padding is skipped, not tested. */
static void valid_cols(int64_t x0, int64_t nx, int64_t s, int64_t kx, int64_t p, int64_t W, int64_t *j0, int64_t *j1) {
    int64_t lo = 0, hi = nx;                       /* need 0 <= (x0+j)*s + kx - p <= W-1 */
    int64_t off = x0 * s + kx - p;                 /* input column of j = 0 */
    if (off < 0) lo = (-off + s - 1) / s;
    if (off + (nx - 1) * s > W - 1) hi = off > W - 1 ? 0 : (W - 1 - off) / s + 1;
    if (hi < lo) hi = lo;
    *j0 = lo;
    *j1 = hi;
}

/* The KH*KW taps w[co, ci] as f32: a pointer into w when it is f32, else converted
** into buf (KH*KW floats). */
static const float *w_taps(const ef_conv2d_args *a, int64_t co, int64_t ci, float *buf) {
    const int64_t KK = a->KH * a->KW, at = ci * KK;
    if (a->wt == EF_W_F32) return (const float *)a->w + co * a->Cin * KK + at;
    ef_wmat_row_f32(a->w, a->wt, a->Cout, a->Cin * KK, co, at, KK, buf);
    return buf;
}

/* Thread ith's output channels of y (Cout, Ho, Wo) = act(conv(x, w) + b) + r.
** Accumulates one output row segment at a time in a local buffer, so r may be y. */
void ef_k_conv2d_f32__ref(const ef_conv2d_args *a, int ith, int nth) {
    enum { SEG = 256, MAX_TAPS = 121 };
    float acc[SEG], wbuf[MAX_TAPS];
    long c0, c1;
    ef_split_rows((long)a->Cout, ith, nth, &c0, &c1);
    const int64_t H = a->H, W = a->W, Ho = a->Ho, Wo = a->Wo, s = a->stride, p = a->pad;
    for (long co = c0; co < c1; co++) {
        float bias = a->b ? a->b[co] : 0.0f;
        for (int64_t oy = 0; oy < Ho; oy++) {
            for (int64_t x0 = 0; x0 < Wo; x0 += SEG) {
                int64_t nx = Wo - x0 < SEG ? Wo - x0 : SEG;
                memset(acc, 0, sizeof acc);
                for (int64_t ci = 0; ci < a->Cin; ci++) {
                    const float *x = a->x + ci * H * W;
                    const float *w = w_taps(a, co, ci, wbuf);
                    for (int64_t ky = 0; ky < a->KH; ky++) {
                        int64_t iy = oy * s + ky - p;
                        if (iy < 0 || iy >= H) continue;
                        const float *xr = x + iy * W;
                        for (int64_t kx = 0; kx < a->KW; kx++) {
                            float wv = w[ky * a->KW + kx];
                            int64_t j0, j1;
                            valid_cols(x0, nx, s, kx, p, W, &j0, &j1);
                            const float *xs = xr + x0 * s + kx - p;
                            if (s == 1)
                                for (int64_t j = j0; j < j1; j++) acc[j] += wv * xs[j];
                            else
                                for (int64_t j = j0; j < j1; j++) acc[j] += wv * xs[j * s];
                        }
                    }
                }
                int64_t o = ((int64_t)co * Ho + oy) * Wo + x0;
                for (int64_t j = 0; j < nx; j++) {
                    float v = ef_act_apply(a->act, acc[j] + bias);
                    a->y[o + j] = a->r ? v + a->r[o + j] : v;
                }
            }
        }
    }
}

/* Thread ith's channels of y (C, 2H, 2W) = nearest-upsampled x (C, H, W). */
void ef_k_upsample2x_f32__ref(const ef_upsample2x_args *a, int ith, int nth) {
    long c0, c1;
    ef_split_rows((long)a->C, ith, nth, &c0, &c1);
    const int64_t H = a->H, W = a->W;
    for (long c = c0; c < c1; c++) {
        const float *x = a->x + (int64_t)c * H * W;
        float *y = a->y + (int64_t)c * 4 * H * W;
        for (int64_t i = 0; i < H; i++) {
            float *y0 = y + (2 * i) * (2 * W);
            for (int64_t j = 0; j < W; j++) y0[2 * j] = y0[2 * j + 1] = x[i * W + j];
            memcpy(y0 + 2 * W, y0, (size_t)(2 * W) * sizeof *y0);
        }
    }
}
