/*
** fuzz_config_json.c -- libFuzzer target for ef_json_parse and the typed getters, run
** over the keys model configs (config.json of transformers / diffusers) commonly hold.
** Built and run by `make fuzz`.
*/
#include <stdint.h>
#include <stdlib.h>

#include "io/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const INT_KEYS[] = {
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
    "max_position_embeddings", "in_channels", "out_channels", "sample_size", "layers_per_block",
    "cross_attention_dim", "norm_num_groups", "latent_channels", "pad_token_id",
};
static const char *const NUM_KEYS[] = {"layer_norm_eps", "scaling_factor", "norm_eps", "initializer_range"};
static const char *const STR_KEYS[] = {"hidden_act", "act_fn", "_class_name", "model_type", "torch_dtype"};
static const char *const BOOL_KEYS[] = {"center_input_sample", "flip_sin_to_cos", "use_linear_projection"};
static const char *const ARRAY_KEYS[] = {"block_out_channels", "down_block_types", "up_block_types", "attention_head_dim"};

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ef_err err;
    ef_err_clear(&err);
    cJSON *root = NULL;
    if (ef_json_parse((const char *)data, size, "config.json", &root, &err) != EF_OK) {
        if (root || err.msg[0] == '\0') abort();
        return 0;
    }
    for (size_t i = 0; i < COUNT(INT_KEYS); i++) {
        int64_t v = 0;
        if (ef_json_int(root, "config.json", INT_KEYS[i], i & 1, 7, 1, 1 << 20, &v, &err) == EF_OK &&
            (v < 1 || v > (1 << 20)) && v != 7)
            abort();
    }
    for (size_t i = 0; i < COUNT(NUM_KEYS); i++) {
        double v = 0;
        if (ef_json_num(root, "config.json", NUM_KEYS[i], 0, 1e-5, 0.0, 1.0, &v, &err) == EF_OK && !(v >= 0.0 && v <= 1.0))
            abort();
    }
    for (size_t i = 0; i < COUNT(STR_KEYS); i++) {
        const char *s = NULL;
        if (ef_json_str(root, "config.json", STR_KEYS[i], i & 1, "gelu", &s, &err) == EF_OK && !s) abort();
    }
    for (size_t i = 0; i < COUNT(BOOL_KEYS); i++) {
        int b = 0;
        (void)ef_json_bool(root, "config.json", BOOL_KEYS[i], 0, 0, &b, &err);
        (void)ef_json_has(root, BOOL_KEYS[i]);
    }
    for (size_t i = 0; i < COUNT(ARRAY_KEYS); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, ARRAY_KEYS[i]);
        if (!cJSON_IsArray(a)) continue;
        int n = 0;
        for (const cJSON *e = a->child; e && n < 64; e = e->next, n++) {
            if (cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 65536) continue;
            if (cJSON_IsString(e) && e->valuestring && e->valuestring[0] == 'X') continue;
        }
    }
    cJSON_Delete(root);
    return 0;
}
