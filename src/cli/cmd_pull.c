/* cmd_pull.c - `agora pull OWNER/SLUG[@VERSION] [-o DIR]`: verified, streamed downloads.
 *
 * Each file of the version is streamed into a temporary file in DIR while
 * every byte goes through SHA-256 and, for files stored in clear, through
 * the UnixFS importer (hash only) so the root CID is recomputed; only when
 * size, sha256 and CID all match is the temporary file fsynced and renamed
 * into place. A paid file is stored encrypted: its CID covers the
 * ciphertext, so the plaintext is checked against its sha256 alone.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "ipfs/importer.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_pull_usage[] =
    "usage: agora pull OWNER/SLUG[@VERSION] [-o DIR] [--json]\n"
    "Downloads every file of VERSION (default: the latest published one) into DIR\n"
    "(default: .), verifying each byte against the file's sha256 and its CID\n"
    "(recomputed with the importer) before it is renamed into place.";

struct pull_file {
    const char *name;
    uint64_t size, got;
    int fd;
    EVP_MD_CTX *md;
    struct importer *im;
    struct progress prog;
    const char *cmd;
};

static int on_bytes(const void *p, size_t n, void *ctx)
{
    struct pull_file *f = ctx;
    const char *c = p;
    if (f->got + n > f->size) {
        cli_fail(f->cmd, "%s: the node sent more than the %" PRIu64 " bytes announced", f->name,
                 f->size);
        return -1;
    }
    EVP_DigestUpdate(f->md, p, n);
    if (f->im && importer_write(f->im, p, n)) {
        cli_fail(f->cmd, "%s: hashing failed", f->name);
        return -1;
    }
    while (n) {
        ssize_t k = write(f->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            cli_fail(f->cmd, "%s: cannot write: %s", f->name, strerror(errno));
            return -1;
        }
        c += k;
        n -= (size_t)k;
        f->got += (uint64_t)k;
    }
    progress_update(&f->prog, f->got);
    return 0;
}

/* safe_name() accepts what the node accepts (one path segment, no leading
 * dot, no control characters): a hostile node cannot write outside DIR. */
static bool safe_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 255 || s[0] == '.' || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == '\\' || s[i] == 0x7f)
            return false;
    return true;
}

static int pull_one(struct client *c, const char *dir, const char *vpath, json_t *file,
                    bool as_json)
{
    const char *name = json_string_value(json_object_get(file, "name"));
    const char *cid = json_string_value(json_object_get(file, "cid"));
    const char *sha = json_string_value(json_object_get(file, "sha256"));
    struct pull_file f = {.name = name, .fd = -1, .cmd = c->cmd};
    struct importer_opts io;
    struct client_stream s;
    char tmp[PATH_MAX], final[PATH_MAX], mycid[CID_MAX_STR] = "", mysha[65];
    struct buf path;
    uint8_t d[32];
    bool clear;
    int rc = 0;

    memset(&s, 0, sizeof(s));
    buf_init(&path, 2048);
    if (!name || !safe_name(name))
        return cli_fail(c->cmd, "the node listed a file with an unsafe name; skipping it");
    if (!cid || !sha) {
        fprintf(stderr, "agora pull: %s has no content yet; skipping it\n", name);
        return 0;
    }
    f.size = (uint64_t)json_integer_value(json_object_get(file, "size"));
    if (snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final) ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.agora-XXXXXX", dir, name) >= (int)sizeof(tmp))
        return cli_fail(c->cmd, "path too long for %s", name);
    f.fd = mkstemp(tmp);
    if (f.fd < 0)
        return cli_fail(c->cmd, "cannot create a file in %s: %s", dir, strerror(errno));
    f.md = EVP_MD_CTX_new();
    importer_opts_default(&io);
    if (!f.md || importer_new(&f.im, &io, NULL, NULL, NULL)) {
        rc = cli_fail(c->cmd, "out of memory");
        goto out;
    }
    EVP_DigestInit_ex(f.md, EVP_sha256(), NULL);
    if (buf_adds(&path, vpath) || buf_adds(&path, "/files") || client_seg(c, &path, name)) {
        rc = cli_fail(c->cmd, "path too long");
        goto out;
    }
    progress_init(&f.prog, name, f.size, 0);
    s.method = "GET";
    s.path = path.p;
    s.upload_len = -1;
    s.write = on_bytes;
    s.ctx = &f;
    if ((rc = client_stream(c, &s)))
        goto out;
    if (s.status != 200) {
        struct client_resp r = {.status = s.status, .body = s.body, .retry_after = -1};
        rc = client_print_api_error(c, &r);
        goto out;
    }
    progress_end(&f.prog, f.got);
    if (f.got != f.size) {
        rc = cli_fail(c->cmd, "%s: got %" PRIu64 " of %" PRIu64 " bytes", name, f.got, f.size);
        goto out;
    }
    EVP_DigestFinal_ex(f.md, d, NULL);
    for (int i = 0; i < 32; i++)
        snprintf(mysha + 2 * i, 3, "%02x", d[i]);
    if (strcmp(mysha, sha)) {
        rc = cli_fail(c->cmd, "%s: sha256 mismatch (got %s, the version says %s); nothing kept",
                      name, mysha, sha);
        goto out;
    }
    clear = strcmp(s.stored, "encrypted") != 0;
    if (clear) {
        struct cid root;
        uint64_t fsize, dsize;
        if (importer_finish(f.im, &root, &fsize, &dsize) ||
            cid_format(&root, mycid, sizeof(mycid)) || strcmp(mycid, cid)) {
            rc = cli_fail(c->cmd, "%s: CID mismatch (got %s, the version says %s); nothing kept",
                          name, mycid, cid);
            goto out;
        }
    }
    if (fsync(f.fd) || rename(tmp, final)) {
        rc = cli_fail(c->cmd, "cannot write %s: %s", final, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    if (as_json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "name", name, "path", final, "size",
                              (json_int_t)f.size, "sha256", sha, "cid", cid, "cid_verified", clear);
        client_print_json(o);
        json_decref(o);
    } else {
        printf("pulled %s  %" PRIu64 " bytes  sha256 ok  %s\n", final, f.size,
               clear ? "CID ok" : "stored encrypted: CID covers the ciphertext");
    }
out:
    json_decref(s.body);
    if (f.fd >= 0)
        close(f.fd);
    if (tmp[0])
        unlink(tmp);
    importer_free(f.im);
    EVP_MD_CTX_free(f.md);
    buf_release(&path);
    return rc;
}

int cmd_pull(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("o", CLI_VALUE), CLI_OPT("output", CLI_VALUE),
                             CLI_OPT("json", CLI_FLAG)};
    char owner[64], slug[128], ref[256], version[128] = "latest";
    const char *dir = ".";
    struct client c = {0};
    struct cli_args a;
    struct buf path;
    json_t *v = NULL, *f;
    size_t i;
    char *at;
    int rc;

    char **args = calloc((size_t)argc + 1, sizeof(*args));

    buf_init(&path, 2048);
    if (!args)
        return cli_fail("pull", "out of memory");
    /* -o DIR is the short form of --output DIR. */
    for (int k = 0; k < argc; k++)
        args[k] = !strcmp(argv[k], "-o") ? "--o" : argv[k];
    rc = cli_parse("pull", argc, args, 1, opts, ARRAY_SIZE(opts), &a);
    free(args);
    if (rc)
        return rc;
    if (a.help)
        return cli_help("pull");
    if (a.npos != 1)
        return cli_bad_usage("pull", "give one OWNER/SLUG[@VERSION]");
    if (opts[0].set || opts[1].set)
        dir = opts[0].set ? opts[0].value : opts[1].value;
    str_copy(ref, a.pos[0], sizeof(ref));
    if ((at = strchr(ref, '@'))) {
        *at = '\0';
        str_copy(version, at + 1, sizeof(version));
    }
    if ((rc = cli_model_ref("pull", ref, owner, slug, sizeof(owner))))
        return rc;
    if (mkdir_p(dir, 0755))
        return cli_fail("pull", "cannot create %s: %s", dir, strerror(errno));
    if ((rc = client_open(&c, "pull", a.node)))
        goto out;
    rc = client_model_path(&c, &path, owner, slug);
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(&c, &path, version);
    if (!rc)
        rc = client_call(&c, "GET", path.p, NULL, &v);
    if (rc)
        goto out;
    if (!json_array_size(json_object_get(v, "files")))
        fprintf(stderr, "agora pull: %s/%s@%s has no files\n", owner, slug,
                json_string_value(json_object_get(v, "version")));
    /* Pull the exact version resolved (not "latest" again, which could move). */
    buf_reset(&path);
    rc = client_model_path(&c, &path, owner, slug);
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(&c, &path, json_string_value(json_object_get(v, "version")));
    json_array_foreach(json_object_get(v, "files"), i, f)
    {
        if (rc)
            break;
        rc = pull_one(&c, dir, path.p, f, opts[2].set);
    }
out:
    json_decref(v);
    buf_release(&path);
    client_close(&c);
    return rc;
}
