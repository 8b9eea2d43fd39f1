/* test_json.c - strict JSON parsing, typed getters that name the field, key checks. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "test.h"

static void check_bad(const char *doc, size_t len)
{
    struct ag_err e;
    json_t *v = NULL;
    int rc;
    ag_err_clear(&e);
    rc = json_parse(doc, len, &v, &e);
    if (rc != AG_EBADJSON)
        test_fail(__FILE__, __LINE__, "json_parse accepted (rc %d): %.*s", rc, (int)len, doc);
    ASSERT(v == NULL);
    ASSERT_EQ(e.code, AG_EBADJSON);
    ASSERT(e.msg[0] != '\0');
}

#define BAD(lit) check_bad(lit, sizeof(lit) - 1)

static json_t *parse_ok(const char *doc)
{
    struct ag_err e;
    json_t *v = NULL;
    int rc;
    ag_err_clear(&e);
    rc = json_parse(doc, strlen(doc), &v, &e);
    if (rc)
        test_fail(__FILE__, __LINE__, "json_parse rejected %s: %s", doc, e.msg);
    ASSERT(v != NULL);
    return v;
}

/* Builds `depth` nested arrays around `inner`. */
static char *nested(int depth, const char *inner)
{
    size_t n = (size_t)depth * 2 + strlen(inner) + 1;
    char *s = malloc(n), *p = s;
    ASSERT(s != NULL);
    for (int i = 0; i < depth; i++)
        *p++ = '[';
    memcpy(p, inner, strlen(inner));
    p += strlen(inner);
    for (int i = 0; i < depth; i++)
        *p++ = ']';
    *p = '\0';
    return s;
}

TEST(json_valid_documents)
{
    const char *docs[] = {
        "{}",
        "[]",
        " \t\r\n{ \"a\" : 1 } \n",
        "{\"s\":\"h\\u00e9llo \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\",\"n\":-0.5e+10,\"i\":-9223372036854775808}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"pair\":\"\\ud83d\\ude00\"}",
        "[null,true,false,0,1.5,\"x\",[],{}]",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}}}",
        "{\"max\":9223372036854775807}",
        "{\"\":\"empty key is a key\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
        json_decref(parse_ok(docs[i]));
}

TEST(json_values_come_through)
{
    json_t *v = parse_ok("{\"s\":\"caf\\u00e9\",\"n\":42,\"big\":-9223372036854775808,\"e\":\"\\ud83d\\ude00\"}");
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "s")), "caf\xc3\xa9");
    ASSERT_EQ(json_integer_value(json_object_get(v, "n")), 42);
    ASSERT(json_integer_value(json_object_get(v, "big")) == INT64_MIN);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "e")), "\xf0\x9f\x98\x80");
    json_decref(v);
}

TEST(json_rejects_duplicate_keys)
{
    BAD("{\"a\":1,\"a\":2}");
    BAD("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}");
    /* The same key spelled two ways is still the same key. */
    BAD("{\"a\":1,\"\\u0061\":2}");
}

TEST(json_rejects_trailing_garbage)
{
    BAD("{}x");
    BAD("{} {}");
    BAD("[]]");
    BAD("{\"a\":1}}");
    BAD("{}\0");
    BAD("[1] // comment");
}

TEST(json_rejects_malformed)
{
    BAD("");
    BAD("   ");
    check_bad(NULL, 0);
    BAD("{");
    BAD("[1,2");
    BAD("{\"a\"}");
    BAD("{a:1}");
    BAD("{'a':1}");
    BAD("[1,]");
    BAD("{\"a\":1,}");
    BAD("[NaN]");
    BAD("[Infinity]");
    BAD("[01]");
    BAD("[1.]");
    BAD("[.5]");
    BAD("[+1]");
    BAD("[\"\\x41\"]");
    BAD("[\"tab\there\"]");
    BAD("[\"nl\nhere\"]");
    BAD("[\"unterminated]");
    BAD("/* c */ {}");
    /* Integers that do not fit in 64 bits. */
    BAD("[9223372036854775808]");
    /* A real that overflows a double. */
    BAD("[1e400]");
    BAD("[-9223372036854775809]");
}

TEST(json_rejects_scalars_at_top_level)
{
    BAD("1");
    BAD("\"s\"");
    BAD("null");
    BAD("true");
}

TEST(json_rejects_invalid_utf8)
{
    BAD("{\"a\":\"\xff\"}");
    BAD("{\"a\":\"\xfe\xff\"}");
    BAD("{\"a\":\"\x80\"}");
    BAD("{\"a\":\"\xc3\"}");          /* truncated two-byte sequence */
    BAD("{\"a\":\"\xe2\x82\"}");      /* truncated three-byte sequence */
    BAD("{\"\xc3\x28\":1}");          /* bad continuation, in a key */
    BAD("[\"\xf5\x80\x80\x80\"]");    /* above U+10FFFF */
    BAD("[\"\xf4\x90\x80\x80\"]");    /* U+110000 */
}

TEST(json_rejects_overlong_utf8)
{
    BAD("[\"\xc0\xaf\"]");             /* '/' in two bytes */
    BAD("[\"\xc1\xbf\"]");
    BAD("[\"\xe0\x80\xaf\"]");         /* '/' in three bytes */
    BAD("[\"\xe0\x9f\xbf\"]");         /* U+07FF in three bytes */
    BAD("[\"\xf0\x80\x80\xaf\"]");     /* '/' in four bytes */
    BAD("[\"\xf0\x8f\xbf\xbf\"]");     /* U+FFFF in four bytes */
    BAD("[\"\xc0\x80\"]");             /* modified-UTF-8 NUL */
}

TEST(json_rejects_surrogates)
{
    BAD("[\"\xed\xa0\x80\"]");         /* U+D800 encoded directly */
    BAD("[\"\xed\xbf\xbf\"]");         /* U+DFFF */
    BAD("[\"\xed\xa0\xbd\xed\xb8\x80\"]"); /* CESU-8 pair */
    BAD("[\"\\ud800\"]");              /* lone high surrogate escape */
    BAD("[\"\\udc00\"]");              /* lone low surrogate escape */
    BAD("[\"\\ude00\\ud83d\"]");       /* pair in the wrong order */
    BAD("[\"\\ud83dx\"]");
}

TEST(json_rejects_nul)
{
    BAD("[\"a\\u0000b\"]");
    BAD("{\"a\\u0000\":1}");
    BAD("[\"a\0b\"]");
}

TEST(json_depth_limit)
{
    struct ag_err e;
    json_t *v = NULL;
    char *ok = nested(JSON_MAX_DEPTH, "1");
    char *ok_empty = nested(JSON_MAX_DEPTH, "");
    char *deep = nested(JSON_MAX_DEPTH + 1, "");
    char *very = nested(5000, "");

    json_decref(parse_ok(ok));
    json_decref(parse_ok(ok_empty));
    ASSERT_EQ(json_parse(deep, strlen(deep), &v, &e), AG_EBADJSON);
    ASSERT(strstr(e.msg, "32") != NULL);
    ASSERT_EQ(json_parse(very, strlen(very), &v, &e), AG_EBADJSON);
    ASSERT(v == NULL);
    free(ok);
    free(ok_empty);
    free(deep);
    free(very);
}

TEST(json_depth_counts_objects)
{
    struct buf b;
    json_t *v = NULL;
    struct ag_err e;
    buf_init(&b, 0);
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        ASSERT_OK(buf_adds(&b, "{\"k\":"));
    ASSERT_OK(buf_adds(&b, "1"));
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        ASSERT_OK(buf_addc(&b, '}'));
    json_decref(parse_ok(b.p));
    buf_reset(&b);
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        ASSERT_OK(buf_adds(&b, "{\"k\":"));
    ASSERT_OK(buf_adds(&b, "1"));
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        ASSERT_OK(buf_addc(&b, '}'));
    ASSERT_EQ(json_parse(b.p, b.n, &v, &e), AG_EBADJSON);
    buf_release(&b);
}

TEST(json_error_position)
{
    struct ag_err e;
    json_t *v = NULL;
    const char doc[] = "{\n  \"a\": tru\n}";
    ASSERT_EQ(json_parse(doc, strlen(doc), &v, &e), AG_EBADJSON);
    ASSERT(strstr(e.msg, "line 2") != NULL);
    /* A NULL error pointer is allowed. */
    ASSERT_EQ(json_parse(doc, strlen(doc), &v, NULL), AG_EBADJSON);
}

TEST(json_getters_read_members)
{
    json_t *o = parse_ok("{\"s\":\"str\",\"i\":-12,\"t\":true,\"f\":false,\"a\":[1],\"o\":{},\"z\":null}");
    struct ag_err e;
    const char *s = NULL;
    int64_t i = 0;
    bool t = false, f = true;
    json_t *a = NULL, *obj = NULL;

    ag_err_clear(&e);
    ASSERT_OK(json_get_str(o, "s", true, &s, &e));
    ASSERT_STR_EQ(s, "str");
    ASSERT_OK(json_get_int(o, "i", true, &i, &e));
    ASSERT_EQ(i, -12);
    ASSERT_OK(json_get_bool(o, "t", true, &t, &e));
    ASSERT_OK(json_get_bool(o, "f", true, &f, &e));
    ASSERT(t && !f);
    ASSERT_OK(json_get_array(o, "a", true, &a, &e));
    ASSERT_EQ(json_array_size(a), 1);
    ASSERT_OK(json_get_object(o, "o", true, &obj, &e));
    ASSERT(json_is_object(obj));
    ASSERT_EQ(e.code, 0);
    /* Getters do not take a reference: the refcount is unchanged. */
    ASSERT_EQ(a->refcount, 1);

    /* Optional and missing, or null: untouched, success. */
    s = "untouched";
    i = 77;
    ASSERT_OK(json_get_str(o, "missing", false, &s, &e));
    ASSERT_OK(json_get_str(o, "z", false, &s, &e));
    ASSERT_OK(json_get_int(o, "missing", false, &i, &e));
    ASSERT_STR_EQ(s, "untouched");
    ASSERT_EQ(i, 77);
    ASSERT_EQ(e.code, 0);
    json_decref(o);
}

/* A failing getter returns AG_EINVAL and names the field in e.field and e.msg. */
static void check_names_field(int rc, const struct ag_err *e, const char *field)
{
    ASSERT_EQ(rc, AG_EINVAL);
    ASSERT_EQ(e->code, AG_EINVAL);
    ASSERT_STR_EQ(e->field, field);
    ASSERT(strstr(e->msg, field) != NULL);
}

TEST(json_getters_type_errors_name_field)
{
    json_t *o = parse_ok("{\"s\":\"str\",\"i\":12,\"r\":1.5,\"t\":true,\"a\":[],\"o\":{},\"z\":null}");
    struct ag_err e;
    const char *s = "keep";
    int64_t i = 5;
    bool b = false;
    json_t *v = NULL;

    check_names_field(json_get_str(o, "i", true, &s, &e), &e, "i");
    check_names_field(json_get_str(o, "a", false, &s, &e), &e, "a");
    check_names_field(json_get_int(o, "s", true, &i, &e), &e, "s");
    check_names_field(json_get_int(o, "r", true, &i, &e), &e, "r");
    check_names_field(json_get_int(o, "t", true, &i, &e), &e, "t");
    check_names_field(json_get_bool(o, "i", true, &b, &e), &e, "i");
    check_names_field(json_get_bool(o, "s", true, &b, &e), &e, "s");
    check_names_field(json_get_array(o, "o", true, &v, &e), &e, "o");
    check_names_field(json_get_object(o, "a", true, &v, &e), &e, "a");
    /* Required and missing, or null. */
    check_names_field(json_get_str(o, "name", true, &s, &e), &e, "name");
    check_names_field(json_get_int(o, "z", true, &i, &e), &e, "z");
    check_names_field(json_get_object(o, "cfg", true, &v, &e), &e, "cfg");
    ASSERT_STR_EQ(s, "keep");
    ASSERT_EQ(i, 5);
    ASSERT(v == NULL);
    json_decref(o);
}

TEST(json_getters_on_non_object)
{
    json_t *arr = parse_ok("[1,2]");
    struct ag_err e;
    const char *s = NULL;
    check_names_field(json_get_str(arr, "x", true, &s, &e), &e, "x");
    ASSERT_OK(json_get_str(arr, "x", false, &s, &e));
    ASSERT_OK(json_get_str(NULL, "x", false, &s, NULL));
    json_decref(arr);
}

TEST(json_get_str_rejects_embedded_nul)
{
    /* Strict parsing never yields one, but built values can hold a NUL. */
    json_t *o = json_object();
    struct ag_err e;
    const char *s = NULL;
    json_object_set_new(o, "k", json_stringn("a\0b", 3));
    check_names_field(json_get_str(o, "k", true, &s, &e), &e, "k");
    ASSERT(s == NULL);
    json_decref(o);
}

TEST(json_check_keys)
{
    static const char *const allowed[] = {"name", "price", "tags", NULL};
    static const char *const none[] = {NULL};
    json_t *good = parse_ok("{\"name\":\"m\",\"tags\":[]}");
    json_t *typo = parse_ok("{\"name\":\"m\",\"prise\":3}");
    json_t *empty = parse_ok("{}");
    json_t *arr = parse_ok("[]");
    struct ag_err e;

    ASSERT_OK(json_check_keys(good, allowed, &e));
    ASSERT_OK(json_check_keys(empty, allowed, &e));
    ASSERT_OK(json_check_keys(empty, none, &e));
    check_names_field(json_check_keys(typo, allowed, &e), &e, "prise");
    check_names_field(json_check_keys(good, none, &e), &e, "name");
    ASSERT_EQ(json_check_keys(arr, allowed, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "object") != NULL);
    json_decref(good);
    json_decref(typo);
    json_decref(empty);
    json_decref(arr);
}

TEST(json_dump_buf)
{
    json_t *v = parse_ok("{ \"a\" : [1, 2, {\"b\": \"caf\\u00e9\"}], \"n\": null }");
    struct buf b;
    buf_init(&b, 0);
    ASSERT_OK(buf_adds(&b, ">"));
    ASSERT_OK(json_dump_buf(&b, v));
    ASSERT_STR_EQ(b.p, ">{\"a\":[1,2,{\"b\":\"caf\xc3\xa9\"}],\"n\":null}");
    buf_release(&b);

    /* Past the cap: AG_ETOOBIG, and what was there before is kept. */
    buf_init(&b, 10);
    ASSERT_OK(buf_adds(&b, "pre"));
    ASSERT_EQ(json_dump_buf(&b, v), AG_ETOOBIG);
    ASSERT_STR_EQ(b.p, "pre");
    ASSERT_EQ(b.n, 3);
    buf_release(&b);
    json_decref(v);

    /* Scalars serialize too. */
    buf_init(&b, 0);
    v = json_integer(-5);
    ASSERT_OK(json_dump_buf(&b, v));
    ASSERT_STR_EQ(b.p, "-5");
    json_decref(v);
    buf_release(&b);
}

TEST(json_str_or_null)
{
    json_t *s = json_str_or_null("x"), *n = json_str_or_null(NULL);
    ASSERT(json_is_string(s));
    ASSERT_STR_EQ(json_string_value(s), "x");
    ASSERT(json_is_null(n));
    json_decref(s);
    json_decref(n);
}

/* json_quote_buf() writes strings exactly as jansson's dump does, so answers
 * assembled by hand read the same as dumped ones. */
TEST(json_quote_matches_jansson)
{
    static const char *const cases[] = {
        "", "plain", "quote \" and backslash \\", "tab\tnew\nline\rcr\bbs\fff", "slash / stays",
        "\x01\x02\x1f\x7f", "Über 模型 🙂", "end\\",
    };
    char all[32];

    for (int c = 1; c < 32; c++)
        all[c - 1] = (char)c;
    all[31] = '\0';
    for (size_t i = 0; i <= ARRAY_SIZE(cases); i++) {
        const char *s = i < ARRAY_SIZE(cases) ? cases[i] : all;
        json_t *v = json_string(s);
        char *want = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        struct buf b;
        buf_init(&b, 1024);
        ASSERT_OK(json_quote_buf(&b, s));
        ASSERT_STR_EQ(b.p, want);
        buf_release(&b);
        free(want);
        json_decref(v);
    }
}
