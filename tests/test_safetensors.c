/*
** test_safetensors.c -- the safetensors reader on files built here in C: valid files
** (f32/f16/bf16/i64, scalar, zero-size, metadata, lookup, exact conversion, mmap and
** read paths) and a table of malformed headers, each checked for its status code and
** for an error message that names the file and the offending tensor or field.
** Headers are written with ' for " to keep them readable; st_bytes swaps them.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "ef_test.h"
#include "io/safetensors.h"

/* 8-byte little-endian length, header (with ' turned into "), then n_data bytes of data
** (zeros when data is NULL). malloc'ed; *len receives the size. */
static uint8_t *st_bytes(const char *header, const void *data, size_t n_data, size_t *len) {
    size_t hn = strlen(header);
    uint8_t *b = calloc(1, 8 + hn + n_data + 1);
    if (!b) return NULL;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    for (size_t i = 0; i < hn; i++) b[8 + i] = (uint8_t)(header[i] == '\'' ? '"' : header[i]);
    if (data && n_data) memcpy(b + 8 + hn, data, n_data);
    *len = 8 + hn + n_data;
    return b;
}

/* Writes dir/name from header and data; the full path goes to path (size n). */
static int st_write(char *path, size_t n, const char *dir, const char *name, const char *header,
                    const void *data, size_t n_data) {
    snprintf(path, n, "%s/%s", dir, name);
    size_t len = 0;
    uint8_t *b = st_bytes(header, data, n_data, &len);
    int ok = b && ef_test_write_file(path, b, len);
    free(b);
    return ok;
}

/* Writes raw bytes: an 8-byte length field claiming hlen, then n_tail bytes of '{'. */
static int raw_write(const char *path, uint64_t hlen, size_t n_tail) {
    uint8_t b[64];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memset(b + 8, '{', sizeof b - 8);
    return ef_test_write_file(path, b, 8 + (n_tail < sizeof b - 8 ? n_tail : sizeof b - 8));
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_f32(uint8_t *p, float f) { memcpy(p, &f, 4); }   /* little-endian hosts */

static void test_valid_types(ef_test *t) {
    char dir[256], path[512];
    ef_test_tmpdir(dir, sizeof dir);
    EF_CHECK(t, dir[0]);
    uint8_t data[12 + 8 + 6 + 16 + 4];
    const float f32v[3] = {1.5f, -2.0f, 0.25f};
    for (int i = 0; i < 3; i++) put_f32(data + 4 * i, f32v[i]);
    const uint16_t f16v[4] = {0x3C00, 0xC000, 0x3555, 0x0001};
    for (int i = 0; i < 4; i++) put_u16(data + 12 + 2 * i, f16v[i]);
    const uint16_t bf16v[3] = {0x3F80, 0xC040, 0x4049};
    for (int i = 0; i < 3; i++) put_u16(data + 20 + 2 * i, bf16v[i]);
    const int64_t i64v[2] = {7, -1};
    memcpy(data + 26, i64v, 16);
    put_f32(data + 42, 42.0f);
    const char *hdr =
        "{'__metadata__': {'format': 'pt', 'note': 'x'},"
        " 'a.f32': {'dtype': 'F32', 'shape': [3], 'data_offsets': [0, 12]},"
        " 'b.f16': {'dtype': 'F16', 'shape': [2, 2], 'data_offsets': [12, 20]},"
        " 'c.bf16': {'dtype': 'BF16', 'shape': [1, 3, 1], 'data_offsets': [20, 26]},"
        " 'd.i64': {'dtype': 'I64', 'shape': [2], 'data_offsets': [26, 42]},"
        " 'e.scalar': {'dtype': 'F32', 'shape': [], 'data_offsets': [42, 46]},"
        " 'f.empty': {'dtype': 'F16', 'shape': [0, 3], 'data_offsets': [4, 4]},"
        " 'g.empty_end': {'dtype': 'I32', 'shape': [5, 0], 'data_offsets': [46, 46]}}   ";
    EF_CHECK(t, st_write(path, sizeof path, dir, "ok.safetensors", hdr, data, sizeof data));
    for (int mm = 0; mm < 2; mm++) {
        ef_err err;
        ef_err_clear(&err);
        ef_st_file *f = NULL;
        ef_status rc = ef_st_open(path, mm, &f, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "mmap=%d: %s", mm, err.msg);
        if (rc != EF_OK) continue;
        EF_CHECK_INT(t, ef_st_count(f), 7);
        EF_CHECK(t, strcmp(ef_st_path(f), path) == 0);
        EF_CHECK(t, strcmp(ef_st_at(f, 0)->name, "a.f32") == 0);   /* header order */
        EF_CHECK(t, strcmp(ef_st_at(f, 6)->name, "g.empty_end") == 0);
        EF_CHECK(t, ef_st_at(f, 7) == NULL);
        EF_CHECK(t, ef_st_metadata(f, "format") && strcmp(ef_st_metadata(f, "format"), "pt") == 0);
        EF_CHECK(t, ef_st_metadata(f, "nope") == NULL);
        EF_CHECK(t, ef_st_find(f, "nope") == NULL);
        EF_CHECK(t, ef_st_find(f, "__metadata__") == NULL);

        const ef_st_tensor *a = ef_st_find(f, "a.f32");
        EF_CHECK(t, a && a->dtype == EF_DTYPE_F32 && a->ndim == 1 && a->shape[0] == 3 && a->nbytes == 12);
        float out[4];
        if (a) {
            ef_convert_to_f32(out, a->data, a->dtype, 3);
            for (int i = 0; i < 3; i++) EF_CHECK(t, out[i] == f32v[i]);
        }
        const ef_st_tensor *b = ef_st_find(f, "b.f16");
        EF_CHECK(t, b && b->dtype == EF_DTYPE_F16 && b->ndim == 2 && b->nbytes == 8);
        if (b) {
            ef_convert_to_f32(out, b->data, b->dtype, 4);
            EF_CHECK(t, out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.333251953125f);
            EF_CHECK(t, out[3] == 5.9604644775390625e-8f);   /* 2^-24, smallest subnormal */
        }
        const ef_st_tensor *c = ef_st_find(f, "c.bf16");
        EF_CHECK(t, c && c->dtype == EF_DTYPE_BF16 && c->ndim == 3 && c->shape[1] == 3);
        if (c) {
            ef_convert_to_f32(out, c->data, c->dtype, 3);
            EF_CHECK(t, out[0] == 1.0f && out[1] == -3.0f && out[2] == 3.140625f);
        }
        const ef_st_tensor *d = ef_st_find(f, "d.i64");
        EF_CHECK(t, d && d->dtype == EF_DTYPE_I64 && d->nbytes == 16 && memcmp(d->data, i64v, 16) == 0);
        const ef_st_tensor *e = ef_st_find(f, "e.scalar");
        EF_CHECK(t, e && e->ndim == 0 && e->nbytes == 4);
        if (e) {
            ef_convert_to_f32(out, e->data, e->dtype, 1);
            EF_CHECK(t, out[0] == 42.0f);
        }
        const ef_st_tensor *z = ef_st_find(f, "f.empty");
        EF_CHECK(t, z && z->nbytes == 0 && z->ndim == 2 && z->shape[0] == 0 && z->data != NULL);
        z = ef_st_find(f, "g.empty_end");
        EF_CHECK(t, z && z->nbytes == 0 && z->dtype == EF_DTYPE_I32);
        ef_st_close(f);
    }
    ef_st_close(NULL);
}

static void test_parse_memory(ef_test *t) {
    size_t len = 0;
    const char *hdr = "{'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}";
    uint8_t *b = st_bytes(hdr, NULL, 8, &len);
    ef_err err;
    ef_err_clear(&err);
    ef_st_file *f = NULL;
    EF_CHECK_INT(t, ef_st_parse(b, len, "mem", &f, &err), EF_OK);
    EF_CHECK(t, f && strcmp(ef_st_path(f), "mem") == 0);
    const ef_st_tensor *w = ef_st_find(f, "w");
    EF_CHECK(t, w && w->data == b + 8 + strlen(hdr));   /* a view into the buffer, not a copy */
    ef_st_close(f);

    /* An empty header object is a valid file with no tensors. */
    uint8_t *e = st_bytes("{}", NULL, 0, &len);
    EF_CHECK_INT(t, ef_st_parse(e, len, "empty", &f, &err), EF_OK);
    EF_CHECK_INT(t, ef_st_count(f), 0);
    EF_CHECK(t, ef_st_find(f, "w") == NULL);
    ef_st_close(f);
    free(e);
    free(b);
}

static void test_many_tensors_lookup(ef_test *t) {
    enum { N = 300 };
    size_t cap = (size_t)N * 96 + 16, at = 0;
    char *hdr = malloc(cap);
    at += (size_t)snprintf(hdr + at, cap - at, "{");
    for (int i = 0; i < N; i++)   /* reverse order: file order differs from name order */
        at += (size_t)snprintf(hdr + at, cap - at, "%s'layer.%03d.w': {'dtype': 'F16', 'shape': [1], 'data_offsets': [%d, %d]}",
                               i ? ", " : "", N - 1 - i, 2 * i, 2 * i + 2);
    snprintf(hdr + at, cap - at, "}");
    size_t len = 0;
    uint8_t *b = st_bytes(hdr, NULL, 2 * N, &len);
    ef_err err;
    ef_err_clear(&err);
    ef_st_file *f = NULL;
    EF_CHECK_MSG(t, ef_st_parse(b, len, "many", &f, &err) == EF_OK, "%s", err.msg);
    int found = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%03d.w", i);
        const ef_st_tensor *x = ef_st_find(f, name);
        found += x && strcmp(x->name, name) == 0 && x->data == b + 8 + strlen(hdr) + 2 * (N - 1 - i);
    }
    EF_CHECK_INT(t, found, N);
    ef_st_close(f);
    free(b);
    free(hdr);
}

/* One malformed header: the status and up to two substrings the message must contain
** (besides the file name, which every message must contain). */
typedef struct bad_case {
    const char *name;
    const char *header;
    size_t      n_data;
    ef_status   want;
    const char *msg1, *msg2;
} bad_case;

#define TENSOR_OK "'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]"
static const bad_case BAD[] = {
    {"not_json", "{'w': {'dtype': ", 8, EF_ERR_FORMAT, "not valid JSON", 0},
    {"empty_header", "", 8, EF_ERR_FORMAT, "not valid JSON", 0},
    {"trailing_garbage", "{}xyz", 0, EF_ERR_FORMAT, "unexpected bytes after the JSON header", 0},
    {"top_array", "[1, 2]", 0, EF_ERR_FORMAT, "not a JSON object", 0},
    {"top_string", "'hello'", 0, EF_ERR_FORMAT, "not a JSON object", 0},
    {"entry_not_object", "{'w': 5}", 8, EF_ERR_FORMAT, "tensor 'w'", "not a JSON object"},
    {"missing_dtype", "{'w': {'shape': [2], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "missing 'dtype'"},
    {"missing_shape", "{'w': {'dtype': 'F32', 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "missing 'shape'"},
    {"missing_offsets", "{'w': {'dtype': 'F32', 'shape': [2]}}", 8, EF_ERR_FORMAT, "'w'", "missing 'data_offsets'"},
    {"dtype_not_string", "{'w': {'dtype': 4, 'shape': [1], 'data_offsets': [0, 4]}}", 4, EF_ERR_FORMAT, "'w'", "'dtype' is not a string"},
    {"dtype_f64", "{'w': {'dtype': 'F64', 'shape': [1], 'data_offsets': [0, 8]}}", 8, EF_ERR_UNSUPPORTED, "'w'", "F64"},
    {"dtype_i16", "{'w': {'dtype': 'I16', 'shape': [4], 'data_offsets': [0, 8]}}", 8, EF_ERR_UNSUPPORTED, "'w'", "I16"},
    {"dtype_f8", "{'w': {'dtype': 'F8_E4M3', 'shape': [8], 'data_offsets': [0, 8]}}", 8, EF_ERR_UNSUPPORTED, "'w'", "F8_E4M3"},
    {"dtype_unknown", "{'w': {'dtype': 'f32', 'shape': [2], 'data_offsets': [0, 8]}}", 8, EF_ERR_UNSUPPORTED, "'w'", "f32"},
    {"shape_not_array", "{'w': {'dtype': 'F32', 'shape': '2x2', 'data_offsets': [0, 16]}}", 16, EF_ERR_FORMAT, "'w'", "'shape' is not an array"},
    {"negative_dim", "{'w': {'dtype': 'F32', 'shape': [2, -1], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "shape[1] is negative"},
    {"fractional_dim", "{'w': {'dtype': 'F32', 'shape': [1.5], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "shape[0] is not an integer"},
    {"dim_not_number", "{'w': {'dtype': 'F32', 'shape': ['2'], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "shape[0] is not a number"},
    {"dim_huge", "{'w': {'dtype': 'F32', 'shape': [1e300], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "shape[0] is too large"},
    {"shape_product_overflow", "{'w': {'dtype': 'F32', 'shape': [4294967296, 4294967296, 4], 'data_offsets': [0, 8]}}", 8,
     EF_ERR_FORMAT, "'w'", "too many elements"},
    {"shape_bytes_overflow", "{'w': {'dtype': 'F32', 'shape': [1073741824, 1073741824, 4], 'data_offsets': [0, 8]}}", 8,
     EF_ERR_FORMAT, "'w'", "too many bytes"},
    {"ndim_9", "{'w': {'dtype': 'F32', 'shape': [1, 1, 1, 1, 1, 1, 1, 1, 1], 'data_offsets': [0, 4]}}", 4,
     EF_ERR_UNSUPPORTED, "'w'", "more than 8 dims"},
    {"offsets_reversed", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 4]}}", 8, EF_ERR_FORMAT, "'w'", "[8, 4] are reversed"},
    {"offsets_past_end", "{'w': {'dtype': 'F32', 'shape': [4], 'data_offsets': [4, 20]}}", 16, EF_ERR_FORMAT, "'w'",
     "data_offsets [4, 20] exceed the data section (16 bytes)"},
    {"offsets_fractional", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 3.5]}}", 8, EF_ERR_FORMAT, "'w'", "data_offsets[1] is not an integer"},
    {"offsets_negative", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [-4, 0]}}", 8, EF_ERR_FORMAT, "'w'", "data_offsets[0] is negative"},
    {"offsets_string", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': ['0', 4]}}", 8, EF_ERR_FORMAT, "'w'", "data_offsets[0] is not a number"},
    {"offsets_three", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4, 8]}}", 8, EF_ERR_FORMAT, "'w'", "[begin, end]"},
    {"offsets_not_array", "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': 4}}", 8, EF_ERR_FORMAT, "'w'", "[begin, end]"},
    {"span_mismatch", "{'w': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 20]}}", 24, EF_ERR_FORMAT, "'w'",
     "shape [2, 3] x F32 is 24 bytes but data_offsets [0, 20] span 20"},
    {"span_f16", "{'w': {'dtype': 'F16', 'shape': [3], 'data_offsets': [0, 8]}}", 8, EF_ERR_FORMAT, "'w'", "is 6 bytes"},
    {"overlap", "{'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}, 'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}",
     12, EF_ERR_FORMAT, "'a' [0, 8] and 'b' [4, 12] overlap", 0},
    {"overlap_contained", "{'big': {'dtype': 'F32', 'shape': [4], 'data_offsets': [0, 16]}, 'x': {'dtype': 'F32', 'shape': [1], 'data_offsets': [16, 20]}, "
     "'small': {'dtype': 'F16', 'shape': [2], 'data_offsets': [8, 12]}}", 20, EF_ERR_FORMAT, "'big'", "'small' [8, 12] overlap"},
    {"duplicate_name", "{'w': {" TENSOR_OK "}, 'v': {'dtype': 'F32', 'shape': [0], 'data_offsets': [8, 8]}, 'w': {" TENSOR_OK "}}",
     8, EF_ERR_FORMAT, "duplicate tensor name 'w'", 0},
    {"metadata_not_string", "{'__metadata__': {'format': 'pt', 'epoch': 3}, 'w': {" TENSOR_OK "}}", 8, EF_ERR_FORMAT,
     "__metadata__ 'epoch' is not a string", 0},
    {"metadata_not_object", "{'__metadata__': ['pt'], 'w': {" TENSOR_OK "}}", 8, EF_ERR_FORMAT, "'__metadata__' is not a JSON object", 0},
    {"metadata_twice", "{'__metadata__': {}, '__metadata__': {}}", 0, EF_ERR_FORMAT, "duplicate key '__metadata__'", 0},
    {"metadata_dup_key", "{'__metadata__': {'k': 'a', 'k': 'b'}}", 0, EF_ERR_FORMAT, "__metadata__ has duplicate key 'k'", 0},
};

static void check_err(ef_test *t, const char *what, ef_status rc, const ef_err *err, ef_status want,
                      const char *s0, const char *s1, const char *s2) {
    EF_CHECK_MSG(t, rc == want, "%s: status %d, want %d (%s)", what, (int)rc, (int)want, err->msg);
    const char *subs[3] = {s0, s1, s2};
    for (int i = 0; i < 3; i++) {
        if (subs[i]) EF_CHECK_MSG(t, strstr(err->msg, subs[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err->msg, subs[i]);
    }
}

static void test_malformed_headers(ef_test *t) {
    char dir[256], path[512];
    ef_test_tmpdir(dir, sizeof dir);
    EF_CHECK(t, dir[0]);
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const bad_case *c = &BAD[i];
        char fname[96];
        snprintf(fname, sizeof fname, "%s.safetensors", c->name);
        EF_CHECK(t, st_write(path, sizeof path, dir, fname, c->header, NULL, c->n_data));
        ef_err err;
        ef_err_clear(&err);
        ef_st_file *f = NULL;
        ef_status rc = ef_st_open(path, (int)(i & 1), &f, &err);
        check_err(t, c->name, rc, &err, c->want, fname, c->msg1, c->msg2);
        EF_CHECK(t, f == NULL);
        ef_st_close(f);

        size_t len = 0;
        uint8_t *b = st_bytes(c->header, NULL, c->n_data, &len);
        ef_err_clear(&err);
        rc = ef_st_parse(b, len, "memlabel", &f, &err);
        check_err(t, c->name, rc, &err, c->want, "memlabel", c->msg1, c->msg2);
        EF_CHECK(t, f == NULL);
        free(b);
    }
}

static void test_malformed_length(ef_test *t) {
    char dir[256], path[512];
    ef_test_tmpdir(dir, sizeof dir);
    EF_CHECK(t, dir[0]);
    ef_err err;
    ef_st_file *f = NULL;
    struct { const char *file; uint64_t hlen; size_t tail; size_t cut; ef_status want; const char *msg; } L[] = {
        {"empty.safetensors", 0, 0, 8, EF_ERR_FORMAT, "0 bytes is too short"},
        {"five.safetensors", 2, 0, 3, EF_ERR_FORMAT, "5 bytes is too short"},
        {"cut.safetensors", 100, 20, 0, EF_ERR_FORMAT, "header length 100 exceeds the file (20 bytes"},
        {"absurd.safetensors", (uint64_t)1 << 63, 20, 0, EF_ERR_FORMAT, "header length 9223372036854775808 exceeds the 104857600 byte limit"},
        {"over_cap.safetensors", EF_ST_MAX_HEADER + 1ull, 20, 0, EF_ERR_FORMAT, "exceeds the 104857600 byte limit"},
        {"all_ones.safetensors", UINT64_MAX, 4, 0, EF_ERR_FORMAT, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, L[i].file);
        if (L[i].cut) {   /* a file shorter than the 8-byte length field */
            uint8_t b[8] = {1, 0, 0, 0, 0, 0, 0, 0};
            EF_CHECK(t, ef_test_write_file(path, b, 8 - L[i].cut));
        } else {
            EF_CHECK(t, raw_write(path, L[i].hlen, L[i].tail));
        }
        for (int mm = 0; mm < 2; mm++) {
            ef_err_clear(&err);
            ef_status rc = ef_st_open(path, mm, &f, &err);
            check_err(t, L[i].file, rc, &err, L[i].want, L[i].file, L[i].msg, 0);
            EF_CHECK(t, f == NULL);
        }
    }
    /* A header cut mid-way: the length is right, the file ends early. */
    size_t len = 0;
    uint8_t *b = st_bytes("{'w': {" TENSOR_OK "}}", NULL, 8, &len);
    ef_err_clear(&err);
    check_err(t, "cut_mid_header", ef_st_parse(b, 30, "cut_mid_header", &f, &err), &err, EF_ERR_FORMAT,
              "cut_mid_header", "exceeds the file (22 bytes", 0);
    ef_err_clear(&err);
    check_err(t, "cut_data", ef_st_parse(b, len - 1, "cut_data", &f, &err), &err, EF_ERR_FORMAT,
              "cut_data", "tensor 'w'", "exceed the data section (7 bytes)");
    free(b);

    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    ef_err_clear(&err);
    check_err(t, "absent", ef_st_open(path, 1, &f, &err), &err, EF_ERR_IO, "absent.safetensors", 0, 0);
    ef_err_clear(&err);
    check_err(t, "a_folder", ef_st_open(dir, 1, &f, &err), &err, EF_ERR_IO, dir, 0, 0);
    EF_CHECK(t, f == NULL);
}

const ef_test_case ef_suite_safetensors[] = {
    {"valid_types", test_valid_types},
    {"parse_memory", test_parse_memory},
    {"many_tensors_lookup", test_many_tensors_lookup},
    {"malformed_headers", test_malformed_headers},
    {"malformed_length", test_malformed_length},
    {0, 0},
};
