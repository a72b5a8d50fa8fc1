/*
** eltwise_avx2.c -- AVX2+FMA kernels of the memory-bound elementwise ops: act, add,
** row softmax, GEGLU and nearest 2x upsampling.
**
** Same contracts as src/kernels/ref/ (act_ref.c, softmax_ref.c, geglu_ref.c, conv2d_ref.c
** for upsample2x). In act, softmax and GEGLU every element, the tail of a range too, goes
** through the same 8-lane code (the tail with masked loads and stores), so a result never
** depends on where a thread's range starts: 1 and 3 threads give identical bits (add and
** upsample2x only add or copy, which is exact either way). The activations are the vector
** forms of vmath_avx2.h (their accuracy is stated there), so act and GEGLU match the
** scalar ef_act_apply within a few ulp, not bit for bit.
*/
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/x86/vmath_avx2.h"

/* ---- act ---------------------------------------------------------------------- */

/* y (n) = act(x (n)); y may equal x. Called with a constant act from act_span only, so
** each case below gets its own loop with the activation inlined. */
static inline __attribute__((always_inline)) void act_loop(ef_act act, const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        _mm256_storeu_ps(y + i, ef_v8_act(act, v0));
        _mm256_storeu_ps(y + i + 8, ef_v8_act(act, v1));
    }
    for (; i < n; i += 8) {
        __m256i m = ef_v8_head_mask(n - i < 8 ? (int)(n - i) : 8);
        _mm256_maskstore_ps(y + i, m, ef_v8_act(act, _mm256_maskload_ps(x + i, m)));
    }
}

static void act_span(ef_act act, const float *x, float *y, int64_t n) {
    switch (act) {
    case EF_ACT_QUICK_GELU: act_loop(EF_ACT_QUICK_GELU, x, y, n); break;
    case EF_ACT_GELU:       act_loop(EF_ACT_GELU, x, y, n); break;
    case EF_ACT_GELU_TANH:  act_loop(EF_ACT_GELU_TANH, x, y, n); break;
    case EF_ACT_SILU:       act_loop(EF_ACT_SILU, x, y, n); break;
    case EF_ACT_RELU:       act_loop(EF_ACT_RELU, x, y, n); break;
    case EF_ACT_NONE:
    case EF_ACT_COUNT:      act_loop(EF_ACT_NONE, x, y, n); break;
    }
}

/* Thread ith's range of y (n) = act(x (n)). */
void ef_k_act_f32__avx2(const ef_act_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    if (a->act == EF_ACT_NONE && a->y == a->x) return;
    act_span(a->act, a->x + i0, a->y + i0, (int64_t)(i1 - i0));
}

/* ---- add ---------------------------------------------------------------------- */

/* Thread ith's range of y (n) = a (n) + b (n). */
void ef_k_add_f32__avx2(const ef_add_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    const float *pa = a->a, *pb = a->b;
    float *y = a->y;
    long i = i0;
    for (; i + 16 <= i1; i += 16) {
        __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(pa + i), _mm256_loadu_ps(pb + i));
        __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(pa + i + 8), _mm256_loadu_ps(pb + i + 8));
        _mm256_storeu_ps(y + i, s0);
        _mm256_storeu_ps(y + i + 8, s1);
    }
    for (; i < i1; i++) y[i] = pa[i] + pb[i];   /* an IEEE add: same bits as the vector one */
}

/* ---- softmax ------------------------------------------------------------------- */

/* Thread ith's rows of y (R, N) = softmax(x (R, N)). Max, then e = exp(x - max) stored
** in y and summed in 8 float lanes, then y *= 1 / sum. exp(-inf) is exactly 0 and a row
** of all -inf gives NaN, as the reference. NaN inputs are skipped by the max (as the
** reference's compare) and then turn the row to NaN through the sum. */
void ef_k_softmax_f32__avx2(const ef_softmax_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t N = a->N;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * N;   /* (N) */
        float *y = a->y + r * N;         /* (N) */
        __m256 m0 = ninf, m1 = ninf;
        int64_t j = 0;
        for (; j + 16 <= N; j += 16) {   /* max(v, m): a NaN v leaves m unchanged */
            m0 = _mm256_max_ps(_mm256_loadu_ps(x + j), m0);
            m1 = _mm256_max_ps(_mm256_loadu_ps(x + j + 8), m1);
        }
        for (; j < N; j += 8) {
            __m256i m = ef_v8_head_mask(N - j < 8 ? (int)(N - j) : 8);
            __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + j, m), _mm256_castsi256_ps(m));
            m0 = _mm256_max_ps(v, m0);
        }
        const __m256 mx = _mm256_set1_ps(ef_v8_hmax(_mm256_max_ps(m0, m1)));

        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (j = 0; j + 16 <= N; j += 16) {
            __m256 e0 = ef_v8_exp_full(_mm256_sub_ps(_mm256_loadu_ps(x + j), mx));
            __m256 e1 = ef_v8_exp_full(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mx));
            _mm256_storeu_ps(y + j, e0);
            _mm256_storeu_ps(y + j + 8, e1);
            s0 = _mm256_add_ps(s0, e0);
            s1 = _mm256_add_ps(s1, e1);
        }
        for (; j < N; j += 8) {
            __m256i m = ef_v8_head_mask(N - j < 8 ? (int)(N - j) : 8);
            __m256 e = ef_v8_exp_full(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), mx));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
            _mm256_maskstore_ps(y + j, m, e);
            s0 = _mm256_add_ps(s0, e);
        }
        const __m256 inv = _mm256_set1_ps(1.0f / ef_v8_hsum(_mm256_add_ps(s0, s1)));
        for (j = 0; j + 8 <= N; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inv));
        if (j < N) {
            __m256i m = ef_v8_head_mask((int)(N - j));
            _mm256_maskstore_ps(y + j, m, _mm256_mul_ps(_mm256_maskload_ps(y + j, m), inv));
        }
    }
}

/* ---- geglu --------------------------------------------------------------------- */

/* Thread ith's rows of y (R, F) = x[:, :F] * gelu_erf(x[:, F:]), x (R, 2F) with row
** stride ldx. Each 8-lane step loads value and gate before its store, so y == x with
** ldy == ldx is safe. */
void ef_k_geglu_f32__avx2(const ef_geglu_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t F = a->F;
    for (int64_t r = r0; r < r1; r++) {
        const float *h = a->x + r * a->ldx;   /* (F) value half */
        const float *g = h + F;               /* (F) gate half */
        float *y = a->y + r * a->ldy;         /* (F) */
        int64_t j = 0;
        for (; j + 8 <= F; j += 8)
            _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(h + j), ef_v8_gelu(_mm256_loadu_ps(g + j))));
        if (j < F) {
            __m256i m = ef_v8_head_mask((int)(F - j));
            __m256 v = _mm256_mul_ps(_mm256_maskload_ps(h + j, m), ef_v8_gelu(_mm256_maskload_ps(g + j, m)));
            _mm256_maskstore_ps(y + j, m, v);
        }
    }
}

/* ---- upsample2x --------------------------------------------------------------- */

/* Thread ith's share of y (C, 2H, 2W) = nearest-upsampled x (C, H, W), split over the
** C*H input rows: input row r (channel r / H, row r % H) fills output rows 2r and 2r+1
** of the (C*2H, 2W) view of y. Pure copies. */
void ef_k_upsample2x_f32__avx2(const ef_upsample2x_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)(a->C * a->H), ith, nth, &r0, &r1);
    const int64_t W = a->W;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = a->x + r * W;        /* (W) */
        float *y0 = a->y + 2 * r * (2 * W);   /* (2W) */
        float *y1 = y0 + 2 * W;               /* (2W) */
        int64_t j = 0;
        for (; j + 8 <= W; j += 8) {
            __m256 v = _mm256_loadu_ps(x + j);
            __m256 lo = _mm256_unpacklo_ps(v, v), hi = _mm256_unpackhi_ps(v, v);   /* x0x0x1x1|x4x4x5x5, ... */
            __m256 d0 = _mm256_permute2f128_ps(lo, hi, 0x20), d1 = _mm256_permute2f128_ps(lo, hi, 0x31);
            _mm256_storeu_ps(y0 + 2 * j, d0);
            _mm256_storeu_ps(y0 + 2 * j + 8, d1);
            _mm256_storeu_ps(y1 + 2 * j, d0);
            _mm256_storeu_ps(y1 + 2 * j + 8, d1);
        }
        for (; j < W; j++) y0[2 * j] = y0[2 * j + 1] = y1[2 * j] = y1[2 * j + 1] = x[j];
    }
}
