/*
** ef_internal.h -- small helpers every module may use: status propagation, checked
** arithmetic on sizes that come from files, min/max. Internal only, never installed.
*/
#ifndef EF_INTERNAL_H
#define EF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "edgefusion.h"
#include "core/error.h"

/* Propagate a non-OK status. The message was already written by the callee. */
#define EF_TRY(expr) do { ef_status ef_try_rc_ = (expr); if (ef_try_rc_ != EF_OK) return ef_try_rc_; } while (0)

/* Internal invariants only (programmer errors), never for input validation. */
#define EF_ASSERT(x) do { if (!(x)) { fprintf(stderr, "%s:%d: EF_ASSERT(%s) failed\n", __FILE__, __LINE__, #x); abort(); } } while (0)

#define EF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define EF_MAX(a, b) ((a) > (b) ? (a) : (b))

/* a*b into *out; returns 0 on overflow (or negative factors). */
static inline int ef_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static inline int ef_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
static inline int ef_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return 0;
    if (a != 0 && b > INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

#endif /* EF_INTERNAL_H */
