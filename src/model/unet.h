/*
** unet.h -- the SD-1.x/2.x family UNet (diffusers UNet2DConditionModel): SD-1.5,
** BK-SDM Base/Small/Tiny, SD-2 style (linear projections, per-stage heads) and
** LCM-distilled UNets (time_cond_proj_dim), in fp32, matching diffusers.
**
** Lifecycle: ef_unet_load (config + weights, converted to one f32 arena) ->
** ef_unet_plan (activation arena for one latent size and text length: the only
** activation allocation) -> ef_unet_forward any number of times (allocates nothing;
** calling it twice per step for classifier-free guidance costs two forwards and no
** setup) -> ef_unet_free. Not here: batching, schedulers, the text encoder, other
** UNet families (SDXL's addition embeddings, ControlNet residuals, ...).
**
** Legend: Cin/Cout = in/out latent channels, h,w = latent height/width, T = text
** tokens, Dctx = cross_attention_dim, Dc = time_cond_proj_dim, C_i = channels of stage i.
*/
#ifndef EF_MODEL_UNET_H
#define EF_MODEL_UNET_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "model/wmat_load.h"

#define EF_UNET_MAX_STAGES 8

typedef struct ef_unet_config {
    int64_t in_channels;                        /* Cin (4; 9 for inpainting) */
    int64_t out_channels;                       /* Cout */
    int64_t sample_size[2];                     /* h, w the model was trained at; 0 if absent (informational) */
    int     n_stages;                           /* len(block_out_channels) */
    int64_t block_out[EF_UNET_MAX_STAGES];      /* C_i */
    int     down_attn[EF_UNET_MAX_STAGES];      /* stage i: 1 CrossAttnDownBlock2D, 0 DownBlock2D */
    int     up_attn[EF_UNET_MAX_STAGES];        /* up block i (0 = deepest): 1 CrossAttnUpBlock2D, 0 UpBlock2D */
    int64_t heads[EF_UNET_MAX_STAGES];          /* attention heads of stage i (attention_head_dim, SD-1 meaning) */
    int64_t layers_per_block;                   /* resnet(+attention) pairs per down block; up blocks have one more */
    int64_t transformer_layers;                 /* BasicTransformerBlocks per Transformer2DModel */
    int     mid_attn;                           /* 1: UNetMidBlock2DCrossAttn, 0: no mid block */
    int64_t cross_attention_dim;                /* Dctx */
    int     use_linear_projection;              /* proj_in/out: 1 Linear, 0 1x1 Conv (same math) */
    int64_t time_cond_proj_dim;                 /* Dc; 0 = no time_embedding.cond_proj */
    int     flip_sin_to_cos;
    double  freq_shift;
    int64_t norm_num_groups;
    double  norm_eps;                           /* resnets and conv_norm_out (Transformer2D's GroupNorm: 1e-6) */
    int     upcast_attention;                   /* accepted: attention is fp32 anyway */
} ef_unet_config;

/* Reads a diffusers UNet2DConditionModel config (the parsed unet/config.json). Absent
** fields take diffusers' defaults (e.g. mid_block_type "UNetMidBlock2DCrossAttn",
** layers_per_block 2, attention_head_dim 8, cross_attention_dim 1280); JSON null
** means None (mid_block_type null: no mid block). Fields that would change the math in
** a way this module does not implement are refused, never ignored:
**   EF_ERR_UNSUPPORTED "label: unsupported unet config: FIELD=VALUE"
** (class_embed_type, addition_embed_type, encoder_hid_dim[_type], num_attention_heads,
** resnet_time_scale_shift != "default", time_embedding_type != "positional",
** time_embedding_dim, time_embedding_act_fn, timestep_post_act, conv_in/out_kernel != 3,
** only_cross_attention, dual_cross_attention, act_fn other than silu/swish,
** center_input_sample, resnet_out_scale_factor != 1, mid_block_scale_factor != 1,
** downsample_padding != 1, attention_type != "default", class_embeddings_concat,
** num_class_embeds, cross_attention_norm, resnet_skip_time_act,
** mid_block_only_cross_attention, reverse_transformer_layers_per_block, list-valued
** layers_per_block / transformer_layers_per_block / cross_attention_dim, block types
** other than (CrossAttn)DownBlock2D / (CrossAttn)UpBlock2D, other mid blocks,
** _class_name other than UNet2DConditionModel). Malformed values (wrong JSON type,
** out of range, list lengths that disagree, channels not divisible by
** norm_num_groups or by the stage's head count) give EF_ERR_FORMAT naming the field.
** Fields without effect on this math (dropout, addition_embed_type_num_heads,
** addition_time_embed_dim, projection_class_embeddings_input_dim, _name_or_path, ...)
** and unknown keys are ignored, as diffusers does. Safe on any JSON. */
ef_status ef_unet_config_parse(const cJSON *root, const char *label, ef_unet_config *out, ef_err *err);

typedef struct ef_unet ef_unet;

/* Loads component_dir (e.g. "<pipe>/unet"): config.json, then the weights through
** ef_weights_open(component_dir, variant, use_mmap), bound by their diffusers names
** (conv_in.*, time_embedding.{linear_1,linear_2,cond_proj}.*,
** down_blocks.i.{resnets,attentions}.j.*, down_blocks.i.downsamplers.0.conv.*,
** mid_block.*, up_blocks.i.*.upsamplers.0.conv.*, conv_norm_out.*, conv_out.*) with
** shape checks; any tensor the config does not explain is refused by name. Any float
** dtype is converted to one f32 arena, the only resident copy: with use_mmap the file
** is re-mapped every few tens of MiB so the pages already converted leave the
** process's resident set (peak ~ weights + 128 MiB, not 2x weights). On failure *out
** is NULL and err names the file, field or tensor. */
ef_status ef_unet_load(const char *component_dir, const char *variant, int use_mmap, ef_unet **out, ef_err *err);

/* ef_unet_load storing the matrices of every convolution and linear layer as wt
** (kernels/wmat.h: f16, bf16, or q8 = int8 with a scale per output channel), converted
** from the file's dtype at load; norms and biases stay f32. Matrices stored in the
** file as I8 + "<name>.q8_scale" (io/weights.h) are copied into a q8 model and
** dequantized for the other types. wt EF_W_FROM_FILE (model/wmat_load.h): the type
** the file's matrices share (f16, bf16, q8), f32 when they differ. */
ef_status ef_unet_load_typed(const char *component_dir, const char *variant, int use_mmap, ef_wtype wt, ef_unet **out,
                             ef_err *err);

/* Calls fn(user, name) for every tensor of a UNet with component_dir's config.json
** that ef_unet_load binds as a matrix (conv and linear weights; q/k/v parts one by
** one), in bind order. Reads only the config. Errors: those of the config. */
ef_status ef_unet_visit_matrices(const char *component_dir, ef_wmat_visit_fn fn, void *user, ef_err *err);

/* Sizes the activation arena for latents of h x w and n_tokens text tokens: a dry run
** of the forward pass through a measuring arena, then one allocation of exactly its
** high-water mark (replacing any previous plan). h and w must be multiples of
** 2^(n_stages-1) (diffusers' upsample_size path for other sizes is not implemented)
** and at most 4096; 1 <= n_tokens <= 4096. Errors: EF_ERR_INVALID_ARG (sizes),
** EF_ERR_NOMEM. */
ef_status ef_unet_plan(ef_unet *m, int h, int w, int n_tokens, ef_err *err);

/* One UNet evaluation at the planned size (batch 1):
**   sample (Cin, h, w), timestep t, text (T, Dctx) [, timestep_cond (Dc)] -> out (Cout, h, w).
** timestep_cond may be NULL (diffusers' timestep_cond=None: cond_proj is skipped);
** non-NULL needs a model with time_cond_proj_dim. out must not overlap the inputs.
** k NULL = the ref kernels; pool NULL = one thread; results are bit-identical for any
** pool size. Uses m's activation arena: one call at a time per model. Errors:
** EF_ERR_INVALID_ARG (NULL pointers, no plan, timestep_cond without cond_proj,
** non-finite timestep). */
ef_status ef_unet_forward(ef_unet *m, ef_pool *pool, const ef_kernels *k, const float *sample, float timestep,
                          const float *text, const float *timestep_cond, float *out, ef_err *err);

/* Token downsampling (ToDo, Smith et al. 2024) in the self-attention of the top level
** (the blocks at the latent's own size): keys and values come from the tokens averaged
** over factor x factor windows (a window past an odd edge averages the tokens it has),
** queries from all of them, so the attention costs factor^2 less. Exactly diffusers with
** an attention processor that passes the pooled hidden states as the self-attention's
** context (to_k and to_v are affine: pooling before or after them is the same sum). An
** approximation of the model: off (1) by default; factor 2 is ToDo's. factor in 1..4. */
void ef_unet_set_kv_downsample(ef_unet *m, int factor);

/* Observer of block outputs (tests, debugging): called during ef_unet_forward, in
** order, with name "conv_in", "down_blocks.i" (after the block's downsampler),
** "mid_block", "up_blocks.i" (after its upsampler), and x (c, h, w) valid only during
** the call. fn NULL removes it. */
typedef void (*ef_unet_hook_fn)(void *user, const char *name, const float *x, int64_t c, int64_t h, int64_t w);
void ef_unet_set_hook(ef_unet *m, ef_unet_hook_fn fn, void *user);

/* Accessors of a loaded model (m must not be NULL). */
const ef_unet_config *ef_unet_get_config(const ef_unet *m);
int64_t ef_unet_n_params(const ef_unet *m);          /* floats loaded: 859,520,964 for SD-1.5 */
ef_wtype ef_unet_wtype(const ef_unet *m);            /* how the matrices are stored */
int     ef_unet_downscale(const ef_unet *m);         /* 2^(n_stages-1): h and w must be multiples */
size_t  ef_unet_activation_bytes(const ef_unet *m);  /* the planned arena; 0 before ef_unet_plan */

/* The planned activation arena's pages go back to the OS (the plan stays; the next
** forward touches them again). Between generations, or before the VAE decode. */
void ef_unet_release_activations(ef_unet *m);

void ef_unet_free(ef_unet *m);                       /* NULL is a no-op */

#endif /* EF_MODEL_UNET_H */
