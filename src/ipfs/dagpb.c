/* dagpb.c - dag-pb and UnixFS protobuf encoding and strict decoding. */
#include "core/common.h"

#include "ipfs/dagpb.h"

size_t pb_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < len && i < 10; i++) {
        if (i == 9 && p[i] > 1)
            return 0; /* past 64 bits */
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

int pb_put_varint(struct buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    return buf_add(out, tmp, n);
}

static int put_bytes_field(struct buf *out, unsigned field, const void *p, size_t n)
{
    int rc = pb_put_varint(out, (uint64_t)field << 3 | 2);

    if (!rc)
        rc = pb_put_varint(out, n);
    if (!rc && n)
        rc = buf_add(out, p, n);
    return rc;
}

static int put_varint_field(struct buf *out, unsigned field, uint64_t v)
{
    int rc = pb_put_varint(out, (uint64_t)field << 3);

    return rc ? rc : pb_put_varint(out, v);
}

/* A cursor over protobuf bytes. */
struct pbr {
    const uint8_t *p;
    size_t len, i;
};

/* Reads a tag; returns 0 or AG_EINVAL. */
static int pbr_tag(struct pbr *r, uint64_t *field, unsigned *wire)
{
    uint64_t t;
    size_t k = pb_varint(r->p + r->i, r->len - r->i, &t);

    if (!k)
        return AG_EINVAL;
    r->i += k;
    *field = t >> 3;
    *wire = (unsigned)(t & 7);
    return 0;
}

static int pbr_varint(struct pbr *r, uint64_t *v)
{
    size_t k = pb_varint(r->p + r->i, r->len - r->i, v);

    if (!k)
        return AG_EINVAL;
    r->i += k;
    return 0;
}

static int pbr_bytes(struct pbr *r, const uint8_t **p, size_t *n)
{
    uint64_t l;

    if (pbr_varint(r, &l) || l > r->len - r->i)
        return AG_EINVAL;
    *p = r->p + r->i;
    *n = (size_t)l;
    r->i += (size_t)l;
    return 0;
}

static int decode_link(struct pb_link *l, const uint8_t *p, size_t len, struct ag_err *e)
{
    struct pbr r = {p, len, 0};
    bool has_hash = false;
    const uint8_t *b;
    size_t n;
    uint64_t field;
    unsigned wire;

    memset(l, 0, sizeof(*l));
    while (r.i < r.len) {
        if (pbr_tag(&r, &field, &wire))
            return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: truncated tag");
        if (field == 1) {
            if (has_hash)
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: duplicate Hash");
            if (l->has_name || l->has_tsize)
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: Hash after Name or Tsize");
            if (wire != 2 || pbr_bytes(&r, &b, &n))
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: bad Hash field");
            if (cid_from_bytes(&l->cid, b, n, NULL, e))
                return AG_EINVAL;
            has_hash = true;
        } else if (field == 2) {
            if (l->has_name)
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: duplicate Name");
            if (l->has_tsize)
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: Name after Tsize");
            if (wire != 2 || pbr_bytes(&r, &l->name, &l->name_len))
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: bad Name field");
            l->has_name = true;
        } else if (field == 3) {
            if (l->has_tsize)
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: duplicate Tsize");
            if (wire != 0 || pbr_varint(&r, &l->tsize))
                return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: bad Tsize field");
            l->has_tsize = true;
        } else {
            return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: unknown field %" PRIu64, field);
        }
    }
    if (!has_hash)
        return ag_errf(e, AG_EINVAL, "dag-pb", "PBLink: missing Hash");
    return 0;
}

int pb_node_decode(struct pb_node *n, const uint8_t *p, size_t len, struct ag_err *e)
{
    struct pbr r = {p, len, 0};
    struct pb_node t;
    size_t cap = 0;
    const uint8_t *b;
    size_t bn;
    uint64_t field;
    unsigned wire;
    int rc = 0;

    memset(&t, 0, sizeof(t));
    if (len > PB_MAX_BLOCK) {
        rc = ag_errf(e, AG_ETOOBIG, "dag-pb", "block of %zu bytes exceeds %zu", len, PB_MAX_BLOCK);
        goto out;
    }
    while (r.i < r.len) {
        if (pbr_tag(&r, &field, &wire)) {
            rc = ag_errf(e, AG_EINVAL, "dag-pb", "PBNode: truncated tag");
            goto out;
        }
        if (wire != 2 || (field != 1 && field != 2)) {
            rc = ag_errf(e, AG_EINVAL, "dag-pb", "PBNode: unexpected field %" PRIu64
                         " wire type %u", field, wire);
            goto out;
        }
        if (pbr_bytes(&r, &b, &bn)) {
            rc = ag_errf(e, AG_EINVAL, "dag-pb", "PBNode: length runs past the block");
            goto out;
        }
        if (field == 1) {
            if (t.has_data) {
                rc = ag_errf(e, AG_EINVAL, "dag-pb", "PBNode: duplicate Data");
                goto out;
            }
            t.data = b;
            t.data_len = bn;
            t.has_data = true;
            continue;
        }
        if (t.has_data) {
            rc = ag_errf(e, AG_EINVAL, "dag-pb", "PBNode: Links after Data");
            goto out;
        }
        if (t.nlinks == PB_MAX_LINKS) {
            rc = ag_errf(e, AG_ETOOBIG, "dag-pb", "PBNode: more than %d links", PB_MAX_LINKS);
            goto out;
        }
        if (t.nlinks == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct pb_link *nl = realloc(t.links, ncap * sizeof(*nl));
            if (!nl) {
                rc = ag_err_set(e, AG_ENOMEM);
                goto out;
            }
            t.links = nl;
            cap = ncap;
        }
        rc = decode_link(&t.links[t.nlinks], b, bn, e);
        if (rc)
            goto out;
        t.nlinks++;
    }
    *n = t;
out:
    if (rc)
        free(t.links);
    return rc;
}

void pb_node_release(struct pb_node *n)
{
    free(n->links);
    memset(n, 0, sizeof(*n));
}

int pb_node_encode(const struct pb_node *n, struct buf *out)
{
    uint8_t cb[CID_MAX_BYTES];
    struct buf l;
    int rc = 0;

    buf_init(&l, 4096);
    for (size_t i = 0; !rc && i < n->nlinks; i++) {
        const struct pb_link *k = &n->links[i];
        buf_reset(&l);
        rc = put_bytes_field(&l, 1, cb, cid_to_bytes(&k->cid, cb));
        if (!rc && k->has_name)
            rc = put_bytes_field(&l, 2, k->name, k->name_len);
        if (!rc && k->has_tsize)
            rc = put_varint_field(&l, 3, k->tsize);
        if (!rc)
            rc = put_bytes_field(out, 2, l.p, l.n);
    }
    if (!rc && n->has_data)
        rc = put_bytes_field(out, 1, n->data, n->data_len);
    buf_release(&l);
    return rc;
}

static int add_blocksize(struct unixfs *u, size_t *cap, uint64_t v)
{
    if (u->nblocksizes == PB_MAX_LINKS)
        return AG_ETOOBIG;
    if (u->nblocksizes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        uint64_t *nb = realloc(u->blocksizes, ncap * sizeof(*nb));
        if (!nb)
            return AG_ENOMEM;
        u->blocksizes = nb;
        *cap = ncap;
    }
    u->blocksizes[u->nblocksizes++] = v;
    return 0;
}

/* Decodes UnixFS mtime {Seconds int64 = 1, FractionalNanoseconds fixed32 = 2}. */
static int decode_mtime(struct unixfs *u, const uint8_t *p, size_t len)
{
    struct pbr r = {p, len, 0};
    uint64_t field, v;
    unsigned wire;

    while (r.i < r.len) {
        if (pbr_tag(&r, &field, &wire))
            return AG_EINVAL;
        if (field == 1 && wire == 0) {
            if (pbr_varint(&r, &v))
                return AG_EINVAL;
            u->mtime_secs = (int64_t)v;
        } else if (field == 2 && wire == 5) {
            if (r.len - r.i < 4)
                return AG_EINVAL;
            u->mtime_nsecs = (uint32_t)r.p[r.i] | (uint32_t)r.p[r.i + 1] << 8 |
                             (uint32_t)r.p[r.i + 2] << 16 | (uint32_t)r.p[r.i + 3] << 24;
            r.i += 4;
        } else {
            return AG_EINVAL;
        }
    }
    u->has_mtime = true;
    return 0;
}

int unixfs_decode(struct unixfs *u, const uint8_t *p, size_t len, struct ag_err *e)
{
    struct pbr r = {p, len, 0};
    struct unixfs t;
    bool has_type = false;
    size_t cap = 0, bn;
    const uint8_t *b;
    uint64_t field, v;
    unsigned wire;
    int rc = 0;

    memset(&t, 0, sizeof(t));
    while (r.i < r.len) {
        if (pbr_tag(&r, &field, &wire)) {
            rc = ag_errf(e, AG_EINVAL, "unixfs", "truncated tag");
            goto out;
        }
        if (wire == 2 && (field == 2 || field == 4 || field == 8)) {
            if (pbr_bytes(&r, &b, &bn)) {
                rc = ag_errf(e, AG_EINVAL, "unixfs", "length runs past the data");
                goto out;
            }
            if (field == 2) {
                t.data = b;
                t.data_len = bn;
                t.has_data = true;
            } else if (field == 4) { /* packed blocksizes */
                struct pbr pr = {b, bn, 0};
                while (!rc && pr.i < pr.len)
                    rc = pbr_varint(&pr, &v) ? AG_EINVAL : add_blocksize(&t, &cap, v);
            } else {
                rc = decode_mtime(&t, b, bn);
            }
            if (rc) {
                rc = ag_errf(e, rc, "unixfs", "bad field %" PRIu64, field);
                goto out;
            }
            continue;
        }
        if (wire != 0 || field < 1 || field > 7 || field == 2 || pbr_varint(&r, &v)) {
            rc = ag_errf(e, AG_EINVAL, "unixfs", "unexpected field %" PRIu64 " wire type %u",
                         field, wire);
            goto out;
        }
        switch (field) {
        case 1:
            if (v > UNIXFS_HAMT_SHARD) {
                rc = ag_errf(e, AG_EINVAL, "unixfs", "unknown type %" PRIu64, v);
                goto out;
            }
            t.type = (int)v;
            has_type = true;
            break;
        case 3: t.filesize = v; t.has_filesize = true; break;
        case 4:
            rc = add_blocksize(&t, &cap, v);
            if (rc) {
                rc = ag_errf(e, rc, "unixfs", "too many blocksizes");
                goto out;
            }
            break;
        case 5: t.hashtype = v; t.has_hashtype = true; break;
        case 6: t.fanout = v; t.has_fanout = true; break;
        case 7: t.mode = (uint32_t)v; t.has_mode = true; break;
        }
    }
    if (!has_type) {
        rc = ag_errf(e, AG_EINVAL, "unixfs", "missing Type");
        goto out;
    }
    *u = t;
out:
    if (rc)
        free(t.blocksizes);
    return rc;
}

void unixfs_release(struct unixfs *u)
{
    free(u->blocksizes);
    memset(u, 0, sizeof(*u));
}

int unixfs_encode(const struct unixfs *u, struct buf *out)
{
    int rc = put_varint_field(out, 1, (uint64_t)u->type);

    if (!rc && u->has_data && u->data_len)
        rc = put_bytes_field(out, 2, u->data, u->data_len);
    if (!rc && u->has_filesize)
        rc = put_varint_field(out, 3, u->filesize);
    for (size_t i = 0; !rc && i < u->nblocksizes; i++)
        rc = put_varint_field(out, 4, u->blocksizes[i]);
    if (!rc && u->has_hashtype)
        rc = put_varint_field(out, 5, u->hashtype);
    if (!rc && u->has_fanout)
        rc = put_varint_field(out, 6, u->fanout);
    if (!rc && u->has_mode)
        rc = put_varint_field(out, 7, u->mode);
    if (!rc && u->has_mtime) {
        uint8_t m[16];
        struct buf mb;
        buf_init(&mb, 32);
        rc = put_varint_field(&mb, 1, (uint64_t)u->mtime_secs);
        if (!rc && u->mtime_nsecs) {
            m[0] = 0x15;
            for (int i = 0; i < 4; i++)
                m[1 + i] = (uint8_t)(u->mtime_nsecs >> (8 * i));
            rc = buf_add(&mb, m, 5);
        }
        if (!rc)
            rc = put_bytes_field(out, 8, mb.p, mb.n);
        buf_release(&mb);
    }
    return rc;
}

uint64_t unixfs_file_size(const struct unixfs *u)
{
    uint64_t s = u->data_len;

    for (size_t i = 0; i < u->nblocksizes; i++)
        s += u->blocksizes[i];
    return s;
}
