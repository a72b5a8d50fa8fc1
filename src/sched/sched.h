/*
** sched.h -- diffusion schedulers that reproduce diffusers' classes step for step:
** LCMScheduler, DDIMScheduler (eta = 0), EulerDiscreteScheduler,
** EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler (dpmsolver++) and
** PNDMScheduler. Pure math on float arrays; no model, kernel or rng dependency.
**
** Legend: n = elements of one latent tensor (B*C*H*W), N = steps actually run.
**
** Usage (the diffusers loop, txt2img):
**     ef_sched *s;  EF_TRY(ef_sched_create(cfg_json, "scheduler/scheduler_config.json", NULL, &s, err));
**     EF_TRY(ef_sched_set_timesteps(s, n_steps, 1.0, n, err));
**     latents = randn(n) * ef_sched_init_noise_sigma(s);
**     for (int i = 0; i < ef_sched_n_steps(s); i++) {
**         ef_sched_scale_model_input(s, i, latents, x_in, n);      // UNet input
**         eps = unet(x_in, ef_sched_timesteps(s)[i]);             // (+ CFG)
**         if (ef_sched_needs_noise(s, i)) ef_rng_randn(rng, noise, n);
**         EF_TRY(ef_sched_step(s, i, eps, latents, noise, latents, NULL, n, err));
**     }
** img2img: set_timesteps(s, n_steps, strength, ...) keeps only the last steps exactly as
** the diffusers img2img pipelines do (LCM: inside set_timesteps; others: get_timesteps +
** set_begin_index), then latents = ef_sched_add_noise(s, x0, randn(n)).
**
** Config: ef_sched_create reads a scheduler_config.json object with the chosen class's
** defaults for absent fields, i.e. like Class.from_pretrained(..., subfolder="scheduler").
** (diffusers' Class.from_config(pipe.scheduler.config) would instead carry over the
** *loaded* class's filled-in defaults, e.g. timestep_spacing: write them into the JSON.)
** Every field that changes the math and is not implemented is refused with
** EF_ERR_UNSUPPORTED "LABEL: unsupported scheduler config: FIELD=VALUE"; bad types and
** ranges are EF_ERR_FORMAT naming the field. Unknown fields are ignored, as diffusers does.
**
** Numerics: every table is built with torch's/numpy's float32/float64 operations in the
** same order (float32 torch.linspace with ATen's two-sided FMA formula, float64 cumprod
** accumulator, numpy interp/linspace/arange/round in float64), and every step does the
** same float32 operations in the same order as diffusers' tensor code. Against diffusers
** run with correctly rounded sqrt/log/exp (scripts/golden/sched.py --exact-math) every
** class is bit-exact. Stock torch takes float32 sqrt/exp/log from MKL VML (1 ulp off for
** ~20% of inputs, CPU-dependent) and numpy its own SIMD float32 log (Karras sigma->t),
** so against stock diffusers step outputs agree to < 1e-6 relative (tests/test_sched.c).
**
** Thread safety: an ef_sched is used by one thread at a time; distinct objects are
** independent. No global state.
*/
#ifndef EF_SCHED_SCHED_H
#define EF_SCHED_SCHED_H

#include <stddef.h>

#include <cJSON.h>

#include "core/error.h"

typedef enum ef_sched_kind {
    EF_SCHED_EULER = 0,     /* EulerDiscreteScheduler            sd.cpp "euler"   */
    EF_SCHED_EULER_A,       /* EulerAncestralDiscreteScheduler   sd.cpp "euler_a" */
    EF_SCHED_DDIM,          /* DDIMScheduler (eta = 0)           sd.cpp "ddim"    */
    EF_SCHED_DPMPP_2M,      /* DPMSolverMultistepScheduler       sd.cpp "dpm++2m" */
    EF_SCHED_LCM,           /* LCMScheduler                      sd.cpp "lcm"     */
    EF_SCHED_PNDM,          /* PNDMScheduler                     sd.cpp "pndm"    */
    EF_SCHED_KIND_COUNT
} ef_sched_kind;

/* "Take it from the config" for the fields of ef_sched_params. */
#define EF_SCHED_AUTO (-1)

typedef struct ef_sched_params {
    int kind;        /* an ef_sched_kind, or EF_SCHED_AUTO: the config's "_class_name" */
    int use_karras;  /* 0/1 overrides use_karras_sigmas (Euler, DPM++ only; sd.cpp
                     ** --scheduler discrete|karras); EF_SCHED_AUTO keeps the config's */
} ef_sched_params;

ef_sched_params ef_sched_default_params(void);   /* both fields EF_SCHED_AUTO */

typedef struct ef_sched ef_sched;

/* Names -> kinds. Accepts stable-diffusion.cpp's --sampling-method names
** (euler, euler_a, ddim, dpm++2m, lcm, pndm; also dpmpp_2m and dpm++_2m) and the
** diffusers class names (EulerDiscreteScheduler, ...). Unknown -> EF_ERR_UNSUPPORTED
** listing the accepted names. */
ef_status ef_sched_kind_from_name(const char *name, ef_sched_kind *out, ef_err *err);

/* sd.cpp --scheduler: "discrete" -> 0, "karras" -> 1 (for ef_sched_params.use_karras);
** others (exponential, ays, gits, ...) -> EF_ERR_UNSUPPORTED. */
ef_status ef_sched_karras_from_name(const char *name, int *use_karras, ef_err *err);

/* The diffusers class name of a kind ("LCMScheduler", ...); "?" if out of range. */
const char *ef_sched_kind_name(ef_sched_kind kind);

/* Adds the __init__ defaults of class `loaded` to cfg for every field it lacks (in
** place). Call it with the folder's own class before building another class from the
** same config: that is what diffusers' Other.from_config(pipe.scheduler.config) sees
** (e.g. an SD-1.x PNDM folder switched to Euler keeps timestep_spacing "leading").
** Errors: EF_ERR_INVALID_ARG (bad kind or cfg not an object), EF_ERR_NOMEM. */
ef_status ef_sched_config_fill_defaults(cJSON *cfg, ef_sched_kind loaded, ef_err *err);

/* Builds a scheduler from a parsed scheduler_config.json object. label (usually the
** file path) prefixes errors. params may be NULL (= defaults). The config is not kept. */
ef_status ef_sched_create(const cJSON *config, const char *label, const ef_sched_params *params,
                          ef_sched **out, ef_err *err);
void ef_sched_free(ef_sched *s);                 /* NULL is a no-op */

ef_sched_kind ef_sched_get_kind(const ef_sched *s);

/* diffusers set_timesteps(n_steps) (+ the img2img pipelines' strength handling) for
** latents of n elements. strength 1.0 = txt2img; in (0, 1) keeps the last steps.
** Allocates the multistep history here (DPM-Solver, PNDM), so ef_sched_step never
** allocates. Resets all step state; may be called again to start a new image.
** Errors: n_steps outside [1, num_train_timesteps] or (LCM) above
** original_inference_steps, strength outside [0, 1] or leaving no step
** (EF_ERR_INVALID_ARG, naming the value); EF_ERR_NOMEM. */
ef_status ef_sched_set_timesteps(ef_sched *s, int n_steps, double strength, size_t n, ef_err *err);

/* Number of steps to run (N) after set_timesteps; 0 before. */
int ef_sched_n_steps(const ef_sched *s);

/* The timesteps the UNet gets, (N,): integral for every scheduler except Euler
** (float timesteps with linspace spacing or Karras sigmas). Valid until the next
** set_timesteps/free. */
const float *ef_sched_timesteps(const ef_sched *s);

/* diffusers' full scheduler.timesteps (*n_out entries, before img2img truncation) and,
** for the sigma-based schedulers (Euler, Euler a, DPM++), scheduler.sigmas
** (*n_out + 1 entries; NULL for the others). For tests and previews. */
const float *ef_sched_timesteps_full(const ef_sched *s, int *n_out);
const float *ef_sched_sigmas(const ef_sched *s);

/* The float32 alphas_cumprod table (num_train_timesteps entries, *n_out). */
const float *ef_sched_alphas_cumprod(const ef_sched *s, int *n_out);

/* Scale of the initial noise (scheduler.init_noise_sigma): 1 except for Euler/Euler a. */
float ef_sched_init_noise_sigma(const ef_sched *s);

/* scheduler.scale_model_input(x, timesteps[i]) -> out, n elements (out may be x). */
void ef_sched_scale_model_input(const ef_sched *s, int i, const float *x, float *out, size_t n);

/* 1 if step i consumes fresh N(0,1) noise, which the caller must draw from the
** generator at that point to stay in sync with diffusers (LCM: every step but the last;
** Euler a: every step, the last included). */
int ef_sched_needs_noise(const ef_sched *s, int i);

/* scheduler.step(model_output, timesteps[i], sample) -> prev (n). Steps must be run in
** order i = 0, 1, ..., N-1 (multistep schedulers keep history). noise (n) is required
** exactly when ef_sched_needs_noise(s, i), else ignored (may be NULL). denoised, if not
** NULL, receives the step's x0 prediction (LCM: its `denoised` output, which is the
** final image latent at the last step; DDIM/Euler/Euler a: pred_original_sample;
** DPM++: the converted model output); PNDM has none (must be NULL). prev may alias
** sample or model_output. Never allocates.
** Errors (EF_ERR_INVALID_ARG): no set_timesteps, i out of order, n differs from
** set_timesteps, missing noise, denoised with PNDM. */
ef_status ef_sched_step(ef_sched *s, int i, const float *model_output, const float *sample,
                        const float *noise, float *prev, float *denoised, size_t n, ef_err *err);

/* scheduler.add_noise(original, noise, timesteps[:1]) as the img2img pipelines call it:
** noise added for the first step that will run. out may alias original. */
void ef_sched_add_noise(const ef_sched *s, const float *original, const float *noise, float *out, size_t n);

/* The LCM guidance-scale embedding (diffusers get_guidance_scale_embedding, paper
** spec 5.3): w' = w * 1000, f_j = exp(-j ln(10000) / (dim/2 - 1)),
** out = [sin(w' f_j) for j < dim/2] ++ [cos(w' f_j)] ++ [0 if dim is odd], float32 as
** diffusers. The LCM pipeline passes w = guidance_scale - 1. out is (dim,).
** dim (the UNet's time_cond_proj_dim) below 4 divides by zero in diffusers:
** EF_ERR_INVALID_ARG naming it. */
ef_status ef_sched_guidance_embed(float w, int dim, float *out, ef_err *err);

#endif /* EF_SCHED_SCHED_H */
