/* kubo.h - the Kubo RPC client's block fetch, as a blockstore fetch callback (kubo.c).
 *
 * market_kubo_fetch() asks the configured Kubo node for one block with
 * `POST /api/v0/block/get?arg=CID` (Kubo RPC v0.32) and appends its bytes to
 * `out`. `ctx` is the struct market. It does not check the hash: the
 * blockstore does, before keeping or serving the bytes. Fails with
 * AG_EUNAVAILABLE (no Kubo configured, unreachable, or it answered an error:
 * the message says which), AG_ETOOBIG (a reply above the block limit).
 * Thread-safe: each call uses its own connection.
 */
#ifndef AGORA_MARKET_KUBO_H
#define AGORA_MARKET_KUBO_H

#include "core/buf.h"
#include "core/err.h"

struct cid;

int market_kubo_fetch(void *ctx, const struct cid *cid, struct buf *out, struct ag_err *e);

#endif
