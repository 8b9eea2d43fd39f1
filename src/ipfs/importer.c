/* importer.c - streaming fixed-size chunker, leaves and balanced UnixFS layout. */
#include "core/common.h"

#include <pthread.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/encoding.h"
#include "core/util.h"
#include "ipfs/dagpb.h"
#include "ipfs/importer.h"

#define IMPORTER_STREAM_CHUNKS 4096 /* chunks per round of a hash-only file import */
#define IMPORTER_ALIGN 4096 /* chunk buffer alignment (the blockstore writes O_DIRECT) */
#define MAX_LEVELS 16   /* 2 links per node and 1-byte chunks still fit 2^64 bytes */

struct link {
    struct cid cid;
    uint64_t tsize;      /* the child's whole DAG size */
    uint64_t fsize;      /* the file bytes under the child (its blocksize entry) */
};

struct level {
    struct link *links;
    size_t n;
};

struct importer {
    struct importer_opts o;
    ipfs_put_fn put;
    void *ctx;
    uint8_t *batch;          /* room for batch_chunks chunks */
    size_t batch_chunks, fill;
    size_t file_chunks;      /* chunks per round when hashing a file (>= batch_chunks) */
    uint8_t (*digests)[32];
    size_t *lens;            /* length of each chunk of the batch */
    struct level levels[MAX_LEVELS];
    uint64_t nleaves, total;
    struct buf scratch;      /* a dag-pb leaf or parent block being built */
    struct buf ubuf;         /* the UnixFS Data of the parent being built */
    uint64_t *bsizes;        /* blocksizes of the parent being built */
    struct pb_link *plinks;  /* links of the parent being built */
    bool finished;
    bool leaf_put;           /* the hashing threads put the (raw) leaves */
    /* The helper hashing threads (o.threads - 1 of them), alive as long as
     * the importer (a thread created per batch would start each time behind
     * every other runnable thread on a busy machine). Each batch posts `go`
     * once per helper and waits for as many `done`s; a helper that takes two
     * posts of one batch finds no chunk left the second time, so every post
     * is matched by a finished run before the job goes out of scope. */
    pthread_t workers[IMPORTER_MAX_THREADS - 1];
    int nworkers;
    bool quit;
    sem_t go, done;
    struct hash_job *job;
};

void importer_opts_default(struct importer_opts *o)
{
    o->cid_version = 1;
    o->raw_leaves = true;
    o->chunk_size = IMPORTER_DEFAULT_CHUNK;
    o->max_links = IMPORTER_DEFAULT_LINKS;
    o->threads = 2;
    o->parallel_put = false;
}

int importer_parse_chunker(const char *spec, size_t *chunk_size, struct ag_err *e)
{
    uint64_t v;

    if (!spec || strncmp(spec, "size-", 5) || parse_u64(spec + 5, &v))
        return ag_errf(e, AG_EINVAL, "chunker", "chunker must be size-N (N in bytes)");
    if (v < 1 || v > IMPORTER_MAX_CHUNK)
        return ag_errf(e, AG_EINVAL, "chunker", "chunk size must be 1..%d bytes", IMPORTER_MAX_CHUNK);
    *chunk_size = (size_t)v;
    return 0;
}

static void *worker_main(void *arg);

/* A buffer of `n` bytes aligned to IMPORTER_ALIGN (freed with free()), or NULL. */
static void *aligned_alloc_or_null(size_t n)
{
    void *p = NULL;

    if (posix_memalign(&p, IMPORTER_ALIGN, n ? n : 1))
        return NULL;
    return p;
}

int importer_new(struct importer **out, const struct importer_opts *o, ipfs_put_fn put,
                 void *ctx, struct ag_err *e)
{
    struct importer *im = NULL;
    int rc = 0;

    if (o->cid_version != 0 && o->cid_version != 1)
        return ag_errf(e, AG_EINVAL, "cid-version", "CID version must be 0 or 1");
    if (o->chunk_size < 1 || o->chunk_size > IMPORTER_MAX_CHUNK)
        return ag_errf(e, AG_EINVAL, "chunker", "chunk size must be 1..%d bytes", IMPORTER_MAX_CHUNK);
    if (o->max_links < 2 || o->max_links > IMPORTER_MAX_LINKS)
        return ag_errf(e, AG_EINVAL, "max-links", "links per node must be 2..%d", IMPORTER_MAX_LINKS);
    im = calloc(1, sizeof(*im));
    if (!im)
        return ag_err_set(e, AG_ENOMEM);
    im->o = *o;
    if (im->o.threads < 1 || im->o.threads > IMPORTER_MAX_THREADS)
        im->o.threads = 1;
    im->put = put;
    im->ctx = ctx;
    im->leaf_put = put && o->parallel_put && o->raw_leaves;
    im->batch_chunks = MAX(1, IMPORTER_BATCH_BYTES / o->chunk_size);
    /* Raw-leaf imports of a file that keep no leaf for later (hash-only, or
     * leaves put by the hashing threads) stream each chunk through a small
     * per-thread buffer (stream_chunk(), hash_range()), so a round can span
     * many chunks at the cost of 40 bytes each: fewer rounds, fewer waits
     * for the slower thread. */
    im->file_chunks = o->raw_leaves && (!put || im->leaf_put)
                          ? MAX(im->batch_chunks, IMPORTER_STREAM_CHUNKS)
                          : im->batch_chunks;
    im->batch = aligned_alloc_or_null(im->batch_chunks * o->chunk_size);
    im->digests = malloc(im->file_chunks * sizeof(*im->digests));
    im->lens = malloc(im->file_chunks * sizeof(*im->lens));
    im->bsizes = malloc(o->max_links * sizeof(*im->bsizes));
    im->plinks = calloc(o->max_links, sizeof(*im->plinks));
    buf_init(&im->scratch, PB_MAX_BLOCK + IMPORTER_MAX_CHUNK);
    buf_init(&im->ubuf, PB_MAX_BLOCK);
    if (!im->batch || !im->digests || !im->lens || !im->bsizes || !im->plinks) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    if (im->o.threads >= 2 && im->batch_chunks >= 2 && sem_init(&im->go, 0, 0) == 0) {
        if (sem_init(&im->done, 0, 0) == 0) {
            /* As many helpers as could be started: fewer only cost speed. */
            while (im->nworkers < im->o.threads - 1 &&
                   pthread_create(&im->workers[im->nworkers], NULL, worker_main, im) == 0)
                im->nworkers++;
            if (!im->nworkers)
                sem_destroy(&im->done);
        }
        if (!im->nworkers)
            sem_destroy(&im->go);
    }
    *out = im;
out:
    if (rc)
        importer_free(im);
    return rc;
}

void importer_free(struct importer *im)
{
    if (!im)
        return;
    if (im->nworkers) {
        im->quit = true;
        for (int i = 0; i < im->nworkers; i++)
            sem_post(&im->go);
        for (int i = 0; i < im->nworkers; i++)
            pthread_join(im->workers[i], NULL);
        sem_destroy(&im->go);
        sem_destroy(&im->done);
    }
    for (int i = 0; i < MAX_LEVELS; i++)
        free(im->levels[i].links);
    free(im->batch);
    free(im->digests);
    free(im->lens);
    free(im->bsizes);
    free(im->plinks);
    buf_release(&im->scratch);
    buf_release(&im->ubuf);
    free(im);
}

/* The bytes a dag-pb leaf puts around its chunk: PBNode{Data: UnixFS{Type:
 * File, Data: chunk, filesize: n}}. Returns the header length; `trail` gets
 * the trailer. */
static size_t leaf_wrap(size_t n, uint8_t head[32], uint8_t trail[16], size_t *ntrail)
{
    uint8_t ub[24];
    size_t un = 0, hn = 0, tn = 0, inner;

    ub[un++] = 0x08;
    ub[un++] = UNIXFS_FILE;
    if (n) {
        ub[un++] = 0x12;
        un += varint_put(ub + un, n);
    }
    trail[tn++] = 0x18;
    tn += varint_put(trail + tn, n);
    inner = un + n + tn;
    head[hn++] = 0x0a;
    hn += varint_put(head + hn, inner);
    memcpy(head + hn, ub, un);
    *ntrail = tn;
    return hn + un;
}

/* The chunks of one batch, shared by the hashing threads: each takes the next
 * chunk until none are left, so a descheduled thread slows no one. When `fd`
 * is set, a thread also preads its chunk and hashes it while it is still in
 * its CPU's cache, instead of one thread reading the whole batch first. */
struct hash_job {
    struct importer *im;
    atomic_size_t next;  /* next chunk index to take */
    size_t count;        /* chunks in the batch */
    int fd;              /* -1, or the file to pread the chunks from */
    uint64_t off;        /* file offset of chunk 0 */
    atomic_int rc;
    atomic_int err;      /* errno of a failed pread */
    atomic_bool put_failed; /* rc is the put callback's */
};

/* The CIDv1 raw CID of a leaf hashed to `digest`. */
static void raw_leaf_cid(struct cid *c, const uint8_t digest[32])
{
    memset(c, 0, sizeof(*c));
    c->version = 1;
    c->codec = MC_RAW;
    c->mh_code = MC_SHA2_256;
    c->digest_len = 32;
    memcpy(c->digest, digest, 32);
}

/* put_leaf() hands a hashed raw leaf to the put callback from a hashing
 * thread; false (the job's rc set) if the callback failed. */
static bool put_leaf(struct hash_job *j, size_t i, const uint8_t *p, size_t n)
{
    struct cid c;
    int rc;

    raw_leaf_cid(&c, j->im->digests[i]);
    rc = j->im->put(j->im->ctx, &c, p, n);
    if (!rc)
        return true;
    atomic_store(&j->put_failed, true);
    atomic_store(&j->rc, rc);
    return false;
}

/* Reads up to `n` bytes at `off`; returns the bytes read (short only at EOF) or -1. */
static ssize_t pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

#define STREAM_PIECE ((size_t)64 << 10)

/* stream_chunk() hashes chunk `i` of a raw-leaf, hash-only import straight
 * from the file in STREAM_PIECE reads into a small buffer that stays in the
 * CPU's cache (nothing keeps the chunk, so it need not land in the batch).
 * Returns the bytes read (short only at EOF) or -1 with errno set. */
static ssize_t stream_chunk(struct hash_job *j, EVP_MD_CTX *md, uint8_t *piece, size_t i)
{
    struct importer *im = j->im;
    uint64_t off = j->off + i * im->o.chunk_size;
    size_t got = 0;
    unsigned dl;

    if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        errno = ENOMEM;
        return -1;
    }
    while (got < im->o.chunk_size) {
        ssize_t r = pread(j->fd, piece, MIN(STREAM_PIECE, im->o.chunk_size - got),
                          (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        EVP_DigestUpdate(md, piece, (size_t)r);
        got += (size_t)r;
    }
    EVP_DigestFinal_ex(md, im->digests[i], &dl);
    return (ssize_t)got;
}

static void *hash_range(void *arg)
{
    struct hash_job *j = arg;
    struct importer *im = j->im;
    EVP_MD_CTX *md = NULL;
    uint8_t head[32], trail[16], *piece = NULL;
    size_t nh, nt;
    unsigned dl;
    bool stream = j->fd >= 0 && im->o.raw_leaves && (!im->put || im->leaf_put);

    if (!im->o.raw_leaves || stream) {
        md = EVP_MD_CTX_new();
        piece = stream ? aligned_alloc_or_null(im->leaf_put ? im->o.chunk_size : STREAM_PIECE)
                       : NULL;
        if (!md || (stream && !piece)) {
            EVP_MD_CTX_free(md);
            free(piece);
            atomic_store(&j->rc, AG_ENOMEM);
            return NULL;
        }
    }
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count || atomic_load(&j->rc))
            break;
        if (stream && im->leaf_put) {
            /* Read the whole chunk into this thread's buffer, hash it and
             * put it while it is still in cache. */
            ssize_t r = pread_full(j->fd, piece, im->o.chunk_size,
                                   j->off + i * im->o.chunk_size);
            if (r < 0) {
                atomic_store(&j->err, errno);
                atomic_store(&j->rc, AG_EIO);
                break;
            }
            im->lens[i] = (size_t)r;
            if (!r)
                continue;
            SHA256(piece, (size_t)r, im->digests[i]);
            if (!put_leaf(j, i, piece, (size_t)r))
                break;
            continue;
        }
        if (stream) {
            ssize_t r = stream_chunk(j, md, piece, i);
            if (r < 0) {
                atomic_store(&j->err, errno);
                atomic_store(&j->rc, AG_EIO);
                break;
            }
            im->lens[i] = (size_t)r;
            continue;
        }
        uint8_t *p = im->batch + i * im->o.chunk_size;
        if (j->fd >= 0) {
            ssize_t r = pread_full(j->fd, p, im->o.chunk_size, j->off + i * im->o.chunk_size);
            if (r < 0) {
                atomic_store(&j->err, errno);
                atomic_store(&j->rc, AG_EIO);
                break;
            }
            im->lens[i] = (size_t)r;
            if (!r)
                continue;
        }
        size_t n = im->lens[i];
        if (im->o.raw_leaves) {
            SHA256(p, n, im->digests[i]);
            if (im->leaf_put && !put_leaf(j, i, p, n))
                break;
            continue;
        }
        nh = leaf_wrap(n, head, trail, &nt);
        if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, head, nh) ||
            !EVP_DigestUpdate(md, p, n) || !EVP_DigestUpdate(md, trail, nt) ||
            !EVP_DigestFinal_ex(md, im->digests[i], &dl)) {
            atomic_store(&j->rc, AG_EINTERNAL);
            break;
        }
    }
    EVP_MD_CTX_free(md);
    free(piece);
    return NULL;
}

/* add_link() appends a link to level `lv`, reducing the level when it is full. */
static int add_link(struct importer *im, int lv, const struct link *l);

/* reduce_level() builds the parent of level `lv`'s links, emits it, empties
 * the level and adds the parent to level lv+1. Returns 0 or the put error. */
static int reduce_level(struct importer *im, int lv)
{
    struct level *L = &im->levels[lv];
    struct unixfs u;
    struct pb_node node;
    struct link parent;
    uint64_t tsum = 0;
    int rc;

    memset(&u, 0, sizeof(u));
    memset(&node, 0, sizeof(node));
    memset(&parent, 0, sizeof(parent));
    u.type = UNIXFS_FILE;
    u.has_filesize = true;
    u.blocksizes = im->bsizes;
    u.nblocksizes = L->n;
    for (size_t i = 0; i < L->n; i++) {
        im->bsizes[i] = L->links[i].fsize;
        u.filesize += L->links[i].fsize;
        tsum += L->links[i].tsize;
        im->plinks[i].cid = L->links[i].cid;
        im->plinks[i].name = (const uint8_t *)"";
        im->plinks[i].name_len = 0;
        im->plinks[i].has_name = true;
        im->plinks[i].tsize = L->links[i].tsize;
        im->plinks[i].has_tsize = true;
    }
    buf_reset(&im->ubuf);
    rc = unixfs_encode(&u, &im->ubuf);
    if (rc)
        return rc;
    node.links = im->plinks;
    node.nlinks = L->n;
    node.has_data = true;
    node.data = (const uint8_t *)im->ubuf.p;
    node.data_len = im->ubuf.n;
    buf_reset(&im->scratch);
    rc = pb_node_encode(&node, &im->scratch);
    if (rc)
        return rc;
    cid_hash(&parent.cid, im->o.cid_version, MC_DAG_PB, im->scratch.p, im->scratch.n);
    if (im->put) {
        rc = im->put(im->ctx, &parent.cid, (const uint8_t *)im->scratch.p, im->scratch.n);
        if (rc)
            return rc;
    }
    parent.tsize = im->scratch.n + tsum;
    parent.fsize = u.filesize;
    L->n = 0;
    return add_link(im, lv + 1, &parent);
}

static int add_link(struct importer *im, int lv, const struct link *l)
{
    struct level *L;

    if (lv >= MAX_LEVELS)
        return AG_ETOOBIG;
    L = &im->levels[lv];
    if (!L->links) {
        L->links = malloc(im->o.max_links * sizeof(*L->links));
        if (!L->links)
            return AG_ENOMEM;
    }
    L->links[L->n++] = *l;
    if (L->n == im->o.max_links)
        return reduce_level(im, lv);
    return 0;
}

/* A helper hashing thread: hashes alongside the caller, batch by batch. */
static void *worker_main(void *arg)
{
    struct importer *im = arg;

    for (;;) {
        while (sem_wait(&im->go) < 0 && errno == EINTR)
            ;
        if (im->quit)
            break;
        hash_range(im->job);
        sem_post(&im->done);
    }
    return NULL;
}

/* Hashes the batch's chunks on up to o.threads threads (reading them first from
 * `fd` at `off` when fd >= 0), and puts them when `leaf_put`. Returns 0,
 * AG_EIO (errno in *err), the put callback's error (*put_failed set) or AG_E*. */
static int hash_batch(struct importer *im, size_t count, int fd, uint64_t off, int *err,
                      bool *put_failed)
{
    struct hash_job job;
    bool threaded = im->nworkers && count >= 2;

    job.im = im;
    atomic_init(&job.next, 0);
    atomic_init(&job.rc, 0);
    atomic_init(&job.err, 0);
    atomic_init(&job.put_failed, false);
    job.count = count;
    job.fd = fd;
    job.off = off;
    if (threaded) {
        im->job = &job;
        for (int i = 0; i < im->nworkers; i++)
            sem_post(&im->go);
    }
    hash_range(&job);
    for (int i = 0; threaded && i < im->nworkers; i++)
        while (sem_wait(&im->done) < 0 && errno == EINTR)
            ;
    *err = atomic_load(&job.err);
    *put_failed = atomic_load(&job.put_failed);
    return atomic_load(&job.rc);
}

/* Emits the `count` hashed chunks of the batch as leaves. */
static int emit_batch(struct importer *im, size_t count)
{
    struct link l;
    int rc = 0;

    for (size_t i = 0; !rc && i < count; i++) {
        const uint8_t *p = im->batch + i * im->o.chunk_size;
        size_t n = im->lens[i];
        memset(&l, 0, sizeof(l));
        /* Raw leaves are always CIDv1, even under CIDv0 parents (as in Kubo). */
        l.cid.version = im->o.raw_leaves ? 1 : (uint8_t)im->o.cid_version;
        l.cid.codec = im->o.raw_leaves ? MC_RAW : MC_DAG_PB;
        l.cid.mh_code = MC_SHA2_256;
        l.cid.digest_len = 32;
        memcpy(l.cid.digest, im->digests[i], 32);
        l.fsize = n;
        l.tsize = n;
        /* Leaves to put here, unless the hashing threads did. */
        if (!im->o.raw_leaves || (im->put && !im->leaf_put)) {
            uint8_t head[32], trail[16];
            size_t nh = 0, nt = 0;
            const uint8_t *block = p;
            if (!im->o.raw_leaves) {
                nh = leaf_wrap(n, head, trail, &nt);
                l.tsize = nh + n + nt;
            }
            if (im->put && !im->o.raw_leaves) {
                buf_reset(&im->scratch);
                rc = buf_add(&im->scratch, head, nh);
                if (!rc && n)
                    rc = buf_add(&im->scratch, p, n);
                if (!rc)
                    rc = buf_add(&im->scratch, trail, nt);
                block = (const uint8_t *)im->scratch.p;
            }
            if (!rc && im->put)
                rc = im->put(im->ctx, &l.cid, block, l.tsize);
        }
        im->nleaves++;
        if (!rc)
            rc = add_link(im, 0, &l);
    }
    return rc;
}

/* Hashes and emits the `count` chunks in the batch, the last `last_len` long. */
static int flush_batch(struct importer *im, size_t count, size_t last_len)
{
    bool put_failed;
    int err, rc;

    if (!count)
        return 0;
    for (size_t i = 0; i < count; i++)
        im->lens[i] = i + 1 == count ? last_len : im->o.chunk_size;
    rc = hash_batch(im, count, -1, 0, &err, &put_failed);
    return rc ? rc : emit_batch(im, count);
}

static int flush_full(struct importer *im)
{
    int rc = flush_batch(im, im->batch_chunks, im->o.chunk_size);

    im->fill = 0;
    return rc;
}

int importer_write(struct importer *im, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t cap = im->batch_chunks * im->o.chunk_size, k;
    int rc = 0;

    assert(!im->finished);
    while (!rc && len) {
        k = MIN(len, cap - im->fill);
        memcpy(im->batch + im->fill, p, k);
        im->fill += k;
        im->total += k;
        p += k;
        len -= k;
        if (im->fill == cap)
            rc = flush_full(im);
    }
    return rc;
}

/* importer_add_fd() on a regular file: the hashing threads pread the chunks. */
static int add_file(struct importer *im, int fd, uint64_t off, struct ag_err *e)
{
    size_t count, k, n_round;
    uint64_t left;
    struct stat st;
    bool put_failed;
    int rc, err;

    for (;;) {
        /* A round covers what fstat says is left plus one chunk (to see a
         * file that grew), at most file_chunks. */
        left = fstat(fd, &st) == 0 && (uint64_t)st.st_size > off ? (uint64_t)st.st_size - off : 0;
        n_round = (size_t)MIN((uint64_t)im->file_chunks, left / im->o.chunk_size + 1);
        rc = hash_batch(im, n_round, fd, off, &err, &put_failed);
        if (rc && put_failed)
            return rc;
        if (rc == AG_EIO)
            return ag_errf(e, AG_EIO, "file", "read failed: %s", strerror(err));
        if (rc)
            return ag_errf(e, rc, "file", "hashing failed");
        /* The file's bytes are the chunks up to the first short one. */
        for (count = 0; count < n_round && im->lens[count] == im->o.chunk_size; count++)
            ;
        k = count;
        if (count < n_round && im->lens[count] > 0)
            count++;
        for (size_t i = count; i < n_round; i++)
            if (im->lens[i])
                return ag_errf(e, AG_EIO, "file", "the file changed while it was read");
        for (size_t i = 0; i < count; i++)
            im->total += im->lens[i];
        rc = emit_batch(im, count);
        if (rc || k < n_round)
            return rc;
        off += (uint64_t)n_round * im->o.chunk_size;
    }
}

int importer_add_fd(struct importer *im, int fd, struct ag_err *e)
{
    size_t cap = im->batch_chunks * im->o.chunk_size;
    struct stat st;
    off_t pos;
    ssize_t r;
    int rc = 0;

    assert(!im->finished);
    if (im->fill == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (pos = lseek(fd, 0, SEEK_CUR)) >= 0)
        return add_file(im, fd, (uint64_t)pos, e);
    while (!rc) {
        r = read(fd, im->batch + im->fill, cap - im->fill);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ag_errf(e, AG_EIO, "file", "read failed: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        im->fill += (size_t)r;
        im->total += (uint64_t)r;
        if (im->fill == cap)
            rc = flush_full(im);
    }
    return rc;
}

int importer_finish(struct importer *im, struct cid *root, uint64_t *file_size,
                    uint64_t *dag_size)
{
    size_t count, last;
    int rc, top = 0;

    assert(!im->finished);
    im->finished = true;
    /* The batch holds whole chunks then possibly a partial one; an empty
     * file is one empty chunk. */
    count = (im->fill + im->o.chunk_size - 1) / im->o.chunk_size;
    last = im->fill - (count ? (count - 1) * im->o.chunk_size : 0);
    if (im->nleaves == 0 && count == 0)
        count = 1, last = 0;
    rc = flush_batch(im, count, last);
    if (rc)
        return rc;
    if (im->nleaves == 1) {
        /* reduceSingleLeafToSelf: the root is the leaf itself. */
        *root = im->levels[0].links[0].cid;
        if (dag_size)
            *dag_size = im->levels[0].links[0].tsize;
        goto done;
    }
    for (int i = 0; i < MAX_LEVELS; i++)
        if (im->levels[i].n)
            top = i;
    for (int i = 0; i < MAX_LEVELS; i++) {
        if (i >= top && im->levels[i].n == 1) {
            *root = im->levels[i].links[0].cid;
            if (dag_size)
                *dag_size = im->levels[i].links[0].tsize;
            goto done;
        }
        if (im->levels[i].n) {
            rc = reduce_level(im, i);
            if (rc)
                return rc;
            top = MAX(top, i + 1);
        }
    }
    return AG_EINTERNAL;
done:
    if (file_size)
        *file_size = im->total;
    return 0;
}
