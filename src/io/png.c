/*
** png.c -- PNG read/write over libpng with setjmp error handling (see png.h).
**
** libpng reports errors by longjmp. Each libpng session runs in one function
** (read_body / write_body) that calls setjmp first and keeps everything it allocates
** in a state struct owned by its caller, so after a longjmp the caller frees it all;
** no local of the setjmp frame is read after the jump. The error callback copies
** libpng's message into the state; warnings are dropped (nothing is printed).
*/
#include "io/png.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"
#include "core/platform.h"

#define KEYWORD "parameters"

ef_png_limits ef_png_default_limits(void) {
    ef_png_limits l = {16384, (uint64_t)64 << 20, (size_t)8 << 20};
    return l;
}

/* ---- UTF-8 <-> Latin-1 ------------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s (n bytes); returns its length, 0 if invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || len > n || s[0] > 0xF4) return 0;
    uint32_t c = s[0] & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < MIN[len] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) return 0;
    *cp = c;
    return len;
}

/* 1 if s (n bytes) is valid UTF-8; *latin1 = every code point <= 0xFF. */
static int utf8_check(const char *s, size_t n, int *latin1) {
    *latin1 = 1;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!l) return 0;
        if (cp > 0xFF) *latin1 = 0;
        i += l;
    }
    return 1;
}

/* Latin-1 bytes of a Latin-1-only UTF-8 string (out has room for n + 1). */
static size_t utf8_to_latin1(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_next((const unsigned char *)s + i, n - i, &cp);
        out[o++] = (char)cp;
    }
    out[o] = '\0';
    return o;
}

/* A new NUL-terminated UTF-8 copy of n Latin-1 bytes (stops at an embedded NUL). */
static char *latin1_to_utf8(const char *s, size_t n) {
    char *out = malloc(2 * n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xC0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- libpng messages --------------------------------------------------------------- */

/* libpng's error text, with the last warning before it: libpng often explains an
** error only in a warning ("Image width is zero in IHDR" then "Invalid IHDR data"). */
typedef struct png_msgs {
    char msg[400];
    char warn[160];
} png_msgs;

static void on_error(png_structp png, png_const_charp msg) {
    png_msgs *m = png_get_error_ptr(png);
    if (m->warn[0]) snprintf(m->msg, sizeof m->msg, "PNG error: %s (%s)", msg, m->warn);
    else snprintf(m->msg, sizeof m->msg, "PNG error: %s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    png_msgs *m = png_get_error_ptr(png);
    snprintf(m->warn, sizeof m->warn, "%s", msg);
}

/* ---- reading ---------------------------------------------------------------------- */

typedef struct rd_state {
    const uint8_t *data;
    size_t         n, at;
    ef_png_limits  lim;
    png_msgs       m;            /* what went wrong, without the label */
    int            nomem;
    uint8_t       *rgb;          /* owned until handed to the caller */
    png_bytep     *rows;
    char          *params;
    uint32_t       w, h;
} rd_state;

static void read_fn(png_structp png, png_bytep out, size_t len) {
    rd_state *st = png_get_io_ptr(png);
    if (st->n - st->at < len) png_error(png, "the file is truncated");
    memcpy(out, st->data + st->at, len);
    st->at += len;
}

/* The "parameters" text of one text chunk as UTF-8, or NULL (not ours, invalid, or
** longer than max bytes: libpng bounds decompressed text, not a plain tEXt). */
static char *text_of(const png_text *t, size_t max) {
    if (!t->key || strcmp(t->key, KEYWORD) != 0 || !t->text) return NULL;
    if (t->compression == PNG_TEXT_COMPRESSION_NONE || t->compression == PNG_TEXT_COMPRESSION_zTXt)
        return t->text_length > max ? NULL : latin1_to_utf8(t->text, t->text_length);
    size_t n = strlen(t->text);
    if (n > max) return NULL;
    int latin1;
    if (!utf8_check(t->text, n, &latin1)) return NULL;   /* PIL drops an undecodable iTXt */
    char *out = malloc(n + 1);
    if (out) memcpy(out, t->text, n + 1);
    return out;
}

/* Keeps the last "parameters" chunk of info in st->params. */
static void take_text(png_structp png, png_infop info, rd_state *st) {
    png_textp text = NULL;
    int num = 0;
    png_get_text(png, info, &text, &num);
    for (int i = 0; i < num; i++) {
        char *s = text_of(&text[i], st->lim.max_chunk_bytes);
        if (!s) continue;
        free(st->params);
        st->params = s;
    }
}

/* One libpng read session. Returns 0, or -1 with st->m.msg set. */
static int read_body(png_structp png, png_infop info, png_infop end, rd_state *st) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_read_fn(png, st, read_fn);
    png_set_user_limits(png, st->lim.max_side, st->lim.max_side);
    png_set_chunk_malloc_max(png, st->lim.max_chunk_bytes);
    png_set_chunk_cache_max(png, 256);
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);   /* ancillary CRC errors are fatal too */
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &color, NULL, NULL, NULL);
    if ((uint64_t)w * h > st->lim.max_pixels) {
        snprintf(st->m.msg, sizeof st->m.msg, "%lux%lu pixels exceed the limit of %llu pixels", (unsigned long)w,
                 (unsigned long)h, (unsigned long long)st->lim.max_pixels);
        return -1;
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 || png_get_rowbytes(png, info) != 3 * (size_t)w) {
        snprintf(st->m.msg, sizeof st->m.msg, "cannot convert color type %d, bit depth %d to RGB8", color, depth);
        return -1;
    }
    st->rgb = malloc((size_t)w * h * 3);
    st->rows = malloc((size_t)h * sizeof *st->rows);
    if (!st->rgb || !st->rows) {
        st->nomem = 1;
        snprintf(st->m.msg, sizeof st->m.msg, "out of memory for a %lux%lu image", (unsigned long)w, (unsigned long)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++) st->rows[y] = st->rgb + (size_t)y * w * 3;
    png_read_image(png, st->rows);
    png_read_end(png, end);
    take_text(png, info, st);
    take_text(png, end, st);
    st->w = w;
    st->h = h;
    return 0;
}

/* Walks the chunk list of data (n bytes, signature checked) before libpng sees it:
** every declared length must fit in the bytes that follow. libpng 1.6.39 allocates an
** iTXt's declared length before reading it (a 200-byte file claiming 1.8 GB took 1.8 GB;
** found by fuzz_png), whatever png_set_chunk_malloc_max says; with this check nothing
** it allocates exceeds the file. (Ancillary chunks over the limit are still skipped by
** libpng, not refused.) Returns 0, or -1 with msg set. Bytes after IEND are ignored. */
static int check_chunks(const uint8_t *data, size_t n, char *msg, size_t msg_size) {
    size_t at = 8;
    while (n - at >= 12) {   /* length, type, CRC */
        const uint8_t *c = data + at;
        const uint32_t len = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        char type[5] = {(char)c[4], (char)c[5], (char)c[6], (char)c[7], 0};
        for (int i = 0; i < 4; i++)
            if (!((type[i] >= 'A' && type[i] <= 'Z') || (type[i] >= 'a' && type[i] <= 'z'))) type[i] = '?';
        if (len > n - at - 12) {
            snprintf(msg, msg_size, "PNG error: chunk '%s' claims %lu bytes but the file has %zu left (truncated?)", type,
                     (unsigned long)len, n - at - 12);
            return -1;
        }
        if (memcmp(c + 4, "IEND", 4) == 0) return 0;
        at += 12 + (size_t)len;
    }
    return 0;   /* a missing IEND or a short tail: libpng reports it */
}

ef_status ef_png_read_mem(const uint8_t *data, size_t n, const char *label, const ef_png_limits *lim,
                          ef_png_image *out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "png: out is NULL");
    memset(out, 0, sizeof *out);
    if (!label) label = "png";
    if (!data && n) return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: NULL data", label);
    if (n < 8 || png_sig_cmp(data, 0, 8) != 0)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: not a PNG file (%s)", label,
                          n == 0 ? "empty" : "bad signature");
    const ef_png_limits limits = lim ? *lim : ef_png_default_limits();
    char why[160];
    if (check_chunks(data, n, why, sizeof why) != 0)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %s", label, why);
    rd_state *st = calloc(1, sizeof *st);
    if (!st) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", label);
    st->data = data;
    st->n = n;
    st->lim = limits;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st->m, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = png ? png_create_info_struct(png) : NULL;
    int rc = png && info && end ? read_body(png, info, end, st) : -1;
    if (!png || !info || !end) {
        st->nomem = 1;
        snprintf(st->m.msg, sizeof st->m.msg, "out of memory for libpng");
    }
    png_destroy_read_struct(&png, &info, &end);
    ef_status s = EF_OK;
    if (rc == 0) {
        out->rgb = st->rgb;
        out->width = st->w;
        out->height = st->h;
        out->parameters = st->params;
    } else {
        free(st->rgb);
        free(st->params);
        s = ef_err_set(err, st->nomem ? EF_ERR_NOMEM : EF_ERR_FORMAT, "%s: %s", label, st->m.msg);
    }
    free(st->rows);
    free(st);
    return s;
}

ef_status ef_png_read(const char *path, const ef_png_limits *lim, ef_png_image *out, ef_err *err) {
    if (!out) return ef_err_set(err, EF_ERR_INVALID_ARG, "png: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return ef_err_set(err, EF_ERR_INVALID_ARG, "png: path is NULL");
    ef_file_map m;
    EF_TRY(ef_file_map_open(path, 0, &m, err));
    ef_status s = ef_png_read_mem(m.data, m.size, path, lim, out, err);
    ef_file_map_close(&m);
    return s;
}

void ef_png_image_free(ef_png_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img->parameters);
    memset(img, 0, sizeof *img);
}

/* ---- writing ---------------------------------------------------------------------- */

typedef struct wr_state {
    FILE    *f;
    png_msgs m;
    int      io_error;
} wr_state;

static void write_fn(png_structp png, png_bytep data, size_t len) {
    wr_state *st = png_get_io_ptr(png);
    if (fwrite(data, 1, len, st->f) != len) {
        st->io_error = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

static void flush_fn(png_structp png) {
    wr_state *st = png_get_io_ptr(png);
    if (fflush(st->f) != 0) {
        st->io_error = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

/* One libpng write session. Returns 0, or -1 with st->m.msg set. */
static int write_body(png_structp png, png_infop info, wr_state *st, const uint8_t *rgb, uint32_t w, uint32_t h,
                      png_text *text) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, st, write_fn, flush_fn);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (text) png_set_text(png, info, text, 1);
    png_write_info(png, info);
    for (uint32_t y = 0; y < h; y++) png_write_row(png, rgb + (size_t)y * w * 3);
    png_write_end(png, NULL);
    return 0;
}

ef_status ef_png_write(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                       const char *parameters, ef_err *err) {
    if (!path || !rgb) return ef_err_set(err, EF_ERR_INVALID_ARG, "png write: NULL argument");
    if (width == 0 || height == 0 || width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX)
        return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: bad image size %lux%lu", path, (unsigned long)width,
                          (unsigned long)height);
    png_text text;
    char *latin = NULL;
    memset(&text, 0, sizeof text);
    if (parameters) {
        size_t n = strlen(parameters);
        int is_latin1;
        if (!utf8_check(parameters, n, &is_latin1))
            return ef_err_set(err, EF_ERR_INVALID_ARG, "%s: the parameters text is not valid UTF-8", path);
        text.key = (png_charp)KEYWORD;
        if (is_latin1) {   /* tEXt, Latin-1 bytes */
            latin = malloc(n + 1);
            if (!latin) return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory", path);
            text.compression = PNG_TEXT_COMPRESSION_NONE;
            text.text_length = utf8_to_latin1(parameters, n, latin);
            text.text = latin;
        } else {           /* iTXt, UTF-8, uncompressed */
            text.compression = PNG_ITXT_COMPRESSION_NONE;
            text.text = (png_charp)parameters;
            text.itxt_length = n;
        }
    }
    wr_state st;
    memset(&st, 0, sizeof st);
    st.f = fopen(path, "wb");
    if (!st.f) {
        free(latin);
        return ef_err_set(err, EF_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st.m, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = png && info ? write_body(png, info, &st, rgb, width, height, parameters ? &text : NULL) : -1;
    if (!png || !info) snprintf(st.m.msg, sizeof st.m.msg, "out of memory for libpng");
    png_destroy_write_struct(&png, &info);
    free(latin);
    int close_failed = fclose(st.f) != 0;
    if (rc == 0 && !close_failed) return EF_OK;
    remove(path);
    if (st.io_error || close_failed)
        return ef_err_set(err, EF_ERR_IO, "%s: write failed: %s", path, strerror(st.io_error ? st.io_error : EIO));
    return ef_err_set(err, EF_ERR_FORMAT, "%s: %s", path, st.m.msg);
}
