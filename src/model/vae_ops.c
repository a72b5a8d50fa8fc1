/*
** vae_ops.c -- the building blocks both VAE kinds are made of, each a few calls into
** the kernel table: convolution, GroupNorm(+SiLU), diffusers' ResnetBlock2D, the
** single-head mid-block attention, Downsample2D (asymmetric pad) and Upsample2D.
**
** Everything is channel-major (C, H, W) for one image. The attention runs on
** token-major (S, C) copies, so the kernels' row-major linear and attention apply;
** the two transposes are this file's only loops over data besides the zero pad.
*/
#include <math.h>
#include <string.h>

#include "ef_internal.h"
#include "model/vae_internal.h"

#define VAE_EPS 1e-6f   /* diffusers' resnet_eps for every VAE norm */

void ef_vae_op_conv(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, int64_t stride,
                 int64_t pad, ef_act act, const float *r, float *y) {
    if (pad < 0) pad = cv->k / 2;
    int64_t Ho = (H + 2 * pad - cv->k) / stride + 1, Wo = (W + 2 * pad - cv->k) / stride + 1;
    ef_conv2d_args a = {
        .x = x, .w = cv->w, .b = cv->b, .r = r, .y = y,
        .Cin = cv->cin, .H = H, .W = W, .Cout = cv->cout, .KH = cv->k, .KW = cv->k,
        .stride = stride, .pad = pad, .Ho = Ho, .Wo = Wo, .act = act, .wt = EF_W_F32,
    };
    ef_kernels_conv2d(c->k, c->pool, &a);
}

void ef_vae_op_group_norm(const vae_ctx *c, const vae_norm *n, int64_t G, float eps, ef_act act, const float *x,
                       int64_t S, float *y) {
    ef_group_norm_args a = {x, y, n->g, n->b, n->c, S, G, eps, act};
    ef_kernels_group_norm(c->k, c->pool, &a);
}

void ef_vae_op_resnet(const vae_ctx *c, const vae_resnet *r, int64_t G, const float *x, int64_t H, int64_t W,
                   float *t0, float *t1) {
    const int64_t S = H * W;
    ef_vae_op_group_norm(c, &r->n1, G, VAE_EPS, EF_ACT_SILU, x, S, t0);          /* t0 (cin, S) */
    ef_vae_op_conv(c, &r->c1, t0, H, W, 1, -1, EF_ACT_NONE, NULL, t1);           /* t1 (cout, S) */
    ef_vae_op_group_norm(c, &r->n2, G, VAE_EPS, EF_ACT_SILU, t1, S, t1);
    const float *skip = x;
    if (r->sc.w) {                                                              /* t0 (cout, S) = shortcut(x) */
        ef_vae_op_conv(c, &r->sc, x, H, W, 1, 0, EF_ACT_NONE, NULL, t0);
        skip = t0;
    }
    ef_vae_op_conv(c, &r->c2, t1, H, W, 1, -1, EF_ACT_NONE, skip, t0);           /* t0 = conv2(t1) + skip */
}

/* ---- attention ------------------------------------------------------------------- */

/* y (cols, rows) = x (rows, cols)^T, or y += x^T when add; threads split y's rows. */
typedef struct transpose_job {
    const float *x;
    float       *y;
    int64_t      rows, cols;
    int          add;
} transpose_job;

static void transpose_task(void *p, int ith, int nth) {
    const transpose_job *j = p;
    long r0, r1;
    ef_split_rows((long)j->cols, ith, nth, &r0, &r1);
    for (int64_t c = r0; c < r1; c++) {
        float *y = j->y + c * j->rows;
        if (j->add)
            for (int64_t r = 0; r < j->rows; r++) y[r] += j->x[r * j->cols + c];
        else
            for (int64_t r = 0; r < j->rows; r++) y[r] = j->x[r * j->cols + c];
    }
}

static void transpose(const vae_ctx *c, const float *x, int64_t rows, int64_t cols, int add, float *y) {
    transpose_job j = {x, y, rows, cols, add};
    ef_pool_run(c->pool, transpose_task, &j);
}

void ef_vae_op_attention(const vae_ctx *c, const vae_attn *a, int64_t G, float *x, int64_t H, int64_t W, float *t0,
                      float *t1) {
    const int64_t C = a->c, S = H * W;
    ef_vae_op_group_norm(c, &a->gn, G, VAE_EPS, EF_ACT_NONE, x, S, t0);          /* t0 (C, S) */
    transpose(c, t0, C, S, 0, t1);                                              /* t1 (S, C) */
    ef_linear_args qkv = {t1, a->w_qkv, a->b_qkv, NULL, t0, S, 3 * C, C, C, 3 * C, EF_ACT_NONE, EF_W_F32, NULL};
    ef_kernels_linear(c->k, c->pool, &qkv);                                     /* t0 (S, 3C) */
    ef_attention_args at = {
        t0, t0 + C, t0 + 2 * C, t1,
        S, S, 1, C, 3 * C, 3 * C, 3 * C, C, (float)(1.0 / sqrt((double)C)), 0,
    };
    ef_kernels_attention(c->k, c->pool, &at);                                   /* t1 (S, C) */
    ef_linear_args o = {t1, a->w_o, a->b_o, NULL, t0, S, C, C, C, C, EF_ACT_NONE, EF_W_F32, NULL};
    ef_kernels_linear(c->k, c->pool, &o);                                       /* t0 (S, C) */
    transpose(c, t0, S, C, 1, x);                                               /* x (C, S) += t0^T */
}

/* ---- resampling ------------------------------------------------------------------ */

void ef_vae_op_downsample(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, float *pad_buf,
                       float *y) {
    const int64_t Wp = W + 1, Hp = H + 1;
    for (int64_t ch = 0; ch < cv->cin; ch++) {                                  /* pad_buf (cin, H+1, W+1) */
        float *p = pad_buf + ch * Hp * Wp;
        const float *s = x + ch * H * W;
        for (int64_t i = 0; i < H; i++) {
            memcpy(p + i * Wp, s + i * W, (size_t)W * sizeof *p);
            p[i * Wp + W] = 0.0f;
        }
        memset(p + H * Wp, 0, (size_t)Wp * sizeof *p);
    }
    ef_vae_op_conv(c, cv, pad_buf, Hp, Wp, 2, 0, EF_ACT_NONE, NULL, y);
}

void ef_vae_op_upsample(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, float *up_buf,
                     float *y) {
    ef_upsample2x_args u = {x, up_buf, cv->cin, H, W};
    ef_kernels_upsample2x(c->k, c->pool, &u);                                   /* up_buf (cin, 2H, 2W) */
    ef_vae_op_conv(c, cv, up_buf, 2 * H, 2 * W, 1, -1, EF_ACT_NONE, NULL, y);
}
