/* app.c - the running daemon's wiring (see app.h).
 *
 * Ownership: the app owns the current config, the curl multi driver, the scraper, the
 * discovery manager (which borrows job configs from the current config), the buffer, the
 * queues (which borrow remote_write entries from remote_cfg: the config they were built
 * from, kept alive across reloads that leave remote_write unchanged), the HTTP server and,
 * with cluster.enabled, the cluster (cluster/cluster.h: it borrows cfg->cluster; the
 * scraper asks it which targets are this replica's, and a change of the live peers
 * re-syncs every job through the discovery manager).
 * Profiles flow scraper -> app_sink -> the sink writer (sink/writer.h), which the
 * receiver uses too; the writer's 100 ms timer commits the pending batch and the app
 * kicks the queues after each commit, so a profile is durable within ~100 ms of its
 * scrape. The HTTP server and the receiver see the app only through the host interfaces
 * filled in at the end of this file (pg_app_web_host, pg_app_receiver_host). */
#include "daemon/app.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "config/cluster.h"
#include "core/clock.h"
#include "core/curlm.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/looplag.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "daemon/config_redact.h"
#include "daemon/receiver.h"
#include "daemon/ui.h"
#include "daemon/ui_pushes.h"
#include "daemon/web.h"
#include "discovery/manager.h"
#include "scraper/scraper.h"
#include "sink/buffer.h"
#include "sink/queue.h"
#include "sink/writer.h"

#define PG_APP_FLUSH_MS 100
#define PG_APP_DRAIN_MS 10000
#define PG_APP_EVICT_MS 10000
/* at most one target sync per job every 2 s under discovery churn (Prometheus: 5 s) */
#define PG_APP_COALESCE_MS 2000
/* the receiver's last pushes the web UI keeps: series and bytes */
#define PG_APP_PUSHES_MAX 256
#define PG_APP_PUSHES_BYTES (16u << 20)

struct pg_app {
    struct event_base *base;
    struct pg_app_opts opts; /* strings owned */
    struct pg_cfg *cfg;
    struct pg_cfg *remote_cfg; /* == cfg or an older config the queues still borrow */
    struct pg_curlm *cm;
    struct pg_workq *wq; /* scrape processing workers; sized at start only */
    struct pg_looplag *lag;
    struct pg_scraper *scraper;
    struct pg_sd_manager *sd;
    struct pg_buf *buf;
    struct pg_sink_writer *writer; /* borrows buf; lives as long as the app */
    struct pg_sink_queue **queues;
    size_t n_queues;
    struct pg_web *web;
    struct pg_receiver *receiver; /* NULL unless receiver.enabled; borrows cfg */
    struct pg_web *rx_web;        /* the receiver's own listener, or NULL: on web */
    char *rx_addr;                /* rx_web's receiver.listen_address */
    int rx_tls_stale;             /* the last reload's tls_server_config did not apply: retry it */
    struct pg_ui *ui;             /* the web UI's routes on web */
    struct pg_ui_pushes *pushes;  /* the receiver's last push per series, for the UI */
    char *cfg_yaml;               /* cfg's file, redacted (daemon/config_redact.h), or NULL */
    char cfg_yaml_err[256];       /* why cfg_yaml is NULL */
    struct pg_cluster *cluster;   /* NULL unless cluster.enabled; borrows cfg->cluster */
    struct event *evict_ev;
    struct pg_buf_stats last_stats;
    int ready;
    struct pg_metric *m_reload_ok, *m_reload_ts, *m_buf_rows, *m_buf_bytes, *m_buf_age,
        *m_buf_evicted, *m_buf_errors, *m_buf_appended, *m_buf_ckpt, *m_buf_ckpt_errors;
};

static void app_collect(void *ud)
{
    struct pg_app *a = ud;
    if (!a->buf)
        return;
    pg_sink_writer_account(a->writer);
    struct pg_buf_stats st;
    pg_buf_stats(a->buf, &st);
    pg_metric_set(a->m_buf_rows, NULL, (double)st.rows);
    pg_metric_set(a->m_buf_bytes, NULL, (double)st.bytes);
    double age = 0;
    if (st.oldest_ms > 0) {
        age = (double)(pg_clock_unix_ms() - st.oldest_ms) / 1e3;
        if (age < 0)
            age = 0;
    }
    pg_metric_set(a->m_buf_age, NULL, age);
    /* counters since open: add what is new since the last collection */
    if (st.evicted >= a->last_stats.evicted)
        pg_metric_inc(a->m_buf_evicted, NULL, (double)(st.evicted - a->last_stats.evicted));
    if (st.errors >= a->last_stats.errors)
        pg_metric_inc(a->m_buf_errors, NULL, (double)(st.errors - a->last_stats.errors));
    if (st.appended >= a->last_stats.appended)
        pg_metric_inc(a->m_buf_appended, NULL, (double)(st.appended - a->last_stats.appended));
    if (st.checkpoints >= a->last_stats.checkpoints)
        pg_metric_inc(a->m_buf_ckpt, NULL, (double)(st.checkpoints - a->last_stats.checkpoints));
    if (st.checkpoint_errors >= a->last_stats.checkpoint_errors) /* logged by the buffer */
        pg_metric_inc(a->m_buf_ckpt_errors, NULL,
                      (double)(st.checkpoint_errors - a->last_stats.checkpoint_errors));
    if (st.evicted > a->last_stats.evicted)
        pg_log_warn("buffer",
                    "msg=\"evicted oldest profiles (storage.max_size or max_age)\" "
                    "evicted=%llu total_evicted=%llu",
                    (unsigned long long)(st.evicted - a->last_stats.evicted),
                    (unsigned long long)st.evicted);
    a->last_stats = st;
}

static void app_register_metrics(struct pg_app *a)
{
    a->m_reload_ok =
        pg_metric_gauge("profgate_config_last_reload_successful",
                        "Whether the last configuration reload attempt was successful.", NULL);
    a->m_reload_ts =
        pg_metric_gauge("profgate_config_last_reload_success_timestamp_seconds",
                        "Timestamp of the last successful configuration reload.", NULL);
    a->m_buf_rows = pg_metric_gauge("profgate_buffer_rows", "Profiles currently buffered.", NULL);
    a->m_buf_bytes = pg_metric_gauge("profgate_buffer_bytes",
                                     "Bytes of profile bodies currently buffered.", NULL);
    a->m_buf_age = pg_metric_gauge("profgate_buffer_oldest_age_seconds",
                                   "Age of the oldest buffered profile.", NULL);
    a->m_buf_evicted = pg_metric_counter("profgate_buffer_evicted_profiles_total",
                                         "Profiles evicted by storage.max_size or max_age.", NULL);
    a->m_buf_errors =
        pg_metric_counter("profgate_buffer_errors_total", "SQLite errors in the buffer.", NULL);
    a->m_buf_appended = pg_metric_counter("profgate_buffer_appended_profiles_total",
                                          "Profiles appended to the buffer.", NULL);
    a->m_buf_ckpt =
        pg_metric_counter("profgate_buffer_checkpoints_total",
                          "WAL checkpoints run by the buffer's checkpoint thread.", NULL);
    a->m_buf_ckpt_errors =
        pg_metric_counter("profgate_buffer_checkpoint_errors_total",
                          "WAL checkpoints that failed (the WAL keeps the profiles).", NULL);
    pg_metrics_add_collector(app_collect, a);
}

static void app_reload_metric(struct pg_app *a, int ok)
{
    pg_metric_set(a->m_reload_ok, NULL, ok ? 1 : 0);
    if (ok)
        pg_metric_set(a->m_reload_ts, NULL, (double)pg_clock_unix_ms() / 1000);
}

/* Scraper sink: queue the profile into the buffer's current batch. */
static int app_sink(void *ud, const struct pg_scrape_profile *p)
{
    struct pg_app *a = ud;
    return pg_sink_writer_append(a->writer, p->labels, p->name, p->from_ns, p->until_ns, NULL,
                                 p->body, p->len);
}

/* Writer callback after each commit: wake the backends. */
static void app_on_commit(void *ud)
{
    struct pg_app *a = ud;
    for (size_t i = 0; i < a->n_queues; i++)
        pg_sink_queue_kick(a->queues[i]);
}

static void app_on_evict(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct pg_app *a = ud;
    if (a->buf && pg_buf_evict(a->buf) > 0)
        pg_sink_writer_commit(a->writer);
}

static void app_on_sync(void *ud, const char *job, const struct pg_tgroup *groups, size_t n)
{
    struct pg_app *a = ud;
    pg_scraper_sync(a->scraper, job, groups, n);
}

static void app_stop_sinks(struct pg_app *a)
{
    for (size_t i = 0; i < a->n_queues; i++)
        pg_sink_queue_destroy(a->queues[i]);
    free(a->queues);
    a->queues = NULL;
    a->n_queues = 0;
    if (a->buf) {
        pg_sink_writer_set_buffer(a->writer, NULL); /* commits the pending batch */
        pg_buf_close(a->buf);
        a->buf = NULL;
    }
}

/* Opens the buffer for cfg's backends and starts one queue each. */
static int app_start_sinks(struct pg_app *a, struct pg_cfg *cfg, char *err, size_t errlen)
{
    const char **names = calloc(cfg->n_remote ? cfg->n_remote : 1, sizeof(*names));
    if (!names) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_remote; i++)
        names[i] = cfg->remote[i].name;
    char berr[256] = "";
    a->buf = pg_buf_open(cfg->storage_path, names, cfg->n_remote, cfg->storage_max_size,
                         cfg->storage_max_age_ms, berr, sizeof(berr));
    free(names);
    if (!a->buf) {
        /* the buffer's errors name the path (storage.path, the lock or the database) */
        pg_errmsg_set(err, errlen, "%s", berr);
        return -1;
    }
    pg_buf_stats(a->buf, &a->last_stats);
    pg_sink_writer_set_buffer(a->writer, a->buf);
    a->queues = calloc(cfg->n_remote ? cfg->n_remote : 1, sizeof(*a->queues));
    if (!a->queues) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_remote; i++) {
        char qerr[256] = "";
        a->queues[i] = pg_sink_queue_create(a->base, a->cm, a->buf, &cfg->remote[i],
                                            &cfg->external_labels, qerr, sizeof(qerr));
        if (!a->queues[i]) {
            pg_errmsg_set(err, errlen, "remote_write %s: %s", cfg->remote[i].name, qerr);
            return -1;
        }
        a->n_queues++;
        if (pg_sink_queue_use_workq(a->queues[i], a->wq) != 0)
            pg_log_warn("sink",
                        "remote=%s msg=\"cannot open a buffer reader; reading on the event "
                        "loop\"",
                        cfg->remote[i].name);
        pg_log_info("sink", "remote=%s url=%s msg=\"forwarding\"", cfg->remote[i].name,
                    cfg->remote[i].url);
    }
    a->remote_cfg = cfg;
    return 0;
}

/* Starts discovery for every job of cfg into a new manager. */
static struct pg_sd_manager *app_start_discovery(struct pg_app *a, struct pg_cfg *cfg)
{
    struct pg_sd_manager *m = pg_sd_manager_create(a->base, PG_APP_COALESCE_MS, app_on_sync, a);
    if (!m)
        return NULL;
    for (size_t i = 0; i < cfg->n_scrape; i++)
        if (pg_sd_manager_add_job(m, &cfg->scrape[i]) < 0)
            pg_log_error("discovery", "job=%s msg=\"could not start discovery\"",
                         cfg->scrape[i].job_name);
    return m;
}

static void app_apply_overrides(const struct pg_app_opts *o, struct pg_cfg *cfg)
{
    if (o->storage_path) {
        char *s = strdup(o->storage_path);
        if (s) {
            free(cfg->storage_path);
            cfg->storage_path = s;
        }
    }
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Returns 1 when a and b need the same buffer and queues. */
static int sinks_equal(const struct pg_cfg *a, const struct pg_cfg *b)
{
    if (!str_eq(a->storage_path, b->storage_path) || a->storage_max_size != b->storage_max_size ||
        a->storage_max_age_ms != b->storage_max_age_ms || a->n_remote != b->n_remote ||
        !pg_labels_equal(&a->external_labels, &b->external_labels))
        return 0;
    for (size_t i = 0; i < a->n_remote; i++) {
        const struct pg_cfg_remote *x = &a->remote[i], *y = &b->remote[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->url, y->url) || x->api != y->api ||
            !pg_httpc_cfg_equal(&x->http, &y->http) ||
            !pg_labels_equal(&x->external_labels, &y->external_labels) ||
            x->remote_timeout_ms != y->remote_timeout_ms ||
            x->min_backoff_ms != y->min_backoff_ms || x->max_backoff_ms != y->max_backoff_ms ||
            x->max_retries != y->max_retries || x->concurrency != y->concurrency ||
            x->batch_max_bytes != y->batch_max_bytes)
            return 0;
    }
    return 1;
}

/* Closes the receiver and its own listener, if any. */
static void app_stop_receiver(struct pg_app *a)
{
    a->rx_tls_stale = 0;
    pg_receiver_destroy(a->receiver);
    a->receiver = NULL;
    pg_web_destroy(a->rx_web);
    a->rx_web = NULL;
    free(a->rx_addr);
    a->rx_addr = NULL;
}

/* Opens receiver.listen_address for the receiver, with its TLS. Returns the listener, or
 * NULL with err set. */
static struct pg_web *app_receiver_listener(struct pg_app *a, const struct pg_cfg *cfg, char *err,
                                            size_t errlen)
{
    struct pg_web_host h = {.workq = a->wq, .routes_only = 1};
    char werr[512] = "";
    struct pg_web *w = pg_web_create(a->base, &h, cfg->receiver_listen_address, werr, sizeof(werr));
    if (!w) {
        pg_errmsg_set(err, errlen, "receiver: listen_address: %s", werr);
        return NULL;
    }
    if (cfg->receiver_tls &&
        pg_web_set_tls(w, cfg->receiver_tls, "receiver", werr, sizeof(werr)) < 0) {
        pg_errmsg_set(err, errlen, "receiver: tls_server_config: %s", werr);
        pg_web_destroy(w);
        return NULL;
    }
    pg_log_info("receiver",
                "address=%s tls=%s client_auth=%s msg=\"receiver listening on its own "
                "port\"",
                cfg->receiver_listen_address, cfg->receiver_tls ? "on" : "off",
                cfg->receiver_tls ? pg_cfg_client_auth_name(cfg->receiver_tls->client_auth)
                                  : "none");
    return w;
}

/* Starts the receiver on its own listener (receiver.listen_address) or on the web port.
 * Returns 0, or -1 with err set (nothing started). */
static int app_start_receiver(struct pg_app *a, const struct pg_cfg *cfg, char *err, size_t errlen)
{
    struct pg_web *own = NULL;
    if (cfg->receiver_listen_address) {
        if (!(own = app_receiver_listener(a, cfg, err, errlen)))
            return -1;
        if (!(a->rx_addr = strdup(cfg->receiver_listen_address))) {
            pg_web_destroy(own);
            pg_errmsg_set(err, errlen, "out of memory");
            return -1;
        }
    }
    struct pg_receiver_host rh;
    pg_app_receiver_host(a, &rh);
    a->rx_web = own;
    if (!(a->receiver = pg_receiver_create(&rh, own ? own : a->web, a->base, cfg, err, errlen))) {
        app_stop_receiver(a);
        return -1;
    }
    return 0;
}
/* Appends the redacted YAML of a scrape_config_files file to *yaml as one more document. */
static int app_redact_more(struct pg_app *a, const char *file, char **yaml)
{
    char *more = pg_config_redact_file(file, a->cfg_yaml_err, sizeof(a->cfg_yaml_err));
    size_t n = more ? strlen(*yaml) + strlen(file) + strlen(more) + 64 : 0;
    char *all = more ? malloc(n) : NULL;
    if (all)
        snprintf(all, n, "%s---\n# scrape_config_files: %s\n%s", *yaml, file, more);
    free(more);
    free(*yaml);
    *yaml = all;
    return all ? 0 : -1;
}

/* Keeps cfg's file, then each scrape_config_files file its jobs came from, as redacted YAML
 * for the UI's config page (or why it is not there). */
static void app_redact_config(struct pg_app *a, const struct pg_cfg *cfg)
{
    free(a->cfg_yaml);
    a->cfg_yaml_err[0] = '\0';
    a->cfg_yaml = pg_config_redact_file(cfg->file, a->cfg_yaml_err, sizeof(a->cfg_yaml_err));
    for (size_t i = 0; a->cfg_yaml && i < cfg->n_scrape; i++) {
        const char *f = cfg->scrape[i].file;
        int seen = !f;
        for (size_t j = 0; !seen && j < i; j++)
            seen = cfg->scrape[j].file && !strcmp(cfg->scrape[j].file, f);
        if (!seen && app_redact_more(a, f, &a->cfg_yaml) < 0 && !a->cfg_yaml_err[0])
            snprintf(a->cfg_yaml_err, sizeof(a->cfg_yaml_err), "out of memory");
    }
}

static int app_start_ui(struct pg_app *a, char *err, size_t errlen);

/* Logs loudly when cfg collects profiles (scrape jobs or the receiver) but has no
 * remote_write: everything would stay in the buffer until evicted. */
static void app_warn_no_remote(const struct pg_cfg *cfg)
{
    if (cfg->n_remote == 0 && (cfg->n_scrape > 0 || cfg->receiver_enabled))
        pg_log_warn("app",
                    "config=%s jobs=%zu msg=\"WARNING: no remote_write: profiles are kept in "
                    "the buffer and never forwarded; add a remote_write backend\"",
                    cfg->file, cfg->n_scrape);
}

/* ---- clustering ---- */

/* The live peers changed: every job's targets are filtered again (at the next discovery
 * sync, within the coalescing delay). */
static void app_cluster_changed(void *ud)
{
    struct pg_app *a = ud;
    pg_sd_manager_resync(a->sd);
}

static void app_cluster_keys(void *ud, pg_cluster_key_fn each, void *eud)
{
    struct pg_app *a = ud;
    pg_scraper_foreach_target_key(a->scraper, each, eud);
}

/* Returns this replica's cluster identity for cfg: cluster.advertise_address, else the web
 * listen address, which must then name a host peers can reach. NULL with err set. */
static const char *app_cluster_self(const struct pg_app *a, const struct pg_cfg *cfg, char *err,
                                    size_t errlen)
{
    if (cfg->cluster.advertise_address)
        return cfg->cluster.advertise_address;
    char why[256];
    if (pg_cfg_cluster_check_address(a->opts.listen_address, why, sizeof why) < 0) {
        pg_errmsg_set(err, errlen,
                      "%s: cluster: advertise_address is not set and the web listen address "
                      "cannot stand for it: %s",
                      cfg->file, why);
        return NULL;
    }
    return a->opts.listen_address;
}

/* Stops the cluster, if any: every target is this replica's again. */
static void app_stop_cluster(struct pg_app *a)
{
    if (!a->cluster)
        return;
    pg_scraper_set_owner(a->scraper, NULL, NULL);
    pg_cluster_destroy(a->cluster);
    a->cluster = NULL;
    pg_log_info("cluster", "msg=\"cluster stopped: scraping every target\"");
    pg_sd_manager_resync(a->sd);
}

/* Starts, reconfigures or stops the cluster as cfg says; the scraper's owner predicate
 * follows. Returns 0, or -1 with err set (the previous cluster state is kept). */
static int app_apply_cluster(struct pg_app *a, struct pg_cfg *cfg, char *err, size_t errlen)
{
    if (!cfg->cluster.enabled) {
        app_stop_cluster(a);
        return 0;
    }
    const char *self = app_cluster_self(a, cfg, err, errlen);
    if (!self)
        return -1;
    if (a->cluster)
        return pg_cluster_reconfigure(a->cluster, &cfg->cluster, self, err, errlen);
    struct pg_cluster_host h = {.ud = a,
                                .route_prefix = a->opts.route_prefix,
                                .on_change = app_cluster_changed,
                                .target_keys = app_cluster_keys};
    a->cluster = pg_cluster_create(a->base, a->cm, &h, &cfg->cluster, self, err, errlen);
    if (!a->cluster)
        return -1;
    pg_scraper_set_owner(a->scraper, pg_cluster_owns, a->cluster);
    pg_sd_manager_resync(a->sd);
    return 0;
}

struct pg_app *pg_app_create(struct event_base *base, const struct pg_app_opts *opts,
                             struct pg_cfg *cfg, char *err, size_t errlen)
{
    struct pg_app *a = calloc(1, sizeof(*a));
    if (!a) {
        pg_cfg_free(cfg);
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->opts.config_file = opts->config_file ? strdup(opts->config_file) : NULL;
    a->opts.listen_address = strdup(opts->listen_address ? opts->listen_address : "127.0.0.1:4100");
    a->opts.storage_path = opts->storage_path ? strdup(opts->storage_path) : NULL;
    a->opts.web_config_file = opts->web_config_file ? strdup(opts->web_config_file) : NULL;
    a->opts.enable_lifecycle = opts->enable_lifecycle;
    a->opts.route_prefix = opts->route_prefix ? strdup(opts->route_prefix) : NULL;
    app_redact_config(a, cfg);
    app_apply_overrides(&a->opts, cfg);
    a->cfg = cfg;
    app_register_metrics(a);
    if (!(a->cm = pg_curlm_create(base))) {
        pg_errmsg_set(err, errlen, "could not start the HTTP client");
        goto fail;
    }
    if (!(a->writer = pg_sink_writer_create(base, NULL, PG_APP_FLUSH_MS, app_on_commit, a))) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    int workers =
        opts->processing_workers_set ? opts->processing_workers : (int)cfg->processing_workers;
    if (!(a->wq = pg_workq_new(base, workers, (size_t)cfg->processing_queue_size)) ||
        !(a->lag = pg_looplag_new(base, 250))) {
        pg_errmsg_set(err, errlen, "could not start the processing workers");
        goto fail;
    }
    if (app_start_sinks(a, cfg, err, errlen) < 0)
        goto fail;
    if (!(a->scraper = pg_scraper_create(base, a->cm, a->wq, app_sink, a)) ||
        pg_scraper_apply(a->scraper, cfg) < 0) {
        pg_errmsg_set(err, errlen, "could not start the scraper");
        goto fail;
    }
    if (opts->ui_cache_bytes_set)
        pg_scraper_set_keep_bytes(a->scraper, opts->ui_cache_bytes);
    if (app_apply_cluster(a, cfg, err, errlen) < 0)
        goto fail;
    struct pg_web_host wh;
    pg_app_web_host(a, &wh);
    if (!(a->web = pg_web_create(base, &wh, a->opts.listen_address, err, errlen)))
        goto fail;
    if (a->opts.web_config_file &&
        pg_web_use_config(a->web, a->opts.web_config_file, err, errlen) < 0)
        goto fail;
    if (app_start_ui(a, err, errlen) < 0)
        goto fail;
    if (cfg->receiver_enabled && app_start_receiver(a, cfg, err, errlen) < 0)
        goto fail;
    if (!(a->sd = app_start_discovery(a, cfg))) {
        pg_errmsg_set(err, errlen, "could not start discovery");
        goto fail;
    }
    struct timeval ev = {PG_APP_EVICT_MS / 1000, 0};
    a->evict_ev = event_new(base, -1, EV_PERSIST, app_on_evict, a);
    if (!a->evict_ev || event_add(a->evict_ev, &ev) < 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    app_reload_metric(a, 1);
    a->ready = 1;
    pg_log_info("app", "config=%s jobs=%zu remotes=%zu storage=%s msg=\"started\"", cfg->file,
                cfg->n_scrape, cfg->n_remote, cfg->storage_path);
    app_warn_no_remote(cfg);
    return a;
fail:
    pg_app_destroy(a);
    return NULL;
}

/* Formats errs as "file:line:col: message" lines into err and logs each one. */
static void app_report_errors(const struct pg_cfg_errors *errs, char *err, size_t errlen)
{
    size_t off = 0;
    if (errlen)
        err[0] = '\0';
    for (size_t i = 0; i < errs->n; i++) {
        const struct pg_cfg_error *e = &errs->v[i];
        pg_log_error("config",
                     "msg=\"reload failed; keeping the running config\" err=\"%s:%d:%d: %s\"",
                     e->file ? e->file : "?", e->line, e->col, e->msg);
        if (off < errlen) {
            int w = snprintf(err + off, errlen - off, "%s%s:%d:%d: %s", i ? "\n" : "",
                             e->file ? e->file : "?", e->line, e->col, e->msg);
            off += w > 0 ? (size_t)w : 0;
        }
    }
}

/* Replaces the discovery manager with one for cfg; sources that have not reported yet keep
 * the targets they had. Returns 0, or -1 with err set. */
static int app_reload_discovery(struct pg_app *a, struct pg_cfg *cfg, char *err, size_t errlen)
{
    struct pg_sd_manager *sd = app_start_discovery(a, cfg);
    /* sources that have not reported yet keep the targets they had (a slow relist, an SD
     * server that is down) instead of looking empty */
    pg_sd_manager_adopt(sd, a->sd);
    pg_sd_manager_destroy(a->sd); /* borrows the old jobs: destroy before freeing old */
    a->sd = sd;
    if (!sd) {
        pg_errmsg_set(err, errlen, "out of memory starting discovery; targets are not updated");
        pg_log_error("config", "msg=\"%s\"", err);
        return -1;
    }
    return 0;
}

/* Points the receiver at cfg, or stops or starts it (or moves it to another listener) as
 * cfg says; old is the config being replaced. Returns 0, or -1 with err set. */
static int app_reload_receiver(struct pg_app *a, struct pg_cfg *cfg, const struct pg_cfg *old,
                               char *err, size_t errlen)
{
    /* the receiver borrows the config: point it at the new one before old is freed (it
     * keeps its requests in flight) */
    if (a->receiver && cfg->receiver_enabled && str_eq(a->rx_addr, cfg->receiver_listen_address)) {
        int rc = 0;
        char terr[512];
        if (a->rx_web &&
            (a->rx_tls_stale || !pg_cfg_tls_server_equal(old->receiver_tls, cfg->receiver_tls))) {
            a->rx_tls_stale = 0;
            if (pg_web_set_tls(a->rx_web, cfg->receiver_tls, "receiver", terr, sizeof(terr)) < 0) {
                pg_log_error("receiver",
                             "msg=\"tls_server_config not applied; keeping the running one\" "
                             "err=\"%s\"",
                             terr);
                pg_errmsg_set(err, errlen, "receiver: tls_server_config: %s", terr);
                a->rx_tls_stale = 1;
                rc = -1;
            }
        }
        pg_receiver_reconfigure(a->receiver, cfg);
        return rc;
    }
    if (a->receiver)
        app_stop_receiver(a);
    if (cfg->receiver_enabled) {
        char rerr[512] = "";
        if (app_start_receiver(a, cfg, rerr, sizeof(rerr)) < 0) {
            pg_log_error("receiver", "msg=\"could not restart the receiver\" err=\"%s\"", rerr);
            pg_errmsg_set(err, errlen, "%s", rerr);
            return -1;
        }
    }
    return 0;
}

/* Rebuilds the buffer and queues from cfg when their settings changed, or when the buffer
 * is not open (an earlier rebuild failed: retry on every reload); on failure reopens them
 * with the previous settings. Frees the previous remote config unless it is old (the
 * config being replaced, freed by the caller). Returns 0, or -1 with err set. */
static int app_reload_sinks(struct pg_app *a, struct pg_cfg *cfg, struct pg_cfg *old, char *err,
                            size_t errlen)
{
    if (a->buf && sinks_equal(a->remote_cfg, cfg))
        return 0;
    struct pg_cfg *prev = a->remote_cfg;
    app_stop_sinks(a);
    if (app_start_sinks(a, cfg, err, errlen) < 0) {
        /* keep forwarding with the previous storage/remote_write settings */
        pg_log_error("config",
                     "msg=\"storage/remote_write not reloaded; keeping the running ones\" "
                     "err=\"%s\"",
                     err);
        app_stop_sinks(a);
        char e2[256];
        if (app_start_sinks(a, prev, e2, sizeof(e2)) < 0)
            pg_log_error("sink", "msg=\"could not reopen the buffer\" err=\"%s\"", e2);
        a->remote_cfg = prev;
        return -1;
    }
    if (prev != old)
        pg_cfg_free(prev);
    return 0;
}

int pg_app_reload(struct pg_app *a, char *err, size_t errlen)
{
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(a->opts.config_file, &errs);
    if (!cfg) {
        app_report_errors(&errs, err, errlen);
        pg_cfg_errors_reset(&errs);
        app_reload_metric(a, 0);
        return -1;
    }
    pg_cfg_errors_reset(&errs);
    app_apply_overrides(&a->opts, cfg);
    if (cfg->processing_workers != a->cfg->processing_workers ||
        cfg->processing_queue_size != a->cfg->processing_queue_size)
        pg_log_warn("config", "msg=\"processing settings changed: they take effect at the "
                              "next restart\"");

    char why[512];
    if (cfg->cluster.enabled && !app_cluster_self(a, cfg, why, sizeof why)) {
        pg_errmsg_set(err, errlen, "%s", why);
        pg_log_error("config", "msg=\"reload failed; keeping the running config\" err=\"%s\"", err);
        pg_cfg_free(cfg);
        app_reload_metric(a, 0);
        return -1;
    }
    /* scrape side first: on failure nothing has changed yet */
    if (pg_scraper_apply(a->scraper, cfg) < 0) {
        pg_errmsg_set(err, errlen, "out of memory applying the scrape configs");
        pg_log_error("config", "msg=\"reload failed; keeping the running config\" err=\"%s\"", err);
        pg_cfg_free(cfg);
        app_reload_metric(a, 0);
        return -1;
    }
    int rc = 0;
    if (app_reload_discovery(a, cfg, err, errlen) < 0)
        rc = -1;
    /* the old peers discovery borrows the old config: replaced before it is freed */
    if (app_apply_cluster(a, cfg, err, errlen) < 0) {
        /* it would go on borrowing the old config: stop it (scrape everything) rather */
        pg_log_error("config", "msg=\"cluster not reloaded; stopping it\" err=\"%s\"", err);
        app_stop_cluster(a);
        rc = -1;
    }
    struct pg_cfg *old = a->cfg;
    a->cfg = cfg;
    if (app_reload_receiver(a, cfg, old, err, errlen) < 0)
        rc = -1;
    if (app_reload_sinks(a, cfg, old, err, errlen) < 0)
        rc = -1;
    if (old != a->remote_cfg)
        pg_cfg_free(old);
    app_reload_metric(a, rc == 0);
    app_redact_config(a, cfg);
    if (rc == 0) {
        pg_log_info("config", "file=%s jobs=%zu remotes=%zu msg=\"reloaded\"", cfg->file,
                    cfg->n_scrape, cfg->n_remote);
        app_warn_no_remote(cfg);
    }
    return rc;
}

void pg_app_shutdown(struct pg_app *a)
{
    a->ready = 0;
    pg_log_info("app", "msg=\"shutting down: stopping scrapes, flushing the buffer\"");
    pg_sd_manager_destroy(a->sd);
    a->sd = NULL;
    if (a->scraper)
        pg_scraper_set_owner(a->scraper, NULL, NULL);
    pg_cluster_destroy(a->cluster);
    a->cluster = NULL;
    /* profiles already fetched and being processed go to the buffer, not away: let the
     * workers finish (bounded: a stuck job must not hold the shutdown) */
    if (a->wq && pg_workq_drain(a->wq, PG_APP_DRAIN_MS) < 0)
        pg_log_warn("app",
                    "msg=\"processing workers did not finish within %d ms; "
                    "profiles still being processed are lost\"",
                    PG_APP_DRAIN_MS);
    pg_scraper_stop(a->scraper);
    if (a->writer)
        pg_sink_writer_commit(a->writer);
    event_base_loopexit(a->base, NULL);
}

/* ---- the host interfaces handed to web and the receiver ---- */

static int app_buffer_full(void *ud)
{
    struct pg_app *a = ud;
    if (!a->buf || !a->cfg->storage_max_size)
        return 0;
    struct pg_buf_stats st;
    pg_buf_stats(a->buf, &st);
    return st.bytes > a->cfg->storage_max_size / 10 * 9;
}

static int app_ready(void *ud)
{
    struct pg_app *a = ud;
    return a->ready;
}

static int app_reload(void *ud, char *err, size_t errlen)
{
    return pg_app_reload(ud, err, errlen);
}

static void app_on_pushed(void *ud, const struct pg_labels *labels, const uint8_t *body, size_t len)
{
    struct pg_app *a = ud;
    if (a->pushes)
        pg_ui_pushes_put(a->pushes, labels, body, len, pg_clock_unix_ms());
}

static const char *app_config_yaml(void *ud, const char **why)
{
    struct pg_app *a = ud;
    *why = a->cfg_yaml_err;
    return a->cfg_yaml;
}

static size_t app_n_backends(void *ud)
{
    struct pg_app *a = ud;
    return a->n_queues;
}

static void app_backend(void *ud, size_t i, struct pg_sink_queue_status *st)
{
    struct pg_app *a = ud;
    pg_sink_queue_status(a->queues[i], st);
}

static int app_buffer(void *ud, struct pg_ui_buffer *out)
{
    struct pg_app *a = ud;
    if (!a->buf)
        return -1;
    pg_buf_stats(a->buf, &out->st);
    out->path = a->remote_cfg->storage_path;
    out->max_size = a->remote_cfg->storage_max_size;
    out->max_age_ms = a->remote_cfg->storage_max_age_ms;
    pg_sink_writer_account(a->writer);
    pg_sink_writer_dropped(a->writer, &out->dropped_commit_failed, &out->dropped_buffer_error);
    return 0;
}

/* The route prefix and the web UI's routes on a->web. Returns 0, or -1 with err set. */
static int app_start_ui(struct pg_app *a, char *err, size_t errlen)
{
    if (pg_web_set_route_prefix(a->web, a->opts.route_prefix) < 0 ||
        !(a->pushes = pg_ui_pushes_new(PG_APP_PUSHES_MAX, PG_APP_PUSHES_BYTES))) {
        pg_errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    struct pg_ui_host uh = {.ud = a,
                            .scraper = a->scraper,
                            .workq = a->wq,
                            .pushes = a->pushes,
                            .config_yaml = app_config_yaml,
                            .n_backends = app_n_backends,
                            .backend = app_backend,
                            .buffer = app_buffer};
    return (a->ui = pg_ui_create(a->web, &uh, err, errlen)) ? 0 : -1;
}

static struct pg_cluster *app_cluster(void *ud)
{
    struct pg_app *a = ud;
    return a->cluster;
}

void pg_app_web_host(struct pg_app *a, struct pg_web_host *h)
{
    *h = (struct pg_web_host){.ud = a,
                              .scraper = a->scraper,
                              .ready = app_ready,
                              .reload = app_reload,
                              .workq = a->wq,
                              .enable_lifecycle = a->opts.enable_lifecycle,
                              .cluster = app_cluster};
}

void pg_app_receiver_host(struct pg_app *a, struct pg_receiver_host *h)
{
    *h = (struct pg_receiver_host){.writer = a->writer,
                                   .workq = a->wq,
                                   .buffer_full = app_buffer_full,
                                   .on_stored = app_on_pushed,
                                   .ud = a};
}

void pg_app_destroy(struct pg_app *a)
{
    if (!a)
        return;
    pg_metrics_remove_collector(app_collect, a);
    if (a->evict_ev)
        event_free(a->evict_ev);
    app_stop_receiver(a);
    pg_ui_destroy(a->ui);
    pg_web_destroy(a->web);
    pg_sd_manager_destroy(a->sd);
    a->sd = NULL;
    if (a->scraper)
        pg_scraper_set_owner(a->scraper, NULL, NULL);
    pg_cluster_destroy(a->cluster); /* its probes use cm */
    pg_scraper_destroy(a->scraper); /* orphans the jobs still on the workers */
    for (size_t i = 0; i < a->n_queues; i++)
        pg_sink_queue_use_workq(a->queues[i], NULL); /* their jobs complete in the free */
    pg_workq_free(a->wq); /* joins the workers, frees the orphaned jobs */
    pg_looplag_free(a->lag);
    if (a->writer)
        app_stop_sinks(a);
    pg_sink_writer_destroy(a->writer);
    pg_curlm_destroy(a->cm);
    if (a->remote_cfg && a->remote_cfg != a->cfg)
        pg_cfg_free(a->remote_cfg);
    pg_cfg_free(a->cfg);
    free((char *)a->opts.config_file);
    free((char *)a->opts.listen_address);
    free((char *)a->opts.storage_path);
    free((char *)a->opts.web_config_file);
    free((char *)a->opts.route_prefix);
    pg_ui_pushes_free(a->pushes);
    free(a->cfg_yaml);
    free(a);
}
