/* sqlite.c - SQLite backend core: connections, statement cache, transactions, migrations. */
#include "core/common.h"

#include <stdatomic.h>

#include <pthread.h>
#include <unistd.h>

#include "core/embed.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite_int.h"

extern const struct embedded_file store_migrations[];

#define BUSY_TIMEOUT_MS 5000
#define STMT_SLOTS_MIN  16 /* power of two; the table doubles as statements arrive */
#define DYN_SLOTS       16

/* A cached statement of static SQL, keyed by the address of its text. */
struct stmt_slot {
    const char *sql;
    sqlite3_stmt *st;
};

/* A cached statement of SQL built at run time, keyed by its text (LRU). */
struct dyn_slot {
    char *sql;
    sqlite3_stmt *st;
    uint64_t used;
};

/* One thread's connection. Only its thread touches it, except store_close(). */
struct conn {
    struct store *s;
    sqlite3 *db;
    struct stmt_slot *slots; /* open addressing; nslots is a power of two */
    size_t nslots, nused;
    struct dyn_slot dyn[DYN_SLOTS];
    uint64_t tick;
    int depth;                /* open transaction levels: 0 none, 1 BEGIN, more are savepoints */
    uint64_t bare;            /* bit d: level d+1 is a read nested in another level, no savepoint */
    sqlite3_stmt *verbs[4];   /* BEGIN, BEGIN IMMEDIATE, COMMIT, ROLLBACK, prepared once */
    struct conn *prev, *next; /* every connection of the store, under s->lock */
};

/* Invariants: `key` maps each thread to its connection (or NULL); every
 * connection is on `conns` until it is closed. */
struct store {
    char *path;
    pthread_key_t key;
    pthread_mutex_t lock;
    struct conn *conns;
    int version;
    struct sx *sx;      /* the in-memory search index, or NULL */
    atomic_bool no_wal; /* a connection could not switch to WAL: commits are not counted */
};

/* Commits by any connection of any store in this process, counted after
 * each commit (the WAL hook runs once the commit is durable and visible):
 * the search index looks at the change log only when this moved. */
static atomic_uint_fast64_t commits;

#define WAL_AUTOCHECKPOINT 1000 /* pages: SQLite's default */

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    UNUSED(arg);
    atomic_fetch_add(&commits, 1);
    /* A WAL hook replaces SQLite's automatic checkpoint: do what it did. */
    if (pages >= WAL_AUTOCHECKPOINT)
        sqlite3_wal_checkpoint(db, name);
    return SQLITE_OK;
}

uint64_t sdb_commits(void)
{
    return atomic_load(&commits);
}

bool sdb_wal(struct store *s)
{
    return !atomic_load(&s->no_wal);
}

bool sdb_in_tx(struct store *s)
{
    struct conn *c = pthread_getspecific(s->key);
    return c && c->depth > 0;
}

/* on_journal_mode() notes a connection left out of WAL mode (a file system
 * without shared memory, say): SQLite's PRAGMA answers with the mode it kept. */
static int on_journal_mode(void *arg, int ncols, char **values, char **names)
{
    struct store *s = arg;
    UNUSED(names);
    if (ncols < 1 || !values[0] || strcmp(values[0], "wal"))
        atomic_store(&s->no_wal, true);
    return 0;
}

struct sx **sdb_sx(struct store *s)
{
    return &s->sx;
}

const char *sdb_path(const struct store *s)
{
    return s->path;
}

/* ---- errors --------------------------------------------------------------- */

/* constraint_field() copies the column a constraint message names into `out`:
 * the last "table.column" of "UNIQUE constraint failed: t.a, t.b" (the key's
 * distinguishing column), or the first identifier of a CHECK expression. */
static void constraint_field(const char *msg, bool check, char *out, size_t size)
{
    const char *p = strstr(msg, "failed: "), *dot;
    size_t n = 0;

    out[0] = '\0';
    if (!p)
        return;
    p += strlen("failed: ");
    if (!check && (dot = strrchr(p, '.')))
        p = dot + 1;
    while (p[n] && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
                    (p[n] >= '0' && p[n] <= '9')))
        n++;
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* map_err() turns SQLite result `rc` (extended) into an AG_E* code in `e`. */
static int map_err(struct conn *c, int rc, bool user_expr, struct ag_err *e)
{
    const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
    char field[64];

    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            constraint_field(msg, false, field, sizeof(field));
            return ag_errf(e, AG_EEXISTS, field, "%s is already taken", field[0] ? field : "key");
        }
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return ag_errf(e, AG_ENOTFOUND, NULL, "a record it refers to does not exist");
        if (rc == SQLITE_CONSTRAINT_NOTNULL) {
            constraint_field(msg, false, field, sizeof(field));
            return ag_errf(e, AG_EINVAL, field, "%s is required", field);
        }
        if (rc == SQLITE_CONSTRAINT_CHECK) {
            constraint_field(msg, true, field, sizeof(field));
            return ag_errf(e, AG_EINVAL, field, "%s has a value that is not allowed", field);
        }
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        log_warn("store: database busy: %s", msg);
        return ag_errf(e, AG_EUNAVAILABLE, NULL, "the database is busy; try again");
    case SQLITE_NOMEM:
        return ag_err_set(e, AG_ENOMEM);
    case SQLITE_TOOBIG:
        return ag_errf(e, AG_ETOOBIG, NULL, "a value is too large for the database");
    case SQLITE_ERROR:
        if (user_expr)
            return ag_errf(e, AG_EINVAL, "q", "the search query does not parse: %s", msg);
        break;
    default:
        break;
    }
    log_error("store: sqlite error %d: %s", rc, msg);
    return ag_errf(e, AG_EDB, NULL, "database error: %s", msg);
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(struct conn *c)
{
    int rc;

    if (!c)
        return;
    /* SQLite's advice for long-lived connections: refresh planner statistics on close. */
    if (c->db)
        sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
    for (size_t i = 0; i < c->nslots; i++)
        sqlite3_finalize(c->slots[i].st);
    for (size_t i = 0; i < ARRAY_SIZE(c->verbs); i++)
        sqlite3_finalize(c->verbs[i]);
    for (size_t i = 0; i < DYN_SLOTS; i++) {
        sqlite3_finalize(c->dyn[i].st);
        free(c->dyn[i].sql);
    }
    free(c->slots);
    rc = sqlite3_close(c->db);
    if (rc != SQLITE_OK)
        log_error("store: closing a connection failed: %s", sqlite3_errstr(rc));
    free(c);
}

/* conn_unlink() takes `c` off its store's list. */
static void conn_unlink(struct conn *c)
{
    struct store *s = c->s;

    pthread_mutex_lock(&s->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->lock);
}

/* The thread-exit destructor of the store's key: closes that thread's connection. */
static void conn_thread_exit(void *p)
{
    struct conn *c = p;

    conn_unlink(c);
    conn_free(c);
}

/* exec_simple() runs SQL that takes no parameters (pragmas, transaction verbs). */
static int exec_simple(struct conn *c, const char *sql, struct ag_err *e)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : map_err(c, sqlite3_extended_errcode(c->db), false, e);
}

enum tx_verb { VERB_BEGIN, VERB_BEGIN_IMMEDIATE, VERB_COMMIT, VERB_ROLLBACK };

/* exec_verb() runs a transaction verb from a statement prepared on first
 * use: every read of the API opens and closes a transaction, and
 * sqlite3_exec() would parse the verb each time. */
static int exec_verb(struct conn *c, enum tx_verb v, struct ag_err *e)
{
    static const char *const sql[] = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
    int rc = SQLITE_OK;

    if (!c->verbs[v])
        rc = sqlite3_prepare_v3(c->db, sql[v], -1, SQLITE_PREPARE_PERSISTENT, &c->verbs[v], NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(c->verbs[v]);
        sqlite3_reset(c->verbs[v]);
    }
    return rc == SQLITE_OK || rc == SQLITE_DONE
               ? 0
               : map_err(c, sqlite3_extended_errcode(c->db), false, e);
}

/* conn_open() opens a connection for the calling thread and registers it.
 * Returns 0, AG_EDB when SQLite cannot open the file, AG_ENOMEM. */
static int conn_open(struct store *s, struct conn **out, struct ag_err *e)
{
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    struct conn *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return ag_err_set(e, AG_ENOMEM);
    c->s = s;
    c->nslots = STMT_SLOTS_MIN;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->slots) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: cannot open database %s: %s", s->path,
                  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        rc = ag_errf(e, AG_EDB, NULL, "cannot open the database %s: %s", s->path,
                     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    /* Switching a new database to WAL needs an exclusive lock and does not
     * wait in the busy handler: while another connection (another node, or
     * a thread) is creating the schema, retry for the busy timeout. */
    for (int waited = 0;; waited += 20) {
        rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", on_journal_mode, s, NULL);
        if (rc != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
            break;
        usleep(20000);
    }
    rc = rc == SQLITE_OK ? 0 : map_err(c, sqlite3_extended_errcode(c->db), false, e);
    if (rc)
        goto out;
    rc = exec_simple(c,
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA foreign_keys = ON;"
                     /* Reads through a shared memory map rather than a read()
                      * per page, and a larger private page cache: a broad
                      * search visits tens of thousands of rows. */
                     "PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -32768;",
                     e);
    if (rc)
        goto out;
    /* After every commit (also replaces the automatic checkpoint: a later
     * PRAGMA wal_autocheckpoint would remove this hook). */
    sqlite3_wal_hook(c->db, on_wal_commit, NULL);
    if (pthread_setspecific(s->key, c)) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    *out = c;
    c = NULL;
out:
    conn_free(c);
    return rc;
}

/* conn_get() returns the calling thread's connection, opening it on first use. */
static int conn_get(struct store *s, struct conn **out, struct ag_err *e)
{
    struct conn *c = pthread_getspecific(s->key);

    if (c) {
        *out = c;
        return 0;
    }
    return conn_open(s, out, e);
}

/* ---- statement cache ------------------------------------------------------ */

static size_t slot_hash(const char *sql, size_t nslots)
{
    uint64_t h = (uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >> 32) & (nslots - 1);
}

/* slots_grow() doubles the table and rehashes; 0 or AG_ENOMEM. */
static int slots_grow(struct conn *c)
{
    size_t n = c->nslots * 2;
    struct stmt_slot *t = calloc(n, sizeof(*t));

    if (!t)
        return AG_ENOMEM;
    for (size_t i = 0; i < c->nslots; i++) {
        size_t j;
        if (!c->slots[i].sql)
            continue;
        for (j = slot_hash(c->slots[i].sql, n); t[j].sql; j = (j + 1) & (n - 1))
            ;
        t[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = t;
    c->nslots = n;
    return 0;
}

static int prepare(struct conn *c, const char *sql, sqlite3_stmt **st, struct ag_err *e)
{
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    if (rc == SQLITE_OK)
        return 0;
    *st = NULL;
    return map_err(c, rc, false, e);
}

int sdb_open(struct sdb_q *q, struct store *s, const char *sql, struct ag_err *e)
{
    struct conn *c = NULL;
    size_t i;
    int rc;

    memset(q, 0, sizeof(*q));
    rc = conn_get(s, &c, e);
    if (rc)
        return rc;
    for (i = slot_hash(sql, c->nslots); c->slots[i].sql; i = (i + 1) & (c->nslots - 1)) {
        if (c->slots[i].sql == sql) {
            /* A statement is never opened twice at once: that is a bug here. */
            assert(!sqlite3_stmt_busy(c->slots[i].st));
            q->c = c;
            q->st = c->slots[i].st;
            return 0;
        }
    }
    if ((c->nused + 1) * 2 > c->nslots) {
        if (slots_grow(c))
            return ag_err_set(e, AG_ENOMEM);
        for (i = slot_hash(sql, c->nslots); c->slots[i].sql; i = (i + 1) & (c->nslots - 1))
            ;
    }
    rc = prepare(c, sql, &c->slots[i].st, e);
    if (rc)
        return rc;
    c->slots[i].sql = sql;
    c->nused++;
    q->c = c;
    q->st = c->slots[i].st;
    return 0;
}

int sdb_open_dyn(struct sdb_q *q, struct store *s, const char *sql, struct ag_err *e)
{
    struct conn *c = NULL;
    struct dyn_slot *d = NULL;
    char *copy;
    int rc;

    memset(q, 0, sizeof(*q));
    rc = conn_get(s, &c, e);
    if (rc)
        return rc;
    c->tick++;
    for (size_t i = 0; i < DYN_SLOTS; i++) {
        struct dyn_slot *x = &c->dyn[i];
        if (x->sql && !strcmp(x->sql, sql)) {
            x->used = c->tick;
            q->c = c;
            q->st = x->st;
            return 0;
        }
        if (!d || x->used < d->used)
            d = x; /* the least recently used slot (empty slots have used 0) */
    }
    copy = strdup(sql);
    if (!copy)
        return ag_err_set(e, AG_ENOMEM);
    assert(!d->st || !sqlite3_stmt_busy(d->st));
    sqlite3_finalize(d->st);
    free(d->sql);
    d->sql = NULL;
    d->used = 0;
    rc = prepare(c, sql, &d->st, e);
    if (rc) {
        free(copy);
        return rc;
    }
    d->sql = copy;
    d->used = c->tick;
    q->c = c;
    q->st = d->st;
    return 0;
}

static void bind_done(struct sdb_q *q, int rc)
{
    q->nbound++;
    if (rc != SQLITE_OK && q->bind_rc == SQLITE_OK)
        q->bind_rc = rc;
}

void sdb_text(struct sdb_q *q, const char *v)
{
    bind_done(q, v ? sqlite3_bind_text(q->st, q->nbound + 1, v, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(q->st, q->nbound + 1));
}

void sdb_int(struct sdb_q *q, int64_t v)
{
    bind_done(q, sqlite3_bind_int64(q->st, q->nbound + 1, v));
}

void sdb_real(struct sdb_q *q, double v)
{
    bind_done(q, sqlite3_bind_double(q->st, q->nbound + 1, v));
}

void sdb_null(struct sdb_q *q)
{
    bind_done(q, sqlite3_bind_null(q->st, q->nbound + 1));
}

int sdb_step(struct sdb_q *q, struct ag_err *e)
{
    int rc;

    if (q->bind_rc != SQLITE_OK)
        return map_err(q->c, q->bind_rc, false, e);
    rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_err(q->c, rc, q->user_expr, e);
}

int sdb_exec(struct sdb_q *q, struct ag_err *e)
{
    int rc;

    while ((rc = sdb_step(q, e)) == 1)
        ;
    return rc;
}

int64_t sdb_changes(const struct sdb_q *q)
{
    return sqlite3_changes64(q->c->db);
}

int64_t sdb_last_id(const struct sdb_q *q)
{
    return sqlite3_last_insert_rowid(q->c->db);
}

void sdb_close(struct sdb_q *q)
{
    if (q->st) {
        sqlite3_reset(q->st);
        sqlite3_clear_bindings(q->st);
    }
    q->st = NULL;
}

int sdb_col_copy(struct sdb_q *q, int i, char *out, size_t size, struct ag_err *e)
{
    const char *v = (const char *)sqlite3_column_text(q->st, i);

    if (str_copy(out, v ? v : "", size) >= size) {
        log_error("store: column %s is longer than %zu bytes", sqlite3_column_name(q->st, i),
                  size - 1);
        return ag_errf(e, AG_ECORRUPT, NULL, "a stored %s is too long",
                       sqlite3_column_name(q->st, i));
    }
    return 0;
}

/* ---- rows as JSON --------------------------------------------------------- */

static bool is_array_column(const char *name)
{
    static const char *const cols[] = {"tags", "datasets", "metrics", "language", "links"};

    for (size_t i = 0; i < ARRAY_SIZE(cols); i++)
        if (!strcmp(name, cols[i]))
            return true;
    return false;
}

/* text_json() returns the JSON value of a text column: a parsed array for the
 * array columns, else a string. Invalid stored data gives [] or null (logged). */
static json_t *text_json(const char *name, const char *text, size_t len)
{
    json_t *v;

    if (is_array_column(name)) {
        v = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (v && json_is_array(v))
            return v;
        json_decref(v);
        log_warn("store: column %s holds text that is not a JSON array", name);
        return json_array();
    }
    v = json_stringn(text, len);
    if (!v && !utf8_valid(text, len)) {
        log_warn("store: column %s holds invalid UTF-8", name);
        return json_null();
    }
    return v;
}

json_t *sdb_row_json(struct sdb_q *q)
{
    sqlite3_stmt *st = q->st;
    json_t *o = json_object(), *v;
    int n = sqlite3_column_count(st);

    for (int i = 0; o && i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = !strcmp(name, "verified") ? json_boolean(sqlite3_column_int64(st, i))
                                          : json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            v = text_json(name, (const char *)sqlite3_column_text(st, i),
                          (size_t)sqlite3_column_bytes(st, i));
            break;
        default:
            v = json_null();
            break;
        }
        if (!v || json_object_set_new(o, name, v)) { /* jansson frees v on failure */
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

int sdb_rows_json(struct sdb_q *q, json_t **out, struct ag_err *e)
{
    json_t *arr = json_array(), *row;
    int rc = arr ? 0 : ag_err_set(e, AG_ENOMEM);

    while (!rc && (rc = sdb_step(q, e)) == 1) {
        row = sdb_row_json(q);
        rc = row && !json_array_append_new(arr, row) ? 0 : ag_err_set(e, AG_ENOMEM);
    }
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int sdb_rows_by_id(struct store *s, const char *sql, int64_t id, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sql, e);

    if (rc)
        return rc;
    sdb_int(&q, id);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

int sdb_exec_id(struct store *s, const char *sql, int64_t id, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sql, e);

    if (rc)
        return rc;
    sdb_int(&q, id);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

int sdb_int64(struct store *s, const char *sql, int64_t *n, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sql, e);

    if (rc)
        return rc;
    rc = sdb_step(&q, e);
    if (rc == 1) {
        *n = sqlite3_column_int64(q.st, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = ag_errf(e, AG_EDB, NULL, "the statement returned no row");
    }
    sdb_close(&q);
    return rc;
}

bool sdb_json_array_ok(const char *text, bool strings)
{
    json_t *v, *x;
    size_t i;
    bool ok;

    if (!text)
        return true;
    v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    ok = v && json_is_array(v);
    if (ok && strings)
        for (i = 0; ok && (x = json_array_get(v, i)); i++)
            ok = json_is_string(x);
    json_decref(v);
    return ok;
}

/* ---- transactions --------------------------------------------------------- */

int sdb_tx_begin(struct store *s, bool write, struct ag_err *e)
{
    struct conn *c = NULL;
    char sql[32];
    int rc = conn_get(s, &c, e);

    if (rc)
        return rc;
    if (c->depth == 0) {
        rc = exec_verb(c, write ? VERB_BEGIN_IMMEDIATE : VERB_BEGIN, e);
    } else if (!write && c->depth < 64) {
        /* A read inside an open transaction already sees one snapshot and
         * has nothing to undo: it needs no savepoint. */
        c->bare |= (uint64_t)1 << c->depth;
    } else {
        snprintf(sql, sizeof(sql), "SAVEPOINT sp%d", c->depth);
        rc = exec_simple(c, sql, e);
    }
    if (!rc)
        c->depth++;
    return rc;
}

/* tx_rollback() undoes the innermost level. If SQLite already rolled the
 * whole transaction back (after SQLITE_FULL, say), there is nothing to undo. */
static void tx_rollback(struct conn *c)
{
    char sql[64];

    c->depth--;
    if (c->depth < 64 && (c->bare & (uint64_t)1 << c->depth)) {
        c->bare &= ~((uint64_t)1 << c->depth);
        return;
    }
    if (sqlite3_get_autocommit(c->db))
        return;
    if (c->depth == 0) {
        if (exec_verb(c, VERB_ROLLBACK, NULL))
            log_error("store: rollback failed: %s", sqlite3_errmsg(c->db));
        return;
    }
    snprintf(sql, sizeof(sql), "ROLLBACK TO sp%d; RELEASE sp%d", c->depth, c->depth);
    if (exec_simple(c, sql, NULL))
        log_error("store: rollback failed: %s", sqlite3_errmsg(c->db));
}

static int tx_commit(struct conn *c, struct ag_err *e)
{
    char sql[32];
    int rc;

    c->depth--;
    if (c->depth < 64 && (c->bare & (uint64_t)1 << c->depth)) {
        c->bare &= ~((uint64_t)1 << c->depth);
        return 0;
    }
    if (sqlite3_get_autocommit(c->db)) {
        log_error("store: the transaction was rolled back by an earlier failure");
        return ag_errf(e, AG_EDB, NULL, "the transaction was rolled back by an earlier failure");
    }
    if (c->depth == 0) {
        rc = exec_verb(c, VERB_COMMIT, e);
    } else {
        snprintf(sql, sizeof(sql), "RELEASE sp%d", c->depth);
        rc = exec_simple(c, sql, e);
    }
    if (rc) {
        c->depth++;
        tx_rollback(c);
    }
    return rc;
}

int sdb_tx_end(struct store *s, int rc, struct ag_err *e)
{
    struct conn *c = pthread_getspecific(s->key);

    if (!c || c->depth == 0) {
        log_error("store: commit or rollback without a transaction");
        return rc ? rc : ag_errf(e, AG_EINTERNAL, NULL, "no transaction is open");
    }
    if (rc) {
        tx_rollback(c);
        return rc;
    }
    return tx_commit(c, e);
}

int store_begin(struct store *s)
{
    return sdb_tx_begin(s, true, NULL);
}

int store_commit(struct store *s)
{
    return sdb_tx_end(s, 0, NULL);
}

int store_read_begin(struct store *s)
{
    return sdb_tx_begin(s, false, NULL);
}

int store_read_end(struct store *s)
{
    return sdb_tx_end(s, 0, NULL);
}

/* Rolling back when nothing is open (say, after store_begin() failed) does nothing. */
void store_rollback(struct store *s)
{
    struct conn *c = pthread_getspecific(s->key);

    if (c && c->depth > 0)
        tx_rollback(c);
}

/* ---- migrations ----------------------------------------------------------- */

static const char SQL_MIGRATIONS_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT, applied_at INTEGER)";
static const char SQL_MIGRATIONS_MAX[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
static const char SQL_MIGRATION_DONE[] = "SELECT 1 FROM schema_migrations WHERE version = ?";
static const char SQL_MIGRATION_RECORD[] =
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)";

/* migration_version() reads the number before the first '_' of "NNNN_name.sql";
 * 0 or AG_EINVAL. */
static int migration_version(const char *name, int64_t *v)
{
    int64_t n = 0;
    size_t i;

    for (i = 0; name[i] >= '0' && name[i] <= '9' && i < 9; i++)
        n = n * 10 + (name[i] - '0');
    if (i == 0 || name[i] != '_' || n <= 0)
        return AG_EINVAL;
    *v = n;
    return 0;
}

/* schema_version() reads the newest applied migration into *v. */
static int schema_version(struct store *s, int64_t *v, struct ag_err *e)
{
    return sdb_int64(s, SQL_MIGRATIONS_MAX, v, e);
}

/* apply_one() applies migration `m` (version v) unless some process already
 * did, inside BEGIN IMMEDIATE so two processes never both apply it. */
static int apply_one(struct store *s, const struct embedded_file *m, int64_t v, struct ag_err *e)
{
    struct conn *c = pthread_getspecific(s->key);
    struct sdb_q q = {0};
    bool done = false;
    int rc = sdb_tx_begin(s, true, e);

    if (rc)
        return rc;
    rc = sdb_open(&q, s, SQL_MIGRATION_DONE, e);
    if (rc)
        goto out;
    sdb_int(&q, v);
    rc = sdb_step(&q, e);
    done = rc == 1;
    sdb_close(&q);
    if (rc < 0 || done)
        goto out;
    rc = sqlite3_exec(c->db, m->data, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: migration %s failed: %s", m->name, sqlite3_errmsg(c->db));
        rc = ag_errf(e, AG_EDB, NULL, "migration %s failed: %s", m->name, sqlite3_errmsg(c->db));
        goto out;
    }
    rc = sdb_open(&q, s, SQL_MIGRATION_RECORD, e);
    if (rc)
        goto out;
    sdb_int(&q, v);
    sdb_text(&q, m->name);
    sdb_int(&q, time_now());
    rc = sdb_exec(&q, e);
    sdb_close(&q);
out:
    rc = sdb_tx_end(s, rc < 0 ? rc : 0, e);
    if (!rc && !done)
        log_info("store: applied migration %s", m->name);
    return rc;
}

/* migrate() applies the pending embedded migrations in order. A database that
 * has a migration newer than this binary knows gets AG_EUNPROCESSABLE. */
static int migrate(struct store *s, struct ag_err *e)
{
    struct conn *c = pthread_getspecific(s->key);
    int64_t known = 0, current = 0, v = 0;
    int rc;

    for (const struct embedded_file *m = store_migrations; m->name; m++) {
        if (migration_version(m->name, &v) || v <= known)
            return ag_errf(e, AG_EINTERNAL, NULL,
                           "embedded migration %s is misnamed or out of order", m->name);
        known = v;
    }
    rc = exec_simple(c, SQL_MIGRATIONS_TABLE, e);
    if (!rc)
        rc = schema_version(s, &current, e);
    if (rc)
        return rc;
    if (current > known) {
        log_error("store: database schema version %" PRId64
                  " is newer than this build knows (%" PRId64 ")",
                  current, known);
        return ag_errf(e, AG_EUNPROCESSABLE, NULL,
                       "the database schema (version %" PRId64 ") is newer than this agora "
                       "supports (version %" PRId64 "); use a newer agora",
                       current, known);
    }
    for (const struct embedded_file *m = store_migrations; !rc && m->name; m++) {
        migration_version(m->name, &v);
        if (v > current)
            rc = apply_one(s, m, v, e);
    }
    if (!rc)
        rc = schema_version(s, &current, e);
    if (!rc)
        s->version = (int)current;
    return rc;
}

/* ---- open, close, health -------------------------------------------------- */

/* SQLite keeps malloc statistics under a global mutex by default; every
 * thread's allocations would contend on it. Set once, before any connection. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(const char *path, struct store **out, struct ag_err *e)
{
    struct store *s;
    struct conn *c = NULL;
    int rc;

    pthread_once(&sqlite_once, sqlite_configure);
    if (!path || !path[0] || !strcmp(path, ":memory:") || path[0] == ':')
        return ag_errf(e, AG_EINVAL, "path", "the database needs a file path");
    s = calloc(1, sizeof(*s));
    if (!s)
        return ag_err_set(e, AG_ENOMEM);
    /* SQLite reads names starting with "file:" as URIs: keep a path a path. */
    if (asprintf(&s->path, "%s%s", str_starts(path, "file:") ? "./" : "", path) < 0) {
        free(s);
        return ag_err_set(e, AG_ENOMEM);
    }
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_key_create(&s->key, conn_thread_exit)) {
        pthread_mutex_destroy(&s->lock);
        free(s->path);
        free(s);
        return ag_err_set(e, AG_ENOMEM);
    }
    rc = conn_get(s, &c, e);
    if (!rc)
        rc = migrate(s, e);
    if (rc) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_optimize(struct store *s)
{
    struct conn *c = NULL;

    /* Fresh planner statistics, sampled (analysis_limit) so this takes
     * milliseconds: without them SQLite may pick an index on a filter column
     * and sort the whole catalogue instead of walking the sort's own index.
     * Only an optimization: when the write lock is not free now (another
     * node starting on the same database), the node runs without. */
    if (conn_get(s, &c, NULL))
        return;
    if (exec_simple(c, "PRAGMA analysis_limit = 400; BEGIN IMMEDIATE; ANALYZE; COMMIT", NULL)) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        log_warn("store: planner statistics not refreshed (database busy)");
    }
}

/* store_close() closes every connection; no other thread may still be using
 * the store. Threads that live on never see a stale connection: the key is
 * deleted, and a new store gets a new key. */
void store_close(struct store *s)
{
    struct conn *c, *next;

    if (!s)
        return;
    sdb_search_index_free(s);
    pthread_setspecific(s->key, NULL);
    pthread_key_delete(s->key);
    pthread_mutex_lock(&s->lock);
    c = s->conns;
    s->conns = NULL;
    pthread_mutex_unlock(&s->lock);
    for (; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

int store_health(struct store *s, int *version, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_MIGRATIONS_MAX, e);

    if (rc)
        return rc;
    rc = sdb_step(&q, e);
    if (rc == 1) {
        if (version)
            *version = sqlite3_column_int(q.st, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = ag_errf(e, AG_EDB, NULL, "the health query returned no row");
    }
    sdb_close(&q);
    return rc;
}
