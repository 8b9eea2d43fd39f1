/* files.c - GET .../versions/{version}/files/{name}: a model file, streamed from the blockstore.
 *
 * Ranges (one per request: 206, or 416 when unsatisfiable), an ETag from the
 * root CID with If-None-Match (304) and If-Range, Content-Disposition. The
 * body is produced block by block as the client reads it, so memory stays
 * flat whatever the file's size. A download that reaches its last byte
 * counts once per file per downloader per day.
 */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

struct download {
    struct market_file *f;
    uint64_t start, end; /* [start, end) of the file */
    bool full;           /* the whole file: counts as a download */
    char who[80];
    char request_id[24];
};

static void download_free(void *ctx)
{
    struct download *d = ctx;
    market_file_close(d->f);
    free(d);
}

static ssize_t download_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct download *d = ctx;
    uint64_t at = d->start + pos;
    struct ag_err e = {0};
    size_t n = 0;

    if (at >= d->end)
        return HTTP_READER_END;
    if (market_file_read(d->f, at, out, (size_t)MIN((uint64_t)max, d->end - at), &n, &e) || !n) {
        log_error("download %s of %s failed at byte %" PRIu64 ": %s (id=%s)",
                  market_file_info(d->f)->name, market_file_info(d->f)->cid, at,
                  e.msg[0] ? e.msg : "no data", d->request_id);
        return HTTP_READER_ERROR;
    }
    if (d->full && at + n == d->end && market_file_downloaded(d->f, d->who, &e))
        log_warn("download count failed: %s (id=%s)", e.msg, d->request_id);
    return (ssize_t)n;
}

/* etag_match() reports whether an If-None-Match / If-Range value names `etag`. */
static bool etag_match(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* parse_range() reads a single "bytes=" range of a file of `size` bytes:
 * 1 with [*start, *end) set, 0 to serve the whole file (no Range, several
 * ranges or a malformed one, which RFC 9110 says to ignore), -1 when
 * unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
    uint64_t a = 0, b = 0;
    const char *dash;
    char first[24], last[24];
    size_t la;

    if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
        return 0;
    h += 6;
    dash = strchr(h, '-');
    if (!dash || (la = (size_t)(dash - h)) >= sizeof(first) || strlen(dash + 1) >= sizeof(last))
        return 0;
    memcpy(first, h, la);
    first[la] = '\0';
    str_copy(last, dash + 1, sizeof(last));
    if (!first[0]) { /* suffix: the last N bytes */
        if (parse_u64(last, &b))
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *start = size > b ? size - b : 0;
        *end = size;
        return 1;
    }
    if (parse_u64(first, &a) || (last[0] && (parse_u64(last, &b) || b < a)))
        return 0;
    if (a >= size)
        return -1;
    *start = a;
    *end = last[0] ? MIN(b + 1, size) : size;
    return 1;
}

/* disposition() builds an attachment header that survives any file name:
 * an ASCII fallback plus the RFC 8187 UTF-8 form. */
static void disposition(struct http_req *req, struct http_resp *resp, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    char ascii[256], enc[800], value[1200];
    size_t i, a = 0, n = 0;

    for (i = 0; name[i] && a < sizeof(ascii) - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        ascii[a++] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ';' ? '_' : (char)c;
    }
    ascii[a] = '\0';
    for (i = 0; name[i] && n < sizeof(enc) - 4; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c)) {
            enc[n++] = (char)c;
        } else {
            enc[n++] = '%';
            enc[n++] = hex[c >> 4];
            enc[n++] = hex[c & 15];
        }
    }
    enc[n] = '\0';
    snprintf(value, sizeof(value), "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
    http_resp_header(req, resp, "Content-Disposition", value);
}

int api_file_get(void *app, struct http_req *req, struct http_resp *resp)
{
    struct market_file *f = NULL;
    const struct market_file_info *info;
    struct download *d = NULL;
    const char *inm, *range, *if_range;
    char etag[160], cr[80];
    uint64_t start = 0, end = 0;
    struct api_call c;
    int r;

    if (api_start(app, req, &c) ||
        (c.rc =
             market_file_open(c.market, c.viewer, http_param(req, "owner"), http_param(req, "slug"),
                              http_param(req, "version"), http_param(req, "name"), &f, &c.err)))
        return api_reply(&c, resp, 200, NULL);
    info = market_file_info(f);
    snprintf(etag, sizeof(etag), "\"%s\"", info->cid);
    http_resp_header(req, resp, "ETag", etag);
    http_resp_header(req, resp, "Accept-Ranges", "bytes");
    http_resp_header(req, resp, "Cache-Control",
                     info->encrypted ? "private, no-cache" : "public, no-cache");
    inm = http_header(req, "If-None-Match");
    if (inm && etag_match(inm, etag)) {
        market_file_close(f);
        resp->status = 304;
        return 0;
    }
    range = http_header(req, "Range");
    if_range = http_header(req, "If-Range");
    if (if_range && strcmp(if_range, etag))
        range = NULL; /* the client's copy is another file: send all of this one */
    r = parse_range(range, info->size, &start, &end);
    if (r < 0) {
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, info->size);
        http_resp_header(req, resp, "Content-Range", cr);
        c.rc = ag_errf(&c.err, AG_EINVAL, "Range",
                       "the range is outside the file's %" PRIu64 " bytes", info->size);
        market_file_close(f);
        api_reply(&c, resp, 200, NULL);
        resp->status = 416;
        return 0;
    }
    if (r == 0) {
        start = 0;
        end = info->size;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        market_file_close(f);
        return AG_ENOMEM;
    }
    d->f = f;
    d->start = start;
    d->end = end;
    d->full = r == 0 && !strcmp(req->method, "GET");
    if (c.viewer)
        snprintf(d->who, sizeof(d->who), "user:%" PRId64, c.viewer->user_id);
    else
        snprintf(d->who, sizeof(d->who), "ip:%s", req->remote_ip);
    str_copy(d->request_id, req->request_id, sizeof(d->request_id));
    if (r == 1) {
        resp->status = 206;
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end - 1,
                 info->size);
        http_resp_header(req, resp, "Content-Range", cr);
    } else {
        resp->status = 200;
    }
    http_resp_header(req, resp, "Content-Type", "application/octet-stream");
    http_resp_header(req, resp, "X-Content-SHA256", info->sha256);
    http_resp_header(req, resp, "X-Agora-Stored", info->encrypted ? "encrypted" : "clear");
    disposition(req, resp, info->name);
    resp->reader = download_read;
    resp->reader_ctx = d;
    resp->reader_free = download_free;
    resp->reader_size = end - start;
    return 0;
}
