/* test_blockstore.c - the on-disk blockstore: layout, atomic writes, corruption, errors. */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "ipfs/blockstore.h"

static int count_cb(void *ctx, const struct cid *c)
{
    UNUSED(c);
    (*(int *)ctx)++;
    return 0;
}

/* Counts files under dir whose names start with `prefix`, one level of subdirectories deep. */
static int count_files(const char *dir, const char *prefix)
{
    char p[PATH_MAX];
    DIR *d = opendir(dir), *s;
    struct dirent *e, *f;
    int n = 0;

    ASSERT(d != NULL);
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            n++;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if ((s = opendir(p))) {
            while ((f = readdir(s)))
                n += !strncmp(f->d_name, prefix, strlen(prefix));
            closedir(s);
        }
    }
    closedir(d);
    return n;
}

TEST(blockstore_put_get_kubo_layout)
{
    const char *dir = test_tmpdir();
    struct blockstore *bs;
    struct cid c, v0;
    struct buf b, sh;
    char path[PATH_MAX], want[PATH_MAX];
    int n = 0;

    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    cid_hash(&c, 1, MC_RAW, "hello world\n", 12);
    ASSERT_EQ(blockstore_has(bs, &c, NULL), 0);
    ASSERT_OK(blockstore_put(bs, &c, "hello world\n", 12, NULL));
    ASSERT_OK(blockstore_put(bs, &c, "hello world\n", 12, NULL)); /* idempotent */
    ASSERT_EQ(blockstore_has(bs, &c, NULL), 1);
    /* Kubo's flatfs key: base32 upper of the multihash, next-to-last/2 shard. */
    ASSERT_OK(blockstore_path(bs, &c, path, sizeof(path)));
    snprintf(want, sizeof(want), "%s/%s", dir,
             "IR/CIQKSSEQJ4XQ6R43R6AZO2KLGAMEWDJO2HA42KQ6YD5YLUUZUGJKIRY.data");
    ASSERT_STR_EQ(path, want);
    buf_init(&sh, 4096);
    snprintf(path, sizeof(path), "%s/SHARDING", dir);
    ASSERT_OK(buf_read_file(&sh, path));
    ASSERT_STR_EQ(sh.p, "/repo/flatfs/shard/v1/next-to-last/2\n");
    buf_release(&sh);
    buf_init(&b, 1 << 20);
    ASSERT_OK(blockstore_get(bs, &c, &b, NULL));
    ASSERT_EQ(b.n, 12);
    ASSERT(!memcmp(b.p, "hello world\n", 12));
    /* Same multihash under another CID version/codec: the same block. */
    cid_hash(&v0, 0, MC_DAG_PB, "hello world\n", 12);
    ASSERT_EQ(blockstore_has(bs, &v0, NULL), 1);
    ASSERT_OK(blockstore_iterate(bs, count_cb, &n, NULL));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(count_files(dir, ".tmp-"), 0);
    ASSERT_OK(blockstore_delete(bs, &c, NULL));
    ASSERT_EQ(blockstore_delete(bs, &c, NULL), AG_ENOTFOUND);
    buf_reset(&b);
    ASSERT_EQ(blockstore_get(bs, &c, &b, NULL), AG_ENOTFOUND);
    buf_release(&b);
    blockstore_free(bs);
    /* Reopening keeps the layout. */
    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    blockstore_free(bs);
}

TEST(blockstore_flipped_byte_is_corrupt)
{
    const char *dir = test_tmpdir();
    struct blockstore *bs;
    struct ag_err e = {0};
    struct cid c;
    struct buf b;
    char path[PATH_MAX];
    uint8_t data[1000];
    FILE *f;
    int n = 0;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    cid_hash(&c, 1, MC_RAW, data, sizeof(data));
    ASSERT_OK(blockstore_put(bs, &c, data, sizeof(data), NULL));
    ASSERT_OK(blockstore_path(bs, &c, path, sizeof(path)));
    f = fopen(path, "r+b");
    ASSERT(f != NULL);
    fseek(f, 500, SEEK_SET);
    fputc(data[500] ^ 0x40, f);
    fclose(f);
    buf_init(&b, 1 << 20);
    ASSERT_OK(buf_add(&b, "keep", 4));
    ASSERT_EQ(blockstore_get(bs, &c, &b, &e), AG_ECORRUPT);
    ASSERT(strstr(e.msg, "corrupt") != NULL);
    ASSERT_EQ(b.n, 4); /* nothing of the corrupt block handed out */
    ASSERT_STR_EQ(b.p, "keep");
    /* With verification off the bytes come back as they are on disk. */
    blockstore_set_verify(bs, false);
    buf_reset(&b);
    ASSERT_OK(blockstore_get(bs, &c, &b, NULL));
    ASSERT_EQ(b.n, sizeof(data));
    /* A stray temp file and junk names are not blocks. */
    snprintf(path, sizeof(path), "%s/.tmp-0123", dir);
    f = fopen(path, "w");
    fclose(f);
    ASSERT_OK(blockstore_iterate(bs, count_cb, &n, NULL));
    ASSERT_EQ(n, 1);
    buf_release(&b);
    blockstore_free(bs);
}

TEST(blockstore_identity_and_limits)
{
    struct blockstore *bs;
    struct cid c;
    struct buf b;
    static uint8_t big[BLOCKSTORE_MAX_BLOCK + 1];

    ASSERT_OK(blockstore_open(&bs, test_tmpdir(), NULL));
    ASSERT_OK(cid_parse(&c, "bafkqaaa", NULL));
    ASSERT_EQ(blockstore_has(bs, &c, NULL), 1);
    buf_init(&b, 1024);
    ASSERT_OK(blockstore_get(bs, &c, &b, NULL));
    ASSERT_EQ(b.n, 0);
    cid_hash(&c, 1, MC_RAW, big, sizeof(big));
    ASSERT_EQ(blockstore_put(bs, &c, big, sizeof(big), NULL), AG_ETOOBIG);
    buf_release(&b);
    blockstore_free(bs);
}

TEST(blockstore_bad_directory)
{
    char path[PATH_MAX];
    struct blockstore *bs = NULL;
    struct ag_err e = {0};
    FILE *f;

    /* A regular file where the directory should be. */
    snprintf(path, sizeof(path), "%s/file", test_tmpdir());
    f = fopen(path, "w");
    fclose(f);
    ASSERT_EQ(blockstore_open(&bs, path, &e), AG_EIO);
    ASSERT(e.msg[0]);
    ASSERT(bs == NULL);
    /* A foreign sharding scheme is refused, not overwritten. */
    snprintf(path, sizeof(path), "%s/SHARDING", test_tmpdir());
    f = fopen(path, "w");
    fputs("/repo/flatfs/shard/v1/prefix/2\n", f);
    fclose(f);
    ASSERT_EQ(blockstore_open(&bs, test_tmpdir(), &e), AG_EUNPROCESSABLE);
}

TEST(blockstore_permission_denied)
{
    /* Root ignores file modes, so the check runs in a child that drops to
     * nobody; as another user it runs directly. */
    const char *dir = test_tmpdir();
    char sub[PATH_MAX];
    struct blockstore *bs;
    struct cid c;
    pid_t pid;
    int st;

    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    cid_hash(&c, 1, MC_RAW, "x", 1);
    ASSERT_OK(blockstore_put(bs, &c, "x", 1, NULL));
    blockstore_free(bs);
    ASSERT_EQ(chmod(dir, 0555), 0);
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct ag_err e = {0};
        struct cid d;
        int code = 0;
        if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
            _exit(10);
        if (blockstore_open(&bs, dir, &e) != 0)
            _exit(11);
        cid_hash(&d, 1, MC_RAW, "y", 1);
        /* A new shard directory cannot be made: a clean AG_EIO naming the cause. */
        if (blockstore_put(bs, &d, "y", 1, &e) != AG_EIO || !strstr(e.msg, "ermission"))
            code = 12;
        if (blockstore_open(&bs, sub, &e) != AG_EIO)
            code = 13;
        _exit(code);
    }
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    chmod(dir, 0755);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    ASSERT_EQ(count_files(dir, ".tmp-"), 0);
}

TEST(blockstore_batch_commit_and_abort)
{
    const char *dir = test_tmpdir();
    struct blockstore *bs;
    struct cid c[600];
    struct buf b;
    uint32_t v;
    int n = 0;

    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    buf_init(&b, 1024);
    ASSERT_OK(blockstore_batch_begin(bs, NULL));
    ASSERT_EQ(blockstore_batch_begin(bs, NULL), AG_ECONFLICT);
    /* More than BLOCKSTORE_BATCH_BLOCKS puts: one automatic commit on the way. */
    for (v = 0; v < ARRAY_SIZE(c); v++) {
        cid_hash(&c[v], 1, MC_RAW, &v, sizeof(v));
        ASSERT_OK(blockstore_put(bs, &c[v], &v, sizeof(v), NULL));
    }
    ASSERT_EQ(blockstore_has(bs, &c[0], NULL), 1);                 /* committed automatically */
    ASSERT_EQ(blockstore_has(bs, &c[ARRAY_SIZE(c) - 1], NULL), 0); /* still staged */
    ASSERT(count_files(dir, ".tmp-") > 0);
    ASSERT_OK(blockstore_batch_commit(bs, NULL));
    ASSERT_EQ(count_files(dir, ".tmp-"), 0);
    ASSERT_OK(blockstore_iterate(bs, count_cb, &n, NULL));
    ASSERT_EQ(n, (int)ARRAY_SIZE(c));
    ASSERT_OK(blockstore_get(bs, &c[599], &b, NULL));
    ASSERT_EQ(b.n, sizeof(v));
    /* An aborted batch leaves nothing behind. */
    ASSERT_OK(blockstore_batch_begin(bs, NULL));
    v = 1000000;
    cid_hash(&c[0], 1, MC_RAW, &v, sizeof(v));
    ASSERT_OK(blockstore_put(bs, &c[0], &v, sizeof(v), NULL));
    blockstore_batch_abort(bs);
    ASSERT_EQ(blockstore_has(bs, &c[0], NULL), 0);
    ASSERT_EQ(count_files(dir, ".tmp-"), 0);
    ASSERT_EQ(blockstore_batch_commit(bs, NULL), AG_ECONFLICT);
    buf_release(&b);
    blockstore_free(bs);
}

/* A fetch callback over a second store, optionally lying. */
struct remote {
    struct blockstore *bs;
    bool lie;
    int calls;
};

static int fetch_cb(void *ctx, const struct cid *cid, struct buf *out, struct ag_err *e)
{
    struct remote *r = ctx;
    size_t n0 = out->n;
    int rc;
    r->calls++;
    rc = blockstore_get(r->bs, cid, out, e);
    if (!rc && r->lie && out->n > n0)
        out->p[n0] ^= 1;
    return rc;
}

TEST(blockstore_fetches_missing_blocks_and_checks_them)
{
    char local_dir[600], remote_dir[600];
    struct blockstore *local, *remote_bs;
    struct remote r = {0};
    struct cid a, b, absent;
    struct ag_err e = {0};
    struct buf got;
    static const char ab[] = "block a, only remote", bb[] = "block b, remote too";

    snprintf(local_dir, sizeof(local_dir), "%s/local", test_tmpdir());
    snprintf(remote_dir, sizeof(remote_dir), "%s/remote", test_tmpdir());
    ASSERT_OK(blockstore_open(&local, local_dir, NULL));
    ASSERT_OK(blockstore_open(&remote_bs, remote_dir, NULL));
    cid_hash(&a, 1, MC_RAW, ab, sizeof(ab));
    cid_hash(&b, 1, MC_RAW, bb, sizeof(bb));
    cid_hash(&absent, 1, MC_RAW, "nowhere", 7);
    ASSERT_OK(blockstore_put(remote_bs, &a, ab, sizeof(ab), NULL));
    ASSERT_OK(blockstore_put(remote_bs, &b, bb, sizeof(bb), NULL));
    buf_init(&got, 1 << 20);
    ASSERT_EQ(blockstore_get(local, &a, &got, NULL), AG_ENOTFOUND);
    r.bs = remote_bs;
    blockstore_set_fetch(local, fetch_cb, &r);
    ASSERT(blockstore_can_fetch(local));
    /* Fetched, returned and kept. */
    ASSERT_OK(blockstore_get(local, &a, &got, NULL));
    ASSERT_EQ(got.n, sizeof(ab));
    ASSERT(!memcmp(got.p, ab, sizeof(ab)));
    ASSERT_EQ(blockstore_has(local, &a, NULL), 1);
    ASSERT_EQ(r.calls, 1);
    buf_reset(&got);
    ASSERT_OK(blockstore_get(local, &a, &got, NULL));
    ASSERT_EQ(r.calls, 1);
    /* Bytes that do not hash to the CID are refused and not kept. */
    r.lie = true;
    buf_reset(&got);
    ASSERT_EQ(blockstore_get(local, &b, &got, &e), AG_ECORRUPT);
    ASSERT_EQ(got.n, 0);
    ASSERT_EQ(blockstore_has(local, &b, NULL), 0);
    /* Nowhere: not found, with the reason. */
    r.lie = false;
    ASSERT_EQ(blockstore_get(local, &absent, &got, &e), AG_ENOTFOUND);
    ASSERT(strstr(e.msg, "nor fetched") != NULL);
    buf_release(&got);
    blockstore_free(local);
    blockstore_free(remote_bs);
}

/* Two threads put into one batch at once, across automatic commits; some of
 * the blocks are 4 KiB-aligned whole pages (written O_DIRECT), some not. */
struct putter {
    struct blockstore *bs;
    int first, count, rc;
    uint8_t *pages; /* count pages of 8 KiB, 4 KiB-aligned */
};

static void *putter_main(void *arg)
{
    struct putter *p = arg;
    struct cid c;

    for (int i = 0; i < p->count && !p->rc; i++) {
        uint8_t *page = p->pages + (size_t)i * 8192;
        uint32_t v = (uint32_t)(p->first + i);
        memset(page, (int)(v & 0xff), 8192);
        memcpy(page, &v, sizeof(v));
        /* Odd blocks are one byte short of a page multiple: the buffered path. */
        size_t n = v % 2 ? 8191 : 8192;
        cid_hash(&c, 1, MC_RAW, page, n);
        p->rc = blockstore_put(p->bs, &c, page, n, NULL);
    }
    return NULL;
}

TEST(blockstore_batch_puts_from_two_threads)
{
    const char *dir = test_tmpdir();
    struct putter p[2];
    pthread_t t[2];
    struct blockstore *bs;
    struct buf b;
    int n = 0, per = BLOCKSTORE_BATCH_BLOCKS * 3 / 4;

    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    ASSERT_OK(blockstore_batch_begin(bs, NULL));
    for (int k = 0; k < 2; k++) {
        void *mem = NULL;
        ASSERT_OK(posix_memalign(&mem, 4096, (size_t)per * 8192));
        p[k] = (struct putter){bs, k * per, per, 0, mem};
        ASSERT_OK(pthread_create(&t[k], NULL, putter_main, &p[k]));
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(t[k], NULL);
        ASSERT_OK(p[k].rc);
    }
    ASSERT_OK(blockstore_batch_commit(bs, NULL));
    ASSERT_EQ(count_files(dir, ".tmp-"), 0);
    ASSERT_OK(blockstore_iterate(bs, count_cb, &n, NULL));
    ASSERT_EQ(n, 2 * per);
    /* Every block reads back whole and verified, direct or not. */
    buf_init(&b, 1 << 20);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < per; i += 37) {
            uint8_t *page = p[k].pages + (size_t)i * 8192;
            size_t len = (uint32_t)(p[k].first + i) % 2 ? 8191 : 8192;
            struct cid c;
            cid_hash(&c, 1, MC_RAW, page, len);
            buf_reset(&b);
            ASSERT_OK(blockstore_get(bs, &c, &b, NULL));
            ASSERT_EQ(b.n, len);
            ASSERT(!memcmp(b.p, page, len));
        }
        free(p[k].pages);
    }
    buf_release(&b);
    blockstore_free(bs);
}

/* Makes `path` with `n` bytes and an mtime `age` seconds ago. */
static void make_file(const char *path, size_t n, int64_t age)
{
    struct timespec ts[2];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ASSERT(fd >= 0);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(write(fd, "x", 1), 1);
    close(fd);
    ts[0].tv_sec = ts[1].tv_sec = (time_t)(time(NULL) - age);
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    ASSERT_OK(utimensat(AT_FDCWD, path, ts, 0));
}

TEST(blockstore_sweep_tmp_removes_only_stale_temporaries)
{
    const char *dir = test_tmpdir();
    char path[PATH_MAX], bpath[PATH_MAX], shard[PATH_MAX], outside[PATH_MAX];
    struct blockstore *bs;
    struct cid c, d;
    struct stat sb;
    uint64_t n = 99, bytes = 99;

    ASSERT_OK(blockstore_open(&bs, dir, NULL));
    cid_hash(&c, 1, MC_RAW, "kept block", 10);
    ASSERT_OK(blockstore_put(bs, &c, "kept block", 10, NULL));
    ASSERT_OK(blockstore_path(bs, &c, bpath, sizeof(bpath)));
    ASSERT((size_t)snprintf(shard, sizeof(shard), "%s", bpath) < sizeof(shard));
    *strrchr(shard, '/') = '\0';
    /* An old block is not a temporary file: gc's pin walk decides about it. */
    make_file(bpath, 10, 7200);
    ASSERT_OK(blockstore_sweep_tmp(bs, time(NULL) - 3600, false, &n, &bytes, NULL));
    ASSERT_EQ(n, 0);
    ASSERT_EQ(bytes, 0);
    /* Stale ones in a shard and at the top (SHARDING's write), a young one,
     * a directory and a symlink with the prefix, a near-miss name. */
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-old1", shard) < sizeof(path));
    make_file(path, 100, 7200);
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-old2", dir) < sizeof(path));
    make_file(path, 5, 3700);
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-young", shard) < sizeof(path));
    make_file(path, 7, 60);
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/tmp-old", shard) < sizeof(path));
    make_file(path, 3, 7200);
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-dir", shard) < sizeof(path));
    ASSERT_OK(mkdir(path, 0755));
    ASSERT((size_t)snprintf(outside, sizeof(outside), "%s/outside", dir) < sizeof(outside));
    make_file(outside, 1, 7200);
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-link", shard) < sizeof(path));
    ASSERT_OK(symlink(outside, path));
    ASSERT_EQ(count_files(dir, ".tmp-"), 5);
    /* A dry run counts and removes nothing. */
    ASSERT_OK(blockstore_sweep_tmp(bs, time(NULL) - 3600, true, &n, &bytes, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(bytes, 105);
    ASSERT_EQ(count_files(dir, ".tmp-"), 5);
    ASSERT_OK(blockstore_sweep_tmp(bs, time(NULL) - 3600, false, &n, &bytes, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(bytes, 105);
    ASSERT_EQ(count_files(dir, ".tmp-"), 3); /* young, dir, link */
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/.tmp-young", shard) < sizeof(path));
    ASSERT_OK(stat(path, &sb));
    ASSERT_OK(stat(outside, &sb));
    ASSERT((size_t)snprintf(path, sizeof(path), "%s/tmp-old", shard) < sizeof(path));
    ASSERT_OK(stat(path, &sb));
    ASSERT_EQ(blockstore_has(bs, &c, NULL), 1);
    /* A staged put's temporary file is young: a sweep during the batch leaves
     * it, and the commit still finds it. */
    ASSERT_OK(blockstore_batch_begin(bs, NULL));
    cid_hash(&d, 1, MC_RAW, "staged", 6);
    ASSERT_OK(blockstore_put(bs, &d, "staged", 6, NULL));
    ASSERT_OK(blockstore_sweep_tmp(bs, time(NULL) - 3600, false, &n, NULL, NULL));
    ASSERT_EQ(n, 0);
    ASSERT_OK(blockstore_batch_commit(bs, NULL));
    ASSERT_EQ(blockstore_has(bs, &d, NULL), 1);
    /* Swept with a zero grace mid-batch (a batch stalled past the grace),
     * the commit fails cleanly and the block is simply absent. */
    ASSERT_OK(blockstore_batch_begin(bs, NULL));
    cid_hash(&d, 1, MC_RAW, "stalled", 7);
    ASSERT_OK(blockstore_put(bs, &d, "stalled", 7, NULL));
    ASSERT_OK(blockstore_sweep_tmp(bs, time(NULL) + 1, false, &n, NULL, NULL));
    ASSERT_EQ(n, 2); /* it and the young one */
    ASSERT_EQ(blockstore_batch_commit(bs, NULL), AG_EIO);
    ASSERT_EQ(blockstore_has(bs, &d, NULL), 0);
    blockstore_free(bs);
}
