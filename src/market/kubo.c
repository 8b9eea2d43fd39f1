/* kubo.c - a minimal client of the Kubo RPC API: liveness, pinning a DAG by importing its CAR, fetching blocks.
 *
 * Follows the Kubo RPC API as documented for Kubo v0.32
 * (docs.ipfs.tech/reference/kubo/rpc): every call is a POST to
 * /api/v0/<command>; `version` answers {"Version": ...}; `dag/import` takes
 * a multipart/form-data body whose "file" part is a CAR, imports its blocks
 * and, with pin-roots=true, pins its roots; `block/get?arg=CID` answers the
 * block's bytes (200, streamed: usually chunked), or an error as JSON
 * {"Message", "Code", "Type": "error"} with status 500 (or a stream cut with
 * an X-Stream-Error trailer). Plain HTTP/1.1 over a socket (the
 * RPC port is local or on a private network by Kubo's own advice), the CAR
 * streamed with chunked transfer encoding so memory stays flat. Untested
 * against a real Kubo here (none can be installed): docs/storage.md. Pins
 * run on the re-pin queue's thread (kubo_pin.c), never in a request.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "ipfs/car.h"
#include "ipfs/exporter.h"
#include "market/kubo.h"
#include "market/internal.h"

#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define KUBO_TIMEOUT_S 10
#define KUBO_PROBE_TIMEOUT_S 2 /* /healthz must answer quickly when Kubo hangs */
#define KUBO_REPLY_MAX 65536
#define BOUNDARY       "agora-car-5f1c9e2b7d"

struct kubo_url {
    char host[256];
    char port[8];
    char base[256]; /* path prefix, without a trailing '/' */
};

static int parse_url(const char *url, struct kubo_url *u, struct ag_err *e)
{
    const char *p, *slash, *colon;
    size_t hlen;

    memset(u, 0, sizeof(*u));
    if (!url || !str_starts(url, "http://"))
        return ag_errf(e, AG_EINVAL, "kubo-api", "the Kubo API URL must start with http://");
    p = url + 7;
    slash = strchr(p, '/');
    if (!slash)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    hlen = (size_t)((colon ? colon : slash) - p);
    if (!hlen || hlen >= sizeof(u->host))
        return ag_errf(e, AG_EINVAL, "kubo-api", "no host in the Kubo API URL");
    memcpy(u->host, p, hlen);
    if (colon) {
        size_t plen = (size_t)(slash - colon - 1);
        if (!plen || plen >= sizeof(u->port))
            return ag_errf(e, AG_EINVAL, "kubo-api", "bad port in the Kubo API URL");
        memcpy(u->port, colon + 1, plen);
    } else {
        str_copy(u->port, "5001", sizeof(u->port));
    }
    str_copy(u->base, slash, sizeof(u->base));
    while (u->base[0] && u->base[strlen(u->base) - 1] == '/')
        u->base[strlen(u->base) - 1] = '\0';
    return 0;
}

static int dial(const struct kubo_url *u, int timeout_s, struct ag_err *e)
{
    struct addrinfo hints = {0}, *res = NULL, *ai;
    struct timeval tv = {timeout_s, 0};
    int fd = -1, g;

    hints.ai_socktype = SOCK_STREAM;
    if ((g = getaddrinfo(u->host, u->port, &hints, &res)))
        return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "cannot resolve %s: %s", u->host,
                       gai_strerror(g));
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "cannot connect to Kubo at %s:%s: %s",
                       u->host, u->port, strerror(errno));
    return fd;
}

static int send_all(int fd, const void *p, size_t n, struct ag_err *e)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo connection lost: %s",
                           strerror(errno));
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* read_status() reads the reply (capped) and returns its HTTP status, or a
 * negative AG_E* code. */
static int read_status(int fd, struct buf *reply, struct ag_err *e)
{
    char tmp[4096];
    ssize_t k;
    while ((k = recv(fd, tmp, sizeof(tmp), 0)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0 && buf_add(reply, tmp, (size_t)k))
            break; /* enough to read a status */
    if (reply->n < 12 || strncmp(reply->p, "HTTP/1.", 7))
        return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "no HTTP answer from Kubo");
    return atoi(reply->p + 9);
}

/* ---- liveness ------------------------------------------------------------ */

const char *market_kubo_status(struct market *m)
{
    const char *url = market_storage_kubo_url(m);
    struct kubo_url u;
    struct buf reply;
    char req[1024];
    int fd, status = 0;

    if (!url)
        return "not_configured";
    if (parse_url(url, &u, NULL) || (fd = dial(&u, KUBO_PROBE_TIMEOUT_S, NULL)) < 0)
        return "unreachable";
    snprintf(req, sizeof(req),
             "POST %s/api/v0/version HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             u.base, u.host, u.port);
    buf_init(&reply, KUBO_REPLY_MAX);
    if (!send_all(fd, req, strlen(req), NULL))
        status = read_status(fd, &reply, NULL);
    close(fd);
    buf_release(&reply);
    return status == 200 ? "ok" : "unreachable";
}

/* ---- pinning: dag/import of a streamed CAR --------------------------------- */

struct chunker {
    int fd;
    struct buf pending; /* coalesces small writes into bigger chunks */
    struct ag_err *e;
    const atomic_bool *cancel; /* the node stops: give up between blocks */
};

static int flush_chunk(struct chunker *c)
{
    char head[24];
    int rc;
    if (!c->pending.n)
        return 0;
    snprintf(head, sizeof(head), "%zx\r\n", c->pending.n);
    rc = send_all(c->fd, head, strlen(head), c->e);
    if (!rc)
        rc = send_all(c->fd, c->pending.p, c->pending.n, c->e);
    if (!rc)
        rc = send_all(c->fd, "\r\n", 2, c->e);
    buf_reset(&c->pending);
    return rc;
}

static int chunk_add(struct chunker *c, const void *p, size_t n)
{
    if (c->pending.n + n > c->pending.max && flush_chunk(c))
        return AG_EUNAVAILABLE;
    if (n > c->pending.max) {
        char head[24];
        snprintf(head, sizeof(head), "%zx\r\n", n);
        if (send_all(c->fd, head, strlen(head), c->e) || send_all(c->fd, p, n, c->e) ||
            send_all(c->fd, "\r\n", 2, c->e))
            return AG_EUNAVAILABLE;
        return 0;
    }
    return buf_add(&c->pending, p, n);
}

static int car_block(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct chunker *c = ctx;
    struct buf sec;
    int rc;
    if (c->cancel && atomic_load(c->cancel))
        return ag_errf(c->e, AG_EUNAVAILABLE, "kubo-api", "the node is stopping");
    buf_init(&sec, CAR_MAX_SECTION + 16);
    rc = car_write_section(&sec, cid, data, len);
    if (!rc)
        rc = chunk_add(c, sec.p, sec.n);
    buf_release(&sec);
    return rc;
}

int market__kubo_pin(struct market *m, const struct cid *root, const atomic_bool *cancel,
                     struct ag_err *e)
{
    const char *url = market_storage_kubo_url(m);
    struct chunker c = {-1, {0}, e, cancel};
    struct kubo_url u;
    struct buf hdr, reply;
    char req[1024];
    static const char part_head[] =
        "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dag.car\"\r\n"
        "Content-Type: application/vnd.ipld.car\r\n\r\n";
    static const char part_tail[] = "\r\n--" BOUNDARY "--\r\n";
    int rc, status;

    if (!url)
        return 0;
    buf_init(&hdr, CAR_MAX_HEADER);
    buf_init(&reply, KUBO_REPLY_MAX);
    buf_init(&c.pending, (size_t)1 << 20);
    if ((rc = parse_url(url, &u, e)))
        goto out;
    if ((c.fd = dial(&u, KUBO_TIMEOUT_S, e)) < 0) {
        rc = c.fd;
        goto out;
    }
    snprintf(req, sizeof(req),
             "POST %s/api/v0/dag/import?pin-roots=true&stats=false HTTP/1.1\r\nHost: %s:%s\r\n"
             "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"
             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
             u.base, u.host, u.port);
    if ((rc = send_all(c.fd, req, strlen(req), e)) ||
        (rc = chunk_add(&c, part_head, sizeof(part_head) - 1)) ||
        (rc = car_write_header(&hdr, root, 1)) || (rc = chunk_add(&c, hdr.p, hdr.n)) ||
        (rc = dag_walk(market_blockstore(m), root, car_block, &c, e)) ||
        (rc = chunk_add(&c, part_tail, sizeof(part_tail) - 1)) || (rc = flush_chunk(&c)) ||
        (rc = send_all(c.fd, "0\r\n\r\n", 5, e)))
        goto out;
    status = read_status(c.fd, &reply, e);
    if (status < 0) {
        rc = status;
    } else if (status != 200) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo answered dag/import with HTTP %d",
                     status);
    } else if (reply.n && memmem(reply.p, reply.n, "\"PinErrorMsg\":\"", 15) &&
               !memmem(reply.p, reply.n, "\"PinErrorMsg\":\"\"", 16)) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo imported the DAG but did not pin it");
    }
out:
    if (c.fd >= 0)
        close(c.fd);
    buf_release(&c.pending);
    buf_release(&hdr);
    buf_release(&reply);
    return rc;
}

int market_kubo_pin(struct market *m, const struct cid *root, struct ag_err *e)
{
    return market__kubo_pin(m, root, NULL, e);
}

/* ---- fetching a block: block/get ----------------------------------------------- */

/* header_value() finds header `name` in the head [p, p+n) (case-insensitive)
 * and copies its value; false when absent. */
static bool header_value(const char *p, size_t n, const char *name, char *out, size_t size)
{
    size_t ln = strlen(name);
    const char *end = p + n, *line = memchr(p, '\n', n);
    while (line && line + 1 < end) {
        const char *start = line + 1, *eol = memchr(start, '\n', (size_t)(end - start));
        if (!eol)
            eol = end;
        if ((size_t)(eol - start) > ln && !strncasecmp(start, name, ln) && start[ln] == ':') {
            const char *v = start + ln + 1;
            size_t vn;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            vn = (size_t)(eol - v);
            while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
                vn--;
            vn = MIN(vn, size - 1);
            memcpy(out, v, vn);
            out[vn] = '\0';
            return true;
        }
        line = eol < end ? eol : NULL;
    }
    return false;
}

/* dechunk() decodes a chunked body [p, p+n) into `out`; the trailers after
 * the last chunk go to *trailers. AG_EUNAVAILABLE when the body is cut short
 * or malformed. */
static int dechunk(const char *p, size_t n, struct buf *out, const char **trailers,
                   struct ag_err *e)
{
    const char *end = p + n;
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        char *stop;
        unsigned long long len;
        if (!eol)
            return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo's reply was cut short");
        len = strtoull(p, &stop, 16);
        if (stop == p || len > (unsigned long long)(end - eol - 1))
            return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo's reply was cut short");
        p = eol + 1;
        if (!len) {
            *trailers = p;
            return 0;
        }
        if (buf_add(out, p, (size_t)len))
            return ag_errf(e, AG_ETOOBIG, "kubo-api", "Kubo's block is above %zu bytes",
                           BLOCKSTORE_MAX_BLOCK);
        p += len;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            p += 2;
        else if (end - p >= 1 && p[0] == '\n')
            p += 1;
        else
            return ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo's reply is not valid chunked data");
    }
}

/* kubo_error() turns an error reply's JSON {"Message": ...} into a message. */
static int kubo_error(int status, const char *body, size_t n, const char *cid, struct ag_err *e)
{
    json_error_t je;
    json_t *j = json_loadb(body, n, 0, &je);
    const char *msg = json_string_value(json_object_get(j, "Message"));
    int rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo block/get %s: HTTP %d%s%s", cid, status,
                     msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    return rc;
}

int market_kubo_fetch(void *ctx, const struct cid *cid, struct buf *out, struct ag_err *e)
{
    struct market *m = ctx;
    const char *url = market_storage_kubo_url(m);
    char req[2048], name[CID_MAX_STR], val[64];
    const char *head_end, *body, *trailers = NULL;
    struct kubo_url u;
    struct buf reply, blk;
    size_t head_len, body_len;
    int fd = -1, rc, status;

    buf_init(&reply, BLOCKSTORE_MAX_BLOCK + BLOCKSTORE_MAX_BLOCK / 8 + 65536);
    buf_init(&blk, BLOCKSTORE_MAX_BLOCK);
    if (!url) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "no Kubo node is configured");
        goto out;
    }
    if ((rc = cid_format(cid, name, sizeof(name))) || (rc = parse_url(url, &u, e)))
        goto out;
    if ((fd = dial(&u, KUBO_TIMEOUT_S, e)) < 0) {
        rc = fd;
        goto out;
    }
    snprintf(req, sizeof(req),
             "POST %s/api/v0/block/get?arg=%s HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             u.base, name, u.host, u.port);
    if ((rc = send_all(fd, req, strlen(req), e)))
        goto out;
    for (;;) {
        char tmp[65536];
        ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "no answer from Kubo: %s",
                         strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        if (buf_add(&reply, tmp, (size_t)k)) {
            rc = ag_errf(e, AG_ETOOBIG, "kubo-api", "Kubo's answer for %s is too large", name);
            goto out;
        }
    }
    head_end = reply.n ? memmem(reply.p, reply.n, "\r\n\r\n", 4) : NULL;
    if (reply.n < 12 || strncmp(reply.p, "HTTP/1.", 7) || !head_end) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "no HTTP answer from Kubo");
        goto out;
    }
    status = atoi(reply.p + 9);
    head_len = (size_t)(head_end - reply.p) + 2;
    body = head_end + 4;
    body_len = reply.n - (size_t)(body - reply.p);
    if (header_value(reply.p, head_len, "Transfer-Encoding", val, sizeof(val)) &&
        strcasestr(val, "chunked")) {
        if ((rc = dechunk(body, body_len, &blk, &trailers, e)))
            goto out;
    } else {
        uint64_t cl;
        if (header_value(reply.p, head_len, "Content-Length", val, sizeof(val)) &&
            (parse_u64(val, &cl) || cl != body_len)) {
            rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo's reply was cut short");
            goto out;
        }
        if (buf_add(&blk, body, body_len)) {
            rc = ag_errf(e, AG_ETOOBIG, "kubo-api", "Kubo's block is above %zu bytes",
                         BLOCKSTORE_MAX_BLOCK);
            goto out;
        }
    }
    if (status != 200) {
        rc = kubo_error(status, blk.p, blk.n, name, e);
        goto out;
    }
    if (trailers && header_value(trailers - 2, reply.n - (size_t)(trailers - 2 - reply.p),
                                 "X-Stream-Error", val, sizeof(val))) {
        rc = ag_errf(e, AG_EUNAVAILABLE, "kubo-api", "Kubo block/get %s failed: %s", name, val);
        goto out;
    }
    rc = buf_add(out, blk.p, blk.n);
out:
    if (fd >= 0)
        close(fd);
    buf_release(&reply);
    buf_release(&blk);
    return rc;
}
