/* connguard.h - the connection watchdog: cuts clients that deliver a request
 * head or body too slowly (slowloris, slow POST), which libmicrohttpd's idle
 * timeout alone lets through when the client trickles a byte at a time, and
 * counts connections per client address for the per-address cap. Internal
 * to src/http/.
 *
 * Each connection gets a record when it opens (connguard_open(), from MHD's
 * connection notification) that lives until it closes (connguard_close()).
 * A record is in one of three states:
 *   waiting  from its start and from each response until the next request
 *            head is complete: cut past the head deadline, without an answer;
 *   body     from a complete head announcing a body until the body is in
 *            (connguard_body() ... connguard_answer()): cut when the body
 *            comes slower than the minimum rate, measured over consecutive
 *            windows (the first window is the grace period), or takes longer
 *            than the body deadline; the client then gets a 408 written by
 *            the watchdog itself (nothing else writes to the socket while a
 *            body is being read), and the server's next look at the record
 *            (connguard_answer(), connguard_cut_reason()) sees the cut;
 *   busy     the request is being answered: never cut.
 * Bytes the client sent that still wait in the kernel's receive queue count
 * as delivered (FIONREAD), so a node too busy to read is not mistaken for a
 * slow client.
 *
 * Cutting shuts the socket down (shutdown(2), both ways); libmicrohttpd then
 * sees the connection fail and closes it as usual. Records are removed under
 * the guard's lock before libmicrohttpd closes the descriptor (it notifies
 * first), so a descriptor reused by a new connection is never touched by
 * mistake.
 *
 * Per-address counts: connections are counted per client address (IPv4 as
 * is, IPv6 by its /64, an IPv4-mapped IPv6 address as the IPv4 one) from
 * open to close; memory is one small entry per distinct address with an open
 * connection, in a hash table keyed with SipHash under a random key.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef AGORA_HTTP_CONNGUARD_H
#define AGORA_HTTP_CONNGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct connguard;
struct connguard_conn;

struct connguard_config {
    unsigned head_deadline_s;    /* a request head must be complete within this; 0 = 30 */
    unsigned min_body_rate;      /* body bytes per second at least; 0 = no minimum */
    unsigned body_window_s;      /* the rate is checked over windows this long; 0 = 30 */
    unsigned body_deadline_s;    /* a whole body must arrive within this; 0 = no limit */
    unsigned max_per_ip;         /* connections per address past which requests get 503; 0 = off */
    unsigned max_per_ip_hard;    /* per address accepted at all (connguard_admit()); 0 = off */
    unsigned expected_conns;     /* sizes the per-address table; 0 = 1024 */
};

/* Why a connection was cut (connguard_cut_reason()). */
enum connguard_cut {
    CONNGUARD_NOT_CUT = 0,
    CONNGUARD_CUT_HEAD,      /* request head not complete within the deadline */
    CONNGUARD_CUT_BODY_RATE, /* body slower than the minimum rate over a window */
    CONNGUARD_CUT_BODY_TIME, /* body not complete within the body deadline */
};

/* What the watchdog saw of a body it cut (for the log line). */
struct connguard_cut_info {
    enum connguard_cut reason;
    bool answered;         /* a 408 was written to the client */
    uint64_t bytes;        /* body bytes the client had delivered */
    uint64_t window_bytes; /* of which in the last window */
    unsigned seconds;      /* the body's age when cut */
};

struct connguard_stats {
    uint64_t cut_head, cut_body_rate, cut_body_time;
    uint64_t over_ip_cap;  /* requests answered 503 for their address's cap */
    uint64_t refused_ip;   /* connections refused past the hard per-address cap */
};

/* connguard_start() starts the watchdog; it returns NULL (no guard: the idle
 * timeout alone, no per-address counts) when the thread or memory cannot be
 * had, which it logs. */
struct connguard *connguard_start(const struct connguard_config *cfg);
/* connguard_stop() stops the watchdog and frees the guard (NULL allowed).
 * Call it after no connection can open or close any more. */
void connguard_stop(struct connguard *g);

/* connguard_admit() is the accept policy: false when `sa`'s address already
 * holds max_per_ip_hard connections (the connection is then refused without
 * an answer). Always true without a guard or with the cap off. */
bool connguard_admit(struct connguard *g, const struct sockaddr *sa);
/* connguard_open() registers socket `fd` of a client at `sa` (may be NULL:
 * not counted per address); returns NULL when out of memory (the connection
 * is then neither guarded nor counted). */
struct connguard_conn *connguard_open(struct connguard *g, int fd, const struct sockaddr *sa);
void connguard_close(struct connguard *g, struct connguard_conn *c);
/* connguard_over_ip_cap() tells whether the connection opened past its
 * address's max_per_ip connections and the address still holds more than
 * that (its earlier connections are never refused); it counts the refusal. */
bool connguard_over_ip_cap(struct connguard *g, struct connguard_conn *c);

/* A request head is complete: the head deadline no longer applies. */
void connguard_busy(struct connguard *g, struct connguard_conn *c);
/* The request has a body that will now be read: the body limits apply.
 * `request_id` (copied) goes into the 408 the watchdog may write. */
void connguard_body(struct connguard *g, struct connguard_conn *c, const char *request_id);
/* `n` more body bytes arrived (no lock: one atomic add). */
void connguard_body_bytes(struct connguard_conn *c, uint64_t n);
/* connguard_answer() is called before a response is queued: it ends the
 * body state and returns false when the watchdog has already cut the
 * connection (the caller must then not answer), true otherwise. */
bool connguard_answer(struct connguard *g, struct connguard_conn *c);
/* A request is over: the head deadline runs again for the next one. */
void connguard_idle(struct connguard *g, struct connguard_conn *c);
/* connguard_cut_reason() fills *info (may be NULL) and returns why the
 * connection was cut, or CONNGUARD_NOT_CUT. */
enum connguard_cut connguard_cut_reason(struct connguard *g, struct connguard_conn *c,
                                        struct connguard_cut_info *info);

/* Counters since start (zeros without a guard). */
void connguard_stats(struct connguard *g, struct connguard_stats *out);

#endif
