/*
** fuzz_safetensors.c -- libFuzzer target for ef_st_parse. On success every tensor is
** touched (first and last byte read, looked up by name, small float tensors converted)
** so that ASan sees any view that escapes the buffer; lookups must find the tensor
** itself, since names are unique. Built and run by `make fuzz`.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy, so that a read one past the end is caught by ASan. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    ef_err err;
    ef_err_clear(&err);
    ef_st_file *f = NULL;
    if (ef_st_parse(buf, size, "fuzz", &f, &err) == EF_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < ef_st_count(f); i++) {
            const ef_st_tensor *t = ef_st_at(f, i);
            if (t->nbytes) {
                sink ^= t->data[0];
                sink ^= t->data[t->nbytes - 1];
            }
            if (ef_st_find(f, t->name) != t) abort();
            if (t->ndim < 0 || t->ndim > EF_MAX_DIMS) abort();
            size_t es = ef_dtype_size(t->dtype);
            if (es == 0 || t->nbytes % es != 0) abort();
            if ((t->dtype == EF_DTYPE_F32 || t->dtype == EF_DTYPE_F16 || t->dtype == EF_DTYPE_BF16) &&
                t->nbytes <= 256) {
                float tmp[64];
                ef_convert_to_f32(tmp, t->data, t->dtype, t->nbytes / es);
                sink ^= (uint8_t)(tmp[0] != tmp[0]);
            }
        }
        (void)ef_st_metadata(f, "format");
        (void)ef_st_find(f, "");
        (void)sink;
        ef_st_close(f);
    } else if (err.msg[0] == '\0' || f != NULL) {
        abort();   /* a failure must say why and leave no file */
    }
    free(buf);
    return 0;
}
