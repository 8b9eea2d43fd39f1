/* infer.c - POST .../versions/{version}/infer: run a version's ONNX file on JSON or .npy inputs.
 *
 * The body streams in (HTTP_ROUTE_STREAM) so everything that can be decided
 * from the headers is decided before a byte of it is read: credentials, the
 * media type, the body cap (--infer-max-body), the file and its access
 * policy, and the rate limit of free-model callers. The run itself, with
 * its slot, deadline and memory cap, is market_infer_run().
 *
 * Bodies: application/json {"inputs": {...}}; application/x-npy (one .npy,
 * for a single-input model); multipart/form-data with one .npy part per
 * input, named after it. Answers: JSON; with Accept: application/x-npy one
 * output as .npy (the only one, or ?output=NAME); with Accept:
 * application/x-npz every output (or ?output=NAME) in a .npz. See
 * docs/api.md.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"
#include "http/ratelimit.h"

#include <stdatomic.h>

#define NPY_TYPE  "application/x-npy"
#define NPZ_TYPE  "application/x-npz"
#define MAX_PARTS 64

enum body_type { BODY_JSON, BODY_NPY, BODY_MULTIPART };

/* One inference request in flight (req->stream). */
struct infer_call {
    struct api_call c;
    struct infer_job *job;
    struct buf body;
    enum body_type type;
    char boundary[80];
    enum infer_format format;
    uint64_t reserved; /* bytes of the body budget held */
};

/* body_reserve() reserves `n` bytes of the node-wide budget for inference
 * bodies being read, (2 x slots + 2) x --infer-max-body: enough for every
 * slot's request and the next ones, while many large bodies arriving at
 * once get 503 instead of memory. */
static int body_reserve(struct infer_call *ic, uint64_t n)
{
    struct api *api = ic->c.api;
    const struct market_infer_config *cfg = market_infer_cfg(api->infer);
    uint64_t budget = cfg->max_body * (2 * (uint64_t)cfg->max_concurrent + 2);
    uint64_t now = atomic_fetch_add(&api->infer_body_bytes, n);
    if (now + n > budget) {
        atomic_fetch_sub(&api->infer_body_bytes, n);
        ic->c.err.retry_after = 1;
        return ic->c.rc = ag_errf(&ic->c.err, AG_EUNAVAILABLE, NULL,
                                  "the node is reading too many inference requests; retry "
                                  "shortly");
    }
    ic->reserved = n;
    return 0;
}

/* media() matches Content-Type `type` against `want`, parameters allowed. */
static bool media(const char *type, const char *want)
{
    size_t n = strlen(want);
    return type && !strncasecmp(type, want, n) && (!type[n] || type[n] == ';' || type[n] == ' ');
}

/* boundary_of() extracts the multipart boundary parameter (RFC 2046: at
 * most 70 characters, optionally quoted). */
static int boundary_of(const char *type, char *out, size_t size)
{
    const char *p = strcasestr(type, "boundary=");
    size_t n = 0;
    bool quoted;
    if (!p)
        return -1;
    p += 9;
    quoted = *p == '"';
    p += quoted;
    while (p[n] && n < size - 1 && (quoted ? p[n] != '"' : p[n] != ';' && p[n] != ' '))
        n++;
    if (!n || n > 70 || n >= size - 1)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* rate_key() is who a free-model call is counted against. */
static void rate_key(const struct api_call *c, char *out, size_t size)
{
    char ip[96];
    if (c->viewer) {
        snprintf(out, size, "infer:u:%" PRId64, c->viewer->user_id);
        return;
    }
    ratelimit_ip_key(c->req->remote_ip, ip, sizeof(ip));
    snprintf(out, size, "infer:%s", ip);
}

static int infer_begin(struct api *api, struct http_req *req, struct infer_call *ic)
{
    struct api_call *c = &ic->c;
    const char *type = http_header(req, "Content-Type"), *accept = http_header(req, "Accept");
    const char *clen = http_header(req, "Content-Length");
    uint64_t max, n = 0;
    char key[160];
    unsigned retry = 0;

    if (api_start(api, req, c))
        return c->rc;
    if (!api->infer)
        return c->rc = ag_errf(&c->err, AG_EUNAVAILABLE, NULL, "inference is not enabled");
    max = market_infer_cfg(api->infer)->max_body;
    buf_init(&ic->body, (size_t)max);
    if (media(type, "application/json")) {
        ic->type = BODY_JSON;
    } else if (media(type, NPY_TYPE)) {
        ic->type = BODY_NPY;
    } else if (media(type, "multipart/form-data")) {
        ic->type = BODY_MULTIPART;
        if (boundary_of(type, ic->boundary, sizeof(ic->boundary)))
            return c->rc = ag_errf(&c->err, AG_EINVAL, "Content-Type",
                                   "multipart/form-data needs a boundary of 1-70 characters");
    } else {
        return c->rc = ag_errf(&c->err, AG_EMEDIATYPE, "Content-Type",
                               "send inputs as application/json, " NPY_TYPE
                               " or multipart/form-data (one .npy per input)");
    }
    /* A .npz when the client accepts one, else one .npy, else JSON. */
    if (accept && strcasestr(accept, NPZ_TYPE))
        ic->format = INFER_OUT_NPZ;
    else if (accept && strcasestr(accept, NPY_TYPE))
        ic->format = INFER_OUT_NPY;
    if (clen && !parse_u64(clen, &n) && n > max)
        return c->rc = ag_errf(&c->err, AG_ETOOBIG, NULL,
                               "the request body is %" PRIu64
                               " bytes; this node takes at most %" PRIu64 " for inference",
                               n, max);
    if (!clen || parse_u64(clen, &n))
        n = max; /* chunked: it may take up to the cap */
    if ((c->rc = market_infer_open(c->market, api->infer, c->viewer, http_param(req, "owner"),
                                   http_param(req, "slug"), http_param(req, "version"),
                                   http_query(req, "file"), &ic->job, &c->err)))
        return c->rc;
    if (market_infer_limited(ic->job)) {
        rate_key(c, key, sizeof(key));
        if (ratelimit_take(api->rate_infer_free, key, 1, &retry) == AG_ERATELIMIT) {
            c->rc = ag_errf(&c->err, AG_ERATELIMIT, NULL,
                            "too many inference requests; retry in %u s", retry);
            c->err.retry_after = (int)retry;
            return c->rc;
        }
    }
    return body_reserve(ic, n);
}

static int infer_body(struct infer_call *ic, const void *p, size_t n)
{
    int rc = buf_add(&ic->body, p, n);
    if (rc == AG_ETOOBIG)
        return ic->c.rc = ag_errf(&ic->c.err, AG_ETOOBIG, NULL,
                                  "the request body is larger than the %zu bytes this node "
                                  "takes for inference",
                                  ic->body.max);
    if (rc)
        return ic->c.rc = ag_err_set(&ic->c.err, rc);
    return 0;
}

/* header_param() finds `name="value"` (or unquoted) in a header line of
 * `len` bytes and copies the value. */
static bool header_param(const char *line, size_t len, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name), i = 0, o = 0;
    for (; i + nl + 1 < len; i++) {
        if (strncasecmp(line + i, name, nl) || line[i + nl] != '=' ||
            (i && line[i - 1] != ' ' && line[i - 1] != ';'))
            continue;
        i += nl + 1;
        if (line[i] == '"') {
            for (i++; i < len && line[i] != '"' && o < size - 1; i++)
                out[o++] = line[i];
        } else {
            for (; i < len && line[i] != ';' && line[i] != ' ' && o < size - 1; i++)
                out[o++] = line[i];
        }
        out[o] = '\0';
        return o > 0;
    }
    return false;
}

/*
 * parse_multipart() splits a multipart/form-data body into parts named by
 * their Content-Disposition (RFC 7578). Names are copied into `names`
 * (MAX_PARTS x 256); the data points into the body. AG_EINVAL for a body
 * that does not follow the format, more than MAX_PARTS parts, or a part
 * without a name.
 */
static int parse_multipart(struct infer_call *ic, struct infer_part *parts, int *nparts,
                           char (*names)[256])
{
    char delim[96];
    const char *p = ic->body.p, *end = ic->body.p + ic->body.n;
    size_t dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", ic->boundary);
    struct ag_err *e = &ic->c.err;
    int n = 0;

    /* The first delimiter may open the body without its CRLF. */
    if ((size_t)(end - p) >= dl - 2 && !memcmp(p, delim + 2, dl - 2)) {
        p += dl - 2;
    } else {
        p = memmem(p, (size_t)(end - p), delim, dl);
        if (!p)
            return ag_errf(e, AG_EINVAL, NULL, "multipart body has no part");
        p += dl;
    }
    for (;;) {
        const char *hdr_end, *next, *line;
        bool named = false;
        if (end - p >= 2 && !memcmp(p, "--", 2))
            break; /* the closing delimiter */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || memcmp(p, "\r\n", 2))
            return ag_errf(e, AG_EINVAL, NULL, "multipart delimiter is not followed by CRLF");
        p += 2;
        hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end || hdr_end - p > 8192)
            return ag_errf(e, AG_EINVAL, NULL, "multipart part headers are missing or too long");
        if (n == MAX_PARTS)
            return ag_errf(e, AG_EINVAL, NULL, "more than %d parts", MAX_PARTS);
        for (line = p; line < hdr_end + 2;) {
            const char *eol = memmem(line, (size_t)(hdr_end + 2 - line), "\r\n", 2);
            size_t len = (size_t)(eol - line);
            if (len > 20 && !strncasecmp(line, "Content-Disposition:", 20) &&
                header_param(line + 20, len - 20, "name", names[n], 256))
                named = true;
            line = eol + 2;
        }
        if (!named)
            return ag_errf(e, AG_EINVAL, NULL,
                           "every multipart part needs Content-Disposition: form-data; name=...");
        p = hdr_end + 4;
        next = memmem(p, (size_t)(end - p), delim, dl);
        if (!next)
            return ag_errf(e, AG_EINVAL, NULL, "multipart body is not closed");
        parts[n].name = names[n];
        parts[n].data = p;
        parts[n].len = (size_t)(next - p);
        n++;
        p = next + dl;
    }
    *nparts = n;
    return 0;
}

/* reply_limit() answers a limit the request ran into (time limit, busy
 * node) with `status` and the error's own message: these are expected under
 * load, so unlike other 5xx answers they are neither hidden nor logged as
 * failures. */
static int reply_limit(struct api_call *c, struct http_resp *resp, int status)
{
    json_t *err = json_pack(
        "{s:s, s:s, s:s}", "code", ag_err_name(c->err.code ? c->err.code : c->rc), "message",
        c->err.msg[0] ? c->err.msg : ag_strerror(c->rc), "request_id", c->req->request_id);
    json_t *body = err ? json_pack("{s:o}", "error", err) : NULL;
    resp->status = status;
    buf_reset(&resp->body);
    if (body)
        json_dump_buf(&resp->body, body);
    json_decref(body);
    return 0;
}

static int infer_answer(struct http_req *req, struct http_resp *resp, struct infer_call *ic)
{
    struct api_call *c = &ic->c;
    struct infer_request r = {0};
    struct infer_part *parts = NULL;
    char(*names)[256] = NULL;
    struct buf out;
    int rc;

    buf_init(&out, 0);
    if (c->rc || (c->rc = req->body_error))
        goto reply;
    r.output = http_query(req, "output");
    r.format = ic->format;
    if (http_query(req, "encoding") && strcmp(http_query(req, "encoding"), "base64url")) {
        c->rc = ag_errf(&c->err, AG_EINVAL, "encoding", "encoding must be base64url (or absent)");
        goto reply;
    }
    r.raw_data = http_query(req, "encoding") != NULL;
    r.body = ic->body.p;
    r.len = ic->body.n;
    r.kind = ic->type == BODY_JSON ? INFER_BODY_JSON : INFER_BODY_NPY;
    if (ic->type == BODY_NPY) {
        parts = calloc(1, sizeof(*parts));
        if (!parts) {
            c->rc = ag_err_set(&c->err, AG_ENOMEM);
            goto reply;
        }
        parts[0].data = ic->body.p;
        parts[0].len = ic->body.n;
        parts[0].name = http_query(req, "input");
        r.parts = parts;
        r.nparts = 1;
    } else if (ic->type == BODY_MULTIPART) {
        parts = calloc(MAX_PARTS, sizeof(*parts));
        names = calloc(MAX_PARTS, sizeof(*names));
        if (!parts || !names) {
            c->rc = ag_err_set(&c->err, AG_ENOMEM);
            goto reply;
        }
        if ((c->rc = parse_multipart(ic, parts, &r.nparts, names)))
            goto reply;
        r.parts = parts;
    }
    c->rc = market_infer_run(ic->job, &r, &out, &c->err);
reply:
    free(parts);
    free(names);
    if (c->rc) {
        rc = c->rc;
        buf_release(&out);
        if (rc == AG_ETIMEOUT) /* the request's own time limit, not an upstream's */
            return reply_limit(c, resp, 408);
        if (rc == AG_EUNAVAILABLE) {
            char s[24];
            snprintf(s, sizeof(s), "%d", c->err.retry_after > 0 ? c->err.retry_after : 1);
            http_resp_header(req, resp, "Retry-After", s);
            return reply_limit(c, resp, 503);
        }
        return api_reply(c, resp, 200, NULL);
    }
    resp->status = 200;
    buf_release(&resp->body);
    resp->body = out;
    http_resp_header(req, resp, "Content-Type",
                     r.format == INFER_OUT_NPZ   ? NPZ_TYPE
                     : r.format == INFER_OUT_NPY ? NPY_TYPE
                                                 : "application/json");
    http_resp_header(req, resp, "Cache-Control", "no-store");
    return 0;
}

int api_infer(void *app, struct http_req *req, struct http_resp *resp)
{
    struct infer_call *ic = req->stream;

    switch (req->phase) {
    case HTTP_PHASE_BEGIN:
        ic = calloc(1, sizeof(*ic));
        if (!ic)
            return AG_ENOMEM;
        buf_init(&ic->body, 0);
        req->stream = ic;
        return infer_begin(app, req, ic);
    case HTTP_PHASE_BODY:
        if (!ic)
            return AG_ENOMEM;
        return ic->c.rc ? ic->c.rc : infer_body(ic, req->chunk, req->chunk_len);
    case HTTP_PHASE_DONE:
        if (ic) {
            if (ic->reserved)
                atomic_fetch_sub(&ic->c.api->infer_body_bytes, ic->reserved);
            market_infer_close(ic->job);
            buf_release(&ic->body);
            free(ic);
            req->stream = NULL;
        }
        return 0;
    default:
        break;
    }
    if (!ic) {
        struct api_call c;
        api_start(app, req, &c);
        c.rc = ag_err_set(&c.err, AG_ENOMEM);
        return api_reply(&c, resp, 500, NULL);
    }
    /* A run takes up to --infer-timeout-ms: it goes to a thread of its own
     * so this worker thread keeps serving its other connections. Requests
     * refused before the body (or by it) are answered at once. */
    if (req->phase == HTTP_PHASE_ANSWER && !ic->c.rc && !req->body_error) {
        http_defer(req);
        return 0;
    }
    return infer_answer(req, resp, ic);
}
