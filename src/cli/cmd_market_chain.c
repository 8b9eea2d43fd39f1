/* cmd_market_chain.c - the marketplace on the chain from the command line: agora faucet, publish,
 * buy, licenses, provenance, dispute, withdraw (all signed in C with src/eth). */
#include "core/common.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/chainctx.h"
#include "cli/cli.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/msg.h"
#include "eth/secp.h"
#include "eth/u256.h"

#define COMMON_USAGE                                                                               \
    "Chain options: --rpc URL (else $AGORA_CHAIN_RPC, $AGORA_ETH_RPC, http://127.0.0.1:8545),\n"   \
    "--chain-manifest FILE (else the contracts the node at --node follows), --keystore-dir DIR,\n" \
    "--from ADDRESS, --passphrase-file FILE (else $AGORA_PASSPHRASE or a prompt), --json."

const char cmd_faucet_usage[] =
    "usage: agora faucet [--to ADDRESS] [--no-gas] [chain options]\n"
    "On a development chain (chain id 31337 or 1337): gives the wallet (or --to) 1,000 AGR\n"
    "from the token's faucet (once a day per address) and, when it holds less than 0.1 ETH,\n"
    "10 ETH for gas (anvil_setBalance, evm_setAccountBalance, or a transfer from an unlocked\n"
    "dev account). Refused on any other chain.\n" COMMON_USAGE;

const char cmd_publish_usage[] =
    "usage: agora publish OWNER/SLUG[@VERSION] [--price P] [--parent OWNER/SLUG|ID]...\n"
    "                     [--dataset FILE]... [--dataset-hash HEX]... [--metadata-uri URI]\n"
    "                     [chain options]\n"
    "Registers a published version on the chain: mints the model token on first publish\n"
    "(ModelRegistry.registerModel), then publishVersion with the CID and sha256 of the\n"
    "version's files as the node lists them, the parent models, dataset hashes and the hash\n"
    "of the file list. --price (smallest units, or tokens with an AGR suffix: 5AGR) sets the\n"
    "list price. VERSION defaults to the latest published one. When logged in, the wallet\n"
    "is first linked to your account by Sign-In with Ethereum: the node honours a token's\n"
    "price, owner and licences only when the seller's linked wallet registered it.\n" COMMON_USAGE;

const char cmd_buy_usage[] =
    "usage: agora buy OWNER/SLUG [--quote | --quote-file FILE | --list-price] [--max-price P]\n"
    "                 [--no-wait] [--no-link] [--timeout SECONDS] [chain options]\n"
    "Buys a licence with an EIP-2612 permit in one transaction: at a price quoted and signed\n"
    "by the node's pricing key (buyWithQuotePermit) when the node offers one, else at the\n"
    "on-chain list price (buyWithPermit). --quote insists on a quote, --quote-file redeems a\n"
    "saved one (the JSON POST .../quote answers), --list-price never asks. Then waits for the\n"
    "receipt and until the node unlocks the download for you (log in first with `agora\n"
    "login`; the wallet is linked to your account by Sign-In with Ethereum unless --no-link).\n"
    "--max-price defaults to the price quoted or read just before buying.\n" COMMON_USAGE;

const char cmd_licenses_usage[] =
    "usage: agora licenses [--address ADDRESS] [chain options]\n"
    "Lists the wallet's licence purchases from the chain (status, escrow, refunds), and\n"
    "whether the node's index shows each (when logged in).\n" COMMON_USAGE;

const char cmd_provenance_usage[] =
    "usage: agora provenance OWNER/SLUG [--version V] [--check PATH] [--depth N]\n"
    "                        [chain options]\n"
    "Shows the model's on-chain owner, versions and lineage (parents, recursively, up to\n"
    "--depth levels, default 8). --check PATH compares a file, or the version's files in a\n"
    "directory, with the hashes recorded on chain (exit 1 on any difference).\n" COMMON_USAGE;

const char cmd_dispute_usage[] =
    "usage: agora dispute open OWNER/SLUG --reason TEXT [chain options]\n"
    "       agora dispute open --purchase ID --reason TEXT [chain options]\n"
    "       agora dispute show ID [chain options]\n"
    "       agora dispute rule ID refund|release [chain options]\n"
    "open: the buyer disputes a purchase within its window (the escrow is frozen).\n"
    "rule: the arbitrator (or an arbiter of the ArbitrationPanel holding the role) refunds\n"
    "the buyer (the licence is revoked) or releases the payment to the seller.\n" COMMON_USAGE;

const char cmd_withdraw_usage[] =
    "usage: agora withdraw [--no-release] [chain options]\n"
    "Releases the wallet's sales whose dispute window has passed and withdraws everything\n"
    "credited to it (proceeds, fees, royalties) in one transaction "
    "(Marketplace.claim).\n" COMMON_USAGE;

static const char *const status_names[] = {"none", "escrowed", "disputed", "released", "refunded"};

#define EV_LICENSE                                                                                 \
    "event LicensePurchased(uint256 indexed modelId, address indexed buyer, uint256 price, "       \
    "uint256 fee, uint256 royalty, uint256 purchaseId, address seller, uint256 versionIndex, "     \
    "uint64 releaseAt)"
#define SIG_PURCHASE                                                                               \
    "getPurchase(uint256) returns ((uint256,address,address,uint256,uint256,uint256,uint64,"       \
    "uint64,uint32,uint8,uint256,uint256[],address[]))"
#define SIG_VERSIONS                                                                               \
    "getVersions(uint256) returns ((string,string,bytes32,bytes32,uint256[],bytes32[],uint64,"     \
    "uint64)[])"
#define SIG_MODEL "getModel(uint256) returns (address,bytes32,string,uint64,uint256)"

/* tstr() returns member i of a decoded tuple as a string ("" when absent). */
static const char *tstr(json_t *tuple, size_t i)
{
    return json_string_value(json_array_get(tuple, i)) ?: "";
}

static void print_result(const struct chainctx *cc, json_t *out)
{
    if (cc->opts[CO_JSON].set)
        client_print_json(out);
}

static void fmt_time(char *out, size_t size, const char *epoch)
{
    struct buf b;
    int64_t t = 0;
    json_t *j;
    buf_init(&b, 64);
    parse_i64(epoch, &t);
    j = json_integer(t);
    client_fmt_time(&b, j);
    json_decref(j);
    str_copy(out, b.p, size);
    buf_release(&b);
}

/* split_ref() splits OWNER/SLUG[@VERSION]. */
static int split_ref(const char *cmd, const char *ref, char owner[64], char slug[128],
                     char version[80])
{
    char tmp[300];
    char *at;
    str_copy(tmp, ref, sizeof(tmp));
    at = strchr(tmp, '@');
    if (version)
        str_copy(version, at ? at + 1 : "latest", 80);
    else if (at)
        return cli_bad_usage(cmd, "no @VERSION here: %s", ref);
    if (at)
        *at = '\0';
    if (version && at && !at[1])
        return cli_bad_usage(cmd, "empty version in %s", ref);
    return cli_model_ref(cmd, tmp, owner, slug, 64) ? EXIT_USAGE
           : strlen(slug) >= 128                    ? EXIT_USAGE
                                                    : 0;
}

/* file_sha256() hashes a file into 64 hex characters. Returns 0 or -1 (errno). */
static int file_sha256(const char *path, char hex[65])
{
    unsigned char md[32], chunk[65536];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = -1;
    if (!f || !ctx)
        goto out;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        EVP_DigestUpdate(ctx, chunk, n);
    if (ferror(f))
        goto out;
    EVP_DigestFinal_ex(ctx, md, NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* node_version() fetches OWNER/SLUG's VERSION ("latest" allowed) from the node. */
static int node_version(struct chainctx *cc, const char *owner, const char *slug,
                        const char *version, json_t **out)
{
    struct buf path;
    int rc;
    buf_init(&path, 2048);
    rc = client_model_path(&cc->node, &path, owner, slug);
    if (!rc)
        rc = buf_adds(&path, "/versions") ? EXIT_ERR : 0;
    if (!rc)
        rc = client_seg(&cc->node, &path, version);
    if (!rc)
        rc = client_call(&cc->node, "GET", path.p, NULL, out);
    buf_release(&path);
    return rc;
}

/* model_name() reads a model's "owner/slug" from its metadata URI when its
 * keccak256 is the registered slug hash (so the name is proven), else "#ID". */
static void model_name(struct chainctx *cc, const char *id, char *out, size_t size)
{
    json_t *m = NULL;
    const char *uri, *p;
    char h[67], owner[64], slug[128];
    snprintf(out, size, "#%s", id);
    if (chainctx_call(cc, cc->addr[CC_REGISTRY], SIG_MODEL, json_pack("[s]", id), &m, true))
        return;
    uri = tstr(m, 2);
    p = strstr(uri, "/api/v1/models/");
    if (p && sscanf(p + 15, "%63[^/]/%127[^/?#]", owner, slug) == 2) {
        chain_slug_hash(owner, slug, h);
        if (!strcasecmp(h, tstr(m, 1)))
            snprintf(out, size, "%s/%s", owner, slug);
    }
    json_decref(m);
}

/* ---- agora faucet --------------------------------------------------------------------- */

static bool dev_chain(uint64_t id)
{
    return id == 31337 || id == 1337;
}

/* fund_gas() gives `to` 10 ETH on a development chain when it has under 0.1. */
static int fund_gas(struct chainctx *cc, const uint8_t to[20], bool *funded)
{
    static const char *const setters[] = {"anvil_setBalance", "hardhat_setBalance",
                                          "evm_setAccountBalance"};
    uint8_t bal[32], low[32], want[32];
    char addr[43], q[67];
    struct ag_err e = {0};
    json_t *accts = NULL, *r = NULL, *a;
    size_t i;
    int rc;

    *funded = false;
    u256_parse("100000000000000000", low);    /* 0.1 ETH */
    u256_parse("10000000000000000000", want); /* 10 ETH */
    chainctx_addr_hex(to, addr);
    if (rpc_get_balance(&cc->rpc, to, bal, &e))
        return chainctx_rpc_fail(cc, &e);
    if (u256_cmp(bal, low) >= 0)
        return 0;
    u256_to_quantity(want, q);
    for (i = 0; i < ARRAY_SIZE(setters); i++) {
        json_t *params = json_pack("[s,s]", addr, q);
        int src = rpc_call(&cc->rpc, setters[i], params, &r, &e);
        json_decref(params);
        if (src == 0) {
            json_decref(r);
            *funded = true;
            return 0;
        }
        if (e.code == AG_EUNAVAILABLE || e.code == AG_ETIMEOUT)
            return chainctx_rpc_fail(cc, &e);
    }
    /* a dev account the node unlocks pays it */
    if ((rc = rpc_call(&cc->rpc, "eth_accounts", NULL, &accts, &e)))
        return chainctx_rpc_fail(cc, &e);
    json_array_foreach(accts, i, a)
    {
        uint8_t from[20], fb[32];
        json_t *tx, *hash = NULL, *rcpt = NULL;
        uint8_t h[32];
        if (!json_is_string(a) || addr_parse(json_string_value(a), from, false, NULL) ||
            rpc_get_balance(&cc->rpc, from, fb, NULL) || u256_bits(fb) <= u256_bits(want))
            continue;
        tx = json_pack("[{s:O, s:s, s:s}]", "from", a, "to", addr, "value", q);
        rc = rpc_call(&cc->rpc, "eth_sendTransaction", tx, &hash, &e);
        json_decref(tx);
        if (!rc && json_is_string(hash) && !ethhex_decode_fixed(json_string_value(hash), h, 32) &&
            !rpc_wait_receipt(&cc->rpc, h, 60000, 100, &rcpt, &e)) {
            json_decref(rcpt);
            json_decref(hash);
            *funded = true;
            break;
        }
        json_decref(hash);
    }
    json_decref(accts);
    if (!*funded)
        return cli_fail(cc->cmd,
                        "cannot fund %s with gas: the chain node has no balance setter and no "
                        "unlocked account with ETH; send it ETH yourself",
                        addr);
    return 0;
}

int cmd_faucet(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS, CLI_OPT("to", CLI_VALUE), CLI_OPT("no-gas", CLI_FLAG)};
    enum { O_TO = CHAINCTX_NOPTS, O_NOGAS };
    struct cli_args a;
    struct chainctx cc;
    struct ag_err e = {0};
    uint8_t to[20];
    char toh[43], tos[ETH_ADDR_STR], avail[80], bal[80], tok[96], when[40];
    json_t *r = NULL, *out = NULL;
    uint64_t now = 0, at = 0;
    bool funded = false, funded_to = false;
    int rc = cli_parse("faucet", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    if (rc)
        return rc;
    if (a.help)
        return cli_help("faucet");
    if (a.npos)
        return cli_bad_usage("faucet", "no arguments expected");
    if ((rc = chainctx_open(&cc, "faucet", opts, a.node)))
        goto out;
    if (!dev_chain(cc.chain_id)) {
        rc = cli_fail("faucet",
                      "chain %" PRIu64 " is not a development chain: the faucet exists only on "
                      "31337 (anvil, Hardhat) and 1337 (Ganache, geth --dev)",
                      cc.chain_id);
        goto out;
    }
    if ((rc = chainctx_unlock(&cc)))
        goto out;
    memcpy(to, cc.me, 20);
    if (opts[O_TO].set && addr_parse(opts[O_TO].value, to, false, &e)) {
        rc = cli_bad_usage("faucet", "--to: %s", e.msg);
        goto out;
    }
    chainctx_addr_hex(to, toh);
    addr_format(to, tos);
    if (!opts[O_NOGAS].set) {
        if ((rc = fund_gas(&cc, cc.me, &funded)))
            goto out;
        if (memcmp(to, cc.me, 20) && (rc = fund_gas(&cc, to, &funded_to)))
            goto out;
        if (funded || funded_to)
            fprintf(stderr, "funded %s with 10 ETH for gas\n", funded_to ? tos : "the wallet");
    }
    if ((rc = chainctx_call_str(&cc, cc.addr[CC_TOKEN],
                                "faucetAvailableAt(address) returns (uint256)",
                                json_pack("[s]", toh), avail, sizeof(avail))) ||
        (rc = chainctx_head_time(&cc, &now)))
        goto out;
    parse_u64(avail, &at);
    if (at > now) {
        fmt_time(when, sizeof(when), avail);
        rc = cli_fail("faucet", "%s already had its faucet drip; the next one is at %s UTC", tos,
                      when);
        goto out;
    }
    if ((rc = chainctx_send(&cc, cc.addr[CC_TOKEN], "faucet(address)", json_pack("[s]", toh),
                            "faucet", &r)) ||
        (rc = chainctx_call_str(&cc, cc.addr[CC_TOKEN], "balanceOf(address) returns (uint256)",
                                json_pack("[s]", toh), bal, sizeof(bal))))
        goto out;
    chainctx_tokens(bal, tok, sizeof(tok));
    out = json_pack("{s:s, s:s, s:b, s:O}", "address", tos, "balance", bal, "gas_funded",
                    funded || funded_to, "tx", json_object_get(r, "transactionHash"));
    if (opts[CO_JSON].set)
        print_result(&cc, out);
    else
        printf("%s now holds %s AGR\n", tos, tok);
out:
    json_decref(r);
    json_decref(out);
    chainctx_close(&cc);
    return rc;
}

/* ---- agora publish -------------------------------------------------------------------- */

/* parent_ids() resolves --parent values (OWNER/SLUG or a token id). */
static int parent_ids(struct chainctx *cc, const struct cli_opt *o, json_t *out)
{
    for (size_t i = 0; i < o->nlist; i++) {
        const char *v = o->list[i];
        char id[80], owner[64], slug[128];
        uint64_t n;
        if (v[0] == '#')
            v++;
        if (!parse_u64(v, &n) && n > 0) {
            snprintf(id, sizeof(id), "%" PRIu64, n);
        } else {
            if (split_ref(cc->cmd, v, owner, slug, NULL))
                return EXIT_USAGE;
            if (chainctx_model_id(cc, owner, slug, id))
                return EXIT_ERR;
            if (!strcmp(id, "0"))
                return cli_fail(cc->cmd, "parent %s is not registered on chain (publish it first)",
                                v);
        }
        json_array_append_new(out, json_string(id));
    }
    return 0;
}

static int dataset_hashes(struct chainctx *cc, const struct cli_opt *files,
                          const struct cli_opt *hashes, json_t *out)
{
    char hex[65], h[67];
    uint8_t raw[32];
    for (size_t i = 0; i < files->nlist; i++) {
        if (file_sha256(files->list[i], hex))
            return cli_fail(cc->cmd, "cannot read dataset %s: %s", files->list[i], strerror(errno));
        snprintf(h, sizeof(h), "0x%s", hex);
        json_array_append_new(out, json_string(h));
    }
    for (size_t i = 0; i < hashes->nlist; i++) {
        snprintf(h, sizeof(h), "%s%s", str_starts(hashes->list[i], "0x") ? "" : "0x",
                 hashes->list[i]);
        if (ethhex_decode_fixed(h, raw, 32))
            return cli_bad_usage(cc->cmd, "--dataset-hash must be 32 bytes of hex: %s",
                                 hashes->list[i]);
        json_array_append_new(out, json_string(h));
    }
    return 0;
}

/* register_model() mints the model token for OWNER/SLUG; writes its id. */
static int register_model(struct chainctx *cc, const char *owner, const char *slug,
                          const char *uri_opt, char id[80])
{
    char h[67], uri[600];
    json_t *r = NULL, *ev = NULL;
    int rc;
    chain_slug_hash(owner, slug, h);
    if (uri_opt)
        str_copy(uri, uri_opt, sizeof(uri));
    else
        snprintf(uri, sizeof(uri), "%s/api/v1/models/%s/%s", cc->node.node, owner, slug);
    rc = chainctx_send(cc, cc->addr[CC_REGISTRY], "registerModel(bytes32,string)",
                       json_pack("[s,s]", h, uri), "register", &r);
    if (!rc && chainctx_event(r, cc->addr[CC_REGISTRY],
                              "event ModelRegistered(uint256 indexed modelId, address indexed "
                              "owner, bytes32 indexed slugHash, string metadataURI)",
                              &ev))
        rc = cli_fail(cc->cmd, "registerModel succeeded without a ModelRegistered event");
    if (!rc)
        str_copy(id, tstr(ev, 0), 80);
    json_decref(ev);
    json_decref(r);
    return rc;
}

/* existing_version() compares a version already on chain with ours. *exists
 * is set when the label is taken; a different content is an error. */
static int existing_version(struct chainctx *cc, const char *id, const char *label,
                            const struct chain_content *c, bool *exists, char idx[80])
{
    json_t *r = NULL, *v = NULL;
    int rc =
        chainctx_call(cc, cc->addr[CC_REGISTRY], "versionIndexOf(uint256,string) returns (uint256)",
                      json_pack("[s,s]", id, label), &r, true);
    *exists = false;
    if (rc == AG_EUNPROCESSABLE)
        return 0; /* VersionNotFound */
    if (rc)
        return rc;
    *exists = true;
    str_copy(idx, tstr(r, 0), 80);
    json_decref(r);
    rc = chainctx_call(cc, cc->addr[CC_REGISTRY],
                       "getVersion(uint256,uint256) returns ((string,string,bytes32,bytes32,"
                       "uint256[],bytes32[],uint64,uint64))",
                       json_pack("[s,s]", id, idx), &r, false);
    if (rc)
        return rc;
    v = json_array_get(r, 0);
    if (strcmp(tstr(v, 1), c->cid) || strcasecmp(tstr(v, 2), c->sha256))
        rc = cli_fail(cc->cmd,
                      "version %s is already on chain (index %s) with other content: CID %s, "
                      "sha256 %s; a published version never changes: publish a new version",
                      label, idx, tstr(v, 1), tstr(v, 2));
    json_decref(r);
    return rc;
}

static int link_wallet(struct chainctx *cc, bool *linked);

int cmd_publish(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS,
                             CLI_OPT("price", CLI_VALUE),
                             CLI_OPT("parent", CLI_LIST),
                             CLI_OPT("dataset", CLI_LIST),
                             CLI_OPT("dataset-hash", CLI_LIST),
                             CLI_OPT("metadata-uri", CLI_VALUE)};
    enum { O_PRICE = CHAINCTX_NOPTS, O_PARENT, O_DATASET, O_DHASH, O_URI };
    struct cli_args a;
    struct chainctx cc;
    struct chain_content c = {0};
    char owner[64], slug[128], version[80], id[80] = "0", price[80] = "", cur[80], idx[80] = "";
    char me[ETH_ADDR_STR], holder[80], tok[96];
    json_t *ver = NULL, *parents = json_array(), *datasets = json_array(), *r = NULL, *ev = NULL;
    json_t *out = NULL;
    const char *label;
    bool minted = false, exists = false, linked = false;
    int rc = cli_parse("publish", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    memset(&cc, 0, sizeof(cc));
    if (rc)
        goto out0;
    if (a.help) {
        rc = cli_help("publish");
        goto out0;
    }
    if (a.npos != 1) {
        rc = cli_bad_usage("publish", "expected OWNER/SLUG[@VERSION]");
        goto out0;
    }
    if ((rc = split_ref("publish", a.pos[0], owner, slug, version)))
        goto out0;
    if (opts[O_PRICE].set && (chainctx_amount(opts[O_PRICE].value, price) || !strcmp(price, "0"))) {
        rc = cli_bad_usage("publish", "--price must be a positive amount (smallest units, or "
                                      "tokens like 5AGR)");
        goto out0;
    }
    if ((rc = chainctx_open(&cc, "publish", opts, a.node)))
        goto out;
    if ((rc = node_version(&cc, owner, slug, version, &ver)))
        goto out;
    label = json_string_value(json_object_get(ver, "version")) ?: version;
    if (strcmp(json_string_value(json_object_get(ver, "state")) ?: "", "published")) {
        rc = cli_fail("publish",
                      "%s/%s@%s is a draft on the node: publish it there first (agora version "
                      "publish %s/%s %s); only published versions are immutable",
                      owner, slug, label, owner, slug, label);
        goto out;
    }
    if ((rc = chainctx_content("publish", ver, &c)) ||
        (rc = parent_ids(&cc, &opts[O_PARENT], parents)) ||
        (rc = dataset_hashes(&cc, &opts[O_DATASET], &opts[O_DHASH], datasets)) ||
        (rc = chainctx_unlock(&cc)) || (rc = chainctx_model_id(&cc, owner, slug, id)))
        goto out;
    /* The node trusts the token (its price, its owner, the licences sold on
     * it) only when the wallet that registers it is linked to the seller's
     * account: link it first when logged in. */
    if (cc.node.token && (rc = link_wallet(&cc, &linked)))
        goto out;
    addr_format(cc.me, me);
    if (!strcmp(id, "0")) {
        if ((rc = register_model(&cc, owner, slug, opts[O_URI].value, id)))
            goto out;
        minted = true;
        fprintf(stderr, "registered %s/%s as model token #%s\n", owner, slug, id);
    } else {
        if ((rc = chainctx_call_str(&cc, cc.addr[CC_REGISTRY], "ownerOf(uint256) returns (address)",
                                    json_pack("[s]", id), holder, sizeof(holder))))
            goto out;
        if (strcasecmp(holder, me)) {
            rc = cli_fail("publish",
                          "%s/%s is model token #%s, owned by %s, not by this wallet (%s)", owner,
                          slug, id, holder, me);
            goto out;
        }
    }
    if ((rc = existing_version(&cc, id, label, &c, &exists, idx)))
        goto out;
    if (exists) {
        fprintf(stderr, "version %s is already on chain (index %s) with the same content\n", label,
                idx);
    } else {
        rc = chainctx_send(&cc, cc.addr[CC_REGISTRY],
                           "publishVersion(uint256,string,string,bytes32,uint256[],bytes32[],"
                           "bytes32)",
                           json_pack("[s,s,s,s,O,O,s]", id, label, c.cid, c.sha256, parents,
                                     datasets, c.meta_hash),
                           "publishVersion", &r);
        if (rc)
            goto out;
        if (!chainctx_event(r, cc.addr[CC_REGISTRY],
                            "event VersionPublished(uint256 indexed modelId, uint256 indexed "
                            "versionIndex, address indexed publisher, string version, string "
                            "contentCID, bytes32 sha256Hash, uint256[] parentModelIds, bytes32[] "
                            "datasetHashes, bytes32 metadataHash)",
                            &ev))
            str_copy(idx, tstr(ev, 1), sizeof(idx));
    }
    if (price[0]) {
        if ((rc = chainctx_call_str(&cc, cc.addr[CC_MARKET], "priceOf(uint256) returns (uint256)",
                                    json_pack("[s]", id), cur, sizeof(cur))))
            goto out;
        if (strcmp(cur, price) &&
            (rc = chainctx_send(&cc, cc.addr[CC_MARKET], "setPrice(uint256,uint256)",
                                json_pack("[s,s]", id, price), "setPrice", NULL)))
            goto out;
    }
    out = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "model", a.pos[0],
                    "token_id", id, "minted", minted, "version", label, "version_index", idx,
                    "content_cid", c.cid, "sha256", c.sha256, "metadata_hash", c.meta_hash,
                    "parents", parents, "dataset_hashes", datasets, "files", c.files);
    json_object_set_new(out, "price", price[0] ? json_string(price) : json_null());
    if (opts[CO_JSON].set) {
        print_result(&cc, out);
    } else {
        printf("Model:         %s/%s (token #%s%s)\n", owner, slug, id, minted ? ", new" : "");
        printf("Version:       %s (index %s)\n", label, idx);
        printf("Content CID:   %s\n", c.cid);
        printf("SHA-256:       %s\n", c.sha256);
        printf("Metadata hash: %s (%zu file%s)\n", c.meta_hash, c.nfiles, c.nfiles == 1 ? "" : "s");
        if (json_array_size(parents))
            printf("Parents:       %zu\n", json_array_size(parents));
        if (price[0]) {
            chainctx_tokens(price, tok, sizeof(tok));
            printf("Price:         %s AGR\n", tok);
        }
    }
out:
    chainctx_close(&cc);
out0:
    json_decref(c.files);
    json_decref(ver);
    json_decref(parents);
    json_decref(datasets);
    json_decref(r);
    json_decref(ev);
    json_decref(out);
    return rc;
}

/* ---- agora buy ------------------------------------------------------------------------ */

/* node_authority() writes the host[:port] of the node URL (the Host header). */
static void node_authority(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    snprintf(out, size, "%.*s", (int)strcspn(p, "/?#"), p);
}

/* link_wallet() links the wallet to the logged-in account by SIWE unless it
 * already is. *linked tells whether the node knows the wallet afterwards. */
static int link_wallet(struct chainctx *cc, bool *linked)
{
    json_t *w = NULL, *item, *nonce = NULL, *body = NULL, *res = NULL;
    struct siwe_msg m = {0};
    struct buf text;
    struct eth_sig sig;
    struct ag_err e = {0};
    char me[43], domain[256], issued[40], sighex[133];
    size_t i;
    int rc;

    *linked = false;
    buf_init(&text, SIWE_MAX_LEN);
    chainctx_addr_hex(cc->me, me);
    if ((rc = client_call(&cc->node, "GET", "/api/v1/auth/wallets", NULL, &w)))
        goto out;
    json_array_foreach(json_object_get(w, "wallets"), i, item)
    {
        if (!strcasecmp(json_string_value(json_object_get(item, "address")) ?: "", me))
            *linked = true;
    }
    if (*linked)
        goto out;
    if ((rc = client_call(&cc->node, "GET", "/api/v1/auth/siwe/nonce", NULL, &nonce)))
        goto out;
    node_authority(cc->node.node, domain, sizeof(domain));
    time_iso8601(issued, sizeof(issued), time_now());
    m.domain = domain;
    addr_format(cc->me, m.address);
    m.statement = "Link this wallet to my Agora account.";
    m.uri = cc->node.node;
    str_copy(m.version, "1", sizeof(m.version));
    m.chain_id = cc->chain_id;
    m.nonce = (char *)json_string_value(json_object_get(nonce, "nonce"));
    m.issued_at = issued;
    if (!m.nonce || siwe_format(&m, &text, &e) || eip191_sign(cc->w.key, text.p, text.n, &sig)) {
        rc = cli_fail(cc->cmd, "cannot build the Sign-In with Ethereum message: %s", e.msg);
        goto out;
    }
    sig_format_hex(&sig, sighex);
    body = json_pack("{s:s, s:s}", "message", text.p, "signature", sighex);
    if ((rc = client_call(&cc->node, "POST", "/api/v1/auth/siwe/link", body, &res)))
        goto out;
    *linked = true;
    fprintf(stderr, "linked %s to %s on %s\n", m.address,
            cc->node.username ? cc->node.username : "your account", cc->node.node);
out:
    json_decref(w);
    json_decref(nonce);
    json_decref(body);
    json_decref(res);
    buf_release(&text);
    return rc;
}

/* permit_sig() signs an EIP-2612 permit of `value` for the marketplace. */
static int permit_sig(struct chainctx *cc, const char *value, uint64_t deadline,
                      struct eth_sig *sig)
{
    char me[43], token[43], market[43], nonce[80];
    struct ag_err e = {0};
    uint8_t digest[32];
    json_t *doc;
    int rc;

    chainctx_addr_hex(cc->me, me);
    chainctx_addr_hex(cc->addr[CC_TOKEN], token);
    chainctx_addr_hex(cc->addr[CC_MARKET], market);
    if ((rc = chainctx_call_str(cc, cc->addr[CC_TOKEN], "nonces(address) returns (uint256)",
                                json_pack("[s]", me), nonce, sizeof(nonce))))
        return rc;
    doc = json_pack("{s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]}, s:s, "
                    "s:{s:s, s:s, s:I, s:s}, s:{s:s, s:s, s:s, s:s, s:I}}",
                    "types", "Permit", "name", "owner", "type", "address", "name", "spender",
                    "type", "address", "name", "value", "type", "uint256", "name", "nonce", "type",
                    "uint256", "name", "deadline", "type", "uint256", "primaryType", "Permit",
                    "domain", "name", "Agora", "version", "1", "chainId", (json_int_t)cc->chain_id,
                    "verifyingContract", token, "message", "owner", me, "spender", market, "value",
                    value, "nonce", nonce, "deadline", (json_int_t)deadline);
    if (!doc || eip712_hash(doc, digest, NULL, NULL, &e) || secp_sign(cc->w.key, digest, sig))
        rc = cli_fail(cc->cmd, "cannot sign the permit: %s", e.msg);
    json_decref(doc);
    return rc;
}

static int discard(const void *p, size_t n, void *ctx)
{
    (void)p;
    (void)n;
    (void)ctx;
    return 0;
}

/* unlocked() asks the node for the first byte of the file: 1 unlocked,
 * 0 not yet (403), or -1 (printed) for anything else. */
static int unlocked(struct chainctx *cc, const char *path)
{
    struct client_stream s = {0};
    int rc;
    s.method = "GET";
    s.path = path;
    s.headers[0] = "Range: bytes=0-0";
    s.upload_len = -1;
    s.write = discard;
    if ((rc = client_stream(&cc->node, &s)))
        return -1;
    json_decref(s.body);
    if (s.status == 200 || s.status == 206)
        return 1;
    if (s.status == 403 || s.status == 402)
        return 0;
    cli_fail(cc->cmd, "the node answered %ld for %s", s.status, path);
    return -1;
}

/* licence_indexed() reports whether the node's index lists the licence. */
static bool licence_indexed(struct chainctx *cc, const char *id)
{
    json_t *w = NULL, *l;
    size_t i;
    bool has = false;
    struct client_resp r = {0};
    if (client_request(&cc->node, "GET", "/api/v1/auth/wallets", NULL, &r) || r.status != 200) {
        json_decref(r.body);
        return false;
    }
    w = r.body;
    json_array_foreach(json_object_get(w, "licences"), i, l)
    {
        json_t *t = json_object_get(l, "token_id");
        if ((json_is_string(t) && !strcmp(json_string_value(t), id)) ||
            (json_is_integer(t) && json_integer_value(t) == atoll(id)))
            has = true;
    }
    json_decref(w);
    return has;
}

/* wait_unlock() polls the node until the download of the latest version
 * opens (or, without files, until the index lists the licence). */
static int wait_unlock(struct chainctx *cc, const char *owner, const char *slug, const char *id,
                       double timeout_s, double *secs)
{
    json_t *ver = NULL;
    struct buf path;
    int64_t t0 = time_mono_us();
    const char *file = NULL;
    int rc = 0;

    buf_init(&path, 2048);
    *secs = -1;
    {
        /* a model without a published version: nothing to unlock but the index */
        struct client_resp r = {0};
        struct buf vp;
        buf_init(&vp, 2048);
        if (!client_model_path(&cc->node, &vp, owner, slug) && !buf_adds(&vp, "/versions/latest") &&
            !client_request(&cc->node, "GET", vp.p, NULL, &r) && r.status == 200)
            ver = json_incref(r.body);
        json_decref(r.body);
        buf_release(&vp);
    }
    file = json_string_value(
        json_object_get(json_array_get(json_object_get(ver, "files"), 0), "name"));
    if (file && (client_model_path(&cc->node, &path, owner, slug) || buf_adds(&path, "/versions") ||
                 client_seg(&cc->node, &path, json_string_value(json_object_get(ver, "version"))) ||
                 buf_adds(&path, "/files") || client_seg(&cc->node, &path, file))) {
        rc = cli_fail(cc->cmd, "path too long");
        goto out;
    }
    for (;;) {
        int u = file ? unlocked(cc, path.p) : licence_indexed(cc, id);
        if (u < 0) {
            rc = EXIT_ERR;
            goto out;
        }
        if (u == 1) {
            *secs = (double)(time_mono_us() - t0) / 1e6;
            break;
        }
        if ((double)(time_mono_us() - t0) / 1e6 > timeout_s) {
            rc = cli_fail(cc->cmd,
                          "the node has not unlocked %s/%s after %.0f s (is it following the "
                          "chain? see `agora chain status`)",
                          owner, slug, timeout_s);
            goto out;
        }
        usleep(20000);
    }
out:
    json_decref(ver);
    buf_release(&path);
    return rc;
}

/* A price quote to redeem: the route's answer (POST .../quote) or a saved copy of it. */
struct buy_quote {
    bool have;
    struct chain_quote q;
    char sig[133];
    json_t *doc;
};

#define QUOTE_FILE_MAX 65536

/* quote_check() reads a quote document into *bq and checks it is for this
 * marketplace, chain, model and wallet's chain. Returns 0 or EXIT_ERR. */
static int quote_check(struct chainctx *cc, json_t *doc, const char *id, struct buy_quote *bq)
{
    struct ag_err e = {0};
    const char *sig = json_string_value(json_object_get(doc, "signature"));
    const char *mkt = json_string_value(json_object_get(doc, "marketplace"));
    json_t *cid = json_object_get(doc, "chainId");
    uint8_t a[20];
    struct eth_sig es;

    if (chain_quote_parse(json_object_get(doc, "quote"), &bq->q, &e))
        return cli_fail(cc->cmd, "not a price quote: %s", e.msg);
    if (!sig || sig_parse_hex(sig, &es, &e))
        return cli_fail(cc->cmd, "the quote's signature must be 65 bytes of hex");
    if (mkt && (addr_parse(mkt, a, false, NULL) || memcmp(a, cc->addr[CC_MARKET], 20)))
        return cli_fail(cc->cmd, "the quote is for the Marketplace at %s, not this chain's", mkt);
    if (cid && (!json_is_integer(cid) || (uint64_t)json_integer_value(cid) != cc->chain_id))
        return cli_fail(cc->cmd, "the quote is for chain %" JSON_INTEGER_FORMAT ", not %" PRIu64,
                        json_integer_value(cid), cc->chain_id);
    if (strcmp(bq->q.model_id, id))
        return cli_fail(cc->cmd, "the quote is for token #%s, not #%s", bq->q.model_id, id);
    str_copy(bq->sig, sig, sizeof(bq->sig));
    bq->doc = json_incref(doc);
    bq->have = true;
    return 0;
}

/* quote_from_file() loads a saved quote document (at most QUOTE_FILE_MAX bytes). */
static int quote_from_file(struct chainctx *cc, const char *path, const char *id,
                           struct buy_quote *bq)
{
    struct buf b;
    struct ag_err e = {0};
    json_t *doc = NULL;
    int rc;

    buf_init(&b, QUOTE_FILE_MAX);
    if ((rc = buf_read_file(&b, path)))
        rc = cli_fail(cc->cmd, "%s %s",
                      rc == AG_ETOOBIG ? "too large a quote file:" : "cannot read", path);
    else if (json_parse(b.p, b.n, &doc, &e))
        rc = cli_fail(cc->cmd, "%s: %s", path, e.msg);
    else
        rc = quote_check(cc, doc, id, bq);
    json_decref(doc);
    buf_release(&b);
    return rc;
}

/* quote_from_node() asks the node for a quote to this wallet. Without
 * `required`, a node that offers none (503, or any refusal) leaves *bq empty
 * and the list price is used. Returns 0 or EXIT_ERR. */
static int quote_from_node(struct chainctx *cc, const char *owner, const char *slug, const char *id,
                           bool required, struct buy_quote *bq)
{
    struct client_resp r = {0};
    struct buf path;
    char me[43];
    json_t *body;
    int rc = 0;

    if (!cc->node.token) {
        if (required)
            return cli_fail(cc->cmd, "--quote needs a signed-in node (agora login)");
        return 0;
    }
    buf_init(&path, 2048);
    chainctx_addr_hex(cc->me, me);
    body = json_pack("{s:s}", "buyer", me);
    if (client_model_path(&cc->node, &path, owner, slug) || buf_adds(&path, "/quote")) {
        rc = cli_fail(cc->cmd, "path too long");
        goto out;
    }
    if ((rc = client_request(&cc->node, "POST", path.p, body, &r))) {
        if (!required) {
            fprintf(stderr, "no price quote from %s; buying at the list price\n", cc->node.node);
            rc = 0;
        }
        goto out;
    }
    if (r.status == 200) {
        rc = quote_check(cc, r.body, id, bq);
    } else if (required) {
        rc = client_print_api_error(&cc->node, &r);
    } else {
        const char *msg =
            json_string_value(json_object_get(json_object_get(r.body, "error"), "message"));
        fprintf(stderr, "no price quote from %s (%ld%s%s); buying at the list price\n",
                cc->node.node, r.status, msg ? ": " : "", msg ? msg : "");
    }
out:
    json_decref(body);
    json_decref(r.body);
    buf_release(&path);
    return rc;
}

/* buy_send() pays `price` with an EIP-2612 permit and buys in one transaction:
 * buyWithQuotePermit when there is a quote, else buyWithPermit at the list
 * price with `maxp` as the most to pay. */
static int buy_send(struct chainctx *cc, const char *id, const char *price, const char *maxp,
                    const struct buy_quote *bq, json_t **receipt)
{
    struct eth_sig sig;
    char rs[67], ss[67], buyer[43], nonce[U256_DEC_MAX];
    uint64_t now = 0, deadline;
    struct buf b;
    int rc;

    if ((rc = chainctx_head_time(cc, &now)))
        return rc;
    deadline = now + 3600;
    if ((rc = permit_sig(cc, bq->have ? price : maxp, deadline, &sig)))
        return rc;
    buf_init(&b, 80);
    ethhex_encode(&b, sig.r, 32);
    str_copy(rs, b.p, sizeof(rs));
    buf_reset(&b);
    ethhex_encode(&b, sig.s, 32);
    str_copy(ss, b.p, sizeof(ss));
    buf_release(&b);
    if (!bq->have)
        return chainctx_send(
            cc, cc->addr[CC_MARKET], "buyWithPermit(uint256,uint256,uint256,uint8,bytes32,bytes32)",
            json_pack("[s,s,I,i,s,s]", id, maxp, (json_int_t)deadline, 27 + sig.v, rs, ss), "buy",
            receipt);
    chainctx_addr_hex(bq->q.buyer, buyer);
    u256_to_dec(bq->q.nonce, nonce);
    return chainctx_send(cc, cc->addr[CC_MARKET],
                         "buyWithQuotePermit((uint256,address,uint256,uint256,uint256),bytes,"
                         "uint256,uint8,bytes32,bytes32)",
                         json_pack("[[s,s,s,I,s],s,I,i,s,s]", bq->q.model_id, buyer, bq->q.price,
                                   (json_int_t)bq->q.expiry, nonce, bq->sig, (json_int_t)deadline,
                                   27 + sig.v, rs, ss),
                         "buy (quote)", receipt);
}

int cmd_buy(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS,
                             CLI_OPT("max-price", CLI_VALUE),
                             CLI_OPT("no-wait", CLI_FLAG),
                             CLI_OPT("no-link", CLI_FLAG),
                             CLI_OPT("timeout", CLI_VALUE),
                             CLI_OPT("quote", CLI_FLAG),
                             CLI_OPT("quote-file", CLI_VALUE),
                             CLI_OPT("list-price", CLI_FLAG)};
    enum { O_MAX = CHAINCTX_NOPTS, O_NOWAIT, O_NOLINK, O_TIMEOUT, O_QUOTE, O_QFILE, O_LIST };
    struct cli_args a;
    struct chainctx cc;
    struct buy_quote bq = {0};
    char owner[64], slug[128], id[80], price[80], maxp[80], bal[80], me[43], pid[80] = "";
    char t1[96], t2[96], release[80] = "", when[40] = "";
    uint8_t pv[32], mv[32], bv[32];
    uint64_t timeout = 120, block = 0;
    double chain_s = 0, unlock_s = -1;
    json_t *r = NULL, *ev = NULL, *out = NULL;
    bool linked = false, already = false;
    int64_t t0;
    int rc = cli_parse("buy", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    memset(&cc, 0, sizeof(cc));
    if (rc)
        return rc;
    if (a.help)
        return cli_help("buy");
    if (a.npos != 1)
        return cli_bad_usage("buy", "expected OWNER/SLUG");
    if ((rc = split_ref("buy", a.pos[0], owner, slug, NULL)))
        return rc;
    if (opts[O_MAX].set && chainctx_amount(opts[O_MAX].value, maxp))
        return cli_bad_usage("buy", "--max-price must be an amount (smallest units, or 5AGR)");
    if (opts[O_TIMEOUT].set && (parse_u64(opts[O_TIMEOUT].value, &timeout) || !timeout))
        return cli_bad_usage("buy", "--timeout must be a positive number of seconds");
    if (opts[O_LIST].set + opts[O_QUOTE].set + opts[O_QFILE].set > 1)
        return cli_bad_usage("buy", "--quote, --quote-file and --list-price exclude each other");
    if ((rc = chainctx_open(&cc, "buy", opts, a.node)) || (rc = chainctx_unlock(&cc)) ||
        (rc = chainctx_model_id(&cc, owner, slug, id)))
        goto out;
    chainctx_addr_hex(cc.me, me);
    if (!strcmp(id, "0")) {
        rc = cli_fail("buy",
                      "%s/%s is not registered on chain (its seller has not run `agora "
                      "publish`)",
                      owner, slug);
        goto out;
    }
    if ((rc = chainctx_call_str(&cc, cc.addr[CC_MARKET],
                                "licensePurchaseId(uint256,address) returns (uint256)",
                                json_pack("[s,s]", id, me), pid, sizeof(pid))))
        goto out;
    already = strcmp(pid, "0") != 0;
    /* the price: a quote (from the file, or offered by the node), else the list price */
    if (!already && opts[O_QFILE].set)
        rc = quote_from_file(&cc, opts[O_QFILE].value, id, &bq);
    else if (!already && !opts[O_LIST].set)
        rc = quote_from_node(&cc, owner, slug, id, opts[O_QUOTE].set, &bq);
    if (rc)
        goto out;
    if (bq.have)
        str_copy(price, bq.q.price, sizeof(price));
    else if ((rc = chainctx_call_str(&cc, cc.addr[CC_MARKET], "priceOf(uint256) returns (uint256)",
                                     json_pack("[s]", id), price, sizeof(price))))
        goto out;
    if (!already && !strcmp(price, "0")) {
        rc = cli_fail("buy", "%s/%s (token #%s) is not for sale on chain", owner, slug, id);
        goto out;
    }
    if (!opts[O_MAX].set)
        str_copy(maxp, price, sizeof(maxp));
    chainctx_tokens(price, t1, sizeof(t1));
    chainctx_tokens(maxp, t2, sizeof(t2));
    u256_parse(price, pv);
    u256_parse(maxp, mv);
    if (!already && u256_cmp(pv, mv) > 0) {
        rc = cli_fail("buy", "the %s is %s AGR, above --max-price %s AGR",
                      bq.have ? "quoted price" : "price", t1, t2);
        goto out;
    }
    if (!already) {
        if ((rc = chainctx_call_str(&cc, cc.addr[CC_TOKEN], "balanceOf(address) returns (uint256)",
                                    json_pack("[s]", me), bal, sizeof(bal))))
            goto out;
        u256_parse(bal, bv);
        if (u256_cmp(bv, pv) < 0) {
            char tb[96];
            chainctx_tokens(bal, tb, sizeof(tb));
            rc = cli_fail("buy", "insufficient balance: %s holds %s AGR, the price is %s AGR%s", me,
                          tb, t1,
                          dev_chain(cc.chain_id) ? " (on a development chain: agora faucet)" : "");
            goto out;
        }
    }
    if (cc.node.token && !opts[O_NOLINK].set && (rc = link_wallet(&cc, &linked)))
        goto out;
    if (already) {
        fprintf(stderr, "this wallet already holds a licence for %s/%s (purchase #%s)\n", owner,
                slug, pid);
    } else {
        t0 = time_mono_us();
        if ((rc = buy_send(&cc, id, price, maxp, &bq, &r)))
            goto out;
        chain_s = (double)(time_mono_us() - t0) / 1e6;
        if (chainctx_event(r, cc.addr[CC_MARKET], EV_LICENSE, &ev)) {
            rc = cli_fail("buy", "the purchase has no LicensePurchased event");
            goto out;
        }
        str_copy(pid, tstr(ev, 5), sizeof(pid));
        str_copy(release, tstr(ev, 8), sizeof(release));
        fmt_time(when, sizeof(when), release);
        rpc_quantity_u64(json_object_get(r, "blockNumber"), &block);
        if (!opts[CO_JSON].set)
            printf("Bought %s/%s (token #%s) for %s AGR%s: purchase #%s in block %" PRIu64
                   ", %.2f s; escrow until %s UTC\n",
                   owner, slug, id, t1, bq.have ? " (signed quote)" : "", pid, block, chain_s,
                   when);
        fflush(stdout);
    }
    if (!opts[O_NOWAIT].set && linked) {
        if ((rc = wait_unlock(&cc, owner, slug, id, (double)timeout, &unlock_s)))
            goto out;
        if (!opts[CO_JSON].set)
            printf("Download unlocked on %s %.2f s after the receipt\n", cc.node.node, unlock_s);
    } else if (!opts[O_NOWAIT].set && !opts[CO_JSON].set) {
        printf("Not waiting for the node: %s\n",
               cc.node.token ? "the wallet is not linked (--no-link)"
                             : "not logged in (agora login, then buy again to link the wallet)");
    }
    out = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "model", a.pos[0], "token_id", id,
                    "purchase_id", pid, "price", already ? "0" : price, "already_licensed", already,
                    "priced_by",
                    already   ? "none"
                    : bq.have ? "quote"
                              : "list");
    if (bq.have) {
        char nonce[U256_DEC_MAX];
        u256_to_dec(bq.q.nonce, nonce);
        json_object_set_new(out, "quote_nonce", json_string(nonce));
    } else {
        json_object_set_new(out, "quote_nonce", json_null());
    }
    json_object_set_new(out, "block", block ? json_integer((json_int_t)block) : json_null());
    json_object_set_new(out, "tx",
                        json_incref(json_object_get(r, "transactionHash")) ?: json_null());
    json_object_set_new(out, "release_at", release[0] ? json_string(release) : json_null());
    json_object_set_new(out, "chain_seconds", json_real(chain_s));
    json_object_set_new(out, "unlock_seconds", unlock_s >= 0 ? json_real(unlock_s) : json_null());
    print_result(&cc, out);
out:
    json_decref(r);
    json_decref(ev);
    json_decref(out);
    json_decref(bq.doc);
    chainctx_close(&cc);
    return rc;
}

/* ---- agora licenses ------------------------------------------------------------------- */

int cmd_licenses(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS, CLI_OPT("address", CLI_VALUE)};
    enum { O_ADDR = CHAINCTX_NOPTS };
    static const char *const head[] = {"MODEL",  "TOKEN",        "PURCHASE", "PRICE AGR",
                                       "STATUS", "ESCROW UNTIL", "ON NODE"};
    struct cli_args a;
    struct chainctx cc;
    struct table t;
    struct ag_err e = {0};
    char me[43], topic[67];
    json_t *logs = NULL, *out = json_array(), *l, *idx = NULL;
    const char *topics[3] = {NULL, NULL, NULL};
    size_t i;
    int rc = cli_parse("licenses", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    memset(&cc, 0, sizeof(cc));
    table_init(&t, ARRAY_SIZE(head), head, NULL);
    if (rc)
        goto out0;
    if (a.help) {
        rc = cli_help("licenses");
        goto out0;
    }
    if (a.npos) {
        rc = cli_bad_usage("licenses", "no arguments expected");
        goto out0;
    }
    if ((rc = chainctx_open(&cc, "licenses", opts, a.node)))
        goto out;
    if (opts[O_ADDR].set) {
        if (addr_parse(opts[O_ADDR].value, cc.me, false, &e)) {
            rc = cli_bad_usage("licenses", "--address: %s", e.msg);
            goto out;
        }
        cc.have_address = true;
    } else if ((rc = chainctx_address(&cc))) {
        goto out;
    }
    chainctx_addr_hex(cc.me, me);
    snprintf(topic, sizeof(topic), "0x000000000000000000000000%s", me + 2);
    topics[1] = topic;
    if ((rc = chainctx_logs(&cc, cc.addr[CC_MARKET], EV_LICENSE, topics, &logs)))
        goto out;
    if (cc.node.token) {
        struct client_resp r = {0};
        if (!client_request(&cc.node, "GET", "/api/v1/auth/wallets", NULL, &r) && r.status == 200)
            idx = json_incref(json_object_get(r.body, "licences"));
        json_decref(r.body);
    }
    json_array_foreach(logs, i, l)
    {
        json_t *args = json_object_get(l, "args"), *p = NULL, *pt, *il;
        const char *mid = tstr(args, 0), *pid = tstr(args, 5);
        char name[200], tok[96], until[40], lic[80];
        const char *status;
        const char *on_node = "-";
        size_t k;
        int64_t st;
        if (chainctx_call(&cc, cc.addr[CC_MARKET], SIG_PURCHASE, json_pack("[s]", pid), &p,
                          false)) {
            rc = EXIT_ERR;
            goto out;
        }
        pt = json_array_get(p, 0);
        st = atoll(tstr(pt, 9));
        status = st >= 0 && st < (int64_t)ARRAY_SIZE(status_names) ? status_names[st] : "?";
        if (chainctx_call_str(&cc, cc.addr[CC_MARKET],
                              "licensePurchaseId(uint256,address) returns (uint256)",
                              json_pack("[s,s]", mid, me), lic, sizeof(lic))) {
            json_decref(p);
            rc = EXIT_ERR;
            goto out;
        }
        if (idx) {
            on_node = "no";
            json_array_foreach(idx, k, il)
            {
                json_t *tid = json_object_get(il, "token_id");
                if ((json_is_string(tid) && !strcmp(json_string_value(tid), mid)) ||
                    (json_is_integer(tid) && json_integer_value(tid) == atoll(mid)))
                    on_node = strcmp(lic, pid) ? "other" : "yes";
            }
        }
        model_name(&cc, mid, name, sizeof(name));
        chainctx_tokens(tstr(args, 2), tok, sizeof(tok));
        fmt_time(until, sizeof(until), tstr(pt, 7));
        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:O}",
                                             "model", name, "token_id", mid, "purchase_id", pid,
                                             "price", tstr(args, 2), "status", status, "active",
                                             !strcmp(lic, pid), "release_at", tstr(pt, 7), "block",
                                             json_integer_value(json_object_get(l, "block")), "tx",
                                             json_object_get(l, "tx")));
        json_object_set_new(json_array_get(out, json_array_size(out) - 1), "on_node",
                            idx ? json_boolean(!strcmp(on_node, "yes")) : json_null());
        {
            const char *cells[] = {name, mid, pid, tok, status, st == 1 ? until : "-", on_node};
            table_add_row(&t, cells);
        }
        json_decref(p);
    }
    if (opts[CO_JSON].set) {
        json_t *o = json_pack("{s:s, s:O}", "address", me, "licences", out);
        client_print_json(o);
        json_decref(o);
    } else if (t.nrow == 0) {
        printf("No licence purchases by %s on chain %" PRIu64 ".\n", me, cc.chain_id);
    } else {
        table_print(&t, stdout);
    }
out:
    chainctx_close(&cc);
out0:
    table_release(&t);
    json_decref(logs);
    json_decref(idx);
    json_decref(out);
    return rc;
}

/* ---- agora provenance ----------------------------------------------------------------- */

/* print_version() prints one on-chain version tuple. */
static void print_version(size_t i, json_t *v)
{
    char when[40];
    json_t *p = json_array_get(v, 4), *d = json_array_get(v, 5), *x;
    size_t k;
    fmt_time(when, sizeof(when), tstr(v, 6));
    printf("  [%zu] %s  published %s UTC, block %s\n", i, tstr(v, 0), when, tstr(v, 7));
    printf("      CID %s\n      sha256 %s\n      metadata %s\n", tstr(v, 1), tstr(v, 2),
           tstr(v, 3));
    if (json_array_size(p)) {
        printf("      parents");
        json_array_foreach(p, k, x) printf(" #%s", json_string_value(x));
        printf("\n");
    }
    json_array_foreach(d, k, x) printf("      dataset %s\n", json_string_value(x));
}

/* lineage() walks parents breadth first (visited set, depth and size caps)
 * into `out`: [{token_id, name, depth, parents: [...]}]. */
static int lineage(struct chainctx *cc, json_t *first, unsigned max_depth, json_t *out)
{
    json_t *queue = json_array(), *seen = json_object(), *x;
    size_t i, head = 0;
    int rc = 0;
    json_array_foreach(first, i, x)
    {
        json_array_append_new(queue, json_pack("{s:O, s:i}", "id", x, "depth", 1));
        json_object_set_new(seen, json_string_value(x), json_true());
    }
    while (head < json_array_size(queue) && json_array_size(out) < 256) {
        json_t *q = json_array_get(queue, head++), *ps = NULL, *p;
        const char *id = json_string_value(json_object_get(q, "id"));
        int depth = (int)json_integer_value(json_object_get(q, "depth"));
        char name[200];
        model_name(cc, id, name, sizeof(name));
        rc = chainctx_call(cc, cc->addr[CC_REGISTRY], "latestParents(uint256) returns (uint256[])",
                           json_pack("[s]", id), &ps, true);
        if (rc == AG_EUNPROCESSABLE) {
            rc = 0;
            ps = json_pack("[[]]");
        }
        if (rc)
            break;
        p = json_array_get(ps, 0);
        json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:O}", "token_id", id, "name", name,
                                             "depth", depth, "parents", p));
        if ((unsigned)depth < max_depth) {
            json_array_foreach(p, i, x)
            {
                if (json_object_get(seen, json_string_value(x)))
                    continue;
                json_object_set_new(seen, json_string_value(x), json_true());
                json_array_append_new(queue, json_pack("{s:O, s:i}", "id", x, "depth", depth + 1));
            }
        }
        json_decref(ps);
    }
    json_decref(queue);
    json_decref(seen);
    return rc;
}

/* check_files() compares PATH (a file, or a directory with the version's
 * files) with the version `v` recorded on chain. Fills `res`; returns the
 * number of problems. */
static int check_files(struct chainctx *cc, const char *owner, const char *slug, json_t *v,
                       const char *path, json_t *res)
{
    struct stat st;
    char hex[65], h[67];
    json_t *ver = NULL, *files = json_array();
    struct chain_content c = {0};
    int bad = 0;
    size_t i;

    json_object_set_new(res, "path", json_string(path));
    json_object_set_new(res, "files", files);
    if (stat(path, &st)) {
        json_object_set_new(res, "error", json_string(strerror(errno)));
        return 1;
    }
    if (S_ISREG(st.st_mode)) {
        bool ok;
        if (file_sha256(path, hex))
            return json_object_set_new(res, "error", json_string(strerror(errno))), 1;
        snprintf(h, sizeof(h), "0x%s", hex);
        ok = !strcasecmp(h, tstr(v, 2));
        json_array_append_new(files, json_pack("{s:s, s:s, s:s}", "name", path, "sha256", h,
                                               "status", ok ? "ok" : "mismatch"));
        return ok ? 0 : 1;
    }
    /* a directory: the node's file list must be the one whose hash is on chain */
    if (node_version(cc, owner, slug, tstr(v, 0), &ver) || chainctx_content(cc->cmd, ver, &c)) {
        json_decref(ver);
        json_object_set_new(res, "error",
                            json_string("cannot read the version's files from the node"));
        return 1;
    }
    json_object_set_new(
        res, "node_list_matches_chain",
        json_boolean(!strcasecmp(c.meta_hash, tstr(v, 3)) && !strcasecmp(c.sha256, tstr(v, 2))));
    if (strcasecmp(c.meta_hash, tstr(v, 3)) || strcasecmp(c.sha256, tstr(v, 2)))
        bad++;
    for (i = 0; i < json_array_size(c.files); i++) {
        json_t *f = json_array_get(c.files, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        char p[4096];
        const char *status = "ok";
        snprintf(p, sizeof(p), "%s/%s", path, name);
        if (strchr(name, '/') || name[0] == '.')
            status = "unsafe name";
        else if (file_sha256(p, hex))
            status = errno == ENOENT ? "missing" : "unreadable";
        else if (strcmp(hex, json_string_value(json_object_get(f, "sha256"))))
            status = "mismatch";
        if (strcmp(status, "ok"))
            bad++;
        json_array_append_new(files, json_pack("{s:s, s:s}", "name", name, "status", status));
    }
    json_decref(c.files);
    json_decref(ver);
    return bad;
}

int cmd_provenance(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS, CLI_OPT("version", CLI_VALUE),
                             CLI_OPT("check", CLI_VALUE), CLI_OPT("depth", CLI_VALUE)};
    enum { O_VERSION = CHAINCTX_NOPTS, O_CHECK, O_DEPTH };
    struct cli_args a;
    struct chainctx cc;
    char owner[64], slug[128], id[80], holder[80], when[40];
    json_t *model = NULL, *vers = NULL, *lin = json_array(), *out = NULL, *chk = NULL, *v = NULL;
    json_t *list, *x;
    uint64_t depth = 8;
    size_t i, pick;
    int rc = cli_parse("provenance", argc, argv, 1, opts, ARRAY_SIZE(opts), &a), bad = 0;

    memset(&cc, 0, sizeof(cc));
    if (rc)
        goto out0;
    if (a.help) {
        rc = cli_help("provenance");
        goto out0;
    }
    if (a.npos != 1) {
        rc = cli_bad_usage("provenance", "expected OWNER/SLUG");
        goto out0;
    }
    if ((rc = split_ref("provenance", a.pos[0], owner, slug, NULL)))
        goto out0;
    if (opts[O_DEPTH].set && (parse_u64(opts[O_DEPTH].value, &depth) || depth > 64)) {
        rc = cli_bad_usage("provenance", "--depth must be 0-64");
        goto out0;
    }
    if ((rc = chainctx_open(&cc, "provenance", opts, a.node)) ||
        (rc = chainctx_model_id(&cc, owner, slug, id)))
        goto out;
    if (!strcmp(id, "0")) {
        rc = cli_fail("provenance", "%s/%s is not registered on chain", owner, slug);
        goto out;
    }
    if ((rc = chainctx_call(&cc, cc.addr[CC_REGISTRY], SIG_MODEL, json_pack("[s]", id), &model,
                            false)) ||
        (rc = chainctx_call_str(&cc, cc.addr[CC_REGISTRY], "ownerOf(uint256) returns (address)",
                                json_pack("[s]", id), holder, sizeof(holder))) ||
        (rc = chainctx_call(&cc, cc.addr[CC_REGISTRY], SIG_VERSIONS, json_pack("[s]", id), &vers,
                            false)))
        goto out;
    list = json_array_get(vers, 0);
    if (json_array_size(list) == 0) {
        rc = cli_fail("provenance", "%s/%s (token #%s) has no version on chain", owner, slug, id);
        goto out;
    }
    pick = json_array_size(list) - 1;
    if (opts[O_VERSION].set) {
        pick = SIZE_MAX;
        json_array_foreach(list, i, x) if (!strcmp(tstr(x, 0), opts[O_VERSION].value)) pick = i;
        if (pick == SIZE_MAX) {
            rc = cli_fail("provenance", "%s/%s has no version %s on chain", owner, slug,
                          opts[O_VERSION].value);
            goto out;
        }
    }
    v = json_array_get(list, pick);
    if ((rc = lineage(&cc, json_array_get(v, 4), (unsigned)depth, lin)))
        goto out;
    if (opts[O_CHECK].set) {
        chk = json_object();
        bad = check_files(&cc, owner, slug, v, opts[O_CHECK].value, chk);
        json_object_set_new(chk, "ok", json_boolean(bad == 0));
    }
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:O}", "model", a.pos[0], "token_id",
                    id, "owner", holder, "slug_hash", tstr(model, 1), "metadata_uri",
                    tstr(model, 2), "registered_at", tstr(model, 3), "versions", list, "version",
                    tstr(v, 0), "lineage", lin);
    if (chk)
        json_object_set(out, "check", chk);
    if (opts[CO_JSON].set) {
        print_result(&cc, out);
    } else {
        fmt_time(when, sizeof(when), tstr(model, 3));
        printf("Model:       %s/%s (token #%s)\nOwner:       %s\nRegistered:  %s UTC\n"
               "Metadata:    %s\nVersions:\n",
               owner, slug, id, holder, when, tstr(model, 2));
        json_array_foreach(list, i, x) print_version(i, x);
        printf("Lineage of %s:%s\n", tstr(v, 0), json_array_size(lin) ? "" : " none (no parents)");
        json_array_foreach(lin, i, x)
        {
            json_t *ps = json_object_get(x, "parents"), *p;
            size_t k;
            printf("  %*s#%s %s", 2 * (int)(json_integer_value(json_object_get(x, "depth")) - 1),
                   "", json_string_value(json_object_get(x, "token_id")),
                   json_string_value(json_object_get(x, "name")));
            if (json_array_size(ps)) {
                printf("  <- derived from");
                json_array_foreach(ps, k, p) printf(" #%s", json_string_value(p));
            }
            printf("\n");
        }
        if (chk) {
            json_t *fs = json_object_get(chk, "files"), *f;
            json_t *nl = json_object_get(chk, "node_list_matches_chain");
            printf("Check of %s against %s:\n", opts[O_CHECK].value, tstr(v, 0));
            if (json_object_get(chk, "error"))
                printf("  error: %s\n", json_string_value(json_object_get(chk, "error")));
            if (nl)
                printf("  the node's file list %s the hashes on chain\n",
                       json_is_true(nl) ? "matches" : "DOES NOT match");
            json_array_foreach(fs, i, f)
                printf("  %-10s %s\n", json_string_value(json_object_get(f, "status")),
                       json_string_value(json_object_get(f, "name")));
            printf("%s\n", bad ? "FAILED: the local files differ from what is on chain"
                               : "OK: the local files match the chain");
        }
    }
    if (bad)
        rc = EXIT_ERR;
out:
    chainctx_close(&cc);
out0:
    json_decref(model);
    json_decref(vers);
    json_decref(lin);
    json_decref(out);
    json_decref(chk);
    return rc;
}

/* ---- agora dispute -------------------------------------------------------------------- */

static int dispute_open(struct chainctx *cc, const struct cli_args *a, const char *purchase,
                        const char *reason)
{
    char owner[64], slug[128], id[80], me[43], pid[80];
    json_t *r = NULL, *ev = NULL, *out = NULL;
    int rc;

    if (!reason || !*reason)
        return cli_bad_usage("dispute", "--reason TEXT is required");
    if ((purchase != NULL) == (a->npos == 2))
        return cli_bad_usage("dispute", "give OWNER/SLUG or --purchase ID");
    if ((rc = chainctx_unlock(cc)))
        return rc;
    chainctx_addr_hex(cc->me, me);
    if (purchase) {
        str_copy(pid, purchase, sizeof(pid));
    } else {
        if ((rc = split_ref("dispute", a->pos[1], owner, slug, NULL)) ||
            (rc = chainctx_model_id(cc, owner, slug, id)))
            return rc;
        if (!strcmp(id, "0"))
            return cli_fail("dispute", "%s is not registered on chain", a->pos[1]);
        if ((rc = chainctx_call_str(cc, cc->addr[CC_MARKET],
                                    "licensePurchaseId(uint256,address) returns (uint256)",
                                    json_pack("[s,s]", id, me), pid, sizeof(pid))))
            return rc;
        if (!strcmp(pid, "0"))
            return cli_fail("dispute", "this wallet holds no licence for %s", a->pos[1]);
    }
    rc = chainctx_send(cc, cc->addr[CC_MARKET], "openDispute(uint256,string)",
                       json_pack("[s,s]", pid, reason), "openDispute", &r);
    if (!rc && chainctx_event(r, cc->addr[CC_MARKET],
                              "event DisputeOpened(uint256 indexed disputeId, uint256 indexed "
                              "purchaseId, address indexed buyer, uint256 modelId, string reason)",
                              &ev))
        rc = cli_fail("dispute", "openDispute succeeded without a DisputeOpened event");
    if (!rc) {
        out = json_pack("{s:s, s:s}", "dispute_id", tstr(ev, 0), "purchase_id", pid);
        if (cc->opts[CO_JSON].set)
            print_result(cc, out);
        else
            printf("Opened dispute #%s about purchase #%s; the payment stays in escrow until "
                   "the arbitrator rules.\n",
                   tstr(ev, 0), pid);
    }
    json_decref(r);
    json_decref(ev);
    json_decref(out);
    return rc;
}

static int dispute_show(struct chainctx *cc, const char *did)
{
    json_t *d = NULL, *p = NULL, *dt, *pt, *out = NULL;
    char opened[40], ruled[40], tok[96], name[200];
    static const char *const rulings[] = {"pending", "refund", "release"};
    int64_t ruling;
    int rc;

    if ((rc = chainctx_call(cc, cc->addr[CC_MARKET],
                            "getDispute(uint256) returns ((uint256,uint64,uint64,uint256))",
                            json_pack("[s]", did), &d, false)))
        return rc;
    dt = json_array_get(d, 0);
    if ((rc = chainctx_call(cc, cc->addr[CC_MARKET], SIG_PURCHASE, json_pack("[s]", tstr(dt, 0)),
                            &p, false)))
        goto out;
    pt = json_array_get(p, 0);
    ruling = atoll(tstr(dt, 3));
    model_name(cc, tstr(pt, 0), name, sizeof(name));
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "dispute_id", did,
                    "purchase_id", tstr(dt, 0), "model", name, "token_id", tstr(pt, 0), "buyer",
                    tstr(pt, 1), "seller", tstr(pt, 2), "price", tstr(pt, 3), "opened_at",
                    tstr(dt, 1), "ruled_at", tstr(dt, 2), "ruling",
                    ruling >= 0 && ruling <= 2 ? rulings[ruling] : "?");
    if (cc->opts[CO_JSON].set) {
        print_result(cc, out);
    } else {
        fmt_time(opened, sizeof(opened), tstr(dt, 1));
        fmt_time(ruled, sizeof(ruled), tstr(dt, 2));
        chainctx_tokens(tstr(pt, 3), tok, sizeof(tok));
        printf("Dispute:     #%s\nPurchase:    #%s of %s (token #%s), %s AGR\nBuyer:       %s\n"
               "Seller:      %s\nOpened:      %s UTC\nRuling:      %s%s%s\n",
               did, tstr(dt, 0), name, tstr(pt, 0), tok, tstr(pt, 1), tstr(pt, 2), opened,
               ruling >= 0 && ruling <= 2 ? rulings[ruling] : "?", ruling ? " at " : "",
               ruling ? ruled : "");
    }
out:
    json_decref(d);
    json_decref(p);
    json_decref(out);
    return rc;
}

static int dispute_rule(struct chainctx *cc, const char *did, const char *what)
{
    char arb[80], me[ETH_ADDR_STR], is_contract[8], market[43];
    int ruling = !strcmp(what, "refund") ? 1 : !strcmp(what, "release") ? 2 : 0;
    int rc;

    if (!ruling)
        return cli_bad_usage("dispute", "the ruling is refund or release");
    if ((rc = chainctx_unlock(cc)) ||
        (rc = chainctx_call_str(cc, cc->addr[CC_MARKET], "arbitrator() returns (address)", NULL,
                                arb, sizeof(arb))) ||
        (rc = chainctx_call_str(cc, cc->addr[CC_MARKET], "arbitratorIsContract() returns (bool)",
                                NULL, is_contract, sizeof(is_contract))))
        return rc;
    addr_format(cc->me, me);
    if (!strcasecmp(arb, me)) {
        rc = chainctx_send(cc, cc->addr[CC_MARKET], "rule(uint256,uint256)",
                           json_pack("[s,i]", did, ruling), "rule", NULL);
    } else if (!strcmp(is_contract, "true")) {
        uint8_t panel[20];
        addr_parse(arb, panel, false, NULL);
        chainctx_addr_hex(cc->addr[CC_MARKET], market);
        rc = chainctx_send(cc, panel, "giveRuling(address,uint256,uint256)",
                           json_pack("[s,s,i]", market, did, ruling), "giveRuling", NULL);
    } else {
        return cli_fail("dispute", "this wallet (%s) is not the arbitrator (%s)", me, arb);
    }
    if (!rc && !cc->opts[CO_JSON].set)
        printf("Ruled dispute #%s: %s%s\n", did, what,
               ruling == 1 ? " (the buyer is repaid and the licence revoked)"
                           : " (the payment is credited to the seller)");
    if (!rc && cc->opts[CO_JSON].set) {
        json_t *o = json_pack("{s:s, s:s}", "dispute_id", did, "ruling", what);
        print_result(cc, o);
        json_decref(o);
    }
    return rc;
}

int cmd_dispute(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS, CLI_OPT("reason", CLI_VALUE),
                             CLI_OPT("purchase", CLI_VALUE)};
    enum { O_REASON = CHAINCTX_NOPTS, O_PURCHASE };
    struct cli_args a;
    struct chainctx cc;
    uint64_t n;
    const char *sub;
    int rc = cli_parse("dispute", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    memset(&cc, 0, sizeof(cc));
    if (rc)
        return rc;
    if (a.help)
        return cli_help("dispute");
    if (a.npos < 1)
        return cli_bad_usage("dispute", "expected open, show or rule");
    sub = a.pos[0];
    if (strcmp(sub, "open") && strcmp(sub, "show") && strcmp(sub, "rule"))
        return cli_bad_usage("dispute", "unknown subcommand %s", sub);
    if (strcmp(sub, "open") &&
        (a.npos != (strcmp(sub, "rule") ? 2u : 3u) || parse_u64(a.pos[1], &n) || n == 0))
        return cli_bad_usage("dispute", "expected a dispute id%s",
                             strcmp(sub, "rule") ? "" : " and refund|release");
    if (!strcmp(sub, "open") &&
        (a.npos > 2 || (opts[O_PURCHASE].set && (parse_u64(opts[O_PURCHASE].value, &n) || !n))))
        return cli_bad_usage("dispute", "expected OWNER/SLUG or --purchase ID");
    if ((rc = chainctx_open(&cc, "dispute", opts, a.node)))
        goto out;
    if (!strcmp(sub, "open"))
        rc = dispute_open(&cc, &a, opts[O_PURCHASE].set ? opts[O_PURCHASE].value : NULL,
                          opts[O_REASON].value);
    else if (!strcmp(sub, "show"))
        rc = dispute_show(&cc, a.pos[1]);
    else
        rc = dispute_rule(&cc, a.pos[1], a.pos[2]);
out:
    chainctx_close(&cc);
    return rc;
}

/* ---- agora withdraw ------------------------------------------------------------------- */

int cmd_withdraw(int argc, char **argv)
{
    struct cli_opt opts[] = {CHAINCTX_OPTS, CLI_OPT("no-release", CLI_FLAG)};
    enum { O_NORELEASE = CHAINCTX_NOPTS };
    struct cli_args a;
    struct chainctx cc;
    char me[43], bal[80], tok[96], next[40] = "";
    json_t *logs = NULL, *ids = json_array(), *l, *r = NULL, *ev = NULL, *out = NULL;
    uint64_t now = 0, soonest = UINT64_MAX;
    size_t i, locked = 0;
    int rc = cli_parse("withdraw", argc, argv, 1, opts, ARRAY_SIZE(opts), &a);

    memset(&cc, 0, sizeof(cc));
    if (rc)
        goto out0;
    if (a.help) {
        rc = cli_help("withdraw");
        goto out0;
    }
    if (a.npos) {
        rc = cli_bad_usage("withdraw", "no arguments expected");
        goto out0;
    }
    if ((rc = chainctx_open(&cc, "withdraw", opts, a.node)) || (rc = chainctx_unlock(&cc)) ||
        (rc = chainctx_head_time(&cc, &now)))
        goto out;
    chainctx_addr_hex(cc.me, me);
    if (!opts[O_NORELEASE].set) {
        /* the seller is not an indexed topic: scan every purchase, keep ours */
        if ((rc = chainctx_logs(&cc, cc.addr[CC_MARKET], EV_LICENSE, NULL, &logs)))
            goto out;
        json_array_foreach(logs, i, l)
        {
            json_t *args = json_object_get(l, "args"), *p = NULL, *pt;
            uint64_t rel = 0;
            if (strcasecmp(tstr(args, 6), me))
                continue;
            if (chainctx_call(&cc, cc.addr[CC_MARKET], SIG_PURCHASE,
                              json_pack("[s]", tstr(args, 5)), &p, false)) {
                rc = EXIT_ERR;
                goto out;
            }
            pt = json_array_get(p, 0);
            parse_u64(tstr(pt, 7), &rel);
            if (!strcmp(tstr(pt, 9), "1")) {
                if (rel <= now && json_array_size(ids) < 200)
                    json_array_append_new(ids, json_string(tstr(args, 5)));
                else if (rel > now) {
                    locked++;
                    if (rel < soonest)
                        soonest = rel;
                }
            }
            json_decref(p);
        }
    }
    if ((rc = chainctx_call_str(&cc, cc.addr[CC_MARKET], "balanceOf(address) returns (uint256)",
                                json_pack("[s]", me), bal, sizeof(bal))))
        goto out;
    if (locked) {
        char s[24];
        snprintf(s, sizeof(s), "%" PRIu64, soonest);
        fmt_time(next, sizeof(next), s);
    }
    if (!json_array_size(ids) && !strcmp(bal, "0")) {
        rc = cli_fail("withdraw", "nothing to withdraw for %s%s%s%s", me,
                      locked ? ": sales still in escrow, the first releasable at " : "",
                      locked ? next : "", locked ? " UTC" : "");
        goto out;
    }
    if ((rc = chainctx_send(&cc, cc.addr[CC_MARKET], "claim(uint256[])", json_pack("[O]", ids),
                            "claim", &r)))
        goto out;
    if (chainctx_event(r, cc.addr[CC_MARKET],
                       "event Withdrawn(address indexed account, uint256 amount)", &ev)) {
        rc = cli_fail("withdraw", "claim succeeded without a Withdrawn event");
        goto out;
    }
    chainctx_tokens(tstr(ev, 1), tok, sizeof(tok));
    out = json_pack("{s:s, s:s, s:O, s:I}", "address", me, "amount", tstr(ev, 1), "released", ids,
                    "still_in_escrow", (json_int_t)locked);
    if (opts[CO_JSON].set)
        print_result(&cc, out);
    else
        printf("Withdrew %s AGR (released %zu sale%s%s%zu still in escrow)\n", tok,
               json_array_size(ids), json_array_size(ids) == 1 ? "" : "s", "; ", locked);
out:
    chainctx_close(&cc);
out0:
    json_decref(logs);
    json_decref(ids);
    json_decref(r);
    json_decref(ev);
    json_decref(out);
    return rc;
}
