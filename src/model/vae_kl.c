/*
** vae_kl.c -- diffusers' AutoencoderKL (the SD VAE): weight binding, workspace plan
** and the encoder and decoder forward passes.
**
** Decoder: [post_quant_conv] -> conv_in -> mid (resnet, attention, resnet) -> up
** blocks, deepest first (layers_per_block+1 resnets, then nearest-2x + conv except
** the last) -> GroupNorm+SiLU -> conv_out. Encoder: conv_in -> down blocks
** (layers_per_block resnets, then a stride-2 conv after a (0,1,0,1) zero pad except
** the last) -> mid -> GroupNorm+SiLU -> conv_out (2 Lc moments) -> [quant_conv] ->
** mean / logvar. Every GroupNorm has eps 1e-6 and norm_num_groups groups.
**
** Activations rotate through three equal buffers of the workspace (cur, t0, t1),
** each sized by the plan functions for the largest tensor of the pass.
*/
#include <math.h>
#include <string.h>

#include "ef_internal.h"
#include "model/vae_internal.h"

/* ---- architecture walk ----------------------------------------------------------- */

/* Channels of encoder stage i: input and output. */
static void enc_stage_ch(const ef_vae_kl_config *c, int64_t i, int64_t *cin, int64_t *cout) {
    *cin = c->block_out_channels[i > 0 ? i - 1 : 0];
    *cout = c->block_out_channels[i];
}

/* Channels of decoder stage i (up block i works on reversed block_out_channels). */
static void dec_stage_ch(const ef_vae_kl_config *c, int64_t i, int64_t *cin, int64_t *cout) {
    const int64_t n = c->n_blocks;
    *cin = c->block_out_channels[i > 0 ? n - i : n - 1];
    *cout = c->block_out_channels[n - 1 - i];
}

static int64_t resnet_params(int64_t cin, int64_t cout) {
    return 2 * cin + cout * cin * 9 + cout + 2 * cout + cout * cout * 9 + cout + (cin != cout ? cout * cin + cout : 0);
}

static int64_t mid_params(const ef_vae_kl_config *c) {
    const int64_t C = c->block_out_channels[c->n_blocks - 1];
    int64_t attn = c->mid_block_add_attention ? 2 * C + 4 * (C * C + C) : 0;
    return 2 * resnet_params(C, C) + attn;
}

int64_t ef_vae_kl_count_params(const ef_vae_kl_config *c, unsigned parts) {
    const int64_t L = c->latent_channels, top = c->block_out_channels[c->n_blocks - 1];
    const int64_t c0 = c->block_out_channels[0];
    int64_t n = 0;
    if (parts & EF_VAE_ENCODER) {
        n += c0 * c->in_channels * 9 + c0;
        for (int64_t i = 0; i < c->n_blocks; i++) {
            int64_t cin, cout;
            enc_stage_ch(c, i, &cin, &cout);
            for (int64_t j = 0; j < c->layers_per_block; j++) n += resnet_params(j ? cout : cin, cout);
            if (i < c->n_blocks - 1) n += cout * cout * 9 + cout;
        }
        n += mid_params(c) + 2 * top + 2 * L * top * 9 + 2 * L;
        if (c->use_quant_conv) n += 4 * L * L + 2 * L;
    }
    if (parts & EF_VAE_DECODER) {
        if (c->use_post_quant_conv) n += L * L + L;
        n += top * L * 9 + top + mid_params(c);
        for (int64_t i = 0; i < c->n_blocks; i++) {
            int64_t cin, cout;
            dec_stage_ch(c, i, &cin, &cout);
            for (int64_t j = 0; j <= c->layers_per_block; j++) n += resnet_params(j ? cout : cin, cout);
            if (i < c->n_blocks - 1) n += cout * cout * 9 + cout;
        }
        n += 2 * c0 + c->out_channels * c0 * 9 + c->out_channels;
    }
    return n;
}

/* ---- binding ------------------------------------------------------------------------ */

static ef_status bind_resnet(vae_bind *b, const char *pre, int64_t cin, int64_t cout, vae_resnet *r, ef_err *err) {
    char p[200];
    memset(r, 0, sizeof *r);
    snprintf(p, sizeof p, "%snorm1.", pre);
    EF_TRY(ef_vae_bind_norm(b, p, cin, &r->n1, err));
    snprintf(p, sizeof p, "%sconv1.", pre);
    EF_TRY(ef_vae_bind_conv(b, p, cin, cout, 3, 1, &r->c1, err));
    snprintf(p, sizeof p, "%snorm2.", pre);
    EF_TRY(ef_vae_bind_norm(b, p, cout, &r->n2, err));
    snprintf(p, sizeof p, "%sconv2.", pre);
    EF_TRY(ef_vae_bind_conv(b, p, cout, cout, 3, 1, &r->c2, err));
    if (cin != cout) {
        snprintf(p, sizeof p, "%sconv_shortcut.", pre);
        EF_TRY(ef_vae_bind_conv(b, p, cin, cout, 1, 1, &r->sc, err));
    }
    return EF_OK;
}

/* A (C, C) linear weight; checkpoints converted from the original LDM code may store
** it as a (C, C, 1, 1) conv kernel, which is the same bytes. */
static ef_status bind_linear(vae_bind *b, const char *name, int64_t C, const float **out, ef_err *err) {
    const ef_st_tensor *t = ef_vae_bind_find(b, name);
    int64_t shape[4] = {C, C, 1, 1};
    return ef_vae_bind_tensor(b, name, t && t->ndim == 4 ? 4 : 2, shape, out, err);
}

/* The mid-block attention: to_q/to_k/to_v/to_out.0 (diffusers >= 0.14) or
** query/key/value/proj_attn (older saves). q, k, v are bound consecutively so they
** form one (3C, C) matrix. */
static ef_status bind_attn(vae_bind *b, const char *pre, int64_t C, vae_attn *a, ef_err *err) {
    static const char *const NEW[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    static const char *const OLD[4] = {"query", "key", "value", "proj_attn"};
    char p[320], probe[320];
    snprintf(probe, sizeof probe, "%sto_q.weight", pre);
    const char *const *nm = ef_vae_bind_find(b, probe) || !b->load ? NEW : OLD;
    if (!b->load) {   /* skipping this half: the old spellings are known names too */
        for (int i = 0; i < 8; i++) {
            const float *unused;
            snprintf(p, sizeof p, "%s%s.%s", pre, OLD[i / 2], i % 2 ? "bias" : "weight");
            EF_TRY(ef_vae_bind_tensor(b, p, 0, NULL, &unused, err));
        }
    }
    a->c = C;
    snprintf(p, sizeof p, "%sgroup_norm.", pre);
    EF_TRY(ef_vae_bind_norm(b, p, C, &a->gn, err));
    const float *w[4], *bias[4];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s.weight", pre, nm[i]);
        EF_TRY(bind_linear(b, p, C, &w[i], err));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s.bias", pre, nm[i]);
        EF_TRY(ef_vae_bind_tensor(b, p, 1, &C, &bias[i], err));
    }
    snprintf(p, sizeof p, "%s%s.weight", pre, nm[3]);
    EF_TRY(bind_linear(b, p, C, &w[3], err));
    snprintf(p, sizeof p, "%s%s.bias", pre, nm[3]);
    EF_TRY(ef_vae_bind_tensor(b, p, 1, &C, &bias[3], err));
    if (b->load) EF_ASSERT(w[1] == w[0] + C * C && w[2] == w[1] + C * C && bias[1] == bias[0] + C && bias[2] == bias[1] + C);
    a->w_qkv = w[0];
    a->b_qkv = bias[0];
    a->w_o = w[3];
    a->b_o = bias[3];
    return EF_OK;
}

static ef_status bind_mid(vae_bind *b, const ef_vae_kl_config *c, const char *half, vae_resnet *r0, vae_resnet *r1,
                          vae_attn *a, ef_err *err) {
    const int64_t C = c->block_out_channels[c->n_blocks - 1];
    char p[200];
    snprintf(p, sizeof p, "%s.mid_block.resnets.0.", half);
    EF_TRY(bind_resnet(b, p, C, C, r0, err));
    memset(a, 0, sizeof *a);
    if (c->mid_block_add_attention) {
        snprintf(p, sizeof p, "%s.mid_block.attentions.0.", half);
        EF_TRY(bind_attn(b, p, C, a, err));
    }
    snprintf(p, sizeof p, "%s.mid_block.resnets.1.", half);
    return bind_resnet(b, p, C, C, r1, err);
}

static ef_status bind_encoder(ef_vae *v, vae_bind *b, vae_resnet **res, ef_err *err) {
    const ef_vae_kl_config *c = &v->kl;
    vae_kl_encoder *e = &v->kl_enc;
    const int64_t L = c->latent_channels, top = c->block_out_channels[c->n_blocks - 1];
    char p[200];
    EF_TRY(ef_vae_bind_conv(b, "encoder.conv_in.", c->in_channels, c->block_out_channels[0], 3, 1, &e->conv_in, err));
    for (int64_t i = 0; i < c->n_blocks; i++) {
        int64_t cin, cout;
        enc_stage_ch(c, i, &cin, &cout);
        vae_stage *s = &e->stage[i];
        s->res = *res;
        s->n_res = c->layers_per_block;
        for (int64_t j = 0; j < s->n_res; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%lld.resnets.%lld.", (long long)i, (long long)j);
            EF_TRY(bind_resnet(b, p, j ? cout : cin, cout, &s->res[j], err));
        }
        *res += s->n_res;
        memset(&s->resample, 0, sizeof s->resample);
        if (i < c->n_blocks - 1) {
            snprintf(p, sizeof p, "encoder.down_blocks.%lld.downsamplers.0.conv.", (long long)i);
            EF_TRY(ef_vae_bind_conv(b, p, cout, cout, 3, 1, &s->resample, err));
        }
    }
    EF_TRY(bind_mid(b, c, "encoder", &e->mid0, &e->mid1, &e->attn, err));
    EF_TRY(ef_vae_bind_norm(b, "encoder.conv_norm_out.", top, &e->norm_out, err));
    EF_TRY(ef_vae_bind_conv(b, "encoder.conv_out.", top, 2 * L, 3, 1, &e->conv_out, err));
    memset(&e->quant, 0, sizeof e->quant);
    if (c->use_quant_conv) EF_TRY(ef_vae_bind_conv(b, "quant_conv.", 2 * L, 2 * L, 1, 1, &e->quant, err));
    return EF_OK;
}

static ef_status bind_decoder(ef_vae *v, vae_bind *b, vae_resnet **res, ef_err *err) {
    const ef_vae_kl_config *c = &v->kl;
    vae_kl_decoder *d = &v->kl_dec;
    const int64_t L = c->latent_channels, top = c->block_out_channels[c->n_blocks - 1];
    const int64_t c0 = c->block_out_channels[0];
    char p[200];
    memset(&d->post_quant, 0, sizeof d->post_quant);
    if (c->use_post_quant_conv) EF_TRY(ef_vae_bind_conv(b, "post_quant_conv.", L, L, 1, 1, &d->post_quant, err));
    EF_TRY(ef_vae_bind_conv(b, "decoder.conv_in.", L, top, 3, 1, &d->conv_in, err));
    EF_TRY(bind_mid(b, c, "decoder", &d->mid0, &d->mid1, &d->attn, err));
    for (int64_t i = 0; i < c->n_blocks; i++) {
        int64_t cin, cout;
        dec_stage_ch(c, i, &cin, &cout);
        vae_stage *s = &d->stage[i];
        s->res = *res;
        s->n_res = c->layers_per_block + 1;
        for (int64_t j = 0; j < s->n_res; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%lld.resnets.%lld.", (long long)i, (long long)j);
            EF_TRY(bind_resnet(b, p, j ? cout : cin, cout, &s->res[j], err));
        }
        *res += s->n_res;
        memset(&s->resample, 0, sizeof s->resample);
        if (i < c->n_blocks - 1) {
            snprintf(p, sizeof p, "decoder.up_blocks.%lld.upsamplers.0.conv.", (long long)i);
            EF_TRY(ef_vae_bind_conv(b, p, cout, cout, 3, 1, &s->resample, err));
        }
    }
    EF_TRY(ef_vae_bind_norm(b, "decoder.conv_norm_out.", c0, &d->norm_out, err));
    return ef_vae_bind_conv(b, "decoder.conv_out.", c0, c->out_channels, 3, 1, &d->conv_out, err);
}

ef_status ef_vae_kl_bind(ef_vae *v, vae_bind *b, ef_err *err) {
    vae_resnet *res = v->resnets;
    /* the halves not requested are walked with load = 0: their names become "ignored" */
    b->load = (v->parts & EF_VAE_ENCODER) != 0;
    EF_TRY(bind_encoder(v, b, &res, err));
    b->load = (v->parts & EF_VAE_DECODER) != 0;
    EF_TRY(bind_decoder(v, b, &res, err));
    b->load = 1;
    EF_ASSERT(b->next == b->end);
    return ef_vae_bind_check_all_used(b, err);
}

/* ---- workspace plan ------------------------------------------------------------- */

static size_t zmax(size_t a, int64_t b) { return (size_t)b > a ? (size_t)b : a; }

/* Largest tensor of the mid block at (C, S): the attention's qkv is 3 C S. */
static size_t mid_need(const ef_vae_kl_config *c, int64_t S) {
    const int64_t C = c->block_out_channels[c->n_blocks - 1];
    return (size_t)((c->mid_block_add_attention ? 3 : 1) * C * S);
}

size_t ef_vae_kl_decode_ws(const ef_vae_kl_config *c, int64_t h, int64_t w) {
    size_t m = zmax(mid_need(c, h * w), c->latent_channels * h * w);
    for (int64_t i = 0; i < c->n_blocks; i++) {
        int64_t cin, cout;
        dec_stage_ch(c, i, &cin, &cout);
        m = zmax(m, EF_MAX(cin, cout) * h * w);
        if (i < c->n_blocks - 1) {
            h *= 2;
            w *= 2;
            m = zmax(m, cout * h * w);
        }
    }
    m = zmax(m, c->block_out_channels[0] * h * w);
    return 3 * m;
}

size_t ef_vae_kl_encode_ws(const ef_vae_kl_config *c, int64_t H, int64_t W) {
    size_t m = 0;
    for (int64_t i = 0; i < c->n_blocks; i++) {
        int64_t cin, cout;
        enc_stage_ch(c, i, &cin, &cout);
        m = zmax(m, EF_MAX(cin, cout) * H * W);
        if (i < c->n_blocks - 1) {
            m = zmax(m, cout * (H + 1) * (W + 1));
            H /= 2;
            W /= 2;
        }
    }
    m = zmax(m, mid_need(c, H * W));
    m = zmax(m, 2 * c->latent_channels * H * W);
    return 3 * m;
}

/* ---- forward ----------------------------------------------------------------------- */

/* Three rotating buffers: cur holds the activation, t0/t1 are free. */
typedef struct bufs {
    float *cur, *t0, *t1;
} bufs;

/* resnet: cur -> t0; then t0 becomes cur. */
static void run_resnet(const vae_ctx *c, const vae_resnet *r, int64_t G, bufs *b, int64_t H, int64_t W) {
    ef_vae_op_resnet(c, r, G, b->cur, H, W, b->t0, b->t1);
    float *old = b->cur;
    b->cur = b->t0;
    b->t0 = old;
}

static void run_mid(const vae_ctx *c, const vae_resnet *r0, const vae_resnet *r1, const vae_attn *a, int64_t G,
                    bufs *b, int64_t H, int64_t W) {
    run_resnet(c, r0, G, b, H, W);
    if (a->w_qkv) ef_vae_op_attention(c, a, G, b->cur, H, W, b->t0, b->t1);
    run_resnet(c, r1, G, b, H, W);
}

void ef_vae_kl_decode_run(ef_vae *v, const vae_ctx *c, const float *z, int64_t h, int64_t w, float *img) {
    const ef_vae_kl_config *cf = &v->kl;
    const vae_kl_decoder *d = &v->kl_dec;
    const int64_t G = cf->norm_num_groups;
    const size_t m = ef_vae_kl_decode_ws(cf, h, w) / 3;
    bufs b = {v->ws, v->ws + m, v->ws + 2 * m};
    const float *x = z;
    if (d->post_quant.w) {                                              /* t1 (Lc, h, w) */
        ef_vae_op_conv(c, &d->post_quant, z, h, w, 1, 0, EF_ACT_NONE, NULL, b.t1);
        x = b.t1;
    }
    ef_vae_op_conv(c, &d->conv_in, x, h, w, 1, -1, EF_ACT_NONE, NULL, b.cur);   /* cur (top, h, w) */
    run_mid(c, &d->mid0, &d->mid1, &d->attn, G, &b, h, w);
    for (int64_t i = 0; i < cf->n_blocks; i++) {
        const vae_stage *s = &d->stage[i];
        for (int64_t j = 0; j < s->n_res; j++) run_resnet(c, &s->res[j], G, &b, h, w);
        if (s->resample.w) {                                            /* cur (cout, 2h, 2w) */
            ef_vae_op_upsample(c, &s->resample, b.cur, h, w, b.t0, b.t1);
            float *old = b.cur;
            b.cur = b.t1;
            b.t1 = old;
            h *= 2;
            w *= 2;
        }
    }
    ef_vae_op_group_norm(c, &d->norm_out, G, 1e-6f, EF_ACT_SILU, b.cur, h * w, b.t0);
    ef_vae_op_conv(c, &d->conv_out, b.t0, h, w, 1, -1, EF_ACT_NONE, NULL, img);   /* img (Co, H, W) */
}

void ef_vae_kl_encode_run(ef_vae *v, const vae_ctx *c, const float *img, int64_t H, int64_t W, const float *noise,
                       float *z) {
    const ef_vae_kl_config *cf = &v->kl;
    const vae_kl_encoder *e = &v->kl_enc;
    const int64_t G = cf->norm_num_groups, L = cf->latent_channels;
    const size_t m = ef_vae_kl_encode_ws(cf, H, W) / 3;
    bufs b = {v->ws, v->ws + m, v->ws + 2 * m};
    ef_vae_op_conv(c, &e->conv_in, img, H, W, 1, -1, EF_ACT_NONE, NULL, b.cur);   /* cur (c0, H, W) */
    for (int64_t i = 0; i < cf->n_blocks; i++) {
        const vae_stage *s = &e->stage[i];
        for (int64_t j = 0; j < s->n_res; j++) run_resnet(c, &s->res[j], G, &b, H, W);
        if (s->resample.w) {                                            /* cur (cout, H/2, W/2) */
            ef_vae_op_downsample(c, &s->resample, b.cur, H, W, b.t0, b.t1);
            float *old = b.cur;
            b.cur = b.t1;
            b.t1 = old;
            H /= 2;
            W /= 2;
        }
    }
    run_mid(c, &e->mid0, &e->mid1, &e->attn, G, &b, H, W);
    const int64_t S = H * W;
    ef_vae_op_group_norm(c, &e->norm_out, G, 1e-6f, EF_ACT_SILU, b.cur, S, b.t0);
    ef_vae_op_conv(c, &e->conv_out, b.t0, H, W, 1, -1, EF_ACT_NONE, NULL, b.t1);  /* t1 (2Lc, h, w) moments */
    const float *mom = b.t1;
    if (e->quant.w) {
        ef_vae_op_conv(c, &e->quant, b.t1, H, W, 1, 0, EF_ACT_NONE, NULL, b.t0);
        mom = b.t0;
    }
    /* DiagonalGaussianDistribution: mean = moments[:Lc], logvar = clamp(moments[Lc:], -30, 20) */
    const float *mean = mom, *logvar = mom + L * S;
    for (int64_t i = 0; i < L * S; i++) {
        if (!noise) {
            z[i] = mean[i];
            continue;
        }
        float lv = logvar[i] < -30.0f ? -30.0f : (logvar[i] > 20.0f ? 20.0f : logvar[i]);
        z[i] = mean[i] + expf(0.5f * lv) * noise[i];
    }
}
