/* connguard.c - the connection watchdog: head and body deadlines, minimum body rate, per-address counts (see connguard.h). */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "http/connguard.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>

enum { ST_WAITING = 0, ST_BODY, ST_BUSY };

#define IPKEY_LEN 9 /* family byte + 4 (IPv4) or 8 (IPv6 /64) address bytes */

/* One client address with open connections. `n` changes under the guard's
 * lock but is read without it (connguard_over_ip_cap()): an entry lives as
 * long as a connection counts in it. */
struct ipent {
    uint8_t key[IPKEY_LEN];
    atomic_uint n;
    struct ipent *next;
};

struct connguard_conn {
    int fd;
    atomic_int state;          /* ST_* */
    _Atomic int64_t since_us;  /* ST_WAITING: when the connection began waiting */
    atomic_uint_fast64_t bytes; /* ST_BODY: body bytes handed to the server */
    /* under the guard's lock: */
    enum connguard_cut cut;
    struct connguard_cut_info info;
    int64_t body_start_us, win_start_us;
    uint64_t win_mark;         /* bytes delivered when the current window began */
    char request_id[24];
    struct ipent *ip;
    unsigned ip_rank;          /* the address's connections, this one included, when it opened */
    struct connguard_conn *prev, *next;
};

struct connguard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stop;
    struct connguard_config cfg;
    int64_t head_us, window_us, body_deadline_us;
    struct connguard_conn *head;
    struct ipent **ips;        /* chained hash table of nips buckets (a power of two) */
    size_t nips;
    unsigned char sipkey[crypto_shorthash_KEYBYTES];
    uint64_t cut_head, cut_body_rate, cut_body_time, refused_ip;
    atomic_uint_fast64_t over_ip_cap;
};

/* ---- per-address counts -------------------------------------------------- */

/* ip_key() writes the key `sa` is counted under; false for other families. */
static bool ip_key(const struct sockaddr *sa, uint8_t key[IPKEY_LEN])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(key, 0, IPKEY_LEN);
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *p = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        if (!memcmp(p, mapped, sizeof(mapped))) {
            key[0] = 4;
            memcpy(key + 1, p + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, p, 8); /* one host owns a whole /64 */
        }
        return true;
    }
    return false;
}

/* Under the lock. Returns the entry's bucket slot (its address, or where a
 * new entry would go). */
static struct ipent **ip_find(struct connguard *g, const uint8_t key[IPKEY_LEN])
{
    uint64_t h;
    struct ipent **pp;
    crypto_shorthash((unsigned char *)&h, key, IPKEY_LEN, g->sipkey);
    pp = &g->ips[h & (g->nips - 1)];
    while (*pp && memcmp((*pp)->key, key, IPKEY_LEN))
        pp = &(*pp)->next;
    return pp;
}

static bool counting(const struct connguard *g)
{
    return g->ips && (g->cfg.max_per_ip || g->cfg.max_per_ip_hard);
}

bool connguard_admit(struct connguard *g, const struct sockaddr *sa)
{
    uint8_t key[IPKEY_LEN];
    struct ipent **pp;
    bool ok = true;
    if (!g || !g->cfg.max_per_ip_hard || !counting(g) || !ip_key(sa, key))
        return true;
    pthread_mutex_lock(&g->lock);
    pp = ip_find(g, key);
    if (*pp && atomic_load(&(*pp)->n) >= g->cfg.max_per_ip_hard) {
        ok = false;
        g->refused_ip++;
    }
    pthread_mutex_unlock(&g->lock);
    return ok;
}

bool connguard_over_ip_cap(struct connguard *g, struct connguard_conn *c)
{
    /* Only connections that opened past the cap are refused, and only while
     * the address is still past it: its established connections keep
     * working, and a newer one is served once older ones have closed. */
    if (!g || !c || !c->ip || !g->cfg.max_per_ip || c->ip_rank <= g->cfg.max_per_ip)
        return false;
    if (atomic_load(&c->ip->n) <= g->cfg.max_per_ip)
        return false;
    atomic_fetch_add(&g->over_ip_cap, 1);
    return true;
}

/* ---- the watchdog --------------------------------------------------------- */

/* answer_408() writes a whole 408 response to a connection whose body is
 * being read: nothing else writes to the socket in that state, and a few
 * hundred bytes fit an idle socket's send buffer, so one non-blocking send
 * either goes out whole or not at all (then the client just sees the cut). */
static bool answer_408(struct connguard_conn *c, const char *why)
{
    char body[320], msg[640];
    int nb, nm;
    ssize_t w;

    nb = snprintf(body, sizeof(body),
                  "{\"error\":{\"code\":\"timeout\",\"message\":\"%s\",\"request_id\":\"%s\"}}",
                  why, c->request_id);
    if (nb < 0 || (size_t)nb >= sizeof(body))
        return false;
    nm = snprintf(msg, sizeof(msg),
                  "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                  "Content-Type: application/json\r\nContent-Length: %d\r\n"
                  "Cache-Control: no-store\r\nX-Request-Id: %s\r\n"
                  "X-Content-Type-Options: nosniff\r\n\r\n%s",
                  nb, c->request_id, body);
    if (nm < 0 || (size_t)nm >= sizeof(msg))
        return false;
    w = send(c->fd, msg, (size_t)nm, MSG_DONTWAIT | MSG_NOSIGNAL);
    return w == nm;
}

/* Bytes the client has sent: handed to the server plus still queued in the
 * kernel (a busy node that has not read them yet is not a slow client). */
static uint64_t body_delivered(const struct connguard_conn *c)
{
    int pending = 0;
    uint64_t n = atomic_load(&c->bytes);
    if (ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0)
        n += (uint64_t)pending;
    return n;
}

static void cut(struct connguard *g, struct connguard_conn *c, enum connguard_cut why,
                int64_t now)
{
    /* The descriptor is still the connection's: libmicrohttpd removes the
     * record (under g->lock) before it closes it. */
    if (why != CONNGUARD_CUT_HEAD) {
        uint64_t total = body_delivered(c);
        c->info.bytes = total;
        c->info.window_bytes = total - MIN(total, c->win_mark);
        c->info.seconds = (unsigned)((now - c->body_start_us) / 1000000);
        c->info.answered = answer_408(c, why == CONNGUARD_CUT_BODY_RATE
                                             ? "request body arrived too slowly"
                                             : "request body took too long");
    }
    shutdown(c->fd, SHUT_RDWR);
    c->cut = why;
    c->info.reason = why;
    if (why == CONNGUARD_CUT_HEAD)
        g->cut_head++;
    else if (why == CONNGUARD_CUT_BODY_RATE)
        g->cut_body_rate++;
    else
        g->cut_body_time++;
}

/* check_body() applies the body deadline and the minimum rate to one
 * connection reading a body. The rate is judged over consecutive windows:
 * at each window's end the bytes of that window must reach min_body_rate
 * per second of it. */
static void check_body(struct connguard *g, struct connguard_conn *c, int64_t now)
{
    int64_t elapsed = now - c->win_start_us;
    if (g->body_deadline_us && now - c->body_start_us >= g->body_deadline_us) {
        cut(g, c, CONNGUARD_CUT_BODY_TIME, now);
        return;
    }
    if (g->cfg.min_body_rate && elapsed >= g->window_us) {
        uint64_t total = body_delivered(c);
        double need = (double)g->cfg.min_body_rate * (double)elapsed / 1e6;
        if ((double)(total - MIN(total, c->win_mark)) < need) {
            cut(g, c, CONNGUARD_CUT_BODY_RATE, now);
            return;
        }
        c->win_start_us = now;
        c->win_mark = total;
    }
}

/* One pass over the connections: O(open connections) once a second. */
static void sweep(struct connguard *g)
{
    int64_t now = time_mono_us();
    for (struct connguard_conn *c = g->head; c; c = c->next) {
        int st = atomic_load(&c->state);
        if (c->cut)
            continue;
        if (st == ST_WAITING && now - atomic_load(&c->since_us) >= g->head_us)
            cut(g, c, CONNGUARD_CUT_HEAD, now);
        else if (st == ST_BODY)
            check_body(g, c, now);
    }
}

static void *watchdog(void *arg)
{
    struct connguard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
        if (!g->stop)
            sweep(g);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 64;
    while (p < n && p < ((size_t)1 << 24))
        p <<= 1;
    return p;
}

struct connguard *connguard_start(const struct connguard_config *cfg)
{
    struct connguard *g = calloc(1, sizeof(*g));
    if (!g)
        goto fail;
    g->cfg = *cfg;
    g->head_us = (int64_t)(cfg->head_deadline_s ? cfg->head_deadline_s : 30) * 1000000;
    g->window_us = (int64_t)(cfg->body_window_s ? cfg->body_window_s : 30) * 1000000;
    g->body_deadline_us = (int64_t)cfg->body_deadline_s * 1000000;
    atomic_init(&g->over_ip_cap, 0);
    crypto_shorthash_keygen(g->sipkey);
    /* About one bucket per two connections the node accepts. */
    g->nips = pow2_at_least((cfg->expected_conns ? cfg->expected_conns : 1024) / 2);
    g->ips = calloc(g->nips, sizeof(*g->ips));
    if (!g->ips) {
        free(g);
        goto fail;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    if (pthread_create(&g->thread, NULL, watchdog, g)) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g->ips);
        free(g);
        goto fail;
    }
    return g;
fail:
    log_warn("http: cannot start the connection watchdog; slow clients are cut by the idle "
             "timeout only and connections are not counted per address");
    return NULL;
}

void connguard_stop(struct connguard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    while (g->head) {
        struct connguard_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    for (size_t i = 0; i < g->nips; i++)
        while (g->ips[i]) {
            struct ipent *e = g->ips[i];
            g->ips[i] = e->next;
            free(e);
        }
    free(g->ips);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct connguard_conn *connguard_open(struct connguard *g, int fd, const struct sockaddr *sa)
{
    struct connguard_conn *c;
    uint8_t key[IPKEY_LEN];
    bool count;

    if (!g || fd < 0 || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->fd = fd;
    atomic_init(&c->state, ST_WAITING);
    atomic_init(&c->since_us, time_mono_us());
    atomic_init(&c->bytes, 0);
    count = counting(g) && ip_key(sa, key);
    pthread_mutex_lock(&g->lock);
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
    if (count) {
        struct ipent **pp = ip_find(g, key);
        if (!*pp && (*pp = calloc(1, sizeof(**pp)))) {
            memcpy((*pp)->key, key, IPKEY_LEN);
            atomic_init(&(*pp)->n, 0);
        }
        if (*pp) {
            c->ip_rank = atomic_fetch_add(&(*pp)->n, 1) + 1;
            c->ip = *pp;
        }
    }
    pthread_mutex_unlock(&g->lock);
    return c;
}

void connguard_close(struct connguard *g, struct connguard_conn *c)
{
    if (!g || !c)
        return;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ip && atomic_fetch_sub(&c->ip->n, 1) == 1) {
        struct ipent **pp = ip_find(g, c->ip->key);
        if (*pp == c->ip) {
            *pp = c->ip->next;
            free(c->ip);
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(c);
}

/* Busy and idle run once per request: atomics, no lock. */
void connguard_busy(struct connguard *g, struct connguard_conn *c)
{
    if (g && c)
        atomic_store(&c->state, ST_BUSY);
}

void connguard_body(struct connguard *g, struct connguard_conn *c, const char *request_id)
{
    int64_t now;
    if (!g || !c || (!g->cfg.min_body_rate && !g->body_deadline_us))
        return;
    now = time_mono_us();
    pthread_mutex_lock(&g->lock);
    c->body_start_us = now;
    c->win_start_us = now;
    c->win_mark = 0;
    atomic_store(&c->bytes, 0);
    str_copy(c->request_id, request_id ? request_id : "", sizeof(c->request_id));
    atomic_store(&c->state, ST_BODY);
    pthread_mutex_unlock(&g->lock);
}

void connguard_body_bytes(struct connguard_conn *c, uint64_t n)
{
    if (c)
        atomic_fetch_add(&c->bytes, n);
}

bool connguard_answer(struct connguard *g, struct connguard_conn *c)
{
    bool ok;
    if (!g || !c || atomic_load(&c->state) != ST_BODY)
        return true;
    pthread_mutex_lock(&g->lock);
    ok = c->cut == CONNGUARD_NOT_CUT;
    atomic_store(&c->state, ST_BUSY);
    pthread_mutex_unlock(&g->lock);
    return ok;
}

void connguard_idle(struct connguard *g, struct connguard_conn *c)
{
    if (!g || !c)
        return;
    atomic_store(&c->since_us, time_mono_us());
    if (atomic_load(&c->state) == ST_BODY) {
        /* The request ended mid-body (the client left, or the server cut it). */
        pthread_mutex_lock(&g->lock);
        atomic_store(&c->state, ST_WAITING);
        pthread_mutex_unlock(&g->lock);
        return;
    }
    atomic_store(&c->state, ST_WAITING);
}

enum connguard_cut connguard_cut_reason(struct connguard *g, struct connguard_conn *c,
                                        struct connguard_cut_info *info)
{
    enum connguard_cut why = CONNGUARD_NOT_CUT;
    if (info)
        memset(info, 0, sizeof(*info));
    if (!g || !c)
        return why;
    pthread_mutex_lock(&g->lock);
    why = c->cut;
    if (info)
        *info = c->info;
    pthread_mutex_unlock(&g->lock);
    return why;
}

void connguard_stats(struct connguard *g, struct connguard_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    out->cut_head = g->cut_head;
    out->cut_body_rate = g->cut_body_rate;
    out->cut_body_time = g->cut_body_time;
    out->refused_ip = g->refused_ip;
    pthread_mutex_unlock(&g->lock);
    out->over_ip_cap = atomic_load(&g->over_ip_cap);
}
