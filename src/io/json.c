/*
** json.c -- see json.h. cJSON does the parsing (its nesting limit bounds recursion);
** this file adds the size cap, error positions and typed, range-checked getters.
*/
#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/platform.h"

ef_status ef_json_parse(const char *buf, size_t len, const char *label, cJSON **out, ef_err *err) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
        return ef_err_set(err, EF_ERR_FORMAT, "%s: invalid JSON near byte %zu", label, at);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ef_err_set(err, EF_ERR_FORMAT, "%s: top level is not a JSON object", label);
    }
    *out = root;
    return EF_OK;
}

ef_status ef_json_load(const char *path, size_t max_bytes, cJSON **out, ef_err *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    ef_status rc = ef_file_read_all(path, max_bytes, &buf, &len, err);
    if (rc != EF_OK) return rc;
    rc = ef_json_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static const cJSON *field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

int ef_json_has(const cJSON *obj, const char *key) { return field(obj, key) != NULL; }

#define MISSING(label, key) ef_err_set(err, EF_ERR_FORMAT, "%s: missing field '%s'", label, key)

ef_status ef_json_int(const cJSON *obj, const char *label, const char *key, int required,
                      int64_t def, int64_t min, int64_t max, int64_t *out, ef_err *err) {
    const cJSON *v = field(obj, key);
    if (!v) {
        if (required) return MISSING(label, key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsNumber(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be an integer", label, key);
    double d = v->valuedouble;
    if (!(d >= -9.0e15 && d <= 9.0e15) || d != floor(d))
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' = %g is not an integer", label, key, d);
    int64_t i = (int64_t)d;
    if (i < min || i > max)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' = %lld out of range [%lld, %lld]", label, key,
                          (long long)i, (long long)min, (long long)max);
    *out = i;
    return EF_OK;
}

ef_status ef_json_num(const cJSON *obj, const char *label, const char *key, int required,
                      double def, double min, double max, double *out, ef_err *err) {
    const cJSON *v = field(obj, key);
    if (!v) {
        if (required) return MISSING(label, key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsNumber(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a number", label, key);
    double d = v->valuedouble;
    if (!isfinite(d) || d < min || d > max)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' = %g out of range [%g, %g]", label, key, d, min, max);
    *out = d;
    return EF_OK;
}

ef_status ef_json_bool(const cJSON *obj, const char *label, const char *key, int required,
                       int def, int *out, ef_err *err) {
    const cJSON *v = field(obj, key);
    if (!v) {
        if (required) return MISSING(label, key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsBool(v)) return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be true or false", label, key);
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return EF_OK;
}

ef_status ef_json_str(const cJSON *obj, const char *label, const char *key, int required,
                      const char *def, const char **out, ef_err *err) {
    const cJSON *v = field(obj, key);
    if (!v) {
        if (required) return MISSING(label, key);
        *out = def;
        return EF_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return ef_err_set(err, EF_ERR_FORMAT, "%s: field '%s' must be a string", label, key);
    *out = v->valuestring;
    return EF_OK;
}
