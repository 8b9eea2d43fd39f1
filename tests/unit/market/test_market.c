/* test_market.c - the domain rules over a real SQLite store in a temp dir. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "market/market.h"
#include "test.h"

#include <sodium.h>

static struct store *store;
static struct market m;

static void setup(void)
{
    char path[512];
    struct market_config cfg = {.pwhash = PWHASH_MIN};
    ASSERT(sodium_init() >= 0);
    snprintf(path, sizeof(path), "%s/agora.db", test_tmpdir());
    ASSERT_OK(store_open(path, &store, NULL));
    market_init(&m, store, &cfg);
}

static void teardown(void)
{
    store_close(store);
    store = NULL;
}

/* Registers `name` and logs in with an API token; fills *p. */
static void user(const char *name, struct principal *p)
{
    char email[80];
    struct login_result lr;
    json_t *u = NULL;
    snprintf(email, sizeof(email), "%s@example.org", name);
    ASSERT_OK(market_register(&m, name, email, "correct horse battery", false, &u, NULL));
    json_decref(u);
    ASSERT_OK(market_login(&m, name, "correct horse battery", "10.0.0.1", "test", &lr, NULL));
    ASSERT_OK(market_authenticate(&m, lr.secret, false, p, NULL));
    json_decref(lr.user);
}

static json_t *create(const struct principal *p, const char *slug, const char *visibility,
                      const char *price)
{
    struct model_input in = {.slug = slug, .title = "A model", .visibility = visibility,
                             .price = price};
    json_t *out = NULL;
    ASSERT_OK(market_model_create(&m, p, &in, &out, NULL));
    return out;
}

TEST(register_validates_and_rejects_duplicates)
{
    struct ag_err e = {0};
    json_t *u = NULL;
    setup();
    ASSERT_EQ(market_register(&m, "Al", "a@b.org", "long enough pw", false, &u, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "username");
    ASSERT_EQ(market_register(&m, "alice", "nope", "long enough pw", false, &u, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "email");
    ASSERT_EQ(market_register(&m, "alice", "a@b.org", "short", false, &u, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "password");
    ASSERT_OK(market_register(&m, "alice", "a@b.org", "long enough pw", false, &u, &e));
    ASSERT_STR_EQ(json_string_value(json_object_get(u, "username")), "alice");
    ASSERT(!json_object_get(u, "pw_hash"));
    json_decref(u);
    ASSERT_EQ(market_register(&m, "alice", "c@d.org", "long enough pw", false, &u, &e),
              AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "username");
    ASSERT_EQ(market_register(&m, "bob", "A@B.org", "long enough pw", false, &u, &e), AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "email");
    teardown();
}

TEST(login_sessions_tokens_and_throttle)
{
    struct login_result lr;
    struct principal p;
    struct ag_err e = {0};
    json_t *u = NULL, *list = NULL;
    setup();
    ASSERT_OK(market_register(&m, "carol", "carol@x.org", "long enough pw", false, &u, NULL));
    json_decref(u);
    /* A session: the cookie secret authenticates as a session with a CSRF token. */
    ASSERT_OK(market_login(&m, "carol@x.org", "long enough pw", "1.2.3.4", NULL, &lr, NULL));
    ASSERT_OK(market_authenticate(&m, lr.secret, true, &p, NULL));
    ASSERT(p.via_session);
    ASSERT_STR_EQ(p.csrf, lr.csrf);
    ASSERT_EQ(market_authenticate(&m, lr.secret, false, &p, NULL), AG_EUNAUTH);
    ASSERT_OK(market_logout_session(&m, lr.secret, NULL));
    ASSERT_EQ(market_authenticate(&m, lr.secret, true, &p, NULL), AG_EUNAUTH);
    json_decref(lr.user);
    /* An API token, listed by prefix only, revocable. */
    ASSERT_OK(market_login(&m, "carol", "long enough pw", "1.2.3.4", "cli", &lr, NULL));
    ASSERT(str_starts(lr.secret, TOKEN_PREFIX));
    ASSERT_OK(market_authenticate(&m, lr.secret, false, &p, NULL));
    ASSERT_OK(market_token_list(&m, &p, &list, NULL));
    ASSERT_EQ(json_array_size(list), 1);
    ASSERT(!json_object_get(json_array_get(list, 0), "token"));
    json_decref(list);
    ASSERT_OK(market_token_revoke_secret(&m, &p, lr.secret, NULL));
    ASSERT_EQ(market_authenticate(&m, lr.secret, false, &p, NULL), AG_EUNAUTH);
    json_decref(lr.user);
    /* Wrong passwords: the same error for unknown users; then a lock with Retry-After. */
    ASSERT_EQ(market_login(&m, "nobody", "long enough pw", "1.2.3.4", NULL, &lr, &e), AG_EUNAUTH);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(market_login(&m, "carol", "wrong password", "5.6.7.8", NULL, &lr, &e),
                  AG_EUNAUTH);
    ASSERT_EQ(market_login(&m, "carol", "long enough pw", "5.6.7.8", NULL, &lr, &e),
              AG_ERATELIMIT);
    ASSERT(e.retry_after > 0);
    teardown();
}

TEST(access_policy_for_listings)
{
    struct principal alice, bob;
    struct ag_err e = {0};
    struct model_input edit = {.title = "Changed"};
    json_t *out = NULL;
    setup();
    user("alice", &alice);
    user("bob", &bob);
    json_decref(create(&alice, "pub", "public", "0"));
    json_decref(create(&alice, "priv", "private", "0"));
    json_decref(create(&alice, "dft", "draft", "0"));
    ASSERT_OK(market_model_get(&m, NULL, "alice", "pub", &out, NULL));
    json_decref(out);
    ASSERT_EQ(market_model_get(&m, NULL, "alice", "priv", &out, &e), AG_ENOTFOUND);
    ASSERT_EQ(market_model_get(&m, &bob, "alice", "dft", &out, &e), AG_ENOTFOUND);
    ASSERT_OK(market_model_get(&m, &alice, "alice", "priv", &out, NULL));
    json_decref(out);
    ASSERT_EQ(market_model_update(&m, &bob, "alice", "pub", &edit, &out, &e), AG_EFORBIDDEN);
    ASSERT_EQ(market_model_update(&m, &bob, "alice", "priv", &edit, &out, &e), AG_ENOTFOUND);
    ASSERT_EQ(market_model_delete(&m, &bob, "alice", "pub", &e), AG_EFORBIDDEN);
    ASSERT_OK(market_model_update(&m, &alice, "alice", "pub", &edit, &out, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(out, "title")), "Changed");
    json_decref(out);
    ASSERT_EQ(market_model_create(&m, &alice,
                                  &(struct model_input){.slug = "pub", .title = "dup"}, &out, &e),
              AG_EEXISTS);
    ASSERT_OK(market_model_delete(&m, &alice, "alice", "pub", NULL));
    ASSERT_EQ(market_model_get(&m, NULL, "alice", "pub", &out, &e), AG_ENOTFOUND);
    teardown();
}

TEST(card_front_matter_fills_fields_and_explicit_fields_win)
{
    struct principal p;
    struct model_input in = {.slug = "r50", .title = "ResNet-50",
                             .card = "---\ntask: image-classification\nlicense: MIT\n"
                                     "tags: [Vision, resnet, vision]\n---\n# ResNet\n",
                             .license = "apache-2.0"};
    json_t *out = NULL;
    setup();
    user("dave", &p);
    ASSERT_OK(market_model_create(&m, &p, &in, &out, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(out, "task")), "image-classification");
    ASSERT_STR_EQ(json_string_value(json_object_get(out, "license")), "apache-2.0");
    ASSERT_EQ(json_array_size(json_object_get(out, "tags")), 2); /* lowercased, deduplicated */
    json_decref(out);
    teardown();
}

TEST(versions_drafts_publish_and_latest)
{
    struct principal p, q;
    struct ag_err e = {0};
    json_t *out = NULL, *files = json_loads("[{\"name\":\"model.onnx\",\"size\":1234}]", 0, NULL);
    static const char *const vs[] = {"1.0.0", "1.10.0", "1.9.0", "2.0.0-beta.1"};
    setup();
    user("erin", &p);
    user("frank", &q);
    json_decref(create(&p, "m", "public", "0"));
    for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
        struct version_input in = {.version = vs[i], .files = files, .publish = i != 3};
        ASSERT_OK(market_version_create(&m, &p, "erin", "m", &in, &out, NULL));
        json_decref(out);
    }
    ASSERT_OK(market_version_get(&m, NULL, "erin", "m", "latest", &out, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(out, "version")), "1.10.0");
    ASSERT_EQ(json_array_size(json_object_get(out, "files")), 1);
    json_decref(out);
    /* Drafts: invisible to others, editable by the owner, immutable once published. */
    ASSERT_EQ(market_version_get(&m, &q, "erin", "m", "2.0.0-beta.1", &out, &e), AG_ENOTFOUND);
    ASSERT_OK(market_version_list(&m, &q, "erin", "m", &out, NULL));
    ASSERT_EQ(json_array_size(out), 3);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(out, 0), "version")), "1.10.0");
    json_decref(out);
    ASSERT_OK(market_version_list(&m, &p, "erin", "m", &out, NULL));
    ASSERT_EQ(json_array_size(out), 4);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(out, 0), "version")),
                  "2.0.0-beta.1");
    json_decref(out);
    {
        struct version_input edit = {.changelog = "more"};
        ASSERT_EQ(market_version_update(&m, &p, "erin", "m", "1.0.0", &edit, &out, &e),
                  AG_ECONFLICT);
        ASSERT_OK(market_version_update(&m, &p, "erin", "m", "2.0.0-beta.1", &edit, &out, NULL));
        json_decref(out);
        ASSERT_EQ(market_version_create(&m, &q, "erin", "m",
                                        &(struct version_input){.version = "3.0.0"}, &out, &e),
                  AG_EFORBIDDEN);
        ASSERT_EQ(market_version_create(&m, &p, "erin", "m",
                                        &(struct version_input){.version = "1.0"}, &out, &e),
                  AG_EINVAL);
        ASSERT_EQ(market_version_create(&m, &p, "erin", "m",
                                        &(struct version_input){.version = "1.0.0"}, &out, &e),
                  AG_EEXISTS);
    }
    ASSERT_OK(market_version_publish(&m, &p, "erin", "m", "2.0.0-beta.1", &out, NULL));
    json_decref(out);
    ASSERT_OK(market_version_get(&m, NULL, "erin", "m", "latest", &out, NULL));
    ASSERT_STR_EQ(json_string_value(json_object_get(out, "version")), "2.0.0-beta.1");
    json_decref(out);
    json_decref(files);
    teardown();
}

TEST(bad_file_names_write_nothing)
{
    struct principal p;
    struct ag_err e = {0};
    json_t *out = NULL;
    json_t *files = json_loads("[{\"name\":\"ok.bin\",\"size\":1},{\"name\":\"../x\",\"size\":1}]",
                               0, NULL);
    setup();
    user("gina", &p);
    json_decref(create(&p, "m", "public", "0"));
    ASSERT_EQ(market_version_create(&m, &p, "gina", "m",
                                    &(struct version_input){.version = "1.0.0", .files = files},
                                    &out, &e),
              AG_EINVAL);
    ASSERT_STR_EQ(e.field, "files");
    ASSERT_OK(market_version_list(&m, &p, "gina", "m", &out, NULL));
    ASSERT_EQ(json_array_size(out), 0);
    json_decref(out);
    json_decref(files);
    teardown();
}

/* search() runs market_search() and parses the JSON text it writes. */
static int search(const struct search_params *sp, json_t **out, struct ag_err *e)
{
    struct buf b;
    int rc;

    buf_init(&b, BUF_MAX_DEFAULT);
    rc = market_search(&m, NULL, sp, &b, e);
    if (!rc) {
        *out = json_loadb(b.p, b.n, 0, NULL);
        ASSERT(*out != NULL);
    }
    buf_release(&b);
    return rc;
}

TEST(search_prefix_filters_cursor_and_facets)
{
    struct principal p;
    struct search_params sp = {0};
    json_t *out = NULL;
    char slug[32];
    int seen = 0;
    const char *cursor = NULL;
    char saved[512];
    setup();
    user("hank", &p);
    for (int i = 0; i < 25; i++) {
        struct model_input in = {.slug = slug, .title = i % 2 ? "ResNet classifier" : "BERT tagger",
                                 .task = i % 2 ? "image-classification" : "token-classification",
                                 .license = "mit", .price = i % 3 ? "0" : "1000"};
        snprintf(slug, sizeof(slug), "m%02d", i);
        ASSERT_OK(market_model_create(&m, &p, &in, &out, NULL));
        json_decref(out);
    }
    sp.q = "resn";
    ASSERT_OK(search(&sp, &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "total")), 12);
    ASSERT_EQ(json_integer_value(json_object_get(
                  json_object_get(json_object_get(out, "facets"), "task"), "image-classification")),
              12);
    json_decref(out);
    memset(&sp, 0, sizeof(sp));
    sp.free_only = true;
    ASSERT_OK(search(&sp, &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "total")), 16);
    json_decref(out);
    /* Page through everything 10 at a time: 25 distinct items, then no cursor. */
    memset(&sp, 0, sizeof(sp));
    sp.limit = 10;
    sp.sort = "price_desc";
    do {
        json_t *items;
        sp.cursor = cursor;
        ASSERT_OK(search(&sp, &out, NULL));
        items = json_object_get(out, "items");
        seen += (int)json_array_size(items);
        cursor = json_string_value(json_object_get(out, "next_cursor"));
        if (cursor) {
            str_copy(saved, cursor, sizeof(saved));
            cursor = saved;
        }
        json_decref(out);
    } while (cursor);
    ASSERT_EQ(seen, 25);
    /* A cursor from another sort order is refused. */
    {
        struct ag_err e = {0};
        sp.sort = "newest";
        sp.cursor = saved;
        ASSERT_EQ(search(&sp, &out, &e), AG_EINVAL);
        ASSERT_STR_EQ(e.field, "cursor");
    }
    teardown();
}

TEST(likes_reviews_and_reputation)
{
    struct principal owner, fan;
    struct ag_err e = {0};
    json_t *out = NULL;
    setup();
    user("ivan", &owner);
    user("judy", &fan);
    json_decref(create(&owner, "m", "public", "0"));
    ASSERT_OK(market_like(&m, &fan, "ivan", "m", true, &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "likes")), 1);
    json_decref(out);
    ASSERT_OK(market_like(&m, &fan, "ivan", "m", true, &out, NULL)); /* idempotent */
    ASSERT_EQ(json_integer_value(json_object_get(out, "likes")), 1);
    json_decref(out);
    ASSERT_EQ(market_review_put(&m, &owner, "ivan", "m", 5, "mine", &out, &e), AG_EFORBIDDEN);
    ASSERT_EQ(market_review_put(&m, &fan, "ivan", "m", 6, "", &out, &e), AG_EINVAL);
    ASSERT_OK(market_review_put(&m, &fan, "ivan", "m", 2, "meh", &out, NULL));
    json_decref(out);
    ASSERT_OK(market_review_put(&m, &fan, "ivan", "m", 4, "better now", &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "rating")), 4);
    ASSERT(json_is_false(json_object_get(out, "verified")));
    json_decref(out);
    ASSERT_OK(market_model_get(&m, NULL, "ivan", "m", &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "rating_count")), 1);
    ASSERT(json_real_value(json_object_get(out, "rating")) == 4.0);
    json_decref(out);
    ASSERT_OK(market_user_get(&m, NULL, "ivan", &out, NULL));
    ASSERT(!json_object_get(out, "email"));
    ASSERT(json_real_value(json_object_get(json_object_get(out, "reputation"), "score")) >
           market_reputation(0, 0, 0, 0));
    json_decref(out);
    teardown();
}

TEST(downloads_count_once_per_file_per_user_per_day)
{
    struct principal p;
    json_t *out = NULL, *files = json_loads("[{\"name\":\"a.onnx\",\"size\":1},"
                                            "{\"name\":\"b.onnx\",\"size\":2}]", 0, NULL);
    int64_t fa, fb;
    setup();
    user("kim", &p);
    json_decref(create(&p, "m", "public", "0"));
    ASSERT_OK(market_version_create(&m, &p, "kim", "m",
                                    &(struct version_input){.version = "1.0.0", .files = files,
                                                            .publish = true},
                                    &out, NULL));
    fa = json_integer_value(json_object_get(json_array_get(json_object_get(out, "files"), 0), "id"));
    fb = json_integer_value(json_object_get(json_array_get(json_object_get(out, "files"), 1), "id"));
    json_decref(out);
    ASSERT_OK(market_download_record(&m, fa, "user:7", NULL));
    ASSERT_OK(market_download_record(&m, fa, "user:7", NULL)); /* same file, user, day */
    ASSERT_OK(market_download_record(&m, fb, "user:7", NULL)); /* another file */
    ASSERT_OK(market_download_record(&m, fa, "ip:10.0.0.9", NULL)); /* another downloader */
    ASSERT_OK(market_model_get(&m, NULL, "kim", "m", &out, NULL));
    ASSERT_EQ(json_integer_value(json_object_get(out, "downloads")), 3);
    json_decref(out);
    json_decref(files);
    teardown();
}

TEST(siwe_origins_normalized_and_matched)
{
    struct market o;
    struct ag_err e = {0};
    market_init(&o, NULL, NULL);
    /* until set, SIWE is unavailable, never open to any domain */
    ASSERT_EQ(market_siwe_origin_check(&o, "a.example", "https://a.example", NULL, &e),
              AG_EUNAVAILABLE);
    ASSERT_EQ(market_set_origins(&o, "a.example", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, "https://a.example/app", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, "https://user@a.example", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, "ftp://a.example", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, "http://a.example:0", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, "http://a.example:65536", &e), AG_EINVAL);
    ASSERT_EQ(market_set_origins(&o, " , ", &e), AG_EINVAL);
    ASSERT_OK(market_set_origins(&o, "HTTPS://Agora.Example:443/, http://127.0.0.1:8080,"
                                     "http://[::1]:8080", &e));
    ASSERT_EQ(market_set_origins(&o, "https://b.example", &e), AG_EEXISTS);
    ASSERT_STR_EQ(o.origins[0].authority, "agora.example");
    ASSERT_OK(market_siwe_origin_check(&o, "agora.example", "https://agora.example", NULL, &e));
    ASSERT_OK(market_siwe_origin_check(&o, "AGORA.example", "https://agora.example/login?x#y",
                                       "https", &e));
    ASSERT_OK(market_siwe_origin_check(&o, "127.0.0.1:8080", "http://127.0.0.1:8080/", NULL, &e));
    ASSERT_OK(market_siwe_origin_check(&o, "[::1]:8080", "http://[::1]:8080", NULL, &e));
    /* another domain, or the right domain with a URI elsewhere, or the wrong scheme */
    ASSERT_EQ(market_siwe_origin_check(&o, "evil.example", "https://agora.example", NULL, &e),
              AG_EUNAUTH);
    ASSERT_STR_EQ(e.field, "domain");
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example.evil", "https://agora.example.evil",
                                       NULL, &e), AG_EUNAUTH);
    ASSERT_EQ(market_siwe_origin_check(&o, "127.0.0.1:8081", "http://127.0.0.1:8081", NULL, &e),
              AG_EUNAUTH);
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example", "https://evil.example", NULL, &e),
              AG_EUNAUTH);
    ASSERT_STR_EQ(e.field, "uri");
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example", "https://agora.example.evil/",
                                       NULL, &e), AG_EUNAUTH);
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example", "http://agora.example", NULL, &e),
              AG_EUNAUTH);
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example", "https://agora.example", "http", &e),
              AG_EUNAUTH);
    ASSERT_EQ(market_siwe_origin_check(&o, "agora.example", "https://agora.example@evil.example",
                                       NULL, &e), AG_EUNAUTH);
    market_release(&o);
}
