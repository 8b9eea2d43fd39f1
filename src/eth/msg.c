/* msg.c - EIP-191 personal messages, EIP-712 typed data, EIP-4361 Sign-In with Ethereum. */
#include "core/common.h"

#include <ctype.h>

#include "core/util.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/msg.h"
#include "eth/u256.h"

/* ---------------------------------------------------------------- EIP-191 */

void eip191_hash(const void *msg, size_t len, uint8_t out[32])
{
    struct keccak k;
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix),
                     "\x19"
                     "Ethereum Signed Message:\n%zu",
                     len);
    keccak_init(&k);
    keccak_update(&k, prefix, (size_t)n);
    keccak_update(&k, msg, len);
    keccak_final(&k, out);
}

int eip191_sign(const uint8_t priv[32], const void *msg, size_t len, struct eth_sig *sig)
{
    uint8_t h[32];
    eip191_hash(msg, len, h);
    return secp_sign(priv, h, sig);
}

int eip191_recover(const void *msg, size_t len, const struct eth_sig *sig, uint8_t addr[20])
{
    uint8_t h[32];
    eip191_hash(msg, len, h);
    return secp_recover_address(h, sig, addr);
}

/* ---------------------------------------------------------------- EIP-712 */

/* base_len() is the length of a type name without its array suffixes. */
static size_t base_len(const char *type)
{
    const char *b = strchr(type, '[');
    return b ? (size_t)(b - type) : strlen(type);
}

static json_t *struct_fields(json_t *types, const char *name, size_t n)
{
    char tmp[256];
    if (n >= sizeof(tmp))
        return NULL;
    memcpy(tmp, name, n);
    tmp[n] = '\0';
    json_t *f = json_object_get(types, tmp);
    return json_is_array(f) ? f : NULL;
}

/* check_field() validates one {"name","type"} member. */
static int check_field(json_t *f, const char **name, const char **type, struct ag_err *e)
{
    *name = json_string_value(json_object_get(f, "name"));
    *type = json_string_value(json_object_get(f, "type"));
    if (!*name || !*type)
        return ag_errf(e, AG_EINVAL, "types", "EIP-712: every field needs a name and a type");
    return 0;
}

/* collect_deps() gathers the struct types reachable from `name` into deps[]. */
static int collect_deps(json_t *types, const char *name, size_t nlen, const char **deps,
                        size_t *ndeps, struct ag_err *e)
{
    json_t *fields = struct_fields(types, name, nlen);
    size_t i;
    json_t *f;
    if (!fields)
        return 0;
    for (size_t d = 0; d < *ndeps; d++)
        if (strlen(deps[d]) == nlen && !strncmp(deps[d], name, nlen))
            return 0;
    if (*ndeps >= EIP712_MAX_TYPES)
        return ag_errf(e, AG_EINVAL, "types", "EIP-712: more than %d types", EIP712_MAX_TYPES);
    /* the key string stored in `types` lives as long as the document */
    const char *key = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(types, k, v)
    {
        if (v == fields)
            key = k;
    }
    deps[(*ndeps)++] = key;
    json_array_foreach(fields, i, f)
    {
        const char *fname, *ftype;
        int rc = check_field(f, &fname, &ftype, e);
        if (!rc)
            rc = collect_deps(types, ftype, base_len(ftype), deps, ndeps, e);
        if (rc)
            return rc;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int encode_one_type(json_t *types, const char *name, struct buf *out, struct ag_err *e)
{
    json_t *fields = json_object_get(types, name), *f;
    size_t i;
    int rc = buf_addf(out, "%s(", name);
    json_array_foreach(fields, i, f)
    {
        const char *fname, *ftype;
        if (!rc)
            rc = check_field(f, &fname, &ftype, e);
        if (!rc)
            rc = buf_addf(out, "%s%s %s", i ? "," : "", ftype, fname);
    }
    return rc ? rc : buf_addc(out, ')');
}

int eip712_encode_type(json_t *types, const char *primary, struct buf *out, struct ag_err *e)
{
    const char *deps[EIP712_MAX_TYPES];
    size_t ndeps = 0;
    int rc;
    if (!json_is_object(types) || !struct_fields(types, primary, strlen(primary)))
        return ag_errf(e, AG_EINVAL, "primaryType", "EIP-712: type %s is not defined", primary);
    rc = collect_deps(types, primary, strlen(primary), deps, &ndeps, e);
    if (rc)
        return rc;
    qsort(deps + 1, ndeps - 1, sizeof(deps[0]), cmp_str);
    for (size_t i = 0; i < ndeps && !rc; i++)
        rc = encode_one_type(types, deps[i], out, e);
    return rc;
}

static int hash_struct(json_t *types, const char *name, json_t *value, int depth, uint8_t out[32],
                       struct ag_err *e);

/* encode_field() appends the 32-byte encoding of one value of `type`. */
static int encode_field(json_t *types, const char *type, json_t *v, int depth, struct buf *out,
                        struct ag_err *e)
{
    uint8_t h[32];
    size_t bl = base_len(type);
    int rc;
    if (depth > EIP712_MAX_DEPTH)
        return ag_errf(e, AG_EINVAL, "message", "EIP-712: value nested too deep");
    if (type[bl] == '[') {
        /* array: keccak of the concatenated element encodings */
        const char *close = strrchr(type, '[');
        char elem[256];
        struct buf cat;
        size_t i, want = 0;
        json_t *x;
        size_t elen = (size_t)(close - type);
        if (elen >= sizeof(elem))
            return ag_errf(e, AG_EINVAL, "types", "EIP-712: type name too long");
        memcpy(elem, type, elen);
        elem[elen] = '\0';
        if (!json_is_array(v))
            return ag_errf(e, AG_EINVAL, "message", "EIP-712: %s needs an array", type);
        if (close[1] != ']') {
            if (sscanf(close + 1, "%zu", &want) != 1 || json_array_size(v) != want)
                return ag_errf(e, AG_EINVAL, "message", "EIP-712: %s has the wrong length", type);
        }
        buf_init(&cat, ABI_MAX_ENCODED);
        rc = 0;
        json_array_foreach(v, i, x)
        {
            if (!rc)
                rc = encode_field(types, elem, x, depth + 1, &cat, e);
        }
        if (!rc) {
            keccak256(cat.p, cat.n, h);
            rc = buf_add(out, h, 32);
        }
        buf_release(&cat);
        return rc;
    }
    if (struct_fields(types, type, bl)) {
        rc = hash_struct(types, type, v, depth + 1, h, e);
        return rc ? rc : buf_add(out, h, 32);
    }
    if (!strcmp(type, "string")) {
        if (!json_is_string(v))
            return ag_errf(e, AG_EINVAL, "message", "EIP-712: string value expected");
        keccak256(json_string_value(v), json_string_length(v), h);
        return buf_add(out, h, 32);
    }
    if (!strcmp(type, "bytes")) {
        struct buf b;
        buf_init(&b, ABI_MAX_ENCODED);
        rc = json_is_string(v) ? ethhex_decode(&b, json_string_value(v)) : AG_EINVAL;
        if (!rc) {
            keccak256(b.p, b.n, h);
            rc = buf_add(out, h, 32);
        } else {
            rc = ag_errf(e, AG_EINVAL, "message", "EIP-712: bytes value must be 0x hex");
        }
        buf_release(&b);
        return rc;
    }
    /* atomic: exactly its ABI encoding */
    struct abi_type *t = NULL;
    rc = abi_type_parse(type, &t, NULL);
    if (rc || t->kind == ABI_TUPLE || abi_type_dynamic(t)) {
        abi_type_free(t);
        return ag_errf(e, AG_EINVAL, "types", "EIP-712: unknown type %s", type);
    }
    rc = abi_encode(t, v, out, e);
    abi_type_free(t);
    return rc;
}

static int hash_struct(json_t *types, const char *name, json_t *value, int depth, uint8_t out[32],
                       struct ag_err *e)
{
    struct buf enc, tstr;
    json_t *fields = struct_fields(types, name, base_len(name)), *f;
    size_t i;
    uint8_t th[32];
    int rc;
    if (!json_is_object(value))
        return ag_errf(e, AG_EINVAL, "message", "EIP-712: %s value must be an object", name);
    buf_init(&enc, ABI_MAX_ENCODED);
    buf_init(&tstr, 65536);
    rc = eip712_encode_type(types, name, &tstr, e);
    if (!rc) {
        keccak256(tstr.p, tstr.n, th);
        rc = buf_add(&enc, th, 32);
    }
    json_array_foreach(fields, i, f)
    {
        const char *fname, *ftype;
        if (!rc)
            rc = check_field(f, &fname, &ftype, e);
        if (rc)
            break;
        json_t *fv = json_object_get(value, fname);
        if (!fv) {
            /* a missing struct member encodes as zero, as eth_signTypedData_v4 does */
            uint8_t zero[32] = {0};
            if (struct_fields(types, ftype, base_len(ftype)) && !strchr(ftype, '['))
                rc = buf_add(&enc, zero, 32);
            else
                rc = ag_errf(e, AG_EINVAL, "message", "EIP-712: %s.%s is missing", name, fname);
        } else {
            rc = encode_field(types, ftype, fv, depth, &enc, e);
        }
    }
    if (!rc)
        keccak256(enc.p, enc.n, out);
    buf_release(&enc);
    buf_release(&tstr);
    return rc;
}

/* domain_types() builds the EIP712Domain type from the domain's members. */
static json_t *domain_types(json_t *domain)
{
    static const char *const order[][2] = {{"name", "string"},
                                           {"version", "string"},
                                           {"chainId", "uint256"},
                                           {"verifyingContract", "address"},
                                           {"salt", "bytes32"}};
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < ARRAY_SIZE(order); i++)
        if (json_object_get(domain, order[i][0]))
            json_array_append_new(arr,
                                  json_pack("{s:s,s:s}", "name", order[i][0], "type", order[i][1]));
    return arr;
}

int eip712_hash(json_t *doc, uint8_t digest[32], uint8_t domain_sep[32], uint8_t struct_hash[32],
                struct ag_err *e)
{
    json_t *types = json_object_get(doc, "types");
    json_t *domain = json_object_get(doc, "domain");
    json_t *message = json_object_get(doc, "message");
    const char *primary = json_string_value(json_object_get(doc, "primaryType"));
    json_t *tcopy = NULL;
    uint8_t ds[32], sh[32];
    int rc;
    if (!json_is_object(types) || !json_is_object(domain) || !primary || !json_is_object(message))
        return ag_errf(e, AG_EINVAL, "typedData",
                       "EIP-712: need types, primaryType, domain and message");
    if (json_object_size(types) > EIP712_MAX_TYPES)
        return ag_errf(e, AG_EINVAL, "types", "EIP-712: more than %d types", EIP712_MAX_TYPES);
    tcopy = json_copy(types);
    if (!tcopy)
        return AG_ENOMEM;
    if (!json_object_get(tcopy, "EIP712Domain") &&
        json_object_set_new(tcopy, "EIP712Domain", domain_types(domain))) {
        rc = AG_ENOMEM;
        goto out;
    }
    rc = hash_struct(tcopy, "EIP712Domain", domain, 0, ds, e);
    if (!rc && strcmp(primary, "EIP712Domain"))
        rc = hash_struct(tcopy, primary, message, 0, sh, e);
    if (!rc) {
        struct keccak k;
        keccak_init(&k);
        keccak_update(&k, "\x19\x01", 2);
        keccak_update(&k, ds, 32);
        if (strcmp(primary, "EIP712Domain"))
            keccak_update(&k, sh, 32);
        else
            memset(sh, 0, 32);
        keccak_final(&k, digest);
        if (domain_sep)
            memcpy(domain_sep, ds, 32);
        if (struct_hash)
            memcpy(struct_hash, sh, 32);
    }
out:
    json_decref(tcopy);
    return rc;
}

/* ---------------------------------------------------------------- EIP-4361 */

static const char SIWE_HEADER[] = " wants you to sign in with your Ethereum account:";

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_unreserved(int c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(int c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

static bool is_reserved(int c)
{
    return c && (strchr(":/?#[]@", c) != NULL || is_sub_delim(c));
}

/* pct_ok() checks a "%HH" escape at s[i]. */
static bool pct_ok(const char *s, size_t i, size_t n)
{
    return i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2]);
}

static bool valid_scheme(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return false;
    }
    return true;
}

/* valid_authority() checks RFC 3986 authority characters: [userinfo@]host[:port]. */
static bool valid_authority(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (!pct_ok(s, i, n))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':' && c != '@' && c != '[' &&
                   c != ']') {
            return false;
        }
    }
    return true;
}

/* valid_uri() checks an RFC 3986 URI: a scheme, ':', then URI characters. */
static bool valid_uri(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    if (!colon || !valid_scheme(s, (size_t)(colon - s)))
        return false;
    for (size_t i = (size_t)(colon - s) + 1; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (!pct_ok(s, i, n))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_reserved(c)) {
            return false;
        }
    }
    return true;
}

static bool valid_statement(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!is_unreserved(c) && !is_reserved(c) && c != ' ')
            return false;
    }
    return true;
}

static bool valid_nonce(const char *s, size_t n)
{
    if (n < 8)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]))
            return false;
    return true;
}

static bool valid_request_id(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (!pct_ok(s, i, n))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':' && c != '@') {
            return false;
        }
    }
    return true;
}

static int dig(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int rfc3339_parse(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0;
    size_t n = s ? strlen(s) : 0, i = 19;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 20 || n > 64 || dig(s, 4, &Y) || s[4] != '-' || dig(s + 5, 2, &M) || s[7] != '-' ||
        dig(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || dig(s + 11, 2, &h) || s[13] != ':' ||
        dig(s + 14, 2, &m) || s[16] != ':' || dig(s + 17, 2, &sec))
        return AG_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return AG_EINVAL;
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return AG_EINVAL;
    if (s[i] == '.') {
        i++;
        if (!is_digit((unsigned char)s[i]))
            return AG_EINVAL;
        while (is_digit((unsigned char)s[i]))
            i++;
    }
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        /* UTC */
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && !dig(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && !dig(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
    } else {
        return AG_EINVAL;
    }
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec > 59 ? 59 : sec};
    time_t t = timegm(&tm);
    *out = (int64_t)t - (int64_t)oh * 3600 - (int64_t)om * 60;
    return 0;
}

void siwe_msg_release(struct siwe_msg *m)
{
    free(m->scheme);
    free(m->domain);
    free(m->statement);
    free(m->uri);
    free(m->nonce);
    free(m->issued_at);
    free(m->expiration_time);
    free(m->not_before);
    free(m->request_id);
    for (size_t i = 0; i < m->nresources; i++)
        free(m->resources[i]);
    free(m->resources);
    memset(m, 0, sizeof(*m));
}

/* A line cursor over the message text. */
struct lines {
    const char *p;
    size_t n;
    size_t pos;
    bool done; /* past the last line */
};

static bool next_line(struct lines *l, const char **s, size_t *len)
{
    if (l->done)
        return false;
    const char *nl = memchr(l->p + l->pos, '\n', l->n - l->pos);
    *s = l->p + l->pos;
    if (nl) {
        *len = (size_t)(nl - *s);
        l->pos += *len + 1;
    } else {
        *len = l->n - l->pos;
        l->pos = l->n;
        l->done = true;
    }
    return true;
}

static bool peek_prefix(const struct lines *l, const char *prefix)
{
    size_t pl = strlen(prefix);
    return !l->done && l->n - l->pos >= pl && !memcmp(l->p + l->pos, prefix, pl);
}

/* field() reads a "Prefix: value" line into a new string. */
static int field(struct lines *l, const char *prefix, char **out, size_t *vlen, struct ag_err *e)
{
    const char *s;
    size_t n, pl = strlen(prefix);
    if (!next_line(l, &s, &n) || n < pl || memcmp(s, prefix, pl))
        return ag_errf(e, AG_EINVAL, "message", "SIWE: expected \"%s\"", prefix);
    *out = strndup(s + pl, n - pl);
    *vlen = n - pl;
    return *out ? 0 : AG_ENOMEM;
}

static int parse_body(const char *text, size_t len, struct siwe_msg *m, struct ag_err *e)
{
    struct lines l = {text, len, 0, false};
    const char *s;
    size_t n, hl = strlen(SIWE_HEADER), vl;
    char *tmp = NULL;
    int64_t ts;
    int rc;

    if (!next_line(&l, &s, &n) || n <= hl || memcmp(s + n - hl, SIWE_HEADER, hl))
        return ag_errf(e, AG_EINVAL, "message", "SIWE: first line must end \"%s\"", SIWE_HEADER);
    n -= hl;
    for (size_t i = 0; i + 2 < n; i++) {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            if (!valid_scheme(s, i))
                return ag_errf(e, AG_EINVAL, "scheme", "SIWE: invalid scheme");
            m->scheme = strndup(s, i);
            s += i + 3;
            n -= i + 3;
            break;
        }
    }
    if (!valid_authority(s, n))
        return ag_errf(e, AG_EINVAL, "domain", "SIWE: invalid domain");
    m->domain = strndup(s, n);
    if (!next_line(&l, &s, &n) || n != 42)
        return ag_errf(e, AG_EINVAL, "address", "SIWE: second line must be an address");
    memcpy(m->address, s, 42);
    m->address[42] = '\0';
    if (!addr_is_checksummed(m->address))
        return ag_errf(e, AG_EINVAL, "address", "SIWE: address must be EIP-55 checksummed");
    if (!next_line(&l, &s, &n) || n != 0)
        return ag_errf(e, AG_EINVAL, "message", "SIWE: expected an empty line after the address");
    if (!next_line(&l, &s, &n))
        return ag_errf(e, AG_EINVAL, "message", "SIWE: message ends early");
    if (n != 0) {
        if (!valid_statement(s, n))
            return ag_errf(e, AG_EINVAL, "statement",
                           "SIWE: statement holds a forbidden character");
        m->statement = strndup(s, n);
        if (!m->statement)
            return AG_ENOMEM;
        if (!next_line(&l, &s, &n) || n != 0)
            return ag_errf(e, AG_EINVAL, "message",
                           "SIWE: expected an empty line after the statement");
    }
    if ((rc = field(&l, "URI: ", &m->uri, &vl, e)))
        return rc;
    if (!valid_uri(m->uri, vl))
        return ag_errf(e, AG_EINVAL, "uri", "SIWE: URI is not a valid RFC 3986 URI");
    if ((rc = field(&l, "Version: ", &tmp, &vl, e)))
        return rc;
    rc = strcmp(tmp, "1") ? ag_errf(e, AG_EINVAL, "version", "SIWE: version must be 1") : 0;
    free(tmp);
    if (rc)
        return rc;
    str_copy(m->version, "1", sizeof(m->version));
    if ((rc = field(&l, "Chain ID: ", &tmp, &vl, e)))
        return rc;
    /* 1*DIGIT without leading zeros: one text per chain id */
    bool digits = vl > 0 && vl <= 19 && (tmp[0] != '0' || vl == 1);
    for (size_t i = 0; digits && i < vl; i++)
        digits = is_digit((unsigned char)tmp[i]);
    rc = !digits || parse_u64(tmp, &m->chain_id)
             ? ag_errf(e, AG_EINVAL, "chainId", "SIWE: chain id must be a decimal number")
             : 0;
    free(tmp);
    if (rc)
        return rc;
    if ((rc = field(&l, "Nonce: ", &m->nonce, &vl, e)))
        return rc;
    if (!valid_nonce(m->nonce, vl))
        return ag_errf(e, AG_EINVAL, "nonce", "SIWE: nonce must be at least 8 letters or digits");
    if ((rc = field(&l, "Issued At: ", &m->issued_at, &vl, e)))
        return rc;
    if (rfc3339_parse(m->issued_at, &ts))
        return ag_errf(e, AG_EINVAL, "issuedAt", "SIWE: Issued At is not an RFC 3339 date-time");
    if (peek_prefix(&l, "Expiration Time: ")) {
        if ((rc = field(&l, "Expiration Time: ", &m->expiration_time, &vl, e)))
            return rc;
        if (rfc3339_parse(m->expiration_time, &ts))
            return ag_errf(e, AG_EINVAL, "expirationTime", "SIWE: bad Expiration Time");
    }
    if (peek_prefix(&l, "Not Before: ")) {
        if ((rc = field(&l, "Not Before: ", &m->not_before, &vl, e)))
            return rc;
        if (rfc3339_parse(m->not_before, &ts))
            return ag_errf(e, AG_EINVAL, "notBefore", "SIWE: bad Not Before");
    }
    if (peek_prefix(&l, "Request ID: ")) {
        if ((rc = field(&l, "Request ID: ", &m->request_id, &vl, e)))
            return rc;
        if (!valid_request_id(m->request_id, vl))
            return ag_errf(e, AG_EINVAL, "requestId", "SIWE: bad Request ID");
    }
    if (peek_prefix(&l, "Resources:")) {
        if (!next_line(&l, &s, &n) || n != 10)
            return ag_errf(e, AG_EINVAL, "resources", "SIWE: bad Resources line");
        m->resources_line = true;
        while (!l.done) {
            if (!next_line(&l, &s, &n) || n < 3 || s[0] != '-' || s[1] != ' ' ||
                !valid_uri(s + 2, n - 2))
                return ag_errf(e, AG_EINVAL, "resources",
                               "SIWE: resources must be \"- URI\" lines");
            if (m->nresources >= SIWE_MAX_RESOURCES)
                return ag_errf(e, AG_EINVAL, "resources", "SIWE: too many resources");
            char **nr = realloc(m->resources, (m->nresources + 1) * sizeof(*nr));
            if (!nr)
                return AG_ENOMEM;
            m->resources = nr;
            if (!(m->resources[m->nresources] = strndup(s + 2, n - 2)))
                return AG_ENOMEM;
            m->nresources++;
        }
    }
    if (!l.done)
        return ag_errf(e, AG_EINVAL, "message", "SIWE: unexpected text after the last field");
    return 0;
}

int siwe_parse(const char *text, size_t len, struct siwe_msg *m, struct ag_err *e)
{
    struct siwe_msg tmp = {0};
    int rc;
    if (!text || len > SIWE_MAX_LEN)
        return ag_errf(e, AG_EINVAL, "message", "SIWE message missing or longer than %d bytes",
                       SIWE_MAX_LEN);
    if (memchr(text, '\0', len) || memchr(text, '\r', len))
        return ag_errf(e, AG_EINVAL, "message", "SIWE message holds NUL or CR");
    rc = parse_body(text, len, &tmp, e);
    if (!rc && !tmp.domain)
        rc = AG_ENOMEM;
    if (rc)
        siwe_msg_release(&tmp);
    else
        *m = tmp;
    return rc;
}

int siwe_format(const struct siwe_msg *m, struct buf *out, struct ag_err *e)
{
    int64_t ts;
    int rc;
    size_t old = out->n;
    if (m->scheme && !valid_scheme(m->scheme, strlen(m->scheme)))
        return ag_errf(e, AG_EINVAL, "scheme", "SIWE: invalid scheme");
    if (!m->domain || !valid_authority(m->domain, strlen(m->domain)))
        return ag_errf(e, AG_EINVAL, "domain", "SIWE: invalid domain");
    if (!addr_is_checksummed(m->address))
        return ag_errf(e, AG_EINVAL, "address", "SIWE: address must be EIP-55 checksummed");
    if (m->statement && (!*m->statement || !valid_statement(m->statement, strlen(m->statement))))
        return ag_errf(e, AG_EINVAL, "statement", "SIWE: statement holds a forbidden character");
    if (!m->uri || !valid_uri(m->uri, strlen(m->uri)))
        return ag_errf(e, AG_EINVAL, "uri", "SIWE: URI is not a valid RFC 3986 URI");
    if (strcmp(m->version, "1"))
        return ag_errf(e, AG_EINVAL, "version", "SIWE: version must be 1");
    if (!m->nonce || !valid_nonce(m->nonce, strlen(m->nonce)))
        return ag_errf(e, AG_EINVAL, "nonce", "SIWE: nonce must be at least 8 letters or digits");
    if (!m->issued_at || rfc3339_parse(m->issued_at, &ts) ||
        (m->expiration_time && rfc3339_parse(m->expiration_time, &ts)) ||
        (m->not_before && rfc3339_parse(m->not_before, &ts)))
        return ag_errf(e, AG_EINVAL, "issuedAt", "SIWE: timestamps must be RFC 3339 date-times");
    if (m->request_id && !valid_request_id(m->request_id, strlen(m->request_id)))
        return ag_errf(e, AG_EINVAL, "requestId", "SIWE: bad Request ID");
    if (m->nresources > SIWE_MAX_RESOURCES)
        return ag_errf(e, AG_EINVAL, "resources", "SIWE: too many resources");
    for (size_t i = 0; i < m->nresources; i++)
        if (!valid_uri(m->resources[i], strlen(m->resources[i])))
            return ag_errf(e, AG_EINVAL, "resources", "SIWE: resource is not a URI");
    rc = buf_addf(out, "%s%s%s%s\n%s\n\n", m->scheme ? m->scheme : "", m->scheme ? "://" : "",
                  m->domain, SIWE_HEADER, m->address);
    if (!rc && m->statement)
        rc = buf_addf(out, "%s\n", m->statement);
    if (!rc)
        rc = buf_addf(out, "\nURI: %s\nVersion: 1\nChain ID: %" PRIu64 "\nNonce: %s\nIssued At: %s",
                      m->uri, m->chain_id, m->nonce, m->issued_at);
    if (!rc && m->expiration_time)
        rc = buf_addf(out, "\nExpiration Time: %s", m->expiration_time);
    if (!rc && m->not_before)
        rc = buf_addf(out, "\nNot Before: %s", m->not_before);
    if (!rc && m->request_id)
        rc = buf_addf(out, "\nRequest ID: %s", m->request_id);
    if (!rc && (m->nresources || m->resources_line))
        rc = buf_adds(out, "\nResources:");
    for (size_t i = 0; !rc && i < m->nresources; i++)
        rc = buf_addf(out, "\n- %s", m->resources[i]);
    if (rc) {
        if (out->cap) {
            out->n = old;
            out->p[old] = '\0';
        }
        return ag_errf(e, rc, "message", "SIWE message too large");
    }
    return 0;
}

int siwe_validate(const struct siwe_msg *m, const struct siwe_expect *x, struct ag_err *e)
{
    int64_t t;
    if (x->domain && strcmp(x->domain, m->domain))
        return ag_errf(e, AG_EUNAUTH, "domain", "SIWE: domain %s does not match %s", m->domain,
                       x->domain);
    if (x->uri && strcmp(x->uri, m->uri))
        return ag_errf(e, AG_EUNAUTH, "uri", "SIWE: URI does not match");
    if (x->chain_id && x->chain_id != m->chain_id)
        return ag_errf(e, AG_EUNAUTH, "chainId",
                       "SIWE: chain id %" PRIu64 " does not match %" PRIu64, m->chain_id,
                       x->chain_id);
    if (x->nonce && strcmp(x->nonce, m->nonce))
        return ag_errf(e, AG_EUNAUTH, "nonce", "SIWE: nonce does not match");
    if (m->expiration_time) {
        if (rfc3339_parse(m->expiration_time, &t))
            return ag_errf(e, AG_EINVAL, "expirationTime", "SIWE: bad Expiration Time");
        if (x->now >= t)
            return ag_errf(e, AG_EUNAUTH, "expirationTime", "SIWE: message has expired");
    }
    if (m->not_before) {
        if (rfc3339_parse(m->not_before, &t))
            return ag_errf(e, AG_EINVAL, "notBefore", "SIWE: bad Not Before");
        if (x->now < t)
            return ag_errf(e, AG_EUNAUTH, "notBefore", "SIWE: message is not valid yet");
    }
    return 0;
}

int siwe_verify(const char *text, size_t len, const char *sig_hex, const struct siwe_expect *x,
                struct siwe_msg *m, struct ag_err *e)
{
    struct siwe_msg msg;
    struct eth_sig sig;
    uint8_t want[20], got[20];
    int rc = siwe_parse(text, len, &msg, e);
    if (rc)
        return rc;
    rc = sig_parse_hex(sig_hex, &sig, e);
    if (rc)
        goto out;
    addr_parse(msg.address, want, true, NULL);
    if (eip191_recover(text, len, &sig, got) || memcmp(want, got, 20)) {
        rc = ag_errf(e, AG_EUNAUTH, "signature", "SIWE: signature does not match the address");
        goto out;
    }
    if (x)
        rc = siwe_validate(&msg, x, e);
out:
    if (!rc && m)
        *m = msg;
    else
        siwe_msg_release(&msg);
    return rc;
}
