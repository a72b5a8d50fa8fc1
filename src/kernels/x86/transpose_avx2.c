/*
** transpose_avx2.c -- AVX2 transpose with an optional residual add:
** y[j, i] = x[i, j] (+ r[j, i]), the UNet's move between channel-major maps (C, S) and
** token rows (S, C).
**
** Same contract as ref/transpose_ref.c. Threads split the rows of y. Within a thread,
** TILE x TILE tiles keep the rows of x being read and the rows of y being written in
** L2, and each tile is done in 8x8 blocks transposed in registers: eight 128-bit row
** halves are paired into four 256-bit registers per half block (rows i and i+4 side by
** side), so one unpack and one shuffle stage finish the transpose. Edges that do not
** fill a block are copied one element at a time. Copies and IEEE adds only, so the
** result does not depend on the split.
*/
#include <immintrin.h>

#include "kernels/kernels.h"

enum { TILE = 128 };   /* 64 KB of x and of y per tile: L2-resident; measured best of 16..256 */

/* Columns j..j+3 of rows i and i+4 of x (row stride n) as one register: [row i | row i+4]. */
static inline __m256 load_pair(const float *x, int64_t n) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(x)), _mm_loadu_ps(x + 4 * n), 1);
}

/* Four columns (4 x 8) from the paired rows t0..t3 (rows 0/4, 1/5, 2/6, 3/7). */
static inline void cols4(__m256 t0, __m256 t1, __m256 t2, __m256 t3, __m256 c[4]) {
    __m256 u0 = _mm256_unpacklo_ps(t0, t1), u1 = _mm256_unpackhi_ps(t0, t1);   /* a0b0a1b1|e0f0e1f1 .. */
    __m256 u2 = _mm256_unpacklo_ps(t2, t3), u3 = _mm256_unpackhi_ps(t2, t3);   /* c0d0c1d1|g0h0g1h1 .. */
    c[0] = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(1, 0, 1, 0));   /* a0b0c0d0|e0f0g0h0 */
    c[1] = _mm256_shuffle_ps(u0, u2, _MM_SHUFFLE(3, 2, 3, 2));
    c[2] = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(1, 0, 1, 0));
    c[3] = _mm256_shuffle_ps(u1, u3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* y[j+k, i..i+7] = x[i..i+7, j+k] (+ r[j+k, i..i+7]), k < 8: one 8x8 block. x points at
** x[i, j] (row stride N), y and r at [j, i] (row stride M); r may equal y. */
static inline void block8(const float *x, int64_t N, float *y, const float *r, int64_t M) {
    __m256 c[8];
    cols4(load_pair(x, N), load_pair(x + N, N), load_pair(x + 2 * N, N), load_pair(x + 3 * N, N), c);
    cols4(load_pair(x + 4, N), load_pair(x + N + 4, N), load_pair(x + 2 * N + 4, N), load_pair(x + 3 * N + 4, N), c + 4);
    if (r)
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(y + k * M, _mm256_add_ps(c[k], _mm256_loadu_ps(r + k * M)));
    else
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(y + k * M, c[k]);
}

/* Thread ith's rows of y (N, M) = x (M, N)^T (+ r (N, M)). */
void ef_k_transpose_f32__avx2(const ef_transpose_args *a, int ith, int nth) {
    long j0, j1;
    ef_split_rows((long)a->N, ith, nth, &j0, &j1);
    const int64_t M = a->M, N = a->N;
    const float *x = a->x, *r = a->r;
    float *y = a->y;
    for (int64_t jb = j0; jb < j1; jb += TILE) {
        int64_t je = jb + TILE < j1 ? jb + TILE : j1;
        for (int64_t ib = 0; ib < M; ib += TILE) {
            int64_t ie = ib + TILE < M ? ib + TILE : M;
            int64_t j = jb;
            for (; j + 8 <= je; j += 8) {
                int64_t i = ib;
                for (; i + 8 <= ie; i += 8) block8(x + i * N + j, N, y + j * M + i, r ? r + j * M + i : NULL, M);
                for (; i < ie; i++)   /* rows of x left over: one column of the block each */
                    for (int64_t k = j; k < j + 8; k++) y[k * M + i] = r ? x[i * N + k] + r[k * M + i] : x[i * N + k];
            }
            for (; j < je; j++)   /* columns of x left over */
                for (int64_t i = ib; i < ie; i++) y[j * M + i] = r ? x[i * N + j] + r[j * M + i] : x[i * N + j];
        }
    }
}
