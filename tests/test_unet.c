/*
** test_unet.c -- the UNet against diffusers (fixtures from scripts/golden/unet.py):
** every block's output and the final output of each variant (SD-1.5, BK-SDM
** Base/Small/Tiny, each with and without LCM's time_cond_proj_dim, SD-2 style, misc
** options), with 1 and 2 threads bit-identical; the activation plan and arena; config
** and weight mismatches refused by field / tensor name.
**
** Tolerance (STYLE.md 3.12): NMSE <= 1e-6 and max_abs <= 1e-4 per block, fp32 vs
** PyTorch fp32 (the fixtures' fp32-vs-fp64 noise floor is ~1e-6).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/arena.h"
#include "core/threadpool.h"
#include "ef_test.h"
#include "io/safetensors.h"
#include "model/unet.h"
#include "model/unet_internal.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* A malloc'ed float copy of reference tensor name (F32); NULL if absent. */
static float *ref_floats(const ef_st_file *f, const char *name, size_t *n_out) {
    const ef_st_tensor *t = ef_st_find(f, name);
    if (!t || t->dtype != EF_DTYPE_F32) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    if (n_out) *n_out = t->nbytes / 4;
    return p;
}

/* Compares every hooked block with the reference tensor of the same name. */
typedef struct hook_ctx {
    ef_test          *t;
    const ef_st_file *ref;
    char              label[96];
    int               n_blocks;
    double            worst_abs, worst_nmse;
} hook_ctx;

static void compare(hook_ctx *hc, const char *name, const float *got, size_t n) {
    size_t n_want = 0;
    float *want = ref_floats(hc->ref, name, &n_want);
    EF_CHECK_MSG(hc->t, want && n_want == n, "%s: reference '%s' missing or %zu floats, engine has %zu", hc->label,
                 name, n_want, n);
    if (want && n_want == n) {
        char label[160];
        snprintf(label, sizeof label, "%s %s", hc->label, name);
        ef_cmp c = ef_compare(got, want, n);
        if (c.max_abs > hc->worst_abs) hc->worst_abs = c.max_abs;
        if (c.nmse > hc->worst_nmse) hc->worst_nmse = c.nmse;
        EF_CHECK_CLOSE(hc->t, label, got, want, n, 1e-4);
        EF_CHECK_MSG(hc->t, c.nmse <= 1e-6, "%s: nmse %.3g > 1e-6 (max_abs %.3g)", label, c.nmse, c.max_abs);
    }
    free(want);
}

static void on_block(void *user, const char *name, const float *x, int64_t c, int64_t h, int64_t w) {
    hook_ctx *hc = user;
    hc->n_blocks++;
    compare(hc, name, x, (size_t)(c * h * w));
}

/* The reference inputs of one fixture. */
typedef struct ref_inputs {
    float  *sample, *text, *tcond;
    float   timestep;
    int     h, w, T;
    size_t  n_out;      /* floats of "out" */
    int     n_blocks;   /* block outputs stored (every tensor but the inputs and "out") */
} ref_inputs;

static int read_inputs(ef_test *t, const ef_st_file *rf, ref_inputs *in) {
    memset(in, 0, sizeof *in);
    const ef_st_tensor *s = ef_st_find(rf, "sample"), *e = ef_st_find(rf, "encoder_hidden_states");
    const ef_st_tensor *o = ef_st_find(rf, "out");
    EF_CHECK(t, s && s->ndim == 3 && e && e->ndim == 2 && o);
    if (!s || s->ndim != 3 || !e || e->ndim != 2 || !o) return 0;
    in->h = (int)s->shape[1];
    in->w = (int)s->shape[2];
    in->T = (int)e->shape[0];
    in->n_out = o->nbytes / 4;
    in->sample = ref_floats(rf, "sample", NULL);
    in->text = ref_floats(rf, "encoder_hidden_states", NULL);
    in->tcond = ref_floats(rf, "timestep_cond", NULL);
    float *ts = ref_floats(rf, "timestep", NULL);
    in->timestep = ts ? ts[0] : 0.0f;
    free(ts);
    in->n_blocks = (int)ef_st_count(rf) - 4 - (in->tcond ? 1 : 0);
    return 1;
}

static void free_inputs(ref_inputs *in) {
    free(in->sample);
    free(in->text);
    free(in->tcond);
}

/* ---- the variants ------------------------------------------------------------------ */

/* The fixture path tests/fixtures/unet-<variant>/<file>. */
static void variant_path(char *out, size_t n, const char *variant, const char *file) {
    char rel[256];
    snprintf(rel, sizeof rel, "unet-%s/%s", variant, file);
    ef_fixture_path(out, n, rel);
}

/* Loads unet-<variant>, runs the reference inputs with 1 and 2 threads, compares every
** block and the output, and checks the two runs are bit-identical. */
static void check_variant(ef_test *t, const char *variant) {
    char dir[512], ref[512];
    variant_path(dir, sizeof dir, variant, "unet");
    variant_path(ref, sizeof ref, variant, "reference.safetensors");
    ef_err err = {0};
    ef_unet *m = NULL;
    ef_st_file *rf = NULL;
    ef_pool *pool2 = NULL;
    ref_inputs in;
    float *out[2] = {NULL, NULL};
    ef_status rc = ef_unet_load(dir, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s: %s", dir, err.msg);
    rc = ef_st_open(ref, 1, &rf, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "reference %s: %s", ref, err.msg);
    ef_pool_create(2, &pool2, &err);
    if (!m || !rf || !pool2 || !read_inputs(t, rf, &in)) goto done;

    rc = ef_unet_plan(m, in.h, in.w, in.T, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "plan: %s", err.msg);
    const ef_unet_config *c = ef_unet_get_config(m);
    EF_CHECK_INT(t, (size_t)(c->out_channels * in.h * in.w), in.n_out);
    EF_CHECK_INT(t, c->time_cond_proj_dim > 0, in.tcond != NULL);
    for (int nth = 1; nth <= 2; nth++) {
        hook_ctx hc = {t, rf, "", 0, 0, 0};
        snprintf(hc.label, sizeof hc.label, "unet-%s (%d thr)", variant, nth);
        ef_unet_set_hook(m, on_block, &hc);
        out[nth - 1] = malloc(in.n_out * sizeof(float));
        rc = ef_unet_forward(m, nth == 1 ? NULL : pool2, NULL, in.sample, in.timestep, in.text, in.tcond, out[nth - 1],
                             &err);
        EF_CHECK_MSG(t, rc == EF_OK, "forward: %s", err.msg);
        EF_CHECK_INT(t, hc.n_blocks, in.n_blocks);
        compare(&hc, "out", out[nth - 1], in.n_out);
        if (nth == 1)
            printf("    unet-%-13s %9lld params, latent %2dx%-2d T=%2d: %d blocks + out, worst max_abs %.3g, worst nmse %.3g, "
                   "activations %zu KiB\n", variant, (long long)ef_unet_n_params(m), in.h, in.w, in.T, hc.n_blocks,
                   hc.worst_abs, hc.worst_nmse, ef_unet_activation_bytes(m) / 1024);
    }
    EF_CHECK_MSG(t, memcmp(out[0], out[1], in.n_out * sizeof(float)) == 0, "unet-%s: 1 vs 2 threads differ", variant);
    free_inputs(&in);
done:
    free(out[0]);
    free(out[1]);
    ef_pool_free(pool2);
    ef_st_close(rf);
    ef_unet_free(m);
}

/* Token downsampling (ef_unet_set_kv_downsample 2) against diffusers with a processor
** pooling the top level's self-attention context (reference-kv-down2.safetensors), 1
** and 2 threads bit-identical; off again (1) gives the exact output back. */
static void check_kv_downsample(ef_test *t, const char *variant) {
    char dir[512], ref[512], ref2[512];
    variant_path(dir, sizeof dir, variant, "unet");
    variant_path(ref, sizeof ref, variant, "reference.safetensors");
    variant_path(ref2, sizeof ref2, variant, "reference-kv-down2.safetensors");
    ef_err err = {0};
    ef_unet *m = NULL;
    ef_st_file *rf = NULL, *rf2 = NULL;
    ef_pool *pool2 = NULL;
    ref_inputs in;
    float *out[3] = {NULL, NULL, NULL};
    ef_status rc = ef_unet_load(dir, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s: %s", dir, err.msg);
    EF_CHECK(t, ef_st_open(ref, 1, &rf, &err) == EF_OK);
    EF_CHECK(t, ef_st_open(ref2, 1, &rf2, &err) == EF_OK);
    ef_pool_create(2, &pool2, &err);
    if (!m || !rf || !rf2 || !pool2 || !read_inputs(t, rf, &in)) goto done;
    EF_CHECK(t, ef_unet_plan(m, in.h, in.w, in.T, &err) == EF_OK);
    for (int i = 0; i < 3; i++) {   /* factor 2 on 1 and 2 threads, then off */
        ef_unet_set_kv_downsample(m, i < 2 ? 2 : 1);
        out[i] = malloc(in.n_out * sizeof(float));
        rc = ef_unet_forward(m, i == 1 ? pool2 : NULL, NULL, in.sample, in.timestep, in.text, in.tcond, out[i], &err);
        EF_CHECK_MSG(t, rc == EF_OK, "forward: %s", err.msg);
    }
    hook_ctx hc = {t, rf2, "", 0, 0, 0};
    snprintf(hc.label, sizeof hc.label, "unet-%s kv downsample 2", variant);
    compare(&hc, "out", out[0], in.n_out);
    EF_CHECK_MSG(t, memcmp(out[0], out[1], in.n_out * sizeof(float)) == 0, "%s: 1 vs 2 threads differ", hc.label);
    hook_ctx exact = {t, rf, "", 0, 0, 0};
    snprintf(exact.label, sizeof exact.label, "unet-%s kv downsample off again", variant);
    compare(&exact, "out", out[2], in.n_out);
    size_t n_ref = 0;
    float *want_exact = ref_floats(rf, "out", &n_ref);
    ef_cmp moved = ef_compare(out[0], want_exact, in.n_out);   /* the mode does something */
    EF_CHECK_MSG(t, moved.nmse > 1e-3, "%s: nmse %.3g against the exact output: no effect?", hc.label, moved.nmse);
    printf("    unet-%-13s kv downsample 2: max_abs %.3g vs diffusers; nmse %.3g against the exact output\n", variant,
           hc.worst_abs, moved.nmse);
    free(want_exact);
    free_inputs(&in);
done:
    for (int i = 0; i < 3; i++) free(out[i]);
    ef_pool_free(pool2);
    ef_st_close(rf);
    ef_st_close(rf2);
    ef_unet_free(m);
}

static void test_kv_downsample(ef_test *t) {
    check_kv_downsample(t, "bk-tiny");
    check_kv_downsample(t, "misc");   /* a 16x8 latent, two transformer layers per block */
}

static void test_sd15(ef_test *t) { check_variant(t, "sd15"); }
static void test_sd15_lcm(ef_test *t) { check_variant(t, "sd15-lcm"); }
static void test_bk_base(ef_test *t) { check_variant(t, "bk-base"); }
static void test_bk_base_lcm(ef_test *t) { check_variant(t, "bk-base-lcm"); }
static void test_bk_small(ef_test *t) { check_variant(t, "bk-small"); }
static void test_bk_small_lcm(ef_test *t) { check_variant(t, "bk-small-lcm"); }
static void test_bk_tiny(ef_test *t) { check_variant(t, "bk-tiny"); }
static void test_bk_tiny_lcm(ef_test *t) { check_variant(t, "bk-tiny-lcm"); }
static void test_sd2(ef_test *t) { check_variant(t, "sd2"); }
static void test_misc(ef_test *t) { check_variant(t, "misc"); }

/* ---- structure, params, plan, arguments -------------------------------------------- */

/* Sum of the element counts of every tensor in a safetensors file. */
static int64_t file_numel(const char *path) {
    ef_st_file *f = NULL;
    ef_err err = {0};
    if (ef_st_open(path, 1, &f, &err) != EF_OK) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < ef_st_count(f); i++) n += (int64_t)(ef_st_at(f, i)->nbytes / 4);
    ef_st_close(f);
    return n;
}

static ef_unet *load_fixture(ef_test *t, const char *variant) {
    char dir[512], rel[128];
    snprintf(rel, sizeof rel, "unet-%s/unet", variant);
    ef_fixture_path(dir, sizeof dir, rel);
    ef_err err = {0};
    ef_unet *m = NULL;
    ef_status rc = ef_unet_load(dir, NULL, 1, &m, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "load %s: %s", dir, err.msg);
    return m;
}

static void test_structure(ef_test *t) {
    static const char *const variants[] = {"sd15", "sd15-lcm", "bk-base", "bk-small", "bk-tiny", "bk-tiny-lcm", "sd2", "misc"};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        ef_unet *m = load_fixture(t, variants[v]);
        if (!m) continue;
        char path[512], rel[160];
        snprintf(rel, sizeof rel, "unet-%s/unet/diffusion_pytorch_model.safetensors", variants[v]);
        EF_CHECK_INT(t, ef_unet_n_params(m), file_numel(ef_fixture_path(path, sizeof path, rel)));
        EF_CHECK_INT(t, ef_unet_activation_bytes(m), 0);
        ef_unet_free(m);
    }
    ef_unet *m = load_fixture(t, "bk-tiny-lcm");
    if (!m) return;
    const ef_unet_config *c = ef_unet_get_config(m);
    EF_CHECK_INT(t, c->n_stages, 3);
    EF_CHECK_INT(t, c->mid_attn, 0);
    EF_CHECK_INT(t, c->layers_per_block, 1);
    EF_CHECK_INT(t, c->time_cond_proj_dim, 16);
    EF_CHECK_INT(t, ef_unet_downscale(m), 4);
    ef_unet_free(m);
    m = load_fixture(t, "sd2");
    if (!m) return;
    c = ef_unet_get_config(m);
    EF_CHECK(t, c->use_linear_projection && c->upcast_attention && c->mid_attn);
    EF_CHECK_INT(t, c->cross_attention_dim, 1024);
    EF_CHECK(t, c->heads[0] == 2 && c->heads[1] == 1 && c->heads[2] == 4 && c->heads[3] == 2);
    ef_unet_free(m);
}

/* Plan/forward argument errors, re-planning, repeated forwards, LCM conditioning. */
static void test_forward_args(ef_test *t) {
    ef_unet *m = load_fixture(t, "bk-tiny-lcm");
    if (!m) return;
    ef_err err = {0};
    const int h = 8, w = 8, T = 5;
    float *sample = malloc(4 * 16 * 16 * sizeof *sample), *text = malloc(T * 16 * sizeof *text);
    float *a = malloc(4 * 16 * 16 * sizeof *a), *b = malloc(4 * 16 * 16 * sizeof *b), wemb[16];
    ef_test_fill_random(sample, 4 * 16 * 16, 1);
    ef_test_fill_random(text, (size_t)T * 16, 2);
    ef_test_fill_random(wemb, 16, 3);

    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 10.0f, text, NULL, a, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_MSG(t, strstr(err.msg, "ef_unet_plan"), "msg: %s", err.msg);
    EF_CHECK_INT(t, ef_unet_plan(m, 6, 8, T, &err), EF_ERR_INVALID_ARG);   /* not a multiple of 4 */
    EF_CHECK_MSG(t, strstr(err.msg, "multiples of 4"), "msg: %s", err.msg);
    EF_CHECK_INT(t, ef_unet_plan(m, 0, 8, T, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_unet_plan(m, 8, 8, 0, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_unet_plan(m, h, w, T, &err), EF_OK);
    size_t small = ef_unet_activation_bytes(m);
    EF_CHECK(t, small > 0);

    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 10.0f, text, wemb, a, &err), EF_OK);
    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 10.0f, text, wemb, b, &err), EF_OK);
    EF_CHECK(t, memcmp(a, b, 4 * 64 * sizeof *a) == 0);   /* repeated calls: same result */
    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 10.0f, text, NULL, b, &err), EF_OK);
    EF_CHECK(t, memcmp(a, b, 4 * 64 * sizeof *a) != 0);   /* the w-embedding matters */
    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, NAN, text, NULL, b, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, NULL, 1.0f, text, NULL, b, &err), EF_ERR_INVALID_ARG);

    /* a larger plan replaces the old one; a non-square one works */
    EF_CHECK_INT(t, ef_unet_plan(m, 16, 12, T, &err), EF_OK);
    EF_CHECK(t, ef_unet_activation_bytes(m) > small);
    EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 10.0f, text, wemb, b, &err), EF_OK);
    ef_unet_free(m);

    m = load_fixture(t, "bk-tiny");
    if (m) {
        EF_CHECK_INT(t, ef_unet_plan(m, h, w, T, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_forward(m, NULL, NULL, sample, 1.0f, text, wemb, a, &err), EF_ERR_INVALID_ARG);
        EF_CHECK_MSG(t, strstr(err.msg, "time_cond_proj_dim"), "msg: %s", err.msg);
    }
    ef_unet_free(m);
    ef_unet_free(NULL);
    free(sample);
    free(text);
    free(a);
    free(b);
}

/* Activation memory does not grow with tokens^2: doubling the side quadruples the
** tokens; the arena must grow about 4x (linear in tokens), not 16x. */
static void test_plan_scaling(ef_test *t) {
    ef_unet *m = load_fixture(t, "bk-tiny");
    if (!m) return;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_unet_plan(m, 32, 32, 77, &err), EF_OK);
    double a = (double)ef_unet_activation_bytes(m);
    EF_CHECK_INT(t, ef_unet_plan(m, 64, 64, 77, &err), EF_OK);
    double b = (double)ef_unet_activation_bytes(m);
    EF_CHECK_MSG(t, b / a > 3.0 && b / a < 4.5, "activations 32x32 %.0f B, 64x64 %.0f B: ratio %.2f", a, b, b / a);
    ef_unet_free(m);
}

/* mmap or read (both zero-copy: matrices used where the file's bytes lie), and the
** copying path with a re-map budget smaller than any tensor (re-maps every tensor and
** re-marks every name for the unexpected-tensor check): the same weights. */
static void test_load_modes(ef_test *t) {
    char dir[512];
    ef_fixture_path(dir, sizeof dir, "unet-sd15-lcm/unet");
    ef_err err = {0};
    ef_unet *a = NULL, *b = NULL, *c = NULL;
    EF_CHECK_INT(t, ef_unet_load(dir, NULL, 1, &a, &err), EF_OK);
    EF_CHECK_INT(t, ef_unet_load(dir, NULL, 0, &b, &err), EF_OK);
    EF_CHECK_INT(t, ef_unet_load_remap(dir, NULL, 1, 1, EF_W_F32, &c, &err), EF_OK);
    if (a && b && c) {
        size_t n = (size_t)a->n_vec * sizeof(float);
        EF_CHECK(t, a->n_vec == b->n_vec && a->n_vec == c->n_vec && a->mats_bytes == c->mats_bytes);
        EF_CHECK(t, memcmp(a->weights, b->weights, n) == 0);
        EF_CHECK(t, memcmp(a->weights, c->weights, n) == 0);
        EF_CHECK(t, a->file && b->file && !c->file);   /* zero-copy kept the files; the copying path did not */
        EF_CHECK(t, a->conv_in_w != (const void *)a->mats && c->conv_in_w == (const void *)c->mats);
        /* and the same network: every view bound, the same output */
        float sample[4 * 8 * 8], text[3 * 16], wemb[16], oa[4 * 8 * 8], ob[4 * 8 * 8], oc[4 * 8 * 8];
        ef_test_fill_random(sample, 4 * 8 * 8, 11);
        ef_test_fill_random(text, 3 * 16, 12);
        ef_test_fill_random(wemb, 16, 13);
        EF_CHECK_INT(t, ef_unet_plan(a, 8, 8, 3, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_plan(c, 8, 8, 3, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_activation_bytes(a), ef_unet_activation_bytes(c));
        EF_CHECK_INT(t, ef_unet_forward(a, NULL, NULL, sample, 500.0f, text, wemb, oa, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_plan(b, 8, 8, 3, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_forward(b, NULL, NULL, sample, 500.0f, text, wemb, ob, &err), EF_OK);
        EF_CHECK_INT(t, ef_unet_forward(c, NULL, NULL, sample, 500.0f, text, wemb, oc, &err), EF_OK);
        EF_CHECK(t, memcmp(oa, ob, sizeof oa) == 0);
        EF_CHECK(t, memcmp(oa, oc, sizeof oa) == 0);
        /* narrow matrix storage: the same network within each type's rounding, with
        ** 1/2 (f16, bf16) and ~1/4 (q8) of the matrix bytes */
        static const double MAX_NMSE[EF_W_COUNT] = {0, 1e-5, 1e-3, 3e-3};   /* measured: 2.1e-6, 1.2e-4, 4.8e-4 */
        for (int wt = EF_W_F16; wt < EF_W_COUNT; wt++) {
            ef_unet *q = NULL;
            EF_CHECK_INT(t, ef_unet_load_typed(dir, NULL, 1, (ef_wtype)wt, &q, &err), EF_OK);
            if (!q) continue;
            EF_CHECK_INT(t, ef_unet_plan(q, 8, 8, 3, &err), EF_OK);
            EF_CHECK_INT(t, ef_unet_forward(q, NULL, NULL, sample, 500.0f, text, wemb, oc, &err), EF_OK);
            double se = 0, sw = 0;
            for (size_t i = 0; i < sizeof oa / sizeof oa[0]; i++) {
                se += ((double)oc[i] - oa[i]) * ((double)oc[i] - oa[i]);
                sw += (double)oa[i] * oa[i];
            }
            printf("    unet-sd15-lcm %-4s matrices %7zu bytes (f32 %zu), output nmse vs f32 %.3g\n", ef_wtype_name((ef_wtype)wt),
                         q->mats_bytes, a->mats_bytes, se / sw);
            EF_CHECK_MSG(t, se / sw < MAX_NMSE[wt], "%s: nmse %g", ef_wtype_name((ef_wtype)wt), se / sw);
            EF_CHECK(t, q->mats_bytes < a->mats_bytes * (wt == EF_W_Q8 ? 0.3 : 0.52));
            EF_CHECK(t, q->n_vec == a->n_vec && q->n_params == a->n_params);
            ef_unet_free(q);
        }
    }
    ef_unet_free(a);
    ef_unet_free(b);
    ef_unet_free(c);
}

static void test_arena(ef_test *t) {
    ef_arena a, mz;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_arena_init(&a, 1000, "test", &err), EF_OK);
    EF_CHECK_INT(t, ef_arena_capacity(&a), 1024);
    char *p = ef_arena_alloc(&a, 1);
    size_t mark = ef_arena_mark(&a);
    char *q = ef_arena_alloc(&a, 65);
    EF_CHECK(t, p && q && (size_t)(q - p) == EF_ARENA_ALIGN && ((uintptr_t)p % EF_ARENA_ALIGN) == 0);
    EF_CHECK_INT(t, ef_arena_used(&a), 64 + 128);
    ef_arena_reset(&a, mark);
    EF_CHECK_INT(t, ef_arena_used(&a), 64);
    EF_CHECK_INT(t, ef_arena_high_water(&a), 192);
    EF_CHECK(t, ef_arena_alloc(&a, 961) == NULL && a.failed);   /* 64 + 1024 > 1024 */
    EF_CHECK(t, ef_arena_alloc(&a, SIZE_MAX) == NULL);
    ef_arena_clear_high_water(&a);
    EF_CHECK_INT(t, ef_arena_high_water(&a), 64);
    ef_arena_free(&a);
    ef_arena_free(&a);   /* zeroed: no-op */
    ef_arena_free(NULL);
    ef_arena_init_measure(&mz);
    EF_CHECK(t, ef_arena_alloc(&mz, 100) == NULL && ef_arena_alloc(&mz, 1) == NULL && !mz.failed);
    EF_CHECK_INT(t, ef_arena_high_water(&mz), 192);
    EF_CHECK_INT(t, ef_arena_capacity(&mz), 0);
    EF_CHECK_INT(t, ef_arena_init(&a, 0, "empty", &err), EF_OK);
    EF_CHECK(t, ef_arena_alloc(&a, 0) == NULL || ef_arena_used(&a) == 0);
    ef_arena_free(&a);
}

/* ---- config errors ------------------------------------------------------------------ */

/* The bk-tiny fixture's config with one field replaced by json (NULL: deleted). */
static cJSON *config_with(const char *key, const char *json) {
    char path[512];
    ef_fixture_path(path, sizeof path, "unet-bk-tiny/unet/config.json");
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    if (root && key) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
        if (json) cJSON_AddItemToObject(root, key, cJSON_Parse(json));
    }
    return root;
}

static void test_config_errors(ef_test *t) {
    static const struct { const char *key, *json; ef_status want; const char *needle; } cases[] = {
        {"class_embed_type", "\"timestep\"", EF_ERR_UNSUPPORTED, "unsupported unet config: class_embed_type=timestep"},
        {"addition_embed_type", "\"text_time\"", EF_ERR_UNSUPPORTED, "unsupported unet config: addition_embed_type=text_time"},
        {"resnet_time_scale_shift", "\"scale_shift\"", EF_ERR_UNSUPPORTED, "resnet_time_scale_shift=scale_shift"},
        {"time_embedding_type", "\"fourier\"", EF_ERR_UNSUPPORTED, "time_embedding_type=fourier"},
        {"conv_in_kernel", "7", EF_ERR_UNSUPPORTED, "conv_in_kernel=7"},
        {"conv_out_kernel", "1", EF_ERR_UNSUPPORTED, "conv_out_kernel=1"},
        {"only_cross_attention", "true", EF_ERR_UNSUPPORTED, "only_cross_attention=true"},
        {"only_cross_attention", "[false, true, false]", EF_ERR_UNSUPPORTED, "only_cross_attention=[false,true,false]"},
        {"dual_cross_attention", "true", EF_ERR_UNSUPPORTED, "dual_cross_attention=true"},
        {"encoder_hid_dim", "768", EF_ERR_UNSUPPORTED, "encoder_hid_dim=768"},
        {"act_fn", "\"mish\"", EF_ERR_UNSUPPORTED, "act_fn=mish"},
        {"center_input_sample", "true", EF_ERR_UNSUPPORTED, "center_input_sample=true"},
        {"resnet_out_scale_factor", "2.0", EF_ERR_UNSUPPORTED, "resnet_out_scale_factor=2"},
        {"mid_block_scale_factor", "0.5", EF_ERR_UNSUPPORTED, "mid_block_scale_factor=0.5"},
        {"downsample_padding", "0", EF_ERR_UNSUPPORTED, "downsample_padding=0"},
        {"attention_type", "\"gated\"", EF_ERR_UNSUPPORTED, "attention_type=gated"},
        {"time_embedding_dim", "128", EF_ERR_UNSUPPORTED, "time_embedding_dim=128"},
        {"timestep_post_act", "\"silu\"", EF_ERR_UNSUPPORTED, "timestep_post_act=silu"},
        {"time_embedding_act_fn", "\"silu\"", EF_ERR_UNSUPPORTED, "time_embedding_act_fn=silu"},
        {"num_attention_heads", "8", EF_ERR_UNSUPPORTED, "num_attention_heads=8"},
        {"class_embeddings_concat", "true", EF_ERR_UNSUPPORTED, "class_embeddings_concat=true"},
        {"_class_name", "\"UNet2DModel\"", EF_ERR_UNSUPPORTED, "_class_name=UNet2DModel"},
        {"mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"", EF_ERR_UNSUPPORTED, "mid_block_type=UNetMidBlock2DSimpleCrossAttn"},
        {"down_block_types", "[\"CrossAttnDownBlock2D\", \"AttnDownBlock2D\", \"CrossAttnDownBlock2D\"]", EF_ERR_UNSUPPORTED,
         "down_block_types[1]=AttnDownBlock2D"},
        {"layers_per_block", "[1, 2, 1]", EF_ERR_UNSUPPORTED, "layers_per_block=[1,2,1]"},
        {"transformer_layers_per_block", "[1, 1, 2]", EF_ERR_UNSUPPORTED, "transformer_layers_per_block=[1,1,2]"},
        {"cross_attention_dim", "[16, 16, 16]", EF_ERR_UNSUPPORTED, "cross_attention_dim=[16,16,16]"},
        {"norm_num_groups", "null", EF_ERR_UNSUPPORTED, "norm_num_groups=null"},
        /* malformed */
        {"block_out_channels", "[8, 16]", EF_ERR_FORMAT, "'block_out_channels' has 2 entries but there are 3 blocks"},
        {"norm_num_groups", "3", EF_ERR_FORMAT, "block_out_channels[0] = 8 is not divisible by norm_num_groups = 3"},
        {"attention_head_dim", "3", EF_ERR_FORMAT, "not divisible by attention_head_dim[0] = 3 heads"},
        {"attention_head_dim", "[2, 2]", EF_ERR_FORMAT, "'attention_head_dim' has 2 entries"},
        {"up_block_types", "[\"CrossAttnUpBlock2D\"]", EF_ERR_FORMAT, "3 down_block_types but 1 up_block_types"},
        {"layers_per_block", "0", EF_ERR_FORMAT, "'layers_per_block' = 0 out of range"},
        {"use_linear_projection", "1", EF_ERR_FORMAT, "'use_linear_projection' must be true or false"},
        {"norm_eps", "\"x\"", EF_ERR_FORMAT, "'norm_eps' must be a number"},
    };
    ef_err err = {0};
    ef_unet_config cfg;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root = config_with(cases[i].key, cases[i].json);
        EF_CHECK(t, root != NULL);
        if (!root) continue;
        ef_status rc = ef_unet_config_parse(root, "unet/config.json", &cfg, &err);
        EF_CHECK_MSG(t, rc == cases[i].want, "case %zu (%s): status %d, want %d (%s)", i, cases[i].key, (int)rc,
                     (int)cases[i].want, err.msg);
        EF_CHECK_MSG(t, strstr(err.msg, "unet/config.json: ") && strstr(err.msg, cases[i].needle),
                     "case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].needle);
        cJSON_Delete(root);
    }
    /* accepted: the fixture itself, fields without effect, absent mid_block_type = default mid block */
    cJSON *root = config_with("dropout", "0.1");
    EF_CHECK_INT(t, ef_unet_config_parse(root, "x", &cfg, &err), EF_OK);
    EF_CHECK_INT(t, cfg.mid_attn, 0);
    cJSON_Delete(root);
    root = config_with("mid_block_type", NULL);
    EF_CHECK_INT(t, ef_unet_config_parse(root, "x", &cfg, &err), EF_OK);
    EF_CHECK_INT(t, cfg.mid_attn, 1);
    cJSON_Delete(root);
    root = config_with("act_fn", "\"swish\"");
    EF_CHECK_INT(t, ef_unet_config_parse(root, "x", &cfg, &err), EF_OK);
    cJSON_Delete(root);
    root = cJSON_Parse("{}");   /* all defaults: SD-1.x's UNet */
    EF_CHECK_INT(t, ef_unet_config_parse(root, "x", &cfg, &err), EF_OK);
    EF_CHECK(t, cfg.n_stages == 4 && cfg.block_out[3] == 1280 && cfg.layers_per_block == 2 && cfg.heads[0] == 8 &&
                cfg.cross_attention_dim == 1280 && cfg.mid_attn && cfg.down_attn[0] && !cfg.down_attn[3] &&
                !cfg.up_attn[0] && cfg.up_attn[3] && cfg.flip_sin_to_cos && cfg.norm_num_groups == 32);
    cJSON_Delete(root);
    root = cJSON_Parse("[1]");
    EF_CHECK_INT(t, ef_unet_config_parse(root, "x", &cfg, &err), EF_ERR_FORMAT);
    cJSON_Delete(root);
}

/* ---- weight errors ---------------------------------------------------------------- */

/* Writes a copy of the F32 tensors of src to path: tensor `drop` left out, tensor
** `extra` (1-D, 3 floats) added. Returns 0 on failure. */
static int rewrite_st(const char *src, const char *path, const char *drop, const char *extra) {
    ef_st_file *f = NULL;
    ef_err err = {0};
    if (ef_st_open(src, 1, &f, &err) != EF_OK) return 0;
    cJSON *hdr = cJSON_CreateObject();
    size_t off = 0, n = ef_st_count(f);
    for (size_t i = 0; i <= n; i++) {
        const ef_st_tensor *t = i < n ? ef_st_at(f, i) : NULL;
        if (t && drop && strcmp(t->name, drop) == 0) continue;
        if (!t && !extra) break;
        size_t nb = t ? t->nbytes : 12;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape"), *offs = cJSON_AddArrayToObject(e, "data_offsets");
        if (t)
            for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        else
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(3));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nb)));
        cJSON_AddItemToObject(hdr, t ? t->name : extra, e);
        off += nb;
    }
    char *json = cJSON_PrintUnformatted(hdr);
    size_t hl = strlen(json), pad = (8 - hl % 8) % 8, total = 8 + hl + pad + off;
    unsigned char *buf = calloc(1, total);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)(hl + pad) >> (8 * b));
    memcpy(buf + 8, json, hl);
    memset(buf + 8 + hl, ' ', pad);
    size_t at = 8 + hl + pad;
    for (size_t i = 0; i < n; i++) {
        const ef_st_tensor *t = ef_st_at(f, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        memcpy(buf + at, t->data, t->nbytes);
        at += t->nbytes;
    }
    int ok = ef_test_write_file(path, buf, total);
    free(buf);
    free(json);
    cJSON_Delete(hdr);
    ef_st_close(f);
    return ok;
}

/* Writes root as dir/config.json. */
static void write_config(const char *dir, cJSON *root) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *s = cJSON_Print(root);
    ef_test_write_file(path, s, strlen(s));
    free(s);
}

static void test_weight_errors(ef_test *t) {
    char tmp[512], st[600], src[512], lcm_src[512];
    ef_test_tmpdir(tmp, sizeof tmp);
    EF_CHECK(t, tmp[0] != '\0');
    snprintf(st, sizeof st, "%s/diffusion_pytorch_model.safetensors", tmp);
    ef_fixture_path(src, sizeof src, "unet-bk-tiny/unet/diffusion_pytorch_model.safetensors");
    ef_fixture_path(lcm_src, sizeof lcm_src, "unet-bk-tiny-lcm/unet/diffusion_pytorch_model.safetensors");
    ef_err err = {0};
    ef_unet *m = NULL;
    cJSON *cfg = config_with(NULL, NULL);
    write_config(tmp, cfg);

    /* the unchanged copy loads */
    EF_CHECK(t, rewrite_st(src, st, NULL, NULL));
    EF_CHECK_MSG(t, ef_unet_load(tmp, NULL, 1, &m, &err) == EF_OK, "copy: %s", err.msg);
    ef_unet_free(m);
    m = NULL;

    /* a missing block tensor, named (also through the re-mapping path) */
    const char *gone = "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    EF_CHECK(t, rewrite_st(src, st, gone, NULL));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "missing tensor") && strstr(err.msg, gone) && strstr(err.msg, "diffusion_pytorch_model"),
                 "msg: %s", err.msg);
    EF_CHECK(t, m == NULL);
    EF_CHECK_INT(t, ef_unet_load_remap(tmp, NULL, 1, 1, EF_W_F32, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, gone), "msg: %s", err.msg);

    /* extra tensors are refused by name (plain load and re-mapping load) */
    EF_CHECK(t, rewrite_st(src, st, NULL, "down_blocks.0.attentions.0.extra.weight"));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 0, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "unexpected") && strstr(err.msg, "down_blocks.0.attentions.0.extra.weight"), "msg: %s", err.msg);
    EF_CHECK_INT(t, ef_unet_load_remap(tmp, NULL, 1, 1, EF_W_F32, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "unexpected") && strstr(err.msg, "extra.weight"), "remap msg: %s", err.msg);

    /* LCM weights under a config without time_cond_proj_dim: cond_proj is unexplained */
    EF_CHECK(t, rewrite_st(lcm_src, st, NULL, NULL));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "time_embedding.cond_proj.weight"), "msg: %s", err.msg);
    /* ... and a config with it over weights without: missing */
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "time_cond_proj_dim");   /* the fixture has it as null */
    cJSON_AddNumberToObject(cfg, "time_cond_proj_dim", 16);
    write_config(tmp, cfg);
    EF_CHECK(t, rewrite_st(src, st, NULL, NULL));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "missing tensor 'time_embedding.cond_proj.weight'"), "msg: %s", err.msg);
    /* ... with a different width: the shape is named */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "time_cond_proj_dim", cJSON_CreateNumber(12));
    write_config(tmp, cfg);
    EF_CHECK(t, rewrite_st(lcm_src, st, NULL, NULL));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "time_embedding.cond_proj.weight") && strstr(err.msg, "[8, 16]") &&
                    strstr(err.msg, "[8, 12]"), "msg: %s", err.msg);
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "time_cond_proj_dim");

    /* a wrong channel count in the config: the first tensor it contradicts is named */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "block_out_channels", cJSON_Parse("[8, 8, 24]"));
    write_config(tmp, cfg);
    EF_CHECK(t, rewrite_st(src, st, NULL, NULL));
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "down_blocks.2.resnets.0.conv1.weight") && strstr(err.msg, "[16, 8, 3, 3]") &&
                    strstr(err.msg, "[24, 8, 3, 3]"), "msg: %s", err.msg);
    /* use_linear_projection true over conv projections: proj_in's rank is named */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "block_out_channels", cJSON_Parse("[8, 8, 16]"));
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "use_linear_projection", cJSON_CreateTrue());
    write_config(tmp, cfg);
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "down_blocks.0.attentions.0.proj_in.weight"), "msg: %s", err.msg);

    /* an unsupported config field is reported with the config's path */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "use_linear_projection", cJSON_CreateFalse());
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "class_embed_type", cJSON_CreateString("projection"));
    write_config(tmp, cfg);
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_UNSUPPORTED);
    EF_CHECK_MSG(t, strstr(err.msg, "config.json: unsupported unet config: class_embed_type=projection"), "msg: %s", err.msg);
    EF_CHECK(t, m == NULL);
    cJSON_Delete(cfg);

    char path[600];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    remove(path);
    EF_CHECK_INT(t, ef_unet_load(tmp, NULL, 1, &m, &err), EF_ERR_IO);
    remove(st);
    remove(tmp);
}

const ef_test_case ef_suite_unet[] = {
    {"sd15", test_sd15},
    {"sd15_lcm", test_sd15_lcm},
    {"bk_base", test_bk_base},
    {"bk_base_lcm", test_bk_base_lcm},
    {"bk_small", test_bk_small},
    {"bk_small_lcm", test_bk_small_lcm},
    {"bk_tiny", test_bk_tiny},
    {"bk_tiny_lcm", test_bk_tiny_lcm},
    {"sd2", test_sd2},
    {"misc", test_misc},
    {"kv_downsample", test_kv_downsample},
    {"structure", test_structure},
    {"forward_args", test_forward_args},
    {"plan_scaling", test_plan_scaling},
    {"load_modes", test_load_modes},
    {"arena", test_arena},
    {"config_errors", test_config_errors},
    {"weight_errors", test_weight_errors},
    {0, 0},
};
