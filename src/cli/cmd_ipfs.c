/* cmd_ipfs.c - `agora ipfs`: add, cat, get, verify and CAR export/import on the local blockstore. */
#include "core/common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/util.h"
#include "ipfs/blockstore.h"
#include "ipfs/car.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"

const char cmd_ipfs_usage[] =
    "usage: agora ipfs add [--only-hash] [--cid-version 0|1] [--chunker size-N]\n"
    "                      [--raw-leaves=true|false] [--data-dir DIR] FILE\n"
    "       agora ipfs cat CID [--offset N] [--length N] [--data-dir DIR]\n"
    "       agora ipfs get CID -o FILE [--data-dir DIR]\n"
    "       agora ipfs verify [CID] [--data-dir DIR]\n"
    "       agora ipfs car export CID -o FILE.car [--data-dir DIR]\n"
    "       agora ipfs car import FILE.car [--data-dir DIR]\n"
    "add prints the root CID exactly as `ipfs add -Q` does with the same options\n"
    "(defaults: CIDv1, 256 KiB chunks, raw leaves, balanced layout, 174 links).\n"
    "Blocks live in DATA_DIR/blocks; DATA_DIR is --data-dir, $AGORA_DATA_DIR or ./data.";

/* open_part() creates OUT.part (its name in `tmp`), where output is written
 * before being renamed into place; 0, AG_ETOOBIG or AG_EIO. */
static int open_part(const char *out, char *tmp, size_t size, FILE **f, struct ag_err *e)
{
    if ((size_t)snprintf(tmp, size, "%s.part", out) >= size)
        return ag_errf(e, AG_ETOOBIG, "output", "output path too long");
    *f = fopen(tmp, "wb");
    if (!*f)
        return ag_errf(e, AG_EIO, "output", "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "%s\n", cmd_ipfs_usage);
    return EXIT_USAGE;
}

static int fail(const struct ag_err *e, int rc)
{
    fprintf(stderr, "agora ipfs: %s\n", e->code ? e->msg : ag_strerror(rc));
    return EXIT_ERR;
}

/* Common options: the data dir, -o, --offset/--length; the rest is positional. */
struct opts {
    const char *data_dir, *out;
    const char *pos[4];
    int npos;
    uint64_t offset, length;
};

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if not this option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *bad)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc) {
        *bad = true;
        return NULL;
    }
    return argv[++*i];
}

static int open_store(const struct opts *o, struct blockstore **bs, struct ag_err *e)
{
    const char *dd = o->data_dir ? o->data_dir : getenv("AGORA_DATA_DIR");
    char path[PATH_MAX];

    if (!dd || !*dd)
        dd = "./data";
    if ((size_t)snprintf(path, sizeof(path), "%s/blocks", dd) >= sizeof(path))
        return ag_errf(e, AG_ETOOBIG, "data-dir", "data directory path too long");
    return blockstore_open(bs, path, e);
}

/* Leaves are put from the importer's two hashing threads at once
 * (parallel_put): the first error is kept under a lock. */
struct put_ctx {
    struct blockstore *bs;
    struct ag_err *e;
    pthread_mutex_t lock;
};

static int put_block(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct put_ctx *p = ctx;
    struct ag_err e = {0};
    int rc = blockstore_put(p->bs, cid, data, len, &e);

    if (rc) {
        pthread_mutex_lock(&p->lock);
        if (!p->e->code)
            *p->e = e;
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0")) {
        *out = false;
        return 0;
    }
    return AG_EINVAL;
}

static int do_add(int argc, char **argv)
{
    struct importer_opts io;
    struct importer *im = NULL;
    struct blockstore *bs = NULL;
    struct ag_err e = {0};
    struct put_ctx pc = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct opts o = {0};
    struct cid root;
    char s[CID_MAX_STR];
    bool only_hash = false, raw_set = false, raw = true, bad = false;
    const char *v, *file = NULL;
    int fd = -1, rc = 0, ret = EXIT_ERR, ver = 1;

    importer_opts_default(&io);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only-hash") || !strcmp(argv[i], "-n")) {
            only_hash = true;
        } else if (!strcmp(argv[i], "-Q") || !strcmp(argv[i], "--quieter")) {
            /* the only output there is */
        } else if (!strcmp(argv[i], "--raw-leaves")) {
            raw_set = raw = true;
        } else if (!strncmp(argv[i], "--raw-leaves=", 13)) {
            if (parse_bool(argv[i] + 13, &raw)) {
                fprintf(stderr, "agora ipfs: --raw-leaves takes true or false\n");
                return EXIT_USAGE;
            }
            raw_set = true;
        } else if ((v = opt_value(argc, argv, &i, "--cid-version", &bad))) {
            if (strcmp(v, "0") && strcmp(v, "1")) {
                fprintf(stderr, "agora ipfs: --cid-version must be 0 or 1\n");
                return EXIT_USAGE;
            }
            ver = v[0] - '0';
        } else if ((v = opt_value(argc, argv, &i, "--chunker", &bad))) {
            if (importer_parse_chunker(v, &io.chunk_size, &e)) {
                fprintf(stderr, "agora ipfs: %s\n", e.msg);
                return EXIT_USAGE;
            }
        } else if ((v = opt_value(argc, argv, &i, "--data-dir", &bad))) {
            o.data_dir = v;
        } else if (bad || (argv[i][0] == '-' && argv[i][1]) || file) {
            return usage();
        } else {
            file = argv[i];
        }
    }
    if (!file)
        return usage();
    /* Kubo: raw leaves default on with CIDv1, off with CIDv0. */
    io.cid_version = ver;
    io.raw_leaves = raw_set ? raw : ver == 1;
    fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : dup(0);
    if (fd < 0) {
        fprintf(stderr, "agora ipfs: cannot open %s: %s\n", file, strerror(errno));
        goto out;
    }
    if (!only_hash) {
        rc = open_store(&o, &bs, &e);
        if (!rc)
            rc = blockstore_batch_begin(bs, &e);
        if (rc)
            goto out;
    }
    pc.bs = bs;
    pc.e = &e;
    /* Leaves are put by the hashing threads, each write waiting for the
     * disk (O_DIRECT): more threads than cores keep both busy. */
    io.parallel_put = true;
    if (!only_hash)
        io.threads = IMPORTER_PUT_THREADS;
    rc = importer_new(&im, &io, only_hash ? NULL : put_block, &pc, &e);
    if (!rc)
        rc = importer_add_fd(im, fd, &e);
    if (!rc)
        rc = importer_finish(im, &root, NULL, NULL);
    if (!rc && bs)
        rc = blockstore_batch_commit(bs, &e);
    if (!rc)
        rc = cid_format(&root, s, sizeof(s));
    if (rc)
        goto out;
    printf("%s\n", s);
    ret = EXIT_OK;
out:
    if (rc && !e.code)
        ag_errf(&e, rc, NULL, "add failed: %s", ag_strerror(rc));
    if (rc)
        fail(&e, rc);
    if (fd >= 0)
        close(fd);
    importer_free(im);
    blockstore_free(bs);
    return ret;
}

/* Parses the options of cat/get/verify/car; positional arguments go to o->pos. */
static int parse_common(int argc, char **argv, struct opts *o)
{
    bool bad = false;
    const char *v;

    o->length = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        if ((v = opt_value(argc, argv, &i, "--data-dir", &bad))) {
            o->data_dir = v;
        } else if ((v = opt_value(argc, argv, &i, "-o", &bad)) ||
                   (v = opt_value(argc, argv, &i, "--output", &bad))) {
            o->out = v;
        } else if ((v = opt_value(argc, argv, &i, "--offset", &bad))) {
            if (parse_u64(v, &o->offset))
                return AG_EINVAL;
        } else if ((v = opt_value(argc, argv, &i, "--length", &bad))) {
            if (parse_u64(v, &o->length))
                return AG_EINVAL;
        } else if (bad || (argv[i][0] == '-' && argv[i][1]) ||
                   o->npos == (int)ARRAY_SIZE(o->pos)) {
            return AG_EINVAL;
        } else {
            o->pos[o->npos++] = argv[i];
        }
    }
    return bad ? AG_EINVAL : 0;
}

static int write_out(void *ctx, const uint8_t *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : AG_EIO;
}

static int do_cat(int argc, char **argv)
{
    struct blockstore *bs = NULL;
    struct ag_err e = {0};
    struct opts o = {0};
    struct cid c;
    int rc;

    if (parse_common(argc, argv, &o) || o.npos != 1 || o.out)
        return usage();
    rc = cid_parse(&c, o.pos[0], &e);
    if (!rc)
        rc = open_store(&o, &bs, &e);
    if (!rc)
        rc = exporter_read(bs, &c, o.offset, o.length, write_out, stdout, &e);
    if (!rc && fflush(stdout))
        rc = ag_errf(&e, AG_EIO, NULL, "cannot write to standard output: %s", strerror(errno));
    blockstore_free(bs);
    return rc ? fail(&e, rc) : EXIT_OK;
}

static int do_get(int argc, char **argv)
{
    struct blockstore *bs = NULL;
    struct ag_err e = {0};
    struct opts o = {0};
    char tmp[PATH_MAX];
    FILE *f = NULL;
    struct cid c;
    int rc;

    if (parse_common(argc, argv, &o) || o.npos != 1 || !o.out)
        return usage();
    rc = cid_parse(&c, o.pos[0], &e);
    if (!rc)
        rc = open_store(&o, &bs, &e);
    if (rc)
        goto out;
    if ((rc = open_part(o.out, tmp, sizeof(tmp), &f, &e)))
        goto out;
    rc = exporter_read(bs, &c, 0, UINT64_MAX, write_out, f, &e);
    if (rc == AG_EIO && e.code != AG_EIO)
        ag_errf(&e, rc, "output", "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && (fflush(f) || fsync(fileno(f))))
        rc = ag_errf(&e, AG_EIO, "output", "cannot write %s: %s", tmp, strerror(errno));
    if (fclose(f) && !rc)
        rc = ag_errf(&e, AG_EIO, "output", "cannot write %s: %s", tmp, strerror(errno));
    f = NULL;
    if (!rc && rename(tmp, o.out))
        rc = ag_errf(&e, AG_EIO, "output", "cannot rename to %s: %s", o.out, strerror(errno));
    if (rc)
        unlink(tmp);
out:
    blockstore_free(bs);
    return rc ? fail(&e, rc) : EXIT_OK;
}

struct verify_ctx {
    struct blockstore *bs;
    struct buf b;
    uint64_t ok, bad;
    int err;
};

static int verify_one(void *ctx, const struct cid *c)
{
    struct verify_ctx *v = ctx;
    struct ag_err e = {0};
    int rc;

    buf_reset(&v->b);
    rc = blockstore_get(v->bs, c, &v->b, &e);
    if (rc == 0) {
        v->ok++;
    } else if (rc == AG_ECORRUPT) {
        v->bad++;
        printf("%s\n", e.msg);
    } else {
        v->bad++;
        fprintf(stderr, "agora ipfs: %s\n", e.msg);
    }
    return 0;
}

static int verify_walked(void *ctx, const struct cid *c, const uint8_t *p, size_t n)
{
    struct verify_ctx *v = ctx;

    UNUSED(c), UNUSED(p), UNUSED(n);
    v->ok++;
    return 0;
}

static int do_verify(int argc, char **argv)
{
    struct verify_ctx v = {0};
    struct ag_err e = {0};
    struct opts o = {0};
    struct cid c;
    int rc;

    if (parse_common(argc, argv, &o) || o.npos > 1 || o.out)
        return usage();
    buf_init(&v.b, BLOCKSTORE_MAX_BLOCK);
    rc = o.npos ? cid_parse(&c, o.pos[0], &e) : 0;
    if (!rc)
        rc = open_store(&o, &v.bs, &e);
    if (rc)
        goto out;
    blockstore_set_verify(v.bs, true);
    if (o.npos) {
        /* Every block of one DAG: present and hashing to its CID. */
        rc = dag_walk(v.bs, &c, verify_walked, &v, &e);
        if (!rc)
            printf("%" PRIu64 " blocks verified\n", v.ok);
    } else {
        rc = blockstore_iterate(v.bs, verify_one, &v, &e);
        if (!rc)
            printf("%" PRIu64 " blocks ok, %" PRIu64 " bad\n", v.ok, v.bad);
        if (!rc && v.bad)
            rc = ag_errf(&e, AG_ECORRUPT, NULL, "%" PRIu64 " blocks failed verification", v.bad);
    }
out:
    buf_release(&v.b);
    blockstore_free(v.bs);
    return rc ? fail(&e, rc) : EXIT_OK;
}

static int do_car(int argc, char **argv)
{
    struct blockstore *bs = NULL;
    struct car_reader r;
    struct ag_err e = {0};
    struct opts o = {0};
    char tmp[PATH_MAX], s[CID_MAX_STR];
    uint64_t n = 0;
    FILE *f = NULL;
    struct cid c;
    int rc;

    if (argc < 2 || parse_common(argc - 1, argv + 1, &o) || o.npos != 1)
        return usage();
    if (!strcmp(argv[1], "export")) {
        if (!o.out)
            return usage();
        rc = cid_parse(&c, o.pos[0], &e);
        if (!rc)
            rc = open_store(&o, &bs, &e);
        if (rc)
            goto out;
        if ((rc = open_part(o.out, tmp, sizeof(tmp), &f, &e)))
            goto out;
        rc = car_export(bs, &c, f, &e);
        if ((fflush(f) || fsync(fileno(f))) && !rc)
            rc = ag_errf(&e, AG_EIO, "output", "cannot write %s: %s", tmp, strerror(errno));
        if (fclose(f) && !rc)
            rc = ag_errf(&e, AG_EIO, "output", "cannot write %s: %s", tmp, strerror(errno));
        if (!rc && rename(tmp, o.out))
            rc = ag_errf(&e, AG_EIO, "output", "cannot rename to %s: %s", o.out, strerror(errno));
        if (rc)
            unlink(tmp);
    } else if (!strcmp(argv[1], "import")) {
        if (o.out)
            return usage();
        f = fopen(o.pos[0], "rb");
        if (!f) {
            rc = ag_errf(&e, AG_EIO, "file", "cannot open %s: %s", o.pos[0], strerror(errno));
            goto out;
        }
        rc = open_store(&o, &bs, &e);
        if (!rc)
            rc = car_import(bs, f, &r, &n, &e);
        fclose(f);
        for (size_t i = 0; !rc && i < r.nroots; i++)
            if (!cid_format(&r.roots[i], s, sizeof(s)))
                printf("root %s\n", s);
        if (!rc)
            printf("%" PRIu64 " blocks imported\n", n);
    } else {
        return usage();
    }
out:
    blockstore_free(bs);
    return rc ? fail(&e, rc) : EXIT_OK;
}

/* Like cli_wants_help(), kept local so the ipfs test binary needs no cli.c. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

int cmd_ipfs(int argc, char **argv)
{
    if (argc < 2 || wants_help(argc, argv))
        return usage();
    if (!strcmp(argv[1], "add"))
        return do_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cat"))
        return do_cat(argc - 1, argv + 1);
    if (!strcmp(argv[1], "get"))
        return do_get(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify"))
        return do_verify(argc - 1, argv + 1);
    if (!strcmp(argv[1], "car"))
        return do_car(argc - 1, argv + 1);
    return usage();
}
