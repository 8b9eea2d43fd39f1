/* test_chainctx.c - the chain commands' pure helpers: amounts, token display, revert text, and
 * what a version records on chain (checked against the IPFS CID parser and SHA-256). */
#include "test.h"

#include <jansson.h>

#include "cli/chainctx.h"
#include "core/util.h"
#include "eth/hex.h"
#include "ipfs/cid.h"

TEST(amount_units_and_tokens)
{
    char out[80];
    ASSERT_OK(chainctx_amount("5AGR", out));
    ASSERT_STR_EQ(out, "5000000000000000000");
    ASSERT_OK(chainctx_amount("1.5 AGR", out));
    ASSERT_STR_EQ(out, "1500000000000000000");
    ASSERT_OK(chainctx_amount("0.000000000000000001agr", out));
    ASSERT_STR_EQ(out, "1");
    ASSERT_OK(chainctx_amount("12", out));
    ASSERT_STR_EQ(out, "12");
    ASSERT_OK(chainctx_amount("007", out));
    ASSERT_STR_EQ(out, "7");
}

TEST(amount_refuses_bad_input)
{
    static const char *const bad[] = {
        "", "AGR", " AGR", "1.2", "-1", "1e18", "0x10", "1.2.3AGR", "0.0000000000000000001AGR",
        /* 2^256: one past the largest uint256 */
        "115792089237316195423570985008687907853269984665640564039457584007913129639936", "1 000",
        "5 AGR AGR"};
    char out[80];
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        ASSERT(chainctx_amount(bad[i], out) != 0);
}

TEST(tokens_display)
{
    char out[100];
    chainctx_tokens("5000000000000000000", out, sizeof(out));
    ASSERT_STR_EQ(out, "5");
    chainctx_tokens("4875000000000000000", out, sizeof(out));
    ASSERT_STR_EQ(out, "4.875");
    chainctx_tokens("1", out, sizeof(out));
    ASSERT_STR_EQ(out, "0.000000000000000001");
    chainctx_tokens("0", out, sizeof(out));
    ASSERT_STR_EQ(out, "0");
    chainctx_tokens("1000000000000000000000", out, sizeof(out));
    ASSERT_STR_EQ(out, "1000");
}

TEST(pretty_reason)
{
    char out[256];
    chainctx_pretty_reason("AlreadyRuled[\"1\"]", out, sizeof(out));
    ASSERT_STR_EQ(out, "AlreadyRuled(1)");
    chainctx_pretty_reason("NotBuyer[\"2\",\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"]", out,
                           sizeof(out));
    ASSERT_STR_EQ(out, "NotBuyer(2, 0x70997970C51812dc3A010C7d01b50e0d17dc79C8)");
    chainctx_pretty_reason("FaucetDisabled[]", out, sizeof(out));
    ASSERT_STR_EQ(out, "FaucetDisabled()");
    chainctx_pretty_reason("X[true,[\"1\"]]", out, sizeof(out));
    ASSERT_STR_EQ(out, "X(true, [\"1\"])");
    /* anything else is kept as it is */
    chainctx_pretty_reason("not enough [tokens]", out, sizeof(out));
    ASSERT_STR_EQ(out, "not enough [tokens]");
    chainctx_pretty_reason("Broken[\"1\"", out, sizeof(out));
    ASSERT_STR_EQ(out, "Broken[\"1\"");
    chainctx_pretty_reason("Bad[not json]", out, sizeof(out));
    ASSERT_STR_EQ(out, "Bad[not json]");
}

static json_t *file(const char *name, json_int_t size, const char *sha, const char *cid)
{
    return json_pack("{s:s, s:I, s:s, s:s}", "name", name, "size", size, "sha256", sha, "cid", cid);
}

#define SHA_A "496d9a95ef02544b809781840bb5f032e0432f822bdd84eb4482938d6411ca18"
#define SHA_B "185f6ac90ee36efbb4cd9877896cc16c5eaf098b6cc05c63dfb162c27a9a8c5d"
#define CID_A "bafybeiggjzdndjfifo6w62ktukohn2t4o36uwaf6die6b54rbvcc3ra43i"
#define CID_B "bafkreiayl5vmsdxdn35ljtmyo6ewzqlmlkxqrg3mybmmhx5rmlbhvgumlu"

TEST(content_one_file)
{
    struct chain_content c;
    json_t *v = json_pack("{s:[o]}", "files", file("model.bin", 300000, SHA_A, CID_A));
    char want[65], line[256];
    ASSERT_OK(chainctx_content("test", v, &c));
    ASSERT_STR_EQ(c.cid, CID_A);
    ASSERT_STR_EQ(c.sha256, "0x" SHA_A);
    snprintf(line, sizeof(line), "%s 300000 %s model.bin\n", SHA_A, CID_A);
    sha256_hex(line, strlen(line), want);
    ASSERT_STR_EQ(c.meta_hash + 2, want);
    ASSERT_EQ(c.nfiles, 1);
    json_decref(c.files);
    json_decref(v);
}

TEST(content_several_files_sorted_raw_cid)
{
    struct chain_content c;
    struct cid parsed;
    uint8_t digest[32];
    json_t *v = json_pack("{s:[o,o]}", "files", file("z.json", 13, SHA_B, CID_B),
                          file("a.bin", 7, SHA_A, CID_A));
    char want[65], listing[512];
    ASSERT_OK(chainctx_content("test", v, &c));
    snprintf(listing, sizeof(listing), "%s 7 %s a.bin\n%s 13 %s z.json\n", SHA_A, CID_A, SHA_B,
             CID_B);
    sha256_hex(listing, strlen(listing), want);
    ASSERT_STR_EQ(c.meta_hash + 2, want);
    ASSERT_STR_EQ(c.sha256, c.meta_hash);
    /* the content CID is the raw CIDv1 of the listing */
    ASSERT_OK(cid_parse(&parsed, c.cid, NULL));
    ASSERT_EQ(parsed.version, 1);
    ASSERT_EQ(parsed.codec, MC_RAW);
    ASSERT_EQ(parsed.mh_code, MC_SHA2_256);
    ASSERT_OK(ethhex_decode_fixed(c.meta_hash, digest, 32));
    ASSERT(parsed.digest_len == 32 && !memcmp(parsed.digest, digest, 32));
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(c.files, 0), "name")), "a.bin");
    json_decref(c.files);
    json_decref(v);
}

TEST(content_refuses_missing_content)
{
    struct chain_content c;
    json_t *none = json_pack("{s:[]}", "files");
    json_t *empty = json_pack("{s:[{s:s, s:I, s:n, s:n}]}", "files", "name", "x", "size",
                              (json_int_t)1, "sha256", "cid");
    ASSERT(chainctx_content("test", none, &c) != 0);
    ASSERT(chainctx_content("test", empty, &c) != 0);
    ASSERT(c.files == NULL);
    json_decref(none);
    json_decref(empty);
}
