/* eth_tool.c - drives agora_eth from the node interop tests: JSON cases in, JSON results out.
 *
 * Usage: eth_tool OP < cases.json > results.json, where cases.json is an
 * array and the result array has one entry per case: either the result or
 * {"error": "message"}. `eth_tool anvil URL BYTECODE_HEX_FILE` runs the
 * chain scenario against a live node instead (see anvil.mjs).
 */
#include "core/common.h"

#include "cli/cli.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/keystore.h"
#include "eth/msg.h"
#include "eth/rpc.h"
#include "eth/secp.h"
#include "eth/tx.h"
#include "eth/u256.h"
#include "eth/wallet.h"

#include <sodium.h>

static json_t *hexj(const void *p, size_t n)
{
    struct buf b;
    buf_init(&b, 2 * n + 3);
    ethhex_encode(&b, p, n);
    json_t *j = json_stringn(b.p, b.n);
    buf_release(&b);
    return j;
}

static json_t *errj(const struct ag_err *e, int rc)
{
    return json_pack("{s:s,s:i}", "error", e->msg[0] ? e->msg : ag_strerror(rc), "code", rc);
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int u256_field(json_t *o, const char *k, uint8_t out[32])
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        memset(out, 0, 32);
        return 0;
    }
    if (json_is_integer(v)) {
        u256_from_u64((uint64_t)json_integer_value(v), out);
        return 0;
    }
    return u256_parse(json_string_value(v), out);
}

static int u64_field(json_t *o, const char *k, uint64_t *out)
{
    uint8_t w[32];
    int rc = u256_field(o, k, w);
    if (!rc && !u256_to_u64(w, out))
        rc = AG_EINVAL;
    return rc;
}

static json_t *op_abi_encode(json_t *c, struct ag_err *e)
{
    struct abi_type *t = NULL;
    struct buf b;
    json_t *r = NULL;
    int rc;
    buf_init(&b, ABI_MAX_ENCODED);
    rc = abi_type_parse(str(c, "type"), &t, e);
    if (!rc)
        rc = abi_encode(t, json_object_get(c, "value"), &b, e);
    r = rc ? errj(e, rc) : hexj(b.p, b.n);
    abi_type_free(t);
    buf_release(&b);
    return r;
}

static json_t *op_abi_decode(json_t *c, struct ag_err *e)
{
    struct abi_type *t = NULL;
    struct buf b;
    json_t *r = NULL;
    int rc;
    buf_init(&b, ABI_MAX_ENCODED);
    rc = abi_type_parse(str(c, "type"), &t, e);
    if (!rc)
        rc = ethhex_decode(&b, str(c, "data"));
    if (!rc)
        rc = abi_decode(t, (const uint8_t *)b.p, b.n, &r, e);
    if (rc)
        r = errj(e, rc);
    abi_type_free(t);
    buf_release(&b);
    return r;
}

static json_t *op_selector(json_t *c, struct ag_err *e)
{
    uint8_t sel[4];
    int rc = abi_selector(json_string_value(c), sel, e);
    return rc ? errj(e, rc) : hexj(sel, 4);
}

static json_t *op_sign_tx(json_t *c, struct ag_err *e)
{
    struct eth_tx tx = {0};
    struct buf data, raw;
    uint8_t key[32], hash[32];
    struct eth_access acl[64];
    uint8_t keys[256][32];
    size_t nkeys = 0;
    json_t *r = NULL, *al;
    int rc = 0;
    buf_init(&data, 1 << 20);
    buf_init(&raw, TX_MAX_RAW);
    tx.type = (int)json_integer_value(json_object_get(c, "type"));
    if (ethhex_decode_fixed(str(c, "key"), key, 32) || u64_field(c, "chainId", &tx.chain_id) ||
        u64_field(c, "nonce", &tx.nonce) || u64_field(c, "gasLimit", &tx.gas_limit) ||
        u256_field(c, "maxPriorityFeePerGas", tx.max_priority_fee) ||
        u256_field(c, "maxFeePerGas", tx.max_fee) || u256_field(c, "gasPrice", tx.gas_price) ||
        u256_field(c, "value", tx.value) || ethhex_decode(&data, str(c, "data"))) {
        rc = ag_errf(e, AG_EINVAL, NULL, "bad case fields");
        goto out;
    }
    if (json_is_string(json_object_get(c, "to"))) {
        tx.has_to = true;
        if ((rc = addr_parse(str(c, "to"), tx.to, false, e)))
            goto out;
    }
    tx.data = (const uint8_t *)data.p;
    tx.data_len = data.n;
    al = json_object_get(c, "accessList");
    for (size_t i = 0; i < json_array_size(al) && i < ARRAY_SIZE(acl); i++) {
        json_t *ent = json_array_get(al, i), *sk = json_object_get(ent, "storageKeys");
        if ((rc = addr_parse(str(ent, "address"), acl[i].address, false, e)))
            goto out;
        acl[i].keys = (const uint8_t(*)[32])keys[nkeys];
        acl[i].nkeys = 0;
        for (size_t j = 0; j < json_array_size(sk) && nkeys < ARRAY_SIZE(keys); j++) {
            if (ethhex_decode_fixed(json_string_value(json_array_get(sk, j)), keys[nkeys], 32)) {
                rc = ag_errf(e, AG_EINVAL, NULL, "bad storage key");
                goto out;
            }
            nkeys++;
            acl[i].nkeys++;
        }
        tx.naccess = i + 1;
    }
    tx.access = acl;
    rc = tx_sign(&tx, key, &raw, hash, e);
    if (!rc)
        r = json_pack("{s:o,s:o}", "raw", hexj(raw.p, raw.n), "hash", hexj(hash, 32));
out:
    if (rc)
        r = errj(e, rc);
    sodium_memzero(key, 32);
    buf_release(&data);
    buf_release(&raw);
    return r;
}

static json_t *op_decode_tx(json_t *c, struct ag_err *e)
{
    struct buf raw;
    struct eth_tx_decoded d;
    char from[ETH_ADDR_STR], v[U256_DEC_MAX];
    json_t *r;
    int rc;
    buf_init(&raw, TX_MAX_RAW);
    rc = ethhex_decode(&raw, json_string_value(c));
    if (!rc)
        rc = tx_decode((const uint8_t *)raw.p, raw.n, &d, e);
    if (rc) {
        r = errj(e, rc);
    } else {
        addr_format(d.from, from);
        u256_to_dec(d.tx.value, v);
        r = json_pack("{s:s,s:o,s:I,s:I,s:s,s:I}", "from", from, "hash", hexj(d.hash, 32), "nonce",
                      (json_int_t)d.tx.nonce, "chainId", (json_int_t)d.tx.chain_id, "value", v,
                      "gasLimit", (json_int_t)d.tx.gas_limit);
        tx_decoded_release(&d);
    }
    buf_release(&raw);
    return r;
}

static json_t *op_eip712(json_t *c, struct ag_err *e)
{
    uint8_t d[32];
    int rc = eip712_hash(c, d, NULL, NULL, e);
    return rc ? errj(e, rc) : hexj(d, 32);
}

static json_t *op_keystore_encrypt(json_t *c, struct ag_err *e)
{
    uint8_t key[32];
    json_t *ks = NULL;
    const char *pw = str(c, "password");
    int rc = ethhex_decode_fixed(str(c, "key"), key, 32);
    if (!rc)
        rc = keystore_encrypt(key, pw, strlen(pw),
                              (uint64_t)json_integer_value(json_object_get(c, "n")), &ks, e);
    sodium_memzero(key, 32);
    if (!rc) {
        const char *dir = str(c, "dir");
        if (*dir) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, str(c, "file"));
            rc = keystore_write_file(path, ks, e);
        }
    }
    return rc ? errj(e, rc) : ks;
}

static json_t *op_keystore_decrypt(json_t *c, struct ag_err *e)
{
    uint8_t key[32];
    json_t *ks = NULL;
    const char *pw = str(c, "password");
    const char *text = str(c, "json");
    int rc = json_parse(text, strlen(text), &ks, e);
    if (!rc)
        rc = keystore_decrypt(ks, pw, strlen(pw), key, e);
    json_decref(ks);
    json_t *r = rc ? errj(e, rc) : hexj(key, 32);
    sodium_memzero(key, 32);
    return r;
}

static json_t *op_siwe_verify(json_t *c, struct ag_err *e)
{
    struct siwe_msg m;
    json_t *x = json_object_get(c, "expect");
    struct siwe_expect ex = {0};
    const char *text = str(c, "message");
    ex.domain = json_string_value(json_object_get(x, "domain"));
    ex.uri = json_string_value(json_object_get(x, "uri"));
    ex.nonce = json_string_value(json_object_get(x, "nonce"));
    ex.chain_id = (uint64_t)json_integer_value(json_object_get(x, "chainId"));
    ex.now = json_integer_value(json_object_get(c, "now"));
    int rc = siwe_verify(text, strlen(text), str(c, "signature"), &ex, &m, e);
    if (rc)
        return errj(e, rc);
    json_t *r =
        json_pack("{s:s,s:s,s:s}", "address", m.address, "domain", m.domain, "nonce", m.nonce);
    siwe_msg_release(&m);
    return r;
}

static char *opt(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? (char *)s : NULL;
}

static json_t *op_siwe_sign(json_t *c, struct ag_err *e)
{
    struct siwe_msg m = {0};
    struct buf text;
    uint8_t key[32], addr[20];
    struct eth_sig sig;
    char sighex[133];
    char *res[SIWE_MAX_RESOURCES];
    json_t *r = NULL, *rs = json_object_get(c, "resources");
    int rc;
    buf_init(&text, SIWE_MAX_LEN);
    rc = ethhex_decode_fixed(str(c, "key"), key, 32);
    if (!rc)
        rc = secp_address(key, addr);
    if (rc) {
        r = errj(e, ag_errf(e, AG_EINVAL, "key", "bad key"));
        goto out;
    }
    addr_format(addr, m.address);
    m.scheme = opt(c, "scheme");
    m.domain = opt(c, "domain");
    m.statement = opt(c, "statement");
    m.uri = opt(c, "uri");
    str_copy(m.version, "1", sizeof(m.version));
    m.chain_id = (uint64_t)json_integer_value(json_object_get(c, "chainId"));
    m.nonce = opt(c, "nonce");
    m.issued_at = opt(c, "issuedAt");
    m.expiration_time = opt(c, "expirationTime");
    m.not_before = opt(c, "notBefore");
    m.request_id = opt(c, "requestId");
    for (size_t i = 0; i < json_array_size(rs) && i < SIWE_MAX_RESOURCES; i++)
        res[m.nresources++] = (char *)json_string_value(json_array_get(rs, i));
    m.resources = res;
    rc = siwe_format(&m, &text, e);
    if (!rc)
        rc = eip191_sign(key, text.p, text.n, &sig);
    if (rc) {
        r = errj(e, rc);
        goto out;
    }
    sig_format_hex(&sig, sighex);
    r = json_pack("{s:s,s:s,s:s}", "message", text.p, "signature", sighex, "address", m.address);
out:
    sodium_memzero(key, 32);
    buf_release(&text);
    return r;
}

static int run_cases(const char *op)
{
    static const struct {
        const char *name;
        json_t *(*fn)(json_t *, struct ag_err *);
    } ops[] = {
        {"abi-encode", op_abi_encode},
        {"abi-decode", op_abi_decode},
        {"selector", op_selector},
        {"sign-tx", op_sign_tx},
        {"decode-tx", op_decode_tx},
        {"eip712", op_eip712},
        {"keystore-encrypt", op_keystore_encrypt},
        {"keystore-decrypt", op_keystore_decrypt},
        {"siwe-verify", op_siwe_verify},
        {"siwe-sign", op_siwe_sign},
    };
    json_t *(*fn)(json_t *, struct ag_err *) = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (!strcmp(op, ops[i].name))
            fn = ops[i].fn;
    if (!fn) {
        fprintf(stderr, "eth_tool: unknown op %s\n", op);
        return 2;
    }
    json_error_t je;
    json_t *cases = json_loadf(stdin, 0, &je), *out = json_array(), *c;
    size_t i;
    if (!json_is_array(cases)) {
        fprintf(stderr, "eth_tool: stdin is not a JSON array: %s\n", je.text);
        return 2;
    }
    json_array_foreach(cases, i, c)
    {
        struct ag_err e = {0};
        json_array_append_new(out, fn(c, &e));
    }
    json_dumpf(out, stdout, JSON_COMPACT);
    json_decref(cases);
    json_decref(out);
    return 0;
}

int anvil_scenario(const char *url, const char *bytecode_file);
int anvil_legacy_scenario(const char *url);

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "anvil-legacy"))
        return anvil_legacy_scenario(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "anvil"))
        return anvil_scenario(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: eth_tool OP < cases.json | eth_tool anvil URL BYTECODE_FILE\n");
        return 2;
    }
    return run_cases(argv[1]);
}
