/*
** a1111.c -- A1111's "parameters" text: create_infotext's writer and
** parse_generation_parameters' reader (see a1111.h for the rules).
**
** The writer appends into the caller's buffer through a counting cursor (snprintf
** style: it knows the full length even when the buffer is short). The reader walks
** UTF-8 code points; its regex matcher is hand-written but follows Python's re
** semantics for this one pattern, and skips ahead over spans that cannot start a
** match, so it runs in linear time on hostile input. All parsed strings live in one
** block sized from the input length.
*/
#include "io/a1111.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "ef_internal.h"
#include "core/sha256.h"

/* ---- UTF-8 and Python's character classes ------------------------------------------ */

/* The code point at s[i] (n bytes total) and its length; invalid bytes are U+FFFD of
** length 1. */
static int32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (l <= 0) {
        *len = 1;
        return 0xFFFD;
    }
    *len = (size_t)l;
    return cp;
}

/* Python str.isspace / re \s. */
static int is_space(int32_t c) {
    if (c < 128) return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
    if (c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* Python re \w: alphanumeric (letters, numbers) or '_'. */
static int is_word(int32_t c) {
    if (c < 128) return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    if (c == 0xFFFD) return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* [\w \-/] */
static int is_key_char(int32_t c) { return c == ' ' || c == '-' || c == '/' || is_word(c); }

/* Python str.strip() of s[*b, *e). */
static void strip(const char *s, size_t *b, size_t *e) {
    size_t l;
    while (*b < *e && is_space(cp_at(s, *e, *b, &l))) *b += l;
    while (*e > *b) {   /* step back one code point: to the last non-continuation byte */
        size_t p = *e - 1;
        while (p > *b && ((unsigned char)s[p] & 0xC0) == 0x80 && *e - p < 4) p--;
        if (cp_at(s, *e, p, &l) == 0xFFFD || p + l != *e) p = *e - 1;   /* invalid: one byte */
        if (!is_space(cp_at(s, *e, p, &l))) break;
        *e = p;
    }
}

/* 1 if s is valid UTF-8 (NUL-terminated). */
static int valid_utf8(const char *s) {
    size_t n = strlen(s), i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* ---- writer ---------------------------------------------------------------------- */

typedef struct cursor {
    char  *out;
    size_t cap, len;   /* len counts every byte, written or not */
} cursor;

static void put(cursor *c, const char *s, size_t n) {
    if (c->len < c->cap) {
        size_t room = c->cap - c->len;
        memcpy(c->out + c->len, s, n < room ? n : room);
    }
    c->len += n;
}

static void puts_(cursor *c, const char *s) { put(c, s, strlen(s)); }

/* json.dumps(s, ensure_ascii=False) */
static void put_json(cursor *c, const char *s) {
    put(c, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        switch (ch) {
        case '"':  put(c, "\\\"", 2); break;
        case '\\': put(c, "\\\\", 2); break;
        case '\n': put(c, "\\n", 2); break;
        case '\r': put(c, "\\r", 2); break;
        case '\t': put(c, "\\t", 2); break;
        case '\b': put(c, "\\b", 2); break;
        case '\f': put(c, "\\f", 2); break;
        default:
            if (ch < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", ch);
                put(c, esc, 6);
            } else {
                put(c, (const char *)&ch, 1);
            }
        }
    }
    put(c, "\"", 1);
}

/* A1111's quote(): JSON only when the value holds ',', '\n' or ':'. */
static void put_value(cursor *c, const char *v) {
    if (strpbrk(v, ",\n:")) put_json(c, v);
    else puts_(c, v);
}

/* Python's repr of a float, but integral values without ".0". */
static void format_real(double v, char *out, size_t n) {
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(out, n, "%.0f", v);
        if (strcmp(out, "-0") == 0) snprintf(out, n, "0");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

typedef struct writer {
    cursor c;
    int    first;
} writer;

/* ", Key: value" (or the bare key when value equals it). */
static void field(writer *w, const char *key, const char *value) {
    if (!value) return;
    if (!w->first) puts_(&w->c, ", ");
    w->first = 0;
    if (strcmp(key, value) == 0) {
        puts_(&w->c, key);
        return;
    }
    puts_(&w->c, key);
    puts_(&w->c, ": ");
    put_value(&w->c, value);
}

ef_gen_info ef_gen_info_default(void) {
    ef_gen_info g;
    memset(&g, 0, sizeof g);
    g.denoising_strength = -1.0;
    return g;
}

static ef_status check_inputs(const ef_gen_info *g, ef_err *err) {
    const char *strs[] = {g->prompt, g->negative_prompt, g->sampler, g->schedule_type, g->model_hash,
                          g->model, g->vae_hash, g->vae, g->rng, g->version};
    static const char *const NAMES[] = {"prompt", "negative_prompt", "sampler", "schedule_type", "model_hash",
                                        "model", "vae_hash", "vae", "rng", "version"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i] && !valid_utf8(strs[i]))
            return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: field %s is not valid UTF-8", NAMES[i]);
    if (!isfinite(g->cfg_scale) || !isfinite(g->denoising_strength))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: cfg_scale and denoising_strength must be finite");
    if (g->n_extra < 0 || (g->n_extra > 0 && !g->extra))
        return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: bad extra parameter list");
    for (int32_t i = 0; i < g->n_extra; i++) {
        const ef_a1111_param *p = &g->extra[i];
        if (!p->key || !p->key[0] || strpbrk(p->key, ":,\n") || !valid_utf8(p->key) || (p->value && !valid_utf8(p->value)))
            return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: extra parameter %d has a bad key or value", (int)i);
    }
    return EF_OK;
}

ef_status ef_a1111_parameters_format(const ef_gen_info *g, char *out, size_t n, size_t *out_len, ef_err *err) {
    if (out_len) *out_len = 0;
    if (!g || (!out && n)) return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: NULL argument");
    EF_TRY(check_inputs(g, err));
    /* the untrimmed text goes to a scratch cursor first: strip() needs the whole of it */
    cursor probe = {NULL, 0, 0};
    writer w = {{NULL, 0, 0}, 1};
    char *buf = NULL;
    for (int pass = 0; pass < 2; pass++) {
        w.c = pass ? (cursor){buf, probe.len, 0} : probe;
        w.first = 1;
        puts_(&w.c, g->prompt ? g->prompt : "");
        if (g->negative_prompt && g->negative_prompt[0]) {
            puts_(&w.c, "\nNegative prompt: ");
            puts_(&w.c, g->negative_prompt);
        }
        puts_(&w.c, "\n");
        char num[64], num2[64];
        snprintf(num, sizeof num, "%ld", (long)g->steps);
        field(&w, "Steps", num);
        field(&w, "Sampler", g->sampler);
        field(&w, "Schedule type", g->schedule_type);
        format_real(g->cfg_scale, num, sizeof num);
        field(&w, "CFG scale", num);
        snprintf(num, sizeof num, "%lld", (long long)g->seed);
        field(&w, "Seed", num);
        snprintf(num, sizeof num, "%ldx%ld", (long)g->width, (long)g->height);
        field(&w, "Size", num);
        field(&w, "Model hash", g->model_hash);
        field(&w, "Model", g->model);
        field(&w, "VAE hash", g->vae_hash);
        field(&w, "VAE", g->vae);
        format_real(g->denoising_strength, num2, sizeof num2);
        field(&w, "Denoising strength", g->denoising_strength >= 0 ? num2 : NULL);
        snprintf(num, sizeof num, "%ld", (long)g->clip_skip);
        field(&w, "Clip skip", g->clip_skip > 1 ? num : NULL);
        field(&w, "RNG", g->rng);
        for (int32_t i = 0; i < g->n_extra; i++) field(&w, g->extra[i].key, g->extra[i].value);
        field(&w, "Version", g->version);
        if (pass == 0) {
            probe = w.c;
            buf = malloc(probe.len + 1);
            if (!buf) return ef_err_set(err, EF_ERR_NOMEM, "a1111: out of memory");
        }
    }
    size_t b = 0, e = probe.len;
    strip(buf, &b, &e);
    size_t len = e - b;
    if (out_len) *out_len = len;
    if (n) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(out, buf + b, k);
        out[k] = '\0';
    }
    free(buf);
    if (len + 1 > n)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: the parameters text needs %zu bytes, the buffer has %zu",
                          len + 1, n);
    return EF_OK;
}

/* ---- reader: storage ------------------------------------------------------------- */

typedef struct store {
    char  *base;
    size_t cap, used;
} store;

/* A copy of s[b, e) plus suffix, NUL-terminated, in the store (NULL if it is full:
** cannot happen with the capacity ef_a1111_parameters_parse reserves). */
static char *store_str(store *st, const char *s, size_t b, size_t e, const char *suffix) {
    size_t ls = suffix ? strlen(suffix) : 0;
    if (st->cap - st->used < e - b + ls + 1) return NULL;
    char *p = st->base + st->used;
    memcpy(p, s + b, e - b);
    memcpy(p + (e - b), suffix ? suffix : "", ls);
    p[e - b + ls] = '\0';
    st->used += e - b + ls + 1;
    return p;
}

/* ---- reader: the regex ------------------------------------------------------------- */

typedef struct match {
    size_t kb, ke;   /* group 1 */
    size_t vb, ve;   /* group 2 */
    size_t end;      /* end of the whole match */
} match;

/* Tries the pattern at i of s[0, n). Returns 1 with *m on a match; else 0 and *skip =
** the next position worth trying (every position in (i, *skip) fails the same way). */
static int match_at(const char *s, size_t n, size_t i, match *m, size_t *skip) {
    size_t l, p = i;
    int32_t c = 0;
    while (p < n && is_space(c = cp_at(s, n, p, &l))) p += l;                /* \s* */
    if (p >= n || !is_word(cp_at(s, n, p, &l))) {                            /* \w */
        *skip = p < n ? p + l : n + 1;
        return 0;
    }
    m->kb = p;
    p += l;
    size_t run = p;
    while (p < n && is_key_char(cp_at(s, n, p, &l))) p += l;                /* [\w \-/]+ */
    if (p == run || p >= n || s[p] != ':') {                                 /* then ':' */
        *skip = p > i ? p : i + 1;
        return 0;
    }
    m->ke = p;
    p++;
    while (p < n && is_space(cp_at(s, n, p, &l))) p += l;                   /* \s* */
    /* "(?:\\.|[^\\"])+" followed by , or end; '.' excludes '\n' */
    if (p < n && s[p] == '"') {
        size_t q = p + 1, tokens = 0;
        for (;;) {
            if (q >= n) break;
            if (s[q] == '\\') {
                if (q + 1 >= n || s[q + 1] == '\n') break;
                q += 1 + (cp_at(s, n, q + 1, &l), l);
            } else if (s[q] == '"') {
                break;
            } else {
                q += (cp_at(s, n, q, &l), l);
            }
            tokens++;
        }
        if (tokens > 0 && q < n && s[q] == '"' && (q + 1 == n || s[q + 1] == ',' || (s[q + 1] == '\n' && q + 2 == n))) {
            m->vb = p;
            m->ve = q + 1;
            m->end = q + 1 < n && s[q + 1] == ',' ? q + 2 : q + 1;
            return 1;
        }
    }
    size_t q = p;                                                            /* [^,]* then , or $ */
    while (q < n && s[q] != ',') q++;
    m->vb = p;
    m->ve = q;
    m->end = q < n ? q + 1 : q;   /* past the ',', or at the end ($) */
    return 1;
}

/* re.findall over s[0, n): calls fn for each match (fn may be NULL); returns the count. */
typedef int (*match_fn)(void *ctx, const char *s, const match *m);
static size_t find_all(const char *s, size_t n, match_fn fn, void *ctx) {
    size_t i = 0, count = 0;
    while (i <= n) {
        match m;
        size_t skip = i + 1;
        if (match_at(s, n, i, &m, &skip)) {
            count++;
            if (fn && !fn(ctx, s, &m)) return count;
            i = m.end > i ? m.end : i + 1;
        } else {
            i = skip > i ? skip : i + 1;
        }
    }
    return count;
}

/* ---- reader: json.loads of a quoted value ------------------------------------------ */

static int hex4(const char *s, size_t n, size_t i, uint32_t *v) {
    if (i + 4 > n) return 0;
    *v = 0;
    for (size_t k = i; k < i + 4; k++) {
        char ch = s[k];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ((ch | 32) >= 'a' && (ch | 32) <= 'f' ? (ch | 32) - 'a' + 10 : -1);
        if (d < 0) return 0;
        *v = *v * 16 + (uint32_t)d;
    }
    return 1;
}

/* Decodes the JSON string s[b, e) (quotes included) into out (room for e-b bytes);
** returns the length, or -1 where Python's json.loads would raise. */
static long json_unquote(const char *s, size_t b, size_t e, char *out) {
    size_t o = 0, i = b + 1;
    if (e - b < 2 || s[b] != '"' || s[e - 1] != '"') return -1;
    while (i < e - 1) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch < 0x20) return -1;   /* early end ("Extra data") or a raw control char */
        if (ch != '\\') {
            out[o++] = (char)ch;
            i++;
            continue;
        }
        if (i + 1 >= e - 1) return -1;
        char x = s[i + 1];
        i += 2;
        const char *simple = strchr("\"\\/bfnrt", x);
        if (x && simple) {
            static const char MAP[] = "\"\\/\b\f\n\r\t";
            out[o++] = MAP[simple - "\"\\/bfnrt"];
            continue;
        }
        if (x != 'u') return -1;
        uint32_t cp, lo;
        if (!hex4(s, e - 1, i, &cp)) return -1;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= e - 1 && s[i] == '\\' && s[i + 1] == 'u' &&
            hex4(s, e - 1, i + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;   /* a lone surrogate has no UTF-8 form */
        if (cp == 0) return -1;                          /* would end our C string: keep the raw text */
        o += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out + o);
    }
    return (long)o;
}

/* ---- reader ----------------------------------------------------------------------- */

typedef struct parse_ctx {
    store           *st;
    ef_a1111_parsed *out;
    size_t           cap;
    int              overflow;
} parse_ctx;

/* res[key] = value: overwrite in place when present. */
static int set_param(parse_ctx *c, const char *key, const char *value) {
    if (!key || !value) return 0;
    for (size_t i = 0; i < c->out->n_params; i++)
        if (strcmp(c->out->params[i].key, key) == 0) {
            c->out->params[i].value = value;
            return 1;
        }
    if (c->out->n_params == c->cap) {
        c->overflow = 1;
        return 0;
    }
    c->out->params[c->out->n_params].key = key;
    c->out->params[c->out->n_params].value = value;
    c->out->n_params++;
    return 1;
}

/* ^(\d+)x(\d+)$ on v ($ allows one final '\n'); *x = index of the 'x'. */
static int is_size(const char *v, size_t *x) {
    size_t n = strlen(v), i = 0;
    if (n && v[n - 1] == '\n') n--;
    while (i < n && v[i] >= '0' && v[i] <= '9') i++;
    if (i == 0 || i >= n || v[i] != 'x') return 0;
    *x = i++;
    size_t d = i;
    while (i < n && v[i] >= '0' && v[i] <= '9') i++;
    return i > d && i == n;
}

static int on_param(void *ctx, const char *s, const match *m) {
    parse_ctx *c = ctx;
    if (m->ve == m->vb) return 1;   /* v[0] raises IndexError in A1111: the pair is skipped */
    const char *key = store_str(c->st, s, m->kb, m->ke, NULL);
    char *value = NULL;
    if (s[m->vb] == '"' && s[m->ve - 1] == '"' && m->ve - m->vb >= 2) {
        char *dst = c->st->base + c->st->used;
        if (c->st->cap - c->st->used >= m->ve - m->vb + 1) {
            long k = json_unquote(s, m->vb, m->ve, dst);
            if (k >= 0) {
                dst[k] = '\0';
                c->st->used += (size_t)k + 1;
                value = dst;
            }
        }
    }
    if (!value) value = store_str(c->st, s, m->vb, m->ve, NULL);
    size_t x;
    if (key && value && is_size(value, &x)) {
        size_t vl = strlen(value);
        if (vl && value[vl - 1] == '\n') vl--;
        if (!set_param(c, store_str(c->st, key, 0, strlen(key), "-1"), store_str(c->st, value, 0, x, NULL)) ||
            !set_param(c, store_str(c->st, key, 0, strlen(key), "-2"), store_str(c->st, value, x + 1, vl, NULL)))
            return !c->overflow;
        return 1;
    }
    set_param(c, key, value);
    return !c->overflow;
}

/* A growing "\n"-joined string in the store: A1111's
**     acc += ("" if acc == "" else "\n") + line */
typedef struct joined {
    char  *p;
    size_t len;
} joined;

static void join_line(joined *j, const char *s, size_t b, size_t e) {
    if (j->len) j->p[j->len++] = '\n';
    memcpy(j->p + j->len, s + b, e - b);
    j->len += e - b;
    j->p[j->len] = '\0';
}

/* Keys ef_gen_info has a field for (after the Size split). */
static const char *const KNOWN[] = {
    "Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size-1", "Size-2", "Model hash", "Model",
    "VAE hash", "VAE", "Denoising strength", "Clip skip", "RNG", "Version",
};

static int is_known(const char *key) {
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (strcmp(key, KNOWN[i]) == 0) return 1;
    return 0;
}

ef_status ef_a1111_parameters_parse(const char *text, size_t len, ef_a1111_parsed *out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111 parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!text && len) return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111 parse: text is NULL");
    if (len > EF_A1111_MAX_TEXT)
        return ef_err_set(err, EF_ERR_FORMAT, "a1111 parse: parameters text of %zu bytes exceeds the %u-byte limit",
                          len, (unsigned)EF_A1111_MAX_TEXT);
    /* prompt and negative: len + 1 each; keys and values: <= 2 (len + pairs); a Size split
    ** stores two more keys and values: <= 2 (len + 4 pairs). So <= 6 len + 10 pairs + 2. */
    size_t cap = 8 * (len + 1) + 16 * (size_t)EF_A1111_MAX_PARAMS + 64;
    out->storage_ = malloc(cap);
    out->params = malloc((EF_A1111_MAX_PARAMS + 3) * sizeof *out->params);
    out->extra = malloc((EF_A1111_MAX_PARAMS + 3) * sizeof *out->extra);
    if (!out->storage_ || !out->params || !out->extra) {
        ef_a1111_parsed_free(out);
        return ef_err_set(err, EF_ERR_NOMEM, "a1111 parse: out of memory");
    }
    store st = {out->storage_, cap, 0};
    const char *s = text ? text : "";
    size_t b = 0, e = len;
    strip(s, &b, &e);
    /* *lines, lastline = x.strip().split("\n") */
    size_t last = e;
    while (last > b && s[last - 1] != '\n') last--;
    size_t lines_end = last > b ? last - 1 : b;   /* the lines before lastline: [b, lines_end) */
    int has_lines = last > b;
    size_t lb = last, le = e;
    if (find_all(s + lb, le - lb, NULL, NULL) < 3) {   /* not parameters: it is one more prompt line */
        lines_end = e;
        has_lines = 1;
        lb = le = e;
    }
    /* the lines before lastline, stripped, split at "Negative prompt:" (<= len bytes each) */
    joined prompt = {st.base, 0}, neg = {st.base + len + 1, 0};
    prompt.p[0] = neg.p[0] = '\0';
    st.used = 2 * (len + 1);
    int done_with_prompt = 0;
    for (size_t p = b; has_lines && p <= lines_end;) {
        size_t q = p;
        while (q < lines_end && s[q] != '\n') q++;
        size_t x = p, y = q;
        strip(s, &x, &y);
        if (y - x >= 16 && memcmp(s + x, "Negative prompt:", 16) == 0) {
            done_with_prompt = 1;
            x += 16;
            strip(s, &x, &y);
        }
        join_line(done_with_prompt ? &neg : &prompt, s, x, y);
        p = q + 1;
    }
    out->prompt = prompt.p;
    out->negative_prompt = neg.p;
    parse_ctx c = {&st, out, EF_A1111_MAX_PARAMS, 0};
    find_all(s + lb, le - lb, on_param, &c);
    if (c.overflow) {
        ef_a1111_parsed_free(out);
        return ef_err_set(err, EF_ERR_FORMAT, "a1111 parse: more than %d parameters", EF_A1111_MAX_PARAMS);
    }
    c.cap = EF_A1111_MAX_PARAMS + 3;
    static const char *const DEFAULTS[3][2] = {{"Clip skip", "1"}, {"RNG", "GPU"}, {"Schedule type", "Automatic"}};
    for (int i = 0; i < 3; i++)
        if (!ef_a1111_get(out, DEFAULTS[i][0])) set_param(&c, DEFAULTS[i][0], DEFAULTS[i][1]);
    for (size_t i = 0; i < out->n_params; i++)
        if (!is_known(out->params[i].key)) out->extra[out->n_extra++] = out->params[i];
    return EF_OK;
}

const char *ef_a1111_get(const ef_a1111_parsed *p, const char *key) {
    if (!p || !key) return NULL;
    for (size_t i = 0; i < p->n_params; i++)
        if (strcmp(p->params[i].key, key) == 0) return p->params[i].value;
    return NULL;
}

void ef_a1111_parsed_free(ef_a1111_parsed *p) {
    if (!p) return;
    free(p->storage_);
    free(p->params);
    free(p->extra);
    memset(p, 0, sizeof *p);
}

/* ---- typed view ------------------------------------------------------------------- */

static ef_status to_i64(const char *key, const char *v, int64_t min, int64_t max, int64_t *out, ef_err *err) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < min || x > max)
        return ef_err_set(err, EF_ERR_FORMAT, "a1111: '%s' = '%.80s' is not an integer in range", key, v);
    *out = x;
    return EF_OK;
}

static ef_status to_real(const char *key, const char *v, double *out, ef_err *err) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x))
        return ef_err_set(err, EF_ERR_FORMAT, "a1111: '%s' = '%.80s' is not a number", key, v);
    *out = x;
    return EF_OK;
}

ef_status ef_a1111_to_gen_info(const ef_a1111_parsed *p, ef_gen_info *out, ef_err *err) {
    if (!p || !out) return ef_err_set(err, EF_ERR_INVALID_ARG, "a1111: NULL argument");
    ef_gen_info g = ef_gen_info_default();
    g.prompt = p->prompt;
    g.negative_prompt = p->negative_prompt;
    for (size_t i = 0; i < p->n_params; i++) {
        const char *k = p->params[i].key, *v = p->params[i].value;
        int64_t iv = 0;
        if (strcmp(k, "Steps") == 0) {
            EF_TRY(to_i64(k, v, 0, INT32_MAX, &iv, err));
            g.steps = (int32_t)iv;
        } else if (strcmp(k, "Sampler") == 0) {
            g.sampler = v;
        } else if (strcmp(k, "Schedule type") == 0) {
            g.schedule_type = strcmp(v, "Automatic") == 0 ? NULL : v;
        } else if (strcmp(k, "CFG scale") == 0) {
            EF_TRY(to_real(k, v, &g.cfg_scale, err));
        } else if (strcmp(k, "Seed") == 0) {
            EF_TRY(to_i64(k, v, INT64_MIN, INT64_MAX, &g.seed, err));
        } else if (strcmp(k, "Size-1") == 0) {
            EF_TRY(to_i64(k, v, 0, INT32_MAX, &iv, err));
            g.width = (int32_t)iv;
        } else if (strcmp(k, "Size-2") == 0) {
            EF_TRY(to_i64(k, v, 0, INT32_MAX, &iv, err));
            g.height = (int32_t)iv;
        } else if (strcmp(k, "Model hash") == 0) {
            g.model_hash = v;
        } else if (strcmp(k, "Model") == 0) {
            g.model = v;
        } else if (strcmp(k, "VAE hash") == 0) {
            g.vae_hash = v;
        } else if (strcmp(k, "VAE") == 0) {
            g.vae = v;
        } else if (strcmp(k, "Denoising strength") == 0) {
            EF_TRY(to_real(k, v, &g.denoising_strength, err));
        } else if (strcmp(k, "Clip skip") == 0) {
            EF_TRY(to_i64(k, v, 0, INT32_MAX, &iv, err));
            g.clip_skip = iv > 1 ? (int32_t)iv : 0;
        } else if (strcmp(k, "RNG") == 0) {
            g.rng = strcmp(v, "GPU") == 0 ? NULL : v;
        } else if (strcmp(k, "Version") == 0) {
            g.version = v;
        }
    }
    g.extra = p->n_extra ? p->extra : NULL;
    g.n_extra = (int32_t)p->n_extra;
    *out = g;
    return EF_OK;
}

ef_status ef_a1111_model_hash(const char *weights_path, char out[11], ef_err *err) {
    uint8_t d[EF_SHA256_SIZE];
    EF_TRY(ef_sha256_file(weights_path, d, err));
    ef_sha256_hex(d, 5, out);
    return EF_OK;
}
