/* linesplit.c - splits a byte stream into bounded lines (see linesplit.h).
 *
 * A line that lies whole inside one fed chunk is handed out in place, without a copy; only
 * the start of a line cut by a chunk boundary is kept, in a buffer that starts at 4 KiB and
 * doubles up to max. */
#include "core/linesplit.h"

#include <stdlib.h>
#include <string.h>

#define PG_LINESPLIT_FIRST 4096

void pg_linesplit_init(struct pg_linesplit *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max ? max : 1;
}

void pg_linesplit_reset(struct pg_linesplit *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

static int append(struct pg_linesplit *l, const char *data, size_t n)
{
    if (n > l->max - l->len)
        return PG_LINESPLIT_TOO_LONG;
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : PG_LINESPLIT_FIRST;
        while (cap < l->len + n)
            cap = cap > l->max / 2 ? l->max : cap * 2;
        if (cap > l->max)
            cap = l->max; /* never hold more than max bytes */
        char *b = realloc(l->buf, cap);
        if (!b)
            return PG_LINESPLIT_NOMEM;
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    return 0;
}

int pg_linesplit_feed(struct pg_linesplit *l, const char *data, size_t n, pg_linesplit_fn fn,
                      void *ud)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        if (!nl)
            return append(l, data, n);
        size_t part = (size_t)(nl - data);
        if (l->len == 0) {
            /* the whole line is in this chunk: no copy */
            if (part > l->max)
                return PG_LINESPLIT_TOO_LONG;
            if (part > 0 && fn(ud, data, part) < 0)
                return PG_LINESPLIT_STOPPED;
        } else {
            int rc = append(l, data, part);
            if (rc < 0)
                return rc;
            size_t len = l->len;
            l->len = 0;
            if (fn(ud, l->buf, len) < 0)
                return PG_LINESPLIT_STOPPED;
        }
        data = nl + 1;
        n -= part + 1;
    }
    return 0;
}

int pg_linesplit_finish(struct pg_linesplit *l, pg_linesplit_fn fn, void *ud)
{
    if (l->len == 0)
        return 0;
    size_t len = l->len;
    l->len = 0;
    return fn(ud, l->buf, len) < 0 ? PG_LINESPLIT_STOPPED : 0;
}
