/* internal.h - helpers every src/api/ file uses. */
#ifndef AGORA_API_INTERNAL_H
#define AGORA_API_INTERNAL_H

#include <jansson.h>

#include "api/api.h"
#include "core/err.h"

#define SESSION_COOKIE "agora_session"
#define CSRF_HEADER "X-CSRF-Token"

/* One API call in flight: who is asking and how it went. */
struct api_call {
    struct api *api;
    struct market *market;
    struct http_req *req;
    struct principal principal;
    const struct principal *viewer;  /* &principal when signed in, else NULL */
    const char *bearer;              /* the bearer token used, if any */
    const char *session;             /* the session cookie used, if any */
    struct ag_err err;
    int rc;
};

/*
 * api_start() resolves the caller's credentials (bearer token, else session
 * cookie) and, for a mutating method under a cookie session, checks the CSRF
 * header. Returns 0, or the error code also left in c->rc / c->err: a forged
 * or revoked bearer token is 401; a missing or wrong CSRF token is 403.
 */
int api_start(struct api *api, struct http_req *req, struct api_call *c);
/* api_need_auth() sets 401 unless someone is signed in; returns c->rc. */
int api_need_auth(struct api_call *c);
/*
 * api_body() parses the request body as a strict JSON object whose members
 * are all in `allowed` (NULL-terminated). 415 unless Content-Type is
 * application/json; 400 on malformed JSON or an unknown member.
 */
int api_body(struct api_call *c, const char *const *allowed, json_t **out);
/* api_reply() answers c->rc's error if set, else `status` with `body` (which
 * it consumes; NULL = no body). Always returns 0. */
int api_reply(struct api_call *c, struct http_resp *resp, int status, json_t *body);
/* api_error() writes the JSON error for `e` into resp. */
void api_error(struct http_req *req, struct http_resp *resp, const struct ag_err *e);

/*
 * The micro-cache of anonymous public reads (cache.c). A handler that opts
 * in starts with api_cache_serve(), which answers a hit (true) and returns
 * false otherwise; it notes market_generation() before reading and ends with
 * api_cache_store(), which keeps a 200 answer to an anonymous GET.
 */
bool api_cache_serve(struct api *api, struct http_req *req, struct http_resp *resp);
void api_cache_store(struct api *api, struct http_req *req, const struct http_resp *resp,
                     uint64_t generation);

/* Reading typed members for handlers: 0 or an error left in c. */
int api_str(struct api_call *c, json_t *obj, const char *key, bool required, const char **out);

#endif
