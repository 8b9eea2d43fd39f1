/* exporter.h - read UnixFS files back from a blockstore, and walk DAGs.
 *
 * exporter_read() serves any byte range of a file by walking the
 * `blocksizes` of each node: it fetches only the blocks that overlap the
 * range. Every block is verified by the blockstore (when verification is on)
 * and checked against its parent: a leaf whose size differs from its
 * blocksize entry, a node whose links and blocksizes disagree or a DAG deeper
 * than EXPORTER_MAX_DEPTH is AG_ECORRUPT, never silently served.
 *
 * Bytes reach the caller through the sink; they are valid only during the call.
 */
#ifndef AGORA_IPFS_EXPORTER_H
#define AGORA_IPFS_EXPORTER_H

#include "ipfs/blockstore.h"

#define EXPORTER_MAX_DEPTH 32

typedef int (*ipfs_sink_fn)(void *ctx, const uint8_t *p, size_t n);

/* exporter_size() gives the file size recorded in the root (a raw block's
 * length). AG_EUNPROCESSABLE if the root is not a UnixFS file or raw block;
 * blockstore errors otherwise. */
int exporter_size(struct blockstore *bs, const struct cid *root, uint64_t *size,
                  struct ag_err *e);
/* exporter_read() sends bytes [offset, offset+length) of the file (clipped at
 * its end; length UINT64_MAX means "to the end") to `sink` in order. An offset
 * past the end is AG_EINVAL. A sink's non-zero return stops it and is returned. */
int exporter_read(struct blockstore *bs, const struct cid *root, uint64_t offset,
                  uint64_t length, ipfs_sink_fn sink, void *ctx, struct ag_err *e);

/* A cursor reads a file at any offsets, keeping the path from the root to
 * the block it last read (each block decoded once and verified by the
 * blockstore when loaded): sequential reads fetch every block once, a seek
 * re-reads only the levels below where the paths part. Same checks as
 * exporter_read(). Memory: one block per level (at most EXPORTER_MAX_DEPTH).
 * A cursor belongs to one thread. */
struct exporter_cursor;

/* exporter_cursor_open() reads and checks the root; AG_EUNPROCESSABLE if it
 * is not a UnixFS file or raw block, blockstore errors otherwise. */
int exporter_cursor_open(struct exporter_cursor **out, struct blockstore *bs,
                         const struct cid *root, struct ag_err *e);
void exporter_cursor_free(struct exporter_cursor *cur);
uint64_t exporter_cursor_size(const struct exporter_cursor *cur);
/* exporter_cursor_peek() points *p at the file's bytes from `pos` to the end
 * of the block holding them (*n of them; valid until the next call), without
 * copying; *n = 0 at the end of the file. AG_EINVAL past the end. */
int exporter_cursor_peek(struct exporter_cursor *cur, uint64_t pos, const uint8_t **p, size_t *n,
                         struct ag_err *e);
/* exporter_cursor_read() copies up to `len` bytes from `pos` (fewer only at
 * the end of the file) and sets *n. */
int exporter_cursor_read(struct exporter_cursor *cur, uint64_t pos, void *out, size_t len,
                         size_t *n, struct ag_err *e);

/* dag_walk() visits every block reachable from `root` once, depth-first in
 * link order (the CAR "dfs" order), calling fn with each block's bytes.
 * dag-pb links are followed; raw and identity blocks have none; other codecs
 * are visited but not descended into. A missing block is AG_ENOTFOUND. */
typedef int (*ipfs_block_fn)(void *ctx, const struct cid *cid, const uint8_t *data, size_t len);
int dag_walk(struct blockstore *bs, const struct cid *root, ipfs_block_fn fn, void *ctx,
             struct ag_err *e);

#endif
