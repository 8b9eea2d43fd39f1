/* deploy.c - deploying the contracts from C: build.mjs artifacts, constructor arguments, the
 * wiring contracts/deploy.mjs does, receipts, and the deployment manifest. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/rpc.h"
#include "eth/wallet.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define GAS_MARGIN_PCT  20  /* on top of eth_estimateGas, as the wallet does */
#define POLL_MS         100 /* receipt polling */
#define SUPPLY_INT_MAX  30  /* digits before the point, as deploy.mjs accepts */
#define SUPPLY_DECIMALS 18  /* AgoraToken's decimals */
#define REVERT_TEXT_MAX 1024

/* The artifacts, in deployment order. */
enum { A_TOKEN, A_REGISTRY, A_PANEL, A_MARKET, A_N };
static const char *const art_names[A_N] = {"AgoraToken", "ModelRegistry", "ArbitrationPanel",
                                           "Marketplace"};

struct artifact {
    json_t *doc;     /* the artifact file */
    json_t *abi;     /* borrowed from doc */
    struct buf code; /* creation bytecode */
};

/* The options once checked: addresses parsed, the supply in base units. */
struct plan {
    char supply[SUPPLY_INT_MAX + SUPPLY_DECIMALS + 2];
    bool faucet;
    bool panel;
    uint8_t treasury[20], pricing_signer[20], arbitrator[20], governance[20];
    bool transfer_governance;
};

struct deployment {
    const struct chain_deploy_opts *o;
    struct rpc_client rpc;
    bool rpc_open;
    struct wallet w;
    bool signing;
    uint8_t from[20];
    uint64_t chain_id;
    struct artifact art[A_N];
    struct abi_func *errors; /* every custom error of the loaded ABIs */
    size_t nerrors;
    bool done[A_N];
    uint8_t addr[A_N][20];
    char tx[A_N][67];
    uint64_t block[A_N];
};

void chain_deploy_opts_init(struct chain_deploy_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->fee_bps = 250;
    o->royalty_bps = 500;
    o->dispute_window = 3 * 86400;
    o->initial_supply = "1000000";
    o->faucet = CHAIN_FAUCET_AUTO;
    o->timeout_ms = 120000;
}

static bool dev_chain(uint64_t id)
{
    return id == 31337 || id == 1337;
}

/* with_prefix() rewrites e's message as "what: message" and returns rc. */
static int with_prefix(struct ag_err *e, int rc, const char *what)
{
    char msg[sizeof(e->msg)];

    if (!e)
        return rc;
    str_copy(msg, e->msg[0] ? e->msg : ag_strerror(rc), sizeof(msg));
    return ag_errf(e, rc, e->field[0] ? e->field : NULL, "%s: %s", what, msg);
}

/* parse_supply() turns a decimal token amount ("42.5") into base units
 * ("42500000000000000000"). Returns 0 or AG_EINVAL. */
static int parse_supply(const char *s, char *out, size_t size, struct ag_err *e)
{
    const char *dot = strchr(s, '.');
    size_t nint = dot ? (size_t)(dot - s) : strlen(s), nfrac = dot ? strlen(dot + 1) : 0;
    size_t k = 0;

    if (nint == 0 || nint > SUPPLY_INT_MAX || (dot && (nfrac == 0 || nfrac > SUPPLY_DECIMALS)))
        goto bad;
    for (size_t i = 0; i < nint; i++)
        if (s[i] < '0' || s[i] > '9')
            goto bad;
    for (size_t i = 0; i < nfrac; i++)
        if (dot[1 + i] < '0' || dot[1 + i] > '9')
            goto bad;
    assert(size > SUPPLY_INT_MAX + SUPPLY_DECIMALS);
    for (size_t i = 0; i < nint; i++)
        if (k || s[i] != '0')
            out[k++] = s[i];
    for (size_t i = 0; i < SUPPLY_DECIMALS; i++) {
        char c = i < nfrac ? dot[1 + i] : '0';
        if (k || c != '0')
            out[k++] = c;
    }
    if (!k)
        out[k++] = '0';
    out[k] = '\0';
    return 0;
bad:
    return ag_errf(e, AG_EINVAL, "initial_supply",
                   "initial supply must be a decimal amount (up to %d digits and %d decimals): %s",
                   SUPPLY_INT_MAX, SUPPLY_DECIMALS, s);
}

/* parse_role() reads an address option; NULL means the deployer. */
static int parse_role(const char *v, const char *what, const uint8_t deployer[20], uint8_t out[20],
                      struct ag_err *e)
{
    if (!v) {
        memcpy(out, deployer, 20);
        return 0;
    }
    if (addr_parse(v, out, false, NULL))
        return ag_errf(e, AG_EINVAL, what, "%s: not an address: %.60s", what, v);
    return 0;
}

/* check_static() checks what needs no chain: the Marketplace's caps and the
 * supply, so a bad option wastes nothing. */
static int check_static(const struct chain_deploy_opts *o, struct plan *p, struct ag_err *e)
{
    if (!o->rpc || !o->artifacts || !o->out)
        return ag_errf(e, AG_EINVAL, NULL,
                       "deploy needs an RPC URL, the artifacts and a manifest path");
    if (o->fee_bps > CHAIN_MAX_FEE_BPS)
        return ag_errf(e, AG_EINVAL, "fee_bps",
                       "fee %u bps is above the contract's MAX_FEE_BPS (%u)", o->fee_bps,
                       CHAIN_MAX_FEE_BPS);
    if (o->royalty_bps > CHAIN_MAX_ROYALTY_BPS)
        return ag_errf(e, AG_EINVAL, "royalty_bps",
                       "royalty %u bps is above the contract's MAX_ROYALTY_BPS (%u)",
                       o->royalty_bps, CHAIN_MAX_ROYALTY_BPS);
    if (o->dispute_window > CHAIN_MAX_DISPUTE_WIN)
        return ag_errf(e, AG_EINVAL, "dispute_window",
                       "dispute window %" PRIu64 " s is above the contract's MAX_DISPUTE_WINDOW "
                       "(30 days)",
                       o->dispute_window);
    if (o->timeout_ms <= 0)
        return ag_errf(e, AG_EINVAL, "timeout", "the receipt timeout must be positive");
    return parse_supply(o->initial_supply ? o->initial_supply : "1000000", p->supply,
                        sizeof(p->supply), e);
}

/* check_chain() checks what depends on the chain and the deployer. */
static int check_chain(struct deployment *d, struct plan *p, struct ag_err *e)
{
    const struct chain_deploy_opts *o = d->o;
    int rc;

    if (o->faucet == CHAIN_FAUCET_ON && !dev_chain(d->chain_id))
        return ag_errf(e, AG_EINVAL, "faucet",
                       "the faucet is only allowed on chain ids 31337 and 1337, not %" PRIu64,
                       d->chain_id);
    p->faucet =
        o->faucet == CHAIN_FAUCET_ON || (o->faucet == CHAIN_FAUCET_AUTO && dev_chain(d->chain_id));
    p->panel = o->arbitrator && !strcmp(o->arbitrator, "panel");
    if ((rc = parse_role(o->treasury, "treasury", d->from, p->treasury, e)) ||
        (rc = parse_role(o->pricing_signer, "pricing_signer", d->from, p->pricing_signer, e)) ||
        (rc = parse_role(p->panel ? NULL : o->arbitrator, "arbitrator", d->from, p->arbitrator,
                         e)) ||
        (rc = parse_role(o->governance, "governance", d->from, p->governance, e)))
        return rc;
    p->transfer_governance = o->governance && memcmp(p->governance, d->from, 20);
    return 0;
}

/* ---- artifacts ---- */

static void artifact_release(struct artifact *a)
{
    json_decref(a->doc);
    buf_release(&a->code);
    memset(a, 0, sizeof(*a));
}

/* artifact_load() reads DIR/<name>.json as build.mjs writes it. Returns 0,
 * AG_ENOTFOUND when absent, AG_EINVAL / AG_ETOOBIG for a bad one. */
static int artifact_load(const char *dir, const char *name, struct artifact *a, struct ag_err *e)
{
    char path[PATH_MAX];
    const char *code;
    struct buf b;
    int rc;

    memset(a, 0, sizeof(*a));
    buf_init(&a->code, CHAIN_ARTIFACT_MAX);
    if (snprintf(path, sizeof(path), "%s/%s.json", dir, name) >= (int)sizeof(path))
        return ag_errf(e, AG_EINVAL, "artifacts", "artifact path too long");
    if (access(path, F_OK))
        return ag_errf(e, AG_ENOTFOUND, "artifacts",
                       "no %s (compile the contracts: node contracts/build.mjs --out %s)", path,
                       dir);
    buf_init(&b, CHAIN_ARTIFACT_MAX);
    rc = buf_read_file(&b, path);
    if (rc) {
        buf_release(&b);
        return ag_errf(e, rc, "artifacts", "cannot read %s%s", path,
                       rc == AG_ETOOBIG ? ": file too large" : "");
    }
    rc = json_parse((const char *)b.p, b.n, &a->doc, e);
    buf_release(&b);
    if (rc)
        return with_prefix(e, rc, path);
    a->abi = json_object_get(a->doc, "abi");
    code = json_string_value(json_object_get(a->doc, "bytecode"));
    if (!json_is_array(a->abi) || !code || strlen(code) < 4 || ethhex_decode(&a->code, code)) {
        artifact_release(a);
        return ag_errf(e, AG_EINVAL, "artifacts",
                       "%s is not a build.mjs artifact (run contracts/build.mjs)", path);
    }
    return 0;
}

/* param_type() appends the canonical type of one ABI parameter object,
 * spelling tuples out from their components. */
static int param_type(json_t *in, int depth, struct buf *out)
{
    const char *type = json_string_value(json_object_get(in, "type"));
    json_t *comps = json_object_get(in, "components"), *c;
    size_t i;
    int rc;

    if (!type || depth > ABI_MAX_DEPTH)
        return AG_EINVAL;
    if (!str_starts(type, "tuple"))
        return buf_adds(out, type);
    if (!json_is_array(comps))
        return AG_EINVAL;
    rc = buf_addc(out, '(');
    json_array_foreach(comps, i, c)
    {
        if (!rc && i)
            rc = buf_addc(out, ',');
        if (!rc)
            rc = param_type(c, depth + 1, out);
    }
    if (!rc)
        rc = buf_addc(out, ')');
    return rc ? rc : buf_adds(out, type + 5);
}

/* params_type() appends "(t1,t2,...)" for an ABI entry's "inputs". */
static int params_type(json_t *entry, struct buf *out)
{
    json_t *inputs = json_object_get(entry, "inputs"), *in;
    size_t i;
    int rc = buf_addc(out, '(');

    json_array_foreach(inputs, i, in)
    {
        if (!rc && i)
            rc = buf_addc(out, ',');
        if (!rc)
            rc = param_type(in, 0, out);
    }
    return rc ? rc : buf_addc(out, ')');
}

/* collect_errors() adds every custom error of `abi` not yet known to d->errors. */
static int collect_errors(struct deployment *d, json_t *abi, struct ag_err *e)
{
    json_t *ent;
    size_t i;
    int rc = 0;

    json_array_foreach(abi, i, ent)
    {
        const char *name = json_string_value(json_object_get(ent, "name"));
        struct abi_func f;
        struct buf sig;
        uint8_t sel[4], other[4];
        bool dup = false;

        if (strcmp(json_string_value(json_object_get(ent, "type")) ?: "", "error") || !name)
            continue;
        buf_init(&sig, ABI_MAX_TYPE_STR);
        rc = buf_addf(&sig, "error %s", name);
        if (!rc)
            rc = params_type(ent, &sig);
        if (!rc)
            rc = buf_addc(&sig, '\0');
        if (!rc)
            rc = abi_func_parse((const char *)sig.p, &f, e);
        buf_release(&sig);
        if (rc)
            return ag_errf(e, AG_EINVAL, "artifacts", "an error in the ABI cannot be parsed");
        abi_func_selector(&f, sel);
        for (size_t k = 0; k < d->nerrors && !dup; k++)
            dup = !abi_func_selector(&d->errors[k], other) && !memcmp(sel, other, 4);
        if (dup) {
            abi_func_release(&f);
            continue;
        }
        struct abi_func *grown = realloc(d->errors, (d->nerrors + 1) * sizeof(*grown));
        if (!grown) {
            abi_func_release(&f);
            return AG_ENOMEM;
        }
        d->errors = grown;
        d->errors[d->nerrors++] = f;
    }
    return rc;
}

/* ---- sending ---- */

/* revert_text() explains the revert data of the last RPC error: a custom
 * error of our ABIs as "Name(arg, ...)", else Error(string), Panic or hex.
 * anvil sends the data as the error's "data" string; Ganache does so for
 * eth_call but for eth_estimateGas sends an object whose "result" holds it.
 * Returns 0, or AG_ENOTFOUND when the error carried no revert data. */
static int revert_text(struct deployment *d, struct buf *out)
{
    const char *raw = d->rpc.err.data, *hex = raw;
    json_t *obj = NULL, *args = NULL;
    struct buf data;
    int rc = AG_ENOTFOUND;

    buf_init(&data, ABI_MAX_ENCODED);
    if (raw && raw[0] == '{' && !json_parse(raw, strlen(raw), &obj, NULL))
        hex = json_string_value(json_object_get(obj, "result"))
                  ?: json_string_value(json_object_get(obj, "data"));
    if (!hex || !str_starts(hex, "0x") || ethhex_decode(&data, hex))
        goto out;
    for (size_t i = 0; data.n >= 4 && i < d->nerrors; i++) {
        uint8_t sel[4];
        json_t *a;
        size_t k;
        if (abi_func_selector(&d->errors[i], sel) || memcmp(sel, data.p, 4) ||
            abi_decode(d->errors[i].inputs, (const uint8_t *)data.p + 4, data.n - 4, &args, NULL))
            continue;
        rc = buf_addf(out, "%s(", d->errors[i].name);
        json_array_foreach(args, k, a)
        {
            char *js = json_is_string(a) ? NULL : json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!rc)
                rc = buf_addf(out, "%s%s", k ? ", " : "", js ? js : json_string_value(a) ?: "");
            free(js);
        }
        if (!rc)
            rc = buf_add(out, ")", 2);
        goto out;
    }
    rc = abi_revert_reason((const uint8_t *)data.p, data.n, NULL, 0, out);
    if (!rc)
        rc = buf_addc(out, '\0');
out:
    json_decref(obj);
    json_decref(args);
    buf_release(&data);
    return rc;
}

/* send_unlocked() sends with eth_sendTransaction from the node's account,
 * which fills in the nonce and fees and signs. */
static int send_unlocked(struct deployment *d, const uint8_t *to, const struct buf *data,
                         uint64_t gas, uint8_t hash[32], struct ag_err *e)
{
    char from[ETH_ADDR_STR], dest[ETH_ADDR_STR], gas_hex[24];
    struct buf hex;
    json_t *tx, *params, *res = NULL;
    int rc;

    buf_init(&hex, 2 * ABI_MAX_ENCODED + 3);
    addr_format(d->from, from);
    snprintf(gas_hex, sizeof(gas_hex), "0x%" PRIx64, gas);
    if ((rc = ethhex_encode(&hex, data->p, data->n)) || (rc = buf_addc(&hex, '\0')))
        goto out;
    tx = json_pack("{s:s, s:s, s:s}", "from", from, "data", (const char *)hex.p, "gas", gas_hex);
    if (tx && to) {
        addr_format(to, dest);
        json_object_set_new(tx, "to", json_string(dest));
    }
    params = tx ? json_pack("[o]", tx) : NULL;
    rc = params ? rpc_call(&d->rpc, "eth_sendTransaction", params, &res, e) : AG_ENOMEM;
    json_decref(params);
    if (!rc && (!json_is_string(res) || ethhex_decode_fixed(json_string_value(res), hash, 32)))
        rc = ag_errf(e, AG_EBADJSON, NULL, "eth_sendTransaction: the result is not a hash");
out:
    json_decref(res);
    buf_release(&hex);
    return rc;
}

/* send_tx() estimates gas (explaining a revert), sends, waits for the
 * receipt and checks its status. `what` names the step in messages. On
 * success *receipt is a new reference. */
static int send_tx(struct deployment *d, const char *what, const uint8_t *to,
                   const struct buf *data, json_t **receipt, struct ag_err *e)
{
    struct rpc_callmsg m = {d->from, to, NULL, (const uint8_t *)data->p, data->n};
    uint64_t gas = 0, status = 0;
    uint8_t hash[32];
    char hash_hex[67];
    json_t *r = NULL;
    struct buf why;
    int rc;

    buf_init(&why, REVERT_TEXT_MAX);
    rc = rpc_estimate_gas(&d->rpc, &m, &gas, e);
    if (rc == AG_EUNPROCESSABLE && revert_text(d, &why) == 0) {
        rc = ag_errf(e, rc, NULL, "%s reverted: %s", what, (const char *)why.p);
        goto out;
    }
    if (rc) {
        rc = with_prefix(e, rc, what);
        goto out;
    }
    gas += gas * GAS_MARGIN_PCT / 100;
    if (d->signing) {
        struct wallet_tx t = {to, NULL, (const uint8_t *)data->p, data->n, gas};
        rc = wallet_send(&d->w, &t, d->errors, d->nerrors, hash, e);
    } else {
        rc = send_unlocked(d, to, data, gas, hash, e);
    }
    if (!rc)
        rc = rpc_wait_receipt(&d->rpc, hash, d->o->timeout_ms, POLL_MS, &r, e);
    if (rc) {
        rc = with_prefix(e, rc, what);
        goto out;
    }
    snprintf(hash_hex, sizeof(hash_hex), "0x");
    for (int i = 0; i < 32; i++)
        snprintf(hash_hex + 2 + 2 * i, 3, "%02x", hash[i]);
    if (rpc_quantity_u64(json_object_get(r, "status"), &status) || status != 1) {
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "%s: transaction %s failed", what, hash_hex);
        goto out;
    }
    *receipt = r;
    r = NULL;
out:
    json_decref(r);
    buf_release(&why);
    return rc;
}

/* deploy_one() deploys artifact `i` with constructor arguments `args`
 * (a JSON array, consumed) and records its address, transaction and block. */
static int deploy_one(struct deployment *d, int i, json_t *args, struct ag_err *e)
{
    struct artifact *a = &d->art[i];
    struct abi_type *t = NULL;
    struct buf sig, data;
    json_t *ctor = NULL, *ent, *r = NULL;
    const char *tx;
    char what[64], shown[ETH_ADDR_STR];
    size_t k;
    int rc;

    buf_init(&sig, ABI_MAX_TYPE_STR);
    buf_init(&data, CHAIN_ARTIFACT_MAX + ABI_MAX_ENCODED);
    snprintf(what, sizeof(what), "%s: deployment", art_names[i]);
    if (!args) {
        rc = AG_ENOMEM;
        goto out;
    }
    json_array_foreach(a->abi, k, ent)
    {
        if (!strcmp(json_string_value(json_object_get(ent, "type")) ?: "", "constructor"))
            ctor = ent;
    }
    rc = ctor ? params_type(ctor, &sig) : buf_adds(&sig, "()");
    if (!rc)
        rc = buf_addc(&sig, '\0');
    if (!rc && (rc = abi_type_parse((const char *)sig.p, &t, e)))
        rc = ag_errf(e, AG_EINVAL, "artifacts", "%s: the constructor's ABI cannot be parsed",
                     art_names[i]);
    if (rc)
        goto out;
    if (t->nfields != json_array_size(args)) {
        rc = ag_errf(e, AG_EINVAL, "artifacts",
                     "%s: the constructor takes %zu arguments, not %zu (rebuild the artifacts)",
                     art_names[i], t->nfields, json_array_size(args));
        goto out;
    }
    if ((rc = buf_add(&data, a->code.p, a->code.n)) || (rc = abi_encode(t, args, &data, e))) {
        rc = with_prefix(e, rc, art_names[i]);
        goto out;
    }
    if ((rc = send_tx(d, what, NULL, &data, &r, e)))
        goto out;
    tx = json_string_value(json_object_get(r, "transactionHash"));
    if (!json_is_string(json_object_get(r, "contractAddress")) ||
        addr_parse(json_string_value(json_object_get(r, "contractAddress")), d->addr[i], false,
                   NULL) ||
        !tx || strlen(tx) != 66 ||
        rpc_quantity_u64(json_object_get(r, "blockNumber"), &d->block[i])) {
        rc = ag_errf(e, AG_EBADJSON, NULL, "%s: the receipt lacks the contract address", what);
        goto out;
    }
    str_copy(d->tx[i], tx, sizeof(d->tx[i]));
    for (char *p = d->tx[i]; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    d->done[i] = true;
    if (d->o->progress) {
        addr_format(d->addr[i], shown);
        fprintf(d->o->progress, "%-16s %s (block %" PRIu64 ")\n", art_names[i], shown, d->block[i]);
    }
out:
    abi_type_free(t);
    json_decref(args);
    json_decref(r);
    buf_release(&sig);
    buf_release(&data);
    return rc;
}

/* call_tx() sends `sig` with `args` (consumed) to deployed contract `i`. */
static int call_tx(struct deployment *d, int i, const char *sig, json_t *args, struct ag_err *e)
{
    char what[128];
    struct buf data;
    json_t *r = NULL;
    int rc;

    buf_init(&data, ABI_MAX_ENCODED);
    snprintf(what, sizeof(what), "%s.%.*s", art_names[i], (int)strcspn(sig, "("), sig);
    rc = args ? abi_encode_call_sig(sig, args, &data, e) : AG_ENOMEM;
    if (!rc)
        rc = send_tx(d, what, d->addr[i], &data, &r, e);
    if (!rc && d->o->progress)
        fprintf(d->o->progress, "%-16s done\n", what);
    json_decref(args);
    json_decref(r);
    buf_release(&data);
    return rc;
}

/* read_one() runs eth_call of `sig` ("name() returns (type)") on deployed
 * contract `i` and returns its single decoded output as a new reference. */
static int read_one(struct deployment *d, int i, const char *sig, json_t **out, struct ag_err *e)
{
    struct abi_func f;
    struct buf data, res;
    struct rpc_callmsg m = {0};
    json_t *vals = NULL, *empty = json_array();
    int rc;

    buf_init(&data, 64);
    buf_init(&res, 4096);
    if ((rc = abi_func_parse(sig, &f, e)))
        goto done;
    rc = empty ? abi_encode_call(&f, empty, &data, e) : AG_ENOMEM;
    if (!rc) {
        m.to = d->addr[i];
        m.data = (const uint8_t *)data.p;
        m.data_len = data.n;
        rc = rpc_eth_call(&d->rpc, &m, "latest", &res, e);
    }
    if (!rc)
        rc = abi_decode(f.outputs, (const uint8_t *)res.p, res.n, &vals, e);
    if (!rc)
        *out = json_incref(json_array_get(vals, 0));
    if (rc)
        rc = with_prefix(e, rc, sig);
    abi_func_release(&f);
done:
    json_decref(empty);
    json_decref(vals);
    buf_release(&data);
    buf_release(&res);
    return rc;
}

/* read_u64() is read_one() for an integer that fits JSON. */
static int read_u64(struct deployment *d, int i, const char *sig, json_t **out, struct ag_err *e)
{
    json_t *v = NULL;
    uint64_t n = 0;
    int rc = read_one(d, i, sig, &v, e);

    if (!rc && (!json_is_string(v) || parse_u64(json_string_value(v), &n) || n > INT64_MAX))
        rc = ag_errf(e, AG_EBADJSON, NULL, "%s: not a small integer", sig);
    if (!rc)
        *out = json_integer((json_int_t)n);
    json_decref(v);
    return rc;
}

/* ---- the manifest ---- */

static json_t *addr_json(const uint8_t a[20])
{
    char s[ETH_ADDR_STR];
    addr_format(a, s);
    return json_string(s);
}

/* build_manifest() reads the wiring back from the chain, so the manifest
 * states what is, not what was asked, as deploy.mjs does. */
static int build_manifest(struct deployment *d, uint64_t start_block, json_t **out,
                          struct ag_err *e)
{
    static const char *const params[][2] = {{"feeBps", "feeBps() returns (uint256)"},
                                            {"royaltyBps", "royaltyBps() returns (uint256)"},
                                            {"disputeWindow", "disputeWindow() returns (uint256)"}};
    static const char *const roles[][2] = {
        {"governance", "governance() returns (address)"},
        {"pendingGovernance", "pendingGovernance() returns (address)"},
        {"treasury", "treasury() returns (address)"},
        {"pricingSigner", "pricingSigner() returns (address)"},
        {"arbitrator", "arbitrator() returns (address)"}};
    char when[40];
    json_t *m = json_object(), *contracts = json_object(), *p = json_object(), *r = json_object();
    json_t *v = NULL;
    int rc = 0;

    if (!m || !contracts || !p || !r) {
        rc = AG_ENOMEM;
        goto out;
    }
    time_iso8601_ms(when, sizeof(when), time_now_ms());
    json_object_set_new(m, "chainId", json_integer((json_int_t)d->chain_id));
    json_object_set_new(m, "block", json_integer((json_int_t)start_block + 1));
    json_object_set_new(m, "deployer", addr_json(d->from));
    json_object_set_new(m, "deployedAt", json_string(when));
    for (int i = 0; i < A_N; i++) {
        char abi[64];
        if (!d->done[i])
            continue;
        snprintf(abi, sizeof(abi), "abi/%s.json", art_names[i]);
        json_object_set_new(contracts, art_names[i],
                            json_pack("{s:o, s:s, s:s, s:I}", "address", addr_json(d->addr[i]),
                                      "abi", abi, "txHash", d->tx[i], "block",
                                      (json_int_t)d->block[i]));
    }
    json_object_set(m, "contracts", contracts);
    for (size_t i = 0; !rc && i < ARRAY_SIZE(params); i++)
        if (!(rc = read_u64(d, A_MARKET, params[i][1], &v, e)))
            json_object_set_new(p, params[i][0], v);
    if (!rc && !(rc = read_one(d, A_TOKEN, "faucetEnabled() returns (bool)", &v, e)))
        json_object_set_new(p, "faucet", v);
    for (size_t i = 0; !rc && i < ARRAY_SIZE(roles); i++) {
        if ((rc = read_one(d, A_MARKET, roles[i][1], &v, e)))
            break;
        /* no transfer under way reads as the zero address; deploy.mjs writes null */
        if (!strcmp(roles[i][0], "pendingGovernance") &&
            !strcmp(json_string_value(v) ?: "", "0x0000000000000000000000000000000000000000")) {
            json_decref(v);
            v = json_null();
        }
        json_object_set_new(r, roles[i][0], v);
    }
    if (rc)
        goto out;
    json_object_set(m, "params", p);
    json_object_set(m, "roles", r);
    *out = m;
    m = NULL;
out:
    json_decref(m);
    json_decref(contracts);
    json_decref(p);
    json_decref(r);
    return rc;
}

/* write_json() writes `v` (2-space indented, newline-terminated) to `path`
 * through a temporary file that is fsynced and renamed into place. */
static int write_json(const char *path, json_t *v, struct ag_err *e)
{
    char tmp[PATH_MAX];
    char *txt = json_dumps(v, JSON_INDENT(2));
    size_t n = txt ? strlen(txt) : 0, off = 0;
    int fd = -1, rc = 0;

    if (!txt)
        return AG_ENOMEM;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        rc = ag_errf(e, AG_EINVAL, "out", "path too long: %s", path);
        goto out;
    }
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = ag_errf(e, AG_EIO, "out", "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    txt[n] = '\n'; /* json_dumps' NUL becomes the final newline */
    while (off < n + 1) {
        ssize_t w = write(fd, txt + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = ag_errf(e, AG_EIO, "out", "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        fd = -1;
        rc = ag_errf(e, AG_EIO, "out", "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path))
        rc = ag_errf(e, AG_EIO, "out", "cannot rename %s: %s", tmp, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    free(txt);
    return rc;
}

/* write_manifest() writes the ABI files, then the manifest (last: its
 * presence means a complete deployment), then checks that it loads. */
static int write_manifest(struct deployment *d, json_t *m, struct ag_err *e)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    const char *out = d->o->out, *slash = strrchr(out, '/');
    struct chain_manifest check;
    int rc;

    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - out) : 1, slash ? out : ".");
    if (slash == out)
        str_copy(dir, "/", sizeof(dir));
    snprintf(path, sizeof(path), "%s/abi", dir);
    if (mkdir_p(path, 0700))
        return ag_errf(e, AG_EIO, "out", "cannot create %s", path);
    for (int i = 0; i < A_N; i++) {
        if (!d->done[i])
            continue;
        snprintf(path, sizeof(path), "%s/abi/%s.json", dir, art_names[i]);
        if ((rc = write_json(path, d->art[i].abi, e)))
            return rc;
    }
    if ((rc = write_json(out, m, e)))
        return rc;
    if ((rc = chain_manifest_load(out, &check, e)))
        return with_prefix(e, rc, "the manifest written does not load");
    chain_manifest_release(&check);
    return 0;
}

/* ---- the whole ---- */

/* open_sender() connects and picks who signs: the key, or on a development
 * chain the node's first unlocked account. */
static int open_sender(struct deployment *d, struct ag_err *e)
{
    json_t *accts = NULL;
    int rc;

    if ((rc = rpc_init(&d->rpc, d->o->rpc, e)))
        return rc;
    d->rpc_open = true;
    if ((rc = rpc_chain_id(&d->rpc, &d->chain_id, e)))
        return with_prefix(e, rc, "cannot reach the chain node");
    if (d->o->key) {
        if ((rc = wallet_init(&d->w, &d->rpc, d->o->key, e)))
            return rc;
        d->w.receipt_timeout_ms = d->o->timeout_ms;
        d->signing = true;
        memcpy(d->from, d->w.address, 20);
        return 0;
    }
    if (!dev_chain(d->chain_id))
        return ag_errf(e, AG_EINVAL, "key",
                       "no deployer key; the node's unlocked accounts are used only on "
                       "development chains (ids 31337 and 1337), this is chain %" PRIu64,
                       d->chain_id);
    rc = rpc_call(&d->rpc, "eth_accounts", NULL, &accts, e);
    if (!rc && (!json_is_array(accts) || !json_array_size(accts) ||
                !json_is_string(json_array_get(accts, 0)) ||
                addr_parse(json_string_value(json_array_get(accts, 0)), d->from, false, NULL)))
        rc = ag_errf(e, AG_EINVAL, "key", "no deployer key, and the node has no unlocked account");
    json_decref(accts);
    return rc;
}

static void deployment_release(struct deployment *d)
{
    if (d->signing)
        wallet_release(&d->w);
    if (d->rpc_open)
        rpc_release(&d->rpc);
    for (int i = 0; i < A_N; i++)
        artifact_release(&d->art[i]);
    for (size_t i = 0; i < d->nerrors; i++)
        abi_func_release(&d->errors[i]);
    free(d->errors);
}

/* addr_arg() is an address as a JSON string for the ABI encoder. */
static json_t *addr_arg(const uint8_t a[20])
{
    return addr_json(a);
}

int chain_deploy(const struct chain_deploy_opts *o, json_t **manifest, struct ag_err *e)
{
    struct deployment d;
    struct plan p;
    uint64_t start = 0;
    json_t *m = NULL;
    int rc;

    memset(&d, 0, sizeof(d));
    memset(&p, 0, sizeof(p));
    d.o = o;
    if ((rc = check_static(o, &p, e)))
        goto out;
    for (int i = 0; i < A_N; i++) {
        bool wanted = i != A_PANEL || (o->arbitrator && !strcmp(o->arbitrator, "panel"));
        if (wanted && ((rc = artifact_load(o->artifacts, art_names[i], &d.art[i], e)) ||
                       (rc = collect_errors(&d, d.art[i].abi, e))))
            goto out;
    }
    if ((rc = open_sender(&d, e)) || (rc = check_chain(&d, &p, e)))
        goto out;
    if ((rc = rpc_block_number(&d.rpc, &start, e)))
        goto out;
    rc = deploy_one(&d, A_TOKEN, json_pack("[o,s,b]", addr_arg(d.from), p.supply, p.faucet), e);
    if (!rc)
        rc = deploy_one(&d, A_REGISTRY, json_array(), e);
    if (!rc && p.panel) {
        rc = deploy_one(&d, A_PANEL, json_pack("[o]", addr_arg(d.from)), e);
        if (!rc)
            rc = call_tx(&d, A_PANEL, "setArbiter(address,bool)",
                         json_pack("[o,b]", addr_arg(d.from), 1), e);
        if (!rc)
            memcpy(p.arbitrator, d.addr[A_PANEL], 20);
    }
    if (!rc)
        rc = deploy_one(&d, A_MARKET,
                        json_pack("[o,o,o,o,o,o,I,I,I]", addr_arg(d.addr[A_TOKEN]),
                                  addr_arg(d.addr[A_REGISTRY]), addr_arg(d.from),
                                  addr_arg(p.treasury), addr_arg(p.pricing_signer),
                                  addr_arg(p.arbitrator), (json_int_t)o->fee_bps,
                                  (json_int_t)o->royalty_bps, (json_int_t)o->dispute_window),
                        e);
    if (!rc && p.transfer_governance)
        rc = call_tx(&d, A_MARKET, "transferGovernance(address)",
                     json_pack("[o]", addr_arg(p.governance)), e);
    if (rc || (rc = build_manifest(&d, start, &m, e)) || (rc = write_manifest(&d, m, e)))
        goto out;
    if (manifest) {
        *manifest = m;
        m = NULL;
    }
out:
    json_decref(m);
    deployment_release(&d);
    return rc;
}

/* run() spawns argv and waits; 0 when it exited 0. */
static int run(char *const argv[], struct ag_err *e)
{
    pid_t pid;
    int status = 0, err = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);

    if (err)
        return ag_errf(e, AG_EIO, NULL, "cannot run %s: %s", argv[0], strerror(err));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ag_errf(e, AG_EIO, NULL, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "%s %s failed (exit status %d)", argv[0],
                       argv[1], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

int chain_build_artifacts(const char *node, const char *contracts_dir, const char *out,
                          struct ag_err *e)
{
    char script[PATH_MAX];

    if (snprintf(script, sizeof(script), "%s/build.mjs", contracts_dir) >= (int)sizeof(script) ||
        access(script, R_OK))
        return ag_errf(e, AG_EINVAL, "contracts-dir", "no build.mjs in %s", contracts_dir);
    char *argv[] = {(char *)(node ? node : "node"), script, "--out", (char *)out, "--quiet", NULL};
    return run(argv, e);
}
