/* main.c - runner for the unit-test harness in test.h. */
#include "core/common.h"
#include "core/err.h"
#include "test.h"

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>

static struct test_case *cases;
static jmp_buf fail_jmp;
static char tmpdir[256];

void test_register(struct test_case *tc)
{
    struct test_case **p = &cases;
    while (*p)
        p = &(*p)->next;
    *p = tc;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    longjmp(fail_jmp, 1);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    UNUSED(sb);
    UNUSED(flag);
    UNUSED(ftw);
    return remove(path);
}

const char *test_tmpdir(void)
{
    /* Several threads of one case may ask at once: make it once, and only
     * publish the name when the directory exists. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    if (!tmpdir[0]) {
        char path[sizeof(tmpdir)];
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof(path), "%s/agora-unit-XXXXXX", base);
        if (!mkdtemp(path)) {
            perror("mkdtemp");
            exit(1);
        }
        memcpy(tmpdir, path, sizeof(tmpdir));
    }
    pthread_mutex_unlock(&lock);
    return tmpdir;
}

static int run(struct test_case *tc)
{
    int failed;
    tmpdir[0] = '\0';
    failed = setjmp(fail_jmp);
    if (!failed)
        tc->fn();
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%s %s\n", failed ? "FAIL" : "ok  ", tc->name);
    return failed;
}

int main(int argc, char **argv)
{
    int failures = 0, found = 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (struct test_case *tc = cases; tc; tc = tc->next) {
        if (argc > 1 && strcmp(argv[1], tc->name))
            continue;
        found++;
        failures += run(tc);
    }
    if (argc > 1 && !found) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    return failures ? 1 : 0;
}
