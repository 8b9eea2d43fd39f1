/* manifest.c - deployment manifests: reading chain.json and its ABIs, and on-chain licence
 * checks. (Deploying is deploy.c.) */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/addr.h"
#include "eth/keccak.h"
#include "eth/rpc.h"

#include <limits.h>

const char *const chain_contract_names[CHAIN_NCONTRACTS] = {"AgoraToken", "ModelRegistry",
                                                            "Marketplace"};

/* read_file() reads at most `max` bytes of `path` into a NUL-terminated buffer. */
static int read_file(const char *path, size_t max, struct buf *out, struct ag_err *e)
{
    FILE *f = fopen(path, "rb");
    char tmp[8192];
    size_t n;
    int rc = 0;

    if (!f)
        return ag_errf(e, errno == ENOENT ? AG_ENOTFOUND : AG_EIO, NULL, "cannot open %s: %s", path,
                       strerror(errno));
    buf_init(out, max);
    while (!rc && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        rc = buf_add(out, tmp, n);
    if (!rc && ferror(f))
        rc = AG_EIO;
    if (!rc)
        rc = buf_add(out, "", 1);
    fclose(f);
    if (rc) {
        buf_release(out);
        return ag_errf(e, rc, NULL, "cannot read %s%s", path,
                       rc == AG_ETOOBIG ? ": file too large" : "");
    }
    return 0;
}

/* event_sig() builds "event Name(type indexed name, ...)" from an ABI entry;
 * AG_EINVAL for entries it cannot express (tuple parameters). */
static int event_sig(json_t *ent, struct buf *sig)
{
    const char *name = json_string_value(json_object_get(ent, "name"));
    json_t *inputs = json_object_get(ent, "inputs"), *in;
    size_t i;
    int rc;

    if (!name || !json_is_array(inputs))
        return AG_EINVAL;
    rc = buf_addf(sig, "event %s(", name);
    json_array_foreach(inputs, i, in)
    {
        const char *type = json_string_value(json_object_get(in, "type"));
        const char *pn = json_string_value(json_object_get(in, "name"));
        if (!type || str_starts(type, "tuple"))
            return AG_EINVAL;
        if (!rc)
            rc = buf_addf(sig, "%s%s%s %s", i ? ", " : "", type,
                          json_is_true(json_object_get(in, "indexed")) ? " indexed" : "",
                          pn && *pn ? pn : "arg");
    }
    if (!rc)
        rc = buf_add(sig, ")", 2);
    return rc;
}

static int load_abi(json_t *contract, const char *dir, json_t **out, struct ag_err *e)
{
    json_t *abi = json_object_get(contract, "abi");
    char path[PATH_MAX];
    struct buf b;
    int rc;

    if (json_is_array(abi)) {
        *out = json_incref(abi);
        return 0;
    }
    if (!json_is_string(abi) || strstr(json_string_value(abi), ".."))
        return ag_errf(e, AG_EINVAL, "abi", "the manifest names no usable ABI");
    if (snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(abi)) >= (int)sizeof(path))
        return ag_errf(e, AG_EINVAL, "abi", "ABI path too long");
    if ((rc = read_file(path, CHAIN_MANIFEST_MAX, &b, e)))
        return rc;
    rc = json_parse((const char *)b.p, b.n - 1, out, e);
    buf_release(&b);
    if (!rc && !json_is_array(*out)) {
        json_decref(*out);
        rc = ag_errf(e, AG_EINVAL, "abi", "%s is not an ABI array", path);
    }
    return rc;
}

static int add_events(struct chain_manifest *m, int ci, json_t *abi, struct ag_err *e)
{
    json_t *ent;
    size_t i;
    int rc = 0;

    json_array_foreach(abi, i, ent)
    {
        struct chain_event_def *d;
        struct buf sig;
        if (strcmp(json_string_value(json_object_get(ent, "type")) ?: "", "event"))
            continue;
        if (m->nevents >= CHAIN_MAX_EVENTS)
            return ag_errf(e, AG_ETOOBIG, "abi", "too many events in the ABIs");
        buf_init(&sig, ABI_MAX_TYPE_STR);
        if (event_sig(ent, &sig)) {
            buf_release(&sig);
            continue;
        }
        d = &m->events[m->nevents];
        d->contract = ci;
        rc = abi_func_parse((const char *)sig.p, &d->ev, e);
        buf_release(&sig);
        if (rc)
            return rc;
        abi_event_topic(&d->ev, d->topic);
        m->nevents++;
    }
    return rc;
}

void chain_manifest_release(struct chain_manifest *m)
{
    for (size_t i = 0; i < m->nevents; i++)
        abi_func_release(&m->events[i].ev);
    free(m->events);
    json_decref(m->doc);
    memset(m, 0, sizeof(*m));
}

int chain_manifest_load(const char *path, struct chain_manifest *m, struct ag_err *e)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    json_t *contracts, *abi = NULL;
    int64_t chain_id = 0, block = 0;
    struct buf b;
    int rc;

    memset(m, 0, sizeof(*m));
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if ((rc = read_file(path, CHAIN_MANIFEST_MAX, &b, e)))
        return rc;
    rc = json_parse((const char *)b.p, b.n - 1, &m->doc, e);
    buf_release(&b);
    if (rc)
        goto out;
    if ((rc = json_get_int(m->doc, "chainId", true, &chain_id, e)) ||
        (rc = json_get_int(m->doc, "block", true, &block, e)) ||
        (rc = json_get_object(m->doc, "contracts", true, &contracts, e)))
        goto out;
    if (chain_id <= 0 || block < 0) {
        rc = ag_errf(e, AG_EINVAL, "chainId", "bad chainId or block in %s", path);
        goto out;
    }
    m->chain_id = (uint64_t)chain_id;
    m->block = (uint64_t)block;
    if (!(m->events = calloc(CHAIN_MAX_EVENTS, sizeof(*m->events)))) {
        rc = AG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < CHAIN_NCONTRACTS; i++) {
        json_t *c = json_object_get(contracts, chain_contract_names[i]);
        const char *a = json_string_value(json_object_get(c, "address"));
        if (!a || addr_parse(a, m->addr[i], false, e)) {
            rc = ag_errf(e, AG_EINVAL, chain_contract_names[i], "%s: no valid address for %s", path,
                         chain_contract_names[i]);
            goto out;
        }
        snprintf(m->addr_hex[i], sizeof(m->addr_hex[i]), "0x");
        for (int k = 0; k < 20; k++)
            snprintf(m->addr_hex[i] + 2 + 2 * k, 3, "%02x", m->addr[i][k]);
        if ((rc = load_abi(c, dir, &abi, e)) || (rc = add_events(m, i, abi, e)))
            goto out;
        json_decref(abi);
        abi = NULL;
    }
out:
    json_decref(abi);
    if (rc)
        chain_manifest_release(m);
    return rc;
}

void chain_slug_hash(const char *owner, const char *slug, char out[67])
{
    struct keccak k;
    uint8_t h[32];

    keccak_init(&k);
    keccak_update(&k, owner, strlen(owner));
    keccak_update(&k, "/", 1);
    keccak_update(&k, slug, strlen(slug));
    keccak_final(&k, h);
    snprintf(out, 67, "0x");
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
}

int chain_call(struct rpc_client *c, const uint8_t to[20], const char *sig, json_t *args,
               json_t **out, struct ag_err *e)
{
    struct buf data, res;
    struct rpc_callmsg msg = {0};
    struct abi_func f;
    int rc;

    buf_init(&data, 64 * 1024);
    buf_init(&res, (size_t)1 << 20);
    if ((rc = abi_func_parse(sig, &f, e))) {
        json_decref(args);
        goto out;
    }
    if (!f.outputs) {
        rc = ag_errf(e, AG_EINVAL, NULL, "%s: no returns (...)", sig);
        abi_func_release(&f);
        json_decref(args);
        goto out;
    }
    if (!(rc = abi_encode_call(&f, args, &data, e))) {
        msg.to = to;
        msg.data = (const uint8_t *)data.p;
        msg.data_len = data.n;
        rc = rpc_eth_call(c, &msg, "latest", &res, e);
    }
    if (!rc && (rc = abi_decode(f.outputs, (const uint8_t *)res.p, res.n, out, e)))
        rc = ag_errf(e, AG_EBADJSON, NULL, "%s: unreadable answer: %s", sig, e ? e->msg : "");
    abi_func_release(&f);
    json_decref(args);
out:
    buf_release(&data);
    buf_release(&res);
    return rc;
}

int chain_licence_onchain(const char *rpc_url, const struct chain_manifest *m,
                          const char *slug_hash, const char *const *addrs, size_t n, bool *has,
                          struct ag_err *e)
{
    struct rpc_client c;
    json_t *id = NULL, *lic = NULL;
    const char *ids;
    int rc;

    *has = false;
    if ((rc = rpc_init(&c, rpc_url, e)))
        return rc;
    c.retries = 0;
    c.timeout_ms = 3000;
    c.connect_timeout_ms = 1000;
    rc = chain_call(&c, m->addr[CHAIN_REGISTRY], "modelIdBySlug(bytes32) returns (uint256)",
                    json_pack("[s]", slug_hash), &id, e);
    ids = json_string_value(json_array_get(id, 0));
    if (rc || !ids || !strcmp(ids, "0"))
        goto out;
    for (size_t i = 0; !rc && !*has && i < n; i++) {
        rc =
            chain_call(&c, m->addr[CHAIN_MARKETPLACE], "hasLicense(uint256,address) returns (bool)",
                       json_pack("[s,s]", ids, addrs[i]), &lic, e);
        *has = !rc && json_is_true(json_array_get(lic, 0));
        json_decref(lic);
        lic = NULL;
    }
out:
    json_decref(id);
    rpc_release(&c);
    return rc;
}
