/* ui_flame.c - the web UI's flame graph endpoints (see ui.h):
 *
 * GET /api/v1/flamegraph?scrapePool=J&scrapeUrl=U[&profileType=T] (a scrape loop's last
 *   profile) or ?service=S&profileType=NAME (the receiver's last push of that series),
 *   with &sampleType=I (default: the profile's last sample type), &maxNodes=N (default
 *   2000, at most 20000) and &minWidth=F (fraction of the root, default 0.0001). The reply's
 *   data is {"source":{...},"flame":<profile/flame.h's JSON>}.
 * GET /api/v1/pushes: the series the receiver keeps a last push of.
 *
 * The conversion runs on the processing workers: the handler copies the kept body into a
 * job, the worker builds the tree and the whole reply text, and the completion sends it.
 * When the workers' queue is full the answer is 503 at once. */
#include "daemon/ui_internal.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/workq.h"
#include "daemon/ui_json.h"
#include "daemon/ui_pushes.h"
#include "profile/flame.h"
#include "scraper/scraper.h"

#define FLAME_DEFAULT_NODES 2000
#define FLAME_MAX_NODES 20000
#define FLAME_DEFAULT_MIN_WIDTH 0.0001
#define FLAME_PUSH_LIMIT (256u << 20) /* decompressed size bound for pushed bodies */

struct ui_flame_job {
    struct pg_ui *ui;           /* NULL once orphaned */
    struct evhttp_request *req; /* answered by the completion */
    uint8_t *body;
    size_t len, limit, sample_index, max_nodes;
    double min_width;
    char *source; /* the "source" object's JSON text */
    char *out;    /* the reply (worker) */
    char err[256];
};

static void job_free(struct ui_flame_job *j)
{
    free(j->body);
    free(j->source);
    free(j->out);
    free(j);
}

static void flame_work(void *arg)
{
    struct ui_flame_job *j = arg;
    struct pg_flame *f = pg_flame_build(j->body, j->len, j->limit, j->sample_index, j->max_nodes,
                                        j->min_width, j->err, sizeof(j->err));
    if (!f)
        return;
    char *tree = pg_flame_json(f);
    pg_flame_free(f);
    if (!tree) {
        snprintf(j->err, sizeof(j->err), "out of memory");
        return;
    }
    static const char head[] = "{\"status\":\"success\",\"data\":{\"source\":",
                      mid[] = ",\"flame\":", tail[] = "}}";
    size_t n = strlen(head) + strlen(j->source) + strlen(mid) + strlen(tree) + strlen(tail) + 1;
    if ((j->out = malloc(n)))
        snprintf(j->out, n, "%s%s%s%s%s", head, j->source, mid, tree, tail);
    else
        snprintf(j->err, sizeof(j->err), "out of memory");
    free(tree);
}

static void unlink_job(struct pg_ui *ui, struct ui_flame_job *j)
{
    for (size_t i = 0; i < ui->n_jobs; i++)
        if (ui->jobs[i] == j) {
            ui->jobs[i] = ui->jobs[--ui->n_jobs];
            return;
        }
}

static void flame_done(void *arg, enum pg_workq_status st)
{
    struct ui_flame_job *j = arg;
    if (j->ui) {
        unlink_job(j->ui, j);
        if (st != PG_WORKQ_DONE)
            pg_ui_reply_error(j->req, 503, "unavailable", "the processing workers are stopping");
        else if (j->out) {
            pg_ui_reply_owned(j->req, "application/json", j->out, strlen(j->out));
            j->out = NULL;
        } else
            pg_ui_reply_error(j->req, 422, "bad_data", j->err);
    }
    job_free(j);
}

void pg_ui_flame_orphan_all(struct pg_ui *ui)
{
    for (size_t i = 0; i < ui->n_jobs; i++)
        ui->jobs[i]->ui = NULL;
    ui->n_jobs = 0;
}

/* Hands j to the workers (or runs it here without them); answers req on failure. */
static void submit(struct pg_ui *ui, struct ui_flame_job *j)
{
    if (ui->n_jobs == ui->cap_jobs) {
        size_t cap = ui->cap_jobs ? ui->cap_jobs * 2 : 8;
        struct ui_flame_job **v = realloc(ui->jobs, cap * sizeof(*v));
        if (!v) {
            pg_ui_reply_error(j->req, 503, "unavailable", "out of memory");
            job_free(j);
            return;
        }
        ui->jobs = v;
        ui->cap_jobs = cap;
    }
    ui->jobs[ui->n_jobs++] = j;
    if (!ui->host.workq) {
        flame_work(j);
        flame_done(j, PG_WORKQ_DONE);
    } else if (pg_workq_submit(ui->host.workq, flame_work, flame_done, j) != 0) {
        unlink_job(ui, j);
        evhttp_add_header(evhttp_request_get_output_headers(j->req), "Retry-After", "1");
        pg_ui_reply_error(j->req, 503, "unavailable",
                          "the processing workers are busy; try again in a moment");
        job_free(j);
    }
}

/* ---- finding the profile ---- */

struct find {
    const char *pool, *url, *type;
    struct ui_flame_job *j;
    json_t *source;
    int found, not_kept;
};

static void on_target(void *ud, const struct pg_scrape_target_info *t)
{
    struct find *f = ud;
    if (f->found || strcmp(t->job, f->pool) || strcmp(t->url, f->url) ||
        (f->type && strcmp(t->profile_type, f->type)))
        return;
    f->found = 1;
    f->not_kept = t->last_not_kept;
    f->source = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "kind", "target", "scrapePool",
                          pg_ui_jstr(t->job), "scrapeUrl", pg_ui_jstr(t->url), "profileType",
                          pg_ui_jstr(t->profile_type), "labels", pg_ui_labels(t->labels), "health",
                          json_string(t->health), "lastError", pg_ui_jstr(t->last_error),
                          "profileTime", pg_ui_time(t->last_body_ms));
    if (t->last_body && (f->j->body = malloc(t->last_body_len ? t->last_body_len : 1))) {
        memcpy(f->j->body, t->last_body, t->last_body_len);
        f->j->len = t->last_body_len;
        f->j->limit = t->body_size_limit ? (size_t)t->body_size_limit : FLAME_PUSH_LIMIT;
    }
}

/* Fills j from the push store. Returns the source object, or NULL (*why set). */
static json_t *from_push(struct pg_ui *ui, struct ui_flame_job *j, const char *service,
                         const char *name, const char **why)
{
    const struct pg_ui_push *p = pg_ui_pushes_find(ui->host.pushes, service, name ? name : "");
    if (!p) {
        *why = "no push of this service and profile type since start";
        return NULL;
    }
    if (!p->body) {
        *why = "the last push was larger than the UI's budget for pushed profiles";
        return NULL;
    }
    if (!(j->body = malloc(p->len ? p->len : 1))) {
        *why = "out of memory";
        return NULL;
    }
    memcpy(j->body, p->body, p->len);
    j->len = p->len;
    j->limit = FLAME_PUSH_LIMIT;
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "kind", "push", "service", pg_ui_jstr(p->service),
                     "profileType", pg_ui_jstr(p->name), "labels", pg_ui_jstr(p->labels),
                     "profileTime", pg_ui_time(p->time_ms));
}

/* Reads sampleType, maxNodes and minWidth into j. Returns 0, or -1 with *why set. */
static int parse_opts(struct evkeyvalq *q, struct ui_flame_job *j, const char **why)
{
    const char *st = evhttp_find_header(q, "sampleType");
    const char *mn = evhttp_find_header(q, "maxNodes");
    const char *mw = evhttp_find_header(q, "minWidth");
    char *end;
    j->sample_index = PG_FLAME_LAST_TYPE;
    j->max_nodes = FLAME_DEFAULT_NODES;
    j->min_width = FLAME_DEFAULT_MIN_WIDTH;
    if (st && *st) {
        long v = strtol(st, &end, 10);
        if (*end || v < 0) {
            *why = "sampleType must be a sample type index (0, 1, ...)";
            return -1;
        }
        j->sample_index = (size_t)v;
    }
    if (mn && *mn) {
        long v = strtol(mn, &end, 10);
        if (*end || v < 1 || v > FLAME_MAX_NODES) {
            *why = "maxNodes must be 1..20000";
            return -1;
        }
        j->max_nodes = (size_t)v;
    }
    if (mw && *mw) {
        double v = strtod(mw, &end);
        if (*end || !(v >= 0 && v <= 1)) {
            *why = "minWidth must be a fraction 0..1";
            return -1;
        }
        j->min_width = v;
    }
    return 0;
}

/* Finds the scrape loop's profile for j. Returns the source object, or NULL (*why, *code). */
static json_t *from_target(struct pg_ui *ui, struct ui_flame_job *j, const char *pool,
                           const char *url, const char *type, const char **why, int *code)
{
    struct find f = {pool, url, type && *type ? type : NULL, j, NULL, 0, 0};
    pg_scraper_foreach_active(ui->host.scraper, on_target, &f);
    *code = 404;
    if (!f.found)
        *why = "no such target (scrapePool, scrapeUrl, profileType) is active";
    else if (!j->body)
        *why = f.not_kept ? "the last profile was not kept: over the UI's profile budget "
                            "(--web.ui.profile-cache-size)"
                          : "no profile yet: the target has not delivered one since it started";
    else
        return f.source;
    json_decref(f.source);
    return NULL;
}

void pg_ui_flame_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    struct evkeyvalq q;
    if (!pg_ui_get_only(req) || pg_ui_query(req, &q) < 0)
        return;
    struct ui_flame_job *j = calloc(1, sizeof(*j));
    const char *why = "out of memory";
    int code = 400;
    json_t *source = NULL;
    const char *pool = evhttp_find_header(&q, "scrapePool");
    const char *url = evhttp_find_header(&q, "scrapeUrl");
    const char *service = evhttp_find_header(&q, "service");
    const char *type = evhttp_find_header(&q, "profileType");
    if (!j || parse_opts(&q, j, &why) < 0) {
        code = j ? 400 : 503;
    } else if (pool && url) {
        source = from_target(ui, j, pool, url, type, &why, &code);
    } else if (service) {
        code = 404;
        source = from_push(ui, j, service, type, &why);
    } else {
        why = "give scrapePool and scrapeUrl (a target) or service and profileType (a push)";
    }
    evhttp_clear_headers(&q);
    if (source && !(j->source = json_dumps(source, JSON_COMPACT)))
        why = "out of memory", code = 503;
    json_decref(source);
    if (!j || !j->source) {
        pg_ui_reply_error(req, code, code == 404 ? "not_found" : "bad_data", why);
        if (j)
            job_free(j);
        return;
    }
    j->ui = ui;
    j->req = req;
    submit(ui, j);
}

void pg_ui_pushes_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    if (!pg_ui_get_only(req))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < pg_ui_pushes_count(ui->host.pushes); i++) {
        const struct pg_ui_push *p = pg_ui_pushes_at(ui->host.pushes, i);
        json_array_append_new(
            arr, json_pack("{s:o,s:o,s:o,s:o,s:I,s:b,s:I}", "service", pg_ui_jstr(p->service),
                           "profileType", pg_ui_jstr(p->name), "labels", pg_ui_jstr(p->labels),
                           "time", pg_ui_time(p->time_ms), "bytes", (json_int_t)p->len, "kept",
                           p->body != NULL, "profiles", (json_int_t)p->count));
    }
    json_t *data = json_object();
    json_object_set_new(data, "pushes", arr);
    pg_ui_reply_data(req, data);
}
