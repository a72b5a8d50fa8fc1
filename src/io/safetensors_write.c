/*
** safetensors_write.c -- ef_st_write (see safetensors.h): validates the tensor list,
** lays the tensors out back to back in name order, builds the header with cJSON
** (integers as raw JSON text, exact at any size, where cJSON's doubles would go
** through "%1.15g"), pads it with spaces to a multiple of 8 as the reference writer
** does, and streams the data through one reusable buffer into "<path>.tmp", which is
** renamed over path at the end.
*/
#include "io/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"

/* One tensor's place in the file. */
typedef struct st_slot {
    const ef_st_out *t;
    size_t           begin, nbytes;   /* offsets into the data section */
} st_slot;

static int cmp_slot(const void *a, const void *b) {
    return strcmp(((const st_slot *)a)->t->name, ((const st_slot *)b)->t->name);
}

/* Checks every tensor, sorts slots by name and sets their offsets. */
static ef_status layout(const char *path, const ef_st_out *tensors, size_t n, ef_st_fill_fn fill, st_slot *slots,
                        size_t *data_len, ef_err *err) {
    for (size_t i = 0; i < n; i++) {
        const ef_st_out *t = &tensors[i];
        if (!t->name || !t->name[0] || strcmp(t->name, "__metadata__") == 0)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: tensor %zu has an empty or reserved name", path, i);
        if ((unsigned)t->dtype >= EF_DTYPE_COUNT || t->ndim < 0 || t->ndim > EF_MAX_DIMS)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: tensor '%.200s': bad dtype or ndim %d", path, t->name,
                              t->ndim);
        int64_t count = 1, bytes = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || !ef_mul_i64(count, t->shape[d], &count))
                return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: tensor '%.200s': bad shape", path, t->name);
        }
        if (!ef_mul_i64(count, (int64_t)ef_dtype_size(t->dtype), &bytes) || (uint64_t)bytes > (uint64_t)SIZE_MAX)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: tensor '%.200s': too many bytes", path, t->name);
        if (!t->data && !fill && bytes)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: tensor '%.200s': no data and no fill function", path,
                              t->name);
        slots[i].t = t;
        slots[i].nbytes = (size_t)bytes;
    }
    qsort(slots, n, sizeof *slots, cmp_slot);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(slots[i - 1].t->name, slots[i].t->name) == 0)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: duplicate tensor name '%.200s'", path, slots[i].t->name);
        slots[i].begin = at;
        if (!ef_add_size(at, slots[i].nbytes, &at))
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: the tensors add up to more than %zu bytes", path,
                              (size_t)SIZE_MAX);
    }
    *data_len = at;
    return EF_OK;
}

/* An integer as a raw JSON number (NULL when out of memory). */
static cJSON *raw_int(uint64_t v) {
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(s);
}

/* The header JSON (unformatted, malloc'ed by cJSON) into *out, NULL on failure. */
static ef_status header_json(const char *path, const st_slot *slots, size_t n, const char *const *metadata, char **out,
                             ef_err *err) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && metadata && metadata[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (size_t i = 0; ok && metadata[i]; i += 2) {
            if (!metadata[i + 1] || cJSON_GetObjectItemCaseSensitive(m, metadata[i])) {
                cJSON_Delete(root);
                return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: __metadata__ key '%.200s' has no value or is repeated",
                                  path, metadata[i]);
            }
            ok = cJSON_AddStringToObject(m, metadata[i], metadata[i + 1]) != NULL;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        const ef_st_out *t = slots[i].t;
        cJSON *e = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        ok = e && shape && offs && cJSON_AddStringToObject(e, "dtype", ef_dtype_name(t->dtype));
        for (int d = 0; ok && d < t->ndim; d++) {
            cJSON *v = raw_int((uint64_t)t->shape[d]);
            ok = v && cJSON_AddItemToArray(shape, v);
            if (!ok) cJSON_Delete(v);
        }
        for (int k = 0; ok && k < 2; k++) {
            cJSON *v = raw_int(k ? slots[i].begin + slots[i].nbytes : slots[i].begin);
            ok = v && cJSON_AddItemToArray(offs, v);
            if (!ok) cJSON_Delete(v);
        }
        if (ok && cJSON_AddItemToObject(e, "shape", shape)) shape = NULL;
        else ok = 0;
        if (ok && cJSON_AddItemToObject(e, "data_offsets", offs)) offs = NULL;
        else ok = 0;
        if (ok && cJSON_AddItemToObject(root, t->name, e)) e = NULL;
        else ok = 0;
        cJSON_Delete(shape);
        cJSON_Delete(offs);
        cJSON_Delete(e);
    }
    if (ok) *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!*out) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory for the header", path);
    return EF_OK;
}

/* Header and data into the open file f (named tmp in errors as path). */
static ef_status write_body(FILE *f, const char *path, const char *json, const st_slot *slots, size_t n,
                            ef_st_fill_fn fill, void *user, ef_err *err) {
    size_t jl = strlen(json), pad = (8 - jl % 8) % 8, hl = jl + pad;
    if (hl > EF_ST_MAX_HEADER)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: header of %zu bytes exceeds the %u byte limit", path, hl,
                          (unsigned)EF_ST_MAX_HEADER);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    static const char SPACES[8] = "       ";
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(json, 1, jl, f) == jl && fwrite(SPACES, 1, pad, f) == pad;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        if (!slots[i].t->data && slots[i].nbytes > cap) cap = slots[i].nbytes;
    uint8_t *buf = cap ? malloc(cap) : NULL;
    if (cap && !buf) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, cap);
    ef_status rc = EF_OK;
    for (size_t i = 0; ok && rc == EF_OK && i < n; i++) {
        const st_slot *s = &slots[i];
        if (s->nbytes == 0) continue;
        const void *src = s->t->data;
        if (!src) {
            rc = fill(user, s->t, buf, s->nbytes, err);
            src = buf;
        }
        if (rc == EF_OK) ok = fwrite(src, 1, s->nbytes, f) == s->nbytes;
    }
    free(buf);
    if (rc != EF_OK) return rc;
    if (!ok) return ef_err_set(err, EF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return EF_OK;
}

ef_status ef_st_write(const char *path, const ef_st_out *tensors, size_t n, const char *const *metadata,
                      ef_st_fill_fn fill, void *user, ef_err *err) {
    if (!path || !path[0] || (n && !tensors))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_st_write: path and tensors are required");
    st_slot *slots = calloc(n ? n : 1, sizeof *slots);
    size_t lp = strlen(path);
    char *tmp = malloc(lp + 5);
    char *json = NULL;
    FILE *f = NULL;
    size_t data_len = 0;
    ef_status rc;
    if (!slots || !tmp) {
        rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(tmp, path, lp);
    memcpy(tmp + lp, ".tmp", 5);
    rc = layout(path, tensors, n, fill, slots, &data_len, err);
    if (rc == EF_OK) rc = header_json(path, slots, n, metadata, &json, err);
    if (rc != EF_OK) goto done;
    f = fopen(tmp, "wb");
    if (!f) {
        rc = ef_err_set(err, EF_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        goto done;
    }
    rc = write_body(f, path, json, slots, n, fill, user, err);
    int closed = fclose(f) == 0;
    if (rc == EF_OK && !closed) rc = ef_err_set(err, EF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (rc == EF_OK && rename(tmp, path) != 0)
        rc = ef_err_set(err, EF_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (rc != EF_OK) remove(tmp);
done:
    cJSON_free(json);
    free(tmp);
    free(slots);
    return rc;
}
