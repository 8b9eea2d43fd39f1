/* test_router.c - path patterns and percent-decoding. */
#include "core/common.h"
#include "http/http.h"
#include "test.h"

static const char *decode(struct arena *a, const char *s, bool plus)
{
    return http_url_decode(a, s, strlen(s), plus);
}

TEST(url_decode_basics)
{
    struct arena a;
    arena_init(&a);
    ASSERT_STR_EQ(decode(&a, "", false), "");
    ASSERT_STR_EQ(decode(&a, "plain", false), "plain");
    ASSERT_STR_EQ(decode(&a, "a%20b", false), "a b");
    ASSERT_STR_EQ(decode(&a, "%41%42%43", false), "ABC");
    ASSERT_STR_EQ(decode(&a, "%2f%2F", false), "//");
    ASSERT_STR_EQ(decode(&a, "caf%c3%a9", false), "caf\xc3\xa9");
    ASSERT_STR_EQ(decode(&a, "caf%C3%A9", false), "caf\xc3\xa9");
    ASSERT_STR_EQ(decode(&a, "100%25", false), "100%");
    ASSERT_STR_EQ(decode(&a, "%25zz", false), "%zz");
    /* Raw UTF-8 passes through when valid. */
    ASSERT_STR_EQ(decode(&a, "\xe2\x82\xac", false), "\xe2\x82\xac");
    /* Only `len` bytes are read. */
    ASSERT_STR_EQ(http_url_decode(&a, "abc%41", 3, false), "abc");
    arena_release(&a);
}

TEST(url_decode_plus)
{
    struct arena a;
    arena_init(&a);
    ASSERT_STR_EQ(decode(&a, "a+b", true), "a b");
    ASSERT_STR_EQ(decode(&a, "a+b", false), "a+b");
    ASSERT_STR_EQ(decode(&a, "a%2Bb", true), "a+b");
    ASSERT_STR_EQ(decode(&a, "a%2Bb", false), "a+b");
    ASSERT_STR_EQ(decode(&a, "++", true), "  ");
    arena_release(&a);
}

TEST(url_decode_rejects)
{
    struct arena a;
    arena_init(&a);
    ASSERT(decode(&a, "%", false) == NULL);
    ASSERT(decode(&a, "%4", false) == NULL);
    ASSERT(decode(&a, "abc%", false) == NULL);
    ASSERT(decode(&a, "abc%4", false) == NULL);
    ASSERT(decode(&a, "%zz", false) == NULL);
    ASSERT(decode(&a, "%g0", false) == NULL);
    ASSERT(decode(&a, "%0g", false) == NULL);
    ASSERT(decode(&a, "% 41", false) == NULL);
    ASSERT(decode(&a, "%-1", false) == NULL);
    /* Encoded and raw NUL. */
    ASSERT(decode(&a, "%00", false) == NULL);
    ASSERT(decode(&a, "a%00b", true) == NULL);
    ASSERT(http_url_decode(&a, "a\0b", 3, false) == NULL);
    /* Invalid UTF-8 once decoded, encoded or raw. */
    ASSERT(decode(&a, "%ff", false) == NULL);
    ASSERT(decode(&a, "%c3", false) == NULL);
    ASSERT(decode(&a, "%c0%af", false) == NULL);
    ASSERT(decode(&a, "%ed%a0%80", false) == NULL);
    ASSERT(decode(&a, "%f4%90%80%80", false) == NULL);
    ASSERT(decode(&a, "\xff", false) == NULL);
    arena_release(&a);
}

struct match {
    bool ok;
    int n;
    struct http_kv params[HTTP_MAX_PARAMS];
};

static struct match match(struct arena *a, const char *pattern, const char *path)
{
    struct match m;
    memset(&m, 0, sizeof(m));
    m.n = -1;
    m.ok = http_route_match(pattern, path, a, m.params, &m.n);
    return m;
}

TEST(route_literal)
{
    struct arena a;
    struct match m;
    arena_init(&a);
    m = match(&a, "/api/v1/models", "/api/v1/models");
    ASSERT(m.ok);
    ASSERT_EQ(m.n, 0);
    ASSERT(match(&a, "/", "/").ok);
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/model").ok);
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/modelsx").ok);
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/Models").ok);
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/models/x").ok);
    ASSERT(!match(&a, "/api/v1/models", "").ok);
    /* Literal segments are compared raw, not decoded. */
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/%6dodels").ok);
    arena_release(&a);
}

TEST(route_trailing_slash_mismatch)
{
    struct arena a;
    arena_init(&a);
    ASSERT(!match(&a, "/api/v1/models", "/api/v1/models/").ok);
    ASSERT(!match(&a, "/api/v1/models/", "/api/v1/models").ok);
    ASSERT(!match(&a, "/api/v1/models/{id}", "/api/v1/models/7/").ok);
    ASSERT(!match(&a, "/api/v1/models/{id}", "/api/v1/models/").ok);
    arena_release(&a);
}

TEST(route_params)
{
    struct arena a;
    struct match m;
    arena_init(&a);
    m = match(&a, "/api/v1/models/{owner}/{slug}", "/api/v1/models/alice/bert-base");
    ASSERT(m.ok);
    ASSERT_EQ(m.n, 2);
    ASSERT_STR_EQ(m.params[0].name, "owner");
    ASSERT_STR_EQ(m.params[0].value, "alice");
    ASSERT_STR_EQ(m.params[1].name, "slug");
    ASSERT_STR_EQ(m.params[1].value, "bert-base");

    m = match(&a, "/api/v1/models/{id}/versions/{v}/files", "/api/v1/models/9/versions/1.2/files");
    ASSERT(m.ok);
    ASSERT_EQ(m.n, 2);
    ASSERT_STR_EQ(m.params[0].value, "9");
    ASSERT_STR_EQ(m.params[1].value, "1.2");

    m = match(&a, "/{x}", "/top");
    ASSERT(m.ok);
    ASSERT_STR_EQ(m.params[0].value, "top");

    /* A param takes one whole, non-empty segment. */
    ASSERT(!match(&a, "/api/v1/models/{owner}/{slug}", "/api/v1/models/alice").ok);
    ASSERT(!match(&a, "/api/v1/models/{owner}/{slug}", "/api/v1/models/alice/bert/x").ok);
    ASSERT(!match(&a, "/api/v1/models/{owner}/{slug}", "/api/v1/models//bert").ok);
    ASSERT(!match(&a, "/api/v1/models/{id}/versions", "/api/v1/models/9/version").ok);
    arena_release(&a);
}

TEST(route_params_percent_decoded)
{
    struct arena a;
    struct match m;
    arena_init(&a);
    m = match(&a, "/m/{owner}/{slug}", "/m/al%20ice/b%C3%A9rt");
    ASSERT(m.ok);
    ASSERT_STR_EQ(m.params[0].value, "al ice");
    ASSERT_STR_EQ(m.params[1].value, "b\xc3\xa9rt");
    /* '+' in a path is a plus, not a space. */
    m = match(&a, "/m/{owner}/{slug}", "/m/a+b/c%2Bd");
    ASSERT(m.ok);
    ASSERT_STR_EQ(m.params[0].value, "a+b");
    ASSERT_STR_EQ(m.params[1].value, "c+d");
    arena_release(&a);
}

TEST(route_encoded_slash_stays_in_param)
{
    struct arena a;
    struct match m;
    arena_init(&a);
    m = match(&a, "/m/{owner}/{slug}", "/m/a%2Fb/c");
    ASSERT(m.ok);
    ASSERT_EQ(m.n, 2);
    ASSERT_STR_EQ(m.params[0].value, "a/b");
    ASSERT_STR_EQ(m.params[1].value, "c");
    m = match(&a, "/files/{path}", "/files/dir%2fsub%2Ffile.txt");
    ASSERT(m.ok);
    ASSERT_STR_EQ(m.params[0].value, "dir/sub/file.txt");
    /* ...and it does not turn into a segment separator for matching. */
    ASSERT(!match(&a, "/m/{owner}/{slug}", "/m/a%2Fb").ok);
    arena_release(&a);
}

TEST(route_bad_params_never_match)
{
    struct arena a;
    arena_init(&a);
    ASSERT(!match(&a, "/m/{id}", "/m/%zz").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/%4").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/abc%").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/a%00b").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/%00").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/%ff").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/%c0%ae").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/%ed%a0%80").ok);
    ASSERT(!match(&a, "/m/{id}", "/m/\xc3").ok);
    ASSERT(!match(&a, "/m/{a}/{b}", "/m/ok/%zz").ok);
    arena_release(&a);
}

TEST(route_too_many_params)
{
    struct arena a;
    struct match m;
    arena_init(&a);
    m = match(&a, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "/1/2/3/4/5/6/7/8");
    ASSERT(m.ok);
    ASSERT_EQ(m.n, HTTP_MAX_PARAMS);
    ASSERT_STR_EQ(m.params[7].name, "h");
    ASSERT_STR_EQ(m.params[7].value, "8");
    ASSERT(!match(&a, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "/1/2/3/4/5/6/7/8/9").ok);
    arena_release(&a);
}

TEST(route_unclosed_brace_never_matches)
{
    struct arena a;
    arena_init(&a);
    ASSERT(!match(&a, "/m/{id", "/m/x").ok);
    arena_release(&a);
}
