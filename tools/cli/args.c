/*
** args.c -- parses the edgefusion CLI flags into cli_args. Every value is checked
** (numbers fully consumed and in range, names known, the -o pattern holding at most
** one integer conversion); unknown flags and missing values are errors.
*/
#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: edgefusion -m MODEL_DIR -p PROMPT [options]\n"
    "       edgefusion convert -m IN -o OUT --type f16|bf16|q8 [--variant fp16] [--force]\n"
    "\n"
    "Text-to-image (and image-to-image with -i) from a Hugging Face diffusers pipeline\n"
    "folder (model_index.json, tokenizer/, text_encoder/, unet/, vae/, scheduler/).\n"
    "The same seed gives the same image as diffusers on CPU.\n"
    "\n"
    "options:\n"
    "  -m, --model DIR              diffusers pipeline folder (required)\n"
    "  -p, --prompt TEXT            the prompt (required)\n"
    "  -n, --negative-prompt TEXT   what to steer away from (with classifier-free guidance)\n"
    "  -o, --output FILE            PNG to write (default output.png); with -b, a %03d in the\n"
    "                               name is replaced by the image index, else NAME_1.png, ...\n"
    "  -W, --width N, -H, --height N  image size in pixels (default: the model's)\n"
    "      --steps N                denoising steps (default: LCM models 4, others 25)\n"
    "      --cfg-scale X            guidance scale (default: LCM models 8.5 via the guidance\n"
    "                               embedding, one UNet call per step; others 7.5)\n"
    "  -s, --seed N                 seed (default 42; negative = random, printed)\n"
    "      --sampling-method NAME   euler, euler_a, ddim, dpm++2m, lcm, pndm (default: the model's)\n"
    "      --scheduler NAME         discrete or karras sigmas (euler, dpm++2m)\n"
    "  -b, --batch-count N          images to make, seeds N, N+1, ... (default 1)\n"
    "  -i, --init-img FILE          img2img from this PNG (same size as the output)\n"
    "      --strength X             img2img: how much to change the image, (0, 1] (default 0.75)\n"
    "      --taesd PATH             decode with TAESD (folder or .safetensors) instead of vae/\n"
    "      --vae-tiling             decode in overlapping tiles (bounded memory); by default only\n"
    "                               when an untiled decode needs > 1 GiB (SD VAE above ~590x590)\n"
    "      --no-vae-tiling          never tile (the exact diffusers decode, more memory)\n"
    "      --vae-tile-size N        tile side in latent pixels (default 32)\n"
    "      --vae-tile-overlap N     tile overlap in latent pixels (default 8)\n"
    "      --token-downsample N     faster, approximate: the UNet's top-level self-attention takes\n"
    "                               keys/values from N x N token averages (ToDo; 2 is its setting,\n"
    "                               1 = off, the default); recorded in the PNG metadata\n"
    "  -t, --threads N              worker threads; 0 = all CPUs (default 0)\n"
    "      --clip-skip N            1 = last text-encoder layer (default), 2 = the one before\n"
    "      --variant fp16           load *.fp16.safetensors weights when present\n"
    "      --type TYPE              UNet weight storage: f32 (default), f16, bf16, q8 (alias q8_0:\n"
    "                               int8, a scale per output channel; ~1/4 of the memory)\n"
    "      --kernels NAME           force a kernel variant: ref, avx2, neon (default: the fastest)\n"
    "      --no-hash-cache          recompute the UNet file's A1111 model hash (a sha256, ~1 s per\n"
    "                               GB) instead of keeping it in $XDG_CACHE_HOME/edgefusion\n"
    "                               (default ~/.cache/edgefusion)\n"
    "      --tokens                 print the prompt's token ids\n"
    "      --embedding-out FILE     write the prompt embedding (tokens x width, float32) as .npy\n"
    "      --encode-only            only tokenize/encode the prompt (no image)\n"
    "  -v, --verbose                log loading details to stderr\n"
    "  -h, --help                   this text\n"
    "      --version                print the version\n"
    "\n"
    "convert: writes a copy of the pipeline folder IN to OUT whose UNet and text-encoder\n"
    "matrices are stored as f16, bf16 or q8 (int8 + a scale per row); it loads in that type\n"
    "by default, smaller and faster to load (edgefusion convert --help).\n";

static const char CONVERT_USAGE[] =
    "usage: edgefusion convert -m IN -o OUT --type f16|bf16|q8 [--variant fp16] [--force]\n"
    "\n"
    "Writes OUT, a copy of the diffusers pipeline folder IN whose UNet and text encoder keep\n"
    "every matrix (conv and linear weights, the token embedding) in the given type and the\n"
    "vectors (norms, biases) in f32. f16 and bf16 files are plain safetensors that diffusers\n"
    "reads; q8 stores each matrix as I8 plus an F32 '<name>.q8_scale' (one scale per row).\n"
    "model_index.json, tokenizer/, scheduler/, vae/, configs and a taesd/ folder are copied.\n"
    "edgefusion -m OUT then loads the matrices in that type without --type: the same model as\n"
    "edgefusion -m IN --type TYPE, with smaller files and faster loading.\n"
    "\n"
    "options:\n"
    "  -m, --model IN               diffusers pipeline folder to read (required)\n"
    "  -o, --output OUT             folder to write (required; its parent must exist)\n"
    "      --type TYPE              f16, bf16 or q8 (alias q8_0) (required)\n"
    "      --variant fp16           read *.fp16.safetensors weights when present\n"
    "      --force                  write into OUT even when it is not empty\n"
    "  -h, --help                   this text\n";

const char *cli_usage(void) { return USAGE; }

const char *cli_convert_usage(void) { return CONVERT_USAGE; }

int cli_convert_args_parse(int argc, char **argv, cli_convert_args *a, char *msg, size_t n) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s, l) (strcmp(f, s) == 0 || strcmp(f, l) == 0)
#define NEED_VALUE() do { if (!v) { snprintf(msg, n, "convert: %s needs a value", f); return 0; } i++; } while (0)
        if (IS("-h", "--help")) a->help = 1;
        else if (IS("--force", "--force")) a->force = 1;
        else if (IS("-m", "--model")) { NEED_VALUE(); a->model = v; }
        else if (IS("-o", "--output")) { NEED_VALUE(); a->output = v; }
        else if (IS("--variant", "--variant")) {
            NEED_VALUE();
            if (strcmp(v, "fp16") != 0) { snprintf(msg, n, "convert: --variant: '%s' is not a variant (fp16)", v); return 0; }
            a->variant = v;
        } else if (IS("--type", "--type")) {
            NEED_VALUE();
            if (strcmp(v, "q8_0") == 0) v = "q8";
            if (strcmp(v, "f16") && strcmp(v, "bf16") && strcmp(v, "q8")) {
                snprintf(msg, n, "convert: --type: '%s' is not f16, bf16 or q8", v);
                return 0;
            }
            a->weight_type = v;
        } else {
            snprintf(msg, n, "convert: unknown option '%s' (see edgefusion convert --help)", f);
            return 0;
        }
#undef IS
#undef NEED_VALUE
    }
    if (a->help) return 1;
    if (!a->model) { snprintf(msg, n, "convert: missing -m/--model IN (see edgefusion convert --help)"); return 0; }
    if (!a->output) { snprintf(msg, n, "convert: missing -o/--output OUT (see edgefusion convert --help)"); return 0; }
    if (!a->weight_type) { snprintf(msg, n, "convert: missing --type f16|bf16|q8 (see edgefusion convert --help)"); return 0; }
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_int(const char *s, long lo, long hi, int *out) {
    long v;
    if (!parse_long(s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, double lo, double hi, float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) return 0;
    *out = (float)v;
    return 1;
}

/* 1 if p holds no '%' other than "%%" and at most one %d / %0Nd / %Nd. */
static int valid_pattern(const char *p) {
    int convs = 0;
    for (; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') { p++; continue; }
        p++;
        if (*p == '0') p++;
        while (*p >= '0' && *p <= '9') p++;
        if (*p != 'd') return 0;
        convs++;
    }
    return convs <= 1;
}

void cli_output_name(const char *pattern, int i, int n, char *out, size_t size) {
    if (strchr(pattern, '%')) {
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
        snprintf(out, size, pattern, i);   /* checked by valid_pattern */
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
        return;
    }
    if (n == 1) { snprintf(out, size, "%s", pattern); return; }
    const char *dot = strrchr(pattern, '.'), *slash = strrchr(pattern, '/');
    if (!dot || (slash && dot < slash)) dot = pattern + strlen(pattern);
    snprintf(out, size, "%.*s_%d%s", (int)(dot - pattern), pattern, i + 1, dot);
}

int cli_args_parse(int argc, char **argv, cli_args *a, char *msg, size_t n) {
    memset(a, 0, sizeof *a);
    a->clip_skip = 1;
    a->cfg_scale = -1.0f;
    a->seed = 42;
    a->batch = 1;
    a->strength = 0.75f;
    a->output = "output.png";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s, l) (strcmp(f, s) == 0 || strcmp(f, l) == 0)
#define NEED_VALUE() do { if (!v) { snprintf(msg, n, "%s needs a value", f); return 0; } i++; } while (0)
#define BAD(what) do { snprintf(msg, n, "%s: '%s' is not %s", f, v, what); return 0; } while (0)
        if (IS("-h", "--help")) a->help = 1;
        else if (IS("--version", "--version")) a->version = 1;
        else if (IS("-v", "--verbose")) a->verbose = 1;
        else if (IS("--tokens", "--tokens")) a->print_tokens = 1;
        else if (IS("--encode-only", "--encode-only")) a->encode_only = 1;
        else if (IS("--vae-tiling", "--vae-tiling")) a->vae_tiling = 1;
        else if (IS("--no-vae-tiling", "--no-vae-tiling")) a->vae_tiling = -1;
        else if (IS("--no-hash-cache", "--no-hash-cache")) a->no_hash_cache = 1;
        else if (IS("-m", "--model")) { NEED_VALUE(); a->model = v; }
        else if (IS("-p", "--prompt")) { NEED_VALUE(); a->prompt = v; }
        else if (IS("-n", "--negative-prompt")) { NEED_VALUE(); a->negative = v; }
        else if (IS("-i", "--init-img")) { NEED_VALUE(); a->init_img = v; }
        else if (IS("--taesd", "--taesd")) { NEED_VALUE(); a->taesd = v; }
        else if (IS("--embedding-out", "--embedding-out")) { NEED_VALUE(); a->embedding_out = v; }
        else if (IS("-o", "--output")) {
            NEED_VALUE();
            if (!valid_pattern(v)) BAD("a file name (at most one %d-style number, %% for a percent sign)");
            a->output = v;
        } else if (IS("--variant", "--variant")) {
            NEED_VALUE();
            if (strcmp(v, "fp16") != 0) { snprintf(msg, n, "--variant: '%s' is not a variant (only fp16)", v); return 0; }
            a->variant = v;
        } else if (IS("--type", "--type")) {
            NEED_VALUE();
            if (strcmp(v, "q8_0") == 0) v = "q8";   /* sd.cpp's spelling */
            if (strcmp(v, "f32") && strcmp(v, "f16") && strcmp(v, "bf16") && strcmp(v, "q8")) BAD("f32, f16, bf16 or q8");
            a->weight_type = v;
        } else if (IS("--kernels", "--kernels")) {
            NEED_VALUE();
            a->kernels = v;
        } else if (IS("-W", "--width")) { NEED_VALUE(); if (!parse_int(v, 8, 8192, &a->width)) BAD("a width in 8..8192"); }
        else if (IS("-H", "--height")) { NEED_VALUE(); if (!parse_int(v, 8, 8192, &a->height)) BAD("a height in 8..8192"); }
        else if (IS("--steps", "--steps")) { NEED_VALUE(); if (!parse_int(v, 1, 1000, &a->steps)) BAD("a step count in 1..1000"); }
        else if (IS("--cfg-scale", "--cfg-scale")) { NEED_VALUE(); if (!parse_float(v, 0, 100, &a->cfg_scale)) BAD("a scale in 0..100"); }
        else if (IS("--strength", "--strength")) {
            NEED_VALUE();
            if (!parse_float(v, 0, 1, &a->strength) || a->strength <= 0) BAD("a strength in (0, 1]");
        } else if (IS("-s", "--seed")) {
            NEED_VALUE();
            long s;
            if (!parse_long(v, -9223372036854775807L, 9223372036854775807L, &s)) BAD("an integer seed");
            a->seed = s;
        } else if (IS("-b", "--batch-count")) { NEED_VALUE(); if (!parse_int(v, 1, 10000, &a->batch)) BAD("a count in 1..10000"); }
        else if (IS("--sampling-method", "--sampling-method")) {
            NEED_VALUE();
            if (ef_sampler_from_name(v, &a->sampler) != EF_OK) BAD("a sampling method (euler, euler_a, ddim, dpm++2m, lcm, pndm)");
        } else if (IS("--scheduler", "--scheduler")) {
            NEED_VALUE();
            if (ef_sigma_schedule_from_name(v, &a->sigmas) != EF_OK) BAD("a scheduler (discrete, karras)");
        } else if (IS("--token-downsample", "--token-downsample")) {
            NEED_VALUE();
            if (!parse_int(v, 1, 4, &a->token_downsample)) BAD("a factor in 1..4");
        } else if (IS("--vae-tile-size", "--vae-tile-size")) {
            NEED_VALUE();
            if (!parse_int(v, 2, 1024, &a->tile_size)) BAD("a tile size in 2..1024 latent pixels");
        } else if (IS("--vae-tile-overlap", "--vae-tile-overlap")) {
            NEED_VALUE();
            if (!parse_int(v, 0, 512, &a->tile_overlap)) BAD("an overlap in 0..512 latent pixels");
        } else if (IS("-t", "--threads")) { NEED_VALUE(); if (!parse_int(v, 0, 256, &a->threads)) BAD("a thread count in 0..256"); }
        else if (IS("--clip-skip", "--clip-skip")) { NEED_VALUE(); if (!parse_int(v, 1, 64, &a->clip_skip)) BAD("a number in 1..64"); }
        else {
            snprintf(msg, n, "unknown option '%s' (see --help)", f);
            return 0;
        }
#undef IS
#undef NEED_VALUE
#undef BAD
    }
    if (a->help || a->version) return 1;
    if (!a->model) { snprintf(msg, n, "missing -m/--model DIR (see --help)"); return 0; }
    if (!a->prompt) { snprintf(msg, n, "missing -p/--prompt TEXT (see --help)"); return 0; }
    return 1;
}
