/*
** api.c -- the public entry points of include/edgefusion.h: argument validation,
** context create/free, the per-context error message, and dispatch to the modules.
** No model math lives here.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ctx_internal.h"
#include "ef_internal.h"
#include "io/json.h"

#define SCHED_CONFIG_MAX_BYTES (1u << 20)

ef_ctx_params ef_ctx_default_params(void) {
    ef_ctx_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.use_mmap = 1;
    return p;
}

#define ctx_log(ctx, level, ...) ef_log_send((ctx)->params.log_fn, (ctx)->params.log_user, (level), __VA_ARGS__)

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Progress tick during loading; returns EF_ERR_CANCELLED when the callback asks. */
static ef_status load_tick(ef_ctx *ctx, int done, int total, double t0) {
    if (ctx->params.progress_fn &&
        ctx->params.progress_fn(done, total, ef_time_now() - t0, ctx->params.progress_user))
        return ef_err_set(&ctx->err, EF_ERR_CANCELLED, "loading cancelled by the progress callback");
    return EF_OK;
}

/* Checks that model_index.json names what we can load for component name. */
static ef_status require_component(ef_ctx *ctx, const char *name, const char *const *classes) {
    const ef_component *c = ef_model_index_find(&ctx->index, name);
    if (!c) return ef_err_set(&ctx->err, EF_ERR_FORMAT, "model_index.json: the pipeline has no '%s' component", name);
    for (const char *const *k = classes; *k; k++)
        if (strcmp(c->class_name, *k) == 0) return EF_OK;
    return ef_err_set(&ctx->err, EF_ERR_UNSUPPORTED, "model_index.json: component '%s' is a %s.%s, not supported",
                      name, c->library, c->class_name);
}

/* <model_dir>/<name> into out; EF_ERR_INVALID_ARG when it does not fit. */
static ef_status component_dir(ef_ctx *ctx, const char *name, char *out, size_t n) {
    if (!ef_path_join(out, n, ctx->model_dir, name))
        return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "%s: path too long", ctx->model_dir);
    return EF_OK;
}

/* params.weight_type, or (NULL) whatever type each component's file matrices share. */
static ef_wtype requested_wtype(const ef_ctx *ctx) {
    return ctx->params.weight_type ? ctx->wt : (ef_wtype)EF_W_FROM_FILE;
}

static ef_status load_text(ef_ctx *ctx) {
    static const char *const TOKENIZERS[] = {"CLIPTokenizer", "CLIPTokenizerFast", NULL};
    static const char *const TEXT_ENCODERS[] = {"CLIPTextModel", NULL};
    char dir[4096];
    ef_err *err = &ctx->err;
    EF_TRY(require_component(ctx, "tokenizer", TOKENIZERS));
    EF_TRY(component_dir(ctx, "tokenizer", dir, sizeof dir));
    EF_TRY(ef_bpe_load(dir, &ctx->tokenizer, err));
    EF_TRY(require_component(ctx, "text_encoder", TEXT_ENCODERS));
    EF_TRY(component_dir(ctx, "text_encoder", dir, sizeof dir));
    EF_TRY(ef_clip_text_load_typed(dir, ctx->variant, ctx->params.use_mmap, requested_wtype(ctx), &ctx->text_encoder, err));
    int32_t max_len = ef_bpe_max_length(ctx->tokenizer);
    int32_t max_pos = ef_clip_text_max_positions(ctx->text_encoder);
    if (max_len > max_pos)
        return ef_err_set(err, EF_ERR_FORMAT, "tokenizer model_max_length %d exceeds text_encoder "
                          "max_position_embeddings %d", (int)max_len, (int)max_pos);
    ctx->buf.ids = calloc((size_t)max_len, sizeof *ctx->buf.ids);
    if (!ctx->buf.ids) return ef_err_set(err, EF_ERR_NOMEM, "out of memory");
    return EF_OK;
}

ef_status ef_ctx_text_encoder_ready(ef_ctx *ctx) {
    if (!ef_clip_text_is_released(ctx->text_encoder)) return EF_OK;
    char dir[4096];
    EF_TRY(component_dir(ctx, "text_encoder", dir, sizeof dir));
    return ef_clip_text_reload(ctx->text_encoder, dir, ctx->variant, ctx->params.use_mmap, &ctx->err);
}

static ef_status load_unet(ef_ctx *ctx) {
    static const char *const UNETS[] = {"UNet2DConditionModel", NULL};
    char dir[4096];
    if (!ef_model_index_find(&ctx->index, "unet")) return EF_OK;   /* text-only folder */
    EF_TRY(require_component(ctx, "unet", UNETS));
    EF_TRY(component_dir(ctx, "unet", dir, sizeof dir));
    EF_TRY(ef_unet_load_typed(dir, ctx->variant, ctx->params.use_mmap, requested_wtype(ctx), &ctx->unet, &ctx->err));
    const ef_unet_config *uc = ef_unet_get_config(ctx->unet);
    int32_t d_text = ef_clip_text_hidden_size(ctx->text_encoder);
    if (uc->cross_attention_dim != d_text)
        return ef_err_set(&ctx->err, EF_ERR_FORMAT, "unet/config.json: cross_attention_dim %lld does not match "
                          "text_encoder hidden_size %d", (long long)uc->cross_attention_dim, (int)d_text);
    return EF_OK;
}

/* The decoder: TAESD when asked for, else the folder's vae/ (decoder half only; the
** encoder is loaded by the first img2img). */
static ef_status load_vae(ef_ctx *ctx) {
    static const char *const VAES[] = {"AutoencoderKL", "AutoencoderTiny", NULL};
    char dir[4096];
    if (ctx->taesd_path) {
        EF_TRY(ef_vae_load_taesd(ctx->taesd_path, ctx->params.use_mmap, EF_VAE_DECODER, &ctx->vae, &ctx->err));
    } else {
        if (!ef_model_index_find(&ctx->index, "vae")) return EF_OK;
        EF_TRY(require_component(ctx, "vae", VAES));
        EF_TRY(component_dir(ctx, "vae", dir, sizeof dir));
        EF_TRY(ef_vae_load(dir, ctx->variant, ctx->params.use_mmap, EF_VAE_DECODER, &ctx->vae, &ctx->err));
    }
    if (ctx->unet && ef_vae_latent_channels(ctx->vae) != ef_unet_get_config(ctx->unet)->out_channels)
        return ef_err_set(&ctx->err, EF_ERR_FORMAT, "%s: %d latent channels but the unet makes %lld",
                          ctx->taesd_path ? ctx->taesd_path : "vae/config.json", ef_vae_latent_channels(ctx->vae),
                          (long long)ef_unet_get_config(ctx->unet)->out_channels);
    return EF_OK;
}

/* scheduler/scheduler_config.json, completed with its class's defaults (so that
** switching sampler behaves like diffusers' Other.from_config(pipe.scheduler.config)). */
static ef_status load_scheduler(ef_ctx *ctx) {
    char dir[4096], path[4096];
    ef_err *err = &ctx->err;
    if (!ef_model_index_find(&ctx->index, "scheduler")) return EF_OK;
    EF_TRY(component_dir(ctx, "scheduler", dir, sizeof dir));
    if (!ef_path_join(path, sizeof path, dir, "scheduler_config.json"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", dir);
    EF_TRY(ef_json_load(path, SCHED_CONFIG_MAX_BYTES, &ctx->sched_config, err));
    const char *cls = NULL;
    EF_TRY(ef_json_str(ctx->sched_config, path, "_class_name", 1, NULL, &cls, err));
    ef_status rc = ef_sched_kind_from_name(cls, &ctx->sched_kind, err);
    if (rc != EF_OK) {
        ef_err_prefix(err, path);
        return rc;
    }
    EF_TRY(ef_sched_config_fill_defaults(ctx->sched_config, ctx->sched_kind, err));
    /* Build it once now so a bad config fails at load, not at the first image. */
    ef_sched *probe = NULL;
    EF_TRY(ef_sched_create(ctx->sched_config, path, NULL, &probe, err));
    ef_sched_free(probe);
    return EF_OK;
}

static void set_name(ef_ctx *ctx) {
    const char *d = ctx->model_dir;
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && d[b - 1] != '/') b--;
    size_t len = EF_MIN(n - b, sizeof ctx->name - 1);
    memcpy(ctx->name, d + b, len);
    ctx->name[len] = '\0';
}

static ef_status ctx_load(ef_ctx *ctx) {
    const int n_units = 4;
    double t0 = ef_time_now();
    ef_err *err = &ctx->err;

    EF_TRY(ef_pool_create(ctx->params.n_threads, &ctx->pool, err));
    ef_cpu_features cpu = ef_cpu_features_probe();
    ctx->kernels = ef_kernels_select(&cpu, ctx->params.kernels);
    if (!ctx->kernels)
        return ef_err_set(err, EF_ERR_UNSUPPORTED, "kernels '%s': not built, or this CPU cannot run them",
                          ctx->params.kernels);
    ctx->params.kernels = ctx->kernels->name;
    ctx_log(ctx, EF_LOG_INFO, "kernels: %s; unet and text encoder matrices: %s", ctx->kernels->name,
            ctx->params.weight_type ? ctx->params.weight_type : "as stored (f32 unless all f16, bf16 or q8)");
    EF_TRY(ef_model_index_load(ctx->model_dir, &ctx->index, err));
    set_name(ctx);
    ctx_log(ctx, EF_LOG_INFO, "%s: %s with %d components", ctx->model_dir, ctx->index.pipeline_class,
            ctx->index.n_components);
    EF_TRY(load_text(ctx));
    EF_TRY(load_tick(ctx, 1, n_units, t0));
    EF_TRY(load_unet(ctx));
    EF_TRY(load_tick(ctx, 2, n_units, t0));
    EF_TRY(load_vae(ctx));
    EF_TRY(load_tick(ctx, 3, n_units, t0));
    EF_TRY(load_scheduler(ctx));
    EF_TRY(load_tick(ctx, 4, n_units, t0));
    ctx_log(ctx, EF_LOG_INFO, "text encoder: %d layers, width %d, %lld params, matrices %s",
            (int)ef_clip_text_n_layers(ctx->text_encoder), (int)ef_clip_text_hidden_size(ctx->text_encoder),
            (long long)ef_clip_text_n_params(ctx->text_encoder), ef_wtype_name(ef_clip_text_wtype(ctx->text_encoder)));
    if (ctx->unet)
        ctx_log(ctx, EF_LOG_INFO, "unet: %lld params, matrices %s", (long long)ef_unet_n_params(ctx->unet),
                ef_wtype_name(ef_unet_wtype(ctx->unet)));
    if (ctx->vae) ctx_log(ctx, EF_LOG_INFO, "vae decoder: %lld params", (long long)ef_vae_n_params(ctx->vae, EF_VAE_DECODER));
    ctx->timings.load_s = ef_time_now() - t0;
    ctx_log(ctx, EF_LOG_INFO, "loaded in %.2f s", ctx->timings.load_s);
    return EF_OK;
}

ef_status ef_ctx_create(const char *model_dir, const ef_ctx_params *params, ef_ctx **out_ctx,
                        char *errbuf, size_t errbuf_size) {
    if (errbuf && errbuf_size) errbuf[0] = '\0';
    if (!out_ctx) return EF_ERR_INVALID_ARG;
    *out_ctx = NULL;
    ef_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (errbuf && errbuf_size) snprintf(errbuf, errbuf_size, "out of memory");
        return EF_ERR_NOMEM;
    }
    ctx->params = params ? *params : ef_ctx_default_params();
    ef_status rc;
    if (!model_dir || !model_dir[0]) rc = ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "model_dir is empty");
    else if (ctx->params.n_threads < 0 || ctx->params.n_threads > 256)
        rc = ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "n_threads %d: must be 0 (all CPUs) to 256", (int)ctx->params.n_threads);
    else if (ctx->params.variant && strcmp(ctx->params.variant, "fp16") != 0)
        rc = ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "variant '%s': only NULL or \"fp16\"", ctx->params.variant);
    else if (ctx->params.weight_type && !ef_wtype_parse(ctx->params.weight_type, &ctx->wt))
        rc = ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "weight_type '%s': one of f32, f16, bf16, q8",
                        ctx->params.weight_type);
    else {
        if (ctx->params.weight_type)   /* static: the caller's string may go; NULL stays "as stored" */
            ctx->params.weight_type = ef_wtype_name(ctx->wt);
        const char *variant = ctx->params.variant, *taesd = ctx->params.taesd_path, *cache = ctx->params.cache_dir;
        ctx->model_dir = dup_str(model_dir);
        ctx->variant = dup_str(variant);
        ctx->taesd_path = dup_str(taesd);
        ctx->cache_dir = dup_str(cache);
        ctx->params.variant = ctx->variant;
        ctx->params.taesd_path = ctx->taesd_path;
        ctx->params.cache_dir = ctx->cache_dir;
        if (!ctx->model_dir || (variant && !ctx->variant) || (taesd && !ctx->taesd_path) || (cache && !ctx->cache_dir))
            rc = ef_err_set(&ctx->err, EF_ERR_NOMEM, "out of memory");
        else rc = ctx_load(ctx);
    }
    if (rc != EF_OK) {
        ctx_log(ctx, EF_LOG_ERROR, "%s", ctx->err.msg);
        if (errbuf && errbuf_size) snprintf(errbuf, errbuf_size, "%s", ctx->err.msg);
        ef_ctx_free(ctx);
        return rc;
    }
    ef_err_clear(&ctx->err);
    *out_ctx = ctx;
    return EF_OK;
}

void ef_ctx_free(ef_ctx *ctx) {
    if (!ctx) return;
    ef_gen_buffers_free(&ctx->buf);
    cJSON_Delete(ctx->sched_config);
    ef_vae_free(ctx->vae);
    ef_unet_free(ctx->unet);
    ef_clip_text_free(ctx->text_encoder);
    ef_bpe_free(ctx->tokenizer);
    ef_pool_free(ctx->pool);
    free(ctx->model_dir);
    free(ctx->variant);
    free(ctx->taesd_path);
    free(ctx->cache_dir);
    free(ctx);
}

const char *ef_ctx_errmsg(const ef_ctx *ctx) { return ctx ? ctx->err.msg : "ctx is NULL"; }

ef_status ef_ctx_last_timings(const ef_ctx *ctx, ef_gen_timings *out) {
    if (!ctx || !out) return EF_ERR_INVALID_ARG;
    *out = ctx->timings;
    return EF_OK;
}

ef_status ef_ctx_model_info(const ef_ctx *ctx, ef_model_info *out) {
    if (!ctx || !out) return EF_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->text_hidden_size = ef_clip_text_hidden_size(ctx->text_encoder);
    out->text_max_length = ef_bpe_max_length(ctx->tokenizer);
    out->text_n_layers = ef_clip_text_n_layers(ctx->text_encoder);
    out->text_n_params = ef_clip_text_n_params(ctx->text_encoder);
    out->text_weight_type = ef_wtype_name(ef_clip_text_wtype(ctx->text_encoder));
    out->name = ctx->name;
    if (ctx->unet) {
        const ef_unet_config *uc = ef_unet_get_config(ctx->unet);
        out->unet_n_params = ef_unet_n_params(ctx->unet);
        out->unet_weight_type = ef_wtype_name(ef_unet_wtype(ctx->unet));
        out->is_lcm = uc->time_cond_proj_dim > 0 || (ctx->sched_config && ctx->sched_kind == EF_SCHED_LCM);
        int f = ctx->vae ? ef_vae_downscale(ctx->vae) : 8;
        int64_t sh = uc->sample_size[0] > 0 ? uc->sample_size[0] : 64, sw = uc->sample_size[1] > 0 ? uc->sample_size[1] : sh;
        out->height_default = (int32_t)(sh * f);
        out->width_default = (int32_t)(sw * f);
    }
    if (ctx->vae) out->vae_n_params = ef_vae_n_params(ctx->vae, ef_vae_parts(ctx->vae));
    return EF_OK;
}

ef_status ef_tokenize(ef_ctx *ctx, const char *text, int32_t *ids, int32_t max_ids, int32_t *out_n) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    ef_err_clear(&ctx->err);
    if (!text || !ids || !out_n || max_ids < 2)
        return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "ef_tokenize: text, ids and out_n are required, max_ids >= 2");
    return ef_bpe_encode(ctx->tokenizer, text, ids, max_ids, out_n, &ctx->err);
}

size_t ef_text_embedding_size(const ef_ctx *ctx) {
    if (!ctx) return 0;
    return (size_t)ef_bpe_max_length(ctx->tokenizer) * (size_t)ef_clip_text_hidden_size(ctx->text_encoder);
}

ef_status ef_encode_prompt(ef_ctx *ctx, const char *text, int32_t clip_skip, float *out, size_t out_len) {
    if (!ctx) return EF_ERR_INVALID_ARG;
    ef_err_clear(&ctx->err);
    if (!text || !out) return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "ef_encode_prompt: text and out are required");
    size_t need = ef_text_embedding_size(ctx);
    if (out_len < need)
        return ef_err_set(&ctx->err, EF_ERR_INVALID_ARG, "ef_encode_prompt: out holds %zu floats, %zu needed", out_len, need);
    int32_t n = 0, max_len = ef_bpe_max_length(ctx->tokenizer);
    EF_TRY(ef_bpe_encode(ctx->tokenizer, text, ctx->buf.ids, max_len, &n, &ctx->err));
    EF_TRY(ef_ctx_text_encoder_ready(ctx));
    return ef_clip_text_forward(ctx->text_encoder, ctx->pool, ctx->kernels, ctx->buf.ids, n, clip_skip, out, &ctx->err);
}
