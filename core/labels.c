/* labels.c - sorted label sets (see labels.h). Lookups are binary searches; inserts
 * shift the tail, which is cheap for the few dozen labels a target carries. */
#include "core/labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

void pg_labels_init(struct pg_labels *ls)
{
    ls->v = NULL;
    ls->n = 0;
    ls->cap = 0;
}

void pg_labels_reset(struct pg_labels *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->v[i].name);
        free(ls->v[i].value);
    }
    free(ls->v);
    pg_labels_init(ls);
}

/* Returns the index of name, or -(insertion point)-1 when absent. */
static long find(const struct pg_labels *ls, const char *name, size_t nlen)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = ls->v[mid].name;
        size_t mlen = strlen(m);
        int c = memcmp(m, name, mlen < nlen ? mlen : nlen);
        if (c == 0)
            c = mlen < nlen ? -1 : (mlen > nlen ? 1 : 0);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int pg_labels_setn(struct pg_labels *ls, const char *name, size_t nlen, const char *value,
                   size_t vlen)
{
    char *v = malloc(vlen + 1);
    if (!v)
        return -1;
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    long i = find(ls, name, nlen);
    if (i >= 0) {
        free(ls->v[i].value);
        ls->v[i].value = v;
        return 0;
    }
    size_t at = (size_t)(-i - 1);
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 8;
        struct pg_label *nv = realloc(ls->v, cap * sizeof(*nv));
        if (!nv) {
            free(v);
            return -1;
        }
        ls->v = nv;
        ls->cap = cap;
    }
    char *n = malloc(nlen + 1);
    if (!n) {
        free(v);
        return -1;
    }
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    memmove(&ls->v[at + 1], &ls->v[at], (ls->n - at) * sizeof(*ls->v));
    ls->v[at].name = n;
    ls->v[at].value = v;
    ls->n++;
    return 0;
}

int pg_labels_set(struct pg_labels *ls, const char *name, const char *value)
{
    return pg_labels_setn(ls, name, strlen(name), value, strlen(value));
}

const char *pg_labels_get(const struct pg_labels *ls, const char *name)
{
    long i = find(ls, name, strlen(name));
    return i >= 0 ? ls->v[i].value : NULL;
}

int pg_labels_del(struct pg_labels *ls, const char *name)
{
    long i = find(ls, name, strlen(name));
    if (i < 0)
        return 0;
    free(ls->v[i].name);
    free(ls->v[i].value);
    memmove(&ls->v[i], &ls->v[i + 1], (ls->n - (size_t)i - 1) * sizeof(*ls->v));
    ls->n--;
    return 1;
}

int pg_labels_copy(struct pg_labels *dst, const struct pg_labels *src)
{
    if (dst == src)
        return 0;
    pg_labels_reset(dst);
    if (src->n == 0)
        return 0;
    dst->v = calloc(src->n, sizeof(*dst->v));
    if (!dst->v)
        return -1;
    dst->cap = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].name = strdup(src->v[i].name);
        dst->v[i].value = strdup(src->v[i].value);
        dst->n = i + 1;
        if (!dst->v[i].name || !dst->v[i].value) {
            pg_labels_reset(dst);
            return -1;
        }
    }
    return 0;
}

int pg_labels_equal(const struct pg_labels *a, const struct pg_labels *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
            return 0;
    return 1;
}

uint64_t pg_labels_hash(const struct pg_labels *ls)
{
    /* XXH3 over name 0xff value 0xff ... (0xff never occurs in UTF-8) */
    static const char sep = '\xff';
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < ls->n; i++) {
        XXH3_64bits_update(&st, ls->v[i].name, strlen(ls->v[i].name));
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, ls->v[i].value, strlen(ls->v[i].value));
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

/* Appends s quoted as Go's strconv.Quote would for printable UTF-8 input. */
static void quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\x%02x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

char *pg_labels_format(const struct pg_labels *ls)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputc('{', f);
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            fputs(", ", f);
        fputs(ls->v[i].name, f);
        fputc('=', f);
        quote(f, ls->v[i].value);
    }
    fputc('}', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int pg_labels_valid_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}
