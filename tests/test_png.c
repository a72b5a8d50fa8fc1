/*
** test_png.c -- PNG read/write, the A1111 parameters text and SHA-256.
**
** Round trips write -> read -> A1111 parse for prompts with commas, colons, quotes,
** newlines and non-Latin text (tEXt vs iTXt); PNG kinds the reader converts to RGB8;
** malformed files (truncated, bad CRC, zero or huge sizes) rejected naming the file;
** the writer's exact text for ecosystem.md's example; SHA-256 known-answer vectors.
** The parser's regex logic was also cross-checked against Python's re on thousands of
** random strings while it was written (see a1111.h).
*/
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"
#include "core/sha256.h"
#include "ef_test.h"
#include "io/a1111.h"
#include "io/png.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void tmp_file(char *out, size_t n, const char *dir, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static uint8_t *read_bytes(const char *path, size_t *n) {
    char *buf = NULL;
    ef_err err = {0};
    if (ef_file_read_all(path, 64u << 20, &buf, n, &err) != EF_OK) return NULL;
    return (uint8_t *)buf;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Offset of the first chunk of type t in a PNG (its length field), or 0. */
static size_t find_chunk(const uint8_t *png, size_t n, const char *t) {
    for (size_t at = 8; at + 12 <= n;) {
        uint32_t len = be32(png + at);
        if (memcmp(png + at + 4, t, 4) == 0) return at;
        if (len > n - at - 12) return 0;
        at += 12 + len;
    }
    return 0;
}

/* Recomputes the CRC of the chunk at off. */
static void fix_crc(uint8_t *png, size_t off) {
    uint32_t len = be32(png + off);
    put_be32(png + off + 8 + len, crc32_of(png + off + 4, 4 + len));
}

static uint8_t *test_image(uint32_t w, uint32_t h) {
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) rgb[i] = (uint8_t)(i * 31 + i / 7);
    return rgb;
}

/* ---- sha256 ------------------------------------------------------------------------ */

static void test_sha256_vectors(ef_test *t) {
    static const struct { const char *msg, *hex; } V[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
        uint8_t d[32];
        char hex[65];
        EF_CHECK_INT(t, ef_sha256(V[i].msg, strlen(V[i].msg), d, NULL), EF_OK);
        ef_sha256_hex(d, 32, hex);
        EF_CHECK_MSG(t, strcmp(hex, V[i].hex) == 0, "sha256(\"%s\") = %s, expected %s", V[i].msg, hex, V[i].hex);
    }
    /* one million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    ef_sha256_ctx s;
    EF_CHECK_INT(t, ef_sha256_init(&s, NULL), EF_OK);
    for (size_t at = 0, step = 1; at < 1000000; at += step, step = step * 3 % 1000 + 1)
        ef_sha256_update(&s, a + at, at + step > 1000000 ? 1000000 - at : step);
    uint8_t d[32];
    char hex[65];
    EF_CHECK_INT(t, ef_sha256_final(&s, d, NULL), EF_OK);
    ef_sha256_hex(d, 32, hex);
    EF_CHECK_MSG(t, strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "1M a: %s", hex);
    /* a file, and A1111's short model hash of it */
    char dir[256], path[512], shorth[11];
    ef_test_tmpdir(dir, sizeof dir);
    tmp_file(path, sizeof path, dir, "weights.safetensors");
    EF_CHECK(t, ef_test_write_file(path, a, 1000000));
    ef_err err = {0};
    EF_CHECK_INT(t, ef_sha256_file(path, d, &err), EF_OK);
    ef_sha256_hex(d, 32, hex);
    EF_CHECK(t, strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    EF_CHECK_INT(t, ef_a1111_model_hash(path, shorth, &err), EF_OK);
    EF_CHECK(t, strcmp(shorth, "cdc76e5c99") == 0);
    remove(path);
    EF_CHECK_INT(t, ef_a1111_model_hash(path, shorth, &err), EF_ERR_IO);
    EF_CHECK(t, strstr(err.msg, "weights.safetensors") != NULL);
    remove(dir);
    free(a);
}

/* ---- A1111 text ----------------------------------------------------------------------- */

static void test_a1111_format_example(ef_test *t) {
    ef_gen_info g = ef_gen_info_default();
    g.prompt = "a photo of a cat, (masterpiece:1.2), <lora:lcm-lora-sdv1-5:1>";
    g.negative_prompt = "blurry, lowres";
    g.steps = 4;
    g.sampler = "LCM";
    g.schedule_type = "Karras";
    g.cfg_scale = 1.0;
    g.seed = 965400086;
    g.width = g.height = 512;
    g.model_hash = "45dee52b";
    g.model = "bk-sdm-tiny";
    g.clip_skip = 2;
    g.rng = "CPU";
    g.version = "v1.10.1";
    const char *want = "a photo of a cat, (masterpiece:1.2), <lora:lcm-lora-sdv1-5:1>\n"
                       "Negative prompt: blurry, lowres\n"
                       "Steps: 4, Sampler: LCM, Schedule type: Karras, CFG scale: 1, Seed: 965400086, Size: 512x512, "
                       "Model hash: 45dee52b, Model: bk-sdm-tiny, Clip skip: 2, RNG: CPU, Version: v1.10.1";
    char out[1024];
    size_t len = 0;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_a1111_parameters_format(&g, out, sizeof out, &len, &err), EF_OK);
    EF_CHECK_MSG(t, strcmp(out, want) == 0, "got:\n%s\nwant:\n%s", out, want);
    EF_CHECK_INT(t, len, strlen(want));
    /* img2img, reals, quoting, extras, a bare key (value == key) */
    ef_a1111_param extra[2] = {{"VAE Decoder", "TAESD"}, {"Lora hashes", "lcm: 1a2b3c, x: 4d5e"}};
    g.negative_prompt = "";
    g.cfg_scale = 7.5;
    g.denoising_strength = 0.75;
    g.clip_skip = 1;
    g.rng = NULL;
    g.schedule_type = NULL;
    g.model = "my model: v2, \"final\"";
    g.extra = extra;
    g.n_extra = 2;
    want = "a photo of a cat, (masterpiece:1.2), <lora:lcm-lora-sdv1-5:1>\n"
           "Steps: 4, Sampler: LCM, CFG scale: 7.5, Seed: 965400086, Size: 512x512, Model hash: 45dee52b, "
           "Model: \"my model: v2, \\\"final\\\"\", Denoising strength: 0.75, VAE Decoder: TAESD, "
           "Lora hashes: \"lcm: 1a2b3c, x: 4d5e\", Version: v1.10.1";
    EF_CHECK_INT(t, ef_a1111_parameters_format(&g, out, sizeof out, &len, &err), EF_OK);
    EF_CHECK_MSG(t, strcmp(out, want) == 0, "got:\n%s\nwant:\n%s", out, want);
    /* a short buffer: the needed size comes back, the text is truncated and terminated */
    char small[16];
    EF_CHECK_INT(t, ef_a1111_parameters_format(&g, small, sizeof small, &len, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, len, strlen(want));
    EF_CHECK_INT(t, strlen(small), 15);
    EF_CHECK(t, strstr(err.msg, "needs") != NULL);
    /* bad inputs */
    ef_a1111_param bad_key = {"a:b", "x"};
    g.extra = &bad_key;
    g.n_extra = 1;
    EF_CHECK_INT(t, ef_a1111_parameters_format(&g, out, sizeof out, &len, &err), EF_ERR_INVALID_ARG);
    g.n_extra = 0;
    g.prompt = "\xff\xfe";
    EF_CHECK_INT(t, ef_a1111_parameters_format(&g, out, sizeof out, &len, &err), EF_ERR_INVALID_ARG);
    EF_CHECK(t, strstr(err.msg, "prompt") != NULL);
}

static void test_a1111_parse(ef_test *t) {
    /* the docstring example of A1111's parse_generation_parameters */
    const char *x = "girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup, "
                    "by Alphonse Mucha and Charlie Bowater, ((eyeshadow)), (coquettish), detailed, intricate\n"
                    "Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy, disfigured, "
                    "poorly drawn face, mutation, mutated, (extra_limb), (ugly), (poorly drawn hands), messy drawing\n"
                    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
    ef_a1111_parsed p;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_a1111_parameters_parse(x, strlen(x), &p, &err), EF_OK);
    EF_CHECK(t, strncmp(p.prompt, "girl with an artist's beret", 27) == 0 && strstr(p.prompt, "\n") == NULL);
    EF_CHECK(t, strncmp(p.negative_prompt, "ugly, fat", 9) == 0);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Sampler"), "Euler a") == 0);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Size-1"), "512") == 0 && strcmp(ef_a1111_get(&p, "Size-2"), "512") == 0);
    EF_CHECK(t, ef_a1111_get(&p, "Size") == NULL);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Clip skip"), "1") == 0);          /* defaults */
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "RNG"), "GPU") == 0);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Schedule type"), "Automatic") == 0);
    ef_gen_info g;
    EF_CHECK_INT(t, ef_a1111_to_gen_info(&p, &g, &err), EF_OK);
    EF_CHECK_INT(t, g.steps, 20);
    EF_CHECK_NEAR(t, g.cfg_scale, 7.0, 0);
    EF_CHECK_INT(t, g.seed, 965400086);
    EF_CHECK(t, g.width == 512 && g.height == 512 && g.clip_skip == 0 && !g.rng && !g.schedule_type);
    ef_a1111_parsed_free(&p);

    /* a last line with fewer than 3 pairs is prompt text; quoted values are unquoted;
    ** an empty value is skipped; a failed json.loads keeps the raw text */
    x = "  first line\n  Negative prompt:  neg one \nneg two\nSteps: 3, Model: \"a, \\\"b\\\": c\", Empty:, "
        "Broken: \"x\\q\", Later: 1, Steps: 5";
    EF_CHECK_INT(t, ef_a1111_parameters_parse(x, strlen(x), &p, &err), EF_OK);
    EF_CHECK(t, strcmp(p.prompt, "first line") == 0);
    EF_CHECK(t, strcmp(p.negative_prompt, "neg one\nneg two") == 0);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Model"), "a, \"b\": c") == 0);
    EF_CHECK(t, ef_a1111_get(&p, "Empty") == NULL);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Broken"), "\"x\\q\"") == 0);
    EF_CHECK(t, strcmp(ef_a1111_get(&p, "Steps"), "5") == 0);              /* later duplicate overwrites */
    EF_CHECK(t, strcmp(p.params[0].key, "Steps") == 0);                    /* ... in place */
    EF_CHECK_INT(t, p.n_extra, 2);                                         /* Broken, Later */
    ef_a1111_parsed_free(&p);
    x = "only a prompt, with: one colon\nand, a: second";
    EF_CHECK_INT(t, ef_a1111_parameters_parse(x, strlen(x), &p, &err), EF_OK);
    EF_CHECK(t, strcmp(p.prompt, x) == 0);
    EF_CHECK_INT(t, p.n_params, 3);                                        /* just the defaults */
    ef_a1111_parsed_free(&p);
    /* typed view errors name the key */
    x = "p\nSteps: many, Sampler: x, CFG scale: 7";
    EF_CHECK_INT(t, ef_a1111_parameters_parse(x, strlen(x), &p, &err), EF_OK);
    EF_CHECK_INT(t, ef_a1111_to_gen_info(&p, &g, &err), EF_ERR_FORMAT);
    EF_CHECK(t, strstr(err.msg, "'Steps' = 'many'") != NULL);
    ef_a1111_parsed_free(&p);
    /* limits */
    size_t big = EF_A1111_MAX_TEXT + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    EF_CHECK_INT(t, ef_a1111_parameters_parse(huge, big, &p, &err), EF_ERR_FORMAT);
    size_t at = 0;
    for (int i = 0; i < EF_A1111_MAX_PARAMS + 10; i++) at += (size_t)sprintf(huge + at, "k%d: v, ", i);
    EF_CHECK_INT(t, ef_a1111_parameters_parse(huge, at, &p, &err), EF_ERR_FORMAT);
    EF_CHECK(t, strstr(err.msg, "more than") != NULL);
    /* hostile input stays linear: a long key run with no colon, then quotes and escapes */
    memset(huge, 'a', EF_A1111_MAX_TEXT);
    EF_CHECK_INT(t, ef_a1111_parameters_parse(huge, EF_A1111_MAX_TEXT, &p, &err), EF_OK);
    ef_a1111_parsed_free(&p);
    for (size_t i = 0; i < EF_A1111_MAX_TEXT; i++) huge[i] = "ab: \"\\,\n"[i % 8];
    EF_CHECK_INT(t, ef_a1111_parameters_parse(huge, EF_A1111_MAX_TEXT, &p, &err), EF_OK);
    ef_a1111_parsed_free(&p);
    free(huge);
    ef_a1111_parsed_free(&p);   /* zeroed: no-op */
}

/* ---- PNG round trips -------------------------------------------------------------- */

/* Writes g as the parameters of a small PNG, reads it back, parses it, and compares
** every field. chunk: the text chunk type expected in the file. */
static void round_trip(ef_test *t, const char *dir, const ef_gen_info *g, const char *chunk) {
    char text[8192], path[512];
    size_t len;
    ef_err err = {0};
    EF_CHECK_INT(t, ef_a1111_parameters_format(g, text, sizeof text, &len, &err), EF_OK);
    tmp_file(path, sizeof path, dir, "rt.png");
    uint8_t *rgb = test_image(13, 7);
    EF_CHECK_INT(t, ef_png_write(path, rgb, 13, 7, text, &err), EF_OK);
    size_t n;
    uint8_t *bytes = read_bytes(path, &n);
    EF_CHECK_MSG(t, bytes && find_chunk(bytes, n, chunk) && find_chunk(bytes, n, chunk) < find_chunk(bytes, n, "IDAT"),
                 "%s: no %s chunk before IDAT", g->prompt, chunk);
    free(bytes);
    ef_png_image img;
    EF_CHECK_INT(t, ef_png_read(path, NULL, &img, &err), EF_OK);
    EF_CHECK(t, img.width == 13 && img.height == 7 && img.rgb && memcmp(img.rgb, rgb, 13 * 7 * 3) == 0);
    EF_CHECK_MSG(t, img.parameters && strcmp(img.parameters, text) == 0, "parameters differ: '%s'", img.parameters);
    ef_a1111_parsed p;
    ef_gen_info b;
    EF_CHECK_INT(t, ef_a1111_parameters_parse(img.parameters, img.parameters ? strlen(img.parameters) : 0, &p, &err),
                 EF_OK);
    EF_CHECK_INT(t, ef_a1111_to_gen_info(&p, &b, &err), EF_OK);
#define SAME_STR(f) EF_CHECK_MSG(t, strcmp(g->f ? g->f : "", b.f ? b.f : "") == 0, #f ": '%s' != '%s'", g->f ? g->f : "", b.f ? b.f : "")
    SAME_STR(prompt);
    SAME_STR(negative_prompt);
    SAME_STR(sampler);
    SAME_STR(schedule_type);
    SAME_STR(model_hash);
    SAME_STR(model);
    SAME_STR(vae);
    SAME_STR(rng);
    SAME_STR(version);
#undef SAME_STR
    EF_CHECK_INT(t, b.steps, g->steps);
    EF_CHECK_NEAR(t, b.cfg_scale, g->cfg_scale, 0);
    EF_CHECK_INT(t, b.seed, g->seed);
    EF_CHECK(t, b.width == g->width && b.height == g->height);
    EF_CHECK_NEAR(t, b.denoising_strength, g->denoising_strength, 0);
    EF_CHECK_INT(t, b.clip_skip, g->clip_skip);
    EF_CHECK_INT(t, b.n_extra, g->n_extra);
    for (int i = 0; i < b.n_extra && i < g->n_extra; i++)
        EF_CHECK(t, strcmp(b.extra[i].key, g->extra[i].key) == 0 && strcmp(b.extra[i].value, g->extra[i].value) == 0);
    ef_a1111_parsed_free(&p);
    ef_png_image_free(&img);
    free(rgb);
    remove(path);
}

static void test_png_round_trip(ef_test *t) {
    char dir[256];
    ef_test_tmpdir(dir, sizeof dir);
    static const char *const PROMPTS[][2] = {
        /* prompt, negative: commas, colons, quotes, backslashes, several lines */
        {"a cat, (masterpiece:1.2), <lora:x:0.8>, \"quoted\" and \\slashed\\", "blurry, lowres: 2, \"no\""},
        {"line one, a: b\nline two\n\nline four after an empty line", "neg line 1\nneg line 2, c: d"},
        {"Latin-1 only: caf\xc3\xa9, na\xc3\xafve, \xc2\xb5, \xc3\x9f", ""},
    };
    static const char *const NONLATIN[][2] = {
        {"\xe7\x8c\xab\xe3\x81\xae\xe5\x86\x99\xe7\x9c\x9f, \xe6\xb0\xb4\xe5\xbd\xa9\xe7\x94\xbb: 1.2",   /* 猫の写真, 水彩画: 1.2 */
         "\xd0\xbf\xd0\xbb\xd0\xbe\xd1\x85\xd0\xbe, \xf0\x9f\x98\x80"},                                 /* плохо, 😀 */
    };
    ef_a1111_param extra[2] = {{"VAE Decoder", "TAESD"}, {"Lora hashes", "\"a: b\", c"}};
    for (int k = 0; k < 4; k++) {
        ef_gen_info g = ef_gen_info_default();
        g.prompt = k < 3 ? PROMPTS[k][0] : NONLATIN[0][0];
        g.negative_prompt = k < 3 ? PROMPTS[k][1] : NONLATIN[0][1];
        g.steps = 4 + k;
        g.sampler = k == 1 ? "DPM++ 2M" : "Euler a";
        g.schedule_type = k == 1 ? "Karras" : NULL;
        g.cfg_scale = k == 2 ? 7.5 : 1.0;
        g.seed = 4294967295LL + k;
        g.width = 512;
        g.height = 768;
        g.model_hash = "cdc76e5c99";
        g.model = k == 3 ? "\xe6\xa8\xa1\xe5\x9e\x8b, v1: \"x\"" : "bk-sdm-tiny";
        g.vae = k == 2 ? "taesd" : NULL;
        g.denoising_strength = k == 1 ? 0.35 : -1.0;
        g.clip_skip = k == 1 ? 2 : 0;
        g.rng = k == 1 ? "CPU" : NULL;
        g.extra = extra;
        g.n_extra = k == 2 ? 2 : 0;
        g.version = "edgefusion 0.1.0";
        round_trip(t, dir, &g, k < 3 ? "tEXt" : "iTXt");
    }
    remove(dir);
}

/* Writes a PNG of any kind with libpng (for the reader's conversions). */
static int write_kind(const char *path, uint32_t w, uint32_t h, int color, int depth, int interlace,
                      const uint8_t *rows, size_t rowbytes, const png_color *pal, int n_pal) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, n_pal);
    png_text tx = {PNG_TEXT_COMPRESSION_zTXt, (png_charp) "parameters", (png_charp) "z\xe9txt", 0, 0, NULL, NULL};
    png_set_text(png, info, &tx, 1);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (uint32_t y = 0; y < h; y++) png_write_row(png, rows + y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

static void test_png_kinds(ef_test *t) {
    char dir[256], path[512];
    ef_test_tmpdir(dir, sizeof dir);
    tmp_file(path, sizeof path, dir, "kind.png");
    enum { W = 5, H = 3 };
    uint8_t src[W * H * 8];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 37 + 11);
    png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    struct { const char *name; int color, depth, channels; } K[] = {
        {"gray8", PNG_COLOR_TYPE_GRAY, 8, 1},          {"gray-alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 2},
        {"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, 4},     {"rgb16", PNG_COLOR_TYPE_RGB, 16, 6},
        {"palette8", PNG_COLOR_TYPE_PALETTE, 8, 1},    {"gray2", PNG_COLOR_TYPE_GRAY, 2, 0},
    };
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        for (int il = 0; il < 2; il++) {
            uint8_t rows[W * H * 8];
            size_t rowbytes = K[k].channels ? (size_t)W * K[k].channels : 2;   /* gray2: 5 px in 2 bytes */
            for (size_t i = 0; i < rowbytes * H; i++)
                rows[i] = K[k].color == PNG_COLOR_TYPE_PALETTE ? (uint8_t)(src[i] % 4) : src[i];
            EF_CHECK(t, write_kind(path, W, H, K[k].color, K[k].depth, il ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                                   rows, rowbytes, K[k].color == PNG_COLOR_TYPE_PALETTE ? pal : NULL, 4));
            ef_png_image img;
            ef_err err = {0};
            ef_status rc = ef_png_read(path, NULL, &img, &err);
            EF_CHECK_MSG(t, rc == EF_OK, "%s: %s", K[k].name, err.msg);
            if (rc != EF_OK) continue;
            EF_CHECK(t, img.width == W && img.height == H);
            EF_CHECK_MSG(t, img.parameters && strcmp(img.parameters, "z\xc3\xa9txt") == 0, "%s: zTXt Latin-1 -> UTF-8",
                         K[k].name);
            int ok = 1;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    const uint8_t *o = img.rgb + (y * W + x) * 3, *r = rows + y * rowbytes;
                    uint8_t e[3];
                    switch (K[k].color) {
                    case PNG_COLOR_TYPE_GRAY:
                        e[0] = K[k].depth == 8 ? r[x] : (uint8_t)(((r[x / 4] >> (6 - 2 * (x % 4))) & 3) * 85);
                        e[1] = e[2] = e[0];
                        break;
                    case PNG_COLOR_TYPE_GRAY_ALPHA: e[0] = e[1] = e[2] = r[2 * x]; break;
                    case PNG_COLOR_TYPE_RGB_ALPHA: memcpy(e, r + 4 * x, 3); break;
                    case PNG_COLOR_TYPE_RGB: e[0] = r[6 * x]; e[1] = r[6 * x + 2]; e[2] = r[6 * x + 4]; break;
                    default: e[0] = pal[r[x]].red; e[1] = pal[r[x]].green; e[2] = pal[r[x]].blue;
                    }
                    ok &= memcmp(o, e, 3) == 0;
                }
            EF_CHECK_MSG(t, ok, "%s%s: pixels differ after the RGB8 conversion", K[k].name, il ? " interlaced" : "");
            ef_png_image_free(&img);
        }
    }
    remove(path);
    remove(dir);
}

/* ---- malformed files ---------------------------------------------------------------- */

/* Writes n bytes of png to dir/bad.png, reads it with lim, expects status rc and a
** message naming the file and containing what. */
static void expect_bad(ef_test *t, const char *dir, const uint8_t *png, size_t n, const ef_png_limits *lim,
                       ef_status rc, const char *what, const char *label) {
    char path[512];
    tmp_file(path, sizeof path, dir, "bad.png");
    EF_CHECK(t, ef_test_write_file(path, png, n));
    ef_png_image img;
    ef_err err = {0};
    ef_status got = ef_png_read(path, lim, &img, &err);
    EF_CHECK_MSG(t, got == rc, "%s: status %d, expected %d (%s)", label, (int)got, (int)rc, err.msg);
    EF_CHECK_MSG(t, strstr(err.msg, "bad.png") && strstr(err.msg, what), "%s: message '%s' lacks the file or '%s'",
                 label, err.msg, what);
    EF_CHECK(t, img.rgb == NULL && img.parameters == NULL);
    ef_png_image_free(&img);
    remove(path);
}

static void test_png_malformed(ef_test *t) {
    char dir[256], path[512];
    ef_test_tmpdir(dir, sizeof dir);
    tmp_file(path, sizeof path, dir, "good.png");
    uint8_t *rgb = test_image(64, 48);
    ef_err err = {0};
    EF_CHECK_INT(t, ef_png_write(path, rgb, 64, 48, "p\nSteps: 1, Sampler: x, CFG scale: 2", &err), EF_OK);
    size_t n;
    uint8_t *good = read_bytes(path, &n);
    remove(path);
    EF_CHECK(t, good != NULL);
    if (!good) return;
    uint8_t *b = malloc(n);
    const size_t ihdr = find_chunk(good, n, "IHDR"), idat = find_chunk(good, n, "IDAT"), text = find_chunk(good, n, "tEXt");
    EF_CHECK(t, ihdr && idat && text);

    expect_bad(t, dir, good, 0, NULL, EF_ERR_FORMAT, "not a PNG file (empty)", "empty");
    expect_bad(t, dir, (const uint8_t *)"GIF89a.......", 13, NULL, EF_ERR_FORMAT, "bad signature", "signature");
    for (size_t cut = 9; cut < n; cut += n / 7)
        expect_bad(t, dir, good, cut, NULL, EF_ERR_FORMAT, "PNG error", "truncated");
    expect_bad(t, dir, good, n - 12, NULL, EF_ERR_FORMAT, "truncated", "no IEND");
    memcpy(b, good, n);
    b[text] = 0x6f;            /* the text chunk claims 1.8 GB (libpng would allocate it: fuzz_png) */
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "chunk 'tEXt' claims", "huge text length");
    memcpy(b, good, n);
    b[idat + 8 + be32(good + idat) + 1] ^= 0x55;   /* the IDAT CRC itself */
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "CRC", "IDAT CRC");
    memcpy(b, good, n);
    b[idat + 8 + 3] ^= 0x55;   /* IDAT data changed: zlib notices before the CRC */
    fix_crc(b, idat);
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "PNG error", "IDAT data");
    memcpy(b, good, n);
    b[text + 9] ^= 1;          /* the parameters text changed, CRC not: refused too */
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "CRC", "tEXt CRC");
    memcpy(b, good, n);
    b[ihdr + 8 + 3] = 0;       /* width 0 (CRC fixed) */
    b[ihdr + 8 + 2] = 0;
    fix_crc(b, ihdr);
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "Image width is zero", "zero width");
    memcpy(b, good, n);
    put_be32(b + ihdr + 8, 20000);   /* wider than 16384 */
    fix_crc(b, ihdr);
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "exceeds user limit", "huge width");
    memcpy(b, good, n);
    put_be32(b + ihdr + 8, 16000);   /* 16000 x 16000: 256 Mpx > 64 Mpx */
    put_be32(b + ihdr + 12, 16000);
    fix_crc(b, ihdr);
    expect_bad(t, dir, b, n, NULL, EF_ERR_FORMAT, "exceed the limit", "too many pixels");
    ef_png_limits lim = ef_png_default_limits();
    lim.max_pixels = 64 * 47;
    expect_bad(t, dir, good, n, &lim, EF_ERR_FORMAT, "exceed the limit", "pixel limit");

    /* a text chunk over the chunk limit is skipped; in memory; a missing file */
    ef_png_image img;
    lim = ef_png_default_limits();
    lim.max_chunk_bytes = 16;
    EF_CHECK_INT(t, ef_png_read_mem(good, n, "mem.png", &lim, &img, &err), EF_OK);
    EF_CHECK(t, img.rgb && img.parameters == NULL);
    ef_png_image_free(&img);
    EF_CHECK_INT(t, ef_png_read_mem(good, n, "mem.png", NULL, &img, &err), EF_OK);
    EF_CHECK(t, img.width == 64 && memcmp(img.rgb, rgb, 64 * 48 * 3) == 0);
    ef_png_image_free(&img);
    tmp_file(path, sizeof path, dir, "missing.png");
    EF_CHECK_INT(t, ef_png_read(path, NULL, &img, &err), EF_ERR_IO);
    EF_CHECK(t, strstr(err.msg, "missing.png") != NULL);

    /* write errors */
    tmp_file(path, sizeof path, dir, "no-such-dir/x.png");
    EF_CHECK_INT(t, ef_png_write(path, rgb, 64, 48, NULL, &err), EF_ERR_IO);
    EF_CHECK(t, strstr(err.msg, "x.png") != NULL);
    tmp_file(path, sizeof path, dir, "x.png");
    EF_CHECK_INT(t, ef_png_write(path, rgb, 0, 48, NULL, &err), EF_ERR_INVALID_ARG);
    EF_CHECK_INT(t, ef_png_write(path, rgb, 64, 48, "bad \xc3\x28 utf-8", &err), EF_ERR_INVALID_ARG);
    EF_CHECK(t, !ef_path_is_file(path));
    EF_CHECK_INT(t, ef_png_write(path, rgb, 64, 48, NULL, &err), EF_OK);   /* no text chunk at all */
    EF_CHECK_INT(t, ef_png_read(path, NULL, &img, &err), EF_OK);
    EF_CHECK(t, img.parameters == NULL);
    ef_png_image_free(&img);
    remove(path);
    free(b);
    free(good);
    free(rgb);
    remove(dir);
}

const ef_test_case ef_suite_png[] = {
    {"sha256_vectors", test_sha256_vectors},
    {"a1111_format_example", test_a1111_format_example},
    {"a1111_parse", test_a1111_parse},
    {"round_trip", test_png_round_trip},
    {"kinds", test_png_kinds},
    {"malformed", test_png_malformed},
    {0, 0},
};
