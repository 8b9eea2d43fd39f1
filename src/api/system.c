/* system.c - /healthz, /metrics and the OpenAPI document. */
#include "core/common.h"
#include "core/embed.h"
#include "core/json.h"
#include "api/internal.h"
#include "api/routes.h"
#include "ipfs/blockstore.h"

#include <unistd.h>

extern const struct embedded_file api_docs[];

const char *api_openapi(size_t *len)
{
    *len = api_docs[0].len;
    return api_docs[0].data;
}

int api_healthz(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api *api = app;
    struct ag_err e = {0};
    int version = 0;
    bool db_ok = store_health(api->market->store, &version, &e) == 0;
    bool storage_ok = api->data_dir && access(api->data_dir, W_OK) == 0 &&
                      market_blockstore(api->market) &&
                      access(blockstore_dir(market_blockstore(api->market)), W_OK) == 0;
    json_t *out;
    UNUSED(req);

    out = json_pack("{s:s, s:s, s:{s:s, s:i}, s:{s:s, s:s}, s:{s:s}}", "status",
                    db_ok && storage_ok ? "ok" : "degraded", "version", api->version, "db",
                    "status", db_ok ? "ok" : "error", "schema_version", version, "storage",
                    "status", storage_ok ? "ok" : "error", "backend", "local", "chain", "status",
                    "not_configured");
    /* Storage: "kubo" is not_configured, ok or unreachable; "fallback" says
     * the node runs on its local blockstore alone because the configured
     * Kubo node cannot be reached (new files are not pinned there, missing
     * blocks cannot come from there). The node stays "ok": local storage
     * serves every file it holds. */
    const char *kubo = market_kubo_status(api->market);
    json_t *storage = json_object_get(out, "storage");
    json_object_set_new(storage, "kubo", json_string(kubo));
    json_object_set_new(storage, "fallback", json_boolean(!strcmp(kubo, "unreachable")));
    /* Roots stored but not yet pinned to Kubo (the re-pin queue); null when
     * the database cannot say. */
    {
        int64_t pending = 0;
        json_object_set_new(storage, "kubo_pending",
                            market_kubo_pending(api->market, &pending, NULL)
                                ? json_null()
                                : json_integer((json_int_t)pending));
    }
    json_object_set_new(out, "chain", market_chain_status(api->market)); /* issue 4 */
    /* The in-memory search index: while it is not "ready", SQL answers. */
    {
        struct search_index_status st;
        store_search_index_status(api->market->store, &st);
        json_object_set_new(out, "search_index",
                            json_pack("{s:s, s:I, s:I, s:I}", "state", st.state, "listings",
                                      (json_int_t)st.listings, "terms", (json_int_t)st.terms,
                                      "postings", (json_int_t)st.postings));
    }
    resp->status = db_ok && storage_ok ? 200 : 503;
    json_dump_buf(&resp->body, out);
    json_decref(out);
    return 0;
}

int api_metrics(void *app, struct http_req *req, struct http_resp *resp)
{
    struct api *api = app;
    resp->status = 200;
    http_resp_header(req, resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return api->http ? http_metrics_render(api->http, &resp->body) : 0;
}

int api_openapi_get(void *app, struct http_req *req, struct http_resp *resp)
{
    size_t len;
    const char *doc = api_openapi(&len);
    UNUSED(app);
    resp->status = 200;
    http_resp_header(req, resp, "Content-Type", "application/yaml; charset=utf-8");
    http_resp_header(req, resp, "Cache-Control", "public, max-age=300");
    return buf_add(&resp->body, doc, len);
}
