/*
** vmath_avx2.h -- vector math for the AVX2 kernels (8 floats per __m256).
**
** Only included by *_avx2.c files (built with -mavx2 -mfma -mf16c). Every function
** is static inline and pure. Accuracy is stated per function against the libm
** float result; the kernel tests hold the variants to the reference tolerance.
*/
#ifndef EF_KERNELS_X86_VMATH_AVX2_H
#define EF_KERNELS_X86_VMATH_AVX2_H

#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"

/* e^x, x clamped to [-87.3, 88.7]; Cody-Waite range reduction x = n ln2 + r and a
** degree-6 polynomial for e^r (Cephes expf): max rel. error ~2 ulp. */
static inline __m256 ef_v8_exp(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7f), lo = _mm256_set1_ps(-87.3f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Horizontal sum and max of 8 lanes. */
static inline float ef_v8_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float ef_v8_hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 2^x for x <= 127, x clamped below at -125 (so results stay normal floats, >= ~2^-125);
** NaN propagates. For softmax weights 2^(t - max) with t in log2 units: x = n + f with
** n = round(x), and a degree-5 polynomial for 2^f on [-0.5, 0.5] (Chebyshev-node fit,
** max rel. error 2e-7 before rounding, ~3 ulp after); 2^n is added to the exponent
** bits. Cheaper than ef_v8_exp: 5 FMAs, no upper clamp, no final multiply. */
static inline __m256 ef_v8_exp2(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-125.0f), x);   /* NaN in x stays NaN */
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, n);                    /* exact, in [-0.5, 0.5] */
    __m256 p = _mm256_set1_ps(1.3381302537e-3f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6663685154e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5503810138e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022349038e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718056e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));   /* in [0.70, 1.42] */
    __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

/* Lane mask with the first n (0..8) lanes set, for _mm256_maskload_ps/_maskstore_ps. */
static inline __m256i ef_v8_head_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* ---- full-range exp and the activations -------------------------------------------
** Accuracy below was measured against double libm on grids of step 2^-12 (2^-14 for
** tanh, erf, gelu) over the ranges named, plus +-0, +-3e38, +-inf and NaN. NaN stays
** NaN, and +-inf, +-0 and overflow give what ef_act_apply's scalar forms give. */

/* e^x for x >= -86.64, and 2.4e-38 (~e^-86.64) below: the Cephes expf polynomial after a
** Cody-Waite reduction x = n ln2 + r (n from the 1.5 * 2^23 rounding trick), scaled by
** 2^(n-1) with the polynomial doubled, so n = 128 still makes a normal float; x is clamped
** to 89, where the product overflows to +inf as the true value does. For the activations,
** which only need 1 + e^x: max rel. error 1.3 ulp above the floor. */
static inline __m256 ef_v8_exp_core_(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);   /* 1.5 * 2^23 */
    __m256 xc = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-86.64f), x));   /* keeps NaN */
    __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), magic);   /* magic + n */
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    /* 2 e^r = 2 + 2r + r^2 P(r), P in Estrin's scheme (short dependency chains) */
    const __m256 two = _mm256_set1_ps(2.0f);
    __m256 r2 = _mm256_mul_ps(r, r);
    __m256 p01 = _mm256_fmadd_ps(_mm256_set1_ps(2 * 1.6666665459e-1f), r, _mm256_set1_ps(2 * 5.0000001201e-1f));
    __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(2 * 8.3334519073e-3f), r, _mm256_set1_ps(2 * 4.1665795894e-2f));
    __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(2 * 1.9875691500e-4f), r, _mm256_set1_ps(2 * 1.3981999507e-3f));
    __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(p45, r2, p23), r2, p01);
    p = _mm256_fmadd_ps(p, r2, _mm256_fmadd_ps(r, two, two));
    __m256i e = _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(126 - 0x4B400000));   /* n + 126 */
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

/* e^x over the whole float range: max rel. error 1.3 ulp for x >= -86.64 (results from
** 2.4e-38 up); 0 below (flushing results under 2.4e-38, so e^-inf = 0); +inf above
** ln(FLT_MAX); NaN stays NaN. */
static inline __m256 ef_v8_exp_full(__m256 x) {
    return _mm256_and_ps(ef_v8_exp_core_(x), _mm256_cmp_ps(x, _mm256_set1_ps(-86.64f), _CMP_NLT_UQ));
}

/* 1 / (1 + e^-x): max rel. error 3 ulp on [-90, 90]; exactly 0 and 1 at the ends. */
static inline __m256 ef_v8_sigmoid(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, ef_v8_exp_core_(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* x * sigmoid(x), as x / (1 + e^-x): max rel. error 3 ulp for x > -88.7; below, -0 as
** the scalar form (abs. error < 3e-37). */
static inline __m256 ef_v8_silu(__m256 x) {
    __m256 e = ef_v8_exp_core_(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* x * sigmoid(1.702 x) (CLIP's quick_gelu): max rel. error 2.5 ulp for x > -52.1; below,
** -0 as the scalar form. */
static inline __m256 ef_v8_quick_gelu(__m256 x) {
    __m256 e = ef_v8_exp_core_(_mm256_mul_ps(x, _mm256_set1_ps(-1.702f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* tanh x: an odd polynomial (Cephes tanhf) for |x| <= 0.625, else 1 - 2 / (e^2|x| + 1)
** with the sign of x: max rel. error 1.3 ulp on [-10, 10]. */
static inline __m256 ef_v8_tanh(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 ax = _mm256_andnot_ps(sign, x), s = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, s), ax, ax);
    __m256 e = ef_v8_exp_core_(_mm256_add_ps(ax, ax));
    __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    __m256 r = _mm256_blendv_ps(small, big, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_GT_OQ));
    return _mm256_or_ps(r, _mm256_and_ps(sign, x));   /* odd: |tanh| with the sign of x */
}

/* erf in two pieces split at |z| = 0.921875: below, erf z = z + z P(z^2); above,
** erfc t = e^(-t^2 + Q(t)), with Q fitted to log(erfc t) + t^2 on [0.921875, 4] and held
** at Q(4) beyond (erfc(4) = 1.5e-8: the far tail keeps a tiny abs. error). P and Q are
** Lawson (minimax) fits made for this file. P(s), s = z^2, |z| <= 0.921875: */
static inline __m256 ef_v8_erf_p_(__m256 s) {
    __m256 p = _mm256_set1_ps(-6.013421807e-4f);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(4.998007324e-3f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-2.677023597e-2f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.128192768e-1f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(-3.761250675e-1f));
    return _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.283791512e-1f));
}

/* erfc t for t >= 0.921875: max rel. error 22 ulp on [0.92, 4] (the rounding of -t^2 + Q). */
static inline __m256 ef_v8_erfc_tail_(__m256 t) {
    __m256 u = _mm256_min_ps(t, _mm256_set1_ps(4.0f));
    __m256 q = _mm256_set1_ps(1.602485781e-06f);
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-4.535449261e-05f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(5.907144514e-04f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-4.730278160e-03f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.633552812e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-1.099251583e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(3.680046499e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-1.130131483e+00f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.942715364e-04f));
    return ef_v8_exp_full(_mm256_fnmadd_ps(t, t, q));
}

/* erf x: max rel. error 1 ulp on [-6, 6] (abs. 6e-8). */
static inline __m256 ef_v8_erf(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_andnot_ps(sign, x);
    __m256 small = _mm256_fmadd_ps(x, ef_v8_erf_p_(_mm256_mul_ps(x, x)), x);
    __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), ef_v8_erfc_tail_(t));
    big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
    return _mm256_blendv_ps(small, big, _mm256_cmp_ps(t, _mm256_set1_ps(0.921875f), _CMP_GT_OQ));
}

/* 0.5 x (1 + erf(z)), z = x / sqrt 2 rounded as in the scalar form: exact GELU, in one
** piece: 1 + erf z is erfc|z| for z < 0 and 2 - erfc|z| above, with erfc t = e^(-t^2 +
** Q(t)), Q a degree-11 Lawson fit (made for this file) to log(erfc t) + t^2 on [0, 4] in
** u = t - 2, held at Q(4) beyond. Free of the scalar form's cancellation of 1 + erf for
** x << 0: max rel. error 3.3 ulp on [-2, 10], 10 ulp on [-3.8, -2] and 18 ulp on
** [-5.6, -3.8] (the rounding of -t^2 + Q), abs. error < 5e-10 below. */
static inline __m256 ef_v8_gelu(__m256 x) {
    __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 u = _mm256_sub_ps(_mm256_min_ps(t, _mm256_set1_ps(4.0f)), _mm256_set1_ps(2.0f));
    __m256 q = _mm256_set1_ps(7.887409481e-08f);   /* Horner: here fewer ops beat shorter chains */
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-3.394438863e-07f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.236193299e-07f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(2.674534016e-06f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-2.054578908e-05f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(1.338571019e-04f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-7.325687911e-04f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(3.572081449e-03f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-1.646503620e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(7.624871284e-02f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-4.181608260e-01f));
    q = _mm256_fmadd_ps(q, u, _mm256_set1_ps(-1.364941239e+00f));
    __m256 e = ef_v8_exp_full(_mm256_fnmadd_ps(t, t, q));   /* erfc t */
    __m256 w = _mm256_blendv_ps(e, _mm256_sub_ps(_mm256_set1_ps(2.0f), e), _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GT_OQ));
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), w);
}

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3) ("gelu_new"), computed as
** x / (1 + e^(-2u)), the same function without tanh's cancellation: max abs. error
** 5.2e-7 on [-20, 20]; max rel. error 12 ulp on [-3, 20] (the rounding of u). */
static inline __m256 ef_v8_gelu_tanh(__m256 x) {
    const float c2 = -2.0f * 0.79788456080286536f;   /* -2 sqrt(2/pi) */
    __m256 k = _mm256_fmadd_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(c2 * 0.044715f), _mm256_set1_ps(c2));
    __m256 e = ef_v8_exp_core_(_mm256_mul_ps(x, k));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* max(x, 0); NaN and -0 give +0, as the scalar x > 0 ? x : 0. */
static inline __m256 ef_v8_relu(__m256 x) { return _mm256_max_ps(x, _mm256_setzero_ps()); }

/* The activation act on 8 lanes (ef_act_apply's definitions, the accuracy of the
** function named). Kernels call it with a constant act from a switch outside their
** loops, so after inlining the switch folds away. */
static inline __m256 ef_v8_act(ef_act act, __m256 x) {
    switch (act) {
    case EF_ACT_QUICK_GELU: return ef_v8_quick_gelu(x);
    case EF_ACT_GELU:       return ef_v8_gelu(x);
    case EF_ACT_GELU_TANH:  return ef_v8_gelu_tanh(x);
    case EF_ACT_SILU:       return ef_v8_silu(x);
    case EF_ACT_RELU:       return ef_v8_relu(x);
    case EF_ACT_NONE:
    case EF_ACT_COUNT:      break;
    }
    return x;
}

/* The 8 x 8 block at src (row stride lds) transposed into dst (row stride ldd). */
static inline void ef_v8_transpose_8x8(const float *src, int64_t lds, float *dst, int64_t ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds);
    __m256 r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
    __m256 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

#endif /* EF_KERNELS_X86_VMATH_AVX2_H */
