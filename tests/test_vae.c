/*
** test_vae.c -- the VAE decoders and encoders against diffusers (fixtures from
** scripts/golden/vae.py), with 1 and 2 threads; tiled decoding; the --taesd path
** forms; config, weight and argument errors; the image and latent conventions.
**
** Fixtures: vae-kl-tiny/vae (AutoencoderKL [16,32,32], downscale 4) and
** taesd-tiny/vae + taesd-tiny/taesd_{encoder,decoder}.safetensors (AutoencoderTiny,
** 16 channels, the same weights in diffusers' and madebyollin's naming), each with a
** reference.safetensors. Tolerance (STYLE.md 3.12): NMSE <= 1e-6 and max_abs <= 1e-4.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/platform.h"
#include "core/threadpool.h"
#include "ef_test.h"
#include "io/safetensors.h"
#include "model/vae.h"

#define ATOL 1e-4
#define NMSE_MAX 1e-6

/* A reference tensor as floats (copy) with its element count; NULL if absent. */
static float *ref_f32(const ef_st_file *f, const char *name, size_t *n) {
    const ef_st_tensor *t = ef_st_find(f, name);
    if (!t || t->dtype != EF_DTYPE_F32) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    *n = t->nbytes / 4;
    return p;
}

static const ef_st_tensor *ref_t(const ef_st_file *f, const char *name) { return ef_st_find(f, name); }

static ef_st_file *open_ref(ef_test *t, const char *rel) {
    char p[512];
    ef_fixture_path(p, sizeof p, rel);
    ef_err err = {0};
    ef_st_file *f = NULL;
    ef_status rc = ef_st_open(p, 1, &f, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "reference %s: %s", p, err.msg);
    return f;
}

static ef_vae *load_vae(ef_test *t, const char *rel, unsigned parts) {
    char p[512];
    ef_fixture_path(p, sizeof p, rel);
    ef_err err = {0};
    ef_vae *v = NULL;
    ef_status rc = ef_vae_load(p, NULL, 1, parts, &v, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s: %s", p, err.msg);
    return v;
}

/* Fails unless got matches want within the house tolerance; prints the numbers. */
static void check_tensor(ef_test *t, const char *label, const float *got, const float *want, size_t n) {
    ef_cmp c = ef_compare(got, want, n);
    EF_CHECK_CLOSE(t, label, got, want, n, ATOL);
    EF_CHECK_MSG(t, c.nmse <= NMSE_MAX, "%s: nmse %.3g > %g", label, c.nmse, NMSE_MAX);
    printf("    %-40s max_abs %.3g  nmse %.3g\n", label, c.max_abs, c.nmse);
}

/* Runs case `name` (decN / tiledN): decode with nth threads, returns the output. */
static float *run_decode(ef_test *t, ef_vae *v, const ef_st_file *rf, const char *name, int nth, int tiled,
                         size_t *n_img) {
    char key[64];
    snprintf(key, sizeof key, "%s.latent", name);
    const ef_st_tensor *zt = ref_t(rf, key);
    EF_CHECK_MSG(t, zt && zt->ndim == 3, "reference %s missing", key);
    if (!zt || zt->ndim != 3) return NULL;
    size_t nz;
    float *z = ref_f32(rf, key, &nz);
    const int64_t h = zt->shape[1], w = zt->shape[2], f = ef_vae_downscale(v);
    *n_img = (size_t)(ef_vae_image_channels_out(v) * h * f * w * f);
    float *img = malloc(*n_img * sizeof *img);
    ef_err err = {0};
    ef_pool *pool = NULL;
    ef_pool_create(nth, &pool, &err);
    ef_status rc;
    if (tiled) {
        snprintf(key, sizeof key, "%s.tiling", name);
        const ef_st_tensor *tt = ref_t(rf, key);
        ef_vae_tiling tl = {8, 2};
        if (tt && tt->dtype == EF_DTYPE_I32 && tt->nbytes == 8) {
            int32_t tv[2];
            memcpy(tv, tt->data, 8);
            tl.tile = tv[0];
            tl.overlap = tv[1];
        }
        rc = ef_vae_decode_tiled(v, pool, NULL, z, h, w, &tl, img, &err);
    } else {
        rc = ef_vae_decode(v, pool, NULL, z, h, w, img, &err);
    }
    EF_CHECK_MSG(t, rc == EF_OK, "decode %s: %s", name, err.msg);
    ef_pool_free(pool);
    free(z);
    return img;
}

/* decode cases of a fixture, 1 and 2 threads, identical across thread counts. */
static void check_decodes(ef_test *t, ef_vae *v, const ef_st_file *rf, const char *fix, const char *prefix,
                          int tiled) {
    for (int i = 0;; i++) {
        char name[32], key[64], label[128];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        snprintf(key, sizeof key, "%s.image", name);
        size_t n_want = 0, n1 = 0, n2 = 0;
        float *want = ref_f32(rf, key, &n_want);
        if (!want) {
            EF_CHECK_MSG(t, i > 0, "%s: no %s cases", fix, prefix);
            break;
        }
        float *g1 = run_decode(t, v, rf, name, 1, tiled, &n1);
        float *g2 = run_decode(t, v, rf, name, 2, tiled, &n2);
        EF_CHECK_INT(t, n1, n_want);
        if (g1 && g2 && n1 == n_want) {
            snprintf(label, sizeof label, "%s %s", fix, name);
            check_tensor(t, label, g1, want, n_want);
            EF_CHECK_MSG(t, memcmp(g1, g2, n1 * sizeof *g1) == 0, "%s: 1 and 2 threads differ", label);
        }
        free(g1);
        free(g2);
        free(want);
    }
}

/* encode case: mean (noise NULL) and, for KL, the sample with the stored noise. */
static void check_encode(ef_test *t, ef_vae *v, const ef_st_file *rf, const char *fix) {
    const ef_st_tensor *it = ref_t(rf, "enc.image");
    EF_CHECK(t, it && it->ndim == 3);
    if (!it || it->ndim != 3) return;
    size_t n_img, n_mean, n_noise = 0, n_sample = 0;
    float *img = ref_f32(rf, "enc.image", &n_img);
    float *mean = ref_f32(rf, "enc.mean", &n_mean);
    float *noise = ref_f32(rf, "enc.noise", &n_noise);
    float *sample = ref_f32(rf, "enc.sample", &n_sample);
    float *got = malloc(n_mean * sizeof *got), *got2 = malloc(n_mean * sizeof *got);
    const int64_t H = it->shape[1], W = it->shape[2];
    ef_err err = {0};
    for (int nth = 1; nth <= 2; nth++) {
        ef_pool *pool = NULL;
        ef_pool_create(nth, &pool, &err);
        ef_status rc = ef_vae_encode(v, pool, NULL, img, H, W, NULL, nth == 1 ? got : got2, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "encode: %s", err.msg);
        ef_pool_free(pool);
    }
    char label[128];
    snprintf(label, sizeof label, "%s enc.mean", fix);
    check_tensor(t, label, got, mean, n_mean);
    EF_CHECK_MSG(t, memcmp(got, got2, n_mean * sizeof *got) == 0, "%s: 1 and 2 threads differ", label);
    if (noise && sample) {
        ef_status rc = ef_vae_encode(v, NULL, NULL, img, H, W, noise, got, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "encode: %s", err.msg);
        snprintf(label, sizeof label, "%s enc.sample", fix);
        check_tensor(t, label, got, sample, n_sample);
    }
    free(img);
    free(mean);
    free(noise);
    free(sample);
    free(got);
    free(got2);
}

static void test_kl_decode(ef_test *t) {
    ef_vae *v = load_vae(t, "vae-kl-tiny/vae", EF_VAE_BOTH);
    ef_st_file *rf = open_ref(t, "vae-kl-tiny/reference.safetensors");
    if (v && rf) {
        EF_CHECK_INT(t, ef_vae_get_kind(v), EF_VAE_KL);
        EF_CHECK_INT(t, ef_vae_downscale(v), 4);
        EF_CHECK_INT(t, ef_vae_n_params(v, EF_VAE_BOTH), 242327);
        EF_CHECK_NEAR(t, ef_vae_scaling_factor(v), 0.18215, 1e-12);
        check_decodes(t, v, rf, "vae-kl-tiny", "dec", 0);
    }
    ef_st_close(rf);
    ef_vae_free(v);
}

static void test_kl_encode(ef_test *t) {
    ef_vae *v = load_vae(t, "vae-kl-tiny/vae", EF_VAE_ENCODER);
    ef_st_file *rf = open_ref(t, "vae-kl-tiny/reference.safetensors");
    if (v && rf) {
        check_encode(t, v, rf, "vae-kl-tiny");
        /* the decoder half was skipped: decoding is refused */
        float z[4 * 2 * 2] = {0}, img[3 * 8 * 8];
        ef_err err = {0};
        EF_CHECK_INT(t, ef_vae_decode(v, NULL, NULL, z, 2, 2, img, &err), EF_ERR_INVALID_ARG);
        EF_CHECK(t, strstr(err.msg, "decoder was not loaded") != NULL);
        EF_CHECK(t, ef_vae_n_params(v, EF_VAE_ENCODER) < ef_vae_n_params(v, EF_VAE_BOTH));
    }
    ef_st_close(rf);
    ef_vae_free(v);
}

/* Max difference in /255 units after quantization to RGB8 (VaeImageProcessor). */
static int max_pixel_diff(const float *a, const float *b, int64_t C, int64_t H, int64_t W) {
    size_t n = (size_t)(C * H * W);
    uint8_t *qa = malloc(n), *qb = malloc(n);
    ef_vae_image_to_rgb8(a, C, H, W, qa);
    ef_vae_image_to_rgb8(b, C, H, W, qb);
    int m = 0;
    for (size_t i = 0; i < n; i++) { int d = abs((int)qa[i] - (int)qb[i]); if (d > m) m = d; }
    free(qa);
    free(qb);
    return m;
}

/* Tiled decodes vs diffusers, and how far tiling moves them from the whole decode. */
static void check_tiled(ef_test *t, const char *fix_dir, const char *fix) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/vae", fix_dir);
    ef_vae *v = load_vae(t, rel, EF_VAE_DECODER);
    snprintf(rel, sizeof rel, "%s/reference.safetensors", fix_dir);
    ef_st_file *rf = open_ref(t, rel);
    if (v && rf) {
        check_decodes(t, v, rf, fix, "tiled", 1);
        size_t n_img;
        const ef_st_tensor *zt = ref_t(rf, "tiled0.latent");
        float *tiled = run_decode(t, v, rf, "tiled0", 1, 1, &n_img);
        float *whole = run_decode(t, v, rf, "tiled0", 1, 0, &n_img);
        if (tiled && whole && zt) {
            const int64_t f = ef_vae_downscale(v);
            printf("    %s tiled0 vs untiled (random weights, 8-latent tiles): max %d/255\n", fix,
                   max_pixel_diff(tiled, whole, 3, zt->shape[1] * f, zt->shape[2] * f));
        }
        free(tiled);
        free(whole);
    }
    ef_st_close(rf);
    ef_vae_free(v);
}

static void test_kl_tiled(ef_test *t) { check_tiled(t, "vae-kl-tiny", "vae-kl-tiny"); }
static void test_taesd_tiled(ef_test *t) { check_tiled(t, "taesd-tiny", "taesd-tiny"); }

static void test_tiling_args(ef_test *t) {
    ef_vae *v = load_vae(t, "vae-kl-tiny/vae", EF_VAE_DECODER);
    if (!v) return;
    enum { h = 6, w = 5 };
    float z[4 * h * w], a[3 * 24 * 20], b[3 * 24 * 20];
    ef_test_fill_random(z, sizeof z / sizeof z[0], 7);
    ef_err err = {0};
    /* one tile: identical to the plain decode */
    ef_vae_tiling one = {8, 2};
    EF_CHECK_INT(t, ef_vae_decode(v, NULL, NULL, z, h, w, a, &err), EF_OK);
    EF_CHECK_INT(t, ef_vae_decode_tiled(v, NULL, NULL, z, h, w, &one, b, &err), EF_OK);
    EF_CHECK(t, memcmp(a, b, sizeof a) == 0);
    /* overlap 0: tiles abut, every pixel comes from exactly one tile */
    ef_vae_tiling abut = {3, 0};
    EF_CHECK_INT(t, ef_vae_decode_tiled(v, NULL, NULL, z, h, w, &abut, b, &err), EF_OK);
    EF_CHECK(t, isfinite(b[0]) && isfinite(b[sizeof b / sizeof b[0] - 1]));
    /* the workspace does not grow on a second call of the same size */
    size_t ws = ef_vae_workspace_bytes(v);
    EF_CHECK_INT(t, ef_vae_decode_tiled(v, NULL, NULL, z, h, w, &abut, b, &err), EF_OK);
    EF_CHECK_INT(t, ef_vae_workspace_bytes(v), ws);
    ef_vae_release_workspace(v);
    EF_CHECK_INT(t, ef_vae_workspace_bytes(v), 0);
    static const ef_vae_tiling BAD[] = {{0, 0}, {4, 3}, {4, -1}, {5000, 0}};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        EF_CHECK_INT(t, ef_vae_decode_tiled(v, NULL, NULL, z, h, w, &BAD[i], b, &err), EF_ERR_INVALID_ARG);
        EF_CHECK(t, strstr(err.msg, "tiling") != NULL);
    }
    EF_CHECK_INT(t, ef_vae_decode(v, NULL, NULL, z, 0, w, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_vae_decode(v, NULL, NULL, NULL, h, w, a, &err), EF_ERR_INVALID_ARG);
    ef_vae_tiling d = ef_vae_tiling_default();
    EF_CHECK(t, d.tile == 32 && d.overlap == 8);
    ef_vae_free(v);
}

static void test_taesd_diffusers(ef_test *t) {
    ef_vae *v = load_vae(t, "taesd-tiny/vae", EF_VAE_BOTH);
    ef_st_file *rf = open_ref(t, "taesd-tiny/reference.safetensors");
    if (v && rf) {
        EF_CHECK_INT(t, ef_vae_get_kind(v), EF_VAE_TINY);
        EF_CHECK_INT(t, ef_vae_downscale(v), 8);
        EF_CHECK_INT(t, ef_vae_n_params(v, EF_VAE_DECODER), 77539);
        EF_CHECK_INT(t, ef_vae_n_params(v, EF_VAE_ENCODER), 77540);
        EF_CHECK_NEAR(t, ef_vae_scaling_factor(v), 1.0, 0);
        check_decodes(t, v, rf, "taesd-tiny", "dec", 0);
        check_encode(t, v, rf, "taesd-tiny");
    }
    ef_st_close(rf);
    ef_vae_free(v);
}

/* decode case dec0 through a --taesd path; want_parts loaded. */
static void check_taesd_path(ef_test *t, const ef_st_file *rf, const char *rel, unsigned parts) {
    char p[512];
    ef_fixture_path(p, sizeof p, rel);
    ef_err err = {0};
    ef_vae *v = NULL;
    ef_status rc = ef_vae_load_taesd(p, 1, parts, &v, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "--taesd %s: %s", p, err.msg);
    if (!v) return;
    EF_CHECK_INT(t, ef_vae_get_kind(v), EF_VAE_TINY);
    EF_CHECK_INT(t, ef_vae_latent_channels(v), 4);
    if (parts & EF_VAE_DECODER) {
        size_t n_img, n_want;
        float *got = run_decode(t, v, rf, "dec1", 1, 0, &n_img);
        float *want = ref_f32(rf, "dec1.image", &n_want);
        char label[600];
        snprintf(label, sizeof label, "--taesd %s dec1", rel);
        if (got && want && n_img == n_want) check_tensor(t, label, got, want, n_want);
        free(got);
        free(want);
    }
    if (parts & EF_VAE_ENCODER) {
        char label[600];
        snprintf(label, sizeof label, "--taesd %s", rel);
        check_encode(t, v, rf, label);
    }
    ef_vae_free(v);
}

static void test_taesd_paths(ef_test *t) {
    ef_st_file *rf = open_ref(t, "taesd-tiny/reference.safetensors");
    if (!rf) return;
    check_taesd_path(t, rf, "taesd-tiny", EF_VAE_BOTH);                               /* madebyollin's two files */
    check_taesd_path(t, rf, "taesd-tiny", EF_VAE_DECODER);
    check_taesd_path(t, rf, "taesd-tiny/taesd_decoder.safetensors", EF_VAE_DECODER);  /* one file, F16 */
    check_taesd_path(t, rf, "taesd-tiny/taesd_encoder.safetensors", EF_VAE_ENCODER);
    check_taesd_path(t, rf, "taesd-tiny/vae", EF_VAE_BOTH);                           /* diffusers folder */
    check_taesd_path(t, rf, "taesd-tiny/vae/diffusion_pytorch_model.safetensors", EF_VAE_DECODER);
    /* a half the path does not hold; a file that is not TAESD; an AutoencoderKL folder */
    struct { const char *rel; unsigned parts; ef_status rc; const char *msg; } BAD[] = {
        {"taesd-tiny/taesd_decoder.safetensors", EF_VAE_BOTH, EF_ERR_IO, "no TAESD encoder weights"},
        {"vae-kl-tiny/vae/diffusion_pytorch_model.safetensors", EF_VAE_DECODER, EF_ERR_FORMAT, "not a TAESD weights file"},
        {"vae-kl-tiny/vae", EF_VAE_DECODER, EF_ERR_UNSUPPORTED, "not a tiny autoencoder"},
        {"no-such-taesd", EF_VAE_DECODER, EF_ERR_IO, "no such file or folder"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char p[512];
        ef_fixture_path(p, sizeof p, BAD[i].rel);
        ef_err err = {0};
        ef_vae *v = (ef_vae *)1;
        EF_CHECK_INT(t, ef_vae_load_taesd(p, 1, BAD[i].parts, &v, &err), BAD[i].rc);
        EF_CHECK(t, v == NULL);
        EF_CHECK_MSG(t, strstr(err.msg, BAD[i].msg) != NULL, "%s: message '%s' lacks '%s'", BAD[i].rel, err.msg,
                     BAD[i].msg);
    }
    ef_st_close(rf);
}

/* ---- config and weight errors (a copy of the KL fixture with one field changed) ---- */

/* Writes dir/config.json = the fixture's config with key set to the JSON value json,
** and links the weights. Returns 0 on failure. */
static int make_variant(const char *fixture_rel, const char *dir, const char *key, const char *json) {
    char src[512], p[600];
    ef_fixture_path(src, sizeof src, fixture_rel);
    snprintf(p, sizeof p, "%s/config.json", src);
    char *buf = NULL;
    size_t len = 0;
    ef_err err = {0};
    if (ef_file_read_all(p, 1 << 20, &buf, &len, &err) != EF_OK) return 0;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    if (!root) return 0;
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    cJSON_AddItemToObject(root, key, cJSON_Parse(json));
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    snprintf(p, sizeof p, "%s/config.json", dir);
    int ok = out && ef_test_write_file(p, out, strlen(out));
    free(out);
    /* the weights: a copy (hard links may cross devices) */
    char w[600];
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", src);
    snprintf(w, sizeof w, "%s/diffusion_pytorch_model.safetensors", dir);
    char *data = NULL;
    if (ok && ef_file_read_all(p, 16 << 20, &data, &len, &err) == EF_OK) ok = ef_test_write_file(w, data, len);
    else ok = 0;
    free(data);
    return ok;
}

static void test_config_errors(ef_test *t) {
    struct { const char *fix, *key, *json; ef_status rc; const char *msg; } CASES[] = {
        {"vae-kl-tiny/vae", "latents_mean", "[0.1, 0.2, 0.3, 0.4]", EF_ERR_UNSUPPORTED,
         "unsupported vae config: latents_mean=[...]"},
        {"vae-kl-tiny/vae", "act_fn", "\"gelu\"", EF_ERR_UNSUPPORTED, "unsupported vae config: act_fn=gelu"},
        {"vae-kl-tiny/vae", "up_block_types", "[\"UpDecoderBlock2D\", \"AttnUpDecoderBlock2D\", \"UpDecoderBlock2D\"]",
         EF_ERR_UNSUPPORTED, "unsupported vae config: up_block_types[1]=AttnUpDecoderBlock2D"},
        {"vae-kl-tiny/vae", "_class_name", "\"VQModel\"", EF_ERR_UNSUPPORTED, "unsupported vae config: _class_name=VQModel"},
        {"vae-kl-tiny/vae", "norm_num_groups", "5", EF_ERR_FORMAT, "not divisible by 'norm_num_groups'"},
        {"vae-kl-tiny/vae", "layers_per_block", "\"two\"", EF_ERR_FORMAT, "field 'layers_per_block' must be an integer"},
        {"vae-kl-tiny/vae", "block_out_channels", "[16, 32, 48]", EF_ERR_FORMAT,
         "tensor 'encoder.down_blocks.2.resnets.0.conv1.weight' has shape [32, 32, 3, 3] but the config implies [48, 32, 3, 3]"},
        {"vae-kl-tiny/vae", "layers_per_block", "2", EF_ERR_FORMAT,
         "missing tensor 'encoder.down_blocks.0.resnets.1.norm1.weight'"},
        {"vae-kl-tiny/vae", "use_quant_conv", "false", EF_ERR_FORMAT, "unexpected tensors: 'quant_conv.bias'"},
        {"vae-kl-tiny/vae", "latent_channels", "8", EF_ERR_FORMAT, "tensor 'encoder.conv_out.weight' has shape"},
        {"taesd-tiny/vae", "decoder_block_out_channels", "[16, 16, 32, 16]", EF_ERR_UNSUPPORTED,
         "unsupported vae config: decoder_block_out_channels[2]=32"},
        {"taesd-tiny/vae", "upsample_fn", "\"bilinear\"", EF_ERR_UNSUPPORTED, "unsupported vae config: upsample_fn=bilinear"},
        {"taesd-tiny/vae", "num_decoder_blocks", "[3, 3, 3, 2]", EF_ERR_FORMAT, "missing tensor 'decoder.layers.18.conv.0.weight'"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char dir[512];
        ef_test_tmpdir(dir, sizeof dir);
        int ok = dir[0] && make_variant(CASES[i].fix, dir, CASES[i].key, CASES[i].json);
        EF_CHECK_MSG(t, ok, "could not write the variant in %s", dir);
        if (!ok) continue;
        ef_err err = {0};
        ef_vae *v = (ef_vae *)1;
        ef_status rc = ef_vae_load(dir, NULL, 1, EF_VAE_BOTH, &v, &err);
        EF_CHECK_MSG(t, rc == CASES[i].rc, "%s=%s: status %d, expected %d (%s)", CASES[i].key, CASES[i].json, (int)rc,
                     (int)CASES[i].rc, err.msg);
        EF_CHECK(t, v == NULL);
        EF_CHECK_MSG(t, strstr(err.msg, CASES[i].msg) != NULL, "%s=%s: message '%s' lacks '%s'", CASES[i].key,
                     CASES[i].json, err.msg, CASES[i].msg);
        char p[600];
        snprintf(p, sizeof p, "%s/config.json", dir);
        remove(p);
        snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", dir);
        remove(p);
        remove(dir);
    }
}

static void test_config_parse(ef_test *t) {
    /* SD 1.5's vae/config.json as published (diffusers 0.6: no scaling_factor key) */
    const char *sd15 =
        "{\"_class_name\": \"AutoencoderKL\", \"_diffusers_version\": \"0.6.0\", \"act_fn\": \"silu\","
        "\"block_out_channels\": [128, 256, 512, 512], \"down_block_types\": [\"DownEncoderBlock2D\","
        "\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], \"in_channels\": 3,"
        "\"latent_channels\": 4, \"layers_per_block\": 2, \"norm_num_groups\": 32, \"out_channels\": 3,"
        "\"sample_size\": 512, \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\","
        "\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}";
    cJSON *root = cJSON_Parse(sd15);
    ef_vae_kl_config c;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_vae_kl_config_parse(root, "sd15", &c, &err), EF_OK);
    EF_CHECK_INT(t, c.n_blocks, 4);
    EF_CHECK_INT(t, c.block_out_channels[3], 512);
    EF_CHECK_NEAR(t, c.scaling_factor, 0.18215, 0);
    EF_CHECK_NEAR(t, c.shift_factor, 0.0, 0);
    EF_CHECK(t, c.use_quant_conv && c.use_post_quant_conv && c.mid_block_add_attention);
    cJSON_Delete(root);
    /* SD3-style scaling and shift */
    root = cJSON_Parse("{\"_class_name\": \"AutoencoderKL\", \"block_out_channels\": [8], \"norm_num_groups\": 4,"
                       "\"scaling_factor\": 1.5305, \"shift_factor\": 0.0609, \"use_quant_conv\": false,"
                       "\"force_upcast\": false, \"sample_size\": [64, 64]}");
    EF_CHECK_INT(t, ef_vae_kl_config_parse(root, "sd3", &c, &err), EF_OK);
    EF_CHECK_NEAR(t, c.shift_factor, 0.0609, 0);
    EF_CHECK_INT(t, c.sample_size, 64);
    EF_CHECK(t, !c.use_quant_conv);
    cJSON_Delete(root);
    /* defaults of AutoencoderTiny */
    root = cJSON_Parse("{\"_class_name\": \"AutoencoderTiny\"}");
    ef_vae_tiny_config tc;
    EF_CHECK_INT(t, ef_vae_tiny_config_parse(root, "tiny", &tc, &err), EF_OK);
    EF_CHECK_INT(t, tc.dec_channels[3], 64);
    EF_CHECK_INT(t, tc.enc_blocks[0], 1);
    EF_CHECK_INT(t, tc.dec_blocks[3], 1);
    cJSON_Delete(root);
    static const char *const BAD[] = {
        "{\"block_out_channels\": []}", "{\"block_out_channels\": [1,2,3,4,5,6,7,8,9]}",
        "{\"block_out_channels\": [0]}", "{\"block_out_channels\": \"x\"}", "{\"latent_channels\": -1}",
        "{\"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\"]}", "{\"scaling_factor\": 0}",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        root = cJSON_Parse(BAD[i]);
        ef_status rc = ef_vae_kl_config_parse(root, "bad", &c, &err);
        EF_CHECK_MSG(t, rc != EF_OK && strstr(err.msg, "bad: ") == err.msg, "%s: %d '%s'", BAD[i], (int)rc, err.msg);
        cJSON_Delete(root);
    }
}

static void test_conventions(ef_test *t) {
    ef_vae *v = load_vae(t, "vae-kl-tiny/vae", EF_VAE_DECODER);
    if (!v) return;
    float z[4] = {0.18215f, -0.5f, 1.0f, 0.0f}, z0[4];
    memcpy(z0, z, sizeof z);
    ef_vae_latents_to_decoder(v, z, 4);
    EF_CHECK_NEAR(t, z[0], 1.0, 1e-6);
    EF_CHECK_NEAR(t, z[1], -0.5 / 0.18215, 1e-5);
    ef_vae_latents_from_encoder(v, z, 4);
    for (int i = 0; i < 4; i++) EF_CHECK_NEAR(t, z[i], z0[i], 1e-6);
    ef_vae_free(v);
    /* rgb8 -> [-1, 1] -> rgb8 is the identity; rounding is numpy's (half to even) */
    uint8_t rgb[256 * 3], back[256 * 3];
    float img[256 * 3];
    for (int i = 0; i < 256 * 3; i++) rgb[i] = (uint8_t)(i * 7 % 256);
    ef_vae_rgb8_to_image(rgb, 3, 16, 16, img);
    EF_CHECK_NEAR(t, img[0], -1.0, 0);
    ef_vae_image_to_rgb8(img, 3, 16, 16, back);
    EF_CHECK(t, memcmp(rgb, back, sizeof rgb) == 0);
    float x[4] = {-2.0f, 2.0f, NAN, 0.0f};
    uint8_t q[4];
    ef_vae_image_to_rgb8(x, 1, 1, 4, q);
    EF_CHECK_INT(t, q[0], 0);
    EF_CHECK_INT(t, q[1], 255);
    EF_CHECK_INT(t, q[2], 0);     /* NaN */
    EF_CHECK_INT(t, q[3], 128);   /* 127.5 rounds half to even */
}

const ef_test_case ef_suite_vae[] = {
    {"kl_decode", test_kl_decode},
    {"kl_encode", test_kl_encode},
    {"kl_tiled", test_kl_tiled},
    {"tiling_args", test_tiling_args},
    {"taesd_diffusers", test_taesd_diffusers},
    {"taesd_tiled", test_taesd_tiled},
    {"taesd_paths", test_taesd_paths},
    {"config_errors", test_config_errors},
    {"config_parse", test_config_parse},
    {"conventions", test_conventions},
    {0, 0},
};
