/* load.c - the helpers every config loader uses (see load.h): typed reads of optional
 * keys, secrets and *_file secrets, label maps, the HTTP client options, URL checks. */
#include "yamlcfg/load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pg_cfg_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *pg_cfg_resolve_path(const struct pg_cfg_ld *l, const char *path)
{
    const char *file = l->y ? l->y->file : NULL;
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (path == NULL || path[0] == '\0' || path[0] == '/' || slash == NULL)
        return strdup(path ? path : "");
    int dlen = (int)(slash - file); /* 0: the file is in "/" */
    size_t len = (size_t)dlen + strlen(path) + 2;
    char *s = malloc(len);
    if (s != NULL)
        snprintf(s, len, "%.*s/%s", dlen, file, path);
    return s;
}

void pg_cfg_resolve_in_place(struct pg_cfg_ld *l, yaml_node_t *n, char **path)
{
    if (*path == NULL)
        return;
    char *r = pg_cfg_resolve_path(l, *path);
    if (r == NULL) {
        pg_yaml_error(l->y, n, l->errs, "out of memory");
        return;
    }
    free(*path);
    *path = r;
}

/* Reads a whole secret file, trimming one trailing newline (as Prometheus does with
 * strings.TrimSpace). Returns a new string or NULL with an error at node n. */
char *pg_cfg_read_secret_file(struct pg_cfg_ld *l, yaml_node_t *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        pg_yaml_error(l->y, n, l->errs, "unable to read file %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                pg_yaml_error(l->y, n, l->errs, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, chunk, r);
        len += r;
    }
    fclose(f);
    if (!buf)
        buf = strdup("");
    else
        buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

int pg_cfg_get_str(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int expand, char **out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (!n || pg_yaml_is_null(n))
        return 0;
    free(*out);
    *out = NULL;
    return pg_yaml_str(l->y, n, key, expand, out, l->errs);
}

/* secret `key` or `key_file` (not both). */
void pg_cfg_get_secret(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, char **out)
{
    char fkey[64];
    snprintf(fkey, sizeof(fkey), "%s_file", key);
    yaml_node_t *v = pg_yaml_get(l->y, map, key), *f = pg_yaml_get(l->y, map, fkey);
    if (v && f && !pg_yaml_is_null(v) && !pg_yaml_is_null(f)) {
        pg_yaml_error(l->y, f, l->errs, "at most one of %s and %s must be configured", key, fkey);
        return;
    }
    if (f && !pg_yaml_is_null(f)) {
        char *path = NULL;
        if (pg_yaml_str(l->y, f, fkey, 1, &path, l->errs) == 0) {
            pg_cfg_resolve_in_place(l, f, &path); /* the config file's directory's */
            free(*out);
            *out = pg_cfg_read_secret_file(l, f, path);
        }
        free(path);
    } else {
        pg_cfg_get_str(l, map, key, 1, out);
    }
}

void pg_cfg_get_dur(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_duration(l->y, n, key, out, l->errs);
}

void pg_cfg_get_bool(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_bool(l->y, n, key, out, l->errs);
}

void pg_cfg_get_uint(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, uint64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_uint(l->y, n, key, out, l->errs);
}

void pg_cfg_get_size(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, uint64_t *out)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    if (n && !pg_yaml_is_null(n))
        pg_yaml_size(l->y, n, key, out, l->errs);
}

/* A sequence of strings into a new vector. */
void pg_cfg_get_strv(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, int expand,
                     char ***out, size_t *n)
{
    yaml_node_t *s = pg_yaml_get(l->y, map, key);
    if (!s || pg_yaml_is_null(s))
        return;
    if (s->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, s, l->errs, "%s: expected a sequence of strings", key);
        return;
    }
    size_t cnt = (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
    char **v = calloc(cnt ? cnt : 1, sizeof(*v));
    if (!v) {
        pg_yaml_error(l->y, s, l->errs, "%s: out of memory", key);
        return;
    }
    size_t k = 0;
    for (yaml_node_item_t *it = s->data.sequence.items.start; it < s->data.sequence.items.top;
         it++) {
        char *str = NULL;
        if (pg_yaml_str(l->y, pg_yaml_at(l->y, *it), key, expand, &str, l->errs) == 0)
            v[k++] = str;
    }
    *out = v;
    *n = k;
}

/* A mapping of label name -> value into ls, names validated. */
void pg_cfg_get_labels(struct pg_cfg_ld *l, yaml_node_t *map, const char *key, struct pg_labels *ls)
{
    yaml_node_t *m = pg_yaml_get(l->y, map, key);
    if (!m || pg_yaml_is_null(m))
        return;
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "%s: expected a mapping of label names to values", key);
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = pg_yaml_at(l->y, p->key), *v = pg_yaml_at(l->y, p->value);
        char *name = NULL, *value = NULL;
        if (pg_yaml_str(l->y, k, key, 0, &name, l->errs) == 0 &&
            pg_yaml_str(l->y, v, key, 1, &value, l->errs) == 0) {
            if (!*name)
                pg_yaml_error(l->y, k, l->errs, "%s: %s is not a valid label name", key, "\"\"");
            else if (pg_labels_get(ls, name))
                pg_yaml_error(l->y, k, l->errs, "%s: duplicate label name %s", key, name);
            else
                pg_labels_set(ls, name, value);
        }
        free(name);
        free(value);
    }
}

/* The position to report a problem with key at: its value node, or the map itself. */
yaml_node_t *pg_cfg_key_node(struct pg_cfg_ld *l, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = pg_yaml_get(l->y, map, key);
    return n ? n : map;
}

/* Splits url's scheme (letters, digits, + - . after a leading letter, ended by ':') and
 * checks for a host after "//". Returns the scheme length (0 = none) and sets *has_host. */
static size_t pg_cfg_url_scheme(const char *url, int *has_host)
{
    size_t i = 0;
    *has_host = 0;
    if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
        return 0;
    while (url[i] && url[i] != ':') {
        char c = url[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return 0;
        i++;
    }
    if (url[i] != ':')
        return 0;
    if (url[i + 1] == '/' && url[i + 2] == '/') {
        const char *h = url + i + 3;
        size_t hl = strcspn(h, "/?#");
        const char *at = memchr(h, '@', hl);
        if (at)
            hl -= (size_t)(at + 1 - h);
        *has_host = hl > 0;
    }
    return i;
}

/* Returns 1 if url's scheme is http or https (case-insensitive, as Go's url.Parse). */
int pg_cfg_url_is_http(const char *url, int *has_host)
{
    size_t n = pg_cfg_url_scheme(url, has_host);
    return (n == 4 && !strncasecmp(url, "http", 4)) || (n == 5 && !strncasecmp(url, "https", 5));
}

void pg_cfg_check_refresh(struct pg_cfg_ld *l, yaml_node_t *g, int64_t ms)
{
    if (ms <= 0)
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "refresh_interval"), l->errs,
                      "refresh_interval must be greater than 0");
}

/* Returns the number of entries of the sequence at key in j, reporting a non-sequence. */
size_t pg_cfg_seq_len(struct pg_cfg_ld *l, yaml_node_t *seq, const char *key)
{
    if (!seq || pg_yaml_is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(l->y, seq, l->errs, "%s: expected a sequence", key);
        return 0;
    }
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}
