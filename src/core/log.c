/* log.c - leveled, line-oriented logging to stderr. */
#include "core/common.h"
#include "core/log.h"
#include "core/util.h"

#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static const char *names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_parse_level(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[2048], ts[32];
    va_list ap;
    int n, start, len;

    if (level < min_level)
        return;
    time_iso8601_ms(ts, sizeof(ts), time_now_ms());
    n = start = snprintf(line, sizeof(line), "%s %-5s ", ts, names[level]);
    va_start(ap, fmt);
    len = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n += len > 0 ? len : 0;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* Messages carry outside data (request paths, peer errors): a newline or
     * a terminal escape in them must not forge or garble log lines. */
    for (int i = start; i < n; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}
