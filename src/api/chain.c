/* chain.c - /api/v1/auth/siwe... (Sign-In with Ethereum), wallets and licences, /api/v1/chain. */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"

#include <sodium.h>

int api_siwe_nonce(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c))
        c.rc = market_siwe_nonce(c.market, &out, &c.err);
    if (!c.rc)
        http_resp_header(req, resp, "Cache-Control", "no-store");
    return api_reply(&c, resp, 200, out);
}

int api_siwe_login(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"message", "signature", "token_name", NULL};
    const char *message = NULL, *signature = NULL, *token_name = NULL;
    struct login_result lr = {0};
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "message", true, &message);
        api_str(&c, body, "signature", true, &signature);
        api_str(&c, body, "token_name", false, &token_name);
        if (!c.rc)
            c.rc = market_siwe_login(c.market, message, signature, token_name, &lr, &c.err);
    }
    if (!c.rc && token_name) {
        out = json_pack("{s:o, s:s, s:I}", "user", lr.user, "token", lr.secret, "token_id",
                        (json_int_t)lr.token_id);
    } else if (!c.rc) {
        char cookie[256];
        snprintf(cookie, sizeof(cookie),
                 "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%" PRId64 "%s", SESSION_COOKIE,
                 lr.secret, lr.expires_at - time_now(), c.api->cookie_secure ? "; Secure" : "");
        http_resp_header(req, resp, "Set-Cookie", cookie);
        sodium_memzero(cookie, sizeof(cookie));
        out = json_pack("{s:o, s:s, s:I}", "user", lr.user, "csrf_token", lr.csrf, "expires_at",
                        (json_int_t)lr.expires_at);
    }
    sodium_memzero(&lr, sizeof(lr));
    json_decref(body);
    return api_reply(&c, resp, 200, out);
}

int api_siwe_link(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"message", "signature", NULL};
    const char *message = NULL, *signature = NULL;
    json_t *body = NULL, *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c) && !api_body(&c, keys, &body)) {
        api_str(&c, body, "message", true, &message);
        api_str(&c, body, "signature", true, &signature);
        if (!c.rc)
            c.rc = market_siwe_link(c.market, c.viewer, message, signature, &out, &c.err);
    }
    json_decref(body);
    return api_reply(&c, resp, 201, out);
}

int api_wallets_get(void *app, struct http_req *req, struct http_resp *resp)
{
    json_t *out = NULL;
    struct api_call c;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = market_wallet_info(c.market, c.viewer, &out, &c.err);
    return api_reply(&c, resp, 200, out);
}

int api_chain_get(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api_call c;

    api_start(app, req, &c);
    c.rc = 0;
    return api_reply(&c, resp, 200, market_chain_status(c.market));
}
