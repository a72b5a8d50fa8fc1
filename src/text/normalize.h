/*
** normalize.h -- the CLIP text normalizer of the reference (tokenizers normalizers
** Sequence[NFC, Replace(Regex("\s+"), " "), Lowercase]) on code points.
*/
#ifndef EF_TEXT_NORMALIZE_H
#define EF_TEXT_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/unicode.h"

/* Appends normalize(in[0..n)) to out: NFC, then every maximal run of \s code points
** becomes one U+0020, then each code point is lowercased on its own (U+0130 -> "i"
** U+0307; no final-sigma rule; no re-composition afterwards). tmp is caller scratch
** (contents destroyed). EF_ERR_NOMEM on allocation failure. */
ef_status ef_clip_normalize(const uint32_t *in, size_t n, ef_u32buf *out, ef_u32buf *tmp, ef_err *err);

#endif /* EF_TEXT_NORMALIZE_H */
