/*
** hash_cache.c -- see hash_cache.h.
*/
#include "io/hash_cache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"

enum { PATH_MAX_CHARS = 4096 };

static int is_hash(const char *s) {
    for (int i = 0; i < 10; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* The cache file's path in file and path's entry after its hash, "\t<size>\t<mtime ns>\t
** <absolute path>", in key; 0 when either cannot be formed (no cache, path gone, too long). */
static int locate(const char *dir, const char *path, char *file, size_t nf, char *key, size_t nk) {
    char abs[PATH_MAX_CHARS];
    uint64_t size;
    int64_t mtime;
    if (!dir || !dir[0] || !ef_path_join(file, nf, dir, EF_HASH_CACHE_FILE) || !ef_file_stamp(path, &size, &mtime) ||
        !ef_path_absolute(path, abs, sizeof abs) || strchr(abs, '\n'))
        return 0;
    return snprintf(key, nk, "\t%" PRIu64 "\t%" PRId64 "\t%s", size, mtime, abs) < (int)nk;
}

int ef_hash_cache_get(const char *dir, const char *path, char out[11]) {
    char file[PATH_MAX_CHARS], key[64 + PATH_MAX_CHARS];
    if (!locate(dir, path, file, sizeof file, key, sizeof key)) return 0;
    char *text = NULL;
    size_t len = 0;
    ef_err err;
    if (ef_file_read_all(file, EF_HASH_CACHE_MAX, &text, &len, &err) != EF_OK) return 0;
    const size_t key_len = strlen(key);
    int found = 0;
    for (char *line = text; line < text + len;) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) break;   /* a torn last line (a writer died mid-append) */
        if ((size_t)(end - line) == 10 + key_len && is_hash(line) && memcmp(line + 10, key, key_len) == 0) {
            memcpy(out, line, 10);
            out[10] = '\0';
            found = 1;   /* keep going: the last matching line wins */
        }
        line = end + 1;
    }
    free(text);
    return found;
}

int ef_hash_cache_put(const char *dir, const char *path, const char hash[11]) {
    char file[PATH_MAX_CHARS], key[64 + PATH_MAX_CHARS];
    if (!is_hash(hash) || hash[10] != '\0' || !locate(dir, path, file, sizeof file, key, sizeof key)) return 0;
    uint64_t cache_size;
    int64_t cache_mtime;
    const int full = ef_file_stamp(file, &cache_size, &cache_mtime) && cache_size > EF_HASH_CACHE_MAX / 2;
    FILE *f = fopen(file, full ? "w" : "a");   /* a cache grown past half the cap starts over */
    if (!f) return 0;
    int ok = fprintf(f, "%s%s\n", hash, key) > 0;
    ok &= fclose(f) == 0;
    return ok;
}
