/* utf8.c - UTF-8 validation (see utf8.h): decodes each sequence by its lead byte
 * (C2..DF, E0..EF, F0..F4) and rejects overlong forms, surrogates and code points above
 * U+10FFFF. */
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t pg_utf8_decode(const char *str, size_t len, uint32_t *out)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80) {
        *out = c;
        return 1;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n >= len)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *out = cp;
    return n + 1;
}

/* Returns the length of the valid UTF-8 sequence at s[i] (1-4), or 0 when it is not one. */
static size_t seq_len(const unsigned char *s, size_t len, size_t i)
{
    uint32_t cp;
    return pg_utf8_decode((const char *)s + i, len - i, &cp);
}

int pg_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(s, len, i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

char *pg_utf8_sanitize(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    char *out = malloc(len * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(s, len, i);
        if (n == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        }
    }
    *o = '\0';
    return out;
}
