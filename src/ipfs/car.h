/* car.h - CARv1 (content-addressed archive) writer and reader.
 *
 * A CARv1 is a varint-length-prefixed dag-cbor header {roots: [CID...],
 * version: 1} followed by sections, each a varint length then a binary CID
 * and the block bytes. The header is written and read by a tiny hand-written
 * dag-cbor codec that knows exactly this shape.
 *
 * Caps: a header of at most CAR_MAX_HEADER bytes and CAR_MAX_ROOTS roots; a
 * section of at most CAR_MAX_SECTION bytes. Anything else (CARv2, unknown
 * header keys, zero-length or truncated sections, bad CIDs) is AG_EINVAL or
 * AG_EUNPROCESSABLE with a message. The reader does not verify hashes: the
 * caller runs cid_verify() on every block it accepts.
 */
#ifndef AGORA_IPFS_CAR_H
#define AGORA_IPFS_CAR_H

#include <stdio.h>

#include "ipfs/blockstore.h"

#define CAR_MAX_HEADER 65536
#define CAR_MAX_ROOTS 64
#define CAR_MAX_SECTION (BLOCKSTORE_MAX_BLOCK + CID_MAX_BYTES)

/* car_write_header() appends the header with `nroots` roots to `out`. */
int car_write_header(struct buf *out, const struct cid *roots, size_t nroots);
/* car_write_section() appends one block's section to `out`. */
int car_write_section(struct buf *out, const struct cid *cid, const uint8_t *data, size_t len);

/* car_export() writes a CARv1 with `root` as its only root and every block of
 * its DAG once, in depth-first order, to `f`. AG_EIO when writing fails. */
int car_export(struct blockstore *bs, const struct cid *root, FILE *f, struct ag_err *e);

struct car_reader {
    FILE *f;
    struct cid roots[CAR_MAX_ROOTS];
    size_t nroots;
    uint64_t offset;       /* bytes consumed so far */
};

/* car_reader_open() reads the header from `f` (which the caller keeps owning). */
int car_reader_open(struct car_reader *r, FILE *f, struct ag_err *e);
/* car_reader_next() reads the next block: returns 1 with `cid` set and the
 * bytes appended to `data` (after buf_reset by the caller), 0 at a clean end,
 * or a negative AG_E* code. */
int car_reader_next(struct car_reader *r, struct cid *cid, struct buf *data, struct ag_err *e);
/* car_parse_header() parses header bytes (without the length prefix). */
int car_parse_header(struct car_reader *r, const uint8_t *p, size_t len, struct ag_err *e);

/* car_import() reads a whole CAR from `f`, verifies every block against its
 * CID (AG_ECORRUPT on a mismatch; blocks before it are kept, they are valid)
 * and stores them, group-committed (see blockstore.h) unless the caller has
 * a batch open. It gives the roots and the number of blocks stored. */
int car_import(struct blockstore *bs, FILE *f, struct car_reader *r, uint64_t *nblocks,
               struct ag_err *e);

#endif
