/* receiver_fixture.h - the in-process receiver the /ingest and push.v1 harnesses drive
 * (static functions: each harness compiles its own copy).
 *
 * pg_fuzz_receiver_init builds, once per process, what tests/unit/test_daemon_receiver.c
 * builds: a config in a scratch directory, the app (buffer in that directory), the web
 * server and the receiver. Its receiver.relabel_configs end with a rule that drops every
 * series, so every request runs the whole parse/convert/validate/relabel path of the
 * handler but nothing is appended to SQLite (which would make each execution cost a
 * commit and fill the disk). pg_fuzz_receiver_serve builds a POST request in memory
 * (struct evhttp_request with no connection: libevent frees it when the handler replies,
 * so an unanswered request shows up as a leak), runs the route's handler on it and runs
 * the loop until the processing worker's conversion came back and was answered. */
#ifndef PG_TESTS_FUZZ_RECEIVER_FIXTURE_H
#define PG_TESTS_FUZZ_RECEIVER_FIXTURE_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "yamlcfg/errors.h"
#include "core/log.h"
#include "daemon/app.h"
#include "daemon/receiver_internal.h"
#include "daemon/web.h"

static struct {
    struct event_base *base;
    struct pg_app *app;
    struct pg_web *web;
    struct pg_receiver *recv;
    struct pg_cfg *rcfg;
} pg_fuzz_rx;

static void pg_fuzz_receiver_init(void)
{
    static char dir[64] = "/tmp/pg_fuzz_recv_XXXXXX";
    char path[128], text[1024], err[512];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/profgate.yml", dir);
    snprintf(text, sizeof text,
             "storage: {path: %s/data}\n"
             "remote_write:\n"
             "  - {name: sink, url: \"http://127.0.0.1:9\", api: push, max_backoff: 1h,"
             " min_backoff: 1h}\n"
             "receiver:\n"
             "  enabled: false\n"
             "  max_body_size: 256KiB\n"
             "  relabel_configs:\n"
             "    - {target_label: hop, replacement: gw}\n"
             "    - {source_labels: [__name__], regex: '.*', action: drop}\n",
             dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
    pg_log_set_level(PG_LOG_ERROR);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *cfg = pg_cfg_load(path, &errs);
    pg_fuzz_rx.rcfg = pg_cfg_load(path, &errs);
    if (errs.n || !cfg || !pg_fuzz_rx.rcfg)
        abort();
    pg_cfg_errors_reset(&errs);
    pg_fuzz_rx.base = event_base_new();
    struct pg_app_opts opts = {.config_file = path, .listen_address = "127.0.0.1:0"};
    pg_fuzz_rx.app = pg_app_create(pg_fuzz_rx.base, &opts, cfg, err, sizeof err);
    if (!pg_fuzz_rx.app)
        abort();
    struct pg_web_host wh;
    pg_app_web_host(pg_fuzz_rx.app, &wh);
    pg_fuzz_rx.web = pg_web_create(pg_fuzz_rx.base, &wh, "127.0.0.1:0", err, sizeof err);
    if (!pg_fuzz_rx.web)
        abort();
    struct pg_receiver_host rh;
    pg_app_receiver_host(pg_fuzz_rx.app, &rh);
    pg_fuzz_rx.recv =
        pg_receiver_create(&rh, pg_fuzz_rx.web, pg_fuzz_rx.base, pg_fuzz_rx.rcfg, err, sizeof err);
    if (!pg_fuzz_rx.recv)
        abort();
}

/* headers: "Name: value\n" lines (may be NULL). Returns -1 when libevent would not have
 * dispatched such a request (unparsable URI). */
static int pg_fuzz_receiver_serve(enum pg_receiver_route route, const char *uri,
                                  const char *headers, const void *body, size_t len)
{
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(uri, 0);
    if (!u)
        return -1;
    struct evhttp_request *req = evhttp_request_new(NULL, NULL);
    if (!req) {
        evhttp_uri_free(u);
        return -1;
    }
    req->kind = EVHTTP_REQUEST;
    req->type = EVHTTP_REQ_POST;
    req->uri = strdup(uri);
    req->uri_elems = u;
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", len);
    evhttp_add_header(req->input_headers, "Content-Length", cl);
    for (const char *h = headers; h && *h;) {
        const char *nl = strchr(h, '\n'), *end = nl ? nl : h + strlen(h);
        const char *colon = memchr(h, ':', (size_t)(end - h));
        if (colon && colon > h) {
            char *k = strndup(h, (size_t)(colon - h));
            const char *v = colon + 1;
            while (v < end && *v == ' ')
                v++;
            char *val = strndup(v, (size_t)(end - v));
            if (k && val)
                evhttp_add_header(req->input_headers, k, val);
            free(k);
            free(val);
        }
        h = nl ? nl + 1 : end;
    }
    evbuffer_add(req->input_buffer, body, len);
    pg_receiver_serve(pg_fuzz_rx.recv, req, route);
    /* the conversion runs on the app's processing workers: the reply (which frees req)
     * comes with the completion the loop runs */
    while (pg_receiver_inflight(pg_fuzz_rx.recv))
        event_base_loop(pg_fuzz_rx.base, EVLOOP_ONCE);
    event_base_loop(pg_fuzz_rx.base, EVLOOP_NONBLOCK);
    return 0;
}

#endif
