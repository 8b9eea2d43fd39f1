/* chain.c - the marketplace's chain rules: licences, on-chain listing data, wallet links, Sign-In
 * with Ethereum. */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/msg.h"
#include "market/internal.h"

#include <sodium.h>

#define SIWE_TOKEN_NAME_MAX 64

static const char *owner_name(json_t *model)
{
    return json_string_value(json_object_get(model, "owner"));
}

static const char *slug_name(json_t *model)
{
    return json_string_value(json_object_get(model, "slug"));
}

struct licence_miss {
    int64_t user_id; /* 0: a free slot */
    char slug_hash[67];
    int64_t until; /* seconds since the epoch */
};

int market_chain_init(struct market_chain *mc)
{
    mc->misses = calloc(LICENCE_MISS_SLOTS, sizeof(*mc->misses));
    if (!mc->misses)
        return AG_ENOMEM;
    pthread_mutex_init(&mc->lock, NULL);
    return 0;
}

void market_chain_release(struct market_chain *mc)
{
    if (!mc->misses)
        return;
    pthread_mutex_destroy(&mc->lock);
    free(mc->misses);
    mc->misses = NULL;
}

static struct licence_miss *miss_slot(struct market_chain *mc, int64_t user_id,
                                      const char *slug_hash)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)user_id; /* FNV-1a */
    for (const char *p = slug_hash; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return &mc->misses[h % LICENCE_MISS_SLOTS];
}

/* missed_recently() tells whether the chain said "no" (or could not be
 * asked) for this account and model less than LICENCE_MISS_TTL_S ago. */
static bool missed_recently(struct market_chain *mc, int64_t user_id, const char *slug_hash)
{
    struct licence_miss *s;
    bool hit;

    if (!mc->misses)
        return false;
    pthread_mutex_lock(&mc->lock);
    s = miss_slot(mc, user_id, slug_hash);
    hit = s->user_id == user_id && !strcmp(s->slug_hash, slug_hash) && time_now() < s->until;
    pthread_mutex_unlock(&mc->lock);
    return hit;
}

static void miss_put(struct market_chain *mc, int64_t user_id, const char *slug_hash)
{
    struct licence_miss *s;

    if (!mc->misses)
        return;
    pthread_mutex_lock(&mc->lock);
    s = miss_slot(mc, user_id, slug_hash);
    s->user_id = user_id;
    str_copy(s->slug_hash, slug_hash, sizeof(s->slug_hash));
    s->until = time_now() + LICENCE_MISS_TTL_S;
    pthread_mutex_unlock(&mc->lock);
}

/* misses_forget() drops an account's remembered misses: a newly linked
 * address may hold licences the others did not. */
static void misses_forget(struct market_chain *mc, int64_t user_id)
{
    if (!mc || !mc->misses)
        return;
    pthread_mutex_lock(&mc->lock);
    for (size_t i = 0; i < LICENCE_MISS_SLOTS; i++)
        if (mc->misses[i].user_id == user_id)
            mc->misses[i].user_id = 0;
    pthread_mutex_unlock(&mc->lock);
}

/* index_current() tells whether the index has every block up to the head
 * its indexer (this node's or another sharing the database) saw in the
 * last LICENCE_INDEX_FRESH_S seconds: then the index's "no" is the
 * chain's, up to the poll interval. */
static bool index_current(struct market *m)
{
    struct chain_cursor cur;

    return !store_chain_cursor_get(m->store, &cur, NULL) && cur.head > 0 &&
           cur.next_block > cur.head && time_now() - cur.updated_at <= LICENCE_INDEX_FRESH_S;
}

/* rpc_down() tells whether a hasLicense call failed in the last
 * LICENCE_RPC_BACKOFF_S seconds: then none is made (whoever asks, for
 * whatever model), so a sick RPC node cannot tie up the HTTP workers. */
static bool rpc_down(struct market_chain *mc)
{
    bool down;

    if (!mc->misses) /* market_chain_init() not called: no lock either */
        return false;
    pthread_mutex_lock(&mc->lock);
    down = time_now() < mc->rpc_down_until;
    pthread_mutex_unlock(&mc->lock);
    return down;
}

/* licence_onchain() asks the chain for the viewer's linked addresses. */
static bool licence_onchain(struct market *m, const struct principal *viewer, const char *slug_hash)
{
    const char *addrs[16];
    json_t *wallets = NULL, *w;
    struct ag_err e = {0};
    bool has = false;
    size_t i, n = 0;

    if (!m->chain || !m->chain->rpc_url || !m->chain->manifest ||
        store_wallet_list(m->store, viewer->user_id, &wallets, NULL))
        return false;
    json_array_foreach(wallets, i, w)
    {
        if (n < ARRAY_SIZE(addrs))
            addrs[n++] = json_string_value(json_object_get(w, "address"));
    }
    if (n && !missed_recently(m->chain, viewer->user_id, slug_hash) && !rpc_down(m->chain)) {
        if (chain_licence_onchain(m->chain->rpc_url, m->chain->manifest, slug_hash, addrs, n, &has,
                                  &e)) {
            log_warn("chain: hasLicense check failed (no other for %d s): %s", LICENCE_RPC_BACKOFF_S,
                     e.msg);
            has = false;
            if (m->chain->misses) {
                pthread_mutex_lock(&m->chain->lock);
                m->chain->rpc_down_until = time_now() + LICENCE_RPC_BACKOFF_S;
                pthread_mutex_unlock(&m->chain->lock);
            }
        }
        if (!has)
            miss_put(m->chain, viewer->user_id, slug_hash);
    }
    json_decref(wallets);
    return has;
}

/* linked_to() tells whether the address `addr` is linked to the account `user_id`. */
static bool linked_to(struct market *m, const char *addr, int64_t user_id)
{
    char username[33];
    int64_t id = 0;

    return addr && user_id && !store_wallet_user(m->store, addr, &id, username, NULL) &&
           id == user_id;
}

/*
 * The registry lets any address register any slug once, so a licence counts
 * only for the token this listing's seller registered: its registrant must
 * be a wallet linked to the seller's account (the CLI's `agora publish` and
 * the web's on-chain publishing link it first). Otherwise someone could
 * register "alice/model" before Alice, sell themselves a licence, and open
 * her paid files. A token the index does not know yet (the registration is
 * newer than the index) is checked on chain below, where the contract's own
 * registration is the one the index will show.
 */
bool market_licence_holder(struct market *m, const struct principal *viewer, json_t *model)
{
    char slug_hash[67];
    json_t *onchain = NULL;
    bool has = false, known;
    int64_t seller = json_integer_value(json_object_get(model, "owner_id"));

    if (!viewer || !owner_name(model) || !slug_name(model))
        return false;
    chain_slug_hash(owner_name(model), slug_name(model), slug_hash);
    known = !store_chain_model(m->store, slug_hash, &onchain, NULL);
    if (known && !linked_to(m, json_string_value(json_object_get(onchain, "registrant")), seller)) {
        json_decref(onchain);
        return false; /* registered by a wallet that is not the seller's */
    }
    if (known &&
        store_chain_has_licence(m->store, json_string_value(json_object_get(onchain, "token_id")),
                                viewer->user_id, &has, NULL))
        has = false;
    json_decref(onchain);
    /* The index is current up to the head its indexer last saw: a purchase
     * in a newer block shows at the next round, which starts now. */
    if (!has && m->chain && index_current(m))
        chain_indexer_poke(m->chain->indexer);
    else if (!has)
        has = licence_onchain(m, viewer, slug_hash);
    return has;
}

void market_chain_review_marks(struct market *m, const char *listing, const char *author,
                               json_t *reviews)
{
    json_t *r;
    size_t i;

    json_array_foreach(reviews, i, r) {
        const char *l = listing ? listing : json_string_value(json_object_get(r, "model"));
        const char *who = author ? author : json_string_value(json_object_get(r, "user"));
        const char *slash = l ? strchr(l, '/') : NULL;
        char owner[64], slug_hash[67];
        json_t *onchain = NULL;
        bool refunded = false;

        if (!json_is_true(json_object_get(r, "verified")) || !who || !slash ||
            (size_t)(slash - l) >= sizeof(owner))
            continue;
        memcpy(owner, l, (size_t)(slash - l));
        owner[slash - l] = '\0';
        chain_slug_hash(owner, slash + 1, slug_hash);
        if (store_chain_model(m->store, slug_hash, &onchain, NULL))
            continue;
        if (!store_chain_only_refunded(m->store,
                                       json_string_value(json_object_get(onchain, "token_id")),
                                       who, &refunded, NULL) &&
            refunded)
            json_object_set_new(r, "verified", json_false());
        json_decref(onchain);
    }
}

void market_chain_terms(struct market *m, const struct principal *viewer, json_t *model, bool *paid,
                        bool *owner)
{
    char slug_hash[67];
    json_t *onchain = NULL;
    const char *price;
    int64_t seller = json_integer_value(json_object_get(model, "owner_id"));

    *paid = *owner = false;
    if (!m->chain || !owner_name(model) || !slug_name(model))
        return;
    chain_slug_hash(owner_name(model), slug_name(model), slug_hash);
    if (store_chain_model(m->store, slug_hash, &onchain, NULL))
        return;
    if (linked_to(m, json_string_value(json_object_get(onchain, "registrant")), seller)) {
        price = json_string_value(json_object_get(onchain, "price"));
        *paid = price && strcmp(price, "0") != 0;
        *owner = viewer && linked_to(m, json_string_value(json_object_get(onchain, "owner")),
                                     viewer->user_id);
    }
    json_decref(onchain);
}

void market_chain_decorate(struct market *m, json_t *model)
{
    char slug_hash[67];
    json_t *onchain = NULL;

    if (!owner_name(model) || !slug_name(model))
        return;
    chain_slug_hash(owner_name(model), slug_name(model), slug_hash);
    if (store_chain_model(m->store, slug_hash, &onchain, NULL)) {
        json_object_set_new(model, "chain", json_null());
        return;
    }
    json_object_set_new(onchain, "slug_hash", json_string(slug_hash));
    json_object_set_new(model, "chain", onchain);
}

int market_siwe_nonce(struct market *m, json_t **out, struct ag_err *e)
{
    char nonce[33];
    int64_t exp = time_now() + SIWE_NONCE_TTL;
    int rc;

    rand_token(nonce, 16);
    if ((rc = store_siwe_nonce_put(m->store, nonce, exp, e)))
        return rc;
    *out = json_pack("{s:s, s:I}", "nonce", nonce, "expires_at", (json_int_t)exp);
    return *out ? 0 : AG_ENOMEM;
}

/* verify() checks the message and its signature against this node (its
 * chain id and public origins), then consumes its nonce. On success *msg is
 * filled (caller releases). */
static int verify(struct market *m, const char *message, const char *signature,
                  struct siwe_msg *msg, struct ag_err *e)
{
    struct siwe_expect x = {.now = time_now()};
    int rc;

    if (!message || !signature || strlen(message) > SIWE_MAX_LEN)
        return ag_errf(e, AG_EINVAL, "message", "a SIWE message and its signature are required");
    x.chain_id = m->chain ? m->chain->chain_id : 0;
    rc = siwe_verify(message, strlen(message), signature, &x, msg, e);
    if (rc == AG_EINVAL)
        return rc;
    if (rc) {
        char field[64], why[256];
        str_copy(field, e && e->field[0] ? e->field : "signature", sizeof(field));
        str_copy(why, e && e->msg[0] ? e->msg : "the signature does not verify", sizeof(why));
        return ag_errf(e, AG_EUNAUTH, field, "%s", why);
    }
    /* Without a chain there is no chain id to hold the message to, and no
     * wallet would be of use: refuse rather than accept any chain. A 409
     * (how this node is set up), not a 503 (try later), whose message the
     * client sees. */
    if (!m->chain || !m->chain->chain_id)
        rc = ag_errf(e, AG_ECONFLICT, NULL,
                     "this node follows no chain, so it offers no "
                     "Sign-In with Ethereum (start it with --chain-rpc)");
    else if (!(rc = market_siwe_origin_check(m, msg->domain, msg->uri, msg->scheme, e)) &&
             store_siwe_nonce_take(m->store, msg->nonce, x.now, NULL))
        rc = ag_errf(e, AG_EUNAUTH, "nonce", "unknown, used or expired nonce");
    if (rc)
        siwe_msg_release(msg);
    return rc;
}

static void lower_addr(const char *in, char out[43])
{
    str_copy(out, in, 43);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
}

/* account_for() finds the account linked to `addr` or creates one named
 * "eth-" + the address's first 12 hex digits (with a suffix if taken). */
static int account_for(struct market *m, const char *addr, int64_t *id, char username[33],
                       struct ag_err *e)
{
    char email[80];
    int64_t now = time_now();
    int rc = store_wallet_user(m->store, addr, id, username, NULL);

    if (rc != AG_ENOTFOUND)
        return rc ? ag_err_set(e, rc) : 0;
    snprintf(email, sizeof(email), "%s@wallet.invalid", addr);
    for (int i = 0; i < 10; i++) {
        if (i == 0)
            snprintf(username, 33, "eth-%.12s", addr + 2);
        else
            snprintf(username, 33, "eth-%.12s-%d", addr + 2, i);
        /* "!" is no argon2id hash: password logins never match it */
        rc = store_user_insert(m->store, username, email, "!", "user", now, id, NULL);
        if (rc != AG_EEXISTS)
            break;
    }
    if (!rc)
        rc = store_wallet_link(m->store, *id, addr, now, e);
    else
        ag_errf(e, rc, NULL, "cannot create an account for %s", addr);
    if (!rc)
        log_info("siwe: created account %s for %s", username, addr);
    return rc;
}

int market_siwe_login(struct market *m, const char *message, const char *signature,
                      const char *token_name, struct login_result *out, struct ag_err *e)
{
    struct siwe_msg msg;
    char addr[43], username[33], hash[65];
    int64_t uid = 0, now = time_now();
    int rc;

    memset(out, 0, sizeof(*out));
    if (token_name && (!*token_name || strlen(token_name) > SIWE_TOKEN_NAME_MAX ||
                       !utf8_valid(token_name, strlen(token_name))))
        return ag_errf(e, AG_EINVAL, "token_name", "token name must be 1-%d characters",
                       SIWE_TOKEN_NAME_MAX);
    if ((rc = verify(m, message, signature, &msg, e)))
        return rc;
    lower_addr(msg.address, addr);
    siwe_msg_release(&msg);
    if ((rc = account_for(m, addr, &uid, username, e)))
        goto out;
    if (token_name) {
        char prefix[16];
        rand_token(out->secret + strlen(TOKEN_PREFIX), 20);
        memcpy(out->secret, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
        snprintf(prefix, sizeof(prefix), "%.12s", out->secret);
        sha256_hex(out->secret, strlen(out->secret), hash);
        rc = store_token_insert(m->store, uid, token_name, prefix, hash, now, &out->token_id, e);
    } else {
        rand_token(out->secret, 32);
        rand_token(out->csrf, 32);
        sha256_hex(out->secret, strlen(out->secret), hash);
        out->expires_at = now + m->cfg.session_ttl;
        rc = store_session_insert(m->store, uid, hash, out->csrf, now, out->expires_at, e);
    }
    if (!rc)
        rc = store_user_get(m->store, username, &out->user, e);
out:
    if (rc)
        sodium_memzero(out, sizeof(*out));
    return rc;
}

int market_siwe_link(struct market *m, const struct principal *viewer, const char *message,
                     const char *signature, json_t **out, struct ag_err *e)
{
    struct siwe_msg msg;
    char addr[43];
    int64_t now = time_now();
    int rc;

    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in first");
    if ((rc = verify(m, message, signature, &msg, e)))
        return rc;
    lower_addr(msg.address, addr);
    siwe_msg_release(&msg);
    if ((rc = store_wallet_link(m->store, viewer->user_id, addr, now, e)))
        return rc;
    misses_forget(m->chain, viewer->user_id);
    *out = json_pack("{s:s, s:I}", "address", addr, "linked_at", (json_int_t)now);
    return *out ? 0 : AG_ENOMEM;
}

int market_wallet_info(struct market *m, const struct principal *viewer, json_t **out,
                       struct ag_err *e)
{
    json_t *wallets = NULL, *lic = NULL;
    int rc;

    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in first");
    if ((rc = store_wallet_list(m->store, viewer->user_id, &wallets, e)) ||
        (rc = store_chain_licences(m->store, viewer->user_id, &lic, e))) {
        json_decref(wallets);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "wallets", wallets, "licences", lic);
    return *out ? 0 : AG_ENOMEM;
}

/* add_contracts() adds what a client needs to talk to the same contracts:
 * their addresses, the deployment block and the manifest's chain id. */
static void add_contracts(struct market *m, json_t *out)
{
    const struct chain_manifest *mf = m->chain->manifest;
    json_t *c;

    if (!out || !mf)
        return;
    c = json_object();
    for (int i = 0; i < CHAIN_NCONTRACTS; i++)
        json_object_set_new(c, chain_contract_names[i], json_string(mf->addr_hex[i]));
    json_object_set_new(out, "contracts", c);
    json_object_set_new(out, "deploy_block", json_integer((json_int_t)mf->block));
    if (json_integer_value(json_object_get(out, "chain_id")) == 0)
        json_object_set_new(out, "chain_id", json_integer((json_int_t)mf->chain_id));
}

json_t *market_chain_status(struct market *m)
{
    struct chain_status st;
    json_t *out;

    if (!m->chain)
        return json_pack("{s:s}", "status", "not_configured");
    if (!m->chain->indexer) {
        out = json_pack("{s:s, s:I}", "status", "not_indexing", "chain_id",
                        (json_int_t)m->chain->chain_id);
    } else {
        chain_indexer_status(m->chain->indexer, &st);
        out = chain_status_json(&st);
    }
    add_contracts(m, out);
    return out;
}
