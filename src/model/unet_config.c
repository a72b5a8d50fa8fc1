/*
** unet_config.c -- unet/config.json (diffusers UNet2DConditionModel) -> ef_unet_config.
**
** Reads the fields this module implements, with diffusers' defaults for absent ones,
** and refuses by name every field whose non-default value would change the math
** ("unsupported unet config: FIELD=VALUE"), so a config is never run with a silently
** different architecture. Pure function of the JSON; no I/O, no model.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "model/unet.h"

/* ---- value rendering and refusal helpers ------------------------------------- */

/* Writes a short text form of v into buf: strings bare, numbers %g, else compact JSON
** (truncated). */
static const char *render(const cJSON *v, char *buf, size_t n) {
    if (!v) snprintf(buf, n, "null");
    else if (cJSON_IsString(v) && v->valuestring) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(buf, n, "%.17g", v->valuedouble);
    else if (cJSON_IsTrue(v)) snprintf(buf, n, "true");
    else if (cJSON_IsFalse(v)) snprintf(buf, n, "false");
    else if (cJSON_IsNull(v)) snprintf(buf, n, "null");
    else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(buf, n, "%s", s ? s : "?");
        free(s);
    }
    return buf;
}

static ef_status unsupported(const char *label, const char *key, const cJSON *v, ef_err *err) {
    char val[128];
    return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: unsupported unet config: %s=%s", label, key, render(v, val, sizeof val));
}

/* The field, or NULL when absent or JSON null. */
static const cJSON *get(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* Refuses key unless it is absent or null (diffusers' None). */
static ef_status need_null(const cJSON *root, const char *label, const char *key, ef_err *err) {
    const cJSON *v = get(root, key);
    return v ? unsupported(label, key, v, err) : EF_OK;
}

/* Refuses key unless absent/null or the boolean want (absent means want). */
static ef_status need_bool(const cJSON *root, const char *label, const char *key, int want, ef_err *err) {
    const cJSON *v = get(root, key);
    if (!v) return EF_OK;
    if (!cJSON_IsBool(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be true or false", label, key);
    return (cJSON_IsTrue(v) ? 1 : 0) == want ? EF_OK : unsupported(label, key, v, err);
}

/* Refuses key unless absent/null or the number want. */
static ef_status need_num(const cJSON *root, const char *label, const char *key, double want, ef_err *err) {
    const cJSON *v = get(root, key);
    if (!v) return EF_OK;
    if (!cJSON_IsNumber(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a number", label, key);
    return v->valuedouble == want ? EF_OK : unsupported(label, key, v, err);
}

/* Refuses key unless absent/null or one of the strings a, b (b may be NULL). */
static ef_status need_str(const cJSON *root, const char *label, const char *key, const char *a, const char *b,
                          ef_err *err) {
    const cJSON *v = get(root, key);
    if (!v) return EF_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a string", label, key);
    if (strcmp(v->valuestring, a) == 0 || (b && strcmp(v->valuestring, b) == 0)) return EF_OK;
    return unsupported(label, key, v, err);
}

/* An integer field that diffusers also accepts as a per-block list: only the int form
** is implemented, so a list is refused. */
static ef_status int_not_list(const cJSON *root, const char *label, const char *key, int64_t def, int64_t min,
                              int64_t max, int64_t *out, ef_err *err) {
    const cJSON *v = get(root, key);
    if (v && cJSON_IsArray(v)) return unsupported(label, key, v, err);
    return ef_json_int(root, label, key, 0, def, min, max, out, err);
}

/* ---- the block lists ------------------------------------------------------------- */

/* Reads key (an array of n strings, or the default list def when absent) and maps
** each entry to 1 (== attn_name) or 0 (== plain_name); others are refused. *n_out is
** the list length (checked against EF_UNET_MAX_STAGES). */
static ef_status block_types(const cJSON *root, const char *label, const char *key, const char *const *def,
                             const char *attn_name, const char *plain_name, int *flags, int *n_out, ef_err *err) {
    const cJSON *v = get(root, key);
    if (!v) {
        int n = 0;
        for (; def[n]; n++) flags[n] = strcmp(def[n], attn_name) == 0;
        *n_out = n;
        return EF_OK;
    }
    if (!cJSON_IsArray(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a list of strings", label, key);
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > EF_UNET_MAX_STAGES)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' has %d entries; 1 to %d supported", label, key, n,
                          EF_UNET_MAX_STAGES);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(e) || !e->valuestring)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a list of strings", label, key);
        const char *s = e->valuestring;
        if (strncmp(s, "UNetRes", 7) == 0) s += 7;   /* diffusers strips this prefix */
        if (strcmp(s, attn_name) == 0) flags[i] = 1;
        else if (strcmp(s, plain_name) == 0) flags[i] = 0;
        else {
            char name[64];
            snprintf(name, sizeof name, "%s[%d]", key, i);
            return unsupported(label, name, e, err);
        }
    }
    *n_out = n;
    return EF_OK;
}

/* Reads key as n positive integers (a list of n, or one int broadcast; def when absent). */
static ef_status int_list(const cJSON *root, const char *label, const char *key, int n, int64_t def, int64_t max,
                          int64_t *out, ef_err *err) {
    const cJSON *v = get(root, key);
    if (v && cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != n)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' has %d entries but there are %d blocks", label, key,
                              cJSON_GetArraySize(v), n);
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_GetArrayItem(v, i);
            double d = cJSON_IsNumber(e) ? e->valuedouble : -1.0;
            if (!(d >= 1 && d <= (double)max) || d != floor(d))
                return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' entry %d must be an integer in [1, %lld]", label,
                                  key, i, (long long)max);
            out[i] = (int64_t)d;
        }
        return EF_OK;
    }
    int64_t one;
    EF_TRY(ef_json_int(root, label, key, 0, def, 1, max, &one, err));
    for (int i = 0; i < n; i++) out[i] = one;
    return EF_OK;
}

/* ---- refused fields ------------------------------------------------------------- */

static ef_status check_unsupported(const cJSON *root, const char *label, ef_err *err) {
    EF_TRY(need_str(root, label, "_class_name", "UNet2DConditionModel", NULL, err));
    static const char *const NULL_ONLY[] = {
        "num_attention_heads",   /* diffusers itself refuses it (naming issue #2011) */
        "class_embed_type", "num_class_embeds", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
        "time_embedding_dim", "time_embedding_act_fn", "timestep_post_act", "cross_attention_norm",
        "reverse_transformer_layers_per_block",
    };
    for (size_t i = 0; i < sizeof NULL_ONLY / sizeof NULL_ONLY[0]; i++) EF_TRY(need_null(root, label, NULL_ONLY[i], err));
    EF_TRY(need_str(root, label, "act_fn", "silu", "swish", err));
    EF_TRY(need_str(root, label, "resnet_time_scale_shift", "default", NULL, err));
    EF_TRY(need_str(root, label, "time_embedding_type", "positional", NULL, err));
    EF_TRY(need_str(root, label, "attention_type", "default", NULL, err));
    EF_TRY(need_num(root, label, "conv_in_kernel", 3, err));
    EF_TRY(need_num(root, label, "conv_out_kernel", 3, err));
    EF_TRY(need_num(root, label, "downsample_padding", 1, err));
    EF_TRY(need_num(root, label, "mid_block_scale_factor", 1, err));
    EF_TRY(need_num(root, label, "resnet_out_scale_factor", 1, err));
    EF_TRY(need_bool(root, label, "center_input_sample", 0, err));
    EF_TRY(need_bool(root, label, "dual_cross_attention", 0, err));
    EF_TRY(need_bool(root, label, "class_embeddings_concat", 0, err));
    EF_TRY(need_bool(root, label, "resnet_skip_time_act", 0, err));
    EF_TRY(need_bool(root, label, "mid_block_only_cross_attention", 0, err));
    /* only_cross_attention: a bool or a per-block list; every entry must be false */
    const cJSON *oca = get(root, "only_cross_attention");
    if (oca && cJSON_IsArray(oca)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, oca) {
            if (!cJSON_IsFalse(e)) return unsupported(label, "only_cross_attention", oca, err);
        }
    } else {
        EF_TRY(need_bool(root, label, "only_cross_attention", 0, err));
    }
    return EF_OK;
}

/* ---- the parse ---------------------------------------------------------------------- */

static const char *const DEF_DOWN[] = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                       "DownBlock2D", NULL};
static const char *const DEF_UP[] = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                     NULL};

/* sample_size: absent/null, an int, or [h, w]. Informational only. */
static ef_status sample_size(const cJSON *root, const char *label, int64_t out[2], ef_err *err) {
    const cJSON *v = get(root, "sample_size");
    out[0] = out[1] = 0;
    if (v && cJSON_IsArray(v)) {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble < 1 ||
            b->valuedouble < 1 || a->valuedouble > 65536 || b->valuedouble > 65536)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'sample_size' must be an integer or [height, width]", label);
        out[0] = (int64_t)a->valuedouble;
        out[1] = (int64_t)b->valuedouble;
        return EF_OK;
    }
    EF_TRY(ef_json_int(root, label, "sample_size", 0, 0, 1, 65536, &out[0], err));
    out[1] = out[0];
    return EF_OK;
}

ef_status ef_unet_config_parse(const cJSON *root, const char *label, ef_unet_config *out, ef_err *err) {
    if (!root || !cJSON_IsObject(root))
        return ef_err_set(err, EF_ERR_FORMAT, "%s: unet config is not a JSON object", label);
    ef_unet_config c;
    memset(&c, 0, sizeof c);
    EF_TRY(check_unsupported(root, label, err));

    EF_TRY(ef_json_int(root, label, "in_channels", 0, 4, 1, 1024, &c.in_channels, err));
    EF_TRY(ef_json_int(root, label, "out_channels", 0, 4, 1, 1024, &c.out_channels, err));
    EF_TRY(sample_size(root, label, c.sample_size, err));

    int n_down = 0, n_up = 0;
    EF_TRY(block_types(root, label, "down_block_types", DEF_DOWN, "CrossAttnDownBlock2D", "DownBlock2D", c.down_attn,
                       &n_down, err));
    EF_TRY(block_types(root, label, "up_block_types", DEF_UP, "CrossAttnUpBlock2D", "UpBlock2D", c.up_attn, &n_up, err));
    if (n_down != n_up)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %d down_block_types but %d up_block_types", label, n_down, n_up);
    c.n_stages = n_down;

    const cJSON *boc = get(root, "block_out_channels");
    if (boc) {
        if (!cJSON_IsArray(boc))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'block_out_channels' must be a list of integers", label);
        if (cJSON_GetArraySize(boc) != c.n_stages)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'block_out_channels' has %d entries but there are %d blocks",
                              label, cJSON_GetArraySize(boc), c.n_stages);
        EF_TRY(int_list(root, label, "block_out_channels", c.n_stages, 0, 16384, c.block_out, err));
    } else {
        static const int64_t DEF_CH[] = {320, 640, 1280, 1280};
        if (c.n_stages != 4)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: missing field 'block_out_channels' (the default has 4 entries, "
                              "there are %d blocks)", label, c.n_stages);
        memcpy(c.block_out, DEF_CH, sizeof DEF_CH);
    }
    EF_TRY(int_list(root, label, "attention_head_dim", c.n_stages, 8, 16384, c.heads, err));
    EF_TRY(int_not_list(root, label, "layers_per_block", 2, 1, 64, &c.layers_per_block, err));
    EF_TRY(int_not_list(root, label, "transformer_layers_per_block", 1, 1, 64, &c.transformer_layers, err));
    EF_TRY(int_not_list(root, label, "cross_attention_dim", 1280, 1, 65536, &c.cross_attention_dim, err));
    EF_TRY(ef_json_int(root, label, "time_cond_proj_dim", 0, 0, 1, 65536, &c.time_cond_proj_dim, err));
    EF_TRY(ef_json_bool(root, label, "use_linear_projection", 0, 0, &c.use_linear_projection, err));
    EF_TRY(ef_json_bool(root, label, "upcast_attention", 0, 0, &c.upcast_attention, err));
    EF_TRY(ef_json_bool(root, label, "flip_sin_to_cos", 0, 1, &c.flip_sin_to_cos, err));
    EF_TRY(ef_json_num(root, label, "freq_shift", 0, 0.0, -1e6, 1e6, &c.freq_shift, err));
    EF_TRY(ef_json_num(root, label, "norm_eps", 0, 1e-5, 0.0, 1.0, &c.norm_eps, err));

    /* norm_num_groups: null would drop conv_norm_out in diffusers but break its resnets */
    const cJSON *nng = cJSON_GetObjectItemCaseSensitive(root, "norm_num_groups");
    if (nng && cJSON_IsNull(nng)) return unsupported(label, "norm_num_groups", nng, err);
    EF_TRY(ef_json_int(root, label, "norm_num_groups", 0, 32, 1, 16384, &c.norm_num_groups, err));

    /* mid_block_type: absent = diffusers' default; explicit null = no mid block */
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "mid_block_type");
    if (!mid) c.mid_attn = 1;
    else if (cJSON_IsNull(mid)) c.mid_attn = 0;
    else if (cJSON_IsString(mid) && mid->valuestring && strcmp(mid->valuestring, "UNetMidBlock2DCrossAttn") == 0)
        c.mid_attn = 1;
    else if (cJSON_IsString(mid)) return unsupported(label, "mid_block_type", mid, err);
    else return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'mid_block_type' must be a string or null", label);

    /* shape consistency that diffusers would only discover when building the model */
    for (int i = 0; i < c.n_stages; i++) {
        if (c.block_out[i] % c.norm_num_groups != 0)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: block_out_channels[%d] = %lld is not divisible by norm_num_groups = %lld",
                              label, i, (long long)c.block_out[i], (long long)c.norm_num_groups);
        int uses_attn = c.down_attn[i] || c.up_attn[c.n_stages - 1 - i] || (c.mid_attn && i == c.n_stages - 1);
        if (uses_attn && c.block_out[i] % c.heads[i] != 0)
            return ef_err_set(err, EF_ERR_FORMAT,
                              "%s: block_out_channels[%d] = %lld is not divisible by attention_head_dim[%d] = %lld heads",
                              label, i, (long long)c.block_out[i], i, (long long)c.heads[i]);
    }
    *out = c;
    return EF_OK;
}
