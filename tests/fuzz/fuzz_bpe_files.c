/*
** fuzz_bpe_files.c -- libFuzzer target for ef_bpe_create: the input becomes one of the
** tokenizer files while the others are small valid ones, so every parser is reached
** (a random vocab.json almost never holds the 512 byte-level symbols the rest needs).
** The first byte picks the file: 0 vocab.json (whole), 1 vocab.json (entries appended to
** a valid one), 2 merges.txt, 3 tokenizer_config.json, 4 special_tokens_map.json. A
** tokenizer that loads must then encode a few prompts (and the input) within contract.
** Built and run by `make fuzz`.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The 512 byte-level symbols (ids 0..511) plus a few tokens, without the closing '}'. */
static const char *base_vocab(void) {
    static char buf[16384];
    if (buf[0]) return buf;
    char *p = buf;
    p += sprintf(p, "{");
    for (int eow = 0; eow < 2; eow++) {
        int n_other = 0;
        for (int x = 0; x < 256; x++) {
            int printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
            unsigned cp = printable ? (unsigned)x : 256u + (unsigned)n_other++;
            int id = eow * 256 + x;
            p += sprintf(p, "%s\"\\u%04x%s\": %d", id ? ", " : "", cp, eow ? "</w>" : "", id);
        }
    }
    sprintf(p, ", \"ab\": 512, \"ab</w>\": 513, \"abc</w>\": 514, \"<|startoftext|>\": 515, \"<|endoftext|>\": 516");
    return buf;
}

static const char MERGES[] = "#version: 0.2\na b\na b</w>\nab c</w>\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int mode = data[0] % 5;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    const char *base = base_vocab();
    size_t nb = strlen(base);
    char *vocab = malloc(nb + n + 2);
    if (!vocab) return 0;
    memcpy(vocab, base, nb);
    size_t nv = nb;
    if (mode == 1) { memcpy(vocab + nv, in, n); nv += n; }
    vocab[nv++] = '}';
    ef_bpe_files f = {vocab, nv, MERGES, sizeof MERGES - 1, NULL, 0, NULL, 0};
    if (mode == 0) { f.vocab_json = in; f.vocab_len = n; }
    if (mode == 2) { f.merges_txt = in; f.merges_len = n; }
    if (mode == 3) { f.config_json = in; f.config_len = n; }
    if (mode == 4) { f.special_json = in; f.special_len = n; }

    ef_err err;
    err.msg[0] = '\0';
    ef_bpe *b = (ef_bpe *)&err;
    ef_status rc = ef_bpe_create(&f, "fuzz", &b, &err);
    if (rc != EF_OK) {
        if (b != NULL || err.msg[0] == '\0') abort();   /* failures must say why */
        free(vocab);
        return 0;
    }
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, in, n);
        text[n] = '\0';
    }
    const char *prompts[] = {"abc ab a <|endoftext|>!", "<|STARTOFTEXT|> x", "", text ? text : ""};
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        int32_t ids[16], m = -1;
        if (ef_bpe_encode(b, prompts[i], ids, 16, &m, &err) != EF_OK || m != 16) abort();
        if (ids[0] != ef_bpe_bos(b)) abort();
        for (int k = 0; k < m; k++)
            if (ids[k] < 0 || ids[k] >= ef_bpe_n_vocab(b)) abort();
    }
    if (ef_bpe_max_length(b) < 2) abort();
    free(text);
    ef_bpe_free(b);
    free(vocab);
    return 0;
}
