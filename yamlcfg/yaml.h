/* yaml.h - libyaml documents with positions, for the config loader.
 *
 * Wraps libyaml's document API (yaml_parser_load) so the loader can walk mappings and
 * sequences and report every problem at the node's file:line:col. Scalars may have
 * ${VAR} references expanded from the environment: strings only where the caller asks
 * (relabel replacements use the same syntax for regex groups and are read raw); numbers,
 * durations and sizes always (they cannot contain '$' themselves). */
#ifndef PG_YAMLCFG_YAML_H
#define PG_YAMLCFG_YAML_H

#include <stdint.h>
#include <yaml.h>

#include "yamlcfg/errors.h"

struct pg_yaml {
    yaml_document_t doc;
    char *file; /* owned; used in error positions */
    int loaded;
};

/* Parses the file at path into y. YAML syntax errors go to errs with their position.
 * Returns 0, or -1 (y is then safe to pg_yaml_free). An empty file loads as a null root. */
int pg_yaml_load_file(struct pg_yaml *y, const char *path, struct pg_cfg_errors *errs);

/* Like pg_yaml_load_file from a memory buffer; name is used in error positions. */
int pg_yaml_load_string(struct pg_yaml *y, const char *name, const char *text, size_t len,
                        struct pg_cfg_errors *errs);

/* Frees the document. Accepts a zeroed or failed y. */
void pg_yaml_free(struct pg_yaml *y);

/* Returns the root node (borrowed) or NULL for an empty document. */
yaml_node_t *pg_yaml_root(struct pg_yaml *y);

/* Returns the node with libyaml index idx (borrowed), as stored in pairs and items. */
yaml_node_t *pg_yaml_at(struct pg_yaml *y, int idx);

/* Appends an error positioned at node n (1-based line and column). */
void pg_yaml_error(struct pg_yaml *y, const yaml_node_t *n, struct pg_cfg_errors *errs,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Returns 1 if n is a scalar that YAML reads as null (~, null, empty plain scalar). */
int pg_yaml_is_null(const yaml_node_t *n);

/* Checks that map is a mapping whose keys are all in allowed (NULL-terminated) and not
 * repeated; reports each offender as `field K not found in type WHAT` (Prometheus's
 * wording) or `duplicate key K`. Returns 0 if all fine, -1 otherwise. */
int pg_yaml_check_keys(struct pg_yaml *y, yaml_node_t *map, const char *const *allowed,
                       const char *what, struct pg_cfg_errors *errs);

/* Returns the value node of key in map (borrowed), or NULL if absent or map is not a
 * mapping. */
yaml_node_t *pg_yaml_get(struct pg_yaml *y, yaml_node_t *map, const char *key);

/* Reads a scalar into a new string (*out, caller frees). expand != 0 replaces ${VAR}
 * with the environment value (unset = empty) and $$ with $. Reports a type error naming
 * key and returns -1 if n is not a scalar. */
int pg_yaml_str(struct pg_yaml *y, yaml_node_t *n, const char *key, int expand, char **out,
                struct pg_cfg_errors *errs);

/* Reads a YAML boolean (true/false, as Go's yaml.v2 also yes/no/on/off). 0 or -1. */
int pg_yaml_bool(struct pg_yaml *y, yaml_node_t *n, const char *key, int *out,
                 struct pg_cfg_errors *errs);

/* Reads a Prometheus duration into milliseconds. 0 or -1 (error positioned). */
int pg_yaml_duration(struct pg_yaml *y, yaml_node_t *n, const char *key, int64_t *out_ms,
                     struct pg_cfg_errors *errs);

/* Reads a size (512MiB, 1GB, bytes) into bytes. 0 or -1 (error positioned). */
int pg_yaml_size(struct pg_yaml *y, yaml_node_t *n, const char *key, uint64_t *out,
                 struct pg_cfg_errors *errs);

/* Reads a non-negative integer. 0 or -1 (error positioned). */
int pg_yaml_uint(struct pg_yaml *y, yaml_node_t *n, const char *key, uint64_t *out,
                 struct pg_cfg_errors *errs);

/* Expands ${VAR} and $$ in s into a new string (caller frees); NULL on OOM. */
char *pg_yaml_expand_env(const char *s);

#endif
