/*
** matmul_ref.c -- reference linear layer: y = act(x @ W^T + b) + r (torch Linear).
**
** The spec for every faster matmul variant. Each y[m, n] is one float dot product
** over k = 0..K-1 in order, then + b[n], then act, then + r[m, n]; the order never
** depends on the thread split. Threads take column ranges of N (each thread streams
** its own rows of W once) or, when N is too small to share, row ranges of M.
** Not here: blocking/packing for speed (that is the SIMD variants' job).
*/
#include "kernels/kernels.h"

/* y[m, n0..n1) for rows [m0, m1). Four outputs at a time give the CPU independent
** dependency chains without changing any element's summation order. */
static void linear_block(const ef_linear_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const int64_t K = a->K;
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = a->x + m * a->ldx;          /* (K) */
        float *yr = a->y + m * a->ldy;                /* (N) */
        const float *rr = a->r ? a->r + m * a->ldy : NULL;
        int64_t n = n0;
        for (; n + 4 <= n1; n += 4) {
            const float *w0 = a->w + n * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float xv = xr[k];
                s0 += xv * w0[k];
                s1 += xv * w1[k];
                s2 += xv * w2[k];
                s3 += xv * w3[k];
            }
            float s[4] = {s0, s1, s2, s3};
            for (int j = 0; j < 4; j++) {
                float v = s[j];
                if (a->b) v += a->b[n + j];
                if (a->act != EF_ACT_NONE) v = ef_act_apply(a->act, v);
                if (rr) v += rr[n + j];
                yr[n + j] = v;
            }
        }
        for (; n < n1; n++) {
            const float *wr = a->w + n * K;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += xr[k] * wr[k];
            if (a->b) s += a->b[n];
            if (a->act != EF_ACT_NONE) s = ef_act_apply(a->act, s);
            if (rr) s += rr[n];
            yr[n] = s;
        }
    }
}

/* Thread ith's share of y (M, N). Columns are split when every thread gets at least
** 4 of them; otherwise rows. The split is a function of (M, N, nth) only. */
void ef_k_linear_f32__ref(const ef_linear_args *a, int ith, int nth) {
    long r0, r1;
    if (a->N >= 4L * nth) {
        /* column ranges rounded to multiples of 4 keep the 4-wide blocks aligned */
        long nb = (long)((a->N + 3) / 4);
        ef_split_rows(nb, ith, nth, &r0, &r1);
        int64_t n0 = (int64_t)r0 * 4, n1 = (int64_t)r1 * 4;
        if (n1 > a->N) n1 = a->N;
        if (n0 < n1) linear_block(a, 0, a->M, n0, n1);
    } else {
        ef_split_rows((long)a->M, ith, nth, &r0, &r1);
        if (r0 < r1) linear_block(a, r0, r1, 0, a->N);
    }
}
