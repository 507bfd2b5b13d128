/* consul.c - the "consul" discovery mechanism (Prometheus consul_sd_configs).
 *
 * Follows Prometheus's discovery/consul on one event loop instead of goroutines. When no
 * datacenter is configured, GET /v1/agent/self first and use Config.Datacenter. Then, as
 * Prometheus does, either watch the catalog (no fixed service list, or tags or a catalog
 * filter to apply): a blocking GET /v1/catalog/services whose answer starts one watch per
 * wanted service and stops the watches of services that went away (their group is emitted
 * empty); or, with only a fixed service list, watch those services directly. A service
 * watch is a blocking GET /v1/health/service/<name> (tags, node meta, health_filter) whose
 * every new X-Consul-Index emits the service's group (source = service name).
 *
 * Every watch is a loop of blocking queries (index = last X-Consul-Index, wait = 2m as
 * Prometheus's watchTimeout) started at most once per refresh_interval; an answer whose
 * index did not change emits nothing. A failed request (transport error, non-200, bad
 * JSON) counts a failure, emits nothing (the last targets stay), and is retried after an
 * exponential backoff (1s..30s with jitter). stop cancels every in-flight request.
 * Requests go through core/httpc on a pg_curlm the instance owns. Each consul_sd_configs
 * entry is loaded here into a struct pg_cfg_consul_sd (consul.h). */
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg/load.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/curlm.h"
#include "core/httpc.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sbuf.h"
#include "discovery/consul.h"
#include "discovery/sd.h"

#define PG_SD_CONSUL_WAIT_MS 120000 /* Prometheus's watchTimeout */
#define PG_SD_CONSUL_SLACK_MS 15000 /* HTTP timeout = wait + this, as Prometheus */
#define PG_SD_CONSUL_MIN_BACKOFF_MS 1000
#define PG_SD_CONSUL_MAX_BACKOFF_MS 30000
#define PG_SD_CONSUL_MAX_BODY ((size_t)64 << 20)

/* ---------------------------------------------------------------------------------------
 * Pure parts (consul.h) */

/* Appends Prometheus's strutil.SanitizeLabelName(k) to prefix into a new string: every
 * rune outside [a-zA-Z0-9_] becomes one '_'. Returns NULL on OOM. */
static char *sanitized_name(const char *prefix, const char *k)
{
    size_t pl = strlen(prefix), kl = strlen(k);
    char *s = malloc(pl + kl + 1);
    if (!s)
        return NULL;
    memcpy(s, prefix, pl);
    size_t o = pl;
    for (size_t i = 0; i < kl; i++) {
        unsigned char ch = (unsigned char)k[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_') {
            s[o++] = (char)ch;
        } else if (ch >= 0x80 && (ch & 0xC0) == 0x80 && i > 0 &&
                   ((unsigned char)k[i - 1] >= 0x80)) {
            continue; /* continuation byte of a multi-byte rune: already replaced */
        } else {
            s[o++] = '_';
        }
    }
    s[o] = '\0';
    return s;
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/* Sets prefix+sanitised(k) = v for every string member of map (non-objects ignored). */
static int set_map(struct pg_labels *t, const char *prefix, json_t *map)
{
    const char *k;
    json_t *v;
    if (!json_is_object(map))
        return 0;
    json_object_foreach(map, k, v)
    {
        char *name = sanitized_name(prefix, k);
        if (!name)
            return -1;
        const char *sv = json_string_value(v);
        int rc = pg_labels_set(t, name, sv ? sv : "");
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Consul api.HealthChecks.AggregatedStatus: maintenance > critical > warning > passing;
 * "" when a check has an unknown status. */
static const char *aggregated_status(json_t *checks)
{
    int warning = 0, critical = 0, maint = 0;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c)
    {
        const char *id = jstr(c, "CheckID");
        if (strcmp(id, "_node_maintenance") == 0 ||
            strncmp(id, "_service_maintenance:", strlen("_service_maintenance:")) == 0) {
            maint = 1;
            continue;
        }
        const char *st = jstr(c, "Status");
        if (strcmp(st, "passing") == 0)
            continue;
        else if (strcmp(st, "warning") == 0)
            warning = 1;
        else if (strcmp(st, "critical") == 0)
            critical = 1;
        else
            return "";
    }
    if (maint)
        return "maintenance";
    if (critical)
        return "critical";
    if (warning)
        return "warning";
    return "passing";
}

/* Joins tags as tag_sep + join(tags, tag_sep) + tag_sep into a new string. */
static char *join_tags(json_t *tags, const char *sep)
{
    size_t sl = strlen(sep), total = 2 * sl + 1, i;
    json_t *t;
    json_array_foreach(tags, i, t) total +=
        strlen(json_string_value(t) ? json_string_value(t) : "") + sl;
    char *s = malloc(total);
    if (!s)
        return NULL;
    size_t o = 0;
    memcpy(s + o, sep, sl);
    o += sl;
    json_array_foreach(tags, i, t)
    {
        const char *v = json_string_value(t) ? json_string_value(t) : "";
        if (i > 0) {
            memcpy(s + o, sep, sl);
            o += sl;
        }
        memcpy(s + o, v, strlen(v));
        o += strlen(v);
    }
    memcpy(s + o, sep, sl);
    o += sl;
    s[o] = '\0';
    return s;
}

static int add_entry(struct pg_tgroup *g, json_t *e, const char *tag_sep)
{
    json_t *node = json_object_get(e, "Node");
    json_t *svc = json_object_get(e, "Service");
    struct pg_labels *t = pg_tgroup_add_target(g);
    if (!t)
        return -1;
    const char *node_addr = jstr(node, "Address");
    const char *svc_addr = jstr(svc, "Address");
    json_int_t port = json_integer_value(json_object_get(svc, "Port"));
    char port_s[32];
    snprintf(port_s, sizeof(port_s), "%" JSON_INTEGER_FORMAT, port);
    const char *host = svc_addr[0] ? svc_addr : node_addr;
    /* net.JoinHostPort: brackets around hosts that contain a colon */
    size_t alen = strlen(host) + strlen(port_s) + 4;
    char *addr = malloc(alen);
    if (!addr)
        return -1;
    snprintf(addr, alen, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port_s);
    char *tags = join_tags(json_object_get(svc, "Tags"), tag_sep);
    int rc = -1;
    if (!tags)
        goto out;
    if (pg_labels_set(t, "__address__", addr) < 0 ||
        pg_labels_set(t, "__meta_consul_address", node_addr) < 0 ||
        pg_labels_set(t, "__meta_consul_node", jstr(node, "Node")) < 0 ||
        pg_labels_set(t, "__meta_consul_namespace", jstr(svc, "Namespace")) < 0 ||
        pg_labels_set(t, "__meta_consul_partition", jstr(svc, "Partition")) < 0 ||
        pg_labels_set(t, "__meta_consul_tags", tags) < 0 ||
        pg_labels_set(t, "__meta_consul_service_address", svc_addr) < 0 ||
        pg_labels_set(t, "__meta_consul_service_port", port_s) < 0 ||
        pg_labels_set(t, "__meta_consul_service_id", jstr(svc, "ID")) < 0 ||
        pg_labels_set(t, "__meta_consul_health", aggregated_status(json_object_get(e, "Checks"))) <
            0)
        goto out;
    if (set_map(t, "__meta_consul_metadata_", json_object_get(node, "Meta")) < 0 ||
        set_map(t, "__meta_consul_service_metadata_", json_object_get(svc, "Meta")) < 0 ||
        set_map(t, "__meta_consul_tagged_address_", json_object_get(node, "TaggedAddresses")) < 0)
        goto out;
    rc = 0;
out:
    free(addr);
    free(tags);
    return rc;
}

int pg_sd_consul_service_group(const char *body, size_t len, const char *service, const char *dc,
                               const char *tag_sep, struct pg_tgroup *out, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        pg_errmsg_set(err, errlen, "invalid JSON: %s", je.text);
        memset(out, 0, sizeof(*out));
        return -1;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        pg_errmsg_set(err, errlen, "health/service answer is not a JSON array");
        memset(out, 0, sizeof(*out));
        return -1;
    }
    if (pg_tgroup_init(out, service) < 0 ||
        pg_labels_set(&out->labels, "__meta_consul_service", service) < 0 ||
        pg_labels_set(&out->labels, "__meta_consul_dc", dc ? dc : "") < 0)
        goto oom;
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e)
    {
        if (!json_is_object(e))
            continue;
        if (add_entry(out, e, tag_sep ? tag_sep : ",") < 0)
            goto oom;
    }
    json_decref(root);
    return 0;
oom:
    json_decref(root);
    pg_tgroup_reset(out);
    pg_errmsg_set(err, errlen, "out of memory");
    return -1;
}

void pg_sd_consul_names_free(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int pg_sd_consul_catalog_names(const char *body, size_t len, char *const *services,
                               size_t n_services, char *const *tags, size_t n_tags, char ***names,
                               size_t *n, char *err, size_t errlen)
{
    *names = NULL;
    *n = 0;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        pg_errmsg_set(err, errlen, "invalid JSON: %s", je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        pg_errmsg_set(err, errlen, "catalog/services answer is not a JSON object");
        return -1;
    }
    char **v = calloc(json_object_size(root) + 1, sizeof(*v));
    size_t k = 0;
    if (!v)
        goto oom;
    const char *name;
    json_t *svc_tags;
    json_object_foreach(root, name, svc_tags)
    {
        int want = n_services == 0;
        for (size_t i = 0; i < n_services && !want; i++)
            want = strcmp(services[i], name) == 0;
        for (size_t i = 0; i < n_tags && want; i++) {
            int found = 0;
            size_t j;
            json_t *t;
            json_array_foreach(svc_tags, j, t)
            {
                const char *tv = json_string_value(t);
                if (tv && strcmp(tv, tags[i]) == 0) {
                    found = 1;
                    break;
                }
            }
            want = found;
        }
        if (!want)
            continue;
        v[k] = strdup(name);
        if (!v[k])
            goto oom;
        k++;
    }
    json_decref(root);
    *names = v;
    *n = k;
    return 0;
oom:
    pg_sd_consul_names_free(v, k);
    json_decref(root);
    pg_errmsg_set(err, errlen, "out of memory");
    return -1;
}

uint64_t pg_sd_consul_next_index(uint64_t prev, uint64_t got)
{
    if (got < prev)
        return 0;
    return got == 0 ? 1 : got;
}

/* ---------------------------------------------------------------------------------------
 * The mechanism */

enum pg_sd_consul_kind { PG_SD_CONSUL_SELF = 0, PG_SD_CONSUL_CATALOG, PG_SD_CONSUL_SERVICE };

/* ---- config (Prometheus discovery/consul: SDConfig) ---------------------------------- */

/* Reads the fields of entry g into c (defaults already set). */
static void consul_config_fields(struct pg_cfg_ld *l, yaml_node_t *g, struct pg_cfg_consul_sd *c)
{
    pg_cfg_get_str(l, g, "server", 1, &c->server);
    pg_cfg_get_str(l, g, "path_prefix", 1, &c->path_prefix);
    pg_cfg_get_secret(l, g, "token", &c->token);
    pg_cfg_get_str(l, g, "datacenter", 1, &c->datacenter);
    pg_cfg_get_str(l, g, "namespace", 1, &c->namespace_);
    pg_cfg_get_str(l, g, "partition", 1, &c->partition);
    pg_cfg_get_str(l, g, "scheme", 1, &c->scheme);
    pg_cfg_get_strv(l, g, "services", 1, &c->services, &c->n_services);
    pg_cfg_get_strv(l, g, "tags", 1, &c->tags, &c->n_tags);
    pg_cfg_get_labels(l, g, "node_meta", &c->node_meta);
    pg_cfg_get_str(l, g, "tag_separator", 1, &c->tag_separator);
    pg_cfg_get_bool(l, g, "allow_stale", &c->allow_stale);
    pg_cfg_get_dur(l, g, "refresh_interval", &c->refresh_interval_ms);
    pg_cfg_get_str(l, g, "filter", 1, &c->filter);
    pg_cfg_get_str(l, g, "health_filter", 1, &c->health_filter);
    pg_cfg_load_http(l, g, &c->http, 0);
    /* deprecated username/password: folded into basic_auth, as Prometheus does */
    char *user = NULL, *pass = NULL;
    pg_cfg_get_str(l, g, "username", 1, &user);
    pg_cfg_get_secret(l, g, "password", &pass);
    if (user || pass) {
        if (c->http.basic_auth_username || c->http.basic_auth_password) {
            pg_yaml_error(l->y, pg_cfg_key_node(l, g, "basic_auth"), l->errs,
                          "at most one of consul SD configuration username and password and "
                          "basic auth can be configured");
            free(user);
            free(pass);
        } else {
            c->http.basic_auth_username = user;
            c->http.basic_auth_password = pass;
        }
    }
}

/* Fills the defaults of the string fields left unset and validates c (entry g). */
static void consul_config_check(struct pg_cfg_ld *l, yaml_node_t *g, struct pg_cfg_consul_sd *c)
{
    if (c->token && c->http.auth_type)
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "authorization"), l->errs,
                      "at most one of consul SD token, authorization, or oauth2 can be "
                      "configured");
    if (!c->server)
        c->server = strdup("localhost:8500");
    if (!c->path_prefix)
        c->path_prefix = strdup("");
    if (!c->scheme)
        c->scheme = strdup("http");
    if (!c->tag_separator)
        c->tag_separator = strdup(",");
    if (strspn(c->server, " \t\r\n") == strlen(c->server))
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "server"), l->errs,
                      "consul SD configuration requires a server address");
    if (strcmp(c->scheme, "http") && strcmp(c->scheme, "https"))
        pg_yaml_error(l->y, pg_cfg_key_node(l, g, "scheme"), l->errs,
                      "unknown consul SD configuration scheme: %s (want http or https)", c->scheme);
    pg_cfg_check_refresh(l, g, c->refresh_interval_ms);
}

static void *consul_config_load(struct pg_cfg_ld *l, yaml_node_t *g)
{
    static const char *const k[] = {"server",        "path_prefix",      "token",
                                    "token_file",    "datacenter",       "namespace",
                                    "partition",     "scheme",           "username",
                                    "password",      "password_file",    "services",
                                    "tags",          "node_meta",        "tag_separator",
                                    "allow_stale",   "refresh_interval", "filter",
                                    "health_filter", PG_CFG_HTTP_KEYS,   NULL};
    struct pg_cfg_consul_sd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pg_labels_init(&c->node_meta);
    pg_labels_init(&c->http.headers);
    c->http.follow_redirects = 1;
    c->allow_stale = 1;
    c->refresh_interval_ms = 30 * 1000;
    c->line = (int)g->start_mark.line + 1;
    c->col = (int)g->start_mark.column + 1;
    if (pg_yaml_check_keys(l->y, g, k, "consul.SDConfig", l->errs) < 0)
        return c;
    consul_config_fields(l, g, c);
    consul_config_check(l, g, c);
    return c;
}

static void consul_config_free(void *cfg)
{
    struct pg_cfg_consul_sd *c = cfg;
    if (!c)
        return;
    free(c->server);
    free(c->path_prefix);
    free(c->token);
    free(c->datacenter);
    free(c->namespace_);
    free(c->partition);
    free(c->scheme);
    pg_cfg_strv_free(c->services, c->n_services);
    pg_cfg_strv_free(c->tags, c->n_tags);
    pg_labels_reset(&c->node_meta);
    free(c->tag_separator);
    free(c->filter);
    free(c->health_filter);
    pg_cfg_http_free(&c->http);
    free(c);
}

struct pg_sd_consul;

/* One loop of requests: agent/self (until it succeeds), the catalog, or one service. */
struct pg_sd_consul_watch {
    struct pg_sd_consul *c;
    enum pg_sd_consul_kind kind;
    char *service;            /* owned; NULL unless kind is SERVICE */
    struct pg_httpc_req *req; /* in flight, or NULL */
    struct event *timer;      /* owned: next request */
    uint64_t index;           /* index to send */
    uint64_t last_got;        /* X-Consul-Index of the last processed answer */
    int have;                 /* an answer was processed */
    unsigned failures;        /* consecutive */
    int64_t started_ms;       /* monotonic start of the last request */
    int mark;                 /* catalog sweep */
};

struct pg_sd_consul {
    const struct pg_cfg_consul_sd *cfg;
    char *job;
    struct event_base *base;
    struct pg_curlm *curlm; /* owned */
    pg_sd_emit_fn emit;
    void *ud;
    char *dc;        /* datacenter: configured or from agent/self; owned */
    char *base_url;  /* scheme://server + path_prefix; owned */
    char *token_hdr; /* "X-Consul-Token: ..." or NULL; owned */
    int catalog_mode;
    int stopped;
    int emitted;
    uint64_t rng;
    struct pg_sd_consul_watch *top;   /* agent/self then catalog; owned */
    struct pg_sd_consul_watch **svcs; /* owned */
    size_t n_svcs, cap_svcs;
};

static void count_metric(const char *name, const char *help)
{
    static const char *const lv[] = {"consul"};
    pg_metric_inc(pg_metric_counter(name, help, "mechanism"), lv, 1);
}

static void count_refresh(void)
{
    count_metric("profgate_sd_refreshes_total", "Discovery refreshes (requests) by mechanism.");
}

static void count_failure(void)
{
    count_metric("profgate_sd_refresh_failures_total", "Failed discovery refreshes by mechanism.");
}

static void sb_param(struct pg_sbuf *b, const char *name, const char *value)
{
    pg_sbuf_str(b, "&");
    pg_sbuf_str(b, name);
    if (value) {
        pg_sbuf_str(b, "=");
        pg_sbuf_escape(b, value, strlen(value));
    }
}

/* Builds the URL of w's next request into a new string (NULL on OOM). */
static char *watch_url(const struct pg_sd_consul_watch *w)
{
    const struct pg_sd_consul *c = w->c;
    const struct pg_cfg_consul_sd *cfg = c->cfg;
    struct pg_sbuf b = {0};
    char num[64];
    pg_sbuf_str(&b, c->base_url);
    if (w->kind == PG_SD_CONSUL_SELF) {
        pg_sbuf_str(&b, "/v1/agent/self?");
        if (cfg->namespace_)
            sb_param(&b, "ns", cfg->namespace_);
        if (cfg->partition)
            sb_param(&b, "partition", cfg->partition);
        goto done;
    }
    if (w->kind == PG_SD_CONSUL_CATALOG) {
        pg_sbuf_str(&b, "/v1/catalog/services");
    } else {
        pg_sbuf_str(&b, "/v1/health/service/");
        pg_sbuf_escape(&b, w->service, strlen(w->service));
    }
    snprintf(num, sizeof(num), "?index=%" PRIu64 "&wait=%dms", w->index, PG_SD_CONSUL_WAIT_MS);
    pg_sbuf_str(&b, num);
    if (c->dc && c->dc[0])
        sb_param(&b, "dc", c->dc);
    if (cfg->allow_stale)
        sb_param(&b, "stale", NULL);
    if (cfg->namespace_)
        sb_param(&b, "ns", cfg->namespace_);
    if (cfg->partition)
        sb_param(&b, "partition", cfg->partition);
    if (w->kind == PG_SD_CONSUL_SERVICE)
        for (size_t i = 0; i < cfg->n_tags; i++)
            sb_param(&b, "tag", cfg->tags[i]);
    for (size_t i = 0; i < cfg->node_meta.n; i++) {
        const struct pg_label *l = &cfg->node_meta.v[i];
        size_t kl = strlen(l->name), vl = strlen(l->value);
        char *kv = malloc(kl + vl + 2);
        if (!kv) {
            b.failed = 1;
            break;
        }
        memcpy(kv, l->name, kl);
        kv[kl] = ':';
        memcpy(kv + kl + 1, l->value, vl + 1);
        sb_param(&b, "node-meta", kv);
        free(kv);
    }
    const char *filter = w->kind == PG_SD_CONSUL_CATALOG ? cfg->filter : cfg->health_filter;
    if (filter && filter[0])
        sb_param(&b, "filter", filter);
done:
    return pg_sbuf_take(&b);
}

static void watch_send(evutil_socket_t fd, short what, void *arg);
static void on_done(void *ud, const struct pg_httpc_resp *resp);

static struct pg_sd_consul_watch *watch_new(struct pg_sd_consul *c, enum pg_sd_consul_kind kind,
                                            const char *service)
{
    struct pg_sd_consul_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->c = c;
    w->kind = kind;
    if (service && !(w->service = strdup(service))) {
        free(w);
        return NULL;
    }
    w->timer = evtimer_new(c->base, watch_send, w);
    if (!w->timer) {
        free(w->service);
        free(w);
        return NULL;
    }
    return w;
}

/* Cancels w's request and timer and frees it. Accepts NULL. */
static void watch_free(struct pg_sd_consul_watch *w)
{
    if (!w)
        return;
    pg_httpc_cancel(w->req);
    if (w->timer)
        event_free(w->timer);
    free(w->service);
    free(w);
}

static void watch_arm(struct pg_sd_consul_watch *w, int64_t delay_ms)
{
    if (delay_ms < 0)
        delay_ms = 0;
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000)};
    evtimer_add(w->timer, &tv);
}

/* Schedules the retry after a failure. */
static void watch_fail(struct pg_sd_consul_watch *w, const char *why, int64_t retry_after_ms)
{
    count_failure();
    w->failures++;
    int64_t d = pg_backoff_delay(PG_SD_CONSUL_MIN_BACKOFF_MS, PG_SD_CONSUL_MAX_BACKOFF_MS,
                                 w->failures, retry_after_ms, &w->c->rng);
    static const char *const what[] = {"agent/self", "catalog/services", "health/service"};
    pg_log_warn("sd.consul",
                "job=%s msg=\"request failed, keeping previous targets\" endpoint=%s "
                "service=\"%s\" err=\"%s\" failures=%u retry_in_ms=%" PRId64,
                w->c->job, what[w->kind], w->service ? w->service : "", why, w->failures, d);
    watch_arm(w, d);
}

static void watch_send(evutil_socket_t fd, short what, void *arg)
{
    struct pg_sd_consul_watch *w = arg;
    struct pg_sd_consul *c = w->c;
    (void)fd;
    (void)what;
    if (c->stopped || w->req)
        return;
    char *url = watch_url(w);
    if (!url) {
        watch_fail(w, "out of memory", -1);
        return;
    }
    const char *hdrs[1];
    size_t nh = 0;
    if (c->token_hdr)
        hdrs[nh++] = c->token_hdr;
    struct pg_httpc_opts o = {
        .method = "GET",
        .url = url,
        .http = &c->cfg->http,
        .headers = nh ? hdrs : NULL,
        .n_headers = nh,
        .timeout_ms = PG_SD_CONSUL_WAIT_MS + PG_SD_CONSUL_SLACK_MS,
        .max_body = PG_SD_CONSUL_MAX_BODY,
        .capture_header = "X-Consul-Index",
    };
    char err[256] = "";
    w->started_ms = pg_clock_mono_ms();
    count_refresh();
    w->req = pg_httpc_start(c->curlm, &o, on_done, w, err, sizeof(err));
    free(url);
    if (!w->req)
        watch_fail(w, err[0] ? err : "cannot start request", -1);
}

static int start_service_watch(struct pg_sd_consul *c, const char *name)
{
    if (c->n_svcs == c->cap_svcs) {
        size_t nc = c->cap_svcs ? c->cap_svcs * 2 : 8;
        struct pg_sd_consul_watch **v = realloc(c->svcs, nc * sizeof(*v));
        if (!v)
            return -1;
        c->svcs = v;
        c->cap_svcs = nc;
    }
    struct pg_sd_consul_watch *w = watch_new(c, PG_SD_CONSUL_SERVICE, name);
    if (!w)
        return -1;
    c->svcs[c->n_svcs++] = w;
    watch_arm(w, 0);
    return 0;
}

/* After the datacenter is known: start the catalog watch or the fixed service watches. */
static int start_watches(struct pg_sd_consul *c)
{
    if (c->catalog_mode) {
        c->top->kind = PG_SD_CONSUL_CATALOG;
        c->top->index = 0;
        c->top->failures = 0;
        watch_arm(c->top, 0);
        return 0;
    }
    watch_free(c->top);
    c->top = NULL;
    for (size_t i = 0; i < c->cfg->n_services; i++)
        if (start_service_watch(c, c->cfg->services[i]) < 0)
            return -1;
    return 0;
}

static void emit_groups(struct pg_sd_consul *c, struct pg_tgroup *g, size_t n)
{
    c->emitted = 1;
    c->emit(c->ud, g, n);
}

static void handle_self(struct pg_sd_consul_watch *w, const struct pg_httpc_resp *resp)
{
    struct pg_sd_consul *c = w->c;
    json_error_t je;
    json_t *root = json_loadb((const char *)resp->body, resp->len, 0, &je);
    const char *dc =
        json_string_value(json_object_get(json_object_get(root, "Config"), "Datacenter"));
    if (!dc) {
        json_decref(root);
        watch_fail(w, root ? "invalid value for Config.Datacenter" : "invalid JSON", -1);
        return;
    }
    c->dc = strdup(dc);
    json_decref(root);
    if (!c->dc) {
        watch_fail(w, "out of memory", -1);
        return;
    }
    pg_log_info("sd.consul", "job=%s msg=\"datacenter from agent\" datacenter=%s", c->job, c->dc);
    if (start_watches(c) < 0)
        pg_log_error("sd.consul", "job=%s msg=\"out of memory starting watches\"", c->job);
}

/* Applies a catalog answer. Returns 0, or -1 after scheduling a retry (watch_fail). */
static int handle_catalog(struct pg_sd_consul_watch *w, const struct pg_httpc_resp *resp)
{
    struct pg_sd_consul *c = w->c;
    char **names = NULL;
    size_t n = 0;
    char err[256];
    if (pg_sd_consul_catalog_names((const char *)resp->body, resp->len, c->cfg->services,
                                   c->cfg->n_services, c->cfg->tags, c->cfg->n_tags, &names, &n,
                                   err, sizeof(err)) < 0) {
        watch_fail(w, err, -1);
        return -1;
    }
    for (size_t i = 0; i < c->n_svcs; i++)
        c->svcs[i]->mark = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < c->n_svcs && strcmp(c->svcs[j]->service, names[i]) != 0)
            j++;
        if (j < c->n_svcs) {
            c->svcs[j]->mark = 1;
        } else if (start_service_watch(c, names[i]) == 0) {
            c->svcs[c->n_svcs - 1]->mark = 1;
            pg_log_info("sd.consul", "job=%s msg=\"watching service\" service=\"%s\"", c->job,
                        names[i]);
        }
    }
    pg_sd_consul_names_free(names, n);
    /* services that went away: stop watching, emit their group empty */
    size_t k = 0;
    for (size_t i = 0; i < c->n_svcs; i++) {
        struct pg_sd_consul_watch *s = c->svcs[i];
        if (s->mark) {
            c->svcs[k++] = s;
            continue;
        }
        pg_log_info("sd.consul", "job=%s msg=\"service gone\" service=\"%s\"", c->job, s->service);
        struct pg_tgroup g;
        if (s->have && pg_tgroup_init(&g, s->service) == 0) { /* it emitted targets before */
            emit_groups(c, &g, 1);
            pg_tgroup_reset(&g);
        }
        watch_free(s);
    }
    c->n_svcs = k;
    if (k == 0 && !c->emitted)
        emit_groups(c, NULL, 0); /* nothing to discover: say so (Prometheus sends {{}}) */
    return 0;
}

/* Emits a service's group. Returns 0, or -1 after scheduling a retry (watch_fail). */
static int handle_service(struct pg_sd_consul_watch *w, const struct pg_httpc_resp *resp)
{
    struct pg_sd_consul *c = w->c;
    struct pg_tgroup g;
    char err[256];
    if (pg_sd_consul_service_group((const char *)resp->body, resp->len, w->service, c->dc,
                                   c->cfg->tag_separator, &g, err, sizeof(err)) < 0) {
        watch_fail(w, err, -1);
        return -1;
    }
    emit_groups(c, &g, 1);
    pg_tgroup_reset(&g);
    return 0;
}

static uint64_t parse_index(const char *v, int *ok)
{
    *ok = 0;
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end != '\0')
        return 0;
    *ok = 1;
    return (uint64_t)x;
}

static void on_done(void *ud, const struct pg_httpc_resp *resp)
{
    struct pg_sd_consul_watch *w = ud;
    struct pg_sd_consul *c = w->c;
    w->req = NULL;
    if (resp->failed) {
        watch_fail(w, resp->error ? resp->error : "request failed", resp->retry_after_ms);
        return;
    }
    if (resp->status != 200) {
        char why[320];
        size_t bl = resp->len < 200 ? resp->len : 200;
        while (bl > 0 && (resp->body[bl - 1] == '\n' || resp->body[bl - 1] == '\r'))
            bl--;
        snprintf(why, sizeof(why), "Unexpected response code: %ld (%.*s)", resp->status, (int)bl,
                 (const char *)resp->body);
        pg_log_safe(why, why, sizeof(why));
        watch_fail(w, why, resp->retry_after_ms);
        return;
    }
    int64_t next = c->cfg->refresh_interval_ms - (pg_clock_mono_ms() - w->started_ms);
    if (w->kind == PG_SD_CONSUL_SELF) {
        handle_self(w, resp); /* schedules what comes next, or a retry */
        return;
    }
    int ok;
    uint64_t got = parse_index(resp->captured, &ok);
    if (!ok) {
        watch_fail(w, "missing or invalid X-Consul-Index header", -1);
        return;
    }
    if (w->have && got == w->last_got) {
        /* the blocking query timed out (or an idempotent write): nothing changed */
        w->failures = 0;
        watch_arm(w, next);
        return;
    }
    int rc = w->kind == PG_SD_CONSUL_CATALOG ? handle_catalog(w, resp) : handle_service(w, resp);
    if (rc < 0)
        return; /* a retry is scheduled */
    if (w->failures)
        pg_log_info("sd.consul", "job=%s msg=\"request succeeded again\" service=\"%s\"", c->job,
                    w->service ? w->service : "");
    w->failures = 0;
    w->index = pg_sd_consul_next_index(w->last_got, got);
    w->last_got = got;
    w->have = 1;
    watch_arm(w, next);
}

static void *consul_create(const void *cfg, const char *job)
{
    struct pg_sd_consul *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->job = strdup(job ? job : "");
    if (!c->job) {
        free(c);
        return NULL;
    }
    return c;
}

static void consul_stop(void *inst)
{
    struct pg_sd_consul *c = inst;
    c->stopped = 1;
    for (size_t i = 0; i < c->n_svcs; i++)
        watch_free(c->svcs[i]);
    c->n_svcs = 0;
    watch_free(c->top);
    c->top = NULL;
    pg_curlm_destroy(c->curlm); /* after every request of ours was cancelled */
    c->curlm = NULL;
}

static int consul_start(void *inst, struct event_base *base, pg_sd_emit_fn emit, void *ud)
{
    struct pg_sd_consul *c = inst;
    const struct pg_cfg_consul_sd *cfg = c->cfg;
    c->base = base;
    c->emit = emit;
    c->ud = ud;
    c->stopped = 0;
    c->rng = (uint64_t)pg_clock_mono_ms() ^ (uint64_t)(uintptr_t)c;
    const char *scheme = cfg->scheme ? cfg->scheme : "http";
    const char *server = cfg->server ? cfg->server : "localhost:8500";
    const char *prefix = cfg->path_prefix ? cfg->path_prefix : "";
    size_t ul = strlen(scheme) + strlen(server) + strlen(prefix) + 4;
    c->base_url = malloc(ul);
    if (!c->base_url)
        return -1;
    snprintf(c->base_url, ul, "%s://%s%s", scheme, server, prefix);
    if (cfg->token && cfg->token[0]) {
        size_t tl = strlen(cfg->token) + sizeof("X-Consul-Token: ");
        c->token_hdr = malloc(tl);
        if (!c->token_hdr)
            return -1;
        snprintf(c->token_hdr, tl, "X-Consul-Token: %s", cfg->token);
    }
    c->catalog_mode = cfg->n_services == 0 || cfg->n_tags > 0 || (cfg->filter && cfg->filter[0]);
    c->curlm = pg_curlm_create(base);
    if (!c->curlm)
        return -1;
    c->top = watch_new(c, PG_SD_CONSUL_SELF, NULL);
    if (!c->top)
        return -1;
    pg_log_info("sd.consul", "job=%s msg=\"starting\" server=%s mode=%s", c->job, server,
                c->catalog_mode ? "catalog" : "services");
    if (cfg->datacenter && cfg->datacenter[0]) {
        c->dc = strdup(cfg->datacenter);
        if (!c->dc)
            return -1;
        return start_watches(c);
    }
    watch_arm(c->top, 0); /* agent/self first */
    return 0;
}

static void consul_destroy(void *inst)
{
    struct pg_sd_consul *c = inst;
    if (!c)
        return;
    consul_stop(c);
    free(c->svcs);
    free(c->dc);
    free(c->base_url);
    free(c->token_hdr);
    free(c->job);
    free(c);
}

const struct pg_sd_mechanism pg_sd_consul = {
    .name = "consul",
    .config_key = "consul_sd_configs",
    .config_load = consul_config_load,
    .config_free = consul_config_free,
    .create = consul_create,
    .start = consul_start,
    .stop = consul_stop,
    .destroy = consul_destroy,
};
