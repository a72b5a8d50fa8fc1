/*
** test_kernels.c -- every kernel variant against a naive double-precision version
** written here, on random and odd shapes (1, 3, 17, 77, 129, ...), and 1 vs 3
** threads bit-identical.
**
** Tolerance (STYLE.md 3.12): |got - want| <= atol*sqrt(K) + rtol*|want| with
** atol = 1e-5, rtol = 1e-4, K the reduction length. Failures print the worst index,
** max_abs and NMSE.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "ef_test.h"
#include "kernels/kernels.h"

/* ---- helpers --------------------------------------------------------------- */

static float *rnd(size_t n, uint64_t seed, float scale) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    ef_test_fill_random(x, n, seed);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
    return x;
}

/* Compares got against a double reference; K scales the absolute tolerance. */
static void check_ref(ef_test *t, int line, const char *label, const float *got, const double *want,
                      size_t n, double K) {
    double atol = 1e-5 * sqrt(K > 1 ? K : 1), rtol = 1e-4;
    double max_abs = 0, se = 0, sw = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= atol + rtol * fabs(want[i]))) {
            if (!bad) worst = i;   /* the first failing index */
            bad++;
        }
        if (!(d <= max_abs)) max_abs = d;   /* NaN sticks */
        se += d * d;
        sw += want[i] * want[i];
    }
    t->n_check++;
    if (bad)
        ef_test_fail(t, __FILE__, line, "%s: %zu of %zu out of tolerance; max_abs %.3g, nmse %.3g, worst [%zu] got %.9g want %.9g",
                     label, bad, n, max_abs, sw > 0 ? se / sw : se, worst, got[worst], want[worst]);
}
#define CHECK_REF(t, label, got, want, n, K) check_ref((t), __LINE__, (label), (got), (want), (n), (K))

/* Bit-identity of two runs (different thread counts). */
static void check_same(ef_test *t, int line, const char *label, const float *a, const float *b, size_t n) {
    t->n_check++;
    if (memcmp(a, b, n * sizeof *a) != 0) {
        size_t i = 0;
        while (i < n && memcmp(&a[i], &b[i], sizeof *a) == 0) i++;
        ef_test_fail(t, __FILE__, line, "%s: 1 vs 3 threads differ at [%zu]: %.9g vs %.9g", label, i, a[i], b[i]);
    }
}
#define CHECK_SAME(t, label, a, b, n) check_same((t), __LINE__, (label), (a), (b), (n))

static double act_d(ef_act act, double x) {
    switch (act) {
    case EF_ACT_QUICK_GELU: return x / (1.0 + exp(-1.702 * x));
    case EF_ACT_GELU:       return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case EF_ACT_GELU_TANH:  return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case EF_ACT_SILU:       return x / (1.0 + exp(-x));
    case EF_ACT_RELU:       return x > 0 ? x : 0;
    default:                return x;
    }
}

/* A pool of 3 threads for the determinism checks (variants run on NULL = 1 thread). */
static ef_pool *pool3(ef_test *t) {
    ef_pool *p = NULL;
    ef_err err;
    ef_status rc = ef_pool_create(3, &p, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "pool: %s", err.msg);
    return p;
}

/* ---- selection ---------------------------------------------------------------- */

static void test_select(ef_test *t) {
    ef_cpu_features f = ef_cpu_features_probe();
    const ef_kernels *k = ef_kernels_select(&f, NULL);
    EF_CHECK(t, k != NULL);
    EF_CHECK(t, ef_kernels_select(NULL, NULL) == ef_kernels_ref());
    EF_CHECK(t, ef_kernels_select(&f, "ref") == ef_kernels_ref());
    EF_CHECK(t, ef_kernels_select(&f, "no-such-isa") == NULL);
    EF_CHECK(t, ef_kernels_count() >= 1);
    EF_CHECK(t, ef_kernels_at(ef_kernels_count()) == NULL);
    for (int i = 0; i < ef_kernels_count(); i++) {
        const ef_kernels *v = ef_kernels_at(i);
        EF_CHECK(t, v && v->name && v->linear_f32 && v->layer_norm_f32 && v->group_norm_f32 && v->act_f32 &&
                    v->add_f32 && v->softmax_f32 && v->attention_f32 && v->conv2d_f32 && v->upsample2x_f32 &&
                    v->geglu_f32 && v->transpose_f32);
    }
}

/* ---- linear -------------------------------------------------------------------- */

static void test_linear(ef_test *t) {
    static const int64_t shapes[][3] = {   /* M, N, K */
        {1, 1, 1}, {1, 3, 17}, {3, 17, 77}, {77, 129, 3}, {17, 5, 129}, {2, 7, 768}, {77, 32, 37}, {5, 1, 9},
        {100, 200, 600}, {13, 40, 300}, {1, 150, 257},   /* several depth blocks and column groups */
        {300, 40, 800}, {7, 4000, 800},   /* A packed whole, once; several column groups */
    };
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int variant = 0; variant < 5; variant++) {   /* plain, +bias, +bias+act, +act+residual+strides, +bias+residual */
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int64_t ldx = variant == 3 ? K + 3 : K, ldy = variant == 3 ? N + 2 : N;
            float *x = rnd((size_t)(M * ldx), 10 + s, 1.0f);
            float *w = rnd((size_t)(N * K), 20 + s, 0.5f);
            float *b = rnd((size_t)N, 30 + s, 1.0f);
            float *r = rnd((size_t)(M * ldy), 40 + s, 1.0f);
            float *y1 = calloc((size_t)(M * ldy), sizeof *y1), *y3 = calloc((size_t)(M * ldy), sizeof *y3);
            double *want = calloc((size_t)(M * N), sizeof *want);
            float *got = calloc((size_t)(M * N), sizeof *got);
            ef_act act = variant == 2 ? EF_ACT_QUICK_GELU : variant == 3 ? EF_ACT_GELU : EF_ACT_NONE;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double acc = 0;
                    for (int64_t k = 0; k < K; k++) acc += (double)x[m * ldx + k] * w[n * K + k];
                    if (variant >= 1) acc += b[n];
                    acc = act_d(act, acc);
                    if (variant >= 3) acc += r[m * ldy + n];
                    want[m * N + n] = acc;
                }
            for (int vi = 0; vi < ef_kernels_count(); vi++) {
                const ef_kernels *kv = ef_kernels_at(vi);
                ef_linear_args a = {x, w, variant >= 1 ? b : NULL, NULL, y1, M, N, K, ldx, ldy, act, EF_W_F32, NULL};
                if (variant >= 3) {   /* in-place residual: y starts as r */
                    memcpy(y1, r, (size_t)(M * ldy) * sizeof *y1);
                    memcpy(y3, r, (size_t)(M * ldy) * sizeof *y3);
                    a.r = y1;
                }
                ef_kernels_linear(kv, NULL, &a);
                a.y = y3;
                if (variant >= 3) a.r = y3;
                ef_kernels_linear(kv, p3, &a);
                for (int64_t m = 0; m < M; m++) memcpy(got + m * N, y1 + m * ldy, (size_t)N * sizeof *got);
                char label[96];
                snprintf(label, sizeof label, "%s linear M%lld N%lld K%lld v%d", kv->name, (long long)M, (long long)N,
                         (long long)K, variant);
                CHECK_REF(t, label, got, want, (size_t)(M * N), (double)K);
                CHECK_SAME(t, label, y1, y3, (size_t)(M * ldy));
            }
            free(x); free(w); free(b); free(r); free(y1); free(y3); free(want); free(got);
        }
    }
    ef_pool_free(p3);
}

/* A linear too big to pack its A whole (the GEMM's blocked path: several A blocks, B
** blocks and depth blocks), bias and in-place residual, checked against the double
** sum on a sample of rows and columns (all of it would take seconds). */
static void test_linear_blocked(ef_test *t) {
    const int64_t M = 1380, N = 700, K = 768, SR = 37, SC = 29;   /* every SR-th row, SC-th column */
    float *x = rnd((size_t)(M * K), 81, 1.0f), *w = rnd((size_t)(N * K), 82, 0.5f), *b = rnd((size_t)N, 83, 1.0f);
    float *r = rnd((size_t)(M * N), 84, 1.0f);
    float *y1 = malloc((size_t)(M * N) * sizeof *y1), *y3 = malloc((size_t)(M * N) * sizeof *y3);
    const int64_t nr = (M + SR - 1) / SR, nc = (N + SC - 1) / SC;
    double *want = malloc((size_t)(nr * nc) * sizeof *want);
    float *got = malloc((size_t)(nr * nc) * sizeof *got);
    for (int64_t i = 0; i < nr; i++)
        for (int64_t j = 0; j < nc; j++) {
            double acc = b[j * SC];
            for (int64_t k = 0; k < K; k++) acc += (double)x[i * SR * K + k] * w[j * SC * K + k];
            want[i * nc + j] = acc + r[i * SR * N + j * SC];
        }
    ef_pool *p3 = pool3(t);
    for (int vi = 0; vi < ef_kernels_count(); vi++) {
        const ef_kernels *kv = ef_kernels_at(vi);
        memcpy(y1, r, (size_t)(M * N) * sizeof *y1);
        memcpy(y3, r, (size_t)(M * N) * sizeof *y3);
        ef_linear_args a = {x, w, b, y1, y1, M, N, K, K, N, EF_ACT_NONE, EF_W_F32, NULL};
        ef_kernels_linear(kv, NULL, &a);
        a.r = a.y = y3;
        ef_kernels_linear(kv, p3, &a);
        for (int64_t i = 0; i < nr; i++)
            for (int64_t j = 0; j < nc; j++) got[i * nc + j] = y1[i * SR * N + j * SC];
        char label[64];
        snprintf(label, sizeof label, "%s linear blocked M%lld N%lld K%lld", kv->name, (long long)M, (long long)N,
                 (long long)K);
        CHECK_REF(t, label, got, want, (size_t)(nr * nc), (double)K);
        CHECK_SAME(t, label, y1, y3, (size_t)(M * N));
    }
    ef_pool_free(p3);
    free(x); free(w); free(b); free(r); free(y1); free(y3); free(want); free(got);
}

/* ---- norms ---------------------------------------------------------------------- */

static void test_layer_norm(ef_test *t) {
    /* D around the 8-lane width and past the avx2 kernel's 2048-float statistics blocks */
    static const int64_t shapes[][2] = {{1, 1}, {1, 3}, {3, 17}, {77, 32}, {5, 129}, {2, 768},
                                        {4, 7}, {3, 8}, {5, 9}, {2, 2048}, {3, 4099}, {1, 5000}};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t R = shapes[s][0], D = shapes[s][1];
        size_t n = (size_t)(R * D);
        float *x = rnd(n, 50 + s, 2.0f), *g = rnd((size_t)D, 60 + s, 1.0f), *be = rnd((size_t)D, 70 + s, 1.0f);
        for (size_t i = 0; i < n; i++) x[i] += s >= 9 ? 1000.0f : 3.0f;   /* a nonzero mean; large in the last ones */
        double *want = malloc(n * sizeof *want);
        for (int affine = 0; affine < 2; affine++) {
            for (int64_t r = 0; r < R; r++) {
                double mean = 0, var = 0;
                for (int64_t i = 0; i < D; i++) mean += x[r * D + i];
                mean /= (double)D;
                for (int64_t i = 0; i < D; i++) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
                var /= (double)D;
                for (int64_t i = 0; i < D; i++) {
                    double v = (x[r * D + i] - mean) / sqrt(var + 1e-5);
                    want[r * D + i] = affine ? v * g[i] + be[i] : v;
                }
            }
            for (int vi = 0; vi < ef_kernels_count(); vi++) {
                const ef_kernels *kv = ef_kernels_at(vi);
                float *y1 = malloc(n * sizeof *y1), *y3 = malloc(n * sizeof *y3);
                memcpy(y3, x, n * sizeof *y3);
                ef_layer_norm_args a = {x, y1, affine ? g : NULL, affine ? be : NULL, R, D, 1e-5f};
                ef_kernels_layer_norm(kv, NULL, &a);
                a.x = y3; a.y = y3;   /* in place */
                ef_kernels_layer_norm(kv, p3, &a);
                char label[64];
                snprintf(label, sizeof label, "%s layer_norm R%lld D%lld affine%d", kv->name, (long long)R, (long long)D, affine);
                CHECK_REF(t, label, y1, want, n, (double)D);
                CHECK_SAME(t, label, y1, y3, n);
                free(y1); free(y3);
            }
        }
        free(x); free(g); free(be); free(want);
    }
    ef_pool_free(p3);
}

static void test_group_norm(ef_test *t) {
    /* C, S, G, fused act, affine (0: gamma = beta = NULL). Channel rows around the 8-lane
    ** width, groups past the avx2 kernel's 2048-float statistics blocks, the UNet's
    ** GroupNorm(32) + SiLU, every activation. */
    static const int64_t shapes[][5] = {
        {1, 1, 1, EF_ACT_NONE, 1}, {3, 17, 3, EF_ACT_SILU, 1}, {6, 17, 3, EF_ACT_NONE, 1},
        {32, 77, 8, EF_ACT_SILU, 1}, {64, 129, 32, EF_ACT_NONE, 1}, {8, 1, 2, EF_ACT_SILU, 1},
        {4, 7, 2, EF_ACT_SILU, 1}, {4, 8, 4, EF_ACT_SILU, 0}, {6, 9, 3, EF_ACT_NONE, 0},
        {64, 4097, 32, EF_ACT_SILU, 1}, {320, 64, 32, EF_ACT_SILU, 1}, {4, 1100, 2, EF_ACT_NONE, 1},
        {1, 4099, 1, EF_ACT_SILU, 1}, {6, 17, 2, EF_ACT_GELU, 1}, {6, 17, 2, EF_ACT_QUICK_GELU, 1},
        {6, 17, 2, EF_ACT_GELU_TANH, 1}, {6, 17, 2, EF_ACT_RELU, 1},
    };
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t C = shapes[s][0], S = shapes[s][1], G = shapes[s][2], cg = C / G;
        int affine = shapes[s][4] != 0;
        size_t n = (size_t)(C * S);
        float *x = rnd(n, 80 + s, 1.5f), *g = rnd((size_t)C, 90 + s, 1.0f), *be = rnd((size_t)C, 100 + s, 1.0f);
        for (size_t i = 0; i < n; i++) x[i] -= S > 4096 ? 500.0f : 2.0f;   /* a nonzero mean; large in the longest */
        double *want = malloc(n * sizeof *want);
        ef_act act = (ef_act)shapes[s][3];
        for (int64_t gi = 0; gi < G; gi++) {
            const float *xg = x + gi * cg * S;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < cg * S; i++) mean += xg[i];
            mean /= (double)(cg * S);
            for (int64_t i = 0; i < cg * S; i++) var += (xg[i] - mean) * (xg[i] - mean);
            var /= (double)(cg * S);
            for (int64_t c = 0; c < cg; c++)
                for (int64_t j = 0; j < S; j++) {
                    int64_t ch = gi * cg + c;
                    double v = (xg[c * S + j] - mean) / sqrt(var + 1e-6);
                    if (affine) v = v * g[ch] + be[ch];
                    want[ch * S + j] = act_d(act, v);
                }
        }
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            float *y1 = malloc(n * sizeof *y1), *y3 = malloc(n * sizeof *y3);
            memcpy(y3, x, n * sizeof *y3);
            ef_group_norm_args a = {x, y1, affine ? g : NULL, affine ? be : NULL, C, S, G, 1e-6f, act};
            ef_kernels_group_norm(kv, NULL, &a);
            a.x = y3; a.y = y3;
            ef_kernels_group_norm(kv, p3, &a);
            char label[80];
            snprintf(label, sizeof label, "%s group_norm C%lld S%lld G%lld act%d affine%d", kv->name, (long long)C,
                     (long long)S, (long long)G, (int)act, affine);
            CHECK_REF(t, label, y1, want, n, (double)(cg * S));
            CHECK_SAME(t, label, y1, y3, n);
            free(y1); free(y3);
        }
        free(x); free(g); free(be); free(want);
    }
    ef_pool_free(p3);
}

/* ---- elementwise ------------------------------------------------------------------ */

static void test_act_add(ef_test *t) {
    /* lengths around the 8 and 16-lane steps; the last one sweeps [-25, 25] densely */
    static const int64_t sizes[] = {1, 3, 17, 129, 1000, 7, 8, 9, 15, 16, 4099};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = (size_t)sizes[s];
        float *x = rnd(n, 110 + s, 6.0f), *b = rnd(n, 120 + s, 1.0f);
        if (n > 4096)
            for (size_t i = 0; i < n; i++) x[i] = -25.0f + 50.0f * (float)i / (float)n;
        if (n >= 17) {   /* exp overflow and underflow in every activation */
            static const float big[] = {30.0f, -30.0f, 100.0f, -100.0f, 0.0f, 20.0f, -20.0f, 90.0f, -90.0f,
                                        -5.5f, 88.8f, -88.8f, 52.5f, -52.5f, 1e30f, -1e30f};
            memcpy(x, big, sizeof big);
        }
        double *want = malloc(n * sizeof *want);
        float *y1 = malloc(n * sizeof *y1), *y3 = malloc(n * sizeof *y3);
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            char label[64];
            for (int act = EF_ACT_NONE; act < EF_ACT_COUNT; act++) {
                for (size_t i = 0; i < n; i++) want[i] = act_d((ef_act)act, x[i]);
                ef_act_args a = {x, y1, (int64_t)n, (ef_act)act};
                ef_kernels_act(kv, NULL, &a);
                memcpy(y3, x, n * sizeof *y3);
                a.x = y3; a.y = y3;
                ef_kernels_act(kv, p3, &a);
                snprintf(label, sizeof label, "%s act%d n%zu", kv->name, act, n);
                CHECK_REF(t, label, y1, want, n, 1);
                CHECK_SAME(t, label, y1, y3, n);
                if (kv == ef_kernels_ref())   /* the ref kernel is ef_act_apply; others are held to the tolerance */
                    for (size_t i = 0; i < n; i++) EF_CHECK_NEAR(t, y1[i], ef_act_apply((ef_act)act, x[i]), 0);
            }
            for (size_t i = 0; i < n; i++) want[i] = (double)x[i] + b[i];
            ef_add_args ad = {x, b, y1, (int64_t)n};
            ef_kernels_add(kv, p3, &ad);
            snprintf(label, sizeof label, "%s add n%zu", kv->name, n);
            CHECK_REF(t, label, y1, want, n, 1);
            memcpy(y3, b, n * sizeof *y3);   /* in place over b, 1 thread */
            ef_add_args ai = {x, y3, y3, (int64_t)n};
            ef_kernels_add(kv, NULL, &ai);
            CHECK_SAME(t, label, y1, y3, n);
        }
        free(x); free(b); free(want); free(y1); free(y3);
    }
    /* +-inf, NaN, +-0, huge and tiny inputs: every variant gives what the scalar forms give
    ** (the same NaN, inf and 0; finite values within 1e-6 relative) */
    static const float sx[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 3e38f, -3e38f, 1e-30f, -1e-30f};
    const size_t ns = sizeof sx / sizeof sx[0];
    float sy[sizeof sx / sizeof sx[0]];
    for (int vi = 0; vi < ef_kernels_count(); vi++) {
        const ef_kernels *kv = ef_kernels_at(vi);
        for (int act = EF_ACT_NONE; act < EF_ACT_COUNT; act++) {
            ef_act_args a = {sx, sy, (int64_t)ns, (ef_act)act};
            ef_kernels_act(kv, NULL, &a);
            for (size_t i = 0; i < ns; i++) {
                float w = ef_act_apply((ef_act)act, sx[i]);
                int same = isnan(w) ? isnan(sy[i]) != 0 : isinf(w) || w == 0.0f ? sy[i] == w
                                                                                  : fabsf(sy[i] - w) <= 1e-6f * fabsf(w);
                EF_CHECK_MSG(t, same,
                             "%s act%d at %g: %g, scalar %g", kv->name, act, sx[i], sy[i], w);
            }
        }
    }
    ef_pool_free(p3);
}

static void test_softmax(ef_test *t) {
    /* the shapes from the 6th on have -inf entries (masked logits), never a whole row */
    static const int64_t shapes[][2] = {{1, 1}, {3, 17}, {77, 77}, {5, 129}, {1, 1000},
                                        {2, 7}, {3, 8}, {3, 9}, {4, 16}, {9, 33}, {2, 4099}};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t R = shapes[s][0], N = shapes[s][1];
        size_t n = (size_t)(R * N);
        float *x = rnd(n, 130 + s, 20.0f);   /* large logits: the max shift matters */
        if (s >= 5)
            for (int64_t r = 0; r < R; r++)
                for (int64_t j = 1; j < N; j++)
                    if ((j + r) % 3 == 1) x[r * N + j] = -INFINITY;
        double *want = malloc(n * sizeof *want);
        for (int64_t r = 0; r < R; r++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < N; j++) mx = fmax(mx, x[r * N + j]);
            for (int64_t j = 0; j < N; j++) sum += exp(x[r * N + j] - mx);
            for (int64_t j = 0; j < N; j++) want[r * N + j] = exp(x[r * N + j] - mx) / sum;
        }
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            float *y1 = malloc(n * sizeof *y1), *y3 = malloc(n * sizeof *y3);
            memcpy(y3, x, n * sizeof *y3);
            ef_softmax_args a = {x, y1, R, N};
            ef_kernels_softmax(kv, NULL, &a);
            a.x = y3; a.y = y3;
            ef_kernels_softmax(kv, p3, &a);
            char label[64];
            snprintf(label, sizeof label, "%s softmax R%lld N%lld", kv->name, (long long)R, (long long)N);
            CHECK_REF(t, label, y1, want, n, (double)N);
            CHECK_SAME(t, label, y1, y3, n);
            free(y1); free(y3);
        }
        free(x); free(want);
    }
    /* a row of all -inf gives NaN (torch, and the reference); the next row is unharmed */
    float xs[2 * 11], ys[2 * 11];
    for (int j = 0; j < 11; j++) { xs[j] = -INFINITY; xs[11 + j] = (float)j; }
    for (int vi = 0; vi < ef_kernels_count(); vi++) {
        const ef_kernels *kv = ef_kernels_at(vi);
        ef_softmax_args a = {xs, ys, 2, 11};
        ef_kernels_softmax(kv, p3, &a);
        int nan_row = 1, finite_row = 1;
        for (int j = 0; j < 11; j++) {
            nan_row &= isnan(ys[j]) != 0;
            finite_row &= ys[11 + j] > 0.0f && ys[11 + j] < 1.0f;
        }
        EF_CHECK_MSG(t, nan_row && finite_row, "%s softmax all -inf row: %g ..., next row %g ...", kv->name, ys[0], ys[11]);
    }
    ef_pool_free(p3);
}

/* ---- attention ------------------------------------------------------------------- */

/* Naive double attention over (T, H*Dh) rows with strides; no tiling. */
static void attention_naive(const ef_attention_args *a, double *out /* (Tq, H*Dh) */) {
    int64_t HD = a->H * a->Dh;
    double *s = malloc((size_t)a->Tk * sizeof *s);
    for (int64_t h = 0; h < a->H; h++)
        for (int64_t i = 0; i < a->Tq; i++) {
            int64_t nk = a->causal ? (i + 1 < a->Tk ? i + 1 : a->Tk) : a->Tk;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < nk; j++) {
                double d = 0;
                for (int64_t e = 0; e < a->Dh; e++)
                    d += (double)a->q[i * a->ldq + h * a->Dh + e] * a->k[j * a->ldk + h * a->Dh + e];
                s[j] = d * a->scale;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j < nk; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
            for (int64_t e = 0; e < a->Dh; e++) {
                double o = 0;
                for (int64_t j = 0; j < nk; j++) o += s[j] * a->v[j * a->ldv + h * a->Dh + e];
                out[i * HD + h * a->Dh + e] = o / sum;
            }
        }
    free(s);
}

static void test_attention(ef_test *t) {
    static const struct { int64_t Tq, Tk, H, Dh; int causal, fused; float qscale; } cases[] = {
        {1, 1, 1, 1, 0, 0, 1}, {1, 1, 1, 1, 1, 0, 1}, {3, 3, 2, 5, 1, 1, 1}, {17, 17, 3, 8, 1, 0, 1},
        {77, 77, 4, 8, 1, 1, 1}, {77, 77, 12, 64, 1, 1, 1}, {129, 129, 2, 17, 0, 0, 1},
        {5, 200, 3, 7, 0, 0, 1}, {300, 300, 2, 8, 1, 1, 8}, {40, 150, 1, 40, 0, 0, 4}, {150, 40, 2, 3, 1, 0, 1},
        /* the avx2 kernel's paths: 4-row groups with a short last one, 24-key panels and
        ** key tiles (168 keys at Dh 40, 96 at 64, 72 at 80, 24 from 160) with tails, causal
        ** diagonals inside groups and tiles, 3/2/1-vector column chunks and Dh % 8 tails,
        ** V packed or read in place (Dh 512 and up), several query blocks per head, Dh over
        ** 597 (the reference fallback) */
        {300, 300, 2, 40, 0, 0, 1}, {300, 300, 2, 40, 1, 1, 1}, {77, 77, 12, 64, 0, 1, 1}, {130, 77, 2, 40, 0, 0, 1},
        {97, 97, 2, 80, 1, 0, 2}, {33, 70, 3, 160, 0, 0, 1}, {50, 50, 1, 512, 0, 1, 1}, {26, 49, 1, 512, 1, 0, 1},
        {600, 530, 1, 16, 1, 0, 1}, {520, 600, 1, 24, 0, 0, 1}, {9, 30, 2, 13, 1, 0, 1}, {2, 1, 1, 9, 1, 0, 1},
        {64, 100, 2, 44, 1, 0, 1}, {1, 97, 1, 40, 0, 0, 1}, {25, 25, 1, 520, 1, 0, 1}, {9, 40, 1, 513, 1, 0, 1},
        {20, 30, 1, 600, 1, 0, 1}, {200, 400, 1, 64, 1, 0, 1},
    };
    ef_pool *p3 = pool3(t);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t Tq = cases[c].Tq, Tk = cases[c].Tk, H = cases[c].H, Dh = cases[c].Dh, HD = H * Dh;
        int fused = cases[c].fused && Tq == Tk;
        /* fused: one (T, 3*HD) buffer, q/k/v are column slices; else three buffers with padding */
        int64_t ld = fused ? 3 * HD : HD + 1;
        float *q = rnd((size_t)(Tq * ld), 140 + c, cases[c].qscale);
        float *kbuf = fused ? NULL : rnd((size_t)(Tk * ld), 150 + c, 1.0f);
        float *vbuf = fused ? NULL : rnd((size_t)(Tk * ld), 160 + c, 1.0f);
        if (fused) for (int64_t i = 0; i < Tq * ld; i++) if ((i % ld) < HD) q[i] *= cases[c].qscale;
        ef_attention_args a = {
            q, fused ? q + HD : kbuf, fused ? q + 2 * HD : vbuf, NULL,
            Tq, Tk, H, Dh, ld, ld, ld, HD, (float)(1.0 / sqrt((double)Dh)), cases[c].causal,
        };
        size_t n = (size_t)(Tq * HD);
        double *want = malloc(n * sizeof *want);
        attention_naive(&a, want);
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            float *o1 = malloc(n * sizeof *o1), *o3 = malloc(n * sizeof *o3);
            a.out = o1;
            ef_kernels_attention(kv, NULL, &a);
            a.out = o3;
            ef_kernels_attention(kv, p3, &a);
            char label[96];
            snprintf(label, sizeof label, "%s attention Tq%lld Tk%lld H%lld Dh%lld causal%d", kv->name, (long long)Tq,
                     (long long)Tk, (long long)H, (long long)Dh, cases[c].causal);
            CHECK_REF(t, label, o1, want, n, (double)(Dh > Tk ? Dh : Tk));
            CHECK_SAME(t, label, o1, o3, n);
            free(o1); free(o3);
        }
        free(q); free(kbuf); free(vbuf); free(want);
    }
    ef_pool_free(p3);
}

/* ---- conv2d and upsample -------------------------------------------------------- */

/* Naive double conv2d: y (Cout, Ho, Wo). */
static void conv2d_naive(const ef_conv2d_args *a, double *y) {
    for (int64_t co = 0; co < a->Cout; co++)
        for (int64_t oy = 0; oy < a->Ho; oy++)
            for (int64_t ox = 0; ox < a->Wo; ox++) {
                double acc = a->b ? a->b[co] : 0.0;
                for (int64_t ci = 0; ci < a->Cin; ci++)
                    for (int64_t ky = 0; ky < a->KH; ky++)
                        for (int64_t kx = 0; kx < a->KW; kx++) {
                            int64_t iy = oy * a->stride + ky - a->pad, ix = ox * a->stride + kx - a->pad;
                            if (iy < 0 || iy >= a->H || ix < 0 || ix >= a->W) continue;
                            acc += (double)((const float *)a->w)[((co * a->Cin + ci) * a->KH + ky) * a->KW + kx] *
                                   a->x[(ci * a->H + iy) * a->W + ix];
                        }
                size_t o = (size_t)((co * a->Ho + oy) * a->Wo + ox);
                y[o] = act_d(a->act, acc) + (a->r ? a->r[o] : 0.0);
            }
}

static void test_conv2d(ef_test *t) {
    /* Cin, H, W, Cout, K, stride, pad, act, residual */
    static const int64_t shapes[][9] = {
        {1, 1, 1, 1, 1, 1, 0, EF_ACT_NONE, 0},
        {3, 5, 7, 4, 3, 1, 1, EF_ACT_NONE, 1},
        {4, 8, 8, 5, 3, 2, 1, EF_ACT_SILU, 0},
        {5, 9, 7, 3, 3, 2, 1, EF_ACT_RELU, 1},
        {17, 6, 5, 9, 1, 1, 0, EF_ACT_NONE, 1},
        {2, 4, 4, 3, 3, 1, 0, EF_ACT_NONE, 0},
        {6, 3, 3, 7, 3, 1, 1, EF_ACT_NONE, 0},
        {40, 9, 20, 13, 3, 1, 1, EF_ACT_NONE, 1},    /* depth 360 > one block; panels cross rows */
        {300, 4, 4, 7, 1, 1, 0, EF_ACT_NONE, 1},     /* 1x1, depth 300 */
        {33, 10, 10, 6, 3, 2, 1, EF_ACT_SILU, 1},    /* stride 2, act + residual, depth 297 */
        {64, 20, 40, 24, 3, 1, 1, EF_ACT_NONE, 0},   /* several column groups */
        {8, 33, 40, 3, 3, 1, 1, EF_ACT_NONE, 0},     /* fewer outputs than one row tile */
        {5, 6, 77, 2, 3, 1, 1, EF_ACT_SILU, 1},      /* few outputs, a row of 77: partial vectors */
        /* Winograd F(4x4, 3x3) (3x3, stride 1, pad 1, >= 16 tiles): partial tiles, panels
        ** across tile rows, depth blocks, channel blocks past 48, tile or channel split */
        {19, 13, 30, 17, 3, 1, 1, EF_ACT_SILU, 1},
        {300, 17, 13, 14, 3, 1, 1, EF_ACT_NONE, 1},
        {12, 16, 16, 100, 3, 1, 1, EF_ACT_RELU, 0},
        {8, 70, 9, 8, 3, 1, 1, EF_ACT_NONE, 1},
        {9, 12, 100, 10, 3, 1, 1, EF_ACT_NONE, 1},   /* 25 tiles a row: runs that start mid-row, interior rows */
    };
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t *sh = shapes[s];
        ef_conv2d_args a = {0};
        a.Cin = sh[0]; a.H = sh[1]; a.W = sh[2]; a.Cout = sh[3]; a.KH = a.KW = sh[4];
        a.stride = sh[5]; a.pad = sh[6]; a.act = (ef_act)sh[7];
        a.Ho = (a.H + 2 * a.pad - a.KH) / a.stride + 1;
        a.Wo = (a.W + 2 * a.pad - a.KW) / a.stride + 1;
        size_t nx = (size_t)(a.Cin * a.H * a.W), nw = (size_t)(a.Cout * a.Cin * a.KH * a.KW);
        size_t ny = (size_t)(a.Cout * a.Ho * a.Wo);
        float *x = rnd(nx, 200 + s, 1.0f), *w = rnd(nw, 210 + s, 0.5f), *b = rnd((size_t)a.Cout, 220 + s, 1.0f);
        float *r = sh[8] ? rnd(ny, 230 + s, 1.0f) : NULL;
        float *y1 = malloc(ny * sizeof *y1), *y3 = malloc(ny * sizeof *y3);
        double *want = malloc(ny * sizeof *want);
        a.x = x; a.w = w; a.b = (s % 2) ? b : NULL; a.r = r;
        conv2d_naive(&a, want);
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            char label[96];
            snprintf(label, sizeof label, "%s conv2d %lldx%lldx%lld->%lld k%lld s%lld", kv->name, (long long)a.Cin,
                     (long long)a.H, (long long)a.W, (long long)a.Cout, (long long)a.KH, (long long)a.stride);
            a.y = y1;
            ef_kernels_conv2d(kv, NULL, &a);
            CHECK_REF(t, label, y1, want, ny, (double)(a.Cin * a.KH * a.KW));
            a.y = y3;
            ef_kernels_conv2d(kv, p3, &a);
            CHECK_SAME(t, label, y1, y3, ny);
            if (r) {   /* in-place residual: r == y (may sum in another order: compare with the reference) */
                memcpy(y3, r, ny * sizeof *y3);
                a.r = y3;
                ef_kernels_conv2d(kv, p3, &a);
                CHECK_REF(t, label, y3, want, ny, (double)(a.Cin * a.KH * a.KW));
                a.r = r;
            }
        }
        free(x); free(w); free(b); free(r); free(y1); free(y3); free(want);
    }
    ef_pool_free(p3);
}

static void test_upsample2x(ef_test *t) {
    /* C, H, W: rows around the 8-lane step */
    static const int64_t shapes[][3] = {{3, 5, 7}, {1, 1, 1}, {2, 3, 8}, {4, 2, 9}, {3, 3, 17}, {5, 4, 32}, {2, 1, 33}};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t C = shapes[s][0], H = shapes[s][1], W = shapes[s][2];
        float *x = rnd((size_t)(C * H * W), 300 + s, 1.0f);
        float *y = malloc((size_t)(C * 4 * H * W) * sizeof *y);
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            for (int threads = 1; threads <= 3; threads += 2) {
                memset(y, 0, (size_t)(C * 4 * H * W) * sizeof *y);
                ef_upsample2x_args a = {x, y, C, H, W};
                ef_kernels_upsample2x(ef_kernels_at(vi), threads == 3 ? p3 : NULL, &a);
                int bad = 0;
                for (int64_t c = 0; c < C; c++)
                    for (int64_t i = 0; i < 2 * H; i++)
                        for (int64_t j = 0; j < 2 * W; j++)
                            bad += y[(c * 2 * H + i) * 2 * W + j] != x[(c * H + i / 2) * W + j / 2];
                EF_CHECK_MSG(t, bad == 0, "%s upsample2x C%lld H%lld W%lld, %d threads: %d wrong",
                             ef_kernels_at(vi)->name, (long long)C, (long long)H, (long long)W, threads, bad);
            }
        }
        free(x);
        free(y);
    }
    ef_pool_free(p3);
}

/* ---- geglu, transpose (UNet) ---------------------------------------------------- */

static void test_geglu(ef_test *t) {
    static const int64_t shapes[][2] = {{1, 1}, {3, 17}, {77, 40}, {129, 5}, {16, 1280},   /* R, F */
                                        {2, 7}, {3, 8}, {3, 9}, {2, 4099}};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t R = shapes[s][0], F = shapes[s][1], ldx = 2 * F + 3, ldy = F + 1;
        float *x = rnd((size_t)(R * ldx), 500 + s, 4.0f);
        if (F >= 17) {   /* gate extremes: exp overflow/underflow, GELU's far negative tail */
            static const float gx[] = {30.0f, -30.0f, 0.0f, 20.0f, -20.0f, 90.0f, -90.0f, -5.5f, -3.7f, 1e30f, -1e30f};
            memcpy(x + F, gx, sizeof gx);
        }
        double *want = malloc((size_t)(R * F) * sizeof *want);
        float *y1 = malloc((size_t)(R * F) * sizeof *y1), *y3 = malloc((size_t)(R * ldy) * sizeof *y3);
        float *xi = malloc((size_t)(R * ldx) * sizeof *xi), *got = malloc((size_t)(R * F) * sizeof *got);
        for (int64_t r = 0; r < R; r++)
            for (int64_t j = 0; j < F; j++)
                want[r * F + j] = (double)x[r * ldx + j] * act_d(EF_ACT_GELU, x[r * ldx + F + j]);
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            char label[64];
            snprintf(label, sizeof label, "%s geglu R%lld F%lld", kv->name, (long long)R, (long long)F);
            ef_geglu_args a = {x, y1, R, F, ldx, F};   /* strided in, contiguous out, 1 thread */
            ef_kernels_geglu(kv, NULL, &a);
            CHECK_REF(t, label, y1, want, (size_t)(R * F), 1);
            ef_geglu_args b = {x, y3, R, F, ldx, ldy};   /* strided out, 3 threads */
            ef_kernels_geglu(kv, p3, &b);
            for (int64_t r = 0; r < R; r++) memcpy(got + r * F, y3 + r * ldy, (size_t)F * sizeof *got);
            CHECK_SAME(t, label, y1, got, (size_t)(R * F));
            memcpy(xi, x, (size_t)(R * ldx) * sizeof *xi);   /* in place over the value half */
            ef_geglu_args c = {xi, xi, R, F, ldx, ldx};
            ef_kernels_geglu(kv, p3, &c);
            for (int64_t r = 0; r < R; r++) memcpy(got + r * F, xi + r * ldx, (size_t)F * sizeof *got);
            CHECK_SAME(t, label, y1, got, (size_t)(R * F));
        }
        free(x); free(want); free(y1); free(y3); free(xi); free(got);
    }
    ef_pool_free(p3);
}

static void test_transpose(ef_test *t) {
    /* M, N: 8x8 blocks with row and column leftovers, several 64x64 tiles, tall and wide */
    static const int64_t shapes[][2] = {{1, 1}, {1, 7}, {7, 1}, {3, 17}, {33, 65}, {320, 64}, {77, 40},
                                        {8, 8}, {9, 17}, {16, 9}, {64, 64}, {129, 70}, {4099, 9}, {10, 300}};
    ef_pool *p3 = pool3(t);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1];
        const size_t n = (size_t)(M * N);
        float *x = rnd(n, 600 + s, 1.0f), *r = rnd(n, 700 + s, 1.0f);
        float *y1 = malloc(n * sizeof *y1), *y3 = malloc(n * sizeof *y3);
        double *want = malloc(n * sizeof *want), *want_r = malloc(n * sizeof *want_r);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                want[j * M + i] = x[i * N + j];
                want_r[j * M + i] = (double)x[i * N + j] + r[j * M + i];
            }
        for (int vi = 0; vi < ef_kernels_count(); vi++) {
            const ef_kernels *kv = ef_kernels_at(vi);
            char label[64];
            snprintf(label, sizeof label, "%s transpose %lldx%lld", kv->name, (long long)M, (long long)N);
            ef_transpose_args a = {x, NULL, y1, M, N};
            ef_kernels_transpose(kv, NULL, &a);
            CHECK_REF(t, label, y1, want, n, 1);
            int exact = 1;
            for (size_t i = 0; i < n; i++) exact &= y1[i] == (float)want[i];
            EF_CHECK_MSG(t, exact, "%s: not an exact permutation", label);
            a.y = y3;
            ef_kernels_transpose(kv, p3, &a);
            CHECK_SAME(t, label, y1, y3, n);
            /* residual, in place on r (r == y), 1 vs 3 threads */
            memcpy(y1, r, n * sizeof *y1);
            memcpy(y3, r, n * sizeof *y3);
            ef_transpose_args b = {x, y1, y1, M, N};
            ef_kernels_transpose(kv, NULL, &b);
            CHECK_REF(t, label, y1, want_r, n, 1);
            b.r = y3; b.y = y3;
            ef_kernels_transpose(kv, p3, &b);
            CHECK_SAME(t, label, y1, y3, n);
        }
        free(x); free(r); free(y1); free(y3); free(want); free(want_r);
    }
    ef_pool_free(p3);
}

/* ---- narrow weights ---------------------------------------------------------------
** f16 / bf16 / q8 matrices (wmat.h): the storage round trip, then linear and conv2d of
** every variant against the naive double product with the dequantized weights. */

static void test_narrow_weights(ef_test *t) {
    ef_pool *p3 = pool3(t);
    for (int wt = EF_W_F16; wt < EF_W_COUNT; wt++) {
        /* storage: rows of 1, 7 and 300 values; q8 within half a step of each value */
        const int64_t R = 5, C = 300;
        float *src = rnd((size_t)(R * C), 900 + wt, 3.0f), *deq = malloc((size_t)(R * C) * sizeof *deq);
        for (int64_t k = 0; k < C; k++) src[2 * C + k] = 0.0f;   /* an all-zero row: scale 0 */
        void *blob = malloc(ef_wmat_bytes((ef_wtype)wt, R, C));
        ef_wmat_from_f32(blob, (ef_wtype)wt, src, R, C);
        double worst = 0;
        for (int64_t r = 0; r < R; r++) {
            ef_wmat_row_f32(blob, (ef_wtype)wt, R, C, r, 0, C, deq + r * C);
            float amax = 0;
            for (int64_t k = 0; k < C; k++) amax = fmaxf(amax, fabsf(src[r * C + k]));
            for (int64_t k = 0; k < C; k++) {
                double e = fabs((double)deq[r * C + k] - src[r * C + k]);
                double bound = wt == EF_W_Q8 ? amax / 127.0 * 0.5 * (1 + 1e-6) : fabs(src[r * C + k]) * (wt == EF_W_F16 ? 1.0 / 2048 : 1.0 / 256);
                if (e > bound + 1e-30 && e - bound > worst) worst = e - bound;
            }
        }
        EF_CHECK_MSG(t, worst == 0, "%s: round trip exceeds its bound by %g", ef_wtype_name((ef_wtype)wt), worst);
        EF_CHECK(t, ef_wmat_bytes((ef_wtype)wt, INT64_MAX / 2, 4) == 0);
        free(src); free(deq); free(blob);

        /* linear: M, N, K with several depth blocks, column groups and tails */
        static const int64_t lin[][3] = {{7, 37, 300}, {77, 130, 64}, {1, 20, 600}};
        for (size_t s = 0; s < sizeof lin / sizeof lin[0]; s++) {
            const int64_t M = lin[s][0], N = lin[s][1], K = lin[s][2];
            float *x = rnd((size_t)(M * K), 910 + s, 1.0f), *w = rnd((size_t)(N * K), 920 + s, 0.5f);
            float *b = rnd((size_t)N, 930 + s, 1.0f), *y1 = malloc((size_t)(M * N) * sizeof *y1);
            float *y3 = malloc((size_t)(M * N) * sizeof *y3), *wd = malloc((size_t)(N * K) * sizeof *wd);
            double *want = malloc((size_t)(M * N) * sizeof *want);
            void *wq = malloc(ef_wmat_bytes((ef_wtype)wt, N, K));
            ef_wmat_from_f32(wq, (ef_wtype)wt, w, N, K);
            for (int64_t n = 0; n < N; n++) ef_wmat_row_f32(wq, (ef_wtype)wt, N, K, n, 0, K, wd + n * K);
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double acc = b[n];
                    for (int64_t k = 0; k < K; k++) acc += (double)x[m * K + k] * wd[n * K + k];
                    want[m * N + n] = acc;
                }
            for (int vi = 0; vi < ef_kernels_count(); vi++) {
                const ef_kernels *kv = ef_kernels_at(vi);
                ef_linear_args a = {x, wq, b, NULL, y1, M, N, K, K, N, EF_ACT_NONE, (ef_wtype)wt, NULL};
                ef_kernels_linear(kv, NULL, &a);
                a.y = y3;
                ef_kernels_linear(kv, p3, &a);
                char label[96];
                snprintf(label, sizeof label, "%s linear %s M%lld N%lld K%lld", kv->name, ef_wtype_name((ef_wtype)wt),
                         (long long)M, (long long)N, (long long)K);
                CHECK_REF(t, label, y1, want, (size_t)(M * N), (double)K);
                CHECK_SAME(t, label, y1, y3, (size_t)(M * N));
            }
            free(x); free(w); free(b); free(y1); free(y3); free(wd); free(want); free(wq);
        }

        /* conv2d 3x3 and 1x1: Cin, H, W, Cout, k, stride */
        static const int64_t cv[][6] = {{40, 9, 20, 13, 3, 1}, {33, 10, 10, 8, 3, 2}, {300, 4, 4, 7, 1, 1}, {16, 9, 30, 3, 3, 1}};
        for (size_t s = 0; s < sizeof cv / sizeof cv[0]; s++) {
            ef_conv2d_args a = {0};
            a.Cin = cv[s][0]; a.H = cv[s][1]; a.W = cv[s][2]; a.Cout = cv[s][3]; a.KH = a.KW = cv[s][4];
            a.stride = cv[s][5]; a.pad = a.KH / 2; a.wt = (ef_wtype)wt;
            a.Ho = (a.H + 2 * a.pad - a.KH) / a.stride + 1;
            a.Wo = (a.W + 2 * a.pad - a.KW) / a.stride + 1;
            const int64_t Kc = a.Cin * a.KH * a.KW;
            size_t ny = (size_t)(a.Cout * a.Ho * a.Wo);
            float *x = rnd((size_t)(a.Cin * a.H * a.W), 940 + s, 1.0f), *w = rnd((size_t)(a.Cout * Kc), 950 + s, 0.5f);
            float *b = rnd((size_t)a.Cout, 960 + s, 1.0f), *wd = malloc((size_t)(a.Cout * Kc) * sizeof *wd);
            float *y1 = malloc(ny * sizeof *y1), *y3 = malloc(ny * sizeof *y3);
            double *want = malloc(ny * sizeof *want);
            void *wq = malloc(ef_wmat_bytes((ef_wtype)wt, a.Cout, Kc));
            ef_wmat_from_f32(wq, (ef_wtype)wt, w, a.Cout, Kc);
            for (int64_t r = 0; r < a.Cout; r++) ef_wmat_row_f32(wq, (ef_wtype)wt, a.Cout, Kc, r, 0, Kc, wd + r * Kc);
            a.x = x; a.b = b; a.w = wd; a.wt = EF_W_F32;
            conv2d_naive(&a, want);   /* with the dequantized weights */
            a.w = wq; a.wt = (ef_wtype)wt;
            for (int vi = 0; vi < ef_kernels_count(); vi++) {
                const ef_kernels *kv = ef_kernels_at(vi);
                char label[96];
                snprintf(label, sizeof label, "%s conv2d %s %lldx%lldx%lld->%lld k%lld", kv->name,
                         ef_wtype_name((ef_wtype)wt), (long long)a.Cin, (long long)a.H, (long long)a.W,
                         (long long)a.Cout, (long long)a.KH);
                a.y = y1;
                ef_kernels_conv2d(kv, NULL, &a);
                CHECK_REF(t, label, y1, want, ny, (double)Kc);
                a.y = y3;
                ef_kernels_conv2d(kv, p3, &a);
                CHECK_SAME(t, label, y1, y3, ny);
            }
            free(x); free(w); free(b); free(wd); free(y1); free(y3); free(want); free(wq);
        }
    }
    ef_pool_free(p3);
}

const ef_test_case ef_suite_kernels[] = {
    {"select", test_select},
    {"linear", test_linear},
    {"linear_blocked", test_linear_blocked},
    {"layer_norm", test_layer_norm},
    {"group_norm", test_group_norm},
    {"act_add", test_act_add},
    {"softmax", test_softmax},
    {"attention", test_attention},
    {"conv2d", test_conv2d},
    {"upsample2x", test_upsample2x},
    {"geglu", test_geglu},
    {"transpose", test_transpose},
    {"narrow_weights", test_narrow_weights},
    {0, 0},
};
