/* metrics.c - request counters and latency histograms in Prometheus text format. */
#include "core/common.h"
#include "core/err.h"
#include "http/connguard.h"
#include "http/internal.h"

const double http__buckets[HTTP_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                             0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

const char *http__route_name(const struct http_server *s, int route)
{
    if (route == HTTP_ROUTE_STATIC(s))
        return "static";
    if (route >= 0 && route < (int)s->nroutes)
        return s->routes[route].pattern;
    return "unmatched";
}

static void count_status(struct http_server *s, int route, int status)
{
    unsigned h = ((unsigned)route * 31u + (unsigned)status) % HTTP_STATUS_SLOTS;

    /* Lock-free for the common case: the slot is already claimed. */
    for (unsigned i = 0; i < HTTP_STATUS_SLOTS; i++) {
        struct status_count *c = &s->status[(h + i) % HTTP_STATUS_SLOTS];
        int st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
        if (st == status && c->route == route) {
            atomic_fetch_add(&c->n, 1);
            return;
        }
        if (st == 0) {
            pthread_mutex_lock(&s->status_lock);
            if (c->status == 0) {
                c->route = route;
                __atomic_store_n(&c->status, status, __ATOMIC_RELEASE);
            }
            pthread_mutex_unlock(&s->status_lock);
            if (c->status == status && c->route == route) {
                atomic_fetch_add(&c->n, 1);
                return;
            }
        }
    }
}

void http__metrics_observe(struct http_server *s, int route, int status, int64_t us)
{
    struct route_stats *rs = &s->stats[route];
    double sec = (double)us / 1e6;
    int b = 0;

    while (b < HTTP_NBUCKETS && sec > http__buckets[b])
        b++;
    atomic_fetch_add(&rs->hist[b], 1);
    atomic_fetch_add(&rs->count, 1);
    atomic_fetch_add(&rs->sum_us, (uint64_t)us);
    count_status(s, route, status);
}

int http_metrics_render(struct http_server *s, struct buf *out)
{
    int rc = 0;
    int nr = (int)s->nroutes + 2;

    rc |= buf_adds(out, "# HELP agora_http_requests_total HTTP requests by route and status.\n"
                        "# TYPE agora_http_requests_total counter\n");
    for (int i = 0; i < HTTP_STATUS_SLOTS; i++) {
        struct status_count *c = &s->status[i];
        int st = __atomic_load_n(&c->status, __ATOMIC_ACQUIRE);
        const char *method;
        if (!st)
            continue;
        method = c->route < (int)s->nroutes ? s->routes[c->route].method : "";
        rc |= buf_addf(out,
                       "agora_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %" PRIu64
                       "\n",
                       method, http__route_name(s, c->route), st, (uint64_t)atomic_load(&c->n));
    }
    rc |= buf_adds(out, "# HELP agora_http_request_duration_seconds Time from request to response.\n"
                        "# TYPE agora_http_request_duration_seconds histogram\n");
    for (int r = 0; r < nr; r++) {
        struct route_stats *rs = &s->stats[r];
        const char *name = http__route_name(s, r);
        const char *method = r < (int)s->nroutes ? s->routes[r].method : "";
        uint64_t cum = 0, count = atomic_load(&rs->count);
        if (!count)
            continue;
        for (int b = 0; b <= HTTP_NBUCKETS; b++) {
            cum += atomic_load(&rs->hist[b]);
            if (b < HTTP_NBUCKETS)
                rc |= buf_addf(out,
                               "agora_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                               "le=\"%g\"} %" PRIu64 "\n",
                               method, name, http__buckets[b], cum);
            else
                rc |= buf_addf(out,
                               "agora_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
                               "le=\"+Inf\"} %" PRIu64 "\n",
                               method, name, cum);
        }
        rc |= buf_addf(out,
                       "agora_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
                       "agora_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %" PRIu64
                       "\n",
                       method, name, (double)atomic_load(&rs->sum_us) / 1e6, method, name, count);
    }
    rc |= buf_addf(out,
                   "# HELP agora_http_open_connections Client connections open now.\n"
                   "# TYPE agora_http_open_connections gauge\n"
                   "agora_http_open_connections %d\n"
                   "# HELP agora_http_requests_in_flight Requests being handled now.\n"
                   "# TYPE agora_http_requests_in_flight gauge\n"
                   "agora_http_requests_in_flight %d\n",
                   atomic_load(&s->open_conns), atomic_load(&s->inflight));
    {
        struct connguard_stats g;
        connguard_stats(s->guard, &g);
        rc |= buf_addf(out,
                       "# HELP agora_http_connections_cut_total Connections cut by the watchdog: "
                       "request head or body too slow, body past its deadline.\n"
                       "# TYPE agora_http_connections_cut_total counter\n"
                       "agora_http_connections_cut_total{reason=\"head_deadline\"} %" PRIu64 "\n"
                       "agora_http_connections_cut_total{reason=\"body_rate\"} %" PRIu64 "\n"
                       "agora_http_connections_cut_total{reason=\"body_deadline\"} %" PRIu64 "\n"
                       "# HELP agora_http_per_address_cap_total Past the per-address connection "
                       "cap: requests answered 503, connections refused.\n"
                       "# TYPE agora_http_per_address_cap_total counter\n"
                       "agora_http_per_address_cap_total{action=\"answered_503\"} %" PRIu64 "\n"
                       "agora_http_per_address_cap_total{action=\"refused\"} %" PRIu64 "\n",
                       g.cut_head, g.cut_body_rate, g.cut_body_time, g.over_ip_cap, g.refused_ip);
    }
    return rc ? AG_ETOOBIG : 0;
}
