/* cmd_infer.c - `agora infer OWNER/SLUG[@VERSION] --input NAME=FILE.npy`: run a model on the node.
 *
 * The inputs go up as multipart/form-data, one .npy part per input. With
 * --output-dir the node answers with a .npz (every output as NAME.npy,
 * stored) which is unpacked into DIR/<output name>.npy, characters outside
 * [A-Za-z0-9_.-] in the name replaced by '_' (as `agora onnx run` does);
 * without it the node's JSON answer is printed.
 */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/cmd_infer.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

const char cmd_infer_usage[] =
    "usage: agora infer OWNER/SLUG[@VERSION] --input NAME=FILE.npy [--input ...]\n"
    "                   [--file MODEL.onnx] [--output-dir DIR]\n"
    "Runs a version's ONNX file on the node (default version: the latest published;\n"
    "default file: the version's only .onnx file). Each --input gives a graph input\n"
    "as a NumPy .npy file. With --output-dir, every output is written to\n"
    "DIR/<output name>.npy in the dtype the model declares; otherwise the node's\n"
    "JSON answer is printed. Paid models need a licence (or ownership): sign in\n"
    "first with `agora login`.";

#define MAX_BODY   ((size_t)1 << 30)
#define MAX_ANSWER ((size_t)1 << 30)

/* One request: the body going up, the answer coming down. */
struct xfer {
    const struct buf *body;
    size_t pos;
    struct buf *answer;
};

static size_t read_body(char *out, size_t n, void *ctx)
{
    struct xfer *x = ctx;
    size_t k = MIN(n, x->body->n - x->pos);
    memcpy(out, x->body->p + x->pos, k);
    x->pos += k;
    return k;
}

static int collect(const void *p, size_t n, void *ctx)
{
    struct xfer *x = ctx;
    if (buf_add(x->answer, p, n)) {
        fprintf(stderr, "agora infer: the answer is larger than %zu MiB\n", MAX_ANSWER >> 20);
        return -1;
    }
    return 0;
}

/* add_part() appends one multipart part holding the .npy file `path` as
 * input `name`. */
static int add_part(struct buf *b, const char *boundary, const char *name, const char *path)
{
    size_t before;
    int rc;

    if (strpbrk(name, "\"\r\n\\"))
        return cli_bad_usage("infer", "input name %s holds a quote, backslash or newline", name);
    if (buf_addf(b,
                 "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"input.npy\"\r\n"
                 "Content-Type: application/x-npy\r\n\r\n",
                 boundary, name))
        return cli_fail("infer", "the inputs are larger than %zu MiB", MAX_BODY >> 20);
    before = b->n;
    rc = buf_read_file(b, path);
    if (rc == AG_ETOOBIG)
        return cli_fail("infer", "the inputs are larger than %zu MiB", MAX_BODY >> 20);
    if (rc)
        return cli_fail("infer", "cannot read %s: %s", path, strerror(errno));
    if (b->n - before < 6 || memcmp(b->p + before, "\x93NUMPY", 6))
        return cli_fail("infer", "%s is not a .npy file", path);
    if (buf_adds(b, "\r\n"))
        return cli_fail("infer", "the inputs are larger than %zu MiB", MAX_BODY >> 20);
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned rd16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* write_file() writes `n` bytes to DIR/NAME through a temporary file. */
static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    const char *c = p;
    int fd, rc = 0;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return cli_fail("infer", "output path %s/%s is too long", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.part", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return cli_fail("infer", "cannot create %s: %s", tmp, strerror(errno));
    while (n && !rc) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            rc = cli_fail("infer", "cannot write %s: %s", tmp, strerror(errno));
        else
            c += k, n -= (size_t)k;
    }
    if (close(fd) && !rc)
        rc = cli_fail("infer", "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path))
        rc = cli_fail("infer", "cannot rename %s: %s", tmp, strerror(errno));
    if (rc)
        unlink(tmp);
    else
        printf("%s\n", path);
    return rc;
}

/* unpack_npz() writes every member NAME.npy of the node's stored .npz to
 * DIR/NAME.npy (sanitized). The archive is checked as it is walked: local
 * headers in order, no compression, every length inside the answer. */
static int unpack_npz(const struct buf *z, const char *dir)
{
    const uint8_t *p = (const uint8_t *)z->p, *end = p + z->n;
    int n = 0, rc = 0;

    while (!rc && end - p >= 4 && rd32(p) == 0x04034b50) {
        char name[300];
        size_t nl, el, size;
        if (end - p < 30)
            return cli_fail("infer", "the node's .npz answer is truncated");
        nl = rd16(p + 26);
        el = rd16(p + 28);
        size = rd32(p + 18);
        if (rd16(p + 8) != 0 || (rd16(p + 6) & 8) || rd32(p + 22) != size)
            return cli_fail("infer",
                            "the node's .npz answer uses a form this client does not read");
        if ((size_t)(end - p) < 30 + nl + el + size || nl < 5 || nl >= sizeof(name) - 1 ||
            memcmp(p + 30 + nl - 4, ".npy", 4))
            return cli_fail("infer", "the node's .npz answer is malformed");
        for (size_t i = 0; i < nl - 4; i++) {
            char ch = (char)p[30 + i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
            name[i] = ok ? ch : '_';
        }
        memcpy(name + nl - 4, ".npy", 5);
        if (!strcmp(name, ".npy") || !strncmp(name, "..npy", 5))
            name[0] = '_';
        rc = write_file(dir, name, p + 30 + nl + el, size);
        p += 30 + nl + el + size;
        n++;
    }
    if (!rc && !n)
        rc = cli_fail("infer", "the node's answer holds no outputs");
    return rc;
}

int cmd_infer(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("input", CLI_LIST), CLI_OPT("file", CLI_VALUE),
                             CLI_OPT("output-dir", CLI_VALUE)};
    char owner[64], slug[128], ref[256], version[128] = "latest", boundary[48], ctype[96];
    struct client c = {0};
    struct client_stream s;
    struct xfer x = {0};
    struct cli_args a;
    struct buf path, body, answer;
    const char *dir;
    char *at;
    int rc;

    buf_init(&path, 4096);
    buf_init(&body, MAX_BODY);
    buf_init(&answer, MAX_ANSWER);
    memset(&s, 0, sizeof(s));
    if ((rc = cli_parse("infer", argc, argv, 1, opts, ARRAY_SIZE(opts), &a)))
        goto out;
    if (a.help) {
        rc = cli_help("infer");
        goto out;
    }
    if (a.npos != 1) {
        rc = cli_bad_usage("infer", "give one OWNER/SLUG[@VERSION]");
        goto out;
    }
    if (!opts[0].nlist) {
        rc = cli_bad_usage("infer", "give the model's inputs with --input NAME=FILE.npy");
        goto out;
    }
    dir = opts[2].set ? opts[2].value : NULL;
    str_copy(ref, a.pos[0], sizeof(ref));
    if ((at = strchr(ref, '@'))) {
        *at = '\0';
        str_copy(version, at + 1, sizeof(version));
    }
    if ((rc = cli_model_ref("infer", ref, owner, slug, sizeof(owner))))
        goto out;
    rand_token(boundary, 16);
    for (size_t i = 0; i < opts[0].nlist; i++) {
        const char *eq = strchr(opts[0].list[i], '=');
        char name[256];
        if (!eq || eq == opts[0].list[i] || !eq[1] ||
            (size_t)(eq - opts[0].list[i]) >= sizeof(name)) {
            rc = cli_bad_usage("infer", "--input takes NAME=FILE.npy, not %s", opts[0].list[i]);
            goto out;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - opts[0].list[i]), opts[0].list[i]);
        if ((rc = add_part(&body, boundary, name, eq + 1)))
            goto out;
    }
    if (buf_addf(&body, "--%s--\r\n", boundary)) {
        rc = cli_fail("infer", "the inputs are larger than %zu MiB", MAX_BODY >> 20);
        goto out;
    }
    if (dir && mkdir_p(dir, 0755)) {
        rc = cli_fail("infer", "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    if ((rc = client_open(&c, "infer", a.node)))
        goto out;
    rc = client_model_path(&c, &path, owner, slug);
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(&c, &path, version);
    if (!rc)
        rc = buf_adds(&path, "/infer") ? EXIT_ERR : 0;
    if (!rc && opts[1].set)
        rc = client_query(&c, &path, "file", opts[1].value);
    if (rc)
        goto out;
    snprintf(ctype, sizeof(ctype), "Content-Type: multipart/form-data; boundary=%s", boundary);
    x.body = &body;
    x.answer = &answer;
    s.method = "POST";
    s.path = path.p;
    s.headers[0] = ctype;
    s.headers[1] = dir ? "Accept: application/x-npz" : "Accept: application/json";
    s.upload_len = (int64_t)body.n;
    s.read = read_body;
    s.write = collect;
    s.ctx = &x;
    if ((rc = client_stream(&c, &s)))
        goto out;
    if (s.status != 200) {
        struct client_resp r = {.status = s.status, .body = s.body, .retry_after = -1};
        rc = client_print_api_error(&c, &r);
        goto out;
    }
    if (!dir) {
        /* A JSON answer is collected by the client itself. */
        if (!s.body) {
            rc = cli_fail("infer", "the node's answer is not JSON");
            goto out;
        }
        client_print_json(s.body);
        goto out;
    }
    if (s.body) {
        rc = cli_fail("infer", "the node answered JSON where a .npz was asked for");
        goto out;
    }
    rc = unpack_npz(&answer, dir);
out:
    json_decref(s.body);
    client_close(&c);
    buf_release(&path);
    buf_release(&body);
    buf_release(&answer);
    return rc;
}
