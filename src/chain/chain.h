/* chain.h - the marketplace's chain: deployment manifests, deploying, and the event indexer.
 *
 * A deployment manifest (DATA_DIR/chain.json, written by `agora chain deploy`)
 * says which chain and which contracts the node follows. The indexer reads
 * their events with eth_getLogs in confirmed, bounded block ranges into the
 * store's chain index (store.h, "chain index"), remembering block hashes so
 * it can roll back a reorg, and resumes from the store's cursor.
 *
 * Ownership: a `struct chain_manifest` owns its strings and parsed events
 * (chain_manifest_release()). A `struct chain_indexer` is created by
 * chain_indexer_start() and freed by chain_indexer_stop(); its status is
 * safe to read from any thread.
 */
#ifndef AGORA_CHAIN_H
#define AGORA_CHAIN_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "eth/abi.h"
#include "eth/rpc.h"
#include "store/store.h"

#define CHAIN_MANIFEST_MAX  ((size_t)4 << 20)
#define CHAIN_MAX_CONTRACTS 4
#define CHAIN_MAX_EVENTS    128

/* The contracts the node follows, in this order. */
enum { CHAIN_TOKEN, CHAIN_REGISTRY, CHAIN_MARKETPLACE, CHAIN_NCONTRACTS };
extern const char *const chain_contract_names[CHAIN_NCONTRACTS];

struct chain_event_def {
    int contract; /* CHAIN_* */
    uint8_t topic[32];
    struct abi_func ev;
};

struct chain_manifest {
    uint64_t chain_id;
    uint64_t block; /* first deployment block */
    uint8_t addr[CHAIN_NCONTRACTS][20];
    char addr_hex[CHAIN_NCONTRACTS][43]; /* lowercase */
    struct chain_event_def *events;      /* every event of the three ABIs */
    size_t nevents;
    json_t *doc; /* the manifest as read */
};

/* chain_manifest_load() reads a manifest and the ABI files it names
 * (relative to its directory, or inline arrays). Returns 0, AG_ENOTFOUND
 * when the file does not exist, AG_EINVAL / AG_ETOOBIG / AG_EBADJSON with
 * the reason for a bad one. */
int chain_manifest_load(const char *path, struct chain_manifest *m, struct ag_err *e);
void chain_manifest_release(struct chain_manifest *m);

/* ---- Deploying (deploy.c) ----
 *
 * chain_deploy() deploys AgoraToken, ModelRegistry, an optional
 * ArbitrationPanel and the Marketplace from the compiled artifacts
 * (contracts/build.mjs writes <Name>.json with "abi" and "bytecode"), wires
 * them exactly as contracts/deploy.mjs does, waits for every receipt, reads
 * the wiring back with eth_call and writes the manifest: OUT (chainId,
 * block, deployer, deployedAt, contracts {Name: {address, abi, txHash,
 * block}}, params, roles) and <dir of OUT>/abi/<Name>.json, each through a
 * temporary file and a rename. The same bytecode runs on anvil and Ganache
 * (EVM target Shanghai, docs/contracts.md).
 *
 * Transactions are signed here (src/eth wallet) with `key`; without one, on
 * a development chain (ids 31337 and 1337) they are sent from the node's
 * first unlocked account (eth_accounts, eth_sendTransaction).
 *
 * Ownership: the options are borrowed; *manifest is a new reference.
 */
#define CHAIN_ARTIFACT_MAX    ((size_t)8 << 20) /* one build.mjs artifact file */
#define CHAIN_MAX_FEE_BPS     1000u             /* the Marketplace's MAX_FEE_BPS */
#define CHAIN_MAX_ROYALTY_BPS 1000u             /* MAX_ROYALTY_BPS */
#define CHAIN_MAX_DISPUTE_WIN (30u * 86400u)    /* MAX_DISPUTE_WINDOW, seconds */

enum chain_faucet { CHAIN_FAUCET_AUTO, CHAIN_FAUCET_ON, CHAIN_FAUCET_OFF };

struct chain_deploy_opts {
    const char *rpc;            /* JSON-RPC URL */
    const uint8_t *key;         /* 32-byte deployer key; NULL: the node's unlocked account */
    const char *artifacts;      /* build.mjs output directory */
    const char *out;            /* manifest path */
    unsigned fee_bps;           /* platform fee, default 250 */
    unsigned royalty_bps;       /* total royalty to parent owners, default 500 */
    uint64_t dispute_window;    /* escrow and dispute window in seconds, default 259200 */
    const char *initial_supply; /* AGR minted to the deployer, up to 18 decimals; "1000000" */
    enum chain_faucet faucet;   /* AUTO: on for chain ids 31337 and 1337 */
    const char *treasury;       /* fee recipient; NULL: the deployer */
    const char *pricing_signer; /* quote signer; NULL: the deployer */
    const char *arbitrator;     /* address, or "panel" for a new ArbitrationPanel; NULL: deployer */
    const char *governance;     /* starts a governance transfer to it; NULL: none */
    long timeout_ms;            /* per-transaction receipt timeout, default 120000 */
    FILE *progress;             /* when set, one line per transaction */
};

/* chain_deploy_opts_init() fills in the defaults above (all pointers NULL). */
void chain_deploy_opts_init(struct chain_deploy_opts *o);

/* chain_deploy() deploys and writes the manifest (see above); *manifest
 * (may be NULL) receives it as written. Returns 0; AG_EINVAL for a bad
 * option (checked before anything is sent: caps, addresses, a faucet on a
 * non-development chain, no key and no unlocked account), AG_ENOTFOUND /
 * AG_EINVAL for a missing or malformed artifact, AG_EUNPROCESSABLE when a
 * transaction reverts (the custom error is named: "Marketplace: deployment
 * reverted: ZeroAddress()"), AG_EUNAVAILABLE / AG_ETIMEOUT for the node,
 * AG_EIO when the manifest cannot be written. Nothing is written on failure. */
int chain_deploy(const struct chain_deploy_opts *o, json_t **manifest, struct ag_err *e);

/* chain_build_artifacts() runs `node CONTRACTS_DIR/build.mjs --out OUT --quiet`
 * (node from PATH when `node` is NULL), which compiles only when the sources
 * changed. Returns 0, AG_EINVAL without build.mjs, AG_EIO when node cannot
 * be run, AG_EUNPROCESSABLE when compilation fails (solc's messages are on
 * stderr). */
int chain_build_artifacts(const char *node, const char *contracts_dir, const char *out,
                          struct ag_err *e);

/* chain_licence_onchain() asks the chain itself (eth_call at "latest", for
 * when the index lags) whether any of the `n` addresses ("0x" hex) holds a
 * licence for the model registered under slug_hash: ModelRegistry
 * .modelIdBySlug, then Marketplace.hasLicense. *has is false for a model not
 * registered. Returns 0 or the RPC error (3 s timeout, no retries). */
int chain_licence_onchain(const char *rpc_url, const struct chain_manifest *m,
                          const char *slug_hash, const char *const *addrs, size_t n, bool *has,
                          struct ag_err *e);

/* chain_slug_hash() writes "0x" + hex of keccak256("owner/slug"). */
void chain_slug_hash(const char *owner, const char *slug, char out[67]);

/* chain_call() runs eth_call at "latest" of `sig` ("name(types) returns
 * (types)") with `args` (a JSON array, consumed) on contract `to`, and
 * stores the decoded outputs (a new JSON array) in *out. Returns 0, the
 * RPC error, AG_EUNPROCESSABLE for a revert (revert data in c->err), or
 * AG_EINVAL / AG_EBADJSON for a bad signature or an undecodable answer. */
int chain_call(struct rpc_client *c, const uint8_t to[20], const char *sig, json_t *args,
               json_t **out, struct ag_err *e);

/* ---- Signed price quotes (quote.c) ----
 *
 * The Marketplace sells a licence at a price its pricing signer quoted:
 * buyWithQuote / buyWithQuotePermit take a `Quote(uint256 modelId, address
 * buyer, uint256 price, uint256 expiry, uint256 nonce)` and an EIP-712
 * signature over it, in the domain the contract reports through ERC-5267
 * eip712Domain() (OpenZeppelin's EIP712: "AgoraMarketplace", "1", the chain
 * id, the Marketplace's address). A node holding the pricing signer's key
 * issues quotes with chain_pricer_quote(). Each nonce is 256 random bits:
 * the contract redeems a nonce once.
 *
 * Ownership: a `struct chain_pricer` copies the key and wipes it in
 * chain_pricer_release(); it borrows the manifest and the RPC URL, which
 * must outlive it. chain_pricer_quote() may run on several threads at once
 * (each call opens its own RPC client; the domain, read once, is cached
 * under a lock).
 */
#define CHAIN_QUOTE_TTL_DEFAULT 300u /* seconds a quote stays valid */
#define CHAIN_QUOTE_TTL_MAX     86400u

struct chain_quote {
    char model_id[80]; /* decimal */
    uint8_t buyer[20]; /* all zero: anyone (the contract allows it; this node never issues one) */
    char price[80];    /* decimal, token wei */
    uint64_t expiry;   /* seconds since the epoch; the contract refuses block.timestamp > expiry */
    uint8_t nonce[32]; /* big-endian uint256 */
};

struct chain_domain {
    char name[64];
    char version[32];
    uint64_t chain_id;
    uint8_t contract[20];
};

/* chain_quote_typed_data() returns the quote as an eth_signTypedData_v4
 * document (types, primaryType "Quote", domain, message; integers as
 * decimal strings), or NULL when out of memory. */
json_t *chain_quote_typed_data(const struct chain_domain *d, const struct chain_quote *q);
/* chain_quote_digest() computes the EIP-712 digest the pricing signer signs,
 * the value the contract's quoteDigest(quote) returns. Returns 0 or AG_EINVAL. */
int chain_quote_digest(const struct chain_domain *d, const struct chain_quote *q,
                       uint8_t digest[32], struct ag_err *e);
/* chain_quote_json() returns {modelId, buyer, price, expiry, nonce} as the
 * contract's Quote tuple takes it (decimal strings, expiry an integer,
 * buyer checksummed), or NULL when out of memory. */
json_t *chain_quote_json(const struct chain_quote *q);
/* chain_quote_parse() reads chain_quote_json()'s shape back (also integers
 * given as JSON numbers or "0x" hex). Returns 0 or AG_EINVAL naming the field. */
int chain_quote_parse(json_t *v, struct chain_quote *q, struct ag_err *e);

struct chain_pricer {
    const char *rpc_url;
    const struct chain_manifest *manifest;
    uint8_t key[32];
    uint8_t signer[20];
    unsigned ttl;        /* seconds; 0 = CHAIN_QUOTE_TTL_DEFAULT */
    long rpc_timeout_ms; /* 0 = 5000 */
    pthread_mutex_t lock;
    bool have_domain;
    struct chain_domain domain;
};

/* chain_pricer_init() keeps a copy of the signing key. Returns 0 or
 * AG_EINVAL for an invalid key or a ttl above CHAIN_QUOTE_TTL_MAX. */
int chain_pricer_init(struct chain_pricer *p, const char *rpc_url, const struct chain_manifest *m,
                      const uint8_t key[32], unsigned ttl, struct ag_err *e);
void chain_pricer_release(struct chain_pricer *p);

/* chain_quote_price() is where a quote's price comes from: today, the
 * owner's list price on chain (Marketplace.priceOf), "0" when the model is
 * not for sale. Dynamic pricing replaces this one function later (it gets
 * the buyer and the version for that). Returns 0 or the RPC error. */
int chain_quote_price(struct rpc_client *c, const struct chain_manifest *m, const char *model_id,
                      const uint8_t buyer[20], const char *version, char price[80],
                      struct ag_err *e);

/* chain_pricer_quote() quotes OWNER/SLUG (optionally a VERSION, which must
 * be on chain) to `buyer` and signs it: *out = {quote: {...}, signature
 * (65 bytes hex), digest, marketplace, chainId, signer, model, version}.
 * Returns 0; AG_ECONFLICT when the model is not registered on chain or not
 * for sale; AG_ENOTFOUND for a version not on chain; AG_EUNAVAILABLE when
 * the chain node cannot be reached or this key is not the Marketplace's
 * pricing signer (any quote would be refused: e->field is then
 * "pricing-key", and the message names only public addresses);
 * AG_EBADJSON for an answer that cannot be read. */
int chain_pricer_quote(struct chain_pricer *p, const char *owner, const char *slug,
                       const uint8_t buyer[20], const char *version, json_t **out,
                       struct ag_err *e);

struct chain_indexer_config {
    const char *rpc;                       /* JSON-RPC URL */
    const struct chain_manifest *manifest; /* borrowed; must outlive the indexer */
    struct store *store;
    unsigned confirmations; /* blocks behind the head considered final; default 0 */
    unsigned max_range;     /* most blocks per eth_getLogs; 0 = 2000 */
    unsigned poll_ms;       /* 0 = 1000 */
    unsigned reorg_depth;   /* most stored blocks compared on a reorg; 0 = 256 */
    long rpc_timeout_ms;    /* 0 = 10000 */
};

struct chain_status {
    char status[16]; /* "ok", "syncing", "error", "standby" (another node holds the lease) */
    uint64_t chain_id;
    uint64_t head;   /* last head seen */
    int64_t indexed; /* last indexed block, -1 before any */
    uint64_t lag;
    uint64_t reorgs; /* rollbacks done since start */
    uint64_t events; /* events inserted since start */
    char error[256]; /* last error, "" when none */
};

struct chain_indexer;

/* chain_indexer_step() runs one round on the calling thread: reorg check,
 * then at most one range of logs. *caught_up is true when nothing is left
 * below the confirmed head. Used by the thread and by tests. Returns 0 or
 * the RPC / store error (also in the status). */
int chain_indexer_step(struct chain_indexer *ix, bool *caught_up, struct ag_err *e);
/* chain_indexer_new() prepares an indexer without a thread. */
int chain_indexer_new(const struct chain_indexer_config *cfg, struct chain_indexer **out,
                      struct ag_err *e);
/* chain_indexer_start() creates an indexer and its thread. */
int chain_indexer_start(const struct chain_indexer_config *cfg, struct chain_indexer **out,
                        struct ag_err *e);
/* chain_indexer_stop() stops the thread (if any), waits for it, frees. Safe on NULL. */
void chain_indexer_stop(struct chain_indexer *ix);
/* chain_indexer_poke() starts the next round now rather than after the poll
 * interval, unless a round started less than CHAIN_POKE_MIN_MS ago (so
 * pokes cost the RPC node at most a few rounds a second, on the indexer's
 * thread). For a refused download whose purchase may be in a block the
 * indexer has not seen yet. Safe on NULL and on an indexer without thread. */
#define CHAIN_POKE_MIN_MS 250
void chain_indexer_poke(struct chain_indexer *ix);
void chain_indexer_status(struct chain_indexer *ix, struct chain_status *out);
/* chain_status_json() gives {status, chain_id, head, indexed_block, lag, reorgs, error}. */
json_t *chain_status_json(const struct chain_status *st);

#endif
