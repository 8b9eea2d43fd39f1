/* addr.h - Ethereum addresses: EIP-55 mixed-case checksums, derivation from keys.
 *
 * An address is 20 raw bytes; its text form is "0x" + 40 hex digits, which
 * needs ETH_ADDR_STR (43) bytes with the NUL.
 */
#ifndef AGORA_ETH_ADDR_H
#define AGORA_ETH_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ETH_ADDR_STR 43

/* addr_format() writes the EIP-55 checksummed form of `a`. */
void addr_format(const uint8_t a[20], char out[ETH_ADDR_STR]);
/* addr_parse() reads "0x" + 40 hex digits. All-lowercase and all-uppercase
 * digits are accepted as unchecksummed; mixed case must be a valid EIP-55
 * checksum. With `require_checksum`, unchecksummed forms are refused too.
 * Returns 0 or AG_EINVAL with the reason in `e`. */
int addr_parse(const char *s, uint8_t out[20], bool require_checksum, struct ag_err *e);
/* addr_is_checksummed() reports whether `s` is exactly the EIP-55 form. */
bool addr_is_checksummed(const char *s);
/* addr_from_pubkey() derives the address of an uncompressed 65-byte public
 * key (0x04 || X || Y): the last 20 bytes of keccak256(X || Y). Returns 0 or
 * AG_EINVAL if the key does not start with 0x04. */
int addr_from_pubkey(const uint8_t pub[65], uint8_t out[20]);

#endif
