/* routes.c - the route table: every endpoint of the node, in one place.
 *
 * docs/openapi.yaml must describe each /api/v1 route here (a test checks),
 * and the authorization tests walk this table.
 */
#include "core/common.h"
#include "api/api.h"
#include "api/routes.h"
#include "api/quote.h"

#define KiB 1024
#define MODEL "/api/v1/models/{owner}/{slug}"

const struct http_route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_HIDDEN},
    {"GET", "/metrics", api_metrics, 0, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_HIDDEN},
    {"GET", "/api/v1/openapi.yaml", api_openapi_get, 0, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_HIDDEN},

    {"POST", "/api/v1/auth/register", api_register, 4 * KiB, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/auth/login", api_login, 4 * KiB, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/auth/logout", api_logout, 1 * KiB, 0},
    {"GET", "/api/v1/auth/me", api_me, 0, 0},
    {"GET", "/api/v1/tokens", api_tokens_list, 0, 0},
    {"POST", "/api/v1/tokens", api_tokens_create, 1 * KiB, 0},
    {"DELETE", "/api/v1/tokens/{id}", api_tokens_revoke, 0, 0},
    /* chain (issue 4): Sign-In with Ethereum, wallets, licences, indexer status */
    {"GET", "/api/v1/auth/siwe/nonce", api_siwe_nonce, 0, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/auth/siwe", api_siwe_login, 24 * KiB, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/auth/siwe/link", api_siwe_link, 24 * KiB, 0},
    {"GET", "/api/v1/auth/wallets", api_wallets_get, 0, 0},
    {"GET", "/api/v1/chain", api_chain_get, 0, HTTP_ROUTE_PUBLIC},
    /* chain: an EIP-712 price quote signed by the node's pricing key (quote.c) */
    {"POST", MODEL "/quote", api_model_quote, 1 * KiB, 0},

    {"GET", "/api/v1/users/{username}", api_user_get, 0, HTTP_ROUTE_PUBLIC},
    {"PATCH", "/api/v1/users/{username}", api_user_update, 16 * KiB, 0},
    {"GET", "/api/v1/users/{username}/reviews", api_user_reviews, 0, HTTP_ROUTE_PUBLIC},

    {"GET", "/api/v1/models", api_model_search, 0, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/models", api_model_create, 300 * KiB, 0},
    {"GET", MODEL, api_model_get, 0, HTTP_ROUTE_PUBLIC},
    {"PATCH", MODEL, api_model_update, 300 * KiB, 0},
    {"DELETE", MODEL, api_model_delete, 0, 0},
    {"GET", MODEL "/versions", api_version_list, 0, HTTP_ROUTE_PUBLIC},
    {"POST", MODEL "/versions", api_version_create, 128 * KiB, 0},
    {"GET", MODEL "/versions/{version}", api_version_get, 0, HTTP_ROUTE_PUBLIC},
    {"PATCH", MODEL "/versions/{version}", api_version_update, 128 * KiB, 0},
    {"POST", MODEL "/versions/{version}/publish", api_version_publish, 1 * KiB, 0},
    {"PUT", MODEL "/like", api_like_put, 1 * KiB, 0},
    {"DELETE", MODEL "/like", api_like_delete, 0, 0},
    {"GET", MODEL "/reviews", api_review_list, 0, HTTP_ROUTE_PUBLIC},
    {"POST", MODEL "/reviews", api_review_create, 16 * KiB, 0},

    /* storage (issue 3). PATCH streams its body to disk (HTTP_ROUTE_STREAM):
     * the market caps it at the upload's declared size, itself capped by
     * --max-upload-size, so the route's own cap only bounds the protocol. */
    {"POST", MODEL "/versions/{version}/uploads", api_upload_create, 4 * KiB, 0},
    {"GET", "/api/v1/uploads/{id}", api_upload_get, 0, 0},
    {"PATCH", "/api/v1/uploads/{id}", api_upload_patch, (size_t)1 << 62, HTTP_ROUTE_STREAM},
    {"DELETE", "/api/v1/uploads/{id}", api_upload_delete, 0, 0},
    {"GET", MODEL "/versions/{version}/files/{name}", api_file_get, 0, HTTP_ROUTE_PUBLIC},
    {"GET", "/ipfs/{cid}", api_gateway_get, 0, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_HIDDEN},
    /* inference (issue 5): the body streams in; --infer-max-body (at most
     * 1 GiB) caps it, checked from the headers before a byte is read. */
    {"POST", MODEL "/versions/{version}/infer", api_infer, (size_t)1 << 30,
     HTTP_ROUTE_PUBLIC | HTTP_ROUTE_STREAM},

    /* web (issue 6): the browser's relay to the chain node (method allowlist),
     * the dev-chain faucet, and the signed-in user's purchases and sales. */
    {"POST", "/api/v1/chain/rpc", api_chain_rpc, 64 * KiB, HTTP_ROUTE_PUBLIC},
    {"POST", "/api/v1/chain/faucet", api_chain_faucet, 1 * KiB, 0},
    {"GET", "/api/v1/library", api_library_get, 0, 0},
    {"GET", "/api/v1/sales", api_sales_get, 0, 0},
};

const size_t api_nroutes = ARRAY_SIZE(api_routes);
