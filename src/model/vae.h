/*
** vae.h -- the image side of the pipeline: latents <-> images with diffusers'
** AutoencoderKL (the SD VAE) or AutoencoderTiny (TAESD), in fp32, matching diffusers.
**
** One handle (ef_vae) covers both kinds, so the pipeline treats them the same:
**   decode: latents (Lc, h, w), already unscaled (ef_vae_latents_to_decoder), ->
**           image (Co, f*h, f*w) in diffusers' [-1, 1] convention, not clamped;
**   encode: image (Ci, H, W) in [-1, 1] -> latents (Lc, H/f, W/f), unscaled (the
**           pipeline applies ef_vae_latents_from_encoder).
** f (ef_vae_downscale) is 8 for the SD VAE and TAESD. TAESD works on [0, 1] images
** internally; its decode returns 2x-1 and its encode takes (x+1)/2, exactly as
** diffusers' AutoencoderTiny does, so both kinds share one image convention.
**
** Loading: ef_vae_load reads a diffusers vae/ folder (config.json says AutoencoderKL
** or AutoencoderTiny); ef_vae_load_taesd takes the CLI's --taesd PATH: a diffusers
** folder, a folder holding madebyollin's taesd_decoder/taesd_encoder.safetensors, or
** one .safetensors file in either naming. Weights are converted to one f32 arena at
** load; the files are closed before returning.
**
** Memory: activations live in a workspace owned by the handle, grown on demand and
** then reused, so a second call at the same or a smaller size allocates nothing.
** ef_vae_decode_tiled bounds it by the tile size (see ef_vae_tiling). One call at a
** time per handle.
**
** Legend: Lc = latent channels, Ci/Co = image channels in/out (3), f = downscale
** factor, (h, w) latent size, (H, W) = (f*h, f*w) image size.
*/
#ifndef EF_MODEL_VAE_H
#define EF_MODEL_VAE_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"

#define EF_VAE_MAX_BLOCKS 8

/* Which halves to load (a txt2img pipeline needs only the decoder). */
enum { EF_VAE_DECODER = 1, EF_VAE_ENCODER = 2, EF_VAE_BOTH = 3 };

typedef enum ef_vae_kind { EF_VAE_KL, EF_VAE_TINY } ef_vae_kind;

/* diffusers AutoencoderKL config (vae/config.json). */
typedef struct ef_vae_kl_config {
    int64_t in_channels, out_channels;          /* Ci, Co */
    int64_t latent_channels;                    /* Lc */
    int64_t n_blocks;                           /* len(block_out_channels); f = 2^(n_blocks-1) */
    int64_t block_out_channels[EF_VAE_MAX_BLOCKS];
    int64_t layers_per_block;                   /* encoder resnets per block; the decoder has one more */
    int64_t norm_num_groups;                    /* divides every block's channels */
    int64_t sample_size;                        /* image pixels; diffusers' default tile */
    double  scaling_factor;                     /* 0.18215 when absent */
    double  shift_factor;                       /* 0 when absent or null */
    int     use_quant_conv, use_post_quant_conv, mid_block_add_attention;
} ef_vae_kl_config;

/* diffusers AutoencoderTiny config (also built from the shapes of madebyollin's files). */
typedef struct ef_vae_tiny_config {
    int64_t in_channels, out_channels;          /* Ci, Co */
    int64_t latent_channels;                    /* Lc */
    int64_t n_enc, n_dec;                       /* stages; f = 2^(n-1), the same for both */
    int64_t enc_channels[EF_VAE_MAX_BLOCKS];    /* encoder_block_out_channels (all equal) */
    int64_t dec_channels[EF_VAE_MAX_BLOCKS];    /* decoder_block_out_channels (all equal) */
    int64_t enc_blocks[EF_VAE_MAX_BLOCKS];      /* num_encoder_blocks */
    int64_t dec_blocks[EF_VAE_MAX_BLOCKS];      /* num_decoder_blocks */
    double  latent_magnitude, latent_shift;     /* for latent previews: x/(2m) + shift */
    double  scaling_factor, shift_factor;       /* 1 and 0 for TAESD */
} ef_vae_tiny_config;

/* Parse the configs. label (the config path) prefixes errors, which name the field:
** EF_ERR_FORMAT for missing/mistyped/out-of-range fields, EF_ERR_UNSUPPORTED as
** "label: unsupported vae config: FIELD=VALUE" for values this engine does not run
** (act_fn other than silu/swish resp. relu, block types other than
** DownEncoderBlock2D/UpDecoderBlock2D, non-null latents_mean/latents_std, unequal
** TAESD block channels, upsampling other than nearest 2x, ...). force_upcast and
** unknown keys are ignored. Safe on any JSON. */
ef_status ef_vae_kl_config_parse(const cJSON *root, const char *label, ef_vae_kl_config *out, ef_err *err);
ef_status ef_vae_tiny_config_parse(const cJSON *root, const char *label, ef_vae_tiny_config *out, ef_err *err);

/* diffusers' AutoencoderTiny defaults (TAESD for SD: 64 channels, 4 latents). */
ef_vae_tiny_config ef_vae_tiny_default_config(void);

typedef struct ef_vae ef_vae;

/* Loads a diffusers vae/ folder: config.json (_class_name AutoencoderKL or
** AutoencoderTiny), then the weights through ef_weights_open(dir, variant, use_mmap).
** parts: EF_VAE_DECODER and/or EF_VAE_ENCODER; the tensors of the other half are
** recognised by name and skipped. Tensors are bound by their diffusers names
** (encoder.*, decoder.*, quant_conv, post_quant_conv; encoder.layers.N /
** decoder.layers.N for the tiny one; the mid-block attention also under its
** pre-0.14 names query/key/value/proj_attn). Anything unexpected, missing or
** mis-shaped is refused naming the file and the tensor. On failure *out is NULL. */
ef_status ef_vae_load(const char *component_dir, const char *variant, int use_mmap, unsigned parts, ef_vae **out,
                      ef_err *err);

/* Loads TAESD from path (the CLI's --taesd PATH):
**   a folder with config.json                -> as ef_vae_load (AutoencoderTiny expected);
**   a folder with taesd_decoder.safetensors and/or taesd_encoder.safetensors, or with
**     only diffusion_pytorch_model.safetensors -> those files;
**   a .safetensors file                       -> that file.
** Files in madebyollin's naming (taesd.py's nn.Sequential indices: "1.weight",
** "3.conv.0.weight", ...; the decoder's indices are diffusers' + 1 for its Clamp) or
** diffusers' (decoder.layers.N...) are recognised by their tensor names. The
** architecture is taesd.py's, with the channel and latent counts read from the
** shapes. Requesting a half that path does not hold is EF_ERR_IO naming path. */
ef_status ef_vae_load_taesd(const char *path, int use_mmap, unsigned parts, ef_vae **out, ef_err *err);

void ef_vae_free(ef_vae *v);                     /* NULL is a no-op */

/* Accessors (v must not be NULL). */
ef_vae_kind ef_vae_get_kind(const ef_vae *v);
unsigned    ef_vae_parts(const ef_vae *v);       /* the halves loaded */
int         ef_vae_latent_channels(const ef_vae *v);
int         ef_vae_image_channels_out(const ef_vae *v);   /* Co, decode output */
int         ef_vae_image_channels_in(const ef_vae *v);    /* Ci, encode input */
int         ef_vae_downscale(const ef_vae *v);   /* f */
int64_t     ef_vae_n_params(const ef_vae *v, unsigned parts);   /* floats of those halves */
double      ef_vae_scaling_factor(const ef_vae *v);
double      ef_vae_shift_factor(const ef_vae *v);
const ef_vae_kl_config   *ef_vae_get_kl_config(const ef_vae *v);     /* NULL unless EF_VAE_KL */
const ef_vae_tiny_config *ef_vae_get_tiny_config(const ef_vae *v);   /* NULL unless EF_VAE_TINY */

/* The pipeline's latent scaling, kept out of decode/encode (as in diffusers):
**   to_decoder:   z = z / scaling_factor + shift_factor   (before ef_vae_decode)
**   from_encoder: z = (z - shift_factor) * scaling_factor (after ef_vae_encode)
** n floats in place. */
void ef_vae_latents_to_decoder(const ef_vae *v, float *z, size_t n);
void ef_vae_latents_from_encoder(const ef_vae *v, float *z, size_t n);

/* Decodes z (Lc, h, w) into img (Co, f*h, f*w), values in [-1, 1] convention, not
** clamped. k may be NULL (ref kernels), pool NULL (one thread); the result does not
** depend on the pool size. Errors: EF_ERR_INVALID_ARG (NULL, h or w outside
** [1, 4096], decoder not loaded), EF_ERR_NOMEM (workspace; names the bytes). */
ef_status ef_vae_decode(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *z, int64_t h, int64_t w,
                        float *img, ef_err *err);

/* Tiled decoding: diffusers' AutoencoderKL.tiled_decode algorithm, for both kinds.
** Latent tiles of tile x tile start every tile-overlap latents; each is decoded on
** its own, then blended into its upper and left neighbours over f*overlap pixels
** with diffusers' linear blend_v/blend_h ramps, and its first f*(tile-overlap)
** rows/columns are kept. With tile_latent_min_size = tile,
** tile_sample_min_size = f*tile and tile_overlap_factor = overlap/tile (exact in
** binary), the output equals diffusers' enable_tiling() decode. The workspace is
** sized for one tile, so memory does not grow with the image. */
typedef struct ef_vae_tiling {
    int64_t tile;      /* latent pixels per tile side, >= 1 */
    int64_t overlap;   /* latent pixels shared by neighbours, 0 <= 2*overlap <= tile */
} ef_vae_tiling;

/* 32 latents (256 px) with 8 of overlap: diffusers' 0.25 overlap factor, and a
** 1024x1024 SD-VAE decode well under 1 GB. */
ef_vae_tiling ef_vae_tiling_default(void);

/* As ef_vae_decode, tiled per t (NULL: ef_vae_tiling_default()). An image that fits
** one tile is decoded whole (identical to ef_vae_decode). EF_ERR_INVALID_ARG for a
** bad tiling. */
ef_status ef_vae_decode_tiled(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *z, int64_t h, int64_t w,
                              const ef_vae_tiling *t, float *img, ef_err *err);

/* Encodes img (Ci, H, W), [-1, 1] convention, H and W multiples of f in [f, 16384],
** into z (Lc, H/f, W/f). AutoencoderKL: noise NULL gives the posterior mean, else
** mean + exp(0.5 * clamp(logvar, -30, 20)) * noise (noise (Lc, H/f, W/f)), diffusers'
** DiagonalGaussianDistribution.sample with the given noise. AutoencoderTiny has no
** posterior: noise is ignored. Errors as ef_vae_decode (encoder not loaded, bad
** H/W). */
ef_status ef_vae_encode(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *img, int64_t H, int64_t W,
                        const float *noise, float *z, ef_err *err);

/* Bytes of the activation workspace now held; ef_vae_release_workspace frees it
** (the next call allocates again). */
size_t ef_vae_workspace_bytes(const ef_vae *v);
/* Workspace bytes an untiled decode of latents (h, w) needs (no allocation). */
size_t ef_vae_decode_workspace_bytes(const ef_vae *v, int64_t h, int64_t w);

void   ef_vae_release_workspace(ef_vae *v);

/* diffusers' VaeImageProcessor postprocess: rgb (H, W, C) = round_half_even(
** clamp(img * 0.5 + 0.5, 0, 1) * 255) from img (C, H, W) in [-1, 1], in float32 (NaN
** becomes 0). */
void ef_vae_image_to_rgb8(const float *img, int64_t C, int64_t H, int64_t W, uint8_t *rgb);

/* The encoder's input convention (VaeImageProcessor preprocess): img (C, H, W) =
** 2 * (rgb / 255) - 1 in float32, from rgb (H, W, C). */
void ef_vae_rgb8_to_image(const uint8_t *rgb, int64_t C, int64_t H, int64_t W, float *img);

#endif /* EF_MODEL_VAE_H */
