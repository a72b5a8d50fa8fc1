/*
** unet.c -- the UNet2DConditionModel forward pass and its activation plan.
**
** Forward (diffusers order): sinusoidal timestep embedding (+ cond_proj(w) for LCM) ->
** linear_1, SiLU, linear_2 (kept as SiLU(emb), the only form the resnets use) ->
** conv_in -> down blocks -> mid block -> up blocks -> GroupNorm, SiLU, conv_out.
**
** Memory plan, one arena per (h, w, T), bump-allocated in this order:
**   time embedding (3 small vectors);
**   the skip stack: every down-path output is written straight into its own slot
**     (conv_in, each resnet/attention pair, each downsampler), never copied;
**   two up-stream buffers P, Q, each sized for the largest [hidden | skip]
**     concatenation, mid output or upsampler output: an up resnet reads one and
**     writes the other, so a concatenation costs one copy of the skip;
**   per-block scratch above them, reset after every block.
** ef_unet_plan runs run_unet in a dry mode through a measuring arena to size it, so
** the plan and the forward cannot disagree. Attention never holds an S x S matrix.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ef_internal.h"
#include "model/unet_internal.h"

enum { MAX_SKIPS = 1 + EF_UNET_MAX_STAGES * 65, MAX_SIDE = 4096, MAX_TOKENS = 4096 };

/* The sinusoidal embedding of t (diffusers get_timestep_embedding, float32 as torch
** computes it): freq_i = exp(-ln(10000) * i / (half - freq_shift)), emb = [sin(t f),
** cos(t f)] (cos first with flip_sin_to_cos), zero-padded when dim is odd. */
static void timestep_embedding(const ef_unet_config *c, int64_t dim, float t, float *out /* (dim) */) {
    const int64_t half = dim / 2;
    const float neg_log_period = (float)-9.210340371976184;   /* -ln(10000) */
    const float denom = (float)((double)half - c->freq_shift);
    for (int64_t i = 0; i < half; i++) {
        float e = neg_log_period * (float)i / denom;
        float arg = t * (float)exp((double)e);
        float s = sinf(arg), co = cosf(arg);
        out[i] = c->flip_sin_to_cos ? co : s;
        out[half + i] = c->flip_sin_to_cos ? s : co;
    }
    if (dim % 2) out[dim - 1] = 0.0f;
}

/* Floats of each up-stream buffer at latent h x w: the largest mid output, up-resnet
** input [hidden | skip] or upsampler output. */
static int64_t up_stream_floats(const ef_unet *m, int64_t h, int64_t w) {
    int64_t mx = 0;
    if (m->mid.n_res > 0) {
        int l = m->mid.level;
        mx = m->mid.cout * (h >> l) * (w >> l);
    }
    for (int i = 0; i < m->cfg.n_stages; i++) {
        const unet_block *b = &m->up[i];
        int64_t S = (h >> b->level) * (w >> b->level);
        for (int j = 0; j < b->n_res; j++) mx = EF_MAX(mx, b->res[j].cin * S);
        if (b->has_sampler) mx = EF_MAX(mx, b->cout * 4 * S);
    }
    return mx;
}

static void hook(const unet_run *r, const char *name, const float *x, int64_t c, int64_t H, int64_t W) {
    if (!r->dry && r->m->hook) r->m->hook(r->m->hook_user, name, x, c, H, W);
}

/* The whole network on sample (Cin, h, w) -> out (Cout, h, w). In a dry run the
** data pointers are ignored (may be NULL) and only the allocations happen. */
static void run_unet(unet_run *r, int64_t h, int64_t w, const float *sample, float t, const float *tcond, float *out) {
    const ef_unet *m = r->m;
    r->top_h = h;
    r->top_w = w;
    r->kv_down = m->kv_downsample;
    const ef_unet_config *c = &m->cfg;
    const ef_kernels *k = r->k;
    const int n = c->n_stages;
    const int64_t C0 = c->block_out[0], Dt = m->t_dim, G = c->norm_num_groups;
    char name[32];
    ef_arena_reset(r->arena, 0);

    /* 1. time embedding: temb = silu(linear_2(silu(linear_1(sinusoid(t) [+ cond_proj(w)])))) */
    float *t_sin = ef_unet_alloc(r, C0);   /* (C_0) */
    float *t_hid = ef_unet_alloc(r, Dt);   /* (Dt) */
    float *temb = ef_unet_alloc(r, Dt);    /* (Dt) */
    if (!r->dry) {
        timestep_embedding(c, C0, t, t_sin);
        if (tcond) {
            const int64_t Dc = c->time_cond_proj_dim;
            ef_linear_args cp = {tcond, m->t_cond_w, NULL, t_sin, t_sin, 1, C0, Dc, Dc, C0, EF_ACT_NONE, m->wt, NULL};
            ef_kernels_linear(k, r->pool, &cp);
        }
        ef_linear_args l1 = {t_sin, m->t_lin1_w, m->t_lin1_b, NULL, t_hid, 1, Dt, C0, C0, Dt, EF_ACT_SILU, m->wt, NULL};
        ef_kernels_linear(k, r->pool, &l1);
        ef_linear_args l2 = {t_hid, m->t_lin2_w, m->t_lin2_b, NULL, temb, 1, Dt, Dt, Dt, Dt, EF_ACT_SILU, m->wt, NULL};
        ef_kernels_linear(k, r->pool, &l2);
    }
    r->temb = temb;

    /* 2. conv_in and the down path; every output becomes a skip slot */
    float *skip[MAX_SKIPS];
    int64_t skip_c[MAX_SKIPS];
    int ns = 0;
    int64_t H = h, W = w;
    skip[ns] = ef_unet_alloc(r, C0 * H * W);
    skip_c[ns] = C0;
    if (!r->dry) {
        ef_conv2d_args ci = {sample, m->conv_in_w, m->conv_in_b, NULL, skip[ns], c->in_channels, H, W, C0, 3, 3, 1, 1,
                             H, W, EF_ACT_NONE, m->wt, NULL};
        ef_kernels_conv2d(k, r->pool, &ci);
    }
    hook(r, "conv_in", skip[ns], C0, H, W);
    ns++;
    for (int i = 0; i < n; i++) {
        const unet_block *b = &m->down[i];
        for (int j = 0; j < b->n_res; j++) {
            EF_ASSERT(skip_c[ns - 1] == b->res[j].cin && ns < MAX_SKIPS);
            skip[ns] = ef_unet_alloc(r, b->cout * H * W);
            skip_c[ns] = b->cout;
            ef_unet_resnet_run(r, &b->res[j], skip[ns - 1], skip[ns], H, W);
            if (b->has_attn) ef_unet_attn_run(r, &b->attn[j], skip[ns], H, W);
            ns++;
        }
        if (b->has_sampler) {
            int64_t Ho = (H + 1) / 2, Wo = (W + 1) / 2;
            EF_ASSERT(ns < MAX_SKIPS);
            skip[ns] = ef_unet_alloc(r, b->cout * Ho * Wo);
            skip_c[ns] = b->cout;
            ef_unet_downsample_run(r, b->sampler_w, b->sampler_b, b->cout, skip[ns - 1], skip[ns], H, W);
            ns++;
            H = Ho;
            W = Wo;
        }
        snprintf(name, sizeof name, "down_blocks.%d", i);
        hook(r, name, skip[ns - 1], b->cout, H, W);
    }

    /* 3. mid block and up path through the two up-stream buffers */
    const int64_t buf_n = up_stream_floats(m, h, w);
    float *buf[2] = {ef_unet_alloc(r, buf_n), ef_unet_alloc(r, buf_n)};
    const float *cur = skip[ns - 1];   /* (cc, H, W) */
    int cur_buf = -1;                  /* which buf holds cur at its front; -1: a skip slot */
    int64_t cc = skip_c[ns - 1];
    if (m->mid.n_res > 0) {
        const unet_block *b = &m->mid;
        ef_unet_resnet_run(r, &b->res[0], cur, buf[0], H, W);
        ef_unet_attn_run(r, &b->attn[0], buf[0], H, W);
        ef_unet_resnet_run(r, &b->res[1], buf[0], buf[0], H, W);   /* cin == cout: in place */
        cur = buf[0];
        cur_buf = 0;
        cc = b->cout;
        hook(r, "mid_block", cur, cc, H, W);
    }
    for (int i = 0; i < n; i++) {
        const unet_block *b = &m->up[i];
        const int64_t S = H * W;
        for (int j = 0; j < b->n_res; j++) {
            /* src = [cur | popped skip] on the channel axis, then resnet src -> dst */
            EF_ASSERT(ns > 0);
            ns--;
            EF_ASSERT(cc + skip_c[ns] == b->res[j].cin);
            int src = cur_buf < 0 ? 0 : cur_buf, dst = 1 - src;
            if (!r->dry) {
                if (cur_buf < 0) memcpy(buf[src], cur, (size_t)(cc * S) * sizeof(float));
                memcpy(buf[src] + cc * S, skip[ns], (size_t)(skip_c[ns] * S) * sizeof(float));
            }
            ef_unet_resnet_run(r, &b->res[j], buf[src], buf[dst], H, W);
            if (b->has_attn) ef_unet_attn_run(r, &b->attn[j], buf[dst], H, W);
            cur = buf[dst];
            cur_buf = dst;
            cc = b->cout;
        }
        if (b->has_sampler) {
            int dst = 1 - cur_buf;
            ef_unet_upsample_run(r, b->sampler_w, b->sampler_b, cc, cur, buf[dst], H, W);
            cur = buf[dst];
            cur_buf = dst;
            H *= 2;
            W *= 2;
        }
        snprintf(name, sizeof name, "up_blocks.%d", i);
        hook(r, name, cur, cc, H, W);
    }
    EF_ASSERT(ns == 0 && H == h && W == w && cc == C0);

    /* 4. out = conv_out(silu(conv_norm_out(cur))) */
    float *tmp = ef_unet_alloc(r, C0 * h * w);   /* (C_0, h, w) */
    if (!r->dry) {
        ef_group_norm_args gn = {cur, tmp, m->norm_out_g, m->norm_out_b, C0, h * w, G, (float)c->norm_eps, EF_ACT_SILU};
        ef_kernels_group_norm(k, r->pool, &gn);
        ef_conv2d_args co = {tmp, m->conv_out_w, m->conv_out_b, NULL, out, C0, h, w, c->out_channels, 3, 3, 1, 1, h,
                             w, EF_ACT_NONE, m->wt, NULL};
        ef_kernels_conv2d(k, r->pool, &co);
    }
}

ef_status ef_unet_plan(ef_unet *m, int h, int w, int n_tokens, ef_err *err) {
    if (!m) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_unet_plan: model is NULL");
    const int down = ef_unet_downscale(m);
    if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE || h % down != 0 || w % down != 0)
        return ef_err_set(err, EF_ERR_INVALID_ARG,
                          "unet: latent %dx%d unsupported: height and width must be multiples of %d (2^(stages-1)) "
                          "in [%d, %d]", h, w, down, down, MAX_SIDE);
    if (n_tokens < 1 || n_tokens > MAX_TOKENS)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "unet: %d text tokens; 1 to %d supported", n_tokens, MAX_TOKENS);
    ef_arena_free(&m->arena);
    m->plan_h = m->plan_w = m->plan_T = 0;

    ef_arena measure;
    ef_arena_init_measure(&measure);
    unet_run r = {m, NULL, ef_kernels_ref(), &measure, 1, NULL, NULL, n_tokens, 0, 0, 0};
    run_unet(&r, h, w, NULL, 0.0f, NULL, NULL);
    if (measure.failed)
        return ef_err_set(err, EF_ERR_NOMEM, "unet: activations for a %dx%d latent do not fit in memory", h, w);
    char what[64];
    snprintf(what, sizeof what, "unet activations (%dx%d latent)", h, w);
    EF_TRY(ef_arena_init(&m->arena, ef_arena_high_water(&measure), what, err));
    r.arena = &m->arena;   /* replay against the real arena: it must fit exactly */
    run_unet(&r, h, w, NULL, 0.0f, NULL, NULL);
    EF_ASSERT(!m->arena.failed && ef_arena_high_water(&m->arena) == ef_arena_capacity(&m->arena));
    m->plan_h = h;
    m->plan_w = w;
    m->plan_T = n_tokens;
    return EF_OK;
}

ef_status ef_unet_forward(ef_unet *m, ef_pool *pool, const ef_kernels *k, const float *sample, float timestep,
                          const float *text, const float *timestep_cond, float *out, ef_err *err) {
    if (!m || !sample || !text || !out) return ef_err_set(err, EF_ERR_INVALID_ARG, "unet forward: NULL argument");
    if (m->plan_h == 0)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "unet forward: no activation plan (call ef_unet_plan first)");
    if (timestep_cond && m->cfg.time_cond_proj_dim == 0)
        return ef_err_set(err, EF_ERR_INVALID_ARG,
                          "unet forward: timestep_cond given but the model has no time_cond_proj_dim (cond_proj)");
    if (!isfinite(timestep)) return ef_err_set(err, EF_ERR_INVALID_ARG, "unet forward: timestep is not finite");
    unet_run r = {m, pool, k ? k : ef_kernels_ref(), &m->arena, 0, NULL, text, m->plan_T, 0, 0, 0};
    run_unet(&r, m->plan_h, m->plan_w, sample, timestep, timestep_cond, out);
    return EF_OK;
}
