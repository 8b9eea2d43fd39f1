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

/* ---- finding and opening keys (what `agora wallet`, the chain commands and
 * `agora serve --pricing-key` share) ---- */

#define KEYSTORE_MAX_PASSFILE 4096 /* bytes read of a passphrase file */
/* bytes of a passphrase, its terminator included: any first line of a file fits */
#define KEYSTORE_MAX_PASS (KEYSTORE_MAX_PASSFILE + 1)

/* keystore_dir() writes the keystore directory: `opt` if not NULL, else
 * $AGORA_KEYSTORE_DIR, else $HOME/.config/agora/keystore. */
void keystore_dir(const char *opt, char *out, size_t size);

/* keystore_scan() calls `fn` with the path and address of every keystore
 * file in `dir` (dot files and "*.tmp.*" skipped) whose address is `want`
 * (NULL: every one). Returns how many matched, or AG_ENOTFOUND when the
 * directory cannot be opened. */
int keystore_scan(const char *dir, const uint8_t *want,
                  void (*fn)(const char *path, const uint8_t addr[20], void *ud), void *ud);

/* keystore_pick() finds the one keystore of `want` (NULL: the only one) in
 * `dir`: its path and address. Returns 0, AG_ENOTFOUND (no directory, no
 * match) or AG_EEXISTS (several match), with a message naming the directory. */
int keystore_pick(const char *dir, const uint8_t *want, char *path, size_t size, uint8_t addr[20],
                  struct ag_err *e);

/* keystore_passphrase_file() reads the first line of a passphrase file of
 * at most KEYSTORE_MAX_PASSFILE bytes (CR/LF cut; the rest is ignored) into
 * `out` and wipes every temporary. Returns 0, AG_EIO, or AG_ETOOBIG for a
 * larger file or a first line that does not fit in `size`. */
int keystore_passphrase_file(const char *path, char *out, size_t size, struct ag_err *e);

/* keystore_parse_hex_key() reads a 32-byte private key written as 64 hex
 * digits (optional 0x, white space around ignored) and checks it is a valid
 * secp256k1 key. Returns 0 or AG_EINVAL. */
int keystore_parse_hex_key(const char *s, uint8_t key[32]);

/* keystore_load_key() opens a signing key kept in a file: a keystore v3
 * document (decrypted with the first line of `pass_file`, required then),
 * or 64 hex digits of a raw key. A raw key file, and the passphrase file,
 * must not be readable or writable by group or others (mode & 077 == 0):
 * such a file is refused with AG_EFORBIDDEN. The key never appears in a
 * message. Returns 0, AG_EINVAL (neither form, no passphrase file for a
 * keystore), AG_EFORBIDDEN (permissions), AG_EUNAUTH (wrong passphrase), AG_EIO,
 * AG_ETOOBIG. */
int keystore_load_key(const char *path, const char *pass_file, uint8_t key[32], struct ag_err *e);

#endif
