/* ui_targets.c - the targets page's endpoint (see ui.h), built so that 10,000 targets
 * cost the browser one small reply:
 *
 * GET /api/v1/targets/pools[?health=H][&search=S][&scrapePool=J][&limit=N][&offset=K]
 *
 * Per scrape pool (job, config order): how many (target x profile type) loops it has, by
 * health, how many match the filters, and only the matching loops from offset K to K+N
 * (default N = 100; 0 = all) in /api/v1/targets's field names, without the discovered
 * labels. health is up, down or unknown; search is a case-insensitive substring of the
 * scrape URL, the profile type or a label written name=value. The counts are always
 * complete, so the page shows "up/total" and "N of M shown" without fetching every row;
 * data.dropped counts the dropped targets (the overview page's card).
 * /api/v1/targets (web.c) keeps Prometheus's shape for scripts.
 *
 * One pass over the scraper's loops on the event loop: matching is a few string
 * comparisons per loop and JSON is built only for the rows returned. */
#include "daemon/ui_internal.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "daemon/ui_json.h"
#include "scraper/scraper.h"
#include "yamlcfg/units.h"

#define UI_TARGETS_DEFAULT_LIMIT 100

struct pool {
    const char *name; /* borrowed from the scraper for the request */
    size_t total, up, down, unknown, matched;
    json_t *targets;
};

struct pools_ctx {
    const char *pool, *health;
    char *q; /* lowercase search, or NULL */
    size_t limit, offset;
    size_t dropped; /* dropped targets (of pool, when set) */
    struct pool *v;
    size_t n, cap;
    int oom;
};

static struct pool *pool_entry(struct pools_ctx *c, const char *name)
{
    if (c->n && !strcmp(c->v[c->n - 1].name, name))
        return &c->v[c->n - 1];
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name))
            return &c->v[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct pool *v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        c->v = v;
        c->cap = cap;
    }
    struct pool *p = &c->v[c->n];
    memset(p, 0, sizeof(*p));
    p->name = name;
    if (!(p->targets = json_array()))
        return NULL;
    c->n++;
    return p;
}

static json_t *target_json(const struct pg_scrape_target_info *t)
{
    char iv[32], to[32];
    pg_units_format_duration(t->interval_ms, iv, sizeof(iv));
    pg_units_format_duration(t->timeout_ms, to, sizeof(to));
    json_t *o = json_object();
    json_object_set_new(o, "labels", pg_ui_labels(t->labels));
    json_object_set_new(o, "scrapePool", pg_ui_jstr(t->job));
    json_object_set_new(o, "scrapeUrl", pg_ui_jstr(t->url));
    json_object_set_new(o, "lastError", pg_ui_jstr(t->last_error));
    json_object_set_new(o, "lastScrape", pg_ui_time(t->last_scrape_ms));
    json_object_set_new(o, "lastScrapeDuration", json_real(t->last_duration_s));
    json_object_set_new(o, "health", json_string(t->health));
    json_object_set_new(o, "scrapeInterval", json_string(iv));
    json_object_set_new(o, "scrapeTimeout", json_string(to));
    json_object_set_new(o, "profileType", pg_ui_jstr(t->profile_type));
    return o;
}

static void on_active(void *ud, const struct pg_scrape_target_info *t)
{
    struct pools_ctx *c = ud;
    if (c->oom || (c->pool && strcmp(c->pool, t->job)))
        return;
    struct pool *p = pool_entry(c, t->job);
    if (!p) {
        c->oom = 1;
        return;
    }
    p->total++;
    if (!strcmp(t->health, "up"))
        p->up++;
    else if (!strcmp(t->health, "down"))
        p->down++;
    else
        p->unknown++;
    if (c->health && strcmp(c->health, t->health))
        return;
    if (c->q && !pg_ui_contains(t->url, c->q) && !pg_ui_contains(t->profile_type, c->q) &&
        !pg_ui_labels_match(t->labels, c->q))
        return;
    size_t i = p->matched++;
    if (i < c->offset || (c->limit && i - c->offset >= c->limit))
        return;
    json_t *o = target_json(t);
    if (!o || json_array_append_new(p->targets, o) < 0)
        c->oom = 1;
}

static void on_dropped(void *ud, const struct pg_scrape_dropped_info *t)
{
    struct pools_ctx *c = ud;
    if (!c->pool || !strcmp(c->pool, t->job))
        c->dropped++;
}

static json_t *pools_json(struct pools_ctx *c)
{
    json_t *arr = json_array(), *data = json_object();
    size_t tot[5] = {0};
    for (size_t i = 0; i < c->n; i++) {
        struct pool *p = &c->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", pg_ui_jstr(p->name));
        json_object_set_new(o, "total", json_integer((json_int_t)p->total));
        json_object_set_new(o, "up", json_integer((json_int_t)p->up));
        json_object_set_new(o, "down", json_integer((json_int_t)p->down));
        json_object_set_new(o, "unknown", json_integer((json_int_t)p->unknown));
        json_object_set_new(o, "matched", json_integer((json_int_t)p->matched));
        json_object_set_new(o, "offset", json_integer((json_int_t)c->offset));
        json_object_set_new(o, "targets", p->targets);
        p->targets = NULL;
        json_array_append_new(arr, o);
        size_t add[5] = {p->total, p->up, p->down, p->unknown, p->matched};
        for (int k = 0; k < 5; k++)
            tot[k] += add[k];
    }
    static const char *const names[5] = {"total", "up", "down", "unknown", "matched"};
    for (int k = 0; k < 5; k++)
        json_object_set_new(data, names[k], json_integer((json_int_t)tot[k]));
    json_object_set_new(data, "dropped", json_integer((json_int_t)c->dropped));
    json_object_set_new(data, "pools", arr);
    return data;
}

/* Reads the query into c. Returns NULL, or the reason it is bad. */
static const char *parse_params(struct evkeyvalq *q, struct pools_ctx *c)
{
    const char *pool = evhttp_find_header(q, "scrapePool");
    const char *health = evhttp_find_header(q, "health");
    const char *search = evhttp_find_header(q, "search");
    c->pool = pool && *pool ? pool : NULL;
    c->health = health && *health ? health : NULL;
    c->limit = UI_TARGETS_DEFAULT_LIMIT;
    if (c->health && strcmp(c->health, "up") && strcmp(c->health, "down") &&
        strcmp(c->health, "unknown"))
        return "health must be up, down or unknown";
    if (pg_ui_size_param(evhttp_find_header(q, "limit"), &c->limit) < 0)
        return "limit must be a non-negative integer";
    if (pg_ui_size_param(evhttp_find_header(q, "offset"), &c->offset) < 0)
        return "offset must be a non-negative integer";
    if (search && *search) {
        if (!(c->q = strdup(search)))
            return "out of memory";
        for (char *s = c->q; *s; s++)
            *s = (char)tolower((unsigned char)*s);
    }
    return NULL;
}

void pg_ui_targets_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    struct evkeyvalq q;
    if (!pg_ui_get_only(req) || pg_ui_query(req, &q) < 0)
        return;
    struct pools_ctx c = {0};
    const char *bad = parse_params(&q, &c);
    if (bad)
        pg_ui_reply_error(req, 400, "bad_data", bad);
    else {
        pg_scraper_foreach_active(ui->host.scraper, on_active, &c);
        pg_scraper_foreach_dropped(ui->host.scraper, on_dropped, &c);
    }
    if (!bad && c.oom)
        pg_ui_reply_error(req, 503, "unavailable", "out of memory");
    else if (!bad)
        pg_ui_reply_data(req, pools_json(&c));
    for (size_t i = 0; i < c.n; i++)
        json_decref(c.v[i].targets);
    free(c.v);
    free(c.q);
    evhttp_clear_headers(&q);
}
