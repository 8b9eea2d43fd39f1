/* keystore.c - Web3 Secret Storage v3: scrypt / pbkdf2, AES-128-CTR, keccak MAC. */
#include "core/common.h"

#include "core/buf.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/keystore.h"
#include "eth/secp.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#define PBKDF2_C_MAX   10000000u
#define SCRYPT_MEM_MAX ((uint64_t)512 << 20)

static int aes128ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t n,
                     uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0, ok;
    if (!c)
        return AG_ENOMEM;
    ok = EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) &&
         EVP_EncryptUpdate(c, out, &len, in, (int)n) && EVP_EncryptFinal_ex(c, out + len, &fin);
    EVP_CIPHER_CTX_free(c);
    return ok && (size_t)(len + fin) == n ? 0 : AG_EINTERNAL;
}

/* scrypt_derive() uses libsodium's low-level scrypt: OpenSSL's EVP_PBE_scrypt
 * enforces RFC 7914's N < 2^(16 r), which refuses real keystores (the Web3
 * Secret Storage test vector itself has n = 2^18 with r = 1). */
static int scrypt_derive(const char *pass, size_t passlen, const uint8_t *salt, size_t saltlen,
                         uint64_t n, uint64_t r, uint64_t p, uint8_t *dk, size_t dklen)
{
    if (r > UINT32_MAX || p > UINT32_MAX)
        return AG_EINVAL;
    if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pass, passlen, salt, saltlen, n,
                                              (uint32_t)r, (uint32_t)p, dk, dklen) != 0)
        return AG_EINTERNAL;
    return 0;
}

static void mac_of(const uint8_t dk[32], const uint8_t *ct, size_t n, uint8_t mac[32])
{
    struct keccak k;
    keccak_init(&k);
    keccak_update(&k, dk + 16, 16);
    keccak_update(&k, ct, n);
    keccak_final(&k, mac);
}

static json_t *hex_str(const void *p, size_t n)
{
    struct buf b;
    json_t *j = NULL;
    buf_init(&b, 2 * n + 1);
    if (!hex_encode(&b, p, n))
        j = json_stringn(b.p, b.n);
    buf_release(&b);
    return j;
}

int keystore_encrypt(const uint8_t priv[32], const char *pass, size_t passlen, uint64_t scrypt_n,
                     json_t **out, struct ag_err *e)
{
    uint8_t salt[32], iv[16], dk[32], ct[32], mac[32], addr[20], u[16];
    char uuid[37];
    json_t *ks = NULL;
    int rc;
    if (scrypt_n == 0)
        scrypt_n = KEYSTORE_SCRYPT_N_DEFAULT;
    if (scrypt_n < 2 || scrypt_n > KEYSTORE_SCRYPT_N_MAX || (scrypt_n & (scrypt_n - 1)))
        return ag_errf(e, AG_EINVAL, "n", "scrypt n must be a power of two up to 2^18");
    if (secp_address(priv, addr))
        return ag_errf(e, AG_EINVAL, "key", "the private key is invalid");
    rand_bytes(salt, sizeof(salt));
    rand_bytes(iv, sizeof(iv));
    rand_bytes(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(uuid, sizeof(uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    rc = scrypt_derive(pass, passlen, salt, sizeof(salt), scrypt_n, 8, 1, dk, sizeof(dk));
    if (!rc)
        rc = aes128ctr(dk, iv, priv, 32, ct);
    if (rc) {
        rc = ag_errf(e, rc, NULL, "keystore encryption failed");
        goto out;
    }
    mac_of(dk, ct, sizeof(ct), mac);
    ks = json_pack("{s:o,s:s,s:i,s:{s:s,s:{s:o},s:o,s:s,s:{s:i,s:I,s:i,s:i,s:o},s:o}}", "address",
                   hex_str(addr, 20), "id", uuid, "version", 3, "crypto", "cipher", "aes-128-ctr",
                   "cipherparams", "iv", hex_str(iv, 16), "ciphertext", hex_str(ct, 32), "kdf",
                   "scrypt", "kdfparams", "dklen", 32, "n", (json_int_t)scrypt_n, "r", 8, "p", 1,
                   "salt", hex_str(salt, 32), "mac", hex_str(mac, 32));
    if (!ks) {
        rc = AG_ENOMEM;
        goto out;
    }
    *out = ks;
out:
    sodium_memzero(dk, sizeof(dk));
    return rc;
}

/* get_hex() decodes a hex member (with or without 0x) of at most `max` bytes. */
static int get_hex(json_t *obj, const char *key, struct buf *out, size_t max)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        return AG_EINVAL;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    if (strlen(s) > 2 * max)
        return AG_EINVAL;
    return hex_decode(out, s, strlen(s));
}

static int get_uint(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return AG_EINVAL;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* derive() runs the document's KDF into dk[32]. */
static int derive(json_t *crypto, const char *pass, size_t passlen, uint8_t dk[32],
                  struct ag_err *e)
{
    const char *kdf = json_string_value(json_object_get(crypto, "kdf"));
    json_t *kp = json_object_get(crypto, "kdfparams");
    struct buf salt;
    uint64_t dklen = 0, n = 0, r = 0, p = 0, c = 0;
    int rc = 0;
    buf_init(&salt, 1024);
    if (!kdf || !json_is_object(kp) || get_hex(kp, "salt", &salt, 512) ||
        get_uint(kp, "dklen", &dklen) || dklen != 32) {
        rc = ag_errf(e, AG_EINVAL, "kdfparams", "keystore: missing or bad KDF parameters");
        goto out;
    }
    if (!strcmp(kdf, "scrypt")) {
        if (get_uint(kp, "n", &n) || get_uint(kp, "r", &r) || get_uint(kp, "p", &p) || n < 2 ||
            (n & (n - 1)) || r == 0 || p == 0) {
            rc = ag_errf(e, AG_EINVAL, "kdfparams", "keystore: bad scrypt parameters");
            goto out;
        }
        if (n > KEYSTORE_SCRYPT_N_MAX || r > 64 || p > 64 || 128 * n * r > SCRYPT_MEM_MAX ||
            128 * n * r * p > SCRYPT_MEM_MAX * 2) {
            rc = ag_errf(e, AG_ETOOBIG, "kdfparams", "keystore: scrypt parameters too costly");
            goto out;
        }
        rc = scrypt_derive(pass, passlen, (const uint8_t *)salt.p, salt.n, n, r, p, dk, 32);
    } else if (!strcmp(kdf, "pbkdf2")) {
        const char *prf = json_string_value(json_object_get(kp, "prf"));
        if (get_uint(kp, "c", &c) || c == 0 || !prf || strcmp(prf, "hmac-sha256")) {
            rc = ag_errf(e, AG_EINVAL, "kdfparams", "keystore: bad pbkdf2 parameters");
            goto out;
        }
        if (c > PBKDF2_C_MAX) {
            rc = ag_errf(e, AG_ETOOBIG, "kdfparams", "keystore: pbkdf2 count too costly");
            goto out;
        }
        rc = PKCS5_PBKDF2_HMAC(pass, (int)passlen, (const unsigned char *)salt.p, (int)salt.n,
                               (int)c, EVP_sha256(), 32, dk)
                 ? 0
                 : AG_EINTERNAL;
    } else {
        rc = ag_errf(e, AG_EINVAL, "kdf", "keystore: unsupported KDF \"%s\"", kdf);
        goto out;
    }
    if (rc)
        rc = ag_errf(e, rc, "kdf", "keystore: key derivation failed");
out:
    buf_release(&salt);
    return rc;
}

int keystore_decrypt(json_t *ks, const char *pass, size_t passlen, uint8_t priv[32],
                     struct ag_err *e)
{
    json_t *crypto = json_object_get(ks, "crypto");
    struct buf iv, ct, mac;
    uint8_t dk[32], want[32], key[32], addr[20], claimed[20];
    int rc;
    buf_init(&iv, 64);
    buf_init(&ct, 64);
    buf_init(&mac, 64);
    if (!crypto)
        crypto = json_object_get(ks, "Crypto");
    json_t *ver = json_object_get(ks, "version");
    if (!json_is_object(crypto) || !json_is_integer(ver) || json_integer_value(ver) != 3) {
        rc = ag_errf(e, AG_EINVAL, "keystore", "not a version 3 keystore");
        goto out;
    }
    const char *cipher = json_string_value(json_object_get(crypto, "cipher"));
    if (!cipher || strcmp(cipher, "aes-128-ctr")) {
        rc = ag_errf(e, AG_EINVAL, "cipher", "keystore: only aes-128-ctr is supported");
        goto out;
    }
    if (get_hex(json_object_get(crypto, "cipherparams"), "iv", &iv, 16) || iv.n != 16 ||
        get_hex(crypto, "ciphertext", &ct, 32) || ct.n != 32 || get_hex(crypto, "mac", &mac, 32) ||
        mac.n != 32) {
        rc = ag_errf(e, AG_EINVAL, "crypto", "keystore: bad iv, ciphertext or mac");
        goto out;
    }
    rc = derive(crypto, pass, passlen, dk, e);
    if (rc)
        goto out;
    mac_of(dk, (const uint8_t *)ct.p, ct.n, want);
    if (!ct_equal(want, mac.p, 32)) {
        rc = ag_errf(e, AG_EUNAUTH, "passphrase", "keystore: wrong passphrase (MAC mismatch)");
        goto out;
    }
    rc = aes128ctr(dk, (const uint8_t *)iv.p, (const uint8_t *)ct.p, 32, key);
    if (rc) {
        rc = ag_errf(e, rc, NULL, "keystore: decryption failed");
        goto out;
    }
    if (secp_address(key, addr)) {
        rc = ag_errf(e, AG_EINVAL, "keystore", "keystore holds an invalid private key");
        goto out;
    }
    if (keystore_address(ks, claimed) == 0 && memcmp(addr, claimed, 20)) {
        rc = ag_errf(e, AG_EINVAL, "address", "keystore: address does not match the key");
        goto out;
    }
    memcpy(priv, key, 32);
out:
    sodium_memzero(dk, sizeof(dk));
    sodium_memzero(key, sizeof(key));
    buf_release(&iv);
    buf_release(&ct);
    buf_release(&mac);
    return rc;
}

int keystore_address(json_t *ks, uint8_t addr[20])
{
    struct buf b;
    int rc;
    buf_init(&b, 64);
    if (!json_object_get(ks, "address")) {
        buf_release(&b);
        return AG_ENOTFOUND;
    }
    rc = get_hex(ks, "address", &b, 20);
    if (!rc && b.n != 20)
        rc = AG_EINVAL;
    if (!rc)
        memcpy(addr, b.p, 20);
    buf_release(&b);
    return rc;
}

int keystore_write_file(const char *path, json_t *ks, struct ag_err *e)
{
    char tmp[4096];
    struct buf b;
    int fd = -1, rc = 0;
    buf_init(&b, KEYSTORE_MAX_FILE);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
        return ag_errf(e, AG_EINVAL, "path", "keystore path too long");
    if (json_dump_buf(&b, ks)) {
        rc = ag_errf(e, AG_ENOMEM, NULL, "cannot serialize keystore");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ag_errf(e, AG_EIO, "path", "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write(fd, b.p, b.n) != (ssize_t)b.n || fsync(fd) != 0) {
        rc = ag_errf(e, AG_EIO, "path", "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = ag_errf(e, AG_EIO, "path", "cannot write %s", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        rc = ag_errf(e, AG_EIO, "path", "cannot rename to %s: %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    buf_release(&b);
    return rc;
}

int keystore_read_file(const char *path, json_t **out, struct ag_err *e)
{
    struct buf b;
    int rc;
    buf_init(&b, KEYSTORE_MAX_FILE);
    rc = buf_read_file(&b, path);
    if (rc)
        rc = ag_errf(e, rc, "path",
                     rc == AG_ETOOBIG ? "%s is too large for a keystore" : "cannot read %s", path);
    else
        rc = json_parse(b.p, b.n, out, e);
    buf_release(&b);
    return rc;
}

/* ---- finding and opening keys ------------------------------------------------------------ */

void keystore_dir(const char *opt, char *out, size_t size)
{
    const char *env = getenv("AGORA_KEYSTORE_DIR");
    const char *home = getenv("HOME");
    if (opt)
        str_copy(out, opt, size);
    else if (env && *env)
        str_copy(out, env, size);
    else
        snprintf(out, size, "%s/.config/agora/keystore", home ? home : ".");
}

int keystore_scan(const char *dir, const uint8_t *want,
                  void (*fn)(const char *path, const uint8_t addr[20], void *ud), void *ud)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (!d)
        return AG_ENOTFOUND;
    while ((de = readdir(d))) {
        char path[2048];
        json_t *ks = NULL;
        uint8_t a[20];
        if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (keystore_read_file(path, &ks, NULL) == 0 && keystore_address(ks, a) == 0 &&
            (!want || !memcmp(a, want, 20))) {
            if (fn)
                fn(path, a, ud);
            n++;
        }
        json_decref(ks);
    }
    closedir(d);
    return n;
}

struct pick {
    char *path;
    size_t size;
    uint8_t *addr;
};

static void pick_one(const char *path, const uint8_t a[20], void *ud)
{
    struct pick *p = ud;
    str_copy(p->path, path, p->size);
    memcpy(p->addr, a, 20);
}

int keystore_pick(const char *dir, const uint8_t *want, char *path, size_t size, uint8_t addr[20],
                  struct ag_err *e)
{
    struct pick p = {path, size, addr};
    int n = keystore_scan(dir, want, pick_one, &p);

    if (n == AG_ENOTFOUND)
        return ag_errf(e, AG_ENOTFOUND, "keystore-dir",
                       "no keystore directory %s (create a wallet with `agora wallet new` or "
                       "`agora wallet import`)",
                       dir);
    if (n == 0 && want) {
        char a[ETH_ADDR_STR];
        addr_format(want, a);
        return ag_errf(e, AG_ENOTFOUND, "from", "no keystore for %s in %s", a, dir);
    }
    if (n == 0)
        return ag_errf(e, AG_ENOTFOUND, "keystore-dir",
                       "no keystore in %s (create a wallet with `agora wallet new` or `agora "
                       "wallet import`)",
                       dir);
    if (n > 1)
        return ag_errf(e, AG_EEXISTS, "from",
                       "several keystores in %s; choose one with --from ADDRESS", dir);
    return 0;
}

/* private_file() refuses a file that group or others may read or write. */
static int private_file(const char *path, const char *what, struct ag_err *e)
{
    struct stat st;
    if (stat(path, &st))
        return ag_errf(e, AG_EIO, "path", "cannot read %s %s: %s", what, path, strerror(errno));
    if (st.st_mode & 077)
        return ag_errf(e, AG_EFORBIDDEN, "path",
                       "%s %s is accessible to group or others (mode %03o): chmod 600 it", what,
                       path, (unsigned)(st.st_mode & 0777));
    return 0;
}

int keystore_passphrase_file(const char *path, char *out, size_t size, struct ag_err *e)
{
    struct buf b;
    int rc;

    buf_init(&b, KEYSTORE_MAX_PASSFILE);
    rc = buf_read_file(&b, path);
    if (!rc && b.n)
        b.p[strcspn(b.p, "\r\n")] = '\0';
    if (!rc) {
        if (strlen(b.p) >= size)
            rc = AG_ETOOBIG; /* the passphrase itself; what follows its line is ignored */
        else
            str_copy(out, b.p, size);
    }
    if (rc)
        ag_errf(e, rc, "passphrase-file",
                rc == AG_ETOOBIG ? "the passphrase file %s is too large"
                                 : "cannot read the passphrase file %s",
                path);
    sodium_memzero(b.p, b.n);
    buf_release(&b);
    return rc;
}

int keystore_parse_hex_key(const char *s, uint8_t key[32])
{
    char hex[67];
    size_t n;
    int rc = 0;

    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
    }
    if (n != 64)
        return AG_EINVAL;
    snprintf(hex, sizeof(hex), "0x%.64s", s);
    for (size_t i = 2; i < 66; i++)
        hex[i] = (char)tolower((unsigned char)hex[i]);
    if (ethhex_decode_fixed(hex, key, 32) || !secp_key_valid(key)) {
        sodium_memzero(key, 32);
        rc = AG_EINVAL;
    }
    sodium_memzero(hex, sizeof(hex));
    return rc;
}

int keystore_load_key(const char *path, const char *pass_file, uint8_t key[32], struct ag_err *e)
{
    char pass[KEYSTORE_MAX_PASS];
    json_t *ks = NULL;
    struct buf b;
    int rc;

    buf_init(&b, KEYSTORE_MAX_FILE);
    pass[0] = '\0';
    if ((rc = buf_read_file(&b, path))) {
        rc = ag_errf(e, rc, "path",
                     rc == AG_ETOOBIG ? "%s is too large for a key file" : "cannot read %s", path);
        goto out;
    }
    if (b.n && memchr(b.p, '{', b.n)) {
        /* a keystore: encrypted, so its own mode is the owner's business */
        if ((rc = json_parse(b.p, b.n, &ks, e)))
            goto out;
        if (!pass_file) {
            rc = ag_errf(e, AG_EINVAL, "passphrase-file",
                         "%s is a keystore: give its passphrase file too", path);
            goto out;
        }
        if ((rc = private_file(pass_file, "the passphrase file", e)) ||
            (rc = keystore_passphrase_file(pass_file, pass, sizeof(pass), e)))
            goto out;
        if ((rc = keystore_decrypt(ks, pass, strlen(pass), key, e)) == AG_EUNAUTH)
            ag_errf(e, rc, "passphrase-file", "%s: wrong passphrase", path);
        goto out;
    }
    if ((rc = private_file(path, "the key file", e)))
        goto out;
    if (keystore_parse_hex_key(b.p, key))
        rc = ag_errf(e, AG_EINVAL, "path",
                     "%s holds neither a keystore nor a 32-byte hex private key", path);
out:
    sodium_memzero(b.p, b.n);
    sodium_memzero(pass, sizeof(pass));
    buf_release(&b);
    json_decref(ks);
    return rc;
}
