/* search.c - full-text search with filters, sorts, facets and keyset cursors. */
#include "core/common.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "market/internal.h"

#define QUERY_MAX 256

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
 * query_words() splits what the user typed into words: runs of letters,
 * digits and non-ASCII bytes, so no search syntax gets through. Each becomes
 * a prefix term, all of them required ("resn" finds resnet). `text` (at
 * least QUERY_MAX + 1 bytes) holds the words the query points at. No words
 * is fine: the search is then a listing.
 */
static int query_words(const char *in, char *text, struct search_query *q, struct ag_err *e)
{
    size_t n = strlen(in);

    if (n > QUERY_MAX)
        return ag_errf(e, AG_EINVAL, "q", "query must be at most %d bytes", QUERY_MAX);
    memcpy(text, in, n + 1);
    for (size_t i = 0; i < n;) {
        while (i < n && !word_byte((unsigned char)text[i]))
            text[i++] = '\0';
        if (i == n)
            break;
        if (q->nwords == SEARCH_MAX_WORDS)
            return ag_errf(e, AG_EINVAL, "q", "query must have at most %d words",
                           SEARCH_MAX_WORDS);
        q->words[q->nwords++] = text + i;
        while (i < n && word_byte((unsigned char)text[i]))
            i++;
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
                  struct buf *out, struct ag_err *e)
{
    struct search_query q;
    struct search_result r;
    struct buf after;
    char text[QUERY_MAX + 1], min_key[79], max_key[79];
    int rc, page;

    memset(&q, 0, sizeof(q));
    search_result_init(&r);
    buf_init(&after, 512);
    if (p->q && (rc = query_words(p->q, text, &q, e)))
        goto out;
    if ((rc = parse_sort(p->sort, q.nwords > 0, &q.sort, e)))
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

    page = p->limit ? p->limit : 20;
    if (page < 1 || page > 100) {
        rc = ag_errf(e, AG_EINVAL, "limit", "limit must be from 1 to 100");
        goto out;
    }
    if (p->cursor && *p->cursor) {
        if ((rc = cursor_decode(p->cursor, q.sort, &after, &q.after_id, e)))
            goto out;
        q.after_key = after.p;
    }
    /* Ask for one more than a page: it tells whether a next page exists. */
    q.limit = page + 1;
    if ((rc = store_model_search(m->store, &q, &r, e)))
        goto out;

    /* {"items": [...], "facets": {...}, "total": N, "next_cursor": "..." | null},
     * assembled from the JSON the store made of each listing. */
    rc = buf_adds(out, "{\"items\":[");
    for (int i = 0; !rc && i < MIN(r.nitems, page); i++) {
        if (i)
            rc = buf_addc(out, ',');
        rc = rc ? rc : buf_add(out, r.text.p + r.items[i].off, r.items[i].len);
    }
    rc = rc ? rc : buf_adds(out, "],\"facets\":");
    rc = rc ? rc : buf_add(out, r.facets.p, r.facets.n);
    rc = rc ? rc : buf_addf(out, ",\"total\":%" PRId64 ",\"next_cursor\":", r.total);
    if (!rc && r.nitems > page) {
        char key[80];
        search_item_key(&r, page - 1, key);
        rc = buf_addc(out, '"');
        rc = rc ? rc : cursor_encode(q.sort, key, r.items[page - 1].id, out);
        rc = rc ? rc : buf_addc(out, '"');
    } else if (!rc) {
        rc = buf_adds(out, "null");
    }
    rc = rc ? rc : buf_addc(out, '}');
    if (rc)
        rc = ag_errf(e, rc, NULL, "the search result is too large");
out:
    search_result_release(&r);
    buf_release(&after);
    return rc;
}
