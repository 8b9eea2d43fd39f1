/* wallet.c - nonce management, gas estimation and fee selection for signed sends. */
#include "core/common.h"

#include "core/util.h"
#include "eth/addr.h"
#include "eth/secp.h"
#include "eth/tx.h"
#include "eth/u256.h"
#include "eth/wallet.h"

#include <sodium.h>

int wallet_init(struct wallet *w, struct rpc_client *rpc, const uint8_t key[32], struct ag_err *e)
{
    int rc;
    memset(w, 0, sizeof(*w));
    if (secp_address(key, w->address))
        return ag_errf(e, AG_EINVAL, "key", "the private key is invalid");
    memcpy(w->key, key, 32);
    w->rpc = rpc;
    w->gas_margin_pct = 20;
    w->receipt_timeout_ms = 120000;
    w->poll_ms = 200;
    rc = rpc_chain_id(rpc, &w->chain_id, e);
    if (!rc && (w->chain_id == 0 || w->chain_id > TX_MAX_CHAIN_ID))
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "node reports an unusable chain id");
    if (rc)
        wallet_release(w);
    return rc;
}

void wallet_release(struct wallet *w)
{
    sodium_memzero(w->key, sizeof(w->key));
    w->have_nonce = false;
}

/* is_nonce_error() recognises the nodes' wordings for a stale nonce. */
static bool is_nonce_error(const struct rpc_client *c)
{
    const char *m = c->err.message;
    return strcasestr(m, "nonce too low") || strcasestr(m, "already known") ||
           strcasestr(m, "replacement transaction underpriced") ||
           strcasestr(m, "nonce has already been used");
}

/* fill_fees() sets EIP-1559 fees, or a legacy gas price on pre-London chains. */
static int fill_fees(struct wallet *w, struct eth_tx *tx, struct ag_err *e)
{
    uint8_t base[32], twice[32];
    int rc = rpc_base_fee(w->rpc, base, e);
    if (rc == AG_ENOTFOUND) {
        json_t *gp = NULL;
        tx->type = TX_LEGACY;
        rc = rpc_call(w->rpc, "eth_gasPrice", NULL, &gp, e);
        if (!rc && rpc_quantity_u256(gp, tx->gas_price))
            rc = ag_errf(e, AG_EBADJSON, NULL, "eth_gasPrice: not a quantity");
        json_decref(gp);
        return rc;
    }
    if (rc)
        return rc;
    tx->type = TX_EIP1559;
    rc = rpc_max_priority_fee(w->rpc, tx->max_priority_fee, e);
    if (rc)
        return rc;
    if (!u256_add(twice, base, base) || !u256_add(tx->max_fee, twice, tx->max_priority_fee))
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "node fees overflow");
    return 0;
}

/* has_revert_data() tells whether the last RPC error carried revert bytes. */
static bool has_revert_data(const struct rpc_client *c)
{
    return c->err.data && str_starts(c->err.data, "0x") && strlen(c->err.data) > 2;
}

/* explain_revert() turns the RPC error of a failed estimate into `e`. Some
 * nodes (Ganache 7) answer a reverting eth_estimateGas without the revert
 * data; the same call is then replayed with eth_call, which carries it. */
static int explain_revert(struct wallet *w, const struct rpc_callmsg *m,
                          const struct abi_func *errors, size_t nerrors, int rc, struct ag_err *e)
{
    struct buf why, ret;
    buf_init(&why, 4096);
    buf_init(&ret, 4096);
    if (rc == AG_EUNPROCESSABLE && !has_revert_data(w->rpc))
        rpc_eth_call(w->rpc, m, "latest", &ret, NULL);
    if (rc == AG_EUNPROCESSABLE && rpc_revert_reason(w->rpc, errors, nerrors, &why) == 0)
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "transaction would revert: %s", why.p);
    buf_release(&why);
    buf_release(&ret);
    return rc;
}

int wallet_send(struct wallet *w, const struct wallet_tx *t, const struct abi_func *errors,
                size_t nerrors, uint8_t hash[32], struct ag_err *e)
{
    struct eth_tx tx = {0};
    struct buf raw;
    int rc;
    buf_init(&raw, TX_MAX_RAW);
    tx.chain_id = w->chain_id;
    tx.has_to = t->to != NULL;
    if (t->to)
        memcpy(tx.to, t->to, 20);
    if (t->value)
        memcpy(tx.value, t->value, 32);
    tx.data = t->data;
    tx.data_len = t->data_len;
    tx.gas_limit = t->gas_limit;
    if (!tx.gas_limit) {
        struct rpc_callmsg m = {w->address, t->to, t->value, t->data, t->data_len};
        uint64_t est = 0;
        rc = rpc_estimate_gas(w->rpc, &m, &est, e);
        if (rc) {
            rc = explain_revert(w, &m, errors, nerrors, rc, e);
            goto out;
        }
        tx.gas_limit = est + est * w->gas_margin_pct / 100;
    }
    rc = fill_fees(w, &tx, e);
    if (rc)
        goto out;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!w->have_nonce) {
            rc = rpc_get_nonce(w->rpc, w->address, "pending", &w->next_nonce, e);
            if (rc)
                goto out;
            w->have_nonce = true;
        }
        tx.nonce = w->next_nonce;
        buf_reset(&raw);
        rc = tx_sign(&tx, w->key, &raw, hash, e);
        if (rc)
            goto out;
        rc = rpc_send_raw(w->rpc, (const uint8_t *)raw.p, raw.n, hash, e);
        if (rc == 0) {
            w->next_nonce++;
            goto out;
        }
        if (rc != AG_EUNPROCESSABLE || !is_nonce_error(w->rpc))
            break;
        w->have_nonce = false; /* resynchronize and try once more */
    }
    /* the node may hold a different nonce than we think: ask next time */
    w->have_nonce = false;
out:
    buf_release(&raw);
    return rc;
}

int wallet_send_wait(struct wallet *w, const struct wallet_tx *t, const struct abi_func *errors,
                     size_t nerrors, json_t **receipt, struct ag_err *e)
{
    uint8_t hash[32];
    json_t *r = NULL;
    uint64_t status = 0;
    int rc = wallet_send(w, t, errors, nerrors, hash, e);
    if (rc)
        return rc;
    rc = rpc_wait_receipt(w->rpc, hash, w->receipt_timeout_ms, w->poll_ms, &r, e);
    if (rc)
        return rc;
    if (rpc_quantity_u64(json_object_get(r, "status"), &status) == 0 && status == 0)
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "transaction was mined but reverted");
    *receipt = r;
    return rc;
}
