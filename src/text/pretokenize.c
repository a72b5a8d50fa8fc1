/*
** pretokenize.c -- see pretokenize.h. A hand-written scanner for the one regex; the
** alternatives are tried in the regex's order at each position, as Oniguruma does, and
** every non-whitespace code point starts some match, so the scanner only skips \s.
*/
#include "text/pretokenize.h"

#include "text/unicode.h"

/* 1 if cps[i..n) starts with the ASCII string lit. */
static int starts_with(const uint32_t *cps, size_t i, size_t n, const char *lit) {
    for (; *lit; lit++, i++)
        if (i >= n || cps[i] != (uint32_t)(unsigned char)*lit) return 0;
    return 1;
}

static int is_other(uint32_t cp) {
    return !ef_uc_is_space(cp) && !ef_uc_is_letter(cp) && !ef_uc_is_number(cp);
}

int ef_pretokenize(const uint32_t *cps, size_t n, ef_pretok_fn fn, void *user) {
    static const char *const SPECIAL[] = {"<|startoftext|>", "<|endoftext|>"};
    static const char *const CONTRACTIONS[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t i = 0;
    while (i < n) {
        uint32_t c = cps[i];
        if (ef_uc_is_space(c)) { i++; continue; }
        int rc;
        size_t end = 0;
        for (size_t k = 0; k < 2 && !end; k++) {
            if (starts_with(cps, i, n, SPECIAL[k])) {
                size_t len = 0;
                while (SPECIAL[k][len]) len++;
                /* ByteLevel's GPT-2 regex splits the literal: "<|" letters "|>". */
                if ((rc = fn(cps, i, i + 2, user)) != 0) return rc;
                if ((rc = fn(cps, i + 2, i + len - 2, user)) != 0) return rc;
                if ((rc = fn(cps, i + len - 2, i + len, user)) != 0) return rc;
                end = i + len;
            }
        }
        if (end) { i = end; continue; }
        if (c == '\'') {
            for (size_t k = 0; k < sizeof CONTRACTIONS / sizeof CONTRACTIONS[0] && !end; k++) {
                if (starts_with(cps, i, n, CONTRACTIONS[k])) {
                    size_t len = 0;
                    while (CONTRACTIONS[k][len]) len++;
                    end = i + len;
                }
            }
        }
        if (!end) {
            end = i + 1;
            if (ef_uc_is_letter(c)) {
                while (end < n && ef_uc_is_letter(cps[end])) end++;
            } else if (!ef_uc_is_number(c)) {
                while (end < n && is_other(cps[end])) end++;
            }
        }
        if ((rc = fn(cps, i, end, user)) != 0) return rc;
        i = end;
    }
    return 0;
}
