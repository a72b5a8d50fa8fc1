/*
** test_api.c -- the public API on the bundled fixture pipeline: loading, tokenizing,
** encoding, thread-count independence, cancellation, and hostile pipeline folders
** (each rejected with a status and a message naming what is wrong, without leaks).
*/
#define _XOPEN_SOURCE 700 /* realpath, symlink */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "edgefusion.h"
#include "core/platform.h"
#include "ef_test.h"
#include "io/hash_cache.h"

static ef_ctx *load_fixture(ef_test *t, int n_threads) {
    char dir[512], why[512];
    ef_ctx_params p = ef_ctx_default_params();
    p.n_threads = n_threads;
    ef_ctx *ctx = NULL;
    ef_status rc = ef_ctx_create(ef_fixture_path(dir, sizeof dir, "tiny-pipe"), &p, &ctx, why, sizeof why);
    EF_CHECK_MSG(t, rc == EF_OK && ctx, "load tiny-pipe: %s: %s", ef_status_str(rc), why);
    return ctx;
}

static void test_load_and_tokenize(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 1);
    if (!ctx) return;
    ef_model_info info;
    EF_CHECK(t, ef_ctx_model_info(ctx, &info) == EF_OK);
    EF_CHECK_INT(t, info.text_hidden_size, 32);
    EF_CHECK_INT(t, info.text_max_length, 77);
    EF_CHECK_INT(t, info.text_n_layers, 2);
    EF_CHECK(t, info.text_n_params > 49408 * 32);
    int32_t ids[77], n = 0;
    EF_CHECK(t, ef_tokenize(ctx, "a photo of a cat", ids, 77, &n) == EF_OK);
    static const int32_t want[] = {49406, 320, 1125, 539, 320, 2368, 49407, 49407};
    EF_CHECK_INT(t, n, 77);
    for (int i = 0; i < 8; i++) EF_CHECK_INT(t, ids[i], want[i]);
    EF_CHECK_INT(t, ids[76], 49407);
    EF_CHECK(t, ef_tokenize(ctx, "x", ids, 1, &n) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "max_ids") != NULL);
    ef_ctx_free(ctx);
    ef_ctx_free(NULL);
}

/* Same prompt, 1 vs 2 threads: bit-identical embeddings; clip skip changes them. */
static void test_encode_threads(ef_test *t) {
    ef_ctx *c1 = load_fixture(t, 1), *c2 = load_fixture(t, 2);
    if (c1 && c2) {
        size_t n = ef_text_embedding_size(c1);
        EF_CHECK_INT(t, n, 77 * 32);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *s = malloc(n * sizeof *s);
        const char *prompt = "an astronaut riding a horse, 4k, trending on artstation";
        EF_CHECK(t, ef_encode_prompt(c1, prompt, 0, a, n) == EF_OK);
        EF_CHECK(t, ef_encode_prompt(c2, prompt, 1, b, n) == EF_OK);
        EF_CHECK(t, memcmp(a, b, n * sizeof *a) == 0);
        EF_CHECK(t, ef_encode_prompt(c2, prompt, 2, s, n) == EF_OK);
        EF_CHECK(t, memcmp(a, s, n * sizeof *a) != 0);
        EF_CHECK(t, ef_encode_prompt(c2, prompt, 3, s, n) != EF_OK);     /* only 2 layers */
        EF_CHECK(t, ef_encode_prompt(c2, prompt, 0, s, n - 1) == EF_ERR_INVALID_ARG);
        EF_CHECK(t, strstr(ef_ctx_errmsg(c2), "floats") != NULL);
        EF_CHECK(t, ef_encode_prompt(c2, NULL, 0, s, n) == EF_ERR_INVALID_ARG);
        free(a); free(b); free(s);
    }
    ef_ctx_free(c1);
    ef_ctx_free(c2);
}

static int cancel_at_first(int32_t done, int32_t total, double s, void *user) {
    (*(int *)user)++;
    return 1;
}

static void test_cancel_load(ef_test *t) {
    char dir[512], why[512];
    int calls = 0;
    ef_ctx_params p = ef_ctx_default_params();
    p.progress_fn = cancel_at_first;
    p.progress_user = &calls;
    ef_ctx *ctx = (ef_ctx *)&calls;
    ef_status rc = ef_ctx_create(ef_fixture_path(dir, sizeof dir, "tiny-pipe"), &p, &ctx, why, sizeof why);
    EF_CHECK_INT(t, rc, EF_ERR_CANCELLED);
    EF_CHECK(t, ctx == NULL);
    EF_CHECK_INT(t, calls, 1);
    EF_CHECK(t, strstr(why, "cancel") != NULL);
}

typedef struct { int n_errors; char last[512]; } log_sink;
static void sink_log(ef_log_level level, const char *msg, void *user) {
    log_sink *s = user;
    if (level == EF_LOG_ERROR) { s->n_errors++; snprintf(s->last, sizeof s->last, "%s", msg); }
}

/* Builds a pipeline folder in a temp dir: model_index.json text, and links to the
** fixture's tokenizer/text_encoder unless a component is NULL. */
static void make_pipe(char *dir, size_t n, const char *index_json, const char *tokenizer, const char *text_encoder) {
    char path[1024], target[1024], abs_fx[512], fx[512];
    ef_test_tmpdir(dir, n);
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    if (index_json) ef_test_write_file(path, index_json, strlen(index_json));
    if (!realpath(ef_fixture_path(fx, sizeof fx, "tiny-pipe"), abs_fx)) abs_fx[0] = '\0';
    const char *names[2] = {"tokenizer", "text_encoder"}, *srcs[2] = {tokenizer, text_encoder};
    for (int i = 0; i < 2; i++) {
        if (!srcs[i]) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (srcs[i][0] == '/') snprintf(target, sizeof target, "%s", srcs[i]);
        else snprintf(target, sizeof target, "%s/%s", abs_fx, srcs[i]);
        if (symlink(target, path) != 0) perror("symlink");
    }
}

static void remove_pipe(const char *dir) {
    if (!ef_test_remove_tree(dir)) fprintf(stderr, "cannot remove %s\n", dir);
}

#define GOOD_INDEX "{\"_class_name\": \"StableDiffusionPipeline\", \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"]," \
                   " \"text_encoder\": [\"transformers\", \"CLIPTextModel\"], \"safety_checker\": [null, null]}"

static void expect_fail(ef_test *t, const char *dir, ef_status want, const char *needle) {
    char why[512];
    log_sink sink = {0, ""};
    ef_ctx_params p = ef_ctx_default_params();
    p.log_fn = sink_log;
    p.log_user = &sink;
    ef_ctx *ctx = NULL;
    ef_status rc = ef_ctx_create(dir, &p, &ctx, why, sizeof why);
    EF_CHECK_MSG(t, rc == want && ctx == NULL, "%s: got %s (%s), want %s", dir ? dir : "(null)",
                 ef_status_str(rc), why, ef_status_str(want));
    EF_CHECK_MSG(t, strstr(why, needle) != NULL, "message '%s' lacks '%s'", why, needle);
    EF_CHECK_INT(t, sink.n_errors, 1);
    EF_CHECK(t, strcmp(sink.last, why) == 0);
    ef_ctx_free(ctx);
}

static void test_hostile_folders(ef_test *t) {
    char dir[512];
    expect_fail(t, NULL, EF_ERR_INVALID_ARG, "model_dir");
    expect_fail(t, "/nonexistent/edgefusion", EF_ERR_IO, "not a directory");

    make_pipe(dir, sizeof dir, NULL, "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_IO, "no model_index.json");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"_class_name\": \"StableDiffusionPipeline\", ", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "model_index.json: invalid JSON");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "[1, 2]", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "not a JSON object");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"tokenizer\": [\"transformers\", \"CLIPTokenizer\"]}", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "'_class_name'");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"_class_name\": \"X\", \"tokenizer\": [\"transformers\"]}", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "component 'tokenizer'");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"_class_name\": \"X\", \"../etc\": [\"a\", \"b\"]}", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "not a plain folder name");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"_class_name\": \"X\", \"text_encoder\": [\"transformers\", \"CLIPTextModel\"]}",
              "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_FORMAT, "no 'tokenizer' component");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, "{\"_class_name\": \"X\", \"tokenizer\": [\"transformers\", \"T5Tokenizer\"],"
              " \"text_encoder\": [\"transformers\", \"CLIPTextModel\"]}", "tokenizer", "text_encoder");
    expect_fail(t, dir, EF_ERR_UNSUPPORTED, "T5Tokenizer");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, GOOD_INDEX, NULL, "text_encoder");
    expect_fail(t, dir, EF_ERR_IO, "tokenizer");
    remove_pipe(dir);

    make_pipe(dir, sizeof dir, GOOD_INDEX, "tokenizer", NULL);
    expect_fail(t, dir, EF_ERR_IO, "text_encoder");
    remove_pipe(dir);

    /* The tokenizer folder where the text encoder should be. */
    make_pipe(dir, sizeof dir, GOOD_INDEX, "tokenizer", "tokenizer");
    expect_fail(t, dir, EF_ERR_IO, "text_encoder");
    remove_pipe(dir);
}

static void test_bad_params(ef_test *t) {
    char dir[512], why[64];
    ef_ctx *ctx = NULL;
    ef_ctx_params p = ef_ctx_default_params();
    p.n_threads = -3;
    EF_CHECK_INT(t, ef_ctx_create(ef_fixture_path(dir, sizeof dir, "tiny-pipe"), &p, &ctx, why, sizeof why),
                 EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(why, "n_threads") != NULL);
    p = ef_ctx_default_params();
    p.variant = "int4";
    EF_CHECK_INT(t, ef_ctx_create(dir, &p, &ctx, why, sizeof why), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(why, "variant") != NULL);
    p = ef_ctx_default_params();
    p.weight_type = "int4";
    EF_CHECK_INT(t, ef_ctx_create(dir, &p, &ctx, why, sizeof why), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(why, "weight_type 'int4'") != NULL);
    p = ef_ctx_default_params();
    p.kernels = "sse9";
    EF_CHECK_INT(t, ef_ctx_create(dir, &p, &ctx, why, sizeof why), EF_ERR_UNSUPPORTED);
    EF_CHECK(t, strstr(why, "kernels 'sse9'") != NULL);
    EF_CHECK_INT(t, ef_ctx_create(dir, NULL, NULL, NULL, 0), EF_ERR_INVALID_ARG);
    /* A tiny errbuf is truncated, not overrun. */
    char tiny[8];
    EF_CHECK_INT(t, ef_ctx_create("/nonexistent", NULL, &ctx, tiny, sizeof tiny), EF_ERR_IO);
    EF_CHECK_INT(t, strlen(tiny), 7);
    EF_CHECK(t, strcmp(ef_version(), "0.1.0") == 0);
}

static int cancel_at_step2(int32_t done, int32_t total, double s, void *user) {
    int *calls = user;
    (*calls)++;
    return done == 2;
}

/* Cancelling from the progress callback stops the run (EF_ERR_CANCELLED, nothing
** leaked) and the context stays usable: the next image equals an uncancelled one. */
static void test_generate_cancel(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 2);
    if (!ctx) return;
    ef_gen_params p = ef_gen_default_params();
    p.prompt = "a cat";
    size_t n = ef_rgb_size(64, 64);
    uint8_t *a = malloc(n), *b = malloc(n);
    int calls = 0;
    p.progress_fn = cancel_at_step2;
    p.progress_user = &calls;
    EF_CHECK_INT(t, ef_generate(ctx, &p, a, n), EF_ERR_CANCELLED);
    EF_CHECK_INT(t, calls, 2);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "cancelled") != NULL);
    p.progress_fn = NULL;
    EF_CHECK(t, ef_generate(ctx, &p, a, n) == EF_OK);
    EF_CHECK(t, ef_generate(ctx, &p, b, n) == EF_OK);
    EF_CHECK(t, memcmp(a, b, n) == 0);
    p.seed = 43;
    EF_CHECK(t, ef_generate(ctx, &p, b, n) == EF_OK);
    EF_CHECK(t, memcmp(a, b, n) != 0);
    free(a);
    free(b);
    ef_ctx_free(ctx);
}

static void test_generate_bad_params(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 1);
    if (!ctx) return;
    size_t n = ef_rgb_size(64, 64);
    uint8_t *rgb = malloc(n);
    ef_gen_params p = ef_gen_default_params();
    ef_gen_settings st;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);             /* no prompt */
    p.prompt = "x";
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK);
    EF_CHECK(t, st.width == 64 && st.height == 64 && st.n_steps == 4 && st.sampler == EF_SAMPLER_LCM && !st.cfg);
    EF_CHECK_NEAR(t, st.guidance_scale, 8.5, 0);
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n - 1), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "rgb_out") != NULL);
    p.width = 72;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "multiples of 16") != NULL);
    p.width = 0;
    p.sampler = EF_SAMPLER_DDIM;
    p.sigmas = EF_SIGMAS_KARRAS;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_UNSUPPORTED);
    p.sampler = EF_SAMPLER_LCM;
    p.sigmas = EF_SIGMAS_DEFAULT;
    p.n_steps = 51;   /* LCM: at most original_inference_steps */
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    p.n_steps = 0;
    p.init_rgb = rgb;
    p.init_width = 64;
    p.init_height = 64;
    p.strength = 0.0f;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "strength") != NULL);
    p.strength = 0.5f;
    p.init_width = 32;   /* the output size defaults to the init image's: 32x64 is fine */
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.width == 32 && st.height == 64);
    p.width = 64;        /* but an explicit size must match it */
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "init image is 32x64") != NULL);
    p.width = 0;
    p.init_rgb = NULL;
    p.clip_skip = 3;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    p.clip_skip = 0;
    p.vae_tiling = 1;
    p.vae_tile_size = 4;
    p.vae_tile_overlap = 3;
    EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, n), EF_ERR_INVALID_ARG);
    ef_sampler sm;
    ef_sigma_schedule sg;
    EF_CHECK(t, ef_sampler_from_name("dpm++2m", &sm) == EF_OK && sm == EF_SAMPLER_DPMPP_2M);
    EF_CHECK(t, ef_sampler_from_name("heun", &sm) == EF_ERR_UNSUPPORTED);
    EF_CHECK(t, ef_sigma_schedule_from_name("karras", &sg) == EF_OK && sg == EF_SIGMAS_KARRAS);
    EF_CHECK(t, strcmp(ef_sampler_name(EF_SAMPLER_EULER_A), "euler_a") == 0);
    EF_CHECK_INT(t, ef_rgb_size(-1, 5), 0);
    EF_CHECK_INT(t, ef_rgb_size(INT32_MAX, INT32_MAX), (size_t)INT32_MAX * INT32_MAX * 3);
    free(rgb);
    ef_ctx_free(ctx);
}

/* Stage timings: load_s from create; after a generate every stage is positive and
** the steps add up; the next generate replaces them. */
static void test_generate_timings(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 2);
    if (!ctx) return;
    ef_gen_timings tm;
    EF_CHECK_INT(t, ef_ctx_last_timings(NULL, &tm), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_ctx_last_timings(ctx, NULL), EF_ERR_INVALID_ARG);
    EF_CHECK(t, ef_ctx_last_timings(ctx, &tm) == EF_OK);
    EF_CHECK(t, tm.load_s > 0 && tm.n_steps == 0 && tm.total_s == 0);
    double load_s = tm.load_s;
    ef_gen_params p = ef_gen_default_params();
    p.prompt = "a cat";
    p.n_steps = 2;
    size_t n = ef_rgb_size(64, 64);
    uint8_t *rgb = malloc(n);
    EF_CHECK(t, ef_generate(ctx, &p, rgb, n) == EF_OK);
    EF_CHECK(t, ef_ctx_last_timings(ctx, &tm) == EF_OK);
    EF_CHECK_INT(t, tm.n_steps, 2);
    EF_CHECK(t, tm.load_s == load_s);
    EF_CHECK(t, tm.text_s > 0 && tm.unet_s[0] > 0 && tm.unet_s[1] > 0 && tm.unet_s[2] == 0 && tm.vae_s > 0);
    EF_CHECK_NEAR(t, tm.unet_total_s, tm.unet_s[0] + tm.unet_s[1], 1e-12);
    EF_CHECK(t, tm.total_s >= tm.text_s + tm.unet_total_s + tm.vae_s);
    p.n_steps = 1;
    EF_CHECK(t, ef_generate(ctx, &p, rgb, n) == EF_OK);
    EF_CHECK(t, ef_ctx_last_timings(ctx, &tm) == EF_OK);
    EF_CHECK(t, tm.n_steps == 1 && tm.unet_s[0] > 0 && tm.unet_s[1] == 0 && tm.total_s > 0);
    free(rgb);
    ef_ctx_free(ctx);
}

/* UNet and text-encoder matrices kept as f16 / bf16 / q8 (and the ref kernels forced): the same image
** as f32 up to each type's rounding, as PSNR over the RGB bytes. */
static void test_weight_types(ef_test *t) {
    static const struct { const char *type, *kernels; double min_psnr; } CASES[] = {
        {"f32", "ref", 60}, {"f16", NULL, 50}, {"bf16", NULL, 45}, {"q8", NULL, 40},   /* measured 89, 64.3, 54.6, 48.3 */
    };
    char dir[512];
    ef_fixture_path(dir, sizeof dir, "tiny-pipe");
    size_t n = ef_rgb_size(64, 64);
    uint8_t *want = malloc(n), *got = malloc(n);
    ef_gen_params g = ef_gen_default_params();
    g.prompt = "a watercolor painting of a fox";
    g.n_steps = 2;
    g.seed = 7;
    ef_ctx *ctx = load_fixture(t, 2);
    EF_CHECK(t, ctx && ef_generate(ctx, &g, want, n) == EF_OK);
    ef_ctx_free(ctx);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        ef_ctx_params p = ef_ctx_default_params();
        p.n_threads = 2;
        p.weight_type = CASES[i].type;
        p.kernels = CASES[i].kernels;
        ctx = NULL;
        char why[512] = "";
        EF_CHECK_MSG(t, ef_ctx_create(dir, &p, &ctx, why, sizeof why) == EF_OK, "%s: %s", CASES[i].type, why);
        if (!ctx) continue;
        EF_CHECK(t, ef_generate(ctx, &g, got, n) == EF_OK);
        double se = 0;
        for (size_t j = 0; j < n; j++) se += ((double)got[j] - want[j]) * ((double)got[j] - want[j]);
        double psnr = se > 0 ? 10 * log10(255.0 * 255.0 / (se / (double)n)) : 99;
        printf("    tiny-pipe weights %-4s kernels %-4s: PSNR vs f32 %.1f dB\n", CASES[i].type,
               CASES[i].kernels ? CASES[i].kernels : "best", psnr);
        EF_CHECK_MSG(t, psnr >= CASES[i].min_psnr, "%s: PSNR %.1f dB < %.0f", CASES[i].type, psnr, CASES[i].min_psnr);
        ef_ctx_free(ctx);
    }
    free(want);
    free(got);
}

/* release_text_encoder: the weights leave memory after each encoding and come back for
** the next; every image and embedding matches a context that kept them. */
static void test_release_text_encoder(ef_test *t) {
    char dir[512], why[512];
    ef_ctx *keep = load_fixture(t, 1), *lean = NULL;
    ef_ctx_params cp = ef_ctx_default_params();
    cp.n_threads = 1;
    cp.release_text_encoder = 1;
    EF_CHECK_MSG(t, ef_ctx_create(ef_fixture_path(dir, sizeof dir, "tiny-pipe"), &cp, &lean, why, sizeof why) == EF_OK,
                 "%s", why);
    if (!keep || !lean) { ef_ctx_free(keep); ef_ctx_free(lean); return; }
    ef_gen_params p = ef_gen_default_params();
    p.n_steps = 2;
    size_t n = ef_rgb_size(64, 64), ne = ef_text_embedding_size(keep);
    uint8_t *a = malloc(n), *b = malloc(n);
    float *ea = malloc(ne * sizeof *ea), *eb = malloc(ne * sizeof *eb);
    const char *prompts[2] = {"a cat", "a red fox in the snow"};
    for (int i = 0; i < 2; i++) {   /* the second generation reloads what the first released */
        p.prompt = prompts[i];
        EF_CHECK(t, ef_generate(keep, &p, a, n) == EF_OK);
        EF_CHECK_MSG(t, ef_generate(lean, &p, b, n) == EF_OK, "%s", ef_ctx_errmsg(lean));
        EF_CHECK_MSG(t, memcmp(a, b, n) == 0, "generation %d differs after a release", i);
    }
    EF_CHECK(t, ef_encode_prompt(keep, "a dog", 0, ea, ne) == EF_OK);
    EF_CHECK(t, ef_encode_prompt(lean, "a dog", 0, eb, ne) == EF_OK);   /* released by the last generate */
    EF_CHECK(t, memcmp(ea, eb, ne * sizeof *ea) == 0);
    free(a); free(b); free(ea); free(eb);
    ef_ctx_free(keep);
    ef_ctx_free(lean);
}

/* The model-hash cache: the first context computes the UNet file's hash and appends it
** to cache_dir/model-hashes.tsv; a later one reads it back (a planted entry for the
** same path, size and mtime wins, so the infotext shows it); stale and malformed lines
** are skipped; without cache_dir nothing is read. */
static void test_hash_cache(ef_test *t) {
    char fix[512], dir[256], cache[512], unet[600], abs[4096], info[2048];
    ef_fixture_path(fix, sizeof fix, "tiny-pipe");
    ef_test_tmpdir(dir, sizeof dir);
    snprintf(cache, sizeof cache, "%s/" EF_HASH_CACHE_FILE, dir);
    snprintf(unet, sizeof unet, "%s/unet/diffusion_pytorch_model.safetensors", fix);
    uint64_t size = 0;
    int64_t mtime = 0;
    EF_CHECK(t, ef_file_stamp(unet, &size, &mtime) && ef_path_absolute(unet, abs, sizeof abs));
    ef_gen_params gp = ef_gen_default_params();
    gp.prompt = "a cat";
    char computed[16] = "";
    for (int round = 0; round < 3; round++) {
        ef_ctx_params cp = ef_ctx_default_params();
        cp.n_threads = 1;
        cp.cache_dir = round < 2 ? dir : NULL;
        ef_ctx *ctx = NULL;
        char why[256];
        EF_CHECK_MSG(t, ef_ctx_create(fix, &cp, &ctx, why, sizeof why) == EF_OK, "%s", why);
        if (!ctx) return;
        EF_CHECK(t, ef_gen_infotext(ctx, &gp, info, sizeof info) == EF_OK);
        const char *h = strstr(info, "Model hash: ");
        EF_CHECK(t, h != NULL);
        if (round == 0 && h) {
            snprintf(computed, sizeof computed, "%.10s", h + 12);
            char *text = NULL;
            size_t len = 0;
            ef_err err;
            EF_CHECK(t, ef_file_read_all(cache, 1 << 20, &text, &len, &err) == EF_OK);
            EF_CHECK(t, text && strstr(text, computed) && strstr(text, abs));   /* written */
            free(text);
            FILE *f = fopen(cache, "a");   /* plant: garbage, a stale size, then the match */
            if (f) {
                fprintf(f, "not a line\n\x01\x02\n0123456789\t%llu\t%lld\t%s\n", (unsigned long long)size + 1,
                        (long long)mtime, abs);
                fprintf(f, "abcdef0123\t%llu\t%lld\t%s\n", (unsigned long long)size, (long long)mtime, abs);
                for (int i = 0; i < 5000; i++) fputc('x', f);   /* an over-long torn line */
                fclose(f);
            }
        } else if (round == 1) {
            EF_CHECK_MSG(t, h && strncmp(h + 12, "abcdef0123", 10) == 0, "cached hash not used: %.40s", h ? h : "");
        } else {
            EF_CHECK_MSG(t, h && strncmp(h + 12, computed, 10) == 0, "no cache: %.40s", h ? h : "");
        }
        ef_ctx_free(ctx);
    }
}

/* vae_tiling auto: tiles only when an untiled decode needs > EF_VAE_AUTO_TILE_MIB. */
static void test_vae_tiling_auto(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 1);
    if (!ctx) return;
    ef_gen_params p = ef_gen_default_params();
    ef_gen_settings st;
    p.prompt = "a cat";
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.vae_tiled == 0);   /* 64x64 */
    p.width = p.height = 2048;   /* the fixture VAE's 3 x 32 x 2048^2 floats > 1 GiB */
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.vae_tiled == 1);
    p.vae_tiling = -1;
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.vae_tiled == 0);
    p.width = p.height = 64;
    p.vae_tiling = 1;
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.vae_tiled == 1);
    p.vae_tiling = 2;
    EF_CHECK_INT(t, ef_gen_resolve(ctx, &p, &st), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "vae_tiling 2") != NULL);
    ef_ctx_free(ctx);
}

/* token_downsample: off by default, 2 changes the image (the UNet's own test checks it
** against diffusers) and is written into the metadata; out of range is refused. */
static void test_token_downsample(ef_test *t) {
    ef_ctx *ctx = load_fixture(t, 1);
    if (!ctx) return;
    ef_gen_params p = ef_gen_default_params();
    ef_gen_settings st;
    p.prompt = "a cat";
    p.n_steps = 2;
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.token_downsample == 1);
    size_t n = ef_rgb_size(64, 64);
    uint8_t *exact = malloc(n), *fast = malloc(n), *again = malloc(n);
    char info[2048];
    EF_CHECK(t, ef_generate(ctx, &p, exact, n) == EF_OK);
    EF_CHECK(t, ef_gen_infotext(ctx, &p, info, sizeof info) == EF_OK && !strstr(info, "Token downsample"));
    p.token_downsample = 2;
    EF_CHECK(t, ef_gen_resolve(ctx, &p, &st) == EF_OK && st.token_downsample == 2);
    EF_CHECK(t, ef_generate(ctx, &p, fast, n) == EF_OK);
    EF_CHECK(t, memcmp(exact, fast, n) != 0);
    EF_CHECK(t, ef_gen_infotext(ctx, &p, info, sizeof info) == EF_OK && strstr(info, "Token downsample: 2"));
    p.token_downsample = 0;   /* the next generation is exact again */
    EF_CHECK(t, ef_generate(ctx, &p, again, n) == EF_OK);
    EF_CHECK(t, memcmp(exact, again, n) == 0);
    p.token_downsample = 5;
    EF_CHECK_INT(t, ef_gen_resolve(ctx, &p, &st), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "token downsample 5") != NULL);
    free(exact);
    free(fast);
    free(again);
    ef_ctx_free(ctx);
}

/* A folder with only the text parts loads, encodes, and refuses images by name. */
static void test_text_only_folder(ef_test *t) {
    char dir[512], why[512];
    make_pipe(dir, sizeof dir, GOOD_INDEX, "tokenizer", "text_encoder");
    ef_ctx *ctx = NULL;
    EF_CHECK_MSG(t, ef_ctx_create(dir, NULL, &ctx, why, sizeof why) == EF_OK, "%s", why);
    if (ctx) {
        ef_gen_params p = ef_gen_default_params();
        p.prompt = "x";
        uint8_t rgb[3];
        EF_CHECK_INT(t, ef_generate(ctx, &p, rgb, sizeof rgb), EF_ERR_UNSUPPORTED);
        EF_CHECK(t, strstr(ef_ctx_errmsg(ctx), "no unet") != NULL);
    }
    ef_ctx_free(ctx);
    remove_pipe(dir);
}

const ef_test_case ef_suite_api[] = {
    {"load_and_tokenize", test_load_and_tokenize},
    {"encode_threads", test_encode_threads},
    {"cancel_load", test_cancel_load},
    {"hostile_folders", test_hostile_folders},
    {"bad_params", test_bad_params},
    {"generate_cancel", test_generate_cancel},
    {"generate_bad_params", test_generate_bad_params},
    {"generate_timings", test_generate_timings},
    {"text_only_folder", test_text_only_folder},
    {"weight_types", test_weight_types},
    {"vae_tiling_auto", test_vae_tiling_auto},
    {"token_downsample", test_token_downsample},
    {"release_text_encoder", test_release_text_encoder},
    {"hash_cache", test_hash_cache},
    {0, 0},
};
