/* anvil_scenario.c - the chain scenario eth_tool runs against a live anvil (see anvil.mjs).
 *
 * Sends ETH between anvil's well-known dev accounts with our own signed
 * EIP-1559 transactions, deploys Box (compiled by the node script with
 * solc-js), calls it, decodes its events and revert reasons, and prints a
 * JSON summary the node script cross-checks through ethers.
 */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/rpc.h"
#include "eth/secp.h"
#include "eth/u256.h"
#include "eth/wallet.h"

#define DEV0_KEY  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define DEV1_ADDR "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

int anvil_scenario(const char *url, const char *bytecode_file);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "anvil scenario: line %d: %s: ", __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void u256_sub(uint8_t r[32], const uint8_t a[32], const uint8_t b[32])
{
    uint8_t nb[32];
    memcpy(nb, b, 32);
    u256_neg(nb);
    u256_add(r, a, nb);
}

static void dec(const uint8_t v[32], char out[U256_DEC_MAX])
{
    u256_to_dec(v, out);
}

/* mul_u64() sets r = a * b for 64-bit operands. */
static void mul_u64(uint8_t r[32], uint64_t a, uint64_t b)
{
    unsigned __int128 p = (unsigned __int128)a * b;
    memset(r, 0, 32);
    for (int i = 0; i < 16; i++)
        r[31 - i] = (uint8_t)(p >> (8 * i));
}

/* call_box() eth_calls `sig` with `args` on the contract; returns rc and
 * fills `out` with the return data. */
static int call_box(struct rpc_client *c, const uint8_t to[20], const char *sig, json_t *args,
                    struct buf *out, struct ag_err *e)
{
    struct buf data;
    buf_init(&data, 1 << 20);
    int rc = abi_encode_call_sig(sig, args, &data, e);
    struct rpc_callmsg m = {NULL, to, NULL, (const uint8_t *)data.p, data.n};
    if (!rc)
        rc = rpc_eth_call(c, &m, "latest", out, e);
    buf_release(&data);
    json_decref(args);
    return rc;
}

int anvil_scenario(const char *url, const char *bytecode_file)
{
    struct rpc_client c;
    struct wallet w;
    struct ag_err e = {0};
    uint8_t key[32], dev1[20], b0[32], b1[32], a0[32], a1[32], value[32], fee[32], spent[32];
    uint8_t box[20];
    json_t *rcpt = NULL, *summary = json_object();
    char s[U256_DEC_MAX], s2[U256_DEC_MAX], a[ETH_ADDR_STR];
    uint64_t gas_used = 0, price = 0, chain = 0;
    int rc;

    CHECK(rpc_init(&c, url, &e) == 0, "%s", e.msg);
    CHECK(rpc_chain_id(&c, &chain, &e) == 0, "%s", e.msg);
    CHECK(chain == 31337, "chain id %" PRIu64, chain);
    CHECK(ethhex_decode_fixed(DEV0_KEY, key, 32) == 0, "key");
    CHECK(wallet_init(&w, &c, key, &e) == 0, "%s", e.msg);
    CHECK(addr_parse(DEV1_ADDR, dev1, true, &e) == 0, "%s", e.msg);

    /* 1. a plain transfer of 1.5 ETH, balances checked to the wei */
    CHECK(rpc_get_balance(&c, w.address, b0, &e) == 0, "%s", e.msg);
    CHECK(rpc_get_balance(&c, dev1, b1, &e) == 0, "%s", e.msg);
    u256_parse("1500000000000000000", value);
    struct wallet_tx t = {.to = dev1, .value = value};
    rc = wallet_send_wait(&w, &t, NULL, 0, &rcpt, &e);
    CHECK(rc == 0, "transfer: %s", e.msg);
    CHECK(rpc_quantity_u64(json_object_get(rcpt, "gasUsed"), &gas_used) == 0, "gasUsed");
    CHECK(rpc_quantity_u64(json_object_get(rcpt, "effectiveGasPrice"), &price) == 0, "price");
    CHECK(gas_used == 21000, "gas used %" PRIu64, gas_used);
    json_object_set_new(summary, "transferHash",
                        json_copy(json_object_get(rcpt, "transactionHash")));
    json_object_set_new(summary, "transferType", json_copy(json_object_get(rcpt, "type")));
    json_decref(rcpt);
    CHECK(rpc_get_balance(&c, w.address, a0, &e) == 0, "%s", e.msg);
    CHECK(rpc_get_balance(&c, dev1, a1, &e) == 0, "%s", e.msg);
    u256_sub(spent, a1, b1);
    CHECK(u256_cmp(spent, value) == 0, "receiver got the wrong amount");
    mul_u64(fee, gas_used, price);
    u256_sub(spent, b0, a0);
    u256_sub(spent, spent, fee);
    CHECK(u256_cmp(spent, value) == 0, "sender paid the wrong amount");
    dec(a1, s);
    json_object_set_new(summary, "dev1Balance", json_string(s));

    /* 2. three transfers back to back: local nonce management */
    uint8_t hashes[3][32];
    u256_from_u64(1000, value);
    for (int i = 0; i < 3; i++)
        CHECK(wallet_send(&w, &t, NULL, 0, hashes[i], &e) == 0, "burst %d: %s", i, e.msg);
    for (int i = 0; i < 3; i++) {
        CHECK(rpc_wait_receipt(&c, hashes[i], 30000, 100, &rcpt, &e) == 0, "%s", e.msg);
        json_decref(rcpt);
    }
    uint64_t nonce = 0;
    CHECK(rpc_get_nonce(&c, w.address, "latest", &nonce, &e) == 0, "%s", e.msg);
    CHECK(nonce == 4, "nonce %" PRIu64, nonce);
    /* a wallet whose nonce went stale (another sender used it) resynchronizes */
    w.next_nonce = 1;
    uint8_t h[32];
    CHECK(wallet_send(&w, &t, NULL, 0, h, &e) == 0, "stale nonce: %s", e.msg);
    CHECK(rpc_wait_receipt(&c, h, 30000, 100, &rcpt, &e) == 0, "%s", e.msg);
    json_decref(rcpt);

    /* 3. deploy Box */
    struct buf code;
    buf_init(&code, 1 << 20);
    CHECK(buf_read_file(&code, bytecode_file) == 0, "read %s", bytecode_file);
    while (code.n && (code.p[code.n - 1] == '\n' || code.p[code.n - 1] == ' '))
        code.p[--code.n] = '\0';
    struct buf bin;
    buf_init(&bin, 1 << 20);
    CHECK(ethhex_decode(&bin, code.p) == 0, "bytecode hex");
    struct wallet_tx dep = {.data = (const uint8_t *)bin.p, .data_len = bin.n};
    CHECK(wallet_send_wait(&w, &dep, NULL, 0, &rcpt, &e) == 0, "deploy: %s", e.msg);
    const char *ca = json_string_value(json_object_get(rcpt, "contractAddress"));
    CHECK(ca && addr_parse(ca, box, false, &e) == 0, "contract address");
    addr_format(box, a);
    json_object_set_new(summary, "box", json_string(a));
    json_decref(rcpt);

    /* 4. set(42, "hello") and its event */
    struct abi_func errors[1], ev;
    CHECK(abi_func_parse("error Custom(uint256 code, string why)", &errors[0], &e) == 0, "%s",
          e.msg);
    CHECK(abi_func_parse("event Set(address indexed who, uint256 indexed value, string note)", &ev,
                         &e) == 0,
          "%s", e.msg);
    struct buf call;
    buf_init(&call, 1 << 20);
    json_t *args = json_pack("[i,s]", 42, "hello, chain");
    CHECK(abi_encode_call_sig("set(uint256,string)", args, &call, &e) == 0, "%s", e.msg);
    json_decref(args);
    struct wallet_tx st = {.to = box, .data = (const uint8_t *)call.p, .data_len = call.n};
    CHECK(wallet_send_wait(&w, &st, errors, 1, &rcpt, &e) == 0, "set: %s", e.msg);
    json_t *logs = json_object_get(rcpt, "logs");
    CHECK(json_array_size(logs) == 1, "one log");
    json_t *lg = json_array_get(logs, 0);
    json_t *evv = NULL;
    CHECK(abi_event_decode_log(&ev, lg, &evv, &e) == 0, "%s", e.msg);
    char *evs = json_dumps(evv, JSON_COMPACT);
    char want[256];
    addr_format(w.address, a);
    snprintf(want, sizeof(want), "[\"%s\",\"42\",\"hello, chain\"]", a);
    CHECK(!strcmp(evs, want), "event %s", evs);
    free(evs);
    json_object_set_new(summary, "setBlock", json_copy(json_object_get(rcpt, "blockNumber")));
    json_decref(rcpt);

    /* the same log through eth_getLogs */
    uint8_t topic0[32];
    abi_event_topic(&ev, topic0);
    struct buf th;
    buf_init(&th, 128);
    ethhex_encode(&th, topic0, 32);
    json_t *filter =
        json_pack("{s:s,s:s,s:s,s:[s]}", "fromBlock", "0x0", "toBlock", "latest", "address",
                  json_string_value(json_object_get(summary, "box")), "topics", th.p);
    json_t *found = NULL;
    CHECK(rpc_get_logs(&c, filter, &found, &e) == 0, "getLogs: %s", e.msg);
    CHECK(json_array_size(found) == 1, "getLogs found %zu", json_array_size(found));
    /* the log from eth_getLogs decodes like the receipt's */
    json_t *evv2 = NULL;
    CHECK(abi_event_decode_log(&ev, json_array_get(found, 0), &evv2, &e) == 0, "%s", e.msg);
    CHECK(json_equal(evv2, evv), "getLogs event differs from the receipt's");
    json_decref(evv2);
    json_decref(found);
    json_decref(filter);
    buf_release(&th);
    json_decref(evv);
    buf_release(&call);

    /* 5. eth_call get() */
    struct buf out;
    buf_init(&out, 1 << 20);
    CHECK(call_box(&c, box, "get()", json_array(), &out, &e) == 0, "get: %s", e.msg);
    struct abi_type *rt = NULL;
    json_t *got = NULL;
    CHECK(abi_type_parse("(uint256,string)", &rt, &e) == 0, "%s", e.msg);
    CHECK(abi_decode(rt, (const uint8_t *)out.p, out.n, &got, &e) == 0, "%s", e.msg);
    char *gs = json_dumps(got, JSON_COMPACT);
    CHECK(!strcmp(gs, "[\"42\",\"hello, chain\"]"), "get returned %s", gs);
    free(gs);
    json_decref(got);
    abi_type_free(rt);

    /* 6. revert reasons: Error(string), a custom error, a panic */
    struct buf why;
    buf_init(&why, 4096);
    buf_reset(&out);
    rc = call_box(&c, box, "set(uint256,string)", json_pack("[i,s]", 5000, "x"), &out, &e);
    CHECK(rc == AG_EUNPROCESSABLE, "set(5000) should revert, rc %d", rc);
    CHECK(rpc_revert_reason(&c, errors, 1, &why) == 0 && !strcmp(why.p, "value too big"),
          "reason '%s'", why.p);
    json_object_set_new(summary, "revertError", json_string(why.p));
    buf_reset(&why);
    rc = call_box(&c, box, "custom()", json_array(), &out, &e);
    CHECK(rc == AG_EUNPROCESSABLE && rpc_revert_reason(&c, errors, 1, &why) == 0,
          "custom: rc %d %s data %s", rc, e.msg, c.err.data ? c.err.data : "-");
    CHECK(!strcmp(why.p, "Custom[\"7\",\"seven\"]"), "custom reason '%s'", why.p);
    json_object_set_new(summary, "revertCustom", json_string(why.p));
    buf_reset(&why);
    rc = call_box(&c, box, "panic(uint256)", json_pack("[i]", 3), &out, &e);
    CHECK(rc == AG_EUNPROCESSABLE && rpc_revert_reason(&c, errors, 1, &why) == 0, "panic");
    CHECK(!strcmp(why.p, "panic 0x32: array index out of bounds"), "panic reason '%s'", why.p);
    json_object_set_new(summary, "revertPanic", json_string(why.p));

    /* a transaction that would revert fails at estimation with the reason */
    buf_reset(&call);
    args = json_pack("[i,s]", 5000, "x");
    CHECK(abi_encode_call_sig("set(uint256,string)", args, &call, &e) == 0, "%s", e.msg);
    json_decref(args);
    st.data = (const uint8_t *)call.p;
    st.data_len = call.n;
    rc = wallet_send(&w, &st, errors, 1, h, &e);
    CHECK(rc == AG_EUNPROCESSABLE && strstr(e.msg, "value too big"), "send revert: %s", e.msg);

    /* 7. batch: two good calls and one unknown method */
    struct rpc_req reqs[3] = {{"eth_chainId", NULL, NULL, NULL},
                              {"eth_blockNumber", NULL, NULL, NULL},
                              {"no_such_method", NULL, NULL, NULL}};
    CHECK(rpc_batch(&c, reqs, 3, &e) == 0, "batch: %s", e.msg);
    CHECK(!strcmp(json_string_value(reqs[0].result), "0x7a69"), "batch chain id");
    CHECK(reqs[1].result && !reqs[1].error, "batch block number");
    CHECK(reqs[2].error && json_integer_value(json_object_get(reqs[2].error, "code")) == -32601,
          "batch error");
    rpc_req_release(reqs, 3);
    /* a JSON-RPC error is surfaced with its code */
    json_t *res = NULL;
    rc = rpc_call(&c, "no_such_method", NULL, &res, &e);
    CHECK(rc == AG_EUNPROCESSABLE && c.err.code == -32601, "error code %ld", c.err.code);

    uint64_t bn = 0;
    CHECK(rpc_block_number(&c, &bn, &e) == 0, "%s", e.msg);
    json_object_set_new(summary, "blockNumber", json_integer((json_int_t)bn));
    addr_format(w.address, a);
    json_object_set_new(summary, "from", json_string(a));
    u256_to_dec(a0, s2);
    json_object_set_new(summary, "dev0BalanceAfterTransfer", json_string(s2));
    json_dumpf(summary, stdout, JSON_COMPACT);
    printf("\n");

    json_decref(summary);
    abi_func_release(&errors[0]);
    abi_func_release(&ev);
    buf_release(&why);
    buf_release(&out);
    buf_release(&code);
    buf_release(&bin);
    buf_release(&call);
    wallet_release(&w);
    rpc_release(&c);
    return 0;
}

int anvil_legacy_scenario(const char *url);

/* anvil_legacy_scenario() runs on a pre-London anvil (--hardfork berlin):
 * with no baseFeePerGas the wallet must fall back to an EIP-155 legacy
 * transaction priced by eth_gasPrice. Prints {"hash": ...}. */
int anvil_legacy_scenario(const char *url)
{
    struct rpc_client c;
    struct wallet w;
    struct ag_err e = {0};
    uint8_t key[32], dev1[20], value[32], base[32];
    json_t *rcpt = NULL;
    CHECK(rpc_init(&c, url, &e) == 0, "%s", e.msg);
    CHECK(rpc_base_fee(&c, base, &e) == AG_ENOTFOUND, "a berlin chain has no base fee");
    CHECK(ethhex_decode_fixed(DEV0_KEY, key, 32) == 0, "key");
    CHECK(wallet_init(&w, &c, key, &e) == 0, "%s", e.msg);
    CHECK(addr_parse(DEV1_ADDR, dev1, true, &e) == 0, "%s", e.msg);
    u256_from_u64(777, value);
    struct wallet_tx t = {.to = dev1, .value = value};
    CHECK(wallet_send_wait(&w, &t, NULL, 0, &rcpt, &e) == 0, "legacy transfer: %s", e.msg);
    printf("{\"hash\":\"%s\"}\n", json_string_value(json_object_get(rcpt, "transactionHash")));
    json_decref(rcpt);
    wallet_release(&w);
    rpc_release(&c);
    return 0;
}
