/* sqlite_model.c - listings and their search (FTS5, filters, facets, keyset pages) on SQLite. */
#include "core/common.h"

#include <math.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite_int.h"

#define PRICE_KEY_LEN 78

static bool digits(const char *s, size_t min, size_t max)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n >= min && n <= max;
}

/* check_fields() validates what SQL constraints would catch less clearly. */
static int check_fields(const struct model_fields *f, bool insert, struct ag_err *e)
{
    if (insert && (!f->slug || !f->slug[0]))
        return ag_errf(e, AG_EINVAL, "slug", "slug is required");
    if (insert && !f->title)
        return ag_errf(e, AG_EINVAL, "title", "title is required");
    if (!f->price != !f->price_key)
        return ag_errf(e, AG_EINVAL, "price", "price and price_key go together");
    if (f->price && (!digits(f->price, 1, PRICE_KEY_LEN) ||
                     !digits(f->price_key, PRICE_KEY_LEN, PRICE_KEY_LEN)))
        return ag_errf(e, AG_EINVAL, "price",
                       "price must be a decimal integer and price_key its 78-digit form");
    if (f->visibility && strcmp(f->visibility, "public") && strcmp(f->visibility, "unlisted") &&
        strcmp(f->visibility, "private") && strcmp(f->visibility, "draft"))
        return ag_errf(e, AG_EINVAL, "visibility",
                       "visibility must be public, unlisted, private or draft");
    if (!sdb_json_array_ok(f->tags_json, true))
        return ag_errf(e, AG_EINVAL, "tags", "tags must be a JSON array of strings");
    if (!sdb_json_array_ok(f->datasets_json, false))
        return ag_errf(e, AG_EINVAL, "datasets", "datasets must be a JSON array");
    if (!sdb_json_array_ok(f->metrics_json, false))
        return ag_errf(e, AG_EINVAL, "metrics", "metrics must be a JSON array");
    if (!sdb_json_array_ok(f->language_json, false))
        return ag_errf(e, AG_EINVAL, "language", "language must be a JSON array");
    return 0;
}

/* bind_fields() binds the 15 listing columns in the order of the statements below. */
static void bind_fields(struct sdb_q *q, const struct model_fields *f)
{
    sdb_text(q, f->slug);
    sdb_text(q, f->title);
    sdb_text(q, f->summary);
    sdb_text(q, f->card);
    sdb_text(q, f->task);
    sdb_text(q, f->library);
    sdb_text(q, f->license);
    sdb_text(q, f->base_model);
    sdb_text(q, f->tags_json);
    sdb_text(q, f->datasets_json);
    sdb_text(q, f->metrics_json);
    sdb_text(q, f->language_json);
    sdb_text(q, f->price);
    sdb_text(q, f->price_key);
    sdb_text(q, f->visibility);
}

static const char SQL_TAGS_CLEAR[] = "DELETE FROM model_tags WHERE model_id = ?";
static const char SQL_TAGS_FILL[] =
    "INSERT OR IGNORE INTO model_tags (model_id, tag) SELECT ?, value FROM json_each(?)";

/* sync_tags() makes model_tags hold exactly the tags of `tags_json`. */
static int sync_tags(struct store *s, int64_t id, const char *tags_json, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_TAGS_CLEAR, e);

    if (rc)
        return rc;
    sdb_int(&q, id);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_TAGS_FILL, e);
    if (rc)
        return rc;
    sdb_int(&q, id);
    sdb_text(&q, tags_json);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

/* The card lives in model_cards (migration 0002), and the full-text document
 * (title, summary, card, tags) spans both tables, so the store keeps
 * models_fts in step itself: fts_remove() before a change, with the values the
 * index holds, fts_add() after it. Bound parameter ?5 is the card in the
 * model statements below; they leave it to SQL_CARD_PUT. */
static const char SQL_CARD_PUT[] =
    "INSERT INTO model_cards (model_id, card) VALUES (?, ?)"
    " ON CONFLICT (model_id) DO UPDATE SET card = excluded.card";
static const char SQL_FTS_REMOVE[] =
    "INSERT INTO models_fts (models_fts, rowid, title, summary, card, tags)"
    " SELECT 'delete', id, title, summary, card, tags FROM model_docs WHERE id = ?";
static const char SQL_FTS_ADD[] =
    "INSERT INTO models_fts (rowid, title, summary, card, tags)"
    " SELECT id, title, summary, card, tags FROM model_docs WHERE id = ?";

static int card_put(struct store *s, int64_t id, const char *card, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_CARD_PUT, e);
    if (rc)
        return rc;
    sdb_int(&q, id);
    sdb_text(&q, card);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_MODEL_INSERT[] =
    "INSERT INTO models (owner_id, slug, title, summary, task, library, license,"
    " base_model, tags, datasets, metrics, language, price, price_key, visibility,"
    " created_at, updated_at)"
    " VALUES (?1, ?2, ?3, coalesce(?4, ''), coalesce(?6, ''),"
    " coalesce(?7, ''), coalesce(?8, ''), coalesce(?9, ''), coalesce(?10, '[]'),"
    " coalesce(?11, '[]'), coalesce(?12, '[]'), coalesce(?13, '[]'), coalesce(?14, '0'),"
    " coalesce(?15, '" STORE_ZERO_PRICE_KEY "'), coalesce(?16, 'public'), ?17, ?17)";

int store_model_insert(struct store *s, int64_t owner_id, const struct model_fields *f, int64_t now,
                       int64_t *id, struct ag_err *e)
{
    struct sdb_q q;
    int64_t new_id = 0;
    int rc = check_fields(f, true, e);

    if (rc)
        return rc;
    rc = sdb_tx_begin(s, true, e);
    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_MODEL_INSERT, e);
    if (rc)
        goto out;
    sdb_int(&q, owner_id);
    bind_fields(&q, f);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    new_id = sdb_last_id(&q);
    sdb_close(&q);
    if (!rc)
        rc = sync_tags(s, new_id, f->tags_json ? f->tags_json : "[]", e);
    if (!rc && f->card && f->card[0])
        rc = card_put(s, new_id, f->card, e);
    if (!rc)
        rc = sdb_exec_id(s, SQL_FTS_ADD, new_id, e);
out:
    rc = sdb_tx_end(s, rc, e);
    if (!rc && id)
        *id = new_id;
    return rc;
}

static const char SQL_MODEL_UPDATE[] =
    "UPDATE models SET slug = coalesce(?2, slug), title = coalesce(?3, title),"
    " summary = coalesce(?4, summary), task = coalesce(?6, task),"
    " library = coalesce(?7, library), license = coalesce(?8, license),"
    " base_model = coalesce(?9, base_model), tags = coalesce(?10, tags),"
    " datasets = coalesce(?11, datasets), metrics = coalesce(?12, metrics),"
    " language = coalesce(?13, language), price = coalesce(?14, price),"
    " price_key = coalesce(?15, price_key), visibility = coalesce(?16, visibility),"
    " updated_at = ?17 WHERE id = ?1";

int store_model_update(struct store *s, int64_t id, const struct model_fields *f, int64_t now,
                       struct ag_err *e)
{
    struct sdb_q q;
    int rc = check_fields(f, false, e);

    if (rc)
        return rc;
    if (f->slug && !f->slug[0])
        return ag_errf(e, AG_EINVAL, "slug", "slug must not be empty");
    rc = sdb_tx_begin(s, true, e);
    if (rc)
        return rc;
    rc = sdb_exec_id(s, SQL_FTS_REMOVE, id, e);
    if (rc)
        goto out;
    rc = sdb_open(&q, s, SQL_MODEL_UPDATE, e);
    if (rc)
        goto out;
    sdb_int(&q, id);
    bind_fields(&q, f);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    sdb_close(&q);
    if (!rc && f->tags_json)
        rc = sync_tags(s, id, f->tags_json, e);
    if (!rc && f->card)
        rc = card_put(s, id, f->card, e);
    if (!rc)
        rc = sdb_exec_id(s, SQL_FTS_ADD, id, e);
out:
    return sdb_tx_end(s, rc, e);
}

static const char SQL_MODEL_DELETE[] = "DELETE FROM models WHERE id = ?";

/* Versions, files, downloads, likes, reviews, tags and the card go with the
 * model (ON DELETE CASCADE); its full-text row is removed first. */
int store_model_delete(struct store *s, int64_t id, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_tx_begin(s, true, e);

    if (rc)
        return rc;
    rc = sdb_exec_id(s, SQL_FTS_REMOVE, id, e);
    if (!rc)
        rc = sdb_open(&q, s, SQL_MODEL_DELETE, e);
    if (rc)
        goto out;
    sdb_int(&q, id);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    sdb_close(&q);
out:
    return sdb_tx_end(s, rc, e);
}

static const char SQL_MODEL_GET[] =
    "SELECT " MODEL_COLS_HEAD "coalesce(c.card, '') AS card, " MODEL_COLS_TAIL
    " FROM models m JOIN users u ON u.id = m.owner_id"
    " LEFT JOIN model_cards c ON c.model_id = m.id WHERE u.username = ? AND m.slug = ?";

int store_model_get(struct store *s, const char *owner, const char *slug, json_t **out,
                    struct ag_err *e)
{
    struct sdb_q q;
    json_t *o = NULL;
    int rc = sdb_open(&q, s, SQL_MODEL_GET, e);

    if (rc)
        return rc;
    sdb_text(&q, owner);
    sdb_text(&q, slug);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    if (rc == 1) {
        o = sdb_row_json(&q);
        rc = o ? 0 : ag_err_set(e, AG_ENOMEM);
    }
    sdb_close(&q);
    if (!rc)
        *out = o;
    return rc;
}

/* ---- search --------------------------------------------------------------- */

#define STR_(...) #__VA_ARGS__
#define STR(...)  STR_(__VA_ARGS__)

static const struct sdb_sort sorts[] = {
    [SORT_RELEVANCE] = {"h.rank", true, SEARCH_KEY_REAL},
    [SORT_NEWEST] = {"m.created_at", false, SEARCH_KEY_INT},
    [SORT_UPDATED] = {"m.updated_at", false, SEARCH_KEY_INT},
    [SORT_DOWNLOADS] = {"m.downloads", false, SEARCH_KEY_INT},
    [SORT_LIKES] = {"m.likes", false, SEARCH_KEY_INT},
    [SORT_RATING] = {"m.rating", false, SEARCH_KEY_REAL},
    [SORT_PRICE_ASC] = {"m.price_key", true, SEARCH_KEY_TEXT},
    [SORT_PRICE_DESC] = {"m.price_key", false, SEARCH_KEY_TEXT},
};

const struct sdb_sort *sdb_sort_spec(enum search_sort sort)
{
    return &sorts[sort];
}

#define SEARCH_MAX_ARGS 32
#define SEARCH_SQL_MAX  8192

/* A parameter of the search statement, bound in order. */
struct arg {
    enum search_key_type type;
    struct sdb_key v;
};

/* The parts of a search both its statements share. */
struct search {
    const struct search_query *q;
    const struct sdb_sort *sort;
    const char *fts;  /* the FTS5 expression, or NULL */
    struct buf from;  /* " FROM ... WHERE <filters>" */
    struct arg args[SEARCH_MAX_ARGS];
    int nargs;
    struct sdb_key cursor;
};

static void arg_text(struct search *x, const char *s)
{
    assert(x->nargs < SEARCH_MAX_ARGS);
    x->args[x->nargs++] = (struct arg){.type = SEARCH_KEY_TEXT, .v.s = s};
}

static void arg_real(struct search *x, double d)
{
    assert(x->nargs < SEARCH_MAX_ARGS);
    x->args[x->nargs++] = (struct arg){.type = SEARCH_KEY_REAL, .v.d = d};
}

static void bind_key(struct sdb_q *q, enum search_key_type type, const struct sdb_key *k)
{
    if (type == SEARCH_KEY_TEXT)
        sdb_text(q, k->s);
    else if (type == SEARCH_KEY_REAL)
        sdb_real(q, k->d);
    else
        sdb_int(q, k->i);
}

/* fts_expression() makes the FTS5 query of the words: each a quoted prefix
 * term, all required. The market lets only letters and digits into a word,
 * so no word holds a quote. */
static int fts_expression(const struct search_query *q, struct buf *out, struct ag_err *e)
{
    int rc = 0;

    for (int i = 0; !rc && i < q->nwords; i++) {
        if (strchr(q->words[i], '"'))
            return ag_errf(e, AG_EINVAL, "q", "a search word cannot hold a quote");
        rc = buf_addf(out, "%s\"%s\"*", i ? " " : "", q->words[i]);
    }
    return rc ? ag_errf(e, rc, "q", "the query is too long") : 0;
}

/* parse_cursor() converts the text cursor to the sort column's type. */
static int parse_cursor(struct search *x, struct ag_err *e)
{
    const char *k = x->q->after_key;
    char *end;

    if (x->sort->type == SEARCH_KEY_TEXT) {
        if (!digits(k, PRICE_KEY_LEN, PRICE_KEY_LEN))
            return ag_errf(e, AG_EINVAL, "cursor", "the cursor is not valid for this sort");
        x->cursor.s = k;
    } else if (x->sort->type == SEARCH_KEY_INT) {
        if (parse_i64(k, &x->cursor.i))
            return ag_errf(e, AG_EINVAL, "cursor", "the cursor is not valid for this sort");
    } else {
        errno = 0;
        x->cursor.d = strtod(k, &end);
        if (!k[0] || *end || errno || !isfinite(x->cursor.d))
            return ag_errf(e, AG_EINVAL, "cursor", "the cursor is not valid for this sort");
    }
    return 0;
}

/* build_from() writes the FROM and WHERE clauses common to the page and the
 * facets, collecting their parameters; every user value is a parameter. */
static int build_from(struct search *x, struct ag_err *e)
{
    const struct search_query *q = x->q;
    struct buf *b = &x->from;
    int rc = buf_adds(b, " FROM models m JOIN users u ON u.id = m.owner_id");

    if (x->fts)
        rc = rc ? rc : buf_adds(b, " JOIN hits h ON h.id = m.id");
    rc = rc ? rc : buf_adds(b, " WHERE 1");
    if (!q->include_hidden)
        rc = rc ? rc : buf_adds(b, " AND m.visibility = 'public'");
    if (q->task) {
        rc = rc ? rc : buf_adds(b, " AND m.task = ?");
        arg_text(x, q->task);
    }
    if (q->library) {
        rc = rc ? rc : buf_adds(b, " AND m.library = ?");
        arg_text(x, q->library);
    }
    if (q->license) {
        rc = rc ? rc : buf_adds(b, " AND m.license = ?");
        arg_text(x, q->license);
    }
    if (q->owner) {
        rc = rc ? rc : buf_adds(b, " AND u.username = ?");
        arg_text(x, q->owner);
    }
    for (int i = 0; i < q->ntags; i++) {
        rc = rc ? rc
                : buf_adds(b, " AND EXISTS (SELECT 1 FROM model_tags t"
                              " WHERE t.model_id = m.id AND t.tag = ?)");
        arg_text(x, q->tags[i]);
    }
    if (q->price_min_key) {
        rc = rc ? rc : buf_adds(b, " AND m.price_key >= ?");
        arg_text(x, q->price_min_key);
    }
    if (q->price_max_key) {
        rc = rc ? rc : buf_adds(b, " AND m.price_key <= ?");
        arg_text(x, q->price_max_key);
    }
    if (q->free_only) {
        rc = rc ? rc : buf_adds(b, " AND m.price_key = ?");
        arg_text(x, STORE_ZERO_PRICE_KEY);
    }
    if (q->min_rating > 0) {
        rc = rc ? rc : buf_adds(b, " AND m.rating >= ?");
        arg_real(x, q->min_rating);
    }
    if (rc == AG_ENOMEM)
        return ag_err_set(e, rc);
    return rc ? ag_errf(e, rc, NULL, "the search is too complex") : 0;
}

static const char HITS_CTE[] =
    "hits AS MATERIALIZED (SELECT rowid AS id, bm25(models_fts, " STR(SDB_BM25_WEIGHTS) ") AS rank"
    " FROM models_fts WHERE models_fts MATCH ?)";
/* Counting needs the matches, not their rank: bm25 over tens of thousands of
 * matches costs more than the count itself. */
static const char HITS_UNRANKED_CTE[] =
    "hits AS MATERIALIZED (SELECT rowid AS id FROM models_fts WHERE models_fts MATCH ?)";

/* add_item() appends the current row (the listing, then its sort key as the
 * last column) to the result. */
static int add_item(struct sdb_q *q, struct search_result *r)
{
    sqlite3_stmt *st = q->st;
    int last = sqlite3_column_count(st) - 1;
    struct search_item *it = &r->items[r->nitems];
    json_t *row = sdb_row_json(q);
    int rc;

    if (!row || json_object_del(row, "sort_key")) {
        json_decref(row);
        return AG_ENOMEM;
    }
    it->id = sqlite3_column_int64(st, 0);
    if (r->key_type == SEARCH_KEY_REAL)
        it->key_d = sqlite3_column_double(st, last);
    else if (r->key_type == SEARCH_KEY_INT)
        it->key_i = sqlite3_column_int64(st, last);
    else
        str_copy(it->key_s, (const char *)sqlite3_column_text(st, last), sizeof(it->key_s));
    it->off = r->text.n;
    rc = json_dump_buf(&r->text, row);
    json_decref(row);
    if (rc)
        return rc;
    it->len = r->text.n - it->off;
    r->nitems++;
    return 0;
}

/* search_page() runs the page query and collects the items. */
static int search_page(struct store *s, struct search *x, struct search_result *r,
                       struct ag_err *e)
{
    const struct sdb_sort *o = x->sort;
    const char *dir = o->asc ? "ASC" : "DESC";
    struct buf sql;
    struct sdb_q q = {0};
    int rc;

    buf_init(&sql, SEARCH_SQL_MAX);
    rc = buf_addf(&sql, "%s%s%sSELECT " MODEL_COLS_HEAD MODEL_COLS_TAIL ", %s AS sort_key%s",
                  x->fts ? "WITH " : "", x->fts ? HITS_CTE : "", x->fts ? " " : "", o->expr,
                  x->from.p);
    if (!rc && x->q->after_key)
        rc = buf_addf(&sql, " AND (%s, m.id) %s (?, ?)", o->expr, o->asc ? ">" : "<");
    if (!rc)
        rc = buf_addf(&sql, " ORDER BY %s %s, m.id %s LIMIT ?", o->expr, dir, dir);
    if (rc) {
        rc =
            rc == AG_ENOMEM ? ag_err_set(e, rc) : ag_errf(e, rc, NULL, "the search is too complex");
        goto out;
    }
    rc = sdb_open_dyn(&q, s, sql.p, e);
    if (rc)
        goto out;
    q.user_expr = x->fts != NULL;
    if (x->fts)
        sdb_text(&q, x->fts);
    for (int i = 0; i < x->nargs; i++)
        bind_key(&q, x->args[i].type, &x->args[i].v);
    if (x->q->after_key) {
        bind_key(&q, o->type, &x->cursor);
        sdb_int(&q, x->q->after_id);
    }
    sdb_int(&q, x->q->limit);
    while (r->nitems < x->q->limit && (rc = sdb_step(&q, e)) == 1)
        if ((rc = add_item(&q, r))) {
            rc = ag_err_set(e, rc);
            break;
        }
out:
    sdb_close(&q);
    buf_release(&sql);
    return rc;
}

static const char SQL_FACETS_ALL[] = "SELECT facet, value, n FROM facet_counts WHERE n > 0";

/* search_facets() counts task, license and library values and the total
 * over the whole filtered set, in one statement. The unfiltered public
 * catalogue reads the counts that triggers keep in facet_counts. */
static int search_facets(struct store *s, struct search *x, struct search_result *r,
                         struct ag_err *e)
{
    static const char *const names[] = {"task", "license", "library"};
    bool unfiltered = !x->fts && x->nargs == 0 && !x->q->include_hidden;
    struct buf sql;
    struct sdb_q q = {0};
    json_t *f = json_pack("{s:{},s:{},s:{}}", "task", "license", "library");
    int64_t n = 0;
    int rc = f ? 0 : ag_err_set(e, AG_ENOMEM);

    buf_init(&sql, SEARCH_SQL_MAX);
    if (rc)
        goto out;
    if (unfiltered) {
        rc = sdb_open(&q, s, SQL_FACETS_ALL, e);
    } else {
        rc = buf_addf(&sql,
                      "WITH %s%sf AS MATERIALIZED (SELECT m.task AS task,"
                      " m.license AS license, m.library AS library%s)",
                      x->fts ? HITS_UNRANKED_CTE : "", x->fts ? ", " : "", x->from.p);
        for (size_t i = 0; !rc && i < ARRAY_SIZE(names); i++)
            rc = buf_addf(&sql,
                          " SELECT '%s', %s, count(*) FROM f WHERE %s <> '' GROUP BY %s"
                          " UNION ALL",
                          names[i], names[i], names[i], names[i]);
        if (!rc)
            rc = buf_adds(&sql, " SELECT '', NULL, count(*) FROM f");
        if (rc) {
            rc = rc == AG_ENOMEM ? ag_err_set(e, rc)
                                 : ag_errf(e, rc, NULL, "the search is too complex");
            goto out;
        }
        rc = sdb_open_dyn(&q, s, sql.p, e);
    }
    if (rc)
        goto out;
    if (!unfiltered) {
        q.user_expr = x->fts != NULL;
        if (x->fts)
            sdb_text(&q, x->fts);
        for (int i = 0; i < x->nargs; i++)
            bind_key(&q, x->args[i].type, &x->args[i].v);
    }
    while ((rc = sdb_step(&q, e)) == 1) {
        const char *facet = (const char *)sqlite3_column_text(q.st, 0);
        const char *value = (const char *)sqlite3_column_text(q.st, 1);
        int64_t count = sqlite3_column_int64(q.st, 2);
        json_t *group = facet && *facet ? json_object_get(f, facet) : NULL;
        if (!group) {
            n = count;
            continue;
        }
        if (!value || !*value)
            continue;
        if (json_object_set_new(group, value, json_integer(count))) {
            rc = ag_err_set(e, AG_ENOMEM);
            break;
        }
    }
    if (!rc) {
        r->total = n;
        rc = json_dump_buf(&r->facets, f) ? ag_err_set(e, AG_ENOMEM) : 0;
    }
out:
    sdb_close(&q);
    json_decref(f);
    buf_release(&sql);
    return rc;
}

void search_result_init(struct search_result *r)
{
    r->nitems = 0;
    r->total = 0;
    r->indexed = false;
    buf_init(&r->text, BUF_MAX_DEFAULT);
    buf_init(&r->facets, BUF_MAX_DEFAULT);
}

void search_item_key(const struct search_result *r, int i, char out[80])
{
    const struct search_item *it = &r->items[i];

    if (r->key_type == SEARCH_KEY_REAL)
        snprintf(out, 80, "%.17g", it->key_d);
    else if (r->key_type == SEARCH_KEY_INT)
        snprintf(out, 80, "%" PRId64, it->key_i);
    else
        str_copy(out, it->key_s, 80);
}

void search_result_release(struct search_result *r)
{
    buf_release(&r->text);
    buf_release(&r->facets);
    r->nitems = 0;
}

int store_model_search(struct store *s, const struct search_query *q, struct search_result *r,
                       struct ag_err *e)
{
    struct search x = {.q = q};
    struct buf fts;
    int rc;

    if (q->limit < 1 || q->limit > SEARCH_MAX_ROWS)
        return ag_errf(e, AG_EINVAL, "limit", "limit must be between 1 and %d", SEARCH_MAX_ROWS);
    if (q->ntags < 0 || q->ntags > SEARCH_MAX_TAGS)
        return ag_errf(e, AG_EINVAL, "tags", "at most %d tags", SEARCH_MAX_TAGS);
    for (int i = 0; i < q->ntags; i++)
        if (!q->tags[i])
            return ag_errf(e, AG_EINVAL, "tags", "a tag is missing");
    if (q->nwords < 0 || q->nwords > SEARCH_MAX_WORDS)
        return ag_errf(e, AG_EINVAL, "q", "at most %d words", SEARCH_MAX_WORDS);
    for (int i = 0; i < q->nwords; i++)
        if (!q->words[i] || !q->words[i][0])
            return ag_errf(e, AG_EINVAL, "q", "a search word is empty");
    if ((unsigned)q->sort >= ARRAY_SIZE(sorts))
        return ag_errf(e, AG_EINVAL, "sort", "unknown sort order");
    if (isnan(q->min_rating))
        return ag_errf(e, AG_EINVAL, "min_rating", "min_rating must be a number");
    x.sort = &sorts[q->sort == SORT_RELEVANCE && !q->nwords ? SORT_NEWEST : q->sort];
    if (q->after_key && (rc = parse_cursor(&x, e)))
        return rc;
    r->nitems = 0;
    r->total = 0;
    r->indexed = false;
    r->key_type = x.sort->type;
    buf_reset(&r->text);
    buf_reset(&r->facets);
    if (q->nwords) {
        rc = sdb_search_indexed(s, q, q->after_key ? &x.cursor : NULL, r, e);
        if (rc <= 0)
            return rc;
        r->nitems = 0;
        buf_reset(&r->text);
        buf_reset(&r->facets);
    }

    buf_init(&fts, SEARCH_SQL_MAX);
    buf_init(&x.from, SEARCH_SQL_MAX);
    if (q->nwords) {
        if ((rc = fts_expression(q, &fts, e)))
            goto out;
        x.fts = fts.p;
    }
    rc = build_from(&x, e);
    if (rc)
        goto out;
    /* One read transaction: the page and the counts see the same snapshot. */
    rc = sdb_tx_begin(s, false, e);
    if (rc)
        goto out;
    rc = search_page(s, &x, r, e);
    if (!rc)
        rc = search_facets(s, &x, r, e);
    rc = sdb_tx_end(s, rc, e);
out:
    if (rc) {
        r->nitems = 0;
        buf_reset(&r->text);
        buf_reset(&r->facets);
    }
    buf_release(&fts);
    buf_release(&x.from);
    return rc;
}
