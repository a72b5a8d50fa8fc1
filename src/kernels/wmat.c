/*
** wmat.c -- weight-matrix storage types: names, sizes, the f32 -> t conversion done at
** load, and the portable row reader (see wmat.h).
*/
#include <math.h>
#include <string.h>

#include "core/dtype.h"
#include "ef_internal.h"
#include "kernels/wmat.h"

static const char *const NAMES[EF_W_COUNT] = {"f32", "f16", "bf16", "q8"};

const char *ef_wtype_name(ef_wtype t) { return t >= 0 && t < EF_W_COUNT ? NAMES[t] : "?"; }

int ef_wtype_parse(const char *s, ef_wtype *out) {
    for (int i = 0; s && i < EF_W_COUNT; i++)
        if (strcmp(s, NAMES[i]) == 0) {
            *out = (ef_wtype)i;
            return 1;
        }
    return 0;
}

size_t ef_wmat_bytes(ef_wtype t, int64_t rows, int64_t cols) {
    size_t n, b;
    if (rows < 0 || cols < 0 || !ef_mul_size((size_t)rows, (size_t)cols, &n)) return 0;
    switch (t) {
    case EF_W_F32: return ef_mul_size(n, 4, &b) ? b : 0;
    case EF_W_F16:
    case EF_W_BF16: return ef_mul_size(n, 2, &b) ? b : 0;
    case EF_W_Q8:
        if (n > SIZE_MAX - 3 || !ef_mul_size((size_t)rows, 4, &b) || ((n + 3) & ~(size_t)3) > SIZE_MAX - b) return 0;
        return ((n + 3) & ~(size_t)3) + b;
    case EF_W_COUNT: break;
    }
    return 0;
}

void ef_wmat_from_f32(void *dst, ef_wtype t, const float *src, int64_t rows, int64_t cols) {
    const size_t n = (size_t)rows * (size_t)cols;
    switch (t) {
    case EF_W_F32: memcpy(dst, src, n * sizeof *src); return;
    case EF_W_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ef_f32_to_f16(src[i]);
        return;
    case EF_W_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = ef_f32_to_bf16(src[i]);
        return;
    case EF_W_Q8: {
        int8_t *q = dst;
        float *scale = (float *)((char *)dst + ((n + 3) & ~(size_t)3));
        for (size_t i = n; i < ((n + 3) & ~(size_t)3); i++) q[i] = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *x = src + r * cols;
            float amax = 0.0f;
            for (int64_t k = 0; k < cols; k++) amax = fmaxf(amax, fabsf(x[k]));
            float s = amax / 127.0f, inv = s > 0.0f ? 1.0f / s : 0.0f;
            scale[r] = s;
            for (int64_t k = 0; k < cols; k++) {
                float v = nearbyintf(x[k] * inv);
                q[r * cols + k] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
            }
        }
        return;
    }
    case EF_W_COUNT: break;
    }
}

void ef_wmat_row_f32(const void *w, ef_wtype t, int64_t rows, int64_t cols, int64_t r, int64_t k0, int64_t n,
                     float *dst) {
    const size_t at = (size_t)r * (size_t)cols + (size_t)k0;
    switch (t) {
    case EF_W_F32: ef_convert_to_f32(dst, (const float *)w + at, EF_DTYPE_F32, (size_t)n); return;
    case EF_W_F16: ef_convert_to_f32(dst, (const uint16_t *)w + at, EF_DTYPE_F16, (size_t)n); return;
    case EF_W_BF16: ef_convert_to_f32(dst, (const uint16_t *)w + at, EF_DTYPE_BF16, (size_t)n); return;
    case EF_W_Q8: {
        const int8_t *q = (const int8_t *)w + at;
        float s = ef_wmat_q8_scales(w, rows, cols)[r];
        for (int64_t i = 0; i < n; i++) dst[i] = (float)q[i] * s;
        return;
    }
    case EF_W_COUNT: break;
    }
}
