/* quote.h - POST /api/v1/models/{owner}/{slug}/quote: signed price quotes (issue 4, quote.c).
 *
 * The route signs with struct api's `pricer` (chain.h, struct chain_pricer);
 * without one (no --pricing-key) it answers 503.
 */
#ifndef AGORA_API_QUOTE_H
#define AGORA_API_QUOTE_H

#include "http/http.h"

int api_model_quote(void *app, struct http_req *req, struct http_resp *resp);

#endif
