/* test_stream.c - streamed request bodies (HTTP_ROUTE_STREAM) and streamed
 * responses (reader callbacks), in process, through a raw socket client. */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CAP       ((size_t)64 << 20)
#define SMALL_CAP 4096

/* What the streaming routes saw, for the test to check. */
struct sapp {
    atomic_int begins, pieces, handled, done_handled, done_aborted, frees;
    atomic_uint_fast64_t bytes, max_piece, sum;
    atomic_int body_was_buffered;
};

static struct sapp S;

/* A byte of the test pattern at position i. */
static uint8_t pat(uint64_t i)
{
    return (uint8_t)((i * 131u + (i >> 12)) & 0xff);
}

/* ---- streamed bodies --------------------------------------------------- */

struct upload_state {
    uint64_t n, sum;
};

static int b_sum(struct http_req *req, const void *data, size_t len)
{
    struct upload_state *st = req->stream;
    const uint8_t *p = data;
    if (!data) {
        atomic_fetch_add(&S.begins, 1);
        if (http_header(req, "X-Deny"))
            return AG_EFORBIDDEN;
        st = calloc(1, sizeof(*st));
        if (!st)
            return AG_ENOMEM;
        req->stream = st;
        return 0;
    }
    atomic_fetch_add(&S.pieces, 1);
    if (len > atomic_load(&S.max_piece))
        atomic_store(&S.max_piece, len);
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pat(st->n + i))
            return AG_EINVAL;
        st->sum += p[i];
    }
    st->n += len;
    atomic_store(&S.bytes, st->n);
    if (http_header(req, "X-Fail-After") && st->n > 100000)
        return AG_ECONFLICT;
    return 0;
}

static void d_sum(struct http_req *req, bool handled)
{
    atomic_fetch_add(handled ? &S.done_handled : &S.done_aborted, 1);
    free(req->stream);
    req->stream = NULL;
}

static int h_sum(void *app, struct http_req *req, struct http_resp *resp)
{
    struct upload_state *st = req->stream;
    UNUSED(app);
    switch (req->phase) {
    case HTTP_PHASE_BEGIN:
        return b_sum(req, NULL, 0);
    case HTTP_PHASE_BODY:
        return b_sum(req, req->chunk, req->chunk_len);
    case HTTP_PHASE_DONE:
        d_sum(req, req->handled);
        return 0;
    }
    atomic_fetch_add(&S.handled, 1);
    if (req->body.n)
        atomic_store(&S.body_was_buffered, 1);
    if (req->body_error) {
        resp->status = req->body_error == AG_EFORBIDDEN ? 403 : 409;
        buf_addf(&resp->body, "{\"error\":\"%s\"}", ag_err_name(req->body_error));
        return 0;
    }
    buf_addf(&resp->body, "{\"n\":%" PRIu64 ",\"sum\":%" PRIu64 ",\"received\":%" PRIu64 "}", st->n,
             st->sum, req->body_received);
    return 0;
}

/* ---- streamed responses ------------------------------------------------ */

struct gen {
    uint64_t size, fail_at;
};

static ssize_t gen_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct gen *g = ctx;
    size_t n;
    if (g->fail_at && pos >= g->fail_at)
        return HTTP_READER_ERROR;
    if (pos >= g->size)
        return HTTP_READER_END;
    n = (size_t)MIN((uint64_t)max, g->size - pos);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)pat(pos + i);
    return (ssize_t)n;
}

static void gen_free(void *ctx)
{
    atomic_fetch_add(&S.frees, 1);
    free(ctx);
}

static int h_gen(void *app, struct http_req *req, struct http_resp *resp)
{
    struct gen *g = calloc(1, sizeof(*g));
    const char *n = http_query(req, "n"), *fail = http_query(req, "fail");
    UNUSED(app);
    if (!g)
        return AG_ENOMEM;
    parse_u64(n ? n : "0", &g->size);
    if (fail)
        parse_u64(fail, &g->fail_at);
    resp->reader = gen_read;
    resp->reader_ctx = g;
    resp->reader_free = gen_free;
    resp->reader_size = http_query(req, "chunked") ? HTTP_SIZE_UNKNOWN : g->size;
    http_resp_header(req, resp, "Content-Type", "application/octet-stream");
    return 0;
}

/* A handler that sets a reader and then fails: the reader must be freed. */
static int h_gen_broken(void *app, struct http_req *req, struct http_resp *resp)
{
    int rc = h_gen(app, req, resp);
    return rc ? rc : AG_EIO;
}

static const struct http_route routes[] = {
    {"POST", "/api/sum", h_sum, CAP, HTTP_ROUTE_STREAM},
    {"POST", "/api/sum-small", h_sum, SMALL_CAP, HTTP_ROUTE_STREAM},
    {"GET", "/api/gen", h_gen, 0, 0},
    {"GET", "/api/gen-broken", h_gen_broken, 0, 0},
};

static struct http_server *start(void)
{
    struct http_config cfg;
    struct http_server *srv = NULL;
    struct ag_err e;

    log_set_level(LOG_ERROR);
    memset(&S, 0, sizeof(S));
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.max_body = 1024;
    cfg.timeout_s = 10;
    ag_err_clear(&e);
    if (http_server_start(&cfg, routes, ARRAY_SIZE(routes), NULL, &srv, &e))
        test_fail(__FILE__, __LINE__, "http_server_start: %s", e.msg);
    return srv;
}

/* ---- a raw client ------------------------------------------------------ */

static int dial(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = {20, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    return fd;
}

/* send_all() returns false when the peer stopped reading (closed). */
static bool send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Sends `len` pattern bytes starting at pattern offset 0; false if cut. */
static bool send_pattern(int fd, uint64_t len)
{
    char chunk[65536];
    for (uint64_t pos = 0; pos < len;) {
        size_t n = (size_t)MIN((uint64_t)sizeof(chunk), len - pos);
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)pat(pos + i);
        if (!send_all(fd, chunk, n))
            return false;
        pos += n;
    }
    return true;
}

/* Reads until the server closes; splits head and body (de-chunked). */
struct reply {
    int status;
    char head[4096];
    struct buf body;
};

static void read_all(int fd, struct reply *r)
{
    struct buf in;
    char tmp[65536];
    const char *sep;
    ssize_t k;

    memset(r, 0, sizeof(*r));
    buf_init(&in, (size_t)256 << 20);
    buf_init(&r->body, (size_t)256 << 20);
    while ((k = recv(fd, tmp, sizeof(tmp), 0)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0)
            ASSERT_OK(buf_add(&in, tmp, (size_t)k));
    ASSERT(in.n > 12);
    sep = memmem(in.p, in.n, "\r\n\r\n", 4);
    ASSERT(sep != NULL);
    snprintf(r->head, sizeof(r->head), "%.*s", (int)(sep - in.p), in.p);
    r->status = atoi(r->head + 9);
    sep += 4;
    if (strcasestr(r->head, "Transfer-Encoding: chunked")) {
        const char *p = sep, *end = in.p + in.n;
        while (p < end) {
            char *after;
            unsigned long n = strtoul(p, &after, 16);
            const char *data = strstr(after, "\r\n");
            if (!data || n == 0)
                break;
            data += 2;
            if ((size_t)(end - data) < n)
                break; /* cut short: keep what came */
            ASSERT_OK(buf_add(&r->body, data, n));
            p = data + n + 2;
        }
    } else {
        ASSERT_OK(buf_add(&r->body, sep, in.n - (size_t)(sep - in.p)));
    }
    buf_release(&in);
}

static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 2000 && atomic_load(v) < want; i++)
        usleep(5000);
    ASSERT_EQ(atomic_load(v), want);
}

static void post(struct http_server *srv, const char *path, const char *extra, uint64_t len,
                 struct reply *r)
{
    char head[512];
    int fd = dial(http_server_port(srv));
    snprintf(head, sizeof(head),
             "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%sContent-Length: %" PRIu64
             "\r\n\r\n",
             path, extra, len);
    ASSERT(send_all(fd, head, strlen(head)));
    send_pattern(fd, len); /* may be cut when the server answers early */
    read_all(fd, r);
    close(fd);
}

/* ---- tests ------------------------------------------------------------- */

TEST(stream_body_arrives_in_pieces)
{
    struct http_server *srv = start();
    struct reply r;
    uint64_t len = (uint64_t)24 << 20, sum = 0;
    char want[128];

    for (uint64_t i = 0; i < len; i++)
        sum += pat(i);
    post(srv, "/api/sum", "", len, &r);
    ASSERT_EQ(r.status, 200);
    snprintf(want, sizeof(want), "{\"n\":%" PRIu64 ",\"sum\":%" PRIu64 ",\"received\":%" PRIu64 "}",
             len, sum, len);
    ASSERT_OK(buf_addc(&r.body, '\0'));
    ASSERT_STR_EQ(r.body.p, want);
    /* Nothing was buffered: the body came in many pieces, none large. */
    ASSERT_EQ(atomic_load(&S.body_was_buffered), 0);
    ASSERT(atomic_load(&S.pieces) > 10);
    ASSERT(atomic_load(&S.max_piece) <= 256 * 1024);
    wait_for(&S.done_handled, 1);
    ASSERT_EQ(atomic_load(&S.done_aborted), 0);
    ASSERT_EQ(atomic_load(&S.begins), 1);
    buf_release(&r.body);
    http_server_stop(srv, 1000);
}

TEST(stream_empty_body)
{
    struct http_server *srv = start();
    struct reply r;
    post(srv, "/api/sum", "", 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_OK(buf_addc(&r.body, '\0'));
    ASSERT_STR_EQ(r.body.p, "{\"n\":0,\"sum\":0,\"received\":0}");
    wait_for(&S.done_handled, 1);
    buf_release(&r.body);
    http_server_stop(srv, 1000);
}

TEST(stream_refused_before_the_body)
{
    struct http_server *srv = start();
    struct reply r;
    post(srv, "/api/sum", "X-Deny: 1\r\n", (uint64_t)8 << 20, &r);
    ASSERT_EQ(r.status, 403);
    ASSERT_EQ(atomic_load(&S.pieces), 0); /* no byte reached the application */
    wait_for(&S.done_handled, 1);
    buf_release(&r.body);
    http_server_stop(srv, 1000);
}

TEST(stream_body_error_answers_after_the_body)
{
    struct http_server *srv = start();
    struct reply r;
    post(srv, "/api/sum", "X-Fail-After: 1\r\n", 600000, &r);
    ASSERT_EQ(r.status, 409);
    ASSERT(atomic_load(&S.bytes) < 600000); /* the rest was dropped */
    wait_for(&S.done_handled, 1);
    buf_release(&r.body);
    http_server_stop(srv, 1000);
}

TEST(stream_body_error_with_much_left_cuts)
{
    struct http_server *srv = start();
    struct reply r;
    char head[256];
    int fd = dial(http_server_port(srv));
    snprintf(head, sizeof(head),
             "POST /api/sum HTTP/1.1\r\nHost: x\r\nX-Fail-After: 1\r\nContent-Length: %d\r\n\r\n",
             64 << 20);
    ASSERT(send_all(fd, head, strlen(head)));
    ASSERT(!send_pattern(fd, (uint64_t)64 << 20)); /* the server hangs up */
    close(fd);
    wait_for(&S.done_aborted, 1);
    ASSERT_EQ(atomic_load(&S.handled), 0);
    UNUSED(r);
    http_server_stop(srv, 1000);
}

TEST(stream_cap_still_applies)
{
    struct http_server *srv = start();
    struct reply r;
    post(srv, "/api/sum-small", "", SMALL_CAP + 1, &r);
    ASSERT_EQ(r.status, 413);
    ASSERT_EQ(atomic_load(&S.begins), 0); /* refused from the headers alone */
    buf_release(&r.body);
    http_server_stop(srv, 1000);
}

TEST(stream_dropped_connection_calls_done)
{
    struct http_server *srv = start();
    char head[256];
    int fd = dial(http_server_port(srv));
    snprintf(head, sizeof(head), "POST /api/sum HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
             10 << 20);
    ASSERT(send_all(fd, head, strlen(head)));
    ASSERT(send_pattern(fd, 300000));
    /* Wait until the server has seen the bytes, then hang up mid-body. */
    for (int i = 0; i < 2000 && atomic_load(&S.bytes) < 300000; i++)
        usleep(5000);
    ASSERT_EQ(atomic_load(&S.bytes), 300000);
    close(fd);
    wait_for(&S.done_aborted, 1);
    ASSERT_EQ(atomic_load(&S.handled), 0);
    ASSERT_EQ(atomic_load(&S.done_handled), 0);
    http_server_stop(srv, 1000);
}

static void get(struct http_server *srv, const char *target, const char *method, struct reply *r)
{
    char head[512];
    int fd = dial(http_server_port(srv));
    snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
             target);
    ASSERT(send_all(fd, head, strlen(head)));
    read_all(fd, r);
    close(fd);
}

static void check_pattern(const struct buf *b, uint64_t len)
{
    ASSERT_EQ(b->n, len);
    for (uint64_t i = 0; i < len; i++)
        if ((uint8_t)b->p[i] != pat(i))
            test_fail(__FILE__, __LINE__, "byte %" PRIu64 " differs", i);
}

TEST(stream_response_sized)
{
    struct http_server *srv = start();
    struct reply r;
    uint64_t len = (uint64_t)5 << 20 | 12345;
    char path[64];

    snprintf(path, sizeof(path), "/api/gen?n=%" PRIu64, len);
    get(srv, path, "GET", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strcasestr(r.head, "Content-Length: 5255225") != NULL);
    check_pattern(&r.body, len);
    buf_release(&r.body);
    get(srv, path, "HEAD", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.n, 0);
    buf_release(&r.body);
    wait_for(&S.frees, 2);
    http_server_stop(srv, 1000);
}

TEST(stream_response_chunked)
{
    struct http_server *srv = start();
    struct reply r;
    get(srv, "/api/gen?n=1000000&chunked=1", "GET", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strcasestr(r.head, "Transfer-Encoding: chunked") != NULL);
    check_pattern(&r.body, 1000000);
    buf_release(&r.body);
    get(srv, "/api/gen?n=0", "GET", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.n, 0);
    buf_release(&r.body);
    wait_for(&S.frees, 2);
    http_server_stop(srv, 1000);
}

TEST(stream_response_error_cuts_the_connection)
{
    struct http_server *srv = start();
    struct reply r;
    get(srv, "/api/gen?n=4000000&fail=1000000", "GET", &r);
    ASSERT_EQ(r.status, 200);
    /* The headers promised 4000000 bytes; fewer came and the socket closed. */
    ASSERT(r.body.n >= 1000000 && r.body.n < 4000000);
    buf_release(&r.body);
    wait_for(&S.frees, 1);
    get(srv, "/api/gen-broken?n=10", "GET", &r);
    ASSERT_EQ(r.status, 500);
    buf_release(&r.body);
    wait_for(&S.frees, 2);
    http_server_stop(srv, 1000);
}
