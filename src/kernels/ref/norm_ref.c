/*
** norm_ref.c -- reference layer norm (rows of (R, D)) and group norm (channel-major
** (C, S), the UNet's GroupNorm with an optional fused activation).
**
** Statistics are two-pass (mean, then mean of squared deviations: the biased variance
** torch uses) and accumulated in double in index order: a group norm reduces over up
** to C/G * S ~ 10^5 values, where a running float sum would lose digits. Each row or
** group is reduced by one thread, so results do not depend on the thread count.
*/
#include <math.h>

#include "kernels/kernels.h"

/* Mean and 1/sqrt(biased var + eps) of x (n), in double, index order. */
static void norm_stats(const float *x, int64_t n, float eps, float *mean_out, float *rstd_out) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double mean = s / (double)n;
    double v = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        v += d * d;
    }
    v /= (double)n;
    *mean_out = (float)mean;
    *rstd_out = (float)(1.0 / sqrt(v + (double)eps));
}

/* Thread ith's rows of y (R, D). */
void ef_k_layer_norm_f32__ref(const ef_layer_norm_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t D = a->D;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * D;   /* (D) */
        float *y = a->y + r * D;         /* (D) */
        float mean, rstd;
        norm_stats(x, D, a->eps, &mean, &rstd);
        for (int64_t i = 0; i < D; i++) {
            float v = (x[i] - mean) * rstd;
            if (a->gamma) v *= a->gamma[i];
            if (a->beta) v += a->beta[i];
            y[i] = v;
        }
    }
}

/* Thread ith's groups of y (C, S): a group is C/G whole channels, contiguous. */
void ef_k_group_norm_f32__ref(const ef_group_norm_args *a, int ith, int nth) {
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
            float gm = a->gamma ? a->gamma[ch] : 1.0f;
            float bt = a->beta ? a->beta[ch] : 0.0f;
            for (int64_t s = 0; s < S; s++) {
                float v = (x[c * S + s] - mean) * rstd * gm + bt;
                if (a->act != EF_ACT_NONE) v = ef_act_apply(a->act, v);
                y[c * S + s] = v;
            }
        }
    }
}
