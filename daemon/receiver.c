/* receiver.c - the push receiver's HTTP handlers (see receiver.h).
 *
 * A request goes: method -> credentials -> tenant -> body size -> buffer high-water mark
 * -> parse and validate every profile in it (nothing is stored if any is bad) ->
 * receiver.relabel_configs -> in one writer request (a savepoint): append each kept
 * profile -> end the request -> commit -> 200.
 * Parsing that does not need the event loop lives in ingest_parse.c.
 *
 * Hostile input is bounded per request: the body by max_body_size, the decompressed raw
 * profiles of one push together by PG_RECEIVER_INFLATE_RATIO x max_body_size (413 past
 * it), decoding by pg_pprof_check's budget and folded conversion by its own.
 *
 * A request is stored all or nothing: its appends run inside a savepoint of the buffer's
 * pending batch (shared with the scraper), so when the k-th append fails, profiles
 * 0..k-1 are rolled back and the client gets 503; a 200 means every kept profile of the
 * request is durable. */
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
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "daemon/app.h"
#include "daemon/ingest_parse.h"
#include "daemon/web.h"
#include "push.pb-c.h"
#include "relabel/relabel.h"
#include "sink/writer.h"
#include "profile/folded.h"
#include "profile/pprof.h"

#define RETRY_AFTER_S "5"
#define MAX_PARTS 8
/* The raw profiles of one push request may decompress to at most this many times
 * receiver.max_body_size in total (each one to at most max_body_size). */
#define PG_RECEIVER_INFLATE_RATIO 4

struct pg_receiver {
    struct pg_app *app;
    struct pg_web *web;
    struct event_base *base;
    const struct pg_cfg *cfg;
    int have_ingest, have_push;
    struct pg_metric *m_req, *m_prof, *m_drop, *m_bytes;
};

/* One profile ready to be stored. */
struct item {
    struct pg_labels labels;
    int64_t from_ns, until_ns;
    const uint8_t *body; /* borrowed from the request, or == owned */
    size_t len;
    uint8_t *owned;
};

struct items {
    struct item *v;
    size_t n, cap;
};

static void items_free(struct items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        pg_labels_reset(&it->v[i].labels);
        free(it->v[i].owned);
    }
    free(it->v);
    memset(it, 0, sizeof(*it));
}

/* Appends a zeroed item and returns it, or NULL (OOM). */
static struct item *items_add(struct items *it)
{
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 4;
        struct item *v = realloc(it->v, nc * sizeof(*v));
        if (!v)
            return NULL;
        it->v = v;
        it->cap = nc;
    }
    struct item *x = &it->v[it->n++];
    memset(x, 0, sizeof(*x));
    pg_labels_init(&x->labels);
    return x;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

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

enum route { ROUTE_INGEST = 0, ROUTE_PUSH };
static const char *const route_name[] = {"ingest", "push"};

struct reqctx {
    struct pg_receiver *r;
    struct evhttp_request *req;
    enum route route;
    int json; /* push: answer success as JSON */
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
    if (c->route == ROUTE_PUSH) {
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
    if (status == 429)
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
    if (c->route == ROUTE_PUSH) {
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
        if (pg_ingest_base64_decode(p, strlen(p), &dec, &dl) < 0)
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

/* Runs the checks shared by both routes. Returns 0 with *body and *len (borrowed from the
 * request) and *tenant (borrowed header or NULL), or -1 after replying. */
static int common_checks(struct reqctx *c, const uint8_t **body, size_t *len, const char **tenant)
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
    if (t && !pg_ingest_tenant_valid(t)) {
        count_dropped(r, "invalid", 1);
        reply_error(c, 400, "invalid X-Scope-OrgID tenant id");
        return -1;
    }
    *tenant = t;
    uint64_t max = r->cfg->receiver_max_body_size;
    const char *cl = evhttp_find_header(in, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > max) {
        count_dropped(r, "too_large", 1);
        reply_error(c, 413, "request body too large: Content-Length %s over max_body_size %llu", cl,
                    (unsigned long long)max);
        return -1;
    }
    struct evbuffer *b = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(b);
    const char *lv[] = {route_name[c->route]};
    pg_metric_inc(r->m_bytes, lv, (double)n);
    if (n > max) {
        count_dropped(r, "too_large", 1);
        reply_error(c, 413, "request body too large: %zu bytes over max_body_size %llu", n,
                    (unsigned long long)max);
        return -1;
    }
    if (pg_app_buffer_full(r->app)) {
        count_dropped(r, "buffer_full", 1);
        reply_error(c, 429, "buffer over its high-water mark: retry later");
        return -1;
    }
    *body = n ? evbuffer_pullup(b, -1) : (const uint8_t *)"";
    *len = n;
    if (!*body) {
        reply_error(c, 503, "out of memory");
        return -1;
    }
    return 0;
}

/* Relabel filter: returns 1 when x is kept (its labels rewritten), 0 when dropped
 * (counted). */
static int relabel_keep(struct reqctx *c, struct item *x)
{
    struct pg_receiver *r = c->r;
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
static long store_items(struct reqctx *c, struct items *it, const char *tenant)
{
    struct pg_receiver *r = c->r;
    struct pg_sink_writer *w = pg_app_writer(r->app);
    size_t kept = 0, relabeled = 0;
    if (pg_sink_writer_begin_request(w) < 0)
        goto fail;
    for (size_t i = 0; i < it->n; i++) {
        struct item *x = &it->v[i];
        if (!relabel_keep(c, x)) {
            relabeled++;
            continue;
        }
        if (pg_sink_writer_append(w, &x->labels, pg_labels_get(&x->labels, "__name__"), x->from_ns,
                                  x->until_ns, tenant, x->body, x->len) < 0) {
            pg_sink_writer_end_request(w, 0);
            goto fail;
        }
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
static void store_and_reply(struct reqctx *c, struct items *it, const char *tenant)
{
    struct pg_receiver *r = c->r;
    long stored = store_items(c, it, tenant);
    if (stored < 0)
        return;
    size_t kept = (size_t)stored;
    if (kept && pg_sink_writer_commit(pg_app_writer(r->app)) < 0) {
        count_dropped(r, "storage", (double)kept);
        pg_log_error("receiver", "route=%s msg=\"commit failed\" profiles=%zu",
                     route_name[c->route], kept);
        reply_error(c, 503, "storage unavailable: could not commit the profiles");
        return;
    }
    const char *lv[] = {route_name[c->route]};
    pg_metric_inc(r->m_prof, lv, (double)kept);
    reply_ok(c);
}

/* ---- /ingest ---- */

static int gz_magic(const uint8_t *b, size_t n)
{
    return n >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

static void handle_ingest(struct evhttp_request *req, void *ud)
{
    struct reqctx c = {ud, req, ROUTE_INGEST, 0};
    struct pg_receiver *r = c.r;
    const uint8_t *body;
    size_t len;
    const char *tenant;
    if (common_checks(&c, &body, &len, &tenant) < 0)
        return;
    char err[512] = "";
    struct pg_ingest_params p;
    struct pg_labels display;
    pg_labels_init(&display);
    struct items it = {0};
    Perftools__Profiles__Profile *prof = NULL;
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    char *app = NULL;
    const char *uq = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (pg_ingest_parse_query(uq, now_ns(), &p, err, sizeof(err)) < 0) {
        count_dropped(r, "invalid", 1);
        reply_error(&c, 400, "failed to parse request metadata: %s", err);
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const uint8_t *pb = body; /* the profile bytes */
    size_t plen = len;
    int have_stcfg = 0;
    if (pg_ingest_is_multipart(ct)) {
        struct pg_ingest_part parts[MAX_PARTS];
        size_t np = 0;
        if (pg_ingest_multipart_parse(ct, body, len, parts, MAX_PARTS, &np, err, sizeof(err)) < 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "failed to parse multipart body: %s", err);
            goto out;
        }
        pb = NULL;
        plen = 0;
        for (size_t i = 0; i < np; i++) {
            if (!strcmp(parts[i].name, "profile")) {
                pb = parts[i].data;
                plen = parts[i].len;
            } else if (!strcmp(parts[i].name, "prev_profile") && parts[i].len) {
                count_dropped(r, "invalid", 1);
                reply_error(&c, 400,
                            "unsupported client version (prev_profile part): please update the "
                            "Pyroscope SDK");
                goto out;
            } else if (!strcmp(parts[i].name, "sample_type_config")) {
                if (pg_ingest_sample_type_config(parts[i].data, parts[i].len, &display, err,
                                                 sizeof(err)) < 0) {
                    count_dropped(r, "invalid", 1);
                    reply_error(&c, 400, "%s", err);
                    goto out;
                }
                have_stcfg = 1;
            }
        }
        if (!pb) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "multipart body has no \"profile\" part");
            goto out;
        }
        if (p.format == PG_INGEST_AUTO)
            p.format = PG_INGEST_PPROF;
    }
    if (plen == 0) {
        /* Pyroscope accepts an empty profile and stores nothing */
        count_dropped(r, "empty", 1);
        reply_ok(&c);
        goto out;
    }
    if (p.format == PG_INGEST_AUTO)
        p.format =
            gz_magic(pb, plen) || pg_pprof_check(pb, plen, NULL, r->cfg->receiver_max_body_size,
                                                 &raw, &rawlen, &prof, err, sizeof(err)) == 0
                ? PG_INGEST_PPROF
                : PG_INGEST_GROUPS;
    struct item *x = items_add(&it);
    if (!x) {
        reply_error(&c, 503, "out of memory");
        goto out;
    }
    x->from_ns = p.from_ns;
    x->until_ns = p.until_ns;
    char metric[128];
    if (p.format == PG_INGEST_PPROF) {
        if (!prof && pg_pprof_check(pb, plen, NULL, r->cfg->receiver_max_body_size, &raw, &rawlen,
                                    &prof, err, sizeof(err)) < 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "undecodable profile: %s", err);
            goto out;
        }
        if (!have_stcfg && pg_ingest_default_sample_types(&display) < 0) {
            reply_error(&c, 503, "out of memory");
            goto out;
        }
        if (pg_ingest_metric_name(prof, &display, metric, sizeof(metric), err, sizeof(err)) < 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "%s", err);
            goto out;
        }
        x->body = pb;
        x->len = plen;
        if (pg_ingest_series_labels(&p.labels, p.app, metric, p.spy_name, &x->labels) < 0) {
            reply_error(&c, 503, "out of memory");
            goto out;
        }
    } else {
        const char *m, *type, *unit;
        if (pg_ingest_legacy_type(p.app, &app, &m, &type, &unit, err, sizeof(err)) < 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "%s", err);
            goto out;
        }
        int frc =
            pg_folded_to_pprof(pb, plen, p.format == PG_INGEST_LINES, m, type, unit, p.sample_rate,
                               p.from_ns, p.until_ns, &x->owned, &x->len, err, sizeof(err));
        if (frc == -2) {
            count_dropped(r, "too_large", 1);
            reply_error(&c, 413, "%s", err);
            goto out;
        }
        if (frc < 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "undecodable profile: %s", err);
            goto out;
        }
        x->body = x->owned;
        if (pg_ingest_series_labels(&p.labels, app, m, p.spy_name, &x->labels) < 0) {
            reply_error(&c, 503, "out of memory");
            goto out;
        }
    }
    if (pg_ingest_validate_series(&x->labels, err, sizeof(err)) < 0) {
        count_dropped(r, "invalid", 1);
        reply_error(&c, 400, "%s", err);
        goto out;
    }
    store_and_reply(&c, &it, tenant);
out:
    items_free(&it);
    pg_pprof_free(prof);
    free(raw);
    free(app);
    pg_labels_reset(&display);
    pg_ingest_params_reset(&p);
}

/* ---- push.v1 Push ---- */

/* A label pair list from either encoding. */
struct lp {
    const char *name, *value;
};

/* Builds a validated label set from pairs. Returns 0 or -1 with err. */
static int build_labels(const struct lp *v, size_t n, struct pg_labels *out, char *err,
                        size_t errlen)
{
    if (n > PG_INGEST_MAX_LABEL_NAMES) {
        snprintf(err, errlen, "profile series has %zu label names; limit %d", n,
                 PG_INGEST_MAX_LABEL_NAMES);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k = v[i].name ? v[i].name : "", *val = v[i].value ? v[i].value : "";
        if (!pg_utf8_valid(k, strlen(k))) {
            snprintf(err, errlen, "invalid labels: label name is not valid UTF-8");
            return -1;
        }
        if (pg_labels_get(out, k)) {
            snprintf(err, errlen, "invalid labels: duplicate label name: '%.64s'", k);
            return -1;
        }
        if (pg_labels_set(out, k, val) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return pg_ingest_validate_series(out, err, errlen);
}

/* The decompressed-bytes budget of one push request (PG_RECEIVER_INFLATE_RATIO x
 * max_body_size over all its raw profiles). */
struct inflate_budget {
    uint64_t left, total;
};

static void inflate_budget_init(struct inflate_budget *b, uint64_t max_body)
{
    b->total = max_body > UINT64_MAX / PG_RECEIVER_INFLATE_RATIO
                   ? UINT64_MAX
                   : max_body * PG_RECEIVER_INFLATE_RATIO;
    b->left = b->total;
}

/* Validates one raw profile and adds it as an item, charging its decompressed size to
 * bud. Returns 0, -1 with err (invalid: 400) or -2 with err (the request's decompressed
 * budget is spent: 413). Takes ownership of owned. */
static int add_sample(struct pg_receiver *r, struct items *it, const struct pg_labels *ls,
                      const uint8_t *data, size_t len, uint8_t *owned, struct inflate_budget *bud,
                      char *err, size_t errlen)
{
    if (!len) {
        free(owned);
        snprintf(err, errlen, "empty raw profile");
        return -1;
    }
    uint8_t *raw = NULL;
    size_t rawlen;
    Perftools__Profiles__Profile *prof = NULL;
    uint64_t max = r->cfg->receiver_max_body_size;
    int by_budget = bud->left < max;
    uint64_t lim = by_budget ? bud->left : max;
    if (lim > SIZE_MAX)
        lim = SIZE_MAX;
    if (pg_pprof_check(data, len, NULL, (size_t)lim, &raw, &rawlen, &prof, err, errlen) < 0) {
        free(owned);
        if (by_budget && strstr(err, "exceeds limit")) {
            snprintf(err, errlen,
                     "the request's raw profiles decompress to more than %llu bytes in total "
                     "(%dx receiver.max_body_size)",
                     (unsigned long long)bud->total, PG_RECEIVER_INFLATE_RATIO);
            return -2;
        }
        return -1;
    }
    bud->left -= rawlen;
    struct item *x = items_add(it);
    if (!x || pg_labels_copy(&x->labels, ls) < 0) {
        free(owned);
        free(raw);
        pg_pprof_free(prof);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->from_ns = prof->time_nanos > 0 ? prof->time_nanos : now_ns();
    /* times from the wire: checked arithmetic (issue 15); the item is dropped with the
     * request (items_free) */
    if (__builtin_add_overflow(x->from_ns, prof->duration_nanos > 0 ? prof->duration_nanos : 0,
                               &x->until_ns)) {
        free(owned);
        free(raw);
        pg_pprof_free(prof);
        snprintf(err, errlen, "time_nanos + duration_nanos overflows 64-bit nanoseconds");
        return -1;
    }
    x->body = data;
    x->len = len;
    x->owned = owned;
    free(raw);
    pg_pprof_free(prof);
    return 0;
}

static int parse_push_proto(struct pg_receiver *r, const uint8_t *b, size_t n, struct items *it,
                            char *err, size_t errlen)
{
    Push__V1__PushRequest *pr = push__v1__push_request__unpack(NULL, n, b);
    if (!pr) {
        snprintf(err, errlen, "invalid protobuf: cannot decode push.v1.PushRequest");
        return -1;
    }
    int rc = 0;
    struct inflate_budget bud;
    inflate_budget_init(&bud, r->cfg->receiver_max_body_size);
    for (size_t s = 0; rc == 0 && s < pr->n_series; s++) {
        Push__V1__RawProfileSeries *se = pr->series[s];
        if (se->n_labels > PG_INGEST_MAX_LABEL_NAMES) {
            snprintf(err, errlen, "series %zu: profile series has %zu label names; limit %d", s,
                     se->n_labels, PG_INGEST_MAX_LABEL_NAMES);
            rc = -1;
            break;
        }
        struct lp v[PG_INGEST_MAX_LABEL_NAMES];
        for (size_t i = 0; i < se->n_labels; i++) {
            v[i].name = se->labels[i]->name;
            v[i].value = se->labels[i]->value;
        }
        struct pg_labels ls;
        pg_labels_init(&ls);
        char e2[400];
        if (build_labels(v, se->n_labels, &ls, e2, sizeof(e2)) < 0) {
            snprintf(err, errlen, "series %zu: %s", s, e2);
            rc = -1;
        }
        for (size_t k = 0; rc == 0 && k < se->n_samples; k++) {
            const ProtobufCBinaryData *d = &se->samples[k]->raw_profile;
            uint8_t *copy = d->len ? malloc(d->len) : NULL;
            if (d->len && !copy) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            if (copy)
                memcpy(copy, d->data, d->len);
            int arc = add_sample(r, it, &ls, copy, d->len, copy, &bud, e2, sizeof(e2));
            if (arc < 0) {
                snprintf(err, errlen, "series %zu sample %zu: %s", s, k, e2);
                rc = arc;
            }
        }
        pg_labels_reset(&ls);
    }
    push__v1__push_request__free_unpacked(pr, NULL);
    return rc;
}

static const char *json_str_field(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (!v && b)
        v = json_object_get(o, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int parse_push_json(struct pg_receiver *r, const uint8_t *b, size_t n, struct items *it,
                           char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)b, n, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "invalid JSON: %s", root ? "want an object" : je.text);
        json_decref(root);
        return -1;
    }
    int rc = 0;
    struct inflate_budget bud;
    inflate_budget_init(&bud, r->cfg->receiver_max_body_size);
    json_t *series = json_object_get(root, "series");
    if (series && !json_is_array(series)) {
        snprintf(err, errlen, "invalid JSON: series must be an array");
        rc = -1;
    }
    size_t s;
    json_t *se;
    json_array_foreach(series, s, se)
    {
        if (rc)
            break;
        json_t *labels = json_object_get(se, "labels");
        json_t *samples = json_object_get(se, "samples");
        if (!json_is_object(se) || (labels && !json_is_array(labels)) ||
            (samples && !json_is_array(samples))) {
            snprintf(err, errlen, "series %zu: invalid JSON shape", s);
            rc = -1;
            break;
        }
        size_t nl = json_array_size(labels);
        if (nl > PG_INGEST_MAX_LABEL_NAMES) {
            snprintf(err, errlen, "series %zu: profile series has %zu label names; limit %d", s, nl,
                     PG_INGEST_MAX_LABEL_NAMES);
            rc = -1;
            break;
        }
        struct lp v[PG_INGEST_MAX_LABEL_NAMES];
        for (size_t i = 0; i < nl; i++) {
            json_t *l = json_array_get(labels, i);
            v[i].name = json_is_object(l) ? json_str_field(l, "name", NULL) : NULL;
            v[i].value = json_is_object(l) ? json_str_field(l, "value", NULL) : NULL;
            if (!v[i].name || !v[i].value) {
                snprintf(err, errlen, "series %zu: label %zu needs string name and value", s, i);
                rc = -1;
            }
        }
        if (rc)
            break;
        struct pg_labels ls;
        pg_labels_init(&ls);
        char e2[400];
        if (build_labels(v, nl, &ls, e2, sizeof(e2)) < 0) {
            snprintf(err, errlen, "series %zu: %s", s, e2);
            rc = -1;
        }
        size_t k;
        json_t *sa;
        json_array_foreach(samples, k, sa)
        {
            if (rc)
                break;
            const char *b64 =
                json_is_object(sa) ? json_str_field(sa, "rawProfile", "raw_profile") : NULL;
            uint8_t *dec = NULL;
            size_t dl = 0;
            if (!b64 || pg_ingest_base64_decode(b64, strlen(b64), &dec, &dl) < 0) {
                snprintf(err, errlen, "series %zu sample %zu: rawProfile must be base64", s, k);
                rc = -1;
                break;
            }
            int arc = add_sample(r, it, &ls, dec, dl, dec, &bud, e2, sizeof(e2));
            if (arc < 0) {
                snprintf(err, errlen, "series %zu sample %zu: %s", s, k, e2);
                rc = arc;
            }
        }
        pg_labels_reset(&ls);
    }
    json_decref(root);
    return rc;
}

static void handle_push(struct evhttp_request *req, void *ud)
{
    struct reqctx c = {ud, req, ROUTE_PUSH, 0};
    struct pg_receiver *r = c.r;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(in, "Content-Type");
    if (ct && !strncasecmp(ct, "application/json", 16))
        c.json = 1;
    const uint8_t *body;
    size_t len;
    const char *tenant;
    if (common_checks(&c, &body, &len, &tenant) < 0)
        return;
    if (!ct || (!c.json && strncasecmp(ct, "application/proto", 17) != 0) ||
        (ct[c.json ? 16 : 17] != '\0' && ct[c.json ? 16 : 17] != ';')) {
        count_dropped(r, "invalid", 1);
        reply_error(&c, 415,
                    "unsupported Content-Type %s: want application/proto or application/json",
                    ct ? ct : "(none)");
        return;
    }
    char err[512] = "";
    uint8_t *plain = NULL;
    size_t plen = len;
    const char *ce = evhttp_find_header(in, "Content-Encoding");
    if (ce && strcasecmp(ce, "identity") != 0) {
        if (strcasecmp(ce, "gzip") != 0) {
            count_dropped(r, "invalid", 1);
            reply_error(&c, 400, "unsupported Content-Encoding %s: want gzip or identity", ce);
            return;
        }
        if (pg_pprof_gunzip(body, len, r->cfg->receiver_max_body_size, &plain, &plen, err,
                            sizeof(err)) < 0) {
            int big = strstr(err, "limit") != NULL || strstr(err, "exceed") != NULL;
            count_dropped(r, big ? "too_large" : "invalid", 1);
            reply_error(&c, big ? 413 : 400, "invalid gzip request body: %s", err);
            return;
        }
        body = plain;
    }
    struct items it = {0};
    int rc = c.json ? parse_push_json(r, body, plen, &it, err, sizeof(err))
                    : parse_push_proto(r, body, plen, &it, err, sizeof(err));
    if (rc == -2) {
        count_dropped(r, "too_large", 1);
        reply_error(&c, 413, "%s", err);
    } else if (rc < 0) {
        count_dropped(r, "invalid", 1);
        reply_error(&c, 400, "%s", err);
    } else {
        store_and_reply(&c, &it, tenant);
    }
    items_free(&it);
    free(plain);
}

/* ---- lifecycle ---- */

struct pg_receiver *pg_receiver_create(struct pg_app *app, struct pg_web *web,
                                       struct event_base *base, const struct pg_cfg *cfg, char *err,
                                       size_t errlen)
{
    struct pg_receiver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->app = app;
    r->web = web;
    r->base = base;
    r->cfg = cfg;
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
    if (pg_web_route(web, PG_RECEIVER_INGEST_PATH, handle_ingest, r) < 0) {
        snprintf(err, errlen, "out of memory");
        pg_receiver_destroy(r);
        return NULL;
    }
    r->have_ingest = 1;
    if (pg_web_route(web, PG_RECEIVER_PUSH_PATH, handle_push, r) < 0) {
        snprintf(err, errlen, "out of memory");
        pg_receiver_destroy(r);
        return NULL;
    }
    r->have_push = 1;
    int capped =
        pg_web_set_limits(web, cfg->receiver_max_connections, cfg->receiver_read_timeout_ms,
                          cfg->receiver_write_timeout_ms, cfg->receiver_max_body_size);
    pg_log_info("receiver",
                "routes=\"%s %s\" max_body_size=%llu users=%zu bearer_tokens=%zu "
                "relabel_rules=%zu max_connections=%s msg=\"receiver enabled\"",
                PG_RECEIVER_INGEST_PATH, PG_RECEIVER_PUSH_PATH,
                (unsigned long long)cfg->receiver_max_body_size, cfg->n_receiver_users,
                cfg->n_receiver_bearer_tokens, cfg->n_receiver_relabel,
                capped ? "enforced" : "not_enforced");
    return r;
}

void pg_receiver_destroy(struct pg_receiver *r)
{
    if (!r)
        return;
    if (r->have_ingest)
        pg_web_unroute(r->web, PG_RECEIVER_INGEST_PATH);
    if (r->have_push)
        pg_web_unroute(r->web, PG_RECEIVER_PUSH_PATH);
    free(r);
}

/* ---- in-process entry point for the fuzz harnesses (receiver_internal.h) ---- */

void pg_receiver_serve(struct pg_receiver *r, struct evhttp_request *req,
                       enum pg_receiver_route route)
{
    if (route == PG_RECEIVER_ROUTE_PUSH)
        handle_push(req, r);
    else
        handle_ingest(req, r);
}
