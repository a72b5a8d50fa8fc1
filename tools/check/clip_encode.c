/*
** clip_encode.c -- a check driver (not built by the Makefile, not part of the product):
** loads a text_encoder/ folder with ef_clip_text_load, reads token ids from a text
** file, runs the encoder and writes the (T, D) output as raw little-endian float32.
** scripts/check_full_clip.py compiles and runs it against transformers.
**
** usage: clip_encode TEXT_ENCODER_DIR IDS_FILE OUT_F32 [N_THREADS [CLIP_SKIP [VARIANT]]]
**   IDS_FILE: whitespace-separated integers (at most max_position_embeddings).
** Prints one line to stdout: "params=N hidden=D layers=L tokens=T load_s=... forward_s=...".
*/
#include <stdio.h>
#include <stdlib.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "model/clip_text.h"

static int fail(const char *what, const ef_err *err) {
    fprintf(stderr, "clip_encode: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s TEXT_ENCODER_DIR IDS_FILE OUT_F32 [N_THREADS [CLIP_SKIP [VARIANT]]]\n", argv[0]);
        return 2;
    }
    int n_threads = argc > 4 ? atoi(argv[4]) : 0;
    int clip_skip = argc > 5 ? atoi(argv[5]) : 0;
    const char *variant = argc > 6 ? argv[6] : NULL;
    ef_err err = {0};

    double t0 = ef_time_now();
    ef_clip_text *m = NULL;
    if (ef_clip_text_load(argv[1], variant, 1, &m, &err) != EF_OK) return fail("load", &err);
    double t_load = ef_time_now() - t0;
    int P = ef_clip_text_max_positions(m), D = ef_clip_text_hidden_size(m);

    int32_t *ids = malloc((size_t)P * sizeof *ids);
    FILE *f = fopen(argv[2], "r");
    if (!ids || !f) return fail("cannot read the ids file", NULL);
    int n = 0;
    long v;
    while (fscanf(f, "%ld", &v) == 1) {
        if (n == P) { fclose(f); return fail("more ids than max_position_embeddings", NULL); }
        ids[n++] = (int32_t)v;
    }
    fclose(f);

    ef_pool *pool = NULL;
    if (ef_pool_create(n_threads, &pool, &err) != EF_OK) return fail("pool", &err);
    ef_cpu_features feat = ef_cpu_features_probe();
    const ef_kernels *k = ef_kernels_select(&feat, NULL);
    float *out = malloc((size_t)n * (size_t)D * sizeof *out);
    if (!out) return fail("out of memory", NULL);
    t0 = ef_time_now();
    if (ef_clip_text_forward(m, pool, k, ids, n, clip_skip, out, &err) != EF_OK) return fail("forward", &err);
    double t_fwd = ef_time_now() - t0;

    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(out, sizeof *out, (size_t)n * (size_t)D, o) != (size_t)n * (size_t)D || fclose(o) != 0)
        return fail("cannot write the output file", NULL);
    printf("params=%lld hidden=%d layers=%d tokens=%d threads=%d kernels=%s load_s=%.3f forward_s=%.3f\n",
           (long long)ef_clip_text_n_params(m), D, ef_clip_text_n_layers(m), n, ef_pool_size(pool), k->name, t_load,
           t_fwd);
    free(out);
    free(ids);
    ef_pool_free(pool);
    ef_clip_text_free(m);
    return 0;
}
