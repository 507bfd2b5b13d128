/* targets.c - `profgate targets CONFIG [--json] [--explain]`: one-shot discovery and
 * relabeling, printing what profgate would scrape.
 *
 * Discovery here is the real discovery manager with every mechanism of the registry on a
 * private event loop, until each job's first full snapshot (every instance emitted once,
 * as the manager syncs a job) or --timeout (default 10s); a source that is down is logged and
 * its job printed with what the others found. The targets then go through the same
 * computation the scraper uses (scraper/target.c), so what this prints is what `run`
 * scrapes. relabel_configs run per target x profile type (scraper/target_type.h).
 * --json prints Prometheus's /api/v1/targets shape with one active entry per surviving
 * (target x enabled profile type) and one dropped entry per dropped target or type (with
 * profileType and droppedBy, the rule that dropped it); --explain traces every relabel
 * rule. */
#include "daemon/targets.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "yamlcfg/units.h"
#include "core/log.h"
#include "core/metrics.h"
#include "discovery/manager.h"
#include "discovery/tgroup.h"
#include "scraper/profile_relabel.h"
#include "scraper/target.h"
#include "scraper/target_check.h"
#include "scraper/target_type.h"

/* How long discovery may take before the jobs are printed with what was found (the
 * default of --timeout). */
#define PG_TARGETS_WAIT_MS 10000

struct out {
    json_t *active, *dropped;
    int json, explain;
    const struct pg_cfg_scrape *job;
    size_t job_targets; /* active targets of the current job (for target_limit) */
    size_t job_dropped; /* dropped targets of the current job (keep_dropped_targets) */
    size_t job_first;   /* index in active of the current job's first entry */
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

/* lastError and health of an active entry a with series labels pl: "unknown" and "", or
 * "down" with the label limits' error that `run` would report for it (also printed under
 * the entry's line in the text output). */
static void set_limit_error(const struct out *o, json_t *a, const struct pg_labels *pl)
{
    const struct pg_cfg_scrape *job = o->job;
    struct pg_labels s;
    pg_labels_init(&s);
    for (size_t i = 0; i < pl->n; i++)
        if (pg_target_is_public(pl->v[i].name) || !strcmp(pl->v[i].name, "__name__"))
            pg_labels_set(&s, pl->v[i].name, pl->v[i].value);
    char err[512] = "";
    /* the limits apply to the labels sent, after profile_relabel_configs (a series those
     * discard is not checked: nothing of it is sent) */
    struct pg_labels sent;
    pg_labels_init(&sent);
    char why[160];
    int kept = job->n_profile_relabel == 0 ||
               pg_scrape_profile_relabel(job, &s, &sent, why, sizeof why) > 0;
    int bad = kept &&
              pg_target_check_label_limits(&job->limits, sent.n ? &sent : &s, err, sizeof err) != 0;
    pg_labels_reset(&sent);
    pg_labels_reset(&s);
    json_object_set_new(a, "lastError", json_string(bad ? err : ""));
    json_object_set_new(a, "health", json_string(bad ? "down" : "unknown"));
    if (bad && (o->explain || !o->json))
        printf("    down, not scraped: %s\n", err);
}

/* Over the job's target_limit, every entry of the job (active[o->job_first..]) is down
 * with Prometheus's error, as `run` shows it. */
static void apply_target_limit(struct out *o)
{
    char err[128];
    if (!pg_target_limit_exceeded(&o->job->limits, o->job_targets, err, sizeof err))
        return;
    fprintf(stderr, "job %s: %s: nothing would be scraped\n", o->job->job_name, err);
    for (size_t i = o->job_first; i < json_array_size(o->active); i++) {
        json_t *a = json_array_get(o->active, i);
        json_object_set_new(a, "lastError", json_string(err));
        json_object_set_new(a, "health", json_string("down"));
    }
}

/* A droppedTargets entry (up to the job's keep_dropped_targets): the discovered labels,
 * the job, the type when only one type of the target was dropped and what dropped it. */
static void add_dropped(struct out *o, const struct pg_labels *disc, const char *type, size_t rule)
{
    uint64_t keep = o->job->limits.keep_dropped_targets;
    if (keep > 0 && o->job_dropped++ >= keep)
        return;
    json_t *d = json_object();
    json_object_set_new(d, "discoveredLabels", discovered_json(o->job, disc));
    json_object_set_new(d, "scrapePool", json_string(o->job->job_name));
    if (type)
        json_object_set_new(d, "profileType", json_string(type));
    if (rule != PG_TARGET_NO_RULE) {
        char by[48];
        snprintf(by, sizeof by, "relabel_configs[%zu]", rule);
        json_object_set_new(d, "droppedBy", json_string(by));
    }
    json_array_append_new(o->dropped, d);
}

/* Prints and records the active (target, type p) with final labels lab and the target's
 * own interval and timeout (ms, as relabeling left them). */
static void add_active(struct out *o, const struct pg_labels *disc, const struct pg_labels *lab,
                       const struct pg_cfg_profile *p, int64_t iv_ms, int64_t to_ms)
{
    const struct pg_cfg_scrape *job = o->job;
    struct pg_labels pl;
    pg_labels_init(&pl);
    char *url = NULL;
    if (pg_target_profile(job, lab, disc, p, &pl, &url) == 0) {
        if (o->explain || !o->json) {
            char *s = pg_labels_format(&pl);
            if (o->explain)
                printf("  => %s: %s %s\n", p->name, url, s ? s : "");
            else
                printf("  %s %s\n", url, s ? s : "");
            free(s);
        }
        char iv[32], to[32];
        pg_units_format_duration(iv_ms, iv, sizeof(iv));
        pg_units_format_duration(to_ms, to, sizeof(to));
        json_t *a = json_object();
        json_object_set_new(a, "discoveredLabels", discovered_json(job, disc));
        json_object_set_new(a, "labels", labels_json(&pl, 1));
        json_object_set_new(a, "scrapePool", json_string(job->job_name));
        json_object_set_new(a, "scrapeUrl", json_string(url));
        json_object_set_new(a, "profileType", json_string(p->name));
        set_limit_error(o, a, &pl);
        json_object_set_new(a, "lastScrape", json_string("0001-01-01T00:00:00Z"));
        json_object_set_new(a, "lastScrapeDuration", json_real(0));
        json_object_set_new(a, "scrapeInterval", json_string(iv));
        json_object_set_new(a, "scrapeTimeout", json_string(to));
        json_array_append_new(o->active, a);
    }
    free(url);
    pg_labels_reset(&pl);
}

/* The per-type results of one target (each_type). */
struct typed_out {
    struct pg_labels lab;
    int rc; /* 1 kept, 0 dropped by rule, -1 error, 2 type not enabled */
    size_t rule;
    int64_t iv, to;
};

/* Relabels common for type p into *t, with the checks after relabeling. */
static void one_type(struct out *o, const struct pg_labels *common, size_t split,
                     const struct pg_cfg_profile *p, struct typed_out *t)
{
    const struct pg_cfg_scrape *job = o->job;
    if (o->explain)
        printf("  type %s:\n", p->name);
    char err[512] = "";
    t->rc = pg_target_populate_type(job, common, split, p, &t->lab, o->explain ? trace : NULL, o,
                                    &t->rule, err, sizeof(err));
    if (t->rc > 0 && pg_target_check(&t->lab, &t->iv, &t->to, err, sizeof(err)) != 0)
        t->rc = -1;
    if (t->rc < 0) {
        fprintf(stderr, "job %s: skipping type %s of a target: %s\n", job->job_name, p->name, err);
        if (o->explain)
            printf("  error: %s\n", err);
    } else if (t->rc == 0 && o->explain) {
        printf("  => dropped\n");
    }
}

/* Relabels a kept target's common labels for each enabled type (rules from split on) and
 * records the results; a target whose every type one rule dropped is one dropped entry,
 * as Prometheus lists it. */
static void each_type(struct out *o, const struct pg_labels *disc, const struct pg_labels *common,
                      size_t split)
{
    const struct pg_cfg_scrape *job = o->job;
    size_t n = job->n_profiles;
    struct typed_out *t = calloc(n ? n : 1, sizeof(*t));
    if (!t) {
        fprintf(stderr, "job %s: out of memory\n", job->job_name);
        return;
    }
    size_t same = PG_TARGET_NO_RULE;
    int all_same = 1, any = 0, active = 0;
    for (size_t i = 0; i < n; i++) {
        pg_labels_init(&t[i].lab);
        t[i].rc = 2;
        if (!job->profiles[i].enabled)
            continue;
        one_type(o, common, split, &job->profiles[i], &t[i]);
        all_same = all_same && t[i].rc == 0 && (!any || t[i].rule == same);
        same = t[i].rule;
        any = 1;
    }
    if (any && all_same)
        add_dropped(o, disc, NULL, same);
    for (size_t i = 0; i < n && !(any && all_same); i++) {
        if (t[i].rc == 0)
            add_dropped(o, disc, job->profiles[i].name, t[i].rule);
        else if (t[i].rc == 1)
            add_active(o, disc, &t[i].lab, &job->profiles[i], t[i].iv, t[i].to);
        active += t[i].rc == 1;
    }
    o->job_targets += active > 0;
    for (size_t i = 0; i < n; i++)
        pg_labels_reset(&t[i].lab);
    free(t);
}

static void one_target(struct out *o, const struct pg_labels *glabels,
                       const struct pg_labels *tlabels)
{
    const struct pg_cfg_scrape *job = o->job;
    struct pg_labels disc, lab;
    pg_labels_init(&disc);
    pg_labels_init(&lab);
    char err[512] = "";
    size_t split = pg_target_type_split(job);
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
        if (split < job->n_relabel)
            printf("  rules 1-%zu run once per target, rules %zu-%zu once per profile type\n",
                   split, split + 1, job->n_relabel);
    }
    size_t rule;
    int rc = pg_target_populate_common(job, glabels, tlabels, &disc, &lab, split,
                                       o->explain ? trace : NULL, o, &rule, err, sizeof(err));
    int64_t iv_ms = 0, to_ms = 0;
    if (rc > 0 && split == job->n_relabel &&
        pg_target_check(&lab, &iv_ms, &to_ms, err, sizeof(err)) != 0)
        rc = -1;
    if (rc < 0) {
        fprintf(stderr, "job %s: skipping target: %s\n", job->job_name, err);
        if (o->explain)
            printf("  error: %s\n", err);
    } else if (rc == 0) {
        if (o->explain)
            printf("  => dropped\n");
        add_dropped(o, &disc, NULL, rule);
    } else if (split < job->n_relabel) {
        each_type(o, &disc, &lab, split);
    } else {
        o->job_targets++;
        for (size_t i = 0; i < job->n_profiles; i++)
            if (job->profiles[i].enabled)
                add_active(o, &disc, &lab, &job->profiles[i], iv_ms, to_ms);
    }
    pg_labels_reset(&disc);
    pg_labels_reset(&lab);
}

/* The first snapshot of every job, in config order. */
struct snapshots {
    const struct pg_cfg *cfg;
    struct pg_tgroup **groups; /* per job: a deep copy of its first snapshot, or NULL */
    size_t *n;
    int *synced;
    size_t waiting;  /* jobs with discovery configs that have not synced yet */
    int64_t wait_ms; /* --timeout */
    char timeout_text[32];
    struct event_base *base;
};

/* The manager's sync: keeps job's first snapshot; stops the loop once every job has one. */
static void on_sync(void *ud, const char *job, const struct pg_tgroup *groups, size_t n)
{
    struct snapshots *sn = ud;
    size_t j = 0;
    while (j < sn->cfg->n_scrape && strcmp(sn->cfg->scrape[j].job_name, job))
        j++;
    if (j == sn->cfg->n_scrape || sn->synced[j])
        return;
    sn->synced[j] = 1;
    sn->groups[j] = calloc(n ? n : 1, sizeof(**sn->groups));
    for (size_t g = 0; sn->groups[j] && g < n; g++)
        if (pg_tgroup_copy(&sn->groups[j][sn->n[j]], &groups[g]) == 0)
            sn->n[j]++;
    if (--sn->waiting == 0)
        event_base_loopbreak(sn->base);
}

/* Runs discovery for every job of cfg until each has synced once or the wait is over. */
static void discover(struct snapshots *sn)
{
    const struct pg_cfg *cfg = sn->cfg;
    struct pg_sd_manager *m = pg_sd_manager_create(sn->base, 0, on_sync, sn);
    if (!m) {
        fputs("profgate targets: out of memory\n", stderr);
        return;
    }
    for (size_t j = 0; j < cfg->n_scrape; j++) {
        sn->waiting += cfg->scrape[j].n_sd > 0;
        if (pg_sd_manager_add_job(m, &cfg->scrape[j]) < 0)
            fprintf(stderr, "job %s: a discovery config could not start\n",
                    cfg->scrape[j].job_name);
    }
    struct timeval wait = {(time_t)(sn->wait_ms / 1000), (suseconds_t)(sn->wait_ms % 1000) * 1000};
    if (sn->waiting > 0) {
        event_base_loopexit(sn->base, &wait);
        event_base_dispatch(sn->base);
    }
    for (size_t j = 0; j < cfg->n_scrape; j++)
        if (cfg->scrape[j].n_sd > 0 && !sn->synced[j])
            fprintf(stderr, "job %s: discovery found nothing within %s\n", cfg->scrape[j].job_name,
                    sn->timeout_text);
    pg_sd_manager_destroy(m);
}

/* Discovers every job of cfg into sn (free with snapshots_free). Returns 0 or -1. */
static int snapshots_take(struct snapshots *sn, const struct pg_cfg *cfg, int64_t wait_ms)
{
    memset(sn, 0, sizeof(*sn));
    sn->cfg = cfg;
    sn->wait_ms = wait_ms;
    pg_units_format_duration(wait_ms, sn->timeout_text, sizeof sn->timeout_text);
    size_t n = cfg->n_scrape ? cfg->n_scrape : 1;
    sn->groups = calloc(n, sizeof(*sn->groups));
    sn->n = calloc(n, sizeof(*sn->n));
    sn->synced = calloc(n, sizeof(*sn->synced));
    sn->base = event_base_new();
    if (!sn->groups || !sn->n || !sn->synced || !sn->base)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pg_log_set_level(PG_LOG_WARN); /* problems only: no "started" chatter on stderr */
    discover(sn);
    pg_metrics_shutdown();
    curl_global_cleanup();
    return 0;
}

static void snapshots_free(struct snapshots *sn)
{
    for (size_t j = 0; sn->groups && j < sn->cfg->n_scrape; j++)
        pg_tgroup_free_array(sn->groups[j], sn->n[j]);
    free(sn->groups);
    free(sn->n);
    free(sn->synced);
    if (sn->base)
        event_base_free(sn->base);
}

/* Prints o's result: Prometheus's /api/v1/targets JSON, or the summary line. */
static void print_result(struct out *o)
{
    if (o->json) {
        json_t *root = json_object();
        json_t *data = json_object();
        json_object_set_new(data, "activeTargets", o->active);
        json_object_set_new(data, "droppedTargets", o->dropped);
        json_object_set_new(root, "status", json_string("success"));
        json_object_set_new(root, "data", data);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        json_decref(root);
    } else {
        printf("%zu active (target x profile type), %zu dropped\n", json_array_size(o->active),
               json_array_size(o->dropped));
        json_decref(o->active);
        json_decref(o->dropped);
    }
}

#define TARGETS_USAGE "usage: profgate targets CONFIG [--json] [--explain] [--timeout DURATION]\n"

/* Parses the arguments into o, *path and *wait_ms. Returns -1 to go on, else the exit
 * code (0 after --help, 2 on a usage error). */
static int parse_args(int argc, char **argv, struct out *o, const char **path, int64_t *wait_ms)
{
    for (int i = 2; i < argc; i++) {
        const char *tv = NULL;
        if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            tv = argv[++i];
        else if (!strncmp(argv[i], "--timeout=", 10))
            tv = argv[i] + 10;
        char err[128];
        if (tv && (pg_units_parse_duration(tv, wait_ms, err, sizeof err) != 0 || *wait_ms <= 0)) {
            fprintf(stderr, "profgate targets: --timeout: %s\n",
                    *wait_ms <= 0 ? "must be greater than 0" : err);
            return 2;
        } else if (tv) {
            continue;
        } else if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--explain")) {
            o->explain = 1;
        } else if (!strcmp(argv[i], "--help") || argv[i][0] == '-' || *path) {
            int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fputs(TARGETS_USAGE "\n"
                                "Runs discovery once (static_configs and every *_sd_configs, until "
                                "each\njob's sources answered or --timeout (default 10s) passed), "
                                "applies\nrelabeling and prints every active target per enabled "
                                "profile type and\nevery dropped target. --json prints "
                                "Prometheus's /api/v1/targets shape;\n--explain prints the label "
                                "set after each relabel rule.\n",
                  help ? stdout : stderr);
            return help ? 0 : 2;
        } else {
            *path = argv[i];
        }
    }
    if (!*path) {
        fputs(TARGETS_USAGE, stderr);
        return 2;
    }
    return -1;
}

int pg_cmd_targets(int argc, char **argv)
{
    struct out o = {0};
    const char *path = NULL;
    int64_t wait_ms = PG_TARGETS_WAIT_MS;
    int rc = parse_args(argc, argv, &o, &path, &wait_ms);
    if (rc >= 0)
        return rc;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(path, &errs);
    if (!cfg) {
        pg_cfg_errors_print(&errs, stderr);
        pg_cfg_errors_reset(&errs);
        return 1;
    }
    pg_cfg_errors_reset(&errs);
    struct snapshots sn;
    if (snapshots_take(&sn, cfg, wait_ms) < 0) {
        fputs("profgate targets: out of memory\n", stderr);
        snapshots_free(&sn);
        pg_cfg_free(cfg);
        return 1;
    }
    o.active = json_array();
    o.dropped = json_array();
    for (size_t j = 0; j < cfg->n_scrape; j++) {
        o.job = &cfg->scrape[j];
        o.job_targets = o.job_dropped = 0;
        o.job_first = json_array_size(o.active);
        for (size_t g = 0; g < sn.n[j]; g++)
            for (size_t t = 0; t < sn.groups[j][g].n_targets; t++)
                one_target(&o, &sn.groups[j][g].labels, &sn.groups[j][g].targets[t]);
        apply_target_limit(&o);
    }
    print_result(&o);
    snapshots_free(&sn);
    pg_cfg_free(cfg);
    return 0;
}
