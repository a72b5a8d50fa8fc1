/*
** pretokenize.h -- CLIP's pre-tokenization of normalized text into words, as the
** reference does it: Split on
**     <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
** (matches kept, the rest, i.e. whitespace, dropped), then the GPT-2 split of ByteLevel
** inside each match. That second split only changes the two literal special-token
** strings, which become "<|", the letters, "|>". No allocation, no state.
*/
#ifndef EF_TEXT_PRETOKENIZE_H
#define EF_TEXT_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* Called for each word cps[begin..end) in order; return nonzero to stop. */
typedef int (*ef_pretok_fn)(const uint32_t *cps, size_t begin, size_t end, void *user);

/* Splits cps[0..n) (already normalized: NFC, whitespace runs as " ", lowercase) and calls
** fn per word. Returns 0 after the last word, or the first nonzero value fn returned. */
int ef_pretokenize(const uint32_t *cps, size_t n, ef_pretok_fn fn, void *user);

#endif /* EF_TEXT_PRETOKENIZE_H */
