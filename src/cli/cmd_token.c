/* cmd_token.c - `agora token create|list|revoke`: the account's API tokens. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/util.h"

static int token_create(struct client *c, const char *name, bool json)
{
    json_t *body = json_object(), *res = NULL;
    struct buf b;
    int rc;

    if (!body)
        return cli_fail("token", "out of memory");
    rc = client_set_str(c, body, "name", name);
    if (!rc)
        rc = client_call(c, "POST", "/api/v1/tokens", body, &res);
    if (rc)
        goto out;
    if (json) {
        client_print_json(res);
        goto out;
    }
    buf_init(&b, 4096);
    client_fmt(&b, json_object_get(res, "token"));
    client_kv_json("Id", json_object_get(res, "id"));
    client_kv_json("Name", json_object_get(res, "name"));
    client_kv("Token", b.p);
    printf("\nThis token is shown once: keep it somewhere safe (e.g. AGORA_TOKEN for scripts).\n");
    explicit_bzero(b.p, b.n);
    buf_release(&b);
out:
    json_decref(body);
    json_decref(res);
    return rc;
}

static int token_list(struct client *c, bool json)
{
    static const char *const head[] = {"ID", "NAME", "PREFIX", "CREATED", "LAST USED"};
    static const size_t maxw[] = {0, 40, 0, 0, 0};
    json_t *res = NULL, *tokens, *t;
    struct table tab;
    struct row row;
    size_t i;
    int rc = client_call(c, "GET", "/api/v1/tokens", NULL, &res);

    if (rc)
        return rc;
    if (json) {
        client_print_json(res);
        goto out;
    }
    tokens = json_object_get(res, "tokens");
    if (!json_array_size(tokens)) {
        printf("No API tokens.\n");
        goto out;
    }
    table_init(&tab, ARRAY_SIZE(head), head, maxw);
    row_init(&row, ARRAY_SIZE(head));
    json_array_foreach(tokens, i, t)
    {
        client_fmt(&row.cell[0], json_object_get(t, "id"));
        client_fmt(&row.cell[1], json_object_get(t, "name"));
        client_fmt(&row.cell[2], json_object_get(t, "prefix"));
        client_fmt_time(&row.cell[3], json_object_get(t, "created_at"));
        client_fmt_time(&row.cell[4], json_object_get(t, "last_used_at"));
        rc = table_add(&tab, &row);
        if (rc)
            break;
    }
    row_release(&row);
    if (!rc)
        table_print(&tab, stdout);
    table_release(&tab);
out:
    json_decref(res);
    return rc;
}

static int token_revoke(struct client *c, const char *id_text)
{
    struct buf path;
    int64_t id;
    int rc;

    if (parse_i64(id_text, &id) || id <= 0)
        return cli_bad_usage("token", "token id \"%s\" is not a positive number", id_text);
    buf_init(&path, 256);
    buf_addf(&path, "/api/v1/tokens/%" PRId64, id);
    rc = client_call(c, "DELETE", path.p, NULL, NULL);
    buf_release(&path);
    if (rc)
        return rc;
    printf("Revoked token %" PRId64 ".\n", id);
    /* Revoking the token this CLI holds for the node ends its login here too. */
    if (c->stored && c->token_id == id) {
        rc = client_forget_token(c);
        if (!rc)
            printf("It was the stored login for %s; it has been forgotten.\n", c->node);
    }
    return rc;
}

int cmd_token(int argc, char **argv)
{
    enum { O_JSON };
    struct cli_opt opts[] = {[O_JSON] = CLI_OPT("json", CLI_FLAG)};
    struct cli_args a;
    struct client c;
    const char *sub = argc > 1 ? argv[1] : "";
    size_t want;
    int rc;

    if (cli_wants_help(argc, argv))
        return cli_help("token");
    if (!strcmp(sub, "create"))
        want = 1;
    else if (!strcmp(sub, "list"))
        want = 0;
    else if (!strcmp(sub, "revoke"))
        want = 1;
    else
        return cli_bad_usage("token", *sub ? "unknown subcommand \"%s\"" : "subcommand missing%s",
                             sub);
    rc = cli_parse("token", argc, argv, 2, opts, ARRAY_SIZE(opts), &a);
    if (rc)
        return rc;
    if (a.npos != want)
        return cli_bad_usage("token", a.npos > want ? "too many arguments" : "%s needs an argument",
                             sub);
    if (opts[O_JSON].set && !strcmp(sub, "revoke"))
        return cli_bad_usage("token", "token revoke takes no --json");
    rc = client_open(&c, "token", a.node);
    if (!rc)
        rc = client_need_auth(&c);
    if (rc)
        goto out;
    if (!strcmp(sub, "create"))
        rc = token_create(&c, a.pos[0], opts[O_JSON].set);
    else if (!strcmp(sub, "list"))
        rc = token_list(&c, opts[O_JSON].set);
    else
        rc = token_revoke(&c, a.pos[0]);
out:
    client_close(&c);
    return rc;
}
