/* cmd_auth.c - `agora login`, `agora logout` and `agora whoami`. */
#include "core/common.h"

#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"

#define PASSWORD_MAX 1024

/* revoke_previous() logs out `old`: the token stored for this node before a
 * new login replaced it, or a new one that could not be stored, so it does not
 * stay valid on the node unseen. Best effort: a failure only leaves a note. */
static void revoke_previous(struct client *c, char *old)
{
    struct client_resp r;
    char *mine = c->token;

    c->token = old;
    if (client_request(c, "POST", "/api/v1/auth/logout", NULL, &r) == 0) {
        if (r.status != 204 && r.status != 200 && r.status != 401)
            fprintf(stderr, "agora login: note: a token was not revoked (HTTP %ld)\n", r.status);
        json_decref(r.body);
    }
    c->token = mine;
}

int cmd_login(int argc, char **argv)
{
    enum { O_STDIN };
    struct cli_opt opts[] = {[O_STDIN] = CLI_OPT("password-stdin", CLI_FLAG)};
    struct cli_args a;
    struct client c;
    char pw[PASSWORD_MAX + 1], host[256], token_name[300], path[4096];
    json_t *body = NULL, *res = NULL;
    const char *token, *username;
    json_t *id;
    char *old = NULL;
    int rc = cli_parse("login", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    pw[0] = '\0';
    if (rc)
        return rc;
    if (a.help)
        return cli_help("login");
    if (a.npos != 1)
        return cli_bad_usage("login", a.npos ? "too many arguments" : "USERNAME is missing");
    rc = client_open(&c, "login", a.node);
    if (rc)
        goto out;
    rc = client_credentials_check(&c);
    if (rc)
        goto out;
    rc = cli_read_password("login", opts[O_STDIN].set, "Password: ", pw, sizeof(pw));
    if (rc)
        goto out;
    if (gethostname(host, sizeof(host)) || !host[0])
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(token_name, sizeof(token_name), "cli@%s", host);
    body = json_object();
    if (!body) {
        rc = cli_fail("login", "out of memory");
        goto out;
    }
    rc = client_set_str(&c, body, "login", a.pos[0]);
    if (!rc)
        rc = client_set_str(&c, body, "password", pw);
    if (!rc)
        rc = client_set_str(&c, body, "token_name", token_name);
    if (rc)
        goto out;
    /* Log in without any old token: it may have been revoked. */
    old = c.stored;
    c.stored = NULL;
    free(c.token);
    c.token = NULL;
    rc = client_call(&c, "POST", "/api/v1/auth/login", body, &res);
    if (rc)
        goto out;
    token = json_string_value(json_object_get(res, "token"));
    id = json_object_get(res, "token_id");
    username = json_string_value(json_object_get(json_object_get(res, "user"), "username"));
    if (!token || !*token || !username) {
        rc = cli_fail("login", "the node's answer holds no API token");
        goto out;
    }
    rc = client_store_token(&c, token, json_is_integer(id) ? json_integer_value(id) : 0, username);
    if (rc) {
        /* A token nobody keeps must not stay valid on the node. */
        revoke_previous(&c, (char *)token);
        goto out;
    }
    if (old && strcmp(old, token))
        revoke_previous(&c, old);
    if (client_credentials_path(path, sizeof(path)))
        path[0] = '\0';
    printf("Logged in to %s as %s.\nAPI token \"%s\" stored in %s.\n", c.node, username, token_name,
           path);
    if (c.token_env)
        printf("Note: AGORA_TOKEN is set and is used instead of the stored token.\n");
out:
    explicit_bzero(pw, sizeof(pw));
    client_wipe_password(body);
    json_decref(body);
    if (res) {
        json_t *t = json_object_get(res, "token");
        if (json_is_string(t))
            explicit_bzero((char *)json_string_value(t), json_string_length(t));
    }
    json_decref(res);
    if (old) {
        explicit_bzero(old, strlen(old));
        free(old);
    }
    client_close(&c);
    return rc;
}

int cmd_logout(int argc, char **argv)
{
    struct cli_args a;
    struct client c;
    struct client_resp r;
    int rc = cli_parse("logout", argc, argv, 1, NULL, 0, &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("logout");
    if (a.npos)
        return cli_bad_usage("logout", "unexpected argument \"%s\"", a.pos[0]);
    rc = client_open(&c, "logout", a.node);
    if (rc)
        goto out;
    if (!c.stored) {
        rc = cli_fail("logout", "not logged in to %s", c.node);
        goto out;
    }
    /* Revoke the stored token, whatever AGORA_TOKEN says. */
    free(c.token);
    c.token = strdup(c.stored);
    if (!c.token) {
        rc = cli_fail("logout", "out of memory");
        goto out;
    }
    rc = client_request(&c, "POST", "/api/v1/auth/logout", NULL, &r);
    if (rc) {
        fprintf(stderr, "agora logout: the token was not revoked and is still stored\n");
        goto out;
    }
    if (r.status == 401) {
        /* Already revoked or expired on the node: forgetting it is all that is left. */
    } else if (r.status < 200 || r.status > 299) {
        rc = client_print_api_error(&c, &r);
        fprintf(stderr, "agora logout: the token was not revoked and is still stored\n");
        json_decref(r.body);
        goto out;
    }
    json_decref(r.body);
    rc = client_forget_token(&c);
    if (rc)
        goto out;
    printf("Logged out of %s%s%s.\n", c.node, c.username ? " as " : "",
           c.username ? c.username : "");
out:
    client_close(&c);
    return rc;
}

int cmd_whoami(int argc, char **argv)
{
    enum { O_JSON };
    struct cli_opt opts[] = {[O_JSON] = CLI_OPT("json", CLI_FLAG)};
    struct cli_args a;
    struct client c;
    json_t *me = NULL, *user;
    struct buf t;
    int rc = cli_parse("whoami", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("whoami");
    if (a.npos)
        return cli_bad_usage("whoami", "unexpected argument \"%s\"", a.pos[0]);
    rc = client_open(&c, "whoami", a.node);
    if (!rc)
        rc = client_need_auth(&c);
    if (!rc)
        rc = client_call(&c, "GET", "/api/v1/auth/me", NULL, &me);
    if (rc)
        goto out;
    if (opts[O_JSON].set) {
        client_print_json(me);
        goto out;
    }
    user = json_object_get(me, "user");
    client_kv_json("Username", json_object_get(user, "username"));
    client_kv_json("Display name", json_object_get(user, "display_name"));
    client_kv_json("Email", json_object_get(user, "email"));
    client_kv_json("Role", json_object_get(user, "role"));
    client_kv_json("User id", json_object_get(user, "id"));
    buf_init(&t, 64);
    client_fmt_time(&t, json_object_get(user, "created_at"));
    client_kv("Joined", t.p);
    buf_release(&t);
    client_kv("Node", c.node);
    client_kv("Credentials", c.token_env ? "AGORA_TOKEN" : "stored API token");
out:
    json_decref(me);
    client_close(&c);
    return rc;
}
