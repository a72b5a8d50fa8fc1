/*
** softmax_ref.c -- reference row softmax: y[r, j] = exp(x[r, j] - max_r) / sum_r.
**
** Max, exponentials and the sum run in float, in index order, one row per thread, so
** results do not depend on the thread count. A row of all -inf gives NaN, as torch.
*/
#include <math.h>

#include "kernels/kernels.h"

/* Thread ith's rows of y (R, N) = softmax(x (R, N)) over the last dim. */
void ef_k_softmax_f32__ref(const ef_softmax_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t N = a->N;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * N;   /* (N) */
        float *y = a->y + r * N;         /* (N) */
        float mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) mx = x[j] > mx ? x[j] : mx;
        float s = 0.0f;
        for (int64_t j = 0; j < N; j++) {
            float e = expf(x[j] - mx);
            y[j] = e;
            s += e;
        }
        for (int64_t j = 0; j < N; j++) y[j] /= s;
    }
}
