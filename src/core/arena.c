/* arena.c - a bump allocator for per-request memory. */
#include "core/common.h"
#include "core/arena.h"

#define CHUNK_SIZE 4096

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    max_align_t data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void arena_release(struct arena *a)
{
    while (a->head) {
        struct arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    a->used = 0;
}

void arena_reset(struct arena *a)
{
    struct arena_chunk *keep = NULL;
    while (a->head) {
        struct arena_chunk *next = a->head->next;
        if (!next && a->head->size == CHUNK_SIZE)
            keep = a->head;
        else
            free(a->head);
        a->head = next;
    }
    a->head = keep;
    a->used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    size_t need;
    struct arena_chunk *c;

    /* A size this large can only be a bug; rounding it up would wrap to 0. */
    if (n > SIZE_MAX / 2)
        abort();
    need = (n + align - 1) / align * align;

    if (!a->head || a->used + need > a->head->size) {
        size_t size = need > CHUNK_SIZE ? need : CHUNK_SIZE;
        c = malloc(sizeof(*c) + size);
        if (!c)
            abort();
        c->size = size;
        /* A big one-off allocation goes behind the head so the head's free
         * space stays usable. */
        if (a->head && need > CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
            return c->data;
        }
        c->next = a->head;
        a->head = c;
        a->used = 0;
    }
    c = a->head;
    a->used += need;
    return (char *)c->data + a->used - need;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    p = arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
    p[0] = '\0'; /* what is returned when the format cannot be rendered */
    if (n > 0) {
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return p;
}
