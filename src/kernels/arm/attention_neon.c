/*
** attention_neon.c -- AArch64 NEON multi-head attention, softmax(scale * Q K^T) V with an
** optional causal mask (ef_attention_args), flash-attention style.
**
** The loop nest of ref/attention_ref.c with its inner loops in 4 lanes: work items are
** (head, block of QB query rows); keys come in tiles of KT from key 0; per query row
** and tile the scores are dot products over Dh (two float32x4 accumulators, then the
** Dh % 4 tail), the tile's weights exp(s - m) come from ef_v4_exp_full, the running
** max m and sum l get the online-softmax update (the previous output scaled by
** alpha = exp(m_old - m_new)), and the output row accumulates p_j * v_j with FMAs over
** Dh. The unnormalised output lives in the out rows (the item owns them); the end
** divides by l. A row's result depends only on its own visible keys, taken in the same
** tiles, so it is the same for any block size or thread split. Masked keys are skipped.
*/
#include <math.h>

#include "kernels/arm/vmath_neon.h"
#include "kernels/kernels.h"

enum { QB = 16, KT = 64 };

/* q (Dh) . k (Dh). */
static inline float dot(const float *q, const float *k, int64_t Dh) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t d = 0;
    for (; d + 8 <= Dh; d += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(q + d), vld1q_f32(k + d));
        s1 = vfmaq_f32(s1, vld1q_f32(q + d + 4), vld1q_f32(k + d + 4));
    }
    if (d + 4 <= Dh) {
        s0 = vfmaq_f32(s0, vld1q_f32(q + d), vld1q_f32(k + d));
        d += 4;
    }
    float t = vaddvq_f32(vaddq_f32(s0, s1));
    for (; d < Dh; d++) t += q[d] * k[d];
    return t;
}

/* o (Dh) = o * alpha (alpha != 1 only). */
static inline void scale_row(float *o, int64_t Dh, float alpha) {
    int64_t d = 0;
    for (; d + 4 <= Dh; d += 4) vst1q_f32(o + d, vmulq_n_f32(vld1q_f32(o + d), alpha));
    for (; d < Dh; d++) o[d] *= alpha;
}

/* o (Dh) += p * v (Dh). */
static inline void axpy_row(float *o, const float *v, int64_t Dh, float p) {
    int64_t d = 0;
    for (; d + 8 <= Dh; d += 8) {
        vst1q_f32(o + d, vfmaq_n_f32(vld1q_f32(o + d), vld1q_f32(v + d), p));
        vst1q_f32(o + d + 4, vfmaq_n_f32(vld1q_f32(o + d + 4), vld1q_f32(v + d + 4), p));
    }
    if (d + 4 <= Dh) {
        vst1q_f32(o + d, vfmaq_n_f32(vld1q_f32(o + d), vld1q_f32(v + d), p));
        d += 4;
    }
    for (; d < Dh; d++) o[d] += p * v[d];
}

/* One head h, query rows [i0, i1): out[i, h*Dh .. +Dh) for each row. */
static void attend_block(const ef_attention_args *a, int64_t h, int64_t i0, int64_t i1) {
    const int64_t Dh = a->Dh;
    float m[QB], l[QB];
    float s[KT];   /* one row's scores, then weights, of one key tile */
    for (int64_t i = i0; i < i1; i++) {
        float *o = a->out + i * a->ldo + h * Dh;   /* (Dh) */
        for (int64_t d = 0; d < Dh; d++) o[d] = 0.0f;
        m[i - i0] = -INFINITY;
        l[i - i0] = 0.0f;
    }
    const int64_t kend = a->causal ? (i1 < a->Tk ? i1 : a->Tk) : a->Tk;   /* keys any row can see */
    for (int64_t j0 = 0; j0 < kend; j0 += KT) {
        const int64_t j1 = j0 + KT < kend ? j0 + KT : kend;
        for (int64_t i = i0; i < i1; i++) {
            const int64_t jl = (a->causal && i + 1 < j1) ? i + 1 : j1;   /* keys [j0, jl) */
            if (jl <= j0) continue;
            const int64_t nk = jl - j0;
            const float *q = a->q + i * a->ldq + h * Dh;   /* (Dh) */
            float *o = a->out + i * a->ldo + h * Dh;       /* (Dh) */
            float mt = -INFINITY;
            for (int64_t j = 0; j < nk; j++) {
                float sc = dot(q, a->k + (j0 + j) * a->ldk + h * Dh, Dh) * a->scale;
                s[j] = sc;
                mt = sc > mt ? sc : mt;
            }
            const float mo = m[i - i0], mn = mt > mo ? mt : mo;
            const float alpha = expf(mo - mn);   /* 0 on the first tile (mo = -inf) */
            const float32x4_t vmn = vdupq_n_f32(mn);
            float32x4_t ps = vdupq_n_f32(0.0f);
            int64_t j = 0;
            for (; j + 4 <= nk; j += 4) {
                float32x4_t p = ef_v4_exp_full(vsubq_f32(vld1q_f32(s + j), vmn));
                vst1q_f32(s + j, p);
                ps = vaddq_f32(ps, p);
            }
            if (j < nk) {   /* padded with -inf: weight 0 */
                float t[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
                for (int64_t x = j; x < nk; x++) t[x - j] = s[x];
                float32x4_t p = ef_v4_exp_full(vsubq_f32(vld1q_f32(t), vmn));
                ef_v4_store_head(s + j, nk - j, p);
                ps = vaddq_f32(ps, p);
            }
            l[i - i0] = l[i - i0] * alpha + vaddvq_f32(ps);
            m[i - i0] = mn;
            if (alpha != 1.0f) scale_row(o, Dh, alpha);
            for (j = 0; j < nk; j++) axpy_row(o, a->v + (j0 + j) * a->ldv + h * Dh, Dh, s[j]);
        }
    }
    for (int64_t i = i0; i < i1; i++) {
        float *o = a->out + i * a->ldo + h * Dh;
        const float32x4_t li = vdupq_n_f32(l[i - i0]);
        int64_t d = 0;
        for (; d + 4 <= Dh; d += 4) vst1q_f32(o + d, vdivq_f32(vld1q_f32(o + d), li));
        for (; d < Dh; d++) o[d] /= l[i - i0];
    }
}

/* Thread ith's (head, query block) items of out (Tq, H*Dh). */
void ef_k_attention_f32__neon(const ef_attention_args *a, int ith, int nth) {
    const int64_t nqb = (a->Tq + QB - 1) / QB;
    long w0, w1;
    ef_split_rows((long)(a->H * nqb), ith, nth, &w0, &w1);
    for (long w = w0; w < w1; w++) {
        const int64_t h = w / nqb, qb = w % nqb;
        const int64_t i0 = qb * QB, i1 = i0 + QB < a->Tq ? i0 + QB : a->Tq;
        attend_block(a, h, i0, i1);
    }
}
