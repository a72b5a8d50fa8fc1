/*
** test_clip_text.c -- the CLIP text encoder against transformers' outputs (fixtures
** from scripts/golden/clip_text.py), with 1 and 2 threads; config, weight-binding and
** argument errors.
**
** Fixtures: tiny-pipe/text_encoder (fp32, quick_gelu, "text_model." names) and
** tiny-clip-gelu-fp16/text_encoder (fp16 variant, gelu, transformers 5 names), each
** with a *_reference.safetensors of caseN.ids / caseN.last_hidden_state /
** caseN.clip_skipK. Tolerance: max_abs <= 1e-4 and NMSE <= 1e-6 (STYLE.md 3.12).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "ef_test.h"
#include "io/safetensors.h"
#include "model/clip_text.h"

/* A copy of a reference tensor as floats (F32) or int32 (I32); NULL if absent. */
static void *ref_tensor(const ef_st_file *f, const char *name, ef_dtype dt, int64_t *n_out) {
    const ef_st_tensor *t = ef_st_find(f, name);
    if (!t || t->dtype != dt) return NULL;
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    *n_out = (int64_t)(t->nbytes / 4);
    return p;
}

/* Runs every case of ref_rel through the model in dir with nth threads. */
static void check_fixture(ef_test *t, const char *dir_rel, const char *variant, const char *ref_rel, int nth) {
    char dir[512], ref[512];
    ef_fixture_path(dir, sizeof dir, dir_rel);
    ef_fixture_path(ref, sizeof ref, ref_rel);
    ef_err err = {0};
    ef_clip_text *m = NULL;
    ef_st_file *rf = NULL;
    ef_pool *pool = NULL;
    ef_status rc = ef_clip_text_load(dir, variant, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s: %s", dir, err.msg);
    rc = ef_st_open(ref, 1, &rf, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "reference %s: %s", ref, err.msg);
    rc = ef_pool_create(nth, &pool, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "pool: %s", err.msg);
    if (!m || !rf || !pool) goto done;

    const int D = ef_clip_text_hidden_size(m), L = ef_clip_text_n_layers(m);
    int n_cases = 0;
    double worst_abs = 0, worst_nmse = 0;
    for (int c = 0;; c++) {
        char name[64];
        int64_t n_ids = 0, n_want = 0;
        snprintf(name, sizeof name, "case%d.ids", c);
        int32_t *ids = ref_tensor(rf, name, EF_DTYPE_I32, &n_ids);
        if (!ids) break;
        n_cases++;
        float *got = malloc((size_t)(n_ids * D) * sizeof *got);
        for (int skip = 1; skip <= L; skip++) {
            if (skip == 1) snprintf(name, sizeof name, "case%d.last_hidden_state", c);
            else snprintf(name, sizeof name, "case%d.clip_skip%d", c, skip);
            float *want = ref_tensor(rf, name, EF_DTYPE_F32, &n_want);
            EF_CHECK_MSG(t, want && n_want == n_ids * D, "%s: reference tensor %s missing or wrong size", ref, name);
            if (!want || n_want != n_ids * D) { free(want); continue; }
            rc = ef_clip_text_forward(m, pool, NULL, ids, (int)n_ids, skip, got, &err);
            EF_CHECK_MSG(t, rc == EF_OK, "forward %s: %s", name, err.msg);
            char label[160];
            snprintf(label, sizeof label, "%s %s (%d thr)", dir_rel, name, nth);
            ef_cmp cmp = ef_compare(got, want, (size_t)n_want);
            worst_abs = cmp.max_abs > worst_abs ? cmp.max_abs : worst_abs;
            worst_nmse = cmp.nmse > worst_nmse ? cmp.nmse : worst_nmse;
            EF_CHECK_CLOSE(t, label, got, want, (size_t)n_want, 1e-4);
            EF_CHECK_MSG(t, cmp.nmse <= 1e-6, "%s: nmse %.3g > 1e-6", label, cmp.nmse);
            free(want);
        }
        free(got);
        free(ids);
    }
    EF_CHECK_MSG(t, n_cases >= 3, "%s: only %d cases", ref, n_cases);
    printf("    %s%s%s, %d thread%s: %d cases x %d outputs, worst max_abs %.3g, worst nmse %.3g\n", dir_rel,
           variant ? " variant " : "", variant ? variant : "", nth, nth > 1 ? "s" : "", n_cases, L, worst_abs, worst_nmse);
done:
    ef_pool_free(pool);
    ef_st_close(rf);
    ef_clip_text_free(m);
}

static void test_tiny_pipe(ef_test *t) {
    check_fixture(t, "tiny-pipe/text_encoder", NULL, "tiny-pipe/text_encoder_reference.safetensors", 1);
    check_fixture(t, "tiny-pipe/text_encoder", NULL, "tiny-pipe/text_encoder_reference.safetensors", 2);
}

static void test_gelu_fp16(ef_test *t) {
    const char *dir = "tiny-clip-gelu-fp16/text_encoder";
    const char *ref = "tiny-clip-gelu-fp16/text_encoder_reference.safetensors";
    check_fixture(t, dir, "fp16", ref, 1);
    check_fixture(t, dir, "fp16", ref, 2);
    check_fixture(t, dir, NULL, ref, 2);   /* no fp32 files: falls back to the fp16 variant */
}

/* Accessors, bit-identical results across thread counts, and argument errors. */
static void test_forward_args(ef_test *t) {
    char dir[512];
    ef_fixture_path(dir, sizeof dir, "tiny-pipe/text_encoder");
    ef_err err = {0};
    ef_clip_text *m = NULL;
    ef_status rc = ef_clip_text_load(dir, NULL, 0, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load: %s", err.msg);
    if (!m) return;
    EF_CHECK_INT(t, ef_clip_text_hidden_size(m), 32);
    EF_CHECK_INT(t, ef_clip_text_n_layers(m), 2);
    EF_CHECK_INT(t, ef_clip_text_max_positions(m), 77);
    int64_t D = 32, I = 37;
    int64_t per_layer = 4 * D + 4 * (D * D + D) + (I * D + I) + (D * I + D);
    EF_CHECK_INT(t, ef_clip_text_n_params(m), 49408 * D + 77 * D + 2 * per_layer + 2 * D);
    EF_CHECK(t, ef_clip_text_get_config(m)->act == EF_ACT_QUICK_GELU);

    int32_t ids[77];
    for (int i = 0; i < 77; i++) ids[i] = (int32_t)((i * 7919) % 49408);
    float *a = malloc(77 * 32 * sizeof *a), *b = malloc(77 * 32 * sizeof *b);
    ef_pool *p3 = NULL;
    ef_pool_create(3, &p3, &err);
    rc = ef_clip_text_forward(m, NULL, NULL, ids, 77, 0, a, &err);
    EF_CHECK(t, rc == EF_OK);
    rc = ef_clip_text_forward(m, p3, ef_kernels_ref(), ids, 77, 0, b, &err);
    EF_CHECK(t, rc == EF_OK);
    EF_CHECK(t, memcmp(a, b, 77 * 32 * sizeof *a) == 0);
    /* clip_skip 1 == 0; a prefix of the tokens gives the same rows (causal mask) */
    rc = ef_clip_text_forward(m, p3, NULL, ids, 77, 1, b, &err);
    EF_CHECK(t, rc == EF_OK && memcmp(a, b, 77 * 32 * sizeof *a) == 0);
    rc = ef_clip_text_forward(m, NULL, NULL, ids, 10, 0, b, &err);
    EF_CHECK(t, rc == EF_OK && memcmp(a, b, 10 * 32 * sizeof *a) == 0);

    ids[5] = 49408;
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 77, 0, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_MSG(t, strstr(err.msg, "49408") && strstr(err.msg, "position 5"), "msg: %s", err.msg);
    ids[5] = -1;
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 77, 0, a, &err), EF_ERR_INVALID_ARG);
    ids[5] = 0;
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 78, 0, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 0, 0, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 77, 3, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_MSG(t, strstr(err.msg, "clip_skip 3"), "msg: %s", err.msg);
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 77, -1, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_clip_text_forward(m, NULL, NULL, ids, 77, 2, a, &err), EF_OK);
    ef_pool_free(p3);
    free(a);
    free(b);
    ef_clip_text_free(m);
    ef_clip_text_free(NULL);
}

/* ---- errors --------------------------------------------------------------------- */

#define GOOD_CONFIG "\"vocab_size\": 5, \"hidden_size\": 4, \"intermediate_size\": 3, \"num_hidden_layers\": 1, " \
                    "\"max_position_embeddings\": 3, \"layer_norm_eps\": 1e-5"

/* Loads a folder whose config.json is {json}; returns the status, message in err. */
static ef_status load_with_config(const char *tmp, const char *json, ef_err *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    ef_test_write_file(path, json, strlen(json));
    ef_clip_text *m = NULL;
    ef_status rc = ef_clip_text_load(tmp, NULL, 0, &m, err);
    ef_clip_text_free(m);
    return rc;
}

static void test_config_errors(ef_test *t) {
    char tmp[512];
    ef_test_tmpdir(tmp, sizeof tmp);
    EF_CHECK(t, tmp[0] != '\0');
    ef_err err = {0};
    static const struct { const char *json; ef_status want; const char *needle; } cases[] = {
        {"{" GOOD_CONFIG ", \"num_attention_heads\": 2, \"hidden_act\": \"relu\"}", EF_ERR_UNSUPPORTED,
         "unsupported text_encoder config: hidden_act=relu"},
        {"{" GOOD_CONFIG ", \"num_attention_heads\": 3}", EF_ERR_FORMAT, "'hidden_size' = 4 is not divisible by 'num_attention_heads' = 3"},
        {"{" GOOD_CONFIG "}", EF_ERR_FORMAT, "missing field 'num_attention_heads'"},
        {"{" GOOD_CONFIG ", \"num_attention_heads\": 0}", EF_ERR_FORMAT, "'num_attention_heads' = 0 out of range"},
        {"{\"vocab_size\": -1}", EF_ERR_FORMAT, "'vocab_size' = -1 out of range"},
        {"{" GOOD_CONFIG ", \"num_attention_heads\": 2, \"hidden_act\": 7}", EF_ERR_FORMAT, "'hidden_act' must be a string"},
        {"{" GOOD_CONFIG ", \"num_attention_heads\": 2, \"model_type\": \"t5\"}", EF_ERR_UNSUPPORTED, "model_type=t5"},
        {"{\"hidden_size\": 4.5}", EF_ERR_FORMAT, "vocab_size"},
        {"[1, 2]", EF_ERR_FORMAT, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ef_status rc = load_with_config(tmp, cases[i].json, &err);
        EF_CHECK_MSG(t, rc == cases[i].want, "case %zu: status %d, want %d (%s)", i, (int)rc, (int)cases[i].want, err.msg);
        EF_CHECK_MSG(t, strstr(err.msg, "config.json") && strstr(err.msg, cases[i].needle),
                     "case %zu: message '%s' lacks 'config.json' or '%s'", i, err.msg, cases[i].needle);
    }
    /* a good config with no weights: the weights loader's error */
    ef_status rc = load_with_config(tmp, "{" GOOD_CONFIG ", \"num_attention_heads\": 2}", &err);
    EF_CHECK_MSG(t, rc == EF_ERR_IO, "no weights: %d %s", (int)rc, err.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    remove(path);
    ef_clip_text *m = NULL;
    rc = ef_clip_text_load(tmp, NULL, 0, &m, &err);   /* no config.json at all */
    EF_CHECK_MSG(t, rc == EF_ERR_IO && strstr(err.msg, "config.json") && m == NULL, "no config: %d %s", (int)rc, err.msg);
    remove(tmp);
}

/* A safetensors file of F32 tensors (names, shapes) with values i * 0.01. */
typedef struct { const char *name; int64_t d0, d1; } tdesc;

static int write_st(const char *path, const tdesc *ts, int n) {
    char header[8192];
    size_t at = 0, off = 0;
    at += (size_t)snprintf(header + at, sizeof header - at, "{");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)(ts[i].d0 * (ts[i].d1 ? ts[i].d1 : 1)) * 4;
        if (ts[i].d1)
            at += (size_t)snprintf(header + at, sizeof header - at, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", ts[i].name, (long long)ts[i].d0, (long long)ts[i].d1, off, off + bytes);
        else
            at += (size_t)snprintf(header + at, sizeof header - at, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", ts[i].name, (long long)ts[i].d0, off, off + bytes);
        off += bytes;
    }
    at += (size_t)snprintf(header + at, sizeof header - at, "}");
    while (at % 8) header[at++] = ' ';
    size_t total = 8 + at + off;
    uint8_t *buf = calloc(1, total);
    for (int b = 0; b < 8; b++) buf[b] = (uint8_t)((uint64_t)at >> (8 * b));
    memcpy(buf + 8, header, at);
    float *data = (float *)malloc(off ? off : 4);
    for (size_t i = 0; i < off / 4; i++) data[i] = (float)(i % 97) * 0.01f;
    memcpy(buf + 8 + at, data, off);
    int ok = ef_test_write_file(path, buf, total);
    free(buf);
    free(data);
    return ok;
}

static void test_weight_errors(ef_test *t) {
    /* V=5, D=4, I=3, L=1, P=3, H=2 */
    tdesc ts[] = {
        {"text_model.embeddings.token_embedding.weight", 5, 4}, {"text_model.embeddings.position_embedding.weight", 3, 4},
        {"text_model.embeddings.position_ids", 1, 3},
        {"text_model.encoder.layers.0.layer_norm1.weight", 4, 0}, {"text_model.encoder.layers.0.layer_norm1.bias", 4, 0},
        {"text_model.encoder.layers.0.self_attn.q_proj.weight", 4, 4}, {"text_model.encoder.layers.0.self_attn.q_proj.bias", 4, 0},
        {"text_model.encoder.layers.0.self_attn.k_proj.weight", 4, 4}, {"text_model.encoder.layers.0.self_attn.k_proj.bias", 4, 0},
        {"text_model.encoder.layers.0.self_attn.v_proj.weight", 4, 4}, {"text_model.encoder.layers.0.self_attn.v_proj.bias", 4, 0},
        {"text_model.encoder.layers.0.self_attn.out_proj.weight", 4, 4}, {"text_model.encoder.layers.0.self_attn.out_proj.bias", 4, 0},
        {"text_model.encoder.layers.0.layer_norm2.weight", 4, 0}, {"text_model.encoder.layers.0.layer_norm2.bias", 4, 0},
        {"text_model.encoder.layers.0.mlp.fc1.weight", 3, 4}, {"text_model.encoder.layers.0.mlp.fc1.bias", 3, 0},
        {"text_model.encoder.layers.0.mlp.fc2.weight", 4, 3}, {"text_model.encoder.layers.0.mlp.fc2.bias", 4, 0},
        {"text_model.final_layer_norm.weight", 4, 0}, {"text_model.final_layer_norm.bias", 4, 0},
        {"text_model.text_projection.weight", 4, 4},   /* index 21: not part of CLIPTextModel */
    };
    const int n_all = (int)(sizeof ts / sizeof ts[0]);
    char tmp[512], cfg[600], st[600];
    ef_test_tmpdir(tmp, sizeof tmp);
    snprintf(cfg, sizeof cfg, "%s/config.json", tmp);
    snprintf(st, sizeof st, "%s/model.safetensors", tmp);
    const char *json = "{" GOOD_CONFIG ", \"num_attention_heads\": 2}";
    ef_test_write_file(cfg, json, strlen(json));
    ef_err err = {0};
    ef_clip_text *m = NULL;

    /* all needed tensors (+ the ignored position_ids): loads */
    write_st(st, ts, n_all - 1);
    ef_status rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "minimal model: %s", err.msg);
    EF_CHECK_INT(t, m ? ef_clip_text_n_params(m) : 0, 5 * 4 + 3 * 4 + 4 * 4 + 4 * (16 + 4) + 3 * 4 + 3 + 4 * 3 + 4 + 2 * 4);
    ef_clip_text_free(m);
    m = NULL;

    /* an extra tensor is refused by name */
    write_st(st, ts, n_all);
    rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_INT(t, rc, EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "unexpected") && strstr(err.msg, "text_projection.weight"), "msg: %s", err.msg);
    EF_CHECK(t, m == NULL);

    /* a missing tensor */
    tdesc missing[32];
    memcpy(missing, ts, sizeof ts);
    missing[8] = missing[n_all - 2];   /* drop k_proj.bias, keep the count with a duplicate-free list */
    write_st(st, missing, n_all - 2);
    rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_INT(t, rc, EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "missing tensor 'text_model.encoder.layers.0.self_attn.k_proj.bias'"), "msg: %s", err.msg);

    /* a shape the config does not imply */
    tdesc bad[32];
    memcpy(bad, ts, sizeof ts);
    bad[15].d0 = 5;   /* fc1.weight (5, 4) instead of (3, 4) */
    write_st(st, bad, n_all - 1);
    rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_INT(t, rc, EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "mlp.fc1.weight") && strstr(err.msg, "[5, 4]"), "msg: %s", err.msg);

    /* names without the prefix (transformers 5) load; a mix of both is refused */
    tdesc plain[32];
    for (int i = 0; i < n_all; i++) { plain[i] = ts[i]; plain[i].name = ts[i].name + strlen("text_model."); }
    write_st(st, plain, n_all - 1);
    rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "unprefixed: %s", err.msg);
    ef_clip_text_free(m);
    m = NULL;
    plain[n_all - 1] = ts[4];   /* text_model.encoder.layers.0.layer_norm1.bias beside the plain names */
    write_st(st, plain, n_all);
    rc = ef_clip_text_load(tmp, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_ERR_FORMAT && strstr(err.msg, "unexpected"), "mixed: %d %s", (int)rc, err.msg);

    remove(st);
    remove(cfg);
    remove(tmp);
}

const ef_test_case ef_suite_clip_text[] = {
    {"tiny_pipe", test_tiny_pipe},
    {"gelu_fp16", test_gelu_fp16},
    {"forward_args", test_forward_args},
    {"config_errors", test_config_errors},
    {"weight_errors", test_weight_errors},
    {0, 0},
};
