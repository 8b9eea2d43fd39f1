/* router.c - path patterns, percent-decoding and request accessors. */
#include "core/common.h"
#include "core/util.h"
#include "http/http.h"

#include <microhttpd.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *http_url_decode(struct arena *a, const char *s, size_t len, bool plus)
{
    char *out = arena_alloc(a, len + 1);
    size_t j = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return NULL;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[j++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (s[i] == '+' && plus) {
            out[j++] = ' ';
        } else if (s[i] == '\0') {
            return NULL;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return utf8_valid(out, j) ? out : NULL;
}

/* Walks `pattern` against `path`. With `a` NULL it only checks the shape
 * (literal text and non-empty segments); with an arena it also decodes the
 * {param} segments into `params`. */
static bool match(const char *pattern, const char *path, struct arena *a,
                  struct http_kv params[HTTP_MAX_PARAMS], int *nparams)
{
    const char *p = pattern, *u = path;
    int n = 0;

    while (*p && *u) {
        if (*p == '{') {
            const char *close = strchr(p, '}'), *end = strchr(u, '/');
            size_t seglen = end ? (size_t)(end - u) : strlen(u);
            if (!close || seglen == 0 || n == HTTP_MAX_PARAMS)
                return false;
            if (a) {
                char *v = http_url_decode(a, u, seglen, false);
                if (!v)
                    return false;
                params[n].name = arena_strndup(a, p + 1, (size_t)(close - p - 1));
                params[n].value = v;
            }
            n++;
            p = close + 1;
            u += seglen;
        } else if (*p == *u) {
            p++;
            u++;
        } else {
            return false;
        }
    }
    if (*p || *u)
        return false;
    if (nparams)
        *nparams = n;
    return true;
}

bool http_route_match(const char *pattern, const char *path, struct arena *a,
                      struct http_kv params[HTTP_MAX_PARAMS], int *nparams)
{
    /* Decoding allocates: only a path of the right shape gets that far. */
    return match(pattern, path, NULL, NULL, NULL) && match(pattern, path, a, params, nparams);
}

const char *http_param(const struct http_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (!strcmp(req->params[i].name, name))
            return req->params[i].value;
    return NULL;
}

const char *http_query(const struct http_req *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++)
        if (!strcmp(req->query[i].name, name))
            return req->query[i].value;
    return NULL;
}

const char *http_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

void http_resp_header(struct http_req *req, struct http_resp *resp, const char *name,
                      const char *value)
{
    if (resp->nheaders == HTTP_MAX_HEADERS)
        return;
    resp->headers[resp->nheaders].name = arena_strdup(&req->arena, name);
    resp->headers[resp->nheaders].value = arena_strdup(&req->arena, value);
    resp->nheaders++;
}
