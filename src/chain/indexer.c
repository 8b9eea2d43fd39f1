/* indexer.c - follows the marketplace contracts' events into the store, surviving reorgs and
 * restarts.
 *
 * One round (chain_indexer_step):
 *   1. take or renew the lease (only one node indexes a database at a time);
 *   2. read the head; the confirmed head is head - confirmations;
 *   3. reorg check: the newest stored block hash must still be the chain's;
 *      if not, walk the stored hashes down to the newest one the chain still
 *      has and roll everything above it back (no match: back to the start);
 *   4. fetch logs for [next, min(next + range - 1, confirmed)] with the
 *      range's last block hash read before and after (a change means a reorg
 *      raced us: retry), halving the range on RPC errors ("too many
 *      results", timeouts) and growing it back on success;
 *   5. store the events, the hashes and the new cursor in one transaction.
 * Events are unique by (tx_hash, log_index), so a range indexed twice (a
 * crash between the RPC and the commit, two nodes) never duplicates.
 */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/rpc.h"

#include <pthread.h>
#include <time.h>

#define LEASE_TTL 30

struct chain_indexer {
    struct chain_indexer_config cfg;
    struct rpc_client rpc;
    char lease_id[33];
    unsigned range; /* current eth_getLogs range */
    pthread_t thread;
    bool started, stop;
    bool poked;          /* a round was asked for (chain_indexer_poke()); under lock */
    int64_t round_at_us; /* time_mono_us() when the last round started; under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct chain_status st; /* under lock */
};

static void set_status(struct chain_indexer *ix, const char *status, const char *err)
{
    pthread_mutex_lock(&ix->lock);
    str_copy(ix->st.status, status, sizeof(ix->st.status));
    str_copy(ix->st.error, err ? err : "", sizeof(ix->st.error));
    pthread_mutex_unlock(&ix->lock);
}

/* block_hash() reads the hash of block `n` into out (lowercase "0x" + 64). */
static int block_hash(struct chain_indexer *ix, uint64_t n, char out[67], struct ag_err *e)
{
    json_t *blk = NULL;
    const char *h;
    int rc = rpc_get_block(&ix->rpc, n, false, &blk, e);

    if (rc)
        return rc;
    h = json_string_value(json_object_get(blk, "hash"));
    if (!h || strlen(h) != 66)
        rc = ag_errf(e, AG_EBADJSON, NULL, "block %" PRIu64 " has no hash", n);
    else
        for (int i = 0; i < 67; i++)
            out[i] = (char)((h[i] >= 'A' && h[i] <= 'F') ? h[i] + 32 : h[i]);
    json_decref(blk);
    return rc;
}

/* check_reorg() compares stored hashes with the chain, newest first, and
 * rolls back above the newest block that still matches. */
static int check_reorg(struct chain_indexer *ix, const struct chain_cursor *cur, uint64_t head,
                       struct ag_err *e)
{
    json_t *blocks = NULL, *b;
    int64_t keep = cur->start_block - 1, removed = 0;
    size_t i;
    bool forked = false;
    int rc;

    if ((rc = store_chain_blocks(ix->cfg.store, cur->next_block - 1, (int)ix->cfg.reorg_depth,
                                 &blocks, e)))
        return rc;
    json_array_foreach(blocks, i, b)
    {
        int64_t n = json_integer_value(json_object_get(b, "number"));
        const char *want = json_string_value(json_object_get(b, "hash"));
        char have[67];
        if ((uint64_t)n > head) {
            forked = true; /* the chain is now shorter than what we indexed */
            continue;
        }
        if ((rc = block_hash(ix, (uint64_t)n, have, e)) && rc != AG_ENOTFOUND)
            goto out;
        if (!rc && want && !strcmp(have, want)) {
            keep = n;
            break;
        }
        rc = 0;
        forked = true;
    }
    if (forked && i == json_array_size(blocks) && i == ix->cfg.reorg_depth)
        log_warn("chain: reorg deeper than %u stored blocks: re-indexing from block %" PRId64,
                 ix->cfg.reorg_depth, cur->start_block);
    if (forked) {
        if ((rc = store_chain_rollback(ix->cfg.store, keep, &removed, e)))
            goto out;
        log_warn("chain: reorg detected: rolled back to block %" PRId64 " (%" PRId64
                 " events removed)",
                 keep, removed);
        pthread_mutex_lock(&ix->lock);
        ix->st.reorgs++;
        pthread_mutex_unlock(&ix->lock);
    }
out:
    json_decref(blocks);
    return rc;
}

static const struct chain_event_def *find_event(const struct chain_manifest *m, int contract,
                                                const uint8_t topic[32])
{
    for (size_t i = 0; i < m->nevents; i++)
        if (m->events[i].contract == contract && !memcmp(m->events[i].topic, topic, 32))
            return &m->events[i];
    return NULL;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s + 32);
}

/* One decoded log ready for the store; strings owned. */
struct row {
    struct chain_event_row r;
    char *args, *model_id, *account, *block_hash, *tx_hash;
};

static void rows_free(struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].args);
        free(rows[i].model_id);
        free(rows[i].account);
        free(rows[i].block_hash);
        free(rows[i].tx_hash);
    }
    free(rows);
}

/* decode_log() turns a log into a row: args keyed by parameter name,
 * addresses lowercase; model_id from modelId (or a registry Transfer's
 * tokenId), account from the first of buyer, to, owner, seller, publisher,
 * account. Returns 1 when the log is not an event we follow. */
static int decode_log(struct chain_indexer *ix, json_t *log, struct row *out, struct ag_err *e)
{
    static const char *const acct_keys[] = {"buyer",  "to",        "owner",
                                            "seller", "publisher", "account"};
    const struct chain_manifest *m = ix->cfg.manifest;
    const char *addr = json_string_value(json_object_get(log, "address"));
    json_t *topics = json_object_get(log, "topics"), *vals = NULL, *args = NULL, *v;
    const struct chain_event_def *d = NULL;
    uint8_t a[20], t0[32];
    int contract = -1, rc = 1;
    uint64_t bn = 0, li = 0;
    size_t i;

    if (!addr || addr_parse(addr, a, false, NULL) || !json_array_size(topics) ||
        ethhex_decode_fixed(json_string_value(json_array_get(topics, 0)) ?: "", t0, 32))
        return 1;
    for (int k = 0; k < CHAIN_NCONTRACTS; k++)
        if (!memcmp(m->addr[k], a, 20))
            contract = k;
    if (contract < 0 || !(d = find_event(m, contract, t0)))
        return 1;
    if (rpc_quantity_u64(json_object_get(log, "blockNumber"), &bn) ||
        rpc_quantity_u64(json_object_get(log, "logIndex"), &li) ||
        !json_is_string(json_object_get(log, "blockHash")) ||
        !json_is_string(json_object_get(log, "transactionHash")))
        return ag_errf(e, AG_EBADJSON, NULL, "a log without block, index or hashes");
    if (abi_event_decode_log(&d->ev, log, &vals, NULL)) {
        log_warn("chain: undecodable %s log skipped", d->ev.name);
        return 1;
    }
    args = json_object();
    json_array_foreach(vals, i, v)
    {
        const char *name = d->ev.inputs->names[i] ? d->ev.inputs->names[i] : "arg";
        if (d->ev.inputs->fields[i]->kind == ABI_ADDRESS && json_is_string(v)) {
            char s[43];
            str_copy(s, json_string_value(v), sizeof(s));
            lower(s);
            json_object_set_new(args, name, json_string(s));
        } else {
            json_object_set(args, name, v);
        }
    }
    memset(out, 0, sizeof(*out));
    out->args = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    v = json_object_get(args, "modelId");
    if (!v && contract == CHAIN_REGISTRY)
        v = json_object_get(args, "tokenId");
    if (json_is_string(v))
        out->model_id = str_dup(json_string_value(v));
    for (size_t k = 0; k < ARRAY_SIZE(acct_keys) && !out->account; k++)
        if (json_is_string(json_object_get(args, acct_keys[k])))
            out->account = str_dup(json_string_value(json_object_get(args, acct_keys[k])));
    out->block_hash = str_dup(json_string_value(json_object_get(log, "blockHash")));
    out->tx_hash = str_dup(json_string_value(json_object_get(log, "transactionHash")));
    rc = 0;
    if (!out->args || !out->block_hash || !out->tx_hash)
        rc = AG_ENOMEM;
    else {
        lower(out->block_hash);
        lower(out->tx_hash);
    }
    out->r = (struct chain_event_row){
        .block_number = (int64_t)bn,
        .log_index = (int64_t)li,
        .block_hash = out->block_hash,
        .tx_hash = out->tx_hash,
        .contract = chain_contract_names[contract],
        .name = d->ev.name,
        .model_id = out->model_id,
        .account = out->account,
        .args = out->args,
    };
    json_decref(vals);
    json_decref(args);
    return rc;
}

static json_t *hexq(uint64_t n)
{
    char s[24];
    snprintf(s, sizeof(s), "0x%" PRIx64, n);
    return json_string(s);
}

/* index_range() fetches and stores [from, to]. AG_ECONFLICT when a reorg
 * raced the fetch (the caller retries next round). */
static int index_range(struct chain_indexer *ix, uint64_t from, uint64_t to, struct ag_err *e)
{
    const struct chain_manifest *m = ix->cfg.manifest;
    json_t *filter = NULL, *logs = NULL, *addrs = json_array(), *log;
    char h1[67], h2[67], *bh[1] = {h1};
    struct row *rows = NULL;
    size_t nrows = 0, i;
    int64_t bnums[1] = {(int64_t)to};
    int64_t *blk_n = NULL;
    const char **blk_h = NULL;
    size_t nblk = 0;
    int inserted = 0, rc;

    for (int k = 0; k < CHAIN_NCONTRACTS; k++)
        json_array_append_new(addrs, json_string(m->addr_hex[k]));
    filter = json_pack("{s:o, s:o, s:o}", "fromBlock", hexq(from), "toBlock", hexq(to), "address",
                       addrs);
    if ((rc = block_hash(ix, to, h1, e)) || (rc = rpc_get_logs(&ix->rpc, filter, &logs, e)) ||
        (rc = block_hash(ix, to, h2, e)))
        goto out;
    if (strcmp(h1, h2) || !json_is_array(logs)) {
        rc = ag_errf(e, AG_ECONFLICT, NULL,
                     "the chain changed while reading blocks %" PRIu64 "-%" PRIu64, from, to);
        goto out;
    }
    rows = calloc(json_array_size(logs) + 1, sizeof(*rows));
    blk_n = calloc(json_array_size(logs) + 1, sizeof(*blk_n));
    blk_h = calloc(json_array_size(logs) + 1, sizeof(*blk_h));
    if (!rows || !blk_n || !blk_h) {
        rc = AG_ENOMEM;
        goto out;
    }
    json_array_foreach(logs, i, log)
    {
        if (json_is_true(json_object_get(log, "removed")))
            continue;
        rc = decode_log(ix, log, &rows[nrows], e);
        if (rc == 1) {
            rc = 0;
            continue;
        }
        if (rc) {
            nrows++;
            goto out;
        }
        if (rows[nrows].r.block_number == (int64_t)to && strcmp(rows[nrows].block_hash, h1)) {
            nrows++;
            rc = ag_errf(e, AG_ECONFLICT, NULL, "logs of block %" PRIu64 " from another fork", to);
            goto out;
        }
        if (!nblk || blk_n[nblk - 1] != rows[nrows].r.block_number) {
            blk_n[nblk] = rows[nrows].r.block_number;
            blk_h[nblk++] = rows[nrows].block_hash;
        }
        nrows++;
    }
    {
        struct chain_event_row *evs = calloc(nrows + 1, sizeof(*evs));
        if (!evs) {
            rc = AG_ENOMEM;
            goto out;
        }
        for (i = 0; i < nrows; i++)
            evs[i] = rows[i].r;
        blk_n[nblk] = bnums[0];
        blk_h[nblk++] = bh[0];
        rc = store_chain_apply(ix->cfg.store, evs, nrows, blk_n, blk_h, nblk, (int64_t)to + 1,
                               &inserted, e);
        free(evs);
    }
    if (!rc) {
        pthread_mutex_lock(&ix->lock);
        ix->st.events += (uint64_t)inserted;
        ix->st.indexed = (int64_t)to;
        pthread_mutex_unlock(&ix->lock);
        if (inserted)
            log_info("chain: indexed %d events in blocks %" PRIu64 "-%" PRIu64, inserted, from, to);
    }
out:
    rows_free(rows, nrows);
    free(blk_n);
    free(blk_h);
    json_decref(filter);
    json_decref(logs);
    return rc;
}

int chain_indexer_step(struct chain_indexer *ix, bool *caught_up, struct ag_err *e)
{
    struct chain_cursor cur;
    uint64_t head = 0, safe, to;
    bool held = false;
    int rc;

    *caught_up = false;
    if ((rc = store_chain_lease(ix->cfg.store, ix->lease_id, time_now(), LEASE_TTL, &held, e)))
        goto out;
    if (!held) {
        set_status(ix, "standby", "another node holds the indexing lease");
        *caught_up = true;
        return 0;
    }
    if ((rc = rpc_block_number(&ix->rpc, &head, e)))
        goto out;
    store_chain_head_set(ix->cfg.store, (int64_t)head, time_now(), NULL);
    pthread_mutex_lock(&ix->lock);
    ix->st.head = head;
    pthread_mutex_unlock(&ix->lock);
    if ((rc = store_chain_cursor_get(ix->cfg.store, &cur, e)))
        goto out;
    if (cur.next_block > cur.start_block && (rc = check_reorg(ix, &cur, head, e)))
        goto out;
    if ((rc = store_chain_cursor_get(ix->cfg.store, &cur, e)))
        goto out;
    safe = head >= ix->cfg.confirmations ? head - ix->cfg.confirmations : 0;
    pthread_mutex_lock(&ix->lock);
    ix->st.indexed = cur.next_block - 1;
    ix->st.lag = head > (uint64_t)(cur.next_block - 1) ? head - (uint64_t)(cur.next_block - 1) : 0;
    pthread_mutex_unlock(&ix->lock);
    if ((uint64_t)cur.next_block > safe || (head < ix->cfg.confirmations)) {
        *caught_up = true;
        set_status(ix, "ok", NULL);
        return 0;
    }
    to = MIN(safe, (uint64_t)cur.next_block + ix->range - 1);
    rc = index_range(ix, (uint64_t)cur.next_block, to, e);
    if (rc == AG_EUNPROCESSABLE || rc == AG_ETIMEOUT || rc == AG_ETOOBIG) {
        /* "query returned more than N results", a slow node: smaller ranges */
        if (ix->range > 1) {
            ix->range = MAX(1u, ix->range / 2);
            log_info("chain: eth_getLogs failed (%s): range now %u blocks", e ? e->msg : "",
                     ix->range);
            rc = 0;
        }
        goto out;
    }
    if (rc == AG_ECONFLICT) {
        rc = 0; /* a reorg raced us: the next round's check handles it */
        goto out;
    }
    if (rc)
        goto out;
    if (ix->range < ix->cfg.max_range)
        ix->range = MIN(ix->cfg.max_range, ix->range * 2);
    pthread_mutex_lock(&ix->lock);
    ix->st.lag = head - to;
    pthread_mutex_unlock(&ix->lock);
    *caught_up = to >= safe;
    set_status(ix, *caught_up ? "ok" : "syncing", NULL);
out:
    if (rc) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", e && e->msg[0] ? e->msg : ag_strerror(rc));
        set_status(ix, "error", msg);
    }
    return rc;
}

int chain_indexer_new(const struct chain_indexer_config *cfg, struct chain_indexer **out,
                      struct ag_err *e)
{
    struct chain_indexer *ix = calloc(1, sizeof(*ix));
    int rc;

    if (!ix)
        return AG_ENOMEM;
    ix->cfg = *cfg;
    if (!ix->cfg.max_range)
        ix->cfg.max_range = 2000;
    if (!ix->cfg.poll_ms)
        ix->cfg.poll_ms = 1000;
    if (!ix->cfg.reorg_depth)
        ix->cfg.reorg_depth = 256;
    if (!ix->cfg.rpc_timeout_ms)
        ix->cfg.rpc_timeout_ms = 10000;
    ix->range = ix->cfg.max_range;
    pthread_mutex_init(&ix->lock, NULL);
    pthread_cond_init(&ix->wake, NULL);
    rand_token(ix->lease_id, 16);
    str_copy(ix->st.status, "starting", sizeof(ix->st.status));
    ix->st.chain_id = cfg->manifest->chain_id;
    ix->st.indexed = -1;
    if ((rc = rpc_init(&ix->rpc, cfg->rpc, e))) {
        free(ix);
        return rc;
    }
    ix->rpc.timeout_ms = ix->cfg.rpc_timeout_ms;
    ix->rpc.retries = 1;
    rc = store_chain_cursor_init(cfg->store, (int64_t)cfg->manifest->chain_id,
                                 (int64_t)cfg->manifest->block, e);
    if (rc) {
        chain_indexer_stop(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

static void *indexer_main(void *arg)
{
    struct chain_indexer *ix = arg;
    bool caught_up, warned = false;

    pthread_mutex_lock(&ix->lock);
    while (!ix->stop) {
        struct ag_err e = {0};
        struct timespec until;
        int rc;
        ix->round_at_us = time_mono_us();
        pthread_mutex_unlock(&ix->lock);
        rc = chain_indexer_step(ix, &caught_up, &e);
        if (rc && !warned)
            log_warn("chain: indexer: %s", e.msg[0] ? e.msg : ag_strerror(rc));
        warned = rc != 0;
        pthread_mutex_lock(&ix->lock);
        if (caught_up || rc) {
            /* Until the poll interval is over, or sooner when a round is
             * asked for (at most one every CHAIN_POKE_MIN_MS after the last
             * started): a poke that came while this round ran is not lost. */
            int64_t wait_us = (int64_t)ix->cfg.poll_ms * 1000;
            for (;;) {
                int64_t now = time_mono_us(), left = ix->round_at_us + wait_us - now;
                if (ix->poked)
                    left = MIN(left, ix->round_at_us + CHAIN_POKE_MIN_MS * 1000LL - now);
                if (ix->stop || left <= 0)
                    break;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += left / 1000000;
                until.tv_nsec += (long)(left % 1000000) * 1000L;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec++;
                    until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&ix->wake, &ix->lock, &until);
            }
        }
        ix->poked = false;
    }
    pthread_mutex_unlock(&ix->lock);
    store_chain_lease_drop(ix->cfg.store, ix->lease_id);
    return NULL;
}

int chain_indexer_start(const struct chain_indexer_config *cfg, struct chain_indexer **out,
                        struct ag_err *e)
{
    struct chain_indexer *ix = NULL;
    int rc = chain_indexer_new(cfg, &ix, e);

    if (rc)
        return rc;
    if (pthread_create(&ix->thread, NULL, indexer_main, ix)) {
        chain_indexer_stop(ix);
        return ag_errf(e, AG_EINTERNAL, NULL, "cannot start the indexer thread");
    }
    ix->started = true;
    *out = ix;
    return 0;
}

void chain_indexer_stop(struct chain_indexer *ix)
{
    if (!ix)
        return;
    if (ix->started) {
        pthread_mutex_lock(&ix->lock);
        ix->stop = true;
        pthread_cond_signal(&ix->wake);
        pthread_mutex_unlock(&ix->lock);
        pthread_join(ix->thread, NULL);
    } else {
        store_chain_lease_drop(ix->cfg.store, ix->lease_id);
    }
    rpc_release(&ix->rpc);
    pthread_mutex_destroy(&ix->lock);
    pthread_cond_destroy(&ix->wake);
    free(ix);
}

void chain_indexer_poke(struct chain_indexer *ix)
{
    if (!ix || !ix->started)
        return;
    pthread_mutex_lock(&ix->lock);
    ix->poked = true;
    pthread_cond_signal(&ix->wake);
    pthread_mutex_unlock(&ix->lock);
}

void chain_indexer_status(struct chain_indexer *ix, struct chain_status *out)
{
    pthread_mutex_lock(&ix->lock);
    *out = ix->st;
    pthread_mutex_unlock(&ix->lock);
}

json_t *chain_status_json(const struct chain_status *st)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "status", st->status, "chain_id",
                          (json_int_t)st->chain_id, "head", (json_int_t)st->head, "indexed_block",
                          (json_int_t)st->indexed, "lag", (json_int_t)st->lag, "reorgs",
                          (json_int_t)st->reorgs, "events_indexed", (json_int_t)st->events);
    if (o && st->error[0])
        json_object_set_new(o, "error", json_string(st->error));
    return o;
}
