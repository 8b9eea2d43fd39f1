/* encoding.c - hex, base32, base58btc, base64url and unsigned varints. */
#include "core/common.h"
#include "core/encoding.h"
#include "core/err.h"

static const char hexd[] = "0123456789abcdef";
static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int index_of(const char *alphabet, char c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

int hex_encode(struct buf *out, const void *data, size_t len)
{
    const uint8_t *d = data;
    int rc = buf_grow(out, len * 2);
    if (rc)
        return rc;
    for (size_t i = 0; i < len; i++) {
        out->p[out->n++] = hexd[d[i] >> 4];
        out->p[out->n++] = hexd[d[i] & 15];
    }
    out->p[out->n] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(struct buf *out, const char *s, size_t len)
{
    size_t start = out->n;
    int rc;
    if (len % 2)
        return AG_EINVAL;
    rc = buf_grow(out, len / 2);
    if (rc)
        return rc;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            out->n = start;
            out->p[start] = '\0';
            return AG_EINVAL;
        }
        out->p[out->n++] = (char)(hi << 4 | lo);
    }
    out->p[out->n] = '\0';
    return 0;
}

/* Generic encoder for power-of-two bases: `bits` per output character. */
static int bits_encode(struct buf *out, const char *alphabet, unsigned bits, const void *data,
                       size_t len)
{
    const uint8_t *d = data;
    uint32_t acc = 0;
    unsigned have = 0, mask = (1u << bits) - 1;
    int rc = buf_grow(out, (len * 8 + bits - 1) / bits);
    if (rc)
        return rc;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | d[i];
        have += 8;
        while (have >= bits) {
            have -= bits;
            out->p[out->n++] = alphabet[(acc >> have) & mask];
        }
    }
    if (have)
        out->p[out->n++] = alphabet[(acc << (bits - have)) & mask];
    out->p[out->n] = '\0';
    return 0;
}

static int bits_decode(struct buf *out, const char *alphabet, unsigned bits, const char *s,
                       size_t len)
{
    size_t start = out->n;
    uint32_t acc = 0;
    unsigned have = 0;
    int rc = buf_grow(out, len * bits / 8);
    if (rc)
        return rc;
    for (size_t i = 0; i < len; i++) {
        int v = index_of(alphabet, s[i]);
        if (v < 0)
            goto bad;
        acc = (acc << bits) | (uint32_t)v;
        have += bits;
        if (have >= 8) {
            have -= 8;
            out->p[out->n++] = (char)((acc >> have) & 0xff);
        }
    }
    /* Leftover bits must be fewer than a byte's worth and all zero. */
    if (have >= bits || (acc & ((1u << have) - 1)))
        goto bad;
    out->p[out->n] = '\0';
    return 0;
bad:
    out->n = start;
    out->p[start] = '\0';
    return AG_EINVAL;
}

int base32_encode(struct buf *out, const void *data, size_t len)
{
    return bits_encode(out, b32, 5, data, len);
}

int base32_decode(struct buf *out, const char *s, size_t len)
{
    return bits_decode(out, b32, 5, s, len);
}

int base64url_encode(struct buf *out, const void *data, size_t len)
{
    return bits_encode(out, b64u, 6, data, len);
}

int base64url_decode(struct buf *out, const char *s, size_t len)
{
    return bits_decode(out, b64u, 6, s, len);
}

int base58_encode(struct buf *out, const void *data, size_t len)
{
    const uint8_t *d = data;
    size_t zeros = 0, size, high, i;
    uint8_t *tmp;
    int rc;

    while (zeros < len && d[zeros] == 0)
        zeros++;
    size = (len - zeros) * 138 / 100 + 1;
    tmp = calloc(size, 1);
    if (!tmp)
        return AG_ENOMEM;
    high = size;
    for (i = zeros; i < len; i++) {
        unsigned carry = d[i];
        size_t j = size;
        while (j > high || carry) {
            j--;
            carry += 256u * tmp[j];
            tmp[j] = (uint8_t)(carry % 58);
            carry /= 58;
            if (j == 0)
                break;
        }
        high = j;
    }
    for (i = 0; i < size && tmp[i] == 0; i++)
        ;
    rc = buf_grow(out, zeros + (size - i));
    if (!rc) {
        memset(out->p + out->n, '1', zeros);
        out->n += zeros;
        for (; i < size; i++)
            out->p[out->n++] = b58[tmp[i]];
        out->p[out->n] = '\0';
    }
    free(tmp);
    return rc;
}

int base58_decode(struct buf *out, const char *s, size_t len)
{
    size_t zeros = 0, size, i;
    uint8_t *tmp;
    int rc = 0;

    while (zeros < len && s[zeros] == '1')
        zeros++;
    /* Decoding is quadratic in the length, so refuse input that cannot fit in
     * `out` before doing the work: k digits after the leading '1's decode to at
     * least (k-1)*log256(58) + 1 bytes, and log256(58) > 0.732. */
    if (zeros > out->max - out->n ||
        (len > zeros && (len - zeros - 1) * 732 / 1000 + 1 > out->max - out->n - zeros))
        return AG_ETOOBIG;
    size = (len - zeros) * 733 / 1000 + 1;
    tmp = calloc(size, 1);
    if (!tmp)
        return AG_ENOMEM;
    for (i = zeros; i < len; i++) {
        int v = index_of(b58, s[i]);
        unsigned carry;
        if (v < 0) {
            rc = AG_EINVAL;
            goto out;
        }
        carry = (unsigned)v;
        for (size_t j = size; j-- > 0;) {
            carry += 58u * tmp[j];
            tmp[j] = (uint8_t)(carry & 0xff);
            carry >>= 8;
        }
        if (carry) {
            rc = AG_EINVAL;
            goto out;
        }
    }
    for (i = 0; i < size && tmp[i] == 0; i++)
        ;
    rc = buf_grow(out, zeros + size - i);
    if (rc)
        goto out;
    memset(out->p + out->n, 0, zeros);
    out->n += zeros;
    memcpy(out->p + out->n, tmp + i, size - i);
    out->n += size - i;
    out->p[out->n] = '\0';
out:
    free(tmp);
    return rc;
}

size_t varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len && i < 9; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0)
                return 0; /* not minimal */
            *v = x;
            return i + 1;
        }
    }
    return 0;
}
