/*
** error.h -- the error detail that travels beside an ef_status.
**
** Every fallible internal function takes an `ef_err *err` and, on failure, writes one
** line naming what is at fault ("text_encoder/model.safetensors: tensor 'x': shape
** [3,4] but config implies [3,5]") and returns the status. The ef_ctx owns one ef_err;
** there is no global error state.
*/
#ifndef EF_CORE_ERROR_H
#define EF_CORE_ERROR_H

#include "edgefusion.h"

#define EF_ERR_MSG_MAX 768

typedef struct ef_err {
    ef_status status;
    char      msg[EF_ERR_MSG_MAX];
} ef_err;

/* Clears the message. */
void ef_err_clear(ef_err *err);

/* Formats the message (printf style) and returns s, so callers write
** `return ef_err_set(err, EF_ERR_FORMAT, "%s: bad", path);`. err may be NULL. */
ef_status ef_err_set(ef_err *err, ef_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prepends "prefix: " to the current message (adds context on the way up). */
void ef_err_prefix(ef_err *err, const char *prefix);

/* Formats one log line (at most 1023 bytes) and hands it to fn; a NULL fn is a no-op.
** The one path from the library to a caller's ef_log_fn. */
void ef_log_send(ef_log_fn fn, void *user, ef_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* EF_CORE_ERROR_H */
