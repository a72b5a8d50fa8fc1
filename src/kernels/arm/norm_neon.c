/*
** norm_neon.c -- AArch64 NEON layer norm (rows of (R, D)) and group norm (channel-major
** (C, S), with the UNet's fused activation, SiLU above all).
**
** Same contracts as ref/norm_ref.c, same method as x86/norm_avx2.c: statistics take one
** pass over memory in blocks of NORM_BLOCK floats; a block (in L1 after its first read)
** gives its mean (float sums of x - x[0]) and its sum of squared deviations from that
** mean (two-pass, no E[x^2] - mean^2 cancellation), and the blocks are merged in double
** with Chan's pairwise update. A second pass normalizes, applies the affine and the
** activation. One thread owns a whole row or group and the block order is fixed, so
** results do not depend on the thread count.
*/
#include <math.h>

#include "kernels/arm/vmath_neon.h"
#include "kernels/kernels.h"

enum { NORM_BLOCK = 2048 };   /* floats: 8 KB, re-read from L1 by the block's second pass */

/* Mean *bm and sum of squared deviations *bq of x (n), 1 <= n <= NORM_BLOCK: float lanes
** over x - x[0] (a large common offset costs no digits), then about the block mean. */
static void block_stats(const float *x, int64_t n, double *bm, double *bq) {
    const float32x4_t pivot = vdupq_n_f32(x[0]);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vaddq_f32(s0, vsubq_f32(vld1q_f32(x + i), pivot));
        s1 = vaddq_f32(s1, vsubq_f32(vld1q_f32(x + i + 4), pivot));
        s2 = vaddq_f32(s2, vsubq_f32(vld1q_f32(x + i + 8), pivot));
        s3 = vaddq_f32(s3, vsubq_f32(vld1q_f32(x + i + 12), pivot));
    }
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i] - x[0];
    const double mean = (double)x[0] + ((double)vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3))) +
                                        (double)tail) / (double)n;
    const float mf = (float)mean;
    const float32x4_t vm = vdupq_n_f32(mf);
    s0 = s1 = s2 = s3 = vdupq_n_f32(0.0f);
    for (i = 0; i + 16 <= n; i += 16) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), vm), d1 = vsubq_f32(vld1q_f32(x + i + 4), vm);
        float32x4_t d2 = vsubq_f32(vld1q_f32(x + i + 8), vm), d3 = vsubq_f32(vld1q_f32(x + i + 12), vm);
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    tail = 0.0f;
    for (; i < n; i++) tail += (x[i] - mf) * (x[i] - mf);
    *bm = mean;
    *bq = (double)vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3))) + (double)tail;
}

/* Mean and 1/sqrt(biased var + eps) of x (n), n >= 1: blocks merged in double (Chan,
** Golub, LeVeque: mean += d nb / n', M2 += M2_b + d^2 n nb / n', d = mean_b - mean). */
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

/* y (D) = (x (D) - mean) * rstd * gamma + beta, one row; NULL gamma / beta act as 1 / 0.
** The tail goes through the same vector arithmetic (stack copies). */
static void ln_row(const float *x, float *y, int64_t D, float mean, float rstd, const float *gamma,
                   const float *beta) {
    const float32x4_t vm = vdupq_n_f32(mean), vr = vdupq_n_f32(rstd), one = vdupq_n_f32(1.0f);
    const float32x4_t zero = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= D; i += 4) {
        float32x4_t v = vmulq_f32(vsubq_f32(vld1q_f32(x + i), vm), vr);
        v = vfmaq_f32(beta ? vld1q_f32(beta + i) : zero, v, gamma ? vld1q_f32(gamma + i) : one);
        vst1q_f32(y + i, v);
    }
    if (i < D) {
        const int64_t m = D - i;
        float32x4_t v = vmulq_f32(vsubq_f32(ef_v4_load_head(x + i, m), vm), vr);
        v = vfmaq_f32(beta ? ef_v4_load_head(beta + i, m) : zero, v, gamma ? ef_v4_load_head(gamma + i, m) : one);
        ef_v4_store_head(y + i, m, v);
    }
}

/* Thread ith's rows of y (R, D); y may equal x (the statistics read the whole row
** before the first store). */
void ef_k_layer_norm_f32__neon(const ef_layer_norm_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t D = a->D;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * D;   /* (D) */
        float mean, rstd;
        norm_stats(x, D, a->eps, &mean, &rstd);
        ln_row(x, a->y + r * D, D, mean, rstd, a->gamma, a->beta);
    }
}

/* ---- group norm ------------------------------------------------------------------- */

/* y (n) = act((x (n) - mean) * scale + shift), one channel row; act constant (see
** gn_row). y may equal x. */
static inline __attribute__((always_inline)) void gn_row_act(ef_act act, const float *x, float *y, int64_t n,
                                                             float32x4_t mean, float32x4_t scale,
                                                             float32x4_t shift) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t v0 = vfmaq_f32(shift, vsubq_f32(vld1q_f32(x + i), mean), scale);
        float32x4_t v1 = vfmaq_f32(shift, vsubq_f32(vld1q_f32(x + i + 4), mean), scale);
        vst1q_f32(y + i, ef_v4_act(act, v0));
        vst1q_f32(y + i + 4, ef_v4_act(act, v1));
    }
    for (; i < n; i += 4) {
        const int64_t m = n - i < 4 ? n - i : 4;
        float32x4_t v = vfmaq_f32(shift, vsubq_f32(ef_v4_load_head(x + i, m), mean), scale);
        ef_v4_store_head(y + i, m, ef_v4_act(act, v));
    }
}

/* One loop per activation, the act inlined in each. */
static void gn_row(ef_act act, const float *x, float *y, int64_t n, float32x4_t mean, float32x4_t scale,
                   float32x4_t shift) {
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
void ef_k_group_norm_f32__neon(const ef_group_norm_args *a, int ith, int nth) {
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
            gn_row(a->act, x + c * S, y + c * S, S, vdupq_n_f32(mean), vdupq_n_f32(rstd * gm), vdupq_n_f32(bt));
        }
    }
}
