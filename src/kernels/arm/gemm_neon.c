/*
** gemm_neon.c -- the AArch64 NEON micro-kernel of the blocked GEMM (kernels/gemm/gemm.h)
** and the linear and conv2d kernels built on it.
**
** 6 x 16 tile: 24 float32x4 accumulators, 4 for the panel row, and the A values as
** scalars multiplied by lane (fmla v.4s, v.4s, v.s[0]), two in flight: 30 of the 32
** vector registers, so nothing spills. Per k: 4 panel loads, 6 A loads, 24 FMAs. Each
** accumulator sums its k in order with FMA, so the result is independent of the thread
** split (the same contract as the AVX2 ukernel_6x16). Narrow weights (f16, bf16, q8)
** are widened to f32 by wrow_neon while the driver packs them. NEON is part of the
** AArch64 base ISA: no compiler flags.
*/
#include <arm_neon.h>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/winograd_impl.h"   /* compiled here, for this ISA */

/* An empty asm with a memory clobber: loads written after it are not hoisted above it. */
static inline __attribute__((always_inline)) void load_fence(void) { __asm__ volatile("" ::: "memory"); }

/* c (6, 16), row stride ldc, [+]= ap (packed: ap[k * 6 + i]) . bp (kc, 16).
** Per k, the A value of row i + 1 is loaded while row i's FMAs run, and no earlier:
** left alone, GCC hoists all six A loads to the top of the iteration, which needs
** 24 + 4 + 6 = 34 registers and spills three accumulators to the stack every k. */
static void ukernel_6x16(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate,
                         const float *bias) {
    float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c02 = c00, c03 = c00;
    float32x4_t c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    float32x4_t c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    float32x4_t c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    float32x4_t c40 = c00, c41 = c00, c42 = c00, c43 = c00;
    float32x4_t c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    for (int64_t k = 0; k < kc; k++, bp += EF_GEMM_NR, ap += EF_GEMM_MR) {
        const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), b2 = vld1q_f32(bp + 8), b3 = vld1q_f32(bp + 12);
        float t0 = ap[0], t1;
        load_fence();
        t1 = ap[1];
        c00 = vfmaq_n_f32(c00, b0, t0); c01 = vfmaq_n_f32(c01, b1, t0);
        c02 = vfmaq_n_f32(c02, b2, t0); c03 = vfmaq_n_f32(c03, b3, t0);
        load_fence();
        t0 = ap[2];
        c10 = vfmaq_n_f32(c10, b0, t1); c11 = vfmaq_n_f32(c11, b1, t1);
        c12 = vfmaq_n_f32(c12, b2, t1); c13 = vfmaq_n_f32(c13, b3, t1);
        load_fence();
        t1 = ap[3];
        c20 = vfmaq_n_f32(c20, b0, t0); c21 = vfmaq_n_f32(c21, b1, t0);
        c22 = vfmaq_n_f32(c22, b2, t0); c23 = vfmaq_n_f32(c23, b3, t0);
        load_fence();
        t0 = ap[4];
        c30 = vfmaq_n_f32(c30, b0, t1); c31 = vfmaq_n_f32(c31, b1, t1);
        c32 = vfmaq_n_f32(c32, b2, t1); c33 = vfmaq_n_f32(c33, b3, t1);
        load_fence();
        t1 = ap[5];
        c40 = vfmaq_n_f32(c40, b0, t0); c41 = vfmaq_n_f32(c41, b1, t0);
        c42 = vfmaq_n_f32(c42, b2, t0); c43 = vfmaq_n_f32(c43, b3, t0);
        c50 = vfmaq_n_f32(c50, b0, t1); c51 = vfmaq_n_f32(c51, b1, t1);
        c52 = vfmaq_n_f32(c52, b2, t1); c53 = vfmaq_n_f32(c53, b3, t1);
    }
    const float32x4_t acc[24] = {c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23,
                                 c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53};
    for (int i = 0; i < EF_GEMM_MR; i++, c += ldc) {
        for (int q = 0; q < 4; q++) {
            float32x4_t v = acc[4 * i + q];
            if (accumulate) v = vaddq_f32(v, vld1q_f32(c + 4 * q));
            if (bias) v = vaddq_f32(v, vld1q_f32(bias + 4 * q));
            vst1q_f32(c + 4 * q, v);
        }
    }
}

/* ef_wmat_row_f32 with 8 elements per step (fcvtl for f16, a 16-bit shift for bf16,
** sign-extending int8 widening for q8): the same values as the portable converter. */
static void wrow_neon(const void *w, ef_wtype t, int64_t rows, int64_t cols, int64_t r, int64_t k0, int64_t n,
                      float *dst) {
    const size_t at = (size_t)r * (size_t)cols + (size_t)k0;
    int64_t i = 0;
    switch (t) {
    case EF_W_F16: {
        const uint16_t *h = (const uint16_t *)w + at;
        for (; i + 8 <= n; i += 8) {
            uint16x8_t v = vld1q_u16(h + i);
            vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(v))));
            vst1q_f32(dst + i + 4, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(v))));
        }
        break;
    }
    case EF_W_BF16: {
        const uint16_t *h = (const uint16_t *)w + at;
        for (; i + 8 <= n; i += 8) {
            uint16x8_t v = vld1q_u16(h + i);
            vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16)));
            vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(v), 16)));
        }
        break;
    }
    case EF_W_Q8: {
        const int8_t *q = (const int8_t *)w + at;
        const float s = ef_wmat_q8_scales(w, rows, cols)[r];
        for (; i + 8 <= n; i += 8) {
            int16x8_t v = vmovl_s8(vld1_s8(q + i));
            vst1q_f32(dst + i, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(v))), s));
            vst1q_f32(dst + i + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(v))), s));
        }
        break;
    }
    case EF_W_F32:
    case EF_W_COUNT: break;
    }
    if (i < n) ef_wmat_row_f32(w, t, rows, cols, r, k0 + i, n - i, dst + i);
}

static const ef_gemm_isa NEON = {ukernel_6x16, wrow_neon, NULL};

void ef_k_linear_f32__neon(const ef_linear_args *a, int ith, int nth) { ef_gemm_linear(a, ith, nth, &NEON); }

void ef_k_conv2d_f32__neon(const ef_conv2d_args *a, int ith, int nth) {
    if (ef_winograd_applies(a)) winograd_conv2d(a, ith, nth, &NEON);
    else ef_gemm_conv2d(a, ith, nth, &NEON);
}
