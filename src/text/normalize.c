/*
** normalize.c -- see normalize.h. The order matters and is the reference's: whitespace
** runs are found after NFC, and lowercasing comes last without a second NFC pass.
*/
#include "text/normalize.h"

#include "ef_internal.h"

ef_status ef_clip_normalize(const uint32_t *in, size_t n, ef_u32buf *out, ef_u32buf *tmp, ef_err *err) {
    tmp->n = 0;
    EF_TRY(ef_uc_nfc_append(in, n, tmp, err));
    /* Lowercasing adds at most one code point per input code point. */
    EF_TRY(ef_u32buf_reserve(out, tmp->n * 2, err));
    int in_space = 0;
    for (size_t i = 0; i < tmp->n; i++) {
        uint32_t c = tmp->v[i];
        if (ef_uc_is_space(c)) {
            if (!in_space) out->v[out->n++] = ' ';
            in_space = 1;
            continue;
        }
        in_space = 0;
        uint32_t low[2];
        int k = ef_uc_lower(c, low);
        for (int j = 0; j < k; j++) out->v[out->n++] = low[j];
    }
    return EF_OK;
}
