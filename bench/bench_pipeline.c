/*
** bench_pipeline.c -- one text-to-image job through the public API (include/edgefusion.h
** only), timed per stage: load, text encoder, each UNet step, VAE decode, end to end,
** and the process's peak RSS.
**
** Usage: bench_pipeline MODEL_DIR [--taesd PATH] [--size 512[,256...]] [--steps 2] [-t 2]
**                       [-s 42] [-p PROMPT] [--runs 1] [-o out.png] [--type f32|f16|bf16|q8]
**                       [--kernels NAME] [--token-downsample N] [-v]
** --type and --kernels are ef_ctx_params' weight_type and kernels, --token-downsample
** ef_gen_params' (the approximate fast mode); -v prints the log.
** Each size runs --runs times on the one context, in order; a single generation
** releases the text encoder after encoding, as the CLI does for one image. "End to end" is load plus
** the first generation at that size (what a user waits for); later runs show the
** warm cost. The last line, "json: {...}", is for scripts/peers.py.
** Made for scripts/make_bench_models.py's pipeline (BK-SDM-Tiny + CLIP + TAESD, LCM):
**     bench_pipeline build/bench-models/bk-sdm-tiny-lcm --taesd build/bench-models/bk-sdm-tiny-lcm/taesd
*/
#define _DEFAULT_SOURCE /* getrusage's struct under strict C11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "edgefusion.h"

#define MAX_SIZES 8

/* Peak resident set in KiB: VmHWM from /proc/self/status, else getrusage's ru_maxrss. */
static long peak_rss_kib(void) {
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
        fclose(f);
    }
    if (kib < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) kib = ru.ru_maxrss;   /* KiB on Linux */
    }
    return kib;
}

/* User + system CPU seconds of the process so far (all threads). */
static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_pipeline MODEL_DIR [--taesd PATH] [--size 512[,256...]] [--steps 2] [-t 2]\n"
                    "                      [-s 42] [-p PROMPT] [--runs 1] [-o out.png] [--type f32|f16|bf16|q8]\n"
                    "                      [--kernels NAME] [--token-downsample N] [-v]\n");
}

/* The log: every line with -v; the "kernels: ..." line is kept for the header. */
typedef struct { int verbose; char kernels[256]; } log_state;

static void on_log(ef_log_level level, const char *msg, void *user) {
    log_state *ls = user;
    if (strncmp(msg, "kernels:", 8) == 0) snprintf(ls->kernels, sizeof ls->kernels, "%s", msg);
    if (ls->verbose && level != EF_LOG_ERROR) fprintf(stderr, "  [log] %s\n", msg);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv) {
    const char *model = NULL, *taesd = NULL, *png = NULL, *sizes = "512", *wtype = NULL, *kernels = NULL;
    log_state ls = {0, ""};
    const char *prompt = "a golden retriever on the beach, sunset, highly detailed";
    int steps = 2, threads = 2, runs = 1, seed = 42, todo = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        if (!strcmp(a, "-v")) { ls.verbose = 1; continue; }
        if (a[0] != '-') { if (model) ok = 0; model = a; continue; }
        if (!v) { usage(); return 2; }
        i++;
        if (!strcmp(a, "--taesd")) taesd = v;
        else if (!strcmp(a, "--size")) sizes = v;
        else if (!strcmp(a, "--steps")) ok = parse_int(v, 1, 1000, &steps);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = parse_int(v, 1, 256, &threads);
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) ok = parse_int(v, 0, 2147483647, &seed);
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--runs")) ok = parse_int(v, 1, 100, &runs);
        else if (!strcmp(a, "-o")) png = v;
        else if (!strcmp(a, "--type")) wtype = v;
        else if (!strcmp(a, "--kernels")) kernels = v;
        else if (!strcmp(a, "--token-downsample")) ok = parse_int(v, 0, 4, &todo);
        else ok = 0;
        if (!ok) { fprintf(stderr, "bench_pipeline: bad option %s %s\n", a, v); usage(); return 2; }
    }
    int size[MAX_SIZES], n_sizes = 0;
    for (const char *s = sizes; *s && n_sizes < MAX_SIZES;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 8 || v > 8192) { fprintf(stderr, "bench_pipeline: bad --size '%s'\n", sizes); return 2; }
        size[n_sizes++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (!model) { usage(); return 2; }

    ef_ctx_params cp = ef_ctx_default_params();
    cp.n_threads = threads;
    cp.taesd_path = taesd;
    cp.weight_type = wtype;
    cp.kernels = kernels;
    cp.release_text_encoder = n_sizes * runs == 1;   /* as the CLI: one image keeps nothing for later */
    cp.log_fn = on_log;
    cp.log_user = &ls;
    ef_ctx *ctx = NULL;
    char why[1024];
    long rss0 = peak_rss_kib();
    ef_status rc = ef_ctx_create(model, &cp, &ctx, why, sizeof why);
    if (rc != EF_OK) {
        fprintf(stderr, "bench_pipeline: load %s: %s: %s\n", model, ef_status_str(rc), why);
        return 1;
    }
    ef_gen_timings tm;
    ef_ctx_last_timings(ctx, &tm);
    double load_s = tm.load_s;
    long rss_load = peak_rss_kib();
    ef_model_info info;
    ef_ctx_model_info(ctx, &info);
    printf("bench_pipeline: %s, decoder %s, %d thread%s, edgefusion %s\n", model, taesd ? taesd : "vae/", threads,
           threads > 1 ? "s" : "", ef_version());
    if (ls.kernels[0]) printf("  %s\n", ls.kernels);
    printf("  params: text encoder %lld, unet %lld, decoder %lld; matrices: text encoder %s, unet %s\n",
           (long long)info.text_n_params, (long long)info.unet_n_params, (long long)info.vae_n_params,
           info.text_weight_type, info.unet_weight_type);
    printf("  %-28s %9.3f s   (peak RSS %ld KiB before, %ld KiB after)\n", "load", load_s, rss0, rss_load);

    char json[16384];
    int jn = snprintf(json, sizeof json, "{\"threads\": %d, \"steps\": %d, \"weight_type\": \"%s\", "
                      "\"token_downsample\": %d, \"load_s\": %.4f, \"runs\": [", threads, steps, info.unet_weight_type,
                      todo > 1 ? todo : 1, load_s);   /* as loaded */
    int status = 0;
    for (int si = 0; si < n_sizes && !status; si++) {
        int W = size[si];
        size_t n = ef_rgb_size(W, W);
        uint8_t *rgb = malloc(n ? n : 1);
        if (!rgb) { fprintf(stderr, "bench_pipeline: out of memory\n"); status = 1; break; }
        for (int r = 0; r < runs; r++) {
            ef_gen_params gp = ef_gen_default_params();
            gp.prompt = prompt;
            gp.width = gp.height = W;
            gp.n_steps = steps;
            gp.seed = (uint64_t)seed;
            gp.token_downsample = todo;
            rc = ef_generate(ctx, &gp, rgb, n);
            if (rc != EF_OK) {
                fprintf(stderr, "bench_pipeline: generate %dx%d: %s: %s\n", W, W, ef_status_str(rc), ef_ctx_errmsg(ctx));
                status = 1;
                break;
            }
            ef_ctx_last_timings(ctx, &tm);
            printf("%dx%d, %d steps, seed %d, run %d of %d\n", W, W, steps, seed, r + 1, runs);
            printf("  %-28s %9.3f s\n", "text encoder", tm.text_s);
            for (int k = 0; k < tm.n_steps && k < EF_GEN_TIMINGS_MAX_STEPS; k++) {
                char label[32];
                snprintf(label, sizeof label, "unet step %d", k + 1);
                printf("  %-28s %9.3f s\n", label, tm.unet_s[k]);
            }
            printf("  %-28s %9.3f s\n", "unet total", tm.unet_total_s);
            printf("  %-28s %9.3f s\n", "vae decode", tm.vae_s);
            printf("  %-28s %9.3f s\n", "generate", tm.total_s);
            if (r == 0) printf("  %-28s %9.3f s\n", "end to end (load + generate)", load_s + tm.total_s);
            long rss = peak_rss_kib();
            double cpu = cpu_seconds();
            printf("  %-28s %9ld KiB (%.1f MiB)\n", "peak RSS so far", rss, (double)rss / 1024.0);
            printf("  %-28s %9.1f s (user + system, all threads, since start)\n", "CPU time so far", cpu);
            char e2e[32] = "null";   /* end to end: the first run of a size only */
            if (r == 0) snprintf(e2e, sizeof e2e, "%.4f", load_s + tm.total_s);
            char steps_json[1024] = "";
            for (int k = 0, sn = 0; k < tm.n_steps && k < EF_GEN_TIMINGS_MAX_STEPS && sn >= 0 &&
                                    (size_t)sn < sizeof steps_json; k++)
                sn += snprintf(steps_json + sn, sizeof steps_json - (size_t)sn, "%s%.4f", k ? ", " : "", tm.unet_s[k]);
            if (jn > 0 && (size_t)jn < sizeof json)
                jn += snprintf(json + jn, sizeof json - (size_t)jn,
                               "%s{\"size\": %d, \"run\": %d, \"text_s\": %.4f, \"unet_s\": [%s], "
                               "\"unet_total_s\": %.4f, \"vae_s\": %.4f, \"generate_s\": %.4f, \"e2e_s\": %s, "
                               "\"peak_rss_kib\": %ld, \"cpu_s\": %.2f}",
                               (si || r) ? ", " : "", W, r + 1, tm.text_s, steps_json, tm.unet_total_s, tm.vae_s,
                               tm.total_s, e2e, rss, cpu);
            fflush(stdout);
        }
        if (!status && png && si == 0) {
            char why2[512];
            if (ef_png_save(png, rgb, W, W, NULL, why2, sizeof why2) != EF_OK)
                fprintf(stderr, "bench_pipeline: %s\n", why2);
        }
        free(rgb);
    }
    if (jn > 0 && (size_t)jn < sizeof json - 3) {
        snprintf(json + jn, sizeof json - (size_t)jn, "]}");
        if (!status) printf("json: %s\n", json);
    }
    ef_ctx_free(ctx);
    return status;
}
