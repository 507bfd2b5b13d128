/* file_sd.c - parsing file_sd target files and expanding their glob patterns.
 *
 * Mirrors readFile in Prometheus's discovery/file/file.go: a file is a list of target
 * groups; JSON is decoded with jansson, YAML with libyaml through config/yaml.h (strict:
 * unknown or repeated keys are errors, positions reported as line:col). Groups are built
 * into a private vector that is freed whole on the first error, so a failed read leaves
 * nothing allocated. */
#include "discovery/file_sd.h"

#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errmsg.h"
#include "yamlcfg/yaml.h"

struct gvec {
    struct pg_tgroup *v;
    size_t n, cap;
};

static void gvec_free(struct gvec *gv)
{
    pg_tgroup_free_array(gv->v, gv->n);
    memset(gv, 0, sizeof(*gv));
}

/* Appends a group initialised with source "<path>:<idx>" carrying label=<path>.
 * Returns it (borrowed) or NULL on OOM. */
static struct pg_tgroup *gvec_add(struct gvec *gv, const char *path, const char *label, size_t idx)
{
    if (gv->n == gv->cap) {
        size_t cap = gv->cap ? gv->cap * 2 : 8;
        struct pg_tgroup *v = realloc(gv->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        gv->v = v;
        gv->cap = cap;
    }
    size_t len = strlen(path) + 32;
    char *src = malloc(len);
    if (!src)
        return NULL;
    snprintf(src, len, "%s:%zu", path, idx);
    struct pg_tgroup *g = &gv->v[gv->n];
    int rc = pg_tgroup_init(g, src);
    free(src);
    if (rc != 0)
        return NULL;
    gv->n++;
    if (pg_labels_set(&g->labels, label, path) != 0)
        return NULL; /* g is counted, gvec_free releases it */
    return g;
}

/* Ends a read: on success (rc 0) hands gv's groups to *groups and *n (nothing when there are
 * none), otherwise frees them. Returns 0 or -1 as rc. */
static int gvec_finish(struct gvec *gv, int rc, struct pg_tgroup **groups, size_t *n)
{
    if (rc != 0 || gv->n == 0) {
        gvec_free(gv);
        return rc != 0 ? -1 : 0;
    }
    *groups = gv->v;
    *n = gv->n;
    return 0;
}

static int add_target(struct pg_tgroup *g, const char *addr, size_t len)
{
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (!t)
        return -1;
    return pg_labels_setn(t, "__address__", 11, addr, len);
}

/* ---- JSON ---- */

/* Builds groups from a decoded JSON document (takes ownership of root). path names the
 * document in sources and errors; label (set to path on every group) is its meta label. */
static int json_groups(json_t *root, const char *path, const char *label, struct gvec *gv,
                       char *err, size_t errlen)
{
    int rc = -1;
    if (!json_is_array(root)) {
        pg_errmsg_set(err, errlen, "%s: expected a list of target groups", path);
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(root, i, item)
    {
        if (!json_is_object(item)) {
            pg_errmsg_set(err, errlen, "%s: target group %zu: expected an object", path, i);
            goto out;
        }
        json_t *targets = json_object_get(item, "targets");
        json_t *labels = json_object_get(item, "labels");
        if (targets && !json_is_null(targets) && !json_is_array(targets)) {
            pg_errmsg_set(err, errlen, "%s: target group %zu: targets must be a list", path, i);
            goto out;
        }
        if (labels && !json_is_null(labels) && !json_is_object(labels)) {
            pg_errmsg_set(err, errlen, "%s: target group %zu: labels must be an object", path, i);
            goto out;
        }
        struct pg_tgroup *g = gvec_add(gv, path, label, i);
        if (!g)
            goto oom;
        const char *k;
        json_t *v;
        if (json_is_object(labels)) {
            json_object_foreach(labels, k, v)
            {
                if (!*k) {
                    pg_errmsg_set(err, errlen, "%s: target group %zu: empty label name", path, i);
                    goto out;
                }
                if (!json_is_string(v)) {
                    pg_errmsg_set(err, errlen,
                                  "%s: target group %zu: value of label %s must be a string", path,
                                  i, k);
                    goto out;
                }
                if (pg_labels_setn(&g->labels, k, strlen(k), json_string_value(v),
                                   json_string_length(v)) != 0)
                    goto oom;
            }
        }
        /* the document's own meta label, if any, is overridden as in Prometheus */
        if (pg_labels_set(&g->labels, label, path) != 0)
            goto oom;
        size_t j;
        if (json_is_array(targets)) {
            json_array_foreach(targets, j, v)
            {
                if (!json_is_string(v)) {
                    pg_errmsg_set(err, errlen, "%s: target group %zu: target %zu must be a string",
                                  path, i, j);
                    goto out;
                }
                if (json_string_length(v) == 0) {
                    pg_errmsg_set(err, errlen, "%s: target group %zu: target %zu is empty", path, i,
                                  j);
                    goto out;
                }
                if (add_target(g, json_string_value(v), json_string_length(v)) != 0)
                    goto oom;
            }
        }
    }
    rc = 0;
    goto out;
oom:
    pg_errmsg_set(err, errlen, "%s: out of memory", path);
out:
    json_decref(root);
    return rc;
}

static int read_json(const char *path, struct gvec *gv, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line > 0)
            pg_errmsg_set(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        else
            pg_errmsg_set(err, errlen, "%s: %s", path, je.text);
        return -1;
    }
    return json_groups(root, path, PG_SD_FILE_PATH_LABEL, gv, err, errlen);
}

int pg_sd_file_parse_json(const char *data, size_t len, const char *source, const char *label,
                          struct pg_tgroup **groups, size_t *n, char *err, size_t errlen)
{
    struct gvec gv = {0};
    json_error_t je;
    *groups = NULL;
    *n = 0;
    json_t *root = json_loadb(data, len, 0, &je);
    if (!root) {
        if (je.line > 0)
            pg_errmsg_set(err, errlen, "%s:%d:%d: %s", source, je.line, je.column, je.text);
        else
            pg_errmsg_set(err, errlen, "%s: %s", source, je.text);
        return -1;
    }
    return gvec_finish(&gv, json_groups(root, source, label, &gv, err, errlen), groups, n);
}

/* ---- YAML ---- */

static const char *ykind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

#define YERR(node, ...)                                                                            \
    do {                                                                                           \
        char m_[512];                                                                              \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                                     \
        pg_errmsg_set(err, errlen, "%s:%d:%d: %s", path, (int)(node)->start_mark.line + 1,         \
                      (int)(node)->start_mark.column + 1, m_);                                     \
    } while (0)

static const char *ysc(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* Finds a target group's targets and labels (NULL when absent or null) in the mapping item,
 * rejecting other, repeated or mistyped keys; -1 with err set on an error. */
static int yaml_group_fields(struct pg_yaml *y, yaml_node_t *item, size_t i, const char *path,
                             yaml_node_t **targets, yaml_node_t **labels, char *err, size_t errlen)
{
    if (item->type != YAML_MAPPING_NODE) {
        YERR(item, "target group %zu must be a mapping, got %s", i, ykind(item));
        return -1;
    }
    *targets = *labels = NULL;
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = pg_yaml_at(y, p->key), *v = pg_yaml_at(y, p->value);
        yaml_node_t **slot = NULL;
        if (k->type == YAML_SCALAR_NODE && !strcmp(ysc(k), "targets"))
            slot = targets;
        else if (k->type == YAML_SCALAR_NODE && !strcmp(ysc(k), "labels"))
            slot = labels;
        if (!slot) {
            YERR(k, "field %s not found in type targetgroup",
                 k->type == YAML_SCALAR_NODE ? ysc(k) : "(non-scalar)");
            return -1;
        }
        if (*slot) {
            YERR(k, "duplicate key %s", ysc(k));
            return -1;
        }
        *slot = v;
    }
    if (*targets && pg_yaml_is_null(*targets))
        *targets = NULL;
    if (*labels && pg_yaml_is_null(*labels))
        *labels = NULL;
    if (*targets && (*targets)->type != YAML_SEQUENCE_NODE) {
        YERR(*targets, "targets must be a list, got %s", ykind(*targets));
        return -1;
    }
    if (*labels && (*labels)->type != YAML_MAPPING_NODE) {
        YERR(*labels, "labels must be a mapping, got %s", ykind(*labels));
        return -1;
    }
    return 0;
}

/* Sets the labels of the mapping labels on g, then the file's meta label; -1 with err set on a
 * bad or repeated label or OOM. */
static int yaml_group_labels(struct pg_yaml *y, yaml_node_t *labels, struct pg_tgroup *g,
                             const char *path, char *err, size_t errlen)
{
    for (yaml_node_pair_t *p = labels->data.mapping.pairs.start; p < labels->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = pg_yaml_at(y, p->key), *v = pg_yaml_at(y, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            YERR(k, "label names must be strings, got %s", ykind(k));
            return -1;
        }
        if (pg_yaml_is_null(k) || !*ysc(k)) {
            YERR(k, "empty label name");
            return -1;
        }
        if (v->type != YAML_SCALAR_NODE || pg_yaml_is_null(v)) {
            YERR(v, "value of label %s must be a string", ysc(k));
            return -1;
        }
        if (pg_labels_get(&g->labels, ysc(k)) && strcmp(ysc(k), PG_SD_FILE_PATH_LABEL)) {
            YERR(k, "duplicate key %s", ysc(k));
            return -1;
        }
        if (pg_labels_setn(&g->labels, ysc(k), strlen(ysc(k)), ysc(v), v->data.scalar.length) != 0)
            goto oom;
    }
    if (pg_labels_set(&g->labels, PG_SD_FILE_PATH_LABEL, path) != 0)
        goto oom;
    return 0;
oom:
    pg_errmsg_set(err, errlen, "%s: out of memory", path);
    return -1;
}

/* Adds the targets of the sequence targets to g; -1 with err set on a non-string or empty
 * target or OOM. */
static int yaml_group_targets(struct pg_yaml *y, yaml_node_t *targets, struct pg_tgroup *g,
                              const char *path, char *err, size_t errlen)
{
    for (yaml_node_item_t *t = targets->data.sequence.items.start;
         t < targets->data.sequence.items.top; t++) {
        yaml_node_t *v = pg_yaml_at(y, *t);
        if (v->type != YAML_SCALAR_NODE) {
            YERR(v, "targets must be strings, got %s", ykind(v));
            return -1;
        }
        if (pg_yaml_is_null(v) || v->data.scalar.length == 0) {
            YERR(v, "empty target");
            return -1;
        }
        if (add_target(g, ysc(v), v->data.scalar.length) != 0) {
            pg_errmsg_set(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    return 0;
}

/* Appends target group i of the file path (the YAML node item) to gv; -1 with err set on an
 * error. */
static int yaml_group(struct pg_yaml *y, yaml_node_t *item, size_t i, const char *path,
                      struct gvec *gv, char *err, size_t errlen)
{
    yaml_node_t *targets, *labels;
    if (yaml_group_fields(y, item, i, path, &targets, &labels, err, errlen) < 0)
        return -1;
    struct pg_tgroup *g = gvec_add(gv, path, PG_SD_FILE_PATH_LABEL, i);
    if (!g) {
        pg_errmsg_set(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (labels && yaml_group_labels(y, labels, g, path, err, errlen) < 0)
        return -1;
    if (targets && yaml_group_targets(y, targets, g, path, err, errlen) < 0)
        return -1;
    return 0;
}

static int read_yaml(const char *path, struct gvec *gv, char *err, size_t errlen)
{
    struct pg_yaml y;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    int rc = -1;
    if (pg_yaml_load_file(&y, path, &errs) != 0) {
        if (errs.n && errs.v[0].line <= 0)
            pg_errmsg_set(err, errlen, "%s: %s", path, errs.v[0].msg);
        else if (errs.n)
            pg_errmsg_set(err, errlen, "%s:%d:%d: %s", path, errs.v[0].line, errs.v[0].col,
                          errs.v[0].msg);
        else
            pg_errmsg_set(err, errlen, "%s: cannot load YAML", path);
        goto out;
    }
    yaml_node_t *root = pg_yaml_root(&y);
    if (!root || pg_yaml_is_null(root)) {
        rc = 0; /* an empty file is an empty list */
        goto out;
    }
    if (root->type != YAML_SEQUENCE_NODE) {
        YERR(root, "expected a list of target groups, got %s", ykind(root));
        goto out;
    }
    size_t i = 0;
    for (yaml_node_item_t *it = root->data.sequence.items.start; it < root->data.sequence.items.top;
         it++, i++)
        if (yaml_group(&y, pg_yaml_at(&y, *it), i, path, gv, err, errlen) != 0)
            goto out;
    rc = 0;
out:
    pg_yaml_free(&y);
    pg_cfg_errors_reset(&errs);
    return rc;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int pg_sd_file_read(const char *path, struct pg_tgroup **groups, size_t *n, char *err,
                    size_t errlen)
{
    struct gvec gv = {0};
    int rc;
    *groups = NULL;
    *n = 0;
    if (has_suffix(path, ".json"))
        rc = read_json(path, &gv, err, errlen);
    else if (has_suffix(path, ".yml") || has_suffix(path, ".yaml"))
        rc = read_yaml(path, &gv, err, errlen);
    else {
        pg_errmsg_set(err, errlen, "%s: unknown file extension (want .json, .yml or .yaml)", path);
        rc = -1;
    }
    return gvec_finish(&gv, rc, groups, n);
}

/* Moves src's groups onto the end of dst; src's array is freed (its groups now belong to
 * dst). Returns 0, or -1 on OOM (src then still owns its groups). */
static int gvec_splice(struct gvec *dst, struct pg_tgroup *src, size_t n)
{
    if (n == 0)
        return 0;
    if (dst->n + n > dst->cap) {
        size_t cap = dst->cap ? dst->cap : 8;
        while (cap < dst->n + n)
            cap *= 2;
        struct pg_tgroup *v = realloc(dst->v, cap * sizeof(*v));
        if (!v)
            return -1;
        dst->v = v;
        dst->cap = cap;
    }
    memcpy(dst->v + dst->n, src, n * sizeof(*src));
    dst->n += n;
    free(src);
    return 0;
}

int pg_sd_file_read_all(const struct pg_cfg_file_sd *cfg, struct pg_tgroup **groups, size_t *n,
                        void (*on_error)(void *ud, const char *path, const char *msg), void *ud)
{
    struct gvec all = {0};
    *groups = NULL;
    *n = 0;
    for (size_t f = 0; f < cfg->n_files; f++) {
        glob_t gl;
        int grc = glob(cfg->files[f], 0, NULL, &gl); /* results sorted by glob */
        if (grc == GLOB_NOMATCH)
            continue;
        if (grc == GLOB_NOSPACE) {
            globfree(&gl);
            goto oom;
        }
        if (grc != 0) {
            if (on_error)
                on_error(ud, cfg->files[f], "cannot expand pattern");
            globfree(&gl);
            continue;
        }
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            struct pg_tgroup *g;
            size_t gn;
            char err[1024];
            err[0] = '\0';
            if (pg_sd_file_read(gl.gl_pathv[i], &g, &gn, err, sizeof(err)) != 0) {
                if (on_error)
                    on_error(ud, gl.gl_pathv[i], err);
                continue;
            }
            if (gvec_splice(&all, g, gn) != 0) {
                pg_tgroup_free_array(g, gn);
                globfree(&gl);
                goto oom;
            }
        }
        globfree(&gl);
    }
    *groups = all.v;
    *n = all.n;
    if (all.n == 0) {
        free(all.v);
        *groups = NULL;
    }
    return 0;
oom:
    gvec_free(&all);
    return -1;
}
