/*
** threadpool.h -- a fixed pool of worker threads owned by one context.
**
** ef_pool_run(pool, fn, args) calls fn(args, ith, nth) once for every ith in [0, nth)
** and returns when all have finished (the caller's thread is ith 0). Kernels split
** their rows with dr = (nr + nth - 1) / nth, so results never depend on which thread
** ran which rows. A pool of 1 thread creates no threads at all.
*/
#ifndef EF_CORE_THREADPOOL_H
#define EF_CORE_THREADPOOL_H

#include "core/error.h"

typedef struct ef_pool ef_pool;
typedef void (*ef_task_fn)(void *args, int ith, int nth);

/* n_threads <= 0 means ef_cpu_count(). */
ef_status ef_pool_create(int n_threads, ef_pool **out, ef_err *err);
void      ef_pool_free(ef_pool *pool);            /* NULL is a no-op */
int       ef_pool_size(const ef_pool *pool);      /* nth; 1 for a NULL pool */

/* pool may be NULL: fn(args, 0, 1) runs on the calling thread. */
void ef_pool_run(ef_pool *pool, ef_task_fn fn, void *args);

/* Scratch memory of thread ith that lives as long as the pool: at least `bytes`,
** 64-byte aligned (huge pages when big), grown (contents lost) when a task needs more.
** Only thread ith calls it, from inside a task, so no lock. Kernels with big per-call
** scratch (Winograd) take it here instead of allocating and faulting in fresh pages
** every call. NULL for a NULL pool or when out of memory: callers allocate their own. */
void *ef_pool_scratch(ef_pool *pool, int ith, size_t bytes);

/* Rows [*r0, *r1) of nr for thread ith of nth. */
static inline void ef_split_rows(long nr, int ith, int nth, long *r0, long *r1) {
    long dr = (nr + nth - 1) / nth;
    long a = dr * ith, b = a + dr;
    *r0 = a < nr ? a : nr;
    *r1 = b < nr ? b : nr;
}

#endif /* EF_CORE_THREADPOOL_H */
