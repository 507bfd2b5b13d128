/* sbuf.c - the growable string (see sbuf.h). Capacity doubles from 64 bytes. */
#include "core/sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pg_sbuf_add(struct pg_sbuf *b, const char *s, size_t n)
{
    if (b->failed || n > SIZE_MAX / 4 - b->len) { /* also tells gcc the sizes are sane */
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pg_sbuf_str(struct pg_sbuf *b, const char *s)
{
    pg_sbuf_add(b, s, strlen(s));
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void add_pct(struct pg_sbuf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};
    pg_sbuf_add(b, e, 3);
}

void pg_sbuf_escape(struct pg_sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c))
            pg_sbuf_add(b, &s[i], 1);
        else
            add_pct(b, c);
    }
}

void pg_sbuf_query_escape(struct pg_sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c))
            pg_sbuf_add(b, s, 1);
        else if (c == ' ')
            pg_sbuf_add(b, "+", 1);
        else
            add_pct(b, c);
    }
}

const char *pg_sbuf_cstr(struct pg_sbuf *b)
{
    pg_sbuf_add(b, "", 0);
    return b->failed ? NULL : b->s;
}

char *pg_sbuf_take(struct pg_sbuf *b)
{
    char *s = pg_sbuf_cstr(b) ? b->s : NULL;
    if (!s)
        free(b->s);
    memset(b, 0, sizeof(*b));
    return s;
}

void pg_sbuf_reset(struct pg_sbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}
