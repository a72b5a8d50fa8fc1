/*
** safetensors.h -- a bounded, validating reader of .safetensors files.
**
** Format: 8-byte little-endian header length N, N bytes of JSON
** {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
**  "__metadata__": {str: str}}, then the data section. Every offset, shape and size is
** checked (length vs file size, offsets in range and non-overlapping, shape product x
** dtype size == span, all with overflow checks) before any pointer is formed. The data
** stays in the mapping: tensors are views, never copies.
**
** ef_st_write (safetensors_write.c) writes such a file: the reference
** implementation's layout, readable by it and by ef_st_open.
*/
#ifndef EF_IO_SAFETENSORS_H
#define EF_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/error.h"

#define EF_MAX_DIMS 8
#define EF_ST_MAX_HEADER (100u << 20)   /* same cap as the reference implementation */

typedef struct ef_st_tensor {
    const char    *name;                /* NUL-terminated, owned by the file object */
    ef_dtype       dtype;
    int            ndim;                /* 0 (scalar) .. EF_MAX_DIMS */
    int64_t        shape[EF_MAX_DIMS];
    const uint8_t *data;                /* into the file's bytes; may be unaligned */
    size_t         nbytes;
} ef_st_tensor;

typedef struct ef_st_file ef_st_file;

/* Opens and validates path (mmapped when use_mmap). Errors name the path. */
ef_status ef_st_open(const char *path, int use_mmap, ef_st_file **out, ef_err *err);

/* Validates an in-memory file of len bytes; borrows buf (it must outlive *out).
** label names the buffer in errors. Used by the fuzz target and tests. */
ef_status ef_st_parse(const uint8_t *buf, size_t len, const char *label, ef_st_file **out, ef_err *err);

size_t              ef_st_count(const ef_st_file *f);
const ef_st_tensor *ef_st_at(const ef_st_file *f, size_t i);
const ef_st_tensor *ef_st_find(const ef_st_file *f, const char *name);   /* NULL if absent */
const char         *ef_st_path(const ef_st_file *f);                    /* the path or label */
/* A "__metadata__" string value, or NULL. */
const char         *ef_st_metadata(const ef_st_file *f, const char *key);
void                ef_st_close(ef_st_file *f);                         /* NULL is a no-op */
/* Drops t's bytes from the resident set when f is mapped (ef_file_map_release); t->data
** stays valid. */
void                ef_st_release(const ef_st_file *f, const ef_st_tensor *t);

/* A shape as "[3, 4]" ("[]" for a scalar) into out (n bytes, truncated if short), for
** error messages. */
void ef_st_format_shape(char *out, size_t n, const int64_t *shape, int ndim);

/* ---- writing ------------------------------------------------------------------- */

/* One tensor to write. */
typedef struct ef_st_out {
    const char *name;                   /* unique, non-empty, not "__metadata__" */
    ef_dtype    dtype;
    int         ndim;                   /* 0 (scalar) .. EF_MAX_DIMS */
    int64_t     shape[EF_MAX_DIMS];     /* each >= 0 */
    const void *data;                   /* its bytes, or NULL: asked from fill */
} ef_st_out;

/* Produces tensor t's bytes (product(shape) x dtype size = nbytes, little-endian) into
** dst. A non-OK status (with err set) stops the write. */
typedef ef_status (*ef_st_fill_fn)(void *user, const ef_st_out *t, void *dst, size_t nbytes, ef_err *err);

/* Writes a .safetensors file: the 8-byte header length, the JSON header
** ({"__metadata__": {...}, "name": {"dtype", "shape", "data_offsets"}, ...}: metadata
** first when metadata holds a pair, then the tensors in name (strcmp) order), spaces
** after the JSON so that the data section starts at a multiple of 8 bytes, then every
** tensor's bytes back to back in name order. metadata: key, value, key, value, ...,
** NULL (NULL = none). The file is written as "<path>.tmp" and renamed over path once
** complete, so path is never left half-written. One tensor at a time is held in memory.
** Errors: EF_ERR_INVALID_ARG (a duplicate, empty or reserved name, a bad dtype, ndim or
** dim, sizes that overflow, a NULL data without fill, duplicate metadata keys),
** EF_ERR_IO naming path, EF_ERR_NOMEM, or fill's status. */
ef_status ef_st_write(const char *path, const ef_st_out *tensors, size_t n, const char *const *metadata,
                      ef_st_fill_fn fill, void *user, ef_err *err);

#endif /* EF_IO_SAFETENSORS_H */
