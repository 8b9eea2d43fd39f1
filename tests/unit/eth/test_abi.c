/* test_abi.c - the ABI codec against the Solidity documentation's examples. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/util.h"
#include "eth/abi.h"
#include "eth/hex.h"
#include "test.h"

/* call_hex() encodes a call and returns its lowercase hex (static buffer). */
static const char *call_hex(const char *sig, const char *args_json)
{
    static char out[8192];
    struct buf b, h;
    json_error_t je;
    json_t *args = json_loads(args_json, 0, &je);
    ASSERT(args != NULL);
    buf_init(&b, 1 << 20);
    buf_init(&h, 1 << 20);
    ASSERT_OK(abi_encode_call_sig(sig, args, &b, NULL));
    ASSERT_OK(hex_encode(&h, b.p, b.n));
    str_copy(out, h.p, sizeof(out));
    buf_release(&b);
    buf_release(&h);
    json_decref(args);
    return out;
}

TEST(abi_solidity_docs_static)
{
    ASSERT_STR_EQ(call_hex("baz(uint32,bool)", "[69, true]"),
                  "cdcd77c0"
                  "0000000000000000000000000000000000000000000000000000000000000045"
                  "0000000000000000000000000000000000000000000000000000000000000001");
    ASSERT_STR_EQ(call_hex("bar(bytes3[2])", "[[\"0x616263\", \"0x646566\"]]"),
                  "fce353f6"
                  "6162630000000000000000000000000000000000000000000000000000000000"
                  "6465660000000000000000000000000000000000000000000000000000000000");
}

TEST(abi_solidity_docs_dynamic)
{
    ASSERT_STR_EQ(call_hex("sam(bytes,bool,uint256[])", "[\"0x64617665\", true, [1, 2, 3]]"),
                  "a5643bf2"
                  "0000000000000000000000000000000000000000000000000000000000000060"
                  "0000000000000000000000000000000000000000000000000000000000000001"
                  "00000000000000000000000000000000000000000000000000000000000000a0"
                  "0000000000000000000000000000000000000000000000000000000000000004"
                  "6461766500000000000000000000000000000000000000000000000000000000"
                  "0000000000000000000000000000000000000000000000000000000000000003"
                  "0000000000000000000000000000000000000000000000000000000000000001"
                  "0000000000000000000000000000000000000000000000000000000000000002"
                  "0000000000000000000000000000000000000000000000000000000000000003");
    ASSERT_STR_EQ(call_hex("f(uint256,uint32[],bytes10,bytes)",
                           "[\"0x123\", [\"0x456\", \"0x789\"], \"0x31323334353637383930\", "
                           "\"0x48656c6c6f2c20776f726c6421\"]"),
                  "8be65246"
                  "0000000000000000000000000000000000000000000000000000000000000123"
                  "0000000000000000000000000000000000000000000000000000000000000080"
                  "3132333435363738393000000000000000000000000000000000000000000000"
                  "00000000000000000000000000000000000000000000000000000000000000e0"
                  "0000000000000000000000000000000000000000000000000000000000000002"
                  "0000000000000000000000000000000000000000000000000000000000000456"
                  "0000000000000000000000000000000000000000000000000000000000000789"
                  "000000000000000000000000000000000000000000000000000000000000000d"
                  "48656c6c6f2c20776f726c642100000000000000000000000000000000000000");
    /* g(uint256[][],string[]) with ([[1,2],[3]], ["one","two","three"]) from the docs */
    ASSERT_STR_EQ(call_hex("g(uint256[][],string[])", "[[[1,2],[3]], [\"one\",\"two\",\"three\"]]"),
                  "2289b18c"
                  "0000000000000000000000000000000000000000000000000000000000000040"
                  "0000000000000000000000000000000000000000000000000000000000000140"
                  "0000000000000000000000000000000000000000000000000000000000000002"
                  "0000000000000000000000000000000000000000000000000000000000000040"
                  "00000000000000000000000000000000000000000000000000000000000000a0"
                  "0000000000000000000000000000000000000000000000000000000000000002"
                  "0000000000000000000000000000000000000000000000000000000000000001"
                  "0000000000000000000000000000000000000000000000000000000000000002"
                  "0000000000000000000000000000000000000000000000000000000000000001"
                  "0000000000000000000000000000000000000000000000000000000000000003"
                  "0000000000000000000000000000000000000000000000000000000000000003"
                  "0000000000000000000000000000000000000000000000000000000000000060"
                  "00000000000000000000000000000000000000000000000000000000000000a0"
                  "00000000000000000000000000000000000000000000000000000000000000e0"
                  "0000000000000000000000000000000000000000000000000000000000000003"
                  "6f6e650000000000000000000000000000000000000000000000000000000000"
                  "0000000000000000000000000000000000000000000000000000000000000003"
                  "74776f0000000000000000000000000000000000000000000000000000000000"
                  "0000000000000000000000000000000000000000000000000000000000000005"
                  "7468726565000000000000000000000000000000000000000000000000000000");
}

TEST(abi_type_parser)
{
    struct abi_type *t = NULL;
    struct buf b;
    buf_init(&b, 4096);
    ASSERT_OK(abi_type_parse("(uint256,address[],bytes)[]", &t, NULL));
    ASSERT_EQ(t->kind, ABI_ARRAY);
    ASSERT_EQ(t->elem->kind, ABI_TUPLE);
    ASSERT_EQ(t->elem->nfields, 3);
    ASSERT(abi_type_dynamic(t));
    abi_type_free(t);
    ASSERT_OK(abi_type_parse("tuple(uint a, int8 b, bytes32[2] c)[3]", &t, NULL));
    ASSERT_OK(abi_type_canonical(t, &b));
    ASSERT_STR_EQ(b.p, "(uint256,int8,bytes32[2])[3]");
    ASSERT(!abi_type_dynamic(t));
    abi_type_free(t);
    static const char *const bad[] = {"uint7",
                                      "uint264",
                                      "bytes33",
                                      "bytes0",
                                      "int0",
                                      "foo",
                                      "uint256[",
                                      "(uint256",
                                      "uint256[0]",
                                      "uint256]",
                                      "",
                                      "(uint256,)",
                                      "uint08",
                                      "bytes01",
                                      "()[]",
                                      "(uint8,())",
                                      "uint256[1000000][1000000][]",
                                      "bytes32[9999999]"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        t = NULL;
        ASSERT_EQ(abi_type_parse(bad[i], &t, NULL), AG_EINVAL);
    }
    /* a nesting bomb is refused, not recursed into */
    char deep[200];
    memset(deep, '(', 100);
    memcpy(deep + 100, "uint8", 6);
    ASSERT_EQ(abi_type_parse(deep, &t, NULL), AG_EINVAL);
    uint8_t sel[4];
    ASSERT_EQ(abi_selector("f(()[])", sel, NULL), AG_EINVAL);
    ASSERT_OK(abi_selector("f()", sel, NULL));
    ASSERT_OK(abi_selector("function transfer(address to, uint256 amount) external returns (bool)",
                           sel, NULL));
    ASSERT(!memcmp(sel, "\xa9\x05\x9c\xbb", 4));
    buf_release(&b);
}

/* roundtrip() encodes `json` as `type`, decodes it back, and compares. */
static void roundtrip(const char *type, const char *json, const char *expect_json)
{
    struct abi_type *t = NULL;
    struct buf b;
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je), *back = NULL;
    json_t *want = json_loads(expect_json, JSON_DECODE_ANY, &je);
    ASSERT(v && want);
    buf_init(&b, 1 << 20);
    ASSERT_OK(abi_type_parse(type, &t, NULL));
    ASSERT_OK(abi_encode(t, v, &b, NULL));
    ASSERT_OK(abi_decode(t, (const uint8_t *)b.p, b.n, &back, NULL));
    char *got = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
    char *exp = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    ASSERT_STR_EQ(got, exp);
    free(got);
    free(exp);
    json_decref(v);
    json_decref(want);
    json_decref(back);
    abi_type_free(t);
    buf_release(&b);
}

TEST(abi_roundtrip_types)
{
    roundtrip("(uint8,int8,int256,bool)", "[255, -128, \"-1\", false]",
              "[\"255\", \"-128\", \"-1\", false]");
    roundtrip("(address,bytes1,bytes32)",
              "[\"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed\", \"0xff\", "
              "\"0x0000000000000000000000000000000000000000000000000000000000000001\"]",
              "[\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\", \"0xff\", "
              "\"0x0000000000000000000000000000000000000000000000000000000000000001\"]");
    roundtrip(
        "(string,bytes,(uint256,string)[],uint16[2][])",
        "[\"h\u00e9llo\", \"0x\", [[1,\"a\"],[2,\"\"]], [[1,2],[3,4]]]",
        "[\"h\u00e9llo\", \"0x\", [[\"1\",\"a\"],[\"2\",\"\"]], [[\"1\",\"2\"],[\"3\",\"4\"]]]");
    roundtrip("string[]", "[\"a\",\"b\"]", "[\"a\",\"b\"]");
    roundtrip("(uint256 amount, address to)",
              "{\"to\": \"0x0000000000000000000000000000000000000001\", \"amount\": \"0xff\"}",
              "[\"255\", \"0x0000000000000000000000000000000000000001\"]");
}

static int enc_err(const char *type, const char *json)
{
    struct abi_type *t = NULL;
    struct buf b;
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    ASSERT(v);
    buf_init(&b, 1 << 20);
    ASSERT_OK(abi_type_parse(type, &t, NULL));
    int rc = abi_encode(t, v, &b, NULL);
    ASSERT_EQ(b.n, 0);
    json_decref(v);
    abi_type_free(t);
    buf_release(&b);
    return rc;
}

TEST(abi_encode_rejects)
{
    ASSERT_EQ(enc_err("uint8", "256"), AG_EINVAL);
    ASSERT_EQ(enc_err("uint256", "-1"), AG_EINVAL);
    ASSERT_EQ(enc_err("int8", "128"), AG_EINVAL);
    ASSERT_EQ(enc_err("int8", "-129"), AG_EINVAL);
    ASSERT_EQ(enc_err("bool", "1"), AG_EINVAL);
    ASSERT_EQ(enc_err("bytes2", "\"0x01\""), AG_EINVAL);
    ASSERT_EQ(enc_err("address", "\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD\""), AG_EINVAL);
    ASSERT_EQ(enc_err("uint8[2]", "[1]"), AG_EINVAL);
    ASSERT_EQ(enc_err("(uint8,bool)", "[1]"), AG_EINVAL);
    ASSERT_EQ(enc_err("bytes", "\"0x1\""), AG_EINVAL);
    ASSERT_EQ(enc_err("string", "5"), AG_EINVAL);
    ASSERT_EQ(enc_err("uint256", "\"12x\""), AG_EINVAL);
}

static int dec_hex(const char *type, const char *hex)
{
    struct abi_type *t = NULL;
    struct buf b;
    json_t *v = NULL;
    buf_init(&b, 1 << 20);
    ASSERT_OK(hex_decode(&b, hex, strlen(hex)));
    ASSERT_OK(abi_type_parse(type, &t, NULL));
    int rc = abi_decode(t, (const uint8_t *)b.p, b.n, &v, NULL);
    json_decref(v);
    abi_type_free(t);
    buf_release(&b);
    return rc;
}

#define Z31 "00000000000000000000000000000000000000000000000000000000000000"
TEST(abi_decode_strict)
{
    ASSERT_OK(dec_hex("uint8", Z31 "ff"));
    ASSERT_EQ(dec_hex("uint8", "00000000000000000000000000000000000000000000000000000000000001ff"),
              AG_EINVAL);
    ASSERT_EQ(dec_hex("bool", Z31 "02"), AG_EINVAL);
    ASSERT_EQ(dec_hex("int8", Z31 "80"), AG_EINVAL); /* not sign-extended */
    ASSERT_OK(dec_hex("int8", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff80"));
    ASSERT_EQ(
        dec_hex("address", "0100000000000000000000000000000000000000000000000000000000000001"),
        AG_EINVAL);
    ASSERT_EQ(dec_hex("bytes1", "0101000000000000000000000000000000000000000000000000000000000000"),
              AG_EINVAL);
    ASSERT_EQ(dec_hex("uint256", Z31), AG_EINVAL); /* short */
    /* bytes: offset out of range, length past the end, dirty padding */
    ASSERT_EQ(dec_hex("bytes", Z31 "40"), AG_EINVAL);
    ASSERT_EQ(dec_hex("bytes", Z31 "20" Z31 "21"
                                   "aa" Z31),
              AG_EINVAL);
    ASSERT_OK(dec_hex("bytes", Z31 "20" Z31 "01"
                                   "aa" Z31));
    ASSERT_EQ(dec_hex("bytes", Z31 "20" Z31 "01"
                                   "aa"
                                   "0000000000000000000000000000000000000000000000000000000000ff"),
              AG_EINVAL);
    /* an array claiming 2^64 elements */
    ASSERT_EQ(dec_hex("uint256[]",
                      Z31 "20"
                          "000000000000000000000000000000000000000000000000ffffffffffffffff"),
              AG_EINVAL);
    /* invalid UTF-8 in a string */
    ASSERT_EQ(dec_hex("string", Z31 "20" Z31 "01"
                                    "ff" Z31),
              AG_EINVAL);
}

TEST(abi_decode_alias_bomb_is_bounded)
{
    /* uint256[][] whose 4000 inner arrays all point at one 1000-element array:
     * 4M values from 160 KB; the value budget must stop it. */
    struct buf b;
    uint8_t w[32] = {0};
    struct abi_type *t = NULL;
    json_t *v = NULL;
    struct ag_err e = {0};
    size_t outer = 4000, inner = 1000;
    buf_init(&b, 64 << 20);
    w[31] = 0x20;
    ASSERT_OK(buf_add(&b, w, 32)); /* offset of the outer array */
    memset(w, 0, 32);
    w[30] = (uint8_t)(outer >> 8), w[31] = (uint8_t)outer;
    ASSERT_OK(buf_add(&b, w, 32));
    for (size_t i = 0; i < outer; i++) {
        size_t off = outer * 32; /* every head points at the same tail */
        memset(w, 0, 32);
        w[29] = (uint8_t)(off >> 16), w[30] = (uint8_t)(off >> 8), w[31] = (uint8_t)off;
        ASSERT_OK(buf_add(&b, w, 32));
    }
    memset(w, 0, 32);
    w[30] = (uint8_t)(inner >> 8), w[31] = (uint8_t)inner;
    ASSERT_OK(buf_add(&b, w, 32));
    memset(w, 0, 32);
    for (size_t i = 0; i < inner; i++)
        ASSERT_OK(buf_add(&b, w, 32));
    ASSERT_OK(abi_type_parse("uint256[][]", &t, NULL));
    ASSERT_EQ(abi_decode(t, (const uint8_t *)b.p, b.n, &v, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "too many values"));
    abi_type_free(t);
    buf_release(&b);
}

TEST(abi_random_data_never_crashes)
{
    static const char *const types[] = {"(uint256,bytes,string[])", "(bool,address)[]", "bytes",
                                        "(uint8[],(string,bytes2)[2])"};
    uint8_t data[320];
    uint32_t x = 777;
    int fails = 0;
    for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
        struct abi_type *t = NULL;
        ASSERT_OK(abi_type_parse(types[ti], &t, NULL));
        for (int iter = 0; iter < 3000; iter++) {
            for (size_t i = 0; i < sizeof(data); i++) {
                x = x * 1664525 + 1013904223;
                /* mostly zero words with small numbers: plausible offsets */
                data[i] =
                    (i % 32 == 31) ? (uint8_t)(x >> 24) % 0x80 : ((x >> 28) == 0 ? (uint8_t)x : 0);
            }
            json_t *v = NULL;
            size_t n = (size_t)(x % sizeof(data));
            if (abi_decode(t, data, n, &v, NULL) == 0)
                json_decref(v);
            else
                fails++;
        }
        abi_type_free(t);
    }
    ASSERT(fails > 0);
}

TEST(abi_events_and_reverts)
{
    struct abi_func ev;
    uint8_t topics[3][32] = {{0}};
    struct buf data, why;
    json_t *out = NULL;
    buf_init(&data, 4096);
    buf_init(&why, 4096);
    ASSERT_OK(abi_func_parse(
        "event Transfer(address indexed from, address indexed to, uint256 value)", &ev, NULL));
    ASSERT_OK(abi_event_topic(&ev, topics[0]));
    ASSERT_OK(
        ethhex_decode(&data, "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"));
    ASSERT(!memcmp(topics[0], data.p, 32));
    buf_reset(&data);
    topics[1][31] = 1;
    topics[2][31] = 2;
    uint8_t w[32] = {0};
    w[31] = 100;
    ASSERT_OK(buf_add(&data, w, 32));
    ASSERT_OK(abi_event_decode(&ev, (const uint8_t(*)[32])topics, 3, (const uint8_t *)data.p,
                               data.n, &out, NULL));
    char *s = json_dumps(out, JSON_COMPACT);
    ASSERT_STR_EQ(s, "[\"0x0000000000000000000000000000000000000001\","
                     "\"0x0000000000000000000000000000000000000002\",\"100\"]");
    free(s);
    json_decref(out);
    ASSERT_EQ(abi_event_decode(&ev, (const uint8_t(*)[32])topics, 2, (const uint8_t *)data.p,
                               data.n, &out, NULL),
              AG_EINVAL);
    /* the same log as a node returns it */
    json_error_t je;
    json_t *log = json_loads(
        "{\"topics\":[\"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef\","
        "\"0x0000000000000000000000000000000000000000000000000000000000000001\","
        "\"0x0000000000000000000000000000000000000000000000000000000000000002\"],"
        "\"data\":\"0x0000000000000000000000000000000000000000000000000000000000000064\"}",
        0, &je);
    ASSERT(log);
    ASSERT_OK(abi_event_decode_log(&ev, log, &out, NULL));
    ASSERT_STR_EQ(json_string_value(json_array_get(out, 2)), "100");
    json_decref(out);
    json_object_set_new(log, "data", json_string("0x12"));
    ASSERT_EQ(abi_event_decode_log(&ev, log, &out, NULL), AG_EINVAL);
    json_object_set_new(log, "topics", json_pack("[s]", "0x1234"));
    ASSERT_EQ(abi_event_decode_log(&ev, log, &out, NULL), AG_EINVAL);
    json_decref(log);
    abi_func_release(&ev);

    /* Error("Not enough Ether provided.") as Solidity emits it */
    buf_reset(&data);
    ASSERT_OK(ethhex_decode(&data,
                            "0x08c379a0"
                            "0000000000000000000000000000000000000000000000000000000000000020"
                            "000000000000000000000000000000000000000000000000000000000000001a"
                            "4e6f7420656e6f7567682045746865722070726f76696465642e000000000000"));
    ASSERT_OK(abi_revert_reason((const uint8_t *)data.p, data.n, NULL, 0, &why));
    ASSERT_STR_EQ(why.p, "Not enough Ether provided.");
    buf_reset(&data);
    buf_reset(&why);
    ASSERT_OK(ethhex_decode(&data, "0x4e487b71" Z31 "11"));
    ASSERT_OK(abi_revert_reason((const uint8_t *)data.p, data.n, NULL, 0, &why));
    ASSERT_STR_EQ(why.p, "panic 0x11: arithmetic overflow or underflow");
    /* a custom error by its ABI */
    struct abi_func err;
    struct buf enc;
    buf_init(&enc, 4096);
    ASSERT_OK(abi_func_parse("error InsufficientBalance(uint256 available, uint256 required)", &err,
                             NULL));
    json_t *args = json_pack("[i,i]", 5, 7);
    ASSERT_OK(abi_encode_call(&err, args, &enc, NULL));
    json_decref(args);
    buf_reset(&why);
    ASSERT_OK(abi_revert_reason((const uint8_t *)enc.p, enc.n, &err, 1, &why));
    ASSERT_STR_EQ(why.p, "InsufficientBalance[\"5\",\"7\"]");
    buf_reset(&why);
    ASSERT_OK(abi_revert_reason((const uint8_t *)enc.p, 4, NULL, 0, &why));
    ASSERT(str_starts(why.p, "reverted with data 0x"));
    abi_func_release(&err);
    buf_release(&enc);
    buf_release(&data);
    buf_release(&why);
}
