/* log.c - one-line structured log records on stderr (see log.h).
 *
 * Thread-safe: worker threads (core/workq.h) may log. Each record is formatted into a
 * local buffer and written with one fwrite (stdio locks the stream per call), so lines
 * from different threads never interleave; level and format are atomics. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static _Atomic int min_level = PG_LOG_INFO;
static _Atomic int out_format = PG_LOG_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pg_log_set_level(enum pg_log_level level)
{
    atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}
void pg_log_set_format(enum pg_log_format fmt)
{
    atomic_store_explicit(&out_format, (int)fmt, memory_order_relaxed);
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

/* Appends the JSON-escaped text of s to out[*n..cap) (truncating, always room for the
 * closing characters the caller adds within its reserve). */
static void json_escape(char *out, size_t *n, size_t cap, const char *s)
{
    for (const char *p = s; *p && *n + 8 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        } else {
            out[(*n)++] = (char)c;
        }
    }
}

const char *pg_log_safe(const char *msg, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; msg && msg[i] && j + 1 < outlen; i++) {
        unsigned char c = (unsigned char)msg[i];
        out[j++] = c == '"' ? '\'' : c == '\\' ? '/' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[j] = '\0';
    return out;
}

void pg_log(enum pg_log_level level, const char *component, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&min_level, memory_order_relaxed))
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

    char line[8192];
    size_t len;
    if (atomic_load_explicit(&out_format, memory_order_relaxed) == PG_LOG_JSON) {
        /* body is logfmt; keep it as one escaped string field */
        int h = snprintf(line, sizeof line,
                         "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"fields\":\"", ts,
                         level_names[level], component);
        len = h < 0 ? 0 : (size_t)h < sizeof line - 8 ? (size_t)h : sizeof line - 8;
        json_escape(line, &len, sizeof line, body);
        memcpy(line + len, "\"}\n", 3);
        len += 3;
    } else {
        int h = snprintf(line, sizeof line, "ts=%s level=%s component=%s %s\n", ts,
                         level_names[level], component, body);
        len = h < 0 ? 0 : (size_t)h < sizeof line ? (size_t)h : sizeof line - 1;
        if (len > 0)
            line[len - 1] = '\n';
    }
    fwrite(line, 1, len, stderr);
}
