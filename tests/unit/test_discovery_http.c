/* test_discovery_http.c - the "http" discovery mechanism (http_sd_configs) against an
 * in-process evhttp server on 127.0.0.1: labels and sources, the request headers, refreshes
 * picking up changes, groups that disappear emitted empty, failures (500, wrong content
 * type, bad JSON, connection refused) keeping the previous targets, the failure metrics,
 * and the manager delivering the targets with its sync metrics. Every wait is a
 * deadline-bounded loop over the event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config/config.h"
#include "core/metrics.h"
#include "discovery/manager.h"
#include "discovery/http_sd.h"
#include "discovery/sd.h"
#include "testutil.h"

#define DEADLINE_MS 10000

struct srv {
    struct evhttp *http;
    int port;
    int status;
    char ctype[64];
    char body[2048];
    int requests;
    char accept[64];
    char interval[64];
};

/* What the instance emitted: a deep copy of the last emit, and how many emits there were. */
struct rec {
    int emits;
    struct pg_tgroup *groups;
    size_t n;
};

struct fix {
    struct event_base *base;
    struct srv srv;
    struct rec rec;
    char url[128];
    struct pg_cfg_http_sd cfg;
    void *inst;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *a = evhttp_find_header(in, "Accept");
    const char *r = evhttp_find_header(in, "X-Prometheus-Refresh-Interval-Seconds");
    snprintf(s->accept, sizeof(s->accept), "%s", a ? a : "");
    snprintf(s->interval, sizeof(s->interval), "%s", r ? r : "");
    s->requests++;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, s->body, strlen(s->body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", s->ctype);
    evhttp_send_reply(req, s->status, s->status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
}

static void srv_start(struct event_base *base, struct srv *s)
{
    s->http = evhttp_new(base);
    assert_non_null(s->http);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    evhttp_set_gencb(s->http, on_request, s);
    s->status = 200;
    snprintf(s->ctype, sizeof(s->ctype), "application/json");
}

static void srv_serve(struct srv *s, int status, const char *ctype, const char *body)
{
    s->status = status;
    snprintf(s->ctype, sizeof(s->ctype), "%s", ctype);
    snprintf(s->body, sizeof(s->body), "%s", body);
}

static void rec_clear(struct rec *r)
{
    pg_tgroup_free_array(r->groups, r->n);
    r->groups = NULL;
    r->n = 0;
}

static void on_emit(void *ud, struct pg_tgroup *groups, size_t n)
{
    struct rec *r = ud;
    rec_clear(r);
    r->emits++;
    r->groups = calloc(n ? n : 1, sizeof(*r->groups));
    assert_non_null(r->groups);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pg_tgroup_init(&r->groups[i], groups[i].source), 0);
        assert_int_equal(pg_labels_copy(&r->groups[i].labels, &groups[i].labels), 0);
        for (size_t t = 0; t < groups[i].n_targets; t++) {
            struct pg_labels *l = pg_tgroup_add_target(&r->groups[i]);
            assert_non_null(l);
            assert_int_equal(pg_labels_copy(l, &groups[i].targets[t]), 0);
        }
    }
    r->n = n;
}

/* Runs the loop until *flag >= want or the deadline passes; returns 1 if reached. */
static int wait_for(struct event_base *base, const int *flag, int want)
{
    int64_t end = now_ms() + DEADLINE_MS;
    while (*flag < want && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return *flag >= want;
}

static double failures(void)
{
    const char *lv[] = {"http"};
    return pg_metric_value(pg_metric_counter("profgate_sd_refresh_failures_total", "", "mechanism"),
                           lv);
}

static double refreshes(void)
{
    const char *lv[] = {"http"};
    return pg_metric_value(pg_metric_counter("profgate_sd_refreshes_total", "", "mechanism"), lv);
}

/* Runs the loop until the failure counter reached want (deadline bounded). */
static int wait_failures(struct event_base *base, double want)
{
    int64_t end = now_ms() + DEADLINE_MS;
    while (failures() < want && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    return failures() >= want;
}

static const struct pg_tgroup *find_group(const struct rec *r, const char *source)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->groups[i].source, source) == 0)
            return &r->groups[i];
    return NULL;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    srv_start(f->base, &f->srv);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/sd", f->srv.port);
    f->cfg.url = f->url;
    f->cfg.refresh_interval_ms = 100;
    f->cfg.http.follow_redirects = 1;
    pg_labels_init(&f->cfg.http.headers);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    pg_sd_http.destroy(f->inst);
    rec_clear(&f->rec);
    evhttp_free(f->srv.http);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void start_inst(struct fix *f)
{
    f->inst = pg_sd_http.create(&f->cfg, "job-http");
    assert_non_null(f->inst);
    assert_int_equal(pg_sd_http.start(f->inst, f->base, on_emit, &f->rec), 0);
}

static void test_lookup(void **state)
{
    (void)state;
    assert_ptr_equal(pg_sd_lookup("http"), &pg_sd_http);
}

static void test_labels_and_headers(void **state)
{
    struct fix *f = *state;
    srv_serve(&f->srv, 200, "application/json",
              "[{\"targets\": [\"a:1\", \"b:2\"], \"labels\": {\"env\": \"prod\", "
              "\"__meta_url\": \"spoofed\"}}, {\"targets\": [\"c:3\"]}]");
    start_inst(f);
    assert_true(wait_for(f->base, &f->rec.emits, 1));
    assert_string_equal(f->srv.accept, "application/json");
    assert_string_equal(f->srv.interval, "0.1");
    assert_int_equal(f->rec.n, 2);
    char src[160];
    snprintf(src, sizeof(src), "%s:0", f->url);
    const struct pg_tgroup *g0 = find_group(&f->rec, src);
    assert_non_null(g0);
    assert_string_equal(pg_labels_get(&g0->labels, "__meta_url"), f->url);
    assert_string_equal(pg_labels_get(&g0->labels, "env"), "prod");
    assert_int_equal(g0->n_targets, 2);
    assert_string_equal(pg_labels_get(&g0->targets[0], "__address__"), "a:1");
    assert_string_equal(pg_labels_get(&g0->targets[1], "__address__"), "b:2");
    snprintf(src, sizeof(src), "%s:1", f->url);
    const struct pg_tgroup *g1 = find_group(&f->rec, src);
    assert_non_null(g1);
    assert_string_equal(pg_labels_get(&g1->labels, "__meta_url"), f->url);
    assert_null(pg_labels_get(&g1->labels, "env"));
    assert_int_equal(g1->n_targets, 1);
    assert_string_equal(pg_labels_get(&g1->targets[0], "__address__"), "c:3");
}

static void test_interval_header_whole_seconds(void **state)
{
    struct fix *f = *state;
    f->cfg.refresh_interval_ms = 60000;
    srv_serve(&f->srv, 200, "application/json; charset=utf-8", "[]");
    start_inst(f);
    assert_true(wait_for(f->base, &f->rec.emits, 1)); /* the first refresh is immediate */
    assert_string_equal(f->srv.interval, "60");
    assert_int_equal(f->rec.n, 0); /* an empty list is a (full, empty) update */
}

static void test_refresh_and_disappearing_group(void **state)
{
    struct fix *f = *state;
    srv_serve(&f->srv, 200, "application/json",
              "[{\"targets\": [\"a:1\"]}, {\"targets\": [\"b:1\"], \"labels\": {\"x\": \"1\"}}]");
    start_inst(f);
    assert_true(wait_for(f->base, &f->rec.emits, 1));
    assert_int_equal(f->rec.n, 2);
    int seen = f->srv.requests;
    srv_serve(&f->srv, 200, "application/json", "[{\"targets\": [\"a:1\", \"a:2\"]}]");
    /* wait for the emit of a response with the new body */
    int64_t end = now_ms() + DEADLINE_MS;
    while (!(f->rec.n > 0 && f->rec.groups[0].n_targets == 2) && now_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_true(f->srv.requests > seen);
    assert_int_equal(f->rec.n, 2);
    char src[160];
    snprintf(src, sizeof(src), "%s:0", f->url);
    const struct pg_tgroup *g0 = find_group(&f->rec, src);
    assert_non_null(g0);
    assert_int_equal(g0->n_targets, 2);
    assert_string_equal(pg_labels_get(&g0->targets[1], "__address__"), "a:2");
    snprintf(src, sizeof(src), "%s:1", f->url);
    const struct pg_tgroup *g1 = find_group(&f->rec, src);
    assert_non_null(g1); /* the group that disappeared is emitted empty */
    assert_int_equal(g1->n_targets, 0);
    /* the next refresh no longer mentions it */
    int emits = f->rec.emits;
    assert_true(wait_for(f->base, &f->rec.emits, emits + 1));
    assert_int_equal(f->rec.n, 1);
    assert_true(refreshes() >= 3);
}

/* Serves a good list, then switches to a bad answer and checks that at least two failed
 * refreshes emit nothing and count as failures. */
static void check_failure_keeps_targets(struct fix *f, int status, const char *ctype,
                                        const char *body)
{
    srv_serve(&f->srv, 200, "application/json", "[{\"targets\": [\"keep:1\"]}]");
    start_inst(f);
    assert_true(wait_for(f->base, &f->rec.emits, 1));
    double fail0 = failures();
    srv_serve(&f->srv, status, ctype, body);
    /* once one failure is processed no good response can be in flight (one at a time) */
    assert_true(wait_failures(f->base, fail0 + 1));
    int emits = f->rec.emits;
    assert_true(wait_failures(f->base, fail0 + 3));
    assert_int_equal(f->rec.emits, emits);
    assert_int_equal(f->rec.n, 1);
    assert_string_equal(pg_labels_get(&f->rec.groups[0].targets[0], "__address__"), "keep:1");
    /* recovery: the next good answer is emitted again */
    srv_serve(&f->srv, 200, "application/json", "[{\"targets\": [\"back:1\"]}]");
    assert_true(wait_for(f->base, &f->rec.emits, emits + 1));
    assert_string_equal(pg_labels_get(&f->rec.groups[0].targets[0], "__address__"), "back:1");
}

static void test_500_keeps_targets(void **state)
{
    check_failure_keeps_targets(*state, 500, "application/json", "[]");
}

static void test_html_keeps_targets(void **state)
{
    check_failure_keeps_targets(*state, 200, "text/html", "[]");
}

static void test_bad_json_keeps_targets(void **state)
{
    check_failure_keeps_targets(*state, 200, "application/json", "[{\"targets\": [1]}]");
}

static void test_json_lookalike_type_rejected(void **state)
{
    check_failure_keeps_targets(*state, 200, "application/jsonx", "[]");
}

static void test_connection_refused(void **state)
{
    struct fix *f = *state;
    /* a port nobody listens on: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/sd", ntohs(sa.sin_port));
    double fail0 = failures();
    start_inst(f);
    assert_true(wait_failures(f->base, fail0 + 2));
    assert_int_equal(f->rec.emits, 0);
}

struct syncrec {
    int syncs;
    size_t n_targets;
    char job[32];
};

static void on_sync(void *ud, const char *job, const struct pg_tgroup *groups, size_t n)
{
    struct syncrec *s = ud;
    s->syncs++;
    snprintf(s->job, sizeof(s->job), "%s", job);
    s->n_targets = 0;
    for (size_t i = 0; i < n; i++)
        s->n_targets += groups[i].n_targets;
}

static void test_manager_http_job(void **state)
{
    struct fix *f = *state;
    srv_serve(&f->srv, 200, "application/json", "[{\"targets\": [\"m:1\", \"m:2\", \"m:3\"]}]");
    struct syncrec sr = {0};
    struct pg_sd_manager *m = pg_sd_manager_create(f->base, 20, on_sync, &sr);
    assert_non_null(m);
    struct pg_cfg_scrape job = {0};
    job.job_name = "mgr-job";
    struct pg_cfg_sd sd = {.mech = &pg_sd_http, .cfg = &f->cfg};
    job.sd = &sd;
    job.n_sd = 1;
    assert_int_equal(pg_sd_manager_add_job(m, &job), 0);
    assert_true(wait_for(f->base, &sr.syncs, 1));
    assert_string_equal(sr.job, "mgr-job");
    assert_int_equal(sr.n_targets, 3);
    const char *lv[] = {"mgr-job"};
    assert_true(pg_metric_value(pg_metric_gauge("profgate_sd_discovered_targets", "", "job"), lv) ==
                3.0);
    assert_true(pg_metric_value(pg_metric_counter("profgate_sd_updates_total", "", "job"), lv) >=
                1.0);
    /* a failing source never empties the job */
    int syncs = sr.syncs;
    double fail0 = failures();
    srv_serve(&f->srv, 503, "text/plain", "down");
    assert_true(wait_failures(f->base, fail0 + 3));
    assert_true(sr.syncs <= syncs + 1); /* at most the sync of a response already in flight */
    assert_int_equal(sr.n_targets, 3);
    assert_true(pg_metric_value(pg_metric_gauge("profgate_sd_discovered_targets", "", "job"), lv) ==
                3.0);
    pg_sd_manager_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test_setup_teardown(test_labels_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_header_whole_seconds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_and_disappearing_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_500_keeps_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_keeps_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json_keeps_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_lookalike_type_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manager_http_job, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pg_metrics_shutdown();
    return rc;
}
