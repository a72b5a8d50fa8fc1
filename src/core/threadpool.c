/*
** threadpool.c -- pthread implementation of threadpool.h.
**
** Design: workers sleep on a condition variable and wake when `generation` moves;
** each runs its ith share and decrements `pending`; the caller runs ith 0, then waits
** for pending to reach 0. One job at a time per pool, which is all a context needs.
*/
#include "core/threadpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/platform.h"

typedef struct worker {
    ef_pool *pool;
    int      ith;
    pthread_t thread;
} worker;

struct ef_pool {
    int             nth;
    worker         *workers;      /* nth - 1 of them (ith 1..nth-1) */
    pthread_mutex_t mu;
    pthread_cond_t  wake;         /* workers wait for a new generation */
    pthread_cond_t  done;         /* the caller waits for pending == 0 */
    unsigned long   generation;
    int             pending;
    int             quit;
    ef_task_fn      fn;
    void           *args;
    void          **scratch;      /* nth: each thread's ef_pool_scratch block, or NULL */
    size_t         *scratch_bytes;
};

static void *worker_main(void *p) {
    worker *w = p;
    ef_pool *pool = w->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->quit && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->quit) { pthread_mutex_unlock(&pool->mu); return NULL; }
        seen = pool->generation;
        ef_task_fn fn = pool->fn;
        void *args = pool->args;
        pthread_mutex_unlock(&pool->mu);

        fn(args, w->ith, pool->nth);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

ef_status ef_pool_create(int n_threads, ef_pool **out, ef_err *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = ef_cpu_count();
    if (n_threads > 256) return ef_err_set(err, EF_ERR_INVALID_ARG, "n_threads %d: at most 256", n_threads);
    ef_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return ef_err_set(err, EF_ERR_NOMEM, "thread pool: out of memory");
    pool->nth = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->scratch = calloc((size_t)n_threads, sizeof *pool->scratch);
    pool->scratch_bytes = calloc((size_t)n_threads, sizeof *pool->scratch_bytes);
    if (!pool->scratch || !pool->scratch_bytes) {
        ef_pool_free(pool);
        return ef_err_set(err, EF_ERR_NOMEM, "thread pool: out of memory");
    }
    if (n_threads > 1) {
        pool->workers = calloc((size_t)n_threads - 1, sizeof *pool->workers);
        if (!pool->workers) { ef_pool_free(pool); return ef_err_set(err, EF_ERR_NOMEM, "thread pool: out of memory"); }
        for (int i = 1; i < n_threads; i++) {
            worker *w = &pool->workers[i - 1];
            w->pool = pool;
            w->ith = i;
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                pool->nth = i; /* only i-1 workers exist; free joins those */
                ef_pool_free(pool);
                return ef_err_set(err, EF_ERR_NOMEM, "thread pool: cannot start thread %d of %d", i, n_threads);
            }
        }
    }
    *out = pool;
    return EF_OK;
}

void ef_pool_free(ef_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->nth; i++) pthread_join(pool->workers[i - 1].thread, NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->workers);
    for (int i = 0; pool->scratch && i < pool->nth; i++) free(pool->scratch[i]);
    free(pool->scratch);
    free(pool->scratch_bytes);
    free(pool);
}

void *ef_pool_scratch(ef_pool *pool, int ith, size_t bytes) {
    if (!pool || ith < 0 || ith >= pool->nth || !pool->scratch) return NULL;
    if (pool->scratch_bytes[ith] < bytes) {
        free(pool->scratch[ith]);
        pool->scratch[ith] = ef_mem_alloc_big(bytes);
        pool->scratch_bytes[ith] = pool->scratch[ith] ? bytes : 0;
    }
    return pool->scratch[ith];
}

int ef_pool_size(const ef_pool *pool) { return pool ? pool->nth : 1; }

void ef_pool_run(ef_pool *pool, ef_task_fn fn, void *args) {
    if (!pool || pool->nth == 1) { fn(args, 0, 1); return; }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->args = args;
    pool->pending = pool->nth - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    fn(args, 0, pool->nth);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}
