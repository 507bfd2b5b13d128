/* ui_sd.c - the service-discovery endpoints of the web UI (see ui.h):
 *
 * GET /api/v1/service-discovery[?scrapePool=J][&search=S][&limit=N][&offset=K]: per job,
 * every active target once (not per profile type) with its discovered labels next to its
 * final labels and the profile types scraped, and every dropped target (or profile type of
 * a target: profileType) with the relabel rule that dropped it, as the scraper recorded it
 * (relabel_configs run per target x profile type, scraper/target_type.h). search keeps the
 * targets with a label (discovered or final) whose name=value contains S,
 * case-insensitively; offset and limit then page each list. activeCount and droppedCount
 * count every target, activeMatched and droppedMatched those matching.
 *
 * GET /api/v1/targets/relabel_steps?scrapePool=J&labels={"k":"v",...} (Prometheus 3's
 * endpoint): the label set after each rule, and whether the target was kept. */
#include "daemon/ui_internal.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "daemon/ui_json.h"
#include "relabel/relabel.h"
#include "scraper/scraper.h"
#include "scraper/target.h"
#include "scraper/target_type.h"

struct sd_job {
    json_t *o, *active, *dropped;
    size_t n_active, n_dropped;                 /* every target of the job */
    size_t n_active_matched, n_dropped_matched; /* those matching the search */
    const struct pg_labels *last_disc;          /* the last active target's (loops of a target are
                                                   adjacent and share their discovered labels) */
    json_t *last;
};

struct sd_ctx {
    const char *pool;
    char *q;              /* lowercase search, or NULL */
    size_t limit, offset; /* per list; limit 0 = all */
    json_t *jobs;         /* array of job objects, in config order */
    struct sd_job *v;
    size_t n, cap;
};

static struct sd_job *job_entry(struct sd_ctx *c, const char *name)
{
    if (c->n && !strcmp(json_string_value(json_object_get(c->v[c->n - 1].o, "name")), name))
        return &c->v[c->n - 1];
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(json_string_value(json_object_get(c->v[i].o, "name")), name))
            return &c->v[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct sd_job *v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        c->v = v;
        c->cap = cap;
    }
    struct sd_job *j = &c->v[c->n++];
    memset(j, 0, sizeof(*j));
    j->o = json_object();
    j->active = json_array();
    j->dropped = json_array();
    json_object_set_new(j->o, "name", pg_ui_jstr(name));
    json_object_set(j->o, "activeTargets", j->active);
    json_object_set(j->o, "droppedTargets", j->dropped);
    json_array_append(c->jobs, j->o);
    return j;
}

static void on_active(void *ud, const struct pg_scrape_target_info *t)
{
    struct sd_ctx *c = ud;
    if (c->pool && strcmp(c->pool, t->job))
        return;
    struct sd_job *j = job_entry(c, t->job);
    if (!j)
        return;
    if (j->last_disc && j->last_disc == t->discovered) { /* one more type of the same target */
        if (j->last)
            json_array_append_new(json_object_get(j->last, "profileTypes"),
                                  pg_ui_jstr(t->profile_type));
        return;
    }
    j->n_active++;
    j->last = NULL;
    j->last_disc = t->discovered;
    if (c->q && !pg_ui_labels_match(t->discovered, c->q) && !pg_ui_labels_match(t->labels, c->q))
        return;
    if (j->n_active_matched++ < c->offset || (c->limit && json_array_size(j->active) >= c->limit))
        return;
    json_t *o = json_object(), *fin = pg_ui_labels(t->labels);
    json_object_del(fin, "__name__");
    json_object_set_new(o, "discoveredLabels", pg_ui_labels(t->discovered));
    json_object_set_new(o, "labels", fin);
    json_object_set_new(o, "health", json_string(t->health));
    json_object_set_new(o, "profileTypes", json_pack("[o]", pg_ui_jstr(t->profile_type)));
    json_array_append_new(j->active, o);
    j->last = o;
}

static json_t *rule_json(const struct pg_relabel_rule *r, size_t i)
{
    json_t *src = json_array();
    for (size_t k = 0; k < r->n_source; k++)
        json_array_append_new(src, pg_ui_jstr(r->source_labels[k]));
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)i));
    json_object_set_new(o, "action", json_string(pg_relabel_action_name(r->action)));
    json_object_set_new(o, "source_labels", src);
    json_object_set_new(o, "separator", pg_ui_jstr(r->separator));
    json_object_set_new(o, "regex", pg_ui_jstr(r->regex));
    json_object_set_new(o, "target_label", pg_ui_jstr(r->target_label));
    json_object_set_new(o, "replacement", pg_ui_jstr(r->replacement));
    if (r->modulus)
        json_object_set_new(o, "modulus", json_integer((json_int_t)r->modulus));
    return o;
}

static void on_dropped(void *ud, const struct pg_scrape_dropped_info *t)
{
    struct sd_ctx *c = ud;
    if (c->pool && strcmp(c->pool, t->job))
        return;
    struct sd_job *j = job_entry(c, t->job);
    if (!j)
        return;
    j->n_dropped++;
    if (c->q && !pg_ui_labels_match(t->discovered, c->q))
        return;
    if (j->n_dropped_matched++ < c->offset || (c->limit && json_array_size(j->dropped) >= c->limit))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "discoveredLabels", pg_ui_labels(t->discovered));
    /* the scraper knows what dropped it (with relabel_configs per profile type, one type
     * of a target may be dropped by a rule that the others pass) */
    if (t->profile_type)
        json_object_set_new(o, "profileType", pg_ui_jstr(t->profile_type));
    if (t->rule >= 0 && t->cfg && (size_t)t->rule < t->cfg->n_relabel)
        json_object_set_new(o, "droppedBy", rule_json(&t->cfg->relabel[t->rule], (size_t)t->rule));
    else
        json_object_set_new(o, "droppedBy", json_null());
    json_object_set_new(o, "error", pg_ui_jstr(t->rule < 0 && t->reason ? t->reason : ""));
    json_array_append_new(j->dropped, o);
}

void pg_ui_sd_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    struct evkeyvalq q;
    if (!pg_ui_get_only(req) || pg_ui_query(req, &q) < 0)
        return;
    const char *pool = evhttp_find_header(&q, "scrapePool");
    const char *search = evhttp_find_header(&q, "search");
    struct sd_ctx c = {.pool = pool && *pool ? pool : NULL, .jobs = json_array()};
    const char *bad = NULL;
    if (pg_ui_size_param(evhttp_find_header(&q, "limit"), &c.limit) < 0)
        bad = "limit must be a non-negative integer";
    else if (pg_ui_size_param(evhttp_find_header(&q, "offset"), &c.offset) < 0)
        bad = "offset must be a non-negative integer";
    else if (search && *search && !(c.q = strdup(search)))
        bad = "out of memory";
    if (bad) {
        evhttp_clear_headers(&q);
        json_decref(c.jobs);
        pg_ui_reply_error(req, 400, "bad_data", bad);
        return;
    }
    for (char *p = c.q; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    pg_scraper_foreach_active(ui->host.scraper, on_active, &c);
    pg_scraper_foreach_dropped(ui->host.scraper, on_dropped, &c);
    for (size_t i = 0; i < c.n; i++) {
        json_object_set_new(c.v[i].o, "activeCount", json_integer((json_int_t)c.v[i].n_active));
        json_object_set_new(c.v[i].o, "droppedCount", json_integer((json_int_t)c.v[i].n_dropped));
        json_object_set_new(c.v[i].o, "activeMatched",
                            json_integer((json_int_t)c.v[i].n_active_matched));
        json_object_set_new(c.v[i].o, "droppedMatched",
                            json_integer((json_int_t)c.v[i].n_dropped_matched));
        json_decref(c.v[i].o);
        json_decref(c.v[i].active);
        json_decref(c.v[i].dropped);
    }
    free(c.v);
    free(c.q);
    evhttp_clear_headers(&q);
    json_t *data = json_object();
    json_object_set_new(data, "jobs", c.jobs);
    pg_ui_reply_data(req, data);
}

/* ---- relabel steps ---- */

struct steps {
    const struct pg_cfg_scrape *job;
    json_t *arr;
};

static void step_trace(void *ud, size_t rule, const struct pg_labels *after, int kept)
{
    struct steps *s = ud;
    json_t *o = json_object();
    json_object_set_new(o, "rule", rule_json(&s->job->relabel[rule], rule));
    json_object_set_new(o, "output", kept ? pg_ui_labels(after) : json_object());
    json_object_set_new(o, "keep", json_boolean(kept));
    json_array_append_new(s->arr, o);
}

/* Parses a JSON object of string values into ls. Returns 0 or -1. */
static int labels_from_json(const char *text, struct pg_labels *ls)
{
    json_t *o = json_loads(text, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v) || pg_labels_set(ls, k, json_string_value(v)) != 0)
            rc = -1;
    }
    json_decref(o);
    return rc;
}

/* The job's profile type named name (its config name), or NULL. */
static const struct pg_cfg_profile *job_profile(const struct pg_cfg_scrape *job, const char *name)
{
    for (size_t i = 0; name && i < job->n_profiles; i++)
        if (!strcmp(job->profiles[i].name, name))
            return &job->profiles[i];
    return NULL;
}

/* Runs job's rules on in with each step traced into s: without a type, once as for a
 * target; with type p, as the scraper runs them for that (target, type) (the rules before
 * the first per-type one once, the rest with __name__ and the paths set for p). Returns
 * as pg_target_populate. */
static int steps_run(const struct pg_cfg_scrape *job, const struct pg_cfg_profile *p,
                     const struct pg_labels *in, struct pg_labels *fin, struct steps *s, char *err,
                     size_t errlen)
{
    struct pg_labels disc, common;
    pg_labels_init(&disc);
    pg_labels_init(&common);
    int rc;
    size_t split = pg_target_type_split(job), rule;
    if (!p || split >= job->n_relabel || job->legacy_app_name) {
        rc = pg_target_populate(job, NULL, in, &disc, fin, step_trace, s, err, errlen);
    } else {
        rc = pg_target_populate_common(job, NULL, in, &disc, &common, split, step_trace, s, &rule,
                                       err, errlen);
        if (rc == 1)
            rc = pg_target_populate_type(job, &common, split, p, fin, step_trace, s, &rule, err,
                                         errlen);
    }
    pg_labels_reset(&disc);
    pg_labels_reset(&common);
    return rc;
}

void pg_ui_relabel_steps_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    struct evkeyvalq q;
    if (!pg_ui_get_only(req) || pg_ui_query(req, &q) < 0)
        return;
    const char *pool = evhttp_find_header(&q, "scrapePool");
    const char *labels = evhttp_find_header(&q, "labels");
    const char *type = evhttp_find_header(&q, "profileType");
    const struct pg_cfg_scrape *job = pool ? pg_scraper_job_config(ui->host.scraper, pool) : NULL;
    const struct pg_cfg_profile *p = job && type ? job_profile(job, type) : NULL;
    struct pg_labels in, fin;
    pg_labels_init(&in);
    pg_labels_init(&fin);
    if (!job) {
        pg_ui_reply_error(req, 400, "bad_data", "scrapePool must name a job");
    } else if (type && !p) {
        pg_ui_reply_error(req, 400, "bad_data", "profileType must name a profile type of the job");
    } else if (!labels || labels_from_json(labels, &in) < 0) {
        pg_ui_reply_error(req, 400, "bad_data", "labels must be a JSON object of strings");
    } else {
        struct steps s = {job, json_array()};
        char err[256] = "";
        int rc = steps_run(job, p, &in, &fin, &s, err, sizeof(err));
        json_t *data = json_object();
        json_object_set_new(data, "steps", s.arr);
        json_object_set_new(data, "keep", json_boolean(rc == 1));
        json_object_set_new(data, "labels", rc == 1 ? pg_ui_labels(&fin) : json_object());
        json_object_set_new(data, "error", pg_ui_jstr(rc < 0 ? err : ""));
        pg_ui_reply_data(req, data);
    }
    pg_labels_reset(&in);
    pg_labels_reset(&fin);
    evhttp_clear_headers(&q);
}
