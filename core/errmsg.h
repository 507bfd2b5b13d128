/* errmsg.h - filling the caller's error buffer: the (char *err, size_t errlen) pair that
 * every fallible profgate function takes for a one-line reason. */
#ifndef PG_CORE_ERRMSG_H
#define PG_CORE_ERRMSG_H

#include <stddef.h>

/* Formats the reason into err (printf style, truncated to errlen - 1 bytes). Does nothing
 * when err is NULL or errlen is 0. Cannot fail. */
void pg_errmsg_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
