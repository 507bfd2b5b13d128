/* errors.c - the positioned configuration error list (see errors.h). */
#include "yamlcfg/errors.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void pg_cfg_errors_init(struct pg_cfg_errors *errs)
{
    errs->v = NULL;
    errs->n = errs->cap = 0;
}

void pg_cfg_errors_reset(struct pg_cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->v[i].file);
        free(errs->v[i].msg);
    }
    free(errs->v);
    pg_cfg_errors_init(errs);
}

void pg_cfg_errors_add(struct pg_cfg_errors *errs, const char *file, int line, int col,
                       const char *fmt, ...)
{
    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        struct pg_cfg_error *nv = realloc(errs->v, cap * sizeof(*nv));
        if (!nv)
            return;
        errs->v = nv;
        errs->cap = cap;
    }
    struct pg_cfg_error *e = &errs->v[errs->n++];
    e->file = strdup(file ? file : "<config>");
    e->line = line;
    e->col = col;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&e->msg, fmt, ap) < 0)
        e->msg = strdup("out of memory");
    va_end(ap);
}

void pg_cfg_errors_print(const struct pg_cfg_errors *errs, FILE *f)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(f, "%s:%d:%d: %s\n", errs->v[i].file ? errs->v[i].file : "<config>",
                errs->v[i].line, errs->v[i].col, errs->v[i].msg ? errs->v[i].msg : "out of memory");
}
