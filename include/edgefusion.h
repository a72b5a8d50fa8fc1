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
    const char    *taesd_path;     /* NULL = the folder's vae/; else a TAESD decoder (and encoder) to use
                                   ** instead: a diffusers AutoencoderTiny folder, a folder with
                                   ** taesd_decoder.safetensors (+ taesd_encoder.safetensors), or one file */
    ef_log_fn      log_fn;         /* NULL = no logging */
    void          *log_user;
    ef_progress_fn progress_fn;    /* NULL = none; see ef_progress_fn */
    void          *progress_user;
    const char    *weight_type;    /* how the UNet and text encoder keep their matrices (convs,
                                   ** linears, token embedding): "f32"; "f16", "bf16" (half the
                                   ** memory); "q8" (int8 with a scale per output channel, ~1/4).
                                   ** Converted at load from any file dtype; the arithmetic
                                   ** stays f32. NULL = as stored: a component whose matrices
                                   ** are all F16, all BF16 or all q8 (ef_convert's files)
                                   ** keeps that type, any other loads as f32. */
    const char    *kernels;        /* NULL = the fastest kernels this CPU runs; or a variant by
                                   ** name ("ref", "avx2", "neon") for tests and benchmarks */
    int32_t        release_text_encoder; /* 1 = give the text encoder's weights back to the OS
                                   ** after each prompt encoding and read them again at the
                                   ** next one: the denoising and decoding peaks then leave
                                   ** it out (~470 MiB in f32, ~120 MiB in q8) at the price of
                                   ** a reload per generation. 0 = keep it (default); the
                                   ** CLI sets 1 when it makes a single image. */
    const char    *cache_dir;      /* NULL = no cache; else an existing folder where the A1111
                                   ** model hash of the UNet file (a sha256 of the whole file,
                                   ** ~1 s for 1.3 GB) is kept between runs, keyed by the file's
                                   ** path, size and mtime (model-hashes.tsv). The CLI passes
                                   ** $XDG_CACHE_HOME/edgefusion (~/.cache/edgefusion). */
} ef_ctx_params;

EF_API ef_ctx_params ef_ctx_default_params(void);

/* Load a Hugging Face diffusers pipeline folder (model_index.json, tokenizer/,
** text_encoder/, unet/, vae/, scheduler/). A folder without unet/ or vae/ loads for
** text encoding only (ef_generate then fails naming what is missing). params may be
** NULL for defaults.
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
    int64_t unet_n_params;        /* 0 when the folder has no unet/ */
    int64_t vae_n_params;         /* decoder (+ encoder) parameters; 0 without a VAE */
    int32_t is_lcm;               /* 1: LCM defaults (UNet w-embedding or LCMScheduler) */
    int32_t width_default, height_default;   /* pixels: UNet sample_size x VAE scale */
    const char *name;             /* model folder name, for metadata; owned by ctx */
    const char *text_weight_type; /* how the text encoder's matrices are kept: "f32", "f16",
                                  ** "bf16" or "q8" (static string) */
    const char *unet_weight_type; /* the same for the UNet; NULL when the folder has no unet/ */
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

/* ---- image generation ----------------------------------------------------- */

/* Samplers, each exactly as its diffusers scheduler class. */
typedef enum ef_sampler {
    EF_SAMPLER_DEFAULT = 0,   /* the folder's scheduler/scheduler_config.json class */
    EF_SAMPLER_EULER,         /* "euler"    EulerDiscreteScheduler */
    EF_SAMPLER_EULER_A,       /* "euler_a"  EulerAncestralDiscreteScheduler */
    EF_SAMPLER_DDIM,          /* "ddim"     DDIMScheduler (eta 0) */
    EF_SAMPLER_DPMPP_2M,      /* "dpm++2m"  DPMSolverMultistepScheduler (DPM++ 2M) */
    EF_SAMPLER_LCM,           /* "lcm"      LCMScheduler */
    EF_SAMPLER_PNDM           /* "pndm"     PNDMScheduler (A1111's PLMS) */
} ef_sampler;

/* Sigma spacing for Euler and DPM++ (sd.cpp's --scheduler). */
typedef enum ef_sigma_schedule {
    EF_SIGMAS_DEFAULT = 0,    /* the config's use_karras_sigmas */
    EF_SIGMAS_DISCRETE,       /* "discrete" */
    EF_SIGMAS_KARRAS          /* "karras" */
} ef_sigma_schedule;

/* sd.cpp's names (above); EF_ERR_UNSUPPORTED for others. */
EF_API ef_status   ef_sampler_from_name(const char *name, ef_sampler *out);
EF_API const char *ef_sampler_name(ef_sampler s);            /* "default" for EF_SAMPLER_DEFAULT */
EF_API ef_status   ef_sigma_schedule_from_name(const char *name, ef_sigma_schedule *out);

typedef struct ef_gen_params {
    const char       *prompt;           /* UTF-8, required */
    const char       *negative_prompt;  /* NULL = "" (used only with classifier-free guidance) */
    int32_t           width, height;    /* pixels, multiples of the model's granularity; 0 = model default */
    int32_t           n_steps;          /* 0 = model default: LCM 4, others 25 */
    float             guidance_scale;   /* < 0 = model default: 8.5 for a UNet with a guidance
                                        ** embedding (LCM; fed as w = g - 1, one UNet call per step),
                                        ** else 7.5 (classifier-free guidance when > 1: two calls) */
    uint64_t          seed;             /* torch.Generator("cpu").manual_seed(seed): same image as diffusers */
    ef_sampler        sampler;
    ef_sigma_schedule sigmas;
    int32_t           clip_skip;        /* 0/1 = last layer, 2 = one before, ... */
    /* img2img: init_rgb (init_height, init_width, 3) with the output's size, strength in (0, 1] */
    const uint8_t    *init_rgb;
    int32_t           init_width, init_height;
    float             strength;         /* fraction of the schedule re-run; default 0.75 */
    /* VAE decoding in overlapping tiles (bounded memory); tile/overlap in latent pixels.
    ** Auto tiles when an untiled decode would need more than EF_VAE_AUTO_TILE_MIB of
    ** workspace (the SD VAE above ~590x590, TAESD above ~1180x1180): tiles recompute
    ** their overlaps (the SD VAE at 512x512: 14.8 s tiled, 10.5 s untiled) and see only
    ** their own GroupNorm statistics, so up to that size the exact diffusers decode
    ** wins; ask for tiles to save memory (~500 MB for the SD VAE at 512, ~100 MB with
    ** TAESD). Tiles are blended as in diffusers' enable_tiling. */
    int32_t           vae_tiling;       /* 0 auto (default), 1 on, -1 off */
    int32_t           vae_tile_size;    /* 0 = 32 */
    int32_t           vae_tile_overlap; /* 0 = 8 */
    /* Token downsampling (ToDo): the UNet's top-level self-attention takes its keys and
    ** values from the tokens averaged over factor x factor windows, factor^2 x less
    ** attention work (at 512x512 ~25% of a BK-SDM-Tiny step). An approximation: the image
    ** changes (bench/RESULTS.md has its PSNR against the exact one); recorded in the PNG
    ** metadata. 0 or 1 = off (default), 2 = ToDo's setting, at most 4. */
    int32_t           token_downsample;
    /* Called after each denoising step (done = 1..n_steps) and after decoding
    ** (done = total = n_steps + 1). Return nonzero to cancel: ef_generate returns
    ** EF_ERR_CANCELLED within one UNet block. */
    ef_progress_fn    progress_fn;
    void             *progress_user;
} ef_gen_params;

EF_API ef_gen_params ef_gen_default_params(void);

/* What a generation will use once the model's defaults are applied. */
typedef struct ef_gen_settings {
    int32_t           width, height;
    int32_t           n_steps;          /* steps requested (img2img runs about strength x of them) */
    float             guidance_scale;
    int32_t           cfg;              /* 1: two UNet calls per step (classifier-free guidance) */
    ef_sampler        sampler;          /* resolved: never EF_SAMPLER_DEFAULT */
    ef_sigma_schedule sigmas;           /* resolved: DISCRETE or KARRAS */
    int32_t           clip_skip;
    float             strength;         /* -1 for txt2img */
    uint64_t          seed;
    int32_t           vae_tiled;        /* 1: the decode runs in tiles (vae_tiling resolved) */
    int32_t           token_downsample; /* 1 = off, else the factor */
} ef_gen_settings;

#define EF_VAE_AUTO_TILE_MIB 1024

/* Validates params against the loaded model and fills *out; nothing runs. */
EF_API ef_status ef_gen_resolve(ef_ctx *ctx, const ef_gen_params *params, ef_gen_settings *out);

/* Bytes of a packed RGB8 image (width*height*3); 0 for a non-positive size or overflow. */
EF_API size_t ef_rgb_size(int32_t width, int32_t height);

/* Text-to-image, or image-to-image when params->init_rgb is set. Writes the image as
** packed RGB8 (height, width, 3), top row first, into rgb_out (caller-owned, at least
** ef_rgb_size of the resolved size). Deterministic for a seed: independent of
** n_threads. */
EF_API ef_status ef_generate(ef_ctx *ctx, const ef_gen_params *params, uint8_t *rgb_out, size_t rgb_out_size);

/* The AUTOMATIC1111 "parameters" text for this generation (prompt, negative prompt,
** Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash, Model, ...), as
** A1111 writes it into PNGs. NUL-terminated into out (n bytes). */
EF_API ef_status ef_gen_infotext(ef_ctx *ctx, const ef_gen_params *params, char *out, size_t n);

/* Wall-clock seconds of the stages of the most recent ef_generate on a context (for
** benchmarks; nothing here changes what a generation computes). A stage the call did
** not reach is 0; before the first ef_generate only load_s is set. */
#define EF_GEN_TIMINGS_MAX_STEPS 64
typedef struct ef_gen_timings {
    double  load_s;          /* ef_ctx_create: reading and converting every component */
    double  text_s;          /* tokenizer + text encoder (both prompts with CFG) */
    double  unet_total_s;    /* the denoising loop: UNet calls, guidance and scheduler steps */
    int32_t n_steps;         /* denoising steps run */
    double  unet_s[EF_GEN_TIMINGS_MAX_STEPS];  /* each step, the first EF_GEN_TIMINGS_MAX_STEPS */
    double  vae_s;           /* VAE (or TAESD) decode and the RGB8 conversion */
    double  total_s;         /* the whole ef_generate call (img2img's VAE encode counts only here) */
} ef_gen_timings;

EF_API ef_status ef_ctx_last_timings(const ef_ctx *ctx, ef_gen_timings *out);

/* ---- PNG files ----------------------------------------------------------- */

/* Writes rgb (height, width, 3) to path with an optional A1111 "parameters" text chunk
** (tEXt when Latin-1, else iTXt). errbuf (may be NULL) receives the reason on failure. */
EF_API ef_status ef_png_save(const char *path, const uint8_t *rgb, int32_t width, int32_t height,
                             const char *parameters, char *errbuf, size_t errbuf_size);

typedef struct ef_image {
    uint8_t *rgb;          /* (height, width, 3) */
    int32_t  width, height;
    char    *parameters;   /* the "parameters" text, or NULL */
} ef_image;

/* Reads any PNG as RGB8 (palette, gray, alpha and 16-bit converted). Release with
** ef_image_free. Untrusted input: sizes are capped and errors name the file. */
EF_API ef_status ef_png_load(const char *path, ef_image *out, char *errbuf, size_t errbuf_size);
EF_API void      ef_image_free(ef_image *img);   /* NULL or zeroed is a no-op */

/* ---- conversion ----------------------------------------------------------- */

typedef struct ef_convert_params {
    const char *weight_type;   /* required: "f16", "bf16" or "q8" */
    const char *variant;       /* which input weights to read: NULL or "fp16" (as ef_ctx_params) */
    int32_t     overwrite;     /* 0 (default): refuse an existing non-empty out_dir; 1: write into
                               ** it, replacing the files of the same names (nothing is deleted) */
    ef_log_fn   log_fn;        /* one EF_LOG_INFO line per component written; NULL = none */
    void       *log_user;
} ef_convert_params;

EF_API ef_convert_params ef_convert_default_params(void);

/* Writes a copy of the diffusers pipeline folder in_dir into out_dir (created if
** missing; its parent must exist) whose UNet and text encoder keep every matrix (the
** tensors their loaders store as ef_ctx_params.weight_type: conv and linear weights,
** the token embedding) in weight_type, vectors (norms, biases, position embeddings) in
** F32: text_encoder/model.safetensors and unet/diffusion_pytorch_model.safetensors.
** f16 / bf16 are plain F16 / BF16 tensors (diffusers and transformers read them); q8
** stores each matrix "<name>" as I8 (same shape) plus F32 "<name>.q8_scale" (rows),
** metadata {"format": "pt", "edgefusion_type": "q8"}. model_index.json, every other
** component folder (tokenizer/, scheduler/, vae/, ...), each converted component's
** other files but weights (config.json, ...) and a taesd/ folder are copied as they
** are. Files are written through a temporary name, then renamed. ef_ctx_create with
** weight_type NULL loads the result in weight_type, the same model as loading in_dir
** with that weight_type (bit for bit). Errors (the reason in errbuf, naming the file
** or tensor): EF_ERR_INVALID_ARG (bad weight_type, out_dir not empty without
** overwrite), EF_ERR_IO, EF_ERR_FORMAT, EF_ERR_UNSUPPORTED (a component class the
** engine does not load). */
EF_API ef_status ef_convert(const char *in_dir, const char *out_dir, const ef_convert_params *params,
                            char *errbuf, size_t errbuf_size);

#ifdef __cplusplus
}
#endif
#endif /* EDGEFUSION_H */
