/*
** sched_internal.h -- what the scheduler files share: the ef_sched object, the
** per-class operation table, and the table/spacing helpers of common.c.
** Only the files under src/sched include this; everyone else uses sched.h.
**
** Index convention: `idx` is the absolute index into the full schedule
** (timesteps_full, sigmas); the public step index i maps to idx = begin + i.
*/
#ifndef EF_SCHED_INTERNAL_H
#define EF_SCHED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"

enum { EF_PRED_EPSILON, EF_PRED_V, EF_PRED_SAMPLE };
enum { EF_SPACING_LEADING, EF_SPACING_TRAILING, EF_SPACING_LINSPACE };

typedef struct ef_sched_ops {
    const char *class_name;
    /* Reads the class-specific fields (the common ones are already read). */
    ef_status (*configure)(ef_sched *s, const cJSON *cfg, const char *label, ef_err *err);
    /* Fills n_full, timesteps_full, sigmas (if any), begin, init_noise_sigma, and
    ** n_hist (history slots of n floats that step needs). Buffers come from
    ** ef_sched_alloc_schedule. */
    ef_status (*set_timesteps)(ef_sched *s, int n_steps, double strength, ef_err *err);
    /* NULL: identity. */
    void (*scale_input)(const ef_sched *s, int idx, const float *x, float *out, size_t n);
    int  (*needs_noise)(const ef_sched *s, int idx);
    /* idx is absolute; all arguments already validated. */
    void (*step)(ef_sched *s, int idx, const float *mo, const float *x, const float *noise,
                 float *prev, float *denoised, size_t n);
    void (*add_noise)(const ef_sched *s, int idx, const float *x0, const float *noise, float *out, size_t n);
} ef_sched_ops;

struct ef_sched {
    ef_sched_kind       kind;
    const ef_sched_ops *ops;

    /* ---- config (read at create) */
    int     n_train;              /* num_train_timesteps */
    float  *alphas_cumprod;       /* (n_train,) float32, torch's cumprod */
    float   final_alpha_cumprod;  /* set_alpha_to_one ? 1 : alphas_cumprod[0] */
    int     pred;                 /* EF_PRED_* */
    int     spacing;              /* EF_SPACING_* */
    int     steps_offset;
    int     clip_sample;          /* DDIM, LCM */
    float   clip_range;
    int     use_karras;           /* Euler, DPM++ */
    int     final_sigma_min;      /* final_sigmas_type: 0 zero, 1 sigma_min */
    int     has_sigma_min, has_sigma_max;   /* Karras range from the config */
    double  sigma_min, sigma_max;
    int     orig_steps;           /* LCM original_inference_steps */
    double  timestep_scaling;     /* LCM */
    int     solver_order;         /* DPM++: 1..3 */
    int     solver_heun;          /* DPM++ solver_type heun (else midpoint) */
    int     lower_order_final;    /* DPM++ */
    int     euler_at_final;       /* DPM++ */
    double  lambda_min_clipped;   /* DPM++ (-inf by default) */
    int     skip_prk;             /* PNDM skip_prk_steps */

    /* ---- schedule (set_timesteps) */
    int     n_steps;              /* as requested */
    int     n_full;               /* entries of timesteps_full */
    int     begin;                /* first index run (img2img) */
    float  *timesteps_full;       /* (n_full,) */
    float  *sigmas;               /* (n_full + 1,) or NULL */
    float   init_noise_sigma;
    size_t  n_elems;              /* n of set_timesteps */
    int     n_hist;               /* history slots */
    float  *hist;                 /* (n_hist, n_elems) */

    /* ---- step state */
    int     next;                 /* next public step index */
    int     lower_order_nums;     /* DPM++ */
    int     counter;              /* PNDM */
    int     n_ets;                /* PNDM: model outputs kept (<= 4) */
    int     ets_head;             /* PNDM: slot of the next model output in the ring */
    int     has_cur_sample;       /* PNDM */
    int     n_prk;                /* PNDM: leading Runge-Kutta steps (0 with skip_prk_steps) */
};

extern const ef_sched_ops ef_sched_ops_euler, ef_sched_ops_euler_a, ef_sched_ops_ddim,
                          ef_sched_ops_dpmpp_2m, ef_sched_ops_lcm, ef_sched_ops_pndm;

/* ---- common.c: tables as torch/numpy build them */

/* Refusal helper: EF_ERR_UNSUPPORTED "label: unsupported scheduler config: field=value". */
ef_status ef_sched_refuse(ef_err *err, const char *label, const char *field, const char *value);

/* torch.linspace(start, end, n, dtype=float32) on an AVX2 CPU (out has n). */
void ef_torch_linspace_f32(double start, double end, int n, float *out);

/* betas -> alphas_cumprod for the config's beta schedule (1 linear, 2 scaled_linear,
** or trained betas when trained != NULL), into s->alphas_cumprod (allocated). */
ef_status ef_sched_build_alphas(ef_sched *s, int scaled, double beta_start, double beta_end,
                                const double *trained, ef_err *err);

/* sqrt((1 - ac) / ac) in float32: the sigma of train timestep t. */
float ef_sched_sigma_of(const ef_sched *s, int t);

/* numpy.linspace(start, stop, num, endpoint) in float64. */
void ef_np_linspace(double start, double stop, int num, int endpoint, double *out);

/* numpy.arange(start, stop, step) in float64 for step < 0 and start > stop (the
** trailing spacing): writes at most cap values, returns the count numpy gives. */
int ef_np_arange_desc(double start, double stop, double step, double *out, int cap);

/* numpy.round (half to even). */
double ef_np_round(double x);

/* numpy.interp(x, arange(n_tab), tab) for one x (tab float32 values, computed in float64). */
double ef_np_interp_index(double x, const float *tab, int n_tab);

/* log_sigmas = np.log(float32 sigma table) (float32). */
void ef_sched_log_sigmas(const ef_sched *s, float *log_sigmas);

/* diffusers _sigma_to_t(sigma, log_sigmas) (float64). */
double ef_sched_sigma_to_t(double sigma, const float *log_sigmas, int n);

/* diffusers _convert_to_karras: n sigmas (float64) from [sigma_min, sigma_max]
** (the config's if set, else in_min/in_max). */
void ef_sched_karras(const ef_sched *s, double in_min, double in_max, int n, double *out);

/* The standard timestep spacings of DDIM/Euler/PNDM set_timesteps (descending, int
** values as float64, steps_offset applied): leading, trailing or linspace. */
ef_status ef_sched_spacing(const ef_sched *s, int n_steps, double *out, ef_err *err);

/* (Re)allocates timesteps_full (n_full), sigmas (n_full + 1 if with_sigmas) and the
** history (n_hist * n_elems). */
ef_status ef_sched_alloc_schedule(ef_sched *s, int n_full, int with_sigmas, int n_hist, ef_err *err);

/* SD img2img get_timesteps: begin = t_start for strength (order 1). */
ef_status ef_sched_begin_from_strength(ef_sched *s, int n_steps, double strength, ef_err *err);

/* DDIM/PNDM/LCM add_noise: sqrt(ac[t]) * x0 + sqrt(1 - ac[t]) * noise in float32. */
void ef_sched_add_noise_alpha(const ef_sched *s, int t, const float *x0, const float *noise,
                              float *out, size_t n);

/* Euler/Euler a add_noise: x0 + noise * sigma. */
void ef_sched_add_noise_sigma(float sigma, const float *x0, const float *noise, float *out, size_t n);

/* euler.c, shared with euler_a.c: Euler's timesteps/sigmas (Karras and final sigma per
** the object's fields) and its scale_model_input. */
ef_status ef_euler_set_timesteps_common(ef_sched *s, int n_steps, double strength, ef_err *err);
void      ef_euler_scale_input_common(const ef_sched *s, int idx, const float *x, float *out, size_t n);

/* Shared config readers (they name the field on error). */
/* The fields DDIM and LCM share: clip_sample (default clip_default), clip_sample_range,
** set_alpha_to_one (-> final_alpha_cumprod), prediction_type (v allowed), and the refusal of
** thresholding and rescale_betas_zero_snr. */
ef_status ef_sched_read_ddim_family(ef_sched *s, const cJSON *cfg, const char *label, int clip_default, ef_err *err);
ef_status ef_sched_read_prediction(ef_sched *s, const cJSON *cfg, const char *label, int allow_sample, ef_err *err);
ef_status ef_sched_read_spacing(ef_sched *s, const cJSON *cfg, const char *label, const char *def, ef_err *err);
ef_status ef_sched_refuse_true(const cJSON *cfg, const char *label, const char *field, ef_err *err);

#endif /* EF_SCHED_INTERNAL_H */
