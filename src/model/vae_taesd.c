/*
** vae_taesd.c -- the CLI's --taesd PATH: finds the TAESD weights behind a path (a
** diffusers folder, a folder of madebyollin's taesd_{encoder,decoder}.safetensors,
** or one .safetensors file), recognises their naming from the tensor names, reads
** the channel and latent counts from the shapes and binds them with ef_vae_tiny_bind.
**
** Files without a config.json get taesd.py's architecture (diffusers'
** AutoencoderTiny defaults: stages of 1,3,3,3 / 3,3,3,1 blocks).
*/
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "core/platform.h"
#include "model/vae_internal.h"

#define PATH_MAX_LEN 4096

typedef struct taesd_src {
    char                   path[PATH_MAX_LEN];
    ef_st_file            *f;
    const vae_tiny_naming *nm;
    unsigned               holds;   /* EF_VAE_ENCODER / EF_VAE_DECODER present in the file */
} taesd_src;

/* Opens s->path and tells the naming and the halves from the tensor names. */
static ef_status open_src(taesd_src *s, int use_mmap, ef_err *err) {
    EF_TRY(ef_st_open(s->path, use_mmap, &s->f, err));
    if (ef_st_find(s->f, "decoder.layers.0.weight") || ef_st_find(s->f, "encoder.layers.0.weight")) {
        s->nm = &ef_vae_naming_diffusers;
        s->holds = (ef_st_find(s->f, "encoder.layers.0.weight") ? EF_VAE_ENCODER : 0u) |
                   (ef_st_find(s->f, "decoder.layers.0.weight") ? EF_VAE_DECODER : 0u);
    } else if (ef_st_find(s->f, "0.weight")) {
        s->nm = &ef_vae_naming_original;   /* taesd.py Encoder: 0 is the first conv */
        s->holds = EF_VAE_ENCODER;
    } else if (ef_st_find(s->f, "1.weight")) {
        s->nm = &ef_vae_naming_original;   /* taesd.py Decoder: 0 is the Clamp, 1 the first conv */
        s->holds = EF_VAE_DECODER;
    } else {
        return ef_err_set(err, EF_ERR_FORMAT,
                          "%s: not a TAESD weights file (no 'decoder.layers.0.weight', 'encoder.layers.0.weight', "
                          "'0.weight' or '1.weight' tensor)", s->path);
    }
    return EF_OK;
}

/* dims[0], dims[1] of the 4-D tensor <prefix><idx + offset>.weight, if there is one. */
static int conv_dims(const taesd_src *s, const char *prefix, int offset, int64_t idx, int64_t *d0, int64_t *d1) {
    char name[128];
    snprintf(name, sizeof name, "%s%lld.weight", prefix, (long long)(idx + offset));
    const ef_st_tensor *t = ef_st_find(s->f, name);
    if (!t || t->ndim != 4 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > 4096 || t->shape[1] > 4096)
        return 0;
    *d0 = t->shape[0];
    *d1 = t->shape[1];
    return 1;
}

/* Channel, latent and image counts from the first and last convs of each half the
** source holds. Wrong shapes elsewhere are reported by the binder. */
static ef_status infer_config(const taesd_src *s, ef_vae_tiny_config *c, int64_t *lat_enc, int64_t *lat_dec,
                              ef_err *err) {
    const vae_tiny_naming *nm = s->nm;
    int64_t a, b;
    if (s->holds & EF_VAE_ENCODER) {
        int64_t last = c->n_enc;
        for (int64_t i = 0; i < c->n_enc; i++) last += c->enc_blocks[i];
        if (conv_dims(s, nm->enc_prefix, nm->enc_offset, 0, &a, &b)) {
            for (int64_t i = 0; i < c->n_enc; i++) c->enc_channels[i] = a;
            c->in_channels = b;
        }
        if (conv_dims(s, nm->enc_prefix, nm->enc_offset, last, &a, &b)) *lat_enc = c->latent_channels = a;
    }
    if (s->holds & EF_VAE_DECODER) {
        int64_t last = 2 + 2 * c->n_dec - 2;
        for (int64_t i = 0; i < c->n_dec; i++) last += c->dec_blocks[i];
        if (conv_dims(s, nm->dec_prefix, nm->dec_offset, 0, &a, &b)) {
            for (int64_t i = 0; i < c->n_dec; i++) c->dec_channels[i] = a;
            *lat_dec = c->latent_channels = b;
        }
        if (conv_dims(s, nm->dec_prefix, nm->dec_offset, last, &a, &b)) c->out_channels = a;
    }
    if (*lat_enc && *lat_dec && *lat_enc != *lat_dec)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: TAESD encoder has %lld latent channels but the decoder %lld", s->path,
                          (long long)*lat_enc, (long long)*lat_dec);
    return EF_OK;
}

/* Fills srcs (at most 2) for path and parts; returns how many in *n. */
static ef_status find_sources(const char *path, unsigned parts, taesd_src *srcs, int *n, ef_err *err) {
    *n = 0;
    if (ef_path_is_file(path)) {
        if (strlen(path) >= PATH_MAX_LEN) return ef_err_set(err, EF_ERR_INVALID_ARG, "taesd: path too long");
        strcpy(srcs[(*n)++].path, path);
        return EF_OK;
    }
    if (!ef_path_is_dir(path)) return ef_err_set(err, EF_ERR_IO, "%.300s: no such file or folder", path);
    static const char *const FILES[2] = {"taesd_encoder.safetensors", "taesd_decoder.safetensors"};
    static const unsigned HALF[2] = {EF_VAE_ENCODER, EF_VAE_DECODER};
    int found_any = 0;
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX_LEN];
        if (!ef_path_join(p, sizeof p, path, FILES[i])) return ef_err_set(err, EF_ERR_INVALID_ARG, "taesd: path too long");
        if (!ef_path_is_file(p)) continue;
        found_any = 1;
        if (parts & HALF[i]) strcpy(srcs[(*n)++].path, p);
    }
    if (found_any) return EF_OK;
    if (!ef_path_join(srcs[0].path, PATH_MAX_LEN, path, "diffusion_pytorch_model.safetensors"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "taesd: path too long");
    if (!ef_path_is_file(srcs[0].path))
        return ef_err_set(err, EF_ERR_IO,
                          "%.300s: no TAESD weights (config.json, taesd_decoder.safetensors, taesd_encoder.safetensors "
                          "or diffusion_pytorch_model.safetensors)", path);
    *n = 1;
    return EF_OK;
}

static ef_status load_files(ef_vae *v, const char *path, int use_mmap, taesd_src *srcs, ef_err *err) {
    int n = 0;
    EF_TRY(find_sources(path, v->parts, srcs, &n, err));
    unsigned holds = 0;
    for (int i = 0; i < n; i++) {
        EF_TRY(open_src(&srcs[i], use_mmap, err));
        holds |= srcs[i].holds;
    }
    if (v->parts & ~holds)
        return ef_err_set(err, EF_ERR_IO, "%.300s: no TAESD %s weights%s", path,
                          (v->parts & ~holds) & EF_VAE_DECODER ? "decoder" : "encoder",
                          (v->parts & ~holds) & EF_VAE_DECODER ? " (taesd_decoder.safetensors)"
                                                               : " (taesd_encoder.safetensors)");
    v->kind = EF_VAE_TINY;
    v->tiny = ef_vae_tiny_default_config();
    int64_t lat_enc = 0, lat_dec = 0;
    for (int i = 0; i < n; i++) EF_TRY(infer_config(&srcs[i], &v->tiny, &lat_enc, &lat_dec, err));
    EF_TRY(ef_vae_prepare(v, err));
    float *next = v->weights;
    for (int i = 0; i < n; i++) {
        unsigned char *used = calloc(ef_st_count(srcs[i].f) + 1, 1);
        if (!used) return ef_err_set(err, EF_ERR_NOMEM, "taesd: out of memory");
        vae_bind b = {NULL, srcs[i].f, used, srcs[i].path, next, v->weights + v->n_params, 1};
        ef_status rc = ef_vae_tiny_bind(v, &b, srcs[i].nm, srcs[i].holds, err);
        free(used);
        EF_TRY(rc);
        next = b.next;
    }
    EF_ASSERT(next == v->weights + v->n_params);
    return EF_OK;
}

ef_status ef_vae_load_taesd(const char *path, int use_mmap, unsigned parts, ef_vae **out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_vae_load_taesd: out is NULL");
    *out = NULL;
    if (!path) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_vae_load_taesd: path is NULL");
    if (parts == 0 || (parts & ~(unsigned)EF_VAE_BOTH))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "taesd: parts must be EF_VAE_DECODER, EF_VAE_ENCODER or both");
    char cfg[PATH_MAX_LEN];
    if (ef_path_is_dir(path) && ef_path_join(cfg, sizeof cfg, path, "config.json") && ef_path_is_file(cfg)) {
        EF_TRY(ef_vae_load(path, NULL, use_mmap, parts, out, err));
        if ((*out)->kind == EF_VAE_TINY) return EF_OK;
        ef_vae_free(*out);
        *out = NULL;
        return ef_err_set(err, EF_ERR_UNSUPPORTED, "%.300s: holds an AutoencoderKL, not a tiny autoencoder (TAESD)",
                          cfg);
    }
    ef_vae *v = calloc(1, sizeof *v);
    taesd_src *srcs = calloc(2, sizeof *srcs);
    if (!v || !srcs) {
        free(v);
        free(srcs);
        return ef_err_set(err, EF_ERR_NOMEM, "taesd: out of memory");
    }
    v->parts = parts;
    ef_status rc = load_files(v, path, use_mmap, srcs, err);
    for (int i = 0; i < 2; i++) ef_st_close(srcs[i].f);
    free(srcs);
    if (rc != EF_OK) {
        ef_vae_free(v);
        return rc;
    }
    *out = v;
    return EF_OK;
}
