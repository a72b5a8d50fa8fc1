/*
** edgefusion.h -- public C API of the edgefusion text-to-image engine.
**
** Usage:
**     ef_ctx_params cp = ef_ctx_default_params();
**     cp.n_threads = 2;
**     ef_ctx *ctx = NULL;
**     char why[512];
**     ef_status rc = ef_ctx_create("models/bk-sdm-tiny", &cp, &ctx, why, sizeof why);
**     if (rc != EF_OK) { fprintf(stderr, "load: %s: %s\n", ef_status_str(rc), why); return 1; }
**
**     int32_t ids[77];
**     int32_t n_ids = 0;
**     rc = ef_tokenize(ctx, "a watercolor fox", ids, 77, &n_ids);
**
**     size_t n = ef_text_embedding_size(ctx);          // 77 * hidden floats
**     float *emb = malloc(n * sizeof(float));
**     rc = ef_encode_prompt(ctx, "a watercolor fox", 0, emb, n);
**     if (rc != EF_OK) fprintf(stderr, "encode: %s\n", ef_ctx_errmsg(ctx));
**     free(emb);
**     ef_ctx_free(ctx);
**
** Threading: an ef_ctx may be used by one thread at a time. Different contexts are
** fully independent: the library has no mutable global state.
** Ownership: the library never frees memory it did not allocate, and the caller never
** frees memory the library returns except through an ef_*_free function.
** Errors: every call returns an ef_status; the detail (naming the file, tensor or field
** at fault) is in ef_ctx_errmsg(ctx). Nothing is printed and nothing exits: diagnostics
** go to the log callback of ef_ctx_params.
*/
#ifndef EDGEFUSION_H
#define EDGEFUSION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EF_SHARED) && defined(__GNUC__)
#  define EF_API __attribute__((visibility("default")))
#else
#  define EF_API
#endif

#define EF_VERSION_MAJOR 0
#define EF_VERSION_MINOR 1
#define EF_VERSION_PATCH 0
EF_API const char *ef_version(void);              /* "0.1.0", static string */

/* ---- status ------------------------------------------------------------- */
typedef enum ef_status {
    EF_OK = 0,
    EF_ERR_INVALID_ARG,   /* caller passed a bad value (NULL, size too small, ...) */
    EF_ERR_IO,            /* open/read/mmap failed, or a required file is missing */
    EF_ERR_FORMAT,        /* model file malformed, truncated or inconsistent */
    EF_ERR_UNSUPPORTED,   /* valid but not supported: dtype, architecture, pickle weights */
    EF_ERR_NOMEM,         /* allocation failed */
    EF_ERR_CANCELLED,     /* a progress callback asked to stop */
    EF_ERR_INTERNAL       /* a bug: please report with the ef_ctx_errmsg() text */
} ef_status;

EF_API const char *ef_status_str(ef_status s);    /* never NULL; static storage */

/* ---- logging ------------------------------------------------------------ */
typedef enum ef_log_level { EF_LOG_ERROR, EF_LOG_WARN, EF_LOG_INFO, EF_LOG_DEBUG } ef_log_level;
typedef void (*ef_log_fn)(ef_log_level level, const char *msg, void *user);

/* Called between operations of long work (loading: one tick per component; later:
** one per denoising step). done/total count the units; seconds since the call began.
** Return nonzero to cancel: the running call then returns EF_ERR_CANCELLED and frees
** everything it allocated. */
typedef int (*ef_progress_fn)(int32_t done, int32_t total, double seconds, void *user);

/* ---- context ------------------------------------------------------------ */
typedef struct ef_ctx ef_ctx;                     /* opaque */

typedef struct ef_ctx_params {
    int32_t        n_threads;      /* 0 = all online CPUs */
    int32_t        use_mmap;       /* 1 = map weight files read-only (default) */
    const char    *variant;        /* weights variant: NULL = prefer fp32 files, "fp16" = *.fp16.safetensors */
    ef_log_fn      log_fn;         /* NULL = no logging */
    void          *log_user;
    ef_progress_fn progress_fn;    /* NULL = none; see ef_progress_fn */
    void          *progress_user;
} ef_ctx_params;

EF_API ef_ctx_params ef_ctx_default_params(void);

/* Load a Hugging Face diffusers pipeline folder (model_index.json + component folders).
** Today this loads the tokenizer and the text encoder; the other components are
** validated as they gain an implementation. params may be NULL for defaults.
** On success *out_ctx is set and EF_OK returned. On failure *out_ctx is NULL, the
** reason is sent to params->log_fn at EF_LOG_ERROR and, when errbuf is not NULL,
** copied into errbuf (NUL-terminated, truncated to errbuf_size). */
EF_API ef_status ef_ctx_create(const char *model_dir,
                               const ef_ctx_params *params,
                               ef_ctx **out_ctx,
                               char *errbuf, size_t errbuf_size);

EF_API void ef_ctx_free(ef_ctx *ctx);             /* NULL is a harmless no-op */

/* Detail of the most recent failed call on ctx ("" if none). Valid until the next call. */
EF_API const char *ef_ctx_errmsg(const ef_ctx *ctx);

typedef struct ef_model_info {
    int32_t text_hidden_size;     /* width of the text embedding, e.g. 768 */
    int32_t text_max_length;      /* tokens per prompt, e.g. 77 */
    int32_t text_n_layers;        /* encoder layers, e.g. 12 */
    int64_t text_n_params;        /* parameters loaded for the text encoder */
} ef_model_info;

EF_API ef_status ef_ctx_model_info(const ef_ctx *ctx, ef_model_info *out_info);

/* ---- text --------------------------------------------------------------- */

/* CLIP BPE tokenization, identical to transformers' CLIPTokenizer with
** padding="max_length", truncation=True: BOS, tokens, EOS, then the pad token,
** max_ids entries at most (pass text_max_length for the model's own length).
** *out_n receives the number of ids written (== max_ids when padded). */
EF_API ef_status ef_tokenize(ef_ctx *ctx, const char *utf8_text,
                             int32_t *ids_out, int32_t max_ids, int32_t *out_n);

/* Floats needed by ef_encode_prompt: text_max_length * text_hidden_size. */
EF_API size_t ef_text_embedding_size(const ef_ctx *ctx);

/* Tokenize and run the text encoder. clip_skip = 0 or 1 returns last_hidden_state
** (after the final LayerNorm, what diffusers feeds the UNet); clip_skip = k >= 2 returns
** the hidden state k-1 layers before the last, passed through the final LayerNorm
** (diffusers' clip_skip semantics). out (T, D) row-major, out_len >= ef_text_embedding_size. */
EF_API ef_status ef_encode_prompt(ef_ctx *ctx, const char *utf8_text, int32_t clip_skip,
                                  float *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif /* EDGEFUSION_H */
