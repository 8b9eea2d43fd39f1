/* chain_rpc.c - the browser's way to the chain: a JSON-RPC relay with a method allowlist (POST
 * /api/v1/chain/rpc) and a dev-chain faucet (POST /api/v1/chain/faucet).
 *
 * The web UI runs under a CSP whose connect-src is 'self', so its wallet
 * talks to the chain node through this relay. Only the read methods a
 * wallet and the contracts' UI need, gas and fee estimation, and
 * eth_sendRawTransaction (transactions signed in the browser) pass; nothing
 * that would use the node's own accounts (eth_sendTransaction, eth_sign,
 * personal_*), change its state (anvil_*, evm_*), or administer it.
 * eth_getLogs is bounded to RELAY_LOGS_RANGE blocks. Request-level faults
 * (not JSON, too big, no chain) are API errors; a refused or failed call is
 * a JSON-RPC error object in its reply, as a chain node would answer.
 *
 * The faucet exists only on development chains (chain id 31337 or 1337,
 * where the token's own faucet works): it sends gas ETH from the chain
 * node's first unlocked development account (anvil, Hardhat, Ganache and
 * geth --dev have them; no key lives in the node) when the address holds
 * less than FAUCET_ETH_FLOOR, and calls AgoraToken.faucet(address), which
 * the token allows once a day per recipient. Each client address may ask
 * FAUCET_IP_MAX times per hour (per node).
 */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/rpc.h"
#include "eth/u256.h"

#include <pthread.h>

#define RELAY_BATCH_MAX  20
#define RELAY_LOGS_RANGE 10000
#define RELAY_REPLY_MAX  ((size_t)8 << 20)
#define RELAY_TIMEOUT_MS 15000
#define FAUCET_IP_MAX    10
#define FAUCET_IP_WINDOW 3600
#define FAUCET_IP_SLOTS  256
#define FAUCET_WAIT_MS   30000
/* 1 ETH sent when the address holds less than 0.1 ETH. */
#define FAUCET_ETH_WEI   "0xde0b6b3a7640000"
#define FAUCET_ETH_FLOOR "100000000000000000"

static const char *const relay_methods[] = {
    "eth_chainId",
    "eth_blockNumber",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_getTransactionByHash",
    "eth_sendRawTransaction",
    "eth_getLogs",
    "eth_getBlockByNumber",
    "eth_getCode",
    "net_version",
};

static bool relay_allowed(const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(relay_methods); i++)
        if (!strcmp(method, relay_methods[i]))
            return true;
    return false;
}

/* chain_client() prepares an RPC client for the configured chain node.
 * Returns 0, or AG_EUNAVAILABLE (left in c) when the node follows no chain. */
static int chain_client(struct api_call *c, struct rpc_client *rpc)
{
    const struct market_chain *mc = c->market->chain;

    if (!mc || !mc->rpc_url)
        return c->rc = ag_errf(&c->err, AG_EUNAVAILABLE, NULL,
                               "this node follows no chain (start it with --chain-rpc)");
    if ((c->rc = rpc_init(rpc, mc->rpc_url, &c->err)))
        return c->rc;
    rpc->retries = 0;
    rpc->timeout_ms = RELAY_TIMEOUT_MS;
    rpc->max_response = RELAY_REPLY_MAX;
    return 0;
}

static json_t *rpc_reply_error(json_t *id, long code, const char *message, const char *data)
{
    json_t *err = json_pack("{s:I, s:s}", "code", (json_int_t)code, "message", message);
    if (data)
        json_object_set_new(err, "data", json_string(data));
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     err);
}

/* block_tag() resolves a block tag of eth_getLogs: a hex quantity, or a
 * name ("latest" and friends ask the node's head once, into *head).
 * Returns 0, AG_EINVAL for a bad tag, or the RPC error. */
static int block_tag(struct rpc_client *rpc, json_t *v, uint64_t *head, uint64_t *out,
                     struct ag_err *e)
{
    const char *s = json_string_value(v);

    if (!v || !strcmp(s ? s : "", "latest") || !strcmp(s ? s : "", "pending") ||
        !strcmp(s ? s : "", "safe") || !strcmp(s ? s : "", "finalized")) {
        if (*head == UINT64_MAX) {
            int rc = rpc_block_number(rpc, head, e);
            if (rc)
                return rc;
        }
        *out = *head;
        return 0;
    }
    if (s && !strcmp(s, "earliest")) {
        *out = 0;
        return 0;
    }
    if (rpc_quantity_u64(v, out))
        return ag_errf(e, AG_EINVAL, NULL, "fromBlock/toBlock must be a block number or tag");
    return 0;
}

/* logs_bounded() checks an eth_getLogs filter spans at most
 * RELAY_LOGS_RANGE blocks (a blockHash filter is one block). Returns 0 or
 * AG_EINVAL with the reason. */
static int logs_bounded(struct rpc_client *rpc, json_t *params, struct ag_err *e)
{
    json_t *f = json_array_get(params, 0);
    uint64_t head = UINT64_MAX, from = 0, to = 0;
    int rc;

    if (json_array_size(params) != 1 || !json_is_object(f))
        return ag_errf(e, AG_EINVAL, NULL, "eth_getLogs takes one filter object");
    if (json_object_get(f, "blockHash"))
        return (json_object_get(f, "fromBlock") || json_object_get(f, "toBlock"))
                   ? ag_errf(e, AG_EINVAL, NULL, "blockHash excludes fromBlock/toBlock")
                   : 0;
    if ((rc = block_tag(rpc, json_object_get(f, "fromBlock"), &head, &from, e)) ||
        (rc = block_tag(rpc, json_object_get(f, "toBlock"), &head, &to, e)))
        return rc;
    if (to >= from && to - from >= RELAY_LOGS_RANGE)
        return ag_errf(e, AG_EINVAL, NULL,
                       "eth_getLogs may span at most %d blocks through this node; split the range",
                       RELAY_LOGS_RANGE);
    return 0;
}

/* relay_one() forwards one JSON-RPC request and returns its reply (a new
 * reference, never NULL unless out of memory): the node's result or error,
 * or our own error object for a malformed, refused or failed call. */
static json_t *relay_one(struct rpc_client *rpc, json_t *req)
{
    static const char *const keys[] = {"jsonrpc", "id", "method", "params", NULL};
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    json_t *params, *result = NULL, *out;
    const char *method;
    struct ag_err e = {0};
    int rc;

    if (!json_is_object(req) || json_check_keys(req, keys, &e) ||
        !(method = json_string_value(json_object_get(req, "method"))) ||
        (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)))
        return rpc_reply_error(id, -32600, "invalid JSON-RPC request", NULL);
    params = json_object_get(req, "params");
    if (params && !json_is_array(params))
        return rpc_reply_error(id, -32602, "params must be an array", NULL);
    if (!relay_allowed(method)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "method %.64s is not available through this node", method);
        return rpc_reply_error(id, -32601, msg, NULL);
    }
    if (!strcmp(method, "eth_getLogs") && (rc = logs_bounded(rpc, params, &e)))
        return rpc_reply_error(id, rc == AG_EINVAL ? -32602 : -32603, e.msg, NULL);
    rc = rpc_call(rpc, method, params, &result, &e);
    if (rc == AG_EUNPROCESSABLE)
        return rpc_reply_error(id, rpc->err.code, rpc->err.message, rpc->err.data);
    if (rc) {
        log_warn("chain relay: %s: %s", method, e.msg);
        return rpc_reply_error(id, -32603, "the chain node did not answer", NULL);
    }
    out = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                    result);
    return out;
}

/* relay_write() answers 200 with `v` (consumed) as the raw JSON-RPC reply. */
static int relay_write(struct api_call *c, struct http_resp *resp, json_t *v)
{
    if (!v)
        c->rc = ag_err_set(&c->err, AG_ENOMEM);
    else if (json_dump_buf(&resp->body, v))
        c->rc = ag_errf(&c->err, AG_ETOOBIG, NULL, "the chain node's reply is too large");
    json_decref(v);
    if (c->rc)
        return api_reply(c, resp, 0, NULL);
    resp->status = 200;
    http_resp_header(c->req, resp, "Cache-Control", "no-store");
    return 0;
}

int api_chain_rpc(void *app, struct http_req *req, struct http_resp *resp)
{
    const char *type = http_header(req, "Content-Type");
    struct rpc_client rpc = {0};
    json_t *body = NULL, *out = NULL;
    bool have_rpc = false;
    struct api_call c;

    if (api_start(app, req, &c))
        goto out;
    if (!type || strncasecmp(type, "application/json", 16) ||
        (type[16] && type[16] != ';' && type[16] != ' ')) {
        c.rc = ag_errf(&c.err, AG_EMEDIATYPE, NULL,
                       "request body must be JSON (Content-Type: application/json)");
        goto out;
    }
    if ((c.rc = json_parse(req->body.p, req->body.n, &body, &c.err)))
        goto out;
    if (json_is_array(body) &&
        (json_array_size(body) == 0 || json_array_size(body) > RELAY_BATCH_MAX)) {
        c.rc = ag_errf(&c.err, AG_EINVAL, NULL, "a batch holds 1 to %d requests", RELAY_BATCH_MAX);
        goto out;
    }
    if (chain_client(&c, &rpc))
        goto out;
    have_rpc = true;
    if (json_is_array(body)) {
        /* A batch shares one deadline, so it cannot hold a worker for
         * RELAY_BATCH_MAX timeouts: what is left when it passes fails. */
        int64_t deadline = time_now_ms() + RELAY_TIMEOUT_MS;
        size_t i;
        json_t *r;
        out = json_array();
        json_array_foreach(body, i, r)
        {
            int64_t left = deadline - time_now_ms();
            if (left <= 0) {
                json_array_append_new(out, rpc_reply_error(json_object_get(r, "id"), -32603,
                                                           "the batch ran out of time", NULL));
                continue;
            }
            rpc.timeout_ms = (long)left;
            json_array_append_new(out, relay_one(&rpc, r));
        }
    } else {
        out = relay_one(&rpc, body);
    }
out:
    if (have_rpc)
        rpc_release(&rpc);
    json_decref(body);
    if (c.rc)
        return api_reply(&c, resp, 200, out);
    return relay_write(&c, resp, out);
}

/* ---- faucet ------------------------------------------------------------------ */

struct ip_slot {
    char ip[64];
    int64_t window_start;
    int count;
};

static pthread_mutex_t ip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ip_slot ip_slots[FAUCET_IP_SLOTS];

/* ip_allow() counts one faucet request from `ip`; false (with the seconds
 * to wait) once it made FAUCET_IP_MAX in the current hour. The table is
 * small and per node: when full, the oldest window is reused. */
static bool ip_allow(const char *ip, int64_t now, int *retry_after)
{
    struct ip_slot *slot = NULL, *oldest = &ip_slots[0];
    bool ok = true;

    pthread_mutex_lock(&ip_lock);
    for (size_t i = 0; i < ARRAY_SIZE(ip_slots) && !slot; i++) {
        if (!strcmp(ip_slots[i].ip, ip))
            slot = &ip_slots[i];
        else if (ip_slots[i].window_start < oldest->window_start)
            oldest = &ip_slots[i];
    }
    if (!slot) {
        slot = oldest;
        str_copy(slot->ip, ip, sizeof(slot->ip));
        slot->window_start = now;
        slot->count = 0;
    }
    if (now - slot->window_start >= FAUCET_IP_WINDOW) {
        slot->window_start = now;
        slot->count = 0;
    }
    if (slot->count >= FAUCET_IP_MAX) {
        ok = false;
        *retry_after = (int)(slot->window_start + FAUCET_IP_WINDOW - now);
    } else {
        slot->count++;
    }
    pthread_mutex_unlock(&ip_lock);
    return ok;
}

/* send_dev_tx() sends {from, to, value?, data?} with eth_sendTransaction
 * from the node's unlocked development account and waits for it to be
 * mined. Writes the hash ("0x" + 64) into hash_out. Returns 0, the RPC
 * error, or AG_EUNPROCESSABLE when it reverted. */
static int send_dev_tx(struct rpc_client *rpc, const char *from, const char *to, const char *value,
                       const char *data, char hash_out[67], struct ag_err *e)
{
    json_t *tx = json_pack("{s:s, s:s}", "from", from, "to", to), *res = NULL, *rcpt = NULL;
    json_t *params = NULL;
    const char *status;
    uint8_t hash[32];
    int rc;

    if (value)
        json_object_set_new(tx, "value", json_string(value));
    if (data)
        json_object_set_new(tx, "data", json_string(data));
    params = json_pack("[O]", tx);
    rc = rpc_call(rpc, "eth_sendTransaction", params, &res, e);
    if (rc)
        goto out;
    if (!json_is_string(res) || ethhex_decode_fixed(json_string_value(res), hash, 32)) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "eth_sendTransaction returned no hash");
        goto out;
    }
    str_copy(hash_out, json_string_value(res), 67);
    if ((rc = rpc_wait_receipt(rpc, hash, FAUCET_WAIT_MS, 100, &rcpt, e)))
        goto out;
    status = json_string_value(json_object_get(rcpt, "status"));
    if (!status || strcmp(status, "0x1"))
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "the faucet transaction %s failed", hash_out);
out:
    json_decref(params);
    json_decref(tx);
    json_decref(res);
    json_decref(rcpt);
    return rc;
}

/* abi_call_addr() writes the calldata "0x" + selector(sig) + address word. */
static void abi_call_addr(const char *sig, const uint8_t addr[20], char out[2 + 8 + 64 + 1])
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t h[32], word[36] = {0};
    keccak256(sig, strlen(sig), h);
    memcpy(word, h, 4);
    memcpy(word + 4 + 12, addr, 20);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < sizeof(word); i++) {
        out[2 + 2 * i] = hexd[word[i] >> 4];
        out[3 + 2 * i] = hexd[word[i] & 15];
    }
    out[2 + 2 * sizeof(word)] = 0;
}

/* faucet_run() does the drip for `addr` and fills *out with what it sent.
 * Returns 0, AG_ERATELIMIT (e->retry_after set) when the address has ETH
 * and its token cooldown runs, or an RPC error. */
static int faucet_run(struct rpc_client *rpc, const struct chain_manifest *mf,
                      const uint8_t addr[20], json_t **out, struct ag_err *e)
{
    char to[ETH_ADDR_STR], data[75], eth_hash[67] = "", tok_hash[67] = "";
    const char *dev;
    json_t *accounts = NULL, *bal = NULL, *params = NULL;
    uint8_t balance[32], floor_wei[32], avail[32];
    uint64_t avail_at = 0;
    struct buf ret;
    int rc;

    buf_init(&ret, 4096);
    addr_format(addr, to);
    if ((rc = rpc_call(rpc, "eth_accounts", NULL, &accounts, e)))
        goto out;
    if (!(dev = json_string_value(json_array_get(accounts, 0)))) {
        rc = ag_errf(e, AG_EUNAVAILABLE, NULL,
                     "the chain node has no unlocked development account to pay from");
        goto out;
    }
    /* Gas money first: without it the address can do nothing. */
    params = json_pack("[s, s]", to, "latest");
    if ((rc = rpc_call(rpc, "eth_getBalance", params, &bal, e)))
        goto out;
    if (rpc_quantity_u256(bal, balance) || u256_parse(FAUCET_ETH_FLOOR, floor_wei)) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "eth_getBalance returned no quantity");
        goto out;
    }
    if (u256_cmp(balance, floor_wei) < 0 &&
        (rc = send_dev_tx(rpc, dev, to, FAUCET_ETH_WEI, NULL, eth_hash, e)))
        goto out;
    /* Then the token drip, which the token itself limits to once a day. */
    abi_call_addr("faucetAvailableAt(address)", addr, data);
    {
        struct rpc_callmsg m = {.to = mf->addr[CHAIN_TOKEN]};
        struct buf cd;
        buf_init(&cd, 64);
        ethhex_decode(&cd, data);
        m.data = (const uint8_t *)cd.p;
        m.data_len = cd.n;
        rc = rpc_eth_call(rpc, &m, "latest", &ret, e);
        buf_release(&cd);
        if (rc)
            goto out;
    }
    if (ret.n != 32 || (memcpy(avail, ret.p, 32), !u256_to_u64(avail, &avail_at))) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "faucetAvailableAt returned no uint256");
        goto out;
    }
    if (avail_at == 0) {
        abi_call_addr("faucet(address)", addr, data);
        if ((rc = send_dev_tx(rpc, dev, mf->addr_hex[CHAIN_TOKEN], NULL, data, tok_hash, e)))
            goto out;
    } else if (!eth_hash[0]) {
        int64_t wait = (int64_t)avail_at - time_now();
        rc = ag_errf(e, AG_ERATELIMIT, "address",
                     "this address already has gas and took its tokens; the faucet opens again "
                     "for it at %" PRIu64 " (unix time)",
                     avail_at);
        e->retry_after = wait > 0 ? (int)MIN(wait, 86400) : 1;
        goto out;
    }
    *out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "address", to, "eth",
                     eth_hash[0] ? "1000000000000000000" : "0", "tokens",
                     tok_hash[0] ? "1000000000000000000000" : "0", "eth_tx",
                     json_str_or_null(eth_hash[0] ? eth_hash : NULL), "token_tx",
                     json_str_or_null(tok_hash[0] ? tok_hash : NULL), "tokens_available_at",
                     (json_int_t)avail_at);
out:
    buf_release(&ret);
    json_decref(accounts);
    json_decref(bal);
    json_decref(params);
    return rc;
}

int api_chain_faucet(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"address", NULL};
    const struct market_chain *mc;
    const char *address = NULL;
    struct rpc_client rpc = {0};
    json_t *body = NULL, *out = NULL;
    uint8_t addr[20];
    int retry = 0;
    struct api_call c;

    if (api_start(app, req, &c) || api_need_auth(&c) || api_body(&c, keys, &body) ||
        api_str(&c, body, "address", true, &address))
        goto out;
    if (addr_parse(address, addr, false, &c.err)) {
        c.rc = ag_errf(&c.err, AG_EINVAL, "address", "not an Ethereum address (0x and 40 hex)");
        goto out;
    }
    mc = c.market->chain;
    if (mc && mc->manifest && mc->chain_id != 31337 && mc->chain_id != 1337) {
        c.rc = ag_errf(&c.err, AG_EFORBIDDEN, NULL,
                       "the faucet exists only on development chains (chain id 31337 or 1337)");
        goto out;
    }
    if (mc && !mc->manifest) {
        c.rc = ag_errf(&c.err, AG_EUNAVAILABLE, NULL, "no contracts deployed on this chain");
        goto out;
    }
    if (!ip_allow(req->remote_ip, time_now(), &retry)) {
        c.rc = ag_errf(&c.err, AG_ERATELIMIT, NULL,
                       "too many faucet requests from this address; try again later");
        c.err.retry_after = retry;
        goto out;
    }
    if (chain_client(&c, &rpc))
        goto out;
    c.rc = faucet_run(&rpc, mc->manifest, addr, &out, &c.err);
    if (c.rc == AG_EUNPROCESSABLE)
        c.rc = ag_errf(&c.err, AG_EUNPROCESSABLE, NULL, "the faucet failed: %s", c.err.msg);
    rpc_release(&rpc);
out:
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}
