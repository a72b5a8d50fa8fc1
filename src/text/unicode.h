/*
** unicode.h -- the Unicode pieces the CLIP tokenizer needs, matched to the reference
** (transformers 5.24 CLIPTokenizer = Rust `tokenizers` 0.23.3), not to any one Unicode
** version: UTF-8 decoding with U+FFFD replacement, the regex classes \s, \p{L}, \p{N}
** (Oniguruma, Unicode 16), per-character lowercasing (Rust char::to_lowercase, Unicode
** 17) and NFC (crate unicode-normalization-alignments, an older Unicode).
**
** Data comes from utf8proc (Debian libutf8proc, Unicode 15 in 2.8); small const tables
** here cover what the reference knows that utf8proc 2.8 does not (and vice versa). They
** were found by running every code point through both (scripts/golden/tokenizer.py
** records cases for each table in tests/fixtures/tokens.json).
*/
#ifndef EF_TEXT_UNICODE_H
#define EF_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A growable array of code points. Zero-initialise; free with ef_u32buf_free. */
typedef struct ef_u32buf {
    uint32_t *v;
    size_t    n, cap;
} ef_u32buf;

/* Makes room for `extra` more entries. EF_ERR_NOMEM (message set) on failure. */
ef_status ef_u32buf_reserve(ef_u32buf *b, size_t extra, ef_err *err);
void      ef_u32buf_free(ef_u32buf *b);

/* Decodes len bytes of UTF-8 into out (room for len entries), replacing each maximal
** ill-formed subpart with U+FFFD exactly as Python's bytes.decode("utf-8", "replace")
** does (surrogates, overlongs and > U+10FFFF are ill-formed). Returns the count. */
size_t ef_utf8_decode(const uint8_t *s, size_t len, uint32_t *out);

/* Writes the UTF-8 form of a valid scalar value cp into out; returns 1..4. */
int ef_utf8_encode(uint32_t cp, uint8_t out[4]);

/* The classes of the reference's regex: \s (White_Space: 25 code points),
** \p{L} (Lu Ll Lt Lm Lo), \p{N} (Nd Nl No). */
int ef_uc_is_space(uint32_t cp);
int ef_uc_is_letter(uint32_t cp);
int ef_uc_is_number(uint32_t cp);

/* Full lowercase of one code point, context free (no final-sigma rule); writes 1 or 2
** code points (only U+0130 gives 2: "i" U+0307) and returns the count. */
int ef_uc_lower(uint32_t cp, uint32_t out[2]);

/* Appends NFC(in[0..n)) to out, as the reference computes it. Linear time (canonical
** reordering of long mark runs uses a merge sort). EF_ERR_NOMEM on allocation failure. */
ef_status ef_uc_nfc_append(const uint32_t *in, size_t n, ef_u32buf *out, ef_err *err);

#endif /* EF_TEXT_UNICODE_H */
