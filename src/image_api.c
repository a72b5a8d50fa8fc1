/*
** image_api.c -- the public PNG calls and the A1111 "parameters" text of a generation:
** thin wrappers over io/png.c and io/a1111.c that turn ef_err into the caller's errbuf.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ctx_internal.h"
#include "ef_internal.h"
#include "io/a1111.h"
#include "io/hash_cache.h"
#include "io/png.h"

static ef_status to_errbuf(ef_status rc, const ef_err *err, char *errbuf, size_t n) {
    if (rc != EF_OK && errbuf && n) snprintf(errbuf, n, "%s", err->msg);
    else if (errbuf && n) errbuf[0] = '\0';
    return rc;
}

ef_status ef_png_save(const char *path, const uint8_t *rgb, int32_t width, int32_t height, const char *parameters,
                      char *errbuf, size_t errbuf_size) {
    ef_err err;
    ef_err_clear(&err);
    ef_status rc;
    if (!path || !rgb || width <= 0 || height <= 0)
        rc = ef_err_set(&err, EF_ERR_INVALID_ARG, "ef_png_save: path, rgb and a positive size are required");
    else rc = ef_png_write(path, rgb, (uint32_t)width, (uint32_t)height, parameters, &err);
    return to_errbuf(rc, &err, errbuf, errbuf_size);
}

ef_status ef_png_load(const char *path, ef_image *out, char *errbuf, size_t errbuf_size) {
    ef_err err;
    ef_err_clear(&err);
    if (!out) return to_errbuf(ef_err_set(&err, EF_ERR_INVALID_ARG, "ef_png_load: out is NULL"), &err, errbuf, errbuf_size);
    memset(out, 0, sizeof *out);
    if (!path) return to_errbuf(ef_err_set(&err, EF_ERR_INVALID_ARG, "ef_png_load: path is NULL"), &err, errbuf, errbuf_size);
    ef_png_image img;
    ef_status rc = ef_png_read(path, NULL, &img, &err);
    if (rc == EF_OK) {
        /* default limits cap each side at 16384, so the size fits int32 */
        out->rgb = img.rgb;
        out->width = (int32_t)img.width;
        out->height = (int32_t)img.height;
        out->parameters = img.parameters;
    }
    return to_errbuf(rc, &err, errbuf, errbuf_size);
}

void ef_image_free(ef_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img->parameters);
    memset(img, 0, sizeof *img);
}

/* A1111 "Model hash": sha256 of the UNet weights file (a diffusers folder has no single
** checkpoint; the UNet is what distinguishes fine-tunes). Computed once per context, and
** once per file when params.cache_dir keeps it between runs. */
static const char *model_hash(ef_ctx *ctx) {
    static const char *const FILES[] = {"unet/diffusion_pytorch_model.safetensors",
                                        "unet/diffusion_pytorch_model.fp16.safetensors"};
    if (ctx->model_hash[0]) return ctx->model_hash;
    char path[4096];
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        if (!ef_path_join(path, sizeof path, ctx->model_dir, FILES[i]) || !ef_path_is_file(path)) continue;
        ef_err err;
        if (ef_hash_cache_get(ctx->cache_dir, path, ctx->model_hash)) return ctx->model_hash;
        if (ef_a1111_model_hash(path, ctx->model_hash, &err) == EF_OK) {
            ef_hash_cache_put(ctx->cache_dir, path, ctx->model_hash);   /* best effort */
            return ctx->model_hash;
        }
    }
    return NULL;
}

static const char *a1111_sampler(ef_sampler s) {
    switch (s) {
    case EF_SAMPLER_EULER:    return "Euler";
    case EF_SAMPLER_EULER_A:  return "Euler a";
    case EF_SAMPLER_DDIM:     return "DDIM";
    case EF_SAMPLER_DPMPP_2M: return "DPM++ 2M";
    case EF_SAMPLER_LCM:      return "LCM";
    case EF_SAMPLER_PNDM:     return "PLMS";
    case EF_SAMPLER_DEFAULT:  break;
    }
    return NULL;
}

ef_status ef_gen_infotext(ef_ctx *ctx, const ef_gen_params *p, char *out, size_t n) {
    ef_gen_settings st;
    EF_TRY(ef_gen_resolve(ctx, p, &st));
    if (!out || n == 0) return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "ef_gen_infotext: out is empty");
    ef_gen_info g = ef_gen_info_default();
    g.prompt = p->prompt;
    g.negative_prompt = st.cfg ? p->negative_prompt : NULL;
    g.steps = st.n_steps;
    g.sampler = a1111_sampler(st.sampler);
    g.schedule_type = st.sigmas == EF_SIGMAS_KARRAS ? "Karras" : NULL;
    g.cfg_scale = st.guidance_scale;
    g.seed = (int64_t)st.seed;
    g.width = st.width;
    g.height = st.height;
    g.model_hash = model_hash(ctx);
    g.model = ctx->name;
    g.denoising_strength = p->init_rgb ? st.strength : -1.0;
    g.clip_skip = st.clip_skip > 1 ? st.clip_skip : 0;
    g.rng = "CPU";
    ef_a1111_param extra[3];
    int n_extra = 0;
    char todo[16];
    if (ctx->taesd_path) extra[n_extra++] = (ef_a1111_param){"VAE Decoder", "TAESD"};
    if (st.vae_tiled) extra[n_extra++] = (ef_a1111_param){"VAE tiling", "True"};
    if (st.token_downsample > 1) {   /* the approximation, so the image says how it was made */
        snprintf(todo, sizeof todo, "%d", (int)st.token_downsample);
        extra[n_extra++] = (ef_a1111_param){"Token downsample", todo};
    }
    g.extra = extra;
    g.n_extra = n_extra;
    char version[32];
    snprintf(version, sizeof version, "edgefusion %s", ef_version());
    g.version = version;
    return ef_a1111_parameters_format(&g, out, n, NULL, &ctx->err);
}
