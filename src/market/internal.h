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

/* market_chain_review_marks() takes "verified" off the reviews whose author's
 * every purchase of the listing was refunded (a dispute ruled for the buyer)
 * since the review was marked: the mark is set when a review is written, by
 * market_licence_holder(). A purchase the chain index has not seen leaves a
 * mark as it is, and a new purchase brings it back. `listing` ("owner/slug")
 * and `author` apply to every review; NULL: each review names its own in
 * "model" / "user" (chain.c). */
void market_chain_review_marks(struct market *m, const char *listing, const char *author,
                               json_t *reviews);

#endif
