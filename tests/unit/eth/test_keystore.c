/* test_keystore.c - Web3 Secret Storage v3 test vectors and round trips. */
#include "core/common.h"

#include "core/encoding.h"
#include "core/json.h"
#include "core/util.h"
#include "eth/keystore.h"
#include "eth/secp.h"
#include "test.h"

#include <sys/stat.h>

#define SPEC_KEY "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"

static const char PBKDF2_VEC[] =
    "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
    "\"6087dab2f9fdbbfaddc31a909735c1e6\"},"
    "\"ciphertext\":\"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46\","
    "\"kdf\":\"pbkdf2\",\"kdfparams\":{\"c\":262144,\"dklen\":32,\"prf\":\"hmac-sha256\","
    "\"salt\":\"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd\"},"
    "\"mac\":\"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2\"},"
    "\"id\":\"3198bc9c-6672-5ab3-d995-4942343ae5b6\",\"version\":3}";

static const char SCRYPT_VEC[] =
    "{\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":"
    "\"83dbcc02d8ccb40e466191a123791e0e\"},"
    "\"ciphertext\":\"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c\","
    "\"kdf\":\"scrypt\",\"kdfparams\":{\"dklen\":32,\"n\":262144,\"p\":8,\"r\":1,"
    "\"salt\":\"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19\"},"
    "\"mac\":\"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097\"},"
    "\"id\":\"3198bc9c-6672-5ab3-d995-4942343ae5b6\",\"version\":3}";

static void check_vector(const char *text)
{
    json_t *ks = NULL;
    uint8_t key[32];
    char hex[65];
    struct buf b;
    struct ag_err e = {0};
    buf_init(&b, 128);
    ASSERT_OK(json_parse(text, strlen(text), &ks, NULL));
    ASSERT_OK(keystore_decrypt(ks, "testpassword", 12, key, &e));
    ASSERT_OK(hex_encode(&b, key, 32));
    str_copy(hex, b.p, sizeof(hex));
    ASSERT_STR_EQ(hex, SPEC_KEY);
    ASSERT_EQ(keystore_decrypt(ks, "wrongpassword", 13, key, &e), AG_EUNAUTH);
    ASSERT(strstr(e.msg, "passphrase"));
    json_decref(ks);
    buf_release(&b);
}

TEST(keystore_spec_vector_pbkdf2)
{
    check_vector(PBKDF2_VEC);
}

TEST(keystore_spec_vector_scrypt)
{
    check_vector(SCRYPT_VEC);
}

TEST(keystore_roundtrip_file_0600)
{
    uint8_t key[32], back[32];
    json_t *ks = NULL, *rd = NULL;
    char path[512];
    struct stat st;
    ASSERT_OK(secp_keygen(key));
    ASSERT_OK(keystore_encrypt(key, "pässwörd", strlen("pässwörd"), 1 << 10, &ks, NULL));
    snprintf(path, sizeof(path), "%s/key.json", test_tmpdir());
    ASSERT_OK(keystore_write_file(path, ks, NULL));
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_OK(keystore_read_file(path, &rd, NULL));
    ASSERT_OK(keystore_decrypt(rd, "pässwörd", strlen("pässwörd"), back, NULL));
    ASSERT(!memcmp(key, back, 32));
    uint8_t addr[20], want[20];
    ASSERT_OK(keystore_address(rd, addr));
    ASSERT_OK(secp_address(key, want));
    ASSERT(!memcmp(addr, want, 20));
    /* the default cost is n = 2^17 */
    json_t *def = NULL;
    ASSERT_EQ(keystore_encrypt(key, "x", 1, 3, &def, NULL), AG_EINVAL);
    json_decref(ks);
    json_decref(rd);
}

TEST(keystore_rejects_hostile)
{
    json_t *ks = NULL;
    uint8_t key[32];
    struct ag_err e = {0};
    /* scrypt n = 2^30 would need 1 TiB of memory: refused before deriving */
    char text[2048];
    const char *n = strstr(SCRYPT_VEC, "262144");
    snprintf(text, sizeof(text), "%.*s1073741824%s", (int)(n - SCRYPT_VEC), SCRYPT_VEC, n + 6);
    ASSERT_OK(json_parse(text, strlen(text), &ks, NULL));
    ASSERT_EQ(keystore_decrypt(ks, "testpassword", 12, key, &e), AG_ETOOBIG);
    json_decref(ks);
    /* unknown cipher, wrong version, tampered address */
    static const char *const bad[] = {
        "{\"version\":3,\"crypto\":{\"cipher\":\"aes-256-gcm\"}}",
        "{\"version\":2,\"crypto\":{}}",
        "{\"version\":3}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        ASSERT_OK(json_parse(bad[i], strlen(bad[i]), &ks, NULL));
        ASSERT_EQ(keystore_decrypt(ks, "x", 1, key, NULL), AG_EINVAL);
        json_decref(ks);
    }
    uint8_t k[32];
    ASSERT_OK(secp_keygen(k));
    ASSERT_OK(keystore_encrypt(k, "pw", 2, 1 << 4, &ks, NULL));
    json_object_set_new(ks, "address", json_string("0000000000000000000000000000000000000001"));
    ASSERT_EQ(keystore_decrypt(ks, "pw", 2, key, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "address"));
    json_decref(ks);
}

/* write_file() writes `text` to dir/name with `mode` and returns the path (static storage). */
static const char *write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    static char path[4][PATH_MAX];
    static int slot;
    char *p = path[slot++ % 4];
    FILE *f;

    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    ASSERT((f = fopen(p, "w")));
    fputs(text, f);
    fclose(f);
    ASSERT_OK(chmod(p, mode));
    return p;
}

/* keystore_load_key(): raw hex keys (0600 only), keystores with a passphrase file, refusals. */
TEST(load_key_files)
{
    const char *dir = test_tmpdir();
    uint8_t want[32], key[32];
    struct ag_err e = {0};
    json_t *ks = NULL;
    char *text;

    ASSERT_OK(keystore_parse_hex_key(SPEC_KEY, want));
    /* a raw key, with or without 0x and white space */
    ASSERT_OK(keystore_load_key(write_file(dir, "a.key", "0x" SPEC_KEY "\n", 0600), NULL, key, &e));
    ASSERT(!memcmp(key, want, 32));
    ASSERT_OK(keystore_load_key(write_file(dir, "b.key", "  " SPEC_KEY "  ", 0400), NULL, key, &e));
    ASSERT(!memcmp(key, want, 32));
    /* readable by the group or others: refused, and the key is not in the message */
    ASSERT_EQ(keystore_load_key(write_file(dir, "c.key", SPEC_KEY, 0640), NULL, key, &e),
              AG_EFORBIDDEN);
    ASSERT(strstr(e.msg, "chmod 600") && !strstr(e.msg, SPEC_KEY));
    ASSERT_EQ(keystore_load_key(write_file(dir, "d.key", SPEC_KEY, 0604), NULL, key, &e),
              AG_EFORBIDDEN);
    /* not a key */
    ASSERT_EQ(keystore_load_key(write_file(dir, "e.key", "0x1234", 0600), NULL, key, &e),
              AG_EINVAL);
    ASSERT_EQ(keystore_load_key(write_file(dir, "f.key", "00" SPEC_KEY, 0600), NULL, key, &e),
              AG_EINVAL);
    ASSERT_EQ(
        keystore_load_key(
            write_file(dir, "g.key",
                       "0000000000000000000000000000000000000000000000000000000000000000", 0600),
            NULL, key, &e),
        AG_EINVAL);
    ASSERT_EQ(keystore_load_key("/nonexistent/key", NULL, key, &e), AG_EIO);
    /* a keystore: needs a private passphrase file holding the right passphrase */
    ASSERT_OK(keystore_encrypt(want, "s3cret", 6, 1024, &ks, &e));
    ASSERT((text = json_dumps(ks, 0)));
    const char *ksp = write_file(dir, "ks.json", text, 0644);
    free(text);
    json_decref(ks);
    ASSERT_EQ(keystore_load_key(ksp, NULL, key, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "passphrase file"));
    ASSERT_EQ(keystore_load_key(ksp, write_file(dir, "open.pass", "s3cret\n", 0644), key, &e),
              AG_EFORBIDDEN);
    ASSERT_EQ(keystore_load_key(ksp, write_file(dir, "wrong.pass", "nope\n", 0600), key, &e),
              AG_EUNAUTH);
    memset(key, 0, sizeof(key));
    ASSERT_OK(
        keystore_load_key(ksp, write_file(dir, "good.pass", "s3cret\r\nignored", 0600), key, &e));
    ASSERT(!memcmp(key, want, 32));
}

static void count_one(const char *path, const uint8_t a[20], void *ud)
{
    (void)path;
    (void)a;
    (*(int *)ud)++;
}

/* keystore_pick() and keystore_scan(): the one keystore, by address, several, none. */
TEST(pick_keystores)
{
    const char *dir = test_tmpdir();
    uint8_t k1[32], k2[32], a1[20], a2[20], got[20];
    char path[2048], p[PATH_MAX];
    struct ag_err e = {0};
    json_t *ks = NULL;
    int n = 0;

    ASSERT_EQ(keystore_pick("/nonexistent/dir", NULL, path, sizeof(path), got, &e), AG_ENOTFOUND);
    ASSERT_EQ(keystore_pick(dir, NULL, path, sizeof(path), got, &e), AG_ENOTFOUND);
    ASSERT(strstr(e.msg, "agora wallet new"));
    ASSERT_OK(secp_keygen(k1));
    ASSERT_OK(secp_keygen(k2));
    secp_address(k1, a1);
    secp_address(k2, a2);
    ASSERT_OK(keystore_encrypt(k1, "x", 1, 1024, &ks, &e));
    snprintf(p, sizeof(p), "%s/one.json", dir);
    ASSERT_OK(keystore_write_file(p, ks, &e));
    json_decref(ks);
    write_file(dir, "notes.txt", "not a keystore", 0600);
    ASSERT_OK(keystore_pick(dir, NULL, path, sizeof(path), got, &e));
    ASSERT(!memcmp(got, a1, 20));
    ASSERT_STR_EQ(path, p);
    ASSERT_EQ(keystore_pick(dir, a2, path, sizeof(path), got, &e), AG_ENOTFOUND);
    ASSERT_OK(keystore_encrypt(k2, "x", 1, 1024, &ks, &e));
    snprintf(p, sizeof(p), "%s/two.json", dir);
    ASSERT_OK(keystore_write_file(p, ks, &e));
    json_decref(ks);
    ASSERT_EQ(keystore_pick(dir, NULL, path, sizeof(path), got, &e), AG_EEXISTS);
    ASSERT(strstr(e.msg, "--from"));
    ASSERT_OK(keystore_pick(dir, a2, path, sizeof(path), got, &e));
    ASSERT(!memcmp(got, a2, 20));
    ASSERT_EQ(keystore_scan(dir, NULL, count_one, &n), 2);
    ASSERT_EQ(n, 2);
}

/* keystore_passphrase_file(): the first line, a size cap. */
TEST(passphrase_files)
{
    const char *dir = test_tmpdir();
    char pass[KEYSTORE_MAX_PASS], big[KEYSTORE_MAX_PASSFILE + 10];
    struct ag_err e = {0};

    ASSERT_OK(keystore_passphrase_file(write_file(dir, "a", "line one\nline two\n", 0600), pass,
                                       sizeof(pass), &e));
    ASSERT_STR_EQ(pass, "line one");
    ASSERT_OK(keystore_passphrase_file(write_file(dir, "b", "", 0600), pass, sizeof(pass), &e));
    ASSERT_STR_EQ(pass, "");
    /* a long line of a file within the cap is read whole; a larger file is refused; a buffer
     * too small for the line is an error, never a truncated passphrase */
    memset(big, 'p', sizeof(big) - 1);
    big[KEYSTORE_MAX_PASSFILE - 1] = '\0';
    ASSERT_OK(keystore_passphrase_file(write_file(dir, "c", big, 0600), pass, sizeof(pass), &e));
    ASSERT_EQ(strlen(pass), KEYSTORE_MAX_PASSFILE - 1);
    big[KEYSTORE_MAX_PASSFILE - 1] = 'p';
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(keystore_passphrase_file(write_file(dir, "d", big, 0600), pass, sizeof(pass), &e),
              AG_ETOOBIG);
    ASSERT_EQ(keystore_passphrase_file(write_file(dir, "e", "0123456789\n", 0600), pass, 8, &e),
              AG_ETOOBIG);
    ASSERT_EQ(keystore_passphrase_file("/nonexistent", pass, sizeof(pass), &e), AG_EIO);
}
