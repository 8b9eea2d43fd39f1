/* client.c - the HTTP client, option parser, credentials store and output helpers of the CLI. */
#include "core/common.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/json.h"
#include "core/util.h"

#define CRED_MAX ((size_t)1 << 20) /* bytes of the credentials file */
#define PATH_CAP ((size_t)8192)    /* bytes of a request path with its query */

/* ---- messages and usage ---------------------------------------------------- */

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "agora %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    return EXIT_ERR;
}

int cli_bad_usage(const char *cmd, const char *fmt, ...)
{
    const struct cli_cmd *c = cli_find(cmd);
    va_list ap;

    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    if (c)
        cli_usage(c, stderr);
    return EXIT_USAGE;
}

int cli_help(const char *cmd)
{
    const struct cli_cmd *c = cli_find(cmd);
    if (c)
        fprintf(stdout, "%s\n", c->usage);
    return EXIT_OK;
}

/* ---- options ------------------------------------------------------------- */

static struct cli_opt *find_opt(struct cli_opt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, int first, struct cli_opt *opts, size_t nopts,
              struct cli_args *args)
{
    bool only_pos = false;

    memset(args, 0, sizeof(*args));
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *name, *eq, *val = NULL;
        struct cli_opt *o;
        size_t len;

        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            if (args->npos >= CLI_POS_MAX)
                return cli_bad_usage(cmd, "too many arguments");
            args->pos[args->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            args->help = true;
            continue;
        }
        if (a[1] != '-')
            return cli_bad_usage(cmd, "unknown option %s", a);
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 4 && !strncmp(name, "node", 4)) {
            if (eq) {
                args->node = eq + 1;
            } else if (i + 1 < argc) {
                args->node = argv[++i];
            } else {
                return cli_bad_usage(cmd, "option --node needs a value");
            }
            continue;
        }
        o = find_opt(opts, nopts, name, len);
        if (!o)
            return cli_bad_usage(cmd, "unknown option --%.*s", (int)len, name);
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_bad_usage(cmd, "option --%s takes no value", o->name);
            o->set = true;
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return cli_bad_usage(cmd, "option --%s needs a value", o->name);
            val = argv[++i];
        }
        o->set = true;
        o->value = val;
        if (o->kind == CLI_LIST) {
            if (o->nlist >= CLI_LIST_MAX)
                return cli_bad_usage(cmd, "too many --%s options (at most %d)", o->name,
                                     CLI_LIST_MAX);
            o->list[o->nlist++] = val;
        }
    }
    return 0;
}

static bool ref_part_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    return true;
}

int cli_model_ref(const char *cmd, const char *ref, char *owner, char *slug, size_t size)
{
    const char *slash = strchr(ref, '/');
    size_t olen;

    if (!slash || strchr(slash + 1, '/'))
        return cli_bad_usage(cmd, "\"%s\" is not a model reference: expected OWNER/SLUG", ref);
    olen = (size_t)(slash - ref);
    if (!ref_part_ok(ref, olen) || !ref_part_ok(slash + 1, strlen(slash + 1)))
        return cli_bad_usage(cmd, "\"%s\" is not a model reference: expected OWNER/SLUG", ref);
    if (olen >= size || strlen(slash + 1) >= size)
        return cli_bad_usage(cmd, "model reference \"%s\" is too long", ref);
    memcpy(owner, ref, olen);
    owner[olen] = '\0';
    str_copy(slug, slash + 1, size);
    return 0;
}

/* ---- passwords ------------------------------------------------------------ */

static struct termios saved_tio;
static volatile sig_atomic_t tty_fd = -1;

static void restore_tty(int sig)
{
    if (tty_fd >= 0)
        tcsetattr(tty_fd, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* read_line() reads up to '\n' or EOF from fd into out. Returns the length,
 * -1 on a read error or EOF before anything, -2 when it does not fit. */
static ssize_t read_line(int fd, char *out, size_t size)
{
    size_t n = 0;
    bool too_long = false, any = false;
    char ch;

    for (;;) {
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        any = true;
        if (ch == '\n')
            break;
        if (n + 1 < size)
            out[n++] = ch;
        else
            too_long = true;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    if (!any)
        return -1;
    return too_long ? -2 : (ssize_t)n;
}

/* tty_read() prompts on the terminal `fd` and reads a line with echo off,
 * restoring the terminal afterwards (also on Ctrl-C). Returns what
 * read_line() returns, or -3 when the terminal cannot be used. */
static ssize_t tty_read(int fd, const char *prompt, char *out, size_t size)
{
    struct termios tio;
    struct sigaction sa, old_int, old_term;
    ssize_t n = -3;

    if (tcgetattr(fd, &tio))
        return -3;
    saved_tio = tio;
    tty_fd = fd;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_tty;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    tio.c_lflag |= ICANON;
    if (tcsetattr(fd, TCSAFLUSH, &tio) == 0 && write(fd, prompt, strlen(prompt)) >= 0) {
        n = read_line(fd, out, size);
        if (write(fd, "\n", 1) < 0)
            errno = 0; /* the newline only tidies the terminal */
    }
    tcsetattr(fd, TCSAFLUSH, &saved_tio);
    tty_fd = -1;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return n;
}

int cli_read_tty(const char *prompt, char *out, size_t size)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = tty_read(fd, prompt, out, size);
    close(fd);
    return n >= 0 ? 0 : -1;
}

int cli_read_password(const char *cmd, bool from_stdin, const char *prompt, char *out, size_t size)
{
    ssize_t n;
    int fd = -1, rc;

    assert(size > 1);
    out[0] = '\0';
    if (from_stdin) {
        n = read_line(STDIN_FILENO, out, size);
    } else {
        fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        n = fd < 0 ? -3 : tty_read(fd, prompt, out, size);
    }
    if (n == -3)
        rc = cli_fail(cmd, "no terminal to read the password from; use --password-stdin");
    else if (n == -2)
        rc = cli_fail(cmd, "password is too long (at most %zu bytes)", size - 1);
    else if (n <= 0)
        rc = cli_fail(cmd, "no password given");
    else
        rc = 0;
    if (rc)
        explicit_bzero(out, size);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- the connection ---------------------------------------------------------- */

static bool curl_ready;

static int node_url(const char *cmd, const char *node_opt, char **out)
{
    const char *src = node_opt ? node_opt : getenv("AGORA_NODE");
    const char *from = node_opt ? "--node" : "AGORA_NODE";
    size_t len;
    char *u;

    if (!src || !*src)
        src = CLIENT_DEFAULT_NODE;
    if (!str_starts(src, "http://") && !str_starts(src, "https://")) {
        if (node_opt)
            return cli_bad_usage(cmd, "%s \"%s\" must be an http:// or https:// URL", from, src);
        return cli_fail(cmd, "%s \"%s\" must be an http:// or https:// URL", from, src);
    }
    len = strlen(src);
    if (len > 1024)
        return cli_fail(cmd, "%s is too long", from);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)src[i] <= ' ' || src[i] == 0x7f || src[i] == '?' || src[i] == '#')
            return cli_fail(cmd, "%s \"%s\" is not a plain base URL", from, src);
    while (len > 0 && src[len - 1] == '/')
        len--;
    u = strndup(src, len);
    if (!u)
        return cli_fail(cmd, "out of memory");
    *out = u;
    return 0;
}

static int cred_load(const char *cmd, json_t **out, bool quiet);

static bool token_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 512)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= ' ' || t[i] > '~')
            return false;
    return true;
}

int client_open(struct client *c, const char *cmd, const char *node_opt)
{
    const char *env;
    json_t *creds = NULL, *entry;
    int rc;

    memset(c, 0, sizeof(*c));
    c->cmd = cmd;
    rc = node_url(cmd, node_opt, &c->node);
    if (rc)
        goto out;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
            rc = cli_fail(cmd, "cannot initialise libcurl");
            goto out;
        }
        curl_ready = true;
    }
    c->curl = curl_easy_init();
    if (!c->curl) {
        rc = cli_fail(cmd, "cannot initialise libcurl");
        goto out;
    }
    /* A broken credentials file does not stop commands that need no login:
     * it is reported when a token is needed (client_need_auth). */
    if (cred_load(cmd, &creds, true) == 0) {
        entry = json_object_get(creds, c->node);
        if (json_is_object(entry)) {
            const char *tok = json_string_value(json_object_get(entry, "token"));
            const char *user = json_string_value(json_object_get(entry, "username"));
            json_t *id = json_object_get(entry, "token_id");
            if (tok && *tok)
                c->stored = strdup(tok);
            if (user)
                c->username = strdup(user);
            if (json_is_integer(id))
                c->token_id = json_integer_value(id);
        }
    }
    env = getenv("AGORA_TOKEN");
    c->token_env = env && *env;
    /* The token goes into a header line: nothing but visible ASCII. */
    if (c->token_env && !token_ok(env)) {
        rc = cli_fail(cmd, "AGORA_TOKEN is not an API token");
        goto out;
    }
    if (c->stored && !token_ok(c->stored)) {
        explicit_bzero(c->stored, strlen(c->stored));
        free(c->stored);
        c->stored = NULL;
        if (!c->token_env)
            fprintf(stderr, "agora %s: warning: ignoring a damaged token in the credentials file\n",
                    cmd);
    }
    if (c->token_env || c->stored) {
        c->token = strdup(c->token_env ? env : c->stored);
        if (!c->token) {
            rc = cli_fail(cmd, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(creds);
    return rc;
}

void client_close(struct client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->token) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
    }
    if (c->stored) {
        explicit_bzero(c->stored, strlen(c->stored));
        free(c->stored);
    }
    free(c->username);
    free(c->node);
    memset(c, 0, sizeof(*c));
}

int client_need_auth(struct client *c)
{
    json_t *creds = NULL;

    if (c->token)
        return 0;
    if (cred_load(c->cmd, &creds, false))
        return EXIT_ERR;
    json_decref(creds);
    return cli_fail(c->cmd, "not logged in to %s (run `agora login USERNAME`, or set AGORA_TOKEN)",
                    c->node);
}

static int add_escaped(struct client *c, struct buf *b, const char *s)
{
    char *esc;
    int rc;

    /* curl leaves '.' alone; a segment of dots would be read as "here" or "up". */
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return buf_adds(b, s[1] ? "%2E%2E" : "%2E") ? EXIT_ERR : 0;
    esc = curl_easy_escape(c->curl, s, (int)MIN(strlen(s), (size_t)INT_MAX));
    if (!esc)
        return cli_fail(c->cmd, "out of memory");
    rc = buf_adds(b, esc);
    curl_free(esc);
    if (rc)
        return cli_fail(c->cmd, "request path is too long");
    return 0;
}

int client_seg(struct client *c, struct buf *path, const char *segment)
{
    if (buf_addc(path, '/'))
        return cli_fail(c->cmd, "request path is too long");
    return add_escaped(c, path, segment);
}

int client_query(struct client *c, struct buf *path, const char *key, const char *value)
{
    int rc;

    if (buf_addc(path, strchr(path->p, '?') ? '&' : '?'))
        return cli_fail(c->cmd, "request path is too long");
    rc = add_escaped(c, path, key);
    if (!rc && buf_addc(path, '='))
        rc = cli_fail(c->cmd, "request path is too long");
    if (!rc)
        rc = add_escaped(c, path, value);
    return rc;
}

int client_model_path(struct client *c, struct buf *path, const char *owner, const char *slug)
{
    int rc = buf_adds(path, "/api/v1/models") ? cli_fail(c->cmd, "out of memory") : 0;

    if (!rc)
        rc = client_seg(c, path, owner);
    if (!rc)
        rc = client_seg(c, path, slug);
    return rc;
}

int client_set_str(struct client *c, json_t *obj, const char *key, const char *value)
{
    json_t *v;

    if (!utf8_valid(value, strlen(value)))
        return cli_fail(c->cmd, "the value for %s is not valid UTF-8", key);
    v = json_string(value);
    if (!v || json_object_set_new(obj, key, v))
        return cli_fail(c->cmd, "out of memory");
    return 0;
}

void client_wipe_password(json_t *body)
{
    json_t *p = json_object_get(body, "password");

    if (json_is_string(p))
        explicit_bzero((char *)json_string_value(p), json_string_length(p));
}

struct sink {
    struct buf body;
    bool too_big;
    long retry_after;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;

    if (buf_add(&s->body, data, n)) {
        s->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    char num[32];
    size_t i = sizeof(name) - 1, k = 0;

    if (n > i && !strncasecmp(data, name, i)) {
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (i < n && k + 1 < sizeof(num) && data[i] >= '0' && data[i] <= '9')
            num[k++] = data[i++];
        num[k] = '\0';
        if (k > 0 && k < 10)
            s->retry_after = strtol(num, NULL, 10);
    }
    return n;
}

int client_request(struct client *c, const char *method, const char *path, json_t *body,
                   struct client_resp *r)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL, *tmp;
    struct sink s;
    struct buf url, auth, req;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode cc;
    int rc = EXIT_ERR;
    struct ag_err e;

    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    buf_init(&s.body, CLIENT_MAX_RESPONSE);
    s.too_big = false;
    s.retry_after = -1;
    buf_init(&url, PATH_CAP + 2048);
    buf_init(&auth, 4096);
    buf_init(&req, CLIENT_MAX_RESPONSE);
    errbuf[0] = '\0';

    if (buf_addf(&url, "%s%s", c->node, path)) {
        rc = cli_fail(c->cmd, "request URL is too long");
        goto out;
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, CLIENT_TOTAL_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLIENT_MAX_RESPONSE);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "agora-cli/0.1.0");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);

    tmp = curl_slist_append(hdrs, "Accept: application/json");
    if (tmp)
        hdrs = tmp;
    if (c->token) {
        if (buf_addf(&auth, "Authorization: Bearer %s", c->token)) {
            rc = cli_fail(c->cmd, "the API token is too long");
            goto out;
        }
        tmp = curl_slist_append(hdrs, auth.p);
        if (!tmp) {
            rc = cli_fail(c->cmd, "out of memory");
            goto out;
        }
        hdrs = tmp;
    }
    if (body) {
        if (json_dump_buf(&req, body)) {
            rc = cli_fail(c->cmd, "request body is too large");
            goto out;
        }
        tmp = curl_slist_append(hdrs, "Content-Type: application/json");
        if (tmp)
            hdrs = tmp;
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.n);
    } else if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "DELETE")) {
        /* An empty POST/PUT: Content-Length 0 and no (form) Content-Type. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        tmp = curl_slist_append(hdrs, "Content-Type:");
        if (tmp)
            hdrs = tmp;
    }
    tmp = curl_slist_append(hdrs, "Expect:");
    if (tmp)
        hdrs = tmp;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    cc = curl_easy_perform(h);
    if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = cli_fail(c->cmd, "the node's response is larger than %zu MiB; refusing it",
                      CLIENT_MAX_RESPONSE >> 20);
        goto out;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = cli_fail(c->cmd, "node at %s did not answer in time: %s", c->node,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = cli_fail(c->cmd, "cannot reach node at %s: %s", c->node,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    r->retry_after = s.retry_after;
    if (s.body.n > 0) {
        ag_err_clear(&e);
        if (json_parse(s.body.p, s.body.n, &r->body, &e)) {
            if (r->status >= 200 && r->status < 300) {
                rc = cli_fail(c->cmd,
                              "node at %s answered HTTP %ld with a body that is not JSON (%s)",
                              c->node, r->status, e.msg);
                goto out;
            }
            r->body = NULL; /* an error page from a proxy: the status still says enough */
        }
    }
    rc = 0;
out:
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (auth.n)
        explicit_bzero(auth.p, auth.n);
    buf_release(&auth);
    if (req.n && body && json_object_get(body, "password"))
        explicit_bzero(req.p, req.n);
    buf_release(&req);
    buf_release(&url);
    buf_release(&s.body);
    return rc;
}

int client_print_api_error(struct client *c, const struct client_resp *r)
{
    json_t *err = json_object_get(r->body, "error");
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *field = json_string_value(json_object_get(err, "field"));
    struct buf b;

    buf_init(&b, 4096);
    if (msg && *msg)
        client_text(&b, msg, false);
    else
        buf_addf(&b, "node answered HTTP %ld", r->status);
    if (field && *field) {
        buf_adds(&b, " (field: ");
        client_text(&b, field, false);
        buf_adds(&b, ")");
    }
    if (code && *code && !(msg && *msg)) {
        buf_adds(&b, " [");
        client_text(&b, code, false);
        buf_adds(&b, "]");
    }
    /* Hints, unless the command is the one that logs in or the node said it. */
    if (r->status == 401 && strcmp(c->cmd, "login") && strcmp(c->cmd, "register"))
        buf_adds(&b, c->token ? "; the token was refused: run `agora login USERNAME` again"
                              : "; run `agora login USERNAME` first");
    if (r->status == 429 && r->retry_after >= 0 && !strstr(b.p, "try again"))
        buf_addf(&b, "; try again in %ld s", r->retry_after);
    cli_fail(c->cmd, "%s", b.p);
    buf_release(&b);
    return EXIT_ERR;
}

int client_call(struct client *c, const char *method, const char *path, json_t *body, json_t **out)
{
    struct client_resp r;
    int rc = client_request(c, method, path, body, &r);

    if (rc)
        return rc;
    if (r.status < 200 || r.status > 299) {
        rc = client_print_api_error(c, &r);
        json_decref(r.body);
        return rc;
    }
    if (out)
        *out = r.body;
    else
        json_decref(r.body);
    return 0;
}

int client_me(struct client *c, char *out, size_t size)
{
    json_t *me = NULL;
    const char *name;
    int rc = client_need_auth(c);

    if (rc)
        return rc;
    rc = client_call(c, "GET", "/api/v1/auth/me", NULL, &me);
    if (rc)
        return rc;
    name = json_string_value(json_object_get(json_object_get(me, "user"), "username"));
    if (!name || !*name || strlen(name) >= size)
        rc = cli_fail(c->cmd, "the node's /auth/me answer has no username");
    else
        str_copy(out, name, size);
    json_decref(me);
    return rc;
}

/* ---- credentials ------------------------------------------------------------- */

int client_credentials_path(char *out, size_t size)
{
    const char *dir = getenv("AGORA_CONFIG_DIR");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;

    if (dir && *dir) {
        n = snprintf(out, size, "%s/credentials", dir);
    } else if (xdg && xdg[0] == '/') {
        n = snprintf(out, size, "%s/agora/credentials", xdg);
    } else {
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home || !*home)
            return AG_EINVAL;
        n = snprintf(out, size, "%s/.config/agora/credentials", home);
    }
    return (n < 0 || (size_t)n >= size) ? AG_EINVAL : 0;
}

/* cred_load() reads the credentials file into a new object in *out (an empty
 * one when the file does not exist). Returns 0, or EXIT_ERR after printing
 * why unless `quiet`. */
static int cred_load(const char *cmd, json_t **out, bool quiet)
{
    char path[4096];
    struct buf b;
    struct ag_err e;
    struct stat st;
    json_t *v = NULL;
    int rc = EXIT_ERR, fd = -1;
    char chunk[8192];
    ssize_t n;

    buf_init(&b, CRED_MAX);
    if (client_credentials_path(path, sizeof(path))) {
        if (!quiet)
            cli_fail(cmd,
                     "cannot tell where the credentials file is (set HOME or AGORA_CONFIG_DIR)");
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        v = json_object();
        rc = v ? 0 : EXIT_ERR;
        goto out;
    }
    if (fd < 0 || fstat(fd, &st)) {
        if (!quiet)
            cli_fail(cmd, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & 077)
        fprintf(stderr, "agora %s: warning: %s is readable by others; run chmod 600 on it\n", cmd,
                path);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || buf_add(&b, chunk, (size_t)n)) {
            if (!quiet)
                cli_fail(cmd, "cannot read %s: %s", path,
                         n < 0 ? strerror(errno) : "file is too large");
            goto out;
        }
    }
    ag_err_clear(&e);
    if (b.n == 0) {
        v = json_object();
    } else if (json_parse(b.p, b.n, &v, &e) || !json_is_object(v)) {
        if (!quiet)
            cli_fail(cmd, "credentials file %s is damaged (%s); remove it and log in again", path,
                     e.msg[0] ? e.msg : "not a JSON object");
        json_decref(v);
        v = NULL;
        goto out;
    }
    rc = v ? 0 : EXIT_ERR;
out:
    if (fd >= 0)
        close(fd);
    if (b.n)
        explicit_bzero(b.p, b.n);
    buf_release(&b);
    if (rc == 0)
        *out = v;
    return rc;
}

/* cred_save() writes `creds` to the credentials file: directory 0700, a
 * temporary file of mode 0600 in it, fsync, rename. */
static int cred_save(const char *cmd, json_t *creds)
{
    char path[4096], dir[4096], tmp[4200];
    char *text = NULL, *slash;
    int fd = -1, rc = EXIT_ERR;
    size_t len, off = 0;

    if (client_credentials_path(path, sizeof(path)))
        return cli_fail(cmd,
                        "cannot tell where the credentials file is (set HOME or AGORA_CONFIG_DIR)");
    str_copy(dir, path, sizeof(dir));
    slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    if (mkdir_p(dir, 0700))
        return cli_fail(cmd, "cannot create %s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = cli_fail(cmd, "cannot create a file in %s: %s", dir, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600)) {
        rc = cli_fail(cmd, "cannot set the mode of %s: %s", tmp, strerror(errno));
        goto out;
    }
    text = json_dumps(creds, JSON_INDENT(2));
    if (!text) {
        rc = cli_fail(cmd, "out of memory");
        goto out;
    }
    len = strlen(text);
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = cli_fail(cmd, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd)) {
        rc = cli_fail(cmd, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        rc = cli_fail(cmd, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path)) {
        rc = cli_fail(cmd, "cannot replace %s: %s", path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return rc;
}

int client_credentials_check(struct client *c)
{
    json_t *creds = NULL;
    int rc = cred_load(c->cmd, &creds, false);

    json_decref(creds);
    return rc;
}

int client_store_token(struct client *c, const char *token, int64_t token_id, const char *username)
{
    json_t *creds = NULL, *entry;
    char now[32];
    int rc = cred_load(c->cmd, &creds, false);

    if (rc)
        return rc;
    time_iso8601(now, sizeof(now), time_now());
    entry = json_pack("{s:s, s:I, s:s, s:s}", "token", token, "token_id", (json_int_t)token_id,
                      "username", username, "created_at", now);
    if (!entry || json_object_set_new(creds, c->node, entry)) {
        rc = cli_fail(c->cmd, "out of memory");
        goto out;
    }
    rc = cred_save(c->cmd, creds);
out:
    json_decref(creds);
    return rc;
}

int client_forget_token(struct client *c)
{
    json_t *creds = NULL;
    int rc = cred_load(c->cmd, &creds, false);

    if (rc)
        return rc;
    if (json_object_get(creds, c->node)) {
        json_object_del(creds, c->node);
        rc = cred_save(c->cmd, creds);
    }
    json_decref(creds);
    return rc;
}

/* ---- output ------------------------------------------------------------------- */

void client_print_json(const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    printf("%s\n", s ? s : "null");
    free(s);
}

void client_text(struct buf *b, const char *s, bool multiline)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++) {
        if (*p == '\n' && multiline)
            buf_addc(b, '\n');
        else if (*p == '\t')
            buf_addc(b, multiline ? '\t' : ' ');
        else if (*p < 0x20 || *p == 0x7f)
            buf_addc(b, '?');
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            buf_addc(b, '?'); /* a C1 control (U+0080..U+009F), e.g. CSI */
            p++;
        } else
            buf_addc(b, (char)*p);
    }
}

void client_fmt(struct buf *b, json_t *v)
{
    size_t i;
    json_t *item;

    if (!v || json_is_null(v)) {
        buf_adds(b, "-");
    } else if (json_is_string(v)) {
        if (json_string_length(v) == 0)
            buf_adds(b, "-");
        else
            client_text(b, json_string_value(v), false);
    } else if (json_is_integer(v)) {
        buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        buf_addf(b, "%.2f", json_real_value(v));
    } else if (json_is_boolean(v)) {
        buf_adds(b, json_is_true(v) ? "yes" : "no");
    } else if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            buf_adds(b, "-");
        json_array_foreach(v, i, item)
        {
            if (i)
                buf_adds(b, ", ");
            client_fmt(b, item);
        }
    } else {
        char *s = json_dumps(v, JSON_COMPACT);
        if (s)
            client_text(b, s, false);
        free(s);
    }
}

void client_fmt_time(struct buf *b, json_t *v)
{
    char iso[40];

    if (json_is_integer(v)) {
        int64_t t = json_integer_value(v);
        if (t > 100000000000LL)
            t /= 1000;
        time_iso8601(iso, sizeof(iso), t);
    } else if (json_is_string(v) && json_string_length(v) >= 16) {
        str_copy(iso, json_string_value(v), sizeof(iso));
    } else {
        client_fmt(b, v);
        return;
    }
    /* "2026-11-25T16:21:00Z" -> "2026-11-25 16:21" */
    iso[16] = '\0';
    if (iso[10] == 'T')
        iso[10] = ' ';
    client_text(b, iso, false);
}

void client_fmt_price(struct buf *b, json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0, intlen, fraclen;
    char frac[CLIENT_TOKEN_DECIMALS + 1];

    if (json_is_integer(v) && json_integer_value(v) == 0)
        s = "0", n = 1;
    if (!s || n == 0 || n > 78 || strspn(s, "0123456789") != n) {
        client_fmt(b, v);
        return;
    }
    while (n > 1 && *s == '0')
        s++, n--;
    if (!strcmp(s, "0")) {
        buf_adds(b, "free");
        return;
    }
    /* units -> tokens: the last CLIENT_TOKEN_DECIMALS digits are the fraction. */
    intlen = n > CLIENT_TOKEN_DECIMALS ? n - CLIENT_TOKEN_DECIMALS : 0;
    memset(frac, '0', CLIENT_TOKEN_DECIMALS);
    memcpy(frac + CLIENT_TOKEN_DECIMALS - (n - intlen), s + intlen, n - intlen);
    fraclen = CLIENT_TOKEN_DECIMALS;
    while (fraclen > 0 && frac[fraclen - 1] == '0')
        fraclen--;
    if (intlen)
        buf_add(b, s, intlen);
    else
        buf_addc(b, '0');
    if (fraclen) {
        buf_addc(b, '.');
        buf_add(b, frac, fraclen);
    }
}

void client_fmt_rating(struct buf *b, json_t *obj)
{
    json_t *r = json_object_get(obj, "rating"), *n = json_object_get(obj, "rating_count");

    if (!json_is_number(r) || (json_is_integer(n) && json_integer_value(n) == 0)) {
        buf_adds(b, "-");
        return;
    }
    buf_addf(b, "%.2f", json_number_value(r));
    if (json_is_integer(n))
        buf_addf(b, " (%" JSON_INTEGER_FORMAT ")", json_integer_value(n));
}

#define KV_WIDTH 15

void client_kv(const char *label, const char *value)
{
    const char *p = value, *nl;
    char lab[64];

    snprintf(lab, sizeof(lab), "%s:", label);
    printf("%-*s", KV_WIDTH, lab);
    for (;;) {
        nl = strchr(p, '\n');
        if (!nl) {
            printf("%s\n", p);
            break;
        }
        printf("%.*s\n%*s", (int)(nl - p), p, KV_WIDTH, "");
        p = nl + 1;
    }
}

void client_kv_json(const char *label, json_t *v)
{
    struct buf b;

    buf_init(&b, 1 << 16);
    client_fmt(&b, v);
    client_kv(label, b.p);
    buf_release(&b);
}

void table_init(struct table *t, size_t ncol, const char *const *head, const size_t *maxw)
{
    assert(ncol > 0 && ncol <= TABLE_MAX_COLS);
    memset(t, 0, sizeof(*t));
    t->ncol = ncol;
    for (size_t i = 0; i < ncol; i++) {
        t->head[i] = head[i];
        t->maxw[i] = maxw ? maxw[i] : 0;
    }
}

void table_release(struct table *t)
{
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrow = t->cap = 0;
}

/* next_cp() decodes the code point at `s` (valid UTF-8) into *cp and returns
 * its length in bytes. */
static size_t next_cp(const char *s, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xe0) == 0xc0) {
        *cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
        return 2;
    }
    if ((p[0] & 0xf0) == 0xe0) {
        *cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return 3;
    }
    *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
          (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
    return 4;
}

/* cp_width() is the number of terminal columns a code point takes: 0 for
 * combining marks and zero-width characters, 2 for East Asian wide and
 * fullwidth ones and emoji, else 1 (the ranges of Unicode's EastAsianWidth
 * W/F classes, coarsely). */
static size_t cp_width(uint32_t c)
{
    static const uint32_t zero[][2] = {
        {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a}, {0x064b, 0x065f},
        {0x200b, 0x200f}, {0x20d0, 0x20ff}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xfeff, 0xfeff},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},
        {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
        {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
        {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };

    for (size_t i = 0; i < ARRAY_SIZE(zero); i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < ARRAY_SIZE(wide); i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

/* width() is the number of terminal columns `s` takes. */
static size_t width(const char *s)
{
    size_t w = 0;
    uint32_t cp;

    if (!utf8_valid(s, strlen(s)))
        return strlen(s);
    while (*s) {
        s += next_cp(s, &cp);
        w += cp_width(cp);
    }
    return w;
}

/* cut() copies sanitized `s`, cut to at most `maxw` columns ("..." marks a cut). */
static char *cut(const char *s, size_t maxw)
{
    struct buf b;
    size_t w = 0, i = 0, keep;
    uint32_t cp;

    buf_init(&b, 1 << 16);
    client_text(&b, s ? s : "", false);
    if (maxw == 0 || !utf8_valid(b.p, b.n) || width(b.p) <= maxw)
        return buf_detach(&b, NULL);
    keep = maxw > 3 ? maxw - 3 : maxw;
    while (b.p[i]) {
        size_t len = next_cp(b.p + i, &cp), cw = cp_width(cp);
        if (w + cw > keep)
            break;
        w += cw;
        i += len;
    }
    b.p[i] = '\0';
    b.n = i;
    if (maxw > 3)
        buf_adds(&b, "...");
    return buf_detach(&b, NULL);
}

int table_add_row(struct table *t, const char *const *cells)
{
    if (t->nrow == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, ncap * t->ncol * sizeof(*p));
        if (!p)
            return AG_ENOMEM;
        t->cells = p;
        t->cap = ncap;
    }
    for (size_t i = 0; i < t->ncol; i++)
        t->cells[t->nrow * t->ncol + i] = cut(cells[i], t->maxw[i]);
    t->nrow++;
    return 0;
}

void table_print(const struct table *t, FILE *out)
{
    size_t w[TABLE_MAX_COLS];

    for (size_t j = 0; j < t->ncol; j++) {
        w[j] = width(t->head[j]);
        for (size_t i = 0; i < t->nrow; i++)
            w[j] = MAX(w[j], width(t->cells[i * t->ncol + j]));
    }
    for (size_t i = 0; i <= t->nrow; i++) {
        for (size_t j = 0; j < t->ncol; j++) {
            const char *s = i == 0 ? t->head[j] : t->cells[(i - 1) * t->ncol + j];
            bool last = j + 1 == t->ncol;
            fputs(s, out);
            if (!last)
                for (size_t k = width(s); k < w[j] + 2; k++)
                    fputc(' ', out);
        }
        fputc('\n', out);
    }
}

void row_init(struct row *r, size_t n)
{
    assert(n > 0 && n <= TABLE_MAX_COLS);
    r->n = n;
    for (size_t i = 0; i < n; i++)
        buf_init(&r->cell[i], 1 << 16);
}

void row_release(struct row *r)
{
    for (size_t i = 0; i < r->n; i++)
        buf_release(&r->cell[i]);
}

int table_add(struct table *t, struct row *r)
{
    const char *cells[TABLE_MAX_COLS];
    int rc;

    assert(r->n == t->ncol);
    for (size_t i = 0; i < r->n; i++)
        cells[i] = r->cell[i].p;
    rc = table_add_row(t, cells) ? cli_fail("table", "out of memory") : 0;
    for (size_t i = 0; i < r->n; i++)
        buf_reset(&r->cell[i]);
    return rc;
}

/* ---- streaming transfers ---------------------------------------------------- */

static void human_bytes(char *out, size_t size, double n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (n >= 1024 && u < 4) {
        n /= 1024;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", n, unit[u]);
}

void progress_init(struct progress *p, const char *label, uint64_t total, uint64_t base)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->total = total;
    p->base = base;
    p->start_us = time_mono_us();
    p->enabled = isatty(STDERR_FILENO) || getenv("AGORA_PROGRESS");
}

static void progress_draw(struct progress *p, uint64_t done, bool final)
{
    char d[32], t[32], r[32], eta[32];
    double secs = (double)(time_mono_us() - p->start_us) / 1e6;
    double rate = secs > 0 ? (double)(done - MIN(done, p->base)) / secs : 0;
    int pct = p->total ? (int)(100.0 * (double)done / (double)p->total) : 100;

    human_bytes(d, sizeof(d), (double)done);
    human_bytes(t, sizeof(t), (double)p->total);
    human_bytes(r, sizeof(r), rate);
    if (final)
        snprintf(eta, sizeof(eta), "in %.1f s", secs);
    else if (rate > 0 && done < p->total)
        snprintf(eta, sizeof(eta), "ETA %.0f s", (double)(p->total - done) / rate);
    else
        snprintf(eta, sizeof(eta), "ETA -");
    fprintf(stderr, "\r%s %3d%% %s / %s  %s/s  %s\033[K%s", p->label, pct, d, t, r, eta,
            final ? "\n" : "");
    fflush(stderr);
}

void progress_update(struct progress *p, uint64_t done)
{
    int64_t now = time_mono_us();
    if (!p->enabled || now - p->last_us < 200000)
        return;
    p->last_us = now;
    progress_draw(p, done, false);
}

void progress_end(struct progress *p, uint64_t done)
{
    if (p->enabled)
        progress_draw(p, done, true);
}

struct stream_sink {
    struct client_stream *s;
    struct buf body;      /* non-2xx or JSON bodies */
    bool to_writer;
};

static size_t stream_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct stream_sink *k = arg;
    size_t n = size * nmemb;
    if (k->to_writer) {
        if (k->s->write(data, n, k->s->ctx)) {
            k->s->write_failed = true;
            return 0;
        }
        return n;
    }
    return buf_add(&k->body, data, n) ? 0 : n;
}

static void copy_header(const char *data, size_t n, const char *name, char *out, size_t size)
{
    size_t i = strlen(name), k = 0;
    if (n <= i || strncasecmp(data, name, i))
        return;
    while (i < n && (data[i] == ' ' || data[i] == '\t'))
        i++;
    while (i < n && k + 1 < size && data[i] != '\r' && data[i] != '\n')
        out[k++] = data[i++];
    out[k] = '\0';
}

static size_t stream_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct stream_sink *k = arg;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* A new response (after 100 Continue, say): decide where its body goes. */
        long status = 0;
        const char *sp = memchr(data, ' ', n);
        if (sp)
            status = strtol(sp + 1, NULL, 10);
        k->to_writer = k->s->write && status >= 200 && status < 300;
        buf_reset(&k->body);
    }
    copy_header(data, n, "upload-offset:", k->s->upload_offset, sizeof(k->s->upload_offset));
    copy_header(data, n, "x-content-sha256:", k->s->content_sha256,
                sizeof(k->s->content_sha256));
    copy_header(data, n, "x-agora-stored:", k->s->stored, sizeof(k->s->stored));
    if (n > 13 && !strncasecmp(data, "content-type:", 13) && strstr(data, "application/json"))
        k->to_writer = false; /* a JSON answer is for us, whatever the status */
    return n;
}

static size_t stream_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct client_stream *s = arg;
    return s->read(buf, size * nitems, s->ctx);
}

static int stream_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    struct client_stream *s = arg;
    UNUSED(dltotal);
    UNUSED(ultotal);
    if (s->progress)
        s->progress(s->ctx, (uint64_t)ulnow, (uint64_t)dlnow);
    return 0;
}

int client_stream(struct client *c, struct client_stream *s)
{
    CURL *h = c->curl;
    struct curl_slist *hdrs = NULL, *tmp;
    struct stream_sink k;
    struct buf url, auth;
    char errbuf[CURL_ERROR_SIZE];
    struct ag_err e;
    CURLcode cc;
    int rc = EXIT_ERR;

    memset(&k, 0, sizeof(k));
    k.s = s;
    s->status = 0;
    s->body = NULL;
    s->upload_offset[0] = s->content_sha256[0] = s->stored[0] = '\0';
    s->write_failed = false;
    buf_init(&k.body, (size_t)1 << 20);
    buf_init(&url, PATH_CAP + 2048);
    buf_init(&auth, 4096);
    errbuf[0] = '\0';
    if (buf_addf(&url, "%s%s", c->node, s->path)) {
        rc = cli_fail(c->cmd, "request URL is too long");
        goto out;
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "agora-cli/0.1.0");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, stream_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &k);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->method);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
    if (s->max_send_speed > 0)
        curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)s->max_send_speed);
    if (s->upload_len >= 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, stream_read);
        curl_easy_setopt(h, CURLOPT_READDATA, s);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->upload_len);
    }
    if (c->token) {
        if (buf_addf(&auth, "Authorization: Bearer %s", c->token)) {
            rc = cli_fail(c->cmd, "the API token is too long");
            goto out;
        }
        if (!(tmp = curl_slist_append(hdrs, auth.p)))
            goto oom;
        hdrs = tmp;
    }
    for (size_t i = 0; i < ARRAY_SIZE(s->headers) && s->headers[i]; i++) {
        if (!(tmp = curl_slist_append(hdrs, s->headers[i])))
            goto oom;
        hdrs = tmp;
    }
    if (!(tmp = curl_slist_append(hdrs, "Expect:")))
        goto oom;
    hdrs = tmp;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(h);
    if (s->write_failed) {
        rc = EXIT_ERR; /* the writer printed why */
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = cli_fail(c->cmd, "transfer with %s failed: %s", c->node,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->status);
    if (k.body.n) {
        ag_err_clear(&e);
        if (json_parse(k.body.p, k.body.n, &s->body, &e))
            s->body = NULL;
    }
    rc = 0;
    goto out;
oom:
    rc = cli_fail(c->cmd, "out of memory");
out:
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (auth.n)
        explicit_bzero(auth.p, auth.n);
    buf_release(&auth);
    buf_release(&url);
    buf_release(&k.body);
    return rc;
}
