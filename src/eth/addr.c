/* addr.c - EIP-55 checksummed addresses and address derivation. */
#include "core/common.h"

#include "eth/addr.h"
#include "eth/keccak.h"

void addr_format(const uint8_t a[20], char out[ETH_ADDR_STR])
{
    static const char hx[] = "0123456789abcdef";
    char lower[40];
    uint8_t h[32];
    for (int i = 0; i < 20; i++) {
        lower[2 * i] = hx[a[i] >> 4];
        lower[2 * i + 1] = hx[a[i] & 0xf];
    }
    keccak256(lower, 40, h);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        unsigned nib = (h[i / 2] >> ((i & 1) ? 0 : 4)) & 0xf;
        char c = lower[i];
        if (c >= 'a' && nib >= 8)
            c = (char)(c - 'a' + 'A');
        out[2 + i] = c;
    }
    out[42] = '\0';
}

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

int addr_parse(const char *s, uint8_t out[20], bool require_checksum, struct ag_err *e)
{
    uint8_t a[20];
    bool has_lower = false, has_upper = false;
    if (!s || strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return ag_errf(e, AG_EINVAL, "address", "an address is 0x followed by 40 hex digits");
    for (int i = 0; i < 40; i++) {
        int c = (unsigned char)s[2 + i];
        int d = hexval(c);
        if (d < 0)
            return ag_errf(e, AG_EINVAL, "address", "address holds a non-hex character");
        has_lower |= (c >= 'a' && c <= 'f');
        has_upper |= (c >= 'A' && c <= 'F');
        if (i & 1)
            a[i / 2] = (uint8_t)(a[i / 2] | d);
        else
            a[i / 2] = (uint8_t)(d << 4);
    }
    if ((has_lower && has_upper) || require_checksum) {
        char want[ETH_ADDR_STR];
        addr_format(a, want);
        if (memcmp(want + 2, s + 2, 40) != 0)
            return ag_errf(e, AG_EINVAL, "address", "address checksum (EIP-55) does not match");
    }
    memcpy(out, a, 20);
    return 0;
}

bool addr_is_checksummed(const char *s)
{
    uint8_t a[20];
    return s && strlen(s) == 42 && s[1] == 'x' && addr_parse(s, a, true, NULL) == 0;
}

int addr_from_pubkey(const uint8_t pub[65], uint8_t out[20])
{
    uint8_t h[32];
    if (pub[0] != 0x04)
        return AG_EINVAL;
    keccak256(pub + 1, 64, h);
    memcpy(out, h + 12, 20);
    return 0;
}
