/*
** euler_a.c -- diffusers EulerAncestralDiscreteScheduler
** (scheduling_euler_ancestral_discrete.py).
**
** Timesteps and sigmas as EulerDiscreteScheduler without Karras (euler.c builds them).
** Step: Euler to sigma_down, then add noise * sigma_up, where
** sigma_up = sqrt(s_to^2 (s_from^2 - s_to^2) / s_from^2), sigma_down = sqrt(s_to^2 - sigma_up^2).
** diffusers draws that noise on every step, the last one included (sigma_up = 0 there),
** so the caller must draw it every step to keep the generator in step.
*/
#include <math.h>

#include "ef_internal.h"
#include "sched/sched_internal.h"

static ef_status euler_a_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    EF_TRY(ef_sched_read_prediction(s, cfg, label, 0, err));   /* sample: NotImplementedError */
    EF_TRY(ef_sched_read_spacing(s, cfg, label, "linspace", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "rescale_betas_zero_snr", err));
    s->use_karras = 0;
    s->final_sigma_min = 0;
    return EF_OK;
}

static int euler_a_needs_noise(const ef_sched *s, int idx) { (void)s; (void)idx; return 1; }

static void euler_a_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                         float *prev, float *denoised, size_t n) {
    float sigma = s->sigmas[idx];
    float v_d = sigma * sigma;
    v_d = v_d + 1.0f;
    float v_c = -sigma / sqrtf(v_d);

    float sf = sigma, st = s->sigmas[idx + 1];
    float st2 = st * st, sf2 = sf * sf;
    float up = sf2 - st2;
    up = st2 * up;
    up = up / sf2;
    float sigma_up = sqrtf(up);
    float su2 = sigma_up * sigma_up;
    float down = st2 - su2;
    float sigma_down = sqrtf(down);
    float dt = sigma_down - sigma;

    for (size_t k = 0; k < n; k++) {
        float x0;
        if (s->pred == EF_PRED_EPSILON) {
            float p = sigma * mo[k];
            x0 = x[k] - p;
        } else {
            float p = mo[k] * v_c;
            float q = x[k] / v_d;
            x0 = p + q;
        }
        float deriv = (x[k] - x0) / sigma;
        float step = deriv * dt;
        float y = x[k] + step;
        float z = noise[k] * sigma_up;
        if (denoised) denoised[k] = x0;
        prev[k] = y + z;
    }
}

static void euler_a_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    ef_sched_add_noise_sigma(s->sigmas[idx], x0, noise, out, n);
}

const ef_sched_ops ef_sched_ops_euler_a = {
    "EulerAncestralDiscreteScheduler", euler_a_configure, ef_euler_set_timesteps_common,
    ef_euler_scale_input_common, euler_a_needs_noise, euler_a_step, euler_a_add_noise,
};
