/* cmd_profile.c - `agora profile`: show a user's profile and reputation, or edit your own. */
#include "core/common.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/util.h"

#define NAME_MAX_ 128

static void print_profile(json_t *u)
{
    json_t *rep = json_object_get(u, "reputation"), *links = json_object_get(u, "links"), *l;
    struct buf b;
    size_t i;

    buf_init(&b, 1 << 20);
    client_kv_json("Username", json_object_get(u, "username"));
    client_kv_json("Display name", json_object_get(u, "display_name"));
    if (json_object_get(u, "email"))
        client_kv_json("Email", json_object_get(u, "email"));
    client_kv_json("Role", json_object_get(u, "role"));
    client_fmt_time(&b, json_object_get(u, "created_at"));
    client_kv("Joined", b.p);
    buf_reset(&b);
    json_array_foreach(links, i, l)
    {
        if (i)
            buf_addc(&b, '\n');
        client_fmt(&b, l);
    }
    client_kv("Links", b.n ? b.p : "-");
    buf_reset(&b);
    if (json_is_string(json_object_get(u, "bio")))
        client_text(&b, json_string_value(json_object_get(u, "bio")), true);
    client_kv("Bio", b.n ? b.p : "-");
    if (json_is_object(rep)) {
        buf_reset(&b);
        if (json_is_number(json_object_get(rep, "score")))
            buf_addf(&b, "%.1f / 100", json_number_value(json_object_get(rep, "score")));
        else
            buf_adds(&b, "-");
        client_kv("Reputation", b.p);
        client_kv_json("Models", json_object_get(rep, "models"));
        client_kv_json("Downloads", json_object_get(rep, "downloads"));
        client_kv_json("Likes", json_object_get(rep, "likes"));
        buf_reset(&b);
        client_fmt_rating(&b, rep);
        client_kv("Rating", b.p);
    }
    buf_release(&b);
}

static int profile_edit(struct client *c, struct cli_opt *o, bool json)
{
    enum { O_DISPLAY, O_BIO, O_LINK };
    char me[NAME_MAX_];
    struct buf path;
    json_t *body = json_object(), *links, *res = NULL;
    int rc = body ? 0 : cli_fail("profile", "out of memory");

    buf_init(&path, 1024);
    if (!rc && o[O_DISPLAY].set)
        rc = client_set_str(c, body, "display_name", o[O_DISPLAY].value);
    if (!rc && o[O_BIO].set)
        rc = client_set_str(c, body, "bio", o[O_BIO].value);
    if (!rc && o[O_LINK].set) {
        links = json_array();
        if (!links || json_object_set_new(body, "links", links))
            rc = cli_fail("profile", "out of memory");
        /* A single empty --link "" clears the links. */
        for (size_t i = 0; !rc && i < o[O_LINK].nlist; i++) {
            json_t *s;
            if (!o[O_LINK].list[i][0] && o[O_LINK].nlist == 1)
                break;
            if (!utf8_valid(o[O_LINK].list[i], strlen(o[O_LINK].list[i])))
                rc = cli_fail("profile", "link \"%s\" is not valid UTF-8", o[O_LINK].list[i]);
            else if (!(s = json_string(o[O_LINK].list[i])) || json_array_append_new(links, s))
                rc = cli_fail("profile", "out of memory");
        }
    }
    if (!rc && json_object_size(body) == 0)
        rc = cli_bad_usage("profile", "nothing to change: give --display-name, --bio or --link");
    if (!rc)
        rc = client_me(c, me, sizeof(me));
    if (!rc && buf_adds(&path, "/api/v1/users"))
        rc = cli_fail("profile", "out of memory");
    if (!rc)
        rc = client_seg(c, &path, me);
    if (!rc)
        rc = client_call(c, "PATCH", path.p, body, &res);
    if (!rc) {
        if (json)
            client_print_json(res);
        else
            print_profile(res);
    }
    json_decref(body);
    json_decref(res);
    buf_release(&path);
    return rc;
}

static int profile_show(struct client *c, const char *who, bool json)
{
    char me[NAME_MAX_];
    struct buf path;
    json_t *res = NULL;
    int rc = 0;

    buf_init(&path, 1024);
    if (!who) {
        rc = client_me(c, me, sizeof(me));
        who = me;
    } else if (who[0] == '@') {
        who++; /* "@edit" names the user "edit" rather than the subcommand */
    }
    if (!rc && !*who)
        rc = cli_bad_usage("profile", "empty username");
    if (!rc && buf_adds(&path, "/api/v1/users"))
        rc = cli_fail("profile", "out of memory");
    if (!rc)
        rc = client_seg(c, &path, who);
    if (!rc)
        rc = client_call(c, "GET", path.p, NULL, &res);
    if (!rc) {
        if (json)
            client_print_json(res);
        else
            print_profile(res);
    }
    json_decref(res);
    buf_release(&path);
    return rc;
}

int cmd_profile(int argc, char **argv)
{
    enum { O_DISPLAY, O_BIO, O_LINK, O_JSON, O_COUNT };
    struct cli_opt o[O_COUNT] = {
        [O_DISPLAY] = CLI_OPT("display-name", CLI_VALUE),
        [O_BIO] = CLI_OPT("bio", CLI_VALUE),
        [O_LINK] = CLI_OPT("link", CLI_LIST),
        [O_JSON] = CLI_OPT("json", CLI_FLAG),
    };
    struct cli_args a;
    struct client c;
    bool edit = argc > 1 && !strcmp(argv[1], "edit");
    int rc = cli_parse("profile", argc, argv, edit ? 2 : 1, o, O_COUNT, &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("profile");
    if (a.npos > (edit ? 0u : 1u))
        return cli_bad_usage("profile", "too many arguments");
    if (!edit && (o[O_DISPLAY].set || o[O_BIO].set || o[O_LINK].set))
        return cli_bad_usage("profile", "to change your profile use `agora profile edit`");
    rc = client_open(&c, "profile", a.node);
    if (!rc)
        rc = edit ? profile_edit(&c, o, o[O_JSON].set)
                  : profile_show(&c, a.npos ? a.pos[0] : NULL, o[O_JSON].set);
    client_close(&c);
    return rc;
}
