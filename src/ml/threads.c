/* threads.c - a small fork-join pool that splits loops over kernel work. */
#include "core/common.h"
#include "ml/internal.h"

#include "core/util.h"

/* Takes chunks of the current loop until none are left. The function and
 * argument are read with the chunk, under the lock: a worker that wakes late
 * may join whichever loop is current, never a finished one. The caller of
 * ml_parallel_for() waits only for chunks in flight (`busy`), not for
 * sleeping workers to wake up: on a loaded machine a worker that is not
 * scheduled in time simply misses the loop. */
/* True on a thread while it runs a chunk: a loop started from inside a chunk
 * (a kernel calling another parallel helper) runs inline instead of
 * clobbering the loop in progress. */
static _Thread_local bool in_chunk;

static void drain(struct ml_threads *t)
{
    pthread_mutex_lock(&t->mu);
    for (;;) {
        int64_t lo = t->next, hi = MIN(t->total, lo + t->chunk);
        void (*fn)(void *, int64_t, int64_t) = t->fn;
        void *arg = t->arg;
        if (lo >= hi)
            break;
        if (t->stop && ml_stop_check(t->stop)) {
            /* The run passed its deadline or was cancelled: drop the rest. */
            t->next = t->total;
            if (t->busy == 0)
                pthread_cond_broadcast(&t->done);
            break;
        }
        t->next = hi;
        __atomic_store_n(&t->busy, t->busy + 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&t->mu);
        in_chunk = true;
        fn(arg, lo, hi);
        in_chunk = false;
        pthread_mutex_lock(&t->mu);
        __atomic_store_n(&t->busy, t->busy - 1, __ATOMIC_RELEASE);
        if (t->busy == 0 && t->next >= t->total)
            pthread_cond_broadcast(&t->done);
    }
    pthread_mutex_unlock(&t->mu);
}

/* How long an idle worker polls for the next loop before it sleeps on the
 * condition variable: kernels come back to back, and waking a sleeping
 * thread costs tens of microseconds when the machine is idle and whole
 * scheduler time slices when it is busy, more than most kernels take.
 * Polling keeps the worker on its core between the kernels of a run; half a
 * millisecond after the last loop it sleeps (onnxruntime's pool spins too). */
#define SPIN_US 500
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static void *worker(void *arg)
{
    struct ml_threads *t = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (!t->quit && t->gen == seen) {
            pthread_mutex_unlock(&t->mu);
            int64_t until = time_mono_us() + SPIN_US;
            for (int i = 0;; i++) {
                if (__atomic_load_n(&t->gen, __ATOMIC_ACQUIRE) != seen ||
                    __atomic_load_n(&t->quit, __ATOMIC_ACQUIRE))
                    break;
                cpu_relax();
                if ((i & 63) == 63 && time_mono_us() >= until)
                    break;
            }
            pthread_mutex_lock(&t->mu);
        }
        while (!t->quit && t->gen == seen)
            pthread_cond_wait(&t->go, &t->mu);
        if (t->quit)
            break;
        seen = t->gen;
        pthread_mutex_unlock(&t->mu);
        drain(t);
        pthread_mutex_lock(&t->mu);
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
        __atomic_store_n(&t->quit, true, __ATOMIC_RELEASE);
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

/* Under run limits a loop is cut into at least this many chunks per thread
 * (none smaller than the grain), each started only if the run may go on:
 * a long kernel then stops within a chunk's time of its deadline. */
#define LIMITED_CHUNKS 32

void ml_parallel_for(struct ml_model *m, int64_t n, int64_t grain,
                     void (*fn)(void *arg, int64_t lo, int64_t hi), void *arg)
{
    ml_parallel_for_chunks(m, n, grain, 4, fn, arg);
}

void ml_parallel_for_chunks(struct ml_model *m, int64_t n, int64_t grain, int per_thread,
                            void (*fn)(void *arg, int64_t lo, int64_t hi), void *arg)
{
    struct ml_threads *t = m->tp ? m->tp : &m->threads;
    bool limited = ml_run_has_limits(m);
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (t->n <= 1 || n <= grain || in_chunk) {
        int64_t step = limited ? MAX(grain, (n + LIMITED_CHUNKS - 1) / LIMITED_CHUNKS) : n;
        for (int64_t lo = 0; lo < n; lo += step) {
            if (limited && ml_stop_check(m))
                return;
            fn(arg, lo, MIN(n, lo + step));
        }
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->total = n;
    t->next = 0;
    t->stop = limited ? m : NULL;
    /* A few chunks per thread for balance, none smaller than the grain. */
    per_thread = MAX(1, per_thread);
    t->chunk = MAX(grain, (n + t->n * per_thread - 1) / (t->n * per_thread));
    if (limited)
        t->chunk = MAX(grain, (n + t->n * LIMITED_CHUNKS - 1) / (t->n * LIMITED_CHUNKS));
    __atomic_store_n(&t->gen, t->gen + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    drain(t);
    /* The last chunks are usually a few microseconds from done: poll before
     * sleeping, as the workers do. */
    {
        int64_t until = time_mono_us() + SPIN_US;
        for (int i = 0; __atomic_load_n(&t->busy, __ATOMIC_ACQUIRE) > 0; i++) {
            cpu_relax();
            if ((i & 63) == 63 && time_mono_us() >= until)
                break;
        }
    }
    pthread_mutex_lock(&t->mu);
    while (t->busy > 0)
        pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}
