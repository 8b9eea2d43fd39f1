/* gateway.c - GET/HEAD /ipfs/{cid}: an IPFS trustless gateway over the node's blockstore.
 *
 * Follows specs.ipfs.tech/http-gateways/trustless-gateway: raw blocks
 * (?format=raw or Accept: application/vnd.ipld.raw) and CARv1 streams
 * (?format=car or Accept: application/vnd.ipld.car) with dag-scope
 * all|entity|block, `entity-bytes=from:to` (only the blocks a byte range of
 * a UnixFS file needs), depth-first order and no duplicate blocks. Nothing is
 * ever deserialized beyond the dag-pb/UnixFS framing the walk follows. Any stored block may be served: blocks are addressed by
 * their hash and a paid file's blocks are ciphertext (docs/storage.md).
 */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "ipfs/blockstore.h"
#include "ipfs/car.h"
#include "ipfs/dagpb.h"
#include "ipfs/exporter.h"
#include "api/internal.h"
#include "api/routes.h"

#define IMMUTABLE "public, max-age=29030400, immutable"
#define CAR_TYPE  "application/vnd.ipld.car; version=1; order=dfs; dups=n"

enum scope { SCOPE_ALL, SCOPE_ENTITY, SCOPE_BLOCK };
enum format { FORMAT_NONE, FORMAT_RAW, FORMAT_CAR, FORMAT_BAD };

/* ---- a set of block digests (open addressing) ---------------------------- */

struct seen {
    uint8_t (*slot)[33]; /* [0] = used flag, [1..32] = sha-256 digest */
    size_t cap, n;
};

static int seen_grow(struct seen *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint8_t(*slot)[33] = calloc(cap, 33);
    if (!slot)
        return AG_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i][0])
            continue;
        uint64_t h;
        memcpy(&h, s->slot[i] + 1, 8);
        for (size_t j = h & (cap - 1);; j = (j + 1) & (cap - 1))
            if (!slot[j][0]) {
                memcpy(slot[j], s->slot[i], 33);
                break;
            }
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

/* seen_add() returns 1 if the digest was new (and adds it), 0 if present. */
static int seen_add(struct seen *s, const struct cid *c)
{
    uint8_t key[32] = {0};
    uint64_t h;
    memcpy(key, c->digest, MIN(c->digest_len, sizeof(key)));
    if (c->digest_len > 32 || c->mh_code != MC_SHA2_256)
        key[0] ^= (uint8_t)c->mh_code; /* not sha-256: cannot collide meaningfully here */
    if ((s->n + 1) * 2 > s->cap && seen_grow(s))
        return AG_ENOMEM;
    memcpy(&h, key, 8);
    for (size_t j = h & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        if (!s->slot[j][0]) {
            s->slot[j][0] = 1;
            memcpy(s->slot[j] + 1, key, 32);
            s->n++;
            return 1;
        }
        if (!memcmp(s->slot[j] + 1, key, 32))
            return 0;
    }
}

/* ---- the CAR stream -------------------------------------------------------- */

struct frame {
    struct buf block;
    struct pb_node node;
    struct unixfs u;  /* when `file`: the node's UnixFS data */
    bool file;        /* a UnixFS file node: links are byte ranges */
    uint64_t pos;     /* file offset where link `next` starts */
    size_t next;
};

struct car_stream {
    struct blockstore *bs;
    struct cid root;
    enum scope scope;
    bool ranged;           /* entity-bytes: only blocks overlapping [from, to) */
    uint64_t from, to;
    struct frame stack[EXPORTER_MAX_DEPTH + 1];
    int depth;
    struct seen seen;
    struct buf out; /* bytes produced and not yet sent */
    size_t out_pos;
    uint64_t sent;
    bool header_done, root_done;
    char request_id[24];
};

static void frame_release(struct frame *f)
{
    unixfs_release(&f->u);
    pb_node_release(&f->node);
    buf_release(&f->block);
    f->file = false;
}

static void car_stream_free(void *ctx)
{
    struct car_stream *cs = ctx;
    while (cs->depth > 0)
        frame_release(&cs->stack[--cs->depth]);
    buf_release(&cs->out);
    free(cs->seen.slot);
    free(cs);
}

/* descend() reports whether the links of dag-pb block `c` are followed, and
 * keeps the UnixFS data of a file node in the frame (the ranged walk needs
 * its blocksizes). A file node whose blocksizes do not match its links is
 * AG_ECORRUPT. */
static int descend(const struct car_stream *cs, const struct cid *c, struct frame *f, bool *follow,
                   struct ag_err *e)
{
    *follow = false;
    if (c->codec != MC_DAG_PB || cs->scope == SCOPE_BLOCK)
        return 0;
    if (f->node.has_data && !unixfs_decode(&f->u, f->node.data, f->node.data_len, NULL))
        f->file = f->u.type == UNIXFS_FILE || f->u.type == UNIXFS_RAW;
    if (f->file && f->u.nblocksizes != f->node.nlinks)
        return ag_errf(e, AG_ECORRUPT, NULL, "a UnixFS file node's links and blocksizes disagree");
    /* all: every link. entity: a UnixFS file is all its blocks (within the
     * range, when one is asked); a directory is only its node. */
    *follow = cs->scope == SCOPE_ALL || f->file;
    return 0;
}

/* emit() appends the section of block `c` (whose file bytes start at
 * `start`, for ranged walks) to the output and, when its links are to be
 * followed, pushes it on the stack. Identity CIDs are never written: their
 * bytes are in the CID (the spec forbids them in CAR responses). */
static int emit(struct car_stream *cs, const struct cid *c, uint64_t start, struct ag_err *e)
{
    struct frame *f;
    bool follow = false;
    int rc;

    if (cs->depth > EXPORTER_MAX_DEPTH)
        return ag_errf(e, AG_ECORRUPT, NULL, "DAG deeper than %d levels", EXPORTER_MAX_DEPTH);
    f = &cs->stack[cs->depth];
    memset(f, 0, sizeof(*f));
    buf_init(&f->block, BLOCKSTORE_MAX_BLOCK);
    if (c->mh_code == MC_IDENTITY)
        rc = buf_add(&f->block, c->digest, c->digest_len);
    else
        rc = blockstore_get(cs->bs, c, &f->block, e);
    if (!rc && c->mh_code != MC_IDENTITY)
        rc = car_write_section(&cs->out, c, (const uint8_t *)f->block.p, f->block.n);
    if (!rc && c->codec == MC_DAG_PB &&
        !pb_node_decode(&f->node, (const uint8_t *)f->block.p, f->block.n, NULL))
        rc = descend(cs, c, f, &follow, e);
    if (!rc && follow) {
        f->pos = start + (f->file ? f->u.data_len : 0);
        cs->depth++;
        return 0;
    }
    frame_release(f);
    return rc;
}

/* produce() appends at least one more section (or the header) to cs->out;
 * leaves it empty at the end. */
static int produce(struct car_stream *cs, struct ag_err *e)
{
    if (!cs->header_done) {
        cs->header_done = true;
        return car_write_header(&cs->out, &cs->root, 1);
    }
    if (!cs->root_done) {
        cs->root_done = true;
        seen_add(&cs->seen, &cs->root);
        return emit(cs, &cs->root, 0, e);
    }
    while (cs->depth > 0) {
        struct frame *f = &cs->stack[cs->depth - 1];
        if (f->next < f->node.nlinks) {
            size_t i = f->next++;
            const struct cid *c = &f->node.links[i].cid;
            uint64_t start = f->pos;
            int fresh;
            if (f->file) {
                f->pos += f->u.blocksizes[i];
                /* entity-bytes: skip children wholly outside [from, to) */
                if (cs->ranged && (f->pos <= cs->from || start >= cs->to))
                    continue;
            }
            fresh = seen_add(&cs->seen, c);
            if (fresh < 0)
                return fresh;
            if (fresh)
                return emit(cs, c, start, e);
            continue;
        }
        frame_release(f);
        cs->depth--;
    }
    return 0;
}

static ssize_t car_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct car_stream *cs = ctx;
    struct ag_err e = {0};
    size_t n;

    UNUSED(pos);
    while (cs->out_pos == cs->out.n) {
        int rc;
        buf_reset(&cs->out);
        cs->out_pos = 0;
        if ((rc = produce(cs, &e))) {
            char c[CID_MAX_STR];
            cid_format(&cs->root, c, sizeof(c));
            log_error("gateway: CAR of %s cut after %" PRIu64 " bytes: %s (id=%s)", c, cs->sent,
                      e.msg[0] ? e.msg : ag_strerror(rc), cs->request_id);
            return HTTP_READER_ERROR;
        }
        if (cs->out.n == 0)
            return HTTP_READER_END;
    }
    n = MIN(max, cs->out.n - cs->out_pos);
    memcpy(out, cs->out.p + cs->out_pos, n);
    cs->out_pos += n;
    cs->sent += n;
    return (ssize_t)n;
}

/* ---- the handler ------------------------------------------------------------ */

/* parse_offset() reads an entity-bytes bound: an optional '-' and decimal
 * digits. 0, or -1 when malformed. */
static int parse_offset(const char *p, size_t n, bool *neg, uint64_t *v)
{
    char tmp[24];
    *neg = n > 0 && p[0] == '-';
    if (*neg) {
        p++;
        n--;
    }
    if (!n || n >= sizeof(tmp) || p[0] == '-' || p[0] == '+')
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return parse_u64(tmp, v) ? -1 : 0;
}

enum { RANGE_BAD = -1, RANGE_OUTSIDE = -2 };

/* entity_range() resolves `entity-bytes=from:to` against an entity of
 * `size` bytes (trustless gateway spec: inclusive bounds, `*` for the end,
 * negative values counted from the end). Returns 1 with [*from, *to) set,
 * 0 for a zero-length range (served as dag-scope=block), RANGE_BAD for a
 * malformed value and RANGE_OUTSIDE when the range starts past the end. */
static int entity_range(const char *spec, uint64_t size, uint64_t *from, uint64_t *to)
{
    const char *colon = strchr(spec, ':');
    bool fneg, tneg = false;
    uint64_t f, t, last;

    if (!colon || parse_offset(spec, (size_t)(colon - spec), &fneg, &f))
        return RANGE_BAD;
    if (strcmp(colon + 1, "*") && parse_offset(colon + 1, strlen(colon + 1), &tneg, &t))
        return RANGE_BAD;
    if (!strcmp(colon + 1, "*")) {
        t = UINT64_MAX;
        tneg = false;
    }
    if (!fneg && !tneg && t < f)
        return RANGE_BAD;
    if (size == 0)
        return 0;
    f = fneg ? (f >= size ? 0 : size - f) : f;
    if (f >= size)
        return RANGE_OUTSIDE;
    if (tneg) { /* -N is offset size - N: -1 is the last byte */
        if (t > size)
            return 0;
        last = t == 0 ? size - 1 : size - t;
    } else {
        last = MIN(t, size - 1);
    }
    if (last < f)
        return 0;
    *from = f;
    *to = last + 1;
    return 1;
}

/* pick_format() applies ?format (which wins) and then Accept. */
static enum format pick_format(struct http_req *req)
{
    const char *f = http_query(req, "format"), *accept = http_header(req, "Accept");
    if (f)
        return !strcmp(f, "raw") ? FORMAT_RAW : !strcmp(f, "car") ? FORMAT_CAR : FORMAT_BAD;
    if (!accept)
        return FORMAT_NONE;
    if (strcasestr(accept, "application/vnd.ipld.raw"))
        return FORMAT_RAW;
    if (strcasestr(accept, "application/vnd.ipld.car"))
        return FORMAT_CAR;
    return FORMAT_BAD;
}

static int gateway_error(struct api_call *c, struct http_resp *resp, int status, int code,
                         const char *field, const char *msg)
{
    ag_errf(&c->err, code, field, "%s", msg);
    c->rc = code;
    api_reply(c, resp, 200, NULL);
    resp->status = status;
    return 0;
}

static bool etag_match(const char *list, const char *etag)
{
    return list && (strstr(list, etag) || !strcmp(list, "*"));
}

int api_gateway_get(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api *api = app;
    struct blockstore *bs = market_blockstore(api->market);
    const char *scope_s = http_query(req, "dag-scope"), *bytes_s = http_query(req, "entity-bytes");
    uint64_t from = 0, to = 0;
    int ranged = 0;
    char cidstr[CID_MAX_STR], etag[CID_MAX_STR + 96], disp[CID_MAX_STR + 48];
    struct car_stream *cs;
    enum format fmt;
    enum scope scope = SCOPE_ALL;
    struct api_call c;
    struct cid root;
    int rc;

    memset(&c, 0, sizeof(c));
    c.api = api;
    c.market = api->market;
    c.req = req;
    if (cid_parse(&root, http_param(req, "cid"), NULL))
        return gateway_error(&c, resp, 400, AG_EINVAL, "cid", "not a valid CID");
    fmt = pick_format(req);
    if (fmt == FORMAT_NONE)
        return gateway_error(&c, resp, 400, AG_EINVAL, "format",
                             "this is a trustless gateway: ask for ?format=raw or ?format=car "
                             "(or Accept: application/vnd.ipld.raw / application/vnd.ipld.car)");
    if (fmt == FORMAT_BAD)
        return gateway_error(&c, resp, http_query(req, "format") ? 400 : 406, AG_EINVAL, "format",
                             "only application/vnd.ipld.raw and application/vnd.ipld.car are "
                             "served");
    if (scope_s) {
        if (!strcmp(scope_s, "entity"))
            scope = SCOPE_ENTITY;
        else if (!strcmp(scope_s, "block"))
            scope = SCOPE_BLOCK;
        else if (strcmp(scope_s, "all"))
            return gateway_error(&c, resp, 400, AG_EINVAL, "dag-scope",
                                 "dag-scope must be all, entity or block");
    }
    if (fmt == FORMAT_CAR && bytes_s) {
        if (scope_s && scope != SCOPE_ENTITY)
            return gateway_error(&c, resp, 400, AG_EINVAL, "entity-bytes",
                                 "entity-bytes implies dag-scope=entity");
        scope = SCOPE_ENTITY;
    }
    if (!bs)
        return gateway_error(&c, resp, 503, AG_EUNAVAILABLE, NULL, "no block storage");
    cid_format(&root, cidstr, sizeof(cidstr));
    if (root.mh_code != MC_IDENTITY) {
        rc = blockstore_has(bs, &root, &c.err);
        if (rc == 0 && blockstore_can_fetch(bs)) {
            /* Not here: the configured Kubo node may have it (fetched,
             * hash-checked and kept by the blockstore). */
            struct buf tmp;
            struct ag_err fe = {0};
            buf_init(&tmp, BLOCKSTORE_MAX_BLOCK);
            rc = blockstore_get(bs, &root, &tmp, &fe);
            buf_release(&tmp);
            if (rc)
                log_info("gateway: %s is not here and was not fetched: %s", http_param(req, "cid"),
                         fe.msg);
            rc = rc == 0 ? 1 : rc == AG_ENOTFOUND ? 0 : rc;
        }
        if (rc == 0)
            return gateway_error(&c, resp, 404, AG_ENOTFOUND, "cid",
                                 "this gateway does not hold that block");
        if (rc < 0) {
            c.rc = rc;
            return api_reply(&c, resp, 200, NULL);
        }
    }
    if (fmt == FORMAT_CAR && bytes_s) {
        uint64_t size = 0;
        struct ag_err se = {0};
        /* Only a UnixFS file (or raw block) is a byte array; for anything
         * else the parameter is ignored, as the spec says. */
        rc = root.mh_code == MC_IDENTITY ? AG_EUNPROCESSABLE : exporter_size(bs, &root, &size, &se);
        if (rc == 0) {
            ranged = entity_range(bytes_s, size, &from, &to);
            if (ranged == RANGE_BAD)
                return gateway_error(&c, resp, 400, AG_EINVAL, "entity-bytes",
                                     "entity-bytes must be from:to with integers (negative from "
                                     "the end) or * for the end, from <= to");
            if (ranged == RANGE_OUTSIDE)
                return gateway_error(&c, resp, 400, AG_EINVAL, "entity-bytes",
                                     "entity-bytes starts past the end of the entity");
            if (ranged == 0)
                scope = SCOPE_BLOCK; /* zero-length: the root alone */
        } else if (rc != AG_EUNPROCESSABLE && rc != AG_ECORRUPT) {
            c.rc = rc;
            c.err = se;
            return api_reply(&c, resp, 200, NULL);
        }
    }
    http_resp_header(req, resp, "Cache-Control", IMMUTABLE);
    /* X-Content-Type-Options: nosniff goes on every response (src/http). */
    snprintf(disp, sizeof(disp), "/ipfs/%s", cidstr);
    http_resp_header(req, resp, "X-Ipfs-Path", disp);
    http_resp_header(req, resp, "X-Ipfs-Roots", cidstr);
    http_resp_header(req, resp, "Vary", "Accept");
    if (fmt == FORMAT_RAW) {
        snprintf(etag, sizeof(etag), "\"%s.raw\"", cidstr);
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s.bin\"", cidstr);
    } else {
        char rng[48] = "";
        if (ranged == 1)
            snprintf(rng, sizeof(rng), ".%" PRIu64 "-%" PRIu64, from, to - 1);
        snprintf(etag, sizeof(etag), "\"%s.car.%s%s.dfs.n\"", cidstr,
                 scope == SCOPE_ALL      ? "all"
                 : scope == SCOPE_ENTITY ? "entity"
                                         : "block",
                 rng);
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s.car\"", cidstr);
    }
    http_resp_header(req, resp, "Etag", etag);
    http_resp_header(req, resp, "Content-Disposition", disp);
    if (etag_match(http_header(req, "If-None-Match"), etag)) {
        resp->status = 304;
        return 0;
    }
    resp->status = 200;
    if (fmt == FORMAT_RAW) {
        http_resp_header(req, resp, "Content-Type", "application/vnd.ipld.raw");
        if (root.mh_code == MC_IDENTITY)
            return buf_add(&resp->body, root.digest, root.digest_len);
        rc = blockstore_get(bs, &root, &resp->body, &c.err);
        if (rc) {
            resp->nheaders = 0;
            c.rc = rc;
            return api_reply(&c, resp, 200, NULL);
        }
        return 0;
    }
    http_resp_header(req, resp, "Content-Type", CAR_TYPE);
    cs = calloc(1, sizeof(*cs));
    if (!cs)
        return AG_ENOMEM;
    cs->bs = bs;
    cs->root = root;
    cs->scope = scope;
    cs->ranged = ranged == 1;
    cs->from = from;
    cs->to = to;
    buf_init(&cs->out, BLOCKSTORE_MAX_BLOCK + CAR_MAX_HEADER);
    str_copy(cs->request_id, req->request_id, sizeof(cs->request_id));
    resp->reader = car_read;
    resp->reader_ctx = cs;
    resp->reader_free = car_stream_free;
    resp->reader_size = HTTP_SIZE_UNKNOWN;
    return 0;
}
