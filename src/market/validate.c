/* validate.c - the shapes of names, slugs, e-mail addresses, file names,
 * prices and versions that the marketplace accepts. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "market/market.h"

#include <ctype.h>

static bool in_set(char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(extra, c));
}

bool valid_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!in_set(s[i], "_-"))
            return false;
    return true;
}

/* A slug is lowercase [a-z0-9._-], 1-64 characters, starting and ending with
 * a letter or digit, with no ".." anywhere: safe as a path segment. */
bool valid_slug(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !in_set(s[0], "") || !in_set(s[n - 1], ""))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!in_set(s[i], "._-"))
            return false;
    return strstr(s, "..") == NULL;
}

bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    if (n < 3 || n > 254 || !at || at == s || strchr(at + 1, '@'))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("<>()[]\\,;:\"", *p))
            return false;
    return strchr(at + 1, '.') && at[1] != '.' && s[n - 1] != '.';
}

/* A file name is one path segment: 1-255 bytes of valid UTF-8, no '/', no
 * '\\', no control characters, not starting with '.'. */
bool valid_file_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 255 || s[0] == '.' || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return false;
    }
    return true;
}

static const char uint256_max[] =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

bool valid_price(const char *s, char key[79])
{
    size_t n = strlen(s);
    if (n < 1 || n > 78 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (n == 78 && strcmp(s, uint256_max) > 0)
        return false;
    if (key) {
        memset(key, '0', 78 - n);
        memcpy(key + 78 - n, s, n + 1);
    }
    return true;
}

/* Parses a numeric identifier without leading zeros. */
static int num_ident(const char **p, int64_t *out)
{
    const char *s = *p;
    int64_t v = 0;
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
        return AG_EINVAL;
    while (isdigit((unsigned char)*s)) {
        if (v > (INT64_MAX - 9) / 10)
            return AG_EINVAL;
        v = v * 10 + (*s++ - '0');
    }
    *out = v;
    *p = s;
    return 0;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading
 * zeros when `numeric_rules`. Returns the length consumed. */
static size_t idents(const char *s, bool numeric_rules)
{
    const char *p = s;
    for (;;) {
        const char *start = p;
        bool all_digits = true;
        while (isalnum((unsigned char)*p) || *p == '-') {
            all_digits &= isdigit((unsigned char)*p) != 0;
            p++;
        }
        if (p == start)
            return 0;
        if (numeric_rules && all_digits && p - start > 1 && *start == '0')
            return 0;
        if (*p != '.')
            return (size_t)(p - s);
        p++;
    }
}

int semver_parse(const char *s, struct semver *v)
{
    const char *p = s;
    memset(v, 0, sizeof(*v));
    if (strlen(s) > 128 || num_ident(&p, &v->major) || *p++ != '.' ||
        num_ident(&p, &v->minor) || *p++ != '.' || num_ident(&p, &v->patch))
        return AG_EINVAL;
    if (*p == '-') {
        size_t n = idents(p + 1, true);
        if (!n || n >= sizeof(v->pre))
            return AG_EINVAL;
        memcpy(v->pre, p + 1, n);
        v->pre[n] = '\0';
        p += 1 + n;
    }
    if (*p == '+') {
        size_t n = idents(p + 1, false);
        if (!n)
            return AG_EINVAL;
        p += 1 + n;
    }
    return *p ? AG_EINVAL : 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Compares prerelease strings by semver rule 11: identifiers left to right,
 * numeric ones numerically and below alphanumeric ones, fewer fields first. */
static int pre_cmp(const char *a, const char *b)
{
    if (!*a || !*b)
        return !*a - !*b; /* no prerelease ranks higher */
    while (*a && *b) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        bool na = strspn(a, "0123456789") == la, nb = strspn(b, "0123456789") == lb;
        int c;
        if (na && nb)
            c = la != lb ? cmp_i64((int64_t)la, (int64_t)lb) : strncmp(a, b, la);
        else if (na != nb)
            c = na ? -1 : 1;
        else {
            c = strncmp(a, b, MIN(la, lb));
            if (!c)
                c = cmp_i64((int64_t)la, (int64_t)lb);
        }
        if (c)
            return c < 0 ? -1 : 1;
        a += la + (a[la] == '.');
        b += lb + (b[lb] == '.');
    }
    return (*a != 0) - (*b != 0);
}

int semver_cmp(const struct semver *a, const struct semver *b)
{
    int c = cmp_i64(a->major, b->major);
    if (!c)
        c = cmp_i64(a->minor, b->minor);
    if (!c)
        c = cmp_i64(a->patch, b->patch);
    return c ? c : pre_cmp(a->pre, b->pre);
}
