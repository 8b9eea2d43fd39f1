/* cmd_demo.c - `agora demo seed`: a demo marketplace from src/cli/demo_data.json. */
#include "core/common.h"
#include "core/config.h"
#include "core/embed.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "cli/cli.h"
#include "cli/node.h"
#include "market/market.h"

#include <sodium.h>

/* Every demo account shares this password; it is printed by `make run`. */
#define DEMO_PASSWORD "agora-demo-password"

extern const struct embedded_file demo_files[];

struct demo_settings {
    char *data_dir;
    char *pwhash;
};

static const struct config_opt demo_opts[] = {
    {"data-dir", CONFIG_STR, offsetof(struct demo_settings, data_dir), "./data",
     "the node's data directory", 0, 0},
    {"pwhash", CONFIG_STR, offsetof(struct demo_settings, pwhash), "interactive",
     "argon2id cost: interactive, moderate or min", 0, 0},
};

static int as_principal(struct market *m, const char *username, struct principal *p,
                        struct ag_err *e)
{
    struct user_auth ua;
    int rc = store_user_auth(m->store, username, &ua, e);
    if (rc)
        return rc;
    memset(p, 0, sizeof(*p));
    p->user_id = ua.id;
    str_copy(p->username, ua.username, sizeof(p->username));
    str_copy(p->role, ua.role, sizeof(p->role));
    sodium_memzero(&ua, sizeof(ua));
    return 0;
}

static int seed_users(struct market *m, json_t *users, struct ag_err *e)
{
    json_t *u, *out = NULL;
    size_t i;
    int rc = market_register(m, "admin", "admin@demo.example.com", DEMO_PASSWORD, true, &out, e);
    json_decref(out);
    json_array_foreach(users, i, u) {
        const char *name = json_string_value(json_object_get(u, "username"));
        struct profile_input pi = {
            .display_name = json_string_value(json_object_get(u, "display_name")),
            .bio = json_string_value(json_object_get(u, "bio")),
            .links = json_object_get(u, "links"),
        };
        struct principal p;
        if (rc)
            break;
        out = NULL;
        rc = market_register(m, name, json_string_value(json_object_get(u, "email")),
                             DEMO_PASSWORD, false, &out, e);
        json_decref(out);
        out = NULL;
        if (!rc)
            rc = as_principal(m, name, &p, e);
        if (!rc)
            rc = market_user_update(m, &p, name, &pi, &out, e);
        json_decref(out);
    }
    return rc;
}

static int seed_versions(struct market *m, const struct principal *owner, const char *slug,
                         json_t *versions, struct ag_err *e)
{
    json_t *v, *out;
    size_t i;
    int rc = 0;
    json_array_foreach(versions, i, v) {
        struct version_input in = {
            .version = json_string_value(json_object_get(v, "version")),
            .changelog = json_string_value(json_object_get(v, "changelog")),
            .files = json_object_get(v, "files"),
            .publish = json_is_true(json_object_get(v, "published")),
        };
        out = NULL;
        rc = market_version_create(m, owner, owner->username, slug, &in, &out, e);
        json_decref(out);
        if (rc)
            break;
    }
    return rc;
}

static int seed_social(struct market *m, const char *owner, const char *slug, json_t *model,
                       struct ag_err *e)
{
    json_t *x, *out;
    size_t i;
    int rc = 0;
    json_array_foreach(json_object_get(model, "likes_by"), i, x) {
        struct principal p;
        out = NULL;
        if (!(rc = as_principal(m, json_string_value(x), &p, e)))
            rc = market_like(m, &p, owner, slug, true, &out, e);
        json_decref(out);
        if (rc)
            return rc;
    }
    json_array_foreach(json_object_get(model, "reviews"), i, x) {
        struct principal p;
        out = NULL;
        if (!(rc = as_principal(m, json_string_value(json_object_get(x, "user")), &p, e)))
            rc = market_review_put(m, &p, owner, slug,
                                   (int)json_integer_value(json_object_get(x, "rating")),
                                   json_string_value(json_object_get(x, "body")), &out, e);
        json_decref(out);
        if (rc)
            return rc;
    }
    return 0;
}

static int seed_models(struct market *m, json_t *models, struct ag_err *e)
{
    json_t *md, *out;
    size_t i;
    int rc = 0;
    json_array_foreach(models, i, md) {
        const char *owner = json_string_value(json_object_get(md, "owner"));
        struct model_input in = {
            .slug = json_string_value(json_object_get(md, "slug")),
            .title = json_string_value(json_object_get(md, "title")),
            .summary = json_string_value(json_object_get(md, "summary")),
            .card = json_string_value(json_object_get(md, "card")),
            .price = json_string_value(json_object_get(md, "price")),
            .visibility = json_string_value(json_object_get(md, "visibility")),
        };
        struct principal p;
        out = NULL;
        if (!owner || (rc = as_principal(m, owner, &p, e)))
            return rc ? rc : ag_errf(e, AG_EINVAL, "owner", "model %zu has no owner", i);
        rc = market_model_create(m, &p, &in, &out, e);
        json_decref(out);
        if (!rc)
            rc = seed_versions(m, &p, in.slug, json_object_get(md, "versions"), e);
        if (!rc)
            rc = seed_social(m, owner, in.slug, md, e);
        if (rc) {
            fprintf(stderr, "agora demo: listing %s/%s: ", owner, in.slug ? in.slug : "?");
            return rc;
        }
    }
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    struct demo_settings set = {0};
    struct store *store = NULL;
    struct market market;
    struct market_config mcfg = {0};
    struct ag_err e = {0};
    json_t *data = NULL;
    int64_t users = 0;
    int rc = EXIT_ERR;

    if (argc < 2 || strcmp(argv[1], "seed") || cli_wants_help(argc, argv))
        return cli_usage(cli_find("demo"), argc < 2 ? stderr : stdout);
    if (config_load(demo_opts, ARRAY_SIZE(demo_opts), &set, argc, argv, 2, &e)) {
        fprintf(stderr, "agora demo: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    mcfg.pwhash = !strcmp(set.pwhash, "min") ? PWHASH_MIN : PWHASH_INTERACTIVE;
    log_set_level(LOG_WARN);
    if (node_open(set.data_dir, &store, &e) || store_user_count(store, &users, &e)) {
        fprintf(stderr, "agora demo: %s\n", e.msg);
        goto out;
    }
    if (users > 0) {
        printf("agora demo: %s already has accounts; leaving it as it is\n", set.data_dir);
        rc = EXIT_OK;
        goto out;
    }
    market_init(&market, store, &mcfg);
    if (json_parse(demo_files[0].data, demo_files[0].len, &data, &e) ||
        seed_users(&market, json_object_get(data, "users"), &e) ||
        seed_models(&market, json_object_get(data, "models"), &e)) {
        fprintf(stderr, "agora demo: %s%s%s\n", e.msg, e.field[0] ? " in " : "", e.field);
        goto out;
    }
    printf("agora demo: seeded %zu users and %zu listings into %s\n"
           "agora demo: every demo account's password is \"%s\" (admin: \"admin\")\n",
           json_array_size(json_object_get(data, "users")) + 1,
           json_array_size(json_object_get(data, "models")), set.data_dir, DEMO_PASSWORD);
    rc = EXIT_OK;
out:
    json_decref(data);
    store_close(store);
    config_free(demo_opts, ARRAY_SIZE(demo_opts), &set);
    return rc;
}
