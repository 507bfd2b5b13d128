/* ui.c - the web UI's routes (see ui.h): the embedded static files, and the backends,
 * buffer and config endpoints. Service discovery is ui_sd.c, the targets page's endpoint
 * ui_targets.c, flame graphs ui_flame.c.
 *
 * Everything here answers at once from in-memory state on the event loop, except the
 * backends endpoint, which asks the buffer two small SQLite questions per backend. */
#include "daemon/ui.h"
#include "daemon/ui_internal.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/clock.h"
#include "core/errmsg.h"
#include "daemon/config_redact.h"
#include "daemon/ui_assets.h"
#include "daemon/ui_json.h"
#include "daemon/web.h"
#include "yamlcfg/units.h"

/* Page paths and the file that serves each. */
static const struct {
    const char *path, *file;
} pages[] = {
    {"/", "index.html"},
    {"/targets", "targets.html"},
    {"/service-discovery", "service-discovery.html"},
    {"/backends", "backends.html"},
    {"/buffer", "buffer.html"},
    {"/config", "config.html"},
    {"/flamegraph", "flamegraph.html"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
    };
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static const struct pg_ui_asset *find_asset(const char *name)
{
    for (const struct pg_ui_asset *a = pg_ui_assets; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

/* Serves asset a: 304 when the client's If-None-Match has its ETag. */
static void serve_asset(struct evhttp_request *req, const struct pg_ui_asset *a)
{
    if (!pg_ui_get_only(req))
        return;
    char etag[40];
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)XXH64(a->data, a->len, 0));
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "ETag", etag);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (inm && strstr(inm, etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
    evhttp_add_header(out, "Content-Type", content_type(a->name));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void asset_handler(struct evhttp_request *req, void *ud)
{
    serve_asset(req, ud);
}

/* ---- /api/v1/backends ---- */

static json_t *backend_json(const struct pg_sink_queue_status *st, int64_t now)
{
    char url[2048], backoff[32];
    pg_config_redact_url(st->url ? st->url : "", url, sizeof(url));
    pg_units_format_duration(st->backoff_ms, backoff, sizeof(backoff));
    json_t *o = json_object();
    json_object_set_new(o, "name", pg_ui_jstr(st->name));
    json_object_set_new(o, "url", pg_ui_jstr(url));
    json_object_set_new(o, "api", pg_ui_jstr(st->api));
    json_object_set_new(o, "pendingProfiles", json_integer(st->pending));
    json_object_set_new(o, "oldestUnsent", pg_ui_time(st->oldest_unsent_ms));
    json_object_set_new(o, "oldestUnsentAgeSeconds",
                        json_real(st->oldest_unsent_ms > 0 && now > st->oldest_unsent_ms
                                      ? (double)(now - st->oldest_unsent_ms) / 1e3
                                      : 0));
    json_object_set_new(o, "inFlightRequests", json_integer((json_int_t)st->in_flight));
    json_object_set_new(o, "sentProfiles", json_integer((json_int_t)st->sent));
    json_object_set_new(o, "sentBytes", json_integer((json_int_t)st->sent_bytes));
    json_object_set_new(o, "failedProfiles", json_integer((json_int_t)st->failed));
    json_object_set_new(o, "retriedProfiles", json_integer((json_int_t)st->retried));
    json_object_set_new(o, "droppedProfiles", json_integer((json_int_t)st->dropped));
    json_object_set_new(o, "lastError", pg_ui_jstr(st->last_error));
    json_object_set_new(o, "lastErrorStatus", json_integer(st->last_error_status));
    json_object_set_new(o, "lastErrorTime", pg_ui_time(st->last_error_ms));
    json_object_set_new(o, "lastSuccess", pg_ui_time(st->last_success_ms));
    json_object_set_new(o, "backoff", json_string(st->backoff_ms > 0 ? backoff : "0s"));
    json_object_set_new(o, "backoffAttempt", json_integer(st->attempt));
    return o;
}

static void backends_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    if (!pg_ui_get_only(req))
        return;
    json_t *arr = json_array();
    size_t n = ui->host.n_backends(ui->host.ud);
    int64_t now = pg_clock_unix_ms();
    for (size_t i = 0; arr && i < n; i++) {
        struct pg_sink_queue_status st;
        ui->host.backend(ui->host.ud, i, &st);
        json_array_append_new(arr, backend_json(&st, now));
    }
    json_t *data = json_object();
    json_object_set_new(data, "backends", arr);
    pg_ui_reply_data(req, data);
}

/* ---- /api/v1/buffer ---- */

static void buffer_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    if (!pg_ui_get_only(req))
        return;
    struct pg_ui_buffer b;
    if (ui->host.buffer(ui->host.ud, &b) < 0) {
        pg_ui_reply_error(req, 503, "unavailable", "no buffer is open (see the log)");
        return;
    }
    int64_t now = pg_clock_unix_ms();
    char age[32];
    pg_units_format_duration(b.max_age_ms, age, sizeof(age));
    json_t *o = json_object();
    json_object_set_new(o, "path", pg_ui_jstr(b.path));
    json_object_set_new(o, "rows", json_integer((json_int_t)b.st.rows));
    json_object_set_new(o, "bytes", json_integer((json_int_t)b.st.bytes));
    json_object_set_new(o, "maxSizeBytes", json_integer((json_int_t)b.max_size));
    json_object_set_new(o, "maxAge", json_string(b.max_age_ms > 0 ? age : "0s"));
    json_object_set_new(o, "oldest", pg_ui_time(b.st.oldest_ms));
    json_object_set_new(o, "oldestAgeSeconds",
                        json_real(b.st.oldest_ms > 0 && now > b.st.oldest_ms
                                      ? (double)(now - b.st.oldest_ms) / 1e3
                                      : 0));
    json_object_set_new(o, "appendedProfiles", json_integer((json_int_t)b.st.appended));
    json_object_set_new(o, "evictedProfiles", json_integer((json_int_t)b.st.evicted));
    json_object_set_new(o, "lostProfiles", json_integer((json_int_t)b.st.lost));
    json_object_set_new(o, "droppedProfiles",
                        json_pack("{s:I,s:I}", "commit_failed", (json_int_t)b.dropped_commit_failed,
                                  "buffer_error", (json_int_t)b.dropped_buffer_error));
    json_object_set_new(o, "errors", json_integer((json_int_t)b.st.errors));
    json_object_set_new(o, "checkpoints", json_integer((json_int_t)b.st.checkpoints));
    json_object_set_new(o, "checkpointErrors", json_integer((json_int_t)b.st.checkpoint_errors));
    json_object_set_new(o, "lastCheckpointError", pg_ui_jstr(b.st.checkpoint_error));
    pg_ui_reply_data(req, o);
}

/* ---- /api/v1/status/config (Prometheus's shape: {"yaml": "..."}) ---- */

static void config_handler(struct evhttp_request *req, void *ud)
{
    struct pg_ui *ui = ud;
    if (!pg_ui_get_only(req))
        return;
    const char *why = NULL;
    const char *yaml = ui->host.config_yaml(ui->host.ud, &why);
    if (!yaml) {
        pg_ui_reply_error(req, 503, "unavailable", why ? why : "the config is not available");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "yaml", pg_ui_jstr(yaml));
    pg_ui_reply_data(req, o);
}

/* ---- routes ---- */

static const struct {
    const char *path;
    pg_web_handler_fn fn;
} api_routes[] = {
    {"/api/v1/backends", backends_handler},
    {"/api/v1/buffer", buffer_handler},
    {"/api/v1/status/config", config_handler},
    {"/api/v1/service-discovery", pg_ui_sd_handler},
    {"/api/v1/targets/relabel_steps", pg_ui_relabel_steps_handler},
    {"/api/v1/targets/pools", pg_ui_targets_handler},
    {"/api/v1/flamegraph", pg_ui_flame_handler},
    {"/api/v1/pushes", pg_ui_pushes_handler},
};

static int add_routes(struct pg_ui *ui)
{
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        const struct pg_ui_asset *a = find_asset(pages[i].file);
        if (!a || pg_web_route(ui->web, pages[i].path, asset_handler, (void *)a) < 0)
            return -1;
    }
    char path[256];
    for (const struct pg_ui_asset *a = pg_ui_assets; a->name; a++) {
        if (strstr(a->name, ".html"))
            continue;
        snprintf(path, sizeof(path), "/static/%s", a->name);
        if (pg_web_route(ui->web, path, asset_handler, (void *)a) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
        if (pg_web_route(ui->web, api_routes[i].path, api_routes[i].fn, ui) < 0)
            return -1;
    return 0;
}

static void remove_routes(struct pg_ui *ui)
{
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        pg_web_unroute(ui->web, pages[i].path);
    char path[256];
    for (const struct pg_ui_asset *a = pg_ui_assets; a->name; a++) {
        snprintf(path, sizeof(path), "/static/%s", a->name);
        pg_web_unroute(ui->web, path);
    }
    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
        pg_web_unroute(ui->web, api_routes[i].path);
}

struct pg_ui *pg_ui_create(struct pg_web *w, const struct pg_ui_host *host, char *err,
                           size_t errlen)
{
    struct pg_ui *ui = calloc(1, sizeof(*ui));
    if (!ui) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    ui->web = w;
    ui->host = *host;
    if (add_routes(ui) < 0) {
        pg_errmsg_set(err, errlen, "web UI: out of memory or a page is missing from the build");
        pg_ui_destroy(ui);
        return NULL;
    }
    return ui;
}

void pg_ui_destroy(struct pg_ui *ui)
{
    if (!ui)
        return;
    remove_routes(ui);
    pg_ui_flame_orphan_all(ui);
    free(ui->jobs);
    free(ui);
}
