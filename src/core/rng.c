/*
** rng.c -- PyTorch's CPU generator (mt19937) and torch.randn(float32), bit for bit.
**
** Sources reproduced (torch 2.15, same code since 2.1):
**   aten/src/ATen/core/MT19937RNGEngine.h     seeding, twist, tempering
**   aten/src/ATen/CPUGeneratorImpl.cpp        random(), random64(), normal-sample cache
**   aten/src/ATen/core/TransformationHelper.h uniform_real: (bits & (2^digits-1)) * 2^-digits
**   aten/src/ATen/core/DistributionsHelper.h  normal_distribution<double> (numel < 16)
**   aten/src/ATen/native/cpu/DistributionTemplates.h  normal_fill / NormalFill16
**   aten/src/ATen/native/cpu/avx_mathfun.h    log256_ps, sincos256_ps (Cephes)
** The AVX2 kernel is emulated lane by lane in scalar C. torch's AVX2 objects are built
** by GCC with -mfma and the default -ffp-contract=fast, so a product whose only use is
** an add/sub became one fused multiply-add (when both addends are products, the first
** in program order is fused); those sites use fmaf() here, as listed at each helper.
** Checked bit-exact against torch on 64M draws. This file must itself not be
** contracted: each rounding is a separate statement (C11 mode, where GCC's default is
** -ffp-contract=off; clang only contracts within one expression).
*/
#include "core/rng.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- mt19937 engine */

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UMASK 0x80000000u
#define MT_LMASK 0x7fffffffu

void ef_rng_init(ef_rng *r, uint64_t seed, ef_rng_flavor flavor) {
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->flavor = flavor;
    r->state[0] = (uint32_t)(seed & 0xffffffffu);     /* torch drops the high 32 bits */
    for (uint32_t j = 1; j < EF_RNG_MT_N; j++) {
        uint32_t p = r->state[j - 1];
        r->state[j] = 1812433253u * (p ^ (p >> 30)) + j;
    }
    r->left = 1;
    r->next = 0;
    r->has_normal = 0;
}

static uint32_t twist(uint32_t u, uint32_t v) {
    uint32_t mix = (u & MT_UMASK) | (v & MT_LMASK);
    return (mix >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

static void next_state(ef_rng *r) {
    uint32_t *s = r->state;
    r->left = EF_RNG_MT_N;
    r->next = 0;
    int i = 0;
    for (; i < EF_RNG_MT_N - MT_M; i++) s[i] = s[i + MT_M] ^ twist(s[i], s[i + 1]);
    for (; i < EF_RNG_MT_N - 1; i++) s[i] = s[i + MT_M - EF_RNG_MT_N] ^ twist(s[i], s[i + 1]);
    s[i] = s[i + MT_M - EF_RNG_MT_N] ^ twist(s[i], s[0]);
}

uint32_t ef_rng_u32(ef_rng *r) {
    if (--r->left == 0) next_state(r);
    uint32_t y = r->state[r->next++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

uint64_t ef_rng_u64(ef_rng *r) {
    uint64_t hi = ef_rng_u32(r);
    uint64_t lo = ef_rng_u32(r);
    return (hi << 32) | lo;
}

/* uniform_real_distribution<float>(0, 1): 24 random bits, exact in float. */
static float uniform_f32(ef_rng *r) {
    uint32_t v = ef_rng_u32(r) & ((1u << 24) - 1u);
    return (float)v * (1.0f / 16777216.0f);
}

/* uniform_real_distribution<double>(0, 1): 53 bits of random64(). */
static double uniform_f64(ef_rng *r) {
    uint64_t v = ef_rng_u64(r) & ((UINT64_C(1) << 53) - 1u);
    return (double)v * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------- avx_mathfun.h, one lane, GCC-contracted */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* log256_ps for one lane. Fused sites: the Horner steps y*x + p_k, and
** (y*x)*z + e*q1 (the second product e*q1 is rounded on its own). z*0.5 and e*q2 are
** exact products, so fusing them or not changes nothing. */
static float cephes_logf(float x) {
    int invalid = x <= 0.0f;                            /* _CMP_LE_OS (NaN: false) */
    float min_norm = u2f(0x00800000u);
    x = x > min_norm ? x : min_norm;                    /* _mm256_max_ps(x, min_norm) */
    uint32_t bits = f2u(x);
    int32_t imm0 = (int32_t)(bits >> 23);
    bits = (bits & ~0x7f800000u) | f2u(0.5f);
    x = u2f(bits);
    imm0 -= 0x7f;
    float e = (float)imm0;
    e = e + 1.0f;
    const float sqrthf = 0.707106781186547524f;
    float tmp = x < sqrthf ? x : 0.0f;
    float emask = x < sqrthf ? 1.0f : 0.0f;
    x = x - 1.0f;
    e = e - emask;
    x = x + tmp;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, +1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, +2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, +3.3333331174E-1f);
    y = y * x;
    float eq1 = e * -2.12194440e-4f;
    y = fmaf(y, z, eq1);
    y = fmaf(-z, 0.5f, y);
    x = x + y;
    x = fmaf(e, 0.693359375f, x);
    if (invalid) x = u2f(f2u(x) | 0xffffffffu);         /* or with an all-ones mask: NaN */
    return x;
}

/* sincos256_ps for one lane. Fused sites: the three Cody-Waite steps x + y*DPk, both
** Horner chains, ((yc*z)*z) - z*0.5 as fma(yc*z, z, -(z*0.5)), and y2*x + x. */
static void cephes_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin = f2u(x) & 0x80000000u;
    x = u2f(f2u(x) & 0x7fffffffu);
    float y = x * 1.27323954473516f;                    /* 4/pi */
    int32_t j = (int32_t)y;                             /* cvttps (|x| small here) */
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t swap_sin = (uint32_t)(j & 4) << 29;
    int poly = (j & 2) == 0;
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
    sign_sin ^= swap_sin;

    float z = x * x;
    float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    float zh = z * 0.5f;
    yc = fmaf(yc, z, -zh);
    yc = yc + 1.0f;

    float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);

    /* the selection, with its +0 additions (they matter only for the sign of zero) */
    float ysin2 = poly ? ys : 0.0f;
    float ysin1 = poly ? 0.0f : yc;
    ys = ys - ysin2;
    yc = yc - ysin1;
    float vs = ysin1 + ysin2;
    float vc = yc + ys;
    *s = u2f(f2u(vs) ^ sign_sin);
    *c = u2f(f2u(vc) ^ sign_cos);
}

/* NormalFill16<float, true> (AVX2): d (16,) uniforms in [0,1) -> 16 normals. */
static void normal16_avx2(float *d) {
    const float two_pi = (float)(2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float lg = cephes_logf(u1);
        float radius = sqrtf(-2.0f * lg);
        float theta = two_pi * u2;
        float sn, cs;
        cephes_sincosf(theta, &sn, &cs);
        float n1 = radius * cs;
        float n2 = radius * sn;
        d[j] = n1 + 0.0f;                               /* fmadd(n1, std=1, mean=0) */
        d[j + 8] = n2 + 0.0f;
    }
}

/* NormalFill16<float> primary template (scalar): theta is formed in double. */
static void normal16_scalar(float *d) {
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j];
        float u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * 3.14159265358979323846 * (double)u2);
        float n1 = radius * cosf(theta);
        float n2 = radius * sinf(theta);
        d[j] = n1 + 0.0f;                               /* fma(n1, std=1, mean=0) */
        d[j + 8] = n2 + 0.0f;
    }
}

/* at::normal_distribution<double>(0, 1) with the generator's one-sample cache. */
static double normal_f64(ef_rng *r) {
    if (r->has_normal) {
        r->has_normal = 0;
        return r->normal * 1.0 + 0.0;
    }
    double u1 = uniform_f64(r);
    double u2 = uniform_f64(r);
    double rad = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * 3.14159265358979323846 * u1;
    r->normal = rad * sin(theta);
    r->has_normal = 1;
    double v = rad * cos(theta);
    return v * 1.0 + 0.0;
}

void ef_rng_randn(ef_rng *r, float *out, size_t n) {
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_f64(r);
        return;
    }
    void (*fill16)(float *) = r->flavor == EF_RNG_TORCH_SCALAR ? normal16_scalar : normal16_avx2;
    for (size_t i = 0; i < n; i++) out[i] = uniform_f32(r);
    for (size_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16 != 0) {                                  /* recompute the last 16 values */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f32(r);
        fill16(tail);
    }
}
