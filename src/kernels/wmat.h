/*
** wmat.h -- how a weight matrix is stored: the W (N, K) of a linear layer or the
** w (Cout, Cin*KH*KW) of a convolution, row r = output r. Activations are always f32;
** only the weights of the matrix products may be narrower (EdgeFusion's W8A16 idea:
** weight memory and bandwidth shrink, the arithmetic stays f32).
**
**   EF_W_F32   float rows (the torch layout)
**   EF_W_F16   IEEE half rows
**   EF_W_BF16  bfloat16 rows
**   EF_W_Q8    int8 rows with one f32 scale per row (symmetric, per output channel):
**              w[r][k] = q[r][k] * scale[r]. Blob: rows*cols int8, zero bytes up to a
**              multiple of 4, then rows floats of scale.
*/
#ifndef EF_KERNELS_WMAT_H
#define EF_KERNELS_WMAT_H

#include <stddef.h>
#include <stdint.h>

typedef enum ef_wtype { EF_W_F32 = 0, EF_W_F16, EF_W_BF16, EF_W_Q8, EF_W_COUNT } ef_wtype;

const char *ef_wtype_name(ef_wtype t);               /* "f32", "f16", "bf16", "q8" */
int         ef_wtype_parse(const char *s, ef_wtype *out);   /* 1 if s names one */

/* Bytes of a (rows, cols) matrix blob of type t; 0 on overflow. */
size_t ef_wmat_bytes(ef_wtype t, int64_t rows, int64_t cols);

/* Stores the f32 matrix src (rows, cols) as type t into dst (ef_wmat_bytes bytes).
** Q8: scale[r] = max|src[r]| / 127, q = round-half-even(src / scale), in [-127, 127]. */
void ef_wmat_from_f32(void *dst, ef_wtype t, const float *src, int64_t rows, int64_t cols);

/* dst[i] = w[r][k0 + i] as f32, i < n (the portable converter; SIMD variants have
** their own with the same results). */
void ef_wmat_row_f32(const void *w, ef_wtype t, int64_t rows, int64_t cols, int64_t r, int64_t k0, int64_t n,
                     float *dst);

/* Where a Q8 blob's scales start. */
static inline const float *ef_wmat_q8_scales(const void *w, int64_t rows, int64_t cols) {
    return (const float *)((const char *)w + (((size_t)rows * (size_t)cols + 3) & ~(size_t)3));
}

#endif /* EF_KERNELS_WMAT_H */
