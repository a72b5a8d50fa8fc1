/*
** unet_load.c -- ef_unet_load/free: config, the block skeleton it implies, and the
** binding of every weight by its diffusers name into one f32 arena.
**
** One walk over the skeleton (bind_all) runs in four modes: COUNT sizes the arenas
** (no file), LOAD converts each tensor into them with shape checks, MARK re-marks
** every expected name on a fresh file handle so ef_weights_check_all_used can refuse
** unexplained tensors, VISIT names every matrix to a callback (the storage type a
** file already has, and ef_convert's list). Vectors go to an f32 arena, matrices to a
** second arena in the model's storage type (f32, f16, bf16 or q8: kernels/wmat.h;
** model/wmat_load.h loads them, I8 + scale files included). The q/k/v projections
** of self-attention and k/v of cross-attention are bound as one fused matrix each.
**
** Resident memory: converting touches every page of a mmapped file, and those pages
** count in the process's RSS until unmapped. With use_mmap the file is therefore
** closed and re-mapped whenever REMAP_BYTES of it have been converted, so the peak is
** the f32 arena plus at most max(REMAP_BYTES, largest tensor) of file pages.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "core/platform.h"
#include "io/json.h"
#include "io/weights.h"
#include "model/unet_internal.h"
#include "model/wmat_load.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define REMAP_BYTES ((size_t)32 << 20)

/* ---- skeleton --------------------------------------------------------------------- */

/* Allocates block b's resnet and attention arrays (n_res resnets, n_attn attentions of
** C = b->cout channels and `heads` heads). */
static ef_status block_alloc(unet_block *b, int n_res, int n_attn, int64_t heads, int64_t n_tblocks, ef_err *err) {
    b->n_res = n_res;
    b->res = calloc((size_t)n_res, sizeof *b->res);
    if (!b->res) return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory");
    if (!b->has_attn) return EF_OK;
    b->n_attn = n_attn;
    b->attn = calloc((size_t)n_attn, sizeof *b->attn);
    if (!b->attn) return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory");
    for (int i = 0; i < n_attn; i++) {
        b->attn[i].c = b->cout;
        b->attn[i].heads = heads;
        b->attn[i].n_blocks = (int)n_tblocks;
        b->attn[i].blocks = calloc((size_t)n_tblocks, sizeof *b->attn[i].blocks);
        if (!b->attn[i].blocks) return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory");
    }
    return EF_OK;
}

/* The blocks diffusers' UNet2DConditionModel.__init__ builds for cfg, with every
** resnet's channel counts (up resnets see [hidden, skip] concatenated). */
static ef_status build_skeleton(ef_unet *m, ef_err *err) {
    const ef_unet_config *c = &m->cfg;
    const int n = c->n_stages, L = (int)c->layers_per_block;
    m->t_in = c->block_out[0];
    m->t_dim = 4 * c->block_out[0];
    for (int i = 0; i < n; i++) {
        unet_block *b = &m->down[i];
        b->has_attn = c->down_attn[i];
        b->has_sampler = i < n - 1;
        b->level = i;
        b->cout = c->block_out[i];
        EF_TRY(block_alloc(b, L, L, c->heads[i], c->transformer_layers, err));
        for (int j = 0; j < L; j++) {
            b->res[j].cin = j == 0 ? c->block_out[i > 0 ? i - 1 : 0] : b->cout;
            b->res[j].cout = b->cout;
        }
    }
    if (c->mid_attn) {
        unet_block *b = &m->mid;
        b->has_attn = 1;
        b->level = n - 1;
        b->cout = c->block_out[n - 1];
        EF_TRY(block_alloc(b, 2, 1, c->heads[n - 1], c->transformer_layers, err));
        for (int j = 0; j < 2; j++) b->res[j].cin = b->res[j].cout = b->cout;
    }
    for (int i = 0; i < n; i++) {
        unet_block *b = &m->up[i];
        int s = n - 1 - i;   /* the stage this up block mirrors */
        b->has_attn = c->up_attn[i];
        b->has_sampler = i < n - 1;
        b->level = s;
        b->cout = c->block_out[s];
        EF_TRY(block_alloc(b, L + 1, L + 1, c->heads[s], c->transformer_layers, err));
        int64_t prev_out = i == 0 ? c->block_out[n - 1] : c->block_out[s + 1];
        int64_t in_ch = c->block_out[s > 0 ? s - 1 : 0];
        for (int j = 0; j <= L; j++) {
            int64_t skip = j == L ? in_ch : b->cout;
            b->res[j].cin = (j == 0 ? prev_out : b->cout) + skip;
            b->res[j].cout = b->cout;
        }
    }
    return EF_OK;
}

static void block_free(unet_block *b) {
    if (b->attn)
        for (int i = 0; i < b->n_attn; i++) free(b->attn[i].blocks);
    free(b->attn);
    free(b->res);
}

/* ---- binding ------------------------------------------------------------------------ */

enum { BIND_COUNT, BIND_LOAD, BIND_MARK, BIND_VISIT };

typedef struct binder {
    int          mode;
    ef_weights  *w;           /* LOAD, MARK */
    const char  *dir, *variant;
    int          use_mmap;
    size_t       remap_bytes; /* re-map after this many converted file bytes */
    int          zero_copy;   /* matrices stored as wt in the file are used in place (no re-mapping) */
    int          viewed;      /* some matrix points into w: the model keeps w open */
    size_t       touched;     /* file bytes converted since w was opened */
    int          reopened;    /* w was re-mapped at least once during LOAD */
    float       *base;        /* the f32 vector arena (LOAD) */
    int64_t      at;          /* vector floats bound so far */
    char        *mbase;       /* the matrix arena (LOAD) */
    size_t       mat;         /* matrix bytes bound so far (64-byte aligned blobs) */
    ef_wtype     wt;          /* how matrices are stored */
    int64_t      n_params;
    ef_wmat_visit_fn visit;   /* VISIT: called with each matrix name */
    void        *visit_user;
} binder;

static void tensor_name(char *name, size_t n, const char *prefix, const char *suffix) {
    if (prefix[0]) snprintf(name, n, "%s.%s", prefix, suffix);
    else snprintf(name, n, "%s", suffix);
}

/* Re-maps the file first when converting `bytes` more of it would pass REMAP_BYTES
** since the last mapping (see the file comment). */
static ef_status remap_before(binder *b, size_t bytes, ef_err *err) {
    if (b->use_mmap && b->touched > 0 && b->touched + bytes > b->remap_bytes) {
        ef_weights_free(b->w);   /* unmaps: the converted pages leave the resident set */
        b->w = NULL;
        EF_TRY(ef_weights_open(b->dir, b->variant, 1, &b->w, err));
        b->touched = 0;
        b->reopened = 1;
    }
    b->touched += bytes;
    return EF_OK;
}

/* File bytes of tensor name and, for an I8 matrix, its scales (0 if absent). */
static size_t file_bytes(const ef_weights *w, const char *name) {
    const ef_st_tensor *t = ef_weights_find(w, name), *s = ef_weights_find_scale(w, name);
    return (t ? t->nbytes : 0) + (s ? s->nbytes : 0);
}

/* Converts tensor name (shape[0..ndim)) to f32 into dst, re-mapping first if due. */
static ef_status load_f32(binder *b, const char *name, int ndim, const int64_t *shape, float *dst, ef_err *err) {
    EF_TRY(remap_before(b, file_bytes(b->w, name), err));
    return ef_weights_load_f32(b->w, name, ndim, shape, dst, err);
}

/* Binds vector "<prefix>.<suffix>" (n floats) at the vector cursor: LOAD sets *dst to
** its view; COUNT and MARK leave *dst alone (MARK runs on a loaded model). */
static ef_status bind_vec(binder *b, const char *prefix, const char *suffix, int64_t n, const float **dst, ef_err *err) {
    char name[256];
    tensor_name(name, sizeof name, prefix, suffix);
    if (b->mode == BIND_MARK) {
        ef_weights_ignore(b->w, name);
    } else if (b->mode == BIND_LOAD) {
        EF_TRY(load_f32(b, name, 1, &n, b->base + b->at, err));
        *dst = b->base + b->at;
    }
    b->at += n;
    b->n_params += n;
    return EF_OK;
}

/* Binds the tensors "<prefix>.<suffix[i]>", i < n_parts, each of shape (rows, d1[, d2,
** d3]) (ndim 2 or 4), as ONE matrix (n_parts*rows, d1*d2*d3) stored as b->wt at the
** matrix cursor: the fused q/k/v projections are one blob, so one product computes
** all three. Narrow types go through an f32 staging buffer. */
static ef_status bind_mats(binder *b, const char *prefix, const char *const *suffix, int n_parts, int ndim, int64_t rows,
                           int64_t d1, int64_t d2, int64_t d3, const void **dst, ef_err *err) {
    const int64_t shape[4] = {rows, d1, d2, d3}, R = n_parts * rows, C = ndim == 4 ? d1 * d2 * d3 : d1;
    const size_t bytes = ef_wmat_bytes(b->wt, R, C);   /* config dims are range-checked: no overflow */
    char name[3][256];
    const char *names[3];
    EF_ASSERT(n_parts >= 1 && n_parts <= 3);
    for (int i = 0; i < n_parts; i++) {
        tensor_name(name[i], sizeof name[i], prefix, suffix[i]);
        names[i] = name[i];
    }
    if (b->mode == BIND_MARK) {
        for (int i = 0; i < n_parts; i++) ef_weights_ignore(b->w, names[i]);
    } else if (b->mode == BIND_VISIT) {
        for (int i = 0; i < n_parts; i++) b->visit(b->visit_user, names[i]);
    } else if (b->mode == BIND_LOAD) {
        const void *view = n_parts == 1 && b->zero_copy ? ef_wmat_view(b->w, names[0], ndim, shape, b->wt) : NULL;
        if (view) {   /* in place: its slot in the arena is never touched, so never resident */
            *dst = view;
            b->viewed = 1;
        } else {
            size_t file = 0;
            for (int i = 0; i < n_parts; i++) file += file_bytes(b->w, names[i]);
            EF_TRY(remap_before(b, file, err));
            void *blob = b->mbase + b->mat;
            EF_TRY(ef_wmat_load(b->w, names, n_parts, ndim, shape, b->wt, blob, err));
            memset((char *)blob + bytes, 0, ((bytes + 63) & ~(size_t)63) - bytes);   /* the arena's bytes are defined */
            *dst = blob;
        }
    }
    b->mat += (bytes + 63) & ~(size_t)63;
    b->n_params += R * C;
    return EF_OK;
}

static ef_status bind_mat(binder *b, const char *p, const char *s, int64_t r, int64_t c, const void **dst, ef_err *err) {
    return bind_mats(b, p, &s, 1, 2, r, c, 1, 1, dst, err);
}
static ef_status bind_conv(binder *b, const char *p, const char *s, int64_t co, int64_t ci, int64_t k, const void **dst,
                           ef_err *err) {
    return bind_mats(b, p, &s, 1, 4, co, ci, k, k, dst, err);
}

static ef_status bind_resnet(binder *b, const ef_unet *m, const char *p, unet_resnet *r, ef_err *err) {
    const int64_t ci = r->cin, co = r->cout;
    EF_TRY(bind_vec(b, p, "norm1.weight", ci, &r->norm1_g, err));
    EF_TRY(bind_vec(b, p, "norm1.bias", ci, &r->norm1_b, err));
    EF_TRY(bind_conv(b, p, "conv1.weight", co, ci, 3, &r->conv1_w, err));
    EF_TRY(bind_vec(b, p, "conv1.bias", co, &r->conv1_b, err));
    EF_TRY(bind_mat(b, p, "time_emb_proj.weight", co, m->t_dim, &r->temb_w, err));
    EF_TRY(bind_vec(b, p, "time_emb_proj.bias", co, &r->temb_b, err));
    EF_TRY(bind_vec(b, p, "norm2.weight", co, &r->norm2_g, err));
    EF_TRY(bind_vec(b, p, "norm2.bias", co, &r->norm2_b, err));
    EF_TRY(bind_conv(b, p, "conv2.weight", co, co, 3, &r->conv2_w, err));
    EF_TRY(bind_vec(b, p, "conv2.bias", co, &r->conv2_b, err));
    if (ci != co) {
        EF_TRY(bind_conv(b, p, "conv_shortcut.weight", co, ci, 1, &r->short_w, err));
        EF_TRY(bind_vec(b, p, "conv_shortcut.bias", co, &r->short_b, err));
    }
    return EF_OK;
}

/* proj_in / proj_out: a Linear (C, C) or a 1x1 Conv (C, C, 1, 1); same floats. */
static ef_status bind_proj(binder *b, const ef_unet *m, const char *p, const char *s, int64_t C, const void **dst,
                           ef_err *err) {
    if (m->cfg.use_linear_projection) return bind_mat(b, p, s, C, C, dst, err);
    return bind_conv(b, p, s, C, C, 1, dst, err);
}

static ef_status bind_tblock(binder *b, const ef_unet *m, const char *p, int64_t C, unet_tblock *t, ef_err *err) {
    static const char *const QKV[] = {"attn1.to_q.weight", "attn1.to_k.weight", "attn1.to_v.weight"};
    static const char *const KV[] = {"attn2.to_k.weight", "attn2.to_v.weight"};
    const int64_t Dctx = m->cfg.cross_attention_dim, F = 4 * C;
    EF_TRY(bind_vec(b, p, "norm1.weight", C, &t->norm1_g, err));
    EF_TRY(bind_vec(b, p, "norm1.bias", C, &t->norm1_b, err));
    EF_TRY(bind_mats(b, p, QKV, 3, 2, C, C, 1, 1, &t->w_qkv, err));
    EF_TRY(bind_mat(b, p, "attn1.to_out.0.weight", C, C, &t->w_o1, err));
    EF_TRY(bind_vec(b, p, "attn1.to_out.0.bias", C, &t->b_o1, err));
    EF_TRY(bind_vec(b, p, "norm2.weight", C, &t->norm2_g, err));
    EF_TRY(bind_vec(b, p, "norm2.bias", C, &t->norm2_b, err));
    EF_TRY(bind_mat(b, p, "attn2.to_q.weight", C, C, &t->w_q2, err));
    EF_TRY(bind_mats(b, p, KV, 2, 2, C, Dctx, 1, 1, &t->w_kv2, err));
    EF_TRY(bind_mat(b, p, "attn2.to_out.0.weight", C, C, &t->w_o2, err));
    EF_TRY(bind_vec(b, p, "attn2.to_out.0.bias", C, &t->b_o2, err));
    EF_TRY(bind_vec(b, p, "norm3.weight", C, &t->norm3_g, err));
    EF_TRY(bind_vec(b, p, "norm3.bias", C, &t->norm3_b, err));
    EF_TRY(bind_mat(b, p, "ff.net.0.proj.weight", 2 * F, C, &t->w_ff1, err));
    EF_TRY(bind_vec(b, p, "ff.net.0.proj.bias", 2 * F, &t->b_ff1, err));
    EF_TRY(bind_mat(b, p, "ff.net.2.weight", C, F, &t->w_ff2, err));
    EF_TRY(bind_vec(b, p, "ff.net.2.bias", C, &t->b_ff2, err));
    return EF_OK;
}

static ef_status bind_attn(binder *b, const ef_unet *m, const char *p, unet_attn *a, ef_err *err) {
    const int64_t C = a->c;
    EF_TRY(bind_vec(b, p, "norm.weight", C, &a->norm_g, err));
    EF_TRY(bind_vec(b, p, "norm.bias", C, &a->norm_b, err));
    EF_TRY(bind_proj(b, m, p, "proj_in.weight", C, &a->proj_in_w, err));
    EF_TRY(bind_vec(b, p, "proj_in.bias", C, &a->proj_in_b, err));
    for (int j = 0; j < a->n_blocks; j++) {
        char q[224];
        snprintf(q, sizeof q, "%s.transformer_blocks.%d", p, j);
        EF_TRY(bind_tblock(b, m, q, C, &a->blocks[j], err));
    }
    EF_TRY(bind_proj(b, m, p, "proj_out.weight", C, &a->proj_out_w, err));
    EF_TRY(bind_vec(b, p, "proj_out.bias", C, &a->proj_out_b, err));
    return EF_OK;
}

/* A down/up block named p ("down_blocks.1"); sampler names its sampler module
** ("downsamplers" or "upsamplers"), bound when blk->has_sampler. */
static ef_status bind_block(binder *b, const ef_unet *m, const char *p, unet_block *blk, const char *sampler,
                            ef_err *err) {
    char q[160];
    for (int j = 0; j < blk->n_res; j++) {
        snprintf(q, sizeof q, "%s.resnets.%d", p, j);
        EF_TRY(bind_resnet(b, m, q, &blk->res[j], err));
        if (blk->has_attn) {
            snprintf(q, sizeof q, "%s.attentions.%d", p, j);
            EF_TRY(bind_attn(b, m, q, &blk->attn[j], err));
        }
    }
    if (blk->has_sampler) {
        snprintf(q, sizeof q, "%s.%s.0.conv", p, sampler);
        EF_TRY(bind_conv(b, q, "weight", blk->cout, blk->cout, 3, &blk->sampler_w, err));
        EF_TRY(bind_vec(b, q, "bias", blk->cout, &blk->sampler_b, err));
    }
    return EF_OK;
}

static ef_status bind_all(binder *b, ef_unet *m, ef_err *err) {
    const ef_unet_config *c = &m->cfg;
    const int n = c->n_stages;
    const int64_t C0 = c->block_out[0];
    b->at = 0;
    b->mat = 0;
    b->n_params = 0;
    EF_TRY(bind_conv(b, "conv_in", "weight", C0, c->in_channels, 3, &m->conv_in_w, err));
    EF_TRY(bind_vec(b, "conv_in", "bias", C0, &m->conv_in_b, err));
    EF_TRY(bind_mat(b, "time_embedding", "linear_1.weight", m->t_dim, m->t_in, &m->t_lin1_w, err));
    EF_TRY(bind_vec(b, "time_embedding", "linear_1.bias", m->t_dim, &m->t_lin1_b, err));
    EF_TRY(bind_mat(b, "time_embedding", "linear_2.weight", m->t_dim, m->t_dim, &m->t_lin2_w, err));
    EF_TRY(bind_vec(b, "time_embedding", "linear_2.bias", m->t_dim, &m->t_lin2_b, err));
    if (c->time_cond_proj_dim > 0)
        EF_TRY(bind_mat(b, "time_embedding", "cond_proj.weight", m->t_in, c->time_cond_proj_dim, &m->t_cond_w, err));
    char p[64];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "down_blocks.%d", i);
        EF_TRY(bind_block(b, m, p, &m->down[i], "downsamplers", err));
    }
    if (m->mid.n_res > 0) {
        EF_TRY(bind_resnet(b, m, "mid_block.resnets.0", &m->mid.res[0], err));
        EF_TRY(bind_attn(b, m, "mid_block.attentions.0", &m->mid.attn[0], err));
        EF_TRY(bind_resnet(b, m, "mid_block.resnets.1", &m->mid.res[1], err));
    }
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "up_blocks.%d", i);
        EF_TRY(bind_block(b, m, p, &m->up[i], "upsamplers", err));
    }
    EF_TRY(bind_vec(b, "conv_norm_out", "weight", C0, &m->norm_out_g, err));
    EF_TRY(bind_vec(b, "conv_norm_out", "bias", C0, &m->norm_out_b, err));
    EF_TRY(bind_conv(b, "conv_out", "weight", c->out_channels, C0, 3, &m->conv_out_w, err));
    EF_TRY(bind_vec(b, "conv_out", "bias", c->out_channels, &m->conv_out_b, err));
    return EF_OK;
}

/* ---- load / free -------------------------------------------------------------------- */

/* LOAD pass, then the unexpected-tensor check; b->w is closed on return. */
static ef_status load_weights(ef_unet *m, binder *b, ef_err *err) {
    if (!b->w) EF_TRY(ef_weights_open(b->dir, b->variant, b->use_mmap, &b->w, err));
    b->mode = BIND_LOAD;
    EF_TRY(bind_all(b, m, err));
    EF_ASSERT(b->n_params == m->n_params);
    if (b->reopened) {   /* the marks of earlier mappings are gone: mark every name again */
        ef_weights_free(b->w);
        b->w = NULL;
        EF_TRY(ef_weights_open(b->dir, b->variant, b->use_mmap, &b->w, err));
        b->mode = BIND_MARK;
        EF_TRY(bind_all(b, m, err));
    }
    return ef_weights_check_all_used(b->w, err);
}

/* config.json and the block skeleton it implies. */
static ef_status read_config(ef_unet *m, const char *dir, ef_err *err) {
    char path[4096];
    if (!ef_path_join(path, sizeof path, dir, "config.json"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "unet: path too long: %s", dir);
    cJSON *root = NULL;
    EF_TRY(ef_json_load(path, CONFIG_MAX_BYTES, &root, err));
    ef_status rc = ef_unet_config_parse(root, path, &m->cfg, err);
    cJSON_Delete(root);
    if (rc != EF_OK) return rc;
    return build_skeleton(m, err);
}

/* Every step after read_config; b->w may already be open (it is closed by the caller). */
static ef_status load_into(ef_unet *m, binder *b, ef_err *err) {
    if (b->wt == (ef_wtype)EF_W_FROM_FILE) {   /* the type the file's matrices share */
        EF_TRY(ef_weights_open(b->dir, b->variant, b->use_mmap, &b->w, err));
        ef_wmat_tally tally = {.w = b->w};
        b->mode = BIND_VISIT;
        b->visit = ef_wmat_tally_visit;
        b->visit_user = &tally;
        EF_TRY(bind_all(b, m, err));
        b->wt = ef_wmat_tally_type(&tally);
    }
    b->mode = BIND_COUNT;
    EF_TRY(bind_all(b, m, err));
    m->n_params = b->n_params;
    m->n_vec = b->at;
    m->mats_bytes = b->mat;
    m->wt = b->wt;
    size_t bytes;
    if (!ef_mul_size((size_t)b->at, sizeof(float), &bytes))
        return ef_err_set(err, EF_ERR_NOMEM, "unet: %lld parameters do not fit in memory", (long long)m->n_params);
    m->weights = malloc(bytes ? bytes : 1);
    m->mats = ef_mem_alloc_big(b->mat ? b->mat : 64);
    if (!m->weights || !m->mats)
        return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory for %lld parameters (%zu bytes)",
                          (long long)m->n_params, bytes + b->mat);
    b->base = m->weights;
    b->mbase = m->mats;
    return load_weights(m, b, err);
}

ef_status ef_unet_load(const char *component_dir, const char *variant, int use_mmap, ef_unet **out, ef_err *err) {
    return ef_unet_load_typed(component_dir, variant, use_mmap, EF_W_F32, out, err);
}

static ef_status load_model(const char *component_dir, const char *variant, int use_mmap, size_t remap_bytes,
                            int zero_copy, ef_wtype wt, ef_unet **out, ef_err *err);

/* Matrices the file already stores as wt are used in place (zero-copy); the rest are
** converted, their file pages dropped as they go. */
ef_status ef_unet_load_typed(const char *component_dir, const char *variant, int use_mmap, ef_wtype wt, ef_unet **out,
                             ef_err *err) {
    return load_model(component_dir, variant, use_mmap, SIZE_MAX, 1, wt, out, err);
}

ef_status ef_unet_load_remap(const char *component_dir, const char *variant, int use_mmap, size_t remap_bytes,
                             ef_wtype wt, ef_unet **out, ef_err *err) {
    return load_model(component_dir, variant, use_mmap, remap_bytes, 0, wt, out, err);
}

static ef_status load_model(const char *component_dir, const char *variant, int use_mmap, size_t remap_bytes,
                            int zero_copy, ef_wtype wt, ef_unet **out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_unet_load: out is NULL");
    *out = NULL;
    if (!component_dir) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_unet_load: component_dir is NULL");
    if ((int)wt < 0 || (int)wt > EF_W_FROM_FILE)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_unet_load: bad weight type %d", (int)wt);
    ef_unet *m = calloc(1, sizeof *m);
    if (!m) return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory");
    binder b = {.mode = BIND_COUNT, .dir = component_dir, .variant = variant, .use_mmap = use_mmap,
                .remap_bytes = remap_bytes, .zero_copy = zero_copy, .wt = wt};
    ef_status rc = read_config(m, component_dir, err);
    if (rc == EF_OK) rc = load_into(m, &b, err);
    if (rc == EF_OK && b.viewed) {   /* the model's matrices point into it */
        m->file = b.w;
        b.w = NULL;
    }
    ef_weights_free(b.w);
    if (rc != EF_OK) {
        ef_unet_free(m);
        return rc;
    }
    *out = m;
    return EF_OK;
}

ef_status ef_unet_visit_matrices(const char *component_dir, ef_wmat_visit_fn fn, void *user, ef_err *err) {
    if (!component_dir || !fn) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_unet_visit_matrices: NULL argument");
    ef_unet *m = calloc(1, sizeof *m);
    if (!m) return ef_err_set(err, EF_ERR_NOMEM, "unet: out of memory");
    binder b = {.mode = BIND_VISIT, .visit = fn, .visit_user = user};
    ef_status rc = read_config(m, component_dir, err);
    if (rc == EF_OK) rc = bind_all(&b, m, err);
    ef_unet_free(m);
    return rc;
}

void ef_unet_free(ef_unet *m) {
    if (!m) return;
    for (int i = 0; i < EF_UNET_MAX_STAGES; i++) {
        block_free(&m->down[i]);
        block_free(&m->up[i]);
    }
    block_free(&m->mid);
    free(m->weights);
    free(m->mats);
    ef_weights_free(m->file);
    ef_arena_free(&m->arena);
    free(m);
}

/* ---- accessors -------------------------------------------------------------------- */

const ef_unet_config *ef_unet_get_config(const ef_unet *m) { return &m->cfg; }
int64_t ef_unet_n_params(const ef_unet *m) { return m->n_params; }
ef_wtype ef_unet_wtype(const ef_unet *m) { return m->wt; }
int     ef_unet_downscale(const ef_unet *m) { return 1 << (m->cfg.n_stages - 1); }
size_t  ef_unet_activation_bytes(const ef_unet *m) { return ef_arena_capacity(&m->arena); }
void    ef_unet_release_activations(ef_unet *m) { if (m) ef_arena_release(&m->arena); }
void    ef_unet_set_kv_downsample(ef_unet *m, int factor) { m->kv_downsample = factor < 1 ? 1 : factor > 4 ? 4 : factor; }
void    ef_unet_set_hook(ef_unet *m, ef_unet_hook_fn fn, void *user) {
    m->hook = fn;
    m->hook_user = user;
}
