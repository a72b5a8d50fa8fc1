/*
** unicode.c -- see unicode.h. utf8proc gives categories, case mappings, canonical
** decompositions, combining classes and pair composition; this file does the UTF-8
** decoding, the canonical reordering (utf8proc's own is quadratic on long mark runs)
** and the reference-compatibility tables below.
*/
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "ef_internal.h"

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

/* Letters (\p{L}) and numbers (\p{N}) assigned in Unicode 16, which the reference's
** Oniguruma knows and utf8proc 2.8 (Unicode 15) reports as unassigned. */
static const cp_range EXTRA_LETTERS[] = {
    {0x1C89, 0x1C8A},   {0xA7CB, 0xA7CD},   {0xA7DA, 0xA7DC},   {0x105C0, 0x105F3},
    {0x10D4A, 0x10D65}, {0x10D6F, 0x10D85}, {0x10EC2, 0x10EC4}, {0x11380, 0x11389},
    {0x1138B, 0x1138B}, {0x1138E, 0x1138E}, {0x11390, 0x113B5}, {0x113B7, 0x113B7},
    {0x113D1, 0x113D1}, {0x113D3, 0x113D3}, {0x11BC0, 0x11BE0}, {0x13460, 0x143FA},
    {0x16100, 0x1611D}, {0x16D40, 0x16D6C}, {0x18CFF, 0x18CFF}, {0x1E5D0, 0x1E5ED},
    {0x1E5F0, 0x1E5F0}, {0x2EBF0, 0x2EE5D},
};
static const cp_range EXTRA_NUMBERS[] = {
    {0x10D40, 0x10D49}, {0x116D0, 0x116E3}, {0x11BF0, 0x11BF9}, {0x16130, 0x16139},
    {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9}, {0x1E5F1, 0x1E5FA},
};

/* Code points the reference's NFC tables treat as plain starters (combining class 0,
** no composition) although Unicode 15 gives them a nonzero class, plus U+11930, which
** the reference never composes (U+11935 U+11930 -> U+11938 is from Unicode 13).
** Nothing reorders or composes across a starter, so NFC is applied to the text between
** these code points and they are copied through. */
static const cp_range NFC_BARRIERS[] = {
    {0x7FD, 0x7FD},     {0x898, 0x89F},     {0x8CA, 0x8D3},     {0x9FE, 0x9FE},
    {0xC3C, 0xC3C},     {0xD3B, 0xD3C},     {0xEBA, 0xEBA},     {0x1715, 0x1715},
    {0x1ABF, 0x1ACE},   {0x1DF6, 0x1DFA},   {0xA82C, 0xA82C},   {0x10D24, 0x10D27},
    {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF}, {0x10F46, 0x10F50}, {0x10F82, 0x10F85},
    {0x11070, 0x11070}, {0x1133B, 0x1133B}, {0x1145E, 0x1145E}, {0x11839, 0x1183A},
    {0x11930, 0x11930}, {0x1193D, 0x1193E}, {0x11943, 0x11943}, {0x119E0, 0x119E0},
    {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99}, {0x11D42, 0x11D42},
    {0x11D44, 0x11D45}, {0x11D97, 0x11D97}, {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1},
    {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF},
    {0x1E4EC, 0x1E4EF},
};

/* Lowercase pairs from Unicode 16 and 17 (Rust's tables) that utf8proc 2.8 lacks:
** [lo, hi] maps to cp + delta. */
static const struct { uint32_t lo, hi; int32_t delta; } EXTRA_LOWER[] = {
    {0x1C89, 0x1C89, 1},  {0xA7CB, 0xA7CB, 0x264 - 0xA7CB}, {0xA7CC, 0xA7CC, 1},
    {0xA7CE, 0xA7CE, 1},  {0xA7D2, 0xA7D2, 1},  {0xA7D4, 0xA7D4, 1},  {0xA7DA, 0xA7DA, 1},
    {0xA7DC, 0xA7DC, 0x19B - 0xA7DC},  {0x10D50, 0x10D65, 0x20},  {0x16EA0, 0x16EB8, 0x1B},
};

static int in_ranges(const cp_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}
#define IN(table, cp) in_ranges((table), sizeof(table) / sizeof((table)[0]), (cp))

ef_status ef_u32buf_reserve(ef_u32buf *b, size_t extra, ef_err *err) {
    size_t need;
    if (!ef_add_size(b->n, extra, &need)) return ef_err_set(err, EF_ERR_NOMEM, "text buffer size overflow");
    if (need <= b->cap) return EF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) return ef_err_set(err, EF_ERR_NOMEM, "text buffer size overflow");
        cap *= 2;
    }
    uint32_t *v = realloc(b->v, cap * sizeof(uint32_t));
    if (!v) return ef_err_set(err, EF_ERR_NOMEM, "cannot allocate %zu code points", cap);
    b->v = v;
    b->cap = cap;
    return EF_OK;
}

void ef_u32buf_free(ef_u32buf *b) {
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

size_t ef_utf8_decode(const uint8_t *s, size_t len, uint32_t *out) {
    size_t i = 0, n = 0;
    while (i < len) {
        uint8_t b0 = s[i];
        if (b0 < 0x80) { out[n++] = b0; i++; continue; }
        int need;                /* continuation bytes */
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        uint32_t cp;
        if (b0 >= 0xC2 && b0 <= 0xDF) { need = 1; cp = b0 & 0x1F; }
        else if (b0 >= 0xE0 && b0 <= 0xEF) {
            need = 2; cp = b0 & 0x0F;
            if (b0 == 0xE0) lo = 0xA0;
            if (b0 == 0xED) hi = 0x9F;   /* no surrogates */
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            need = 3; cp = b0 & 0x07;
            if (b0 == 0xF0) lo = 0x90;
            if (b0 == 0xF4) hi = 0x8F;   /* <= U+10FFFF */
        } else { out[n++] = 0xFFFD; i++; continue; }
        size_t j = i + 1;
        int ok = 1;
        for (int k = 0; k < need; k++, j++) {
            uint8_t lo_k = k == 0 ? lo : 0x80, hi_k = k == 0 ? hi : 0xBF;
            if (j >= len || s[j] < lo_k || s[j] > hi_k) { ok = 0; break; }
            cp = (cp << 6) | (s[j] & 0x3F);
        }
        /* On failure the maximal subpart is s[i..j): one U+FFFD, resume at j. */
        out[n++] = ok ? cp : 0xFFFD;
        i = j;
    }
    return n;
}

int ef_utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int ef_uc_is_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int ef_uc_is_letter(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) return 1;
    return c == UTF8PROC_CATEGORY_CN && IN(EXTRA_LETTERS, cp);
}

int ef_uc_is_number(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    if (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO) return 1;
    return c == UTF8PROC_CATEGORY_CN && IN(EXTRA_NUMBERS, cp);
}

int ef_uc_lower(uint32_t cp, uint32_t out[2]) {
    if (cp < 0x80) { out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; return 1; }
    if (cp == 0x130) { out[0] = 'i'; out[1] = 0x307; return 2; }   /* SpecialCasing, unconditional */
    for (size_t i = 0; i < sizeof EXTRA_LOWER / sizeof EXTRA_LOWER[0]; i++) {
        if (cp >= EXTRA_LOWER[i].lo && cp <= EXTRA_LOWER[i].hi) {
            out[0] = (uint32_t)((int32_t)cp + EXTRA_LOWER[i].delta);
            return 1;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

static int ccc(uint32_t cp) {
    return cp < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
}

/* Stable sort of v[0..n) by combining class; tmp has room for n entries. */
static void sort_marks(uint32_t *v, size_t n, uint32_t *tmp) {
    if (n < 2) return;
    if (n <= 32 || !tmp) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            int cx = ccc(x);
            size_t j = i;
            while (j > 0 && ccc(v[j - 1]) > cx) { v[j] = v[j - 1]; j--; }
            v[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    sort_marks(v, h, tmp);
    sort_marks(v + h, n - h, tmp);
    size_t a = 0, b = h, k = 0;
    while (a < h && b < n) tmp[k++] = ccc(v[b]) < ccc(v[a]) ? v[b++] : v[a++];
    while (a < h) tmp[k++] = v[a++];
    while (b < n) tmp[k++] = v[b++];
    memcpy(v, tmp, n * sizeof(uint32_t));
}

/* NFC of a barrier-free run, appended to out. */
static ef_status nfc_run(const uint32_t *in, size_t n, ef_u32buf *out, ef_err *err) {
    if (n == 0) return EF_OK;
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        utf8proc_int32_t d[32];
        int boundclass = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)in[i], d, 32, UTF8PROC_DECOMPOSE, &boundclass);
        if (k < 1 || k > 32) { d[0] = (utf8proc_int32_t)in[i]; k = 1; }   /* cannot happen for valid input */
        EF_TRY(ef_u32buf_reserve(out, (size_t)k, err));
        for (utf8proc_ssize_t j = 0; j < k; j++) out->v[out->n++] = (uint32_t)d[j];
    }
    /* Canonical ordering: sort every run of non-starters by combining class. */
    uint32_t *tmp = NULL;
    size_t i = start;
    while (i < out->n) {
        if (ccc(out->v[i]) == 0) { i++; continue; }
        size_t j = i;
        while (j < out->n && ccc(out->v[j]) != 0) j++;
        if (j - i > 32 && !tmp) {
            tmp = malloc((out->n - start) * sizeof(uint32_t));
            if (!tmp) return ef_err_set(err, EF_ERR_NOMEM, "cannot allocate NFC scratch");
        }
        sort_marks(out->v + i, j - i, tmp);
        i = j;
    }
    free(tmp);
    utf8proc_ssize_t len = (utf8proc_ssize_t)(out->n - start);
    len = utf8proc_normalize_utf32((utf8proc_int32_t *)(out->v + start), len, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
    out->n = start + (size_t)len;
    return EF_OK;
}

ef_status ef_uc_nfc_append(const uint32_t *in, size_t n, ef_u32buf *out, ef_err *err) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && !(in[j] >= 0x7FD && IN(NFC_BARRIERS, in[j]))) j++;
        EF_TRY(nfc_run(in + i, j - i, out, err));
        if (j < n) {
            EF_TRY(ef_u32buf_reserve(out, 1, err));
            out->v[out->n++] = in[j++];
        }
        i = j;
    }
    return EF_OK;
}
