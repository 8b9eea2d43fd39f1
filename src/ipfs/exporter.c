/* exporter.c - byte-range reads of UnixFS files and depth-first DAG walks. */
#include "core/common.h"

#include <pthread.h>

#include "core/util.h"
#include "ipfs/dagpb.h"
#include "ipfs/exporter.h"

struct range {
    struct blockstore *bs;
    uint64_t from, to;     /* wanted bytes [from, to) of the file */
    ipfs_sink_fn sink;
    void *ctx;
    struct ag_err *e;
};

/* Sends the part of [start, start+n) that lies in the range. */
static int emit(struct range *r, uint64_t start, const uint8_t *p, size_t n)
{
    uint64_t a = MAX(start, r->from), b = MIN(start + n, r->to);

    if (a >= b)
        return 0;
    return r->sink(r->ctx, p + (a - start), (size_t)(b - a));
}

static char *cid_str(const struct cid *c, char *s, size_t size)
{
    if (cid_format(c, s, size))
        str_copy(s, "(unprintable CID)", size);
    return s;
}

/* Checks a file node's sizes: blocksizes match the links, their sum does not
 * overflow and equals filesize when present. Sets *size to the file size. */
static bool sizes_ok(const struct unixfs *u, size_t nlinks, uint64_t *size)
{
    uint64_t s = u->data_len;

    if (u->nblocksizes != nlinks)
        return false;
    for (size_t i = 0; i < u->nblocksizes; i++) {
        if (u->blocksizes[i] > UINT64_MAX - s)
            return false;
        s += u->blocksizes[i];
    }
    if (u->has_filesize && u->filesize != s)
        return false;
    *size = s;
    return true;
}

/* Reads the file node `c` whose bytes start at file offset `start` and which
 * its parent says holds `expect` bytes (UINT64_MAX at the root). */
static int walk_range(struct range *r, const struct cid *c, uint64_t start, uint64_t expect,
                      int depth)
{
    struct buf b;
    struct pb_node n;
    struct unixfs u;
    char name[CID_MAX_STR];
    uint64_t pos, fsize;
    int rc;

    memset(&n, 0, sizeof(n));
    memset(&u, 0, sizeof(u));
    buf_init(&b, BLOCKSTORE_MAX_BLOCK);
    if (depth > EXPORTER_MAX_DEPTH) {
        rc = ag_errf(r->e, AG_ECORRUPT, "cid", "DAG deeper than %d levels", EXPORTER_MAX_DEPTH);
        goto out;
    }
    rc = blockstore_get(r->bs, c, &b, r->e);
    if (rc)
        goto out;
    if (c->codec == MC_RAW) {
        if (expect != UINT64_MAX && b.n != expect) {
            rc = ag_errf(r->e, AG_ECORRUPT, "cid", "leaf %s holds %zu bytes, its parent says %"
                         PRIu64, cid_str(c, name, sizeof(name)), b.n, expect);
            goto out;
        }
        rc = emit(r, start, (const uint8_t *)b.p, b.n);
        goto out;
    }
    if (c->codec != MC_DAG_PB) {
        rc = ag_errf(r->e, AG_EUNPROCESSABLE, "cid", "%s is neither dag-pb nor raw",
                     cid_str(c, name, sizeof(name)));
        goto out;
    }
    rc = pb_node_decode(&n, (const uint8_t *)b.p, b.n, r->e);
    if (!rc)
        rc = n.has_data ? unixfs_decode(&u, n.data, n.data_len, r->e)
                        : ag_errf(r->e, AG_EINVAL, "unixfs", "dag-pb node without Data");
    if (rc) {
        char why[sizeof(r->e->msg)];
        str_copy(why, r->e ? r->e->msg : "bad node", sizeof(why));
        rc = ag_errf(r->e, AG_ECORRUPT, "cid", "%s is not a valid UnixFS node: %s",
                     cid_str(c, name, sizeof(name)), why);
        goto out;
    }
    if (u.type != UNIXFS_FILE && u.type != UNIXFS_RAW) {
        rc = ag_errf(r->e, AG_EUNPROCESSABLE, "cid", "%s is a UnixFS %s, not a file",
                     cid_str(c, name, sizeof(name)),
                     u.type == UNIXFS_DIRECTORY || u.type == UNIXFS_HAMT_SHARD ? "directory"
                                                                             : "non-file");
        goto out;
    }
    if (!sizes_ok(&u, n.nlinks, &fsize) || (expect != UINT64_MAX && fsize != expect)) {
        rc = ag_errf(r->e, AG_ECORRUPT, "cid", "%s: links, blocksizes and sizes disagree",
                     cid_str(c, name, sizeof(name)));
        goto out;
    }
    rc = emit(r, start, u.data, u.data_len);
    pos = start + u.data_len;
    for (size_t i = 0; !rc && i < n.nlinks && pos < r->to; i++) {
        uint64_t sz = u.blocksizes[i];
        if (pos + sz > r->from)
            rc = walk_range(r, &n.links[i].cid, pos, sz, depth + 1);
        pos += sz;
    }
out:
    unixfs_release(&u);
    pb_node_release(&n);
    buf_release(&b);
    return rc;
}

int exporter_size(struct blockstore *bs, const struct cid *root, uint64_t *size,
                  struct ag_err *e)
{
    struct buf b;
    struct pb_node n;
    struct unixfs u;
    int rc;

    memset(&n, 0, sizeof(n));
    memset(&u, 0, sizeof(u));
    buf_init(&b, BLOCKSTORE_MAX_BLOCK);
    rc = blockstore_get(bs, root, &b, e);
    if (rc)
        goto out;
    if (root->codec == MC_RAW) {
        *size = b.n;
        goto out;
    }
    if (root->codec != MC_DAG_PB) {
        rc = ag_errf(e, AG_EUNPROCESSABLE, "cid", "root is neither dag-pb nor raw");
        goto out;
    }
    rc = pb_node_decode(&n, (const uint8_t *)b.p, b.n, e);
    if (!rc)
        rc = n.has_data ? unixfs_decode(&u, n.data, n.data_len, e)
                        : ag_errf(e, AG_EINVAL, "unixfs", "dag-pb node without Data");
    if (rc) {
        rc = ag_errf(e, AG_ECORRUPT, "cid", "root is not a valid UnixFS node");
        goto out;
    }
    if (u.type != UNIXFS_FILE && u.type != UNIXFS_RAW) {
        rc = ag_errf(e, AG_EUNPROCESSABLE, "cid", "root is not a UnixFS file");
        goto out;
    }
    if (!sizes_ok(&u, n.nlinks, size))
        rc = ag_errf(e, AG_ECORRUPT, "cid", "root: links, blocksizes and filesize disagree");
out:
    unixfs_release(&u);
    pb_node_release(&n);
    buf_release(&b);
    return rc;
}

int exporter_read(struct blockstore *bs, const struct cid *root, uint64_t offset,
                  uint64_t length, ipfs_sink_fn sink, void *ctx, struct ag_err *e)
{
    struct range r = {bs, offset, 0, sink, ctx, e};
    uint64_t size;
    int rc = exporter_size(bs, root, &size, e);

    if (rc)
        return rc;
    if (offset > size)
        return ag_errf(e, AG_EINVAL, "offset", "offset %" PRIu64 " is past the end (%" PRIu64
                       " bytes)", offset, size);
    r.to = length > size - offset ? size : offset + length;
    if (r.to == r.from)
        return 0;
    return walk_range(&r, root, 0, UINT64_MAX, 0);
}

/* A set of visited CIDs, open addressing. Entries keep digests of up to 32
 * bytes; identity CIDs with longer digests are not tracked (they cost
 * nothing to emit again). */
struct seen_entry {
    uint64_t codec, mh_code;
    uint8_t used, version, dlen;
    uint8_t d[32];
};

struct seen {
    struct seen_entry *v;
    size_t n, cap;
};

#define SEEN_MAX ((size_t)1 << 22)

static uint64_t seen_hash(const struct seen_entry *k)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < k->dlen; i++)
        h = (h ^ k->d[i]) * 1099511628211ull;
    return h ^ k->codec ^ k->mh_code << 17 ^ k->version;
}

static bool seen_same(const struct seen_entry *a, const struct seen_entry *b)
{
    return a->codec == b->codec && a->mh_code == b->mh_code && a->version == b->version &&
           a->dlen == b->dlen && !memcmp(a->d, b->d, a->dlen);
}

/* Stores `k` in a table with room; 1 if new, 0 if there. */
static int seen_insert(struct seen *s, const struct seen_entry *k)
{
    size_t i;

    for (i = seen_hash(k) & (s->cap - 1); s->v[i].used; i = (i + 1) & (s->cap - 1))
        if (seen_same(&s->v[i], k))
            return 0;
    s->v[i] = *k;
    s->n++;
    return 1;
}

/* Returns 1 if newly added (or untracked), 0 if present, or AG_ENOMEM/AG_ETOOBIG. */
static int seen_add(struct seen *s, const struct cid *c)
{
    struct seen_entry k;

    if (c->digest_len > sizeof(k.d))
        return 1;
    memset(&k, 0, sizeof(k));
    k.used = 1;
    k.version = c->version;
    k.codec = c->codec;
    k.mh_code = c->mh_code;
    k.dlen = (uint8_t)c->digest_len;
    memcpy(k.d, c->digest, c->digest_len);
    if (s->n * 2 >= s->cap) {
        struct seen t = {NULL, 0, s->cap ? s->cap * 2 : 256};
        if (t.cap > SEEN_MAX)
            return AG_ETOOBIG;
        t.v = calloc(t.cap, sizeof(*t.v));
        if (!t.v)
            return AG_ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i].used)
                seen_insert(&t, &s->v[i]);
        free(s->v);
        *s = t;
    }
    return seen_insert(s, &k);
}

static int walk_dfs(struct blockstore *bs, const struct cid *c, ipfs_block_fn fn, void *ctx,
                    struct seen *s, int depth, struct ag_err *e)
{
    struct buf b;
    struct pb_node n;
    int rc;

    memset(&n, 0, sizeof(n));
    buf_init(&b, BLOCKSTORE_MAX_BLOCK);
    if (depth > EXPORTER_MAX_DEPTH)
        return ag_errf(e, AG_ECORRUPT, "cid", "DAG deeper than %d levels", EXPORTER_MAX_DEPTH);
    rc = seen_add(s, c);
    if (rc <= 0) {
        if (rc)
            rc = ag_errf(e, rc, "cid", "DAG has too many blocks to walk");
        goto out;
    }
    rc = blockstore_get(bs, c, &b, e);
    if (!rc)
        rc = fn(ctx, c, (const uint8_t *)b.p, b.n);
    if (rc || c->codec != MC_DAG_PB)
        goto out;
    rc = pb_node_decode(&n, (const uint8_t *)b.p, b.n, e);
    for (size_t i = 0; !rc && i < n.nlinks; i++)
        rc = walk_dfs(bs, &n.links[i].cid, fn, ctx, s, depth + 1, e);
out:
    pb_node_release(&n);
    buf_release(&b);
    return rc;
}

int dag_walk(struct blockstore *bs, const struct cid *root, ipfs_block_fn fn, void *ctx,
             struct ag_err *e)
{
    struct seen s = {NULL, 0, 0};
    int rc = walk_dfs(bs, root, fn, ctx, &s, 0, e);

    free(s.v);
    return rc;
}

/* ---- a cursor: sequential and random reads without re-walking the DAG ---- */

struct cursor_level {
    struct buf block;
    struct pb_node node;
    struct unixfs u;
    bool pb;              /* node/u are decoded (dag-pb), else a raw block */
    uint64_t start, size; /* the file bytes [start, start+size) under this block */
};

/* Read-ahead: once a cursor has read a few leaves in a row, a helper thread
 * loads (and so verifies) the next sibling leaves while the caller consumes
 * the current one: hashing on read is most of a download's CPU, and this
 * puts it on the other core. Up to PF_DEPTH blocks ahead: with one, the
 * helper sat idle between the caller taking a block and asking for the
 * next (a download ran at 0.6x nginx, the helper busy a third of the time);
 * a window keeps it reading while the caller sends. */
#define PF_DEPTH 4

enum pf_state { PF_EMPTY, PF_WANT, PF_BUSY, PF_DONE };

struct pf_slot {
    enum pf_state st;
    struct cid cid;
    uint64_t seq;          /* asking order: the helper reads the oldest want first */
    struct buf block;      /* its bytes when done */
    int rc;
};

struct prefetch {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    uint64_t seq;
    struct pf_slot slot[PF_DEPTH];
};

struct exporter_cursor {
    struct blockstore *bs;
    uint64_t size;
    struct cursor_level lv[EXPORTER_MAX_DEPTH + 1];
    int depth;             /* levels loaded: lv[0] is the root */
    unsigned leaves;       /* leaf blocks loaded so far */
    struct prefetch *pf;   /* started after EXPORTER_READAHEAD_AFTER leaves */
};

#define EXPORTER_READAHEAD_AFTER 2

/* The oldest slot waiting to be read, or NULL. Caller holds mu. */
static struct pf_slot *pf_next(struct prefetch *pf)
{
    struct pf_slot *best = NULL;
    for (int i = 0; i < PF_DEPTH; i++)
        if (pf->slot[i].st == PF_WANT && (!best || pf->slot[i].seq < best->seq))
            best = &pf->slot[i];
    return best;
}

static void *prefetch_main(void *arg)
{
    struct exporter_cursor *cur = arg;
    struct prefetch *pf = cur->pf;
    struct buf b;

    buf_init(&b, BLOCKSTORE_MAX_BLOCK);
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        struct pf_slot *sl;
        while (!pf->quit && !(sl = pf_next(pf)))
            pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->quit)
            break;
        struct cid c = sl->cid;
        int rc;
        sl->st = PF_BUSY;
        pthread_mutex_unlock(&pf->mu);
        buf_reset(&b);
        rc = blockstore_get(cur->bs, &c, &b, NULL);
        pthread_mutex_lock(&pf->mu);
        {
            struct buf t = sl->block; /* a busy slot is never reassigned */
            sl->block = b;
            b = t;
        }
        sl->rc = rc;
        sl->st = PF_DONE;
        pthread_cond_broadcast(&pf->cv);
    }
    pthread_mutex_unlock(&pf->mu);
    buf_release(&b);
    return NULL;
}

/* prefetch_start() starts the helper; on failure the cursor just reads alone. */
static void prefetch_start(struct exporter_cursor *cur)
{
    struct prefetch *pf = calloc(1, sizeof(*pf));
    if (!pf)
        return;
    for (int i = 0; i < PF_DEPTH; i++)
        buf_init(&pf->slot[i].block, BLOCKSTORE_MAX_BLOCK);
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    cur->pf = pf;
    if (pthread_create(&pf->th, NULL, prefetch_main, cur)) {
        pthread_mutex_destroy(&pf->mu);
        pthread_cond_destroy(&pf->cv);
        free(pf);
        cur->pf = NULL;
    }
}

static void prefetch_stop(struct exporter_cursor *cur)
{
    struct prefetch *pf = cur->pf;
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->quit = true;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->th, NULL);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    for (int i = 0; i < PF_DEPTH; i++)
        buf_release(&pf->slot[i].block);
    free(pf);
    cur->pf = NULL;
}

/* prefetch_ask() makes the window the raw leaves among `links[0..n)` (the
 * next siblings, at most PF_DEPTH): slots holding other blocks are freed
 * (but one being read, which finishes first), and the leaves not held yet
 * are asked for, in order. */
static void prefetch_ask(struct exporter_cursor *cur, const struct pb_link *links, size_t n)
{
    struct prefetch *pf = cur->pf;
    size_t want = 0;
    const struct cid *w[PF_DEPTH];

    for (size_t i = 0; i < n && want < PF_DEPTH && links[i].cid.codec == MC_RAW; i++)
        w[want++] = &links[i].cid;
    pthread_mutex_lock(&pf->mu);
    for (int i = 0; i < PF_DEPTH; i++) {
        struct pf_slot *sl = &pf->slot[i];
        bool keep = false;
        for (size_t k = 0; k < want && sl->st != PF_EMPTY; k++)
            keep |= cid_equal(&sl->cid, w[k]);
        if (!keep && sl->st != PF_BUSY)
            sl->st = PF_EMPTY;
    }
    for (size_t k = 0; k < want; k++) {
        struct pf_slot *free_slot = NULL;
        bool held = false;
        for (int i = 0; i < PF_DEPTH; i++) {
            if (pf->slot[i].st != PF_EMPTY && cid_equal(&pf->slot[i].cid, w[k]))
                held = true;
            else if (pf->slot[i].st == PF_EMPTY && !free_slot)
                free_slot = &pf->slot[i];
        }
        if (held || !free_slot)
            continue;
        free_slot->cid = *w[k];
        free_slot->seq = pf->seq++;
        free_slot->st = PF_WANT;
    }
    pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* prefetch_take() moves the read-ahead block `c` into `out` (waiting for it
 * if it is on its way): returns 1 and its result code in *rc, or 0 when `c`
 * was not read ahead. */
static int prefetch_take(struct exporter_cursor *cur, const struct cid *c, struct buf *out, int *rc)
{
    struct prefetch *pf = cur->pf;
    struct pf_slot *sl = NULL;
    int took = 0;
    if (!pf)
        return 0;
    pthread_mutex_lock(&pf->mu);
    for (int i = 0; i < PF_DEPTH && !sl; i++)
        if (pf->slot[i].st != PF_EMPTY && cid_equal(&pf->slot[i].cid, c))
            sl = &pf->slot[i];
    if (sl) {
        while (sl->st == PF_WANT || sl->st == PF_BUSY)
            pthread_cond_wait(&pf->cv, &pf->mu);
        struct buf t = *out;
        *out = sl->block;
        sl->block = t;
        *rc = sl->rc;
        sl->st = PF_EMPTY;
        took = 1;
    }
    pthread_mutex_unlock(&pf->mu);
    return took;
}

static void level_release(struct cursor_level *l)
{
    if (l->pb) {
        unixfs_release(&l->u);
        pb_node_release(&l->node);
    }
    l->pb = false;
    buf_reset(&l->block);
}

/* load_level() reads block `c` into level `i`, holding file bytes from
 * `start`, `expect` of them (UINT64_MAX at the root), with the same checks
 * as walk_range(). */
static int load_level(struct exporter_cursor *cur, int i, const struct cid *c, uint64_t start,
                      uint64_t expect, struct ag_err *e)
{
    struct cursor_level *l = &cur->lv[i];
    char name[CID_MAX_STR];
    uint64_t fsize;
    int rc;

    level_release(l);
    if (i > EXPORTER_MAX_DEPTH)
        return ag_errf(e, AG_ECORRUPT, "cid", "DAG deeper than %d levels", EXPORTER_MAX_DEPTH);
    if (prefetch_take(cur, c, &l->block, &rc)) {
        if (rc) {
            /* Read again here: the same error, with its message this time. */
            buf_reset(&l->block);
            rc = blockstore_get(cur->bs, c, &l->block, e);
        }
    } else {
        rc = blockstore_get(cur->bs, c, &l->block, e);
    }
    if (rc)
        return rc;
    l->start = start;
    if (c->codec == MC_RAW) {
        if (expect != UINT64_MAX && l->block.n != expect)
            return ag_errf(e, AG_ECORRUPT, "cid", "leaf %s holds %zu bytes, its parent says %" PRIu64,
                           cid_str(c, name, sizeof(name)), l->block.n, expect);
        l->size = l->block.n;
        return 0;
    }
    if (c->codec != MC_DAG_PB)
        return ag_errf(e, AG_EUNPROCESSABLE, "cid", "%s is neither dag-pb nor raw",
                       cid_str(c, name, sizeof(name)));
    memset(&l->node, 0, sizeof(l->node));
    memset(&l->u, 0, sizeof(l->u));
    rc = pb_node_decode(&l->node, (const uint8_t *)l->block.p, l->block.n, NULL);
    if (!rc) {
        l->pb = true;
        rc = l->node.has_data ? unixfs_decode(&l->u, l->node.data, l->node.data_len, NULL)
                              : AG_EINVAL;
    }
    if (rc)
        return ag_errf(e, AG_ECORRUPT, "cid", "%s is not a valid UnixFS node",
                       cid_str(c, name, sizeof(name)));
    if (l->u.type != UNIXFS_FILE && l->u.type != UNIXFS_RAW)
        return ag_errf(e, AG_EUNPROCESSABLE, "cid", "%s is a UnixFS %s, not a file",
                       cid_str(c, name, sizeof(name)),
                       l->u.type == UNIXFS_DIRECTORY || l->u.type == UNIXFS_HAMT_SHARD ? "directory"
                                                                                   : "non-file");
    if (!sizes_ok(&l->u, l->node.nlinks, &fsize) || (expect != UINT64_MAX && fsize != expect))
        return ag_errf(e, AG_ECORRUPT, "cid", "%s: links, blocksizes and sizes disagree",
                       cid_str(c, name, sizeof(name)));
    l->size = fsize;
    return 0;
}

int exporter_cursor_open(struct exporter_cursor **out, struct blockstore *bs,
                         const struct cid *root, struct ag_err *e)
{
    struct exporter_cursor *cur = calloc(1, sizeof(*cur));
    int rc;

    *out = NULL;
    if (!cur)
        return ag_err_set(e, AG_ENOMEM);
    cur->bs = bs;
    for (int i = 0; i <= EXPORTER_MAX_DEPTH; i++)
        buf_init(&cur->lv[i].block, BLOCKSTORE_MAX_BLOCK);
    rc = load_level(cur, 0, root, 0, UINT64_MAX, e);
    if (rc) {
        exporter_cursor_free(cur);
        return rc;
    }
    cur->depth = 1;
    cur->size = cur->lv[0].size;
    *out = cur;
    return 0;
}

void exporter_cursor_free(struct exporter_cursor *cur)
{
    if (!cur)
        return;
    prefetch_stop(cur);
    for (int i = 0; i <= EXPORTER_MAX_DEPTH; i++) {
        level_release(&cur->lv[i]);
        buf_release(&cur->lv[i].block);
    }
    free(cur);
}

uint64_t exporter_cursor_size(const struct exporter_cursor *cur)
{
    return cur->size;
}

/* window() gives the bytes of level `l` itself (a raw block, or a node's
 * UnixFS data) as [*p, *p+*n) starting at file offset l->start. */
static void window(const struct cursor_level *l, const uint8_t **p, size_t *n)
{
    if (l->pb) {
        *p = l->u.data;
        *n = l->u.data_len;
    } else {
        *p = (const uint8_t *)l->block.p;
        *n = l->block.n;
    }
}

int exporter_cursor_peek(struct exporter_cursor *cur, uint64_t pos, const uint8_t **p, size_t *n,
                         struct ag_err *e)
{
    *p = NULL;
    *n = 0;
    if (pos >= cur->size)
        return pos == cur->size ? 0
                                : ag_errf(e, AG_EINVAL, "offset", "offset %" PRIu64
                                          " is past the end (%" PRIu64 " bytes)", pos, cur->size);
    /* Climb to the deepest loaded level that holds pos (the root holds all). */
    while (cur->depth > 1 && (pos < cur->lv[cur->depth - 1].start ||
                              pos - cur->lv[cur->depth - 1].start >= cur->lv[cur->depth - 1].size))
        level_release(&cur->lv[--cur->depth]);
    for (;;) {
        struct cursor_level *l = &cur->lv[cur->depth - 1];
        const uint8_t *w;
        size_t wn;
        uint64_t at;
        int rc;

        window(l, &w, &wn);
        if (pos - l->start < wn) {
            *p = w + (pos - l->start);
            *n = wn - (size_t)(pos - l->start);
            return 0;
        }
        if (!l->pb || !l->node.nlinks)
            return ag_errf(e, AG_ECORRUPT, "cid", "a leaf holds fewer bytes than its parent says");
        at = l->start + wn;
        for (size_t i = 0; i < l->node.nlinks; i++) {
            uint64_t bs = l->u.blocksizes[i];
            if (pos - at < bs) {
                const struct cid *c = &l->node.links[i].cid;
                if ((rc = load_level(cur, cur->depth, c, at, bs, e)))
                    return rc;
                cur->depth++;
                if (c->codec == MC_RAW && ++cur->leaves >= EXPORTER_READAHEAD_AFTER) {
                    if (!cur->pf)
                        prefetch_start(cur);
                    if (cur->pf && i + 1 < l->node.nlinks)
                        prefetch_ask(cur, &l->node.links[i + 1], l->node.nlinks - i - 1);
                }
                break;
            }
            at += bs;
        }
        if (l == &cur->lv[cur->depth - 1])
            return ag_errf(e, AG_ECORRUPT, "cid", "blocksizes do not cover the file");
    }
}

int exporter_cursor_read(struct exporter_cursor *cur, uint64_t pos, void *out, size_t len,
                         size_t *n, struct ag_err *e)
{
    uint8_t *o = out;
    size_t done = 0;
    int rc = 0;

    if (pos > cur->size)
        rc = ag_errf(e, AG_EINVAL, "offset", "offset %" PRIu64 " is past the end (%" PRIu64
                     " bytes)", pos, cur->size);
    while (!rc && done < len && pos < cur->size) {
        const uint8_t *p;
        size_t k;
        if ((rc = exporter_cursor_peek(cur, pos, &p, &k, e)))
            break;
        k = MIN(k, len - done);
        memcpy(o + done, p, k);
        done += k;
        pos += k;
    }
    *n = done;
    return rc;
}
