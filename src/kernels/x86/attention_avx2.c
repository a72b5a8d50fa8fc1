/*
** attention_avx2.c -- AVX2+FMA multi-head attention, softmax(scale * Q K^T) V with an
** optional causal mask (ef_attention_args), flash-attention style.
**
** Work items are (head, block of up to BR_MAX query rows), split over threads. Each item
** takes the keys in tiles of BC from key 0. Per tile, K is packed transposed into panels
** of NR = 24 keys (Dh x 24) and V is copied contiguous, so Q K^T is an outer-product
** micro-kernel: 4 query rows x 24 keys in 12 ymm accumulators, a broadcast q[i,d] times
** one panel row per d. The 4 x BC score tile (in log2 units: scale * log2 e is folded
** into the scores) gets the online-softmax update with ef_v8_exp2 (running max m and sum
** l per row, the output so far scaled by alpha = 2^(m_old - m_new)), and P V is a second
** micro-kernel: 4 rows x up to 24 output columns in registers, a broadcast p[i,j] times
** one V row per key. The unnormalised output accumulates in the out rows themselves (the
** item owns them); the end divides by l. The next tile's K and V rows are loaded into
** cache while the current one is computed.
**
** Every row's arithmetic depends only on its own keys: scores are FMA chains over d, the
** softmax of a row looks at its own scores only, and each output element is one FMA
** chain over the row's visible keys in order, scaled by alpha once per tile. Tiles start
** at key 0 and BC depends on Dh only, so results are the same for any thread split.
** Masked keys (causal, or past Tk) are skipped, not weighted by 0, as in the reference:
** rows of a 4-row group that see different numbers of keys share the micro-kernel up to
** the fewest and finish their own keys one row at a time. A short last group repeats
** its last row; the copies compute and store the same values again.
**
** Scratch is on the stack, about 63 KB: the packed K and V tiles (KV_MAX floats), the
** score tile and the rows' m and l. Heads over DH_MAX (597; no real model) go to the
** reference kernel.
*/
#include <immintrin.h>
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/x86/vmath_avx2.h"

enum {
    MR        = 4,            /* query rows per micro-tile */
    NR        = 24,           /* keys per packed K panel (3 ymm) */
    BC_MAX    = 168,          /* keys per tile, at most; the score tile's row stride */
    KV_MAX    = 14336,        /* floats of the packed K and V tiles together (56 KB) */
    DH_MAX    = KV_MAX / NR,  /* 597: one K panel must fit; larger heads go to the ref kernel */
    BR_MAX    = 512,          /* query rows per work item, at most (K, V packed once per 512) */
    BR_MIN    = 32,
    MIN_ITEMS = 32            /* BR shrinks (down to BR_MIN) until there are this many items */
};

/* Keys per tile for head size Dh: a multiple of NR, as many as let the packed K and V
** tiles share KV_MAX (168 at Dh 40, 96 at 64, 72 at 80, 24 from 160 up). Long tiles
** spread the per-tile work (packing, the softmax's reductions, rescaling the output)
** over more keys; measured faster than L1-sized tiles. */
static int64_t tile_keys(int64_t Dh) {
    int64_t bc = KV_MAX / 2 / Dh / NR * NR;
    return bc < NR ? NR : bc > BC_MAX ? BC_MAX : bc;
}

/* Packs keys [0, nk) of one head (row j at k + j*ldk, Dh floats) as ceil(nk/NR) panels
** kp[c][d][x] = k[c*NR + x][d], zero past nk: 8 keys x 8 dims at a time with an 8x8
** register transpose, the Dh % 8 dims and a last partial 8 keys one by one. */
static void pack_k(const float *k, int64_t ldk, int64_t nk, int64_t Dh, float *kp) {
    const int64_t nkp = (nk + NR - 1) / NR * NR, d8 = Dh & ~(int64_t)7;
    for (int64_t j = 0; j < nkp; j += 8) {
        float *dst = kp + j / NR * NR * Dh + j % NR;   /* column j % NR of panel j / NR */
        if (j + 8 > nk) {
            for (int64_t d = 0; d < Dh; d++)
                for (int64_t x = 0; x < 8; x++) dst[d * NR + x] = j + x < nk ? k[(j + x) * ldk + d] : 0.0f;
            continue;
        }
        const float *r = k + j * ldk;
        for (int64_t d = 0; d < d8; d += 8) ef_v8_transpose_8x8(r + d, ldk, dst + d * NR, NR);
        for (int64_t d = d8; d < Dh; d++)
            for (int64_t x = 0; x < 8; x++) dst[d * NR + x] = r[x * ldk + d];
    }
}

/* Copies keys [0, nk) of one head's V (row j at v + j*ldv, Dh floats) to vp (nk, Dh):
** every 4-row group's P V then walks one contiguous block instead of nk rows ldv apart
** (at the UNet's (T, 3*H*Dh) strides, nearly a page per key); a few % faster. */
static void pack_v(const float *v, int64_t ldv, int64_t nk, int64_t Dh, float *vp) {
    const int64_t d8 = Dh & ~(int64_t)7;
    for (int64_t j = 0; j < nk; j++, v += ldv, vp += Dh) {
        for (int64_t d = 0; d < d8; d += 8) _mm256_storeu_ps(vp + d, _mm256_loadu_ps(v + d));
        for (int64_t d = d8; d < Dh; d++) vp[d] = v[d];
    }
}

/* s[r][0..NR) = scale * (q[r] . panel keys), 4 rows; s rows have stride BC_MAX. qp is
** the 4 query rows interleaved, qp[d * MR + r] = q[r][d] (pack_q: the 4 broadcasts of a
** d from one cache line, not 4 rows 3C apart). The caller passes scale * log2(e):
** scores in log2 units, for ef_v8_exp2. */
static void qk_4x24(const float *qp, const float *kp /* (Dh, NR) */, int64_t Dh, float scale, float *s) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (int64_t d = 0; d < Dh; d++, kp += NR, qp += MR) {
        __m256 b0 = _mm256_load_ps(kp), b1 = _mm256_load_ps(kp + 8), b2 = _mm256_load_ps(kp + 16), t;
        t = _mm256_broadcast_ss(qp + 0);
        c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01); c02 = _mm256_fmadd_ps(t, b2, c02);
        t = _mm256_broadcast_ss(qp + 1);
        c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11); c12 = _mm256_fmadd_ps(t, b2, c12);
        t = _mm256_broadcast_ss(qp + 2);
        c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21); c22 = _mm256_fmadd_ps(t, b2, c22);
        t = _mm256_broadcast_ss(qp + 3);
        c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31); c32 = _mm256_fmadd_ps(t, b2, c32);
    }
    const __m256 sc = _mm256_set1_ps(scale);
    float *s0 = s, *s1 = s + BC_MAX, *s2 = s + 2 * BC_MAX, *s3 = s + 3 * BC_MAX;
    _mm256_store_ps(s0, _mm256_mul_ps(c00, sc)); _mm256_store_ps(s0 + 8, _mm256_mul_ps(c01, sc));
    _mm256_store_ps(s0 + 16, _mm256_mul_ps(c02, sc));
    _mm256_store_ps(s1, _mm256_mul_ps(c10, sc)); _mm256_store_ps(s1 + 8, _mm256_mul_ps(c11, sc));
    _mm256_store_ps(s1 + 16, _mm256_mul_ps(c12, sc));
    _mm256_store_ps(s2, _mm256_mul_ps(c20, sc)); _mm256_store_ps(s2 + 8, _mm256_mul_ps(c21, sc));
    _mm256_store_ps(s2 + 16, _mm256_mul_ps(c22, sc));
    _mm256_store_ps(s3, _mm256_mul_ps(c30, sc)); _mm256_store_ps(s3 + 8, _mm256_mul_ps(c31, sc));
    _mm256_store_ps(s3 + 16, _mm256_mul_ps(c32, sc));
}

/* qk_4x24 for the first 16 or 8 keys of a panel: the last, partial panel of a tile. */
static void qk_4x16(const float *qp, const float *kp /* (Dh, NR) */, int64_t Dh, float scale, float *s) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int64_t d = 0; d < Dh; d++, kp += NR, qp += MR) {
        __m256 b0 = _mm256_load_ps(kp), b1 = _mm256_load_ps(kp + 8), t;
        t = _mm256_broadcast_ss(qp + 0); c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(qp + 1); c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(qp + 2); c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(qp + 3); c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
    }
    const __m256 sc = _mm256_set1_ps(scale);
    _mm256_store_ps(s, _mm256_mul_ps(c00, sc)); _mm256_store_ps(s + 8, _mm256_mul_ps(c01, sc));
    _mm256_store_ps(s + BC_MAX, _mm256_mul_ps(c10, sc)); _mm256_store_ps(s + BC_MAX + 8, _mm256_mul_ps(c11, sc));
    _mm256_store_ps(s + 2 * BC_MAX, _mm256_mul_ps(c20, sc));
    _mm256_store_ps(s + 2 * BC_MAX + 8, _mm256_mul_ps(c21, sc));
    _mm256_store_ps(s + 3 * BC_MAX, _mm256_mul_ps(c30, sc));
    _mm256_store_ps(s + 3 * BC_MAX + 8, _mm256_mul_ps(c31, sc));
}

static void qk_4x8(const float *qp, const float *kp /* (Dh, NR) */, int64_t Dh, float scale, float *s) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t d = 0; d < Dh; d++, kp += NR, qp += MR) {
        __m256 b = _mm256_load_ps(kp);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(qp + 0), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(qp + 1), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(qp + 2), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(qp + 3), b, c3);
    }
    const __m256 sc = _mm256_set1_ps(scale);
    _mm256_store_ps(s, _mm256_mul_ps(c0, sc));
    _mm256_store_ps(s + BC_MAX, _mm256_mul_ps(c1, sc));
    _mm256_store_ps(s + 2 * BC_MAX, _mm256_mul_ps(c2, sc));
    _mm256_store_ps(s + 3 * BC_MAX, _mm256_mul_ps(c3, sc));
}

/* dst[j * 4 + r] = row r's lane j, for 4 rows of 8 (32 floats, unaligned). */
static inline void interleave_4x8(__m256 a, __m256 b, __m256 c, __m256 d, float *dst) {
    const __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);   /* a0 b0 a1 b1 | a4 b4 a5 b5 */
    const __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);   /* lanes 0 | 4, 1 | 5 */
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);   /* lanes 2 | 6, 3 | 7 */
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(dst + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
}

/* {max(a), max(b), max(c), max(d)} and {sum(a), .., sum(d)} over 8 lanes each. The sum
** adds lanes in one fixed order: ((0+2) + (1+3)) + ((4+6) + (5+7)). */
static inline __m128 reduce4_max(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_max_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 cd = _mm256_max_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256 x = _mm256_max_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
    return _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
}
static inline __m128 reduce4_add(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256 x = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
    return _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
}

/* Online-softmax update of one row from its scores s[0..lim) in log2 units (lim <=
** BC_MAX, s padded to a multiple of 8): s becomes p = 2^(s - m_new), l = l*alpha + sum p,
** m = m_new. Returns alpha = 2^(m_old - m_new), the factor for the row's output so far
** (~0 on its first tile, m_old = -inf); 1 (and nothing changes) when the row sees no key
** of the tile. */
static float softmax_row(float *s, int64_t lim, float *m, float *l) {
    if (lim <= 0) return 1.0f;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const int64_t full = lim & ~(int64_t)7;
    const __m256 tmask = _mm256_castsi256_ps(ef_v8_head_mask((int)(lim - full)));
    __m256 vm = ninf;
    for (int64_t j = 0; j < full; j += 8) vm = _mm256_max_ps(vm, _mm256_load_ps(s + j));
    if (full < lim) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_load_ps(s + full), tmask));
    float mo = *m, mt = ef_v8_hmax(vm), mn = mt > mo ? mt : mo;
    float alpha = _mm256_cvtss_f32(ef_v8_exp2(_mm256_set1_ps(mo - mn)));
    const __m256 vmn = _mm256_set1_ps(mn);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < full; j += 8) {
        __m256 p = ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s + j), vmn));
        _mm256_store_ps(s + j, p);
        sum = _mm256_add_ps(sum, p);
    }
    if (full < lim) {
        __m256 p = _mm256_and_ps(ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s + full), vmn)), tmask);
        _mm256_store_ps(s + full, p);
        sum = _mm256_add_ps(sum, p);
    }
    *l = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(*l), _mm_set_ss(alpha), reduce4_add(sum, sum, sum, sum)));
    *m = mn;
    return alpha;
}

/* softmax_row for the 4 rows of a group that all see keys [0, lim), lim > 0, in lockstep
** (the same arithmetic per row): four independent chains, so the latency of one row's
** max -> alpha -> exp -> sum overlaps the others'. m, l, alpha: the 4 rows' entries. */
static void softmax_4rows(float *s, int64_t lim, float *m, float *l, float *alpha) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const int64_t full = lim & ~(int64_t)7;
    const __m256 tmask = _mm256_castsi256_ps(ef_v8_head_mask((int)(lim - full)));
    float *s0 = s, *s1 = s + BC_MAX, *s2 = s + 2 * BC_MAX, *s3 = s + 3 * BC_MAX;
    __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    for (int64_t j = 0; j < full; j += 8) {
        m0 = _mm256_max_ps(m0, _mm256_load_ps(s0 + j));
        m1 = _mm256_max_ps(m1, _mm256_load_ps(s1 + j));
        m2 = _mm256_max_ps(m2, _mm256_load_ps(s2 + j));
        m3 = _mm256_max_ps(m3, _mm256_load_ps(s3 + j));
    }
    if (full < lim) {
        m0 = _mm256_max_ps(m0, _mm256_blendv_ps(ninf, _mm256_load_ps(s0 + full), tmask));
        m1 = _mm256_max_ps(m1, _mm256_blendv_ps(ninf, _mm256_load_ps(s1 + full), tmask));
        m2 = _mm256_max_ps(m2, _mm256_blendv_ps(ninf, _mm256_load_ps(s2 + full), tmask));
        m3 = _mm256_max_ps(m3, _mm256_blendv_ps(ninf, _mm256_load_ps(s3 + full), tmask));
    }
    const __m128 mo = _mm_loadu_ps(m), mn = _mm_max_ps(reduce4_max(m0, m1, m2, m3), mo);
    const __m128 al = _mm256_castps256_ps128(ef_v8_exp2(_mm256_castps128_ps256(_mm_sub_ps(mo, mn))));
    _mm_storeu_ps(m, mn);
    _mm_storeu_ps(alpha, al);
    const __m256 n0 = _mm256_set1_ps(m[0]), n1 = _mm256_set1_ps(m[1]), n2 = _mm256_set1_ps(m[2]);
    const __m256 n3 = _mm256_set1_ps(m[3]);
    __m256 t0 = _mm256_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
    for (int64_t j = 0; j < full; j += 8) {
        __m256 p0 = ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s0 + j), n0));
        __m256 p1 = ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s1 + j), n1));
        __m256 p2 = ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s2 + j), n2));
        __m256 p3 = ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s3 + j), n3));
        _mm256_store_ps(s0 + j, p0); _mm256_store_ps(s1 + j, p1);
        _mm256_store_ps(s2 + j, p2); _mm256_store_ps(s3 + j, p3);
        t0 = _mm256_add_ps(t0, p0); t1 = _mm256_add_ps(t1, p1);
        t2 = _mm256_add_ps(t2, p2); t3 = _mm256_add_ps(t3, p3);
    }
    if (full < lim) {
        __m256 p0 = _mm256_and_ps(ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s0 + full), n0)), tmask);
        __m256 p1 = _mm256_and_ps(ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s1 + full), n1)), tmask);
        __m256 p2 = _mm256_and_ps(ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s2 + full), n2)), tmask);
        __m256 p3 = _mm256_and_ps(ef_v8_exp2(_mm256_sub_ps(_mm256_load_ps(s3 + full), n3)), tmask);
        _mm256_store_ps(s0 + full, p0); _mm256_store_ps(s1 + full, p1);
        _mm256_store_ps(s2 + full, p2); _mm256_store_ps(s3 + full, p3);
        t0 = _mm256_add_ps(t0, p0); t1 = _mm256_add_ps(t1, p1);
        t2 = _mm256_add_ps(t2, p2); t3 = _mm256_add_ps(t3, p3);
    }
    _mm_storeu_ps(l, _mm_fmadd_ps(_mm_loadu_ps(l), al, reduce4_add(t0, t1, t2, t3)));
}

/* ---- P V: o[r][0..8*NV) = alpha[r] * o[r] + sum_{j<n} p[r][j] v[j], 4 rows --------------
** o[r] points at the chunk's first column of row r's output, v at the chunk's first
** column of key 0 (rows ldv apart), p at the probabilities interleaved, p[j * MR + r]
** (interleave_p). first: the block's first tile, o not yet written: the sums start from
** 0 instead (alpha * 0 is 0). */

static inline __m256 o_start(const float *o, __m256 alpha, int first) {
    return first ? _mm256_setzero_ps() : _mm256_mul_ps(alpha, _mm256_loadu_ps(o));
}

static void pv_4x3(float *const o[MR], const float alpha[MR], int first, const float *p, int64_t n,
                   const float *v, int64_t ldv) {
    float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
    __m256 a;
    a = _mm256_set1_ps(alpha[0]);
    __m256 c00 = o_start(o0, a, first), c01 = o_start(o0 + 8, a, first);
    __m256 c02 = o_start(o0 + 16, a, first);
    a = _mm256_set1_ps(alpha[1]);
    __m256 c10 = o_start(o1, a, first), c11 = o_start(o1 + 8, a, first);
    __m256 c12 = o_start(o1 + 16, a, first);
    a = _mm256_set1_ps(alpha[2]);
    __m256 c20 = o_start(o2, a, first), c21 = o_start(o2 + 8, a, first);
    __m256 c22 = o_start(o2 + 16, a, first);
    a = _mm256_set1_ps(alpha[3]);
    __m256 c30 = o_start(o3, a, first), c31 = o_start(o3 + 8, a, first);
    __m256 c32 = o_start(o3 + 16, a, first);
    for (int64_t j = 0; j < n; j++, v += ldv) {
        __m256 b0 = _mm256_loadu_ps(v), b1 = _mm256_loadu_ps(v + 8), b2 = _mm256_loadu_ps(v + 16), t;
        t = _mm256_broadcast_ss(p + MR * j + 0);
        c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01); c02 = _mm256_fmadd_ps(t, b2, c02);
        t = _mm256_broadcast_ss(p + MR * j + 1);
        c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11); c12 = _mm256_fmadd_ps(t, b2, c12);
        t = _mm256_broadcast_ss(p + MR * j + 2);
        c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21); c22 = _mm256_fmadd_ps(t, b2, c22);
        t = _mm256_broadcast_ss(p + MR * j + 3);
        c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31); c32 = _mm256_fmadd_ps(t, b2, c32);
    }
    _mm256_storeu_ps(o0, c00); _mm256_storeu_ps(o0 + 8, c01); _mm256_storeu_ps(o0 + 16, c02);
    _mm256_storeu_ps(o1, c10); _mm256_storeu_ps(o1 + 8, c11); _mm256_storeu_ps(o1 + 16, c12);
    _mm256_storeu_ps(o2, c20); _mm256_storeu_ps(o2 + 8, c21); _mm256_storeu_ps(o2 + 16, c22);
    _mm256_storeu_ps(o3, c30); _mm256_storeu_ps(o3 + 8, c31); _mm256_storeu_ps(o3 + 16, c32);
}

static void pv_4x2(float *const o[MR], const float alpha[MR], int first, const float *p, int64_t n,
                   const float *v, int64_t ldv) {
    float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
    __m256 a;
    a = _mm256_set1_ps(alpha[0]);
    __m256 c00 = o_start(o0, a, first), c01 = o_start(o0 + 8, a, first);
    a = _mm256_set1_ps(alpha[1]);
    __m256 c10 = o_start(o1, a, first), c11 = o_start(o1 + 8, a, first);
    a = _mm256_set1_ps(alpha[2]);
    __m256 c20 = o_start(o2, a, first), c21 = o_start(o2 + 8, a, first);
    a = _mm256_set1_ps(alpha[3]);
    __m256 c30 = o_start(o3, a, first), c31 = o_start(o3 + 8, a, first);
    for (int64_t j = 0; j < n; j++, v += ldv) {
        __m256 b0 = _mm256_loadu_ps(v), b1 = _mm256_loadu_ps(v + 8), t;
        t = _mm256_broadcast_ss(p + MR * j + 0);
        c00 = _mm256_fmadd_ps(t, b0, c00); c01 = _mm256_fmadd_ps(t, b1, c01);
        t = _mm256_broadcast_ss(p + MR * j + 1);
        c10 = _mm256_fmadd_ps(t, b0, c10); c11 = _mm256_fmadd_ps(t, b1, c11);
        t = _mm256_broadcast_ss(p + MR * j + 2);
        c20 = _mm256_fmadd_ps(t, b0, c20); c21 = _mm256_fmadd_ps(t, b1, c21);
        t = _mm256_broadcast_ss(p + MR * j + 3);
        c30 = _mm256_fmadd_ps(t, b0, c30); c31 = _mm256_fmadd_ps(t, b1, c31);
    }
    _mm256_storeu_ps(o0, c00); _mm256_storeu_ps(o0 + 8, c01);
    _mm256_storeu_ps(o1, c10); _mm256_storeu_ps(o1 + 8, c11);
    _mm256_storeu_ps(o2, c20); _mm256_storeu_ps(o2 + 8, c21);
    _mm256_storeu_ps(o3, c30); _mm256_storeu_ps(o3 + 8, c31);
}

/* One column vector; mask selects its valid lanes (all 8, or the Dh % 8 of a last one). */
static void pv_4x1(float *const o[MR], const float alpha[MR], int first, const float *p, int64_t n,
                   const float *v, int64_t ldv, __m256i mask) {
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    if (!first) {
        c0 = _mm256_mul_ps(_mm256_set1_ps(alpha[0]), _mm256_maskload_ps(o[0], mask));
        c1 = _mm256_mul_ps(_mm256_set1_ps(alpha[1]), _mm256_maskload_ps(o[1], mask));
        c2 = _mm256_mul_ps(_mm256_set1_ps(alpha[2]), _mm256_maskload_ps(o[2], mask));
        c3 = _mm256_mul_ps(_mm256_set1_ps(alpha[3]), _mm256_maskload_ps(o[3], mask));
    }
    for (int64_t j = 0; j < n; j++, v += ldv) {
        __m256 b = _mm256_maskload_ps(v, mask);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + MR * j + 0), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + MR * j + 1), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + MR * j + 2), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + MR * j + 3), b, c3);
    }
    _mm256_maskstore_ps(o[0], mask, c0);
    _mm256_maskstore_ps(o[1], mask, c1);
    _mm256_maskstore_ps(o[2], mask, c2);
    _mm256_maskstore_ps(o[3], mask, c3);
}

/* qp[d * MR + r] = q[r][d], d < Dh: the 4 query rows of a group interleaved. */
static void pack_q(const float *const q[MR], int64_t Dh, float *qp) {
    const int64_t d8 = Dh & ~(int64_t)7;
    for (int64_t d = 0; d < d8; d += 8)
        interleave_4x8(_mm256_loadu_ps(q[0] + d), _mm256_loadu_ps(q[1] + d), _mm256_loadu_ps(q[2] + d),
                       _mm256_loadu_ps(q[3] + d), qp + d * MR);
    for (int64_t d = d8; d < Dh; d++)
        for (int r = 0; r < MR; r++) qp[d * MR + r] = q[r][d];
}

/* pt[j * MR + r] = s[r][j] for j < n rounded up to 8 (s rows BC_MAX apart, padded). */
static void interleave_p(const float *s, int64_t n, float *pt) {
    for (int64_t j = 0; j < n; j += 8)
        interleave_4x8(_mm256_load_ps(s + j), _mm256_load_ps(s + BC_MAX + j), _mm256_load_ps(s + 2 * BC_MAX + j),
                       _mm256_load_ps(s + 3 * BC_MAX + j), pt + j * MR);
}

/* The whole row width Dh of 4 rows, in chunks of 3, 2 or 1 vectors (no 1 after a 3). */
static void pv_rows(float *const o[MR], const float alpha[MR], int first, const float *p, int64_t n,
                    const float *v, int64_t ldv, int64_t Dh) {
    const int64_t nv = Dh / 8;
    int64_t x = 0;
    while (x < nv) {
        int64_t left = nv - x, w = left == 4 || left == 2 ? 2 : left >= 3 ? 3 : 1;
        float *oc[MR] = {o[0] + 8 * x, o[1] + 8 * x, o[2] + 8 * x, o[3] + 8 * x};
        if (w == 3) pv_4x3(oc, alpha, first, p, n, v + 8 * x, ldv);
        else if (w == 2) pv_4x2(oc, alpha, first, p, n, v + 8 * x, ldv);
        else pv_4x1(oc, alpha, first, p, n, v + 8 * x, ldv, ef_v8_head_mask(8));
        x += w;
    }
    if (Dh % 8) {
        float *oc[MR] = {o[0] + 8 * nv, o[1] + 8 * nv, o[2] + 8 * nv, o[3] + 8 * nv};
        pv_4x1(oc, alpha, first, p, n, v + 8 * nv, ldv, ef_v8_head_mask((int)(Dh % 8)));
    }
}

/* One row's own keys [j0, j1) after the shared part: o += p[j] v[j], the same FMA per
** element as the 4-row kernels, continuing the chain in key order. */
static void pv_row_keys(float *o, const float *p, int64_t j0, int64_t j1, const float *v, int64_t ldv,
                        int64_t Dh) {
    const int64_t full = Dh & ~(int64_t)7;
    const __m256i tmask = ef_v8_head_mask((int)(Dh - full));
    for (int64_t j = j0; j < j1; j++) {
        const float *vr = v + j * ldv;
        __m256 t = _mm256_broadcast_ss(p + j);
        for (int64_t d = 0; d < full; d += 8)
            _mm256_storeu_ps(o + d, _mm256_fmadd_ps(t, _mm256_loadu_ps(vr + d), _mm256_loadu_ps(o + d)));
        if (full < Dh)
            _mm256_maskstore_ps(o + full, tmask,
                                _mm256_fmadd_ps(t, _mm256_maskload_ps(vr + full, tmask),
                                                _mm256_maskload_ps(o + full, tmask)));
    }
}

/* Loads one float of every cache line of rows [j0, j1) of one head's K and V (row j at
** k + j*ldk, v + j*ldv, Dh floats): the next key tile, requested at the start of the
** current one so that its pack finds it in cache (the rows are strided, so the hardware
** prefetchers miss them). Real loads: on the Zen 3 this was tuned on, _mm_prefetch hints
** (T0 or T1, in one batch or spread over the row groups) measured no better than none. */
static void touch_rows(const float *k, int64_t ldk, const float *v, int64_t ldv, int64_t j0, int64_t j1,
                       int64_t Dh) {
    for (int64_t j = j0; j < j1; j++) {
        const volatile float *kr = k + j * ldk, *vr = v + j * ldv;
        for (int64_t d = 0; d < Dh; d += 16) {
            (void)kr[d];
            (void)vr[d];
        }
        (void)kr[Dh - 1];
        (void)vr[Dh - 1];
    }
}

/* o[0..n) *= 1/l (one division per row; vdivps is slow next to the rest of a short row). */
static void div_row(float *o, int64_t n, float l) {
    const int64_t full = n & ~(int64_t)7;
    const __m256 r = _mm256_set1_ps(1.0f / l);
    for (int64_t d = 0; d < full; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), r));
    if (full < n) {
        __m256i mk = ef_v8_head_mask((int)(n - full));
        _mm256_maskstore_ps(o + full, mk, _mm256_mul_ps(_mm256_maskload_ps(o + full, mk), r));
    }
}

/* Head h, query rows [i0, i1) (i1 - i0 <= BR_MAX), key tiles of bc: out[i, h*Dh .. +Dh). */
static void attend_block(const ef_attention_args *a, int64_t h, int64_t i0, int64_t i1, int64_t bc) {
    const int64_t Dh = a->Dh;
    const float scale2 = a->scale * 1.44269504088896341f;   /* scores in log2 units */
    _Alignas(32) float kv[KV_MAX];            /* packed K tile, ceil(nk/NR) panels (Dh, NR), */
    float *kp = kv, *vp = kv + bc * Dh;       /* then the packed V tile (nk, Dh) if it fits */
    _Alignas(32) float s[MR * BC_MAX];        /* scores, then probabilities: (MR, BC_MAX) */
    _Alignas(32) float pt[BC_MAX * MR];       /* the probabilities interleaved: (BC_MAX, MR) */
    _Alignas(32) float qp[DH_MAX * MR];       /* the group's query rows interleaved: (Dh, MR) */
    float m[BR_MAX + MR], l[BR_MAX + MR];     /* running max and sum per row (+ copies) */
    for (int64_t r = 0; r < i1 - i0 + MR; r++) { m[r] = -INFINITY; l[r] = 0.0f; }
    /* out rows are first written by the first tile's P V: every row sees key 0 */

    /* keys any row of the block sees */
    const int64_t kend = a->causal ? (i1 < a->Tk ? i1 : a->Tk) : a->Tk;
    for (int64_t j0 = 0; j0 < kend; j0 += bc) {
        const int64_t nk = j0 + bc < kend ? bc : kend - j0;   /* keys [j0, j0 + nk) */
        const float *vt = a->v + j0 * a->ldv + h * Dh;         /* V rows of the tile */
        int64_t ldvt = a->ldv;
        const int64_t pf0 = j0 + bc, pf1 = pf0 + bc < kend ? pf0 + bc : kend;   /* the next tile */
        if (pf0 < pf1) touch_rows(a->k + h * Dh, a->ldk, a->v + h * Dh, a->ldv, pf0, pf1, Dh);
        pack_k(a->k + j0 * a->ldk + h * Dh, a->ldk, nk, Dh, kp);
        if (2 * bc * Dh <= KV_MAX) {
            pack_v(vt, a->ldv, nk, Dh, vp);
            vt = vp;
            ldvt = Dh;
        }
        for (int64_t g0 = i0; g0 < i1; g0 += MR) {
            const int64_t nvalid = i1 - g0 < MR ? i1 - g0 : MR;
            const float *qr[MR];
            float *orow[MR], alpha[MR];
            int64_t lim[MR];   /* row r sees tile keys [0, lim[r]) */
            for (int r = 0; r < MR; r++) {
                int64_t i = g0 + (r < nvalid ? r : nvalid - 1);
                int64_t li = a->causal ? i + 1 - j0 : nk;
                lim[r] = li < 0 ? 0 : li > nk ? nk : li;
                qr[r] = a->q + i * a->ldq + h * Dh;
                orow[r] = a->out + i * a->ldo + h * Dh;   /* copies: the same values again */
            }
            const int64_t lo = lim[0], hi = lim[MR - 1];   /* lim grows with r */
            if (hi == 0) continue;
            pack_q(qr, Dh, qp);
            for (int64_t c = 0; c * NR < hi; c++) {   /* the keys [0, hi) in vectors of 8 */
                const float *pan = kp + c * NR * Dh;
                int64_t w = hi - c * NR;
                if (w > 16) qk_4x24(qp, pan, Dh, scale2, s + c * NR);
                else if (w > 8) qk_4x16(qp, pan, Dh, scale2, s + c * NR);
                else qk_4x8(qp, pan, Dh, scale2, s + c * NR);
            }
            if (lo == hi)
                softmax_4rows(s, lo, &m[g0 - i0], &l[g0 - i0], alpha);
            else
                for (int r = 0; r < MR; r++)
                    alpha[r] = softmax_row(s + r * BC_MAX, lim[r], &m[g0 - i0 + r], &l[g0 - i0 + r]);
            interleave_p(s, lo, pt);
            pv_rows(orow, alpha, j0 == 0, pt, lo, vt, ldvt, Dh);
            for (int r = 0; r < nvalid; r++)
                if (lim[r] > lo) pv_row_keys(orow[r], s + r * BC_MAX, lo, lim[r], vt, ldvt, Dh);
        }
    }
    for (int64_t i = i0; i < i1; i++) div_row(a->out + i * a->ldo + h * Dh, Dh, l[i - i0]);
}

/* Thread ith's (head, query block) items of out (Tq, H*Dh); see the file comment. */
void ef_k_attention_f32__avx2(const ef_attention_args *a, int ith, int nth) {
    if (a->Dh > DH_MAX) {
        ef_k_attention_f32__ref(a, ith, nth);
        return;
    }
    if (a->Tq <= 0 || a->H <= 0 || a->Dh <= 0) return;
    const int64_t bc = tile_keys(a->Dh);
    int64_t br = BR_MAX;
    while (br > BR_MIN && a->H * ((a->Tq + br - 1) / br) < MIN_ITEMS) br /= 2;
    const int64_t nqb = (a->Tq + br - 1) / br;
    long w0, w1;
    ef_split_rows((long)(a->H * nqb), ith, nth, &w0, &w1);
    for (long w = w0; w < w1; w++) {
        int64_t h = w / nqb, i0 = (w % nqb) * br, i1 = i0 + br < a->Tq ? i0 + br : a->Tq;
        attend_block(a, h, i0, i1, bc);
    }
}
