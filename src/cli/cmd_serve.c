/* cmd_serve.c - `agora serve`: wire store, market, API and HTTP together and run. */
#include "core/common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "api/api.h"
#include "api/routes.h"
#include "api/quote.h"
#include "cli/cli.h"
#include "cli/node.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/keystore.h"
#include "http/ratelimit.h"

#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

struct serve_settings {
    char *listen;
    char *public_origin;
    char *data_dir;
    char *web_dir;
    char *log_level;
    char *pwhash;
    long threads;
    long max_connections;
    long timeout;
    long max_body;
    long session_ttl;
    long throttle_account;
    long throttle_ip;
    long cache_ms;
    int search_index;
    int cookie_secure;
    long max_upload;
    long upload_ttl;
    long cleanup_interval;
    char *kubo_api;
    int verify_blocks;
    /* chain (issue 4) */
    char *chain_rpc;
    char *chain_manifest;
    long chain_confirmations;
    long chain_poll_ms;
    long chain_max_range;
    char *pricing_key; /* signed price quotes (issue 4, api/quote.c) */
    char *pricing_passphrase_file;
    long quote_ttl;
    /* abuse controls (issue 7) */
    char *rate_ip;
    char *rate_account;
    long max_connections_hard;
    long max_connections_per_ip;
    long min_body_rate;
    long body_rate_window;
    long body_timeout;
    /* inference (issue 5) */
    long infer_timeout_ms;
    long infer_max_memory;
    long infer_max_body;
    long infer_max_model;
    long infer_threads;
    long infer_concurrency;
    long infer_cache_models;
    long infer_cache_bytes;
    char *infer_rate;
};

#define OPT(name, kind, field, def, help, lo, hi)                                          \
    {name, kind, offsetof(struct serve_settings, field), def, help, lo, hi}

static const struct config_opt serve_opts[] = {
    OPT("listen", CONFIG_STR, listen, "127.0.0.1:8080", "address to serve on, HOST:PORT", 0, 0),
    OPT("public-origin", CONFIG_STR, public_origin, NULL,
        "origins users reach the node at, scheme://host[:port], comma-separated; Sign-In with "
        "Ethereum messages must name one (default: http://127.0.0.1:PORT and "
        "http://localhost:PORT of --listen, or http://HOST:PORT for a specific HOST)", 0, 0),
    OPT("data-dir", CONFIG_STR, data_dir, "./data",
        "directory holding everything the node writes", 0, 0),
    OPT("web-dir", CONFIG_STR, web_dir, NULL,
        "built web UI to serve (default: web/ beside the binary)", 0, 0),
    OPT("log-level", CONFIG_STR, log_level, "info", "debug, info, warn or error", 0, 0),
    OPT("threads", CONFIG_INT, threads, "0", "HTTP worker threads (0 = one per core)", 0, 256),
    OPT("max-connections", CONFIG_INT, max_connections, "1024", "most client connections at once",
        1, 1000000),
    OPT("timeout", CONFIG_INT, timeout, "30", "seconds before an idle connection is closed", 1,
        3600),
    OPT("max-body", CONFIG_INT, max_body, "1048576", "default request body cap in bytes", 1024,
        1L << 30),
    OPT("pwhash", CONFIG_STR, pwhash, "interactive",
        "argon2id cost: interactive, moderate, or min (tests only)", 0, 0),
    OPT("session-ttl", CONFIG_INT, session_ttl, "604800", "browser session lifetime in seconds",
        60, 365L * 86400),
    OPT("throttle-account", CONFIG_INT, throttle_account, "5",
        "failed logins per account per 15 minutes before a lock", 1, 1000000),
    OPT("throttle-ip", CONFIG_INT, throttle_ip, "20",
        "failed logins per address per 15 minutes before a lock", 1, 1000000),
    OPT("cache-ms", CONFIG_INT, cache_ms, "2000",
        "reuse answers to anonymous public reads for this long (0 = off)", 0, 3600000),
    OPT("search-index", CONFIG_BOOL, search_index, "true",
        "answer text searches from an in-memory index (--no-search-index: SQLite FTS5 only)", 0, 0),
    OPT("cookie-secure", CONFIG_BOOL, cookie_secure, "false",
        "mark session cookies Secure (when served over HTTPS)", 0, 0),
    OPT("max-upload-size", CONFIG_INT, max_upload, "68719476736",
        "largest model file accepted, in bytes", 0, 1L << 50),
    OPT("upload-ttl", CONFIG_INT, upload_ttl, "86400",
        "seconds an upload may stay unfinished before it is removed", 60, 365L * 86400),
    OPT("cleanup-interval", CONFIG_INT, cleanup_interval, "600",
        "seconds between sweeps of expired uploads", 1, 86400),
    OPT("kubo-api", CONFIG_STR, kubo_api, NULL,
        "Kubo RPC API to pin new content to, e.g. http://127.0.0.1:5001", 0, 0),
    OPT("verify-blocks", CONFIG_BOOL, verify_blocks, "true",
        "check every block's hash when reading it from disk", 0, 0),
    /* chain (issue 4) */
    OPT("chain-rpc", CONFIG_STR, chain_rpc, NULL,
        "EVM JSON-RPC endpoint to index (anvil, Ganache, a testnet, an L2); none = no chain", 0, 0),
    OPT("chain-manifest", CONFIG_STR, chain_manifest, NULL,
        "deployment manifest of `agora chain deploy` (default DATA_DIR/chain.json)", 0, 0),
    OPT("chain-confirmations", CONFIG_INT, chain_confirmations, "0",
        "blocks behind the head before an event is indexed", 0, 10000),
    OPT("chain-poll-ms", CONFIG_INT, chain_poll_ms, "1000",
        "milliseconds between indexer rounds once caught up", 50, 600000),
    OPT("chain-max-range", CONFIG_INT, chain_max_range, "2000",
        "most blocks per eth_getLogs request", 1, 1000000),
    OPT("pricing-key", CONFIG_STR, pricing_key, NULL,
        "the Marketplace's pricing signer key, to sign price quotes: a keystore v3 file (with "
        "--pricing-passphrase-file) or a 0600 file of 64 hex digits; none = no quotes (503)",
        0, 0),
    OPT("pricing-passphrase-file", CONFIG_STR, pricing_passphrase_file, NULL,
        "0600 file whose first line is the --pricing-key keystore's passphrase", 0, 0),
    OPT("quote-ttl", CONFIG_INT, quote_ttl, "300", "seconds a signed price quote stays valid", 10,
        86400),
    /* abuse controls (issue 7) */
    OPT("rate-ip", CONFIG_STR, rate_ip, "50:500",
        "requests per second per client address, RATE[:BURST] (0 = off); 429 + Retry-After past it",
        0, 0),
    OPT("rate-account", CONFIG_STR, rate_account, "20:200",
        "requests per second per signed-in account, RATE[:BURST] (0 = off)", 0, 0),
    OPT("max-connections-hard", CONFIG_INT, max_connections_hard, "0",
        "connections accepted at all (0 = 1.25 x max-connections + 16); those past "
        "max-connections are answered 503 + Retry-After", 0, 1000000),
    OPT("max-connections-per-ip", CONFIG_INT, max_connections_per_ip, "256",
        "connections per client address (IPv6: per /64; 0 = off, e.g. behind a proxy); requests "
        "past it get 503 + Retry-After, past 1.25 x + 16 connections are refused", 0, 1000000),
    OPT("min-body-rate", CONFIG_INT, min_body_rate, "1024",
        "request bodies arriving slower than this many bytes/s over a body-rate-window are cut "
        "with 408 (0 = off)", 0, 1L << 30),
    OPT("body-rate-window", CONFIG_INT, body_rate_window, "30",
        "seconds over which min-body-rate is measured (the first window is the grace period)", 1,
        3600),
    OPT("body-timeout", CONFIG_INT, body_timeout, "0",
        "seconds a whole request body may take before it is cut with 408 (0 = no limit)", 0,
        30L * 86400),
    /* inference (issue 5): POST .../versions/{version}/infer */
    OPT("infer-timeout-ms", CONFIG_INT, infer_timeout_ms, "10000",
        "time limit of one inference request, model loading included (408 past it)", 1,
        3600000),
    OPT("infer-max-memory", CONFIG_INT, infer_max_memory, "1073741824",
        "tensor bytes one inference may hold at once (413 past it)", 1L << 20, 1L << 40),
    OPT("infer-max-body", CONFIG_INT, infer_max_body, "16777216",
        "largest inference request body in bytes (413 past it)", 1024, 1L << 30),
    OPT("infer-max-model", CONFIG_INT, infer_max_model, "536870912",
        "largest .onnx file the node runs, in bytes", 1024, 1L << 34),
    OPT("infer-threads", CONFIG_INT, infer_threads, "1", "engine threads per inference", 1, 64),
    OPT("infer-concurrency", CONFIG_INT, infer_concurrency, "0",
        "inferences running at once, more are answered 503 + Retry-After (0 = one per core; "
        "runs do not hold HTTP worker threads)", 0, 1024),
    OPT("infer-cache-models", CONFIG_INT, infer_cache_models, "8",
        "loaded models kept in memory (0 = load for every request)", 0, 1024),
    OPT("infer-cache-bytes", CONFIG_INT, infer_cache_bytes, "1073741824",
        "model file bytes kept loaded", 0, 1L << 40),
    OPT("infer-rate", CONFIG_STR, infer_rate, "2:20",
        "inferences per second per caller of free models, RATE[:BURST] (0 = off); owners and "
        "licence holders of paid models are not limited", 0, 0),
};

/* rate_open() makes the limiters of --rate-ip and --rate-account (issue 7). */
static int rate_open(const struct serve_settings *set, struct ratelimit **ip,
                     struct ratelimit **account, struct ag_err *e)
{
    struct ratelimit_config c;
    int rc;
    if ((rc = ratelimit_parse(set->rate_ip, "rate-ip", &c, e)) || (rc = ratelimit_new(&c, ip, e)))
        return rc;
    if ((rc = ratelimit_parse(set->rate_account, "rate-account", &c, e)) ||
        (rc = ratelimit_new(&c, account, e)))
        return rc;
    return 0;
}

/* infer_open() makes the inference service and the limiter of free-model
 * calls from the --infer-* options (issue 5). */
static int infer_open(const struct serve_settings *set, struct market_infer **svc,
                      struct ratelimit **rl, struct ag_err *e)
{
    struct market_infer_config ic = {0};
    struct ratelimit_config rc_cfg;
    int rc;

    if ((rc = ratelimit_parse(set->infer_rate, "infer-rate", &rc_cfg, e)) ||
        (rc = ratelimit_new(&rc_cfg, rl, e)))
        return rc;
    ic.timeout_ms = (int)set->infer_timeout_ms;
    ic.max_memory = (uint64_t)set->infer_max_memory;
    ic.max_body = (uint64_t)set->infer_max_body;
    ic.max_model_bytes = (uint64_t)set->infer_max_model;
    ic.threads = (int)set->infer_threads;
    ic.max_concurrent = (int)set->infer_concurrency;
    if (!ic.max_concurrent) {
        /* Runs have threads of their own (http_defer()), so the HTTP workers
         * stay free; runs are CPU-bound, so more than one per core only
         * makes each slower. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        ic.max_concurrent = (int)MAX(1, cores);
    }
    ic.cache_models = set->infer_cache_models ? (int)set->infer_cache_models : -1;
    ic.cache_bytes = set->infer_cache_bytes ? (uint64_t)set->infer_cache_bytes : 1;
    return market_infer_new(&ic, svc, e);
}

/* chain_open() loads the manifest and starts the indexer when --chain-rpc
 * is set (issue 4). The node serves even while the RPC node is down: the
 * indexer reports it in /healthz and retries. */
static int chain_open(const struct serve_settings *set, struct market *market,
                      struct chain_manifest *manifest, struct market_chain *mc,
                      struct ag_err *e)
{
    char path[PATH_MAX];
    struct chain_indexer_config icfg = {0};
    int rc;

    if (!set->chain_rpc)
        return 0;
    if (set->chain_manifest)
        str_copy(path, set->chain_manifest, sizeof(path));
    else
        snprintf(path, sizeof(path), "%s/chain.json", set->data_dir);
    if ((rc = chain_manifest_load(path, manifest, e))) {
        if (rc == AG_ENOTFOUND)
            ag_errf(e, rc, "chain-manifest", "no deployment manifest at %s: run `agora chain "
                    "deploy` first or pass --chain-manifest", path);
        return rc;
    }
    icfg.rpc = set->chain_rpc;
    icfg.manifest = manifest;
    icfg.store = market->store;
    icfg.confirmations = (unsigned)set->chain_confirmations;
    icfg.poll_ms = (unsigned)set->chain_poll_ms;
    icfg.max_range = (unsigned)set->chain_max_range;
    mc->chain_id = manifest->chain_id;
    mc->rpc_url = set->chain_rpc;
    mc->manifest = manifest;
    if ((rc = market_chain_init(mc)))
        return ag_err_set(e, rc);
    if ((rc = chain_indexer_start(&icfg, &mc->indexer, e)))
        return rc;
    market->chain = mc;
    log_info("chain: following chain %" PRIu64 " at %s from block %" PRIu64, manifest->chain_id,
             set->chain_rpc, manifest->block);
    return 0;
}

/* pricing_open() loads --pricing-key and lets POST .../quote sign with it
 * (issue 4). The key is never logged, only the signer's address. */
static int pricing_open(const struct serve_settings *set, const struct market_chain *mc,
                        struct chain_pricer *p, struct ag_err *e)
{
    uint8_t key[32];
    char a[ETH_ADDR_STR];
    int rc;

    if (!set->pricing_key)
        return 0;
    if (!mc->manifest)
        return ag_errf(e, AG_EINVAL, "pricing-key", "--pricing-key needs --chain-rpc");
    if ((rc = keystore_load_key(set->pricing_key, set->pricing_passphrase_file, key, e))) {
        char why[sizeof(e->msg)];
        str_copy(why, e->msg, sizeof(why));
        return ag_errf(e, rc, "pricing-key", "--pricing-key: %s", why);
    }
    rc = chain_pricer_init(p, mc->rpc_url, mc->manifest, key, (unsigned)set->quote_ttl, e);
    sodium_memzero(key, sizeof(key));
    if (rc)
        return rc;
    addr_format(p->signer, a);
    log_info("chain: signing price quotes as %s (valid %ld s)", a, set->quote_ttl);
    return 0;
}

/* origins_open() sets the origins SIWE messages must name: --public-origin,
 * else those of --listen on the bound `port` (loopback names for a loopback
 * or wildcard address). Never the Host header of a request: its sender
 * chooses it (docs/security.md). */
static int origins_open(const struct serve_settings *set, struct market *market, unsigned port,
                        struct ag_err *e)
{
    char host[256], list[600];
    const char *colon = strrchr(set->listen, ':');
    int n = colon ? (int)(colon - set->listen) : 0;

    if (set->public_origin)
        return market_set_origins(market, set->public_origin, e);
    snprintf(host, sizeof(host), "%.*s", n, set->listen);
    if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !strcmp(host, "[::]") ||
        !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost")) {
        snprintf(list, sizeof(list), "http://127.0.0.1:%u,http://localhost:%u", port, port);
        if (strcmp(host, "127.0.0.1") && strcmp(host, "localhost"))
            log_info("siwe: serving on all addresses; users who reach the node by another name "
                     "need --public-origin to sign in with Ethereum");
    } else if (strchr(host, ':') && host[0] != '[') {
        snprintf(list, sizeof(list), "http://[%s]:%u", host, port);
    } else {
        snprintf(list, sizeof(list), "http://%s:%u", host, port);
    }
    return market_set_origins(market, list, e);
}

/* The expired-upload sweeper: one thread, woken every cleanup-interval
 * seconds or when the node stops. Several nodes may sweep one database at
 * once: market_upload_expire() lets exactly one remove each upload. */
struct sweeper {
    struct market *market;
    long interval;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop, started;
};

static void sweep_once(struct market *m)
{
    struct ag_err e = {0};
    int removed = 0;
    if (market_upload_expire(m, time_now(), &removed, &e))
        log_warn("storage: upload cleanup failed: %s", e.msg);
    else if (removed)
        log_info("storage: removed %d expired uploads", removed);
}

static void *sweeper_main(void *arg)
{
    struct sweeper *sw = arg;
    pthread_mutex_lock(&sw->lock);
    while (!sw->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += sw->interval;
        pthread_cond_timedwait(&sw->wake, &sw->lock, &until);
        if (sw->stop)
            break;
        pthread_mutex_unlock(&sw->lock);
        sweep_once(sw->market);
        pthread_mutex_lock(&sw->lock);
    }
    pthread_mutex_unlock(&sw->lock);
    return NULL;
}

static void sweeper_stop(struct sweeper *sw)
{
    if (!sw->started)
        return;
    pthread_mutex_lock(&sw->lock);
    sw->stop = true;
    pthread_cond_signal(&sw->wake);
    pthread_mutex_unlock(&sw->lock);
    pthread_join(sw->thread, NULL);
    sw->started = false;
}

/* Shutdown signals go through a pipe: whichever thread the kernel picks
 * runs the handler, which only writes the signal number; the main thread
 * waits on the other end. (Blocking the signals and sigwait()ing is not
 * enough: libraries may start threads with their own masks.) */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* nothing to do: the pipe is full, a signal is already pending */
    }
    errno = saved;
}

/* wait_for_signal() returns SIGINT or SIGTERM once one has arrived. */
static int wait_for_signal(void)
{
    unsigned char b = 0;
    while (read(sig_pipe[0], &b, 1) < 0 && errno == EINTR)
        ;
    return b;
}

static int catch_signals(void)
{
    struct sigaction sa;
    if (pipe2(sig_pipe, O_CLOEXEC))
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

/* The web directory: --web-dir, else web/ next to the executable. */
static char *default_web_dir(void)
{
    char exe[PATH_MAX], dir[PATH_MAX + 8];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(dir, sizeof(dir), "%s/web", exe);
    return access(dir, R_OK) == 0 ? strdup(dir) : NULL;
}

static int parse_pwhash(const char *s, enum pwhash_level *out)
{
    if (!strcmp(s, "interactive"))
        *out = PWHASH_INTERACTIVE;
    else if (!strcmp(s, "moderate"))
        *out = PWHASH_MODERATE;
    else if (!strcmp(s, "min"))
        *out = PWHASH_MIN;
    else
        return AG_EINVAL;
    return 0;
}

int node_open(const char *data_dir, struct store **out, struct ag_err *e)
{
    char path[PATH_MAX];
    if (sodium_init() < 0)
        return ag_errf(e, AG_EINTERNAL, NULL, "libsodium failed to initialize");
    if (mkdir_p(data_dir, 0700))
        return ag_errf(e, AG_EIO, "data-dir", "cannot create data directory %s: %s", data_dir,
                       strerror(errno));
    if (snprintf(path, sizeof(path), "%s/agora.db", data_dir) >= (int)sizeof(path))
        return ag_errf(e, AG_EINVAL, "data-dir", "data directory path is too long");
    return store_open(path, out, e);
}

int cmd_serve(int argc, char **argv)
{
    struct serve_settings set = {0};
    struct market_config mcfg = {0};
    struct http_config hcfg = {0};
    struct http_server *http = NULL;
    struct store *store = NULL;
    struct market market = {0};
    struct market_storage_config scfg = {0};
    struct sweeper sw = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
    struct api api = {0};
    struct chain_manifest manifest = {0};
    struct market_chain mchain = {0};
    struct chain_pricer pricer = {0};
    struct ratelimit *rate_ip = NULL, *rate_account = NULL;
    struct market_infer *infer = NULL;  /* issue 5 */
    struct ratelimit *infer_rate = NULL;
    struct ag_err e = {0};
    int sig = 0, rc = EXIT_ERR, level;

    if (cli_wants_help(argc, argv)) {
        printf("usage: agora serve [options]\n\nOptions (flag > AGORA_* variable > config file "
               "> default):\n");
        config_usage(serve_opts, ARRAY_SIZE(serve_opts), stdout);
        return EXIT_OK;
    }
    if (config_load(serve_opts, ARRAY_SIZE(serve_opts), &set, argc, argv, 1, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((level = log_parse_level(set.log_level)) < 0 || parse_pwhash(set.pwhash, &mcfg.pwhash)) {
        fprintf(stderr, "agora serve: bad --log-level or --pwhash value\n");
        rc = EXIT_USAGE;
        goto out;
    }
    log_set_level((enum log_level)level);
    /* Every request allocates and frees a few KiB in its worker thread's
     * malloc arena; glibc's default trimming then hands the top of that
     * arena back to the kernel (an madvise per request or so) only to fault
     * it in again on the next one. Keep up to 32 MiB of free heap. */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    if (rate_open(&set, &rate_ip, &rate_account, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    if (!set.web_dir)
        set.web_dir = default_web_dir();

    if (catch_signals()) {
        fprintf(stderr, "agora serve: cannot install signal handlers: %s\n", strerror(errno));
        goto out;
    }
    if (node_open(set.data_dir, &store, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        goto out;
    }
    store_optimize(store);
    /* Built in the background; SQL answers text searches until it is ready.
     * Other processes' writes to the database show in searches within 1 s. */
    if (set.search_index && store_search_index_start(store, 1000, &e))
        log_warn("search index: %s; SQL answers text searches", e.msg);
    mcfg.session_ttl = set.session_ttl;
    mcfg.throttle_account_max = (int)set.throttle_account;
    mcfg.throttle_ip_max = (int)set.throttle_ip;
    market_init(&market, store, &mcfg);
    if (set.public_origin && origins_open(&set, &market, 0, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    scfg.data_dir = set.data_dir;
    scfg.max_upload = (uint64_t)set.max_upload;
    scfg.upload_ttl = set.upload_ttl;
    scfg.kubo_api = set.kubo_api;
    scfg.verify = set.verify_blocks;
    if (market_storage_open(&market, &scfg, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        goto out;
    }
    if (chain_open(&set, &market, &manifest, &mchain, &e) ||
        pricing_open(&set, &mchain, &pricer, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        goto out;
    }
    if (market_kubo_pinner_start(&market, &e)) /* issue 3: the Kubo re-pin queue */
        log_warn("storage: %s; roots wait in the Kubo re-pin queue until a restart", e.msg);
    sweep_once(&market);
    sw.market = &market;
    sw.interval = set.cleanup_interval;
    if (pthread_create(&sw.thread, NULL, sweeper_main, &sw) == 0)
        sw.started = true;
    else
        log_warn("storage: cannot start the upload sweeper; expired uploads are removed at start only");
    api.market = &market;
    api.cache = api_cache_new((int)set.cache_ms);
    api.data_dir = set.data_dir;
    api.cookie_secure = set.cookie_secure;
    api.version = "0.1.0";
    api.rate_account = rate_account;
    if (infer_open(&set, &infer, &infer_rate, &e)) { /* issue 5 */
        fprintf(stderr, "agora serve: %s\n", e.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    api.infer = infer;
    api.rate_infer_free = infer_rate;
    api.pricer = set.pricing_key ? &pricer : NULL; /* issue 4 */

    hcfg.listen = set.listen;
    hcfg.static_dir = set.web_dir;
    hcfg.threads = (unsigned)set.threads;
    hcfg.max_connections = (unsigned)set.max_connections;
    hcfg.timeout_s = (unsigned)set.timeout;
    hcfg.max_body = (size_t)set.max_body;
    hcfg.csp = csp;
    hcfg.rate_ip = rate_ip;
    hcfg.max_connections_hard = (unsigned)set.max_connections_hard;
    hcfg.max_connections_per_ip = (unsigned)set.max_connections_per_ip;
    hcfg.min_body_rate = (unsigned)set.min_body_rate;
    hcfg.body_rate_window_s = (unsigned)set.body_rate_window;
    hcfg.body_timeout_s = (unsigned)set.body_timeout;
    if (http_server_start(&hcfg, api_routes, api_nroutes, &api, &http, &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        goto out;
    }
    api.http = http;
    /* the default origins name the bound port (--listen may say :0) */
    if (!set.public_origin && origins_open(&set, &market, http_server_port(http), &e)) {
        fprintf(stderr, "agora serve: %s\n", e.msg);
        http_server_stop(http, 0);
        goto out;
    }
    {
        char host[256];
        const char *colon = strrchr(set.listen, ':');
        snprintf(host, sizeof(host), "%.*s", (int)(colon - set.listen), set.listen);
        printf("agora: serving on http://%s:%u\n", *host ? host : "0.0.0.0",
               http_server_port(http));
        fflush(stdout);
    }
    log_info("node started: data dir %s, web dir %s", set.data_dir,
             set.web_dir ? set.web_dir : "(none)");
    sig = wait_for_signal();
    log_info("received %s; finishing in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
    market_infer_stop(infer); /* issue 5: runs in progress stop at their next node */
    http_server_stop(http, 10000);
    rc = EXIT_OK;
out:
    sweeper_stop(&sw);
    market_kubo_pinner_stop(&market);
    chain_indexer_stop(mchain.indexer);
    chain_pricer_release(&pricer);
    market.chain = NULL;
    market_chain_release(&mchain);
    chain_manifest_release(&manifest);
    if (store)
        market_storage_close(&market);
    api_cache_free(api.cache);
    market_release(&market);
    store_close(store);
    for (int i = 0; i < 2; i++)
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
    config_free(serve_opts, ARRAY_SIZE(serve_opts), &set);
    ratelimit_free(rate_ip);
    ratelimit_free(rate_account);
    market_infer_free(infer);
    ratelimit_free(infer_rate);
    return rc;
}
