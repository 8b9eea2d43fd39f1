/* server.c - libmicrohttpd glue: one request from first byte to log line. */
#include "core/common.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "http/internal.h"
#include "http/connguard.h"
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

struct request_ctx {
    struct http_req req;
    struct http_resp resp;
    int route;          /* index into routes, or a pseudo route */
    int early_status;   /* answer without calling a handler: 400, 404, 405 */
    bool too_big;
    bool has_body;      /* Content-Length > 0 or Transfer-Encoding announced */
    bool answered;      /* a response has been queued */
    bool streaming;     /* an HTTP_ROUTE_STREAM route: the body goes to route->body */
    bool stream_begun;  /* route->body has been called (so route->done is owed) */
    bool defer;         /* the handler asked for a deferred answer (http_defer()) */
    bool deferred_done; /* the deferred answer is in resp: queue it when resumed */
    uint64_t discarded; /* body bytes dropped after passing the cap */
    unsigned retry_after; /* early_status 429 or 503: seconds for Retry-After */
    bool over_ip_cap;   /* early_status 503 for the address's connection cap */
    struct connguard_conn *guard; /* this connection's watchdog record, or NULL */
    int64_t start_us;
};

/* Memory per connection: the request's headers and the read buffer bodies
 * arrive through. libmicrohttpd zeroes the whole pool between the requests
 * of a keep-alive connection, so its size is paid on every request: 128 KiB
 * cost 9% of a cached read's CPU; 32 KiB still holds nginx's largest default
 * header set (4 x 8 KiB) and feeds uploads in 16-32 KiB pieces. */
#define HTTP_CONN_MEMORY (32 * 1024)

/* The block size of streamed responses: one 256 KiB UnixFS leaf per call. */
#define HTTP_STREAM_BLOCK (256 * 1024)

/* reader_drop() releases a streamed response that will not be sent. */
static void reader_drop(struct http_resp *resp)
{
    if (resp->reader && resp->reader_free)
        resp->reader_free(resp->reader_ctx);
    resp->reader = NULL;
    resp->reader_ctx = NULL;
}

/* How much of a body that has passed its cap is read and dropped (so the
 * client can still read its 413) before the connection is cut instead. */
#define HTTP_DISCARD_MAX ((uint64_t)1 << 20)

static uint32_t request_id_prefix;

static void request_id_init(void)
{
    rand_bytes(&request_id_prefix, sizeof(request_id_prefix));
}

/* request_id() writes 16 hex digits: a random prefix drawn once per process
 * and a counter, unique per node and across nodes without a random draw (a
 * getrandom() system call) on every request. */
static void request_id(char *out, size_t size)
{
    static atomic_uint_fast32_t counter;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    uint32_t n;

    static const char hex[] = "0123456789abcdef";
    uint64_t v;

    pthread_once(&once, request_id_init);
    n = (uint32_t)atomic_fetch_add(&counter, 1);
    v = (uint64_t)request_id_prefix << 32 | n;
    if (size < 17)
        return;
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = '\0';
}

/* A worker thread keeps the context of its last finished request for the
 * next one: a request context is a few KiB, and allocating that per request
 * made glibc consolidate its small-chunk bins every time. The spare lives in
 * a thread key whose destructor frees it when the worker exits. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void ctx_destroy(void *p)
{
    struct request_ctx *ctx = p;
    arena_release(&ctx->req.arena);
    free(ctx);
}

static void spare_init(void)
{
    if (pthread_key_create(&spare_key, ctx_destroy))
        abort();
}

static struct request_ctx *ctx_new(void)
{
    struct request_ctx *ctx;
    struct arena arena;

    pthread_once(&spare_once, spare_init);
    if (!(ctx = pthread_getspecific(spare_key))) {
        if ((ctx = calloc(1, sizeof(*ctx))))
            arena_init(&ctx->req.arena);
        return ctx;
    }
    pthread_setspecific(spare_key, NULL);
    arena = ctx->req.arena; /* reset, with its first chunk kept */
    memset(ctx, 0, sizeof(*ctx));
    ctx->req.arena = arena;
    return ctx;
}

/* Frees a finished request's context and its arena, or keeps them as the
 * thread's spare. */
static void ctx_free(struct request_ctx *ctx)
{
    if (pthread_getspecific(spare_key) || pthread_setspecific(spare_key, ctx)) {
        ctx_destroy(ctx);
        return;
    }
    arena_reset(&ctx->req.arena);
}

/* The dotted quad of an IPv4 address; inet_ntop() goes through sprintf. */
static void format_ip4(const struct in_addr *in, char *out, size_t size)
{
    const unsigned char *b = (const unsigned char *)&in->s_addr;
    char *p = out;
    if (size < INET_ADDRSTRLEN)
        return;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}

static void error_body(struct http_resp *resp, int status, int code, const char *msg,
                       const char *request_id)
{
    resp->status = status;
    buf_reset(&resp->body);
    /* msg is ours, never user input, so it needs no JSON escaping. */
    buf_addf(&resp->body,
             "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"request_id\":\"%s\"}}",
             ag_err_name(code), msg, request_id);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct http_req *req = cls;
    char *k, *v;
    UNUSED(kind);
    if (req->nquery < 0)
        return MHD_NO;
    if (req->nquery == HTTP_MAX_QUERY) {
        req->nquery = -1;
        return MHD_NO;
    }
    k = http_url_decode(&req->arena, key, strlen(key), true);
    v = value ? http_url_decode(&req->arena, value, strlen(value), true) : "";
    if (!k || !v) {
        req->nquery = -1;
        return MHD_NO;
    }
    req->query[req->nquery].name = k;
    req->query[req->nquery].value = v;
    req->nquery++;
    return MHD_YES;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    UNUSED(cls);
    UNUSED(c);
    return strlen(s);
}

/* Finds the route for the request; sets early_status to 404 or 405 when none. */
static void route_request(struct http_server *s, struct request_ctx *ctx)
{
    const char *m = ctx->req.method;
    bool path_known = false;

    if (!strcmp(m, "HEAD"))
        m = "GET";
    for (size_t i = 0; i < s->nroutes; i++) {
        struct http_kv params[HTTP_MAX_PARAMS];
        int n = 0;
        if (!http_route_match(s->routes[i].pattern, ctx->req.path, &ctx->req.arena, params, &n))
            continue;
        path_known = true;
        if (strcmp(s->routes[i].method, m))
            continue;
        memcpy(ctx->req.params, params, sizeof(params));
        ctx->req.nparams = n;
        ctx->req.route = &s->routes[i];
        ctx->route = (int)i;
        return;
    }
    if (path_known) {
        ctx->early_status = 405;
        ctx->route = HTTP_ROUTE_NONE(s);
    } else if (!strcmp(m, "GET") && !str_starts(ctx->req.path, "/api/")) {
        ctx->route = HTTP_ROUTE_STATIC(s);
    } else {
        ctx->early_status = 404;
        ctx->route = HTTP_ROUTE_NONE(s);
    }
}

/* abuse controls (issue 7): a connection past the soft cap, or a client
 * address out of tokens, is answered from the headers alone (503 or 429,
 * with Retry-After) before any handler runs or body byte is read. */
static void abuse_check(struct http_server *s, struct request_ctx *ctx)
{
    char key[80];
    unsigned cap = s->cfg.max_connections ? s->cfg.max_connections : 1024;

    if ((unsigned)atomic_load(&s->open_conns) > cap) {
        ctx->early_status = 503;
        ctx->retry_after = 1;
        return;
    }
    if (connguard_over_ip_cap(s->guard, ctx->guard)) {
        ctx->early_status = 503;
        ctx->retry_after = 1;
        ctx->over_ip_cap = true;
        return;
    }
    if (!s->cfg.rate_ip)
        return;
    ratelimit_ip_key(ctx->req.remote_ip, key, sizeof(key));
    if (ratelimit_take(s->cfg.rate_ip, key, 1, &ctx->retry_after) == AG_ERATELIMIT)
        ctx->early_status = 429;
}

static struct request_ctx *request_begin(struct http_server *s, struct MHD_Connection *conn,
                                         const char *url, const char *method)
{
    struct request_ctx *ctx = ctx_new();
    const union MHD_ConnectionInfo *ci;
    const char *clen;
    size_t cap;

    if (!ctx)
        return NULL;
    ctx->start_us = time_mono_us();
    ctx->req.conn = conn;
    ctx->req.method = arena_strdup(&ctx->req.arena, method);
    ctx->req.path = arena_strdup(&ctx->req.arena, url);
    ctx->resp.fd = -1;
    buf_init(&ctx->resp.body, 0);
    request_id(ctx->req.request_id, sizeof(ctx->req.request_id));
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            format_ip4(&((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                       ctx->req.remote_ip, sizeof(ctx->req.remote_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      ctx->req.remote_ip, sizeof(ctx->req.remote_ip));
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &ctx->req);
    route_request(s, ctx);
    cap = ctx->req.route && ctx->req.route->max_body ? ctx->req.route->max_body : s->cfg.max_body;
    buf_init(&ctx->req.body, cap);
    clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (clen) {
        uint64_t n = 0;
        if (parse_u64(clen, &n) || n > cap)
            ctx->too_big = true;
        ctx->has_body = ctx->too_big || n > 0;
    }
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        ctx->has_body = true;
    if (ctx->req.nquery < 0 && !ctx->early_status)
        ctx->early_status = 400;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    ctx->guard = ci ? ci->socket_context : NULL;
    connguard_busy(s->guard, ctx->guard);
    abuse_check(s, ctx);
    atomic_fetch_add(&s->inflight, 1);
    return ctx;
}

static void add_common_headers(struct http_server *s, struct request_ctx *ctx,
                               struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Request-Id", ctx->req.request_id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    if (s->cfg.csp)
        MHD_add_response_header(r, "Content-Security-Policy", s->cfg.csp);
    if (atomic_load(&s->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

static bool has_header(const struct http_resp *resp, const char *name)
{
    for (int i = 0; i < resp->nheaders; i++)
        if (!strcasecmp(resp->headers[i].name, name))
            return true;
    return false;
}

static enum MHD_Result request_finish(struct http_server *s, struct request_ctx *ctx)
{
    struct http_resp *resp = &ctx->resp;
    struct MHD_Response *r;
    enum MHD_Result ret;
    uint64_t bytes;
    int64_t us;

    if (resp->reader) {
        uint64_t size = resp->reader_size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN
                                                               : resp->reader_size;
        r = MHD_create_response_from_callback(size, HTTP_STREAM_BLOCK,
                                              (MHD_ContentReaderCallback)resp->reader,
                                              resp->reader_ctx, resp->reader_free);
        bytes = resp->reader_size == HTTP_SIZE_UNKNOWN ? 0 : resp->reader_size;
        if (r)
            resp->reader = NULL; /* MHD calls reader_free */
    } else if (resp->fd >= 0) {
        r = MHD_create_response_from_fd_at_offset64(resp->fd_length, resp->fd, resp->fd_offset);
        bytes = resp->fd_length;
        resp->fd = -1; /* MHD closes it */
    } else {
        size_t len;
        char *body = buf_detach(&resp->body, &len);
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        bytes = len;
        if (!r)
            free(body);
    }
    if (!r)
        return MHD_NO;
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    if (!has_header(resp, "Content-Type") && bytes && resp->status != 304)
        MHD_add_response_header(r, "Content-Type", "application/json");
    if (!has_header(resp, "Cache-Control"))
        MHD_add_response_header(r, "Cache-Control", "no-store");
    add_common_headers(s, ctx, r);
    ret = MHD_queue_response(ctx->req.conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);

    us = time_mono_us() - ctx->start_us;
    http__metrics_observe(s, ctx->route, resp->status, us);
    log_info("http %s %s route=%s status=%d bytes=%" PRIu64 " us=%" PRId64 " id=%s",
             ctx->req.method, ctx->req.path, http__route_name(s, ctx->route), resp->status, bytes,
             us, ctx->req.request_id);
    return ret;
}

/* handler_checked() runs the route's handler in the current phase and
 * turns a failure (an error code, an impossible status) into a 500. */
static void handler_checked(struct http_server *s, struct request_ctx *ctx)
{
    struct http_resp *resp = &ctx->resp;
    int rc = ctx->req.route->fn(s->app, &ctx->req, resp);

    if (ctx->defer && ctx->req.phase == HTTP_PHASE_ANSWER && !rc)
        return; /* the answer comes from the deferred call */
    ctx->defer = false;
    if (rc || resp->status < 100 || resp->status > 599) {
        if (rc)
            log_error("handler for %s failed: %s (id=%s)", ctx->req.route->pattern,
                      ag_strerror(rc), ctx->req.request_id);
        else
            log_error("handler for %s set invalid status %d (id=%s)", ctx->req.route->pattern,
                      resp->status, ctx->req.request_id);
        if (resp->fd >= 0)
            close(resp->fd);
        resp->fd = -1;
        reader_drop(resp);
        resp->nheaders = 0;
        error_body(resp, 500, AG_EINTERNAL, "internal error", ctx->req.request_id);
    }
}

void http_defer(struct http_req *req)
{
    /* req is the first member of its request_ctx */
    struct request_ctx *ctx = (struct request_ctx *)(void *)req;
    if (req->phase == HTTP_PHASE_ANSWER)
        ctx->defer = true;
}

struct deferred {
    struct http_server *s;
    struct request_ctx *ctx;
};

/* defer_reap() joins the deferred answers' threads that have finished.
 * With `all`, it first waits until none is running (shutdown). */
static void defer_reap(struct http_server *s, bool all)
{
    pthread_t *done;
    size_t n;

    for (int waited = 0; all && atomic_load(&s->deferred) > 0; waited += 10) {
        if (waited % 5000 == 0)
            log_warn("shutdown: waiting for %d deferred answers", atomic_load(&s->deferred));
        usleep(10000);
    }
    pthread_mutex_lock(&s->defer_lock);
    done = s->defer_done;
    n = s->ndefer_done;
    s->defer_done = NULL;
    s->ndefer_done = s->defer_done_cap = 0;
    pthread_mutex_unlock(&s->defer_lock);
    for (size_t i = 0; i < n; i++)
        pthread_join(done[i], NULL);
    free(done);
}

/* deferred_main() runs a deferred answer, then wakes its connection. */
static void *deferred_main(void *arg)
{
    struct deferred d = *(struct deferred *)arg;
    struct http_server *s = d.s;
    pthread_t self = pthread_self();

    free(arg);
    d.ctx->req.phase = HTTP_PHASE_DEFERRED;
    handler_checked(s, d.ctx);
    d.ctx->deferred_done = true;
    /* MHD_resume_connection() takes MHD's lock: what this thread wrote to
     * ctx is visible to the worker thread that queues the answer. After
     * it, ctx may be gone. */
    MHD_resume_connection(d.ctx->req.conn);
    /* To be joined: by the next defer_start(), or by the shutdown. When the
     * list cannot grow, the thread detaches itself instead. */
    pthread_mutex_lock(&s->defer_lock);
    if (s->ndefer_done == s->defer_done_cap) {
        size_t cap = s->defer_done_cap ? 2 * s->defer_done_cap : 8;
        pthread_t *p = realloc(s->defer_done, cap * sizeof(*p));
        if (p) {
            s->defer_done = p;
            s->defer_done_cap = cap;
        }
    }
    if (s->ndefer_done < s->defer_done_cap)
        s->defer_done[s->ndefer_done++] = self;
    else
        pthread_detach(self);
    pthread_mutex_unlock(&s->defer_lock);
    atomic_fetch_sub(&s->deferred, 1);
    return NULL;
}

/* defer_start() suspends the connection and starts the deferred answer's
 * thread. The connection is suspended first, so the thread can never
 * resume it before that. Returns false (the connection is not suspended)
 * when no thread could be started. */
static bool defer_start(struct http_server *s, struct request_ctx *ctx)
{
    struct deferred *d;
    pthread_t t;
    bool ok;

    defer_reap(s, false);
    /* Counted first, then the stop flag checked: http_server_stop() sets
     * the flag before it waits for the count to reach zero, so either it
     * waits for this answer or this answer is refused (libmicrohttpd must
     * not be stopped with a connection suspended). */
    atomic_fetch_add(&s->deferred, 1);
    if (atomic_load(&s->no_defer) || !(d = malloc(sizeof(*d)))) {
        atomic_fetch_sub(&s->deferred, 1);
        return false;
    }
    d->s = s;
    d->ctx = ctx;
    MHD_suspend_connection(ctx->req.conn);
    ok = !pthread_create(&t, NULL, deferred_main, d);
    if (!ok) {
        MHD_resume_connection(ctx->req.conn);
        atomic_fetch_sub(&s->deferred, 1);
        free(d);
    }
    return ok;
}

static void dispatch(struct http_server *s, struct request_ctx *ctx)
{
    struct http_resp *resp = &ctx->resp;

    if (ctx->early_status == 429 || ctx->early_status == 503) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", ctx->retry_after ? ctx->retry_after : 1);
        error_body(resp, ctx->early_status,
                   ctx->early_status == 429 ? AG_ERATELIMIT : AG_EUNAVAILABLE,
                   ctx->early_status == 429 ? "too many requests from this address; retry later"
                   : ctx->over_ip_cap       ? "too many connections from this address; retry later"
                                            : "too many connections; retry later",
                   ctx->req.request_id);
        http_resp_header(&ctx->req, resp, "Retry-After", ra);
        if (ctx->early_status == 503)
            http_resp_header(&ctx->req, resp, MHD_HTTP_HEADER_CONNECTION, "close");
        return;
    }
    if (ctx->too_big) {
        error_body(resp, 413, AG_ETOOBIG, "request body exceeds the size limit", ctx->req.request_id);
        return;
    }
    switch (ctx->early_status) {
    case 400:
        error_body(resp, 400, AG_EINVAL, "malformed query string", ctx->req.request_id);
        return;
    case 404:
        error_body(resp, 404, AG_ENOTFOUND, "no such endpoint", ctx->req.request_id);
        return;
    case 405:
        error_body(resp, 405, AG_EMETHOD, "method not allowed on this endpoint", ctx->req.request_id);
        return;
    }
    if (ctx->route == HTTP_ROUTE_STATIC(s)) {
        http__serve_static(s, &ctx->req, resp);
        if (resp->status == 404)
            error_body(resp, 404, AG_ENOTFOUND, "not found", ctx->req.request_id);
        return;
    }
    resp->status = 200;
    ctx->req.handled = true;
    ctx->req.phase = HTTP_PHASE_ANSWER;
    ctx->req.chunk = NULL;
    ctx->req.chunk_len = 0;
    handler_checked(s, ctx);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct request_ctx *ctx = *con_cls;
    UNUSED(version);

    if (!ctx) {
        ctx = request_begin(s, conn, url, method);
        if (!ctx)
            return MHD_NO;
        *con_cls = ctx;
        ctx->streaming = ctx->req.route && (ctx->req.route->flags & HTTP_ROUTE_STREAM) &&
                         !ctx->too_big && !ctx->early_status;
        if (ctx->streaming) {
            /* Let the application refuse (authentication, state) before any
             * byte of a possibly huge body is read. */
            ctx->stream_begun = true;
            ctx->req.phase = HTTP_PHASE_BEGIN;
            ctx->req.body_error = ctx->req.route->fn(s->app, &ctx->req, &ctx->resp);
            if (ctx->req.body_error)
                goto answer;
        }
        /* A request with a body that is already known to fail (a declared
         * Content-Length over the cap; 404, 405, a bad query) is answered from
         * its headers alone: no "100 Continue", no reading and discarding a
         * body that could be gigabytes. MHD closes the connection after such
         * an early answer, so a request without a body takes the usual path
         * and its connection stays open. */
        if (ctx->too_big || (ctx->early_status && ctx->has_body))
            goto answer;
        /* The body will be read now: the watchdog's body rate and deadline
         * apply until it is complete (connguard_answer()). */
        if (ctx->has_body)
            connguard_body(s->guard, ctx->guard, ctx->req.request_id);
        return MHD_YES;
    }
    if (ctx->answered) {
        if (ctx->deferred_done) { /* resumed: the deferred answer is ready */
            ctx->deferred_done = false;
            return request_finish(s, ctx);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        connguard_body_bytes(ctx->guard, *upload_data_size);
        if (ctx->too_big || ctx->req.body_error) {
            /* A chunked body grew past the cap: drop the rest so the client
             * can read its 413, but cut off one that keeps on sending. */
            ctx->discarded += *upload_data_size;
            if (ctx->discarded > HTTP_DISCARD_MAX) {
                int status = ctx->too_big ? 413 : ag_err_status(ctx->req.body_error);
                log_warn("http %s %s: body still coming %" PRIu64 " bytes after it was refused "
                         "(%s); closing (id=%s)", ctx->req.method, ctx->req.path, ctx->discarded,
                         ctx->too_big ? "over the cap" : ag_err_name(ctx->req.body_error),
                         ctx->req.request_id);
                http__metrics_observe(s, ctx->route, status, time_mono_us() - ctx->start_us);
                return MHD_NO;
            }
        } else if (ctx->streaming) {
            if (ctx->req.body_received + *upload_data_size > ctx->req.body.max) {
                ctx->too_big = true;
            } else {
                ctx->req.body_received += *upload_data_size;
                ctx->req.phase = HTTP_PHASE_BODY;
                ctx->req.chunk = upload_data;
                ctx->req.chunk_len = *upload_data_size;
                /* On failure the rest of the body is dropped (MHD cannot
                 * answer mid-body) and ANSWER runs at its end. */
                ctx->req.body_error = ctx->req.route->fn(s->app, &ctx->req, &ctx->resp);
            }
        } else if (buf_add(&ctx->req.body, upload_data, *upload_data_size)) {
            ctx->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
answer:
    ctx->answered = true;
    /* The watchdog may have cut a slow body and answered 408 itself: then
     * the connection is gone and nothing more may be written to it. */
    if (!connguard_answer(s->guard, ctx->guard))
        return MHD_NO;
    dispatch(s, ctx);
    if (ctx->defer) {
        if (defer_start(s, ctx))
            return MHD_YES; /* answered when the deferred call resumes us */
        ctx->defer = false;
        error_body(&ctx->resp, 503, AG_EUNAVAILABLE, "the node cannot start more work; retry later",
                   ctx->req.request_id);
        http_resp_header(&ctx->req, &ctx->resp, "Retry-After", "1");
    }
    return request_finish(s, ctx);
}

/* log_cut() logs a request whose body the watchdog cut, and counts its 408. */
static void log_cut(struct http_server *s, struct request_ctx *ctx)
{
    struct connguard_cut_info ci;
    enum connguard_cut why = connguard_cut_reason(s->guard, ctx->guard, &ci);
    if (why != CONNGUARD_CUT_BODY_RATE && why != CONNGUARD_CUT_BODY_TIME)
        return;
    http__metrics_observe(s, ctx->route, 408, time_mono_us() - ctx->start_us);
    if (why == CONNGUARD_CUT_BODY_RATE)
        log_warn("http %s %s route=%s status=408: request body too slow, %" PRIu64 " bytes in the "
                 "last %u s window (minimum %u bytes/s), %" PRIu64 " in %u s; connection cut%s "
                 "id=%s", ctx->req.method, ctx->req.path, http__route_name(s, ctx->route),
                 ci.window_bytes, s->cfg.body_rate_window_s ? s->cfg.body_rate_window_s : 30,
                 s->cfg.min_body_rate, ci.bytes, ci.seconds,
                 ci.answered ? "" : " (the 408 could not be sent)", ctx->req.request_id);
    else
        log_warn("http %s %s route=%s status=408: request body not complete within %u s (%" PRIu64
                 " bytes); connection cut%s id=%s", ctx->req.method, ctx->req.path,
                 http__route_name(s, ctx->route), s->cfg.body_timeout_s, ci.bytes,
                 ci.answered ? "" : " (the 408 could not be sent)", ctx->req.request_id);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct request_ctx *ctx = *con_cls;
    UNUSED(conn);
    UNUSED(toe);
    if (!ctx)
        return;
    log_cut(s, ctx);
    if (ctx->stream_begun) {
        ctx->req.phase = HTTP_PHASE_DONE;
        ctx->req.route->fn(s->app, &ctx->req, &ctx->resp);
    }
    reader_drop(&ctx->resp);
    if (ctx->resp.fd >= 0)
        close(ctx->resp.fd);
    connguard_idle(s->guard, ctx->guard);
    buf_release(&ctx->req.body);
    buf_release(&ctx->resp.body);
    ctx_free(ctx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;
    const union MHD_ConnectionInfo *ci;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ca;
        atomic_fetch_add(&s->open_conns, 1);
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ca = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        *socket_ctx = ci ? connguard_open(s->guard, ci->connect_fd, ca ? ca->client_addr : NULL)
                         : NULL;
    } else {
        atomic_fetch_sub(&s->open_conns, 1);
        connguard_close(s->guard, *socket_ctx);
        *socket_ctx = NULL;
    }
}

/* accept_policy() refuses, unanswered, a connection from an address that
 * already holds the hard per-address number (connguard_admit()). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct http_server *s = cls;
    UNUSED(addrlen);
    return connguard_admit(s->guard, addr) ? MHD_YES : MHD_NO;
}

/* mhd_log() sends libmicrohttpd's own messages (malformed requests, bind
 * failures) through our log, one line each, instead of raw to stderr. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    UNUSED(cls);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_info("mhd: %s", msg);
}

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, struct ag_err *e)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    uint64_t port;
    size_t hlen;

    if (!colon || parse_u64(colon + 1, &port) || port > 65535)
        return ag_errf(e, AG_EINVAL, "listen", "listen address \"%s\" is not HOST:PORT", listen);
    hlen = (size_t)(colon - listen);
    if (hlen >= sizeof(host))
        return ag_errf(e, AG_EINVAL, "listen", "listen host is too long");
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        host[hlen - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return ag_errf(e, AG_EINVAL, "listen", "bad IPv6 address in \"%s\"", listen);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (!strcmp(host, "localhost"))
            str_copy(host, "127.0.0.1", sizeof(host));
        if (hlen == 0)
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return ag_errf(e, AG_EINVAL, "listen", "bad IPv4 address in \"%s\"", listen);
    }
    return 0;
}

/* The connections MHD accepts at all: past cfg->max_connections they still
 * get an answer (503 + Retry-After, see abuse_check()); past this limit MHD
 * closes them unanswered. */
static unsigned hard_connection_limit(const struct http_config *cfg)
{
    unsigned soft = cfg->max_connections ? cfg->max_connections : 1024;
    if (cfg->max_connections_hard >= soft)
        return cfg->max_connections_hard;
    return soft + soft / 4 + 16;
}

int http_server_start(const struct http_config *cfg, const struct http_route *routes,
                      size_t nroutes, void *app, struct http_server **out, struct ag_err *e)
{
    struct sockaddr_storage ss;
    struct http_server *s;
    const union MHD_DaemonInfo *info;
    unsigned threads = cfg->threads;
    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    int rc;

    if (!cfg->listen)
        return ag_errf(e, AG_EINVAL, "listen", "no listen address given");
    if ((rc = parse_listen(cfg->listen, &ss, e)))
        return rc;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s = calloc(1, sizeof(*s));
    if (!s)
        return ag_err_set(e, AG_ENOMEM);
    s->stats = calloc(nroutes + 2, sizeof(*s->stats));
    if (!s->stats) {
        free(s);
        return ag_err_set(e, AG_ENOMEM);
    }
    pthread_mutex_init(&s->status_lock, NULL);
    pthread_mutex_init(&s->defer_lock, NULL);
    s->routes = routes;
    s->nroutes = nroutes;
    s->app = app;
    s->cfg = *cfg;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    {
        /* The head deadline equals the idle timeout: a client that trickles
         * its request head a byte at a time is cut when an idle one would be.
         * Past the per-address cap requests get 503; past 1.25x + 16, like
         * the global hard cap, connections are refused. */
        struct connguard_config g = {0};
        unsigned ip = cfg->max_connections_per_ip;
        g.head_deadline_s = cfg->timeout_s ? cfg->timeout_s : 30;
        g.min_body_rate = cfg->min_body_rate;
        g.body_window_s = cfg->body_rate_window_s;
        g.body_deadline_s = cfg->body_timeout_s;
        g.max_per_ip = ip;
        g.max_per_ip_hard = ip ? ip + ip / 4 + 16 : 0;
        g.expected_conns = hard_connection_limit(cfg);
        s->guard = connguard_start(&g);
    }
    /* The logger first: MHD reports options it reads before it to stderr. */
    s->daemon = MHD_start_daemon(
        flags, 0, accept_policy, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0, MHD_OPTION_CONNECTION_LIMIT,
        hard_connection_limit(cfg), MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->timeout_s ? cfg->timeout_s : 30, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
        NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY, MHD_OPTION_END);
    if (!s->daemon) {
        connguard_stop(s->guard);
        pthread_mutex_destroy(&s->defer_lock);
        pthread_mutex_destroy(&s->status_lock);
        free(s->stats);
        free(s);
        return ag_errf(e, AG_EIO, "listen", "cannot listen on %s (address in use or not permitted)",
                       cfg->listen);
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
    MHD_socket fd;
    int waited = 0;

    atomic_store(&s->draining, 1);
    fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    while (atomic_load(&s->inflight) > 0 && waited < grace_ms) {
        usleep(10000);
        waited += 10;
    }
    if (atomic_load(&s->inflight) > 0)
        log_warn("shutdown: %d requests still in flight after %d ms; closing them",
                 atomic_load(&s->inflight), grace_ms);
    /* libmicrohttpd must not be stopped with a connection suspended: no
     * new deferred answer from here on, and those running, which end by
     * their own deadlines, are waited for and joined. */
    atomic_store(&s->no_defer, 1);
    defer_reap(s, true);
    MHD_stop_daemon(s->daemon);
    connguard_stop(s->guard);
    pthread_mutex_destroy(&s->defer_lock);
    pthread_mutex_destroy(&s->status_lock);
    free(s->stats);
    free(s);
}
