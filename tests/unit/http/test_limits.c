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

static struct http_server *start(struct ratelimit *rl, unsigned soft, unsigned hard,
                                 unsigned timeout_s)
{
    struct http_config cfg;
    struct http_server *s = NULL;
    struct ag_err e = {0};

    log_set_level(getenv("T_DEBUG") ? LOG_DEBUG : LOG_ERROR);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.max_body = 4096;
    cfg.timeout_s = timeout_s;
    cfg.rate_ip = rl;
    cfg.max_connections = soft;
    cfg.max_connections_hard = hard;
    if (http_server_start(&cfg, routes, ARRAY_SIZE(routes), NULL, &s, &e))
        test_fail(__FILE__, __LINE__, "http_server_start: %s", e.msg);
    return s;
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
