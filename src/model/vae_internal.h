/*
** vae_internal.h -- what the vae*.c files share and nobody else needs: the layer
** views into the weight arena, the weight binder (a component folder or one
** .safetensors file), the activation workspace and the building-block ops.
**
**   vae.c          handle, dispatch, latent scaling, image conversion
**   vae_config.c   config.json parsing for both kinds
**   vae_bind.c     binder + workspace
**   vae_ops.c      conv / resnet / attention / resampling blocks on the kernel table
**   vae_kl.c       AutoencoderKL: weights, workspace plan, encoder and decoder
**   vae_tiny.c     AutoencoderTiny (TAESD): weights in both namings, forward
**   vae_taesd.c    resolving the --taesd PATH
**   vae_tiling.c   tiled decoding
**
** Tensors are channel-major (C, H, W) for one image, like the kernels.
*/
#ifndef EF_MODEL_VAE_INTERNAL_H
#define EF_MODEL_VAE_INTERNAL_H

#include "io/safetensors.h"
#include "io/weights.h"
#include "model/vae.h"

/* ---- layer views ----------------------------------------------------------------- */

typedef struct vae_conv {
    const float *w;             /* (cout, cin, k, k) */
    const float *b;             /* (cout) or NULL */
    int64_t      cin, cout, k;  /* k: 1 or 3; padding k/2 */
} vae_conv;

typedef struct vae_norm {
    const float *g, *b;         /* (c), (c) */
    int64_t      c;
} vae_norm;

/* diffusers ResnetBlock2D without a time embedding:
**   y = conv2(silu(gn2(conv1(silu(gn1(x)))))) + (cin != cout ? conv_shortcut(x) : x) */
typedef struct vae_resnet {
    vae_norm n1, n2;
    vae_conv c1, c2;
    vae_conv sc;                /* 1x1, only when cin != cout (sc.w == NULL otherwise) */
} vae_resnet;

/* diffusers Attention as the VAE mid block builds it: one head over all pixels,
** GroupNorm first, residual connection, rescale_output_factor 1. */
typedef struct vae_attn {
    vae_norm     gn;
    const float *w_qkv, *b_qkv; /* (3C, C), (3C): to_q rows, then to_k, then to_v */
    const float *w_o, *b_o;     /* (C, C), (C): to_out.0 */
    int64_t      c;
} vae_attn;

typedef struct vae_stage {
    vae_resnet *res;            /* (n_res), into the handle's resnet array */
    int64_t     n_res;
    vae_conv    resample;       /* downsample (3x3 s2 after a (0,1,0,1) pad) or upsample conv; w NULL if none */
} vae_stage;

typedef struct vae_kl_encoder {
    vae_conv   conv_in;
    vae_stage  stage[EF_VAE_MAX_BLOCKS];
    vae_resnet mid0, mid1;
    vae_attn   attn;            /* attn.w_qkv NULL when mid_block_add_attention is false */
    vae_norm   norm_out;
    vae_conv   conv_out;        /* -> 2 Lc moments */
    vae_conv   quant;           /* 1x1, w NULL when use_quant_conv is false */
} vae_kl_encoder;

typedef struct vae_kl_decoder {
    vae_conv   post_quant;      /* 1x1, w NULL when use_post_quant_conv is false */
    vae_conv   conv_in;
    vae_resnet mid0, mid1;
    vae_attn   attn;
    vae_stage  stage[EF_VAE_MAX_BLOCKS];   /* up blocks, deepest first */
    vae_norm   norm_out;
    vae_conv   conv_out;
} vae_kl_decoder;

/* TAESD: every conv is 3x3; a block is relu(conv(relu(conv(relu(conv(x))))) + x). */
typedef struct vae_tiny_block {
    vae_conv c0, c1, c2;
} vae_tiny_block;

typedef struct vae_tiny_stage {
    vae_conv        conv;       /* encoder: conv_in (stage 0) or stride-2 conv; decoder: conv after the upsample / conv_out */
    vae_tiny_block *blocks;     /* (n_blocks) */
    int64_t         n_blocks;
} vae_tiny_stage;

typedef struct vae_tiny_encoder {
    vae_tiny_stage stage[EF_VAE_MAX_BLOCKS];
    vae_conv       conv_out;    /* -> Lc */
} vae_tiny_encoder;

typedef struct vae_tiny_decoder {
    vae_conv       conv_in;     /* Lc -> C, then relu */
    vae_tiny_stage stage[EF_VAE_MAX_BLOCKS];   /* blocks, then [upsample] conv */
} vae_tiny_decoder;

/* ---- the handle -------------------------------------------------------------------- */

struct ef_vae {
    ef_vae_kind        kind;
    unsigned           parts;
    ef_vae_kl_config   kl;      /* valid when kind == EF_VAE_KL */
    ef_vae_tiny_config tiny;    /* valid when kind == EF_VAE_TINY */
    float             *weights; /* the arena */
    int64_t            n_params, n_params_enc, n_params_dec;
    vae_resnet        *resnets; /* KL: every resnet of both halves */
    vae_tiny_block    *blocks;  /* tiny: every block of both halves */
    vae_kl_encoder     kl_enc;
    vae_kl_decoder     kl_dec;
    vae_tiny_encoder   tiny_enc;
    vae_tiny_decoder   tiny_dec;
    float             *ws;      /* the activation workspace */
    size_t             ws_floats;
};

/* ---- binder ------------------------------------------------------------------------- */

/* Tensors come from a component folder (w) or from one file (f, with its own
** used-flags); bind calls copy them into the arena at next. With load == 0 the walk
** only marks names as ignored (the half that was not requested). */
typedef struct vae_bind {
    ef_weights    *w;
    ef_st_file    *f;
    unsigned char *used;        /* (ef_st_count(f)) */
    const char    *label;       /* file name for errors */
    float         *next, *end;  /* arena cursor */
    int            load;
} vae_bind;

/* Loads tensor name, exactly ndim dims equal to shape, as f32 into the arena and
** returns its view in *out (or, when b->load == 0, marks it ignored and sets *out
** NULL). Errors name the file and the tensor. */
ef_status ef_vae_bind_tensor(vae_bind *b, const char *name, int ndim, const int64_t *shape, const float **out,
                          ef_err *err);

/* The tensor's metadata if present, else NULL. */
const ef_st_tensor *ef_vae_bind_find(const vae_bind *b, const char *name);

/* Binds "<prefix>weight" (cout, cin, k, k) and, when bias, "<prefix>bias" (cout). */
ef_status ef_vae_bind_conv(vae_bind *b, const char *prefix, int64_t cin, int64_t cout, int64_t k, int bias,
                        vae_conv *c, ef_err *err);
/* Binds "<prefix>weight" and "<prefix>bias", both (c). */
ef_status ef_vae_bind_norm(vae_bind *b, const char *prefix, int64_t c, vae_norm *n, ef_err *err);

/* For the single-file binder: EF_ERR_FORMAT naming the first unused tensors. */
ef_status ef_vae_bind_check_all_used(const vae_bind *b, ef_err *err);

/* ---- workspace ---------------------------------------------------------------------- */

/* Makes v->ws hold at least floats floats (grow only). EF_ERR_NOMEM names the size. */
ef_status ef_vae_ws_reserve(ef_vae *v, size_t floats, ef_err *err);

/* ---- ops (vae_ops.c); ctx carries the kernel table and the pool ---------------------- */

typedef struct vae_ctx {
    const ef_kernels *k;
    ef_pool          *pool;
} vae_ctx;

/* y (cout, Ho, Wo) = act(conv(x (cin, H, W))) + r, zero padding k/2 (pad 0 when
** explicitly asked through pad >= 0), stride s. r may be y or NULL. */
void ef_vae_op_conv(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, int64_t stride,
                 int64_t pad, ef_act act, const float *r, float *y);

/* y = groupnorm(x (C, S)) with groups G and eps, then act. y may be x. */
void ef_vae_op_group_norm(const vae_ctx *c, const vae_norm *n, int64_t G, float eps, ef_act act, const float *x,
                       int64_t S, float *y);

/* ResnetBlock2D on x (cin, H, W) -> out (cout, H, W) in t0; t1 is scratch. t0, t1 and x
** distinct, each >= max(cin, cout) * H * W floats. */
void ef_vae_op_resnet(const vae_ctx *c, const vae_resnet *r, int64_t G, const float *x, int64_t H, int64_t W,
                   float *t0, float *t1);

/* Mid-block attention in place on x (C, H, W); t0 >= 3*C*H*W and t1 >= C*H*W floats. */
void ef_vae_op_attention(const vae_ctx *c, const vae_attn *a, int64_t G, float *x, int64_t H, int64_t W, float *t0,
                      float *t1);

/* Downsample2D(padding=0): y (cout, H/2, W/2) = conv3x3 s2 of x padded by one zero row
** below and one column right; pad_buf >= cin*(H+1)*(W+1) floats. */
void ef_vae_op_downsample(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, float *pad_buf,
                       float *y);

/* Upsample2D: y (cout, 2H, 2W) = conv3x3(nearest2x(x)); up_buf >= cin*4*H*W floats. */
void ef_vae_op_upsample(const vae_ctx *c, const vae_conv *cv, const float *x, int64_t H, int64_t W, float *up_buf,
                     float *y);

/* ---- per-kind entry points ---------------------------------------------------------- */

ef_status ef_vae_kl_bind(ef_vae *v, vae_bind *b, ef_err *err);          /* after v->kl and v->parts are set */
int64_t   ef_vae_kl_count_params(const ef_vae_kl_config *c, unsigned parts);
size_t    ef_vae_kl_decode_ws(const ef_vae_kl_config *c, int64_t h, int64_t w);   /* floats */
size_t    ef_vae_kl_encode_ws(const ef_vae_kl_config *c, int64_t H, int64_t W);
/* Forward passes on the reserved workspace (sizes already checked). */
void ef_vae_kl_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img);
void ef_vae_kl_encode_run(ef_vae *v, const vae_ctx *c, const float *img, int64_t H, int64_t W, const float *noise,
                       float *z);

/* The tiny model's names: diffusers ("encoder.layers." / "decoder.layers.", offsets 0)
** or madebyollin's ("" with the decoder's indices + 1). */
typedef struct vae_tiny_naming {
    const char *enc_prefix, *dec_prefix;
    int         enc_offset, dec_offset;
} vae_tiny_naming;
extern const vae_tiny_naming ef_vae_naming_diffusers, ef_vae_naming_original;

/* Walks the halves in `walk` (what the source holds) under naming nm: those in
** v->parts are loaded into the arena at b->next, the others only marked known; then
** refuses tensors the walk did not name. */
ef_status ef_vae_tiny_bind(ef_vae *v, vae_bind *b, const vae_tiny_naming *nm, unsigned walk, ef_err *err);
int64_t   ef_vae_tiny_count_params(const ef_vae_tiny_config *c, unsigned parts);
size_t    ef_vae_tiny_decode_ws(const ef_vae_tiny_config *c, int64_t h, int64_t w);
size_t    ef_vae_tiny_encode_ws(const ef_vae_tiny_config *c, int64_t H, int64_t W);
void ef_vae_tiny_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img);
void ef_vae_tiny_encode_run(ef_vae *v, const vae_ctx *c, const float *img, int64_t H, int64_t W, float *z);

/* Allocates v->weights for n floats (vae_bind.c). */
ef_status ef_vae_alloc_arena(ef_vae *v, int64_t n_floats, ef_err *err);

/* For v's kind, config and parts: counts the parameters of each half, allocates the
** per-layer arrays and the weight arena (vae.c). */
ef_status ef_vae_prepare(ef_vae *v, ef_err *err);

/* Argument checks shared by the plain and tiled decode. */
ef_status ef_vae_check_decode(const ef_vae *v, const float *z, int64_t h, int64_t w, const float *img, ef_err *err);

/* Decode on v's workspace after argument checks (used by the tiled decoder, which
** reserves the workspace itself). */
size_t ef_vae_decode_ws(const ef_vae *v, int64_t h, int64_t w);
void   ef_vae_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img);

#endif /* EF_MODEL_VAE_INTERNAL_H */
