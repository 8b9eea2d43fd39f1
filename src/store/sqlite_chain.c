/* sqlite_chain.c - the chain index on SQLite: events, block hashes, cursor, wallets, SIWE nonces.
 */
#include "core/common.h"

#include "store/sqlite_int.h"

/* ---- cursor and lease ------------------------------------------------------ */

static const char SQL_CURSOR_GET[] =
    "SELECT chain_id, start_block, next_block, head, updated_at FROM chain_cursor WHERE id = 1";

int store_chain_cursor_get(struct store *s, struct chain_cursor *out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_CURSOR_GET, e);

    if (rc)
        return rc;
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "the chain has not been indexed yet");
    if (rc == 1) {
        out->chain_id = sqlite3_column_int64(q.st, 0);
        out->start_block = sqlite3_column_int64(q.st, 1);
        out->next_block = sqlite3_column_int64(q.st, 2);
        out->head = sqlite3_column_int64(q.st, 3);
        out->updated_at = sqlite3_column_int64(q.st, 4);
        rc = 0;
    }
    sdb_close(&q);
    return rc;
}

static const char SQL_CURSOR_INIT[] =
    "INSERT INTO chain_cursor (id, chain_id, start_block, next_block) VALUES (1, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING";

int store_chain_cursor_init(struct store *s, int64_t chain_id, int64_t start_block,
                            struct ag_err *e)
{
    struct chain_cursor c;
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_CURSOR_INIT, e);

    if (rc)
        return rc;
    sdb_int(&q, chain_id);
    sdb_int(&q, start_block);
    sdb_int(&q, start_block);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    if (!rc && !(rc = store_chain_cursor_get(s, &c, e)) && c.chain_id != chain_id)
        rc = ag_errf(e, AG_ECONFLICT, "chain_id",
                     "this data directory indexes chain %" PRId64 ", not chain %" PRId64,
                     c.chain_id, chain_id);
    return rc;
}

static const char SQL_LEASE[] =
    "UPDATE chain_cursor SET lease_owner = ?, lease_until = ?"
    " WHERE id = 1 AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)";

int store_chain_lease(struct store *s, const char *owner, int64_t now, int64_t ttl, bool *held,
                      struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_LEASE, e);

    *held = false;
    if (rc)
        return rc;
    sdb_text(&q, owner);
    sdb_int(&q, now + ttl);
    sdb_text(&q, owner);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    if (!rc)
        *held = sdb_changes(&q) == 1;
    sdb_close(&q);
    return rc;
}

static const char SQL_LEASE_DROP[] =
    "UPDATE chain_cursor SET lease_owner = NULL, lease_until = 0 WHERE id = 1 AND lease_owner = ?";

void store_chain_lease_drop(struct store *s, const char *owner)
{
    struct sdb_q q;

    if (sdb_open(&q, s, SQL_LEASE_DROP, NULL))
        return;
    sdb_text(&q, owner);
    sdb_exec(&q, NULL);
    sdb_close(&q);
}

static const char SQL_HEAD_SET[] = "UPDATE chain_cursor SET head = ?, updated_at = ? WHERE id = 1";

int store_chain_head_set(struct store *s, int64_t head, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_HEAD_SET, e);

    if (rc)
        return rc;
    sdb_int(&q, head);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

/* ---- indexed ranges --------------------------------------------------------- */

static const char SQL_EVENT_INSERT[] =
    "INSERT INTO chain_events (block_number, block_hash, tx_hash, log_index, contract, name,"
    " model_id, account, args) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tx_hash, log_index) DO NOTHING";
static const char SQL_BLOCK_PUT[] = "INSERT INTO chain_blocks (number, hash) VALUES (?, ?)"
                                    " ON CONFLICT (number) DO UPDATE SET hash = excluded.hash";
/* Reorg checks look at the newest stored hashes only: older ones go. */
#define CHAIN_BLOCKS_KEPT 4096
static const char SQL_BLOCKS_PRUNE[] = "DELETE FROM chain_blocks WHERE number < ?";
static const char SQL_CURSOR_MOVE[] =
    "UPDATE chain_cursor SET next_block = ?, updated_at = strftime('%s', 'now') WHERE id = 1";

static int insert_event(struct store *s, const struct chain_event_row *r, int *inserted,
                        struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_EVENT_INSERT, e);

    if (rc)
        return rc;
    sdb_int(&q, r->block_number);
    sdb_text(&q, r->block_hash);
    sdb_text(&q, r->tx_hash);
    sdb_int(&q, r->log_index);
    sdb_text(&q, r->contract);
    sdb_text(&q, r->name);
    sdb_text(&q, r->model_id);
    sdb_text(&q, r->account);
    sdb_text(&q, r->args);
    rc = sdb_exec(&q, e);
    if (!rc && sdb_changes(&q) == 1)
        (*inserted)++;
    sdb_close(&q);
    return rc;
}

static int put_block(struct store *s, int64_t number, const char *hash, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_BLOCK_PUT, e);

    if (rc)
        return rc;
    sdb_int(&q, number);
    sdb_text(&q, hash);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

int store_chain_apply(struct store *s, const struct chain_event_row *ev, size_t nev,
                      const int64_t *block_numbers, const char *const *block_hashes, size_t nblocks,
                      int64_t next_block, int *inserted, struct ag_err *e)
{
    struct sdb_q q;
    int n = 0;
    int rc = sdb_tx_begin(s, true, e);

    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < nev; i++)
        rc = insert_event(s, &ev[i], &n, e);
    for (size_t i = 0; !rc && i < nblocks; i++)
        rc = put_block(s, block_numbers[i], block_hashes[i], e);
    if (!rc && !(rc = sdb_open(&q, s, SQL_CURSOR_MOVE, e))) {
        sdb_int(&q, next_block);
        rc = sdb_exec(&q, e);
        sdb_close(&q);
    }
    if (!rc && next_block > CHAIN_BLOCKS_KEPT && !(rc = sdb_open(&q, s, SQL_BLOCKS_PRUNE, e))) {
        sdb_int(&q, next_block - CHAIN_BLOCKS_KEPT);
        rc = sdb_exec(&q, e);
        sdb_close(&q);
    }
    rc = sdb_tx_end(s, rc, e);
    if (!rc && inserted)
        *inserted = n;
    return rc;
}

static const char SQL_BLOCKS[] =
    "SELECT number, hash FROM chain_blocks WHERE number <= ? ORDER BY number DESC LIMIT ?";

int store_chain_blocks(struct store *s, int64_t at, int limit, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_BLOCKS, e);

    if (rc)
        return rc;
    sdb_int(&q, at);
    sdb_int(&q, limit);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

static const char SQL_ROLLBACK_EVENTS[] = "DELETE FROM chain_events WHERE block_number > ?";
static const char SQL_ROLLBACK_BLOCKS[] = "DELETE FROM chain_blocks WHERE number > ?";

static int delete_above(struct store *s, const char *sql, int64_t keep, int64_t *n,
                        struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sql, e);

    if (rc)
        return rc;
    sdb_int(&q, keep);
    rc = sdb_exec(&q, e);
    if (!rc && n)
        *n = sdb_changes(&q);
    sdb_close(&q);
    return rc;
}

int store_chain_rollback(struct store *s, int64_t keep, int64_t *removed, struct ag_err *e)
{
    struct sdb_q q;
    int64_t n = 0;
    int rc = sdb_tx_begin(s, true, e);

    if (!rc)
        rc = delete_above(s, SQL_ROLLBACK_EVENTS, keep, &n, e);
    if (!rc)
        rc = delete_above(s, SQL_ROLLBACK_BLOCKS, keep, NULL, e);
    if (!rc && !(rc = sdb_open(&q, s, SQL_CURSOR_MOVE, e))) {
        sdb_int(&q, keep + 1);
        rc = sdb_exec(&q, e);
        sdb_close(&q);
    }
    rc = sdb_tx_end(s, rc, e);
    if (!rc && removed)
        *removed = n;
    return rc;
}

static const char SQL_EVENT_COUNT[] = "SELECT count(*) FROM chain_events";

int store_chain_event_count(struct store *s, int64_t *n, struct ag_err *e)
{
    return sdb_int64(s, SQL_EVENT_COUNT, n, e);
}

static const char SQL_EVENTS[] =
    "SELECT block_number, block_hash, tx_hash, log_index, contract, name, model_id, account,"
    " args FROM chain_events WHERE ? IS NULL OR name = ?"
    " ORDER BY block_number, log_index LIMIT ?";

int store_chain_events(struct store *s, const char *name, int limit, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_EVENTS, e);

    if (rc)
        return rc;
    sdb_text(&q, name);
    sdb_text(&q, name);
    sdb_int(&q, limit);
    rc = sdb_rows_json(&q, out, e);
    sdb_close(&q);
    return rc;
}

/* ---- what the events say ---------------------------------------------------- */

/* The owner is the recipient of the model token's latest transfer; the
 * price is the latest PriceSet by that owner after that transfer (a listing
 * belongs to the owner who set it), else 0. */
static const char SQL_CHAIN_MODEL[] =
    "WITH reg AS (SELECT model_id, block_number, account FROM chain_events"
    "  WHERE name = 'ModelRegistered' AND json_extract(args, '$.slugHash') = ?"
    "  ORDER BY block_number, log_index LIMIT 1),"
    " xfer AS (SELECT account, block_number, log_index FROM chain_events"
    "  WHERE name = 'Transfer' AND contract = 'ModelRegistry'"
    "  AND model_id = (SELECT model_id FROM reg)"
    "  ORDER BY block_number DESC, log_index DESC LIMIT 1)"
    " SELECT reg.model_id AS token_id, xfer.account AS owner,"
    "  coalesce((SELECT json_extract(p.args, '$.price') FROM chain_events p"
    "   WHERE p.name = 'PriceSet' AND p.model_id = reg.model_id AND p.account = xfer.account"
    "   AND (p.block_number > xfer.block_number OR (p.block_number = xfer.block_number"
    "   AND p.log_index > xfer.log_index))"
    "   ORDER BY p.block_number DESC, p.log_index DESC LIMIT 1), '0') AS price,"
    "  (SELECT count(*) FROM chain_events v WHERE v.name = 'VersionPublished'"
    "   AND v.model_id = reg.model_id) AS versions,"
    "  reg.block_number AS registered_block, reg.account AS registrant"
    " FROM reg LEFT JOIN xfer";

int store_chain_model(struct store *s, const char *slug_hash, json_t **out, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_CHAIN_MODEL, e);

    if (rc)
        return rc;
    sdb_text(&q, slug_hash);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, NULL, "the model is not registered on-chain");
    if (rc == 1) {
        *out = sdb_row_json(&q);
        rc = *out ? 0 : AG_ENOMEM;
    }
    sdb_close(&q);
    return rc;
}

#define NOT_REFUNDED                                                                               \
    " AND json_extract(l.args, '$.purchaseId') NOT IN (SELECT json_extract(r.args, "               \
    "'$.purchaseId')"                                                                              \
    " FROM chain_events r WHERE r.name = 'PurchaseRefunded' AND r.model_id = l.model_id)"

static const char SQL_HAS_LICENCE[] =
    "SELECT 1 FROM chain_events l JOIN chain_wallets w ON w.address = l.account"
    " WHERE l.name = 'LicensePurchased' AND l.model_id = ? AND w.user_id = ?" NOT_REFUNDED
    " LIMIT 1";

int store_chain_has_licence(struct store *s, const char *token_id, int64_t user_id, bool *has,
                            struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_HAS_LICENCE, e);

    *has = false;
    if (rc)
        return rc;
    sdb_text(&q, token_id);
    sdb_int(&q, user_id);
    rc = sdb_step(&q, e);
    if (rc >= 0) {
        *has = rc == 1;
        rc = 0;
    }
    sdb_close(&q);
    return rc;
}

/* A purchase of the token by one of the user's wallets was refunded, and no
 * purchase of theirs for it stands. */
static const char SQL_ONLY_REFUNDED[] =
    "SELECT 1 FROM chain_events l JOIN chain_wallets w ON w.address = l.account"
    " JOIN users u ON u.id = w.user_id"
    " WHERE l.name = 'LicensePurchased' AND l.model_id = ?1 AND u.username = ?2"
    " AND json_extract(l.args, '$.purchaseId') IN (SELECT json_extract(r.args, '$.purchaseId')"
    " FROM chain_events r WHERE r.name = 'PurchaseRefunded' AND r.model_id = l.model_id)"
    " AND NOT EXISTS (SELECT 1 FROM chain_events l JOIN chain_wallets w ON w.address = l.account"
    " JOIN users u ON u.id = w.user_id"
    " WHERE l.name = 'LicensePurchased' AND l.model_id = ?1 AND u.username = ?2" NOT_REFUNDED ")"
    " LIMIT 1";

/* row_exists() runs `sql` with two text parameters and tells whether it
 * yields a row. */
static int row_exists(struct store *s, const char *sql, const char *a, const char *b,
                      bool *exists, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, sql, e);

    *exists = false;
    if (rc)
        return rc;
    sdb_text(&q, a);
    sdb_text(&q, b);
    rc = sdb_step(&q, e);
    if (rc >= 0) {
        *exists = rc == 1;
        rc = 0;
    }
    sdb_close(&q);
    return rc;
}

int store_chain_only_refunded(struct store *s, const char *token_id, const char *username,
                              bool *refunded, struct ag_err *e)
{
    return row_exists(s, SQL_ONLY_REFUNDED, token_id, username, refunded, e);
}

static const char SQL_ADDR_LICENSED[] =
    "SELECT 1 FROM chain_events l WHERE l.name = 'LicensePurchased' AND l.model_id = ?"
    " AND l.account = lower(?)" NOT_REFUNDED " LIMIT 1";

int store_chain_address_licensed(struct store *s, const char *token_id, const char *address,
                                 bool *has, struct ag_err *e)
{
    return row_exists(s, SQL_ADDR_LICENSED, token_id, address, has, e);
}

static const char SQL_LICENCES[] =
    "SELECT l.model_id AS token_id, l.account AS buyer,"
    " json_extract(l.args, '$.purchaseId') AS purchase_id, json_extract(l.args, '$.price') AS "
    "price,"
    " l.block_number, l.tx_hash"
    " FROM chain_events l JOIN chain_wallets w ON w.address = l.account"
    " WHERE l.name = 'LicensePurchased' AND w.user_id = ?" NOT_REFUNDED
    " ORDER BY l.block_number, l.log_index LIMIT 1000";

int store_chain_licences(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    return sdb_rows_by_id(s, SQL_LICENCES, user_id, out, e);
}

/* ---- wallets ------------------------------------------------------------------ */

static const char SQL_WALLET_LINK[] =
    "INSERT INTO chain_wallets (address, user_id, linked_at) VALUES (lower(?), ?, ?)"
    " ON CONFLICT (address) DO NOTHING";

int store_wallet_link(struct store *s, int64_t user_id, const char *address, int64_t now,
                      struct ag_err *e)
{
    struct sdb_q q;
    int64_t owner = 0;
    char name[33];
    int rc = sdb_open(&q, s, SQL_WALLET_LINK, e);

    if (rc)
        return rc;
    sdb_text(&q, address);
    sdb_int(&q, user_id);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    if (!rc && !(rc = store_wallet_user(s, address, &owner, name, e)) && owner != user_id)
        rc = ag_errf(e, AG_EEXISTS, "address", "this address is linked to another account");
    return rc;
}

static const char SQL_WALLET_USER[] =
    "SELECT w.user_id, u.username FROM chain_wallets w JOIN users u ON u.id = w.user_id"
    " WHERE w.address = lower(?)";

int store_wallet_user(struct store *s, const char *address, int64_t *user_id, char username[33],
                      struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_WALLET_USER, e);

    if (rc)
        return rc;
    sdb_text(&q, address);
    rc = sdb_step(&q, e);
    if (rc == 0)
        rc = ag_errf(e, AG_ENOTFOUND, "address", "no account has linked this address");
    if (rc == 1) {
        *user_id = sqlite3_column_int64(q.st, 0);
        rc = sdb_col_copy(&q, 1, username, 33, e);
    }
    sdb_close(&q);
    return rc;
}

static const char SQL_WALLET_LIST[] =
    "SELECT address, linked_at FROM chain_wallets WHERE user_id = ? ORDER BY linked_at, address";

int store_wallet_list(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    return sdb_rows_by_id(s, SQL_WALLET_LIST, user_id, out, e);
}

/* ---- SIWE nonces ----------------------------------------------------------------- */

static const char SQL_NONCE_PUT[] = "INSERT INTO siwe_nonces (nonce, expires_at) VALUES (?, ?)";
static const char SQL_NONCE_PURGE[] = "DELETE FROM siwe_nonces WHERE expires_at < ?";
static const char SQL_NONCE_TAKE[] = "DELETE FROM siwe_nonces WHERE nonce = ? AND expires_at >= ?";

int store_siwe_nonce_put(struct store *s, const char *nonce, int64_t expires_at, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_NONCE_PUT, e);

    if (rc)
        return rc;
    sdb_text(&q, nonce);
    sdb_int(&q, expires_at);
    rc = sdb_exec(&q, e);
    sdb_close(&q);
    return rc;
}

int store_siwe_nonce_take(struct store *s, const char *nonce, int64_t now, struct ag_err *e)
{
    struct sdb_q q;
    int rc = sdb_open(&q, s, SQL_NONCE_TAKE, e);
    bool taken = false;

    if (rc)
        return rc;
    sdb_text(&q, nonce);
    sdb_int(&q, now);
    rc = sdb_exec(&q, e);
    taken = !rc && sdb_changes(&q) == 1;
    sdb_close(&q);
    if (!rc && !sdb_open(&q, s, SQL_NONCE_PURGE, NULL)) {
        sdb_int(&q, now);
        sdb_exec(&q, NULL);
        sdb_close(&q);
    }
    if (!rc && !taken)
        rc = ag_errf(e, AG_ENOTFOUND, "nonce", "unknown, used or expired nonce");
    return rc;
}
