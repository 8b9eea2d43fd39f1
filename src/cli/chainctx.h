/* chainctx.h - what the chain client commands share: the RPC node, the contracts, the wallet.
 *
 * `agora faucet|publish|buy|licenses|provenance|dispute|withdraw`
 * (cmd_market_chain.c) each open a `struct chainctx`: the JSON-RPC endpoint
 * (--rpc, AGORA_CHAIN_RPC, AGORA_ETH_RPC, else http://127.0.0.1:8545), the
 * contract addresses (--chain-manifest FILE, else the node's
 * GET /api/v1/chain), checked against the RPC node's chain id, and, when a
 * command signs, a key decrypted from a keystore (chosen as `agora wallet`
 * chooses: --keystore-dir / AGORA_KEYSTORE_DIR / ~/.config/agora/keystore,
 * --from ADDRESS when several; passphrase from --passphrase-file,
 * AGORA_PASSPHRASE or a prompt).
 *
 * Errors are printed once, as "agora CMD: message", and functions return 0
 * or EXIT_ERR / EXIT_USAGE, like client.h. Revert data is decoded against
 * every custom error the contracts (and OpenZeppelin underneath) declare.
 *
 * Ownership: the context owns its RPC client, node connection and key;
 * chainctx_close() wipes the key and frees everything (also after a failed
 * open). JSON results are new references the caller json_decref()s.
 */
#ifndef AGORA_CLI_CHAINCTX_H
#define AGORA_CLI_CHAINCTX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/client.h"
#include "eth/abi.h"
#include "eth/rpc.h"
#include "eth/wallet.h"

#define CHAIN_DEFAULT_RPC "http://127.0.0.1:8545"
#define CHAINCTX_LOG_SPAN 50000 /* blocks per eth_getLogs before halving */

/* The options every chain command takes, in this order, at the start of its
 * table (CHAINCTX_NOPTS of them). */
enum { CO_RPC, CO_MANIFEST, CO_KEYSTORE, CO_FROM, CO_PASSFILE, CO_JSON, CHAINCTX_NOPTS };
#define CHAINCTX_OPTS                                                                              \
    CLI_OPT("rpc", CLI_VALUE), CLI_OPT("chain-manifest", CLI_VALUE),                               \
        CLI_OPT("keystore-dir", CLI_VALUE), CLI_OPT("from", CLI_VALUE),                            \
        CLI_OPT("passphrase-file", CLI_VALUE), CLI_OPT("json", CLI_FLAG)

enum { CC_TOKEN, CC_REGISTRY, CC_MARKET };

struct chainctx {
    const char *cmd;
    const struct cli_opt *opts; /* the command's table, CHAINCTX_OPTS first */
    struct client node;
    bool node_open;
    char rpc_url[1024];
    struct rpc_client rpc;
    bool rpc_open;
    uint64_t chain_id;
    uint64_t deploy_block;
    uint8_t addr[3][20];
    struct abi_func *errors;
    size_t nerrors;
    bool have_key;
    uint8_t me[20]; /* the wallet's address (have_key or have_address) */
    bool have_address;
    struct wallet w;
};

/* chainctx_open() connects to the node (`node_opt`), resolves the RPC URL
 * and the contracts, and checks the chain id. Returns 0 or EXIT_ERR. */
int chainctx_open(struct chainctx *cc, const char *cmd, const struct cli_opt *opts,
                  const char *node_opt);
void chainctx_close(struct chainctx *cc);

/* chainctx_address() finds the wallet's address without decrypting (the
 * keystore's "address"), for read-only commands. Returns 0 or EXIT_ERR. */
int chainctx_address(struct chainctx *cc);
/* chainctx_unlock() decrypts the wallet's key and prepares signing.
 * Returns 0 or EXIT_ERR. */
int chainctx_unlock(struct chainctx *cc);

/* chainctx_call() runs eth_call of `sig` ("name(types) returns (types)")
 * on contract `to` with `args` (a JSON array, consumed) and stores the
 * decoded outputs (a JSON array) in *out. A revert is EXIT_ERR with the
 * decoded reason printed, unless `quiet_revert`, in which case it returns
 * AG_EUNPROCESSABLE silently (for probes such as versionIndexOf). */
int chainctx_call(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                  json_t **out, bool quiet_revert);
/* chainctx_call_str() is chainctx_call() for a single decoded output,
 * copied as a string (decimal integers, hex bytes, checksummed addresses). */
int chainctx_call_str(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                      char *out, size_t size);

/* chainctx_send() signs and sends a transaction calling `sig` with `args`
 * (consumed), waits for its receipt and stores it in *receipt (may be
 * NULL). Prints "what: tx HASH (block N)" to stderr. Reverts (at estimate
 * or mined), too little ETH for gas and a dead RPC node are explained.
 * Returns 0 or EXIT_ERR. */
int chainctx_send(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                  const char *what, json_t **receipt);

/* chainctx_event() finds the first log of `event` (a human-readable event
 * signature) emitted by `from` in `receipt` and returns its decoded
 * arguments (a JSON array) in *out. Returns 0 or AG_ENOTFOUND. */
int chainctx_event(json_t *receipt, const uint8_t from[20], const char *event, json_t **out);

/* chainctx_logs() collects every log of `event` emitted by `from` since the
 * deployment block whose indexed topics match `topics` (up to 3 entries
 * after the event topic, NULL = any), decoded, each as {"args": [...],
 * "block": N, "tx": "0x.."}, into the new array *out. Ranges shrink on RPC
 * errors. Returns 0 or EXIT_ERR. */
int chainctx_logs(struct chainctx *cc, const uint8_t from[20], const char *event,
                  const char *const topics[3], json_t **out);

/* chainctx_head_time() reads the latest block's timestamp. Returns 0 or EXIT_ERR. */
int chainctx_head_time(struct chainctx *cc, uint64_t *ts);

/* chainctx_rpc_fail() prints the last RPC failure `e` with a hint for a
 * dead node. Returns EXIT_ERR. */
int chainctx_rpc_fail(struct chainctx *cc, const struct ag_err *e);

/* chainctx_addr_hex() writes the lowercase "0x" form of a 20-byte address. */
void chainctx_addr_hex(const uint8_t a[20], char out[43]);
/* chainctx_amount() parses an amount in the token's smallest unit ("5000")
 * or in tokens with an AGR suffix ("5AGR", "1.5 AGR") into a decimal
 * string of smallest units. Returns 0 or AG_EINVAL. */
int chainctx_amount(const char *s, char out[80]);
/* chainctx_tokens() renders a decimal amount of smallest units as tokens ("1.5"). */
void chainctx_tokens(const char *wei, char *out, size_t size);
/* chainctx_model_id() resolves OWNER/SLUG to its token id on the chain
 * (ModelRegistry.modelIdBySlug); "0" when not registered. Returns 0 or EXIT_ERR. */
int chainctx_model_id(struct chainctx *cc, const char *owner, const char *slug, char id[80]);

/* What a version records on chain, derived from the node's version document
 * by chainctx_content(): the listing is one line "sha256 size cid name\n"
 * per file, sorted by name; metadataHash is the sha256 of the listing; with
 * one file, contentCID and sha256Hash are the file's, with several the raw
 * CIDv1 (sha2-256) of the listing and its sha256. `files` is a new array of
 * {name, size, sha256, cid} the caller json_decref()s. */
struct chain_content {
    char cid[160];
    char sha256[67];    /* "0x" + 64 hex */
    char meta_hash[67]; /* "0x" + 64 hex */
    size_t nfiles;
    json_t *files;
};

/* chainctx_content() returns 0, or prints why (no files, a file without
 * content yet) and returns EXIT_ERR. */
int chainctx_content(const char *cmd, json_t *version, struct chain_content *c);

/* chainctx_pretty_reason() rewrites a decoded custom error
 * "Name[\"1\",\"0xab\"]" as "Name(1, 0xab)"; other text is copied as is. */
void chainctx_pretty_reason(const char *in, char *out, size_t size);

/* The commands (cmd_market_chain.c) and their usage texts, for cli.c's table. */
int cmd_faucet(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_buy(int argc, char **argv);
int cmd_licenses(int argc, char **argv);
int cmd_provenance(int argc, char **argv);
int cmd_dispute(int argc, char **argv);
int cmd_withdraw(int argc, char **argv);
extern const char cmd_faucet_usage[], cmd_publish_usage[], cmd_buy_usage[], cmd_licenses_usage[],
    cmd_provenance_usage[], cmd_dispute_usage[], cmd_withdraw_usage[];

#endif
