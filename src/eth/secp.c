/* secp.c - secp256k1 signing and public key recovery on libsecp256k1. */
#include "core/common.h"

#include "core/buf.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/util.h"
#include "eth/addr.h"
#include "eth/secp.h"

#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>

static secp256k1_context *g_ctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void ctx_create(void)
{
    uint8_t seed[32];
    secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!c)
        return;
    rand_bytes(seed, sizeof(seed));
    /* Blinding against side channels; failure leaves the context usable. */
    if (!secp256k1_context_randomize(c, seed))
        log_warn("secp256k1: context randomization failed");
    sodium_memzero(seed, sizeof(seed));
    g_ctx = c;
}

static secp256k1_context *ctx(void)
{
    pthread_once(&g_once, ctx_create);
    return g_ctx;
}

int secp_key_valid(const uint8_t priv[32])
{
    return ctx() && secp256k1_ec_seckey_verify(ctx(), priv) == 1;
}

int secp_keygen(uint8_t priv[32])
{
    if (!ctx())
        return AG_EINTERNAL;
    do {
        rand_bytes(priv, 32);
    } while (!secp256k1_ec_seckey_verify(ctx(), priv));
    return 0;
}

int secp_pubkey(const uint8_t priv[32], uint8_t pub[65])
{
    secp256k1_pubkey pk;
    size_t len = 65;
    if (!ctx())
        return AG_EINTERNAL;
    if (!secp256k1_ec_pubkey_create(ctx(), &pk, priv))
        return AG_EINVAL;
    secp256k1_ec_pubkey_serialize(ctx(), pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
    return 0;
}

int secp_address(const uint8_t priv[32], uint8_t addr[20])
{
    uint8_t pub[65];
    int rc = secp_pubkey(priv, pub);
    if (!rc)
        rc = addr_from_pubkey(pub, addr);
    return rc;
}

int secp_sign(const uint8_t priv[32], const uint8_t digest[32], struct eth_sig *sig)
{
    secp256k1_ecdsa_recoverable_signature rs;
    uint8_t out[64];
    int recid = 0;
    if (!ctx())
        return AG_EINTERNAL;
    /* libsecp256k1 always produces low-s signatures. */
    if (!secp256k1_ecdsa_sign_recoverable(ctx(), &rs, digest, priv, NULL, NULL))
        return AG_EINVAL;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx(), out, &recid, &rs);
    memcpy(sig->r, out, 32);
    memcpy(sig->s, out + 32, 32);
    sig->v = recid;
    sodium_memzero(&rs, sizeof(rs));
    return 0;
}

/* is_high_s() compares s with n/2. */
static bool is_high_s(const uint8_t s[32])
{
    static const uint8_t half[32] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d,
                                     0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};
    return memcmp(s, half, 32) > 0;
}

int secp_recover(const uint8_t digest[32], const struct eth_sig *sig, uint8_t pub[65])
{
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    uint8_t in[64];
    size_t len = 65;
    if (!ctx())
        return AG_EINTERNAL;
    if (sig->v != 0 && sig->v != 1)
        return AG_EINVAL;
    if (is_high_s(sig->s))
        return AG_EINVAL;
    memcpy(in, sig->r, 32);
    memcpy(in + 32, sig->s, 32);
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx(), &rs, in, sig->v))
        return AG_EINVAL;
    if (!secp256k1_ecdsa_recover(ctx(), &pk, &rs, digest))
        return AG_EINVAL;
    secp256k1_ec_pubkey_serialize(ctx(), pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
    return 0;
}

int secp_recover_address(const uint8_t digest[32], const struct eth_sig *sig, uint8_t addr[20])
{
    uint8_t pub[65];
    int rc = secp_recover(digest, sig, pub);
    if (!rc)
        rc = addr_from_pubkey(pub, addr);
    return rc;
}

void sig_to_bytes65(const struct eth_sig *sig, uint8_t out[65])
{
    memcpy(out, sig->r, 32);
    memcpy(out + 32, sig->s, 32);
    out[64] = (uint8_t)(27 + sig->v);
}

int sig_from_bytes65(const uint8_t in[65], struct eth_sig *sig)
{
    int v = in[64];
    if (v == 27 || v == 28)
        v -= 27;
    if (v != 0 && v != 1)
        return AG_EINVAL;
    memcpy(sig->r, in, 32);
    memcpy(sig->s, in + 32, 32);
    sig->v = v;
    return 0;
}

int sig_parse_hex(const char *hex, struct eth_sig *sig, struct ag_err *e)
{
    struct buf b;
    int rc;
    buf_init(&b, 65);
    if (!hex || strlen(hex) != 132 || hex[0] != '0' || hex[1] != 'x') {
        rc = ag_errf(e, AG_EINVAL, "signature", "a signature is 0x followed by 130 hex digits");
        goto out;
    }
    if (hex_decode(&b, hex + 2, 130) != 0) {
        rc = ag_errf(e, AG_EINVAL, "signature", "signature is not valid hex");
        goto out;
    }
    rc = sig_from_bytes65((const uint8_t *)b.p, sig);
    if (rc)
        ag_errf(e, rc, "signature", "signature recovery byte must be 27, 28, 0 or 1");
out:
    buf_release(&b);
    return rc;
}

void sig_format_hex(const struct eth_sig *sig, char out[133])
{
    static const char hx[] = "0123456789abcdef";
    uint8_t raw[65];
    sig_to_bytes65(sig, raw);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 65; i++) {
        out[2 + 2 * i] = hx[raw[i] >> 4];
        out[3 + 2 * i] = hx[raw[i] & 0xf];
    }
    out[132] = '\0';
}
