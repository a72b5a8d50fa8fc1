/*
** sched.c -- the scheduler front door: names and kinds, creation from a
** scheduler_config.json object (the fields every class shares), argument checking,
** and dispatch to the per-class files (lcm.c, ddim.c, euler.c, euler_a.c, dpmpp_2m.c,
** pndm.c). No scheduler math here.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "sched/sched_internal.h"

/* Per-class defaults of the shared fields (diffusers __init__ signatures). */
typedef struct class_defaults {
    double      beta_start, beta_end;
    const char *beta_schedule;
} class_defaults;

static const ef_sched_ops *const OPS[EF_SCHED_KIND_COUNT] = {
    &ef_sched_ops_euler, &ef_sched_ops_euler_a, &ef_sched_ops_ddim,
    &ef_sched_ops_dpmpp_2m, &ef_sched_ops_lcm, &ef_sched_ops_pndm,
};

static const class_defaults DEFAULTS[EF_SCHED_KIND_COUNT] = {
    {0.0001, 0.02, "linear"},          /* Euler */
    {0.0001, 0.02, "linear"},          /* Euler a */
    {0.0001, 0.02, "linear"},          /* DDIM */
    {0.0001, 0.02, "linear"},          /* DPM++ */
    {0.00085, 0.012, "scaled_linear"}, /* LCM */
    {0.0001, 0.02, "linear"},          /* PNDM */
};

/* stable-diffusion.cpp --sampling-method names and aliases. */
static const struct { const char *name; ef_sched_kind kind; } NAMES[] = {
    {"euler", EF_SCHED_EULER},     {"euler_a", EF_SCHED_EULER_A}, {"ddim", EF_SCHED_DDIM},
    {"dpm++2m", EF_SCHED_DPMPP_2M}, {"dpmpp_2m", EF_SCHED_DPMPP_2M}, {"dpm++_2m", EF_SCHED_DPMPP_2M},
    {"lcm", EF_SCHED_LCM},         {"pndm", EF_SCHED_PNDM},
};

ef_sched_params ef_sched_default_params(void) {
    ef_sched_params p = {EF_SCHED_AUTO, EF_SCHED_AUTO};
    return p;
}

const char *ef_sched_kind_name(ef_sched_kind kind) {
    if ((int)kind < 0 || kind >= EF_SCHED_KIND_COUNT) return "?";
    return OPS[kind]->class_name;
}

ef_status ef_sched_kind_from_name(const char *name, ef_sched_kind *out, ef_err *err) {
    if (!name) return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler name is NULL");
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (!strcmp(name, NAMES[i].name)) { *out = NAMES[i].kind; return EF_OK; }
    for (int k = 0; k < EF_SCHED_KIND_COUNT; k++)
        if (!strcmp(name, OPS[k]->class_name)) { *out = (ef_sched_kind)k; return EF_OK; }
    return ef_err_set(err, EF_ERR_UNSUPPORTED,
                      "unsupported sampling method '%s' (have: euler, euler_a, ddim, dpm++2m, lcm, pndm)", name);
}

ef_status ef_sched_karras_from_name(const char *name, int *use_karras, ef_err *err) {
    if (name && !strcmp(name, "discrete")) { *use_karras = 0; return EF_OK; }
    if (name && !strcmp(name, "karras")) { *use_karras = 1; return EF_OK; }
    return ef_err_set(err, EF_ERR_UNSUPPORTED, "unsupported scheduler '%s' (have: discrete, karras)",
                      name ? name : "(null)");
}

/* trained_betas: null/absent, or an array of num_train_timesteps numbers. */
static ef_status read_trained_betas(const cJSON *cfg, const char *label, int n, double **out, ef_err *err) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "trained_betas");
    if (!v || cJSON_IsNull(v)) return EF_OK;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'trained_betas' must be null or an array of %d numbers",
                          label, n);
    double *b = malloc((size_t)n * sizeof *b);
    if (!b) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", label);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0.0 && e->valuedouble < 1.0)) {
            free(b);
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'trained_betas'[%d] is not a number in [0, 1)", label, i);
        }
        b[i++] = e->valuedouble;
    }
    *out = b;
    return EF_OK;
}

static ef_status create_from(ef_sched *s, const cJSON *cfg, const char *label, const ef_sched_params *p, ef_err *err) {
    const class_defaults *d = &DEFAULTS[s->kind];
    int64_t n_train = 0;
    EF_TRY(ef_json_int(cfg, label, "num_train_timesteps", 0, 1000, 2, 1000000, &n_train, err));
    s->n_train = (int)n_train;

    double beta_start = 0, beta_end = 0;
    EF_TRY(ef_json_num(cfg, label, "beta_start", 0, d->beta_start, 0.0, 1.0, &beta_start, err));
    EF_TRY(ef_json_num(cfg, label, "beta_end", 0, d->beta_end, 0.0, 1.0, &beta_end, err));
    const char *schedule = NULL;
    EF_TRY(ef_json_str(cfg, label, "beta_schedule", 0, d->beta_schedule, &schedule, err));
    double *trained = NULL;
    EF_TRY(read_trained_betas(cfg, label, s->n_train, &trained, err));
    int scaled = 0;
    if (!trained) {
        if (!strcmp(schedule, "scaled_linear")) scaled = 1;
        else if (strcmp(schedule, "linear") != 0) return ef_sched_refuse(err, label, "beta_schedule", schedule);
    }
    ef_status rc = ef_sched_build_alphas(s, scaled, beta_start, beta_end, trained, err);
    free(trained);
    if (rc != EF_OK) return rc;

    int64_t offset = 0;
    EF_TRY(ef_json_int(cfg, label, "steps_offset", 0, 0, 0, s->n_train - 1, &offset, err));
    s->steps_offset = (int)offset;
    s->final_alpha_cumprod = 1.0f;
    s->lambda_min_clipped = -INFINITY;
    EF_TRY(s->ops->configure(s, cfg, label, err));

    if (p && p->use_karras != EF_SCHED_AUTO) {
        if (p->use_karras && s->kind != EF_SCHED_EULER && s->kind != EF_SCHED_DPMPP_2M)
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: %s has no Karras sigmas (use_karras_sigmas)",
                              label, s->ops->class_name);
        s->use_karras = p->use_karras != 0;
    }
    return EF_OK;
}

ef_status ef_sched_create(const cJSON *config, const char *label, const ef_sched_params *params,
                          ef_sched **out, ef_err *err) {
    *out = NULL;
    if (!label) label = "scheduler_config.json";
    if (!cJSON_IsObject(config)) return ef_err_set(err, EF_ERR_FORMAT, "%s: not a JSON object", label);
    ef_sched_kind kind;
    if (params && params->kind != EF_SCHED_AUTO) {
        if (params->kind < 0 || params->kind >= EF_SCHED_KIND_COUNT)
            return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler kind %d out of range", params->kind);
        kind = (ef_sched_kind)params->kind;
    } else {
        const char *cls = NULL;
        EF_TRY(ef_json_str(config, label, "_class_name", 1, NULL, &cls, err));
        int found = -1;
        for (int k = 0; k < EF_SCHED_KIND_COUNT; k++)
            if (!strcmp(cls, OPS[k]->class_name)) found = k;
        if (found < 0)
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: unsupported scheduler class '%s' (have: LCMScheduler, "
                              "DDIMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, "
                              "DPMSolverMultistepScheduler, PNDMScheduler)", label, cls);
        kind = (ef_sched_kind)found;
    }
    ef_sched *s = calloc(1, sizeof *s);
    if (!s) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", label);
    s->kind = kind;
    s->ops = OPS[kind];
    ef_status rc = create_from(s, config, label, params, err);
    if (rc != EF_OK) { ef_sched_free(s); return rc; }
    *out = s;
    return EF_OK;
}

void ef_sched_free(ef_sched *s) {
    if (!s) return;
    free(s->alphas_cumprod);
    free(s->timesteps_full);
    free(s->sigmas);
    free(s->hist);
    free(s);
}

ef_sched_kind ef_sched_get_kind(const ef_sched *s) { return s->kind; }

ef_status ef_sched_set_timesteps(ef_sched *s, int n_steps, double strength, size_t n, ef_err *err) {
    s->n_steps = 0;
    s->next = 0;
    s->begin = 0;
    s->lower_order_nums = 0;
    s->counter = 0;
    s->n_ets = 0;
    s->ets_head = 0;
    s->has_cur_sample = 0;
    if (n_steps < 1 || n_steps > s->n_train)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: n_steps=%d out of range [1, %d] (num_train_timesteps)",
                          n_steps, s->n_train);
    if (!(strength >= 0.0 && strength <= 1.0))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: strength=%g out of range [0, 1]", strength);
    if (n == 0) return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: latent size n=0");
    s->n_elems = n;
    ef_status rc = s->ops->set_timesteps(s, n_steps, strength, err);
    if (rc != EF_OK) { s->n_full = 0; return rc; }
    s->n_steps = n_steps;
    return EF_OK;
}

int ef_sched_n_steps(const ef_sched *s) { return s->n_steps ? s->n_full - s->begin : 0; }

const float *ef_sched_timesteps(const ef_sched *s) {
    return s->n_steps ? s->timesteps_full + s->begin : NULL;
}

const float *ef_sched_timesteps_full(const ef_sched *s, int *n_out) {
    if (n_out) *n_out = s->n_steps ? s->n_full : 0;
    return s->n_steps ? s->timesteps_full : NULL;
}

const float *ef_sched_sigmas(const ef_sched *s) { return s->n_steps ? s->sigmas : NULL; }

const float *ef_sched_alphas_cumprod(const ef_sched *s, int *n_out) {
    if (n_out) *n_out = s->n_train;
    return s->alphas_cumprod;
}

float ef_sched_init_noise_sigma(const ef_sched *s) { return s->n_steps ? s->init_noise_sigma : 1.0f; }

void ef_sched_scale_model_input(const ef_sched *s, int i, const float *x, float *out, size_t n) {
    if (s->ops->scale_input && s->n_steps && i >= 0 && i < ef_sched_n_steps(s)) {
        s->ops->scale_input(s, s->begin + i, x, out, n);
    } else if (out != x) {
        memmove(out, x, n * sizeof *out);
    }
}

int ef_sched_needs_noise(const ef_sched *s, int i) {
    if (!s->n_steps || i < 0 || i >= ef_sched_n_steps(s) || !s->ops->needs_noise) return 0;
    return s->ops->needs_noise(s, s->begin + i);
}

ef_status ef_sched_step(ef_sched *s, int i, const float *model_output, const float *sample,
                        const float *noise, float *prev, float *denoised, size_t n, ef_err *err) {
    if (!s->n_steps) return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: step before set_timesteps");
    if (i != s->next || i >= ef_sched_n_steps(s))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: step %d out of order (expected %d of %d)",
                          i, s->next, ef_sched_n_steps(s));
    if (n != s->n_elems)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: step with n=%zu but set_timesteps had n=%zu",
                          n, s->n_elems);
    if (!model_output || !sample || !prev) return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: NULL array");
    if (!noise && ef_sched_needs_noise(s, i))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: %s step %d needs noise", s->ops->class_name, i);
    if (denoised && s->kind == EF_SCHED_PNDM)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler: PNDMScheduler has no denoised output");
    s->ops->step(s, s->begin + i, model_output, sample, noise, prev, denoised, n);
    s->next++;
    return EF_OK;
}

void ef_sched_add_noise(const ef_sched *s, const float *original, const float *noise, float *out, size_t n) {
    if (!s->n_steps) { if (out != original) memmove(out, original, n * sizeof *out); return; }
    s->ops->add_noise(s, s->begin, original, noise, out, n);
}
