/* models.c - /api/v1/models: search and the listings themselves. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

/* Reads the listing fields of a create or update body into `in`. */
static int model_input(struct api_call *c, json_t *body, struct model_input *in)
{
    static const char *const arrays[] = {"tags", "datasets", "metrics", "language"};
    json_t **slots[] = {&in->tags, &in->datasets, &in->metrics, &in->language};

    api_str(c, body, "slug", false, &in->slug);
    api_str(c, body, "title", false, &in->title);
    api_str(c, body, "summary", false, &in->summary);
    api_str(c, body, "card", false, &in->card);
    api_str(c, body, "task", false, &in->task);
    api_str(c, body, "library", false, &in->library);
    api_str(c, body, "license", false, &in->license);
    api_str(c, body, "base_model", false, &in->base_model);
    api_str(c, body, "price", false, &in->price);
    api_str(c, body, "visibility", false, &in->visibility);
    for (size_t i = 0; i < ARRAY_SIZE(arrays) && !c->rc; i++)
        c->rc = json_get_array(body, arrays[i], false, slots[i], &c->err);
    return c->rc;
}

#define MODEL_KEYS                                                                         \
    "title", "summary", "card", "task", "library", "license", "base_model", "tags",         \
        "datasets", "metrics", "language", "price", "visibility"

int api_model_create(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"slug", MODEL_KEYS, NULL};
    struct model_input in = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body) &&
        !model_input(&c, body, &in))
        c.rc = market_model_create(c.market, c.viewer, &in, &out, &c.err);
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}

int api_model_get(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;
    uint64_t gen;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    if (!api_start(app, req, &c))
        c.rc = market_model_get(c.market, c.viewer, http_param(req, "owner"),
                                http_param(req, "slug"), &out, &c.err);
    api_reply(&c, resp, 200, out);
    api_cache_store(app, req, resp, gen);
    return 0;
}

int api_model_update(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {MODEL_KEYS, NULL};
    struct model_input in = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body) &&
        !model_input(&c, body, &in))
        c.rc = market_model_update(c.market, c.viewer, http_param(req, "owner"),
                                   http_param(req, "slug"), &in, &out, &c.err);
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}

int api_model_delete(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_model_delete(c.market, c.viewer, http_param(req, "owner"),
                                   http_param(req, "slug"), &c.err);
    return api_reply(&c, resp, 204, NULL);
}

/* Collects tag filters from repeated `tag=` and comma-separated `tags=`. */
static int add_tags(struct api_call *c, struct search_params *p, const char *name,
                    const char *value)
{
    char *copy = arena_strdup(&c->req->arena, value), *save = NULL, *t;
    bool comma = !strcmp(name, "tags");
    for (t = comma ? strtok_r(copy, ",", &save) : copy; t;
         t = comma ? strtok_r(NULL, ",", &save) : NULL) {
        if (!*t)
            continue;
        if (p->ntags == SEARCH_MAX_TAGS)
            return c->rc = ag_errf(&c->err, AG_EINVAL, "tag", "at most %d tags",
                                   SEARCH_MAX_TAGS);
        p->tags[p->ntags++] = t;
    }
    return 0;
}

static int search_params(struct api_call *c, struct search_params *p)
{
    const struct http_req *req = c->req;
    static const char *const known[] = {"q", "task", "library", "license", "owner", "tag",
                                        "tags", "price_min", "price_max", "free", "min_rating",
                                        "sort", "limit", "cursor"};
    const char *v;

    for (int i = 0; i < req->nquery; i++) {
        const char *name = req->query[i].name;
        bool ok = false;
        for (size_t k = 0; k < ARRAY_SIZE(known); k++)
            ok |= !strcmp(name, known[k]);
        if (!ok)
            return c->rc = ag_errf(&c->err, AG_EINVAL, name, "unknown query parameter \"%.40s\"",
                                   name);
        if ((!strcmp(name, "tag") || !strcmp(name, "tags")) &&
            add_tags(c, p, name, req->query[i].value))
            return c->rc;
    }
    p->q = http_query(req, "q");
    p->task = http_query(req, "task");
    p->library = http_query(req, "library");
    p->license = http_query(req, "license");
    p->owner = http_query(req, "owner");
    p->price_min = http_query(req, "price_min");
    p->price_max = http_query(req, "price_max");
    p->sort = http_query(req, "sort");
    p->cursor = http_query(req, "cursor");
    if ((v = http_query(req, "free")))
        p->free_only = !strcmp(v, "true") || !strcmp(v, "1");
    if ((v = http_query(req, "min_rating")) && *v) {
        char *end;
        p->min_rating = strtod(v, &end);
        if (*end || p->min_rating != p->min_rating)
            return c->rc = ag_errf(&c->err, AG_EINVAL, "min_rating",
                                   "min_rating must be a number from 0 to 5");
    }
    if ((v = http_query(req, "limit")) && *v) {
        int64_t n;
        if (parse_i64(v, &n) || n < 1 || n > 100)
            return c->rc = ag_errf(&c->err, AG_EINVAL, "limit", "limit must be from 1 to 100");
        p->limit = (int)n;
    }
    return 0;
}

int api_model_search(void *app, struct http_req *req, struct http_resp *resp)
{
    struct search_params p = {0};
    struct api_call c;
    uint64_t gen;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    /* The market writes the answer's JSON text straight into the body. */
    if (!api_start(app, req, &c) && !search_params(&c, &p)) {
        buf_reset(&resp->body);
        c.rc = market_search(c.market, c.viewer, &p, &resp->body, &c.err);
    }
    api_reply(&c, resp, 200, NULL);
    api_cache_store(app, req, resp, gen);
    return 0;
}
