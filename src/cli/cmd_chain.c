/* cmd_chain.c - `agora chain deploy|status`: deploy the contracts from C (chain/deploy.c), write
 * the manifest, show the indexer's position. */
#include "core/common.h"
#include "core/config.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/node.h"
#include "eth/keystore.h"
#include "eth/rpc.h"

#include <limits.h>
#include <sodium.h>
#include <unistd.h>

const char cmd_chain_usage[] =
    "usage: agora chain deploy [--chain-rpc URL] [--key-file FILE | --keystore FILE]\n"
    "                          [--data-dir DIR] [--chain-manifest FILE] [--artifacts DIR]\n"
    "                          [--contracts-dir DIR] [--force] [--json] [deployment options]\n"
    "       agora chain status [--chain-rpc URL] [--data-dir DIR] [--chain-manifest FILE] "
    "[--json]\n"
    "\n"
    "deploy deploys AgoraToken, ModelRegistry and Marketplace (and an ArbitrationPanel with\n"
    "--arbitrator panel) to any EVM JSON-RPC endpoint - anvil, Ganache, a testnet - signing\n"
    "in C, and writes the deployment manifest (chain id, block, addresses, ABIs) to\n"
    "DATA_DIR/chain.json, which `agora serve --chain-rpc URL` then follows.\n"
    "  the deployer: --key-file FILE (hex private key), --keystore FILE (passphrase from\n"
    "    --passphrase-file, AGORA_PASSPHRASE or a prompt), or AGORA_DEPLOYER_KEY; with none,\n"
    "    a development chain's (ids 31337, 1337) first unlocked account\n"
    "  the contracts: --artifacts DIR (contracts/build.mjs output), else the build's\n"
    "    contracts/ beside this binary, else compiled with node from --contracts-dir\n"
    "  deployment options: --fee-bps N (250), --royalty-bps N (500), --dispute-window S\n"
    "    (259200), --initial-supply AGR (1000000), --faucet auto|on|off (auto: on for dev\n"
    "    chain ids), --treasury ADDR, --pricing-signer ADDR, --arbitrator ADDR|panel (all\n"
    "    default to the deployer), --governance ADDR (starts a transfer), --timeout S (120)\n"
    "status shows the chain id, head, contract addresses and the indexer's position and lag.\n";

struct chain_settings {
    char *data_dir;
    char *rpc;
    char *manifest;
    char *key_file;
    char *keystore;
    char *passphrase_file;
    char *contracts_dir;
    char *artifacts;
    long fee_bps;
    long royalty_bps;
    long dispute_window;
    char *initial_supply;
    char *faucet;
    char *treasury;
    char *pricing_signer;
    char *arbitrator;
    char *governance;
    long timeout;
    int force;
    int json;
};

#define OPT(name, kind, field, def, help)                                                          \
    {                                                                                              \
        name, kind, offsetof(struct chain_settings, field), def, help, 0, 0                        \
    }
#define OPT_INT(name, field, def, max, help)                                                       \
    {                                                                                              \
        name, CONFIG_INT, offsetof(struct chain_settings, field), def, help, 0, max                \
    }
static const struct config_opt chain_opts[] = {
    OPT("data-dir", CONFIG_STR, data_dir, "./data", "the node's data directory"),
    OPT("chain-rpc", CONFIG_STR, rpc, "http://127.0.0.1:8545", "EVM JSON-RPC endpoint"),
    OPT("chain-manifest", CONFIG_STR, manifest, NULL,
        "deployment manifest (default DATA_DIR/chain.json)"),
    OPT("key-file", CONFIG_STR, key_file, NULL, "file holding the deployer's hex private key"),
    OPT("keystore", CONFIG_STR, keystore, NULL, "the deployer's keystore v3 file"),
    OPT("passphrase-file", CONFIG_STR, passphrase_file, NULL, "the keystore's passphrase"),
    OPT("contracts-dir", CONFIG_STR, contracts_dir, NULL,
        "the contracts/ sources (default: beside the build directory)"),
    OPT("artifacts", CONFIG_STR, artifacts, NULL, "compiled contracts (build.mjs output)"),
    OPT_INT("fee-bps", fee_bps, "250", 1000000, "platform fee in basis points"),
    OPT_INT("royalty-bps", royalty_bps, "500", 1000000, "total royalty to parent owners, bps"),
    OPT_INT("dispute-window", dispute_window, "259200", 1000000000000,
            "escrow and dispute window, seconds"),
    OPT("initial-supply", CONFIG_STR, initial_supply, "1000000", "AGR minted to the deployer"),
    OPT("faucet", CONFIG_STR, faucet, "auto", "auto, on or off"),
    OPT("treasury", CONFIG_STR, treasury, NULL, "fee recipient (default: the deployer)"),
    OPT("pricing-signer", CONFIG_STR, pricing_signer, NULL, "quote signer (default: deployer)"),
    OPT("arbitrator", CONFIG_STR, arbitrator, NULL, "dispute arbitrator address, or panel"),
    OPT("governance", CONFIG_STR, governance, NULL, "transfer governance to this address"),
    OPT_INT("timeout", timeout, "120", 86400, "per-transaction receipt timeout, seconds"),
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

/* deployer_key() finds the deployer's key: --key-file, --keystore or
 * AGORA_DEPLOYER_KEY. *have is false when none is given (the node's
 * unlocked account is then used). Returns EXIT_OK or prints and fails. */
static int deployer_key(const struct chain_settings *s, uint8_t key[32], bool *have)
{
    const char *env = getenv("AGORA_DEPLOYER_KEY");
    char text[1024] = "";
    json_t *ks = NULL;
    struct ag_err e = {0};
    int rc = EXIT_ERR;

    *have = false;
    if (s->key_file && s->keystore) {
        fprintf(stderr, "agora chain deploy: --key-file and --keystore exclude each other\n");
        return EXIT_USAGE;
    }
    if (s->key_file) {
        /* a raw hex key file, which must be 0600 (keystore_load_key()) */
        if (keystore_load_key(s->key_file, NULL, key, &e))
            fprintf(stderr, "agora chain deploy: %s\n", e.msg);
        else
            rc = EXIT_OK;
    } else if (s->keystore) {
        const char *pass = getenv("AGORA_PASSPHRASE");
        if (keystore_read_file(s->keystore, &ks, &e)) {
            fprintf(stderr, "agora chain deploy: %s\n", e.msg);
            goto out;
        }
        if (s->passphrase_file) {
            if (keystore_passphrase_file(s->passphrase_file, text, sizeof(text), &e)) {
                fprintf(stderr, "agora chain deploy: %s\n", e.msg);
                goto out;
            }
        } else if (pass) {
            str_copy(text, pass, sizeof(text));
        } else if (cli_read_tty("Deployer passphrase: ", text, sizeof(text))) {
            fprintf(stderr, "agora chain deploy: no terminal for the passphrase; use "
                            "--passphrase-file or AGORA_PASSPHRASE\n");
            goto out;
        }
        if (keystore_decrypt(ks, text, strlen(text), key, &e))
            fprintf(stderr, "agora chain deploy: %s: %s\n", s->keystore, e.msg);
        else
            rc = EXIT_OK;
    } else if (env && *env) {
        if (keystore_parse_hex_key(env, key))
            fprintf(stderr, "agora chain deploy: AGORA_DEPLOYER_KEY is not a 32-byte hex key\n");
        else
            rc = EXIT_OK;
    } else {
        return EXIT_OK;
    }
out:
    *have = rc == EXIT_OK;
    sodium_memzero(text, sizeof(text));
    json_decref(ks);
    return rc;
}

/* find_artifacts() picks the compiled contracts: --artifacts, the build's
 * contracts/ beside the binary, else compiles them (node, build.mjs) into
 * DATA_DIR/contracts-build. Returns EXIT_OK or prints and fails. */
static int find_artifacts(const struct chain_settings *s, char out[PATH_MAX])
{
    char dir[PATH_MAX], probe[PATH_MAX + 32], contracts[PATH_MAX + 16];
    struct ag_err e = {0};

    if (s->artifacts) {
        str_copy(out, s->artifacts, PATH_MAX);
        return EXIT_OK;
    }
    if (exe_dir(dir))
        str_copy(dir, ".", sizeof(dir));
    snprintf(probe, sizeof(probe), "%s/contracts/Marketplace.json", dir);
    if (access(probe, R_OK) == 0) {
        probe[strlen(probe) - strlen("/Marketplace.json")] = '\0';
        str_copy(out, probe, PATH_MAX);
        return EXIT_OK;
    }
    if (s->contracts_dir)
        str_copy(contracts, s->contracts_dir, sizeof(contracts));
    else
        snprintf(contracts, sizeof(contracts), "%s/../contracts", dir);
    if (snprintf(probe, sizeof(probe), "%s/contracts-build", s->data_dir) >= PATH_MAX) {
        fprintf(stderr, "agora chain deploy: data directory path too long\n");
        return EXIT_ERR;
    }
    str_copy(out, probe, PATH_MAX);
    if (chain_build_artifacts(NULL, contracts, out, &e)) {
        fprintf(stderr, "agora chain deploy: compiling the contracts: %s\n", e.msg);
        return EXIT_ERR;
    }
    return EXIT_OK;
}

static int do_deploy(struct chain_settings *s)
{
    char manifest[PATH_MAX], art[PATH_MAX];
    struct chain_deploy_opts o;
    struct ag_err e = {0};
    uint8_t key[32];
    bool have_key = false;
    json_t *m = NULL;
    int rc;

    manifest_path(s, manifest);
    if (!s->force && access(manifest, F_OK) == 0) {
        fprintf(stderr, "agora chain deploy: %s exists (already deployed); --force deploys again\n",
                manifest);
        return EXIT_ERR;
    }
    chain_deploy_opts_init(&o);
    if (!strcmp(s->faucet, "on"))
        o.faucet = CHAIN_FAUCET_ON;
    else if (!strcmp(s->faucet, "off"))
        o.faucet = CHAIN_FAUCET_OFF;
    else if (strcmp(s->faucet, "auto")) {
        fprintf(stderr, "agora chain deploy: --faucet must be auto, on or off\n");
        return EXIT_USAGE;
    }
    if ((rc = deployer_key(s, key, &have_key)))
        goto out;
    rc = EXIT_ERR;
    if (mkdir_p(s->data_dir, 0700)) {
        fprintf(stderr, "agora chain deploy: cannot create %s: %s\n", s->data_dir, strerror(errno));
        goto out;
    }
    if (find_artifacts(s, art))
        goto out;
    o.rpc = s->rpc;
    o.key = have_key ? key : NULL;
    o.artifacts = art;
    o.out = manifest;
    o.fee_bps = (unsigned)s->fee_bps;
    o.royalty_bps = (unsigned)s->royalty_bps;
    o.dispute_window = (uint64_t)s->dispute_window;
    o.initial_supply = s->initial_supply;
    o.treasury = s->treasury;
    o.pricing_signer = s->pricing_signer;
    o.arbitrator = s->arbitrator;
    o.governance = s->governance;
    o.timeout_ms = s->timeout * 1000;
    o.progress = s->json ? NULL : stderr;
    if (chain_deploy(&o, &m, &e)) {
        fprintf(stderr, "agora chain deploy: %s\n", e.msg);
        goto out;
    }
    if (s->json) {
        char *txt = json_dumps(m, JSON_INDENT(2));
        if (txt)
            printf("%s\n", txt);
        free(txt);
    } else {
        printf("deployed to chain %" PRId64 "; manifest written to %s\n",
               (int64_t)json_integer_value(json_object_get(m, "chainId")), manifest);
    }
    rc = EXIT_OK;
out:
    sodium_memzero(key, sizeof(key));
    json_decref(m);
    return rc;
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
