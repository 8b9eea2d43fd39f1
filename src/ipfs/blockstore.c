/* blockstore.c - a flatfs-style block directory with atomic writes and verified reads. */
#include "core/common.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/encoding.h"
#include "core/log.h"
#include "core/util.h"
#include "ipfs/blockstore.h"

#define SHARDING "/repo/flatfs/shard/v1/next-to-last/2\n"
#define KEY_MAX 300

struct staged {
    char *tmp, *path;
};

struct blockstore {
    char *dir;
    bool verify, sync;
    bool batching;
    /* `lock` guards the staged list: puts of one batch may come from several
     * threads (the importer's hashing threads), and the one that fills the
     * list commits it while the others wait. */
    pthread_mutex_t lock;
    struct staged *staged;    /* BLOCKSTORE_BATCH_BLOCKS slots while batching */
    size_t nstaged, staged_bytes;
    bool unsynced_renames;    /* blocks renamed into place since the last syncfs */
    blockstore_fetch_fn fetch; /* where missing blocks come from, or NULL */
    /* Shard directories this handle has seen exist (32 x 32 two-character
     * base32 names), so a put costs no mkdir() once its shard is there.
     * Racing threads at worst both set a flag. */
    _Atomic unsigned char shard_ok[32 * 32];
    void *fetch_ctx;
};

void blockstore_set_fetch(struct blockstore *bs, blockstore_fetch_fn fn, void *ctx)
{
    bs->fetch = fn;
    bs->fetch_ctx = ctx;
}

bool blockstore_can_fetch(const struct blockstore *bs)
{
    return bs->fetch != NULL;
}

const char *blockstore_dir(const struct blockstore *bs)
{
    return bs->dir;
}

void blockstore_set_verify(struct blockstore *bs, bool on)
{
    bs->verify = on;
}

void blockstore_set_sync(struct blockstore *bs, bool on)
{
    bs->sync = on;
}

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -1;
    if (fsync(fd) < 0 && errno != EINVAL)
        rc = -1;
    close(fd);
    return rc;
}

/* direct_ok() says whether a staged write of `len` bytes at `data` may
 * bypass the page cache (O_DIRECT): whole 4 KiB blocks from a 4 KiB-aligned
 * buffer, as the importer's chunk buffers are. */
static bool direct_ok(const void *data, size_t len)
{
    return len >= BLOCKSTORE_DIRECT_ALIGN && len % BLOCKSTORE_DIRECT_ALIGN == 0 &&
           (uintptr_t)data % BLOCKSTORE_DIRECT_ALIGN == 0;
}

/* Writes `len` bytes to a fresh file `path` durably (temp, fsync, rename).
 * With `staged` set it stops before the fsync and rename and hands back the
 * temporary file's name (malloc'd) there instead: the bytes then go to the
 * disk straight from `data` (O_DIRECT) when direct_ok(), measured 3-6x less
 * system time than copying them into the page cache on the VMs here, or else
 * their write-back is started at once (sync_file_range). Either way the
 * commit's syncfs() makes them, and the file's metadata, durable. */
static int write_atomic(const char *dir, const char *path, const void *data, size_t len,
                        bool sync, char **staged, struct ag_err *e)
{
    char tmp[PATH_MAX], tok[17];
    const uint8_t *p = data;
    size_t off = 0;
    int fd = -1, rc = 0;
    bool direct = staged && sync && direct_ok(data, len);

    rand_token(tok, 8);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, tok) >= sizeof(tmp))
        return ag_errf(e, AG_ETOOBIG, "path", "blockstore path too long");
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && direct && errno == EINVAL) {
        /* A file system without O_DIRECT (tmpfs): the page cache it is.
         * Kernels before 6.6 create the file before they refuse the flag,
         * so the name may be taken already. */
        direct = false;
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && direct && errno == EINVAL && off == 0) {
            /* Alignment this device refuses: write through the page cache. */
            direct = false;
            if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT) < 0) {
                rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot write %s: %s", tmp,
                             strerror(errno));
                goto out;
            }
            continue;
        }
        if (w < 0) {
            rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
        if (direct && off < len && off % BLOCKSTORE_DIRECT_ALIGN) {
            /* A short direct write left an unaligned rest: finish buffered. */
            direct = false;
            if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT) < 0) {
                rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot write %s: %s", tmp,
                             strerror(errno));
                goto out;
            }
        }
    }
    if (staged) {
        /* Batched: start the write-back now, the commit waits for it and renames. */
        if (sync && !direct)
            (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        rc = close(fd);
        fd = -1;
        if (rc < 0)
            rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot close %s: %s", tmp, strerror(errno));
        else if (!(*staged = str_dup(tmp)))
            rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    if (sync && fsync(fd) < 0) {
        rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot close %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = ag_errf(e, AG_EIO, "blockstore", "cannot rename to %s: %s", path, strerror(errno));
        goto out;
    }
    if (sync && fsync_dir(dir) < 0)
        rc = ag_errf(e, AG_EIO, "blockstore", "cannot fsync %s: %s", dir, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

int blockstore_open(struct blockstore **out, const char *dir, struct ag_err *e)
{
    struct blockstore *bs = NULL;
    char path[PATH_MAX];
    struct buf b;
    struct stat st;
    int rc = 0;

    buf_init(&b, 4096);
    if (mkdir_p(dir, 0755) || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rc = ag_errf(e, AG_EIO, "data-dir", "cannot create blockstore directory %s: %s", dir,
                     strerror(errno));
        goto out;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/SHARDING", dir) >= sizeof(path) - 80) {
        rc = ag_errf(e, AG_ETOOBIG, "data-dir", "blockstore path too long");
        goto out;
    }
    if (access(path, F_OK) == 0) {
        if (buf_read_file(&b, path) || strcmp(b.p, SHARDING)) {
            rc = ag_errf(e, AG_EUNPROCESSABLE, "data-dir",
                         "%s names a sharding other than next-to-last/2", path);
            goto out;
        }
    } else if (errno == ENOENT) {
        rc = write_atomic(dir, path, SHARDING, strlen(SHARDING), true, NULL, e);
        if (rc)
            goto out;
    } else {
        rc = ag_errf(e, AG_EIO, "data-dir", "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    bs = calloc(1, sizeof(*bs));
    if (bs && pthread_mutex_init(&bs->lock, NULL)) {
        free(bs);
        bs = NULL;
    }
    if (!bs || !(bs->dir = str_dup(dir))) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    bs->verify = true;
    bs->sync = true;
    *out = bs;
    bs = NULL;
out:
    blockstore_free(bs);
    buf_release(&b);
    return rc;
}

void blockstore_free(struct blockstore *bs)
{
    if (!bs)
        return;
    blockstore_batch_abort(bs);
    pthread_mutex_destroy(&bs->lock);
    free(bs->staged);
    free(bs->dir);
    free(bs);
}

static int commit_staged(struct blockstore *bs, bool final, struct ag_err *e);

/* The flatfs key of a CID: base32 upper of its multihash. */
static int block_key(const struct cid *cid, char key[KEY_MAX])
{
    uint8_t mh[CID_MAX_BYTES];
    struct buf b;
    int rc;

    buf_init(&b, KEY_MAX - 1);
    rc = base32_encode(&b, mh, cid_mh_bytes(cid, mh));
    if (!rc) {
        for (size_t i = 0; i < b.n; i++)
            key[i] = (char)(b.p[i] >= 'a' && b.p[i] <= 'z' ? b.p[i] - 32 : b.p[i]);
        key[b.n] = '\0';
    }
    buf_release(&b);
    return rc;
}

static int shard_dir(const struct blockstore *bs, const char *key, char *out, size_t size)
{
    size_t n = strlen(key);

    if ((size_t)snprintf(out, size, "%s/%.2s", bs->dir, key + n - 3) >= size)
        return AG_ETOOBIG;
    return 0;
}

int blockstore_path(const struct blockstore *bs, const struct cid *cid, char *out, size_t size)
{
    char key[KEY_MAX];
    size_t n;

    if (block_key(cid, key))
        return AG_ETOOBIG;
    n = strlen(key);
    if ((size_t)snprintf(out, size, "%s/%.2s/%s.data", bs->dir, key + n - 3, key) >= size)
        return AG_ETOOBIG;
    return 0;
}

/* shard_index() numbers a key's shard 0..1023 (-1 if not base32). */
static int shard_index(const char *key)
{
    size_t n = strlen(key);
    int v = 0;
    for (size_t i = n - 3; i < n - 1; i++) {
        char c = key[i];
        int d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= '2' && c <= '7' ? c - '2' + 26 : -1;
        if (d < 0)
            return -1;
        v = v * 32 + d;
    }
    return v;
}

int blockstore_put(struct blockstore *bs, const struct cid *cid, const void *data,
                   size_t len, struct ag_err *e)
{
    char key[KEY_MAX], dir[PATH_MAX], path[PATH_MAX];
    int rc, shard;

    if (cid->mh_code == MC_IDENTITY)
        return 0;
    if (len > BLOCKSTORE_MAX_BLOCK)
        return ag_errf(e, AG_ETOOBIG, "block", "block of %zu bytes exceeds %zu", len,
                       BLOCKSTORE_MAX_BLOCK);
    if (block_key(cid, key) || shard_dir(bs, key, dir, sizeof(dir)) ||
        blockstore_path(bs, cid, path, sizeof(path)))
        return ag_errf(e, AG_ETOOBIG, "path", "blockstore path too long");
    if (access(path, F_OK) == 0)
        return 0;
    shard = shard_index(key);
    if (shard < 0 || !atomic_load(&bs->shard_ok[shard])) {
        if (mkdir(dir, 0755) < 0) {
            if (errno != EEXIST)
                return ag_errf(e, AG_EIO, "blockstore", "cannot create %s: %s", dir,
                               strerror(errno));
        } else if (bs->sync && !bs->batching && fsync_dir(bs->dir) < 0) {
            return ag_errf(e, AG_EIO, "blockstore", "cannot fsync %s: %s", bs->dir,
                           strerror(errno));
        }
        if (shard >= 0)
            atomic_store(&bs->shard_ok[shard], 1);
    }
    if (!bs->batching) {
        rc = write_atomic(dir, path, data, len, bs->sync, NULL, e);
        /* A shard directory removed behind our back: make it again, once. */
        if (rc == AG_EIO && shard >= 0 && access(dir, F_OK) != 0 && mkdir(dir, 0755) == 0)
            rc = write_atomic(dir, path, data, len, bs->sync, NULL, e);
        return rc;
    }
    /* Staged: the temporary file is written outside the lock, so puts from
     * several threads write at once; only the list is shared. */
    char *tmp = NULL, *dst = str_dup(path);
    if (!dst)
        return ag_err_set(e, AG_ENOMEM);
    rc = write_atomic(dir, path, data, len, bs->sync, &tmp, e);
    if (rc == AG_EIO && shard >= 0 && access(dir, F_OK) != 0 && mkdir(dir, 0755) == 0)
        rc = write_atomic(dir, path, data, len, bs->sync, &tmp, e);
    if (rc) {
        free(dst);
        return rc;
    }
    pthread_mutex_lock(&bs->lock);
    if (bs->nstaged == BLOCKSTORE_BATCH_BLOCKS || bs->staged_bytes + len > BLOCKSTORE_BATCH_BYTES)
        rc = commit_staged(bs, false, e);
    if (!rc) {
        bs->staged[bs->nstaged].tmp = tmp;
        bs->staged[bs->nstaged].path = dst;
        bs->nstaged++;
        bs->staged_bytes += len;
        tmp = dst = NULL;
    }
    pthread_mutex_unlock(&bs->lock);
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(dst);
    return rc;
}

int blockstore_batch_begin(struct blockstore *bs, struct ag_err *e)
{
    if (bs->batching)
        return ag_errf(e, AG_ECONFLICT, "blockstore", "a batch is already open");
    if (!bs->staged) {
        bs->staged = calloc(BLOCKSTORE_BATCH_BLOCKS, sizeof(*bs->staged));
        if (!bs->staged)
            return ag_err_set(e, AG_ENOMEM);
    }
    bs->batching = true;
    bs->unsynced_renames = false;
    bs->nstaged = 0;
    bs->staged_bytes = 0;
    return 0;
}

static void staged_clear(struct blockstore *bs, bool unlink_tmp)
{
    for (size_t i = 0; i < bs->nstaged; i++) {
        if (unlink_tmp && bs->staged[i].tmp)
            unlink(bs->staged[i].tmp);
        free(bs->staged[i].tmp);
        free(bs->staged[i].path);
        bs->staged[i].tmp = bs->staged[i].path = NULL;
    }
    bs->nstaged = 0;
    bs->staged_bytes = 0;
}

void blockstore_batch_abort(struct blockstore *bs)
{
    if (!bs->batching)
        return;
    staged_clear(bs, true);
    bs->batching = false;
}

/* Flushes the whole file system holding the store: one device flush for the
 * batch instead of one per block (measured: a 256 MiB import took 10-15 s
 * with a fdatasync per block, 1-2.5 s with syncfs). */
static int sync_store(struct blockstore *bs)
{
    int fd = open(bs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -1;
    if (syncfs(fd) < 0)
        rc = -1;
    close(fd);
    return rc;
}

/* commit_staged() makes the staged blocks durable (one syncfs: their
 * write-back started at put time), renames them into place and empties the
 * list; the batch stays open. A block is renamed only once its bytes are
 * durable, so a crash leaves it whole or absent. The renames themselves
 * become durable at the next sync: the next commit's first one, or the
 * second one that the final commit (`final`) adds, which is what a caller
 * waits for before it references the blocks. On failure the blocks not yet
 * renamed are removed; renamed ones are whole and stay. Caller holds `lock`
 * (or is the batch's only thread). */
static int commit_staged(struct blockstore *bs, bool final, struct ag_err *e)
{
    size_t i;
    int rc = 0;

    if (bs->nstaged && bs->sync && sync_store(bs) < 0) {
        rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot sync %s: %s", bs->dir, strerror(errno));
        goto out;
    }
    for (i = 0; i < bs->nstaged; i++) {
        if (rename(bs->staged[i].tmp, bs->staged[i].path) < 0) {
            rc = ag_errf(e, AG_EIO, "blockstore", "cannot rename to %s: %s",
                         bs->staged[i].path, strerror(errno));
            goto out;
        }
        free(bs->staged[i].tmp);
        bs->staged[i].tmp = NULL;
        bs->unsynced_renames = true;
    }
    if (final && bs->unsynced_renames && bs->sync) {
        if (sync_store(bs) < 0)
            rc = ag_errf(e, ag_errno_code(errno), "blockstore", "cannot sync %s: %s", bs->dir, strerror(errno));
        else
            bs->unsynced_renames = false;
    }
out:
    staged_clear(bs, true);
    return rc;
}

int blockstore_batch_commit(struct blockstore *bs, struct ag_err *e)
{
    int rc;

    if (!bs->batching)
        return ag_errf(e, AG_ECONFLICT, "blockstore", "no batch is open");
    rc = commit_staged(bs, true, e);
    bs->batching = false;
    return rc;
}

/* local_get() is blockstore_get() without the fetch fallback. */
static int local_get(struct blockstore *bs, const struct cid *cid, struct buf *out,
                     struct ag_err *e)
{
    char path[PATH_MAX], name[CID_MAX_STR];
    size_t n0 = out->n, off = 0;
    struct stat st;
    int fd = -1, rc = 0;

    if (cid_format(cid, name, sizeof(name)))
        str_copy(name, "(unprintable CID)", sizeof(name));
    if (cid->mh_code == MC_IDENTITY)
        return buf_add(out, cid->digest, cid->digest_len);
    if (blockstore_path(bs, cid, path, sizeof(path)))
        return ag_errf(e, AG_ETOOBIG, "path", "blockstore path too long");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = ag_errf(e, AG_ENOTFOUND, "cid", "block %s not found", name);
        else
            rc = ag_errf(e, AG_EIO, "blockstore", "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = ag_errf(e, AG_EIO, "blockstore", "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if ((uint64_t)st.st_size > BLOCKSTORE_MAX_BLOCK) {
        rc = ag_errf(e, AG_ECORRUPT, "cid", "block %s is %jd bytes, above the %zu limit",
                     name, (intmax_t)st.st_size, BLOCKSTORE_MAX_BLOCK);
        goto out;
    }
    rc = buf_grow(out, (size_t)st.st_size);
    if (rc) {
        rc = ag_errf(e, rc, "block", "no room for block %s", name);
        goto out;
    }
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, out->p + n0 + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ag_errf(e, AG_EIO, "blockstore", "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        off += (size_t)r;
    }
    if (off != (size_t)st.st_size) {
        rc = ag_errf(e, AG_ECORRUPT, "cid", "block %s changed size while read", name);
        goto out;
    }
    if (bs->verify) {
        rc = cid_verify(cid, out->p + n0, off);
        if (rc == AG_ECORRUPT)
            rc = ag_errf(e, AG_ECORRUPT, "cid", "block %s is corrupt: its bytes do not hash to it",
                         name);
        else if (rc)
            rc = ag_errf(e, rc, "cid", "cannot verify block %s: unsupported hash", name);
        if (rc)
            goto out;
    }
    out->n = n0 + off;
    out->p[out->n] = '\0';
out:
    if (fd >= 0)
        close(fd);
    if (rc && out->cap) {
        out->n = n0;
        out->p[n0] = '\0';
    }
    return rc;
}

/* fetch_missing() asks the fetch callback for a block the store lacks,
 * checks that the bytes hash to the CID (always, whatever the verify
 * setting: they come from outside), keeps them and appends them to `out`. */
static int fetch_missing(struct blockstore *bs, const struct cid *cid, struct buf *out,
                         struct ag_err *e)
{
    char name[CID_MAX_STR];
    struct ag_err fe = {0};
    struct buf b;
    int rc;

    if (cid_format(cid, name, sizeof(name)))
        str_copy(name, "(unprintable CID)", sizeof(name));
    buf_init(&b, BLOCKSTORE_MAX_BLOCK);
    rc = bs->fetch(bs->fetch_ctx, cid, &b, &fe);
    if (rc) {
        rc = ag_errf(e, AG_ENOTFOUND, "cid", "block %s not found here, nor fetched: %s", name,
                     fe.msg[0] ? fe.msg : ag_strerror(rc));
        goto out;
    }
    if ((rc = cid_verify(cid, b.p, b.n))) {
        rc = ag_errf(e, AG_ECORRUPT, "cid", "the fetched block %s does not hash to its CID", name);
        goto out;
    }
    if (blockstore_put(bs, cid, b.p, b.n, &fe))
        log_warn("blockstore: fetched %s but cannot keep it: %s", name, fe.msg);
    rc = buf_add(out, b.p, b.n);
out:
    buf_release(&b);
    return rc;
}

int blockstore_get(struct blockstore *bs, const struct cid *cid, struct buf *out,
                   struct ag_err *e)
{
    int rc = local_get(bs, cid, out, e);
    if (rc == AG_ENOTFOUND && bs->fetch)
        rc = fetch_missing(bs, cid, out, e);
    return rc;
}

int blockstore_has(struct blockstore *bs, const struct cid *cid, struct ag_err *e)
{
    char path[PATH_MAX];

    if (cid->mh_code == MC_IDENTITY)
        return 1;
    if (blockstore_path(bs, cid, path, sizeof(path)))
        return ag_errf(e, AG_ETOOBIG, "path", "blockstore path too long");
    if (access(path, F_OK) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return ag_errf(e, AG_EIO, "blockstore", "cannot check %s: %s", path, strerror(errno));
}

int blockstore_delete(struct blockstore *bs, const struct cid *cid, struct ag_err *e)
{
    char path[PATH_MAX];

    if (cid->mh_code == MC_IDENTITY)
        return 0;
    if (blockstore_path(bs, cid, path, sizeof(path)))
        return ag_errf(e, AG_ETOOBIG, "path", "blockstore path too long");
    if (unlink(path) < 0) {
        if (errno == ENOENT)
            return ag_errf(e, AG_ENOTFOUND, "cid", "block not found");
        return ag_errf(e, AG_EIO, "blockstore", "cannot delete %s: %s", path, strerror(errno));
    }
    return 0;
}

/* Turns "KEY.data" into a CID; false if the name is not a block. */
static bool name_to_cid(const char *name, const char *shard, struct cid *c)
{
    size_t n = strlen(name), kl;
    char low[KEY_MAX];
    struct buf b;
    bool ok = false;

    if (n < 8 || n - 5 >= KEY_MAX || strcmp(name + n - 5, ".data"))
        return false;
    kl = n - 5;
    if (kl < 3 || strncmp(name + kl - 3, shard, 2))
        return false;
    for (size_t i = 0; i < kl; i++) {
        if (name[i] >= 'a' && name[i] <= 'z')
            return false;
        low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    }
    buf_init(&b, CID_MAX_BYTES);
    if (base32_decode(&b, low, kl) == 0 && b.n > 0) {
        size_t k;
        uint64_t code, dlen;
        const uint8_t *p = (const uint8_t *)b.p;
        /* The key is a multihash: read it as the tail of a v1 raw CID. */
        memset(c, 0, sizeof(*c));
        k = varint_get(p, b.n, &code);
        if (k) {
            size_t k2 = varint_get(p + k, b.n - k, &dlen);
            if (k2 && dlen <= CID_MAX_DIGEST && k + k2 + dlen == b.n &&
                (code != MC_SHA2_256 || dlen == 32)) {
                c->version = 1;
                c->codec = MC_RAW;
                c->mh_code = code;
                c->digest_len = (size_t)dlen;
                memcpy(c->digest, p + k + k2, (size_t)dlen);
                ok = true;
            }
        }
    }
    buf_release(&b);
    return ok;
}

int blockstore_iterate(struct blockstore *bs, int (*fn)(void *ctx, const struct cid *cid),
                       void *ctx, struct ag_err *e)
{
    char path[PATH_MAX];
    DIR *top = NULL, *sub = NULL;
    struct dirent *d, *f;
    struct cid c;
    int rc = 0;

    top = opendir(bs->dir);
    if (!top)
        return ag_errf(e, AG_EIO, "blockstore", "cannot list %s: %s", bs->dir, strerror(errno));
    while (!rc && (d = readdir(top))) {
        if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", bs->dir, d->d_name) >= sizeof(path))
            continue;
        sub = opendir(path);
        if (!sub) {
            if (errno == ENOTDIR)
                continue;
            rc = ag_errf(e, AG_EIO, "blockstore", "cannot list %s: %s", path, strerror(errno));
            break;
        }
        while (!rc && (f = readdir(sub)))
            if (name_to_cid(f->d_name, d->d_name, &c))
                rc = fn(ctx, &c);
        closedir(sub);
        sub = NULL;
    }
    closedir(top);
    return rc;
}

/* sweep_dir() applies blockstore_sweep_tmp() to the files of one directory. */
static void sweep_dir(const char *dir, int64_t cutoff, bool dry_run, uint64_t *n, uint64_t *bytes)
{
    char path[PATH_MAX];
    struct dirent *f;
    struct stat sb;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((f = readdir(d))) {
        if (strncmp(f->d_name, ".tmp-", 5) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, f->d_name) >= sizeof(path))
            continue;
        /* lstat: a link is never followed; only regular files are ours. */
        if (lstat(path, &sb) || !S_ISREG(sb.st_mode) || (int64_t)sb.st_mtime >= cutoff)
            continue;
        if (dry_run || unlink(path) == 0) {
            (*n)++;
            *bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
}

int blockstore_sweep_tmp(struct blockstore *bs, int64_t cutoff, bool dry_run, uint64_t *removed,
                         uint64_t *bytes, struct ag_err *e)
{
    char path[PATH_MAX];
    struct dirent *d;
    uint64_t n = 0, nb = 0;
    DIR *top = opendir(bs->dir);

    if (!top)
        return ag_errf(e, AG_EIO, "blockstore", "cannot list %s: %s", bs->dir, strerror(errno));
    sweep_dir(bs->dir, cutoff, dry_run, &n, &nb);
    while ((d = readdir(top))) {
        if (strlen(d->d_name) != 2 || d->d_name[0] == '.' ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", bs->dir, d->d_name) >= sizeof(path))
            continue;
        sweep_dir(path, cutoff, dry_run, &n, &nb);
    }
    closedir(top);
    if (removed)
        *removed = n;
    if (bytes)
        *bytes = nb;
    return 0;
}
