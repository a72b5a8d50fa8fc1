/*
** lcm.c -- diffusers LCMScheduler (scheduling_lcm.py), paper spec 5.4.
**
** Timesteps: k = T // original_inference_steps; origin = (1..int(orig*strength))*k - 1,
** reversed; N of them picked at floor(linspace(0, len, N, endpoint=False)).
** Step: x0 from the model output, denoised = c_out(t)*x0 + c_skip(t)*x with
** c_skip = 0.25/((t*s)^2 + 0.25), c_out = t*s/sqrt((t*s)^2 + 0.25) (s = timestep_scaling),
** then fresh noise is injected towards the next timestep, except after the last step.
** All float32, in diffusers' operation order. steps_offset and timestep_spacing are not
** used by this class (as in diffusers).
*/
#include <math.h>
#include <stdlib.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

static ef_status lcm_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    int64_t orig = 0;
    EF_TRY(ef_json_int(cfg, label, "original_inference_steps", 0, 50, 1, s->n_train, &orig, err));
    s->orig_steps = (int)orig;
    EF_TRY(ef_sched_read_ddim_family(s, cfg, label, 0, err));
    EF_TRY(ef_json_num(cfg, label, "timestep_scaling", 0, 10.0, 0.0, 1e30, &s->timestep_scaling, err));
    return EF_OK;
}

static ef_status lcm_set_timesteps(ef_sched *s, int n_steps, double strength, ef_err *err) {
    int k = s->n_train / s->orig_steps;
    int n_origin = (int)((double)s->orig_steps * strength);
    if (n_steps > n_origin) {
        if (strength == 1.0)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "LCMScheduler: n_steps=%d exceeds original_inference_steps=%d",
                              n_steps, s->orig_steps);
        return ef_err_set(err, EF_ERR_INVALID_ARG,
                          "LCMScheduler: n_steps=%d exceeds int(original_inference_steps=%d x strength=%g) = %d",
                          n_steps, s->orig_steps, strength, n_origin);
    }
    double *idx = malloc((size_t)n_steps * sizeof *idx);
    if (!idx) return ef_err_set(err, EF_ERR_NOMEM, "LCMScheduler: out of memory");
    ef_status rc = ef_sched_alloc_schedule(s, n_steps, 0, 0, err);
    if (rc != EF_OK) { free(idx); return rc; }
    ef_np_linspace(0.0, (double)n_origin, n_steps, 0, idx);
    for (int j = 0; j < n_steps; j++) {
        int r = (int)floor(idx[j]);                 /* index into the reversed origin list */
        int i = n_origin - 1 - r;                   /* index into (1..n_origin)*k - 1 */
        s->timesteps_full[j] = (float)((i + 1) * k - 1);
    }
    free(idx);
    s->begin = 0;                                   /* strength is applied above */
    s->init_noise_sigma = 1.0f;
    return EF_OK;
}

static int lcm_needs_noise(const ef_sched *s, int idx) { return idx != s->n_steps - 1; }

static void lcm_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                     float *prev, float *denoised, size_t n) {
    int t = (int)s->timesteps_full[idx];
    int t_prev = idx + 1 < s->n_full ? (int)s->timesteps_full[idx + 1] : t;
    float a_t = s->alphas_cumprod[t];
    float a_prev = t_prev >= 0 ? s->alphas_cumprod[t_prev] : s->final_alpha_cumprod;
    float b_t = 1.0f - a_t;
    float b_prev = 1.0f - a_prev;
    float sa_t = sqrtf(a_t), sb_t = sqrtf(b_t);
    float sa_prev = sqrtf(a_prev), sb_prev = sqrtf(b_prev);

    /* get_scalings_for_boundary_condition_discrete, on float32 0-d tensors */
    float st = (float)t * (float)s->timestep_scaling;
    float den = st * st;
    den = den + 0.25f;
    float c_skip = (1.0f / den) * 0.25f;            /* python float / tensor = reciprocal * float */
    float c_out = st / sqrtf(den);

    int last = !lcm_needs_noise(s, idx);
    for (size_t k = 0; k < n; k++) {
        float x0;
        if (s->pred == EF_PRED_EPSILON) {
            float p = sb_t * mo[k];
            x0 = (x[k] - p) / sa_t;
        } else if (s->pred == EF_PRED_V) {
            float p = sa_t * x[k];
            float q = sb_t * mo[k];
            x0 = p - q;
        } else {
            x0 = mo[k];
        }
        if (s->clip_sample) x0 = fminf(fmaxf(x0, -s->clip_range), s->clip_range);
        float u = c_out * x0;
        float v = c_skip * x[k];
        float d = u + v;
        float out = d;
        if (!last) {
            float p = sa_prev * d;
            float q = sb_prev * noise[k];
            out = p + q;
        }
        if (denoised) denoised[k] = d;
        prev[k] = out;
    }
}

static void lcm_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    ef_sched_add_noise_alpha(s, (int)s->timesteps_full[idx], x0, noise, out, n);
}

const ef_sched_ops ef_sched_ops_lcm = {
    "LCMScheduler", lcm_configure, lcm_set_timesteps, NULL, lcm_needs_noise, lcm_step, lcm_add_noise,
};
