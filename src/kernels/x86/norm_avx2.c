/*
** norm_avx2.c -- AVX2+FMA layer norm (rows of (R, D)) and group norm (channel-major
** (C, S), with the UNet's fused activation, SiLU above all).
**
** Same contracts as ref/norm_ref.c. Statistics take one pass over memory: the values are
** cut into blocks of NORM_BLOCK floats; a block (in L1 after its first read) gives its
** mean (float sums of x - x[0]) and its sum of squared deviations from that mean (a
** two-pass variance, so no E[x^2] - mean^2 cancellation), and the blocks are merged in
** double with Chan's pairwise update. A second pass normalizes, applies the affine and the activation and writes y.
** One thread owns a whole row or group, and the block order is fixed, so results do not
** depend on the thread count. They differ from the reference's double sums by rounding
** only (the tests hold them to the usual tolerance).
*/
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/x86/vmath_avx2.h"

enum { NORM_BLOCK = 2048 };   /* floats: 8 KB, re-read from L1 by the block's second pass */

/* Mean *bm and sum of squared deviations *bq of x (n), 1 <= n <= NORM_BLOCK. The sums run
** in float lanes over x - x[0] (so a large common offset costs no digits), the first
** about x[0], the second about the block mean. */
static void block_stats(const float *x, int64_t n, double *bm, double *bq) {
    const __m256 pivot = _mm256_set1_ps(x[0]);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_sub_ps(_mm256_loadu_ps(x + i), pivot));
        s1 = _mm256_add_ps(s1, _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), pivot));
        s2 = _mm256_add_ps(s2, _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), pivot));
        s3 = _mm256_add_ps(s3, _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), pivot));
    }
    for (; i < n; i += 8) {
        __m256i m = ef_v8_head_mask(n - i < 8 ? (int)(n - i) : 8);
        s0 = _mm256_add_ps(s0, _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), pivot), _mm256_castsi256_ps(m)));
    }
    const double mean = (double)x[0] + (double)ef_v8_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) / (double)n;
    const __m256 vm = _mm256_set1_ps((float)mean);
    s0 = s1 = s2 = s3 = _mm256_setzero_ps();
    for (i = 0; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm);
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 16), vm), d3 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 24), vm);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i < n; i += 8) {
        __m256i m = ef_v8_head_mask(n - i < 8 ? (int)(n - i) : 8);
        __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm), _mm256_castsi256_ps(m));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    *bm = mean;
    *bq = (double)ef_v8_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* Mean and 1/sqrt(biased var + eps) of x (n), n >= 1: blocks merged in double (Chan,
** Golub, LeVeque: mean += d nb / n', M2 += M2_b + d^2 n nb / n', d = mean_b - mean). The
** second sum of a block runs about its mean rounded to float, which adds
** nb (mean_b - float(mean_b))^2 to its M2: negligible. */
static void norm_stats(const float *x, int64_t n, float eps, float *mean_out, float *rstd_out) {
    double cnt = 0.0, mean = 0.0, m2 = 0.0;
    for (int64_t b = 0; b < n; b += NORM_BLOCK) {
        int64_t nb = n - b < NORM_BLOCK ? n - b : NORM_BLOCK;
        double bm, bq;
        block_stats(x + b, nb, &bm, &bq);
        double nn = cnt + (double)nb, d = bm - mean;
        mean += d * (double)nb / nn;
        m2 += bq + d * d * cnt * (double)nb / nn;
        cnt = nn;
    }
    *mean_out = (float)mean;
    *rstd_out = (float)(1.0 / sqrt(m2 / (double)n + (double)eps));
}

/* ---- layer norm ------------------------------------------------------------------- */

/* y (D) = (x (D) - mean) * rstd * gamma + beta, one row; has_g / has_b constant (see
** ln_row), so each case gets its own loop. NULL gamma / beta act as 1 / 0. */
static inline __attribute__((always_inline)) void ln_row_affine(int has_g, int has_b, const float *x, float *y,
                                                                int64_t D, __m256 mean, __m256 rstd,
                                                                const float *gamma, const float *beta) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= D; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean), rstd);
        v = _mm256_fmadd_ps(v, has_g ? _mm256_loadu_ps(gamma + i) : one, has_b ? _mm256_loadu_ps(beta + i) : zero);
        _mm256_storeu_ps(y + i, v);
    }
    if (i < D) {
        __m256i m = ef_v8_head_mask((int)(D - i));
        __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), rstd);
        v = _mm256_fmadd_ps(v, has_g ? _mm256_maskload_ps(gamma + i, m) : one, has_b ? _mm256_maskload_ps(beta + i, m) : zero);
        _mm256_maskstore_ps(y + i, m, v);
    }
}

static void ln_row(const float *x, float *y, int64_t D, __m256 mean, __m256 rstd, const float *gamma,
                   const float *beta) {
    if (gamma && beta) ln_row_affine(1, 1, x, y, D, mean, rstd, gamma, beta);
    else if (gamma)    ln_row_affine(1, 0, x, y, D, mean, rstd, gamma, beta);
    else if (beta)     ln_row_affine(0, 1, x, y, D, mean, rstd, gamma, beta);
    else               ln_row_affine(0, 0, x, y, D, mean, rstd, gamma, beta);
}

/* Thread ith's rows of y (R, D) = (x - mean) * rstd * gamma + beta; y may equal x (the
** statistics read the whole row before the first store). */
void ef_k_layer_norm_f32__avx2(const ef_layer_norm_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t D = a->D;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * D;   /* (D) */
        float mean, rstd;
        norm_stats(x, D, a->eps, &mean, &rstd);
        ln_row(x, a->y + r * D, D, _mm256_set1_ps(mean), _mm256_set1_ps(rstd), a->gamma, a->beta);
    }
}

/* ---- group norm ------------------------------------------------------------------- */

/* y (n) = act((x (n) - mean) * scale + shift), one channel row; act constant (see
** gn_row). y may equal x. */
static inline __attribute__((always_inline)) void gn_row_act(ef_act act, const float *x, float *y, int64_t n,
                                                             __m256 mean, __m256 scale, __m256 shift) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mean), scale, shift);
        __m256 v1 = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mean), scale, shift);
        _mm256_storeu_ps(y + i, ef_v8_act(act, v0));
        _mm256_storeu_ps(y + i + 8, ef_v8_act(act, v1));
    }
    for (; i < n; i += 8) {
        __m256i m = ef_v8_head_mask(n - i < 8 ? (int)(n - i) : 8);
        __m256 v = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), scale, shift);
        _mm256_maskstore_ps(y + i, m, ef_v8_act(act, v));
    }
}

/* One loop per activation, the act inlined in each. */
static void gn_row(ef_act act, const float *x, float *y, int64_t n, __m256 mean, __m256 scale, __m256 shift) {
    switch (act) {
    case EF_ACT_QUICK_GELU: gn_row_act(EF_ACT_QUICK_GELU, x, y, n, mean, scale, shift); break;
    case EF_ACT_GELU:       gn_row_act(EF_ACT_GELU, x, y, n, mean, scale, shift); break;
    case EF_ACT_GELU_TANH:  gn_row_act(EF_ACT_GELU_TANH, x, y, n, mean, scale, shift); break;
    case EF_ACT_SILU:       gn_row_act(EF_ACT_SILU, x, y, n, mean, scale, shift); break;
    case EF_ACT_RELU:       gn_row_act(EF_ACT_RELU, x, y, n, mean, scale, shift); break;
    case EF_ACT_NONE:
    case EF_ACT_COUNT:      gn_row_act(EF_ACT_NONE, x, y, n, mean, scale, shift); break;
    }
}

/* Thread ith's groups of y (C, S): a group is C/G whole channels, contiguous, so its
** statistics are those of one flat range of C/G * S floats; then each channel row is
** y = act((x - mean) * (rstd * gamma[c]) + beta[c]). */
void ef_k_group_norm_f32__avx2(const ef_group_norm_args *a, int ith, int nth) {
    long g0, g1;
    ef_split_rows((long)a->G, ith, nth, &g0, &g1);
    const int64_t cg = a->C / a->G, S = a->S;
    for (int64_t g = g0; g < g1; g++) {
        const float *x = a->x + g * cg * S;   /* (C/G, S) */
        float *y = a->y + g * cg * S;
        float mean, rstd;
        norm_stats(x, cg * S, a->eps, &mean, &rstd);
        for (int64_t c = 0; c < cg; c++) {
            int64_t ch = g * cg + c;
            float gm = a->gamma ? a->gamma[ch] : 1.0f, bt = a->beta ? a->beta[ch] : 0.0f;
            gn_row(a->act, x + c * S, y + c * S, S, _mm256_set1_ps(mean), _mm256_set1_ps(rstd * gm),
                   _mm256_set1_ps(bt));
        }
    }
}
