/*
** arena.h -- an aligned bump allocator over one malloc, with mark/reset and
** high-water statistics.
**
** Lifetime pattern (STYLE.md 3.4): a model sizes an arena once (per resolution), then
** carves views out of it with ef_arena_alloc; scratch for one op or block is a mark
** taken before and a reset after. Nothing is freed individually and nothing is
** allocated from the system after ef_arena_init.
**
** A *measuring* arena (ef_arena_init_measure) owns no memory: ef_arena_alloc only
** advances the offsets and returns NULL, so a dry run of the same allocation sequence
** yields the exact size to give ef_arena_init (ggml's no-alloc pass). Callers in a dry
** run must not touch, or do arithmetic on, the pointers they get.
**
** Not here: thread safety (one arena belongs to one model call at a time), freeing
** single blocks, growth.
*/
#ifndef EF_CORE_ARENA_H
#define EF_CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"

/* Every allocation starts at a multiple of this (a cache line; AVX-512 width). */
#define EF_ARENA_ALIGN 64

typedef struct ef_arena {
    unsigned char *base;     /* NULL for a measuring arena */
    size_t         cap;      /* bytes usable from base (SIZE_MAX when measuring) */
    size_t         used;     /* current offset (a multiple of EF_ARENA_ALIGN) */
    size_t         high;     /* largest `used` ever reached */
    int            measure;  /* 1: counts only, alloc returns NULL */
    int            failed;   /* sticky: an allocation did not fit (or overflowed) */
} ef_arena;

/* One aligned malloc of `bytes` (rounded up to EF_ARENA_ALIGN). EF_ERR_NOMEM names
** `what` and the size. bytes == 0 gives a valid empty arena. */
ef_status ef_arena_init(ef_arena *a, size_t bytes, const char *what, ef_err *err);

/* A measuring arena: no memory, unlimited capacity. */
void ef_arena_init_measure(ef_arena *a);

/* `bytes` rounded up to EF_ARENA_ALIGN, EF_ARENA_ALIGN-aligned. Returns NULL when it
** does not fit (and sets a->failed), and always when measuring (a->failed stays 0
** unless the offsets overflow size_t). Contents are uninitialised. */
void *ef_arena_alloc(ef_arena *a, size_t bytes);

/* The current offset; ef_arena_reset(a, mark) releases everything allocated after it. */
size_t ef_arena_mark(const ef_arena *a);
void   ef_arena_reset(ef_arena *a, size_t mark);

size_t ef_arena_used(const ef_arena *a);        /* bytes in use now */
size_t ef_arena_high_water(const ef_arena *a);  /* peak bytes in use since init / clear */
size_t ef_arena_capacity(const ef_arena *a);    /* bytes owned (0 when measuring) */
void   ef_arena_clear_high_water(ef_arena *a);  /* high = used */

/* Releases the memory and zeroes *a. NULL or a zeroed arena is a no-op. */
void ef_arena_free(ef_arena *a);
/* Gives the arena's pages back to the OS (ef_mem_release); offsets, marks and the
** capacity stay, the contents do not. */
void ef_arena_release(ef_arena *a);

#endif /* EF_CORE_ARENA_H */
