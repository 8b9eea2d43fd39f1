/* test_ratelimit.c - token buckets: refill, debt, eviction, threads, parsing. */
#include "core/common.h"
#include "http/ratelimit.h"
#include "test.h"

#include <pthread.h>

#define SEC 1000000LL

static struct ratelimit *make(double rate, double burst, size_t keys)
{
    struct ratelimit_config cfg = {.rate = rate, .burst = burst, .max_keys = keys};
    struct ratelimit *rl = NULL;
    struct ag_err e = {0};
    ASSERT_OK(ratelimit_new(&cfg, &rl, &e));
    ASSERT(rl != NULL);
    return rl;
}

TEST(ratelimit_burst_then_refill)
{
    struct ratelimit *rl = make(2, 5, 0);
    unsigned retry = 0;
    int64_t t = 1000 * SEC;

    for (int i = 0; i < 5; i++)
        ASSERT_OK(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t, &retry));
    ASSERT_EQ(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t, &retry), AG_ERATELIMIT);
    ASSERT_EQ(retry, 1); /* one token at 2/s comes in 0.5 s: rounded up */
    /* Another key has its own bucket. */
    ASSERT_OK(ratelimit_take_at(rl, "ip4:10.0.0.2", 1, t, NULL));
    /* Half a second later one token is back, and only one. */
    ASSERT_OK(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t + SEC / 2, NULL));
    ASSERT_EQ(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t + SEC / 2, NULL), AG_ERATELIMIT);
    /* After a long pause the bucket is full again, not fuller. */
    for (int i = 0; i < 5; i++)
        ASSERT_OK(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t + 100 * SEC, NULL));
    ASSERT_EQ(ratelimit_take_at(rl, "ip4:10.0.0.1", 1, t + 100 * SEC, NULL), AG_ERATELIMIT);
    ratelimit_free(rl);
}

TEST(ratelimit_retry_after_counts_the_missing_tokens)
{
    struct ratelimit *rl = make(0.5, 10, 0);
    unsigned retry = 0;
    int64_t t = 50 * SEC;
    for (int i = 0; i < 10; i++)
        ASSERT_OK(ratelimit_take_at(rl, "k", 1, t, NULL));
    /* Needs 3 tokens at 0.5/s: 6 seconds. */
    ASSERT_EQ(ratelimit_take_at(rl, "k", 3, t, &retry), AG_ERATELIMIT);
    ASSERT_EQ(retry, 6);
    ASSERT_EQ(ratelimit_take_at(rl, "k", 3, t + 5 * SEC, &retry), AG_ERATELIMIT);
    ASSERT_EQ(retry, 1);
    ASSERT_OK(ratelimit_take_at(rl, "k", 3, t + 6 * SEC, NULL));
    ratelimit_free(rl);
}

TEST(ratelimit_cost_above_burst_leaves_debt)
{
    struct ratelimit *rl = make(1, 4, 0);
    unsigned retry = 0;
    int64_t t = 10 * SEC;
    /* From a full bucket an expensive call goes through... */
    ASSERT_OK(ratelimit_take_at(rl, "infer", 10, t, NULL));
    /* ...and pays for it: 6 tokens of debt, 1 more needed: 7 s. */
    ASSERT_EQ(ratelimit_take_at(rl, "infer", 1, t, &retry), AG_ERATELIMIT);
    ASSERT_EQ(retry, 7);
    ASSERT_EQ(ratelimit_take_at(rl, "infer", 1, t + 6 * SEC, NULL), AG_ERATELIMIT);
    ASSERT_OK(ratelimit_take_at(rl, "infer", 1, t + 7 * SEC, NULL));
    /* A zero or negative cost counts as one. */
    ASSERT_EQ(ratelimit_take_at(rl, "infer", 0, t + 7 * SEC, NULL), AG_ERATELIMIT);
    ratelimit_free(rl);
}

TEST(ratelimit_off_and_bad_keys)
{
    struct ratelimit_config cfg = {.rate = 0};
    struct ratelimit *rl = (struct ratelimit *)1;
    char longkey[RATELIMIT_KEY_MAX + 2];
    struct ag_err e = {0};

    ASSERT_OK(ratelimit_new(&cfg, &rl, &e));
    ASSERT(rl == NULL);
    for (int i = 0; i < 1000; i++)
        ASSERT_OK(ratelimit_take(NULL, "x", 1, NULL));
    rl = make(1, 1, 0);
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    ASSERT_EQ(ratelimit_take(rl, longkey, 1, NULL), AG_EINVAL);
    ASSERT_EQ(ratelimit_take(rl, "", 1, NULL), AG_EINVAL);
    ASSERT_EQ(ratelimit_take(rl, NULL, 1, NULL), AG_EINVAL);
    longkey[RATELIMIT_KEY_MAX] = '\0';
    ASSERT_OK(ratelimit_take(rl, longkey, 1, NULL));
    ratelimit_free(rl);
    cfg.rate = 1;
    cfg.max_keys = 3;
    ASSERT_EQ(ratelimit_new(&cfg, &rl, &e), AG_EINVAL);
}

TEST(ratelimit_memory_is_bounded_and_idle_buckets_go)
{
    struct ratelimit *rl = make(1, 2, 64 * 4);
    struct ratelimit_stats st;
    char key[32];
    int64_t t = 10 * SEC;

    /* A flood of distinct keys never holds more buckets than configured. */
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "ip4:flood-%d", i);
        ASSERT_OK(ratelimit_take_at(rl, key, 1, t, NULL));
    }
    ratelimit_stats(rl, &st);
    ASSERT(st.keys <= 64 * 4);
    ASSERT_EQ(st.allowed, 100000);
    ASSERT(st.evicted_active > 0); /* they were all partly drained */
    /* A key drained and then touched stays most recently used: a flood of
     * other keys within the stripe capacity does not reset it. */
    ASSERT_OK(ratelimit_take_at(rl, "victim", 2, t, NULL));
    ASSERT_EQ(ratelimit_take_at(rl, "victim", 1, t, NULL), AG_ERATELIMIT);
    /* Long after, idle buckets are returned as new keys come. */
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "late-%d", i % 20);
        ASSERT_OK(ratelimit_take_at(rl, key, 0.001, t + 100 * SEC + i, NULL));
    }
    ratelimit_stats(rl, &st);
    ASSERT(st.keys < 64 * 4);
    ratelimit_free(rl);
}

struct worker {
    struct ratelimit *rl;
    int id;
    int allowed;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", i % 50);
        if (!ratelimit_take_at(w->rl, key, 1, 5 * SEC, NULL))
            w->allowed++;
    }
    return NULL;
}

TEST(ratelimit_threads_share_buckets_exactly)
{
    struct ratelimit *rl = make(1, 100, 0);
    struct worker w[4];
    pthread_t th[4];
    int total = 0;
    struct ratelimit_stats st;

    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.rl = rl, .id = i};
        ASSERT_OK(pthread_create(&th[i], NULL, hammer, &w[i]));
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].allowed;
    }
    /* At one instant, 50 keys with 100 tokens each: exactly 5000 pass. */
    ASSERT_EQ(total, 50 * 100);
    ratelimit_stats(rl, &st);
    ASSERT_EQ(st.allowed, 5000);
    ASSERT_EQ(st.limited, 4 * 20000 - 5000);
    ASSERT_EQ(st.keys, 50);
    ratelimit_free(rl);
}

TEST(ratelimit_parse_specs)
{
    struct ratelimit_config c;
    struct ag_err e = {0};
    ASSERT_OK(ratelimit_parse("20:100", "rate-ip", &c, &e));
    ASSERT(c.rate == 20 && c.burst == 100);
    ASSERT_OK(ratelimit_parse("0.5", "rate-ip", &c, &e));
    ASSERT(c.rate == 0.5 && c.burst == 2);
    ASSERT_OK(ratelimit_parse("0", "rate-ip", &c, &e));
    ASSERT(c.rate == 0);
    ASSERT_OK(ratelimit_parse(NULL, "rate-ip", &c, &e));
    ASSERT(c.rate == 0);
    const char *bad[] = {"",
                         ":",
                         "x",
                         "-1",
                         "1:",
                         "1:0",
                         "1:0.5",
                         "1e3",
                         "1:2:3",
                         " 1",
                         "nan",
                         "inf",
                         "12345678901234567890123456789012345"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        e.msg[0] = '\0';
        ASSERT_EQ(ratelimit_parse(bad[i], "rate-ip", &c, &e), AG_EINVAL);
        ASSERT(strstr(e.msg, "rate-ip") != NULL);
    }
}

TEST(ratelimit_ip_keys)
{
    char k[80];
    ratelimit_ip_key("127.0.0.1", k, sizeof(k));
    ASSERT_STR_EQ(k, "ip4:127.0.0.1");
    ratelimit_ip_key("2001:db8:1:2:3:4:5:6", k, sizeof(k));
    ASSERT_STR_EQ(k, "ip6:2001:0db8:0001:0002::/64");
    ratelimit_ip_key("2001:db8:1:2:ffff::9", k, sizeof(k));
    ASSERT_STR_EQ(k, "ip6:2001:0db8:0001:0002::/64");
    ratelimit_ip_key("::ffff:10.1.2.3", k, sizeof(k));
    ASSERT_STR_EQ(k, "ip4:10.1.2.3");
}
