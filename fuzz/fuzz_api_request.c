/* fuzz_api_request.c - every API route with fuzzed path segments, query
 * strings, headers (Upload-Offset, Range, If-None-Match, ...) and bodies,
 * through the real HTTP server, router and handlers, in process, against a
 * temporary node (store, blockstore, two accounts, a listing with a stored
 * file, a tiny ONNX model behind the inference route, and an open upload).
 *
 * Input layout: byte 0 picks the route (api_routes), byte 1 the credentials
 * (bits 0-1: none, alice, bob, a forged token) and the framing (bit 2: an
 * octet-stream Content-Type; bit 3: a chunked body). The rest is split at
 * NUL bytes into: path segments ('/'-separated, percent-encoded as needed),
 * the query string (sent as is but for bytes HTTP forbids), header lines
 * (first byte names one of a fixed set of headers, the rest is its value)
 * and the body (the remainder, NULs included).
 *
 * A 500 answer is a bug: the driver aborts, printing the request.
 */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "api/api.h"
#include "market/market.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    bool ready;
    char dir[64];
    struct store *store;
    struct market market;
    struct api api;
    struct market_infer *infer;
    struct http_server *http;
    unsigned port;
    char token[2][160];
    char upload[80];
    char cid[128];
} F;

/* ---- a tiny blocking HTTP client over loopback --------------------------- */

/* exchange() sends `req` and reads the whole answer (the request asks the
 * server to close); returns the status, 0 when the server answered nothing. */
static int exchange(const struct buf *req, struct buf *reply)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct timeval tv = {30, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
    size_t off = 0;
    char chunk[16384];

    if (fd < 0)
        abort();
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sa.sin_port = htons((uint16_t)F.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
        abort();
    while (off < req->n) {
        ssize_t w = send(fd, req->p + off, req->n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server answered early and closed: read what it said */
        off += (size_t)w;
    }
    buf_reset(reply);
    for (;;) {
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        buf_add(reply, chunk, (size_t)r);
    }
    close(fd);
    if (reply->n > 12 && !memcmp(reply->p, "HTTP/1.", 7))
        status = atoi(reply->p + 9);
    return status;
}

static int call(const char *method, const char *path, const char *token, const char *ctype,
                const char *extra, const char *body, size_t blen, struct buf *reply)
{
    struct buf req;
    int status;
    buf_init(&req, 0);
    buf_addf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (token)
        buf_addf(&req, "Authorization: Bearer %s\r\n", token);
    if (ctype)
        buf_addf(&req, "Content-Type: %s\r\n", ctype);
    if (extra)
        buf_adds(&req, extra);
    buf_addf(&req, "Content-Length: %zu\r\n\r\n", blen);
    buf_add(&req, body, blen);
    status = exchange(&req, reply);
    buf_release(&req);
    return status;
}

/* json_field() copies the string member `key` of the reply's JSON body. */
static void json_field(const struct buf *reply, const char *key, char *out, size_t size)
{
    const char *body = memmem(reply->p, reply->n, "\r\n\r\n", 4);
    json_t *v =
        body ? json_loadb(body + 4, reply->n - (size_t)(body + 4 - reply->p), 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(v, key));
    str_copy(out, s ? s : "", size);
    json_decref(v);
}

#define JSON  "application/json"
#define OCTET "application/offset+octet-stream"

/* The ONNX backend test "test_add" (sum = x + y, float32[3,4,5] each): what
 * POST .../versions/1.0.0/infer runs, so fuzzed JSON and multipart bodies
 * reach the inference inputs' decoders and the run itself. */
static const uint8_t add_onnx[] = {
    0x08, 0x07, 0x12, 0x0c, 0x62, 0x61, 0x63, 0x6b, 0x65, 0x6e, 0x64, 0x2d, 0x74, 0x65, 0x73,
    0x74, 0x3a, 0x69, 0x0a, 0x10, 0x0a, 0x01, 0x78, 0x0a, 0x01, 0x79, 0x12, 0x03, 0x73, 0x75,
    0x6d, 0x22, 0x03, 0x41, 0x64, 0x64, 0x12, 0x08, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x61, 0x64,
    0x64, 0x5a, 0x17, 0x0a, 0x01, 0x78, 0x12, 0x12, 0x0a, 0x10, 0x08, 0x01, 0x12, 0x0c, 0x0a,
    0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x04, 0x0a, 0x02, 0x08, 0x05, 0x5a, 0x17, 0x0a, 0x01,
    0x79, 0x12, 0x12, 0x0a, 0x10, 0x08, 0x01, 0x12, 0x0c, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02,
    0x08, 0x04, 0x0a, 0x02, 0x08, 0x05, 0x62, 0x19, 0x0a, 0x03, 0x73, 0x75, 0x6d, 0x12, 0x12,
    0x0a, 0x10, 0x08, 0x01, 0x12, 0x0c, 0x0a, 0x02, 0x08, 0x03, 0x0a, 0x02, 0x08, 0x04, 0x0a,
    0x02, 0x08, 0x05, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0e};

/* fixture() (re)creates the accounts' tokens, the listing alice/m1 with a
 * published 1.0.0 holding model.bin, and a draft 1.1.0 with an open upload.
 * Idempotent: what exists already is left alone. */
static void fixture(void)
{
    static const char *users[2] = {"alice", "bob"};
    struct buf r;
    char body[512];
    buf_init(&r, 1 << 20);
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "{\"username\":\"%s\",\"email\":\"%s@example.org\",\"password\":\"correct horse "
                 "battery\"}",
                 users[i], users[i]);
        call("POST", "/api/v1/auth/register", NULL, JSON, NULL, body, strlen(body), &r);
        snprintf(body, sizeof(body),
                 "{\"login\":\"%s\",\"password\":\"correct horse battery\",\"token_name\":\"f\"}",
                 users[i]);
        if (call("POST", "/api/v1/auth/login", NULL, JSON, NULL, body, strlen(body), &r) != 200)
            abort();
        json_field(&r, "token", F.token[i], sizeof(F.token[i]));
    }
    snprintf(body, sizeof(body), "{\"slug\":\"m1\",\"title\":\"Fuzz\",\"card\":\"# m1\\n\"}");
    call("POST", "/api/v1/models", F.token[0], JSON, NULL, body, strlen(body), &r);
    for (int v = 0; v < 2; v++) {
        snprintf(body, sizeof(body), "{\"version\":\"1.%d.0\"}", v);
        call("POST", "/api/v1/models/alice/m1/versions", F.token[0], JSON, NULL, body, strlen(body),
             &r);
    }
    snprintf(body, sizeof(body), "{\"name\":\"model.bin\",\"size\":1000}");
    if (call("POST", "/api/v1/models/alice/m1/versions/1.0.0/uploads", F.token[0], JSON, NULL, body,
             strlen(body), &r) == 201) {
        char id[80], path[128], data[1000];
        json_field(&r, "id", id, sizeof(id));
        memset(data, 'w', sizeof(data));
        snprintf(path, sizeof(path), "/api/v1/uploads/%s", id);
        call("PATCH", path, F.token[0], OCTET, "Upload-Offset: 0\r\n", data, sizeof(data), &r);
        json_field(&r, "cid", F.cid, sizeof(F.cid));
        snprintf(body, sizeof(body), "{\"name\":\"add.onnx\",\"size\":%zu}", sizeof(add_onnx));
        if (call("POST", "/api/v1/models/alice/m1/versions/1.0.0/uploads", F.token[0], JSON, NULL,
                 body, strlen(body), &r) == 201) {
            json_field(&r, "id", id, sizeof(id));
            snprintf(path, sizeof(path), "/api/v1/uploads/%s", id);
            call("PATCH", path, F.token[0], OCTET, "Upload-Offset: 0\r\n", (const char *)add_onnx,
                 sizeof(add_onnx), &r);
        }
        call("POST", "/api/v1/models/alice/m1/versions/1.0.0/publish", F.token[0], JSON, NULL, "{}",
             2, &r);
    }
    snprintf(body, sizeof(body), "{\"name\":\"part.bin\",\"size\":100000}");
    if (call("POST", "/api/v1/models/alice/m1/versions/1.1.0/uploads", F.token[0], JSON, NULL, body,
             strlen(body), &r) == 201)
        json_field(&r, "id", F.upload, sizeof(F.upload));
    buf_release(&r);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    UNUSED(sb), UNUSED(flag), UNUSED(ftw);
    remove(path);
    return 0;
}

static void teardown(void)
{
    if (!F.ready)
        return;
    http_server_stop(F.http, 1000);
    market_infer_free(F.infer);
    market_storage_close(&F.market);
    market_release(&F.market);
    store_close(F.store);
    nftw(F.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    F.ready = false;
}

static void setup(void)
{
    struct market_config mcfg = {.pwhash = PWHASH_MIN,
                                 .session_ttl = 3600,
                                 .throttle_account_max = 1000000,
                                 .throttle_ip_max = 1000000,
                                 .throttle_window = 900,
                                 .throttle_lock = 1};
    struct market_storage_config scfg = {0};
    /* Small limits: a fuzzed run must end fast and small. */
    struct market_infer_config icfg = {.timeout_ms = 2000,
                                       .max_memory = 64 << 20,
                                       .max_body = 1 << 20,
                                       .max_model_bytes = 1 << 20,
                                       .threads = 1,
                                       .max_concurrent = 2,
                                       .cache_models = 2,
                                       .cache_bytes = 16 << 20};
    struct http_config hcfg = {0};
    struct ag_err e = {0};
    char path[128];

    log_set_level(LOG_ERROR);
    /* OpenSSL loads its configuration on first use, keeping error state in
     * the thread that does it: make that this thread, not a server worker
     * (that state would outlive the worker and show as a leak at exit). */
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
    if (sodium_init() < 0)
        abort();
    snprintf(F.dir, sizeof(F.dir), "/tmp/agora-fuzz-api-XXXXXX");
    if (!mkdtemp(F.dir))
        abort();
    snprintf(path, sizeof(path), "%s/agora.db", F.dir);
    if (store_open(path, &F.store, &e))
        goto fail;
    market_init(&F.market, F.store, &mcfg);
    scfg.data_dir = F.dir;
    scfg.max_upload = 1 << 20;
    scfg.verify = true;
    if (market_storage_open(&F.market, &scfg, &e))
        goto fail;
    if (market_infer_new(&icfg, &F.infer, &e))
        goto fail;
    F.api.market = &F.market;
    F.api.infer = F.infer;
    F.api.data_dir = F.dir;
    F.api.version = "fuzz";
    hcfg.listen = "127.0.0.1:0";
    hcfg.threads = 1;
    hcfg.max_connections = 64;
    hcfg.timeout_s = 30;
    hcfg.max_body = 1 << 20;
    if (http_server_start(&hcfg, api_routes, api_nroutes, &F.api, &F.http, &e))
        goto fail;
    F.api.http = F.http;
    F.port = http_server_port(F.http);
    F.ready = true;
    atexit(teardown);
    fixture();
    return;
fail:
    fprintf(stderr, "fuzz_api_request: setup failed: %s\n", e.msg);
    abort();
}

/* ---- building the request from the input --------------------------------- */

static bool unreserved(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static const char *param_default(const char *name)
{
    if (!strcmp(name, "owner") || !strcmp(name, "username"))
        return "alice";
    if (!strcmp(name, "slug"))
        return "m1";
    if (!strcmp(name, "version"))
        return "1.0.0";
    if (!strcmp(name, "name"))
        return "model.bin";
    if (!strcmp(name, "id"))
        return F.upload[0] ? F.upload : "1";
    if (!strcmp(name, "cid"))
        return F.cid[0] ? F.cid : "bafkqaaa";
    return "x";
}

/* next_part() returns the bytes up to the next NUL (or the end) and moves on. */
static size_t next_part(const uint8_t **p, size_t *n, const uint8_t **part)
{
    const uint8_t *z = memchr(*p, 0, *n);
    size_t len = z ? (size_t)(z - *p) : *n;
    *part = *p;
    *p += z ? len + 1 : len;
    *n -= z ? len + 1 : len;
    return len;
}

/* The path: the route's pattern with each {name} replaced by the next
 * '/'-separated segment of `seg` (percent-encoded), or a default. */
static void build_path(struct buf *out, const char *pattern, const uint8_t *seg, size_t nseg)
{
    for (const char *p = pattern; *p;) {
        if (*p != '{') {
            buf_add(out, p++, 1);
            continue;
        }
        const char *close = strchr(p, '}');
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)(close - p - 1), p + 1);
        p = close + 1;
        if (nseg) {
            const uint8_t *slash = memchr(seg, '/', nseg);
            size_t len = slash ? (size_t)(slash - seg) : nseg;
            for (size_t i = 0; i < len; i++) {
                if (unreserved(seg[i]))
                    buf_add(out, (const char *)&seg[i], 1);
                else
                    buf_addf(out, "%%%02X", seg[i]);
            }
            seg += slash ? len + 1 : len;
            nseg -= slash ? len + 1 : len;
        } else {
            buf_adds(out, param_default(name));
        }
    }
}

static const char *const header_names[] = {
    "Upload-Offset", "Range",  "If-None-Match", "If-Range",      "Content-Type",
    "X-CSRF-Token",  "Cookie", "Accept",        "Upload-Length", "Expect"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct http_route *rt;
    const uint8_t *seg, *query, *hdrs, *body;
    size_t nseg, nquery, nhdrs, nbody;
    struct buf req, reply;
    int status, flags;

    if (!F.ready)
        setup();
    if (size < 2)
        return 0;
    rt = &api_routes[data[0] % api_nroutes];
    flags = data[1];
    data += 2;
    size -= 2;
    nseg = next_part(&data, &size, &seg);
    nquery = next_part(&data, &size, &query);
    nhdrs = next_part(&data, &size, &hdrs);
    body = data;
    nbody = size;

    buf_init(&req, 0);
    buf_init(&reply, 1 << 24);
    buf_addf(&req, "%s ", rt->method);
    build_path(&req, rt->pattern, seg, nseg);
    if (nquery) {
        buf_adds(&req, "?");
        for (size_t i = 0; i < nquery; i++) {
            if (query[i] > 0x20 && query[i] < 0x7f && query[i] != '#')
                buf_add(&req, (const char *)&query[i], 1);
            else
                buf_addf(&req, "%%%02X", query[i]);
        }
    }
    buf_adds(&req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    switch (flags & 3) {
    case 1:
        buf_addf(&req, "Authorization: Bearer %s\r\n", F.token[0]);
        break;
    case 2:
        buf_addf(&req, "Authorization: Bearer %s\r\n", F.token[1]);
        break;
    case 3:
        buf_adds(&req, "Authorization: Bearer agora_forged0000000000000000\r\n");
        break;
    default:
        break;
    }
    buf_addf(&req, "Content-Type: %s\r\n", flags & 4 ? OCTET : JSON);
    while (nhdrs) {
        const uint8_t *nl = memchr(hdrs, '\n', nhdrs);
        size_t len = nl ? (size_t)(nl - hdrs) : nhdrs;
        if (len >= 1) {
            buf_addf(&req, "%s: ", header_names[hdrs[0] % ARRAY_SIZE(header_names)]);
            for (size_t i = 1; i < len; i++)
                if (hdrs[i] >= 0x20 && hdrs[i] < 0x7f)
                    buf_add(&req, (const char *)&hdrs[i], 1);
            buf_adds(&req, "\r\n");
        }
        hdrs += nl ? len + 1 : len;
        nhdrs -= nl ? len + 1 : len;
    }
    if (flags & 8) {
        /* Chunked framing, in pieces of up to 255 bytes (sizes from the body). */
        buf_adds(&req, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0; off < nbody;) {
            size_t k = MIN(nbody - off, (size_t)(body[off] | 1));
            buf_addf(&req, "%zx\r\n", k);
            buf_add(&req, (const char *)body + off, k);
            buf_adds(&req, "\r\n");
            off += k;
        }
        buf_adds(&req, "0\r\n\r\n");
    } else {
        buf_addf(&req, "Content-Length: %zu\r\n\r\n", nbody);
        buf_add(&req, (const char *)body, nbody);
    }
    status = exchange(&req, &reply);
    if (status == 500) {
        fprintf(stderr, "fuzz_api_request: 500 for:\n%.*s\n--- answer:\n%.*s\n",
                (int)MIN(req.n, (size_t)4096), req.p, (int)MIN(reply.n, (size_t)2048), reply.p);
        abort();
    }
    /* Deleting the fixture (or a token) narrows what later inputs reach. */
    if ((status >= 200 && status < 300 &&
         (!strcmp(rt->method, "DELETE") || strstr(rt->pattern, "logout"))) ||
        (status == 200 && !strcmp(rt->method, "PATCH") && strstr(rt->pattern, "/uploads/")))
        fixture();
    buf_release(&req);
    buf_release(&reply);
    return 0;
}
