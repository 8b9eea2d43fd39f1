/* wallet.h - a signing account bound to a node: nonces, gas, fees, send and wait.
 *
 * A `struct wallet` copies the private key and wipes it in wallet_release().
 * It borrows the `struct rpc_client`, which must outlive it. Nonces are
 * fetched ("pending") on first use and then counted locally, so several
 * transactions can be sent without waiting; when the node says the nonce is
 * too low (or already known) the wallet resynchronizes once and retries.
 * Gas is estimated by the node and raised by `gas_margin_pct` percent;
 * fees come from the node: maxPriorityFee = eth_maxPriorityFeePerGas,
 * maxFee = 2 * latest baseFee + maxPriorityFee (legacy gas price on
 * pre-London chains).
 */
#ifndef AGORA_ETH_WALLET_H
#define AGORA_ETH_WALLET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "eth/rpc.h"

struct wallet {
    struct rpc_client *rpc;
    uint8_t key[32];
    uint8_t address[20];
    uint64_t chain_id;
    bool have_nonce;
    uint64_t next_nonce;
    unsigned gas_margin_pct; /* default 20 */
    long receipt_timeout_ms; /* default 120000 */
    long poll_ms;            /* default 200 */
};

struct wallet_tx {
    const uint8_t *to;    /* 20 bytes, NULL to create a contract */
    const uint8_t *value; /* 32 bytes or NULL for zero */
    const uint8_t *data;
    size_t data_len;
    uint64_t gas_limit; /* 0: estimate */
};

/* wallet_init() derives the address and asks the node's chain id. Returns
 * 0, AG_EINVAL for a bad key, or an RPC error. */
int wallet_init(struct wallet *w, struct rpc_client *rpc, const uint8_t key[32], struct ag_err *e);
void wallet_release(struct wallet *w);
/* wallet_send() fills in nonce, gas and fees, signs and sends; writes the
 * transaction hash. A revert found while estimating gas is AG_EUNPROCESSABLE
 * with the decoded reason in `e` (custom errors from `errors`, may be NULL). */
int wallet_send(struct wallet *w, const struct wallet_tx *t, const struct abi_func *errors,
                size_t nerrors, uint8_t hash[32], struct ag_err *e);
/* wallet_send_wait() sends, then waits for the receipt (new reference in
 * *receipt). A mined transaction that failed (status 0) is AG_EUNPROCESSABLE,
 * with the receipt still returned. */
int wallet_send_wait(struct wallet *w, const struct wallet_tx *t, const struct abi_func *errors,
                     size_t nerrors, json_t **receipt, struct ag_err *e);

#endif
