/*
** vae_config.c -- vae/config.json for diffusers' AutoencoderKL and AutoencoderTiny:
** typed, range-checked fields with diffusers' defaults, and a refusal naming
** FIELD=VALUE for anything the engine would otherwise run wrongly.
**
** Not here: weights (vae_kl.c, vae_tiny.c). The parsers are pure and safe on any JSON.
*/
#include <string.h>

#include "ef_internal.h"
#include "io/json.h"
#include "model/vae_internal.h"

#define MAX_CHANNELS 4096

#define UNSUPPORTED(fmt, ...) \
    ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: unsupported vae config: " fmt, label, __VA_ARGS__)

/* An array of 1..EF_VAE_MAX_BLOCKS integers in [min, max] at key (default def/n_def
** when absent or null). */
static ef_status int_array(const cJSON *root, const char *label, const char *key, const int64_t *def,
                           int64_t n_def, int64_t min, int64_t max, int64_t *out, int64_t *n_out, ef_err *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a || cJSON_IsNull(a)) {
        memcpy(out, def, (size_t)n_def * sizeof *out);
        *n_out = n_def;
        return EF_OK;
    }
    if (!cJSON_IsArray(a)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be an array", label, key);
    int64_t n = 0;
    for (const cJSON *e = a->child; e; e = e->next, n++) {
        if (n == EF_VAE_MAX_BLOCKS)
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: unsupported vae config: %s has more than %d entries",
                              label, key, EF_VAE_MAX_BLOCKS);
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1.0;
        if (!cJSON_IsNumber(e) || d != (double)(int64_t)d || d < (double)min || d > (double)max)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s'[%lld] must be an integer in [%lld, %lld]", label,
                              key, (long long)n, (long long)min, (long long)max);
        out[n] = (int64_t)d;
    }
    if (n == 0) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' is empty", label, key);
    *n_out = n;
    return EF_OK;
}

/* Every entry of the string array key (absent: fine) must equal want; n_want entries. */
static ef_status block_types(const cJSON *root, const char *label, const char *key, const char *want,
                             int64_t n_want, ef_err *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a || cJSON_IsNull(a)) return EF_OK;
    if (!cJSON_IsArray(a)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be an array", label, key);
    int64_t n = 0;
    for (const cJSON *e = a->child; e; e = e->next, n++) {
        if (!cJSON_IsString(e) || !e->valuestring)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s'[%lld] must be a string", label, key, (long long)n);
        if (strcmp(e->valuestring, want) != 0)
            return UNSUPPORTED("%s[%lld]=%.80s (only %s)", key, (long long)n, e->valuestring, want);
    }
    if (n != n_want)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' has %lld entries but block_out_channels has %lld", label,
                          key, (long long)n, (long long)n_want);
    return EF_OK;
}

/* A number or null (-> def). */
static ef_status num_or_null(const cJSON *root, const char *label, const char *key, double def, double *out,
                             ef_err *err) {
    return ef_json_num(root, label, key, 0, def, -1e6, 1e6, out, err);
}

/* latents_mean / latents_std: only null (or absent) is supported. */
static ef_status must_be_null(const cJSON *root, const char *label, const char *key, ef_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return EF_OK;
    return UNSUPPORTED("%s=%s (per-channel latent statistics are not implemented; only null)", key,
                       cJSON_IsArray(v) ? "[...]" : "non-null");
}

static ef_status class_name(const cJSON *root, const char *label, const char *want, ef_err *err) {
    const char *cls = NULL;
    EF_TRY(ef_json_str(root, label, "_class_name", 0, NULL, &cls, err));
    if (cls && strcmp(cls, want) != 0) return UNSUPPORTED("_class_name=%.80s (expected %s)", cls, want);
    return EF_OK;
}

/* act_fn must be one of the two accepted spellings. */
static ef_status act_fn(const cJSON *root, const char *label, const char *def, const char *a, const char *b,
                        ef_err *err) {
    const char *act = NULL;
    EF_TRY(ef_json_str(root, label, "act_fn", 0, def, &act, err));
    if (strcmp(act, a) != 0 && (!b || strcmp(act, b) != 0)) return UNSUPPORTED("act_fn=%.80s (only %s)", act, a);
    return EF_OK;
}

ef_status ef_vae_kl_config_parse(const cJSON *root, const char *label, ef_vae_kl_config *out, ef_err *err) {
    ef_vae_kl_config c;
    memset(&c, 0, sizeof c);
    EF_TRY(class_name(root, label, "AutoencoderKL", err));
    EF_TRY(ef_json_int(root, label, "in_channels", 0, 3, 1, 64, &c.in_channels, err));
    EF_TRY(ef_json_int(root, label, "out_channels", 0, 3, 1, 64, &c.out_channels, err));
    EF_TRY(ef_json_int(root, label, "latent_channels", 0, 4, 1, 256, &c.latent_channels, err));
    static const int64_t DEF_CH[1] = {64};
    EF_TRY(int_array(root, label, "block_out_channels", DEF_CH, 1, 1, MAX_CHANNELS, c.block_out_channels, &c.n_blocks,
                     err));
    EF_TRY(block_types(root, label, "down_block_types", "DownEncoderBlock2D", c.n_blocks, err));
    EF_TRY(block_types(root, label, "up_block_types", "UpDecoderBlock2D", c.n_blocks, err));
    EF_TRY(ef_json_int(root, label, "layers_per_block", 0, 1, 1, 16, &c.layers_per_block, err));
    EF_TRY(ef_json_int(root, label, "norm_num_groups", 0, 32, 1, MAX_CHANNELS, &c.norm_num_groups, err));
    for (int64_t i = 0; i < c.n_blocks; i++)
        if (c.block_out_channels[i] % c.norm_num_groups != 0)
            return ef_err_set(err, EF_ERR_FORMAT,
                              "%s: field 'block_out_channels'[%lld] = %lld is not divisible by 'norm_num_groups' = %lld",
                              label, (long long)i, (long long)c.block_out_channels[i], (long long)c.norm_num_groups);
    EF_TRY(act_fn(root, label, "silu", "silu", "swish", err));
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(root, "sample_size");
    if (cJSON_IsArray(ss)) {   /* [h, w]: the tile default only; take the first */
        const cJSON *e = ss->child;
        if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 65536)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'sample_size' must be a positive integer", label);
        c.sample_size = (int64_t)e->valuedouble;
    } else {
        EF_TRY(ef_json_int(root, label, "sample_size", 0, 32, 1, 65536, &c.sample_size, err));
    }
    EF_TRY(num_or_null(root, label, "scaling_factor", 0.18215, &c.scaling_factor, err));
    if (c.scaling_factor == 0.0) return UNSUPPORTED("scaling_factor=%g", c.scaling_factor);
    EF_TRY(num_or_null(root, label, "shift_factor", 0.0, &c.shift_factor, err));
    EF_TRY(must_be_null(root, label, "latents_mean", err));
    EF_TRY(must_be_null(root, label, "latents_std", err));
    EF_TRY(ef_json_bool(root, label, "use_quant_conv", 0, 1, &c.use_quant_conv, err));
    EF_TRY(ef_json_bool(root, label, "use_post_quant_conv", 0, 1, &c.use_post_quant_conv, err));
    EF_TRY(ef_json_bool(root, label, "mid_block_add_attention", 0, 1, &c.mid_block_add_attention, err));
    *out = c;
    return EF_OK;
}

ef_vae_tiny_config ef_vae_tiny_default_config(void) {
    ef_vae_tiny_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = c.out_channels = 3;
    c.latent_channels = 4;
    c.n_enc = c.n_dec = 4;
    static const int64_t ENC[4] = {1, 3, 3, 3}, DEC[4] = {3, 3, 3, 1};
    for (int i = 0; i < 4; i++) {
        c.enc_channels[i] = c.dec_channels[i] = 64;
        c.enc_blocks[i] = ENC[i];
        c.dec_blocks[i] = DEC[i];
    }
    c.latent_magnitude = 3.0;
    c.latent_shift = 0.5;
    c.scaling_factor = 1.0;
    c.shift_factor = 0.0;
    return c;
}

/* All entries of a channel list equal (diffusers' EncoderTiny/DecoderTiny chain the
** stages without a projection, so other lists crash there too). */
static ef_status equal_channels(const char *label, const char *key, const int64_t *ch, int64_t n, ef_err *err) {
    for (int64_t i = 1; i < n; i++)
        if (ch[i] != ch[0])
            return UNSUPPORTED("%s[%lld]=%lld (the stages must all have %lld channels)", key, (long long)i,
                               (long long)ch[i], (long long)ch[0]);
    return EF_OK;
}

ef_status ef_vae_tiny_config_parse(const cJSON *root, const char *label, ef_vae_tiny_config *out, ef_err *err) {
    ef_vae_tiny_config c = ef_vae_tiny_default_config();
    const ef_vae_tiny_config d = c;
    int64_t n = 0;
    EF_TRY(class_name(root, label, "AutoencoderTiny", err));
    EF_TRY(ef_json_int(root, label, "in_channels", 0, 3, 1, 64, &c.in_channels, err));
    EF_TRY(ef_json_int(root, label, "out_channels", 0, 3, 1, 64, &c.out_channels, err));
    EF_TRY(ef_json_int(root, label, "latent_channels", 0, 4, 1, 256, &c.latent_channels, err));
    EF_TRY(int_array(root, label, "encoder_block_out_channels", d.enc_channels, d.n_enc, 1, MAX_CHANNELS,
                     c.enc_channels, &c.n_enc, err));
    EF_TRY(int_array(root, label, "decoder_block_out_channels", d.dec_channels, d.n_dec, 1, MAX_CHANNELS,
                     c.dec_channels, &c.n_dec, err));
    EF_TRY(int_array(root, label, "num_encoder_blocks", d.enc_blocks, d.n_enc, 0, 64, c.enc_blocks, &n, err));
    if (n != c.n_enc)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: 'num_encoder_blocks' has %lld entries, 'encoder_block_out_channels' %lld",
                          label, (long long)n, (long long)c.n_enc);
    EF_TRY(int_array(root, label, "num_decoder_blocks", d.dec_blocks, d.n_dec, 0, 64, c.dec_blocks, &n, err));
    if (n != c.n_dec)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: 'num_decoder_blocks' has %lld entries, 'decoder_block_out_channels' %lld",
                          label, (long long)n, (long long)c.n_dec);
    if (c.n_enc != c.n_dec)
        return UNSUPPORTED("encoder_block_out_channels has %lld stages but decoder_block_out_channels %lld "
                           "(the downscale factors would differ)", (long long)c.n_enc, (long long)c.n_dec);
    EF_TRY(equal_channels(label, "encoder_block_out_channels", c.enc_channels, c.n_enc, err));
    EF_TRY(equal_channels(label, "decoder_block_out_channels", c.dec_channels, c.n_dec, err));
    EF_TRY(act_fn(root, label, "relu", "relu", NULL, err));
    const char *up = NULL;
    EF_TRY(ef_json_str(root, label, "upsample_fn", 0, "nearest", &up, err));
    if (strcmp(up, "nearest") != 0) return UNSUPPORTED("upsample_fn=%.80s (only nearest)", up);
    int64_t usf = 2;
    EF_TRY(ef_json_int(root, label, "upsampling_scaling_factor", 0, 2, 1, 16, &usf, err));
    if (usf != 2) return UNSUPPORTED("upsampling_scaling_factor=%lld (only 2)", (long long)usf);
    EF_TRY(num_or_null(root, label, "latent_magnitude", 3.0, &c.latent_magnitude, err));
    EF_TRY(num_or_null(root, label, "latent_shift", 0.5, &c.latent_shift, err));
    EF_TRY(num_or_null(root, label, "scaling_factor", 1.0, &c.scaling_factor, err));
    if (c.scaling_factor == 0.0) return UNSUPPORTED("scaling_factor=%g", c.scaling_factor);
    EF_TRY(num_or_null(root, label, "shift_factor", 0.0, &c.shift_factor, err));
    *out = c;
    return EF_OK;
}
