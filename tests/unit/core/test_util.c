/* test_util.c - UTF-8 validation, number parsing, strings, SHA-256, time, mkdir_p. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

#define VALID(lit) ASSERT(utf8_valid(lit, sizeof(lit) - 1))
#define INVALID(lit) ASSERT(!utf8_valid(lit, sizeof(lit) - 1))

TEST(utf8_valid_sequences)
{
    VALID("");
    VALID("plain ascii ~\x7f");
    VALID("a\0b");                    /* NUL is a code point; JSON and URLs reject it themselves */
    VALID("\xc2\x80");                /* U+0080, smallest two-byte */
    VALID("\xdf\xbf");                /* U+07FF */
    VALID("\xe0\xa0\x80");            /* U+0800, smallest three-byte */
    VALID("\xed\x9f\xbf");            /* U+D7FF, just below the surrogates */
    VALID("\xee\x80\x80");            /* U+E000, just above */
    VALID("\xef\xbf\xbf");            /* U+FFFF */
    VALID("\xf0\x90\x80\x80");        /* U+10000, smallest four-byte */
    VALID("\xf4\x8f\xbf\xbf");        /* U+10FFFF, the largest */
    VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

TEST(utf8_invalid_sequences)
{
    /* Overlongs. */
    INVALID("\xc0\x80");
    INVALID("\xc0\xaf");
    INVALID("\xc1\xbf");
    INVALID("\xe0\x80\x80");
    INVALID("\xe0\x9f\xbf");
    INVALID("\xf0\x80\x80\x80");
    INVALID("\xf0\x8f\xbf\xbf");
    /* Surrogates. */
    INVALID("\xed\xa0\x80");
    INVALID("\xed\xad\xbf");
    INVALID("\xed\xb0\x80");
    INVALID("\xed\xbf\xbf");
    /* Above U+10FFFF and bytes that never appear. */
    INVALID("\xf4\x90\x80\x80");
    INVALID("\xf5\x80\x80\x80");
    INVALID("\xf7\xbf\xbf\xbf");
    INVALID("\xf8\x88\x80\x80\x80");
    INVALID("\xfc\x84\x80\x80\x80\x80");
    INVALID("\xfe");
    INVALID("\xff");
    /* Lone continuation bytes and bad continuations. */
    INVALID("\x80");
    INVALID("\xbf");
    INVALID("a\x80z");
    INVALID("\xc3\x28");
    INVALID("\xe2\x28\xa1");
    INVALID("\xe2\x82\x28");
    INVALID("\xf0\x28\x8c\xbc");
    INVALID("\xf0\x90\x28\xbc");
    INVALID("\xf0\x90\x8c\x28");
    /* Truncated at the end of the input. */
    INVALID("\xc3");
    INVALID("\xe2\x82");
    INVALID("\xf0\x9f\x98");
    INVALID("ok\xf0");
}

TEST(utf8_valid_respects_length)
{
    const char s[] = "\xe2\x82\xac";
    ASSERT(utf8_valid(s, 3));
    ASSERT(!utf8_valid(s, 2));
    ASSERT(!utf8_valid(s, 1));
    ASSERT(utf8_valid(s, 0));
    /* Bytes past `len` are never looked at. */
    ASSERT(utf8_valid("ab\xff", 2));
}

TEST(utf8_len_counts_code_points)
{
    ASSERT_EQ(utf8_len(""), 0);
    ASSERT_EQ(utf8_len("abc"), 3);
    ASSERT_EQ(utf8_len("caf\xc3\xa9"), 4);
    ASSERT_EQ(utf8_len("\xe2\x82\xac\xf0\x9f\x98\x80"), 2);
}

static void i64_ok(const char *s, int64_t want)
{
    int64_t v = 12345;
    if (parse_i64(s, &v) != 0 || v != want)
        test_fail(__FILE__, __LINE__, "parse_i64(\"%s\") gave %" PRId64 ", want %" PRId64, s, v,
                  want);
}

static void i64_bad(const char *s)
{
    int64_t v = 12345;
    if (parse_i64(s, &v) != AG_EINVAL || v != 12345)
        test_fail(__FILE__, __LINE__, "parse_i64 accepted \"%s\"", s ? s : "(null)");
}

static void u64_ok(const char *s, uint64_t want)
{
    uint64_t v = 12345;
    if (parse_u64(s, &v) != 0 || v != want)
        test_fail(__FILE__, __LINE__, "parse_u64(\"%s\") gave %" PRIu64, s, v);
}

static void u64_bad(const char *s)
{
    uint64_t v = 12345;
    if (parse_u64(s, &v) != AG_EINVAL || v != 12345)
        test_fail(__FILE__, __LINE__, "parse_u64 accepted \"%s\"", s ? s : "(null)");
}

TEST(parse_i64_edges)
{
    i64_ok("0", 0);
    i64_ok("-0", 0);
    i64_ok("7", 7);
    i64_ok("007", 7);
    i64_ok("-42", -42);
    i64_ok("9223372036854775807", INT64_MAX);
    i64_ok("-9223372036854775808", INT64_MIN);
    i64_bad("9223372036854775808");
    i64_bad("-9223372036854775809");
    i64_bad("99999999999999999999999");
    i64_bad(NULL);
    i64_bad("");
    i64_bad("-");
    i64_bad("+1");
    i64_bad(" 1");
    i64_bad("\t1");
    i64_bad("1 ");
    i64_bad("1\n");
    i64_bad("1a");
    i64_bad("0x10");
    i64_bad("1e3");
    i64_bad("1.0");
    i64_bad("--1");
    i64_bad("-+1");
    i64_bad("- 1");
    i64_bad("1,000");
}

TEST(parse_u64_edges)
{
    u64_ok("0", 0);
    u64_ok("1", 1);
    u64_ok("18446744073709551615", UINT64_MAX);
    u64_bad("18446744073709551616");
    u64_bad("99999999999999999999999");
    u64_bad(NULL);
    u64_bad("");
    u64_bad("-1");
    u64_bad("-0");
    u64_bad("+1");
    u64_bad(" 1");
    u64_bad("1 ");
    u64_bad("12x");
    u64_bad("0x10");
    u64_bad("1-");
}

TEST(str_copy_truncates)
{
    char small[4];
    char exact[6];
    char none[1] = {'z'};
    memset(small, 'x', sizeof(small));
    ASSERT_EQ(str_copy(small, "abcdefg", sizeof(small)), 7);
    ASSERT_STR_EQ(small, "abc");
    ASSERT_EQ(str_copy(exact, "hello", sizeof(exact)), 5);
    ASSERT_STR_EQ(exact, "hello");
    ASSERT_EQ(str_copy(exact, "", sizeof(exact)), 0);
    ASSERT_STR_EQ(exact, "");
    ASSERT_EQ(str_copy(none, "abc", 1), 3);
    ASSERT_EQ(none[0], '\0');
    /* size 0 writes nothing at all. */
    none[0] = 'z';
    ASSERT_EQ(str_copy(none, "abc", 0), 3);
    ASSERT_EQ(none[0], 'z');
}

TEST(str_helpers)
{
    char *d;
    ASSERT(str_starts("/api/v1", "/api/"));
    ASSERT(str_starts("abc", ""));
    ASSERT(!str_starts("/ap", "/api/"));
    ASSERT(str_ends("index.html", ".html"));
    ASSERT(str_ends("x", ""));
    ASSERT(!str_ends("html", ".html"));
    ASSERT(!str_ends("a.htm", ".html"));
    ASSERT(str_dup(NULL) == NULL);
    d = str_dup("copy");
    ASSERT_STR_EQ(d, "copy");
    free(d);
}

TEST(sha256_hex_vectors)
{
    char out[65];
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex("", 0, out);
    ASSERT_STR_EQ(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, out);
    ASSERT_STR_EQ(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex(two_blocks, strlen(two_blocks), out);
    ASSERT_STR_EQ(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ct_equal_compares)
{
    ASSERT(ct_equal("abcd", "abcd", 4));
    ASSERT(!ct_equal("abcd", "abce", 4));
    ASSERT(ct_equal("abcd", "abce", 3));
    ASSERT(ct_equal("", "", 0));
}

TEST(rand_token_shape)
{
    char a[65], b[65];
    uint8_t zeros[64] = {0}, r[64];
    rand_token(a, 32);
    rand_token(b, 32);
    ASSERT_EQ(strlen(a), 64);
    for (int i = 0; i < 64; i++)
        ASSERT(strchr("0123456789abcdef", a[i]) != NULL);
    ASSERT(strcmp(a, b) != 0);
    rand_token(a, 0);
    ASSERT_STR_EQ(a, "");
    /* Longer than the internal 64-byte block. */
    {
        char big[2 * 200 + 2];
        memset(big, '#', sizeof(big));
        rand_token(big, 200);
        ASSERT_EQ(strlen(big), 400);
        ASSERT_EQ(strspn(big, "0123456789abcdef"), 400);
        ASSERT_EQ(big[401], '#');
        ASSERT(strspn(big + 300, "0") < 100);
    }
    rand_bytes(r, sizeof(r));
    ASSERT(memcmp(r, zeros, sizeof(r)) != 0);
}

TEST(time_iso8601_formats)
{
    char out[64];
    time_iso8601(out, sizeof(out), 0);
    ASSERT_STR_EQ(out, "1970-01-01T00:00:00Z");
    time_iso8601(out, sizeof(out), 951782400);
    ASSERT_STR_EQ(out, "2000-02-29T00:00:00Z");
    time_iso8601(out, sizeof(out), 253402300799);
    ASSERT_STR_EQ(out, "9999-12-31T23:59:59Z");
    time_iso8601(out, sizeof(out), -1);
    ASSERT_STR_EQ(out, "1969-12-31T23:59:59Z");
    time_iso8601_ms(out, sizeof(out), 0);
    ASSERT_STR_EQ(out, "1970-01-01T00:00:00.000Z");
    time_iso8601_ms(out, sizeof(out), 1700000000123);
    ASSERT_STR_EQ(out, "2023-11-14T22:13:20.123Z");
    time_iso8601_ms(out, sizeof(out), 1700000000005);
    ASSERT_STR_EQ(out, "2023-11-14T22:13:20.005Z");
    /* Before the epoch the milliseconds still count forward from the second. */
    time_iso8601_ms(out, sizeof(out), -1);
    ASSERT_STR_EQ(out, "1969-12-31T23:59:59.999Z");
    time_iso8601_ms(out, sizeof(out), -1000);
    ASSERT_STR_EQ(out, "1969-12-31T23:59:59.000Z");
    /* A short buffer is truncated, never overrun. */
    time_iso8601(out, 11, 951782400);
    ASSERT_STR_EQ(out, "2000-02-29");
    /* Out of the calendar's range: "", not garbage. */
    time_iso8601(out, sizeof(out), INT64_MAX);
    ASSERT_STR_EQ(out, "");
    /* The far past still fits a struct tm: formatted, with no overflow. */
    time_iso8601_ms(out, sizeof(out), INT64_MIN);
    ASSERT_STR_EQ(out, "-292275055-05-16T16:47:04.192Z");
    time_iso8601_ms(out, sizeof(out), INT64_MAX);
    ASSERT_STR_EQ(out, "292278994-08-17T07:12:55.807Z");
}

TEST(time_now_is_sane)
{
    char out[32];
    int64_t ms = time_now_ms(), s = time_now();
    int64_t m1 = time_mono_us(), m2 = time_mono_us();
    /* After 2020-01-01 and consistent between the two clocks. */
    ASSERT(ms > 1577836800000LL);
    ASSERT(s >= ms / 1000 && s - ms / 1000 <= 2);
    ASSERT(m2 >= m1);
    time_iso8601(out, sizeof(out), s);
    ASSERT_EQ(strlen(out), 20);
    ASSERT_EQ(out[4], '-');
    ASSERT_EQ(out[10], 'T');
    ASSERT_EQ(out[19], 'Z');
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

TEST(mkdir_p_creates_parents)
{
    char path[512], file[512];
    struct stat st;
    FILE *f;
    snprintf(path, sizeof(path), "%s/a/b/c/d", test_tmpdir());
    ASSERT_OK(mkdir_p(path, 0700));
    ASSERT(is_dir(path));
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0700);
    /* Existing directories are fine, with or without a trailing slash. */
    ASSERT_OK(mkdir_p(path, 0700));
    snprintf(path, sizeof(path), "%s/a/b/", test_tmpdir());
    ASSERT_OK(mkdir_p(path, 0700));
    snprintf(path, sizeof(path), "%s/a//e", test_tmpdir());
    ASSERT_OK(mkdir_p(path, 0755));
    snprintf(path, sizeof(path), "%s/a/e", test_tmpdir());
    ASSERT(is_dir(path));

    /* A regular file in the way, as a parent or as the target, is an error. */
    snprintf(file, sizeof(file), "%s/file", test_tmpdir());
    f = fopen(file, "w");
    ASSERT(f != NULL);
    fclose(f);
    snprintf(path, sizeof(path), "%s/file/sub", test_tmpdir());
    ASSERT_EQ(mkdir_p(path, 0700), AG_EIO);
    ASSERT_EQ(mkdir_p(file, 0700), AG_EIO);
}

TEST(mkdir_p_bad_paths)
{
    char longp[5000];
    ASSERT_EQ(mkdir_p("", 0700), AG_EINVAL);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ASSERT_EQ(mkdir_p(longp, 0700), AG_EINVAL);
    ASSERT_OK(mkdir_p("/", 0700));
    ASSERT_EQ(mkdir_p("/proc/agora-cannot-exist/x", 0700), AG_EIO);
}

TEST(mkdir_p_relative)
{
    char cwd[4096];
    ASSERT(getcwd(cwd, sizeof(cwd)) != NULL);
    ASSERT_OK(chdir(test_tmpdir()));
    ASSERT_OK(mkdir_p("rel/x/y", 0700));
    ASSERT(is_dir("rel/x/y"));
    ASSERT_OK(mkdir_p("rel", 0700));
    ASSERT_OK(chdir(cwd));
}
