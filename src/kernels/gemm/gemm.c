/*
** gemm.c -- the portable half of the fast linear and conv2d kernels: thread split,
** cache blocking, B-panel packing (W^T for linear, implicit im2col for conv) and
** the fused epilogue. The ISA half is one micro-kernel (see gemm.h).
**
** Loop nest for thread ith (tiles: MR rows x NR columns; a group: NB panels):
**   for each column group g of its share
**     for each depth block k0 (KC)
**       pack the group's NB panels of B[k0.., g]               (64 KiB, L2)
**       for each row tile m0 of its share
**         for each panel: tile = A[m0.., k0..] . panel          (micro-kernel)
**                         C[m0.., panel] (+)= tile (+ epilogue on the last block)
** The A rows of one tile (MR x KC, 6 KiB) stay in L1 across the group's panels. Full
** tiles of all but the last depth block accumulate in C inside the micro-kernel; the
** last block (and edge tiles) go through a stack tile and combine().
*/
#include <string.h>

#include "kernels/gemm/gemm.h"

enum { NG = EF_GEMM_NB * EF_GEMM_NR };   /* columns per group */

typedef struct gemm_job gemm_job;
typedef void (*pack_fn)(const gemm_job *g, int64_t k0, int64_t kc, int64_t n0, int64_t nw, float *dst);

struct gemm_job {
    int64_t M, N, K;
    const void *A; int64_t lda;      /* A (M, K): f32 rows of stride lda, or an at matrix */
    ef_wtype at;
    float *C; int64_t ldc;           /* C (M, N) */
    const float *bias_n;             /* (N): linear's bias, per column; or NULL */
    const float *bias_m;             /* (M): conv's bias, per row; or NULL */
    const float *r; int64_t ldr;     /* residual (M, N) or NULL */
    int r_in_c;                      /* r == C and K > KC: C starts as r (act is NONE) */
    ef_act act;
    pack_fn pack;
    const void *op;                  /* the op's args, for pack */
    const ef_gemm_isa *isa;
};

/* C[m0.., n0..] of one (mr, nw) tile: store, accumulate, or finish (bias, act, residual).
** Each case is its own branch-free loop so the compiler vectorises it. */
static void combine(const gemm_job *g, const float *tile, int64_t m0, int64_t mr, int64_t n0, int64_t nw,
                    int first, int last) {
    for (int64_t i = 0; i < mr; i++) {
        const float *t = tile + i * EF_GEMM_NR;
        float *c = g->C + (m0 + i) * g->ldc + n0;
        const int fresh = first && !g->r_in_c;   /* C holds nothing of this sum yet */
        float v[EF_GEMM_NR];
        if (fresh) for (int64_t j = 0; j < nw; j++) v[j] = t[j];
        else for (int64_t j = 0; j < nw; j++) v[j] = c[j] + t[j];
        if (!last) {
            for (int64_t j = 0; j < nw; j++) c[j] = v[j];
            continue;
        }
        if (g->bias_n) for (int64_t j = 0; j < nw; j++) v[j] += g->bias_n[n0 + j];
        if (g->bias_m) for (int64_t j = 0; j < nw; j++) v[j] += g->bias_m[m0 + i];
        if (g->act == EF_ACT_RELU) for (int64_t j = 0; j < nw; j++) v[j] = v[j] > 0.0f ? v[j] : 0.0f;   /* TAESD */
        else if (g->act != EF_ACT_NONE) for (int64_t j = 0; j < nw; j++) v[j] = ef_act_apply(g->act, v[j]);
        if (g->r && !g->r_in_c) {
            const float *rr = g->r + (m0 + i) * g->ldr + n0;
            for (int64_t j = 0; j < nw; j++) v[j] += rr[j];
        }
        for (int64_t j = 0; j < nw; j++) c[j] = v[j];
    }
}

/* Splits row tiles or column groups between threads, whichever divides better. */
static void run(const gemm_job *g, int ith, int nth) {
    const ef_gemm_ukernel_fn uk = g->isa->uk;
    _Alignas(64) float bp[EF_GEMM_NB * EF_GEMM_KC * EF_GEMM_NR];   /* NB packed panels */
    _Alignas(64) float tile[EF_GEMM_MR * EF_GEMM_NR];
    _Alignas(64) float arows[EF_GEMM_MR * EF_GEMM_KC];             /* a short last row tile */
    const int64_t mt = (g->M + EF_GEMM_MR - 1) / EF_GEMM_MR, ng = (g->N + NG - 1) / NG;
    long t0 = 0, t1 = (long)mt, g0 = 0, g1 = (long)ng;
    if (ng >= 8L * nth || ng >= mt) ef_split_rows((long)ng, ith, nth, &g0, &g1);
    else ef_split_rows((long)mt, ith, nth, &t0, &t1);
    if (t0 >= t1 || g0 >= g1) return;

    for (int64_t gi = g0; gi < g1; gi++) {
        const int64_t n0g = gi * NG;
        const int64_t npan = (g->N - n0g + EF_GEMM_NR - 1) / EF_GEMM_NR < EF_GEMM_NB
                                 ? (g->N - n0g + EF_GEMM_NR - 1) / EF_GEMM_NR : EF_GEMM_NB;
        for (int64_t k0 = 0; k0 < g->K; k0 += EF_GEMM_KC) {
            const int64_t kc = g->K - k0 < EF_GEMM_KC ? g->K - k0 : EF_GEMM_KC;
            const int first = k0 == 0, last = k0 + kc == g->K;
            for (int64_t p = 0; p < npan; p++) {
                int64_t n0 = n0g + p * EF_GEMM_NR, nw = g->N - n0 < EF_GEMM_NR ? g->N - n0 : EF_GEMM_NR;
                g->pack(g, k0, kc, n0, nw, bp + p * EF_GEMM_KC * EF_GEMM_NR);
            }
            for (int64_t t = t0; t < t1; t++) {
                const int64_t m0 = t * EF_GEMM_MR, mr = g->M - m0 < EF_GEMM_MR ? g->M - m0 : EF_GEMM_MR;
                const float *ap = (const float *)g->A + m0 * g->lda + k0;
                int64_t lda = g->lda;
                if (mr < EF_GEMM_MR || g->at != EF_W_F32) {   /* widen/copy the rows there are; zeros for the rest */
                    memset(arows, 0, sizeof arows);
                    for (int64_t i = 0; i < mr; i++) {
                        if (g->at == EF_W_F32) memcpy(arows + i * kc, ap + i * g->lda, (size_t)kc * sizeof *ap);
                        else g->isa->wrow(g->A, g->at, g->M, g->K, m0 + i, k0, kc, arows + i * kc);   /* lda == K */
                    }
                    ap = arows;
                    lda = kc;
                }
                for (int64_t p = 0; p < npan; p++) {
                    int64_t n0 = n0g + p * EF_GEMM_NR, nw = g->N - n0 < EF_GEMM_NR ? g->N - n0 : EF_GEMM_NR;
                    const float *bpp = bp + p * EF_GEMM_KC * EF_GEMM_NR;
                    if (!last && mr == EF_GEMM_MR && nw == EF_GEMM_NR) {   /* straight into C */
                        uk(kc, ap, lda, bpp, g->C + m0 * g->ldc + n0, g->ldc, !first || g->r_in_c);
                    } else {
                        uk(kc, ap, lda, bpp, tile, EF_GEMM_NR, 0);
                        combine(g, tile, m0, mr, n0, nw, first, last);
                    }
                }
            }
        }
    }
}

/* ---- linear: B = W^T ----------------------------------------------------------- */

static void pack_linear(const gemm_job *g, int64_t k0, int64_t kc, int64_t n0, int64_t nw, float *dst) {
    const ef_linear_args *a = g->op;
    if (nw == EF_GEMM_NR && g->isa->pack_wt) {
        g->isa->pack_wt(a->w, a->wt, a->N, a->K, n0, k0, kc, dst);
        return;
    }
    float row[EF_GEMM_KC];
    for (int64_t j = 0; j < nw; j++) {   /* row n0 + j of W (N, K) */
        const float *w = (const float *)a->w + (n0 + j) * a->K + k0;
        if (a->wt != EF_W_F32) {
            g->isa->wrow(a->w, a->wt, a->N, a->K, n0 + j, k0, kc, row);
            w = row;
        }
        for (int64_t k = 0; k < kc; k++) dst[k * EF_GEMM_NR + j] = w[k];
    }
    for (int64_t j = nw; j < EF_GEMM_NR; j++)
        for (int64_t k = 0; k < kc; k++) dst[k * EF_GEMM_NR + j] = 0.0f;
}

void ef_gemm_linear(const ef_linear_args *a, int ith, int nth, const ef_gemm_isa *isa) {
    int r_in_c = a->r == a->y && a->K > EF_GEMM_KC;
    if (r_in_c && a->act != EF_ACT_NONE) {   /* act before an in-place residual: never used */
        ef_k_linear_f32__ref(a, ith, nth);
        return;
    }
    gemm_job g = {
        .M = a->M, .N = a->N, .K = a->K, .A = a->x, .lda = a->ldx, .at = EF_W_F32, .C = a->y, .ldc = a->ldy,
        .bias_n = a->b, .r = a->r, .ldr = a->ldy, .r_in_c = r_in_c, .act = a->act,
        .pack = pack_linear, .op = a, .isa = isa,
    };
    run(&g, ith, nth);
}

/* ---- conv2d: B = im2col(x), packed panel by panel ------------------------------ */

static void pack_conv(const gemm_job *g, int64_t k0, int64_t kc, int64_t n0, int64_t nw, float *dst) {
    const ef_conv2d_args *a = g->op;
    const int64_t H = a->H, W = a->W, Wo = a->Wo, s = a->stride, p = a->pad, KK = a->KH * a->KW;
    if (KK == 1 && s == 1 && p == 0) {   /* 1x1: B row ci is x[ci] itself */
        for (int64_t k = 0; k < kc; k++) {
            float *d = dst + k * EF_GEMM_NR;
            memcpy(d, a->x + (k0 + k) * H * W + n0, (size_t)nw * sizeof *d);
            for (int64_t j = nw; j < EF_GEMM_NR; j++) d[j] = 0.0f;
        }
        return;
    }
    const int64_t oy0 = n0 / Wo, ox0 = n0 % Wo;
    int64_t ci = k0 / KK, ky = k0 % KK / a->KW, kx = k0 % a->KW;
    if (s == 1 && ox0 + nw <= Wo) {   /* the panel is one run of one output row */
        for (int64_t k = 0; k < kc; k++) {
            float *d = dst + k * EF_GEMM_NR;
            const int64_t iy = oy0 + ky - p, ix = ox0 + kx - p;   /* input of lane 0 */
            int64_t jlo = 0, jhi = 0;
            if (iy >= 0 && iy < H) {
                jlo = ix < 0 ? -ix : 0;
                jhi = W - ix < nw ? W - ix : nw;
                if (jhi < jlo) jhi = jlo;
            }
            if (jlo == 0 && jhi == EF_GEMM_NR) {   /* the common interior case: one fixed-size copy */
                const float *src = a->x + (ci * H + iy) * W + ix;
                for (int j = 0; j < EF_GEMM_NR; j++) d[j] = src[j];
            } else {
                for (int64_t j = 0; j < EF_GEMM_NR; j++) d[j] = 0.0f;
                if (jhi > jlo) memcpy(d + jlo, a->x + (ci * H + iy) * W + ix + jlo, (size_t)(jhi - jlo) * sizeof *d);
            }
            if (++kx == a->KW) { kx = 0; if (++ky == a->KH) { ky = 0; ci++; } }
        }
        return;
    }
    int64_t iy0[EF_GEMM_NR], ix0[EF_GEMM_NR];   /* top-left input of each lane's window */
    for (int64_t j = 0; j < nw; j++) {
        iy0[j] = ((n0 + j) / Wo) * s - p;
        ix0[j] = ((n0 + j) % Wo) * s - p;
    }
    for (int64_t k = 0; k < kc; k++) {
        float *d = dst + k * EF_GEMM_NR;
        const float *xc = a->x + ci * H * W;
        for (int64_t j = 0; j < nw; j++) {
            int64_t iy = iy0[j] + ky, ix = ix0[j] + kx;
            d[j] = iy >= 0 && iy < H && ix >= 0 && ix < W ? xc[iy * W + ix] : 0.0f;
        }
        for (int64_t j = nw; j < EF_GEMM_NR; j++) d[j] = 0.0f;
        if (++kx == a->KW) { kx = 0; if (++ky == a->KH) { ky = 0; ci++; } }
    }
}

void ef_gemm_conv2d(const ef_conv2d_args *a, int ith, int nth, const ef_gemm_isa *isa) {
    const int64_t K = a->Cin * a->KH * a->KW;
    int r_in_c = a->r == a->y && K > EF_GEMM_KC;
    if (r_in_c && a->act != EF_ACT_NONE) {
        ef_k_conv2d_f32__ref(a, ith, nth);
        return;
    }
    gemm_job g = {
        .M = a->Cout, .N = a->Ho * a->Wo, .K = K, .A = a->w, .lda = K, .at = a->wt, .C = a->y,
        .ldc = a->Ho * a->Wo, .bias_m = a->b, .r = a->r, .ldr = a->Ho * a->Wo, .r_in_c = r_in_c, .act = a->act,
        .pack = pack_conv, .op = a, .isa = isa,
    };
    run(&g, ith, nth);
}

int ef_winograd_applies(const ef_conv2d_args *a) {
    const int64_t tiles = ((a->Ho + 3) / 4) * ((a->Wo + 3) / 4);
    return a->KH == 3 && a->KW == 3 && a->stride == 1 && a->pad == 1 && a->Ho == a->H && a->Wo == a->W &&
           a->Cin >= 8 && a->Cout >= 8 && tiles >= 16;
}

/* ---- the portable micro-kernel --------------------------------------------------- */

void ef_gemm_ukernel_c(int64_t kc, const float *a, int64_t lda, const float *bp, float *c, int64_t ldc,
                       int accumulate) {
    float acc[EF_GEMM_MR][EF_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < EF_GEMM_MR; i++) {
            float av = a[i * lda + k];
            for (int j = 0; j < EF_GEMM_NR; j++) acc[i][j] += av * bp[k * EF_GEMM_NR + j];
        }
    for (int i = 0; i < EF_GEMM_MR; i++)
        for (int j = 0; j < EF_GEMM_NR; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}
