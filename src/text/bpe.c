/*
** bpe.c -- ef_bpe_encode: special-token matching, normalization, pre-tokenization and
** the BPE merge loop, in the reference's order (tokenizers' AddedVocabulary, then the
** normalizer per remaining piece, then the pre-tokenizer, then BPE per word).
**
** The merge loop is tokenizers' Word::merge_all: a min-heap of candidate pairs ordered
** by (merge rank, position); a popped pair is applied if it is still present, and the
** pairs it forms with its neighbours are pushed. O(n log n) per word. All scratch lives
** in one per-call struct, so a const ef_bpe can be shared between threads.
*/
#include "text/bpe_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "text/normalize.h"
#include "text/pretokenize.h"

typedef struct heap_item {
    uint32_t rank;
    uint32_t pos;
    int32_t  id;     /* the merged symbol this entry would produce */
} heap_item;

typedef struct symbol {
    int32_t id;
    int32_t prev, next;   /* -1 at the ends */
    int32_t alive;
} symbol;

/* Per-call state. */
typedef struct enc {
    const ef_bpe *bpe;
    int32_t      *ids;
    int32_t       n, limit;   /* ids written so far; the most tokens (BOS included) before EOS */
    ef_err       *err;
    ef_status     rc;
    ef_u32buf     norm, tmp;  /* normalized piece; normalizer scratch */
    uint8_t      *bytes;      /* word bytes */
    symbol       *sym;
    heap_item    *heap;
    size_t        cap;        /* bytes/sym capacity; heap holds 3 * cap */
} enc;

enum { GO_ON = 0, STOP = 1 };

/* Appends one id; STOP once the token budget is spent. */
static int emit(enc *e, int32_t id) {
    e->ids[e->n++] = id;
    return e->n >= e->limit ? STOP : GO_ON;
}

static int heap_less(const heap_item *a, const heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_item *h, size_t *n, heap_item x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = x;
    return top;
}

static int push_pair(const ef_bpe *b, const symbol *s, int32_t pos, heap_item *h, size_t *nh) {
    uint32_t rank;
    int32_t id;
    if (!ef_bpe_merge_find(b, s[pos].id, s[s[pos].next].id, &rank, &id)) return 0;
    heap_item it = {rank, (uint32_t)pos, id};
    heap_push(h, nh, it);
    return 1;
}

static int grow(enc *e, size_t n) {
    if (n <= e->cap) return 1;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < n) cap *= 2;
    size_t heap_bytes;
    if (!ef_mul_size(cap, 3 * sizeof(heap_item), &heap_bytes)) goto nomem;
    uint8_t *bytes = realloc(e->bytes, cap);
    if (bytes) e->bytes = bytes;
    symbol *sym = realloc(e->sym, cap * sizeof(symbol));
    if (sym) e->sym = sym;
    heap_item *heap = realloc(e->heap, heap_bytes);
    if (heap) e->heap = heap;
    if (!bytes || !sym || !heap) goto nomem;
    e->cap = cap;
    return 1;
nomem:
    e->rc = ef_err_set(e->err, EF_ERR_NOMEM, "cannot allocate BPE scratch for a %zu-byte word", n);
    return 0;
}

/* BPE of one word (normalized code points). */
static int word_cb(const uint32_t *cps, size_t begin, size_t end, void *user) {
    enc *e = user;
    const ef_bpe *b = e->bpe;
    size_t n_bytes;
    if (!ef_mul_size(end - begin, 4, &n_bytes) || !grow(e, n_bytes)) {
        if (e->rc == EF_OK) e->rc = ef_err_set(e->err, EF_ERR_NOMEM, "word too long");
        return STOP;
    }
    size_t n = 0;
    for (size_t i = begin; i < end; i++) n += (size_t)ef_utf8_encode(cps[i], e->bytes + n);
    symbol *s = e->sym;
    for (size_t i = 0; i < n; i++) {
        s[i].id = i + 1 == n ? b->byte_id_eow[e->bytes[i]] : b->byte_id[e->bytes[i]];
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 == n ? -1 : (int32_t)i + 1;
        s[i].alive = 1;
    }
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++) push_pair(b, s, (int32_t)i, e->heap, &nh);
    while (nh > 0) {
        heap_item top = heap_pop(e->heap, &nh);
        symbol *cur = &s[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        uint32_t rank;
        int32_t id;
        /* Stale entry: the pair at pos changed since it was pushed. */
        if (!ef_bpe_merge_find(b, cur->id, s[cur->next].id, &rank, &id) || id != top.id) continue;
        symbol *right = &s[cur->next];
        cur->id = top.id;
        right->alive = 0;
        cur->next = right->next;
        if (cur->next >= 0) s[cur->next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) push_pair(b, s, cur->prev, e->heap, &nh);
        if (cur->next >= 0) push_pair(b, s, (int32_t)top.pos, e->heap, &nh);
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = s[i].next)
        if (emit(e, s[i].id) == STOP) return STOP;
    return GO_ON;
}

/* Index of the longest added token (of the given kind) matching at cps[i], or -1. */
static int match_added(const ef_bpe *b, int normalized, const uint32_t *cps, size_t i, size_t n) {
    int best = -1;
    for (int k = 0; k < b->n_added; k++) {
        const ef_bpe_added *a = &b->added[k];
        if (a->normalized != normalized || a->n_cps == 0 || a->n_cps > n - i) continue;
        if (memcmp(cps + i, a->cps, a->n_cps * sizeof(uint32_t)) != 0) continue;
        if (best < 0 || a->n_cps > b->added[best].n_cps) best = k;
    }
    return best;
}

/* Splits cps[0..n) at added tokens of one kind (leftmost-longest, as Aho-Corasick in
** the reference) and hands each gap to gap_fn. */
static int split_added(enc *e, int normalized, const uint32_t *cps, size_t n,
                       int (*gap_fn)(enc *e, const uint32_t *cps, size_t n)) {
    size_t gap = 0, i = 0;
    while (i < n) {
        int k = match_added(e->bpe, normalized, cps, i, n);
        if (k < 0) { i++; continue; }
        if (i > gap && gap_fn(e, cps + gap, i - gap) == STOP) return STOP;
        if (emit(e, e->bpe->added[k].id) == STOP) return STOP;
        i += e->bpe->added[k].n_cps;
        gap = i;
    }
    return n > gap ? gap_fn(e, cps + gap, n - gap) : GO_ON;
}

static int normalized_gap(enc *e, const uint32_t *cps, size_t n) {
    return ef_pretokenize(cps, n, word_cb, e);
}

/* Normalizes a piece between raw-matched tokens and goes on with it. Long pieces are
** cut just after a whitespace code point, CHUNK code points at a time, so a long prompt
** stops early without normalizing all of it. That is exact: NFC neither composes nor
** reorders across a whitespace character, words never contain one, and neither does
** any normalized special token (else the piece is not cut; see bpe_load.c). */
#define CHUNK 4096
static int raw_gap(enc *e, const uint32_t *cps, size_t n) {
    size_t start = 0;
    while (start < n) {
        size_t end = n;
        if (!e->bpe->no_chunking && n - start > CHUNK) {
            end = start + CHUNK;
            while (end < n && !ef_uc_is_space(cps[end - 1])) end++;
        }
        e->norm.n = 0;
        e->rc = ef_clip_normalize(cps + start, end - start, &e->norm, &e->tmp, e->err);
        if (e->rc != EF_OK) return STOP;
        /* norm is not touched again until this chunk is done. */
        if (split_added(e, 1, e->norm.v, e->norm.n, normalized_gap) == STOP) return STOP;
        start = end;
    }
    return GO_ON;
}

ef_status ef_bpe_encode(const ef_bpe *bpe, const char *text, int32_t *ids, int32_t max_ids,
                        int32_t *n_out, ef_err *err) {
    if (n_out) *n_out = 0;
    if (!bpe || !text || !ids || !n_out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_encode: NULL argument");
    if (max_ids < 2)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_encode: max_ids = %d, need at least 2 (BOS and EOS)", (int)max_ids);
    size_t len = strnlen(text, EF_BPE_MAX_TEXT_BYTES + 1);
    if (len > EF_BPE_MAX_TEXT_BYTES)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "prompt longer than %zu bytes", EF_BPE_MAX_TEXT_BYTES);

    enc e;
    memset(&e, 0, sizeof e);
    e.bpe = bpe;
    e.ids = ids;
    e.limit = max_ids - 1;
    e.err = err;
    e.rc = EF_OK;
    ids[e.n++] = bpe->bos;
    if (e.n < e.limit) {
        uint32_t *raw = malloc((len ? len : 1) * sizeof(uint32_t));
        if (!raw) {
            e.rc = ef_err_set(err, EF_ERR_NOMEM, "cannot allocate %zu code points", len);
        } else {
            size_t n = ef_utf8_decode((const uint8_t *)text, len, raw);
            split_added(&e, 0, raw, n, raw_gap);
            free(raw);
        }
    }
    ef_u32buf_free(&e.norm);
    ef_u32buf_free(&e.tmp);
    free(e.bytes);
    free(e.sym);
    free(e.heap);
    if (e.rc != EF_OK) return e.rc;
    ids[e.n++] = bpe->eos;
    while (e.n < max_ids) ids[e.n++] = bpe->pad;
    *n_out = max_ids;
    return EF_OK;
}

int32_t ef_bpe_max_length(const ef_bpe *bpe) { return bpe->max_length; }
int32_t ef_bpe_bos(const ef_bpe *bpe) { return bpe->bos; }
int32_t ef_bpe_eos(const ef_bpe *bpe) { return bpe->eos; }
int32_t ef_bpe_pad(const ef_bpe *bpe) { return bpe->pad; }
int32_t ef_bpe_n_vocab(const ef_bpe *bpe) { return bpe->n_vocab; }
