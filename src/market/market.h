/* market.h - the marketplace's domain rules: accounts, listings, versions,
 * search, likes, reviews and reputation.
 *
 * Pure logic over store.h: validation, access policy, password hashing,
 * throttling. It knows nothing of HTTP; the API layer turns requests into
 * these calls and their results into responses.
 *
 * Conventions: functions return 0 or a negative AG_E* code and describe the
 * failure in `e` (with the input field at fault). Results come back as new
 * JSON references in *out, shaped as docs/openapi.yaml documents; the caller
 * decrefs them. `viewer` is who is asking (NULL = anonymous); every access
 * decision about a listing goes through market_model_access().
 */
#ifndef AGORA_MARKET_H
#define AGORA_MARKET_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/store.h"

enum pwhash_level { PWHASH_MIN, PWHASH_INTERACTIVE, PWHASH_MODERATE };

struct market_config {
    enum pwhash_level pwhash;
    int64_t session_ttl;           /* seconds */
    int throttle_account_max;      /* failures per window before an account is locked */
    int throttle_ip_max;           /* failures per window before an address is locked */
    int64_t throttle_window;       /* seconds */
    int64_t throttle_lock;         /* seconds an account or address stays locked */
};

struct market_storage;
struct market_kubo_pinner;

#define MARKET_ORIGINS_MAX 8
#define MARKET_ORIGIN_MAX  256 /* host[:port] */
#define MARKET_SCHEME_MAX  8

/* An origin users reach the node at (origin.c), normalized: lowercase
 * "http" or "https", lowercase host, no default port. */
struct market_origin {
    char scheme[MARKET_SCHEME_MAX];
    char authority[MARKET_ORIGIN_MAX];
};

struct market {
    struct store *store;
    struct market_config cfg;
    struct market_storage *storage; /* model files; NULL until market_storage_open() */
    uint64_t generation;            /* moves on every write a public read can see */
    struct market_chain *chain;     /* issue 4: the chain; NULL when none is configured */
    struct market_kubo_pinner *kubo_pinner; /* the Kubo re-pin thread; NULL when not running */
    /* The public origins SIWE messages must name: origins[0..norigins) are
     * written once by market_set_origins(), then published by a release
     * store of norigins, so they may be set while requests are served. */
    struct market_origin origins[MARKET_ORIGINS_MAX];
    size_t norigins;
};

/* market_init() fills sensible defaults for everything the config leaves 0. */
void market_init(struct market *m, struct store *store, const struct market_config *cfg);
/* market_release() frees what market_init() allocated (not the store). */
void market_release(struct market *m);
/* market_generation() changes whenever this node writes something a public
 * read could show; a response cache keyed on it serves this node's own writes
 * at once. Writes by other nodes are not seen: such a cache must also expire. */
uint64_t market_generation(const struct market *m);

/* ---- accounts (accounts.c) ------------------------------------------------ */

#define TOKEN_PREFIX "agora_"

struct login_result {
    json_t *user;               /* the user's own profile (with email) */
    char secret[80];            /* session token or API token: shown once, never stored */
    char csrf[65];              /* session only */
    int64_t token_id;           /* API token only */
    int64_t expires_at;         /* session only */
};

/* Creates an account with role "user" (or "admin" when `admin`). */
int market_register(struct market *m, const char *username, const char *email,
                    const char *password, bool admin, json_t **user, struct ag_err *e);
/*
 * market_login() checks the password of `login` (username or email) and, on
 * success, opens a browser session (token_name NULL) or creates an API token
 * named token_name. Repeated failures lock the account and the client address
 * for a while: AG_ERATELIMIT with e->retry_after set. A wrong login or password
 * is AG_EUNAUTH with the same message either way. The caller owns out->user.
 */
int market_login(struct market *m, const char *login, const char *password, const char *ip,
                 const char *token_name, struct login_result *out, struct ag_err *e);
int market_logout_session(struct market *m, const char *session_token, struct ag_err *e);
/* market_authenticate() resolves a bearer token (API token) or, with
 * `session`, a session cookie value, into *p. AG_EUNAUTH when unknown,
 * revoked or expired. */
int market_authenticate(struct market *m, const char *secret, bool session, struct principal *p,
                        struct ag_err *e);

int market_token_create(struct market *m, const struct principal *viewer, const char *name,
                        json_t **out, struct ag_err *e);
int market_token_list(struct market *m, const struct principal *viewer, json_t **out,
                      struct ag_err *e);
int market_token_revoke(struct market *m, const struct principal *viewer, int64_t id,
                        struct ag_err *e);
/* Revokes the API token whose secret is `secret` (logout from the CLI). */
int market_token_revoke_secret(struct market *m, const struct principal *viewer,
                               const char *secret, struct ag_err *e);

/* A profile with "reputation"; email only when viewer is the user or an admin. */
int market_user_get(struct market *m, const struct principal *viewer, const char *username,
                    json_t **out, struct ag_err *e);
struct profile_input {
    const char *display_name, *bio;  /* NULL = unchanged */
    json_t *links;                   /* array of http(s) URLs, NULL = unchanged */
};
int market_user_update(struct market *m, const struct principal *viewer, const char *username,
                       const struct profile_input *in, json_t **out, struct ag_err *e);

/* ---- listings (models.c) -------------------------------------------------- */

/* Input for create and update. NULL members are unset (create: default,
 * update: unchanged). Array members are JSON arrays of strings. A card with
 * YAML front matter supplies task, library, license, tags, datasets,
 * metrics, language and base_model that are not given explicitly. */
struct model_input {
    const char *slug, *title, *summary, *card;
    const char *task, *library, *license, *base_model;
    json_t *tags, *datasets, *metrics, *language;
    const char *price, *visibility;
};

enum model_action { MODEL_READ, MODEL_WRITE, MODEL_DELETE };

/*
 * market_model_access() is the one access policy for listings: public and
 * unlisted listings are readable by anyone; private and draft ones only by
 * their owner and admins (AG_ENOTFOUND to others, so their existence does not
 * leak). Writing is for the owner only (AG_EFORBIDDEN); deleting for the
 * owner and admins.
 */
int market_model_access(const struct principal *viewer, json_t *model, enum model_action action,
                        struct ag_err *e);

int market_model_create(struct market *m, const struct principal *viewer,
                        const struct model_input *in, json_t **out, struct ag_err *e);
/* The listing with "latest_version" and, for a signed-in viewer, "liked". */
int market_model_get(struct market *m, const struct principal *viewer, const char *owner,
                     const char *slug, json_t **out, struct ag_err *e);
int market_model_update(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, const struct model_input *in, json_t **out,
                        struct ag_err *e);
int market_model_delete(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, struct ag_err *e);

/* ---- search (search.c) ---------------------------------------------------- */

struct search_params {
    const char *q;
    const char *task, *library, *license, *owner;
    const char *tags[SEARCH_MAX_TAGS];
    int ntags;
    const char *price_min, *price_max;   /* decimal token units */
    bool free_only;
    double min_rating;
    const char *sort;                    /* NULL = relevance with q, else newest */
    int limit;                           /* 0 = 20 */
    const char *cursor;
};

/* Appends {items, facets, total, next_cursor} as JSON text to `out`. An owner
 * viewing their own listings (owner == viewer) also sees unlisted, private
 * and draft ones. On failure `out` may hold part of the answer. */
int market_search(struct market *m, const struct principal *viewer, const struct search_params *p,
                  struct buf *out, struct ag_err *e);

/* ---- versions (versions.c) ----------------------------------------------- */

struct version_input {
    const char *version;     /* create only */
    const char *changelog;   /* NULL = unchanged */
    json_t *files;           /* [{name, size}], NULL = unchanged; replaces the list */
    bool publish;
};

int market_version_create(struct market *m, const struct principal *viewer, const char *owner,
                          const char *slug, const struct version_input *in, json_t **out,
                          struct ag_err *e);
/* Newest semver first; drafts only for the owner. */
int market_version_list(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, json_t **out, struct ag_err *e);
/* `version` may be "latest": the highest published version. */
int market_version_get(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, const char *version, json_t **out, struct ag_err *e);
/* Drafts only: AG_ECONFLICT once published (published versions are immutable). */
int market_version_update(struct market *m, const struct principal *viewer, const char *owner,
                          const char *slug, const char *version, const struct version_input *in,
                          json_t **out, struct ag_err *e);
int market_version_publish(struct market *m, const struct principal *viewer, const char *owner,
                           const char *slug, const char *version, json_t **out,
                           struct ag_err *e);

/* ---- social signals (social.c) ------------------------------------------- */

int market_like(struct market *m, const struct principal *viewer, const char *owner,
                const char *slug, bool on, json_t **out, struct ag_err *e);
/* Any signed-in user but the owner; one review per user (a second replaces
 * the first). A review by a licence holder is verified (issue 4). */
int market_review_put(struct market *m, const struct principal *viewer, const char *owner,
                      const char *slug, int rating, const char *body, json_t **out,
                      struct ag_err *e);
int market_review_list(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, int limit, int offset, json_t **out, struct ag_err *e);
int market_user_reviews(struct market *m, const char *username, json_t **out, struct ag_err *e);
/* Counts a download of file `file_id` by `who` (a user id or a client
 * address) at most once per UTC day. */
int market_download_record(struct market *m, int64_t file_id, const char *who, struct ag_err *e);
/* The reputation score formula (docs/reputation.md) from seller totals. */
double market_reputation(int64_t downloads, int64_t likes, int64_t rating_sum,
                         int64_t rating_count);

/* ---- validation helpers (validate.c), exposed for tests ---------------- */

bool valid_username(const char *s);
bool valid_slug(const char *s);
bool valid_email(const char *s);
bool valid_file_name(const char *s);
/* valid_price() accepts a canonical decimal uint256 and writes its 78-digit
 * zero-padded key (79 bytes with NUL) when key is not NULL. */
bool valid_price(const char *s, char key[79]);

struct semver {
    int64_t major, minor, patch;
    char pre[64];
};
/* semver_parse() accepts MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (semver 2.0.0). */
int semver_parse(const char *s, struct semver *v);
/* semver_cmp() orders by semver precedence: <0, 0, >0. */
int semver_cmp(const struct semver *a, const struct semver *b);

/* card_front_matter() parses the YAML front matter of a model card into a JSON
 * object of the keys it understands (task, library, license, base_model:
 * strings; tags, datasets, metrics, language: arrays of strings). A card
 * without front matter gives an empty object. AG_EINVAL for front matter that
 * starts but does not end. */
int card_front_matter(const char *card, json_t **out, struct ag_err *e);


/* ==== storage (storage.c; issue 3): uploads, downloads, encryption, gc ====
 *
 * Model files live in a blockstore (DATA_DIR/blocks) as UnixFS DAGs; a
 * version's file entry holds the root CID and the sha256 of the bytes. Files
 * of paid models are encrypted before they are chunked
 * (docs/internals/encryption.md): only ciphertext is content-addressed, and
 * the per-file key is kept sealed under the node key (DATA_DIR/node.key).
 * Uploads are resumable: their bytes accumulate in DATA_DIR/uploads/ID.part,
 * whose length is the upload's offset.
 */

struct blockstore;

struct market_storage_config {
    const char *data_dir;       /* required */
    uint64_t max_upload;        /* largest file accepted, bytes; 0 = 64 GiB */
    int64_t upload_ttl;         /* seconds an upload may take; 0 = 24 hours */
    const char *kubo_api;       /* Kubo RPC base URL ("http://127.0.0.1:5001"), or NULL */
    bool verify;                /* verify block hashes on read (recommended) */
};

/* market_storage_open() opens the blockstore, creates the uploads directory
 * and loads the node key (creating it, mode 0600, on first start; a key file
 * readable by others is refused). Sets m->storage. AG_EIO with a message on
 * filesystem errors. */
int market_storage_open(struct market *m, const struct market_storage_config *cfg,
                        struct ag_err *e);
void market_storage_close(struct market *m);
/* The blockstore (for the gateway and gc); NULL before market_storage_open(). */
struct blockstore *market_blockstore(struct market *m);

/* market_upload_create() starts an upload of file `name` (size bytes, with
 * an optional lowercase-hex sha256) into a draft version of the viewer's
 * model: {id, model, version, name, size, sha256, offset, created_at,
 * expires_at}. AG_ECONFLICT for a published version, AG_ETOOBIG over the
 * size limit, AG_EINVAL for a bad name or checksum. */
int market_upload_create(struct market *m, const struct principal *viewer, const char *owner,
                         const char *slug, const char *version, const char *name, int64_t size,
                         const char *sha256, json_t **out, struct ag_err *e);
/* The upload as above with its current offset; AG_ENOTFOUND unless it is
 * the viewer's (or expired). */
int market_upload_get(struct market *m, const struct principal *viewer, const char *id,
                      json_t **out, struct ag_err *e);
int market_upload_delete(struct market *m, const struct principal *viewer, const char *id,
                         struct ag_err *e);

/* Appending to an upload: open (one writer at a time: AG_ECONFLICT when
 * another request holds it, or when `offset` is not the current offset,
 * which *current then gives), write pieces, finish, close. */
struct upload_writer;
int market_upload_open(struct market *m, const struct principal *viewer, const char *id,
                       uint64_t offset, struct upload_writer **out, uint64_t *current,
                       struct ag_err *e);
/* Appends durably-on-finish; AG_EINVAL past the declared size, AG_EIO on a
 * write failure (disk full): bytes written before it stay. */
int market_upload_write(struct upload_writer *w, const void *p, size_t n, struct ag_err *e);
/* market_upload_finish() syncs what was written and gives the new offset.
 * When the last byte is in, it imports the file (encrypting it first for a
 * paid model), checks the declared sha256 (AG_EINVAL on a mismatch: the
 * upload is discarded), fills the version's file entry and removes the
 * upload; *file is then the file entry {id, name, size, cid, sha256,
 * encrypted}, else NULL. */
int market_upload_finish(struct upload_writer *w, json_t **file, uint64_t *offset,
                         struct ag_err *e);
/* The upload's offset as far as this writer has written. */
uint64_t market_upload_offset(const struct upload_writer *w);
/* Syncs, unlocks and frees; safe on NULL. Bytes written stay. */
void market_upload_close(struct upload_writer *w);
/* market_upload_expire() removes uploads past their expiry (row and bytes)
 * and .part files no upload owns; safe with several nodes on one database.
 * *removed (may be NULL) counts them. */
int market_upload_expire(struct market *m, int64_t now, int *removed, struct ag_err *e);

/* Downloads. market_file_open() applies the one access policy for file
 * contents (market_file_access()) and opens file `name` of a version
 * ("latest" works). AG_ENOTFOUND for a missing file or one without content. */
struct market_file;
struct market_file_info {
    int64_t id;
    uint64_t size;            /* plaintext bytes */
    char name[256];
    char cid[128];            /* root of the stored (for paid files: encrypted) DAG */
    char sha256[65];          /* of the plaintext */
    bool encrypted;
};
/* market_file_access() decides who may read a version's file contents:
 * anyone for a free model's published version; for a paid model (its price
 * or, once registered on chain, its on-chain price is not zero) only the
 * owner, the holder of its token (market_chain_terms()) and licence holders
 * (market_licence_holder(), chain.c).
 * Drafts and hidden models are AG_ENOTFOUND to others; AG_EUNAUTH for an
 * anonymous caller of a paid file, AG_EFORBIDDEN for another user. */
int market_file_access(struct market *m, const struct principal *viewer, json_t *model,
                       json_t *version, struct ag_err *e);
int market_file_open(struct market *m, const struct principal *viewer, const char *owner,
                     const char *slug, const char *version, const char *name,
                     struct market_file **out, struct ag_err *e);
const struct market_file_info *market_file_info(const struct market_file *f);
/* market_file_read() copies plaintext bytes from `pos` into out (at most
 * max); *n = 0 at the end. Reads must not go backwards for an encrypted file
 * (AG_EINVAL); a corrupt block or ciphertext is AG_ECORRUPT. */
int market_file_read(struct market_file *f, uint64_t pos, void *out, size_t max, size_t *n,
                     struct ag_err *e);
/* Counts a full download by `who` (once per day, see market_download_record). */
int market_file_downloaded(struct market_file *f, const char *who, struct ag_err *e);
void market_file_close(struct market_file *f);

/* Kubo (kubo.c). market_storage_kubo_url() is the configured RPC URL or
 * NULL. market_kubo_status() probes it: "not_configured", "ok" or
 * "unreachable". market_kubo_pin() imports the DAG under `root` into Kubo
 * as a CAR and pins it (0 when no Kubo is configured); AG_EUNAVAILABLE when
 * Kubo cannot be reached or refuses: the node keeps its local copy anyway.
 * It can take as long as the DAG takes to send: requests never call it. */
struct cid;
const char *market_storage_kubo_url(struct market *m);
const char *market_kubo_status(struct market *m);
int market_kubo_pin(struct market *m, const struct cid *root, struct ag_err *e);

/* The Kubo re-pin queue (kubo_pin.c). With a Kubo node configured, storing
 * a file queues its root in the database (store_kubo_pin_add(), in the same
 * transaction as the file entry) and a background thread pins it, so an
 * upload never waits on Kubo and a root stored while Kubo is down is pinned
 * once it is back, also after a restart.
 *
 * market_kubo_pin_pass() makes one pass over the queue: when *down is true
 * (Kubo was unreachable on the previous pass) it first probes Kubo and, if it
 * answers, makes every queued root due at once and clears *down; then it
 * pins up to 16 due roots in turn. A pinned root leaves the queue; a failure
 * counts an attempt and backs the root off (2^attempts seconds, at most
 * 10 minutes); if Kubo turns out to be unreachable the pass stops and sets
 * *down. *pinned (may be NULL) counts the roots pinned. `cancel` (may be
 * NULL) abandons the pass once true. Returns 0, or AG_E* when the database
 * fails. Without Kubo configured it does nothing. */
int market_kubo_pin_pass(struct market *m, bool *down, int *pinned, const atomic_bool *cancel,
                         struct ag_err *e);
/* market_kubo_pending() counts the roots waiting to be pinned to Kubo. */
int market_kubo_pending(struct market *m, int64_t *n, struct ag_err *e);
/* The thread that runs the passes: it starts with one (roots queued before
 * a restart), then runs one every second while roots wait, every 30 s
 * otherwise (another node may queue), and at once when woken.
 * market_kubo_pinner_start() does nothing (0) without Kubo configured;
 * AG_EINTERNAL if the thread cannot start. market_kubo_pinner_wake() is
 * called after a root is queued (safe when no thread runs);
 * market_kubo_pinner_stop() cancels a pin in progress between blocks and
 * joins the thread (safe when none runs). */
int market_kubo_pinner_start(struct market *m, struct ag_err *e);
void market_kubo_pinner_wake(struct market *m);
void market_kubo_pinner_stop(struct market *m);

/* market_gc() removes blocks reachable from no stored file's root (the pins)
 * and older than `grace_s` seconds (so imports in flight survive), and the
 * blockstore's ".tmp-*" files (writes a crash cut short) older than the same
 * grace (blockstore_sweep_tmp()). Fails without deleting anything if a
 * pinned DAG cannot be walked. */
struct gc_stats {
    uint64_t pinned_roots, kept, removed, removed_bytes, young;
    uint64_t tmp_removed, tmp_bytes; /* stale temporary files */
};
/* How old a blockstore temporary file must be before the node's periodic
 * upload sweep (market_upload_expire()) removes it. */
#define MARKET_TMP_GRACE_S 3600
int market_gc(struct market *m, int64_t grace_s, bool dry_run, struct gc_stats *st,
              struct ag_err *e);

/* ==== chain (chain.c; issue 4): licences, wallets, Sign-In with Ethereum ====
 *
 * Licences come from the chain index (store.h): a user holds a licence for a
 * listing when an address linked to the account bought the model token
 * registered under keccak256("owner/slug") and the purchase was not
 * refunded. Addresses are linked by signing an EIP-4361 (SIWE) message.
 */

struct chain_indexer;
struct chain_manifest;
struct licence_miss;

/* How long the index counts as current after the indexer last saw the head
 * (seconds), and how long the chain's "no licence" is remembered. */
#define LICENCE_INDEX_FRESH_S 5
#define LICENCE_MISS_TTL_S    5
#define LICENCE_MISS_SLOTS    1024
#define LICENCE_RPC_BACKOFF_S 10

struct market_chain {
    uint64_t chain_id;              /* SIWE messages must name it; 0 = any */
    struct chain_indexer *indexer;  /* may be NULL (status "not indexing") */
    const char *rpc_url;            /* for hasLicense when the index lags; may be NULL */
    const struct chain_manifest *manifest;
    /* The chain's recent "no" per (account, model), so a refused caller
     * cannot make every request an RPC round trip: LICENCE_MISS_SLOTS
     * entries, direct-mapped, under `lock`; NULL before market_chain_init(). */
    struct licence_miss *misses;
    /* When a hasLicense call failed (the RPC node is down or slow), no
     * other is made before this time_now(): each costs an HTTP worker up to
     * the RPC timeout, and the index is the answer meanwhile. Under `lock`. */
    int64_t rpc_down_until;
    pthread_mutex_t lock;
};

/* market_chain_init() prepares the fields above the caller does not set
 * (the licence-miss cache). Returns 0 or AG_ENOMEM. */
int market_chain_init(struct market_chain *mc);
/* market_chain_release() frees what market_chain_init() made; safe on a
 * zeroed struct. */
void market_chain_release(struct market_chain *mc);

#define SIWE_NONCE_TTL 600

/* market_licence_holder() tells whether `viewer` holds a licence for the
 * listing `model`: from the index, else, only when the index may lag (it is
 * behind the head the indexer last saw, or that was more than
 * LICENCE_INDEX_FRESH_S ago), by asking the chain's hasLicense for each
 * linked address; a "no" or a failed call is remembered for
 * LICENCE_MISS_TTL_S per (account, model). False for anonymous viewers,
 * viewers without linked addresses, and on errors. */
bool market_licence_holder(struct market *m, const struct principal *viewer, json_t *model);
/* market_chain_terms() reads what the chain index says about the listing
 * `model` for its downloads: *paid when its on-chain price is not zero,
 * *owner when an address linked to `viewer` owns its token now (transfers
 * move it). The token counts only when the node follows a chain and the
 * address that registered it is linked to the listing's owner: the registry
 * is first-come, so a stranger's registration of the listing's slug hash
 * must neither lock a free model nor open a paid one. Both are false when
 * the listing is not registered, for such a stranger's token, and on
 * errors. */
void market_chain_terms(struct market *m, const struct principal *viewer, json_t *model,
                        bool *paid, bool *owner);
/* market_chain_decorate() adds "chain": {token_id, owner, price, versions,
 * registered_block, registrant} (or null when the listing is not registered
 * on-chain) to a listing. */
void market_chain_decorate(struct market *m, json_t *model);
/* market_set_origins() sets the origins users reach the node at, from
 * `list`: comma-separated "scheme://host[:port]" (http or https, no path;
 * a trailing "/" is allowed). Call it once; it may run while requests are
 * served (until then SIWE answers AG_EUNAVAILABLE). Returns 0, AG_EINVAL
 * for a malformed list, or AG_EEXISTS if the origins are already set. */
int market_set_origins(struct market *m, const char *list, struct ag_err *e);
/* market_siwe_origin_check() tells whether a SIWE message's `domain`, `uri`
 * and optional `scheme` (NULL if the message has none) name one of the
 * node's public origins: the domain is its host[:port] and the URI is on
 * the same scheme and host[:port]. Returns 0, AG_EUNAUTH (field "domain" or
 * "uri") on a mismatch, or AG_EUNAVAILABLE if no origin is set yet. */
int market_siwe_origin_check(const struct market *m, const char *domain, const char *uri,
                             const char *scheme, struct ag_err *e);
/* market_siwe_nonce() issues a single-use nonce: {nonce, expires_at}. */
int market_siwe_nonce(struct market *m, json_t **out, struct ag_err *e);
/* market_siwe_login() verifies a signed SIWE message (domain and URI on one
 * of the node's public origins, market_siwe_origin_check(); the chain id the
 * node's; the nonce one it issued and unused; within its time bounds) and
 * signs in the account linked to its address, creating one on first
 * sign-in. Opens a session (token_name NULL) or an API token, like
 * market_login(). AG_EINVAL for an unreadable message, AG_EUNAUTH for a bad
 * signature or a mismatch, AG_ECONFLICT when the node follows no chain (no
 * chain id to check), AG_EUNAVAILABLE while it has no public origin yet. */
int market_siwe_login(struct market *m, const char *message, const char *signature,
                      const char *token_name, struct login_result *out, struct ag_err *e);
/* market_siwe_link() links the signing address to the viewer's account:
 * {address, linked_at}. Fails like market_siwe_login(), and AG_EEXISTS if
 * another account holds the address. */
int market_siwe_link(struct market *m, const struct principal *viewer, const char *message,
                     const char *signature, json_t **out, struct ag_err *e);
/* {wallets: [...], licences: [...]} of the viewer. */
int market_wallet_info(struct market *m, const struct principal *viewer, json_t **out,
                       struct ag_err *e);
/* The chain status for /healthz: {status: "not_configured"} without a chain. */
json_t *market_chain_status(struct market *m);
/* ==== end chain ============================================================ */

/* ==== inference (infer.c; issue 5): running a version's ONNX file ==========
 *
 * The node runs a version's .onnx file on its own engine (src/ml/) for the
 * callers who may download it (market_file_access(): anyone for a free
 * published version, the owner and licence holders for a paid one). Each
 * run has a deadline and a tensor memory cap; a bounded number run at once
 * (more are AG_EUNAVAILABLE with retry_after, never queued); loaded models
 * are cached by root CID, bounded by count and bytes, least recently used
 * out first. A paid file is decrypted into memory only, wiped after loading.
 */
struct market_infer_config {
    int timeout_ms;            /* per request, loading included; 0 = 10000 */
    uint64_t max_memory;       /* tensor bytes alive in one run; 0 = 1 GiB */
    uint64_t max_body;         /* request body cap (the API enforces it); 0 = 16 MiB */
    uint64_t max_model_bytes;  /* largest .onnx file run; 0 = 512 MiB */
    int threads;               /* engine threads per run; 0 = 1 */
    int max_concurrent;        /* runs at once; 0 = 2 */
    int cache_models;          /* idle loaded models kept; 0 = 8, -1 = no cache */
    uint64_t cache_bytes;      /* model file bytes kept loaded; 0 = 1 GiB */
};
struct market_infer;
struct market_infer_stats {
    int running, cached;
    uint64_t cached_bytes, hits, misses;
};

/* market_infer_new() makes the service (defaults for zero fields); free it
 * with market_infer_free() once no request uses it (runs still going are
 * told to stop). */
int market_infer_new(const struct market_infer_config *cfg, struct market_infer **out,
                     struct ag_err *e);
void market_infer_free(struct market_infer *s);
/* market_infer_stop() makes runs in progress stop at their next node and
 * new ones fail with AG_EUNAVAILABLE: the node is shutting down. */
void market_infer_stop(struct market_infer *s);
/* The effective configuration (defaults filled in). */
const struct market_infer_config *market_infer_cfg(const struct market_infer *s);
void market_infer_stats(struct market_infer *s, struct market_infer_stats *st);

/* market_infer_open() resolves the file to run (`file`, or NULL for the
 * version's only .onnx file: AG_EINVAL naming them when there are several,
 * AG_EUNPROCESSABLE when there is none) and applies the file access policy
 * through market_file_open() (AG_ENOTFOUND, AG_EUNAUTH, AG_EFORBIDDEN as a
 * download would get). On success *out is the job; close it with
 * market_infer_close(). */
struct infer_job;
struct buf;
int market_infer_open(struct market *m, struct market_infer *s, const struct principal *viewer,
                      const char *owner, const char *slug, const char *version, const char *file,
                      struct infer_job **out, struct ag_err *e);
/* Whether the caller may run it only because it is free (not the owner nor
 * a paid file's licence holder): such calls are rate limited. */
bool market_infer_limited(const struct infer_job *j);
const struct market_file_info *market_infer_file_info(const struct infer_job *j);
void market_infer_close(struct infer_job *j);

enum infer_body_kind { INFER_BODY_JSON, INFER_BODY_NPY };
/* What the answer is: JSON, one .npy (the only output or the one chosen),
 * or a .npz (a stored zip of one NAME.npy per output, as numpy.savez writes). */
enum infer_format { INFER_OUT_JSON, INFER_OUT_NPY, INFER_OUT_NPZ };
/* One .npy input; name NULL = the model's single input. Borrowed bytes. */
struct infer_part {
    const char *name;
    const void *data;
    size_t len;
};
struct infer_request {
    enum infer_body_kind kind;
    const char *body;               /* JSON: {"inputs": {...}} (docs/api.md) */
    size_t len;
    const struct infer_part *parts; /* .npy: one per input */
    int nparts;
    const char *output;             /* only this output; NULL = all */
    enum infer_format format;
    bool raw_data;                  /* JSON: "data_base64url" (raw little-endian bytes) for "data" */
};
/*
 * market_infer_run() runs the job's model on the request's inputs and
 * leaves the answer in *out (initialized here; the caller releases it):
 * JSON {"model": {file, cid, cached}, "elapsed_ms", "outputs": {NAME:
 * {dtype, shape, data}}} (flat data in C order; NaN and infinities as the
 * strings "NaN", "Infinity", "-Infinity"; with raw_data "data_base64url"
 * instead), one .npy file, or a .npz file. Errors: AG_EBADJSON,
 * AG_EINVAL naming the input at fault (unknown or missing name, dtype,
 * rank, fixed dimension, malformed data); AG_EUNAVAILABLE (retry_after set)
 * when every slot is busy; AG_ETIMEOUT past the deadline; AG_ETOOBIG past
 * the memory cap or the model size limit; AG_EUNPROCESSABLE for a model the
 * engine cannot load or run.
 */
int market_infer_run(struct infer_job *j, const struct infer_request *r, struct buf *out,
                     struct ag_err *e);
/* ==== end inference ======================================================== */

#endif
