/*
** gemm.h -- the blocked matrix-multiply driver shared by the SIMD variants of linear
** and conv2d.
**
** Both ops are one product C (M, N) = A (M, K) . B (K, N) with a fused epilogue:
**   linear:  A = x (tokens, K), B = W^T, C = y (tokens, N);
**   conv2d:  A = w (Cout, Cin*KH*KW) (torch layout IS row-major A),
**            B = im2col(x) (Cin*KH*KW, Ho*Wo), C = y (Cout, Ho*Wo).
** Neither operand is materialised whole: the driver (gemm.c) packs blocks of B into
** panels of KC x NR (W^T rows for linear, shifted input rows for conv: an implicit
** GEMM, never a 9x-size im2col buffer) and blocks of A into tiles of MR rows
** interleaved k-major (the micro-kernel's MR broadcasts per k then come from one cache
** line: 95-99% of the FMA peak against 75-80% with the rows read in place), in the
** thread pool's scratch, and an ISA micro-kernel multiplies a tile with a panel,
** accumulating in C. Each operand is packed about once per op.
**
** 3x3, stride-1, pad-1 convolutions go to Winograd F(4x4, 3x3) instead
** (winograd_impl.h: 36 products of this micro-kernel on transformed tiles).
**
** Summation order of every output element: the residual first when it is y itself,
** then K in equal blocks of at most EF_GEMM_KC, each block summed by the micro-kernel
** in k order, blocks added in order; then + bias, act, + residual (when it is not y).
** It depends on (M, N, K) only, never on the thread split, so results are
** bit-identical for any thread count.
*/
#ifndef EF_KERNELS_GEMM_GEMM_H
#define EF_KERNELS_GEMM_GEMM_H

#include "kernels/kernels.h"

enum {
    EF_GEMM_MR = 6,     /* rows of A (and C) per micro-kernel call */
    EF_GEMM_NR = 16,    /* columns of B (and C) per micro-kernel call */
    EF_GEMM_KC = 384,   /* most depth of one packed panel: 384 x 16 floats = 24 KiB */
    EF_GEMM_NB = 8,     /* panels reused by every row tile of an A block (<= 192 KiB, L2) */
};

/* c (MR, NR), row stride ldc, = ([c +] ap . bp) [+ bias], where ap is a packed A
** tile, ap[k * MR + i] = A[m0 + i][k0 + k], and bp a packed panel, bp[k * NR + j] =
** B[k0 + k][n0 + j] (both 32-byte aligned), k < kc. accumulate = 0 overwrites c, 1
** adds to it; bias (NR), or NULL, is added to every row last (linear's bias, in
** registers: reading a fresh C tile back for it cost ~10% of a linear). */
typedef void (*ef_gemm_ukernel_fn)(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate,
                                   const float *bias);

/* dst[i] = w[r][k0 + i] as f32 for i < n: an ISA's version of ef_wmat_row_f32 (same
** results), used to widen f16/bf16/q8 weights while packing. */
typedef void (*ef_gemm_wrow_fn)(const void *w, ef_wtype t, int64_t rows, int64_t cols, int64_t r, int64_t k0,
                                int64_t n, float *dst);

/* A full panel of W^T: dst[k * NR + j] = W[n0 + j][k0 + k] as f32, k < kc, j < NR, for
** W (N, K) stored as t (rows n0 .. n0 + NR exist). An ISA's transposing version of
** the portable loop in pack_linear; NULL = that loop. */
typedef void (*ef_gemm_pack_wt_fn)(const void *w, ef_wtype t, int64_t N, int64_t K, int64_t n0, int64_t k0, int64_t kc,
                                   float *dst);

typedef struct ef_gemm_isa {
    ef_gemm_ukernel_fn uk;
    ef_gemm_wrow_fn    wrow;
    ef_gemm_pack_wt_fn pack_wt;   /* or NULL */
} ef_gemm_isa;

/* Thread ith's share of a linear / conv2d op on an ISA's micro-kernel. Narrow conv
** weights (wt != f32) are widened row tile by row tile; narrow linear weights while
** their panels are packed, so both cost O(weights) conversions per column group. */
void ef_gemm_linear(const ef_linear_args *a, int ith, int nth, const ef_gemm_isa *isa);
void ef_gemm_conv2d(const ef_conv2d_args *a, int ith, int nth, const ef_gemm_isa *isa);

/* Whether a conv2d is one the Winograd F(4x4, 3x3) kernel takes (winograd_impl.h: 3x3,
** stride 1, pad 1, enough channels and tiles to pay for its transforms). */
int ef_winograd_applies(const ef_conv2d_args *a);

/* The portable micro-kernel (plain C), the spec of the SIMD ones. */
void ef_gemm_ukernel_c(int64_t kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate,
                       const float *bias);

#endif /* EF_KERNELS_GEMM_GEMM_H */
