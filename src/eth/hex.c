/* hex.c - "0x"-prefixed hex encoding and decoding. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/err.h"
#include "eth/hex.h"

int ethhex_decode(struct buf *out, const char *s)
{
    if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return AG_EINVAL;
    return hex_decode(out, s + 2, strlen(s + 2));
}

int ethhex_decode_fixed(const char *s, uint8_t *out, size_t n)
{
    struct buf b;
    int rc;
    buf_init(&b, n + 1);
    rc = ethhex_decode(&b, s);
    if (!rc && b.n != n)
        rc = AG_EINVAL;
    if (!rc)
        memcpy(out, b.p, n);
    buf_release(&b);
    return rc;
}

int ethhex_encode(struct buf *out, const void *p, size_t n)
{
    size_t old = out->n;
    int rc = buf_add(out, "0x", 2);
    if (!rc)
        rc = hex_encode(out, p, n);
    if (rc && out->cap) {
        out->n = old;
        out->p[old] = '\0';
    }
    return rc;
}
