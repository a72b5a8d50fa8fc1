/*
** fuzz_hash_cache.c -- libFuzzer target for ef_hash_cache_get: the input is the cache
** file, looked up for a file that exists (this program). A hit must return 10 hex
** characters. Built and run by `make fuzz`.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/hash_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ef_fuzz_hash_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char file[128];
    snprintf(file, sizeof file, "%s/" EF_HASH_CACHE_FILE, dir);
    FILE *f = fopen(file, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    char out[11];
    memset(out, 0, sizeof out);
    if (ef_hash_cache_get(dir, "/proc/self/exe", out)) {
        for (int i = 0; i < 10; i++)
            if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'))) abort();
        if (out[10] != '\0') abort();
    }
    return 0;
}
