/* ratelimit.h - token-bucket rate limits keyed by a string (a client address,
 * an account, an endpoint), with bounded memory.
 *
 * Each key owns a bucket holding up to `burst` tokens that refills at `rate`
 * tokens per second; a request takes `cost` tokens or is refused with the
 * seconds after which it would succeed. Buckets live in a hash table split
 * into lock stripes (threads taking different keys rarely contend); each
 * stripe holds a fixed number of buckets, allocated once, in LRU order.
 * When a stripe is full its least recently used bucket is reused: buckets
 * that have refilled completely are indistinguishable from absent ones, so
 * only under a flood of distinct keys does a limited key get a fresh bucket
 * (counted in `evicted_active`). Every operation is O(1).
 *
 * Keys are hashed with SipHash under a random per-limiter key, so the hash
 * chains cannot be flooded by chosen keys. Keys longer than
 * RATELIMIT_KEY_MAX bytes are refused (AG_EINVAL).
 *
 * Thread safety: every function but ratelimit_free() may be called from any
 * number of threads at once. The limiter is per process: several nodes
 * behind a balancer each limit what reaches them.
 */
#ifndef AGORA_RATELIMIT_H
#define AGORA_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RATELIMIT_KEY_MAX 127

struct ratelimit_config {
    double rate;     /* tokens per second; <= 0 turns the limiter off */
    double burst;    /* bucket size; < 1 means max(rate, 1) */
    size_t max_keys; /* buckets kept at most; 0 = 65536 */
};

struct ratelimit_stats {
    uint64_t allowed;        /* takes that succeeded */
    uint64_t limited;        /* takes refused */
    uint64_t evicted_active; /* partly drained buckets reused for another key */
    size_t keys;             /* buckets in use now */
};

struct ratelimit;

/*
 * ratelimit_new() makes a limiter. Returns 0 and *out (NULL when the
 * configured rate is <= 0: a NULL limiter allows everything), AG_EINVAL for
 * a burst or key count out of range, or AG_ENOMEM.
 */
int ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **out, struct ag_err *e);
/* ratelimit_free() releases the limiter; NULL is allowed. */
void ratelimit_free(struct ratelimit *rl);

/*
 * ratelimit_take() takes `cost` tokens from the bucket of `key` (a cost of
 * 0 or less counts as 1). A cost above the burst is allowed from a full
 * bucket and leaves it in debt, so an expensive call waits for its price.
 * Returns 0 when allowed; AG_ERATELIMIT when refused, with the whole seconds
 * (at least 1) until it would succeed in *retry_after_s (may be NULL);
 * AG_EINVAL for a NULL, empty or over-long key. A NULL limiter allows.
 */
int ratelimit_take(struct ratelimit *rl, const char *key, double cost, unsigned *retry_after_s);
/* ratelimit_take_at() is ratelimit_take() at a given monotonic time in
 * microseconds (for tests; times must not go backwards per key). */
int ratelimit_take_at(struct ratelimit *rl, const char *key, double cost, int64_t now_us,
                      unsigned *retry_after_s);

/* ratelimit_stats() sums the counters of every stripe. */
void ratelimit_stats(struct ratelimit *rl, struct ratelimit_stats *out);

/*
 * ratelimit_parse() reads a limit written "RATE" or "RATE:BURST" (requests
 * per second, then the bucket size; decimals allowed, e.g. "0.5:10"). "0"
 * means off. Without BURST the burst is max(4 * RATE, 1). Returns 0, or
 * AG_EINVAL with a message naming `what`.
 */
int ratelimit_parse(const char *spec, const char *what, struct ratelimit_config *out,
                    struct ag_err *e);

/* ratelimit_ip_key() writes the key a client address is limited under:
 * an IPv4 address as is, an IPv6 address by its /64 prefix (one host owns a
 * whole /64), with a prefix telling the families apart. */
void ratelimit_ip_key(const char *ip, char *out, size_t size);

#endif
