/*
** error.c -- ef_err formatting, the static ef_status_str table, and log lines.
*/
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ef_err_clear(ef_err *err) {
    if (!err) return;
    err->status = EF_OK;
    err->msg[0] = '\0';
}

ef_status ef_err_set(ef_err *err, ef_status s, const char *fmt, ...) {
    if (!err) return s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = s;
    return s;
}

void ef_err_prefix(ef_err *err, const char *prefix) {
    if (!err || !prefix || !prefix[0]) return;
    char tmp[EF_ERR_MSG_MAX];
    size_t lp = strlen(prefix), lm = strlen(err->msg);
    if (lp > EF_ERR_MSG_MAX - 3) lp = EF_ERR_MSG_MAX - 3;
    if (lm > EF_ERR_MSG_MAX - 3 - lp) lm = EF_ERR_MSG_MAX - 3 - lp;
    memcpy(tmp, prefix, lp);
    memcpy(tmp + lp, ": ", 2);
    memcpy(tmp + lp + 2, err->msg, lm);
    tmp[lp + 2 + lm] = '\0';
    memcpy(err->msg, tmp, lp + 3 + lm);
}

const char *ef_status_str(ef_status s) {
    switch (s) {
    case EF_OK:              return "ok";
    case EF_ERR_INVALID_ARG: return "invalid argument";
    case EF_ERR_IO:          return "i/o error";
    case EF_ERR_FORMAT:      return "malformed model file";
    case EF_ERR_UNSUPPORTED: return "unsupported";
    case EF_ERR_NOMEM:       return "out of memory";
    case EF_ERR_CANCELLED:   return "cancelled";
    case EF_ERR_INTERNAL:    return "internal error";
    }
    return "unknown status";
}

const char *ef_version(void) { return "0.1.0"; }

void ef_log_send(ef_log_fn fn, void *user, ef_log_level level, const char *fmt, ...) {
    if (!fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(level, msg, user);
}
