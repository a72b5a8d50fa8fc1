/*
** test_sched.c -- the schedulers against diffusers (fixtures from
** scripts/golden/sched.py: tests/fixtures/sched/<case>.{json,safetensors}), the LCM
** guidance embedding, and the config/argument errors.
**
** Each fixture run is replayed free-running: set_timesteps, the starting sample
** (latents * init_noise_sigma, or add_noise for img2img), then per step
** scale_model_input, needs_noise and step on our own previous output.
** Tolerances (STYLE.md 3.12 asks "exact or 1e-6 relative" for tables):
**   integer timesteps, begin index, noise flags: exact
**   float timesteps, sigmas, init_noise_sigma, alphas_cumprod: 1e-6 relative
**   step outputs / denoised / scaled input: max|got - want| <= 1e-5 * max|want| per step
**   guidance embedding: see test_guidance
** Set EF_SCHED_REPORT=1 to print the measured errors per case. EF_SCHED_EXACT=1 makes
** step outputs, sigmas and scaled inputs bit-exact (tolerance 0): use it with fixtures
** written by `sched.py --exact-math DIR` (diffusers with correctly rounded sqrt/log/exp,
** which is what this code computes; diffusers' own MKL values differ by an ulp).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ef_test.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "sched/sched.h"

static const char *const CASES[] = {
    "pndm_sd15", "pndm_prk", "pndm_linspace_v", "lcm", "lcm_v_clip", "lcm_sample",
    "ddim_leading", "ddim_trailing", "ddim_linspace_v_clip", "ddim_sample_linear",
    "euler", "euler_linspace", "euler_karras", "euler_karras_range", "euler_trailing_v_sigmamin",
    "euler_a", "euler_a_trailing_v",
    "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_2m_leading_sigmamin", "dpmpp_2m_heun_v_trailing",
    "dpmpp_3m_karras", "dpmpp_2m_linear_clipped",
};

/* Tolerances: float timesteps, sigmas (and init_noise_sigma), step outputs (per step,
** relative to the step's max |value|). */
typedef struct tolerances { double ts, sigma, step; } tolerances;

/* A malloc'ed copy of tensor `name` if it is F32 (or I32) with n elements (n = 0: any);
** *n_out gets the count. NULL if absent or mismatched. */
static void *load(const ef_st_file *f, const char *name, ef_dtype dt, size_t n, size_t *n_out) {
    const ef_st_tensor *x = ef_st_find(f, name);
    if (!x || x->dtype != dt) return NULL;
    size_t cnt = x->nbytes / ef_dtype_size(dt);
    if (n && cnt != n) return NULL;
    void *p = malloc(x->nbytes ? x->nbytes : 4);
    memcpy(p, x->data, x->nbytes);
    if (n_out) *n_out = cnt;
    return p;
}

static double rel_err(double got, double want) {
    double d = fabs(got - want), m = fabs(want);
    return m > 0 ? d / m : d;
}

/* max|got - want| / max|want| over a row. */
static double row_err(const float *got, const float *want, size_t n) {
    double md = 0, mw = 0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)got[k] - want[k]);
        if (!(d <= md)) md = d;                 /* NaN propagates */
        if (fabs(want[k]) > mw) mw = fabs(want[k]);
    }
    return mw > 0 ? md / mw : md;
}

typedef struct case_stats {
    double ts, sig, out, den, scaled;           /* worst errors */
    size_t n_vals, n_exact;                     /* bitwise-identical step outputs */
} case_stats;

static void count_exact(case_stats *cs, const float *got, const float *want, size_t n) {
    for (size_t k = 0; k < n; k++) {
        cs->n_vals++;
        cs->n_exact += memcmp(&got[k], &want[k], 4) == 0;
    }
}

static ef_status open_case(const char *name, cJSON **cfg, ef_st_file **st, char *label, size_t nl, ef_err *err) {
    char rel[160], path[512];
    snprintf(rel, sizeof rel, "sched/%s.json", name);
    ef_fixture_path(label, nl, rel);
    ef_status rc = ef_json_load(label, 1 << 16, cfg, err);
    if (rc != EF_OK) return rc;
    snprintf(rel, sizeof rel, "sched/%s.safetensors", name);
    ef_fixture_path(path, sizeof path, rel);
    return ef_st_open(path, 1, st, err);
}

/* One fixture run rK. prefix is "rK". */
static void check_run(ef_test *t, const tolerances *tol, const char *cname, ef_sched *s, const ef_st_file *f,
                      const char *prefix,
                      size_t E, const float *latents, const float *x_orig, const float *noise_add,
                      const float *mo_tab, const float *noise_tab, size_t rows, case_stats *cs) {
    char key[96];
    float info[4];
    snprintf(key, sizeof key, "%s.info", prefix);
    float *pinfo = load(f, key, EF_DTYPE_F32, 4, NULL);
    if (!pinfo) { EF_CHECK_MSG(t, 0, "%s: %s missing", cname, key); return; }
    memcpy(info, pinfo, sizeof info);
    free(pinfo);
    int n_steps = (int)info[0], begin = (int)info[2], N = (int)info[3];
    double strength = info[1];
    ef_err err = {0};
    ef_status rc = ef_sched_set_timesteps(s, n_steps, strength, E, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s %s: set_timesteps(%d, %g): %s", cname, prefix, n_steps, strength, err.msg);
    if (rc != EF_OK) return;
    EF_CHECK_MSG(t, ef_sched_n_steps(s) == N, "%s %s: %d steps, want %d", cname, prefix, ef_sched_n_steps(s), N);
    if (ef_sched_n_steps(s) != N || (size_t)N > rows) return;

    /* timesteps and sigmas */
    size_t m = 0;
    snprintf(key, sizeof key, "%s.timesteps_full", prefix);
    float *ts = load(f, key, EF_DTYPE_F32, 0, &m);
    int n_full = 0;
    const float *got_ts = ef_sched_timesteps_full(s, &n_full);
    EF_CHECK_MSG(t, ts && (size_t)n_full == m, "%s %s: %d timesteps, want %zu", cname, prefix, n_full, m);
    if (ts && (size_t)n_full == m) {
        for (size_t i = 0; i < m; i++) {
            if (ts[i] == floorf(ts[i])) {       /* integer timesteps: exact */
                EF_CHECK_MSG(t, got_ts[i] == ts[i], "%s %s: timesteps[%zu] = %.9g, want %.9g", cname, prefix, i,
                             got_ts[i], ts[i]);
            } else {
                double e = rel_err(got_ts[i], ts[i]);
                if (e > cs->ts) cs->ts = e;
                EF_CHECK_MSG(t, e <= tol->ts, "%s %s: timesteps[%zu] = %.9g, want %.9g", cname, prefix, i,
                             got_ts[i], ts[i]);
            }
        }
        EF_CHECK(t, ef_sched_timesteps(s) == got_ts + begin);
    }
    free(ts);
    snprintf(key, sizeof key, "%s.sigmas", prefix);
    float *sig = load(f, key, EF_DTYPE_F32, 0, &m);
    const float *got_sig = ef_sched_sigmas(s);
    EF_CHECK_MSG(t, (sig == NULL) == (got_sig == NULL), "%s %s: sigmas presence", cname, prefix);
    if (sig && got_sig && m == (size_t)n_full + 1) {
        for (size_t i = 0; i < m; i++) {
            double e = rel_err(got_sig[i], sig[i]);
            if (e > cs->sig) cs->sig = e;
            EF_CHECK_MSG(t, e <= tol->sigma, "%s %s: sigmas[%zu] = %.9g, want %.9g", cname, prefix, i, got_sig[i], sig[i]);
        }
    }
    free(sig);
    snprintf(key, sizeof key, "%s.init_noise_sigma", prefix);
    float *ins = load(f, key, EF_DTYPE_F32, 1, NULL);
    if (ins) EF_CHECK_MSG(t, rel_err(ef_sched_init_noise_sigma(s), ins[0]) <= tol->sigma,
                          "%s %s: init_noise_sigma %.9g, want %.9g", cname, prefix, ef_sched_init_noise_sigma(s), ins[0]);
    free(ins);

    /* the starting sample */
    float *x = malloc(E * sizeof *x), *x_in = malloc(E * sizeof *x_in), *den = malloc(E * sizeof *den);
    if (strength < 1.0) {
        ef_sched_add_noise(s, x_orig, noise_add, x, E);
    } else {
        float sig0 = ef_sched_init_noise_sigma(s);
        for (size_t k = 0; k < E; k++) x[k] = latents[k] * sig0;
    }
    snprintf(key, sizeof key, "%s.sample0", prefix);
    float *s0 = load(f, key, EF_DTYPE_F32, E, NULL);
    if (s0) {
        double e = row_err(x, s0, E);
        EF_CHECK_MSG(t, e <= tol->step, "%s %s: starting sample err %.3g", cname, prefix, e);
    }
    free(s0);

    size_t NE = (size_t)N * E;
    char k1[96], k2[96], k3[96], k4[96];
    snprintf(k1, sizeof k1, "%s.out", prefix);
    snprintf(k2, sizeof k2, "%s.denoised", prefix);
    snprintf(k3, sizeof k3, "%s.scaled", prefix);
    snprintf(k4, sizeof k4, "%s.noise_used", prefix);
    float *want_out = load(f, k1, EF_DTYPE_F32, NE, NULL);
    float *want_den = load(f, k2, EF_DTYPE_F32, NE, NULL);
    float *want_sc = load(f, k3, EF_DTYPE_F32, NE, NULL);
    int32_t *used = load(f, k4, EF_DTYPE_I32, (size_t)N, NULL);
    EF_CHECK_MSG(t, want_out && used, "%s %s: outputs missing", cname, prefix);
    for (int i = 0; want_out && used && i < N; i++) {
        ef_sched_scale_model_input(s, i, x, x_in, E);
        if (want_sc) {
            double e = row_err(x_in, want_sc + (size_t)i * E, E);
            if (e > cs->scaled) cs->scaled = e;
            EF_CHECK_MSG(t, e <= tol->step, "%s %s: scaled input at step %d err %.3g", cname, prefix, i, e);
        }
        int need = ef_sched_needs_noise(s, i);
        EF_CHECK_MSG(t, need == used[i], "%s %s: needs_noise(%d) = %d, diffusers drew %d", cname, prefix, i, need, used[i]);
        const float *noise = need && noise_tab ? noise_tab + (size_t)i * E : NULL;
        rc = ef_sched_step(s, i, mo_tab + (size_t)i * E, x, noise, x, want_den ? den : NULL, E, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "%s %s: step %d: %s", cname, prefix, i, err.msg);
        if (rc != EF_OK) break;
        const float *w = want_out + (size_t)i * E;
        double e = row_err(x, w, E);
        if (!(e <= cs->out)) cs->out = e;
        count_exact(cs, x, w, E);
        EF_CHECK_MSG(t, e <= tol->step, "%s %s: step %d (t=%g) output err %.3g (got %.9g want %.9g at 0)", cname, prefix,
                     i, ef_sched_timesteps(s)[i], e, x[0], w[0]);
        if (want_den) {
            e = row_err(den, want_den + (size_t)i * E, E);
            if (!(e <= cs->den)) cs->den = e;
            EF_CHECK_MSG(t, e <= tol->step, "%s %s: step %d denoised err %.3g", cname, prefix, i, e);
        }
    }
    free(want_out);
    free(want_den);
    free(want_sc);
    free(used);
    free(x);
    free(x_in);
    free(den);
}

static void check_case(ef_test *t, const tolerances *tol, const char *cname, int report) {
    char label[512];
    ef_err err = {0};
    cJSON *cfg = NULL;
    ef_st_file *f = NULL;
    ef_sched *s = NULL;
    ef_status rc = open_case(cname, &cfg, &f, label, sizeof label, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", cname, err.msg);
    if (rc == EF_OK) {
        rc = ef_sched_create(cfg, label, NULL, &s, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "%s: create: %s", cname, err.msg);
    }
    if (rc != EF_OK) goto done;
    const char *fv = ef_st_metadata(f, "format_version"), *cls = ef_st_metadata(f, "class");
    const char *runs = ef_st_metadata(f, "runs");
    EF_CHECK_MSG(t, fv && !strcmp(fv, "1"), "%s: format_version", cname);
    EF_CHECK_MSG(t, cls && !strcmp(cls, ef_sched_kind_name(ef_sched_get_kind(s))), "%s: class %s", cname, cls ? cls : "?");
    if (!runs) goto done;

    size_t E = 0, rows = 0, n_mo = 0;
    float *latents = load(f, "latents", EF_DTYPE_F32, 0, &E);
    float *x_orig = load(f, "x_orig", EF_DTYPE_F32, E, NULL);
    float *noise_add = load(f, "noise_add", EF_DTYPE_F32, E, NULL);
    float *mo = load(f, "model_output", EF_DTYPE_F32, 0, &n_mo);
    float *noise = load(f, "noise", EF_DTYPE_F32, n_mo, NULL);
    EF_CHECK_MSG(t, latents && x_orig && noise_add && mo && E, "%s: inputs missing", cname);
    rows = E ? n_mo / E : 0;
    case_stats cs = {0, 0, 0, 0, 0, 0, 0};
    for (int k = 0; latents && x_orig && noise_add && mo && k < atoi(runs); k++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "r%d", k);
        check_run(t, tol, cname, s, f, prefix, E, latents, x_orig, noise_add, mo, noise, rows, &cs);
    }
    float *ac = load(f, "alphas_cumprod", EF_DTYPE_F32, 0, &n_mo);
    if (ac) {
        int n_ac = 0;
        const float *got = ef_sched_alphas_cumprod(s, &n_ac);
        EF_CHECK(t, (size_t)n_ac == n_mo);
        int bad = 0;
        for (int i = 0; i < n_ac && (size_t)i < n_mo; i++) bad += got[i] != ac[i];
        EF_CHECK_MSG(t, bad == 0, "%s: %d alphas_cumprod values not bit-exact", cname, bad);
    }
    if (report)
        printf("    %-26s ts %.1e  sigmas %.1e  out %.1e  denoised %.1e  scaled %.1e  bit-exact %zu/%zu\n",
               cname, cs.ts, cs.sig, cs.out, cs.den, cs.scaled, cs.n_exact, cs.n_vals);
    free(ac);
    free(latents);
    free(x_orig);
    free(noise_add);
    free(mo);
    free(noise);
done:
    ef_sched_free(s);
    ef_st_close(f);
    cJSON_Delete(cfg);
}

static int env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void test_fixtures(ef_test *t) {
    int report = env_flag("EF_SCHED_REPORT");
    tolerances tol = {1e-6, 1e-6, 1e-5};
    if (env_flag("EF_SCHED_EXACT")) tol.ts = tol.sigma = tol.step = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_case(t, &tol, CASES[i], report);
}

/* The w-embedding against diffusers' get_guidance_scale_embedding. Its arguments reach
** w*1000 (14000 here); diffusers' float32 exp comes from MKL/SLEEF and ours from libm, so
** an ulp in f_j moves the argument by up to ~1e-3 and sin/cos by as much. */
static void test_guidance(ef_test *t) {
    char path[512];
    ef_fixture_path(path, sizeof path, "sched/guidance.safetensors");
    ef_err err = {0};
    ef_st_file *f = NULL;
    ef_status rc = ef_st_open(path, 1, &f, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", path, err.msg);
    if (!f) return;
    static const int DIMS[] = {256, 17, 4};
    double worst = 0;
    size_t n_vals = 0, n_exact = 0;
    for (int i = 0;; i++) {
        char key[64];
        snprintf(key, sizeof key, "w%d.value", i);
        float *w = load(f, key, EF_DTYPE_F32, 1, NULL);
        if (!w) { EF_CHECK(t, i > 0); break; }
        for (int d = 0; d < 3; d++) {
            int dim = DIMS[d];
            snprintf(key, sizeof key, "w%d.dim%d", i, dim);
            float *want = load(f, key, EF_DTYPE_F32, (size_t)dim, NULL);
            EF_CHECK_MSG(t, want != NULL, "%s missing", key);
            if (!want) continue;
            float got[256];
            EF_CHECK(t, ef_sched_guidance_embed(w[0], dim, got, &err) == EF_OK);
            for (int j = 0; j < dim; j++) {
                double e = fabs((double)got[j] - want[j]);
                if (e > worst) worst = e;
                n_vals++;
                n_exact += got[j] == want[j];
            }
            free(want);
        }
        free(w);
    }
    EF_CHECK_MSG(t, worst <= 2e-3, "guidance embedding: max abs err %.3g", worst);
    float tiny[3];
    EF_CHECK(t, ef_sched_guidance_embed(1.0f, 3, tiny, &err) == EF_ERR_INVALID_ARG && strstr(err.msg, "=3"));
    if (env_flag("EF_SCHED_REPORT"))
        printf("    guidance embedding: max abs err %.2e, bit-exact %zu/%zu\n", worst, n_exact, n_vals);
    ef_st_close(f);
}

/* ------------------------------------------------------------------ errors */

static ef_status create_json(const char *json, const ef_sched_params *p, ef_sched **s, ef_err *err) {
    cJSON *cfg = cJSON_Parse(json);
    ef_status rc = cfg ? ef_sched_create(cfg, "scheduler_config.json", p, s, err) : EF_ERR_FORMAT;
    cJSON_Delete(cfg);
    return rc;
}

static void expect_fail(ef_test *t, const char *json, ef_status want, const char *needle) {
    ef_err err = {0};
    ef_sched *s = NULL;
    ef_status rc = create_json(json, NULL, &s, &err);
    EF_CHECK_MSG(t, rc == want && s == NULL, "%s: status %d, want %d (%s)", json, rc, want, err.msg);
    EF_CHECK_MSG(t, strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", json, err.msg, needle);
    ef_sched_free(s);
}

static void test_config_errors(ef_test *t) {
    expect_fail(t, "{\"_class_name\":\"DDIMScheduler\",\"beta_schedule\":\"squaredcos_cap_v2\"}", EF_ERR_UNSUPPORTED,
                "unsupported scheduler config: beta_schedule=squaredcos_cap_v2");
    expect_fail(t, "{\"_class_name\":\"DDIMScheduler\",\"thresholding\":true}", EF_ERR_UNSUPPORTED,
                "unsupported scheduler config: thresholding=true");
    expect_fail(t, "{\"_class_name\":\"LCMScheduler\",\"rescale_betas_zero_snr\":true}", EF_ERR_UNSUPPORTED,
                "rescale_betas_zero_snr=true");
    expect_fail(t, "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"prediction_type\":\"flow_prediction\"}",
                EF_ERR_UNSUPPORTED, "prediction_type=flow_prediction");
    expect_fail(t, "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"algorithm_type\":\"sde-dpmsolver++\"}",
                EF_ERR_UNSUPPORTED, "algorithm_type=sde-dpmsolver++");
    expect_fail(t, "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"use_lu_lambdas\":true}", EF_ERR_UNSUPPORTED,
                "use_lu_lambdas=true");
    expect_fail(t, "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"variance_type\":\"learned_range\"}",
                EF_ERR_UNSUPPORTED, "variance_type=learned_range");
    expect_fail(t, "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"solver_order\":4}", EF_ERR_FORMAT, "solver_order");
    expect_fail(t, "{\"_class_name\":\"EulerDiscreteScheduler\",\"interpolation_type\":\"log_linear\"}",
                EF_ERR_UNSUPPORTED, "interpolation_type=log_linear");
    expect_fail(t, "{\"_class_name\":\"EulerDiscreteScheduler\",\"use_exponential_sigmas\":true}", EF_ERR_UNSUPPORTED,
                "use_exponential_sigmas=true");
    expect_fail(t, "{\"_class_name\":\"EulerDiscreteScheduler\",\"final_sigmas_type\":\"max\"}", EF_ERR_UNSUPPORTED,
                "final_sigmas_type=max");
    expect_fail(t, "{\"_class_name\":\"EulerDiscreteScheduler\",\"timestep_spacing\":\"log\"}", EF_ERR_UNSUPPORTED,
                "timestep_spacing=log");
    expect_fail(t, "{\"_class_name\":\"EulerAncestralDiscreteScheduler\",\"prediction_type\":\"sample\"}",
                EF_ERR_UNSUPPORTED, "prediction_type=sample");
    expect_fail(t, "{\"_class_name\":\"PNDMScheduler\",\"prediction_type\":\"sample\"}", EF_ERR_UNSUPPORTED,
                "prediction_type=sample");
    expect_fail(t, "{\"_class_name\":\"PNDMScheduler\",\"num_train_timesteps\":\"1000\"}", EF_ERR_FORMAT,
                "'num_train_timesteps'");
    expect_fail(t, "{\"_class_name\":\"PNDMScheduler\",\"skip_prk_steps\":1}", EF_ERR_FORMAT, "'skip_prk_steps'");
    expect_fail(t, "{\"_class_name\":\"LCMScheduler\",\"original_inference_steps\":2000}", EF_ERR_FORMAT,
                "'original_inference_steps'");
    expect_fail(t, "{\"_class_name\":\"LCMScheduler\",\"trained_betas\":[0.1,0.2]}", EF_ERR_FORMAT, "'trained_betas'");
    expect_fail(t, "{\"_class_name\":\"HeunDiscreteScheduler\"}", EF_ERR_UNSUPPORTED, "'HeunDiscreteScheduler'");
    expect_fail(t, "{\"beta_schedule\":\"linear\"}", EF_ERR_FORMAT, "'_class_name'");

    /* the sd.cpp --scheduler karras override only where diffusers has Karras sigmas */
    ef_err err = {0};
    ef_sched *s = NULL;
    ef_sched_params p = ef_sched_default_params();
    p.use_karras = 1;
    ef_status rc = create_json("{\"_class_name\":\"DDIMScheduler\"}", &p, &s, &err);
    EF_CHECK_MSG(t, rc == EF_ERR_UNSUPPORTED && strstr(err.msg, "use_karras_sigmas"), "karras on DDIM: %s", err.msg);
    p.kind = EF_SCHED_EULER;                      /* kind override wins over _class_name */
    rc = create_json("{\"_class_name\":\"DDIMScheduler\"}", &p, &s, &err);
    EF_CHECK_MSG(t, rc == EF_OK && ef_sched_get_kind(s) == EF_SCHED_EULER, "kind override: %s", err.msg);
    ef_sched_free(s);
}

static void expect_steps_fail(ef_test *t, const char *json, int n_steps, double strength, const char *needle) {
    ef_err err = {0};
    ef_sched *s = NULL;
    ef_status rc = create_json(json, NULL, &s, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", json, err.msg);
    if (rc != EF_OK) return;
    rc = ef_sched_set_timesteps(s, n_steps, strength, 8, &err);
    EF_CHECK_MSG(t, rc == EF_ERR_INVALID_ARG, "%s: set_timesteps(%d, %g) gave %d", json, n_steps, strength, rc);
    EF_CHECK_MSG(t, strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", json, err.msg, needle);
    EF_CHECK_INT(t, ef_sched_n_steps(s), 0);
    ef_sched_free(s);
}

static void test_step_errors(ef_test *t) {
    const char *lcm = "{\"_class_name\":\"LCMScheduler\"}";
    expect_steps_fail(t, lcm, 0, 1.0, "n_steps=0");
    expect_steps_fail(t, "{\"_class_name\":\"DDIMScheduler\"}", 1001, 1.0, "n_steps=1001");
    expect_steps_fail(t, lcm, 51, 1.0, "original_inference_steps=50");
    expect_steps_fail(t, lcm, 4, 0.05, "original_inference_steps=50 x strength=0.05");
    expect_steps_fail(t, lcm, 4, 1.5, "strength=1.5");
    expect_steps_fail(t, "{\"_class_name\":\"DDIMScheduler\"}", 4, 0.1, "leaves no denoising step");
    expect_steps_fail(t, "{\"_class_name\":\"PNDMScheduler\",\"skip_prk_steps\":false}", 3, 1.0, "skip_prk_steps=false");
    expect_steps_fail(t, "{\"_class_name\":\"DDIMScheduler\",\"steps_offset\":1}", 1000, 1.0, "steps_offset=1");

    ef_err err = {0};
    ef_sched *s = NULL;
    float x[8] = {0}, mo[8] = {0}, out[8];
    EF_CHECK(t, create_json(lcm, NULL, &s, &err) == EF_OK);
    if (!s) return;
    EF_CHECK(t, ef_sched_step(s, 0, mo, x, NULL, out, NULL, 8, &err) == EF_ERR_INVALID_ARG);   /* no schedule */
    EF_CHECK(t, ef_sched_set_timesteps(s, 4, 1.0, 8, &err) == EF_OK);
    EF_CHECK(t, ef_sched_needs_noise(s, 0) && !ef_sched_needs_noise(s, 3));
    EF_CHECK(t, ef_sched_step(s, 1, mo, x, x, out, NULL, 8, &err) == EF_ERR_INVALID_ARG);      /* out of order */
    EF_CHECK(t, strstr(err.msg, "out of order") != NULL);
    EF_CHECK(t, ef_sched_step(s, 0, mo, x, NULL, out, NULL, 8, &err) == EF_ERR_INVALID_ARG);   /* needs noise */
    EF_CHECK(t, strstr(err.msg, "needs noise") != NULL);
    EF_CHECK(t, ef_sched_step(s, 0, mo, x, x, out, NULL, 7, &err) == EF_ERR_INVALID_ARG);      /* wrong n */
    EF_CHECK(t, ef_sched_step(s, 0, mo, x, x, out, NULL, 8, &err) == EF_OK);
    ef_sched_free(s);

    s = NULL;
    EF_CHECK(t, create_json("{\"_class_name\":\"PNDMScheduler\"}", NULL, &s, &err) == EF_OK);
    if (!s) return;
    EF_CHECK(t, ef_sched_set_timesteps(s, 10, 1.0, 8, &err) == EF_OK);
    EF_CHECK(t, ef_sched_step(s, 0, mo, x, NULL, out, out, 8, &err) == EF_ERR_INVALID_ARG);    /* no denoised */
    ef_sched_free(s);
    ef_sched_free(NULL);
}

/* In-place stepping (prev == sample) and re-running set_timesteps reproduce a run with
** separate buffers, for the multistep schedulers whose history could get mixed up. */
static void test_in_place_and_rerun(ef_test *t) {
    static const char *const CFG[] = {
        "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"solver_order\":3,\"beta_schedule\":\"scaled_linear\"}",
        "{\"_class_name\":\"PNDMScheduler\",\"skip_prk_steps\":true,\"steps_offset\":1}",
        "{\"_class_name\":\"PNDMScheduler\",\"skip_prk_steps\":false}",
        "{\"_class_name\":\"EulerAncestralDiscreteScheduler\"}",
    };
    enum { E = 16, STEPS = 9 };
    for (size_t c = 0; c < sizeof CFG / sizeof CFG[0]; c++) {
        ef_err err = {0};
        ef_sched *s = NULL;
        EF_CHECK(t, create_json(CFG[c], NULL, &s, &err) == EF_OK);
        if (!s) continue;
        float ref[E], x[E], tmp[E], mo[E], noise[E];
        for (int pass = 0; pass < 3; pass++) {   /* 0: in place, 1: separate output, 2: in place again */
            EF_CHECK(t, ef_sched_set_timesteps(s, STEPS, 1.0, E, &err) == EF_OK);
            ef_test_fill_random(x, E, 1);
            for (int i = 0; i < ef_sched_n_steps(s); i++) {
                ef_test_fill_random(mo, E, 100 + (uint64_t)i);
                ef_test_fill_random(noise, E, 200 + (uint64_t)i);
                if (pass == 1) {
                    EF_CHECK(t, ef_sched_step(s, i, mo, x, noise, tmp, NULL, E, &err) == EF_OK);
                    memcpy(x, tmp, sizeof tmp);
                } else {
                    EF_CHECK(t, ef_sched_step(s, i, mo, x, noise, x, NULL, E, &err) == EF_OK);
                }
            }
            if (pass == 0) memcpy(ref, x, sizeof x);
            else EF_CHECK_MSG(t, memcmp(ref, x, sizeof x) == 0, "%s: pass %d differs", CFG[c], pass);
        }
        ef_sched_free(s);
    }
}

static void test_names(ef_test *t) {
    static const struct { const char *name; ef_sched_kind kind; } OK[] = {
        {"euler", EF_SCHED_EULER}, {"euler_a", EF_SCHED_EULER_A}, {"ddim", EF_SCHED_DDIM},
        {"dpm++2m", EF_SCHED_DPMPP_2M}, {"lcm", EF_SCHED_LCM}, {"pndm", EF_SCHED_PNDM},
        {"DPMSolverMultistepScheduler", EF_SCHED_DPMPP_2M}, {"LCMScheduler", EF_SCHED_LCM},
    };
    ef_err err = {0};
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        ef_sched_kind k = EF_SCHED_KIND_COUNT;
        EF_CHECK_MSG(t, ef_sched_kind_from_name(OK[i].name, &k, &err) == EF_OK && k == OK[i].kind, "%s", OK[i].name);
    }
    ef_sched_kind k;
    EF_CHECK(t, ef_sched_kind_from_name("heun", &k, &err) == EF_ERR_UNSUPPORTED && strstr(err.msg, "'heun'"));
    int karras = -1;
    EF_CHECK(t, ef_sched_karras_from_name("karras", &karras, &err) == EF_OK && karras == 1);
    EF_CHECK(t, ef_sched_karras_from_name("discrete", &karras, &err) == EF_OK && karras == 0);
    EF_CHECK(t, ef_sched_karras_from_name("ays", &karras, &err) == EF_ERR_UNSUPPORTED && strstr(err.msg, "'ays'"));
    EF_CHECK(t, !strcmp(ef_sched_kind_name(EF_SCHED_PNDM), "PNDMScheduler"));
    EF_CHECK(t, !strcmp(ef_sched_kind_name(EF_SCHED_KIND_COUNT), "?"));
}

/* Switching class keeps the loaded class's filled-in defaults (diffusers from_config). */
static void test_fill_defaults(ef_test *t) {
    ef_err err;
    cJSON *cfg = cJSON_Parse("{\"_class_name\": \"PNDMScheduler\", \"beta_schedule\": \"scaled_linear\","
                             " \"beta_start\": 0.00085, \"beta_end\": 0.012, \"steps_offset\": 1}");
    EF_CHECK(t, cfg != NULL);
    if (!cfg) return;
    EF_CHECK(t, ef_sched_config_fill_defaults(cfg, EF_SCHED_PNDM, &err) == EF_OK);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cfg, "timestep_spacing");
    EF_CHECK(t, cJSON_IsString(sp) && strcmp(sp->valuestring, "leading") == 0);
    EF_CHECK(t, cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "skip_prk_steps")));
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(cfg, "steps_offset");   /* kept, not overwritten */
    EF_CHECK(t, cJSON_IsNumber(off) && off->valueint == 1);
    EF_CHECK(t, strcmp(cJSON_GetObjectItemCaseSensitive(cfg, "beta_schedule")->valuestring, "scaled_linear") == 0);
    /* Euler built from it uses leading spacing: 5 steps from 1000 -> 801, 601, ... + offset 1. */
    ef_sched_params p = ef_sched_default_params();
    p.kind = EF_SCHED_EULER;
    ef_sched *s = NULL;
    EF_CHECK(t, ef_sched_create(cfg, "pndm", &p, &s, &err) == EF_OK);
    if (s) {
        EF_CHECK(t, ef_sched_set_timesteps(s, 5, 1.0, 4, &err) == EF_OK);
        EF_CHECK_NEAR(t, ef_sched_timesteps(s)[0], 801.0, 0);
        EF_CHECK_NEAR(t, ef_sched_timesteps(s)[4], 1.0, 0);
    }
    ef_sched_free(s);
    EF_CHECK(t, ef_sched_config_fill_defaults(cfg, EF_SCHED_KIND_COUNT, &err) == EF_ERR_INVALID_ARG);
    cJSON_Delete(cfg);
}

const ef_test_case ef_suite_sched[] = {
    {"fixtures", test_fixtures},
    {"guidance", test_guidance},
    {"config_errors", test_config_errors},
    {"step_errors", test_step_errors},
    {"in_place_and_rerun", test_in_place_and_rerun},
    {"names", test_names},
    {"fill_defaults", test_fill_defaults},
    {0, 0},
};
