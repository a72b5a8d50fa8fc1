/*
** model_index.h -- reads a diffusers pipeline folder's model_index.json: the pipeline
** class and which library/class each component folder holds.
*/
#ifndef EF_MODEL_INDEX_H
#define EF_MODEL_INDEX_H

#include "core/error.h"

#define EF_INDEX_MAX_COMPONENTS 16
#define EF_INDEX_NAME_MAX 64

typedef struct ef_component {
    char name[EF_INDEX_NAME_MAX];       /* folder name: "unet", "text_encoder", ... */
    char library[EF_INDEX_NAME_MAX];    /* "diffusers", "transformers" */
    char class_name[EF_INDEX_NAME_MAX]; /* "UNet2DConditionModel", "CLIPTextModel", ... */
} ef_component;

typedef struct ef_model_index {
    char         pipeline_class[EF_INDEX_NAME_MAX];   /* "StableDiffusionPipeline", ... */
    int          n_components;
    ef_component components[EF_INDEX_MAX_COMPONENTS]; /* present ones only ([null, null] skipped) */
} ef_model_index;

/* Parses <model_dir>/model_index.json. A missing file gets EF_ERR_IO with a hint that
** the folder is not a diffusers pipeline; malformed entries get EF_ERR_FORMAT naming
** the key. */
ef_status ef_model_index_load(const char *model_dir, ef_model_index *out, ef_err *err);

/* The component named name, or NULL when the pipeline does not have it. */
const ef_component *ef_model_index_find(const ef_model_index *idx, const char *name);

#endif /* EF_MODEL_INDEX_H */
