/* chain.h - the marketplace's chain: deployment manifests, deploying, and the event indexer.
 *
 * A deployment manifest (DATA_DIR/chain.json, written by contracts/deploy.mjs)
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
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "eth/abi.h"
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

struct chain_deploy_opts {
    const char *rpc;           /* JSON-RPC URL */
    const char *key_file;      /* file holding the deployer's hex private key */
    const char *contracts_dir; /* the contracts/ source directory (deploy.mjs) */
    const char *artifacts;     /* build.mjs output; built into DATA_DIR when NULL */
    const char *out;           /* manifest path */
    const char *node;          /* node binary; "node" from PATH when NULL */
};

/* chain_deploy() runs contracts/deploy.mjs with node (posix_spawn; the
 * compiled artifacts are built first with build.mjs when absent) and checks
 * the manifest it wrote loads. Returns 0, AG_EINVAL for missing options,
 * AG_EIO when node cannot be run, or AG_EUNPROCESSABLE when deployment
 * failed (its message is on stderr). */
int chain_deploy(const struct chain_deploy_opts *o, struct ag_err *e);

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
void chain_indexer_status(struct chain_indexer *ix, struct chain_status *out);
/* chain_status_json() gives {status, chain_id, head, indexed_block, lag, reorgs, error}. */
json_t *chain_status_json(const struct chain_status *st);

#endif
