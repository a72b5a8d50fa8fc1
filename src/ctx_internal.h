/*
** ctx_internal.h -- the definition of the public ef_ctx, shared by the files that
** implement include/edgefusion.h (api.c: lifetime, text; generate.c: images).
** Everything a context owns is here; there is no other state.
*/
#ifndef EF_CTX_INTERNAL_H
#define EF_CTX_INTERNAL_H

#include <cJSON.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "edgefusion.h"
#include "kernels/kernels.h"
#include "model/clip_text.h"
#include "model/unet.h"
#include "model/vae.h"
#include "model_index.h"
#include "sched/sched.h"
#include "text/bpe.h"

/* Buffers of one generation size, allocated at the first ef_generate of that size
** (and text length) and reused: nothing is allocated inside the denoising loop. */
typedef struct ef_gen_buffers {
    int     h, w;            /* latent size */
    int     T, D;            /* text tokens, text width */
    size_t  n;               /* latent elements: C * h * w */
    float  *latents;         /* (C, h, w) */
    float  *noise;           /* (C, h, w) */
    float  *unet_in;         /* (C, h, w) scheduler-scaled input */
    float  *eps_cond;        /* (C, h, w) */
    float  *eps_uncond;      /* (C, h, w) */
    float  *text_cond;       /* (T, D) */
    float  *text_uncond;     /* (T, D) */
    float  *w_embed;         /* (time_cond_proj_dim) or NULL */
    float  *image;           /* (3, 8h, 8w) decoder output in [-1, 1] (or the img2img input) */
    int32_t *ids;            /* (T) */
} ef_gen_buffers;

struct ef_ctx {
    ef_err            err;
    ef_ctx_params     params;        /* string fields point at the copies below */
    char             *model_dir;
    char             *variant;
    char             *taesd_path;
    char             *cache_dir;     /* params.cache_dir's copy, or NULL */
    char              name[256];     /* model folder name */
    char              model_hash[11];/* A1111 short hash of the UNet weights, "" until computed */
    ef_pool          *pool;
    const ef_kernels *kernels;
    ef_wtype          wt;            /* params.weight_type, parsed (unused when it is NULL: as stored) */
    ef_model_index    index;
    ef_bpe           *tokenizer;
    ef_clip_text     *text_encoder;
    ef_unet          *unet;          /* NULL: folder without unet/ */
    ef_vae           *vae;           /* NULL: folder without vae/ (and no TAESD) */
    cJSON            *sched_config;  /* scheduler_config.json with its class's defaults filled */
    ef_sched_kind     sched_kind;    /* the folder's scheduler class */
    ef_gen_buffers    buf;
    /* progress/cancel of the running ef_generate (see generate.c) */
    const ef_gen_params *gen;
    double            gen_t0;
    int               cancelled;
    ef_gen_timings    timings;       /* load_s from ef_ctx_create; the rest from the last ef_generate */
};

/* Makes the text encoder usable: reads its weights again when they were released
** (params.release_text_encoder). Errors name the folder. */
ef_status ef_ctx_text_encoder_ready(ef_ctx *ctx);

/* Frees the generation buffers (ctx stays usable). */
void ef_gen_buffers_free(ef_gen_buffers *b);

#endif /* EF_CTX_INTERNAL_H */
