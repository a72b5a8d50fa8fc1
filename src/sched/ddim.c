/*
** ddim.c -- diffusers DDIMScheduler (scheduling_ddim.py) with eta = 0 (the pipelines'
** default; no noise is ever drawn).
**
** Timesteps: leading / trailing / linspace spacing (rounded, int). The previous
** timestep is t - T // N (not the next entry of the schedule: with trailing spacing they
** can differ by one, and diffusers uses the formula). x0 and eps from the model output
** (epsilon, v_prediction or sample), optional clip of x0, then
** prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - 0^2) eps, all float32.
*/
#include <math.h>
#include <stdlib.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

static ef_status ddim_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    EF_TRY(ef_sched_read_ddim_family(s, cfg, label, 1, err));
    EF_TRY(ef_sched_read_spacing(s, cfg, label, "leading", err));
    return EF_OK;
}

static ef_status ddim_set_timesteps(ef_sched *s, int n_steps, double strength, ef_err *err) {
    EF_TRY(ef_sched_alloc_schedule(s, n_steps, 0, 0, err));
    double *t = malloc((size_t)n_steps * sizeof *t);
    if (!t) return ef_err_set(err, EF_ERR_NOMEM, "DDIMScheduler: out of memory");
    ef_status rc = ef_sched_spacing(s, n_steps, t, err);
    for (int i = 0; rc == EF_OK && i < n_steps; i++) {
        double v = ef_np_round(t[i]);
        if (v < 0 || v >= s->n_train)
            rc = ef_err_set(err, EF_ERR_INVALID_ARG, "DDIMScheduler: timestep %.0f out of range [0, %d) "
                            "(n_steps=%d, steps_offset=%d)", v, s->n_train, n_steps, s->steps_offset);
        else
            s->timesteps_full[i] = (float)v;
    }
    free(t);
    if (rc != EF_OK) return rc;
    s->init_noise_sigma = 1.0f;
    s->begin = 0;
    if (strength < 1.0) EF_TRY(ef_sched_begin_from_strength(s, n_steps, strength, err));
    return EF_OK;
}

static int ddim_needs_noise(const ef_sched *s, int idx) { (void)s; (void)idx; return 0; }

static void ddim_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                      float *prev, float *denoised, size_t n) {
    (void)noise;
    int t = (int)s->timesteps_full[idx];
    int t_prev = t - s->n_train / s->n_steps;
    float a_t = s->alphas_cumprod[t];
    float a_prev = t_prev >= 0 ? s->alphas_cumprod[t_prev] : s->final_alpha_cumprod;
    float b_t = 1.0f - a_t;
    float sa_t = sqrtf(a_t), sb_t = sqrtf(b_t), sa_prev = sqrtf(a_prev);

    /* _get_variance and std_dev_t = eta * variance ** 0.5 with eta = 0 */
    float b_prev = 1.0f - a_prev;
    float r = a_t / a_prev;
    float variance = b_prev / b_t;
    variance = variance * (1.0f - r);
    float std = 0.0f * sqrtf(variance);
    float dir = 1.0f - a_prev;
    dir = dir - std * std;
    dir = sqrtf(dir);

    for (size_t k = 0; k < n; k++) {
        float x0, eps;
        if (s->pred == EF_PRED_EPSILON) {
            float p = sb_t * mo[k];
            x0 = (x[k] - p) / sa_t;
            eps = mo[k];
        } else if (s->pred == EF_PRED_V) {
            float p = sa_t * x[k];
            float q = sb_t * mo[k];
            x0 = p - q;
            float u = sa_t * mo[k];
            float v = sb_t * x[k];
            eps = u + v;
        } else {
            x0 = mo[k];
            float p = sa_t * x0;
            eps = (x[k] - p) / sb_t;
        }
        if (s->clip_sample) x0 = fminf(fmaxf(x0, -s->clip_range), s->clip_range);
        float dirk = dir * eps;
        float base = sa_prev * x0;
        if (denoised) denoised[k] = x0;
        prev[k] = base + dirk;
    }
}

static void ddim_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    ef_sched_add_noise_alpha(s, (int)s->timesteps_full[idx], x0, noise, out, n);
}

const ef_sched_ops ef_sched_ops_ddim = {
    "DDIMScheduler", ddim_configure, ddim_set_timesteps, NULL, ddim_needs_noise, ddim_step, ddim_add_noise,
};
