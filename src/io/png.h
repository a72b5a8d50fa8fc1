/*
** png.h -- PNG files through libpng: RGB8 images with the A1111 "parameters" text.
**
** Writing: 8-bit RGB, no interlace, the text (if any) before the image data, as a
** tEXt chunk when every character is Latin-1 (converted to Latin-1 bytes) and as an
** uncompressed iTXt chunk (UTF-8) otherwise -- what PIL's PngInfo.add_text does, so
** A1111 and other readers see the same text.
** Reading: any PNG (palette, gray, alpha, 16-bit, interlaced) becomes RGB8 like
** PIL's convert("RGB"): palette expanded, gray replicated, alpha dropped, 16-bit
** samples keep their high byte. The "parameters" text comes back as UTF-8 (tEXt and
** zTXt are Latin-1 converted to UTF-8; an iTXt that is not valid UTF-8 is ignored, as
** PIL does; the last "parameters" chunk wins).
**
** Files are untrusted: dimensions and pixel count are capped (ef_png_limits), CRC
** errors in any chunk are fatal, a "parameters" text longer than max_chunk_bytes
** (after decompression) is ignored, and libpng errors come back through setjmp as EF_ERR_FORMAT naming the file
** and libpng's explanation ("x.png: PNG error: Invalid IHDR data (Image width is zero
** in IHDR)"). Nothing is printed.
*/
#ifndef EF_IO_PNG_H
#define EF_IO_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct ef_png_limits {
    uint32_t max_side;         /* widest / tallest accepted, pixels */
    uint64_t max_pixels;       /* width * height */
    size_t   max_chunk_bytes;  /* any one chunk, and decompressed text */
} ef_png_limits;

/* 16384 per side, 64 Mpx, 8 MiB per chunk. */
ef_png_limits ef_png_default_limits(void);

typedef struct ef_png_image {
    uint8_t *rgb;              /* (height, width, 3), row-major */
    uint32_t width, height;
    char    *parameters;       /* the "parameters" text, UTF-8, or NULL when absent */
} ef_png_image;

/* Writes rgb (height, width, 3) to path; parameters (UTF-8, may be NULL) becomes the
** "parameters" text chunk. Errors: EF_ERR_INVALID_ARG (NULL, zero or > 2^31-1 size,
** parameters not valid UTF-8), EF_ERR_IO (cannot create or write path; a partial file
** is removed), EF_ERR_FORMAT (a libpng error). */
ef_status ef_png_write(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                       const char *parameters, ef_err *err);

/* Reads path into *out (caller frees with ef_png_image_free). lim NULL = defaults.
** On failure *out is zeroed and nothing is leaked. Errors: EF_ERR_IO (cannot open or
** read), EF_ERR_FORMAT (not a PNG, truncated, corrupt, over a limit: the message
** names the file and the problem), EF_ERR_NOMEM. */
ef_status ef_png_read(const char *path, const ef_png_limits *lim, ef_png_image *out, ef_err *err);

/* As ef_png_read from n bytes in memory; label names them in errors. */
ef_status ef_png_read_mem(const uint8_t *data, size_t n, const char *label, const ef_png_limits *lim,
                          ef_png_image *out, ef_err *err);

void ef_png_image_free(ef_png_image *img);   /* NULL or zeroed is a no-op */

#endif /* EF_IO_PNG_H */
