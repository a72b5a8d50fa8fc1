/*
** sha256.h -- SHA-256 through OpenSSL's libcrypto (SHA-NI / AVX2 code paths: ~1.4 GB/s
** here, against ~0.2 GB/s for a portable C loop): a streaming context, a whole-file
** helper and the hex form. Used for A1111's "Model hash" (the first 10 hex digits of
** the sha256 of the weights file), which hashes a 1.3 GB UNet on the first PNG save.
*/
#ifndef EF_CORE_SHA256_H
#define EF_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define EF_SHA256_SIZE 32

typedef struct ef_sha256_ctx {
    void *md;              /* EVP_MD_CTX *, owned; NULL after final */
} ef_sha256_ctx;

/* init allocates (EF_ERR_NOMEM); final writes the digest and frees, whatever it returns. */
ef_status ef_sha256_init(ef_sha256_ctx *s, ef_err *err);
void      ef_sha256_update(ef_sha256_ctx *s, const void *data, size_t n);
ef_status ef_sha256_final(ef_sha256_ctx *s, uint8_t out[EF_SHA256_SIZE], ef_err *err);

/* One-shot digest of n bytes. */
ef_status ef_sha256(const void *data, size_t n, uint8_t out[EF_SHA256_SIZE], ef_err *err);

/* Digest of a whole file, read in 1 MiB chunks (files of any size). EF_ERR_IO names
** the path on open/read failure. */
ef_status ef_sha256_file(const char *path, uint8_t out[EF_SHA256_SIZE], ef_err *err);

/* Lowercase hex of the first n_bytes of d into out (2*n_bytes + 1 chars, NUL-terminated). */
void ef_sha256_hex(const uint8_t *d, size_t n_bytes, char *out);

#endif /* EF_CORE_SHA256_H */
