/* web.h - profgate's HTTP server (libevent evhttp): status API, metrics, lifecycle.
 *
 * Routes (Prometheus's spelling and shapes): GET /api/v1/targets (?state=active|dropped|any,
 * ?scrapePool=JOB), GET /api/v1/cluster (the cluster members), GET /metrics (text format 0.0.4),
 * GET /-/healthy, GET /-/ready, POST|PUT /-/reload. Other components add their own routes with
 * pg_web_route (the web UI's pages, / included, and its API; the receiver's /ingest and
 * push.v1 routes); a path nobody serves gets 404.
 *
 * The server knows the daemon only through struct pg_web_host (readiness, reload, the
 * scrape pools, the cluster), which the wiring (daemon/app.c) fills in: web
 * never includes daemon/app.h.
 *
 * Protection (Prometheus's --web.config.file and --web.enable-lifecycle):
 * pg_web_use_config applies an exporter-toolkit web config file (daemon/web_config.h):
 * TLS on the listener (daemon/web_tls.h) and HTTP basic authentication of every request
 * against bcrypt hashes (daemon/web_auth.h; a missing or wrong credential gets 401 with
 * WWW-Authenticate: Basic; bcrypt runs on the host's workers, outcomes are cached). The
 * file is re-read when it changes. POST|PUT /-/reload answers 403 "Lifecycle API is not
 * enabled." unless host.enable_lifecycle. pg_web_set_tls puts TLS alone on a listener (the
 * receiver's own port). When TLS is on, a request that arrives over plain HTTP anyway
 * gets 400 and the connection is closed. */
#ifndef PG_DAEMON_WEB_H
#define PG_DAEMON_WEB_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_request;
struct pg_cfg_tls_server;
struct pg_cluster;
struct pg_scraper;
struct pg_web;
struct pg_workq;

/* What the server needs from the daemon it serves. Fixed for the server's lifetime:
 * scraper (borrowed) and the callbacks; state that a reload changes is asked through the
 * callbacks on ud (borrowed). pg_web_create copies the struct; scraper and ud must
 * outlive the server. */
struct pg_web_host {
    void *ud;                                          /* passed to every callback */
    struct pg_scraper *scraper;                        /* /api/v1/targets */
    int (*ready)(void *ud);                            /* 1: /-/ready answers 200 */
    int (*reload)(void *ud, char *err, size_t errlen); /* /-/reload: 0, or -1 + err */
    /* bcrypt checks run here; NULL = on the loop (tests) */
    struct pg_workq *workq;
    int enable_lifecycle; /* --web.enable-lifecycle: /-/reload allowed */
    /* 1: serve only the routes added with pg_web_route (404 for the rest): a listener of
     * its own for the receiver; scraper and the callbacks may then be NULL */
    int routes_only;
    struct pg_cluster *(*cluster)(void *ud); /* /api/v1/cluster: the running cluster or NULL
                                                (disabled); may be NULL itself */
};

/* Handles one request; the handler must send a reply (now or later). */
typedef void (*pg_web_handler_fn)(struct evhttp_request *req, void *ud);

/* Listens on address ("host:port", "[v6]:port" or ":port"; port 0 picks a free one) and
 * serves host's state (the struct is copied; see struct pg_web_host for what it borrows).
 * Returns NULL with a reason in err on failure. */
struct pg_web *pg_web_create(struct event_base *base, const struct pg_web_host *host,
                             const char *address, char *err, size_t errlen);

/* Adds an exact-path route (path copied). Returns 0 or -1. */
int pg_web_route(struct pg_web *w, const char *path, pg_web_handler_fn fn, void *ud);

/* Removes the route for path, if any. */
void pg_web_unroute(struct pg_web *w, const char *path);

/* Applies the receiver's server limits to every connection: read/write timeouts (ms),
 * the largest request body (bigger ones get libevent's 413, with lingering close so the
 * client reads it) and the connection cap. With libevent >= 2.2 evhttp enforces the cap;
 * with 2.1 this server counts a connection from its first request until it closes and
 * answers a new connection's first request 503 (then closes it) while max_connections
 * are open; 2.1's single timeout is then the larger of the two. Returns 1. */
int pg_web_set_limits(struct pg_web *w, uint64_t max_connections, int64_t read_timeout_ms,
                      int64_t write_timeout_ms, uint64_t max_body_size);

/* Serves w with TLS from tls (copied; NULL = plain HTTP again); listener names it in
 * metrics and logs ("receiver"). The certificate files are re-read when they change.
 * Returns 0, or -1 with a reason in err (naming the file) and w unchanged. */
int pg_web_set_tls(struct pg_web *w, const struct pg_cfg_tls_server *tls, const char *listener,
                   char *err, size_t errlen);

/* Applies the web config file at path (TLS and basic_auth_users; daemon/web_config.h) to
 * w and watches it: when the file changes it is loaded again and applied (a version that
 * does not load is logged and the previous one kept). Returns 0, or -1 with every problem
 * (file:line:col: message lines) in err. */
int pg_web_use_config(struct pg_web *w, const char *path, char *err, size_t errlen);
/* Serves every route under prefix (Prometheus's --web.route-prefix): "/pg" serves
 * /pg/metrics, /pg/api/v1/targets, ...; a request for "/pg" itself is redirected to "/pg/",
 * and paths outside the prefix get 404. NULL, "" or "/" serve from the root. The prefix is
 * copied (without a trailing slash). Returns 0 or -1 (OOM). */
int pg_web_set_route_prefix(struct pg_web *w, const char *prefix);

/* Returns the TCP port w listens on (useful after asking for port 0), or -1. */
int pg_web_port(const struct pg_web *w);

/* Stops listening and frees w. Accepts NULL. */
void pg_web_destroy(struct pg_web *w);

#endif
