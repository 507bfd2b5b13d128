/* app.h - the running daemon: one event loop wiring config, discovery, scraper, buffer,
 * backends and the HTTP server together.
 *
 * pg_app_create loads nothing itself: it takes a validated config, opens the buffer,
 * starts one forwarding queue per remote_write entry, the scraper and the discovery
 * manager. Reload (SIGHUP, POST /-/reload) builds the new config first; only when it is
 * valid does the app swap: the scraper takes the new jobs (unchanged targets keep their
 * loops), a new discovery manager replaces the old one, and buffer and queues are
 * rebuilt only when storage or remote_write changed, and the cluster (if enabled) takes
 * the new block keeping its members' probe state. A bad config is logged in full and
 * the old one keeps running. SIGTERM/SIGINT stop scraping, flush the buffer's pending
 * batch and leave the loop.
 *
 * Layering inside daemon/: the app is the wiring and the only file that sees struct
 * pg_app; it includes web.h and receiver.h and hands them narrow host interfaces
 * (struct pg_web_host, struct pg_receiver_host). web and the receiver never include
 * this header.
 *
 * Listeners: the web port (--web.listen-address, protected by --web.config.file) serves
 * the API, /metrics, the UI and, by default, the receiver's routes; with
 * receiver.listen_address the receiver gets a listener of its own (its routes only, with
 * receiver.tls_server_config and the receiver's max_connections and timeouts). A reload
 * that changes receiver.listen_address closes the receiver's listener (requests in flight
 * are answered 503) and opens the new one; a changed tls_server_config applies to new
 * connections. */
#ifndef PG_DAEMON_APP_H
#define PG_DAEMON_APP_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct event_base;
struct pg_app;
struct pg_receiver_host;
struct pg_web_host;

/* Command-line overrides applied to every loaded config (NULL = from the file). */
struct pg_app_opts {
    const char *config_file;
    const char *listen_address; /* default 127.0.0.1:4100 */
    const char *storage_path;
    int processing_workers_set;  /* 1: processing_workers overrides the config */
    int processing_workers;      /* --processing.workers (0 = one per CPU) */
    const char *web_config_file; /* --web.config.file (TLS, basic auth), or NULL */
    int enable_lifecycle;        /* --web.enable-lifecycle: POST /-/reload allowed */
    const char *route_prefix;    /* --web.route-prefix ("/pg"); NULL or "/" = none */
    int ui_cache_bytes_set;      /* 1: ui_cache_bytes overrides the default */
    size_t ui_cache_bytes;       /* --web.ui.profile-cache-size */
};

/* Creates the app on base (borrowed) from cfg (takes ownership). Returns NULL with a
 * reason in err on failure (cfg is then freed). */
struct pg_app *pg_app_create(struct event_base *base, const struct pg_app_opts *opts,
                             struct pg_cfg *cfg, char *err, size_t errlen);

/* Reloads the config file. Returns 0, or -1 with every error (newline-separated,
 * file:line:col: message) in err; the running config is kept then. */
int pg_app_reload(struct pg_app *a, char *err, size_t errlen);

/* Stops scraping, flushes the buffer and makes the loop exit. */
void pg_app_shutdown(struct pg_app *a);

/* Fills *h with the app as host of an HTTP server (daemon/web.h): its readiness,
 * reload, config file and scraper. Everything in *h is borrowed from a and valid for a's
 * lifetime. The app serves its own server with it; tests build another one the same way. */
void pg_app_web_host(struct pg_app *a, struct pg_web_host *h);

/* Fills *h with the app as host of a receiver (daemon/receiver.h): the sink writer (the
 * same for a's lifetime, whatever buffer a reload switches it to), the processing workers
 * and the buffer's high-water mark (over 90% of storage.max_size: push back with 429
 * instead of forcing evictions). Borrowed from a and valid for a's lifetime. */
void pg_app_receiver_host(struct pg_app *a, struct pg_receiver_host *h);

/* Frees everything. Accepts NULL. */
void pg_app_destroy(struct pg_app *a);

#endif
