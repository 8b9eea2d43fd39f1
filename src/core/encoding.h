/* encoding.h - hex, base32, base58btc, base64url and unsigned varints.
 *
 * Encoders append to a `struct buf` and return 0, AG_ENOMEM or AG_ETOOBIG.
 * Decoders append the decoded bytes and return AG_EINVAL on any character
 * outside the alphabet (and on non-canonical input: trailing bits set,
 * padding where none belongs), leaving `out` as it was.
 */
#ifndef AGORA_ENCODING_H
#define AGORA_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

int hex_encode(struct buf *out, const void *data, size_t len);
int hex_decode(struct buf *out, const char *s, size_t len);

/* RFC 4648 base32, lowercase alphabet, no padding (multibase 'b'). */
int base32_encode(struct buf *out, const void *data, size_t len);
int base32_decode(struct buf *out, const char *s, size_t len);

/* Bitcoin's base58 alphabet (multibase 'z', CIDv0). */
int base58_encode(struct buf *out, const void *data, size_t len);
int base58_decode(struct buf *out, const char *s, size_t len);

/* RFC 4648 base64url, no padding. */
int base64url_encode(struct buf *out, const void *data, size_t len);
int base64url_decode(struct buf *out, const char *s, size_t len);

/* Unsigned LEB128 varint as multiformats uses it (at most 9 bytes, minimal).
 * varint_put() writes into `out` (10 bytes suffice) and returns the length.
 * varint_get() returns bytes consumed, or 0 if `p` holds no valid varint. */
size_t varint_put(uint8_t *out, uint64_t v);
size_t varint_get(const uint8_t *p, size_t len, uint64_t *v);

#endif
