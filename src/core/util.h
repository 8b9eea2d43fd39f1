/* util.h - time, randomness, string and number helpers. */
#ifndef AGORA_UTIL_H
#define AGORA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in milliseconds / seconds since the epoch; monotonic microseconds. */
int64_t time_now_ms(void);
int64_t time_now(void);
int64_t time_mono_us(void);
/* Formats `ms` as "2026-11-25T16:21:00.123Z" / `s` as "2026-11-25T16:21:00Z",
 * truncated to `size`; a time too far out for the calendar gives "". */
void time_iso8601_ms(char *out, size_t size, int64_t ms);
void time_iso8601(char *out, size_t size, int64_t s);

/* rand_bytes() fills `p` with cryptographically secure random bytes (libsodium). */
void rand_bytes(void *p, size_t n);
/* rand_token() writes `nbytes` random bytes as lowercase hex plus NUL into `out`
 * (which must hold 2*nbytes+1 bytes). */
void rand_token(char *out, size_t nbytes);

/* str_copy() copies like strlcpy: always NUL-terminates; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);
bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);
/* str_dup() is strdup() that returns NULL for NULL. */
char *str_dup(const char *s);

/* parse_i64()/parse_u64() accept a whole decimal string in range; return 0 or AG_EINVAL. */
int parse_i64(const char *s, int64_t *out);
int parse_u64(const char *s, uint64_t *out);

/* utf8_valid() reports whether `len` bytes are well-formed UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t len);
/* utf8_len() counts code points in valid UTF-8. */
size_t utf8_len(const char *s);

/* sha256_hex() writes the lowercase hex SHA-256 of `len` bytes (65 bytes out). */
void sha256_hex(const void *data, size_t len, char out[65]);

/* ct_equal() compares two equal-length byte strings in constant time. */
bool ct_equal(const void *a, const void *b, size_t n);

/* mkdir_p() creates a directory and its parents with `mode`. Returns 0 when
 * `path` is (now) a directory, AG_EINVAL for an empty or over-long path, and
 * AG_EIO when a component cannot be created or is not a directory. */
int mkdir_p(const char *path, unsigned mode);

#endif
