/* fuzz_core_encoding.c - decoders of hex, base32, base58, base64url and varints,
 * and that whatever decodes re-encodes to the same text. */
#include "core/common.h"
#include "core/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*codec_fn)(struct buf *, const char *, size_t);
typedef int (*enc_fn)(struct buf *, const void *, size_t);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const codec_fn dec[] = {hex_decode, base32_decode, base58_decode, base64url_decode};
    static const enc_fn enc[] = {hex_encode, base32_encode, base58_encode, base64url_encode};
    uint64_t v;
    size_t n = varint_get(data, size, &v);
    if (n) {
        uint8_t out[10];
        if (varint_put(out, v) != n || memcmp(out, data, n))
            abort();
    }
    if (size > 4096)
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(dec); i++) {
        struct buf b, t;
        buf_init(&b, 1 << 16);
        buf_init(&t, 1 << 16);
        if (dec[i]((struct buf *)&b, (const char *)data, size) == 0) {
            enc[i](&t, b.p, b.n);
            /* hex decoding accepts upper case; the others are canonical. */
            if (i > 0 && (t.n != size || memcmp(t.p, data, size)))
                abort();
        }
        buf_release(&b);
        buf_release(&t);
    }
    return 0;
}
