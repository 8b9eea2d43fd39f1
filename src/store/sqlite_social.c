/* sqlite_social.c - versions, files, download counts, likes and reviews on SQLite. */
#include "core/common.h"

#include "store/sqlite_int.h"

/* ---- versions and files --------------------------------------------------- */

static const char SQL_VERSION_INSERT[] =
    "INSERT INTO versions (model_id, version, major, minor, patch, prerelease, changelog,"
    " created_at) VALUES (?, ?, ?, ?, ?, coalesce(?, ''), coalesce(?, ''), ?)";

int store_version_insert(struct store *s, int64_t model_id, const char *version, int64_t major,
                         int64_t minor, int64_t patch, const char *prerelease,
                         const char *changelog, int64_t now, int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (!version || !version[0])
        return ag_errf(e, AG_EINVAL, "version", "version is required");
    rc = sdb_open(&q, s, SQL_VERSION_INSERT, e);
    if (rc)
        return rc;
    sdb_int(&q, model_id);
    sdb_text(&q, version);
    sdb_int(&q, major);
    sdb_int(&q, minor);
    sdb_int(&q, patch);
    sdb_text(&q, prerelease);
    sdb_text(&q, changelog);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc && id)
        *id = sdb_last_id(&q);
    sdb_close(&q);
    return rc;
}

static const char SQL_FILES_OF_VERSION[] =
    "SELECT id, name, size, cid, sha256 FROM version_files WHERE version_id = ? ORDER BY name";

/* add_files() sets the "files" member of version object `v`. */
static int add_files(struct store *s, json_t *v, struct ag_err *e)
{
    struct sdb_q q;
    json_t *files = NULL;
    int rc = sdb_open(&q, s, SQL_FILES_OF_VERSION, e);

    if (rc)
        return rc;
    sdb_int(&q, json_integer_value(json_object_get(v, "id")));
    rc = sdb_rows_json(&q, &files, e);
    sdb_close(&q);
    if (!rc && json_object_set_new(v, "files", files))
        rc = ag_err_set(e, AG_ENOMEM);
    return rc;
}

#define VERSION_COLS                                                                               \
    "SELECT id, version, major, minor, patch, prerelease, changelog, state, created_at,"           \
    " published_at FROM versions"

static const char SQL_VERSION_LIST[] =
    VERSION_COLS " WHERE model_id = ? AND (? OR state = 'published') ORDER BY id";

int store_version_list(struct store *s, int64_t model_id, bool include_drafts, json_t **out,
                       struct ag_err *e)
{
    struct sdb_q q;
    json_t *list = NULL, *v;
    size_t i;
    int rc = sdb_tx_begin(s, false, e);

    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_VERSION_LIST, e);
    if (rc)
        goto out;
    sdb_int(&q, model_id);
    sdb_int(&q, include_drafts);
    rc = sdb_rows_json(&q, &list, e);
    sdb_close(&q);
    if (rc)
        goto out;
    for (i = 0; !rc && (v = json_array_get(list, i)); i++)
        rc = add_files(s, v, e);
out:
    rc = sdb_tx_end(s, rc, e);
    if (rc)
        json_decref(list);
    else
        *out = list;
    return rc;
}

/* The published versions that share the highest major.minor.patch: one row,
 * or a few when prereleases of it exist, which semver orders in C. */
static const char SQL_VERSION_TOP[] =
    "SELECT version FROM versions WHERE model_id = ?1 AND state = 'published'"
    " AND (major, minor, patch) = (SELECT major, minor, patch FROM versions"
    "  WHERE model_id = ?1 AND state = 'published'"
    "  ORDER BY major DESC, minor DESC, patch DESC LIMIT 1)";

int store_version_top(struct store *s, int64_t model_id, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_VERSION_TOP, e);

    if (rc)
        return rc;
    sdb_int(&q, model_id);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_VERSION_GET[] = VERSION_COLS " WHERE model_id = ? AND version = ?";

int store_version_get(struct store *s, int64_t model_id, const char *version, json_t **out,
                      struct ag_err *e)
{
    struct sdb_q q;
    json_t *v = NULL;
    int rc = sdb_tx_begin(s, false, e);

    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_VERSION_GET, e);
    if (rc)
        goto out;
    sdb_int(&q, model_id);
    sdb_text(&q, version);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, "version", "no such version");
    if (rc == 1) {
        v = sdb_row_json(&q);
        rc = v ? 0 : ag_err_set(e, AG_ENOMEM);
    }
    sdb_close(&q);
    if (!rc)
        rc = add_files(s, v, e);
out:
    rc = sdb_tx_end(s, rc, e);
    if (rc)
        json_decref(v);
    else
        *out = v;
    return rc;
}

static const char SQL_VERSION_UPDATE[] =
    "UPDATE versions SET changelog = coalesce(?, changelog) WHERE id = ?";

int store_version_update(struct store *s, int64_t version_id, const char *changelog,
                         struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_VERSION_UPDATE, e);

    if (rc)
        return rc;
    sdb_text(&q, changelog);
    sdb_int(&q, version_id);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such version");
    sdb_close(&q);
    return rc;
}

static const char SQL_VERSION_PUBLISH[] =
    "UPDATE versions SET state = 'published', published_at = ? WHERE id = ? AND state = 'draft'";
static const char SQL_VERSION_EXISTS[] = "SELECT 1 FROM versions WHERE id = ?";

/* Publishing is one-way: AG_ECONFLICT if the version is already published. */
int store_version_publish(struct store *s, int64_t version_id, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    bool changed = false;
    int rc = sdb_open(&q, s, SQL_VERSION_PUBLISH, e);

    if (rc)
        return rc;
    sdb_int(&q, now);
    sdb_int(&q, version_id);
    rc = sdb_exec(&q, e);
    changed = !rc && sdb_changes(&q) > 0;
    sdb_close(&q);
    if (rc || changed)
        return rc;
    rc = sdb_open(&q, s, SQL_VERSION_EXISTS, e);
    if (rc)
        return rc;
    sdb_int(&q, version_id);
    rc = sdb_step(&q, e);
    sdb_close(&q);
    if (rc == 1)
        return ag_errf(e, AG_ECONFLICT, "version", "the version is already published");
    return rc ? rc : ag_errf(e, AG_ENOTFOUND, NULL, "no such version");
}

static const char SQL_FILE_PUT[] =
    "INSERT INTO version_files (version_id, name, size, cid, sha256, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (version_id, name) DO UPDATE SET"
    " size = excluded.size, cid = excluded.cid, sha256 = excluded.sha256,"
    " created_at = excluded.created_at RETURNING id";

/* A replaced file keeps its id (and so its download records). */
int store_file_put(struct store *s, int64_t version_id, const char *name, int64_t size,
                   const char *cid, const char *sha256, int64_t now, int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int64_t file_id = 0;
    int rc;

    if (!name || !name[0])
        return ag_errf(e, AG_EINVAL, "name", "a file needs a name");
    if (size < 0)
        return ag_errf(e, AG_EINVAL, "size", "size must not be negative");
    rc = sdb_open(&q, s, SQL_FILE_PUT, e);
    if (rc)
        return rc;
    sdb_int(&q, version_id);
    sdb_text(&q, name);
    sdb_int(&q, size);
    sdb_text(&q, cid);
    sdb_text(&q, sha256);
    sdb_int(&q, now);
    rc = sdb_step(&q, e);
    if (rc == 1) {
        file_id = sqlite3_column_int64(q.st, 0);
        rc = sdb_exec(&q, e);
    } else if (rc == 0) {
        rc = ag_errf(e, AG_EDB, NULL, "the file write returned no id");
    }
    sdb_close(&q);
    if (!rc && id)
        *id = file_id;
    return rc;
}

static const char SQL_FILE_DELETE[] = "DELETE FROM version_files WHERE version_id = ? AND name = ?";

int store_file_delete(struct store *s, int64_t version_id, const char *name, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_FILE_DELETE, e);

    if (rc)
        return rc;
    sdb_int(&q, version_id);
    sdb_text(&q, name);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) == 0)
        rc = ag_errf(e, AG_ENOTFOUND, "name", "no such file");
    sdb_close(&q);
    return rc;
}

static const char SQL_DOWNLOAD_INSERT[] =
    "INSERT INTO downloads (file_id, who, day) VALUES (?, ?, ?) ON CONFLICT DO NOTHING";
static const char SQL_DOWNLOAD_COUNT[] =
    "UPDATE models SET downloads = downloads + 1 WHERE id = (SELECT v.model_id"
    " FROM version_files f JOIN versions v ON v.id = f.version_id WHERE f.id = ?)";

int store_download_record(struct store *s, int64_t file_id, const char *who, int64_t day,
                          bool *counted, struct ag_err *e)
{
    struct sdb_q q;
    bool fresh = false;
    int rc;

    if (!who || !who[0])
        return ag_errf(e, AG_EINVAL, "who", "a download needs a downloader");
    rc = sdb_tx_begin(s, true, e);
    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_DOWNLOAD_INSERT, e);
    if (rc)
        goto out;
    sdb_int(&q, file_id);
    sdb_text(&q, who);
    sdb_int(&q, day);
    rc = sdb_exec(&q, e);
    fresh = !rc && sdb_changes(&q) > 0;
    sdb_close(&q);
    if (!fresh)
        goto out;
    rc = sdb_open(&q, s, SQL_DOWNLOAD_COUNT, e);
    if (rc)
        goto out;
    sdb_int(&q, file_id);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
out:
    rc = sdb_tx_end(s, rc, e);
    if (!rc && counted)
        *counted = fresh;
    return rc;
}

/* ---- likes ---------------------------------------------------------------- */

static const char SQL_LIKE_ADD[] =
    "INSERT INTO likes (user_id, model_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING";
static const char SQL_LIKE_DEL[] = "DELETE FROM likes WHERE user_id = ? AND model_id = ?";
static const char SQL_LIKES_ADJUST[] = "UPDATE models SET likes = likes + ? WHERE id = ?";
static const char SQL_LIKES_GET[] = "SELECT likes FROM models WHERE id = ?";

/* adjust_likes() adds `delta` to the model's count and reads the result into *likes. */
static int adjust_likes(struct store *s, int64_t model_id, int delta, int64_t *likes,
                        struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (delta) {
        rc = sdb_open(&q, s, SQL_LIKES_ADJUST, e);
        if (rc)
            return rc;
        sdb_int(&q, delta);
        sdb_int(&q, model_id);
        rc = sdb_exec(&q, e);
        sdb_close(&q);
        if (rc)
            return rc;
    }
    rc = sdb_open(&q, s, SQL_LIKES_GET, e);
    if (rc)
        return rc;
    sdb_int(&q, model_id);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    if (rc == 1) {
        if (likes)
            *likes = sqlite3_column_int64(q.st, 0);
        rc = 0;
    }
    sdb_close(&q);
    return rc;
}

int store_like_set(struct store *s, int64_t user_id, int64_t model_id, bool on, int64_t now,
                   int64_t *likes, struct ag_err *e)
{
    struct sdb_q q;
    int64_t n = 0;
    int delta = 0;
    int rc = sdb_tx_begin(s, true, e);

    if (rc)
        return rc;
    rc = sdb_open(&q, s, on ? SQL_LIKE_ADD : SQL_LIKE_DEL, e);
    if (rc)
        goto out;
    sdb_int(&q, user_id);
    sdb_int(&q, model_id);
    if (on)
        sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) > 0)
        delta = on ? 1 : -1;
    sdb_close(&q);
    if (!rc)
        rc = adjust_likes(s, model_id, delta, &n, e);
out:
    rc = sdb_tx_end(s, rc, e);
    if (!rc && likes)
        *likes = n;
    return rc;
}

static const char SQL_LIKE_GET[] = "SELECT 1 FROM likes WHERE user_id = ? AND model_id = ?";

int store_like_get(struct store *s, int64_t user_id, int64_t model_id, bool *liked,
                   struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_LIKE_GET, e);

    if (rc)
        return rc;
    sdb_int(&q, user_id);
    sdb_int(&q, model_id);
    rc = sdb_step(&q, e);
    sdb_close(&q);
    if (rc < 0)
        return rc;
    *liked = rc == 1;
    return 0;
}

/* ---- reviews -------------------------------------------------------------- */

static const char SQL_REVIEW_FIND[] =
    "SELECT id, rating FROM reviews WHERE model_id = ? AND user_id = ?";
static const char SQL_REVIEW_INSERT[] =
    "INSERT INTO reviews (model_id, user_id, rating, body, verified, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, coalesce(?4, ''), ?5, ?6, ?6)";
static const char SQL_REVIEW_UPDATE[] =
    "UPDATE reviews SET rating = ?, body = coalesce(?, ''), verified = ?, updated_at = ?"
    " WHERE id = ?";
/* The right-hand sides see the row's old values, so all three move together. */
static const char SQL_RATING_ADJUST[] =
    "UPDATE models SET rating_sum = rating_sum + ?2, rating_count = rating_count + ?3,"
    " rating = CASE WHEN rating_count + ?3 > 0"
    " THEN CAST(rating_sum + ?2 AS REAL) / (rating_count + ?3) ELSE 0.0 END WHERE id = ?1";

int store_review_put(struct store *s, int64_t model_id, int64_t user_id, int rating,
                     const char *body, bool verified, int64_t now, int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int64_t review_id = 0, old = 0;
    bool exists = false;
    int rc;

    if (rating < 1 || rating > 5)
        return ag_errf(e, AG_EINVAL, "rating", "rating must be between 1 and 5");
    rc = sdb_tx_begin(s, true, e);
    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_REVIEW_FIND, e);
    if (rc)
        goto out;
    sdb_int(&q, model_id);
    sdb_int(&q, user_id);
    rc = sdb_step(&q, e);
    if (rc == 1) {
        exists = true;
        review_id = sqlite3_column_int64(q.st, 0);
        old = sqlite3_column_int64(q.st, 1);
        rc = 0;
    }
    sdb_close(&q);
    if (rc)
        goto out;
    rc = sdb_open(&q, s, exists ? SQL_REVIEW_UPDATE : SQL_REVIEW_INSERT, e);
    if (rc)
        goto out;
    if (exists) {
        sdb_int(&q, rating);
        sdb_text(&q, body);
        sdb_int(&q, verified);
        sdb_int(&q, now);
        sdb_int(&q, review_id);
    } else {
        sdb_int(&q, model_id);
        sdb_int(&q, user_id);
        sdb_int(&q, rating);
        sdb_text(&q, body);
        sdb_int(&q, verified);
        sdb_int(&q, now);
    }
    rc = sdb_exec(&q, e);
    if (!rc && !exists)
        review_id = sdb_last_id(&q);
    sdb_close(&q);
    if (rc)
        goto out;
    rc = sdb_open(&q, s, SQL_RATING_ADJUST, e);
    if (rc)
        goto out;
    sdb_int(&q, model_id);
    sdb_int(&q, rating - old);
    sdb_int(&q, exists ? 0 : 1);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
out:
    rc = sdb_tx_end(s, rc, e);
    if (!rc && id)
        *id = review_id;
    return rc;
}

static const char SQL_REVIEW_LIST[] =
    "SELECT r.id AS id, u.username AS user, r.rating AS rating, r.body AS body,"
    " r.verified AS verified, r.created_at AS created_at, r.updated_at AS updated_at"
    " FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.model_id = ?"
    " ORDER BY r.created_at DESC, r.id DESC LIMIT ? OFFSET ?";

int store_review_list(struct store *s, int64_t model_id, int limit, int offset, json_t **out,
                      struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (limit < 1 || limit > 1000)
        return ag_errf(e, AG_EINVAL, "limit", "limit must be between 1 and 1000");
    if (offset < 0)
        return ag_errf(e, AG_EINVAL, "offset", "offset must not be negative");
    rc = sdb_open(&q, s, SQL_REVIEW_LIST, e);
    if (rc)
        return rc;
    sdb_int(&q, model_id);
    sdb_int(&q, limit);
    sdb_int(&q, offset);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_REVIEW_LIST_BY_USER[] =
    "SELECT r.id AS id, o.username || '/' || m.slug AS model, r.rating AS rating,"
    " r.body AS body, r.verified AS verified, r.created_at AS created_at"
    " FROM reviews r JOIN models m ON m.id = r.model_id JOIN users o ON o.id = m.owner_id"
    " WHERE r.user_id = ? AND m.visibility = 'public'"
    " ORDER BY r.created_at DESC, r.id DESC LIMIT ?";

int store_review_list_by_user(struct store *s, int64_t user_id, int limit, json_t **out,
                              struct ag_err *e)
{
    struct sdb_q q;
    int rc;

    if (limit < 1 || limit > 1000)
        return ag_errf(e, AG_EINVAL, "limit", "limit must be between 1 and 1000");
    rc = sdb_open(&q, s, SQL_REVIEW_LIST_BY_USER, e);
    if (rc)
        return rc;
    sdb_int(&q, user_id);
    sdb_int(&q, limit);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}
