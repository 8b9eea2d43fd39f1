/* api.h - the JSON API: the route table and the application state handlers share.
 *
 * Each file of src/api/ serves one resource: it turns a request into a
 * market call and the result into a response. Authentication, CSRF, body
 * parsing and the error format live in api.c, so every route behaves alike.
 */
#ifndef AGORA_API_H
#define AGORA_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "market/market.h"

struct chain_pricer; /* chain/chain.h */

struct api {
    struct market *market;
    struct http_server *http;   /* set once serving, for /metrics */
    const char *data_dir;
    bool cookie_secure;         /* mark the session cookie Secure (behind HTTPS) */
    const char *version;
    struct api_cache *cache;    /* anonymous public reads; NULL = off (cache.c) */
    struct ratelimit *rate_account; /* per signed-in account (issue 7); NULL = none */
    /* Inference (infer.c): the node's service (NULL: the route answers 503),
     * the limiter of free-model calls (NULL = none), and the body bytes
     * reserved by inference requests being read. */
    struct market_infer *infer;
    struct ratelimit *rate_infer_free;
    atomic_uint_fast64_t infer_body_bytes;
    /* Signed price quotes (quote.c, issue 4): the node's pricer, borrowed
     * (it outlives the server); NULL without --pricing-key (503). */
    struct chain_pricer *pricer;
};

extern const struct http_route api_routes[];
extern const size_t api_nroutes;

/* api_cache_new() makes the micro-cache of anonymous public reads (cache.c)
 * keeping answers for ttl_ms; it returns NULL (no cache) for ttl_ms <= 0. */
struct api_cache *api_cache_new(int ttl_ms);
void api_cache_free(struct api_cache *c);

/* The OpenAPI document served at /api/v1/openapi.yaml. */
const char *api_openapi(size_t *len);

#endif
