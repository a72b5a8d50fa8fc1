/*
** common.c -- the tables every scheduler shares, built with the same arithmetic as
** torch and numpy so that they match diffusers bit for bit (or to an ulp where libm
** replaces MKL/numpy-SIMD log):
**   betas      torch.linspace(float32) [squared for scaled_linear]
**   alphas_cumprod  torch.cumprod(1 - betas): float32 values, float64 accumulator
**   sigmas     sqrt((1 - ac) / ac) in float32
**   spacings   numpy linspace/arange/round in float64, then the dtype diffusers uses
**   Karras     _convert_to_karras and _sigma_to_t in float64 over float32 log-sigmas
** Also the shared config readers and the add_noise variants. No scheduler logic here.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

ef_status ef_sched_refuse(ef_err *err, const char *label, const char *field, const char *value) {
    return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: unsupported scheduler config: %s=%s", label, field, value);
}

/* ATen's CPU linspace kernel: start + step*i for the first half, end - step*(n-1-i)
** for the second, in float32. torch's AVX2 build of that file (GCC, -mfma, default
** -ffp-contract=fast) fuses both multiply-adds, hence fmaf. */
void ef_torch_linspace_f32(double start, double end, int n, float *out) {
    float s = (float)start, e = (float)end;
    if (n == 1) { out[0] = s; return; }
    float step = (e - s) / (float)(n - 1);
    int half = n / 2;
    for (int i = 0; i < n; i++) {
        if (i < half) out[i] = fmaf(step, (float)i, s);
        else out[i] = fmaf(-step, (float)(n - 1 - i), e);
    }
}

ef_status ef_sched_build_alphas(ef_sched *s, int scaled, double beta_start, double beta_end,
                                const double *trained, ef_err *err) {
    int n = s->n_train;
    float *betas = malloc((size_t)n * sizeof *betas);
    free(s->alphas_cumprod);
    s->alphas_cumprod = malloc((size_t)n * sizeof *s->alphas_cumprod);
    if (!betas || !s->alphas_cumprod) {
        free(betas);
        return ef_err_set(err, EF_ERR_NOMEM, "scheduler: out of memory for %d betas", n);
    }
    if (trained) {
        for (int i = 0; i < n; i++) betas[i] = (float)trained[i];
    } else if (scaled) {
        /* Python: beta_start**0.5 (libm pow), then float32 linspace, then ** 2 */
        ef_torch_linspace_f32(pow(beta_start, 0.5), pow(beta_end, 0.5), n, betas);
        for (int i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
    } else {
        ef_torch_linspace_f32(beta_start, beta_end, n, betas);
    }
    double acc = 1.0;                       /* at::acc_type<float, is_cuda=false> = double */
    for (int i = 0; i < n; i++) {
        float alpha = 1.0f - betas[i];
        acc *= (double)alpha;
        s->alphas_cumprod[i] = (float)acc;
    }
    free(betas);
    return EF_OK;
}

float ef_sched_sigma_of(const ef_sched *s, int t) {
    float a = s->alphas_cumprod[t];
    float num = 1.0f - a;
    float q = num / a;
    return sqrtf(q);
}

void ef_np_linspace(double start, double stop, int num, int endpoint, double *out) {
    int div = endpoint ? num - 1 : num;
    double delta = stop - start;
    if (div > 0) {
        double step = delta / div;
        for (int i = 0; i < num; i++) {
            double y = (double)i;
            if (step == 0) { y = y / div; y = y * delta; } else { y = y * step; }
            out[i] = y + start;
        }
    } else {
        for (int i = 0; i < num; i++) {
            double y = (double)i * delta;
            out[i] = y + start;
        }
    }
    if (endpoint && num > 1) out[num - 1] = stop;
}

/* numpy's arange for floats: length ceil((stop - start) / step); element 0 is start,
** element 1 start + step, and the rest start + i * (element1 - start) (DOUBLE_fill). */
int ef_np_arange_desc(double start, double stop, double step, double *out, int cap) {
    double len_d = ceil((stop - start) / step);
    int len = len_d > 0 ? (int)len_d : 0;
    double a1 = start + step;
    double d = a1 - start;
    for (int i = 0; i < len && i < cap; i++) {
        if (i == 0) out[i] = start;
        else if (i == 1) out[i] = a1;
        else {
            double y = (double)i * d;
            out[i] = start + y;
        }
    }
    return len;
}

double ef_np_round(double x) {
    return nearbyint(x);                    /* default rounding mode: half to even */
}

double ef_np_interp_index(double x, const float *tab, int n_tab) {
    if (x < 0) return (double)tab[0];
    if (x >= (double)(n_tab - 1)) return (double)tab[n_tab - 1];
    int j = (int)floor(x);
    if ((double)j == x) return (double)tab[j];
    double slope = ((double)tab[j + 1] - (double)tab[j]) / 1.0;   /* dx = xp[j+1] - xp[j] = 1 */
    double dxv = x - (double)j;
    double r = slope * dxv;
    return r + (double)tab[j];
}

void ef_sched_log_sigmas(const ef_sched *s, float *log_sigmas) {
    for (int t = 0; t < s->n_train; t++) log_sigmas[t] = (float)log((double)ef_sched_sigma_of(s, t));
}

double ef_sched_sigma_to_t(double sigma, const float *log_sigmas, int n) {
    double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
    /* low_idx = argmax(cumsum(log_sigma - log_sigmas >= 0)), clipped to n - 2 */
    int count = 0, best = -1, low = 0;
    for (int t = 0; t < n; t++) {
        if (log_sigma - (double)log_sigmas[t] >= 0) count++;
        if (count > best) { best = count; low = t; }
    }
    if (low > n - 2) low = n - 2;
    int high = low + 1;
    float lo = log_sigmas[low], hi = log_sigmas[high];
    float den = lo - hi;                    /* float32 scalar - float32 scalar */
    double w = ((double)lo - log_sigma) / (double)den;
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    double a = (1.0 - w) * (double)low;
    double b = w * (double)high;
    return a + b;
}

void ef_sched_karras(const ef_sched *s, double in_min, double in_max, int n, double *out) {
    double smin = s->has_sigma_min ? s->sigma_min : in_min;
    double smax = s->has_sigma_max ? s->sigma_max : in_max;
    const double rho = 7.0;
    double min_inv_rho = pow(smin, 1.0 / rho);
    double max_inv_rho = pow(smax, 1.0 / rho);
    ef_np_linspace(0.0, 1.0, n, 1, out);    /* ramp */
    for (int i = 0; i < n; i++) {
        double r = out[i] * (min_inv_rho - max_inv_rho);
        out[i] = pow(max_inv_rho + r, rho);
    }
}

ef_status ef_sched_spacing(const ef_sched *s, int n_steps, double *out, ef_err *err) {
    int T = s->n_train;
    if (s->spacing == EF_SPACING_LINSPACE) {
        ef_np_linspace(0.0, (double)(T - 1), n_steps, 1, out);
        for (int i = 0; i < n_steps / 2; i++) {        /* [::-1] */
            double tmp = out[i]; out[i] = out[n_steps - 1 - i]; out[n_steps - 1 - i] = tmp;
        }
    } else if (s->spacing == EF_SPACING_LEADING) {
        int ratio = T / n_steps;
        for (int i = 0; i < n_steps; i++)
            out[i] = (double)((n_steps - 1 - i) * ratio) + (double)s->steps_offset;
    } else {
        double ratio = (double)T / (double)n_steps;
        int cnt = ef_np_arange_desc((double)T, 0.0, -ratio, out, n_steps);
        if (cnt != n_steps)  /* never for T <= 1e6 in practice; diffusers would misbehave */
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "scheduler: trailing spacing gives %d timesteps for n_steps=%d", cnt, n_steps);
        for (int i = 0; i < n_steps; i++) out[i] = ef_np_round(out[i]) - 1.0;
    }
    return EF_OK;
}

ef_status ef_sched_alloc_schedule(ef_sched *s, int n_full, int with_sigmas, int n_hist, ef_err *err) {
    free(s->timesteps_full);
    free(s->sigmas);
    free(s->hist);
    s->timesteps_full = NULL;
    s->sigmas = NULL;
    s->hist = NULL;
    s->n_full = 0;
    s->n_hist = 0;
    size_t hist_n = 0;
    if (!ef_mul_size((size_t)n_hist, s->n_elems, &hist_n))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: history of %d x %zu floats overflows", n_hist, s->n_elems);
    s->timesteps_full = malloc((size_t)(n_full > 0 ? n_full : 1) * sizeof(float));
    if (with_sigmas) s->sigmas = malloc((size_t)(n_full + 1) * sizeof(float));
    if (hist_n) s->hist = calloc(hist_n, sizeof(float));
    if (!s->timesteps_full || (with_sigmas && !s->sigmas) || (hist_n && !s->hist))
        return ef_err_set(err, EF_ERR_NOMEM, "scheduler: out of memory for a %d-step schedule", n_full);
    s->n_full = n_full;
    s->n_hist = n_hist;
    return EF_OK;
}

ef_status ef_sched_begin_from_strength(ef_sched *s, int n_steps, double strength, ef_err *err) {
    int init = (int)((double)n_steps * strength);
    if (init > n_steps) init = n_steps;
    int t_start = n_steps - init > 0 ? n_steps - init : 0;
    if (init <= 0 || t_start >= s->n_full)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: strength=%g with n_steps=%d leaves no denoising step",
                          strength, n_steps);
    s->begin = t_start;                     /* t_start * scheduler.order, order = 1 */
    return EF_OK;
}

void ef_sched_add_noise_alpha(const ef_sched *s, int t, const float *x0, const float *noise,
                              float *out, size_t n) {
    float a = s->alphas_cumprod[t];
    float sa = sqrtf(a);
    float sb = sqrtf(1.0f - a);
    for (size_t k = 0; k < n; k++) {
        float p = sa * x0[k];
        float q = sb * noise[k];
        out[k] = p + q;
    }
}

void ef_sched_add_noise_sigma(float sigma, const float *x0, const float *noise, float *out, size_t n) {
    for (size_t k = 0; k < n; k++) {
        float q = noise[k] * sigma;
        out[k] = x0[k] + q;
    }
}

ef_status ef_sched_read_prediction(ef_sched *s, const cJSON *cfg, const char *label, int allow_sample, ef_err *err) {
    const char *v = NULL;
    EF_TRY(ef_json_str(cfg, label, "prediction_type", 0, "epsilon", &v, err));
    if (!strcmp(v, "epsilon")) s->pred = EF_PRED_EPSILON;
    else if (!strcmp(v, "v_prediction")) s->pred = EF_PRED_V;
    else if (allow_sample && (!strcmp(v, "sample") || (allow_sample == 2 && !strcmp(v, "original_sample"))))
        s->pred = EF_PRED_SAMPLE;
    else return ef_sched_refuse(err, label, "prediction_type", v);
    return EF_OK;
}

ef_status ef_sched_read_spacing(ef_sched *s, const cJSON *cfg, const char *label, const char *def, ef_err *err) {
    const char *v = NULL;
    EF_TRY(ef_json_str(cfg, label, "timestep_spacing", 0, def, &v, err));
    if (!strcmp(v, "leading")) s->spacing = EF_SPACING_LEADING;
    else if (!strcmp(v, "trailing")) s->spacing = EF_SPACING_TRAILING;
    else if (!strcmp(v, "linspace")) s->spacing = EF_SPACING_LINSPACE;
    else return ef_sched_refuse(err, label, "timestep_spacing", v);
    return EF_OK;
}

ef_status ef_sched_refuse_true(const cJSON *cfg, const char *label, const char *field, ef_err *err) {
    int v = 0;
    EF_TRY(ef_json_bool(cfg, label, field, 0, 0, &v, err));
    if (v) return ef_sched_refuse(err, label, field, "true");
    return EF_OK;
}

ef_status ef_sched_read_ddim_family(ef_sched *s, const cJSON *cfg, const char *label, int clip_default, ef_err *err) {
    EF_TRY(ef_json_bool(cfg, label, "clip_sample", 0, clip_default, &s->clip_sample, err));
    double range = 1.0;
    EF_TRY(ef_json_num(cfg, label, "clip_sample_range", 0, 1.0, 0.0, 1e30, &range, err));
    s->clip_range = (float)range;
    int one = 1;
    EF_TRY(ef_json_bool(cfg, label, "set_alpha_to_one", 0, 1, &one, err));
    s->final_alpha_cumprod = one ? 1.0f : s->alphas_cumprod[0];
    EF_TRY(ef_sched_read_prediction(s, cfg, label, 1, err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "thresholding", err));
    EF_TRY(ef_sched_refuse_true(cfg, label, "rescale_betas_zero_snr", err));
    return EF_OK;
}
