/* receiver.c - the push receiver's HTTP handlers (see receiver.h).
 *
 * A request goes, on the event loop: method -> credentials -> tenant -> body size ->
 * buffer high-water mark -> (push) Content-Type and Content-Encoding -> the body is
 * copied into a job for a processing worker (core/workq.h). The worker parses and
 * validates every profile in it (daemon/rx_convert.c; nothing is stored if any is bad).
 * Back on the loop: receiver.relabel_configs -> in one writer request (a savepoint):
 * append each kept profile -> end the request -> commit -> 200. The HTTP reply is
 * deferred until then (libevent keeps the request; a client that went away only loses
 * its answer). When the workers' queue is full the request is answered 429 at once.
 *
 * A request is stored all or nothing: its appends run inside a savepoint of the buffer's
 * pending batch (shared with the scraper), so when the k-th append fails, profiles
 * 0..k-1 are rolled back and the client gets 503; a 200 means every kept profile of the
 * request is durable.
 *
 * A reload keeps the receiver (pg_receiver_reconfigure): requests in flight finish with
 * the new receiver.relabel_configs. Destroying it answers the requests still in flight
 * 503 (Retry-After) and abandons their conversions. */
#include "daemon/receiver.h"
#include "daemon/receiver_internal.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tenant.h"
#include "core/workq.h"
#include "daemon/ingest_parse.h"
#include "daemon/rx_convert.h"
#include "daemon/web.h"
#include "relabel/relabel.h"
#include "sink/writer.h"

#define RETRY_AFTER_S "5"

struct pg_receiver {
    struct pg_receiver_host host; /* copied; workq NULL: convert inline */
    struct pg_web *web;
    struct event_base *base;
    const struct pg_cfg *cfg;
    int have_ingest, have_push;
    struct pg_metric *m_req, *m_prof, *m_drop, *m_bytes;
    struct reqctx *inflight; /* requests a worker is converting */
    size_t n_inflight;
};

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* ---- replies ---- */

static const char *const route_name[] = {"ingest", "push"}; /* by enum pg_rx_route */

/* A request: answered right away (on the stack), or in flight while a worker converts
 * it (malloc'd, on r's in-flight list). r and req are NULL once the receiver was
 * destroyed under it (answered 503 then; the worker's result is only freed). */
struct reqctx {
    struct pg_receiver *r;
    struct evhttp_request *req;
    enum pg_rx_route route;
    int json;              /* push: answer success as JSON */
    struct pg_rx_job *job; /* in flight: the conversion (owned) */
    const char *tenant;    /* X-Scope-OrgID (borrowed from req), or NULL */
    struct reqctx *prev, *next;
};

static void count_request(struct reqctx *c, int code)
{
    char cs[8];
    snprintf(cs, sizeof(cs), "%d", code);
    const char *lv[] = {route_name[c->route], cs};
    pg_metric_inc(c->r->m_req, lv, 1);
}

static void count_dropped(struct pg_receiver *r, const char *reason, double n)
{
    const char *lv[] = {reason};
    pg_metric_inc(r->m_drop, lv, n);
}

static const char *connect_code(int status)
{
    switch (status) {
    case 400: return "invalid_argument";
    case 401: return "unauthenticated";
    case 413: return "resource_exhausted";
    case 415: return "invalid_argument";
    case 429: return "resource_exhausted";
    case 503: return "unavailable";
    case 405: return "unimplemented";
    default: return "internal";
    }
}

/* Sends an error: plain text for /ingest, connect's JSON error for push. */
static void reply_error(struct reqctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(struct reqctx *c, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(c->req, HTTP_INTERNAL, NULL);
        return;
    }
    if (c->route == PG_RX_PUSH) {
        json_t *o = json_object();
        json_object_set_new(o, "code", json_string(connect_code(status)));
        /* messages can quote client bytes: keep the JSON valid whatever they are */
        json_t *m = json_string(msg);
        json_object_set_new(o, "message", m ? m : json_string("invalid request"));
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s) {
            evbuffer_add(b, s, strlen(s));
            free(s);
        }
        evhttp_add_header(h, "Content-Type", "application/json");
    } else {
        evbuffer_add_printf(b, "%s\n", msg);
        evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    }
    if (status == 429 || status == 503)
        evhttp_add_header(h, "Retry-After", RETRY_AFTER_S);
    if (status == 405)
        evhttp_add_header(h, "Allow", "POST");
    count_request(c, status);
    pg_log_debug("receiver", "route=%s code=%d msg=\"request refused\" reason=\"%s\"",
                 route_name[c->route], status, msg);
    evhttp_send_reply(c->req, status, status_text(status), b);
    evbuffer_free(b);
}

static void reply_ok(struct reqctx *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(c->req, HTTP_INTERNAL, NULL);
        return;
    }
    if (c->route == PG_RX_PUSH) {
        if (c->json) {
            evbuffer_add(b, "{}", 2);
            evhttp_add_header(h, "Content-Type", "application/json");
        } else {
            evhttp_add_header(h, "Content-Type", "application/proto");
        }
    } else {
        evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    }
    count_request(c, 200);
    evhttp_send_reply(c->req, 200, "OK", b);
    evbuffer_free(b);
}

/* ---- credentials ---- */

static int ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < lb; i++)
        d |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return d == 0;
}

/* Returns 1 when the request may proceed. */
static int authorized(const struct pg_cfg *cfg, struct evhttp_request *req)
{
    if (!cfg->n_receiver_users && !cfg->n_receiver_bearer_tokens)
        return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h)
        return 0;
    if (!strncasecmp(h, "Basic ", 6) && cfg->n_receiver_users) {
        const char *p = h + 6;
        while (*p == ' ')
            p++;
        uint8_t *dec = NULL;
        size_t dl = 0;
        if (pg_base64_decode(p, strlen(p), 0, &dec, &dl) < 0)
            return 0;
        char *up = strndup((const char *)dec, dl);
        free(dec);
        if (!up)
            return 0;
        int ok = 0;
        char *colon = strchr(up, ':');
        if (colon && strlen(up) == dl) {
            *colon = '\0';
            for (size_t i = 0; i < cfg->n_receiver_users; i++) {
                const struct pg_cfg_receiver_user *u = &cfg->receiver_users[i];
                int m = u->username && !strcmp(u->username, up) &&
                        ct_equal(u->password ? u->password : "", colon + 1);
                ok |= m;
            }
        }
        free(up);
        return ok;
    }
    if (!strncasecmp(h, "Bearer ", 7) && cfg->n_receiver_bearer_tokens) {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        int ok = 0;
        for (size_t i = 0; i < cfg->n_receiver_bearer_tokens; i++)
            ok |= ct_equal(cfg->receiver_bearer_tokens[i], t);
        return ok;
    }
    return 0;
}

/* ---- common request checks ---- */

/* Runs the checks shared by both routes and sets c->tenant (borrowed header or NULL).
 * Returns 0, or -1 after replying. */
static int common_checks(struct reqctx *c)
{
    struct pg_receiver *r = c->r;
    if (evhttp_request_get_command(c->req) != EVHTTP_REQ_POST) {
        reply_error(c, 405, "method not allowed: use POST");
        return -1;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    if (!authorized(r->cfg, c->req)) {
        count_dropped(r, "unauthorized", 1);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "WWW-Authenticate",
                          r->cfg->n_receiver_users ? "Basic realm=\"profgate\""
                                                   : "Bearer realm=\"profgate\"");
        reply_error(c, 401, "unauthorized: missing or wrong credentials");
        return -1;
    }
    const char *t = evhttp_find_header(in, "X-Scope-OrgID");
    if (t && !pg_tenant_valid(t)) {
        count_dropped(r, "invalid", 1);
        reply_error(c, 400, "invalid X-Scope-OrgID tenant id");
        return -1;
    }
    c->tenant = t;
    uint64_t max = r->cfg->receiver_max_body_size;
    const char *cl = evhttp_find_header(in, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > max) {
        count_dropped(r, "too_large", 1);
        reply_error(c, 413, "request body too large: Content-Length %s over max_body_size %llu", cl,
                    (unsigned long long)max);
        return -1;
    }
    size_t n = evbuffer_get_length(evhttp_request_get_input_buffer(c->req));
    const char *lv[] = {route_name[c->route]};
    pg_metric_inc(r->m_bytes, lv, (double)n);
    if (n > max) {
        count_dropped(r, "too_large", 1);
        reply_error(c, 413, "request body too large: %zu bytes over max_body_size %llu", n,
                    (unsigned long long)max);
        return -1;
    }
    if (r->host.buffer_full && r->host.buffer_full(r->host.ud)) {
        count_dropped(r, "buffer_full", 1);
        reply_error(c, 429, "buffer over its high-water mark: retry later");
        return -1;
    }
    return 0;
}

/* A job for c's request: the body moved out of the request (one copy), max_body from the
 * config. Returns NULL after replying 503 (OOM). */
static struct pg_rx_job *new_job(struct reqctx *c)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(b);
    struct pg_rx_job *j = calloc(1, sizeof(*j));
    if (j && (j->body = malloc(n ? n : 1)) != NULL && evbuffer_remove(b, j->body, n) == (int)n) {
        j->len = n;
        j->route = c->route;
        j->json = c->json;
        j->max_body = c->r->cfg->receiver_max_body_size;
        return j;
    }
    pg_rx_job_free(j);
    reply_error(c, 503, "out of memory");
    return NULL;
}

/* Relabel filter: returns 1 when x is kept (its labels rewritten), 0 when dropped
 * (counted). */
static int relabel_keep(struct reqctx *c, struct pg_rx_item *x)
{
    struct pg_receiver *r = c->r;
    /* a client does not pick the tenant a profile is forwarded to through a label: only
     * receiver.relabel_configs may set __tenant_id__ (sink/wrelabel.h) */
    pg_labels_del(&x->labels, "__tenant_id__");
    if (!r->cfg->n_receiver_relabel)
        return 1;
    int rk = pg_relabel_process(r->cfg->receiver_relabel, r->cfg->n_receiver_relabel, &x->labels,
                                NULL, NULL);
    if (rk <= 0) {
        /* -1: a regex hit its match limit (counted and logged by relabel) */
        count_dropped(r, rk < 0 ? "relabel_error" : "relabel", 1);
        return 0;
    }
    char err[256];
    if (pg_ingest_validate_series(&x->labels, err, sizeof(err)) < 0) {
        count_dropped(r, "relabel", 1);
        pg_log_warn("receiver",
                    "route=%s msg=\"series invalid after receiver.relabel_configs; dropped\" "
                    "err=\"%s\"",
                    route_name[c->route], err);
        return 0;
    }
    return 1;
}

/* Appends the kept items inside one writer request, all or nothing. Returns the number
 * kept (>= 0), or -1 when nothing of the request is stored (replied 503). */
static long store_items(struct reqctx *c, struct pg_rx_items *it)
{
    struct pg_receiver *r = c->r;
    struct pg_sink_writer *w = r->host.writer;
    size_t kept = 0, relabeled = 0;
    if (pg_sink_writer_begin_request(w) < 0)
        goto fail;
    for (size_t i = 0; i < it->n; i++) {
        struct pg_rx_item *x = &it->v[i];
        if (!relabel_keep(c, x)) {
            relabeled++;
            continue;
        }
        if (pg_sink_writer_append(w, &x->labels, pg_labels_get(&x->labels, "__name__"), x->from_ns,
                                  x->until_ns, c->tenant, x->body, x->len) < 0) {
            pg_sink_writer_end_request(w, 0);
            goto fail;
        }
        x->stored = 1;
        kept++;
    }
    if (pg_sink_writer_end_request(w, 1) < 0)
        goto fail;
    return (long)kept;
fail:
    count_dropped(r, "storage", (double)(it->n - relabeled));
    pg_log_error("receiver", "route=%s msg=\"could not buffer pushed profiles; none stored\"",
                 route_name[c->route]);
    reply_error(c, 503, "storage unavailable: could not buffer the profiles");
    return -1;
}

/* Relabels, appends and commits items; replies. */
static void store_and_reply(struct reqctx *c, struct pg_rx_items *it)
{
    struct pg_receiver *r = c->r;
    long stored = store_items(c, it);
    if (stored < 0)
        return;
    size_t kept = (size_t)stored;
    if (kept && pg_sink_writer_commit(r->host.writer) < 0) {
        count_dropped(r, "storage", (double)kept);
        pg_log_error("receiver", "route=%s msg=\"commit failed\" profiles=%zu",
                     route_name[c->route], kept);
        reply_error(c, 503, "storage unavailable: could not commit the profiles");
        return;
    }
    for (size_t i = 0; r->host.on_stored && i < it->n; i++)
        if (it->v[i].stored)
            r->host.on_stored(r->host.ud, &it->v[i].labels, it->v[i].body, it->v[i].len);
    const char *lv[] = {route_name[c->route]};
    pg_metric_inc(r->m_prof, lv, (double)kept);
    reply_ok(c);
}

/* ---- the conversion on a worker ---- */

static void inflight_unlink(struct reqctx *c)
{
    struct pg_receiver *r = c->r;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->inflight = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    r->n_inflight--;
}

static void free_inflight(struct reqctx *c)
{
    pg_rx_job_free(c->job);
    free(c);
}

/* Answers a converted request (loop thread): stores its profiles or sends its refusal. */
static void finish(struct reqctx *c)
{
    struct pg_rx_job *j = c->job;
    if (j->status == PG_RX_STORE) {
        store_and_reply(c, &j->items);
        return;
    }
    if (j->reason)
        count_dropped(c->r, j->reason, 1);
    if (j->status == 200)
        reply_ok(c);
    else
        reply_error(c, j->status, "%s", j->err);
}

/* Completion of a conversion, on the loop thread. */
static void job_done(void *arg, enum pg_workq_status st)
{
    struct reqctx *c = arg;
    if (c->r == NULL) { /* the receiver is gone; the request was answered then */
        free_inflight(c);
        return;
    }
    inflight_unlink(c);
    if (st == PG_WORKQ_DONE) {
        finish(c);
    } else if (st == PG_WORKQ_EVICTED) {
        count_dropped(c->r, "overloaded", 1);
        reply_error(c, 429, "profgate is overloaded (processing workers busy): retry later");
    } else {
        count_dropped(c->r, "shutdown", 1);
        reply_error(c, 503, "profgate is shutting down: retry later");
    }
    free_inflight(c);
}

static void job_work(void *arg)
{
    struct reqctx *c = arg;
    pg_rx_convert(c->job);
}

/* Hands job (owned) for the request in c to the workers, or converts it here without a
 * pool. A full queue answers 429 (shed, counted) right away. */
static void submit(struct reqctx *c, struct pg_rx_job *job)
{
    struct pg_receiver *r = c->r;
    struct reqctx *f = malloc(sizeof(*f));
    if (!f) {
        pg_rx_job_free(job);
        reply_error(c, 503, "out of memory");
        return;
    }
    *f = *c;
    f->job = job;
    f->prev = NULL;
    f->next = r->inflight;
    if (r->inflight)
        r->inflight->prev = f;
    r->inflight = f;
    r->n_inflight++;
    if (r->host.workq == NULL) {
        pg_rx_convert(job);
        job_done(f, PG_WORKQ_DONE);
        return;
    }
    if (pg_workq_submit(r->host.workq, job_work, job_done, f) != 0) {
        inflight_unlink(f);
        free_inflight(f);
        count_dropped(r, "overloaded", 1);
        reply_error(c, 429, "profgate is overloaded (processing workers busy): retry later");
    }
}

/* ---- routes ---- */

static void handle_ingest(struct evhttp_request *req, void *ud)
{
    struct reqctx c = {.r = ud, .req = req, .route = PG_RX_INGEST};
    if (common_checks(&c) < 0)
        return;
    struct pg_rx_job *j = new_job(&c);
    if (!j)
        return;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    j->query = q ? strdup(q) : NULL;
    j->content_type = ct ? strdup(ct) : NULL;
    if ((q && !j->query) || (ct && !j->content_type)) {
        pg_rx_job_free(j);
        reply_error(&c, 503, "out of memory");
        return;
    }
    submit(&c, j);
}

/* The push route's Content-Type and Content-Encoding checks. Returns 0 (c->json set,
 * *gzip 1 for a gzip body), or -1 after replying. */
static int push_checks(struct reqctx *c, int *gzip)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    if (!ct || (!c->json && strncasecmp(ct, "application/proto", 17) != 0) ||
        (ct[c->json ? 16 : 17] != '\0' && ct[c->json ? 16 : 17] != ';')) {
        count_dropped(c->r, "invalid", 1);
        reply_error(c, 415,
                    "unsupported Content-Type %s: want application/proto or application/json",
                    ct ? ct : "(none)");
        return -1;
    }
    const char *ce = evhttp_find_header(in, "Content-Encoding");
    *gzip = 0;
    if (ce && strcasecmp(ce, "identity") != 0) {
        if (strcasecmp(ce, "gzip") != 0) {
            count_dropped(c->r, "invalid", 1);
            reply_error(c, 400, "unsupported Content-Encoding %s: want gzip or identity", ce);
            return -1;
        }
        *gzip = 1;
    }
    return 0;
}

static void handle_push(struct evhttp_request *req, void *ud)
{
    struct reqctx c = {.r = ud, .req = req, .route = PG_RX_PUSH};
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (ct && !strncasecmp(ct, "application/json", 16))
        c.json = 1;
    int gzip;
    if (common_checks(&c) < 0 || push_checks(&c, &gzip) < 0)
        return;
    struct pg_rx_job *j = new_job(&c);
    if (!j)
        return;
    if (gzip && !(j->content_encoding = strdup("gzip"))) {
        pg_rx_job_free(j);
        reply_error(&c, 503, "out of memory");
        return;
    }
    submit(&c, j);
}

/* ---- lifecycle ---- */

static void log_enabled(const struct pg_cfg *cfg, int capped, const char *what)
{
    pg_log_info("receiver",
                "routes=\"%s %s\" max_body_size=%llu users=%zu bearer_tokens=%zu "
                "relabel_rules=%zu max_connections=%s msg=\"%s\"",
                PG_RECEIVER_INGEST_PATH, PG_RECEIVER_PUSH_PATH,
                (unsigned long long)cfg->receiver_max_body_size, cfg->n_receiver_users,
                cfg->n_receiver_bearer_tokens, cfg->n_receiver_relabel,
                capped ? "enforced" : "not_enforced", what);
}

static void register_metrics(struct pg_receiver *r)
{
    r->m_req = pg_metric_counter("profgate_receiver_requests_total",
                                 "Push requests answered by the receiver, by route and HTTP code.",
                                 "route,code");
    r->m_prof = pg_metric_counter("profgate_receiver_profiles_total",
                                  "Pushed profiles committed to the buffer, by route.", "route");
    r->m_drop =
        pg_metric_counter("profgate_receiver_dropped_profiles_total",
                          "Pushed profiles (or whole requests) not stored, by reason.", "reason");
    r->m_bytes =
        pg_metric_counter("profgate_receiver_bytes_total",
                          "Request body bytes received by the receiver, by route.", "route");
}

struct pg_receiver *pg_receiver_create(const struct pg_receiver_host *host, struct pg_web *web,
                                       struct event_base *base, const struct pg_cfg *cfg, char *err,
                                       size_t errlen)
{
    struct pg_receiver *r = calloc(1, sizeof(*r));
    if (!r) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    r->host = *host;
    r->web = web;
    r->base = base;
    r->cfg = cfg;
    register_metrics(r);
    if (pg_web_route(web, PG_RECEIVER_INGEST_PATH, handle_ingest, r) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        pg_receiver_destroy(r);
        return NULL;
    }
    r->have_ingest = 1;
    if (pg_web_route(web, PG_RECEIVER_PUSH_PATH, handle_push, r) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        pg_receiver_destroy(r);
        return NULL;
    }
    r->have_push = 1;
    int capped =
        pg_web_set_limits(web, cfg->receiver_max_connections, cfg->receiver_read_timeout_ms,
                          cfg->receiver_write_timeout_ms, cfg->receiver_max_body_size);
    log_enabled(cfg, capped, "receiver enabled");
    return r;
}

void pg_receiver_reconfigure(struct pg_receiver *r, const struct pg_cfg *cfg)
{
    r->cfg = cfg;
    int capped =
        pg_web_set_limits(r->web, cfg->receiver_max_connections, cfg->receiver_read_timeout_ms,
                          cfg->receiver_write_timeout_ms, cfg->receiver_max_body_size);
    log_enabled(cfg, capped, "receiver reconfigured");
}

void pg_receiver_destroy(struct pg_receiver *r)
{
    if (!r)
        return;
    /* answer what is still in flight; its conversion is freed when the worker is done */
    while (r->inflight) {
        struct reqctx *c = r->inflight;
        inflight_unlink(c);
        count_dropped(r, "shutdown", 1);
        reply_error(c, 503, "profgate receiver stopped: retry later");
        c->r = NULL;
        c->req = NULL;
    }
    if (r->have_ingest)
        pg_web_unroute(r->web, PG_RECEIVER_INGEST_PATH);
    if (r->have_push)
        pg_web_unroute(r->web, PG_RECEIVER_PUSH_PATH);
    free(r);
}

/* ---- in-process entry points (receiver_internal.h) ---- */

void pg_receiver_serve(struct pg_receiver *r, struct evhttp_request *req,
                       enum pg_receiver_route route)
{
    if (route == PG_RECEIVER_ROUTE_PUSH)
        handle_push(req, r);
    else
        handle_ingest(req, r);
}

size_t pg_receiver_inflight(const struct pg_receiver *r)
{
    return r->n_inflight;
}
