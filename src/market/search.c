/* search.c - full-text search with filters, sorts, facets and keyset cursors. */
#include "core/common.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "market/internal.h"

#define QUERY_MAX 256
#define QUERY_TOKENS 16

static const char *const sort_names[] = {
    [SORT_RELEVANCE] = "relevance", [SORT_NEWEST] = "newest",   [SORT_UPDATED] = "updated",
    [SORT_DOWNLOADS] = "downloads", [SORT_LIKES] = "likes",     [SORT_RATING] = "rating",
    [SORT_PRICE_ASC] = "price_asc", [SORT_PRICE_DESC] = "price_desc",
};

static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/*
 * Builds an FTS5 expression from what the user typed: every word becomes a
 * quoted prefix term ("resn"* finds resnet), all of them required. Only word
 * characters get through, so the user cannot inject FTS5 syntax. Returns 0
 * with an empty `out` when the query has no words.
 */
static int fts_expression(const char *q, struct buf *out, struct ag_err *e)
{
    const unsigned char *p = (const unsigned char *)q;
    int ntok = 0;

    if (strlen(q) > QUERY_MAX)
        return ag_errf(e, AG_EINVAL, "q", "query must be at most %d bytes", QUERY_MAX);
    while (*p) {
        const unsigned char *start;
        while (*p && !word_byte(*p))
            p++;
        start = p;
        while (*p && word_byte(*p))
            p++;
        if (p == start)
            continue;
        if (++ntok > QUERY_TOKENS)
            return ag_errf(e, AG_EINVAL, "q", "query must have at most %d words", QUERY_TOKENS);
        if (out->n)
            buf_addc(out, ' ');
        buf_addc(out, '"');
        buf_add(out, start, (size_t)(p - start));
        buf_adds(out, "\"*");
    }
    return 0;
}

/* Cursor = base64url("<sort>\n<key>\n<id>"): opaque to clients, checked here. */
static int cursor_encode(enum search_sort sort, const char *key, int64_t id, struct buf *out)
{
    char raw[256];
    int n = snprintf(raw, sizeof(raw), "%s\n%s\n%" PRId64, sort_names[sort], key, id);
    if (n < 0 || n >= (int)sizeof(raw))
        return AG_ETOOBIG;
    return base64url_encode(out, raw, (size_t)n);
}

static int cursor_decode(const char *cursor, enum search_sort sort, struct buf *key,
                         int64_t *id, struct ag_err *e)
{
    struct buf raw;
    char *nl1, *nl2;
    int rc = AG_EINVAL;

    buf_init(&raw, 512);
    if (strlen(cursor) > 400 || base64url_decode(&raw, cursor, strlen(cursor)))
        goto out;
    nl1 = memchr(raw.p, '\n', raw.n);
    nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl2 || strlen(raw.p) != raw.n)
        goto out;
    *nl1 = *nl2 = '\0';
    if (strcmp(raw.p, sort_names[sort]) || parse_i64(nl2 + 1, id))
        goto out;
    rc = buf_adds(key, nl1 + 1);
out:
    buf_release(&raw);
    if (rc == AG_EINVAL)
        ag_errf(e, AG_EINVAL, "cursor", "cursor is invalid or belongs to another sort order");
    return rc;
}

static int parse_sort(const char *s, bool has_text, enum search_sort *out, struct ag_err *e)
{
    if (!s || !*s) {
        *out = has_text ? SORT_RELEVANCE : SORT_NEWEST;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(sort_names); i++) {
        if (!strcmp(s, sort_names[i])) {
            *out = (enum search_sort)i;
            if (*out == SORT_RELEVANCE && !has_text)
                *out = SORT_NEWEST;
            return 0;
        }
    }
    return ag_errf(e, AG_EINVAL, "sort",
                   "sort must be one of relevance, newest, updated, downloads, likes, rating, "
                   "price_asc, price_desc");
}

int market_search(struct market *m, const struct principal *viewer, const struct search_params *p,
                  json_t **out, struct ag_err *e)
{
    struct search_query q;
    struct buf fts, after;
    char min_key[79], max_key[79];
    json_t *items = NULL, *facets = NULL, *last;
    int64_t total = 0;
    int rc;

    memset(&q, 0, sizeof(q));
    buf_init(&fts, 4096);
    buf_init(&after, 512);
    if (p->q && (rc = fts_expression(p->q, &fts, e)))
        goto out;
    q.fts = fts.n ? fts.p : NULL;
    if ((rc = parse_sort(p->sort, q.fts != NULL, &q.sort, e)))
        goto out;
    q.task = p->task && *p->task ? p->task : NULL;
    q.library = p->library && *p->library ? p->library : NULL;
    q.license = p->license && *p->license ? p->license : NULL;
    q.owner = p->owner && *p->owner ? p->owner : NULL;
    memcpy(q.tags, p->tags, sizeof(q.tags));
    q.ntags = p->ntags;
    if (p->price_min && *p->price_min) {
        if (!valid_price(p->price_min, min_key)) {
            rc = ag_errf(e, AG_EINVAL, "price_min", "price_min must be a decimal whole number");
            goto out;
        }
        q.price_min_key = min_key;
    }
    if (p->price_max && *p->price_max) {
        if (!valid_price(p->price_max, max_key)) {
            rc = ag_errf(e, AG_EINVAL, "price_max", "price_max must be a decimal whole number");
            goto out;
        }
        q.price_max_key = max_key;
    }
    q.free_only = p->free_only;
    if (p->min_rating < 0 || p->min_rating > 5) {
        rc = ag_errf(e, AG_EINVAL, "min_rating", "min_rating must be from 0 to 5");
        goto out;
    }
    q.min_rating = p->min_rating;
    q.include_hidden = viewer && q.owner && !strcmp(viewer->username, q.owner);

    q.limit = p->limit ? p->limit : 20;
    if (q.limit < 1 || q.limit > 100) {
        rc = ag_errf(e, AG_EINVAL, "limit", "limit must be from 1 to 100");
        goto out;
    }
    if (p->cursor && *p->cursor) {
        if ((rc = cursor_decode(p->cursor, q.sort, &after, &q.after_id, e)))
            goto out;
        q.after_key = after.p;
    }
    /* Ask for one more than a page: it tells whether a next page exists. */
    q.limit++;
    rc = store_model_search(m->store, &q, &items, &facets, &total, e);
    q.limit--;
    if (rc)
        goto out;
    last = NULL;
    if (json_array_size(items) > (size_t)q.limit) {
        json_array_remove(items, (size_t)q.limit);
        last = json_array_get(items, (size_t)q.limit - 1);
    }
    *out = json_pack("{s:o, s:o, s:I, s:n}", "items", items, "facets", facets, "total",
                     (json_int_t)total, "next_cursor");
    if (last) {
        struct buf cur;
        buf_init(&cur, 1024);
        if (!cursor_encode(q.sort, json_string_value(json_object_get(last, "sort_key")),
                           market__id(last), &cur))
            json_object_set_new(*out, "next_cursor", json_string(cur.p));
        buf_release(&cur);
    }
    {
        json_t *it;
        size_t i;
        json_array_foreach(items, i, it)
            json_object_del(it, "sort_key");
    }
out:
    buf_release(&fts);
    buf_release(&after);
    return rc;
}
