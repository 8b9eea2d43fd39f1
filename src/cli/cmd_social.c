/* cmd_social.c - `agora like` and `agora review`: likes and reviews of a listing. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/util.h"

#define REF_MAX      128
#define REVIEW_PAGE  100 /* reviews per request (the API's most) */
#define REVIEW_PAGES 20  /* `review list` shows at most this many pages */

int cmd_like(int argc, char **argv)
{
    enum { O_UNDO, O_JSON };
    struct cli_opt o[] = {
        [O_UNDO] = CLI_OPT("undo", CLI_FLAG), [O_JSON] = CLI_OPT("json", CLI_FLAG)};
    char owner[REF_MAX], slug[REF_MAX];
    struct cli_args a;
    struct client c;
    struct buf path, n;
    json_t *res = NULL;
    int rc = cli_parse("like", argc, argv, 1, o, ARRAY_SIZE(o), &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("like");
    if (a.npos != 1)
        return cli_bad_usage("like", a.npos ? "too many arguments" : "OWNER/SLUG is missing");
    rc = cli_model_ref("like", a.pos[0], owner, slug, sizeof(owner));
    if (rc)
        return rc;
    buf_init(&path, 4096);
    rc = client_open(&c, "like", a.node);
    if (!rc)
        rc = client_need_auth(&c);
    if (!rc)
        rc = client_model_path(&c, &path, owner, slug);
    if (!rc && buf_adds(&path, "/like"))
        rc = cli_fail("like", "out of memory");
    if (!rc)
        rc = client_call(&c, o[O_UNDO].set ? "DELETE" : "PUT", path.p, NULL, &res);
    if (rc)
        goto out;
    if (o[O_JSON].set) {
        client_print_json(res);
        goto out;
    }
    buf_init(&n, 64);
    client_fmt(&n, json_object_get(res, "likes"));
    printf("%s %s/%s (%s %s).\n", json_is_true(json_object_get(res, "liked")) ? "Liked" : "Unliked",
           owner, slug, n.p, strcmp(n.p, "1") ? "likes" : "like");
    buf_release(&n);
out:
    json_decref(res);
    buf_release(&path);
    client_close(&c);
    return rc;
}

/* stars() renders a 1-5 rating as "****-" style stars. */
static void stars(struct buf *b, json_t *v)
{
    int64_t r = json_is_integer(v) ? json_integer_value(v) : 0;

    for (int i = 1; i <= 5; i++)
        buf_addc(b, i <= r ? '*' : '-');
    buf_addf(b, " %" PRId64 "/5", r);
}

static int print_reviews(json_t *res)
{
    json_t *list = json_object_get(res, "reviews"), *rv, *user;
    struct buf b;
    size_t i;

    if (!json_array_size(list)) {
        printf("No reviews yet.\n");
        return 0;
    }
    buf_init(&b, 1 << 20);
    json_array_foreach(list, i, rv)
    {
        const char *text = json_string_value(json_object_get(rv, "body"));
        buf_reset(&b);
        if (i)
            buf_addc(&b, '\n');
        stars(&b, json_object_get(rv, "rating"));
        buf_adds(&b, "  ");
        /* "user" is a username or a USER object, depending on the node. */
        user = json_object_get(rv, "user");
        client_fmt(&b, json_is_object(user) ? json_object_get(user, "username") : user);
        buf_adds(&b, "  ");
        client_fmt_time(&b, json_object_get(rv, "updated_at") ?: json_object_get(rv, "created_at"));
        buf_adds(&b, json_is_true(json_object_get(rv, "verified")) ? "  verified licence holder"
                                                                   : "  unverified");
        if (json_object_get(rv, "model")) {
            buf_adds(&b, "  on ");
            client_fmt(&b, json_object_get(rv, "model"));
        }
        buf_addc(&b, '\n');
        if (text && *text) {
            struct buf t;
            buf_init(&t, 1 << 20);
            client_text(&t, text, true);
            for (const char *p = t.p; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                buf_addf(&b, "    %.*s\n", (int)len, p);
                p += len + (nl ? 1 : 0);
            }
            buf_release(&t);
        }
        fputs(b.p, stdout);
    }
    buf_release(&b);
    return 0;
}

/* review_list() pages through a listing's reviews (REVIEW_PAGE at a time, at
 * most REVIEW_PAGES pages) and prints them, or with `json` prints
 * {"reviews": [...]} holding all of them. */
static int review_list(struct client *c, const char *ref, bool json)
{
    char owner[REF_MAX], slug[REF_MAX], num[32];
    struct buf base, path;
    json_t *all = json_array(), *page = NULL, *list, *out = NULL;
    int rc = cli_model_ref("review", ref, owner, slug, sizeof(owner));

    buf_init(&base, 4096);
    buf_init(&path, 4096);
    if (!rc && !all)
        rc = cli_fail("review", "out of memory");
    if (!rc)
        rc = client_model_path(c, &base, owner, slug);
    if (!rc && buf_adds(&base, "/reviews"))
        rc = cli_fail("review", "out of memory");
    for (int n = 0; !rc && n < REVIEW_PAGES; n++) {
        buf_reset(&path);
        buf_add(&path, base.p, base.n);
        snprintf(num, sizeof(num), "%d", REVIEW_PAGE);
        rc = client_query(c, &path, "limit", num);
        snprintf(num, sizeof(num), "%d", n * REVIEW_PAGE);
        if (!rc)
            rc = client_query(c, &path, "offset", num);
        json_decref(page);
        page = NULL;
        if (!rc)
            rc = client_call(c, "GET", path.p, NULL, &page);
        if (rc)
            break;
        list = json_object_get(page, "reviews");
        if (!json_is_array(list) || json_array_extend(all, list)) {
            rc = cli_fail("review", "the node's answer has no list of reviews");
            break;
        }
        if (json_array_size(list) < REVIEW_PAGE)
            break;
    }
    if (!rc) {
        out = json_pack("{s:O}", "reviews", all);
        if (!out)
            rc = cli_fail("review", "out of memory");
        else if (json)
            client_print_json(out);
        else
            rc = print_reviews(out);
    }
    json_decref(out);
    json_decref(page);
    json_decref(all);
    buf_release(&path);
    buf_release(&base);
    return rc;
}

static int review_put(struct client *c, const char *ref, int64_t rating, const char *text,
                      bool json)
{
    char owner[REF_MAX], slug[REF_MAX];
    struct buf path;
    json_t *body = NULL, *res = NULL;
    int rc = cli_model_ref("review", ref, owner, slug, sizeof(owner));

    if (rc)
        return rc;
    buf_init(&path, 4096);
    body = json_pack("{s:I}", "rating", (json_int_t)rating);
    if (!body)
        rc = cli_fail("review", "out of memory");
    if (!rc && text)
        rc = client_set_str(c, body, "body", text);
    if (!rc)
        rc = client_need_auth(c);
    if (!rc)
        rc = client_model_path(c, &path, owner, slug);
    if (!rc && buf_adds(&path, "/reviews"))
        rc = cli_fail("review", "out of memory");
    if (!rc)
        rc = client_call(c, "POST", path.p, body, &res);
    if (!rc) {
        if (json)
            client_print_json(res);
        else
            printf("Reviewed %s/%s: %" PRId64 "/5.\n", owner, slug, rating);
    }
    json_decref(body);
    json_decref(res);
    buf_release(&path);
    return rc;
}

int cmd_review(int argc, char **argv)
{
    enum { O_RATING, O_TEXT, O_JSON };
    struct cli_opt o[] = {
        [O_RATING] = CLI_OPT("rating", CLI_VALUE),
        [O_TEXT] = CLI_OPT("text", CLI_VALUE),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    struct cli_args a;
    struct client c;
    bool list = argc > 1 && !strcmp(argv[1], "list");
    int64_t rating = 0;
    int rc = cli_parse("review", argc, argv, list ? 2 : 1, o, ARRAY_SIZE(o), &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("review");
    if (a.npos != 1)
        return cli_bad_usage("review", a.npos ? "too many arguments" : "OWNER/SLUG is missing");
    if (list && (o[O_RATING].set || o[O_TEXT].set))
        return cli_bad_usage("review", "review list takes no --rating or --text");
    if (!list) {
        if (!o[O_RATING].set)
            return cli_bad_usage("review", "--rating is required");
        if (parse_i64(o[O_RATING].value, &rating) || rating < 1 || rating > 5)
            return cli_bad_usage("review", "--rating must be a whole number from 1 to 5");
    }
    rc = client_open(&c, "review", a.node);
    if (!rc)
        rc = list ? review_list(&c, a.pos[0], o[O_JSON].set)
                  : review_put(&c, a.pos[0], rating, o[O_TEXT].value, o[O_JSON].set);
    client_close(&c);
    return rc;
}
