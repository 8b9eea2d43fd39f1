/* connguard.h - cuts connections that take too long to deliver a request head
 * (slowloris), which libmicrohttpd's idle timeout alone lets through when the
 * client trickles a byte at a time. Internal to src/http/.
 *
 * Each connection gets a record when it opens (connguard_open(), from MHD's
 * connection notification) that lives until it closes (connguard_close());
 * it is "waiting" from its start and from each response until the next
 * request head is complete (connguard_busy()/connguard_idle()). A watchdog
 * thread shuts down (shutdown(2), both ways) the socket of any connection
 * waiting longer than the deadline; libmicrohttpd then sees the connection
 * fail and closes it as usual. Records are removed under the guard's lock
 * before libmicrohttpd closes the descriptor (it notifies first), so a
 * descriptor reused by a new connection is never shut down by mistake.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef AGORA_HTTP_CONNGUARD_H
#define AGORA_HTTP_CONNGUARD_H

#include <stdint.h>

struct connguard;
struct connguard_conn;

/* connguard_start() starts the watchdog with a deadline in seconds; it
 * returns NULL (no guard: the idle timeout alone) when the thread or memory
 * cannot be had, which it logs. */
struct connguard *connguard_start(unsigned deadline_s);
/* connguard_stop() stops the watchdog and frees the guard (NULL allowed).
 * Call it after no connection can open or close any more. */
void connguard_stop(struct connguard *g);

/* connguard_open() registers socket `fd`; returns NULL when out of memory
 * (the connection is then not guarded). */
struct connguard_conn *connguard_open(struct connguard *g, int fd);
void connguard_close(struct connguard *g, struct connguard_conn *c);
/* A request head is complete: the deadline no longer applies. */
void connguard_busy(struct connguard *g, struct connguard_conn *c);
/* A request is over: the deadline runs again for the next one. */
void connguard_idle(struct connguard *g, struct connguard_conn *c);
/* Connections cut so far. */
uint64_t connguard_cut(struct connguard *g);

#endif
