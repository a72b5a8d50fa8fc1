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

/* Row n of W, columns [k0, k0 + len), as f32: a pointer into W itself when it is f32,
** else converted into buf (len <= CHUNK). */
enum { CHUNK = 256 };
static const float *w_chunk(const ef_linear_args *a, int64_t n, int64_t k0, int64_t len, float *buf) {
    if (a->wt == EF_W_F32) return (const float *)a->w + n * a->K + k0;
    ef_wmat_row_f32(a->w, a->wt, a->N, a->K, n, k0, len, buf);
    return buf;
}

/* y[m, n0..n1) for rows [m0, m1). Four outputs at a time give the CPU independent
** dependency chains without changing any element's summation order (k ascending,
** also across the CHUNK pieces that narrow weights are converted in). */
static void linear_block(const ef_linear_args *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const int64_t K = a->K;
    float buf[4][CHUNK];
    for (int64_t m = m0; m < m1; m++) {
        const float *xr = a->x + m * a->ldx;          /* (K) */
        float *yr = a->y + m * a->ldy;                /* (N) */
        const float *rr = a->r ? a->r + m * a->ldy : NULL;
        for (int64_t n = n0; n < n1; n += 4) {
            const int nb = n1 - n < 4 ? (int)(n1 - n) : 4;
            float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t k0 = 0; k0 < K; k0 += CHUNK) {
                const int64_t len = K - k0 < CHUNK ? K - k0 : CHUNK;
                const float *xs = xr + k0;
                if (nb == 4) {
                    const float *w0 = w_chunk(a, n, k0, len, buf[0]), *w1 = w_chunk(a, n + 1, k0, len, buf[1]);
                    const float *w2 = w_chunk(a, n + 2, k0, len, buf[2]), *w3 = w_chunk(a, n + 3, k0, len, buf[3]);
                    float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
                    for (int64_t k = 0; k < len; k++) {
                        float xv = xs[k];
                        s0 += xv * w0[k];
                        s1 += xv * w1[k];
                        s2 += xv * w2[k];
                        s3 += xv * w3[k];
                    }
                    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
                } else {
                    for (int j = 0; j < nb; j++) {
                        const float *wr = w_chunk(a, n + j, k0, len, buf[j]);
                        float sj = s[j];
                        for (int64_t k = 0; k < len; k++) sj += xs[k] * wr[k];
                        s[j] = sj;
                    }
                }
            }
            for (int j = 0; j < nb; j++) {
                float v = s[j];
                if (a->b) v += a->b[n + j];
                if (a->act != EF_ACT_NONE) v = ef_act_apply(a->act, v);
                if (rr) v += rr[n + j];
                yr[n + j] = v;
            }
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
