/* versions.c - /api/v1/models/{owner}/{slug}/versions: versions and their files. */
#include "core/common.h"
#include "core/json.h"
#include "api/internal.h"
#include "api/routes.h"

static int version_input(struct api_call *c, json_t *body, struct version_input *in)
{
    api_str(c, body, "version", false, &in->version);
    api_str(c, body, "changelog", false, &in->changelog);
    if (!c->rc)
        c->rc = json_get_array(body, "files", false, &in->files, &c->err);
    if (!c->rc)
        c->rc = json_get_bool(body, "publish", false, &in->publish, &c->err);
    return c->rc;
}

int api_version_list(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *list = NULL;
    struct api_call c;
    uint64_t gen;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    if (!api_start(app, req, &c))
        c.rc = market_version_list(c.market, c.viewer, http_param(req, "owner"),
                                   http_param(req, "slug"), &list, &c.err);
    api_reply(&c, resp, 200, list ? json_pack("{s:o}", "versions", list) : NULL);
    api_cache_store(app, req, resp, gen);
    return 0;
}

int api_version_create(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"version", "changelog", "files", "publish", NULL};
    struct version_input in = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body) &&
        !version_input(&c, body, &in)) {
        if (!in.version)
            c.rc = ag_errf(&c.err, AG_EINVAL, "version", "version is required");
        else
            c.rc = market_version_create(c.market, c.viewer, http_param(req, "owner"),
                                         http_param(req, "slug"), &in, &out, &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}

int api_version_get(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;
    uint64_t gen;

    if (api_cache_serve(app, req, resp))
        return 0;
    gen = market_generation(((struct api *)app)->market);

    if (!api_start(app, req, &c))
        c.rc = market_version_get(c.market, c.viewer, http_param(req, "owner"),
                                  http_param(req, "slug"), http_param(req, "version"), &out,
                                  &c.err);
    api_reply(&c, resp, 200, out);
    api_cache_store(app, req, resp, gen);
    return 0;
}

int api_version_update(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"changelog", "files", "publish", NULL};
    struct version_input in = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body) &&
        !version_input(&c, body, &in))
        c.rc = market_version_update(c.market, c.viewer, http_param(req, "owner"),
                                     http_param(req, "slug"), http_param(req, "version"), &in,
                                     &out, &c.err);
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}

int api_version_publish(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_version_publish(c.market, c.viewer, http_param(req, "owner"),
                                      http_param(req, "slug"), http_param(req, "version"), &out,
                                      &c.err);
    return api_reply(&c, resp, 200, out);
}
