/* rlp.c - RLP encoder and strict decoder. */
#include "core/common.h"

#include "eth/rlp.h"

/* put_header() writes the prefix for a payload of `n` bytes; `base` is 0x80
 * for strings and 0xc0 for lists. */
static int put_header(struct buf *b, uint8_t base, size_t n)
{
    uint8_t h[9];
    if (n <= 55) {
        h[0] = (uint8_t)(base + n);
        return buf_add(b, h, 1);
    }
    size_t len = 0;
    for (size_t x = n; x; x >>= 8)
        len++;
    h[0] = (uint8_t)(base + 55 + len);
    for (size_t i = 0; i < len; i++)
        h[len - i] = (uint8_t)(n >> (8 * i));
    return buf_add(b, h, len + 1);
}

int rlp_put_bytes(struct buf *b, const void *p, size_t n)
{
    const uint8_t *s = p;
    if (n == 1 && s[0] < 0x80)
        return buf_add(b, s, 1);
    size_t old = b->n;
    int rc = put_header(b, 0x80, n);
    if (!rc && n)
        rc = buf_add(b, p, n);
    if (rc && b->cap) {
        b->n = old;
        b->p[old] = '\0';
    }
    return rc;
}

int rlp_put_str(struct buf *b, const char *s)
{
    return rlp_put_bytes(b, s, strlen(s));
}

int rlp_put_uint(struct buf *b, uint64_t v)
{
    uint8_t be[8];
    size_t n = 0;
    for (int i = 7; i >= 0; i--) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        if (byte || n)
            be[n++] = byte;
    }
    return rlp_put_bytes(b, be, n);
}

int rlp_put_u256(struct buf *b, const uint8_t v[32])
{
    size_t i = 0;
    while (i < 32 && v[i] == 0)
        i++;
    return rlp_put_bytes(b, v + i, 32 - i);
}

int rlp_put_list(struct buf *b, const void *payload, size_t n)
{
    size_t old = b->n;
    int rc = put_header(b, 0xc0, n);
    if (!rc && n)
        rc = buf_add(b, payload, n);
    if (rc && b->cap) {
        b->n = old;
        b->p[old] = '\0';
    }
    return rc;
}

/* take() reads one item header at the cursor, checks canonical form and
 * bounds, and advances the cursor past the item. */
static int take(const uint8_t **pp, size_t *pn, struct rlp_item *out, struct ag_err *e)
{
    const uint8_t *p = *pp;
    size_t n = *pn;
    if (n == 0)
        return ag_errf(e, AG_EINVAL, "rlp", "RLP: unexpected end of input");
    uint8_t b0 = p[0];
    size_t hdr = 1, len = 0;
    bool list = b0 >= 0xc0;
    if (b0 < 0x80) {
        out->p = p;
        out->n = 1;
        out->list = false;
        *pp = p + 1;
        *pn = n - 1;
        return 0;
    }
    uint8_t base = list ? 0xc0 : 0x80;
    if (b0 <= base + 55) {
        len = (size_t)(b0 - base);
        if (!list && len == 1) {
            if (n < 2)
                return ag_errf(e, AG_EINVAL, "rlp", "RLP: item runs past the end of input");
            if (p[1] < 0x80)
                return ag_errf(e, AG_EINVAL, "rlp",
                               "RLP: single byte below 0x80 must not be wrapped");
        }
    } else {
        size_t ll = (size_t)(b0 - base - 55);
        if (ll > 8 || ll + 1 > n)
            return ag_errf(e, AG_EINVAL, "rlp", "RLP: bad length-of-length");
        if (p[1] == 0)
            return ag_errf(e, AG_EINVAL, "rlp", "RLP: leading zero in length");
        for (size_t i = 0; i < ll; i++) {
            if (len > (SIZE_MAX >> 8))
                return ag_errf(e, AG_EINVAL, "rlp", "RLP: length overflows");
            len = (len << 8) | p[1 + i];
        }
        if (len <= 55)
            return ag_errf(e, AG_EINVAL, "rlp", "RLP: long form used for a short payload");
        hdr = 1 + ll;
    }
    if (len > n - hdr)
        return ag_errf(e, AG_EINVAL, "rlp", "RLP: item runs past the end of input");
    out->p = p + hdr;
    out->n = len;
    out->list = list;
    *pp = p + hdr + len;
    *pn = n - hdr - len;
    return 0;
}

static int check_tree(const struct rlp_item *it, int depth, struct ag_err *e)
{
    if (!it->list)
        return 0;
    if (depth >= RLP_MAX_DEPTH)
        return ag_errf(e, AG_EINVAL, "rlp", "RLP: nested deeper than %d", RLP_MAX_DEPTH);
    const uint8_t *p = it->p;
    size_t n = it->n;
    while (n) {
        struct rlp_item sub;
        int rc = take(&p, &n, &sub, e);
        if (!rc)
            rc = check_tree(&sub, depth + 1, e);
        if (rc)
            return rc;
    }
    return 0;
}

int rlp_decode(const uint8_t *p, size_t n, struct rlp_item *out, struct ag_err *e)
{
    struct rlp_item it;
    if (n > RLP_MAX_INPUT)
        return ag_errf(e, AG_EINVAL, "rlp", "RLP input larger than %zu bytes", RLP_MAX_INPUT);
    int rc = take(&p, &n, &it, e);
    if (rc)
        return rc;
    if (n != 0)
        return ag_errf(e, AG_EINVAL, "rlp", "RLP: %zu trailing bytes after the item", n);
    rc = check_tree(&it, 0, e);
    if (!rc)
        *out = it;
    return rc;
}

int rlp_list_next(const uint8_t **p, size_t *n, struct rlp_item *out, struct ag_err *e)
{
    if (*n == 0)
        return AG_ENOTFOUND;
    return take(p, n, out, e);
}

long rlp_list_count(const struct rlp_item *list)
{
    if (!list->list)
        return -1;
    const uint8_t *p = list->p;
    size_t n = list->n;
    long count = 0;
    struct rlp_item it;
    while (n) {
        if (take(&p, &n, &it, NULL))
            return -1;
        count++;
    }
    return count;
}

int rlp_get_u256(const struct rlp_item *it, uint8_t out[32])
{
    if (it->list || it->n > 32 || (it->n > 0 && it->p[0] == 0))
        return AG_EINVAL;
    memset(out, 0, 32);
    if (it->n)
        memcpy(out + 32 - it->n, it->p, it->n);
    return 0;
}

int rlp_get_uint(const struct rlp_item *it, uint64_t *out)
{
    uint8_t v[32];
    int rc = rlp_get_u256(it, v);
    if (rc)
        return rc;
    if (it->n > 8)
        return AG_EINVAL;
    uint64_t r = 0;
    for (size_t i = 0; i < it->n; i++)
        r = (r << 8) | it->p[i];
    *out = r;
    return 0;
}
