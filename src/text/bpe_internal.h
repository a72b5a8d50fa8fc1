/*
** bpe_internal.h -- the ef_bpe struct shared by bpe_load.c (builds it) and bpe.c
** (reads it), and the merge table: an open-addressing hash from a symbol pair
** (left id, right id) to (rank, merged id).
*/
#ifndef EF_TEXT_BPE_INTERNAL_H
#define EF_TEXT_BPE_INTERNAL_H

#include <stdint.h>

#include "text/bpe.h"

#define EF_BPE_MAX_ADDED 16          /* distinct special tokens matched in the text */
#define EF_BPE_MAX_ID    ((1 << 24) - 1)

/* A special token matched in the text before (normalized == 0) or after normalization. */
typedef struct ef_bpe_added {
    uint32_t *cps;          /* (n_cps) content as code points, normalized if normalized */
    size_t    n_cps;
    int32_t   id;
    int       normalized;
} ef_bpe_added;

struct ef_bpe {
    uint64_t *merge_key;    /* (merge_mask + 1) left << 32 | right; EF_BPE_EMPTY_KEY = free */
    uint32_t *merge_rank;   /* (merge_mask + 1) line order in merges.txt, 0 first */
    int32_t  *merge_id;     /* (merge_mask + 1) id of left+right */
    size_t    merge_mask;
    int32_t   byte_id[256];      /* symbol of byte b inside a word */
    int32_t   byte_id_eow[256];  /* symbol of byte b ending a word ("...</w>") */
    ef_bpe_added added[EF_BPE_MAX_ADDED];
    int       n_added;
    int       no_chunking;       /* a normalized special token contains whitespace */
    int32_t   bos, eos, pad;
    int32_t   max_length;
    int32_t   n_vocab;
};

#define EF_BPE_EMPTY_KEY UINT64_MAX

static inline size_t ef_bpe_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k;
}

/* Looks up the merge of (left, right); 1 and *rank, *id when it exists. */
static inline int ef_bpe_merge_find(const ef_bpe *b, int32_t left, int32_t right, uint32_t *rank, int32_t *id) {
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    for (size_t i = ef_bpe_hash(key) & b->merge_mask;; i = (i + 1) & b->merge_mask) {
        if (b->merge_key[i] == key) {
            *rank = b->merge_rank[i];
            *id = b->merge_id[i];
            return 1;
        }
        if (b->merge_key[i] == EF_BPE_EMPTY_KEY) return 0;
    }
}

#endif /* EF_TEXT_BPE_INTERNAL_H */
