/* cmd_model.c - `agora model create|edit|show|list|delete`: a seller's listings. */
#include "core/common.h"

#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/err.h"
#include "core/util.h"

#define REF_MAX    128 /* bytes of an owner or a slug, with the NUL */
#define LIST_PAGES 20  /* `model list` follows at most this many pages */
#define LIST_PAGE  50  /* listings per page */

enum {
    O_TITLE,
    O_SUMMARY,
    O_CARD,
    O_TASK,
    O_LIBRARY,
    O_LICENSE,
    O_TAG,
    O_PRICE,
    O_VISIBILITY,
    O_JSON,
    O_COUNT
};

static void model_opts(struct cli_opt *o)
{
    static const struct cli_opt proto[O_COUNT] = {
        [O_TITLE] = CLI_OPT("title", CLI_VALUE),
        [O_SUMMARY] = CLI_OPT("summary", CLI_VALUE),
        [O_CARD] = CLI_OPT("card", CLI_VALUE),
        [O_TASK] = CLI_OPT("task", CLI_VALUE),
        [O_LIBRARY] = CLI_OPT("library", CLI_VALUE),
        [O_LICENSE] = CLI_OPT("license", CLI_VALUE),
        [O_TAG] = CLI_OPT("tag", CLI_LIST),
        [O_PRICE] = CLI_OPT("price", CLI_VALUE),
        [O_VISIBILITY] = CLI_OPT("visibility", CLI_VALUE),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    memcpy(o, proto, sizeof(proto));
}

/* read_card() reads a model card from `file` ("-" for stdin) into `b`.
 * Returns 0, or prints why and returns EXIT_ERR. */
static int read_card(const char *file, struct buf *b)
{
    char chunk[8192];
    ssize_t n;

    if (strcmp(file, "-")) {
        int rc = buf_read_file(b, file);
        if (rc == AG_ETOOBIG)
            return cli_fail("model", "card %s is larger than %zu KiB", file, CLIENT_MAX_FILE >> 10);
        if (rc)
            return cli_fail("model", "cannot read card %s: %s", file, strerror(errno));
        return 0;
    }
    while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cli_fail("model", "cannot read the card from stdin: %s", strerror(errno));
        if (buf_add(b, chunk, (size_t)n))
            return cli_fail("model", "card on stdin is larger than %zu KiB", CLIENT_MAX_FILE >> 10);
    }
    return 0;
}

/* model_body() builds the JSON of a create or edit from the options given.
 * Returns 0 with a new object in *out, or EXIT_ERR / EXIT_USAGE. */
static int model_body(struct client *c, struct cli_opt *o, json_t **out)
{
    static const struct {
        int opt;
        const char *key;
    } plain[] = {
        {O_TITLE, "title"},           {O_SUMMARY, "summary"}, {O_TASK, "task"},
        {O_LIBRARY, "library"},       {O_LICENSE, "license"}, {O_PRICE, "price"},
        {O_VISIBILITY, "visibility"},
    };
    json_t *body = json_object(), *tags;
    struct buf card;
    int rc = 0;

    buf_init(&card, CLIENT_MAX_FILE);
    if (!body)
        return cli_fail("model", "out of memory");
    for (size_t i = 0; i < ARRAY_SIZE(plain) && !rc; i++)
        if (o[plain[i].opt].set)
            rc = client_set_str(c, body, plain[i].key, o[plain[i].opt].value);
    if (!rc && o[O_TAG].set) {
        tags = json_array();
        if (!tags || json_object_set_new(body, "tags", tags))
            rc = cli_fail("model", "out of memory");
        for (size_t i = 0; !rc && i < o[O_TAG].nlist; i++) {
            json_t *t;
            if (!utf8_valid(o[O_TAG].list[i], strlen(o[O_TAG].list[i])))
                rc = cli_fail("model", "tag \"%s\" is not valid UTF-8", o[O_TAG].list[i]);
            else if (!(t = json_string(o[O_TAG].list[i])) || json_array_append_new(tags, t))
                rc = cli_fail("model", "out of memory");
        }
    }
    if (!rc && o[O_CARD].set) {
        rc = read_card(o[O_CARD].value, &card);
        if (!rc && !utf8_valid(card.p, card.n))
            rc = cli_fail("model", "card %s is not valid UTF-8", o[O_CARD].value);
        if (!rc && strlen(card.p) != card.n)
            rc = cli_fail("model", "card %s contains NUL bytes", o[O_CARD].value);
        if (!rc)
            rc = client_set_str(c, body, "card", card.p);
    }
    buf_release(&card);
    if (rc) {
        json_decref(body);
        return rc;
    }
    *out = body;
    return 0;
}

/* print_model() prints a MODEL as a key-value block followed by its card. */
static void print_model(json_t *m)
{
    struct buf b;
    json_t *v;

    buf_init(&b, CLIENT_MAX_RESPONSE);
    client_text(&b, json_string_value(json_object_get(m, "owner")) ?: "?", false);
    buf_addc(&b, '/');
    client_text(&b, json_string_value(json_object_get(m, "slug")) ?: "?", false);
    client_kv("Model", b.p);
    client_kv_json("Title", json_object_get(m, "title"));
    client_kv_json("Summary", json_object_get(m, "summary"));
    client_kv_json("Task", json_object_get(m, "task"));
    client_kv_json("Library", json_object_get(m, "library"));
    client_kv_json("License", json_object_get(m, "license"));
    client_kv_json("Tags", json_object_get(m, "tags"));
    if (json_array_size(json_object_get(m, "datasets")))
        client_kv_json("Datasets", json_object_get(m, "datasets"));
    if (json_array_size(json_object_get(m, "metrics")))
        client_kv_json("Metrics", json_object_get(m, "metrics"));
    if (json_array_size(json_object_get(m, "language")))
        client_kv_json("Language", json_object_get(m, "language"));
    v = json_object_get(m, "base_model");
    if (json_is_string(v) && json_string_length(v))
        client_kv_json("Base model", v);
    buf_reset(&b);
    v = json_object_get(m, "price");
    client_fmt_price(&b, v);
    if (strcmp(b.p, "free") && json_is_string(v)) {
        buf_adds(&b, " tokens (");
        client_text(&b, json_string_value(v), false);
        buf_adds(&b, " units)");
    }
    client_kv("Price", b.p);
    client_kv_json("Visibility", json_object_get(m, "visibility"));
    if (json_object_get(m, "latest_version"))
        client_kv_json("Latest", json_object_get(m, "latest_version"));
    client_kv_json("Downloads", json_object_get(m, "downloads"));
    client_kv_json("Likes", json_object_get(m, "likes"));
    if ((v = json_object_get(m, "liked")) && json_is_boolean(v))
        client_kv_json("Liked by you", v);
    buf_reset(&b);
    client_fmt_rating(&b, m);
    client_kv("Rating", b.p);
    buf_reset(&b);
    client_fmt_time(&b, json_object_get(m, "created_at"));
    client_kv("Created", b.p);
    buf_reset(&b);
    client_fmt_time(&b, json_object_get(m, "updated_at"));
    client_kv("Updated", b.p);
    v = json_object_get(m, "card");
    if (json_is_string(v) && json_string_length(v)) {
        buf_reset(&b);
        client_text(&b, json_string_value(v), true);
        printf("\n%s%s", b.p, (b.n && b.p[b.n - 1] == '\n') ? "" : "\n");
    }
    buf_release(&b);
}

static int model_create(struct client *c, struct cli_opt *o, struct cli_args *a)
{
    json_t *body = NULL, *res = NULL;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("model", a->npos ? "too many arguments" : "SLUG is missing");
    if (!o[O_TITLE].set)
        return cli_bad_usage("model", "--title is required");
    if (strchr(a->pos[0], '/'))
        return cli_bad_usage("model", "give the SLUG alone: the owner is you");
    rc = client_need_auth(c);
    if (!rc)
        rc = model_body(c, o, &body);
    if (!rc)
        rc = client_set_str(c, body, "slug", a->pos[0]);
    if (!rc)
        rc = client_call(c, "POST", "/api/v1/models", body, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            print_model(res);
    }
    json_decref(body);
    json_decref(res);
    return rc;
}

static int model_edit(struct client *c, struct cli_opt *o, struct cli_args *a)
{
    char owner[REF_MAX], slug[REF_MAX];
    json_t *body = NULL, *res = NULL;
    struct buf path;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("model", a->npos ? "too many arguments" : "OWNER/SLUG is missing");
    rc = cli_model_ref("model", a->pos[0], owner, slug, sizeof(owner));
    if (rc)
        return rc;
    buf_init(&path, 4096);
    rc = model_body(c, o, &body);
    if (!rc && json_object_size(body) == 0)
        rc = cli_bad_usage("model", "nothing to change: give at least one option");
    if (!rc)
        rc = client_need_auth(c);
    if (!rc)
        rc = client_model_path(c, &path, owner, slug);
    if (!rc)
        rc = client_call(c, "PATCH", path.p, body, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            print_model(res);
    }
    buf_release(&path);
    json_decref(body);
    json_decref(res);
    return rc;
}

static int model_show(struct client *c, struct cli_opt *o, struct cli_args *a)
{
    char owner[REF_MAX], slug[REF_MAX];
    json_t *res = NULL;
    struct buf path;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("model", a->npos ? "too many arguments" : "OWNER/SLUG is missing");
    rc = cli_model_ref("model", a->pos[0], owner, slug, sizeof(owner));
    if (rc)
        return rc;
    buf_init(&path, 4096);
    rc = client_model_path(c, &path, owner, slug);
    if (!rc)
        rc = client_call(c, "GET", path.p, NULL, &res);
    if (!rc) {
        if (o[O_JSON].set)
            client_print_json(res);
        else
            print_model(res);
    }
    buf_release(&path);
    json_decref(res);
    return rc;
}

static int list_table(json_t *items)
{
    static const char *const head[] = {"MODEL", "TITLE",     "VISIBILITY", "PRICE",
                                       "LIKES", "DOWNLOADS", "UPDATED"};
    static const size_t maxw[] = {48, 40, 0, 24, 0, 0, 0};
    struct table t;
    struct row r;
    json_t *m;
    size_t i;
    int rc = 0;

    table_init(&t, ARRAY_SIZE(head), head, maxw);
    row_init(&r, ARRAY_SIZE(head));
    json_array_foreach(items, i, m)
    {
        client_fmt(&r.cell[0], json_object_get(m, "owner"));
        buf_addc(&r.cell[0], '/');
        client_fmt(&r.cell[0], json_object_get(m, "slug"));
        client_fmt(&r.cell[1], json_object_get(m, "title"));
        client_fmt(&r.cell[2], json_object_get(m, "visibility"));
        client_fmt_price(&r.cell[3], json_object_get(m, "price"));
        client_fmt(&r.cell[4], json_object_get(m, "likes"));
        client_fmt(&r.cell[5], json_object_get(m, "downloads"));
        client_fmt_time(&r.cell[6], json_object_get(m, "updated_at"));
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

static int model_list(struct client *c, struct cli_opt *o, struct cli_args *a)
{
    char owner[REF_MAX];
    json_t *all = json_array(), *page = NULL, *items, *out = NULL;
    const char *cursor = NULL;
    struct buf path;
    bool more = false;
    int rc = 0;

    buf_init(&path, 8192);
    if (!all) {
        rc = cli_fail("model", "out of memory");
        goto out;
    }
    if (a->npos > 1) {
        rc = cli_bad_usage("model", "too many arguments");
        goto out;
    }
    owner[0] = '\0';
    if (a->npos == 1) {
        if (strlen(a->pos[0]) >= sizeof(owner) || !a->pos[0][0] || strchr(a->pos[0], '/')) {
            rc = cli_bad_usage("model", "\"%s\" is not a username", a->pos[0]);
            goto out;
        }
        str_copy(owner, a->pos[0], sizeof(owner));
    } else if (c->token) {
        rc = client_me(c, owner, sizeof(owner));
        if (rc)
            goto out;
    }
    /* Page through everything (newest first), up to LIST_PAGES pages. */
    for (int n = 0; n < LIST_PAGES; n++) {
        char lim[16];
        buf_reset(&path);
        snprintf(lim, sizeof(lim), "%d", LIST_PAGE);
        rc = buf_adds(&path, "/api/v1/models") ? cli_fail("model", "out of memory") : 0;
        if (!rc && owner[0])
            rc = client_query(c, &path, "owner", owner);
        if (!rc)
            rc = client_query(c, &path, "sort", "newest");
        if (!rc)
            rc = client_query(c, &path, "limit", lim);
        if (!rc && cursor)
            rc = client_query(c, &path, "cursor", cursor);
        json_decref(page);
        page = NULL;
        if (!rc)
            rc = client_call(c, "GET", path.p, NULL, &page);
        if (rc)
            goto out;
        items = json_object_get(page, "items");
        if (!json_is_array(items) || json_array_extend(all, items)) {
            rc = cli_fail("model", "the node's answer has no list of items");
            goto out;
        }
        cursor = json_string_value(json_object_get(page, "next_cursor"));
        more = cursor && *cursor;
        if (!more)
            break;
    }
    if (o[O_JSON].set) {
        out = json_pack("{s:O, s:O}", "items", all, "total",
                        json_object_get(page, "total") ?: json_null());
        client_print_json(out);
        goto out;
    }
    if (json_array_size(all) == 0) {
        printf("No listings%s%s.\n", owner[0] ? " by " : "", owner);
        goto out;
    }
    rc = list_table(all);
    if (!rc && more)
        printf("(only the newest %zu are shown; use `agora search --owner %s` to page further)\n",
               json_array_size(all), owner[0] ? owner : "USER");
out:
    buf_release(&path);
    json_decref(page);
    json_decref(all);
    json_decref(out);
    return rc;
}

static int model_delete(struct client *c, struct cli_opt *o, struct cli_args *a)
{
    char owner[REF_MAX], slug[REF_MAX];
    struct buf path;
    int rc;

    if (a->npos != 1)
        return cli_bad_usage("model", a->npos ? "too many arguments" : "OWNER/SLUG is missing");
    rc = cli_model_ref("model", a->pos[0], owner, slug, sizeof(owner));
    if (rc)
        return rc;
    buf_init(&path, 4096);
    rc = client_need_auth(c);
    if (!rc)
        rc = client_model_path(c, &path, owner, slug);
    if (!rc)
        rc = client_call(c, "DELETE", path.p, NULL, NULL);
    if (!rc)
        printf("Deleted %s/%s.\n", owner, slug);
    buf_release(&path);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct client *, struct cli_opt *, struct cli_args *);
        bool edits; /* takes the create/edit options */
    } subs[] = {
        {"create", model_create, true},  {"edit", model_edit, true},
        {"show", model_show, false},     {"list", model_list, false},
        {"delete", model_delete, false},
    };
    struct cli_opt o[O_COUNT];
    struct cli_args a;
    struct client c;
    const char *sub = argc > 1 ? argv[1] : "";
    size_t i;
    int rc;

    if (cli_wants_help(argc, argv))
        return cli_help("model");
    for (i = 0; i < ARRAY_SIZE(subs); i++)
        if (!strcmp(sub, subs[i].name))
            break;
    if (i == ARRAY_SIZE(subs))
        return cli_bad_usage("model", *sub ? "unknown subcommand \"%s\"" : "subcommand missing%s",
                             sub);
    model_opts(o);
    rc = cli_parse("model", argc, argv, 2, o, O_COUNT, &a);
    if (rc)
        return rc;
    /* show and list take --json and nothing else; delete takes nothing. */
    if (!subs[i].edits) {
        for (int k = 0; k < O_COUNT; k++)
            if (o[k].set && (k != O_JSON || subs[i].fn == model_delete))
                return cli_bad_usage("model", "model %s takes no --%s", sub, o[k].name);
    }
    rc = client_open(&c, "model", a.node);
    if (!rc)
        rc = subs[i].fn(&c, o, &a);
    client_close(&c);
    return rc;
}
