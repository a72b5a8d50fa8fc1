/*
** main.c -- the edgefusion command-line program: flags -> ef_* calls -> output.
** No engine logic lives here; this is the only place (with the other tools/) that
** prints or exits.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "edgefusion.h"

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

int main(int argc, char **argv) {
    cli_args a;
    char msg[512];
    if (!cli_args_parse(argc, argv, &a, msg, sizeof msg)) {
        fprintf(stderr, "edgefusion: %s\n", msg);
        return 2;
    }
    if (a.help) { fputs(cli_usage(), stdout); return 0; }
    if (a.version) { printf("edgefusion %s\n", ef_version()); return 0; }

    ef_ctx_params cp = ef_ctx_default_params();
    cp.n_threads = a.threads;
    cp.variant = a.variant;
    cp.log_fn = log_stderr;
    cp.log_user = &a.verbose;
    ef_ctx *ctx = NULL;
    double t0 = now_s();
    ef_status rc = ef_ctx_create(a.model, &cp, &ctx, msg, sizeof msg);
    if (rc != EF_OK) {
        fprintf(stderr, "edgefusion: cannot load %s (%s): %s\n", a.model, ef_status_str(rc), msg);
        return 1;
    }
    double t_load = now_s() - t0;
    ef_model_info info;
    ef_ctx_model_info(ctx, &info);

    int32_t n_ids = 0;
    int32_t *ids = calloc((size_t)info.text_max_length, sizeof *ids);
    size_t n_emb = ef_text_embedding_size(ctx);
    float *emb = malloc(n_emb * sizeof *emb);
    int exit_code = 1;
    if (!ids || !emb) { fprintf(stderr, "edgefusion: out of memory\n"); goto done; }
    rc = ef_tokenize(ctx, a.prompt, ids, info.text_max_length, &n_ids);
    if (rc != EF_OK) { fprintf(stderr, "edgefusion: tokenize: %s\n", ef_ctx_errmsg(ctx)); goto done; }
    t0 = now_s();
    rc = ef_encode_prompt(ctx, a.prompt, a.clip_skip, emb, n_emb);
    if (rc != EF_OK) { fprintf(stderr, "edgefusion: encode: %s\n", ef_ctx_errmsg(ctx)); goto done; }
    double t_enc = now_s() - t0;

    int n_real = 0;   /* tokens up to and including the first EOS (the pad id may equal EOS) */
    for (int i = 1; i < n_ids; i++) if (ids[i] == ids[n_ids - 1] || i == n_ids - 1) { n_real = i + 1; break; }
    if (a.print_tokens) {
        printf("tokens:");
        for (int i = 0; i < n_ids; i++) printf(" %d", (int)ids[i]);
        printf("\n");
    }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n_emb; i++) { sum += emb[i]; sq += (double)emb[i] * emb[i]; }
    double mean = sum / (double)n_emb, sd = sqrt(fmax(0.0, sq / (double)n_emb - mean * mean));
    printf("model: %s (text encoder %d layers x %d, %.1fM params), loaded in %.2f s\n", a.model,
           (int)info.text_n_layers, (int)info.text_hidden_size, (double)info.text_n_params / 1e6, t_load);
    printf("prompt: %d tokens incl. BOS/EOS, padded to %d\n", n_real, (int)n_ids);
    printf("embedding: %d x %d, mean %.6f, std %.6f, encoded in %.3f s (clip skip %d)\n", (int)info.text_max_length,
           (int)info.text_hidden_size, mean, sd, t_enc, a.clip_skip);
    if (a.embedding_out) {
        if (!write_npy(a.embedding_out, emb, (size_t)info.text_max_length, (size_t)info.text_hidden_size)) {
            fprintf(stderr, "edgefusion: cannot write %s\n", a.embedding_out);
            goto done;
        }
        printf("wrote %s\n", a.embedding_out);
    }
    exit_code = 0;
done:
    free(ids);
    free(emb);
    ef_ctx_free(ctx);
    return exit_code;
}
