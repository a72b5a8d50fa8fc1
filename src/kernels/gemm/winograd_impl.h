/*
** winograd_impl.h -- 3x3, stride 1, pad 1 convolution as Winograd F(4x4, 3x3) (Lavin & Gray
** 2016) on the blocked GEMM's micro-kernel: 36 multiplies per 4x4 output tile and
** channel pair instead of 144, i.e. 4x fewer FMAs than the implicit GEMM.
**
** For one 6x6 input window d (overlapping its neighbours by 2) and one 3x3 filter g:
**   Y (4x4) = A^T [ (G g G^T) (.) (B^T d B) ] A,   (.) = elementwise,
** with the points 0, +-1, +-2, inf (the matrices are spelled out in the transforms below).
** Over channels that is 36 independent matrix products, one per position xi of the 6x6
** Winograd domain:
**   M[xi] (Cout, tiles) = U[xi] (Cout, Cin) . V[xi] (Cin, tiles),
**   U = weights transformed, V = input windows transformed,
** each run by the micro-kernel with U written straight into packed A tiles and V into
** packed panels (16 tiles wide) as its B.
**
** Thread ith owns a block of output channels x tiles (tiles are split when there are
** plenty, else channels). Loop nest, with scratch bounded per thread (<= ~15 MiB, the
** pool's per-thread block, ef_pool_scratch, kept between calls):
**   for each super-block of TS tiles
**     for each depth block of KC input channels
**       V = input transform of those channels and tiles          (36 x KC x TS)
**       for each block of WCB output channels
**         U = weight transform of the (WCB, KC) filters            (36 x WCB x KC)
**         M[xi] (+)= U[xi] . V[xi] for the 36 xi                   (micro-kernel)
**     output transform of M, + bias, act, + residual, into y
** This header is the whole kernel as static functions; each ISA's GEMM file includes
** it once (x86/gemm_avx2.c, arm/gemm_neon.c, built at -O3) so the transforms, written
** as loops over the 16 lanes of a panel, are vectorised for that ISA (AVX2 made them
** 1.2-1.7x faster than the baseline SSE2 build).
**
** Each output element sums its input channels in KC blocks, in order, whatever the
** split, so results are bit-identical for any thread count. The error against direct
** summation is a few ulps times the transform gains (~1e-6 relative here).
*/
#ifndef EF_KERNELS_GEMM_WINOGRAD_IMPL_H
#define EF_KERNELS_GEMM_WINOGRAD_IMPL_H

#include <stdlib.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

enum {
    WL      = EF_GEMM_NR,   /* tiles per panel (lanes of every transform) */
    WXI     = 36,           /* Winograd domain positions (6 x 6) */
    WKC     = 256,          /* input channels per depth block */
    WCB     = 48,           /* output channels per weight-transform block (8 row tiles) */
    WTS_MAX = 128,          /* tiles per super-block (8 panels) */
};

#define WM_BYTES_MAX ((size_t)8 << 20)   /* M's cap: 36 x rows x TS floats */

/* ---- transforms, each over the WL lanes of a panel -------------------------------- */

/* V = B^T d B for WL windows: d[r][c][l], v[xi][l] with xi = 6 * row + col. */
static void input_tf(float d[6][6][WL], float v[WXI][WL]) {
    float t[6][6][WL];
    for (int c = 0; c < 6; c++)   /* columns: t = B^T d */
        for (int l = 0; l < WL; l++) {
            const float d0 = d[0][c][l], d1 = d[1][c][l], d2 = d[2][c][l], d3 = d[3][c][l], d4 = d[4][c][l],
                        d5 = d[5][c][l];
            t[0][c][l] = 4.0f * d0 - 5.0f * d2 + d4;
            t[1][c][l] = -4.0f * (d1 + d2) + d3 + d4;
            t[2][c][l] = 4.0f * (d1 - d2) - d3 + d4;
            t[3][c][l] = 2.0f * (d3 - d1) - d2 + d4;
            t[4][c][l] = 2.0f * (d1 - d3) - d2 + d4;
            t[5][c][l] = 4.0f * d1 - 5.0f * d3 + d5;
        }
    for (int r = 0; r < 6; r++)   /* rows: v = t B */
        for (int l = 0; l < WL; l++) {
            const float t0 = t[r][0][l], t1 = t[r][1][l], t2 = t[r][2][l], t3 = t[r][3][l], t4 = t[r][4][l],
                        t5 = t[r][5][l];
            v[6 * r + 0][l] = 4.0f * t0 - 5.0f * t2 + t4;
            v[6 * r + 1][l] = -4.0f * (t1 + t2) + t3 + t4;
            v[6 * r + 2][l] = 4.0f * (t1 - t2) - t3 + t4;
            v[6 * r + 3][l] = 2.0f * (t3 - t1) - t2 + t4;
            v[6 * r + 4][l] = 2.0f * (t1 - t3) - t2 + t4;
            v[6 * r + 5][l] = 4.0f * t1 - 5.0f * t3 + t5;
        }
}

/* U = G g G^T for WL filters: g[3 * ky + kx][l], u[xi][l]. The sixths, twelfths and
** twenty-fourths are multiplications by rounded constants (a divide costs ~10x). */
static void weight_tf(float g[9][WL], float u[WXI][WL]) {
    const float q = 0.25f, s6 = 1.0f / 6.0f, s12 = 1.0f / 12.0f, s24 = 1.0f / 24.0f;
    float t[6][3][WL];
    for (int c = 0; c < 3; c++)   /* t = G g */
        for (int l = 0; l < WL; l++) {
            const float g0 = g[c][l], g1 = g[3 + c][l], g2 = g[6 + c][l], e = g0 + g2;
            const float f = s24 * g0 + s6 * g2, h = s12 * g1;
            t[0][c][l] = q * g0;
            t[1][c][l] = -s6 * (e + g1);
            t[2][c][l] = -s6 * (e - g1);
            t[3][c][l] = f + h;
            t[4][c][l] = f - h;
            t[5][c][l] = g2;
        }
    for (int r = 0; r < 6; r++)   /* u = t G^T */
        for (int l = 0; l < WL; l++) {
            const float t0 = t[r][0][l], t1 = t[r][1][l], t2 = t[r][2][l], e = t0 + t2;
            const float f = s24 * t0 + s6 * t2, h = s12 * t1;
            u[6 * r + 0][l] = q * t0;
            u[6 * r + 1][l] = -s6 * (e + t1);
            u[6 * r + 2][l] = -s6 * (e - t1);
            u[6 * r + 3][l] = f + h;
            u[6 * r + 4][l] = f - h;
            u[6 * r + 5][l] = t2;
        }
}

/* Y = A^T m A for WL tiles: m[xi][l], y[i][j][l] (4 x 4). */
static void output_tf(float m[WXI][WL], float y[4][4][WL]) {
    float t[4][6][WL];
    for (int c = 0; c < 6; c++)   /* t = A^T m */
        for (int l = 0; l < WL; l++) {
            const float m0 = m[c][l], m1 = m[6 + c][l], m2 = m[12 + c][l], m3 = m[18 + c][l], m4 = m[24 + c][l],
                        m5 = m[30 + c][l];
            t[0][c][l] = m0 + (m1 + m2) + (m3 + m4);
            t[1][c][l] = (m1 - m2) + 2.0f * (m3 - m4);
            t[2][c][l] = (m1 + m2) + 4.0f * (m3 + m4);
            t[3][c][l] = (m1 - m2) + 8.0f * (m3 - m4) + m5;
        }
    for (int r = 0; r < 4; r++)   /* y = t A */
        for (int l = 0; l < WL; l++) {
            const float t0 = t[r][0][l], t1 = t[r][1][l], t2 = t[r][2][l], t3 = t[r][3][l], t4 = t[r][4][l],
                        t5 = t[r][5][l];
            y[r][0][l] = t0 + (t1 + t2) + (t3 + t4);
            y[r][1][l] = (t1 - t2) + 2.0f * (t3 - t4);
            y[r][2][l] = (t1 + t2) + 4.0f * (t3 + t4);
            y[r][3][l] = (t1 - t2) + 8.0f * (t3 - t4) + t5;
        }
}

/* ---- the three passes ------------------------------------------------------------ */

typedef struct wino {
    const ef_conv2d_args *a;
    const ef_gemm_isa *isa;
    int64_t tw;         /* tiles per row of the output */
    int64_t c0, c1;     /* this thread's output channels */
    int64_t mrows;      /* M rows: c1 - c0 rounded up to a row tile */
    int64_t ts;         /* tiles per super-block (a multiple of WL) */
    float *V, *U, *M;   /* 36 x WKC x ts, 36 x WCB x WKC, 36 x mrows x ts */
    float *wrow;        /* a row tile's widened filter slices: MR x WKC * 9 */
} wino;

/* Lanes [l, l + run) of a panel whose tiles lie in one tile row: the length of the run
** starting at lane l (tiles t0 + l ..., at most nl lanes). */
static int row_run(const wino *w, int64_t t0, int l, int nl) {
    const int64_t left = w->tw - (t0 + l) % w->tw;   /* tiles to the end of the tile row */
    return nl - l < left ? nl - l : (int)left;
}

/* A panel's runs of tiles in one tile row: lanes [l0, l0 + n), with the output row and
** column of the run's first tile (4 x its tile coordinates). */
typedef struct panel_runs {
    int nl, nruns;
    int l0[WL], n[WL];
    int64_t oy0[WL], ox0[WL];
} panel_runs;

static void panel_runs_of(const wino *w, int64_t t0, int64_t nt, int64_t p, panel_runs *pr) {
    pr->nl = nt - p * WL < WL ? (int)(nt - p * WL) : WL;
    pr->nruns = 0;
    for (int l0 = 0; l0 < pr->nl; l0 += pr->n[pr->nruns++]) {
        const int64_t t = t0 + p * WL + l0;
        pr->l0[pr->nruns] = l0;
        pr->n[pr->nruns] = row_run(w, t0 + p * WL, l0, pr->nl);
        pr->oy0[pr->nruns] = (t / w->tw) * 4;
        pr->ox0[pr->nruns] = (t % w->tw) * 4;
    }
}

/* V[xi][p][kk][l] for channels [k0, k0 + kc) and tiles [t0, t0 + nt) (panel p = tile / WL).
** Channel by channel, the panels in order; while a panel is gathered, the next
** channel's input under it is requested (each channel plane is a separate stream of a
** few short rows, which the hardware prefetchers pick up late). Per run of tiles in one
** tile row, the 6 input rows its windows cover are read in place, or copied with their
** zero padding at the borders; the windows are gathered from them with grouped
** (stride-4) loads the compiler vectorises. Lanes past nt are zero. */
static void input_pass(const wino *w, int64_t t0, int64_t nt, int64_t k0, int64_t kc) {
    const ef_conv2d_args *a = w->a;
    const int64_t H = a->H, W = a->W, np = (nt + WL - 1) / WL;
    panel_runs pr[WTS_MAX / WL];
    for (int64_t p = 0; p < np; p++) panel_runs_of(w, t0, nt, p, &pr[p]);
    for (int64_t kk = 0; kk < kc; kk++) {
        const float *x = a->x + (k0 + kk) * H * W;
        for (int64_t p = 0; p < np; p++) {
            const panel_runs *r = &pr[p];
            _Alignas(32) float d[6][6][WL];
            _Alignas(32) float v[WXI][WL];
            if (r->nl < WL) memset(d, 0, sizeof d);
            for (int ri = 0; ri < r->nruns; ri++) {
                const int l0 = r->l0[ri], n = r->n[ri];
                const int64_t iy0 = r->oy0[ri] - 1, ix0 = r->ox0[ri] - 1;   /* the first window's top left */
                const int64_t width = 4 * (int64_t)n + 2;   /* input columns [ix0, ix0 + width) */
                const int64_t lo = ix0 < 0 ? -ix0 : 0, hi = ix0 + width > W ? W - ix0 : width;   /* inside: [lo, hi) */
                for (int rr = 0; rr < 6; rr++) {
                    float pad[4 * WL + 4];
                    const float *seg = pad;   /* input columns [ix0, ix0 + width) of row iy0 + rr */
                    const int64_t iy = iy0 + rr;
                    if (iy < 0 || iy >= H || hi <= lo) {
                        memset(pad, 0, sizeof pad);
                    } else {
                        if (kk + 1 < kc)
                            for (int64_t c = lo; c < hi; c += 16) __builtin_prefetch(x + H * W + iy * W + ix0 + c);
                        if (lo == 0 && hi == width) {   /* inside the image: read in place */
                            seg = x + iy * W + ix0;
                        } else {
                            for (int64_t c = 0; c < lo; c++) pad[c] = 0.0f;
                            memcpy(pad + lo, x + iy * W + ix0 + lo, (size_t)(hi - lo) * sizeof(float));
                            for (int64_t c = hi; c < width; c++) pad[c] = 0.0f;
                        }
                    }
                    float *d0 = d[rr][0] + l0, *d1 = d[rr][1] + l0, *d2 = d[rr][2] + l0, *d3 = d[rr][3] + l0;
                    float *d4 = d[rr][4] + l0, *d5 = d[rr][5] + l0;
                    for (int l = 0; l < n; l++) {   /* window l starts at seg[4 l]: a stride-4 group */
                        d0[l] = seg[4 * l];
                        d1[l] = seg[4 * l + 1];
                        d2[l] = seg[4 * l + 2];
                        d3[l] = seg[4 * l + 3];
                    }
                    for (int l = 0; l + 1 < n; l++) {   /* columns 4, 5 are the next window's 0, 1 */
                        d4[l] = d0[l + 1];
                        d5[l] = d1[l + 1];
                    }
                    d4[n - 1] = seg[4 * n];
                    d5[n - 1] = seg[4 * n + 1];
                }
            }
            input_tf(d, v);
            for (int xi = 0; xi < WXI; xi++) memcpy(w->V + ((xi * np + p) * kc + kk) * WL, v[xi], sizeof v[xi]);
        }
    }
}

/* U[xi] for output channels [cb0, cb0 + cbn) (rows up to cbr are zero) and input
** channels [k0, k0 + kc), as the micro-kernel's packed A tiles: row tile rt = row / MR
** at U[xi] + rt * MR * kc, element (row, kk) at [kk * MR + row % MR]. */
static void weight_pass(const wino *w, int64_t cb0, int64_t cbn, int64_t cbr, int64_t k0, int64_t kc) {
    const ef_conv2d_args *a = w->a;
    const int64_t K = a->Cin * 9;
    for (int64_t r0 = 0; r0 < cbr; r0 += EF_GEMM_MR) {   /* one row tile: MR output channels */
        const float *g[EF_GEMM_MR];   /* each row's filters for input channels [k0, k0 + kc) */
        for (int i = 0; i < EF_GEMM_MR; i++) {
            const int64_t row = r0 + i;
            g[i] = NULL;
            if (row >= cbn) continue;
            if (a->wt == EF_W_F32) {
                g[i] = (const float *)a->w + (cb0 + row) * K + k0 * 9;
            } else {
                float *wr = w->wrow + (size_t)i * WKC * 9;
                w->isa->wrow(a->w, a->wt, a->Cout, K, cb0 + row, k0 * 9, kc * 9, wr);
                g[i] = wr;
            }
        }
        for (int64_t kk0 = 0; kk0 < kc; kk0 += WL) {
            const int64_t nl = kc - kk0 < WL ? kc - kk0 : WL;
            _Alignas(32) float u[EF_GEMM_MR][WXI][WL];
            for (int i = 0; i < EF_GEMM_MR; i++) {
                _Alignas(32) float f[9][WL];
                if (g[i] && nl == WL) {
                    const float *gk = g[i] + kk0 * 9;
                    for (int k = 0; k < 9; k++)
                        for (int l = 0; l < WL; l++) f[k][l] = gk[l * 9 + k];
                } else {
                    for (int k = 0; k < 9; k++)
                        for (int l = 0; l < WL; l++) f[k][l] = g[i] && l < nl ? g[i][(kk0 + l) * 9 + k] : 0.0f;
                }
                weight_tf(f, u[i]);
            }
            float *dst = w->U + (r0 * kc + kk0 * EF_GEMM_MR);   /* U[xi] tile r0 / MR, depth kk0 */
            for (int xi = 0; xi < WXI; xi++, dst += cbr * kc)
                for (int64_t l = 0; l < nl; l++)
                    for (int i = 0; i < EF_GEMM_MR; i++) dst[l * EF_GEMM_MR + i] = u[i][xi][l];
        }
    }
}

/* y for this thread's channels and tiles [t0, t0 + nt) from M (+ bias, act, residual).
** Per run of tiles in one tile row, each of the 4 output rows is interleaved into one
** contiguous row (grouped stride-4 stores), then finished and stored in one sweep. */
static void output_pass(const wino *w, int64_t t0, int64_t nt) {
    const ef_conv2d_args *a = w->a;
    const int64_t Ho = a->Ho, Wo = a->Wo;
    for (int64_t p = 0; p * WL < nt; p++) {
        panel_runs pr;   /* the panel's runs of tiles in one tile row */
        panel_runs_of(w, t0, nt, p, &pr);
        for (int64_t co = w->c0; co < w->c1; co++) {
            const float bias = a->b ? a->b[co] : 0.0f;
            _Alignas(32) float m[WXI][WL];
            _Alignas(32) float y[4][4][WL];
            for (int xi = 0; xi < WXI; xi++)
                memcpy(m[xi], w->M + (xi * w->mrows + co - w->c0) * w->ts + p * WL, sizeof m[xi]);
            output_tf(m, y);
            for (int ri = 0; ri < pr.nruns; ri++) {
                const int l0 = pr.l0[ri], n = pr.n[ri];
                const int64_t oy0 = pr.oy0[ri], ox0 = pr.ox0[ri];
                const int64_t cols = Wo - ox0 < 4 * n ? Wo - ox0 : 4 * n;
                for (int64_t i = 0; i < 4 && oy0 + i < Ho; i++) {
                    float row[4 * WL];
                    const float *y0 = y[i][0] + l0, *y1 = y[i][1] + l0, *y2 = y[i][2] + l0, *y3 = y[i][3] + l0;
                    for (int l = 0; l < n; l++) {
                        row[4 * l] = y0[l] + bias;
                        row[4 * l + 1] = y1[l] + bias;
                        row[4 * l + 2] = y2[l] + bias;
                        row[4 * l + 3] = y3[l] + bias;
                    }
                    const int64_t o = (co * Ho + oy0 + i) * Wo + ox0;
                    if (a->act == EF_ACT_RELU) for (int64_t c = 0; c < cols; c++) row[c] = row[c] > 0.0f ? row[c] : 0.0f;
                    else if (a->act != EF_ACT_NONE) for (int64_t c = 0; c < cols; c++) row[c] = ef_act_apply(a->act, row[c]);
                    if (a->r) for (int64_t c = 0; c < cols; c++) a->y[o + c] = row[c] + a->r[o + c];
                    else memcpy(a->y + o, row, (size_t)cols * sizeof(float));
                }
            }
        }
    }
}

/* One super-block: tiles [t0, t0 + nt) of this thread's channels. */
static void super_block(const wino *w, int64_t t0, int64_t nt) {
    const ef_conv2d_args *a = w->a;
    const int64_t np = (nt + WL - 1) / WL;
    for (int64_t k0 = 0; k0 < a->Cin; k0 += WKC) {
        const int64_t kc = a->Cin - k0 < WKC ? a->Cin - k0 : WKC;
        input_pass(w, t0, nt, k0, kc);
        for (int64_t cb0 = w->c0; cb0 < w->c1; cb0 += WCB) {
            const int64_t cbn = w->c1 - cb0 < WCB ? w->c1 - cb0 : WCB;
            const int64_t cbr = (cbn + EF_GEMM_MR - 1) / EF_GEMM_MR * EF_GEMM_MR;
            weight_pass(w, cb0, cbn, cbr, k0, kc);
            for (int xi = 0; xi < WXI; xi++)
                for (int64_t r = 0; r < cbr; r += EF_GEMM_MR)
                    for (int64_t p = 0; p < np; p++)
                        w->isa->uk(kc, w->U + (xi * cbr + r) * kc, w->V + (xi * np + p) * kc * WL,
                                   w->M + (xi * w->mrows + cb0 - w->c0 + r) * w->ts + p * WL, w->ts, k0 > 0, NULL);
        }
    }
    output_pass(w, t0, nt);
}

/* The same share computed directly (only when the scratch cannot be allocated). */
static void direct_share(const wino *w, int64_t t0, int64_t t1) {
    const ef_conv2d_args *a = w->a;
    const int64_t K = a->Cin * 9;
    for (int64_t co = w->c0; co < w->c1; co++)
        for (int64_t t = t0; t < t1; t++)
            for (int64_t i = 0; i < 4; i++)
                for (int64_t j = 0; j < 4; j++) {
                    const int64_t oy = (t / w->tw) * 4 + i, ox = (t % w->tw) * 4 + j;
                    if (oy >= a->Ho || ox >= a->Wo) continue;
                    float acc = 0.0f;
                    for (int64_t ci = 0; ci < a->Cin; ci++) {
                        float g[9];
                        ef_wmat_row_f32(a->w, a->wt, a->Cout, K, co, ci * 9, 9, g);
                        for (int k = 0; k < 9; k++) {
                            const int64_t iy = oy + k / 3 - 1, ix = ox + k % 3 - 1;
                            if (iy >= 0 && iy < a->H && ix >= 0 && ix < a->W) acc += g[k] * a->x[(ci * a->H + iy) * a->W + ix];
                        }
                    }
                    const int64_t o = (co * a->Ho + oy) * a->Wo + ox;
                    const float v = ef_act_apply(a->act, acc + (a->b ? a->b[co] : 0.0f));
                    a->y[o] = a->r ? v + a->r[o] : v;
                }
}

/* Thread ith's share of the convolution (ef_winograd_applies(a) holds). */
static void winograd_conv2d(const ef_conv2d_args *a, int ith, int nth, const ef_gemm_isa *isa) {
    wino w = {.a = a, .isa = isa, .tw = (a->Wo + 3) / 4};
    const int64_t tiles = ((a->Ho + 3) / 4) * w.tw, panels = (tiles + WL - 1) / WL;
    const int64_t row_tiles = (a->Cout + EF_GEMM_MR - 1) / EF_GEMM_MR;
    long t0 = 0, t1 = (long)tiles;
    w.c0 = 0;
    w.c1 = a->Cout;
    if (panels >= 4L * nth || panels >= row_tiles) {   /* split tiles, whole panels each */
        long p0, p1;
        ef_split_rows((long)panels, ith, nth, &p0, &p1);
        t0 = p0 * WL;
        t1 = p1 * WL < tiles ? p1 * WL : (long)tiles;
    } else {   /* split output channels, whole row tiles each */
        long r0, r1;
        ef_split_rows((long)row_tiles, ith, nth, &r0, &r1);
        w.c0 = r0 * EF_GEMM_MR;
        w.c1 = r1 * EF_GEMM_MR < a->Cout ? r1 * EF_GEMM_MR : a->Cout;
    }
    if (t0 >= t1 || w.c0 >= w.c1) return;

    w.mrows = (w.c1 - w.c0 + EF_GEMM_MR - 1) / EF_GEMM_MR * EF_GEMM_MR;
    w.ts = WTS_MAX;
    while (w.ts > WL && (size_t)WXI * (size_t)w.mrows * (size_t)w.ts * sizeof(float) > WM_BYTES_MAX) w.ts -= WL;
    if (w.ts > (t1 - t0 + WL - 1) / WL * WL) w.ts = (t1 - t0 + WL - 1) / WL * WL;
    /* V, U, M and the row buffer in one block, each part a multiple of 16 floats: the
    ** pool's scratch for this thread (kept between calls), else a block of our own */
    const size_t nv = (size_t)WXI * WKC * (size_t)w.ts, nu = (size_t)WXI * WCB * WKC;
    const size_t nm = (size_t)WXI * (size_t)w.mrows * (size_t)w.ts, nr = (size_t)EF_GEMM_MR * WKC * 9;
    const size_t bytes = (nv + nu + nm + nr) * sizeof(float);
    float *scratch = ef_pool_scratch(a->pool, ith, bytes), *own = NULL;
    if (!scratch) scratch = own = aligned_alloc(64, bytes);
    if (scratch) {
        w.V = scratch;
        w.U = w.V + nv;
        w.M = w.U + nu;
        w.wrow = w.M + nm;
        for (int64_t s = t0; s < t1; s += w.ts) super_block(&w, s, t1 - s < w.ts ? t1 - s : w.ts);
    } else {
        direct_share(&w, t0, t1);
    }
    free(own);
}

#endif /* EF_KERNELS_GEMM_WINOGRAD_IMPL_H */
