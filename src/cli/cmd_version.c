/* cmd_version.c - `agora version create|publish|show|list`: versions of a listing. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/util.h"

#define REF_MAX 128

enum { O_CHANGELOG, O_FILE, O_PUBLISH, O_JSON, O_COUNT };

/* version_path() writes /api/v1/models/OWNER/SLUG/versions[/VERSION[/publish]]. */
static int version_path(struct client *c, struct buf *path, const char *ref, const char *version,
                        bool publish)
{
    char owner[REF_MAX], slug[REF_MAX];
    int rc = cli_model_ref("version", ref, owner, slug, sizeof(owner));

    if (!rc)
        rc = client_model_path(c, path, owner, slug);
    if (!rc && buf_adds(path, "/versions"))
        rc = cli_fail("version", "out of memory");
    if (!rc && version)
        rc = client_seg(c, path, version);
    if (!rc && publish && buf_adds(path, "/publish"))
        rc = cli_fail("version", "out of memory");
    return rc;
}

/* files_json() turns --file NAME:SIZE options into [{name, size}]. Returns 0
 * or EXIT_USAGE / EXIT_ERR. */
static int files_json(struct client *c, const struct cli_opt *o, json_t **out)
{
    json_t *files = json_array();
    int rc = files ? 0 : cli_fail("version", "out of memory");

    for (size_t i = 0; !rc && i < o->nlist; i++) {
        const char *arg = o->list[i], *colon = strrchr(arg, ':');
        uint64_t size;
        json_t *f;
        char *name;

        if (!colon || colon == arg || parse_u64(colon + 1, &size) || size > (uint64_t)INT64_MAX) {
            rc = cli_bad_usage("version", "--file \"%s\" is not NAME:SIZE (SIZE in bytes)", arg);
            break;
        }
        name = strndup(arg, (size_t)(colon - arg));
        if (!name) {
            rc = cli_fail("version", "out of memory");
            break;
        }
        f = json_pack("{s:I}", "size", (json_int_t)size);
        rc = f ? client_set_str(c, f, "name", name) : cli_fail("version", "out of memory");
        if (!rc && json_array_append(files, f))
            rc = cli_fail("version", "out of memory");
        json_decref(f);
        free(name);
    }
    if (rc) {
        json_decref(files);
        return rc;
    }
    *out = files;
    return 0;
}

static void fmt_size(struct buf *b, json_t *v)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
    double x;
    size_t u = 0;

    if (!json_is_integer(v) || json_integer_value(v) < 1024) {
        client_fmt(b, v);
        return;
    }
    x = (double)json_integer_value(v) / 1024.0;
    while (x >= 1024.0 && u + 1 < ARRAY_SIZE(unit)) {
        x /= 1024.0;
        u++;
    }
    buf_addf(b, "%.1f %s", x, unit[u]);
}

/* print_version() prints a VERSION as a key-value block and a table of files. */
static int print_version(const char *ref, json_t *v)
{
    static const char *const head[] = {"FILE", "SIZE", "CID", "SHA256"};
    static const size_t maxw[] = {48, 0, 0, 0};
    json_t *files = json_object_get(v, "files"), *f;
    struct table t;
    struct row r;
    struct buf b;
    size_t i;
    int rc = 0;

    buf_init(&b, 1 << 16);
    client_kv("Model", ref);
    client_kv_json("Version", json_object_get(v, "version"));
    client_kv_json("State", json_object_get(v, "state"));
    client_kv_json("Changelog", json_object_get(v, "changelog"));
    client_fmt_time(&b, json_object_get(v, "created_at"));
    client_kv("Created", b.p);
    buf_reset(&b);
    client_fmt_time(&b, json_object_get(v, "published_at"));
    client_kv("Published", b.p);
    buf_release(&b);
    if (!json_array_size(files)) {
        client_kv("Files", "-");
        return 0;
    }
    printf("\n");
    table_init(&t, ARRAY_SIZE(head), head, maxw);
    row_init(&r, ARRAY_SIZE(head));
    json_array_foreach(files, i, f)
    {
        client_fmt(&r.cell[0], json_object_get(f, "name"));
        fmt_size(&r.cell[1], json_object_get(f, "size"));
        client_fmt(&r.cell[2], json_object_get(f, "cid"));
        client_fmt(&r.cell[3], json_object_get(f, "sha256"));
        rc = table_add(&t, &r);
        if (rc)
            break;
    }
    if (!rc)
        table_print(&t, stdout);
    row_release(&r);
    table_release(&t);
    return rc;
}

static int print_list(json_t *res)
{
    static const char *const head[] = {"VERSION", "STATE",     "FILES",
                                       "CREATED", "PUBLISHED", "CHANGELOG"};
    static const size_t maxw[] = {32, 0, 0, 0, 0, 50};
    json_t *list = json_object_get(res, "versions"), *v;
    struct table t;
    struct row r;
    size_t i;
    int rc = 0;

    if (!json_array_size(list)) {
        printf("No versions yet.\n");
        return 0;
    }
    table_init(&t, ARRAY_SIZE(head), head, maxw);
    row_init(&r, ARRAY_SIZE(head));
    json_array_foreach(list, i, v)
    {
        client_fmt(&r.cell[0], json_object_get(v, "version"));
        client_fmt(&r.cell[1], json_object_get(v, "state"));
        buf_addf(&r.cell[2], "%zu", json_array_size(json_object_get(v, "files")));
        client_fmt_time(&r.cell[3], json_object_get(v, "created_at"));
        client_fmt_time(&r.cell[4], json_object_get(v, "published_at"));
        client_fmt(&r.cell[5], json_object_get(v, "changelog"));
        rc = table_add(&t, &r);
        if (rc)
            break;
    }
    if (!rc)
        table_print(&t, stdout);
    row_release(&r);
    table_release(&t);
    return rc;
}

static int version_create(struct client *c, struct cli_opt *o, struct cli_args *a, struct buf *path)
{
    json_t *body = json_object(), *files = NULL, *res = NULL;
    int rc = body ? 0 : cli_fail("version", "out of memory");

    if (!rc && a->npos != 2)
        rc = cli_bad_usage("version", a->npos > 2 ? "too many arguments"
                                                  : "OWNER/SLUG and VERSION are needed");
    if (!rc)
        rc = version_path(c, path, a->pos[0], NULL, false);
    if (!rc)
        rc = client_set_str(c, body, "version", a->pos[1]);
    if (!rc && o[O_CHANGELOG].set)
        rc = client_set_str(c, body, "changelog", o[O_CHANGELOG].value);
    if (!rc && o[O_FILE].set) {
        rc = files_json(c, &o[O_FILE], &files);
        if (!rc && json_object_set_new(body, "files", files))
            rc = cli_fail("version", "out of memory");
    }
    if (!rc && o[O_PUBLISH].set && json_object_set_new(body, "publish", json_true()))
        rc = cli_fail("version", "out of memory");
    if (!rc)
        rc = client_need_auth(c);
    if (!rc)
        rc = client_call(c, "POST", path->p, body, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            rc = print_version(a->pos[0], res);
    }
    json_decref(body);
    json_decref(res);
    return rc;
}

static int version_publish(struct client *c, struct cli_opt *o, struct cli_args *a,
                           struct buf *path)
{
    json_t *res = NULL;
    int rc = 0;

    if (a->npos != 2)
        return cli_bad_usage("version", a->npos > 2 ? "too many arguments"
                                                    : "OWNER/SLUG and VERSION are needed");
    rc = version_path(c, path, a->pos[0], a->pos[1], true);
    if (!rc)
        rc = client_need_auth(c);
    if (!rc)
        rc = client_call(c, "POST", path->p, NULL, &res);
    if (!rc) {
        if (o[O_JSON].set) {
            client_print_json(res);
        } else {
            struct buf b;
            buf_init(&b, 256);
            client_fmt(&b, json_object_get(res, "version"));
            printf("Published %s@%s.\n", a->pos[0], b.p);
            buf_release(&b);
        }
    }
    json_decref(res);
    return rc;
}

static int version_show(struct client *c, struct cli_opt *o, struct cli_args *a, struct buf *path)
{
    char ref[2 * REF_MAX + 2];
    const char *version = "latest";
    char *at;
    json_t *res = NULL;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("version",
                             a->npos ? "too many arguments" : "OWNER/SLUG[@VERSION] is missing");
    if (str_copy(ref, a->pos[0], sizeof(ref)) >= sizeof(ref))
        return cli_bad_usage("version", "model reference is too long");
    at = strrchr(ref, '@');
    if (at) {
        *at = '\0';
        version = at + 1;
        if (!*version)
            return cli_bad_usage("version", "nothing after '@' in \"%s\"", a->pos[0]);
    }
    rc = version_path(c, path, ref, version, false);
    if (!rc)
        rc = client_call(c, "GET", path->p, NULL, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            rc = print_version(ref, res);
    }
    json_decref(res);
    return rc;
}

static int version_list(struct client *c, struct cli_opt *o, struct cli_args *a, struct buf *path)
{
    json_t *res = NULL;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("version", a->npos ? "too many arguments" : "OWNER/SLUG is missing");
    rc = version_path(c, path, a->pos[0], NULL, false);
    if (!rc)
        rc = client_call(c, "GET", path->p, NULL, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            rc = print_list(res);
    }
    json_decref(res);
    return rc;
}

int cmd_version(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct client *, struct cli_opt *, struct cli_args *, struct buf *);
        bool creates; /* takes --changelog, --file and --publish */
    } subs[] = {
        {"create", version_create, true},
        {"publish", version_publish, false},
        {"show", version_show, false},
        {"list", version_list, false},
    };
    struct cli_opt o[O_COUNT] = {
        [O_CHANGELOG] = CLI_OPT("changelog", CLI_VALUE),
        [O_FILE] = CLI_OPT("file", CLI_LIST),
        [O_PUBLISH] = CLI_OPT("publish", CLI_FLAG),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    struct cli_args a;
    struct client c;
    struct buf path;
    const char *sub = argc > 1 ? argv[1] : "";
    size_t i;
    int rc;

    if (cli_wants_help(argc, argv))
        return cli_help("version");
    for (i = 0; i < ARRAY_SIZE(subs); i++)
        if (!strcmp(sub, subs[i].name))
            break;
    if (i == ARRAY_SIZE(subs))
        return cli_bad_usage("version", *sub ? "unknown subcommand \"%s\"" : "subcommand missing%s",
                             sub);
    rc = cli_parse("version", argc, argv, 2, o, O_COUNT, &a);
    if (rc)
        return rc;
    if (!subs[i].creates)
        for (int k = 0; k < O_JSON; k++)
            if (o[k].set)
                return cli_bad_usage("version", "version %s takes no --%s", sub, o[k].name);
    buf_init(&path, 4096);
    rc = client_open(&c, "version", a.node);
    if (!rc)
        rc = subs[i].fn(&c, o, &a, &path);
    client_close(&c);
    buf_release(&path);
    return rc;
}
