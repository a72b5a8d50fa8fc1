/*
** args.h -- command-line options of the edgefusion CLI (stable-diffusion.cpp's flag
** names where they exist) and their parser. Parsing never exits: it returns a message.
*/
#ifndef EF_CLI_ARGS_H
#define EF_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "edgefusion.h"

typedef struct cli_args {
    const char *model;          /* -m, --model DIR (diffusers pipeline folder) */
    const char *prompt;         /* -p, --prompt TEXT */
    const char *negative;       /* -n, --negative-prompt TEXT */
    const char *output;         /* -o, --output FILE.png (may hold one %d / %03d) */
    const char *init_img;       /* -i, --init-img FILE.png (img2img) */
    const char *taesd;          /* --taesd PATH */
    const char *embedding_out;  /* --embedding-out FILE.npy */
    const char *variant;        /* --variant fp16 */
    const char *weight_type;    /* --type f32|f16|bf16|q8 */
    const char *kernels;        /* --kernels NAME */
    int         width, height;  /* -W, -H (0 = model default) */
    int         steps;          /* --steps (0 = model default) */
    float       cfg_scale;      /* --cfg-scale (< 0 = model default) */
    int64_t     seed;           /* -s, --seed (negative = random) */
    ef_sampler  sampler;        /* --sampling-method */
    ef_sigma_schedule sigmas;   /* --scheduler */
    int         batch;          /* -b, --batch-count */
    float       strength;       /* --strength */
    int         vae_tiling;     /* --vae-tiling 1, --no-vae-tiling -1, else 0 (auto) */
    int         tile_size;      /* --vae-tile-size (latent px) */
    int         tile_overlap;   /* --vae-tile-overlap (latent px) */
    int         token_downsample; /* --token-downsample N (0/1 = off) */
    int         threads;        /* -t, --threads N (0 = all CPUs) */
    int         clip_skip;      /* --clip-skip N (1 = last layer) */
    int         print_tokens;   /* --tokens */
    int         encode_only;    /* --encode-only: no image */
    int         no_hash_cache;  /* --no-hash-cache: do not keep the model hash in ~/.cache */
    int         verbose;        /* -v, --verbose */
    int         help;           /* -h, --help */
    int         version;        /* --version */
} cli_args;

/* Fills a from argv. Returns 0 and writes one line into msg (size n) on a bad flag
** or value; returns 1 on success. */
int cli_args_parse(int argc, char **argv, cli_args *a, char *msg, size_t n);

/* The --help text. */
const char *cli_usage(void);

/* `edgefusion convert ...`: a pipeline folder rewritten with narrow matrices (ef_convert). */
typedef struct cli_convert_args {
    const char *model;          /* -m, --model IN */
    const char *output;         /* -o, --output OUT */
    const char *weight_type;    /* --type f16|bf16|q8 (required) */
    const char *variant;        /* --variant fp16: which input weights to read */
    int         force;          /* --force: write into an existing non-empty OUT */
    int         help;           /* -h, --help */
} cli_convert_args;

/* Fills a from argv, argv[0] being "convert". Returns 0 and one line in msg on a bad
** flag or value, 1 on success. */
int cli_convert_args_parse(int argc, char **argv, cli_convert_args *a, char *msg, size_t n);

/* The `edgefusion convert --help` text. */
const char *cli_convert_usage(void);

/* The file name of image i (0-based) of a batch of n: the -o pattern's %d filled with
** i, or, without a pattern, the name itself (n == 1) or NAME_<i+1>.EXT. */
void cli_output_name(const char *pattern, int i, int n, char *out, size_t size);

#endif /* EF_CLI_ARGS_H */
