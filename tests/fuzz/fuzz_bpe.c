/*
** fuzz_bpe.c -- libFuzzer target for ef_bpe_encode: the real CLIP tokenizer (loaded once
** from $EF_FIXTURES/clip-tokenizer, default tests/fixtures) encodes the input as a
** prompt. The first byte picks max_ids (2..257); the rest, cut at the first NUL, is the
** text. Checks the contract: BOS first, EOS last, ids in range, same ids twice.
** Built and run by `make fuzz`.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ef_bpe *tokenizer(void) {
    static ef_bpe *bpe;   /* loaded once per fuzzing process, read-only afterwards */
    if (!bpe) {
        const char *fix = getenv("EF_FIXTURES");
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/clip-tokenizer", fix && fix[0] ? fix : "tests/fixtures");
        ef_err err;
        if (ef_bpe_load(dir, &bpe, &err) != EF_OK) {
            fprintf(stderr, "fuzz_bpe: %s\n", err.msg);
            abort();
        }
    }
    return bpe;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ef_bpe *b = tokenizer();
    if (size == 0) return 0;
    int32_t max_ids = 2 + data[0];
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    int32_t ids[2 + 255], again[2 + 255], n = -1, n2 = -1;
    ef_err err;
    ef_status rc = ef_bpe_encode(b, text, ids, max_ids, &n, &err);
    ef_status rc2 = ef_bpe_encode(b, text, again, max_ids, &n2, &err);
    free(text);
    if (rc != EF_OK || rc2 != EF_OK) abort();   /* inputs here are < 1 MiB: nothing may fail */
    if (n != max_ids || n2 != n || memcmp(ids, again, (size_t)n * sizeof ids[0]) != 0) abort();
    /* In the fixture pad == EOS, so the last slot is EOS whether or not it was padded. */
    if (ids[0] != ef_bpe_bos(b) || ids[n - 1] != ef_bpe_eos(b)) abort();
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ef_bpe_n_vocab(b)) abort();
    return 0;
}
