/*
** bpe.h -- the CLIP byte-level BPE tokenizer, id for id what diffusers gets from
** transformers 5.24 `CLIPTokenizer.from_pretrained(dir)(text, padding="max_length",
** max_length=tok.model_max_length, truncation=True).input_ids` (Rust tokenizers 0.23.3).
**
** Pipeline (files): special tokens typed in the text are matched first (bpe.c), the rest
** is normalized -- NFC, \s+ -> " ", lowercase (normalize.c, unicode.c) -- split into
** words by CLIP's regex (pretokenize.c), each word mapped to byte-level symbols and
** merged by merge rank (bpe.c). Loading and validation of the files is bpe_load.c.
**
** Threading: an ef_bpe is immutable after creation; ef_bpe_encode may run on one
** ef_bpe from any number of threads at once (it keeps no cache; scratch is per call).
*/
#ifndef EF_TEXT_BPE_H
#define EF_TEXT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct ef_bpe ef_bpe;

/* Longest prompt ef_bpe_encode accepts, in bytes of UTF-8. */
#define EF_BPE_MAX_TEXT_BYTES ((size_t)1 << 20)

/* The tokenizer files as memory buffers (need not be NUL-terminated). vocab and merges
** are required; config (tokenizer_config.json) and special (special_tokens_map.json)
** may be NULL, meaning the file is absent. */
typedef struct ef_bpe_files {
    const char *vocab_json;
    size_t      vocab_len;
    const char *merges_txt;
    size_t      merges_len;
    const char *config_json;
    size_t      config_len;
    const char *special_json;
    size_t      special_len;
} ef_bpe_files;

/* Loads <dir>/vocab.json and <dir>/merges.txt, plus <dir>/tokenizer_config.json and
** <dir>/special_tokens_map.json when present (bos/eos/unk/pad tokens and their
** `normalized` flags, model_max_length; do_lower_case is ignored, as the reference
** always lowercases). Files are size-capped (vocab/merges 64 MiB, configs 1 MiB).
** Errors name the file and the line or field: EF_ERR_IO (missing/unreadable),
** EF_ERR_FORMAT (malformed, inconsistent), EF_ERR_UNSUPPORTED (valid for transformers
** but not handled here, e.g. extra special tokens or lstrip/rstrip tokens). */
ef_status ef_bpe_load(const char *dir, ef_bpe **out, ef_err *err);

/* Same from memory. label stands for the folder in messages ("<label>/vocab.json: ..."). */
ef_status ef_bpe_create(const ef_bpe_files *files, const char *label, ef_bpe **out, ef_err *err);

/* Tokenizes the NUL-terminated UTF-8 text: BOS, the tokens (at most max_ids - 2; the
** rest are dropped and EOS is kept), EOS, then the pad id up to max_ids. *n_out is set
** to max_ids. Text longer than EF_BPE_MAX_TEXT_BYTES or max_ids < 2 -> EF_ERR_INVALID_ARG.
** Invalid UTF-8 is not an error: each maximal ill-formed subsequence becomes U+FFFD,
** exactly as Python's bytes.decode("utf-8", "replace") would hand it to the reference.
** Tokenization stops as soon as max_ids - 2 tokens exist. EF_ERR_NOMEM is possible. */
ef_status ef_bpe_encode(const ef_bpe *bpe, const char *text, int32_t *ids, int32_t max_ids,
                        int32_t *n_out, ef_err *err);

/* model_max_length from tokenizer_config.json (77 when absent). */
int32_t ef_bpe_max_length(const ef_bpe *bpe);
/* Ids of the BOS, EOS and pad tokens. */
int32_t ef_bpe_bos(const ef_bpe *bpe);
int32_t ef_bpe_eos(const ef_bpe *bpe);
int32_t ef_bpe_pad(const ef_bpe *bpe);
/* 1 + the largest id in vocab.json: every id ef_bpe_encode returns is below it. */
int32_t ef_bpe_n_vocab(const ef_bpe *bpe);

/* Frees everything; NULL is a no-op. */
void ef_bpe_free(ef_bpe *bpe);

#endif /* EF_TEXT_BPE_H */
