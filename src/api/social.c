/* social.c - likes and reviews of a listing. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

static int like(void *app, struct http_req *req, struct http_resp *resp, bool on)
{
    json_t *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_like(c.market, c.viewer, http_param(req, "owner"), http_param(req, "slug"),
                           on, &out, &c.err);
    return api_reply(&c, resp, 200, out);
}

int api_like_put(void *app, struct http_req *req, struct http_resp *resp)
{
    return like(app, req, resp, true);
}

int api_like_delete(void *app, struct http_req *req, struct http_resp *resp)
{
    return like(app, req, resp, false);
}

int api_review_list(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *list = NULL;
    struct api_call c;
    uint64_t gen;
    int64_t limit = 50, offset = 0;
    const char *v;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    if (!api_start(app, req, &c)) {
        if ((v = http_query(req, "limit")) && (parse_i64(v, &limit) || limit < 1 || limit > 100))
            c.rc = ag_errf(&c.err, AG_EINVAL, "limit", "limit must be from 1 to 100");
        else if ((v = http_query(req, "offset")) &&
                 (parse_i64(v, &offset) || offset < 0 || offset > 1000000))
            c.rc = ag_errf(&c.err, AG_EINVAL, "offset", "offset must be a non-negative integer");
        else
            c.rc = market_review_list(c.market, c.viewer, http_param(req, "owner"),
                                      http_param(req, "slug"), (int)limit, (int)offset, &list,
                                      &c.err);
    }
    api_reply(&c, resp, 200, list ? json_pack("{s:o}", "reviews", list) : NULL);
    api_cache_store(app, req, resp, gen);
    return 0;
}

int api_review_create(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"rating", "body", NULL};
    const char *text = NULL;
    json_t *body = NULL, *out = NULL;
    int64_t rating = 0;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body)) {
        c.rc = json_get_int(body, "rating", true, &rating, &c.err);
        api_str(&c, body, "body", false, &text);
        if (!c.rc && (rating < 1 || rating > 5))
            c.rc = ag_errf(&c.err, AG_EINVAL, "rating", "rating must be an integer from 1 to 5");
        if (!c.rc)
            c.rc = market_review_put(c.market, c.viewer, http_param(req, "owner"),
                                     http_param(req, "slug"), (int)rating, text, &out, &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}
