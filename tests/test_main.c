/*
** test_main.c -- runs every suite (optionally only tests whose "suite/name" contains
** argv[1]) and ends with "N passed, N failed". Also the harness implementation.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ef_test.h"

#define SUITES(X) X(core) X(safetensors) X(loader) X(bpe) X(kernels) X(clip_text) X(unet) X(vae) X(png) X(rng) X(sched) X(e2e) X(api) X(convert) X(cli)
#define DECLARE(s) extern const ef_test_case ef_suite_##s[];
SUITES(DECLARE)
#undef DECLARE

static const struct { const char *name; const ef_test_case *cases; } SUITE_LIST[] = {
#define ENTRY(s) {#s, ef_suite_##s},
    SUITES(ENTRY)
#undef ENTRY
};

void ef_test_fail(ef_test *t, const char *file, int line, const char *fmt, ...) {
    t->n_fail++;
    if (t->n_fail > 20) return; /* enough to diagnose */
    fprintf(stdout, "    FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

ef_cmp ef_compare(const float *got, const float *want, size_t n) {
    ef_cmp c = {0, 0, 0, 0};
    double se = 0, sw = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) { c.non_finite = 1; c.worst = i; c.max_abs = INFINITY; continue; }
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > c.max_abs) { c.max_abs = d; c.worst = i; }
        se += d * d;
        sw += (double)want[i] * want[i];
    }
    c.nmse = sw > 0 ? se / sw : (se > 0 ? INFINITY : 0);
    return c;
}

void ef_check_close(ef_test *t, const char *file, int line, const char *label,
                    const float *got, const float *want, size_t n, double atol) {
    ef_cmp c = ef_compare(got, want, n);
    t->n_check++;
    if (c.non_finite || c.max_abs > atol) {
        ef_test_fail(t, file, line, "%s: max_abs %.3g > %.3g at [%zu] (got %.9g want %.9g), nmse %.3g%s",
                     label, c.max_abs, atol, c.worst, got[c.worst], want[c.worst], c.nmse,
                     c.non_finite ? ", non-finite values" : "");
    }
}

const char *ef_fixture_path(char *out, size_t n, const char *rel) {
    const char *dir = getenv("EF_FIXTURES");
    snprintf(out, n, "%s/%s", dir && dir[0] ? dir : "tests/fixtures", rel);
    return out;
}

/* Every temporary folder of a run lives in one root, removed when the run ends (set
** EF_KEEP_TMP to keep it for a post-mortem). */
static char tmp_root[256];

const char *ef_test_tmpdir(char *out, size_t n) {
    if (!tmp_root[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_root, sizeof tmp_root, "%s/ef_test_XXXXXX", base && base[0] ? base : "/tmp");
        if (!mkdtemp(tmp_root)) tmp_root[0] = '\0';
    }
    snprintf(out, n, "%s/t_XXXXXX", tmp_root);
    if (!tmp_root[0] || !mkdtemp(out)) out[0] = '\0';
    return out;
}

int ef_test_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            for (struct dirent *e; (e = readdir(d)) != NULL;) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char child[1024];
                if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child) ef_test_remove_tree(child);
            }
            closedir(d);
        }
        return rmdir(path) == 0;
    }
    return unlink(path) == 0;
}

int ef_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

void ef_test_fill_random(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (size_t s = 0; s < sizeof SUITE_LIST / sizeof SUITE_LIST[0]; s++) {
        for (const ef_test_case *tc = SUITE_LIST[s].cases; tc->name; tc++) {
            char full[256];
            snprintf(full, sizeof full, "%s/%s", SUITE_LIST[s].name, tc->name);
            if (filter && !strstr(full, filter)) continue;
            ef_test t = {full, 0, 0};
            fflush(stdout);
            tc->fn(&t);
            if (t.n_fail == 0 && t.n_check == 0) {
                printf("FAIL %s (made no checks)\n", full);
                failed++;
            } else if (t.n_fail == 0) {
                printf("ok   %s (%d checks)\n", full, t.n_check);
                passed++;
            } else {
                printf("FAIL %s (%d of %d checks failed)\n", full, t.n_fail, t.n_check);
                failed++;
            }
            fflush(stdout);
        }
    }
    if (tmp_root[0] && !getenv("EF_KEEP_TMP")) ef_test_remove_tree(tmp_root);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
