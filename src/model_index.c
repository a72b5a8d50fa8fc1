/*
** model_index.c -- see model_index.h. model_index.json looks like
**   {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.15.0",
**    "unet": ["diffusers", "UNet2DConditionModel"], "safety_checker": [null, null], ...}
*/
#include "model_index.h"

#include <string.h>

#include "core/platform.h"
#include "ef_internal.h"
#include "io/json.h"

#define MODEL_INDEX_MAX_BYTES (1u << 20)

static int copy_name(char *dst, const char *src) {
    size_t n = strlen(src);
    if (n == 0 || n >= EF_INDEX_NAME_MAX) return 0;
    memcpy(dst, src, n + 1);
    return 1;
}

ef_status ef_model_index_load(const char *model_dir, ef_model_index *out, ef_err *err) {
    memset(out, 0, sizeof *out);
    char path[4096];
    if (!ef_path_join(path, sizeof path, model_dir, "model_index.json"))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: path too long", model_dir);
    if (!ef_path_is_dir(model_dir))
        return ef_err_set(err, EF_ERR_IO, "%s: not a directory (expected a diffusers pipeline folder)", model_dir);
    if (!ef_path_is_file(path))
        return ef_err_set(err, EF_ERR_IO, "%s: no model_index.json; expected a diffusers pipeline folder "
                          "(model_index.json, tokenizer/, text_encoder/, unet/, vae/, scheduler/)", model_dir);
    cJSON *root = NULL;
    EF_TRY(ef_json_load(path, MODEL_INDEX_MAX_BYTES, &root, err));
    ef_status rc = EF_OK;
    const char *cls = NULL;
    rc = ef_json_str(root, path, "_class_name", 1, NULL, &cls, err);
    if (rc == EF_OK && !copy_name(out->pipeline_class, cls))
        rc = ef_err_set(err, EF_ERR_FORMAT, "%s: field '_class_name' is empty or too long", path);
    for (const cJSON *it = root->child; rc == EF_OK && it; it = it->next) {
        if (!it->string || it->string[0] == '_') continue;          /* _class_name, _diffusers_version, ... */
        if (!cJSON_IsArray(it)) continue;                            /* options such as requires_safety_checker */
        const cJSON *lib = cJSON_GetArrayItem(it, 0), *klass = cJSON_GetArrayItem(it, 1);
        if (cJSON_GetArraySize(it) != 2) {
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: component '%s' must be [library, class]", path, it->string);
            break;
        }
        if (cJSON_IsNull(lib) && cJSON_IsNull(klass)) continue;      /* absent component */
        if (!cJSON_IsString(lib) || !cJSON_IsString(klass)) {
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: component '%s' must be [library, class] strings", path, it->string);
            break;
        }
        if (strchr(it->string, '/') || strstr(it->string, "..")) {
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: component name '%s' is not a plain folder name", path, it->string);
            break;
        }
        if (out->n_components == EF_INDEX_MAX_COMPONENTS) {
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: more than %d components", path, EF_INDEX_MAX_COMPONENTS);
            break;
        }
        ef_component *c = &out->components[out->n_components];
        if (!copy_name(c->name, it->string) || !copy_name(c->library, lib->valuestring) ||
            !copy_name(c->class_name, klass->valuestring)) {
            rc = ef_err_set(err, EF_ERR_FORMAT, "%s: component '%.60s': empty or over-long name", path, it->string);
            break;
        }
        out->n_components++;
    }
    cJSON_Delete(root);
    return rc;
}

const ef_component *ef_model_index_find(const ef_model_index *idx, const char *name) {
    for (int i = 0; i < idx->n_components; i++)
        if (strcmp(idx->components[i].name, name) == 0) return &idx->components[i];
    return NULL;
}
