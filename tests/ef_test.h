/*
** ef_test.h -- the test harness: checks, tensor comparison with a maxdiff report, and
** the {name, fn} tables each tests/test_*.c file exports (redis REDIS_TEST style).
**
** A test is `static void test_x(ef_test *t)`. Checks record a failure and go on; a test
** passes when it recorded none. tests/test_main.c runs every suite and ends with the
** line "N passed, N failed".
*/
#ifndef EF_TEST_H
#define EF_TEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct ef_test {
    const char *name;
    int         n_fail;        /* failed checks in this test */
    int         n_check;
} ef_test;

typedef struct ef_test_case {
    const char *name;
    void (*fn)(ef_test *t);
} ef_test_case;

/* Records a failure with file:line and a printf message. */
void ef_test_fail(ef_test *t, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#define EF_CHECK(t, cond) do { (t)->n_check++; if (!(cond)) ef_test_fail((t), __FILE__, __LINE__, "%s", #cond); } while (0)
#define EF_CHECK_MSG(t, cond, ...) do { (t)->n_check++; if (!(cond)) ef_test_fail((t), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define EF_CHECK_INT(t, a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); (t)->n_check++; \
    if (a_ != b_) ef_test_fail((t), __FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); } while (0)
#define EF_CHECK_NEAR(t, a, b, tol) do { double a_ = (double)(a), b_ = (double)(b); (t)->n_check++; \
    if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol))) ef_test_fail((t), __FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol)); } while (0)

/* Result of comparing got against want (n floats). */
typedef struct ef_cmp {
    double max_abs;      /* max |got - want| */
    double nmse;         /* sum (got-want)^2 / sum want^2 (0 when want is all zero and got == want) */
    size_t worst;        /* index of max_abs */
    int    non_finite;   /* got has NaN/Inf */
} ef_cmp;
ef_cmp ef_compare(const float *got, const float *want, size_t n);

/* Fails unless max_abs <= atol; prints label, max_abs, nmse and the worst index. */
void ef_check_close(ef_test *t, const char *file, int line, const char *label,
                    const float *got, const float *want, size_t n, double atol);
#define EF_CHECK_CLOSE(t, label, got, want, n, atol) ef_check_close((t), __FILE__, __LINE__, (label), (got), (want), (n), (atol))

/* Path of a fixture: $EF_FIXTURES/rel (default tests/fixtures). Static buffer per call
** site is not used: writes into out (size n) and returns out. */
const char *ef_fixture_path(char *out, size_t n, const char *rel);

/* A fresh temporary directory (under $TMPDIR or /tmp), created; written into out. */
const char *ef_test_tmpdir(char *out, size_t n);
/* rm -r path (symlinks removed, never followed); 1 when path is gone afterwards. */
int ef_test_remove_tree(const char *path);

/* Writes n bytes to path; returns 0 on failure. */
int ef_test_write_file(const char *path, const void *data, size_t n);

/* Reproducible pseudo-random floats in [-1, 1) for kernel tests (xorshift). */
void ef_test_fill_random(float *x, size_t n, uint64_t seed);

#endif /* EF_TEST_H */
