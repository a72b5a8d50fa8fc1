/*
** weights.h -- the weights of one model component (text_encoder/, unet/, vae/): one
** .safetensors file, a variant (*.fp16.safetensors) or shards listed in a
** *.safetensors.index.json, looked up by tensor name and bound with shape checks.
**
** Modules bind every tensor their config implies (ef_weights_load_f32), mark known
** extras as ignored, then call ef_weights_check_all_used so that a file with tensors
** the config does not explain is refused by name.
**
** Quantized matrices: a file may hold a matrix "<name>" as dtype I8 (the float
** tensor's shape) beside an F32 tensor "<name>.q8_scale" of shape (rows), rows being
** the first dim: w[r][...] = q[r][...] * scale[r] (kernels/wmat.h's q8, as written by
** ef_convert). Opening checks every ".q8_scale" tensor: its I8 partner exists, it is
** F32 and its shape is (partner rows); the values (finite, >= 0) are checked when the
** matrix is loaded. Loading or ignoring a matrix does the same to its scale.
*/
#ifndef EF_IO_WEIGHTS_H
#define EF_IO_WEIGHTS_H

#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef struct ef_weights ef_weights;

/* Opens the weights of component_dir. File choice, in order:
**   variant == NULL: <base>.safetensors, else <base>.safetensors.index.json (shards);
**                    if neither exists, the "fp16" variant files are used instead;
**   variant "fp16":  <base>.fp16.safetensors, else <base>.safetensors.index.fp16.json
**                    (diffusers' naming), else the NULL-variant files;
** where <base> is "model" (transformers) or "diffusion_pytorch_model" (diffusers).
** A folder with only pickle files (*.bin, *.ckpt, *.pt) gets EF_ERR_UNSUPPORTED:
** "...: only PyTorch pickle weights (pytorch_model.bin); edgefusion needs .safetensors
** (convert with ...)". Other failures: EF_ERR_IO (nothing found, naming the folder),
** EF_ERR_FORMAT (bad shard index, a tensor listed in two shards, ...). */
ef_status ef_weights_open(const char *component_dir, const char *variant, int use_mmap,
                          ef_weights **out, ef_err *err);

/* Finds name; it must be a float tensor (F32/F16/BF16) of exactly ndim dims equal to
** shape. Converts to f32 into dst (product(shape) floats, caller-owned) and marks the
** tensor used. Errors (EF_ERR_FORMAT) name the file and the tensor:
**   "text_encoder/model.safetensors: missing tensor 'x'"
**   "...: tensor 'x' has shape [3, 4] but the config implies [3, 5]"
**   "...: tensor 'x' has dtype I64; a float weight is expected"
**   "...: tensor 'x' has dtype I8; a float weight is expected (only matrices may be
**    stored as I8 + '.q8_scale')" */
ef_status ef_weights_load_f32(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                              float *dst, ef_err *err);

/* Loads matrix name (ndim dims equal to shape; rows = shape[0]) as f32 into dst:
** a float tensor as ef_weights_load_f32 does, an I8 one dequantized (q * scale).
** EF_ERR_FORMAT as ef_weights_load_f32, and for an I8 tensor without its scale or with
** a non-finite or negative scale. */
ef_status ef_weights_load_mat_f32(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                                  float *dst, ef_err *err);

/* Loads matrix name stored as I8 + "<name>.q8_scale" as it is: rows*cols int8 values
** into q, rows scales into scale (no float round trip). Errors as
** ef_weights_load_mat_f32, and EF_ERR_FORMAT when the tensor is not I8. */
ef_status ef_weights_load_q8(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                             int8_t *q, float *scale, ef_err *err);

/* Tensor name's bytes where they lie (the mapped file or the read buffer), for use in
** place while w stays open, when it has this shape and dtype and its data is aligned
** to the dtype's size; marks it loaded. NULL otherwise, with nothing changed (load it
** the usual way, which also reports what is wrong). Zero-copy loading: no second copy
** and no fresh memory to fault in (1.3 GB of UNet in f32). */
const void *ef_weights_view(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_dtype dtype);

/* Drops the resident pages of every tensor of a mapped w (ef_st_release): views stay
** valid and read the file again when next used. NULL or a read w: a no-op. */
void ef_weights_release_pages(ef_weights *w);

/* Copies tensor name (ndim dims equal to shape) as it is stored into dst (its nbytes),
** when its dtype is dtype, and marks it used: an F16 or BF16 matrix into a blob of the
** same type without a float round trip. EF_ERR_FORMAT for another dtype (or as
** ef_weights_load_f32). */
ef_status ef_weights_load_raw(ef_weights *w, const char *name, int ndim, const int64_t *shape, ef_dtype dtype,
                              void *dst, ef_err *err);

/* Marks name as known and deliberately unused (e.g. a position_ids buffer), if present. */
void ef_weights_ignore(ef_weights *w, const char *name);

/* EF_ERR_FORMAT if any tensor was neither loaded nor ignored, naming the first few
** ("text_encoder/model.safetensors: 2 unexpected tensors: 'a', 'b'"). */
ef_status ef_weights_check_all_used(const ef_weights *w, ef_err *err);

const ef_st_tensor *ef_weights_find(const ef_weights *w, const char *name);  /* NULL if absent */
/* The scale tensor of I8 matrix name ("<name>.q8_scale"), or NULL (absent, not I8). */
const ef_st_tensor *ef_weights_find_scale(const ef_weights *w, const char *name);
size_t              ef_weights_count(const ef_weights *w);                    /* over all shards */
/* Tensor i < ef_weights_count of all shards, in name order (NULL past the end). */
const ef_st_tensor *ef_weights_at(const ef_weights *w, size_t i);
/* The "<folder>/<file>" of the shard holding tensor name, for errors ("" if absent). */
const char         *ef_weights_tensor_label(const ef_weights *w, const char *name);
const char         *ef_weights_label(const ef_weights *w);   /* e.g. "text_encoder/model.safetensors" */
void                ef_weights_free(ef_weights *w);           /* NULL is a no-op */

#endif /* EF_IO_WEIGHTS_H */
