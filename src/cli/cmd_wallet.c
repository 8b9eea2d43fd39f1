/* cmd_wallet.c - `agora wallet`: keystore accounts (new, import, list, address), balances, personal
 * messages. */
#include "core/common.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/buf.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keystore.h"
#include "eth/msg.h"
#include "eth/rpc.h"
#include "eth/secp.h"
#include "eth/u256.h"

/* Declared here until cli.h lists it beside the other commands. */



struct wopts {
    const char *dir;
    const char *pass_file;
    const char *key_file;
    const char *from;
    const char *rpc;
    const char *address;
    const char *signature;
    uint64_t scrypt_n;
    const char *arg; /* the one positional argument */
    char dirbuf[1024];
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "agora wallet: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return EXIT_ERR;
}

static int usage(void)
{
    cli_usage(cli_find("wallet"), stderr);
    return EXIT_USAGE;
}

/* parse_opts() reads options after the subcommand; returns 0 or EXIT_USAGE. */
static int parse_opts(int argc, char **argv, struct wopts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--keystore-dir"))
            slot = &o->dir;
        else if (!strcmp(a, "--passphrase-file"))
            slot = &o->pass_file;
        else if (!strcmp(a, "--key-file"))
            slot = &o->key_file;
        else if (!strcmp(a, "--from"))
            slot = &o->from;
        else if (!strcmp(a, "--rpc"))
            slot = &o->rpc;
        else if (!strcmp(a, "--address"))
            slot = &o->address;
        else if (!strcmp(a, "--signature"))
            slot = &o->signature;
        if (slot) {
            if (++i >= argc)
                return EXIT_USAGE;
            *slot = argv[i];
        } else if (!strcmp(a, "--scrypt-n")) {
            if (++i >= argc || parse_u64(argv[i], &o->scrypt_n))
                return EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            return EXIT_USAGE;
        } else if (!o->arg) {
            o->arg = a;
        } else {
            return EXIT_USAGE;
        }
    }
    if (!o->dir)
        o->dir = getenv("AGORA_KEYSTORE_DIR");
    if (!o->dir) {
        const char *home = getenv("HOME");
        snprintf(o->dirbuf, sizeof(o->dirbuf), "%s/.config/agora/keystore", home ? home : ".");
        o->dir = o->dirbuf;
    }
    if (!o->rpc)
        o->rpc = getenv("AGORA_ETH_RPC");
    if (!o->rpc)
        o->rpc = "http://127.0.0.1:8545";
    return 0;
}

/* get_passphrase() fills `out` from the file, the environment or a prompt
 * (asked twice when `confirm`). Returns 0 or EXIT_ERR. */
static int get_passphrase(const struct wopts *o, bool confirm, char *out, size_t size)
{
    const char *env = getenv("AGORA_PASSPHRASE");
    struct ag_err e = {0};
    if (o->pass_file)
        return keystore_passphrase_file(o->pass_file, out, size, &e) ? fail("%s", e.msg) : 0;
    if (env) {
        str_copy(out, env, size);
        return 0;
    }
    if (cli_read_tty("Passphrase: ", out, size))
        return fail("no terminal for the passphrase; use --passphrase-file or AGORA_PASSPHRASE");
    if (confirm) {
        char again[1024];
        int same =
            cli_read_tty("Repeat passphrase: ", again, sizeof(again)) == 0 && !strcmp(again, out);
        sodium_memzero(again, sizeof(again));
        if (!same)
            return fail("the passphrases differ");
    }
    return 0;
}

struct pick {
    char path[2048];
    uint8_t addr[20];
};

/* key_known() reports whether the directory holds a keystore for `addr`. */
static bool key_known(const char *dir, const uint8_t addr[20])
{
    return keystore_scan(dir, addr, NULL, NULL) > 0;
}

/* store_key() writes a keystore for `key` into the directory and prints its
 * address; an address that already has a keystore there is refused. */
static int store_key(const struct wopts *o, const uint8_t key[32])
{
    char pass[KEYSTORE_MAX_PASS], path[2048], when[40], a[ETH_ADDR_STR];
    struct ag_err e = {0};
    json_t *ks = NULL;
    uint8_t addr[20];
    struct timespec ts;
    struct tm tm;
    int rc = get_passphrase(o, true, pass, sizeof(pass));
    if (rc)
        goto out;
    if (mkdir_p(o->dir, 0700)) {
        rc = fail("cannot create %s", o->dir);
        goto out;
    }
    secp_address(key, addr);
    if (key_known(o->dir, addr)) {
        addr_format(addr, a);
        rc = fail("%s already has a keystore in %s", a, o->dir);
        goto out;
    }
    if (keystore_encrypt(key, pass, strlen(pass), o->scrypt_n, &ks, &e)) {
        rc = fail("%s", e.msg);
        goto out;
    }
    secp_address(key, addr);
    addr_format(addr, a);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H-%M-%S", &tm);
    /* geth's file name: UTC--<time>--<lowercase address> */
    char lower[41];
    for (int i = 0; i < 40; i++)
        lower[i] = (char)((a[2 + i] >= 'A' && a[2 + i] <= 'F') ? a[2 + i] + 32 : a[2 + i]);
    lower[40] = '\0';
    snprintf(path, sizeof(path), "%s/UTC--%s.%03ldZ--%s", o->dir, when, ts.tv_nsec / 1000000,
             lower);
    if (keystore_write_file(path, ks, &e)) {
        rc = fail("%s", e.msg);
        goto out;
    }
    printf("%s\n", a);
    fprintf(stderr, "keystore written to %s\n", path);
out:
    sodium_memzero(pass, sizeof(pass));
    json_decref(ks);
    return rc;
}

static void print_one(const char *path, const uint8_t a[20], void *ud)
{
    char s[ETH_ADDR_STR];
    (void)ud;
    addr_format(a, s);
    printf("%s  %s\n", s, path);
}

/* choose() finds the keystore of `from` (or the only one). */
static int choose(const struct wopts *o, const char *from, struct pick *p)
{
    uint8_t want[20];
    struct ag_err e = {0};
    memset(p, 0, sizeof(*p));
    if (from && addr_parse(from, want, false, &e))
        return fail("%s", e.msg);
    if (keystore_pick(o->dir, from ? want : NULL, p->path, sizeof(p->path), p->addr, &e))
        return fail("%s", e.msg);
    return 0;
}

static int do_import(const struct wopts *o)
{
    struct buf b;
    uint8_t key[32];
    int rc;
    buf_init(&b, 4096);
    rc = o->key_file ? buf_read_file(&b, o->key_file) : 0;
    if (!o->key_file) {
        char line[256];
        if (fgets(line, sizeof(line), stdin))
            rc = buf_adds(&b, line);
        sodium_memzero(line, sizeof(line));
    }
    if (rc || keystore_parse_hex_key(b.p, key))
        rc = fail("the private key must be 32 bytes of hex");
    else
        rc = store_key(o, key);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(b.p, b.n);
    buf_release(&b);
    return rc;
}

static int do_balance(const struct wopts *o)
{
    struct rpc_client c;
    struct ag_err e = {0};
    uint8_t a[20], wei[32];
    struct pick p;
    char dec[U256_DEC_MAX], s[ETH_ADDR_STR];
    int rc;
    if (o->arg) {
        if (addr_parse(o->arg, a, false, &e))
            return fail("%s", e.msg);
    } else {
        if ((rc = choose(o, NULL, &p)))
            return rc;
        memcpy(a, p.addr, 20);
    }
    if (rpc_init(&c, o->rpc, &e))
        return fail("%s", e.msg);
    c.retries = 1;
    rc = rpc_get_balance(&c, a, wei, &e);
    rpc_release(&c);
    if (rc)
        return fail("%s", e.msg);
    u256_to_dec(wei, dec);
    size_t n = strlen(dec);
    addr_format(a, s);
    /* wei -> ether with 18 decimals */
    char eth[U256_DEC_MAX + 24];
    if (n > 18) {
        snprintf(eth, sizeof(eth), "%.*s.%s", (int)(n - 18), dec, dec + n - 18);
    } else {
        char z[20];
        memset(z, '0', 18 - n);
        z[18 - n] = '\0';
        snprintf(eth, sizeof(eth), "0.%s%s", z, dec);
    }
    printf("%s %s ETH (%s wei)\n", s, eth, dec);
    return 0;
}

static int do_sign(const struct wopts *o)
{
    struct pick p;
    struct ag_err e = {0};
    json_t *ks = NULL;
    uint8_t key[32];
    char pass[KEYSTORE_MAX_PASS], sig[133];
    struct eth_sig es;
    int rc;
    if (!o->arg)
        return usage();
    if ((rc = choose(o, o->from, &p)))
        return rc;
    if ((rc = get_passphrase(o, false, pass, sizeof(pass))))
        return rc;
    rc = keystore_read_file(p.path, &ks, &e);
    if (!rc)
        rc = keystore_decrypt(ks, pass, strlen(pass), key, &e);
    if (!rc)
        rc = eip191_sign(key, o->arg, strlen(o->arg), &es);
    sodium_memzero(pass, sizeof(pass));
    sodium_memzero(key, sizeof(key));
    json_decref(ks);
    if (rc)
        return fail("%s", e.msg[0] ? e.msg : ag_strerror(rc));
    sig_format_hex(&es, sig);
    printf("%s\n", sig);
    return 0;
}

static int do_verify(const struct wopts *o)
{
    struct ag_err e = {0};
    struct eth_sig sig;
    uint8_t want[20], got[20];
    if (!o->arg || !o->address || !o->signature)
        return usage();
    if (addr_parse(o->address, want, false, &e) || sig_parse_hex(o->signature, &sig, &e))
        return fail("%s", e.msg);
    if (eip191_recover(o->arg, strlen(o->arg), &sig, got) || memcmp(want, got, 20))
        return fail("signature does not match %s", o->address);
    printf("ok\n");
    return 0;
}

int cmd_wallet(int argc, char **argv)
{
    struct wopts o = {0};
    const char *sub = argc > 1 ? argv[1] : NULL;
    uint8_t key[32];
    int rc;
    if (!sub || cli_wants_help(argc, argv) || parse_opts(argc, argv, &o))
        return usage();
    if (!strcmp(sub, "new")) {
        if (o.arg)
            return usage();
        if (secp_keygen(key))
            return fail("cannot generate a key");
        rc = store_key(&o, key);
        sodium_memzero(key, sizeof(key));
        return rc;
    }
    if (!strcmp(sub, "import"))
        return o.arg ? usage() : do_import(&o);
    if (!strcmp(sub, "list")) {
        int n = keystore_scan(o.dir, NULL, print_one, NULL);
        if (n == AG_ENOTFOUND)
            return fail("no keystore directory %s", o.dir);
        return EXIT_OK;
    }
    if (!strcmp(sub, "address")) {
        struct pick p;
        char s[ETH_ADDR_STR];
        if ((rc = choose(&o, NULL, &p)))
            return rc;
        addr_format(p.addr, s);
        printf("%s\n", s);
        return EXIT_OK;
    }
    if (!strcmp(sub, "balance"))
        return do_balance(&o);
    if (!strcmp(sub, "sign-message"))
        return do_sign(&o);
    if (!strcmp(sub, "verify-message"))
        return do_verify(&o);
    return usage();
}
