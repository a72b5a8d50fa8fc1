/*
** gemm.c -- the portable half of the fast linear and conv2d kernels: thread split,
** cache blocking, A-tile and B-panel packing (W^T for linear, implicit im2col for
** conv) and the fused epilogue. The ISA half is one micro-kernel (see gemm.h).
**
** Loop nest for thread ith (tiles: MR rows x NR columns; a group: NB panels), the
** GotoBLAS/BLIS order:
**   for each B block of its column share (<= 1 MiB)
**     for each depth block k0 (K in equal blocks of <= KC)
**       pack B[k0.., block] into panels                        (scratch)
**       for each A block of its row tiles (<= 192 KiB)
**         pack those A rows, k-major per tile                   (scratch, L2)
**         for each group of NB panels of the B block            (<= 192 KiB, L2)
**           for each row tile of the A block                   (A tile in L1)
**             for each panel: C[tile, panel] (+)= A tile . panel  (micro-kernel)
** so B is packed once per op and A once per B block. When A is small (<= 4 MiB), it is
** packed whole, once, up front instead, and B a group at a time (L2), each panel used by
** every tile (the FF layers' 10240-column weights at 16x16 against 256 rows). Full tiles accumulate in C inside the micro-kernel, and the last depth block
** finishes them there (finish_tile: bias, act, residual); edge tiles go through a
** stack tile and combine(). Read in place instead, A's 6 strided rows per tile ran
** the micro-kernel at 75-80% of peak and were re-gathered for every group; B panels
** were re-packed for every row block.
*/
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#define B_BLOCK_BYTES ((size_t)1 << 20)     /* packed B panels of one depth block */
#define A_BLOCK_BYTES ((size_t)192 << 10)   /* packed A tiles of one depth block */
#define A_ONCE_BYTES  ((size_t)4 << 20)     /* A smaller than this is packed whole, once */

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
    int r_in_c;                      /* r == C: C starts as r (act is NONE) */
    ef_act act;
    pack_fn pack;
    const void *op;                  /* the op's args, for pack */
    const ef_gemm_isa *isa;
};

/* The last depth block's epilogue after bias_n on one row of a tile summed into C:
** c[j] = act(c[j] [+ *bm]) [+ r[j]], j < n (bm, r may be NULL). Inlined with n = NR
** for full tiles, where the loops vectorise. */
static inline void finish_row(float *restrict c, int64_t n, const float *bm, const float *restrict r, ef_act act) {
    float v[EF_GEMM_NR];
    for (int64_t j = 0; j < n; j++) v[j] = c[j];
    if (bm) for (int64_t j = 0; j < n; j++) v[j] += *bm;
    if (act == EF_ACT_RELU) for (int64_t j = 0; j < n; j++) v[j] = v[j] > 0.0f ? v[j] : 0.0f;   /* TAESD */
    else if (act != EF_ACT_NONE) for (int64_t j = 0; j < n; j++) v[j] = ef_act_apply(act, v[j]);
    if (r) for (int64_t j = 0; j < n; j++) v[j] += r[j];
    for (int64_t j = 0; j < n; j++) c[j] = v[j];
}

/* finish_row's bias and residual for row m of C from column n0 (NULL: none). */
static const float *row_bias(const gemm_job *g, int64_t m) { return g->bias_m ? g->bias_m + m : NULL; }
static const float *row_residual(const gemm_job *g, int64_t m, int64_t n0) {
    return g->r && !g->r_in_c ? g->r + m * g->ldr + n0 : NULL;
}

/* C[m0.., n0..] of one (mr, nw) edge tile: store, accumulate, or finish (bias, act,
** residual), in the order the full tiles use (micro-kernel sum, bias_n, finish_row). */
static void combine(const gemm_job *g, const float *tile, int64_t m0, int64_t mr, int64_t n0, int64_t nw,
                    int first, int last) {
    for (int64_t i = 0; i < mr; i++) {
        const float *t = tile + i * EF_GEMM_NR;
        float *c = g->C + (m0 + i) * g->ldc + n0;
        const int fresh = first && !g->r_in_c;   /* C holds nothing of this sum yet */
        if (fresh) for (int64_t j = 0; j < nw; j++) c[j] = t[j];
        else for (int64_t j = 0; j < nw; j++) c[j] += t[j];
        if (!last) continue;
        if (g->bias_n) for (int64_t j = 0; j < nw; j++) c[j] += g->bias_n[n0 + j];
        finish_row(c, nw, row_bias(g, m0 + i), row_residual(g, m0 + i, n0), g->act);
    }
}

/* The rest of the last depth block's epilogue on a full (MR, NR) tile summed into C
** with its bias_n (the micro-kernel adds that): bias_m, act, residual. */
static void finish_tile(const gemm_job *g, int64_t m0, int64_t n0) {
    if (!g->bias_m && g->act == EF_ACT_NONE && (!g->r || g->r_in_c)) return;
    for (int64_t i = 0; i < EF_GEMM_MR; i++)
        finish_row(g->C + (m0 + i) * g->ldc + n0, EF_GEMM_NR, row_bias(g, m0 + i), row_residual(g, m0 + i, n0), g->act);
}

/* ap[k * MR + i] = A[m0 + i][k0 + k] for k < kc; rows past mr are zero. Narrow A rows
** (conv weights) are widened into wide (MR x KC) first. */
static void pack_a(const gemm_job *g, int64_t m0, int64_t mr, int64_t k0, int64_t kc, float *wide, float *ap) {
    const float *rows[EF_GEMM_MR];
    for (int64_t i = 0; i < mr; i++) {
        if (g->at == EF_W_F32) {
            rows[i] = (const float *)g->A + (m0 + i) * g->lda + k0;
        } else {
            g->isa->wrow(g->A, g->at, g->M, g->K, m0 + i, k0, kc, wide + i * kc);   /* lda == K */
            rows[i] = wide + i * kc;
        }
    }
    if (mr == EF_GEMM_MR) {
        const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
        for (int64_t k = 0; k < kc; k++, ap += EF_GEMM_MR) {
            ap[0] = r0[k]; ap[1] = r1[k]; ap[2] = r2[k]; ap[3] = r3[k]; ap[4] = r4[k]; ap[5] = r5[k];
        }
        return;
    }
    for (int64_t k = 0; k < kc; k++)
        for (int64_t i = 0; i < EF_GEMM_MR; i++) ap[k * EF_GEMM_MR + i] = i < mr ? rows[i][k] : 0.0f;
}

/* The depth of K's blocks: K split into equal blocks of at most KC (640 = 2 x 320,
** not 384 + 256: a short last block pays the C round trip for few FMAs). */
static int64_t depth_block(int64_t K) {
    const int64_t nb = (K + EF_GEMM_KC - 1) / EF_GEMM_KC;
    return nb > 1 ? (K + nb - 1) / nb : K;
}

/* The product for row tiles [t0, t1) and panels [p0, p1) (panel = NR columns), with
** its blocks' scratch: bblk for B (kb x pb panels), ablk for A (tb tiles x ka, ka = K
** when a_once, else kb). */
typedef struct gemm_share {
    int64_t t0, t1, p0, p1;
    int64_t kb, pb, tb;
    int a_once;          /* A packed whole, once, up front (one A block of all K) */
    float *bblk, *ablk;
} gemm_share;

/* A tiles [tb0, tb1) at depth block [k0, k0 + kc) into ablk (tile stride ka floats x MR). */
static void pack_a_block(const gemm_job *g, const gemm_share *s, int64_t tb0, int64_t tb1, int64_t k0, int64_t kc,
                         int64_t ka) {
    _Alignas(64) float wide[EF_GEMM_MR * EF_GEMM_KC];   /* a narrow A tile widened */
    for (int64_t t = tb0; t < tb1; t++) {
        const int64_t m0 = t * EF_GEMM_MR, mr = g->M - m0 < EF_GEMM_MR ? g->M - m0 : EF_GEMM_MR;
        pack_a(g, m0, mr, k0, kc, wide, s->ablk + (t - tb0) * EF_GEMM_MR * ka + (s->a_once ? k0 * EF_GEMM_MR : 0));
    }
}

/* C[tiles [tb0, tb1), panels [q0, q1)] (+)= A . B at depth block [k0, k0 + kc): ap0 is
** tile tb0's packed depth block (tiles ka x MR floats apart), bp0 panel q0's. */
static void multiply(const gemm_job *g, int64_t tb0, int64_t tb1, const float *ap0, int64_t ka, int64_t q0, int64_t q1,
                     const float *bp0, int64_t k0, int64_t kc) {
    const ef_gemm_ukernel_fn uk = g->isa->uk;
    _Alignas(64) float tile[EF_GEMM_MR * EF_GEMM_NR];
    const int first = k0 == 0, last = k0 + kc == g->K;
    for (int64_t t = tb0; t < tb1; t++) {
        const int64_t m0 = t * EF_GEMM_MR, mr = g->M - m0 < EF_GEMM_MR ? g->M - m0 : EF_GEMM_MR;
        const float *ap = ap0 + (t - tb0) * EF_GEMM_MR * ka;
        for (int64_t p = q0; p < q1; p++) {
            const int64_t n0 = p * EF_GEMM_NR, nw = g->N - n0 < EF_GEMM_NR ? g->N - n0 : EF_GEMM_NR;
            const float *bp = bp0 + (p - q0) * kc * EF_GEMM_NR;
            if (mr == EF_GEMM_MR && nw == EF_GEMM_NR) {   /* straight into C */
                float *c = g->C + m0 * g->ldc + n0;
                for (int i = 0; i < EF_GEMM_MR; i++) __builtin_prefetch(c + i * g->ldc, 1);   /* here by the stores */
                uk(kc, ap, bp, c, g->ldc, !first || g->r_in_c, last && g->bias_n ? g->bias_n + n0 : NULL);
                if (last) finish_tile(g, m0, n0);
            } else {
                uk(kc, ap, bp, tile, EF_GEMM_NR, 0, NULL);
                combine(g, tile, m0, mr, n0, nw, first, last);
            }
        }
    }
}

static void run_share(const gemm_job *g, const gemm_share *s) {
    const int64_t ka = s->a_once ? g->K : s->kb;
    if (s->a_once)
        for (int64_t k0 = 0; k0 < g->K; k0 += s->kb) pack_a_block(g, s, s->t0, s->t1, k0, g->K - k0 < s->kb ? g->K - k0 : s->kb, ka);
    for (int64_t pb0 = s->p0; pb0 < s->p1; pb0 += s->pb) {
        const int64_t pb1 = pb0 + s->pb < s->p1 ? pb0 + s->pb : s->p1;
        for (int64_t k0 = 0; k0 < g->K; k0 += s->kb) {
            const int64_t kc = g->K - k0 < s->kb ? g->K - k0 : s->kb;
            for (int64_t p = pb0; p < pb1; p++) {   /* panels kc x NR apart */
                const int64_t n0 = p * EF_GEMM_NR, nw = g->N - n0 < EF_GEMM_NR ? g->N - n0 : EF_GEMM_NR;
                g->pack(g, k0, kc, n0, nw, s->bblk + (p - pb0) * kc * EF_GEMM_NR);
            }
            for (int64_t tb0 = s->t0; tb0 < s->t1; tb0 += s->tb) {
                const int64_t tb1 = tb0 + s->tb < s->t1 ? tb0 + s->tb : s->t1;
                if (!s->a_once) pack_a_block(g, s, tb0, tb1, k0, kc, ka);
                const float *ap0 = s->ablk + (s->a_once ? k0 * EF_GEMM_MR : 0);
                for (int64_t q0 = pb0; q0 < pb1; q0 += EF_GEMM_NB)   /* a group of panels, in L2 */
                    multiply(g, tb0, tb1, ap0, ka, q0, q0 + EF_GEMM_NB < pb1 ? q0 + EF_GEMM_NB : pb1,
                             s->bblk + (q0 - pb0) * kc * EF_GEMM_NR, k0, kc);
            }
        }
    }
}

/* Thread ith's share: row tiles or panels, whichever divides better (panels in whole
** groups). Returns 0, or -1 when there is no memory for the packed blocks (nothing
** written). */
static int run(const gemm_job *g, ef_pool *pool, int ith, int nth) {
    const int64_t mt = (g->M + EF_GEMM_MR - 1) / EF_GEMM_MR, np = (g->N + EF_GEMM_NR - 1) / EF_GEMM_NR;
    const int64_t ng = (np + EF_GEMM_NB - 1) / EF_GEMM_NB;
    gemm_share s = {.t0 = 0, .t1 = mt, .p0 = 0, .p1 = np, .kb = depth_block(g->K)};
    long a0, a1;
    if (ng >= 8L * nth || ng >= mt) {
        ef_split_rows((long)ng, ith, nth, &a0, &a1);
        s.p0 = a0 * EF_GEMM_NB;
        s.p1 = a1 * EF_GEMM_NB < np ? a1 * EF_GEMM_NB : np;
    } else {
        ef_split_rows((long)mt, ith, nth, &a0, &a1);
        s.t0 = a0;
        s.t1 = a1;
    }
    if (s.t0 >= s.t1 || s.p0 >= s.p1) return 0;

    /* A whole when small: packed once, and B a group at a time (L2), each panel used by
    ** every tile. Else blocks: B (<= 1 MiB) packed once per depth block, reused by
    ** every A block (<= 192 KiB, packed per B block and depth block). */
    const size_t panel = (size_t)s.kb * EF_GEMM_NR * sizeof(float), atile = (size_t)s.kb * EF_GEMM_MR * sizeof(float);
    const size_t a_all = (size_t)(s.t1 - s.t0) * EF_GEMM_MR * (size_t)g->K * sizeof(float);
    s.a_once = a_all <= A_ONCE_BYTES;
    if (s.a_once) {
        s.tb = s.t1 - s.t0;
        s.pb = EF_GEMM_NB;
    } else {
        s.tb = (int64_t)(A_BLOCK_BYTES / atile);
        s.pb = (int64_t)(B_BLOCK_BYTES / panel) / EF_GEMM_NB * EF_GEMM_NB;   /* whole groups */
        if (s.tb < 1) s.tb = 1;
        if (s.pb < EF_GEMM_NB) s.pb = EF_GEMM_NB;
    }
    if (s.pb > s.p1 - s.p0) s.pb = s.p1 - s.p0;
    if (s.tb > s.t1 - s.t0) s.tb = s.t1 - s.t0;
    const size_t bbytes = (size_t)s.pb * panel, bytes = bbytes + (s.a_once ? a_all : (size_t)s.tb * atile);
    float *own = NULL;
    s.bblk = ef_pool_scratch(pool, ith, bytes);
    if (!s.bblk) s.bblk = own = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!s.bblk) return -1;
    s.ablk = s.bblk + bbytes / sizeof(float);
    run_share(g, &s);
    free(own);
    return 0;
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
    int r_in_c = a->r == a->y;
    if (r_in_c && a->act != EF_ACT_NONE) {   /* act before an in-place residual: never used */
        ef_k_linear_f32__ref(a, ith, nth);
        return;
    }
    gemm_job g = {
        .M = a->M, .N = a->N, .K = a->K, .A = a->x, .lda = a->ldx, .at = EF_W_F32, .C = a->y, .ldc = a->ldy,
        .bias_n = a->b, .r = a->r, .ldr = a->ldy, .r_in_c = r_in_c, .act = a->act,
        .pack = pack_linear, .op = a, .isa = isa,
    };
    if (run(&g, a->pool, ith, nth) != 0) ef_k_linear_f32__ref(a, ith, nth);   /* out of memory */
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
    int r_in_c = a->r == a->y;
    if (r_in_c && a->act != EF_ACT_NONE) {
        ef_k_conv2d_f32__ref(a, ith, nth);
        return;
    }
    gemm_job g = {
        .M = a->Cout, .N = a->Ho * a->Wo, .K = K, .A = a->w, .lda = K, .at = a->wt, .C = a->y,
        .ldc = a->Ho * a->Wo, .bias_m = a->b, .r = a->r, .ldr = a->Ho * a->Wo, .r_in_c = r_in_c, .act = a->act,
        .pack = pack_conv, .op = a, .isa = isa,
    };
    if (run(&g, a->pool, ith, nth) != 0) ef_k_conv2d_f32__ref(a, ith, nth);   /* out of memory */
}

int ef_winograd_applies(const ef_conv2d_args *a) {
    const int64_t tiles = ((a->Ho + 3) / 4) * ((a->Wo + 3) / 4);
    return a->KH == 3 && a->KW == 3 && a->stride == 1 && a->pad == 1 && a->Ho == a->H && a->Wo == a->W &&
           a->Cin >= 8 && a->Cout >= 8 && tiles >= 16;
}

/* ---- the portable micro-kernel --------------------------------------------------- */

void ef_gemm_ukernel_c(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate,
                       const float *bias) {
    float acc[EF_GEMM_MR][EF_GEMM_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++)
        for (int i = 0; i < EF_GEMM_MR; i++) {
            float av = ap[k * EF_GEMM_MR + i];
            for (int j = 0; j < EF_GEMM_NR; j++) acc[i][j] += av * bp[k * EF_GEMM_NR + j];
        }
    for (int i = 0; i < EF_GEMM_MR; i++)
        for (int j = 0; j < EF_GEMM_NR; j++) {
            float v = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
            c[i * ldc + j] = bias ? v + bias[j] : v;
        }
}
