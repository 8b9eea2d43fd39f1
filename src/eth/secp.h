/* secp.h - secp256k1 ECDSA for Ethereum: recoverable, low-s signatures.
 *
 * Private keys are 32 bytes; callers own them and should wipe them with
 * sodium_memzero() when done (every function here wipes its own copies).
 * A signature is r, s and the recovery id v in {0, 1}; the 65-byte wire form
 * used by personal_sign is r || s || (27 + v).
 * The library context is created once per process, thread-safely.
 */
#ifndef AGORA_ETH_SECP_H
#define AGORA_ETH_SECP_H

#include <stdint.h>

#include "core/err.h"

struct eth_sig {
    uint8_t r[32];
    uint8_t s[32];
    int v; /* recovery id, 0 or 1 */
};

/* secp_keygen() draws a valid private key from libsodium's CSPRNG. Returns 0
 * or AG_EINTERNAL if the library cannot be set up. */
int secp_keygen(uint8_t priv[32]);
/* secp_key_valid() reports whether 0 < key < n. */
int secp_key_valid(const uint8_t priv[32]);
/* secp_pubkey() writes the uncompressed public key (0x04 || X || Y).
 * Returns 0 or AG_EINVAL for an invalid private key. */
int secp_pubkey(const uint8_t priv[32], uint8_t pub[65]);
/* secp_address() derives the Ethereum address of a private key. */
int secp_address(const uint8_t priv[32], uint8_t addr[20]);
/* secp_sign() signs a 32-byte digest deterministically (RFC 6979), low-s.
 * Returns 0 or AG_EINVAL for an invalid key. */
int secp_sign(const uint8_t priv[32], const uint8_t digest[32], struct eth_sig *sig);
/* secp_recover() recovers the public key that made `sig` over `digest`.
 * Returns 0 or AG_EINVAL when the signature is malformed, high-s, or
 * recovers nothing. */
int secp_recover(const uint8_t digest[32], const struct eth_sig *sig, uint8_t pub[65]);
int secp_recover_address(const uint8_t digest[32], const struct eth_sig *sig, uint8_t addr[20]);

/* sig_to_bytes65() writes r || s || (27 + v). */
void sig_to_bytes65(const struct eth_sig *sig, uint8_t out[65]);
/* sig_from_bytes65() accepts v as 0/1 or 27/28. Returns 0 or AG_EINVAL. */
int sig_from_bytes65(const uint8_t in[65], struct eth_sig *sig);
/* sig_parse_hex() reads a "0x" + 130 hex digit signature. */
int sig_parse_hex(const char *hex, struct eth_sig *sig, struct ag_err *e);
/* sig_format_hex() writes "0x" + 130 hex digits (133 bytes with NUL). */
void sig_format_hex(const struct eth_sig *sig, char out[133]);

#endif
