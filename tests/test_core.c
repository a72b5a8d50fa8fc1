/*
** test_core.c -- dtype conversions, the thread pool, error formatting.
*/
#include <math.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "ef_test.h"

/* Exhaustive: every f16 bit pattern converts to f32 and back unchanged (NaN stays NaN). */
static void test_f16_roundtrip(ef_test *t) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ef_f16_to_f32((uint16_t)h);
        uint16_t back = ef_f32_to_f16(f);
        if (isnan(f)) { if ((back & 0x7c00) != 0x7c00 || (back & 0x3ff) == 0) bad++; }
        else if (back != h) bad++;
    }
    EF_CHECK_INT(t, bad, 0);
    EF_CHECK(t, ef_f16_to_f32(0x3c00) == 1.0f);
    EF_CHECK(t, ef_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    EF_CHECK(t, ef_f16_to_f32(0xfbff) == -65504.0f);
    /* ties round to even */
    EF_CHECK_INT(t, ef_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00);
    EF_CHECK_INT(t, ef_f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02);
    EF_CHECK_INT(t, ef_f32_to_f16(65520.0f), 0x7c00);
    EF_CHECK_INT(t, ef_f32_to_f16(1e-8f), 0x0000);
}

static void test_bf16(ef_test *t) {
    EF_CHECK(t, ef_bf16_to_f32(0x3f80) == 1.0f);
    EF_CHECK_INT(t, ef_f32_to_bf16(1.0f), 0x3f80);
    EF_CHECK_INT(t, ef_f32_to_bf16(1.00390625f), 0x3f80);   /* tie -> even */
    EF_CHECK_INT(t, ef_f32_to_bf16(1.01171875f), 0x3f82);   /* tie -> even (up) */
    EF_CHECK(t, isnan(ef_bf16_to_f32(ef_f32_to_bf16(NAN))));
    ef_dtype d;
    EF_CHECK(t, ef_dtype_parse("BF16", &d) && d == EF_DTYPE_BF16);
    EF_CHECK(t, !ef_dtype_parse("F8_E4M3", &d));
    EF_CHECK_INT(t, ef_dtype_size(EF_DTYPE_F16), 2);
}

typedef struct { long n; int *hits; } split_args;
static void mark_rows(void *p, int ith, int nth) {
    split_args *a = p;
    long r0, r1;
    ef_split_rows(a->n, ith, nth, &r0, &r1);
    for (long i = r0; i < r1; i++) a->hits[i]++;
}

/* Every row is visited exactly once for several pool sizes and row counts. */
static void test_threadpool(ef_test *t) {
    for (int nth = 1; nth <= 5; nth++) {
        ef_pool *pool = NULL;
        ef_err err;
        EF_CHECK(t, ef_pool_create(nth, &pool, &err) == EF_OK);
        EF_CHECK_INT(t, ef_pool_size(pool), nth);
        for (long n = 0; n < 40; n += 7) {
            int hits[64] = {0};
            split_args a = {n, hits};
            for (int rep = 0; rep < 3; rep++) ef_pool_run(pool, mark_rows, &a);
            int ok = 1;
            for (long i = 0; i < n; i++) ok &= hits[i] == 3;
            EF_CHECK_MSG(t, ok, "nth %d rows %ld not all visited 3 times", nth, n);
        }
        ef_pool_free(pool);
    }
    ef_pool_free(NULL);
}

static void test_error(ef_test *t) {
    ef_err err;
    ef_err_clear(&err);
    EF_CHECK(t, ef_err_set(&err, EF_ERR_FORMAT, "tensor '%s': bad", "w") == EF_ERR_FORMAT);
    ef_err_prefix(&err, "unet/config.json");
    EF_CHECK(t, strcmp(err.msg, "unet/config.json: tensor 'w': bad") == 0);
    EF_CHECK(t, strcmp(ef_status_str(EF_ERR_CANCELLED), "cancelled") == 0);
    EF_CHECK(t, ef_status_str((ef_status)99) != NULL);
}

const ef_test_case ef_suite_core[] = {
    {"f16_roundtrip", test_f16_roundtrip},
    {"bf16", test_bf16},
    {"threadpool", test_threadpool},
    {"error", test_error},
    {0, 0},
};
