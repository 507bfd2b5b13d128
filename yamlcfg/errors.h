/* errors.h - a list of configuration errors, each with file:line:col.
 *
 * Config loading and validation never stop at the first problem: every check appends to
 * a caller-owned list, and `profgate check` prints them all as "file:line:col: message".
 * Lines and columns are 1-based, as editors show them. */
#ifndef PG_YAMLCFG_ERRORS_H
#define PG_YAMLCFG_ERRORS_H

#include <stddef.h>
#include <stdio.h>

struct pg_cfg_error {
    char *file; /* owned */
    int line, col;
    char *msg; /* owned */
};

struct pg_cfg_errors {
    struct pg_cfg_error *v;
    size_t n, cap;
};

/* Makes errs an empty list. */
void pg_cfg_errors_init(struct pg_cfg_errors *errs);
/* Frees every entry; errs is empty afterwards. */
void pg_cfg_errors_reset(struct pg_cfg_errors *errs);
/* Appends an error (file copied, message formatted). If memory runs out the entry's
 * message becomes "out of memory" where possible; the call itself cannot fail. */
void pg_cfg_errors_add(struct pg_cfg_errors *errs, const char *file, int line, int col,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints every error as "file:line:col: message\n" to f. */
void pg_cfg_errors_print(const struct pg_cfg_errors *errs, FILE *f);

#endif
