/*
** platform.h -- the only place that talks to the operating system: files (read,
** map), paths, monotonic time, CPU count and features. No #ifdef elsewhere.
*/
#ifndef EF_CORE_PLATFORM_H
#define EF_CORE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A read-only view of a whole file: mmapped, or read into a malloc'ed buffer. */
typedef struct ef_file_map {
    const uint8_t *data;   /* size bytes; NULL when size == 0 */
    size_t         size;
    int            is_mapped;
} ef_file_map;

/* Maps (use_mmap != 0) or reads path. Fails with EF_ERR_IO naming the path. */
ef_status ef_file_map_open(const char *path, int use_mmap, ef_file_map *out, ef_err *err);
void      ef_file_map_close(ef_file_map *m);
/* Drops the resident pages of bytes [p, p + n) of a mapped file (they stay readable:
** a later access reads the file again). A no-op for a file that was read. Loaders call
** it after converting a tensor, so a mapped weights file never adds to the peak RSS. */
void      ef_file_map_release(const ef_file_map *m, const void *p, size_t n);

/* Returns the whole pages inside [p, p + n) of scratch memory to the OS: they stay
** mapped and read as zeros (or the old bytes) until written again. For workspaces
** between uses, so one stage's scratch does not add to the next stage's peak. */
void      ef_mem_release(void *p, size_t n);

/* 64-byte-aligned memory for big buffers (weight blobs, arenas, workspaces); free()
** frees it. From 8 MiB on it is 2 MiB-aligned and the OS is asked to back it with huge
** pages (Linux transparent huge pages, "madvise" mode): a 1.3 GB weight blob is then
** first written with ~650 page faults instead of ~330,000, and weights streaming through
** the GEMM miss the TLB far less. NULL when out of memory (or n == 0). */
void     *ef_mem_alloc_big(size_t n);

/* Reads a whole file into a NUL-terminated malloc'ed buffer, refusing files larger
** than max_bytes (EF_ERR_FORMAT, naming the file and both sizes). *out_len excludes
** the NUL. The caller frees *out. */
ef_status ef_file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len, ef_err *err);

/* 1 if path exists and is a regular file / a directory. */
int ef_path_is_file(const char *path);
int ef_path_is_dir(const char *path);

/* The identity of a file's contents as the OS keeps it: size and modification time
** (ns). 0 if path cannot be stat'ed or is not a regular file. */
int ef_file_stamp(const char *path, uint64_t *size, int64_t *mtime_ns);

/* The absolute, symlink-free form of an existing path into out (size n); 0 on error or
** when it does not fit. */
int ef_path_absolute(const char *path, char *out, size_t n);

/* Creates the folder path (its parent must exist); an existing folder is fine.
** EF_ERR_IO naming path otherwise. */
ef_status ef_dir_create(const char *path, ef_err *err);

/* The entries of folder dir but "." and "..", sorted by strcmp, as *out (an array of
** *n_out malloc'ed names; release with ef_dir_list_free). EF_ERR_IO naming dir. */
ef_status ef_dir_list(const char *dir, char ***out, size_t *n_out, ef_err *err);
void      ef_dir_list_free(char **names, size_t n);

/* Joins a and b with '/' into out (size n). Returns 0 if it does not fit. */
int ef_path_join(char *out, size_t n, const char *a, const char *b);

/* Seconds from an arbitrary fixed point, monotonic. */
double ef_time_now(void);

/* Number of online CPUs (>= 1). */
int ef_cpu_count(void);

/* CPU features, probed once per call (cheap); no global cache. */
typedef struct ef_cpu_features {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512_bf16, avx512_vnni, neon;
} ef_cpu_features;
ef_cpu_features ef_cpu_features_probe(void);

#endif /* EF_CORE_PLATFORM_H */
