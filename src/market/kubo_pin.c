/* kubo_pin.c - the Kubo re-pin queue: pins stored roots to Kubo from a background thread, with backoff.
 *
 * The queue is the database's kubo_pins table (store.h): storing a file
 * queues its root in the same transaction that records it (storage.c), so
 * no root is forgotten, whether Kubo was down, slow, or the node restarted
 * in between. One thread per node works through it; with several nodes on
 * one database each may pin a root once more than needed, which Kubo's
 * dag/import takes as a no-op. docs/storage.md ("Kubo") describes it.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "ipfs/cid.h"
#include "market/internal.h"

#include <pthread.h>
#include <time.h>

#define PIN_BATCH         16  /* roots per pass */
#define PIN_TICK_S        1   /* between passes while roots wait */
#define PIN_IDLE_S        30  /* between passes while none does */
#define PIN_BACKOFF_MAX_S 600

struct market_kubo_pinner {
    struct market *m;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool woken;
    atomic_bool stop;
};

/* backoff() is the wait after failed attempt number `attempts` (from 1). */
static int64_t backoff(int64_t attempts)
{
    return attempts >= 10 ? PIN_BACKOFF_MAX_S : MIN((int64_t)1 << attempts, PIN_BACKOFF_MAX_S);
}

/* pin_one() pins queued root `name`; 0 when pinned, else the pin's error. */
static int pin_one(struct market *m, const char *name, const atomic_bool *cancel,
                   struct ag_err *e)
{
    struct cid root;
    if (!name || cid_parse(&root, name, NULL))
        return ag_errf(e, AG_ECORRUPT, NULL, "queued root %s is not a CID", name ? name : "(null)");
    return market__kubo_pin(m, &root, cancel, e);
}

int market_kubo_pin_pass(struct market *m, bool *down, int *pinned, const atomic_bool *cancel,
                         struct ag_err *e)
{
    json_t *due = NULL, *row;
    int64_t now = time_now();
    size_t i;
    int n = 0, rc = 0;

    if (!market_storage_kubo_url(m))
        goto out;
    if (*down) {
        if (strcmp(market_kubo_status(m), "ok"))
            goto out;
        log_info("storage: Kubo answers again; pinning the roots that wait for it");
        *down = false;
        if ((rc = store_kubo_pin_wake(m->store, now, e)))
            goto out;
    }
    if ((rc = store_kubo_pin_due(m->store, now, PIN_BATCH, &due, e)))
        goto out;
    json_array_foreach(due, i, row)
    {
        const char *cid = json_string_value(json_object_get(row, "cid"));
        int64_t attempts = json_integer_value(json_object_get(row, "attempts")) + 1;
        struct ag_err pe = {0};

        if (cancel && atomic_load(cancel))
            break;
        if (!pin_one(m, cid, cancel, &pe)) {
            log_info("storage: pinned %s to Kubo", cid);
            n++;
            if ((rc = store_kubo_pin_done(m->store, cid, e)))
                break;
            continue;
        }
        if ((rc = store_kubo_pin_retry(m->store, cid, time_now() + backoff(attempts), pe.msg, e)))
            break;
        if (!strcmp(market_kubo_status(m), "unreachable")) {
            log_warn("storage: Kubo is unreachable (%s): %s stays on local storage only "
                     "until Kubo is back, and so do the roots queued after it",
                     pe.msg, cid);
            *down = true;
            break;
        }
        log_warn("storage: pinning %s to Kubo failed (attempt %" PRId64 ", next in %" PRId64
                 " s): %s",
                 cid, attempts, backoff(attempts), pe.msg);
    }
out:
    json_decref(due);
    if (pinned)
        *pinned = n;
    return rc;
}

int market_kubo_pending(struct market *m, int64_t *n, struct ag_err *e)
{
    return store_kubo_pin_count(m->store, n, e);
}

/* ---- the thread ------------------------------------------------------------- */

static void *pinner_main(void *arg)
{
    struct market_kubo_pinner *p = arg;
    bool down = false;

    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop)) {
        struct ag_err e = {0};
        struct timespec until;
        int64_t waiting = 0;

        p->woken = false;
        pthread_mutex_unlock(&p->lock);
        if (market_kubo_pin_pass(p->m, &down, NULL, &p->stop, &e) ||
            market_kubo_pending(p->m, &waiting, &e))
            log_warn("storage: the Kubo re-pin queue failed: %s", e.msg);
        pthread_mutex_lock(&p->lock);
        if (p->woken || atomic_load(&p->stop))
            continue;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += waiting ? PIN_TICK_S : PIN_IDLE_S;
        pthread_cond_timedwait(&p->wake, &p->lock, &until);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int market_kubo_pinner_start(struct market *m, struct ag_err *e)
{
    struct market_kubo_pinner *p;

    assert(!m->kubo_pinner);
    if (!market_storage_kubo_url(m))
        return 0;
    if (!(p = calloc(1, sizeof(*p))))
        return ag_err_set(e, AG_ENOMEM);
    p->m = m;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->stop, false);
    if (pthread_create(&p->thread, NULL, pinner_main, p)) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        free(p);
        return ag_errf(e, AG_EINTERNAL, NULL, "cannot start the Kubo pinning thread");
    }
    m->kubo_pinner = p;
    return 0;
}

void market_kubo_pinner_wake(struct market *m)
{
    struct market_kubo_pinner *p = m->kubo_pinner;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->woken = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void market_kubo_pinner_stop(struct market *m)
{
    struct market_kubo_pinner *p = m->kubo_pinner;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
    m->kubo_pinner = NULL;
}
