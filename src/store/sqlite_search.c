/* sqlite_search.c - the in-memory full-text index that answers text searches.
 *
 * SQLite FTS5 finds a selective term in tens of microseconds, but ranking
 * with bm25() costs about 5 us per match (it decodes each row's position
 * lists and column sizes), and the facet counts run the match again. This
 * index keeps, for every listing, the weighted term frequencies bm25 needs
 * and the columns the filters, facets and sorts read, plus the listing's
 * item JSON, so a search is a walk over sorted postings and a page is a
 * concatenation of prepared JSON.
 *
 * It answers exactly as FTS5 would:
 * - documents and query words are tokenized by SQLite's own tokenizer
 *   (unicode61 remove_diacritics 2, the `tokenize` option of models_fts),
 *   reached through the fts5_api, with FTS5's 32 KiB token cap;
 * - a word is a prefix term: it matches every indexed token starting with it;
 * - the rank is FTS5's bm25 with the same weights, k1 and b, computed in the
 *   same order of floating-point operations (this file is built with
 *   -ffp-contract=off), so ranks, ties and cursors are bit-identical.
 * A query word the tokenizer splits into several tokens (a phrase to FTS5)
 * or none is left to SQL (return 1 from sdb_search_indexed()).
 *
 * Keeping in step: triggers append every changed listing id to
 * model_changes (migration 0007). Before it answers, a search reads the
 * log's head when this process committed anything since the last look, or
 * that look is older than foreign_ms; when the index is behind, the changed
 * rows are read in one read transaction and applied. So a node reads its
 * own writes at once and other processes' writes within foreign_ms. The
 * index answers from the newest state it has applied, which may be newer
 * than the state when the search began. A listing whose text did not change keeps its
 * postings and only gets new columns and JSON; one whose text changed gets a
 * new slot, and its old postings stay behind as dead until they are half of
 * all postings, when they are compacted. Too many changes at once, or a log
 * trimmed past this node's position, start a rebuild on a background thread,
 * and SQL answers until it is done.
 *
 * Locking: searches hold `lock` shared while they read `d`. Applying changes
 * holds `apply_mu`, then `lock` exclusively. The builder works on a private
 * index and publishes it under both. Each tokenizer instance has one user at
 * a time: `build_tok` the builder thread, `doc_tok` the holder of apply_mu,
 * `query_tok` the holder of query_mu.
 */
#include "core/common.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite_int.h"

/* ---- the FTS5 tokenizer API ------------------------------------------------
 * Debian's libsqlite3-dev ships no fts5.h; these are the stable version-2
 * layouts of fts5_api and fts5_tokenizer from SQLite's documented C API
 * (https://sqlite.org/fts5.html#custom_tokenizers). Later versions only add
 * members at the end. */

typedef struct Fts5Tokenizer Fts5Tokenizer;

struct fts5_tokenizer_v1 {
    int (*xCreate)(void *ud, const char **argv, int argc, Fts5Tokenizer **out);
    void (*xDelete)(Fts5Tokenizer *t);
    int (*xTokenize)(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int n,
                     int (*token)(void *ctx, int tflags, const char *tok, int ntok, int start,
                                  int end));
};

struct fts5_api_v2 {
    int iVersion;
    int (*xCreateTokenizer)(struct fts5_api_v2 *api, const char *name, void *ud,
                            struct fts5_tokenizer_v1 *t, void (*destroy)(void *));
    int (*xFindTokenizer)(struct fts5_api_v2 *api, const char *name, void **ud,
                          struct fts5_tokenizer_v1 *t);
};

#define FTS5_TOKENIZE_QUERY    0x0001
#define FTS5_TOKENIZE_PREFIX   0x0002
#define FTS5_TOKENIZE_DOCUMENT 0x0004
#define FTS5_TOKEN_COLOCATED   0x0001
#define FTS5_MAX_TOKEN_SIZE    32768 /* FTS5 indexes at most this many bytes of a token */

/* The `tokenize` option of models_fts (migrations 0001 and 0002). */
static const char *fts_tokenizer_args[] = {"remove_diacritics", "2"};

/* bm25's column weights (title, summary, card, tags) and constants. */
static const unsigned col_weight[] = {SDB_BM25_WEIGHTS};
#define BM25_K1 1.2
#define BM25_B  0.75

#define PRICE_KEY_LEN   78
#define REBUILD_CHANGES 20000              /* more changed listings than this: rebuild instead */
#define MAX_MODEL_ID    ((int64_t)1 << 26) /* ids past this: the id table would be too big */

struct tokenizer {
    struct fts5_tokenizer_v1 x;
    Fts5Tokenizer *t;
};

/* tokenizer_open() creates an instance of the table's tokenizer. */
static int tokenizer_open(sqlite3 *db, struct tokenizer *tk, struct ag_err *e)
{
    struct fts5_api_v2 *api = NULL;
    sqlite3_stmt *st = NULL;
    void *ud = NULL;

    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2 ||
        api->xFindTokenizer(api, "unicode61", &ud, &tk->x) != SQLITE_OK ||
        tk->x.xCreate(ud, fts_tokenizer_args, (int)ARRAY_SIZE(fts_tokenizer_args), &tk->t) !=
            SQLITE_OK) {
        tk->t = NULL;
        return ag_errf(e, AG_EDB, NULL, "SQLite's FTS5 tokenizer is not available");
    }
    return 0;
}

static void tokenizer_close(struct tokenizer *tk)
{
    if (tk->t)
        tk->x.xDelete(tk->t);
    tk->t = NULL;
}

/* ---- a string table: bytes -> dense id ------------------------------------- */

struct strmap {
    char **s;      /* id -> the bytes, NUL-terminated */
    uint32_t *len; /* id -> length */
    uint32_t n, cap;
    uint32_t *slots; /* open addressing, linear probing: id + 1, 0 = empty */
    uint32_t mask;
    uint64_t seed;
};

static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static void strmap_free(struct strmap *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        free(m->s[i]);
    free(m->s);
    free(m->len);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static bool strmap_find(const struct strmap *m, const char *p, size_t n, uint32_t *id)
{
    if (!m->slots)
        return false;
    for (uint64_t i = hash_bytes(m->seed, p, n);; i++) {
        uint32_t v = m->slots[i & m->mask];
        if (!v)
            return false;
        if (m->len[v - 1] == n && !memcmp(m->s[v - 1], p, n)) {
            *id = v - 1;
            return true;
        }
    }
}

static int strmap_rehash(struct strmap *m, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof(*slots));

    if (!slots)
        return AG_ENOMEM;
    for (uint32_t id = 0; id < m->n; id++) {
        uint64_t i = hash_bytes(m->seed, m->s[id], m->len[id]);
        while (slots[i & (nslots - 1)])
            i++;
        slots[i & (nslots - 1)] = id + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

/* strmap_add() finds or adds `p`; *added tells which. 0 or AG_ENOMEM. */
static int strmap_add(struct strmap *m, const char *p, size_t n, uint32_t *id, bool *added)
{
    char *copy;

    *added = false;
    if (strmap_find(m, p, n, id))
        return 0;
    if (n > UINT32_MAX || m->n >= UINT32_MAX / 4)
        return AG_ENOMEM;
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 256;
        char **s = realloc(m->s, cap * sizeof(*s));
        if (!s)
            return AG_ENOMEM;
        m->s = s;
        uint32_t *len = realloc(m->len, cap * sizeof(*len));
        if (!len)
            return AG_ENOMEM;
        m->len = len;
        m->cap = cap;
    }
    if (!m->slots || (uint64_t)(m->n + 1) * 2 > (uint64_t)m->mask + 1) {
        if (!m->slots)
            rand_bytes(&m->seed, sizeof(m->seed));
        if (strmap_rehash(m, m->slots ? (m->mask + 1) * 2 : 512))
            return AG_ENOMEM;
    }
    copy = malloc(n + 1);
    if (!copy)
        return AG_ENOMEM;
    memcpy(copy, p, n);
    copy[n] = '\0';
    m->s[m->n] = copy;
    m->len[m->n] = (uint32_t)n;
    for (uint64_t i = hash_bytes(m->seed, p, n);; i++) {
        if (!m->slots[i & m->mask]) {
            m->slots[i & m->mask] = m->n + 1;
            break;
        }
    }
    *id = m->n++;
    *added = true;
    return 0;
}

/* ---- the index ---------------------------------------------------------- */

/* One listing. Replaced whole when its row changes; `slot` tells where its
 * postings are. Strings of filters and facets are ids in `vals`. */
struct doc {
    int64_t id, owner_id, created, updated, downloads, likes;
    double rating;
    uint32_t slot, ntok, nposts, ntags;
    uint32_t task, library, license, owner;
    uint32_t *tags;
    bool public_;
    char price_key[PRICE_KEY_LEN + 1];
    size_t item_len;
    char *item; /* the listing's JSON object, as search results carry it */
};

/* A posting: the document's slot and the term's weighted frequency in it
 * (sum over columns of weight x occurrences, what bm25 sums per instance). */
struct post {
    uint32_t slot, wtf;
};

struct plist {
    struct post *p;
    uint32_t n, cap;
};

struct sxd {
    struct strmap terms; /* indexed tokens */
    struct plist *posts; /* term id -> postings, in slot order */
    uint32_t postcap;    /* posts, acc and touched hold this many terms (>= terms.n) */
    uint32_t *sorted;    /* the first nsorted term ids, in byte order of their text */
    uint32_t nsorted;
    struct strmap vals; /* task, library, license, owner and tag values */
    struct doc **slot;  /* slot -> its document, NULL once dead; slot 0 is unused */
    uint32_t nslot, slotcap;
    uint32_t *by_id; /* model id -> slot, 0 = none */
    int64_t nid;
    int64_t nlive, ntokens; /* FTS5's row count and total token count */
    uint64_t nposts, ndead;
    int64_t seq;             /* model_changes applied up to here */
    uint32_t *acc, *touched; /* tokenizing one document: term id -> wtf, and the ids seen */
    uint32_t ntouched;
};

struct sx {
    struct store *s;
    sqlite3 *db; /* a private connection, the tokenizers' home */
    struct tokenizer build_tok, doc_tok, query_tok;
    pthread_mutex_t apply_mu, query_mu, state_mu;
    pthread_cond_t state_cv;
    pthread_rwlock_t lock;
    struct sxd *d;           /* under lock; NULL until built */
    atomic_int_fast64_t seq; /* d->seq, readable without the lock; -1 when there is no d */
    atomic_bool stop;
    int64_t foreign_us; /* how often to look for other processes' writes */
    /* The last look at the log: sdb_commits() before it, and when. */
    atomic_uint_fast64_t looked_commits;
    atomic_int_fast64_t looked_at;
    bool building, joinable; /* under state_mu */
    pthread_t builder;
    int build_rc;     /* the last build's result, under state_mu */
    int64_t retry_at; /* after a failed build: when to try again, under state_mu */
    char build_msg[256];
};

static void doc_free(struct doc *d)
{
    if (d) {
        free(d->tags);
        free(d->item);
        free(d);
    }
}

static void sxd_free(struct sxd *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < MIN(d->terms.n, d->postcap); i++)
        free(d->posts[i].p);
    free(d->posts);
    strmap_free(&d->terms);
    strmap_free(&d->vals);
    free(d->sorted);
    for (uint32_t i = 0; i < d->nslot; i++)
        doc_free(d->slot[i]);
    free(d->slot);
    free(d->by_id);
    free(d->acc);
    free(d->touched);
    free(d);
}

static int term_cmp(const struct strmap *t, uint32_t a, const char *p, size_t n)
{
    int c = memcmp(t->s[a], p, MIN(t->len[a], n));

    return c ? c : (t->len[a] > n) - (t->len[a] < n);
}

static int sorted_cmp(const void *a, const void *b, void *ctx)
{
    const struct strmap *t = ctx;
    uint32_t y = *(const uint32_t *)b;
    return term_cmp(t, *(const uint32_t *)a, t->s[y], t->len[y]);
}

/* lower_bound() is the first position in `sorted` whose term is >= p. */
static uint32_t lower_bound(const struct sxd *d, const char *p, size_t n)
{
    uint32_t lo = 0, hi = d->nsorted;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (term_cmp(&d->terms, d->sorted[mid], p, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* sorted_extend() puts terms added since the last call into `sorted`; a few
 * by insertion, many (the first build) by sorting. */
static int sorted_extend(struct sxd *d)
{
    uint32_t *v, fresh = d->terms.n - d->nsorted;

    if (!fresh)
        return 0;
    v = realloc(d->sorted, (size_t)d->terms.n * sizeof(*v));
    if (!v)
        return AG_ENOMEM;
    d->sorted = v;
    if (fresh > 64) {
        for (uint32_t id = d->nsorted; id < d->terms.n; id++)
            v[id] = id;
        qsort_r(v, d->terms.n, sizeof(*v), sorted_cmp, &d->terms);
        d->nsorted = d->terms.n;
        return 0;
    }
    for (uint32_t id = d->nsorted; id < d->terms.n; id++) {
        uint32_t at = lower_bound(d, d->terms.s[id], d->terms.len[id]);
        memmove(v + at + 1, v + at, (size_t)(d->nsorted - at) * sizeof(*v));
        v[at] = id;
        d->nsorted++;
    }
    return 0;
}

/* ---- documents ------------------------------------------------------------ */

/* The columns of a document row: the listing as search items carry it
 * (MODEL_COLS_*), then what only the index reads. */
enum {
    COL_ID,
    COL_OWNER,
    COL_OWNER_ID,
    COL_SLUG,
    COL_TITLE,
    COL_SUMMARY,
    COL_TASK,
    COL_LIBRARY,
    COL_LICENSE,
    COL_TAGS,
    COL_DATASETS,
    COL_METRICS,
    COL_LANGUAGE,
    COL_BASE_MODEL,
    COL_PRICE,
    COL_VISIBILITY,
    COL_DOWNLOADS,
    COL_LIKES,
    COL_RATING,
    COL_RATING_COUNT,
    COL_CREATED,
    COL_UPDATED,
    COL_PRICE_KEY,
    COL_CARD,
    NCOLS
};

#define DOC_SELECT(card)                                                                           \
    "SELECT " MODEL_COLS_HEAD MODEL_COLS_TAIL ", m.price_key AS price_key, " card " AS card"       \
    " FROM models m JOIN users u ON u.id = m.owner_id"
static const char SQL_DOCS[] =
    DOC_SELECT("coalesce(c.card, '')") " LEFT JOIN model_cards c ON c.model_id = m.id";
static const char SQL_DOC_TEXT[] = DOC_SELECT(
    "coalesce(c.card, '')") " LEFT JOIN model_cards c ON c.model_id = m.id WHERE m.id = ?";
static const char SQL_DOC_COLS[] = DOC_SELECT("''") " WHERE m.id = ?";
static const char SQL_HEAD[] = "SELECT max(seq) FROM model_changes";
static const char SQL_TAIL[] = "SELECT min(seq) FROM model_changes";
static const char SQL_CHANGES[] =
    "SELECT model_id, max(text) FROM model_changes WHERE seq > ? GROUP BY model_id LIMIT ?";

static int vals_add(struct sxd *d, const char *s, uint32_t *id)
{
    bool added;
    return strmap_add(&d->vals, s ? s : "", s ? strlen(s) : 0, id, &added);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

/* doc_from_row() makes the document of the current row, without postings. */
static int doc_from_row(struct sxd *d, struct sdb_q *q, struct buf *scratch, struct doc **out)
{
    sqlite3_stmt *st = q->st;
    struct doc *doc = calloc(1, sizeof(*doc));
    json_t *row = NULL, *tags;
    const char *pk = col_text(st, COL_PRICE_KEY);
    int rc = doc ? 0 : AG_ENOMEM;

    if (rc)
        goto out;
    doc->id = sqlite3_column_int64(st, COL_ID);
    doc->owner_id = sqlite3_column_int64(st, COL_OWNER_ID);
    doc->created = sqlite3_column_int64(st, COL_CREATED);
    doc->updated = sqlite3_column_int64(st, COL_UPDATED);
    doc->downloads = sqlite3_column_int64(st, COL_DOWNLOADS);
    doc->likes = sqlite3_column_int64(st, COL_LIKES);
    doc->rating = sqlite3_column_double(st, COL_RATING);
    doc->public_ = !strcmp(col_text(st, COL_VISIBILITY), "public");
    if (strlen(pk) != PRICE_KEY_LEN) {
        rc = AG_ECORRUPT;
        goto out;
    }
    memcpy(doc->price_key, pk, PRICE_KEY_LEN + 1);
    rc = vals_add(d, col_text(st, COL_TASK), &doc->task);
    rc = rc ? rc : vals_add(d, col_text(st, COL_LIBRARY), &doc->library);
    rc = rc ? rc : vals_add(d, col_text(st, COL_LICENSE), &doc->license);
    rc = rc ? rc : vals_add(d, col_text(st, COL_OWNER), &doc->owner);
    if (rc)
        goto out;
    /* The item: the row as JSON, as the SQL search builds it, minus the
     * columns only the index reads. */
    row = sdb_row_json(q);
    if (!row || json_object_del(row, "price_key") || json_object_del(row, "card")) {
        rc = AG_ENOMEM;
        goto out;
    }
    tags = json_object_get(row, "tags");
    if (json_array_size(tags)) {
        doc->tags = calloc(json_array_size(tags), sizeof(*doc->tags));
        if (!doc->tags) {
            rc = AG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; !rc && i < json_array_size(tags); i++)
            if (json_is_string(json_array_get(tags, i)))
                rc = vals_add(d, json_string_value(json_array_get(tags, i)),
                              &doc->tags[doc->ntags++]);
    }
    buf_reset(scratch);
    rc = rc ? rc : json_dump_buf(scratch, row);
    if (rc)
        goto out;
    doc->item = buf_detach(scratch, &doc->item_len);
out:
    json_decref(row);
    if (rc) {
        doc_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

struct tokctx {
    struct sxd *d;
    unsigned weight;
    uint32_t ntok, ncol; /* tokens of the document, of the current column */
    int rc;
};

/* term_arrays_reserve() makes the per-term arrays hold `need` terms; each
 * new entry is zeroed as soon as its array has grown, so a failure leaves
 * every array valid up to postcap. */
static int term_arrays_reserve(struct sxd *d, uint32_t need)
{
    uint32_t cap = MAX(MAX(need, d->postcap * 2), 256);
    struct plist *p;
    uint32_t *v;

    if (need <= d->postcap)
        return 0;
    if (!(p = realloc(d->posts, (size_t)cap * sizeof(*p))))
        return AG_ENOMEM;
    memset(p + d->postcap, 0, (size_t)(cap - d->postcap) * sizeof(*p));
    d->posts = p;
    if (!(v = realloc(d->acc, (size_t)cap * sizeof(*v))))
        return AG_ENOMEM;
    memset(v + d->postcap, 0, (size_t)(cap - d->postcap) * sizeof(*v));
    d->acc = v;
    if (!(v = realloc(d->touched, (size_t)cap * sizeof(*v))))
        return AG_ENOMEM;
    d->touched = v;
    d->postcap = cap;
    return 0;
}

static int on_doc_token(void *ctx, int tflags, const char *tok, int n, int start, int end)
{
    struct tokctx *c = ctx;
    struct sxd *d = c->d;
    uint32_t id;
    bool added;

    UNUSED(start);
    UNUSED(end);
    if (n > FTS5_MAX_TOKEN_SIZE)
        n = FTS5_MAX_TOKEN_SIZE;
    /* A column's size counts its tokens, a colocated one only when it comes
     * first (fts5_storage.c); unicode61 produces none. */
    if (!(tflags & FTS5_TOKEN_COLOCATED) || c->ncol == 0) {
        c->ncol++;
        c->ntok++;
    }
    if ((c->rc = term_arrays_reserve(d, d->terms.n + 1)) ||
        (c->rc = strmap_add(&d->terms, tok, (size_t)n, &id, &added)))
        return SQLITE_NOMEM;
    if (!d->acc[id])
        d->touched[d->ntouched++] = id;
    d->acc[id] += c->weight;
    return SQLITE_OK;
}

/* doc_index() gives `doc` a new slot and adds its postings from the text
 * columns of the current row. */
static int doc_index(struct sxd *d, struct tokenizer *tk, sqlite3_stmt *st, struct doc *doc)
{
    static const int cols[] = {COL_TITLE, COL_SUMMARY, COL_CARD, COL_TAGS};
    struct tokctx c = {.d = d};

    if (d->nslot == UINT32_MAX)
        return AG_ENOMEM;
    if (d->nslot == d->slotcap) {
        uint32_t cap = d->slotcap ? d->slotcap * 2 : 1024;
        struct doc **v = realloc(d->slot, cap * sizeof(*v));
        if (!v)
            return AG_ENOMEM;
        d->slot = v;
        d->slotcap = cap;
    }
    if (d->nslot == 0)
        d->slot[d->nslot++] = NULL; /* slot 0 means "none" in by_id */
    d->ntouched = 0;
    for (size_t i = 0; i < ARRAY_SIZE(cols); i++) {
        const char *text = (const char *)sqlite3_column_text(st, cols[i]);
        int n = sqlite3_column_bytes(st, cols[i]);
        c.weight = col_weight[i];
        c.ncol = 0;
        if (text && n > 0 &&
            tk->x.xTokenize(tk->t, &c, FTS5_TOKENIZE_DOCUMENT, text, n, on_doc_token) != SQLITE_OK)
            break;
    }
    doc->slot = d->nslot;
    for (uint32_t i = 0; i < d->ntouched; i++) {
        uint32_t id = d->touched[i];
        struct plist *pl = &d->posts[id];
        if (!c.rc && pl->n == pl->cap) {
            uint32_t cap = pl->cap ? pl->cap * 2 : 4;
            struct post *p = cap > pl->cap ? realloc(pl->p, cap * sizeof(*p)) : NULL;
            if (p) {
                pl->p = p;
                pl->cap = cap;
            } else {
                c.rc = AG_ENOMEM;
            }
        }
        if (!c.rc)
            pl->p[pl->n++] = (struct post){doc->slot, d->acc[id]};
        d->acc[id] = 0;
    }
    if (c.rc)
        return c.rc == SQLITE_NOMEM ? AG_ENOMEM : c.rc;
    doc->ntok = c.ntok;
    doc->nposts = d->ntouched;
    d->slot[d->nslot++] = doc;
    d->nposts += d->ntouched;
    return 0;
}

static int by_id_reserve(struct sxd *d, int64_t id)
{
    if (id <= 0 || id >= MAX_MODEL_ID)
        return AG_ETOOBIG; /* the id table would be too big: SQL answers */
    if (id < d->nid)
        return 0;
    int64_t n = MAX(id + 1, d->nid * 2);
    uint32_t *v = realloc(d->by_id, (size_t)n * sizeof(*v));
    if (!v)
        return AG_ENOMEM;
    memset(v + d->nid, 0, (size_t)(n - d->nid) * sizeof(*v));
    d->by_id = v;
    d->nid = n;
    return 0;
}

/* doc_kill() removes the document in `slot`; its postings become dead. */
static void doc_kill(struct sxd *d, uint32_t slot)
{
    struct doc *doc = d->slot[slot];

    d->nlive--;
    d->ntokens -= doc->ntok;
    d->ndead += doc->nposts;
    d->by_id[doc->id] = 0;
    d->slot[slot] = NULL;
    doc_free(doc);
}

/* doc_put() indexes the current row as listing `doc` (replacing what the
 * index held for it). With `text` false the listing's text is known to be
 * unchanged: it keeps its slot and postings. Takes `doc` in all cases. */
static int doc_put(struct sxd *d, struct tokenizer *tk, sqlite3_stmt *st, struct doc *doc,
                   bool text)
{
    uint32_t old;
    int rc = by_id_reserve(d, doc->id);

    if (rc) {
        doc_free(doc);
        return rc;
    }
    old = d->by_id[doc->id];
    if (old && !text) {
        struct doc *prev = d->slot[old];
        doc->slot = old;
        doc->ntok = prev->ntok;
        doc->nposts = prev->nposts;
        d->slot[old] = doc;
        doc_free(prev);
        return 0;
    }
    if (old)
        doc_kill(d, old);
    rc = doc_index(d, tk, st, doc);
    if (rc) {
        doc_free(doc);
        return rc;
    }
    d->by_id[doc->id] = doc->slot;
    d->nlive++;
    d->ntokens += doc->ntok;
    return 0;
}

/* compact() drops dead postings once they are half of all. */
static void compact(struct sxd *d)
{
    if (d->ndead < 4096 || d->ndead * 2 < d->nposts)
        return;
    for (uint32_t t = 0; t < d->terms.n; t++) {
        struct plist *pl = &d->posts[t];
        uint32_t k = 0;
        for (uint32_t i = 0; i < pl->n; i++)
            if (d->slot[pl->p[i].slot])
                pl->p[k++] = pl->p[i];
        pl->n = k;
    }
    d->nposts -= d->ndead;
    d->ndead = 0;
}

/* ---- building ------------------------------------------------------------- */

/* build() reads every listing in one read transaction and indexes it. */
static int build(struct sx *x, struct sxd **out, struct ag_err *e)
{
    struct sxd *d = calloc(1, sizeof(*d));
    struct buf scratch;
    struct sdb_q q = {0};
    int64_t t0 = time_mono_us(), rows = 0;
    int rc = d ? 0 : ag_err_set(e, AG_ENOMEM);

    buf_init(&scratch, BUF_MAX_DEFAULT);
    if (rc)
        return rc;
    rc = sdb_tx_begin(x->s, false, e);
    if (rc)
        goto out;
    rc = sdb_int64(x->s, SQL_HEAD, &d->seq, e);
    rc = rc ? rc : sdb_open(&q, x->s, SQL_DOCS, e);
    while (!rc && (rc = sdb_step(&q, e)) == 1) {
        struct doc *doc;
        if (!(++rows & 255) && atomic_load(&x->stop)) {
            rc = ag_errf(e, AG_EUNAVAILABLE, NULL, "the store is closing");
            break;
        }
        rc = doc_from_row(d, &q, &scratch, &doc);
        rc = rc ? rc : doc_put(d, &x->build_tok, q.st, doc, true);
        if (rc)
            rc = ag_errf(e, rc, NULL, "cannot index listing %lld",
                         (long long)sqlite3_column_int64(q.st, COL_ID));
    }
    sdb_close(&q);
    rc = sdb_tx_end(x->s, rc, e);
    rc = rc ? rc : sorted_extend(d) ? ag_err_set(e, AG_ENOMEM) : 0;
    /* Posting lists grew by doubling: give back the slack (a third of the
     * index's memory on the benchmark's catalogue). */
    for (uint32_t t = 0; !rc && t < d->terms.n; t++) {
        struct plist *pl = &d->posts[t];
        struct post *p = pl->n < pl->cap ? realloc(pl->p, (size_t)pl->n * sizeof(*p)) : NULL;
        if (p) {
            pl->p = p;
            pl->cap = pl->n;
        }
    }
    if (!rc) {
        log_info("search index: %lld listings, %u terms, %llu postings, built in %lld ms",
                 (long long)d->nlive, d->terms.n, (unsigned long long)d->nposts,
                 (long long)((time_mono_us() - t0) / 1000));
        *out = d;
        d = NULL;
    }
out:
    sxd_free(d);
    buf_release(&scratch);
    return rc;
}

#define BUILD_RETRY_US (30 * 1000000LL) /* a failed build is tried again after this */

static void *builder_main(void *arg)
{
    struct sx *x = arg;
    struct sxd *d = NULL, *old = NULL;
    struct ag_err e = {0};
    int rc = build(x, &d, &e);

    /* Publish, and say the build is over, in one section under apply_mu:
     * retire() runs under it too, so it either sees this builder running
     * (and the index it publishes is the rebuild it wanted) or sees none
     * and starts one. */
    pthread_mutex_lock(&x->apply_mu);
    if (!rc) {
        pthread_rwlock_wrlock(&x->lock);
        old = x->d;
        x->d = d;
        atomic_store(&x->seq, d->seq);
        pthread_rwlock_unlock(&x->lock);
    }
    pthread_mutex_lock(&x->state_mu);
    x->building = false;
    x->build_rc = rc;
    x->retry_at = rc ? time_mono_us() + BUILD_RETRY_US : 0;
    str_copy(x->build_msg, e.msg, sizeof(x->build_msg));
    pthread_cond_broadcast(&x->state_cv);
    pthread_mutex_unlock(&x->state_mu);
    pthread_mutex_unlock(&x->apply_mu);
    if (!rc) {
        sxd_free(old);
        malloc_trim(0); /* the build's transient memory (row JSON, slack) goes back */
    } else if (!atomic_load(&x->stop)) {
        log_warn("search index: not built, SQL answers searches (next try in %lld s): %s",
                 BUILD_RETRY_US / 1000000, e.msg[0] ? e.msg : ag_strerror(rc));
    }
    return NULL;
}

/* rebuild_start() starts the builder unless it is running. */
static int rebuild_start(struct sx *x, struct ag_err *e)
{
    int rc = 0;

    pthread_mutex_lock(&x->state_mu);
    if (!x->building && !atomic_load(&x->stop)) {
        if (x->joinable)
            pthread_join(x->builder, NULL);
        x->joinable = false;
        x->building = true;
        x->build_rc = 0;
        x->retry_at = 0;
        if (pthread_create(&x->builder, NULL, builder_main, x)) {
            x->building = false;
            rc = ag_errf(e, AG_ENOMEM, NULL, "cannot start the search index builder");
        } else {
            x->joinable = true;
        }
    }
    pthread_mutex_unlock(&x->state_mu);
    return rc;
}

/* ---- following the change log ---------------------------------------------- */

struct change {
    int64_t id;
    bool text;
};

/* retire() drops the index (SQL answers) and starts a rebuild. Under apply_mu. */
static void retire(struct sx *x, const char *why)
{
    struct sxd *old;

    log_info("search index: rebuilding (%s)", why);
    pthread_rwlock_wrlock(&x->lock);
    old = x->d;
    x->d = NULL;
    atomic_store(&x->seq, -1);
    pthread_rwlock_unlock(&x->lock);
    sxd_free(old);
    rebuild_start(x, NULL);
}

/* apply() reads the listings changed since d->seq and applies them, in one
 * read transaction. Under apply_mu. Returns 0; 1 when the index cannot
 * follow (*why says why: the caller retires it and SQL answers); or AG_E*.
 * The exclusive lock is taken per batch of listings, so searches that need
 * none of these changes are not held up by a long apply (the ones that do
 * wait for apply_mu). */
static int apply(struct sx *x, const char **why, struct ag_err *e)
{
    struct store *s = x->s;
    struct sdb_q q = {0};
    struct change *ch = NULL;
    struct buf scratch;
    int64_t head, tail, n = 0;
    int rc;

    buf_init(&scratch, BUF_MAX_DEFAULT);
    rc = sdb_tx_begin(s, false, e);
    if (rc)
        return rc;
    rc = sdb_int64(s, SQL_HEAD, &head, e);
    rc = rc ? rc : sdb_int64(s, SQL_TAIL, &tail, e);
    if (rc || head == x->d->seq)
        goto out;
    if (head < x->d->seq || tail > x->d->seq + 1) {
        *why = "the change log was trimmed past the index, or the database replaced";
        rc = 1;
        goto out;
    }
    ch = malloc((REBUILD_CHANGES + 1) * sizeof(*ch));
    rc = ch ? sdb_open(&q, s, SQL_CHANGES, e) : ag_err_set(e, AG_ENOMEM);
    if (rc)
        goto out;
    sdb_int(&q, x->d->seq);
    sdb_int(&q, REBUILD_CHANGES + 1);
    while ((rc = sdb_step(&q, e)) == 1) {
        ch[n].id = sqlite3_column_int64(q.st, 0);
        ch[n++].text = sqlite3_column_int(q.st, 1) != 0;
    }
    sdb_close(&q);
    if (rc)
        goto out;
    if (n > REBUILD_CHANGES) {
        *why = "too many changes at once";
        rc = 1;
        goto out;
    }
    for (int64_t i = 0; !rc && i < n; i++) {
        struct sxd *d = x->d;
        int64_t id = ch[i].id;
        uint32_t slot;
        bool text;
        struct doc *doc;
        if (i % 64 == 0)
            pthread_rwlock_wrlock(&x->lock);
        slot = id > 0 && id < d->nid ? d->by_id[id] : 0;
        /* A listing the index does not hold needs its text even when only
         * its columns changed (it was added and then edited since). */
        text = ch[i].text || !slot;
        rc = sdb_open(&q, s, text ? SQL_DOC_TEXT : SQL_DOC_COLS, e);
        if (!rc) {
            sdb_int(&q, id);
            rc = sdb_step(&q, e);
        }
        if (rc == 0 && slot) /* deleted */
            doc_kill(d, slot);
        if (rc == 1) {
            rc = doc_from_row(d, &q, &scratch, &doc);
            rc = rc ? ag_err_set(e, rc) : doc_put(d, &x->doc_tok, q.st, doc, text);
            if (rc)
                ag_errf(e, rc, NULL, "cannot index listing %lld", (long long)id);
        }
        sdb_close(&q);
        if (!rc && (i % 64 == 63 || i == n - 1) && sorted_extend(d))
            rc = ag_err_set(e, AG_ENOMEM);
        if (rc || i % 64 == 63 || i == n - 1)
            pthread_rwlock_unlock(&x->lock);
    }
    if (rc) {
        /* Half applied: the index cannot be trusted. */
        *why = e && e->msg[0] ? e->msg : "an error while applying changes";
        log_warn("search index: %s", *why);
        rc = 1;
        goto out;
    }
    pthread_rwlock_wrlock(&x->lock);
    compact(x->d);
    x->d->seq = head;
    atomic_store(&x->seq, head);
    /* Every text edit leaves a dead slot (8 bytes, never reused), and terms
     * and values no listing uses any more stay: past as many dead slots as
     * live ones, build a fresh index; this one answers meanwhile. */
    bool refresh = x->d->nslot > 2 * (uint64_t)x->d->nlive + 4096;
    pthread_rwlock_unlock(&x->lock);
    if (refresh)
        rebuild_start(x, NULL);
out:
    free(ch);
    buf_release(&scratch);
    return sdb_tx_end(s, rc < 0 ? rc : 0, e) ?: rc;
}

/* catch_up() brings the index to the log's head. 0 when it is there, 1 when
 * SQL must answer (no index, or it was just retired), or AG_E*.
 *
 * Reading the log's head costs a read transaction (about a tenth of a
 * selective search), so a search skips it when no commit of this process
 * happened since the last look (sdb_commits() counts after each commit, so
 * a write this process acknowledged is always seen) and the last look is
 * younger than foreign_us (writes of other processes on the same database
 * show within that time; on a database that is not in WAL mode the commits
 * are not counted, and every search looks). */
static int catch_up(struct sx *x, struct ag_err *e)
{
    uint64_t commits = sdb_commits();
    int64_t now = time_mono_us(), head;
    const char *why = NULL;
    int rc;

    if (atomic_load(&x->seq) >= 0 && sdb_wal(x->s) && commits == atomic_load(&x->looked_commits) &&
        now - atomic_load(&x->looked_at) < x->foreign_us)
        return 0;
    rc = sdb_int64(x->s, SQL_HEAD, &head, e);
    if (rc)
        return rc;
    if (atomic_load(&x->seq) != head) {
        pthread_mutex_lock(&x->apply_mu);
        rc = x->d ? apply(x, &why, e) : 1;
        if (rc == 1 && x->d)
            retire(x, why ? why : "it cannot follow the change log");
        pthread_mutex_unlock(&x->apply_mu);
    }
    if (!rc) {
        atomic_store(&x->looked_commits, commits);
        atomic_store(&x->looked_at, now);
    }
    return rc;
}

/* ---- searching ------------------------------------------------------------ */

/* A query word's postings: one term's own list, or the merged lists of the
 * terms it is a prefix of. */
struct phrase {
    const struct post *p;
    uint32_t n, at;
    struct post *own;
    int64_t nhit;
    double idf;
};

struct cand {
    struct doc *doc;
    double rank;
};

/* buf_add_u64() appends n in decimal, without printf. */
static int buf_add_u64(struct buf *b, uint64_t n)
{
    char tmp[24], *p = tmp + sizeof(tmp);

    do
        *--p = (char)('0' + n % 10);
    while (n /= 10);
    return buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Counts of one facet's values (ids in vals), open addressing. */
struct counts {
    uint32_t *key, *n; /* key: id + 1, 0 = empty */
    uint32_t mask, used;
};

static int counts_add(struct counts *c, uint32_t id)
{
    if ((c->used + 1) * 2 > c->mask + 1) {
        uint32_t cap = c->key ? (c->mask + 1) * 2 : 64;
        uint32_t *key = calloc(cap, sizeof(*key)), *n = calloc(cap, sizeof(*n));
        if (!key || !n) {
            free(key);
            free(n);
            return AG_ENOMEM;
        }
        for (uint32_t i = 0; c->key && i <= c->mask; i++) {
            uint32_t j = c->key[i] * 0x9E3779B1u;
            if (!c->key[i])
                continue;
            while (key[j & (cap - 1)])
                j++;
            key[j & (cap - 1)] = c->key[i];
            n[j & (cap - 1)] = c->n[i];
        }
        free(c->key);
        free(c->n);
        c->key = key;
        c->n = n;
        c->mask = cap - 1;
    }
    for (uint32_t j = (id + 1) * 0x9E3779B1u;; j++) {
        uint32_t *k = &c->key[j & c->mask];
        if (*k == id + 1) {
            c->n[j & c->mask]++;
            return 0;
        }
        if (!*k) {
            *k = id + 1;
            c->n[j & c->mask] = 1;
            c->used++;
            return 0;
        }
    }
}

struct value_order {
    const struct strmap *vals;
    const uint32_t *keys;
};

/* value_cmp() orders count slots by their values' text. */
static int value_cmp(const void *a, const void *b, void *ctx)
{
    const struct value_order *o = ctx;
    return strcmp(o->vals->s[o->keys[*(const uint32_t *)a] - 1],
                  o->vals->s[o->keys[*(const uint32_t *)b] - 1]);
}

/* facets_json() writes the counts as the SQL search does: values in byte
 * order, the empty value left out. */
static int facets_json(const struct sxd *d, struct counts c[3], struct buf *out)
{
    static const char *const names[] = {"task", "license", "library"};
    int rc = buf_addc(out, '{');

    for (int g = 0; !rc && g < 3; g++) {
        uint32_t *ids = malloc((c[g].used + 1) * sizeof(*ids)), k = 0;
        if (!ids)
            return AG_ENOMEM;
        for (uint32_t i = 0; c[g].key && i <= c[g].mask; i++)
            if (c[g].key[i] && d->vals.len[c[g].key[i] - 1])
                ids[k++] = i; /* the slot: it holds the count too */
        struct value_order order = {&d->vals, c[g].key};
        qsort_r(ids, k, sizeof(*ids), value_cmp, &order);
        rc = buf_addf(out, "%s\"%s\":{", g ? "," : "", names[g]);
        for (uint32_t i = 0; !rc && i < k; i++) {
            if (i)
                rc = buf_addc(out, ',');
            rc = rc ? rc : json_quote_buf(out, d->vals.s[c[g].key[ids[i]] - 1]);
            rc = rc ? rc : buf_addc(out, ':');
            rc = rc ? rc : buf_add_u64(out, c[g].n[ids[i]]);
        }
        rc = rc ? rc : buf_addc(out, '}');
        free(ids);
    }
    return rc ? rc : buf_addc(out, '}');
}

static int post_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct post *)a)->slot, y = ((const struct post *)b)->slot;
    return (x > y) - (x < y);
}

/* phrase_merge() unions the postings of terms sorted[lo..hi), adding the
 * frequencies of a document that holds several of them (each is an instance
 * of the prefix to FTS5). */
static int phrase_merge(const struct sxd *d, uint32_t lo, uint32_t hi, struct phrase *ph)
{
    uint64_t total = 0;
    uint32_t k = 0;

    for (uint32_t i = lo; i < hi; i++)
        total += d->posts[d->sorted[i]].n;
    if (total > UINT32_MAX)
        return AG_ENOMEM;
    ph->own = malloc((size_t)MAX(total, 1) * sizeof(*ph->own));
    if (!ph->own)
        return AG_ENOMEM;
    if (total * 8 < d->nslot) {
        for (uint32_t i = lo; i < hi; i++) {
            const struct plist *pl = &d->posts[d->sorted[i]];
            memcpy(ph->own + k, pl->p, (size_t)pl->n * sizeof(*pl->p));
            k += pl->n;
        }
        qsort(ph->own, k, sizeof(*ph->own), post_cmp);
        uint32_t w = 0;
        for (uint32_t i = 0; i < k; i++) {
            if (w && ph->own[w - 1].slot == ph->own[i].slot)
                ph->own[w - 1].wtf += ph->own[i].wtf;
            else
                ph->own[w++] = ph->own[i];
        }
        k = w;
    } else {
        uint32_t *acc = calloc(d->nslot, sizeof(*acc));
        if (!acc)
            return AG_ENOMEM;
        for (uint32_t i = lo; i < hi; i++) {
            const struct plist *pl = &d->posts[d->sorted[i]];
            for (uint32_t j = 0; j < pl->n; j++)
                acc[pl->p[j].slot] += pl->p[j].wtf;
        }
        for (uint32_t slot = 1; slot < d->nslot; slot++)
            if (acc[slot])
                ph->own[k++] = (struct post){slot, acc[slot]};
        free(acc);
    }
    ph->p = ph->own;
    ph->n = k;
    return 0;
}

/* seek() moves the phrase to its first posting at or past `slot`
 * (galloping: the intersection walks forward only). */
static const struct post *seek(struct phrase *ph, uint32_t slot)
{
    uint32_t lo = ph->at, step = 1, hi;

    if (lo >= ph->n || ph->p[lo].slot >= slot)
        return lo < ph->n ? &ph->p[lo] : NULL;
    while (lo + step < ph->n && ph->p[lo + step].slot < slot) {
        lo += step;
        step *= 2;
    }
    hi = MIN(lo + step, ph->n);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ph->p[mid].slot < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    ph->at = lo;
    return lo < ph->n ? &ph->p[lo] : NULL;
}

/* The resolved filters: value ids, or `none` when a value no listing has
 * was asked for. */
struct filter {
    bool none, hidden;
    bool task, library, license, owner;
    uint32_t task_id, library_id, license_id, owner_id;
    uint32_t tags[SEARCH_MAX_TAGS];
    int ntags;
};

static bool val_filter(const struct sxd *d, const char *v, bool *on, uint32_t *id)
{
    *on = v != NULL;
    return !v || strmap_find(&d->vals, v, strlen(v), id);
}

static void filter_init(const struct sxd *d, const struct search_query *q, struct filter *f)
{
    memset(f, 0, sizeof(*f));
    f->hidden = q->include_hidden;
    f->none = !val_filter(d, q->task, &f->task, &f->task_id) ||
              !val_filter(d, q->library, &f->library, &f->library_id) ||
              !val_filter(d, q->license, &f->license, &f->license_id) ||
              !val_filter(d, q->owner, &f->owner, &f->owner_id);
    for (int i = 0; !f->none && i < q->ntags; i++)
        f->none = !strmap_find(&d->vals, q->tags[i], strlen(q->tags[i]), &f->tags[f->ntags++]);
}

static bool filter_pass(const struct filter *f, const struct search_query *q, const struct doc *doc)
{
    if ((!f->hidden && !doc->public_) || (f->task && doc->task != f->task_id) ||
        (f->library && doc->library != f->library_id) ||
        (f->license && doc->license != f->license_id) || (f->owner && doc->owner != f->owner_id))
        return false;
    for (int i = 0; i < f->ntags; i++) {
        uint32_t k = 0;
        while (k < doc->ntags && doc->tags[k] != f->tags[i])
            k++;
        if (k == doc->ntags)
            return false;
    }
    if (q->price_min_key && memcmp(doc->price_key, q->price_min_key, PRICE_KEY_LEN) < 0)
        return false;
    if (q->price_max_key && memcmp(doc->price_key, q->price_max_key, PRICE_KEY_LEN) > 0)
        return false;
    if (q->free_only && strcmp(doc->price_key, STORE_ZERO_PRICE_KEY))
        return false;
    return !(q->min_rating > 0) || doc->rating >= q->min_rating;
}

/* cand_key() is the value a candidate sorts by (sdb_sorts[] gives its type
 * and direction). */
static void cand_key(enum search_sort sort, const struct cand *c, struct sdb_key *k)
{
    const struct doc *d = c->doc;

    *k = (struct sdb_key){0};
    switch (sort) {
    case SORT_RELEVANCE:
        k->d = c->rank;
        break;
    case SORT_NEWEST:
        k->i = d->created;
        break;
    case SORT_UPDATED:
        k->i = d->updated;
        break;
    case SORT_DOWNLOADS:
        k->i = d->downloads;
        break;
    case SORT_LIKES:
        k->i = d->likes;
        break;
    case SORT_RATING:
        k->d = d->rating;
        break;
    case SORT_PRICE_ASC:
    case SORT_PRICE_DESC:
        k->s = d->price_key;
        break;
    }
}

/* key_cmp() orders (a, aid) against (b, bid) as the results list them. */
static int key_cmp(const struct sdb_sort *o, const struct sdb_key *a, int64_t aid,
                   const struct sdb_key *b, int64_t bid)
{
    int c;

    if (o->type == SEARCH_KEY_INT)
        c = (a->i > b->i) - (a->i < b->i);
    else if (o->type == SEARCH_KEY_REAL)
        c = (a->d > b->d) - (a->d < b->d);
    else
        c = strcmp(a->s, b->s);
    if (!c)
        c = (aid > bid) - (aid < bid);
    return o->asc ? c : -c;
}

struct query_word {
    char tok[1024];
    int n, count;
};

static int on_query_token(void *ctx, int tflags, const char *tok, int n, int start, int end)
{
    struct query_word *w = ctx;

    UNUSED(start);
    UNUSED(end);
    if (tflags & FTS5_TOKEN_COLOCATED)
        return SQLITE_OK;
    if (++w->count == 1 && n > 0 && (size_t)n <= sizeof(w->tok)) {
        memcpy(w->tok, tok, (size_t)n);
        w->n = n;
    } else if (w->count == 1) {
        w->count = 2; /* too long for us: SQL answers */
    }
    return SQLITE_OK;
}

/* evaluate() runs the query on the index; under lock (shared). */
static int evaluate(const struct sxd *d, const struct search_query *q,
                    const struct query_word *words, const struct sdb_key *after,
                    struct search_result *r, struct ag_err *e)
{
    const struct sdb_sort *o = sdb_sort_spec(q->sort);
    struct phrase ph[SEARCH_MAX_WORDS];
    struct cand best[SEARCH_MAX_ROWS];
    struct counts fc[3];
    struct filter f;
    struct sdb_key cursor = after ? *after : (struct sdb_key){0};
    int nph = q->nwords, nbest = 0, driver = 0, rc = 0;
    double avgdl = d->nlive ? (double)d->ntokens / (double)d->nlive : 0;
    int64_t total = 0;

    memset(ph, 0, sizeof(ph));
    memset(fc, 0, sizeof(fc));
    filter_init(d, q, &f);
    for (int i = 0; !rc && i < nph; i++) {
        uint32_t lo = lower_bound(d, words[i].tok, (size_t)words[i].n), hi = lo;
        while (hi < d->nsorted && d->terms.len[d->sorted[hi]] >= (uint32_t)words[i].n &&
               !memcmp(d->terms.s[d->sorted[hi]], words[i].tok, (size_t)words[i].n))
            hi++;
        if (hi - lo == 1) {
            ph[i].p = d->posts[d->sorted[lo]].p;
            ph[i].n = d->posts[d->sorted[lo]].n;
        } else if (hi > lo) {
            rc = phrase_merge(d, lo, hi, &ph[i]);
        }
        for (uint32_t k = 0; k < ph[i].n; k++)
            ph[i].nhit += d->slot[ph[i].p[k].slot] != NULL;
        /* FTS5's bm25 IDF, floored at 1e-6 as there. */
        ph[i].idf = log(((double)(d->nlive - ph[i].nhit) + 0.5) / ((double)ph[i].nhit + 0.5));
        if (ph[i].idf <= 0.0)
            ph[i].idf = 1e-6;
        if (ph[i].n < ph[driver].n)
            driver = i;
    }
    for (uint32_t k = 0; !rc && !f.none && k < ph[driver].n; k++) {
        uint32_t slot = ph[driver].p[k].slot, wtf[SEARCH_MAX_WORDS];
        /* The documents are scattered in memory: ask for the ones ahead. */
        if (k + 8 < ph[driver].n)
            __builtin_prefetch(&d->slot[ph[driver].p[k + 8].slot]);
        if (k + 4 < ph[driver].n)
            __builtin_prefetch(d->slot[ph[driver].p[k + 4].slot]);
        struct cand c = {.doc = d->slot[slot]};
        bool all = c.doc != NULL;
        for (int i = 0; all && i < nph; i++) {
            const struct post *p = i == driver ? &ph[driver].p[k] : seek(&ph[i], slot);
            all = p && p->slot == slot;
            if (all)
                wtf[i] = p->wtf;
        }
        if (!all || !filter_pass(&f, q, c.doc))
            continue;
        total++;
        if (counts_add(&fc[0], c.doc->task) || counts_add(&fc[1], c.doc->license) ||
            counts_add(&fc[2], c.doc->library)) {
            rc = AG_ENOMEM;
            break;
        }
        if (q->sort == SORT_RELEVANCE) {
            /* FTS5's bm25(), term by term in query order, as fts5_aux.c. */
            double D = (double)c.doc->ntok, score = 0.0;
            for (int i = 0; i < nph; i++) {
                double fr = (double)wtf[i];
                score += ph[i].idf * ((fr * (BM25_K1 + 1.0)) /
                                      (fr + BM25_K1 * (1 - BM25_B + BM25_B * D / avgdl)));
            }
            c.rank = -1.0 * score;
        }
        struct sdb_key ck;
        cand_key(q->sort, &c, &ck);
        if (after && key_cmp(o, &ck, c.doc->id, &cursor, q->after_id) <= 0)
            continue;
        if (nbest == q->limit) {
            struct sdb_key wk;
            cand_key(q->sort, &best[nbest - 1], &wk);
            if (key_cmp(o, &ck, c.doc->id, &wk, best[nbest - 1].doc->id) >= 0)
                continue;
            nbest--;
        }
        int at = nbest;
        while (at > 0) {
            struct sdb_key pk;
            cand_key(q->sort, &best[at - 1], &pk);
            if (key_cmp(o, &ck, c.doc->id, &pk, best[at - 1].doc->id) >= 0)
                break;
            best[at] = best[at - 1];
            at--;
        }
        best[at] = c;
        nbest++;
    }
    for (int i = 0; !rc && i < nbest; i++) {
        struct search_item *it = &r->items[i];
        struct sdb_key k;
        cand_key(q->sort, &best[i], &k);
        it->off = r->text.n;
        it->len = best[i].doc->item_len;
        it->id = best[i].doc->id;
        it->key_i = k.i;
        it->key_d = k.d;
        if (o->type == SEARCH_KEY_TEXT)
            memcpy(it->key_s, k.s, PRICE_KEY_LEN + 1);
        rc = buf_add(&r->text, best[i].doc->item, best[i].doc->item_len);
    }
    if (!rc) {
        r->nitems = nbest;
        r->total = total;
        r->indexed = true;
        rc = facets_json(d, fc, &r->facets);
    }
    for (int i = 0; i < nph; i++)
        free(ph[i].own);
    for (int g = 0; g < 3; g++) {
        free(fc[g].key);
        free(fc[g].n);
    }
    return rc ? ag_err_set(e, rc) : 0;
}

int sdb_search_indexed(struct store *s, const struct search_query *q, const struct sdb_key *after,
                       struct search_result *r, struct ag_err *e)
{
    struct sx *x = *sdb_sx(s);
    struct query_word *words;
    int rc = 0;

    /* Inside a transaction the caller sees its own snapshot, which the
     * shared index must not take in (uncommitted rows, an older state). */
    if (!x || q->sql_only || q->nwords < 1 || q->nwords > SEARCH_MAX_WORDS || sdb_in_tx(s))
        return 1;
    if (atomic_load(&x->seq) < 0) {
        pthread_mutex_lock(&x->state_mu);
        bool retry = !x->building && x->retry_at && time_mono_us() >= x->retry_at;
        pthread_mutex_unlock(&x->state_mu);
        if (retry)
            rebuild_start(x, NULL);
        return 1;
    }
    words = calloc((size_t)q->nwords, sizeof(*words));
    if (!words)
        return ag_err_set(e, AG_ENOMEM);
    pthread_mutex_lock(&x->query_mu);
    for (int i = 0; !rc && i < q->nwords; i++) {
        if (x->query_tok.x.xTokenize(x->query_tok.t, &words[i],
                                     FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_PREFIX, q->words[i],
                                     (int)strlen(q->words[i]), on_query_token) != SQLITE_OK)
            rc = ag_err_set(e, AG_ENOMEM);
        else if (words[i].count != 1)
            rc = 1; /* a phrase to FTS5, or nothing: SQL answers */
    }
    pthread_mutex_unlock(&x->query_mu);
    if (!rc && (rc = catch_up(x, e)) < 0) {
        /* The database is busy or failing: SQL answers, or says why. */
        if (e)
            ag_err_clear(e);
        rc = 1;
    }
    if (!rc) {
        pthread_rwlock_rdlock(&x->lock);
        rc = x->d ? evaluate(x->d, q, words, after, r, e) : 1;
        pthread_rwlock_unlock(&x->lock);
    }
    free(words);
    return rc;
}

/* ---- life cycle ------------------------------------------------------------ */

int store_search_index_start(struct store *s, int foreign_ms, struct ag_err *e)
{
    struct sx **slot = sdb_sx(s), *x;
    int rc;

    if (*slot)
        return 0;
    x = calloc(1, sizeof(*x));
    if (!x)
        return ag_err_set(e, AG_ENOMEM);
    x->s = s;
    x->foreign_us = (int64_t)MAX(foreign_ms, 0) * 1000;
    atomic_init(&x->looked_commits, 0);
    atomic_init(&x->looked_at, 0);
    atomic_init(&x->seq, -1);
    atomic_init(&x->stop, false);
    pthread_mutex_init(&x->apply_mu, NULL);
    pthread_mutex_init(&x->query_mu, NULL);
    pthread_mutex_init(&x->state_mu, NULL);
    pthread_cond_init(&x->state_cv, NULL);
    pthread_rwlock_init(&x->lock, NULL);
    if (sqlite3_open_v2(sdb_path(s), &x->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = ag_errf(e, AG_EDB, NULL, "search index: cannot open the database");
        goto fail;
    }
    rc = tokenizer_open(x->db, &x->build_tok, e);
    rc = rc ? rc : tokenizer_open(x->db, &x->doc_tok, e);
    rc = rc ? rc : tokenizer_open(x->db, &x->query_tok, e);
    if (rc)
        goto fail;
    *slot = x;
    return rebuild_start(x, e);
fail:
    *slot = x;
    sdb_search_index_free(s);
    return rc;
}

int store_search_index_wait(struct store *s, int timeout_ms, struct ag_err *e)
{
    struct sx *x = *sdb_sx(s);
    struct timespec until;
    int rc = 0;

    if (!x)
        return ag_errf(e, AG_EINVAL, NULL, "the search index was not started");
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&x->state_mu);
    while (x->building && !rc)
        rc = pthread_cond_timedwait(&x->state_cv, &x->state_mu, &until);
    if (x->building)
        rc = ag_errf(e, AG_ETIMEOUT, NULL, "the search index is still being built");
    else if (x->build_rc)
        rc = ag_errf(e, x->build_rc, NULL, "%s",
                     x->build_msg[0] ? x->build_msg : ag_strerror(x->build_rc));
    else
        rc = 0;
    pthread_mutex_unlock(&x->state_mu);
    return rc;
}

void store_search_index_status(struct store *s, struct search_index_status *st)
{
    struct sx *x = *sdb_sx(s);

    memset(st, 0, sizeof(*st));
    st->state = "off";
    if (!x)
        return;
    pthread_rwlock_rdlock(&x->lock);
    if (x->d) {
        st->state = "ready";
        st->listings = x->d->nlive;
        st->terms = x->d->terms.n;
        st->postings = (int64_t)x->d->nposts;
        st->seq = x->d->seq;
    }
    pthread_rwlock_unlock(&x->lock);
    if (!st->listings && strcmp(st->state, "ready")) {
        pthread_mutex_lock(&x->state_mu);
        st->state = x->building ? "building" : x->build_rc ? "failed" : "off";
        pthread_mutex_unlock(&x->state_mu);
    }
}

void sdb_search_index_free(struct store *s)
{
    struct sx **slot = sdb_sx(s), *x = *slot;

    if (!x)
        return;
    atomic_store(&x->stop, true);
    pthread_mutex_lock(&x->state_mu);
    bool joinable = x->joinable;
    x->joinable = false;
    pthread_mutex_unlock(&x->state_mu);
    if (joinable)
        pthread_join(x->builder, NULL);
    sxd_free(x->d);
    tokenizer_close(&x->build_tok);
    tokenizer_close(&x->doc_tok);
    tokenizer_close(&x->query_tok);
    sqlite3_close(x->db);
    pthread_rwlock_destroy(&x->lock);
    pthread_cond_destroy(&x->state_cv);
    pthread_mutex_destroy(&x->state_mu);
    pthread_mutex_destroy(&x->query_mu);
    pthread_mutex_destroy(&x->apply_mu);
    free(x);
    *slot = NULL;
}
