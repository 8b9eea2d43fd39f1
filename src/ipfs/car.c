/* car.c - CARv1 writing and strict, capped reading, with the header's dag-cbor by hand. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/util.h"
#include "ipfs/car.h"
#include "ipfs/exporter.h"

static int cbor_head(struct buf *out, unsigned major, uint64_t v)
{
    uint8_t h[9];
    size_t n = 1;

    if (v < 24) {
        h[0] = (uint8_t)(major << 5 | v);
    } else if (v <= 0xff) {
        h[0] = (uint8_t)(major << 5 | 24);
        h[n++] = (uint8_t)v;
    } else if (v <= 0xffff) {
        h[0] = (uint8_t)(major << 5 | 25);
        h[n++] = (uint8_t)(v >> 8);
        h[n++] = (uint8_t)v;
    } else {
        h[0] = (uint8_t)(major << 5 | 26);
        for (int i = 3; i >= 0; i--)
            h[n++] = (uint8_t)(v >> (8 * i));
    }
    return buf_add(out, h, n);
}

int car_write_header(struct buf *out, const struct cid *roots, size_t nroots)
{
    uint8_t cb[CID_MAX_BYTES + 1], vi[10];
    struct buf h;
    int rc;

    buf_init(&h, CAR_MAX_HEADER);
    rc = cbor_head(&h, 5, 2);
    if (!rc)
        rc = cbor_head(&h, 3, 5);
    if (!rc)
        rc = buf_add(&h, "roots", 5);
    if (!rc)
        rc = cbor_head(&h, 4, nroots);
    for (size_t i = 0; !rc && i < nroots; i++) {
        size_t n;
        cb[0] = 0x00; /* the multibase identity prefix dag-cbor puts before a CID */
        n = cid_to_bytes(&roots[i], cb + 1) + 1;
        rc = cbor_head(&h, 6, 42);
        if (!rc)
            rc = cbor_head(&h, 2, n);
        if (!rc)
            rc = buf_add(&h, cb, n);
    }
    if (!rc)
        rc = cbor_head(&h, 3, 7);
    if (!rc)
        rc = buf_add(&h, "version", 7);
    if (!rc)
        rc = cbor_head(&h, 0, 1);
    if (!rc)
        rc = buf_add(out, vi, varint_put(vi, h.n));
    if (!rc)
        rc = buf_add(out, h.p, h.n);
    buf_release(&h);
    return rc;
}

int car_write_section(struct buf *out, const struct cid *cid, const uint8_t *data, size_t len)
{
    uint8_t cb[CID_MAX_BYTES], vi[10];
    size_t n = cid_to_bytes(cid, cb);
    int rc = buf_add(out, vi, varint_put(vi, n + len));

    if (!rc)
        rc = buf_add(out, cb, n);
    if (!rc && len)
        rc = buf_add(out, data, len);
    return rc;
}

struct export_ctx {
    FILE *f;
    struct buf b;
};

static int export_block(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct export_ctx *x = ctx;
    int rc;

    buf_reset(&x->b);
    rc = car_write_section(&x->b, cid, data, len);
    if (!rc && fwrite(x->b.p, 1, x->b.n, x->f) != x->b.n)
        rc = AG_EIO;
    return rc;
}

int car_export(struct blockstore *bs, const struct cid *root, FILE *f, struct ag_err *e)
{
    struct export_ctx x = {f, {0}};
    int rc;

    buf_init(&x.b, CAR_MAX_SECTION + 16);
    rc = car_write_header(&x.b, root, 1);
    if (!rc && fwrite(x.b.p, 1, x.b.n, f) != x.b.n)
        rc = AG_EIO;
    if (!rc)
        rc = dag_walk(bs, root, export_block, &x, e);
    if (rc == AG_EIO && (!e || e->code != AG_EIO))
        rc = ag_errf(e, AG_EIO, "output", "cannot write the CAR: %s", strerror(errno));
    buf_release(&x.b);
    return rc;
}

/* A cursor over the header's CBOR. */
struct cbr {
    const uint8_t *p;
    size_t len, i;
};

/* Reads an item head; 0 or AG_EINVAL (indefinite lengths are not dag-cbor). */
static int cbr_head(struct cbr *r, unsigned *major, uint64_t *v)
{
    unsigned info, n;

    if (r->i >= r->len)
        return AG_EINVAL;
    *major = r->p[r->i] >> 5;
    info = r->p[r->i] & 31;
    r->i++;
    if (info < 24) {
        *v = info;
        return 0;
    }
    if (info > 27)
        return AG_EINVAL;
    n = 1u << (info - 24);
    if (r->len - r->i < n)
        return AG_EINVAL;
    *v = 0;
    for (unsigned k = 0; k < n; k++)
        *v = *v << 8 | r->p[r->i++];
    return 0;
}

static int parse_roots(struct car_reader *r, struct cbr *c, struct ag_err *e)
{
    unsigned major;
    uint64_t n, v;

    if (cbr_head(c, &major, &n) || major != 4)
        return ag_errf(e, AG_EINVAL, "car", "CAR header: roots is not an array");
    if (n > CAR_MAX_ROOTS)
        return ag_errf(e, AG_ETOOBIG, "car", "CAR header: more than %d roots", CAR_MAX_ROOTS);
    for (uint64_t i = 0; i < n; i++) {
        if (cbr_head(c, &major, &v) || major != 6 || v != 42)
            return ag_errf(e, AG_EINVAL, "car", "CAR header: a root is not a CID (tag 42)");
        if (cbr_head(c, &major, &v) || major != 2 || v < 2 || v > c->len - c->i ||
            c->p[c->i] != 0x00)
            return ag_errf(e, AG_EINVAL, "car", "CAR header: a root CID is malformed");
        if (cid_from_bytes(&r->roots[i], c->p + c->i + 1, (size_t)v - 1, NULL, e))
            return AG_EINVAL;
        c->i += (size_t)v;
    }
    r->nroots = (size_t)n;
    return 0;
}

int car_parse_header(struct car_reader *r, const uint8_t *p, size_t len, struct ag_err *e)
{
    struct cbr c = {p, len, 0};
    bool has_roots = false, has_version = false;
    unsigned major;
    uint64_t n, v, version = 0;
    int rc;

    if (cbr_head(&c, &major, &n) || major != 5 || n > 8)
        return ag_errf(e, AG_EINVAL, "car", "CAR header is not a small dag-cbor map");
    for (uint64_t i = 0; i < n; i++) {
        if (cbr_head(&c, &major, &v) || major != 3 || v > 16 || v > c.len - c.i)
            return ag_errf(e, AG_EINVAL, "car", "CAR header: bad key");
        if (v == 5 && !memcmp(c.p + c.i, "roots", 5) && !has_roots) {
            c.i += 5;
            rc = parse_roots(r, &c, e);
            if (rc)
                return rc;
            has_roots = true;
        } else if (v == 7 && !memcmp(c.p + c.i, "version", 7) && !has_version) {
            c.i += 7;
            if (cbr_head(&c, &major, &version) || major != 0)
                return ag_errf(e, AG_EINVAL, "car", "CAR header: version is not an integer");
            has_version = true;
        } else {
            return ag_errf(e, AG_EINVAL, "car", "CAR header: unexpected or repeated key");
        }
    }
    if (c.i != c.len)
        return ag_errf(e, AG_EINVAL, "car", "CAR header: trailing bytes");
    if (!has_version)
        return ag_errf(e, AG_EINVAL, "car", "CAR header: no version");
    if (version == 2)
        return ag_errf(e, AG_EUNPROCESSABLE, "car", "CARv2 is not supported: use CARv1");
    if (version != 1)
        return ag_errf(e, AG_EINVAL, "car", "CAR version %" PRIu64 " is unknown", version);
    if (!has_roots)
        return ag_errf(e, AG_EINVAL, "car", "CAR header: no roots");
    return 0;
}

/* Reads a varint from the file: 1 ok, 0 at a clean EOF before any byte, or AG_EINVAL. */
static int read_varint(struct car_reader *r, uint64_t *v)
{
    uint8_t b[9];
    size_t n = 0;
    int ch;

    while (n < sizeof(b)) {
        ch = getc(r->f);
        if (ch == EOF)
            return n == 0 && !ferror(r->f) ? 0 : AG_EINVAL;
        b[n++] = (uint8_t)ch;
        if (!(ch & 0x80))
            break;
    }
    if (varint_get(b, n, v) != n)
        return AG_EINVAL;
    r->offset += n;
    return 1;
}

static int read_exact(struct car_reader *r, struct buf *out, size_t n)
{
    int rc = buf_grow(out, n);

    if (rc)
        return rc;
    if (fread(out->p + out->n, 1, n, r->f) != n)
        return AG_EINVAL;
    out->n += n;
    out->p[out->n] = '\0';
    r->offset += n;
    return 0;
}

int car_reader_open(struct car_reader *r, FILE *f, struct ag_err *e)
{
    struct buf h;
    uint64_t n;
    int rc;

    memset(r, 0, sizeof(*r));
    r->f = f;
    buf_init(&h, CAR_MAX_HEADER);
    rc = read_varint(r, &n);
    if (rc <= 0) {
        rc = ag_errf(e, AG_EINVAL, "car", rc ? "CAR header length is malformed" : "CAR is empty");
        goto out;
    }
    if (n == 0 || n > CAR_MAX_HEADER) {
        rc = ag_errf(e, n ? AG_ETOOBIG : AG_EINVAL, "car", "CAR header of %" PRIu64
                     " bytes is out of bounds", n);
        goto out;
    }
    rc = read_exact(r, &h, (size_t)n);
    if (rc) {
        rc = ag_errf(e, AG_EINVAL, "car", "CAR header is truncated");
        goto out;
    }
    rc = car_parse_header(r, (const uint8_t *)h.p, h.n, e);
out:
    buf_release(&h);
    return rc;
}

int car_reader_next(struct car_reader *r, struct cid *cid, struct buf *data, struct ag_err *e)
{
    uint64_t n, at = r->offset;
    size_t used, n0 = data->n;
    struct buf s;
    int rc;

    buf_init(&s, CAR_MAX_SECTION);
    rc = read_varint(r, &n);
    if (rc <= 0) {
        if (rc)
            rc = ag_errf(e, AG_EINVAL, "car", "section length at byte %" PRIu64
                         " is malformed", at);
        goto out;
    }
    if (n == 0 || n > CAR_MAX_SECTION) {
        rc = ag_errf(e, n ? AG_ETOOBIG : AG_EINVAL, "car", "section at byte %" PRIu64
                     " has length %" PRIu64 ", out of bounds", at, n);
        goto out;
    }
    rc = read_exact(r, &s, (size_t)n);
    if (rc) {
        rc = ag_errf(e, AG_EINVAL, "car", "section at byte %" PRIu64 " is truncated", at);
        goto out;
    }
    rc = cid_from_bytes(cid, (const uint8_t *)s.p, s.n, &used, e);
    if (rc)
        goto out;
    rc = buf_add(data, s.p + used, s.n - used);
    if (rc) {
        rc = ag_errf(e, rc, "car", "block too large");
        goto out;
    }
    rc = 1;
out:
    if (rc < 0)
        data->n = n0;
    buf_release(&s);
    return rc;
}

int car_import(struct blockstore *bs, FILE *f, struct car_reader *r, uint64_t *nblocks,
               struct ag_err *e)
{
    struct buf b;
    struct cid c;
    char name[CID_MAX_STR];
    uint64_t count = 0;
    bool own_batch;
    int rc;

    buf_init(&b, CAR_MAX_SECTION);
    /* Group-commit the blocks unless the caller already runs a batch. */
    own_batch = blockstore_batch_begin(bs, NULL) == 0;
    rc = car_reader_open(r, f, e);
    while (!rc) {
        buf_reset(&b);
        rc = car_reader_next(r, &c, &b, e);
        if (rc <= 0)
            break;
        rc = cid_verify(&c, b.p, b.n);
        if (rc) {
            if (cid_format(&c, name, sizeof(name)))
                str_copy(name, "?", sizeof(name));
            rc = ag_errf(e, rc, "car", rc == AG_ECORRUPT ? "block %s does not hash to its CID"
                                                          : "block %s uses an unsupported hash",
                         name);
            break;
        }
        rc = blockstore_put(bs, &c, b.p, b.n, e);
        if (!rc)
            count++;
    }
    if (own_batch) {
        /* Blocks read before an error are valid: keep them. */
        int crc = blockstore_batch_commit(bs, rc ? NULL : e);
        if (!rc)
            rc = crc;
        else if (crc)
            count = 0;
    }
    if (nblocks)
        *nblocks = count;
    buf_release(&b);
    return rc;
}
