/* u256.h - 256-bit unsigned integers as 32-byte big-endian arrays.
 *
 * Ethereum quantities (wei, token amounts, ABI uint256) do not fit in 64 bits,
 * so they travel as `uint8_t[32]` big-endian. Signed values (ABI int<M>) use
 * the same array in two's complement. Nothing here allocates.
 */
#ifndef AGORA_ETH_U256_H
#define AGORA_ETH_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest decimal of a 256-bit value plus sign and NUL. */
#define U256_DEC_MAX 80

/* u256_parse() reads a decimal string or a "0x" hex string (at most 64 hex
 * digits after leading zeros are dropped) into `out`. Returns 0, or AG_EINVAL
 * for an empty string, a stray character or a value >= 2^256. */
int u256_parse(const char *s, uint8_t out[32]);
/* i256_parse() also accepts a leading '-' and writes two's complement;
 * AG_EINVAL when the magnitude does not fit int256. */
int i256_parse(const char *s, uint8_t out[32]);

void u256_from_u64(uint64_t v, uint8_t out[32]);
/* u256_to_u64() returns false (and leaves *out alone) if v >= 2^64. */
bool u256_to_u64(const uint8_t v[32], uint64_t *out);
bool u256_is_zero(const uint8_t v[32]);
/* u256_bits() returns the number of significant bits (0 for zero). */
unsigned u256_bits(const uint8_t v[32]);
/* u256_neg() negates in two's complement, in place. */
void u256_neg(uint8_t v[32]);
/* u256_add() sets r = a + b; returns false on overflow (r is then mod 2^256). */
bool u256_add(uint8_t r[32], const uint8_t a[32], const uint8_t b[32]);
/* u256_cmp() returns <0, 0 or >0. */
int u256_cmp(const uint8_t a[32], const uint8_t b[32]);

/* u256_to_dec() writes the decimal form; i256_to_dec() reads `v` as signed. */
void u256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX]);
void i256_to_dec(const uint8_t v[32], char out[U256_DEC_MAX]);
/* u256_to_quantity() writes the JSON-RPC QUANTITY form: "0x0", "0x1a2b". */
void u256_to_quantity(const uint8_t v[32], char out[67]);

#endif
