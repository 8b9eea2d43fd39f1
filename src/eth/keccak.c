/* keccak.c - Keccak-256 on nettle's sha3_permute with the original Keccak padding. */
#include "core/common.h"

#include "eth/keccak.h"

#include <sodium.h>

void keccak_init(struct keccak *k)
{
    memset(k, 0, sizeof(*k));
}

/* absorb() XORs one full rate-sized block into the state (lanes little-endian)
 * and permutes. */
static void absorb(struct keccak *k, const uint8_t *p)
{
    for (size_t i = 0; i < KECCAK256_RATE / 8; i++) {
        uint64_t lane;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&lane, p + 8 * i, 8);
#else
        lane = 0;
        for (int j = 7; j >= 0; j--)
            lane = (lane << 8) | p[8 * i + (size_t)j];
#endif
        k->st.a[i] ^= lane;
    }
    sha3_permute(&k->st);
}

void keccak_update(struct keccak *k, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (k->n) {
        size_t take = MIN(len, KECCAK256_RATE - k->n);
        memcpy(k->block + k->n, p, take);
        k->n += take;
        p += take;
        len -= take;
        if (k->n < KECCAK256_RATE)
            return;
        absorb(k, k->block);
        k->n = 0;
    }
    while (len >= KECCAK256_RATE) {
        absorb(k, p);
        p += KECCAK256_RATE;
        len -= KECCAK256_RATE;
    }
    if (len) {
        memcpy(k->block, p, len);
        k->n = len;
    }
}

void keccak_final(struct keccak *k, uint8_t out[32])
{
    memset(k->block + k->n, 0, KECCAK256_RATE - k->n);
    k->block[k->n] ^= 0x01;
    k->block[KECCAK256_RATE - 1] ^= 0x80;
    absorb(k, k->block);
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 8; j++)
            out[8 * i + j] = (uint8_t)(k->st.a[i] >> (8 * j));
    sodium_memzero(k, sizeof(*k));
}

void keccak256(const void *data, size_t len, uint8_t out[32])
{
    struct keccak k;
    keccak_init(&k);
    keccak_update(&k, data, len);
    keccak_final(&k, out);
}
