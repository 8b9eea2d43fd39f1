/* hex.h - "0x"-prefixed hex, the byte notation of Ethereum's JSON interfaces. */
#ifndef AGORA_ETH_HEX_H
#define AGORA_ETH_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* ethhex_decode() appends the bytes of "0x" + an even number of hex digits
 * (either case) to `out`. Returns 0, AG_EINVAL (no prefix, odd length, stray
 * character), AG_ENOMEM or AG_ETOOBIG; `out` is unchanged on failure. */
int ethhex_decode(struct buf *out, const char *s);
/* ethhex_decode_fixed() requires exactly `n` bytes and writes them to `out`. */
int ethhex_decode_fixed(const char *s, uint8_t *out, size_t n);
/* ethhex_encode() appends "0x" + lowercase hex of `n` bytes. */
int ethhex_encode(struct buf *out, const void *p, size_t n);

#endif
