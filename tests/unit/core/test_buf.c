/* test_buf.c - the capped growing buffer: caps, growth, formatting, detach. */
#include "core/common.h"
#include "core/buf.h"
#include "core/err.h"
#include "test.h"

#include <stdio.h>

TEST(buf_empty_is_empty_string)
{
    struct buf b;
    buf_init(&b, 0);
    ASSERT(b.p != NULL);
    ASSERT_STR_EQ(b.p, "");
    ASSERT_EQ(b.n, 0);
    ASSERT_EQ(b.max, BUF_MAX_DEFAULT);
    buf_reset(&b);
    ASSERT_STR_EQ(b.p, "");
    buf_release(&b);
    ASSERT(b.p != NULL);
    ASSERT_STR_EQ(b.p, "");
    /* Adding nothing keeps it a valid empty string. */
    ASSERT_OK(buf_add(&b, NULL, 0));
    ASSERT_OK(buf_adds(&b, ""));
    ASSERT_STR_EQ(b.p, "");
    buf_release(&b);
}

TEST(buf_grows_and_stays_terminated)
{
    struct buf b;
    char want[10001];
    buf_init(&b, 0);
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        ASSERT_OK(buf_addc(&b, c));
        want[i] = c;
        ASSERT_EQ(b.p[b.n], '\0');
        ASSERT(b.cap > b.n);
    }
    want[10000] = '\0';
    ASSERT_EQ(b.n, 10000);
    ASSERT_STR_EQ(b.p, want);
    buf_release(&b);
    ASSERT_EQ(b.n, 0);
    ASSERT_EQ(b.cap, 0);
}

TEST(buf_binary_data)
{
    struct buf b;
    const char data[] = {'a', 0, 'b', 0, (char)0xff};
    buf_init(&b, 0);
    ASSERT_OK(buf_add(&b, data, sizeof(data)));
    ASSERT_EQ(b.n, sizeof(data));
    ASSERT(memcmp(b.p, data, sizeof(data)) == 0);
    ASSERT_EQ(b.p[b.n], '\0');
    buf_release(&b);
}

TEST(buf_cap_exact_fit)
{
    struct buf b;
    buf_init(&b, 5);
    ASSERT_OK(buf_adds(&b, "abc"));
    ASSERT_OK(buf_adds(&b, "de"));
    ASSERT_STR_EQ(b.p, "abcde");
    ASSERT_EQ(b.n, 5);
    /* Full: even one more byte is refused, and nothing changes. */
    ASSERT_EQ(buf_addc(&b, 'f'), AG_ETOOBIG);
    ASSERT_EQ(buf_add(&b, "f", 1), AG_ETOOBIG);
    ASSERT_EQ(buf_addf(&b, "%d", 1), AG_ETOOBIG);
    ASSERT_STR_EQ(b.p, "abcde");
    ASSERT_EQ(b.n, 5);
    /* Adding zero bytes to a full buffer is fine. */
    ASSERT_OK(buf_add(&b, "", 0));
    buf_release(&b);
}

TEST(buf_cap_overflow_leaves_contents)
{
    struct buf b;
    char big[100];
    memset(big, 'x', sizeof(big));
    buf_init(&b, 64);
    ASSERT_OK(buf_adds(&b, "hello"));
    ASSERT_EQ(buf_add(&b, big, 60), AG_ETOOBIG);
    ASSERT_EQ(buf_add(&b, big, sizeof(big)), AG_ETOOBIG);
    ASSERT_EQ(buf_addf(&b, "%.*s", 60, big), AG_ETOOBIG);
    ASSERT_EQ(buf_adds(&b, "0123456789012345678901234567890123456789012345678901234567890"),
              AG_ETOOBIG);
    ASSERT_STR_EQ(b.p, "hello");
    ASSERT_EQ(b.n, 5);
    /* A length so large that n + len wraps around must still be refused. */
    ASSERT_EQ(buf_grow(&b, SIZE_MAX), AG_ETOOBIG);
    ASSERT_EQ(buf_grow(&b, SIZE_MAX - 2), AG_ETOOBIG);
    ASSERT_EQ(buf_add(&b, big, 59), 0);
    ASSERT_EQ(b.n, 64);
    buf_release(&b);
}

TEST(buf_cap_on_empty_buffer)
{
    struct buf b;
    buf_init(&b, 3);
    ASSERT_EQ(buf_adds(&b, "abcd"), AG_ETOOBIG);
    ASSERT_STR_EQ(b.p, "");
    ASSERT_EQ(b.n, 0);
    ASSERT_EQ(b.cap, 0);
    buf_release(&b);
}

TEST(buf_huge_max)
{
    /* A max of SIZE_MAX means "no cap of our own"; growing must still work. */
    struct buf b;
    buf_init(&b, SIZE_MAX);
    ASSERT_OK(buf_adds(&b, "unbounded"));
    ASSERT_OK(buf_addf(&b, " %d", 42));
    ASSERT_STR_EQ(b.p, "unbounded 42");
    ASSERT_EQ(buf_grow(&b, SIZE_MAX), AG_ETOOBIG);
    buf_release(&b);
}

TEST(buf_addf_formats)
{
    struct buf b;
    char long_s[3000];
    memset(long_s, 'q', sizeof(long_s) - 1);
    long_s[sizeof(long_s) - 1] = '\0';
    buf_init(&b, 0);
    ASSERT_OK(buf_addf(&b, "%s=%d;", "a", -7));
    ASSERT_OK(buf_addf(&b, "%05.1f|%x|%" PRIu64, 3.14159, 255u, (uint64_t)1 << 40));
    ASSERT_STR_EQ(b.p, "a=-7;003.1|ff|1099511627776");
    ASSERT_OK(buf_addf(&b, "%s", ""));
    ASSERT_EQ(b.n, strlen("a=-7;003.1|ff|1099511627776"));
    buf_reset(&b);
    /* Longer than any initial allocation: forces growth inside the formatter. */
    ASSERT_OK(buf_addf(&b, "<%s>", long_s));
    ASSERT_EQ(b.n, sizeof(long_s) + 1);
    ASSERT_EQ(b.p[0], '<');
    ASSERT_EQ(b.p[b.n - 1], '>');
    ASSERT_EQ(b.p[b.n], '\0');
    buf_release(&b);
}

TEST(buf_reset_keeps_memory)
{
    struct buf b;
    char *p;
    buf_init(&b, 100);
    ASSERT_OK(buf_adds(&b, "some text"));
    p = b.p;
    buf_reset(&b);
    ASSERT_EQ(b.n, 0);
    ASSERT_STR_EQ(b.p, "");
    ASSERT(b.p == p);
    ASSERT_EQ(b.max, 100);
    ASSERT_OK(buf_adds(&b, "again"));
    ASSERT_STR_EQ(b.p, "again");
    buf_release(&b);
    ASSERT_EQ(b.max, 100);
}

TEST(buf_detach)
{
    struct buf b;
    size_t len = 99;
    char *p;
    buf_init(&b, 50);
    ASSERT_OK(buf_adds(&b, "owned"));
    p = buf_detach(&b, &len);
    ASSERT_STR_EQ(p, "owned");
    ASSERT_EQ(len, 5);
    /* The buffer is empty again and still usable, with the same cap. */
    ASSERT_EQ(b.n, 0);
    ASSERT_STR_EQ(b.p, "");
    ASSERT_EQ(b.max, 50);
    ASSERT_OK(buf_adds(&b, "next"));
    ASSERT_STR_EQ(b.p, "next");
    ASSERT_STR_EQ(p, "owned");
    free(p);
    buf_release(&b);

    /* Detaching an empty buffer still gives a malloc'd "" the caller frees. */
    buf_init(&b, 0);
    p = buf_detach(&b, &len);
    ASSERT(p != NULL);
    ASSERT_STR_EQ(p, "");
    ASSERT_EQ(len, 0);
    free(p);
    p = buf_detach(&b, NULL);
    ASSERT(p != NULL);
    free(p);
}

TEST(buf_read_file)
{
    char path[512];
    struct buf b;
    FILE *f;
    snprintf(path, sizeof(path), "%s/data.bin", test_tmpdir());
    f = fopen(path, "wb");
    ASSERT(f != NULL);
    for (int i = 0; i < 40000; i++)
        fputc(i % 251, f);
    fclose(f);

    buf_init(&b, 0);
    ASSERT_OK(buf_read_file(&b, path));
    ASSERT_EQ(b.n, 40000);
    for (int i = 0; i < 40000; i += 997)
        ASSERT_EQ((uint8_t)b.p[i], i % 251);
    buf_release(&b);

    /* Past the cap: an error, and the buffer holds what it held before. */
    buf_init(&b, 39999);
    ASSERT_OK(buf_adds(&b, "pre"));
    ASSERT_EQ(buf_read_file(&b, path), AG_ETOOBIG);
    ASSERT_EQ(b.n, 3);
    ASSERT_STR_EQ(b.p, "pre");
    buf_release(&b);

    /* A directory opens but cannot be read. */
    buf_init(&b, 0);
    ASSERT_EQ(buf_read_file(&b, test_tmpdir()), AG_EIO);
    ASSERT_EQ(b.n, 0);
    buf_release(&b);

    buf_init(&b, 0);
    snprintf(path, sizeof(path), "%s/missing", test_tmpdir());
    ASSERT_EQ(buf_read_file(&b, path), AG_EIO);
    ASSERT_EQ(b.n, 0);
    buf_release(&b);
}
