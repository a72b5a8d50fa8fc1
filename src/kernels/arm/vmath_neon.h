/*
** vmath_neon.h -- vector math for the AArch64 NEON kernels (4 floats per float32x4_t).
**
** Only included by the *_neon.c files of src/kernels/arm/. Every function is static inline and pure.
** The forms and polynomials are those of x86/vmath_avx2.h (their accuracy is stated
** and measured there), written with NEON intrinsics; the kernel tests hold every
** variant to the reference tolerance. NaN stays NaN; +-inf, +-0 and overflow give what
** ef_act_apply's scalar forms give.
*/
#ifndef EF_KERNELS_ARM_VMATH_NEON_H
#define EF_KERNELS_ARM_VMATH_NEON_H

#include <arm_neon.h>

#include "kernels/kernels.h"

/* c + a * b, c - a * b (fused). */
static inline float32x4_t ef_v4_fma(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmaq_f32(c, a, b); }
static inline float32x4_t ef_v4_fnma(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmsq_f32(c, a, b); }

/* e^x for x >= -86.64, and ~2.4e-38 below: x clamped to [-86.64, 89], x = n ln2 + r
** (Cody-Waite), 2 e^r = 2 + 2r + r^2 P(r) (Cephes expf, Estrin), scaled by 2^(n-1) so
** n = 128 still makes a normal float and 89 overflows to +inf as e^89 does. Max rel.
** error 1.3 ulp above the floor. For the activations, which only need 1 + e^x. */
static inline float32x4_t ef_v4_exp_core_(float32x4_t x) {
    float32x4_t xc = vminq_f32(vdupq_n_f32(89.0f), vmaxq_f32(vdupq_n_f32(-86.64f), x));   /* keeps NaN */
    float32x4_t n = vrndnq_f32(vmulq_n_f32(xc, 1.44269504088896341f));
    float32x4_t r = ef_v4_fnma(n, vdupq_n_f32(0.693359375f), xc);
    r = ef_v4_fnma(n, vdupq_n_f32(-2.12194440e-4f), r);
    const float32x4_t two = vdupq_n_f32(2.0f);
    float32x4_t r2 = vmulq_f32(r, r);
    float32x4_t p01 = ef_v4_fma(vdupq_n_f32(2 * 1.6666665459e-1f), r, vdupq_n_f32(2 * 5.0000001201e-1f));
    float32x4_t p23 = ef_v4_fma(vdupq_n_f32(2 * 8.3334519073e-3f), r, vdupq_n_f32(2 * 4.1665795894e-2f));
    float32x4_t p45 = ef_v4_fma(vdupq_n_f32(2 * 1.9875691500e-4f), r, vdupq_n_f32(2 * 1.3981999507e-3f));
    float32x4_t p = ef_v4_fma(ef_v4_fma(p45, r2, p23), r2, p01);
    p = ef_v4_fma(p, r2, ef_v4_fma(r, two, two));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(126)), 23);   /* 2^(n-1) */
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* e^x over the whole float range: as ef_v4_exp_core_ for x >= -86.64, 0 below (so
** e^-inf = 0), +inf above ln(FLT_MAX), NaN stays NaN. */
static inline float32x4_t ef_v4_exp_full(float32x4_t x) {
    uint32x4_t below = vcltq_f32(x, vdupq_n_f32(-86.64f));   /* false for NaN */
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(ef_v4_exp_core_(x)), below));
}

/* x * sigmoid(x), as x / (1 + e^-x): max rel. error 3 ulp for x > -88.7; below, -0. */
static inline float32x4_t ef_v4_silu(float32x4_t x) {
    float32x4_t e = ef_v4_exp_core_(vnegq_f32(x));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), e));
}

/* x * sigmoid(1.702 x) (CLIP's quick_gelu). */
static inline float32x4_t ef_v4_quick_gelu(float32x4_t x) {
    float32x4_t e = ef_v4_exp_core_(vmulq_n_f32(x, -1.702f));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), e));
}

/* 0.5 x (1 + erf(x / sqrt 2)) in one piece: 1 + erf z is erfc|z| for z < 0 and
** 2 - erfc|z| above, erfc t = e^(-t^2 + Q(t)), Q the degree-11 fit of vmath_avx2.h's
** ef_v8_gelu (u = min(t, 4) - 2). */
static inline float32x4_t ef_v4_gelu(float32x4_t x) {
    float32x4_t z = vmulq_n_f32(x, 0.70710678118654752f);
    float32x4_t t = vabsq_f32(z);
    float32x4_t u = vsubq_f32(vminq_f32(t, vdupq_n_f32(4.0f)), vdupq_n_f32(2.0f));
    float32x4_t q = vdupq_n_f32(7.887409481e-08f);
    q = ef_v4_fma(q, u, vdupq_n_f32(-3.394438863e-07f));
    q = ef_v4_fma(q, u, vdupq_n_f32(1.236193299e-07f));
    q = ef_v4_fma(q, u, vdupq_n_f32(2.674534016e-06f));
    q = ef_v4_fma(q, u, vdupq_n_f32(-2.054578908e-05f));
    q = ef_v4_fma(q, u, vdupq_n_f32(1.338571019e-04f));
    q = ef_v4_fma(q, u, vdupq_n_f32(-7.325687911e-04f));
    q = ef_v4_fma(q, u, vdupq_n_f32(3.572081449e-03f));
    q = ef_v4_fma(q, u, vdupq_n_f32(-1.646503620e-02f));
    q = ef_v4_fma(q, u, vdupq_n_f32(7.624871284e-02f));
    q = ef_v4_fma(q, u, vdupq_n_f32(-4.181608260e-01f));
    q = ef_v4_fma(q, u, vdupq_n_f32(-1.364941239e+00f));
    float32x4_t e = ef_v4_exp_full(ef_v4_fnma(t, t, q));   /* erfc t */
    float32x4_t w = vbslq_f32(vcgtq_f32(z, vdupq_n_f32(0.0f)), vsubq_f32(vdupq_n_f32(2.0f), e), e);
    return vmulq_f32(vmulq_n_f32(x, 0.5f), w);
}

/* 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3) ("gelu_new"), as x / (1 + e^-2u). */
static inline float32x4_t ef_v4_gelu_tanh(float32x4_t x) {
    const float c2 = -2.0f * 0.79788456080286536f;   /* -2 sqrt(2/pi) */
    float32x4_t k = ef_v4_fma(vmulq_f32(x, x), vdupq_n_f32(c2 * 0.044715f), vdupq_n_f32(c2));
    float32x4_t e = ef_v4_exp_core_(vmulq_f32(x, k));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), e));
}

/* x > 0 ? x : 0, as the scalar form: NaN and -0 give +0 (fmax would keep the NaN). */
static inline float32x4_t ef_v4_relu(float32x4_t x) {
    return vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(x, vdupq_n_f32(0.0f)), vreinterpretq_u32_f32(x)));
}

/* The activation act on 4 lanes. Kernels call it with a constant act from a switch
** outside their loops, so after inlining the switch folds away. */
static inline float32x4_t ef_v4_act(ef_act act, float32x4_t x) {
    switch (act) {
    case EF_ACT_QUICK_GELU: return ef_v4_quick_gelu(x);
    case EF_ACT_GELU:       return ef_v4_gelu(x);
    case EF_ACT_GELU_TANH:  return ef_v4_gelu_tanh(x);
    case EF_ACT_SILU:       return ef_v4_silu(x);
    case EF_ACT_RELU:       return ef_v4_relu(x);
    case EF_ACT_NONE:
    case EF_ACT_COUNT:      break;
    }
    return x;
}

/* The first n (0..4) floats of p as a vector, zeros after; and the store of its first n. */
static inline float32x4_t ef_v4_load_head(const float *p, int64_t n) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t i = 0; i < n; i++) t[i] = p[i];
    return vld1q_f32(t);
}
static inline void ef_v4_store_head(float *p, int64_t n, float32x4_t v) {
    float t[4];
    vst1q_f32(t, v);
    for (int64_t i = 0; i < n; i++) p[i] = t[i];
}

#endif /* EF_KERNELS_ARM_VMATH_NEON_H */
