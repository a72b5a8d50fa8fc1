/*
** hash_cache.h -- a small on-disk cache of A1111 model hashes, so the sha256 of a
** 1.3 GB weights file (about a second) is computed once per file, not per run, as
** A1111 does with its cache.json.
**
** The cache is one text file, <dir>/model-hashes.tsv, a line per file:
**   <10 hex chars> TAB <size> TAB <mtime ns> TAB <absolute path> LF
** An entry counts only while the file's absolute path, size and modification time all
** match. The file is only appended to; the last matching line wins. Anything malformed
** (a stray byte, an over-long line, a file over EF_HASH_CACHE_MAX bytes) is skipped or
** ignored: a bad cache costs a recomputation, never an error.
*/
#ifndef EF_IO_HASH_CACHE_H
#define EF_IO_HASH_CACHE_H

#define EF_HASH_CACHE_FILE "model-hashes.tsv"
#define EF_HASH_CACHE_MAX  ((size_t)4 << 20)

/* 1 and the cached hash (10 hex chars + NUL) in out when dir's cache holds path as it
** is now; 0 otherwise. */
int ef_hash_cache_get(const char *dir, const char *path, char out[11]);

/* Appends path's current identity with hash to dir's cache (dir must exist). Best
** effort: 0 when the file cannot be written. */
int ef_hash_cache_put(const char *dir, const char *path, const char hash[11]);

#endif /* EF_IO_HASH_CACHE_H */
