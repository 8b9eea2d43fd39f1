/* store.h - the only door to persistence.
 *
 * The market layer talks to the database through these functions alone; no
 * SQL leaves src/store/. The SQLite backend (sqlite.c) implements them; a
 * PostgreSQL backend would implement the same functions and produce the same
 * JSON, so src/market never changes.
 *
 * Conventions:
 * - Every function returns 0 or a negative AG_E* code; when `e` is given it
 *   also receives a message. AG_ENOTFOUND: no such row. AG_EEXISTS: a unique
 *   key is taken (e->field names it). AG_EDB: the database failed (the
 *   message is logged, not shown to users).
 * - Reads return new JSON references in *out (the caller decrefs); their keys
 *   are the column names documented at each function, with JSON-array columns
 *   (tags, datasets, metrics, language, links) returned as arrays and
 *   timestamps as Unix seconds.
 * - Writes take plain values; strings are copied, never kept.
 * - Thread-safety: any thread may call any function. Each thread uses its own
 *   connection (with its own prepared-statement cache) opened on first use.
 *   store_begin()/store_commit()/store_rollback() act on the calling
 *   thread's connection, so a transaction never spans threads.
 */
#ifndef AGORA_STORE_H
#define AGORA_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct store;

/* store_open() opens (creating if needed) the database at `path` and applies
 * pending migrations, each in its own transaction. */
int store_open(const char *path, struct store **out, struct ag_err *e);
void store_close(struct store *s);
/* store_optimize() refreshes the query planner's statistics (a sampled
 * ANALYZE); a long-running node calls it after opening. Never fails: when
 * the database is busy it logs and leaves the old statistics. */
void store_optimize(struct store *s);
/* store_health() runs a trivial query; *version gets the schema version. */
int store_health(struct store *s, int *version, struct ag_err *e);

/* Transactions on the calling thread's connection (BEGIN IMMEDIATE). */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* A read transaction (BEGIN, deferred): the reads inside see one snapshot
 * and open no transaction of their own. Pairs with store_read_end(). */
int store_read_begin(struct store *s);
int store_read_end(struct store *s);

/* ---- users -------------------------------------------------------------- */

/* Who a credential belongs to. */
struct principal {
    int64_t user_id;
    char username[33];
    char role[8];          /* "user" or "admin" */
    char csrf[65];         /* the session's CSRF token; "" for API tokens */
    bool via_session;
};

struct user_auth {
    int64_t id;
    char username[33];
    char role[8];
    char pw_hash[160];
};

/* AG_EEXISTS with field "username" or "email" when taken. */
int store_user_insert(struct store *s, const char *username, const char *email,
                      const char *pw_hash, const char *role, int64_t now, int64_t *id,
                      struct ag_err *e);
/* Looks a user up by username or (case-insensitively) by email. */
int store_user_auth(struct store *s, const char *login, struct user_auth *out, struct ag_err *e);
int store_user_set_password(struct store *s, int64_t user_id, const char *pw_hash, struct ag_err *e);
/* Profile: {id, username, email, role, display_name, bio, links[], created_at,
 * updated_at}. The API decides who may see `email`. */
int store_user_get(struct store *s, const char *username, json_t **out, struct ag_err *e);
/* NULL arguments leave the field as it is; links_json is a JSON array text. */
int store_user_update(struct store *s, int64_t user_id, const char *display_name, const char *bio,
                      const char *links_json, int64_t now, struct ag_err *e);
int store_user_set_role(struct store *s, int64_t user_id, const char *role, struct ag_err *e);
int store_user_count(struct store *s, int64_t *n, struct ag_err *e);
/* Totals over a seller's public models: {models, downloads, likes,
 * rating_sum, rating_count}. */
int store_seller_stats(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);

/* ---- sessions and API tokens (only hashes are stored) ------------------- */

int store_session_insert(struct store *s, int64_t user_id, const char *token_hash,
                         const char *csrf, int64_t now, int64_t expires_at, struct ag_err *e);
int store_session_delete(struct store *s, const char *token_hash, struct ag_err *e);
/* AG_ENOTFOUND when absent or expired at `now`. */
int store_principal_by_session(struct store *s, const char *token_hash, int64_t now,
                               struct principal *out, struct ag_err *e);
/* AG_ENOTFOUND when absent or revoked; records last_used_at = now. */
int store_principal_by_token(struct store *s, const char *token_hash, int64_t now,
                             struct principal *out, struct ag_err *e);
int store_token_insert(struct store *s, int64_t user_id, const char *name, const char *prefix,
                       const char *token_hash, int64_t now, int64_t *id, struct ag_err *e);
/* The user's tokens that are not revoked: [{id, name, prefix, created_at, last_used_at}]. */
int store_token_list(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);
/* AG_ENOTFOUND unless token `id` is an active token of `user_id`. */
int store_token_revoke(struct store *s, int64_t user_id, int64_t id, int64_t now,
                       struct ag_err *e);

/* ---- login throttling ---------------------------------------------------- */

struct throttle {
    int64_t failures;
    int64_t window_start;
    int64_t locked_until;
};

/* store_throttle_get() fills zeros when `key` has no record. */
int store_throttle_get(struct store *s, const char *key, struct throttle *t, struct ag_err *e);
int store_throttle_put(struct store *s, const char *key, const struct throttle *t,
                       struct ag_err *e);
int store_throttle_clear(struct store *s, const char *key, struct ag_err *e);

/* ---- models -------------------------------------------------------------- */

/* Fields of a listing. For insert, NULL means the column default; for update,
 * NULL means unchanged. *_json members are JSON array texts. price is a
 * canonical decimal and price_key its 78-digit zero-padded form; both or neither. */
struct model_fields {
    const char *slug, *title, *summary, *card;
    const char *task, *library, *license, *base_model;
    const char *tags_json, *datasets_json, *metrics_json, *language_json;
    const char *price, *price_key;
    const char *visibility;
};

/* AG_EEXISTS with field "slug" when the owner already has that slug. Also
 * fills model_tags from tags_json. */
int store_model_insert(struct store *s, int64_t owner_id, const struct model_fields *f,
                       int64_t now, int64_t *id, struct ag_err *e);
int store_model_update(struct store *s, int64_t id, const struct model_fields *f, int64_t now,
                       struct ag_err *e);
int store_model_delete(struct store *s, int64_t id, struct ag_err *e);
/* A listing: {id, owner, owner_id, slug, title, summary, card, task, library,
 * license, tags[], datasets[], metrics[], language[], base_model, price,
 * visibility, downloads, likes, rating, rating_count, created_at, updated_at}.
 * `rating` is the mean of review ratings (0 when none). */
int store_model_get(struct store *s, const char *owner, const char *slug, json_t **out,
                    struct ag_err *e);

enum search_sort {
    SORT_RELEVANCE, /* bm25 rank; only with a text query, else falls back to NEWEST */
    SORT_NEWEST,
    SORT_UPDATED,
    SORT_DOWNLOADS,
    SORT_LIKES,
    SORT_RATING,
    SORT_PRICE_ASC,
    SORT_PRICE_DESC,
};

#define SEARCH_MAX_TAGS  8
#define SEARCH_MAX_WORDS 16
#define SEARCH_MAX_ROWS  101 /* a page of at most 100, plus one to tell if more follow */

struct search_query {
    /* Words to find, all required, each as a prefix ("resn" finds resnet) in
     * the title, summary, card or tags; ranked by bm25 with weights 10, 5, 1
     * and 3. Plain text: the store builds its own full-text expression. */
    const char *words[SEARCH_MAX_WORDS];
    int nwords;
    const char *task, *library, *license, *owner;   /* exact matches, NULL = any */
    const char *tags[SEARCH_MAX_TAGS];              /* all must be present */
    int ntags;
    const char *price_min_key, *price_max_key;      /* 78-digit keys, inclusive */
    bool free_only;
    double min_rating;       /* 0 = no minimum */
    bool include_hidden;     /* also unlisted, private and draft (the owner's own view) */
    enum search_sort sort;
    const char *after_key;   /* keyset cursor: sort key and id of the last item seen */
    int64_t after_id;
    int limit;               /* 1..SEARCH_MAX_ROWS */
    bool sql_only;           /* skip the in-memory index (its tests compare both answers) */
};

/* The type of a sort order's values. */
enum search_key_type { SEARCH_KEY_INT, SEARCH_KEY_REAL, SEARCH_KEY_TEXT };

/* One listing of a result: its JSON object (the listing as store_model_get()
 * describes it, without `card`) at r->text.p + off, `len` bytes; its id; and
 * its sort value, in the member r->key_type names (search_item_key() gives
 * it as text, to build the next cursor from). */
struct search_item {
    size_t off, len;
    int64_t id;
    int64_t key_i;
    double key_d;
    char key_s[80];
};

struct search_result {
    struct search_item items[SEARCH_MAX_ROWS];
    int nitems;
    enum search_key_type key_type;
    struct buf text;   /* the items' JSON objects, back to back */
    struct buf facets; /* {"task": {value: count}, "license": {...}, "library": {...}} */
    int64_t total;
    bool indexed;      /* answered by the in-memory index rather than SQL */
};

/* search_item_key() writes item i's sort value as text: integers in decimal,
 * reals with 17 significant digits (so a cursor round-trips exactly). */
void search_item_key(const struct search_result *r, int i, char out[80]);
void search_result_init(struct search_result *r);
void search_result_release(struct search_result *r);

/*
 * store_model_search() finds up to q->limit listings in sort order after the
 * cursor, with the facets and total over the whole filtered set (ignoring the
 * cursor). Without include_hidden only public listings match. Text searches
 * are answered by the in-memory index once it is built (see
 * store_search_index_start()), else by SQLite FTS5; both give the same
 * items, ranks, facets and totals. AG_EINVAL for a bad cursor or limit.
 */
int store_model_search(struct store *s, const struct search_query *q, struct search_result *r,
                       struct ag_err *e);

/*
 * The in-memory search index (sqlite_search.c): the full-text postings of
 * every listing and the columns filters, facets and sorts read, so a text
 * search costs microseconds per match instead of FTS5's bm25 over each row.
 * It tokenizes with SQLite's own unicode61 tokenizer and ranks with FTS5's
 * bm25 formula, so its answers are FTS5's. It follows every write, by this
 * node or any other process, through the trigger-fed `model_changes` log.
 *
 * store_search_index_start() builds it on a background thread; until it is
 * ready, searches use SQL. Writes through this process's stores show in the
 * next search; writes by other processes (another node on the same file, a
 * script) within foreign_ms (0: on the next search too, at the cost of a
 * read transaction per search). store_search_index_wait() waits up to timeout_ms
 * for it: 0 when ready, AG_ETIMEOUT, or the build's error. store_close()
 * stops and frees it.
 */
int store_search_index_start(struct store *s, int foreign_ms, struct ag_err *e);
int store_search_index_wait(struct store *s, int timeout_ms, struct ag_err *e);

/* What /healthz shows of the index. state: "off" (not started), "building",
 * "ready" or "failed" (SQL answers, the log says why). The counts are those
 * of the ready index: listings (all visibilities), distinct terms, postings
 * (dead ones included until compacted) and the change-log position. */
struct search_index_status {
    const char *state;
    int64_t listings, terms, postings, seq;
};
void store_search_index_status(struct store *s, struct search_index_status *st);

/* ---- versions and files ------------------------------------------------ */

/* AG_EEXISTS with field "version" when the model already has it. */
int store_version_insert(struct store *s, int64_t model_id, const char *version, int64_t major,
                         int64_t minor, int64_t patch, const char *prerelease,
                         const char *changelog, int64_t now, int64_t *id, struct ag_err *e);
/* A version: {id, version, major, minor, patch, prerelease, changelog, state,
 * created_at, published_at, files: [{id, name, size, cid, sha256}]}; cid and
 * sha256 are null until content is stored. The list is unordered; drafts only
 * with include_drafts. */
int store_version_list(struct store *s, int64_t model_id, bool include_drafts, json_t **out,
                       struct ag_err *e);
/* The published versions with the highest major.minor.patch of a model, as
 * [{version}] (empty when none is published): the latest is among them. */
int store_version_top(struct store *s, int64_t model_id, json_t **out, struct ag_err *e);
int store_version_get(struct store *s, int64_t model_id, const char *version, json_t **out,
                      struct ag_err *e);
int store_version_update(struct store *s, int64_t version_id, const char *changelog,
                         struct ag_err *e);
int store_version_publish(struct store *s, int64_t version_id, int64_t now, struct ag_err *e);
/* Adds or replaces file `name` of a version. cid and sha256 may be NULL. */
int store_file_put(struct store *s, int64_t version_id, const char *name, int64_t size,
                   const char *cid, const char *sha256, int64_t now, int64_t *id,
                   struct ag_err *e);
int store_file_delete(struct store *s, int64_t version_id, const char *name, struct ag_err *e);
/* Counts a download of file_id by `who` on UTC day `day` once: *counted is
 * true and models.downloads grows by one only the first time. */
int store_download_record(struct store *s, int64_t file_id, const char *who, int64_t day,
                          bool *counted, struct ag_err *e);

/* ---- likes and reviews --------------------------------------------------- */

/* Sets or clears a like; keeps models.likes in step. *likes gets the new count. */
int store_like_set(struct store *s, int64_t user_id, int64_t model_id, bool on, int64_t now,
                   int64_t *likes, struct ag_err *e);
int store_like_get(struct store *s, int64_t user_id, int64_t model_id, bool *liked,
                   struct ag_err *e);
/* Creates or replaces the user's review of the model; keeps the model's
 * rating_sum, rating_count and rating in step. */
int store_review_put(struct store *s, int64_t model_id, int64_t user_id, int rating,
                     const char *body, bool verified, int64_t now, int64_t *id,
                     struct ag_err *e);
/* Newest first: [{id, user, rating, body, verified, created_at, updated_at}]. */
int store_review_list(struct store *s, int64_t model_id, int limit, int offset, json_t **out,
                      struct ag_err *e);
/* Reviews written by a user, newest first: [{id, model: "owner/slug", rating,
 * body, verified, created_at}], public models only. */
int store_review_list_by_user(struct store *s, int64_t user_id, int limit, json_t **out,
                              struct ag_err *e);


/* ==== storage: uploads, file keys, pins (sqlite_storage.c; issue 3) ====== */

struct upload_row {
    char id[33];
    int64_t version_id, user_id, model_id;
    char name[256];
    int64_t size;
    char sha256[65];       /* "" when the uploader declared none */
    int64_t created_at, expires_at;
    char state[16];        /* the version's state: "draft" or "published" */
    char owner[33], slug[65], version[160];   /* read only: where the file goes */
};

/* AG_EEXISTS if the id is taken (never, with random ids). */
int store_upload_insert(struct store *s, const struct upload_row *u, struct ag_err *e);
/* AG_ENOTFOUND when there is no upload `id`. */
int store_upload_get(struct store *s, const char *id, struct upload_row *out, struct ag_err *e);
/* *deleted tells whether this call removed the row (several nodes may race
 * to clean the same expired upload: exactly one wins). */
int store_upload_delete(struct store *s, const char *id, bool *deleted, struct ag_err *e);
/* Ids of uploads that expired before `now`, at most `limit`: a JSON array of strings. */
int store_upload_expired(struct store *s, int64_t now, int limit, json_t **out, struct ag_err *e);

/* A stored file: the version_files row with its sealed key, if any. */
struct file_row {
    int64_t id, version_id, size;
    char name[256];
    char cid[128];         /* "" until content is stored */
    char sha256[65];
    char sealed_key[256];  /* hex; "" for a file stored in clear */
    int format;            /* encryption format (1), 0 in clear */
    int64_t stored_size;   /* bytes of the stored (encrypted) DAG's file */
};

/* store_file_get() reads file `name` of a version; AG_ENOTFOUND if absent. */
int store_file_get(struct store *s, int64_t version_id, const char *name, struct file_row *out,
                   struct ag_err *e);
/* store_file_key_put() records (sealed_key non-NULL) or clears the file's key. */
int store_file_key_put(struct store *s, int64_t file_id, const char *sealed_key, int format,
                       int64_t stored_size, struct ag_err *e);
/* store_pins() returns every distinct root CID of every stored file (the
 * pins gc keeps): a JSON array of strings. */
int store_pins(struct store *s, json_t **out, struct ag_err *e);

/* The Kubo re-pin queue (table kubo_pins): roots stored here but not yet
 * pinned to the configured Kubo node. store_kubo_pin_add() queues `cid`, due
 * at `now` (again is fine: a queued root becomes due at once). */
int store_kubo_pin_add(struct store *s, const char *cid, int64_t now, struct ag_err *e);
/* Queued roots due at `now` (next_try_at <= now), oldest first, at most
 * `limit`: [{cid, attempts}]. */
int store_kubo_pin_due(struct store *s, int64_t now, int limit, json_t **out, struct ag_err *e);
/* store_kubo_pin_done() takes `cid` off the queue (absent is fine). */
int store_kubo_pin_done(struct store *s, const char *cid, struct ag_err *e);
/* store_kubo_pin_retry() counts a failed attempt at `cid`, keeps `error`
 * (may be NULL) and makes it due again at `next_try_at`. */
int store_kubo_pin_retry(struct store *s, const char *cid, int64_t next_try_at, const char *error,
                         struct ag_err *e);
/* store_kubo_pin_wake() makes every queued root due at `now` (Kubo is back). */
int store_kubo_pin_wake(struct store *s, int64_t now, struct ag_err *e);
/* store_kubo_pin_count() counts the queued roots. */
int store_kubo_pin_count(struct store *s, int64_t *n, struct ag_err *e);

/* ==== chain index (sqlite_chain.c; issue 4) ===============================
 *
 * The database is an index of the chain: every contract event the indexer
 * accepted, with the block number and hash it came from, unique by
 * (tx_hash, log_index). Everything derived (a model's token, owner and
 * price, licences) is read from those events, so rolling back a reorg is
 * deleting the events above the fork. Hashes and addresses are lowercase
 * "0x" hex; uint256 values are decimal strings.
 */

struct chain_cursor {
    int64_t chain_id;
    int64_t start_block;   /* the deployment block: where indexing began */
    int64_t next_block;    /* first block not yet indexed */
    int64_t head;          /* the chain head last seen */
    int64_t updated_at;
};

/* AG_ENOTFOUND before the first store_chain_cursor_init(). */
int store_chain_cursor_get(struct store *s, struct chain_cursor *out, struct ag_err *e);
/* Creates the cursor at start_block unless one exists; an existing cursor of
 * another chain id is AG_ECONFLICT (the data dir indexes another chain). */
int store_chain_cursor_init(struct store *s, int64_t chain_id, int64_t start_block,
                            struct ag_err *e);
/* Takes or renews the indexing lease for `owner` until now + ttl when it is
 * free, expired or already ours; *held tells whether we hold it. */
int store_chain_lease(struct store *s, const char *owner, int64_t now, int64_t ttl, bool *held,
                      struct ag_err *e);
void store_chain_lease_drop(struct store *s, const char *owner);
int store_chain_head_set(struct store *s, int64_t head, int64_t now, struct ag_err *e);

struct chain_event_row {
    int64_t block_number, log_index;
    const char *block_hash, *tx_hash, *contract, *name;
    const char *model_id, *account;   /* may be NULL */
    const char *args;                 /* JSON object text */
};

/* store_chain_apply() records one indexed range in one transaction: the
 * events (an event already present is skipped: *inserted counts the new
 * ones), the block hashes, and the cursor moved to next_block. */
int store_chain_apply(struct store *s, const struct chain_event_row *ev, size_t nev,
                      const int64_t *block_numbers, const char *const *block_hashes,
                      size_t nblocks, int64_t next_block, int *inserted, struct ag_err *e);
/* Stored block hashes at or below `at`, newest first, at most `limit`:
 * [{number, hash}]. */
int store_chain_blocks(struct store *s, int64_t at, int limit, json_t **out, struct ag_err *e);
/* store_chain_rollback() forgets everything above block `keep` (events and
 * hashes) and moves the cursor to keep + 1; *removed counts events removed. */
int store_chain_rollback(struct store *s, int64_t keep, int64_t *removed, struct ag_err *e);
int store_chain_event_count(struct store *s, int64_t *n, struct ag_err *e);
/* Events, oldest first, optionally of one name: [{block_number, block_hash,
 * tx_hash, log_index, contract, name, model_id, account, args}]. */
int store_chain_events(struct store *s, const char *name, int limit, json_t **out,
                       struct ag_err *e);
/* The on-chain side of a listing registered under slug_hash (keccak256 of
 * "owner/slug", lowercase hex): {token_id, owner, price, versions,
 * registered_block}. AG_ENOTFOUND when it is not registered. */
int store_chain_model(struct store *s, const char *slug_hash, json_t **out, struct ag_err *e);
/* Whether an address linked to `user_id` holds a licence (a purchase not
 * refunded) for model token `token_id`. */
int store_chain_has_licence(struct store *s, const char *token_id, int64_t user_id, bool *has,
                            struct ag_err *e);
/* store_chain_only_refunded(): the user (by name) bought the token and every
 * such purchase was refunded; false while any stands, or none was made. */
int store_chain_only_refunded(struct store *s, const char *token_id, const char *username,
                              bool *refunded, struct ag_err *e);
/* Whether `address` holds a licence for `token_id`. */
int store_chain_address_licensed(struct store *s, const char *token_id, const char *address,
                                 bool *has, struct ag_err *e);
/* The user's licences: [{token_id, buyer, purchase_id, price, block_number, tx_hash}]. */
int store_chain_licences(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);

/* Wallets. store_wallet_link() links `address` to the user (again is fine);
 * AG_EEXISTS with field "address" when another account has it. */
int store_wallet_link(struct store *s, int64_t user_id, const char *address, int64_t now,
                      struct ag_err *e);
/* AG_ENOTFOUND when no account has linked `address`. */
int store_wallet_user(struct store *s, const char *address, int64_t *user_id, char username[33],
                      struct ag_err *e);
/* [{address, linked_at}] */
int store_wallet_list(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);

/* SIWE nonces: put stores one; take consumes it, AG_ENOTFOUND when unknown,
 * used or expired at `now` (expired ones are purged on the way). */
int store_siwe_nonce_put(struct store *s, const char *nonce, int64_t expires_at,
                         struct ag_err *e);
int store_siwe_nonce_take(struct store *s, const char *nonce, int64_t now, struct ag_err *e);
/* ==== end chain index ===================================================== */

/* ==== sales (sqlite_sales.c; issue 6: library and seller dashboard) ========
 *
 * Read-only queries over the chain index. Each returns a new JSON array,
 * newest first, at most 1000 rows: [{token_id, buyer, seller, purchase_id,
 * price, fee, royalty (decimal strings), release_at, block_number, tx_hash,
 * status ("escrowed", "disputed", "released", "refunded"), slug_hash,
 * metadata_uri (of the model's ModelRegistered event; null if not indexed)}].
 */
/* Purchases made from addresses linked to `user_id`. */
int store_sales_purchases(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);
/* Sales whose seller is an address linked to `user_id`. */
int store_sales_sold(struct store *s, int64_t user_id, json_t **out, struct ag_err *e);
/* ==== end sales ============================================================ */

#endif
