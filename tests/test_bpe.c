/*
** test_bpe.c -- the CLIP tokenizer against tests/fixtures/tokens.json (ids from
** transformers' CLIPTokenizer, written by scripts/golden/tokenizer.py; every case must
** match exactly), plus the contract: special ids, truncation and padding, argument
** checks, malformed and oversized files, invalid UTF-8, and concurrent use.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "core/platform.h"
#include "ef_test.h"
#include "io/json.h"
#include "text/bpe.h"
#include "text/bpe_internal.h"

#define BOS 49406
#define EOS 49407

static ef_bpe *load_fixture(ef_test *t) {
    char dir[1024];
    ef_fixture_path(dir, sizeof dir, "clip-tokenizer");
    ef_err err;
    ef_err_clear(&err);
    ef_bpe *b = NULL;
    ef_status rc = ef_bpe_load(dir, &b, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "ef_bpe_load(%s): %s", dir, err.msg);
    return b;
}

static cJSON *load_golden(ef_test *t) {
    char path[1024];
    ef_fixture_path(path, sizeof path, "tokens.json");
    ef_err err;
    ef_err_clear(&err);
    cJSON *root = NULL;
    ef_status rc = ef_json_load(path, (size_t)16 << 20, &root, &err);
    EF_CHECK_MSG(t, rc == EF_OK, "%s", err.msg);
    return root;
}

/* Printable form of a prompt for failure messages (at most ~100 bytes of it). */
static const char *show(const char *s, char *buf, size_t n) {
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 8 < n && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];
        o += (size_t)(c < 0x20 || c == 0x7f ? snprintf(buf + o, n - o, "\\x%02x", c) : snprintf(buf + o, n - o, "%c", c));
    }
    buf[o] = '\0';
    return buf;
}

/* Encodes text and compares with the JSON array want; reports the first difference. */
static int check_case(ef_test *t, const ef_bpe *b, const char *what, int index, const char *text, const cJSON *want,
                      int32_t max_ids) {
    int32_t ids[512], n = -1;
    ef_err err;
    ef_err_clear(&err);
    ef_status rc = ef_bpe_encode(b, text, ids, max_ids, &n, &err);
    char buf[1024];
    t->n_check++;
    if (rc != EF_OK) {
        ef_test_fail(t, __FILE__, __LINE__, "%s %d \"%s\": %s", what, index, show(text, buf, sizeof buf), err.msg);
        return 0;
    }
    if (n != cJSON_GetArraySize(want)) {
        ef_test_fail(t, __FILE__, __LINE__, "%s %d: %d ids, want %d", what, index, (int)n, cJSON_GetArraySize(want));
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int w = cJSON_GetArrayItem(want, i)->valueint;
        if (ids[i] != w) {
            ef_test_fail(t, __FILE__, __LINE__, "%s %d \"%s\": id[%d] = %d, want %d", what, index,
                         show(text, buf, sizeof buf), i, (int)ids[i], w);
            return 0;
        }
    }
    return 1;
}

static void test_golden_cases(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    cJSON *g = load_golden(t);
    if (!b || !g) goto done;
    EF_CHECK_INT(t, cJSON_GetObjectItem(g, "format_version")->valueint, 1);
    int max_len = cJSON_GetObjectItem(g, "max_length")->valueint;
    EF_CHECK_INT(t, max_len, ef_bpe_max_length(b));
    const cJSON *cases = cJSON_GetObjectItem(g, "cases");
    int n = cJSON_GetArraySize(cases), ok = 0;
    EF_CHECK(t, n >= 250);
    for (int i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(cases, i);
        ok += check_case(t, b, "case", i, cJSON_GetObjectItem(c, "text")->valuestring, cJSON_GetObjectItem(c, "ids"), max_len);
    }
    EF_CHECK_MSG(t, ok == n, "%d of %d cases match", ok, n);
done:
    cJSON_Delete(g);
    ef_bpe_free(b);
}

static void test_golden_invalid_utf8(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    cJSON *g = load_golden(t);
    if (!b || !g) goto done;
    const cJSON *cases = cJSON_GetObjectItem(g, "invalid_utf8");
    EF_CHECK(t, cJSON_GetArraySize(cases) > 10);
    for (int i = 0; i < cJSON_GetArraySize(cases); i++) {
        const cJSON *c = cJSON_GetArrayItem(cases, i);
        const char *hex = cJSON_GetObjectItem(c, "hex")->valuestring;
        char text[256];
        size_t n = strlen(hex) / 2;
        if (n >= sizeof text) continue;
        for (size_t k = 0; k < n; k++) {
            unsigned v = 0;
            sscanf(hex + 2 * k, "%2x", &v);
            text[k] = (char)v;
        }
        text[n] = '\0';
        check_case(t, b, "invalid_utf8", i, text, cJSON_GetObjectItem(c, "ids"), 77);
    }
done:
    cJSON_Delete(g);
    ef_bpe_free(b);
}

/* Reads a fixture file into memory. */
static char *read_fixture(ef_test *t, const char *rel, size_t *len) {
    char path[1024];
    ef_fixture_path(path, sizeof path, rel);
    ef_err err;
    ef_err_clear(&err);
    char *buf = NULL;
    EF_CHECK_MSG(t, ef_file_read_all(path, (size_t)64 << 20, &buf, len, &err) == EF_OK, "%s", err.msg);
    return buf;
}

static void test_golden_variants(ef_test *t) {
    size_t nv = 0, nm = 0;
    char *vocab = read_fixture(t, "clip-tokenizer/vocab.json", &nv);
    char *merges = read_fixture(t, "clip-tokenizer/merges.txt", &nm);
    cJSON *g = load_golden(t);
    const cJSON *vars = g ? cJSON_GetObjectItem(g, "variants") : NULL;
    EF_CHECK(t, cJSON_GetArraySize(vars) >= 5);
    for (int v = 0; vocab && merges && v < cJSON_GetArraySize(vars); v++) {
        const cJSON *var = cJSON_GetArrayItem(vars, v);
        const char *name = cJSON_GetObjectItem(var, "name")->valuestring;
        const cJSON *cfg = cJSON_GetObjectItem(var, "tokenizer_config");
        const cJSON *map = cJSON_GetObjectItem(var, "special_tokens_map");
        char *cfg_s = cJSON_IsObject(cfg) ? cJSON_PrintUnformatted(cfg) : NULL;
        char *map_s = cJSON_IsObject(map) ? cJSON_PrintUnformatted(map) : NULL;
        ef_bpe_files f = {vocab, nv, merges, nm, cfg_s, cfg_s ? strlen(cfg_s) : 0, map_s, map_s ? strlen(map_s) : 0};
        ef_err err;
        ef_err_clear(&err);
        ef_bpe *b = NULL;
        ef_status rc = ef_bpe_create(&f, name, &b, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "variant %s: %s", name, err.msg);
        if (b) {
            int max_len = cJSON_GetObjectItem(var, "max_length")->valueint;
            EF_CHECK_MSG(t, ef_bpe_max_length(b) == max_len, "variant %s: max_length %d, want %d", name,
                         (int)ef_bpe_max_length(b), max_len);
            EF_CHECK_INT(t, ef_bpe_bos(b), cJSON_GetObjectItem(var, "bos")->valueint);
            EF_CHECK_INT(t, ef_bpe_eos(b), cJSON_GetObjectItem(var, "eos")->valueint);
            EF_CHECK_INT(t, ef_bpe_pad(b), cJSON_GetObjectItem(var, "pad")->valueint);
            const cJSON *cases = cJSON_GetObjectItem(var, "cases");
            for (int i = 0; i < cJSON_GetArraySize(cases); i++) {
                const cJSON *c = cJSON_GetArrayItem(cases, i);
                check_case(t, b, name, i, cJSON_GetObjectItem(c, "text")->valuestring, cJSON_GetObjectItem(c, "ids"),
                           max_len);
            }
        }
        ef_bpe_free(b);
        cJSON_free(cfg_s);
        cJSON_free(map_s);
    }
    cJSON_Delete(g);
    free(vocab);
    free(merges);
}

static void test_special_ids(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    if (!b) return;
    EF_CHECK_INT(t, ef_bpe_bos(b), BOS);
    EF_CHECK_INT(t, ef_bpe_eos(b), EOS);
    EF_CHECK_INT(t, ef_bpe_pad(b), EOS);
    EF_CHECK_INT(t, ef_bpe_max_length(b), 77);
    EF_CHECK_INT(t, ef_bpe_n_vocab(b), 49408);
    ef_bpe_free(b);
}

static void test_padding_and_truncation(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    if (!b) return;
    ef_err err;
    int32_t ids[300], n = 0;
    EF_CHECK(t, ef_bpe_encode(b, "a photo", ids, 300, &n, &err) == EF_OK);
    EF_CHECK_INT(t, n, 300);
    EF_CHECK_INT(t, ids[0], BOS);
    EF_CHECK_INT(t, ids[1], 320);    /* a</w> */
    EF_CHECK_INT(t, ids[2], 1125);   /* photo</w> */
    EF_CHECK_INT(t, ids[3], EOS);
    EF_CHECK_INT(t, ids[299], EOS);  /* padded with pad (= EOS here) */

    /* 200 words: the first 75 kept, EOS last, whatever max_ids. */
    char text[2048] = "";
    for (int i = 0; i < 200; i++) strcat(text, "cat ");
    int32_t full[300];
    EF_CHECK(t, ef_bpe_encode(b, text, full, 300, &n, &err) == EF_OK);
    EF_CHECK_INT(t, full[201], EOS);
    for (int32_t m = 2; m <= 77; m += 15) {
        int32_t part[77];
        EF_CHECK(t, ef_bpe_encode(b, text, part, m, &n, &err) == EF_OK);
        EF_CHECK_INT(t, n, m);
        EF_CHECK_INT(t, part[m - 1], EOS);
        EF_CHECK(t, memcmp(part, full, (size_t)(m - 1) * sizeof(int32_t)) == 0);
    }
    int32_t two[2];
    EF_CHECK(t, ef_bpe_encode(b, "anything at all", two, 2, &n, &err) == EF_OK);
    EF_CHECK(t, n == 2 && two[0] == BOS && two[1] == EOS);
    ef_bpe_free(b);
}

static void test_bad_arguments(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    if (!b) return;
    ef_err err;
    ef_err_clear(&err);
    int32_t ids[4], n = 9;
    EF_CHECK(t, ef_bpe_encode(b, "x", ids, 1, &n, &err) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, n == 0 && strstr(err.msg, "max_ids"));
    EF_CHECK(t, ef_bpe_encode(b, "x", ids, 0, &n, &err) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, ef_bpe_encode(b, "x", ids, -5, &n, &err) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, ef_bpe_encode(b, NULL, ids, 4, &n, &err) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, ef_bpe_encode(NULL, "x", ids, 4, &n, &err) == EF_ERR_INVALID_ARG);
    EF_CHECK(t, ef_bpe_encode(b, "x", NULL, 4, &n, &err) == EF_ERR_INVALID_ARG);

    /* Exactly the limit is fine (and fast: stops after 75 tokens); one byte more is not. */
    size_t lim = EF_BPE_MAX_TEXT_BYTES;
    char *big = malloc(lim + 2);
    EF_CHECK(t, big != NULL);
    if (big) {
        for (size_t i = 0; i < lim; i++) big[i] = "ab c"[i % 4];
        big[lim] = '\0';
        int32_t out[77];
        double t0 = ef_time_now();
        EF_CHECK_MSG(t, ef_bpe_encode(b, big, out, 77, &n, &err) == EF_OK, "%s", err.msg);
        EF_CHECK_INT(t, out[76], EOS);
        double dt = ef_time_now() - t0;
        EF_CHECK_MSG(t, dt < 5.0, "1 MiB prompt took %.2f s", dt);
        /* One 1 MiB word: every byte must be merged, still O(n log n). */
        memset(big, 'q', lim);
        t0 = ef_time_now();
        EF_CHECK_MSG(t, ef_bpe_encode(b, big, out, 77, &n, &err) == EF_OK, "%s", err.msg);
        dt = ef_time_now() - t0;
        EF_CHECK_MSG(t, dt < 20.0, "1 MiB word took %.2f s", dt);
        big[lim] = 'a';
        big[lim + 1] = '\0';
        EF_CHECK(t, ef_bpe_encode(b, big, out, 77, &n, &err) == EF_ERR_INVALID_ARG);
        EF_CHECK(t, strstr(err.msg, "longer") != NULL);
        free(big);
    }
    ef_bpe_free(b);
}

static void test_invalid_utf8_does_not_crash(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    if (!b) return;
    uint64_t s = 0x1234567;
    char text[600];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = (size_t)(iter * 2 % 599);
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            unsigned char c = (unsigned char)(s >> 24);
            text[i] = (char)(c ? c : 0x80);   /* favour high bytes, no NUL */
            if ((s >> 40) % 4 == 0) text[i] = (char)(0x80 | (c & 0x3f));
        }
        text[n] = '\0';
        int32_t ids[77], m = 0;
        ef_err err;
        ef_status rc = ef_bpe_encode(b, text, ids, 77, &m, &err);
        EF_CHECK_MSG(t, rc == EF_OK, "iteration %d: %s", iter, err.msg);
        int in_range = 1;
        for (int i = 0; i < m; i++) in_range &= ids[i] >= 0 && ids[i] < ef_bpe_n_vocab(b);
        EF_CHECK(t, m == 77 && in_range && ids[0] == BOS);
    }
    ef_bpe_free(b);
}

/* Long prompts are normalized in chunks cut after whitespace; that must give the same
** ids as normalizing the whole text at once (the flag bpe_load.c sets when a special
** token contains whitespace). */
static void test_chunking_is_exact(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    if (!b) return;
    static const char *const POOL[] = {" ", "  ", "\xe3\x80\x80", "\t", "\xcc\x81", "\xcc\x96", "e", "a", "ab", "x",
                                       "<|startoftext|>", "<|ENDOFTEXT|>", "\xc4\xb0", "'s", "!", "7", "\xe1\x84\x80",
                                       "\xe1\x85\xa1", "\xf0\x9f\xa6\x8a", "\xcc\x95"};
    enum { LEN = 20000, MAXN = 500 };
    char *text = malloc(LEN + 32);
    uint64_t s = 99;
    for (int iter = 0; text && iter < 40; iter++) {
        size_t n = 0;
        /* Mostly a long run of spaces up front, so the first cut (after 4096 code points)
        ** falls at varying places inside the random part. */
        int spaces = iter % 4 == 3 ? 0 : 3980 + 5 * iter;
        while (spaces-- > 0) text[n++] = ' ';
        while (n < LEN) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            const char *p = POOL[(s >> 20) % (sizeof POOL / sizeof POOL[0])];
            size_t k = strlen(p);
            memcpy(text + n, p, k);
            n += k;
        }
        text[n] = '\0';
        int32_t a[MAXN], c[MAXN], na = 0, nc = 0;
        ef_err err;
        b->no_chunking = 0;
        EF_CHECK(t, ef_bpe_encode(b, text, a, MAXN, &na, &err) == EF_OK);
        b->no_chunking = 1;
        EF_CHECK(t, ef_bpe_encode(b, text, c, MAXN, &nc, &err) == EF_OK);
        EF_CHECK_MSG(t, na == nc && memcmp(a, c, sizeof a) == 0, "iteration %d: chunked ids differ", iter);
    }
    free(text);
    ef_bpe_free(b);
}

/* ---- concurrency ------------------------------------------------------- */

typedef struct thread_job {
    const ef_bpe *b;
    const cJSON  *cases;
    int           mismatches, errors;
} thread_job;

static void *encode_all(void *arg) {
    thread_job *j = arg;
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < cJSON_GetArraySize(j->cases); i++) {
            const cJSON *c = cJSON_GetArrayItem(j->cases, i);
            const cJSON *want = cJSON_GetObjectItem(c, "ids");
            int32_t ids[77], n = 0;
            ef_err err;
            if (ef_bpe_encode(j->b, cJSON_GetObjectItem(c, "text")->valuestring, ids, 77, &n, &err) != EF_OK) {
                j->errors++;
                continue;
            }
            for (int k = 0; k < 77; k++)
                if (ids[k] != cJSON_GetArrayItem(want, k)->valueint) { j->mismatches++; break; }
        }
    }
    return NULL;
}

static void test_threads(ef_test *t) {
    ef_bpe *b = load_fixture(t);
    cJSON *g = load_golden(t);
    if (b && g) {
        thread_job jobs[2] = {{b, cJSON_GetObjectItem(g, "cases"), 0, 0}, {b, cJSON_GetObjectItem(g, "cases"), 0, 0}};
        pthread_t th[2];
        int started[2];
        for (int i = 0; i < 2; i++) started[i] = pthread_create(&th[i], NULL, encode_all, &jobs[i]) == 0;
        for (int i = 0; i < 2; i++) {
            EF_CHECK(t, started[i]);
            if (started[i]) pthread_join(th[i], NULL);
            EF_CHECK_INT(t, jobs[i].errors, 0);
            EF_CHECK_INT(t, jobs[i].mismatches, 0);
        }
    }
    cJSON_Delete(g);
    ef_bpe_free(b);
}

/* ---- malformed files ------------------------------------------------------ */

/* A vocab.json with the 512 byte-level symbols (ids 0..511) and `extra` appended
** (a string of ', "tok": id' entries). Caller frees. */
static char *base_vocab(const char *extra) {
    size_t cap = 16384 + strlen(extra);
    char *s = malloc(cap), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "{");
    for (int eow = 0; eow < 2; eow++) {
        int n_other = 0;
        for (int x = 0; x < 256; x++) {
            int printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            unsigned cp = printable ? (unsigned)x : 256u + (unsigned)n_other++;
            int id = eow * 256 + x;
            if (cp == '"' || cp == '\\') p += sprintf(p, "%s\"\\%c%s\": %d", id ? ", " : "", (char)cp, eow ? "</w>" : "", id);
            else p += sprintf(p, "%s\"\\u%04x%s\": %d", id ? ", " : "", cp, eow ? "</w>" : "", id);
        }
    }
    sprintf(p, "%s}", extra);
    return s;
}

/* ef_bpe_create on the given texts; returns the status and leaves the message in err. */
static ef_status try_create(const char *vocab, const char *merges, const char *cfg, const char *map, ef_err *err) {
    ef_bpe_files f = {vocab, strlen(vocab), merges, strlen(merges), cfg, cfg ? strlen(cfg) : 0, map, map ? strlen(map) : 0};
    ef_bpe *b = NULL;
    ef_err_clear(err);
    ef_status rc = ef_bpe_create(&f, "mem", &b, err);
    if ((rc == EF_OK) != (b != NULL)) rc = EF_ERR_INTERNAL;
    ef_bpe_free(b);
    return rc;
}

#define EXPECT_FAIL(t, rc_want, needle, vocab, merges, cfg, map) do { \
    ef_err e_; ef_status r_ = try_create((vocab), (merges), (cfg), (map), &e_); \
    EF_CHECK_MSG((t), r_ == (rc_want) && strstr(e_.msg, (needle)), "status %d, message \"%s\"; want %d and \"%s\"", \
                 (int)r_, e_.msg, (int)(rc_want), (needle)); } while (0)

static void test_malformed_vocab(ef_test *t) {
    const char *m = "#version: 0.2\n";
    EXPECT_FAIL(t, EF_ERR_FORMAT, "mem/vocab.json: invalid JSON", "{\"a\": 1,", m, NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "mem/vocab.json", "[1, 2]", m, NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "mem/vocab.json: empty", "{}", m, NULL, NULL);
    char *v = base_vocab(", \"zz\": 1.5");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "vocab.json: token 'zz': id must be an integer", v, m, NULL, NULL);
    free(v);
    v = base_vocab(", \"zz\": \"7\"");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "token 'zz': id must be an integer", v, m, NULL, NULL);
    free(v);
    v = base_vocab(", \"zz\": -1");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "token 'zz'", v, m, NULL, NULL);
    free(v);
    v = base_vocab(", \"zz\": 99999999999");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "token 'zz'", v, m, NULL, NULL);
    free(v);
    v = base_vocab(", \"zz\": 5");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "id 5 is used by another token", v, m, NULL, NULL);
    free(v);
    v = base_vocab(", \"zz\": 600, \"zz\": 601");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "token 'zz' appears twice", v, m, NULL, NULL);
    free(v);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "vocab.json: byte-level symbol", "{\"a\": 0, \"b\": 1}", m, NULL, NULL);
}

static void test_malformed_merges_and_config(ef_test *t) {
    char *v = base_vocab(", \"ab\": 512, \"ab</w>\": 513, \"<|startoftext|>\": 514, \"<|endoftext|>\": 515");
    ef_err err;
    EF_CHECK_MSG(t, try_create(v, "#version: 0.2\na b\na b</w>\n", NULL, NULL, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_MSG(t, try_create(v, "a b\r\na b</w>", NULL, NULL, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_MSG(t, try_create(v, "", NULL, NULL, &err) == EF_OK, "%s", err.msg);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "mem/merges.txt: line 3: expected two tokens", v, "#version: 0.2\na b\nab\n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "merges.txt: line 2: expected two tokens", v, "a b\na  b\n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "merges.txt: line 2: expected two tokens", v, "a b\n\na b</w>\n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "merges.txt: line 1: token 'zq' is not in vocab.json", v, "zq b\n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "merges.txt: line 1: merged token 'bc' is not in vocab.json", v, "b c\n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "merges.txt: line 1: token '' is not", v, "a \n", NULL, NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "mem/tokenizer_config.json: invalid JSON", v, "", "{", NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "tokenizer_config.json: field 'model_max_length'", v, "",
                "{\"model_max_length\": \"77\"}", NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "tokenizer_config.json: field 'model_max_length'", v, "",
                "{\"model_max_length\": 1e30}", NULL);
    EXPECT_FAIL(t, EF_ERR_FORMAT, "special_tokens_map.json: field 'bos_token'", v, "", NULL, "{\"bos_token\": 5}");
    EXPECT_FAIL(t, EF_ERR_FORMAT, "special_tokens_map.json: field 'eos_token': missing field 'content'", v, "", NULL,
                "{\"eos_token\": {\"normalized\": true}}");
    EXPECT_FAIL(t, EF_ERR_UNSUPPORTED, "special token '<mask>' is not in vocab.json", v, "", "{\"mask_token\": \"<mask>\"}",
                NULL);
    EXPECT_FAIL(t, EF_ERR_UNSUPPORTED, "'additional_special_tokens' is not supported", v, "", NULL,
                "{\"additional_special_tokens\": [\"ab\"]}");
    EXPECT_FAIL(t, EF_ERR_UNSUPPORTED, "lstrip/rstrip", v, "", NULL, "{\"pad_token\": {\"content\": \"ab\", \"lstrip\": true}}");
    /* The small tokenizer works end to end: "abab" -> ab, ab</w>; unknown special ids ok. */
    const char *fm = "a b\na b</w>\n", *fc = "{\"model_max_length\": 8}";
    ef_bpe_files f = {v, strlen(v), fm, strlen(fm), fc, strlen(fc), NULL, 0};
    ef_bpe *b = NULL;
    EF_CHECK_MSG(t, ef_bpe_create(&f, "mem", &b, &err) == EF_OK, "%s", err.msg);
    if (b) {
        int32_t ids[8], n = 0;
        EF_CHECK(t, ef_bpe_encode(b, "ABAB x", ids, ef_bpe_max_length(b), &n, &err) == EF_OK);
        int32_t want[8] = {514, 512, 513, 'x' + 256, 515, 515, 515, 515};
        EF_CHECK(t, n == 8 && memcmp(ids, want, sizeof want) == 0);
        ef_bpe_free(b);
    }
    free(v);
}

static void test_missing_and_huge_files(ef_test *t) {
    ef_err err;
    ef_bpe *b = (ef_bpe *)&err;   /* must be reset to NULL on failure */
    ef_err_clear(&err);
    EF_CHECK(t, ef_bpe_load("/nonexistent/tokenizer", &b, &err) == EF_ERR_IO);
    EF_CHECK(t, b == NULL && strstr(err.msg, "/nonexistent/tokenizer/vocab.json"));

    char dir[512], path[700];
    ef_test_tmpdir(dir, sizeof dir);
    EF_CHECK(t, dir[0] != '\0');
    char *v = base_vocab(", \"<|startoftext|>\": 600, \"<|endoftext|>\": 601");
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    EF_CHECK(t, ef_test_write_file(path, v, strlen(v)));
    EF_CHECK(t, ef_bpe_load(dir, &b, &err) == EF_ERR_IO);
    EF_CHECK_MSG(t, strstr(err.msg, "merges.txt") != NULL, "%s", err.msg);
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
    EF_CHECK(t, ef_test_write_file(mpath, "#version: 0.2\n", 14));
    EF_CHECK_MSG(t, ef_bpe_load(dir, &b, &err) == EF_OK, "%s", err.msg);
    EF_CHECK_INT(t, ef_bpe_n_vocab(b), 602);
    ef_bpe_free(b);
    b = NULL;
    /* A sparse 65 MiB vocab.json is refused before it is read. */
    EF_CHECK(t, truncate(path, (off_t)65 << 20) == 0);
    EF_CHECK(t, ef_bpe_load(dir, &b, &err) == EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "vocab.json") && strstr(err.msg, "allowed"), "%s", err.msg);
    /* Same for an oversized tokenizer_config.json. */
    EF_CHECK(t, ef_test_write_file(path, v, strlen(v)));
    char cpath[700];
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    EF_CHECK(t, ef_test_write_file(cpath, "{}", 2));
    EF_CHECK(t, truncate(cpath, (off_t)2 << 20) == 0);
    EF_CHECK(t, ef_bpe_load(dir, &b, &err) == EF_ERR_FORMAT);
    EF_CHECK_MSG(t, strstr(err.msg, "tokenizer_config.json") != NULL, "%s", err.msg);
    unlink(cpath);
    unlink(mpath);
    unlink(path);
    rmdir(dir);
    free(v);
}

const ef_test_case ef_suite_bpe[] = {
    {"golden_cases", test_golden_cases},
    {"golden_invalid_utf8", test_golden_invalid_utf8},
    {"golden_variants", test_golden_variants},
    {"special_ids", test_special_ids},
    {"padding_and_truncation", test_padding_and_truncation},
    {"bad_arguments", test_bad_arguments},
    {"invalid_utf8_does_not_crash", test_invalid_utf8_does_not_crash},
    {"chunking_is_exact", test_chunking_is_exact},
    {"threads", test_threads},
    {"malformed_vocab", test_malformed_vocab},
    {"malformed_merges_and_config", test_malformed_merges_and_config},
    {"missing_and_huge_files", test_missing_and_huge_files},
    {0, 0},
};
