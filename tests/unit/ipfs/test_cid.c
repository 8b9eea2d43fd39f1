/* test_cid.c - CID, multibase and multihash vectors and malformed inputs. */
#include "test.h"

#include "core/encoding.h"
#include "ipfs/cid.h"

static const char *fmt(const struct cid *c, char base)
{
    static char s[CID_MAX_STR];

    ASSERT_OK(cid_format_base(c, base, s, sizeof(s)));
    return s;
}

TEST(cid_empty_raw_leaf)
{
    struct cid c;

    cid_hash(&c, 1, MC_RAW, "", 0);
    ASSERT_STR_EQ(fmt(&c, 'b'), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
}

TEST(cid_empty_directory)
{
    static const uint8_t node[] = {0x0a, 0x02, 0x08, 0x01};
    struct cid c;

    cid_hash(&c, 1, MC_DAG_PB, node, sizeof(node));
    ASSERT_STR_EQ(fmt(&c, 'b'), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
    cid_hash(&c, 0, MC_DAG_PB, node, sizeof(node));
    ASSERT_STR_EQ(fmt(&c, 'b'), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
}

TEST(cid_hello_world_bases)
{
    struct cid c, d;

    cid_hash(&c, 1, MC_RAW, "hello world\n", 12);
    ASSERT_STR_EQ(fmt(&c, 'b'), "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
    ASSERT_STR_EQ(fmt(&c, 'z'), "zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY");
    ASSERT_OK(cid_parse(&d, "zb2rhi36Gc9GJWijLEL6zW45MBux5FcFv5gJmjXA7VAMozEXY", NULL));
    ASSERT(cid_equal(&c, &d));
    ASSERT_OK(cid_parse(&d, "BAFKREIFJJCIE6LYPI6NY7AMXNFFTAGCLBUXNDQONFIPMB64F2KM2DEVEI4", NULL));
    ASSERT(cid_equal(&c, &d));
    ASSERT_OK(cid_parse(&d, "f01551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447",
                        NULL));
    ASSERT(cid_equal(&c, &d));
    ASSERT_OK(cid_verify(&d, "hello world\n", 12));
    ASSERT_EQ(cid_verify(&d, "hello world!", 12), AG_ECORRUPT);
}

TEST(cid_v0_roundtrip_and_v1)
{
    struct cid c;
    uint8_t b[CID_MAX_BYTES];

    ASSERT_OK(cid_parse(&c, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", NULL));
    ASSERT_EQ(c.version, 0);
    ASSERT_EQ(c.codec, MC_DAG_PB);
    ASSERT_EQ(cid_to_bytes(&c, b), 34);
    ASSERT_STR_EQ(fmt(&c, 'b'), "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    cid_to_v1(&c);
    ASSERT_STR_EQ(fmt(&c, 'b'), "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby");
    ASSERT_EQ(cid_to_bytes(&c, b), 36);
}

TEST(cid_identity_probe)
{
    struct cid c;
    char s[CID_MAX_STR];

    ASSERT_OK(cid_parse(&c, "bafkqaaa", NULL));
    ASSERT_EQ(c.mh_code, MC_IDENTITY);
    ASSERT_EQ(c.digest_len, 0);
    ASSERT_OK(cid_verify(&c, "", 0));
    ASSERT_OK(cid_identity(&c, MC_RAW, "", 0));
    ASSERT_OK(cid_format(&c, s, sizeof(s)));
    ASSERT_STR_EQ(s, "bafkqaaa");
    ASSERT_OK(cid_identity(&c, MC_RAW, "hi", 2));
    ASSERT_OK(cid_verify(&c, "hi", 2));
    ASSERT_EQ(cid_verify(&c, "ho", 2), AG_ECORRUPT);
}

TEST(cid_rejects_malformed_strings)
{
    static const char *bad[] = {
        "", "b", "Qm", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5",   /* 45 chars */
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff50",                 /* 0 not base58 */
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",   /* truncated */
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykuaa", /* trailing */
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk1",  /* bad char */
        "xafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",  /* bad base */
        "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKu",  /* mixed case */
        "zQmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",            /* v0 in multibase */
        "f02550000",                                                      /* version 2 */
        "f0155",                                                          /* no multihash */
        "f01551221aa",                                                    /* sha256 of 33 bytes */
        "f015500ff01",                                                    /* identity past input */
        "f01ffffffffffffffffff01",                                        /* 10-byte varint */
        "f01d5000000",                                                    /* non-minimal varint */
    };
    struct ag_err e = {0};
    struct cid c;
    char big[2000];

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (cid_parse(&c, bad[i], &e) != AG_EINVAL)
            test_fail(__FILE__, __LINE__, "accepted bad CID \"%s\"", bad[i]);
        ASSERT(e.msg[0] != '\0');
        ag_err_clear(&e);
    }
    memset(big, 'a', sizeof(big) - 1);
    big[0] = 'b';
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(cid_parse(&c, big, NULL), AG_EINVAL);
    ASSERT_EQ(cid_parse(&c, NULL, NULL), AG_EINVAL);
}

TEST(cid_binary_fuzz)
{
    /* Every prefix and every single-byte change of a valid binary CID either
     * parses to a CID that formats and re-parses identically, or fails cleanly. */
    struct cid c, d;
    uint8_t b[CID_MAX_BYTES], m[CID_MAX_BYTES];
    char s[CID_MAX_STR];
    size_t n, used;

    cid_hash(&c, 1, MC_DAG_PB, "x", 1);
    n = cid_to_bytes(&c, b);
    for (size_t k = 0; k < n; k++)
        ASSERT(cid_from_bytes(&d, b, k, &used, NULL) != 0);
    for (size_t i = 0; i < n; i++) {
        for (int v = 0; v < 256; v++) {
            memcpy(m, b, n);
            m[i] = (uint8_t)v;
            if (cid_from_bytes(&d, m, n, &used, NULL) == 0) {
                ASSERT(used <= n);
                ASSERT_OK(cid_format(&d, s, sizeof(s)));
                ASSERT_OK(cid_parse(&c, s, NULL));
                ASSERT(cid_equal(&c, &d));
            }
        }
    }
}
