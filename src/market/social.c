/* social.c - likes, reviews and download counts. */
#include "core/common.h"
#include "core/util.h"
#include "market/internal.h"

#define REVIEW_MAX 5000

int market_like(struct market *m, const struct principal *viewer, const char *owner,
                const char *slug, bool on, json_t **out, struct ag_err *e)
{
    json_t *model = NULL;
    int64_t likes = 0;
    int rc;

    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in to like a model");
    rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e);
    if (rc)
        return rc;
    rc = store_like_set(m->store, viewer->user_id, market__id(model), on, time_now(), &likes, e);
    json_decref(model);
    if (!rc)
        market__invalidate(m);
    if (!rc)
        *out = json_pack("{s:b, s:I}", "liked", on, "likes", (json_int_t)likes);
    return rc;
}

int market_review_put(struct market *m, const struct principal *viewer, const char *owner,
                      const char *slug, int rating, const char *body, json_t **out,
                      struct ag_err *e)
{
    json_t *model = NULL, *list = NULL, *r;
    int64_t id;
    size_t i;
    int rc;

    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "sign in to review a model");
    if (rating < 1 || rating > 5)
        return ag_errf(e, AG_EINVAL, "rating", "rating must be an integer from 1 to 5");
    if (body && utf8_len(body) > REVIEW_MAX)
        return ag_errf(e, AG_EINVAL, "body", "review must be at most %d characters", REVIEW_MAX);
    rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e);
    if (rc)
        return rc;
    if (json_integer_value(json_object_get(model, "owner_id")) == viewer->user_id) {
        rc = ag_errf(e, AG_EFORBIDDEN, NULL, "you cannot review your own model");
        goto out;
    }
    /* A review is verified when its author holds a licence (issue 4, chain.c). */
    rc = store_review_put(m->store, market__id(model), viewer->user_id, rating, body ? body : "",
                          market_licence_holder(m, viewer, model), time_now(), &id, e);
    if (rc)
        goto out;
    market__invalidate(m);
    rc = store_review_list(m->store, market__id(model), 1000, 0, &list, e);
    if (rc)
        goto out;
    rc = AG_ENOTFOUND;
    json_array_foreach(list, i, r) {
        if (market__id(r) == id) {
            *out = json_incref(r);
            rc = 0;
            break;
        }
    }
    if (rc)
        ag_errf(e, AG_EINTERNAL, NULL, "review vanished after writing");
out:
    json_decref(list);
    json_decref(model);
    return rc;
}

int market_review_list(struct market *m, const struct principal *viewer, const char *owner,
                       const char *slug, int limit, int offset, json_t **out, struct ag_err *e)
{
    json_t *model = NULL;
    int rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e);
    if (rc)
        return rc;
    if (limit <= 0 || limit > 100)
        limit = 50;
    rc = store_review_list(m->store, market__id(model), limit, offset < 0 ? 0 : offset, out, e);
    if (!rc) {
        char listing[160];
        snprintf(listing, sizeof(listing), "%s/%s", owner, slug);
        market_chain_review_marks(m, listing, NULL, *out);
    }
    json_decref(model);
    return rc;
}

int market_user_reviews(struct market *m, const char *username, json_t **out, struct ag_err *e)
{
    json_t *u = NULL;
    int rc = store_user_get(m->store, username, &u, e);
    if (rc == AG_ENOTFOUND)
        return ag_errf(e, AG_ENOTFOUND, "username", "no user named \"%s\"", username);
    if (rc)
        return rc;
    rc = store_review_list_by_user(m->store, market__id(u), 100, out, e);
    if (!rc)
        market_chain_review_marks(m, NULL, username, *out);
    json_decref(u);
    return rc;
}

int market_download_record(struct market *m, int64_t file_id, const char *who, struct ag_err *e)
{
    bool counted = false;
    int rc = store_download_record(m->store, file_id, who, time_now() / 86400, &counted, e);
    if (!rc && counted)
        market__invalidate(m);
    return rc;
}
