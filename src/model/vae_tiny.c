/*
** vae_tiny.c -- diffusers' AutoencoderTiny (TAESD): weight binding in both namings,
** workspace plan, encoder and decoder forward passes.
**
** The model is two nn.Sequential stacks of 3x3 convs (taesd.py). A Block is
** relu(conv(relu(conv(relu(conv(x))))) + x).
**   Encoder: conv(Ci->C), blocks; per further stage: conv stride 2 (no bias), blocks;
**            conv(C->Lc). Input (x+1)/2 (diffusers' EncoderTiny).
**   Decoder: tanh(x/3)*3, conv(Lc->C), relu; per stage: blocks, then nearest-2x and a
**            conv (no bias) except the last, whose conv(C->Co) has a bias. Output
**            x*2-1 (diffusers' DecoderTiny), so images share AutoencoderKL's range.
** Sequential indices name the tensors: diffusers "decoder.layers.N.conv.2.weight",
** madebyollin's files "N.conv.2.weight" with the decoder's N one higher (its
** Sequential starts with the Clamp module). Activations rotate through three buffers.
*/
#include <math.h>
#include <string.h>

#include "ef_internal.h"
#include "model/vae_internal.h"

const vae_tiny_naming ef_vae_naming_diffusers = {"encoder.layers.", "decoder.layers.", 0, 0};
const vae_tiny_naming ef_vae_naming_original = {"", "", 0, 1};

static int64_t sum_blocks(const int64_t *nb, int64_t n) {
    int64_t s = 0;
    for (int64_t i = 0; i < n; i++) s += nb[i];
    return s;
}

int64_t ef_vae_tiny_count_params(const ef_vae_tiny_config *c, unsigned parts) {
    const int64_t blk = 3 * (c->enc_channels[0] * c->enc_channels[0] * 9 + c->enc_channels[0]);
    const int64_t dblk = 3 * (c->dec_channels[0] * c->dec_channels[0] * 9 + c->dec_channels[0]);
    const int64_t C = c->enc_channels[0], D = c->dec_channels[0], L = c->latent_channels;
    int64_t n = 0;
    if (parts & EF_VAE_ENCODER)
        n += C * c->in_channels * 9 + C + sum_blocks(c->enc_blocks, c->n_enc) * blk + (c->n_enc - 1) * C * C * 9 +
             L * C * 9 + L;
    if (parts & EF_VAE_DECODER)
        n += D * L * 9 + D + sum_blocks(c->dec_blocks, c->n_dec) * dblk + (c->n_dec - 1) * D * D * 9 +
             c->out_channels * D * 9 + c->out_channels;
    return n;
}

/* ---- binding ------------------------------------------------------------------------ */

/* "<prefix><idx + offset>.<rest>" */
static void layer_name(char *out, size_t n, const char *prefix, int offset, int64_t idx, const char *rest) {
    snprintf(out, n, "%s%lld.%s", prefix, (long long)(idx + offset), rest);
}

static ef_status bind_block(vae_bind *b, const char *prefix, int offset, int64_t idx, int64_t C, vae_tiny_block *blk,
                            ef_err *err) {
    char p[160];
    vae_conv *cv[3] = {&blk->c0, &blk->c1, &blk->c2};
    for (int i = 0; i < 3; i++) {
        char rest[32];
        snprintf(rest, sizeof rest, "conv.%d.", 2 * i);
        layer_name(p, sizeof p, prefix, offset, idx, rest);
        EF_TRY(ef_vae_bind_conv(b, p, C, C, 3, 1, cv[i], err));
    }
    return EF_OK;
}

static ef_status bind_encoder(ef_vae *v, vae_bind *b, const vae_tiny_naming *nm, ef_err *err) {
    const ef_vae_tiny_config *c = &v->tiny;
    vae_tiny_encoder *e = &v->tiny_enc;
    const int64_t C = c->enc_channels[0];
    vae_tiny_block *blocks = v->blocks;   /* the encoder's come first */
    int64_t idx = 0;
    char p[160];
    for (int64_t i = 0; i < c->n_enc; i++) {
        vae_tiny_stage *s = &e->stage[i];
        layer_name(p, sizeof p, nm->enc_prefix, nm->enc_offset, idx++, "");
        EF_TRY(ef_vae_bind_conv(b, p, i ? C : c->in_channels, C, 3, i == 0, &s->conv, err));
        s->blocks = blocks;
        s->n_blocks = c->enc_blocks[i];
        for (int64_t j = 0; j < s->n_blocks; j++)
            EF_TRY(bind_block(b, nm->enc_prefix, nm->enc_offset, idx++, C, &s->blocks[j], err));
        blocks += s->n_blocks;
    }
    layer_name(p, sizeof p, nm->enc_prefix, nm->enc_offset, idx, "");
    return ef_vae_bind_conv(b, p, C, c->latent_channels, 3, 1, &e->conv_out, err);
}

static ef_status bind_decoder(ef_vae *v, vae_bind *b, const vae_tiny_naming *nm, ef_err *err) {
    const ef_vae_tiny_config *c = &v->tiny;
    vae_tiny_decoder *d = &v->tiny_dec;
    const int64_t D = c->dec_channels[0];
    vae_tiny_block *blocks = v->blocks + sum_blocks(c->enc_blocks, c->n_enc);
    char p[160];
    layer_name(p, sizeof p, nm->dec_prefix, nm->dec_offset, 0, "");
    EF_TRY(ef_vae_bind_conv(b, p, c->latent_channels, D, 3, 1, &d->conv_in, err));
    int64_t idx = 2;   /* 1 is the ReLU */
    for (int64_t i = 0; i < c->n_dec; i++) {
        vae_tiny_stage *s = &d->stage[i];
        const int last = i == c->n_dec - 1;
        s->blocks = blocks;
        s->n_blocks = c->dec_blocks[i];
        for (int64_t j = 0; j < s->n_blocks; j++)
            EF_TRY(bind_block(b, nm->dec_prefix, nm->dec_offset, idx++, D, &s->blocks[j], err));
        blocks += s->n_blocks;
        if (!last) idx++;   /* the Upsample */
        layer_name(p, sizeof p, nm->dec_prefix, nm->dec_offset, idx++, "");
        EF_TRY(ef_vae_bind_conv(b, p, D, last ? c->out_channels : D, 3, last, &s->conv, err));
    }
    return EF_OK;
}

ef_status ef_vae_tiny_bind(ef_vae *v, vae_bind *b, const vae_tiny_naming *nm, unsigned walk, ef_err *err) {
    if (walk & EF_VAE_ENCODER) {
        b->load = (v->parts & EF_VAE_ENCODER) != 0;
        EF_TRY(bind_encoder(v, b, nm, err));
    }
    if (walk & EF_VAE_DECODER) {
        b->load = (v->parts & EF_VAE_DECODER) != 0;
        EF_TRY(bind_decoder(v, b, nm, err));
    }
    b->load = 1;
    return ef_vae_bind_check_all_used(b, err);
}

/* ---- workspace plan ------------------------------------------------------------- */

size_t ef_vae_tiny_decode_ws(const ef_vae_tiny_config *c, int64_t h, int64_t w) {
    const int64_t f = (int64_t)1 << (c->n_dec - 1);
    int64_t m = EF_MAX(c->latent_channels * h * w, c->dec_channels[0] * (f * h) * (f * w));
    return 3 * (size_t)m;
}

size_t ef_vae_tiny_encode_ws(const ef_vae_tiny_config *c, int64_t H, int64_t W) {
    return 3 * (size_t)(EF_MAX(c->in_channels, c->enc_channels[0]) * H * W);
}

/* ---- forward ----------------------------------------------------------------------- */

typedef struct bufs {
    float *cur, *t0, *t1;
} bufs;

/* y = relu(y) over n floats, in place. */
static void relu(const vae_ctx *c, float *y, int64_t n) {
    ef_act_args a = {y, y, n, EF_ACT_RELU};
    ef_kernels_act(c->k, c->pool, &a);
}

/* One Block on cur (C, H, W); the result becomes cur. */
static void run_block(const vae_ctx *c, const vae_tiny_block *blk, bufs *b, int64_t H, int64_t W) {
    ef_vae_op_conv(c, &blk->c0, b->cur, H, W, 1, 1, EF_ACT_RELU, NULL, b->t0);
    ef_vae_op_conv(c, &blk->c1, b->t0, H, W, 1, 1, EF_ACT_RELU, NULL, b->t1);
    ef_vae_op_conv(c, &blk->c2, b->t1, H, W, 1, 1, EF_ACT_NONE, b->cur, b->t0);   /* t0 = conv + x */
    relu(c, b->t0, blk->c2.cout * H * W);
    float *old = b->cur;
    b->cur = b->t0;
    b->t0 = old;
}

void ef_vae_tiny_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img) {
    const ef_vae_tiny_config *cf = &v->tiny;
    const vae_tiny_decoder *d = &v->tiny_dec;
    const size_t m = ef_vae_tiny_decode_ws(cf, h, w) / 3;
    bufs b = {v->ws, v->ws + m, v->ws + 2 * m};
    const int64_t nz = cf->latent_channels * h * w;
    for (int64_t i = 0; i < nz; i++) b.t1[i] = tanhf(z[i] / 3.0f) * 3.0f;   /* the Clamp */
    ef_vae_op_conv(c, &d->conv_in, b.t1, h, w, 1, 1, EF_ACT_RELU, NULL, b.cur);
    for (int64_t i = 0; i < cf->n_dec; i++) {
        const vae_tiny_stage *s = &d->stage[i];
        for (int64_t j = 0; j < s->n_blocks; j++) run_block(c, &s->blocks[j], &b, h, w);
        if (i == cf->n_dec - 1) {
            ef_vae_op_conv(c, &s->conv, b.cur, h, w, 1, 1, EF_ACT_NONE, NULL, img);   /* img (Co, H, W) */
            break;
        }
        ef_upsample2x_args u = {b.cur, b.t0, s->conv.cin, h, w};
        ef_kernels_upsample2x(c->k, c->pool, &u);
        h *= 2;
        w *= 2;
        ef_vae_op_conv(c, &s->conv, b.t0, h, w, 1, 1, EF_ACT_NONE, NULL, b.t1);
        float *old = b.cur;
        b.cur = b.t1;
        b.t1 = old;
    }
    const int64_t n = cf->out_channels * h * w;
    for (int64_t i = 0; i < n; i++) img[i] = img[i] * 2.0f - 1.0f;   /* [0, 1] -> [-1, 1] */
}

void ef_vae_tiny_encode_run(ef_vae *v, const vae_ctx *c, const float *img, int64_t H, int64_t W, float *z) {
    const ef_vae_tiny_config *cf = &v->tiny;
    const vae_tiny_encoder *e = &v->tiny_enc;
    const size_t m = ef_vae_tiny_encode_ws(cf, H, W) / 3;
    bufs b = {v->ws, v->ws + m, v->ws + 2 * m};
    const int64_t n = cf->in_channels * H * W;
    for (int64_t i = 0; i < n; i++) b.t1[i] = (img[i] + 1.0f) / 2.0f;   /* [-1, 1] -> [0, 1] */
    for (int64_t i = 0; i < cf->n_enc; i++) {
        const vae_tiny_stage *s = &e->stage[i];
        if (i == 0) {
            ef_vae_op_conv(c, &s->conv, b.t1, H, W, 1, 1, EF_ACT_NONE, NULL, b.cur);
        } else {
            ef_vae_op_conv(c, &s->conv, b.cur, H, W, 2, 1, EF_ACT_NONE, NULL, b.t0);
            H = (H + 1) / 2;
            W = (W + 1) / 2;
            float *old = b.cur;
            b.cur = b.t0;
            b.t0 = old;
        }
        for (int64_t j = 0; j < s->n_blocks; j++) run_block(c, &s->blocks[j], &b, H, W);
    }
    ef_vae_op_conv(c, &e->conv_out, b.cur, H, W, 1, 1, EF_ACT_NONE, NULL, z);
}
