/*
** transpose_ref.c -- reference transpose with an optional residual add:
** y[j, i] = x[i, j] (+ r[j, i]).
**
** The UNet's Transformer2DModel works on token rows (S, C) while its convolutions use
** channel-major maps (C, S); this op moves between the two, and on the way out adds
** the block's residual. Threads split the rows of y; within a thread, TB x TB tiles
** keep both the reads of x and the writes of y in cache. No reductions: results do not
** depend on the split.
*/
#include "kernels/kernels.h"

enum { TB = 32 };

/* Thread ith's rows of y (N, M) = x (M, N)^T (+ r (N, M)). */
void ef_k_transpose_f32__ref(const ef_transpose_args *a, int ith, int nth) {
    long j0, j1;
    ef_split_rows((long)a->N, ith, nth, &j0, &j1);
    const int64_t M = a->M, N = a->N;
    for (int64_t jb = j0; jb < j1; jb += TB) {
        int64_t je = jb + TB < j1 ? jb + TB : j1;
        for (int64_t ib = 0; ib < M; ib += TB) {
            int64_t ie = ib + TB < M ? ib + TB : M;
            for (int64_t j = jb; j < je; j++) {
                float *y = a->y + j * M;                       /* row j of y (M) */
                const float *r = a->r ? a->r + j * M : NULL;   /* row j of r (M) */
                for (int64_t i = ib; i < ie; i++) {
                    float v = a->x[i * N + j];
                    y[i] = r ? v + r[i] : v;
                }
            }
        }
    }
}
