/* log.h - structured logging (logfmt or JSON lines) to stderr.
 *
 * Every line carries ts, level and component; the caller's format string supplies the
 * remaining key=value pairs, e.g.
 *   pg_log_info("sd.file", "job=%s msg=\"reloaded\" groups=%zu", job, n);
 * Log at boundaries, never in tight loops. Messages are never secrets. */
#ifndef PG_LOG_H
#define PG_LOG_H

#include <stddef.h>

enum pg_log_level { PG_LOG_DEBUG = 0, PG_LOG_INFO, PG_LOG_WARN, PG_LOG_ERROR };
enum pg_log_format { PG_LOG_LOGFMT = 0, PG_LOG_JSON };

/* Sets the minimum level that is printed (default info). */
void pg_log_set_level(enum pg_log_level level);
/* Parses "debug", "info", "warn", "error". Returns 0 or -1 for an unknown name. */
int pg_log_parse_level(const char *s, enum pg_log_level *out);
/* Sets the output format (default logfmt). In JSON mode the caller's key=value text is
 * emitted as the "msg" field's neighbour "fields" (kept verbatim). */
void pg_log_set_format(enum pg_log_format fmt);

void pg_log(enum pg_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies msg (may be NULL: "") into out (outlen >= 1, truncating) so that it can stand
 * inside a quoted logfmt value: '"' becomes '\'', '\\' becomes '/', control characters
 * become spaces. out may be msg (the text is rewritten in place). Returns out. The one
 * quoting function for text that did not come from us (errors, response bodies). */
const char *pg_log_safe(const char *msg, char *out, size_t outlen);

#define pg_log_debug(c, ...) pg_log(PG_LOG_DEBUG, c, __VA_ARGS__)
#define pg_log_info(c, ...) pg_log(PG_LOG_INFO, c, __VA_ARGS__)
#define pg_log_warn(c, ...) pg_log(PG_LOG_WARN, c, __VA_ARGS__)
#define pg_log_error(c, ...) pg_log(PG_LOG_ERROR, c, __VA_ARGS__)

#endif
