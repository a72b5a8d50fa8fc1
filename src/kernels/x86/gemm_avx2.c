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

/* ef_wmat_row_f32 with 8 elements per step (F16C, integer shifts, int8 widening). */
static void wrow_avx2(const void *w, ef_wtype t, int64_t rows, int64_t cols, int64_t r, int64_t k0, int64_t n,
                      float *dst) {
    const size_t at = (size_t)r * (size_t)cols + (size_t)k0;
    int64_t i = 0;
    switch (t) {
    case EF_W_F16: {
        const uint16_t *h = (const uint16_t *)w + at;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
        break;
    }
    case EF_W_BF16: {
        const uint16_t *h = (const uint16_t *)w + at;
        for (; i + 8 <= n; i += 8) {
            __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        }
        break;
    }
    case EF_W_Q8: {
        const int8_t *q = (const int8_t *)w + at;
        const __m256 s = _mm256_set1_ps(ef_wmat_q8_scales(w, rows, cols)[r]);
        for (; i + 8 <= n; i += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i)));
            _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), s));
        }
        break;
    }
    case EF_W_F32:
    case EF_W_COUNT: break;
    }
    if (i < n) ef_wmat_row_f32(w, t, rows, cols, r, k0 + i, n - i, dst + i);
}

static const ef_gemm_isa AVX2 = {ukernel_6x16, wrow_avx2};

void ef_k_linear_f32__avx2(const ef_linear_args *a, int ith, int nth) { ef_gemm_linear(a, ith, nth, &AVX2); }

void ef_k_conv2d_f32__avx2(const ef_conv2d_args *a, int ith, int nth) { ef_gemm_conv2d(a, ith, nth, &AVX2); }
