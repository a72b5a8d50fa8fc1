/*
** gemm_avx2.c -- the AVX2+FMA micro-kernel of the blocked GEMM (kernels/gemm/gemm.h)
** and the linear and conv2d kernels built on it.
**
** 6 x 16 tile: 12 ymm accumulators, 2 ymm for the panel row, 1 for the broadcast A
** value (15 of 16 registers); per k: 2 loads, 6 broadcasts (one from each A row),
** 12 FMAs. Each accumulator
** sums its k in order with FMA, so the result is independent of the thread split.
*/
#include <immintrin.h>

#include "kernels/gemm/gemm.h"

static void ukernel_6x16(int64_t kc, const float *a, int64_t lda, const float *bp, float *c, int64_t ldc, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = a, *a1 = a + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;
    for (int64_t k = 0; k < kc; k++, bp += EF_GEMM_NR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8), t;
        t = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
        t = _mm256_broadcast_ss(a4 + k); c40 = _mm256_fmadd_ps(t, b0, c40); c41 = _mm256_fmadd_ps(t, b1, c41);
        t = _mm256_broadcast_ss(a5 + k); c50 = _mm256_fmadd_ps(t, b0, c50); c51 = _mm256_fmadd_ps(t, b1, c51);
    }
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < EF_GEMM_MR; i++, c += ldc) {
        __m256 v0 = acc[2 * i], v1 = acc[2 * i + 1];
        if (accumulate) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
        }
        _mm256_storeu_ps(c, v0);
        _mm256_storeu_ps(c + 8, v1);
    }
}

void ef_k_linear_f32__avx2(const ef_linear_args *a, int ith, int nth) { ef_gemm_linear(a, ith, nth, ukernel_6x16); }

void ef_k_conv2d_f32__avx2(const ef_conv2d_args *a, int ith, int nth) { ef_gemm_conv2d(a, ith, nth, ukernel_6x16); }
