/*
** wmat_load.h -- the one way the UNet and text-encoder binders turn matrix tensors of a
** component file into a weight-matrix blob (kernels/wmat.h), and how they pick the
** storage type a file's matrices already have.
**
** A binder names each matrix it binds (a 2-D linear weight, a 4-D conv weight, the
** token embedding; q/k/v parts fused into one blob). Its walk over those names is also
** exposed as a visitor (ef_unet_visit_matrices, ef_clip_text_visit_matrices), so that
** ef_convert narrows exactly the tensors a loader keeps as matrices: no second list.
*/
#ifndef EF_MODEL_WMAT_LOAD_H
#define EF_MODEL_WMAT_LOAD_H

#include <stdint.h>

#include "core/error.h"
#include "io/weights.h"
#include "kernels/wmat.h"

/* Loaders' weight type meaning "what the file's matrices share": f16 when they are all
** F16, bf16 when all BF16, q8 when all I8 + scale, else f32. */
enum { EF_W_FROM_FILE = EF_W_COUNT };

/* Called with the full tensor name of every matrix (part) a binder binds, in bind order. */
typedef void (*ef_wmat_visit_fn)(void *user, const char *name);

/* Loads the n tensors names[i], each of ndim (2 or 4) dims equal to shape (rows =
** shape[0], cols = the product of the others), as ONE (n * rows, cols) matrix of type wt
** into blob (ef_wmat_bytes(wt, n * rows, cols) bytes), part i at row i * rows. Parts
** already stored in the type (I8 + scale into q8, F16 into f16, BF16 into bf16) are
** copied as they are (no float round trip); every other combination goes through f32
** (dequantizing I8 parts), then ef_wmat_from_f32.
** Errors: those of ef_weights_load_mat_f32 / ef_weights_load_q8, EF_ERR_NOMEM. */
ef_status ef_wmat_load(ef_weights *w, const char *const *names, int n, int ndim, const int64_t *shape, ef_wtype wt,
                       void *blob, ef_err *err);

/* Matrix name used where its bytes lie in w (zero-copy, ef_weights_view) when the file
** stores it in the blob layout of type wt (F32 for f32, F16 / BF16 for f16 / bf16; a q8
** blob appends scales, so never), with this shape; NULL otherwise (load it instead). */
const void *ef_wmat_view(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_wtype wt);

/* Counts the file dtypes of a component's matrices, for EF_W_FROM_FILE: set w, zero
** the rest, pass ef_wmat_tally_visit with it to a binder's visitor. */
typedef struct ef_wmat_tally {
    const ef_weights *w;
    int64_t           n[EF_W_COUNT];   /* matrices stored as F32, F16, BF16, I8 + scale */
    int64_t           other;           /* missing or another dtype: the load that follows reports it */
} ef_wmat_tally;

void     ef_wmat_tally_visit(void *user, const char *name);   /* user: an ef_wmat_tally */
/* The type every counted matrix has, else EF_W_F32 (mixed, none, or other dtypes). */
ef_wtype ef_wmat_tally_type(const ef_wmat_tally *t);

#endif /* EF_MODEL_WMAT_LOAD_H */
