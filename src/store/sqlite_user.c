/* sqlite_user.c - accounts, sessions, API tokens and login throttling on SQLite. */
#include "core/common.h"

#include "core/util.h"
#include "store/sqlite_int.h"

static bool role_ok(const char *role)
{
    return role && (!strcmp(role, "user") || !strcmp(role, "admin"));
}

/* run_write() binds nothing more, runs `q` and closes it; AG_ENOTFOUND (with
 * `what` in the message) when no row changed. */
static int run_write(struct sdb_q *q, const char *what, struct ag_err *e)
{
    int rc = sdb_exec(q, e);

    if (!rc && sdb_changes(q) == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such %s", what);
    sdb_close(q);
    return rc;
}

/* ---- users ---------------------------------------------------------------- */

static const char SQL_USER_INSERT[] =
    "INSERT INTO users (username, email, pw_hash, role, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5)";

int store_user_insert(struct store *s, const char *username, const char *email, const char *pw_hash,
                      const char *role, int64_t now, int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (!role)
        role = "user";
    if (!role_ok(role))
        return ag_errf(e, AG_EINVAL, "role", "role must be \"user\" or \"admin\"");
    rc = sdb_open(&q, s, SQL_USER_INSERT, e);
    if (rc)
        return rc;
    sdb_text(&q, username);
    sdb_text(&q, email);
    sdb_text(&q, pw_hash);
    sdb_text(&q, role);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc && id)
        *id = sdb_last_id(&q);
    sdb_close(&q);
    return rc;
}

/* A username match wins over an email match, should both exist. */
static const char SQL_USER_AUTH[] =
    "SELECT id, username, role, pw_hash FROM users WHERE username = ?1 OR email = ?1"
    " ORDER BY username = ?1 DESC LIMIT 1";

int store_user_auth(struct store *s, const char *login, struct user_auth *out, struct ag_err *e)
{
    struct sdb_q q;
    struct user_auth u = {0};
    int rc = sdb_open(&q, s, SQL_USER_AUTH, e);

    if (rc)
        return rc;
    sdb_text(&q, login);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such user");
    if (rc == 1) {
        u.id = sqlite3_column_int64(q.st, 0);
        rc = sdb_col_copy(&q, 1, u.username, sizeof(u.username), e);
        if (!rc)
            rc = sdb_col_copy(&q, 2, u.role, sizeof(u.role), e);
        if (!rc)
            rc = sdb_col_copy(&q, 3, u.pw_hash, sizeof(u.pw_hash), e);
    }
    sdb_close(&q);
    if (!rc)
        *out = u;
    return rc;
}

static const char SQL_USER_SET_PASSWORD[] = "UPDATE users SET pw_hash = ? WHERE id = ?";

int store_user_set_password(struct store *s, int64_t user_id, const char *pw_hash, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_USER_SET_PASSWORD, e);

    if (rc)
        return rc;
    sdb_text(&q, pw_hash);
    sdb_int(&q, user_id);
    return run_write(&q, "user", e);
}

static const char SQL_USER_GET[] =
    "SELECT id, username, email, role, display_name, bio, links, created_at, updated_at"
    " FROM users WHERE username = ?";

int store_user_get(struct store *s, const char *username, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    json_t *o = NULL;
    int rc = sdb_open(&q, s, SQL_USER_GET, e);

    if (rc)
        return rc;
    sdb_text(&q, username);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such user");
    if (rc == 1) {
        o = sdb_row_json(&q);
        rc = o ? 0 : ag_err_set(e, AG_ENOMEM);
    }
    sdb_close(&q);
    if (!rc)
        *out = o;
    return rc;
}

static const char SQL_USER_UPDATE[] =
    "UPDATE users SET display_name = coalesce(?, display_name), bio = coalesce(?, bio),"
    " links = coalesce(?, links), updated_at = ? WHERE id = ?";

int store_user_update(struct store *s, int64_t user_id, const char *display_name, const char *bio,
                      const char *links_json, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (!sdb_json_array_ok(links_json, false))
        return ag_errf(e, AG_EINVAL, "links", "links must be a JSON array");
    rc = sdb_open(&q, s, SQL_USER_UPDATE, e);
    if (rc)
        return rc;
    sdb_text(&q, display_name);
    sdb_text(&q, bio);
    sdb_text(&q, links_json);
    sdb_int(&q, now);
    sdb_int(&q, user_id);
    return run_write(&q, "user", e);
}

static const char SQL_USER_SET_ROLE[] = "UPDATE users SET role = ? WHERE id = ?";

int store_user_set_role(struct store *s, int64_t user_id, const char *role, struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (!role_ok(role))
        return ag_errf(e, AG_EINVAL, "role", "role must be \"user\" or \"admin\"");
    rc = sdb_open(&q, s, SQL_USER_SET_ROLE, e);
    if (rc)
        return rc;
    sdb_text(&q, role);
    sdb_int(&q, user_id);
    return run_write(&q, "user", e);
}

static const char SQL_USER_COUNT[] = "SELECT count(*) FROM users";

int store_user_count(struct store *s, int64_t *n, struct ag_err *e)
{
    return sdb_int64(s, SQL_USER_COUNT, n, e);
}

static const char SQL_SELLER_STATS[] =
    "SELECT count(m.id) AS models, coalesce(sum(m.downloads), 0) AS downloads,"
    " coalesce(sum(m.likes), 0) AS likes, coalesce(sum(m.rating_sum), 0) AS rating_sum,"
    " coalesce(sum(m.rating_count), 0) AS rating_count"
    " FROM users u LEFT JOIN models m ON m.owner_id = u.id AND m.visibility = 'public'"
    " WHERE u.id = ? GROUP BY u.id";

int store_seller_stats(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    json_t *o = NULL;
    int rc = sdb_open(&q, s, SQL_SELLER_STATS, e);

    if (rc)
        return rc;
    sdb_int(&q, user_id);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such user");
    if (rc == 1) {
        o = sdb_row_json(&q);
        rc = o ? 0 : ag_err_set(e, AG_ENOMEM);
    }
    sdb_close(&q);
    if (!rc)
        *out = o;
    return rc;
}

/* ---- sessions and API tokens ---------------------------------------------- */

static const char SQL_SESSION_INSERT[] =
    "INSERT INTO sessions (user_id, token_hash, csrf_token, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?)";

int store_session_insert(struct store *s, int64_t user_id, const char *token_hash, const char *csrf,
                         int64_t now, int64_t expires_at, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_SESSION_INSERT, e);

    if (rc)
        return rc;
    sdb_int(&q, user_id);
    sdb_text(&q, token_hash);
    sdb_text(&q, csrf);
    sdb_int(&q, now);
    sdb_int(&q, expires_at);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_SESSION_DELETE[] = "DELETE FROM sessions WHERE token_hash = ?";

int store_session_delete(struct store *s, const char *token_hash, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_SESSION_DELETE, e);

    if (rc)
        return rc;
    sdb_text(&q, token_hash);
    return run_write(&q, "session", e);
}

/* fill_principal() reads columns (user id, username, role, csrf) of the row. */
static int fill_principal(struct sdb_q *q, bool via_session, struct principal *out,
                          struct ag_err *e)
{
    struct principal p = {0};
    int rc;

    p.user_id = sqlite3_column_int64(q->st, 0);
    p.via_session = via_session;
    rc = sdb_col_copy(q, 1, p.username, sizeof(p.username), e);
    if (!rc)
        rc = sdb_col_copy(q, 2, p.role, sizeof(p.role), e);
    if (!rc)
        rc = sdb_col_copy(q, 3, p.csrf, sizeof(p.csrf), e);
    if (!rc)
        *out = p;
    return rc;
}

static const char SQL_PRINCIPAL_BY_SESSION[] =
    "SELECT u.id, u.username, u.role, s.csrf_token FROM sessions s"
    " JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?";

int store_principal_by_session(struct store *s, const char *token_hash, int64_t now,
                               struct principal *out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_PRINCIPAL_BY_SESSION, e);

    if (rc)
        return rc;
    sdb_text(&q, token_hash);
    sdb_int(&q, now);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such session");
    if (rc == 1)
        rc = fill_principal(&q, true, out, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_PRINCIPAL_BY_TOKEN[] =
    "SELECT u.id, u.username, u.role, '', t.id, t.last_used_at FROM api_tokens t"
    " JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL";
static const char SQL_TOKEN_USED[] = "UPDATE api_tokens SET last_used_at = ? WHERE id = ?";

/* The read comes first and the write happens at most once per token per
 * second, so busy API clients do not serialize on the write lock. */
int store_principal_by_token(struct store *s, const char *token_hash, int64_t now,
                             struct principal *out, struct ag_err *e)
{
    struct sdb_q q;
    struct principal p = {0};
    int64_t token_id = 0;
    bool stale = false;
    int rc = sdb_open(&q, s, SQL_PRINCIPAL_BY_TOKEN, e);

    if (rc)
        return rc;
    sdb_text(&q, token_hash);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such token");
    if (rc == 1) {
        rc = fill_principal(&q, false, &p, e);
        token_id = sqlite3_column_int64(q.st, 4);
        stale = sqlite3_column_type(q.st, 5) == SQLITE_NULL || sqlite3_column_int64(q.st, 5) != now;
    }
    sdb_close(&q);
    if (!rc && stale) {
        rc = sdb_open(&q, s, SQL_TOKEN_USED, e);
        if (!rc) {
            sdb_int(&q, now);
            sdb_int(&q, token_id);
            rc = sdb_exec(&q, e);
            sdb_close(&q);
        }
    }
    if (!rc)
        *out = p;
    return rc;
}

static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) VALUES (?, ?, ?, ?, ?)";

int store_token_insert(struct store *s, int64_t user_id, const char *name, const char *prefix,
                       const char *token_hash, int64_t now, int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_TOKEN_INSERT, e);

    if (rc)
        return rc;
    sdb_int(&q, user_id);
    sdb_text(&q, name);
    sdb_text(&q, prefix);
    sdb_text(&q, token_hash);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc && id)
        *id = sdb_last_id(&q);
    sdb_close(&q);
    return rc;
}

static const char SQL_TOKEN_LIST[] =
    "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens"
    " WHERE user_id = ? AND revoked_at IS NULL ORDER BY id";

int store_token_list(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    return sdb_rows_by_id(s, SQL_TOKEN_LIST, user_id, out, e);
}

static const char SQL_TOKEN_REVOKE[] =
    "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL";

int store_token_revoke(struct store *s, int64_t user_id, int64_t id, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_TOKEN_REVOKE, e);

    if (rc)
        return rc;
    sdb_int(&q, now);
    sdb_int(&q, id);
    sdb_int(&q, user_id);
    return run_write(&q, "token", e);
}

/* ---- login throttling ----------------------------------------------------- */

static const char SQL_THROTTLE_GET[] =
    "SELECT failures, window_start, locked_until FROM throttle WHERE key = ?";

int store_throttle_get(struct store *s, const char *key, struct throttle *t, struct ag_err *e)
{
    struct sdb_q q;
    struct throttle x = {0};
    int rc = sdb_open(&q, s, SQL_THROTTLE_GET, e);

    if (rc)
        return rc;
    sdb_text(&q, key);
    rc = sdb_step(&q, e);
    if (rc == 1) {
        x.failures = sqlite3_column_int64(q.st, 0);
        x.window_start = sqlite3_column_int64(q.st, 1);
        x.locked_until = sqlite3_column_int64(q.st, 2);
        rc = 0;
    }
    sdb_close(&q);
    if (!rc)
        *t = x;
    return rc;
}

static const char SQL_THROTTLE_PUT[] =
    "INSERT INTO throttle (key, failures, window_start, locked_until) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
    " window_start = excluded.window_start, locked_until = excluded.locked_until";

int store_throttle_put(struct store *s, const char *key, const struct throttle *t, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_THROTTLE_PUT, e);

    if (rc)
        return rc;
    sdb_text(&q, key);
    sdb_int(&q, t->failures);
    sdb_int(&q, t->window_start);
    sdb_int(&q, t->locked_until);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_THROTTLE_CLEAR[] = "DELETE FROM throttle WHERE key = ?";

/* Clearing a key that has no record is not an error. */
int store_throttle_clear(struct store *s, const char *key, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_THROTTLE_CLEAR, e);

    if (rc)
        return rc;
    sdb_text(&q, key);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}
