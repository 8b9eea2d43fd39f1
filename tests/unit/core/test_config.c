/* test_config.c - layered configuration: defaults < file < AGORA_* < flags. */
#include "core/common.h"
#include "core/config.h"
#include "test.h"

struct settings {
    char *dir;
    char *name;
    long port;
    long level;
    int verbose;
    int color;
};

static const struct config_opt opts[] = {
    {"ut-dir", CONFIG_STR, offsetof(struct settings, dir), "./data", "data directory", 0, 0},
    {"ut-name", CONFIG_STR, offsetof(struct settings, name), NULL, "a name", 0, 0},
    {"ut-port", CONFIG_INT, offsetof(struct settings, port), "8080", "port", 1, 65535},
    {"ut-level", CONFIG_INT, offsetof(struct settings, level), "0", "level", -5, 5},
    {"ut-verbose", CONFIG_BOOL, offsetof(struct settings, verbose), "false", "chatty", 0, 0},
    {"ut-color", CONFIG_BOOL, offsetof(struct settings, color), "true", "colors", 0, 0},
};

static const char *const env_vars[] = {"AGORA_CONFIG",  "AGORA_UT_DIR",     "AGORA_UT_NAME",
                                       "AGORA_UT_PORT", "AGORA_UT_LEVEL",   "AGORA_UT_VERBOSE",
                                       "AGORA_UT_COLOR"};

static void clear_env(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(env_vars); i++)
        unsetenv(env_vars[i]);
}

/* Runs config_load over a NULL-terminated argument list (argv[0] is the command). */
static int load(struct settings *s, struct ag_err *e, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    memset(s, 0, sizeof(*s));
    ag_err_clear(e);
    argv[argc++] = (char *)"serve";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return config_load(opts, ARRAY_SIZE(opts), s, argc, argv, 1, e);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Expects AG_EINVAL with every word of `needles` in the message. */
static void expect_error(int rc, const struct ag_err *e, const char *n1, const char *n2)
{
    ASSERT_EQ(rc, AG_EINVAL);
    ASSERT_EQ(e->code, AG_EINVAL);
    if (n1 && !strstr(e->msg, n1))
        test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", e->msg, n1);
    if (n2 && !strstr(e->msg, n2))
        test_fail(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"", e->msg, n2);
}

TEST(config_defaults)
{
    struct settings s;
    struct ag_err e;
    const char *none[] = {NULL};
    clear_env();
    ASSERT_OK(load(&s, &e, none));
    ASSERT_STR_EQ(s.dir, "./data");
    ASSERT(s.name == NULL);
    ASSERT_EQ(s.port, 8080);
    ASSERT_EQ(s.level, 0);
    ASSERT_EQ(s.verbose, 0);
    ASSERT_EQ(s.color, 1);
    config_free(opts, ARRAY_SIZE(opts), &s);
    ASSERT(s.dir == NULL);
}

TEST(config_precedence)
{
    struct settings s;
    struct ag_err e;
    const char *path = write_file("agora.conf", "ut-dir = /from/file\n"
                                                "ut-port = 1000\n"
                                                "ut-name = file-name\n"
                                                "ut-level = 1\n");
    const char *with_file[] = {"--config", path, NULL};
    const char *with_flags[] = {"--config", path, "--ut-port", "3000", NULL};
    clear_env();

    /* file over defaults */
    ASSERT_OK(load(&s, &e, with_file));
    ASSERT_STR_EQ(s.dir, "/from/file");
    ASSERT_STR_EQ(s.name, "file-name");
    ASSERT_EQ(s.port, 1000);
    ASSERT_EQ(s.level, 1);
    ASSERT_EQ(s.color, 1);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* environment over the file */
    setenv("AGORA_UT_PORT", "2000", 1);
    setenv("AGORA_UT_DIR", "/from/env", 1);
    ASSERT_OK(load(&s, &e, with_file));
    ASSERT_STR_EQ(s.dir, "/from/env");
    ASSERT_STR_EQ(s.name, "file-name");
    ASSERT_EQ(s.port, 2000);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* flags over the environment */
    ASSERT_OK(load(&s, &e, with_flags));
    ASSERT_EQ(s.port, 3000);
    ASSERT_STR_EQ(s.dir, "/from/env");
    ASSERT_EQ(s.level, 1);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* the file named by AGORA_CONFIG instead of --config */
    setenv("AGORA_CONFIG", path, 1);
    unsetenv("AGORA_UT_PORT");
    {
        const char *none[] = {NULL};
        ASSERT_OK(load(&s, &e, none));
        ASSERT_EQ(s.port, 1000);
        ASSERT_STR_EQ(s.name, "file-name");
        config_free(opts, ARRAY_SIZE(opts), &s);
    }
    clear_env();
}

TEST(config_flag_forms)
{
    struct settings s;
    struct ag_err e;
    const char *eq[] = {"--ut-port=9", "--ut-name=a=b", "--ut-dir=", NULL};
    const char *sep[] = {"--ut-port", "10", "--ut-name", "with space", NULL};
    const char *neg[] = {"--ut-level", "-5", NULL};
    const char *last[] = {"--ut-port", "1", "--ut-port=2", NULL};
    clear_env();

    ASSERT_OK(load(&s, &e, eq));
    ASSERT_EQ(s.port, 9);
    ASSERT_STR_EQ(s.name, "a=b");
    ASSERT_STR_EQ(s.dir, "");
    config_free(opts, ARRAY_SIZE(opts), &s);

    ASSERT_OK(load(&s, &e, sep));
    ASSERT_EQ(s.port, 10);
    ASSERT_STR_EQ(s.name, "with space");
    config_free(opts, ARRAY_SIZE(opts), &s);

    ASSERT_OK(load(&s, &e, neg));
    ASSERT_EQ(s.level, -5);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* The last occurrence wins. */
    ASSERT_OK(load(&s, &e, last));
    ASSERT_EQ(s.port, 2);
    config_free(opts, ARRAY_SIZE(opts), &s);
}

TEST(config_booleans)
{
    struct settings s;
    struct ag_err e;
    const char *on[] = {"--ut-verbose", "--no-ut-color", NULL};
    const char *eq[] = {"--ut-verbose=yes", "--ut-color=off", NULL};
    const char *flip[] = {"--no-ut-verbose", "--ut-verbose", NULL};
    const char *bad[] = {"--ut-verbose=maybe", NULL};
    const char *neg_val[] = {"--no-ut-color=true", NULL};
    const char *neg_int[] = {"--no-ut-port", NULL};
    const char *stray[] = {"--ut-verbose", "true", NULL};
    clear_env();

    ASSERT_OK(load(&s, &e, on));
    ASSERT_EQ(s.verbose, 1);
    ASSERT_EQ(s.color, 0);
    config_free(opts, ARRAY_SIZE(opts), &s);

    ASSERT_OK(load(&s, &e, eq));
    ASSERT_EQ(s.verbose, 1);
    ASSERT_EQ(s.color, 0);
    config_free(opts, ARRAY_SIZE(opts), &s);

    ASSERT_OK(load(&s, &e, flip));
    ASSERT_EQ(s.verbose, 1);
    config_free(opts, ARRAY_SIZE(opts), &s);

    expect_error(load(&s, &e, bad), &e, "ut-verbose", "true or false");
    ASSERT_STR_EQ(e.field, "ut-verbose");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, neg_val), &e, "no-ut-color", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, neg_int), &e, "no-ut-port", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    /* A boolean flag takes no separate value. */
    expect_error(load(&s, &e, stray), &e, "true", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);

    setenv("AGORA_UT_COLOR", "0", 1);
    {
        const char *none[] = {NULL};
        ASSERT_OK(load(&s, &e, none));
        ASSERT_EQ(s.color, 0);
        config_free(opts, ARRAY_SIZE(opts), &s);
    }
    clear_env();
}

TEST(config_integer_range_errors)
{
    struct settings s;
    struct ag_err e;
    const char *zero[] = {"--ut-port", "0", NULL};
    const char *high[] = {"--ut-port=65536", NULL};
    const char *word[] = {"--ut-port", "http", NULL};
    const char *huge[] = {"--ut-level", "99999999999999999999", NULL};
    const char *plus[] = {"--ut-port", "+80", NULL};
    const char *space[] = {"--ut-port", " 80", NULL};
    const char *edge[] = {"--ut-port", "65535", "--ut-level=5", NULL};
    clear_env();

    expect_error(load(&s, &e, zero), &e, "ut-port", "1 to 65535");
    ASSERT_STR_EQ(e.field, "ut-port");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, high), &e, "ut-port", "65535");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, word), &e, "ut-port", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, huge), &e, "ut-level", "-5 to 5");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, plus), &e, "ut-port", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, space), &e, "ut-port", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    ASSERT_OK(load(&s, &e, edge));
    ASSERT_EQ(s.port, 65535);
    ASSERT_EQ(s.level, 5);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* From the environment, the message names the variable. */
    setenv("AGORA_UT_PORT", "70000", 1);
    {
        const char *none[] = {NULL};
        expect_error(load(&s, &e, none), &e, "AGORA_UT_PORT", "ut-port");
        config_free(opts, ARRAY_SIZE(opts), &s);
    }
    clear_env();
}

TEST(config_unknown_and_malformed_flags)
{
    struct settings s;
    struct ag_err e;
    const char *unknown[] = {"--ut-prot", "80", NULL};
    const char *unknown_eq[] = {"--bogus=1", NULL};
    const char *positional[] = {"extra", NULL};
    const char *single_dash[] = {"-ut-port", "80", NULL};
    const char *no_value[] = {"--ut-port", NULL};
    const char *config_no_value[] = {"--config", NULL};
    const char *prefix[] = {"--ut-p", "80", NULL};
    clear_env();

    expect_error(load(&s, &e, unknown), &e, "--ut-prot", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, unknown_eq), &e, "--bogus", NULL);
    ASSERT(strstr(e.msg, "=1") == NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, positional), &e, "extra", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, single_dash), &e, "-ut-port", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, no_value), &e, "ut-port", "value");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, config_no_value), &e, "config", "value");
    config_free(opts, ARRAY_SIZE(opts), &s);
    expect_error(load(&s, &e, prefix), &e, "--ut-p", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
}

TEST(config_file_comments_and_blanks)
{
    struct settings s;
    struct ag_err e;
    const char *path = write_file("c.conf", "# a comment\n"
                                            "\n"
                                            "   \t\n"
                                            "   # indented comment\n"
                                            "  ut-name   =   spaced out  \n"
                                            "ut-verbose=yes\n"
                                            "ut-dir = /x#not-a-comment\n"
                                            "ut-port = 81"); /* no final newline */
    const char *args[] = {"--config=", NULL};
    char arg[600];
    snprintf(arg, sizeof(arg), "--config=%s", path);
    args[0] = arg;
    clear_env();
    ASSERT_OK(load(&s, &e, args));
    ASSERT_STR_EQ(s.name, "spaced out");
    ASSERT_EQ(s.verbose, 1);
    ASSERT_STR_EQ(s.dir, "/x#not-a-comment");
    ASSERT_EQ(s.port, 81);
    config_free(opts, ARRAY_SIZE(opts), &s);
}

TEST(config_file_crlf)
{
    /* A file written on Windows: CRLF line ends are whitespace. */
    struct settings s;
    struct ag_err e;
    const char *args[] = {"--config", NULL, NULL};
    clear_env();
    args[1] = write_file("crlf.conf", "# c\r\n\r\nut-port = 82\r\nut-name = dos\r\n");
    ASSERT_OK(load(&s, &e, args));
    ASSERT_EQ(s.port, 82);
    ASSERT_STR_EQ(s.name, "dos");
    config_free(opts, ARRAY_SIZE(opts), &s);
}

TEST(config_file_errors)
{
    struct settings s;
    struct ag_err e;
    const char *args[] = {"--config", NULL, NULL};
    char missing[512], line[3000];
    clear_env();

    args[1] = write_file("unknown.conf", "# ok\nut-port = 80\nut-colour = true\n");
    expect_error(load(&s, &e, args), &e, "ut-colour", ":3");
    config_free(opts, ARRAY_SIZE(opts), &s);

    args[1] = write_file("noeq.conf", "ut-port 80\n");
    expect_error(load(&s, &e, args), &e, "key = value", ":1");
    config_free(opts, ARRAY_SIZE(opts), &s);

    args[1] = write_file("range.conf", "\nut-port = 0\n");
    expect_error(load(&s, &e, args), &e, "ut-port", ":2");
    config_free(opts, ARRAY_SIZE(opts), &s);

    args[1] = write_file("nokey.conf", " = 5\n");
    expect_error(load(&s, &e, args), &e, "unknown", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);

    /* A line too long for the reader is an error, not two half lines. */
    memcpy(line, "ut-name = ", 10);
    memset(line + 10, 'a', 2000);
    snprintf(line + 2010, sizeof(line) - 2010, "\nut-port = 80\n");
    args[1] = write_file("long.conf", line);
    expect_error(load(&s, &e, args), &e, "too long", ":1");
    config_free(opts, ARRAY_SIZE(opts), &s);

    snprintf(missing, sizeof(missing), "%s/nope.conf", test_tmpdir());
    args[1] = missing;
    expect_error(load(&s, &e, args), &e, "nope.conf", NULL);
    config_free(opts, ARRAY_SIZE(opts), &s);
}

TEST(config_usage_lists_options)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ASSERT(f != NULL);
    config_usage(opts, ARRAY_SIZE(opts), f);
    fclose(f);
    ASSERT(strstr(text, "--config FILE") != NULL);
    ASSERT(strstr(text, "--ut-port N") != NULL);
    ASSERT(strstr(text, "AGORA_UT_PORT, default 8080") != NULL);
    ASSERT(strstr(text, "--ut-dir VALUE") != NULL);
    ASSERT(strstr(text, "--ut-verbose ") != NULL);
    ASSERT(strstr(text, "[AGORA_UT_NAME]") != NULL);
    free(text);
}
