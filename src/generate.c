/*
** generate.c -- text-to-image and image-to-image, as diffusers' StableDiffusion(Img2Img)
** and LatentConsistencyModel(Img2Img) pipelines run them on CPU, draw for draw:
**
**   tokenize -> text encoder (prompt, and "" / negative prompt with CFG)
**   latents  = randn(seed) * init_noise_sigma                      (txt2img)
**            | scaling * vae.encode(image).sample(randn) + noise     (img2img)
**   for each step: unet(scaled latents, t, text [, w-embedding]) [x2 for CFG]
**                  -> eps = uncond + g (cond - uncond) -> scheduler step (+ randn)
**   image    = vae.decode(latents / scaling) -> RGB8
**
** The generator (core/rng.c) reproduces torch.Generator("cpu"), and every draw happens
** in diffusers' order, so the same seed gives the same image. Buffers are allocated
** once per size (ef_gen_buffers); nothing is allocated inside the step loop.
** Not here: batching several prompts, LoRA, inpainting.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/rng.h"
#include "ctx_internal.h"
#include "ef_internal.h"

#define DEFAULT_STEPS      25
#define DEFAULT_STEPS_LCM  4
#define DEFAULT_CFG        7.5f
#define DEFAULT_CFG_LCM    8.5f
#define DEFAULT_STRENGTH   0.75f
#define DEFAULT_TILE       32
#define DEFAULT_OVERLAP    8
#define MAX_SIDE           8192

/* ---- names -------------------------------------------------------------------- */

static const struct {
    ef_sampler    sampler;
    ef_sched_kind kind;
    const char   *name;       /* sd.cpp --sampling-method */
    const char   *a1111;      /* A1111's "Sampler" */
} SAMPLERS[] = {
    {EF_SAMPLER_EULER, EF_SCHED_EULER, "euler", "Euler"},
    {EF_SAMPLER_EULER_A, EF_SCHED_EULER_A, "euler_a", "Euler a"},
    {EF_SAMPLER_DDIM, EF_SCHED_DDIM, "ddim", "DDIM"},
    {EF_SAMPLER_DPMPP_2M, EF_SCHED_DPMPP_2M, "dpm++2m", "DPM++ 2M"},
    {EF_SAMPLER_LCM, EF_SCHED_LCM, "lcm", "LCM"},
    {EF_SAMPLER_PNDM, EF_SCHED_PNDM, "pndm", "PLMS"},
};
enum { N_SAMPLERS = (int)(sizeof SAMPLERS / sizeof SAMPLERS[0]) };

ef_status ef_sampler_from_name(const char *name, ef_sampler *out) {
    if (!name || !out) return EF_ERR_INVALID_ARG;
    if (!strcmp(name, "default")) { *out = EF_SAMPLER_DEFAULT; return EF_OK; }
    ef_sched_kind kind;
    if (ef_sched_kind_from_name(name, &kind, NULL) != EF_OK) return EF_ERR_UNSUPPORTED;
    for (int i = 0; i < N_SAMPLERS; i++)
        if (SAMPLERS[i].kind == kind) { *out = SAMPLERS[i].sampler; return EF_OK; }
    return EF_ERR_UNSUPPORTED;
}

const char *ef_sampler_name(ef_sampler s) {
    for (int i = 0; i < N_SAMPLERS; i++)
        if (SAMPLERS[i].sampler == s) return SAMPLERS[i].name;
    return "default";
}

ef_status ef_sigma_schedule_from_name(const char *name, ef_sigma_schedule *out) {
    if (!name || !out) return EF_ERR_INVALID_ARG;
    int karras = 0;
    if (ef_sched_karras_from_name(name, &karras, NULL) != EF_OK) return EF_ERR_UNSUPPORTED;
    *out = karras ? EF_SIGMAS_KARRAS : EF_SIGMAS_DISCRETE;
    return EF_OK;
}

static int sampler_index(ef_sampler s) {
    for (int i = 0; i < N_SAMPLERS; i++)
        if (SAMPLERS[i].sampler == s) return i;
    return -1;
}

/* ---- parameters ----------------------------------------------------------------- */

ef_gen_params ef_gen_default_params(void) {
    ef_gen_params p;
    memset(&p, 0, sizeof p);
    p.guidance_scale = -1.0f;
    p.strength = DEFAULT_STRENGTH;
    return p;
}

size_t ef_rgb_size(int32_t width, int32_t height) {
    if (width <= 0 || height <= 0) return 0;
    size_t n;
    if (!ef_mul_size((size_t)width, (size_t)height, &n) || !ef_mul_size(n, 3, &n)) return 0;
    return n;
}

/* The use_karras_sigmas the folder's config asks for (false when absent). */
static int config_karras(const ef_ctx *ctx) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx->sched_config, "use_karras_sigmas");
    return cJSON_IsTrue(v);
}

ef_status ef_gen_resolve(ef_ctx *ctx, const ef_gen_params *p, ef_gen_settings *out) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    ef_err *err = &ctx->err;
    ef_err_clear(err);
    if (!p || !out) return ef_err_set(err, EF_ERR_INVALID_ARG, "params and out are required");
    memset(out, 0, sizeof *out);
    if (!ctx->unet || !ctx->vae || !ctx->sched_config)
        return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: no %s component: this folder can only encode text",
                          ctx->model_dir, !ctx->unet ? "unet" : !ctx->vae ? "vae" : "scheduler");
    if (!p->prompt) return ef_err_set(err, EF_ERR_INVALID_ARG, "prompt is required");
    ef_model_info info;
    ef_ctx_model_info(ctx, &info);
    const ef_unet_config *uc = ef_unet_get_config(ctx->unet);
    int has_w_embed = uc->time_cond_proj_dim > 0;

    out->width = p->width > 0 ? p->width : (p->init_rgb && p->init_width > 0 ? p->init_width : info.width_default);
    out->height = p->height > 0 ? p->height : (p->init_rgb && p->init_height > 0 ? p->init_height : info.height_default);
    int gran = ef_vae_downscale(ctx->vae) * ef_unet_downscale(ctx->unet);
    if (p->width < 0 || p->height < 0 || out->width > MAX_SIDE || out->height > MAX_SIDE || out->width % gran ||
        out->height % gran || out->width < gran || out->height < gran)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "size %dx%d: width and height must be multiples of %d in [%d, %d]",
                          (int)out->width, (int)out->height, gran, gran, MAX_SIDE);
    if (p->init_rgb) {
        if (p->init_width != out->width || p->init_height != out->height)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "init image is %dx%d but the output is %dx%d (resize it first)",
                              (int)p->init_width, (int)p->init_height, (int)out->width, (int)out->height);
        if (!(p->strength > 0.0f && p->strength <= 1.0f))
            return ef_err_set(err, EF_ERR_INVALID_ARG, "strength %g: must be in (0, 1]", (double)p->strength);
        out->strength = p->strength;
    } else {
        out->strength = -1.0f;
    }
    out->n_steps = p->n_steps > 0 ? p->n_steps : (info.is_lcm ? DEFAULT_STEPS_LCM : DEFAULT_STEPS);
    if (p->n_steps < 0 || out->n_steps > 1000)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "steps %d: must be in 1..1000", (int)p->n_steps);
    out->guidance_scale = p->guidance_scale >= 0.0f ? p->guidance_scale : (has_w_embed ? DEFAULT_CFG_LCM : DEFAULT_CFG);
    if (!isfinite(out->guidance_scale) || out->guidance_scale > 100.0f)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "guidance scale %g: must be in [0, 100]", (double)out->guidance_scale);
    /* diffusers: no CFG batch for a UNet with a guidance embedding (LCM). */
    out->cfg = out->guidance_scale > 1.0f && !has_w_embed;

    if (p->sampler == EF_SAMPLER_DEFAULT) {
        out->sampler = EF_SAMPLER_DEFAULT;
        for (int i = 0; i < N_SAMPLERS; i++)
            if (SAMPLERS[i].kind == ctx->sched_kind) out->sampler = SAMPLERS[i].sampler;
    } else if (sampler_index(p->sampler) < 0) {
        return ef_err_set(err, EF_ERR_INVALID_ARG, "sampler %d out of range", (int)p->sampler);
    } else {
        out->sampler = p->sampler;
    }
    int karras_capable = out->sampler == EF_SAMPLER_EULER || out->sampler == EF_SAMPLER_DPMPP_2M;
    if (p->sigmas == EF_SIGMAS_KARRAS && !karras_capable)
        return ef_err_set(err, EF_ERR_UNSUPPORTED, "the karras schedule needs the euler or dpm++2m sampler, not %s",
                          ef_sampler_name(out->sampler));
    if (p->sigmas != EF_SIGMAS_DEFAULT && p->sigmas != EF_SIGMAS_DISCRETE && p->sigmas != EF_SIGMAS_KARRAS)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "sigma schedule %d out of range", (int)p->sigmas);
    out->sigmas = p->sigmas != EF_SIGMAS_DEFAULT ? p->sigmas
                  : (karras_capable && config_karras(ctx) ? EF_SIGMAS_KARRAS : EF_SIGMAS_DISCRETE);
    int n_layers = ef_clip_text_n_layers(ctx->text_encoder);
    if (p->clip_skip < 0 || p->clip_skip > n_layers)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "clip skip %d: must be in 0..%d", (int)p->clip_skip, n_layers);
    out->clip_skip = p->clip_skip;
    if (p->token_downsample < 0 || p->token_downsample > 4)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "token downsample %d: 0 or 1 (off) to 4", (int)p->token_downsample);
    out->token_downsample = p->token_downsample > 1 ? p->token_downsample : 1;
    if (p->vae_tiling < -1 || p->vae_tiling > 1)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae_tiling %d: 0 (auto), 1 (on) or -1 (off)", (int)p->vae_tiling);
    out->vae_tiled = p->vae_tiling == 1 ||
                     (p->vae_tiling == 0 && ef_vae_decode_workspace_bytes(ctx->vae, out->height / ef_vae_downscale(ctx->vae),
                                                                          out->width / ef_vae_downscale(ctx->vae)) >
                                                ((size_t)EF_VAE_AUTO_TILE_MIB << 20));
    if (out->vae_tiled && (p->vae_tile_size < 0 || p->vae_tile_overlap < 0 ||
                          2 * (p->vae_tile_overlap ? p->vae_tile_overlap : DEFAULT_OVERLAP) >
                              (p->vae_tile_size ? p->vae_tile_size : DEFAULT_TILE)))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "vae tile %d with overlap %d: overlap must be at most half the tile",
                          (int)p->vae_tile_size, (int)p->vae_tile_overlap);
    out->seed = p->seed;
    return EF_OK;
}

/* ---- buffers -------------------------------------------------------------------- */

void ef_gen_buffers_free(ef_gen_buffers *b) {
    float **all[] = {&b->latents, &b->noise, &b->unet_in, &b->eps_cond, &b->eps_uncond,
                     &b->text_cond, &b->text_uncond, &b->w_embed, &b->image};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) { free(*all[i]); *all[i] = NULL; }
    free(b->ids);
    b->ids = NULL;
    b->h = b->w = 0;
}

static float *alloc_floats(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

/* (Re)sizes the buffers and the UNet plan for a latent of h x w. */
static ef_status ensure_buffers(ef_ctx *ctx, int h, int w) {
    ef_gen_buffers *b = &ctx->buf;
    int T = ef_bpe_max_length(ctx->tokenizer), D = ef_clip_text_hidden_size(ctx->text_encoder);
    if (b->h == h && b->w == w && b->latents) return EF_OK;
    const ef_unet_config *uc = ef_unet_get_config(ctx->unet);
    int f = ef_vae_downscale(ctx->vae);
    size_t n = (size_t)uc->in_channels * (size_t)h * (size_t)w;
    size_t n_img = (size_t)3 * (size_t)(h * f) * (size_t)(w * f);
    int32_t *ids = b->ids;
    b->ids = NULL;
    ef_gen_buffers_free(b);
    b->ids = ids;
    b->latents = alloc_floats(n);
    b->noise = alloc_floats(n);
    b->unet_in = alloc_floats(n);
    b->eps_cond = alloc_floats(n);
    b->eps_uncond = alloc_floats(n);
    b->text_cond = alloc_floats((size_t)T * (size_t)D);
    b->text_uncond = alloc_floats((size_t)T * (size_t)D);
    b->w_embed = uc->time_cond_proj_dim > 0 ? alloc_floats((size_t)uc->time_cond_proj_dim) : NULL;
    b->image = alloc_floats(n_img);
    if (!b->latents || !b->noise || !b->unet_in || !b->eps_cond || !b->eps_uncond || !b->text_cond ||
        !b->text_uncond || (uc->time_cond_proj_dim > 0 && !b->w_embed) || !b->image) {
        ef_gen_buffers_free(b);
        b->ids = ids;
        return ef_err_set(&ctx->err, EF_ERR_NOMEM, "out of memory for %dx%d generation buffers", w * f, h * f);
    }
    EF_TRY(ef_unet_plan(ctx->unet, h, w, T, &ctx->err));
    b->h = h;
    b->w = w;
    b->T = T;
    b->D = D;
    b->n = n;
    return EF_OK;
}

/* ---- the run -------------------------------------------------------------------- */

static ef_status encode_text(ef_ctx *ctx, const char *text, int clip_skip, float *out) {
    int32_t n = 0, T = ctx->buf.T;
    EF_TRY(ef_bpe_encode(ctx->tokenizer, text, ctx->buf.ids, T, &n, &ctx->err));
    EF_TRY(ef_ctx_text_encoder_ready(ctx));
    return ef_clip_text_forward(ctx->text_encoder, ctx->pool, ctx->kernels, ctx->buf.ids, n, clip_skip, out,
                                &ctx->err);
}

/* Progress tick; EF_ERR_CANCELLED when the callback asks to stop. */
static ef_status gen_tick(ef_ctx *ctx, const ef_gen_params *p, int done, int total) {
    if (p->progress_fn && p->progress_fn(done, total, ef_time_now() - ctx->gen_t0, p->progress_user))
        return ef_err_set(&ctx->err, EF_ERR_CANCELLED, "generation cancelled by the progress callback after %d of %d",
                          done, total);
    return EF_OK;
}

/* img2img start: latents = scaling * vae.encode(image).sample(randn) then the
** scheduler's add_noise with a second randn, both from the generator in that order. */
static ef_status init_from_image(ef_ctx *ctx, const ef_gen_params *p, ef_sched *s, ef_rng *rng) {
    ef_gen_buffers *b = &ctx->buf;
    ef_err *err = &ctx->err;
    char dir[4096];
    if (!(ef_vae_parts(ctx->vae) & EF_VAE_ENCODER)) {
        /* Load the encoder half on first use (a decoder-only context stays smaller). */
        ef_vae *both = NULL;
        ef_status rc;
        if (ctx->taesd_path) {
            rc = ef_vae_load_taesd(ctx->taesd_path, ctx->params.use_mmap, EF_VAE_DECODER | EF_VAE_ENCODER, &both, err);
        } else {
            if (!ef_path_join(dir, sizeof dir, ctx->model_dir, "vae"))
                return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", ctx->model_dir);
            rc = ef_vae_load(dir, ctx->variant, ctx->params.use_mmap, EF_VAE_DECODER | EF_VAE_ENCODER, &both, err);
        }
        if (rc != EF_OK) {
            ef_err_prefix(err, "img2img needs the VAE encoder");
            return rc;
        }
        ef_vae_free(ctx->vae);
        ctx->vae = both;
    }
    int f = ef_vae_downscale(ctx->vae);
    int64_t H = (int64_t)b->h * f, W = (int64_t)b->w * f;
    ef_vae_rgb8_to_image(p->init_rgb, 3, H, W, b->image);
    const float *noise = NULL;
    if (ef_vae_get_kind(ctx->vae) == EF_VAE_KL) {   /* AutoencoderTiny returns latents: no draw */
        ef_rng_randn(rng, b->noise, b->n);
        noise = b->noise;
    }
    EF_TRY(ef_vae_encode(ctx->vae, ctx->pool, ctx->kernels, b->image, H, W, noise, b->latents, err));
    ef_vae_latents_from_encoder(ctx->vae, b->latents, b->n);
    ef_rng_randn(rng, b->noise, b->n);
    ef_sched_add_noise(s, b->latents, b->noise, b->latents, b->n);
    return EF_OK;
}

/* eps_cond = eps_uncond + g * (eps_cond - eps_uncond), diffusers' float32 order. */
static void combine_cfg(float *cond, const float *uncond, float g, size_t n) {
    for (size_t i = 0; i < n; i++) cond[i] = uncond[i] + g * (cond[i] - uncond[i]);
}

static ef_status denoise(ef_ctx *ctx, const ef_gen_params *p, const ef_gen_settings *st, ef_sched *s, ef_rng *rng) {
    ef_gen_buffers *b = &ctx->buf;
    ef_err *err = &ctx->err;
    int n_run = ef_sched_n_steps(s);
    const float *ts = ef_sched_timesteps(s);
    for (int i = 0; i < n_run; i++) {
        double t0 = ef_time_now();
        ef_sched_scale_model_input(s, i, b->latents, b->unet_in, b->n);
        EF_TRY(ef_unet_forward(ctx->unet, ctx->pool, ctx->kernels, b->unet_in, ts[i], b->text_cond, b->w_embed,
                               b->eps_cond, err));
        if (st->cfg) {
            EF_TRY(ef_unet_forward(ctx->unet, ctx->pool, ctx->kernels, b->unet_in, ts[i], b->text_uncond, NULL,
                                   b->eps_uncond, err));
            combine_cfg(b->eps_cond, b->eps_uncond, st->guidance_scale, b->n);
        }
        const float *noise = NULL;
        if (ef_sched_needs_noise(s, i)) {
            ef_rng_randn(rng, b->noise, b->n);
            noise = b->noise;
        }
        EF_TRY(ef_sched_step(s, i, b->eps_cond, b->latents, noise, b->latents, NULL, b->n, err));
        double dt = ef_time_now() - t0;
        if (i < EF_GEN_TIMINGS_MAX_STEPS) ctx->timings.unet_s[i] = dt;
        ctx->timings.unet_total_s += dt;
        ctx->timings.n_steps = i + 1;
        EF_TRY(gen_tick(ctx, p, i + 1, n_run + 1));
    }
    return EF_OK;
}

static ef_status decode(ef_ctx *ctx, const ef_gen_params *p, const ef_gen_settings *st, uint8_t *rgb) {
    ef_gen_buffers *b = &ctx->buf;
    double t0 = ef_time_now();
    int f = ef_vae_downscale(ctx->vae);
    ef_vae_latents_to_decoder(ctx->vae, b->latents, b->n);
    if (st->vae_tiled) {
        ef_vae_tiling t = {p->vae_tile_size > 0 ? p->vae_tile_size : DEFAULT_TILE,
                           p->vae_tile_overlap > 0 ? p->vae_tile_overlap : DEFAULT_OVERLAP};
        EF_TRY(ef_vae_decode_tiled(ctx->vae, ctx->pool, ctx->kernels, b->latents, b->h, b->w, &t, b->image, &ctx->err));
    } else {
        EF_TRY(ef_vae_decode(ctx->vae, ctx->pool, ctx->kernels, b->latents, b->h, b->w, b->image, &ctx->err));
    }
    ef_vae_image_to_rgb8(b->image, 3, (int64_t)b->h * f, (int64_t)b->w * f, rgb);
    ef_vae_release_workspace(ctx->vae);   /* scratch: its pages leave the resident set until the next decode */
    ctx->timings.vae_s = ef_time_now() - t0;
    return EF_OK;
}

static ef_status run(ef_ctx *ctx, const ef_gen_params *p, const ef_gen_settings *st, uint8_t *rgb, ef_sched **s) {
    ef_err *err = &ctx->err;
    int f = ef_vae_downscale(ctx->vae);
    EF_TRY(ensure_buffers(ctx, st->height / f, st->width / f));
    ef_gen_buffers *b = &ctx->buf;

    double t0 = ef_time_now();
    EF_TRY(encode_text(ctx, p->prompt, st->clip_skip, b->text_cond));
    if (st->cfg) EF_TRY(encode_text(ctx, p->negative_prompt ? p->negative_prompt : "", st->clip_skip, b->text_uncond));
    if (ctx->params.release_text_encoder) ef_clip_text_release(ctx->text_encoder);   /* out of the UNet's peak */
    ctx->timings.text_s = ef_time_now() - t0;
    const ef_unet_config *uc = ef_unet_get_config(ctx->unet);
    if (uc->time_cond_proj_dim > 0)
        EF_TRY(ef_sched_guidance_embed(st->guidance_scale - 1.0f, (int)uc->time_cond_proj_dim, b->w_embed, err));

    ef_sched_params sp = ef_sched_default_params();
    sp.kind = (int)SAMPLERS[sampler_index(st->sampler)].kind;
    sp.use_karras = st->sigmas == EF_SIGMAS_KARRAS;
    if (st->sampler != EF_SAMPLER_EULER && st->sampler != EF_SAMPLER_DPMPP_2M) sp.use_karras = EF_SCHED_AUTO;
    EF_TRY(ef_sched_create(ctx->sched_config, "scheduler/scheduler_config.json", &sp, s, err));
    EF_TRY(ef_sched_set_timesteps(*s, st->n_steps, p->init_rgb ? (double)st->strength : 1.0, b->n, err));

    ef_rng rng;
    ef_rng_init(&rng, st->seed, EF_RNG_TORCH_AVX2);
    if (p->init_rgb) {
        EF_TRY(init_from_image(ctx, p, *s, &rng));
    } else {
        ef_rng_randn(&rng, b->latents, b->n);
        float sigma = ef_sched_init_noise_sigma(*s);
        if (sigma != 1.0f)
            for (size_t i = 0; i < b->n; i++) b->latents[i] *= sigma;
    }
    ef_unet_set_kv_downsample(ctx->unet, st->token_downsample);
    EF_TRY(denoise(ctx, p, st, *s, &rng));
    ef_unet_release_activations(ctx->unet);   /* the decode's peak need not include the UNet's */
    EF_TRY(decode(ctx, p, st, rgb));
    int n_run = ef_sched_n_steps(*s);
    return gen_tick(ctx, p, n_run + 1, n_run + 1);
}

ef_status ef_generate(ef_ctx *ctx, const ef_gen_params *p, uint8_t *rgb_out, size_t rgb_out_size) {
    if (ctx) {   /* the stages of this call replace the last one's; load_s stays */
        double load_s = ctx->timings.load_s;
        memset(&ctx->timings, 0, sizeof ctx->timings);
        ctx->timings.load_s = load_s;
    }
    ef_gen_settings st;
    EF_TRY(ef_gen_resolve(ctx, p, &st));
    size_t need = ef_rgb_size(st.width, st.height);
    if (!rgb_out || rgb_out_size < need)
        return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "rgb_out holds %zu bytes; %dx%d RGB needs %zu",
                          rgb_out ? rgb_out_size : 0, (int)st.width, (int)st.height, need);
    ctx->gen_t0 = ef_time_now();
    ef_sched *s = NULL;
    ef_status rc = run(ctx, p, &st, rgb_out, &s);
    ef_sched_free(s);
    ctx->timings.total_s = ef_time_now() - ctx->gen_t0;
    return rc;
}
