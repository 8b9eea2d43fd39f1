/* http.h - the HTTP server: libmicrohttpd underneath, a route table on top.
 *
 * The server knows nothing of the marketplace. The application hands it a
 * table of routes; for each request the server matches the route, collects
 * the body (up to the route's cap), calls the handler, adds the common
 * headers (request id, security headers), logs one line and counts metrics.
 *
 * Threading: handlers run on libmicrohttpd's worker threads, several at
 * once; they must be thread-safe. A request and its response belong to one
 * thread at a time: a worker thread, or the thread of a deferred answer
 * (http_defer()) while its connection waits.
 */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_QUERY 32
#define HTTP_MAX_HEADERS 16

struct http_kv {
    const char *name;
    const char *value;
};

struct http_req {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* the raw (still percent-encoded) path */
    const struct http_route *route;
    struct http_kv params[HTTP_MAX_PARAMS]; /* decoded {name} segments */
    int nparams;
    struct http_kv query[HTTP_MAX_QUERY];   /* decoded query arguments, in order */
    int nquery;
    struct buf body;           /* the whole request body */
    char request_id[24];
    char remote_ip[64];
    struct arena arena;        /* freed when the request ends */
    void *conn;                /* the MHD connection, for header lookups */
    void *auth;                /* for the application: who is asking */
    /* HTTP_ROUTE_STREAM routes only (see enum http_phase): */
    int phase;                 /* an enum http_phase */
    const void *chunk;         /* HTTP_PHASE_BODY: the piece that arrived */
    size_t chunk_len;
    void *stream;              /* the application's per-request state */
    uint64_t body_received;    /* body bytes handed over so far */
    int body_error;            /* HTTP_PHASE_ANSWER: what stopped the body, or 0 */
    bool handled;              /* HTTP_PHASE_DONE: whether HTTP_PHASE_ANSWER ran */
};

/*
 * Streaming request bodies (HTTP_ROUTE_STREAM). The server never buffers the
 * body of such a route (req->body stays empty); its handler is called in
 * phases, told apart by req->phase:
 *   HTTP_PHASE_BEGIN  once the headers are in, before any byte is read (no
 *                     "100 Continue" goes out before it returns): the place
 *                     to authenticate and set up req->stream;
 *   HTTP_PHASE_BODY   for each piece of the body as it arrives (req->chunk,
 *                     req->chunk_len), in order;
 *   HTTP_PHASE_ANSWER once the body is complete: fill `resp` as usual;
 *   HTTP_PHASE_DONE   exactly once when the request ends if BEGIN ran, sent
 *                     or not (req->handled is false when the client went away
 *                     before ANSWER): release req->stream; resp is unused.
 * A non-zero return from BEGIN answers at once, from the headers alone:
 * req->body_error gets the code and ANSWER runs (typically answering with
 * the error it left in req->stream); the connection is closed after it. A
 * non-zero return from BODY stops handing bytes over: the rest of the body
 * is read and dropped (HTTP allows no answer mid-body) and ANSWER runs at
 * its end, unless more than 1 MiB is still coming, in which case the
 * connection is cut (DONE then sees handled == false). The
 * route's max_body still caps the body (413, answered by the server, which
 * then calls neither ANSWER nor, when the cap is known from Content-Length,
 * BEGIN). Handlers of other routes only ever see HTTP_PHASE_ANSWER.
 */
enum http_phase {
    HTTP_PHASE_ANSWER = 0,
    HTTP_PHASE_BEGIN,
    HTTP_PHASE_BODY,
    HTTP_PHASE_DONE,
    HTTP_PHASE_DEFERRED, /* see http_defer() */
};

/*
 * Streaming responses: a handler that sets `reader` has the body produced
 * on demand instead of from `body` or `fd`. The reader fills at most `max`
 * bytes of `out` with the body starting at byte `pos` (calls come in order,
 * pos growing by what the previous call returned) and returns how many it
 * wrote (> 0), HTTP_READER_END at the end, or HTTP_READER_ERROR to cut the
 * connection (a failure after the headers are sent). `reader_free` (may be
 * NULL) is called once with `reader_ctx` when the response is done, sent or
 * not. `reader_size` is the body length, or HTTP_SIZE_UNKNOWN (chunked).
 */
typedef ssize_t (*http_reader_fn)(void *ctx, uint64_t pos, char *out, size_t max);
#define HTTP_READER_END ((ssize_t)-1)
#define HTTP_READER_ERROR ((ssize_t)-2)
#define HTTP_SIZE_UNKNOWN UINT64_MAX

struct http_resp {
    int status;
    struct buf body;
    struct http_kv headers[HTTP_MAX_HEADERS]; /* arena strings */
    int nheaders;
    int fd;                    /* >= 0: send this file instead of body */
    uint64_t fd_offset, fd_length;
    http_reader_fn reader;     /* non-NULL: stream the body from it (see above) */
    void *reader_ctx;
    void (*reader_free)(void *ctx);
    uint64_t reader_size;
};

/* A handler fills `resp`; it returns 0, or a negative code when it could
 * not even produce an error response (the server then answers 500). */
typedef int (*http_handler)(void *app, struct http_req *req, struct http_resp *resp);

enum http_route_flags {
    HTTP_ROUTE_PUBLIC = 1 << 0,   /* documentation hint: no authentication needed */
    HTTP_ROUTE_HIDDEN = 1 << 1,   /* not part of the public API (not in OpenAPI) */
    HTTP_ROUTE_STREAM = 1 << 2,   /* the body goes to the route's `body` function as it arrives */
};

struct http_route {
    const char *method;
    const char *pattern;   /* "/api/v1/models/{owner}/{slug}"; {x} matches one segment */
    http_handler fn;
    size_t max_body;       /* 0 = the server default */
    unsigned flags;
};

struct http_config {
    const char *listen;          /* "HOST:PORT"; port 0 picks a free one */
    const char *static_dir;      /* files served for GET paths no route claims; may be NULL */
    unsigned threads;            /* worker threads; 0 = number of cores */
    unsigned max_connections;
    unsigned timeout_s;          /* idle connection timeout */
    size_t max_body;             /* default body cap */
    const char *csp;             /* Content-Security-Policy for every response */
    /* abuse controls (issue 7): */
    struct ratelimit *rate_ip;   /* per client address (http/ratelimit.h); NULL = none */
    unsigned max_connections_hard; /* accepted at most; those past max_connections get 503
                                    * + Retry-After to their request. 0 = 1.25x + 16 */
    unsigned max_connections_per_ip; /* per client address (IPv6: per /64); requests on
                                      * connections past it get 503 + Retry-After, and past
                                      * 1.25x + 16 connections are refused. 0 = off */
    unsigned min_body_rate;      /* request bodies slower than this many bytes/s over a window
                                  * are cut with 408; 0 = off */
    unsigned body_rate_window_s; /* the window (and grace period) of min_body_rate; 0 = 30 */
    unsigned body_timeout_s;     /* a request body must arrive within this (408); 0 = no limit */
};

struct http_server;
struct ratelimit;

/*
 * http_server_start() binds and starts serving. Returns 0 and *out, or a
 * negative AG_E* code with a message in `e` (bad address, port in use).
 * `routes` and `app` must outlive the server.
 */
int http_server_start(const struct http_config *cfg, const struct http_route *routes,
                      size_t nroutes, void *app, struct http_server **out, struct ag_err *e);
/* http_server_port() returns the port actually bound. */
unsigned http_server_port(const struct http_server *s);
/* http_server_stop() stops accepting, lets in-flight requests finish (up to
 * `grace_ms`), then closes every connection and frees the server. */
void http_server_stop(struct http_server *s, int grace_ms);
/* http_metrics_render() appends Prometheus text exposition to `out`. */
int http_metrics_render(struct http_server *s, struct buf *out);

/* Request accessors; all return NULL when absent. Strings live as long as req. */
const char *http_param(const struct http_req *req, const char *name);
const char *http_query(const struct http_req *req, const char *name);
const char *http_header(const struct http_req *req, const char *name);
const char *http_cookie(const struct http_req *req, const char *name);

/*
 * http_defer() lets a handler answer from a thread of its own, for work that
 * takes long (an inference): called from HTTP_PHASE_ANSWER, it makes the
 * server call the same handler once more with req->phase ==
 * HTTP_PHASE_DEFERRED on a new thread, once ANSWER has returned (without
 * filling resp). Meanwhile the connection is suspended, so the worker
 * thread serves its other connections instead of waiting. The DEFERRED call
 * fills resp as ANSWER would have; until it returns, nothing else touches req
 * or resp. HTTP_PHASE_DONE still comes last. Deferred work must end on its
 * own (a deadline): shutdown waits for it. When no thread can be started,
 * the server answers 503 with Retry-After.
 */
void http_defer(struct http_req *req);

/* Response helpers. http_resp_header() copies name and value. */
void http_resp_header(struct http_req *req, struct http_resp *resp, const char *name,
                      const char *value);

/* http_url_decode() percent-decodes `len` bytes into the arena; '+' becomes a
 * space when `plus` is set. Returns NULL on a bad escape, an encoded NUL or
 * invalid UTF-8. */
char *http_url_decode(struct arena *a, const char *s, size_t len, bool plus);

/* http_route_match() matches the raw `path` against `pattern`; on a match it
 * fills params[0..*nparams) with the decoded segments (arena strings) and
 * returns true. A segment that does not decode cleanly never matches. */
bool http_route_match(const char *pattern, const char *path, struct arena *a,
                      struct http_kv params[HTTP_MAX_PARAMS], int *nparams);

#endif
