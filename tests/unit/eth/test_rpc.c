/* test_rpc.c - the JSON-RPC client against a scripted local HTTP server:
 * retries on 5xx/429, error objects, size caps, timeouts, batches. */
#include "core/common.h"

#include "core/buf.h"
#include "core/util.h"
#include "eth/rpc.h"
#include "eth/u256.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* The server answers request i with script[i] (the last entry repeats). */
struct reply {
    int status;       /* 0: never answer (for timeouts) */
    const char *body; /* NULL: echo a batch reply in reverse order */
};

struct server {
    int fd;
    int port;
    const struct reply *script;
    size_t nscript;
    int requests;
    volatile int stop;
    pthread_t th;
};

static char *batch_reply(const char *req)
{
    json_error_t je;
    json_t *in = json_loads(req, 0, &je), *out = json_array();
    for (size_t i = json_array_size(in); i-- > 0;) {
        json_t *r = json_array_get(in, i);
        const char *m = json_string_value(json_object_get(r, "method"));
        json_t *id = json_object_get(r, "id");
        if (!strcmp(m, "eth_chainId"))
            json_array_append_new(
                out, json_pack("{s:s,s:O,s:s}", "jsonrpc", "2.0", "id", id, "result", "0x1"));
        else
            json_array_append_new(out, json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id",
                                                 id, "error", "code", -32601, "message", "nope"));
    }
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(in);
    json_decref(out);
    return s;
}

static void *serve(void *arg)
{
    struct server *s = arg;
    while (!s->stop) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[65536];
        size_t n = 0;
        ssize_t k;
        /* read headers and the body announced by Content-Length */
        while (n < sizeof(req) - 1 && (k = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
            n += (size_t)k;
            req[n] = '\0';
            char *hdr_end = strstr(req, "\r\n\r\n");
            char *cl = strcasestr(req, "Content-Length:");
            if (hdr_end && cl && n >= (size_t)(hdr_end + 4 - req) + (size_t)atoi(cl + 15))
                break;
        }
        const struct reply *r = &s->script[MIN((size_t)s->requests, s->nscript - 1)];
        s->requests++;
        if (r->status == 0) {
            usleep(1500 * 1000);
            close(c);
            continue;
        }
        char *body = r->body ? strdup(r->body) : batch_reply(strstr(req, "\r\n\r\n") + 4);
        char head[256];
        int hn =
            snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     r->status, strlen(body));
        if (write(c, head, (size_t)hn) < 0 || write(c, body, strlen(body)) < 0)
            perror("write");
        free(body);
        close(c);
    }
    return NULL;
}

static void server_start(struct server *s, const struct reply *script, size_t n)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    memset(s, 0, sizeof(*s));
    s->script = script;
    s->nscript = n;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(s->fd >= 0);
    ASSERT_OK(bind(s->fd, (struct sockaddr *)&a, sizeof(a)));
    ASSERT_OK(listen(s->fd, 16));
    ASSERT_OK(getsockname(s->fd, (struct sockaddr *)&a, &al));
    s->port = ntohs(a.sin_port);
    struct timeval tv = {0, 200000};
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ASSERT_OK(pthread_create(&s->th, NULL, serve, s));
}

static void server_stop(struct server *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
}

static void client(struct rpc_client *c, const struct server *s)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s->port);
    ASSERT_OK(rpc_init(c, url, NULL));
    c->backoff_ms = 1;
}

TEST(rpc_retries_5xx_and_429)
{
    static const struct reply script[] = {
        {503, "busy"},
        {429, "slow down"},
        {200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7a69\"}"}};
    struct server s;
    struct rpc_client c;
    uint64_t id = 0;
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    ASSERT_OK(rpc_chain_id(&c, &id, NULL));
    ASSERT_EQ(id, 31337);
    ASSERT_EQ(s.requests, 3);
    rpc_release(&c);
    server_stop(&s);
}

TEST(rpc_gives_up_after_retries)
{
    static const struct reply script[] = {{502, "bad gateway"}};
    struct server s;
    struct rpc_client c;
    struct ag_err e = {0};
    uint64_t id = 0;
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    c.retries = 2;
    ASSERT_EQ(rpc_chain_id(&c, &id, &e), AG_EUNAVAILABLE);
    ASSERT(strstr(e.msg, "502"));
    ASSERT_EQ(s.requests, 3);
    rpc_release(&c);
    server_stop(&s);
}

TEST(rpc_error_object_and_revert_data)
{
    static const struct reply script[] = {
        {200,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":3,\"message\":\"execution reverted: "
         "\\u0000x\","
         "\"data\":\"0x08c379a00000000000000000000000000000000000000000000000000000000000000020"
         "0000000000000000000000000000000000000000000000000000000000000003"
         "6e6f700000000000000000000000000000000000000000000000000000000000\"}}"}};
    struct server s;
    struct rpc_client c;
    struct ag_err e = {0};
    struct buf out, why;
    struct rpc_callmsg m = {0};
    buf_init(&out, 1024);
    buf_init(&why, 1024);
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    ASSERT_EQ(rpc_eth_call(&c, &m, "latest", &out, &e), AG_EUNPROCESSABLE);
    ASSERT_EQ(c.err.code, 3);
    ASSERT(str_starts(c.err.message, "execution reverted"));
    ASSERT_OK(rpc_revert_reason(&c, NULL, 0, &why));
    ASSERT_STR_EQ(why.p, "nop");
    ASSERT_EQ(s.requests, 1); /* a JSON-RPC error is not retried */
    rpc_release(&c);
    server_stop(&s);
    buf_release(&out);
    buf_release(&why);
}

TEST(rpc_caps_and_bad_replies)
{
    static char big[8192];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    static struct reply script[] = {{200, NULL},
                                    {200, "not json"},
                                    {200, "{\"jsonrpc\":\"2.0\",\"id\":1}"},
                                    {200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0xzz\"}"}};
    script[0].body = big;
    struct server s;
    struct rpc_client c;
    struct ag_err e = {0};
    uint64_t v;
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    c.max_response = 1000;
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_ETOOBIG);
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_EBADJSON);
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_EBADJSON);
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_EBADJSON);
    rpc_release(&c);
    server_stop(&s);
}

TEST(rpc_timeout_and_refused)
{
    static const struct reply script[] = {{0, NULL}};
    struct server s;
    struct rpc_client c;
    struct ag_err e = {0};
    uint64_t v;
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    c.timeout_ms = 200;
    c.retries = 0;
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_ETIMEOUT);
    rpc_release(&c);
    int port = s.port;
    server_stop(&s);
    /* nothing listens there any more */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    ASSERT_OK(rpc_init(&c, url, NULL));
    c.retries = 1;
    c.backoff_ms = 1;
    ASSERT_EQ(rpc_block_number(&c, &v, &e), AG_EUNAVAILABLE);
    ASSERT(strstr(e.msg, "unreachable"));
    rpc_release(&c);
    ASSERT_EQ(rpc_init(&c, "ftp://x", NULL), AG_EINVAL);
    ASSERT_EQ(rpc_init(&c, "file:///etc/passwd", NULL), AG_EINVAL);
}

TEST(rpc_batch_matches_ids)
{
    static const struct reply script[] = {{200, NULL}};
    struct server s;
    struct rpc_client c;
    server_start(&s, script, ARRAY_SIZE(script));
    client(&c, &s);
    c.next_id = 100;
    struct rpc_req r[3] = {{"eth_chainId", NULL, NULL, NULL},
                           {"bogus", NULL, NULL, NULL},
                           {"eth_chainId", NULL, NULL, NULL}};
    ASSERT_OK(rpc_batch(&c, r, 3, NULL));
    ASSERT_STR_EQ(json_string_value(r[0].result), "0x1");
    ASSERT(r[1].error && !r[1].result);
    ASSERT_EQ(json_integer_value(json_object_get(r[1].error, "code")), -32601);
    ASSERT_STR_EQ(json_string_value(r[2].result), "0x1");
    rpc_req_release(r, 3);
    ASSERT_EQ(rpc_batch(&c, r, 0, NULL), AG_EINVAL);
    rpc_release(&c);
    server_stop(&s);
}
