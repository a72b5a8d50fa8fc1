/*
** unet_forward.c -- a check driver (not built by the Makefile, not part of the product):
** loads a unet/ folder with ef_unet_load, plans for one latent size, runs one forward
** and writes the output as raw little-endian float32. scripts/check_full_unet.py
** compiles and runs it against diffusers; run under /usr/bin/time -v it gives the peak
** RSS of one step.
**
** usage: unet_forward UNET_DIR [options]
**   --inputs FILE.safetensors  F32 "sample" (Cin, h, w), "timestep" (1,),
**                              "encoder_hidden_states" (T, Dctx) [, "timestep_cond" (Dc,)]
**   --random HxW:T             instead: pseudo-random inputs for an h x w latent, T tokens
**   --out FILE.f32             where to write the output (Cout, h, w)
**   --threads N                engine threads (default 0: all CPUs)
**   --variant V                weights variant (e.g. fp16)
**   --no-mmap                  read the weights file instead of mapping it
**   --repeat N                 run the forward N times (timing; default 1)
**   --plan-only                stop after ef_unet_plan (activation size without a forward)
** Prints one line: "params=... latent=HxW tokens=T threads=N kernels=... load_s=...
** plan_s=... forward_s=... activation_bytes=... hwm_load_kib=... hwm_kib=...", where
** hwm_* is the process's peak RSS (VmHWM) after load and at the end, when available.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "model/unet.h"

static int fail(const char *what, const ef_err *err) {
    fprintf(stderr, "unet_forward: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    return 1;
}

/* Peak resident set (VmHWM) in KiB from /proc/self/status; -1 where unavailable. */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* A malloc'ed copy of F32 tensor name (n floats), or NULL. */
static float *tensor(const ef_st_file *f, const char *name, const ef_st_tensor **info) {
    const ef_st_tensor *t = ef_st_find(f, name);
    if (info) *info = t;
    if (!t || t->dtype != EF_DTYPE_F32) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    if (p) memcpy(p, t->data, t->nbytes);
    return p;
}

static float *random_floats(size_t n, uint64_t seed) {
    float *p = malloc(n * sizeof *p);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; p && i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        p[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return p;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *inputs = NULL, *random = NULL, *out_path = NULL, *variant = NULL;
    int n_threads = 0, use_mmap = 1, repeat = 1, plan_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--inputs") == 0 && v) inputs = argv[++i];
        else if (strcmp(a, "--random") == 0 && v) random = argv[++i];
        else if (strcmp(a, "--out") == 0 && v) out_path = argv[++i];
        else if (strcmp(a, "--threads") == 0 && v) n_threads = atoi(argv[++i]);
        else if (strcmp(a, "--variant") == 0 && v) variant = argv[++i];
        else if (strcmp(a, "--repeat") == 0 && v) repeat = atoi(argv[++i]);
        else if (strcmp(a, "--no-mmap") == 0) use_mmap = 0;
        else if (strcmp(a, "--plan-only") == 0) plan_only = 1;
        else if (a[0] != '-' && !dir) dir = a;
        else {
            fprintf(stderr, "usage: %s UNET_DIR (--inputs F.safetensors | --random HxW:T) [--out F.f32] [--threads N] "
                            "[--variant V] [--no-mmap] [--repeat N] [--plan-only]\n", argv[0]);
            return 2;
        }
    }
    if (!dir || (!inputs == !random)) return fail("need UNET_DIR and exactly one of --inputs / --random", NULL);
    ef_err err = {0};

    double t0 = ef_time_now();
    ef_unet *m = NULL;
    if (ef_unet_load(dir, variant, use_mmap, &m, &err) != EF_OK) return fail("load", &err);
    double t_load = ef_time_now() - t0;
    long hwm_load = peak_rss_kib();
    const ef_unet_config *c = ef_unet_get_config(m);

    int h = 0, w = 0, T = 0;
    float *sample = NULL, *text = NULL, *tcond = NULL, timestep = 999.0f;
    ef_st_file *f = NULL;
    if (inputs) {
        if (ef_st_open(inputs, 0, &f, &err) != EF_OK) return fail("inputs", &err);
        const ef_st_tensor *ts, *te, *tt;
        sample = tensor(f, "sample", &ts);
        text = tensor(f, "encoder_hidden_states", &te);
        float *tv = tensor(f, "timestep", &tt);
        tcond = tensor(f, "timestep_cond", NULL);
        if (!sample || ts->ndim != 3 || ts->shape[0] != c->in_channels || !text || te->ndim != 2 ||
            te->shape[1] != c->cross_attention_dim || !tv)
            return fail("inputs: need F32 sample (Cin, h, w), encoder_hidden_states (T, Dctx), timestep", NULL);
        h = (int)ts->shape[1];
        w = (int)ts->shape[2];
        T = (int)te->shape[0];
        timestep = tv[0];
        free(tv);
        ef_st_close(f);
    } else {
        if (sscanf(random, "%dx%d:%d", &h, &w, &T) != 3) return fail("--random wants HxW:T", NULL);
        sample = random_floats((size_t)(c->in_channels * h * w), 1);
        text = random_floats((size_t)T * (size_t)c->cross_attention_dim, 2);
        if (c->time_cond_proj_dim > 0) tcond = random_floats((size_t)c->time_cond_proj_dim, 3);
    }

    t0 = ef_time_now();
    if (ef_unet_plan(m, h, w, T, &err) != EF_OK) return fail("plan", &err);
    double t_plan = ef_time_now() - t0;

    ef_pool *pool = NULL;
    if (ef_pool_create(n_threads, &pool, &err) != EF_OK) return fail("pool", &err);
    ef_cpu_features feat = ef_cpu_features_probe();
    const ef_kernels *k = ef_kernels_select(&feat, NULL);
    size_t n_out = (size_t)(c->out_channels * h * w);
    float *out = malloc(n_out * sizeof *out);
    if (!out || !sample || !text) return fail("out of memory", NULL);
    if (plan_only) repeat = 0;
    t0 = ef_time_now();
    for (int r = 0; r < repeat; r++)
        if (ef_unet_forward(m, pool, k, sample, timestep, text, tcond, out, &err) != EF_OK) return fail("forward", &err);
    double t_fwd = repeat > 0 ? (ef_time_now() - t0) / repeat : 0.0;

    if (out_path && repeat > 0) {
        FILE *o = fopen(out_path, "wb");
        if (!o || fwrite(out, sizeof *out, n_out, o) != n_out || fclose(o) != 0)
            return fail("cannot write the output file", NULL);
    }
    printf("params=%lld latent=%dx%d tokens=%d threads=%d kernels=%s load_s=%.3f plan_s=%.3f forward_s=%.3f "
           "activation_bytes=%zu hwm_load_kib=%ld hwm_kib=%ld\n",
           (long long)ef_unet_n_params(m), h, w, T, ef_pool_size(pool), k->name, t_load, t_plan, t_fwd,
           ef_unet_activation_bytes(m), hwm_load, peak_rss_kib());
    free(out);
    free(sample);
    free(text);
    free(tcond);
    ef_pool_free(pool);
    ef_unet_free(m);
    return 0;
}
