/*
** clip_text.c -- CLIP text encoder: config parse, weight binding, forward.
**
** Design: vectors (norms, biases, position embeddings) live in one f32 arena, the
** matrices (token embedding, q/k/v packed into one (3D, D) matrix so a block runs
** one fused QKV linear, out_proj, fc1, fc2) in a second one stored as wt (f32, f16,
** bf16 or q8: kernels/wmat.h; model/wmat_load.h loads them, I8 + scale files
** included), all activations in a third sized for P tokens at load. The binding walk
** (bind_all) also runs as a visitor of the matrix names. A block is pre-LN:
**   x += out_proj(attn(LN1(x)));  x += fc2(act(fc1(LN2(x))))
** with the residual adds fused into the linears. Every op is one ef_pool_run of a
** kernel from the ef_kernels table. Not here: tokenization, the pooled output.
*/
#include "model/clip_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "core/platform.h"
#include "io/json.h"
#include "io/weights.h"
#include "model/wmat_load.h"

#define CONFIG_MAX_BYTES (1u << 20)

/* Views into the weight arena for one block. */
typedef struct clip_layer {
    const float *ln1_g, *ln1_b;   /* (D), (D) */
    const void  *w_qkv;           /* (3D, D): q rows, then k, then v */
    const float *b_qkv;           /* (3D) */
    const void  *w_o;             /* (D, D) */
    const float *b_o;             /* (D) */
    const float *ln2_g, *ln2_b;   /* (D), (D) */
    const void  *w_fc1;           /* (I, D) */
    const float *b_fc1;           /* (I) */
    const void  *w_fc2;           /* (D, I) */
    const float *b_fc2;           /* (D) */
} clip_layer;

struct ef_clip_text {
    ef_clip_text_config cfg;
    float      *weights;          /* the vector arena: n_vec floats */
    int64_t     n_vec;
    char       *mats;             /* the matrix arena: mats_bytes, each matrix 64-byte aligned, as wt */
    size_t      mats_bytes;
    ef_wtype    wt;
    int64_t     n_params;
    const void  *tok_emb;         /* (V, D), as wt */
    const float *pos_emb;         /* (P, D) */
    const float *lnf_g, *lnf_b;   /* (D), (D) */
    clip_layer *layers;           /* (L) */
    float      *act;              /* the activation arena */
    float      *x;                /* (P, D) residual stream */
    float      *h;                /* (P, D) LayerNorm output */
    float      *qkv;              /* (P, 3D) */
    float      *attn;             /* (P, D) attention output, heads side by side */
    float      *mlp;              /* (P, I) */
    int         released;         /* weights and mats given back (ef_clip_text_release) */
    int         viewed;           /* some matrices point into file (zero-copy) */
    ef_weights *file;             /* kept open while viewed, else NULL */
};

/* ---- config -------------------------------------------------------------------- */

static const struct { const char *name; ef_act act; } ACTS[] = {
    {"quick_gelu", EF_ACT_QUICK_GELU},
    {"gelu", EF_ACT_GELU},
    {"gelu_new", EF_ACT_GELU_TANH},
    {"gelu_pytorch_tanh", EF_ACT_GELU_TANH},
};

ef_status ef_clip_text_config_parse(const cJSON *root, const char *label, ef_clip_text_config *out,
                                    ef_err *err) {
    ef_clip_text_config c;
    memset(&c, 0, sizeof c);
    const char *model_type = NULL;
    EF_TRY(ef_json_str(root, label, "model_type", 0, NULL, &model_type, err));
    if (model_type && strcmp(model_type, "clip_text_model") != 0)
        return ef_err_set(err, EF_ERR_UNSUPPORTED,
                          "%s: unsupported text_encoder config: model_type=%s (expected clip_text_model)", label,
                          model_type);
    EF_TRY(ef_json_int(root, label, "vocab_size", 1, 0, 1, 1 << 22, &c.vocab_size, err));
    EF_TRY(ef_json_int(root, label, "hidden_size", 1, 0, 1, 16384, &c.hidden_size, err));
    EF_TRY(ef_json_int(root, label, "intermediate_size", 1, 0, 1, 65536, &c.intermediate_size, err));
    EF_TRY(ef_json_int(root, label, "num_hidden_layers", 1, 0, 1, 128, &c.n_layers, err));
    EF_TRY(ef_json_int(root, label, "num_attention_heads", 1, 0, 1, 1024, &c.n_heads, err));
    EF_TRY(ef_json_int(root, label, "max_position_embeddings", 1, 0, 1, 4096, &c.max_positions, err));
    EF_TRY(ef_json_num(root, label, "layer_norm_eps", 0, 1e-5, 0.0, 1.0, &c.layer_norm_eps, err));
    if (c.hidden_size % c.n_heads != 0)
        return ef_err_set(err, EF_ERR_FORMAT,
                          "%s: field 'hidden_size' = %lld is not divisible by 'num_attention_heads' = %lld", label,
                          (long long)c.hidden_size, (long long)c.n_heads);
    const char *act = NULL;
    EF_TRY(ef_json_str(root, label, "hidden_act", 0, "quick_gelu", &act, err));
    size_t i = 0;
    while (i < sizeof ACTS / sizeof ACTS[0] && strcmp(act, ACTS[i].name) != 0) i++;
    if (i == sizeof ACTS / sizeof ACTS[0])
        return ef_err_set(err, EF_ERR_UNSUPPORTED,
                          "%s: unsupported text_encoder config: hidden_act=%s (supported: quick_gelu, gelu, "
                          "gelu_new, gelu_pytorch_tanh)",
                          label, act);
    c.act = ACTS[i].act;
    *out = c;
    return EF_OK;
}

/* ---- load ---------------------------------------------------------------------- */

/* The vector floats and matrix bytes of config c (fits: every factor is range-checked). */
static int64_t vec_count(const ef_clip_text_config *c) {
    int64_t D = c->hidden_size, I = c->intermediate_size;
    int64_t per_layer = 2 * D + 3 * D + D + 2 * D + I + D;   /* ln1, qkv bias, out bias, ln2, fc1 bias, fc2 bias */
    return c->max_positions * D + c->n_layers * per_layer + 2 * D;
}
static size_t mat_bytes(ef_wtype wt, int64_t rows, int64_t cols) { return (ef_wmat_bytes(wt, rows, cols) + 63) & ~(size_t)63; }
static size_t mats_total(const ef_clip_text_config *c, ef_wtype wt) {
    int64_t D = c->hidden_size, I = c->intermediate_size;
    size_t per_layer = mat_bytes(wt, 3 * D, D) + mat_bytes(wt, D, D) + mat_bytes(wt, I, D) + mat_bytes(wt, D, I);
    return mat_bytes(wt, c->vocab_size, D) + (size_t)c->n_layers * per_layer;
}

/* Binding state: the weights file, the name prefix it uses and the arenas' cursors;
** with visit set, nothing is loaded and visit gets every matrix name instead. */
typedef struct binder {
    ef_weights *w;
    const char *prefix;   /* "text_model." or "" */
    float      *next;     /* next free float of the vector arena */
    char       *mnext;    /* next free byte of the matrix arena */
    ef_wtype    wt;
    ef_wmat_visit_fn visit;
    void       *visit_user;
    int         viewed;   /* a matrix points into w (zero-copy): the model keeps w */
} binder;

static void full_name(const binder *b, const char *name, int li, char *full, size_t n) {
    if (li >= 0) snprintf(full, n, "%sencoder.layers.%d.%s", b->prefix, li, name);
    else snprintf(full, n, "%s%s", b->prefix, name);
}

/* Loads vector <prefix>[encoder.layers.<li>.]<name> (the layer part when li >= 0) of
** shape (d0) or (d0, d1) into the vector arena and returns its view in *dst. */
static ef_status bind(binder *b, const char *name, int li, int ndim, int64_t d0, int64_t d1, const float **dst,
                      ef_err *err) {
    char full[192];
    if (b->visit) return EF_OK;
    full_name(b, name, li, full, sizeof full);
    int64_t shape[2] = {d0, d1};
    EF_TRY(ef_weights_load_f32(b->w, full, ndim, shape, b->next, err));
    *dst = b->next;
    b->next += ndim == 1 ? d0 : d0 * d1;
    return EF_OK;
}

/* Loads the n matrices names[i] (rows, cols each) of layer li (-1: none) as ONE
** (n*rows, cols) matrix stored as b->wt in the matrix arena; view in *dst. */
static ef_status bind_mats(binder *b, const char *const *names, int n, int li, int64_t rows, int64_t cols,
                           const void **dst, ef_err *err) {
    char full[3][192];
    const char *fulls[3];
    const int64_t shape[2] = {rows, cols};
    EF_ASSERT(n >= 1 && n <= 3);
    for (int i = 0; i < n; i++) {
        full_name(b, names[i], li, full[i], sizeof full[i]);
        fulls[i] = full[i];
        if (b->visit) b->visit(b->visit_user, full[i]);
    }
    if (b->visit) return EF_OK;
    const size_t used = ef_wmat_bytes(b->wt, n * rows, cols), held = mat_bytes(b->wt, n * rows, cols);
    const void *view = n == 1 ? ef_wmat_view(b->w, fulls[0], 2, shape, b->wt) : NULL;
    if (view) {   /* zero-copy: used where the file's bytes lie; its arena slot stays untouched */
        *dst = view;
        b->viewed = 1;
        b->mnext += held;
        return EF_OK;
    }
    void *blob = b->mnext;
    EF_TRY(ef_wmat_load(b->w, fulls, n, 2, shape, b->wt, blob, err));
    memset((char *)blob + used, 0, held - used);   /* the arena's bytes are defined */
    *dst = blob;
    b->mnext += held;
    return EF_OK;
}
static ef_status bind_mat(binder *b, const char *name, int li, int64_t rows, int64_t cols, const void **dst, ef_err *err) {
    return bind_mats(b, &name, 1, li, rows, cols, dst, err);
}

/* The q, k and v projections of layer li packed into one (3D, D) matrix + (3D) bias;
** the biases must be consecutive in the arena, which bind's cursor guarantees. */
static ef_status bind_qkv(binder *b, int li, int64_t D, clip_layer *l, ef_err *err) {
    static const char *const W[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"};
    const float *bq, *bk, *bv;
    EF_TRY(bind_mats(b, W, 3, li, D, D, &l->w_qkv, err));
    EF_TRY(bind(b, "self_attn.q_proj.bias", li, 1, D, 0, &bq, err));
    EF_TRY(bind(b, "self_attn.k_proj.bias", li, 1, D, 0, &bk, err));
    EF_TRY(bind(b, "self_attn.v_proj.bias", li, 1, D, 0, &bv, err));
    if (b->visit) return EF_OK;
    EF_ASSERT(bk == bq + D && bv == bk + D);
    l->b_qkv = bq;
    return EF_OK;
}

/* Binds every tensor of m (its config set, its arenas allocated) from w; with visit set,
** names the matrices instead (m needs only its config). */
static ef_status bind_all(ef_clip_text *m, ef_weights *w, ef_wmat_visit_fn visit, void *visit_user, ef_err *err) {
    const ef_clip_text_config *c = &m->cfg;
    const int64_t D = c->hidden_size, I = c->intermediate_size;
    binder b = {.w = w, .prefix = "", .next = m->weights, .mnext = m->mats, .wt = m->wt, .visit = visit,
                .visit_user = visit_user};
    if (ef_weights_find(w, "text_model.embeddings.token_embedding.weight")) b.prefix = "text_model.";
    EF_TRY(bind_mat(&b, "embeddings.token_embedding.weight", -1, c->vocab_size, D, &m->tok_emb, err));
    EF_TRY(bind(&b, "embeddings.position_embedding.weight", -1, 2, c->max_positions, D, &m->pos_emb, err));
    for (int li = 0; li < (int)c->n_layers; li++) {
        clip_layer unbound, *l = visit ? &unbound : &m->layers[li];
        EF_TRY(bind(&b, "layer_norm1.weight", li, 1, D, 0, &l->ln1_g, err));
        EF_TRY(bind(&b, "layer_norm1.bias", li, 1, D, 0, &l->ln1_b, err));
        EF_TRY(bind_qkv(&b, li, D, l, err));
        EF_TRY(bind_mat(&b, "self_attn.out_proj.weight", li, D, D, &l->w_o, err));
        EF_TRY(bind(&b, "self_attn.out_proj.bias", li, 1, D, 0, &l->b_o, err));
        EF_TRY(bind(&b, "layer_norm2.weight", li, 1, D, 0, &l->ln2_g, err));
        EF_TRY(bind(&b, "layer_norm2.bias", li, 1, D, 0, &l->ln2_b, err));
        EF_TRY(bind_mat(&b, "mlp.fc1.weight", li, I, D, &l->w_fc1, err));
        EF_TRY(bind(&b, "mlp.fc1.bias", li, 1, I, 0, &l->b_fc1, err));
        EF_TRY(bind_mat(&b, "mlp.fc2.weight", li, D, I, &l->w_fc2, err));
        EF_TRY(bind(&b, "mlp.fc2.bias", li, 1, D, 0, &l->b_fc2, err));
    }
    EF_TRY(bind(&b, "final_layer_norm.weight", -1, 1, D, 0, &m->lnf_g, err));
    EF_TRY(bind(&b, "final_layer_norm.bias", -1, 1, D, 0, &m->lnf_b, err));
    if (visit) return EF_OK;
    EF_ASSERT(b.next == m->weights + m->n_vec && b.mnext == m->mats + m->mats_bytes);
    m->viewed = b.viewed;
    char ignored[64];
    snprintf(ignored, sizeof ignored, "%sembeddings.position_ids", b.prefix);
    ef_weights_ignore(w, ignored);
    return ef_weights_check_all_used(w, err);
}

/* One malloc of n floats, refusing sizes that overflow size_t. */
static ef_status alloc_floats(int64_t n, float **out, const char *what, ef_err *err) {
    size_t bytes;
    if (n < 0 || !ef_mul_size((size_t)n, sizeof(float), &bytes))
        return ef_err_set(err, EF_ERR_NOMEM, "text_encoder: %s too large", what);
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return ef_err_set(err, EF_ERR_NOMEM, "text_encoder: out of memory for %s (%zu bytes)", what, bytes);
    return EF_OK;
}

/* config.json of dir into m->cfg. */
static ef_status read_config(ef_clip_text *m, const char *dir, ef_err *err) {
    char path[4096];
    if (!ef_path_join(path, sizeof path, dir, "config.json"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder: path too long: %s", dir);
    cJSON *root = NULL;
    EF_TRY(ef_json_load(path, CONFIG_MAX_BYTES, &root, err));
    ef_status rc = ef_clip_text_config_parse(root, path, &m->cfg, err);
    cJSON_Delete(root);
    return rc;
}

/* Everything after the config, from the opened weights w. */
static ef_status load_into(ef_clip_text *m, ef_weights *w, ef_wtype wt, ef_err *err) {
    const ef_clip_text_config *c = &m->cfg;
    const int64_t P = c->max_positions, D = c->hidden_size, I = c->intermediate_size;
    if (wt == (ef_wtype)EF_W_FROM_FILE) {   /* the type the file's matrices share */
        ef_wmat_tally tally = {.w = w};
        EF_TRY(bind_all(m, w, ef_wmat_tally_visit, &tally, err));
        wt = ef_wmat_tally_type(&tally);
    }
    m->wt = wt;
    m->n_vec = vec_count(c);
    m->mats_bytes = mats_total(c, wt);
    m->n_params = m->n_vec + c->vocab_size * D + c->n_layers * (3 * D * D + D * D + 2 * I * D);
    EF_TRY(alloc_floats(m->n_vec, &m->weights, "weights", err));
    m->mats = ef_mem_alloc_big(m->mats_bytes ? m->mats_bytes : 64);
    if (!m->mats) return ef_err_set(err, EF_ERR_NOMEM, "text_encoder: out of memory for %zu bytes of matrices", m->mats_bytes);
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return ef_err_set(err, EF_ERR_NOMEM, "text_encoder: out of memory");
    EF_TRY(alloc_floats(P * (D + D + 3 * D + D + I), &m->act, "activations", err));
    m->x = m->act;
    m->h = m->x + P * D;
    m->qkv = m->h + P * D;
    m->attn = m->qkv + P * 3 * D;
    m->mlp = m->attn + P * D;
    return bind_all(m, w, NULL, NULL, err);
}

ef_status ef_clip_text_visit_matrices(const char *component_dir, ef_weights *w, ef_wmat_visit_fn fn, void *user,
                                      ef_err *err) {
    if (!component_dir || !w || !fn)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_clip_text_visit_matrices: NULL argument");
    ef_clip_text m;
    memset(&m, 0, sizeof m);
    EF_TRY(read_config(&m, component_dir, err));
    return bind_all(&m, w, fn, user, err);
}

ef_status ef_clip_text_load(const char *component_dir, const char *variant, int use_mmap, ef_clip_text **out,
                            ef_err *err) {
    return ef_clip_text_load_typed(component_dir, variant, use_mmap, EF_W_F32, out, err);
}

ef_status ef_clip_text_load_typed(const char *component_dir, const char *variant, int use_mmap, ef_wtype wt,
                                  ef_clip_text **out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_clip_text_load: out is NULL");
    *out = NULL;
    if (!component_dir) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_clip_text_load: component_dir is NULL");
    if ((int)wt < 0 || (int)wt > EF_W_FROM_FILE)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_clip_text_load: bad weight type");
    ef_clip_text *m = calloc(1, sizeof *m);
    if (!m) return ef_err_set(err, EF_ERR_NOMEM, "text_encoder: out of memory");
    ef_weights *w = NULL;
    ef_status rc = read_config(m, component_dir, err);
    if (rc == EF_OK) rc = ef_weights_open(component_dir, variant, use_mmap, &w, err);
    if (rc == EF_OK) rc = load_into(m, w, wt, err);
    if (rc == EF_OK && m->viewed) {   /* the matrices point into it */
        m->file = w;
        w = NULL;
    }
    ef_weights_free(w);
    if (rc != EF_OK) {
        ef_clip_text_free(m);
        return rc;
    }
    *out = m;
    return EF_OK;
}

/* ---- forward ------------------------------------------------------------------- */

/* One pre-LN block on x (T, D). */
static void block(ef_clip_text *m, const clip_layer *l, ef_pool *pool, const ef_kernels *k, int64_t T) {
    const ef_clip_text_config *c = &m->cfg;
    const int64_t D = c->hidden_size, I = c->intermediate_size, H = c->n_heads, Dh = D / H;
    const float eps = (float)c->layer_norm_eps;

    ef_layer_norm_args ln1 = {m->x, m->h, l->ln1_g, l->ln1_b, T, D, eps};
    ef_kernels_layer_norm(k, pool, &ln1);
    /* qkv (T, 3D) = h @ [Wq; Wk; Wv]^T + [bq; bk; bv] */
    ef_linear_args qkv = {m->h, l->w_qkv, l->b_qkv, NULL, m->qkv, T, 3 * D, D, D, 3 * D, EF_ACT_NONE, m->wt, NULL};
    ef_kernels_linear(k, pool, &qkv);
    ef_attention_args at = {
        m->qkv, m->qkv + D, m->qkv + 2 * D, m->attn,
        T, T, H, Dh, 3 * D, 3 * D, 3 * D, D, (float)(1.0 / sqrt((double)Dh)), 1,
    };
    ef_kernels_attention(k, pool, &at);
    /* x += attn @ Wo^T + bo */
    ef_linear_args o = {m->attn, l->w_o, l->b_o, m->x, m->x, T, D, D, D, D, EF_ACT_NONE, m->wt, NULL};
    ef_kernels_linear(k, pool, &o);

    ef_layer_norm_args ln2 = {m->x, m->h, l->ln2_g, l->ln2_b, T, D, eps};
    ef_kernels_layer_norm(k, pool, &ln2);
    /* mlp (T, I) = act(h @ W1^T + b1); x += mlp @ W2^T + b2 */
    ef_linear_args fc1 = {m->h, l->w_fc1, l->b_fc1, NULL, m->mlp, T, I, D, D, I, c->act, m->wt, NULL};
    ef_kernels_linear(k, pool, &fc1);
    ef_linear_args fc2 = {m->mlp, l->w_fc2, l->b_fc2, m->x, m->x, T, D, I, I, D, EF_ACT_NONE, m->wt, NULL};
    ef_kernels_linear(k, pool, &fc2);
}

ef_status ef_clip_text_forward(ef_clip_text *m, ef_pool *pool, const ef_kernels *k, const int32_t *ids,
                               int n_tokens, int clip_skip, float *out, ef_err *err) {
    if (!m || !ids || !out) return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder forward: NULL argument");
    if (m->released) return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder: weights released; reload them first");
    const ef_clip_text_config *c = &m->cfg;
    if (n_tokens < 1 || n_tokens > c->max_positions)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder: %d tokens; the model takes 1 to %lld", n_tokens,
                          (long long)c->max_positions);
    if (clip_skip < 0 || clip_skip > c->n_layers)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder: clip_skip %d out of range [0, %lld] (the model has %lld layers)",
                          clip_skip, (long long)c->n_layers, (long long)c->n_layers);
    for (int t = 0; t < n_tokens; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "text_encoder: token id %ld at position %d out of range [0, %lld)",
                              (long)ids[t], t, (long long)c->vocab_size);
    if (!k) k = ef_kernels_ref();

    const int64_t D = c->hidden_size, T = n_tokens;
    /* x (T, D) = token_embedding[ids] + position_embedding[0..T) */
    for (int64_t t = 0; t < T; t++) {
        const float *pe = m->pos_emb + t * D;
        float *x = m->x + t * D;
        ef_wmat_row_f32(m->tok_emb, m->wt, c->vocab_size, D, ids[t], 0, D, x);
        for (int64_t d = 0; d < D; d++) x[d] += pe[d];
    }
    int64_t n_run = clip_skip >= 2 ? c->n_layers - (clip_skip - 1) : c->n_layers;
    for (int64_t li = 0; li < n_run; li++) block(m, &m->layers[li], pool, k, T);
    ef_layer_norm_args lnf = {m->x, out, m->lnf_g, m->lnf_b, T, D, (float)c->layer_norm_eps};
    ef_kernels_layer_norm(k, pool, &lnf);
    return EF_OK;
}

/* ---- accessors ------------------------------------------------------------------ */

const ef_clip_text_config *ef_clip_text_get_config(const ef_clip_text *m) { return &m->cfg; }
int     ef_clip_text_hidden_size(const ef_clip_text *m) { return (int)m->cfg.hidden_size; }
int     ef_clip_text_n_layers(const ef_clip_text *m) { return (int)m->cfg.n_layers; }
int     ef_clip_text_max_positions(const ef_clip_text *m) { return (int)m->cfg.max_positions; }
int64_t ef_clip_text_n_params(const ef_clip_text *m) { return m->n_params; }
ef_wtype ef_clip_text_wtype(const ef_clip_text *m) { return m->wt; }

/* ---- release / reload ------------------------------------------------------------ */

void ef_clip_text_release(ef_clip_text *m) {
    if (!m || m->released) return;
    ef_mem_release(m->mats, m->mats_bytes);
    ef_mem_release(m->weights, (size_t)m->n_vec * sizeof(float));
    ef_weights_release_pages(m->file);   /* zero-copy matrices: their file pages read back on use */
    m->released = 1;
}

int ef_clip_text_is_released(const ef_clip_text *m) { return m && m->released; }

ef_status ef_clip_text_reload(ef_clip_text *m, const char *component_dir, const char *variant, int use_mmap,
                              ef_err *err) {
    if (!m || !component_dir) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_clip_text_reload: NULL argument");
    if (!m->released) return EF_OK;
    ef_weights *w = m->file;   /* zero-copy: the same file, the same views */
    if (!w) EF_TRY(ef_weights_open(component_dir, variant, use_mmap, &w, err));
    ef_status rc = bind_all(m, w, NULL, NULL, err);   /* the same buffers, type and layout as the first load */
    if (w != m->file) ef_weights_free(w);
    if (rc == EF_OK) m->released = 0;
    return rc;
}

void ef_clip_text_free(ef_clip_text *m) {
    if (!m) return;
    ef_weights_free(m->file);
    free(m->weights);
    free(m->mats);
    free(m->layers);
    free(m->act);
    free(m);
}
