/* test_codec.c - keccak, RLP, addresses and 256-bit integers against published vectors. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/rlp.h"
#include "eth/u256.h"
#include "test.h"

static void hex_of(const void *p, size_t n, char *out, size_t size)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_OK(hex_encode(&b, p, n));
    str_copy(out, b.p, size);
    buf_release(&b);
}

static const char *kh(const char *s)
{
    static char out[65];
    uint8_t h[32];
    keccak256(s, strlen(s), h);
    hex_of(h, 32, out, sizeof(out));
    return out;
}

TEST(keccak_vectors)
{
    ASSERT_STR_EQ(kh(""), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    ASSERT_STR_EQ(kh("abc"), "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    /* the ERC-20 Transfer event topic */
    ASSERT_STR_EQ(kh("Transfer(address,address,uint256)"),
                  "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
}

TEST(keccak_streaming_matches_oneshot)
{
    uint8_t data[1000], a[32], b[32];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(data); len += 17) {
        for (size_t step = 1; step < 300; step += 67) {
            struct keccak k;
            keccak256(data, len, a);
            keccak_init(&k);
            for (size_t off = 0; off < len; off += step)
                keccak_update(&k, data + off, MIN(step, len - off));
            keccak_final(&k, b);
            ASSERT(memcmp(a, b, 32) == 0);
        }
    }
    /* exact rate-sized inputs exercise the padding block */
    uint8_t r1[32], r2[32];
    keccak256(data, 135, r1);
    keccak256(data, 136, r2);
    ASSERT(memcmp(r1, r2, 32) != 0);
}

static const char *rlp_hex(struct buf *b)
{
    static char out[512];
    hex_of(b->p, b->n, out, sizeof(out));
    buf_reset(b);
    return out;
}

TEST(rlp_encode_wiki_examples)
{
    struct buf b, l;
    buf_init(&b, 4096);
    buf_init(&l, 4096);
    ASSERT_OK(rlp_put_str(&b, "dog"));
    ASSERT_STR_EQ(rlp_hex(&b), "83646f67");
    ASSERT_OK(rlp_put_str(&l, "cat"));
    ASSERT_OK(rlp_put_str(&l, "dog"));
    ASSERT_OK(rlp_put_list(&b, l.p, l.n));
    ASSERT_STR_EQ(rlp_hex(&b), "c88363617483646f67");
    ASSERT_OK(rlp_put_str(&b, ""));
    ASSERT_STR_EQ(rlp_hex(&b), "80");
    ASSERT_OK(rlp_put_list(&b, "", 0));
    ASSERT_STR_EQ(rlp_hex(&b), "c0");
    ASSERT_OK(rlp_put_uint(&b, 0));
    ASSERT_STR_EQ(rlp_hex(&b), "80");
    ASSERT_OK(rlp_put_bytes(&b, "\x00", 1));
    ASSERT_STR_EQ(rlp_hex(&b), "00");
    ASSERT_OK(rlp_put_uint(&b, 15));
    ASSERT_STR_EQ(rlp_hex(&b), "0f");
    ASSERT_OK(rlp_put_uint(&b, 1024));
    ASSERT_STR_EQ(rlp_hex(&b), "820400");
    ASSERT_OK(rlp_put_str(&b, "Lorem ipsum dolor sit amet, consectetur adipisicing elit"));
    ASSERT_STR_EQ(rlp_hex(&b), "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e"
                               "7365637465747572206164697069736963696e6720656c6974");
    /* set-theoretic three: [ [], [[]], [ [], [[]] ] ] */
    struct buf one, two, three;
    buf_init(&one, 64);
    buf_init(&two, 64);
    buf_init(&three, 64);
    ASSERT_OK(rlp_put_list(&one, "", 0));        /* [] */
    ASSERT_OK(rlp_put_list(&two, one.p, one.n)); /* [[]] */
    buf_reset(&l);
    ASSERT_OK(buf_add(&l, one.p, one.n));
    ASSERT_OK(buf_add(&l, two.p, two.n));
    ASSERT_OK(rlp_put_list(&three, l.p, l.n)); /* [ [], [[]] ] */
    buf_reset(&l);
    ASSERT_OK(buf_add(&l, one.p, one.n));
    ASSERT_OK(buf_add(&l, two.p, two.n));
    ASSERT_OK(buf_add(&l, three.p, three.n));
    ASSERT_OK(rlp_put_list(&b, l.p, l.n));
    ASSERT_STR_EQ(rlp_hex(&b), "c7c0c1c0c3c0c1c0");
    buf_release(&one);
    buf_release(&two);
    buf_release(&three);
    buf_release(&b);
    buf_release(&l);
}

static int rlp_dec_hex(const char *hex, struct rlp_item *it)
{
    static struct buf b;
    buf_release(&b);
    buf_init(&b, 1 << 20);
    ASSERT_OK(hex_decode(&b, hex, strlen(hex)));
    return rlp_decode((const uint8_t *)b.p, b.n, it, NULL);
}

TEST(rlp_decode_canonical_and_rejects)
{
    struct rlp_item it, sub;
    ASSERT_OK(rlp_dec_hex("c88363617483646f67", &it));
    ASSERT(it.list);
    ASSERT_EQ(rlp_list_count(&it), 2);
    const uint8_t *p = it.p;
    size_t n = it.n;
    ASSERT_OK(rlp_list_next(&p, &n, &sub, NULL));
    ASSERT_EQ(sub.n, 3);
    ASSERT(!memcmp(sub.p, "cat", 3));
    ASSERT_OK(rlp_list_next(&p, &n, &sub, NULL));
    ASSERT(!memcmp(sub.p, "dog", 3));
    ASSERT_EQ(rlp_list_next(&p, &n, &sub, NULL), AG_ENOTFOUND);
    uint64_t v;
    ASSERT_OK(rlp_dec_hex("820400", &it));
    ASSERT_OK(rlp_get_uint(&it, &v));
    ASSERT_EQ(v, 1024);
    ASSERT_OK(rlp_dec_hex("c7c0c1c0c3c0c1c0", &it));
    /* non-canonical forms */
    ASSERT_EQ(rlp_dec_hex("8105", &it), AG_EINVAL);   /* single byte wrapped */
    ASSERT_EQ(rlp_dec_hex("b80100", &it), AG_EINVAL); /* long form for short payload */
    ASSERT_EQ(rlp_dec_hex("b90001"
                          "00",
                          &it),
              AG_EINVAL);                                 /* leading zero in length */
    ASSERT_EQ(rlp_dec_hex("83646f", &it), AG_EINVAL);     /* truncated */
    ASSERT_EQ(rlp_dec_hex("83646f6700", &it), AG_EINVAL); /* trailing byte */
    ASSERT_EQ(rlp_dec_hex("c3646f", &it), AG_EINVAL);     /* list payload truncated */
    ASSERT_EQ(rlp_dec_hex("c28105", &it), AG_EINVAL);     /* bad item inside list */
    ASSERT_EQ(rlp_dec_hex("", &it), AG_EINVAL);
    ASSERT_OK(rlp_dec_hex("8200ff", &it));       /* a string may start with zero */
    ASSERT_EQ(rlp_get_uint(&it, &v), AG_EINVAL); /* but not an integer */
    /* nesting deeper than the cap */
    struct buf inner, outer;
    buf_init(&inner, 4096);
    buf_init(&outer, 4096);
    ASSERT_OK(rlp_put_list(&inner, "", 0));
    for (int i = 0; i < 100; i++) {
        buf_reset(&outer);
        ASSERT_OK(rlp_put_list(&outer, inner.p, inner.n));
        buf_reset(&inner);
        ASSERT_OK(buf_add(&inner, outer.p, outer.n));
    }
    ASSERT_EQ(rlp_decode((const uint8_t *)inner.p, inner.n, &it, NULL), AG_EINVAL);
    buf_release(&inner);
    buf_release(&outer);
}

TEST(rlp_random_bytes_never_crash)
{
    uint8_t data[64];
    uint32_t x = 12345;
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 64);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245 + 12345;
            data[i] = (uint8_t)(x >> 16);
        }
        if (n)
            data[0] = (uint8_t)(iter % 3 == 0 && n >= 3 && n <= 56 ? 0x80 + n - 1
                                                                   : (size_t)(0x80 + iter % 0x80));
        struct rlp_item it;
        if (rlp_decode(data, n, &it, NULL) == 0) {
            ok++;
            ASSERT(it.p >= data && it.p + it.n <= data + n);
        } else {
            bad++;
        }
    }
    ASSERT(ok > 0 && bad > 0);
}

TEST(eip55_examples)
{
    static const char *const good[] = {
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        uint8_t a[20];
        char s[ETH_ADDR_STR], lower[43];
        ASSERT_OK(addr_parse(good[i], a, false, NULL));
        addr_format(a, s);
        ASSERT_STR_EQ(s, good[i]);
        ASSERT(addr_is_checksummed(good[i]));
        for (int j = 0; j < 42; j++)
            lower[j] =
                (char)((good[i][j] >= 'A' && good[i][j] <= 'F') ? good[i][j] + 32 : good[i][j]);
        lower[42] = '\0';
        ASSERT_OK(addr_parse(lower, a, false, NULL));
    }
    uint8_t a[20];
    struct ag_err e = {0};
    /* one flipped letter case breaks the checksum */
    ASSERT_EQ(addr_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", a, false, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "checksum"));
    ASSERT_EQ(addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a, true, NULL), AG_EINVAL);
    ASSERT_EQ(addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae", a, false, NULL), AG_EINVAL);
    ASSERT_EQ(addr_parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", a, false, NULL), AG_EINVAL);
    ASSERT_EQ(addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", a, false, NULL), AG_EINVAL);
    ASSERT(!addr_is_checksummed(""));
    ASSERT(!addr_is_checksummed("0"));
    ASSERT(!addr_is_checksummed("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
}

TEST(u256_parse_format)
{
    uint8_t v[32];
    char s[U256_DEC_MAX], q[67];
    const char *max =
        "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    ASSERT_OK(u256_parse(max, v));
    u256_to_dec(v, s);
    ASSERT_STR_EQ(s, max);
    u256_to_quantity(v, q);
    ASSERT_STR_EQ(q, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    ASSERT_EQ(
        u256_parse("115792089237316195423570985008687907853269984665640564039457584007913129639936",
                   v),
        AG_EINVAL);
    ASSERT_OK(u256_parse("0x0de0b6b3a7640000", v));
    u256_to_dec(v, s);
    ASSERT_STR_EQ(s, "1000000000000000000");
    u256_from_u64(0, v);
    u256_to_quantity(v, q);
    ASSERT_STR_EQ(q, "0x0");
    ASSERT_OK(i256_parse("-1", v));
    u256_to_quantity(v, q);
    ASSERT_STR_EQ(q, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    i256_to_dec(v, s);
    ASSERT_STR_EQ(s, "-1");
    ASSERT_OK(i256_parse(
        "-57896044618658097711785492504343953926634992332820282019728792003956564819968", v));
    i256_to_dec(v, s);
    ASSERT_STR_EQ(s,
                  "-57896044618658097711785492504343953926634992332820282019728792003956564819968");
    ASSERT_EQ(
        i256_parse("57896044618658097711785492504343953926634992332820282019728792003956564819968",
                   v),
        AG_EINVAL);
    ASSERT_EQ(u256_parse("", v), AG_EINVAL);
    ASSERT_EQ(u256_parse("12a", v), AG_EINVAL);
    ASSERT_EQ(u256_parse("-1", v), AG_EINVAL);
    ASSERT_EQ(u256_parse("0x", v), AG_EINVAL);
}
