/*
** weights.c -- see weights.h. Picks the weight file(s) of one component folder, opens
** every shard once, and merges all tensors into one table sorted by name that carries
** a per-tensor state (unused / loaded / ignored). A shard index is cross-checked both
** ways: every weight_map entry must be in its shard, and every shard tensor must be in
** the weight_map under that shard. Folders are probed by fixed file names only (no
** directory listing), so pickle detection knows the usual names, not every *.bin.
*/
#include "io/weights.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ef_internal.h"
#include "io/json.h"

#define W_PATH_MAX 4096
#define W_INDEX_MAX_BYTES (64u << 20)   /* real indexes are ~100 KB */
#define W_REPORT_MAX 5                  /* unexpected tensors named by check_all_used */
#define W_SCALE_SUFFIX ".q8_scale"      /* "<name>.q8_scale": the row scales of I8 matrix "<name>" */

enum { W_UNUSED = 0, W_LOADED = 1, W_IGNORED = 2 };

typedef struct w_entry {
    const ef_st_tensor *t;
    size_t              shard;   /* index into shards[] */
    int                 state;   /* W_UNUSED, W_LOADED or W_IGNORED */
} w_entry;

/* One opened .safetensors file. */
typedef struct w_shard {
    ef_st_file *f;
    char       *label;            /* "<folder>/<file>", for tensor errors */
    const char *file;             /* the <file> part of label */
} w_shard;

struct ef_weights {
    char         *label;          /* "<folder>/<file>" of the chosen file (or index) */
    w_shard      *shards;         /* n_shards, in first-use order */
    size_t        n_shards;
    w_entry      *entries;        /* n, sorted by tensor name */
    size_t        n;
};

/* One weight_map row while an index is being checked; strings borrowed from cJSON. */
typedef struct w_map_row {
    const char *name;
    size_t      shard;
} w_map_row;

/* "<last component of dir>/<file>"; NULL when out of memory. */
static char *make_label(const char *dir, const char *file) {
    size_t end = strlen(dir);
    while (end > 1 && dir[end - 1] == '/') end--;
    size_t beg = end;
    while (beg > 0 && dir[beg - 1] != '/') beg--;
    size_t lc = end - beg, lf = strlen(file);
    char *s = malloc(lc + lf + 2);
    if (!s) return NULL;
    memcpy(s, dir + beg, lc);
    if (lc && s[lc - 1] != '/') s[lc++] = '/';
    memcpy(s + lc, file, lf + 1);
    return s;
}

/* A variant is a short word such as "fp16": letters, digits, '_' and '-'. */
static int variant_ok(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || n > 32) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A shard file name from an index must name a file in the same folder. */
static int plain_file_name(const char *s) {
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

static const char *const BASES[2] = {"model", "diffusion_pytorch_model"};

/* Writes the i-th candidate (0..3) for variant v (NULL = none) into out; *is_index. */
static void candidate(char *out, size_t n, const char *v, int i, int *is_index) {
    const char *base = BASES[i & 1];
    *is_index = i >= 2;
    if (!v) snprintf(out, n, *is_index ? "%s.safetensors.index.json" : "%s.safetensors", base);
    else if (*is_index) snprintf(out, n, "%s.safetensors.index.%s.json", base, v);
    else snprintf(out, n, "%s.%s.safetensors", base, v);
}

/* Finds the file to open: the variant's names, then the fallback's. 1 if found. */
static int choose_file(const char *dir, const char *variant, char *name, size_t n, int *is_index) {
    const char *order[2] = {variant, variant ? NULL : "fp16"};
    char path[W_PATH_MAX];
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 4; i++) {
            candidate(name, n, order[k], i, is_index);
            if (ef_path_join(path, sizeof path, dir, name) && ef_path_is_file(path)) return 1;
        }
    }
    return 0;
}

/* The first pickle weight file found in dir, or NULL. */
static const char *find_pickle(const char *dir) {
    static const char *const NAMES[] = {
        "pytorch_model.bin", "diffusion_pytorch_model.bin", "pytorch_model.fp16.bin",
        "diffusion_pytorch_model.fp16.bin", "pytorch_model.bin.index.json",
        "diffusion_pytorch_model.bin.index.json", "model.ckpt", "model.pt", "model.pth",
    };
    char path[W_PATH_MAX];
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        if (ef_path_join(path, sizeof path, dir, NAMES[i]) && ef_path_is_file(path)) return NAMES[i];
    }
    return NULL;
}

/* Opens dir/file as a new shard (label "<folder>/<file>"), returning its index. */
static ef_status add_shard(ef_weights *w, const char *dir, const char *file, int use_mmap, size_t *idx, ef_err *err) {
    char path[W_PATH_MAX];
    if (!ef_path_join(path, sizeof path, dir, file))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long for '%.200s'", w->label, file);
    w_shard *s = realloc(w->shards, (w->n_shards + 1) * sizeof *s);
    if (!s) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", w->label);
    w->shards = s;
    char *label = make_label(dir, file);
    if (!label) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", w->label);
    ef_st_file *f = NULL;
    ef_status rc = ef_st_open(path, use_mmap, &f, err);
    if (rc != EF_OK) {
        free(label);
        return rc;
    }
    w->shards[w->n_shards].f = f;
    w->shards[w->n_shards].label = label;
    w->shards[w->n_shards].file = label + strlen(label) - strlen(file);
    *idx = w->n_shards++;
    return EF_OK;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const w_entry *)a)->t->name, ((const w_entry *)b)->t->name);
}

static int cmp_row(const void *a, const void *b) {
    return strcmp(((const w_map_row *)a)->name, ((const w_map_row *)b)->name);
}

static w_entry *find_entry(const ef_weights *w, const char *name) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->entries[mid].t->name);
        if (c == 0) return &w->entries[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* find_entry for the first len bytes of name (which need not be NUL-terminated there);
** the order is strcmp's: a key that is a proper prefix of an entry sorts first. */
static w_entry *find_entry_n(const ef_weights *w, const char *name, size_t len) {
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = w->entries[mid].t->name;
        int c = strncmp(name, e, len);
        if (c == 0) c = e[len] == '\0' ? 0 : -1;
        if (c == 0) return &w->entries[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* The scale entry of I8 matrix e, or NULL (also when out of memory for a long name). */
static w_entry *scale_of(const ef_weights *w, const w_entry *e) {
    if (e->t->dtype != EF_DTYPE_I8) return NULL;
    char small[256];
    size_t ln = strlen(e->t->name), ls = strlen(W_SCALE_SUFFIX);
    char *name = ln + ls < sizeof small ? small : malloc(ln + ls + 1);
    if (!name) return NULL;
    memcpy(name, e->t->name, ln);
    memcpy(name + ln, W_SCALE_SUFFIX, ls + 1);
    w_entry *s = find_entry(w, name);
    if (name != small) free(name);
    return s;
}

/* Every "<name>.q8_scale" tensor: an I8 partner "<name>" with at least one dim, dtype
** F32, shape (partner rows). The values are checked when the matrix is loaded. */
static ef_status check_scales(const ef_weights *w, ef_err *err) {
    const size_t ls = strlen(W_SCALE_SUFFIX);
    for (size_t i = 0; i < w->n; i++) {
        const ef_st_tensor *t = w->entries[i].t;
        const char *lab = w->shards[w->entries[i].shard].label;
        size_t ln = strlen(t->name);
        if (ln < ls || strcmp(t->name + ln - ls, W_SCALE_SUFFIX) != 0) continue;
        const w_entry *p = find_entry_n(w, t->name, ln - ls);
        if (!p || p->t->dtype != EF_DTYPE_I8)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has no I8 matrix '%.*s' to scale (%s)", lab,
                              t->name, (int)EF_MIN(ln - ls, 200), t->name, p ? "it is not I8" : "it is missing");
        if (t->dtype != EF_DTYPE_F32)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; q8 scales are F32", lab, t->name,
                              ef_dtype_name(t->dtype));
        if (p->t->ndim < 1 || t->ndim != 1 || t->shape[0] != p->t->shape[0]) {
            char have[160], rows[32] = "no rows";
            ef_st_format_shape(have, sizeof have, t->shape, t->ndim);
            if (p->t->ndim >= 1) snprintf(rows, sizeof rows, "%lld rows", (long long)p->t->shape[0]);
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has shape %s but its matrix has %s", lab, t->name,
                              have, rows);
        }
    }
    return EF_OK;
}

/* All tensors of all shards, sorted by name; a name in two shards is an error. */
static ef_status build_table(ef_weights *w, ef_err *err) {
    size_t n = 0;
    for (size_t s = 0; s < w->n_shards; s++) {
        if (!ef_add_size(n, ef_st_count(w->shards[s].f), &n))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: too many tensors", w->label);
    }
    w->entries = calloc(n ? n : 1, sizeof *w->entries);
    if (!w->entries) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory for %zu tensors", w->label, n);
    for (size_t s = 0; s < w->n_shards; s++) {
        for (size_t i = 0; i < ef_st_count(w->shards[s].f); i++) {
            w->entries[w->n].t = ef_st_at(w->shards[s].f, i);
            w->entries[w->n].shard = s;
            w->n++;
        }
    }
    qsort(w->entries, w->n, sizeof *w->entries, cmp_entry);
    for (size_t i = 1; i < w->n; i++) {
        const w_entry *a = &w->entries[i - 1], *b = &w->entries[i];
        if (strcmp(a->t->name, b->t->name) == 0) {
            size_t sa = EF_MIN(a->shard, b->shard), sb = EF_MAX(a->shard, b->shard);
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' is in two shards, %s and %s", w->label,
                              a->t->name, w->shards[sa].label, w->shards[sb].label);
        }
    }
    return check_scales(w, err);
}

/* Reads the weight_map of root into rows (sorted by name), opening each shard once. */
static ef_status read_weight_map(ef_weights *w, const cJSON *root, const char *dir, int use_mmap,
                                 w_map_row **rows_out, size_t *n_out, ef_err *err) {
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!wm) return ef_err_set(err, EF_ERR_FORMAT, "%s: missing 'weight_map'", w->label);
    if (!cJSON_IsObject(wm)) return ef_err_set(err, EF_ERR_FORMAT, "%s: 'weight_map' is not a JSON object", w->label);
    size_t n = 0;
    for (const cJSON *kv = wm->child; kv; kv = kv->next) n++;
    if (n == 0) return ef_err_set(err, EF_ERR_FORMAT, "%s: 'weight_map' is empty", w->label);
    w_map_row *rows = calloc(n, sizeof *rows);
    if (!rows) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", w->label);
    *rows_out = rows;
    *n_out = n;

    size_t i = 0;
    for (const cJSON *kv = wm->child; kv; kv = kv->next, i++) {
        if (!cJSON_IsString(kv) || !kv->valuestring)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: weight_map['%.200s'] is not a string", w->label, kv->string);
        const char *file = kv->valuestring;
        if (!plain_file_name(file))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s': shard '%.200s' is not a plain file name",
                              w->label, kv->string, file);
        size_t s = 0;
        while (s < w->n_shards && strcmp(w->shards[s].file, file) != 0) s++;
        if (s == w->n_shards) {
            ef_status rc = add_shard(w, dir, file, use_mmap, &s, err);
            if (rc != EF_OK) {
                ef_err_prefix(err, w->label);
                return rc;
            }
        }
        rows[i].name = kv->string;
        rows[i].shard = s;
    }
    qsort(rows, n, sizeof *rows, cmp_row);
    for (i = 1; i < n; i++) {
        if (strcmp(rows[i - 1].name, rows[i].name) == 0)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' is listed twice in 'weight_map'", w->label,
                              rows[i].name);
    }
    return EF_OK;
}

/* Opens the shards of the index at dir/file and checks the map against them. */
static ef_status open_index(ef_weights *w, const char *dir, const char *file, int use_mmap, ef_err *err) {
    char path[W_PATH_MAX];
    if (!ef_path_join(path, sizeof path, dir, file))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", w->label);
    cJSON *root = NULL;
    EF_TRY(ef_json_load(path, W_INDEX_MAX_BYTES, &root, err));
    w_map_row *rows = NULL;
    size_t n = 0;
    ef_status rc = read_weight_map(w, root, dir, use_mmap, &rows, &n, err);
    for (size_t i = 0; rc == EF_OK && i < n; i++) {
        if (!ef_st_find(w->shards[rows[i].shard].f, rows[i].name))
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' is listed for %s but is not in it", w->label,
                            rows[i].name, w->shards[rows[i].shard].label);
    }
    if (rc == EF_OK) rc = build_table(w, err);
    for (size_t i = 0; rc == EF_OK && i < w->n; i++) {
        w_map_row key = {w->entries[i].t->name, 0};
        const w_map_row *r = bsearch(&key, rows, n, sizeof *rows, cmp_row);
        if (!r || r->shard != w->entries[i].shard)
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' in %s is not listed for it in 'weight_map'",
                            w->label, w->entries[i].t->name, w->shards[w->entries[i].shard].label);
    }
    free(rows);
    cJSON_Delete(root);
    return rc;
}

ef_status ef_weights_open(const char *component_dir, const char *variant, int use_mmap,
                          ef_weights **out, ef_err *err) {
    *out = NULL;
    if (!component_dir || !component_dir[0])
        return ef_err_set(err, EF_ERR_INVALID_ARG, "weights: no component folder given");
    if (variant && !variant_ok(variant))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: bad weights variant '%.40s'", component_dir, variant);
    if (!ef_path_is_dir(component_dir))
        return ef_err_set(err, EF_ERR_IO, "%s: no such folder", component_dir);

    char name[128];
    int is_index = 0;
    if (!choose_file(component_dir, variant, name, sizeof name, &is_index)) {
        const char *pickle = find_pickle(component_dir);
        if (pickle)
            return ef_err_set(err, EF_ERR_UNSUPPORTED,
                              "%s: only PyTorch pickle weights (%s); edgefusion needs .safetensors (convert with "
                              "save_pretrained(..., safe_serialization=True) in diffusers/transformers)",
                              component_dir, pickle);
        return ef_err_set(err, EF_ERR_IO,
                          "%s: no weights found (looked for model.safetensors, diffusion_pytorch_model.safetensors, "
                          "their .fp16 variants and *.safetensors.index.json shard indexes)", component_dir);
    }

    ef_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->label = make_label(component_dir, name))) {
        free(w);
        return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", component_dir);
    }
    ef_status rc;
    if (is_index) {
        rc = open_index(w, component_dir, name, use_mmap, err);
    } else {
        size_t idx = 0;
        rc = add_shard(w, component_dir, name, use_mmap, &idx, err);
        if (rc == EF_OK) rc = build_table(w, err);
    }
    if (rc != EF_OK) {
        ef_weights_free(w);
        return rc;
    }
    *out = w;
    return EF_OK;
}


/* Finds name and checks its shape against (shape, ndim); the dtype is the caller's. */
static ef_status lookup(ef_weights *w, const char *name, int ndim, const int64_t *shape, w_entry **out, ef_err *err) {
    if (!w || !name || ndim < 0 || ndim > EF_MAX_DIMS || (ndim > 0 && !shape))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "weights: bad arguments to load '%.200s'", name ? name : "(null)");
    w_entry *e = find_entry(w, name);
    if (!e) return ef_err_set(err, EF_ERR_FORMAT, "%s: missing tensor '%.200s'", w->label, name);
    const ef_st_tensor *t = e->t;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[160], want[160];
        ef_st_format_shape(have, sizeof have, t->shape, t->ndim);
        ef_st_format_shape(want, sizeof want, shape, ndim);
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has shape %s but the config implies %s",
                          w->shards[e->shard].label, name, have, want);
    }
    *out = e;
    return EF_OK;
}

/* Converts float entry e (count elements) into dst and marks it loaded. */
static ef_status load_float(ef_weights *w, w_entry *e, float *dst, ef_err *err) {
    const ef_st_tensor *t = e->t;
    size_t count = t->nbytes / ef_dtype_size(t->dtype);
    if (count && !dst)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL destination for '%.200s'", w->shards[e->shard].label, t->name);
    if (count) ef_convert_to_f32(dst, t->data, t->dtype, count);
    ef_st_release(w->shards[e->shard].f, t);   /* converted: its file pages need not stay resident */
    e->state = W_LOADED;
    return EF_OK;
}

static ef_status not_float(const ef_weights *w, const w_entry *e, ef_err *err) {
    const char *lab = w->shards[e->shard].label;
    if (e->t->dtype == EF_DTYPE_I8)
        return ef_err_set(err, EF_ERR_FORMAT,
                          "%s: tensor '%.200s' has dtype I8; a float weight is expected (only matrices may be stored as "
                          "I8 + '" W_SCALE_SUFFIX "')", lab, e->t->name);
    return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; a float weight is expected", lab,
                      e->t->name, ef_dtype_name(e->t->dtype));
}

ef_status ef_weights_load_f32(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                              float *dst, ef_err *err) {
    w_entry *e = NULL;
    EF_TRY(lookup(w, name, ndim, shape, &e, err));
    if (!ef_dtype_is_float(e->t->dtype)) return not_float(w, e, err);
    return load_float(w, e, dst, err);
}

ef_status ef_weights_load_raw(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_dtype dtype,
                              void *dst, ef_err *err) {
    w_entry *e = NULL;
    EF_TRY(lookup(w, name, ndim, shape, &e, err));
    const char *lab = w->shards[e->shard].label;
    if (e->t->dtype != dtype)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; %s is expected", lab, name,
                          ef_dtype_name(e->t->dtype), ef_dtype_name(dtype));
    if (e->t->nbytes && !dst) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL destination for '%.200s'", lab, name);
    if (e->t->nbytes) memcpy(dst, e->t->data, e->t->nbytes);
    ef_st_release(w->shards[e->shard].f, e->t);
    e->state = W_LOADED;
    return EF_OK;
}

const void *ef_weights_view(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_dtype dtype) {
    ef_err quiet;
    w_entry *e = NULL;
    if (lookup(w, name, ndim, shape, &e, &quiet) != EF_OK || e->t->dtype != dtype) return NULL;
    if (e->t->nbytes == 0 || (uintptr_t)e->t->data % ef_dtype_size(dtype) != 0) return NULL;
    e->state = W_LOADED;
    return e->t->data;
}

void ef_weights_release_pages(ef_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) ef_st_release(w->shards[w->entries[i].shard].f, w->entries[i].t);
}

/* The scales of I8 matrix e into scale (rows floats), checked; marks both loaded.
** q (rows*cols bytes) receives the int8 values when not NULL. */
static ef_status load_q8_parts(ef_weights *w, w_entry *e, int8_t *q, float *scale, ef_err *err) {
    const ef_st_tensor *t = e->t;
    const char *lab = w->shards[e->shard].label;
    w_entry *s = scale_of(w, e);
    if (!s)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype I8 but no scale tensor '%.200s" W_SCALE_SUFFIX
                          "'", lab, t->name, t->name);
    /* check_scales: s is F32 of shape (rows), so nbytes = 4 * rows */
    size_t rows = s->t->nbytes / sizeof(float);
    if (rows && !scale) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL destination for '%.200s'", lab, t->name);
    if (rows) memcpy(scale, s->t->data, rows * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        if (!(scale[r] >= 0.0f) || !isfinite(scale[r]))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s" W_SCALE_SUFFIX "' holds %g at row %zu; scales must "
                              "be finite and >= 0", w->shards[s->shard].label, t->name, (double)scale[r], r);
    }
    if (q && t->nbytes) memcpy(q, t->data, t->nbytes);
    ef_st_release(w->shards[e->shard].f, t);
    ef_st_release(w->shards[s->shard].f, s->t);
    e->state = W_LOADED;
    s->state = W_LOADED;
    return EF_OK;
}

ef_status ef_weights_load_mat_f32(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                                  float *dst, ef_err *err) {
    w_entry *e = NULL;
    EF_TRY(lookup(w, name, ndim, shape, &e, err));
    if (ef_dtype_is_float(e->t->dtype)) return load_float(w, e, dst, err);
    if (e->t->dtype != EF_DTYPE_I8) return not_float(w, e, err);
    /* dequantize: scales first (checked), then q * scale row by row */
    const ef_st_tensor *t = e->t;
    size_t rows = ndim ? (size_t)shape[0] : 0, cols = rows ? t->nbytes / rows : 0;
    if (t->nbytes && !dst)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL destination for '%.200s'", w->shards[e->shard].label, name);
    float *scale = malloc(rows ? rows * sizeof *scale : 1);
    if (!scale) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory for '%.200s'", w->label, name);
    const int8_t *q = (const int8_t *)t->data;
    ef_status rc = load_q8_parts(w, e, NULL, scale, err);
    for (size_t r = 0; rc == EF_OK && r < rows; r++)
        for (size_t k = 0; k < cols; k++) dst[r * cols + k] = (float)q[r * cols + k] * scale[r];
    free(scale);
    return rc;
}

ef_status ef_weights_load_q8(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                             int8_t *q, float *scale, ef_err *err) {
    w_entry *e = NULL;
    EF_TRY(lookup(w, name, ndim, shape, &e, err));
    if (e->t->dtype != EF_DTYPE_I8)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; an I8 matrix is expected",
                          w->shards[e->shard].label, name, ef_dtype_name(e->t->dtype));
    if (e->t->nbytes && !q)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL destination for '%.200s'", w->shards[e->shard].label, name);
    return load_q8_parts(w, e, q, scale, err);
}

void ef_weights_ignore(ef_weights *w, const char *name) {
    if (!w || !name) return;
    w_entry *e = find_entry(w, name);
    if (e && e->state == W_UNUSED) e->state = W_IGNORED;
    w_entry *s = e ? scale_of(w, e) : NULL;
    if (s && s->state == W_UNUSED) s->state = W_IGNORED;
}

ef_status ef_weights_check_all_used(const ef_weights *w, ef_err *err) {
    if (!w) return ef_err_set(err, EF_ERR_INVALID_ARG, "weights: NULL");
    size_t n_bad = 0;
    for (size_t i = 0; i < w->n; i++) n_bad += w->entries[i].state == W_UNUSED;
    if (n_bad == 0) return EF_OK;
    char list[EF_ERR_MSG_MAX];
    size_t at = 0, shown = 0;
    list[0] = '\0';
    for (size_t i = 0; i < w->n && shown < W_REPORT_MAX; i++) {
        if (w->entries[i].state != W_UNUSED) continue;
        int c = snprintf(list + at, sizeof list - at, "%s'%.100s'", shown ? ", " : "", w->entries[i].t->name);
        if (c < 0 || (size_t)c >= sizeof list - at) break;
        at += (size_t)c;
        shown++;
    }
    return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu unexpected tensor%s: %s%s", w->label, n_bad,
                      n_bad == 1 ? "" : "s", list, n_bad > shown ? ", ..." : "");
}

const ef_st_tensor *ef_weights_find(const ef_weights *w, const char *name) {
    if (!w || !name) return NULL;
    const w_entry *e = find_entry(w, name);
    return e ? e->t : NULL;
}

const ef_st_tensor *ef_weights_find_scale(const ef_weights *w, const char *name) {
    if (!w || !name) return NULL;
    const w_entry *e = find_entry(w, name), *s = e ? scale_of(w, e) : NULL;
    return s ? s->t : NULL;
}

size_t ef_weights_count(const ef_weights *w) { return w ? w->n : 0; }

const ef_st_tensor *ef_weights_at(const ef_weights *w, size_t i) { return w && i < w->n ? w->entries[i].t : NULL; }

const char *ef_weights_tensor_label(const ef_weights *w, const char *name) {
    const w_entry *e = w && name ? find_entry(w, name) : NULL;
    return e ? w->shards[e->shard].label : "";
}

const char *ef_weights_label(const ef_weights *w) { return w ? w->label : NULL; }

void ef_weights_free(ef_weights *w) {
    if (!w) return;
    for (size_t s = 0; s < w->n_shards; s++) {
        ef_st_close(w->shards[s].f);
        free(w->shards[s].label);
    }
    free(w->shards);
    free(w->entries);
    free(w->label);
    free(w);
}
