/* log.c - one-line structured log records on stderr (see log.h). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum pg_log_level min_level = PG_LOG_INFO;
static enum pg_log_format out_format = PG_LOG_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pg_log_set_level(enum pg_log_level level)
{
    min_level = level;
}
void pg_log_set_format(enum pg_log_format fmt)
{
    out_format = fmt;
}

int pg_log_parse_level(const char *s, enum pg_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum pg_log_level)i;
            return 0;
        }
    return -1;
}

void pg_log(enum pg_log_level level, const char *component, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    if (out_format == PG_LOG_JSON) {
        /* body is logfmt; keep it as one escaped string field */
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"fields\":\"", ts,
                level_names[level], component);
        for (const char *p = body; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\')
                fprintf(stderr, "\\%c", c);
            else if (c < 0x20)
                fprintf(stderr, "\\u%04x", c);
            else
                fputc(c, stderr);
        }
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "ts=%s level=%s component=%s %s\n", ts, level_names[level], component,
                body);
    }
}
