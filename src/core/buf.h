/* buf.h - a growing byte buffer with a size cap (curl's dynbuf).
 *
 * Invariants: `p` is never NULL after buf_init() (it points at a static empty
 * string until something is added) and p[n] is always '\0', so the contents
 * can be used as a C string when they hold text. A buffer never grows past
 * `max` bytes; an append that would pass it fails with AG_ETOOBIG and leaves
 * the buffer as it was.
 *
 * Ownership: the buffer owns `p`; buf_release() frees it and resets the
 * buffer to empty, buf_detach() hands it to the caller.
 */
#ifndef AGORA_BUF_H
#define AGORA_BUF_H

#include <stddef.h>

struct buf {
    char *p;
    size_t n;    /* bytes used, not counting the trailing NUL */
    size_t cap;  /* bytes allocated; 0 while p is the static empty string */
    size_t max;  /* most bytes it may ever hold */
};

#define BUF_MAX_DEFAULT ((size_t)64 << 20)

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* buf_detach() returns the malloc'd contents (never NULL) and empties `b`. */
char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

/* These return 0, AG_ENOMEM or AG_ETOOBIG. */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* buf_read_file() appends a whole file; AG_EIO if unreadable, AG_ETOOBIG past max. */
int buf_read_file(struct buf *b, const char *path);

#endif
