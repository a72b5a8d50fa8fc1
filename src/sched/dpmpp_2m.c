/*
** dpmpp_2m.c -- diffusers DPMSolverMultistepScheduler (scheduling_dpmsolver_multistep.py)
** with algorithm_type dpmsolver++ ("DPM++ 2M"; solver_order 1..3, solver_type
** midpoint/heun), with or without Karras sigmas, final_sigmas_type zero/sigma_min,
** lower_order_final and euler_at_final.
**
** Timesteps are integers: spacing over [0, last_timestep) with N+1 points minus the
** last, or Karras sigmas mapped back to rounded timesteps. Each step converts the model
** output to x0, keeps the last solver_order - 1 of them (the history, allocated in
** set_timesteps), and takes a first/second/third-order step in lambda = log(alpha/sigma),
** with diffusers' rules for lowering the order at the start and the end.
** All float32 in diffusers' order; log/exp are libm's rounded to float32 (diffusers gets
** them from MKL/SLEEF), the one source of ulp-level differences here.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

static float logf32(float x) { return (float)log((double)x); }
static float expf32(float x) { return (float)exp((double)x); }

static ef_status dpm_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    int64_t order = 2;
    EF_TRY(ef_json_int(cfg, label, "solver_order", 0, 2, 1, 3, &order, err));
    s->solver_order = (int)order;
    EF_TRY(ef_sched_read_prediction(s, cfg, label, 1, err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "thresholding", err));
    const char *v = NULL;
    EF_TRY(ef_json_str(cfg, label, "algorithm_type", 0, "dpmsolver++", &v, err));
    if (strcmp(v, "dpmsolver++") != 0 && strcmp(v, "deis") != 0)   /* diffusers maps deis to dpmsolver++ */
        return ef_sched_refuse(err, label, "algorithm_type", v);
    EF_TRY(ef_json_str(cfg, label, "solver_type", 0, "midpoint", &v, err));
    if (!strcmp(v, "heun")) s->solver_heun = 1;
    else if (!strcmp(v, "midpoint") || !strcmp(v, "logrho") || !strcmp(v, "bh1") || !strcmp(v, "bh2")) s->solver_heun = 0;
    else return ef_sched_refuse(err, label, "solver_type", v);
    EF_TRY(ef_json_bool(cfg, label, "lower_order_final", 0, 1, &s->lower_order_final, err));
    EF_TRY(ef_json_bool(cfg, label, "euler_at_final", 0, 0, &s->euler_at_final, err));
    EF_TRY(ef_json_bool(cfg, label, "use_karras_sigmas", 0, 0, &s->use_karras, err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_exponential_sigmas", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_beta_sigmas", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_lu_lambdas", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_flow_sigmas", err));
    EF_TRY(ef_json_str(cfg, label, "final_sigmas_type", 0, "zero", &v, err));
    if (!strcmp(v, "zero")) s->final_sigma_min = 0;
    else if (!strcmp(v, "sigma_min")) s->final_sigma_min = 1;
    else return ef_sched_refuse(err, label, "final_sigmas_type", v);
    if (ef_json_has(cfg, "lambda_min_clipped"))
        EF_TRY(ef_json_num(cfg, label, "lambda_min_clipped", 1, 0.0, -1e30, 1e30, &s->lambda_min_clipped, err));
    if (ef_json_has(cfg, "variance_type")) {
        EF_TRY(ef_json_str(cfg, label, "variance_type", 1, NULL, &v, err));
        return ef_sched_refuse(err, label, "variance_type", v);
    }
    EF_TRY(ef_sched_read_spacing(s, cfg, label, "linspace", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "rescale_betas_zero_snr", err));
    return EF_OK;
}

/* last_timestep = T - searchsorted(flip(lambda_t), lambda_min_clipped). */
static int last_timestep(const ef_sched *s) {
    if (isinf(s->lambda_min_clipped) && s->lambda_min_clipped < 0) return s->n_train;
    int clipped = 0;
    for (int i = 0; i < s->n_train; i++) {          /* flipped table, ascending */
        float a = s->alphas_cumprod[s->n_train - 1 - i];
        float lam = logf32(sqrtf(a)) - logf32(sqrtf(1.0f - a));
        if (!((double)lam < s->lambda_min_clipped)) break;
        clipped = i + 1;
    }
    return s->n_train - clipped;
}

/* The spacing of DPMSolverMultistep.set_timesteps (not the shared one: N+1 points). */
static int dpm_spacing(const ef_sched *s, int n, double *t) {
    int last = last_timestep(s);
    if (s->spacing == EF_SPACING_LINSPACE) {
        double *lin = t + n + 1;                     /* caller gives 2n+2 doubles */
        ef_np_linspace(0.0, (double)(last - 1), n + 1, 1, lin);
        for (int j = 0; j < n; j++) t[j] = ef_np_round(lin[n - j]);
        return n;
    }
    if (s->spacing == EF_SPACING_LEADING) {
        int ratio = last / (n + 1);
        for (int j = 0; j < n; j++) t[j] = (double)((n - j) * ratio) + (double)s->steps_offset;
        return n;
    }
    double ratio = (double)s->n_train / (double)n;
    int cnt = ef_np_arange_desc((double)last, 0.0, -ratio, t, n + 1);
    if (cnt > n + 1) cnt = n + 1;
    for (int j = 0; j < cnt; j++) t[j] = ef_np_round(t[j]) - 1.0;
    return cnt;
}

static ef_status dpm_set_timesteps(ef_sched *s, int n_steps, double strength, ef_err *err) {
    size_t T = (size_t)s->n_train;
    double *t = malloc(((size_t)n_steps * 3 + 3) * sizeof *t);
    float *tab = malloc(T * 2 * sizeof *tab);
    if (!t || !tab) { free(t); free(tab); return ef_err_set(err, EF_ERR_NOMEM, "DPMSolverMultistepScheduler: out of memory"); }
    float *log_sigmas = tab + T;
    double *sig = t + 2 * n_steps + 2;
    int cnt = dpm_spacing(s, n_steps, t);
    if (s->use_karras) cnt = n_steps;               /* Karras: num_inference_steps sigmas */
    ef_status rc = EF_OK;
    if (cnt < 1) rc = ef_err_set(err, EF_ERR_INVALID_ARG, "DPMSolverMultistepScheduler: no timesteps for n_steps=%d", n_steps);
    if (rc == EF_OK) rc = ef_sched_alloc_schedule(s, cnt, 1, s->solver_order - 1, err);
    if (rc == EF_OK) {
        for (size_t i = 0; i < T; i++) tab[i] = ef_sched_sigma_of(s, (int)i);
        if (s->use_karras) {
            ef_sched_log_sigmas(s, log_sigmas);
            ef_sched_karras(s, (double)tab[0], (double)tab[T - 1], cnt, sig);
            for (int i = 0; i < cnt; i++) t[i] = ef_np_round(ef_sched_sigma_to_t(sig[i], log_sigmas, (int)T));
        } else {
            for (int i = 0; i < cnt; i++) sig[i] = ef_np_interp_index(t[i], tab, (int)T);
        }
        for (int i = 0; i < cnt; i++) {
            s->timesteps_full[i] = (float)t[i];
            s->sigmas[i] = (float)sig[i];
        }
        s->sigmas[cnt] = s->final_sigma_min ? ef_sched_sigma_of(s, 0) : 0.0f;
        s->init_noise_sigma = 1.0f;
        s->begin = 0;
        if (strength < 1.0) rc = ef_sched_begin_from_strength(s, n_steps, strength, err);
    }
    free(t);
    free(tab);
    return rc;
}

/* _sigma_to_alpha_sigma_t and lambda = log(alpha) - log(sigma), float32 0-d tensors. */
typedef struct dpm_point { float alpha, sigma, lambda; } dpm_point;

static dpm_point point_of(float sigma) {
    dpm_point p;
    float d = sigma * sigma;
    d = d + 1.0f;
    p.alpha = (1.0f / sqrtf(d)) * 1.0f;          /* 1 / t  = t.reciprocal() * 1 */
    p.sigma = sigma * p.alpha;
    p.lambda = logf32(p.alpha) - logf32(p.sigma);
    return p;
}

static void dpm_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                     float *prev, float *denoised, size_t n) {
    (void)noise;
    int N = s->n_full;
    int final_low = idx == N - 1 && (s->euler_at_final || (s->lower_order_final && N < 15) || !s->final_sigma_min);
    int second_low = idx == N - 2 && s->lower_order_final && N < 15;
    int order;
    if (s->solver_order == 1 || s->lower_order_nums < 1 || final_low) order = 1;
    else if (s->solver_order == 2 || s->lower_order_nums < 2 || second_low) order = 2;
    else order = 3;

    dpm_point pt = point_of(s->sigmas[idx + 1]);
    dpm_point p0 = point_of(s->sigmas[idx]);
    dpm_point p1 = idx >= 1 ? point_of(s->sigmas[idx - 1]) : p0;
    dpm_point p2 = idx >= 2 ? point_of(s->sigmas[idx - 2]) : p1;

    float h = pt.lambda - p0.lambda;
    float em1 = expf32(-h) - 1.0f;               /* torch.exp(-h) - 1.0 */
    float c_x = pt.sigma / p0.sigma;
    float c_d0 = pt.alpha * em1;
    /* second order */
    float h0 = p0.lambda - p1.lambda;
    float r0 = h0 / h;
    float inv_r0 = (1.0f / r0) * 1.0f;
    float c_mid = 0.5f * c_d0;
    float heun = em1 / h;
    heun = heun + 1.0f;
    float c_heun = pt.alpha * heun;
    /* third order */
    float h1 = p1.lambda - p2.lambda;
    float r1 = h1 / h;
    float inv_r1 = (1.0f / r1) * 1.0f;
    float r01 = r0 + r1;
    float c_r = r0 / r01;
    float inv_r01 = (1.0f / r01) * 1.0f;
    float c3 = em1 + h;
    float hh = h * h;
    c3 = c3 / hh;
    c3 = c3 - 0.5f;
    c3 = pt.alpha * c3;

    float *hist0 = s->hist;                                      /* oldest kept x0 */
    float *hist1 = s->n_hist >= 2 ? s->hist + s->n_elems : NULL; /* newer (order 3) */
    float *newest = s->n_hist == 2 ? hist1 : hist0;

    for (size_t k = 0; k < n; k++) {
        float m0;                                /* convert_model_output */
        if (s->pred == EF_PRED_EPSILON) {
            float p = p0.sigma * mo[k];
            m0 = (x[k] - p) / p0.alpha;
        } else if (s->pred == EF_PRED_V) {
            float p = p0.alpha * x[k];
            float q = p0.sigma * mo[k];
            m0 = p - q;
        } else {
            m0 = mo[k];
        }
        float a = c_x * x[k];
        float b = c_d0 * m0;
        float out = a - b;
        if (order == 2) {
            float m1 = newest[k];
            float diff = m0 - m1;
            float d1 = inv_r0 * diff;
            if (s->solver_heun) {
                float c = c_heun * d1;
                out = out + c;
            } else {
                float c = c_mid * d1;
                out = out - c;
            }
        } else if (order == 3) {
            float m1 = hist1[k], m2 = hist0[k];
            float d10 = m0 - m1;
            d10 = inv_r0 * d10;
            float d11 = m1 - m2;
            d11 = inv_r1 * d11;
            float dd = d10 - d11;
            float d1 = c_r * dd;
            d1 = d10 + d1;
            float d2 = inv_r01 * dd;
            float c = c_heun * d1;
            out = out + c;
            float e = c3 * d2;
            out = out - e;
        }
        /* model_outputs shift: keep the last solver_order - 1 x0s */
        if (s->n_hist == 2) { hist0[k] = hist1[k]; hist1[k] = m0; }
        else if (s->n_hist == 1) { hist0[k] = m0; }
        if (denoised) denoised[k] = m0;
        prev[k] = out;
    }
    if (s->lower_order_nums < s->solver_order) s->lower_order_nums++;
}

static void dpm_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    dpm_point p = point_of(s->sigmas[idx]);
    for (size_t k = 0; k < n; k++) {
        float a = p.alpha * x0[k];
        float b = p.sigma * noise[k];
        out[k] = a + b;
    }
}

static int dpm_needs_noise(const ef_sched *s, int idx) { (void)s; (void)idx; return 0; }

const ef_sched_ops ef_sched_ops_dpmpp_2m = {
    "DPMSolverMultistepScheduler", dpm_configure, dpm_set_timesteps, NULL, dpm_needs_noise, dpm_step, dpm_add_noise,
};
