/* cache.c - a micro-cache of anonymous public reads.
 *
 * The same few reads (the home page's lists, popular searches, popular
 * model pages) arrive many times a second, and a broad search ranks and
 * counts tens of thousands of rows. Anonymous GETs of the routes that opt in
 * are answered from here for up to `ttl_ms`. An entry also dies when the
 * market's generation moves (any write on this node that a public read could
 * show), so this node's users read their own writes at once; other nodes'
 * writes show within ttl_ms. It is a cache, not state: each node has its own
 * and nothing breaks when it is empty.
 */
#include "core/common.h"
#include "core/util.h"
#include "api/internal.h"

#include <pthread.h>

#define SLOTS 4096
#define LOCKS 64
#define ENTRY_MAX (256 * 1024)
#define STALE_MAX_MS 10000 /* never serve an entry more than this past its expiry */

struct slot {
    char *key;
    char *body;
    size_t len;
    int64_t expires_ms;
    uint64_t generation;
    bool refreshing;   /* one request is recomputing an expired entry */
};

struct api_cache {
    int ttl_ms;
    pthread_mutex_t locks[LOCKS];
    struct slot slots[SLOTS];
};

struct api_cache *api_cache_new(int ttl_ms)
{
    struct api_cache *c;
    if (ttl_ms <= 0 || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->ttl_ms = ttl_ms;
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void api_cache_free(struct api_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SLOTS; i++) {
        free(c->slots[i].key);
        free(c->slots[i].body);
    }
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c);
}

/* The key is the path and the decoded query, in order; NULL when the request
 * may not use the cache (not a GET, or it carries credentials). */
static char *cache_key(struct api *api, struct http_req *req)
{
    struct buf k;
    if (!api->cache || strcmp(req->method, "GET") || http_header(req, "Authorization") ||
        http_cookie(req, SESSION_COOKIE))
        return NULL;
    buf_init(&k, 8192);
    buf_adds(&k, req->path);
    for (int i = 0; i < req->nquery; i++)
        buf_addf(&k, "%c%s=%s", i ? '\x1f' : '?', req->query[i].name, req->query[i].value);
    if (k.n >= 8192) {
        buf_release(&k);
        return NULL;
    }
    return buf_detach(&k, NULL);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

bool api_cache_serve(struct api *api, struct http_req *req, struct http_resp *resp)
{
    char *key = cache_key(api, req);
    struct api_cache *c = api->cache;
    struct slot *sl;
    bool hit = false;
    uint32_t h;

    if (!key)
        return false;
    h = hash(key) % SLOTS;
    pthread_mutex_lock(&c->locks[h % LOCKS]);
    sl = &c->slots[h];
    if (sl->key && !strcmp(sl->key, key) && sl->generation == market_generation(api->market)) {
        /* An expired entry is refreshed by one request while the others keep
         * getting it (stale by at most one computation): no stampede of
         * identical slow queries when a popular entry expires. */
        int64_t now = time_now_ms();
        if (sl->expires_ms > now || (sl->refreshing && sl->expires_ms + STALE_MAX_MS > now))
            hit = buf_add(&resp->body, sl->body, sl->len) == 0;
        else
            sl->refreshing = true;
    }
    pthread_mutex_unlock(&c->locks[h % LOCKS]);
    free(key);
    if (hit) {
        resp->status = 200;
        http_resp_header(req, resp, "X-Cache", "hit");
    }
    return hit;
}

void api_cache_store(struct api *api, struct http_req *req, const struct http_resp *resp,
                     uint64_t generation)
{
    struct api_cache *c = api->cache;
    char *key, *body;
    uint32_t h;

    if (!(key = cache_key(api, req)))
        return;
    h = hash(key) % SLOTS;
    if (resp->status != 200 || resp->body.n > ENTRY_MAX) {
        /* Not kept: let the next request try to refresh the entry. */
        pthread_mutex_lock(&c->locks[h % LOCKS]);
        if (c->slots[h].key && !strcmp(c->slots[h].key, key))
            c->slots[h].refreshing = false;
        pthread_mutex_unlock(&c->locks[h % LOCKS]);
        free(key);
        return;
    }
    body = malloc(resp->body.n ? resp->body.n : 1);
    if (!body) {
        free(key);
        return;
    }
    memcpy(body, resp->body.p, resp->body.n);
    pthread_mutex_lock(&c->locks[h % LOCKS]);
    free(c->slots[h].key);
    free(c->slots[h].body);
    c->slots[h].key = key;
    c->slots[h].body = body;
    c->slots[h].len = resp->body.n;
    c->slots[h].expires_ms = time_now_ms() + c->ttl_ms;
    c->slots[h].generation = generation;
    c->slots[h].refreshing = false;
    pthread_mutex_unlock(&c->locks[h % LOCKS]);
}
