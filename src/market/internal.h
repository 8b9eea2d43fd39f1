/* internal.h - what the files of src/market/ share and nobody else sees. */
#ifndef AGORA_MARKET_INTERNAL_H
#define AGORA_MARKET_INTERNAL_H

#include "market/market.h"

/* market__load_model() loads owner/slug and applies market_model_access()
 * for `action`; *out is a new reference to the listing. */
int market__load_model(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, enum model_action action, json_t **out,
                       struct ag_err *e);

/* market__invalidate() is called after every write that can change what a
 * public read returns (listings, counters, reviews): it moves the generation
 * that response caches check (market_generation()). */
void market__invalidate(struct market *m);

static inline int64_t market__id(json_t *obj)
{
    return json_integer_value(json_object_get(obj, "id"));
}

#endif
