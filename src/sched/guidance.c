/*
** guidance.c -- the LCM guidance-scale ("w") embedding fed to the UNet's
** time_cond_proj (paper spec 5.3 GuidanceEmbed; diffusers
** LatentConsistencyModelPipeline.get_guidance_scale_embedding).
**
** float32 as diffusers: w' = w * 1000; e = log(10000) / (half - 1);
** f_j = exp(j * -e); arg_j = w' * f_j; out = [sin(arg_j)] ++ [cos(arg_j)] (++ [0]).
** log/exp/sin/cos are libm's in double rounded to float32 (diffusers gets them from
** MKL/SLEEF), so the embedding matches to about an ulp of the argument.
*/
#include <math.h>

#include "sched/sched.h"

ef_status ef_sched_guidance_embed(float w, int dim, float *out, ef_err *err) {
    if (dim < 4)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "guidance embedding: time_cond_proj_dim=%d (need >= 4)", dim);
    int half = dim / 2;
    float ws = w * 1000.0f;
    float e = (float)log(10000.0);               /* torch.log(torch.tensor(10000.0)) */
    e = e / (float)(half - 1);
    for (int j = 0; j < half; j++) {
        float a = (float)j * -e;                 /* arange(half) * -emb */
        float f = (float)exp((double)a);
        float arg = ws * f;
        out[j] = (float)sin((double)arg);
        out[half + j] = (float)cos((double)arg);
    }
    if (dim % 2) out[dim - 1] = 0.0f;
    return EF_OK;
}
