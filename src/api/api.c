/* api.c - authentication, CSRF, JSON bodies and errors, shared by every route. */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "api/internal.h"
#include "http/ratelimit.h"

static bool mutating(const char *method)
{
    return strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
}

/* issue 7: the per-account token bucket (--rate-account), taken once per
 * signed-in request; 429 with Retry-After when it is empty. */
static int account_limit(struct api_call *c)
{
    char key[32];
    unsigned retry = 0;

    if (!c->api->rate_account)
        return 0;
    snprintf(key, sizeof(key), "u:%" PRId64, c->principal.user_id);
    if (ratelimit_take(c->api->rate_account, key, 1, &retry) == AG_ERATELIMIT) {
        c->rc = ag_errf(&c->err, AG_ERATELIMIT, NULL,
                        "too many requests for this account; retry in %u s", retry);
        c->err.retry_after = (int)retry;
    }
    return c->rc;
}

int api_start(struct api *api, struct http_req *req, struct api_call *c)
{
    const char *authz = http_header(req, "Authorization");
    const char *cookie = http_cookie(req, SESSION_COOKIE);

    memset(c, 0, sizeof(*c));
    c->api = api;
    c->market = api->market;
    c->req = req;
    if (authz) {
        if (strncasecmp(authz, "Bearer ", 7) || !authz[7]) {
            c->rc = ag_errf(&c->err, AG_EUNAUTH, NULL,
                            "Authorization must be \"Bearer <token>\"");
            return c->rc;
        }
        c->rc = market_authenticate(api->market, authz + 7, false, &c->principal, &c->err);
        if (c->rc)
            return c->rc;
        c->bearer = authz + 7;
        c->viewer = &c->principal;
        return account_limit(c);
    }
    /* A stale cookie is not an error: the caller is simply anonymous. */
    if (cookie && !market_authenticate(api->market, cookie, true, &c->principal, NULL)) {
        const char *csrf = http_header(req, CSRF_HEADER);
        c->session = cookie;
        c->viewer = &c->principal;
        if (mutating(req->method) &&
            (!csrf || strlen(csrf) != strlen(c->principal.csrf) ||
             !ct_equal(csrf, c->principal.csrf, strlen(csrf)))) {
            c->rc = ag_errf(&c->err, AG_EFORBIDDEN, "csrf",
                            "missing or invalid " CSRF_HEADER " header");
            return c->rc;
        }
        return account_limit(c);
    }
    return 0;
}

int api_need_auth(struct api_call *c)
{
    if (!c->rc && !c->viewer)
        c->rc = ag_errf(&c->err, AG_EUNAUTH, NULL, "sign in first (API token or session)");
    return c->rc;
}

int api_body(struct api_call *c, const char *const *allowed, json_t **out)
{
    const char *type = http_header(c->req, "Content-Type");
    json_t *v = NULL;

    if (c->rc)
        return c->rc;
    if (!type || strncasecmp(type, "application/json", 16) ||
        (type[16] && type[16] != ';' && type[16] != ' '))
        return c->rc = ag_errf(&c->err, AG_EMEDIATYPE, NULL,
                               "request body must be JSON (Content-Type: application/json)");
    if (c->req->body.n == 0)
        return c->rc = ag_errf(&c->err, AG_EBADJSON, NULL, "request body is empty");
    c->rc = json_parse(c->req->body.p, c->req->body.n, &v, &c->err);
    if (c->rc)
        return c->rc;
    if (!json_is_object(v))
        c->rc = ag_errf(&c->err, AG_EINVAL, NULL, "request body must be a JSON object");
    else
        c->rc = json_check_keys(v, allowed, &c->err);
    if (c->rc) {
        json_decref(v);
        return c->rc;
    }
    *out = v;
    return 0;
}

int api_str(struct api_call *c, json_t *obj, const char *key, bool required, const char **out)
{
    if (!c->rc)
        c->rc = json_get_str(obj, key, required, out, &c->err);
    return c->rc;
}

static json_t *error_json(const struct ag_err *e, const char *message, const char *request_id)
{
    json_t *err = json_pack("{s:s, s:s, s:s}", "code", ag_err_name(e->code), "message", message,
                            "request_id", request_id);
    if (e->field[0])
        json_object_set_new(err, "field", json_string(e->field));
    return json_pack("{s:o}", "error", err);
}

void api_error(struct http_req *req, struct http_resp *resp, const struct ag_err *e)
{
    int status = ag_err_status(e->code);
    const char *msg = e->msg[0] ? e->msg : ag_strerror(e->code);
    json_t *body;

    if (status >= 500) {
        /* The details are for the operator's log, not for the client. */
        log_error("request %s failed: %s: %s", req->request_id, ag_err_name(e->code), msg);
        msg = ag_strerror(e->code);
        if (e->code == AG_EDB || e->code == AG_EIO || e->code == AG_ECORRUPT)
            msg = "internal error";
    }
    body = error_json(e, msg, req->request_id);
    resp->status = status;
    buf_reset(&resp->body);
    json_dump_buf(&resp->body, body);
    json_decref(body);
    if (e->code == AG_ERATELIMIT) {
        char s[24];
        snprintf(s, sizeof(s), "%d", e->retry_after > 0 ? e->retry_after : 1);
        http_resp_header(req, resp, "Retry-After", s);
    }
}

int api_reply(struct api_call *c, struct http_resp *resp, int status, json_t *body)
{
    if (c->rc) {
        if (!c->err.code)
            ag_err_set(&c->err, c->rc);
        api_error(c->req, resp, &c->err);
        json_decref(body);
        return 0;
    }
    resp->status = status;
    if (body) {
        if (json_dump_buf(&resp->body, body)) {
            ag_errf(&c->err, AG_ETOOBIG, NULL, "response too large");
            api_error(c->req, resp, &c->err);
        }
        json_decref(body);
    }
    return 0;
}
