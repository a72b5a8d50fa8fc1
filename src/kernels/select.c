/*
** select.c -- the variant tables, the once-per-context choice between them, and the
** helpers that run one table entry on the thread pool.
**
** Built: "avx2" (x86_64, src/kernels/x86/), "neon" (aarch64, src/kernels/arm/) and
** "ref" everywhere. Each SIMD table names its kernels for the ops it accelerates and
** the ref kernels for the rest, with a feature test in VARIANTS; tests/test_kernels.c
** checks every variant the CPU runs against the reference. Selection happens once;
** nothing here is mutable.
*/
#include <string.h>

#include "kernels/kernels.h"

static const ef_kernels REF = {
    .name           = "ref",
    .linear_f32     = ef_k_linear_f32__ref,
    .layer_norm_f32 = ef_k_layer_norm_f32__ref,
    .group_norm_f32 = ef_k_group_norm_f32__ref,
    .act_f32        = ef_k_act_f32__ref,
    .add_f32        = ef_k_add_f32__ref,
    .softmax_f32    = ef_k_softmax_f32__ref,
    .attention_f32  = ef_k_attention_f32__ref,
    .conv2d_f32     = ef_k_conv2d_f32__ref,
    .upsample2x_f32 = ef_k_upsample2x_f32__ref,
    .geglu_f32      = ef_k_geglu_f32__ref,
    .transpose_f32  = ef_k_transpose_f32__ref,
};

#if defined(__x86_64__)
/* AVX2 + FMA + F16C (Haswell, Zen and later): src/kernels/x86/. */
static const ef_kernels AVX2 = {
    .name           = "avx2",
    .linear_f32     = ef_k_linear_f32__avx2,
    .layer_norm_f32 = ef_k_layer_norm_f32__avx2,
    .group_norm_f32 = ef_k_group_norm_f32__avx2,
    .act_f32        = ef_k_act_f32__avx2,
    .add_f32        = ef_k_add_f32__avx2,
    .softmax_f32    = ef_k_softmax_f32__avx2,
    .attention_f32  = ef_k_attention_f32__avx2,
    .conv2d_f32     = ef_k_conv2d_f32__avx2,
    .upsample2x_f32 = ef_k_upsample2x_f32__avx2,
    .geglu_f32      = ef_k_geglu_f32__avx2,
    .transpose_f32  = ef_k_transpose_f32__avx2,
};
static int has_avx2(const ef_cpu_features *f) { return f && f->avx2 && f->fma && f->f16c; }
#endif

#if defined(__aarch64__)
/* AArch64 Advanced SIMD (NEON, in every ARMv8-A core): src/kernels/arm/. */
static const ef_kernels NEON = {
    .name           = "neon",
    .linear_f32     = ef_k_linear_f32__neon,
    .layer_norm_f32 = ef_k_layer_norm_f32__neon,
    .group_norm_f32 = ef_k_group_norm_f32__neon,
    .act_f32        = ef_k_act_f32__neon,
    .add_f32        = ef_k_add_f32__neon,
    .softmax_f32    = ef_k_softmax_f32__neon,
    .attention_f32  = ef_k_attention_f32__neon,
    .conv2d_f32     = ef_k_conv2d_f32__neon,
    .upsample2x_f32 = ef_k_upsample2x_f32__neon,
    .geglu_f32      = ef_k_geglu_f32__neon,
    .transpose_f32  = ef_k_transpose_f32__ref,
};
static int has_neon(const ef_cpu_features *f) { return f && f->neon; }
#endif

/* Best first. supported(NULL) must be 0 for every variant but ref. */
static int always(const ef_cpu_features *f) { (void)f; return 1; }

static const struct {
    const ef_kernels *table;
    int (*supported)(const ef_cpu_features *f);
} VARIANTS[] = {
#if defined(__x86_64__)
    {&AVX2, has_avx2},
#endif
#if defined(__aarch64__)
    {&NEON, has_neon},
#endif
    {&REF, always},
};
enum { N_VARIANTS = (int)(sizeof VARIANTS / sizeof VARIANTS[0]) };

const ef_kernels *ef_kernels_select(const ef_cpu_features *f, const char *force) {
    int forced = force && force[0];
    for (int i = 0; i < N_VARIANTS; i++) {
        const ef_kernels *t = VARIANTS[i].table;
        if (forced && strcmp(force, t->name) != 0) continue;
        if (VARIANTS[i].supported(f)) return t;
        if (forced) return NULL;   /* named, but this CPU lacks its features */
    }
    return NULL;
}

const ef_kernels *ef_kernels_ref(void) { return &REF; }

int ef_kernels_count(void) {
    ef_cpu_features f = ef_cpu_features_probe();
    int n = 0;
    for (int i = 0; i < N_VARIANTS; i++) n += VARIANTS[i].supported(&f) != 0;
    return n;
}

const ef_kernels *ef_kernels_at(int i) {
    ef_cpu_features f = ef_cpu_features_probe();
    for (int v = 0; v < N_VARIANTS; v++)
        if (VARIANTS[v].supported(&f) && i-- == 0) return VARIANTS[v].table;
    return NULL;
}

/* ---- running one entry on the pool ------------------------------------------
** ef_pool_run takes void (*)(void *, int, int); each op gets a trampoline that
** carries the typed kernel pointer and its arguments (no function-pointer casts). */

typedef struct { ef_k_linear_fn fn; const ef_linear_args *a; } linear_job;
static void linear_tramp(void *p, int ith, int nth) { const linear_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_linear(const ef_kernels *k, ef_pool *pool, const ef_linear_args *a) {
    ef_linear_args with_pool = *a;
    with_pool.pool = pool;
    linear_job j = {k->linear_f32, &with_pool};
    ef_pool_run(pool, linear_tramp, &j);
}

typedef struct { ef_k_layer_norm_fn fn; const ef_layer_norm_args *a; } layer_norm_job;
static void layer_norm_tramp(void *p, int ith, int nth) { const layer_norm_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_layer_norm(const ef_kernels *k, ef_pool *pool, const ef_layer_norm_args *a) {
    layer_norm_job j = {k->layer_norm_f32, a};
    ef_pool_run(pool, layer_norm_tramp, &j);
}

typedef struct { ef_k_group_norm_fn fn; const ef_group_norm_args *a; } group_norm_job;
static void group_norm_tramp(void *p, int ith, int nth) { const group_norm_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_group_norm(const ef_kernels *k, ef_pool *pool, const ef_group_norm_args *a) {
    group_norm_job j = {k->group_norm_f32, a};
    ef_pool_run(pool, group_norm_tramp, &j);
}

typedef struct { ef_k_act_fn fn; const ef_act_args *a; } act_job;
static void act_tramp(void *p, int ith, int nth) { const act_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_act(const ef_kernels *k, ef_pool *pool, const ef_act_args *a) {
    act_job j = {k->act_f32, a};
    ef_pool_run(pool, act_tramp, &j);
}

typedef struct { ef_k_add_fn fn; const ef_add_args *a; } add_job;
static void add_tramp(void *p, int ith, int nth) { const add_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_add(const ef_kernels *k, ef_pool *pool, const ef_add_args *a) {
    add_job j = {k->add_f32, a};
    ef_pool_run(pool, add_tramp, &j);
}

typedef struct { ef_k_softmax_fn fn; const ef_softmax_args *a; } softmax_job;
static void softmax_tramp(void *p, int ith, int nth) { const softmax_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_softmax(const ef_kernels *k, ef_pool *pool, const ef_softmax_args *a) {
    softmax_job j = {k->softmax_f32, a};
    ef_pool_run(pool, softmax_tramp, &j);
}

typedef struct { ef_k_attention_fn fn; const ef_attention_args *a; } attention_job;
static void attention_tramp(void *p, int ith, int nth) { const attention_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_attention(const ef_kernels *k, ef_pool *pool, const ef_attention_args *a) {
    attention_job j = {k->attention_f32, a};
    ef_pool_run(pool, attention_tramp, &j);
}

typedef struct { ef_k_conv2d_fn fn; const ef_conv2d_args *a; } conv2d_job;
static void conv2d_tramp(void *p, int ith, int nth) { const conv2d_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_conv2d(const ef_kernels *k, ef_pool *pool, const ef_conv2d_args *a) {
    ef_conv2d_args with_pool = *a;
    with_pool.pool = pool;
    conv2d_job j = {k->conv2d_f32, &with_pool};
    ef_pool_run(pool, conv2d_tramp, &j);
}

typedef struct { ef_k_upsample2x_fn fn; const ef_upsample2x_args *a; } upsample2x_job;
static void upsample2x_tramp(void *p, int ith, int nth) { const upsample2x_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_upsample2x(const ef_kernels *k, ef_pool *pool, const ef_upsample2x_args *a) {
    upsample2x_job j = {k->upsample2x_f32, a};
    ef_pool_run(pool, upsample2x_tramp, &j);
}

typedef struct { ef_k_geglu_fn fn; const ef_geglu_args *a; } geglu_job;
static void geglu_tramp(void *p, int ith, int nth) { const geglu_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_geglu(const ef_kernels *k, ef_pool *pool, const ef_geglu_args *a) {
    geglu_job j = {k->geglu_f32, a};
    ef_pool_run(pool, geglu_tramp, &j);
}

typedef struct { ef_k_transpose_fn fn; const ef_transpose_args *a; } transpose_job;
static void transpose_tramp(void *p, int ith, int nth) { const transpose_job *j = p; j->fn(j->a, ith, nth); }
void ef_kernels_transpose(const ef_kernels *k, ef_pool *pool, const ef_transpose_args *a) {
    transpose_job j = {k->transpose_f32, a};
    ef_pool_run(pool, transpose_tramp, &j);
}
