/* utf8.h - UTF-8 validation, as Go's utf8.Valid: what Prometheus and Pyroscope accept as
 * a UTF-8 label name or value. Shared so every module validates the same way. */
#ifndef PG_CORE_UTF8_H
#define PG_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Returns 1 if s[0..len) is valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence), else 0. NUL bytes are valid (U+0000). Cannot fail. */
int pg_utf8_valid(const char *s, size_t len);

/* Decodes the sequence at s[0..len) (len > 0): returns its length (1-4) and sets *cp, or
 * returns 0 (cp untouched) when it is not valid UTF-8 by the rules above. */
size_t pg_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Returns a new copy of the NUL-terminated s (caller frees) with every byte that does not
 * start a valid sequence replaced by U+FFFD, or NULL on OOM. For showing untrusted text
 * in JSON, which must be UTF-8. */
char *pg_utf8_sanitize(const char *s);

#endif
