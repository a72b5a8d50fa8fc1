/*
** peak_avx2.c -- fp32 FMA throughput with AVX2 (compiled with -mavx2 -mfma by the
** Makefile; call it only when the CPU has AVX2 and FMA).
**
** Twelve independent 8-lane accumulators: an FMA has a latency of 4-5 cycles and two
** issue ports on Zen 2+ and Haswell+, so at least ten chains are needed to keep both
** ports busy every cycle. Each iteration is 12 FMAs x 8 lanes x 2 flops = 192 flops.
** acc = acc * a + b with a slightly below 1 converges to b / (1 - a): no overflow,
** no denormals, whatever the iteration count.
**
** ef_bench_peak_i16: twelve int32 accumulators, each acc += vpmaddwd(a, b) per
** iteration (16 int16 products summed in pairs); the adds chain with latency 1, the
** multiply-adds are independent, so the multiply ports set the rate.
*/
#include <immintrin.h>

#include "peak.h"

const char *ef_bench_peak_name(void) { return "avx2 fma, 12 x 8 lanes"; }

double ef_bench_peak_fma(int64_t n_iter, float *sink) {
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(0.1f), c2 = _mm256_set1_ps(0.2f);
    __m256 c3 = _mm256_set1_ps(0.3f), c4 = _mm256_set1_ps(0.4f), c5 = _mm256_set1_ps(0.5f);
    __m256 c6 = _mm256_set1_ps(0.6f), c7 = _mm256_set1_ps(0.7f), c8 = _mm256_set1_ps(0.8f);
    __m256 c9 = _mm256_set1_ps(0.9f), c10 = _mm256_set1_ps(1.0f), c11 = _mm256_set1_ps(1.1f);
    for (int64_t i = 0; i < n_iter; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b);
        c1 = _mm256_fmadd_ps(c1, a, b);
        c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b);
        c4 = _mm256_fmadd_ps(c4, a, b);
        c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b);
        c7 = _mm256_fmadd_ps(c7, a, b);
        c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b);
        c10 = _mm256_fmadd_ps(c10, a, b);
        c11 = _mm256_fmadd_ps(c11, a, b);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    float t = 0.0f;
    for (int l = 0; l < 8; l++) t += lanes[l];
    *sink = t;
    return (double)n_iter * 12.0 * 8.0 * 2.0;
}

double ef_bench_peak_i16(int64_t n_iter, float *sink) {
    const __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-2);
    __m256i c[12];
    for (int i = 0; i < 12; i++) c[i] = _mm256_set1_epi32(i);
    for (int64_t it = 0; it < n_iter; it++) {
        __m256i m = _mm256_madd_epi16(a, b);
        __asm__ volatile("" : "+x"(m));   /* one product vector per accumulator, not hoisted */
        c[0] = _mm256_add_epi32(c[0], _mm256_madd_epi16(m, b));
        c[1] = _mm256_add_epi32(c[1], _mm256_madd_epi16(m, a));
        c[2] = _mm256_add_epi32(c[2], _mm256_madd_epi16(a, m));
        c[3] = _mm256_add_epi32(c[3], _mm256_madd_epi16(b, m));
        c[4] = _mm256_add_epi32(c[4], _mm256_madd_epi16(m, m));
        c[5] = _mm256_add_epi32(c[5], _mm256_madd_epi16(m, b));
        c[6] = _mm256_add_epi32(c[6], _mm256_madd_epi16(m, b));
        c[7] = _mm256_add_epi32(c[7], _mm256_madd_epi16(m, a));
        c[8] = _mm256_add_epi32(c[8], _mm256_madd_epi16(a, m));
        c[9] = _mm256_add_epi32(c[9], _mm256_madd_epi16(b, m));
        c[10] = _mm256_add_epi32(c[10], _mm256_madd_epi16(m, m));
        c[11] = _mm256_add_epi32(c[11], _mm256_madd_epi16(m, a));
    }
    __m256i s = c[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_epi32(s, c[i]);
    int lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, s);
    int t = 0;
    for (int l = 0; l < 8; l++) t += lanes[l];
    *sink = (float)t;
    return (double)n_iter * 13.0 * 16.0 * 2.0;   /* 13 vpmaddwd of 16 products each */
}
