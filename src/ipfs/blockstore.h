/* blockstore.h - blocks on disk, sharded like Kubo's flatfs (next-to-last/2).
 *
 * Layout: DIR/SHARDING holds "/repo/flatfs/shard/v1/next-to-last/2"; a block
 * lives in DIR/XY/KEY.data where KEY is the RFC 4648 base32 (upper case, no
 * padding) of the block's multihash, as Kubo keys its flatfs since 0.12, and
 * XY the two characters before KEY's last one. Blocks are keyed by multihash
 * alone, so the same bytes under a raw and a dag-pb CID are stored once.
 * Identity CIDs are never stored: their bytes are in the CID.
 *
 * Writes go to a temporary file in the shard directory, are fsynced, renamed
 * into place and the directory fsynced: a crash leaves either no block or the
 * whole block (and at worst a ".tmp-*" file, which readers ignore). Reads
 * verify the hash unless verification is turned off: a block that does not
 * hash to its key is AG_ECORRUPT and its bytes are never returned.
 *
 * Errors are 0 or a negative AG_E* code with a message in the optional
 * `struct ag_err *`: AG_ENOTFOUND (no such block), AG_ECORRUPT, AG_ETOOBIG
 * (a block above BLOCKSTORE_MAX_BLOCK), AG_EIO (permissions, disk full and
 * other system errors, with strerror in the message).
 *
 * Group commit: between blockstore_batch_begin() and blockstore_batch_commit()
 * puts write their temporary files without an fsync each (with O_DIRECT when
 * the buffer allows, see BLOCKSTORE_DIRECT_ALIGN, else with their write-back
 * started at once by sync_file_range()). Every BLOCKSTORE_BATCH_BLOCKS
 * blocks or BLOCKSTORE_BATCH_BYTES bytes the staged blocks are made durable
 * with one syncfs() and renamed into place; blockstore_batch_commit() does
 * the same for the rest and syncs once more, so that every rename of the
 * batch is durable when it returns: only then may the caller reference the
 * blocks (pin them). A crash leaves whole blocks and ".tmp-*" files, never a
 * torn block; `agora gc` removes ".tmp-*" files older than its grace period
 * (blockstore_sweep_tmp()).
 *
 * Ownership: blockstore_open() returns a handle freed by blockstore_free()
 * (which aborts an open batch). A handle may be used from several threads at
 * once, puts into an open batch included; the batch's begin, commit and abort
 * belong to one thread, called when no put of the batch is in flight.
 * Several processes may share one directory.
 */
#ifndef AGORA_IPFS_BLOCKSTORE_H
#define AGORA_IPFS_BLOCKSTORE_H

#include "ipfs/cid.h"

#define BLOCKSTORE_MAX_BLOCK ((size_t)4 << 20)
#define BLOCKSTORE_BATCH_BLOCKS 512
#define BLOCKSTORE_BATCH_BYTES ((size_t)128 << 20)
/* A staged put whose bytes are whole 4 KiB blocks in a buffer aligned to
 * 4 KiB writes them with O_DIRECT, without a copy into the page cache:
 * callers that put many blocks (the importer) align their buffers. */
#define BLOCKSTORE_DIRECT_ALIGN ((size_t)4096)

struct blockstore;

/* blockstore_open() opens (creating if needed, mode 0755) the store in `dir`. */
int blockstore_open(struct blockstore **out, const char *dir, struct ag_err *e);
void blockstore_free(struct blockstore *bs);
/* blockstore_set_verify() turns hash checking on read on (the default) or off. */
void blockstore_set_verify(struct blockstore *bs, bool on);
/* blockstore_set_sync() turns fsync on (the default) or off (tests, --only-hash-like scratch stores). */
void blockstore_set_sync(struct blockstore *bs, bool on);
const char *blockstore_dir(const struct blockstore *bs);

/* blockstore_put() stores `data` under `cid`. The caller vouches that the
 * data hashes to the CID (use cid_verify() for bytes from outside). A block
 * already present is left as it is. */
int blockstore_put(struct blockstore *bs, const struct cid *cid, const void *data,
                   size_t len, struct ag_err *e);
/* blockstore_batch_begin() starts staging puts (AG_ECONFLICT if one is open). */
int blockstore_batch_begin(struct blockstore *bs, struct ag_err *e);
/* blockstore_batch_commit() makes every staged block durable and visible and
 * ends the batch; on failure the staged blocks are removed. */
int blockstore_batch_commit(struct blockstore *bs, struct ag_err *e);
/* blockstore_batch_abort() removes the staged blocks and ends the batch. */
void blockstore_batch_abort(struct blockstore *bs);

/* A fetch callback supplies a block the store lacks (from a Kubo node, say):
 * it appends the block's bytes to `out` (capped at BLOCKSTORE_MAX_BLOCK) and
 * returns 0, or a negative AG_E* code with a message in `e`. It may be called
 * from several threads at once. */
typedef int (*blockstore_fetch_fn)(void *ctx, const struct cid *cid, struct buf *out,
                                   struct ag_err *e);
/* blockstore_set_fetch() makes blockstore_get() fall back to `fn` (NULL: no
 * fallback). Set it before the handle is shared between threads. */
void blockstore_set_fetch(struct blockstore *bs, blockstore_fetch_fn fn, void *ctx);
bool blockstore_can_fetch(const struct blockstore *bs);

/* blockstore_get() appends the block to `out` (left unchanged on failure).
 * A block missing here is asked of the fetch callback, if one is set: its
 * bytes must hash to the CID (AG_ECORRUPT otherwise, nothing kept), are
 * stored, then returned; a failed fetch is AG_ENOTFOUND with the reason. */
int blockstore_get(struct blockstore *bs, const struct cid *cid, struct buf *out,
                   struct ag_err *e);
/* blockstore_has() returns 1 if present, 0 if not, or a negative AG_E* code. */
int blockstore_has(struct blockstore *bs, const struct cid *cid, struct ag_err *e);
/* blockstore_delete() removes a block; AG_ENOTFOUND if it was not there. */
int blockstore_delete(struct blockstore *bs, const struct cid *cid, struct ag_err *e);
/* blockstore_iterate() calls fn for every stored block, as a CIDv1 raw CID of
 * its multihash (the store does not know codecs); a non-zero return from fn
 * stops the walk and is returned. Files that are not blocks are skipped. */
int blockstore_iterate(struct blockstore *bs, int (*fn)(void *ctx, const struct cid *cid),
                       void *ctx, struct ag_err *e);
/* blockstore_sweep_tmp() removes the ".tmp-*" files (writes a crash cut
 * short) in the store's directory and its shard directories whose mtime is
 * before `cutoff` (seconds since the epoch); with `dry_run` it only counts
 * them. A live write's temporary file is younger than any sane grace period:
 * it exists from its put to its batch's commit, which is at most
 * BLOCKSTORE_BATCH_BYTES of writing later; should a stalled batch lose one
 * anyway, its commit fails (AG_EIO) and nothing references the block.
 * *removed and *bytes (either may be NULL) count what went (or would go).
 * AG_EIO when the store's directory cannot be listed. */
int blockstore_sweep_tmp(struct blockstore *bs, int64_t cutoff, bool dry_run, uint64_t *removed,
                         uint64_t *bytes, struct ag_err *e);
/* blockstore_path() writes the block's file path into `out`; AG_ETOOBIG if it does not fit. */
int blockstore_path(const struct blockstore *bs, const struct cid *cid, char *out, size_t size);

#endif
