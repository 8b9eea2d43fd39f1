/* cid.h - multihash, multibase and CID v0/v1: parse, format, validate.
 *
 * A `struct cid` is a plain value (no heap memory): copy it with `=`.
 * Invariants of a CID returned by any function here: version is 0 or 1;
 * a v0 CID is always dag-pb + sha2-256 with a 32-byte digest; digest_len is
 * at most CID_MAX_DIGEST; a sha2-256 multihash always has a 32-byte digest.
 *
 * Strings: v0 CIDs are the 46-character base58btc "Qm..." form; v1 CIDs are
 * multibase strings, formatted as base32 lower ('b') by default and parsed
 * from 'b' (base32 lower), 'B' (base32 upper), 'z' (base58btc) and
 * 'f' (base16 lower). Every parser caps its input (CID_MAX_STR characters).
 */
#ifndef AGORA_IPFS_CID_H
#define AGORA_IPFS_CID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

enum {
    MC_IDENTITY = 0x00,   /* multihash: the digest is the data itself */
    MC_SHA2_256 = 0x12,   /* multihash: sha2-256 */
    MC_RAW = 0x55,        /* codec: raw bytes */
    MC_DAG_PB = 0x70,     /* codec: dag-pb (UnixFS) */
    MC_DAG_CBOR = 0x71,   /* codec: dag-cbor */
};

#define CID_MAX_DIGEST 128   /* identity digests above this are refused (as Kubo does) */
#define CID_MAX_BYTES (1 + 10 + 10 + 10 + 10 + CID_MAX_DIGEST)
#define CID_MAX_STR 512      /* longest CID string accepted or produced, with NUL */

struct cid {
    uint8_t version;     /* 0 or 1 */
    uint64_t codec;      /* MC_DAG_PB, MC_RAW, ... */
    uint64_t mh_code;    /* MC_SHA2_256, MC_IDENTITY, ... */
    size_t digest_len;
    uint8_t digest[CID_MAX_DIGEST];
};

/* cid_from_bytes() reads one binary CID from the start of `p` (a CAR section
 * or a dag-pb link may hold more bytes after it). It returns 0 and stores the
 * bytes used in `*used` (which may be NULL only when the whole input must be
 * the CID, in which case trailing bytes are AG_EINVAL), or AG_EINVAL with a
 * message in `e` for a truncated, non-minimal or otherwise malformed CID. */
int cid_from_bytes(struct cid *c, const uint8_t *p, size_t len, size_t *used,
                   struct ag_err *e);
/* cid_to_bytes() writes the binary CID into `out` (CID_MAX_BYTES suffice) and
 * returns its length. */
size_t cid_to_bytes(const struct cid *c, uint8_t out[CID_MAX_BYTES]);
/* cid_mh_bytes() writes the multihash alone (code, length, digest) and
 * returns its length. */
size_t cid_mh_bytes(const struct cid *c, uint8_t out[CID_MAX_BYTES]);

/* cid_parse() parses a CID string (v0 "Qm..." or multibase v1). It returns
 * 0, or AG_EINVAL with a message naming what is wrong. */
int cid_parse(struct cid *c, const char *s, struct ag_err *e);
/* cid_format() writes the canonical string (v0 base58btc, v1 base32 lower)
 * into `out` and returns 0, or AG_ETOOBIG if `size` is too small
 * (CID_MAX_STR always suffices). */
int cid_format(const struct cid *c, char *out, size_t size);
/* cid_format_base() is cid_format() with a chosen multibase: 'b' or 'z'
 * (a v0 CID is always written in its own base58 form). AG_EINVAL for other bases. */
int cid_format_base(const struct cid *c, char base, char *out, size_t size);

/* cid_hash() makes a sha2-256 CID of `data` with `version` and `codec`
 * (a v0 CID requires codec dag-pb). */
void cid_hash(struct cid *c, int version, uint64_t codec, const void *data, size_t len);
/* cid_identity() makes a v1 identity CID of up to CID_MAX_DIGEST bytes;
 * AG_ETOOBIG past that. */
int cid_identity(struct cid *c, uint64_t codec, const void *data, size_t len);
/* cid_verify() returns 0 when `data` hashes to the CID's multihash,
 * AG_ECORRUPT when it does not, AG_EUNPROCESSABLE for a hash function we do
 * not implement. */
int cid_verify(const struct cid *c, const void *data, size_t len);
/* cid_same_mh() compares only the multihashes (the key of the blockstore). */
bool cid_same_mh(const struct cid *a, const struct cid *b);
bool cid_equal(const struct cid *a, const struct cid *b);
/* cid_to_v1() converts a v0 CID into its v1 form (same codec and multihash). */
void cid_to_v1(struct cid *c);

/* mh_sha256() is SHA-256 through OpenSSL (SHA-NI where the CPU has it). */
void mh_sha256(const void *data, size_t len, uint8_t out[32]);

#endif
