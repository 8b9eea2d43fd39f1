/* sqlite_storage.c - resumable uploads, sealed file keys, pins and the Kubo re-pin queue on SQLite. */
#include "core/common.h"

#include "store/sqlite_int.h"

static const char SQL_UPLOAD_INSERT[] =
    "INSERT INTO uploads (id, version_id, user_id, name, size, sha256, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, nullif(?, ''), ?, ?)";

int store_upload_insert(struct store *s, const struct upload_row *u, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_UPLOAD_INSERT, e);

    if (rc)
        return rc;
    sdb_text(&q, u->id);
    sdb_int(&q, u->version_id);
    sdb_int(&q, u->user_id);
    sdb_text(&q, u->name);
    sdb_int(&q, u->size);
    sdb_text(&q, u->sha256);
    sdb_int(&q, u->created_at);
    sdb_int(&q, u->expires_at);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_UPLOAD_GET[] =
    "SELECT u.id, u.version_id, u.user_id, v.model_id, u.name, u.size, coalesce(u.sha256, ''),"
    " u.created_at, u.expires_at, v.state, o.username, m.slug, v.version"
    " FROM uploads u JOIN versions v ON v.id = u.version_id JOIN models m ON m.id = v.model_id"
    " JOIN users o ON o.id = m.owner_id WHERE u.id = ?";

int store_upload_get(struct store *s, const char *id, struct upload_row *out, struct ag_err *e)
{
    struct upload_row u;
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_UPLOAD_GET, e);

    if (rc)
        return rc;
    memset(&u, 0, sizeof(u));
    sdb_text(&q, id);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, "id", "no such upload");
    if (rc == 1) {
        u.version_id = sqlite3_column_int64(q.st, 1);
        u.user_id = sqlite3_column_int64(q.st, 2);
        u.model_id = sqlite3_column_int64(q.st, 3);
        u.size = sqlite3_column_int64(q.st, 5);
        u.created_at = sqlite3_column_int64(q.st, 7);
        u.expires_at = sqlite3_column_int64(q.st, 8);
        rc = sdb_col_copy(&q, 0, u.id, sizeof(u.id), e);
        if (!rc)
            rc = sdb_col_copy(&q, 4, u.name, sizeof(u.name), e);
        if (!rc)
            rc = sdb_col_copy(&q, 6, u.sha256, sizeof(u.sha256), e);
        if (!rc)
            rc = sdb_col_copy(&q, 9, u.state, sizeof(u.state), e);
        if (!rc)
            rc = sdb_col_copy(&q, 10, u.owner, sizeof(u.owner), e);
        if (!rc)
            rc = sdb_col_copy(&q, 11, u.slug, sizeof(u.slug), e);
        if (!rc)
            rc = sdb_col_copy(&q, 12, u.version, sizeof(u.version), e);
    }
    sdb_close(&q);
    if (!rc)
        *out = u;
    return rc;
}

static const char SQL_UPLOAD_DELETE[] = "DELETE FROM uploads WHERE id = ?";

int store_upload_delete(struct store *s, const char *id, bool *deleted, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_UPLOAD_DELETE, e);

    if (rc)
        return rc;
    sdb_text(&q, id);
    rc = sdb_exec(&q, e);
    if (!rc && deleted)
        *deleted = sdb_changes(&q) > 0;
    sdb_close(&q);
    return rc;
}

static const char SQL_UPLOAD_EXPIRED[] =
    "SELECT id FROM uploads WHERE expires_at < ? ORDER BY expires_at LIMIT ?";

int store_upload_expired(struct store *s, int64_t now, int limit, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    json_t *ids = json_array();
    int rc = ids ? sdb_open(&q, s, SQL_UPLOAD_EXPIRED, e) : ag_err_set(e, AG_ENOMEM);

    if (rc) {
        json_decref(ids);
        return rc;
    }
    sdb_int(&q, now);
    sdb_int(&q, limit);
    while ((rc = sdb_step(&q, e)) == 1)
        if (json_array_append_new(ids, json_string((const char *)sqlite3_column_text(q.st, 0)))) {
            rc = ag_err_set(e, AG_ENOMEM);
            break;
        }
    sdb_close(&q);
    if (rc)
        json_decref(ids);
    else
        *out = ids;
    return rc;
}

static const char SQL_FILE_GET[] =
    "SELECT f.id, f.version_id, f.size, f.name, coalesce(f.cid, ''), coalesce(f.sha256, ''),"
    " coalesce(k.sealed_key, ''), coalesce(k.format, 0), coalesce(k.stored_size, f.size)"
    " FROM version_files f LEFT JOIN file_keys k ON k.file_id = f.id"
    " WHERE f.version_id = ? AND f.name = ?";

int store_file_get(struct store *s, int64_t version_id, const char *name, struct file_row *out,
                   struct ag_err *e)
{
    struct file_row f;
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_FILE_GET, e);

    if (rc)
        return rc;
    memset(&f, 0, sizeof(f));
    sdb_int(&q, version_id);
    sdb_text(&q, name);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, "name", "no such file");
    if (rc == 1) {
        f.id = sqlite3_column_int64(q.st, 0);
        f.version_id = sqlite3_column_int64(q.st, 1);
        f.size = sqlite3_column_int64(q.st, 2);
        f.format = sqlite3_column_int(q.st, 7);
        f.stored_size = sqlite3_column_int64(q.st, 8);
        rc = sdb_col_copy(&q, 3, f.name, sizeof(f.name), e);
        if (!rc)
            rc = sdb_col_copy(&q, 4, f.cid, sizeof(f.cid), e);
        if (!rc)
            rc = sdb_col_copy(&q, 5, f.sha256, sizeof(f.sha256), e);
        if (!rc)
            rc = sdb_col_copy(&q, 6, f.sealed_key, sizeof(f.sealed_key), e);
    }
    sdb_close(&q);
    if (!rc)
        *out = f;
    return rc;
}

static const char SQL_FILE_KEY_PUT[] =
    "INSERT INTO file_keys (file_id, sealed_key, format, stored_size) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (file_id) DO UPDATE SET sealed_key = excluded.sealed_key,"
    " format = excluded.format, stored_size = excluded.stored_size";
static const char SQL_FILE_KEY_DELETE[] = "DELETE FROM file_keys WHERE file_id = ?";

int store_file_key_put(struct store *s, int64_t file_id, const char *sealed_key, int format,
                       int64_t stored_size, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sealed_key ? SQL_FILE_KEY_PUT : SQL_FILE_KEY_DELETE, e);

    if (rc)
        return rc;
    sdb_int(&q, file_id);
    if (sealed_key) {
        sdb_text(&q, sealed_key);
        sdb_int(&q, format);
        sdb_int(&q, stored_size);
    }
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_PINS[] =
    "SELECT DISTINCT cid FROM version_files WHERE cid IS NOT NULL ORDER BY cid";

int store_pins(struct store *s, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    json_t *cids = json_array();
    int rc = cids ? sdb_open(&q, s, SQL_PINS, e) : ag_err_set(e, AG_ENOMEM);

    if (rc) {
        json_decref(cids);
        return rc;
    }
    while ((rc = sdb_step(&q, e)) == 1)
        if (json_array_append_new(cids, json_string((const char *)sqlite3_column_text(q.st, 0)))) {
            rc = ag_err_set(e, AG_ENOMEM);
            break;
        }
    sdb_close(&q);
    if (rc)
        json_decref(cids);
    else
        *out = cids;
    return rc;
}

/* ---- the Kubo re-pin queue ------------------------------------------------ */

static const char SQL_KUBO_PIN_ADD[] =
    "INSERT INTO kubo_pins (cid, added_at, next_try_at) VALUES (?1, ?2, ?2)"
    " ON CONFLICT (cid) DO UPDATE SET next_try_at = min(next_try_at, excluded.next_try_at)";

int store_kubo_pin_add(struct store *s, const char *cid, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_KUBO_PIN_ADD, e);

    if (rc)
        return rc;
    sdb_text(&q, cid);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_KUBO_PIN_DUE[] =
    "SELECT cid, attempts FROM kubo_pins WHERE next_try_at <= ? ORDER BY next_try_at, added_at"
    " LIMIT ?";

int store_kubo_pin_due(struct store *s, int64_t now, int limit, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_KUBO_PIN_DUE, e);

    if (rc)
        return rc;
    sdb_int(&q, now);
    sdb_int(&q, limit);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_KUBO_PIN_DONE[] = "DELETE FROM kubo_pins WHERE cid = ?";

int store_kubo_pin_done(struct store *s, const char *cid, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_KUBO_PIN_DONE, e);

    if (rc)
        return rc;
    sdb_text(&q, cid);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_KUBO_PIN_RETRY[] =
    "UPDATE kubo_pins SET attempts = attempts + 1, next_try_at = ?, last_error = ? WHERE cid = ?";

int store_kubo_pin_retry(struct store *s, const char *cid, int64_t next_try_at, const char *error,
                         struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_KUBO_PIN_RETRY, e);

    if (rc)
        return rc;
    sdb_int(&q, next_try_at);
    sdb_text(&q, error);
    sdb_text(&q, cid);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_KUBO_PIN_WAKE[] =
    "UPDATE kubo_pins SET next_try_at = ? WHERE next_try_at > ?";

int store_kubo_pin_wake(struct store *s, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_KUBO_PIN_WAKE, e);

    if (rc)
        return rc;
    sdb_int(&q, now);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_KUBO_PIN_COUNT[] = "SELECT count(*) FROM kubo_pins";

int store_kubo_pin_count(struct store *s, int64_t *n, struct ag_err *e)
{
    return sdb_int64(s, SQL_KUBO_PIN_COUNT, n, e);
}
