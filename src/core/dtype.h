/*
** dtype.h -- element types of weight files and their conversions to f32.
*/
#ifndef EF_CORE_DTYPE_H
#define EF_CORE_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum ef_dtype {
    EF_DTYPE_F32,
    EF_DTYPE_F16,
    EF_DTYPE_BF16,
    EF_DTYPE_I64,   /* accepted in files (e.g. position_ids buffers); never a weight */
    EF_DTYPE_I32,
    EF_DTYPE_U8,    /* accepted in files (images in test fixtures); never a weight */
    EF_DTYPE_I8,    /* accepted in files: the int8 half of a q8 matrix ("<name>" I8 + "<name>.q8_scale"
                    ** F32, see io/weights.h); never a float weight, never converted here */
    EF_DTYPE_COUNT
} ef_dtype;

size_t      ef_dtype_size(ef_dtype t);      /* bytes per element */
const char *ef_dtype_name(ef_dtype t);      /* safetensors spelling: "F32", "F16", ... */
/* Parses a safetensors dtype string; returns 0 if unknown. */
int         ef_dtype_parse(const char *s, ef_dtype *out);

float    ef_f16_to_f32(uint16_t h);
uint16_t ef_f32_to_f16(float f);            /* round to nearest even */
float    ef_bf16_to_f32(uint16_t b);
uint16_t ef_f32_to_bf16(float f);           /* round to nearest even */

/* 1 for the float dtypes (F32, F16, BF16), the ones ef_convert_to_f32 reads. */
int         ef_dtype_is_float(ef_dtype t);

/* dst[i] = (float)src[i] for n elements of a float dtype (F32, F16, BF16).
** src may be unaligned. */
void ef_convert_to_f32(float *dst, const void *src, ef_dtype t, size_t n);

#endif /* EF_CORE_DTYPE_H */
