/* tx.h - Ethereum transactions: EIP-1559 (type 2) and legacy EIP-155.
 *
 * `struct eth_tx` borrows `data` and `access`: the caller keeps them alive
 * while the transaction is encoded. Amounts are 32-byte big-endian (u256.h).
 * Serialization follows EIP-2718: a type 2 transaction is 0x02 || rlp(...),
 * a legacy one is bare rlp(...).
 */
#ifndef AGORA_ETH_TX_H
#define AGORA_ETH_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "eth/secp.h"

enum { TX_LEGACY = 0, TX_EIP1559 = 2 };

/* Chain ids above this are refused (EIP-155's v must stay in 64 bits). */
#define TX_MAX_CHAIN_ID ((uint64_t)1 << 53)
#define TX_MAX_RAW      ((size_t)1 << 20)

struct eth_access {
    uint8_t address[20];
    const uint8_t (*keys)[32];
    size_t nkeys;
};

struct eth_tx {
    int type; /* TX_EIP1559 or TX_LEGACY */
    uint64_t chain_id;
    uint64_t nonce;
    uint64_t gas_limit;
    uint8_t max_priority_fee[32]; /* type 2 */
    uint8_t max_fee[32];          /* type 2 */
    uint8_t gas_price[32];        /* legacy */
    bool has_to;                  /* false: contract creation */
    uint8_t to[20];
    uint8_t value[32];
    const uint8_t *data;
    size_t data_len;
    const struct eth_access *access; /* type 2 only */
    size_t naccess;
};

/* tx_signing_hash() computes the digest a sender signs. Returns 0,
 * AG_EINVAL for an unknown type, a chain id out of range or a priority fee
 * above the max fee, or AG_ENOMEM. */
int tx_signing_hash(const struct eth_tx *tx, uint8_t out[32]);
/* tx_encode_signed() appends the signed serialization to `raw`. */
int tx_encode_signed(const struct eth_tx *tx, const struct eth_sig *sig, struct buf *raw);
/* tx_sign() signs `tx` with `priv` and appends the raw signed bytes to `raw`;
 * if `hash` is not NULL it receives the transaction hash (keccak of raw). */
int tx_sign(const struct eth_tx *tx, const uint8_t priv[32], struct buf *raw, uint8_t hash[32],
            struct ag_err *e);

/* A decoded signed transaction: `tx` points into the raw bytes (and into
 * `access_store`, which tx_decoded_release() frees). */
struct eth_tx_decoded {
    struct eth_tx tx;
    struct eth_sig sig;
    uint8_t from[20]; /* recovered sender */
    uint8_t hash[32]; /* transaction hash */
    struct eth_access *access_store;
};

/* tx_decode() parses a signed type 2 or EIP-155 legacy transaction, checks
 * canonical RLP, and recovers the sender. Returns 0 or AG_EINVAL with the
 * reason in `e`. */
int tx_decode(const uint8_t *raw, size_t n, struct eth_tx_decoded *out, struct ag_err *e);
void tx_decoded_release(struct eth_tx_decoded *d);

#endif
