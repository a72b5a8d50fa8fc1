/*
** a1111.h -- the AUTOMATIC1111 "parameters" text that image tools read from a PNG:
** written exactly as A1111's create_infotext does, and parsed back with A1111's
** parse_generation_parameters logic (its regex, implemented by hand).
**
** Layout (ecosystem.md 4.2):
**     <prompt, possibly several lines>
**     Negative prompt: <negative, possibly several lines>      (omitted when empty)
**     Steps: 4, Sampler: LCM, Schedule type: Karras, CFG scale: 1, Seed: 965400086, ...
** The whole text is strip()ped. Values containing ',', '\n' or ':' are written as
** json.dumps(v, ensure_ascii=False); unset (NULL) fields are dropped; keys follow
** A1111's canonical order. Numbers: integers in decimal; reals in Python's shortest
** round-trip form, integral ones without ".0" (as A1111's UI writes "CFG scale: 7").
**
** Parsing follows modules/infotext_utils.py: the last line counts as parameters only
** if the regex
**     \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
** finds at least 3 pairs; other lines are stripped and split into prompt and
** negative prompt at a line starting with "Negative prompt:"; quoted values are
** json.loads-ed (kept raw when that fails); an empty value is skipped (A1111's
** IndexError path); "WxH" values split into KEY-1 / KEY-2; a later duplicate key
** overwrites the value in place; missing "Clip skip", "RNG" and "Schedule type" get
** A1111's defaults "1", "GPU" and "Automatic". \w and \s are Unicode-aware as in
** Python (letters/digits per utf8proc; invalid UTF-8 bytes are neither).
*/
#ifndef EF_IO_A1111_H
#define EF_IO_A1111_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define EF_A1111_MAX_TEXT   (1u << 20)   /* longest text the parser accepts */
#define EF_A1111_MAX_PARAMS 1024         /* most key/value pairs the parser keeps */

typedef struct ef_a1111_param {
    const char *key;
    const char *value;
} ef_a1111_param;

/* One image's generation settings. Strings are UTF-8; NULL means "not written". */
typedef struct ef_gen_info {
    const char *prompt;               /* NULL = "" */
    const char *negative_prompt;      /* NULL or "" = no "Negative prompt:" line */
    int32_t     steps;                /* "Steps" (always written) */
    const char *sampler;              /* "Sampler": A1111 display name ("Euler a", "DPM++ 2M", "LCM") */
    const char *schedule_type;        /* "Schedule type" ("Karras", "Exponential", ...) */
    double      cfg_scale;            /* "CFG scale" (always written) */
    int64_t     seed;                 /* "Seed" (always written) */
    int32_t     width, height;        /* "Size": WxH (always written) */
    const char *model_hash;           /* "Model hash": first 10 hex of the weights' sha256 */
    const char *model;                /* "Model" */
    const char *vae_hash, *vae;       /* "VAE hash", "VAE" */
    double      denoising_strength;   /* "Denoising strength" (img2img); < 0 = not written */
    int32_t     clip_skip;            /* "Clip skip"; written only when > 1, as A1111 does */
    const char *rng;                  /* "RNG" ("CPU", "NV"); A1111's default GPU is never written */
    const ef_a1111_param *extra;      /* extra_generation_params (e.g. "VAE Decoder": "TAESD"), */
    int32_t     n_extra;              /*   written after RNG, before Version */
    const char *version;              /* "Version" */
} ef_gen_info;

/* All strings NULL, numbers 0, denoising_strength -1, clip_skip 0. */
ef_gen_info ef_gen_info_default(void);

/* Writes the parameters text for g into out (n bytes, NUL-terminated). *out_len (may
** be NULL) receives the text length, also when out is too small: then the call
** returns EF_ERR_INVALID_ARG ("needs N bytes") and out holds a truncated text.
** EF_ERR_INVALID_ARG also for invalid UTF-8 in a string, a non-finite number, or a
** key of g->extra that is empty or contains ':', ',' or '\n'. */
ef_status ef_a1111_parameters_format(const ef_gen_info *g, char *out, size_t n, size_t *out_len, ef_err *err);

/* The result of a parse; owns all its strings. */
typedef struct ef_a1111_parsed {
    const char     *prompt;           /* "" when absent */
    const char     *negative_prompt;  /* "" when absent */
    ef_a1111_param *params;           /* n_params, in first-appearance order, defaults last */
    size_t          n_params;
    ef_a1111_param *extra;            /* n_extra: the params ef_gen_info has no field for, in order */
    size_t          n_extra;
    char           *storage_;         /* private */
} ef_a1111_parsed;

/* Parses text (len bytes, need not be NUL-terminated; any bytes) into *out, which the
** caller releases with ef_a1111_parsed_free. Errors (EF_ERR_FORMAT): longer than
** EF_A1111_MAX_TEXT, more than EF_A1111_MAX_PARAMS pairs. *out is zeroed on failure. */
ef_status ef_a1111_parameters_parse(const char *text, size_t len, ef_a1111_parsed *out, ef_err *err);

/* The value of key (the last one written wins, as in A1111's dict), or NULL. */
const char *ef_a1111_get(const ef_a1111_parsed *p, const char *key);

/* Typed view of a parse: strings are borrowed from p; Size-1/Size-2 become
** width/height; extra/n_extra are p->extra; the defaults map back to "not written"
** (Clip skip 1 -> 0, RNG "GPU" and Schedule type "Automatic" -> NULL). Absent numbers stay at
** ef_gen_info_default(). A number that does not parse is EF_ERR_FORMAT naming the
** key and the value. */
ef_status ef_a1111_to_gen_info(const ef_a1111_parsed *p, ef_gen_info *out, ef_err *err);

void ef_a1111_parsed_free(ef_a1111_parsed *p);   /* NULL or zeroed is a no-op */

/* A1111's short model hash: the first 10 hex digits of the file's sha256, into out
** (11 bytes). EF_ERR_IO naming the path when it cannot be read. */
ef_status ef_a1111_model_hash(const char *weights_path, char out[11], ef_err *err);

#endif /* EF_IO_A1111_H */
