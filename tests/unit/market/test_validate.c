/* test_validate.c - names, slugs, prices, semver and model-card front matter. */
#include "core/common.h"
#include "core/err.h"
#include "market/market.h"
#include "test.h"

TEST(username_rules)
{
    ASSERT(valid_username("abc"));
    ASSERT(valid_username("a_b-c9"));
    ASSERT(valid_username("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
    ASSERT(!valid_username("ab"));
    ASSERT(!valid_username("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    ASSERT(!valid_username("Alice"));
    ASSERT(!valid_username("al ice"));
    ASSERT(!valid_username("al.ice"));
    ASSERT(!valid_username("al'ice"));
    ASSERT(!valid_username(""));
}

TEST(slug_rules)
{
    ASSERT(valid_slug("resnet50"));
    ASSERT(valid_slug("resnet-50.onnx_v2"));
    ASSERT(valid_slug("a"));
    ASSERT(!valid_slug(""));
    ASSERT(!valid_slug(".."));
    ASSERT(!valid_slug("a..b"));
    ASSERT(!valid_slug("-abc"));
    ASSERT(!valid_slug("abc."));
    ASSERT(!valid_slug("a/b"));
    ASSERT(!valid_slug("a%2fb"));
    ASSERT(!valid_slug("ABC"));
    ASSERT(!valid_slug("x'); DROP TABLE models;--"));
}

TEST(email_rules)
{
    ASSERT(valid_email("a@b.co"));
    ASSERT(valid_email("first.last+tag@example.org"));
    ASSERT(!valid_email("no-at.example.org"));
    ASSERT(!valid_email("a@b@c.org"));
    ASSERT(!valid_email("a@localhost"));
    ASSERT(!valid_email("a b@c.org"));
    ASSERT(!valid_email("@c.org"));
    ASSERT(!valid_email("a@c.org."));
    ASSERT(!valid_email("a@.org"));
}

TEST(file_name_rules)
{
    ASSERT(valid_file_name("model.onnx"));
    ASSERT(valid_file_name("weights (v2).safetensors"));
    ASSERT(valid_file_name("модель.bin"));
    ASSERT(!valid_file_name(""));
    ASSERT(!valid_file_name("."));
    ASSERT(!valid_file_name(".."));
    ASSERT(!valid_file_name(".hidden"));
    ASSERT(!valid_file_name("../etc/passwd"));
    ASSERT(!valid_file_name("a/b"));
    ASSERT(!valid_file_name("a\\b"));
    ASSERT(!valid_file_name("a\nb"));
    ASSERT(!valid_file_name("\xff\xfe"));
}

TEST(price_keys)
{
    char key[79];
    ASSERT(valid_price("0", key));
    ASSERT_EQ(strlen(key), 78);
    ASSERT(key[77] == '0' && key[0] == '0');
    ASSERT(valid_price("5000000000000000000", key));
    ASSERT_STR_EQ(key + 59, "5000000000000000000");
    ASSERT(valid_price(
        "115792089237316195423570985008687907853269984665640564039457584007913129639935", key));
    ASSERT(!valid_price(
        "115792089237316195423570985008687907853269984665640564039457584007913129639936", NULL));
    ASSERT(!valid_price("01", NULL));
    ASSERT(!valid_price("-1", NULL));
    ASSERT(!valid_price("1.5", NULL));
    ASSERT(!valid_price("", NULL));
    ASSERT(!valid_price("1e18", NULL));
    /* Keys order like the numbers they stand for. */
    {
        char a[79], b[79];
        valid_price("999", a);
        valid_price("1000", b);
        ASSERT(strcmp(a, b) < 0);
    }
}

TEST(semver_parse_and_order)
{
    /* The precedence example from semver.org, in increasing order. */
    static const char *const order[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                        "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                        "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                        "1.1.0",       "2.0.0",         "10.0.0"};
    struct semver a, b;
    for (size_t i = 0; i + 1 < ARRAY_SIZE(order); i++) {
        ASSERT_OK(semver_parse(order[i], &a));
        ASSERT_OK(semver_parse(order[i + 1], &b));
        if (semver_cmp(&a, &b) >= 0)
            test_fail(__FILE__, __LINE__, "%s should be below %s", order[i], order[i + 1]);
        ASSERT(semver_cmp(&b, &a) > 0);
        ASSERT_EQ(semver_cmp(&a, &a), 0);
    }
    ASSERT_OK(semver_parse("1.2.3+build.5", &a));
    ASSERT_OK(semver_parse("1.2.3", &b));
    ASSERT_EQ(semver_cmp(&a, &b), 0);
    ASSERT_EQ(semver_parse("1.2", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("01.2.3", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("1.2.3-", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("1.2.3-01", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("1.2.3-a..b", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("v1.2.3", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("1.2.3 ", &a), AG_EINVAL);
    ASSERT_EQ(semver_parse("99999999999999999999.0.0", &a), AG_EINVAL);
}

TEST(card_front_matter_fields)
{
    static const char card[] = "---\n"
                               "license: apache-2.0\n"
                               "pipeline_tag: image-classification\n"
                               "library_name: onnx  # the format\n"
                               "tags:\n"
                               "- vision\n"
                               "  - resnet\n"
                               "datasets: [imagenet-1k, \"coco\"]\n"
                               "language: en\n"
                               "model-index:\n"
                               "  - name: x\n"
                               "    results: []\n"
                               "base_model: 'microsoft/resnet-50'\n"
                               "---\n"
                               "# ResNet\n";
    json_t *fm = NULL, *tags;
    ASSERT_OK(card_front_matter(card, &fm, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(fm, "license")), "apache-2.0");
    ASSERT_STR_EQ(json_string_value(json_object_get(fm, "task")), "image-classification");
    ASSERT_STR_EQ(json_string_value(json_object_get(fm, "library")), "onnx");
    ASSERT_STR_EQ(json_string_value(json_object_get(fm, "base_model")), "microsoft/resnet-50");
    tags = json_object_get(fm, "tags");
    ASSERT_EQ(json_array_size(tags), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(tags, 1)), "resnet");
    ASSERT_EQ(json_array_size(json_object_get(fm, "datasets")), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(fm, "datasets"), 1)), "coco");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(fm, "language"), 0)), "en");
    json_decref(fm);
}

TEST(card_without_or_with_broken_front_matter)
{
    json_t *fm = NULL;
    struct ag_err e = {0};
    ASSERT_OK(card_front_matter("# Just markdown\n---\ntask: x\n---\n", &fm, NULL));
    ASSERT_EQ(json_object_size(fm), 0);
    json_decref(fm);
    fm = NULL;
    ASSERT_EQ(card_front_matter("---\ntask: x\nno end\n", &fm, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "card");
    ASSERT(fm == NULL);
}

TEST(reputation_formula)
{
    double none = market_reputation(0, 0, 0, 0);
    ASSERT(none > 29.9 && none < 30.1); /* the neutral prior: mean 3 of 5 */
    ASSERT(market_reputation(100, 0, 0, 0) > none);
    ASSERT(market_reputation(0, 10, 0, 0) > none);
    ASSERT(market_reputation(0, 0, 50, 10) > market_reputation(0, 0, 10, 10));
    ASSERT(market_reputation(10000000, 100000, 500, 100) <= 100.0);
    ASSERT(market_reputation(0, 0, 100, 100) >= 0.0);
}
