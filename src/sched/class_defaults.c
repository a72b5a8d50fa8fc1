/*
** class_defaults.c -- the __init__ defaults of each diffusers scheduler class, for
** switching classes the way users do in diffusers:
**     pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
** There the new class sees the *loaded* class's config with that class's defaults
** filled in (e.g. PNDM's timestep_spacing "leading", not Euler's "linspace"), plus
** the file's extra keys. ef_sched_config_fill_defaults reproduces that: it adds the
** loaded class's defaults for every field the file lacks, before ef_sched_create
** builds the other class from it. Defaults copied from diffusers 0.42.1 signatures;
** null and -Infinity defaults are left out (absent means the same).
*/
#include <string.h>

#include "sched/sched.h"

static const char *const CLASS_DEFAULTS[EF_SCHED_KIND_COUNT] = {
    [EF_SCHED_EULER] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\","
        " \"prediction_type\": \"epsilon\", \"interpolation_type\": \"linear\", \"use_karras_sigmas\": false,"
        " \"use_exponential_sigmas\": false, \"use_beta_sigmas\": false, \"timestep_spacing\": \"linspace\","
        " \"timestep_type\": \"discrete\", \"steps_offset\": 0, \"rescale_betas_zero_snr\": false,"
        " \"final_sigmas_type\": \"zero\"}",
    [EF_SCHED_EULER_A] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\","
        " \"prediction_type\": \"epsilon\", \"timestep_spacing\": \"linspace\", \"steps_offset\": 0,"
        " \"rescale_betas_zero_snr\": false}",
    [EF_SCHED_DDIM] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\","
        " \"clip_sample\": true, \"set_alpha_to_one\": true, \"steps_offset\": 0, \"prediction_type\": \"epsilon\","
        " \"thresholding\": false, \"dynamic_thresholding_ratio\": 0.995, \"clip_sample_range\": 1.0,"
        " \"sample_max_value\": 1.0, \"timestep_spacing\": \"leading\", \"rescale_betas_zero_snr\": false}",
    [EF_SCHED_DPMPP_2M] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\","
        " \"solver_order\": 2, \"prediction_type\": \"epsilon\", \"thresholding\": false,"
        " \"dynamic_thresholding_ratio\": 0.995, \"sample_max_value\": 1.0, \"algorithm_type\": \"dpmsolver++\","
        " \"solver_type\": \"midpoint\", \"lower_order_final\": true, \"euler_at_final\": false,"
        " \"use_karras_sigmas\": false, \"use_exponential_sigmas\": false, \"use_beta_sigmas\": false,"
        " \"use_lu_lambdas\": false, \"use_flow_sigmas\": false, \"flow_shift\": 1.0, \"final_sigmas_type\": \"zero\","
        " \"timestep_spacing\": \"linspace\", \"steps_offset\": 0, \"rescale_betas_zero_snr\": false,"
        " \"use_dynamic_shifting\": false, \"time_shift_type\": \"exponential\"}",
    [EF_SCHED_LCM] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.00085, \"beta_end\": 0.012,"
        " \"beta_schedule\": \"scaled_linear\", \"original_inference_steps\": 50, \"clip_sample\": false,"
        " \"clip_sample_range\": 1.0, \"set_alpha_to_one\": true, \"steps_offset\": 0, \"prediction_type\": \"epsilon\","
        " \"thresholding\": false, \"dynamic_thresholding_ratio\": 0.995, \"sample_max_value\": 1.0,"
        " \"timestep_spacing\": \"leading\", \"timestep_scaling\": 10.0, \"rescale_betas_zero_snr\": false}",
    [EF_SCHED_PNDM] =
        "{\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, \"beta_schedule\": \"linear\","
        " \"skip_prk_steps\": false, \"set_alpha_to_one\": false, \"prediction_type\": \"epsilon\","
        " \"timestep_spacing\": \"leading\", \"steps_offset\": 0}",
};

ef_status ef_sched_config_fill_defaults(cJSON *cfg, ef_sched_kind kind, ef_err *err) {
    if ((int)kind < 0 || kind >= EF_SCHED_KIND_COUNT || !cJSON_IsObject(cfg))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "scheduler defaults: bad class or config");
    cJSON *defaults = cJSON_Parse(CLASS_DEFAULTS[kind]);
    if (!defaults) return ef_err_set(err, EF_ERR_NOMEM, "scheduler defaults: out of memory");
    ef_status rc = EF_OK;
    for (cJSON *d = defaults->child; d; d = d->next) {
        if (cJSON_GetObjectItemCaseSensitive(cfg, d->string)) continue;
        cJSON *copy = cJSON_Duplicate(d, 1);
        if (!copy || !cJSON_AddItemToObject(cfg, d->string, copy)) {
            cJSON_Delete(copy);
            rc = ef_err_set(err, EF_ERR_NOMEM, "scheduler defaults: out of memory");
            break;
        }
    }
    cJSON_Delete(defaults);
    return rc;
}
