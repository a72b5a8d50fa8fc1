/*
** gemm_avx2.c -- the AVX2+FMA micro-kernel of the blocked GEMM (kernels/gemm/gemm.h)
** and the linear and conv2d kernels built on it.
**
** 6 x 16 tile: 12 ymm accumulators, 2 ymm for the panel row, 1 for the broadcast A
** value (15 of 16 registers); per k: 2 loads, 6 broadcasts (from one 24-byte group of
** the packed A tile), 12 FMAs. Each accumulator
** sums its k in order with FMA, so the result is independent of the thread split.
*/
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/x86/vmath_avx2.h"
#include "kernels/gemm/winograd_impl.h"   /* compiled here, for this ISA */

static void ukernel_6x16(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate,
                         const float *bias) {
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
    __m256 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int i = 0; i < EF_GEMM_MR; i++, c += ldc) {
        __m256 v0 = acc[2 * i], v1 = acc[2 * i + 1];
        if (accumulate) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
        }
        if (bias) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(bias));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(bias + 8));
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

/* ef_gemm_pack_wt_fn: 8 x 8 register transposes (narrow types widened row by row
** first); was a scalar strided copy, 5% of a UNet step (the FF weights are packed
** again for every row chunk). */
static void pack_wt_avx2(const void *w, ef_wtype t, int64_t N, int64_t K, int64_t n0, int64_t k0, int64_t kc, float *dst) {
    _Alignas(32) float rows[EF_GEMM_NR * EF_GEMM_KC];   /* narrow rows widened: (NR, kc) */
    const float *src = (const float *)w + n0 * K + k0;
    int64_t lds = K;
    if (t != EF_W_F32) {
        for (int j = 0; j < EF_GEMM_NR; j++) wrow_avx2(w, t, N, K, n0 + j, k0, kc, rows + j * kc);
        src = rows;
        lds = kc;
    }
    /* the next panel's rows (W's next NR rows, same k range), a cache line per row per
    ** 16 k: fetched while this one is transposed, they are in cache for the next call */
    const float *next = t == EF_W_F32 && n0 + 2 * EF_GEMM_NR <= N ? src + EF_GEMM_NR * lds : NULL;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        if (next && k % 16 == 0)
            for (int j = 0; j < EF_GEMM_NR; j++) _mm_prefetch((const char *)(next + j * lds + k), _MM_HINT_T0);
        for (int h = 0; h < EF_GEMM_NR; h += 8) ef_v8_transpose_8x8(src + h * lds + k, lds, dst + k * EF_GEMM_NR + h, EF_GEMM_NR);
    }
    for (; k < kc; k++)
        for (int j = 0; j < EF_GEMM_NR; j++) dst[k * EF_GEMM_NR + j] = src[j * lds + k];
}

static const ef_gemm_isa AVX2 = {ukernel_6x16, wrow_avx2, pack_wt_avx2};

void ef_k_linear_f32__avx2(const ef_linear_args *a, int ith, int nth) { ef_gemm_linear(a, ith, nth, &AVX2); }

/* ---- few output channels: direct convolution ------------------------------------
** With Cout <= 4 (a VAE's or TAESD's RGB output, the UNet's conv_out) a GEMM row tile
** is mostly padding and each packed panel serves one tile. Instead, one output row at
** a time: its Cout x Wo sums stay in an L1 buffer while every (ci, ky) input row is
** copied once with its zero padding and swept by the KW taps x Cout weights, 8
** outputs per FMA. Stride 1, Wo <= SMALL_WO_MAX. */
enum { SMALL_COUT = 4, SMALL_W_MAX = 8192, SMALL_WO_MAX = 1024, SMALL_PAD_MAX = 8 };

/* acc[co][x] += sum_kx wk[co * wstride + kx] * rp[x + kx] for the nv vectors of a row;
** C is a constant after inlining. */
static inline __attribute__((always_inline)) void small_row_taps(float acc[][SMALL_WO_MAX], const float *rp,
                                                               const float *wk, int64_t wstride, int64_t KW, int64_t nv,
                                                               const int C) {
    for (int64_t v = 0; v < nv; v++) {
        __m256 s[SMALL_COUT];
        for (int co = 0; co < C; co++) s[co] = _mm256_load_ps(acc[co] + 8 * v);
        for (int64_t kx = 0; kx < KW; kx++) {
            const __m256 xv = _mm256_loadu_ps(rp + 8 * v + kx);
            for (int co = 0; co < C; co++) s[co] = _mm256_fmadd_ps(_mm256_broadcast_ss(wk + co * wstride + kx), xv, s[co]);
        }
        for (int co = 0; co < C; co++) _mm256_store_ps(acc[co] + 8 * v, s[co]);
    }
}

static void conv2d_small_cout(const ef_conv2d_args *a, const float *w, int ith, int nth) {
    _Alignas(32) float acc[SMALL_COUT][SMALL_WO_MAX];
    _Alignas(32) float rp[SMALL_WO_MAX + 2 * SMALL_PAD_MAX + 8];   /* one padded input row */
    const int64_t Cout = a->Cout, H = a->H, W = a->W, Wo = a->Wo, p = a->pad, KK = a->KH * a->KW;
    const int64_t nv = (Wo + 7) / 8;   /* vectors per output row; the last may run past Wo */
    long r0, r1;
    ef_split_rows((long)a->Ho, ith, nth, &r0, &r1);
    memset(rp, 0, sizeof rp);   /* the padding around [p, p + W) stays zero; rows fill the middle */
    for (int64_t oy = r0; oy < r1; oy++) {
        for (int64_t co = 0; co < Cout; co++) memset(acc[co], 0, (size_t)nv * 8 * sizeof(float));
        for (int64_t ci = 0; ci < a->Cin; ci++)
            for (int64_t ky = 0; ky < a->KH; ky++) {
                const int64_t iy = oy + ky - p;
                if (iy < 0 || iy >= H) continue;
                memcpy(rp + p, a->x + (ci * H + iy) * W, (size_t)W * sizeof(float));
                const float *wk = w + ci * KK + ky * a->KW;   /* tap (co, kx) at wk[co * Cin * KK + kx] */
                switch (Cout) {   /* a constant channel count keeps the sums in registers */
                case 1: small_row_taps(acc, rp, wk, a->Cin * KK, a->KW, nv, 1); break;
                case 2: small_row_taps(acc, rp, wk, a->Cin * KK, a->KW, nv, 2); break;
                case 3: small_row_taps(acc, rp, wk, a->Cin * KK, a->KW, nv, 3); break;
                default: small_row_taps(acc, rp, wk, a->Cin * KK, a->KW, nv, 4); break;
                }
            }
        for (int64_t co = 0; co < Cout; co++) {
            const float bias = a->b ? a->b[co] : 0.0f;
            const int64_t o = (co * a->Ho + oy) * Wo;
            for (int64_t x = 0; x < Wo; x++) {
                float v = ef_act_apply(a->act, acc[co][x] + bias);
                a->y[o + x] = a->r ? v + a->r[o + x] : v;
            }
        }
    }
}

void ef_k_conv2d_f32__avx2(const ef_conv2d_args *a, int ith, int nth) {
    const int64_t K = a->Cin * a->KH * a->KW;
    if (a->Cout <= SMALL_COUT && a->stride == 1 && a->Cout * K <= SMALL_W_MAX && a->Wo <= SMALL_WO_MAX &&
        a->pad <= SMALL_PAD_MAX && a->KW <= 2 * a->pad + 1 && a->r != a->y) {
        float w[SMALL_W_MAX];   /* the weights as f32, whatever their storage */
        for (int64_t co = 0; co < a->Cout; co++) wrow_avx2(a->w, a->wt, a->Cout, K, co, 0, K, w + co * K);
        conv2d_small_cout(a, w, ith, nth);
        return;
    }
    if (ef_winograd_applies(a)) winograd_conv2d(a, ith, nth, &AVX2);
    else ef_gemm_conv2d(a, ith, nth, &AVX2);
}
