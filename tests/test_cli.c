/*
** test_cli.c -- the edgefusion program as a user runs it ($EF_CLI, built by make test):
** help, version, one clear line and a non-zero exit for every bad flag, and a real run
** on the fixture pipeline that writes a loadable .npy.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "edgefusion.h"
#include "ef_test.h"
#include "io/json.h"
#include "io/safetensors.h"

/* Runs the CLI with args (shell-quoted by the caller); captures stdout+stderr. */
static int run_cli(const char *args, char *out, size_t n) {
    const char *cli = getenv("EF_CLI");
    char cmd[2048], tmp[256];
    ef_test_tmpdir(tmp, sizeof tmp);   /* the model-hash cache goes there, not to ~/.cache */
    snprintf(cmd, sizeof cmd, "XDG_CACHE_HOME='%s/cache' %s %s 2>&1", tmp, cli && cli[0] ? cli : "build/edgefusion", args);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_help_version(ef_test *t) {
    char out[8192];
    EF_CHECK_INT(t, run_cli("--help", out, sizeof out), 0);
    EF_CHECK(t, strstr(out, "usage: edgefusion") && strstr(out, "--clip-skip"));
    EF_CHECK(t, strstr(out, "edgefusion convert -m IN -o OUT --type f16|bf16|q8") != NULL);
    EF_CHECK_INT(t, run_cli("convert --help", out, sizeof out), 0);
    EF_CHECK(t, strstr(out, "usage: edgefusion convert") && strstr(out, "--force"));
    EF_CHECK_INT(t, run_cli("--version", out, sizeof out), 0);
    EF_CHECK(t, strstr(out, "edgefusion 0.1.0") != NULL);
}

static void test_bad_flags(ef_test *t) {
    static const struct { const char *args, *needle; } CASES[] = {
        {"", "missing -m"},
        {"-m x", "missing -p"},
        {"--bogus", "unknown option '--bogus'"},
        {"-m", "-m needs a value"},
        {"-m x -p y -t abc", "'abc' is not a thread count"},
        {"-m x -p y -t -1", "not a thread count"},
        {"-m x -p y -t 99999", "not a thread count"},
        {"-m x -p y --clip-skip 0", "--clip-skip"},
        {"-m x -p y --clip-skip 2x", "--clip-skip"},
        {"-m x -p y --variant int3", "not a variant"},
        {"-m x -p y --type q4_0", "not f32, f16, bf16 or q8"},
        {"-m x -p y --kernels sse9", "kernels 'sse9'"},
        {"-m x -p y --sampling-method heun", "not a sampling method"},
        {"-m x -p y --scheduler ays", "not a scheduler"},
        {"-m x -p y --strength 0", "not a strength"},
        {"-m x -p y --strength 1.5", "not a strength"},
        {"-m x -p y --cfg-scale nan", "not a scale"},
        {"-m x -p y -W 12x", "not a width"},
        {"-m x -p y -o out%s.png", "not a file name"},
        {"-m x -p y -o out%d%d.png", "not a file name"},
        {"-m x -p y -b 0", "not a count"},
        {"-m x -p y --token-downsample 5", "not a factor in 1..4"},
        {"-m x -p y -s 1e3", "not an integer seed"},
        {"-m /nonexistent/model -p y", "/nonexistent/model"},
        {"convert -m x -o y --type q4_0", "convert: --type: 'q4_0' is not f16, bf16 or q8"},
        {"convert -m x -o y --type f32", "not f16, bf16 or q8"},
        {"convert -m x -o y", "missing --type"},
        {"convert -m x --type q8", "missing -o"},
        {"convert -o y --type q8", "missing -m"},
        {"convert -m x -o y --type q8 -p z", "unknown option '-p'"},
        {"convert -m x -o y --type q8 --variant int3", "not a variant"},
        {"convert -m /nonexistent/model -o /nonexistent/out --type q8", "/nonexistent/model"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int rc = run_cli(CASES[i].args, out, sizeof out);
        EF_CHECK_MSG(t, rc != 0 && rc != -1, "'%s' exited %d", CASES[i].args, rc);
        EF_CHECK_MSG(t, strstr(out, CASES[i].needle) != NULL, "'%s' said '%s', lacks '%s'", CASES[i].args, out,
                     CASES[i].needle);
        EF_CHECK_MSG(t, count_lines(out) == 1, "'%s' printed %d lines: %s", CASES[i].args, count_lines(out), out);
    }
}

static void test_run_fixture(ef_test *t) {
    char out[8192], args[2048], dir[512], fx[512], npy[600];
    ef_test_tmpdir(dir, sizeof dir);
    snprintf(npy, sizeof npy, "%s/emb.npy", dir);
    snprintf(args, sizeof args, "-m %s -p 'a photo of a cat' -t 2 --encode-only --tokens --embedding-out %s",
             ef_fixture_path(fx, sizeof fx, "tiny-pipe"), npy);
    EF_CHECK_INT(t, run_cli(args, out, sizeof out), 0);
    EF_CHECK_MSG(t, strstr(out, "tokens: 49406 320 1125 539 320 2368 49407") != NULL, "output: %s", out);
    EF_CHECK(t, strstr(out, "prompt: 7 tokens") != NULL);
    struct stat st;
    EF_CHECK(t, stat(npy, &st) == 0 && st.st_size == 128 + 77 * 32 * 4);
    FILE *f = fopen(npy, "rb");
    char head[128] = {0};
    if (f) { EF_CHECK(t, fread(head, 1, sizeof head, f) == sizeof head); fclose(f); }
    EF_CHECK(t, memcmp(head, "\x93NUMPY", 6) == 0 && strstr(head + 10, "'shape': (77, 32)") != NULL);
    remove(npy);
    remove(dir);
}

/* The CLI reproduces every diffusers reference image of tests/fixtures/e2e (same seed,
** scheduler, steps, guidance; img2img from init.png), and writes A1111 metadata. */
static void test_generate_like_diffusers(ef_test *t) {
    char path[512], dir[512], out[8192], args[4096], fx[512], init[512], png[700], why[512];
    cJSON *root = NULL;
    ef_err err;
    ef_st_file *ref = NULL;
    EF_CHECK_MSG(t, ef_json_load(ef_fixture_path(path, sizeof path, "e2e/cases.json"), 1 << 20, &root, &err) == EF_OK,
                 "%s", err.msg);
    EF_CHECK_MSG(t, ef_st_open(ef_fixture_path(path, sizeof path, "e2e/reference.safetensors"), 1, &ref, &err) == EF_OK,
                 "%s", err.msg);
    if (!root || !ref) goto done;
    ef_test_tmpdir(dir, sizeof dir);
    ef_fixture_path(init, sizeof init, "e2e/init.png");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const cJSON *neg = cJSON_GetObjectItem(c, "negative_prompt"), *strength = cJSON_GetObjectItem(c, "strength");
        int karras = cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "overrides"), "use_karras_sigmas"));
        char extra[1024] = "";
        if (cJSON_IsString(neg)) snprintf(extra, sizeof extra, " -n '%s'", neg->valuestring);
        if (cJSON_IsNumber(strength))
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " -i %s --strength %g", init, strength->valuedouble);
        if (karras) strcat(extra, " --scheduler karras");
        snprintf(png, sizeof png, "%s/%s.png", dir, name);
        snprintf(args, sizeof args, "-m %s -p '%s' -s %.0f --steps %d --cfg-scale %g --sampling-method %s -o %s%s",
                 ef_fixture_path(fx, sizeof fx, cJSON_GetObjectItem(c, "model")->valuestring),
                 cJSON_GetObjectItem(c, "prompt")->valuestring, cJSON_GetObjectItem(c, "seed")->valuedouble,
                 cJSON_GetObjectItem(c, "steps")->valueint, cJSON_GetObjectItem(c, "guidance")->valuedouble,
                 cJSON_GetObjectItem(c, "scheduler")->valuestring, png, extra);
        int rc = run_cli(args, out, sizeof out);
        EF_CHECK_MSG(t, rc == 0, "%s: exit %d: %s", name, rc, out);
        ef_image img = {0};
        if (rc != 0 || ef_png_load(png, &img, why, sizeof why) != EF_OK) {
            EF_CHECK_MSG(t, 0, "%s: %s", name, why);
            continue;
        }
        char key[128];
        snprintf(key, sizeof key, "%s.image", name);
        const ef_st_tensor *want = ef_st_find(ref, key);
        int max_diff = 255;
        if (want && img.width == 64 && img.height == 64 && want->nbytes == 64 * 64 * 3) {
            max_diff = 0;
            for (size_t i = 0; i < want->nbytes; i++) {
                int d = abs((int)img.rgb[i] - (int)want->data[i]);
                if (d > max_diff) max_diff = d;
            }
        }
        EF_CHECK_MSG(t, max_diff <= 2, "%s: CLI image differs from diffusers by %d/255", name, max_diff);
        EF_CHECK_MSG(t, img.parameters && strstr(img.parameters, "Steps: ") && strstr(img.parameters, "Seed: 42"),
                     "%s: parameters text %s", name, img.parameters ? img.parameters : "(none)");
        ef_image_free(&img);
        remove(png);
    }
    remove(dir);
done:
    ef_st_close(ref);
    cJSON_Delete(root);
}

/* -b with a %03d pattern writes one file per seed; -s -1 prints the random seed. */
static void test_batch_and_random_seed(ef_test *t) {
    char dir[512], fx[512], args[2048], out[8192], p0[600], p1[600];
    ef_test_tmpdir(dir, sizeof dir);
    snprintf(args, sizeof args, "-m %s -p 'a cat' -b 2 -s -1 -o %s/img_%%03d.png",
             ef_fixture_path(fx, sizeof fx, "tiny-pipe"), dir);
    EF_CHECK_INT(t, run_cli(args, out, sizeof out), 0);
    EF_CHECK_MSG(t, strstr(out, "seed: ") != NULL, "no random seed printed: %s", out);
    snprintf(p0, sizeof p0, "%s/img_000.png", dir);
    snprintf(p1, sizeof p1, "%s/img_001.png", dir);
    struct stat st;
    EF_CHECK(t, stat(p0, &st) == 0 && stat(p1, &st) == 0);
    remove(p0);
    remove(p1);
    remove(dir);
}

/* convert: a folder that loads (the matrices in the type), progress per component on
** stderr, and an existing non-empty OUT refused without --force. */
static void test_convert(ef_test *t) {
    char dir[512], fx[512], args[2048], out[8192], dst[600], file[700];
    ef_test_tmpdir(dir, sizeof dir);
    snprintf(dst, sizeof dst, "%s/q8", dir);
    ef_fixture_path(fx, sizeof fx, "tiny-pipe");
    snprintf(args, sizeof args, "convert -m %s -o %s --type q8_0", fx, dst);
    EF_CHECK_INT(t, run_cli(args, out, sizeof out), 0);
    EF_CHECK_MSG(t, strstr(out, "unet: ") && strstr(out, "text_encoder: ") && strstr(out, "vae: copied") &&
                    strstr(out, "wrote "), "output: %s", out);
    snprintf(args, sizeof args, "-m %s -p 'a cat' -t 2 --encode-only -v", dst);
    EF_CHECK_INT(t, run_cli(args, out, sizeof out), 0);
    EF_CHECK_MSG(t, strstr(out, "unet: ") && strstr(out, "matrices q8"), "output: %s", out);
    snprintf(args, sizeof args, "convert -m %s -o %s --type f16", fx, dst);
    int rc = run_cli(args, out, sizeof out);
    EF_CHECK_MSG(t, rc == 1 && strstr(out, "not empty") && strstr(out, dst) && count_lines(out) == 1, "exit %d: %s", rc, out);
    snprintf(args, sizeof args, "convert -m %s -o %s --type f16 --force", fx, dst);
    EF_CHECK_INT(t, run_cli(args, out, sizeof out), 0);
    snprintf(file, sizeof file, "%s/unet/diffusion_pytorch_model.safetensors", dst);
    ef_st_file *f = NULL;
    ef_err err;
    EF_CHECK(t, ef_st_open(file, 0, &f, &err) == EF_OK && ef_st_metadata(f, "edgefusion_type") &&
                    strcmp(ef_st_metadata(f, "edgefusion_type"), "f16") == 0);
    ef_st_close(f);
    EF_CHECK(t, ef_test_remove_tree(dir));
}

const ef_test_case ef_suite_cli[] = {
    {"help_version", test_help_version},
    {"bad_flags", test_bad_flags},
    {"run_fixture", test_run_fixture},
    {"generate_like_diffusers", test_generate_like_diffusers},
    {"batch_and_random_seed", test_batch_and_random_seed},
    {"convert", test_convert},
    {0, 0},
};
