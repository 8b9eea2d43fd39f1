/* internal.h - what the files of src/market/ share and nobody else sees. */
#ifndef AGORA_MARKET_INTERNAL_H
#define AGORA_MARKET_INTERNAL_H

#include "market/market.h"

#include <stdatomic.h>

/* market__load_model() loads owner/slug and applies market_model_access()
 * for `action`; *out is a new reference to the listing. */
int market__load_model(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, enum model_action action, json_t **out,
                       struct ag_err *e);

/* market__invalidate() is called after every write that can change what a
 * public read returns (listings, counters, reviews): it moves the generation
 * that response caches check (market_generation()). */
void market__invalidate(struct market *m);

/* market__kubo_pin() is market_kubo_pin() that gives up between blocks
 * (AG_EUNAVAILABLE) once *cancel turns true; cancel may be NULL. */
int market__kubo_pin(struct market *m, const struct cid *root, const atomic_bool *cancel,
                     struct ag_err *e);

static inline int64_t market__id(json_t *obj)
{
    return json_integer_value(json_object_get(obj, "id"));
}

#endif
