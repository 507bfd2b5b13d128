/* sbuf.h - a growable NUL-terminated string for building URLs, label encodings and
 * messages piece by piece.
 *
 * Appends never fail loudly: on out-of-memory (or a size overflow) the buffer sets failed
 * and ignores every later append, so a builder appends freely and checks once at the end.
 * A zeroed struct pg_sbuf is an empty buffer; s is NULL until the first append. The
 * buffer owns s: free it with pg_sbuf_reset, or take it with pg_sbuf_take. */
#ifndef PG_CORE_SBUF_H
#define PG_CORE_SBUF_H

#include <stddef.h>

struct pg_sbuf {
    char *s;    /* the contents, NUL-terminated (NULL before the first append) */
    size_t len; /* bytes before the NUL */
    size_t cap;
    int failed; /* an append ran out of memory: the contents are incomplete */
};

/* Appends n bytes of s (which may contain NUL bytes). */
void pg_sbuf_add(struct pg_sbuf *b, const char *s, size_t n);

/* Appends the C string s. */
void pg_sbuf_str(struct pg_sbuf *b, const char *s);

/* Appends n bytes of s percent-encoded as curl_easy_escape does (and Go's url.PathEscape
 * almost does): RFC 3986 unreserved characters A-Z a-z 0-9 - . _ ~ as they are, every
 * other byte as %XX with upper-case hex. */
void pg_sbuf_escape(struct pg_sbuf *b, const char *s, size_t n);

/* Appends s escaped as Go's url.QueryEscape: unreserved characters as they are, a space
 * as '+', every other byte as %XX. */
void pg_sbuf_query_escape(struct pg_sbuf *b, const char *s);

/* The contents ("" when empty), or NULL when an append failed. Borrowed from b. */
const char *pg_sbuf_cstr(struct pg_sbuf *b);

/* Hands the contents to the caller (who frees them; "" when empty) and empties b, or
 * returns NULL (b emptied too) when an append failed or memory ran out. */
char *pg_sbuf_take(struct pg_sbuf *b);

/* Frees the contents and zeroes b. */
void pg_sbuf_reset(struct pg_sbuf *b);

#endif
