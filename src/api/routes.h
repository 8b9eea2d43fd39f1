/* routes.h - every API handler, as listed in the route table (routes.c). */
#ifndef AGORA_API_ROUTES_H
#define AGORA_API_ROUTES_H

#include "http/http.h"

#define HANDLER(name) int name(void *app, struct http_req *req, struct http_resp *resp)

HANDLER(api_healthz);
HANDLER(api_metrics);
HANDLER(api_openapi_get);
HANDLER(api_register);
HANDLER(api_login);
HANDLER(api_logout);
HANDLER(api_me);
HANDLER(api_tokens_list);
HANDLER(api_tokens_create);
HANDLER(api_tokens_revoke);
/* chain (issue 4): chain.c */
HANDLER(api_siwe_nonce);
HANDLER(api_siwe_login);
HANDLER(api_siwe_link);
HANDLER(api_wallets_get);
HANDLER(api_chain_get);
HANDLER(api_user_get);
HANDLER(api_user_update);
HANDLER(api_user_reviews);
HANDLER(api_model_search);
HANDLER(api_model_create);
HANDLER(api_model_get);
HANDLER(api_model_update);
HANDLER(api_model_delete);
HANDLER(api_version_list);
HANDLER(api_version_create);
HANDLER(api_version_get);
HANDLER(api_version_update);
HANDLER(api_version_publish);
HANDLER(api_like_put);
HANDLER(api_like_delete);
HANDLER(api_review_list);
HANDLER(api_review_create);
/* storage (issue 3): uploads.c, files.c, gateway.c */
HANDLER(api_upload_create);
HANDLER(api_upload_get);
HANDLER(api_upload_patch);
HANDLER(api_upload_delete);
HANDLER(api_file_get);
HANDLER(api_gateway_get);
/* inference (issue 5): infer.c; the service is struct api's `infer`. */
HANDLER(api_infer);
/* web (issue 6): chain_rpc.c, library.c */
HANDLER(api_chain_rpc);
HANDLER(api_chain_faucet);
HANDLER(api_library_get);
HANDLER(api_sales_get);

#undef HANDLER

#endif
