/* web.c - the HTTP server (see web.h): dispatch by path, the targets API in Prometheus's
 * /api/v1/targets shape, /metrics and the lifecycle endpoints. The pages (/ included) are
 * the web UI's routes (daemon/ui.h).
 *
 * Everything runs on the event loop; handlers answer immediately from in-memory state.
 * The daemon's state comes through the host interface (struct pg_web_host in web.h). */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "yamlcfg/units.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "cluster/cluster.h"
#include "core/workq.h"
#include "daemon/web_auth.h"
#include "daemon/web_config.h"
#include "daemon/web_gzip.h"
#include "daemon/web_tls.h"
#include "scraper/scraper.h"

/* Request line + headers (Go's http.Server allows 1 MB; 64 KiB is plenty for /ingest
 * URLs with labels and keeps 1024 slow clients under 64 MiB). */
#define PG_WEB_MAX_HEADERS_SIZE (64 * 1024)
/* bcrypt checks waiting or running; beyond, 503 (each costs 50-250 ms of CPU). One runs
 * at a time, on one worker (the exporter-toolkit serializes them with a mutex too), so a
 * flood of wrong passwords leaves the other workers to the scrapes. */
#define PG_WEB_MAX_AUTH_PENDING 16
/* remembered authentication outcomes */
#define PG_WEB_AUTH_CACHE 256

struct pg_web_route {
    char *path;
    pg_web_handler_fn fn;
    void *ud;
};

struct pg_web {
    struct event_base *base;
    struct pg_web_host host; /* copied; borrows host.scraper and host.ud */
    struct evhttp *http;
    struct pg_web_route *routes;
    size_t n_routes;
    /* connection cap for libevent 2.1 (no evhttp_set_max_connections): connections are
     * counted from their first request until they close; 0 = no cap */
    uint64_t max_conns;
    struct evhttp_connection **conns;
    size_t n_conns, cap_conns;
    struct pg_metric *m_rejected;
    int port;     /* bound TCP port, -1 when unknown */
    char *prefix; /* --web.route-prefix without the trailing slash, NULL for none */
    /* TLS: kept once made (the SSLs of open connections point at it); tls_on says whether
     * new connections use it */
    struct pg_web_tls *tls;
    int tls_on;
    /* --web.config.file: the loaded config (owned), its file's last-seen identity */
    struct pg_web_config *cfg;
    char *cfg_path;
    struct stat cfg_st;
    struct pg_web_auth *auth;
    struct auth_req *auth_running;            /* the check on a worker, or NULL */
    struct auth_req *auth_head, **auth_tailp; /* checks waiting for it, oldest first */
    size_t n_auth_pending;                    /* running + waiting */
    struct pg_metric *m_auth;
};

/* A request held while its bcrypt check waits or runs on a worker. w and req are NULL
 * once the server was destroyed under a running check (answered 503 then). */
struct auth_req {
    struct pg_web *w;
    struct evhttp_request *req;
    struct pg_web_auth_check *check;
    struct auth_req *next; /* in the waiting list */
};

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                       const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void reply_json(struct evhttp_request *req, int code, json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!s) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    pg_web_send_owned(req, code, code == 200 ? "OK" : "Bad Request", s, strlen(s));
}

static json_t *api_error(const char *type, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("error"));
    json_object_set_new(o, "errorType", json_string(type));
    json_object_set_new(o, "error", json_string(msg));
    return o;
}

/* json_string, but text that is not valid UTF-8 (a label value, a server's error text)
 * is shown with U+FFFD instead of being dropped (jansson refuses invalid UTF-8). */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    char *clean = pg_utf8_sanitize(s);
    j = json_string(clean ? clean : "");
    free(clean);
    return j;
}

static json_t *labels_json(const struct pg_labels *ls)
{
    json_t *o = json_object();
    for (size_t i = 0; ls && i < ls->n; i++)
        json_object_set_new(o, ls->v[i].name, jstr(ls->v[i].value));
    return o;
}

/* Go's time.Time JSON (RFC 3339 with fractional seconds, UTC); zero time when ms is 0. */
static void rfc3339(int64_t ms, char *out, size_t len)
{
    if (ms <= 0) {
        snprintf(out, len, "0001-01-01T00:00:00Z");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

struct targets_ctx {
    const char *pool; /* scrapePool filter or NULL */
    json_t *active, *dropped;
};

static void on_active(void *ud, const struct pg_scrape_target_info *t)
{
    struct targets_ctx *c = ud;
    if (c->pool && strcmp(c->pool, t->job) != 0)
        return;
    char ts[48], iv[32], to[32];
    rfc3339(t->last_scrape_ms, ts, sizeof(ts));
    pg_units_format_duration(t->interval_ms, iv, sizeof(iv));
    pg_units_format_duration(t->timeout_ms, to, sizeof(to));
    json_t *o = json_object();
    json_object_set_new(o, "discoveredLabels", labels_json(t->discovered));
    json_object_set_new(o, "labels", labels_json(t->labels));
    json_object_set_new(o, "scrapePool", jstr(t->job));
    json_object_set_new(o, "scrapeUrl", jstr(t->url));
    json_object_set_new(o, "globalUrl", jstr(t->url));
    json_object_set_new(o, "lastError", jstr(t->last_error));
    json_object_set_new(o, "lastScrape", json_string(ts));
    json_object_set_new(o, "lastScrapeDuration", json_real(t->last_duration_s));
    json_object_set_new(o, "health", json_string(t->health));
    json_object_set_new(o, "scrapeInterval", json_string(iv));
    json_object_set_new(o, "scrapeTimeout", json_string(to));
    json_object_set_new(o, "profileType", json_string(t->profile_type));
    json_array_append_new(c->active, o);
}

static void on_dropped(void *ud, const struct pg_scrape_dropped_info *t)
{
    struct targets_ctx *c = ud;
    if (c->pool && strcmp(c->pool, t->job) != 0)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "discoveredLabels", labels_json(t->discovered));
    json_object_set_new(o, "scrapePool", jstr(t->job));
    if (t->profile_type)
        json_object_set_new(o, "profileType", jstr(t->profile_type));
    if (t->rule >= 0) {
        char by[48];
        snprintf(by, sizeof(by), "relabel_configs[%ld]", t->rule);
        json_object_set_new(o, "droppedBy", json_string(by));
    } else if (t->reason) {
        json_object_set_new(o, "droppedBy", jstr(t->reason));
    }
    json_array_append_new(c->dropped, o);
}

static void handle_targets(struct pg_web *w, struct evhttp_request *req)
{
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && evhttp_parse_query_str(query, &q) < 0) {
        reply_json(req, 400, api_error("bad_data", "invalid query string"));
        return;
    }
    const char *state = evhttp_find_header(&q, "state");
    const char *pool = evhttp_find_header(&q, "scrapePool");
    int want_active = 1, want_dropped = 1;
    if (state && *state) {
        if (!strcasecmp(state, "active"))
            want_dropped = 0;
        else if (!strcasecmp(state, "dropped"))
            want_active = 0;
        else if (strcasecmp(state, "any") != 0) {
            evhttp_clear_headers(&q);
            reply_json(req, 400, api_error("bad_data", "state must be active, dropped or any"));
            return;
        }
    }
    struct targets_ctx c = {pool && *pool ? pool : NULL, json_array(), json_array()};
    struct pg_scraper *s = w->host.scraper;
    if (want_active)
        pg_scraper_foreach_active(s, on_active, &c);
    if (want_dropped)
        pg_scraper_foreach_dropped(s, on_dropped, &c);
    evhttp_clear_headers(&q);
    json_t *data = json_object(), *root = json_object();
    json_object_set_new(data, "activeTargets", c.active);
    json_object_set_new(data, "droppedTargets", c.dropped);
    json_object_set_new(root, "status", json_string("success"));
    json_object_set_new(root, "data", data);
    reply_json(req, 200, root);
}

static void on_peer(void *ud, const struct pg_cluster_peer_info *p)
{
    json_t *peers = ud, *o = json_object();
    char ts[48];
    rfc3339(p->last_probe_ms, ts, sizeof(ts));
    json_object_set_new(o, "address", jstr(p->address));
    json_object_set_new(o, "state", json_string(p->state));
    json_object_set_new(o, "self", json_boolean(p->self));
    json_object_set_new(o, "lastProbe", json_string(ts));
    json_object_set_new(o, "lastProbeDuration", json_real(p->last_duration_s));
    json_object_set_new(o, "lastError", jstr(p->last_error));
    json_object_set_new(o, "ownedTargets", json_integer((json_int_t)p->owned_targets));
    json_array_append_new(peers, o);
}

/* GET /api/v1/cluster: the members as this replica sees them. */
static void handle_cluster(struct pg_web *w, struct evhttp_request *req)
{
    struct pg_cluster *c = w->host.cluster ? w->host.cluster(w->host.ud) : NULL;
    json_t *data = json_object(), *root = json_object(), *peers = json_array();
    json_object_set_new(data, "enabled", json_boolean(c != NULL));
    json_object_set_new(data, "self", c ? jstr(pg_cluster_self(c)) : json_null());
    if (c)
        pg_cluster_foreach_peer(c, on_peer, peers);
    json_object_set_new(data, "peers", peers);
    json_object_set_new(root, "status", json_string("success"));
    json_object_set_new(root, "data", data);
    reply_json(req, 200, root);
}

static void handle_metrics(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || pg_metrics_render(b) < 0) {
        if (b)
            evbuffer_free(b);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void handle_reload(struct pg_web *w, struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m != EVHTTP_REQ_POST && m != EVHTTP_REQ_PUT) {
        reply_text(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                   "Only POST or PUT requests allowed\n");
        return;
    }
    if (!w->host.enable_lifecycle) {
        reply_text(req, 403, "Forbidden", "text/plain; charset=utf-8",
                   "Lifecycle API is not enabled.\n");
        return;
    }
    char err[4096];
    if (w->host.reload(w->host.ud, err, sizeof(err)) < 0) {
        size_t n = strlen(err) + 64;
        char *msg = malloc(n);
        if (!msg) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        snprintf(msg, n, "failed to reload config: %s\n", err);
        reply_text(req, 500, "Internal Server Error", "text/plain; charset=utf-8", msg);
        free(msg);
        return;
    }
    reply_text(req, 200, "OK", "text/plain; charset=utf-8", "");
}

static void on_conn_close(struct evhttp_connection *evcon, void *ud)
{
    struct pg_web *w = ud;
    for (size_t i = 0; i < w->n_conns; i++)
        if (w->conns[i] == evcon) {
            w->conns[i] = w->conns[--w->n_conns];
            return;
        }
}

/* Counts req's connection against max_conns. Returns 0 when the request may proceed, -1
 * when it was answered 503 (too many connections; the connection is then closed). */
static int admit_connection(struct pg_web *w, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!w->max_conns || !evcon)
        return 0;
    for (size_t i = 0; i < w->n_conns; i++)
        if (w->conns[i] == evcon)
            return 0;
    if (w->n_conns >= w->max_conns) {
        pg_metric_inc(w->m_rejected, NULL, 1);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "too many open connections (receiver.max_connections)\n");
        return -1;
    }
    if (w->n_conns == w->cap_conns) {
        size_t cap = w->cap_conns ? w->cap_conns * 2 : 64;
        struct evhttp_connection **v = realloc(w->conns, cap * sizeof(*v));
        if (!v)
            return 0; /* not counted; better than refusing on OOM */
        w->conns = v;
        w->cap_conns = cap;
    }
    w->conns[w->n_conns++] = evcon;
    evhttp_connection_set_closecb(evcon, on_conn_close, w);
    return 0;
}

/* Takes the route prefix off *path. Returns 0, or -1 when req was answered (a redirect
 * from the prefix to the prefix with a slash, or 404 outside the prefix). */
static int strip_prefix(struct pg_web *w, struct evhttp_request *req, const char **path)
{
    size_t n = strlen(w->prefix);
    if (strncmp(*path, w->prefix, n) == 0 && (*path)[n] == '/') {
        *path += n;
        return 0;
    }
    if (strcmp(*path, w->prefix) == 0) {
        char loc[1024];
        snprintf(loc, sizeof(loc), "%s/", w->prefix);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
        reply_text(req, 302, "Found", "text/plain; charset=utf-8", "");
        return -1;
    }
    reply_text(req, 404, "Not Found", "text/plain; charset=utf-8", "404 page not found\n");
    return -1;
}

/* Answers req from the routes and the built-in endpoints (authentication passed). */
static void serve(struct pg_web *w, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    if (w->prefix && strip_prefix(w, req, &path) < 0)
        return;
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].path, path) == 0) {
            w->routes[i].fn(req, w->routes[i].ud);
            return;
        }
    if (w->host.routes_only) {
        reply_text(req, 404, "Not Found", "text/plain; charset=utf-8", "404 page not found\n");
        return;
    }
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    if (!strcmp(path, "/-/reload")) {
        handle_reload(w, req);
    } else if (!get && (!strcmp(path, "/-/healthy") || !strcmp(path, "/-/ready") ||
                        !strcmp(path, "/metrics") || !strcmp(path, "/api/v1/targets") ||
                        !strcmp(path, "/api/v1/cluster"))) {
        reply_text(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                   "method not allowed\n");
    } else if (!strcmp(path, "/-/healthy")) {
        reply_text(req, 200, "OK", "text/plain; charset=utf-8", "profgate is Healthy.\n");
    } else if (!strcmp(path, "/-/ready")) {
        if (w->host.ready(w->host.ud))
            reply_text(req, 200, "OK", "text/plain; charset=utf-8", "profgate is Ready.\n");
        else
            reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                       "Service Unavailable\n");
    } else if (!strcmp(path, "/metrics")) {
        handle_metrics(req);
    } else if (!strcmp(path, "/api/v1/targets")) {
        handle_targets(w, req);
    } else if (!strcmp(path, "/api/v1/cluster")) {
        handle_cluster(w, req);
    } else {
        reply_text(req, 404, "Not Found", "text/plain; charset=utf-8", "404 page not found\n");
    }
}

/* ---- TLS and the web config file ---- */

/* A connection's bufferevent: TLS (accepting) while TLS is on, else plain. */
static struct bufferevent *make_bev(struct event_base *base, void *ud);

int pg_web_set_tls(struct pg_web *w, const struct pg_cfg_tls_server *tls, const char *listener,
                   char *err, size_t errlen)
{
    if (!tls) {
        w->tls_on = 0;
        return 0;
    }
    if (w->tls) {
        if (pg_web_tls_update(w->tls, tls, err, errlen) < 0)
            return -1;
    } else if (!(w->tls = pg_web_tls_new(tls, listener, err, errlen))) {
        return -1;
    }
    w->tls_on = 1;
    evhttp_set_bevcb(w->http, make_bev, w);
    return 0;
}

/* Makes c (owned on success) w's web config: its TLS settings and users. Returns 0, or
 * -1 with err set (w unchanged; c still the caller's). */
static int apply_config(struct pg_web *w, struct pg_web_config *c, char *err, size_t errlen)
{
    if (!w->auth && !(w->auth = pg_web_auth_new(PG_WEB_AUTH_CACHE))) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    char terr[512];
    if (pg_web_set_tls(w, c->tls_on ? &c->tls : NULL, "web", terr, sizeof(terr)) < 0) {
        pg_errmsg_set(err, errlen, "%s: tls_server_config: %s", c->file, terr);
        return -1;
    }
    pg_web_auth_clear(w->auth);
    pg_web_config_free(w->cfg);
    w->cfg = c;
    return 0;
}

static void log_config_errors(const struct pg_cfg_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        pg_log_error("web",
                     "msg=\"web config file changed but does not load; keeping the previous one\" "
                     "err=\"%s:%d:%d: %s\"",
                     errs->v[i].file ? errs->v[i].file : "?", errs->v[i].line, errs->v[i].col,
                     errs->v[i].msg);
}

/* Loads the web config file again when it changed since the last look (the toolkit
 * reads it on every request). */
static void refresh_config(struct pg_web *w)
{
    struct stat st;
    if (!w->cfg_path || stat(w->cfg_path, &st) != 0)
        return;
    if (st.st_ino == w->cfg_st.st_ino && st.st_size == w->cfg_st.st_size &&
        st.st_mtim.tv_sec == w->cfg_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == w->cfg_st.st_mtim.tv_nsec)
        return;
    w->cfg_st = st;
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_web_config *c = pg_web_config_load(w->cfg_path, &errs);
    char err[512];
    if (!c) {
        log_config_errors(&errs);
    } else if (apply_config(w, c, err, sizeof(err)) < 0) {
        pg_log_error("web",
                     "msg=\"web config file changed but does not apply; keeping the previous "
                     "one\" err=\"%s\"",
                     err);
        pg_web_config_free(c);
    } else {
        pg_log_info("web", "file=%s users=%zu tls=%s msg=\"web config file reloaded\"", w->cfg_path,
                    c->n_users, c->tls_on ? "on" : "off");
    }
    pg_cfg_errors_reset(&errs);
}

static struct bufferevent *make_bev(struct event_base *base, void *ud)
{
    struct pg_web *w = ud;
    refresh_config(w);
    if (!w->tls_on)
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    /* on failure (OOM) evhttp makes a plain bufferevent itself; refuse_plain closes it */
    SSL *ssl = pg_web_tls_new_ssl(w->tls);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int pg_web_use_config(struct pg_web *w, const char *path, char *err, size_t errlen)
{
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct stat st;
    int have_st = stat(path, &st) == 0;
    struct pg_web_config *c = pg_web_config_load(path, &errs);
    if (!c) {
        size_t off = 0;
        pg_errmsg_set(err, errlen, "%s", "");
        for (size_t i = 0; i < errs.n && off < errlen; i++) {
            int n = snprintf(err + off, errlen - off, "%s%s:%d:%d: %s", i ? "\n" : "",
                             errs.v[i].file ? errs.v[i].file : "?", errs.v[i].line, errs.v[i].col,
                             errs.v[i].msg);
            off += n > 0 ? (size_t)n : 0;
        }
        pg_cfg_errors_reset(&errs);
        return -1;
    }
    pg_cfg_errors_reset(&errs);
    char *p = strdup(path);
    if (!p || apply_config(w, c, err, errlen) < 0) {
        if (!p)
            pg_errmsg_set(err, errlen, "out of memory");
        free(p);
        pg_web_config_free(c);
        return -1;
    }
    free(w->cfg_path);
    w->cfg_path = p;
    if (have_st)
        w->cfg_st = st;
    if (!w->m_auth)
        w->m_auth = pg_metric_counter(
            "profgate_http_basic_auth_total",
            "Basic authentication decisions on the web port for requests with Basic "
            "credentials: result is success or failure, source is cache or bcrypt (a bcrypt "
            "comparison ran on a worker).",
            "result,source");
    evhttp_set_bevcb(w->http, make_bev, w); /* picks up a TLS config added later */
    pg_log_info("web", "file=%s users=%zu tls=%s msg=\"web config file loaded\"", path, c->n_users,
                c->tls_on ? "on" : "off");
    return 0;
}

/* ---- authentication ---- */

static void count_auth(struct pg_web *w, int ok, const char *source)
{
    const char *lv[] = {ok ? "success" : "failure", source};
    pg_metric_inc(w->m_auth, lv, 1);
}

static void unauthorized(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Basic");
    reply_text(req, 401, "Unauthorized", "text/plain; charset=utf-8", "Unauthorized\n");
}

static void auth_work(void *arg)
{
    struct auth_req *a = arg;
    pg_web_auth_verify(a->check);
}

/* Answers a's request from its check's outcome and frees a. */
static void auth_finish(struct pg_web *w, struct auth_req *a, const char *source)
{
    count_auth(w, a->check->ok, source);
    if (a->check->ok)
        serve(w, a->req);
    else
        unauthorized(a->req);
    pg_web_auth_check_free(a->check);
    free(a);
    w->n_auth_pending--;
}

static void auth_done(void *arg, enum pg_workq_status st);

/* Starts the oldest waiting check when none runs. One decided meanwhile by the cache (the
 * same credentials checked just before) is answered without a bcrypt. */
static void auth_kick(struct pg_web *w)
{
    while (!w->auth_running && w->auth_head) {
        struct auth_req *a = w->auth_head;
        if (!(w->auth_head = a->next))
            w->auth_tailp = &w->auth_head;
        a->next = NULL;
        int known = pg_web_auth_recall(w->auth, a->check);
        if (known >= 0) {
            a->check->ok = known;
            auth_finish(w, a, "cache");
        } else if (pg_workq_submit_urgent(w->host.workq, auth_work, auth_done, a) == 0) {
            w->auth_running = a; /* bounded by PG_WEB_MAX_AUTH_PENDING: outside the cap */
        } else {
            evhttp_add_header(evhttp_request_get_output_headers(a->req), "Retry-After", "1");
            reply_text(a->req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                       "cannot check credentials now: retry later\n");
            pg_web_auth_check_free(a->check);
            free(a);
            w->n_auth_pending--;
        }
    }
}

/* Back on the loop: remember the outcome, answer the request, start the next check. */
static void auth_done(void *arg, enum pg_workq_status st)
{
    struct auth_req *a = arg;
    struct pg_web *w = a->w;
    if (!w) { /* the server is gone; the request was answered then */
        pg_web_auth_check_free(a->check);
        free(a);
        return;
    }
    w->auth_running = NULL;
    if (st == PG_WORKQ_DONE) {
        pg_web_auth_remember(w->auth, a->check);
        auth_finish(w, a, "bcrypt");
    } else {
        reply_text(a->req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "profgate is shutting down\n");
        pg_web_auth_check_free(a->check);
        free(a);
        w->n_auth_pending--;
    }
    auth_kick(w);
}

/* Queues check (owned) for req. Returns 0, or -1 when PG_WEB_MAX_AUTH_PENDING checks are
 * pending or memory ran out (check freed; req not answered). */
static int auth_submit(struct pg_web *w, struct evhttp_request *req, struct pg_web_auth_check *c)
{
    struct auth_req *a = calloc(1, sizeof(*a));
    if (!a || w->n_auth_pending >= PG_WEB_MAX_AUTH_PENDING) {
        free(a);
        pg_web_auth_check_free(c);
        return -1;
    }
    *a = (struct auth_req){.w = w, .req = req, .check = c};
    *w->auth_tailp = a;
    w->auth_tailp = &a->next;
    w->n_auth_pending++;
    auth_kick(w);
    return 0;
}

/* Serves req when its credentials are right: at once from the cache, or after a bcrypt
 * check on a worker. */
static void authenticate(struct pg_web *w, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    struct pg_web_auth_check *c = NULL;
    int rc = pg_web_auth_lookup(w->auth, w->cfg, h, &c);
    if (rc == PG_WEB_AUTH_NO_CREDENTIALS) {
        unauthorized(req);
        return;
    }
    if (rc >= 0) {
        count_auth(w, rc, "cache");
        if (rc)
            serve(w, req);
        else
            unauthorized(req);
        return;
    }
    if (!w->host.workq) { /* no workers (tests): decide here */
        pg_web_auth_verify(c);
        pg_web_auth_remember(w->auth, c);
        count_auth(w, c->ok, "bcrypt");
        if (c->ok)
            serve(w, req);
        else
            unauthorized(req);
        pg_web_auth_check_free(c);
        return;
    }
    if (auth_submit(w, req, c) < 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "too many authentication checks in progress: retry later\n");
    }
}

/* When TLS is on, a connection without it (evhttp made a plain one after an allocation
 * failure, or TLS was turned on after it opened) is answered 400 and closed. Returns 1
 * when req was refused so. */
static int refuse_plain(struct pg_web *w, struct evhttp_request *req)
{
    if (!w->tls_on)
        return 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev && bufferevent_openssl_get_ssl(bev))
        return 0;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    reply_text(req, 400, "Bad Request", "text/plain; charset=utf-8",
               "Client sent an HTTP request to an HTTPS server.\n");
    return 1;
}

static void on_request(struct evhttp_request *req, void *ud)
{
    struct pg_web *w = ud;
    if (admit_connection(w, req) < 0 || refuse_plain(w, req))
        return;
    refresh_config(w);
    if (w->cfg && w->cfg->n_users)
        authenticate(w, req);
    else
        serve(w, req);
}

/* Splits "host:port", "[v6]:port" or ":port" into host (default 0.0.0.0) and port. */
static int parse_address(const char *addr, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(colon - addr), addr);
        if (!*host)
            snprintf(host, hostlen, "0.0.0.0");
    }
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

struct pg_web *pg_web_create(struct event_base *base, const struct pg_web_host *host,
                             const char *address, char *err, size_t errlen)
{
    char bind_host[256];
    unsigned port;
    if (parse_address(address, bind_host, sizeof(bind_host), &port) < 0) {
        pg_errmsg_set(err, errlen, "--web.listen-address %s: want host:port", address);
        return NULL;
    }
    struct pg_web *w = calloc(1, sizeof(*w));
    if (!w) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    w->base = base;
    w->host = *host;
    w->auth_tailp = &w->auth_head;
    if (!(w->http = evhttp_new(base))) {
        pg_errmsg_set(err, errlen, "out of memory");
        pg_web_destroy(w);
        return NULL;
    }
    evhttp_set_allowed_methods(w->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    evhttp_set_gencb(w->http, on_request, w);
    /* bound what a client can make us buffer before any handler (or auth) runs: the
     * request line and headers (libevent's default is unlimited); bodies are bounded by
     * pg_web_set_limits / evhttp's default */
    evhttp_set_max_headers_size(w->http, PG_WEB_MAX_HEADERS_SIZE);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(w->http, bind_host, (ev_uint16_t)port);
    if (!bs) {
        pg_errmsg_set(err, errlen, "listen on %s: cannot bind (address in use or not available)",
                      address);
        pg_web_destroy(w);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char shown[300];
    snprintf(shown, sizeof(shown), "%s", address);
    w->port = -1;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            snprintf(shown, sizeof(shown), "%s:%u", ip, ntohs(s4->sin_port));
            w->port = ntohs(s4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            snprintf(shown, sizeof(shown), "[%s]:%u", ip, ntohs(s6->sin6_port));
            w->port = ntohs(s6->sin6_port);
        }
    }
    pg_log_info("web", "address=%s msg=\"listening\"", shown);
    return w;
}

int pg_web_route(struct pg_web *w, const char *path, pg_web_handler_fn fn, void *ud)
{
    struct pg_web_route *r = realloc(w->routes, (w->n_routes + 1) * sizeof(*r));
    if (!r)
        return -1;
    w->routes = r;
    if (!(r[w->n_routes].path = strdup(path)))
        return -1;
    r[w->n_routes].fn = fn;
    r[w->n_routes].ud = ud;
    w->n_routes++;
    return 0;
}

void pg_web_unroute(struct pg_web *w, const char *path)
{
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].path, path) == 0) {
            free(w->routes[i].path);
            memmove(&w->routes[i], &w->routes[i + 1], (w->n_routes - i - 1) * sizeof(*w->routes));
            w->n_routes--;
            return;
        }
}

int pg_web_set_limits(struct pg_web *w, uint64_t max_connections, int64_t read_timeout_ms,
                      int64_t write_timeout_ms, uint64_t max_body_size)
{
    evhttp_set_max_body_size(
        w->http, max_body_size > (uint64_t)EV_SSIZE_MAX ? EV_SSIZE_MAX : (ev_ssize_t)max_body_size);
    evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
#if LIBEVENT_VERSION_NUMBER >= 0x02020000
    struct timeval rt = {read_timeout_ms / 1000, (read_timeout_ms % 1000) * 1000};
    struct timeval wt = {write_timeout_ms / 1000, (write_timeout_ms % 1000) * 1000};
    evhttp_set_read_timeout_tv(w->http, &rt);
    evhttp_set_write_timeout_tv(w->http, &wt);
    evhttp_set_max_connections(w->http, max_connections > INT_MAX ? INT_MAX : (int)max_connections);
    return 1;
#else
    /* libevent 2.1: no connection cap in evhttp; count connections ourselves
     * (admit_connection) and answer 503 to a new connection's first request */
    w->max_conns = max_connections;
    w->m_rejected =
        pg_metric_counter("profgate_http_rejected_connections_total",
                          "Connections refused because max_connections was reached.", NULL);
    int64_t ms = read_timeout_ms > write_timeout_ms ? read_timeout_ms : write_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evhttp_set_timeout_tv(w->http, &tv);
    return 1;
#endif
}

int pg_web_set_route_prefix(struct pg_web *w, const char *prefix)
{
    free(w->prefix);
    w->prefix = NULL;
    if (!prefix)
        return 0;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    if (n == 0)
        return 0;
    if (!(w->prefix = malloc(n + 2)))
        return -1;
    snprintf(w->prefix, n + 2, "%s%.*s", prefix[0] == '/' ? "" : "/", (int)n, prefix);
    return 0;
}

int pg_web_port(const struct pg_web *w)
{
    return w->port;
}

void pg_web_destroy(struct pg_web *w)
{
    if (!w)
        return;
    /* answer the requests whose credentials a worker still checks before evhttp frees
     * them; the check's completion then only frees it */
    if (w->auth_running) {
        struct auth_req *a = w->auth_running;
        reply_text(a->req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "profgate is shutting down\n");
        a->w = NULL;
        a->req = NULL;
    }
    while (w->auth_head) {
        struct auth_req *a = w->auth_head;
        w->auth_head = a->next;
        reply_text(a->req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                   "profgate is shutting down\n");
        pg_web_auth_check_free(a->check);
        free(a);
    }
    if (w->http)
        evhttp_free(w->http); /* runs on_conn_close for open connections, frees the SSLs */
    pg_web_tls_free(w->tls);
    pg_web_config_free(w->cfg);
    pg_web_auth_free(w->auth);
    free(w->cfg_path);
    free(w->conns);
    free(w->prefix);
    for (size_t i = 0; i < w->n_routes; i++)
        free(w->routes[i].path);
    free(w->routes);
    free(w);
}
