/*
** attention_ref.c -- reference multi-head attention, softmax(scale * Q K^T) V, with an
** optional causal mask, computed over key tiles with an online softmax.
**
** Memory does not grow with Tq*Tk (the UNet runs it at 4096 tokens): for each query
** row the kernel keeps a running max m, a running sum l and the unnormalised output
** (accumulated in place in out), and rescales them by exp(m_old - m_new) whenever a
** key tile raises the max (flash-attention style). Work items are (head, block of
** QB query rows); a block shares each K/V tile while it is in cache. A row's result
** depends only on its own keys, taken in tiles of KT from key 0: the same for any
** block size or thread split. Masked keys are skipped, which equals torch's -inf.
*/
#include <math.h>

#include "kernels/kernels.h"

enum { QB = 16, KT = 64 };

/* One head h, query rows [i0, i1): out[i, h*Dh .. +Dh) for each row. */
static void attend_block(const ef_attention_args *a, int64_t h, int64_t i0, int64_t i1) {
    const int64_t Dh = a->Dh;
    float m[QB], l[QB], s[KT];
    for (int64_t i = i0; i < i1; i++) {
        float *o = a->out + i * a->ldo + h * Dh;   /* (Dh) */
        for (int64_t d = 0; d < Dh; d++) o[d] = 0.0f;
        m[i - i0] = -INFINITY;
        l[i - i0] = 0.0f;
    }
    /* keys any row of the block can see */
    int64_t kend = a->causal ? (i1 < a->Tk ? i1 : a->Tk) : a->Tk;
    for (int64_t j0 = 0; j0 < kend; j0 += KT) {
        int64_t j1 = j0 + KT < kend ? j0 + KT : kend;
        for (int64_t i = i0; i < i1; i++) {
            int64_t jl = (a->causal && i + 1 < j1) ? i + 1 : j1;   /* keys [j0, jl) */
            if (jl <= j0) continue;
            const float *q = a->q + i * a->ldq + h * Dh;   /* (Dh) */
            float *o = a->out + i * a->ldo + h * Dh;       /* (Dh) */
            float mt = -INFINITY;
            for (int64_t j = j0; j < jl; j++) {
                const float *kr = a->k + j * a->ldk + h * Dh;   /* (Dh) */
                float dot = 0.0f;
                for (int64_t d = 0; d < Dh; d++) dot += q[d] * kr[d];
                float sc = dot * a->scale;
                s[j - j0] = sc;
                mt = sc > mt ? sc : mt;
            }
            float mo = m[i - i0];
            float mn = mt > mo ? mt : mo;
            float alpha = expf(mo - mn);   /* 0 on the first tile (mo = -inf) */
            float psum = 0.0f;
            for (int64_t j = j0; j < jl; j++) {
                float p = expf(s[j - j0] - mn);
                s[j - j0] = p;
                psum += p;
            }
            l[i - i0] = l[i - i0] * alpha + psum;
            m[i - i0] = mn;
            if (alpha != 1.0f)
                for (int64_t d = 0; d < Dh; d++) o[d] *= alpha;
            for (int64_t j = j0; j < jl; j++) {
                const float *vr = a->v + j * a->ldv + h * Dh;   /* (Dh) */
                float p = s[j - j0];
                for (int64_t d = 0; d < Dh; d++) o[d] += p * vr[d];
            }
        }
    }
    for (int64_t i = i0; i < i1; i++) {
        float *o = a->out + i * a->ldo + h * Dh;
        float li = l[i - i0];
        for (int64_t d = 0; d < Dh; d++) o[d] /= li;
    }
}

/* Thread ith's (head, query block) items of out (Tq, H*Dh). */
void ef_k_attention_f32__ref(const ef_attention_args *a, int ith, int nth) {
    const int64_t nqb = (a->Tq + QB - 1) / QB;
    long w0, w1;
    ef_split_rows((long)(a->H * nqb), ith, nth, &w0, &w1);
    for (long w = w0; w < w1; w++) {
        int64_t h = w / nqb, qb = w % nqb;
        int64_t i0 = qb * QB, i1 = i0 + QB < a->Tq ? i0 + QB : a->Tq;
        attend_block(a, h, i0, i1);
    }
}
