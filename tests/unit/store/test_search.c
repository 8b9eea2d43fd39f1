/* test_search.c - unit tests of store_model_search(): filters, sorts, keyset pages, FTS, facets. */
#include "core/common.h"

#include "core/util.h"
#include "fixture.h"

/* search_json() runs store_model_search() and hands back its items as JSON
 * (each with its "sort_key"), the facets and the total, as a client sees them. */
static int search_json(struct store *s, const struct search_query *q, json_t **items,
                       json_t **facets, int64_t *total, struct ag_err *e)
{
    struct search_result r;
    json_t *arr;
    int rc;

    search_result_init(&r);
    rc = store_model_search(s, q, &r, e);
    if (!rc) {
        arr = json_array();
        for (int i = 0; i < r.nitems; i++) {
            json_t *it = json_loadb(r.text.p + r.items[i].off, r.items[i].len, 0, NULL);
            ASSERT(it != NULL);
            char key[80];
            search_item_key(&r, i, key);
            json_object_set_new(it, "sort_key", json_string(key));
            ASSERT_EQ(fx_int(it, "id"), r.items[i].id);
            json_array_append_new(arr, it);
        }
        *items = arr;
        if (facets)
            *facets = json_loadb(r.facets.p, r.facets.n, 0, NULL);
        if (total)
            *total = r.total;
    }
    search_result_release(&r);
    return rc;
}

/* words() sets the query's words from a space-separated list ("" for none). */
static void words(struct search_query *q, const char *list)
{
    static char text[8][256];
    static int turn;
    char *t = text[turn++ % 8], *save = NULL;

    str_copy(t, list, sizeof(text[0]));
    q->nwords = 0;
    for (char *w = strtok_r(t, " ", &save); w; w = strtok_r(NULL, " ", &save))
        q->words[q->nwords++] = w;
}

/* slugs() writes the items' slugs in order, comma-separated, into a static buffer. */
static const char *slugs(json_t *items)
{
    static char out[1024];
    json_t *it;
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; (it = json_array_get(items, i)); i++) {
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "," : "", fx_str(it, "slug"));
        ASSERT(n < sizeof(out));
    }
    return out;
}

/* run() searches and returns the slugs; *total gets the count when given. */
static const char *run(struct store *s, const struct search_query *q, int64_t *total)
{
    json_t *items = NULL, *facets = NULL;
    struct ag_err e = {0};
    int64_t n = -1;
    const char *r;
    int rc = search_json(s, q, &items, &facets, &n, &e);

    if (rc)
        test_fail(__FILE__, __LINE__, "store_model_search: %d %s", rc, e.msg);
    if (total)
        *total = n;
    r = slugs(items);
    json_decref(items);
    json_decref(facets);
    return r;
}

static int64_t add(struct store *s, int64_t owner, const char *slug, const char *title,
                   const char *summary, const char *card, const char *task, const char *library,
                   const char *license, const char *tags, const char *price, const char *visibility,
                   int64_t created)
{
    struct model_fields f = {0};
    struct ag_err e = {0};
    char key[79];
    int64_t id = 0;
    int rc;

    f.slug = slug;
    f.title = title;
    f.summary = summary;
    f.card = card;
    f.task = task;
    f.library = library;
    f.license = license;
    f.tags_json = tags;
    f.visibility = visibility;
    if (price) {
        fx_price_key(price, key);
        f.price = price;
        f.price_key = key;
    }
    rc = store_model_insert(s, owner, &f, created, &id, &e);
    if (rc)
        test_fail(__FILE__, __LINE__, "insert %s: %d %s", slug, rc, e.msg);
    return id;
}

/* catalog() builds six listings with distinct counters:
 *   slug    owner task                 library  license     price        created updated
 *   resnet  alice image-classification onnx     mit         0            100     600
 *   bert    bob   fill-mask            onnx     apache-2.0  1000         200     300
 *   yolo    alice object-detection     pytorch  mit         50           300     400
 *   gpt     bob   text-generation      onnx     mit         10^21        400     100(*)
 *   hidden  alice image-classification onnx     mit         private      500
 *   draft   bob   fill-mask            onnx     ""          draft        600
 * downloads: yolo 3, bert 2, resnet 1; likes: bert 3, resnet 2, gpt 1;
 * ratings: gpt 5.0, resnet 4.5, yolo 3.0. (*) updated by a later update. */
static void catalog(struct store *s)
{
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), c = fx_user(s, "carol");
    int64_t resnet, bert, yolo, gpt, v, f, likes;
    struct model_fields upd = {0};
    bool counted;

    resnet = add(s, a, "resnet", "ResNet 50 image classifier", "Residual network", "A CNN.",
                 "image-classification", "onnx", "mit", "[\"vision\",\"cnn\"]", NULL, NULL, 100);
    bert = add(s, b, "bert", "BERT base", "A language model", "Masked LM.", "fill-mask", "onnx",
               "apache-2.0", "[\"nlp\"]", "1000", NULL, 200);
    yolo = add(s, a, "yolo", "YOLO detector", "Finds objects", "", "object-detection", "pytorch",
               "mit", "[\"vision\",\"detection\"]", "50", NULL, 300);
    gpt = add(s, b, "gpt", "Tiny GPT", "Writes text", "", "text-generation", "onnx", "mit",
              "[\"nlp\",\"generation\"]", "1000000000000000000000", NULL, 400);
    add(s, a, "hidden", "Hidden ResNet", "", "", "image-classification", "onnx", "mit",
        "[\"vision\"]", NULL, "private", 500);
    add(s, b, "draft", "Draft BERT", "", "", "fill-mask", "onnx", NULL, "[\"nlp\"]", NULL, "draft",
        600);

    upd.summary = "Residual network, updated";
    ASSERT_OK(store_model_update(s, resnet, &upd, 600, NULL));
    ASSERT_OK(store_model_update(s, bert, &upd, 300, NULL));
    ASSERT_OK(store_model_update(s, yolo, &upd, 400, NULL));
    ASSERT_OK(store_model_update(s, gpt, &upd, 100, NULL));

    int64_t dl[][2] = {{yolo, 3}, {bert, 2}, {resnet, 1}};
    for (size_t i = 0; i < ARRAY_SIZE(dl); i++) {
        ASSERT_OK(store_version_insert(s, dl[i][0], "1.0.0", 1, 0, 0, NULL, NULL, 10, &v, NULL));
        ASSERT_OK(store_file_put(s, v, "w.onnx", 1, NULL, NULL, 10, &f, NULL));
        for (int64_t k = 0; k < dl[i][1]; k++) {
            char who[32];
            snprintf(who, sizeof(who), "user:%" PRId64, k);
            ASSERT_OK(store_download_record(s, f, who, 1, &counted, NULL));
        }
    }
    ASSERT_OK(store_like_set(s, a, bert, true, 1, &likes, NULL));
    ASSERT_OK(store_like_set(s, b, bert, true, 1, &likes, NULL));
    ASSERT_OK(store_like_set(s, c, bert, true, 1, &likes, NULL));
    ASSERT_OK(store_like_set(s, a, resnet, true, 1, &likes, NULL));
    ASSERT_OK(store_like_set(s, b, resnet, true, 1, &likes, NULL));
    ASSERT_OK(store_like_set(s, c, gpt, true, 1, &likes, NULL));
    ASSERT_OK(store_review_put(s, gpt, a, 5, "", false, 1, NULL, NULL));
    ASSERT_OK(store_review_put(s, resnet, b, 4, "", false, 1, NULL, NULL));
    ASSERT_OK(store_review_put(s, resnet, c, 5, "", false, 1, NULL, NULL));
    ASSERT_OK(store_review_put(s, yolo, b, 3, "", false, 1, NULL, NULL));
}

TEST(search_filters)
{
    struct store *s = fx_open();
    struct search_query q = {.sort = SORT_NEWEST, .limit = 100};
    char lo[79], hi[79];
    int64_t total = 0;

    catalog(s);
    ASSERT_STR_EQ(run(s, &q, &total), "gpt,yolo,bert,resnet");
    ASSERT_EQ(total, 4);
    q.include_hidden = true;
    ASSERT_STR_EQ(run(s, &q, &total), "draft,hidden,gpt,yolo,bert,resnet");
    ASSERT_EQ(total, 6);
    q.include_hidden = false;

    q.task = "image-classification";
    ASSERT_STR_EQ(run(s, &q, NULL), "resnet");
    q.task = NULL;
    q.library = "onnx";
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,bert,resnet");
    q.license = "mit";
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,resnet");
    q.library = q.license = NULL;
    q.owner = "alice";
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo,resnet");
    q.include_hidden = true;
    ASSERT_STR_EQ(run(s, &q, NULL), "hidden,yolo,resnet");
    q.include_hidden = false;
    q.owner = "nobody";
    ASSERT_STR_EQ(run(s, &q, &total), "");
    ASSERT_EQ(total, 0);
    q.owner = NULL;

    q.tags[0] = "vision";
    q.ntags = 1;
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo,resnet");
    q.tags[1] = "detection";
    q.ntags = 2;
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo");
    q.tags[1] = "nlp";
    ASSERT_STR_EQ(run(s, &q, NULL), "");
    q.ntags = 0;

    fx_price_key("50", lo);
    fx_price_key("1000", hi);
    q.price_min_key = lo;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,yolo,bert");
    q.price_max_key = hi;
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo,bert");
    q.price_min_key = NULL;
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo,bert,resnet");
    q.price_max_key = NULL;
    q.free_only = true;
    ASSERT_STR_EQ(run(s, &q, NULL), "resnet");
    q.free_only = false;

    q.min_rating = 4.5;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,resnet");
    q.min_rating = 3;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,yolo,resnet");
    store_close(s);
}

TEST(search_sorts)
{
    struct store *s = fx_open();
    struct search_query q = {.limit = 100};
    json_t *items = NULL;

    catalog(s);
    q.sort = SORT_RELEVANCE; /* no text query: newest */
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,yolo,bert,resnet");
    q.sort = SORT_NEWEST;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,yolo,bert,resnet");
    q.sort = SORT_UPDATED;
    ASSERT_STR_EQ(run(s, &q, NULL), "resnet,yolo,bert,gpt");
    q.sort = SORT_DOWNLOADS;
    ASSERT_STR_EQ(run(s, &q, NULL), "yolo,bert,resnet,gpt");
    q.sort = SORT_LIKES;
    ASSERT_STR_EQ(run(s, &q, NULL), "bert,resnet,gpt,yolo");
    q.sort = SORT_RATING;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,resnet,yolo,bert");
    q.sort = SORT_PRICE_ASC;
    ASSERT_STR_EQ(run(s, &q, NULL), "resnet,yolo,bert,gpt");
    q.sort = SORT_PRICE_DESC;
    ASSERT_STR_EQ(run(s, &q, NULL), "gpt,bert,yolo,resnet");

    /* sort_key is the sort value as text; items carry no card. */
    q.sort = SORT_RATING;
    ASSERT_OK(search_json(s, &q, &items, NULL, NULL, NULL));
    ASSERT_STR_EQ(fx_str(json_array_get(items, 1), "sort_key"), "4.5");
    ASSERT(json_object_get(json_array_get(items, 0), "card") == NULL);
    ASSERT_STR_EQ(fx_str(json_array_get(items, 0), "owner"), "bob");
    ASSERT(json_is_array(json_object_get(json_array_get(items, 0), "tags")));
    json_decref(items);
    q.sort = SORT_NEWEST;
    ASSERT_OK(search_json(s, &q, &items, NULL, NULL, NULL));
    ASSERT_STR_EQ(fx_str(json_array_get(items, 0), "sort_key"), "400");
    json_decref(items);
    q.sort = SORT_PRICE_DESC;
    ASSERT_OK(search_json(s, &q, &items, NULL, NULL, NULL));
    ASSERT_EQ(strlen(fx_str(json_array_get(items, 0), "sort_key")), 78);
    json_decref(items);
    store_close(s);
}

TEST(search_facets_and_total)
{
    struct store *s = fx_open();
    struct search_query q = {.sort = SORT_NEWEST, .limit = 1};
    json_t *items = NULL, *facets = NULL, *task;
    int64_t total = 0;

    catalog(s);
    ASSERT_OK(search_json(s, &q, &items, &facets, &total, NULL));
    ASSERT_EQ(json_array_size(items), 1);
    ASSERT_EQ(total, 4);
    task = json_object_get(facets, "task");
    ASSERT_EQ(json_object_size(task), 4);
    ASSERT_EQ(fx_int(task, "fill-mask"), 1);
    ASSERT_EQ(fx_int(json_object_get(facets, "license"), "mit"), 3);
    ASSERT_EQ(fx_int(json_object_get(facets, "license"), "apache-2.0"), 1);
    ASSERT_EQ(fx_int(json_object_get(facets, "library"), "onnx"), 3);
    ASSERT_EQ(fx_int(json_object_get(facets, "library"), "pytorch"), 1);

    /* The cursor moves the page, not the counts. */
    q.after_key = fx_str(json_array_get(items, 0), "sort_key");
    q.after_id = fx_int(json_array_get(items, 0), "id");
    json_t *items2 = NULL, *facets2 = NULL;
    ASSERT_OK(search_json(s, &q, &items2, &facets2, &total, NULL));
    ASSERT_STR_EQ(fx_str(json_array_get(items2, 0), "slug"), "yolo");
    ASSERT_EQ(total, 4);
    ASSERT(json_equal(facets, facets2));
    json_decref(items);
    json_decref(facets);
    json_decref(items2);
    json_decref(facets2);

    /* Hidden listings count only with include_hidden; empty values are omitted. */
    q.after_key = NULL;
    q.include_hidden = true;
    ASSERT_OK(search_json(s, &q, &items, &facets, &total, NULL));
    ASSERT_EQ(total, 6);
    ASSERT_EQ(fx_int(json_object_get(facets, "task"), "fill-mask"), 2);
    ASSERT_EQ(fx_int(json_object_get(facets, "task"), "image-classification"), 2);
    ASSERT_EQ(fx_int(json_object_get(facets, "license"), "mit"), 4);
    ASSERT(json_object_get(json_object_get(facets, "license"), "") == NULL);
    json_decref(items);
    json_decref(facets);

    /* No match: empty page, empty facet groups, zero total. */
    q.include_hidden = false;
    q.task = "nothing";
    ASSERT_OK(search_json(s, &q, &items, &facets, &total, NULL));
    ASSERT_EQ(json_array_size(items), 0);
    ASSERT_EQ(total, 0);
    ASSERT_EQ(json_object_size(json_object_get(facets, "task")), 0);
    ASSERT(json_is_object(json_object_get(facets, "library")));
    json_decref(items);
    json_decref(facets);
    store_close(s);
}

/* page_all() walks every page of `q` and writes the ids seen into ids[]; it
 * returns how many there were and checks each page's total. */
static int page_all(struct store *s, struct search_query *q, int64_t *ids, int max,
                    int64_t want_total)
{
    char key[128] = "";
    json_t *items = NULL, *last;
    int64_t total = 0;
    int n = 0, pages = 0;

    q->after_key = NULL;
    for (;;) {
        ASSERT_OK(search_json(s, q, &items, NULL, &total, NULL));
        ASSERT_EQ(total, want_total);
        ASSERT(json_array_size(items) <= (size_t)q->limit);
        for (size_t i = 0; i < json_array_size(items); i++) {
            ASSERT(n < max);
            ids[n++] = fx_int(json_array_get(items, i), "id");
        }
        pages++;
        ASSERT(pages <= max);
        if (json_array_size(items) < (size_t)q->limit) {
            json_decref(items);
            break;
        }
        last = json_array_get(items, json_array_size(items) - 1);
        snprintf(key, sizeof(key), "%s", fx_str(last, "sort_key"));
        q->after_key = key;
        q->after_id = fx_int(last, "id");
        json_decref(items);
    }
    q->after_key = NULL;
    return n;
}

/* check_permutation() asserts ids[0..n) holds each of 1..n exactly once. */
static void check_permutation(const int64_t *ids, int n)
{
    bool seen[64] = {0};

    ASSERT(n < 64);
    for (int i = 0; i < n; i++) {
        ASSERT(ids[i] >= 1 && ids[i] <= n);
        ASSERT(!seen[ids[i]]);
        seen[ids[i]] = true;
    }
}

TEST(search_pages_without_gaps_or_duplicates)
{
    static const enum search_sort sorts[] = {
        SORT_RELEVANCE, SORT_NEWEST, SORT_UPDATED,   SORT_DOWNLOADS,
        SORT_LIKES,     SORT_RATING, SORT_PRICE_ASC, SORT_PRICE_DESC,
    };
    struct store *s = fx_open();
    struct search_query q = {.limit = 10};
    int64_t a = fx_user(s, "alice"), b = fx_user(s, "bob"), ids[64];
    char slug[16];
    int n;

    /* 25 listings with equal sort keys of every kind: ties broken by id only. */
    for (int i = 0; i < 25; i++) {
        snprintf(slug, sizeof(slug), "same-%02d", i);
        int64_t id =
            add(s, a, slug, "Identical twin model", "", "", "", "", "", "[]", "7", NULL, 1000);
        ASSERT_OK(store_review_put(s, id, b, 3, "", false, 1, NULL, NULL));
        ASSERT_OK(store_review_put(s, id, a, 4, "", false, 1, NULL, NULL));
    }
    for (size_t k = 0; k < ARRAY_SIZE(sorts); k++) {
        q.sort = sorts[k];
        words(&q, sorts[k] == SORT_RELEVANCE ? "twin" : "");
        n = page_all(s, &q, ids, 64, 25);
        ASSERT_EQ(n, 25);
        check_permutation(ids, n);
        for (int i = 1; i < n; i++) /* ties go by id, in the sort's direction */
            ASSERT(sorts[k] == SORT_RELEVANCE || sorts[k] == SORT_PRICE_ASC ? ids[i] > ids[i - 1]
                                                                            : ids[i] < ids[i - 1]);
    }

    /* Distinct real keys (ratings 1.0 .. 4.6) and a page size that does not divide. */
    for (int i = 0; i < 10; i++) {
        snprintf(slug, sizeof(slug), "rated-%02d", i);
        int64_t id = add(s, a, slug, "Rated", "", "", "", "", "", "[]", NULL, NULL, 2000 + i);
        for (int r = 0; r <= i % 4; r++) {
            char name[16];
            snprintf(name, sizeof(name), "rater%d-%d", i, r);
            ASSERT_OK(store_review_put(s, id, fx_user(s, name), 1 + (i + r) % 5, "", false, 1, NULL,
                                       NULL));
        }
    }
    q.sort = SORT_RATING;
    words(&q, "");
    q.limit = 3;
    n = page_all(s, &q, ids, 64, 35);
    ASSERT_EQ(n, 35);
    check_permutation(ids, n);
    store_close(s);
}

TEST(search_fts_prefix_and_weighting)
{
    struct store *s = fx_open();
    struct search_query q = {.sort = SORT_RELEVANCE, .limit = 10};
    json_t *items = NULL;
    int64_t a = fx_user(s, "alice"), total = 0;
    double r0, r1;

    add(s, a, "card-only", "Plain model", "", "This card mentions zebra once.", "", "", "", "[]",
        NULL, NULL, 100);
    add(s, a, "in-title", "Zebra detector", "", "", "", "", "", "[]", NULL, NULL, 50);
    add(s, a, "in-tags", "Another model", "", "", "", "", "", "[\"zebra\"]", NULL, NULL, 75);
    add(s, a, "resnet", "ResNet-50", "", "", "", "", "", "[]", NULL, NULL, 10);
    add(s, a, "unrelated", "Unrelated", "nothing here", "", "", "", "", "[]", NULL, NULL, 200);
    /* Fillers keep "zebra" in under half the documents, so its bm25 IDF is positive. */
    for (int i = 0; i < 6; i++) {
        char slug[16];
        snprintf(slug, sizeof(slug), "filler-%d", i);
        add(s, a, slug, "Filler", "", "", "", "", "", "[]", NULL, NULL, 300 + i);
    }

    words(&q, "zebra");
    ASSERT_STR_EQ(run(s, &q, &total), "in-title,in-tags,card-only");
    ASSERT_EQ(total, 3);
    ASSERT_OK(search_json(s, &q, &items, NULL, NULL, NULL));
    r0 = strtod(fx_str(json_array_get(items, 0), "sort_key"), NULL);
    r1 = strtod(fx_str(json_array_get(items, 1), "sort_key"), NULL);
    ASSERT(r0 < r1); /* bm25 ranks are negative: smaller is better */
    json_decref(items);

    words(&q, "resn"); /* every word is a prefix */
    ASSERT_STR_EQ(run(s, &q, NULL), "resnet");
    words(&q, "zeb det"); /* every word is required */
    ASSERT_STR_EQ(run(s, &q, &total), "in-title");
    words(&q, "ZÉBRA"); /* folded as the index folds: case and diacritics */
    ASSERT_STR_EQ(run(s, &q, &total), "in-title,in-tags,card-only");
    q.sort = SORT_NEWEST; /* a text query with another order */
    words(&q, "zebra");
    ASSERT_STR_EQ(run(s, &q, NULL), "card-only,in-tags,in-title");
    words(&q, ""); /* no words: a listing */
    run(s, &q, &total);
    ASSERT_EQ(total, 11);
    store_close(s);
}

TEST(search_rejects_bad_input)
{
    struct store *s = fx_open();
    struct search_query q = {.sort = SORT_RELEVANCE, .limit = 10};
    json_t *items = NULL, *facets = NULL;
    struct ag_err e = {0};
    int64_t total = 0;

    catalog(s);
    words(&q, "\"unterminated"); /* the market lets no quote into a word */
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "q");
    q.nwords = 1;
    q.words[0] = "";
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "q");
    words(&q, "AND OR"); /* FTS5 keywords are words like any other */
    ASSERT_OK(search_json(s, &q, &items, &facets, &total, &e));
    json_decref(items);
    json_decref(facets);
    words(&q, "");

    q.limit = 0;
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "limit");
    q.limit = 102;
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    q.limit = 101; /* a page of 100 plus one */
    ASSERT_OK(search_json(s, &q, &items, &facets, &total, &e));
    json_decref(items);
    json_decref(facets);
    q.limit = 10;
    q.ntags = SEARCH_MAX_TAGS + 1;
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "tags");
    q.ntags = 0;
    q.sort = (enum search_sort)42;
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "sort");

    q.sort = SORT_NEWEST;
    q.after_key = "12abc";
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    ASSERT_STR_EQ(e.field, "cursor");
    q.sort = SORT_RATING;
    q.after_key = "nan";
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);
    q.sort = SORT_PRICE_ASC;
    q.after_key = "5";
    ASSERT_EQ(search_json(s, &q, &items, &facets, &total, &e), AG_EINVAL);

    /* The store still works after the failures. */
    q.after_key = NULL;
    ASSERT_STR_EQ(run(s, &q, &total), "resnet,yolo,bert,gpt");
    store_close(s);
}

/* ---- randomized cross-check against a brute-force model of the catalog ------ */

enum { RN_MODELS = 60, RN_USERS = 6, RN_QUERIES = 300 };

struct rmodel {
    int64_t id, owner, created, updated, downloads, likes, rating_sum, rating_count;
    double rating;
    const char *task, *license, *library, *visibility, *price;
    char key[79];
    bool tag[4];
};

static const char *const rn_tasks[] = {"image-classification", "fill-mask", "text-generation"};
static const char *const rn_licenses[] = {"mit", "apache-2.0", ""};
static const char *const rn_libraries[] = {"onnx", "pytorch"};
static const char *const rn_tags[] = {"a", "b", "c", "d"};
static const char *const rn_vis[] = {"public", "public", "public", "unlisted", "private", "draft"};
static const char *const rn_prices[] = {"0", "5", "50", "1000", "999999999999999999999"};
static const char *const rn_users[] = {"u0", "u1", "u2", "u3", "u4", "u5"};

static uint64_t rn_state = 0x9E3779B97F4A7C15ull;

static unsigned rn(unsigned n)
{
    rn_state ^= rn_state << 13; /* xorshift64: a fixed seed keeps the test repeatable */
    rn_state ^= rn_state >> 7;
    rn_state ^= rn_state << 17;
    return (unsigned)(rn_state % n);
}

#define PICK(a) (a[rn(ARRAY_SIZE(a))])

static void rn_build(struct store *s, struct rmodel *ms, int64_t *uids)
{
    for (int u = 0; u < RN_USERS; u++)
        uids[u] = fx_user(s, rn_users[u]);
    for (int i = 0; i < RN_MODELS; i++) {
        struct rmodel *m = &ms[i];
        struct model_fields f = {0}, upd = {0};
        char slug[16], tags[64] = "[";
        int64_t v, file, likes;
        bool counted;

        m->owner = rn(RN_USERS);
        m->created = rn(6);
        m->updated = m->created + rn(4);
        m->task = PICK(rn_tasks);
        m->license = PICK(rn_licenses);
        m->library = PICK(rn_libraries);
        m->visibility = PICK(rn_vis);
        m->price = PICK(rn_prices);
        fx_price_key(m->price, m->key);
        for (int t = 0; t < 4; t++) {
            m->tag[t] = rn(2);
            if (m->tag[t])
                snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s\"%s\"",
                         tags[1] ? "," : "", rn_tags[t]);
        }
        snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "]");
        snprintf(slug, sizeof(slug), "r%d", i);
        f.slug = slug;
        f.title = "Random";
        f.task = m->task;
        f.license = m->license;
        f.library = m->library;
        f.visibility = m->visibility;
        f.price = m->price;
        f.price_key = m->key;
        f.tags_json = tags;
        ASSERT_OK(store_model_insert(s, uids[m->owner], &f, m->created, &m->id, NULL));
        ASSERT_OK(store_model_update(s, m->id, &upd, m->updated, NULL));
        for (int u = 0; u < RN_USERS; u++) {
            if (rn(3) == 0) {
                ASSERT_OK(store_like_set(s, uids[u], m->id, true, 1, &likes, NULL));
                m->likes++;
            }
            if (rn(3) == 0) {
                int r = 1 + (int)rn(5);
                ASSERT_OK(store_review_put(s, m->id, uids[u], r, "", false, 1, NULL, NULL));
                m->rating_sum += r;
                m->rating_count++;
            }
        }
        m->rating = m->rating_count ? (double)m->rating_sum / (double)m->rating_count : 0;
        ASSERT_OK(store_version_insert(s, m->id, "1.0.0", 1, 0, 0, NULL, NULL, 1, &v, NULL));
        ASSERT_OK(store_file_put(s, v, "w", 1, NULL, NULL, 1, &file, NULL));
        m->downloads = rn(4);
        for (int64_t d = 0; d < m->downloads; d++)
            ASSERT_OK(store_download_record(s, file, rn_users[d], 7, &counted, NULL));
    }
}

static bool rn_match(const struct rmodel *m, const struct search_query *q)
{
    if (!q->include_hidden && strcmp(m->visibility, "public"))
        return false;
    if ((q->task && strcmp(q->task, m->task)) || (q->license && strcmp(q->license, m->license)) ||
        (q->library && strcmp(q->library, m->library)) ||
        (q->owner && strcmp(q->owner, rn_users[m->owner])))
        return false;
    for (int t = 0; t < q->ntags; t++)
        for (int k = 0; k < 4; k++)
            if (!strcmp(q->tags[t], rn_tags[k]) && !m->tag[k])
                return false;
    if ((q->price_min_key && strcmp(m->key, q->price_min_key) < 0) ||
        (q->price_max_key && strcmp(m->key, q->price_max_key) > 0) ||
        (q->free_only && strcmp(m->price, "0")))
        return false;
    return !(q->min_rating > 0 && m->rating < q->min_rating);
}

static enum search_sort rn_sort; /* for the qsort comparator */

static int rn_cmp(const void *pa, const void *pb)
{
    const struct rmodel *a = *(const struct rmodel *const *)pa,
                        *b = *(const struct rmodel *const *)pb;
    int c = 0;
    bool asc = rn_sort == SORT_PRICE_ASC;

    switch (rn_sort) {
    case SORT_RELEVANCE:
    case SORT_NEWEST:
        c = (a->created > b->created) - (a->created < b->created);
        break;
    case SORT_UPDATED:
        c = (a->updated > b->updated) - (a->updated < b->updated);
        break;
    case SORT_DOWNLOADS:
        c = (a->downloads > b->downloads) - (a->downloads < b->downloads);
        break;
    case SORT_LIKES:
        c = (a->likes > b->likes) - (a->likes < b->likes);
        break;
    case SORT_RATING:
        c = (a->rating > b->rating) - (a->rating < b->rating);
        break;
    case SORT_PRICE_ASC:
    case SORT_PRICE_DESC:
        c = strcmp(a->key, b->key);
        c = (c > 0) - (c < 0);
        break;
    }
    if (!c)
        c = (a->id > b->id) - (a->id < b->id);
    return asc ? c : -c;
}

TEST(search_matches_brute_force)
{
    struct store *s = fx_open();
    static struct rmodel ms[RN_MODELS];
    const struct rmodel *want[RN_MODELS];
    int64_t uids[RN_USERS], got[RN_MODELS + 1];
    char lo[79], hi[79];
    static const double ratings[] = {0, 0, 2.5, 4};

    int multi = 0; /* queries whose answer spans several pages */

    rn_build(s, ms, uids);
    for (int k = 0; k < RN_QUERIES; k++) {
        struct search_query q = {0};
        json_t *items = NULL, *facets = NULL;
        int64_t total = -1;
        int nwant = 0, n;

        q.task = rn(3) ? NULL : PICK(rn_tasks);
        q.license = rn(3) ? NULL : PICK(rn_licenses);
        q.library = rn(3) ? NULL : PICK(rn_libraries);
        q.owner = rn(4) ? NULL : PICK(rn_users);
        q.ntags = (int)rn(3);
        for (int t = 0; t < q.ntags; t++)
            q.tags[t] = PICK(rn_tags);
        if (!rn(4)) {
            fx_price_key(PICK(rn_prices), lo);
            q.price_min_key = lo;
        }
        if (!rn(4)) {
            fx_price_key(PICK(rn_prices), hi);
            q.price_max_key = hi;
        }
        q.free_only = !rn(8);
        q.min_rating = PICK(ratings);
        q.include_hidden = rn(2);
        q.sort = (enum search_sort)rn(8);
        q.limit = 1 + (int)rn(7);

        for (int i = 0; i < RN_MODELS; i++)
            if (rn_match(&ms[i], &q))
                want[nwant++] = &ms[i];
        rn_sort = q.sort;
        qsort(want, (size_t)nwant, sizeof(want[0]), rn_cmp);

        n = page_all(s, &q, got, RN_MODELS + 1, nwant);
        ASSERT_EQ(n, nwant);
        multi += nwant > q.limit;
        for (int i = 0; i < n; i++)
            if (got[i] != want[i]->id)
                test_fail(__FILE__, __LINE__,
                          "query %d (sort %d): item %d is %" PRId64 ", want %" PRId64, k,
                          (int)q.sort, i, got[i], want[i]->id);

        /* Facets: count each value over the matches. */
        ASSERT_OK(search_json(s, &q, &items, &facets, &total, NULL));
        ASSERT_EQ(total, nwant);
        for (size_t t = 0; t < ARRAY_SIZE(rn_tasks); t++) {
            int64_t c = 0;
            for (int i = 0; i < nwant; i++)
                c += !strcmp(want[i]->task, rn_tasks[t]);
            json_t *v = json_object_get(json_object_get(facets, "task"), rn_tasks[t]);
            ASSERT_EQ(v ? json_integer_value(v) : 0, c);
            ASSERT(c == 0 || v);
        }
        for (size_t t = 0; t < ARRAY_SIZE(rn_licenses); t++) {
            int64_t c = 0;
            for (int i = 0; i < nwant; i++)
                c += !strcmp(want[i]->license, rn_licenses[t]);
            json_t *v = json_object_get(json_object_get(facets, "license"), rn_licenses[t]);
            if (!rn_licenses[t][0])
                ASSERT(v == NULL); /* empty values are not facets */
            else
                ASSERT_EQ(v ? json_integer_value(v) : 0, c);
        }
        for (size_t t = 0; t < ARRAY_SIZE(rn_libraries); t++) {
            int64_t c = 0;
            for (int i = 0; i < nwant; i++)
                c += !strcmp(want[i]->library, rn_libraries[t]);
            json_t *v = json_object_get(json_object_get(facets, "library"), rn_libraries[t]);
            ASSERT_EQ(v ? json_integer_value(v) : 0, c);
        }
        json_decref(items);
        json_decref(facets);
    }
    fprintf(stderr, "%d of %d random queries spanned several pages\n", multi, RN_QUERIES);
    ASSERT(multi >= RN_QUERIES / 10); /* the check is not vacuous */
    store_close(s);
}
