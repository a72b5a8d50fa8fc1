/*
** bench_kernels.c -- the machine's measured fp32 peak, then every kernel variant this
** CPU runs, timed at the real shapes of BK-SDM-Tiny at 512x512 (64x64 latents, 77 text
** tokens), on 1 and 2 threads.
**
** Usage: bench_kernels [VARIANT] [-t 1,2] [--ref-full]
**   VARIANT      time only this table ("ref", "avx2"); default: every variant
**   -t LIST      thread counts, comma separated (default 1,2)
**   --ref-full   time ref on every shape (default: ref skips the shapes over
**                REF_MAX_GFLOP, which take tens of seconds each on reference kernels)
**
** Per op it prints the best wall time in ms over its repetitions ("ms") and the best
** CPU time of the op's longest-running thread ("cpu ms"). On an idle machine the two
** agree; on a shared one "ms" also counts the time threads waited for a CPU, so the
** rates use the smaller of the two: for matmul, conv and attention GFLOP/s with 2 flops
** per multiply-add and the % of the measured peak for that thread count; for the
** memory-bound ops GB/s counting one read of each input and one write of the output
** (the least traffic the op can do). Kernels are called through the table
** (ef_kernels_at), each thread running its share as the ef_kernels_<op> helpers do.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "peak.h"

#define MAX_THREADS    8
#define PEAK_SECONDS   0.02     /* one peak run; many short runs, so that some go undisturbed */
#define PEAK_REPS      400      /* at most, per thread count ... */
#define PEAK_BUDGET    4.0      /* ... and at most this many seconds ... */
#define PEAK_ENOUGH    20       /* ... stopping once this many runs went undisturbed */
#define TIME_BUDGET    0.40     /* seconds of repetitions per op and thread count */
#define MAX_REPS       50
#define ONE_SHOT       0.25     /* a first run this long is the measurement (no more reps) */
#define REF_MAX_GFLOP  2.0      /* ref skips larger shapes unless --ref-full */

/* ---- buffers ------------------------------------------------------------------- */

static float *alloc_f32(size_t n, uint64_t seed) {
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *x = aligned_alloc(64, bytes ? bytes : 64);
    if (!x) { fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", bytes); exit(1); }
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {   /* uniform in [-1, 1): touches every page too */
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return x;
}

/* ---- peak ---------------------------------------------------------------------- */

typedef struct {
    int64_t n_iter;
    double  flops[MAX_THREADS];
    double  cpu_s[MAX_THREADS];   /* CPU time each thread got during its loop */
    float   sink[MAX_THREADS];
    double (*loop)(int64_t n_iter, float *sink);   /* ef_bench_peak_fma or _i16 */
} peak_job;

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void peak_task(void *p, int ith, int nth) {
    peak_job *j = p;
    double c0 = thread_cpu_now();
    j->flops[ith] = j->loop(j->n_iter, &j->sink[ith]);
    j->cpu_s[ith] = thread_cpu_now() - c0;
}

/* GFLOP/s of the FMA loop on every thread of pool at once: the best of many short runs.
** Wall-clock flops/s never overstate the hardware's rate, and on a machine loaded by
** other work the best run is the one least disturbed. *undisturbed receives how many
** runs had every thread on a CPU throughout (its CPU time >= 95% of the wall time);
** with none, the figure is only a lower bound. */
static double measure_peak(ef_pool *pool, double (*loop)(int64_t, float *), int *undisturbed) {
    peak_job j;
    memset(&j, 0, sizeof j);
    j.loop = loop;
    j.n_iter = 1 << 16;
    *undisturbed = 0;
    double t;
    for (;;) {   /* calibrate to about PEAK_SECONDS */
        double t0 = ef_time_now();
        ef_pool_run(pool, peak_task, &j);
        t = ef_time_now() - t0;
        if (j.flops[0] == 0.0) return 0.0;
        if (t >= PEAK_SECONDS / 4 || j.n_iter > ((int64_t)1 << 40)) break;
        j.n_iter *= 4;
    }
    j.n_iter = (int64_t)((double)j.n_iter * PEAK_SECONDS / t) + 1;
    double best = 0.0, start = ef_time_now();
    for (int r = 0; r < PEAK_REPS && *undisturbed < PEAK_ENOUGH && ef_time_now() - start < PEAK_BUDGET; r++) {
        double t0 = ef_time_now();
        ef_pool_run(pool, peak_task, &j);
        t = ef_time_now() - t0;
        double flops = 0.0;
        int whole = 1;
        for (int i = 0; i < ef_pool_size(pool); i++) {
            flops += j.flops[i];
            whole &= j.cpu_s[i] >= 0.95 * t;
        }
        *undisturbed += whole;
        if (flops / t > best) best = flops / t;
    }
    return best * 1e-9;
}

/* ---- the ops ------------------------------------------------------------------- */

typedef enum { OP_LINEAR, OP_CONV, OP_ATTN, OP_GROUP_NORM, OP_LAYER_NORM, OP_GEGLU } op_kind;

typedef struct bench_case {
    op_kind     kind;
    const char *what;                /* where the shape occurs in the model */
    int64_t     a, b, c, d, e;       /* linear M,N,K; conv Cin,Cout,H(=W),k; attn Tq,Tk,H,Dh;
                                     ** norms C/R, S/D; geglu R, F */
} bench_case;

static const bench_case CASES[] = {
    {OP_LINEAR, "attn q/k/v/out, 64x64", 4096, 320, 320, 0, 0},
    {OP_LINEAR, "ff proj (GEGLU), 64x64", 4096, 2560, 320, 0, 0},
    {OP_LINEAR, "ff out, 64x64", 4096, 320, 1280, 0, 0},
    {OP_LINEAR, "text k/v, 32x32 block", 77, 640, 768, 0, 0},
    {OP_CONV, "resnet 3x3, 64x64", 320, 320, 64, 3, 0},
    {OP_CONV, "resnet 3x3, 32x32", 640, 640, 32, 3, 0},
    {OP_CONV, "resnet 3x3, 16x16", 1280, 1280, 16, 3, 0},
    {OP_CONV, "conv_in 3x3", 4, 320, 64, 3, 0},
    {OP_CONV, "proj_in/out 1x1, 64x64", 320, 320, 64, 1, 0},
    {OP_CONV, "up shortcut 1x1, 64x64", 960, 320, 64, 1, 0},
    {OP_ATTN, "self-attn, 64x64", 4096, 4096, 8, 40, 0},
    {OP_ATTN, "cross-attn, 64x64", 4096, 77, 8, 40, 0},
    {OP_GROUP_NORM, "GroupNorm(32)+SiLU, 64x64", 320, 4096, 32, 0, 0},
    {OP_LAYER_NORM, "LayerNorm, 64x64 tokens", 4096, 320, 0, 0, 0},
    {OP_GEGLU, "GEGLU, 64x64 tokens", 4096, 1280, 0, 0, 0},
};
enum { N_CASES = (int)(sizeof CASES / sizeof CASES[0]) };

/* One op with its arguments and buffers, ready to run. */
typedef struct prepared {
    op_kind            kind;
    ef_linear_args     lin;
    ef_conv2d_args     conv;
    ef_attention_args  attn;
    ef_group_norm_args gn;
    ef_layer_norm_args ln;
    ef_geglu_args      gg;
    float             *buf[4];
    double             flops;    /* 2 x multiply-adds; 0 for memory-bound ops */
    double             bytes;    /* least traffic: inputs read once, output written once */
    char               shape[96];
} prepared;

static void prepare(const bench_case *c, prepared *p) {
    memset(p, 0, sizeof *p);
    p->kind = c->kind;
    switch (c->kind) {
    case OP_LINEAR: {
        int64_t M = c->a, N = c->b, K = c->c;
        p->buf[0] = alloc_f32((size_t)(M * K), 1);
        p->buf[1] = alloc_f32((size_t)(N * K), 2);
        p->buf[2] = alloc_f32((size_t)N, 3);
        p->buf[3] = alloc_f32((size_t)(M * N), 4);
        p->lin = (ef_linear_args){.x = p->buf[0], .w = p->buf[1], .b = p->buf[2], .y = p->buf[3],
                                  .M = M, .N = N, .K = K, .ldx = K, .ldy = N, .act = EF_ACT_NONE};
        p->flops = 2.0 * (double)M * (double)N * (double)K;
        p->bytes = 4.0 * (double)(M * K + N * K + N + M * N);
        snprintf(p->shape, sizeof p->shape, "M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
        break;
    }
    case OP_CONV: {
        int64_t Ci = c->a, Co = c->b, H = c->c, k = c->d, pad = k / 2;
        p->buf[0] = alloc_f32((size_t)(Ci * H * H), 1);
        p->buf[1] = alloc_f32((size_t)(Co * Ci * k * k), 2);
        p->buf[2] = alloc_f32((size_t)Co, 3);
        p->buf[3] = alloc_f32((size_t)(Co * H * H), 4);
        p->conv = (ef_conv2d_args){.x = p->buf[0], .w = p->buf[1], .b = p->buf[2], .y = p->buf[3],
                                   .Cin = Ci, .H = H, .W = H, .Cout = Co, .KH = k, .KW = k, .stride = 1,
                                   .pad = pad, .Ho = H, .Wo = H, .act = EF_ACT_NONE};
        p->flops = 2.0 * (double)Co * (double)(H * H) * (double)(Ci * k * k);
        p->bytes = 4.0 * (double)(Ci * H * H + Co * Ci * k * k + Co + Co * H * H);
        snprintf(p->shape, sizeof p->shape, "%lldx%lld Cin=%lld Cout=%lld %lldx%lld", (long long)k, (long long)k,
                 (long long)Ci, (long long)Co, (long long)H, (long long)H);
        break;
    }
    case OP_ATTN: {
        int64_t Tq = c->a, Tk = c->b, Hh = c->c, Dh = c->d, W = Hh * Dh;
        p->buf[0] = alloc_f32((size_t)(Tq * W), 1);
        p->buf[1] = alloc_f32((size_t)(Tk * W), 2);
        p->buf[2] = alloc_f32((size_t)(Tk * W), 3);
        p->buf[3] = alloc_f32((size_t)(Tq * W), 4);
        p->attn = (ef_attention_args){.q = p->buf[0], .k = p->buf[1], .v = p->buf[2], .out = p->buf[3],
                                      .Tq = Tq, .Tk = Tk, .H = Hh, .Dh = Dh, .ldq = W, .ldk = W, .ldv = W,
                                      .ldo = W, .scale = 1.0f / sqrtf((float)Dh), .causal = 0};
        p->flops = 2.0 * 2.0 * (double)Tq * (double)Tk * (double)Dh * (double)Hh;   /* QK^T and PV */
        p->bytes = 4.0 * (double)(2 * Tq * W + 2 * Tk * W);
        snprintf(p->shape, sizeof p->shape, "Tq=%lld Tk=%lld H=%lld Dh=%lld", (long long)Tq, (long long)Tk,
                 (long long)Hh, (long long)Dh);
        break;
    }
    case OP_GROUP_NORM: {
        int64_t C = c->a, S = c->b, G = c->c;
        p->buf[0] = alloc_f32((size_t)(C * S), 1);
        p->buf[1] = alloc_f32((size_t)C, 2);
        p->buf[2] = alloc_f32((size_t)C, 3);
        p->buf[3] = alloc_f32((size_t)(C * S), 4);
        p->gn = (ef_group_norm_args){.x = p->buf[0], .y = p->buf[3], .gamma = p->buf[1], .beta = p->buf[2],
                                     .C = C, .S = S, .G = G, .eps = 1e-5f, .act = EF_ACT_SILU};
        p->bytes = 4.0 * (double)(2 * C * S);
        snprintf(p->shape, sizeof p->shape, "C=%lld S=%lld G=%lld", (long long)C, (long long)S, (long long)G);
        break;
    }
    case OP_LAYER_NORM: {
        int64_t R = c->a, D = c->b;
        p->buf[0] = alloc_f32((size_t)(R * D), 1);
        p->buf[1] = alloc_f32((size_t)D, 2);
        p->buf[2] = alloc_f32((size_t)D, 3);
        p->buf[3] = alloc_f32((size_t)(R * D), 4);
        p->ln = (ef_layer_norm_args){.x = p->buf[0], .y = p->buf[3], .gamma = p->buf[1], .beta = p->buf[2],
                                     .R = R, .D = D, .eps = 1e-5f};
        p->bytes = 4.0 * (double)(2 * R * D);
        snprintf(p->shape, sizeof p->shape, "R=%lld D=%lld", (long long)R, (long long)D);
        break;
    }
    case OP_GEGLU: {
        int64_t R = c->a, F = c->b;
        p->buf[0] = alloc_f32((size_t)(R * 2 * F), 1);
        p->buf[3] = alloc_f32((size_t)(R * F), 4);
        p->gg = (ef_geglu_args){.x = p->buf[0], .y = p->buf[3], .R = R, .F = F, .ldx = 2 * F, .ldy = F};
        p->bytes = 4.0 * (double)(3 * R * F);
        snprintf(p->shape, sizeof p->shape, "R=%lld F=%lld", (long long)R, (long long)F);
        break;
    }
    }
}

static void release(prepared *p) {
    for (int i = 0; i < 4; i++) free(p->buf[i]);
}

/* One op on the pool: each thread runs its share of the table's kernel, as the
** ef_kernels_<op> helpers do, and records the CPU time it got while doing so. */
typedef struct { const ef_kernels *k; const prepared *p; ef_pool *pool; double cpu_s[MAX_THREADS]; } op_job;

static void op_task(void *arg, int ith, int nth) {
    op_job *j = arg;
    const prepared *p = j->p;
    double c0 = thread_cpu_now();
    switch (p->kind) {
    case OP_LINEAR: j->k->linear_f32(&p->lin, ith, nth); break;
    case OP_CONV: {   /* with the pool's scratch, as ef_kernels_conv2d passes it */
        ef_conv2d_args c = p->conv;
        c.pool = j->pool;
        j->k->conv2d_f32(&c, ith, nth);
        break;
    }
    case OP_ATTN: j->k->attention_f32(&p->attn, ith, nth); break;
    case OP_GROUP_NORM: j->k->group_norm_f32(&p->gn, ith, nth); break;
    case OP_LAYER_NORM: j->k->layer_norm_f32(&p->ln, ith, nth); break;
    case OP_GEGLU: j->k->geglu_f32(&p->gg, ith, nth); break;
    }
    j->cpu_s[ith] = thread_cpu_now() - c0;
}

/* Runs the op once; returns the wall seconds, and in *cpu the longest thread's CPU time. */
static double run_once(const ef_kernels *k, ef_pool *pool, const prepared *p, double *cpu) {
    op_job j;
    memset(&j, 0, sizeof j);
    j.k = k;
    j.p = p;
    j.pool = pool;
    double t0 = ef_time_now();
    ef_pool_run(pool, op_task, &j);
    double t = ef_time_now() - t0;
    *cpu = 0.0;
    for (int i = 0; i < ef_pool_size(pool); i++) *cpu = j.cpu_s[i] > *cpu ? j.cpu_s[i] : *cpu;
    return t;
}

/* Best wall seconds of one op (*cpu: the best of its longest-thread CPU times): a first
** (warm-up) run, then repetitions for TIME_BUDGET. A first run over ONE_SHOT is the
** measurement. *reps receives the runs timed. */
static double time_op(const ef_kernels *k, ef_pool *pool, const prepared *p, int *reps, double *cpu) {
    double best = run_once(k, pool, p, cpu);
    *reps = 1;
    if (best >= ONE_SHOT) return best;
    double spent = 0.0;
    best = *cpu = INFINITY;
    *reps = 0;
    while (*reps < MAX_REPS && (spent < TIME_BUDGET || *reps < 3)) {
        double c;
        double t = run_once(k, pool, p, &c);
        spent += t;
        if (t < best) best = t;
        if (c < *cpu) *cpu = c;
        ++*reps;
    }
    return best;
}

/* ---- main ---------------------------------------------------------------------- */

static const char *OP_NAMES[] = {"linear", "conv2d", "attention", "group_norm", "layer_norm", "geglu"};

static void usage(void) {
    fprintf(stderr, "usage: bench_kernels [VARIANT] [-t 1,2] [--ref-full]\n");
}

int main(int argc, char **argv) {
    const char *only = NULL;
    int threads[MAX_THREADS], n_threads = 0, ref_full = 0;
    const char *tlist = "1,2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) tlist = argv[++i];
        else if (!strcmp(argv[i], "--ref-full")) ref_full = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(); return 0; }
        else if (argv[i][0] != '-' && !only) only = argv[i];
        else { usage(); return 2; }
    }
    for (const char *s = tlist; *s && n_threads < MAX_THREADS;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > MAX_THREADS) { fprintf(stderr, "bench_kernels: bad thread list '%s'\n", tlist); return 2; }
        threads[n_threads++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }

    int known = !only;
    for (int v = 0; v < ef_kernels_count() && !known; v++) known = !strcmp(only, ef_kernels_at(v)->name);
    if (!known) {
        fprintf(stderr, "bench_kernels: no variant '%s' on this CPU; have:", only);
        for (int v = 0; v < ef_kernels_count(); v++) fprintf(stderr, " %s", ef_kernels_at(v)->name);
        fputc('\n', stderr);
        return 2;
    }

    ef_cpu_features f = ef_cpu_features_probe();
    printf("bench_kernels: %d CPUs online; avx2 %d fma %d f16c %d avx512f %d\n", ef_cpu_count(), f.avx2 != 0,
           f.fma != 0, f.f16c != 0, f.avx512f != 0);

    ef_pool *pools[MAX_THREADS];
    double peak[MAX_THREADS], per_thread = 0.0;
    ef_err err;
    int have_peak = f.avx2 && f.fma;
    printf("\nfp32 peak (measured: %s)\n", have_peak ? ef_bench_peak_name() : "no FMA loop for this CPU");
    for (int i = 0; i < n_threads; i++) {
        if (ef_pool_create(threads[i], &pools[i], &err) != EF_OK) {
            fprintf(stderr, "bench_kernels: %s\n", err.msg);
            return 1;
        }
        int undisturbed = 0;
        peak[i] = have_peak ? measure_peak(pools[i], ef_bench_peak_fma, &undisturbed) : 0.0;
        if (!have_peak) continue;
        if (undisturbed) {
            printf("  %d thread%s: %8.1f GFLOP/s\n", threads[i], threads[i] > 1 ? "s" : " ", peak[i]);
            if (threads[i] == 1) per_thread = peak[i];
        } else if (per_thread > 0.0 && threads[i] * per_thread > peak[i]) {
            /* Busy machine: no run had all threads on a CPU at once. The reference is then
            ** n x the 1-thread peak (the cores do not share FMA units: on the 2-core EPYC of
            ** bench/RESULTS.md one undisturbed 2-thread run reached 1.9 x); the best run
            ** seen is printed beside it. */
            printf("  %d threads: %8.1f GFLOP/s  (%d x the 1-thread peak: no %d-thread run went undisturbed on this "
                   "busy machine; best seen %.1f)\n", threads[i], threads[i] * per_thread, threads[i], threads[i],
                   peak[i]);
            peak[i] = threads[i] * per_thread;
        } else {
            printf("  %d thread%s: %8.1f GFLOP/s  (a lower bound: no run went undisturbed on this busy machine)\n",
                   threads[i], threads[i] > 1 ? "s" : " ", peak[i]);
        }
    }

    if (have_peak) {   /* what int8/int16 arithmetic could reach (no kernel uses it yet) */
        printf("\nint16 multiply-add peak (measured: avx2 vpmaddwd into int32, 12 chains)\n");
        for (int i = 0; i < n_threads; i++) {
            int undisturbed = 0;
            double i16 = measure_peak(pools[i], ef_bench_peak_i16, &undisturbed);
            printf("  %d thread%s: %8.1f GOP/s = %.2f x the fp32 peak%s\n", threads[i], threads[i] > 1 ? "s" : " ", i16,
                   peak[i] > 0 ? i16 / peak[i] : 0.0, undisturbed ? "" : "  (a lower bound: disturbed)");
        }
    }

    for (int v = 0; v < ef_kernels_count(); v++) {
        const ef_kernels *k = ef_kernels_at(v);
        if (only && strcmp(only, k->name) != 0) continue;
        int is_ref = !strcmp(k->name, "ref");
        printf("\nvariant %s%s\n", k->name, is_ref && !ref_full ? " (shapes over 2 GFLOP skipped; --ref-full times them)" : "");
        printf("%-10s %-30s %-26s %3s %10s %10s %9s %7s %8s %5s\n", "op", "shape", "where", "thr", "ms", "cpu ms",
               "GFLOP/s", "%peak", "GB/s", "reps");
        for (int c = 0; c < N_CASES; c++) {
            prepared p;
            prepare(&CASES[c], &p);
            if (is_ref && !ref_full && p.flops > REF_MAX_GFLOP * 1e9) {
                printf("%-10s %-30s %-26s %3s %10s\n", OP_NAMES[p.kind], p.shape, CASES[c].what, "-", "skipped");
                release(&p);
                continue;
            }
            for (int i = 0; i < n_threads; i++) {
                int reps = 0;
                double cpu = 0.0;
                double t = time_op(k, pools[i], &p, &reps, &cpu);
                double tr = cpu > 0.0 && cpu < t ? cpu : t;   /* the rate's time: see the header */
                char gf[16] = "", pk[16] = "", gb[16] = "";
                if (p.flops > 0) {
                    snprintf(gf, sizeof gf, "%.1f", p.flops / tr * 1e-9);
                    if (peak[i] > 0) snprintf(pk, sizeof pk, "%.1f%%", 100.0 * p.flops / tr * 1e-9 / peak[i]);
                } else {
                    snprintf(gb, sizeof gb, "%.1f", p.bytes / tr * 1e-9);
                }
                printf("%-10s %-30s %-26s %3d %10.3f %10.3f %9s %7s %8s %5d\n", OP_NAMES[p.kind], p.shape,
                       CASES[c].what, threads[i], t * 1e3, cpu * 1e3, gf, pk, gb, reps);
                fflush(stdout);
            }
            release(&p);
        }
    }
    for (int i = 0; i < n_threads; i++) ef_pool_free(pools[i]);
    return 0;
}
