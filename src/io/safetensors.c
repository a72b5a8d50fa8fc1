/*
** safetensors.c -- see safetensors.h. The header is parsed by cJSON, then one pass over
** its entries validates each (dtype, shape, offsets, span) into a flat tensor table in
** header order; sorting pointers to that table by name finds duplicates and serves
** lookups, sorting by offset finds overlaps. Names and metadata strings are copied into
** one block owned by the file; tensor bytes stay in the caller's buffer or the mapping.
** Nothing here trusts a number from the file before comparing it against a bound.
*/
#include "io/safetensors.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ef_internal.h"

/* Integers in JSON arrive as doubles; 2^53 is the largest range where they are exact. */
#define JSON_INT_MAX 9007199254740992.0

typedef struct st_meta {
    const char *key;
    const char *value;
} st_meta;

struct ef_st_file {
    char                *label;     /* owned copy of the path or label */
    ef_file_map          map;       /* the bytes when opened from a path; zeroed otherwise */
    ef_st_tensor        *tensors;   /* n, in header order */
    const ef_st_tensor **by_name;   /* n, sorted by name */
    size_t               n;
    st_meta             *meta;      /* n_meta, sorted by key */
    size_t               n_meta;
    char                *strings;   /* tensor names and metadata, NUL-terminated, back to back */
};

/* What one parse needs to report errors and bound offsets. */
typedef struct st_ctx {
    const char    *label;
    ef_err        *err;
    const uint8_t *data;       /* the data section (after the header) */
    size_t         data_len;
} st_ctx;

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* An integral JSON number in [0, 2^53]. Returns 0 and fills *why otherwise. */
static int json_count(const cJSON *v, int64_t *out, const char **why) {
    if (!cJSON_IsNumber(v)) { *why = "is not a number"; return 0; }
    double d = v->valuedouble;
    if (d < 0) { *why = "is negative"; return 0; }
    if (!(d <= JSON_INT_MAX)) { *why = "is too large"; return 0; }
    if (d != floor(d)) { *why = "is not an integer"; return 0; }
    *out = (int64_t)d;
    return 1;
}

static ef_status parse_dtype(const st_ctx *c, const char *name, const cJSON *e, ef_dtype *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!v) return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': missing 'dtype'", c->label, name);
    if (!cJSON_IsString(v) || !v->valuestring)
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': 'dtype' is not a string", c->label, name);
    if (!ef_dtype_parse(v->valuestring, out))
        return ef_err_set(c->err, EF_ERR_UNSUPPORTED,
                          "%s: tensor '%.200s': dtype %.40s is not supported (edgefusion reads F32, F16, BF16, I64, I32, U8, I8)",
                          c->label, name, v->valuestring);
    return EF_OK;
}

static ef_status parse_shape(const st_ctx *c, const char *name, const cJSON *e, ef_st_tensor *t) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!v) return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': missing 'shape'", c->label, name);
    if (!cJSON_IsArray(v))
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': 'shape' is not an array", c->label, name);
    int ndim = 0;
    for (const cJSON *d = v->child; d; d = d->next) {
        if (ndim == EF_MAX_DIMS)
            return ef_err_set(c->err, EF_ERR_UNSUPPORTED, "%s: tensor '%.200s': 'shape' has more than %d dims",
                              c->label, name, EF_MAX_DIMS);
        const char *why = NULL;
        if (!json_count(d, &t->shape[ndim], &why))
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': shape[%d] %s", c->label, name, ndim, why);
        ndim++;
    }
    t->ndim = ndim;
    return EF_OK;
}

/* dtype, shape, data_offsets and their agreement; sets t->data and t->nbytes. */
static ef_status parse_entry(const st_ctx *c, const char *name, const cJSON *e, ef_st_tensor *t) {
    if (!cJSON_IsObject(e))
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': entry is not a JSON object", c->label, name);
    t->name = name;
    EF_TRY(parse_dtype(c, name, e, &t->dtype));
    EF_TRY(parse_shape(c, name, e, t));

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!v) return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': missing 'data_offsets'", c->label, name);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': 'data_offsets' is not an array [begin, end]",
                          c->label, name);
    int64_t off[2];
    const cJSON *d = v->child;
    for (int i = 0; i < 2; i++, d = d->next) {
        const char *why = NULL;
        if (!json_count(d, &off[i], &why))
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': data_offsets[%d] %s", c->label, name, i, why);
    }
    if (off[0] > off[1])
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': data_offsets [%lld, %lld] are reversed",
                          c->label, name, (long long)off[0], (long long)off[1]);
    if ((uint64_t)off[1] > (uint64_t)c->data_len)
        return ef_err_set(c->err, EF_ERR_FORMAT,
                          "%s: tensor '%.200s': data_offsets [%lld, %lld] exceed the data section (%zu bytes)",
                          c->label, name, (long long)off[0], (long long)off[1], c->data_len);

    char sh[160];
    int64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (!ef_mul_i64(count, t->shape[i], &count)) {
            ef_st_format_shape(sh, sizeof sh, t->shape, t->ndim);
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': shape %s has too many elements",
                              c->label, name, sh);
        }
    }
    int64_t bytes = 0;
    if (!ef_mul_i64(count, (int64_t)ef_dtype_size(t->dtype), &bytes)) {
        ef_st_format_shape(sh, sizeof sh, t->shape, t->ndim);
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensor '%.200s': shape %s x %s has too many bytes",
                          c->label, name, sh, ef_dtype_name(t->dtype));
    }
    if (bytes != off[1] - off[0]) {
        ef_st_format_shape(sh, sizeof sh, t->shape, t->ndim);
        return ef_err_set(c->err, EF_ERR_FORMAT,
                          "%s: tensor '%.200s': shape %s x %s is %lld bytes but data_offsets [%lld, %lld] span %lld",
                          c->label, name, sh, ef_dtype_name(t->dtype), (long long)bytes, (long long)off[0],
                          (long long)off[1], (long long)(off[1] - off[0]));
    }
    t->data = c->data + off[0];
    t->nbytes = (size_t)bytes;
    return EF_OK;
}

/* Validates "__metadata__" (an object of strings) and adds its string bytes to *bytes. */
static ef_status check_metadata(const st_ctx *c, const cJSON *m, size_t *count, size_t *bytes) {
    if (!cJSON_IsObject(m))
        return ef_err_set(c->err, EF_ERR_FORMAT, "%s: '__metadata__' is not a JSON object", c->label);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv) || !kv->valuestring)
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: __metadata__ '%.200s' is not a string", c->label, kv->string);
        size_t lk = strlen(kv->string) + 1, lv = strlen(kv->valuestring) + 1;
        if (!ef_add_size(*bytes, lk, bytes) || !ef_add_size(*bytes, lv, bytes))
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: header too large", c->label);
        (*count)++;
    }
    return EF_OK;
}

static char *pool_put(char **at, const char *s) {
    size_t l = strlen(s) + 1;
    char *p = *at;
    memcpy(p, s, l);
    *at += l;
    return p;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const ef_st_tensor *const *)a)->name, (*(const ef_st_tensor *const *)b)->name);
}

static int cmp_meta(const void *a, const void *b) {
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

static int cmp_offset(const void *a, const void *b) {
    const ef_st_tensor *x = *(const ef_st_tensor *const *)a, *y = *(const ef_st_tensor *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* Duplicate names (cJSON keeps repeated keys) and overlapping byte ranges. */
static ef_status check_table(const st_ctx *c, ef_st_file *f) {
    for (size_t i = 0; i < f->n; i++) f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_name);
    for (size_t i = 1; i < f->n; i++) {
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: duplicate tensor name '%.200s'", c->label,
                              f->by_name[i]->name);
    }
    qsort(f->meta, f->n_meta, sizeof *f->meta, cmp_meta);
    for (size_t i = 1; i < f->n_meta; i++) {
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: __metadata__ has duplicate key '%.200s'", c->label,
                              f->meta[i].key);
    }
    if (f->n < 2) return EF_OK;
    const ef_st_tensor **by_off = malloc(f->n * sizeof *by_off);
    if (!by_off) return ef_err_set(c->err, EF_ERR_NOMEM, "%s: out of memory", c->label);
    size_t m = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->tensors[i].nbytes) by_off[m++] = &f->tensors[i];   /* zero-size tensors may sit anywhere */
    }
    qsort(by_off, m, sizeof *by_off, cmp_offset);
    ef_status rc = EF_OK;
    for (size_t i = 1; i < m; i++) {
        const ef_st_tensor *a = by_off[i - 1], *b = by_off[i];
        if (b->data < a->data + a->nbytes) {
            size_t ab = (size_t)(a->data - c->data), bb = (size_t)(b->data - c->data);
            rc = ef_err_set(c->err, EF_ERR_FORMAT, "%s: tensors '%.200s' [%zu, %zu] and '%.200s' [%zu, %zu] overlap",
                            c->label, a->name, ab, ab + a->nbytes, b->name, bb, bb + b->nbytes);
            break;
        }
    }
    free(by_off);
    return rc;
}

/* Builds f's tables from the parsed header root. */
static ef_status build(const st_ctx *c, const cJSON *root, ef_st_file *f) {
    size_t bytes = 0, n = 0, n_meta = 0;
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++) return ef_err_set(c->err, EF_ERR_FORMAT, "%s: duplicate key '__metadata__'", c->label);
            EF_TRY(check_metadata(c, e, &n_meta, &bytes));
            continue;
        }
        if (!ef_add_size(bytes, strlen(e->string) + 1, &bytes))
            return ef_err_set(c->err, EF_ERR_FORMAT, "%s: header too large", c->label);
        n++;
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    f->meta = calloc(n_meta ? n_meta : 1, sizeof *f->meta);
    f->strings = malloc(bytes ? bytes : 1);
    if (!f->tensors || !f->by_name || !f->meta || !f->strings)
        return ef_err_set(c->err, EF_ERR_NOMEM, "%s: out of memory for %zu tensors", c->label, n);

    char *at = f->strings;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            for (const cJSON *kv = e->child; kv; kv = kv->next, f->n_meta++) {
                f->meta[f->n_meta].key = pool_put(&at, kv->string);
                f->meta[f->n_meta].value = pool_put(&at, kv->valuestring);
            }
            continue;
        }
        const char *name = pool_put(&at, e->string);
        EF_TRY(parse_entry(c, name, e, &f->tensors[f->n]));
        f->n++;
    }
    return check_table(c, f);
}

ef_status ef_st_parse(const uint8_t *buf, size_t len, const char *label, ef_st_file **out, ef_err *err) {
    *out = NULL;
    if (!label) label = "<buffer>";
    if (!buf && len) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL buffer", label);
    if (len < 8)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file (the header length "
                          "alone is 8 bytes)", label, len);
    uint64_t hlen = read_le64(buf);
    if (hlen > EF_ST_MAX_HEADER)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: header length %llu exceeds the %u byte limit", label,
                          (unsigned long long)hlen, (unsigned)EF_ST_MAX_HEADER);
    if (hlen > (uint64_t)(len - 8))
        return ef_err_set(err, EF_ERR_FORMAT, "%s: header length %llu exceeds the file (%zu bytes after the length)",
                          label, (unsigned long long)hlen, len - 8);
    const char *hdr = (const char *)buf + 8;
    size_t hn = (size_t)hlen;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hn, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        return ef_err_set(err, EF_ERR_FORMAT, "%s: header is not valid JSON (near header byte %zu)", label, at);
    }
    for (size_t i = (size_t)(end - hdr); i < hn; i++) {
        char ch = hdr[i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            cJSON_Delete(root);
            return ef_err_set(err, EF_ERR_FORMAT, "%s: unexpected bytes after the JSON header (header byte %zu)",
                              label, i);
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ef_err_set(err, EF_ERR_FORMAT, "%s: header is not a JSON object", label);
    }

    ef_st_file *f = calloc(1, sizeof *f);
    size_t ll = strlen(label) + 1;
    char *lab = f ? malloc(ll) : NULL;
    if (!lab) {
        free(f);
        cJSON_Delete(root);
        return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", label);
    }
    memcpy(lab, label, ll);
    f->label = lab;
    st_ctx c = {label, err, buf + 8 + hn, len - 8 - hn};
    ef_status rc = build(&c, root, f);
    cJSON_Delete(root);
    if (rc != EF_OK) {
        ef_st_close(f);
        return rc;
    }
    *out = f;
    return EF_OK;
}

ef_status ef_st_open(const char *path, int use_mmap, ef_st_file **out, ef_err *err) {
    *out = NULL;
    ef_file_map map;
    EF_TRY(ef_file_map_open(path, use_mmap, &map, err));
    static const uint8_t empty[1] = {0};
    ef_status rc = ef_st_parse(map.data ? map.data : empty, map.size, path, out, err);
    if (rc != EF_OK) {
        ef_file_map_close(&map);
        return rc;
    }
    (*out)->map = map;
    return EF_OK;
}

size_t ef_st_count(const ef_st_file *f) { return f ? f->n : 0; }

const ef_st_tensor *ef_st_at(const ef_st_file *f, size_t i) { return f && i < f->n ? &f->tensors[i] : NULL; }

const ef_st_tensor *ef_st_find(const ef_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid]->name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *ef_st_path(const ef_st_file *f) { return f ? f->label : NULL; }

const char *ef_st_metadata(const ef_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    size_t lo = 0, hi = f->n_meta;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, f->meta[mid].key);
        if (c == 0) return f->meta[mid].value;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

void ef_st_release(const ef_st_file *f, const ef_st_tensor *t) {
    if (f && t) ef_file_map_release(&f->map, t->data, t->nbytes);
}

void ef_st_close(ef_st_file *f) {
    if (!f) return;
    ef_file_map_close(&f->map);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    free(f->label);
    free(f);
}

void ef_st_format_shape(char *out, size_t n, const int64_t *shape, int ndim) {
    size_t at = 0;
    if (n == 0) return;
    out[0] = '\0';
    for (int i = 0; i <= ndim && at < n; i++) {
        int c = i == ndim ? snprintf(out + at, n - at, "]")
                          : snprintf(out + at, n - at, "%s%lld", i ? ", " : "[", (long long)shape[i]);
        if (c < 0) return;
        at += (size_t)c;
    }
}
