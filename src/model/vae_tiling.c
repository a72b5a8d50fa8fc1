/*
** vae_tiling.c -- tiled decoding with diffusers' AutoencoderKL.tiled_decode
** algorithm, for both decoder kinds, with memory bounded by one tile.
**
** Latent tiles of (at most) T x T start every T-O latents (T = tile, O = overlap).
** Each is decoded alone into a (Co, f*rows, f*cols) tile image, then, in diffusers'
** order, blended in place with the tile above over E = f*O rows (blend_v) and with
** the tile to the left over E columns (blend_h), both already blended themselves:
**   b[y] = a[end - E' + y] * (1 - y/E') + b[y] * (y/E'),   E' = min(E, |a|, |b|)
** and its first f*(T-O) rows and columns are written to the image. Only the left
** tile and the bottom E rows of each tile of the row above are kept, so the
** buffers, all taken from the workspace before the loop, are a few tiles' worth.
*/
#include <string.h>

#include "ef_internal.h"
#include "model/vae_internal.h"

#define MAX_TILE 4096

ef_vae_tiling ef_vae_tiling_default(void) {
    ef_vae_tiling t = {32, 8};
    return t;
}

/* dst[y] (n floats, rows of a (C, rows, cols) image) blended with src over ext rows or
** columns, diffusers' arithmetic in float32 with the weights rounded from double. */
static void blend_rows(const float *a, int64_t a_rows, float *b, int64_t C, int64_t b_rows, int64_t cols,
                       int64_t ext) {
    for (int64_t y = 0; y < ext; y++) {
        const float wb = (float)((double)y / (double)ext), wa = (float)(1.0 - (double)y / (double)ext);
        for (int64_t c = 0; c < C; c++) {
            const float *ar = a + (c * a_rows + a_rows - ext + y) * cols;   /* a's rows from the end */
            float *br = b + (c * b_rows + y) * cols;
            for (int64_t x = 0; x < cols; x++) br[x] = ar[x] * wa + br[x] * wb;
        }
    }
}

static void blend_cols(const float *a, int64_t a_cols, float *b, int64_t C, int64_t rows, int64_t b_cols,
                       int64_t ext) {
    for (int64_t x = 0; x < ext; x++) {
        const float wb = (float)((double)x / (double)ext), wa = (float)(1.0 - (double)x / (double)ext);
        for (int64_t r = 0; r < C * rows; r++) {
            float *br = b + r * b_cols;
            br[x] = a[r * a_cols + a_cols - ext + x] * wa + br[x] * wb;
        }
    }
}

/* Per-call geometry, all in latent units except where noted (px). */
typedef struct tiling {
    int64_t Lc, Co, f, h, w;
    int64_t T, step;           /* tile, tile - overlap */
    int64_t E, keep;           /* blend extent and rows/cols kept per tile, px */
    int64_t n_rows, n_cols;
    int64_t tmax_h, tmax_w;    /* largest tile, latents */
} tiling;

ef_status ef_vae_decode_tiled(ef_vae *v, ef_pool *pool, const ef_kernels *k, const float *z, int64_t h, int64_t w,
                              const ef_vae_tiling *tp, float *img, ef_err *err) {
    EF_TRY(ef_vae_check_decode(v, z, h, w, img, err));
    const ef_vae_tiling t = tp ? *tp : ef_vae_tiling_default();
    if (t.tile < 1 || t.tile > MAX_TILE || t.overlap < 0 || 2 * t.overlap > t.tile)
        return ef_err_set(err, EF_ERR_INVALID_ARG,
                          "vae tiling: tile %lld / overlap %lld invalid (need 1 <= tile <= %d, 0 <= 2*overlap <= tile)",
                          (long long)t.tile, (long long)t.overlap, MAX_TILE);
    if (h <= t.tile && w <= t.tile) return ef_vae_decode(v, pool, k, z, h, w, img, err);

    tiling g;
    g.Lc = ef_vae_latent_channels(v);
    g.Co = ef_vae_image_channels_out(v);
    g.f = ef_vae_downscale(v);
    g.h = h;
    g.w = w;
    g.T = t.tile;
    g.step = t.tile - t.overlap;
    g.E = t.overlap * g.f;
    g.keep = g.step * g.f;
    g.n_rows = (h + g.step - 1) / g.step;
    g.n_cols = (w + g.step - 1) / g.step;
    g.tmax_h = EF_MIN(g.T, h);
    g.tmax_w = EF_MIN(g.T, w);

    /* workspace: decoder | latent tile | tile image x2 | bottom strips of the row above */
    const size_t dec = ef_vae_decode_ws(v, g.tmax_h, g.tmax_w);
    const size_t n_zt = (size_t)(g.Lc * g.tmax_h * g.tmax_w);
    const size_t n_tile = (size_t)(g.Co * g.tmax_h * g.f * g.tmax_w * g.f);
    const size_t n_strip = (size_t)(g.Co * g.E * g.tmax_w * g.f);
    EF_TRY(ef_vae_ws_reserve(v, dec + n_zt + 2 * n_tile + (size_t)g.n_cols * n_strip, err));
    float *zt = v->ws + dec, *cur = zt + n_zt, *prev = cur + n_tile, *strips = prev + n_tile;
    int64_t strip_rows[MAX_TILE + 1];   /* rows kept per column; n_cols <= w <= 4096 */
    vae_ctx c = {k ? k : ef_kernels_ref(), pool};

    const int64_t H = h * g.f, W = w * g.f;
    for (int64_t i = 0; i < g.n_rows; i++) {
        int64_t prev_cols = 0;   /* px width of the left tile */
        for (int64_t j = 0; j < g.n_cols; j++) {
            const int64_t r0 = i * g.step, c0 = j * g.step;
            const int64_t lr = EF_MIN(g.T, h - r0), lc = EF_MIN(g.T, w - c0);
            for (int64_t ch = 0; ch < g.Lc; ch++)                       /* zt (Lc, lr, lc) */
                for (int64_t y = 0; y < lr; y++)
                    memcpy(zt + (ch * lr + y) * lc, z + (ch * h + r0 + y) * w + c0, (size_t)lc * sizeof *zt);
            ef_vae_decode_run(v, &c, zt, lr, lc, cur);                      /* cur (Co, th, tw) */
            const int64_t th = lr * g.f, tw = lc * g.f;
            float *strip = strips + (size_t)j * n_strip;                 /* (Co, strip_rows[j], tw) */
            if (i > 0) blend_rows(strip, strip_rows[j], cur, g.Co, th, tw, EF_MIN(strip_rows[j], EF_MIN(th, g.E)));
            if (j > 0) blend_cols(prev, prev_cols, cur, g.Co, th, tw, EF_MIN(prev_cols, EF_MIN(tw, g.E)));
            const int64_t kr = EF_MIN(g.keep, th), kc = EF_MIN(g.keep, tw);
            for (int64_t ch = 0; ch < g.Co; ch++)
                for (int64_t y = 0; y < kr; y++)
                    memcpy(img + (ch * H + r0 * g.f + y) * W + c0 * g.f, cur + (ch * th + y) * tw,
                           (size_t)kc * sizeof *img);
            if (i + 1 < g.n_rows) {                                      /* the bottom rows, for the next row */
                strip_rows[j] = EF_MIN(g.E, th);
                for (int64_t ch = 0; ch < g.Co; ch++)
                    memcpy(strip + ch * strip_rows[j] * tw, cur + (ch * th + th - strip_rows[j]) * tw,
                           (size_t)(strip_rows[j] * tw) * sizeof *strip);
            }
            float *tmp = prev;
            prev = cur;
            cur = tmp;
            prev_cols = tw;
        }
    }
    return EF_OK;
}
