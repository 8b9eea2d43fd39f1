/* quote.c - POST /api/v1/models/{owner}/{slug}/quote: an EIP-712 price quote signed here. */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/quote.h"
#include "chain/chain.h"
#include "eth/addr.h"

/* unavailable() answers 503 with `msg` shown to the client. api_error()
 * keeps 5xx details for the log; these two say only how this node is set
 * up (no key, or a key the contract does not accept) and what to do. */
static int unavailable(struct api_call *c, struct http_resp *resp, const char *msg)
{
    json_t *body = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "unavailable", "message", msg,
                             "request_id", c->req->request_id);
    log_warn("request %s: quote refused: %s", c->req->request_id, msg);
    c->rc = 0;
    return api_reply(c, resp, 503, body);
}

/* The caller (signed in) asks for a quote to `buyer`, usually one of their
 * wallets; the contract itself makes sure only `buyer` can redeem it, once.
 * The listing must be visible to the caller (404 otherwise). */
int api_model_quote(void *app, struct http_req *req, struct http_resp *resp)
{
    static const char *const keys[] = {"buyer", "version", NULL};
    const char *owner = http_param(req, "owner"), *slug = http_param(req, "slug");
    const char *buyer = NULL, *version = NULL;
    json_t *body = NULL, *model = NULL, *out = NULL;
    uint8_t who[20];
    char shown[256] = ""; /* a 503 whose message the client may see */
    struct api_call c;

    if (api_start(app, req, &c) || api_need_auth(&c) || api_body(&c, keys, &body))
        goto out;
    if (api_str(&c, body, "buyer", true, &buyer) || api_str(&c, body, "version", false, &version))
        goto out;
    if (addr_parse(buyer, who, false, &c.err)) {
        c.rc = ag_errf(&c.err, AG_EINVAL, "buyer", "buyer must be an address (0x + 40 hex)");
        goto out;
    }
    if (!memcmp(who, (uint8_t[20]){0}, 20)) {
        c.rc = ag_errf(&c.err, AG_EINVAL, "buyer",
                       "buyer must not be the zero address (a quote anyone could redeem)");
        goto out;
    }
    if (version && (!*version || strlen(version) > 128)) {
        c.rc = ag_errf(&c.err, AG_EINVAL, "version", "version must be 1 to 128 characters");
        goto out;
    }
    if ((c.rc = market_model_get(c.market, c.viewer, owner, slug, &model, &c.err)))
        goto out;
    if (!c.api->pricer) {
        str_copy(shown,
                 "this node issues no price quotes (it was started without "
                 "--pricing-key): buy at the list price",
                 sizeof(shown));
        goto out;
    }
    c.rc = chain_pricer_quote(c.api->pricer, owner, slug, who, version, &out, &c.err);
    if (c.rc == AG_EUNAVAILABLE && !strcmp(c.err.field, "pricing-key"))
        str_copy(shown, c.err.msg, sizeof(shown));
out:
    if (!c.rc)
        http_resp_header(req, resp, "Cache-Control", "no-store");
    json_decref(body);
    json_decref(model);
    return shown[0] ? unavailable(&c, resp, shown) : api_reply(&c, resp, 200, out);
}
