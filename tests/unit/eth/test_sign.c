/* test_sign.c - secp256k1, transactions, EIP-191, EIP-712 and SIWE against published vectors. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/msg.h"
#include "eth/secp.h"
#include "eth/tx.h"
#include "eth/u256.h"
#include "test.h"

/* anvil's (and hardhat's) first well-known development account */
#define DEV0_KEY  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define DEV0_ADDR "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

static const char *hexs(const void *p, size_t n)
{
    static char out[4096];
    struct buf b;
    buf_init(&b, 1 << 20);
    ASSERT_OK(hex_encode(&b, p, n));
    str_copy(out, b.p, sizeof(out));
    buf_release(&b);
    return out;
}

TEST(secp_address_sign_recover)
{
    uint8_t key[32], addr[20], digest[32], rec[20];
    char s[ETH_ADDR_STR];
    struct eth_sig sig;
    ASSERT_OK(ethhex_decode_fixed(DEV0_KEY, key, 32));
    ASSERT_OK(secp_address(key, addr));
    addr_format(addr, s);
    ASSERT_STR_EQ(s, DEV0_ADDR);
    keccak256("hello", 5, digest);
    ASSERT_OK(secp_sign(key, digest, &sig));
    ASSERT(!(sig.s[0] & 0x80)); /* low-s */
    ASSERT_OK(secp_recover_address(digest, &sig, rec));
    ASSERT(!memcmp(rec, addr, 20));
    /* RFC 6979: deterministic */
    struct eth_sig sig2;
    ASSERT_OK(secp_sign(key, digest, &sig2));
    ASSERT(!memcmp(&sig, &sig2, sizeof(sig)));
    /* a flipped digest recovers someone else */
    digest[0] ^= 1;
    ASSERT(secp_recover_address(digest, &sig, rec) != 0 || memcmp(rec, addr, 20) != 0);
    /* high-s (n - s) is refused, as Ethereum requires since Homestead */
    uint8_t zero[32] = {0};
    ASSERT_EQ(secp_sign(zero, digest, &sig), AG_EINVAL);
    ASSERT(!secp_key_valid(zero));
    uint8_t fresh[32];
    ASSERT_OK(secp_keygen(fresh));
    ASSERT(secp_key_valid(fresh));
}

TEST(tx_eip155_example)
{
    /* the example transaction of EIP-155 */
    uint8_t key[32], hash[32];
    struct eth_tx tx = {0};
    struct buf raw;
    buf_init(&raw, TX_MAX_RAW);
    memset(key, 0x46, 32);
    tx.type = TX_LEGACY;
    tx.chain_id = 1;
    tx.nonce = 9;
    u256_from_u64(20000000000ULL, tx.gas_price);
    tx.gas_limit = 21000;
    tx.has_to = true;
    memset(tx.to, 0x35, 20);
    ASSERT_OK(u256_parse("1000000000000000000", tx.value));
    ASSERT_OK(tx_signing_hash(&tx, hash));
    ASSERT_STR_EQ(hexs(hash, 32),
                  "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");
    ASSERT_OK(tx_sign(&tx, key, &raw, hash, NULL));
    ASSERT_STR_EQ(
        hexs(raw.p, raw.n),
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000"
        "8025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f"
        "761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83");
    struct eth_tx_decoded d;
    ASSERT_OK(tx_decode((const uint8_t *)raw.p, raw.n, &d, NULL));
    ASSERT_EQ(d.tx.chain_id, 1);
    ASSERT_EQ(d.tx.nonce, 9);
    ASSERT(!memcmp(d.hash, hash, 32));
    uint8_t want[20];
    ASSERT_OK(secp_address(key, want));
    ASSERT(!memcmp(d.from, want, 20));
    tx_decoded_release(&d);
    buf_release(&raw);
}

TEST(tx_eip1559_roundtrip)
{
    uint8_t key[32], hash[32];
    static const uint8_t keys[2][32] = {{1}, {2}};
    struct eth_access acl[2] = {{{0xaa}, keys, 2}, {{0xbb}, NULL, 0}};
    static const uint8_t data[] = {0xde, 0xad, 0xbe, 0xef};
    struct eth_tx tx = {0};
    struct buf raw;
    buf_init(&raw, TX_MAX_RAW);
    ASSERT_OK(ethhex_decode_fixed(DEV0_KEY, key, 32));
    tx.type = TX_EIP1559;
    tx.chain_id = 31337;
    tx.nonce = 7;
    u256_from_u64(1500000000, tx.max_priority_fee);
    u256_from_u64(30000000000ULL, tx.max_fee);
    tx.gas_limit = 100000;
    tx.has_to = true;
    memset(tx.to, 0x11, 20);
    u256_from_u64(12345, tx.value);
    tx.data = data;
    tx.data_len = sizeof(data);
    tx.access = acl;
    tx.naccess = 2;
    ASSERT_OK(tx_sign(&tx, key, &raw, hash, NULL));
    ASSERT_EQ((uint8_t)raw.p[0], 0x02);
    struct eth_tx_decoded d;
    ASSERT_OK(tx_decode((const uint8_t *)raw.p, raw.n, &d, NULL));
    ASSERT_EQ(d.tx.type, TX_EIP1559);
    ASSERT_EQ(d.tx.chain_id, 31337);
    ASSERT_EQ(d.tx.gas_limit, 100000);
    ASSERT_EQ(d.tx.data_len, 4);
    ASSERT_EQ(d.tx.naccess, 2);
    ASSERT_EQ(d.tx.access[0].nkeys, 2);
    ASSERT_EQ(d.tx.access[0].keys[1][0], 2);
    ASSERT(!memcmp(d.hash, hash, 32));
    char from[ETH_ADDR_STR];
    addr_format(d.from, from);
    ASSERT_STR_EQ(from, DEV0_ADDR);
    tx_decoded_release(&d);
    /* corrupt bytes are refused, never crash */
    for (size_t i = 1; i < raw.n; i++) {
        raw.p[i] ^= 0x40;
        if (tx_decode((const uint8_t *)raw.p, raw.n, &d, NULL) == 0)
            tx_decoded_release(&d);
        raw.p[i] ^= 0x40;
    }
    ASSERT_EQ(tx_decode((const uint8_t *)raw.p, raw.n - 1, &d, NULL), AG_EINVAL);
    /* bad chain id */
    tx.chain_id = 0;
    buf_reset(&raw);
    ASSERT_EQ(tx_sign(&tx, key, &raw, hash, NULL), AG_EINVAL);
    buf_release(&raw);
}

TEST(eip191_personal_sign)
{
    uint8_t h[32], key[32], addr[20];
    struct eth_sig sig;
    eip191_hash("hello", 5, h);
    /* ethers.hashMessage("hello") */
    ASSERT_STR_EQ(hexs(h, 32), "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750");
    ASSERT_OK(ethhex_decode_fixed(DEV0_KEY, key, 32));
    ASSERT_OK(eip191_sign(key, "hello", 5, &sig));
    ASSERT_OK(eip191_recover("hello", 5, &sig, addr));
    char s[ETH_ADDR_STR];
    addr_format(addr, s);
    ASSERT_STR_EQ(s, DEV0_ADDR);
}

static const char MAIL[] =
    "{\"types\":{\"EIP712Domain\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"version\","
    "\"type\":\"string\"},"
    "{\"name\":\"chainId\",\"type\":\"uint256\"},{\"name\":\"verifyingContract\",\"type\":"
    "\"address\"}],"
    "\"Person\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"wallet\",\"type\":\"address\"}"
    "],"
    "\"Mail\":[{\"name\":\"from\",\"type\":\"Person\"},{\"name\":\"to\",\"type\":\"Person\"},"
    "{\"name\":\"contents\",\"type\":\"string\"}]},\"primaryType\":\"Mail\","
    "\"domain\":{\"name\":\"Ether Mail\",\"version\":\"1\",\"chainId\":1,"
    "\"verifyingContract\":\"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"},"
    "\"message\":{\"from\":{\"name\":\"Cow\",\"wallet\":"
    "\"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826\"},"
    "\"to\":{\"name\":\"Bob\",\"wallet\":\"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB\"},"
    "\"contents\":\"Hello, Bob!\"}}";

TEST(eip712_mail_example)
{
    json_error_t je;
    json_t *doc = json_loads(MAIL, 0, &je);
    uint8_t digest[32], ds[32], sh[32], key[32];
    struct buf t;
    buf_init(&t, 4096);
    ASSERT(doc);
    ASSERT_OK(eip712_encode_type(json_object_get(doc, "types"), "Mail", &t, NULL));
    ASSERT_STR_EQ(t.p,
                  "Mail(Person from,Person to,string contents)Person(string name,address wallet)");
    ASSERT_OK(eip712_hash(doc, digest, ds, sh, NULL));
    ASSERT_STR_EQ(hexs(ds, 32), "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f");
    ASSERT_STR_EQ(hexs(sh, 32), "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e");
    ASSERT_STR_EQ(hexs(digest, 32),
                  "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2");
    /* the EIP's signature with key keccak256("cow") */
    struct eth_sig sig;
    keccak256("cow", 3, key);
    ASSERT_OK(secp_sign(key, digest, &sig));
    ASSERT_EQ(sig.v + 27, 28);
    ASSERT_STR_EQ(hexs(sig.r, 32),
                  "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
    ASSERT_STR_EQ(hexs(sig.s, 32),
                  "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");
    /* without an explicit EIP712Domain type the same domain is derived */
    json_object_del(json_object_get(doc, "types"), "EIP712Domain");
    uint8_t d2[32];
    ASSERT_OK(eip712_hash(doc, d2, NULL, NULL, NULL));
    ASSERT(!memcmp(d2, digest, 32));
    /* a missing field is an error naming it */
    struct ag_err e = {0};
    json_object_del(json_object_get(doc, "message"), "contents");
    ASSERT_EQ(eip712_hash(doc, d2, NULL, NULL, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "contents"));
    json_decref(doc);
    buf_release(&t);
}

static const char SIWE_EX[] =
    "example.com wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "I accept the ExampleOrg Terms of Service: https://example.com/tos\n"
    "\n"
    "URI: https://example.com/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json";

TEST(siwe_parse_eip_examples)
{
    struct siwe_msg m;
    struct buf out;
    buf_init(&out, SIWE_MAX_LEN);
    ASSERT_OK(siwe_parse(SIWE_EX, strlen(SIWE_EX), &m, NULL));
    ASSERT_STR_EQ(m.domain, "example.com");
    ASSERT(m.scheme == NULL);
    ASSERT_STR_EQ(m.address, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
    ASSERT_STR_EQ(m.statement, "I accept the ExampleOrg Terms of Service: https://example.com/tos");
    ASSERT_STR_EQ(m.uri, "https://example.com/login");
    ASSERT_EQ(m.chain_id, 1);
    ASSERT_STR_EQ(m.nonce, "32891756");
    ASSERT_EQ(m.nresources, 2);
    ASSERT_OK(siwe_format(&m, &out, NULL));
    ASSERT_STR_EQ(out.p, SIWE_EX);
    siwe_msg_release(&m);

    /* the EIP's example with a scheme, a port and no statement */
    const char *ex2 = "https://example.com:3388 wants you to sign in with your Ethereum account:\n"
                      "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
                      "URI: https://example.com:3388/login\nVersion: 1\nChain ID: 1\n"
                      "Nonce: 32891756\nIssued At: 2021-09-30T16:25:24Z\n"
                      "Expiration Time: 2021-10-01T16:25:24.000+02:00\n"
                      "Not Before: 2021-09-30T16:25:24Z\nRequest ID: some-id_1";
    ASSERT_OK(siwe_parse(ex2, strlen(ex2), &m, NULL));
    ASSERT_STR_EQ(m.scheme, "https");
    ASSERT_STR_EQ(m.domain, "example.com:3388");
    ASSERT(m.statement == NULL);
    ASSERT_STR_EQ(m.request_id, "some-id_1");
    buf_reset(&out);
    ASSERT_OK(siwe_format(&m, &out, NULL));
    ASSERT_STR_EQ(out.p, ex2);
    /* validation: times and expectations */
    int64_t t;
    ASSERT_OK(rfc3339_parse("2021-09-30T16:25:24Z", &t));
    ASSERT_EQ(t, 1633019124);
    ASSERT_OK(rfc3339_parse("2021-10-01T16:25:24.000+02:00", &t));
    ASSERT_EQ(t, 1633098324);
    struct siwe_expect x = {.domain = "example.com:3388", .chain_id = 1, .now = 1633019124 + 10};
    ASSERT_OK(siwe_validate(&m, &x, NULL));
    x.now = 1633098324;
    ASSERT_EQ(siwe_validate(&m, &x, NULL), AG_EUNAUTH); /* expired */
    x.now = 1633019124 - 1;
    ASSERT_EQ(siwe_validate(&m, &x, NULL), AG_EUNAUTH); /* not yet valid */
    x.now = 1633019124 + 10;
    x.chain_id = 5;
    ASSERT_EQ(siwe_validate(&m, &x, NULL), AG_EUNAUTH);
    x.chain_id = 1;
    x.domain = "evil.com";
    ASSERT_EQ(siwe_validate(&m, &x, NULL), AG_EUNAUTH);
    siwe_msg_release(&m);
    buf_release(&out);
}

/* mutate() replaces the first `from` in SIWE_EX by `to` and parses it. */
static int parse_mutated(const char *from, const char *to)
{
    char text[2048];
    const char *p = strstr(SIWE_EX, from);
    ASSERT(p);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - SIWE_EX), SIWE_EX, to, p + strlen(from));
    struct siwe_msg m;
    int rc = siwe_parse(text, strlen(text), &m, NULL);
    if (!rc)
        siwe_msg_release(&m);
    return rc;
}

TEST(siwe_rejects_malformed)
{
    ASSERT_EQ(parse_mutated("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                            "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"),
              AG_EINVAL);
    ASSERT_EQ(parse_mutated("Version: 1", "Version: 2"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Nonce: 32891756", "Nonce: 1234567"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Nonce: 32891756", "Nonce: 1234567!8"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Chain ID: 1", "Chain ID: x"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Chain ID: 1", "Chain ID: 01"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Chain ID: 1", "Chain ID: +1"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("2021-09-30T16:25:24Z", "2021-02-30T16:25:24Z"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("2021-09-30T16:25:24Z", "yesterday"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("URI: https://example.com/login", "URI: not a uri"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("example.com wants", "exa mple.com wants"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Terms of Service", "Terms of\nService"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("- https://example.com/my-web2-claim.json",
                            "- https://example.com/my-web2-claim.json\n"),
              AG_EINVAL);
    ASSERT_EQ(parse_mutated("\nURI:", "\r\nURI:"), AG_EINVAL);
    ASSERT_EQ(parse_mutated("Issued At: 2021-09-30T16:25:24Z\n",
                            "Issued At: 2021-09-30T16:25:24Z\nNot Before: 2021-09-30T16:25:24Z\n"
                            "Expiration Time: 2021-09-30T16:25:24Z\n"),
              AG_EINVAL);
    /* random truncations never crash */
    for (size_t n = 0; n < strlen(SIWE_EX); n++) {
        struct siwe_msg m;
        if (siwe_parse(SIWE_EX, n, &m, NULL) == 0)
            siwe_msg_release(&m);
    }
}

TEST(siwe_sign_and_verify)
{
    uint8_t key[32];
    struct siwe_msg m = {0};
    struct buf text;
    struct eth_sig sig;
    char sighex[133];
    char *res[] = {"https://agora.example/terms"};
    buf_init(&text, SIWE_MAX_LEN);
    ASSERT_OK(ethhex_decode_fixed(DEV0_KEY, key, 32));
    m.domain = "localhost:8080";
    str_copy(m.address, DEV0_ADDR, sizeof(m.address));
    m.statement = "Sign in to Agora.";
    m.uri = "http://localhost:8080/login";
    str_copy(m.version, "1", sizeof(m.version));
    m.chain_id = 31337;
    m.nonce = "abcdef0123456789";
    m.issued_at = "2026-11-25T16:00:00Z";
    m.expiration_time = "2026-11-25T16:10:00Z";
    m.resources = res;
    m.nresources = 1;
    ASSERT_OK(siwe_format(&m, &text, NULL));
    ASSERT_OK(eip191_sign(key, text.p, text.n, &sig));
    sig_format_hex(&sig, sighex);
    struct siwe_expect x = {.domain = "localhost:8080",
                            .chain_id = 31337,
                            .nonce = "abcdef0123456789",
                            .now = 1795622460};
    struct siwe_msg out;
    struct ag_err e = {0};
    ASSERT_OK(siwe_verify(text.p, text.n, sighex, &x, &out, &e));
    ASSERT_STR_EQ(out.address, DEV0_ADDR);
    siwe_msg_release(&out);
    /* another signer's signature fails */
    uint8_t other[32];
    memset(other, 7, 32);
    ASSERT_OK(eip191_sign(other, text.p, text.n, &sig));
    sig_format_hex(&sig, sighex);
    ASSERT_EQ(siwe_verify(text.p, text.n, sighex, &x, NULL, &e), AG_EUNAUTH);
    ASSERT_EQ(siwe_verify(text.p, text.n, "0x1234", &x, NULL, &e), AG_EINVAL);
    /* a bad statement cannot be formatted */
    m.statement = "line\nbreak";
    buf_reset(&text);
    ASSERT_EQ(siwe_format(&m, &text, NULL), AG_EINVAL);
    buf_release(&text);
}
