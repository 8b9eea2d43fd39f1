/* auth.c - /api/v1/auth/... and /api/v1/tokens: accounts, sessions, API tokens. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

#include <sodium.h>

int api_register(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"username", "email", "password", NULL};
    const char *username = NULL, *email = NULL, *password = NULL;
    json_t *body = NULL, *user = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "username", true, &username);
        api_str(&c, body, "email", true, &email);
        api_str(&c, body, "password", true, &password);
        if (!c.rc)
            c.rc = market_register(c.market, username, email, password, false, &user, &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, user ? json_pack("{s:o}", "user", user) : NULL);
}

static void set_session_cookie(struct api_call *c, struct http_resp *resp, const char *value,
                               int64_t max_age)
{
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%" PRId64 "%s",
             SESSION_COOKIE, value, max_age, c->api->cookie_secure ? "; Secure" : "");
    http_resp_header(c->req, resp, "Set-Cookie", cookie);
}

int api_login(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"login", "password", "token_name", NULL};
    const char *login = NULL, *password = NULL, *token_name = NULL;
    struct login_result lr = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "login", true, &login);
        api_str(&c, body, "password", true, &password);
        api_str(&c, body, "token_name", false, &token_name);
        if (!c.rc)
            c.rc = market_login(c.market, login, password, req->remote_ip, token_name, &lr,
                                &c.err);
    }
    if (!c.rc && token_name) {
        out = json_pack("{s:o, s:s, s:I}", "user", lr.user, "token", lr.secret, "token_id",
                        (json_int_t)lr.token_id);
    } else if (!c.rc) {
        set_session_cookie(&c, resp, lr.secret, lr.expires_at - time_now());
        out = json_pack("{s:o, s:s, s:I}", "user", lr.user, "csrf_token", lr.csrf, "expires_at",
                        (json_int_t)lr.expires_at);
    }
    sodium_memzero(&lr, sizeof(lr));
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}

int api_logout(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c)) {
        if (c.bearer) {
            c.rc = market_token_revoke_secret(c.market, c.viewer, c.bearer, &c.err);
        } else {
            c.rc = market_logout_session(c.market, c.session, &c.err);
            set_session_cookie(&c, resp, "", 0);
        }
    }
    return api_reply(&c, resp, 204, NULL);
}

int api_me(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *user = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_user_get(c.market, c.viewer, c.viewer->username, &user, &c.err);
    if (!c.rc) {
        out = json_pack("{s:o, s:s}", "user", user, "auth", c.bearer ? "token" : "session");
        if (c.session)
            json_object_set_new(out, "csrf_token", json_string(c.principal.csrf));
    }
    return api_reply(&c, resp, 200, out);
}

int api_tokens_list(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *list = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_token_list(c.market, c.viewer, &list, &c.err);
    return api_reply(&c, resp, 200, list ? json_pack("{s:o}", "tokens", list) : NULL);
}

int api_tokens_create(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"name", NULL};
    const char *name = NULL;
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "name", true, &name);
        if (!c.rc)
            c.rc = market_token_create(c.market, c.viewer, name, &out, &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}

int api_tokens_revoke(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api_call c;
    int64_t id;

    if (!api_start(app, req, &c) && !api_need_auth(&c)) {
        if (parse_i64(http_param(req, "id"), &id) || id <= 0)
            c.rc = ag_errf(&c.err, AG_ENOTFOUND, "id", "no such token");
        else
            c.rc = market_token_revoke(c.market, c.viewer, id, &c.err);
    }
    return api_reply(&c, resp, 204, NULL);
}
