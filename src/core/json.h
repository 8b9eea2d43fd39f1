/* json.h - strict JSON in and out, on top of jansson.
 *
 * Parsing is strict: one value, no trailing bytes, duplicate keys rejected,
 * well-formed UTF-8 only, no NUL inside strings, bounded size and depth.
 *
 * The getters read an optional or required member of an object with the
 * expected type; on a type mismatch or a missing required member they fill
 * `e` with AG_EINVAL naming the field, so the API can say which field is wrong.
 * They never take a reference: returned strings live as long as the object.
 */
#ifndef AGORA_JSON_H
#define AGORA_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define JSON_MAX_DEPTH 32

/* json_parse() parses `len` bytes into a new reference in *out (a JSON object
 * or array). Returns 0, or AG_EBADJSON with the position in `e`. */
int json_parse(const char *data, size_t len, json_t **out, struct ag_err *e);

/* Member getters. `required` false means a missing or null member leaves
 * *out untouched and returns 0. */
int json_get_str(json_t *obj, const char *key, bool required, const char **out, struct ag_err *e);
int json_get_int(json_t *obj, const char *key, bool required, int64_t *out, struct ag_err *e);
int json_get_bool(json_t *obj, const char *key, bool required, bool *out, struct ag_err *e);
int json_get_array(json_t *obj, const char *key, bool required, json_t **out, struct ag_err *e);
int json_get_object(json_t *obj, const char *key, bool required, json_t **out, struct ag_err *e);

/* json_check_keys() fails with AG_EINVAL naming the first member of `obj`
 * that is not in the NULL-terminated list `allowed`: typos do not pass silently. */
int json_check_keys(json_t *obj, const char *const *allowed, struct ag_err *e);

/* json_dump_buf() appends the compact serialization of `v` to `out`. Returns 0,
 * or AG_ETOOBIG past the buffer's cap, leaving `out` as it was. */
int json_dump_buf(struct buf *out, const json_t *v);
/* json_quote_buf() appends `s` (valid UTF-8) as a JSON string, escaped as
 * json_dump_buf() escapes it, for answers assembled from prepared JSON.
 * 0, AG_ENOMEM or AG_ETOOBIG. */
int json_quote_buf(struct buf *out, const char *s);

/* json_str_or_null() returns a new string value, or null for NULL. */
json_t *json_str_or_null(const char *s);

#endif
