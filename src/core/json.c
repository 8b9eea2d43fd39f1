/* json.c - strict JSON in and out, on top of jansson. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"

/* depth_ok() reports whether no container in `v` sits deeper than
 * JSON_MAX_DEPTH, counting `v` itself as level `depth`: "[]" is one level,
 * "[[1]]" two. Scalars do not add a level. */
static int depth_ok(json_t *v, int depth)
{
    const char *key;
    json_t *child;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return 1;
    if (depth > JSON_MAX_DEPTH)
        return 0;
    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
            if (!depth_ok(child, depth + 1))
                return 0;
    } else {
        json_array_foreach(v, i, child)
            if (!depth_ok(child, depth + 1))
                return 0;
    }
    return 1;
}

int json_parse(const char *data, size_t len, json_t **out, struct ag_err *e)
{
    json_error_t je;
    json_t *v;

    /* jansson validates UTF-8 itself; checking first gives a clearer message. */
    if (!utf8_valid(data, len))
        return ag_errf(e, AG_EBADJSON, NULL, "request body is not valid UTF-8");
    v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return ag_errf(e, AG_EBADJSON, NULL, "malformed JSON at line %d column %d: %s", je.line,
                       je.column, je.text);
    if (!depth_ok(v, 1)) {
        json_decref(v);
        return ag_errf(e, AG_EBADJSON, NULL, "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
    }
    *out = v;
    return 0;
}

static int member(json_t *obj, const char *key, bool required, json_t **v, struct ag_err *e)
{
    *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (*v && !json_is_null(*v))
        return 1;
    if (required)
        return ag_errf(e, AG_EINVAL, key, "%s is required", key);
    return 0;
}

int json_get_str(json_t *obj, const char *key, bool required, const char **out, struct ag_err *e)
{
    json_t *v;
    int rc = member(obj, key, required, &v, e);
    if (rc <= 0)
        return rc;
    if (!json_is_string(v))
        return ag_errf(e, AG_EINVAL, key, "%s must be a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return ag_errf(e, AG_EINVAL, key, "%s must not contain NUL characters", key);
    *out = json_string_value(v);
    return 0;
}

int json_get_int(json_t *obj, const char *key, bool required, int64_t *out, struct ag_err *e)
{
    json_t *v;
    int rc = member(obj, key, required, &v, e);
    if (rc <= 0)
        return rc;
    if (!json_is_integer(v))
        return ag_errf(e, AG_EINVAL, key, "%s must be an integer", key);
    *out = json_integer_value(v);
    return 0;
}

int json_get_bool(json_t *obj, const char *key, bool required, bool *out, struct ag_err *e)
{
    json_t *v;
    int rc = member(obj, key, required, &v, e);
    if (rc <= 0)
        return rc;
    if (!json_is_boolean(v))
        return ag_errf(e, AG_EINVAL, key, "%s must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int json_get_array(json_t *obj, const char *key, bool required, json_t **out, struct ag_err *e)
{
    json_t *v;
    int rc = member(obj, key, required, &v, e);
    if (rc <= 0)
        return rc;
    if (!json_is_array(v))
        return ag_errf(e, AG_EINVAL, key, "%s must be an array", key);
    *out = v;
    return 0;
}

int json_get_object(json_t *obj, const char *key, bool required, json_t **out, struct ag_err *e)
{
    json_t *v;
    int rc = member(obj, key, required, &v, e);
    if (rc <= 0)
        return rc;
    if (!json_is_object(v))
        return ag_errf(e, AG_EINVAL, key, "%s must be an object", key);
    *out = v;
    return 0;
}

int json_check_keys(json_t *obj, const char *const *allowed, struct ag_err *e)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return ag_errf(e, AG_EINVAL, NULL, "request body must be a JSON object");
    json_object_foreach(obj, key, v) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key))
            a++;
        if (!*a)
            return ag_errf(e, AG_EINVAL, key, "unknown field \"%.40s\"", key);
    }
    return 0;
}

static int dump_cb(const char *p, size_t n, void *data)
{
    return buf_add(data, p, n) ? -1 : 0;
}

int json_dump_buf(struct buf *out, const json_t *v)
{
    size_t start = out->n;
    if (json_dump_callback(v, dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY)) {
        /* Leave no half document behind. */
        if (out->cap) {
            out->n = start;
            out->p[start] = '\0';
        }
        return AG_ETOOBIG;
    }
    return 0;
}

json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int json_quote_buf(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char raw[] = "\"\\\b\f\n\r\t", named[] = "\"\\bfnrt";
    const char *run = s, *k;
    int rc = buf_addc(out, '"');

    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t n = 6;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((k = strchr(raw, c)) != NULL) { /* \" \\ \b \f \n \r \t, else \u00XX as jansson */
            esc[1] = named[k - raw];
            n = 2;
        }
        rc = buf_add(out, run, (size_t)(s - run));
        rc = rc ? rc : buf_add(out, esc, n);
        run = s + 1;
    }
    rc = rc ? rc : buf_add(out, run, (size_t)(s - run));
    return rc ? rc : buf_addc(out, '"');
}
