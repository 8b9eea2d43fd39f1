/* rpc.c - JSON-RPC 2.0 over HTTP with libcurl: retries, batches, Ethereum helpers. */
#include "core/common.h"

#include "core/json.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/rpc.h"
#include "eth/u256.h"

#include <curl/curl.h>
#include <pthread.h>
#include <unistd.h>

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int rpc_init(struct rpc_client *c, const char *url, struct ag_err *e)
{
    memset(c, 0, sizeof(*c));
    if (!url || (!str_starts(url, "http://") && !str_starts(url, "https://")) || strlen(url) > 2048)
        return ag_errf(e, AG_EINVAL, "url", "RPC URL must be http:// or https://");
    pthread_once(&g_curl_once, curl_setup);
    c->url = strdup(url);
    c->curl = curl_easy_init();
    if (!c->url || !c->curl) {
        rpc_release(c);
        return ag_err_set(e, AG_ENOMEM);
    }
    c->timeout_ms = 30000;
    c->connect_timeout_ms = 5000;
    c->retries = 3;
    c->backoff_ms = 100;
    c->max_response = RPC_MAX_RESPONSE_DEFAULT;
    c->next_id = 1;
    return 0;
}

static void clear_err(struct rpc_client *c)
{
    free(c->err.data);
    memset(&c->err, 0, sizeof(c->err));
}

void rpc_release(struct rpc_client *c)
{
    clear_err(c);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->url);
    memset(c, 0, sizeof(*c));
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    return buf_add(b, p, n) ? 0 : n;
}

/* post() sends `body` and fills `reply`, retrying transient failures. */
static int post(struct rpc_client *c, const struct buf *body, struct buf *reply, struct ag_err *e)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL;
    long backoff = c->backoff_ms;
    int rc = 0;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (!hdrs)
        return ag_err_set(e, AG_ENOMEM);
    for (int attempt = 0;; attempt++) {
        long status = 0;
        bool transient = false;
        buf_reset(reply);
        curl_easy_setopt(h, CURLOPT_URL, c->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->n);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        CURLcode cc = curl_easy_perform(h);
        if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
            rc = ag_errf(e, AG_ETOOBIG, NULL, "RPC reply larger than %zu bytes", c->max_response);
            break;
        }
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            rc = ag_errf(e, AG_ETIMEOUT, NULL, "RPC request to %s timed out", c->url);
            transient = true;
        } else if (cc != CURLE_OK) {
            rc = ag_errf(e, AG_EUNAVAILABLE, NULL, "RPC node %s unreachable: %s", c->url,
                         curl_easy_strerror(cc));
            transient = cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
                        cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
                        cc == CURLE_COULDNT_RESOLVE_HOST;
        } else {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (status == 200) {
                rc = 0;
                break;
            }
            rc = ag_errf(e, status == 429 ? AG_ERATELIMIT : AG_EUNAVAILABLE, NULL,
                         "RPC node answered HTTP %ld", status);
            transient = status == 429 || status >= 500;
            /* JSON-RPC servers may answer errors with 4xx/5xx and a JSON body */
            if (!transient && reply->n && reply->p[0] == '{') {
                rc = 0;
                break;
            }
        }
        if (!transient || attempt >= c->retries)
            break;
        usleep((useconds_t)(backoff * 1000));
        backoff *= 2;
    }
    curl_slist_free_all(hdrs);
    return rc;
}

/* take_error() records a JSON-RPC error object in c->err. */
static void take_error(struct rpc_client *c, json_t *err)
{
    json_t *d = json_object_get(err, "data");
    const char *msg = json_string_value(json_object_get(err, "message"));
    clear_err(c);
    c->err.code = (long)json_integer_value(json_object_get(err, "code"));
    str_copy(c->err.message, msg ? msg : "(no message)", sizeof(c->err.message));
    if (json_is_string(d))
        c->err.data = strdup(json_string_value(d));
    else if (json_is_object(d) && json_is_string(json_object_get(d, "data")))
        c->err.data = strdup(json_string_value(json_object_get(d, "data")));
    else if (json_is_object(d) && json_is_string(json_object_get(d, "result")))
        /* Ganache 7's eth_estimateGas: {hash, programCounter, result, reason, message} */
        c->err.data = strdup(json_string_value(json_object_get(d, "result")));
    else if (d && !json_is_null(d))
        c->err.data = json_dumps(d, JSON_COMPACT);
}

/* parse_reply() parses a node's reply. Unlike json_parse() it allows "\u0000"
 * inside strings: nodes echo raw revert bytes in error messages. jansson
 * bounds the nesting depth itself, and the size is capped by max_response. */
static int parse_reply(const struct buf *reply, json_t **out, struct ag_err *e)
{
    json_error_t je;
    json_t *v = json_loadb(reply->p, reply->n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        return ag_errf(e, AG_EBADJSON, NULL, "malformed JSON at column %d: %s", je.column, je.text);
    *out = v;
    return 0;
}

static json_t *make_req(struct rpc_client *c, const char *method, json_t *params)
{
    return json_pack("{s:s,s:I,s:s,s:O}", "jsonrpc", "2.0", "id", (json_int_t)c->next_id++,
                     "method", method, "params", params ? params : json_array());
}

int rpc_call(struct rpc_client *c, const char *method, json_t *params, json_t **result,
             struct ag_err *e)
{
    struct buf body, reply;
    json_t *req = NULL, *resp = NULL;
    int rc;
    buf_init(&body, (size_t)64 << 20);
    buf_init(&reply, c->max_response);
    clear_err(c);
    json_t *empty = params ? NULL : json_array();
    req = make_req(c, method, params ? params : empty);
    json_decref(empty);
    if (!req || json_dump_buf(&body, req)) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    rc = post(c, &body, &reply, e);
    if (rc)
        goto out;
    struct ag_err pe = {0};
    if (parse_reply(&reply, &resp, &pe) || !json_is_object(resp)) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "RPC %s: reply is not a JSON-RPC object (%s)", method,
                     pe.msg[0] ? pe.msg : "not an object");
        goto out;
    }
    json_t *err = json_object_get(resp, "error");
    if (err && !json_is_null(err)) {
        take_error(c, err);
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "RPC %s failed: %s (code %ld)", method,
                     c->err.message, c->err.code);
        goto out;
    }
    json_t *res = json_object_get(resp, "result");
    if (!res) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "RPC %s: reply has no result", method);
        goto out;
    }
    *result = json_incref(res);
out:
    json_decref(req);
    json_decref(resp);
    buf_release(&body);
    buf_release(&reply);
    return rc;
}

int rpc_batch(struct rpc_client *c, struct rpc_req *reqs, size_t n, struct ag_err *e)
{
    struct buf body, reply;
    json_t *arr = json_array(), *resp = NULL, *item;
    uint64_t first = c->next_id;
    size_t i;
    int rc = 0;
    buf_init(&body, (size_t)64 << 20);
    buf_init(&reply, c->max_response);
    clear_err(c);
    if (n == 0 || n > RPC_MAX_BATCH) {
        rc = ag_errf(e, AG_EINVAL, NULL, "a batch holds 1 to %d requests", RPC_MAX_BATCH);
        goto out;
    }
    for (i = 0; i < n && arr; i++) {
        json_t *empty = reqs[i].params ? NULL : json_array();
        reqs[i].result = reqs[i].error = NULL;
        if (json_array_append_new(
                arr, make_req(c, reqs[i].method, reqs[i].params ? reqs[i].params : empty)))
            rc = AG_ENOMEM;
        json_decref(empty);
    }
    if (!arr || rc || json_dump_buf(&body, arr)) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    rc = post(c, &body, &reply, e);
    if (rc)
        goto out;
    if (parse_reply(&reply, &resp, NULL) || !json_is_array(resp)) {
        if (resp && json_is_object(json_object_get(resp, "error"))) {
            take_error(c, json_object_get(resp, "error"));
            rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "RPC batch refused: %s", c->err.message);
        } else {
            rc = ag_errf(e, AG_EBADJSON, NULL, "RPC batch: reply is not an array");
        }
        goto out;
    }
    json_array_foreach(resp, i, item)
    {
        json_t *id = json_object_get(item, "id");
        if (!json_is_integer(id))
            continue;
        uint64_t k = (uint64_t)json_integer_value(id) - first;
        if (k >= n || reqs[k].result || reqs[k].error)
            continue;
        json_t *err = json_object_get(item, "error");
        if (err && !json_is_null(err))
            reqs[k].error = json_incref(err);
        else if (json_object_get(item, "result"))
            reqs[k].result = json_incref(json_object_get(item, "result"));
    }
    for (i = 0; i < n; i++) {
        if (!reqs[i].result && !reqs[i].error) {
            reqs[i].error = json_pack("{s:i,s:s}", "code", -32603, "message",
                                      "no reply to this request in the batch");
        }
    }
out:
    json_decref(arr);
    json_decref(resp);
    buf_release(&body);
    buf_release(&reply);
    if (rc)
        rpc_req_release(reqs, n);
    return rc;
}

void rpc_req_release(struct rpc_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(reqs[i].result);
        json_decref(reqs[i].error);
        reqs[i].result = reqs[i].error = NULL;
    }
}

int rpc_quantity_u256(json_t *v, uint8_t out[32])
{
    const char *s = json_string_value(v);
    if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2] || strlen(s) > 66)
        return AG_EINVAL;
    return u256_parse(s, out);
}

int rpc_quantity_u64(json_t *v, uint64_t *out)
{
    uint8_t w[32];
    if (rpc_quantity_u256(v, w) || !u256_to_u64(w, out))
        return AG_EINVAL;
    return 0;
}

/* call_quantity() runs a method whose result is a QUANTITY. */
static int call_quantity(struct rpc_client *c, const char *method, json_t *params, uint8_t out[32],
                         struct ag_err *e)
{
    json_t *res = NULL;
    int rc = rpc_call(c, method, params, &res, e);
    if (!rc && rpc_quantity_u256(res, out))
        rc = ag_errf(e, AG_EBADJSON, NULL, "RPC %s: result is not a quantity", method);
    json_decref(res);
    return rc;
}

static int call_u64(struct rpc_client *c, const char *method, json_t *params, uint64_t *out,
                    struct ag_err *e)
{
    uint8_t w[32];
    int rc = call_quantity(c, method, params, w, e);
    if (!rc && !u256_to_u64(w, out))
        rc = ag_errf(e, AG_EBADJSON, NULL, "RPC %s: result exceeds 64 bits", method);
    return rc;
}

static json_t *addr_json(const uint8_t a[20])
{
    char s[ETH_ADDR_STR];
    addr_format(a, s);
    return json_string(s);
}

static json_t *hex_json(const void *p, size_t n)
{
    struct buf b;
    json_t *j = NULL;
    buf_init(&b, 2 * n + 3);
    if (!ethhex_encode(&b, p, n))
        j = json_stringn(b.p, b.n);
    buf_release(&b);
    return j;
}

static json_t *qty_json(const uint8_t v[32])
{
    char s[67];
    u256_to_quantity(v, s);
    return json_string(s);
}

static json_t *callmsg_json(const struct rpc_callmsg *m)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (m->from)
        json_object_set_new(o, "from", addr_json(m->from));
    if (m->to)
        json_object_set_new(o, "to", addr_json(m->to));
    if (m->value)
        json_object_set_new(o, "value", qty_json(m->value));
    if (m->data_len)
        json_object_set_new(o, "data", hex_json(m->data, m->data_len));
    return o;
}

int rpc_chain_id(struct rpc_client *c, uint64_t *out, struct ag_err *e)
{
    return call_u64(c, "eth_chainId", NULL, out, e);
}

int rpc_block_number(struct rpc_client *c, uint64_t *out, struct ag_err *e)
{
    return call_u64(c, "eth_blockNumber", NULL, out, e);
}

int rpc_get_balance(struct rpc_client *c, const uint8_t addr[20], uint8_t out[32], struct ag_err *e)
{
    json_t *p = json_pack("[o,s]", addr_json(addr), "latest");
    int rc = p ? call_quantity(c, "eth_getBalance", p, out, e) : AG_ENOMEM;
    json_decref(p);
    return rc;
}

int rpc_get_nonce(struct rpc_client *c, const uint8_t addr[20], const char *tag, uint64_t *out,
                  struct ag_err *e)
{
    json_t *p = json_pack("[o,s]", addr_json(addr), tag ? tag : "pending");
    int rc = p ? call_u64(c, "eth_getTransactionCount", p, out, e) : AG_ENOMEM;
    json_decref(p);
    return rc;
}

int rpc_estimate_gas(struct rpc_client *c, const struct rpc_callmsg *m, uint64_t *out,
                     struct ag_err *e)
{
    json_t *p = json_pack("[o]", callmsg_json(m));
    int rc = p ? call_u64(c, "eth_estimateGas", p, out, e) : AG_ENOMEM;
    json_decref(p);
    return rc;
}

int rpc_fee_history(struct rpc_client *c, unsigned blocks, double percentile, json_t **out,
                    struct ag_err *e)
{
    char nb[32];
    snprintf(nb, sizeof(nb), "0x%x", blocks);
    json_t *p = json_pack("[s,s,[f]]", nb, "latest", percentile);
    int rc = p ? rpc_call(c, "eth_feeHistory", p, out, e) : AG_ENOMEM;
    json_decref(p);
    return rc;
}

int rpc_max_priority_fee(struct rpc_client *c, uint8_t out[32], struct ag_err *e)
{
    json_t *hist = NULL, *rewards, *r;
    uint8_t vals[8][32], tmp[32];
    size_t i, nv = 0;
    int rc = call_quantity(c, "eth_maxPriorityFeePerGas", NULL, out, NULL);
    if (rc == 0)
        return 0;
    rc = rpc_fee_history(c, 5, 50.0, &hist, e);
    if (rc)
        return rc;
    rewards = json_object_get(hist, "reward");
    json_array_foreach(rewards, i, r)
    {
        if (nv < ARRAY_SIZE(vals) && rpc_quantity_u256(json_array_get(r, 0), vals[nv]) == 0)
            nv++;
    }
    json_decref(hist);
    if (nv == 0)
        return ag_errf(e, AG_EUNAVAILABLE, NULL, "node reports no priority fee");
    /* median by insertion sort */
    for (size_t a = 1; a < nv; a++)
        for (size_t b = a; b > 0 && u256_cmp(vals[b - 1], vals[b]) > 0; b--) {
            memcpy(tmp, vals[b], 32);
            memcpy(vals[b], vals[b - 1], 32);
            memcpy(vals[b - 1], tmp, 32);
        }
    memcpy(out, vals[nv / 2], 32);
    return 0;
}

int rpc_get_block(struct rpc_client *c, uint64_t number, bool full_tx, json_t **out,
                  struct ag_err *e)
{
    char tag[32];
    json_t *res = NULL;
    if (number == UINT64_MAX)
        str_copy(tag, "latest", sizeof(tag));
    else
        snprintf(tag, sizeof(tag), "0x%" PRIx64, number);
    json_t *p = json_pack("[s,b]", tag, full_tx);
    int rc = p ? rpc_call(c, "eth_getBlockByNumber", p, &res, e) : AG_ENOMEM;
    json_decref(p);
    if (!rc && !json_is_object(res)) {
        json_decref(res);
        return ag_errf(e, AG_ENOTFOUND, NULL, "block %s not found", tag);
    }
    if (!rc)
        *out = res;
    return rc;
}

int rpc_base_fee(struct rpc_client *c, uint8_t out[32], struct ag_err *e)
{
    json_t *blk = NULL;
    int rc = rpc_get_block(c, UINT64_MAX, false, &blk, e);
    if (rc)
        return rc;
    if (rpc_quantity_u256(json_object_get(blk, "baseFeePerGas"), out))
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "latest block has no baseFeePerGas (pre-London chain)");
    json_decref(blk);
    return rc;
}

int rpc_send_raw(struct rpc_client *c, const uint8_t *raw, size_t n, uint8_t hash[32],
                 struct ag_err *e)
{
    json_t *res = NULL;
    json_t *p = json_pack("[o]", hex_json(raw, n));
    int rc = p ? rpc_call(c, "eth_sendRawTransaction", p, &res, e) : AG_ENOMEM;
    json_decref(p);
    if (!rc && (!json_is_string(res) || ethhex_decode_fixed(json_string_value(res), hash, 32)))
        rc = ag_errf(e, AG_EBADJSON, NULL, "eth_sendRawTransaction: result is not a hash");
    json_decref(res);
    return rc;
}

int rpc_get_receipt(struct rpc_client *c, const uint8_t hash[32], json_t **out, struct ag_err *e)
{
    json_t *res = NULL;
    json_t *p = json_pack("[o]", hex_json(hash, 32));
    int rc = p ? rpc_call(c, "eth_getTransactionReceipt", p, &res, e) : AG_ENOMEM;
    json_decref(p);
    if (!rc && !json_is_object(res)) {
        json_decref(res);
        return AG_ENOTFOUND;
    }
    if (!rc)
        *out = res;
    return rc;
}

int rpc_wait_receipt(struct rpc_client *c, const uint8_t hash[32], long timeout_ms, long poll_ms,
                     json_t **out, struct ag_err *e)
{
    int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int rc = rpc_get_receipt(c, hash, out, e);
        if (rc != AG_ENOTFOUND)
            return rc;
        if (time_mono_us() >= deadline)
            return ag_errf(e, AG_ETIMEOUT, NULL, "transaction not mined within %ld ms", timeout_ms);
        usleep((useconds_t)(poll_ms > 0 ? poll_ms : 100) * 1000);
    }
}

int rpc_eth_call(struct rpc_client *c, const struct rpc_callmsg *m, const char *tag,
                 struct buf *out, struct ag_err *e)
{
    json_t *res = NULL;
    json_t *p = json_pack("[o,s]", callmsg_json(m), tag ? tag : "latest");
    int rc = p ? rpc_call(c, "eth_call", p, &res, e) : AG_ENOMEM;
    json_decref(p);
    if (!rc && (!json_is_string(res) || ethhex_decode(out, json_string_value(res))))
        rc = ag_errf(e, AG_EBADJSON, NULL, "eth_call: result is not hex data");
    json_decref(res);
    return rc;
}

int rpc_get_logs(struct rpc_client *c, json_t *filter, json_t **out, struct ag_err *e)
{
    json_t *res = NULL;
    json_t *p = json_pack("[O]", filter);
    int rc = p ? rpc_call(c, "eth_getLogs", p, &res, e) : AG_ENOMEM;
    json_decref(p);
    if (!rc && !json_is_array(res)) {
        json_decref(res);
        return ag_errf(e, AG_EBADJSON, NULL, "eth_getLogs: result is not an array");
    }
    if (!rc)
        *out = res;
    return rc;
}

int rpc_revert_reason(struct rpc_client *c, const struct abi_func *errors, size_t nerrors,
                      struct buf *out)
{
    struct buf data;
    int rc;
    if (!c->err.data || strncmp(c->err.data, "0x", 2))
        return AG_ENOTFOUND;
    buf_init(&data, ABI_MAX_ENCODED);
    rc = ethhex_decode(&data, c->err.data);
    if (!rc)
        rc = abi_revert_reason((const uint8_t *)data.p, data.n, errors, nerrors, out);
    else
        rc = AG_ENOTFOUND;
    buf_release(&data);
    return rc;
}
