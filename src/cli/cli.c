/* cli.c - the command table, `agora help` and dispatch. */
#include "core/common.h"
#include "cli/cli.h"
#include "cli/chainctx.h" /* issue 4: faucet, publish, buy, licenses, ... */
#include "cli/cmd_infer.h" /* issue 5: agora infer */

static const struct cli_cmd commands[] = {
    {"serve", cmd_serve, "run the marketplace node",
     "usage: agora serve [options]\n"
     "Runs the node: JSON API under /api/v1, web UI, /healthz and /metrics.\n"
     "Run `agora serve --help` for every option and its AGORA_* variable."},
    {"demo", cmd_demo, "seed a demo marketplace",
     "usage: agora demo seed [--data-dir DIR] [--pwhash interactive|min]\n"
     "Creates demo users and listings in the node's data directory, once:\n"
     "a data directory that already has users is left alone."},
    {"routes", cmd_routes, "list the node's API routes",
     "usage: agora routes [--json]\nPrints every route of the JSON API (method and path)."},
    {"register", cmd_register, "create an account",
     "usage: agora register USERNAME --email EMAIL [--password-stdin] [--json]\n"
     "Creates an account on the node; asks for the password unless --password-stdin."},
    {"login", cmd_login, "log in and store an API token",
     "usage: agora login USERNAME [--password-stdin]\n"
     "Logs in and keeps an API token in $AGORA_CONFIG_DIR/credentials, else\n"
     "~/.config/agora/credentials (mode 0600)."},
    {"logout", cmd_logout, "revoke and forget the stored token", "usage: agora logout"},
    {"whoami", cmd_whoami, "show the logged-in account", "usage: agora whoami [--json]"},
    {"token", cmd_token, "manage API tokens",
     "usage: agora token create NAME [--json]\n"
     "       agora token list [--json]\n"
     "       agora token revoke ID"},
    {"model", cmd_model, "create, edit, show, list and delete listings",
     "usage: agora model create SLUG --title T [--summary S] [--card FILE|-] [--task T]\n"
     "                          [--library L] [--license L] [--tag T]... [--price P]\n"
     "                          [--visibility public|unlisted|private|draft] [--json]\n"
     "       agora model edit OWNER/SLUG [same options as create]\n"
     "       agora model show OWNER/SLUG [--json]\n"
     "       agora model list [OWNER] [--json]\n"
     "       agora model delete OWNER/SLUG"},
    {"version", cmd_version, "create, show and list versions of a listing",
     "usage: agora version create OWNER/SLUG VERSION [--changelog TEXT] [--file NAME:SIZE]...\n"
     "                            [--publish] [--json]\n"
     "       agora version publish OWNER/SLUG VERSION [--json]\n"
     "       agora version show OWNER/SLUG[@VERSION] [--json]\n"
     "       agora version list OWNER/SLUG [--json]"},
    {"search", cmd_search, "search the marketplace",
     "usage: agora search [QUERY] [--task T] [--license L] [--library L] [--tag T]...\n"
     "                    [--owner U] [--free] [--price-min P] [--price-max P]\n"
     "                    [--min-rating R] [--sort S] [--limit N]\n"
     "                    [--cursor C] [--json]\n"
     "Sorts: relevance, newest, updated, downloads, likes, rating, price_asc, price_desc."},
    {"like", cmd_like, "like or unlike a listing", "usage: agora like OWNER/SLUG [--undo] [--json]"},
    {"review", cmd_review, "review a listing or read its reviews",
     "usage: agora review OWNER/SLUG --rating 1-5 [--text TEXT] [--json]\n"
     "       agora review list OWNER/SLUG [--json]"},
    {"ipfs", cmd_ipfs, "content-addressed storage: add, cat, get, verify, CAR", cmd_ipfs_usage},
    {"push", cmd_push, "upload model files into a version (resumable, with progress)",
     cmd_push_usage},
    {"pull", cmd_pull, "download a version's files, verified against sha256 and CID",
     cmd_pull_usage},
    {"gc", cmd_gc, "remove blocks no stored file needs (node side)", cmd_gc_usage},
    {"chain", cmd_chain, "deploy the contracts; show the chain and indexer status", cmd_chain_usage},
    {"onnx", cmd_onnx, "run, inspect and test ONNX models", cmd_onnx_usage},
    {"infer", cmd_infer, "run a version's ONNX model on the node (JSON or .npy in, .npy out)",
     cmd_infer_usage},
    {"wallet", cmd_wallet, "manage keystore accounts, balances and signed messages",
    "usage: agora wallet new [--keystore-dir DIR] [--passphrase-file FILE] [--scrypt-n N]\n"
    "       agora wallet import [--key-file FILE] [--keystore-dir DIR] [--passphrase-file FILE]\n"
    "                           [--scrypt-n N]\n"
    "       agora wallet list [--keystore-dir DIR]\n"
    "       agora wallet address [--keystore-dir DIR]\n"
    "       agora wallet balance [ADDRESS] [--rpc URL] [--keystore-dir DIR]\n"
    "       agora wallet sign-message [--from ADDRESS] [--keystore-dir DIR]\n"
    "                                 [--passphrase-file FILE] MESSAGE\n"
    "       agora wallet verify-message --address ADDRESS --signature SIG MESSAGE\n"
    "Keystores are Web3 Secret Storage v3 files (scrypt, mode 0600) in DIR:\n"
    "--keystore-dir, $AGORA_KEYSTORE_DIR or ~/.config/agora/keystore. The passphrase\n"
    "comes from --passphrase-file, $AGORA_PASSPHRASE or a prompt. import reads a hex\n"
    "private key from --key-file or stdin. The node is --rpc, $AGORA_ETH_RPC or\n"
    "http://127.0.0.1:8545. sign-message prints an EIP-191 personal_sign signature."},
    {"faucet", cmd_faucet, "development chains: faucet tokens and gas for a wallet",
     cmd_faucet_usage},
    {"publish", cmd_publish, "register a published version on the chain (mints on first publish)",
     cmd_publish_usage},
    {"buy", cmd_buy, "buy a licence on the chain and wait for the download to unlock",
     cmd_buy_usage},
    {"licenses", cmd_licenses, "list a wallet's licences on the chain", cmd_licenses_usage},
    {"provenance", cmd_provenance, "lineage from the chain; check local files against it",
     cmd_provenance_usage},
    {"dispute", cmd_dispute, "open, show and rule purchase disputes", cmd_dispute_usage},
    {"withdraw", cmd_withdraw, "release finished sales and withdraw the proceeds",
     cmd_withdraw_usage},
    {"profile", cmd_profile, "show or edit a profile",
     "usage: agora profile [USERNAME] [--json]\n"
     "       agora profile edit [--display-name N] [--bio B] [--link URL]... [--json]"},
};

const struct cli_cmd *cli_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int cli_usage(const struct cli_cmd *c, FILE *out)
{
    fprintf(out, "%s\n", c->usage);
    return EXIT_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

static void overview(FILE *out)
{
    fprintf(out, "usage: agora COMMAND [ARGS]\n\n"
                 "Agora: a decentralized marketplace for AI models.\n\nCommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nClient commands talk to --node URL (AGORA_NODE, default "
                 "http://127.0.0.1:8080).\n"
                 "Run `agora help COMMAND` for a command's usage.\n"
                 "Exit codes: 0 ok, 1 error, 2 usage error.\n");
}

int cli_main(int argc, char **argv)
{
    const struct cli_cmd *c;

    if (argc < 2) {
        overview(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc < 3) {
            overview(stdout);
            return EXIT_OK;
        }
        c = cli_find(argv[2]);
        if (!c) {
            fprintf(stderr, "agora: no command \"%s\"\n", argv[2]);
            return EXIT_USAGE;
        }
        fprintf(stdout, "%s\n", c->usage);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("agora 0.1.0\n");
        return EXIT_OK;
    }
    c = cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "agora: no command \"%s\" (see `agora help`)\n", argv[1]);
        return EXIT_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}
