/* keccak.h - Keccak-256 as Ethereum uses it (original 0x01 padding, not SHA-3).
 *
 * Streaming: keccak_init(), any number of keccak_update(), keccak_final().
 * The context holds no heap memory; after keccak_final() it must be
 * re-initialised before reuse. No function here can fail.
 */
#ifndef AGORA_ETH_KECCAK_H
#define AGORA_ETH_KECCAK_H

#include <nettle/sha3.h>
#include <stddef.h>
#include <stdint.h>

#define KECCAK256_RATE 136

struct keccak {
    struct sha3_state st;
    uint8_t block[KECCAK256_RATE];
    size_t n; /* bytes pending in block, always < KECCAK256_RATE */
};

void keccak_init(struct keccak *k);
void keccak_update(struct keccak *k, const void *data, size_t len);
/* keccak_final() writes the 32-byte digest and wipes the context. */
void keccak_final(struct keccak *k, uint8_t out[32]);
/* keccak256() hashes `len` bytes in one call. */
void keccak256(const void *data, size_t len, uint8_t out[32]);

#endif
