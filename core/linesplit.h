/* linesplit.h - splits a byte stream into lines, with a bound on one line's length.
 *
 * Bytes are fed as they arrive (in chunks cut anywhere); every complete line is handed to a
 * callback without its '\n' (a '\r' before it is kept). Empty lines are skipped. A line
 * longer than the bound is an error, so at most max bytes are ever held: the streaming mode
 * of core/httpc.h uses it for newline-delimited bodies such as Kubernetes watch streams. */
#ifndef PG_CORE_LINESPLIT_H
#define PG_CORE_LINESPLIT_H

#include <stddef.h>

/* pg_linesplit_feed and pg_linesplit_finish return 0 or one of these. */
#define PG_LINESPLIT_STOPPED (-1)  /* the callback returned a negative value */
#define PG_LINESPLIT_TOO_LONG (-2) /* a line exceeds max */
#define PG_LINESPLIT_NOMEM (-3)

/* Called with one complete non-empty line (without its '\n'; not NUL-terminated), borrowed
 * for the call. Returns 0 to go on, a negative value to stop. */
typedef int (*pg_linesplit_fn)(void *ud, const char *line, size_t len);

/* The bytes of the line in progress: buf (owned, NULL until needed) holds len bytes of cap;
 * cap never exceeds max. Members are read only for callers. */
struct pg_linesplit {
    char *buf;
    size_t len, cap, max;
};

/* Initialises l for lines of at most max bytes (0 counts as 1). Cannot fail. */
void pg_linesplit_init(struct pg_linesplit *l, size_t max);

/* Feeds n bytes; calls fn for each line they complete. Returns 0 or PG_LINESPLIT_*; after a
 * negative return, reset l before feeding it again. */
int pg_linesplit_feed(struct pg_linesplit *l, const char *data, size_t n, pg_linesplit_fn fn,
                      void *ud);

/* End of stream: hands a pending unterminated line to fn. Returns 0 or PG_LINESPLIT_STOPPED. */
int pg_linesplit_finish(struct pg_linesplit *l, pg_linesplit_fn fn, void *ud);

/* Frees the buffer and forgets the line in progress (l stays initialised, with its max). */
void pg_linesplit_reset(struct pg_linesplit *l);

#endif
