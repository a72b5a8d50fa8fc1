/*
** main.c -- the edgefusion command-line program: flags -> ef_* calls -> PNG files.
** No engine logic lives here; this is the only place (with the other tools/) that
** prints or exits.
*/
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "args.h"
#include "edgefusion.h"
#include "progress.h"

/* Errors come back through ef_status + message and are printed once by main; the log
** adds warnings always and details with -v. */
static void log_stderr(ef_log_level level, const char *msg, void *user) {
    int verbose = *(const int *)user;
    if (level == EF_LOG_ERROR) return;
    if (level == EF_LOG_WARN || verbose) fprintf(stderr, "edgefusion: %s\n", msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A seed for -s < 0: from /dev/urandom (else the clock), in [0, 2^32) since torch's
** generator only uses the low 32 bits: the printed number reproduces the image. */
static uint64_t random_seed(void) {
    uint32_t s = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&s, sizeof s, 1, f) != 1) s = (uint32_t)time(NULL) ^ (uint32_t)clock();
    if (f) fclose(f);
    return s;
}

/* Writes a float32 C-order .npy file of shape (rows, cols). */
static int write_npy(const char *path, const float *x, size_t rows, size_t cols) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
    size_t header = 10 + (size_t)dl + 1, pad = (64 - header % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    size_t hlen = (size_t)dl + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)dl, f) == (size_t)dl;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(x, sizeof *x, rows * cols, f) == rows * cols;
    return (fclose(f) == 0) && ok;
}

/* --tokens / --embedding-out / --encode-only: the prompt through the text encoder. */
static int encode_prompt(ef_ctx *ctx, const cli_args *a, const ef_model_info *info) {
    int32_t n_ids = 0;
    int32_t *ids = calloc((size_t)info->text_max_length, sizeof *ids);
    size_t n_emb = ef_text_embedding_size(ctx);
    float *emb = malloc(n_emb * sizeof *emb);
    int ok = 0;
    if (!ids || !emb) { fprintf(stderr, "edgefusion: out of memory\n"); goto done; }
    if (ef_tokenize(ctx, a->prompt, ids, info->text_max_length, &n_ids) != EF_OK) {
        fprintf(stderr, "edgefusion: tokenize: %s\n", ef_ctx_errmsg(ctx));
        goto done;
    }
    if (a->print_tokens) {
        printf("tokens:");
        for (int i = 0; i < n_ids; i++) printf(" %d", (int)ids[i]);
        printf("\n");
    }
    double t0 = now_s();
    if (ef_encode_prompt(ctx, a->prompt, a->clip_skip, emb, n_emb) != EF_OK) {
        fprintf(stderr, "edgefusion: encode: %s\n", ef_ctx_errmsg(ctx));
        goto done;
    }
    int n_real = 0;   /* up to and including the first EOS (the pad id may equal EOS) */
    for (int i = 1; i < n_ids; i++) if (ids[i] == ids[n_ids - 1] || i == n_ids - 1) { n_real = i + 1; break; }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n_emb; i++) { sum += emb[i]; sq += (double)emb[i] * emb[i]; }
    double mean = sum / (double)n_emb, sd = sqrt(fmax(0.0, sq / (double)n_emb - mean * mean));
    printf("prompt: %d tokens incl. BOS/EOS, padded to %d\n", n_real, (int)n_ids);
    printf("embedding: %d x %d, mean %.6f, std %.6f, encoded in %.3f s (clip skip %d)\n", (int)info->text_max_length,
           (int)info->text_hidden_size, mean, sd, now_s() - t0, a->clip_skip);
    if (a->embedding_out) {
        if (!write_npy(a->embedding_out, emb, (size_t)info->text_max_length, (size_t)info->text_hidden_size)) {
            fprintf(stderr, "edgefusion: cannot write %s\n", a->embedding_out);
            goto done;
        }
        printf("wrote %s\n", a->embedding_out);
    }
    ok = 1;
done:
    free(ids);
    free(emb);
    return ok;
}

static int generate_images(ef_ctx *ctx, const cli_args *a) {
    char msg[1024];
    ef_image init = {0};
    ef_gen_params gp = ef_gen_default_params();
    gp.prompt = a->prompt;
    gp.negative_prompt = a->negative;
    gp.width = a->width;
    gp.height = a->height;
    gp.n_steps = a->steps;
    gp.guidance_scale = a->cfg_scale;
    gp.sampler = a->sampler;
    gp.sigmas = a->sigmas;
    gp.clip_skip = a->clip_skip > 1 ? a->clip_skip : 0;
    gp.vae_tiling = a->vae_tiling;
    gp.token_downsample = a->token_downsample;
    gp.vae_tile_size = a->tile_size;
    gp.vae_tile_overlap = a->tile_overlap;
    if (a->init_img) {
        if (ef_png_load(a->init_img, &init, msg, sizeof msg) != EF_OK) {
            fprintf(stderr, "edgefusion: %s\n", msg);
            return 0;
        }
        gp.init_rgb = init.rgb;
        gp.init_width = init.width;
        gp.init_height = init.height;
        gp.strength = a->strength;
    }
    uint64_t seed = a->seed < 0 ? random_seed() : (uint64_t)a->seed;
    if (a->seed < 0) printf("seed: %llu\n", (unsigned long long)seed);
    cli_progress prog;
    cli_progress_init(&prog, stderr, a->batch);
    gp.progress_fn = cli_progress_tick;
    gp.progress_user = &prog;

    ef_gen_settings st;
    int ok = 0;
    uint8_t *rgb = NULL;
    char *info_text = malloc(1 << 16);
    if (!info_text) { fprintf(stderr, "edgefusion: out of memory\n"); goto done; }
    gp.seed = seed;
    if (ef_gen_resolve(ctx, &gp, &st) != EF_OK) { fprintf(stderr, "edgefusion: %s\n", ef_ctx_errmsg(ctx)); goto done; }
    printf("%dx%d, %s%s, %d steps, guidance %g%s, seed %llu\n", (int)st.width, (int)st.height,
           ef_sampler_name(st.sampler), st.sigmas == EF_SIGMAS_KARRAS ? " karras" : "", (int)st.n_steps,
           (double)st.guidance_scale, st.cfg ? " (CFG)" : "", (unsigned long long)st.seed);
    size_t n_rgb = ef_rgb_size(st.width, st.height);
    rgb = malloc(n_rgb);
    if (!rgb) { fprintf(stderr, "edgefusion: out of memory\n"); goto done; }
    for (int i = 0; i < a->batch; i++) {
        char path[4096];
        gp.seed = seed + (uint64_t)i;
        prog.image = i;
        if (ef_generate(ctx, &gp, rgb, n_rgb) != EF_OK ||
            ef_gen_infotext(ctx, &gp, info_text, 1 << 16) != EF_OK) {
            fprintf(stderr, "edgefusion: %s\n", ef_ctx_errmsg(ctx));
            goto done;
        }
        cli_output_name(a->output, i, a->batch, path, sizeof path);
        if (ef_png_save(path, rgb, st.width, st.height, info_text, msg, sizeof msg) != EF_OK) {
            fprintf(stderr, "edgefusion: %s\n", msg);
            goto done;
        }
        printf("wrote %s (seed %llu)\n", path, (unsigned long long)gp.seed);
    }
    ok = 1;
done:
    free(rgb);
    free(info_text);
    ef_image_free(&init);
    return ok;
}

/* Library log lines of a conversion (one per component) as progress on stderr. */
static void log_convert(ef_log_level level, const char *msg, void *user) {
    (void)user;
    if (level != EF_LOG_ERROR) fprintf(stderr, "edgefusion convert: %s\n", msg);
}

/* `edgefusion convert ...` (argv[0] is "convert"). */
static int convert_main(int argc, char **argv) {
    cli_convert_args a;
    char msg[1024];
    if (!cli_convert_args_parse(argc, argv, &a, msg, sizeof msg)) {
        fprintf(stderr, "edgefusion: %s\n", msg);
        return 2;
    }
    if (a.help) { fputs(cli_convert_usage(), stdout); return 0; }
    ef_convert_params p = ef_convert_default_params();
    p.weight_type = a.weight_type;
    p.variant = a.variant;
    p.overwrite = a.force;
    p.log_fn = log_convert;
    double t0 = now_s();
    ef_status rc = ef_convert(a.model, a.output, &p, msg, sizeof msg);
    if (rc != EF_OK) {
        fprintf(stderr, "edgefusion: convert %s: %s: %s\n", a.model, ef_status_str(rc), msg);
        return 1;
    }
    printf("wrote %s (%s matrices) in %.1f s\n", a.output, a.weight_type, now_s() - t0);
    return 0;
}

/* $XDG_CACHE_HOME/edgefusion, else ~/.cache/edgefusion, created when missing; NULL when
** neither variable is set or the folder cannot be made (then nothing is cached). */
static const char *hash_cache_dir(char *buf, size_t n) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[3072];
    if (xdg && xdg[0]) snprintf(base, sizeof base, "%s", xdg);
    else if (home && home[0]) snprintf(base, sizeof base, "%s/.cache", home);
    else return NULL;
    if (mkdir(base, 0700) != 0 && errno != EEXIST) return NULL;
    if (snprintf(buf, n, "%s/edgefusion", base) >= (int)n) return NULL;
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return NULL;
    return buf;
}

int main(int argc, char **argv) {
    cli_args a;
    char msg[1024];
    if (argc > 1 && strcmp(argv[1], "convert") == 0) return convert_main(argc - 1, argv + 1);
    if (!cli_args_parse(argc, argv, &a, msg, sizeof msg)) {
        fprintf(stderr, "edgefusion: %s\n", msg);
        return 2;
    }
    if (a.help) { fputs(cli_usage(), stdout); return 0; }
    if (a.version) { printf("edgefusion %s\n", ef_version()); return 0; }

    ef_ctx_params cp = ef_ctx_default_params();
    cp.n_threads = a.threads;
    cp.variant = a.variant;
    cp.weight_type = a.weight_type;
    cp.kernels = a.kernels;
    cp.taesd_path = a.taesd;
    cp.release_text_encoder = a.batch == 1;   /* one prompt encoding: nothing to keep it for */
    char cache_dir[4096];
    cp.cache_dir = a.no_hash_cache ? NULL : hash_cache_dir(cache_dir, sizeof cache_dir);
    cp.log_fn = log_stderr;
    cp.log_user = &a.verbose;
    ef_ctx *ctx = NULL;
    double t0 = now_s();
    ef_status rc = ef_ctx_create(a.model, &cp, &ctx, msg, sizeof msg);
    if (rc != EF_OK) {
        fprintf(stderr, "edgefusion: cannot load %s (%s): %s\n", a.model, ef_status_str(rc), msg);
        return 1;
    }
    ef_model_info info;
    ef_ctx_model_info(ctx, &info);
    printf("model: %s (text encoder %.1fM, unet %.1fM, vae %.1fM params), loaded in %.2f s\n", a.model,
           (double)info.text_n_params / 1e6, (double)info.unet_n_params / 1e6, (double)info.vae_n_params / 1e6,
           now_s() - t0);
    int want_text = a.print_tokens || a.embedding_out || a.encode_only;
    int ok = (!want_text || encode_prompt(ctx, &a, &info)) && (a.encode_only || generate_images(ctx, &a));
    ef_ctx_free(ctx);
    return ok ? 0 : 1;
}
