/*
** bpe_load.c -- builds an ef_bpe from vocab.json, merges.txt and the two optional
** config files, treating all of them as hostile: sizes, counts, ids and token lengths
** are bounded, and every error names the file and the line or field.
**
** What is accepted is what the reference (tokenizers' BPE::read_file + BPE builder)
** accepts, a little stricter: vocab ids must be distinct integers in [0, 2^24); each
** merges line is "left right" split at its one space ("\r\n" endings allowed, lines
** starting with "#version" skipped, empty lines rejected); both halves and their
** concatenation must be in the vocab; a repeated pair keeps its last rank.
** The special tokens follow transformers' rules (see resolve_specials).
*/
#include "text/bpe_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "ef_internal.h"
#include "io/json.h"
#include "text/normalize.h"

#define VOCAB_MAX_BYTES   ((size_t)64 << 20)
#define MERGES_MAX_BYTES  ((size_t)64 << 20)
#define CONFIG_MAX_BYTES  ((size_t)1 << 20)
#define VOCAB_MAX_ENTRIES ((size_t)1 << 21)
#define MERGES_MAX_LINES  ((size_t)1 << 21)
#define TOKEN_MAX_BYTES   1024
#define LABEL_MAX         600

/* ---- vocab: token string -> id, alive only while loading ------------------ */

typedef struct vocab_map {
    const char **key;   /* borrowed from the cJSON tree; NULL = free slot */
    uint32_t    *klen;
    int32_t     *id;
    size_t       mask;
} vocab_map;

static size_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return ef_bpe_hash(h);
}

/* Slot holding (s, n), or the free slot where it would go. */
static size_t vocab_slot(const vocab_map *m, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & m->mask;
    while (m->key[i] && !(m->klen[i] == n && memcmp(m->key[i], s, n) == 0)) i = (i + 1) & m->mask;
    return i;
}

static int32_t vocab_get(const vocab_map *m, const char *s, size_t n) {
    size_t i = vocab_slot(m, s, n);
    return m->key[i] ? m->id[i] : -1;
}

static void vocab_free(vocab_map *m) {
    free(m->key);
    free(m->klen);
    free(m->id);
}

/* Prints at most 40 bytes of a token for messages. */
#define TOK_FMT "'%.*s%s'"
#define TOK_ARG(s, n) (int)((n) > 40 ? 40 : (n)), (s), ((n) > 40 ? "..." : "")

static ef_status load_vocab(const cJSON *root, const char *label, vocab_map *m, int32_t *n_vocab, ef_err *err) {
    size_t count = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (++count > VOCAB_MAX_ENTRIES)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: more than %zu entries", label, VOCAB_MAX_ENTRIES);
    }
    if (count == 0) return ef_err_set(err, EF_ERR_FORMAT, "%s: empty vocabulary", label);
    size_t cap = 16;
    while (cap < count * 2) cap *= 2;
    m->mask = cap - 1;
    m->key = calloc(cap, sizeof *m->key);
    m->klen = calloc(cap, sizeof *m->klen);
    m->id = calloc(cap, sizeof *m->id);
    if (!m->key || !m->klen || !m->id) return ef_err_set(err, EF_ERR_NOMEM, "%s: cannot allocate the vocab map", label);
    int32_t max_id = -1;
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string ? it->string : "";
        size_t n = strlen(k);
        if (n > TOKEN_MAX_BYTES)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: token " TOK_FMT " longer than %d bytes", label, TOK_ARG(k, n), TOKEN_MAX_BYTES);
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1.0;
        if (!cJSON_IsNumber(it) || !(d >= 0 && d <= EF_BPE_MAX_ID) || d != (double)(int32_t)d)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: token " TOK_FMT ": id must be an integer in [0, %d]",
                              label, TOK_ARG(k, n), EF_BPE_MAX_ID);
        size_t slot = vocab_slot(m, k, n);
        if (m->key[slot])
            return ef_err_set(err, EF_ERR_FORMAT, "%s: token " TOK_FMT " appears twice", label, TOK_ARG(k, n));
        m->key[slot] = k;
        m->klen[slot] = (uint32_t)n;
        m->id[slot] = (int32_t)d;
        if ((int32_t)d > max_id) max_id = (int32_t)d;
    }
    /* Distinct ids: one bit per id. */
    uint8_t *seen = calloc((size_t)max_id / 8 + 1, 1);
    if (!seen) return ef_err_set(err, EF_ERR_NOMEM, "%s: cannot allocate", label);
    for (const cJSON *it = root->child; it; it = it->next) {
        int32_t id = (int32_t)it->valuedouble;
        if (seen[id / 8] & (1u << (id % 8))) {
            free(seen);
            const char *k = it->string ? it->string : "";
            return ef_err_set(err, EF_ERR_FORMAT, "%s: token " TOK_FMT ": id %d is used by another token too",
                              label, TOK_ARG(k, strlen(k)), id);
        }
        seen[id / 8] |= (uint8_t)(1u << (id % 8));
    }
    free(seen);
    *n_vocab = max_id + 1;
    return EF_OK;
}

/* The byte-level alphabet of GPT-2/CLIP (bytes_to_unicode): printable Latin-1 bytes map
** to themselves, the other 68 bytes to U+0100.. in byte order. */
static uint32_t byte_char(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256u + (uint32_t)n;
}

static ef_status load_byte_symbols(ef_bpe *b, const vocab_map *m, const char *label, ef_err *err) {
    for (int x = 0; x < 256; x++) {
        char s[16];
        int n = ef_utf8_encode(byte_char(x), (uint8_t *)s);
        memcpy(s + n, "</w>", 4);
        b->byte_id[x] = vocab_get(m, s, (size_t)n);
        b->byte_id_eow[x] = vocab_get(m, s, (size_t)n + 4);
        if (b->byte_id[x] < 0 || b->byte_id_eow[x] < 0)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: byte-level symbol '%.*s%s' (byte 0x%02X) is missing", label, n, s,
                              b->byte_id[x] < 0 ? "" : "</w>", x);
    }
    return EF_OK;
}

/* ---- merges.txt --------------------------------------------------------- */

static ef_status load_merges(ef_bpe *b, const char *txt, size_t len, const vocab_map *m, const char *label, ef_err *err) {
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += txt[i] == '\n';
    n_lines++;
    if (n_lines > MERGES_MAX_LINES) return ef_err_set(err, EF_ERR_FORMAT, "%s: more than %zu lines", label, MERGES_MAX_LINES);
    size_t cap = 2;
    while (cap < n_lines * 2) cap *= 2;
    b->merge_mask = cap - 1;
    b->merge_key = malloc(cap * sizeof *b->merge_key);
    b->merge_rank = malloc(cap * sizeof *b->merge_rank);
    b->merge_id = malloc(cap * sizeof *b->merge_id);
    if (!b->merge_key || !b->merge_rank || !b->merge_id) return ef_err_set(err, EF_ERR_NOMEM, "%s: cannot allocate", label);
    for (size_t i = 0; i < cap; i++) b->merge_key[i] = EF_BPE_EMPTY_KEY;

    char joined[2 * TOKEN_MAX_BYTES];
    uint32_t rank = 0;
    size_t line_no = 0, pos = 0;
    while (pos < len) {
        const char *line = txt + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        line_no++;
        if (nl && n > 0 && line[n - 1] == '\r') n--;   /* BufRead::lines strips "\r\n" */
        if (n >= 8 && memcmp(line, "#version", 8) == 0) continue;
        const char *sp = memchr(line, ' ', n);
        size_t n_left = sp ? (size_t)(sp - line) : n;
        if (!sp || memchr(sp + 1, ' ', n - n_left - 1))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: line %zu: expected two tokens separated by one space", label, line_no);
        const char *right = sp + 1;
        size_t nr = n - n_left - 1;
        if (n_left > TOKEN_MAX_BYTES || nr > TOKEN_MAX_BYTES)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: line %zu: token longer than %d bytes", label, line_no, TOKEN_MAX_BYTES);
        int32_t a = vocab_get(m, line, n_left), c = vocab_get(m, right, nr);
        if (a < 0 || c < 0) {
            const char *bad = a < 0 ? line : right;
            size_t nb = a < 0 ? n_left : nr;
            return ef_err_set(err, EF_ERR_FORMAT, "%s: line %zu: token " TOK_FMT " is not in vocab.json", label, line_no,
                              TOK_ARG(bad, nb));
        }
        memcpy(joined, line, n_left);
        memcpy(joined + n_left, right, nr);
        int32_t id = vocab_get(m, joined, n_left + nr);
        if (id < 0)
            return ef_err_set(err, EF_ERR_FORMAT, "%s: line %zu: merged token " TOK_FMT " is not in vocab.json", label,
                              line_no, TOK_ARG(joined, n_left + nr));
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)c;
        size_t i = ef_bpe_hash(key) & b->merge_mask;
        while (b->merge_key[i] != EF_BPE_EMPTY_KEY && b->merge_key[i] != key) i = (i + 1) & b->merge_mask;
        b->merge_key[i] = key;           /* a repeated pair: the later line wins, as in the reference */
        b->merge_rank[i] = rank++;
        b->merge_id[i] = id;
    }
    return EF_OK;
}

/* ---- special tokens ------------------------------------------------------ */

/* One value of a named special token (or an added_tokens_decoder entry). */
typedef struct tok_val {
    int         present;
    int         is_str;        /* given as a plain string */
    const char *content;       /* borrowed (cJSON tree or a literal) */
    int         normalized, special, lstrip, rstrip, single_word;
} tok_val;

static const char *const NAMED[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};
#define N_NAMED 7

/* Parses item (a string or {"content": ..., flags}) as transformers builds an
** AddedToken: from special_tokens_map.json (from_map) special is forced on; otherwise
** it is read (default off); normalized defaults to !special. */
static ef_status parse_tok(const cJSON *item, int from_map, const char *label, const char *field, tok_val *v, ef_err *err) {
    memset(v, 0, sizeof *v);
    if (!item || cJSON_IsNull(item)) return EF_OK;
    v->present = 1;
    if (cJSON_IsString(item)) {
        v->is_str = 1;
        v->content = item->valuestring;
        v->special = 1;
        return EF_OK;
    }
    if (!cJSON_IsObject(item))
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a string or an object with 'content'", label, field);
    char sub[LABEL_MAX + 64];
    snprintf(sub, sizeof sub, "%s: field '%s'", label, field);
    EF_TRY(ef_json_str(item, sub, "content", 1, NULL, &v->content, err));
    if (from_map) v->special = 1;
    else EF_TRY(ef_json_bool(item, sub, "special", 0, 0, &v->special, err));
    EF_TRY(ef_json_bool(item, sub, "normalized", 0, !v->special, &v->normalized, err));
    EF_TRY(ef_json_bool(item, sub, "lstrip", 0, 0, &v->lstrip, err));
    EF_TRY(ef_json_bool(item, sub, "rstrip", 0, 0, &v->rstrip, err));
    EF_TRY(ef_json_bool(item, sub, "single_word", 0, 0, &v->single_word, err));
    return EF_OK;
}

static int tok_equal(const tok_val *a, const tok_val *b) {
    if (a->is_str != b->is_str || strcmp(a->content, b->content) != 0) return 0;
    if (a->is_str) return 1;
    return a->normalized == b->normalized && a->special == b->special && a->lstrip == b->lstrip &&
           a->rstrip == b->rstrip && a->single_word == b->single_word;
}

static ef_status check_no_extra(const cJSON *root, const char *label, ef_err *err) {
    static const char *const KEYS[] = {"additional_special_tokens", "extra_special_tokens"};
    for (int k = 0; k < 2; k++) {
        const cJSON *x = root ? cJSON_GetObjectItemCaseSensitive(root, KEYS[k]) : NULL;
        if (x && !cJSON_IsNull(x) && !((cJSON_IsArray(x) || cJSON_IsObject(x)) && !x->child))
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: field '%s' is not supported", label, KEYS[k]);
    }
    return EF_OK;
}

/* Code points of s as matched in the text: raw, or normalized like the text. */
static ef_status added_cps(const char *s, int normalize, ef_bpe_added *a, ef_err *err) {
    size_t n = strlen(s);
    ef_u32buf raw = {0}, out = {0}, tmp = {0};
    ef_status rc = ef_u32buf_reserve(&raw, n + 1, err);
    if (rc == EF_OK) {
        raw.n = ef_utf8_decode((const uint8_t *)s, n, raw.v);
        if (normalize) {
            rc = ef_clip_normalize(raw.v, raw.n, &out, &tmp, err);
            ef_u32buf_free(&raw);
        } else {
            out = raw;
        }
    }
    ef_u32buf_free(&tmp);
    if (rc != EF_OK) { ef_u32buf_free(&raw); ef_u32buf_free(&out); return rc; }
    a->cps = out.v;
    a->n_cps = out.n;
    return EF_OK;
}

/* transformers 5.24, reduced to what decides matching: the named tokens come from
** special_tokens_map.json, else tokenizer_config.json, else CLIPTokenizer's defaults
** (plain strings). Entries of added_tokens_decoder (when the config has one; then
** special_tokens_map.json is not read) are added first, in id order; then each named
** token in bos, eos, unk, sep, pad, cls, mask order unless its content is in the decoder
** or an equal value (all flags; a string never equals an object) was already added.
** A later addition of the same content replaces the earlier flags. Plain strings are
** added with normalized = false. */
static ef_status resolve_specials(ef_bpe *b, const cJSON *cfg, const cJSON *map, const vocab_map *m,
                                  const char *cfg_label, const char *map_label, ef_err *err) {
    tok_val list[EF_BPE_MAX_ADDED + N_NAMED];
    int n = 0;
    const cJSON *dec = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder") : NULL;
    if (dec && cJSON_IsNull(dec)) dec = NULL;
    if (dec) {
        if (!cJSON_IsObject(dec))
            return ef_err_set(err, EF_ERR_FORMAT, "%s: field 'added_tokens_decoder' must be an object", cfg_label);
        int64_t ids[EF_BPE_MAX_ADDED];
        for (const cJSON *it = dec->child; it; it = it->next) {
            if (n == EF_BPE_MAX_ADDED)
                return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: more than %d added tokens", cfg_label, EF_BPE_MAX_ADDED);
            char *end = NULL;
            long long id = strtoll(it->string ? it->string : "", &end, 10);
            if (!it->string || !it->string[0] || *end || id < 0 || id > EF_BPE_MAX_ID)
                return ef_err_set(err, EF_ERR_FORMAT, "%s: added_tokens_decoder key '%.40s' is not a token id", cfg_label,
                                  it->string ? it->string : "");
            tok_val v;
            EF_TRY(parse_tok(it, 0, cfg_label, "added_tokens_decoder", &v, err));
            if (v.is_str) return ef_err_set(err, EF_ERR_FORMAT, "%s: added_tokens_decoder entries must be objects", cfg_label);
            int at = n++;   /* insertion sort by id */
            while (at > 0 && ids[at - 1] > id) { list[at] = list[at - 1]; ids[at] = ids[at - 1]; at--; }
            list[at] = v;
            ids[at] = id;
        }
        map = NULL;
    }
    int n_dec = n;
    static const char *const DEFAULTS[N_NAMED] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", NULL,
                                                  "<|endoftext|>", NULL, NULL};
    tok_val named[N_NAMED];
    for (int k = 0; k < N_NAMED; k++) {
        tok_val v = {0};
        const cJSON *it = map ? cJSON_GetObjectItemCaseSensitive(map, NAMED[k]) : NULL;
        if (it && !cJSON_IsNull(it)) EF_TRY(parse_tok(it, 1, map_label, NAMED[k], &v, err));
        else if (cfg && (it = cJSON_GetObjectItemCaseSensitive(cfg, NAMED[k])) && !cJSON_IsNull(it))
            EF_TRY(parse_tok(it, 0, cfg_label, NAMED[k], &v, err));
        else if (DEFAULTS[k]) { v.present = v.is_str = v.special = 1; v.content = DEFAULTS[k]; }
        named[k] = v;
        if (!v.present) continue;
        int skip = 0;
        for (int j = 0; j < n && !skip; j++)
            skip = (j < n_dec && strcmp(list[j].content, v.content) == 0) || tok_equal(&list[j], &v);
        if (!skip) list[n++] = v;
    }
    /* Last value per content wins. */
    for (int j = 0; j < n; j++) {
        const tok_val *v = &list[j];
        const char *where = j < n_dec ? cfg_label : map ? map_label : cfg_label;
        if (!v->content[0]) return ef_err_set(err, EF_ERR_FORMAT, "%s: empty special token", where);
        if (v->lstrip || v->rstrip || v->single_word)
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: token '%.40s': lstrip/rstrip/single_word are not supported",
                              where, v->content);
        int32_t id = vocab_get(m, v->content, strlen(v->content));
        if (id < 0)
            return ef_err_set(err, EF_ERR_UNSUPPORTED, "%s: special token '%.40s' is not in vocab.json", where, v->content);
        int slot = 0;
        while (slot < b->n_added && b->added[slot].id != id) slot++;
        if (slot == b->n_added) b->n_added++;
        else free(b->added[slot].cps);
        b->added[slot].cps = NULL;
        b->added[slot].id = id;
        b->added[slot].normalized = v->normalized;
        EF_TRY(added_cps(v->content, v->normalized, &b->added[slot], err));
    }
    for (int k = 0; k < b->n_added; k++)
        for (size_t i = 0; i < b->added[k].n_cps; i++)
            if (b->added[k].normalized && ef_uc_is_space(b->added[k].cps[i])) b->no_chunking = 1;
    b->bos = vocab_get(m, named[0].content, strlen(named[0].content));
    b->eos = vocab_get(m, named[1].content, strlen(named[1].content));
    b->pad = vocab_get(m, named[4].content, strlen(named[4].content));
    if (b->bos < 0 || b->eos < 0 || b->pad < 0)   /* cannot happen: each was checked above */
        return ef_err_set(err, EF_ERR_INTERNAL, "%s: bos/eos/pad token not resolved", cfg_label);
    return EF_OK;
}

/* ---- assembly ------------------------------------------------------------ */

static ef_status parse_optional(const char *buf, size_t len, const char *label, cJSON **out, ef_err *err) {
    *out = NULL;
    if (!buf) return EF_OK;
    if (len > CONFIG_MAX_BYTES)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu bytes, more than the %zu allowed", label, len, CONFIG_MAX_BYTES);
    return ef_json_parse(buf, len, label, out, err);
}

static ef_status build(ef_bpe *b, const ef_bpe_files *f, const char *dir, cJSON **roots, vocab_map *m, ef_err *err) {
    char lv[LABEL_MAX + 32], lm[LABEL_MAX + 32], lc[LABEL_MAX + 32], ls[LABEL_MAX + 32];
    snprintf(lv, sizeof lv, "%.*s/vocab.json", LABEL_MAX, dir);
    snprintf(lm, sizeof lm, "%.*s/merges.txt", LABEL_MAX, dir);
    snprintf(lc, sizeof lc, "%.*s/tokenizer_config.json", LABEL_MAX, dir);
    snprintf(ls, sizeof ls, "%.*s/special_tokens_map.json", LABEL_MAX, dir);
    if (!f->vocab_json) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: no data", lv);
    if (!f->merges_txt) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: no data", lm);
    if (f->vocab_len > VOCAB_MAX_BYTES)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu bytes, more than the %zu allowed", lv, f->vocab_len, VOCAB_MAX_BYTES);
    if (f->merges_len > MERGES_MAX_BYTES)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %zu bytes, more than the %zu allowed", lm, f->merges_len, MERGES_MAX_BYTES);
    EF_TRY(ef_json_parse(f->vocab_json, f->vocab_len, lv, &roots[0], err));
    EF_TRY(load_vocab(roots[0], lv, m, &b->n_vocab, err));
    EF_TRY(load_byte_symbols(b, m, lv, err));
    EF_TRY(load_merges(b, f->merges_txt, f->merges_len, m, lm, err));
    EF_TRY(parse_optional(f->config_json, f->config_len, lc, &roots[1], err));
    EF_TRY(parse_optional(f->special_json, f->special_len, ls, &roots[2], err));
    EF_TRY(check_no_extra(roots[1], lc, err));
    EF_TRY(check_no_extra(roots[2], ls, err));
    int64_t max_len = 77;
    if (roots[1]) EF_TRY(ef_json_int(roots[1], lc, "model_max_length", 0, 77, 2, 65536, &max_len, err));
    b->max_length = (int32_t)max_len;
    return resolve_specials(b, roots[1], roots[2], m, lc, ls, err);
}

ef_status ef_bpe_create(const ef_bpe_files *files, const char *label, ef_bpe **out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_create: out is NULL");
    *out = NULL;
    if (!files) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_create: files is NULL");
    ef_bpe *b = calloc(1, sizeof *b);
    if (!b) return ef_err_set(err, EF_ERR_NOMEM, "cannot allocate the tokenizer");
    cJSON *roots[3] = {NULL, NULL, NULL};
    vocab_map m = {0};
    ef_status rc = build(b, files, label ? label : "tokenizer", roots, &m, err);
    vocab_free(&m);
    for (int i = 0; i < 3; i++) cJSON_Delete(roots[i]);
    if (rc != EF_OK) { ef_bpe_free(b); return rc; }
    *out = b;
    return EF_OK;
}

ef_status ef_bpe_load(const char *dir, ef_bpe **out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_load: out is NULL");
    *out = NULL;
    if (!dir) return ef_err_set(err, EF_ERR_INVALID_ARG, "ef_bpe_load: dir is NULL");
    static const char *const NAMES[4] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    static const size_t CAPS[4] = {VOCAB_MAX_BYTES, MERGES_MAX_BYTES, CONFIG_MAX_BYTES, CONFIG_MAX_BYTES};
    char *buf[4] = {NULL, NULL, NULL, NULL};
    size_t len[4] = {0, 0, 0, 0};
    ef_status rc = EF_OK;
    for (int i = 0; i < 4 && rc == EF_OK; i++) {
        char path[4096];
        if (!ef_path_join(path, sizeof path, dir, NAMES[i])) { rc = ef_err_set(err, EF_ERR_INVALID_ARG, "%.200s: path too long", dir); break; }
        if (i >= 2 && !ef_path_is_file(path)) continue;   /* optional */
        rc = ef_file_read_all(path, CAPS[i], &buf[i], &len[i], err);
    }
    if (rc == EF_OK) {
        ef_bpe_files f = {buf[0], len[0], buf[1], len[1], buf[2], len[2], buf[3], len[3]};
        rc = ef_bpe_create(&f, dir, out, err);
    }
    for (int i = 0; i < 4; i++) free(buf[i]);
    return rc;
}

void ef_bpe_free(ef_bpe *b) {
    if (!b) return;
    free(b->merge_key);
    free(b->merge_rank);
    free(b->merge_id);
    for (int i = 0; i < b->n_added; i++) free(b->added[i].cps);
    free(b);
}
