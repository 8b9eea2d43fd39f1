/* cid.c - multihash, multibase and CID v0/v1 parsing and formatting. */
#include "core/common.h"

#include <openssl/sha.h>

#include "core/encoding.h"
#include "ipfs/cid.h"

void mh_sha256(const void *data, size_t len, uint8_t out[32])
{
    SHA256(data, len, out);
}

/* Reads the multihash at `p`; returns bytes used or 0 (message in `e`). */
static size_t mh_read(struct cid *c, const uint8_t *p, size_t len, struct ag_err *e)
{
    uint64_t code, dlen;
    size_t n1, n2;

    n1 = varint_get(p, len, &code);
    if (!n1) {
        ag_errf(e, AG_EINVAL, "cid", "multihash code is not a valid varint");
        return 0;
    }
    n2 = varint_get(p + n1, len - n1, &dlen);
    if (!n2) {
        ag_errf(e, AG_EINVAL, "cid", "multihash length is not a valid varint");
        return 0;
    }
    if (dlen > CID_MAX_DIGEST) {
        ag_errf(e, AG_EINVAL, "cid", "multihash digest of %" PRIu64 " bytes exceeds %d",
                dlen, CID_MAX_DIGEST);
        return 0;
    }
    if (code == MC_SHA2_256 && dlen != 32) {
        ag_errf(e, AG_EINVAL, "cid", "sha2-256 digest must be 32 bytes, not %" PRIu64, dlen);
        return 0;
    }
    if (len - n1 - n2 < dlen) {
        ag_errf(e, AG_EINVAL, "cid", "multihash is truncated");
        return 0;
    }
    c->mh_code = code;
    c->digest_len = (size_t)dlen;
    memcpy(c->digest, p + n1 + n2, (size_t)dlen);
    return n1 + n2 + (size_t)dlen;
}

int cid_from_bytes(struct cid *c, const uint8_t *p, size_t len, size_t *used,
                   struct ag_err *e)
{
    struct cid t;
    uint64_t version, codec;
    size_t n = 0, k;

    memset(&t, 0, sizeof(t));
    if (len >= 2 && p[0] == MC_SHA2_256 && p[1] == 32) {
        /* CIDv0: a bare sha2-256 multihash. */
        if (len < 34)
            return ag_errf(e, AG_EINVAL, "cid", "CIDv0 is truncated");
        t.version = 0;
        t.codec = MC_DAG_PB;
        t.mh_code = MC_SHA2_256;
        t.digest_len = 32;
        memcpy(t.digest, p + 2, 32);
        n = 34;
    } else {
        k = varint_get(p, len, &version);
        if (!k)
            return ag_errf(e, AG_EINVAL, "cid", "CID version is not a valid varint");
        if (version != 1)
            return ag_errf(e, AG_EINVAL, "cid", "unsupported CID version %" PRIu64, version);
        n = k;
        k = varint_get(p + n, len - n, &codec);
        if (!k)
            return ag_errf(e, AG_EINVAL, "cid", "CID codec is not a valid varint");
        n += k;
        t.version = 1;
        t.codec = codec;
        k = mh_read(&t, p + n, len - n, e);
        if (!k)
            return AG_EINVAL;
        n += k;
    }
    if (!used && n != len)
        return ag_errf(e, AG_EINVAL, "cid", "trailing bytes after the CID");
    if (used)
        *used = n;
    *c = t;
    return 0;
}

size_t cid_mh_bytes(const struct cid *c, uint8_t out[CID_MAX_BYTES])
{
    size_t n = varint_put(out, c->mh_code);

    n += varint_put(out + n, c->digest_len);
    memcpy(out + n, c->digest, c->digest_len);
    return n + c->digest_len;
}

size_t cid_to_bytes(const struct cid *c, uint8_t out[CID_MAX_BYTES])
{
    size_t n = 0;

    if (c->version == 1) {
        n = varint_put(out, 1);
        n += varint_put(out + n, c->codec);
    }
    return n + cid_mh_bytes(c, out + n);
}

int cid_parse(struct cid *c, const char *s, struct ag_err *e)
{
    struct buf b, low;
    size_t len = s ? strlen(s) : 0;
    int rc;

    buf_init(&b, CID_MAX_BYTES);
    buf_init(&low, CID_MAX_STR);
    if (len < 2)
        return ag_errf(e, AG_EINVAL, "cid", "CID is empty or too short");
    if (len >= CID_MAX_STR)
        return ag_errf(e, AG_EINVAL, "cid", "CID is longer than %d characters", CID_MAX_STR - 1);
    if (len == 46 && s[0] == 'Q' && s[1] == 'm') {
        rc = base58_decode(&b, s, len);
        if (rc == 0 && (b.n != 34 || (uint8_t)b.p[0] != MC_SHA2_256 || (uint8_t)b.p[1] != 32))
            rc = AG_EINVAL;
        if (rc) {
            rc = ag_errf(e, AG_EINVAL, "cid", "invalid CIDv0 \"%.46s\"", s);
            goto out;
        }
        rc = cid_from_bytes(c, (const uint8_t *)b.p, b.n, NULL, e);
        goto out;
    }
    switch (s[0]) {
    case 'b':
        rc = base32_decode(&b, s + 1, len - 1);
        break;
    case 'B':
        /* Upper-case base32: lower it; a lower-case letter in it is an error. */
        rc = 0;
        for (size_t i = 1; !rc && i < len; i++) {
            if (s[i] >= 'a' && s[i] <= 'z')
                rc = AG_EINVAL;
            else
                rc = buf_addc(&low, (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]));
        }
        if (!rc)
            rc = base32_decode(&b, low.p, low.n);
        break;
    case 'z':
        rc = base58_decode(&b, s + 1, len - 1);
        break;
    case 'f':
        rc = hex_decode(&b, s + 1, len - 1);
        for (size_t i = 1; rc == 0 && i < len; i++)
            if (s[i] >= 'A' && s[i] <= 'F')
                rc = AG_EINVAL;
        break;
    default:
        rc = ag_errf(e, AG_EINVAL, "cid", "unsupported multibase prefix '%c'", s[0]);
        goto out;
    }
    if (rc) {
        rc = ag_errf(e, AG_EINVAL, "cid", "CID is not valid multibase '%c' text", s[0]);
        goto out;
    }
    if (b.n >= 1 && (uint8_t)b.p[0] == MC_SHA2_256) {
        rc = ag_errf(e, AG_EINVAL, "cid", "a CIDv0 cannot be multibase-encoded");
        goto out;
    }
    rc = cid_from_bytes(c, (const uint8_t *)b.p, b.n, NULL, e);
out:
    buf_release(&b);
    buf_release(&low);
    return rc;
}

int cid_format_base(const struct cid *c, char base, char *out, size_t size)
{
    uint8_t bytes[CID_MAX_BYTES];
    size_t n = cid_to_bytes(c, bytes);
    struct buf b;
    int rc;

    buf_init(&b, CID_MAX_STR);
    if (c->version == 0) {
        rc = base58_encode(&b, bytes, n);
    } else if (base == 'b' || base == 'z') {
        rc = buf_addc(&b, base);
        if (!rc)
            rc = base == 'b' ? base32_encode(&b, bytes, n) : base58_encode(&b, bytes, n);
    } else {
        rc = AG_EINVAL;
    }
    if (!rc && b.n >= size)
        rc = AG_ETOOBIG;
    if (!rc)
        memcpy(out, b.p, b.n + 1);
    buf_release(&b);
    return rc;
}

int cid_format(const struct cid *c, char *out, size_t size)
{
    return cid_format_base(c, 'b', out, size);
}

void cid_hash(struct cid *c, int version, uint64_t codec, const void *data, size_t len)
{
    assert(version == 1 || codec == MC_DAG_PB);
    memset(c, 0, sizeof(*c));
    c->version = (uint8_t)version;
    c->codec = codec;
    c->mh_code = MC_SHA2_256;
    c->digest_len = 32;
    mh_sha256(data, len, c->digest);
}

int cid_identity(struct cid *c, uint64_t codec, const void *data, size_t len)
{
    if (len > CID_MAX_DIGEST)
        return AG_ETOOBIG;
    memset(c, 0, sizeof(*c));
    c->version = 1;
    c->codec = codec;
    c->mh_code = MC_IDENTITY;
    c->digest_len = len;
    if (len)
        memcpy(c->digest, data, len);
    return 0;
}

int cid_verify(const struct cid *c, const void *data, size_t len)
{
    uint8_t d[32];

    if (c->mh_code == MC_SHA2_256) {
        mh_sha256(data, len, d);
        return memcmp(d, c->digest, 32) ? AG_ECORRUPT : 0;
    }
    if (c->mh_code == MC_IDENTITY)
        return len == c->digest_len && (!len || !memcmp(data, c->digest, len)) ? 0 : AG_ECORRUPT;
    return AG_EUNPROCESSABLE;
}

bool cid_same_mh(const struct cid *a, const struct cid *b)
{
    return a->mh_code == b->mh_code && a->digest_len == b->digest_len &&
           !memcmp(a->digest, b->digest, a->digest_len);
}

bool cid_equal(const struct cid *a, const struct cid *b)
{
    return a->version == b->version && a->codec == b->codec && cid_same_mh(a, b);
}

void cid_to_v1(struct cid *c)
{
    c->version = 1;
}
