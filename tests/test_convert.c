/*
** test_convert.c -- narrow weight files: the safetensors writer (layout, metadata,
** streaming fill, errors), I8 + ".q8_scale" matrices in the weights layer (loaded as
** they are, dequantized, and every malformed variant refused by name), and ef_convert
** on the tiny-pipe fixture: each of f16, bf16, q8 loads by default in that type and
** generates the very image the original gives with that weight_type.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/platform.h"
#include "edgefusion.h"
#include "ef_test.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "kernels/wmat.h"
#include "model/unet.h"
#include "model/unet_internal.h"

/* ---- helpers ------------------------------------------------------------------------ */

/* Removes path and everything under it (test folders only). */
static void rm_tree(const char *path) {
    if (ef_path_is_dir(path)) {
        char **names = NULL;
        size_t n = 0;
        ef_err err;
        if (ef_dir_list(path, &names, &n, &err) == EF_OK) {
            for (size_t i = 0; i < n; i++) {
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, names[i]);
                rm_tree(sub);
            }
            ef_dir_list_free(names, n);
        }
    }
    remove(path);
}

static int file_exists(const char *dir, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return ef_path_is_file(p);
}

static int same_file(const char *a, const char *b) {
    ef_file_map x, y;
    ef_err err;
    if (ef_file_map_open(a, 0, &x, &err) != EF_OK) return 0;
    if (ef_file_map_open(b, 0, &y, &err) != EF_OK) { ef_file_map_close(&x); return 0; }
    int same = x.size == y.size && (x.size == 0 || memcmp(x.data, y.data, x.size) == 0);
    ef_file_map_close(&x);
    ef_file_map_close(&y);
    return same;
}

static void check_msg(ef_test *t, const char *what, ef_status rc, ef_status want, const char *msg, const char *s0,
                      const char *s1) {
    EF_CHECK_MSG(t, rc == want, "%s: status %d, want %d (%s)", what, (int)rc, (int)want, msg);
    if (s0) EF_CHECK_MSG(t, strstr(msg, s0) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s0);
    if (s1) EF_CHECK_MSG(t, strstr(msg, s1) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s1);
}

/* The 64x64 image of a fixed 2-step generation with folder dir (weight_type NULL = as
** stored), into rgb; the types it loaded into *text_wt / *unet_wt (static strings). */
static int generate(ef_test *t, const char *dir, const char *weight_type, uint8_t *rgb, size_t n, const char **text_wt,
                    const char **unet_wt) {
    ef_ctx_params p = ef_ctx_default_params();
    p.n_threads = 2;
    p.weight_type = weight_type;
    ef_ctx *ctx = NULL;
    char why[512];
    ef_status rc = ef_ctx_create(dir, &p, &ctx, why, sizeof why);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s (%s): %s", dir, weight_type ? weight_type : "as stored", why);
    if (!ctx) return 0;
    ef_model_info info;
    EF_CHECK(t, ef_ctx_model_info(ctx, &info) == EF_OK);
    *text_wt = info.text_weight_type;
    *unet_wt = info.unet_weight_type;
    ef_gen_params g = ef_gen_default_params();
    g.prompt = "a watercolor painting of a fox";
    g.n_steps = 2;
    g.seed = 7;
    rc = ef_generate(ctx, &g, rgb, n);
    EF_CHECK_MSG(t, rc == EF_OK, "generate %s: %s", dir, ef_ctx_errmsg(ctx));
    ef_ctx_free(ctx);
    return rc == EF_OK;
}

static void name_count(void *user, const char *name) {
    (void)name;
    (*(int *)user)++;
}

/* ---- the writer ------------------------------------------------------------------- */

typedef struct fill_state {
    int calls;
    int fail_at;   /* 1-based call that fails, 0 = none */
} fill_state;

static ef_status fill_ramp(void *user, const ef_st_out *o, void *dst, size_t nbytes, ef_err *err) {
    fill_state *s = user;
    if (++s->calls == s->fail_at) return ef_err_set(err, EF_ERR_FORMAT, "fill of '%s' failed", o->name);
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + 1);
    return EF_OK;
}

static void test_writer(ef_test *t) {
    char dir[256], path[512], tmp[600];
    ef_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    const float a[3] = {1.5f, -2.0f, 0.25f};
    const int8_t q[5] = {1, -2, 3, -127, 127};
    ef_st_out outs[4] = {
        {.name = "z.filled", .dtype = EF_DTYPE_F16, .ndim = 2, .shape = {3, 3}},
        {.name = "a.f32", .dtype = EF_DTYPE_F32, .ndim = 1, .shape = {3}, .data = a},
        {.name = "m.i8", .dtype = EF_DTYPE_I8, .ndim = 1, .shape = {5}, .data = q},
        {.name = "e.empty", .dtype = EF_DTYPE_F32, .ndim = 2, .shape = {0, 4}},
    };
    const char *meta[] = {"format", "pt", "edgefusion_type", "q8", NULL};
    fill_state fs = {0, 0};
    ef_err err;
    ef_err_clear(&err);
    EF_CHECK_MSG(t, ef_st_write(path, outs, 4, meta, fill_ramp, &fs, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_INT(t, fs.calls, 1);   /* only the one without data, not the empty one */
    EF_CHECK(t, !ef_path_is_file(tmp));
    ef_st_file *f = NULL;
    EF_CHECK_MSG(t, ef_st_open(path, 1, &f, &err) == EF_OK, "%s", err.msg);
    if (f) {
        EF_CHECK_INT(t, ef_st_count(f), 4);
        EF_CHECK(t, ef_st_metadata(f, "format") && strcmp(ef_st_metadata(f, "format"), "pt") == 0);
        EF_CHECK(t, ef_st_metadata(f, "edgefusion_type") && strcmp(ef_st_metadata(f, "edgefusion_type"), "q8") == 0);
        const ef_st_tensor *x = ef_st_find(f, "a.f32"), *m = ef_st_find(f, "m.i8"), *z = ef_st_find(f, "z.filled");
        EF_CHECK(t, x && x->dtype == EF_DTYPE_F32 && x->nbytes == 12 && memcmp(x->data, a, 12) == 0);
        EF_CHECK(t, m && m->dtype == EF_DTYPE_I8 && m->nbytes == 5 && memcmp(m->data, q, 5) == 0);
        EF_CHECK(t, z && z->dtype == EF_DTYPE_F16 && z->ndim == 2 && z->nbytes == 18 && z->data[17] == (uint8_t)(17 * 7 + 1));
        /* the layout: tensors back to back in name order (e.empty is zero bytes) */
        const uint8_t *base = x->data;
        EF_CHECK(t, m->data == base + 12 && z->data == base + 17);
        ef_st_close(f);
    }
    ef_file_map fm;
    if (ef_file_map_open(path, 0, &fm, &err) == EF_OK) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | fm.data[i];
        EF_CHECK_MSG(t, (8 + hl) % 8 == 0, "header length %llu", (unsigned long long)hl);
        static const char HEAD[] = "{\"__metadata__\":{\"format\":\"pt\",\"edgefusion_type\":\"q8\"},\"a.f32\":";
        EF_CHECK(t, fm.size > 8 + sizeof HEAD && memcmp(fm.data + 8, HEAD, sizeof HEAD - 1) == 0);
        EF_CHECK(t, fm.data[8 + hl - 1] == ' ' || fm.data[8 + hl - 1] == '}');
        EF_CHECK_INT(t, fm.size, 8 + hl + 12 + 0 + 5 + 18);
        ef_file_map_close(&fm);
    }

    /* errors: duplicate names, no data, a failing fill (the old file stays), a bad folder */
    ef_st_out dup[2] = {{.name = "x", .dtype = EF_DTYPE_I8, .ndim = 1, .shape = {1}, .data = q},
                        {.name = "x", .dtype = EF_DTYPE_I8, .ndim = 1, .shape = {1}, .data = q}};
    check_msg(t, "duplicate", ef_st_write(path, dup, 2, NULL, NULL, NULL, &err), EF_ERR_INVALID_ARG, err.msg,
              "duplicate tensor name 'x'", path);
    check_msg(t, "no data", ef_st_write(path, outs, 1, NULL, NULL, NULL, &err), EF_ERR_INVALID_ARG, err.msg,
              "'z.filled'", "no data");
    ef_st_out neg = {.name = "n", .dtype = EF_DTYPE_F32, .ndim = 1, .shape = {-1}, .data = a};
    check_msg(t, "negative dim", ef_st_write(path, &neg, 1, NULL, NULL, NULL, &err), EF_ERR_INVALID_ARG, err.msg, "'n'",
              "bad shape");
    ef_st_out big = {.name = "b", .dtype = EF_DTYPE_F32, .ndim = 3, .shape = {1ll << 40, 1ll << 40, 8}, .data = a};
    check_msg(t, "overflow", ef_st_write(path, &big, 1, NULL, NULL, NULL, &err), EF_ERR_INVALID_ARG, err.msg, "'b'", NULL);
    const char *bad_meta[] = {"k", "v", "k", "w", NULL};
    check_msg(t, "meta", ef_st_write(path, outs + 1, 1, bad_meta, NULL, NULL, &err), EF_ERR_INVALID_ARG, err.msg, "'k'",
              NULL);
    fs.calls = 0;
    fs.fail_at = 1;
    check_msg(t, "fill fails", ef_st_write(path, outs, 4, meta, fill_ramp, &fs, &err), EF_ERR_FORMAT, err.msg,
              "fill of 'z.filled' failed", NULL);
    EF_CHECK(t, !ef_path_is_file(tmp));
    EF_CHECK(t, ef_st_open(path, 0, &f, &err) == EF_OK && ef_st_count(f) == 4);   /* untouched */
    ef_st_close(f);
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no/such/x.safetensors", dir);
    check_msg(t, "no folder", ef_st_write(nodir, outs + 1, 1, NULL, NULL, NULL, &err), EF_ERR_IO, err.msg, nodir, NULL);
    rm_tree(dir);
}

/* ---- I8 + scale in the weights layer ---------------------------------------------- */

/* dir/model.safetensors from tensors (all with data), via the writer. */
static int put_weights(const char *dir, const ef_st_out *outs, size_t n) {
    char path[512];
    ef_err err;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return ef_st_write(path, outs, n, NULL, NULL, NULL, &err) == EF_OK;
}

static void test_q8_weights(ef_test *t) {
    char dir[256];
    ef_test_tmpdir(dir, sizeof dir);
    const int8_t q[6] = {1, -2, 3, 127, -127, 0};
    const float sc[2] = {0.5f, 0.25f}, sc3[3] = {1, 1, 1}, neg[2] = {0.5f, -1.0f};
    const float inf[2] = {0.5f, INFINITY};
    const uint16_t sc16[2] = {0x3800, 0x3400};
    const int64_t shape[2] = {2, 3};
    ef_err err;
    ef_weights *w = NULL;

    /* good: copied as is, dequantized, scale marked with its matrix (load and ignore) */
    ef_st_out good[3] = {
        {.name = "w", .dtype = EF_DTYPE_I8, .ndim = 2, .shape = {2, 3}, .data = q},
        {.name = "w.q8_scale", .dtype = EF_DTYPE_F32, .ndim = 1, .shape = {2}, .data = sc},
        {.name = "b", .dtype = EF_DTYPE_I8, .ndim = 1, .shape = {2}, .data = q},
    };
    EF_CHECK(t, put_weights(dir, good, 2));
    EF_CHECK_MSG(t, ef_weights_open(dir, NULL, 1, &w, &err) == EF_OK, "%s", err.msg);
    if (w) {
        int8_t gq[6] = {0};
        float gs[2] = {0}, f[6] = {0};
        EF_CHECK(t, ef_weights_find_scale(w, "w") == ef_weights_find(w, "w.q8_scale"));
        EF_CHECK_MSG(t, ef_weights_load_q8(w, "w", 2, shape, gq, gs, &err) == EF_OK, "%s", err.msg);
        EF_CHECK(t, memcmp(gq, q, 6) == 0 && gs[0] == 0.5f && gs[1] == 0.25f);
        EF_CHECK_MSG(t, ef_weights_check_all_used(w, &err) == EF_OK, "%s", err.msg);
        EF_CHECK_MSG(t, ef_weights_load_mat_f32(w, "w", 2, shape, f, &err) == EF_OK, "%s", err.msg);
        EF_CHECK(t, f[0] == 0.5f && f[1] == -1.0f && f[2] == 1.5f && f[3] == 31.75f && f[4] == -31.75f && f[5] == 0.0f);
        check_msg(t, "I8 as vector", ef_weights_load_f32(w, "w", 2, shape, f, &err), EF_ERR_FORMAT, err.msg,
                  "model.safetensors: tensor 'w' has dtype I8", "float weight is expected");
        ef_weights_free(w);
        w = NULL;
        EF_CHECK(t, ef_weights_open(dir, NULL, 0, &w, &err) == EF_OK);
        ef_weights_ignore(w, "w");
        EF_CHECK_MSG(t, ef_weights_check_all_used(w, &err) == EF_OK, "%s", err.msg);
        ef_weights_free(w);
        w = NULL;
    }

    /* scale missing: the matrix load names the matrix and the scale it lacks */
    EF_CHECK(t, put_weights(dir, good, 1));
    EF_CHECK(t, ef_weights_open(dir, NULL, 1, &w, &err) == EF_OK);
    if (w) {
        float f[6];
        check_msg(t, "scale missing", ef_weights_load_mat_f32(w, "w", 2, shape, f, &err), EF_ERR_FORMAT, err.msg,
                  "model.safetensors: tensor 'w' has dtype I8", "no scale tensor 'w.q8_scale'");
        ef_weights_free(w);
        w = NULL;
    }

    /* malformed at open: orphan scale, float partner, wrong shape, wrong dtype */
    static const struct { const char *what; int partner_i8, n; int64_t rows; ef_dtype dt; const char *s0, *s1; } BAD[] = {
        {"orphan scale", 1, 1, 2, EF_DTYPE_F32, "tensor 'w.q8_scale'", "no I8 matrix 'w'"},
        {"float partner", 0, 2, 2, EF_DTYPE_F32, "tensor 'w.q8_scale'", "it is not I8"},
        {"wrong shape", 1, 2, 3, EF_DTYPE_F32, "tensor 'w.q8_scale' has shape [3]", "its matrix has 2 rows"},
        {"wrong dtype", 1, 2, 2, EF_DTYPE_F16, "tensor 'w.q8_scale' has dtype F16", "F32"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const float fw[6] = {0};
        ef_st_out o[2] = {
            {.name = "w.q8_scale", .dtype = BAD[i].dt, .ndim = 1, .shape = {BAD[i].rows},
             .data = BAD[i].dt == EF_DTYPE_F16 ? (const void *)sc16 : (const void *)sc3},
            {.name = "w", .dtype = BAD[i].partner_i8 ? EF_DTYPE_I8 : EF_DTYPE_F32, .ndim = 2, .shape = {2, 3},
             .data = BAD[i].partner_i8 ? (const void *)q : (const void *)fw},
        };
        EF_CHECK(t, put_weights(dir, o, (size_t)BAD[i].n));
        ef_status rc = ef_weights_open(dir, NULL, 1, &w, &err);
        check_msg(t, BAD[i].what, rc, EF_ERR_FORMAT, err.msg, BAD[i].s0, BAD[i].s1);
        EF_CHECK(t, strstr(err.msg, "model.safetensors") != NULL);
        ef_weights_free(w);
        w = NULL;
    }

    /* bad values: negative or infinite scales, at load */
    for (int k = 0; k < 2; k++) {
        ef_st_out o[2] = {good[0], {.name = "w.q8_scale", .dtype = EF_DTYPE_F32, .ndim = 1, .shape = {2},
                                    .data = k ? inf : neg}};
        EF_CHECK(t, put_weights(dir, o, 2));
        EF_CHECK(t, ef_weights_open(dir, NULL, 1, &w, &err) == EF_OK);
        int8_t gq[6];
        float gs[2];
        if (w)
            check_msg(t, k ? "inf scale" : "negative scale", ef_weights_load_q8(w, "w", 2, shape, gq, gs, &err),
                      EF_ERR_FORMAT, err.msg, "tensor 'w.q8_scale' holds", "row 1");
        ef_weights_free(w);
        w = NULL;
    }
    rm_tree(dir);
}

/* ---- ef_convert ------------------------------------------------------------------------ */

static const char *const TYPES[3] = {"f16", "bf16", "q8"};
static const ef_dtype MAT_DTYPE[3] = {EF_DTYPE_F16, EF_DTYPE_BF16, EF_DTYPE_I8};

/* The converted unet file: every matrix in the type (+ F32 scales for q8), the rest F32. */
static void check_unet_file(ef_test *t, const char *out, int ti, const char *unet_in) {
    char path[600];
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", out);
    ef_st_file *f = NULL;
    ef_err err;
    EF_CHECK_MSG(t, ef_st_open(path, 1, &f, &err) == EF_OK, "%s", err.msg);
    if (!f) return;
    const char *et = ef_st_metadata(f, "edgefusion_type"), *fmt = ef_st_metadata(f, "format");
    EF_CHECK(t, et && strcmp(et, TYPES[ti]) == 0 && fmt && strcmp(fmt, "pt") == 0);
    int n_mats = 0, n_narrow = 0, n_scales = 0, n_f32 = 0;
    EF_CHECK(t, ef_unet_visit_matrices(unet_in, name_count, &n_mats, &err) == EF_OK);
    for (size_t i = 0; i < ef_st_count(f); i++) {
        const ef_st_tensor *x = ef_st_at(f, i);
        size_t l = strlen(x->name);
        if (x->dtype == MAT_DTYPE[ti]) {
            n_narrow++;
            EF_CHECK_MSG(t, x->ndim == 2 || x->ndim == 4, "'%s' has %d dims", x->name, x->ndim);
        } else if (l > 9 && strcmp(x->name + l - 9, ".q8_scale") == 0) {
            n_scales++;
            EF_CHECK(t, x->dtype == EF_DTYPE_F32 && x->ndim == 1);
        } else {
            n_f32 += x->dtype == EF_DTYPE_F32;
            EF_CHECK_MSG(t, x->dtype == EF_DTYPE_F32 && x->ndim == 1, "'%s': %s, %d dims", x->name,
                         ef_dtype_name(x->dtype), x->ndim);
        }
    }
    EF_CHECK_MSG(t, n_narrow == n_mats && n_mats > 50, "%d %s tensors, %d matrices", n_narrow, TYPES[ti], n_mats);
    EF_CHECK_INT(t, n_scales, ti == 2 ? n_mats : 0);
    EF_CHECK(t, n_f32 > 50);
    ef_st_close(f);
}

/* tiny-pipe -> f16, bf16, q8: complete folders, the matrices in the type, loaded as that
** type by default, the same image as the original loaded with that weight_type. */
static void test_convert_types(ef_test *t) {
    char in[512], tmp[256], out[512], unet_in[600], a[700], b[700];
    ef_fixture_path(in, sizeof in, "tiny-pipe");
    snprintf(unet_in, sizeof unet_in, "%s/unet", in);
    ef_test_tmpdir(tmp, sizeof tmp);
    size_t n = ef_rgb_size(64, 64);
    uint8_t *want = malloc(n), *got = malloc(n);
    for (int ti = 0; ti < 3; ti++) {
        snprintf(out, sizeof out, "%s/%s", tmp, TYPES[ti]);
        ef_convert_params p = ef_convert_default_params();
        p.weight_type = TYPES[ti];
        char why[512] = "";
        ef_status rc = ef_convert(in, out, &p, why, sizeof why);
        EF_CHECK_MSG(t, rc == EF_OK, "convert %s: %s", TYPES[ti], why);
        if (rc != EF_OK) continue;
        static const char *const COPIED[] = {"model_index.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
                                             "scheduler/scheduler_config.json", "text_encoder/config.json",
                                             "unet/config.json", "vae/config.json",
                                             "vae/diffusion_pytorch_model.safetensors"};
        for (size_t i = 0; i < sizeof COPIED / sizeof COPIED[0]; i++) {
            snprintf(a, sizeof a, "%s/%s", in, COPIED[i]);
            snprintf(b, sizeof b, "%s/%s", out, COPIED[i]);
            EF_CHECK_MSG(t, same_file(a, b), "%s: %s not copied as it is", TYPES[ti], COPIED[i]);
        }
        EF_CHECK(t, file_exists(out, "text_encoder/model.safetensors"));
        EF_CHECK(t, !file_exists(out, "unet/diffusion_pytorch_model.safetensors.tmp"));
        check_unet_file(t, out, ti, unet_in);

        const char *tw = NULL, *uw = NULL, *tw0 = NULL, *uw0 = NULL;
        if (!generate(t, in, TYPES[ti], want, n, &tw0, &uw0) || !generate(t, out, NULL, got, n, &tw, &uw)) continue;
        EF_CHECK_MSG(t, tw && uw && strcmp(tw, TYPES[ti]) == 0 && strcmp(uw, TYPES[ti]) == 0, "%s: loaded as %s / %s",
                     TYPES[ti], tw ? tw : "?", uw ? uw : "?");
        EF_CHECK_MSG(t, memcmp(want, got, n) == 0, "%s: the converted folder's image differs", TYPES[ti]);
        /* an explicit weight_type still wins */
        EF_CHECK(t, generate(t, out, "f32", got, n, &tw, &uw) && strcmp(tw, "f32") == 0 && strcmp(uw, "f32") == 0);
    }
    /* the f32 original loads as f32 by default */
    const char *tw = NULL, *uw = NULL;
    EF_CHECK(t, generate(t, in, NULL, got, n, &tw, &uw) && strcmp(tw, "f32") == 0 && strcmp(uw, "f32") == 0);
    free(want);
    free(got);
    rm_tree(tmp);
}

/* Converting a q8 folder: to q8 again copies the int8 data and scales (the same file),
** to f16 dequantizes (the same model as the q8 folder loaded with weight_type f16). */
static void test_convert_from_q8(ef_test *t) {
    char in[512], tmp[256], q8[512], q8b[512], f16[512], a[700], b[700], why[512] = "";
    ef_fixture_path(in, sizeof in, "tiny-pipe");
    ef_test_tmpdir(tmp, sizeof tmp);
    snprintf(q8, sizeof q8, "%s/q8", tmp);
    snprintf(q8b, sizeof q8b, "%s/q8b", tmp);
    snprintf(f16, sizeof f16, "%s/f16", tmp);
    ef_convert_params p = ef_convert_default_params();
    p.weight_type = "q8";
    EF_CHECK_MSG(t, ef_convert(in, q8, &p, why, sizeof why) == EF_OK, "%s", why);
    EF_CHECK_MSG(t, ef_convert(q8, q8b, &p, why, sizeof why) == EF_OK, "%s", why);
    p.weight_type = "f16";
    EF_CHECK_MSG(t, ef_convert(q8, f16, &p, why, sizeof why) == EF_OK, "%s", why);
    static const char *const FILES[] = {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", q8, FILES[i]);
        snprintf(b, sizeof b, "%s/%s", q8b, FILES[i]);
        EF_CHECK_MSG(t, same_file(a, b), "q8 -> q8: %s changed", FILES[i]);
    }
    size_t n = ef_rgb_size(64, 64);
    uint8_t *want = malloc(n), *got = malloc(n);
    const char *tw, *uw;
    if (generate(t, q8, "f16", want, n, &tw, &uw) && generate(t, f16, NULL, got, n, &tw, &uw)) {
        EF_CHECK(t, strcmp(tw, "f16") == 0 && strcmp(uw, "f16") == 0);
        EF_CHECK(t, memcmp(want, got, n) == 0);
    }
    free(want);
    free(got);
    rm_tree(tmp);
}

/* A q8 UNet file loads the same with the file re-mapped before every tensor (the
** unexpected-tensor check then re-marks every matrix, and with it its scale), mmapped
** or read; as stored it is q8, and explicitly q8 too. */
static void test_unet_q8_remap(ef_test *t) {
    char in[512], tmp[256], out[512], unet[600], why[512] = "";
    ef_fixture_path(in, sizeof in, "tiny-pipe");
    ef_test_tmpdir(tmp, sizeof tmp);
    snprintf(out, sizeof out, "%s/q8", tmp);
    snprintf(unet, sizeof unet, "%s/unet", out);
    ef_convert_params p = ef_convert_default_params();
    p.weight_type = "q8";
    EF_CHECK_MSG(t, ef_convert(in, out, &p, why, sizeof why) == EF_OK, "%s", why);
    ef_err err = {0};
    ef_unet *a = NULL, *b = NULL, *c = NULL;
    EF_CHECK_MSG(t, ef_unet_load_typed(unet, NULL, 1, (ef_wtype)EF_W_FROM_FILE, &a, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_MSG(t, ef_unet_load_remap(unet, NULL, 1, 1, (ef_wtype)EF_W_FROM_FILE, &b, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_MSG(t, ef_unet_load_remap(unet, NULL, 0, 1, EF_W_Q8, &c, &err) == EF_OK, "%s", err.msg);
    if (a && b && c) {
        EF_CHECK(t, ef_unet_wtype(a) == EF_W_Q8 && ef_unet_wtype(b) == EF_W_Q8 && ef_unet_wtype(c) == EF_W_Q8);
        EF_CHECK(t, a->mats_bytes == b->mats_bytes && a->mats_bytes == c->mats_bytes);
        EF_CHECK(t, memcmp(a->mats, b->mats, a->mats_bytes) == 0 && memcmp(a->mats, c->mats, a->mats_bytes) == 0);
        EF_CHECK(t, memcmp(a->weights, b->weights, (size_t)a->n_vec * sizeof(float)) == 0);
    }
    ef_unet_free(a);
    ef_unet_free(b);
    ef_unet_free(c);
    /* the original, loaded as q8: the same blob (the converter quantizes as the loader does) */
    char unet0[600];
    snprintf(unet0, sizeof unet0, "%s/unet", in);
    EF_CHECK(t, ef_unet_load_typed(unet0, NULL, 1, EF_W_Q8, &a, &err) == EF_OK);
    EF_CHECK(t, ef_unet_load_typed(unet, NULL, 1, EF_W_Q8, &b, &err) == EF_OK);
    if (a && b) EF_CHECK(t, a->mats_bytes == b->mats_bytes && memcmp(a->mats, b->mats, a->mats_bytes) == 0);
    ef_unet_free(a);
    ef_unet_free(b);
    rm_tree(tmp);
}

/* Rewrites dir/unet's weights with edit applied to the tensor list (0: a bias as I8 +
** scale; 1: a matrix's scale dropped). */
static int tamper(const char *dir, int edit) {
    char path[600], path2[620];
    snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    snprintf(path2, sizeof path2, "%s.orig", path);
    if (rename(path, path2) != 0) return 0;
    ef_st_file *f = NULL;
    ef_err err;
    if (ef_st_open(path2, 0, &f, &err) != EF_OK) return 0;
    size_t n = ef_st_count(f), m = 0;
    ef_st_out *o = calloc(n + 1, sizeof *o);
    static const int8_t Q[4096];
    static const float ONE[4096] = {1};
    for (size_t i = 0; o && i < n; i++) {
        const ef_st_tensor *x = ef_st_at(f, i);
        if (edit == 1 && strcmp(x->name, "conv_in.weight.q8_scale") == 0) continue;
        ef_st_out *y = &o[m++];
        y->name = x->name;
        y->dtype = x->dtype;
        y->ndim = x->ndim;
        memcpy(y->shape, x->shape, sizeof y->shape);
        y->data = x->data;
        if (edit == 0 && strcmp(x->name, "conv_in.bias") == 0 && x->shape[0] <= 4096) {
            y->dtype = EF_DTYPE_I8;
            y->data = Q;
            ef_st_out *s = &o[m++];
            s->name = "conv_in.bias.q8_scale";
            s->dtype = EF_DTYPE_F32;
            s->ndim = 1;
            s->shape[0] = x->shape[0];
            s->data = ONE;
        }
    }
    int ok = o && ef_st_write(path, o, m, NULL, NULL, NULL, &err) == EF_OK;
    free(o);
    ef_st_close(f);
    remove(path2);
    return ok;
}

/* Malformed q8 folders fail to load with the file and tensor named. */
static void test_convert_malformed(ef_test *t) {
    char in[512], tmp[256], out[512], why[512];
    ef_fixture_path(in, sizeof in, "tiny-pipe");
    ef_test_tmpdir(tmp, sizeof tmp);
    static const struct { const char *s0, *s1; } WANT[2] = {
        {"unet/diffusion_pytorch_model.safetensors: tensor 'conv_in.bias' has dtype I8", "a float weight is expected"},
        {"unet/diffusion_pytorch_model.safetensors: tensor 'conv_in.weight' has dtype I8",
         "no scale tensor 'conv_in.weight.q8_scale'"},
    };
    for (int edit = 0; edit < 2; edit++) {
        snprintf(out, sizeof out, "%s/q8_%d", tmp, edit);
        ef_convert_params p = ef_convert_default_params();
        p.weight_type = "q8";
        EF_CHECK_MSG(t, ef_convert(in, out, &p, why, sizeof why) == EF_OK, "%s", why);
        EF_CHECK(t, tamper(out, edit));
        for (int k = 0; k < 2; k++) {   /* into a q8 model and into an f32 one */
            ef_ctx_params cp = ef_ctx_default_params();
            cp.weight_type = k ? "f32" : NULL;
            ef_ctx *ctx = NULL;
            ef_status rc = ef_ctx_create(out, &cp, &ctx, why, sizeof why);
            check_msg(t, edit ? "scale missing" : "I8 vector", rc, EF_ERR_FORMAT, why, WANT[edit].s0, WANT[edit].s1);
            ef_ctx_free(ctx);
        }
        /* and converting it again refuses the same way */
        char again[600];
        snprintf(again, sizeof again, "%s/again_%d", tmp, edit);
        ef_convert_params p2 = ef_convert_default_params();
        p2.weight_type = "f16";
        ef_status rc = ef_convert(out, again, &p2, why, sizeof why);
        check_msg(t, "convert malformed", rc, EF_ERR_FORMAT, why, edit ? "no scale tensor" : "'conv_in.bias'", NULL);
    }
    rm_tree(tmp);
}

/* Argument errors and the output folder rules. */
static void test_convert_refuses(ef_test *t) {
    char in[512], tmp[256], out[512], why[512], marker[600];
    ef_fixture_path(in, sizeof in, "tiny-pipe");
    ef_test_tmpdir(tmp, sizeof tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    ef_convert_params p = ef_convert_default_params();
    static const char *const BAD_TYPES[] = {NULL, "f32", "q4", ""};
    for (size_t i = 0; i < sizeof BAD_TYPES / sizeof BAD_TYPES[0]; i++) {
        p.weight_type = BAD_TYPES[i];
        check_msg(t, "bad type", ef_convert(in, out, &p, why, sizeof why), EF_ERR_INVALID_ARG, why, "weight_type",
                  "f16, bf16, q8");
    }
    p.weight_type = "q8";
    p.variant = "int3";
    check_msg(t, "bad variant", ef_convert(in, out, &p, why, sizeof why), EF_ERR_INVALID_ARG, why, "variant 'int3'", NULL);
    p.variant = NULL;
    check_msg(t, "no input", ef_convert("/nonexistent/pipe", out, &p, why, sizeof why), EF_ERR_IO, why,
              "/nonexistent/pipe", NULL);
    check_msg(t, "null", ef_convert(NULL, out, &p, why, sizeof why), EF_ERR_INVALID_ARG, why, "required", NULL);
    /* an existing non-empty folder needs overwrite; an empty one is fine */
    EF_CHECK(t, mkdir(out, 0700) == 0);
    snprintf(marker, sizeof marker, "%s/keep.txt", out);
    EF_CHECK(t, ef_test_write_file(marker, "x", 1));
    check_msg(t, "not empty", ef_convert(in, out, &p, why, sizeof why), EF_ERR_INVALID_ARG, why, out, "not empty");
    EF_CHECK(t, !file_exists(out, "model_index.json"));
    p.overwrite = 1;
    EF_CHECK_MSG(t, ef_convert(in, out, &p, why, sizeof why) == EF_OK, "%s", why);
    EF_CHECK(t, file_exists(out, "model_index.json") && ef_path_is_file(marker));
    p.overwrite = 0;
    remove(marker);
    rm_tree(out);
    EF_CHECK(t, mkdir(out, 0700) == 0);
    EF_CHECK_MSG(t, ef_convert(in, out, &p, why, sizeof why) == EF_OK, "empty folder: %s", why);
    /* a taesd/ folder beside the pipeline is copied */
    char in2[600], taesd[700];
    snprintf(in2, sizeof in2, "%s/with_taesd", tmp);
    snprintf(out, sizeof out, "%s/out2", tmp);
    p.weight_type = "f16";
    EF_CHECK(t, ef_convert(in, in2, &p, why, sizeof why) == EF_OK);
    snprintf(taesd, sizeof taesd, "%s/taesd", in2);
    EF_CHECK(t, mkdir(taesd, 0700) == 0);
    snprintf(taesd, sizeof taesd, "%s/taesd/config.json", in2);
    EF_CHECK(t, ef_test_write_file(taesd, "{}", 2));
    EF_CHECK_MSG(t, ef_convert(in2, out, &p, why, sizeof why) == EF_OK, "%s", why);
    EF_CHECK(t, file_exists(out, "taesd/config.json"));
    rm_tree(tmp);
}

const ef_test_case ef_suite_convert[] = {
    {"writer", test_writer},
    {"q8_weights", test_q8_weights},
    {"types", test_convert_types},
    {"from_q8", test_convert_from_q8},
    {"unet_q8_remap", test_unet_q8_remap},
    {"malformed", test_convert_malformed},
    {"refuses", test_convert_refuses},
    {0, 0},
};
