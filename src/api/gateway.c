/* gateway.c - GET/HEAD /ipfs/{cid}: an IPFS trustless gateway over the node's blockstore.
 *
 * Follows specs.ipfs.tech/http-gateways/trustless-gateway: raw blocks
 * (?format=raw or Accept: application/vnd.ipld.raw) and CARv1 streams
 * (?format=car or Accept: application/vnd.ipld.car) with dag-scope
 * all|entity|block, depth-first order and no duplicate blocks. Nothing is
 * ever deserialized. Any stored block may be served: blocks are addressed by
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
    size_t next;
};

struct car_stream {
    struct blockstore *bs;
    struct cid root;
    enum scope scope;
    struct frame stack[EXPORTER_MAX_DEPTH + 1];
    int depth;
    struct seen seen;
    struct buf out; /* bytes produced and not yet sent */
    size_t out_pos;
    uint64_t sent;
    bool header_done, root_done;
    char request_id[24];
};

static void car_stream_free(void *ctx)
{
    struct car_stream *cs = ctx;
    while (cs->depth > 0) {
        struct frame *f = &cs->stack[--cs->depth];
        pb_node_release(&f->node);
        buf_release(&f->block);
    }
    buf_release(&cs->out);
    free(cs->seen.slot);
    free(cs);
}

/* descend() reports whether the links of block `c` (bytes p) are followed. */
static bool descend(const struct car_stream *cs, const struct cid *c, const struct pb_node *n)
{
    struct unixfs u;
    bool file;
    if (c->codec != MC_DAG_PB || cs->scope == SCOPE_BLOCK)
        return false;
    if (cs->scope == SCOPE_ALL)
        return true;
    /* entity: a UnixFS file is all its blocks; a directory only its node. */
    if (!n->has_data || unixfs_decode(&u, n->data, n->data_len, NULL))
        return false;
    file = u.type == UNIXFS_FILE || u.type == UNIXFS_RAW;
    unixfs_release(&u);
    return file;
}

/* emit() appends the section of block `c` to the output and, when its links
 * are to be followed, pushes it on the stack. */
static int emit(struct car_stream *cs, const struct cid *c, struct ag_err *e)
{
    struct frame *f;
    int rc;

    if (cs->depth > EXPORTER_MAX_DEPTH)
        return ag_errf(e, AG_ECORRUPT, NULL, "DAG deeper than %d levels", EXPORTER_MAX_DEPTH);
    f = &cs->stack[cs->depth];
    buf_init(&f->block, BLOCKSTORE_MAX_BLOCK);
    memset(&f->node, 0, sizeof(f->node));
    f->next = 0;
    if (c->mh_code == MC_IDENTITY)
        rc = buf_add(&f->block, c->digest, c->digest_len);
    else
        rc = blockstore_get(cs->bs, c, &f->block, e);
    if (!rc)
        rc = car_write_section(&cs->out, c, (const uint8_t *)f->block.p, f->block.n);
    if (!rc && c->codec == MC_DAG_PB &&
        !pb_node_decode(&f->node, (const uint8_t *)f->block.p, f->block.n, NULL) &&
        descend(cs, c, &f->node)) {
        cs->depth++;
        return 0;
    }
    pb_node_release(&f->node);
    buf_release(&f->block);
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
        return emit(cs, &cs->root, e);
    }
    while (cs->depth > 0) {
        struct frame *f = &cs->stack[cs->depth - 1];
        if (f->next < f->node.nlinks) {
            const struct cid *c = &f->node.links[f->next++].cid;
            int fresh = seen_add(&cs->seen, c);
            if (fresh < 0)
                return fresh;
            if (fresh)
                return emit(cs, c, e);
            continue;
        }
        pb_node_release(&f->node);
        buf_release(&f->block);
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
    const char *scope_s = http_query(req, "dag-scope");
    char cidstr[CID_MAX_STR], etag[CID_MAX_STR + 32], disp[CID_MAX_STR + 48];
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
    if (fmt == FORMAT_CAR && http_query(req, "entity-bytes"))
        return gateway_error(&c, resp, 400, AG_EINVAL, "entity-bytes",
                             "entity-bytes is not supported by this gateway");
    if (!bs)
        return gateway_error(&c, resp, 503, AG_EUNAVAILABLE, NULL, "no block storage");
    cid_format(&root, cidstr, sizeof(cidstr));
    if (root.mh_code != MC_IDENTITY) {
        rc = blockstore_has(bs, &root, &c.err);
        if (rc == 0)
            return gateway_error(&c, resp, 404, AG_ENOTFOUND, "cid",
                                 "this gateway does not hold that block");
        if (rc < 0) {
            c.rc = rc;
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
        snprintf(etag, sizeof(etag), "\"%s.car.%s.dfs.n\"", cidstr,
                 scope == SCOPE_ALL      ? "all"
                 : scope == SCOPE_ENTITY ? "entity"
                                         : "block");
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
    buf_init(&cs->out, BLOCKSTORE_MAX_BLOCK + CAR_MAX_HEADER);
    str_copy(cs->request_id, req->request_id, sizeof(cs->request_id));
    resp->reader = car_read;
    resp->reader_ctx = cs;
    resp->reader_free = car_stream_free;
    resp->reader_size = HTTP_SIZE_UNKNOWN;
    return 0;
}
