/* ratelimit.c - lock-striped token buckets with a fixed pool per stripe and LRU reuse. */
#include "core/common.h"
#include "core/util.h"
#include "http/ratelimit.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>

#define NSTRIPES     64 /* a power of two */
#define NIL          UINT32_MAX
#define DEFAULT_KEYS 65536
#define MAX_KEYS     ((size_t)1 << 24)

struct bucket {
    uint64_t hash;
    int64_t last_us; /* when tokens was last brought up to date */
    double tokens;
    uint32_t chain;        /* next bucket in the same hash slot */
    uint32_t newer, older; /* LRU list: head is the most recently used */
    uint8_t klen;
    char key[RATELIMIT_KEY_MAX + 1];
};

struct stripe {
    pthread_mutex_t lock;
    uint32_t *slots;     /* hash slot -> first bucket, NIL when empty */
    struct bucket *b;    /* the pool: cap buckets */
    uint32_t cap, mask;  /* mask: slot count - 1 */
    uint32_t used;       /* buckets handed out so far (the pool fills in order) */
    uint32_t free;       /* buckets returned (a chain through `chain`) */
    uint32_t head, tail; /* LRU ends */
    uint32_t n;          /* buckets in use */
    uint64_t allowed, limited, evicted_active;
} __attribute__((aligned(64)));

struct ratelimit {
    double rate, burst;
    int64_t full_us; /* time an empty bucket takes to refill */
    unsigned char sipkey[crypto_shorthash_KEYBYTES];
    struct stripe s[NSTRIPES];
};

int ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **out, struct ag_err *e)
{
    struct ratelimit *rl = NULL;
    size_t keys = cfg->max_keys ? cfg->max_keys : DEFAULT_KEYS;
    uint32_t per, slots = 1;
    int rc = 0;

    *out = NULL;
    if (!(cfg->rate > 0))
        goto out;
    if (!isfinite(cfg->rate) || !isfinite(cfg->burst) || cfg->burst > 1e9 || cfg->rate > 1e9) {
        rc = ag_errf(e, AG_EINVAL, "rate", "rate limit out of range");
        goto out;
    }
    if (keys < NSTRIPES || keys > MAX_KEYS) {
        rc = ag_errf(e, AG_EINVAL, "rate", "rate limiter size must be %d..%zu keys", NSTRIPES,
                     MAX_KEYS);
        goto out;
    }
    per = (uint32_t)((keys + NSTRIPES - 1) / NSTRIPES);
    while (slots < per)
        slots <<= 1;
    rl = aligned_alloc(64, sizeof(*rl));
    if (!rl) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    memset(rl, 0, sizeof(*rl));
    rl->rate = cfg->rate;
    rl->burst = cfg->burst >= 1 ? cfg->burst : MAX(cfg->rate, 1.0);
    rl->full_us = (int64_t)ceil(rl->burst / rl->rate * 1e6);
    crypto_shorthash_keygen(rl->sipkey);
    for (int i = 0; i < NSTRIPES; i++) {
        struct stripe *st = &rl->s[i];
        pthread_mutex_init(&st->lock, NULL);
        st->cap = per;
        st->mask = slots - 1;
        st->free = st->head = st->tail = NIL;
        /* calloc'd pools cost address space, not memory, until used. */
        st->b = calloc(per, sizeof(*st->b));
        st->slots = malloc(slots * sizeof(*st->slots));
        if (!st->b || !st->slots) {
            rc = ag_err_set(e, AG_ENOMEM);
            goto out;
        }
        memset(st->slots, 0xff, slots * sizeof(*st->slots));
    }
    *out = rl;
    rl = NULL;
out:
    ratelimit_free(rl);
    return rc;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        free(rl->s[i].b);
        free(rl->s[i].slots);
        if (rl->s[i].cap)
            pthread_mutex_destroy(&rl->s[i].lock);
    }
    free(rl);
}

/* The LRU list: unlink, push at the head. */
static void lru_unlink(struct stripe *st, uint32_t i)
{
    struct bucket *b = &st->b[i];
    if (b->newer != NIL)
        st->b[b->newer].older = b->older;
    else
        st->head = b->older;
    if (b->older != NIL)
        st->b[b->older].newer = b->newer;
    else
        st->tail = b->newer;
}

static void lru_push(struct stripe *st, uint32_t i)
{
    struct bucket *b = &st->b[i];
    b->newer = NIL;
    b->older = st->head;
    if (st->head != NIL)
        st->b[st->head].newer = i;
    st->head = i;
    if (st->tail == NIL)
        st->tail = i;
}

/* Removes bucket i from its hash chain and the LRU list. */
static void bucket_remove(struct stripe *st, uint32_t i)
{
    uint32_t *link = &st->slots[st->b[i].hash & st->mask];
    while (*link != i)
        link = &st->b[*link].chain;
    *link = st->b[i].chain;
    lru_unlink(st, i);
    st->n--;
}

static double refilled(const struct ratelimit *rl, const struct bucket *b, int64_t now_us)
{
    double t;
    if (now_us <= b->last_us)
        return b->tokens;
    if (now_us - b->last_us >= rl->full_us && b->tokens >= 0)
        return rl->burst;
    t = b->tokens + (double)(now_us - b->last_us) * rl->rate / 1e6;
    return MIN(t, rl->burst);
}

/* Gives a bucket for a new key: a returned one, a fresh one from the pool,
 * else the least recently used one. */
static uint32_t bucket_alloc(struct ratelimit *rl, struct stripe *st, int64_t now_us)
{
    uint32_t i;
    if (st->free != NIL) {
        i = st->free;
        st->free = st->b[i].chain;
        return i;
    }
    if (st->used < st->cap)
        return st->used++;
    i = st->tail;
    if (refilled(rl, &st->b[i], now_us) < rl->burst)
        st->evicted_active++;
    bucket_remove(st, i);
    return i;
}

/* Idle buckets at the LRU tail (refilled to the brim: the same as absent)
 * are returned to the free list, at most two per call, so the table shrinks
 * back after a burst of keys. */
static void reap_idle(struct ratelimit *rl, struct stripe *st, int64_t now_us)
{
    for (int k = 0; k < 2; k++) {
        uint32_t i = st->tail;
        if (i == NIL || refilled(rl, &st->b[i], now_us) < rl->burst)
            return;
        bucket_remove(st, i);
        st->b[i].chain = st->free;
        st->free = i;
    }
}

int ratelimit_take_at(struct ratelimit *rl, const char *key, double cost, int64_t now_us,
                      unsigned *retry_after_s)
{
    struct stripe *st;
    struct bucket *b = NULL;
    uint64_t h;
    size_t klen;
    uint32_t i;
    double tokens, need;
    int rc = 0;

    if (!rl)
        return 0;
    if (!key || !(klen = strlen(key)) || klen > RATELIMIT_KEY_MAX)
        return AG_EINVAL;
    if (!(cost > 0))
        cost = 1;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, klen, rl->sipkey);
    st = &rl->s[h >> 58];
    pthread_mutex_lock(&st->lock);
    reap_idle(rl, st, now_us);
    for (i = st->slots[h & st->mask]; i != NIL; i = st->b[i].chain) {
        b = &st->b[i];
        if (b->hash == h && b->klen == klen && !memcmp(b->key, key, klen))
            break;
    }
    if (i == NIL) {
        i = bucket_alloc(rl, st, now_us);
        b = &st->b[i];
        b->hash = h;
        b->klen = (uint8_t)klen;
        memcpy(b->key, key, klen);
        b->key[klen] = '\0';
        b->tokens = rl->burst;
        b->last_us = now_us;
        b->chain = st->slots[h & st->mask];
        st->slots[h & st->mask] = i;
        st->n++;
    } else {
        lru_unlink(st, i);
    }
    lru_push(st, i);
    tokens = refilled(rl, b, now_us);
    if (now_us > b->last_us)
        b->last_us = now_us;
    need = MIN(cost, rl->burst);
    if (tokens >= need) {
        b->tokens = tokens - cost;
        st->allowed++;
    } else {
        double wait = ceil((need - tokens) / rl->rate);
        b->tokens = tokens;
        st->limited++;
        if (retry_after_s)
            *retry_after_s = wait < 1 ? 1 : wait > 86400 ? 86400 : (unsigned)wait;
        rc = AG_ERATELIMIT;
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int ratelimit_take(struct ratelimit *rl, const char *key, double cost, unsigned *retry_after_s)
{
    return ratelimit_take_at(rl, key, cost, time_mono_us(), retry_after_s);
}

void ratelimit_stats(struct ratelimit *rl, struct ratelimit_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!rl)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        struct stripe *st = &rl->s[i];
        pthread_mutex_lock(&st->lock);
        out->allowed += st->allowed;
        out->limited += st->limited;
        out->evicted_active += st->evicted_active;
        out->keys += st->n;
        pthread_mutex_unlock(&st->lock);
    }
}

/* Reads a non-negative decimal number filling all of [s, end). */
static int parse_number(const char *s, const char *end, double *out)
{
    char tmp[32], *stop;
    size_t n = (size_t)(end - s);
    double v;
    if (n == 0 || n >= sizeof(tmp))
        return AG_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!(tmp[i] >= '0' && tmp[i] <= '9') && tmp[i] != '.')
            return AG_EINVAL;
    errno = 0;
    v = strtod(tmp, &stop);
    if (errno || *stop || !isfinite(v) || v > 1e9)
        return AG_EINVAL;
    *out = v;
    return 0;
}

int ratelimit_parse(const char *spec, const char *what, struct ratelimit_config *out,
                    struct ag_err *e)
{
    const char *colon;
    double rate = 0, burst = 0;

    memset(out, 0, sizeof(*out));
    if (!spec)
        return 0;
    colon = strchr(spec, ':');
    if (parse_number(spec, colon ? colon : spec + strlen(spec), &rate) ||
        (colon && (parse_number(colon + 1, colon + 1 + strlen(colon + 1), &burst) ||
                   (rate > 0 && burst < 1))))
        return ag_errf(e, AG_EINVAL, what,
                       "%s must be RATE or RATE:BURST (requests per second, then a bucket of "
                       "at least 1), e.g. 20:100; 0 turns it off",
                       what);
    out->rate = rate;
    out->burst = colon ? burst : MAX(4 * rate, 1.0);
    return 0;
}

void ratelimit_ip_key(const char *ip, char *out, size_t size)
{
    struct in6_addr a6;
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, &a6) == 1) {
        const uint8_t *p = a6.s6_addr;
        /* An IPv4-mapped address is the IPv4 host itself. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(p, mapped, sizeof(mapped))) {
            snprintf(out, size, "ip4:%u.%u.%u.%u", p[12], p[13], p[14], p[15]);
            return;
        }
        snprintf(out, size, "ip6:%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", p[0], p[1], p[2], p[3],
                 p[4], p[5], p[6], p[7]);
        return;
    }
    snprintf(out, size, "ip4:%s", ip);
}
