/* keystore.h - Web3 Secret Storage v3 keystore files (what geth, ethers and MetaMask write).
 *
 * A keystore is a JSON document holding a private key encrypted with
 * AES-128-CTR (OpenSSL) under a key derived from a passphrase (scrypt via
 * libsodium, or pbkdf2 with HMAC-SHA256 via OpenSSL on read), with
 * MAC = keccak256(derivedKey[16..32] || ciphertext).
 * Passphrases are used as raw bytes (ethers normalizes to NFKC first, which
 * changes nothing for ASCII). Private keys are wiped from every temporary.
 *
 * Reading accepts "crypto" or "Crypto" and bounds the KDF cost (scrypt
 * n <= 2^18, memory 128*n*r <= 512 MiB, work 128*n*r*p <= 1 GiB; pbkdf2
 * c <= 10^7) so a hostile file cannot exhaust memory or time. geth's and
 * ethers' standard parameters are well inside these bounds.
 */
#ifndef AGORA_ETH_KEYSTORE_H
#define AGORA_ETH_KEYSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define KEYSTORE_SCRYPT_N_DEFAULT ((uint64_t)1 << 17)
#define KEYSTORE_SCRYPT_N_MAX     ((uint64_t)1 << 18)
#define KEYSTORE_MAX_FILE         65536

/* keystore_encrypt() encrypts `priv` with scrypt (n = scrypt_n, r = 8, p = 1;
 * 0 means KEYSTORE_SCRYPT_N_DEFAULT; tests may pass a small power of two)
 * and returns a new keystore document in *out. Returns 0, AG_EINVAL for a bad
 * key or n, AG_ENOMEM, or AG_EINTERNAL if the crypto library fails. */
int keystore_encrypt(const uint8_t priv[32], const char *pass, size_t passlen, uint64_t scrypt_n,
                     json_t **out, struct ag_err *e);
/* keystore_decrypt() recovers the key. Returns 0, AG_EUNAUTH for a wrong
 * passphrase (MAC mismatch), AG_EINVAL for a malformed document or one
 * whose address does not match the key, or AG_ETOOBIG for a KDF too costly. */
int keystore_decrypt(json_t *ks, const char *pass, size_t passlen, uint8_t priv[32],
                     struct ag_err *e);
/* keystore_write_file() writes `ks` to `path` with mode 0600 (via a
 * temporary file and rename, so a crash leaves no partial file).
 * Returns 0 or AG_EIO. */
int keystore_write_file(const char *path, json_t *ks, struct ag_err *e);
/* keystore_read_file() parses a keystore file of at most KEYSTORE_MAX_FILE bytes. */
int keystore_read_file(const char *path, json_t **out, struct ag_err *e);
/* keystore_address() reads the "address" member as 20 bytes; AG_ENOTFOUND if absent. */
int keystore_address(json_t *ks, uint8_t addr[20]);

#endif
