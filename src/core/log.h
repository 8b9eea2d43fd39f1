/* log.h - leveled, line-oriented logging to stderr.
 *
 * One line per event: "2026-11-25T16:21:00.123Z level msg". Lines are written
 * with a single write(2), so lines from different threads never interleave.
 * Control characters in a message (newlines, escapes) are written as '?', so
 * outside data cannot forge lines; a message is cut at about 2 KB.
 * Never log a secret (passwords, tokens, keys): log ids and prefixes.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
/* log_parse_level() returns the level named by `s`, or -1. */
int log_parse_level(const char *s);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
