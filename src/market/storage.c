/* storage.c - model files: resumable uploads, import (encrypted for paid models), downloads, gc. */
#include "core/common.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "ipfs/blockstore.h"
#include "ipfs/exporter.h"
#include "ipfs/importer.h"
#include "market/internal.h"
#include "market/kubo.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_UPLOAD ((uint64_t)64 << 30)
#define DEFAULT_UPLOAD_TTL (24 * 3600)
#define UPLOAD_ID_BYTES    16
#define READ_BLOCK         ((size_t)1 << 20)

/* Encryption (docs/internals/encryption.md). Format 2, written today: a
 * 24-byte random file nonce, then chunks of ENC_CHUNK plaintext bytes (the
 * last one shorter, possibly empty), each sealed on its own with XChaCha20-
 * Poly1305 under a nonce derived from the file nonce and the chunk index,
 * with the index and a final flag as associated data: a Range opens only the
 * chunks it needs. Format 1 (a secretstream of 64 KiB records) is still read. */
#define ENC_FORMAT_STREAM 1
#define ENC_FORMAT        2
#define ENC_CHUNK         ((size_t)65536)
#define ENC_HEADER        24 /* both formats: secretstream header / file nonce */
#define ENC1_ABYTES       crypto_secretstream_xchacha20poly1305_ABYTES
#define ENC2_ABYTES       crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENC2_AD_BYTES     9 /* chunk index (u64 LE), final flag */
#define KEY_BYTES         32
#define SEALED_BYTES (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + KEY_BYTES)

_Static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == ENC_HEADER, "header size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == ENC_HEADER, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == KEY_BYTES, "key size");
_Static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == KEY_BYTES, "key size");

struct market_storage {
    struct blockstore *bs;
    char uploads_dir[PATH_MAX - 64]; /* room for "/ID.part" in a PATH_MAX buffer */
    uint8_t node_key[crypto_secretbox_KEYBYTES];
    uint64_t max_upload;
    int64_t upload_ttl;
    char *kubo_api;
};

/* ---- the node key ------------------------------------------------------ */

/* read_key() reads exactly the key from an open key file. */
static int read_key(int fd, const char *path, uint8_t key[crypto_secretbox_KEYBYTES],
                    struct ag_err *e)
{
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st))
        return ag_errf(e, AG_EIO, "node.key", "cannot stat %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return ag_errf(e, AG_EIO, "node.key", "%s is readable by others (mode %03o); chmod 600 it",
                       path, (unsigned)(st.st_mode & 0777));
    if (st.st_size != crypto_secretbox_KEYBYTES)
        return ag_errf(e, AG_ECORRUPT, "node.key", "%s is not a node key (%lld bytes)", path,
                       (long long)st.st_size);
    n = pread(fd, key, crypto_secretbox_KEYBYTES, 0);
    if (n != crypto_secretbox_KEYBYTES)
        return ag_errf(e, AG_EIO, "node.key", "cannot read %s", path);
    return 0;
}

/* load_node_key() reads DATA_DIR/node.key, creating it atomically (written
 * to a temporary file, fsynced, then linked into place, so two nodes starting
 * at once agree on one key) when it does not exist. */
static int load_node_key(const char *data_dir, uint8_t key[crypto_secretbox_KEYBYTES],
                         struct ag_err *e)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    uint8_t fresh[crypto_secretbox_KEYBYTES];
    int fd, rc;

    if (snprintf(path, sizeof(path), "%s/node.key", data_dir) >= (int)sizeof(path))
        return ag_errf(e, AG_EINVAL, "data-dir", "data directory path is too long");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return ag_errf(e, AG_EIO, "node.key", "cannot create %s: %s", tmp, strerror(errno));
        crypto_secretbox_keygen(fresh);
        rc = write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && !fsync(fd) ? 0 : -1;
        close(fd);
        sodium_memzero(fresh, sizeof(fresh));
        if (rc || (link(tmp, path) && errno != EEXIST)) {
            rc = ag_errf(e, AG_EIO, "node.key", "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
            return rc;
        }
        unlink(tmp);
        log_info("storage: created node key %s", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return ag_errf(e, AG_EIO, "node.key", "cannot open %s: %s", path, strerror(errno));
    rc = read_key(fd, path, key, e);
    close(fd);
    return rc;
}

/* seal_key() encrypts a file key under the node key: hex(nonce || box). */
static void seal_key(const struct market_storage *st, const uint8_t key[KEY_BYTES],
                     char out[2 * SEALED_BYTES + 1])
{
    uint8_t sealed[SEALED_BYTES];
    randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, key, KEY_BYTES, sealed,
                          st->node_key);
    sodium_bin2hex(out, 2 * SEALED_BYTES + 1, sealed, sizeof(sealed));
}

/* unseal_key() reverses seal_key(); AG_ECORRUPT when the box does not open
 * (a different node key, or tampering). */
static int unseal_key(const struct market_storage *st, const char *hex, uint8_t key[KEY_BYTES],
                      struct ag_err *e)
{
    uint8_t sealed[SEALED_BYTES];
    size_t n = 0;

    if (sodium_hex2bin(sealed, sizeof(sealed), hex, strlen(hex), NULL, &n, NULL) ||
        n != sizeof(sealed) ||
        crypto_secretbox_open_easy(key, sealed + crypto_secretbox_NONCEBYTES,
                                   sizeof(sealed) - crypto_secretbox_NONCEBYTES, sealed,
                                   st->node_key))
        return ag_errf(e, AG_ECORRUPT, NULL,
                       "a file key does not open with this node's key (is DATA_DIR/node.key the "
                       "one the file was stored with?)");
    return 0;
}

/* enc_abytes() is the per-chunk overhead of an encryption format (0 if unknown). */
static size_t enc_abytes(int format)
{
    return format == ENC_FORMAT ? ENC2_ABYTES : format == ENC_FORMAT_STREAM ? ENC1_ABYTES : 0;
}

/* enc_size() is the stored size of a file of `size` bytes encrypted in
 * `format`: the header, the bytes, and one tag per chunk (there are
 * floor(size / ENC_CHUNK) + 1 chunks, the last possibly empty). */
static uint64_t enc_size(int format, uint64_t size)
{
    return ENC_HEADER + size + (size / ENC_CHUNK + 1) * enc_abytes(format);
}

/* enc2_nonce() derives chunk `index`'s nonce: the file nonce with the
 * index (u64 LE) XORed into its last 8 bytes, unique per chunk of a file. */
static void enc2_nonce(const uint8_t file_nonce[ENC_HEADER], uint64_t index,
                       uint8_t out[ENC_HEADER])
{
    memcpy(out, file_nonce, ENC_HEADER);
    for (int i = 0; i < 8; i++)
        out[ENC_HEADER - 8 + i] ^= (uint8_t)(index >> (8 * i));
}

/* enc2_ad() writes the associated data of chunk `index`: it binds each
 * chunk to its place, and the final flag makes a dropped tail detectable. */
static void enc2_ad(uint64_t index, bool final, uint8_t ad[ENC2_AD_BYTES])
{
    for (int i = 0; i < 8; i++)
        ad[i] = (uint8_t)(index >> (8 * i));
    ad[8] = final ? 1 : 0;
}

/* ---- open / close ------------------------------------------------------ */

int market_storage_open(struct market *m, const struct market_storage_config *cfg, struct ag_err *e)
{
    struct market_storage *st = calloc(1, sizeof(*st));
    char blocks[PATH_MAX];
    int rc = 0;

    if (!st)
        return ag_err_set(e, AG_ENOMEM);
    if (!cfg->data_dir ||
        snprintf(blocks, sizeof(blocks), "%s/blocks", cfg->data_dir) >= (int)sizeof(blocks) ||
        snprintf(st->uploads_dir, sizeof(st->uploads_dir), "%s/uploads", cfg->data_dir) >=
            (int)sizeof(st->uploads_dir)) {
        rc = ag_errf(e, AG_EINVAL, "data-dir", "data directory path is missing or too long");
        goto out;
    }
    st->max_upload = cfg->max_upload ? cfg->max_upload : DEFAULT_MAX_UPLOAD;
    if (cfg->kubo_api && cfg->kubo_api[0] && !(st->kubo_api = strdup(cfg->kubo_api))) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    st->upload_ttl = cfg->upload_ttl > 0 ? cfg->upload_ttl : DEFAULT_UPLOAD_TTL;
    if (mkdir_p(st->uploads_dir, 0700)) {
        rc = ag_errf(e, AG_EIO, "data-dir", "cannot create %s: %s", st->uploads_dir,
                     strerror(errno));
        goto out;
    }
    if ((rc = load_node_key(cfg->data_dir, st->node_key, e)))
        goto out;
    if ((rc = blockstore_open(&st->bs, blocks, e)))
        goto out;
    blockstore_set_verify(st->bs, cfg->verify);
    /* Blocks missing here are fetched from Kubo (hash-checked by the store). */
    if (st->kubo_api)
        blockstore_set_fetch(st->bs, market_kubo_fetch, m);
out:
    if (rc) {
        sodium_memzero(st->node_key, sizeof(st->node_key));
        free(st->kubo_api);
        free(st);
    } else {
        m->storage = st;
    }
    return rc;
}

void market_storage_close(struct market *m)
{
    struct market_storage *st = m->storage;
    if (!st)
        return;
    market_kubo_pinner_stop(m); /* it reads the blockstore */
    blockstore_free(st->bs);
    sodium_memzero(st->node_key, sizeof(st->node_key));
    free(st->kubo_api);
    free(st);
    m->storage = NULL;
}

struct blockstore *market_blockstore(struct market *m)
{
    return m->storage ? m->storage->bs : NULL;
}

const char *market_storage_kubo_url(struct market *m)
{
    return m->storage ? m->storage->kubo_api : NULL;
}

static int need_storage(struct market *m, struct ag_err *e)
{
    return m->storage ? 0 : ag_errf(e, AG_EUNAVAILABLE, NULL, "file storage is not configured");
}

static bool is_paid(json_t *model)
{
    const char *price = json_string_value(json_object_get(model, "price"));
    return price && strcmp(price, "0") != 0;
}

static bool is_owner(const struct principal *viewer, json_t *model)
{
    return viewer && viewer->user_id == json_integer_value(json_object_get(model, "owner_id"));
}

/* ---- uploads ----------------------------------------------------------- */

/* An upload id is 32 lowercase hex digits; anything else names no upload
 * (and so never reaches a path). */
static bool valid_upload_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n != 2 * UPLOAD_ID_BYTES)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static bool valid_sha256(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void part_path(const struct market_storage *st, const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.part", st->uploads_dir, id);
}

static json_t *upload_json(const struct upload_row *u, uint64_t offset)
{
    char model[128];
    snprintf(model, sizeof(model), "%s/%s", u->owner, u->slug);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I}", "id", u->id, "model", model,
                     "version", u->version, "name", u->name, "size", (json_int_t)u->size, "sha256",
                     json_str_or_null(u->sha256[0] ? u->sha256 : NULL), "offset",
                     (json_int_t)offset, "created_at", (json_int_t)u->created_at, "expires_at",
                     (json_int_t)u->expires_at);
}

/* load_upload() finds the viewer's live upload `id`. Others' uploads and
 * expired ones are AG_ENOTFOUND alike. */
static int load_upload(struct market *m, const struct principal *viewer, const char *id,
                       struct upload_row *u, struct ag_err *e)
{
    int rc;
    if (!valid_upload_id(id))
        return ag_errf(e, AG_ENOTFOUND, "id", "no such upload");
    rc = store_upload_get(m->store, id, u, e);
    if (rc == AG_ENOTFOUND ||
        (!rc && (!viewer || u->user_id != viewer->user_id || u->expires_at < time_now())))
        return ag_errf(e, AG_ENOTFOUND, "id", "no such upload");
    return rc;
}

int market_upload_create(struct market *m, const struct principal *viewer, const char *owner,
                         const char *slug, const char *version, const char *name, int64_t size,
                         const char *sha256, json_t **out, struct ag_err *e)
{
    json_t *model = NULL, *v = NULL;
    struct upload_row u;
    uint8_t raw[UPLOAD_ID_BYTES];
    char path[PATH_MAX];
    int fd = -1, rc;

    memset(&u, 0, sizeof(u));
    if ((rc = need_storage(m, e)) ||
        (rc = market__load_model(m, viewer, owner, slug, MODEL_WRITE, &model, e)) ||
        (rc = market_version_get(m, viewer, owner, slug, version, &v, e)))
        goto out;
    if (strcmp(json_string_value(json_object_get(v, "state")), "draft")) {
        rc = ag_errf(e, AG_ECONFLICT, "version",
                     "version %s is published and can no longer change; create a new version",
                     version);
        goto out;
    }
    if (!name || !valid_file_name(name)) {
        rc = ag_errf(e, AG_EINVAL, "name",
                     "file name must be 1-255 bytes, one path segment, not starting with '.', "
                     "without '/', '\\\\' or control characters");
        goto out;
    }
    if (size < 0) {
        rc = ag_errf(e, AG_EINVAL, "size", "size must be a non-negative integer");
        goto out;
    }
    if ((uint64_t)size > m->storage->max_upload) {
        rc = ag_errf(e, AG_ETOOBIG, "size", "files are limited to %" PRIu64 " bytes on this node",
                     m->storage->max_upload);
        goto out;
    }
    if (sha256 && !valid_sha256(sha256)) {
        rc = ag_errf(e, AG_EINVAL, "sha256", "sha256 must be 64 lowercase hex digits");
        goto out;
    }
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(u.id, sizeof(u.id), raw, sizeof(raw));
    u.version_id = json_integer_value(json_object_get(v, "id"));
    u.user_id = viewer->user_id;
    str_copy(u.name, name, sizeof(u.name));
    u.size = size;
    str_copy(u.sha256, sha256 ? sha256 : "", sizeof(u.sha256));
    u.created_at = time_now();
    u.expires_at = u.created_at + m->storage->upload_ttl;
    str_copy(u.owner, json_string_value(json_object_get(model, "owner")), sizeof(u.owner));
    str_copy(u.slug, json_string_value(json_object_get(model, "slug")), sizeof(u.slug));
    str_copy(u.version, json_string_value(json_object_get(v, "version")), sizeof(u.version));
    part_path(m->storage, u.id, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ag_errf(e, AG_EIO, NULL, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = store_upload_insert(m->store, &u, e))) {
        unlink(path);
        goto out;
    }
    *out = upload_json(&u, 0);
    if (!*out)
        rc = ag_err_set(e, AG_ENOMEM);
out:
    if (fd >= 0)
        close(fd);
    json_decref(model);
    json_decref(v);
    return rc;
}

/* part_size() is the upload's offset: the length of its .part file. */
static int part_size(struct market *m, const char *id, uint64_t *size, struct ag_err *e)
{
    char path[PATH_MAX];
    struct stat sb;
    part_path(m->storage, id, path, sizeof(path));
    if (stat(path, &sb))
        return errno == ENOENT
                   ? ag_errf(e, AG_ENOTFOUND, "id", "the bytes of this upload are not on this node")
                   : ag_errf(e, AG_EIO, NULL, "cannot stat %s: %s", path, strerror(errno));
    *size = (uint64_t)sb.st_size;
    return 0;
}

int market_upload_get(struct market *m, const struct principal *viewer, const char *id,
                      json_t **out, struct ag_err *e)
{
    struct upload_row u;
    uint64_t off = 0;
    int rc;

    if ((rc = need_storage(m, e)) || (rc = load_upload(m, viewer, id, &u, e)) ||
        (rc = part_size(m, id, &off, e)))
        return rc;
    *out = upload_json(&u, off);
    return *out ? 0 : ag_err_set(e, AG_ENOMEM);
}

/* drop_upload() deletes an upload's row and, if this call removed it, its bytes. */
static int drop_upload(struct market *m, const char *id, struct ag_err *e)
{
    char path[PATH_MAX];
    bool deleted = false;
    int rc = store_upload_delete(m->store, id, &deleted, e);
    if (!rc && deleted) {
        part_path(m->storage, id, path, sizeof(path));
        if (unlink(path) && errno != ENOENT)
            log_warn("storage: cannot remove %s: %s", path, strerror(errno));
    }
    return rc;
}

int market_upload_delete(struct market *m, const struct principal *viewer, const char *id,
                         struct ag_err *e)
{
    struct upload_row u;
    int rc;
    if ((rc = need_storage(m, e)) || (rc = load_upload(m, viewer, id, &u, e)))
        return rc;
    return drop_upload(m, id, e);
}

struct import;

struct upload_writer {
    struct market *m;
    struct upload_row u;
    int fd;
    uint64_t offset;
    bool dirty;
    /* A request that starts at offset 0 imports as the bytes arrive, so the
     * last byte needs no second pass over the file; a resumed upload (or one
     * whose live import failed) imports from its .part file at the end. */
    struct import *live;
    bool live_encrypt;
};

static int imp_begin(struct market_storage *st, bool encrypt, struct import **out,
                     struct ag_err *e);
static int imp_feed(struct import *im, const uint8_t *p, size_t n);
static void imp_free(struct import *im);

int market_upload_open(struct market *m, const struct principal *viewer, const char *id,
                       uint64_t offset, struct upload_writer **out, uint64_t *current,
                       struct ag_err *e)
{
    struct upload_writer *w = NULL;
    char path[PATH_MAX];
    struct stat sb;
    int rc;

    if ((rc = need_storage(m, e)))
        return rc;
    w = calloc(1, sizeof(*w));
    if (!w)
        return ag_err_set(e, AG_ENOMEM);
    w->m = m;
    w->fd = -1;
    if ((rc = load_upload(m, viewer, id, &w->u, e)))
        goto out;
    if (strcmp(w->u.state, "draft")) {
        rc = ag_errf(e, AG_ECONFLICT, "version", "version %s has been published meanwhile",
                     w->u.version);
        goto out;
    }
    part_path(m->storage, id, path, sizeof(path));
    w->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (w->fd < 0) {
        rc = errno == ENOENT
                 ? ag_errf(e, AG_ENOTFOUND, "id", "the bytes of this upload are not on this node")
                 : ag_errf(e, AG_EIO, NULL, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    if (flock(w->fd, LOCK_EX | LOCK_NB)) {
        rc = ag_errf(e, AG_ECONFLICT, "id", "another request is writing to this upload");
        goto out;
    }
    if (fstat(w->fd, &sb)) {
        rc = ag_errf(e, AG_EIO, NULL, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    w->offset = (uint64_t)sb.st_size;
    if (current)
        *current = w->offset;
    if (offset != w->offset) {
        rc = ag_errf(e, AG_ECONFLICT, "offset",
                     "Upload-Offset is %" PRIu64 " but the upload is at %" PRIu64, offset,
                     w->offset);
        goto out;
    }
    if (w->offset == 0) {
        json_t *model = NULL;
        if (!store_model_get(m->store, w->u.owner, w->u.slug, &model, NULL)) {
            w->live_encrypt = is_paid(model);
            if (imp_begin(m->storage, w->live_encrypt, &w->live, NULL))
                w->live = NULL; /* fine: the end imports from the .part file */
        }
        json_decref(model);
    }
out:
    if (rc) {
        market_upload_close(w);
        w = NULL;
    }
    *out = w;
    return rc;
}

int market_upload_write(struct upload_writer *w, const void *p, size_t n, struct ag_err *e)
{
    const char *c = p;
    if (w->offset + n > (uint64_t)w->u.size)
        return ag_errf(e, AG_EINVAL, "size",
                       "the body goes past the upload's declared size of %" PRId64 " bytes",
                       w->u.size);
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return ag_errf(e, k < 0 ? ag_errno_code(errno) : AG_EIO, NULL,
                           "cannot write upload %s: %s", w->u.id,
                           k < 0 ? strerror(errno) : "no progress");
        w->dirty = true;
        if (w->live && imp_feed(w->live, (const uint8_t *)c, (size_t)k)) {
            log_warn("storage: live import of upload %s failed; importing at the end instead",
                     w->u.id);
            imp_free(w->live);
            w->live = NULL;
        }
        w->offset += (uint64_t)k;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- import -------------------------------------------------------------- */

/* Leaves are put from the importer's hashing threads at once
 * (parallel_put): the first error is kept under `lock`. */
struct import_ctx {
    struct blockstore *bs;
    struct ag_err *e;
    pthread_mutex_t lock;
};

/* put_block() stores one block; a block already present gets its mtime
 * renewed so that gc's grace period protects it until the import is pinned. */
static int put_block(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct import_ctx *ic = ctx;
    struct ag_err e = {0};
    char path[PATH_MAX];
    int rc = blockstore_has(ic->bs, cid, &e);

    if (rc == 1 && !blockstore_path(ic->bs, cid, path, sizeof(path))) {
        utimensat(AT_FDCWD, path, NULL, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = blockstore_put(ic->bs, cid, data, len, &e);
    }
    if (rc < 0) {
        pthread_mutex_lock(&ic->lock);
        if (!ic->e->code)
            *ic->e = e;
        pthread_mutex_unlock(&ic->lock);
    }
    return rc < 0 ? rc : 0;
}

struct import_result {
    struct cid root;
    char sha256[65];
    uint8_t key[KEY_BYTES];
    uint64_t stored_size;
};

/* An import in progress: plaintext goes in through imp_feed() in any pieces;
 * it is hashed with SHA-256 and, when `encrypt`, sealed chunk by chunk
 * (format 2) before the importer chunks it into the blockstore, inside one
 * blockstore batch (so an abandoned import leaves no visible blocks). */
struct import {
    struct market_storage *st;
    struct blockstore *bs; /* its own handle: a batch belongs to one handle */
    struct importer *im;
    struct import_ctx ic;
    struct ag_err err;
    EVP_MD_CTX *md;
    bool encrypt, batch;
    uint8_t key[KEY_BYTES];
    uint8_t file_nonce[ENC_HEADER];
    uint8_t *rec, *ct; /* one plaintext chunk being filled, its sealed form */
    size_t rec_n;
    uint64_t chunk; /* index of the chunk being filled */
    uint64_t fed;   /* plaintext bytes taken */
};

static void imp_free(struct import *im)
{
    if (!im)
        return;
    if (im->batch)
        blockstore_batch_abort(im->bs);
    blockstore_free(im->bs);
    importer_free(im->im);
    EVP_MD_CTX_free(im->md);
    sodium_memzero(im->key, sizeof(im->key));
    if (im->rec)
        sodium_memzero(im->rec, ENC_CHUNK);
    free(im->rec);
    free(im->ct);
    free(im);
}

static int imp_begin(struct market_storage *st, bool encrypt, struct import **out, struct ag_err *e)
{
    struct import *im = calloc(1, sizeof(*im));
    struct importer_opts o;
    int rc = 0;

    if (!im)
        return ag_err_set(e, AG_ENOMEM);
    im->ic.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    im->st = st;
    im->encrypt = encrypt;
    im->ic.e = &im->err;
    if ((rc = blockstore_open(&im->bs, blockstore_dir(st->bs), e))) {
        free(im);
        *out = NULL;
        return rc;
    }
    im->ic.bs = im->bs;
    im->md = EVP_MD_CTX_new();
    if (encrypt) {
        im->rec = malloc(ENC_CHUNK);
        im->ct = malloc(ENC_CHUNK + ENC2_ABYTES);
    }
    importer_opts_default(&o);
    /* Leaves go to the blockstore from the hashing threads (O_DIRECT from
     * the importer's aligned batch), as in `agora ipfs add`. */
    o.parallel_put = true;
    o.threads = IMPORTER_PUT_THREADS;
    if (!im->md || (encrypt && (!im->rec || !im->ct))) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    EVP_DigestInit_ex(im->md, EVP_sha256(), NULL);
    if ((rc = importer_new(&im->im, &o, put_block, &im->ic, e)) ||
        (rc = blockstore_batch_begin(im->bs, e)))
        goto out;
    im->batch = true;
    if (encrypt) {
        crypto_aead_xchacha20poly1305_ietf_keygen(im->key);
        randombytes_buf(im->file_nonce, sizeof(im->file_nonce));
        rc = importer_write(im->im, im->file_nonce, sizeof(im->file_nonce));
    }
out:
    if (rc) {
        if (!e || !e->code)
            ag_errf(e, rc, NULL, "import failed: %s", im->err.msg[0] ? im->err.msg : "error");
        imp_free(im);
        im = NULL;
    }
    *out = im;
    return rc;
}

/* seal_chunk() seals the chunk being filled (the final one when `last`)
 * and feeds it to the importer. */
static int seal_chunk(struct import *im, bool last)
{
    uint8_t nonce[ENC_HEADER], ad[ENC2_AD_BYTES];
    unsigned long long clen = 0;
    enc2_nonce(im->file_nonce, im->chunk, nonce);
    enc2_ad(im->chunk, last, ad);
    crypto_aead_xchacha20poly1305_ietf_encrypt(im->ct, &clen, im->rec, im->rec_n, ad, sizeof(ad),
                                               NULL, nonce, im->key);
    im->rec_n = 0;
    im->chunk++;
    return importer_write(im->im, im->ct, (size_t)clen);
}

static int imp_feed(struct import *im, const uint8_t *p, size_t n)
{
    int rc = 0;
    EVP_DigestUpdate(im->md, p, n);
    im->fed += n;
    if (!im->encrypt)
        return n ? importer_write(im->im, p, n) : 0;
    while (n && !rc) {
        size_t k = MIN(n, ENC_CHUNK - im->rec_n);
        memcpy(im->rec + im->rec_n, p, k);
        im->rec_n += k;
        p += k;
        n -= k;
        /* A full chunk is never the last: the last holds size mod 64 KiB. */
        if (im->rec_n == ENC_CHUNK)
            rc = seal_chunk(im, false);
    }
    return rc;
}

/* imp_end() seals the last chunk, finishes the DAG and commits the batch. */
static int imp_end(struct import *im, struct import_result *r, struct ag_err *e)
{
    uint64_t fsize = 0, dsize = 0, want;
    uint8_t digest[32];
    int rc = im->encrypt ? seal_chunk(im, true) : 0;

    if (!rc)
        rc = importer_finish(im->im, &r->root, &fsize, &dsize);
    if (rc)
        return ag_errf(e, rc, NULL, "import failed: %s",
                       im->err.msg[0] ? im->err.msg : ag_strerror(rc));
    im->batch = false;
    if ((rc = blockstore_batch_commit(im->bs, e)))
        return rc;
    EVP_DigestFinal_ex(im->md, digest, NULL);
    sodium_bin2hex(r->sha256, sizeof(r->sha256), digest, sizeof(digest));
    memcpy(r->key, im->key, sizeof(r->key));
    r->stored_size = fsize;
    want = im->encrypt ? enc_size(ENC_FORMAT, im->fed) : im->fed;
    if (fsize != want)
        return ag_errf(e, AG_EINTERNAL, NULL, "imported %" PRIu64 " bytes, expected %" PRIu64,
                       fsize, want);
    return 0;
}

/* import_fd() imports the first `size` bytes of fd (a complete .part). */
static int import_fd(struct market_storage *st, int fd, uint64_t size, bool encrypt,
                     struct import_result *r, struct ag_err *e)
{
    struct import *im = NULL;
    uint8_t *buf = malloc(READ_BLOCK);
    uint64_t pos = 0;
    int rc = buf ? imp_begin(st, encrypt, &im, e) : ag_err_set(e, AG_ENOMEM);

    while (!rc && pos < size) {
        size_t want = (size_t)MIN((uint64_t)READ_BLOCK, size - pos);
        ssize_t k = pread(fd, buf, want, (off_t)pos);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = ag_errf(e, AG_EIO, NULL, "cannot read upload data: %s",
                         k < 0 ? strerror(errno) : "file shrank");
            break;
        }
        pos += (uint64_t)k;
        if ((rc = imp_feed(im, buf, (size_t)k)))
            rc = ag_errf(e, rc, NULL, "import failed: %s",
                         im->err.msg[0] ? im->err.msg : ag_strerror(rc));
    }
    if (!rc)
        rc = imp_end(im, r, e);
    imp_free(im);
    free(buf);
    return rc;
}

/* complete() imports a fully received upload and records the file entry. */
static int complete(struct upload_writer *w, json_t **file, struct ag_err *e)
{
    struct market *m = w->m;
    struct import_result r;
    struct upload_row again;
    json_t *model = NULL;
    char cid[CID_MAX_STR], sealed[2 * SEALED_BYTES + 1];
    int64_t file_id = 0;
    bool encrypt;
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = store_model_get(m->store, w->u.owner, w->u.slug, &model, e)))
        goto out;
    encrypt = is_paid(model);
    if (w->live && w->live_encrypt == encrypt) {
        rc = imp_end(w->live, &r, e);
        imp_free(w->live);
        w->live = NULL;
    } else {
        rc = import_fd(m->storage, w->fd, (uint64_t)w->u.size, encrypt, &r, e);
    }
    if (rc)
        goto out;
    if (w->u.sha256[0] && strcmp(w->u.sha256, r.sha256)) {
        rc = ag_errf(e, AG_EINVAL, "sha256",
                     "the uploaded bytes have sha256 %s, not the declared %s; the upload is "
                     "discarded",
                     r.sha256, w->u.sha256);
        drop_upload(m, w->u.id, NULL);
        goto out;
    }
    cid_format(&r.root, cid, sizeof(cid));
    if (encrypt)
        seal_key(m->storage, r.key, sealed);
    if ((rc = store_begin(m->store)))
        goto out;
    rc = store_upload_get(m->store, w->u.id, &again, e);
    if (!rc && strcmp(again.state, "draft"))
        rc = ag_errf(e, AG_ECONFLICT, "version", "version %s has been published meanwhile",
                     w->u.version);
    if (!rc)
        rc = store_file_put(m->store, w->u.version_id, w->u.name, w->u.size, cid, r.sha256,
                            time_now(), &file_id, e);
    if (!rc)
        rc = store_file_key_put(m->store, file_id, encrypt ? sealed : NULL, ENC_FORMAT,
                                (int64_t)r.stored_size, e);
    if (!rc)
        rc = store_upload_delete(m->store, w->u.id, NULL, e);
    /* Kubo pins it from the re-pin queue's thread (kubo_pin.c): the upload
     * does not wait on Kubo, and a root stored while Kubo is down waits in
     * the database until it is back. */
    if (!rc && m->storage->kubo_api)
        rc = store_kubo_pin_add(m->store, cid, time_now(), e);
    if (rc) {
        store_rollback(m->store);
        goto out;
    }
    if ((rc = store_commit(m->store)))
        goto out;
    {
        char path[PATH_MAX];
        part_path(m->storage, w->u.id, path, sizeof(path));
        unlink(path);
    }
    log_info("storage: stored %s/%s@%s %s (%" PRId64 " bytes%s) as %s", w->u.owner, w->u.slug,
             w->u.version, w->u.name, w->u.size, encrypt ? ", encrypted" : "", cid);
    if (m->storage->kubo_api)
        market_kubo_pinner_wake(m);
    *file = json_pack("{s:I, s:s, s:I, s:s, s:s, s:b}", "id", (json_int_t)file_id, "name",
                      w->u.name, "size", (json_int_t)w->u.size, "cid", cid, "sha256", r.sha256,
                      "encrypted", encrypt);
    if (!*file)
        rc = ag_err_set(e, AG_ENOMEM);
out:
    sodium_memzero(r.key, sizeof(r.key));
    json_decref(model);
    return rc;
}

int market_upload_finish(struct upload_writer *w, json_t **file, uint64_t *offset, struct ag_err *e)
{
    *file = NULL;
    *offset = w->offset;
    if (w->dirty && fdatasync(w->fd))
        return ag_errf(e, ag_errno_code(errno), NULL, "cannot sync upload %s: %s", w->u.id,
                       strerror(errno));
    w->dirty = false;
    if (w->offset < (uint64_t)w->u.size)
        return 0;
    return complete(w, file, e);
}

uint64_t market_upload_offset(const struct upload_writer *w)
{
    return w->offset;
}

void market_upload_close(struct upload_writer *w)
{
    if (!w)
        return;
    imp_free(w->live); /* an import that did not finish leaves no blocks */
    if (w->fd >= 0) {
        if (w->dirty && fdatasync(w->fd))
            log_warn("storage: cannot sync upload %s: %s", w->u.id, strerror(errno));
        close(w->fd); /* releases the lock */
    }
    free(w);
}

int market_upload_expire(struct market *m, int64_t now, int *removed, struct ag_err *e)
{
    json_t *ids = NULL, *id;
    DIR *d = NULL;
    struct dirent *de;
    struct ag_err te = {0};
    uint64_t tmp_n = 0;
    size_t i;
    int n = 0, rc;

    if ((rc = need_storage(m, e)) || (rc = store_upload_expired(m->store, now, 1000, &ids, e)))
        goto out;
    json_array_foreach(ids, i, id)
    {
        if ((rc = drop_upload(m, json_string_value(id), e)))
            goto out;
        n++;
    }
    /* .part files whose row is gone (another node expired it, or a crash
     * between the two steps), once they are older than the upload lifetime. */
    d = opendir(m->storage->uploads_dir);
    while (d && (de = readdir(d))) {
        char uid[2 * UPLOAD_ID_BYTES + 1], path[PATH_MAX];
        struct upload_row u;
        struct stat sb;
        size_t len = strlen(de->d_name);
        if (len != 2 * UPLOAD_ID_BYTES + 5 || !str_ends(de->d_name, ".part"))
            continue;
        memcpy(uid, de->d_name, 2 * UPLOAD_ID_BYTES);
        uid[2 * UPLOAD_ID_BYTES] = '\0';
        part_path(m->storage, uid, path, sizeof(path));
        if (!valid_upload_id(uid) || stat(path, &sb) ||
            sb.st_mtime + m->storage->upload_ttl >= now ||
            store_upload_get(m->store, uid, &u, NULL) != AG_ENOTFOUND)
            continue;
        if (!unlink(path))
            n++;
    }
    /* And the blockstore's temporary files a crash left behind. */
    if (blockstore_sweep_tmp(m->storage->bs, now - MARKET_TMP_GRACE_S, false, &tmp_n, NULL, &te))
        log_warn("storage: %s", te.msg);
    else if (tmp_n)
        log_info("storage: removed %" PRIu64 " stale temporary block files", tmp_n);
out:
    if (d)
        closedir(d);
    json_decref(ids);
    if (removed)
        *removed = n;
    return rc;
}

/* ---- downloads ----------------------------------------------------------- */

/* market__licence_holder() says whether `viewer` holds a licence for the
 * model: market_licence_holder() (chain.c) looks for a purchase, not
 * refunded, from an address linked to the viewer's account in the chain
 * index (then on the chain itself); no chain configured means no licences.
 * Tested end to end in e2e.test_chain. */
static bool market__licence_holder(struct market *m, const struct principal *viewer, json_t *model)
{
    return market_licence_holder(m, viewer, model);
}

int market_file_access(struct market *m, const struct principal *viewer, json_t *model,
                       json_t *version, struct ag_err *e)
{
    int rc = market_model_access(viewer, model, MODEL_READ, e);
    bool owner = is_owner(viewer, model), paid_onchain, owner_onchain;

    if (rc)
        return rc;
    if (!owner && strcmp(json_string_value(json_object_get(version, "state")), "published"))
        return ag_errf(e, AG_ENOTFOUND, "version", "no such version");
    /* A listing registered on chain is paid when either price is not zero
     * (the Marketplace sells at the on-chain one), and whoever holds its
     * token may read it like the listing's owner (drafts stay the node
     * owner's). */
    market_chain_terms(m, viewer, model, &paid_onchain, &owner_onchain);
    if ((!is_paid(model) && !paid_onchain) || owner || owner_onchain ||
        market__licence_holder(m, viewer, model))
        return 0;
    if (!viewer)
        return ag_errf(e, AG_EUNAUTH, NULL, "this is a paid model: sign in with a licence");
    return ag_errf(e, AG_EFORBIDDEN, NULL, "this is a paid model: a licence is needed");
}

struct market_file {
    struct market *m;
    struct market_file_info info;
    struct cid root;
    uint64_t stored_size;
    struct exporter_cursor *cur; /* the stored DAG, read block by block */
    /* encrypted files: */
    int format;
    uint8_t key[KEY_BYTES];
    uint8_t *plain, *ct;  /* one chunk each */
    size_t plain_len;     /* plain[] holds plaintext [plain_start, plain_start+plain_len) */
    uint64_t plain_start;
    bool have_plain;
    /* format 2: */
    uint8_t file_nonce[ENC_HEADER];
    /* format 1 (secretstream, read forwards only): */
    crypto_secretstream_xchacha20poly1305_state ss;
    bool started, finished;
    uint64_t ct_pos; /* next ciphertext byte to decrypt */
};

void market_file_close(struct market_file *f)
{
    if (!f)
        return;
    exporter_cursor_free(f->cur);
    sodium_memzero(f->key, sizeof(f->key));
    sodium_memzero(&f->ss, sizeof(f->ss));
    if (f->plain)
        sodium_memzero(f->plain, ENC_CHUNK);
    free(f->plain);
    free(f->ct);
    free(f);
}

/* read_stored() reads exactly `len` bytes of the stored DAG at `pos`. */
static int read_stored(struct market_file *f, uint64_t pos, uint8_t *out, size_t len,
                       struct ag_err *e)
{
    size_t n = 0;
    int rc = exporter_cursor_read(f->cur, pos, out, len, &n, e);
    if (!rc && n != len)
        rc = ag_errf(e, AG_ECORRUPT, NULL, "file %s is shorter than recorded", f->info.name);
    return rc;
}

static int open_chunk(struct market_file *f, uint64_t index, struct ag_err *e);

int market_file_open(struct market *m, const struct principal *viewer, const char *owner,
                     const char *slug, const char *version, const char *name,
                     struct market_file **out, struct ag_err *e)
{
    struct market_file *f = NULL;
    json_t *model = NULL, *v = NULL;
    struct file_row row;
    int rc;

    if ((rc = need_storage(m, e)) ||
        (rc = market__load_model(m, viewer, owner, slug, MODEL_READ, &model, e)) ||
        (rc = market_version_get(m, viewer, owner, slug, version, &v, e)) ||
        (rc = market_file_access(m, viewer, model, v, e)))
        goto out;
    if (!name || !valid_file_name(name)) {
        rc = ag_errf(e, AG_ENOTFOUND, "name", "no such file");
        goto out;
    }
    rc = store_file_get(m->store, json_integer_value(json_object_get(v, "id")), name, &row, e);
    if (rc == AG_ENOTFOUND || (!rc && !row.cid[0]))
        rc = ag_errf(e, AG_ENOTFOUND, "name", "file %s has no content (yet)", name);
    if (rc)
        goto out;
    f = calloc(1, sizeof(*f));
    if (!f) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    f->m = m;
    f->info.id = row.id;
    f->info.size = (uint64_t)row.size;
    str_copy(f->info.name, row.name, sizeof(f->info.name));
    str_copy(f->info.cid, row.cid, sizeof(f->info.cid));
    str_copy(f->info.sha256, row.sha256, sizeof(f->info.sha256));
    f->info.encrypted = row.sealed_key[0] != '\0';
    f->stored_size = (uint64_t)row.stored_size;
    if ((rc = cid_parse(&f->root, row.cid, e)))
        goto out;
    /* Read (and verify) the root now, so a missing or corrupt root is a
     * clean error before any header goes out, not a cut-off body. */
    {
        uint64_t stored = 0;
        rc = exporter_cursor_open(&f->cur, m->storage->bs, &f->root, e);
        if (!rc)
            stored = exporter_cursor_size(f->cur);
        if (rc == AG_ENOTFOUND)
            rc = ag_errf(e, AG_ECORRUPT, NULL, "file %s: root block %s is missing", name, row.cid);
        if (!rc && stored != (uint64_t)row.stored_size)
            rc = ag_errf(e, AG_ECORRUPT, NULL,
                         "file %s: the stored DAG holds %" PRIu64 " bytes, not %" PRId64, name,
                         stored, row.stored_size);
        if (rc)
            goto out;
    }
    if (f->info.encrypted) {
        f->format = row.format;
        if (!enc_abytes(row.format)) {
            rc = ag_errf(e, AG_ECORRUPT, NULL, "file %s: unknown encryption format %d", name,
                         row.format);
            goto out;
        }
        if (f->stored_size != enc_size(row.format, f->info.size)) {
            rc = ag_errf(e, AG_ECORRUPT, NULL,
                         "file %s: %" PRIu64 " stored bytes cannot hold %" PRIu64
                         " bytes in encryption format %d",
                         name, f->stored_size, f->info.size, row.format);
            goto out;
        }
        f->plain = malloc(ENC_CHUNK);
        f->ct = malloc(ENC_CHUNK + ENC2_ABYTES + ENC1_ABYTES);
        if (!f->plain || !f->ct) {
            rc = ag_err_set(e, AG_ENOMEM);
            goto out;
        }
        rc = unseal_key(m->storage, row.sealed_key, f->key, e);
        if (!rc && f->format == ENC_FORMAT)
            rc = read_stored(f, 0, f->file_nonce, sizeof(f->file_nonce), e);
        if (!rc && f->format == ENC_FORMAT && f->info.size == 0)
            rc = open_chunk(f, 0, e); /* the empty file is one empty final chunk */
    }
out:
    if (rc) {
        market_file_close(f);
        f = NULL;
    }
    *out = f;
    json_decref(model);
    json_decref(v);
    return rc;
}

const struct market_file_info *market_file_info(const struct market_file *f)
{
    return &f->info;
}

/* next_record() decrypts the next format-1 record into f->plain. */
static int next_record(struct market_file *f, struct ag_err *e)
{
    unsigned long long plen = 0;
    uint8_t tag = 0;
    size_t clen;
    int rc;

    if (!f->started) {
        uint8_t header[ENC_HEADER];
        if ((rc = read_stored(f, 0, header, sizeof(header), e)))
            return rc;
        if (crypto_secretstream_xchacha20poly1305_init_pull(&f->ss, header, f->key))
            return ag_errf(e, AG_ECORRUPT, NULL, "file %s: bad encryption header", f->info.name);
        f->started = true;
        f->have_plain = true;
        f->ct_pos = ENC_HEADER;
        f->plain_start = 0;
        f->plain_len = 0;
    }
    if (f->finished)
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: data after the final record", f->info.name);
    clen = (size_t)MIN((uint64_t)(ENC_CHUNK + ENC1_ABYTES), f->stored_size - f->ct_pos);
    if (clen < ENC1_ABYTES)
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: truncated ciphertext", f->info.name);
    if ((rc = read_stored(f, f->ct_pos, f->ct, clen, e)))
        return rc;
    if (crypto_secretstream_xchacha20poly1305_pull(&f->ss, f->plain, &plen, &tag, f->ct, clen, NULL,
                                                   0))
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: ciphertext fails authentication",
                       f->info.name);
    f->ct_pos += clen;
    f->plain_start += f->plain_len;
    f->plain_len = (size_t)plen;
    f->finished = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (f->finished != (f->ct_pos == f->stored_size))
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: records and size disagree", f->info.name);
    return 0;
}

/* open_chunk() decrypts format-2 chunk `index` into f->plain. Each chunk is
 * authenticated with its index and whether it is the last one, so a chunk
 * moved, swapped, dropped or cut off fails here as AG_ECORRUPT. */
static int open_chunk(struct market_file *f, uint64_t index, struct ag_err *e)
{
    uint8_t nonce[ENC_HEADER], ad[ENC2_AD_BYTES];
    uint64_t at = ENC_HEADER + index * (ENC_CHUNK + ENC2_ABYTES);
    unsigned long long plen = 0;
    size_t clen;
    bool final;
    int rc;

    f->have_plain = false;
    if (at + ENC2_ABYTES > f->stored_size)
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: truncated ciphertext", f->info.name);
    clen = (size_t)MIN((uint64_t)(ENC_CHUNK + ENC2_ABYTES), f->stored_size - at);
    final = at + clen == f->stored_size;
    if (!final && clen != ENC_CHUNK + ENC2_ABYTES)
        return ag_errf(e, AG_ECORRUPT, NULL, "file %s: chunks and size disagree", f->info.name);
    if ((rc = read_stored(f, at, f->ct, clen, e)))
        return rc;
    enc2_nonce(f->file_nonce, index, nonce);
    enc2_ad(index, final, ad);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(f->plain, &plen, NULL, f->ct, clen, ad,
                                                   sizeof(ad), nonce, f->key))
        return ag_errf(e, AG_ECORRUPT, NULL,
                       "file %s: chunk %" PRIu64 " fails authentication (tampered, moved or "
                       "truncated ciphertext)",
                       f->info.name, index);
    f->plain_start = index * ENC_CHUNK;
    f->plain_len = (size_t)plen;
    f->have_plain = true;
    return 0;
}

int market_file_read(struct market_file *f, uint64_t pos, void *out, size_t max, size_t *n,
                     struct ag_err *e)
{
    size_t len;
    int rc;

    *n = 0;
    if (pos >= f->info.size || !max)
        return 0;
    len = (size_t)MIN((uint64_t)max, f->info.size - pos);
    if (!f->info.encrypted) {
        if ((rc = read_stored(f, pos, out, len, e)))
            return rc;
        *n = len;
        return 0;
    }
    if (f->format == ENC_FORMAT) {
        if ((!f->have_plain || pos < f->plain_start || pos >= f->plain_start + f->plain_len) &&
            (rc = open_chunk(f, pos / ENC_CHUNK, e)))
            return rc;
        if (pos >= f->plain_start + f->plain_len)
            return ag_errf(e, AG_ECORRUPT, NULL, "file %s: a chunk is shorter than recorded",
                           f->info.name);
    } else {
        if (f->started && pos < f->plain_start)
            return ag_errf(e, AG_EINVAL, NULL,
                           "files encrypted in format 1 are read forwards only");
        while (!f->started || pos >= f->plain_start + f->plain_len)
            if ((rc = next_record(f, e)))
                return rc;
    }
    len = MIN(len, (size_t)(f->plain_start + f->plain_len - pos));
    memcpy(out, f->plain + (pos - f->plain_start), len);
    /* A size that is a multiple of the chunk ends with an empty final chunk
     * no byte lives in: open it when the last byte goes out, so a dropped
     * tail is noticed there too. */
    if (f->format == ENC_FORMAT && pos + len == f->info.size && !(f->info.size % ENC_CHUNK) &&
        (rc = open_chunk(f, f->info.size / ENC_CHUNK, e)))
        return rc;
    *n = len;
    return 0;
}

int market_file_downloaded(struct market_file *f, const char *who, struct ag_err *e)
{
    return market_download_record(f->m, f->info.id, who, e);
}

/* ---- gc ---------------------------------------------------------------- */

struct digest_set {
    uint8_t (*d)[32];
    size_t n, cap;
};

static int collect(void *ctx, const struct cid *cid, const uint8_t *data, size_t len)
{
    struct digest_set *s = ctx;
    UNUSED(data);
    UNUSED(len);
    if (cid->mh_code != MC_SHA2_256 || cid->digest_len != 32)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        void *p = realloc(s->d, cap * 32);
        if (!p)
            return AG_ENOMEM;
        s->d = p;
        s->cap = cap;
    }
    memcpy(s->d[s->n++], cid->digest, 32);
    return 0;
}

static int cmp_digest(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

struct sweep {
    struct blockstore *bs;
    struct digest_set *keep;
    int64_t cutoff;
    bool dry_run;
    struct gc_stats *st;
    struct ag_err *e;
};

static int sweep_block(void *ctx, const struct cid *cid)
{
    struct sweep *w = ctx;
    char path[PATH_MAX];
    struct stat sb;

    if (cid->mh_code == MC_SHA2_256 && cid->digest_len == 32 &&
        bsearch(cid->digest, w->keep->d, w->keep->n, 32, cmp_digest)) {
        w->st->kept++;
        return 0;
    }
    if (blockstore_path(w->bs, cid, path, sizeof(path)) || stat(path, &sb))
        return 0; /* gone meanwhile */
    if (sb.st_mtime > w->cutoff) {
        w->st->young++;
        return 0;
    }
    if (!w->dry_run) {
        int rc = blockstore_delete(w->bs, cid, w->e);
        if (rc && rc != AG_ENOTFOUND)
            return rc;
    }
    w->st->removed++;
    w->st->removed_bytes += (uint64_t)sb.st_size;
    return 0;
}

int market_gc(struct market *m, int64_t grace_s, bool dry_run, struct gc_stats *st,
              struct ag_err *e)
{
    struct digest_set keep = {0};
    struct sweep w;
    json_t *pins = NULL, *p;
    size_t i;
    int rc;

    memset(st, 0, sizeof(*st));
    /* The cutoff is taken before the pins are read: a block written after it
     * is young, and one written before it belongs to an import that either
     * committed its pin already (and is in the list) or failed. */
    w.cutoff = time_now() - grace_s;
    if ((rc = need_storage(m, e)) || (rc = store_pins(m->store, &pins, e)))
        goto out;
    json_array_foreach(pins, i, p)
    {
        struct cid root;
        if ((rc = cid_parse(&root, json_string_value(p), e)))
            goto out;
        rc = dag_walk(m->storage->bs, &root, collect, &keep, e);
        if (rc) {
            ag_errf(e, rc, NULL, "cannot walk pinned DAG %s (%s); nothing was removed",
                    json_string_value(p), ag_strerror(rc));
            goto out;
        }
        st->pinned_roots++;
    }
    qsort(keep.d, keep.n, 32, cmp_digest);
    w.bs = m->storage->bs;
    w.keep = &keep;
    w.dry_run = dry_run;
    w.st = st;
    w.e = e;
    rc = blockstore_iterate(m->storage->bs, sweep_block, &w, e);
    if (!rc)
        rc = blockstore_sweep_tmp(m->storage->bs, w.cutoff, dry_run, &st->tmp_removed,
                                  &st->tmp_bytes, e);
out:
    free(keep.d);
    json_decref(pins);
    return rc;
}
