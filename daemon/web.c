/* web.c - the HTTP server (see web.h): dispatch by path, the targets API in Prometheus's
 * /api/v1/targets shape, /metrics, lifecycle endpoints and a small human status page.
 *
 * Everything runs on the event loop; handlers answer immediately from in-memory state.
 * The daemon's state comes through the host interface (struct pg_web_host in web.h). */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "yamlcfg/units.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "cluster/cluster.h"
#include "scraper/scraper.h"

/* Request line + headers (Go's http.Server allows 1 MB; 64 KiB is plenty for /ingest
 * URLs with labels and keeps 1024 slow clients under 64 MiB). */
#define PG_WEB_MAX_HEADERS_SIZE (64 * 1024)

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
    int port; /* bound TCP port, -1 when unknown */
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
    reply_text(req, code, code == 200 ? "OK" : "Bad Request", "application/json", s);
    free(s);
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

static void html_escape(struct evbuffer *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': evbuffer_add(b, "&lt;", 4); break;
        case '>': evbuffer_add(b, "&gt;", 4); break;
        case '&': evbuffer_add(b, "&amp;", 5); break;
        case '"': evbuffer_add(b, "&quot;", 6); break;
        default: evbuffer_add(b, s, 1);
        }
    }
}

static void on_active_html(void *ud, const struct pg_scrape_target_info *t)
{
    struct evbuffer *b = ud;
    char ts[48];
    rfc3339(t->last_scrape_ms, ts, sizeof(ts));
    evbuffer_add_printf(b, "<tr class=\"%s\"><td>", t->health);
    html_escape(b, t->job);
    evbuffer_add_printf(b, "</td><td>");
    html_escape(b, t->url);
    evbuffer_add_printf(b, "</td><td>");
    html_escape(b, t->profile_type);
    evbuffer_add_printf(b, "</td><td>%s</td><td>%s</td><td>%.3fs</td><td>", t->health, ts,
                        t->last_duration_s);
    html_escape(b, t->last_error);
    evbuffer_add_printf(b, "</td></tr>\n");
}

static void handle_index(struct pg_web *w, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_printf(b,
                        "<!doctype html><html><head><meta charset=\"utf-8\"><title>profgate"
                        "</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;"
                        "text-align:left}tr.down{background:#fdd}tr.up{background:#dfd}"
                        "</style></head><body><h1>profgate %s</h1><p>config: ",
                        PG_VERSION);
    html_escape(b, w->host.config_file(w->host.ud));
    evbuffer_add_printf(b, " &middot; <a href=\"/metrics\">metrics</a> &middot; "
                           "<a href=\"/api/v1/targets\">targets API</a></p>"
                           "<table><tr><th>job</th><th>endpoint</th><th>type</th><th>state</th>"
                           "<th>last scrape</th><th>duration</th><th>error</th></tr>\n");
    pg_scraper_foreach_active(w->host.scraper, on_active_html, b);
    evbuffer_add_printf(b, "</table></body></html>\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/html; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
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

static void on_request(struct evhttp_request *req, void *ud)
{
    struct pg_web *w = ud;
    if (admit_connection(w, req) < 0)
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    for (size_t i = 0; i < w->n_routes; i++)
        if (strcmp(w->routes[i].path, path) == 0) {
            w->routes[i].fn(req, w->routes[i].ud);
            return;
        }
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    if (!strcmp(path, "/-/reload")) {
        handle_reload(w, req);
    } else if (!get && (!strcmp(path, "/-/healthy") || !strcmp(path, "/-/ready") ||
                        !strcmp(path, "/metrics") || !strcmp(path, "/api/v1/targets") ||
                        !strcmp(path, "/api/v1/cluster") || !strcmp(path, "/"))) {
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
    } else if (!strcmp(path, "/")) {
        handle_index(w, req);
    } else {
        reply_text(req, 404, "Not Found", "text/plain; charset=utf-8", "404 page not found\n");
    }
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

int pg_web_port(const struct pg_web *w)
{
    return w->port;
}

void pg_web_destroy(struct pg_web *w)
{
    if (!w)
        return;
    if (w->http)
        evhttp_free(w->http); /* runs on_conn_close for open connections */
    free(w->conns);
    for (size_t i = 0; i < w->n_routes; i++)
        free(w->routes[i].path);
    free(w->routes);
    free(w);
}
