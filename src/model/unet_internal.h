/*
** unet_internal.h -- the UNet's structures shared by its files (never included outside
** src/model/unet*.c):
**   unet_config.c  config.json -> ef_unet_config
**   unet_load.c    skeleton from the config, weight binding, ef_unet_load/free
**   unet_blocks.c  ResnetBlock2D, Transformer2DModel, down/upsamplers on one image
**   unet.c         timestep embedding, the down/mid/up walk, plan, forward
**
** Vector weights (norms, biases) are views into ef_unet.weights (f32); the matrices of
** the convolutions and linears (const void *) are views into ef_unet.mats, stored as
** ef_unet.wt (kernels/wmat.h) in torch layouts. Shapes use
** the legend of unet.h; S = H*W of the block's level, Dt = time embedding dim
** (4*C_0), F = feed-forward inner dim (4C).
*/
#ifndef EF_MODEL_UNET_INTERNAL_H
#define EF_MODEL_UNET_INTERNAL_H

#include "core/arena.h"
#include "model/unet.h"

/* ResnetBlock2D: out = shortcut(x) + conv2(silu(gn2(conv1(silu(gn1(x))) + proj(silu(temb))))). */
typedef struct unet_resnet {
    int64_t      cin, cout;
    const float *norm1_g, *norm1_b;   /* (cin), (cin) */
    const void  *conv1_w; const float *conv1_b; /* (cout, cin, 3, 3), (cout) */
    const void  *temb_w; const float *temb_b; /* (cout, Dt), (cout): time_emb_proj */
    const float *norm2_g, *norm2_b;   /* (cout), (cout) */
    const void  *conv2_w; const float *conv2_b; /* (cout, cout, 3, 3), (cout) */
    const void  *short_w; const float *short_b; /* (cout, cin, 1, 1), (cout); NULL when cin == cout */
} unet_resnet;

/* BasicTransformerBlock (pre-LN; self-attention, cross-attention, GEGLU feed-forward). */
typedef struct unet_tblock {
    const float *norm1_g, *norm1_b;   /* (C) */
    const void  *w_qkv;               /* (3C, C): attn1 to_q, to_k, to_v rows (no bias) */
    const void  *w_o1; const float *b_o1; /* (C, C), (C): attn1 to_out.0 */
    const float *norm2_g, *norm2_b;   /* (C) */
    const void  *w_q2;                /* (C, C): attn2 to_q */
    const void  *w_kv2;               /* (2C, Dctx): attn2 to_k, to_v rows */
    const void  *w_o2; const float *b_o2; /* (C, C), (C) */
    const float *norm3_g, *norm3_b;   /* (C) */
    const void  *w_ff1; const float *b_ff1; /* (2F, C), (2F): ff.net.0.proj (value rows, then gate rows) */
    const void  *w_ff2; const float *b_ff2; /* (C, F), (C): ff.net.2 */
} unet_tblock;

/* Transformer2DModel (continuous input): x + proj_out(blocks(proj_in(gn(x)))). */
typedef struct unet_attn {
    int64_t      c, heads;
    int          n_blocks;            /* transformer_layers_per_block */
    const float *norm_g, *norm_b;     /* (C): GroupNorm, eps 1e-6 */
    const void  *proj_in_w; const float *proj_in_b; /* (C, C) [Linear, or a (C, C, 1, 1) conv], (C) */
    unet_tblock *blocks;              /* (n_blocks) */
    const void  *proj_out_w; const float *proj_out_b; /* (C, C), (C) */
} unet_attn;

/* A down block, the mid block or an up block: n_res resnets, each followed by an
** attention when has_attn (the mid block: resnet, then (attn, resnet) pairs), and an
** optional 3x3 conv sampler (stride 2 for down, after a nearest 2x for up). */
typedef struct unet_block {
    int          n_res;
    int          n_attn;              /* n_res for down/up, n_res - 1 for mid; 0 without attention */
    int          has_attn;
    int          has_sampler;         /* down: stride-2 conv; up: nearest 2x + conv (all but the last) */
    int          level;               /* spatial level: the block runs at (h >> level, w >> level) */
    int64_t      cout;
    unet_resnet *res;                 /* (n_res) */
    unet_attn   *attn;                /* (n_attn); NULL without attention */
    const void  *sampler_w; const float *sampler_b; /* (cout, cout, 3, 3), (cout) when has_sampler */
} unet_block;

struct ef_unet {
    ef_unet_config cfg;
    int64_t      t_in, t_dim;         /* timestep embedding: C_0 sinusoid -> Dt = 4 C_0 */
    float       *weights;             /* the vectors: n_vec floats */
    int64_t      n_vec;
    char        *mats;                /* the matrices, each stored as wt, 64-byte aligned: mats_bytes */
    size_t       mats_bytes;
    ef_wtype     wt;
    ef_weights  *file;                /* kept open when matrices are used in place (zero-copy), or NULL */
    int64_t      n_params;            /* all parameters */
    const void  *conv_in_w; const float *conv_in_b; /* (C_0, Cin, 3, 3), (C_0) */
    const void  *t_lin1_w; const float *t_lin1_b; /* (Dt, C_0), (Dt) */
    const void  *t_lin2_w; const float *t_lin2_b; /* (Dt, Dt), (Dt) */
    const void  *t_cond_w;                 /* (C_0, Dc) or NULL: time_embedding.cond_proj */
    const float *norm_out_g, *norm_out_b;  /* (C_0) */
    const void  *conv_out_w; const float *conv_out_b; /* (Cout, C_0, 3, 3), (Cout) */
    unet_block   down[EF_UNET_MAX_STAGES];
    unet_block   mid;                 /* n_res == 0 when absent */
    unet_block   up[EF_UNET_MAX_STAGES];
    /* plan */
    ef_arena     arena;               /* activations for (plan_h, plan_w, plan_T) */
    int          plan_h, plan_w, plan_T;
    ef_unet_hook_fn hook;
    void        *hook_user;
    int          kv_downsample;       /* ef_unet_set_kv_downsample; 0 or 1 = off */
};

/* Execution state of one forward (or of the plan's dry run). */
typedef struct unet_run {
    const ef_unet    *m;
    ef_pool          *pool;
    const ef_kernels *k;
    ef_arena         *arena;
    int               dry;            /* 1: allocate only; touch no data, form no derived pointers */
    const float      *temb;           /* (Dt): silu(time embedding), what every resnet projects */
    const float      *ctx;            /* (T, Dctx) text */
    int64_t           T;
    int64_t           top_h, top_w;   /* the latent's size: the top level, where kv_down applies */
    int               kv_down;        /* self-attention keys/values pooled kv_down x kv_down there (<= 1: off) */
} unet_run;

/* ef_unet_load without zero-copy: every matrix converted into the arena, the file
** re-mapped after each remap_bytes converted (tests pass a tiny budget to exercise the
** re-mapping path on small files). */
ef_status ef_unet_load_remap(const char *component_dir, const char *variant, int use_mmap, size_t remap_bytes,
                             ef_wtype wt, ef_unet **out, ef_err *err);

/* n floats from r's arena; NULL in a dry run. Outside a dry run the plan guarantees
** the space (an internal invariant, asserted). */
float *ef_unet_alloc(unet_run *r, int64_t n);

/* Block kernels (unet_blocks.c), on one image at spatial H x W (S = H*W). */
/* out (cout, S) = resnet(x (cin, S)); out may equal x only when cin == cout. */
void ef_unet_resnet_run(unet_run *r, const unet_resnet *rb, const float *x, float *out, int64_t H, int64_t W);
/* x (C, S) = transformer2d(x), in place. */
void ef_unet_attn_run(unet_run *r, const unet_attn *ab, float *x, int64_t H, int64_t W);
/* out (C, ceil(H/2), ceil(W/2)) = conv3x3 stride 2 pad 1 (x (C, H, W)). */
void ef_unet_downsample_run(unet_run *r, const void *w, const float *b, int64_t C, const float *x, float *out,
                            int64_t H, int64_t W);
/* out (C, 2H, 2W) = conv3x3 pad 1 (nearest2x (x (C, H, W))). */
void ef_unet_upsample_run(unet_run *r, const void *w, const float *b, int64_t C, const float *x, float *out,
                          int64_t H, int64_t W);

#endif /* EF_MODEL_UNET_INTERNAL_H */
