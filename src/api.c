/*
** api.c -- the public entry points of include/edgefusion.h: argument validation,
** context create/free, the per-context error message, and dispatch to the modules.
** No model math lives here.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "ef_internal.h"
#include "kernels/kernels.h"
#include "model/clip_text.h"
#include "model_index.h"
#include "text/bpe.h"

struct ef_ctx {
    ef_err             err;
    ef_ctx_params      params;
    ef_pool           *pool;
    const ef_kernels  *kernels;
    ef_model_index     index;
    ef_bpe            *tokenizer;
    ef_clip_text      *text_encoder;
    int32_t           *ids;          /* (max_length) scratch for ef_encode_prompt */
};

ef_ctx_params ef_ctx_default_params(void) {
    ef_ctx_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.use_mmap = 1;
    return p;
}

static void ctx_log(const ef_ctx *ctx, ef_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void ctx_log(const ef_ctx *ctx, ef_log_level level, const char *fmt, ...) {
    if (!ctx->params.log_fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->params.log_fn(level, msg, ctx->params.log_user);
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

static ef_status ctx_load(ef_ctx *ctx, const char *model_dir) {
    static const char *const TOKENIZERS[] = {"CLIPTokenizer", "CLIPTokenizerFast", NULL};
    static const char *const TEXT_ENCODERS[] = {"CLIPTextModel", NULL};
    const int n_units = 2;
    double t0 = ef_time_now();
    char dir[4096];
    ef_err *err = &ctx->err;

    EF_TRY(ef_pool_create(ctx->params.n_threads, &ctx->pool, err));
    ef_cpu_features cpu = ef_cpu_features_probe();
    ctx->kernels = ef_kernels_select(&cpu, NULL);
    EF_TRY(ef_model_index_load(model_dir, &ctx->index, err));
    ctx_log(ctx, EF_LOG_INFO, "%s: %s with %d components", model_dir, ctx->index.pipeline_class,
            ctx->index.n_components);

    EF_TRY(require_component(ctx, "tokenizer", TOKENIZERS));
    if (!ef_path_join(dir, sizeof dir, model_dir, "tokenizer"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", model_dir);
    EF_TRY(ef_bpe_load(dir, &ctx->tokenizer, err));
    EF_TRY(load_tick(ctx, 1, n_units, t0));

    EF_TRY(require_component(ctx, "text_encoder", TEXT_ENCODERS));
    if (!ef_path_join(dir, sizeof dir, model_dir, "text_encoder"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", model_dir);
    EF_TRY(ef_clip_text_load(dir, ctx->params.variant, ctx->params.use_mmap, &ctx->text_encoder, err));
    EF_TRY(load_tick(ctx, 2, n_units, t0));

    int32_t max_len = ef_bpe_max_length(ctx->tokenizer);
    int32_t max_pos = ef_clip_text_max_positions(ctx->text_encoder);
    if (max_len > max_pos)
        return ef_err_set(err, EF_ERR_FORMAT, "tokenizer model_max_length %d exceeds text_encoder "
                          "max_position_embeddings %d", (int)max_len, (int)max_pos);
    ctx->ids = calloc((size_t)max_len, sizeof *ctx->ids);
    if (!ctx->ids) return ef_err_set(err, EF_ERR_NOMEM, "out of memory");
    ctx_log(ctx, EF_LOG_INFO, "text encoder: %d layers, width %d, %lld params; loaded in %.2f s",
            (int)ef_clip_text_n_layers(ctx->text_encoder), (int)ef_clip_text_hidden_size(ctx->text_encoder),
            (long long)ef_clip_text_n_params(ctx->text_encoder), ef_time_now() - t0);
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
    else rc = ctx_load(ctx, model_dir);
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
    ef_clip_text_free(ctx->text_encoder);
    ef_bpe_free(ctx->tokenizer);
    ef_pool_free(ctx->pool);
    free(ctx->ids);
    free(ctx);
}

const char *ef_ctx_errmsg(const ef_ctx *ctx) { return ctx ? ctx->err.msg : "ctx is NULL"; }

ef_status ef_ctx_model_info(const ef_ctx *ctx, ef_model_info *out) {
    if (!ctx || !out) return EF_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->text_hidden_size = ef_clip_text_hidden_size(ctx->text_encoder);
    out->text_max_length = ef_bpe_max_length(ctx->tokenizer);
    out->text_n_layers = ef_clip_text_n_layers(ctx->text_encoder);
    out->text_n_params = ef_clip_text_n_params(ctx->text_encoder);
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
    EF_TRY(ef_bpe_encode(ctx->tokenizer, text, ctx->ids, max_len, &n, &ctx->err));
    return ef_clip_text_forward(ctx->text_encoder, ctx->pool, ctx->kernels, ctx->ids, n, clip_skip, out, &ctx->err);
}
