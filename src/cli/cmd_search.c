/* cmd_search.c - `agora search`: full-text search with filters, sorts, pages and facets. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/util.h"

enum {
    O_TASK,
    O_LICENSE,
    O_LIBRARY,
    O_TAG,
    O_OWNER,
    O_FREE,
    O_MIN_RATING,
    O_PRICE_MIN,
    O_PRICE_MAX,
    O_SORT,
    O_LIMIT,
    O_CURSOR,
    O_JSON,
    O_COUNT
};

/* The options that become query parameters as they are. */
static const struct {
    int opt;
    const char *param;
} params[] = {
    {O_TASK, "task"},
    {O_LICENSE, "license"},
    {O_LIBRARY, "library"},
    {O_OWNER, "owner"},
    {O_MIN_RATING, "min_rating"},
    {O_PRICE_MIN, "price_min"},
    {O_PRICE_MAX, "price_max"},
    {O_SORT, "sort"},
    {O_LIMIT, "limit"},
    {O_CURSOR, "cursor"},
};

static const char *const sorts[] = {"relevance", "newest", "updated",   "downloads",
                                    "likes",     "rating", "price_asc", "price_desc"};

/* check_opts() catches what is wrong with the options before asking the node. */
static int check_opts(struct cli_opt *o)
{
    int64_t n;
    char *end;
    double r;
    bool ok = false;

    if (o[O_SORT].set) {
        for (size_t i = 0; i < ARRAY_SIZE(sorts); i++)
            ok |= !strcmp(o[O_SORT].value, sorts[i]);
        if (!ok)
            return cli_bad_usage("search", "unknown sort \"%s\"", o[O_SORT].value);
    }
    if (o[O_LIMIT].set && (parse_i64(o[O_LIMIT].value, &n) || n < 1 || n > 100))
        return cli_bad_usage("search", "--limit must be a number from 1 to 100");
    if (o[O_MIN_RATING].set) {
        errno = 0;
        r = strtod(o[O_MIN_RATING].value, &end);
        if (errno || end == o[O_MIN_RATING].value || *end || !(r >= 0 && r <= 5))
            return cli_bad_usage("search", "--min-rating must be a number from 0 to 5");
    }
    return 0;
}

static int search_path(struct client *c, struct cli_opt *o, struct cli_args *a, struct buf *path)
{
    struct buf q;
    int rc = 0;

    buf_init(&q, 4096);
    for (size_t i = 0; i < a->npos && !rc; i++)
        if ((i && buf_addc(&q, ' ')) || buf_adds(&q, a->pos[i]))
            rc = cli_fail("search", "the query is too long");
    if (!rc && buf_adds(path, "/api/v1/models"))
        rc = cli_fail("search", "out of memory");
    if (!rc && q.n)
        rc = client_query(c, path, "q", q.p);
    for (size_t i = 0; i < ARRAY_SIZE(params) && !rc; i++)
        if (o[params[i].opt].set)
            rc = client_query(c, path, params[i].param, o[params[i].opt].value);
    for (size_t i = 0; i < o[O_TAG].nlist && !rc; i++)
        rc = client_query(c, path, "tag", o[O_TAG].list[i]);
    if (!rc && o[O_FREE].set)
        rc = client_query(c, path, "free", "true");
    buf_release(&q);
    return rc;
}

static int print_results(json_t *res)
{
    static const char *const head[] = {"MODEL", "TITLE", "TASK",      "LICENSE",
                                       "PRICE", "LIKES", "DOWNLOADS", "RATING"};
    static const size_t maxw[] = {40, 36, 24, 16, 22, 0, 0, 0};
    json_t *items = json_object_get(res, "items"), *m, *total = json_object_get(res, "total");
    struct table t;
    struct row r;
    size_t i;
    int rc = 0;

    if (!json_array_size(items)) {
        printf("No models found.\n");
        return 0;
    }
    table_init(&t, ARRAY_SIZE(head), head, maxw);
    row_init(&r, ARRAY_SIZE(head));
    json_array_foreach(items, i, m)
    {
        client_fmt(&r.cell[0], json_object_get(m, "owner"));
        buf_addc(&r.cell[0], '/');
        client_fmt(&r.cell[0], json_object_get(m, "slug"));
        client_fmt(&r.cell[1], json_object_get(m, "title"));
        client_fmt(&r.cell[2], json_object_get(m, "task"));
        client_fmt(&r.cell[3], json_object_get(m, "license"));
        client_fmt_price(&r.cell[4], json_object_get(m, "price"));
        client_fmt(&r.cell[5], json_object_get(m, "likes"));
        client_fmt(&r.cell[6], json_object_get(m, "downloads"));
        client_fmt_rating(&r.cell[7], m);
        rc = table_add(&t, &r);
        if (rc)
            break;
    }
    if (!rc)
        table_print(&t, stdout);
    row_release(&r);
    table_release(&t);
    if (json_is_integer(total))
        printf("\n%zu shown of %" JSON_INTEGER_FORMAT " %s.\n", json_array_size(items),
               json_integer_value(total), json_integer_value(total) == 1 ? "match" : "matches");
    return rc;
}

static void print_facets(json_t *facets)
{
    static const char *const names[] = {"task", "license", "library"};
    static const char *const labels[] = {"  Task", "  License", "  Library"};
    struct buf b;
    bool any = false;

    buf_init(&b, 1 << 16);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        json_t *f = json_object_get(facets, names[i]), *n;
        const char *key;
        bool first = true;

        if (!json_object_size(f))
            continue;
        buf_reset(&b);
        json_object_foreach(f, key, n)
        {
            if (!first)
                buf_adds(&b, ", ");
            first = false;
            client_text(&b, *key ? key : "(none)", false);
            buf_adds(&b, " (");
            client_fmt(&b, n);
            buf_adds(&b, ")");
        }
        if (!any)
            printf("\nFacets:\n");
        any = true;
        client_kv(labels[i], b.p);
    }
    buf_release(&b);
}

int cmd_search(int argc, char **argv)
{
    struct cli_opt o[O_COUNT] = {
        [O_TASK] = CLI_OPT("task", CLI_VALUE),
        [O_LICENSE] = CLI_OPT("license", CLI_VALUE),
        [O_LIBRARY] = CLI_OPT("library", CLI_VALUE),
        [O_TAG] = CLI_OPT("tag", CLI_LIST),
        [O_OWNER] = CLI_OPT("owner", CLI_VALUE),
        [O_FREE] = CLI_OPT("free", CLI_FLAG),
        [O_MIN_RATING] = CLI_OPT("min-rating", CLI_VALUE),
        [O_PRICE_MIN] = CLI_OPT("price-min", CLI_VALUE),
        [O_PRICE_MAX] = CLI_OPT("price-max", CLI_VALUE),
        [O_SORT] = CLI_OPT("sort", CLI_VALUE),
        [O_LIMIT] = CLI_OPT("limit", CLI_VALUE),
        [O_CURSOR] = CLI_OPT("cursor", CLI_VALUE),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    struct cli_args a;
    struct client c;
    struct buf path;
    json_t *res = NULL;
    const char *next;
    int rc = cli_parse("search", argc, argv, 1, o, O_COUNT, &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("search");
    rc = check_opts(o);
    if (rc)
        return rc;
    buf_init(&path, 16384);
    rc = client_open(&c, "search", a.node);
    if (!rc)
        rc = search_path(&c, o, &a, &path);
    if (!rc)
        rc = client_call(&c, "GET", path.p, NULL, &res);
    if (rc)
        goto out;
    if (o[O_JSON].set) {
        client_print_json(res);
        goto out;
    }
    rc = print_results(res);
    next = json_string_value(json_object_get(res, "next_cursor"));
    if (!rc && next && *next) {
        struct buf b;
        buf_init(&b, 4096);
        client_text(&b, next, false);
        printf("More results: add --cursor %s\n", b.p);
        buf_release(&b);
    }
    if (!rc)
        print_facets(json_object_get(res, "facets"));
out:
    json_decref(res);
    buf_release(&path);
    client_close(&c);
    return rc;
}
