/*
** eltwise_neon.c -- AArch64 NEON kernels of the memory-bound elementwise ops: act, add,
** row softmax, GEGLU and nearest 2x upsampling.
**
** Same contracts as src/kernels/ref/ (act_ref.c, softmax_ref.c, geglu_ref.c, conv2d_ref.c
** for upsample2x). Every element, the tail of a range too, goes through the same 4-lane
** code (a tail through a small stack copy), so a result never depends on where a
** thread's range starts: 1 and 3 threads give identical bits. The activations are the
** vector forms of vmath_neon.h, so act and GEGLU match the scalar ef_act_apply within
** a few ulp, not bit for bit.
*/
#include <math.h>

#include "kernels/arm/vmath_neon.h"
#include "kernels/kernels.h"

/* ---- act ---------------------------------------------------------------------- */

/* y (n) = act(x (n)); y may equal x. Called with a constant act from act_span only, so
** each case below gets its own loop with the activation inlined. */
static inline __attribute__((always_inline)) void act_loop(ef_act act, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t v0 = vld1q_f32(x + i), v1 = vld1q_f32(x + i + 4);
        vst1q_f32(y + i, ef_v4_act(act, v0));
        vst1q_f32(y + i + 4, ef_v4_act(act, v1));
    }
    for (; i < n; i += 4) {
        int64_t m = n - i < 4 ? n - i : 4;
        ef_v4_store_head(y + i, m, ef_v4_act(act, ef_v4_load_head(x + i, m)));
    }
}

static void act_span(ef_act act, const float *x, float *y, int64_t n) {
    switch (act) {
    case EF_ACT_QUICK_GELU: act_loop(EF_ACT_QUICK_GELU, x, y, n); break;
    case EF_ACT_GELU:       act_loop(EF_ACT_GELU, x, y, n); break;
    case EF_ACT_GELU_TANH:  act_loop(EF_ACT_GELU_TANH, x, y, n); break;
    case EF_ACT_SILU:       act_loop(EF_ACT_SILU, x, y, n); break;
    case EF_ACT_RELU:       act_loop(EF_ACT_RELU, x, y, n); break;
    case EF_ACT_NONE:
    case EF_ACT_COUNT:      act_loop(EF_ACT_NONE, x, y, n); break;
    }
}

/* Thread ith's range of y (n) = act(x (n)). */
void ef_k_act_f32__neon(const ef_act_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    if (a->act == EF_ACT_NONE && a->y == a->x) return;
    act_span(a->act, a->x + i0, a->y + i0, (int64_t)(i1 - i0));
}

/* ---- add ---------------------------------------------------------------------- */

/* Thread ith's range of y (n) = a (n) + b (n). */
void ef_k_add_f32__neon(const ef_add_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    const float *pa = a->a, *pb = a->b;
    float *y = a->y;
    long i = i0;
    for (; i + 8 <= i1; i += 8) {
        float32x4_t s0 = vaddq_f32(vld1q_f32(pa + i), vld1q_f32(pb + i));
        float32x4_t s1 = vaddq_f32(vld1q_f32(pa + i + 4), vld1q_f32(pb + i + 4));
        vst1q_f32(y + i, s0);
        vst1q_f32(y + i + 4, s1);
    }
    for (; i < i1; i++) y[i] = pa[i] + pb[i];   /* an IEEE add: same bits as the vector one */
}

/* ---- softmax ------------------------------------------------------------------- */

/* Thread ith's rows of y (R, N) = softmax(x (R, N)). Max (fmaxnm: a NaN input is skipped,
** as by the reference's compare), then e = exp(x - max) stored in y and summed in 4
** float lanes x 2, then y *= 1 / sum. exp(-inf) is exactly 0, a row of all -inf gives
** NaN and a NaN input turns its row to NaN through the sum, as the reference. */
void ef_k_softmax_f32__neon(const ef_softmax_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t N = a->N;
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * N;   /* (N) */
        float *y = a->y + r * N;         /* (N) */
        float32x4_t m0 = ninf, m1 = ninf;
        int64_t j = 0;
        for (; j + 8 <= N; j += 8) {
            m0 = vmaxnmq_f32(vld1q_f32(x + j), m0);
            m1 = vmaxnmq_f32(vld1q_f32(x + j + 4), m1);
        }
        float mxs = vmaxnmvq_f32(vmaxnmq_f32(m0, m1));
        for (; j < N; j++) mxs = x[j] > mxs ? x[j] : mxs;
        const float32x4_t mx = vdupq_n_f32(mxs);

        float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
        for (j = 0; j + 8 <= N; j += 8) {
            float32x4_t e0 = ef_v4_exp_full(vsubq_f32(vld1q_f32(x + j), mx));
            float32x4_t e1 = ef_v4_exp_full(vsubq_f32(vld1q_f32(x + j + 4), mx));
            vst1q_f32(y + j, e0);
            vst1q_f32(y + j + 4, e1);
            s0 = vaddq_f32(s0, e0);
            s1 = vaddq_f32(s1, e1);
        }
        for (; j < N; j += 4) {   /* the tail padded with -inf: e = 0 there */
            int64_t m = N - j < 4 ? N - j : 4;
            float t[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
            for (int64_t i = 0; i < m; i++) t[i] = x[j + i];
            float32x4_t e = ef_v4_exp_full(vsubq_f32(vld1q_f32(t), mx));
            ef_v4_store_head(y + j, m, e);
            s0 = vaddq_f32(s0, e);
        }
        const float inv = 1.0f / vaddvq_f32(vaddq_f32(s0, s1));
        for (j = 0; j + 4 <= N; j += 4) vst1q_f32(y + j, vmulq_n_f32(vld1q_f32(y + j), inv));
        for (; j < N; j++) y[j] *= inv;   /* an IEEE multiply: same bits as the vector one */
    }
}

/* ---- geglu --------------------------------------------------------------------- */

/* Thread ith's rows of y (R, F) = x[:, :F] * gelu_erf(x[:, F:]), x (R, 2F) with row
** stride ldx. Each 4-lane step loads value and gate before its store, so y == x with
** ldy == ldx is safe. */
void ef_k_geglu_f32__neon(const ef_geglu_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t F = a->F;
    for (int64_t r = r0; r < r1; r++) {
        const float *h = a->x + r * a->ldx;   /* (F) value half */
        const float *g = h + F;               /* (F) gate half */
        float *y = a->y + r * a->ldy;         /* (F) */
        int64_t j = 0;
        for (; j + 4 <= F; j += 4) vst1q_f32(y + j, vmulq_f32(vld1q_f32(h + j), ef_v4_gelu(vld1q_f32(g + j))));
        if (j < F) {
            float32x4_t v = vmulq_f32(ef_v4_load_head(h + j, F - j), ef_v4_gelu(ef_v4_load_head(g + j, F - j)));
            ef_v4_store_head(y + j, F - j, v);
        }
    }
}

/* ---- upsample2x --------------------------------------------------------------- */

/* Thread ith's share of y (C, 2H, 2W) = nearest-upsampled x (C, H, W), split over the
** C*H input rows: input row r fills output rows 2r and 2r+1 of the (C*2H, 2W) view of
** y. Pure copies (zip of a vector with itself). */
void ef_k_upsample2x_f32__neon(const ef_upsample2x_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)(a->C * a->H), ith, nth, &r0, &r1);
    const int64_t W = a->W;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * W;        /* (W) */
        float *y0 = a->y + 2 * r * (2 * W);   /* (2W) */
        float *y1 = y0 + 2 * W;               /* (2W) */
        int64_t j = 0;
        for (; j + 4 <= W; j += 4) {
            float32x4_t v = vld1q_f32(x + j);
            float32x4_t lo = vzip1q_f32(v, v), hi = vzip2q_f32(v, v);   /* x0x0x1x1, x2x2x3x3 */
            vst1q_f32(y0 + 2 * j, lo);
            vst1q_f32(y0 + 2 * j + 4, hi);
            vst1q_f32(y1 + 2 * j, lo);
            vst1q_f32(y1 + 2 * j + 4, hi);
        }
        for (; j < W; j++) y0[2 * j] = y0[2 * j + 1] = y1[2 * j] = y1[2 * j + 1] = x[j];
    }
}
