/* http_sd.c - the "http" discovery mechanism (Prometheus http_sd_configs).
 *
 * As Prometheus's discovery/http: GET the configured URL right away and then every
 * refresh_interval, with "Accept: application/json" and
 * "X-Prometheus-Refresh-Interval-Seconds: <n>". A good response is status 200 with a JSON
 * content type and a body in file_sd's JSON format (parsed by pg_sd_file_parse_json); its
 * groups get the sources "<url>:<index>" and the label __meta_url=<url>, and indexes that
 * were present in the previous good response but not in this one are emitted as empty
 * groups. Any failure (transport, status, content type, JSON) is counted (and logged once
 * per streak of failures), and nothing is emitted, so the last good targets stay. The instance owns
 * its curl multi driver, its refresh timer and the request in flight. Each http_sd_configs
 * entry is loaded here into a struct pg_cfg_http_sd (http_sd.h). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yamlcfg/load.h"
#include "core/curlm.h"
#include "core/httpc.h"
#include "core/log.h"
#include "discovery/file_sd.h"
#include "discovery/http_sd.h"
#include "discovery/sd.h"

/* Label added to every group: the URL it came from. */
#define PG_SD_HTTP_URL_LABEL "__meta_url"
/* Lower bound of the request timeout (the timeout is otherwise refresh_interval). */
#define PG_SD_HTTP_MIN_TIMEOUT_MS 5000

/* Loads one http_sd_configs entry (Prometheus discovery/http: SDConfig). */
static void *pg_sd_http_config_load(struct pg_cfg_ld *l, yaml_node_t *g)
{
    static const char *const k[] = {"url", "refresh_interval", PG_CFG_HTTP_KEYS, NULL};
    struct pg_cfg_http_sd *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->refresh_interval_ms = 60 * 1000;
    h->http.follow_redirects = 1;
    pg_labels_init(&h->http.headers);
    h->line = (int)g->start_mark.line + 1;
    h->col = (int)g->start_mark.column + 1;
    if (pg_yaml_check_keys(l->y, g, k, "http.SDConfig", l->errs) < 0)
        return h;
    pg_cfg_get_str(l, g, "url", 1, &h->url);
    pg_cfg_get_dur(l, g, "refresh_interval", &h->refresh_interval_ms);
    pg_cfg_load_http(l, g, &h->http, 0);
    pg_cfg_check_refresh(l, g, h->refresh_interval_ms);
    int has_host;
    if (!h->url || !*h->url)
        pg_yaml_error(l->y, g, l->errs, "URL is missing");
    else if (!pg_cfg_url_is_http(h->url, &has_host))
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "url"), l->errs,
                      "URL scheme must be 'http' or 'https'");
    else if (!has_host)
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "url"), l->errs, "host is missing in URL");
    return h;
}

static void pg_sd_http_config_free(void *cfg)
{
    struct pg_cfg_http_sd *h = cfg;
    if (!h)
        return;
    free(h->url);
    pg_cfg_http_free(&h->http);
    free(h);
}

struct pg_sd_http_inst {
    const struct pg_cfg_http_sd *cfg;
    char *job;
    char *log_url; /* cfg->url with any userinfo replaced by <secret> */
    pg_sd_emit_fn emit;
    void *ud;
    struct pg_curlm *curlm;   /* owned */
    struct event *tick;       /* owned: persistent refresh timer */
    struct pg_httpc_req *req; /* request in flight (owned by curlm until done), or NULL */
    size_t last_n;            /* groups in the last good response */
    int failing;              /* the last refresh failed (logged once per failing streak) */
    char interval_hdr[96];    /* "X-Prometheus-Refresh-Interval-Seconds: <n>" */
};

/* Returns a copy of url with "user:pass@" replaced by "<secret>@" (NULL on OOM). */
static char *pg_sd_http_redact(const char *url)
{
    const char *sep = strstr(url, "://");
    if (sep) {
        const char *host = sep + 3;
        size_t hl = strcspn(host, "/?#");
        const char *at = memrchr(host, '@', hl);
        if (at) {
            size_t pre = (size_t)(host - url), len = strlen(url) + 16;
            char *out = malloc(len);
            if (out)
                snprintf(out, len, "%.*s<secret>%s", (int)pre, url, at);
            return out;
        }
    }
    return strdup(url);
}

/* Formats ms as Go's strconv.FormatFloat(seconds, 'f', -1, 64): "60", "0.1", "1.25". */
static void pg_sd_http_seconds(int64_t ms, char *buf, size_t len)
{
    if (ms % 1000 == 0) {
        snprintf(buf, len, "%lld", (long long)(ms / 1000));
        return;
    }
    snprintf(buf, len, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
}

/* Returns 1 when ct names the media type application/json (case-insensitive), with or
 * without parameters such as "; charset=utf-8". */
static int pg_sd_http_is_json(const char *ct)
{
    static const char mt[] = "application/json";
    if (!ct)
        return 0;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, mt, sizeof(mt) - 1) != 0)
        return 0;
    ct += sizeof(mt) - 1;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

static void pg_sd_http_fail(struct pg_sd_http_inst *s, const char *reason)
{
    char q[512];
    pg_log_safe(reason, q, sizeof(q));
    if (!s->failing) /* every failure is counted; a streak is logged once */
        pg_log_warn("sd.http",
                    "job=%s url=%s msg=\"refresh failed, keeping previous targets\" err=\"%s\"",
                    s->job, s->log_url, q);
    s->failing = 1;
    pg_sd_metric_refresh(pg_sd_http.name, 1);
}

/* Emits groups plus empty groups for the indexes last seen but now gone, then remembers n.
 * Takes ownership of groups. */
static void pg_sd_http_emit(struct pg_sd_http_inst *s, struct pg_tgroup *groups, size_t n)
{
    size_t total = n > s->last_n ? n : s->last_n;
    struct pg_tgroup *all = groups;
    if (total > n) {
        all = realloc(groups, total * sizeof(*all));
        if (!all) {
            pg_tgroup_free_array(groups, n);
            pg_sd_http_fail(s, "out of memory");
            return;
        }
        size_t len = strlen(s->cfg->url) + 32;
        char *src = malloc(len);
        for (size_t i = n; i < total; i++) {
            if (src)
                snprintf(src, len, "%s:%zu", s->cfg->url, i);
            if (!src || pg_tgroup_init(&all[i], src) < 0) {
                free(src);
                pg_tgroup_free_array(all, i);
                pg_sd_http_fail(s, "out of memory");
                return;
            }
        }
        free(src);
    }
    s->last_n = n;
    if (s->failing)
        pg_log_info("sd.http", "job=%s url=%s msg=\"refresh recovered\" groups=%zu", s->job,
                    s->log_url, n);
    s->failing = 0;
    pg_sd_metric_refresh(pg_sd_http.name, 0);
    s->emit(s->ud, all, total);
    pg_tgroup_free_array(all, total);
}

static void pg_sd_http_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct pg_sd_http_inst *s = ud;
    char err[1024];
    s->req = NULL;
    if (resp->failed) {
        pg_sd_http_fail(s, resp->error ? resp->error : "request failed");
        return;
    }
    if (resp->status != 200) {
        snprintf(err, sizeof(err), "server returned HTTP status %ld", resp->status);
        pg_sd_http_fail(s, err);
        return;
    }
    if (!pg_sd_http_is_json(resp->content_type)) {
        snprintf(err, sizeof(err), "unsupported content type \"%s\"",
                 resp->content_type ? resp->content_type : "");
        pg_sd_http_fail(s, err);
        return;
    }
    struct pg_tgroup *groups;
    size_t n;
    err[0] = '\0';
    if (pg_sd_file_parse_json((const char *)resp->body, resp->len, s->cfg->url,
                              PG_SD_HTTP_URL_LABEL, &groups, &n, err, sizeof(err)) != 0) {
        pg_sd_http_fail(s, err);
        return;
    }
    pg_sd_http_emit(s, groups, n);
}

static void pg_sd_http_refresh(struct pg_sd_http_inst *s)
{
    if (s->req)
        return; /* the previous refresh is still running: skip this tick */
    const char *headers[] = {"Accept: application/json", s->interval_hdr};
    int64_t timeout = s->cfg->refresh_interval_ms;
    if (timeout < PG_SD_HTTP_MIN_TIMEOUT_MS)
        timeout = PG_SD_HTTP_MIN_TIMEOUT_MS;
    struct pg_httpc_opts o = {
        .method = "GET",
        .url = s->cfg->url,
        .http = &s->cfg->http,
        .headers = headers,
        .n_headers = 2,
        .timeout_ms = timeout,
    };
    char err[256];
    err[0] = '\0';
    s->req = pg_httpc_start(s->curlm, &o, pg_sd_http_done, s, err, sizeof(err));
    if (!s->req)
        pg_sd_http_fail(s, err[0] ? err : "cannot start request");
}

static void pg_sd_http_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pg_sd_http_refresh(arg);
}

static void *pg_sd_http_create(const void *cfg, const char *job)
{
    const struct pg_cfg_http_sd *c = cfg;
    if (!c || !c->url)
        return NULL;
    struct pg_sd_http_inst *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cfg = c;
    s->job = strdup(job ? job : "");
    s->log_url = pg_sd_http_redact(c->url);
    if (!s->job || !s->log_url) {
        free(s->job);
        free(s->log_url);
        free(s);
        return NULL;
    }
    char secs[48];
    pg_sd_http_seconds(c->refresh_interval_ms, secs, sizeof(secs));
    snprintf(s->interval_hdr, sizeof(s->interval_hdr), "X-Prometheus-Refresh-Interval-Seconds: %s",
             secs);
    return s;
}

static int pg_sd_http_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct pg_sd_http_inst *s = inst;
    s->emit = emit;
    s->ud = ud;
    s->curlm = pg_curlm_create(base);
    s->tick = event_new(base, -1, EV_PERSIST, pg_sd_http_on_tick, s);
    int64_t ms = s->cfg->refresh_interval_ms > 0 ? s->cfg->refresh_interval_ms : 60000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!s->curlm || !s->tick || event_add(s->tick, &tv) < 0) {
        pg_log_error("sd.http", "job=%s url=%s msg=\"cannot start\"", s->job, s->log_url);
        return -1;
    }
    pg_log_info("sd.http", "job=%s url=%s msg=\"started\" refresh_interval_ms=%lld", s->job,
                s->log_url, (long long)ms);
    pg_sd_http_refresh(s); /* the first refresh right away; done runs from the loop */
    return 0;
}

static void pg_sd_http_stop(void *inst)
{
    struct pg_sd_http_inst *s = inst;
    if (s->tick) {
        event_free(s->tick); /* deletes the pending timer first */
        s->tick = NULL;
    }
    if (s->req) {
        pg_httpc_cancel(s->req);
        s->req = NULL;
    }
    if (s->curlm) {
        pg_curlm_destroy(s->curlm);
        s->curlm = NULL;
    }
}

static void pg_sd_http_destroy(void *inst)
{
    struct pg_sd_http_inst *s = inst;
    if (!s)
        return;
    pg_sd_http_stop(s);
    free(s->job);
    free(s->log_url);
    free(s);
}

const struct pg_sd_mechanism pg_sd_http = {
    .name = "http",
    .config_key = "http_sd_configs",
    .config_load = pg_sd_http_config_load,
    .config_free = pg_sd_http_config_free,
    .create = pg_sd_http_create,
    .start = pg_sd_http_start,
    .stop = pg_sd_http_stop,
    .destroy = pg_sd_http_destroy,
};
