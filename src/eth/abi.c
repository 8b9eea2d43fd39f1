/* abi.c - Solidity ABI type parser, encoder and strict decoder. */
#include "core/common.h"

#include "core/util.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/hex.h"
#include "eth/keccak.h"
#include "eth/u256.h"

/* ---------------------------------------------------------------- types */

struct parser {
    const char *s;
    size_t i;
    struct ag_err *e;
};

static void skip_ws(struct parser *ps)
{
    while (ps->s[ps->i] == ' ' || ps->s[ps->i] == '\t' || ps->s[ps->i] == '\n')
        ps->i++;
}

static bool ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool ident_char(int c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* read_ident() returns the length of the identifier at the cursor (0 if none). */
static size_t ident_len(const struct parser *ps)
{
    size_t n = 0;
    if (!ident_start((unsigned char)ps->s[ps->i]))
        return 0;
    while (ident_char((unsigned char)ps->s[ps->i + n]))
        n++;
    return n;
}

static int perr(struct parser *ps, const char *what)
{
    return ag_errf(ps->e, AG_EINVAL, "type", "ABI type: %s at position %zu", what, ps->i);
}

void abi_type_free(struct abi_type *t)
{
    if (!t)
        return;
    abi_type_free(t->elem);
    for (size_t i = 0; i < t->nfields; i++) {
        abi_type_free(t->fields[i]);
        if (t->names)
            free(t->names[i]);
    }
    free(t->fields);
    free(t->names);
    free(t->indexed);
    free(t);
}

static int parse_type(struct parser *ps, int depth, struct abi_type **out);

/* parse_params() parses "(p, p, ...)" with the cursor on '('. */
static int parse_params(struct parser *ps, int depth, struct abi_type **out)
{
    struct abi_type *t = calloc(1, sizeof(*t));
    int rc = 0;
    if (!t)
        return AG_ENOMEM;
    t->kind = ABI_TUPLE;
    ps->i++; /* '(' */
    skip_ws(ps);
    if (ps->s[ps->i] == ')') {
        ps->i++;
        goto out;
    }
    for (;;) {
        struct abi_type *f = NULL;
        char *name = NULL;
        bool indexed = false;
        if (t->nfields >= ABI_MAX_FIELDS) {
            rc = perr(ps, "too many tuple fields");
            goto out;
        }
        skip_ws(ps);
        rc = parse_type(ps, depth + 1, &f);
        if (rc)
            goto out;
        skip_ws(ps);
        size_t n = ident_len(ps);
        if (n == 7 && !strncmp(ps->s + ps->i, "indexed", 7)) {
            indexed = true;
            ps->i += n;
            skip_ws(ps);
            n = ident_len(ps);
        }
        if (n) {
            name = strndup(ps->s + ps->i, n);
            ps->i += n;
            skip_ws(ps);
        }
        struct abi_type **nf = realloc(t->fields, (t->nfields + 1) * sizeof(*nf));
        if (nf)
            t->fields = nf;
        char **nn = realloc(t->names, (t->nfields + 1) * sizeof(*nn));
        if (nn)
            t->names = nn;
        bool *ni = realloc(t->indexed, (t->nfields + 1) * sizeof(*ni));
        if (ni)
            t->indexed = ni;
        if (!nf || !nn || !ni || (n && !name)) {
            abi_type_free(f);
            free(name);
            rc = AG_ENOMEM;
            goto out;
        }
        t->fields[t->nfields] = f;
        t->names[t->nfields] = name;
        t->indexed[t->nfields] = indexed;
        t->nfields++;
        if (ps->s[ps->i] == ',') {
            ps->i++;
            continue;
        }
        if (ps->s[ps->i] == ')') {
            ps->i++;
            break;
        }
        rc = perr(ps, "expected ',' or ')'");
        goto out;
    }
out:
    if (rc)
        abi_type_free(t);
    else
        *out = t;
    return rc;
}

/* parse_num() reads a decimal at the cursor; -1 if none or too large. */
static long parse_num(struct parser *ps)
{
    long v = 0;
    size_t start = ps->i;
    while (ps->s[ps->i] >= '0' && ps->s[ps->i] <= '9') {
        if (ps->i - start >= 7)
            return -1;
        v = v * 10 + (ps->s[ps->i] - '0');
        ps->i++;
    }
    if (ps->i == start || (ps->s[start] == '0' && ps->i - start > 1))
        return -1;
    return v;
}

static int parse_base(struct parser *ps, int depth, struct abi_type **out)
{
    struct abi_type *t;
    size_t n;
    if (depth > ABI_MAX_DEPTH)
        return perr(ps, "nested too deep");
    if (ps->s[ps->i] == '(')
        return parse_params(ps, depth, out);
    n = ident_len(ps);
    if (n == 5 && !strncmp(ps->s + ps->i, "tuple", 5) && ps->s[ps->i + 5] == '(') {
        ps->i += 5;
        return parse_params(ps, depth, out);
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return AG_ENOMEM;
    const char *w = ps->s + ps->i;
    /* Identifiers include digits, so "uint256" is one token. */
    if (n >= 4 && !strncmp(w, "uint", 4)) {
        t->kind = ABI_UINT;
        ps->i += 4;
    } else if (n >= 3 && !strncmp(w, "int", 3)) {
        t->kind = ABI_INT;
        ps->i += 3;
    } else if (n == 7 && !strncmp(w, "address", 7)) {
        t->kind = ABI_ADDRESS;
        t->size = 160;
        ps->i += 7;
        goto done;
    } else if (n == 4 && !strncmp(w, "bool", 4)) {
        t->kind = ABI_BOOL;
        ps->i += 4;
        goto done;
    } else if (n == 6 && !strncmp(w, "string", 6)) {
        t->kind = ABI_STRING;
        ps->i += 6;
        goto done;
    } else if (n >= 5 && !strncmp(w, "bytes", 5)) {
        ps->i += 5;
        if (n == 5) {
            t->kind = ABI_BYTES;
            goto done;
        }
        long m = parse_num(ps);
        if (m < 1 || m > 32 || ps->i != (size_t)(w - ps->s) + n) {
            free(t);
            return perr(ps, "bytes<M> needs 1 <= M <= 32");
        }
        t->kind = ABI_FIXED_BYTES;
        t->size = (unsigned)m;
        goto done;
    } else {
        free(t);
        return perr(ps, "unknown type");
    }
    /* (u)int with optional width */
    if ((size_t)(w - ps->s) + n == ps->i) {
        t->size = 256;
    } else {
        long m = parse_num(ps);
        if (m < 8 || m > 256 || m % 8 || ps->i != (size_t)(w - ps->s) + n) {
            free(t);
            return perr(ps, "int<M> needs M a multiple of 8 from 8 to 256");
        }
        t->size = (unsigned)m;
    }
done:
    *out = t;
    return 0;
}

static int parse_type(struct parser *ps, int depth, struct abi_type **out)
{
    struct abi_type *t = NULL;
    int rc = parse_base(ps, depth, &t);
    if (rc)
        return rc;
    while (ps->s[ps->i] == '[') {
        struct abi_type *a;
        if (++depth > ABI_MAX_DEPTH) {
            rc = perr(ps, "nested too deep");
            break;
        }
        ps->i++;
        a = calloc(1, sizeof(*a));
        if (!a) {
            rc = AG_ENOMEM;
            break;
        }
        a->elem = t;
        t = a;
        if (ps->s[ps->i] == ']') {
            a->kind = ABI_ARRAY;
        } else {
            long k = parse_num(ps);
            if (k < 1 || ps->s[ps->i] != ']') {
                rc = perr(ps, "bad fixed array length");
                break;
            }
            a->kind = ABI_FIXED_ARRAY;
            a->len = (size_t)k;
        }
        ps->i++;
    }
    if (rc)
        abi_type_free(t);
    else
        *out = t;
    return rc;
}

/* static_size() returns the head size of a static type, or 0 if it would
 * exceed ABI_MAX_ENCODED. Dynamic types take one 32-byte head word. */
static size_t head_size(const struct abi_type *t)
{
    size_t total = 0;
    if (abi_type_dynamic(t))
        return 32;
    switch (t->kind) {
    case ABI_FIXED_ARRAY: {
        size_t es = head_size(t->elem);
        if (!es || t->len > ABI_MAX_ENCODED / es)
            return 0;
        return es * t->len;
    }
    case ABI_TUPLE:
        for (size_t i = 0; i < t->nfields; i++) {
            size_t fs = head_size(t->fields[i]);
            if (!fs || fs > ABI_MAX_ENCODED - total)
                return 0;
            total += fs;
        }
        return total;
    default:
        return 32;
    }
}

/* check_sizes() refuses empty tuples below the top level and static types
 * whose encoding would exceed ABI_MAX_ENCODED: the encoder and decoder can
 * then rely on every element having a non-zero head size. */
static bool check_sizes(const struct abi_type *t, bool top)
{
    if (t->kind == ABI_TUPLE && t->nfields == 0)
        return top;
    if (!abi_type_dynamic(t) && head_size(t) == 0)
        return false;
    if (t->elem && !check_sizes(t->elem, false))
        return false;
    for (size_t i = 0; i < t->nfields; i++)
        if (!check_sizes(t->fields[i], false))
            return false;
    return true;
}

int abi_type_parse(const char *s, struct abi_type **out, struct ag_err *e)
{
    struct parser ps = {s, 0, e};
    struct abi_type *t = NULL;
    int rc;
    if (!s || strlen(s) > ABI_MAX_TYPE_STR)
        return ag_errf(e, AG_EINVAL, "type", "ABI type missing or longer than %d",
                       ABI_MAX_TYPE_STR);
    skip_ws(&ps);
    rc = parse_type(&ps, 0, &t);
    if (rc)
        return rc;
    skip_ws(&ps);
    if (s[ps.i] != '\0') {
        abi_type_free(t);
        return perr(&ps, "unexpected trailing characters");
    }
    if (!check_sizes(t, true)) {
        abi_type_free(t);
        return ag_errf(e, AG_EINVAL, "type", "ABI type is too large or holds an empty tuple");
    }
    *out = t;
    return 0;
}

bool abi_type_dynamic(const struct abi_type *t)
{
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING:
    case ABI_ARRAY:
        return true;
    case ABI_FIXED_ARRAY:
        return abi_type_dynamic(t->elem);
    case ABI_TUPLE:
        for (size_t i = 0; i < t->nfields; i++)
            if (abi_type_dynamic(t->fields[i]))
                return true;
        return false;
    default:
        return false;
    }
}

int abi_type_canonical(const struct abi_type *t, struct buf *out)
{
    int rc = 0;
    switch (t->kind) {
    case ABI_UINT:
        return buf_addf(out, "uint%u", t->size);
    case ABI_INT:
        return buf_addf(out, "int%u", t->size);
    case ABI_ADDRESS:
        return buf_adds(out, "address");
    case ABI_BOOL:
        return buf_adds(out, "bool");
    case ABI_FIXED_BYTES:
        return buf_addf(out, "bytes%u", t->size);
    case ABI_BYTES:
        return buf_adds(out, "bytes");
    case ABI_STRING:
        return buf_adds(out, "string");
    case ABI_ARRAY:
        rc = abi_type_canonical(t->elem, out);
        return rc ? rc : buf_adds(out, "[]");
    case ABI_FIXED_ARRAY:
        rc = abi_type_canonical(t->elem, out);
        return rc ? rc : buf_addf(out, "[%zu]", t->len);
    case ABI_TUPLE:
        rc = buf_addc(out, '(');
        for (size_t i = 0; i < t->nfields && !rc; i++) {
            if (i)
                rc = buf_addc(out, ',');
            if (!rc)
                rc = abi_type_canonical(t->fields[i], out);
        }
        return rc ? rc : buf_addc(out, ')');
    }
    return AG_EINVAL;
}

/* ---------------------------------------------------------------- functions */

int abi_func_parse(const char *sig, struct abi_func *out, struct ag_err *e)
{
    struct parser ps = {sig, 0, e};
    struct abi_func f = {0};
    int rc;
    size_t n;
    memset(out, 0, sizeof(*out));
    if (!sig || strlen(sig) > ABI_MAX_TYPE_STR)
        return ag_errf(e, AG_EINVAL, "signature", "signature missing or too long");
    skip_ws(&ps);
    static const char *const kw[] = {"function", "event", "error"};
    for (size_t k = 0; k < ARRAY_SIZE(kw); k++) {
        size_t kl = strlen(kw[k]);
        if (!strncmp(sig + ps.i, kw[k], kl) && (sig[ps.i + kl] == ' ' || sig[ps.i + kl] == '\t')) {
            ps.i += kl;
            skip_ws(&ps);
            break;
        }
    }
    n = ident_len(&ps);
    if (!n)
        return perr(&ps, "expected a function name");
    f.name = strndup(sig + ps.i, n);
    if (!f.name)
        return AG_ENOMEM;
    ps.i += n;
    skip_ws(&ps);
    if (sig[ps.i] != '(') {
        rc = perr(&ps, "expected '('");
        goto out;
    }
    rc = parse_params(&ps, 0, &f.inputs);
    if (rc)
        goto out;
    skip_ws(&ps);
    /* modifiers ethers' human-readable ABI allows */
    static const char *const mods[] = {"external", "public",     "view",     "pure",
                                       "payable",  "nonpayable", "anonymous"};
    for (bool again = true; again;) {
        again = false;
        for (size_t k = 0; k < ARRAY_SIZE(mods); k++) {
            size_t kl = strlen(mods[k]);
            if (ident_len(&ps) == kl && !strncmp(sig + ps.i, mods[k], kl)) {
                ps.i += kl;
                skip_ws(&ps);
                again = true;
            }
        }
    }
    if (ident_len(&ps) == 7 && !strncmp(sig + ps.i, "returns", 7)) {
        ps.i += 7;
        skip_ws(&ps);
        if (sig[ps.i] != '(') {
            rc = perr(&ps, "expected '(' after returns");
            goto out;
        }
        rc = parse_params(&ps, 0, &f.outputs);
        if (rc)
            goto out;
        skip_ws(&ps);
    }
    if (sig[ps.i] != '\0')
        rc = perr(&ps, "unexpected trailing characters");
    else if (!check_sizes(f.inputs, true) || (f.outputs && !check_sizes(f.outputs, true)))
        rc = ag_errf(e, AG_EINVAL, "signature", "ABI type is too large or holds an empty tuple");
out:
    if (rc)
        abi_func_release(&f);
    else
        *out = f;
    return rc;
}

void abi_func_release(struct abi_func *f)
{
    free(f->name);
    abi_type_free(f->inputs);
    abi_type_free(f->outputs);
    memset(f, 0, sizeof(*f));
}

int abi_func_canonical(const struct abi_func *f, struct buf *out)
{
    int rc = buf_adds(out, f->name);
    return rc ? rc : abi_type_canonical(f->inputs, out);
}

int abi_event_topic(const struct abi_func *f, uint8_t out[32])
{
    struct buf b;
    int rc;
    buf_init(&b, ABI_MAX_TYPE_STR * 2);
    rc = abi_func_canonical(f, &b);
    if (!rc)
        keccak256(b.p, b.n, out);
    buf_release(&b);
    return rc;
}

int abi_func_selector(const struct abi_func *f, uint8_t out[4])
{
    uint8_t h[32];
    int rc = abi_event_topic(f, h);
    if (!rc)
        memcpy(out, h, 4);
    return rc;
}

int abi_selector(const char *sig, uint8_t out[4], struct ag_err *e)
{
    struct abi_func f;
    int rc = abi_func_parse(sig, &f, e);
    if (rc)
        return rc;
    rc = abi_func_selector(&f, out);
    abi_func_release(&f);
    return rc;
}

/* ---------------------------------------------------------------- encoding */

static int bad_value(struct ag_err *e, const struct abi_type *t, const char *why)
{
    struct buf b;
    buf_init(&b, 512);
    abi_type_canonical(t, &b);
    ag_errf(e, AG_EINVAL, "value", "ABI value for %s: %s", b.p, why);
    buf_release(&b);
    return AG_EINVAL;
}

/* int_value() reads an integer value into a 32-byte word and checks range. */
static int int_value(const struct abi_type *t, json_t *v, uint8_t w[32], struct ag_err *e)
{
    char tmp[32];
    const char *s;
    bool sign = t->kind == ABI_INT;
    if (json_is_integer(v)) {
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = tmp;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
    } else {
        return bad_value(e, t, "expected an integer or a numeric string");
    }
    if (sign ? i256_parse(s, w) : u256_parse(s, w))
        return bad_value(e, t, "not a number in range");
    if (!sign) {
        if (u256_bits(w) > t->size)
            return bad_value(e, t, "value out of range");
    } else if (t->size < 256) {
        /* the bytes above the low size/8 must sign-extend the value */
        size_t nb = 32 - t->size / 8;
        uint8_t ext = (w[nb] & 0x80) ? 0xff : 0x00;
        for (size_t i = 0; i < nb; i++)
            if (w[i] != ext)
                return bad_value(e, t, "value out of range");
    }
    return 0;
}

static int encode_seq(struct abi_type *const *types, size_t n, const struct abi_type *single,
                      json_t *const *vals, struct buf *out, struct ag_err *e, int depth);

static int encode_value(const struct abi_type *t, json_t *v, struct buf *out, struct ag_err *e,
                        int depth)
{
    uint8_t w[32] = {0};
    int rc = 0;
    if (depth > ABI_MAX_DEPTH * 2)
        return bad_value(e, t, "nested too deep");
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT:
        rc = int_value(t, v, w, e);
        return rc ? rc : buf_add(out, w, 32);
    case ABI_ADDRESS:
        if (!json_is_string(v) || addr_parse(json_string_value(v), w + 12, false, NULL))
            return bad_value(e, t, "expected a 0x address (with a valid checksum if mixed-case)");
        return buf_add(out, w, 32);
    case ABI_BOOL:
        if (!json_is_boolean(v))
            return bad_value(e, t, "expected true or false");
        w[31] = json_is_true(v);
        return buf_add(out, w, 32);
    case ABI_FIXED_BYTES:
        if (!json_is_string(v) || ethhex_decode_fixed(json_string_value(v), w, t->size))
            return bad_value(e, t, "expected 0x hex of exactly the right length");
        return buf_add(out, w, 32);
    case ABI_BYTES:
    case ABI_STRING: {
        struct buf tmp;
        const char *d;
        size_t dn;
        buf_init(&tmp, ABI_MAX_ENCODED);
        if (t->kind == ABI_STRING) {
            if (!json_is_string(v)) {
                buf_release(&tmp);
                return bad_value(e, t, "expected a string");
            }
            d = json_string_value(v);
            dn = json_string_length(v);
        } else {
            if (!json_is_string(v) || ethhex_decode(&tmp, json_string_value(v))) {
                buf_release(&tmp);
                return bad_value(e, t, "expected 0x hex");
            }
            d = tmp.p;
            dn = tmp.n;
        }
        u256_from_u64(dn, w);
        rc = buf_add(out, w, 32);
        if (!rc && dn)
            rc = buf_add(out, d, dn);
        memset(w, 0, 32);
        if (!rc && dn % 32)
            rc = buf_add(out, w, 32 - dn % 32);
        buf_release(&tmp);
        return rc;
    }
    case ABI_ARRAY:
    case ABI_FIXED_ARRAY: {
        size_t n;
        if (!json_is_array(v))
            return bad_value(e, t, "expected an array");
        n = json_array_size(v);
        if (t->kind == ABI_FIXED_ARRAY && n != t->len)
            return bad_value(e, t, "wrong number of elements");
        if (t->kind == ABI_ARRAY) {
            u256_from_u64(n, w);
            rc = buf_add(out, w, 32);
        }
        json_t **vals = calloc(n ? n : 1, sizeof(*vals));
        if (!vals)
            return AG_ENOMEM;
        for (size_t i = 0; i < n; i++)
            vals[i] = json_array_get(v, i);
        if (!rc)
            rc = encode_seq(NULL, n, t->elem, vals, out, e, depth + 1);
        free(vals);
        return rc;
    }
    case ABI_TUPLE: {
        json_t **vals = calloc(t->nfields ? t->nfields : 1, sizeof(*vals));
        if (!vals)
            return AG_ENOMEM;
        if (json_is_array(v) && json_array_size(v) == t->nfields) {
            for (size_t i = 0; i < t->nfields; i++)
                vals[i] = json_array_get(v, i);
        } else if (json_is_object(v) && json_object_size(v) == t->nfields) {
            for (size_t i = 0; i < t->nfields && !rc; i++) {
                vals[i] = t->names[i] ? json_object_get(v, t->names[i]) : NULL;
                if (!vals[i])
                    rc = bad_value(e, t, "object is missing a field");
            }
        } else {
            rc = bad_value(e, t, "expected an array (or object) with one value per field");
        }
        if (!rc)
            rc = encode_seq(t->fields, t->nfields, NULL, vals, out, e, depth + 1);
        free(vals);
        return rc;
    }
    }
    return AG_EINVAL;
}

/* encode_seq() encodes n values as a head/tail sequence; the element types
 * are types[i], or `single` for every element of an array. */
static int encode_seq(struct abi_type *const *types, size_t n, const struct abi_type *single,
                      json_t *const *vals, struct buf *out, struct ag_err *e, int depth)
{
    struct buf tail;
    size_t heads = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t hs = head_size(types ? types[i] : single);
        if (!hs || hs > ABI_MAX_ENCODED - heads)
            return ag_errf(e, AG_ETOOBIG, "value", "ABI encoding too large");
        heads += hs;
    }
    buf_init(&tail, out->max);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct abi_type *t = types ? types[i] : single;
        if (abi_type_dynamic(t)) {
            uint8_t w[32];
            u256_from_u64(heads + tail.n, w);
            rc = buf_add(out, w, 32);
            if (!rc)
                rc = encode_value(t, vals[i], &tail, e, depth);
        } else {
            rc = encode_value(t, vals[i], out, e, depth);
        }
    }
    if (!rc)
        rc = buf_add(out, tail.p, tail.n);
    buf_release(&tail);
    return rc;
}

int abi_encode(const struct abi_type *t, json_t *value, struct buf *out, struct ag_err *e)
{
    size_t old = out->n;
    int rc;
    /* A dynamic value other than a tuple is encoded as a one-element
     * parameter list (behind an offset), as abi.encode(x) does. */
    if (abi_type_dynamic(t) && t->kind != ABI_TUPLE) {
        struct abi_type *one[1] = {(struct abi_type *)t};
        json_t *vals[1] = {value};
        rc = encode_seq(one, 1, NULL, vals, out, e, 0);
    } else {
        rc = encode_value(t, value, out, e, 0);
    }
    if (rc && out->cap) {
        out->n = old;
        out->p[old] = '\0';
    }
    if (rc == AG_ETOOBIG || rc == AG_ENOMEM)
        ag_errf(e, rc, "value", "ABI encoding too large");
    return rc;
}

int abi_encode_call(const struct abi_func *f, json_t *args, struct buf *out, struct ag_err *e)
{
    uint8_t sel[4];
    int rc = abi_func_selector(f, sel);
    size_t old = out->n;
    if (!rc)
        rc = buf_add(out, sel, 4);
    if (!rc) {
        rc = abi_encode(f->inputs, args, out, e);
        if (rc && out->cap) {
            out->n = old;
            out->p[old] = '\0';
        }
    }
    return rc;
}

int abi_encode_call_sig(const char *sig, json_t *args, struct buf *out, struct ag_err *e)
{
    struct abi_func f;
    int rc = abi_func_parse(sig, &f, e);
    if (rc)
        return rc;
    rc = abi_encode_call(&f, args, out, e);
    abi_func_release(&f);
    return rc;
}

/* ---------------------------------------------------------------- decoding */

struct dec {
    size_t budget; /* values still allowed */
    struct ag_err *e;
};

static int dec_err(struct dec *d, const char *why)
{
    return ag_errf(d->e, AG_EINVAL, "data", "ABI data: %s", why);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    struct buf b;
    json_t *j = NULL;
    buf_init(&b, 2 * n + 3);
    if (!ethhex_encode(&b, p, n))
        j = json_stringn(b.p, b.n);
    buf_release(&b);
    return j;
}

/* word_u64() reads a 32-byte word as a size; false if it exceeds limit. */
static bool word_size(const uint8_t *w, size_t limit, size_t *out)
{
    uint64_t v;
    if (!u256_to_u64(w, &v) || v > limit)
        return false;
    *out = (size_t)v;
    return true;
}

static int decode_at(const struct abi_type *t, const uint8_t *p, size_t n, size_t pos,
                     struct dec *d, int depth, json_t **out);

/* decode_seq() decodes `count` elements laid out head/tail in frame p[0..n). */
static int decode_seq(struct abi_type *const *types, size_t count, const struct abi_type *single,
                      const uint8_t *p, size_t n, struct dec *d, int depth, json_t **out)
{
    json_t *arr = json_array();
    size_t h = 0;
    int rc = 0;
    if (!arr)
        return AG_ENOMEM;
    for (size_t i = 0; i < count && !rc; i++) {
        const struct abi_type *t = types ? types[i] : single;
        json_t *v = NULL;
        size_t hs = head_size(t);
        if (h > n || hs > n - h) {
            rc = dec_err(d, "head runs past the end of the data");
            break;
        }
        if (abi_type_dynamic(t)) {
            size_t off;
            if (!word_size(p + h, n, &off) || off >= n) {
                rc = dec_err(d, "offset points outside the data");
                break;
            }
            rc = decode_at(t, p, n, off, d, depth + 1, &v);
        } else {
            rc = decode_at(t, p, n, h, d, depth + 1, &v);
        }
        if (!rc && json_array_append_new(arr, v))
            rc = AG_ENOMEM;
        h += hs;
    }
    if (rc)
        json_decref(arr);
    else
        *out = arr;
    return rc;
}

static int decode_word(const struct abi_type *t, const uint8_t *w, struct dec *d, json_t **out)
{
    char dec[U256_DEC_MAX], a[ETH_ADDR_STR];
    static const uint8_t zero[32];
    switch (t->kind) {
    case ABI_UINT:
        if (u256_bits(w) > t->size)
            return dec_err(d, "integer has dirty high bits");
        u256_to_dec(w, dec);
        *out = json_string(dec);
        break;
    case ABI_INT: {
        size_t nb = 32 - t->size / 8; /* sign-extension bytes */
        uint8_t ext = (w[nb] & 0x80) ? 0xff : 0x00;
        for (size_t i = 0; i < nb; i++)
            if (w[i] != ext)
                return dec_err(d, "signed integer is not sign-extended");
        i256_to_dec(w, dec);
        *out = json_string(dec);
        break;
    }
    case ABI_ADDRESS:
        if (memcmp(w, zero, 12))
            return dec_err(d, "address has dirty high bytes");
        addr_format(w + 12, a);
        *out = json_string(a);
        break;
    case ABI_BOOL:
        if (memcmp(w, zero, 31) || w[31] > 1)
            return dec_err(d, "bool is neither 0 nor 1");
        *out = json_boolean(w[31]);
        break;
    case ABI_FIXED_BYTES:
        if (memcmp(w + t->size, zero, 32 - t->size))
            return dec_err(d, "bytes<M> padding is not zero");
        *out = hex_json(w, t->size);
        break;
    default:
        return AG_EINVAL;
    }
    return *out ? 0 : AG_ENOMEM;
}

static int decode_at(const struct abi_type *t, const uint8_t *p, size_t n, size_t pos,
                     struct dec *d, int depth, json_t **out)
{
    static const uint8_t zero[32];
    size_t len;
    if (depth > ABI_MAX_DEPTH * 2)
        return dec_err(d, "nested too deep");
    if (d->budget == 0)
        return dec_err(d, "too many values");
    d->budget--;
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING: {
        if (pos > n || n - pos < 32 || !word_size(p + pos, n - pos - 32, &len))
            return dec_err(d, "length runs past the end of the data");
        size_t padded = (len + 31) / 32 * 32;
        if (padded > n - pos - 32)
            return dec_err(d, "padding runs past the end of the data");
        const uint8_t *s = p + pos + 32;
        if (len % 32 && memcmp(s + len, zero, padded - len))
            return dec_err(d, "padding is not zero");
        if (t->kind == ABI_BYTES) {
            *out = hex_json(s, len);
        } else {
            if (!utf8_valid((const char *)s, len) || memchr(s, 0, len))
                return dec_err(d, "string is not valid UTF-8");
            *out = json_stringn((const char *)s, len);
        }
        return *out ? 0 : AG_ENOMEM;
    }
    case ABI_ARRAY: {
        if (pos > n || n - pos < 32 || !word_size(p + pos, n - pos - 32, &len))
            return dec_err(d, "array length runs past the end of the data");
        /* every element takes at least one 32-byte word of head */
        size_t hs = head_size(t->elem);
        if (hs == 0 || len > (n - pos - 32) / hs)
            return dec_err(d, "array length runs past the end of the data");
        return decode_seq(NULL, len, t->elem, p + pos + 32, n - pos - 32, d, depth, out);
    }
    case ABI_FIXED_ARRAY:
        if (pos > n)
            return dec_err(d, "offset outside the data");
        return decode_seq(NULL, t->len, t->elem, p + pos, n - pos, d, depth, out);
    case ABI_TUPLE:
        if (pos > n)
            return dec_err(d, "offset outside the data");
        return decode_seq(t->fields, t->nfields, NULL, p + pos, n - pos, d, depth, out);
    default:
        if (pos > n || n - pos < 32)
            return dec_err(d, "value runs past the end of the data");
        return decode_word(t, p + pos, d, out);
    }
}

int abi_decode(const struct abi_type *t, const uint8_t *p, size_t n, json_t **out, struct ag_err *e)
{
    struct dec d = {ABI_MAX_VALUES, e};
    static const uint8_t empty[1];
    if (n > ABI_MAX_ENCODED)
        return ag_errf(e, AG_EINVAL, "data", "ABI data larger than %zu bytes", ABI_MAX_ENCODED);
    /* A dynamic top-level value other than a tuple sits behind an offset. */
    if (abi_type_dynamic(t) && t->kind != ABI_TUPLE) {
        struct abi_type *one[1] = {(struct abi_type *)t};
        json_t *arr = NULL;
        int rc = decode_seq(one, 1, NULL, p ? p : empty, n, &d, 0, &arr);
        if (!rc) {
            *out = json_incref(json_array_get(arr, 0));
            json_decref(arr);
        }
        return rc;
    }
    return decode_at(t, p ? p : empty, n, 0, &d, 0, out);
}

/* ---------------------------------------------------------------- events */

int abi_event_decode(const struct abi_func *ev, const uint8_t (*topics)[32], size_t ntopics,
                     const uint8_t *data, size_t n, json_t **out, struct ag_err *e)
{
    const struct abi_type *in = ev->inputs;
    struct abi_type plain = {.kind = ABI_TUPLE};
    uint8_t topic0[32];
    size_t nindexed = 0, ti = 1;
    json_t *res = NULL, *dataj = NULL;
    int rc;
    for (size_t i = 0; i < in->nfields; i++)
        nindexed += in->indexed[i];
    rc = abi_event_topic(ev, topic0);
    if (rc)
        return rc;
    if (ntopics != nindexed + 1 || memcmp(topics[0], topic0, 32))
        return ag_errf(e, AG_EINVAL, "topics", "log topics do not match event %s", ev->name);
    plain.fields = calloc(in->nfields ? in->nfields : 1, sizeof(*plain.fields));
    res = json_array();
    if (!plain.fields || !res) {
        rc = AG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->nfields; i++)
        if (!in->indexed[i])
            plain.fields[plain.nfields++] = in->fields[i];
    rc = abi_decode(&plain, data, n, &dataj, e);
    if (rc)
        goto out;
    for (size_t i = 0, di = 0; i < in->nfields && !rc; i++) {
        json_t *v = NULL;
        const struct abi_type *t = in->fields[i];
        if (!in->indexed[i]) {
            v = json_incref(json_array_get(dataj, di++));
        } else if (abi_type_dynamic(t) || t->kind == ABI_TUPLE || t->kind == ABI_FIXED_ARRAY) {
            v = hex_json(topics[ti++], 32);
        } else {
            struct dec d = {1, e};
            rc = decode_word(t, topics[ti++], &d, &v);
        }
        if (!rc && (!v || json_array_append_new(res, v)))
            rc = AG_ENOMEM;
    }
out:
    free(plain.fields);
    json_decref(dataj);
    if (rc)
        json_decref(res);
    else
        *out = res;
    return rc;
}

int abi_event_decode_log(const struct abi_func *ev, json_t *log, json_t **out, struct ag_err *e)
{
    json_t *tj = json_object_get(log, "topics");
    const char *dj = json_string_value(json_object_get(log, "data"));
    uint8_t topics[4][32];
    size_t nt = json_array_size(tj);
    struct buf data;
    int rc = 0;
    if (!json_is_array(tj) || nt == 0 || nt > 4 || !dj)
        return ag_errf(e, AG_EINVAL, "log", "log needs 1 to 4 topics and data");
    for (size_t i = 0; i < nt && !rc; i++)
        if (ethhex_decode_fixed(json_string_value(json_array_get(tj, i)), topics[i], 32))
            rc = ag_errf(e, AG_EINVAL, "topics", "log topic %zu is not 32 bytes of hex", i);
    if (rc)
        return rc;
    buf_init(&data, ABI_MAX_ENCODED);
    if (ethhex_decode(&data, dj))
        rc = ag_errf(e, AG_EINVAL, "data", "log data is not hex");
    else
        rc = abi_event_decode(ev, (const uint8_t(*)[32])topics, nt, (const uint8_t *)data.p, data.n,
                              out, e);
    buf_release(&data);
    return rc;
}

/* ---------------------------------------------------------------- reverts */

static const char *panic_text(uint64_t code)
{
    switch (code) {
    case 0x00:
        return "generic compiler panic";
    case 0x01:
        return "assertion failed";
    case 0x11:
        return "arithmetic overflow or underflow";
    case 0x12:
        return "division or modulo by zero";
    case 0x21:
        return "invalid enum value";
    case 0x22:
        return "corrupt storage byte array";
    case 0x31:
        return "pop() on an empty array";
    case 0x32:
        return "array index out of bounds";
    case 0x41:
        return "out of memory";
    case 0x51:
        return "call to an uninitialized function";
    default:
        return "unknown panic code";
    }
}

int abi_revert_reason(const uint8_t *p, size_t n, const struct abi_func *errors, size_t nerrors,
                      struct buf *out)
{
    static const uint8_t sel_error[4] = {0x08, 0xc3, 0x79, 0xa0};
    static const uint8_t sel_panic[4] = {0x4e, 0x48, 0x7b, 0x71};
    json_t *v = NULL;
    int rc = 0;
    if (n == 0)
        return buf_adds(out, "reverted without a reason");
    if (n >= 4 && !memcmp(p, sel_error, 4)) {
        struct abi_type st = {.kind = ABI_STRING};
        if (abi_decode(&st, p + 4, n - 4, &v, NULL) == 0) {
            rc = buf_adds(out, json_string_value(v));
            goto out;
        }
    } else if (n >= 4 && !memcmp(p, sel_panic, 4)) {
        struct abi_type ut = {.kind = ABI_UINT, .size = 256};
        uint64_t code = 0;
        if (abi_decode(&ut, p + 4, n - 4, &v, NULL) == 0) {
            parse_u64(json_string_value(v), &code);
            rc = buf_addf(out, "panic 0x%02" PRIx64 ": %s", code, panic_text(code));
            goto out;
        }
    } else if (n >= 4) {
        for (size_t i = 0; i < nerrors; i++) {
            uint8_t sel[4];
            if (abi_func_selector(&errors[i], sel) || memcmp(sel, p, 4))
                continue;
            if (abi_decode(errors[i].inputs, p + 4, n - 4, &v, NULL) == 0) {
                char *js = json_dumps(v, JSON_COMPACT);
                rc = buf_addf(out, "%s%s", errors[i].name, js ? js : "");
                free(js);
                goto out;
            }
        }
    }
    rc = buf_adds(out, "reverted with data ");
    if (!rc)
        rc = ethhex_encode(out, p, n);
out:
    json_decref(v);
    return rc;
}
