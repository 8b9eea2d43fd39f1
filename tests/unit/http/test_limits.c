/* test_limits.c - the server's abuse controls in process: per-address rate
 * limit (429 + Retry-After + request id), the connection cap (503 +
 * Retry-After past the soft cap) and the request-head deadline that cuts
 * clients trickling their headers. */
#include "core/common.h"
#include "core/log.h"
#include "http/http.h"
#include "http/ratelimit.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int h_ok(void *app, struct http_req *req, struct http_resp *resp)
{
    UNUSED(app);
    UNUSED(req);
    buf_adds(&resp->body, "{\"ok\":true}");
    return 0;
}

static const struct http_route routes[] = {
    {"GET", "/api/ok", h_ok, 0, 0},
    {"POST", "/api/ok", h_ok, 0, 0},
};

/* The body and per-address limits of the tests that use them; zero = off. */
struct extra_limits {
    const char *listen;
    unsigned per_ip, min_rate, window_s, body_timeout_s;
};

static struct http_server *start_with(struct ratelimit *rl, unsigned soft, unsigned hard,
                                      unsigned timeout_s, const struct extra_limits *x)
{
    struct http_config cfg;
    struct http_server *s = NULL;
    struct ag_err e = {0};

    log_set_level(getenv("T_DEBUG") ? LOG_DEBUG : LOG_ERROR);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = x && x->listen ? x->listen : "127.0.0.1:0";
    cfg.threads = 2;
    cfg.max_body = 4096;
    cfg.timeout_s = timeout_s;
    cfg.rate_ip = rl;
    cfg.max_connections = soft;
    cfg.max_connections_hard = hard;
    if (x) {
        cfg.max_connections_per_ip = x->per_ip;
        cfg.min_body_rate = x->min_rate;
        cfg.body_rate_window_s = x->window_s;
        cfg.body_timeout_s = x->body_timeout_s;
    }
    if (http_server_start(&cfg, routes, ARRAY_SIZE(routes), NULL, &s, &e))
        test_fail(__FILE__, __LINE__, "http_server_start: %s", e.msg);
    return s;
}

static struct http_server *start(struct ratelimit *rl, unsigned soft, unsigned hard,
                                 unsigned timeout_s)
{
    return start_with(rl, soft, hard, timeout_s, NULL);
}

static int dial(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = {20, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        ASSERT(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one response's head and a Content-Length body into out; returns
 * the status, or 0 when the connection closed first. */
static int read_reply(int fd, char *out, size_t size)
{
    size_t n = 0;
    char *end;
    long clen = 0;
    int status = 0;

    out[0] = '\0';
    while (!(end = strstr(out, "\r\n\r\n"))) {
        ssize_t r = recv(fd, out + n, size - 1 - n, 0);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        out[n] = '\0';
    }
    sscanf(out, "HTTP/1.1 %d", &status);
    {
        const char *cl = strcasestr(out, "\r\ncontent-length:");
        if (cl)
            clen = strtol(cl + 17, NULL, 10);
    }
    while (n < (size_t)(end + 4 - out) + (size_t)clen && n < size - 1) {
        ssize_t r = recv(fd, out + n, size - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
    }
    return status;
}

static int get(unsigned port, char *out, size_t size)
{
    int fd = dial(port), status;
    send_all(fd, "GET /api/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    status = read_reply(fd, out, size);
    close(fd);
    return status;
}

TEST(limits_rate_per_address)
{
    struct ratelimit_config rc = {.rate = 0.5, .burst = 3};
    struct ratelimit *rl = NULL;
    struct http_server *s;
    char reply[4096], id[32];
    const char *p;
    struct ag_err e = {0};

    ASSERT_OK(ratelimit_new(&rc, &rl, &e));
    s = start(rl, 0, 0, 10);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(get(http_server_port(s), reply, sizeof(reply)), 200);
    ASSERT_EQ(get(http_server_port(s), reply, sizeof(reply)), 429);
    ASSERT(strcasestr(reply, "\r\nRetry-After: 2\r\n") != NULL); /* 1 token at 0.5/s */
    p = strcasestr(reply, "\r\nX-Request-Id: ");
    ASSERT(p != NULL);
    ASSERT_EQ(sscanf(p + 16, "%16[0-9a-f]", id), 1);
    ASSERT(strstr(reply, "\"code\":\"rate_limited\"") != NULL);
    p = strstr(reply, "\"request_id\":\"");
    ASSERT(p && !strncmp(p + 14, id, 16));
    /* A refused request with a body is answered from its headers: the body
     * is never read (and the connection then closes). */
    {
        int fd = dial(http_server_port(s));
        send_all(fd, "POST /api/ok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 4000\r\nExpect: 100-continue\r\n\r\n");
        ASSERT_EQ(read_reply(fd, reply, sizeof(reply)), 429);
        close(fd);
    }
    http_server_stop(s, 1000);
    ratelimit_free(rl);
}

TEST(limits_connection_cap_answers_503)
{
    struct http_server *s = start(NULL, 4, 64, 10);
    unsigned port = http_server_port(s);
    int held[6], fd;
    char reply[4096];

    /* Six connections open (the soft cap is 4), each kept alive by a request. */
    for (int i = 0; i < 6; i++) {
        held[i] = dial(port);
        send_all(held[i], "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
        read_reply(held[i], reply, sizeof(reply));
    }
    /* The seventh is answered, not dropped: 503 with Retry-After, then closed. */
    fd = dial(port);
    send_all(fd, "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(read_reply(fd, reply, sizeof(reply)), 503);
    ASSERT(strcasestr(reply, "\r\nRetry-After: 1\r\n") != NULL);
    ASSERT(strstr(reply, "\"code\":\"unavailable\"") != NULL);
    ASSERT(strstr(reply, "\"request_id\":\"") != NULL);
    ASSERT_EQ(recv(fd, reply, sizeof(reply), 0), 0); /* Connection: close */
    close(fd);
    /* Once clients leave, new ones are served again. */
    for (int i = 0; i < 6; i++)
        close(held[i]);
    for (int tries = 0; tries < 200; tries++) {
        if (get(port, reply, sizeof(reply)) == 200)
            break;
        usleep(20 * 1000);
    }
    ASSERT_EQ(get(port, reply, sizeof(reply)), 200);
    http_server_stop(s, 1000);
}

TEST(limits_trickled_head_is_cut)
{
    /* A 2 s deadline; the client sends its whole head a byte every 150 ms,
     * which keeps the idle timeout from ever firing: without the deadline
     * the request would complete (about 13 s) and be answered 200. */
    struct http_server *s = start(NULL, 0, 0, 2);
    const char *head = "GET /api/ok HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int fd = dial(http_server_port(s));
    char reply[4096];

    for (size_t i = 0; head[i]; i++) {
        if (send(fd, &head[i], 1, MSG_NOSIGNAL) != 1)
            break; /* cut */
        usleep(150 * 1000);
    }
    /* Cut means: closed without an answer. */
    ASSERT_EQ(read_reply(fd, reply, sizeof(reply)), 0);
    close(fd);
    /* A client that sends its head at once is unaffected. */
    ASSERT_EQ(get(http_server_port(s), reply, sizeof(reply)), 200);
    http_server_stop(s, 1000);
}

TEST(limits_stalled_client_is_cut_by_idle_timeout)
{
    struct http_server *s = start(NULL, 0, 0, 1);
    int fd = dial(http_server_port(s));
    char reply[4096];
    /* Half a request head, then silence: closed without an answer. */
    send_all(fd, "GET /api/ok HTTP/1.1\r\nHost:");
    ASSERT(recv(fd, reply, sizeof(reply), 0) <= 0);
    close(fd);
    http_server_stop(s, 1000);
}

/* A POST of `total` announced bytes: `fast` of them at once, then one byte
 * every `gap_ms` until the server answers or cuts (or all are sent). Returns
 * the status read (0 = closed without an answer) and the reply in `out`. */
static int trickle_post(int fd, int total, int fast, int gap_ms, char *out, size_t size)
{
    char head[256], pad[4096];
    int sent = 0;
    snprintf(head, sizeof(head),
             "POST /api/ok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n\r\n", total);
    send_all(fd, head);
    memset(pad, ' ', sizeof(pad));
    ASSERT(fast <= total && total <= (int)sizeof(pad));
    if (fast > 0 && send(fd, pad, (size_t)fast, MSG_NOSIGNAL) != fast)
        return read_reply(fd, out, size);
    sent = fast;
    while (sent < total) {
        struct timeval tv = {0, gap_ms * 1000};
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        /* Anything to read (an answer, or the close) ends the trickle. */
        if (select(fd + 1, &rd, NULL, NULL, &tv) > 0)
            break;
        if (send(fd, pad, 1, MSG_NOSIGNAL) != 1)
            break;
        sent++;
    }
    return read_reply(fd, out, size);
}

/* eventually_metric() waits (up to 4 s) for `line` in the metrics. */
static bool eventually_metric(struct http_server *s, const char *line)
{
    bool found = false;
    for (int tries = 0; tries < 200 && !found; tries++) {
        struct buf m;
        buf_init(&m, 1 << 20);
        ASSERT_OK(http_metrics_render(s, &m));
        found = m.p && strstr(m.p, line) != NULL;
        buf_release(&m);
        if (!found)
            usleep(20 * 1000);
    }
    return found;
}

TEST(limits_trickled_body_is_cut_with_408)
{
    /* At least 1 KiB/s over windows of 2 s. The client sends 100 bytes at
     * once, then a byte every 200 ms: far below the rate, yet never idle
     * long enough for the 10 s idle timeout. Without the body watchdog the
     * 4000-byte body would trickle on for 13 minutes. */
    struct extra_limits x = {.min_rate = 1024, .window_s = 2};
    struct http_server *s = start_with(NULL, 0, 0, 10, &x);
    char reply[4096], id[32];
    const char *p;
    int fd = dial(http_server_port(s));

    ASSERT_EQ(trickle_post(fd, 4000, 100, 200, reply, sizeof(reply)), 408);
    ASSERT(strcasestr(reply, "\r\nConnection: close\r\n") != NULL);
    ASSERT(strstr(reply, "\"code\":\"timeout\"") != NULL);
    ASSERT(strstr(reply, "too slowly") != NULL);
    p = strcasestr(reply, "\r\nX-Request-Id: ");
    ASSERT(p != NULL);
    ASSERT_EQ(sscanf(p + 16, "%16[0-9a-f]", id), 1);
    p = strstr(reply, "\"request_id\":\"");
    ASSERT(p && !strncmp(p + 14, id, 16));
    ASSERT(recv(fd, reply, sizeof(reply), 0) <= 0); /* and closed */
    close(fd);
    /* Others are served meanwhile and after. */
    ASSERT_EQ(get(http_server_port(s), reply, sizeof(reply)), 200);
    ASSERT(eventually_metric(s, "agora_http_connections_cut_total{reason=\"body_rate\"} 1\n"));
    /* counted once the server has seen the connection go */
    ASSERT(eventually_metric(s, "route=\"/api/ok\",status=\"408\"} 1\n"));
    http_server_stop(s, 1000);
}

TEST(limits_body_deadline_cuts_a_long_body)
{
    /* No minimum rate, a 2 s body deadline: a body that keeps coming at 5
     * bytes a second is cut at the deadline. */
    struct extra_limits x = {.body_timeout_s = 2};
    struct http_server *s = start_with(NULL, 0, 0, 10, &x);
    char reply[4096];
    int fd = dial(http_server_port(s));
    ASSERT_EQ(trickle_post(fd, 4000, 10, 200, reply, sizeof(reply)), 408);
    ASSERT(strstr(reply, "took too long") != NULL);
    close(fd);
    ASSERT_EQ(get(http_server_port(s), reply, sizeof(reply)), 200);
    http_server_stop(s, 1000);
}

TEST(limits_body_limits_spare_steady_and_off)
{
    char reply[4096];
    int fd;
    /* Steady: 4000 bytes in pieces of 500 every 250 ms (2 KB/s against a
     * 1 KiB/s minimum over 1 s windows) is answered. */
    struct extra_limits x = {.min_rate = 1024, .window_s = 1};
    struct http_server *s = start_with(NULL, 0, 0, 10, &x);
    fd = dial(http_server_port(s));
    send_all(fd, "POST /api/ok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 4000\r\n\r\n");
    for (int i = 0; i < 8; i++) {
        char piece[501];
        memset(piece, ' ', 500);
        piece[500] = '\0';
        usleep(250 * 1000);
        send_all(fd, piece);
    }
    ASSERT_EQ(read_reply(fd, reply, sizeof(reply)), 200);
    close(fd);
    http_server_stop(s, 1000);

    /* Off (0): the same trickle that is cut above is answered in the end. */
    s = start_with(NULL, 0, 0, 10, NULL);
    fd = dial(http_server_port(s));
    ASSERT_EQ(trickle_post(fd, 20, 0, 200, reply, sizeof(reply)), 200);
    close(fd);
    http_server_stop(s, 1000);
}

static int dial6(unsigned port)
{
    struct sockaddr_in6 sa;
    struct timeval tv = {20, 0};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    sa.sin6_addr = in6addr_loopback;
    ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    return fd;
}

/* One address past its cap of 2: the third connection's request gets 503 +
 * Retry-After naming the address; once a connection closes a fresh one is
 * served again. */
static void per_ip_cap(const char *listen, int (*dialer)(unsigned))
{
    struct extra_limits x = {.listen = listen, .per_ip = 2};
    struct http_server *s = start_with(NULL, 0, 0, 10, &x);
    unsigned port = http_server_port(s);
    int held[2], fd, status = 0;
    char reply[4096];

    for (int i = 0; i < 2; i++) {
        held[i] = dialer(port);
        send_all(held[i], "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_EQ(read_reply(held[i], reply, sizeof(reply)), 200);
    }
    fd = dialer(port);
    send_all(fd, "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(read_reply(fd, reply, sizeof(reply)), 503);
    ASSERT(strcasestr(reply, "\r\nRetry-After: 1\r\n") != NULL);
    ASSERT(strstr(reply, "too many connections from this address") != NULL);
    {
        /* While a newer connection is past the cap, the established ones
         * are still served. */
        int extra = dialer(port);
        send_all(extra, "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_EQ(read_reply(extra, reply + 2048, 2048), 503);
        send_all(held[0], "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_EQ(read_reply(held[0], reply + 2048, 2048), 200);
        close(extra);
    }
    ASSERT(strstr(reply, "\"request_id\":\"") != NULL);
    ASSERT_EQ(recv(fd, reply, sizeof(reply), 0), 0); /* Connection: close */
    close(fd);
    /* The held connections still work. */
    send_all(held[1], "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(read_reply(held[1], reply, sizeof(reply)), 200);
    close(held[0]);
    for (int tries = 0; tries < 200 && status != 200; tries++) {
        fd = dialer(port);
        send_all(fd, "GET /api/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        status = read_reply(fd, reply, sizeof(reply));
        close(fd);
        if (status != 200)
            usleep(20 * 1000);
    }
    ASSERT_EQ(status, 200);
    close(held[1]);
    http_server_stop(s, 1000);
}

TEST(limits_per_address_cap_ipv4)
{
    per_ip_cap("127.0.0.1:0", dial);
}

TEST(limits_per_address_cap_ipv6)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    bool have6;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    have6 = probe >= 0 && bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (probe >= 0)
        close(probe);
    if (!have6) {
        fprintf(stderr, "no IPv6 loopback here: skipped\n");
        return;
    }
    per_ip_cap("[::1]:0", dial6);
}

TEST(limits_per_address_hard_cap_refuses)
{
    /* A cap of 1 refuses connections past 1 + 0 + 16 = 17 outright. */
    struct extra_limits x = {.per_ip = 1};
    struct http_server *s = start_with(NULL, 0, 0, 10, &x);
    unsigned port = http_server_port(s);
    int held[17], status = -1;
    char reply[4096];
    struct buf m;

    for (int i = 0; i < 17; i++)
        held[i] = dial(port);
    /* Once the node has counted them, one more is closed unanswered. */
    for (int tries = 0; tries < 200 && status != 0; tries++) {
        int fd = dial(port);
        const char *req = "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n";
        send(fd, req, strlen(req), MSG_NOSIGNAL);
        status = read_reply(fd, reply, sizeof(reply));
        close(fd);
        if (status != 0)
            usleep(20 * 1000);
    }
    ASSERT_EQ(status, 0);
    buf_init(&m, 1 << 20);
    ASSERT_OK(http_metrics_render(s, &m));
    ASSERT(strstr(m.p, "agora_http_per_address_cap_total{action=\"refused\"} 0\n") == NULL);
    buf_release(&m);
    for (int i = 0; i < 17; i++)
        close(held[i]);
    http_server_stop(s, 1000);
}
