/* test_deploy.c - chain_deploy() against a real anvil and a real Ganache: deploy, then read the
 * owner, roles and parameters back with eth_call; option checks and reverts.
 *
 * Needs the compiled contracts ($CONTRACTS_OUT, set by tests/contracts.cmake; else they are
 * compiled with node into a per-user cache) and node_modules ($AGORA_SRC, else the source tree
 * this file is in). */
#include "core/common.h"
#include "core/json.h"
#include "core/util.h"
#include "chain/chain.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The first, eighth and tenth development accounts of both chains (mnemonic "test ... junk"). */
static const uint8_t KEY0[32] = {0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6,
                                 0xb4, 0xd2, 0x38, 0xff, 0x94, 0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed,
                                 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2, 0xff, 0x80};
#define ADDR0 "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#define ADDR8 "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"
#define ADDR9 "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
#define ZERO  "0x0000000000000000000000000000000000000000"

static char src_root[PATH_MAX];
static char artifacts_dir[PATH_MAX];

/* paths() finds the source tree and the compiled contracts. */
static void paths(void)
{
    const char *root = getenv("AGORA_SRC"), *out = getenv("CONTRACTS_OUT");
    struct ag_err e = {0};
    char contracts[PATH_MAX + 16];

    if (root) {
        str_copy(src_root, root, sizeof(src_root));
    } else {
        /* __FILE__ is absolute in the CMake build: strip tests/unit/chain/test_deploy.c */
        str_copy(src_root, __FILE__, sizeof(src_root));
        for (int i = 0; i < 4; i++) {
            char *slash = strrchr(src_root, '/');
            ASSERT(slash);
            *slash = '\0';
        }
    }
    if (out) {
        str_copy(artifacts_dir, out, sizeof(artifacts_dir));
        return;
    }
    snprintf(artifacts_dir, sizeof(artifacts_dir), "/tmp/agora-contracts-%ld", (long)getuid());
    snprintf(contracts, sizeof(contracts), "%s/contracts", src_root);
    if (chain_build_artifacts(NULL, contracts, artifacts_dir, &e))
        test_fail(__FILE__, __LINE__, "compiling the contracts: %s", e.msg);
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
        !getsockname(fd, (struct sockaddr *)&sa, &len))
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

struct devchain {
    pid_t pid;
    char url[64];
};

/* chain_start() starts anvil or Ganache (`ganache`) on a free port with chain id `chain_id`
 * (0: the chain's default) and waits until it answers eth_chainId. */
static void chain_start(struct devchain *c, bool ganache, unsigned chain_id)
{
    char bin[PATH_MAX + 64], port_s[16], id_s[16];
    posix_spawn_file_actions_t fa;

    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port(), argc = 0;
        char *argv[24];
        ASSERT(port > 0);
        snprintf(port_s, sizeof(port_s), "%d", port);
        snprintf(id_s, sizeof(id_s), "%u", chain_id);
        if (ganache) {
            snprintf(bin, sizeof(bin), "%s/node_modules/ganache/dist/node/cli.js", src_root);
            char *ga[] = {"node",
                          bin,
                          "--server.host",
                          "127.0.0.1",
                          "--server.port",
                          port_s,
                          "--wallet.mnemonic",
                          "test test test test test test test test test test test junk",
                          "--wallet.defaultBalance",
                          "10000",
                          "--chain.hardfork",
                          "shanghai",
                          "--logging.quiet"};
            for (size_t i = 0; i < ARRAY_SIZE(ga); i++)
                argv[argc++] = ga[i];
            if (chain_id) {
                argv[argc++] = "--chain.chainId";
                argv[argc++] = id_s;
            }
        } else {
            snprintf(bin, sizeof(bin), "%s/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
                     src_root);
            char *aa[] = {bin, "--host", "127.0.0.1", "--port", port_s, "--silent"};
            for (size_t i = 0; i < ARRAY_SIZE(aa); i++)
                argv[argc++] = aa[i];
            if (chain_id) {
                argv[argc++] = "--chain-id";
                argv[argc++] = id_s;
            }
        }
        argv[argc] = NULL;
        ASSERT(!ganache || access(bin, R_OK) == 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        ASSERT_EQ(posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d", port);
        for (int i = 0; i < 600; i++) {
            struct rpc_client r;
            uint64_t id = 0;
            int status;
            ASSERT_OK(rpc_init(&r, c->url, NULL));
            r.retries = 0;
            r.timeout_ms = 2000;
            int rc = rpc_chain_id(&r, &id, NULL);
            rpc_release(&r);
            if (!rc) {
                /* the answer may come from a process that took the port first while ours
                 * fails to bind: ours must still be alive a moment later */
                usleep(200 * 1000);
                if (waitpid(c->pid, &status, WNOHANG) == 0)
                    return;
                break;
            }
            if (waitpid(c->pid, &status, WNOHANG) == c->pid)
                break; /* it died (port taken in between?): try another port */
            usleep(100 * 1000);
        }
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    test_fail(__FILE__, __LINE__, "%s did not start", ganache ? "ganache" : "anvil");
}

static void chain_stop(struct devchain *c)
{
    kill(c->pid, SIGTERM);
    waitpid(c->pid, NULL, 0);
}

/* call() runs eth_call of `sig` with `args` (consumed) on `to` and returns the first output
 * as a string (decimal, checksummed address, "true"/"false") in `out`. */
static void call(const char *url, const char *to, const char *sig, json_t *args, char *out,
                 size_t size)
{
    struct rpc_client r;
    struct abi_func f;
    struct buf data, res;
    uint8_t addr[20];
    struct rpc_callmsg m = {0};
    json_t *vals = NULL, *v;
    struct ag_err e = {0};

    buf_init(&data, 4096);
    buf_init(&res, 4096);
    ASSERT_OK(rpc_init(&r, url, NULL));
    ASSERT_OK(abi_func_parse(sig, &f, &e));
    ASSERT_OK(abi_encode_call(&f, args, &data, &e));
    ASSERT_OK(addr_parse(to, addr, false, NULL));
    m.to = addr;
    m.data = (const uint8_t *)data.p;
    m.data_len = data.n;
    if (rpc_eth_call(&r, &m, "latest", &res, &e))
        test_fail(__FILE__, __LINE__, "%s: %s", sig, e.msg);
    ASSERT_OK(abi_decode(f.outputs, (const uint8_t *)res.p, res.n, &vals, &e));
    v = json_array_get(vals, 0);
    if (json_is_boolean(v))
        str_copy(out, json_is_true(v) ? "true" : "false", size);
    else
        str_copy(out, json_string_value(v) ?: "?", size);
    json_decref(vals);
    json_decref(args);
    abi_func_release(&f);
    rpc_release(&r);
    buf_release(&data);
    buf_release(&res);
}

#define ASSERT_CALL(url, to, sig, args, want)                                                      \
    do {                                                                                           \
        char got_[128];                                                                            \
        call(url, to, sig, args, got_, sizeof(got_));                                              \
        ASSERT_STR_EQ(got_, want);                                                                 \
    } while (0)

static const char *addr_of(json_t *m, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(m, "contracts"), name), "address"));
}

/* full_deployment() deploys with every option changed from its default and checks the
 * manifest, the ABI files and the chain itself. */
static void full_deployment(const struct devchain *c, uint64_t chain_id)
{
    struct chain_deploy_opts o;
    struct chain_manifest cm;
    struct ag_err e = {0};
    json_t *m = NULL, *disk = NULL;
    char out[PATH_MAX], abi[PATH_MAX + 32];
    const char *tok, *reg, *mkt, *panel;

    snprintf(out, sizeof(out), "%s/data/chain.json", test_tmpdir());
    chain_deploy_opts_init(&o);
    o.rpc = c->url;
    o.key = KEY0;
    o.artifacts = artifacts_dir;
    o.out = out;
    o.fee_bps = 300;
    o.royalty_bps = 700;
    o.dispute_window = 3600;
    o.initial_supply = "42.5";
    o.pricing_signer = ADDR8;
    o.arbitrator = "panel";
    o.governance = ADDR9;
    if (chain_deploy(&o, &m, &e))
        test_fail(__FILE__, __LINE__, "chain_deploy: %s", e.msg);

    /* the manifest: what deploy.mjs writes */
    ASSERT_EQ(json_integer_value(json_object_get(m, "chainId")), chain_id);
    ASSERT(json_integer_value(json_object_get(m, "block")) >= 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "deployer")), ADDR0);
    ASSERT_EQ(json_object_size(json_object_get(m, "contracts")), 4);
    tok = addr_of(m, "AgoraToken");
    reg = addr_of(m, "ModelRegistry");
    mkt = addr_of(m, "Marketplace");
    panel = addr_of(m, "ArbitrationPanel");
    ASSERT(tok && reg && mkt && panel);
    ASSERT(addr_is_checksummed(tok) && addr_is_checksummed(mkt));
    json_t *params = json_object_get(m, "params"), *roles = json_object_get(m, "roles");
    ASSERT_EQ(json_integer_value(json_object_get(params, "feeBps")), 300);
    ASSERT_EQ(json_integer_value(json_object_get(params, "royaltyBps")), 700);
    ASSERT_EQ(json_integer_value(json_object_get(params, "disputeWindow")), 3600);
    ASSERT(json_is_true(json_object_get(params, "faucet")));
    ASSERT_STR_EQ(json_string_value(json_object_get(roles, "governance")), ADDR0);
    ASSERT_STR_EQ(json_string_value(json_object_get(roles, "pendingGovernance")), ADDR9);
    ASSERT_STR_EQ(json_string_value(json_object_get(roles, "treasury")), ADDR0);
    ASSERT_STR_EQ(json_string_value(json_object_get(roles, "pricingSigner")), ADDR8);
    ASSERT_STR_EQ(json_string_value(json_object_get(roles, "arbitrator")), panel);

    /* on disk: the same document, ABIs beside it, and the node's loader accepts it */
    {
        struct buf b;
        buf_init(&b, CHAIN_MANIFEST_MAX);
        ASSERT_OK(buf_read_file(&b, out));
        ASSERT_OK(json_parse((const char *)b.p, b.n, &disk, &e));
        buf_release(&b);
        ASSERT(json_equal(disk, m));
        json_decref(disk);
    }
    snprintf(abi, sizeof(abi), "%s/data/abi/ArbitrationPanel.json", test_tmpdir());
    ASSERT(access(abi, R_OK) == 0);
    ASSERT_OK(chain_manifest_load(out, &cm, &e));
    ASSERT_EQ(cm.chain_id, chain_id);
    ASSERT(cm.nevents > 10);
    chain_manifest_release(&cm);

    /* the chain: wiring, parameters, roles and the token, read with eth_call */
    ASSERT_CALL(c->url, mkt, "token() returns (address)", json_array(), tok);
    ASSERT_CALL(c->url, mkt, "registry() returns (address)", json_array(), reg);
    ASSERT_CALL(c->url, mkt, "feeBps() returns (uint256)", json_array(), "300");
    ASSERT_CALL(c->url, mkt, "royaltyBps() returns (uint256)", json_array(), "700");
    ASSERT_CALL(c->url, mkt, "disputeWindow() returns (uint256)", json_array(), "3600");
    ASSERT_CALL(c->url, mkt, "governance() returns (address)", json_array(), ADDR0);
    ASSERT_CALL(c->url, mkt, "pendingGovernance() returns (address)", json_array(), ADDR9);
    ASSERT_CALL(c->url, mkt, "treasury() returns (address)", json_array(), ADDR0);
    ASSERT_CALL(c->url, mkt, "pricingSigner() returns (address)", json_array(), ADDR8);
    ASSERT_CALL(c->url, mkt, "arbitrator() returns (address)", json_array(), panel);
    ASSERT_CALL(c->url, panel, "isArbiter(address) returns (bool)", json_pack("[s]", ADDR0),
                "true");
    ASSERT_CALL(c->url, tok, "totalSupply() returns (uint256)", json_array(),
                "42500000000000000000");
    ASSERT_CALL(c->url, tok, "balanceOf(address) returns (uint256)", json_pack("[s]", ADDR0),
                "42500000000000000000");
    ASSERT_CALL(c->url, tok, "faucetEnabled() returns (bool)", json_array(), "true");
    ASSERT_CALL(c->url, reg, "name() returns (string)", json_array(), "Agora Model");
    json_decref(m);
}

/* expect_fail() deploys with `o` and checks the error code and that the message contains
 * `want`, and that no manifest was written. */
static void expect_fail(struct chain_deploy_opts *o, int code, const char *want, int line)
{
    struct ag_err e = {0};
    int rc = chain_deploy(o, NULL, &e);

    if (rc != code || !strstr(e.msg, want))
        test_fail(__FILE__, line, "expected %d containing \"%s\", got %d: %s", code, want, rc,
                  e.msg);
    if (access(o->out, F_OK) == 0)
        test_fail(__FILE__, line, "a manifest was written after a failure");
}
#define EXPECT_FAIL(o, code, want) expect_fail(o, code, want, __LINE__)

/* failures() covers the reverts and refusals that need a chain. */
static void failures(const struct devchain *c)
{
    struct chain_deploy_opts o;
    char out[PATH_MAX];

    snprintf(out, sizeof(out), "%s/fail/chain.json", test_tmpdir());
    chain_deploy_opts_init(&o);
    o.rpc = c->url;
    o.key = KEY0;
    o.artifacts = artifacts_dir;
    o.out = out;
    /* a constructor revert names its custom error, decoded from the node's revert data */
    o.treasury = ZERO;
    EXPECT_FAIL(&o, AG_EUNPROCESSABLE, "Marketplace: deployment reverted: ZeroAddress()");
    o.treasury = NULL;
    o.pricing_signer = "0x1234";
    EXPECT_FAIL(&o, AG_EINVAL, "pricing_signer: not an address");
    o.pricing_signer = NULL;
    o.arbitrator = "jury";
    EXPECT_FAIL(&o, AG_EINVAL, "arbitrator: not an address");
}

/* unlocked() deploys without a key, from the node's first unlocked account. */
static void unlocked(const struct devchain *c)
{
    struct chain_deploy_opts o;
    struct ag_err e = {0};
    json_t *m = NULL;
    char out[PATH_MAX];

    snprintf(out, sizeof(out), "%s/unlocked/chain.json", test_tmpdir());
    chain_deploy_opts_init(&o);
    o.rpc = c->url;
    o.artifacts = artifacts_dir;
    o.out = out;
    o.faucet = CHAIN_FAUCET_OFF;
    if (chain_deploy(&o, &m, &e))
        test_fail(__FILE__, __LINE__, "chain_deploy without a key: %s", e.msg);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "deployer")), ADDR0);
    ASSERT(!json_object_get(json_object_get(m, "contracts"), "ArbitrationPanel"));
    ASSERT(json_is_false(json_object_get(json_object_get(m, "params"), "faucet")));
    ASSERT(json_is_null(json_object_get(json_object_get(m, "roles"), "pendingGovernance")));
    ASSERT_CALL(c->url, addr_of(m, "Marketplace"), "feeBps() returns (uint256)", json_array(),
                "250");
    ASSERT_CALL(c->url, addr_of(m, "Marketplace"), "disputeWindow() returns (uint256)",
                json_array(), "259200");
    ASSERT_CALL(c->url, addr_of(m, "AgoraToken"), "totalSupply() returns (uint256)", json_array(),
                "1000000000000000000000000");
    ASSERT_CALL(c->url, addr_of(m, "AgoraToken"), "faucetEnabled() returns (bool)", json_array(),
                "false");
    json_decref(m);
}

/* not_dev() checks the refusals on a chain id that is not a development chain's. */
static void not_dev(bool ganache)
{
    struct devchain c;
    struct chain_deploy_opts o;
    struct ag_err e = {0};
    json_t *m = NULL;
    char out[PATH_MAX];

    chain_start(&c, ganache, 5);
    snprintf(out, sizeof(out), "%s/five/chain.json", test_tmpdir());
    chain_deploy_opts_init(&o);
    o.rpc = c.url;
    o.artifacts = artifacts_dir;
    o.out = out;
    EXPECT_FAIL(&o, AG_EINVAL, "unlocked accounts are used only on development chains");
    o.key = KEY0;
    o.faucet = CHAIN_FAUCET_ON;
    EXPECT_FAIL(&o, AG_EINVAL, "only allowed on chain ids 31337 and 1337, not 5");
    o.faucet = CHAIN_FAUCET_AUTO;
    if (chain_deploy(&o, &m, &e))
        test_fail(__FILE__, __LINE__, "chain_deploy on chain 5: %s", e.msg);
    ASSERT_EQ(json_integer_value(json_object_get(m, "chainId")), 5);
    ASSERT(json_is_false(json_object_get(json_object_get(m, "params"), "faucet")));
    json_decref(m);
    chain_stop(&c);
}

TEST(deploy_anvil)
{
    struct devchain c;

    paths();
    chain_start(&c, false, 0);
    full_deployment(&c, 31337);
    unlocked(&c);
    failures(&c);
    chain_stop(&c);
    not_dev(false);
}

TEST(deploy_ganache)
{
    struct devchain c;

    paths();
    chain_start(&c, true, 0);
    full_deployment(&c, 1337);
    unlocked(&c);
    failures(&c);
    chain_stop(&c);
    not_dev(true);
}

/* Options are checked before anything is sent: no chain is needed (the URL is dead). */
TEST(deploy_options)
{
    struct chain_deploy_opts o;
    char out[PATH_MAX], bad[PATH_MAX];
    FILE *f;

    paths();
    snprintf(out, sizeof(out), "%s/x/chain.json", test_tmpdir());
    chain_deploy_opts_init(&o);
    o.rpc = "http://127.0.0.1:1";
    o.key = KEY0;
    o.artifacts = artifacts_dir;
    o.out = out;
    o.fee_bps = 1001;
    EXPECT_FAIL(&o, AG_EINVAL, "MAX_FEE_BPS (1000)");
    o.fee_bps = 1000;
    o.royalty_bps = 5000;
    EXPECT_FAIL(&o, AG_EINVAL, "MAX_ROYALTY_BPS");
    o.royalty_bps = 0;
    o.dispute_window = 30 * 86400 + 1;
    EXPECT_FAIL(&o, AG_EINVAL, "MAX_DISPUTE_WINDOW");
    o.dispute_window = 0;
    const char *supplies[] = {"",
                              "1.",
                              ".5",
                              "-1",
                              "1e6",
                              "0x10",
                              "1.0000000000000000001",
                              "1000000000000000000000000000000"};
    for (size_t i = 0; i < ARRAY_SIZE(supplies); i++) {
        o.initial_supply = supplies[i];
        EXPECT_FAIL(&o, AG_EINVAL, "initial supply must be a decimal amount");
    }
    o.initial_supply = "0.000000000000000001";
    /* artifacts: missing, not JSON, not an artifact */
    o.artifacts = test_tmpdir();
    EXPECT_FAIL(&o, AG_ENOTFOUND, "AgoraToken.json");
    snprintf(bad, sizeof(bad), "%s/AgoraToken.json", test_tmpdir());
    ASSERT((f = fopen(bad, "w")));
    fputs("{\"abi\": [", f);
    fclose(f);
    EXPECT_FAIL(&o, AG_EBADJSON, "AgoraToken.json");
    ASSERT((f = fopen(bad, "w")));
    fputs("{\"abi\": [], \"bytecode\": \"0xzz\"}", f);
    fclose(f);
    EXPECT_FAIL(&o, AG_EINVAL, "not a build.mjs artifact");
    /* valid options and artifacts, but nobody answers */
    o.artifacts = artifacts_dir;
    EXPECT_FAIL(&o, AG_EUNAVAILABLE, "cannot reach the chain node");
}
