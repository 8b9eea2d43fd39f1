/* dagpb.h - dag-pb (PBNode/PBLink) and UnixFS Data: canonical encode, strict decode.
 *
 * Encoding is canonical per the dag-pb spec: in a PBNode the Links (field 2)
 * come before Data (field 1); in a PBLink, Hash (1), Name (2), Tsize (3) in
 * that order, each only when present. Decoding is strict like @ipld/dag-pb:
 * unknown fields, wrong wire types, duplicate or misordered fields, links
 * without a Hash, bad CIDs, truncated varints and lengths past the input are
 * AG_EINVAL (message in `e`). Inputs are capped at PB_MAX_BLOCK bytes and
 * PB_MAX_LINKS links.
 *
 * Ownership: a decoded node's `data`, link names and UnixFS `data` point into
 * the input bytes, which must outlive the decoded struct; the arrays
 * (`links`, `blocksizes`) are malloc'd and freed by the *_release() function.
 */
#ifndef AGORA_IPFS_DAGPB_H
#define AGORA_IPFS_DAGPB_H

#include "ipfs/cid.h"

#define PB_MAX_BLOCK ((size_t)4 << 20)   /* largest block we decode */
#define PB_MAX_LINKS 65536

struct pb_link {
    struct cid cid;
    const uint8_t *name;
    size_t name_len;
    bool has_name;
    uint64_t tsize;
    bool has_tsize;
};

struct pb_node {
    const uint8_t *data;
    size_t data_len;
    bool has_data;
    struct pb_link *links;
    size_t nlinks;
};

/* pb_node_decode() fills `n` from `len` bytes at `p`; 0 or AG_EINVAL /
 * AG_ETOOBIG / AG_ENOMEM. `n` needs no release after a failure. */
int pb_node_decode(struct pb_node *n, const uint8_t *p, size_t len, struct ag_err *e);
void pb_node_release(struct pb_node *n);
/* pb_node_encode() appends the canonical bytes of `n` to `out` (links are
 * written in the given order: callers sort named links). 0, AG_ENOMEM or AG_ETOOBIG. */
int pb_node_encode(const struct pb_node *n, struct buf *out);

enum unixfs_type {
    UNIXFS_RAW = 0,
    UNIXFS_DIRECTORY = 1,
    UNIXFS_FILE = 2,
    UNIXFS_METADATA = 3,
    UNIXFS_SYMLINK = 4,
    UNIXFS_HAMT_SHARD = 5,
};

struct unixfs {
    int type;              /* enum unixfs_type */
    const uint8_t *data;
    size_t data_len;
    bool has_data;
    uint64_t filesize;
    bool has_filesize;
    uint64_t *blocksizes;
    size_t nblocksizes;
    uint64_t hashtype, fanout;
    bool has_hashtype, has_fanout;
    uint32_t mode;
    bool has_mode;
    int64_t mtime_secs;
    uint32_t mtime_nsecs;
    bool has_mtime;
};

/* unixfs_decode() parses a UnixFS Data message (the Data of a dag-pb node).
 * Type is required; blocksizes may be packed or not. 0 or AG_EINVAL/AG_ENOMEM. */
int unixfs_decode(struct unixfs *u, const uint8_t *p, size_t len, struct ag_err *e);
void unixfs_release(struct unixfs *u);
/* unixfs_encode() appends the message as ipfs-unixfs and Kubo write it:
 * Type, Data (if non-empty), filesize (if set), blocksizes one varint field
 * each (not packed), then the optional fields. */
int unixfs_encode(const struct unixfs *u, struct buf *out);
/* unixfs_file_size() is data_len plus the sum of blocksizes (ipfs-unixfs's fileSize()). */
uint64_t unixfs_file_size(const struct unixfs *u);

/* Protobuf helpers shared with car.c: pb_varint() reads a 64-bit protobuf
 * varint (at most 10 bytes) and returns bytes used or 0 when malformed. */
size_t pb_varint(const uint8_t *p, size_t len, uint64_t *v);
int pb_put_varint(struct buf *out, uint64_t v);

#endif
