/*
** convert.c -- ef_convert (include/edgefusion.h): a diffusers pipeline folder rewritten
** with the UNet's and text encoder's matrices in a narrow storage type.
**
** Which tensors are matrices comes from the loaders themselves (ef_unet_visit_matrices,
** ef_clip_text_visit_matrices: the names their binders store as a weight matrix), so a
** converted file holds exactly what the loader would have converted at load time, and
** q8 uses the loader's own quantizer (ef_wmat_from_f32, per row): loading the result is
** bit-identical to loading the input with that weight_type. Each output file is
** streamed one tensor at a time by ef_st_write (input pages are released as they are
** read), so memory stays near the largest matrix. Everything that is not a converted
** weights file is copied byte for byte.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ef_internal.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "kernels/wmat.h"
#include "model/clip_text.h"
#include "model/unet.h"
#include "model/wmat_load.h"
#include "model_index.h"

#define CV_PATH_MAX 4096
#define CV_COPY_DEPTH 4               /* folder levels copied below a component */
#define CV_COPY_CHUNK ((size_t)1 << 20)
#define CV_SCALE_SUFFIX ".q8_scale"   /* io/weights.h's convention */

typedef struct cv_run {
    ef_err            err;
    ef_convert_params p;
    ef_wtype          wt;
} cv_run;

#define cv_log(r, ...) ef_log_send((r)->p.log_fn, (r)->p.log_user, EF_LOG_INFO, __VA_ARGS__)

static ef_status join(char *out, const char *a, const char *b, ef_err *err) {
    if (!ef_path_join(out, CV_PATH_MAX, a, b)) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", a);
    return EF_OK;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* ---- copying ----------------------------------------------------------------------- */

/* src to dst through "<dst>.tmp" and a rename; *bytes += its size. */
static ef_status copy_file(const char *src, const char *dst, uint64_t *bytes, ef_err *err) {
    char tmp[CV_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", dst) >= (int)sizeof tmp)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", dst);
    FILE *in = fopen(src, "rb");
    if (!in) return ef_err_set(err, EF_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    FILE *out = fopen(tmp, "wb");
    char *buf = malloc(CV_COPY_CHUNK);
    ef_status rc = EF_OK;
    if (!out) rc = ef_err_set(err, EF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    else if (!buf) rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", src);
    while (rc == EF_OK) {
        size_t got = fread(buf, 1, CV_COPY_CHUNK, in);
        if (got && fwrite(buf, 1, got, out) != got) rc = ef_err_set(err, EF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        *bytes += got;
        if (got < CV_COPY_CHUNK) {
            if (ferror(in)) rc = ef_err_set(err, EF_ERR_IO, "%s: read failed", src);
            break;
        }
    }
    free(buf);
    fclose(in);
    if (out && fclose(out) != 0 && rc == EF_OK) rc = ef_err_set(err, EF_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (rc == EF_OK && rename(tmp, dst) != 0)
        rc = ef_err_set(err, EF_ERR_IO, "%s: cannot rename %s over it: %s", dst, tmp, strerror(errno));
    if (rc != EF_OK && out) remove(tmp);
    return rc;
}

/* A weights file of a converted component (replaced by the converted one, not copied). */
static int is_weights_file(const char *name) {
    static const char *const ENDS[] = {".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx"};
    if (strstr(name, ".safetensors") || strstr(name, ".bin.index")) return 1;
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ENDS / sizeof ENDS[0]; i++) {
        size_t l = strlen(ENDS[i]);
        if (n >= l && strcmp(name + n - l, ENDS[i]) == 0) return 1;
    }
    return 0;
}

/* Copies folder src into dst (created), depth levels deep; skip_weights leaves out
** weights files. Entries that are neither files nor folders are skipped. */
static ef_status copy_tree(const char *src, const char *dst, int depth, int skip_weights, uint64_t *bytes, ef_err *err) {
    char **names = NULL;
    size_t n = 0;
    EF_TRY(ef_dir_create(dst, err));
    EF_TRY(ef_dir_list(src, &names, &n, err));
    ef_status rc = EF_OK;
    for (size_t i = 0; rc == EF_OK && i < n; i++) {
        char s[CV_PATH_MAX], d[CV_PATH_MAX];
        if (strcmp(names[i], ".") == 0 || names[i][0] == '\0') continue;
        rc = join(s, src, names[i], err);
        if (rc == EF_OK) rc = join(d, dst, names[i], err);
        if (rc != EF_OK) break;
        if (ef_path_is_dir(s)) {
            if (depth > 0) rc = copy_tree(s, d, depth - 1, 0, bytes, err);
        } else if (ef_path_is_file(s) && !(skip_weights && is_weights_file(names[i]))) {
            rc = copy_file(s, d, bytes, err);
        }
    }
    ef_dir_list_free(names, n);
    return rc;
}

/* ---- the matrix names of a component --------------------------------------------------- */

typedef struct name_set {
    char  **names;
    size_t  n, cap;
    int     nomem;
} name_set;

static void set_add(void *user, const char *name) {
    name_set *s = user;
    if (s->nomem) return;
    if (s->n == s->cap) {
        size_t c = s->cap ? 2 * s->cap : 64;
        char **g = realloc(s->names, c * sizeof *g);
        if (!g) { s->nomem = 1; return; }
        s->names = g;
        s->cap = c;
    }
    size_t l = strlen(name) + 1;
    if (!(s->names[s->n] = malloc(l))) { s->nomem = 1; return; }
    memcpy(s->names[s->n++], name, l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int set_has(const name_set *s, const char *name) {
    return s->n && bsearch(&name, s->names, s->n, sizeof *s->names, cmp_str) != NULL;
}

static void set_free(name_set *s) {
    for (size_t i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
}

/* ---- one converted weights file --------------------------------------------------------- */

enum { ITEM_RAW, ITEM_VEC, ITEM_MAT, ITEM_SCALE };

/* What produces output tensor i. */
typedef struct cv_item {
    int                 kind;
    const ef_st_tensor *src;      /* the input tensor (ITEM_SCALE: its matrix's) */
    int64_t             rows, cols;
    float              *scales;   /* ITEM_MAT to q8: the rows scales, for the ITEM_SCALE that follows */
    char               *name;     /* ITEM_SCALE: owned "<matrix>.q8_scale" */
    size_t              mat;      /* ITEM_SCALE: index of its ITEM_MAT */
} cv_item;

typedef struct cv_file {
    ef_weights *w;
    ef_wtype    wt;
    ef_st_out  *outs;
    cv_item    *items;
    size_t      n;
} cv_file;

/* Matrix it (rows, cols) into dst as f->wt: F16/BF16 rows (copied when the input has
** that dtype, else through f32), or q8's int8 rows with the scales kept in it->scales
** (an I8 input copied as it is, a float one quantized by the loader's quantizer). */
static ef_status fill_mat(cv_file *f, cv_item *it, void *dst, ef_err *err) {
    const ef_st_tensor *t = it->src;
    if (f->wt == EF_W_Q8 && ef_weights_find_scale(f->w, t->name))
        return ef_weights_load_q8(f->w, t->name, t->ndim, t->shape, dst, it->scales, err);
    if ((f->wt == EF_W_F16 && t->dtype == EF_DTYPE_F16) || (f->wt == EF_W_BF16 && t->dtype == EF_DTYPE_BF16))
        return ef_weights_load_raw(f->w, t->name, t->ndim, t->shape, t->dtype, dst, err);
    const size_t count = (size_t)it->rows * (size_t)it->cols;
    float *f32 = malloc(count ? count * sizeof *f32 : 1);
    void *q8 = f->wt == EF_W_Q8 ? malloc(ef_wmat_bytes(EF_W_Q8, it->rows, it->cols)) : NULL;
    ef_status rc = EF_OK;
    if (!f32 || (f->wt == EF_W_Q8 && !q8))
        rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory converting '%.200s'", ef_weights_label(f->w), t->name);
    if (rc == EF_OK) rc = ef_weights_load_mat_f32(f->w, t->name, t->ndim, t->shape, f32, err);
    if (rc == EF_OK && f->wt == EF_W_Q8) {
        ef_wmat_from_f32(q8, EF_W_Q8, f32, it->rows, it->cols);   /* the loader's quantizer, per row */
        memcpy(dst, q8, count);
        memcpy(it->scales, ef_wmat_q8_scales(q8, it->rows, it->cols), (size_t)it->rows * sizeof(float));
    } else if (rc == EF_OK) {
        ef_wmat_from_f32(dst, f->wt, f32, it->rows, it->cols);
    }
    free(q8);
    free(f32);
    return rc;
}

static ef_status fill(void *user, const ef_st_out *o, void *dst, size_t nbytes, ef_err *err) {
    cv_file *f = user;
    cv_item *it = &f->items[o - f->outs];
    const ef_st_tensor *t = it->src;
    switch (it->kind) {
    case ITEM_VEC: return ef_weights_load_f32(f->w, t->name, t->ndim, t->shape, dst, err);
    case ITEM_MAT: return fill_mat(f, it, dst, err);
    case ITEM_SCALE: {
        const cv_item *m = &f->items[it->mat];
        if (!m->scales || nbytes != (size_t)m->rows * sizeof(float))
            return ef_err_set(err, EF_ERR_INTERNAL, "convert: scales of '%.200s' written before its matrix", t->name);
        memcpy(dst, m->scales, nbytes);
        return EF_OK;
    }
    default: break;
    }
    return ef_err_set(err, EF_ERR_INTERNAL, "convert: no data for '%.200s'", o->name);
}

/* Plans the output tensor(s) of input t (f->n grows by 0, 1 or 2): a matrix in f->wt
** (+ its scales for q8), a float vector in F32, anything else as it is; the scales of
** an I8 input matrix go with it. */
static ef_status plan_tensor(cv_file *f, const name_set *mats, const ef_st_tensor *t, ef_err *err) {
    const char *lab = ef_weights_tensor_label(f->w, t->name);
    size_t ln = strlen(t->name), ls = strlen(CV_SCALE_SUFFIX);
    if (ln > ls && strcmp(t->name + ln - ls, CV_SCALE_SUFFIX) == 0) {
        char *partner = malloc(ln - ls + 1);
        if (!partner) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", lab);
        memcpy(partner, t->name, ln - ls);
        partner[ln - ls] = '\0';
        int with_matrix = ef_weights_find_scale(f->w, partner) == t && set_has(mats, partner);
        free(partner);
        if (with_matrix) return EF_OK;   /* written with its matrix */
    }
    ef_st_out *o = &f->outs[f->n];
    cv_item *it = &f->items[f->n];
    memset(o, 0, sizeof *o);
    memset(it, 0, sizeof *it);
    o->name = t->name;
    o->ndim = t->ndim;
    memcpy(o->shape, t->shape, sizeof o->shape);
    it->src = t;
    if (set_has(mats, t->name)) {
        if (t->ndim < 1 || (!ef_dtype_is_float(t->dtype) && t->dtype != EF_DTYPE_I8))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' (dtype %s, %d dims) is not a matrix", lab,
                              t->name, ef_dtype_name(t->dtype), t->ndim);
        it->kind = ITEM_MAT;
        it->rows = t->shape[0];
        it->cols = 1;
        for (int d = 1; d < t->ndim; d++) it->cols *= t->shape[d];   /* bounded: the file holds them */
        o->dtype = f->wt == EF_W_F16 ? EF_DTYPE_F16 : f->wt == EF_W_BF16 ? EF_DTYPE_BF16 : EF_DTYPE_I8;
        f->n++;
        if (f->wt != EF_W_Q8) return EF_OK;
        it->scales = malloc(it->rows ? (size_t)it->rows * sizeof(float) : 1);
        cv_item *s = &f->items[f->n];
        ef_st_out *so = &f->outs[f->n];
        memset(s, 0, sizeof *s);
        memset(so, 0, sizeof *so);
        s->name = malloc(ln + ls + 1);
        if (!it->scales || !s->name) {
            free(s->name);
            return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", lab);
        }
        memcpy(s->name, t->name, ln);
        memcpy(s->name + ln, CV_SCALE_SUFFIX, ls + 1);
        s->kind = ITEM_SCALE;
        s->src = t;
        s->mat = f->n - 1;
        so->name = s->name;
        so->dtype = EF_DTYPE_F32;
        so->ndim = 1;
        so->shape[0] = it->rows;
        f->n++;
        return EF_OK;
    }
    if (t->dtype == EF_DTYPE_I8)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype I8 but is not a matrix (only matrices may "
                          "be stored as I8 + '" CV_SCALE_SUFFIX "')", lab, t->name);
    if (ef_dtype_is_float(t->dtype)) {
        it->kind = ITEM_VEC;
        o->dtype = EF_DTYPE_F32;
    } else {   /* e.g. an I64 position_ids buffer: as it is */
        it->kind = ITEM_RAW;
        o->dtype = t->dtype;
        o->data = t->data;
    }
    f->n++;
    return EF_OK;
}

/* Writes out_dir/file: every tensor of the component at in_dir, matrices (mats) as r->wt. */
static ef_status write_weights(cv_run *r, const char *comp, const char *in_dir, const char *out_dir, const char *file,
                               int is_unet) {
    ef_err *err = &r->err;
    char path[CV_PATH_MAX];
    EF_TRY(join(path, out_dir, file, err));
    cv_file f = {.wt = r->wt};
    name_set mats = {0};
    ef_status rc = ef_weights_open(in_dir, r->p.variant, 1, &f.w, err);
    if (rc == EF_OK) {
        rc = is_unet ? ef_unet_visit_matrices(in_dir, set_add, &mats, err)
                     : ef_clip_text_visit_matrices(in_dir, f.w, set_add, &mats, err);
    }
    if (rc == EF_OK && mats.nomem) rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", comp);
    if (rc == EF_OK) {
        qsort(mats.names, mats.n, sizeof *mats.names, cmp_str);
        for (size_t i = 0; rc == EF_OK && i < mats.n; i++) {
            if (!ef_weights_find(f.w, mats.names[i]))
                rc = ef_err_set(err, EF_ERR_FORMAT, "%s: missing tensor '%.200s'", ef_weights_label(f.w), mats.names[i]);
        }
    }
    size_t n_in = ef_weights_count(f.w);
    if (rc == EF_OK) {
        f.outs = calloc(n_in ? 2 * n_in : 1, sizeof *f.outs);
        f.items = calloc(n_in ? 2 * n_in : 1, sizeof *f.items);
        if (!f.outs || !f.items) rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", comp);
    }
    uint64_t in_bytes = 0, out_bytes = 0;
    for (size_t i = 0; rc == EF_OK && i < n_in; i++) {
        const ef_st_tensor *t = ef_weights_at(f.w, i);
        in_bytes += t->nbytes;
        rc = plan_tensor(&f, &mats, t, err);
    }
    if (rc == EF_OK) {
        const char *meta[] = {"format", "pt", "edgefusion_type", ef_wtype_name(r->wt), NULL};
        rc = ef_st_write(path, f.outs, f.n, meta, fill, &f, err);
    }
    if (rc == EF_OK) {
        out_bytes = 0;
        for (size_t i = 0; i < f.n; i++) {
            int64_t count = 1;
            for (int d = 0; d < f.outs[i].ndim; d++) count *= f.outs[i].shape[d];
            out_bytes += (uint64_t)count * ef_dtype_size(f.outs[i].dtype);
        }
        cv_log(r, "%s: %zu tensors, %zu matrices as %s: %.1f MiB -> %.1f MiB (%s/%s)", comp, n_in, mats.n,
               ef_wtype_name(r->wt), mib(in_bytes), mib(out_bytes), comp, file);
    }
    for (size_t i = 0; f.items && i < f.n; i++) {
        free(f.items[i].scales);
        free(f.items[i].name);
    }
    free(f.items);
    free(f.outs);
    set_free(&mats);
    ef_weights_free(f.w);
    return rc;
}

/* ---- the pipeline ----------------------------------------------------------------------- */

/* A component name from model_index.json that is safe as a folder name. */
static int plain_name(const char *s) {
    return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') && !strchr(s, '\\');
}

/* text_encoder/ or unet/: its other files copied, its weights converted. */
static ef_status convert_component(cv_run *r, const ef_component *c, const char *in, const char *out) {
    static const char *const TEXT[] = {"CLIPTextModel"}, *const UNET[] = {"UNet2DConditionModel"};
    int is_unet = strcmp(c->name, "unet") == 0;
    const char *want = is_unet ? UNET[0] : TEXT[0];
    if (strcmp(c->class_name, want) != 0)
        return ef_err_set(&r->err, EF_ERR_UNSUPPORTED, "model_index.json: component '%s' is a %s.%s; edgefusion "
                          "converts only a %s", c->name, c->library, c->class_name, want);
    char src[CV_PATH_MAX], dst[CV_PATH_MAX];
    uint64_t copied = 0;
    EF_TRY(join(src, in, c->name, &r->err));
    EF_TRY(join(dst, out, c->name, &r->err));
    EF_TRY(copy_tree(src, dst, CV_COPY_DEPTH, 1, &copied, &r->err));
    return write_weights(r, c->name, src, dst, is_unet ? "diffusion_pytorch_model.safetensors" : "model.safetensors",
                         is_unet);
}

/* Any other folder: copied as it is (when the input has it). */
static ef_status copy_component(cv_run *r, const char *name, const char *in, const char *out) {
    char src[CV_PATH_MAX], dst[CV_PATH_MAX];
    uint64_t copied = 0;
    EF_TRY(join(src, in, name, &r->err));
    EF_TRY(join(dst, out, name, &r->err));
    if (!ef_path_is_dir(src)) return EF_OK;
    EF_TRY(copy_tree(src, dst, CV_COPY_DEPTH, 0, &copied, &r->err));
    cv_log(r, "%s: copied (%.1f MiB)", name, mib(copied));
    return EF_OK;
}

static ef_status convert_all(cv_run *r, const char *in, const char *out) {
    ef_err *err = &r->err;
    ef_model_index idx;
    EF_TRY(ef_model_index_load(in, &idx, err));
    if (ef_path_is_dir(out)) {
        char **names = NULL;
        size_t n = 0;
        EF_TRY(ef_dir_list(out, &names, &n, err));
        ef_dir_list_free(names, n);
        if (n && !r->p.overwrite)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: exists and is not empty (overwrite it with --force)", out);
    }
    EF_TRY(ef_dir_create(out, err));
    char src[CV_PATH_MAX], dst[CV_PATH_MAX];
    uint64_t copied = 0;
    EF_TRY(join(src, in, "model_index.json", err));
    EF_TRY(join(dst, out, "model_index.json", err));
    EF_TRY(copy_file(src, dst, &copied, err));
    int has_taesd = 0;
    for (int i = 0; i < idx.n_components; i++) {
        const ef_component *c = &idx.components[i];
        if (!plain_name(c->name))
            return ef_err_set(err, EF_ERR_FORMAT, "model_index.json: component name '%s' is not a folder name", c->name);
        has_taesd |= strcmp(c->name, "taesd") == 0;
        if (strcmp(c->name, "text_encoder") == 0 || strcmp(c->name, "unet") == 0) EF_TRY(convert_component(r, c, in, out));
        else EF_TRY(copy_component(r, c->name, in, out));
    }
    if (!has_taesd) EF_TRY(copy_component(r, "taesd", in, out));   /* beside the pipeline, not in its index */
    return EF_OK;
}

ef_convert_params ef_convert_default_params(void) {
    ef_convert_params p;
    memset(&p, 0, sizeof p);
    return p;
}

ef_status ef_convert(const char *in_dir, const char *out_dir, const ef_convert_params *params, char *errbuf,
                     size_t errbuf_size) {
    if (errbuf && errbuf_size) errbuf[0] = '\0';
    cv_run *r = calloc(1, sizeof *r);
    if (!r) {
        if (errbuf && errbuf_size) snprintf(errbuf, errbuf_size, "out of memory");
        return EF_ERR_NOMEM;
    }
    r->p = params ? *params : ef_convert_default_params();
    ef_status rc;
    if (!in_dir || !in_dir[0] || !out_dir || !out_dir[0])
        rc = ef_err_set(&r->err, EF_ERR_INVALID_ARG, "ef_convert: in_dir and out_dir are required");
    else if (!r->p.weight_type || !ef_wtype_parse(r->p.weight_type, &r->wt) || r->wt == EF_W_F32)
        rc = ef_err_set(&r->err, EF_ERR_INVALID_ARG, "weight_type '%s': one of f16, bf16, q8",
                        r->p.weight_type ? r->p.weight_type : "(null)");
    else if (r->p.variant && strcmp(r->p.variant, "fp16") != 0)
        rc = ef_err_set(&r->err, EF_ERR_INVALID_ARG, "variant '%s': only NULL or \"fp16\"", r->p.variant);
    else rc = convert_all(r, in_dir, out_dir);
    if (rc != EF_OK && errbuf && errbuf_size) snprintf(errbuf, errbuf_size, "%s", r->err.msg);
    free(r);
    return rc;
}
