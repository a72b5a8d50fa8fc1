/*
** test_e2e.c -- whole images against diffusers: the bundled tiny pipelines, the seed
** of tests/fixtures/e2e/cases.json, every scheduler, txt2img and img2img, with 1 and 2
** threads. Each image must be within 2/255 per pixel of diffusers' (STYLE.md 3.12); the
** largest difference is reported per case.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgefusion.h"
#include "ef_test.h"
#include "io/json.h"
#include "io/safetensors.h"

typedef struct e2e_case {
    const char *name, *model, *scheduler, *prompt, *negative;
    int steps, karras;
    double guidance, strength;   /* strength < 0: txt2img */
    uint64_t seed;
} e2e_case;

static int read_case(const cJSON *c, e2e_case *out) {
    const cJSON *v;
    memset(out, 0, sizeof *out);
#define STR(field, key) v = cJSON_GetObjectItem(c, key); out->field = cJSON_IsString(v) ? v->valuestring : NULL
    STR(name, "name");
    STR(model, "model");
    STR(scheduler, "scheduler");
    STR(prompt, "prompt");
    STR(negative, "negative_prompt");
#undef STR
    out->steps = cJSON_GetObjectItem(c, "steps")->valueint;
    out->guidance = cJSON_GetObjectItem(c, "guidance")->valuedouble;
    v = cJSON_GetObjectItem(c, "strength");
    out->strength = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    out->seed = (uint64_t)cJSON_GetObjectItem(c, "seed")->valuedouble;
    out->karras = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "overrides"), "use_karras_sigmas"));
    return out->name && out->model && out->scheduler && out->prompt;
}

static ef_ctx *open_model(ef_test *t, const char *model, int n_threads) {
    char dir[512], why[512];
    ef_ctx_params cp = ef_ctx_default_params();
    cp.n_threads = n_threads;
    ef_ctx *ctx = NULL;
    ef_status rc = ef_ctx_create(ef_fixture_path(dir, sizeof dir, model), &cp, &ctx, why, sizeof why);
    EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", model, why);
    return ctx;
}

static void run_cases(ef_test *t, int n_threads) {
    char path[512];
    cJSON *root = NULL;
    ef_err err;
    EF_CHECK_MSG(t, ef_json_load(ef_fixture_path(path, sizeof path, "e2e/cases.json"), 1 << 20, &root, &err) == EF_OK,
                 "%s", err.msg);
    ef_st_file *ref = NULL;
    EF_CHECK_MSG(t, ef_st_open(ef_fixture_path(path, sizeof path, "e2e/reference.safetensors"), 1, &ref, &err) == EF_OK,
                 "%s", err.msg);
    ef_image init = {0};
    char why[512];
    EF_CHECK_MSG(t, ef_png_load(ef_fixture_path(path, sizeof path, "e2e/init.png"), &init, why, sizeof why) == EF_OK,
                 "%s", why);
    if (!root || !ref || !init.rgb) goto done;
    ef_ctx *lcm = open_model(t, "tiny-pipe", n_threads), *sd = open_model(t, "tiny-sd", n_threads);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        e2e_case ec;
        if (!read_case(c, &ec)) { EF_CHECK_MSG(t, 0, "malformed case in cases.json"); continue; }
        ef_ctx *ctx = !strcmp(ec.model, "tiny-pipe") ? lcm : sd;
        if (!ctx) continue;
        ef_gen_params p = ef_gen_default_params();
        p.prompt = ec.prompt;
        p.negative_prompt = ec.negative;
        p.n_steps = ec.steps;
        p.guidance_scale = (float)ec.guidance;
        p.seed = ec.seed;
        EF_CHECK(t, ef_sampler_from_name(ec.scheduler, &p.sampler) == EF_OK);
        p.sigmas = ec.karras ? EF_SIGMAS_KARRAS : EF_SIGMAS_DISCRETE;
        if (ec.strength >= 0) {
            p.init_rgb = init.rgb;
            p.init_width = init.width;
            p.init_height = init.height;
            p.strength = (float)ec.strength;
        }
        char key[128];
        snprintf(key, sizeof key, "%s.image", ec.name);
        const ef_st_tensor *want = ef_st_find(ref, key);
        EF_CHECK_MSG(t, want && want->nbytes == 64 * 64 * 3, "%s missing", key);
        if (!want) continue;
        uint8_t *rgb = malloc(want->nbytes);
        ef_status rc = ef_generate(ctx, &p, rgb, want->nbytes);
        EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", ec.name, ef_ctx_errmsg(ctx));
        if (rc == EF_OK) {
            int max_diff = 0;
            size_t n_off = 0;
            for (size_t i = 0; i < want->nbytes; i++) {
                int d = abs((int)rgb[i] - (int)want->data[i]);
                if (d > max_diff) max_diff = d;
                n_off += d > 0;
            }
            printf("    %-18s %d thread(s): max pixel diff %d/255, %zu of %zu values differ\n", ec.name, n_threads,
                   max_diff, n_off, want->nbytes);
            EF_CHECK_MSG(t, max_diff <= 2, "%s: max pixel diff %d > 2", ec.name, max_diff);
        }
        free(rgb);
    }
    ef_ctx_free(lcm);
    ef_ctx_free(sd);
done:
    ef_image_free(&init);
    ef_st_close(ref);
    cJSON_Delete(root);
}

static void test_images_1thread(ef_test *t) { run_cases(t, 1); }
static void test_images_2threads(ef_test *t) { run_cases(t, 2); }

const ef_test_case ef_suite_e2e[] = {
    {"images_1thread", test_images_1thread},
    {"images_2threads", test_images_2threads},
    {0, 0},
};
