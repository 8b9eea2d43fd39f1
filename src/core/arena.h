/* arena.h - a bump allocator for what lives exactly as long as one request
 * (H2O's h2o_mem_pool_t). Everything allocated is freed at once by
 * arena_release(); nothing is freed individually. Allocation never returns
 * NULL: on out-of-memory the process aborts, as the request could not be
 * answered anyway and a partial state would be worse.
 */
#ifndef AGORA_ARENA_H
#define AGORA_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    size_t used;   /* bytes used in head */
};

void arena_init(struct arena *a);
void arena_release(struct arena *a);
/* arena_reset() frees what arena_release() frees but keeps one standard
 * chunk for the arena's next life: a reused arena then allocates nothing
 * until it outgrows that chunk. */
void arena_reset(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* arena_printf() returns the formatted string, or "" when the format cannot be
 * rendered (an encoding error). */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
