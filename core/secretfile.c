/* secretfile.c - whole-file reads of HTTP client secrets and PEM files (see secretfile.h). */
#include "core/secretfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errmsg.h"

char *pg_secretfile_read(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pg_errmsg_set(err, errlen, "unable to read file %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= PG_SECRETFILE_MAX) {
                fclose(f);
                free(buf);
                pg_errmsg_set(err, errlen, "unable to read file %s: larger than %u bytes", path,
                              PG_SECRETFILE_MAX);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (buf == NULL || rerr) {
        pg_errmsg_set(err, errlen, "unable to read file %s: %s", path,
                      buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *pg_secretfile_read_trimmed(const char *path, char *err, size_t errlen)
{
    size_t n;
    char *s = pg_secretfile_read(path, &n, err, errlen);
    if (s == NULL)
        return NULL;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t lead = 0;
    while (lead < n && isspace((unsigned char)s[lead]))
        lead++;
    memmove(s, s + lead, n - lead + 1);
    return s;
}
