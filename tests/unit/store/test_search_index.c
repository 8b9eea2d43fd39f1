/* test_search_index.c - the in-memory search index against SQLite FTS5.
 *
 * Every case builds a catalogue, then asks the same searches of the index
 * and of SQL (sql_only) and requires the same answer byte for byte: items
 * and their JSON, sort keys (bm25 ranks to the last bit), totals and facets,
 * page after page. Then it changes the catalogue (through the store, through
 * a second store on the same file as another process would, and with plain
 * SQL) and asks again: the index must follow every change on the next search.
 */
#include "core/common.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "core/util.h"
#include "fixture.h"

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

/* Words of titles, summaries, cards and tags: plain, mixed case, with
 * diacritics (folded by remove_diacritics 2), other scripts, and runs the
 * tokenizer splits (hyphens, underscores, symbols). */
static const char *const vocab[] = {
    "resnet",  "ResNet-50", "bert",         "BERT",      "transformer",  "vision", "résumé",
    "Café",    "naïve",     "Über",         "straße",    "модель",       "ЖУРНАЛ", "模型",
    "gpt-4o",  "x86_64",    "e=mc²",        "🙂smile", "zebra",        "zebu",   "zeal",
    "quagga",  "detector",  "detection",    "segment",   "segmentation", "llama",  "Llama2",
    "mixtral", "whisper",   "wav2vec",      "tts",       "ocr",          "rag",    "Ångström",
    "ñandú",   "coöperate", "data—centric", "🙂",      "fast",         "faster", "fastest",
    "tiny",    "tinyllama",
};
static const char *const tasks[] = {"image-classification", "text-generation", "fill-mask",
                                    "object-detection", ""};
static const char *const libraries[] = {"onnx", "pytorch", "gguf", ""};
static const char *const licenses[] = {"mit", "apache-2.0", "cc-by-4.0", ""};
static const char *const visibilities[] = {"public",   "public",  "public",
                                           "unlisted", "private", "draft"};
static const char *const tag_words[] = {"vision", "nlp", "audio", "edge", "Über", "模型", "x"};

#define NUSERS 6

static int64_t users[NUSERS];
static char user_names[NUSERS][16];

/* text() writes `n` random vocabulary words. */
static void text(char *out, size_t size, int n)
{
    size_t k = 0;

    out[0] = '\0';
    for (int i = 0; i < n && k + 40 < size; i++)
        k += (size_t)snprintf(out + k, size - k, "%s%s", i ? " " : "",
                              vocab[rnd(ARRAY_SIZE(vocab))]);
}

static void tags(char *out, size_t size)
{
    json_t *a = json_array();
    char *s;

    for (uint32_t i = 0, n = rnd(4); i < n; i++)
        json_array_append_new(a, json_string(tag_words[rnd(ARRAY_SIZE(tag_words))]));
    s = json_dumps(a, JSON_COMPACT);
    str_copy(out, s, size);
    free(s);
    json_decref(a);
}

static void price(char *out, char key[79])
{
    static const char *const prices[] = {"0", "0", "5", "1000", "1000000000000000000000"};
    str_copy(out, prices[rnd(ARRAY_SIZE(prices))], 32);
    fx_price_key(out, key);
}

/* fields() fills a random listing; buffers are the caller's. */
struct fields_buf {
    char slug[32], title[256], summary[512], card[2048], tags[256], price[32], key[79];
};

static void fields(struct model_fields *f, struct fields_buf *b, bool insert)
{
    static int serial;

    memset(f, 0, sizeof(*f));
    if (insert) {
        snprintf(b->slug, sizeof(b->slug), "m%05d", serial++);
        f->slug = b->slug;
    }
    text(b->title, sizeof(b->title), 1 + (int)rnd(4));
    text(b->summary, sizeof(b->summary), (int)rnd(12));
    text(b->card, sizeof(b->card), (int)rnd(60));
    tags(b->tags, sizeof(b->tags));
    price(b->price, b->key);
    f->title = b->title;
    f->summary = b->summary;
    f->card = b->card;
    f->tags_json = b->tags;
    f->task = tasks[rnd(ARRAY_SIZE(tasks))];
    f->library = libraries[rnd(ARRAY_SIZE(libraries))];
    f->license = licenses[rnd(ARRAY_SIZE(licenses))];
    f->price = b->price;
    f->price_key = b->key;
    f->visibility = visibilities[rnd(ARRAY_SIZE(visibilities))];
}

static int64_t add_random(struct store *s)
{
    struct model_fields f;
    struct fields_buf b;
    int64_t id = 0;

    fields(&f, &b, true);
    ASSERT_OK(store_model_insert(s, users[rnd(NUSERS)], &f, 1000 + rnd(50), &id, NULL));
    return id;
}

static void catalogue(struct store *s, int n)
{
    for (int i = 0; i < NUSERS; i++) {
        snprintf(user_names[i], sizeof(user_names[i]), "user%d", i);
        users[i] = fx_user(s, user_names[i]);
    }
    for (int i = 0; i < n; i++) {
        int64_t id = add_random(s);
        for (uint32_t r = 0, nr = rnd(3); r < nr; r++)
            ASSERT_OK(store_review_put(s, id, users[rnd(NUSERS)], 1 + (int)rnd(5), "", false, 1,
                                       NULL, NULL));
        if (rnd(3) == 0)
            ASSERT_OK(store_like_set(s, users[rnd(NUSERS)], id, true, 1, NULL, NULL));
    }
}

/* A query word: a prefix (whole characters) of a vocabulary word, in the
 * form the market passes (letters, digits and non-ASCII bytes only). */
static void query_word(char *out, size_t size)
{
    const char *w = vocab[rnd(ARRAY_SIZE(vocab))];
    size_t n = 0, len = strlen(w), want;
    char word[64];

    for (size_t i = 0; i < len && n + 1 < sizeof(word); i++)
        if ((unsigned char)w[i] >= 0x80 || isalnum((unsigned char)w[i]))
            word[n++] = w[i];
        else
            break;
    word[n] = '\0';
    if (!n) {
        str_copy(out, "a", size);
        return;
    }
    want = 1 + rnd((uint32_t)n);
    while (want < n && ((unsigned char)word[want] & 0xC0) == 0x80) /* whole characters */
        want++;
    word[want] = '\0';
    if (rnd(4) == 0) /* case does not matter */
        for (char *p = word; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    str_copy(out, word, size);
}

struct query_buf {
    char words[4][64];
    char min_key[79], max_key[79];
};

static void random_query(struct search_query *q, struct query_buf *b)
{
    static const char *const mins[] = {"1", "5", "1000"};

    memset(q, 0, sizeof(*q));
    q->nwords = 1 + (int)rnd(3);
    for (int i = 0; i < q->nwords; i++) {
        query_word(b->words[i], sizeof(b->words[i]));
        q->words[i] = b->words[i];
    }
    q->sort = rnd(2) ? SORT_RELEVANCE : (enum search_sort)rnd(SORT_PRICE_DESC + 1);
    q->limit = 1 + (int)rnd(25);
    if (rnd(5) == 0)
        q->task = tasks[rnd(ARRAY_SIZE(tasks))];
    if (rnd(6) == 0)
        q->library = libraries[rnd(ARRAY_SIZE(libraries))];
    if (rnd(6) == 0)
        q->license = rnd(8) ? licenses[rnd(ARRAY_SIZE(licenses))] : "no-such-licence";
    if (rnd(6) == 0)
        q->owner = user_names[rnd(NUSERS)];
    if (rnd(6) == 0) {
        q->tags[q->ntags++] = tag_words[rnd(ARRAY_SIZE(tag_words))];
        if (rnd(3) == 0)
            q->tags[q->ntags++] = tag_words[rnd(ARRAY_SIZE(tag_words))];
    }
    if (rnd(8) == 0) {
        fx_price_key(mins[rnd(ARRAY_SIZE(mins))], b->min_key);
        q->price_min_key = b->min_key;
    }
    if (rnd(8) == 0) {
        fx_price_key("1000", b->max_key);
        q->price_max_key = b->max_key;
    }
    q->free_only = rnd(10) == 0;
    if (rnd(6) == 0)
        q->min_rating = 1 + rnd(8) * 0.5;
    q->include_hidden = rnd(4) == 0;
}

static void describe(const struct search_query *q)
{
    fprintf(stderr, "query:");
    for (int i = 0; i < q->nwords; i++)
        fprintf(stderr, " [%s]", q->words[i]);
    fprintf(stderr,
            " sort=%d limit=%d task=%s library=%s license=%s owner=%s ntags=%d free=%d "
            "min_rating=%g hidden=%d after=%s/%" PRId64 "\n",
            (int)q->sort, q->limit, q->task ? q->task : "-", q->library ? q->library : "-",
            q->license ? q->license : "-", q->owner ? q->owner : "-", q->ntags, q->free_only,
            q->min_rating, q->include_hidden, q->after_key ? q->after_key : "-", q->after_id);
}

static int nindexed, ncompared;

/* same() asks both ways and requires one answer; returns the page size and
 * leaves the index's result in *a for paging. */
static void same(struct store *s, struct search_query *q, struct search_result *a)
{
    struct search_result b;
    struct ag_err ea = {0}, eb = {0};
    json_t *fa, *fb;
    int rca, rcb;

    search_result_init(&b);
    q->sql_only = false;
    rca = store_model_search(s, q, a, &ea);
    q->sql_only = true;
    rcb = store_model_search(s, q, &b, &eb);
    q->sql_only = false;
    if (rca != rcb || a->nitems != b.nitems || a->total != b.total)
        describe(q);
    ASSERT_EQ(rca, rcb);
    ASSERT_EQ(a->nitems, b.nitems);
    ASSERT_EQ(a->total, b.total);
    ASSERT_EQ(a->key_type, b.key_type);
    for (int i = 0; i < a->nitems; i++) {
        const struct search_item *x = &a->items[i], *y = &b.items[i];
        char kx[80], ky[80];
        search_item_key(a, i, kx);
        search_item_key(&b, i, ky);
        /* Reals compare by their bits: the ranks must be FTS5's exactly. */
        if (x->id != y->id || strcmp(kx, ky) ||
            (a->key_type == SEARCH_KEY_REAL && memcmp(&x->key_d, &y->key_d, sizeof(double))) ||
            x->len != y->len || memcmp(a->text.p + x->off, b.text.p + y->off, x->len)) {
            describe(q);
            fprintf(stderr, "item %d: index %" PRId64 " %s %.*s\n  sql   %" PRId64 " %s %.*s\n", i,
                    x->id, kx, (int)x->len, a->text.p + x->off, y->id, ky, (int)y->len,
                    b.text.p + y->off);
            ASSERT(0);
        }
    }
    fa = json_loadb(a->facets.p, a->facets.n, 0, NULL);
    fb = json_loadb(b.facets.p, b.facets.n, 0, NULL);
    if (!json_equal(fa, fb)) {
        describe(q);
        fprintf(stderr, "facets: index %s\n        sql   %s\n", a->facets.p, b.facets.p);
    }
    ASSERT(fa && json_equal(fa, fb));
    json_decref(fa);
    json_decref(fb);
    nindexed += a->indexed;
    ncompared++;
    search_result_release(&b);
}

/* same_pages() compares a query page by page, following cursors. */
static void same_pages(struct store *s, struct search_query *q)
{
    struct search_result a;
    char key[80];
    int pages = 0;

    q->after_key = NULL;
    search_result_init(&a);
    do {
        same(s, q, &a);
        if (a.nitems < q->limit)
            break;
        search_item_key(&a, a.nitems - 1, key);
        q->after_key = key;
        q->after_id = a.items[a.nitems - 1].id;
    } while (++pages < 50);
    q->after_key = NULL;
    search_result_release(&a);
}

static void many(struct store *s, int n)
{
    struct search_query q;
    struct query_buf b;

    for (int i = 0; i < n; i++) {
        random_query(&q, &b);
        same_pages(s, &q);
    }
}

static void start(struct store *s, int foreign_ms)
{
    ASSERT_OK(store_search_index_start(s, foreign_ms, NULL));
    ASSERT_OK(store_search_index_wait(s, 60000, NULL));
}

TEST(search_index_matches_fts5)
{
    struct store *s = fx_open();
    struct search_index_status st;

    rng_state = 0x9E3779B97F4A7C15ull;
    catalogue(s, 400);
    store_search_index_status(s, &st);
    ASSERT_STR_EQ(st.state, "off");
    start(s, 0);
    store_search_index_status(s, &st);
    ASSERT_STR_EQ(st.state, "ready");
    ASSERT_EQ(st.listings, 400);
    nindexed = ncompared = 0;
    many(s, 300);
    fprintf(stderr, "%d pages compared, %d answered by the index\n", ncompared, nindexed);
    /* Most words are single tokens; those the tokenizer splits (a phrase to
     * FTS5) or drops (no token at all) go to SQL. */
    ASSERT(nindexed > ncompared / 2);
    ASSERT(nindexed < ncompared);
    store_close(s);
}

TEST(search_index_follows_changes)
{
    struct store *s = fx_open(), *other = NULL;
    int64_t ids[200];
    struct model_fields f;
    struct fields_buf b;
    struct search_query q = {.limit = 50, .sort = SORT_RELEVANCE};
    struct search_result r;

    rng_state = 0xD1B54A32D192ED03ull;
    catalogue(s, 150);
    /* Other processes' writes would show after a minute: every write below
     * goes through a store of this process and must show at once. */
    start(s, 60000);
    for (int i = 0; i < 150; i++)
        ids[i] = i + 1;

    for (int round = 0; round < 6; round++) {
        /* Text edits, column edits, deletes, new listings, counters. */
        for (int k = 0; k < 15; k++) {
            int64_t id = ids[rnd(150)];
            struct ag_err e = {0};
            fields(&f, &b, false);
            if (rnd(2)) { /* only some columns */
                f.title = NULL;
                f.card = rnd(2) ? NULL : f.card;
                f.tags_json = NULL;
            }
            int rc = store_model_update(s, id, &f, 5000 + round, &e);
            ASSERT(rc == 0 || rc == AG_ENOTFOUND);
        }
        for (int k = 0; k < 3; k++)
            store_model_delete(s, ids[rnd(150)], NULL);
        for (int k = 0; k < 5; k++)
            add_random(s);
        for (int k = 0; k < 10; k++) {
            int64_t id = ids[rnd(150)];
            store_like_set(s, users[rnd(NUSERS)], id, rnd(2), 7, NULL, NULL);
            store_review_put(s, id, users[rnd(NUSERS)], 1 + (int)rnd(5), "", false, 7, NULL, NULL);
        }
        many(s, 40);
    }

    /* Another store on the same file: its own connections. */
    ASSERT_OK(store_open(fx_path(), &other, NULL));
    fields(&f, &b, true);
    str_copy(b.title, "Okapi quokka", sizeof(b.title));
    f.visibility = "public";
    int64_t id = 0;
    ASSERT_OK(store_model_insert(other, users[0], &f, 9000, &id, NULL));
    q.words[0] = "quokka";
    q.nwords = 1;
    search_result_init(&r);
    same(s, &q, &r);
    ASSERT(r.indexed);
    ASSERT_EQ(r.total, 1);
    ASSERT_EQ(r.items[0].id, id);
    ASSERT_OK(store_model_delete(other, id, NULL));
    same(s, &q, &r);
    ASSERT_EQ(r.total, 0);
    store_close(other);

    /* The log trimmed past the index's position (or a database restored from
     * an older copy): SQL answers while the index is rebuilt. */
    add_random(s);
    ASSERT_EQ(fx_sql("DELETE FROM model_changes"), SQLITE_OK);
    add_random(s);
    q.words[0] = "e";
    same(s, &q, &r);
    ASSERT(!r.indexed);
    ASSERT_OK(store_search_index_wait(s, 60000, NULL));
    same(s, &q, &r);
    ASSERT(r.indexed);
    many(s, 40);
    search_result_release(&r);
    store_close(s);
}

TEST(search_index_many_changes_rebuild)
{
    struct store *s = fx_open();
    struct search_query q = {.limit = 20, .sort = SORT_NEWEST};
    struct search_result r;

    rng_state = 0x2545F4914F6CDD1Dull;
    catalogue(s, 20);
    start(s, 0);
    /* More changed listings than the index applies in one go. */
    ASSERT_EQ(fx_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                     " WHERE i < 20001) INSERT INTO model_changes (model_id, text)"
                     " SELECT 100000 + i, 0 FROM n"),
              SQLITE_OK);
    q.words[0] = "z";
    q.nwords = 1;
    search_result_init(&r);
    same(s, &q, &r);
    ASSERT(!r.indexed);
    ASSERT_OK(store_search_index_wait(s, 60000, NULL));
    same(s, &q, &r);
    ASSERT(r.indexed);
    /* The log trims itself to its last 100,000 rows. */
    ASSERT_EQ(fx_sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                     " WHERE i < 150000) INSERT INTO model_changes (model_id, text)"
                     " SELECT 1, 0 FROM n"),
              SQLITE_OK);
    ASSERT(fx_count("SELECT count(*) FROM model_changes") <= 101000);
    ASSERT(fx_count("SELECT count(*) FROM model_changes") >= 100000);
    same(s, &q, &r);
    search_result_release(&r);
    store_close(s);
}

/* Another process writes the file (here: a plain SQLite connection, as a
 * script would): the index sees it within foreign_ms. */
TEST(search_index_sees_other_processes)
{
    struct store *s = fx_open();
    struct search_query q = {.limit = 5, .sort = SORT_DOWNLOADS};
    struct search_result r;
    int64_t a = fx_user(s, "alice");

    fx_model(s, a, "okapi", "Okapi quokka", "", "[]", 10);
    start(s, 200);
    q.words[0] = "quokka";
    q.nwords = 1;
    search_result_init(&r);
    same(s, &q, &r);
    ASSERT(r.indexed && r.total == 1);
    ASSERT_EQ(fx_sql("UPDATE models SET downloads = 4242 WHERE slug = 'okapi';"
                     "INSERT INTO users (username, email, pw_hash, role, created_at, updated_at)"
                     " VALUES ('zed', 'zed@example.com', 'h', 'user', 1, 1)"),
              SQLITE_OK);
    usleep(300 * 1000);
    same(s, &q, &r);
    ASSERT(r.indexed);
    ASSERT(strstr(r.text.p, "\"downloads\":4242") != NULL);
    search_result_release(&r);
    store_close(s);
}

/* Inside a transaction a search sees the caller's snapshot: SQL answers it,
 * and the shared index takes in nothing of it. */
TEST(search_index_leaves_transactions_to_sql)
{
    struct store *s = fx_open();
    struct search_query q = {.limit = 5, .sort = SORT_RELEVANCE};
    struct search_result r;
    struct model_fields f;
    struct fields_buf b;
    int64_t id = 0;

    rng_state = 0x5851F42D4C957F2Dull;
    catalogue(s, 10);
    start(s, 0);
    search_result_init(&r);
    q.words[0] = "wombat";
    q.nwords = 1;
    ASSERT_OK(store_begin(s));
    fields(&f, &b, true);
    str_copy(b.title, "Wombat", sizeof(b.title));
    f.visibility = "public";
    ASSERT_OK(store_model_insert(s, users[0], &f, 1, &id, NULL));
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT(!r.indexed);
    ASSERT_EQ(r.total, 1); /* its own uncommitted listing */
    store_rollback(s);
    same(s, &q, &r);
    ASSERT(r.indexed);
    ASSERT_EQ(r.total, 0);
    search_result_release(&r);
    store_close(s);
}

/* A listing the index cannot take (here a price key another writer left
 * malformed) fails the build: /healthz says so and SQL answers. */
TEST(search_index_build_failure_falls_back_to_sql)
{
    struct store *s = fx_open();
    struct search_query q = {.limit = 5, .sort = SORT_NEWEST};
    struct search_index_status st;
    struct search_result r;
    struct ag_err e = {0};

    rng_state = 0x14057B7EF767814Full;
    catalogue(s, 10);
    ASSERT_EQ(fx_sql("UPDATE models SET price_key = 'x' WHERE id = 3"), SQLITE_OK);
    ASSERT_OK(store_search_index_start(s, 0, NULL));
    ASSERT_EQ(store_search_index_wait(s, 60000, &e), AG_ECORRUPT);
    store_search_index_status(s, &st);
    ASSERT_STR_EQ(st.state, "failed");
    q.words[0] = "re";
    q.nwords = 1;
    search_result_init(&r);
    ASSERT_OK(store_model_search(s, &q, &r, NULL));
    ASSERT(!r.indexed);
    search_result_release(&r);
    store_close(s);
}

/* Searches and writes at the same time, on several threads: nothing
 * breaks, and once the writers stop the index answers as SQL does. */
struct race {
    struct store *s;
    uint64_t seed;
    int rounds;
    int rc;
};

static void *race_writer(void *arg)
{
    struct race *r = arg;
    uint64_t st = r->seed;
    for (int i = 0; i < r->rounds && !r->rc; i++) {
        struct model_fields f = {0};
        char title[64];
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        snprintf(title, sizeof(title), "%s %s", vocab[(st >> 33) % ARRAY_SIZE(vocab)],
                 vocab[(st >> 45) % ARRAY_SIZE(vocab)]);
        f.title = title;
        int64_t id = 1 + (int64_t)((st >> 20) % 60);
        int rc = (st >> 60) % 3 ? store_model_update(r->s, id, &f, 7000 + i, NULL)
                                : store_like_set(r->s, users[(st >> 8) % NUSERS], id, (st >> 7) & 1,
                                                 7, NULL, NULL);
        if (rc && rc != AG_ENOTFOUND && rc != AG_EUNAVAILABLE)
            r->rc = rc;
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    struct search_result res;
    search_result_init(&res);
    for (int i = 0; i < r->rounds && !r->rc; i++) {
        struct search_query q = {.limit = 10, .sort = i % 2 ? SORT_RELEVANCE : SORT_LIKES};
        q.words[0] = vocab[(r->seed + (uint64_t)i) % 20];
        q.nwords = 1;
        int rc = store_model_search(r->s, &q, &res, NULL);
        if (rc && rc != AG_EUNAVAILABLE)
            r->rc = rc;
    }
    search_result_release(&res);
    return NULL;
}

TEST(search_index_concurrent_reads_and_writes)
{
    struct store *s = fx_open();
    pthread_t t[4];
    struct race r[4];

    rng_state = 0x3C6EF372FE94F82Bull;
    catalogue(s, 60);
    start(s, 50);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){.s = s, .seed = 0x1234567ull * (uint64_t)(i + 1), .rounds = 150};
        ASSERT_EQ(pthread_create(&t[i], NULL, i < 2 ? race_writer : race_reader, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ASSERT_OK(r[i].rc);
    }
    nindexed = ncompared = 0;
    many(s, 60);
    ASSERT(nindexed > 0);
    store_close(s);
}
