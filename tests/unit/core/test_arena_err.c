/* test_arena_err.c - the per-request arena and the error table. */
#include "core/common.h"
#include "core/arena.h"
#include "core/err.h"
#include "test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

TEST(arena_alloc_aligned_and_distinct)
{
    struct arena a;
    char *ptrs[300];
    arena_init(&a);
    for (size_t n = 0; n < ARRAY_SIZE(ptrs); n++) {
        char *p = arena_alloc(&a, n);
        ASSERT(p != NULL);
        ASSERT_EQ((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, (int)(n & 0xff), n);
        ptrs[n] = p;
    }
    /* No allocation overlapped another: every fill is still intact (and ASan
     * would have flagged a write past a chunk). */
    for (size_t n = 0; n < ARRAY_SIZE(ptrs); n++)
        for (size_t i = 0; i < n; i++)
            ASSERT_EQ((uint8_t)ptrs[n][i], n & 0xff);
    arena_release(&a);
    ASSERT(a.head == NULL);
    /* A released arena is reusable. */
    ASSERT(arena_alloc(&a, 10) != NULL);
    arena_release(&a);
}

TEST(arena_contents_survive_growth)
{
    struct arena a;
    char *ptrs[500];
    arena_init(&a);
    /* Many chunks' worth; earlier allocations must stay intact. */
    for (int i = 0; i < 500; i++) {
        ptrs[i] = arena_printf(&a, "item-%d-%0*d", i, i % 50, 0);
    }
    for (int i = 0; i < 500; i++) {
        char want[80];
        snprintf(want, sizeof(want), "item-%d-%0*d", i, i % 50, 0);
        ASSERT_STR_EQ(ptrs[i], want);
    }
    arena_release(&a);
}

TEST(arena_big_allocations)
{
    struct arena a;
    char *small1, *big, *small2;
    arena_init(&a);
    small1 = arena_strdup(&a, "before");
    big = arena_alloc(&a, 100000);
    memset(big, 'b', 100000);
    small2 = arena_strdup(&a, "after");
    ASSERT_STR_EQ(small1, "before");
    ASSERT_STR_EQ(small2, "after");
    ASSERT_EQ(big[99999], 'b');
    /* A big allocation into an empty arena, then small ones. */
    arena_release(&a);
    big = arena_alloc(&a, 5000);
    memset(big, 'c', 5000);
    small1 = arena_strdup(&a, "x");
    ASSERT_STR_EQ(small1, "x");
    ASSERT_EQ(big[4999], 'c');
    arena_release(&a);
}

TEST(arena_strings)
{
    struct arena a;
    char *s;
    arena_init(&a);
    ASSERT_STR_EQ(arena_strdup(&a, ""), "");
    ASSERT_STR_EQ(arena_strdup(&a, "hello"), "hello");
    s = arena_strndup(&a, "hello world", 5);
    ASSERT_STR_EQ(s, "hello");
    s = arena_strndup(&a, "a\0b", 3);
    ASSERT_EQ(s[0], 'a');
    ASSERT_EQ(s[1], '\0');
    ASSERT_EQ(s[2], 'b');
    ASSERT_EQ(s[3], '\0');
    ASSERT_STR_EQ(arena_printf(&a, "%s-%d-%.2f", "x", 42, 1.5), "x-42-1.50");
    ASSERT_STR_EQ(arena_printf(&a, "%s", ""), "");
    arena_release(&a);
}

TEST(err_every_code_has_name_status_message)
{
    static const int codes[] = {
#define X(name, status, code, msg) AG_E##name,
        AG_ERR_MAP(X)
#undef X
    };
    static const int statuses[] = {
#define X(name, status, code, msg) status,
        AG_ERR_MAP(X)
#undef X
    };
    static const char *const names[] = {
#define X(name, status, code, msg) code,
        AG_ERR_MAP(X)
#undef X
    };
    static const char *const msgs[] = {
#define X(name, status, code, msg) msg,
        AG_ERR_MAP(X)
#undef X
    };
    ASSERT(ARRAY_SIZE(codes) >= 19);
    for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
        int c = codes[i];
        ASSERT(c < 0);
        for (size_t j = 0; j < i; j++)
            ASSERT(codes[j] != c);
        ASSERT_STR_EQ(ag_err_name(c), names[i]);
        ASSERT_STR_EQ(ag_strerror(c), msgs[i]);
        ASSERT_EQ(ag_err_status(c), statuses[i]);
        ASSERT(ag_err_status(c) >= 400 && ag_err_status(c) <= 599);
        ASSERT(strlen(ag_err_name(c)) > 0);
        ASSERT(strlen(ag_strerror(c)) > 0);
        ASSERT(strcmp(ag_strerror(c), "unknown error") != 0);
    }
}

TEST(err_known_mappings)
{
    ASSERT_STR_EQ(ag_err_name(AG_ENOTFOUND), "not_found");
    ASSERT_EQ(ag_err_status(AG_ENOTFOUND), 404);
    ASSERT_EQ(ag_err_status(AG_EINVAL), 400);
    ASSERT_EQ(ag_err_status(AG_EBADJSON), 400);
    ASSERT_EQ(ag_err_status(AG_EUNAUTH), 401);
    ASSERT_EQ(ag_err_status(AG_EFORBIDDEN), 403);
    ASSERT_EQ(ag_err_status(AG_EMETHOD), 405);
    ASSERT_EQ(ag_err_status(AG_EEXISTS), 409);
    ASSERT_EQ(ag_err_status(AG_ETOOBIG), 413);
    ASSERT_EQ(ag_err_status(AG_EUNPROCESSABLE), 422);
    ASSERT_EQ(ag_err_status(AG_ERATELIMIT), 429);
    ASSERT_EQ(ag_err_status(AG_EUNAVAILABLE), 503);
    ASSERT_EQ(ag_err_status(AG_ETIMEOUT), 504);
    ASSERT_STR_EQ(ag_err_name(AG_ETOOBIG), "too_large");
}

TEST(err_ok_and_unknown_codes)
{
    ASSERT_STR_EQ(ag_strerror(0), "ok");
    ASSERT_STR_EQ(ag_err_name(0), "ok");
    ASSERT_EQ(ag_err_status(0), 200);
    ASSERT_STR_EQ(ag_strerror(-1), "unknown error");
    ASSERT_STR_EQ(ag_strerror(-100), "unknown error");
    ASSERT_STR_EQ(ag_strerror(12345), "unknown error");
    ASSERT_STR_EQ(ag_strerror(INT_MIN), "unknown error");
    ASSERT_STR_EQ(ag_err_name(-1), "internal");
    ASSERT_EQ(ag_err_status(-1), 500);
    ASSERT_EQ(ag_err_status(INT_MAX), 500);
}

TEST(err_errf_fills_and_returns)
{
    struct ag_err e;
    char longf[200];
    ag_err_clear(&e);
    ASSERT_EQ(e.code, 0);
    ASSERT_STR_EQ(e.msg, "");
    ASSERT_EQ(ag_errf(&e, AG_EINVAL, "slug", "slug must be %d-%d chars", 3, 40), AG_EINVAL);
    ASSERT_EQ(e.code, AG_EINVAL);
    ASSERT_STR_EQ(e.field, "slug");
    ASSERT_STR_EQ(e.msg, "slug must be 3-40 chars");
    ASSERT_EQ(ag_errf(&e, AG_ENOTFOUND, NULL, "gone"), AG_ENOTFOUND);
    ASSERT_STR_EQ(e.field, "");
    ASSERT_EQ(ag_err_set(&e, AG_ECONFLICT), AG_ECONFLICT);
    ASSERT_STR_EQ(e.msg, ag_strerror(AG_ECONFLICT));
    ASSERT_EQ(e.code, AG_ECONFLICT);
    /* NULL is allowed and still returns the code. */
    ASSERT_EQ(ag_errf(NULL, AG_EIO, "x", "y"), AG_EIO);
    ASSERT_EQ(ag_err_set(NULL, AG_EIO), AG_EIO);
    ag_err_clear(NULL);
    /* Over-long fields and messages are truncated, never overrun. */
    memset(longf, 'f', sizeof(longf) - 1);
    longf[sizeof(longf) - 1] = '\0';
    ag_errf(&e, AG_EINVAL, longf, "%s%s", longf, longf);
    ASSERT_EQ(strlen(e.field), sizeof(e.field) - 1);
    ASSERT_EQ(strlen(e.msg), sizeof(e.msg) - 1);
    e.retry_after = 30;
    ag_errf(&e, AG_ERATELIMIT, NULL, "slow down");
    ASSERT_EQ(e.retry_after, 0);
}

TEST(arena_printf_encoding_error_gives_empty)
{
    /* In the C locale a non-ASCII wide character cannot be converted: vsnprintf
     * fails, and the arena still returns a terminated (empty) string. */
    static const wchar_t wide[] = {0x20ac, 0};
    struct arena a;
    char *s;
    arena_init(&a);
    s = arena_printf(&a, "%ls", wide);
    ASSERT(s != NULL);
    ASSERT_STR_EQ(s, "");
    arena_release(&a);
}

TEST(arena_absurd_size_aborts)
{
    /* A size that would wrap when rounded up must abort, never return a
     * too-small block. Checked in a child process. */
    int status = 0;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct arena a;
        char *p;
        arena_init(&a);
        p = arena_alloc(&a, SIZE_MAX);
        p[0] = 'x';
        _exit(0);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
}
