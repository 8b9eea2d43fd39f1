/* chainctx.c - the chain client commands' shared context: RPC, contracts, keystore wallet, calls
 * and transactions with decoded reverts. */
#include "core/common.h"

#include <sodium.h>
#include <unistd.h>

#include "cli/chainctx.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/keystore.h"
#include "eth/u256.h"

/* Every custom error the deployed contracts can revert with (ours and the
 * OpenZeppelin 5 ones they inherit), so a revert reads as its name and
 * arguments. tests/e2e/test_chain_cli.py checks this list against the
 * compiled ABIs. Enums are uint8 in the ABI. */
static const char *const error_sigs[] = {
    /* AgoraToken and its OpenZeppelin bases */
    "error FaucetCooldown(address to, uint256 availableAt)",
    "error FaucetDisabled()",
    "error FaucetNotAllowedOnChain(uint256 chainId)",
    "error FaucetZeroAddress()",
    "error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)",
    "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
    "error ERC20InvalidApprover(address approver)",
    "error ERC20InvalidReceiver(address receiver)",
    "error ERC20InvalidSender(address sender)",
    "error ERC20InvalidSpender(address spender)",
    "error ERC20ExceededSafeSupply(uint256 increasedSupply, uint256 cap)",
    "error ERC2612ExpiredSignature(uint256 deadline)",
    "error ERC2612InvalidSigner(address signer, address owner)",
    "error ERC5805FutureLookup(uint256 timepoint, uint48 clock)",
    "error ERC6372InconsistentClock()",
    "error InvalidAccountNonce(address account, uint256 currentNonce)",
    "error VotesExpiredSignature(uint256 expiry)",
    "error CheckpointUnorderedInsertion()",
    "error ECDSAInvalidSignature()",
    "error ECDSAInvalidSignatureLength(uint256 length)",
    "error ECDSAInvalidSignatureS(bytes32 s)",
    "error InvalidShortString()",
    "error StringTooLong(string str)",
    "error SafeCastOverflowedUintDowncast(uint8 bits, uint256 value)",
    /* ModelRegistry */
    "error ModelNotFound(uint256 modelId)",
    "error NotModelOwner(uint256 modelId, address caller)",
    "error SlugTaken(bytes32 slugHash, uint256 modelId)",
    "error ZeroSlugHash()",
    "error VersionExists(uint256 modelId, string version)",
    "error VersionNotFound(uint256 modelId, uint256 versionIndex)",
    "error NoVersions(uint256 modelId)",
    "error InvalidLength(string field, uint256 length, uint256 max)",
    "error ZeroContentHash()",
    "error TooManyParents(uint256 count, uint256 max)",
    "error TooManyDatasets(uint256 count, uint256 max)",
    "error ParentNotFound(uint256 parentModelId)",
    "error SelfParent(uint256 modelId)",
    "error DuplicateParent(uint256 parentModelId)",
    "error ERC721IncorrectOwner(address sender, uint256 tokenId, address owner)",
    "error ERC721InsufficientApproval(address operator, uint256 tokenId)",
    "error ERC721InvalidApprover(address approver)",
    "error ERC721InvalidOperator(address operator)",
    "error ERC721InvalidOwner(address owner)",
    "error ERC721InvalidReceiver(address receiver)",
    "error ERC721InvalidSender(address sender)",
    "error ERC721NonexistentToken(uint256 tokenId)",
    /* Marketplace */
    "error NotGovernance(address caller)",
    "error NotPendingGovernance(address caller)",
    "error NotArbitrator(address caller)",
    "error NoVersionPublished(uint256 modelId)",
    "error ZeroAddress()",
    "error ZeroPrice()",
    "error FeeTooHigh(uint256 feeBps, uint256 max)",
    "error RoyaltyTooHigh(uint256 royaltyBps, uint256 max)",
    "error DisputeWindowTooLong(uint256 window, uint256 max)",
    "error NotForSale(uint256 modelId)",
    "error PriceAboveMax(uint256 price, uint256 maxPrice)",
    "error AlreadyLicensed(uint256 modelId, address buyer)",
    "error SellerCannotBuy(uint256 modelId)",
    "error QuoteExpired(uint256 expiry, uint256 nowTs)",
    "error QuoteWrongBuyer(address quoted, address caller)",
    "error QuoteAlreadyUsed(uint256 nonce)",
    "error InvalidQuoteSignature()",
    "error PurchaseNotFound(uint256 purchaseId)",
    "error NotEscrowed(uint256 purchaseId, uint8 status)",
    "error EscrowLocked(uint256 purchaseId, uint256 releaseAt)",
    "error DisputeWindowClosed(uint256 purchaseId, uint256 releaseAt)",
    "error NotBuyer(uint256 purchaseId, address caller)",
    "error InvalidReason(uint256 length, uint256 max)",
    "error DisputeNotFound(uint256 disputeId)",
    "error AlreadyRuled(uint256 disputeId)",
    "error InvalidRuling(uint256 ruling)",
    "error NothingToWithdraw(address account)",
    "error InsufficientGas(uint256 available, uint256 required)",
    "error ReentrancyGuardReentrantCall()",
    "error SafeERC20FailedOperation(address token)",
    /* ArbitrationPanel */
    "error NotArbiter(address caller)",
    "error CaseExists(address arbitrable, uint256 disputeId)",
    "error CaseRuled(address arbitrable, uint256 disputeId)",
    "error InvalidChoices(uint256 choices)",
    "error RulingOutOfRange(uint256 ruling, uint256 choices)",
};

void chainctx_addr_hex(const uint8_t a[20], char out[43])
{
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 20; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", a[i]);
}

int chainctx_rpc_fail(struct chainctx *cc, const struct ag_err *e)
{
    const char *msg = e->msg[0] ? e->msg : ag_strerror(e->code);
    if (e->code == AG_EUNAVAILABLE || e->code == AG_ETIMEOUT)
        return cli_fail(cc->cmd,
                        "the chain node at %s does not answer: %s (is it running? set "
                        "--rpc or AGORA_CHAIN_RPC)",
                        cc->rpc_url, msg);
    return cli_fail(cc->cmd, "%s", msg);
}

static const char *opt_value(const struct chainctx *cc, int i)
{
    return cc->opts[i].set ? cc->opts[i].value : NULL;
}

/* contracts_from_manifest() reads the addresses from a local manifest file. */
static int contracts_from_manifest(struct chainctx *cc, const char *path)
{
    struct chain_manifest m;
    struct ag_err e = {0};
    if (chain_manifest_load(path, &m, &e))
        return cli_fail(cc->cmd, "%s", e.msg);
    cc->chain_id = m.chain_id;
    cc->deploy_block = m.block;
    for (int i = 0; i < 3; i++)
        memcpy(cc->addr[i], m.addr[i], 20);
    chain_manifest_release(&m);
    return 0;
}

/* contracts_from_node() reads the addresses the node follows (GET /api/v1/chain). */
static int contracts_from_node(struct chainctx *cc)
{
    static const char *const names[3] = {"AgoraToken", "ModelRegistry", "Marketplace"};
    json_t *st = NULL, *contracts;
    struct ag_err e = {0};
    int rc = client_call(&cc->node, "GET", "/api/v1/chain", NULL, &st);
    if (rc)
        goto out;
    contracts = json_object_get(st, "contracts");
    if (!json_is_object(contracts)) {
        const char *s = json_string_value(json_object_get(st, "status"));
        rc = cli_fail(cc->cmd,
                      "the node at %s follows no chain (status %s); pass --chain-manifest FILE",
                      cc->node.node, s ? s : "unknown");
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        const char *a = json_string_value(json_object_get(contracts, names[i]));
        if (!a || addr_parse(a, cc->addr[i], false, &e)) {
            rc = cli_fail(cc->cmd, "the node's chain status has no valid %s address", names[i]);
            goto out;
        }
    }
    cc->chain_id = (uint64_t)json_integer_value(json_object_get(st, "chain_id"));
    cc->deploy_block = (uint64_t)json_integer_value(json_object_get(st, "deploy_block"));
out:
    json_decref(st);
    return rc;
}

static int parse_errors(struct chainctx *cc)
{
    struct ag_err e = {0};
    cc->errors = calloc(ARRAY_SIZE(error_sigs), sizeof(*cc->errors));
    if (!cc->errors)
        return cli_fail(cc->cmd, "out of memory");
    for (size_t i = 0; i < ARRAY_SIZE(error_sigs); i++) {
        if (abi_func_parse(error_sigs[i], &cc->errors[i], &e))
            return cli_fail(cc->cmd, "internal: %s: %s", error_sigs[i], e.msg);
        cc->nerrors++;
    }
    return 0;
}

int chainctx_open(struct chainctx *cc, const char *cmd, const struct cli_opt *opts,
                  const char *node_opt)
{
    struct ag_err e = {0};
    const char *rpc;
    uint64_t got = 0;
    int rc;

    memset(cc, 0, sizeof(*cc));
    cc->cmd = cmd;
    cc->opts = opts;
    rpc = opt_value(cc, CO_RPC);
    if (!rpc)
        rpc = getenv("AGORA_CHAIN_RPC");
    if (!rpc || !*rpc)
        rpc = getenv("AGORA_ETH_RPC");
    if (!rpc || !*rpc)
        rpc = CHAIN_DEFAULT_RPC;
    str_copy(cc->rpc_url, rpc, sizeof(cc->rpc_url));
    if ((rc = parse_errors(cc)))
        return rc;
    if ((rc = client_open(&cc->node, cmd, node_opt)))
        return rc;
    cc->node_open = true;
    if (opt_value(cc, CO_MANIFEST))
        rc = contracts_from_manifest(cc, opt_value(cc, CO_MANIFEST));
    else
        rc = contracts_from_node(cc);
    if (rc)
        return rc;
    if (rpc_init(&cc->rpc, cc->rpc_url, &e))
        return cli_fail(cmd, "%s", e.msg);
    cc->rpc_open = true;
    cc->rpc.retries = 1;
    cc->rpc.timeout_ms = 15000;
    cc->rpc.connect_timeout_ms = 3000;
    if (rpc_chain_id(&cc->rpc, &got, &e))
        return chainctx_rpc_fail(cc, &e);
    if (cc->chain_id && got != cc->chain_id)
        return cli_fail(cmd,
                        "the chain node at %s is chain %" PRIu64 ", but the contracts are on chain "
                        "%" PRIu64 " (wrong --rpc?)",
                        cc->rpc_url, got, cc->chain_id);
    cc->chain_id = got;
    return 0;
}

void chainctx_close(struct chainctx *cc)
{
    if (cc->have_key)
        wallet_release(&cc->w);
    sodium_memzero(&cc->w, sizeof(cc->w));
    if (cc->rpc_open)
        rpc_release(&cc->rpc);
    if (cc->node_open)
        client_close(&cc->node);
    for (size_t i = 0; i < cc->nerrors; i++)
        abi_func_release(&cc->errors[i]);
    free(cc->errors);
    cc->errors = NULL;
    cc->nerrors = 0;
}

/* ---- the keystore wallet ---------------------------------------------------------------- */

/* find_key() picks the keystore of --from (or the only one) in the directory:
 * its path and address. */
static int find_key(struct chainctx *cc, char *path, size_t size, uint8_t addr[20])
{
    char dir[1024];
    const char *from = opt_value(cc, CO_FROM);
    uint8_t want[20];
    struct ag_err e = {0};

    keystore_dir(opt_value(cc, CO_KEYSTORE), dir, sizeof(dir));
    if (from && addr_parse(from, want, false, &e))
        return cli_fail(cc->cmd, "--from: %s", e.msg);
    if (keystore_pick(dir, from ? want : NULL, path, size, addr, &e))
        return cli_fail(cc->cmd, "%s", e.msg);
    return 0;
}

int chainctx_address(struct chainctx *cc)
{
    char path[2048];
    if (cc->have_key || cc->have_address)
        return 0;
    if (find_key(cc, path, sizeof(path), cc->me))
        return EXIT_ERR;
    cc->have_address = true;
    return 0;
}

static int passphrase(struct chainctx *cc, const char *addr, char *out, size_t size)
{
    const char *file = opt_value(cc, CO_PASSFILE), *env = getenv("AGORA_PASSPHRASE");
    struct ag_err e = {0};
    char prompt[128];
    if (file)
        return keystore_passphrase_file(file, out, size, &e) ? cli_fail(cc->cmd, "%s", e.msg) : 0;
    if (env) {
        str_copy(out, env, size);
        return 0;
    }
    snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", addr);
    if (cli_read_tty(prompt, out, size))
        return cli_fail(
            cc->cmd, "no terminal for the passphrase; use --passphrase-file or AGORA_PASSPHRASE");
    return 0;
}

int chainctx_unlock(struct chainctx *cc)
{
    char path[2048], pass[KEYSTORE_MAX_PASS], a[ETH_ADDR_STR];
    struct ag_err e = {0};
    json_t *ks = NULL;
    uint8_t key[32];
    int rc;

    if (cc->have_key)
        return 0;
    if ((rc = find_key(cc, path, sizeof(path), cc->me)))
        return rc;
    addr_format(cc->me, a);
    if ((rc = passphrase(cc, a, pass, sizeof(pass))))
        return rc;
    if (keystore_read_file(path, &ks, &e) || keystore_decrypt(ks, pass, strlen(pass), key, &e)) {
        rc = cli_fail(cc->cmd, "%s: %s", path, e.code == AG_EUNAUTH ? "wrong passphrase" : e.msg);
        goto out;
    }
    if (wallet_init(&cc->w, &cc->rpc, key, &e)) {
        rc = chainctx_rpc_fail(cc, &e);
        goto out;
    }
    /* a dev chain mines at once: look for the receipt sooner than every 200 ms */
    cc->w.poll_ms = 50;
    cc->have_key = true;
    cc->have_address = true;
out:
    sodium_memzero(pass, sizeof(pass));
    sodium_memzero(key, sizeof(key));
    json_decref(ks);
    return rc;
}

/* ---- calls and transactions ----------------------------------------------------------- */

/* chainctx_pretty_reason() rewrites a decoded custom error "Name[\"1\",\"0xab..\"]" as
 * "Name(1, 0xab..)"; any other text is copied unchanged. */
void chainctx_pretty_reason(const char *in, char *out, size_t size)
{
    const char *lb = strchr(in, '[');
    json_t *args = NULL, *v;
    struct buf b;
    size_t i;

    str_copy(out, in, size);
    if (!lb || lb == in || in[strlen(in) - 1] != ']')
        return;
    for (const char *p = in; p < lb; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return;
    if (json_parse(lb, strlen(lb), &args, NULL) || !json_is_array(args)) {
        json_decref(args);
        return;
    }
    buf_init(&b, size);
    buf_addf(&b, "%.*s(", (int)(lb - in), in);
    json_array_foreach(args, i, v)
    {
        char *d = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_addf(&b, "%s%s", i ? ", " : "", d ? d : json_string_value(v));
        free(d);
    }
    if (!buf_adds(&b, ")"))
        str_copy(out, b.p, size);
    buf_release(&b);
    json_decref(args);
}

/* revert_text() explains the last RPC error's revert data into `why`. */
static void revert_text(struct chainctx *cc, struct buf *why)
{
    char pretty[1024];
    if (rpc_revert_reason(&cc->rpc, cc->errors, cc->nerrors, why) != 0) {
        buf_reset(why);
        buf_adds(why, cc->rpc.err.message[0] ? cc->rpc.err.message : "reverted without a reason");
        return;
    }
    chainctx_pretty_reason(why->p, pretty, sizeof(pretty));
    buf_reset(why);
    buf_adds(why, pretty);
}

int chainctx_call(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                  json_t **out, bool quiet_revert)
{
    struct abi_func f = {0};
    struct buf data, ret, why;
    struct rpc_callmsg msg = {0};
    struct ag_err e = {0};
    int rc;

    buf_init(&data, ABI_MAX_ENCODED);
    buf_init(&ret, ABI_MAX_ENCODED);
    buf_init(&why, 4096);
    *out = NULL;
    if (!args)
        args = json_array();
    if (abi_func_parse(sig, &f, &e) || abi_encode_call(&f, args, &data, &e)) {
        rc = cli_fail(cc->cmd, "%s: %s", sig, e.msg);
        goto out;
    }
    msg.from = (cc->have_key || cc->have_address) ? cc->me : NULL;
    msg.to = to;
    msg.data = (const uint8_t *)data.p;
    msg.data_len = data.n;
    rc = rpc_eth_call(&cc->rpc, &msg, "latest", &ret, &e);
    if (rc == AG_EUNPROCESSABLE && quiet_revert)
        goto out;
    if (rc == AG_EUNPROCESSABLE) {
        revert_text(cc, &why);
        rc = cli_fail(cc->cmd, "%.*s reverted: %s", (int)strcspn(sig, "("), sig, why.p);
        goto out;
    }
    if (rc) {
        rc = chainctx_rpc_fail(cc, &e);
        goto out;
    }
    if (ret.n == 0) {
        rc = cli_fail(cc->cmd,
                      "%.*s: no contract at that address on chain %" PRIu64
                      " (a wrong manifest, or the chain was reset?)",
                      (int)strcspn(sig, "("), sig, cc->chain_id);
        goto out;
    }
    if (f.outputs && abi_decode(f.outputs, (const uint8_t *)ret.p, ret.n, out, &e)) {
        rc = cli_fail(cc->cmd, "%s: cannot decode the answer: %s", sig, e.msg);
        goto out;
    }
    if (!f.outputs)
        *out = json_array();
out:
    json_decref(args);
    abi_func_release(&f);
    buf_release(&data);
    buf_release(&ret);
    buf_release(&why);
    return rc;
}

int chainctx_call_str(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                      char *out, size_t size)
{
    json_t *r = NULL, *v;
    int rc = chainctx_call(cc, to, sig, args, &r, false);
    if (rc)
        return rc;
    v = json_array_get(r, 0);
    if (json_is_string(v))
        str_copy(out, json_string_value(v), size);
    else if (json_is_true(v) || json_is_false(v))
        str_copy(out, json_is_true(v) ? "true" : "false", size);
    else
        rc = cli_fail(cc->cmd, "%s: unexpected answer", sig);
    json_decref(r);
    return rc;
}

/* send_fail() explains why a transaction could not be sent or failed. */
static int send_fail(struct chainctx *cc, const char *what, int code, const struct ag_err *e,
                     const struct wallet_tx *t)
{
    const char *m = e->msg[0] ? e->msg : ag_strerror(code);
    char a[ETH_ADDR_STR];
    addr_format(cc->me, a);
    if (code == AG_EUNAVAILABLE || code == AG_ETIMEOUT)
        return chainctx_rpc_fail(cc, e);
    if (strcasestr(m, "insufficient funds") ||
        strcasestr(cc->rpc.err.message, "insufficient funds")) {
        uint8_t wei[32];
        char dec[U256_DEC_MAX] = "?", eth[U256_DEC_MAX + 8] = "?";
        struct ag_err e2 = {0};
        if (!rpc_get_balance(&cc->rpc, cc->me, wei, &e2)) {
            u256_to_dec(wei, dec);
            chainctx_tokens(dec, eth, sizeof(eth));
        }
        return cli_fail(cc->cmd, "%s: %s has not enough ETH to pay for gas (balance %s ETH)%s",
                        what, a, eth,
                        cc->chain_id == 31337 || cc->chain_id == 1337
                            ? "; on a development chain `agora faucet` funds it"
                            : "");
    }
    if (code == AG_EUNPROCESSABLE && strstr(m, "mined but reverted") && t) {
        /* replay the call to learn why */
        struct buf ret, why;
        struct ag_err e2 = {0};
        struct rpc_callmsg msg = {cc->me, t->to, t->value, t->data, t->data_len};
        buf_init(&ret, ABI_MAX_ENCODED);
        buf_init(&why, 4096);
        if (rpc_eth_call(&cc->rpc, &msg, "latest", &ret, &e2) == AG_EUNPROCESSABLE)
            revert_text(cc, &why);
        int rc = cli_fail(cc->cmd, "%s: the transaction was mined but reverted%s%s", what,
                          why.n ? ": " : "", why.p);
        buf_release(&ret);
        buf_release(&why);
        return rc;
    }
    if (str_starts(m, "transaction would revert: ")) {
        char pretty[1024];
        chainctx_pretty_reason(m + strlen("transaction would revert: "), pretty, sizeof(pretty));
        return cli_fail(cc->cmd, "%s reverted: %s", what, pretty);
    }
    return cli_fail(cc->cmd, "%s failed: %s", what, m);
}

int chainctx_send(struct chainctx *cc, const uint8_t to[20], const char *sig, json_t *args,
                  const char *what, json_t **receipt)
{
    struct wallet_tx t = {0};
    struct buf data;
    struct ag_err e = {0};
    json_t *r = NULL;
    uint64_t block = 0;
    int rc;

    buf_init(&data, ABI_MAX_ENCODED);
    if (receipt)
        *receipt = NULL;
    if (!cc->have_key && (rc = chainctx_unlock(cc)))
        goto out;
    if (abi_encode_call_sig(sig, args, &data, &e)) {
        rc = cli_fail(cc->cmd, "%s: %s", what, e.msg);
        goto out;
    }
    t.to = to;
    t.data = (const uint8_t *)data.p;
    t.data_len = data.n;
    rc = wallet_send_wait(&cc->w, &t, cc->errors, cc->nerrors, &r, &e);
    if (rc) {
        rc = send_fail(cc, what, rc, &e, &t);
        goto out;
    }
    rpc_quantity_u64(json_object_get(r, "blockNumber"), &block);
    fprintf(stderr, "%s: tx %s (block %" PRIu64 ")\n", what,
            json_string_value(json_object_get(r, "transactionHash")) ?: "?", block);
    if (receipt) {
        *receipt = r;
        r = NULL;
    }
out:
    json_decref(r);
    json_decref(args);
    buf_release(&data);
    return rc;
}

int chainctx_event(json_t *receipt, const uint8_t from[20], const char *event, json_t **out)
{
    struct abi_func ev = {0};
    json_t *logs = json_object_get(receipt, "logs"), *log;
    uint8_t topic[32], a[20];
    size_t i;
    int rc = AG_ENOTFOUND;

    *out = NULL;
    if (abi_func_parse(event, &ev, NULL))
        return AG_EINVAL;
    abi_event_topic(&ev, topic);
    json_array_foreach(logs, i, log)
    {
        const char *addr = json_string_value(json_object_get(log, "address"));
        const char *t0 = json_string_value(json_array_get(json_object_get(log, "topics"), 0));
        uint8_t t[32];
        if (!addr || !t0 || addr_parse(addr, a, false, NULL) || memcmp(a, from, 20) ||
            ethhex_decode_fixed(t0, t, 32) || memcmp(t, topic, 32))
            continue;
        if (abi_event_decode_log(&ev, log, out, NULL) == 0) {
            rc = 0;
            break;
        }
    }
    abi_func_release(&ev);
    return rc;
}

int chainctx_head_time(struct chainctx *cc, uint64_t *ts)
{
    struct ag_err e = {0};
    json_t *b = NULL;
    int rc = rpc_get_block(&cc->rpc, UINT64_MAX, false, &b, &e);
    if (rc)
        return chainctx_rpc_fail(cc, &e);
    if (rpc_quantity_u64(json_object_get(b, "timestamp"), ts))
        rc = cli_fail(cc->cmd, "the chain node sent a block without a timestamp");
    json_decref(b);
    return rc;
}

/* logs_range() fetches and decodes one range into `acc`. */
static int logs_range(struct chainctx *cc, const struct abi_func *ev, json_t *filter, json_t *acc,
                      struct ag_err *e)
{
    json_t *logs = NULL, *log;
    size_t i;
    int rc = rpc_get_logs(&cc->rpc, filter, &logs, e);
    if (rc)
        return rc;
    json_array_foreach(logs, i, log)
    {
        json_t *args = NULL;
        uint64_t block = 0;
        if (json_is_true(json_object_get(log, "removed")) ||
            abi_event_decode_log(ev, log, &args, NULL))
            continue;
        rpc_quantity_u64(json_object_get(log, "blockNumber"), &block);
        json_array_append_new(acc,
                              json_pack("{s:o, s:I, s:O}", "args", args, "block", (json_int_t)block,
                                        "tx", json_object_get(log, "transactionHash")));
    }
    json_decref(logs);
    return 0;
}

int chainctx_logs(struct chainctx *cc, const uint8_t from[20], const char *event,
                  const char *const topics[3], json_t **out)
{
    struct abi_func ev = {0};
    struct ag_err e = {0};
    uint8_t topic[32];
    char t0[67], addr[43], q[24];
    uint64_t head = 0, next = cc->deploy_block, span = CHAINCTX_LOG_SPAN;
    json_t *acc = json_array(), *tops;
    int rc = 0;

    *out = NULL;
    if (abi_func_parse(event, &ev, &e)) {
        json_decref(acc);
        return cli_fail(cc->cmd, "internal: %s", e.msg);
    }
    abi_event_topic(&ev, topic);
    t0[0] = '0';
    t0[1] = 'x';
    for (int i = 0; i < 32; i++)
        snprintf(t0 + 2 + 2 * i, 3, "%02x", topic[i]);
    chainctx_addr_hex(from, addr);
    tops = json_pack("[s]", t0);
    for (int i = 0; i < 3; i++)
        json_array_append_new(tops, topics && topics[i] ? json_string(topics[i]) : json_null());
    while (json_array_size(tops) > 1 &&
           json_is_null(json_array_get(tops, json_array_size(tops) - 1)))
        json_array_remove(tops, json_array_size(tops) - 1);
    if (rpc_block_number(&cc->rpc, &head, &e)) {
        rc = chainctx_rpc_fail(cc, &e);
        goto out;
    }
    while (next <= head) {
        uint64_t to = next + span - 1 < head ? next + span - 1 : head;
        char from_q[24];
        json_t *filter;
        snprintf(from_q, sizeof(from_q), "0x%" PRIx64, next);
        snprintf(q, sizeof(q), "0x%" PRIx64, to);
        filter = json_pack("{s:s, s:s, s:s, s:O}", "fromBlock", from_q, "toBlock", q, "address",
                           addr, "topics", tops);
        rc = logs_range(cc, &ev, filter, acc, &e);
        json_decref(filter);
        if (rc && (e.code == AG_EUNAVAILABLE || span == 1)) {
            rc = chainctx_rpc_fail(cc, &e);
            goto out;
        }
        if (rc) {
            span = span / 2 ? span / 2 : 1;
            rc = 0;
            continue;
        }
        next = to + 1;
    }
    *out = acc;
    acc = NULL;
out:
    json_decref(acc);
    json_decref(tops);
    abi_func_release(&ev);
    return rc;
}

/* ---- amounts and names ---------------------------------------------------------------- */

int chainctx_amount(const char *s, char out[80])
{
    char digits[96];
    uint8_t v[32];
    size_t n = strlen(s), k = 0;
    const char *dot;
    bool tokens = false;

    while (n && s[n - 1] == ' ')
        n--;
    if (n > 3 && !strncasecmp(s + n - 3, "AGR", 3)) {
        tokens = true;
        n -= 3;
        while (n && s[n - 1] == ' ')
            n--;
    }
    if (!n || n >= 60)
        return AG_EINVAL;
    if (!tokens) {
        for (size_t i = 0; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return AG_EINVAL;
        snprintf(digits, sizeof(digits), "%.*s", (int)n, s);
    } else {
        size_t frac = 0;
        dot = memchr(s, '.', n);
        for (size_t i = 0; i < n; i++) {
            if (s + i == dot)
                continue;
            if (s[i] < '0' || s[i] > '9')
                return AG_EINVAL;
            digits[k++] = s[i];
            if (dot && s + i > dot)
                frac++;
        }
        if (frac > 18 || k == 0)
            return AG_EINVAL;
        for (; frac < 18; frac++)
            digits[k++] = '0';
        digits[k] = '\0';
    }
    if (u256_parse(digits, v))
        return AG_EINVAL;
    u256_to_dec(v, out);
    return 0;
}

void chainctx_tokens(const char *wei, char *out, size_t size)
{
    size_t n = strlen(wei), end;
    char buf[U256_DEC_MAX + 24];
    if (n > 18)
        snprintf(buf, sizeof(buf), "%.*s.%s", (int)(n - 18), wei, wei + n - 18);
    else
        snprintf(buf, sizeof(buf), "0.%.*s%s", (int)(18 - n), "000000000000000000", wei);
    end = strlen(buf);
    while (end && buf[end - 1] == '0')
        end--;
    if (end && buf[end - 1] == '.')
        end--;
    buf[end] = '\0';
    str_copy(out, buf, size);
}

int chainctx_model_id(struct chainctx *cc, const char *owner, const char *slug, char id[80])
{
    char h[67];
    chain_slug_hash(owner, slug, h);
    return chainctx_call_str(cc, cc->addr[CC_REGISTRY], "modelIdBySlug(bytes32) returns (uint256)",
                             json_pack("[s]", h), id, 80);
}

/* ---- the version's content as recorded on chain ----------------------------------------- */

static int by_name(const void *a, const void *b)
{
    json_t *const *x = a, *const *y = b;
    return strcmp(json_string_value(json_object_get(*x, "name")) ?: "",
                  json_string_value(json_object_get(*y, "name")) ?: "");
}

/* chainctx_content() derives what goes on chain from a node version document:
 * the listing is one line "sha256 size cid name\n" per file, sorted by name;
 * one file: its CID and sha256; several: the raw CIDv1 and sha256 of the
 * listing. metadataHash is always the sha256 of the listing. */
int chainctx_content(const char *cmd, json_t *version, struct chain_content *c)
{
    json_t *files = json_object_get(version, "files"), *f;
    json_t **arr = NULL;
    struct buf listing, b32;
    uint8_t digest[32], raw[36] = {0x01, 0x55, 0x12, 0x20};
    char hex[65];
    size_t i, n = json_array_size(files);
    int rc = 0;

    memset(c, 0, sizeof(*c));
    buf_init(&listing, (size_t)1 << 20);
    buf_init(&b32, 256);
    if (n == 0)
        return cli_fail(cmd, "the version has no files: push them first (agora push)");
    arr = calloc(n, sizeof(*arr));
    if (!arr)
        return cli_fail(cmd, "out of memory");
    json_array_foreach(files, i, f) arr[i] = f;
    qsort(arr, n, sizeof(*arr), by_name);
    c->files = json_array();
    for (i = 0; i < n && !rc; i++) {
        const char *name = json_string_value(json_object_get(arr[i], "name"));
        const char *sha = json_string_value(json_object_get(arr[i], "sha256"));
        const char *cid = json_string_value(json_object_get(arr[i], "cid"));
        json_int_t size = json_integer_value(json_object_get(arr[i], "size"));
        if (!name || !sha || !cid || strlen(sha) != 64 || strlen(cid) >= sizeof(c->cid)) {
            rc = cli_fail(cmd, "file %s has no content yet (upload it with agora push)",
                          name ? name : "?");
            break;
        }
        if (buf_addf(&listing, "%s %" JSON_INTEGER_FORMAT " %s %s\n", sha, size, cid, name))
            rc = cli_fail(cmd, "the file list is too long");
        json_array_append_new(c->files, json_pack("{s:s, s:I, s:s, s:s}", "name", name, "size",
                                                  size, "sha256", sha, "cid", cid));
        if (n == 1) {
            str_copy(c->cid, cid, sizeof(c->cid));
            snprintf(c->sha256, sizeof(c->sha256), "0x%s", sha);
        }
    }
    if (!rc) {
        sha256_hex(listing.p, listing.n, hex);
        snprintf(c->meta_hash, sizeof(c->meta_hash), "0x%s", hex);
        c->nfiles = n;
        if (n > 1) {
            ethhex_decode_fixed(c->meta_hash, digest, 32);
            memcpy(raw + 4, digest, 32);
            buf_adds(&b32, "b");
            base32_encode(&b32, raw, sizeof(raw));
            str_copy(c->cid, b32.p, sizeof(c->cid));
            str_copy(c->sha256, c->meta_hash, sizeof(c->sha256));
        }
    }
    free(arr);
    buf_release(&listing);
    buf_release(&b32);
    if (rc) {
        json_decref(c->files);
        c->files = NULL;
    }
    return rc;
}
