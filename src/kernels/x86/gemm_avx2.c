/*
** gemm_avx2.c -- the AVX2+FMA micro-kernel of the blocked GEMM (kernels/gemm/gemm.h)
** and the linear and conv2d kernels built on it.
**
** 6 x 16 tile: 12 ymm accumulators, 2 ymm for the panel row, 1 for the broadcast A
** value (15 of 16 registers); per k: 2 loads, 6 broadcasts (one 24-byte run of the
** packed A tile), 12 FMAs. Each accumulator
** sums its k in order with FMA, so the result is independent of the thread split.
*/
#include <immintrin.h>

#include "kernels/gemm/gemm.h"

static void ukernel_6x16(int64_t kc, const float *ap, const float *bp, float *tile) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++, bp += EF_GEMM_NR, ap += EF_GEMM_MR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8), t;
        t = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
        t = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(t, b0, c40); c41 = _mm256_fmadd_ps(t, b1, c41);
        t = _mm256_broadcast_ss(ap + 5); c50 = _mm256_fmadd_ps(t, b0, c50); c51 = _mm256_fmadd_ps(t, b1, c51);
    }
    _mm256_store_ps(tile + 0, c00);  _mm256_store_ps(tile + 8, c01);
    _mm256_store_ps(tile + 16, c10); _mm256_store_ps(tile + 24, c11);
    _mm256_store_ps(tile + 32, c20); _mm256_store_ps(tile + 40, c21);
    _mm256_store_ps(tile + 48, c30); _mm256_store_ps(tile + 56, c31);
    _mm256_store_ps(tile + 64, c40); _mm256_store_ps(tile + 72, c41);
    _mm256_store_ps(tile + 80, c50); _mm256_store_ps(tile + 88, c51);
}

void ef_k_linear_f32__avx2(const ef_linear_args *a, int ith, int nth) { ef_gemm_linear(a, ith, nth, ukernel_6x16); }

void ef_k_conv2d_f32__avx2(const ef_conv2d_args *a, int ith, int nth) { ef_gemm_conv2d(a, ith, nth, ukernel_6x16); }
