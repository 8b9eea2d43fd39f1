/* test_log.c - log lines: one write per line, level filter, truncation. */
#include "core/common.h"
#include "core/log.h"
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

/* Runs `fn` with stderr redirected to a file and returns what it wrote. */
static char *capture(void (*fn)(void))
{
    char path[512], *text;
    int fd, saved;
    long size;
    FILE *f;

    snprintf(path, sizeof(path), "%s/stderr.txt", test_tmpdir());
    fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT(fd >= 0);
    saved = dup(STDERR_FILENO);
    ASSERT(saved >= 0);
    ASSERT(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    fn();
    ASSERT(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    f = fopen(path, "r");
    ASSERT(f != NULL);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    ASSERT(text != NULL);
    ASSERT_EQ(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

static void emit_levels(void)
{
    log_set_level(LOG_INFO);
    log_debug("hidden %d", 1);
    log_info("shown %d", 2);
    log_warn("warned %s", "x");
    log_error("failed");
    log_set_level(LOG_OFF);
    log_error("silenced");
    log_set_level(LOG_WARN);
}

TEST(log_levels_and_format)
{
    char *out = capture(emit_levels);
    const char *line2;
    ASSERT(strstr(out, "hidden") == NULL);
    ASSERT(strstr(out, "silenced") == NULL);
    ASSERT(strstr(out, " info  shown 2\n") != NULL);
    ASSERT(strstr(out, " warn  warned x\n") != NULL);
    ASSERT(strstr(out, " error failed\n") != NULL);
    /* "2026-11-25T16:21:00.123Z info  ..." */
    ASSERT_EQ(out[4], '-');
    ASSERT_EQ(out[10], 'T');
    ASSERT_EQ(out[23], 'Z');
    ASSERT_EQ(out[24], ' ');
    line2 = strchr(out, '\n');
    ASSERT(line2 && line2[1] != '\0');
    free(out);
}

static void emit_long(void)
{
    char big[5000];
    memset(big, 'L', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_set_level(LOG_INFO);
    log_info("%s", big);
    log_info("after");
    log_set_level(LOG_WARN);
}

TEST(log_long_message_stays_one_line)
{
    char *out = capture(emit_long);
    char *nl = strchr(out, '\n');
    ASSERT(nl != NULL);
    ASSERT((size_t)(nl - out) < 2048);
    ASSERT_EQ(nl[-1], 'L');
    ASSERT(strstr(nl + 1, " info  after\n") != NULL);
    free(out);
}

TEST(log_parse_level)
{
    ASSERT_EQ(log_parse_level("debug"), LOG_DEBUG);
    ASSERT_EQ(log_parse_level("info"), LOG_INFO);
    ASSERT_EQ(log_parse_level("warn"), LOG_WARN);
    ASSERT_EQ(log_parse_level("error"), LOG_ERROR);
    ASSERT_EQ(log_parse_level("off"), LOG_OFF);
    ASSERT_EQ(log_parse_level("INFO"), -1);
    ASSERT_EQ(log_parse_level(""), -1);
    ASSERT_EQ(log_parse_level("verbose"), -1);
}

static void emit_hostile(void)
{
    log_set_level(LOG_INFO);
    log_info("GET /a\nforged line\r\x1b[31mred\x7f\tok");
    log_set_level(LOG_WARN);
}

TEST(log_neutralizes_control_characters)
{
    /* A request path with a newline or a terminal escape stays on one line. */
    char *out = capture(emit_hostile);
    ASSERT(strstr(out, " info  GET /a?forged line??[31mred?\tok\n") != NULL);
    ASSERT_EQ(strchr(out, '\n') - out, (long)strlen(out) - 1);
    ASSERT(strchr(out, '\x1b') == NULL);
    free(out);
}
