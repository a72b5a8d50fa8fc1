/*
** sha256.c -- SHA-256 over OpenSSL's EVP interface (see sha256.h).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/sha256.h"

ef_status ef_sha256_init(ef_sha256_ctx *s, ef_err *err) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    s->md = md;
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) return EF_OK;
    EVP_MD_CTX_free(md);
    s->md = NULL;
    return ef_err_set(err, EF_ERR_NOMEM, "sha256: cannot create a libcrypto digest context");
}

void ef_sha256_update(ef_sha256_ctx *s, const void *data, size_t n) {
    if (s->md && n) EVP_DigestUpdate(s->md, data, n);
}

ef_status ef_sha256_final(ef_sha256_ctx *s, uint8_t out[EF_SHA256_SIZE], ef_err *err) {
    unsigned int len = 0;
    int ok = s->md && EVP_DigestFinal_ex(s->md, out, &len) == 1 && len == EF_SHA256_SIZE;
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
    return ok ? EF_OK : ef_err_set(err, EF_ERR_INTERNAL, "sha256: libcrypto digest failed");
}

ef_status ef_sha256(const void *data, size_t n, uint8_t out[EF_SHA256_SIZE], ef_err *err) {
    unsigned int len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) == 1 && len == EF_SHA256_SIZE) return EF_OK;
    return ef_err_set(err, EF_ERR_INTERNAL, "sha256: libcrypto digest failed");
}

ef_status ef_sha256_file(const char *path, uint8_t out[EF_SHA256_SIZE], ef_err *err) {
    enum { CHUNK = 1 << 20 };
    FILE *f = fopen(path, "rb");
    if (!f) return ef_err_set(err, EF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = malloc(CHUNK);
    ef_sha256_ctx s = {0};
    ef_status rc = buf ? ef_sha256_init(&s, err)
                       : ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory for the hash buffer", path);
    if (rc == EF_OK) {
        size_t n;
        while ((n = fread(buf, 1, CHUNK, f)) > 0) ef_sha256_update(&s, buf, n);
        int bad = ferror(f);
        rc = ef_sha256_final(&s, out, err);
        if (bad) rc = ef_err_set(err, EF_ERR_IO, "%s: read error while hashing", path);
    }
    free(buf);
    fclose(f);
    return rc;
}

void ef_sha256_hex(const uint8_t *d, size_t n_bytes, char *out) {
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
    out[2 * n_bytes] = '\0';
}
