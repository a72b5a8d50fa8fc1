/*
** arena.c -- the aligned bump allocator of arena.h.
**
** Offsets, not pointers, are the state, so a measuring arena (base NULL) runs the same
** arithmetic as a real one and its high-water mark is exactly the capacity a real run
** of the same sequence needs. Every size is rounded up to EF_ARENA_ALIGN with overflow
** checks; the memory is one C11 aligned_alloc.
*/
#include "core/arena.h"
#include "core/platform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ef_internal.h"

/* n rounded up to EF_ARENA_ALIGN; 0 on overflow (callers treat 0 from n > 0 as failure). */
static size_t round_up(size_t n) {
    if (n > SIZE_MAX - (EF_ARENA_ALIGN - 1)) return 0;
    return (n + (EF_ARENA_ALIGN - 1)) & ~(size_t)(EF_ARENA_ALIGN - 1);
}

ef_status ef_arena_init(ef_arena *a, size_t bytes, const char *what, ef_err *err) {
    memset(a, 0, sizeof *a);
    size_t cap = round_up(bytes);
    if (bytes > 0 && cap == 0)
        return ef_err_set(err, EF_ERR_NOMEM, "%s: arena of %zu bytes is too large", what ? what : "arena", bytes);
    if (cap > 0) {
        a->base = ef_mem_alloc_big(cap);   /* EF_ARENA_ALIGN-aligned, huge pages when big */
        if (!a->base)
            return ef_err_set(err, EF_ERR_NOMEM, "%s: out of memory for a %zu-byte arena", what ? what : "arena", cap);
    }
    a->cap = cap;
    return EF_OK;
}

void ef_arena_init_measure(ef_arena *a) {
    memset(a, 0, sizeof *a);
    a->cap = SIZE_MAX;
    a->measure = 1;
}

void *ef_arena_alloc(ef_arena *a, size_t bytes) {
    size_t n = round_up(bytes);
    if ((bytes > 0 && n == 0) || n > a->cap - a->used) {
        a->failed = 1;
        return NULL;
    }
    size_t at = a->used;
    a->used += n;
    if (a->used > a->high) a->high = a->used;
    return a->measure || !a->base ? NULL : a->base + at;
}

size_t ef_arena_mark(const ef_arena *a) { return a->used; }

void ef_arena_reset(ef_arena *a, size_t mark) {
    EF_ASSERT(mark <= a->used);
    a->used = mark;
}

size_t ef_arena_used(const ef_arena *a) { return a->used; }
size_t ef_arena_high_water(const ef_arena *a) { return a->high; }
size_t ef_arena_capacity(const ef_arena *a) { return a->measure ? 0 : a->cap; }
void   ef_arena_clear_high_water(ef_arena *a) { a->high = a->used; }

void ef_arena_release(ef_arena *a) {
    if (a && a->base) ef_mem_release(a->base, a->cap);
}

void ef_arena_free(ef_arena *a) {
    if (!a) return;
    free(a->base);
    memset(a, 0, sizeof *a);
}
