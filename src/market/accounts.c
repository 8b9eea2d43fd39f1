/* accounts.c - registration, passwords, sessions, API tokens, profiles. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "market/internal.h"

#include <math.h>
#include <sodium.h>

#define PASSWORD_MIN 10
#define PASSWORD_MAX 1024
#define TOKEN_NAME_MAX 64
#define BIO_MAX 2000
#define DISPLAY_NAME_MAX 100
#define LINKS_MAX 8

void market_init(struct market *m, struct store *store, const struct market_config *cfg)
{
    memset(m, 0, sizeof(*m));
    m->store = store;
    if (cfg)
        m->cfg = *cfg;
    if (!m->cfg.session_ttl)
        m->cfg.session_ttl = 7 * 24 * 3600;
    if (!m->cfg.throttle_account_max)
        m->cfg.throttle_account_max = 5;
    if (!m->cfg.throttle_ip_max)
        m->cfg.throttle_ip_max = 20;
    if (!m->cfg.throttle_window)
        m->cfg.throttle_window = 15 * 60;
    if (!m->cfg.throttle_lock)
        m->cfg.throttle_lock = 15 * 60;
}

void market_release(struct market *m)
{
    UNUSED(m);
}

void market__invalidate(struct market *m)
{
    __atomic_add_fetch(&m->generation, 1, __ATOMIC_RELEASE);
}

uint64_t market_generation(const struct market *m)
{
    return __atomic_load_n(&m->generation, __ATOMIC_ACQUIRE);
}

static void pwhash_limits(enum pwhash_level level, unsigned long long *ops, size_t *mem)
{
    switch (level) {
    case PWHASH_MIN:
        *ops = crypto_pwhash_OPSLIMIT_MIN;
        *mem = crypto_pwhash_MEMLIMIT_MIN;
        break;
    case PWHASH_MODERATE:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    default:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    }
}

static int check_password(const char *pw, struct ag_err *e)
{
    size_t n = strlen(pw);
    if (!utf8_valid(pw, n))
        return ag_errf(e, AG_EINVAL, "password", "password must be valid UTF-8");
    if (utf8_len(pw) < PASSWORD_MIN)
        return ag_errf(e, AG_EINVAL, "password", "password must be at least %d characters",
                       PASSWORD_MIN);
    if (n > PASSWORD_MAX)
        return ag_errf(e, AG_EINVAL, "password", "password must be at most %d bytes",
                       PASSWORD_MAX);
    return 0;
}

int market_register(struct market *m, const char *username, const char *email,
                    const char *password, bool admin, json_t **user, struct ag_err *e)
{
    char hash[crypto_pwhash_STRBYTES];
    unsigned long long ops;
    size_t mem;
    int64_t id;
    int rc;

    if (!valid_username(username))
        return ag_errf(e, AG_EINVAL, "username",
                       "username must be 3-32 characters of a-z, 0-9, _ and -");
    if (!valid_email(email))
        return ag_errf(e, AG_EINVAL, "email", "email is not a valid address");
    if ((rc = check_password(password, e)))
        return rc;
    pwhash_limits(m->cfg.pwhash, &ops, &mem);
    if (crypto_pwhash_str(hash, password, strlen(password), ops, mem))
        return ag_errf(e, AG_ENOMEM, NULL, "out of memory while hashing the password");
    rc = store_user_insert(m->store, username, email, hash, admin ? "admin" : "user", time_now(),
                           &id, e);
    sodium_memzero(hash, sizeof(hash));
    if (rc == AG_EEXISTS) {
        const char *field = e && !strcmp(e->field, "email") ? "email" : "username";
        return ag_errf(e, AG_EEXISTS, field, "that %s is already registered", field);
    }
    if (rc)
        return rc;
    return store_user_get(m->store, username, user, e);
}

/* A throttle key is either "acct:<login>" or "ip:<address>". Returns
 * AG_ERATELIMIT when it is locked now. */
static int throttle_check(struct market *m, const char *key, int64_t now, struct ag_err *e)
{
    struct throttle t;
    int rc = store_throttle_get(m->store, key, &t, e);
    if (rc)
        return rc;
    if (t.locked_until > now) {
        rc = ag_errf(e, AG_ERATELIMIT, NULL, "too many failed logins; try again in %" PRId64 " s",
                     t.locked_until - now);
        if (e)
            e->retry_after = (int)(t.locked_until - now);
        return rc;
    }
    return 0;
}

static void throttle_fail(struct market *m, const char *key, int max, int64_t now)
{
    struct throttle t;
    if (store_throttle_get(m->store, key, &t, NULL))
        return;
    if (now - t.window_start > m->cfg.throttle_window) {
        t.window_start = now;
        t.failures = 0;
    }
    t.failures++;
    if (t.failures >= max) {
        t.locked_until = now + m->cfg.throttle_lock;
        t.failures = 0;
        t.window_start = now;
        log_warn("login throttle: %s locked for %" PRId64 " s", key, m->cfg.throttle_lock);
    }
    store_throttle_put(m->store, key, &t, NULL);
}

static void hash_secret(const char *secret, char out[65])
{
    sha256_hex(secret, strlen(secret), out);
}

static int new_api_token(struct market *m, int64_t user_id, const char *name, char secret[80],
                         int64_t *id, struct ag_err *e)
{
    char hex[41], hash[65], prefix[16];
    if (!name || !*name || strlen(name) > TOKEN_NAME_MAX || !utf8_valid(name, strlen(name)))
        return ag_errf(e, AG_EINVAL, "name", "token name must be 1-%d characters", TOKEN_NAME_MAX);
    rand_token(hex, 20);
    snprintf(secret, 80, "%s%s", TOKEN_PREFIX, hex);
    snprintf(prefix, sizeof(prefix), "%.12s", secret);
    hash_secret(secret, hash);
    return store_token_insert(m->store, user_id, name, prefix, hash, time_now(), id, e);
}

int market_login(struct market *m, const char *login, const char *password, const char *ip,
                 const char *token_name, struct login_result *out, struct ag_err *e)
{
    char acct_key[300], ip_key[80], lower[256];
    struct user_auth ua;
    int64_t now = time_now();
    int rc;

    memset(out, 0, sizeof(*out));
    if (!*login || strlen(login) >= sizeof(lower))
        return ag_errf(e, AG_EINVAL, "login", "login must be a username or an email address");
    for (size_t i = 0; login[i]; i++)
        lower[i] = (char)((login[i] >= 'A' && login[i] <= 'Z') ? login[i] + 32 : login[i]);
    lower[strlen(login)] = '\0';
    snprintf(acct_key, sizeof(acct_key), "acct:%s", lower);
    snprintf(ip_key, sizeof(ip_key), "ip:%s", ip ? ip : "");
    if ((rc = throttle_check(m, ip_key, now, e)) || (rc = throttle_check(m, acct_key, now, e)))
        return rc;

    rc = store_user_auth(m->store, login, &ua, NULL);
    if (rc == AG_ENOTFOUND) {
        /* Spend the same time as a real check, so timing does not reveal
         * which usernames exist. */
        char dummy[crypto_pwhash_STRBYTES];
        unsigned long long ops;
        size_t mem;
        pwhash_limits(m->cfg.pwhash, &ops, &mem);
        if (crypto_pwhash_str(dummy, "not-a-password", 14, ops, mem) == 0)
            sodium_memzero(dummy, sizeof(dummy));
    } else if (rc) {
        return ag_err_set(e, rc);
    }
    if (rc || crypto_pwhash_str_verify(ua.pw_hash, password, strlen(password))) {
        throttle_fail(m, acct_key, m->cfg.throttle_account_max, now);
        throttle_fail(m, ip_key, m->cfg.throttle_ip_max, now);
        sodium_memzero(&ua, sizeof(ua));
        return ag_errf(e, AG_EUNAUTH, "password", "wrong username or password");
    }
    sodium_memzero(ua.pw_hash, sizeof(ua.pw_hash));
    store_throttle_clear(m->store, acct_key, NULL);

    if (token_name) {
        rc = new_api_token(m, ua.id, token_name, out->secret, &out->token_id, e);
    } else {
        char hash[65];
        rand_token(out->secret, 32);
        rand_token(out->csrf, 32);
        hash_secret(out->secret, hash);
        out->expires_at = now + m->cfg.session_ttl;
        rc = store_session_insert(m->store, ua.id, hash, out->csrf, now, out->expires_at, e);
    }
    if (!rc)
        rc = store_user_get(m->store, ua.username, &out->user, e);
    if (rc)
        sodium_memzero(out, sizeof(*out));
    return rc;
}

int market_logout_session(struct market *m, const char *session_token, struct ag_err *e)
{
    char hash[65];
    hash_secret(session_token, hash);
    return store_session_delete(m->store, hash, e);
}

int market_authenticate(struct market *m, const char *secret, bool session, struct principal *p,
                        struct ag_err *e)
{
    char hash[65];
    int rc;

    if (strlen(secret) > 200)
        return ag_errf(e, AG_EUNAUTH, NULL, "invalid credentials");
    hash_secret(secret, hash);
    if (session)
        rc = store_principal_by_session(m->store, hash, time_now(), p, e);
    else if (!str_starts(secret, TOKEN_PREFIX))
        rc = AG_ENOTFOUND;
    else
        rc = store_principal_by_token(m->store, hash, time_now(), p, e);
    if (rc == AG_ENOTFOUND)
        return ag_errf(e, AG_EUNAUTH, NULL,
                       session ? "session expired or unknown; log in again"
                               : "invalid or revoked API token");
    return rc;
}

int market_token_create(struct market *m, const struct principal *viewer, const char *name,
                        json_t **out, struct ag_err *e)
{
    char secret[80], prefix[16];
    int64_t id;
    int rc;

    if (!viewer)
        return ag_err_set(e, AG_EUNAUTH);
    rc = new_api_token(m, viewer->user_id, name, secret, &id, e);
    if (rc)
        return rc;
    snprintf(prefix, sizeof(prefix), "%.12s", secret);
    *out = json_pack("{s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "name", name, "prefix",
                     prefix, "token", secret, "created_at", (json_int_t)time_now());
    sodium_memzero(secret, sizeof(secret));
    return *out ? 0 : ag_err_set(e, AG_ENOMEM);
}

int market_token_list(struct market *m, const struct principal *viewer, json_t **out,
                      struct ag_err *e)
{
    if (!viewer)
        return ag_err_set(e, AG_EUNAUTH);
    return store_token_list(m->store, viewer->user_id, out, e);
}

int market_token_revoke(struct market *m, const struct principal *viewer, int64_t id,
                        struct ag_err *e)
{
    int rc;
    if (!viewer)
        return ag_err_set(e, AG_EUNAUTH);
    rc = store_token_revoke(m->store, viewer->user_id, id, time_now(), e);
    if (rc == AG_ENOTFOUND)
        return ag_errf(e, AG_ENOTFOUND, "id", "no such token");
    return rc;
}

int market_token_revoke_secret(struct market *m, const struct principal *viewer,
                               const char *secret, struct ag_err *e)
{
    json_t *list = NULL, *t;
    char prefix[16];
    size_t i;
    int rc;

    /* Find the token by its displayed prefix among the viewer's tokens, then
     * confirm by hash through authenticate (prefixes may collide). */
    snprintf(prefix, sizeof(prefix), "%.12s", secret);
    rc = store_token_list(m->store, viewer->user_id, &list, e);
    if (rc)
        return rc;
    rc = AG_ENOTFOUND;
    json_array_foreach(list, i, t) {
        struct principal p;
        if (strcmp(json_string_value(json_object_get(t, "prefix")), prefix))
            continue;
        if (market_authenticate(m, secret, false, &p, NULL) || p.user_id != viewer->user_id)
            continue;
        rc = store_token_revoke(m->store, viewer->user_id,
                                json_integer_value(json_object_get(t, "id")), time_now(), e);
        break;
    }
    json_decref(list);
    return rc == AG_ENOTFOUND ? ag_errf(e, AG_ENOTFOUND, NULL, "token not found") : rc;
}

double market_reputation(int64_t downloads, int64_t likes, int64_t rating_sum,
                         int64_t rating_count)
{
    /* docs/reputation.md: a Bayesian mean rating (prior 3.0 worth 5 reviews)
     * mapped to 0..1, and log-scaled downloads and likes. */
    const double prior = 3.0, weight = 5.0;
    double mean = (prior * weight + (double)rating_sum) / (weight + (double)rating_count);
    double r = (mean - 1.0) / 4.0;
    double d = MIN(1.0, log10(1.0 + (double)downloads) / 5.0);
    double l = MIN(1.0, log10(1.0 + (double)likes) / 4.0);
    return round(1000.0 * (0.6 * r + 0.25 * d + 0.15 * l)) / 10.0;
}

int market_user_get(struct market *m, const struct principal *viewer, const char *username,
                    json_t **out, struct ag_err *e)
{
    json_t *u = NULL, *stats = NULL, *rep;
    int64_t id;
    int rc;

    rc = store_user_get(m->store, username, &u, e);
    if (rc == AG_ENOTFOUND)
        return ag_errf(e, AG_ENOTFOUND, "username", "no user named \"%s\"", username);
    if (rc)
        return rc;
    id = json_integer_value(json_object_get(u, "id"));
    if (!viewer || (viewer->user_id != id && strcmp(viewer->role, "admin")))
        json_object_del(u, "email");
    rc = store_seller_stats(m->store, id, &stats, e);
    if (rc) {
        json_decref(u);
        return rc;
    }
    rep = json_deep_copy(stats);
    {
        int64_t dl = json_integer_value(json_object_get(stats, "downloads"));
        int64_t lk = json_integer_value(json_object_get(stats, "likes"));
        int64_t rs = json_integer_value(json_object_get(stats, "rating_sum"));
        int64_t rcnt = json_integer_value(json_object_get(stats, "rating_count"));
        json_object_set_new(rep, "score", json_real(market_reputation(dl, lk, rs, rcnt)));
        json_object_set_new(rep, "rating",
                            json_real(rcnt ? round(100.0 * (double)rs / (double)rcnt) / 100.0 : 0));
        json_object_del(rep, "rating_sum");
    }
    json_object_set_new(u, "reputation", rep);
    json_decref(stats);
    *out = u;
    return 0;
}

static int check_links(json_t *links, struct buf *text, struct ag_err *e)
{
    json_t *v;
    size_t i;
    if (!json_is_array(links) || json_array_size(links) > LINKS_MAX)
        return ag_errf(e, AG_EINVAL, "links", "links must be an array of at most %d URLs",
                       LINKS_MAX);
    json_array_foreach(links, i, v) {
        const char *s = json_string_value(v);
        if (!s || strlen(s) > 300 || !(str_starts(s, "https://") || str_starts(s, "http://")) ||
            strpbrk(s, " \t\r\n\"<>"))
            return ag_errf(e, AG_EINVAL, "links", "each link must be an http(s) URL");
    }
    return json_dump_buf(text, links);
}

int market_user_update(struct market *m, const struct principal *viewer, const char *username,
                       const struct profile_input *in, json_t **out, struct ag_err *e)
{
    struct buf links;
    json_t *u = NULL;
    int64_t id;
    int rc;

    if (!viewer)
        return ag_err_set(e, AG_EUNAUTH);
    rc = store_user_get(m->store, username, &u, e);
    if (rc)
        return rc == AG_ENOTFOUND ? ag_errf(e, rc, "username", "no such user") : rc;
    id = json_integer_value(json_object_get(u, "id"));
    json_decref(u);
    if (viewer->user_id != id && strcmp(viewer->role, "admin"))
        return ag_errf(e, AG_EFORBIDDEN, NULL, "you can only edit your own profile");
    if (in->display_name &&
        (utf8_len(in->display_name) > DISPLAY_NAME_MAX || strpbrk(in->display_name, "\r\n")))
        return ag_errf(e, AG_EINVAL, "display_name", "display name must be one line of at most %d characters",
                       DISPLAY_NAME_MAX);
    if (in->bio && utf8_len(in->bio) > BIO_MAX)
        return ag_errf(e, AG_EINVAL, "bio", "bio must be at most %d characters", BIO_MAX);
    buf_init(&links, 8192);
    if (in->links && (rc = check_links(in->links, &links, e)))
        goto out;
    rc = store_user_update(m->store, id, in->display_name, in->bio, in->links ? links.p : NULL,
                           time_now(), e);
    if (!rc)
        market__invalidate(m);
    if (!rc)
        rc = market_user_get(m, viewer, username, out, e);
out:
    buf_release(&links);
    return rc;
}
