/*
** fuzz_png.c -- libFuzzer target for the PNG reader (ef_png_read_mem) and the A1111
** parameters parser: every input is read as a PNG (small limits, so hostile sizes
** are refused quickly), and parsed as a parameters text, whose typed view is then
** written back and parsed again. Built and run by `make fuzz`.
**
** Invariants checked (abort on violation): a failed read leaves the image zeroed and
** sets a message; a successful one returns width*height within the limits; the
** parser never fails on input under its size limit, its params are NUL-terminated
** strings, and what the writer makes of a parse parses again.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/a1111.h"
#include "io/png.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_png(const uint8_t *data, size_t size) {
    ef_png_limits lim = {512, 1u << 16, 1u << 16};
    ef_png_image img;
    ef_err err;
    ef_err_clear(&err);
    if (ef_png_read_mem(data, size, "fuzz.png", &lim, &img, &err) != EF_OK) {
        if (img.rgb || img.parameters || err.msg[0] == '\0') abort();
        return;
    }
    if (!img.rgb || img.width == 0 || img.height == 0 || img.width > 512 || (uint64_t)img.width * img.height > (1u << 16))
        abort();
    volatile uint8_t sink = img.rgb[(size_t)img.width * img.height * 3 - 1];
    (void)sink;
    if (img.parameters && strlen(img.parameters) > (1u << 17)) abort();   /* <= 2 bytes per Latin-1 byte */
    ef_png_image_free(&img);
}

static void fuzz_a1111(const uint8_t *data, size_t size) {
    ef_a1111_parsed p;
    ef_err err;
    ef_err_clear(&err);
    if (ef_a1111_parameters_parse((const char *)data, size, &p, &err) != EF_OK) {
        if (size <= EF_A1111_MAX_TEXT && !strstr(err.msg, "more than")) abort();
        return;
    }
    for (size_t i = 0; i < p.n_params; i++)
        if (strlen(p.params[i].key) + strlen(p.params[i].value) > size + 32) abort();   /* + defaults, "-1" */
    ef_gen_info g;
    if (ef_a1111_to_gen_info(&p, &g, &err) == EF_OK) {
        size_t len = 0;
        (void)ef_a1111_parameters_format(&g, NULL, 0, &len, &err);   /* the size */
        char *out = malloc(len + 1);
        ef_status rc = ef_a1111_parameters_format(&g, out, len + 1, &len, &err);
        if (rc == EF_OK) {   /* invalid UTF-8 in the input is refused by the writer: fine */
            ef_a1111_parsed q;
            if (ef_a1111_parameters_parse(out, len, &q, &err) != EF_OK && len <= EF_A1111_MAX_TEXT &&
                !strstr(err.msg, "more than"))
                abort();
            ef_a1111_parsed_free(&q);
        }
        free(out);
    }
    ef_a1111_parsed_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_png(data, size);
    fuzz_a1111(data, size);
    return 0;
}
