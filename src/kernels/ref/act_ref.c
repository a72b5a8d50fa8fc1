/*
** act_ref.c -- reference elementwise ops: the activations (quick_gelu, gelu erf,
** gelu tanh, silu, relu) and add.
**
** ef_act_apply is the scalar definition every kernel (and the fused activation of
** linear and group norm) follows. Elementwise ops have no reductions, so any split
** of the n elements gives identical results; threads take contiguous ranges.
*/
#include <math.h>

#include "kernels/kernels.h"

/* The activation act at x. Forms follow torch/transformers: quick_gelu
** x*sigmoid(1.702x), gelu with erf, gelu_new's tanh approximation, silu. */
float ef_act_apply(ef_act act, float x) {
    switch (act) {
    case EF_ACT_QUICK_GELU:
        return x / (1.0f + expf(-1.702f * x));
    case EF_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case EF_ACT_GELU_TANH: {
        const float c = 0.79788456080286536f;   /* sqrt(2/pi) */
        return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    case EF_ACT_SILU:
        return x / (1.0f + expf(-x));
    case EF_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case EF_ACT_NONE:
    case EF_ACT_COUNT:
        break;
    }
    return x;
}

/* Thread ith's range of y (n) = act(x (n)). */
void ef_k_act_f32__ref(const ef_act_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    for (long i = i0; i < i1; i++) a->y[i] = ef_act_apply(a->act, a->x[i]);
}

/* Thread ith's range of y (n) = a (n) + b (n). */
void ef_k_add_f32__ref(const ef_add_args *a, int ith, int nth) {
    long i0, i1;
    ef_split_rows((long)a->n, ith, nth, &i0, &i1);
    for (long i = i0; i < i1; i++) a->y[i] = a->a[i] + a->b[i];
}
