/*
** vae_bind.c -- weight binding for both VAE kinds, over a component folder
** (ef_weights) or over one loose .safetensors file (madebyollin's TAESD files), and
** the handle's grow-only activation workspace and weight arena.
**
** The one-file path repeats ef_weights_load_f32's checks (float dtype, exact shape)
** and keeps its own used-flags, so both sources refuse missing, mis-shaped and
** unexpected tensors with the same messages.
*/
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "model/vae_internal.h"

#define REPORT_MAX 4

const ef_st_tensor *ef_vae_bind_find(const vae_bind *b, const char *name) {
    return b->w ? ef_weights_find(b->w, name) : ef_st_find(b->f, name);
}


/* Marks t (a tensor of b->f) used. A linear search: files hold a few hundred tensors. */
static void mark_used(vae_bind *b, const ef_st_tensor *t) {
    for (size_t i = 0, n = ef_st_count(b->f); i < n; i++)
        if (ef_st_at(b->f, i) == t) b->used[i] = 1;
}

/* The one-file version of ef_weights_load_f32. */
static ef_status load_from_file(vae_bind *b, const char *name, int ndim, const int64_t *shape, float *dst,
                                ef_err *err) {
    const ef_st_tensor *t = ef_st_find(b->f, name);
    if (!t) return ef_err_set(err, EF_ERR_FORMAT, "%s: missing tensor '%.200s'", b->label, name);
    if (t->dtype != EF_DTYPE_F32 && t->dtype != EF_DTYPE_F16 && t->dtype != EF_DTYPE_BF16)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; a float weight is expected", b->label,
                          name, ef_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[160], want[160];
        ef_st_format_shape(have, sizeof have, t->shape, t->ndim);
        ef_st_format_shape(want, sizeof want, shape, ndim);
        return ef_err_set(err, EF_ERR_FORMAT, "%s: tensor '%.200s' has shape %s but the config implies %s", b->label,
                          name, have, want);
    }
    ef_convert_to_f32(dst, t->data, t->dtype, t->nbytes / ef_dtype_size(t->dtype));
    mark_used(b, t);
    return EF_OK;
}

ef_status ef_vae_bind_tensor(vae_bind *b, const char *name, int ndim, const int64_t *shape, const float **out,
                          ef_err *err) {
    *out = NULL;
    if (!b->load) {
        if (b->w) ef_weights_ignore(b->w, name);
        else if (ef_st_find(b->f, name)) mark_used(b, ef_st_find(b->f, name));
        return EF_OK;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];   /* shapes come from a range-checked config */
    EF_ASSERT(n <= b->end - b->next);
    if (b->w) EF_TRY(ef_weights_load_f32(b->w, name, ndim, shape, b->next, err));
    else EF_TRY(load_from_file(b, name, ndim, shape, b->next, err));
    *out = b->next;
    b->next += n;
    return EF_OK;
}

ef_status ef_vae_bind_conv(vae_bind *b, const char *prefix, int64_t cin, int64_t cout, int64_t k, int bias,
                        vae_conv *c, ef_err *err) {
    char name[256];
    int64_t shape[4] = {cout, cin, k, k};
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->b = NULL;
    snprintf(name, sizeof name, "%sweight", prefix);
    EF_TRY(ef_vae_bind_tensor(b, name, 4, shape, &c->w, err));
    if (bias) {
        snprintf(name, sizeof name, "%sbias", prefix);
        EF_TRY(ef_vae_bind_tensor(b, name, 1, shape, &c->b, err));
    }
    return EF_OK;
}

ef_status ef_vae_bind_norm(vae_bind *b, const char *prefix, int64_t c, vae_norm *n, ef_err *err) {
    char name[256];
    n->c = c;
    snprintf(name, sizeof name, "%sweight", prefix);
    EF_TRY(ef_vae_bind_tensor(b, name, 1, &c, &n->g, err));
    snprintf(name, sizeof name, "%sbias", prefix);
    return ef_vae_bind_tensor(b, name, 1, &c, &n->b, err);
}

ef_status ef_vae_bind_check_all_used(const vae_bind *b, ef_err *err) {
    if (b->w) return ef_weights_check_all_used(b->w, err);
    size_t n = ef_st_count(b->f), n_bad = 0, shown = 0, at = 0;
    char list[EF_ERR_MSG_MAX];
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (b->used[i]) continue;
        n_bad++;
        if (shown == REPORT_MAX) continue;
        int c = snprintf(list + at, sizeof list - at, "%s'%.100s'", shown ? ", " : "", ef_st_at(b->f, i)->name);
        if (c < 0 || (size_t)c >= sizeof list - at) continue;
        at += (size_t)c;
        shown++;
    }
    if (n_bad == 0) return EF_OK;
    return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu unexpected tensor%s: %s%s", b->label, n_bad, n_bad == 1 ? "" : "s",
                      list, n_bad > shown ? ", ..." : "");
}

ef_status ef_vae_ws_reserve(ef_vae *v, size_t floats, ef_err *err) {
    if (floats <= v->ws_floats) return EF_OK;
    size_t bytes;
    if (!ef_mul_size(floats, sizeof(float), &bytes))
        return ef_err_set(err, EF_ERR_NOMEM, "vae: workspace of %zu floats overflows", floats);
    free(v->ws);
    v->ws_floats = 0;
    v->ws = ef_mem_alloc_big(bytes ? bytes : 64);
    if (!v->ws) return ef_err_set(err, EF_ERR_NOMEM, "vae: out of memory for a %zu-byte activation workspace", bytes);
    v->ws_floats = floats;
    return EF_OK;
}

ef_status ef_vae_alloc_arena(ef_vae *v, int64_t n_floats, ef_err *err) {
    size_t bytes;
    if (n_floats < 0 || !ef_mul_size((size_t)n_floats, sizeof(float), &bytes))
        return ef_err_set(err, EF_ERR_NOMEM, "vae: weights too large");
    v->weights = malloc(bytes ? bytes : 1);
    if (!v->weights) return ef_err_set(err, EF_ERR_NOMEM, "vae: out of memory for %zu bytes of weights", bytes);
    v->n_params = n_floats;
    return EF_OK;
}
