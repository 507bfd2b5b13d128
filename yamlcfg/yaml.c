/* yaml.c - positioned access to libyaml documents for the config loader (see yaml.h). */
#include "yamlcfg/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yamlcfg/units.h"

static int load(struct pg_yaml *y, yaml_parser_t *p, struct pg_cfg_errors *errs)
{
    if (!yaml_parser_load(p, &y->doc)) {
        pg_cfg_errors_add(errs, y->file, (int)p->problem_mark.line + 1,
                          (int)p->problem_mark.column + 1, "yaml: %s%s%s",
                          p->problem ? p->problem : "syntax error", p->context ? " " : "",
                          p->context ? p->context : "");
        yaml_parser_delete(p);
        return -1;
    }
    y->loaded = 1;
    yaml_parser_delete(p);
    return 0;
}

int pg_yaml_load_string(struct pg_yaml *y, const char *name, const char *text, size_t len,
                        struct pg_cfg_errors *errs)
{
    memset(y, 0, sizeof(*y));
    y->file = strdup(name);
    yaml_parser_t p;
    if (!y->file || !yaml_parser_initialize(&p)) {
        pg_cfg_errors_add(errs, name, 0, 0, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    return load(y, &p, errs);
}

int pg_yaml_load_file(struct pg_yaml *y, const char *path, struct pg_cfg_errors *errs)
{
    memset(y, 0, sizeof(*y));
    y->file = strdup(path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        pg_cfg_errors_add(errs, path, 0, 0, "cannot open config file: %s", strerror(errno));
        return -1;
    }
    yaml_parser_t p;
    if (!y->file || !yaml_parser_initialize(&p)) {
        fclose(f);
        pg_cfg_errors_add(errs, path, 0, 0, "out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    int rc = load(y, &p, errs);
    fclose(f);
    return rc;
}

void pg_yaml_free(struct pg_yaml *y)
{
    if (y->loaded)
        yaml_document_delete(&y->doc);
    free(y->file);
    memset(y, 0, sizeof(*y));
}

yaml_node_t *pg_yaml_root(struct pg_yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

yaml_node_t *pg_yaml_at(struct pg_yaml *y, int idx)
{
    return yaml_document_get_node(&y->doc, idx);
}

void pg_yaml_error(struct pg_yaml *y, const yaml_node_t *n, struct pg_cfg_errors *errs,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = n ? (int)n->start_mark.line + 1 : 0, col = n ? (int)n->start_mark.column + 1 : 0;
    pg_cfg_errors_add(errs, y->file, line, col, "%s", msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* The value of a typed (number, duration, size, boolean) scalar with ${VAR} expanded: no
 * such value can contain '$' itself, so expanding is always safe. Returns the scalar, or
 * *tmp (caller frees) when it held a reference; NULL on OOM. */
static const char *typed_scalar(const yaml_node_t *n, char **tmp)
{
    *tmp = NULL;
    if (!strchr(scalar(n), '$'))
        return scalar(n);
    *tmp = pg_yaml_expand_env(scalar(n));
    return *tmp;
}

int pg_yaml_is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a sequence";
    default: return "a scalar";
    }
}

int pg_yaml_check_keys(struct pg_yaml *y, yaml_node_t *map, const char *const *allowed,
                       const char *what, struct pg_cfg_errors *errs)
{
    if (map->type != YAML_MAPPING_NODE) {
        pg_yaml_error(y, map, errs, "%s must be a mapping, got %s", what, kind(map));
        return -1;
    }
    int rc = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = pg_yaml_at(y, p->key);
        if (k->type != YAML_SCALAR_NODE) {
            pg_yaml_error(y, k, errs, "%s: keys must be scalars", what);
            rc = -1;
            continue;
        }
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, scalar(k)))
                ok = 1;
        if (!ok) {
            pg_yaml_error(y, k, errs, "field %s not found in type %s", scalar(k), what);
            rc = -1;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = pg_yaml_at(y, q->key);
            if (k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), scalar(k))) {
                pg_yaml_error(y, k, errs, "%s: duplicate key %s", what, scalar(k));
                rc = -1;
                break;
            }
        }
    }
    return rc;
}

yaml_node_t *pg_yaml_get(struct pg_yaml *y, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = pg_yaml_at(y, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), key))
            return pg_yaml_at(y, p->value);
    }
    return NULL;
}

char *pg_yaml_expand_env(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (const char *p = s; *p; p++) {
        if (p[0] == '$' && p[1] == '$') {
            fputc('$', f);
            p++;
        } else if (p[0] == '$' && p[1] == '{' && strchr(p + 2, '}')) {
            const char *end = strchr(p + 2, '}');
            char name[256];
            size_t n = (size_t)(end - (p + 2));
            if (n >= sizeof(name))
                n = sizeof(name) - 1;
            memcpy(name, p + 2, n);
            name[n] = '\0';
            const char *v = getenv(name);
            if (v)
                fputs(v, f);
            p = end;
        } else {
            fputc(*p, f);
        }
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int need_scalar(struct pg_yaml *y, yaml_node_t *n, const char *key, const char *want,
                       struct pg_cfg_errors *errs)
{
    if (n->type != YAML_SCALAR_NODE) {
        pg_yaml_error(y, n, errs, "%s: expected %s, got %s", key, want, kind(n));
        return -1;
    }
    return 0;
}

int pg_yaml_str(struct pg_yaml *y, yaml_node_t *n, const char *key, int expand, char **out,
                struct pg_cfg_errors *errs)
{
    if (need_scalar(y, n, key, "a string", errs) < 0)
        return -1;
    *out = expand ? pg_yaml_expand_env(scalar(n)) : strdup(scalar(n));
    if (!*out) {
        pg_yaml_error(y, n, errs, "%s: out of memory", key);
        return -1;
    }
    return 0;
}

int pg_yaml_bool(struct pg_yaml *y, yaml_node_t *n, const char *key, int *out,
                 struct pg_cfg_errors *errs)
{
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};
    if (need_scalar(y, n, key, "a boolean", errs) < 0)
        return -1;
    for (int i = 0; t[i]; i++)
        if (!strcmp(scalar(n), t[i])) {
            *out = 1;
            return 0;
        }
    for (int i = 0; f[i]; i++)
        if (!strcmp(scalar(n), f[i])) {
            *out = 0;
            return 0;
        }
    pg_yaml_error(y, n, errs, "%s: cannot parse %s as a boolean", key, scalar(n));
    return -1;
}

int pg_yaml_duration(struct pg_yaml *y, yaml_node_t *n, const char *key, int64_t *out_ms,
                     struct pg_cfg_errors *errs)
{
    char err[256];
    if (need_scalar(y, n, key, "a duration", errs) < 0)
        return -1;
    char *tmp;
    const char *v = typed_scalar(n, &tmp);
    int rc = v ? pg_units_parse_duration(v, out_ms, err, sizeof(err)) : -1;
    if (rc < 0)
        pg_yaml_error(y, n, errs, "%s: %s", key, v ? err : "out of memory");
    free(tmp);
    return rc < 0 ? -1 : 0;
}

int pg_yaml_size(struct pg_yaml *y, yaml_node_t *n, const char *key, uint64_t *out,
                 struct pg_cfg_errors *errs)
{
    char err[256];
    if (need_scalar(y, n, key, "a size", errs) < 0)
        return -1;
    char *tmp;
    const char *v = typed_scalar(n, &tmp);
    int rc = v ? pg_units_parse_size(v, out, err, sizeof(err)) : -1;
    if (rc < 0)
        pg_yaml_error(y, n, errs, "%s: %s", key, v ? err : "out of memory");
    free(tmp);
    return rc < 0 ? -1 : 0;
}

int pg_yaml_uint(struct pg_yaml *y, yaml_node_t *n, const char *key, uint64_t *out,
                 struct pg_cfg_errors *errs)
{
    if (need_scalar(y, n, key, "an integer", errs) < 0)
        return -1;
    char *tmp;
    const char *s = typed_scalar(n, &tmp);
    if (!s) {
        pg_yaml_error(y, n, errs, "%s: out of memory", key);
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || *s == '+') {
        pg_yaml_error(y, n, errs, "%s: cannot parse %s as a non-negative integer", key, s);
        free(tmp);
        return -1;
    }
    free(tmp);
    *out = v;
    return 0;
}
