/*
** weights.h -- the weights of one model component (text_encoder/, unet/, vae/): one
** .safetensors file, a variant (*.fp16.safetensors) or shards listed in a
** *.safetensors.index.json, looked up by tensor name and bound with shape checks.
**
** Modules bind every tensor their config implies (ef_weights_load_f32), mark known
** extras as ignored, then call ef_weights_check_all_used so that a file with tensors
** the config does not explain is refused by name.
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
**   "...: tensor 'x' has dtype I64; a float weight is expected" */
ef_status ef_weights_load_f32(ef_weights *w, const char *name, int ndim, const int64_t *shape,
                              float *dst, ef_err *err);

/* Marks name as known and deliberately unused (e.g. a position_ids buffer), if present. */
void ef_weights_ignore(ef_weights *w, const char *name);

/* EF_ERR_FORMAT if any tensor was neither loaded nor ignored, naming the first few
** ("text_encoder/model.safetensors: 2 unexpected tensors: 'a', 'b'"). */
ef_status ef_weights_check_all_used(const ef_weights *w, ef_err *err);

const ef_st_tensor *ef_weights_find(const ef_weights *w, const char *name);  /* NULL if absent */
size_t              ef_weights_count(const ef_weights *w);                    /* over all shards */
const char         *ef_weights_label(const ef_weights *w);   /* e.g. "text_encoder/model.safetensors" */
void                ef_weights_free(ef_weights *w);           /* NULL is a no-op */

#endif /* EF_IO_WEIGHTS_H */
