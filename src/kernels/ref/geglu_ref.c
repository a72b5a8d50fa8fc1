/*
** geglu_ref.c -- reference GEGLU: y[r, j] = x[r, j] * gelu_erf(x[r, F + j]).
**
** The FeedForward activation of diffusers' BasicTransformerBlock, fused so the UNet
** needs no (T, 4C) buffer between the two FF linears: the result may overwrite the
** value half of each row in place. Elementwise, so any row split gives identical
** results; threads take row ranges.
*/
#include "kernels/kernels.h"

/* Thread ith's rows of y (R, F) from x (R, 2F). Each element reads its value and gate
** before it is written, so y == x (same stride) is safe. */
void ef_k_geglu_f32__ref(const ef_geglu_args *a, int ith, int nth) {
    long r0, r1;
    ef_split_rows((long)a->R, ith, nth, &r0, &r1);
    const int64_t F = a->F;
    for (int64_t r = r0; r < r1; r++) {
        const float *h = a->x + r * a->ldx;   /* (F) value half */
        const float *g = h + F;               /* (F) gate half */
        float *y = a->y + r * a->ldy;         /* (F) */
        for (int64_t j = 0; j < F; j++) y[j] = h[j] * ef_act_apply(EF_ACT_GELU, g[j]);
    }
}
