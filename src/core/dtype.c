/*
** dtype.c -- dtype sizes and names; exact IEEE half / bfloat16 conversions.
*/
#include "core/dtype.h"

#include <string.h>

static const struct { const char *name; size_t size; } DTYPES[EF_DTYPE_COUNT] = {
    [EF_DTYPE_F32]  = {"F32", 4},
    [EF_DTYPE_F16]  = {"F16", 2},
    [EF_DTYPE_BF16] = {"BF16", 2},
    [EF_DTYPE_I64]  = {"I64", 8},
    [EF_DTYPE_I32]  = {"I32", 4},
    [EF_DTYPE_U8]   = {"U8", 1},
    [EF_DTYPE_I8]   = {"I8", 1},
};

size_t ef_dtype_size(ef_dtype t) { return (unsigned)t < EF_DTYPE_COUNT ? DTYPES[t].size : 0; }
const char *ef_dtype_name(ef_dtype t) { return (unsigned)t < EF_DTYPE_COUNT ? DTYPES[t].name : "?"; }

int ef_dtype_is_float(ef_dtype t) { return t == EF_DTYPE_F32 || t == EF_DTYPE_F16 || t == EF_DTYPE_BF16; }

int ef_dtype_parse(const char *s, ef_dtype *out) {
    for (int i = 0; i < EF_DTYPE_COUNT; i++) {
        if (strcmp(s, DTYPES[i].name) == 0) { *out = (ef_dtype)i; return 1; }
    }
    return 0;
}

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float ef_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ef_f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t absu = u & 0x7fffffff;
    if (absu >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (absu > 0x7f800000u ? 0x200 : 0));
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
    if (absu < 0x38800000u) {                                 /* subnormal or zero in f16 */
        float a = bits_to_f32(absu) * 16777216.0f;            /* scale so 1 ulp == 1 */
        uint32_t m = (uint32_t)a;
        float rem = a - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t exp = (absu >> 23) - 112;
    uint32_t man = absu & 0x7fffff;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float ef_bf16_to_f32(uint16_t b) { return bits_to_f32((uint32_t)b << 16); }

uint16_t ef_f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void ef_convert_to_f32(float *dst, const void *src, ef_dtype t, size_t n) {
    const uint8_t *s = src;
    switch (t) {
    case EF_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case EF_DTYPE_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = ef_f16_to_f32(h); }
        break;
    case EF_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = ef_bf16_to_f32(h); }
        break;
    default:
        memset(dst, 0, n * sizeof *dst);
        break;
    }
}
