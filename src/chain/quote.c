/* quote.c - EIP-712 price quotes for Marketplace.buyWithQuote(Permit), signed by the node. */
#include "core/common.h"

#include <sodium.h>

#include "core/buf.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/msg.h"
#include "eth/secp.h"
#include "eth/u256.h"

#define QUOTE_RPC_TIMEOUT_MS 5000

/* ---- the typed data ------------------------------------------------------------------------ */

static void nonce_dec(const uint8_t nonce[32], char out[U256_DEC_MAX])
{
    u256_to_dec(nonce, out);
}

json_t *chain_quote_typed_data(const struct chain_domain *d, const struct chain_quote *q)
{
    char buyer[ETH_ADDR_STR], contract[ETH_ADDR_STR], nonce[U256_DEC_MAX], expiry[24];

    addr_format(q->buyer, buyer);
    addr_format(d->contract, contract);
    nonce_dec(q->nonce, nonce);
    snprintf(expiry, sizeof(expiry), "%" PRIu64, q->expiry);
    /* the field order is the contract's QUOTE_TYPEHASH:
     * Quote(uint256 modelId,address buyer,uint256 price,uint256 expiry,uint256 nonce) */
    return json_pack(
        "{s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}, s:s, "
        "s:{s:s, s:s, s:I, s:s}, s:{s:s, s:s, s:s, s:s, s:s}}",
        "types", "Quote", "name", "modelId", "type", "uint256", "name", "buyer", "type", "address",
        "name", "price", "type", "uint256", "name", "expiry", "type", "uint256", "name", "nonce",
        "type", "uint256", "primaryType", "Quote", "domain", "name", d->name, "version", d->version,
        "chainId", (json_int_t)d->chain_id, "verifyingContract", contract, "message", "modelId",
        q->model_id, "buyer", buyer, "price", q->price, "expiry", expiry, "nonce", nonce);
}

int chain_quote_digest(const struct chain_domain *d, const struct chain_quote *q,
                       uint8_t digest[32], struct ag_err *e)
{
    json_t *doc = chain_quote_typed_data(d, q);
    int rc;

    if (!doc)
        return ag_errf(e, AG_ENOMEM, NULL, "out of memory");
    rc = eip712_hash(doc, digest, NULL, NULL, e);
    json_decref(doc);
    return rc;
}

json_t *chain_quote_json(const struct chain_quote *q)
{
    char buyer[ETH_ADDR_STR], nonce[U256_DEC_MAX];

    addr_format(q->buyer, buyer);
    nonce_dec(q->nonce, nonce);
    return json_pack("{s:s, s:s, s:s, s:I, s:s}", "modelId", q->model_id, "buyer", buyer, "price",
                     q->price, "expiry", (json_int_t)q->expiry, "nonce", nonce);
}

/* uint_field() reads a uint256 member given as a JSON integer >= 0, a
 * decimal string or a "0x" hex string, into 32 big-endian bytes. */
static int uint_field(json_t *v, const char *name, uint8_t out[32], struct ag_err *e)
{
    json_t *f = json_object_get(v, name);
    const char *s = json_string_value(f);

    if (json_is_integer(f) && json_integer_value(f) >= 0) {
        u256_from_u64((uint64_t)json_integer_value(f), out);
        return 0;
    }
    if (!s || !*s || strlen(s) > 80 || u256_parse(s, out))
        return ag_errf(e, AG_EINVAL, name, "quote.%s must be an unsigned 256-bit integer", name);
    return 0;
}

int chain_quote_parse(json_t *v, struct chain_quote *q, struct ag_err *e)
{
    uint8_t id[32], price[32], expiry[32];
    const char *buyer = json_string_value(json_object_get(v, "buyer"));
    struct chain_quote out = {0};
    char dec[U256_DEC_MAX];
    int rc;

    if (!json_is_object(v))
        return ag_errf(e, AG_EINVAL, "quote", "the quote must be an object");
    if ((rc = uint_field(v, "modelId", id, e)) || (rc = uint_field(v, "price", price, e)) ||
        (rc = uint_field(v, "expiry", expiry, e)) || (rc = uint_field(v, "nonce", out.nonce, e)))
        return rc;
    if (!u256_to_u64(expiry, &out.expiry))
        return ag_errf(e, AG_EINVAL, "expiry", "quote.expiry is out of range");
    if (!buyer || addr_parse(buyer, out.buyer, false, NULL))
        return ag_errf(e, AG_EINVAL, "buyer", "quote.buyer must be an address");
    u256_to_dec(id, dec);
    str_copy(out.model_id, dec, sizeof(out.model_id));
    u256_to_dec(price, dec);
    str_copy(out.price, dec, sizeof(out.price));
    *q = out;
    return 0;
}

/* ---- the pricer ---------------------------------------------------------------------------- */

int chain_pricer_init(struct chain_pricer *p, const char *rpc_url, const struct chain_manifest *m,
                      const uint8_t key[32], unsigned ttl, struct ag_err *e)
{
    memset(p, 0, sizeof(*p));
    if (ttl > CHAIN_QUOTE_TTL_MAX)
        return ag_errf(e, AG_EINVAL, "quote-ttl", "a quote may live at most %u seconds",
                       CHAIN_QUOTE_TTL_MAX);
    if (!secp_key_valid(key) || secp_address(key, p->signer))
        return ag_errf(e, AG_EINVAL, "pricing-key", "not a valid secp256k1 private key");
    memcpy(p->key, key, 32);
    p->rpc_url = rpc_url;
    p->manifest = m;
    p->ttl = ttl ? ttl : CHAIN_QUOTE_TTL_DEFAULT;
    p->rpc_timeout_ms = QUOTE_RPC_TIMEOUT_MS;
    pthread_mutex_init(&p->lock, NULL);
    return 0;
}

void chain_pricer_release(struct chain_pricer *p)
{
    if (!p->ttl)
        return; /* never initialized */
    sodium_memzero(p->key, sizeof(p->key));
    pthread_mutex_destroy(&p->lock);
    memset(p, 0, sizeof(*p));
}

/* read_domain() asks the Marketplace for its EIP-712 domain (ERC-5267
 * eip712Domain()) once and caches it; it must name the manifest's chain and
 * the Marketplace itself, with the fields OpenZeppelin's EIP712 sets (0x0f:
 * name, version, chainId, verifyingContract). */
static int read_domain(struct chain_pricer *p, struct rpc_client *c, struct chain_domain *d,
                       struct ag_err *e)
{
    const uint8_t *mkt = p->manifest->addr[CHAIN_MARKETPLACE];
    struct chain_domain got = {0};
    json_t *out = NULL;
    const char *fields, *name, *version, *cid, *vc;
    uint8_t id[32];
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    if (p->have_domain) {
        *d = p->domain;
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    pthread_mutex_unlock(&p->lock);
    rc = chain_call(c, mkt,
                    "eip712Domain() returns (bytes1,string,string,uint256,address,bytes32,"
                    "uint256[])",
                    json_array(), &out, e);
    if (rc)
        goto out;
    fields = json_string_value(json_array_get(out, 0));
    name = json_string_value(json_array_get(out, 1));
    version = json_string_value(json_array_get(out, 2));
    cid = json_string_value(json_array_get(out, 3));
    vc = json_string_value(json_array_get(out, 4));
    if (!fields || strcmp(fields, "0x0f") || !name || !version || !cid || !vc ||
        strlen(name) >= sizeof(got.name) || strlen(version) >= sizeof(got.version) ||
        u256_parse(cid, id) || !u256_to_u64(id, &got.chain_id) ||
        addr_parse(vc, got.contract, false, NULL)) {
        rc = ag_errf(e, AG_EBADJSON, NULL,
                     "the Marketplace's eip712Domain() is not the (name, version, chainId, "
                     "verifyingContract) domain quotes are signed in");
        goto out;
    }
    if (got.chain_id != p->manifest->chain_id || memcmp(got.contract, mkt, 20)) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "eip712Domain",
                     "the Marketplace's EIP-712 domain names chain %" PRIu64 " and %s, not the "
                     "deployment's chain %" PRIu64 " and %s",
                     got.chain_id, vc, p->manifest->chain_id,
                     p->manifest->addr_hex[CHAIN_MARKETPLACE]);
        goto out;
    }
    str_copy(got.name, name, sizeof(got.name));
    str_copy(got.version, version, sizeof(got.version));
    pthread_mutex_lock(&p->lock);
    p->domain = got;
    p->have_domain = true;
    pthread_mutex_unlock(&p->lock);
    *d = got;
out:
    json_decref(out);
    return rc;
}

int chain_quote_price(struct rpc_client *c, const struct chain_manifest *m, const char *model_id,
                      const uint8_t buyer[20], const char *version, char price[80],
                      struct ag_err *e)
{
    json_t *out = NULL;
    const char *s;
    int rc;

    /* Today every buyer and every version pays the owner's list price; dynamic pricing
     * (demand, the buyer's history, the version) replaces this function. */
    (void)buyer;
    (void)version;
    rc = chain_call(c, m->addr[CHAIN_MARKETPLACE], "priceOf(uint256) returns (uint256)",
                    json_pack("[s]", model_id), &out, e);
    if (!rc && !(s = json_string_value(json_array_get(out, 0))))
        rc = ag_errf(e, AG_EBADJSON, NULL, "priceOf returned no uint256");
    if (!rc)
        str_copy(price, s, 80);
    json_decref(out);
    return rc;
}

/* call_str() is chain_call() for one output, copied as a string. */
static int call_str(struct rpc_client *c, const uint8_t to[20], const char *sig, json_t *args,
                    char *out, size_t size, struct ag_err *e)
{
    json_t *res = NULL;
    const char *s;
    int rc = chain_call(c, to, sig, args, &res, e);

    if (!rc && !(s = json_string_value(json_array_get(res, 0))))
        rc = ag_errf(e, AG_EBADJSON, NULL, "%s returned nothing readable", sig);
    if (!rc)
        str_copy(out, s, size);
    json_decref(res);
    return rc;
}

/* quote_expiry() is max(wall clock, latest block time) + ttl: a development
 * chain whose clock was moved ahead still gets a quote that lives ttl. */
static int quote_expiry(struct chain_pricer *p, struct rpc_client *c, uint64_t *out,
                        struct ag_err *e)
{
    json_t *blk = NULL;
    uint64_t ts = 0, now = (uint64_t)time_now();
    json_t *params = json_pack("[s,b]", "latest", 0);
    int rc = rpc_call(c, "eth_getBlockByNumber", params, &blk, e);

    json_decref(params);

    if (!rc && rpc_quantity_u64(json_object_get(blk, "timestamp"), &ts))
        rc = ag_errf(e, AG_EBADJSON, NULL, "the latest block has no timestamp");
    json_decref(blk);
    if (!rc)
        *out = MAX(now, ts) + p->ttl;
    return rc;
}

/* unreachable() words an RPC failure (no field named) for the quote's caller. */
static int unreachable(int rc, struct ag_err *e)
{
    if ((rc == AG_EUNAVAILABLE || rc == AG_ETIMEOUT || rc == AG_EIO) && (!e || !e->field[0]))
        return ag_errf(e, AG_EUNAVAILABLE, NULL, "cannot quote: the chain node is unreachable (%s)",
                       e ? e->msg : "no answer");
    return rc;
}

int chain_pricer_quote(struct chain_pricer *p, const char *owner, const char *slug,
                       const uint8_t buyer[20], const char *version, json_t **out, struct ag_err *e)
{
    const struct chain_manifest *m = p->manifest;
    struct rpc_client c;
    struct chain_domain d;
    struct chain_quote q = {0};
    struct eth_sig sig;
    char slug_hash[67], signer[ETH_ADDR_STR], me[ETH_ADDR_STR], sighex[133], model[256];
    uint8_t digest[32], who[20];
    struct buf dh;
    json_t *res = NULL;
    int rc;

    buf_init(&dh, 80);
    if ((rc = rpc_init(&c, p->rpc_url, e)))
        goto done;
    c.retries = 1;
    c.timeout_ms = p->rpc_timeout_ms;
    c.connect_timeout_ms = MIN(p->rpc_timeout_ms, 2000);
    /* 1. this key must be the one the contract checks quotes against */
    if ((rc = call_str(&c, m->addr[CHAIN_MARKETPLACE], "pricingSigner() returns (address)",
                       json_array(), signer, sizeof(signer), e)))
        goto out;
    addr_format(p->signer, me);
    if (addr_parse(signer, who, false, NULL) || memcmp(who, p->signer, 20)) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "pricing-key",
                     "this node's pricing key (%s) is not the Marketplace's pricing signer (%s): "
                     "no quote it signs would be accepted",
                     me, signer);
        goto out;
    }
    /* 2. the model, on chain */
    chain_slug_hash(owner, slug, slug_hash);
    if ((rc = call_str(&c, m->addr[CHAIN_REGISTRY], "modelIdBySlug(bytes32) returns (uint256)",
                       json_pack("[s]", slug_hash), q.model_id, sizeof(q.model_id), e)))
        goto out;
    if (!strcmp(q.model_id, "0")) {
        rc = ag_errf(e, AG_ECONFLICT, NULL,
                     "%s/%s is not registered on chain (its seller has not run `agora publish`)",
                     owner, slug);
        goto out;
    }
    if (version) {
        char idx[80];
        rc = call_str(&c, m->addr[CHAIN_REGISTRY],
                      "versionIndexOf(uint256,string) returns (uint256)",
                      json_pack("[s,s]", q.model_id, version), idx, sizeof(idx), e);
        if (rc == AG_EUNPROCESSABLE)
            rc = ag_errf(e, AG_ENOTFOUND, "version", "version %s of %s/%s is not on chain", version,
                         owner, slug);
        if (rc)
            goto out;
    }
    /* 3. the price, the expiry, a fresh nonce */
    if ((rc = chain_quote_price(&c, m, q.model_id, buyer, version, q.price, e)))
        goto out;
    if (!strcmp(q.price, "0")) {
        rc = ag_errf(e, AG_ECONFLICT, NULL, "%s/%s (token #%s) has no price: it is not for sale",
                     owner, slug, q.model_id);
        goto out;
    }
    if ((rc = quote_expiry(p, &c, &q.expiry, e)) || (rc = read_domain(p, &c, &d, e)))
        goto out;
    memcpy(q.buyer, buyer, 20);
    rand_bytes(q.nonce, sizeof(q.nonce));
    /* 4. sign */
    if ((rc = chain_quote_digest(&d, &q, digest, e)))
        goto out;
    if (secp_sign(p->key, digest, &sig)) {
        rc = ag_errf(e, AG_EINTERNAL, NULL, "signing the quote failed");
        goto out;
    }
    sig_format_hex(&sig, sighex);
    ethhex_encode(&dh, digest, 32);
    snprintf(model, sizeof(model), "%s/%s", owner, slug);
    res = json_pack("{s:o, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "quote", chain_quote_json(&q),
                    "signature", sighex, "digest", dh.p, "marketplace",
                    m->addr_hex[CHAIN_MARKETPLACE], "chainId", (json_int_t)d.chain_id, "signer", me,
                    "model", model, "version", version ? json_string(version) : json_null());
    if (!res) {
        rc = ag_errf(e, AG_ENOMEM, NULL, "out of memory");
        goto out;
    }
    *out = res;
out:
    rpc_release(&c);
    rc = unreachable(rc, e);
done:
    buf_release(&dh);
    return rc;
}
