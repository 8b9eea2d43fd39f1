/* msg.h - signed messages: EIP-191 personal_sign, EIP-712 typed data, EIP-4361 SIWE.
 *
 * EIP-712 documents are JSON as eth_signTypedData_v4 takes them:
 *   {"types": {...}, "primaryType": "Mail", "domain": {...}, "message": {...}}
 * The "EIP712Domain" entry of "types" may be left out; it is then derived
 * from the domain's members (name, version, chainId, verifyingContract, salt).
 *
 * A `struct siwe_msg` owns every string it points to; siwe_msg_release()
 * frees them. Parsed messages are exactly those siwe_format() would print.
 */
#ifndef AGORA_ETH_MSG_H
#define AGORA_ETH_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "eth/secp.h"

#define EIP712_MAX_TYPES   64
#define EIP712_MAX_DEPTH   32
#define SIWE_MAX_LEN       16384
#define SIWE_MAX_RESOURCES 64

/* eip191_hash() computes keccak256("\x19Ethereum Signed Message:\n" + len + msg). */
void eip191_hash(const void *msg, size_t len, uint8_t out[32]);
/* eip191_sign() signs a personal message; eip191_recover() returns its signer. */
int eip191_sign(const uint8_t priv[32], const void *msg, size_t len, struct eth_sig *sig);
int eip191_recover(const void *msg, size_t len, const struct eth_sig *sig, uint8_t addr[20]);

/* eip712_hash() computes the signing digest of a typed-data document and, if
 * `domain_sep` / `struct_hash` are not NULL, the two hashes it is made of.
 * Returns 0 or AG_EINVAL naming what is wrong in `e`. */
int eip712_hash(json_t *doc, uint8_t digest[32], uint8_t domain_sep[32], uint8_t struct_hash[32],
                struct ag_err *e);
/* eip712_encode_type() appends the encodeType string of `primary`,
 * e.g. "Mail(Person from,Person to,string contents)Person(string name,address wallet)". */
int eip712_encode_type(json_t *types, const char *primary, struct buf *out, struct ag_err *e);

struct siwe_msg {
    char *scheme;     /* optional, e.g. "https"; NULL if absent */
    char *domain;     /* RFC 3986 authority */
    char address[43]; /* EIP-55 checksummed */
    char *statement;  /* optional, no newlines */
    char *uri;
    char version[2]; /* "1" */
    uint64_t chain_id;
    char *nonce;           /* >= 8 alphanumerics */
    char *issued_at;       /* RFC 3339 */
    char *expiration_time; /* optional */
    char *not_before;      /* optional */
    char *request_id;      /* optional */
    char **resources;      /* optional URIs */
    size_t nresources;
    bool resources_line; /* "Resources:" present even with no URIs (the ABNF allows it) */
};

void siwe_msg_release(struct siwe_msg *m);
/* siwe_parse() parses EIP-4361 text strictly by the EIP's ABNF. Returns 0 or
 * AG_EINVAL with the offending field in `e`; `m` is untouched on failure. */
int siwe_parse(const char *text, size_t len, struct siwe_msg *m, struct ag_err *e);
/* siwe_format() checks every field and appends the message text. */
int siwe_format(const struct siwe_msg *m, struct buf *out, struct ag_err *e);

struct siwe_expect {
    const char *domain; /* required match if not NULL */
    const char *uri;    /* required match if not NULL */
    uint64_t chain_id;  /* required match if not 0 */
    const char *nonce;  /* required match if not NULL */
    int64_t now;        /* seconds since the epoch, for expiry / not-before */
};

/* siwe_validate() checks time bounds and the expectations. Returns 0,
 * AG_EUNAUTH for an expired / not-yet-valid / mismatched message, or
 * AG_EINVAL for an unreadable timestamp. */
int siwe_validate(const struct siwe_msg *m, const struct siwe_expect *x, struct ag_err *e);
/* siwe_verify() parses `text`, checks the 65-byte hex signature recovers the
 * message's address (EIP-191), then validates it against `x` (may be NULL
 * for no checks but the signature). On success, fills `m` if not NULL. */
int siwe_verify(const char *text, size_t len, const char *sig_hex, const struct siwe_expect *x,
                struct siwe_msg *m, struct ag_err *e);

/* rfc3339_parse() reads an RFC 3339 date-time into seconds since the epoch.
 * Returns 0 or AG_EINVAL. */
int rfc3339_parse(const char *s, int64_t *out);

#endif
