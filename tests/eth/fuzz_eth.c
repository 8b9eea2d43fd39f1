/* fuzz_eth.c - fuzz driver for agora_eth's parsers of outside bytes.
 *
 * The first input byte picks the target: RLP, ABI decoding (several types),
 * signed transactions, SIWE messages, ABI type strings and signatures,
 * EIP-712 documents, keystore documents (parsing and KDF checks only).
 *
 * Built with clang and -DAGORA_LIBFUZZER -fsanitize=fuzzer it is a libFuzzer
 * target (see docs/internals/eth.md). Built normally (as ctest's
 * eth.fuzz_smoke: `eth_fuzz [ITERATIONS [SEED]]`) its main() runs a fixed number of deterministic
 * mutations of built-in seeds through the same entry point, under ASan and UBSan.
 */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "eth/abi.h"
#include "eth/keystore.h"
#include "eth/msg.h"
#include "eth/rlp.h"
#include "eth/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ABI_TYPES[] = {"(uint256,bytes,string[])", "(bool,address)[]", "bytes",
                                        "(uint8[],(string,bytes2)[2])",
                                        "(int8,bytes32,uint256[][])"};

/* broken() reports a violated invariant with the input, then aborts. */
static void broken(const char *what, const void *p, size_t n)
{
    fprintf(stderr, "fuzz_eth: %s for input of %zu bytes:\n", what, n);
    fwrite(p, 1, n, stderr);
    fprintf(stderr, "\n");
    abort();
}

static void fuzz_abi(const uint8_t *p, size_t n)
{
    struct abi_type *t = NULL;
    if (n == 0)
        return;
    if (abi_type_parse(ABI_TYPES[p[0] % ARRAY_SIZE(ABI_TYPES)], &t, NULL) == 0) {
        json_t *v = NULL;
        if (abi_decode(t, p + 1, n - 1, &v, NULL) == 0) {
            /* whatever decodes must encode again */
            struct buf b;
            buf_init(&b, ABI_MAX_ENCODED);
            if (abi_encode(t, v, &b, NULL) != 0)
                broken("decoded ABI value does not encode", p, n);
            buf_release(&b);
            json_decref(v);
        }
        abi_type_free(t);
    }
}

static void fuzz_text(int which, const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    if (which == 0) {
        struct abi_type *t = NULL;
        if (abi_type_parse(s, &t, NULL) == 0)
            abi_type_free(t);
    } else if (which == 1) {
        struct abi_func f;
        if (abi_func_parse(s, &f, NULL) == 0)
            abi_func_release(&f);
    } else if (which == 2) {
        struct siwe_msg m;
        if (siwe_parse(s, n, &m, NULL) == 0) {
            struct buf b;
            buf_init(&b, SIWE_MAX_LEN * 2);
            /* a parsed message formats back to the same text */
            if (siwe_format(&m, &b, NULL) != 0 || b.n != n || memcmp(b.p, s, n) != 0)
                broken("parsed SIWE message does not format back", s, n);
            buf_release(&b);
            siwe_msg_release(&m);
        }
    } else {
        json_t *doc = NULL;
        if (json_parse(s, n, &doc, NULL) == 0) {
            uint8_t d[32];
            if (which == 3) {
                eip712_hash(doc, d, NULL, NULL, NULL);
            } else {
                /* only documents too costly to derive are interesting here:
                 * cheap ones would spend the run in scrypt */
                json_t *kp = json_object_get(json_object_get(doc, "crypto"), "kdfparams");
                json_int_t c = json_integer_value(json_object_get(kp, "c"));
                json_int_t nn = json_integer_value(json_object_get(kp, "n"));
                if ((c == 0 && nn == 0) || c > 10000000 || nn > (1 << 18))
                    keystore_decrypt(doc, "x", 1, d, NULL);
            }
            json_decref(doc);
        }
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rlp_item it;
    struct eth_tx_decoded d;
    if (size == 0)
        return 0;
    switch (data[0] % 9) {
    case 0:
        rlp_decode(data + 1, size - 1, &it, NULL);
        break;
    case 1:
        fuzz_abi(data + 1, size - 1);
        break;
    case 2:
        if (tx_decode(data + 1, size - 1, &d, NULL) == 0)
            tx_decoded_release(&d);
        break;
    default:
        fuzz_text(data[0] % 9 - 3, data + 1, size - 1);
        break;
    }
    return 0;
}

#ifndef AGORA_LIBFUZZER
/* Seeds: one valid input per target, then byte flips, inserts, deletes
 * and truncations drawn from a fixed xorshift stream. */
static const char SIWE_SEED[] =
    "example.com wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\nI accept the Terms: https://example.com/tos\n\n"
    "URI: https://example.com/login\nVersion: 1\nChain ID: 1\nNonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\nExpiration Time: 2021-10-01T16:25:24Z\nRequest ID: x\n"
    "Resources:\n- ipfs://bafy/\n- https://example.com/a.json";

static uint64_t rs = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

int main(int argc, char **argv)
{
    static const char *const text_seeds[] = {
        "(uint256,address[],bytes)[]",
        "function f(tuple(uint a, string b)[2] x) returns (bool)",
        SIWE_SEED,
        "{\"types\":{\"P\":[{\"name\":\"a\",\"type\":\"uint8[]\"},{\"name\":\"b\",\"type\":\"Q\"}],"
        "\"Q\":[{\"name\":\"s\",\"type\":\"string\"}]},\"primaryType\":\"P\",\"domain\":{\"name\":"
        "\"x\"},"
        "\"message\":{\"a\":[1,2],\"b\":{\"s\":\"hi\"}}}",
        "{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00\"},"
        "\"ciphertext\":\"00\",\"kdf\":\"scrypt\",\"kdfparams\":{\"dklen\":32,\"n\":1073741824,"
        "\"r\":8,"
        "\"p\":1,\"salt\":\"00\"},\"mac\":\"00\"}}",
    };
    long iters = argc > 1 ? atol(argv[1]) : 20000;
    if (argc > 2)
        rs ^= strtoull(argv[2], NULL, 10) * 0x9e3779b97f4a7c15ULL;
    uint8_t buf[4096];
    for (long i = 0; i < iters; i++) {
        size_t n;
        int target = (int)(i % 9);
        if (target >= 3) {
            const char *s = text_seeds[target - 3 < 5 ? target - 3 : 0];
            n = MIN(strlen(s), sizeof(buf) - 1);
            memcpy(buf + 1, s, n);
            n++;
        } else {
            /* binary targets: random structured-ish bytes */
            n = 1 + rnd() % 600;
            for (size_t k = 1; k < n; k++)
                buf[k] =
                    (k % 32 == 31) ? (uint8_t)(rnd() % 0x100) : (rnd() % 4 ? 0 : (uint8_t)rnd());
            if (target == 0)
                buf[1] = (uint8_t)(0xc0 + rnd() % 64);
            if (target == 2)
                buf[1] = rnd() % 2 ? 0x02 : 0xf8;
        }
        buf[0] = (uint8_t)target;
        for (int m = (int)(rnd() % 4); m > 0 && n > 1; m--) {
            size_t at = 1 + rnd() % (n - 1);
            switch (rnd() % 4) {
            case 0:
                buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1:
                buf[at] = (uint8_t)rnd();
                break;
            case 2:
                n = at;
                break;
            default:
                if (n < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t) "\n:-0x[]( ,{}\"9"[rnd() % 14];
                    n++;
                }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_smoke: %ld inputs, no crash\n", iters);
    return 0;
}
#endif
