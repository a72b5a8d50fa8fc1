/*
** json.h -- bounded JSON reading over cJSON (Debian libcjson-dev): load a file with a
** size cap, and typed, range-checked field getters whose errors name file and field.
*/
#ifndef EF_IO_JSON_H
#define EF_IO_JSON_H

#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

/* Reads path (at most max_bytes) and parses it; the root must be an object.
** Errors: EF_ERR_IO (missing/unreadable), EF_ERR_FORMAT ("path: invalid JSON near
** byte N", "path: top level is not an object", too large). The caller cJSON_Delete()s. */
ef_status ef_json_load(const char *path, size_t max_bytes, cJSON **out, ef_err *err);

/* Parses an in-memory buffer (len bytes, need not be NUL-terminated); label names it
** in errors. Root must be an object. */
ef_status ef_json_parse(const char *buf, size_t len, const char *label, cJSON **out, ef_err *err);

/* Field getters. `label` (usually the file path) prefixes errors. When the field is
** absent (or JSON null): required -> EF_ERR_FORMAT "label: missing field 'key'",
** else *out = def. Wrong JSON type or out of [min, max] -> EF_ERR_FORMAT naming the
** field and value. Integers must be integral numbers. */
ef_status ef_json_int(const cJSON *obj, const char *label, const char *key, int required,
                      int64_t def, int64_t min, int64_t max, int64_t *out, ef_err *err);
ef_status ef_json_num(const cJSON *obj, const char *label, const char *key, int required,
                      double def, double min, double max, double *out, ef_err *err);
ef_status ef_json_bool(const cJSON *obj, const char *label, const char *key, int required,
                       int def, int *out, ef_err *err);
/* *out is borrowed from obj (valid while obj lives). */
ef_status ef_json_str(const cJSON *obj, const char *label, const char *key, int required,
                      const char *def, const char **out, ef_err *err);

/* 1 if the field exists and is not null. */
int ef_json_has(const cJSON *obj, const char *key);

#endif /* EF_IO_JSON_H */
