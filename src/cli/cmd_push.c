/* cmd_push.c - `agora push OWNER/SLUG VERSION FILE...`: resumable, streamed uploads with progress.
 *
 * For each file: hash it (the node checks the sha256 on completion), find
 * an unfinished upload of the same bytes from an earlier run (remembered in
 * CONFIG_DIR/uploads.json) and ask the node for its offset, else create one;
 * then PATCH the rest of the file, streamed from disk. A dropped connection
 * is retried from the node's offset (--retries); an interrupted run resumes
 * on the next `agora push` of the same file.
 */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "cli/cli.h"
#include "cli/client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

const char cmd_push_usage[] =
    "usage: agora push OWNER/SLUG VERSION FILE... [--retries N] [--limit-rate BYTES/S] [--json]\n"
    "Uploads each FILE into the draft VERSION (created if missing), resuming an\n"
    "interrupted push of the same file from the node's offset. A progress line\n"
    "(bytes, rate, ETA) goes to stderr when it is a terminal.";

#define STATE_FILE "uploads.json"

struct push_file {
    const char *path;
    char name[256];
    int fd;
    uint64_t size;
    char sha256[65];
    uint64_t pos; /* next byte to send */
    struct progress prog;
    uint64_t sent_at_start;
};

static int file_sha256(int fd, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *buf = malloc(1 << 20), d[32];
    off_t pos = 0;
    ssize_t n;
    int rc = 0;

    if (!md || !buf) {
        rc = -1;
        goto out;
    }
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while ((n = pread(fd, buf, 1 << 20, pos)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        pos += n;
    }
    if (n < 0) {
        rc = -1;
        goto out;
    }
    EVP_DigestFinal_ex(md, d, NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
out:
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* ---- remembered uploads ---------------------------------------------------- */

static int state_path(char *out, size_t size)
{
    char cred[PATH_MAX];
    char *slash;
    if (client_credentials_path(cred, sizeof(cred)))
        return -1;
    slash = strrchr(cred, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (mkdir_p(cred, 0700))
        return -1;
    return snprintf(out, size, "%s/%s", cred, STATE_FILE) >= (int)size ? -1 : 0;
}

static json_t *state_load(void)
{
    char path[PATH_MAX];
    json_t *st = NULL;
    if (!state_path(path, sizeof(path)))
        st = json_load_file(path, 0, NULL);
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    return st;
}

static void state_save(json_t *st)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (state_path(path, sizeof(path)))
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!json_dump_file(st, tmp, JSON_COMPACT))
        rename(tmp, path);
    chmod(path, 0600);
}

/* The key of an upload: which node, where, and which bytes. */
static void state_key(struct client *c, const char *owner, const char *slug, const char *version,
                      const struct push_file *f, char *out, size_t size)
{
    snprintf(out, size, "%s %s/%s@%s %s %s", c->node, owner, slug, version, f->name, f->sha256);
}

/* ---- the transfer ------------------------------------------------------------ */

static size_t read_file(char *buf, size_t n, void *ctx)
{
    struct push_file *f = ctx;
    ssize_t k;
    if (f->pos >= f->size)
        return 0;
    n = (size_t)MIN((uint64_t)n, f->size - f->pos);
    do
        k = pread(f->fd, buf, n, (off_t)f->pos);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return CURL_READFUNC_ABORT;
    f->pos += (uint64_t)k;
    return (size_t)k;
}

static void on_progress(void *ctx, uint64_t up, uint64_t down)
{
    struct push_file *f = ctx;
    UNUSED(down);
    progress_update(&f->prog, f->sent_at_start + up);
}

/* upload_offset() asks the node where upload `id` stands; -1 when it is gone. */
static int64_t upload_offset(struct client *c, const char *id)
{
    struct client_resp r;
    struct buf path;
    int64_t off = -1;
    buf_init(&path, 256);
    buf_adds(&path, "/api/v1/uploads");
    if (!client_seg(c, &path, id) && !client_request(c, "GET", path.p, NULL, &r)) {
        if (r.status == 200)
            off = json_integer_value(json_object_get(r.body, "offset"));
        json_decref(r.body);
    }
    buf_release(&path);
    return off;
}

static int create_upload(struct client *c, const char *owner, const char *slug, const char *version,
                         struct push_file *f, char *id, size_t idsize)
{
    struct buf path;
    json_t *body = json_pack("{s:s, s:I, s:s}", "name", f->name, "size", (json_int_t)f->size,
                             "sha256", f->sha256);
    json_t *out = NULL;
    int rc;

    buf_init(&path, 1024);
    rc = body ? client_model_path(c, &path, owner, slug) : cli_fail(c->cmd, "out of memory");
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(c, &path, version);
    if (!rc)
        rc = buf_adds(&path, "/uploads") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_call(c, "POST", path.p, body, &out);
    if (!rc)
        str_copy(id, json_string_value(json_object_get(out, "id")), idsize);
    json_decref(body);
    json_decref(out);
    buf_release(&path);
    return rc;
}

/* ensure_draft() creates the version when it does not exist yet. */
static int ensure_draft(struct client *c, const char *owner, const char *slug, const char *version)
{
    struct client_resp r;
    struct buf path;
    json_t *body;
    int rc;

    buf_init(&path, 1024);
    rc = client_model_path(c, &path, owner, slug);
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(c, &path, version);
    if (!rc)
        rc = client_request(c, "GET", path.p, NULL, &r);
    if (rc)
        goto out;
    json_decref(r.body);
    if (r.status == 404) {
        body = json_pack("{s:s}", "version", version);
        buf_reset(&path);
        rc = client_model_path(c, &path, owner, slug);
        if (!rc)
            rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
        if (!rc)
            rc = client_call(c, "POST", path.p, body, NULL);
        json_decref(body);
    }
out:
    buf_release(&path);
    return rc;
}

static int push_one(struct client *c, const char *owner, const char *slug, const char *version,
                    struct push_file *f, long retries, long rate, bool as_json)
{
    char key[2048], id[64] = "", off_hdr[48], path[128];
    json_t *state = state_load(), *file = NULL;
    struct client_stream s;
    int64_t off = -1;
    int rc = 0;

    state_key(c, owner, slug, version, f, key, sizeof(key));
    if (json_is_string(json_object_get(state, key))) {
        str_copy(id, json_string_value(json_object_get(state, key)), sizeof(id));
        off = upload_offset(c, id);
        if (off >= 0)
            fprintf(stderr, "agora push: resuming %s at byte %" PRId64 " of %" PRIu64 "\n", f->name,
                    off, f->size);
    }
    if (off < 0) {
        if ((rc = create_upload(c, owner, slug, version, f, id, sizeof(id))))
            goto out;
        off = 0;
        json_object_set_new(state, key, json_string(id));
        state_save(state);
    }
    progress_init(&f->prog, f->name, f->size, (uint64_t)off);
    for (long attempt = 0;; attempt++) {
        memset(&s, 0, sizeof(s));
        f->pos = (uint64_t)off;
        f->sent_at_start = (uint64_t)off;
        snprintf(off_hdr, sizeof(off_hdr), "Upload-Offset: %" PRId64, off);
        snprintf(path, sizeof(path), "/api/v1/uploads/%s", id);
        s.method = "PATCH";
        s.path = path;
        s.headers[0] = "Content-Type: application/offset+octet-stream";
        s.headers[1] = off_hdr;
        s.upload_len = (int64_t)(f->size - (uint64_t)off);
        s.read = read_file;
        s.progress = on_progress;
        s.ctx = f;
        s.max_send_speed = rate;
        rc = client_stream(c, &s);
        if (!rc && (s.status == 200 || s.status == 204))
            break;
        if (!rc && s.status != 409) {
            struct client_resp r = {.status = s.status, .body = s.body, .retry_after = -1};
            rc = client_print_api_error(c, &r);
            json_decref(s.body);
            goto out;
        }
        json_decref(s.body);
        s.body = NULL;
        if (attempt >= retries) {
            rc = cli_fail(c->cmd,
                          "giving up on %s after %ld retries; run the same push again to "
                          "resume",
                          f->name, retries);
            goto out;
        }
        sleep(1);
        off = upload_offset(c, id);
        if (off < 0) {
            rc = cli_fail(c->cmd, "the upload of %s is gone (expired?); push again", f->name);
            json_object_del(state, key);
            state_save(state);
            goto out;
        }
        fprintf(stderr, "\nagora push: connection lost; resuming %s at byte %" PRId64 "\n", f->name,
                off);
    }
    if (s.status == 204) {
        /* Nothing was left to send yet not complete: the node disagrees on size. */
        rc = cli_fail(c->cmd, "the node did not complete %s (offset %s)", f->name, s.upload_offset);
        goto out;
    }
    progress_end(&f->prog, f->size);
    file = s.body;
    json_object_del(state, key);
    state_save(state);
    if (as_json)
        client_print_json(file);
    else
        printf("pushed %s  %" PRIu64 " bytes  %s%s\n", f->name, f->size,
               json_string_value(json_object_get(file, "cid")),
               json_is_true(json_object_get(file, "encrypted")) ? "  (stored encrypted)" : "");
out:
    json_decref(file);
    json_decref(state);
    return rc;
}

int cmd_push(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("retries", CLI_VALUE), CLI_OPT("limit-rate", CLI_VALUE),
                             CLI_OPT("json", CLI_FLAG)};
    char owner[64], slug[128];
    struct client c = {0};
    struct cli_args a;
    int64_t retries = 5, rate = 0;
    int rc;

    if ((rc = cli_parse("push", argc, argv, 1, opts, ARRAY_SIZE(opts), &a)))
        return rc;
    if (a.help)
        return cli_help("push");
    if (a.npos < 3)
        return cli_bad_usage("push", "OWNER/SLUG, VERSION and at least one FILE are required");
    if ((opts[0].set && (parse_i64(opts[0].value, &retries) || retries < 0 || retries > 1000)) ||
        (opts[1].set && (parse_i64(opts[1].value, &rate) || rate < 1)))
        return cli_bad_usage("push", "--retries takes 0-1000, --limit-rate a positive number");
    if ((rc = cli_model_ref("push", a.pos[0], owner, slug, sizeof(owner))))
        return rc;
    if ((rc = client_open(&c, "push", a.node)) || (rc = client_need_auth(&c)) ||
        (rc = ensure_draft(&c, owner, slug, a.pos[1])))
        goto out;
    for (size_t i = 2; i < a.npos && !rc; i++) {
        struct push_file f = {.path = a.pos[i], .fd = -1};
        struct stat sb;
        char tmp[PATH_MAX];
        f.fd = open(f.path, O_RDONLY | O_CLOEXEC);
        if (f.fd < 0 || fstat(f.fd, &sb) || !S_ISREG(sb.st_mode)) {
            rc = cli_fail("push", "cannot read %s: %s", f.path,
                          f.fd < 0 ? strerror(errno) : "not a regular file");
        } else {
            str_copy(tmp, f.path, sizeof(tmp));
            str_copy(f.name, basename(tmp), sizeof(f.name));
            f.size = (uint64_t)sb.st_size;
            if (file_sha256(f.fd, f.sha256))
                rc = cli_fail("push", "cannot read %s: %s", f.path, strerror(errno));
            else
                rc =
                    push_one(&c, owner, slug, a.pos[1], &f, (long)retries, (long)rate, opts[2].set);
        }
        if (f.fd >= 0)
            close(f.fd);
    }
out:
    client_close(&c);
    return rc;
}
