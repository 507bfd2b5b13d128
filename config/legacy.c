/* legacy.c - loads the legacy Pyroscope server pull-mode dialect (see legacy.h). */
#include "config/legacy.h"

#include <stdlib.h>
#include <string.h>

#include "config/legacy_ext.h"
#include "config/profiles.h"
#include "discovery/sd.h"
#include "discovery/static.h"

#define LEGACY_DEFAULT_BODY_LIMIT (64ull << 20)

static yaml_node_t *get(struct pg_yaml *y, yaml_node_t *map, const char *key)
{
    yaml_node_t *n = pg_yaml_get(y, map, key);
    return n && !pg_yaml_is_null(n) ? n : NULL;
}

static void enable(struct pg_cfg_scrape *s, const char *name)
{
    for (size_t i = 0; i < s->n_profiles; i++)
        if (s->profiles[i].name && !strcmp(s->profiles[i].name, name))
            s->profiles[i].enabled = 1;
}

static void load_profiles(struct pg_yaml *y, yaml_node_t *ep, struct pg_cfg_scrape *s,
                          struct pg_cfg_errors *errs)
{
    pg_cfg_default_profiles(s, 0);
    for (size_t i = 0; i < s->n_profiles; i++)
        s->profiles[i].enabled = 0;
    if (!ep) {
        enable(s, "process_cpu");
        enable(s, "memory");
        return;
    }
    if (ep->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, ep, errs, "enabled-profiles: expected a sequence");
        return;
    }
    for (yaml_node_item_t *it = ep->data.sequence.items.start; it < ep->data.sequence.items.top;
         it++) {
        yaml_node_t *n = pg_yaml_at(y, *it);
        char *v = NULL;
        if (pg_yaml_str(y, n, "enabled-profiles", 0, &v, errs) < 0)
            continue;
        const char *name = pg_cfg_legacy_profile_name(v);
        if (name)
            enable(s, name);
        else
            pg_yaml_error(y, n, errs,
                          "enabled-profiles: unknown profile type \"%s\" (want cpu, mem, "
                          "goroutines, mutex or block)",
                          v);
        free(v);
    }
}

static void load_targets(struct pg_yaml *y, yaml_node_t *t, struct pg_cfg_static_group *sg,
                         struct pg_cfg_errors *errs)
{
    if (!t)
        return;
    if (t->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, t, errs, "targets: expected a sequence of strings");
        return;
    }
    size_t cnt = (size_t)(t->data.sequence.items.top - t->data.sequence.items.start);
    sg->targets = calloc(cnt ? cnt : 1, sizeof(*sg->targets));
    for (size_t i = 0; i < cnt; i++) {
        char *str = NULL;
        if (pg_yaml_str(y, pg_yaml_at(y, t->data.sequence.items.start[i]), "targets", 1, &str,
                        errs) == 0)
            sg->targets[sg->n_targets++] = str;
    }
}

static void load_labels(struct pg_yaml *y, yaml_node_t *m, struct pg_labels *ls,
                        struct pg_cfg_errors *errs)
{
    if (!m)
        return;
    if (m->type != YAML_MAPPING_NODE) {
        pg_yaml_error(y, m, errs, "labels: expected a mapping of label names to values");
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = pg_yaml_at(y, p->key), *v = pg_yaml_at(y, p->value);
        char *name = NULL, *value = NULL;
        if (pg_yaml_str(y, k, "labels", 0, &name, errs) == 0 &&
            pg_yaml_str(y, v, "labels", 1, &value, errs) == 0) {
            if (!*name)
                pg_yaml_error(y, k, errs, "labels: \"\" is not a valid label name");
            else if (pg_labels_get(ls, name))
                pg_yaml_error(y, k, errs, "labels: duplicate label name %s", name);
            else
                pg_labels_set(ls, name, value);
        }
        free(name);
        free(value);
    }
}

/* Adds c to s's discovery configs as the static mechanism's config (taking it over; freed
 * here when that fails). */
static void add_static(struct pg_cfg_scrape *s, struct pg_cfg_static_sd *c)
{
    struct pg_cfg_sd *t = realloc(s->sd, (s->n_sd + 1) * sizeof(*t));
    if (!t) {
        pg_sd_static.config_free(c);
        return;
    }
    s->sd = t;
    s->sd[s->n_sd].mech = &pg_sd_static;
    s->sd[s->n_sd++].cfg = c;
}

/* One static-configs entry g into sg. */
static void load_group(struct pg_yaml *y, yaml_node_t *g, struct pg_cfg_static_group *sg,
                       struct pg_cfg_errors *errs)
{
    static const char *const k[] = {"application", "spy-name", "targets", "labels", NULL};
    pg_labels_init(&sg->labels);
    if (pg_yaml_check_keys(y, g, k, "legacy.StaticConfig", errs) < 0 &&
        g->type != YAML_MAPPING_NODE)
        return;
    load_targets(y, get(y, g, "targets"), sg, errs);
    load_labels(y, get(y, g, "labels"), &sg->labels, errs);
    yaml_node_t *app = get(y, g, "application");
    char *name = NULL;
    if (app && pg_yaml_str(y, app, "application", 1, &name, errs) == 0) {
        if (pg_labels_get(&sg->labels, "service_name"))
            pg_yaml_error(y, app, errs, "application and labels.service_name cannot both be set");
        else
            pg_labels_set(&sg->labels, "service_name", name);
    }
    free(name);
    char *spy = NULL; /* spy-name: only validated as a string; profgate scrapes pprof */
    yaml_node_t *sn = get(y, g, "spy-name");
    if (sn)
        pg_yaml_str(y, sn, "spy-name", 0, &spy, errs);
    free(spy);
}

/* static-configs: the static mechanism's config (discovery/static.h), as static_configs. */
static void load_static(struct pg_yaml *y, yaml_node_t *seq, struct pg_cfg_scrape *s,
                        struct pg_cfg_errors *errs)
{
    if (!seq)
        return;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, seq, errs, "static-configs: expected a sequence");
        return;
    }
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (cnt == 0)
        return;
    struct pg_cfg_static_sd *c = calloc(1, sizeof(*c));
    if (!c || !(c->groups = calloc(cnt, sizeof(*c->groups)))) {
        free(c);
        pg_yaml_error(y, seq, errs, "static-configs: out of memory");
        return;
    }
    for (size_t i = 0; i < cnt; i++)
        load_group(y, pg_yaml_at(y, seq->data.sequence.items.start[i]), &c->groups[c->n_groups++],
                   errs);
    add_static(s, c);
}

static void load_job(struct pg_yaml *y, struct pg_cfg *cfg, yaml_node_t *j, struct pg_cfg_scrape *s,
                     struct pg_cfg_errors *errs)
{
    s->legacy_app_name = 1; /* __name__ is the application name in this dialect */
    static const char *const k[] = {
        "job-name", "scrape-interval", "scrape-timeout",       "enabled-profiles",
        "scheme",   "static-configs",  PG_CFG_LEGACY_EXT_KEYS, NULL};
    s->line = (int)j->start_mark.line + 1;
    s->col = (int)j->start_mark.column + 1;
    s->http.follow_redirects = 1;
    s->path_prefix = strdup("");
    s->body_size_limit = LEGACY_DEFAULT_BODY_LIMIT;
    s->scrape_interval_ms = cfg->scrape_interval_ms;
    s->scrape_timeout_ms = -1;
    if (pg_yaml_check_keys(y, j, k, "legacy.ScrapeConfig", errs) < 0 &&
        j->type != YAML_MAPPING_NODE)
        return;
    yaml_node_t *n = get(y, j, "job-name");
    if (n)
        pg_yaml_str(y, n, "job-name", 1, &s->job_name, errs);
    if (!s->job_name || !*s->job_name)
        pg_yaml_error(y, j, errs, "job-name is empty");
    yaml_node_t *in = get(y, j, "scrape-interval"), *tn = get(y, j, "scrape-timeout");
    if (in)
        pg_yaml_duration(y, in, "scrape-interval", &s->scrape_interval_ms, errs);
    if (tn)
        pg_yaml_duration(y, tn, "scrape-timeout", &s->scrape_timeout_ms, errs);
    if (s->scrape_timeout_ms < 0)
        s->scrape_timeout_ms = cfg->scrape_timeout_ms < s->scrape_interval_ms
                                   ? cfg->scrape_timeout_ms
                                   : s->scrape_interval_ms;
    s->delta_profiling_duration_ms =
        s->scrape_interval_ms > 1000 ? s->scrape_interval_ms - 1000 : s->scrape_interval_ms;
    if (s->scrape_interval_ms <= 0)
        pg_yaml_error(y, in ? in : j, errs, "scrape-interval must be greater than 0");
    if (s->scrape_timeout_ms > s->scrape_interval_ms)
        pg_yaml_error(y, tn ? tn : j, errs,
                      "scrape-timeout greater than scrape-interval for job \"%s\"",
                      s->job_name ? s->job_name : "");
    yaml_node_t *sc = get(y, j, "scheme");
    if (sc && pg_yaml_str(y, sc, "scheme", 1, &s->scheme, errs) == 0 && strcmp(s->scheme, "http") &&
        strcmp(s->scheme, "https"))
        pg_yaml_error(y, sc, errs, "unknown scrape config scheme: %s", s->scheme);
    if (!s->scheme)
        s->scheme = strdup("http");
    load_profiles(y, get(y, j, "enabled-profiles"), s, errs);
    load_static(y, get(y, j, "static-configs"), s, errs);
    pg_cfg_legacy_load_ext(y, j, s, errs);
}

void pg_cfg_load_legacy(struct pg_yaml *y, yaml_node_t *root, struct pg_cfg *cfg,
                        struct pg_cfg_errors *errs)
{
    /* scrape_configs is allowed here only to report the mix with a clearer message */
    static const char *const top[] = {"log-level", "scrape-configs", "scrape_configs", NULL};
    pg_yaml_check_keys(y, root, top, "legacy.Config", errs);
    yaml_node_t *mixed = pg_yaml_get(y, root, "scrape_configs");
    if (mixed)
        pg_yaml_error(y, mixed, errs,
                      "scrape_configs cannot be mixed with the legacy Pyroscope "
                      "scrape-configs in one file");
    yaml_node_t *ll = get(y, root, "log-level");
    if (ll) {
        char *v = NULL; /* accepted for compatibility; profgate's log level is a flag */
        pg_yaml_str(y, ll, "log-level", 0, &v, errs);
        free(v);
    }
    yaml_node_t *seq = get(y, root, "scrape-configs");
    if (!seq)
        return;
    if (seq->type != YAML_SEQUENCE_NODE) {
        pg_yaml_error(y, seq, errs, "scrape-configs: expected a sequence");
        return;
    }
    size_t cnt = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    cfg->scrape = calloc(cnt ? cnt : 1, sizeof(*cfg->scrape));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *j = pg_yaml_at(y, seq->data.sequence.items.start[i]);
        struct pg_cfg_scrape *s = &cfg->scrape[cfg->n_scrape++];
        pg_labels_init(&s->http.headers);
        load_job(y, cfg, j, s, errs);
        for (size_t k = 0; s->job_name && k + 1 < cfg->n_scrape; k++)
            if (cfg->scrape[k].job_name && !strcmp(cfg->scrape[k].job_name, s->job_name))
                pg_yaml_error(y, pg_yaml_get(y, j, "job-name"), errs,
                              "found multiple scrape configs with job name \"%s\"", s->job_name);
    }
}
