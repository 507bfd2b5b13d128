/* base64.c - base64 decoding (see base64.h): one pass, six bits per symbol into an
 * accumulator, a byte out whenever eight bits are there. */
#include "core/base64.h"

#include <ctype.h>
#include <stdlib.h>

/* The value of a symbol of either alphabet, or -1. */
static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int pg_base64_decode(const char *in, size_t len, int flags, uint8_t **out, size_t *outlen)
{
    uint8_t *o = malloc(len / 4 * 3 + 4);
    if (!o)
        return -1;
    size_t k = 0, symbols = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((flags & PG_BASE64_IGNORE_SPACE) && isspace(c))
            continue;
        if (c == '=') {
            pad = 1;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(o);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        symbols++;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    if (symbols % 4 == 1) { /* a lone trailing symbol cannot encode a byte */
        free(o);
        return -1;
    }
    o[k] = 0;
    *out = o;
    *outlen = k;
    return 0;
}

char *pg_base64_encode(const void *in, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = in;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = i + 1 < len ? a[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? a[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
