/* cmd_gc.c - `agora gc`: remove blocks no stored file needs, safely while the node runs. */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/node.h"
#include "market/market.h"

const char cmd_gc_usage[] =
    "usage: agora gc [--data-dir DIR] [--grace SECONDS] [--dry-run] [--json]\n"
    "Removes blocks of DATA_DIR/blocks that no version file's root CID reaches\n"
    "(the pins, read from the database) and that are older than --grace seconds\n"
    "(default 3600), so uploads being imported right now keep their blocks, and\n"
    "the .tmp-* files interrupted writes left there once older than the same grace\n"
    "(a write in progress renames its file within seconds). Safe while `agora\n"
    "serve` runs on the same data directory. DATA_DIR is --data-dir,\n"
    "$AGORA_DATA_DIR or ./data.";

int cmd_gc(int argc, char **argv)
{
    struct cli_opt opts[] = {CLI_OPT("data-dir", CLI_VALUE), CLI_OPT("grace", CLI_VALUE),
                             CLI_OPT("dry-run", CLI_FLAG), CLI_OPT("json", CLI_FLAG)};
    struct market_storage_config scfg = {0};
    struct market market = {0};
    struct store *store = NULL;
    struct ag_err e = {0};
    struct gc_stats st;
    struct cli_args a;
    const char *dd;
    int64_t grace = 3600;
    int rc;

    if ((rc = cli_parse("gc", argc, argv, 1, opts, ARRAY_SIZE(opts), &a)))
        return rc;
    if (a.help)
        return cli_help("gc");
    if (a.npos)
        return cli_bad_usage("gc", "gc takes no arguments");
    if (opts[1].set && (parse_i64(opts[1].value, &grace) || grace < 0))
        return cli_bad_usage("gc", "--grace takes a number of seconds");
    dd = opts[0].set ? opts[0].value : getenv("AGORA_DATA_DIR");
    if (!dd || !dd[0])
        dd = "./data";
    log_set_level(LOG_WARN);
    if (node_open(dd, &store, &e)) {
        rc = cli_fail("gc", "%s", e.msg);
        goto out;
    }
    market_init(&market, store, NULL);
    scfg.data_dir = dd;
    /* Reachability needs only the links of dag-pb nodes, which are decoded
     * strictly anyway; a leaf whose bytes rotted must not stop gc (nor be
     * removed: it is still pinned). */
    scfg.verify = false;
    if (market_storage_open(&market, &scfg, &e) ||
        market_gc(&market, grace, opts[2].set, &st, &e)) {
        rc = cli_fail("gc", "%s", e.msg[0] ? e.msg : "failed");
        goto out;
    }
    if (opts[3].set) {
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "pinned_roots",
            (json_int_t)st.pinned_roots, "kept", (json_int_t)st.kept, "young",
            (json_int_t)st.young, "removed", (json_int_t)st.removed, "removed_bytes",
            (json_int_t)st.removed_bytes, "tmp_removed", (json_int_t)st.tmp_removed,
            "tmp_removed_bytes", (json_int_t)st.tmp_bytes, "dry_run", opts[2].set);
        client_print_json(o);
        json_decref(o);
    } else {
        printf("%s %" PRIu64 " unpinned blocks (%" PRIu64 " bytes); kept %" PRIu64
               " pinned (%" PRIu64 " roots) and %" PRIu64 " younger than %" PRId64 " s\n",
               opts[2].set ? "would remove" : "removed", st.removed, st.removed_bytes, st.kept,
               st.pinned_roots, st.young, grace);
        if (st.tmp_removed)
            printf("%s %" PRIu64 " stale temporary block files (%" PRIu64 " bytes) left by"
                   " interrupted writes\n",
                   opts[2].set ? "would remove" : "removed", st.tmp_removed, st.tmp_bytes);
    }
out:
    market_storage_close(&market);
    store_close(store);
    return rc;
}
