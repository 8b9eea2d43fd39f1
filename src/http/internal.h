/* internal.h - what the files of src/http/ share and nobody else sees. */
#ifndef AGORA_HTTP_INTERNAL_H
#define AGORA_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "http/http.h"

/* Latency histogram upper bounds in seconds (Prometheus "le"). */
#define HTTP_NBUCKETS 12
extern const double http__buckets[HTTP_NBUCKETS];

#define HTTP_STATUS_SLOTS 512

struct route_stats {
    atomic_uint_fast64_t hist[HTTP_NBUCKETS + 1]; /* last one is +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
};

struct status_count {
    int route;              /* index into routes, or one of the pseudo routes */
    int status;             /* 0 = empty slot */
    atomic_uint_fast64_t n;
};

struct http_server {
    struct MHD_Daemon *daemon;
    const struct http_route *routes;
    size_t nroutes;
    void *app;
    struct http_config cfg;
    unsigned port;
    atomic_int inflight;
    atomic_int open_conns;
    atomic_int draining;
    atomic_int deferred;       /* deferred answers running (http_defer()) */
    atomic_int no_defer;       /* set by http_server_stop(): no new deferred answer */
    /* Deferred answers' threads that have finished, to be joined (their
     * thread-local destructors, such as the store's per-thread database
     * connection, must be done before the server is gone). */
    pthread_mutex_t defer_lock;
    pthread_t *defer_done;
    size_t ndefer_done, defer_done_cap;
    struct connguard *guard;   /* the request-head deadline (connguard.h); may be NULL */
    /* metrics: routes[0..nroutes) plus the pseudo routes "static" and "unmatched" */
    struct route_stats *stats;
    pthread_mutex_t status_lock;
    struct status_count status[HTTP_STATUS_SLOTS];
};

#define HTTP_ROUTE_STATIC(s) ((int)(s)->nroutes)
#define HTTP_ROUTE_NONE(s) ((int)(s)->nroutes + 1)

void http__metrics_observe(struct http_server *s, int route, int status, int64_t us);
const char *http__route_name(const struct http_server *s, int route);
/* http__serve_static() answers GET/HEAD for a file under cfg.static_dir. */
int http__serve_static(struct http_server *s, struct http_req *req, struct http_resp *resp);

#endif
