/* connguard.c - the request-head deadline against slowloris clients (see connguard.h). */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "http/connguard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

struct connguard_conn {
    int fd;
    atomic_bool busy;         /* a request head is complete and being answered */
    bool cut;                 /* already shut down (under the guard's lock) */
    _Atomic int64_t since_us; /* when the connection began waiting */
    struct connguard_conn *prev, *next;
};

struct connguard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stop;
    int64_t deadline_us;
    struct connguard_conn *head;
    uint64_t cut;
};

/* One pass over the connections: O(open connections) once a second. */
static void sweep(struct connguard *g)
{
    int64_t now = time_mono_us();
    for (struct connguard_conn *c = g->head; c; c = c->next) {
        if (c->cut || atomic_load(&c->busy) || now - atomic_load(&c->since_us) < g->deadline_us)
            continue;
        /* The descriptor is still the connection's: libmicrohttpd removes
         * the record (under g->lock) before it closes it. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
        g->cut++;
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

struct connguard *connguard_start(unsigned deadline_s)
{
    struct connguard *g = calloc(1, sizeof(*g));
    if (!g)
        goto fail;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->deadline_us = (int64_t)deadline_s * 1000000;
    if (pthread_create(&g->thread, NULL, watchdog, g)) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        goto fail;
    }
    return g;
fail:
    log_warn("http: cannot start the request-head watchdog; slow clients are cut by the idle "
             "timeout only");
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
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct connguard_conn *connguard_open(struct connguard *g, int fd)
{
    struct connguard_conn *c;
    if (!g || fd < 0 || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->fd = fd;
    atomic_init(&c->busy, false);
    atomic_init(&c->since_us, time_mono_us());
    pthread_mutex_lock(&g->lock);
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
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
    pthread_mutex_unlock(&g->lock);
    free(c);
}

/* Busy and idle run once per request: atomics, no lock. */
void connguard_busy(struct connguard *g, struct connguard_conn *c)
{
    if (g && c)
        atomic_store(&c->busy, true);
}

void connguard_idle(struct connguard *g, struct connguard_conn *c)
{
    if (!g || !c)
        return;
    atomic_store(&c->since_us, time_mono_us());
    atomic_store(&c->busy, false);
}

uint64_t connguard_cut(struct connguard *g)
{
    uint64_t n = 0;
    if (g) {
        pthread_mutex_lock(&g->lock);
        n = g->cut;
        pthread_mutex_unlock(&g->lock);
    }
    return n;
}
