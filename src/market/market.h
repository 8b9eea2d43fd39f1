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

struct market {
    struct store *store;
    struct market_config cfg;
};

/* market_init() fills sensible defaults for everything the config leaves 0. */
void market_init(struct market *m, struct store *store, const struct market_config *cfg);

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

/* {items, total, facets, next_cursor}. An owner viewing their own listings
 * (owner == viewer) also sees unlisted, private and draft ones. */
int market_search(struct market *m, const struct principal *viewer, const struct search_params *p,
                  json_t **out, struct ag_err *e);

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
 * the first). Reviews are unverified until licence holders can be told apart. */
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

#endif
