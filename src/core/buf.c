/* buf.c - a growing byte buffer with a size cap. */
#include "core/common.h"
#include "core/buf.h"
#include "core/err.h"

static char empty[1];

void buf_init(struct buf *b, size_t max)
{
    b->p = empty;
    b->n = 0;
    b->cap = 0;
    b->max = max ? max : BUF_MAX_DEFAULT;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->p);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->n = 0;
    /* Never write to the shared static empty string: other threads read it. */
    if (b->cap)
        b->p[0] = '\0';
    else
        b->p = empty;
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *p = b->cap ? b->p : strdup("");
    if (len)
        *len = b->n;
    buf_init(b, b->max);
    return p;
}

int buf_grow(struct buf *b, size_t extra)
{
    size_t want, cap;
    char *p;

    if (extra > b->max || b->n > b->max - extra)
        return AG_ETOOBIG;
    want = b->n + extra + 1;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (b->max < SIZE_MAX && cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->cap ? b->p : NULL, cap);
    if (!p)
        return AG_ENOMEM;
    if (!b->cap)
        p[0] = '\0';
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
    int rc = buf_grow(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int len, rc;

    va_copy(cp, ap);
    len = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (len < 0)
        return AG_EINVAL;
    rc = buf_grow(b, (size_t)len);
    if (rc)
        return rc;
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    b->n += (size_t)len;
    return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_read_file(struct buf *b, const char *path)
{
    char chunk[16384];
    size_t got, start = b->n;
    int rc = 0;
    FILE *f = fopen(path, "rb");

    if (!f)
        return AG_EIO;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = buf_add(b, chunk, got);
        if (rc)
            break;
    }
    if (!rc && ferror(f))
        rc = AG_EIO;
    fclose(f);
    if (rc) {
        /* All or nothing: drop the part of the file already appended. */
        b->n = start;
        if (b->cap)
            b->p[start] = '\0';
    }
    return rc;
}
