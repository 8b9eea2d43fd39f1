/* test_server.c - the HTTP server end to end, in process, through a raw
 * socket client (so malformed and half-sent requests can be tested too). */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define CAP 1024
#define SMALL_CAP 16

struct app {
    struct http_server *srv;
    atomic_int slow_started;
    atomic_int slow_done;
};

/* ---- handlers ---------------------------------------------------------- */

static int h_echo(void *app, struct http_req *req, struct http_resp *resp)
{
    const char *name = http_param(req, "name"), *q = http_query(req, "q");
    UNUSED(app);
    buf_addf(&resp->body, "method=%s name=%s q=%s len=%zu body=", req->method,
             name ? name : "(none)", q ? q : "(none)", req->body.n);
    buf_add(&resp->body, req->body.p, req->body.n);
    http_resp_header(req, resp, "Content-Type", "text/plain; charset=utf-8");
    return 0;
}

static int h_query(void *app, struct http_req *req, struct http_resp *resp)
{
    UNUSED(app);
    for (int i = 0; i < req->nquery; i++)
        buf_addf(&resp->body, "%s=%s;", req->query[i].name, req->query[i].value);
    http_resp_header(req, resp, "Content-Type", "text/plain; charset=utf-8");
    return 0;
}

static int h_fail(void *app, struct http_req *req, struct http_resp *resp)
{
    UNUSED(app);
    UNUSED(req);
    resp->status = 409;
    buf_adds(&resp->body, "{\"error\":{\"code\":\"conflict\",\"message\":\"taken\"}}");
    return 0;
}

static int h_broken(void *app, struct http_req *req, struct http_resp *resp)
{
    UNUSED(app);
    /* Half-built response, then failure: none of it may leak out. */
    http_resp_header(req, resp, "X-Half", "built");
    buf_adds(&resp->body, "partial secret");
    return AG_EDB;
}

static int h_badstatus(void *app, struct http_req *req, struct http_resp *resp)
{
    UNUSED(app);
    UNUSED(req);
    resp->status = 42;
    return 0;
}

static int h_headers(void *app, struct http_req *req, struct http_resp *resp)
{
    const char *h = http_header(req, "X-Test"), *c = http_cookie(req, "sid");
    const char *missing = http_header(req, "X-Absent");
    UNUSED(app);
    buf_addf(&resp->body, "x-test=%s sid=%s absent=%s ip=%s", h ? h : "(none)", c ? c : "(none)",
             missing ? missing : "(none)", req->remote_ip);
    http_resp_header(req, resp, "Content-Type", "text/plain");
    http_resp_header(req, resp, "Cache-Control", "max-age=60");
    http_resp_header(req, resp, "X-Custom", "yes");
    return 0;
}

static int h_slow(void *app, struct http_req *req, struct http_resp *resp)
{
    struct app *a = app;
    UNUSED(req);
    atomic_store(&a->slow_started, 1);
    usleep(400 * 1000);
    buf_adds(&resp->body, "{\"slow\":\"done\"}");
    atomic_store(&a->slow_done, 1);
    return 0;
}

static int h_metrics(void *app, struct http_req *req, struct http_resp *resp)
{
    struct app *a = app;
    http_resp_header(req, resp, "Content-Type", "text/plain; version=0.0.4");
    return http_metrics_render(a->srv, &resp->body);
}

static const struct http_route routes[] = {
    {"GET", "/api/echo/{name}", h_echo, 0, 0},
    {"POST", "/api/echo/{name}", h_echo, 0, 0},
    {"PUT", "/api/small", h_echo, SMALL_CAP, 0},
    {"GET", "/api/query", h_query, 0, 0},
    {"GET", "/api/fail", h_fail, 0, 0},
    {"GET", "/api/broken", h_broken, 0, 0},
    {"GET", "/api/badstatus", h_badstatus, 0, 0},
    {"GET", "/api/headers", h_headers, 0, 0},
    {"GET", "/api/slow", h_slow, 0, 0},
    {"GET", "/metrics", h_metrics, 0, HTTP_ROUTE_HIDDEN},
};

/* ---- fixture ----------------------------------------------------------- */

static struct app the_app;
static char www[512];

static void write_file(const char *rel, const char *text)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", www, rel);
    f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* Starts a server on 127.0.0.1:0 with a static directory holding a few
 * files, dotfiles and a symlink that points outside it. */
static struct http_server *start(void)
{
    struct http_config cfg;
    struct ag_err e;
    char path[1024], target[1024];

    log_set_level(LOG_WARN);
    snprintf(www, sizeof(www), "%s/www", test_tmpdir());
    snprintf(path, sizeof(path), "%s/sub", www);
    ASSERT_OK(mkdir_p(path, 0755));
    snprintf(path, sizeof(path), "%s/api", www);
    ASSERT_OK(mkdir_p(path, 0755));
    write_file("index.html", "<!doctype html><title>home</title>");
    write_file("app.js", "console.log('hi');\n");
    write_file(".secret", "dotfile");
    write_file("sub/page.html", "<p>sub page</p>");
    write_file("sub/index.html", "<p>sub index</p>");
    write_file("sub/.env", "TOKEN=x");
    write_file("api/x", "static file shadowing the API");
    snprintf(target, sizeof(target), "%s/outside.txt", test_tmpdir());
    {
        FILE *f = fopen(target, "w");
        ASSERT(f != NULL);
        fputs("outside the web root", f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/link.txt", www);
    ASSERT_OK(symlink(target, path));

    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = "127.0.0.1:0";
    cfg.static_dir = www;
    cfg.threads = 2;
    cfg.max_body = CAP;
    cfg.timeout_s = 10;
    cfg.csp = "default-src 'self'";
    memset(&the_app, 0, sizeof(the_app));
    ag_err_clear(&e);
    if (http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &the_app.srv, &e))
        test_fail(__FILE__, __LINE__, "http_server_start: %s", e.msg);
    ASSERT(http_server_port(the_app.srv) > 0);
    return the_app.srv;
}

/* ---- a raw HTTP/1.1 client --------------------------------------------- */

struct reply {
    int status;
    char head[8192];   /* status line and headers, NUL-terminated */
    struct buf body;
    bool closed;       /* the server closed the connection */
};

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
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            test_fail(__FILE__, __LINE__, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Finds header `name` (case-insensitive) in the reply; copies its value into
 * a per-thread static buffer, valid until the next call. Returns NULL when
 * absent. */
static const char *header(const struct reply *r, const char *name)
{
    static _Thread_local char val[1024];
    size_t nlen = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2, *end = strstr(l, "\r\n");
        if (!end)
            end = l + strlen(l);
        if (!strncasecmp(l, name, nlen) && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(val, sizeof(val), "%.*s", (int)(end - v), v);
            return val;
        }
    }
    return NULL;
}

static int count_headers(const struct reply *r, const char *name)
{
    int n = 0;
    size_t nlen = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, name, nlen) && l[2 + nlen] == ':')
            n++;
    return n;
}

/* recv_some() reads up to `n` bytes; returns 0 at end of stream. */
static size_t recv_some(int fd, char *p, size_t n, const struct buf *got)
{
    for (;;) {
        ssize_t k = recv(fd, p, n, 0);
        if (k >= 0)
            return (size_t)k;
        if (errno != EINTR)
            test_fail(__FILE__, __LINE__, "recv: %s (after %zu bytes)", strerror(errno), got->n);
    }
}

/* Reads one response from `fd`, never past its end, so pipelined responses
 * on one connection stay intact. With `head_only` no body is expected (HEAD).
 * Handles Content-Length, chunked and close-delimited bodies. */
static void read_reply(int fd, struct reply *r, bool head_only)
{
    struct buf in;
    const char *cl, *te;
    char c, chunk[4096];

    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 0);
    buf_init(&in, 8192);
    /* The head, a byte at a time. */
    while (in.n < 4 || memcmp(in.p + in.n - 4, "\r\n\r\n", 4)) {
        if (!recv_some(fd, &c, 1, &in))
            test_fail(__FILE__, __LINE__, "connection closed before a full response head (%zu bytes)",
                      in.n);
        if (buf_addc(&in, c))
            test_fail(__FILE__, __LINE__, "response head too long");
    }
    ASSERT(!strncmp(in.p, "HTTP/1.", 7));
    memcpy(r->head, in.p, in.n - 2);
    r->head[in.n - 2] = '\0';
    r->status = atoi(r->head + 9);
    buf_release(&in);
    cl = header(r, "Content-Length");
    te = header(r, "Transfer-Encoding");
    if (head_only || r->status == 204 || r->status == 304 || r->status / 100 == 1)
        return;
    if (te && strstr(te, "chunked")) {
        for (;;) {
            char line[64];
            size_t n = 0, len;
            do {
                ASSERT(n < sizeof(line) - 1);
                ASSERT(recv_some(fd, &line[n], 1, &r->body) == 1);
            } while (line[n++] != '\n');
            line[n] = '\0';
            len = (size_t)strtoul(line, NULL, 16);
            ASSERT(len <= sizeof(chunk));
            for (size_t got = 0; got < len + 2;) {
                size_t k = recv_some(fd, chunk + got, len + 2 - got, &r->body);
                ASSERT(k > 0);
                got += k;
            }
            if (!len)
                break;
            ASSERT_OK(buf_add(&r->body, chunk, len));
        }
    } else if (cl) {
        size_t want = (size_t)strtoull(cl, NULL, 10);
        while (r->body.n < want) {
            size_t k = recv_some(fd, chunk, MIN(sizeof(chunk), want - r->body.n), &r->body);
            if (!k) {
                r->closed = true;
                test_fail(__FILE__, __LINE__, "body cut short at %zu of %zu bytes", r->body.n, want);
            }
            ASSERT_OK(buf_add(&r->body, chunk, k));
        }
    } else {
        size_t k;
        while ((k = recv_some(fd, chunk, sizeof(chunk), &r->body)) > 0)
            ASSERT_OK(buf_add(&r->body, chunk, k));
        r->closed = true;
    }
}

/* Sends `raw` on a new connection and reads the response. */
static void exchange(const char *raw, size_t len, struct reply *r, bool head_only)
{
    int fd = dial(http_server_port(the_app.srv));
    ASSERT(fd >= 0);
    send_all(fd, raw, len);
    read_reply(fd, r, head_only);
    close(fd);
}

static void get(const char *path, struct reply *r)
{
    char raw[4096];
    int n = snprintf(raw, sizeof(raw),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    exchange(raw, (size_t)n, r, false);
}

static void request(const char *method, const char *path, const char *extra_headers,
                    const char *body, struct reply *r)
{
    struct buf raw;
    buf_init(&raw, 0);
    ASSERT_OK(buf_addf(&raw, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s",
                       method, path, extra_headers ? extra_headers : ""));
    if (body)
        ASSERT_OK(buf_addf(&raw, "Content-Length: %zu\r\n\r\n%s", strlen(body), body));
    else
        ASSERT_OK(buf_adds(&raw, "\r\n"));
    exchange(raw.p, raw.n, r, !strcmp(method, "HEAD"));
    buf_release(&raw);
}

static void reply_free(struct reply *r)
{
    buf_release(&r->body);
}

/* Checks an error reply: the status, a JSON body with the error code, and
 * that the body's request_id matches the X-Request-Id header. */
static void check_json_error(struct reply *r, int status, const char *code)
{
    json_t *doc = NULL, *err = NULL;
    const char *c = NULL, *id = NULL, *msg = NULL;
    struct ag_err e;
    if (r->status != status)
        test_fail(__FILE__, __LINE__, "status %d, want %d; body: %s", r->status, status, r->body.p);
    ASSERT(header(r, "Content-Type") != NULL);
    ASSERT_STR_EQ(header(r, "Content-Type"), "application/json");
    if (json_parse(r->body.p, r->body.n, &doc, &e))
        test_fail(__FILE__, __LINE__, "error body is not JSON: %s (%s)", r->body.p, e.msg);
    ASSERT_OK(json_get_object(doc, "error", true, &err, &e));
    ASSERT_OK(json_get_str(err, "code", true, &c, &e));
    ASSERT_OK(json_get_str(err, "message", true, &msg, &e));
    ASSERT_OK(json_get_str(err, "request_id", true, &id, &e));
    ASSERT_STR_EQ(c, code);
    ASSERT(strlen(msg) > 0);
    ASSERT(header(r, "X-Request-Id") != NULL);
    ASSERT_STR_EQ(id, header(r, "X-Request-Id"));
    json_decref(doc);
}

/* ---- tests ------------------------------------------------------------- */

TEST(server_routes_and_params)
{
    struct http_server *s = start();
    struct reply r;

    get("/api/echo/alice?q=hello", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "method=GET name=alice q=hello len=0 body=");
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/plain; charset=utf-8");
    reply_free(&r);

    /* Params are percent-decoded, %2F stays inside the param. */
    get("/api/echo/a%2Fb%20c%C3%A9", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "method=GET name=a/b c\xc3\xa9 q=(none) len=0 body=");
    reply_free(&r);

    request("POST", "/api/echo/bob", "Content-Type: text/plain\r\n", "the body", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "method=POST name=bob q=(none) len=8 body=the body");
    reply_free(&r);

    http_server_stop(s, 1000);
}

TEST(server_not_found_and_method_errors)
{
    struct http_server *s = start();
    struct reply r;

    get("/api/nope", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);

    /* Trailing slash is another path. */
    get("/api/fail/", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);

    /* A param that does not decode cleanly matches nothing. */
    get("/api/echo/%zz", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);
    get("/api/echo/a%00b", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);
    get("/api/echo/%ff", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);

    request("DELETE", "/api/echo/x", NULL, NULL, &r);
    check_json_error(&r, 405, "method_not_allowed");
    reply_free(&r);

    request("POST", "/api/fail", NULL, "{}", &r);
    check_json_error(&r, 405, "method_not_allowed");
    reply_free(&r);

    /* A request bound to fail is answered from its headers: the announced
     * body is never waited for (it is not sent here at all). */
    {
        const char raw[] = "POST /api/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n";
        exchange(raw, sizeof(raw) - 1, &r, false);
        check_json_error(&r, 404, "not_found");
        reply_free(&r);
    }
    {
        const char raw[] = "PUT /api/fail HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        exchange(raw, sizeof(raw) - 1, &r, false);
        check_json_error(&r, 405, "method_not_allowed");
        reply_free(&r);
    }

    /* Only GET and HEAD fall through to static files. */
    request("POST", "/index.html", NULL, "x", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);

    http_server_stop(s, 1000);
}

TEST(server_handler_errors)
{
    struct http_server *s = start();
    struct reply r;

    get("/api/fail", &r);
    ASSERT_EQ(r.status, 409);
    ASSERT_STR_EQ(r.body.p, "{\"error\":{\"code\":\"conflict\",\"message\":\"taken\"}}");
    ASSERT_STR_EQ(header(&r, "Content-Type"), "application/json");
    reply_free(&r);

    get("/api/broken", &r);
    check_json_error(&r, 500, "internal");
    ASSERT(strstr(r.body.p, "secret") == NULL);
    ASSERT(header(&r, "X-Half") == NULL);
    reply_free(&r);

    get("/api/badstatus", &r);
    check_json_error(&r, 500, "internal");
    reply_free(&r);

    http_server_stop(s, 1000);
}

TEST(server_request_ids_distinct)
{
    struct http_server *s = start();
    char ids[20][64];
    for (int i = 0; i < 20; i++) {
        struct reply r;
        const char *id;
        get(i % 2 ? "/api/echo/x" : "/api/nope", &r);
        id = header(&r, "X-Request-Id");
        ASSERT(id != NULL);
        ASSERT_EQ(strlen(id), 16);
        ASSERT_EQ(strspn(id, "0123456789abcdef"), 16);
        ASSERT_EQ(count_headers(&r, "X-Request-Id"), 1);
        str_copy(ids[i], id, sizeof(ids[i]));
        for (int j = 0; j < i; j++)
            ASSERT(strcmp(ids[i], ids[j]) != 0);
        reply_free(&r);
    }
    http_server_stop(s, 1000);
}

static void check_security_headers(const struct reply *r)
{
    ASSERT(header(r, "X-Content-Type-Options") != NULL);
    ASSERT_STR_EQ(header(r, "X-Content-Type-Options"), "nosniff");
    ASSERT(header(r, "X-Frame-Options") != NULL);
    ASSERT_STR_EQ(header(r, "X-Frame-Options"), "DENY");
    ASSERT(header(r, "Referrer-Policy") != NULL);
    ASSERT_STR_EQ(header(r, "Referrer-Policy"), "same-origin");
    ASSERT(header(r, "Content-Security-Policy") != NULL);
    ASSERT_STR_EQ(header(r, "Content-Security-Policy"), "default-src 'self'");
}

TEST(server_security_headers)
{
    struct http_server *s = start();
    struct reply r;
    const char *paths[] = {"/api/echo/x", "/api/nope", "/index.html", "/missing.css", "/api/broken"};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        get(paths[i], &r);
        check_security_headers(&r);
        ASSERT(header(&r, "Cache-Control") != NULL);
        ASSERT_EQ(count_headers(&r, "Cache-Control"), 1);
        reply_free(&r);
    }
    get("/api/echo/x", &r);
    ASSERT_STR_EQ(header(&r, "Cache-Control"), "no-store");
    reply_free(&r);

    /* A handler's own headers go out, and its Cache-Control replaces the default. */
    request("GET", "/api/headers", "X-Test: abc\r\nCookie: a=1; sid=s3cr3t\r\n", NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "x-test=abc sid=s3cr3t absent=(none) ip=127.0.0.1");
    ASSERT_STR_EQ(header(&r, "X-Custom"), "yes");
    ASSERT_STR_EQ(header(&r, "Cache-Control"), "max-age=60");
    ASSERT_EQ(count_headers(&r, "Cache-Control"), 1);
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/plain");
    ASSERT_EQ(count_headers(&r, "Content-Type"), 1);
    check_security_headers(&r);
    reply_free(&r);
    http_server_stop(s, 1000);
}

TEST(server_body_within_cap)
{
    struct http_server *s = start();
    struct reply r;
    char body[CAP + 1];
    struct buf raw;

    memset(body, 'b', CAP);
    body[CAP] = '\0';
    request("POST", "/api/echo/full", NULL, body, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "len=1024 body=bbbb") != NULL);
    reply_free(&r);

    request("PUT", "/api/small", NULL, "0123456789abcdef", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "len=16 body=0123456789abcdef") != NULL);
    reply_free(&r);

    /* A chunked body under the cap arrives whole. */
    buf_init(&raw, 0);
    ASSERT_OK(buf_adds(&raw, "POST /api/echo/chunky HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n1\r\n \r\nA\r\nchunked!!!\r\n0\r\n\r\n"));
    exchange(raw.p, raw.n, &r, false);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "method=POST name=chunky q=(none) len=16 body=hello chunked!!!");
    reply_free(&r);
    buf_release(&raw);

    /* Expect: 100-continue within the cap (what curl sends for larger bodies):
     * the server says continue, then reads the body. */
    {
        int fd = dial(http_server_port(s));
        const char head[] = "POST /api/echo/cont HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            "Expect: 100-continue\r\nContent-Length: 11\r\n\r\n";
        ASSERT(fd >= 0);
        send_all(fd, head, sizeof(head) - 1);
        read_reply(fd, &r, false);
        ASSERT_EQ(r.status, 100);
        reply_free(&r);
        send_all(fd, "hello world", 11);
        read_reply(fd, &r, false);
        ASSERT_EQ(r.status, 200);
        ASSERT_STR_EQ(r.body.p, "method=POST name=cont q=(none) len=11 body=hello world");
        reply_free(&r);
        close(fd);
    }

    /* Binary bodies with NULs come through intact. */
    buf_init(&raw, 0);
    ASSERT_OK(buf_adds(&raw, "POST /api/echo/bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 3\r\n\r\n"));
    ASSERT_OK(buf_add(&raw, "a\0b", 3));
    exchange(raw.p, raw.n, &r, false);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "len=3 body=a") != NULL);
    ASSERT_EQ(r.body.n, strlen("method=POST name=bin q=(none) len=3 body=") + 3);
    reply_free(&r);
    buf_release(&raw);
    http_server_stop(s, 1000);
}

TEST(server_body_cap_content_length)
{
    struct http_server *s = start();
    struct reply r;
    char body[CAP + 2];

    /* Over the cap, whole body sent. */
    memset(body, 'b', CAP + 1);
    body[CAP + 1] = '\0';
    request("POST", "/api/echo/x", NULL, body, &r);
    check_json_error(&r, 413, "too_large");
    reply_free(&r);

    /* The route's own cap. */
    request("PUT", "/api/small", NULL, "0123456789abcdefg", &r);
    check_json_error(&r, 413, "too_large");
    reply_free(&r);

    /* A Content-Length over the cap is refused from the headers alone, before
     * any body byte is sent (the client would otherwise upload it all). */
    {
        const char raw[] = "POST /api/echo/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Content-Length: 1000000000\r\n\r\n";
        exchange(raw, sizeof(raw) - 1, &r, false);
        check_json_error(&r, 413, "too_large");
        reply_free(&r);
    }
    /* Same with Expect: 100-continue: the answer is 413, not 100. */
    {
        const char raw[] = "POST /api/echo/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n";
        exchange(raw, sizeof(raw) - 1, &r, false);
        check_json_error(&r, 413, "too_large");
        reply_free(&r);
    }
    /* The server still works afterwards. */
    get("/api/echo/ok", &r);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    http_server_stop(s, 1000);
}

TEST(server_body_cap_chunked)
{
    struct http_server *s = start();
    struct reply r;
    struct buf raw;
    char chunk[300];

    memset(chunk, 'c', sizeof(chunk));
    buf_init(&raw, 0);
    ASSERT_OK(buf_adds(&raw, "POST /api/echo/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"));
    /* 10 x 300 bytes: passes the 1024-byte cap on the fourth chunk. */
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(buf_addf(&raw, "%zx\r\n", sizeof(chunk)));
        ASSERT_OK(buf_add(&raw, chunk, sizeof(chunk)));
        ASSERT_OK(buf_adds(&raw, "\r\n"));
    }
    ASSERT_OK(buf_adds(&raw, "0\r\n\r\n"));
    exchange(raw.p, raw.n, &r, false);
    check_json_error(&r, 413, "too_large");
    reply_free(&r);
    buf_release(&raw);

    /* The per-route cap with a chunked body. */
    buf_init(&raw, 0);
    ASSERT_OK(buf_adds(&raw, "PUT /api/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n"
                             "10\r\n0123456789abcdef\r\n1\r\nX\r\n0\r\n\r\n"));
    exchange(raw.p, raw.n, &r, false);
    check_json_error(&r, 413, "too_large");
    reply_free(&r);
    buf_release(&raw);

    get("/api/echo/ok", &r);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    http_server_stop(s, 1000);
}

TEST(server_endless_chunked_body_cut_off)
{
    /* A chunked body that keeps coming long after passing the cap: the server
     * stops reading and closes the connection rather than drain it forever. */
    struct http_server *s = start();
    static char chunk[65536];
    const char head[] = "POST /api/echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    char size_line[32];
    size_t total = 0, limit = (size_t)64 << 20;
    int fd = dial(http_server_port(s));
    struct buf m;

    ASSERT(fd >= 0);
    memset(chunk, 'z', sizeof(chunk));
    snprintf(size_line, sizeof(size_line), "%zx\r\n", sizeof(chunk));
    send_all(fd, head, sizeof(head) - 1);
    while (total < limit) {
        if (send(fd, size_line, strlen(size_line), MSG_NOSIGNAL) <= 0)
            break;
        if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) <= 0)
            break;
        if (send(fd, "\r\n", 2, MSG_NOSIGNAL) <= 0)
            break;
        total += sizeof(chunk);
    }
    close(fd);
    ASSERT(total < limit);
    /* Counted as a 413 on its route, and the server carries on. */
    buf_init(&m, 0);
    ASSERT_OK(http_metrics_render(s, &m));
    ASSERT(strstr(m.p, "route=\"/api/echo/{name}\",status=\"413\"} 1\n") != NULL);
    buf_release(&m);
    {
        struct reply r;
        get("/api/echo/alive", &r);
        ASSERT_EQ(r.status, 200);
        reply_free(&r);
    }
    http_server_stop(s, 1000);
}

TEST(server_keep_alive_after_errors)
{
    /* An early error answer (404, 405) on a request without a body keeps the
     * connection usable; ids differ per request. */
    struct http_server *s = start();
    struct reply r;
    int fd = dial(http_server_port(s));
    const char pipelined[] = "GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n"
                             "DELETE /api/echo/x HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /api/query?bad=%zz HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /api/echo/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT(fd >= 0);
    send_all(fd, pipelined, sizeof(pipelined) - 1);
    read_reply(fd, &r, false);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);
    read_reply(fd, &r, false);
    check_json_error(&r, 405, "method_not_allowed");
    reply_free(&r);
    read_reply(fd, &r, false);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);
    read_reply(fd, &r, false);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "name=last") != NULL);
    reply_free(&r);
    close(fd);
    http_server_stop(s, 1000);
}

TEST(server_query_decoding)
{
    struct http_server *s = start();
    struct reply r;
    struct buf path;

    get("/api/query?a=1&b=x%20y&c=caf%C3%A9&d=p+q&e&f=%2B&g=&a=2&k%20ey=v%3Dw%26", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "a=1;b=x y;c=caf\xc3\xa9;d=p q;e=;f=+;g=;a=2;k ey=v=w&;");
    reply_free(&r);

    get("/api/echo/x?q=first&q=second", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "q=first ") != NULL);
    reply_free(&r);

    get("/api/query", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "");
    reply_free(&r);

    /* Bad escapes, encoded NULs and invalid UTF-8 are a 400, not a guess. */
    get("/api/query?a=%zz", &r);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);
    get("/api/query?a=%00", &r);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);
    get("/api/query?%ff=1", &r);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);
    get("/api/query?a=%", &r);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);

    /* More arguments than HTTP_MAX_QUERY. */
    buf_init(&path, 0);
    ASSERT_OK(buf_adds(&path, "/api/query?"));
    for (int i = 0; i <= HTTP_MAX_QUERY; i++)
        ASSERT_OK(buf_addf(&path, "k%d=%d&", i, i));
    get(path.p, &r);
    check_json_error(&r, 400, "invalid");
    reply_free(&r);
    buf_release(&path);
    http_server_stop(s, 1000);
}

TEST(server_static_files)
{
    struct http_server *s = start();
    struct reply r;

    get("/", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "<!doctype html><title>home</title>");
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/html; charset=utf-8");
    ASSERT_STR_EQ(header(&r, "Cache-Control"), "no-cache");
    check_security_headers(&r);
    reply_free(&r);

    get("/app.js", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "console.log('hi');\n");
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/javascript; charset=utf-8");
    ASSERT_STR_EQ(header(&r, "Cache-Control"), "public, max-age=300");
    ASSERT_STR_EQ(header(&r, "Content-Length"), "19");
    reply_free(&r);

    get("/sub/page.html", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "<p>sub page</p>");
    reply_free(&r);
    get("/sub/", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body.p, "<p>sub index</p>");
    reply_free(&r);
    /* Percent-encoded names are decoded. */
    get("/%61pp.js", &r);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);

    get("/missing.html", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);
    /* A directory without the trailing slash is not a file. */
    get("/sub", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);
    /* /api/ is never served from disk, even when such a file exists. */
    get("/api/x", &r);
    check_json_error(&r, 404, "not_found");
    ASSERT(strstr(r.body.p, "shadowing") == NULL);
    reply_free(&r);
    http_server_stop(s, 1000);
}

TEST(server_static_refuses_escapes)
{
    struct http_server *s = start();
    static const char *const bad[] = {
        "/../outside.txt",
        "/sub/../../outside.txt",
        "/sub/../index.html",
        "/%2e%2e/outside.txt",
        "/%2E%2E/outside.txt",
        "/sub/%2e%2e/index.html",
        "/sub%2f..%2findex.html",
        "/sub%2F%2E%2E%2Findex.html",
        "/./index.html",
        "/%2e/index.html",
        "/.secret",
        "/%2esecret",
        "/sub/.env",
        "/sub/%2Eenv",
        "//index.html",
        "/sub//page.html",
        "/sub\\..\\index.html",
        "/sub%5c..%5cindex.html",
        "/link.txt",
        "/index.html%00.js",
        "/%ff.html",
        "/index.html%",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct reply r;
        get(bad[i], &r);
        if (r.status != 404 && r.status != 400)
            test_fail(__FILE__, __LINE__, "%s gave %d: %s", bad[i], r.status, r.body.p);
        ASSERT(strstr(r.body.p, "outside the web root") == NULL);
        ASSERT(strstr(r.body.p, "dotfile") == NULL);
        ASSERT(strstr(r.body.p, "TOKEN") == NULL);
        ASSERT(strstr(r.body.p, "<title>home") == NULL);
        reply_free(&r);
    }
    http_server_stop(s, 1000);
}

TEST(server_head)
{
    struct http_server *s = start();
    struct reply r;

    request("HEAD", "/api/echo/x", NULL, NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.n, 0);
    ASSERT(header(&r, "X-Request-Id") != NULL);
    reply_free(&r);

    request("HEAD", "/app.js", NULL, NULL, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(header(&r, "Content-Length"), "19");
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/javascript; charset=utf-8");
    ASSERT_EQ(r.body.n, 0);
    reply_free(&r);

    request("HEAD", "/api/nope", NULL, NULL, &r);
    ASSERT_EQ(r.status, 404);
    ASSERT_EQ(r.body.n, 0);
    reply_free(&r);

    /* HEAD sends no body: a later request on the same connection must parse. */
    {
        int fd = dial(http_server_port(s));
        const char two[] = "HEAD /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /api/echo/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        ASSERT(fd >= 0);
        send_all(fd, two, sizeof(two) - 1);
        read_reply(fd, &r, true);
        ASSERT_EQ(r.status, 200);
        reply_free(&r);
        read_reply(fd, &r, false);
        ASSERT_EQ(r.status, 200);
        ASSERT(strstr(r.body.p, "name=after") != NULL);
        reply_free(&r);
        close(fd);
    }
    http_server_stop(s, 1000);
}

TEST(server_keep_alive)
{
    struct http_server *s = start();
    struct reply r1, r2;
    int fd = dial(http_server_port(s));
    const char one[] = "GET /api/echo/one HTTP/1.1\r\nHost: x\r\n\r\n";
    const char two[] = "POST /api/echo/two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    ASSERT(fd >= 0);
    send_all(fd, one, sizeof(one) - 1);
    read_reply(fd, &r1, false);
    ASSERT_EQ(r1.status, 200);
    ASSERT(!r1.closed);
    send_all(fd, two, sizeof(two) - 1);
    read_reply(fd, &r2, false);
    ASSERT_EQ(r2.status, 200);
    ASSERT(strstr(r2.body.p, "name=two") && strstr(r2.body.p, "body=abc"));
    ASSERT(strcmp(header(&r1, "X-Request-Id"), "") != 0);
    {
        char id1[64];
        str_copy(id1, header(&r1, "X-Request-Id"), sizeof(id1));
        ASSERT(strcmp(id1, header(&r2, "X-Request-Id")) != 0);
    }
    reply_free(&r1);
    reply_free(&r2);
    close(fd);
    http_server_stop(s, 1000);
}

TEST(server_malformed_requests)
{
    struct http_server *s = start();
    static const char *const junk[] = {
        "NOT HTTP AT ALL\r\n\r\n",
        "GET\r\n\r\n",
        "GET /api/echo/x HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /api/echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "GET /api/echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST /api/echo/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /api/echo/x HTTP/1.1\r\nBad Header Line\r\n\r\n",
        "GET /api/echo/x HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    };
    /* A TLS ClientHello on the plain port: the client gives up and closes
     * (MHD only notices a half-close of an incomplete request at its timeout). */
    {
        const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        int fd = dial(http_server_port(s));
        ASSERT(fd >= 0);
        send_all(fd, hello, sizeof(hello) - 1);
        close(fd);
    }
    for (size_t i = 0; i < ARRAY_SIZE(junk); i++) {
        int fd = dial(http_server_port(s));
        char sink[4096];
        ssize_t n;
        ASSERT(fd >= 0);
        send_all(fd, junk[i], strlen(junk[i]));
        shutdown(fd, SHUT_WR);
        /* Whatever the answer (an error or a close), it must come, and the
         * server must keep serving. */
        while ((n = recv(fd, sink, sizeof(sink), 0)) > 0)
            ;
        ASSERT(n == 0 || errno == ECONNRESET);
        close(fd);
    }
    /* A very long URL and header. */
    {
        struct reply r;
        struct buf raw;
        buf_init(&raw, 0);
        ASSERT_OK(buf_adds(&raw, "GET /api/echo/"));
        for (int i = 0; i < 200000; i++)
            ASSERT_OK(buf_addc(&raw, 'a'));
        ASSERT_OK(buf_adds(&raw, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        exchange(raw.p, raw.n, &r, false);
        ASSERT(r.status == 414 || r.status == 431 || r.status == 400 || r.status == 413);
        reply_free(&r);
        buf_release(&raw);
    }
    {
        struct reply r;
        get("/api/echo/still-alive", &r);
        ASSERT_EQ(r.status, 200);
        reply_free(&r);
    }
    http_server_stop(s, 1000);
}

/* Finds the sample line starting with `prefix` and returns its value, or -1. */
static long long metric(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);
    while ((p = strstr(p, prefix))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atoll(p + n + 1);
        p += n;
    }
    return -1;
}

TEST(server_metrics)
{
    struct http_server *s = start();
    struct reply r;
    struct buf m;

    for (int i = 0; i < 3; i++) {
        get("/api/echo/m", &r);
        reply_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        get("/api/fail", &r);
        reply_free(&r);
    }
    get("/api/nope", &r);
    reply_free(&r);
    get("/app.js", &r);
    reply_free(&r);
    get("/no-such-file", &r);
    reply_free(&r);
    request("DELETE", "/api/fail", NULL, NULL, &r);
    reply_free(&r);

    buf_init(&m, 0);
    ASSERT_OK(http_metrics_render(s, &m));
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"GET\",route=\"/api/echo/{name}\",status=\"200\"}"), 3);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"GET\",route=\"/api/fail\",status=\"409\"}"), 2);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"}"), 1);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"\",route=\"unmatched\",status=\"405\"}"), 1);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"\",route=\"static\",status=\"200\"}"), 1);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"\",route=\"static\",status=\"404\"}"), 1);
    ASSERT_EQ(metric(m.p, "agora_http_request_duration_seconds_count{method=\"GET\",route=\"/api/echo/{name}\"}"), 3);
    ASSERT_EQ(metric(m.p, "agora_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/echo/{name}\",le=\"+Inf\"}"), 3);
    ASSERT_EQ(metric(m.p, "agora_http_request_duration_seconds_count{method=\"\",route=\"unmatched\"}"), 2);
    ASSERT(strstr(m.p, "# TYPE agora_http_requests_total counter\n") != NULL);
    ASSERT(strstr(m.p, "# TYPE agora_http_request_duration_seconds histogram\n") != NULL);
    ASSERT(metric(m.p, "agora_http_requests_in_flight") >= 0);
    ASSERT(metric(m.p, "agora_http_open_connections") >= 0);
    /* Routes never called do not appear. */
    ASSERT(strstr(m.p, "/api/slow") == NULL);
    /* Buckets are cumulative and end at the count. */
    {
        long long prev = 0;
        const char *le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                            "0.05",   "0.1",   "0.25",   "0.5",   "1",    "5", "+Inf"};
        for (size_t i = 0; i < ARRAY_SIZE(le); i++) {
            char name[256];
            long long v;
            snprintf(name, sizeof(name),
                     "agora_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/fail\",le=\"%s\"}",
                     le[i]);
            v = metric(m.p, name);
            ASSERT(v >= prev);
            prev = v;
        }
        ASSERT_EQ(prev, 2);
    }
    buf_release(&m);

    /* Rendered over HTTP as well, by a route of the application. */
    get("/metrics", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(metric(r.body.p, "agora_http_requests_total{method=\"GET\",route=\"/api/fail\",status=\"409\"}"), 2);
    ASSERT_STR_EQ(header(&r, "Content-Type"), "text/plain; version=0.0.4");
    reply_free(&r);

    /* A cap too small for the text is an error, not a truncated page. */
    buf_init(&m, 64);
    ASSERT_EQ(http_metrics_render(s, &m), AG_ETOOBIG);
    buf_release(&m);
    http_server_stop(s, 1000);
}

struct slow_client {
    unsigned port;
    struct reply r;
    int fd;
};

static void *slow_thread(void *arg)
{
    struct slow_client *c = arg;
    /* A keep-alive request: the server, draining, must say it closes. */
    const char raw[] = "GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(c->fd, raw, sizeof(raw) - 1);
    read_reply(c->fd, &c->r, false);
    return NULL;
}

TEST(server_stop_lets_inflight_finish)
{
    struct http_server *s = start();
    struct slow_client c;
    pthread_t t;
    unsigned port = http_server_port(s);

    memset(&c, 0, sizeof(c));
    c.port = port;
    c.fd = dial(port);
    ASSERT(c.fd >= 0);
    ASSERT_OK(pthread_create(&t, NULL, slow_thread, &c));
    while (!atomic_load(&the_app.slow_started))
        usleep(1000);
    /* The handler is running now; stop must wait for it and its response. */
    http_server_stop(s, 10000);
    ASSERT_EQ(atomic_load(&the_app.slow_done), 1);
    ASSERT_OK(pthread_join(t, NULL));
    ASSERT_EQ(c.r.status, 200);
    ASSERT_STR_EQ(c.r.body.p, "{\"slow\":\"done\"}");
    ASSERT(header(&c.r, "Connection") != NULL);
    ASSERT_STR_EQ(header(&c.r, "Connection"), "close");
    reply_free(&c.r);
    close(c.fd);
    /* Nobody listens any more. */
    ASSERT_EQ(dial(port), -1);
}

TEST(server_stop_idle_and_keepalive)
{
    /* Stop with an idle keep-alive connection open returns and closes it. */
    struct http_server *s = start();
    struct reply r;
    int fd = dial(http_server_port(s));
    const char one[] = "GET /api/echo/one HTTP/1.1\r\nHost: x\r\n\r\n";
    char sink[64];
    ASSERT(fd >= 0);
    send_all(fd, one, sizeof(one) - 1);
    read_reply(fd, &r, false);
    ASSERT_EQ(r.status, 200);
    reply_free(&r);
    http_server_stop(s, 1000);
    ASSERT(recv(fd, sink, sizeof(sink), 0) <= 0);
    close(fd);
}

TEST(server_start_errors)
{
    struct http_config cfg;
    struct http_server *s = NULL, *s2 = NULL;
    struct ag_err e;
    char addr[64];
    static const char *const bad[] = {"nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                                      "127.0.0.1:-1", "300.1.1.1:0", "[::1:0", "host name:80",
                                      "127.0.0.1:80x"};

    log_set_level(LOG_OFF);
    memset(&cfg, 0, sizeof(cfg));
    ASSERT_EQ(http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "listen");
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cfg.listen = bad[i];
        ag_err_clear(&e);
        if (http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s, &e) != AG_EINVAL)
            test_fail(__FILE__, __LINE__, "listen \"%s\" accepted", bad[i]);
        ASSERT_STR_EQ(e.field, "listen");
    }
    /* A port already in use. */
    cfg.listen = "127.0.0.1:0";
    ASSERT_OK(http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s, &e));
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", http_server_port(s));
    cfg.listen = addr;
    ASSERT_EQ(http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s2, &e), AG_EIO);
    ASSERT(strstr(e.msg, addr) != NULL);
    http_server_stop(s, 100);
    /* "localhost" is accepted as a name for the loopback address. */
    cfg.listen = "localhost:0";
    ASSERT_OK(http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s, &e));
    http_server_stop(s, 100);
    log_set_level(LOG_WARN);
}

/* Whether this machine can bind the IPv6 loopback at all. */
static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 a6;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    bool ok;
    if (fd < 0)
        return false;
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0;
    close(fd);
    return ok;
}

TEST(server_ipv6_listen)
{
    struct http_config cfg;
    struct http_server *s = NULL;
    struct ag_err e;
    struct sockaddr_in6 a6;
    struct reply r;
    const char raw[] = "GET /api/headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    int fd, rc;

    log_set_level(LOG_WARN);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = "[::1]:0";
    cfg.max_body = CAP;
    rc = http_server_start(&cfg, routes, ARRAY_SIZE(routes), &the_app, &s, &e);
    if (!have_ipv6_loopback()) {
        /* No IPv6 here: a clean error, never a crash. */
        ASSERT(rc == 0 || rc == AG_EIO);
        if (!rc)
            http_server_stop(s, 100);
        return;
    }
    ASSERT_OK(rc);
    the_app.srv = s;
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons((uint16_t)http_server_port(s));
    a6.sin6_addr = in6addr_loopback;
    ASSERT_OK(connect(fd, (struct sockaddr *)&a6, sizeof(a6)));
    send_all(fd, raw, sizeof(raw) - 1);
    read_reply(fd, &r, false);
    close(fd);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body.p, "ip=::1") != NULL);
    reply_free(&r);
    http_server_stop(s, 100);
}

TEST(server_static_types_and_large_file)
{
    static const struct {
        const char *name, *type;
    } types[] = {
        {"s.css", "text/css; charset=utf-8"},   {"i.svg", "image/svg+xml"},
        {"m.wasm", "application/wasm"},         {"d.json", "application/json"},
        {"n.mjs", "text/javascript; charset=utf-8"}, {"blob.bin", "application/octet-stream"},
        {"noext", "application/octet-stream"},
    };
    struct http_server *s = start();
    struct reply r;
    char path[1024];
    FILE *f;
    size_t big = (size_t)3 << 20;

    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        char url[64];
        write_file(types[i].name, "x");
        snprintf(url, sizeof(url), "/%s", types[i].name);
        get(url, &r);
        ASSERT_EQ(r.status, 200);
        ASSERT_STR_EQ(header(&r, "Content-Type"), types[i].type);
        ASSERT_STR_EQ(r.body.p, "x");
        reply_free(&r);
    }
    /* A FIFO in the directory is refused, without blocking a worker on open(). */
    snprintf(path, sizeof(path), "%s/pipe.txt", www);
    ASSERT_OK(mkfifo(path, 0644));
    get("/pipe.txt", &r);
    check_json_error(&r, 404, "not_found");
    reply_free(&r);

    /* An empty file is a 200 with an empty body. */
    write_file("empty.txt", "");
    get("/empty.txt", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.n, 0);
    ASSERT_STR_EQ(header(&r, "Content-Length"), "0");
    reply_free(&r);

    /* A multi-megabyte file arrives whole and byte-exact. */
    snprintf(path, sizeof(path), "%s/model.onnx", www);
    f = fopen(path, "wb");
    ASSERT(f != NULL);
    for (size_t i = 0; i < big; i++)
        fputc((int)((i * 7 + i / 4096) & 0xff), f);
    fclose(f);
    get("/model.onnx", &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.n, big);
    for (size_t i = 0; i < big; i += 4099)
        ASSERT_EQ((uint8_t)r.body.p[i], (i * 7 + i / 4096) & 0xff);
    ASSERT_EQ((uint8_t)r.body.p[big - 1], ((big - 1) * 7 + (big - 1) / 4096) & 0xff);
    reply_free(&r);
    http_server_stop(s, 1000);
}

struct load_client {
    int id;
    int ok;
};

#define LOAD_THREADS 8
#define LOAD_REQUESTS 40

static void *load_thread(void *arg)
{
    struct load_client *c = arg;
    for (int j = 0; j < LOAD_REQUESTS; j++) {
        struct reply r;
        char path[64], want[128];
        switch (j % 4) {
        case 0:
        case 1:
            snprintf(path, sizeof(path), "/api/echo/t%d-%d", c->id, j);
            snprintf(want, sizeof(want), "method=GET name=t%d-%d q=(none) len=0 body=", c->id, j);
            get(path, &r);
            c->ok += r.status == 200 && !strcmp(r.body.p, want);
            break;
        case 2:
            get("/api/fail", &r);
            c->ok += r.status == 409;
            break;
        default:
            snprintf(path, sizeof(path), "/api/missing/%d", j);
            get(path, &r);
            c->ok += r.status == 404;
            break;
        }
        reply_free(&r);
    }
    return NULL;
}

TEST(server_concurrent_clients)
{
    /* Several clients at once over the worker pool: every answer is right and
     * the counters add up exactly. */
    struct http_server *s = start();
    struct load_client c[LOAD_THREADS];
    pthread_t t[LOAD_THREADS];
    struct buf m;
    int ok = 0;

    for (int i = 0; i < LOAD_THREADS; i++) {
        c[i].id = i;
        c[i].ok = 0;
        ASSERT_OK(pthread_create(&t[i], NULL, load_thread, &c[i]));
    }
    for (int i = 0; i < LOAD_THREADS; i++) {
        ASSERT_OK(pthread_join(t[i], NULL));
        ok += c[i].ok;
    }
    ASSERT_EQ(ok, LOAD_THREADS * LOAD_REQUESTS);
    buf_init(&m, 0);
    ASSERT_OK(http_metrics_render(s, &m));
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"GET\",route=\"/api/echo/{name}\",status=\"200\"}"),
              LOAD_THREADS * LOAD_REQUESTS / 2);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"GET\",route=\"/api/fail\",status=\"409\"}"),
              LOAD_THREADS * LOAD_REQUESTS / 4);
    ASSERT_EQ(metric(m.p, "agora_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"}"),
              LOAD_THREADS * LOAD_REQUESTS / 4);
    ASSERT_EQ(metric(m.p, "agora_http_request_duration_seconds_count{method=\"GET\",route=\"/api/fail\"}"),
              LOAD_THREADS * LOAD_REQUESTS / 4);
    buf_release(&m);
    http_server_stop(s, 1000);
}
