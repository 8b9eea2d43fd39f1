/* sqlite_int.h - internals shared by the SQLite backend's files (not a public API).
 *
 * The backend is split by responsibility: sqlite.c owns connections, the
 * statement cache, errors, transactions, migrations and the row-to-JSON
 * helper; sqlite_user.c accounts, sessions, tokens and throttling;
 * sqlite_model.c listings and search; sqlite_social.c versions, files,
 * downloads, likes and reviews.
 *
 * A query runs through a `struct sdb_q` (sdb_: the SQLite backend's shared internals):
 *     struct sdb_q q;
 *     rc = sdb_open(&q, s, SQL_SOMETHING, e);      // cached prepared statement
 *     sdb_text(&q, name); sdb_int(&q, id);        // bind left to right
 *     rc = sdb_exec(&q, e) or sdb_step(&q, e);    // 0/1 or a negative AG_E*
 *     sdb_close(&q);                               // reset + clear bindings
 * Static SQL must live in static storage: the cache is keyed by its address.
 * Bound strings are bound SQLITE_STATIC, so they must outlive sdb_close().
 * sdb_close() is safe on a q that sdb_open() failed on (sdb_open zeroes it first).
 */
#ifndef AGORA_STORE_SQLITE_INT_H
#define AGORA_STORE_SQLITE_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

/* 78 zeros: the price_key of a free model. */
#define STORE_ZERO_PRICE_KEY                                                                       \
    "000000000000000000000000000000000000000000000000000000000000000000000000000000"

/* The listing's columns, named as store.h documents them; `card` is left to
 * the caller so search can omit it. */
#define MODEL_COLS_HEAD                                                                            \
    "m.id AS id, u.username AS owner, m.owner_id AS owner_id, m.slug AS slug, m.title AS title,"   \
    " m.summary AS summary, "
#define MODEL_COLS_TAIL                                                                            \
    "m.task AS task, m.library AS library, m.license AS license, m.tags AS tags,"                  \
    " m.datasets AS datasets, m.metrics AS metrics, m.language AS language,"                       \
    " m.base_model AS base_model, m.price AS price, m.visibility AS visibility,"                   \
    " m.downloads AS downloads, m.likes AS likes, m.rating AS rating,"                             \
    " m.rating_count AS rating_count, m.created_at AS created_at, m.updated_at AS updated_at"

struct conn;

struct sdb_q {
    struct conn *c;
    sqlite3_stmt *st;
    int nbound;     /* parameters bound so far */
    int bind_rc;    /* first sqlite3_bind_* failure, or SQLITE_OK */
    bool user_expr; /* a plain SQLITE_ERROR at step is the user's FTS expression: AG_EINVAL "q" */
};

/* sdb_open() prepares (or takes from the calling thread's cache) the statement
 * for `sql`, a string in static storage. sdb_open_dyn() does the same for SQL
 * built at run time (cached by text in a small LRU). Both return 0,
 * AG_EDB/AG_EUNAVAILABLE when the connection or statement fails, AG_ENOMEM. */
int sdb_open(struct sdb_q *q, struct store *s, const char *sql, struct ag_err *e);
int sdb_open_dyn(struct sdb_q *q, struct store *s, const char *sql, struct ag_err *e);
void sdb_text(struct sdb_q *q, const char *v); /* NULL binds SQL NULL */
void sdb_int(struct sdb_q *q, int64_t v);
void sdb_real(struct sdb_q *q, double v);
void sdb_null(struct sdb_q *q);
/* sdb_step() returns 1 when a row is ready, 0 when done, or a negative AG_E*. */
int sdb_step(struct sdb_q *q, struct ag_err *e);
/* sdb_exec() steps to the end, ignoring rows; 0 or a negative AG_E*. */
int sdb_exec(struct sdb_q *q, struct ag_err *e);
/* sdb_changes() is the number of rows the last write of this connection changed. */
int64_t sdb_changes(const struct sdb_q *q);
int64_t sdb_last_id(const struct sdb_q *q);
void sdb_close(struct sdb_q *q);

/* sdb_col_copy() copies text column `i` into `out`; AG_ECORRUPT if it does not fit. */
int sdb_col_copy(struct sdb_q *q, int i, char *out, size_t size, struct ag_err *e);

/* sdb_row_json() returns the current row as a new object keyed by column name:
 * integers as integers, reals as reals, text as strings, NULL as null. The
 * JSON-array columns (tags, datasets, metrics, language, links) are parsed
 * into arrays and `verified` becomes a boolean. NULL when out of memory. */
json_t *sdb_row_json(struct sdb_q *q);
/* sdb_rows_json() collects every remaining row into a new array; 0 or AG_E*. */
int sdb_rows_json(struct sdb_q *q, json_t **out, struct ag_err *e);
/* The two most common statements: `sql` with one integer parameter, run for
 * its rows (sdb_rows_by_id(), a new array in *out) or for its effect
 * (sdb_exec_id()). Both return 0 or AG_E*. */
int sdb_rows_by_id(struct store *s, const char *sql, int64_t id, json_t **out, struct ag_err *e);
int sdb_exec_id(struct store *s, const char *sql, int64_t id, struct ag_err *e);
/* sdb_int64() runs `sql`, a statement of one row and one integer column
 * (SELECT count(*) ..., SELECT max(...) ...), into *n (0 for NULL).
 * Returns 0 or AG_E*. */
int sdb_int64(struct store *s, const char *sql, int64_t *n, struct ag_err *e);

/* Atomic sections on the calling thread's connection. sdb_tx_begin() starts
 * BEGIN IMMEDIATE (write) or BEGIN (read) when no transaction is open, and a
 * SAVEPOINT inside one, so sections nest inside store_begin() and each other.
 * sdb_tx_end() commits (rc == 0) or rolls back (rc != 0) the innermost level and
 * returns rc, or the commit's failure. */
int sdb_tx_begin(struct store *s, bool write, struct ag_err *e);
int sdb_tx_end(struct store *s, int rc, struct ag_err *e);

/* sdb_json_array_ok() reports whether `text` is a JSON array (of strings
 * only, when `strings`); NULL counts as fine (the column keeps its value). */
bool sdb_json_array_ok(const char *text, bool strings);

/* ---- search (sqlite_model.c, sqlite_search.c) ---------------------------- */

/* bm25's column weights for title, summary, card and tags: the SQL search
 * and the in-memory index rank with the same. */
#define SDB_BM25_WEIGHTS 10, 5, 1, 3

/* A sort order: its SQL expression, direction and the type of its values. */
struct sdb_sort {
    const char *expr;
    bool asc;
    enum search_key_type type;
};

/* A value of a sort key (a keyset cursor's, or an item's), of the sort's type. */
struct sdb_key {
    const char *s;
    int64_t i;
    double d;
};

const struct sdb_sort *sdb_sort_spec(enum search_sort sort);

/* sdb_search_indexed() answers a text search from the in-memory index:
 * 0 when it did, 1 when SQL must (no index yet, q->sql_only, or a query
 * word the index cannot take), or AG_E*. `after` is the parsed cursor. */
int sdb_search_indexed(struct store *s, const struct search_query *q, const struct sdb_key *after,
                       struct search_result *r, struct ag_err *e);
/* The store's index (NULL until store_search_index_start()), its database
 * path, and its teardown (store_close()). */
struct sx **sdb_sx(struct store *s);
const char *sdb_path(const struct store *s);
/* sdb_commits() counts the commits made in this process so far (by every
 * store): a reader that saw it unchanged knows no write of this process
 * landed in between. */
uint64_t sdb_commits(void);
/* sdb_wal() is false once a connection could not switch to WAL mode (then
 * commits are not counted). sdb_in_tx() tells whether the calling thread's
 * connection is inside a transaction. */
bool sdb_wal(struct store *s);
bool sdb_in_tx(struct store *s);
void sdb_search_index_free(struct store *s);

#endif
