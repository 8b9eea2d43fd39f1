/* cmd_chain.c - `agora chain deploy|status`: deploy the contracts, write the manifest, show the
 * indexer's position. */
#include "core/common.h"
#include "core/config.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "cli/cli.h"
#include "cli/node.h"
#include "eth/rpc.h"

#include <limits.h>
#include <unistd.h>

const char cmd_chain_usage[] =
    "usage: agora chain deploy [--chain-rpc URL] --key-file FILE [--data-dir DIR]\n"
    "                          [--chain-manifest FILE] [--contracts-dir DIR] [--artifacts DIR] "
    "[--force]\n"
    "       agora chain status [--chain-rpc URL] [--data-dir DIR] [--chain-manifest FILE] "
    "[--json]\n"
    "\n"
    "deploy runs contracts/deploy.mjs with node against any EVM JSON-RPC endpoint and\n"
    "writes the deployment manifest (chain id, block, contract addresses, ABIs) to\n"
    "DATA_DIR/chain.json, which `agora serve --chain-rpc URL` then follows.\n"
    "status shows the chain id, head, contract addresses and the indexer's position and lag.\n";

struct chain_settings {
    char *data_dir;
    char *rpc;
    char *manifest;
    char *key_file;
    char *contracts_dir;
    char *artifacts;
    int force;
    int json;
};

#define OPT(name, kind, field, def, help)                                                          \
    {                                                                                              \
        name, kind, offsetof(struct chain_settings, field), def, help, 0, 0                        \
    }
static const struct config_opt chain_opts[] = {
    OPT("data-dir", CONFIG_STR, data_dir, "./data", "the node's data directory"),
    OPT("chain-rpc", CONFIG_STR, rpc, "http://127.0.0.1:8545", "EVM JSON-RPC endpoint"),
    OPT("chain-manifest", CONFIG_STR, manifest, NULL,
        "deployment manifest (default DATA_DIR/chain.json)"),
    OPT("key-file", CONFIG_STR, key_file, NULL, "file holding the deployer's hex private key"),
    OPT("contracts-dir", CONFIG_STR, contracts_dir, NULL,
        "the contracts/ sources (default: beside the build directory)"),
    OPT("artifacts", CONFIG_STR, artifacts, NULL, "compiled contracts (build.mjs output)"),
    OPT("force", CONFIG_BOOL, force, "false", "deploy even when a manifest exists"),
    OPT("json", CONFIG_BOOL, json, "false", "print JSON"),
};

/* exe_dir() writes the directory of the running binary. */
static int exe_dir(char out[PATH_MAX])
{
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
    char *slash;

    if (n <= 0)
        return -1;
    out[n] = '\0';
    if (!(slash = strrchr(out, '/')))
        return -1;
    *slash = '\0';
    return 0;
}

static void manifest_path(const struct chain_settings *s, char out[PATH_MAX])
{
    if (s->manifest)
        str_copy(out, s->manifest, PATH_MAX);
    else
        snprintf(out, PATH_MAX, "%s/chain.json", s->data_dir);
}

static int do_deploy(struct chain_settings *s)
{
    char manifest[PATH_MAX], dir[PATH_MAX], contracts[PATH_MAX + 16], art[PATH_MAX + 32];
    struct chain_deploy_opts o = {0};
    struct ag_err e = {0};

    if (!s->key_file) {
        fprintf(stderr, "agora chain deploy: --key-file is required\n");
        return EXIT_USAGE;
    }
    manifest_path(s, manifest);
    if (!s->force && access(manifest, F_OK) == 0) {
        fprintf(stderr, "agora chain deploy: %s exists (already deployed); --force deploys again\n",
                manifest);
        return EXIT_ERR;
    }
    if (mkdir_p(s->data_dir, 0700)) {
        fprintf(stderr, "agora chain deploy: cannot create %s: %s\n", s->data_dir, strerror(errno));
        return EXIT_ERR;
    }
    if (exe_dir(dir))
        str_copy(dir, ".", sizeof(dir));
    if (s->contracts_dir)
        str_copy(contracts, s->contracts_dir, sizeof(contracts));
    else
        snprintf(contracts, sizeof(contracts), "%s/../contracts", dir);
    o.artifacts = s->artifacts;
    if (!o.artifacts) {
        snprintf(art, sizeof(art), "%s/contracts/Marketplace.json", dir);
        if (access(art, R_OK) == 0) {
            snprintf(art, sizeof(art), "%s/contracts", dir);
            o.artifacts = art;
        }
    }
    o.rpc = s->rpc;
    o.key_file = s->key_file;
    o.contracts_dir = contracts;
    o.out = manifest;
    if (chain_deploy(&o, &e)) {
        fprintf(stderr, "agora chain deploy: %s\n", e.msg);
        return EXIT_ERR;
    }
    printf("deployed; manifest written to %s\n", manifest);
    return EXIT_OK;
}

static int do_status(struct chain_settings *s)
{
    char manifest[PATH_MAX];
    struct chain_manifest m;
    struct chain_cursor cur = {0};
    struct rpc_client rpc = {0};
    struct store *store = NULL;
    struct ag_err e = {0};
    uint64_t rpc_chain = 0, head = 0;
    int have_cursor, rpc_rc, rc = EXIT_ERR;
    json_t *out = NULL, *addrs;
    const char *rpc_err = NULL;

    manifest_path(s, manifest);
    if (chain_manifest_load(manifest, &m, &e)) {
        fprintf(stderr, "agora chain status: %s%s\n", e.msg,
                e.code == AG_ENOTFOUND ? " (run agora chain deploy)" : "");
        return EXIT_ERR;
    }
    if (!(rpc_rc = rpc_init(&rpc, s->rpc, &e))) {
        rpc.retries = 0;
        rpc.timeout_ms = 5000;
        if (!(rpc_rc = rpc_chain_id(&rpc, &rpc_chain, &e)))
            rpc_rc = rpc_block_number(&rpc, &head, &e);
    }
    if (rpc_rc)
        rpc_err = e.msg;
    have_cursor =
        !node_open(s->data_dir, &store, NULL) && !store_chain_cursor_get(store, &cur, NULL);
    addrs = json_object();
    for (int i = 0; i < CHAIN_NCONTRACTS; i++)
        json_object_set_new(addrs, chain_contract_names[i], json_string(m.addr_hex[i]));
    out =
        json_pack("{s:s, s:s, s:I, s:I, s:o}", "manifest", manifest, "rpc", s->rpc, "chain_id",
                  (json_int_t)m.chain_id, "deploy_block", (json_int_t)m.block, "contracts", addrs);
    if (rpc_err) {
        json_object_set_new(out, "rpc_status", json_string("error"));
        json_object_set_new(out, "rpc_error", json_string(rpc_err));
    } else {
        json_object_set_new(out, "rpc_status",
                            json_string(rpc_chain == m.chain_id ? "ok" : "wrong_chain"));
        json_object_set_new(out, "rpc_chain_id", json_integer((json_int_t)rpc_chain));
        json_object_set_new(out, "head", json_integer((json_int_t)head));
    }
    if (have_cursor) {
        int64_t indexed = cur.next_block - 1;
        json_object_set_new(out, "indexed_block", json_integer(indexed));
        if (!rpc_err)
            json_object_set_new(out, "lag",
                                json_integer(head > (uint64_t)indexed
                                                 ? (json_int_t)(head - (uint64_t)indexed)
                                                 : 0));
    } else {
        json_object_set_new(out, "indexed_block", json_null());
    }
    if (s->json) {
        char *txt = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (txt)
            printf("%s\n", txt);
        free(txt);
    } else {
        printf("manifest       %s\nchain id       %" PRIu64 "\ndeploy block   %" PRIu64 "\n",
               manifest, m.chain_id, m.block);
        for (int i = 0; i < CHAIN_NCONTRACTS; i++)
            printf("%-14s %s\n", chain_contract_names[i], m.addr_hex[i]);
        if (rpc_err)
            printf("rpc            %s: %s\n", s->rpc, rpc_err);
        else
            printf("rpc            %s (chain %" PRIu64 "%s)\nhead           %" PRIu64 "\n", s->rpc,
                   rpc_chain, rpc_chain == m.chain_id ? "" : ", NOT the manifest's chain", head);
        if (have_cursor)
            printf("indexed block  %" PRId64 "\n", cur.next_block - 1);
        else
            printf("indexed block  (not indexed yet)\n");
        if (have_cursor && !rpc_err)
            printf("lag            %" PRIu64 " blocks\n",
                   head > (uint64_t)(cur.next_block - 1) ? head - (uint64_t)(cur.next_block - 1)
                                                         : 0);
    }
    rc = rpc_err || rpc_chain != m.chain_id ? EXIT_ERR : EXIT_OK;
    json_decref(out);
    store_close(store);
    if (rpc.url)
        rpc_release(&rpc);
    chain_manifest_release(&m);
    return rc;
}

int cmd_chain(int argc, char **argv)
{
    struct chain_settings s = {0};
    struct ag_err e = {0};
    int rc = EXIT_USAGE;

    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(cmd_chain_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (config_load(chain_opts, ARRAY_SIZE(chain_opts), &s, argc, argv, 2, &e)) {
        fprintf(stderr, "agora chain: %s\n", e.msg);
        goto out;
    }
    if (!strcmp(argv[1], "deploy"))
        rc = do_deploy(&s);
    else if (!strcmp(argv[1], "status"))
        rc = do_status(&s);
    else
        fputs(cmd_chain_usage, stderr);
out:
    config_free(chain_opts, ARRAY_SIZE(chain_opts), &s);
    return rc;
}
