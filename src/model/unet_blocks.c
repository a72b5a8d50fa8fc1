/*
** unet_blocks.c -- the UNet's building blocks on one image: ResnetBlock2D,
** Transformer2DModel (GroupNorm, proj_in, BasicTransformerBlocks, proj_out) and the
** 3x3 down/upsampler convs, each a sequence of ef_kernels ops.
**
** Layouts: feature maps are channel-major (C, S) as in torch NCHW; the transformer
** works on token rows (S, C) with heads side by side, entered and left through the
** transpose kernel (the exit fuses the block's residual). Scratch comes from the run's
** arena between a mark and a reset; every function allocates first and, in a dry run
** (ef_unet_plan's measuring pass), returns before touching any data.
**
** Numerics follow diffusers: GroupNorm eps norm_eps in resnets, 1e-6 in
** Transformer2DModel; LayerNorm eps 1e-5; softmax(q k^T / sqrt(Dh)) v with a tiled
** online softmax (no S x S score matrix); GEGLU with the exact erf GELU.
*/
#include <math.h>
#include <stdint.h>

#include "ef_internal.h"
#include "model/unet_internal.h"

float *ef_unet_alloc(unet_run *r, int64_t n) {
    size_t bytes;
    if (n < 0 || !ef_mul_size((size_t)n, sizeof(float), &bytes)) bytes = SIZE_MAX;   /* fails the arena */
    float *p = ef_arena_alloc(r->arena, bytes);
    EF_ASSERT(p || r->dry);   /* a real run replays the plan's allocation sequence */
    return p;
}

/* ---- ResnetBlock2D ------------------------------------------------------------------ */

void ef_unet_resnet_run(unet_run *r, const unet_resnet *rb, const float *x, float *out, int64_t H, int64_t W) {
    const ef_unet *m = r->m;
    const int64_t S = H * W, ci = rb->cin, co = rb->cout, G = m->cfg.norm_num_groups, Dt = m->t_dim;
    const float eps = (float)m->cfg.norm_eps;
    size_t mark = ef_arena_mark(r->arena);
    float *h1 = ef_unet_alloc(r, ci * S);     /* (cin, S): silu(norm1(x)) */
    float *h2 = ef_unet_alloc(r, co * S);     /* (cout, S): conv1, then silu(norm2(.)) in place */
    float *bias = ef_unet_alloc(r, co);       /* (cout): conv1.bias + time_emb_proj(silu(temb)) */
    if (!r->dry) {
        EF_ASSERT(rb->short_w == NULL || out != x);
        ef_group_norm_args gn1 = {x, h1, rb->norm1_g, rb->norm1_b, ci, S, G, eps, EF_ACT_SILU};
        ef_kernels_group_norm(r->k, r->pool, &gn1);
        /* the per-channel time term folds into conv1's bias */
        ef_linear_args tp = {r->temb, rb->temb_w, rb->temb_b, rb->conv1_b, bias, 1, co, Dt, Dt, co, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_linear(r->k, r->pool, &tp);
        ef_conv2d_args c1 = {h1, rb->conv1_w, bias, NULL, h2, ci, H, W, co, 3, 3, 1, 1, H, W, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_conv2d(r->k, r->pool, &c1);
        ef_group_norm_args gn2 = {h2, h2, rb->norm2_g, rb->norm2_b, co, S, G, eps, EF_ACT_SILU};
        ef_kernels_group_norm(r->k, r->pool, &gn2);
        const float *res = x;   /* (cout, S): the shortcut branch */
        if (rb->short_w) {
            ef_conv2d_args sc = {x, rb->short_w, rb->short_b, NULL, out, ci, H, W, co, 1, 1, 1, 0, H, W, EF_ACT_NONE, r->m->wt, NULL};
            ef_kernels_conv2d(r->k, r->pool, &sc);
            res = out;
        }
        /* out = conv2(h2) + shortcut (output_scale_factor 1) */
        ef_conv2d_args c2 = {h2, rb->conv2_w, rb->conv2_b, res, out, co, H, W, co, 3, 3, 1, 1, H, W, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_conv2d(r->k, r->pool, &c2);
    }
    ef_arena_reset(r->arena, mark);
}

/* ---- Transformer2DModel ---------------------------------------------------------------- */

/* Scratch of one Transformer2DModel call. */
typedef struct attn_bufs {
    float  *tok;      /* (S, C) residual stream */
    float  *n;        /* (S, C) normed tokens; attention output */
    float  *big;      /* (big_n): GroupNorm output (C, S), qkv (S, 3C), q (S, C), FF chunk (R, 8C) */
    int64_t big_n;
    float  *kv;       /* (T, 2C) cross-attention keys | values */
} attn_bufs;

/* Token downsampling of one self-attention: qkv (H*W, 3C) holds q | k | v per token
** row; the k and v of row j become the mean over the f x f window j of the (H, W) token
** grid (Hd = ceil(H/f) rows of Wd = ceil(W/f) windows; edge windows average the tokens
** they have). In place: window j's tokens are rows >= j, so writing row j in increasing
** j never overwrites a row still to be read. q is untouched. Returns Hd * Wd. */
static int64_t pool_kv(float *qkv, int64_t H, int64_t W, int64_t C, int64_t f) {
    const int64_t Hd = (H + f - 1) / f, Wd = (W + f - 1) / f;
    for (int64_t yd = 0; yd < Hd; yd++)
        for (int64_t xd = 0; xd < Wd; xd++) {
            const int64_t y1 = EF_MIN((yd + 1) * f, H), x1 = EF_MIN((xd + 1) * f, W);
            float *dst = qkv + (yd * Wd + xd) * 3 * C + C;   /* k | v of row j, 2C floats */
            const float inv = 1.0f / (float)((y1 - yd * f) * (x1 - xd * f));
            for (int64_t c = 0; c < 2 * C; c++) {
                float s = 0.0f;
                for (int64_t y = yd * f; y < y1; y++)
                    for (int64_t x = xd * f; x < x1; x++) s += qkv[(y * W + x) * 3 * C + C + c];
                dst[c] = s * inv;
            }
        }
    return Hd * Wd;
}

/* One BasicTransformerBlock on tok (S = H*W, C), in place. */
static void tblock_run(unet_run *r, const unet_tblock *tb, const attn_bufs *b, int64_t H, int64_t W, int64_t C,
                       int64_t heads) {
    const int64_t S = H * W;
    const ef_kernels *k = r->k;
    ef_pool *pool = r->pool;
    const int64_t Dh = C / heads, T = r->T, Dctx = r->m->cfg.cross_attention_dim, F = 4 * C;
    const float scale = (float)(1.0 / sqrt((double)Dh));

    /* self-attention: tok += to_out(attn(q, k, v of norm1(tok))) */
    ef_layer_norm_args ln1 = {b->tok, b->n, tb->norm1_g, tb->norm1_b, S, C, 1e-5f};
    ef_kernels_layer_norm(k, pool, &ln1);
    ef_linear_args qkv = {b->n, tb->w_qkv, NULL, NULL, b->big, S, 3 * C, C, C, 3 * C, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_linear(k, pool, &qkv);
    int64_t Tk = S;   /* keys: all tokens, or the pooled ones at the top level */
    if (r->kv_down > 1 && H == r->top_h && W == r->top_w) Tk = pool_kv(b->big, H, W, C, r->kv_down);
    ef_attention_args sa = {b->big, b->big + C, b->big + 2 * C, b->n, S, Tk, heads, Dh, 3 * C, 3 * C, 3 * C, C, scale, 0};
    ef_kernels_attention(k, pool, &sa);
    ef_linear_args o1 = {b->n, tb->w_o1, tb->b_o1, b->tok, b->tok, S, C, C, C, C, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_linear(k, pool, &o1);

    /* cross-attention over the text: keys and values from ctx (T, Dctx) */
    ef_layer_norm_args ln2 = {b->tok, b->n, tb->norm2_g, tb->norm2_b, S, C, 1e-5f};
    ef_kernels_layer_norm(k, pool, &ln2);
    ef_linear_args q2 = {b->n, tb->w_q2, NULL, NULL, b->big, S, C, C, C, C, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_linear(k, pool, &q2);
    ef_linear_args kv = {r->ctx, tb->w_kv2, NULL, NULL, b->kv, T, 2 * C, Dctx, Dctx, 2 * C, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_linear(k, pool, &kv);
    ef_attention_args ca = {b->big, b->kv, b->kv + C, b->n, S, T, heads, Dh, C, 2 * C, 2 * C, C, scale, 0};
    ef_kernels_attention(k, pool, &ca);
    ef_linear_args o2 = {b->n, tb->w_o2, tb->b_o2, b->tok, b->tok, S, C, C, C, C, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_linear(k, pool, &o2);

    /* feed-forward, R token rows at a time: tok += ff2(geglu(ff1(norm3(tok)))) */
    ef_layer_norm_args ln3 = {b->tok, b->n, tb->norm3_g, tb->norm3_b, S, C, 1e-5f};
    ef_kernels_layer_norm(k, pool, &ln3);
    int64_t R = b->big_n / (2 * F);
    if (R > S) R = S;
    for (int64_t r0 = 0; r0 < S; r0 += R) {
        int64_t rows = S - r0 < R ? S - r0 : R;
        float *tr = b->tok + r0 * C;   /* (rows, C) */
        ef_linear_args f1 = {b->n + r0 * C, tb->w_ff1, tb->b_ff1, NULL, b->big, rows, 2 * F, C, C, 2 * F, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_linear(k, pool, &f1);
        ef_geglu_args gg = {b->big, b->big, rows, F, 2 * F, 2 * F};   /* in place: value half of each row */
        ef_kernels_geglu(k, pool, &gg);
        ef_linear_args f2 = {b->big, tb->w_ff2, tb->b_ff2, tr, tr, rows, C, F, 2 * F, C, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_linear(k, pool, &f2);
    }
}

void ef_unet_attn_run(unet_run *r, const unet_attn *ab, float *x, int64_t H, int64_t W) {
    const int64_t S = H * W, C = ab->c, G = r->m->cfg.norm_num_groups;
    size_t mark = ef_arena_mark(r->arena);
    attn_bufs b;
    b.tok = ef_unet_alloc(r, S * C);
    b.n = ef_unet_alloc(r, S * C);
    /* 3SC holds the GroupNorm output and qkv; 8C guarantees one feed-forward row. Below the
    ** top level, as much as the top level's 3SC (the arena has that room anyway) for the
    ** feed-forward's row chunks: fewer chunks, each re-packing the FF weights, at 16x16
    ** one chunk of 256 rows instead of 96 + 96 + 64. */
    const int64_t top = 3 * r->top_h * r->top_w * r->m->cfg.block_out[0];
    b.big_n = EF_MAX(EF_MAX(3 * S * C, 8 * C), EF_MIN(8 * C * S, top));
    b.big = ef_unet_alloc(r, b.big_n);
    b.kv = ef_unet_alloc(r, r->T * 2 * C);
    if (!r->dry) {
        const ef_kernels *k = r->k;
        /* tok (S, C) = proj_in(groupnorm(x)^T); a 1x1 conv and a Linear are the same sum */
        ef_group_norm_args gn = {x, b.big, ab->norm_g, ab->norm_b, C, S, G, 1e-6f, EF_ACT_NONE};
        ef_kernels_group_norm(k, r->pool, &gn);
        ef_transpose_args t_in = {b.big, NULL, b.n, C, S};
        ef_kernels_transpose(k, r->pool, &t_in);
        ef_linear_args pin = {b.n, ab->proj_in_w, ab->proj_in_b, NULL, b.tok, S, C, C, C, C, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_linear(k, r->pool, &pin);
        for (int j = 0; j < ab->n_blocks; j++) tblock_run(r, &ab->blocks[j], &b, H, W, C, ab->heads);
        /* x (C, S) += proj_out(tok)^T */
        ef_linear_args pout = {b.tok, ab->proj_out_w, ab->proj_out_b, NULL, b.n, S, C, C, C, C, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_linear(k, r->pool, &pout);
        ef_transpose_args t_out = {b.n, x, x, S, C};
        ef_kernels_transpose(k, r->pool, &t_out);
    }
    ef_arena_reset(r->arena, mark);
}

/* ---- samplers ------------------------------------------------------------------------ */

void ef_unet_downsample_run(unet_run *r, const void *w, const float *b, int64_t C, const float *x, float *out,
                            int64_t H, int64_t W) {
    if (r->dry) return;
    const int64_t Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
    ef_conv2d_args a = {x, w, b, NULL, out, C, H, W, C, 3, 3, 2, 1, Ho, Wo, EF_ACT_NONE, r->m->wt, NULL};
    ef_kernels_conv2d(r->k, r->pool, &a);
}

void ef_unet_upsample_run(unet_run *r, const void *w, const float *b, int64_t C, const float *x, float *out,
                          int64_t H, int64_t W) {
    size_t mark = ef_arena_mark(r->arena);
    float *up = ef_unet_alloc(r, C * 4 * H * W);   /* (C, 2H, 2W) */
    if (!r->dry) {
        ef_upsample2x_args u = {x, up, C, H, W};
        ef_kernels_upsample2x(r->k, r->pool, &u);
        ef_conv2d_args a = {up, w, b, NULL, out, C, 2 * H, 2 * W, C, 3, 3, 1, 1, 2 * H, 2 * W, EF_ACT_NONE, r->m->wt, NULL};
        ef_kernels_conv2d(r->k, r->pool, &a);
    }
    ef_arena_reset(r->arena, mark);
}
