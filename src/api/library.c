/* library.c - GET /api/v1/library (the caller's purchases) and GET /api/v1/sales (the caller's
 * sales), from the chain index. */
#include "core/common.h"
#include "core/util.h"
#include "api/internal.h"
#include "api/routes.h"
#include "chain/chain.h"

/* The prefix the node's publishers give a model's metadata URI. */
#define AGORA_URI "agora:"

/* name_model() adds "model": {owner, slug} to a purchase row when its
 * metadata URI names "agora:owner/slug" and that name hashes to the slug
 * hash the model was registered under (anyone may write any URI, but not a
 * false one for a hash); else "model": null. The raw columns go. */
static void name_model(json_t *row)
{
    const char *uri = json_string_value(json_object_get(row, "metadata_uri"));
    const char *hash = json_string_value(json_object_get(row, "slug_hash"));
    char owner[64], want[67];
    const char *slash, *slug;
    json_t *model = json_null();

    if (uri && hash && !strncmp(uri, AGORA_URI, strlen(AGORA_URI))) {
        uri += strlen(AGORA_URI);
        slash = strchr(uri, '/');
        if (slash && (size_t)(slash - uri) < sizeof(owner) && strlen(slash + 1) <= 64) {
            memcpy(owner, uri, (size_t)(slash - uri));
            owner[slash - uri] = 0;
            slug = slash + 1;
            chain_slug_hash(owner, slug, want);
            if (!strcasecmp(want, hash))
                model = json_pack("{s:s, s:s}", "owner", owner, "slug", slug);
        }
    }
    json_object_set_new(row, "model", model);
    json_object_del(row, "metadata_uri");
}

typedef int (*sales_query)(struct store *, int64_t, json_t **, struct ag_err *);

static int list_reply(void *app, struct http_req *req, struct http_resp *resp, sales_query q)
{
    json_t *rows = NULL, *row, *out = NULL;
    struct api_call c;
    size_t i;

    if (!api_start(app, req, &c) && !api_need_auth(&c))
        c.rc = q(c.market->store, c.viewer->user_id, &rows, &c.err);
    if (!c.rc) {
        json_array_foreach(rows, i, row) name_model(row);
        out = json_pack("{s:o, s:b}", "items", rows, "chain", c.market->chain != NULL);
        http_resp_header(req, resp, "Cache-Control", "no-store");
    }
    return api_reply(&c, resp, 200, out);
}

int api_library_get(void *app, struct http_req *req, struct http_resp *resp)
{
    return list_reply(app, req, resp, store_sales_purchases);
}

int api_sales_get(void *app, struct http_req *req, struct http_resp *resp)
{
    return list_reply(app, req, resp, store_sales_sold);
}
