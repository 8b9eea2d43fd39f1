/* models.c - listings: validation, the access policy, create/read/update/delete. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "market/internal.h"

#define TITLE_MAX 120
#define SUMMARY_MAX 300
#define CARD_MAX (256 * 1024)
#define LIST_MAX 20
#define ITEM_MAX 100
#define TAG_MAX 40

static bool is_admin(const struct principal *p)
{
    return p && !strcmp(p->role, "admin");
}

int market_model_access(const struct principal *viewer, json_t *model, enum model_action action,
                        struct ag_err *e)
{
    const char *vis = json_string_value(json_object_get(model, "visibility"));
    int64_t owner = json_integer_value(json_object_get(model, "owner_id"));
    bool is_owner = viewer && viewer->user_id == owner;
    bool visible = is_owner || is_admin(viewer) || !strcmp(vis, "public") ||
                   !strcmp(vis, "unlisted");

    if (!visible)
        return ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    if (action == MODEL_READ || is_owner)
        return 0;
    if (action == MODEL_DELETE && is_admin(viewer))
        return 0;
    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in to change a model");
    return ag_errf(e, AG_EFORBIDDEN, NULL, "only the model's owner can change it");
}

/* Loads owner/slug and applies the access policy for `action`. */
static int load_model(struct market *m, const struct principal *viewer, const char *owner,
                      const char *slug, enum model_action action, json_t **out, struct ag_err *e)
{
    json_t *model = NULL;
    int rc;

    if (!valid_username(owner) || !valid_slug(slug))
        return ag_errf(e, AG_ENOTFOUND, NULL, "no such model");
    rc = store_model_get(m->store, owner, slug, &model, e);
    if (rc == AG_ENOTFOUND)
        return ag_errf(e, AG_ENOTFOUND, NULL, "no model %s/%s", owner, slug);
    if (rc)
        return rc;
    rc = market_model_access(viewer, model, action, e);
    if (rc) {
        json_decref(model);
        return rc;
    }
    *out = model;
    return 0;
}

static bool one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A "name" value (task, library, license): lowercase [a-z0-9._+-], starting
 * with a letter or digit. Lowercases `s` in a copy owned by `pool`. */
static const char *name_value(json_t *pool, const char *field, const char *s, size_t max,
                              struct ag_err *e, int *rc)
{
    size_t n = strlen(s);
    char tmp[128];
    if (n > max || n >= sizeof(tmp)) {
        *rc = ag_errf(e, AG_EINVAL, field, "%s must be at most %zu characters", field, max);
        return NULL;
    }
    for (size_t i = 0; i <= n; i++)
        tmp[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    for (size_t i = 0; i < n; i++) {
        char c = tmp[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '.' || c == '_' || c == '+' || c == '-'));
        if (!ok) {
            *rc = ag_errf(e, AG_EINVAL, field,
                          "%s may contain only a-z, 0-9, '.', '_', '+' and '-'", field);
            return NULL;
        }
    }
    json_array_append_new(pool, json_string(tmp));
    return json_string_value(json_array_get(pool, json_array_size(pool) - 1));
}

/* Checks a list of strings; tags are lowercased, deduplicated names. Writes
 * the JSON array text into `text`. */
static int list_value(json_t *arr, const char *field, bool tags, struct buf *text,
                      struct ag_err *e)
{
    json_t *clean = json_array(), *v;
    size_t i;
    int rc = 0;

    if (!json_is_array(arr) || json_array_size(arr) > LIST_MAX) {
        rc = ag_errf(e, AG_EINVAL, field, "%s must be an array of at most %d strings", field,
                     LIST_MAX);
        goto out;
    }
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        size_t n;
        bool dup = false;
        json_t *w;
        size_t j;
        if (!s || !(n = strlen(s)) || n > (tags ? TAG_MAX : ITEM_MAX) || !one_line(s)) {
            rc = ag_errf(e, AG_EINVAL, field, "each of %s must be a string of 1-%d characters",
                         field, tags ? TAG_MAX : ITEM_MAX);
            goto out;
        }
        if (tags) {
            json_t *pool = json_array();
            s = name_value(pool, field, s, TAG_MAX, e, &rc);
            if (s)
                v = json_string(s);
            json_decref(pool);
            if (rc)
                goto out;
        } else {
            json_incref(v);
        }
        json_array_foreach(clean, j, w)
            dup |= json_equal(w, v);
        if (dup)
            json_decref(v);
        else
            json_array_append_new(clean, v);
    }
    rc = json_dump_buf(text, clean);
out:
    json_decref(clean);
    return rc;
}

/* Turns validated input into store fields. Strings that need a home (JSON
 * texts, lowercased names) live in `pool` and the bufs. */
struct fields_ctx {
    json_t *pool;
    struct buf tags, datasets, metrics, language;
    char price_key[79];
};

static void fields_ctx_init(struct fields_ctx *c)
{
    c->pool = json_array();
    buf_init(&c->tags, 16384);
    buf_init(&c->datasets, 16384);
    buf_init(&c->metrics, 16384);
    buf_init(&c->language, 16384);
}

static void fields_ctx_release(struct fields_ctx *c)
{
    json_decref(c->pool);
    buf_release(&c->tags);
    buf_release(&c->datasets);
    buf_release(&c->metrics);
    buf_release(&c->language);
}

static const char *fm_str(json_t *fm, const char *key)
{
    return json_string_value(json_object_get(fm, key));
}

static int build_fields(const struct model_input *in, bool create, struct fields_ctx *c,
                        struct model_fields *f, struct ag_err *e)
{
    json_t *fm = NULL, *tags, *datasets, *metrics, *language;
    const char *task, *library, *license, *base_model;
    int rc = 0;

    memset(f, 0, sizeof(*f));
    if (create) {
        if (!in->slug || !valid_slug(in->slug))
            return ag_errf(e, AG_EINVAL, "slug",
                           "slug must be 1-64 characters of a-z, 0-9, '.', '_' and '-', "
                           "starting and ending with a letter or digit");
        if (!in->title)
            return ag_errf(e, AG_EINVAL, "title", "title is required");
        f->slug = in->slug;
    }
    if (in->title && (!*in->title || utf8_len(in->title) > TITLE_MAX || !one_line(in->title)))
        return ag_errf(e, AG_EINVAL, "title", "title must be one line of 1-%d characters",
                       TITLE_MAX);
    if (in->summary && (utf8_len(in->summary) > SUMMARY_MAX || !one_line(in->summary)))
        return ag_errf(e, AG_EINVAL, "summary", "summary must be one line of at most %d characters",
                       SUMMARY_MAX);
    if (in->card && strlen(in->card) > CARD_MAX)
        return ag_errf(e, AG_ETOOBIG, "card", "card must be at most %d KiB", CARD_MAX / 1024);
    if (in->card && (rc = card_front_matter(in->card, &fm, e)))
        return rc;
    if (!fm)
        fm = json_object();
    f->title = in->title;
    f->summary = in->summary;
    f->card = in->card;

    /* Explicit fields win over the card's front matter. */
    task = in->task ? in->task : fm_str(fm, "task");
    library = in->library ? in->library : fm_str(fm, "library");
    license = in->license ? in->license : fm_str(fm, "license");
    base_model = in->base_model ? in->base_model : fm_str(fm, "base_model");
    tags = in->tags ? in->tags : json_object_get(fm, "tags");
    datasets = in->datasets ? in->datasets : json_object_get(fm, "datasets");
    metrics = in->metrics ? in->metrics : json_object_get(fm, "metrics");
    language = in->language ? in->language : json_object_get(fm, "language");

    if (task && *task && !(f->task = name_value(c->pool, "task", task, 64, e, &rc)))
        goto out;
    if (task && !*task)
        f->task = "";
    if (library && *library && !(f->library = name_value(c->pool, "library", library, 64, e, &rc)))
        goto out;
    if (library && !*library)
        f->library = "";
    if (license && *license && !(f->license = name_value(c->pool, "license", license, 64, e, &rc)))
        goto out;
    if (license && !*license)
        f->license = "";
    if (base_model) {
        if (strlen(base_model) > ITEM_MAX || !one_line(base_model)) {
            rc = ag_errf(e, AG_EINVAL, "base_model", "base_model must be one line of at most %d characters",
                         ITEM_MAX);
            goto out;
        }
        json_array_append_new(c->pool, json_string(base_model));
        f->base_model = json_string_value(json_array_get(c->pool, json_array_size(c->pool) - 1));
    }
    if (tags && !(rc = list_value(tags, "tags", true, &c->tags, e)))
        f->tags_json = c->tags.p;
    if (!rc && datasets && !(rc = list_value(datasets, "datasets", false, &c->datasets, e)))
        f->datasets_json = c->datasets.p;
    if (!rc && metrics && !(rc = list_value(metrics, "metrics", false, &c->metrics, e)))
        f->metrics_json = c->metrics.p;
    if (!rc && language && !(rc = list_value(language, "language", false, &c->language, e)))
        f->language_json = c->language.p;
    if (rc)
        goto out;
    if (in->price) {
        if (!valid_price(in->price, c->price_key)) {
            rc = ag_errf(e, AG_EINVAL, "price",
                         "price must be a whole number of the token's smallest unit, as a "
                         "decimal string without leading zeros (\"0\" = free)");
            goto out;
        }
        f->price = in->price;
        f->price_key = c->price_key;
    } else if (create) {
        valid_price("0", c->price_key);
        f->price = "0";
        f->price_key = c->price_key;
    }
    if (in->visibility) {
        static const char *const vis[] = {"public", "unlisted", "private", "draft"};
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(vis); i++)
            ok |= !strcmp(in->visibility, vis[i]);
        if (!ok) {
            rc = ag_errf(e, AG_EINVAL, "visibility",
                         "visibility must be public, unlisted, private or draft");
            goto out;
        }
        f->visibility = in->visibility;
    }
out:
    /* Values borrowed from fm are copied into the store before fm dies:
     * keep fm alive in the pool. */
    json_array_append_new(c->pool, fm);
    return rc;
}

int market_model_create(struct market *m, const struct principal *viewer,
                        const struct model_input *in, json_t **out, struct ag_err *e)
{
    struct fields_ctx c;
    struct model_fields f;
    int64_t id;
    int rc;

    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in to create a model");
    fields_ctx_init(&c);
    rc = build_fields(in, true, &c, &f, e);
    if (!rc)
        rc = store_model_insert(m->store, viewer->user_id, &f, time_now(), &id, e);
    if (rc == AG_EEXISTS)
        rc = ag_errf(e, AG_EEXISTS, "slug", "you already have a model named \"%s\"", in->slug);
    if (!rc)
        market__invalidate(m);
    if (!rc)
        rc = market_model_get(m, viewer, viewer->username, in->slug, out, e);
    fields_ctx_release(&c);
    return rc;
}

/* The highest published version of a model, or NULL. Returns a new string. */
static char *latest_version(struct market *m, int64_t model_id)
{
    json_t *list = NULL, *v;
    struct semver best, cur;
    char *name = NULL;
    size_t i;

    if (store_version_top(m->store, model_id, &list, NULL))
        return NULL;
    json_array_foreach(list, i, v) {
        const char *s = json_string_value(json_object_get(v, "version"));
        if (!s || semver_parse(s, &cur))
            continue;
        if (!name || semver_cmp(&cur, &best) > 0) {
            free(name);
            name = strdup(s);
            best = cur;
        }
    }
    json_decref(list);
    return name;
}

int market_model_get(struct market *m, const struct principal *viewer, const char *owner,
                     const char *slug, json_t **out, struct ag_err *e)
{
    json_t *model = NULL;
    bool in_tx = false;
    char *latest;
    int64_t id;
    int rc;

    /* One snapshot for the listing, its versions and its chain state. */
    if (store_read_begin(m->store) == 0)
        in_tx = true;
    rc = load_model(m, viewer, owner, slug, MODEL_READ, &model, e);
    if (rc)
        goto out;
    id = json_integer_value(json_object_get(model, "id"));
    latest = latest_version(m, id);
    json_object_set_new(model, "latest_version", json_str_or_null(latest));
    free(latest);
    if (viewer) {
        bool liked = false;
        store_like_get(m->store, viewer->user_id, id, &liked, NULL);
        json_object_set_new(model, "liked", json_boolean(liked));
    }
    market_chain_decorate(m, model); /* issue 4: on-chain token id, owner, price */
    *out = model;
out:
    if (in_tx)
        store_read_end(m->store);
    return rc;
}

int market_model_update(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, const struct model_input *in, json_t **out,
                        struct ag_err *e)
{
    struct fields_ctx c;
    struct model_fields f;
    json_t *model = NULL;
    int rc = load_model(m, viewer, owner, slug, MODEL_WRITE, &model, e);

    if (rc)
        return rc;
    fields_ctx_init(&c);
    rc = build_fields(in, false, &c, &f, e);
    if (!rc)
        rc = store_model_update(m->store, json_integer_value(json_object_get(model, "id")), &f,
                                time_now(), e);
    if (!rc)
        market__invalidate(m);
    if (!rc)
        rc = market_model_get(m, viewer, owner, slug, out, e);
    fields_ctx_release(&c);
    json_decref(model);
    return rc;
}

int market_model_delete(struct market *m, const struct principal *viewer, const char *owner,
                        const char *slug, struct ag_err *e)
{
    json_t *model = NULL;
    int rc = load_model(m, viewer, owner, slug, MODEL_DELETE, &model, e);
    if (rc)
        return rc;
    rc = store_model_delete(m->store, json_integer_value(json_object_get(model, "id")), e);
    json_decref(model);
    if (!rc)
        market__invalidate(m);
    return rc;
}

int market__load_model(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, enum model_action action, json_t **out,
                       struct ag_err *e)
{
    return load_model(m, viewer, owner, slug, action, out, e);
}
