/* test.h - a tiny unit-test harness (libuv's TEST_IMPL table, typed asserts).
 *
 * A test file defines cases with TEST(name) { ... }. CMake scans the file for
 * TEST(...) lines and registers each case as its own CTest entry, run as
 * `<binary> <name>`; with no argument the binary runs every case. An assert
 * that fails prints both values, the file and the line, and fails the case.
 */
#ifndef AGORA_TEST_H
#define AGORA_TEST_H

#include "core/common.h"

typedef void (*test_fn)(void);

struct test_case {
    const char *name;
    test_fn fn;
    struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* test_tmpdir() returns a fresh empty directory, removed after the case. */
const char *test_tmpdir(void);

#define TEST(name)                                                                 \
    static void test_##name(void);                                                 \
    static struct test_case test_case_##name = {#name, test_##name, NULL};         \
    __attribute__((constructor)) static void test_reg_##name(void)                 \
    {                                                                              \
        test_register(&test_case_##name);                                          \
    }                                                                              \
    static void test_##name(void)

#define ASSERT(cond)                                                               \
    do {                                                                           \
        if (!(cond))                                                               \
            test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);          \
    } while (0)

#define ASSERT_EQ(a, b)                                                            \
    do {                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                        \
        if (a_ != b_)                                                              \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                        \
    do {                                                                           \
        const char *a_ = (a), *b_ = (b);                                           \
        if (!a_ || !b_ || strcmp(a_, b_))                                          \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,    \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
    } while (0)

#define ASSERT_OK(expr)                                                            \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        if (rc_ != 0)                                                              \
            test_fail(__FILE__, __LINE__, "%s returned %d (%s)", #expr, rc_,       \
                      ag_strerror(rc_));                                           \
    } while (0)

#endif
