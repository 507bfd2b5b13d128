/* labels.h - sorted label sets with owned strings, used by every module.
 *
 * A struct pg_labels is a small vector of (name, value) pairs kept sorted by name
 * (byte order, as Prometheus's labels.Labels) with unique names. The set owns every
 * string in it; functions that take strings copy them. It is a value type: embed it,
 * pg_labels_init() it, and pg_labels_reset() it when done. */
#ifndef PG_LABELS_H
#define PG_LABELS_H

#include <stddef.h>
#include <stdint.h>

struct pg_label {
    char *name;  /* owned */
    char *value; /* owned */
};

struct pg_labels {
    struct pg_label *v; /* sorted by name, unique names */
    size_t n;
    size_t cap;
};

/* Makes ls an empty set. Cannot fail. */
void pg_labels_init(struct pg_labels *ls);

/* Frees every string and the vector; ls is empty (and reusable) afterwards. */
void pg_labels_reset(struct pg_labels *ls);

/* Sets name to value (both copied), replacing an existing value. An empty value is
 * stored as is (callers that follow Prometheus's "empty deletes" use pg_labels_del).
 * Returns 0, or -1 on allocation failure (ls unchanged). */
int pg_labels_set(struct pg_labels *ls, const char *name, const char *value);

/* Like pg_labels_set, with explicit lengths (strings need not be NUL-terminated). */
int pg_labels_setn(struct pg_labels *ls, const char *name, size_t nlen, const char *value,
                   size_t vlen);

/* Returns the value of name (borrowed, valid until the set changes) or NULL. */
const char *pg_labels_get(const struct pg_labels *ls, const char *name);

/* Removes name if present. Returns 1 if removed, 0 if it was absent. */
int pg_labels_del(struct pg_labels *ls, const char *name);

/* Replaces dst's contents with a deep copy of src. Returns 0 or -1 (dst then empty). */
int pg_labels_copy(struct pg_labels *dst, const struct pg_labels *src);

/* Returns 1 when both sets hold the same pairs, else 0. */
int pg_labels_equal(const struct pg_labels *a, const struct pg_labels *b);

/* Returns a 64-bit FNV-1a hash of the sorted pairs (stable across runs). */
uint64_t pg_labels_hash(const struct pg_labels *ls);

/* Formats ls as {a="b", c="d"} (values escaped as Go's %q) into a new string the
 * caller frees. Returns NULL on allocation failure. */
char *pg_labels_format(const struct pg_labels *ls);

/* Returns 1 if s is a valid legacy Prometheus label name [a-zA-Z_][a-zA-Z0-9_]*. */
int pg_labels_valid_name(const char *s);

#endif
