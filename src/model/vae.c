/*
** vae.c -- the ef_vae handle: loading a diffusers vae/ folder of either kind,
** argument checks and dispatch of decode/encode, the pipeline's latent scaling and
** the float <-> RGB8 image conventions.
**
** Not here: the networks (vae_kl.c, vae_tiny.c), --taesd paths (vae_taesd.c), tiling
** (vae_tiling.c).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "core/platform.h"
#include "io/json.h"
#include "model/vae_internal.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define MAX_LATENT_SIDE 4096     /* 32768 px at f = 8 */
#define MAX_IMAGE_SIDE 16384

/* ---- loading a folder ------------------------------------------------------------ */

/* Sizes the arena and the per-layer arrays for v's config and parts. */
static ef_status alloc_layers(ef_vae *v, ef_err *err) {
    if (v->kind == EF_VAE_KL) {
        const ef_vae_kl_config *c = &v->kl;
        v->n_params_enc = ef_vae_kl_count_params(c, EF_VAE_ENCODER);
        v->n_params_dec = ef_vae_kl_count_params(c, EF_VAE_DECODER);
        v->resnets = calloc((size_t)(c->n_blocks * (2 * c->layers_per_block + 1)), sizeof *v->resnets);
        if (!v->resnets) return ef_err_set(err, EF_ERR_NOMEM, "vae: out of memory");
    } else {
        const ef_vae_tiny_config *c = &v->tiny;
        v->n_params_enc = ef_vae_tiny_count_params(c, EF_VAE_ENCODER);
        v->n_params_dec = ef_vae_tiny_count_params(c, EF_VAE_DECODER);
        int64_t nb = 0;
        for (int64_t i = 0; i < c->n_enc; i++) nb += c->enc_blocks[i];
        for (int64_t i = 0; i < c->n_dec; i++) nb += c->dec_blocks[i];
        v->blocks = calloc((size_t)(nb ? nb : 1), sizeof *v->blocks);
        if (!v->blocks) return ef_err_set(err, EF_ERR_NOMEM, "vae: out of memory");
    }
    int64_t n = (v->parts & EF_VAE_ENCODER ? v->n_params_enc : 0) + (v->parts & EF_VAE_DECODER ? v->n_params_dec : 0);
    return ef_vae_alloc_arena(v, n, err);
}

ef_status ef_vae_prepare(ef_vae *v, ef_err *err) { return alloc_layers(v, err); }

static ef_status load_folder(ef_vae *v, const char *dir, const char *variant, int use_mmap, ef_err *err) {
    char path[4096];
    if (!ef_path_join(path, sizeof path, dir, "config.json"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae: path too long: %.200s", dir);
    cJSON *root = NULL;
    EF_TRY(ef_json_load(path, CONFIG_MAX_BYTES, &root, err));
    const char *cls = NULL;
    ef_status rc = ef_json_str(root, path, "_class_name", 0, "AutoencoderKL", &cls, err);
    if (rc == EF_OK) {
        if (strcmp(cls, "AutoencoderTiny") == 0) {
            v->kind = EF_VAE_TINY;
            rc = ef_vae_tiny_config_parse(root, path, &v->tiny, err);
        } else {
            v->kind = EF_VAE_KL;   /* any other _class_name is refused by the parser */
            rc = ef_vae_kl_config_parse(root, path, &v->kl, err);
        }
    }
    cJSON_Delete(root);
    if (rc != EF_OK) return rc;
    EF_TRY(alloc_layers(v, err));

    ef_weights *w = NULL;
    EF_TRY(ef_weights_open(dir, variant, use_mmap, &w, err));
    vae_bind b = {w, NULL, NULL, ef_weights_label(w), v->weights, v->weights + v->n_params, 1};
    if (v->kind == EF_VAE_KL) rc = ef_vae_kl_bind(v, &b, err);
    else rc = ef_vae_tiny_bind(v, &b, &ef_vae_naming_diffusers, EF_VAE_BOTH, err);
    if (rc == EF_OK) EF_ASSERT(b.next == v->weights + v->n_params);
    ef_weights_free(w);
    return rc;
}

static ef_status check_parts(unsigned parts, ef_err *err) {
    if (parts == 0 || (parts & ~(unsigned)EF_VAE_BOTH))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae: parts must be EF_VAE_DECODER, EF_VAE_ENCODER or both");
    return EF_OK;
}

ef_status ef_vae_load(const char *component_dir, const char *variant, int use_mmap, unsigned parts, ef_vae **out,
                      ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_vae_load: out is NULL");
    *out = NULL;
    if (!component_dir) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_vae_load: component_dir is NULL");
    EF_TRY(check_parts(parts, err));
    ef_vae *v = calloc(1, sizeof *v);
    if (!v) return ef_err_set(err, EF_ERR_NOMEM, "vae: out of memory");
    v->parts = parts;
    ef_status rc = load_folder(v, component_dir, variant, use_mmap, err);
    if (rc != EF_OK) {
        ef_vae_free(v);
        return rc;
    }
    *out = v;
    return EF_OK;
}

void ef_vae_free(ef_vae *v) {
    if (!v) return;
    free(v->weights);
    free(v->resnets);
    free(v->blocks);
    free(v->ws);
    free(v);
}

/* ---- accessors ------------------------------------------------------------------- */

ef_vae_kind ef_vae_get_kind(const ef_vae *v) { return v->kind; }
unsigned    ef_vae_parts(const ef_vae *v) { return v->parts; }
int ef_vae_latent_channels(const ef_vae *v) {
    return (int)(v->kind == EF_VAE_KL ? v->kl.latent_channels : v->tiny.latent_channels);
}
int ef_vae_image_channels_out(const ef_vae *v) {
    return (int)(v->kind == EF_VAE_KL ? v->kl.out_channels : v->tiny.out_channels);
}
int ef_vae_image_channels_in(const ef_vae *v) {
    return (int)(v->kind == EF_VAE_KL ? v->kl.in_channels : v->tiny.in_channels);
}
int ef_vae_downscale(const ef_vae *v) {
    return 1 << (v->kind == EF_VAE_KL ? v->kl.n_blocks - 1 : v->tiny.n_dec - 1);
}
int64_t ef_vae_n_params(const ef_vae *v, unsigned parts) {
    return (parts & EF_VAE_ENCODER ? v->n_params_enc : 0) + (parts & EF_VAE_DECODER ? v->n_params_dec : 0);
}
double ef_vae_scaling_factor(const ef_vae *v) { return v->kind == EF_VAE_KL ? v->kl.scaling_factor : v->tiny.scaling_factor; }
double ef_vae_shift_factor(const ef_vae *v) { return v->kind == EF_VAE_KL ? v->kl.shift_factor : v->tiny.shift_factor; }
const ef_vae_kl_config *ef_vae_get_kl_config(const ef_vae *v) { return v->kind == EF_VAE_KL ? &v->kl : NULL; }
const ef_vae_tiny_config *ef_vae_get_tiny_config(const ef_vae *v) { return v->kind == EF_VAE_TINY ? &v->tiny : NULL; }

/* ---- latent scaling (float32 like torch: the factors are rounded once) ------------ */

void ef_vae_latents_to_decoder(const ef_vae *v, float *z, size_t n) {
    const float s = (float)ef_vae_scaling_factor(v), sh = (float)ef_vae_shift_factor(v);
    for (size_t i = 0; i < n; i++) z[i] = z[i] / s + sh;
}

void ef_vae_latents_from_encoder(const ef_vae *v, float *z, size_t n) {
    const float s = (float)ef_vae_scaling_factor(v), sh = (float)ef_vae_shift_factor(v);
    for (size_t i = 0; i < n; i++) z[i] = (z[i] - sh) * s;
}

/* ---- decode / encode -------------------------------------------------------------- */

size_t ef_vae_decode_ws(const ef_vae *v, int64_t h, int64_t w) {
    return v->kind == EF_VAE_KL ? ef_vae_kl_decode_ws(&v->kl, h, w) : ef_vae_tiny_decode_ws(&v->tiny, h, w);
}

void ef_vae_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img) {
    if (v->kind == EF_VAE_KL) ef_vae_kl_decode_run(v, c, z, h, w, img);
    else ef_vae_tiny_decode_run(v, c, z, h, w, img);
}

ef_status ef_vae_check_decode(const ef_vae *v, const float *z, int64_t h, int64_t w, const float *img, ef_err *err) {
    if (!v || !z || !img) return ef_err_set(err, EF_ERR_INVALID_ARG, "vae decode: NULL argument");
    if (!(v->parts & EF_VAE_DECODER))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae decode: the decoder was not loaded");
    if (h < 1 || w < 1 || h > MAX_LATENT_SIDE || w > MAX_LATENT_SIDE)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae decode: latent size %lldx%lld outside [1, %d]", (long long)h,
                          (long long)w, MAX_LATENT_SIDE);
    return EF_OK;
}

ef_status ef_vae_decode(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *z, int64_t h, int64_t w,
                        float *img, ef_err *err) {
    EF_TRY(ef_vae_check_decode(v, z, h, w, img, err));
    EF_TRY(ef_vae_ws_reserve(v, ef_vae_decode_ws(v, h, w), err));
    vae_ctx c = {k ? k : ef_kernels_ref(), pool};
    ef_vae_decode_run(v, &c, z, h, w, img);
    return EF_OK;
}

ef_status ef_vae_encode(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *img, int64_t H, int64_t W,
                        const float *noise, float *z, ef_err *err) {
    if (!v || !img || !z) return ef_err_set(err, EF_ERR_INVALID_ARG, "vae encode: NULL argument");
    if (!(v->parts & EF_VAE_ENCODER))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae encode: the encoder was not loaded");
    const int64_t f = ef_vae_downscale(v);
    if (H < f || W < f || H > MAX_IMAGE_SIDE || W > MAX_IMAGE_SIDE || H % f || W % f)
        return ef_err_set(err, EF_ERR_INVALID_ARG,
                          "vae encode: image size %lldx%lld must be a multiple of %lld in [%lld, %d]", (long long)W,
                          (long long)H, (long long)f, (long long)f, MAX_IMAGE_SIDE);
    size_t need = v->kind == EF_VAE_KL ? ef_vae_kl_encode_ws(&v->kl, H, W) : ef_vae_tiny_encode_ws(&v->tiny, H, W);
    EF_TRY(ef_vae_ws_reserve(v, need, err));
    vae_ctx c = {k ? k : ef_kernels_ref(), pool};
    if (v->kind == EF_VAE_KL) ef_vae_kl_encode_run(v, &c, img, H, W, noise, z);
    else ef_vae_tiny_encode_run(v, &c, img, H, W, z);
    return EF_OK;
}

size_t ef_vae_workspace_bytes(const ef_vae *v) { return v ? v->ws_floats * sizeof(float) : 0; }
size_t ef_vae_decode_workspace_bytes(const ef_vae *v, int64_t h, int64_t w) {
    size_t n = ef_vae_decode_ws(v, h, w);
    return n > SIZE_MAX / sizeof(float) ? SIZE_MAX : n * sizeof(float);
}

void ef_vae_release_workspace(ef_vae *v) {
    if (!v) return;
    free(v->ws);
    v->ws = NULL;
    v->ws_floats = 0;
}

/* ---- image conventions ------------------------------------------------------------- */

void ef_vae_image_to_rgb8(const float *img, int64_t C, int64_t H, int64_t W, uint8_t *rgb) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H * W; i++) {
            float x = img[c * H * W + i] * 0.5f + 0.5f;
            x = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);            /* NaN stays NaN: mapped to 0 below */
            float r = nearbyintf(x * 255.0f);                        /* numpy round: half to even */
            rgb[i * C + c] = (uint8_t)(r >= 0.0f && r <= 255.0f ? r : 0.0f);
        }
}

void ef_vae_rgb8_to_image(const uint8_t *rgb, int64_t C, int64_t H, int64_t W, float *img) {
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < H * W; i++) img[c * H * W + i] = 2.0f * ((float)rgb[i * C + c] / 255.0f) - 1.0f;
}
