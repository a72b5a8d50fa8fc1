/*
** kernels.h -- the compute ops of the engine as a table of function pointers.
**
** Every op has a plain C11 reference kernel in src/kernels/ref/ (symbol
** ef_k_<op>_f32__ref); it is the spec. Faster variants (..._f32__avx2, __avx512, __neon)
** live in their own translation units and are slotted in per op: a variant table
** names, for every op, the best kernel it has and the ref kernel for the others.
** ef_kernels_select picks one table once, from the probed CPU features.
**
** Kernel contract: fn(args, ith, nth) computes thread ith's share of the op, splitting
** rows with ef_split_rows, so a whole op is one ef_pool_run. Every output element is
** reduced in a fixed order that does not depend on nth: results are bit-identical for
** any thread count. Model code calls the ef_kernels_<op> helpers, which run the
** table's kernel on a pool.
**
** Legend: M,N,K = matmul dims (rows of x, outputs, inputs), T = tokens, H = heads,
** Dh = head dim, C = channels, S = spatial positions (H*W), G = groups, R = rows, F = GEGLU width.
** Layouts are row-major; ld* are row strides in floats.
*/
#ifndef EF_KERNELS_KERNELS_H
#define EF_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "kernels/wmat.h"

/* Elementwise activations (also fused into linear). */
typedef enum ef_act {
    EF_ACT_NONE = 0,
    EF_ACT_QUICK_GELU,   /* x * sigmoid(1.702 x)                               (CLIP) */
    EF_ACT_GELU,         /* 0.5 x (1 + erf(x / sqrt 2))                         exact   */
    EF_ACT_GELU_TANH,    /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   "gelu_new" */
    EF_ACT_SILU,         /* x * sigmoid(x)                                             */
    EF_ACT_RELU,         /* max(x, 0)                                          (TAESD) */
    EF_ACT_COUNT
} ef_act;

/* The scalar definition of each activation (the spec the kernels follow). */
float ef_act_apply(ef_act act, float x);

/* ---- op arguments ----------------------------------------------------------- */

/* y = act(x @ W^T + b) + r, torch Linear layout. y must not alias x or W; r may be y
** (an in-place residual add). b and r may be NULL. W is stored as wt (wmat.h; a
** zero-initialised wt is f32). */
typedef struct ef_linear_args {
    const float *x;      /* x (M, K), row stride ldx >= K */
    const void  *w;      /* W (N, K), contiguous: one row per output, stored as wt */
    const float *b;      /* b (N) or NULL */
    const float *r;      /* r (M, N), row stride ldy, or NULL: added after act */
    float       *y;      /* y (M, N), row stride ldy >= N */
    int64_t      M, N, K;
    int64_t      ldx, ldy;
    ef_act       act;
    ef_wtype     wt;
    ef_pool     *pool;    /* set by ef_kernels_linear: as ef_conv2d_args.pool */
} ef_linear_args;

/* Layer norm over the last dim: y = (x - mean) / sqrt(var + eps) * gamma + beta, with
** the biased variance. y may equal x. gamma/beta may be NULL (1 / 0). */
typedef struct ef_layer_norm_args {
    const float *x;      /* x (R, D) contiguous */
    float       *y;      /* y (R, D) contiguous */
    const float *gamma;  /* (D) or NULL */
    const float *beta;   /* (D) or NULL */
    int64_t      R, D;
    float        eps;
} ef_layer_norm_args;

/* Group norm, channel-major (torch NCHW with N=1): channels split into G groups of
** C/G consecutive channels; statistics over (C/G, S); then a per-channel affine.
** y may equal x. gamma/beta may be NULL. Optionally fuses an activation after the
** affine (the UNet's GroupNorm + SiLU). */
typedef struct ef_group_norm_args {
    const float *x;      /* x (C, S) contiguous */
    float       *y;      /* y (C, S) contiguous */
    const float *gamma;  /* (C) or NULL */
    const float *beta;   /* (C) or NULL */
    int64_t      C, S, G;   /* C % G == 0 */
    float        eps;
    ef_act       act;
} ef_group_norm_args;

/* y = act(x), n elements; y may equal x. */
typedef struct ef_act_args {
    const float *x;      /* (n) */
    float       *y;      /* (n) */
    int64_t      n;
    ef_act       act;
} ef_act_args;

/* y = a + b, n elements; y may equal a or b. */
typedef struct ef_add_args {
    const float *a;      /* (n) */
    const float *b;      /* (n) */
    float       *y;      /* (n) */
    int64_t      n;
} ef_add_args;

/* Row softmax: y[r] = exp(x[r] - max) / sum. y may equal x. */
typedef struct ef_softmax_args {
    const float *x;      /* x (R, N) contiguous */
    float       *y;      /* y (R, N) contiguous */
    int64_t      R, N;
} ef_softmax_args;

/* Multi-head attention, heads side by side in each row (torch's (T, H*Dh) before the
** head split): for head h, out[i, h] = softmax_j(scale * q[i,h] . k[j,h]) v[j,h].
** causal: query i sees keys j <= i only (torch tril / is_causal=True, top-left
** aligned). Keys are consumed in tiles with an online softmax, so memory does not
** grow with Tq*Tk. out must not alias q, k or v; q/k/v may be column slices of one
** fused (T, 3*H*Dh) buffer through their row strides. Needs Tk >= 1. */
typedef struct ef_attention_args {
    const float *q;      /* q (Tq, H*Dh), row stride ldq */
    const float *k;      /* k (Tk, H*Dh), row stride ldk */
    const float *v;      /* v (Tk, H*Dh), row stride ldv */
    float       *out;    /* out (Tq, H*Dh), row stride ldo */
    int64_t      Tq, Tk, H, Dh;
    int64_t      ldq, ldk, ldv, ldo;
    float        scale;  /* usually 1/sqrt(Dh) */
    int          causal;
} ef_attention_args;

/* 2-D convolution of one image, channel-major (torch NCHW with N=1), zero padding:
**   y[co, oy, ox] = act(b[co] + sum_{ci,ky,kx} w[co, ci, ky, kx] * x[ci, oy*s+ky-p, ox*s+kx-p]) + r[co, oy, ox]
** with Ho = (H + 2p - KH) / s + 1, Wo likewise. The sum runs over ci, then ky, then kx
** in that order for every output element. y must not alias x or w; r may be y. b, r
** may be NULL. w is stored as wt: a (Cout, Cin*KH*KW) matrix (wmat.h); a wt other than
** f32 needs KH*KW <= 121. */
typedef struct ef_conv2d_args {
    const float *x;      /* x (Cin, H, W) contiguous */
    const void  *w;      /* w (Cout, Cin, KH, KW) contiguous, torch Conv2d layout, stored as wt */
    const float *b;      /* b (Cout) or NULL */
    const float *r;      /* r (Cout, Ho, Wo) or NULL: added after act (residual) */
    float       *y;      /* y (Cout, Ho, Wo) contiguous */
    int64_t      Cin, H, W, Cout, KH, KW;
    int64_t      stride, pad;
    int64_t      Ho, Wo;  /* must equal the formula above (checked by callers) */
    ef_act       act;
    ef_wtype     wt;
    ef_pool     *pool;    /* set by ef_kernels_conv2d: the pool running the op, whose
                          ** per-thread scratch (ef_pool_scratch) a kernel may use; or NULL */
} ef_conv2d_args;

/* Nearest-neighbour 2x upsampling, channel-major: y[c, 2i+di, 2j+dj] = x[c, i, j]. */
typedef struct ef_upsample2x_args {
    const float *x;      /* x (C, H, W) */
    float       *y;      /* y (C, 2H, 2W) */
    int64_t      C, H, W;
} ef_upsample2x_args;

/* GEGLU, the gated activation of diffusers' FeedForward (after its projection): each
** row of x holds a value half and a gate half (torch .chunk(2, dim=-1)), and
**   y[r, j] = x[r, j] * gelu_erf(x[r, F + j]),   j < F,
** with gelu_erf as EF_ACT_GELU. y may equal x when ldy == ldx (in place: the result
** overwrites the value half, and a following linear reads it with row stride ldx). */
typedef struct ef_geglu_args {
    const float *x;      /* x (R, 2F), row stride ldx >= 2F */
    float       *y;      /* y (R, F), row stride ldy >= F */
    int64_t      R, F;
    int64_t      ldx, ldy;
} ef_geglu_args;

/* Transpose with an optional residual: y[j, i] = x[i, j] (+ r[j, i]). Turns a
** channel-major map (C, S) into token rows (S, C) and back. y must not alias x; r may
** be y (an in-place residual add). */
typedef struct ef_transpose_args {
    const float *x;      /* x (M, N) contiguous */
    const float *r;      /* r (N, M) contiguous, or NULL */
    float       *y;      /* y (N, M) contiguous */
    int64_t      M, N;
} ef_transpose_args;

/* ---- the table --------------------------------------------------------------- */

typedef void (*ef_k_linear_fn)(const ef_linear_args *a, int ith, int nth);
typedef void (*ef_k_layer_norm_fn)(const ef_layer_norm_args *a, int ith, int nth);
typedef void (*ef_k_group_norm_fn)(const ef_group_norm_args *a, int ith, int nth);
typedef void (*ef_k_act_fn)(const ef_act_args *a, int ith, int nth);
typedef void (*ef_k_add_fn)(const ef_add_args *a, int ith, int nth);
typedef void (*ef_k_softmax_fn)(const ef_softmax_args *a, int ith, int nth);
typedef void (*ef_k_attention_fn)(const ef_attention_args *a, int ith, int nth);
typedef void (*ef_k_conv2d_fn)(const ef_conv2d_args *a, int ith, int nth);
typedef void (*ef_k_upsample2x_fn)(const ef_upsample2x_args *a, int ith, int nth);
typedef void (*ef_k_geglu_fn)(const ef_geglu_args *a, int ith, int nth);
typedef void (*ef_k_transpose_fn)(const ef_transpose_args *a, int ith, int nth);

/* One kernel per op; every entry is non-NULL. A variant table reuses ref entries for
** the ops it does not accelerate. */
typedef struct ef_kernels {
    const char         *name;          /* "ref", later "avx2", "avx512", "neon" */
    ef_k_linear_fn      linear_f32;
    ef_k_layer_norm_fn  layer_norm_f32;
    ef_k_group_norm_fn  group_norm_f32;
    ef_k_act_fn         act_f32;
    ef_k_add_fn         add_f32;
    ef_k_softmax_fn     softmax_f32;
    ef_k_attention_fn   attention_f32;
    ef_k_conv2d_fn      conv2d_f32;
    ef_k_upsample2x_fn  upsample2x_f32;
    ef_k_geglu_fn       geglu_f32;
    ef_k_transpose_fn   transpose_f32;
} ef_kernels;

/* Chooses the table once (at context creation). force NULL or "" = the best variant
** the CPU features f allow (f may be NULL: ref); force "ref" (or another variant's
** name) = that table. Returns NULL when force names no known variant or one that f
** does not support. The table is static and immutable. */
const ef_kernels *ef_kernels_select(const ef_cpu_features *f, const char *force);

/* The reference table (what tests compare every variant against). */
const ef_kernels *ef_kernels_ref(void);

/* Every built variant this CPU can run (probed on each call), best first, for tests
** and benchmarks: i in [0, ef_kernels_count()). */
int               ef_kernels_count(void);
const ef_kernels *ef_kernels_at(int i);

/* Run one op of table k on pool (NULL pool: the calling thread only). Each is one
** ef_pool_run: it returns when the whole op is done. */
void ef_kernels_linear(const ef_kernels *k, ef_pool *pool, const ef_linear_args *a);
void ef_kernels_layer_norm(const ef_kernels *k, ef_pool *pool, const ef_layer_norm_args *a);
void ef_kernels_group_norm(const ef_kernels *k, ef_pool *pool, const ef_group_norm_args *a);
void ef_kernels_act(const ef_kernels *k, ef_pool *pool, const ef_act_args *a);
void ef_kernels_add(const ef_kernels *k, ef_pool *pool, const ef_add_args *a);
void ef_kernels_softmax(const ef_kernels *k, ef_pool *pool, const ef_softmax_args *a);
void ef_kernels_attention(const ef_kernels *k, ef_pool *pool, const ef_attention_args *a);
void ef_kernels_conv2d(const ef_kernels *k, ef_pool *pool, const ef_conv2d_args *a);
void ef_kernels_upsample2x(const ef_kernels *k, ef_pool *pool, const ef_upsample2x_args *a);
void ef_kernels_geglu(const ef_kernels *k, ef_pool *pool, const ef_geglu_args *a);
void ef_kernels_transpose(const ef_kernels *k, ef_pool *pool, const ef_transpose_args *a);

/* ---- reference kernels (src/kernels/ref/) ----------------------------------- */

void ef_k_linear_f32__ref(const ef_linear_args *a, int ith, int nth);
void ef_k_layer_norm_f32__ref(const ef_layer_norm_args *a, int ith, int nth);
void ef_k_group_norm_f32__ref(const ef_group_norm_args *a, int ith, int nth);
void ef_k_act_f32__ref(const ef_act_args *a, int ith, int nth);
void ef_k_add_f32__ref(const ef_add_args *a, int ith, int nth);
void ef_k_softmax_f32__ref(const ef_softmax_args *a, int ith, int nth);
void ef_k_attention_f32__ref(const ef_attention_args *a, int ith, int nth);
void ef_k_conv2d_f32__ref(const ef_conv2d_args *a, int ith, int nth);
void ef_k_upsample2x_f32__ref(const ef_upsample2x_args *a, int ith, int nth);
void ef_k_geglu_f32__ref(const ef_geglu_args *a, int ith, int nth);
void ef_k_transpose_f32__ref(const ef_transpose_args *a, int ith, int nth);

/* ---- AVX2 kernels (src/kernels/x86/) ---------------------------------------- */

void ef_k_linear_f32__avx2(const ef_linear_args *a, int ith, int nth);
void ef_k_conv2d_f32__avx2(const ef_conv2d_args *a, int ith, int nth);
void ef_k_attention_f32__avx2(const ef_attention_args *a, int ith, int nth);
void ef_k_layer_norm_f32__avx2(const ef_layer_norm_args *a, int ith, int nth);
void ef_k_group_norm_f32__avx2(const ef_group_norm_args *a, int ith, int nth);
void ef_k_act_f32__avx2(const ef_act_args *a, int ith, int nth);
void ef_k_add_f32__avx2(const ef_add_args *a, int ith, int nth);
void ef_k_softmax_f32__avx2(const ef_softmax_args *a, int ith, int nth);
void ef_k_upsample2x_f32__avx2(const ef_upsample2x_args *a, int ith, int nth);
void ef_k_geglu_f32__avx2(const ef_geglu_args *a, int ith, int nth);
void ef_k_transpose_f32__avx2(const ef_transpose_args *a, int ith, int nth);

/* ---- NEON kernels (src/kernels/arm/) ----------------------------------------- */

void ef_k_linear_f32__neon(const ef_linear_args *a, int ith, int nth);
void ef_k_conv2d_f32__neon(const ef_conv2d_args *a, int ith, int nth);
void ef_k_attention_f32__neon(const ef_attention_args *a, int ith, int nth);
void ef_k_layer_norm_f32__neon(const ef_layer_norm_args *a, int ith, int nth);
void ef_k_group_norm_f32__neon(const ef_group_norm_args *a, int ith, int nth);
void ef_k_act_f32__neon(const ef_act_args *a, int ith, int nth);
void ef_k_add_f32__neon(const ef_add_args *a, int ith, int nth);
void ef_k_softmax_f32__neon(const ef_softmax_args *a, int ith, int nth);
void ef_k_upsample2x_f32__neon(const ef_upsample2x_args *a, int ith, int nth);
void ef_k_geglu_f32__neon(const ef_geglu_args *a, int ith, int nth);

#endif /* EF_KERNELS_KERNELS_H */
