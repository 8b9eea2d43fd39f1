/* u256.c - parsing and printing 256-bit big-endian integers. */
#include "core/common.h"

#include "core/err.h"
#include "eth/u256.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* mul_add() sets v = v * m + a; returns false on overflow. */
static bool mul_add(uint8_t v[32], unsigned m, unsigned a)
{
    unsigned carry = a;
    for (int i = 31; i >= 0; i--) {
        unsigned x = v[i] * m + carry;
        v[i] = (uint8_t)x;
        carry = x >> 8;
    }
    return carry == 0;
}

int u256_parse(const char *s, uint8_t out[32])
{
    uint8_t v[32] = {0};
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 200)
        return AG_EINVAL;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n; i++) {
            int d = hexval((unsigned char)s[i]);
            if (d < 0 || !mul_add(v, 16, (unsigned)d))
                return AG_EINVAL;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9' || !mul_add(v, 10, (unsigned)(s[i] - '0')))
                return AG_EINVAL;
        }
    }
    memcpy(out, v, 32);
    return 0;
}

int i256_parse(const char *s, uint8_t out[32])
{
    bool neg = s && s[0] == '-';
    uint8_t v[32];
    int rc = u256_parse(neg ? s + 1 : s, v);
    if (rc)
        return rc;
    if (!neg) {
        if (v[0] & 0x80)
            return AG_EINVAL;
    } else {
        /* magnitude may be at most 2^255 */
        uint8_t lim[32] = {0x80};
        if (u256_cmp(v, lim) > 0)
            return AG_EINVAL;
        u256_neg(v);
    }
    memcpy(out, v, 32);
    return 0;
}

void u256_from_u64(uint64_t v, uint8_t out[32])
{
    memset(out, 0, 32);
    for (int i = 0; i < 8; i++)
        out[31 - i] = (uint8_t)(v >> (8 * i));
}

bool u256_to_u64(const uint8_t v[32], uint64_t *out)
{
    for (int i = 0; i < 24; i++)
        if (v[i])
            return false;
    uint64_t r = 0;
    for (int i = 24; i < 32; i++)
        r = (r << 8) | v[i];
    *out = r;
    return true;
}

bool u256_is_zero(const uint8_t v[32])
{
    return u256_bits(v) == 0;
}

unsigned u256_bits(const uint8_t v[32])
{
    for (int i = 0; i < 32; i++) {
        if (v[i]) {
            unsigned b = 0;
            for (unsigned x = v[i]; x; x >>= 1)
                b++;
            return (unsigned)(31 - i) * 8 + b;
        }
    }
    return 0;
}

void u256_neg(uint8_t v[32])
{
    unsigned carry = 1;
    for (int i = 31; i >= 0; i--) {
        unsigned x = (unsigned)(uint8_t)~v[i] + carry;
        v[i] = (uint8_t)x;
        carry = x >> 8;
    }
}

bool u256_add(uint8_t r[32], const uint8_t a[32], const uint8_t b[32])
{
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned x = (unsigned)a[i] + b[i] + carry;
        r[i] = (uint8_t)x;
        carry = x >> 8;
    }
    return carry == 0;
}

int u256_cmp(const uint8_t a[32], const uint8_t b[32])
{
    return memcmp(a, b, 32);
}

void u256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX])
{
    uint8_t t[32];
    char tmp[U256_DEC_MAX];
    size_t n = 0;
    memcpy(t, v, 32);
    do {
        unsigned rem = 0;
        for (int i = 0; i < 32; i++) {
            unsigned x = (rem << 8) | t[i];
            t[i] = (uint8_t)(x / 10);
            rem = x % 10;
        }
        tmp[n++] = (char)('0' + rem);
    } while (!u256_is_zero(t));
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

void i256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX])
{
    if (!(v[0] & 0x80)) {
        u256_to_dec(v, out);
        return;
    }
    uint8_t m[32];
    char tmp[U256_DEC_MAX];
    memcpy(m, v, 32);
    u256_neg(m);
    u256_to_dec(m, tmp);
    out[0] = '-';
    for (size_t i = 0; i + 1 < U256_DEC_MAX; i++) {
        out[i + 1] = tmp[i];
        if (!tmp[i])
            break;
    }
}

void u256_to_quantity(const uint8_t v[32], char out[67])
{
    static const char hx[] = "0123456789abcdef";
    size_t n = 0;
    bool started = false;
    out[n++] = '0';
    out[n++] = 'x';
    for (int i = 0; i < 64; i++) {
        unsigned d = (v[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf;
        if (d || started || i == 63) {
            out[n++] = hx[d];
            started = true;
        }
    }
    out[n] = '\0';
}
