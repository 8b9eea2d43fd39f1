/* test_exporter.c - byte ranges read back through blocksizes; missing and corrupt blocks. */
#include "test.h"

#include "ipfs/dagpb.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"

static uint8_t data[40000];

static int put_cb(void *ctx, const struct cid *cid, const uint8_t *p, size_t n)
{
    return blockstore_put(ctx, cid, p, n, NULL);
}

static int sink_cb(void *ctx, const uint8_t *p, size_t n)
{
    return buf_add(ctx, p, n);
}

/* Imports `data` with 10-byte chunks (three tree levels) and returns the root. */
static struct blockstore *import(struct cid *root, int version, bool raw)
{
    struct blockstore *bs;
    struct importer_opts o;
    struct importer *im;
    uint32_t x = 12345;

    for (size_t i = 0; i < sizeof(data); i++) {
        x = x * 1103515245u + 12345u;   /* no two 10-byte leaves alike */
        data[i] = (uint8_t)(x >> 23);
    }
    ASSERT_OK(blockstore_open(&bs, test_tmpdir(), NULL));
    blockstore_set_sync(bs, false);
    importer_opts_default(&o);
    o.chunk_size = 10;
    o.cid_version = version;
    o.raw_leaves = raw;
    ASSERT_OK(importer_new(&im, &o, put_cb, bs, NULL));
    ASSERT_OK(importer_write(im, data, sizeof(data)));
    ASSERT_OK(importer_finish(im, root, NULL, NULL));
    importer_free(im);
    return bs;
}

static void check_range(struct blockstore *bs, const struct cid *root, uint64_t off, uint64_t len)
{
    struct buf b;
    size_t want = off >= sizeof(data) ? 0 : (size_t)MIN(len, sizeof(data) - off);

    buf_init(&b, 1 << 20);
    ASSERT_OK(exporter_read(bs, root, off, len, sink_cb, &b, NULL));
    ASSERT_EQ(b.n, want);
    ASSERT(!want || !memcmp(b.p, data + off, want));
    buf_release(&b);
}

TEST(exporter_ranges)
{
    struct cid root;
    uint64_t size;

    for (int v = 0; v <= 1; v++) {
        struct blockstore *bs = import(&root, v, v == 1);
        ASSERT_OK(exporter_size(bs, &root, &size, NULL));
        ASSERT_EQ(size, sizeof(data));
        check_range(bs, &root, 0, UINT64_MAX);
        check_range(bs, &root, 0, 1);
        check_range(bs, &root, 9, 2);
        check_range(bs, &root, 17390, 30);     /* across a level-1 boundary */
        check_range(bs, &root, 30275, 3);      /* across the level-2 boundary */
        check_range(bs, &root, 39999, 100);    /* clipped at the end */
        check_range(bs, &root, 40000, 5);      /* empty at the end */
        for (uint64_t off = 0; off < sizeof(data); off += 997)
            check_range(bs, &root, off, 1234);
        struct buf b;
        buf_init(&b, 1024);
        ASSERT_EQ(exporter_read(bs, &root, 40001, 1, sink_cb, &b, NULL), AG_EINVAL);
        buf_release(&b);
        blockstore_free(bs);
    }
}

TEST(exporter_skips_unneeded_leaves)
{
    /* Delete the first leaf: a range elsewhere still reads (it was never
     * fetched); a range over it fails with AG_ENOTFOUND. */
    struct cid root, leaf;
    struct buf b;
    struct blockstore *bs = import(&root, 1, true);

    cid_hash(&leaf, 1, MC_RAW, data, 10);
    ASSERT_OK(blockstore_delete(bs, &leaf, NULL));
    check_range(bs, &root, 20000, 5000);
    buf_init(&b, 1 << 20);
    ASSERT_EQ(exporter_read(bs, &root, 5, 10, sink_cb, &b, NULL), AG_ENOTFOUND);
    buf_release(&b);
    blockstore_free(bs);
}

TEST(exporter_corrupt_leaf_not_served)
{
    struct cid root, leaf;
    struct ag_err e = {0};
    struct buf b;
    struct blockstore *bs = import(&root, 1, true);
    uint8_t bad[10];

    /* Overwrite the block's file with other bytes of the same length. */
    cid_hash(&leaf, 1, MC_RAW, data + 20, 10);
    memset(bad, 0, sizeof(bad));
    ASSERT_OK(blockstore_delete(bs, &leaf, NULL));
    ASSERT_OK(blockstore_put(bs, &leaf, bad, sizeof(bad), NULL));
    buf_init(&b, 1 << 20);
    ASSERT_EQ(exporter_read(bs, &root, 0, 100, sink_cb, &b, &e), AG_ECORRUPT);
    ASSERT(b.n <= 20); /* only what came before the bad leaf */
    buf_release(&b);
    blockstore_free(bs);
}

static int count_walk(void *ctx, const struct cid *c, const uint8_t *p, size_t n)
{
    UNUSED(c), UNUSED(p), UNUSED(n);
    (*(int *)ctx)++;
    return 0;
}

TEST(exporter_walk_dedupes)
{
    /* 40000 bytes of one repeated 10-byte pattern: one distinct leaf. */
    struct blockstore *bs;
    struct importer_opts o;
    struct importer *im;
    struct cid root;
    int n = 0;

    ASSERT_OK(blockstore_open(&bs, test_tmpdir(), NULL));
    blockstore_set_sync(bs, false);
    importer_opts_default(&o);
    o.chunk_size = 10;
    ASSERT_OK(importer_new(&im, &o, put_cb, bs, NULL));
    for (int i = 0; i < 4000; i++)
        ASSERT_OK(importer_write(im, "0123456789", 10));
    ASSERT_OK(importer_finish(im, &root, NULL, NULL));
    importer_free(im);
    ASSERT_OK(dag_walk(bs, &root, count_walk, &n, NULL));
    /* 4000 equal leaves: 22 equal full parents and one of 172 leaves under a
     * root: root, full parent, partial parent, leaf. */
    ASSERT_EQ(n, 4);
    blockstore_free(bs);
}

/* Stores a parent over the given leaves with the given blocksizes/filesize. */
static void put_parent(struct blockstore *bs, struct cid *out, const struct cid *leaves,
                       size_t n, uint64_t *sizes, size_t nsizes, uint64_t filesize)
{
    struct pb_link links[4];
    struct unixfs u = {.type = UNIXFS_FILE, .has_filesize = true, .filesize = filesize};
    struct pb_node node = {0};
    struct buf ub, nb;

    memset(links, 0, sizeof(links));
    for (size_t i = 0; i < n; i++) {
        links[i].cid = leaves[i];
        links[i].has_name = true;
        links[i].name = (const uint8_t *)"";
    }
    u.blocksizes = sizes;
    u.nblocksizes = nsizes;
    buf_init(&ub, 4096);
    buf_init(&nb, 4096);
    ASSERT_OK(unixfs_encode(&u, &ub));
    node.links = links;
    node.nlinks = n;
    node.has_data = true;
    node.data = (const uint8_t *)ub.p;
    node.data_len = ub.n;
    ASSERT_OK(pb_node_encode(&node, &nb));
    cid_hash(out, 1, MC_DAG_PB, nb.p, nb.n);
    ASSERT_OK(blockstore_put(bs, out, nb.p, nb.n, NULL));
    buf_release(&ub);
    buf_release(&nb);
}

TEST(exporter_lying_sizes_are_corrupt)
{
    struct blockstore *bs;
    struct cid leaves[2], root;
    struct buf b;
    uint64_t ok[2] = {5, 5}, liar[2] = {5, 7}, wrap[2] = {UINT64_MAX, 11};

    ASSERT_OK(blockstore_open(&bs, test_tmpdir(), NULL));
    blockstore_set_sync(bs, false);
    cid_hash(&leaves[0], 1, MC_RAW, "hello", 5);
    cid_hash(&leaves[1], 1, MC_RAW, "world", 5);
    ASSERT_OK(blockstore_put(bs, &leaves[0], "hello", 5, NULL));
    ASSERT_OK(blockstore_put(bs, &leaves[1], "world", 5, NULL));
    buf_init(&b, 1024);
    put_parent(bs, &root, leaves, 2, ok, 2, 10);
    ASSERT_OK(exporter_read(bs, &root, 0, UINT64_MAX, sink_cb, &b, NULL));
    ASSERT_STR_EQ(b.p, "helloworld");
    /* A blocksize that does not match the leaf. */
    put_parent(bs, &root, leaves, 2, liar, 2, 12);
    buf_reset(&b);
    ASSERT_EQ(exporter_read(bs, &root, 0, UINT64_MAX, sink_cb, &b, NULL), AG_ECORRUPT);
    /* A filesize that does not match the blocksizes. */
    put_parent(bs, &root, leaves, 2, ok, 2, 11);
    ASSERT_EQ(exporter_read(bs, &root, 0, 3, sink_cb, &b, NULL), AG_ECORRUPT);
    /* Blocksizes whose sum overflows. */
    put_parent(bs, &root, leaves, 2, wrap, 2, 10);
    ASSERT_EQ(exporter_read(bs, &root, 0, 3, sink_cb, &b, NULL), AG_ECORRUPT);
    /* Fewer blocksizes than links. */
    put_parent(bs, &root, leaves, 2, ok, 1, 5);
    ASSERT_EQ(exporter_read(bs, &root, 0, 3, sink_cb, &b, NULL), AG_ECORRUPT);
    buf_release(&b);
    blockstore_free(bs);
}

/* cursor_check() reads [off, off+len) through the cursor and compares. */
static void cursor_check(struct exporter_cursor *cur, uint64_t off, size_t len)
{
    static uint8_t out[4096];
    size_t want = off >= sizeof(data) ? 0 : (size_t)MIN((uint64_t)len, sizeof(data) - off), n = 0;
    ASSERT(len <= sizeof(out));
    ASSERT_OK(exporter_cursor_read(cur, off, out, len, &n, NULL));
    ASSERT_EQ(n, want);
    ASSERT(!want || !memcmp(out, data + off, want));
}

TEST(exporter_cursor_reads_anywhere)
{
    struct exporter_cursor *cur = NULL;
    struct cid root;
    uint8_t one;
    size_t n;
    const uint8_t *p;

    for (int v = 0; v <= 1; v++) {
        struct blockstore *bs = import(&root, v, v == 1);
        uint32_t x = 7;
        ASSERT_OK(exporter_cursor_open(&cur, bs, &root, NULL));
        ASSERT_EQ(exporter_cursor_size(cur), sizeof(data));
        /* Forwards in odd steps, across every leaf and level boundary. */
        for (uint64_t off = 0; off < sizeof(data); off += 333)
            cursor_check(cur, off, 333);
        /* Backwards, and random jumps. */
        for (uint64_t off = sizeof(data); off >= 1000; off -= 1000)
            cursor_check(cur, off - 1000, 77);
        for (int i = 0; i < 500; i++) {
            x = x * 1103515245u + 12345u;
            cursor_check(cur, (x >> 8) % (sizeof(data) + 1), 1 + (x & 1023));
        }
        cursor_check(cur, 17390, 30);   /* across a level-1 boundary */
        cursor_check(cur, 30275, 3);    /* across the level-2 boundary */
        cursor_check(cur, 39999, 100);  /* clipped at the end */
        ASSERT_OK(exporter_cursor_peek(cur, sizeof(data), &p, &n, NULL));
        ASSERT_EQ(n, 0);
        ASSERT_EQ(exporter_cursor_read(cur, sizeof(data) + 1, &one, 1, &n, NULL), AG_EINVAL);
        ASSERT_OK(exporter_cursor_peek(cur, 12345, &p, &n, NULL));
        ASSERT(n >= 1 && n <= 10 && p[0] == data[12345]);
        exporter_cursor_free(cur);
        blockstore_free(bs);
    }
}

TEST(exporter_cursor_corrupt_and_missing)
{
    struct exporter_cursor *cur = NULL;
    struct cid root, leaf;
    uint8_t bad[10], out[100];
    size_t n = 0;
    struct blockstore *bs = import(&root, 1, true);

    memset(bad, 0, sizeof(bad));
    cid_hash(&leaf, 1, MC_RAW, data + 20, 10);
    ASSERT_OK(blockstore_delete(bs, &leaf, NULL));
    ASSERT_OK(blockstore_put(bs, &leaf, bad, sizeof(bad), NULL));
    cid_hash(&leaf, 1, MC_RAW, data + 5000, 10);
    ASSERT_OK(blockstore_delete(bs, &leaf, NULL));
    ASSERT_OK(exporter_cursor_open(&cur, bs, &root, NULL));
    ASSERT_EQ(exporter_cursor_read(cur, 0, out, sizeof(out), &n, NULL), AG_ECORRUPT);
    ASSERT_EQ(n, 20); /* what came before the bad leaf */
    ASSERT_EQ(exporter_cursor_read(cur, 4995, out, 10, &n, NULL), AG_ENOTFOUND);
    cursor_check(cur, 30000, 100); /* elsewhere still reads */
    exporter_cursor_free(cur);
    blockstore_free(bs);
}
