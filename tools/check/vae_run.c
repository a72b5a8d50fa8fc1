/*
** vae_run.c -- a check driver (not built by the Makefile, not part of the product):
** loads a VAE (a diffusers vae/ folder, or a --taesd path), runs one decode, tiled
** decode or encode on raw little-endian float32 files, and writes the result as raw
** float32. scripts/check_full_vae.py compiles and runs it against diffusers.
**
** usage: vae_run MODE SOURCE PATH IN_F32 C H W OUT_F32 [N_THREADS [EXTRA...]]
**   MODE    decode | tiled | encode
**   SOURCE  dir (ef_vae_load) | taesd (ef_vae_load_taesd)
**   C H W   shape of IN (a latent for decode/tiled, an image in [-1, 1] for encode)
**   EXTRA   tiled: TILE OVERLAP (latents); encode: NOISE_F32 (optional, KL sample)
** Loads only the half it needs. Prints one line to stdout:
**   "params=N kind=kl|tiny out=C,H,W threads=T kernels=K load_s=... run_s=... ws_bytes=..."
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "model/vae.h"

static int fail(const char *what, const ef_err *err) {
    fprintf(stderr, "vae_run: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

/* n floats from path into a new buffer, or NULL. */
static float *read_f32(const char *path, size_t n) {
    float *p = malloc(n * sizeof *p);
    FILE *f = fopen(path, "rb");
    int ok = p && f && fread(p, sizeof *p, n, f) == n;
    if (f) fclose(f);
    if (!ok) {
        free(p);
        return NULL;
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s decode|tiled|encode dir|taesd PATH IN_F32 C H W OUT_F32 [N_THREADS [EXTRA...]]\n",
                argv[0]);
        return 2;
    }
    const char *mode = argv[1], *source = argv[2], *path = argv[3], *in_path = argv[4], *out_path = argv[8];
    const long C = atol(argv[5]), H = atol(argv[6]), W = atol(argv[7]);
    const int n_threads = argc > 9 ? atoi(argv[9]) : 0;
    const int encode = strcmp(mode, "encode") == 0, tiled = strcmp(mode, "tiled") == 0;
    if (!encode && !tiled && strcmp(mode, "decode") != 0) return fail("MODE must be decode, tiled or encode", NULL);
    if (C < 1 || H < 1 || W < 1) return fail("bad shape", NULL);
    ef_err err = {0};
    unsigned parts = encode ? EF_VAE_ENCODER : EF_VAE_DECODER;

    double t0 = ef_time_now();
    ef_vae *v = NULL;
    ef_status rc = strcmp(source, "taesd") == 0 ? ef_vae_load_taesd(path, 1, parts, &v, &err)
                                                : ef_vae_load(path, NULL, 1, parts, &v, &err);
    if (rc != EF_OK) return fail("load", &err);
    double t_load = ef_time_now() - t0;

    float *in = read_f32(in_path, (size_t)(C * H * W));
    if (!in) return fail("cannot read IN_F32 (size must be C*H*W floats)", NULL);
    const long f = ef_vae_downscale(v);
    long oc, oh, ow;
    if (encode) {
        oc = ef_vae_latent_channels(v);
        oh = H / f;
        ow = W / f;
    } else {
        oc = ef_vae_image_channels_out(v);
        oh = H * f;
        ow = W * f;
    }
    float *out = malloc((size_t)(oc * oh * ow) * sizeof *out);
    float *noise = NULL;
    if (encode && argc > 10) {
        noise = read_f32(argv[10], (size_t)(oc * oh * ow));
        if (!noise) return fail("cannot read NOISE_F32", NULL);
    }
    ef_pool *pool = NULL;
    if (ef_pool_create(n_threads, &pool, &err) != EF_OK) return fail("pool", &err);
    ef_cpu_features feat = ef_cpu_features_probe();
    const ef_kernels *k = ef_kernels_select(&feat, NULL);

    t0 = ef_time_now();
    if (encode) {
        rc = ef_vae_encode(v, pool, k, in, H, W, noise, out, &err);
    } else if (tiled) {
        ef_vae_tiling t = ef_vae_tiling_default();
        if (argc > 11) {
            t.tile = atol(argv[10]);
            t.overlap = atol(argv[11]);
        }
        rc = ef_vae_decode_tiled(v, pool, k, in, H, W, &t, out, &err);
    } else {
        rc = ef_vae_decode(v, pool, k, in, H, W, out, &err);
    }
    if (rc != EF_OK) return fail(mode, &err);
    double t_run = ef_time_now() - t0;

    FILE *o = fopen(out_path, "wb");
    size_t n_out = (size_t)(oc * oh * ow);
    if (!o || fwrite(out, sizeof *out, n_out, o) != n_out || fclose(o) != 0) return fail("cannot write OUT_F32", NULL);
    printf("params=%lld kind=%s out=%ld,%ld,%ld threads=%d kernels=%s load_s=%.3f run_s=%.3f ws_bytes=%zu\n",
           (long long)ef_vae_n_params(v, parts), ef_vae_get_kind(v) == EF_VAE_KL ? "kl" : "tiny", oc, oh, ow,
           ef_pool_size(pool), k->name, t_load, t_run, ef_vae_workspace_bytes(v));
    free(in);
    free(out);
    free(noise);
    ef_pool_free(pool);
    ef_vae_free(v);
    return 0;
}
