/* origin.c - the origins users reach the node at, which Sign-In with Ethereum messages must name.
 *
 * A SIWE signature is only worth anything if the message names the site the
 * user was on when signing: a phishing site can get a signature for its own
 * domain, so the node must check the message against where it really is, a
 * fixed setting, never against the request's Host header (which the sender
 * writes). Origins are kept normalized: lowercase scheme and host, no
 * default port (80 for http, 443 for https), so "https://Agora.Example:443/"
 * and a browser's "agora.example" compare equal.
 */
#include "core/common.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "market/market.h"

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static bool ipv6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/* authority_norm() normalizes the n-byte host[:port] `z` of a `scheme` URL
 * into `out`: lowercase, the default port dropped. Hosts are DNS names or
 * IPv4 ([a-z0-9._-]) or bracketed IPv6 literals; no user info; ports are
 * 1-65535 without leading zeros. Returns 0 or AG_EINVAL. */
static int authority_norm(const char *scheme, const char *z, size_t n, char out[MARKET_ORIGIN_MAX])
{
    char host[MARKET_ORIGIN_MAX];
    size_t i = 0, nhost;
    unsigned long port = 0;

    if (!n || n >= sizeof(host))
        return AG_EINVAL;
    for (size_t j = 0; j < n; j++)
        host[j] = (char)(z[j] >= 'A' && z[j] <= 'Z' ? z[j] + 32 : z[j]);
    host[n] = '\0';
    if (host[0] == '[') {
        for (i = 1; i < n && ipv6_char(host[i]); i++)
            ;
        if (i == 1 || i == n || host[i] != ']')
            return AG_EINVAL;
        i++;
    } else {
        while (i < n && host_char(host[i]))
            i++;
        if (i == 0)
            return AG_EINVAL;
    }
    nhost = i;
    if (i < n) {
        if (host[i] != ':' || i + 1 == n || n - i - 1 > 5 || host[i + 1] == '0')
            return AG_EINVAL;
        for (i++; i < n; i++) {
            if (host[i] < '0' || host[i] > '9')
                return AG_EINVAL;
            port = port * 10 + (unsigned long)(host[i] - '0');
        }
        if (port == 0 || port > 65535)
            return AG_EINVAL;
    }
    if ((!strcmp(scheme, "http") && port == 80) || (!strcmp(scheme, "https") && port == 443))
        port = 0;
    if (!port)
        host[nhost] = '\0';
    str_copy(out, host, MARKET_ORIGIN_MAX);
    return 0;
}

/* url_split() reads the scheme ("http" or "https", any case) and the
 * normalized authority of the URL `z`; *rest points after the authority.
 * Returns 0 or AG_EINVAL. */
static int url_split(const char *z, size_t n, char scheme[MARKET_SCHEME_MAX],
                     char authority[MARKET_ORIGIN_MAX], const char **rest)
{
    size_t s;

    if (n > 8 && !strncasecmp(z, "https://", 8))
        s = 5;
    else if (n > 7 && !strncasecmp(z, "http://", 7))
        s = 4;
    else
        return AG_EINVAL;
    snprintf(scheme, MARKET_SCHEME_MAX, "%s", s == 5 ? "https" : "http");
    z += s + 3;
    n -= s + 3;
    for (*rest = z; *rest < z + n && !strchr("/?#", **rest); (*rest)++)
        ;
    return authority_norm(scheme, z, (size_t)(*rest - z), authority);
}

int market_set_origins(struct market *m, const char *list, struct ag_err *e)
{
    struct market_origin *o;
    const char *p = list, *rest;
    char shown[MARKET_ORIGINS_MAX * (MARKET_ORIGIN_MAX + 12)] = "";
    size_t n = 0, len;

    if (__atomic_load_n(&m->norigins, __ATOMIC_ACQUIRE))
        return ag_errf(e, AG_EEXISTS, "public-origin", "the public origins are already set");
    while (p && *p) {
        p += strspn(p, " \t,");
        len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len)
            break;
        if (n == MARKET_ORIGINS_MAX)
            return ag_errf(e, AG_EINVAL, "public-origin", "at most %d public origins",
                           MARKET_ORIGINS_MAX);
        o = &m->origins[n];
        if (url_split(p, len, o->scheme, o->authority, &rest) ||
            !(rest == p + len || (*rest == '/' && rest + 1 == p + len)))
            return ag_errf(e, AG_EINVAL, "public-origin",
                           "public origin \"%.*s\" is not scheme://host[:port] (http or https, "
                           "no path)",
                           (int)MIN(len, (size_t)200), p);
        snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), "%s%s://%s", n ? ", " : "",
                 o->scheme, o->authority);
        n++;
        p += strcspn(p, ",");
    }
    if (!n)
        return ag_errf(e, AG_EINVAL, "public-origin", "no public origin given");
    __atomic_store_n(&m->norigins, n, __ATOMIC_RELEASE);
    log_info("siwe: Sign-In with Ethereum messages must name %s", shown);
    return 0;
}

int market_siwe_origin_check(const struct market *m, const char *domain, const char *uri,
                             const char *scheme, struct ag_err *e)
{
    size_t n = __atomic_load_n(&m->norigins, __ATOMIC_ACQUIRE);
    char uscheme[MARKET_SCHEME_MAX], uauth[MARKET_ORIGIN_MAX], dauth[MARKET_ORIGIN_MAX];
    const char *rest;
    bool uri_ok = !url_split(uri, strlen(uri), uscheme, uauth, &rest);
    bool domain_known = false;

    if (!n)
        return ag_errf(e, AG_EUNAVAILABLE, NULL,
                       "this node has no public origin yet; try Sign-In with Ethereum again");
    for (size_t i = 0; i < n; i++) {
        const struct market_origin *o = &m->origins[i];
        if (authority_norm(o->scheme, domain, strlen(domain), dauth) || strcmp(dauth, o->authority))
            continue;
        domain_known = true;
        if (scheme && strcasecmp(scheme, o->scheme))
            continue;
        if (uri_ok && !strcmp(uscheme, o->scheme) && !strcmp(uauth, o->authority))
            return 0;
    }
    if (!domain_known)
        return ag_errf(e, AG_EUNAUTH, "domain",
                       "the message is for %.100s, not for this node (%s://%s%s)", domain,
                       m->origins[0].scheme, m->origins[0].authority,
                       n > 1 ? " or another "
                               "of its public origins"
                             : "");
    return ag_errf(e, AG_EUNAUTH, "uri", "the message's URI is not on the origin of %.100s",
                   domain);
}
