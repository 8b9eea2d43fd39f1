/* fixture.h - shared setup for the store's unit tests: a fresh database, users and models. */
#ifndef AGORA_TEST_STORE_FIXTURE_H
#define AGORA_TEST_STORE_FIXTURE_H

#include "core/common.h"

#include <sqlite3.h>

#include "store/store.h"
#include "test.h"

#define FX_ZERO_KEY "000000000000000000000000000000000000000000000000000000000000000000000000000000"

/* fx_path() returns the database path inside this case's temporary directory. */
static inline const char *fx_path(void)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/agora.db", test_tmpdir());
    return path;
}

static inline struct store *fx_open(void)
{
    struct store *s = NULL;
    struct ag_err e = {0};
    int rc = store_open(fx_path(), &s, &e);
    if (rc)
        test_fail(__FILE__, __LINE__, "store_open: %d %s", rc, e.msg);
    return s;
}

static inline int64_t fx_user(struct store *s, const char *name)
{
    char email[128];
    int64_t id = 0;
    snprintf(email, sizeof(email), "%s@example.com", name);
    ASSERT_OK(store_user_insert(s, name, email, "$argon2id$hash", "user", 1000, &id, NULL));
    return id;
}

/* fx_price_key() writes the 78-digit key of decimal `price`. */
static inline void fx_price_key(const char *price, char key[79])
{
    size_t n = strlen(price);
    memset(key, '0', 78);
    memcpy(key + 78 - n, price, n);
    key[78] = '\0';
}

/* fx_model() inserts a public listing with the given fields (NULL = default). */
static inline int64_t fx_model(struct store *s, int64_t owner, const char *slug, const char *title,
                               const char *task, const char *tags_json, int64_t now)
{
    struct model_fields f = {0};
    struct ag_err e = {0};
    int64_t id = 0;
    int rc;
    f.slug = slug;
    f.title = title;
    f.task = task;
    f.tags_json = tags_json;
    rc = store_model_insert(s, owner, &f, now, &id, &e);
    if (rc)
        test_fail(__FILE__, __LINE__, "store_model_insert %s: %d %s", slug, rc, e.msg);
    return id;
}

/* fx_count() runs a one-number query on a separate connection. */
static inline int64_t fx_count(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(fx_path(), &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    if (n < 0)
        fprintf(stderr, "fx_count(%s): %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* fx_sql() runs statements on a separate connection; returns the SQLite code. */
static inline int fx_sql(const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(fx_path(), &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static inline int64_t fx_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        test_fail(__FILE__, __LINE__, "member %s is not an integer", key);
    return json_integer_value(v);
}

static inline const char *fx_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        test_fail(__FILE__, __LINE__, "member %s is not a string", key);
    return json_string_value(v);
}

#endif
