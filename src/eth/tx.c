/* tx.c - building, signing, serializing and decoding Ethereum transactions. */
#include "core/common.h"

#include "eth/keccak.h"
#include "eth/rlp.h"
#include "eth/tx.h"
#include "eth/u256.h"

#include <sodium.h>

/* put_access_list() appends the RLP of an EIP-2930 access list. */
static int put_access_list(struct buf *out, const struct eth_tx *tx)
{
    struct buf list, item, keys;
    int rc = 0;
    buf_init(&list, TX_MAX_RAW);
    buf_init(&item, TX_MAX_RAW);
    buf_init(&keys, TX_MAX_RAW);
    for (size_t i = 0; i < tx->naccess && !rc; i++) {
        const struct eth_access *a = &tx->access[i];
        buf_reset(&item);
        buf_reset(&keys);
        for (size_t k = 0; k < a->nkeys && !rc; k++)
            rc = rlp_put_bytes(&keys, a->keys[k], 32);
        if (!rc)
            rc = rlp_put_bytes(&item, a->address, 20);
        if (!rc)
            rc = rlp_put_list(&item, keys.p, keys.n);
        if (!rc)
            rc = rlp_put_list(&list, item.p, item.n);
    }
    if (!rc)
        rc = rlp_put_list(out, list.p, list.n);
    buf_release(&list);
    buf_release(&item);
    buf_release(&keys);
    return rc;
}

/* put_fields() appends the unsigned fields of `tx` (not yet wrapped in a list). */
static int put_fields(struct buf *f, const struct eth_tx *tx)
{
    int rc = 0;
    if (tx->chain_id == 0 || tx->chain_id > TX_MAX_CHAIN_ID)
        return AG_EINVAL;
    if (tx->type == TX_EIP1559) {
        rc = rlp_put_uint(f, tx->chain_id);
        if (!rc)
            rc = rlp_put_uint(f, tx->nonce);
        if (!rc)
            rc = rlp_put_u256(f, tx->max_priority_fee);
        if (!rc)
            rc = rlp_put_u256(f, tx->max_fee);
    } else if (tx->type == TX_LEGACY) {
        rc = rlp_put_uint(f, tx->nonce);
        if (!rc)
            rc = rlp_put_u256(f, tx->gas_price);
    } else {
        return AG_EINVAL;
    }
    if (tx->type == TX_EIP1559 && u256_cmp(tx->max_priority_fee, tx->max_fee) > 0)
        return AG_EINVAL;
    if (!rc)
        rc = rlp_put_uint(f, tx->gas_limit);
    if (!rc)
        rc = rlp_put_bytes(f, tx->to, tx->has_to ? 20 : 0);
    if (!rc)
        rc = rlp_put_u256(f, tx->value);
    if (!rc)
        rc = rlp_put_bytes(f, tx->data, tx->data_len);
    if (!rc && tx->type == TX_EIP1559)
        rc = put_access_list(f, tx);
    return rc;
}

/* wrap() appends the typed envelope: type byte (if any) and the RLP list. */
static int wrap(struct buf *out, const struct eth_tx *tx, const struct buf *fields)
{
    int rc = 0;
    if (tx->type == TX_EIP1559)
        rc = buf_addc(out, 0x02);
    if (!rc)
        rc = rlp_put_list(out, fields->p, fields->n);
    return rc;
}

int tx_signing_hash(const struct eth_tx *tx, uint8_t out[32])
{
    struct buf f, env;
    int rc;
    buf_init(&f, TX_MAX_RAW);
    buf_init(&env, TX_MAX_RAW);
    rc = put_fields(&f, tx);
    if (!rc && tx->type == TX_LEGACY) {
        rc = rlp_put_uint(&f, tx->chain_id);
        if (!rc)
            rc = rlp_put_uint(&f, 0);
        if (!rc)
            rc = rlp_put_uint(&f, 0);
    }
    if (!rc)
        rc = wrap(&env, tx, &f);
    if (!rc)
        keccak256(env.p, env.n, out);
    buf_release(&f);
    buf_release(&env);
    return rc;
}

int tx_encode_signed(const struct eth_tx *tx, const struct eth_sig *sig, struct buf *raw)
{
    struct buf f;
    int rc;
    buf_init(&f, TX_MAX_RAW);
    rc = put_fields(&f, tx);
    if (!rc) {
        if (tx->type == TX_EIP1559)
            rc = rlp_put_uint(&f, (uint64_t)sig->v);
        else
            rc = rlp_put_uint(&f, (uint64_t)sig->v + tx->chain_id * 2 + 35);
    }
    if (!rc)
        rc = rlp_put_u256(&f, sig->r);
    if (!rc)
        rc = rlp_put_u256(&f, sig->s);
    if (!rc)
        rc = wrap(raw, tx, &f);
    buf_release(&f);
    return rc;
}

int tx_sign(const struct eth_tx *tx, const uint8_t priv[32], struct buf *raw, uint8_t hash[32],
            struct ag_err *e)
{
    uint8_t digest[32];
    struct eth_sig sig;
    size_t start = raw->n;
    int rc = tx_signing_hash(tx, digest);
    if (rc) {
        rc = ag_errf(
            e, rc, "tx",
            rc == AG_EINVAL
                ? "transaction type, chain id or fees (priority fee above max fee) are invalid"
                : "cannot encode the transaction");
        goto out;
    }
    rc = secp_sign(priv, digest, &sig);
    if (rc) {
        rc = ag_errf(e, rc, "key", "the private key is invalid");
        goto out;
    }
    rc = tx_encode_signed(tx, &sig, raw);
    if (rc) {
        rc = ag_errf(e, rc, "tx", "cannot encode the signed transaction");
        goto out;
    }
    if (hash)
        keccak256(raw->p + start, raw->n - start, hash);
out:
    sodium_memzero(&sig, sizeof(sig));
    return rc;
}

/* next_*() read one field off a list cursor. */
static int next_item(const uint8_t **p, size_t *n, struct rlp_item *it)
{
    int rc = rlp_list_next(p, n, it, NULL);
    return rc ? AG_EINVAL : 0;
}

static int next_uint(const uint8_t **p, size_t *n, uint64_t *v)
{
    struct rlp_item it;
    int rc = next_item(p, n, &it);
    return rc ? rc : (rlp_get_uint(&it, v) ? AG_EINVAL : 0);
}

static int next_u256(const uint8_t **p, size_t *n, uint8_t v[32])
{
    struct rlp_item it;
    int rc = next_item(p, n, &it);
    return rc ? rc : (rlp_get_u256(&it, v) ? AG_EINVAL : 0);
}

static int decode_access(const struct rlp_item *lst, struct eth_tx_decoded *d)
{
    long cnt = rlp_list_count(lst);
    const uint8_t *p = lst->p;
    size_t n = lst->n;
    if (!lst->list || cnt < 0)
        return AG_EINVAL;
    if (cnt == 0)
        return 0;
    d->access_store = calloc((size_t)cnt, sizeof(*d->access_store));
    if (!d->access_store)
        return AG_ENOMEM;
    for (long i = 0; i < cnt; i++) {
        struct rlp_item entry, a, keys, k;
        struct eth_access *ac = &d->access_store[i];
        const uint8_t *ep;
        size_t en;
        if (next_item(&p, &n, &entry) || !entry.list)
            return AG_EINVAL;
        ep = entry.p;
        en = entry.n;
        if (next_item(&ep, &en, &a) || a.list || a.n != 20 || next_item(&ep, &en, &keys) ||
            !keys.list || en != 0)
            return AG_EINVAL;
        memcpy(ac->address, a.p, 20);
        long nk = rlp_list_count(&keys);
        const uint8_t *kp = keys.p;
        size_t kn = keys.n;
        for (long j = 0; j < nk; j++)
            if (next_item(&kp, &kn, &k) || k.list || k.n != 32)
                return AG_EINVAL;
        /* keys are contiguous 33-byte items (0xa0 || key); point at them via a copy */
        if (nk > 0) {
            uint8_t(*copy)[32] = calloc((size_t)nk, 32);
            if (!copy)
                return AG_ENOMEM;
            kp = keys.p;
            kn = keys.n;
            for (long j = 0; j < nk; j++) {
                next_item(&kp, &kn, &k);
                memcpy(copy[j], k.p, 32);
            }
            ac->keys = (const uint8_t(*)[32])copy;
            ac->nkeys = (size_t)nk;
        }
        d->tx.naccess = (size_t)(i + 1);
    }
    return 0;
}

int tx_decode(const uint8_t *raw, size_t n, struct eth_tx_decoded *out, struct ag_err *e)
{
    struct rlp_item top, it;
    const uint8_t *p, *body = raw;
    size_t pn, bn = n;
    uint8_t digest[32];
    uint64_t v = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > TX_MAX_RAW)
        return ag_errf(e, AG_EINVAL, "tx", "raw transaction is empty or too large");
    if (raw[0] == 0x02) {
        out->tx.type = TX_EIP1559;
        body++;
        bn--;
    } else if (raw[0] >= 0xc0) {
        out->tx.type = TX_LEGACY;
    } else {
        return ag_errf(e, AG_EINVAL, "tx", "unsupported transaction type 0x%02x", raw[0]);
    }
    rc = rlp_decode(body, bn, &top, e);
    if (rc)
        goto out;
    if (!top.list) {
        rc = ag_errf(e, AG_EINVAL, "tx", "transaction is not an RLP list");
        goto out;
    }
    p = top.p;
    pn = top.n;
    rc = AG_EINVAL;
    if (out->tx.type == TX_EIP1559) {
        if (next_uint(&p, &pn, &out->tx.chain_id) || next_uint(&p, &pn, &out->tx.nonce) ||
            next_u256(&p, &pn, out->tx.max_priority_fee) || next_u256(&p, &pn, out->tx.max_fee))
            goto bad;
    } else {
        if (next_uint(&p, &pn, &out->tx.nonce) || next_u256(&p, &pn, out->tx.gas_price))
            goto bad;
    }
    if (next_uint(&p, &pn, &out->tx.gas_limit) || next_item(&p, &pn, &it) || it.list ||
        (it.n != 0 && it.n != 20))
        goto bad;
    out->tx.has_to = it.n == 20;
    if (it.n)
        memcpy(out->tx.to, it.p, 20);
    if (next_u256(&p, &pn, out->tx.value) || next_item(&p, &pn, &it) || it.list)
        goto bad;
    out->tx.data = it.p;
    out->tx.data_len = it.n;
    if (out->tx.type == TX_EIP1559) {
        if (next_item(&p, &pn, &it))
            goto bad;
        rc = decode_access(&it, out);
        out->tx.access = out->access_store;
        if (rc)
            goto bad;
        rc = AG_EINVAL;
    }
    if (next_uint(&p, &pn, &v) || next_u256(&p, &pn, out->sig.r) ||
        next_u256(&p, &pn, out->sig.s) || pn != 0)
        goto bad;
    if (out->tx.type == TX_EIP1559) {
        if (v > 1)
            goto bad;
        out->sig.v = (int)v;
    } else {
        if (v < 37) {
            rc =
                ag_errf(e, AG_EINVAL, "tx", "legacy transaction without EIP-155 replay protection");
            goto out;
        }
        out->tx.chain_id = (v - 35) / 2;
        out->sig.v = (int)((v - 35) % 2);
    }
    rc = tx_signing_hash(&out->tx, digest);
    if (!rc)
        rc = secp_recover_address(digest, &out->sig, out->from);
    if (rc) {
        rc = ag_errf(e, AG_EINVAL, "tx", "transaction signature does not recover a sender");
        goto out;
    }
    keccak256(raw, n, out->hash);
    goto out;
bad:
    rc = ag_errf(e, AG_EINVAL, "tx", "malformed transaction fields");
out:
    if (rc)
        tx_decoded_release(out);
    return rc;
}

void tx_decoded_release(struct eth_tx_decoded *d)
{
    if (d->access_store) {
        for (size_t i = 0; i < d->tx.naccess; i++)
            free((void *)d->access_store[i].keys);
        free(d->access_store);
    }
    d->access_store = NULL;
    d->tx.access = NULL;
    d->tx.naccess = 0;
}
