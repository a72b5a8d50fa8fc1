/*
** clip_text.h -- the CLIP text encoder (transformers CLIPTextModel): token ids (T) ->
** last_hidden_state (T, D), in fp32, with diffusers' clip_skip.
**
** Loads a text_encoder/ folder (config.json + safetensors weights, any float dtype,
** converted to f32 at load) and runs pre-LN transformer blocks with a causal mask,
** then the final LayerNorm. Not here: tokenization (text/bpe), pooling or the
** text_projection of CLIPTextModelWithProjection.
**
** Legend: V = vocab, D = hidden, I = intermediate (MLP), L = layers, H = heads,
** P = max positions, T = tokens of one prompt (T <= P).
*/
#ifndef EF_MODEL_CLIP_TEXT_H
#define EF_MODEL_CLIP_TEXT_H

#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "model/wmat_load.h"

typedef struct ef_clip_text_config {
    int64_t vocab_size;          /* V */
    int64_t hidden_size;         /* D, a multiple of n_heads */
    int64_t intermediate_size;   /* I */
    int64_t n_layers;            /* L (num_hidden_layers) */
    int64_t n_heads;             /* H (num_attention_heads) */
    int64_t max_positions;       /* P (max_position_embeddings) */
    double  layer_norm_eps;
    ef_act  act;                 /* from hidden_act */
} ef_clip_text_config;

/* Reads a transformers CLIPTextConfig object (the parsed text_encoder/config.json).
** Required: vocab_size, hidden_size, intermediate_size, num_hidden_layers,
** num_attention_heads, max_position_embeddings. Optional with transformers' defaults:
** hidden_act ("quick_gelu"; also "gelu", "gelu_new", "gelu_pytorch_tanh"),
** layer_norm_eps (1e-5). model_type, if present, must be "clip_text_model".
** Every error names label (the config path) and the field: EF_ERR_FORMAT for missing,
** mistyped or out-of-range fields and hidden_size % num_attention_heads != 0;
** EF_ERR_UNSUPPORTED "label: unsupported text_encoder config: hidden_act=relu ...".
** Safe on any JSON (the config fuzz target calls it). */
ef_status ef_clip_text_config_parse(const cJSON *root, const char *label, ef_clip_text_config *out,
                                    ef_err *err);

typedef struct ef_clip_text ef_clip_text;

/* Loads component_dir (e.g. "<pipe>/text_encoder"): config.json, then the weights
** through ef_weights_open(component_dir, variant, use_mmap). Tensors are bound by
** their transformers names, with or without the "text_model." prefix (real SD
** checkpoints have it; transformers 5 writes a fresh model without it):
**   [text_model.]embeddings.{token,position}_embedding.weight,
**   [text_model.]encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias},
**   [text_model.]encoder.layers.{i}.{layer_norm1,layer_norm2}.{weight,bias},
**   [text_model.]encoder.layers.{i}.mlp.{fc1,fc2}.{weight,bias},
**   [text_model.]final_layer_norm.{weight,bias};
** [text_model.]embeddings.position_ids is ignored; any other tensor is refused
** ("...: 1 unexpected tensor: 'x'"). Weights are copied to one f32 arena and the
** activation buffers for P tokens are allocated here, so forward allocates nothing;
** the files are closed before returning. On failure *out is NULL and err says which
** file/field/tensor is at fault. */
ef_status ef_clip_text_load(const char *component_dir, const char *variant, int use_mmap, ef_clip_text **out,
                            ef_err *err);

/* ef_clip_text_load keeping the token embedding and every linear matrix as wt
** (kernels/wmat.h: f16, bf16, or q8 = int8 with a scale per row), converted at load;
** norms, biases and position embeddings stay f32. Matrices stored in the file as I8 +
** "<name>.q8_scale" (io/weights.h) are copied into a q8 model and dequantized for the
** other types. wt EF_W_FROM_FILE (model/wmat_load.h): the type the file's matrices
** share (f16, bf16, q8), f32 when they differ. */
ef_status ef_clip_text_load_typed(const char *component_dir, const char *variant, int use_mmap, ef_wtype wt,
                                  ef_clip_text **out, ef_err *err);

/* Calls fn(user, name) for every tensor of w that ef_clip_text_load binds as a matrix
** (token embedding, q/k/v/out projections, fc1, fc2; with w's name prefix), in bind
** order, for the config.json of component_dir. Loads nothing. */
ef_status ef_clip_text_visit_matrices(const char *component_dir, ef_weights *w, ef_wmat_visit_fn fn, void *user,
                                      ef_err *err);

/* Encodes ids (n_tokens) into out (n_tokens, D), row-major.
** clip_skip 0 or 1: last_hidden_state (all layers, then the final LayerNorm).
** clip_skip k >= 2: the hidden state after layer L-(k-1), then the final LayerNorm
** (diffusers' clip_skip = k-1); k > L is refused.
** k may be NULL (the ref kernels); pool may be NULL (one thread). Results do not
** depend on the pool size. Errors (EF_ERR_INVALID_ARG): n_tokens outside [1, P], an
** id outside [0, V), clip_skip outside [0, L]; EF_ERR_INVALID_ARG too while the
** weights are released. Uses m's buffers: one call at a time per model. */
ef_status ef_clip_text_forward(ef_clip_text *m, ef_pool *pool, const ef_kernels *k, const int32_t *ids,
                               int n_tokens, int clip_skip, float *out, ef_err *err);

/* Accessors of a loaded model (m must not be NULL). */
const ef_clip_text_config *ef_clip_text_get_config(const ef_clip_text *m);
int     ef_clip_text_hidden_size(const ef_clip_text *m);     /* D */
int     ef_clip_text_n_layers(const ef_clip_text *m);        /* L */
int     ef_clip_text_max_positions(const ef_clip_text *m);   /* P */
int64_t ef_clip_text_n_params(const ef_clip_text *m);        /* floats loaded (123,060,480 for SD 1.x) */
ef_wtype ef_clip_text_wtype(const ef_clip_text *m);          /* how the matrices are stored */

/* Gives the weights' pages back to the OS (the model keeps its buffers and shape):
** between prompt encodings, so the UNet's and decoder's peak memory does not include
** the text encoder (123M parameters: 470 MiB in f32, ~120 MiB in q8). Forward refuses
** to run until ef_clip_text_reload has read the same folder into the same buffers. */
void      ef_clip_text_release(ef_clip_text *m);
int       ef_clip_text_is_released(const ef_clip_text *m);
ef_status ef_clip_text_reload(ef_clip_text *m, const char *component_dir, const char *variant, int use_mmap,
                              ef_err *err);   /* a no-op unless released */

void ef_clip_text_free(ef_clip_text *m);                     /* NULL is a no-op */

#endif /* EF_MODEL_CLIP_TEXT_H */
