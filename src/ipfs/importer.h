/* importer.h - the streaming UnixFS file importer (`ipfs add` compatible).
 *
 * Produces byte for byte the DAG that Kubo's `ipfs add` and the JS
 * ipfs-unixfs-importer produce: a fixed-size chunker, leaves that are raw
 * blocks (CIDv1) or dag-pb nodes holding UnixFS type File (CIDv0, or
 * raw_leaves off), and the balanced layout with at most `max_links` children
 * per node, sha2-256 everywhere. A single-chunk file's root is its leaf; the
 * empty file is one empty leaf.
 *
 * Streaming: bytes go in through importer_write()/importer_add_fd(); each
 * block is handed to the `put` callback as soon as it is complete, leaves in
 * file order, a parent right after its last child. Memory is bounded by one
 * batch of chunks (about IMPORTER_BATCH_BYTES) plus one frontier of at most
 * `max_links` links per tree level, whatever the file size. Leaves of a batch
 * are hashed on `threads` threads (two by default: one per core here; more
 * pay only when puts wait for the disk, see parallel_put).
 *
 * With `parallel_put` (raw leaves only), each hashing thread puts the leaves
 * it hashed itself, right after hashing them (the chunk still in its CPU's
 * cache): `put` is then called from several threads at once and leaves arrive in
 * any order, though every leaf still comes before the parent that links it.
 * A regular file read through importer_add_fd() then needs no batch buffer
 * either: each thread reads its chunks into its own one-chunk buffer.
 *
 * Ownership: the importer owns its buffers; the bytes passed to `put` are
 * valid only during the call. The caller frees the importer with
 * importer_free() whatever happened.
 */
#ifndef AGORA_IPFS_IMPORTER_H
#define AGORA_IPFS_IMPORTER_H

#include "ipfs/cid.h"

#define IMPORTER_DEFAULT_CHUNK 262144
#define IMPORTER_MAX_CHUNK 1048576      /* Kubo's chunker limit */
#define IMPORTER_DEFAULT_LINKS 174
#define IMPORTER_MAX_LINKS 1024
#define IMPORTER_BATCH_BYTES ((size_t)4 << 20)
#define IMPORTER_MAX_THREADS 8
/* Threads for an import whose puts write to disk (parallel_put): a thread
 * waiting on its write leaves its core to another's hashing; measured on 2
 * cores, 1 GiB: 6 threads 0.82-0.87 s, 4 0.95-1.08 s, 8 0.80-0.89 s. */
#define IMPORTER_PUT_THREADS 6

/* put() receives each finished block; a non-zero return aborts the import
 * and is returned by the importer call that triggered it. */
typedef int (*ipfs_put_fn)(void *ctx, const struct cid *cid, const uint8_t *data, size_t len);

struct importer_opts {
    int cid_version;       /* 0 or 1 */
    bool raw_leaves;       /* raw leaves are CIDv1 even when cid_version is 0 */
    size_t chunk_size;     /* 1..IMPORTER_MAX_CHUNK */
    unsigned max_links;    /* 2..IMPORTER_MAX_LINKS */
    int threads;           /* 1..IMPORTER_MAX_THREADS hashing (and putting) threads */
    bool parallel_put;     /* put raw leaves from the hashing threads (see above) */
};

/* importer_opts_default() sets CIDv1, raw leaves, 256 KiB chunks, 174 links, 2 threads,
 * no parallel puts. */
void importer_opts_default(struct importer_opts *o);
/* importer_parse_chunker() reads "size-N" into `chunk_size`; AG_EINVAL (message
 * in `e`) for any other chunker or a size outside 1..IMPORTER_MAX_CHUNK. */
int importer_parse_chunker(const char *spec, size_t *chunk_size, struct ag_err *e);

struct importer;

/* importer_new() returns 0, AG_EINVAL for bad options (message in `e`) or AG_ENOMEM.
 * `put` may be NULL to only compute the CID. */
int importer_new(struct importer **out, const struct importer_opts *o, ipfs_put_fn put,
                 void *ctx, struct ag_err *e);
/* importer_write() feeds bytes; returns 0 or the put callback's error. */
int importer_write(struct importer *im, const void *data, size_t len);
/* importer_add_fd() reads `fd` to its end into the importer; AG_EIO (message
 * in `e`) when a read fails or a regular file changes under it, or the put
 * callback's error. A regular file is read with pread() by the hashing threads
 * themselves (each chunk hashed while still in cache), which leaves the file
 * offset where it was; pipes and sockets are read() in batches. */
int importer_add_fd(struct importer *im, int fd, struct ag_err *e);
/* importer_finish() flushes the last chunk and the tree and gives the root
 * CID, the file size and the DAG's total size (the root's Tsize). After it,
 * only importer_free() may be called. */
int importer_finish(struct importer *im, struct cid *root, uint64_t *file_size,
                    uint64_t *dag_size);
void importer_free(struct importer *im);

#endif
