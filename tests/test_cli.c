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

#include "ef_test.h"

/* Runs the CLI with args (shell-quoted by the caller); captures stdout+stderr. */
static int run_cli(const char *args, char *out, size_t n) {
    const char *cli = getenv("EF_CLI");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", cli && cli[0] ? cli : "build/edgefusion", args);
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
        {"-m /nonexistent/model -p y", "/nonexistent/model"},
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
    snprintf(args, sizeof args, "-m %s -p 'a photo of a cat' -t 2 --tokens --embedding-out %s",
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

const ef_test_case ef_suite_cli[] = {
    {"help_version", test_help_version},
    {"bad_flags", test_bad_flags},
    {"run_fixture", test_run_fixture},
    {0, 0},
};
