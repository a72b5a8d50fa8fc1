/*
** pndm.c -- diffusers PNDMScheduler (scheduling_pndm.py): SD-1.x's and BK-SDM's default.
**
** skip_prk_steps = true (the shipped configs): linear multistep (PLMS) only. The
** schedule has N+1 entries because the second-to-last spaced timestep is duplicated
** ([751, 501, 501, 251, 1] for N=4): step 0 takes a first-order step, step 1 restarts
** from step 0's input with the average of both model outputs (a Heun step), and later
** steps use the Adams-Bashforth combinations of the last 2, 3, 4 model outputs (ets).
** skip_prk_steps = false: 4-stage Runge-Kutta steps on the last spaced timesteps first
** (4 UNet calls per step), then PLMS, as diffusers does it (quirks included).
** Step state (counter, ets ring, cur_sample, cur_model_output) lives in the ef_sched
** history slots, allocated by set_timesteps. No noise, no denoised output.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

enum { SLOT_ETS = 0, SLOT_CUR_SAMPLE = 4, SLOT_CUR_MO = 5, N_SLOTS = 6 };

static ef_status pndm_configure(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err) {
    EF_TRY(ef_json_bool(cfg, label, "skip_prk_steps", 0, 0, &s->skip_prk, err));
    int one = 0;
    EF_TRY(ef_json_bool(cfg, label, "set_alpha_to_one", 0, 0, &one, err));
    s->final_alpha_cumprod = one ? 1.0f : s->alphas_cumprod[0];
    EF_TRY(ef_sched_read_prediction(s, cfg, label, 0, err));
    EF_TRY(ef_sched_read_spacing(s, cfg, label, "leading", err));
    return EF_OK;
}

static ef_status pndm_set_timesteps(ef_sched *s, int n_steps, double strength, ef_err *err) {
    int n = n_steps;
    double *sp = malloc((size_t)n * sizeof *sp);
    int64_t *ts = calloc((size_t)n, sizeof *ts);             /* _timesteps, ascending */
    int64_t *out = malloc(((size_t)n + 16) * sizeof *out);
    ef_status rc = EF_OK;
    if (!sp || !ts || !out) rc = ef_err_set(err, EF_ERR_NOMEM, "PNDMScheduler: out of memory");
    if (rc == EF_OK) rc = ef_sched_spacing(s, n, sp, err);
    int cnt = 0, n_prk = 0;
    if (rc == EF_OK) {
        for (int i = 0; i < n; i++) ts[i] = (int64_t)ef_np_round(sp[n - 1 - i]);
        if (s->skip_prk) {
            /* concat(_ts[:-1], _ts[-2:-1], _ts[-1:])[::-1] */
            out[cnt++] = ts[n - 1];
            if (n >= 2) out[cnt++] = ts[n - 2];
            for (int i = n - 2; i >= 0; i--) out[cnt++] = ts[i];
        } else if (n < 4) {   /* diffusers: _timesteps[-4:] + tile(.., 4) fails to broadcast */
            rc = ef_err_set(err, EF_ERR_INVALID_ARG, "PNDMScheduler: n_steps=%d < 4 with skip_prk_steps=false", n);
        } else {
            int m = 4;
            int64_t half = s->n_train / n / 2;
            int64_t prk0[8], prk1[16];
            for (int i = 0; i < m; i++) {               /* _ts[-4:].repeat(2) + tile([0, half]) */
                prk0[2 * i] = ts[n - m + i];
                prk0[2 * i + 1] = ts[n - m + i] + half;
            }
            int l1 = 0;
            for (int i = 0; i < 2 * m - 1; i++) { prk1[l1++] = prk0[i]; prk1[l1++] = prk0[i]; }  /* [:-1].repeat(2) */
            for (int i = l1 - 2; i >= 1; i--) out[cnt++] = prk1[i];                           /* [1:-1][::-1] */
            n_prk = cnt;
            for (int i = n - 4; i >= 0; i--) out[cnt++] = ts[i];                              /* _ts[:-3][::-1] */
        }
    }
    for (int i = 0; rc == EF_OK && i < cnt; i++)
        if (out[i] < 0 || out[i] >= s->n_train)
            rc = ef_err_set(err, EF_ERR_INVALID_ARG, "PNDMScheduler: timestep %lld out of range [0, %d) "
                            "(n_steps=%d, steps_offset=%d)", (long long)out[i], s->n_train, n, s->steps_offset);
    if (rc == EF_OK) rc = ef_sched_alloc_schedule(s, cnt, 0, N_SLOTS, err);
    if (rc == EF_OK) {
        for (int i = 0; i < cnt; i++) s->timesteps_full[i] = (float)out[i];
        s->n_prk = n_prk;
        s->init_noise_sigma = 1.0f;
        s->begin = 0;
        if (strength < 1.0) rc = ef_sched_begin_from_strength(s, n_steps, strength, err);
    }
    free(sp);
    free(ts);
    free(out);
    return rc;
}

static int pndm_needs_noise(const ef_sched *s, int idx) { (void)s; (void)idx; return 0; }

/* Coefficients of _get_prev_sample(sample, t, t_prev, eps). */
typedef struct prev_coef { float sa, sb, sample_coeff, diff, denom; } prev_coef;

static prev_coef coef_of(const ef_sched *s, int t, int t_prev) {
    prev_coef c;
    float a_t = s->alphas_cumprod[t];
    float a_prev = t_prev >= 0 ? s->alphas_cumprod[t_prev] : s->final_alpha_cumprod;
    float b_t = 1.0f - a_t;
    float b_prev = 1.0f - a_prev;
    c.sa = sqrtf(a_t);
    c.sb = sqrtf(b_t);
    c.sample_coeff = sqrtf(a_prev / a_t);
    float u = a_t * sqrtf(b_prev);
    float w = a_t * b_t;
    w = w * a_prev;
    w = sqrtf(w);
    c.denom = u + w;
    c.diff = a_prev - a_t;
    return c;
}

static float prev_of(const ef_sched *s, const prev_coef *c, float x, float eps) {
    if (s->pred == EF_PRED_V) {
        float p = c->sa * eps;
        float q = c->sb * x;
        eps = p + q;
    }
    float a = c->sample_coeff * x;
    float b = c->diff * eps;
    b = b / c->denom;
    return a - b;
}

static float *slot(ef_sched *s, int k) { return s->hist + (size_t)k * s->n_elems; }

/* ets[-j] (j = 1 newest .. 4) in the ring. */
static float *ets_at(ef_sched *s, int j) { return slot(s, SLOT_ETS + ((s->ets_head - j) % 4 + 4) % 4); }

static void step_plms(ef_sched *s, int t, const float *mo, const float *x, float *prev, size_t n) {
    int ratio = s->n_train / s->n_steps;
    int t_prev = t - ratio;
    int c = s->counter;
    if (c != 1) {                               /* ets = ets[-3:] + [model_output] */
        memmove(slot(s, SLOT_ETS + s->ets_head), mo, n * sizeof *mo);
        s->ets_head = (s->ets_head + 1) % 4;
        if (s->n_ets < 4) s->n_ets++;
    } else {
        t_prev = t;
        t = t + ratio;
    }
    prev_coef co = coef_of(s, t, t_prev);
    float *cur = slot(s, SLOT_CUR_SAMPLE);
    float *e1 = ets_at(s, 1), *e2 = ets_at(s, 2), *e3 = ets_at(s, 3), *e4 = ets_at(s, 4);
    const float c1_24 = (float)(1.0 / 24.0);
    int mode = s->n_ets == 1 ? (c == 0 ? 0 : (c == 1 ? 1 : 2)) : s->n_ets + 1;
    for (size_t k = 0; k < n; k++) {
        float eps, xs = x[k];
        switch (mode) {
        case 0:                                 /* first step: remember the sample */
            eps = mo[k];
            cur[k] = x[k];
            break;
        case 1: {                               /* second step: average, restart from cur */
            float a = mo[k] + e1[k];
            eps = a / 2.0f;
            xs = cur[k];
            break;
        }
        case 3: {                               /* (3 e1 - e2) / 2 */
            float a = 3.0f * e1[k];
            a = a - e2[k];
            eps = a / 2.0f;
            break;
        }
        case 4: {                               /* (23 e1 - 16 e2 + 5 e3) / 12 */
            float a = 23.0f * e1[k];
            float b = 16.0f * e2[k];
            float d = 5.0f * e3[k];
            a = a - b;
            a = a + d;
            eps = a / 12.0f;
            break;
        }
        case 5: {                               /* 1/24 (55 e1 - 59 e2 + 37 e3 - 9 e4) */
            float a = 55.0f * e1[k];
            float b = 59.0f * e2[k];
            float d = 37.0f * e3[k];
            float e = 9.0f * e4[k];
            a = a - b;
            a = a + d;
            a = a - e;
            eps = c1_24 * a;
            break;
        }
        default:                                /* len(ets) == 1 with counter >= 2: unreachable */
            eps = mo[k];
            break;
        }
        prev[k] = prev_of(s, &co, xs, eps);
    }
    if (mode == 0) s->has_cur_sample = 1;
    if (mode == 1) s->has_cur_sample = 0;
    s->counter++;
}

static void step_prk(ef_sched *s, int t_arg, const float *mo, const float *x, float *prev, size_t n) {
    int c = s->counter;
    int diff_to_prev = c % 2 ? 0 : s->n_train / s->n_steps / 2;
    int t_prev = t_arg - diff_to_prev;
    int t = (int)s->timesteps_full[c / 4 * 4];
    prev_coef co = coef_of(s, t, t_prev);
    float *cur = slot(s, SLOT_CUR_SAMPLE), *acc = slot(s, SLOT_CUR_MO);
    const float c6 = (float)(1.0 / 6.0), c3 = (float)(1.0 / 3.0);
    int phase = c % 4;
    if (phase == 0) {                           /* ets.append(model_output) */
        memmove(slot(s, SLOT_ETS + s->ets_head), mo, n * sizeof *mo);
        s->ets_head = (s->ets_head + 1) % 4;
        if (s->n_ets < 4) s->n_ets++;
    }
    for (size_t k = 0; k < n; k++) {
        float eps = mo[k];
        if (phase == 0) {
            float a = c6 * mo[k];
            acc[k] = a + 0.0f;                  /* cur_model_output (= 0) + 1/6 eps */
            cur[k] = x[k];
        } else if (phase == 1 || phase == 2) {
            float a = c3 * mo[k];
            acc[k] = acc[k] + a;
        } else {
            float a = c6 * mo[k];
            eps = acc[k] + a;
            acc[k] = 0.0f;
        }
        prev[k] = prev_of(s, &co, cur[k], eps);
    }
    s->has_cur_sample = 1;
    s->counter++;
}

static void pndm_step(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                      float *prev, float *denoised, size_t n) {
    (void)noise;
    (void)denoised;
    int t = (int)s->timesteps_full[idx];
    if (!s->skip_prk && s->counter < s->n_prk) step_prk(s, t, mo, x, prev, n);
    else step_plms(s, t, mo, x, prev, n);
}

static void pndm_add_noise(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n) {
    ef_sched_add_noise_alpha(s, (int)s->timesteps_full[idx], x0, noise, out, n);
}

const ef_sched_ops ef_sched_ops_pndm = {
    "PNDMScheduler", pndm_configure, pndm_set_timesteps, NULL, pndm_needs_noise, pndm_step, pndm_add_noise,
};
