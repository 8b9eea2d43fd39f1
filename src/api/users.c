/* users.c - /api/v1/users/{username}: profiles, reputation, a user's reviews. */
#include "core/common.h"
#include "core/json.h"
#include "api/internal.h"
#include "api/routes.h"

int api_user_get(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;
    uint64_t gen;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    if (!api_start(app, req, &c))
        c.rc = market_user_get(c.market, c.viewer, http_param(req, "username"), &out, &c.err);
    api_reply(&c, resp, 200, out);
    api_cache_store(app, req, resp, gen);
    return 0;
}

int api_user_update(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"display_name", "bio", "links", NULL};
    struct profile_input in = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "display_name", false, &in.display_name);
        api_str(&c, body, "bio", false, &in.bio);
        if (!c.rc)
            c.rc = json_get_array(body, "links", false, &in.links, &c.err);
        if (!c.rc)
            c.rc = market_user_update(c.market, c.viewer, http_param(req, "username"), &in, &out,
                                      &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}

int api_user_reviews(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *list = NULL;
    struct api_call c;

    if (!api_start(app, req, &c))
        c.rc = market_user_reviews(c.market, http_param(req, "username"), &list, &c.err);
    return api_reply(&c, resp, 200, list ? json_pack("{s:o}", "reviews", list) : NULL);
}
