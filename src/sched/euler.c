/*
** euler.c -- diffusers EulerDiscreteScheduler (scheduling_euler_discrete.py), with
** s_churn = 0 (the pipelines' default: deterministic, no noise).
**
** Timesteps are float32: leading / trailing (integral) or linspace (fractional).
** Sigmas: the float32 table sqrt((1-ac)/ac) interpolated at those timesteps (np.interp
** in float64), or with use_karras_sigmas the Karras ramp between its ends and the
** timesteps mapped back with _sigma_to_t; then a final 0 (or sigma_min). Step:
** x0 = x - sigma*eps (or v / sample), x' = x + (x - x0)/sigma * (sigma_next - sigma).
** Model input is x / sqrt(sigma^2 + 1).
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

static ef_status read_final_sigmas(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    const char *v = NULL;
    EF_TRY(ef_json_str(cfg, label, "final_sigmas_type", 0, "zero", &v, err));
    if (!strcmp(v, "zero")) s->final_sigma_min = 0;
    else if (!strcmp(v, "sigma_min")) s->final_sigma_min = 1;
    else return ef_sched_refuse(err, label, "final_sigmas_type", v);
    return EF_OK;
}

static ef_status read_opt_num(const cJSON *cfg, const char *label, const char *key, int *has, double *v, ef_err *err) {
    *has = ef_json_has(cfg, key);
    if (*has) EF_TRY(ef_json_num(cfg, label, key, 1, 0.0, 1e-30, 1e30, v, err));
    return EF_OK;
}

static ef_status euler_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    EF_TRY(ef_sched_read_prediction(s, cfg, label, 2, err));
    const char *interp = NULL;
    EF_TRY(ef_json_str(cfg, label, "interpolation_type", 0, "linear", &interp, err));
    if (strcmp(interp, "linear") != 0) return ef_sched_refuse(err, label, "interpolation_type", interp);
    EF_TRY(ef_json_bool(cfg, label, "use_karras_sigmas", 0, 0, &s->use_karras, err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_exponential_sigmas", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "use_beta_sigmas", err));
    EF_TRY(read_opt_num(cfg, label, "sigma_min", &s->has_sigma_min, &s->sigma_min, err));
    EF_TRY(read_opt_num(cfg, label, "sigma_max", &s->has_sigma_max, &s->sigma_max, err));
    EF_TRY(ef_sched_read_spacing(s, cfg, label, "linspace", err));
    const char *tt = NULL;
    EF_TRY(ef_json_str(cfg, label, "timestep_type", 0, "discrete", &tt, err));
    if (strcmp(tt, "discrete") != 0 && strcmp(tt, "continuous") != 0)
        return ef_sched_refuse(err, label, "timestep_type", tt);
    if (!strcmp(tt, "continuous") && s->pred == EF_PRED_V)  /* the only case where it matters */
        return ef_sched_refuse(err, label, "timestep_type", tt);
    EF_TRY(ef_sched_refuse_true(cfg, label, "rescale_betas_zero_snr", err));
    EF_TRY(read_final_sigmas(s, cfg, label, err));
    return EF_OK;
}

/* The float32 timesteps of EulerDiscrete/EulerAncestral set_timesteps (no Karras). */
static ef_status euler_timesteps(ef_sched *s, int n_steps, double *tmp, ef_err *err) {
    EF_TRY(ef_sched_spacing(s, n_steps, tmp, err));
    for (int i = 0; i < n_steps; i++) {
        if (s->spacing == EF_SPACING_LINSPACE) {
            s->timesteps_full[i] = (float)tmp[i];          /* np.linspace(..., dtype=float32) */
        } else if (s->spacing == EF_SPACING_LEADING) {
            float base = (float)(tmp[i] - s->steps_offset); /* .astype(float32), then += offset */
            s->timesteps_full[i] = base + (float)s->steps_offset;
        } else {
            s->timesteps_full[i] = (float)tmp[i];          /* round().astype(float32) - 1 */
        }
    }
    return EF_OK;
}

/* init_noise_sigma: max(sigmas), or sqrt(max^2 + 1) for leading spacing. */
static float noise_sigma(const ef_sched *s) {
    float m = s->sigmas[0];
    for (int i = 1; i <= s->n_full; i++) if (s->sigmas[i] > m) m = s->sigmas[i];
    if (s->spacing != EF_SPACING_LEADING) return m;
    float q = m * m;
    q = q + 1.0f;
    return sqrtf(q);
}

static ef_status euler_set_timesteps(ef_sched *s, int n_steps, double strength, ef_err *err) {
    EF_TRY(ef_sched_alloc_schedule(s, n_steps, 1, 0, err));
    size_t T = (size_t)s->n_train;
    double *tmp = malloc(((size_t)n_steps * 2 + 1) * sizeof *tmp);
    float *tab = malloc(T * 2 * sizeof *tab);
    if (!tmp || !tab) { free(tmp); free(tab); return ef_err_set(err, EF_ERR_NOMEM, "EulerDiscreteScheduler: out of memory"); }
    float *log_sigmas = tab + T;
    double *sig = tmp + n_steps;
    ef_status rc = euler_timesteps(s, n_steps, tmp, err);
    if (rc == EF_OK) {
        for (size_t t = 0; t < T; t++) tab[t] = ef_sched_sigma_of(s, (int)t);
        for (int i = 0; i < n_steps; i++) sig[i] = ef_np_interp_index((double)s->timesteps_full[i], tab, (int)T);
        if (s->use_karras) {
            ef_sched_log_sigmas(s, log_sigmas);
            ef_sched_karras(s, sig[n_steps - 1], sig[0], n_steps, sig);
            for (int i = 0; i < n_steps; i++)
                s->timesteps_full[i] = (float)ef_sched_sigma_to_t(sig[i], log_sigmas, (int)T);
        }
        for (int i = 0; i < n_steps; i++) s->sigmas[i] = (float)sig[i];
        s->sigmas[n_steps] = s->final_sigma_min ? ef_sched_sigma_of(s, 0) : 0.0f;
        s->init_noise_sigma = noise_sigma(s);
        s->begin = 0;
        if (strength < 1.0) rc = ef_sched_begin_from_strength(s, n_steps, strength, err);
    }
    free(tmp);
    free(tab);
    return rc;
}

static void euler_scale_input(const ef_sched *s, int idx, const float *x, float *out, size_t n) {
    float sigma = s->sigmas[idx];
    float d = sigma * sigma;
    d = d + 1.0f;
    d = sqrtf(d);
    for (size_t k = 0; k < n; k++) out[k] = x[k] / d;
}

static int euler_needs_noise(const ef_sched *s, int idx) { (void)s; (void)idx; return 0; }

/* x0 prediction shared with Euler a (sigma = the step's sigma, float32 ops as diffusers). */
static float x0_of(int pred, float sigma, float v_c, float v_d, float mo, float x) {
    if (pred == EF_PRED_EPSILON) {
        float p = sigma * mo;
        return x - p;
    }
    if (pred == EF_PRED_V) {                 /* mo * (-sigma / sqrt(s^2+1)) + x / (s^2+1) */
        float p = mo * v_c;
        float q = x / v_d;
        return p + q;
    }
    return mo;
}

static void euler_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                       float *prev, float *denoised, size_t n) {
    (void)noise;
    float sigma = s->sigmas[idx];
    float sigma_hat = sigma * 1.0f;          /* sigma * (gamma + 1), gamma = 0 */
    float v_d = sigma * sigma;
    v_d = v_d + 1.0f;
    float v_c = -sigma / sqrtf(v_d);
    float dt = s->sigmas[idx + 1] - sigma_hat;
    for (size_t k = 0; k < n; k++) {
        float x0 = x0_of(s->pred, sigma_hat, v_c, v_d, mo[k], x[k]);
        float deriv = (x[k] - x0) / sigma_hat;
        float step = deriv * dt;
        if (denoised) denoised[k] = x0;
        prev[k] = x[k] + step;
    }
}

static void euler_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    ef_sched_add_noise_sigma(s->sigmas[idx], x0, noise, out, n);
}

const ef_sched_ops ef_sched_ops_euler = {
    "EulerDiscreteScheduler", euler_configure, euler_set_timesteps, euler_scale_input,
    euler_needs_noise, euler_step, euler_add_noise,
};

/* Shared with euler_a.c (declared in sched_internal.h). */
ef_status ef_euler_set_timesteps_common(ef_sched *s, int n_steps, double strength, ef_err *err) {
    return euler_set_timesteps(s, n_steps, strength, err);
}

void ef_euler_scale_input_common(const ef_sched *s, int idx, const float *x, float *out, size_t n) {
    euler_scale_input(s, idx, x, out, n);
}
