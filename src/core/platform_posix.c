/*
** platform_posix.c -- POSIX implementation of platform.h (Linux, macOS, BSD).
** madvise(MADV_DONTNEED) is not POSIX (posix_madvise's DONTNEED is only a hint that
** glibc ignores), hence _DEFAULT_SOURCE.
*/
#define _DEFAULT_SOURCE 1

#include "core/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

ef_status ef_file_map_open(const char *path, int use_mmap, ef_file_map *out, ef_err *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ef_err_set(err, EF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ef_err_set(err, EF_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return ef_err_set(err, EF_ERR_IO, "%s: file too large for this platform", path);
    }
    size_t size = (size_t)st.st_size;
    out->size = size;
    if (size == 0) { close(fd); return EF_OK; }
    if (use_mmap) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) return ef_err_set(err, EF_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        out->data = p;
        out->is_mapped = 1;
        return EF_OK;
    }
    uint8_t *buf = malloc(size);
    if (!buf) { close(fd); return ef_err_set(err, EF_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size); }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            return ef_err_set(err, EF_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, size);
        }
        got += (size_t)r;
    }
    close(fd);
    out->data = buf;
    return EF_OK;
}

void ef_file_map_close(ef_file_map *m) {
    if (!m || !m->data) return;
    if (m->is_mapped) munmap((void *)m->data, m->size);
    else free((void *)m->data);
    memset(m, 0, sizeof *m);
}

void ef_file_map_release(const ef_file_map *m, const void *p, size_t n) {
    if (!m || !m->is_mapped || !p || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)m->data;
    uintptr_t a = (uintptr_t)p, b = a + n;
    if (a < base || b > base + m->size || b < a) return;
    a &= ~(page - 1);                              /* whole pages: the file backs them all */
    b = (b + page - 1) & ~(page - 1);
    madvise((void *)a, b - a, MADV_DONTNEED);
}

void ef_mem_release(void *p, size_t n) {
    if (!p || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void *ef_mem_alloc_big(size_t n) {
    const size_t huge = (size_t)2 << 20;
    if (n == 0) return NULL;
    if (n < 4 * huge) return aligned_alloc(64, (n + 63) & ~(size_t)63);   /* n is small: no overflow */
    const size_t cap = (n + huge - 1) & ~(huge - 1);   /* whole huge pages */
    if (cap < n) return NULL;
    void *p = aligned_alloc(huge, cap);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, cap, MADV_HUGEPAGE);   /* a hint: failure leaves small pages */
#endif
    return p;
}

ef_status ef_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len, ef_err *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ef_err_set(err, EF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ef_err_set(err, EF_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return ef_err_set(err, EF_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed",
                          path, (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) { fclose(f); return ef_err_set(err, EF_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size + 1); }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) { free(buf); return ef_err_set(err, EF_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size); }
    buf[size] = '\0';
    *out = buf;
    if (out_len) *out_len = size;
    return EF_OK;
}

int ef_path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ef_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ef_file_stamp(const char *path, uint64_t *size, int64_t *mtime_ns) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    *size = (uint64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + (int64_t)st.st_mtim.tv_nsec;
    return 1;
}

int ef_path_absolute(const char *path, char *out, size_t n) {
    char *r = realpath(path, NULL);
    if (!r) return 0;
    size_t len = strlen(r);
    int ok = len < n;
    if (ok) memcpy(out, r, len + 1);
    free(r);
    return ok;
}

ef_status ef_dir_create(const char *path, ef_err *err) {
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && ef_path_is_dir(path))) return EF_OK;
    return ef_err_set(err, EF_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void ef_dir_list_free(char **names, size_t n) {
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

ef_status ef_dir_list(const char *dir, char ***out, size_t *n_out, ef_err *err) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return ef_err_set(err, EF_ERR_IO, "%s: cannot list folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    ef_status rc = EF_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            char **g = realloc(names, c * sizeof *g);
            if (!g) { rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory listing the folder", dir); break; }
            names = g;
            cap = c;
        }
        size_t l = strlen(e->d_name) + 1;
        if (!(names[n] = malloc(l))) { rc = ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory listing the folder", dir); break; }
        memcpy(names[n++], e->d_name, l);
    }
    closedir(d);
    if (rc != EF_OK) {
        ef_dir_list_free(names, n);
        return rc;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return EF_OK;
}

int ef_path_join(char *out, size_t n, const char *a, const char *b) {
    size_t la = strlen(a);
    int need_sep = la > 0 && a[la - 1] != '/';
    int w = snprintf(out, n, "%s%s%s", a, need_sep ? "/" : "", b);
    return w >= 0 && (size_t)w < n;
}

double ef_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ef_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

ef_cpu_features ef_cpu_features_probe(void) {
    ef_cpu_features f;
    memset(&f, 0, sizeof f);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    f.avx2 = __builtin_cpu_supports("avx2");
    f.fma = __builtin_cpu_supports("fma");
    f.avx512f = __builtin_cpu_supports("avx512f");
    f.avx512bw = __builtin_cpu_supports("avx512bw");
    f.avx512vl = __builtin_cpu_supports("avx512vl");
    f.avx512_vnni = __builtin_cpu_supports("avx512vnni");
    f.f16c = f.avx2; /* every AVX2 CPU we target has F16C */
#elif defined(__aarch64__)
    f.neon = 1;
#endif
    return f;
}
