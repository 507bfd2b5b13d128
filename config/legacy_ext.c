/* legacy_ext.c - relabel-configs, discovery, body-size-limit and per-profile settings of
 * the legacy Pyroscope dialect (see legacy_ext.h). */
#include "config/legacy_ext.h"

#include <stdlib.h>
#include <string.h>

#include "config/relabel_cfg.h"
#include "discovery/sd.h"
#include "yamlcfg/load.h"

static const struct {
    const char *legacy, *name;
} names[] = {
    {"cpu", "process_cpu"}, {"mem", "memory"},  {"goroutines", "goroutine"},
    {"mutex", "mutex"},     {"block", "block"},
};

const char *pg_cfg_legacy_profile_name(const char *legacy)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].legacy, legacy))
            return names[i].name;
    return NULL;
}

static yaml_node_t *get(struct pg_yaml *y, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = pg_yaml_get(y, map, key);
    return n && !pg_yaml_is_null(n) ? n : NULL;
}

/* Rewrites '-' to '_' in the keys of mapping n (and, with deep, of every mapping below
 * it), turning Pyroscope's spelling into Prometheus's in place. */
static void underscore_keys(struct pg_yaml *y, yaml_node_t *n, int deep)
{
    if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = pg_yaml_at(y, p->key);
            if (k->type == YAML_SCALAR_NODE)
                for (size_t i = 0; i < k->data.scalar.length; i++)
                    if (k->data.scalar.value[i] == '-')
                        k->data.scalar.value[i] = '_';
            if (deep)
                underscore_keys(y, pg_yaml_at(y, p->value), deep);
        }
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *c = pg_yaml_at(y, *it);
            if (deep || c->type == YAML_MAPPING_NODE)
                underscore_keys(y, c, deep);
        }
    }
}

/* Appends the configs mech loads from each item of seq (keys rewritten) to s->sd. */
static void load_sd(struct pg_cfg_ld *l, yaml_node_t *seq, const struct pg_sd_mechanism *mech,
                    const char *key, struct pg_cfg_scrape *s)
{
    size_t n = pg_cfg_seq_len(l, seq, key);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = pg_yaml_at(l->y, seq->data.sequence.items.start[i]);
        underscore_keys(l->y, item, 1);
        struct pg_cfg_sd *t = realloc(s->sd, (s->n_sd + 1) * sizeof(*t));
        void *cfg = t ? mech->config_load(l, item) : NULL;
        if (t)
            s->sd = t;
        if (!cfg) {
            pg_yaml_error(l->y, item, l->errs, "%s: out of memory", key);
            continue;
        }
        s->sd[s->n_sd].mech = mech;
        s->sd[s->n_sd++].cfg = cfg;
    }
}

/* Sets rule r to Pyroscope's application name rule: service_name = __name__ when set. */
static int app_name_rule(struct pg_relabel_rule *r)
{
    char err[128];
    r->source_labels = calloc(1, sizeof(char *));
    if (!r->source_labels || !(r->source_labels[0] = strdup("__name__")))
        return -1;
    r->n_source = 1;
    r->separator = strdup(";");
    r->regex = strdup("(.+)");
    r->target_label = strdup("service_name");
    r->replacement = strdup("$1");
    r->action = PG_RELABEL_REPLACE;
    if (!r->separator || !r->regex || !r->target_label || !r->replacement)
        return -1;
    return pg_relabel_compile(r, err, sizeof err);
}

/* relabel-configs: the rules (keys rewritten), then the application name rule. */
static void load_relabel(struct pg_cfg_ld *l, yaml_node_t *rc, struct pg_cfg_scrape *s)
{
    if (rc->type == YAML_SEQUENCE_NODE)
        underscore_keys(l->y, rc, 0);
    if (pg_cfg_parse_relabel_configs(l->y, rc, "relabel-configs", &s->relabel, &s->n_relabel,
                                     l->errs) < 0)
        return;
    struct pg_relabel_rule *v = realloc(s->relabel, (s->n_relabel + 1) * sizeof(*v));
    if (v) {
        s->relabel = v;
        memset(&v[s->n_relabel], 0, sizeof(*v));
        if (app_name_rule(&v[s->n_relabel]) == 0) {
            s->n_relabel++;
            return;
        }
        pg_relabel_rule_free(&v[s->n_relabel]);
    }
    pg_yaml_error(l->y, rc, l->errs, "relabel-configs: out of memory");
}

/* params of a profile: {name: [values]} (or a single value) into p. */
static void load_profile_params(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_cfg_profile *p)
{
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "params: expected a mapping of names to lists");
        return;
    }
    size_t cnt = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    p->params = calloc(cnt ? cnt : 1, sizeof(*p->params));
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start;
         p->params && pr < m->data.mapping.pairs.top; pr++) {
        struct pg_cfg_param *pa = &p->params[p->n_params];
        yaml_node_t *k = pg_yaml_at(l->y, pr->key), *v = pg_yaml_at(l->y, pr->value);
        if (pg_yaml_str(l->y, k, "params", 1, &pa->name, l->errs) < 0)
            continue;
        p->n_params++;
        int seq = v->type == YAML_SEQUENCE_NODE;
        size_t nv = seq ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
        pa->values = calloc(nv ? nv : 1, sizeof(char *));
        for (size_t i = 0; pa->values && i < nv; i++) {
            yaml_node_t *e = seq ? pg_yaml_at(l->y, v->data.sequence.items.start[i]) : v;
            if (pg_yaml_str(l->y, e, pa->name, 1, &pa->values[pa->n_values], l->errs) == 0)
                pa->n_values++;
        }
    }
}

/* profiles: {cpu: {path, params}, ...}: the path and query parameters of a type. */
static void load_profiles(struct pg_cfg_ld *l, yaml_node_t *m, struct pg_cfg_scrape *s)
{
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(l->y, m, l->errs, "profiles: expected a mapping of profile names");
        return;
    }
    static const char *const k[] = {"path", "params", "sample-types", "all-sample-types", NULL};
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = pg_yaml_at(l->y, pr->key), *v = pg_yaml_at(l->y, pr->value);
        char *name = NULL;
        if (pg_yaml_str(l->y, kn, "profiles", 0, &name, l->errs) < 0)
            continue;
        const char *pn = pg_cfg_legacy_profile_name(name);
        struct pg_cfg_profile *p = pn ? (struct pg_cfg_profile *)pg_cfg_profile_find(s, pn) : NULL;
        if (!p)
            pg_yaml_error(l->y, kn, l->errs,
                          "profiles: unknown profile type \"%s\" (want cpu, mem, goroutines, "
                          "mutex or block)",
                          name);
        free(name);
        if (!p || pg_yaml_is_null(v) ||
            pg_yaml_check_keys(l->y, v, k, "legacy.Profile", l->errs) < 0)
            continue;
        if (get(l->y, v, "path")) {
            pg_cfg_get_str(l, v, "path", 1, &p->path);
            if (!p->path || p->path[0] != '/')
                pg_yaml_error(l->y, get(l->y, v, "path"), l->errs,
                              "profiles: path must start with /");
        }
        if (get(l->y, v, "params"))
            load_profile_params(l, get(l->y, v, "params"), p);
    }
}

void pg_cfg_legacy_load_ext(struct pg_yaml *y, yaml_node_t *j, struct pg_cfg_scrape *s,
                            struct pg_cfg_errors *errs)
{
    struct pg_cfg_ld l = {y, errs};
    yaml_node_t *n;
    if ((n = get(y, j, "body-size-limit"))) {
        pg_yaml_size(y, n, "body-size-limit", &s->body_size_limit, errs);
        if (s->body_size_limit == 0)
            s->body_size_limit = 64ull << 20;
    }
    if ((n = get(y, j, "profiles")))
        load_profiles(&l, n, s);
    if ((n = get(y, j, "file-sd-configs")))
        load_sd(&l, n, &pg_sd_file, "file-sd-configs", s);
    if ((n = get(y, j, "kubernetes-sd-configs")))
        load_sd(&l, n, &pg_sd_kubernetes, "kubernetes-sd-configs", s);
    if ((n = get(y, j, "relabel-configs")))
        load_relabel(&l, n, s);
}
