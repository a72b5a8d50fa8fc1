/*
** test_loader.c -- ef_weights on component folders built here in C: file choice
** (transformers and diffusers names, the fp16 variant and its fallbacks, shard
** indexes), binding with shape/dtype checks, used/ignored tracking, and the folder,
** index and binding errors, each checked for status and for a message naming the
** folder, file, shard or tensor at fault. Headers use ' for " (st_bytes swaps them).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ef_test.h"
#include "io/weights.h"

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

/* dir/name <- a safetensors file. */
static int put_st(const char *dir, const char *name, const char *header, const void *data, size_t n_data) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    uint8_t *b = st_bytes(header, data, n_data, &len);
    int ok = b && ef_test_write_file(path, b, len);
    free(b);
    return ok;
}

/* dir/name <- text, with ' turned into ". */
static int put_text(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n = strlen(text);
    char *s = malloc(n + 1);
    if (!s) return 0;
    for (size_t i = 0; i <= n; i++) s[i] = text[i] == '\'' ? '"' : text[i];
    int ok = ef_test_write_file(path, s, n);
    free(s);
    return ok;
}

/* A fresh component folder <tmp>/<name>; path into out. */
static const char *component(char *out, size_t n, const char *name) {
    char tmp[256];
    ef_test_tmpdir(tmp, sizeof tmp);
    snprintf(out, n, "%s/%s", tmp, name);
    mkdir(out, 0700);
    return out;
}

static void check_err(ef_test *t, const char *what, ef_status rc, const ef_err *err, ef_status want,
                      const char *s0, const char *s1, const char *s2) {
    EF_CHECK_MSG(t, rc == want, "%s: status %d, want %d (%s)", what, (int)rc, (int)want, err->msg);
    const char *subs[3] = {s0, s1, s2};
    for (int i = 0; i < 3; i++) {
        if (subs[i]) EF_CHECK_MSG(t, strstr(err->msg, subs[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err->msg, subs[i]);
    }
}

/* One F16 tensor 'w' [2, 3] holding 0.5 * (i + 1), plus an I64 'position_ids' [3]. */
#define HDR_TE "{'__metadata__': {'format': 'pt'}, 'w': {'dtype': 'F16', 'shape': [2, 3], 'data_offsets': [0, 12]}," \
               " 'position_ids': {'dtype': 'I64', 'shape': [3], 'data_offsets': [12, 36]}}"
static void te_data(uint8_t d[36]) {
    static const uint16_t h[6] = {0x3800, 0x3C00, 0x3E00, 0x4000, 0x4100, 0x4200};   /* 0.5 .. 3.0 */
    for (int i = 0; i < 6; i++) { d[2 * i] = (uint8_t)h[i]; d[2 * i + 1] = (uint8_t)(h[i] >> 8); }
    for (int i = 0; i < 3; i++) {
        int64_t v = i;
        memcpy(d + 12 + 8 * i, &v, 8);
    }
}

static void test_single_file(ef_test *t) {
    char dir[512];
    component(dir, sizeof dir, "text_encoder");
    uint8_t d[36];
    te_data(d);
    EF_CHECK(t, put_st(dir, "model.safetensors", HDR_TE, d, sizeof d));
    for (int mm = 0; mm < 2; mm++) {
        ef_err err;
        ef_err_clear(&err);
        ef_weights *w = NULL;
        ef_status rc = ef_weights_open(dir, NULL, mm, &w, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "%s", err.msg);
        if (rc != EF_OK) continue;
        EF_CHECK(t, strcmp(ef_weights_label(w), "text_encoder/model.safetensors") == 0);
        EF_CHECK_INT(t, ef_weights_count(w), 2);
        EF_CHECK(t, ef_weights_find(w, "position_ids") != NULL && ef_weights_find(w, "x") == NULL);
        /* Not everything bound yet: both tensors are unexpected. */
        check_err(t, "unused", ef_weights_check_all_used(w, &err), &err, EF_ERR_FORMAT,
                  "text_encoder/model.safetensors: 2 unexpected tensors: 'position_ids', 'w'", 0, 0);
        float out[6];
        const int64_t shape[2] = {2, 3};
        EF_CHECK_INT(t, ef_weights_load_f32(w, "w", 2, shape, out, &err), EF_OK);
        for (int i = 0; i < 6; i++) EF_CHECK(t, out[i] == 0.5f * (float)(i + 1));
        check_err(t, "one unused", ef_weights_check_all_used(w, &err), &err, EF_ERR_FORMAT,
                  "1 unexpected tensor: 'position_ids'", 0, 0);
        ef_weights_ignore(w, "position_ids");
        ef_weights_ignore(w, "not_there");   /* ignoring an absent name is harmless */
        ef_err_clear(&err);
        EF_CHECK_INT(t, ef_weights_check_all_used(w, &err), EF_OK);
        ef_weights_free(w);
    }
    ef_weights_free(NULL);
}

/* ef_weights_view: the tensor's bytes in place when dtype, shape and alignment allow (it
** then counts as used), NULL otherwise; a misaligned file still loads by copy. */
static void test_views(ef_test *t) {
    const float vals[3] = {1.5f, -2.0f, 0.25f};
    for (int misalign = 0; misalign < 2; misalign++) {
        char dir[512], header[256];
        component(dir, sizeof dir, misalign ? "unet_odd" : "unet_even");
        int n = snprintf(header, sizeof header, "{'a': {'dtype': 'F32', 'shape': [3], 'data_offsets': [0, 12]}}");
        while ((8 + n) % 4 != (misalign ? 2 : 0)) header[n++] = ' ';   /* where the data starts */
        header[n] = 0;
        EF_CHECK(t, put_st(dir, "diffusion_pytorch_model.safetensors", header, vals, sizeof vals));
        for (int mm = 0; mm < 2; mm++) {
            ef_err err;
            ef_err_clear(&err);
            ef_weights *w = NULL;
            EF_CHECK_INT(t, ef_weights_open(dir, NULL, mm, &w, &err), EF_OK);
            if (!w) continue;
            const int64_t three = 3, two = 2;
            EF_CHECK(t, ef_weights_view(w, "a", 1, &two, EF_DTYPE_F32) == NULL);    /* wrong shape */
            EF_CHECK(t, ef_weights_view(w, "a", 1, &three, EF_DTYPE_F16) == NULL);  /* wrong dtype */
            EF_CHECK(t, ef_weights_view(w, "b", 1, &three, EF_DTYPE_F32) == NULL);  /* absent */
            const float *v = ef_weights_view(w, "a", 1, &three, EF_DTYPE_F32);
            if (misalign) {
                EF_CHECK(t, v == NULL);
                float out[3];
                EF_CHECK_INT(t, ef_weights_load_f32(w, "a", 1, &three, out, &err), EF_OK);
                EF_CHECK(t, memcmp(out, vals, sizeof vals) == 0);
            } else {
                EF_CHECK(t, v != NULL && memcmp(v, vals, sizeof vals) == 0);
                ef_weights_release_pages(w);   /* mapped: dropped pages read back from the file */
                EF_CHECK(t, v != NULL && memcmp(v, vals, sizeof vals) == 0);
            }
            EF_CHECK_INT(t, ef_weights_check_all_used(w, &err), EF_OK);   /* the view counts as used */
            ef_weights_free(w);
        }
    }
}

static void test_bind_errors(ef_test *t) {
    char dir[512];
    component(dir, sizeof dir, "text_encoder");
    uint8_t d[36];
    te_data(d);
    EF_CHECK(t, put_st(dir, "model.safetensors", HDR_TE, d, sizeof d));
    ef_err err;
    ef_err_clear(&err);
    ef_weights *w = NULL;
    EF_CHECK_INT(t, ef_weights_open(dir, NULL, 1, &w, &err), EF_OK);
    if (!w) return;
    float out[8];
    const int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6}, s3[1] = {3};
    check_err(t, "missing", ef_weights_load_f32(w, "nope", 2, s23, out, &err), &err, EF_ERR_FORMAT,
              "text_encoder/model.safetensors: missing tensor 'nope'", 0, 0);
    check_err(t, "shape", ef_weights_load_f32(w, "w", 2, s32, out, &err), &err, EF_ERR_FORMAT,
              "text_encoder/model.safetensors: tensor 'w' has shape [2, 3] but the config implies [3, 2]", 0, 0);
    check_err(t, "ndim", ef_weights_load_f32(w, "w", 1, s6, out, &err), &err, EF_ERR_FORMAT,
              "tensor 'w' has shape [2, 3] but the config implies [6]", 0, 0);
    check_err(t, "dtype", ef_weights_load_f32(w, "position_ids", 1, s3, out, &err), &err, EF_ERR_FORMAT,
              "text_encoder/model.safetensors: tensor 'position_ids' has dtype I64; a float weight is expected", 0, 0);
    check_err(t, "bad ndim arg", ef_weights_load_f32(w, "w", 9, s23, out, &err), &err, EF_ERR_INVALID_ARG, "'w'", 0, 0);
    /* Failed binds do not count as used. */
    check_err(t, "unused after failures", ef_weights_check_all_used(w, &err), &err, EF_ERR_FORMAT,
              "2 unexpected tensors", 0, 0);
    ef_weights_free(w);
}

static void test_check_all_used_lists_five(ef_test *t) {
    char dir[512];
    component(dir, sizeof dir, "unet");
    EF_CHECK(t, put_st(dir, "diffusion_pytorch_model.safetensors",
                       "{'t0': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]}, 't1': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]},"
                       " 't2': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]}, 't3': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]},"
                       " 't4': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]}, 't5': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]},"
                       " 't6': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}", NULL, 4));
    ef_err err;
    ef_err_clear(&err);
    ef_weights *w = NULL;
    EF_CHECK_INT(t, ef_weights_open(dir, NULL, 0, &w, &err), EF_OK);
    if (!w) return;
    EF_CHECK(t, strcmp(ef_weights_label(w), "unet/diffusion_pytorch_model.safetensors") == 0);
    const int64_t s1[1] = {1};
    float v;
    EF_CHECK_INT(t, ef_weights_load_f32(w, "t6", 1, s1, &v, &err), EF_OK);
    check_err(t, "extra", ef_weights_check_all_used(w, &err), &err, EF_ERR_FORMAT,
              "unet/diffusion_pytorch_model.safetensors: 6 unexpected tensors: 't0', 't1', 't2', 't3', 't4', ...", 0, 0);
    EF_CHECK(t, strstr(err.msg, "'t5'") == NULL);
    ef_weights_free(w);
}

/* Writes a file whose only tensor is 'which' (F32 [1] = value) as dir/name. */
static int put_marker(const char *dir, const char *name, float value) {
    return put_st(dir, name, "{'which': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}", &value, 4);
}

/* Opens dir with variant and returns the 'which' value (or -1), label into lab. */
static float open_marker(ef_test *t, const char *dir, const char *variant, char *lab, size_t n) {
    ef_err err;
    ef_err_clear(&err);
    ef_weights *w = NULL;
    float v = -1;
    const int64_t s1[1] = {1};
    ef_status rc = ef_weights_open(dir, variant, 1, &w, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s", err.msg);
    if (rc == EF_OK) {
        EF_CHECK_INT(t, ef_weights_load_f32(w, "which", 1, s1, &v, &err), EF_OK);
        snprintf(lab, n, "%s", ef_weights_label(w));
    }
    ef_weights_free(w);
    return v;
}

static void test_variant_choice(ef_test *t) {
    char dir[512], lab[256];
    component(dir, sizeof dir, "vae");
    EF_CHECK(t, put_marker(dir, "diffusion_pytorch_model.fp16.safetensors", 16));
    EF_CHECK(t, open_marker(t, dir, NULL, lab, sizeof lab) == 16);   /* only fp16: the fallback */
    EF_CHECK(t, strcmp(lab, "vae/diffusion_pytorch_model.fp16.safetensors") == 0);
    EF_CHECK(t, put_marker(dir, "diffusion_pytorch_model.safetensors", 32));
    EF_CHECK(t, open_marker(t, dir, NULL, lab, sizeof lab) == 32);   /* both: plain by default */
    EF_CHECK(t, open_marker(t, dir, "fp16", lab, sizeof lab) == 16); /* both: the variant asked for */

    component(dir, sizeof dir, "text_encoder");
    EF_CHECK(t, put_marker(dir, "model.safetensors", 32));
    EF_CHECK(t, open_marker(t, dir, "fp16", lab, sizeof lab) == 32);  /* no fp16 file: plain */
    EF_CHECK(t, strcmp(lab, "text_encoder/model.safetensors") == 0);
    EF_CHECK(t, put_marker(dir, "model.fp16.safetensors", 16));
    EF_CHECK(t, open_marker(t, dir, "fp16", lab, sizeof lab) == 16);
    EF_CHECK(t, strcmp(lab, "text_encoder/model.fp16.safetensors") == 0);

    ef_err err;
    ef_weights *w = NULL;
    ef_err_clear(&err);
    check_err(t, "bad variant", ef_weights_open(dir, "../x", 1, &w, &err), &err, EF_ERR_INVALID_ARG, "../x", 0, 0);
    EF_CHECK(t, w == NULL);
}

#define SHARD_A "{'a.w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}, 'a.b': {'dtype': 'BF16', 'shape': [1], 'data_offsets': [8, 10]}}"
#define SHARD_B "{'b.w': {'dtype': 'F16', 'shape': [1, 1], 'data_offsets': [0, 2]}}"
#define INDEX_AB "{'metadata': {'total_size': 12}, 'weight_map': {'a.w': 'm-00001-of-00002.safetensors'," \
                 " 'b.w': 'm-00002-of-00002.safetensors', 'a.b': 'm-00001-of-00002.safetensors'}}"

/* A two-shard unet folder; index_name names the index file. */
static void make_sharded(ef_test *t, char *dir, size_t n, const char *index_name, const char *index) {
    component(dir, n, "unet");
    uint8_t a[10], b[2] = {0x00, 0xC4};   /* b.w = -4.0 in f16 */
    float av[2] = {3.0f, -0.5f};
    memcpy(a, av, 8);
    a[8] = 0x80; a[9] = 0x3F;             /* a.b = 1.0 in bf16 */
    EF_CHECK(t, put_st(dir, "m-00001-of-00002.safetensors", SHARD_A, a, sizeof a));
    EF_CHECK(t, put_st(dir, "m-00002-of-00002.safetensors", SHARD_B, b, sizeof b));
    EF_CHECK(t, put_text(dir, index_name, index));
}

static void test_sharded(ef_test *t) {
    const char *names[2] = {"diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.fp16.json"};
    for (int k = 0; k < 2; k++) {
        char dir[512];
        make_sharded(t, dir, sizeof dir, names[k], INDEX_AB);
        ef_err err;
        ef_err_clear(&err);
        ef_weights *w = NULL;
        ef_status rc = ef_weights_open(dir, k ? "fp16" : NULL, k, &w, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "%s", err.msg);
        if (rc != EF_OK) continue;
        char want[128];
        snprintf(want, sizeof want, "unet/%s", names[k]);
        EF_CHECK(t, strcmp(ef_weights_label(w), want) == 0);
        EF_CHECK_INT(t, ef_weights_count(w), 3);
        float v[2];
        const int64_t s2[1] = {2}, s1[1] = {1}, s11[2] = {1, 1};
        EF_CHECK_INT(t, ef_weights_load_f32(w, "a.w", 1, s2, v, &err), EF_OK);
        EF_CHECK(t, v[0] == 3.0f && v[1] == -0.5f);
        EF_CHECK_INT(t, ef_weights_load_f32(w, "b.w", 2, s11, v, &err), EF_OK);
        EF_CHECK(t, v[0] == -4.0f);
        check_err(t, "shard label", ef_weights_load_f32(w, "a.b", 1, s2, v, &err), &err, EF_ERR_FORMAT,
                  "unet/m-00001-of-00002.safetensors: tensor 'a.b' has shape [1]", 0, 0);
        EF_CHECK_INT(t, ef_weights_load_f32(w, "a.b", 1, s1, v, &err), EF_OK);
        EF_CHECK(t, v[0] == 1.0f);
        EF_CHECK_INT(t, ef_weights_check_all_used(w, &err), EF_OK);
        ef_weights_free(w);
    }
}

/* One broken folder: the files to write and what the error must say. */
typedef struct bad_index {
    const char *name;
    const char *index;        /* NULL: no index written */
    const char *shard_b;      /* replaces SHARD_B when set */
    ef_status   want;
    const char *msg1, *msg2;
} bad_index;

#define IDX "diffusion_pytorch_model.safetensors.index.json"
static const bad_index BAD_INDEX[] = {
    {"missing_shard", "{'weight_map': {'a.w': 'm-00001-of-00002.safetensors', 'b.w': 'gone.safetensors'}}", 0,
     EF_ERR_IO, "unet/" IDX, "gone.safetensors"},
    {"dotdot_shard", "{'weight_map': {'a.w': '../m-00001-of-00002.safetensors'}}", 0, EF_ERR_FORMAT, "unet/" IDX,
     "tensor 'a.w': shard '../m-00001-of-00002.safetensors' is not a plain file name"},
    {"slash_shard", "{'weight_map': {'a.w': 'sub/m.safetensors'}}", 0, EF_ERR_FORMAT, "'sub/m.safetensors'", "plain file name"},
    {"weight_map_array", "{'weight_map': ['m-00001-of-00002.safetensors']}", 0, EF_ERR_FORMAT, "unet/" IDX,
     "'weight_map' is not a JSON object"},
    {"weight_map_missing", "{'metadata': {}}", 0, EF_ERR_FORMAT, "unet/" IDX, "missing 'weight_map'"},
    {"weight_map_empty", "{'weight_map': {}}", 0, EF_ERR_FORMAT, "unet/" IDX, "'weight_map' is empty"},
    {"weight_map_value", "{'weight_map': {'a.w': 7}}", 0, EF_ERR_FORMAT, "unet/" IDX, "weight_map['a.w'] is not a string"},
    {"listed_twice", "{'weight_map': {'a.w': 'm-00001-of-00002.safetensors', 'a.b': 'm-00001-of-00002.safetensors',"
     " 'b.w': 'm-00002-of-00002.safetensors', 'a.w': 'm-00001-of-00002.safetensors'}}", 0, EF_ERR_FORMAT, "unet/" IDX,
     "tensor 'a.w' is listed twice"},
    {"absent_in_shard", "{'weight_map': {'a.w': 'm-00001-of-00002.safetensors', 'a.b': 'm-00001-of-00002.safetensors',"
     " 'b.w': 'm-00002-of-00002.safetensors', 'ghost': 'm-00002-of-00002.safetensors'}}", 0, EF_ERR_FORMAT,
     "unet/" IDX ": tensor 'ghost'", "unet/m-00002-of-00002.safetensors"},
    {"wrong_shard", "{'weight_map': {'a.w': 'm-00002-of-00002.safetensors', 'a.b': 'm-00001-of-00002.safetensors',"
     " 'b.w': 'm-00002-of-00002.safetensors'}}", 0, EF_ERR_FORMAT, "tensor 'a.w'", "unet/m-00002-of-00002.safetensors"},
    {"unlisted_in_map", "{'weight_map': {'a.w': 'm-00001-of-00002.safetensors', 'b.w': 'm-00002-of-00002.safetensors'}}", 0,
     EF_ERR_FORMAT, "tensor 'a.b' in unet/m-00001-of-00002.safetensors", "not listed"},
    {"in_two_shards", INDEX_AB, "{'b.w': {'dtype': 'F16', 'shape': [1, 1], 'data_offsets': [0, 2]}, 'a.w': {'dtype': 'F16', 'shape': [0], 'data_offsets': [0, 0]}}",
     EF_ERR_FORMAT, "tensor 'a.w' is in two shards", "unet/m-00001-of-00002.safetensors and unet/m-00002-of-00002.safetensors"},
    {"broken_json", "{'weight_map': {'a.w': ", 0, EF_ERR_FORMAT, "unet/" IDX, "invalid JSON"},
    {"index_not_object", "[]", 0, EF_ERR_FORMAT, "unet/" IDX, "not a JSON object"},
    {"bad_shard_file", INDEX_AB, "{'b.w': {'dtype': 'F64', 'shape': [1], 'data_offsets': [0, 2]}}", EF_ERR_UNSUPPORTED,
     "m-00002-of-00002.safetensors", "tensor 'b.w': dtype F64"},
};

static void test_bad_index(ef_test *t) {
    for (size_t i = 0; i < sizeof BAD_INDEX / sizeof BAD_INDEX[0]; i++) {
        const bad_index *c = &BAD_INDEX[i];
        char dir[512];
        make_sharded(t, dir, sizeof dir, IDX, c->index);
        if (c->shard_b) EF_CHECK(t, put_st(dir, "m-00002-of-00002.safetensors", c->shard_b, "\0\0", 2));
        ef_err err;
        ef_err_clear(&err);
        ef_weights *w = NULL;
        check_err(t, c->name, ef_weights_open(dir, NULL, (int)(i & 1), &w, &err), &err, c->want, c->msg1, c->msg2, 0);
        EF_CHECK(t, w == NULL);
        ef_weights_free(w);
    }
}

static void test_bad_folders(ef_test *t) {
    char dir[512], path[600];
    ef_err err;
    ef_weights *w = NULL;

    component(dir, sizeof dir, "text_encoder");
    ef_err_clear(&err);
    check_err(t, "empty folder", ef_weights_open(dir, NULL, 1, &w, &err), &err, EF_ERR_IO, dir, "no weights found",
              "model.safetensors");

    snprintf(path, sizeof path, "%s/absent", dir);
    ef_err_clear(&err);
    check_err(t, "missing folder", ef_weights_open(path, NULL, 1, &w, &err), &err, EF_ERR_IO, path, "no such folder", 0);

    EF_CHECK(t, put_text(dir, "pytorch_model.bin", "PK\003\004 not really a zip"));
    ef_err_clear(&err);
    check_err(t, "pickle only", ef_weights_open(dir, "fp16", 1, &w, &err), &err, EF_ERR_UNSUPPORTED, dir,
              "only PyTorch pickle weights (pytorch_model.bin)", "needs .safetensors");

    component(dir, sizeof dir, "unet");
    EF_CHECK(t, put_text(dir, "diffusion_pytorch_model.fp16.bin", "x"));
    ef_err_clear(&err);
    check_err(t, "pickle fp16", ef_weights_open(dir, NULL, 1, &w, &err), &err, EF_ERR_UNSUPPORTED,
              "diffusion_pytorch_model.fp16.bin", "safetensors", 0);

    /* A malformed weight file is reported with its path. */
    EF_CHECK(t, put_st(dir, "diffusion_pytorch_model.safetensors", "{'x': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 4]}}", NULL, 4));
    ef_err_clear(&err);
    check_err(t, "bad file", ef_weights_open(dir, NULL, 0, &w, &err), &err, EF_ERR_FORMAT,
              "unet/diffusion_pytorch_model.safetensors", "tensor 'x'", "span 4");

    ef_err_clear(&err);
    check_err(t, "empty name", ef_weights_open("", NULL, 0, &w, &err), &err, EF_ERR_INVALID_ARG, "folder", 0, 0);
    EF_CHECK(t, w == NULL);
}

const ef_test_case ef_suite_loader[] = {
    {"single_file", test_single_file},
    {"bind_errors", test_bind_errors},
    {"views", test_views},
    {"check_all_used_lists_five", test_check_all_used_lists_five},
    {"variant_choice", test_variant_choice},
    {"sharded", test_sharded},
    {"bad_index", test_bad_index},
    {"bad_folders", test_bad_folders},
    {0, 0},
};
