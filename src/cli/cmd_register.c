/* cmd_register.c - `agora register`: create an account on a node. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"

#define PASSWORD_MAX 1024

/* ask_password() reads the new password, twice when it comes from a terminal.
 * Returns 0 or EXIT_ERR. */
static int ask_password(bool from_stdin, char *pw, size_t size)
{
    char again[PASSWORD_MAX + 1];
    int rc = cli_read_password("register", from_stdin, "Password: ", pw, size);

    if (rc || from_stdin)
        return rc;
    rc = cli_read_password("register", false, "Repeat password: ", again, sizeof(again));
    if (!rc && strcmp(pw, again)) {
        explicit_bzero(pw, size);
        rc = cli_fail("register", "the two passwords differ");
    }
    explicit_bzero(again, sizeof(again));
    return rc;
}

int cmd_register(int argc, char **argv)
{
    enum { O_EMAIL, O_STDIN, O_JSON };
    struct cli_opt opts[] = {
        [O_EMAIL] = CLI_OPT("email", CLI_VALUE),
        [O_STDIN] = CLI_OPT("password-stdin", CLI_FLAG),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    struct cli_args a;
    struct client c;
    struct buf name;
    char pw[PASSWORD_MAX + 1];
    json_t *body = NULL, *res = NULL, *user;
    int rc = cli_parse("register", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    pw[0] = '\0';
    if (rc)
        return rc;
    if (a.help)
        return cli_help("register");
    if (a.npos != 1)
        return cli_bad_usage("register", a.npos ? "too many arguments" : "USERNAME is missing");
    if (!opts[O_EMAIL].set)
        return cli_bad_usage("register", "--email is required");
    rc = client_open(&c, "register", a.node);
    if (rc)
        goto out;
    rc = ask_password(opts[O_STDIN].set, pw, sizeof(pw));
    if (rc)
        goto out;
    body = json_object();
    if (!body) {
        rc = cli_fail("register", "out of memory");
        goto out;
    }
    rc = client_set_str(&c, body, "username", a.pos[0]);
    if (!rc)
        rc = client_set_str(&c, body, "email", opts[O_EMAIL].value);
    if (!rc)
        rc = client_set_str(&c, body, "password", pw);
    if (rc)
        goto out;
    /* A new account needs no token; a stale one must not get in the way. */
    free(c.token);
    c.token = NULL;
    rc = client_call(&c, "POST", "/api/v1/auth/register", body, &res);
    if (rc)
        goto out;
    if (opts[O_JSON].set) {
        client_print_json(res);
        goto out;
    }
    user = json_object_get(res, "user");
    buf_init(&name, 256);
    client_fmt(&name, json_object_get(user, "username"));
    printf("Registered %s on %s.\nNext: agora login %s\n", name.p, c.node, name.p);
    buf_release(&name);
out:
    explicit_bzero(pw, sizeof(pw));
    client_wipe_password(body);
    json_decref(body);
    json_decref(res);
    client_close(&c);
    return rc;
}
