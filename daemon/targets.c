/* targets.c - `profgate targets CONFIG [--json] [--explain]`: one-shot discovery and
 * relabeling, printing what profgate would scrape.
 *
 * Discovery here is static_configs plus one read of every file_sd file; the result is
 * the same computation the scraper uses (discovery/target.c), so what this prints is
 * what `run` scrapes. --json prints Prometheus's /api/v1/targets shape with one active
 * entry per (target x enabled profile type); --explain traces every relabel rule. */
#include "daemon/targets.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/units.h"
#include "discovery/file_sd.h"
#include "discovery/sd.h"
#include "discovery/static.h"
#include "discovery/target.h"
#include "discovery/tgroup.h"

struct out {
    json_t *active, *dropped;
    int json, explain;
    const struct pg_cfg_scrape *job;
};

static json_t *labels_json(const struct pg_labels *ls, int public_only)
{
    json_t *o = json_object();
    for (size_t i = 0; i < ls->n; i++)
        if (!public_only || pg_target_is_public(ls->v[i].name))
            json_object_set_new(o, ls->v[i].name, json_string(ls->v[i].value));
    return o;
}

/* discoveredLabels as Prometheus shows them: the discovered set plus the job defaults
 * that relabeling saw (job, __scheme__, __scrape_interval__, __scrape_timeout__). */
static json_t *discovered_json(const struct pg_cfg_scrape *job, const struct pg_labels *disc)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_copy(&ls, disc);
    char iv[32], to[32];
    pg_units_format_duration(job->scrape_interval_ms, iv, sizeof(iv));
    pg_units_format_duration(job->scrape_timeout_ms, to, sizeof(to));
    const char *defs[][2] = {{"job", job->job_name},
                             {"__scheme__", job->scheme},
                             {"__scrape_interval__", iv},
                             {"__scrape_timeout__", to}};
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (!pg_labels_get(&ls, defs[i][0]))
            pg_labels_set(&ls, defs[i][0], defs[i][1]);
    json_t *o = labels_json(&ls, 0);
    pg_labels_reset(&ls);
    return o;
}

static void trace(void *ud, size_t rule, const struct pg_labels *after, int kept)
{
    const struct out *o = ud;
    char *s = pg_labels_format(after);
    printf("    rule %zu (%s): %s%s\n", rule + 1,
           pg_relabel_action_name(o->job->relabel[rule].action), kept ? "" : "DROPPED ",
           kept ? (s ? s : "") : "");
    free(s);
}

static void one_target(struct out *o, const struct pg_labels *glabels,
                       const struct pg_labels *tlabels)
{
    const struct pg_cfg_scrape *job = o->job;
    struct pg_labels disc, lab;
    pg_labels_init(&disc);
    pg_labels_init(&lab);
    char err[256] = "";
    if (o->explain) {
        struct pg_labels tmp;
        pg_labels_init(&tmp);
        pg_labels_copy(&tmp, glabels);
        for (size_t i = 0; i < tlabels->n; i++)
            pg_labels_set(&tmp, tlabels->v[i].name, tlabels->v[i].value);
        char *s = pg_labels_format(&tmp);
        printf("target %s (job %s)\n  discovered: %s\n",
               pg_labels_get(&tmp, "__address__") ? pg_labels_get(&tmp, "__address__") : "?",
               job->job_name, s ? s : "");
        free(s);
        pg_labels_reset(&tmp);
    }
    int rc = pg_target_populate(job, glabels, tlabels, &disc, &lab, o->explain ? trace : NULL, o,
                                err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "job %s: skipping target: %s\n", job->job_name, err);
        if (o->explain)
            printf("  error: %s\n", err);
    } else if (rc == 0) {
        if (o->explain)
            printf("  => dropped\n");
        json_t *d = json_object();
        json_object_set_new(d, "discoveredLabels", discovered_json(job, &disc));
        json_array_append_new(o->dropped, d);
    } else {
        char iv[32], to[32];
        pg_units_format_duration(job->scrape_interval_ms, iv, sizeof(iv));
        pg_units_format_duration(job->scrape_timeout_ms, to, sizeof(to));
        for (size_t i = 0; i < job->n_profiles; i++) {
            const struct pg_cfg_profile *p = &job->profiles[i];
            if (!p->enabled)
                continue;
            struct pg_labels pl;
            pg_labels_init(&pl);
            char *url = NULL;
            if (pg_target_profile(job, &lab, &disc, p, &pl, &url) == 0) {
                if (o->explain || !o->json) {
                    char *s = pg_labels_format(&pl);
                    printf("%s%s %s\n", o->explain ? "  => " : "  ", url, s ? s : "");
                    free(s);
                }
                json_t *a = json_object();
                json_object_set_new(a, "discoveredLabels", discovered_json(job, &disc));
                json_object_set_new(a, "labels", labels_json(&pl, 1));
                json_object_set_new(a, "scrapePool", json_string(job->job_name));
                json_object_set_new(a, "scrapeUrl", json_string(url));
                json_object_set_new(a, "profileType", json_string(p->name));
                json_object_set_new(a, "lastError", json_string(""));
                json_object_set_new(a, "lastScrape", json_string("0001-01-01T00:00:00Z"));
                json_object_set_new(a, "lastScrapeDuration", json_real(0));
                json_object_set_new(a, "health", json_string("unknown"));
                json_object_set_new(a, "scrapeInterval", json_string(iv));
                json_object_set_new(a, "scrapeTimeout", json_string(to));
                json_array_append_new(o->active, a);
            }
            free(url);
            pg_labels_reset(&pl);
        }
    }
    pg_labels_reset(&disc);
    pg_labels_reset(&lab);
}

static void on_file_error(void *ud, const char *path, const char *msg)
{
    (void)ud;
    fprintf(stderr, "file_sd: %s: %s\n", path, msg);
}

int pg_cmd_targets(int argc, char **argv)
{
    struct out o = {0};
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            o.json = 1;
        else if (!strcmp(argv[i], "--explain"))
            o.explain = 1;
        else if (!strcmp(argv[i], "--help") || argv[i][0] == '-' || path) {
            int help = !strcmp(argv[i], "--help");
            fputs("usage: profgate targets CONFIG [--json] [--explain]\n\n"
                  "Runs discovery once (static_configs, file_sd_configs), applies relabeling\n"
                  "and prints every active target per enabled profile type and every dropped\n"
                  "target. --json prints Prometheus's /api/v1/targets shape; --explain prints\n"
                  "the label set after each relabel rule.\n",
                  help ? stdout : stderr);
            return help ? 0 : 2;
        } else
            path = argv[i];
    }
    if (!path) {
        fputs("usage: profgate targets CONFIG [--json] [--explain]\n", stderr);
        return 2;
    }
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(path, &errs);
    if (!cfg) {
        pg_cfg_errors_print(&errs, stderr);
        pg_cfg_errors_reset(&errs);
        return 1;
    }
    pg_cfg_errors_reset(&errs);
    o.active = json_array();
    o.dropped = json_array();
    for (size_t j = 0; j < cfg->n_scrape; j++) {
        o.job = &cfg->scrape[j];
        const struct pg_cfg_static_sd *st = pg_cfg_sd_get(o.job, &pg_sd_static, 0);
        for (size_t g = 0; st && g < st->n_groups; g++) {
            const struct pg_cfg_static_group *sg = &st->groups[g];
            for (size_t t = 0; t < sg->n_targets; t++) {
                struct pg_labels tl;
                pg_labels_init(&tl);
                pg_labels_set(&tl, "__address__", sg->targets[t]);
                one_target(&o, &sg->labels, &tl);
                pg_labels_reset(&tl);
            }
        }
        for (size_t f = 0; f < pg_cfg_sd_count(o.job, &pg_sd_file); f++) {
            struct pg_tgroup *groups = NULL;
            size_t n = 0;
            if (pg_sd_file_read_all(pg_cfg_sd_get(o.job, &pg_sd_file, f), &groups, &n,
                                    on_file_error, NULL) < 0) {
                fprintf(stderr, "file_sd: out of memory\n");
                continue;
            }
            for (size_t g = 0; g < n; g++)
                for (size_t t = 0; t < groups[g].n_targets; t++)
                    one_target(&o, &groups[g].labels, &groups[g].targets[t]);
            pg_tgroup_free_array(groups, n);
        }
    }
    if (o.json) {
        json_t *root = json_object();
        json_t *data = json_object();
        json_object_set_new(data, "activeTargets", o.active);
        json_object_set_new(data, "droppedTargets", o.dropped);
        json_object_set_new(root, "status", json_string("success"));
        json_object_set_new(root, "data", data);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(root);
    } else {
        printf("%zu active (target x profile type), %zu dropped\n", json_array_size(o.active),
               json_array_size(o.dropped));
        json_decref(o.active);
        json_decref(o.dropped);
    }
    pg_cfg_free(cfg);
    return 0;
}
