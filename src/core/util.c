/* util.c - time, randomness, string and number helpers. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"

#include <openssl/sha.h>
#include <sodium.h>
#include <sys/stat.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now(void)
{
    return time_now_ms() / 1000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_iso8601_ms(char *out, size_t size, int64_t ms)
{
    /* Floor division, so times before the epoch keep a 0..999 millisecond part. */
    int64_t sec = ms / 1000, frac = ms % 1000;
    time_t s;
    struct tm tm;
    if (frac < 0) {
        frac += 1000;
        sec--;
    }
    s = (time_t)sec;
    if (!gmtime_r(&s, &tm)) {
        str_copy(out, "", size);
        return;
    }
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

void time_iso8601(char *out, size_t size, int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        str_copy(out, "", size);
        return;
    }
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void rand_bytes(void *p, size_t n)
{
    randombytes_buf(p, n);
}

void rand_token(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    /* In pieces of sizeof(b), so any length works (the assert that once
     * guarded a fixed buffer vanishes under NDEBUG). */
    for (size_t done = 0; done < nbytes;) {
        size_t n = MIN(nbytes - done, sizeof(b));
        rand_bytes(b, n);
        for (size_t i = 0; i < n; i++) {
            out[2 * (done + i)] = hex[b[i] >> 4];
            out[2 * (done + i) + 1] = hex[b[i] & 15];
        }
        done += n;
    }
    out[2 * nbytes] = '\0';
    sodium_memzero(b, sizeof(b));
}

size_t str_copy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

bool str_starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_ends(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

char *str_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return AG_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return AG_EINVAL;
    *out = v;
    return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return AG_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return AG_EINVAL;
    *out = v;
    return 0;
}

bool utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end;
    if (!len)
        return true; /* also when str is NULL: NULL + 0 is undefined in C */
    end = s + len;
    while (s < end) {
        unsigned c = *s, need;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - s) <= need)
            return false;
        for (unsigned i = 1; i <= need; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += need + 1;
    }
    return true;
}

size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

bool ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

int mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    struct stat st;
    size_t len = str_copy(tmp, path, sizeof(tmp));

    if (len == 0 || len >= sizeof(tmp))
        return AG_EINVAL;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) && errno != EEXIST)
            return AG_EIO;
        *p = '/';
    }
    if (mkdir(tmp, mode) && errno != EEXIST)
        return AG_EIO;
    /* EEXIST also covers a regular file of that name: the result must be a directory. */
    if (stat(tmp, &st) || !S_ISDIR(st.st_mode))
        return AG_EIO;
    return 0;
}
