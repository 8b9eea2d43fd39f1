/* rlp.h - Recursive Length Prefix encoding (Ethereum yellow paper, appendix B).
 *
 * Encoding appends to a capped `struct buf`; a list is written by encoding its
 * items into a scratch buffer and wrapping it with rlp_put_list().
 *
 * Decoding never copies: a `struct rlp_item` points into the caller's bytes,
 * which must outlive it. rlp_decode() checks the whole input is exactly one
 * canonical item (no leading zeros in lengths, no long form where the short
 * form fits, single bytes below 0x80 not wrapped), nested at most
 * RLP_MAX_DEPTH deep and at most RLP_MAX_INPUT bytes long.
 */
#ifndef AGORA_ETH_RLP_H
#define AGORA_ETH_RLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define RLP_MAX_DEPTH 64
#define RLP_MAX_INPUT ((size_t)16 << 20)

/* Encoders return 0, AG_ENOMEM or AG_ETOOBIG. */
int rlp_put_bytes(struct buf *b, const void *p, size_t n);
int rlp_put_str(struct buf *b, const char *s);
/* rlp_put_uint() encodes an integer as its minimal big-endian bytes (0 -> 0x80). */
int rlp_put_uint(struct buf *b, uint64_t v);
/* rlp_put_u256() encodes a 32-byte big-endian integer, leading zeros stripped. */
int rlp_put_u256(struct buf *b, const uint8_t v[32]);
/* rlp_put_list() appends a list header for `n` payload bytes, then the payload. */
int rlp_put_list(struct buf *b, const void *payload, size_t n);

struct rlp_item {
    const uint8_t *p; /* payload (string bytes, or the concatenated list items) */
    size_t n;         /* payload length */
    bool list;
};

/* rlp_decode() decodes exactly one item spanning all `n` bytes, checking the
 * whole tree. Returns 0 or AG_EINVAL (with the reason in `e`). */
int rlp_decode(const uint8_t *p, size_t n, struct rlp_item *out, struct ag_err *e);
/* rlp_list_next() takes the next item off a list's payload cursor (*p, *n),
 * which it advances. Returns 0, AG_ENOTFOUND at the end of the list, or
 * AG_EINVAL on malformed input. Items from rlp_decode() are already checked. */
int rlp_list_next(const uint8_t **p, size_t *n, struct rlp_item *out, struct ag_err *e);
/* rlp_list_count() counts the items of a decoded list, or returns -1. */
long rlp_list_count(const struct rlp_item *list);
/* rlp_get_uint() reads a string item as a canonical unsigned integer
 * (no leading zeros, at most 8 bytes); rlp_get_u256() at most 32 bytes. */
int rlp_get_uint(const struct rlp_item *it, uint64_t *out);
int rlp_get_u256(const struct rlp_item *it, uint8_t out[32]);

#endif
