/* test_importer.c - the streaming importer: known roots, chunking, tree shape, streaming. */
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipfs/dagpb.h"
#include "core/util.h"
#include "ipfs/importer.h"

struct collect {
    struct cid cids[8192];
    size_t sizes[8192];
    uint8_t codec[8192];
    size_t n;
    int fail_at;   /* fail the put with AG_EIO when n reaches it (0: never) */
};

static int collect_put(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct collect *c = ctx;

    if (c->fail_at && (int)c->n + 1 == c->fail_at)
        return AG_EIO;
    ASSERT(c->n < ARRAY_SIZE(c->cids));
    ASSERT_OK(cid_verify(cid, data, len));
    /* A parent arrives only after every block it links to. */
    if (cid->codec == MC_DAG_PB) {
        struct pb_node n;
        ASSERT_OK(pb_node_decode(&n, data, len, NULL));
        for (size_t i = 0; i < n.nlinks; i++) {
            bool seen = false;
            for (size_t k = 0; k < c->n && !seen; k++)
                seen = cid_equal(&c->cids[k], &n.links[i].cid);
            ASSERT(seen);
        }
        pb_node_release(&n);
    }
    c->cids[c->n] = *cid;
    c->sizes[c->n] = len;
    c->codec[c->n] = (uint8_t)cid->codec;
    c->n++;
    return 0;
}

static const char *add_bytes(const struct importer_opts *o, const void *p, size_t n,
                             size_t piece, struct collect *col)
{
    static char s[CID_MAX_STR];
    struct importer *im;
    struct cid root;
    uint64_t fsize = 0, dsize = 0;

    ASSERT_OK(importer_new(&im, o, col ? collect_put : NULL, col, NULL));
    for (size_t i = 0; i < n; i += piece)
        ASSERT_OK(importer_write(im, (const uint8_t *)p + i, MIN(piece, n - i)));
    ASSERT_OK(importer_finish(im, &root, &fsize, &dsize));
    ASSERT_EQ(fsize, n);
    ASSERT(dsize >= n);
    importer_free(im);
    ASSERT_OK(cid_format(&root, s, sizeof(s)));
    return s;
}

TEST(importer_known_roots)
{
    struct importer_opts o;

    importer_opts_default(&o);
    ASSERT_STR_EQ(add_bytes(&o, "", 0, 1, NULL),
                  "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    ASSERT_STR_EQ(add_bytes(&o, "hello world\n", 12, 5, NULL),
                  "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
    o.cid_version = 0;
    o.raw_leaves = false;
    ASSERT_STR_EQ(add_bytes(&o, "", 0, 1, NULL), "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
    ASSERT_STR_EQ(add_bytes(&o, "hello world\n", 12, 12, NULL),
                  "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
}

TEST(importer_piece_size_does_not_matter)
{
    static uint8_t data[300000];
    struct importer_opts o;
    char first[CID_MAX_STR];
    static const size_t pieces[] = {1, 7, 999, 4096, 65536, 300000};

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    importer_opts_default(&o);
    o.chunk_size = 1000;
    for (int threads = 1; threads <= 2; threads++) {
        o.threads = threads;
        for (size_t k = 0; k < ARRAY_SIZE(pieces); k++) {
            const char *s = add_bytes(&o, data, sizeof(data), pieces[k], NULL);
            if (threads == 1 && k == 0)
                str_copy(first, s, sizeof(first));
            else
                ASSERT_STR_EQ(s, first);
        }
    }
}

TEST(importer_balanced_shape)
{
    /* 175 one-byte chunks with 174 links: a root with two children, the
     * second a parent of one leaf; every block handed over once, leaves first. */
    static uint8_t data[175];
    static struct collect col;
    struct importer_opts o;
    size_t parents = 0;

    memset(&col, 0, sizeof(col));
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    importer_opts_default(&o);
    o.chunk_size = 1;
    add_bytes(&o, data, sizeof(data), 175, &col);
    ASSERT_EQ(col.n, 175 + 3);
    for (size_t i = 0; i < col.n; i++)
        parents += col.codec[i] == MC_DAG_PB;
    ASSERT_EQ(parents, 3);
    ASSERT_EQ(col.codec[174], MC_DAG_PB);       /* first parent right after leaf 174 */
    ASSERT_EQ(col.codec[col.n - 1], MC_DAG_PB); /* root last */
}

TEST(importer_parent_sizes)
{
    /* Tsize of a parent = its block + the Tsizes of its links; blocksizes are
     * the file bytes under each link. Checked on a 2-level tree. */
    static uint8_t data[100 * 174 + 50];
    static struct collect col;
    struct importer_opts o;
    struct importer *im;
    struct cid root;
    uint64_t fsize, dsize, total = 0;

    memset(&col, 0, sizeof(col));
    memset(data, 'x', sizeof(data));
    importer_opts_default(&o);
    o.chunk_size = 100;
    ASSERT_OK(importer_new(&im, &o, collect_put, &col, NULL));
    ASSERT_OK(importer_write(im, data, sizeof(data)));
    ASSERT_OK(importer_finish(im, &root, &fsize, &dsize));
    importer_free(im);
    for (size_t i = 0; i < col.n; i++)
        total += col.sizes[i];
    /* All 174 full leaves are the same block, but Tsize counts each link. */
    ASSERT_EQ(fsize, sizeof(data));
    ASSERT_EQ(dsize, total);
    ASSERT(cid_equal(&col.cids[col.n - 1], &root));
}

TEST(importer_put_error_stops)
{
    static uint8_t data[5000];
    static struct collect col;
    struct importer_opts o;
    struct importer *im;
    struct cid root;
    int rc;

    memset(&col, 0, sizeof(col));
    col.fail_at = 3;
    importer_opts_default(&o);
    o.chunk_size = 100;
    ASSERT_OK(importer_new(&im, &o, collect_put, &col, NULL));
    rc = importer_write(im, data, sizeof(data));
    if (rc == 0)
        rc = importer_finish(im, &root, NULL, NULL);
    ASSERT_EQ(rc, AG_EIO);
    importer_free(im);
}

TEST(importer_rejects_bad_options)
{
    struct importer_opts o;
    struct importer *im = NULL;
    struct ag_err e = {0};
    size_t cs = 0;

    importer_opts_default(&o);
    o.cid_version = 2;
    ASSERT_EQ(importer_new(&im, &o, NULL, NULL, &e), AG_EINVAL);
    importer_opts_default(&o);
    o.chunk_size = 0;
    ASSERT_EQ(importer_new(&im, &o, NULL, NULL, &e), AG_EINVAL);
    o.chunk_size = IMPORTER_MAX_CHUNK + 1;
    ASSERT_EQ(importer_new(&im, &o, NULL, NULL, &e), AG_EINVAL);
    ASSERT(im == NULL);
    ASSERT_OK(importer_parse_chunker("size-1024", &cs, NULL));
    ASSERT_EQ(cs, 1024);
    ASSERT_EQ(importer_parse_chunker("size-0", &cs, NULL), AG_EINVAL);
    ASSERT_EQ(importer_parse_chunker("size-", &cs, NULL), AG_EINVAL);
    ASSERT_EQ(importer_parse_chunker("rabin", &cs, NULL), AG_EINVAL);
    ASSERT_EQ(importer_parse_chunker("size-1048577", &cs, NULL), AG_EINVAL);
    ASSERT_EQ(importer_parse_chunker("size-12x", &cs, &e), AG_EINVAL);
    ASSERT(e.msg[0]);
}

/* Imports from an fd; returns the root as text. */
static const char *add_fd(const struct importer_opts *o, int fd)
{
    static char s[CID_MAX_STR];
    struct importer *im;
    struct cid root;

    ASSERT_OK(importer_new(&im, o, NULL, NULL, NULL));
    ASSERT_OK(importer_add_fd(im, fd, NULL));
    ASSERT_OK(importer_finish(im, &root, NULL, NULL));
    importer_free(im);
    ASSERT_OK(cid_format(&root, s, sizeof(s)));
    return s;
}

TEST(importer_fd_file_pipe_and_offset)
{
    /* A regular file (pread by the hashing threads), the same bytes through a
     * pipe (read in batches) and in memory give one root; a file whose
     * offset is not 0 is imported from that offset, as read() would. */
    static uint8_t data[(5 << 20) + 123];
    struct importer_opts o;
    char path[PATH_MAX], want[CID_MAX_STR];
    int fd, pfd[2], st;
    pid_t pid;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 2654435761u >> 11);
    importer_opts_default(&o);
    o.chunk_size = 100000;
    snprintf(path, sizeof(path), "%s/f", test_tmpdir());
    fd = open(path, O_RDWR | O_CREAT, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, data, sizeof(data)), sizeof(data));
    str_copy(want, add_bytes(&o, data, sizeof(data), sizeof(data), NULL), sizeof(want));
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ASSERT_STR_EQ(add_fd(&o, fd), want);
    ASSERT_EQ(lseek(fd, 1000, SEEK_SET), 1000);
    str_copy(want, add_bytes(&o, data + 1000, sizeof(data) - 1000, 4096, NULL), sizeof(want));
    ASSERT_STR_EQ(add_fd(&o, fd), want);
    close(fd);
    ASSERT_EQ(pipe(pfd), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        for (size_t off = 0; off < sizeof(data);) {
            ssize_t w = write(pfd[1], data + off, MIN((size_t)70000, sizeof(data) - off));
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(pfd[1]);
    str_copy(want, add_bytes(&o, data, sizeof(data), sizeof(data), NULL), sizeof(want));
    ASSERT_STR_EQ(add_fd(&o, pfd[0]), want);
    close(pfd[0]);
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* parallel_put: leaves put from both hashing threads (in any order, under a
 * lock here) give the same root and the same set of blocks, a parent still
 * after its children, through importer_write() and a regular file alike. */
struct locked_collect {
    pthread_mutex_t lock;
    struct collect c;
    int fail_at;
};

static int locked_put(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct locked_collect *l = ctx;
    int rc;

    pthread_mutex_lock(&l->lock);
    rc = l->fail_at && (int)l->c.n + 1 >= l->fail_at ? AG_EIO
                                                    : collect_put(&l->c, cid, data, len);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

static int cmp_cid(const void *a, const void *b)
{
    const struct cid *x = a, *y = b;
    int d = memcmp(x->digest, y->digest, 32);
    return d ? d : (int)x->codec - (int)y->codec;
}

TEST(importer_parallel_put_same_dag)
{
    static struct collect seq;
    static struct locked_collect par = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct importer_opts o;
    struct importer *im;
    struct cid root, root2;
    struct ag_err e = {0};
    char path[PATH_MAX], s1[CID_MAX_STR];
    size_t n = 5 * 1000 * 1000 + 17;
    uint8_t *data = malloc(n);
    int fd;

    ASSERT(data != NULL);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    importer_opts_default(&o);
    o.chunk_size = 65536;
    o.max_links = 11; /* a few levels */
    str_copy(s1, add_bytes(&o, data, n, 100000, &seq), sizeof(s1));
    o.parallel_put = true;
    o.threads = IMPORTER_PUT_THREADS; /* several helpers, as `agora ipfs add` runs */
    /* Through importer_write(), in odd pieces. */
    ASSERT_OK(cid_parse(&root2, s1, NULL));
    ASSERT_OK(importer_new(&im, &o, locked_put, &par, NULL));
    for (size_t i = 0; i < n; i += 77777)
        ASSERT_OK(importer_write(im, data + i, MIN((size_t)77777, n - i)));
    ASSERT_OK(importer_finish(im, &root, NULL, NULL));
    importer_free(im);
    ASSERT(cid_equal(&root, &root2));
    ASSERT_EQ(par.c.n, seq.n);
    qsort(seq.cids, seq.n, sizeof(seq.cids[0]), cmp_cid);
    qsort(par.c.cids, par.c.n, sizeof(par.c.cids[0]), cmp_cid);
    for (size_t i = 0; i < seq.n; i++)
        ASSERT(cid_equal(&seq.cids[i], &par.c.cids[i]));
    /* Through a regular file (each thread reads and puts its own chunks). */
    snprintf(path, sizeof(path), "%s/f.bin", test_tmpdir());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, data, n), (ssize_t)n);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    par.c.n = 0;
    ASSERT_OK(importer_new(&im, &o, locked_put, &par, NULL));
    ASSERT_OK(importer_add_fd(im, fd, &e));
    ASSERT_OK(importer_finish(im, &root, NULL, NULL));
    importer_free(im);
    ASSERT(cid_equal(&root, &root2));
    ASSERT_EQ(par.c.n, seq.n);
    /* A put failing in a hashing thread stops the import with its error. */
    par.c.n = 0;
    par.fail_at = 10;
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    ASSERT_OK(importer_new(&im, &o, locked_put, &par, NULL));
    ASSERT_EQ(importer_add_fd(im, fd, &e), AG_EIO);
    importer_free(im);
    ASSERT(par.c.n < seq.n);
    close(fd);
    free(data);
}
