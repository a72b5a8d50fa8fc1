/*
** wmat_load.c -- see wmat_load.h. The q8 copy path writes each part's int8 rows and
** scales straight into the blob's two sections, F16/BF16 parts into a blob of their
** type are copied as stored; everything else fills an f32 image of the whole (fused)
** matrix and converts it once, as the loaders always did.
*/
#include "model/wmat_load.h"

#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"

/* The file dtype whose bytes are a wt blob as they are: EF_DTYPE_COUNT for q8 (its
** blob carries the scales after the int8 rows). */
static ef_dtype stored_as(ef_wtype wt) {
    return wt == EF_W_F32 ? EF_DTYPE_F32 : wt == EF_W_F16 ? EF_DTYPE_F16 : wt == EF_W_BF16 ? EF_DTYPE_BF16 : EF_DTYPE_COUNT;
}

const void *ef_wmat_view(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_wtype wt) {
    const ef_dtype d = stored_as(wt);
    return d == EF_DTYPE_COUNT ? NULL : ef_weights_view(w, name, ndim, shape, d);
}

ef_status ef_wmat_load(ef_weights *w, const char *const *names, int n, int ndim, const int64_t *shape, ef_wtype wt,
                       void *blob, ef_err *err) {
    const int64_t rows = shape[0];
    int64_t cols = 1;
    for (int d = 1; d < ndim; d++) cols *= shape[d];   /* config dims are range-checked: no overflow */
    const size_t part = (size_t)rows * (size_t)cols;

    int all_q8 = wt == EF_W_Q8;
    for (int i = 0; all_q8 && i < n; i++) all_q8 = ef_weights_find_scale(w, names[i]) != NULL;
    if (all_q8) {
        int8_t *q = blob;
        float *scale = (float *)ef_wmat_q8_scales(blob, n * rows, cols);   /* the blob is ours: writable */
        for (size_t k = (size_t)n * part; k < (((size_t)n * part + 3) & ~(size_t)3); k++) q[k] = 0;
        for (int i = 0; i < n; i++)
            EF_TRY(ef_weights_load_q8(w, names[i], ndim, shape, q + (size_t)i * part, scale + (size_t)i * (size_t)rows, err));
        return EF_OK;
    }

    const size_t total = (size_t)n * part;
    const ef_dtype same = stored_as(wt);   /* used for F16 / BF16 only: F32 is a copy on the path below */
    int all_same = wt == EF_W_F16 || wt == EF_W_BF16;
    for (int i = 0; all_same && i < n; i++) {
        const ef_st_tensor *t = ef_weights_find(w, names[i]);
        all_same = t && t->dtype == same;
    }
    if (all_same) {   /* as stored: the f32 round trip would give the same bits (NaN payloads aside) */
        for (int i = 0; i < n; i++)
            EF_TRY(ef_weights_load_raw(w, names[i], ndim, shape, same, (uint16_t *)blob + (size_t)i * part, err));
        return EF_OK;
    }

    float *f32 = wt == EF_W_F32 ? blob : malloc(total ? total * sizeof *f32 : 1);
    if (!f32) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory converting '%.200s'", ef_weights_label(w), names[0]);
    ef_status rc = EF_OK;
    for (int i = 0; i < n && rc == EF_OK; i++) rc = ef_weights_load_mat_f32(w, names[i], ndim, shape, f32 + (size_t)i * part, err);
    if (rc == EF_OK && wt != EF_W_F32) ef_wmat_from_f32(blob, wt, f32, n * rows, cols);
    if (f32 != blob) free(f32);
    return rc;
}

void ef_wmat_tally_visit(void *user, const char *name) {
    ef_wmat_tally *t = user;
    const ef_st_tensor *x = ef_weights_find(t->w, name);
    if (!x) t->other++;
    else if (x->dtype == EF_DTYPE_F32) t->n[EF_W_F32]++;
    else if (x->dtype == EF_DTYPE_F16) t->n[EF_W_F16]++;
    else if (x->dtype == EF_DTYPE_BF16) t->n[EF_W_BF16]++;
    else if (x->dtype == EF_DTYPE_I8 && ef_weights_find_scale(t->w, name)) t->n[EF_W_Q8]++;
    else t->other++;
}

ef_wtype ef_wmat_tally_type(const ef_wmat_tally *t) {
    int64_t total = t->other;
    for (int i = 0; i < EF_W_COUNT; i++) total += t->n[i];
    for (int i = 0; i < EF_W_COUNT; i++)
        if (total > 0 && t->n[i] == total) return (ef_wtype)i;
    return EF_W_F32;
}
