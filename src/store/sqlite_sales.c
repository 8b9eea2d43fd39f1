/* sqlite_sales.c - what the chain index says about a user's purchases and sales: the library and
 * the seller dashboard. */
#include "core/common.h"
#include "store/sqlite_int.h"

/* The model a purchase is for, as registered: the ModelRegistered event
 * of its token gives the slug hash and the metadata URI (the node's
 * publishers write "agora:owner/slug"; the API checks it against the hash). */
#define REGISTERED(col, alias)                                                                     \
    " (SELECT json_extract(r.args, '$." col "') FROM chain_events r"                               \
    "  WHERE r.name = 'ModelRegistered' AND r.model_id = l.model_id"                               \
    "  ORDER BY r.block_number, r.log_index LIMIT 1) AS " alias

#define PURCHASE_COLUMNS                                                                           \
    " l.model_id AS token_id, l.account AS buyer,"                                                 \
    " json_extract(l.args, '$.seller') AS seller,"                                                 \
    " json_extract(l.args, '$.purchaseId') AS purchase_id,"                                        \
    " json_extract(l.args, '$.price') AS price, json_extract(l.args, '$.fee') AS fee,"             \
    " json_extract(l.args, '$.royalty') AS royalty,"                                               \
    " CAST(json_extract(l.args, '$.releaseAt') AS INTEGER) AS release_at,"                         \
    " l.block_number, l.tx_hash,"                                                                  \
    " CASE WHEN EXISTS (SELECT 1 FROM chain_events x WHERE x.name = 'PurchaseRefunded'"            \
    "   AND x.model_id = l.model_id"                                                               \
    "   AND json_extract(x.args, '$.purchaseId') = json_extract(l.args, '$.purchaseId'))"          \
    "  THEN 'refunded'"                                                                            \
    "  WHEN EXISTS (SELECT 1 FROM chain_events x WHERE x.name = 'PurchaseReleased'"                \
    "   AND x.model_id = l.model_id"                                                               \
    "   AND json_extract(x.args, '$.purchaseId') = json_extract(l.args, '$.purchaseId'))"          \
    "  THEN 'released'"                                                                            \
    "  WHEN EXISTS (SELECT 1 FROM chain_events x WHERE x.name = 'DisputeOpened'"                   \
    "   AND json_extract(x.args, '$.purchaseId') = json_extract(l.args, '$.purchaseId'))"          \
    "  THEN 'disputed' ELSE 'escrowed' END AS status," REGISTERED(                                 \
        "slugHash", "slug_hash") "," REGISTERED("metadataURI", "metadata_uri")

static const char SQL_PURCHASES[] =
    "SELECT" PURCHASE_COLUMNS " FROM chain_events l JOIN chain_wallets w ON w.address = l.account"
    " WHERE l.name = 'LicensePurchased' AND w.user_id = ?"
    " ORDER BY l.block_number DESC, l.log_index DESC LIMIT 1000";

int store_sales_purchases(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    return sdb_rows_by_id(s, SQL_PURCHASES, user_id, out, e);
}

/* The indexer lowercases addresses in args, and chain_events_seller indexes
 * this very expression (migration 0005). `+address` drops the column's text
 * affinity, which would otherwise be applied to the expression and keep the
 * planner off that index; `+l.block_number` keeps it from walking the block
 * index for the order instead (a seller has a few wallets and their sales
 * are sorted in memory). */
static const char SQL_SALES[] =
    "SELECT" PURCHASE_COLUMNS " FROM chain_events l"
    " WHERE l.name = 'LicensePurchased' AND json_extract(l.args, '$.seller') IN"
    "  (SELECT +address FROM chain_wallets WHERE user_id = ?)"
    " ORDER BY +l.block_number DESC, l.log_index DESC LIMIT 1000";

int store_sales_sold(struct store *s, int64_t user_id, json_t **out, struct ag_err *e)
{
    return sdb_rows_by_id(s, SQL_SALES, user_id, out, e);
}
