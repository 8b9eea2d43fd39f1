/* rpc.h - a JSON-RPC 2.0 client for Ethereum nodes, over libcurl.
 *
 * One `struct rpc_client` per thread (it owns a curl handle, reused so the
 * connection stays alive). Calls time out after `timeout_ms`; connection
 * failures, HTTP 5xx and 429 are retried up to `retries` times with
 * exponential backoff starting at `backoff_ms`. Replies larger than
 * `max_response` bytes fail with AG_ETOOBIG.
 *
 * Errors: AG_EUNAVAILABLE (node unreachable after retries, or HTTP error),
 * AG_ETIMEOUT, AG_ETOOBIG, AG_EBADJSON (reply is not JSON-RPC), and
 * AG_EUNPROCESSABLE when the node answered with a JSON-RPC error object:
 * its code, message and data (revert data, as the node sent it) are then in
 * `c->err` until the next call.
 *
 * Ownership: params are borrowed; results are new references the caller
 * must json_decref().
 */
#ifndef AGORA_ETH_RPC_H
#define AGORA_ETH_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "eth/abi.h"

#define RPC_MAX_RESPONSE_DEFAULT ((size_t)32 << 20)
#define RPC_MAX_BATCH            1000

struct rpc_error {
    long code;
    char message[512];
    char *data; /* "0x.." revert data or compact JSON; NULL if none */
};

struct rpc_client {
    char *url;
    long timeout_ms;         /* default 30000 */
    long connect_timeout_ms; /* default 5000 */
    int retries;             /* default 3 */
    long backoff_ms;         /* default 100 */
    size_t max_response;     /* default RPC_MAX_RESPONSE_DEFAULT */
    uint64_t next_id;
    struct rpc_error err; /* last JSON-RPC error */
    void *curl;
};

/* rpc_init() prepares a client for `url` (http or https). Returns 0,
 * AG_EINVAL for a bad URL or AG_ENOMEM. */
int rpc_init(struct rpc_client *c, const char *url, struct ag_err *e);
void rpc_release(struct rpc_client *c);

/* rpc_call() sends one request; on success *result is a new reference to
 * the "result" member (JSON null included). */
int rpc_call(struct rpc_client *c, const char *method, json_t *params, json_t **result,
             struct ag_err *e);

struct rpc_req {
    const char *method;
    json_t *params; /* borrowed */
    json_t *result; /* out: new reference, or NULL */
    json_t *error;  /* out: the error object (new reference), or NULL */
};

/* rpc_batch() sends `n` requests as one JSON-RPC batch and matches replies
 * by id. Returns 0 when the batch itself succeeded (each request then has
 * a result or an error), or a transport error as rpc_call(). */
int rpc_batch(struct rpc_client *c, struct rpc_req *reqs, size_t n, struct ag_err *e);
void rpc_req_release(struct rpc_req *reqs, size_t n);

/* Hex QUANTITY helpers: parse "0x1a" as u64 / u256. Return 0 or AG_EINVAL. */
int rpc_quantity_u64(json_t *v, uint64_t *out);
int rpc_quantity_u256(json_t *v, uint8_t out[32]);

/* A call or transaction description for eth_call / eth_estimateGas. */
struct rpc_callmsg {
    const uint8_t *from;  /* 20 bytes or NULL */
    const uint8_t *to;    /* 20 bytes or NULL (contract creation) */
    const uint8_t *value; /* 32 bytes or NULL */
    const uint8_t *data;
    size_t data_len;
};

int rpc_chain_id(struct rpc_client *c, uint64_t *out, struct ag_err *e);
int rpc_block_number(struct rpc_client *c, uint64_t *out, struct ag_err *e);
int rpc_get_balance(struct rpc_client *c, const uint8_t addr[20], uint8_t out[32],
                    struct ag_err *e);
/* rpc_get_nonce() asks eth_getTransactionCount at `tag` ("pending", "latest"). */
int rpc_get_nonce(struct rpc_client *c, const uint8_t addr[20], const char *tag, uint64_t *out,
                  struct ag_err *e);
int rpc_estimate_gas(struct rpc_client *c, const struct rpc_callmsg *m, uint64_t *out,
                     struct ag_err *e);
/* rpc_max_priority_fee() asks eth_maxPriorityFeePerGas, falling back to the
 * median reward of eth_feeHistory over the last 5 blocks. */
int rpc_max_priority_fee(struct rpc_client *c, uint8_t out[32], struct ag_err *e);
/* rpc_fee_history() returns the raw eth_feeHistory result. */
int rpc_fee_history(struct rpc_client *c, unsigned blocks, double percentile, json_t **out,
                    struct ag_err *e);
/* rpc_base_fee() reads baseFeePerGas of the latest block (AG_ENOTFOUND on
 * a pre-London chain). */
int rpc_base_fee(struct rpc_client *c, uint8_t out[32], struct ag_err *e);
/* rpc_get_block() fetches a block by number, or by tag when number is
 * UINT64_MAX ("latest"). AG_ENOTFOUND if the node has no such block. */
int rpc_get_block(struct rpc_client *c, uint64_t number, bool full_tx, json_t **out,
                  struct ag_err *e);
int rpc_send_raw(struct rpc_client *c, const uint8_t *raw, size_t n, uint8_t hash[32],
                 struct ag_err *e);
/* rpc_get_receipt() returns AG_ENOTFOUND while the transaction is pending. */
int rpc_get_receipt(struct rpc_client *c, const uint8_t hash[32], json_t **out, struct ag_err *e);
/* rpc_wait_receipt() polls every poll_ms until mined, or AG_ETIMEOUT. */
int rpc_wait_receipt(struct rpc_client *c, const uint8_t hash[32], long timeout_ms, long poll_ms,
                     json_t **out, struct ag_err *e);
/* rpc_eth_call() runs eth_call at `tag` and appends the returned bytes to
 * `out`. A revert is AG_EUNPROCESSABLE with the revert data in c->err. */
int rpc_eth_call(struct rpc_client *c, const struct rpc_callmsg *m, const char *tag,
                 struct buf *out, struct ag_err *e);
/* rpc_get_logs() runs eth_getLogs with `filter` (borrowed). */
int rpc_get_logs(struct rpc_client *c, json_t *filter, json_t **out, struct ag_err *e);

/* rpc_revert_reason() explains the last error's revert data (see
 * abi_revert_reason()); AG_ENOTFOUND if the last error carried none. */
int rpc_revert_reason(struct rpc_client *c, const struct abi_func *errors, size_t nerrors,
                      struct buf *out);

#endif
