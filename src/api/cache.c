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

/* Set-associative: a key hashes to one set of WAYS slots and may live in
 * any of them. A direct-mapped table lost about a third of 2,000 popular
 * model pages to collisions (two keys in one slot evict each other on every
 * visit); with 8 ways a set overflows only when it truly holds 8 live keys. */
#define WAYS 8
#define SETS 2048
#define LOCKS 256
#define ENTRY_MAX (256 * 1024)
#define BYTES_MAX ((size_t)64 << 20) /* bodies kept at once, all sets together */
#define STALE_MAX_MS 10000 /* never serve an entry more than this past its expiry */

struct slot {
    char *key;
    char *body;
    size_t len;
    uint32_t hash;
    int64_t expires_ms;
    int64_t used_ms;   /* last hit, to pick the victim in a full set */
    uint64_t generation;
    bool refreshing;   /* one request is recomputing an expired entry */
};

struct api_cache {
    int ttl_ms;
    size_t bytes;               /* sum of the kept bodies, under bytes_lock */
    pthread_mutex_t bytes_lock; /* taken inside a set's lock, never around one */
    pthread_mutex_t locks[LOCKS];
    struct slot slots[SETS][WAYS];
};

struct api_cache *api_cache_new(int ttl_ms)
{
    struct api_cache *c;
    if (ttl_ms <= 0 || !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->ttl_ms = ttl_ms;
    pthread_mutex_init(&c->bytes_lock, NULL);
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    return c;
}

void api_cache_free(struct api_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SETS; i++)
        for (int w = 0; w < WAYS; w++) {
            free(c->slots[i][w].key);
            free(c->slots[i][w].body);
        }
    pthread_mutex_destroy(&c->bytes_lock);
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

/* The slot holding key in its set, or NULL. Called under the set's lock. */
static struct slot *find(struct slot *set, const char *key, uint32_t h)
{
    for (int w = 0; w < WAYS; w++)
        if (set[w].key && set[w].hash == h && !strcmp(set[w].key, key))
            return &set[w];
    return NULL;
}

/* Empties a slot and gives its bytes back. Called under the set's lock. */
static void drop(struct api_cache *c, struct slot *sl)
{
    if (!sl->key)
        return;
    pthread_mutex_lock(&c->bytes_lock);
    c->bytes -= sl->len;
    pthread_mutex_unlock(&c->bytes_lock);
    free(sl->key);
    free(sl->body);
    memset(sl, 0, sizeof(*sl));
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
    h = hash(key);
    pthread_mutex_lock(&c->locks[h % LOCKS]);
    sl = find(c->slots[h % SETS], key, h);
    if (sl && sl->generation == market_generation(api->market)) {
        /* An expired entry is refreshed by one request while the others keep
         * getting it (stale by at most one computation): no stampede of
         * identical slow queries when a popular entry expires. */
        int64_t now = time_now_ms();
        if (sl->expires_ms > now || (sl->refreshing && sl->expires_ms + STALE_MAX_MS > now)) {
            hit = buf_add(&resp->body, sl->body, sl->len) == 0;
            sl->used_ms = now;
        } else {
            sl->refreshing = true;
        }
    }
    pthread_mutex_unlock(&c->locks[h % LOCKS]);
    free(key);
    if (hit) {
        resp->status = 200;
        http_resp_header(req, resp, "X-Cache", "hit");
    }
    return hit;
}

/* The slot a new entry for key goes to: its own, an empty one, else the
 * least recently used of the set. Called under the set's lock. */
static struct slot *victim(struct slot *set, const char *key, uint32_t h)
{
    struct slot *v = find(set, key, h);
    if (v)
        return v;
    v = &set[0];
    for (int w = 0; w < WAYS; w++) {
        if (!set[w].key)
            return &set[w];
        if (set[w].used_ms < v->used_ms)
            v = &set[w];
    }
    return v;
}

void api_cache_store(struct api *api, struct http_req *req, const struct http_resp *resp,
                     uint64_t generation)
{
    struct api_cache *c = api->cache;
    struct slot *sl;
    char *key, *body = NULL;
    bool room;
    uint32_t h;

    if (!(key = cache_key(api, req)))
        return;
    h = hash(key);
    if (resp->status == 200 && resp->body.n <= ENTRY_MAX &&
        (body = malloc(resp->body.n ? resp->body.n : 1)))
        memcpy(body, resp->body.p, resp->body.n);
    pthread_mutex_lock(&c->locks[h % LOCKS]);
    /* Without a body to keep, only the key's own stale entry goes. */
    sl = body ? victim(c->slots[h % SETS], key, h) : find(c->slots[h % SETS], key, h);
    if (sl)
        drop(c, sl);
    pthread_mutex_lock(&c->bytes_lock);
    room = sl && body && c->bytes + resp->body.n <= BYTES_MAX;
    if (room)
        c->bytes += resp->body.n;
    pthread_mutex_unlock(&c->bytes_lock);
    /* Not kept (an error, too big, no room): the slot stays empty and the
     * next request computes the answer afresh. */
    if (room) {
        sl->key = key;
        sl->body = body;
        sl->len = resp->body.n;
        sl->hash = h;
        sl->used_ms = time_now_ms();
        sl->expires_ms = sl->used_ms + c->ttl_ms;
        sl->generation = generation;
        key = body = NULL;
    }
    pthread_mutex_unlock(&c->locks[h % LOCKS]);
    free(key);
    free(body);
}
