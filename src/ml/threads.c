/* threads.c - a small fork-join pool that splits loops over kernel work. */
#include "core/common.h"
#include "ml/internal.h"

/* Takes chunks of the current loop until none are left. */
static void drain(struct ml_threads *t)
{
    for (;;) {
        int64_t lo, hi;
        pthread_mutex_lock(&t->mu);
        lo = t->next;
        t->next = MIN(t->total, lo + t->chunk);
        hi = t->next;
        pthread_mutex_unlock(&t->mu);
        if (lo >= hi)
            break;
        t->fn(t->arg, lo, hi);
    }
}

static void *worker(void *arg)
{
    struct ml_threads *t = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->quit && t->gen == seen)
            pthread_cond_wait(&t->go, &t->mu);
        if (t->quit)
            break;
        seen = t->gen;
        pthread_mutex_unlock(&t->mu);
        drain(t);
        pthread_mutex_lock(&t->mu);
        if (--t->pending == 0)
            pthread_cond_signal(&t->done);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

int ml_threads_init(struct ml_threads *t, int n)
{
    memset(t, 0, sizeof(*t));
    t->n = 1;
    if (n <= 1)
        return 0;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->go, NULL);
    pthread_cond_init(&t->done, NULL);
    t->tid = calloc((size_t)n, sizeof(pthread_t));
    if (!t->tid)
        return AG_ENOMEM;
    for (int i = 0; i < n - 1; i++) {
        if (pthread_create(&t->tid[i], NULL, worker, t))
            break;
        t->n++;
    }
    return 0;
}

void ml_threads_release(struct ml_threads *t)
{
    if (t->tid) {
        pthread_mutex_lock(&t->mu);
        t->quit = true;
        pthread_cond_broadcast(&t->go);
        pthread_mutex_unlock(&t->mu);
        for (int i = 0; i < t->n - 1; i++)
            pthread_join(t->tid[i], NULL);
        free(t->tid);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->go);
        pthread_cond_destroy(&t->done);
    }
    memset(t, 0, sizeof(*t));
}

void ml_parallel_for(struct ml_model *m, int64_t n, int64_t grain,
                     void (*fn)(void *arg, int64_t lo, int64_t hi), void *arg)
{
    struct ml_threads *t = m->tp ? m->tp : &m->threads;
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (t->n <= 1 || n <= grain) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->total = n;
    t->next = 0;
    /* A few chunks per thread for balance, none smaller than the grain. */
    t->chunk = MAX(grain, (n + t->n * 4 - 1) / (t->n * 4));
    t->pending = t->n - 1;
    t->gen++;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    drain(t);
    pthread_mutex_lock(&t->mu);
    while (t->pending > 0)
        pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}
