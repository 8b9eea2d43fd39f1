/* test_store.c - unit tests of the SQLite store: open, migrations, accounts, models, social. */
#include "core/common.h"
#include "core/embed.h"
#include "core/util.h"

#include <pthread.h>

#include "fixture.h"

/* ---- open and migrations ---------------------------------------------------- */

extern const struct embedded_file store_migrations[];

/* The version of the newest migration compiled in: NNNN of its file name. */
static int latest_migration(void)
{
    int n = 0;
    while (store_migrations[n].name)
        n++;
    return n ? atoi(store_migrations[n - 1].name) : 0;
}

TEST(open_applies_migrations_once)
{
    struct store *s = fx_open();
    int version = 0;
    int64_t n = 0;

    ASSERT_OK(store_health(s, &version, NULL));
    ASSERT_EQ(version, latest_migration());
    fx_user(s, "alice");
    store_close(s);
    ASSERT_EQ(fx_count("SELECT count(*) FROM schema_migrations"), latest_migration());
    ASSERT_EQ(fx_count("SELECT max(version) FROM schema_migrations"), latest_migration());

    s = fx_open();
    ASSERT_OK(store_health(s, &version, NULL));
    ASSERT_EQ(version, latest_migration());
    ASSERT_OK(store_user_count(s, &n, NULL));
    ASSERT_EQ(n, 1);
    store_close(s);
    ASSERT_EQ(fx_count("SELECT count(*) FROM schema_migrations"), latest_migration());
    ASSERT_EQ(fx_count("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    ASSERT_EQ(fx_count("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"),
              1);
}

TEST(open_refuses_newer_schema)
{
    struct store *s = fx_open();
    struct ag_err e = {0};

    store_close(s);
    ASSERT_EQ(fx_sql("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)"),
              SQLITE_OK);
    s = NULL;
    ASSERT_EQ(store_open(fx_path(), &s, &e), AG_EUNPROCESSABLE);
    ASSERT(s == NULL);
    ASSERT(strstr(e.msg, "newer") != NULL);
}

TEST(open_bad_paths)
{
    struct store *s = NULL;
    struct ag_err e = {0};
    char path[600];

    ASSERT_EQ(store_open(":memory:", &s, &e), AG_EINVAL);
    ASSERT_EQ(store_open("", &s, &e), AG_EINVAL);
    snprintf(path, sizeof(path), "%s/no/such/dir/agora.db", test_tmpdir());
    ASSERT_EQ(store_open(path, &s, &e), AG_EDB);
    ASSERT(e.msg[0] != '\0');
    ASSERT(s == NULL);
}

TEST(open_rejects_a_file_that_is_not_a_database)
{
    struct store *s = NULL;
    struct ag_err e = {0};
    FILE *f = fopen(fx_path(), "w");

    ASSERT(f != NULL);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, just text\n", f);
    fclose(f);
    ASSERT_EQ(store_open(fx_path(), &s, &e), AG_EDB);
    ASSERT(s == NULL);
    ASSERT(strstr(e.msg, "not a database") != NULL);
}

/* Two stores opening one new file at once: the migration runs exactly once.
 * The path is made before the threads start (fx_path() fills a static). */
static char concurrent_path[512];

static void *open_concurrently(void *arg)
{
    struct store *s = NULL;
    struct ag_err e = {0};
    int *rc = arg;

    *rc = store_open(concurrent_path, &s, &e);
    if (*rc)
        fprintf(stderr, "store_open: %s (field %s)\n", e.msg, e.field);
    else
        store_close(s);
    return NULL;
}

TEST(open_concurrently_migrates_once)
{
    pthread_t t[4];
    int rc[4];

    str_copy(concurrent_path, fx_path(), sizeof(concurrent_path));
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, open_concurrently, &rc[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ASSERT_OK(rc[i]);
    }
    /* Each migration applied exactly once. */
    ASSERT_EQ(fx_count("SELECT count(*) FROM schema_migrations"), latest_migration());
    ASSERT_EQ(fx_count("SELECT count(DISTINCT version) FROM schema_migrations"), latest_migration());
}

/* ---- users ------------------------------------------------------------------ */

TEST(user_insert_unique_fields)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    int64_t id = 0, n = 0;

    ASSERT_OK(store_user_insert(s, "alice", "Alice@Example.com", "h", NULL, 10, &id, &e));
    ASSERT(id > 0);
    ASSERT_EQ(store_user_insert(s, "alice", "other@example.com", "h", "user", 10, NULL, &e),
              AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "username");
    ASSERT_EQ(store_user_insert(s, "bob", "alice@EXAMPLE.com", "h", "user", 10, NULL, &e),
              AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "email");
    ASSERT_EQ(store_user_insert(s, "carol", "c@example.com", "h", "root", 10, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "role");
    ASSERT_EQ(store_user_insert(s, "dave", NULL, "h", "user", 10, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "email");
    ASSERT_OK(store_user_count(s, &n, NULL));
    ASSERT_EQ(n, 1);
    store_close(s);
}

TEST(user_auth_by_name_or_email)
{
    struct store *s = fx_open();
    struct user_auth u;
    struct ag_err e = {0};
    int64_t id = 0;

    ASSERT_OK(store_user_insert(s, "alice", "alice@example.com", "$argon2id$v=19$abc", "admin", 10,
                                &id, NULL));
    ASSERT_OK(store_user_auth(s, "alice", &u, NULL));
    ASSERT_EQ(u.id, id);
    ASSERT_STR_EQ(u.username, "alice");
    ASSERT_STR_EQ(u.role, "admin");
    ASSERT_STR_EQ(u.pw_hash, "$argon2id$v=19$abc");
    memset(&u, 0, sizeof(u));
    ASSERT_OK(store_user_auth(s, "ALICE@example.COM", &u, NULL));
    ASSERT_EQ(u.id, id);
    ASSERT_EQ(store_user_auth(s, "Alice", &u, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_user_auth(s, "nobody@example.com", &u, &e), AG_ENOTFOUND);

    ASSERT_OK(store_user_set_password(s, id, "$argon2id$new", NULL));
    ASSERT_OK(store_user_auth(s, "alice", &u, NULL));
    ASSERT_STR_EQ(u.pw_hash, "$argon2id$new");
    ASSERT_EQ(store_user_set_password(s, id + 100, "x", &e), AG_ENOTFOUND);
    store_close(s);
}

TEST(user_get_update_role)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    json_t *u = NULL;
    int64_t id = fx_user(s, "alice");

    ASSERT_OK(store_user_get(s, "alice", &u, NULL));
    ASSERT_EQ(fx_int(u, "id"), id);
    ASSERT_STR_EQ(fx_str(u, "username"), "alice");
    ASSERT_STR_EQ(fx_str(u, "email"), "alice@example.com");
    ASSERT_STR_EQ(fx_str(u, "role"), "user");
    ASSERT_STR_EQ(fx_str(u, "display_name"), "");
    ASSERT(json_is_array(json_object_get(u, "links")));
    ASSERT_EQ(json_array_size(json_object_get(u, "links")), 0);
    ASSERT_EQ(fx_int(u, "created_at"), 1000);
    ASSERT(json_object_get(u, "pw_hash") == NULL);
    json_decref(u);

    ASSERT_OK(store_user_update(s, id, "Alice A.", NULL, "[\"https://a.example\"]", 2000, NULL));
    ASSERT_OK(store_user_update(s, id, NULL, "I build models", NULL, 3000, NULL));
    ASSERT_OK(store_user_get(s, "alice", &u, NULL));
    ASSERT_STR_EQ(fx_str(u, "display_name"), "Alice A.");
    ASSERT_STR_EQ(fx_str(u, "bio"), "I build models");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(u, "links"), 0)),
                  "https://a.example");
    ASSERT_EQ(fx_int(u, "updated_at"), 3000);
    json_decref(u);

    ASSERT_EQ(store_user_update(s, id, NULL, NULL, "{\"a\":1}", 4000, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "links");
    ASSERT_EQ(store_user_update(s, id + 9, "x", NULL, NULL, 4000, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_user_get(s, "bob", &u, &e), AG_ENOTFOUND);

    ASSERT_OK(store_user_set_role(s, id, "admin", NULL));
    ASSERT_OK(store_user_get(s, "alice", &u, NULL));
    ASSERT_STR_EQ(fx_str(u, "role"), "admin");
    json_decref(u);
    ASSERT_EQ(store_user_set_role(s, id, "superuser", &e), AG_EINVAL);
    ASSERT_EQ(store_user_set_role(s, id + 9, "user", &e), AG_ENOTFOUND);
    store_close(s);
}

TEST(seller_stats_public_only)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    json_t *st = NULL;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), m1, m2, m3 = 0;
    int64_t likes = 0;

    m1 = fx_model(s, a, "one", "One", NULL, NULL, 10);
    m2 = fx_model(s, a, "two", "Two", NULL, NULL, 11);
    f.slug = "three";
    f.title = "Three";
    f.visibility = "private";
    ASSERT_OK(store_model_insert(s, a, &f, 12, &m3, NULL));
    ASSERT_OK(store_like_set(s, b, m1, true, 20, &likes, NULL));
    ASSERT_OK(store_like_set(s, b, m3, true, 20, &likes, NULL));
    ASSERT_OK(store_review_put(s, m1, b, 4, "good", false, 30, NULL, NULL));
    ASSERT_OK(store_review_put(s, m2, b, 2, "meh", false, 30, NULL, NULL));
    ASSERT_OK(store_review_put(s, m3, b, 5, "hidden", false, 30, NULL, NULL));

    ASSERT_OK(store_seller_stats(s, a, &st, NULL));
    ASSERT_EQ(fx_int(st, "models"), 2);
    ASSERT_EQ(fx_int(st, "likes"), 1);
    ASSERT_EQ(fx_int(st, "downloads"), 0);
    ASSERT_EQ(fx_int(st, "rating_sum"), 6);
    ASSERT_EQ(fx_int(st, "rating_count"), 2);
    json_decref(st);
    ASSERT_OK(store_seller_stats(s, b, &st, NULL));
    ASSERT_EQ(fx_int(st, "models"), 0);
    ASSERT_EQ(fx_int(st, "rating_sum"), 0);
    json_decref(st);
    ASSERT_EQ(store_seller_stats(s, b + 50, &st, NULL), AG_ENOTFOUND);
    store_close(s);
}

/* ---- sessions, tokens, throttle ---------------------------------------------- */

TEST(sessions)
{
    struct store *s = fx_open();
    struct principal p;
    struct ag_err e = {0};
    int64_t id = fx_user(s, "alice");

    ASSERT_OK(store_session_insert(s, id, "hash-1", "csrf-1", 100, 200, NULL));
    ASSERT_EQ(store_session_insert(s, id, "hash-1", "csrf-2", 100, 200, &e), AG_EEXISTS);
    ASSERT_EQ(store_session_insert(s, id + 5, "hash-2", "csrf-2", 100, 200, &e), AG_ENOTFOUND);
    ASSERT_OK(store_principal_by_session(s, "hash-1", 150, &p, NULL));
    ASSERT_EQ(p.user_id, id);
    ASSERT_STR_EQ(p.username, "alice");
    ASSERT_STR_EQ(p.role, "user");
    ASSERT_STR_EQ(p.csrf, "csrf-1");
    ASSERT(p.via_session);
    ASSERT_EQ(store_principal_by_session(s, "hash-1", 200, &p, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_principal_by_session(s, "hash-x", 150, &p, &e), AG_ENOTFOUND);
    ASSERT_OK(store_session_delete(s, "hash-1", NULL));
    ASSERT_EQ(store_principal_by_session(s, "hash-1", 150, &p, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_session_delete(s, "hash-1", &e), AG_ENOTFOUND);
    store_close(s);
}

TEST(api_tokens)
{
    struct store *s = fx_open();
    struct principal p;
    struct ag_err e = {0};
    json_t *list = NULL, *t;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), t1 = 0, t2 = 0;

    ASSERT_OK(store_token_insert(s, a, "ci", "agr_ab12", "th-1", 100, &t1, NULL));
    ASSERT_OK(store_token_insert(s, a, "laptop", "agr_cd34", "th-2", 101, &t2, NULL));
    ASSERT(t1 > 0 && t2 > t1);
    ASSERT_EQ(store_token_insert(s, b, "dup", "agr_x", "th-1", 102, NULL, &e), AG_EEXISTS);

    ASSERT_OK(store_principal_by_token(s, "th-1", 500, &p, NULL));
    ASSERT_EQ(p.user_id, a);
    ASSERT_STR_EQ(p.username, "alice");
    ASSERT_STR_EQ(p.csrf, "");
    ASSERT(!p.via_session);

    ASSERT_OK(store_token_list(s, a, &list, NULL));
    ASSERT_EQ(json_array_size(list), 2);
    t = json_array_get(list, 0);
    ASSERT_EQ(fx_int(t, "id"), t1);
    ASSERT_STR_EQ(fx_str(t, "name"), "ci");
    ASSERT_STR_EQ(fx_str(t, "prefix"), "agr_ab12");
    ASSERT_EQ(fx_int(t, "created_at"), 100);
    ASSERT_EQ(fx_int(t, "last_used_at"), 500);
    ASSERT(json_is_null(json_object_get(json_array_get(list, 1), "last_used_at")));
    ASSERT(json_object_get(t, "token_hash") == NULL);
    json_decref(list);

    ASSERT_EQ(store_token_revoke(s, b, t1, 600, &e), AG_ENOTFOUND);
    ASSERT_OK(store_token_revoke(s, a, t1, 600, NULL));
    ASSERT_EQ(store_token_revoke(s, a, t1, 601, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_principal_by_token(s, "th-1", 700, &p, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_principal_by_token(s, "nope", 700, &p, &e), AG_ENOTFOUND);
    ASSERT_OK(store_token_list(s, a, &list, NULL));
    ASSERT_EQ(json_array_size(list), 1);
    ASSERT_EQ(fx_int(json_array_get(list, 0), "id"), t2);
    json_decref(list);
    store_close(s);
}

TEST(throttle)
{
    struct store *s = fx_open();
    struct throttle t = {7, 7, 7}, w = {3, 1000, 1900};

    ASSERT_OK(store_throttle_get(s, "acct:alice", &t, NULL));
    ASSERT_EQ(t.failures, 0);
    ASSERT_EQ(t.window_start, 0);
    ASSERT_EQ(t.locked_until, 0);
    ASSERT_OK(store_throttle_put(s, "acct:alice", &w, NULL));
    ASSERT_OK(store_throttle_get(s, "acct:alice", &t, NULL));
    ASSERT_EQ(t.failures, 3);
    ASSERT_EQ(t.window_start, 1000);
    ASSERT_EQ(t.locked_until, 1900);
    w.failures = 4;
    ASSERT_OK(store_throttle_put(s, "acct:alice", &w, NULL));
    ASSERT_OK(store_throttle_get(s, "acct:alice", &t, NULL));
    ASSERT_EQ(t.failures, 4);
    ASSERT_OK(store_throttle_get(s, "ip:10.0.0.1", &t, NULL));
    ASSERT_EQ(t.failures, 0);
    ASSERT_OK(store_throttle_clear(s, "acct:alice", NULL));
    ASSERT_OK(store_throttle_get(s, "acct:alice", &t, NULL));
    ASSERT_EQ(t.failures, 0);
    ASSERT_OK(store_throttle_clear(s, "acct:alice", NULL));
    store_close(s);
}

/* ---- models ----------------------------------------------------------------- */

TEST(model_insert_get_defaults)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    struct ag_err e = {0};
    json_t *m = NULL;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), id = 0;

    f.slug = "resnet-50";
    f.title = "ResNet 50";
    ASSERT_OK(store_model_insert(s, a, &f, 1234, &id, NULL));
    ASSERT_OK(store_model_get(s, "alice", "resnet-50", &m, NULL));
    ASSERT_EQ(fx_int(m, "id"), id);
    ASSERT_STR_EQ(fx_str(m, "owner"), "alice");
    ASSERT_EQ(fx_int(m, "owner_id"), a);
    ASSERT_STR_EQ(fx_str(m, "title"), "ResNet 50");
    ASSERT_STR_EQ(fx_str(m, "summary"), "");
    ASSERT_STR_EQ(fx_str(m, "card"), "");
    ASSERT_STR_EQ(fx_str(m, "price"), "0");
    ASSERT_STR_EQ(fx_str(m, "visibility"), "public");
    ASSERT(json_is_array(json_object_get(m, "tags")));
    ASSERT(json_is_array(json_object_get(m, "datasets")));
    ASSERT(json_is_array(json_object_get(m, "metrics")));
    ASSERT(json_is_array(json_object_get(m, "language")));
    ASSERT(json_is_real(json_object_get(m, "rating")));
    ASSERT_EQ(fx_int(m, "rating_count"), 0);
    ASSERT_EQ(fx_int(m, "downloads"), 0);
    ASSERT_EQ(fx_int(m, "likes"), 0);
    ASSERT_EQ(fx_int(m, "created_at"), 1234);
    ASSERT_EQ(fx_int(m, "updated_at"), 1234);
    ASSERT(json_object_get(m, "price_key") == NULL);
    ASSERT(json_object_get(m, "rating_sum") == NULL);
    ASSERT_EQ(json_object_size(m), 23);
    json_decref(m);

    ASSERT_EQ(store_model_insert(s, a, &f, 1235, NULL, &e), AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "slug");
    ASSERT_OK(store_model_insert(s, b, &f, 1235, NULL, NULL)); /* slugs are per owner */
    ASSERT_EQ(store_model_insert(s, b + 10, &f, 1235, NULL, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_model_get(s, "alice", "nope", &m, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_model_get(s, "carol", "resnet-50", &m, &e), AG_ENOTFOUND);
    store_close(s);
}

TEST(model_insert_all_fields_and_validation)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    struct ag_err e = {0};
    json_t *m = NULL;
    char key[79];
    int64_t a = fx_user(s, "alice");

    fx_price_key("1500000000000000000", key);
    f.slug = "bert";
    f.title = "BERT";
    f.summary = "A language model";
    f.card = "# BERT\nlong card";
    f.task = "fill-mask";
    f.library = "onnx";
    f.license = "apache-2.0";
    f.base_model = "google/bert";
    f.tags_json = "[\"nlp\",\"bert\"]";
    f.datasets_json = "[\"wikipedia\"]";
    f.metrics_json = "[{\"name\":\"acc\",\"value\":0.9}]";
    f.language_json = "[\"en\",\"de\"]";
    f.price = "1500000000000000000";
    f.price_key = key;
    f.visibility = "unlisted";
    ASSERT_OK(store_model_insert(s, a, &f, 50, NULL, NULL));
    ASSERT_OK(store_model_get(s, "alice", "bert", &m, NULL));
    ASSERT_STR_EQ(fx_str(m, "card"), "# BERT\nlong card");
    ASSERT_STR_EQ(fx_str(m, "task"), "fill-mask");
    ASSERT_STR_EQ(fx_str(m, "library"), "onnx");
    ASSERT_STR_EQ(fx_str(m, "license"), "apache-2.0");
    ASSERT_STR_EQ(fx_str(m, "base_model"), "google/bert");
    ASSERT_STR_EQ(fx_str(m, "price"), "1500000000000000000");
    ASSERT_STR_EQ(fx_str(m, "visibility"), "unlisted");
    ASSERT_EQ(json_array_size(json_object_get(m, "tags")), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(m, "language"), 1)), "de");
    ASSERT(
        json_is_real(json_object_get(json_array_get(json_object_get(m, "metrics"), 0), "value")));
    json_decref(m);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags"), 2);

    memset(&f, 0, sizeof(f));
    f.slug = "x";
    f.title = "X";
    f.tags_json = "[1, 2]";
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "tags");
    f.tags_json = NULL;
    f.datasets_json = "not json";
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "datasets");
    f.datasets_json = NULL;
    f.price = "5";
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "price");
    f.price_key = "5";
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    f.price = NULL;
    f.price_key = NULL;
    f.visibility = "secret";
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "visibility");
    f.visibility = NULL;
    f.title = NULL;
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "title");
    f.title = "X";
    f.slug = NULL;
    ASSERT_EQ(store_model_insert(s, a, &f, 50, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "slug");
    ASSERT_EQ(fx_count("SELECT count(*) FROM models"), 1);
    store_close(s);
}

TEST(model_update_keeps_tags_in_step)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    struct ag_err e = {0};
    json_t *m = NULL;
    int64_t a = fx_user(s, "alice");
    int64_t id = fx_model(s, a, "m1", "Model One", "image-classification", "[\"a\",\"b\"]", 100);

    fx_model(s, a, "m2", "Model Two", NULL, NULL, 100);
    f.summary = "new summary";
    ASSERT_OK(store_model_update(s, id, &f, 200, NULL));
    ASSERT_OK(store_model_get(s, "alice", "m1", &m, NULL));
    ASSERT_STR_EQ(fx_str(m, "summary"), "new summary");
    ASSERT_STR_EQ(fx_str(m, "title"), "Model One");
    ASSERT_STR_EQ(fx_str(m, "task"), "image-classification");
    ASSERT_EQ(json_array_size(json_object_get(m, "tags")), 2);
    ASSERT_EQ(fx_int(m, "updated_at"), 200);
    ASSERT_EQ(fx_int(m, "created_at"), 100);
    json_decref(m);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags"), 2);

    memset(&f, 0, sizeof(f));
    f.tags_json = "[\"c\",\"c\",\"d\",\"e\"]";
    ASSERT_OK(store_model_update(s, id, &f, 300, NULL));
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags"), 3);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags WHERE tag IN ('a', 'b')"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags WHERE tag = 'c'"), 1);

    memset(&f, 0, sizeof(f));
    f.slug = "m2";
    ASSERT_EQ(store_model_update(s, id, &f, 400, &e), AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "slug");
    f.slug = "renamed";
    ASSERT_OK(store_model_update(s, id, &f, 400, NULL));
    ASSERT_OK(store_model_get(s, "alice", "renamed", &m, NULL));
    json_decref(m);
    ASSERT_EQ(store_model_update(s, id + 100, &f, 400, &e), AG_ENOTFOUND);
    f.slug = NULL;
    f.tags_json = "{}";
    ASSERT_EQ(store_model_update(s, id, &f, 400, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "tags");
    store_close(s);
}

TEST(transactions_nest_and_roll_back)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    json_t *m = NULL;
    int64_t a = fx_user(s, "alice");
    int64_t id = fx_model(s, a, "m1", "Model One", NULL, "[\"a\"]", 100);

    /* A caller's rollback undoes the model write and its tags together. */
    ASSERT_OK(store_begin(s));
    f.title = "Changed";
    f.tags_json = "[\"x\",\"y\"]";
    ASSERT_OK(store_model_update(s, id, &f, 200, NULL));
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags WHERE tag = 'x'"), 0); /* isolated */
    store_rollback(s);
    ASSERT_OK(store_model_get(s, "alice", "m1", &m, NULL));
    ASSERT_STR_EQ(fx_str(m, "title"), "Model One");
    json_decref(m);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags WHERE model_id = 1"), 1);

    /* Nested: the inner rollback undoes only the inner work. */
    ASSERT_OK(store_begin(s));
    fx_model(s, a, "outer", "Outer", NULL, NULL, 300);
    ASSERT_OK(store_begin(s));
    fx_model(s, a, "inner", "Inner", NULL, NULL, 300);
    store_rollback(s);
    ASSERT_OK(store_begin(s));
    fx_model(s, a, "inner2", "Inner 2", NULL, "[\"t\"]", 300);
    ASSERT_OK(store_commit(s));
    ASSERT_OK(store_commit(s));
    ASSERT_EQ(fx_count("SELECT count(*) FROM models WHERE slug IN ('outer', 'inner2')"), 2);
    ASSERT_EQ(fx_count("SELECT count(*) FROM models WHERE slug = 'inner'"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags WHERE tag = 't'"), 1);

    /* A failed write inside a caller's transaction leaves earlier work intact. */
    ASSERT_OK(store_begin(s));
    fx_model(s, a, "kept", "Kept", NULL, NULL, 400);
    memset(&f, 0, sizeof(f));
    f.slug = "kept";
    f.title = "Dup";
    ASSERT_EQ(store_model_insert(s, a, &f, 400, NULL, NULL), AG_EEXISTS);
    ASSERT_OK(store_commit(s));
    ASSERT_EQ(fx_count("SELECT count(*) FROM models WHERE slug = 'kept'"), 1);

    ASSERT(store_commit(s) != 0); /* nothing open */
    store_rollback(s);            /* harmless */
    store_close(s);
}

/* ---- versions, files, downloads ------------------------------------------------ */

TEST(versions_and_files)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    json_t *v = NULL, *list = NULL, *files;
    int64_t a = fx_user(s, "alice"), m = fx_model(s, a, "m", "M", NULL, NULL, 10);
    int64_t v1 = 0, v2 = 0, f1 = 0, f1b = 0, f2 = 0;

    ASSERT_OK(store_version_insert(s, m, "1.0.0", 1, 0, 0, NULL, "first", 20, &v1, NULL));
    ASSERT_OK(store_version_insert(s, m, "1.1.0-rc.1", 1, 1, 0, "rc.1", NULL, 30, &v2, NULL));
    ASSERT_EQ(store_version_insert(s, m, "1.0.0", 1, 0, 0, NULL, NULL, 40, NULL, &e), AG_EEXISTS);
    ASSERT_STR_EQ(e.field, "version");
    ASSERT_EQ(store_version_insert(s, m + 9, "1.0.0", 1, 0, 0, NULL, NULL, 40, NULL, &e),
              AG_ENOTFOUND);

    ASSERT_OK(store_file_put(s, v1, "model.onnx", 1000, NULL, NULL, 21, &f1, NULL));
    ASSERT_OK(store_file_put(s, v1, "README.md", 10, "bafkreiabc", "ab12", 21, &f2, NULL));
    ASSERT_OK(store_file_put(s, v1, "model.onnx", 2000, "bafybeixyz", "cd34", 22, &f1b, NULL));
    ASSERT_EQ(f1b, f1); /* replaced in place */
    ASSERT_EQ(store_file_put(s, v1 + 50, "x", 1, NULL, NULL, 22, NULL, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_file_put(s, v1, "x", -1, NULL, NULL, 22, NULL, &e), AG_EINVAL);

    ASSERT_OK(store_version_get(s, m, "1.0.0", &v, NULL));
    ASSERT_EQ(fx_int(v, "id"), v1);
    ASSERT_STR_EQ(fx_str(v, "version"), "1.0.0");
    ASSERT_EQ(fx_int(v, "major"), 1);
    ASSERT_STR_EQ(fx_str(v, "prerelease"), "");
    ASSERT_STR_EQ(fx_str(v, "changelog"), "first");
    ASSERT_STR_EQ(fx_str(v, "state"), "draft");
    ASSERT(json_is_null(json_object_get(v, "published_at")));
    files = json_object_get(v, "files");
    ASSERT_EQ(json_array_size(files), 2);
    ASSERT_STR_EQ(fx_str(json_array_get(files, 0), "name"), "README.md");
    ASSERT_STR_EQ(fx_str(json_array_get(files, 1), "cid"), "bafybeixyz");
    ASSERT_STR_EQ(fx_str(json_array_get(files, 1), "sha256"), "cd34");
    ASSERT_EQ(fx_int(json_array_get(files, 1), "size"), 2000);
    json_decref(v);

    ASSERT_OK(store_version_list(s, m, false, &list, NULL));
    ASSERT_EQ(json_array_size(list), 0);
    json_decref(list);
    ASSERT_OK(store_version_publish(s, v1, 50, NULL));
    ASSERT_EQ(store_version_publish(s, v1, 51, &e), AG_ECONFLICT);
    ASSERT_EQ(store_version_publish(s, v2 + 9, 51, &e), AG_ENOTFOUND);
    ASSERT_OK(store_version_list(s, m, false, &list, NULL));
    ASSERT_EQ(json_array_size(list), 1);
    ASSERT_STR_EQ(fx_str(json_array_get(list, 0), "state"), "published");
    ASSERT_EQ(fx_int(json_array_get(list, 0), "published_at"), 50);
    ASSERT_EQ(json_array_size(json_object_get(json_array_get(list, 0), "files")), 2);
    json_decref(list);
    ASSERT_OK(store_version_list(s, m, true, &list, NULL));
    ASSERT_EQ(json_array_size(list), 2);
    json_decref(list);

    ASSERT_OK(store_version_update(s, v2, "now with notes", NULL));
    ASSERT_OK(store_version_get(s, m, "1.1.0-rc.1", &v, NULL));
    ASSERT_STR_EQ(fx_str(v, "changelog"), "now with notes");
    ASSERT_STR_EQ(fx_str(v, "prerelease"), "rc.1");
    ASSERT_EQ(json_array_size(json_object_get(v, "files")), 0);
    json_decref(v);
    ASSERT_EQ(store_version_update(s, v2 + 9, "x", &e), AG_ENOTFOUND);
    ASSERT_EQ(store_version_get(s, m, "9.9.9", &v, &e), AG_ENOTFOUND);

    ASSERT_OK(store_file_delete(s, v1, "README.md", NULL));
    ASSERT_EQ(store_file_delete(s, v1, "README.md", &e), AG_ENOTFOUND);
    ASSERT_EQ(fx_count("SELECT count(*) FROM version_files"), 1);
    store_close(s);
}

TEST(download_counted_once_per_day)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    json_t *m = NULL;
    bool counted = false;
    int64_t a = fx_user(s, "alice"), mid = fx_model(s, a, "m", "M", NULL, NULL, 10);
    int64_t v = 0, f = 0;

    ASSERT_OK(store_version_insert(s, mid, "1.0.0", 1, 0, 0, NULL, NULL, 20, &v, NULL));
    ASSERT_OK(store_file_put(s, v, "w.onnx", 1, NULL, NULL, 21, &f, NULL));
    ASSERT_OK(store_download_record(s, f, "user:1", 20000, &counted, NULL));
    ASSERT(counted);
    ASSERT_OK(store_download_record(s, f, "user:1", 20000, &counted, NULL));
    ASSERT(!counted);
    ASSERT_OK(store_download_record(s, f, "ip:10.1.1.1", 20000, &counted, NULL));
    ASSERT(counted);
    ASSERT_OK(store_download_record(s, f, "user:1", 20001, &counted, NULL));
    ASSERT(counted);
    ASSERT_EQ(store_download_record(s, f + 9, "user:1", 20001, &counted, &e), AG_ENOTFOUND);
    ASSERT_OK(store_model_get(s, "alice", "m", &m, NULL));
    ASSERT_EQ(fx_int(m, "downloads"), 3);
    json_decref(m);
    store_close(s);
}

/* ---- likes and reviews ------------------------------------------------------- */

TEST(likes_keep_count)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    bool liked = true;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob");
    int64_t m = fx_model(s, a, "m", "M", NULL, NULL, 10), n = -1;

    ASSERT_OK(store_like_get(s, b, m, &liked, NULL));
    ASSERT(!liked);
    ASSERT_OK(store_like_set(s, b, m, true, 20, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(store_like_set(s, b, m, true, 21, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(store_like_set(s, a, m, true, 22, &n, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_OK(store_like_get(s, b, m, &liked, NULL));
    ASSERT(liked);
    ASSERT_OK(store_like_set(s, b, m, false, 23, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(store_like_set(s, b, m, false, 24, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_OK(store_like_get(s, b, m, &liked, NULL));
    ASSERT(!liked);
    ASSERT_EQ(store_like_set(s, b, m + 9, true, 25, &n, &e), AG_ENOTFOUND);
    ASSERT_EQ(store_like_set(s, b, m + 9, false, 25, &n, &e), AG_ENOTFOUND);
    ASSERT_EQ(fx_count("SELECT likes FROM models"), 1);
    store_close(s);
}

TEST(reviews_keep_rating)
{
    struct store *s = fx_open();
    struct model_fields f = {0};
    struct ag_err e = {0};
    json_t *m = NULL, *list = NULL, *r;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), c = fx_user(s, "carol");
    int64_t mid = fx_model(s, a, "m", "M", NULL, NULL, 10), hidden = 0, r1 = 0, r1b = 0, r2 = 0;

    ASSERT_OK(store_review_put(s, mid, b, 5, "great", true, 100, &r1, NULL));
    ASSERT_OK(store_review_put(s, mid, c, 2, NULL, false, 200, &r2, NULL));
    ASSERT_OK(store_model_get(s, "alice", "m", &m, NULL));
    ASSERT_EQ(fx_int(m, "rating_count"), 2);
    ASSERT(json_real_value(json_object_get(m, "rating")) == 3.5);
    json_decref(m);

    ASSERT_OK(store_review_put(s, mid, b, 1, "changed my mind", false, 300, &r1b, NULL));
    ASSERT_EQ(r1b, r1);
    ASSERT_OK(store_model_get(s, "alice", "m", &m, NULL));
    ASSERT_EQ(fx_int(m, "rating_count"), 2);
    ASSERT(json_real_value(json_object_get(m, "rating")) == 1.5);
    json_decref(m);
    ASSERT_EQ(fx_count("SELECT rating_sum FROM models"), 3);

    ASSERT_EQ(store_review_put(s, mid, b, 6, "x", false, 300, NULL, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "rating");
    ASSERT_EQ(store_review_put(s, mid, b, 0, "x", false, 300, NULL, &e), AG_EINVAL);
    ASSERT_EQ(store_review_put(s, mid + 9, b, 3, "x", false, 300, NULL, &e), AG_ENOTFOUND);

    ASSERT_OK(store_review_list(s, mid, 10, 0, &list, NULL));
    ASSERT_EQ(json_array_size(list), 2);
    r = json_array_get(list, 0);
    ASSERT_EQ(fx_int(r, "id"), r2); /* created later */
    ASSERT_STR_EQ(fx_str(r, "user"), "carol");
    ASSERT_STR_EQ(fx_str(r, "body"), "");
    ASSERT(json_is_false(json_object_get(r, "verified")));
    r = json_array_get(list, 1);
    ASSERT_STR_EQ(fx_str(r, "user"), "bob");
    ASSERT_EQ(fx_int(r, "rating"), 1);
    ASSERT_STR_EQ(fx_str(r, "body"), "changed my mind");
    ASSERT_EQ(fx_int(r, "created_at"), 100);
    ASSERT_EQ(fx_int(r, "updated_at"), 300);
    json_decref(list);
    ASSERT_OK(store_review_list(s, mid, 1, 1, &list, NULL));
    ASSERT_EQ(json_array_size(list), 1);
    ASSERT_EQ(fx_int(json_array_get(list, 0), "id"), r1);
    json_decref(list);
    ASSERT_EQ(store_review_list(s, mid, 0, 0, &list, &e), AG_EINVAL);
    ASSERT_EQ(store_review_list(s, mid, 10, -1, &list, &e), AG_EINVAL);

    f.slug = "secret";
    f.title = "Secret";
    f.visibility = "private";
    ASSERT_OK(store_model_insert(s, a, &f, 20, &hidden, NULL));
    ASSERT_OK(store_review_put(s, hidden, b, 4, "psst", true, 400, NULL, NULL));
    ASSERT_OK(store_review_list_by_user(s, b, 10, &list, NULL));
    ASSERT_EQ(json_array_size(list), 1);
    r = json_array_get(list, 0);
    ASSERT_STR_EQ(fx_str(r, "model"), "alice/m");
    ASSERT_EQ(fx_int(r, "rating"), 1);
    ASSERT(json_object_get(r, "updated_at") == NULL);
    json_decref(list);
    store_close(s);
}

/* ---- deletes, odd values, threads ------------------------------------------- */

TEST(model_delete_cascades)
{
    struct store *s = fx_open();
    struct search_query q = {0};
    struct ag_err e = {0};
    struct search_result r;
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob");
    int64_t m = fx_model(s, a, "doomed", "Doomed zebra", NULL, "[\"t1\",\"t2\"]", 10);
    int64_t keep = fx_model(s, a, "kept", "Kept zebra", NULL, "[\"t1\"]", 10), v = 0, f = 0;
    bool counted;

    ASSERT_OK(store_version_insert(s, m, "1.0.0", 1, 0, 0, NULL, NULL, 20, &v, NULL));
    ASSERT_OK(store_file_put(s, v, "w.onnx", 1, NULL, NULL, 21, &f, NULL));
    ASSERT_OK(store_download_record(s, f, "user:2", 1, &counted, NULL));
    ASSERT_OK(store_like_set(s, b, m, true, 30, NULL, NULL));
    ASSERT_OK(store_review_put(s, m, b, 4, "ok", false, 40, NULL, NULL));

    ASSERT_OK(store_model_delete(s, m, NULL));
    ASSERT_EQ(store_model_delete(s, m, &e), AG_ENOTFOUND);
    ASSERT_EQ(fx_count("SELECT count(*) FROM versions"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM version_files"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM downloads"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM likes"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM reviews"), 0);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags"), 1);
    ASSERT_EQ(fx_count("SELECT count(*) FROM models_fts WHERE models_fts MATCH 'zebra'"), 1);
    ASSERT_EQ(fx_count("SELECT rowid FROM models_fts WHERE models_fts MATCH 'zebra'"), keep);
    ASSERT_EQ(fx_sql("INSERT INTO models_fts(models_fts, rank) VALUES ('integrity-check', 1)"),
              SQLITE_OK);

    q.words[0] = "zebra";
    q.nwords = 1;
    q.limit = 10;
    search_result_init(&r);
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT_EQ(r.total, 1);
    ASSERT_EQ(r.items[0].id, keep);
    search_result_release(&r);
    store_close(s);
}

TEST(sql_metacharacters_stored_verbatim)
{
    static const char evil[] = "x'); DROP TABLE models;--";
    struct store *s = fx_open();
    struct search_query q = {0};
    struct search_result r;
    json_t *m = NULL;
    char tags[128];
    int64_t a;

    ASSERT_OK(store_user_insert(s, "o'brien", "o'brien@example.com", "h", "user", 1, &a, NULL));
    snprintf(tags, sizeof(tags), "[\"%s\", \"%%_\"]", evil);
    fx_model(s, a, "quote\"slug", "Title with 'quotes' and \"doubles\" -- and ; ", NULL, tags, 5);
    ASSERT_OK(store_model_get(s, "o'brien", "quote\"slug", &m, NULL));
    ASSERT_STR_EQ(fx_str(m, "title"), "Title with 'quotes' and \"doubles\" -- and ; ");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(m, "tags"), 0)), evil);
    json_decref(m);

    q.tags[0] = evil;
    q.ntags = 1;
    q.owner = "o'brien";
    q.limit = 10;
    search_result_init(&r);
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT_EQ(r.total, 1);
    ASSERT(strstr(r.text.p, "\"slug\":\"quote\\\"slug\"") != NULL);
    q.tags[0] = "%"; /* no LIKE anywhere: a wildcard is just a character */
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT_EQ(r.total, 0);
    search_result_release(&r);
    ASSERT_EQ(fx_count("SELECT count(*) FROM models"), 1);
    store_close(s);
}

struct worker {
    struct store *s;
    int64_t owner;
    int index;
    int rc;
};

enum { WORKERS = 4, PER_WORKER = 40 };

/* A worker inserts listings, likes them and reviews them on its own connection. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char slug[32], title[64];
    int64_t id = 0, likes = 0;

    for (int i = 0; i < PER_WORKER && !w->rc; i++) {
        struct model_fields f = {0};
        snprintf(slug, sizeof(slug), "w%d-m%d", w->index, i);
        snprintf(title, sizeof(title), "Worker %d model %d", w->index, i);
        f.slug = slug;
        f.title = title;
        f.tags_json = "[\"threaded\"]";
        w->rc = store_model_insert(w->s, w->owner, &f, 1000 + i, &id, NULL);
        if (!w->rc)
            w->rc = store_like_set(w->s, w->owner, id, true, 1000 + i, &likes, NULL);
        if (!w->rc)
            w->rc = store_review_put(w->s, id, w->owner, 1 + i % 5, "auto", false, 1000 + i, NULL,
                                     NULL);
        if (!w->rc && likes != 1)
            w->rc = AG_EINTERNAL;
    }
    return NULL;
}

TEST(threads_use_their_own_connections)
{
    struct store *s = fx_open();
    struct worker w[WORKERS];
    pthread_t t[WORKERS];
    struct search_query q = {0};
    struct search_result r;

    for (int i = 0; i < WORKERS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "worker%d", i);
        w[i] = (struct worker){.s = s, .owner = fx_user(s, name), .index = i};
    }
    for (int i = 0; i < WORKERS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(t[i], NULL);
        ASSERT_OK(w[i].rc);
    }
    ASSERT_EQ(fx_count("SELECT count(*) FROM models"), WORKERS * PER_WORKER);
    ASSERT_EQ(fx_count("SELECT sum(likes) FROM models"), WORKERS * PER_WORKER);
    ASSERT_EQ(fx_count("SELECT count(*) FROM model_tags"), WORKERS * PER_WORKER);
    ASSERT_EQ(fx_count("SELECT count(*) FROM models WHERE rating_count <> 1"), 0);
    q.tags[0] = "threaded";
    q.ntags = 1;
    q.limit = 5;
    search_result_init(&r);
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT_EQ(r.total, WORKERS * PER_WORKER);
    search_result_release(&r);
    store_close(s);
}

/* A thread that exits while the store stays open closes its connection. */
static void *touch_store(void *arg)
{
    int64_t n;
    store_user_count(arg, &n, NULL);
    return NULL;
}

TEST(thread_exit_closes_connection)
{
    struct store *s = fx_open();
    pthread_t t;

    for (int i = 0; i < 20; i++) {
        ASSERT_EQ(pthread_create(&t, NULL, touch_store, s), 0);
        pthread_join(t, NULL);
    }
    fx_user(s, "alice");
    store_close(s);
    ASSERT_EQ(fx_count("SELECT count(*) FROM users"), 1);
}

/* A writer that holds the lock past the busy timeout (5 s) makes writes fail
 * with AG_EUNAVAILABLE, while reads go on (WAL). */
TEST(busy_database_is_unavailable)
{
    struct store *s = fx_open();
    struct ag_err e = {0};
    sqlite3 *db = NULL;
    int64_t n = -1;

    fx_user(s, "alice");
    ASSERT_EQ(sqlite3_open_v2(fx_path(), &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(store_user_insert(s, "bob", "bob@example.com", "h", "user", 1, NULL, &e),
              AG_EUNAVAILABLE);
    ASSERT_EQ(store_begin(s), AG_EUNAVAILABLE);
    ASSERT_OK(store_user_count(s, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    fx_user(s, "bob");
    ASSERT_OK(store_user_count(s, &n, NULL));
    ASSERT_EQ(n, 2);
    store_close(s);
}
