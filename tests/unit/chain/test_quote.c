/* test_quote.c - Marketplace price quotes: our EIP-712 digest equals ethers' TypedDataEncoder
 * (the reference peer, run with node) on fixed and random quotes; the quote JSON round trip. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/msg.h"
#include "test.h"

#define NQUOTES 40

/* src_root() is the source tree (node_modules holds ethers): $AGORA_SRC, else the tree this
 * file is in (__FILE__ is absolute in the CMake build). */
static void src_root(char *out, size_t size)
{
    const char *env = getenv("AGORA_SRC");
    if (env) {
        str_copy(out, env, size);
        return;
    }
    str_copy(out, __FILE__, size);
    for (int i = 0; i < 4; i++) {
        char *slash = strrchr(out, '/');
        ASSERT(slash);
        *slash = '\0';
    }
}

/* make_quote() fills quote i: a few fixed edge cases, then random ones. */
static void make_quote(int i, struct chain_domain *d, struct chain_quote *q)
{
    memset(d, 0, sizeof(*d));
    memset(q, 0, sizeof(*q));
    str_copy(d->name, "AgoraMarketplace", sizeof(d->name));
    str_copy(d->version, "1", sizeof(d->version));
    d->chain_id = i % 3 == 0 ? 31337 : i % 3 == 1 ? 1337 : 11155111;
    rand_bytes(d->contract, 20);
    rand_bytes(q->buyer, 20);
    rand_bytes(q->nonce, 32);
    snprintf(q->model_id, sizeof(q->model_id), "%u", (unsigned)(i * 7919 + 1));
    snprintf(q->price, sizeof(q->price), "%llu%09u", (unsigned long long)(i + 1) * 1000003ull,
             (unsigned)i * 11u);
    q->expiry = 1700000000u + (uint64_t)i * 3600u;
    if (i == 0) { /* the extremes of every field */
        memset(q->nonce, 0xff, 32);
        str_copy(q->price,
                 "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                 sizeof(q->price));
        q->expiry = UINT32_MAX * 2ull;
    } else if (i == 1) {
        memset(q->nonce, 0, 32);
        memset(q->buyer, 0, 20); /* an open quote: anyone may redeem it */
        str_copy(q->price, "1", sizeof(q->price));
        q->expiry = 0;
    }
}

TEST(quote_digest_matches_ethers)
{
    static const char js[] =
        "const {TypedDataEncoder}=require('ethers');"
        "const docs=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8'));"
        "for(const d of docs){const t={...d.types};"
        "console.log(TypedDataEncoder.hash(d.domain,t,d.message));}";
    char root[PATH_MAX], path[PATH_MAX], cmd[3 * PATH_MAX + sizeof(js)], line[128];
    uint8_t digest[NQUOTES][32];
    json_t *docs = json_array();
    struct ag_err e = {0};
    FILE *f;
    int n = 0;

    src_root(root, sizeof(root));
    for (int i = 0; i < NQUOTES; i++) {
        struct chain_domain d;
        struct chain_quote q;
        make_quote(i, &d, &q);
        if (chain_quote_digest(&d, &q, digest[i], &e))
            test_fail(__FILE__, __LINE__, "chain_quote_digest: %s", e.msg);
        json_array_append_new(docs, chain_quote_typed_data(&d, &q));
    }
    snprintf(path, sizeof(path), "%s/quotes.json", test_tmpdir());
    ASSERT_OK(json_dump_file(docs, path, 0));
    json_decref(docs);
    snprintf(cmd, sizeof(cmd), "cd '%s' && node -e \"%s\" '%s'", root, js, path);
    ASSERT((f = popen(cmd, "r")));
    while (fgets(line, sizeof(line), f)) {
        struct buf b;
        line[strcspn(line, "\n")] = '\0';
        ASSERT(n < NQUOTES);
        buf_init(&b, 80);
        ethhex_encode(&b, digest[n], 32);
        if (strcmp(b.p, line))
            test_fail(__FILE__, __LINE__, "quote %d: ours %s, ethers %s", n, b.p, line);
        buf_release(&b);
        n++;
    }
    ASSERT_EQ(pclose(f), 0);
    ASSERT_EQ(n, NQUOTES);
}

/* The typed data names the contract's type: field order and types are QUOTE_TYPEHASH's. */
TEST(quote_type_string)
{
    struct chain_domain d;
    struct chain_quote q;
    struct buf b;
    json_t *doc;

    make_quote(5, &d, &q);
    doc = chain_quote_typed_data(&d, &q);
    ASSERT(doc);
    buf_init(&b, 1024);
    ASSERT_OK(eip712_encode_type(json_object_get(doc, "types"), "Quote", &b, NULL));
    ASSERT_STR_EQ(
        b.p, "Quote(uint256 modelId,address buyer,uint256 price,uint256 expiry,uint256 nonce)");
    buf_release(&b);
    json_decref(doc);
}

TEST(quote_json_round_trip)
{
    struct chain_domain d;
    struct chain_quote q, back;
    struct ag_err e = {0};
    json_t *j;

    for (int i = 0; i < 8; i++) {
        make_quote(i, &d, &q);
        j = chain_quote_json(&q);
        ASSERT(j);
        ASSERT_OK(chain_quote_parse(j, &back, &e));
        ASSERT_STR_EQ(back.model_id, q.model_id);
        ASSERT_STR_EQ(back.price, q.price);
        ASSERT_EQ(back.expiry, q.expiry);
        ASSERT(!memcmp(back.buyer, q.buyer, 20));
        ASSERT(!memcmp(back.nonce, q.nonce, 32));
        json_decref(j);
    }
    /* integers as JSON numbers and hex strings are read too */
    j = json_pack("{s:i, s:s, s:s, s:i, s:s}", "modelId", 3, "buyer",
                  "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "price", "0x10", "expiry", 99,
                  "nonce", "7");
    ASSERT_OK(chain_quote_parse(j, &back, &e));
    ASSERT_STR_EQ(back.model_id, "3");
    ASSERT_STR_EQ(back.price, "16");
    ASSERT_EQ(back.expiry, 99);
    ASSERT_EQ(back.nonce[31], 7);
    json_decref(j);
}

/* Every malformed field is refused with its name, before anything is signed or sent. */
TEST(quote_parse_refusals)
{
    static const char *const bad[] = {
        "[]",
        "{}",
        "{\"modelId\":\"1\",\"buyer\":\"0x1234\",\"price\":\"1\",\"expiry\":1,\"nonce\":\"1\"}",
        "{\"modelId\":\"-1\",\"buyer\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\","
        "\"price\":\"1\",\"expiry\":1,\"nonce\":\"1\"}",
        "{\"modelId\":\"1\",\"buyer\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\","
        "\"price\":\"five\",\"expiry\":1,\"nonce\":\"1\"}",
        "{\"modelId\":\"1\",\"buyer\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\","
        "\"price\":\"1\",\"expiry\":\"18446744073709551616\",\"nonce\":\"1\"}",
        "{\"modelId\":\"1\",\"buyer\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\","
        "\"price\":\"1\",\"expiry\":1,\"nonce\":\"115792089237316195423570985008687907853269984665"
        "640564039457584007913129639936\"}",
        "{\"modelId\":\"1\",\"buyer\":\"0x70997970c51812dc3A010C7d01b50e0d17dc79C8\","
        "\"price\":\"1\",\"expiry\":1,\"nonce\":\"1\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        json_t *v = NULL;
        struct chain_quote q;
        struct ag_err e = {0};
        ASSERT_OK(json_parse(bad[i], strlen(bad[i]), &v, NULL));
        if (chain_quote_parse(v, &q, &e) != AG_EINVAL)
            test_fail(__FILE__, __LINE__, "quote %zu was accepted", i);
        json_decref(v);
    }
}

/* A pricer needs a valid key and a sane time to live. */
TEST(quote_pricer_init)
{
    struct chain_pricer p;
    struct chain_manifest m = {0};
    uint8_t zero[32] = {0}, key[32];
    struct ag_err e = {0};

    ASSERT_EQ(chain_pricer_init(&p, "http://127.0.0.1:1", &m, zero, 0, &e), AG_EINVAL);
    memset(key, 0x11, sizeof(key));
    ASSERT_EQ(chain_pricer_init(&p, "http://127.0.0.1:1", &m, key, CHAIN_QUOTE_TTL_MAX + 1, &e),
              AG_EINVAL);
    ASSERT_OK(chain_pricer_init(&p, "http://127.0.0.1:1", &m, key, 0, &e));
    ASSERT_EQ(p.ttl, CHAIN_QUOTE_TTL_DEFAULT);
    chain_pricer_release(&p);
    ASSERT(!memcmp(p.key, zero, 32));
}
