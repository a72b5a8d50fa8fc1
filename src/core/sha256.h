/*
** sha256.h -- SHA-256 (FIPS 180-4): a streaming context, a whole-file helper and the
** hex form. Used for A1111's "Model hash" (the first 10 hex digits of the sha256 of
** the weights file). No dependency beyond libc.
*/
#ifndef EF_CORE_SHA256_H
#define EF_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define EF_SHA256_SIZE 32

typedef struct ef_sha256_ctx {
    uint32_t h[8];
    uint64_t n_bytes;      /* total fed so far */
    uint8_t  buf[64];      /* partial block */
    size_t   n_buf;
} ef_sha256_ctx;

void ef_sha256_init(ef_sha256_ctx *s);
void ef_sha256_update(ef_sha256_ctx *s, const void *data, size_t n);
/* Writes the digest; s must be re-initialised before reuse. */
void ef_sha256_final(ef_sha256_ctx *s, uint8_t out[EF_SHA256_SIZE]);

/* One-shot digest of n bytes. */
void ef_sha256(const void *data, size_t n, uint8_t out[EF_SHA256_SIZE]);

/* Digest of a whole file, read in 1 MiB chunks (files of any size). EF_ERR_IO names
** the path on open/read failure. */
ef_status ef_sha256_file(const char *path, uint8_t out[EF_SHA256_SIZE], ef_err *err);

/* Lowercase hex of the first n_bytes of d into out (2*n_bytes + 1 chars, NUL-terminated). */
void ef_sha256_hex(const uint8_t *d, size_t n_bytes, char *out);

#endif /* EF_CORE_SHA256_H */
