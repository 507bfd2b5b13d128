/* test_discovery_consul.c - unit tests for the "consul" discovery mechanism.
 *
 * The pure parts (discovery/consul.h) are checked against hand-written Consul answers:
 * the exact label set of an instance (as Prometheus's discovery/consul builds it), health
 * aggregation, catalog filtering by name and tags, and the index rules for blocking
 * queries. The mechanism itself runs against an in-process evhttp fake Consul agent on
 * 127.0.0.1 (port 0) in the same loop: it holds blocking queries until the test bumps the
 * index, checks X-Consul-Token, and can fail on demand. */
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
#include "discovery/consul.h"
#include "discovery/sd.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------ */
/* Pure parts */

static const char HEALTH_WEB[] =
    "[{\"Node\":{\"ID\":\"n1\",\"Node\":\"node-1\",\"Address\":\"10.0.0.1\","
    "\"Datacenter\":\"dc1\",\"TaggedAddresses\":{\"lan\":\"10.0.0.1\",\"wan\":\"198.51.100.1\"},"
    "\"Meta\":{\"rack\":\"r1\",\"env-name\":\"prod\"}},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"prof\",\"v1\"],"
    "\"Address\":\"10.1.0.5\",\"Port\":6060,\"Meta\":{\"team.name\":\"core\"},"
    "\"TaggedAddresses\":{},\"Namespace\":\"\",\"Partition\":\"\"},"
    "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Status\":\"passing\"},"
    "{\"CheckID\":\"service:web-1\",\"Status\":\"warning\"}]},"
    "{\"Node\":{\"Node\":\"node-2\",\"Address\":\"fd00::2\",\"TaggedAddresses\":null,"
    "\"Meta\":null},"
    "\"Service\":{\"ID\":\"web-2\",\"Service\":\"web\",\"Tags\":[],\"Address\":\"\","
    "\"Port\":7070,\"Meta\":null,\"Namespace\":\"ns1\",\"Partition\":\"p1\"},"
    "\"Checks\":[]}]";

static void test_service_group_labels(void **state)
{
    (void)state;
    struct pg_tgroup g;
    char err[128];
    assert_int_equal(pg_sd_consul_service_group(HEALTH_WEB, strlen(HEALTH_WEB), "web", "dc1", ",",
                                                &g, err, sizeof(err)),
                     0);
    assert_string_equal(g.source, "web");
    char *gl = pg_labels_format(&g.labels);
    assert_string_equal(gl, "{__meta_consul_dc=\"dc1\", __meta_consul_service=\"web\"}");
    free(gl);
    assert_int_equal(g.n_targets, 2);
    char *t0 = pg_labels_format(&g.targets[0]);
    assert_string_equal(t0, "{__address__=\"10.1.0.5:6060\", "
                            "__meta_consul_address=\"10.0.0.1\", "
                            "__meta_consul_health=\"warning\", "
                            "__meta_consul_metadata_env_name=\"prod\", "
                            "__meta_consul_metadata_rack=\"r1\", "
                            "__meta_consul_namespace=\"\", "
                            "__meta_consul_node=\"node-1\", "
                            "__meta_consul_partition=\"\", "
                            "__meta_consul_service_address=\"10.1.0.5\", "
                            "__meta_consul_service_id=\"web-1\", "
                            "__meta_consul_service_metadata_team_name=\"core\", "
                            "__meta_consul_service_port=\"6060\", "
                            "__meta_consul_tagged_address_lan=\"10.0.0.1\", "
                            "__meta_consul_tagged_address_wan=\"198.51.100.1\", "
                            "__meta_consul_tags=\",prof,v1,\"}");
    free(t0);
    /* no service address: the node address (IPv6, bracketed), empty tags ",," */
    char *t1 = pg_labels_format(&g.targets[1]);
    assert_string_equal(t1, "{__address__=\"[fd00::2]:7070\", "
                            "__meta_consul_address=\"fd00::2\", "
                            "__meta_consul_health=\"passing\", "
                            "__meta_consul_namespace=\"ns1\", "
                            "__meta_consul_node=\"node-2\", "
                            "__meta_consul_partition=\"p1\", "
                            "__meta_consul_service_address=\"\", "
                            "__meta_consul_service_id=\"web-2\", "
                            "__meta_consul_service_port=\"7070\", "
                            "__meta_consul_tags=\",,\"}");
    free(t1);
    pg_tgroup_reset(&g);

    /* a custom separator surrounds and joins */
    assert_int_equal(pg_sd_consul_service_group(HEALTH_WEB, strlen(HEALTH_WEB), "web", "dc1", "|",
                                                &g, err, sizeof(err)),
                     0);
    assert_string_equal(pg_labels_get(&g.targets[0], "__meta_consul_tags"), "|prof|v1|");
    pg_tgroup_reset(&g);

    /* an empty answer is a group with no targets (the service has no instances) */
    assert_int_equal(pg_sd_consul_service_group("[]", 2, "web", "dc1", ",", &g, err, sizeof(err)),
                     0);
    assert_int_equal(g.n_targets, 0);
    pg_tgroup_reset(&g);

    /* malformed answers fail */
    assert_int_equal(pg_sd_consul_service_group("{}", 2, "web", "dc1", ",", &g, err, sizeof(err)),
                     -1);
    assert_int_equal(pg_sd_consul_service_group("[{", 2, "web", "dc1", ",", &g, err, sizeof(err)),
                     -1);
    assert_true(strstr(err, "invalid JSON") != NULL);
}

static const char *health_of(const char *checks)
{
    static char out[32];
    char body[512];
    snprintf(body, sizeof(body),
             "[{\"Node\":{\"Node\":\"n\",\"Address\":\"1.2.3.4\"},"
             "\"Service\":{\"ID\":\"s\",\"Service\":\"s\",\"Port\":1},\"Checks\":%s}]",
             checks);
    struct pg_tgroup g;
    char err[128];
    assert_int_equal(
        pg_sd_consul_service_group(body, strlen(body), "s", "dc", ",", &g, err, sizeof(err)), 0);
    assert_int_equal(g.n_targets, 1);
    snprintf(out, sizeof(out), "%s", pg_labels_get(&g.targets[0], "__meta_consul_health"));
    pg_tgroup_reset(&g);
    return out;
}

static void test_health_aggregation(void **state)
{
    (void)state;
    assert_string_equal(health_of("[]"), "passing");
    assert_string_equal(health_of("[{\"CheckID\":\"a\",\"Status\":\"passing\"}]"), "passing");
    assert_string_equal(health_of("[{\"CheckID\":\"a\",\"Status\":\"passing\"},"
                                  "{\"CheckID\":\"b\",\"Status\":\"warning\"}]"),
                        "warning");
    assert_string_equal(health_of("[{\"CheckID\":\"a\",\"Status\":\"warning\"},"
                                  "{\"CheckID\":\"b\",\"Status\":\"critical\"},"
                                  "{\"CheckID\":\"c\",\"Status\":\"passing\"}]"),
                        "critical");
    assert_string_equal(health_of("[{\"CheckID\":\"_node_maintenance\",\"Status\":\"critical\"},"
                                  "{\"CheckID\":\"b\",\"Status\":\"passing\"}]"),
                        "maintenance");
    assert_string_equal(
        health_of("[{\"CheckID\":\"_service_maintenance:web-1\",\"Status\":\"critical\"}]"),
        "maintenance");
    assert_string_equal(health_of("[{\"CheckID\":\"a\",\"Status\":\"critical\"},"
                                  "{\"CheckID\":\"b\",\"Status\":\"bogus\"}]"),
                        "");
}

static int has_name(char **names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

static void test_catalog_names(void **state)
{
    (void)state;
    const char *body = "{\"consul\":[],\"web\":[\"prof\",\"v1\"],\"api\":[\"prof\"],"
                       "\"db\":null,\"batch\":[\"v1\"]}";
    char **names;
    size_t n;
    char err[128];
    assert_int_equal(pg_sd_consul_catalog_names(body, strlen(body), NULL, 0, NULL, 0, &names, &n,
                                                err, sizeof(err)),
                     0);
    assert_int_equal(n, 5);
    pg_sd_consul_names_free(names, n);

    char *tags[] = {"prof"};
    assert_int_equal(pg_sd_consul_catalog_names(body, strlen(body), NULL, 0, tags, 1, &names, &n,
                                                err, sizeof(err)),
                     0);
    assert_int_equal(n, 2);
    assert_true(has_name(names, n, "web") && has_name(names, n, "api"));
    pg_sd_consul_names_free(names, n);

    char *tags2[] = {"prof", "v1"};
    char *svcs[] = {"web", "api", "db"};
    assert_int_equal(pg_sd_consul_catalog_names(body, strlen(body), svcs, 3, tags2, 2, &names, &n,
                                                err, sizeof(err)),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "web");
    pg_sd_consul_names_free(names, n);

    assert_int_equal(pg_sd_consul_catalog_names(body, strlen(body), svcs + 2, 1, NULL, 0, &names,
                                                &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "db");
    pg_sd_consul_names_free(names, n);

    assert_int_equal(
        pg_sd_consul_catalog_names("[]", 2, NULL, 0, NULL, 0, &names, &n, err, sizeof(err)), -1);
    assert_null(names);
}

static void test_next_index(void **state)
{
    (void)state;
    assert_int_equal(pg_sd_consul_next_index(0, 42), 42);
    assert_int_equal(pg_sd_consul_next_index(42, 42), 42);
    assert_int_equal(pg_sd_consul_next_index(42, 50), 50);
    assert_int_equal(pg_sd_consul_next_index(50, 42), 0); /* went backwards: restart */
    assert_int_equal(pg_sd_consul_next_index(0, 0), 1);   /* never block on 0 */
}

/* ------------------------------------------------------------------------------------ */
/* The mechanism against an in-process fake agent */

#define MAX_HELD 16

struct fake {
    struct event_base *base;
    struct evhttp *http;
    int port;
    uint64_t index;
    const char *token;   /* required X-Consul-Token */
    const char *catalog; /* /v1/catalog/services body */
    const char *web;     /* /v1/health/service/web body */
    int fail_health;     /* answer 500 to /v1/health/service/web */
    int self_calls, catalog_calls, web_calls, db_calls, bad_token;
    char last_web_uri[512];
    struct evhttp_request *held[MAX_HELD];
    /* what the mechanism emitted */
    int emits;
    int web_emits;
    size_t web_targets;
    char web_dc[32];
    int web_empty_emits;
    double fails_base;
};

static void fake_answer(struct fake *f, struct evhttp_request *req)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evbuffer_new();
    char idx[32];
    snprintf(idx, sizeof(idx), "%llu", (unsigned long long)f->index);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", "application/json");
    evhttp_add_header(oh, "X-Consul-Index", idx);
    int code = 200;
    if (strncmp(uri, "/v1/catalog/services", 20) == 0) {
        evbuffer_add_printf(out, "%s", f->catalog);
    } else if (strncmp(uri, "/v1/health/service/web", 22) == 0) {
        if (f->fail_health) {
            code = 500;
            evbuffer_add_printf(out, "rpc error");
        } else {
            evbuffer_add_printf(out, "%s", f->web);
        }
    } else {
        evbuffer_add_printf(out, "[]");
    }
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Internal Server Error", out);
    evbuffer_free(out);
}

static void fake_on_close(struct evhttp_connection *conn, void *arg)
{
    struct fake *f = arg;
    for (int i = 0; i < MAX_HELD; i++)
        if (f->held[i] && evhttp_request_get_connection(f->held[i]) == conn)
            f->held[i] = NULL;
}

static void fake_handler(struct evhttp_request *req, void *arg)
{
    struct fake *f = arg;
    const char *uri = evhttp_request_get_uri(req);
    const char *tok = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Consul-Token");
    if (!tok || strcmp(tok, f->token) != 0) {
        f->bad_token++;
        struct evbuffer *out = evbuffer_new();
        evbuffer_add_printf(out, "ACL not found");
        evhttp_send_reply(req, 403, "Forbidden", out);
        evbuffer_free(out);
        return;
    }
    if (strncmp(uri, "/v1/agent/self", 14) == 0) {
        f->self_calls++;
        struct evbuffer *out = evbuffer_new();
        evbuffer_add_printf(out, "{\"Config\":{\"Datacenter\":\"dc9\",\"NodeName\":\"agent\"}}");
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
        return;
    }
    if (strncmp(uri, "/v1/catalog/services", 20) == 0)
        f->catalog_calls++;
    else if (strncmp(uri, "/v1/health/service/web", 22) == 0) {
        f->web_calls++;
        snprintf(f->last_web_uri, sizeof(f->last_web_uri), "%s", uri);
    } else if (strncmp(uri, "/v1/health/service/db", 21) == 0)
        f->db_calls++;
    /* blocking query: hold while ?index= equals the current index */
    const char *ip = strstr(uri, "index=");
    unsigned long long want = ip ? strtoull(ip + 6, NULL, 10) : 0;
    if (want != 0 && want == f->index) {
        for (int i = 0; i < MAX_HELD; i++) {
            if (!f->held[i]) {
                f->held[i] = req;
                evhttp_connection_set_closecb(evhttp_request_get_connection(req), fake_on_close, f);
                return;
            }
        }
    }
    fake_answer(f, req);
}

/* Bumps the index and answers every held query. */
static void fake_bump(struct fake *f)
{
    f->index++;
    for (int i = 0; i < MAX_HELD; i++) {
        if (f->held[i]) {
            struct evhttp_request *r = f->held[i];
            f->held[i] = NULL;
            evhttp_connection_set_closecb(evhttp_request_get_connection(r), NULL, NULL);
            fake_answer(f, r);
        }
    }
}

static void fake_start(struct fake *f)
{
    f->base = event_base_new();
    assert_non_null(f->base);
    f->http = evhttp_new(f->base);
    assert_non_null(f->http);
    evhttp_set_gencb(f->http, fake_handler, f);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    f->index = 10;
}

static void on_emit(void *ud, struct pg_tgroup *groups, size_t n)
{
    struct fake *f = ud;
    f->emits++;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(groups[i].source, "web") != 0)
            continue;
        f->web_emits++;
        f->web_targets = groups[i].n_targets;
        if (groups[i].n_targets == 0)
            f->web_empty_emits++;
        const char *dc = pg_labels_get(&groups[i].labels, "__meta_consul_dc");
        snprintf(f->web_dc, sizeof(f->web_dc), "%s", dc ? dc : "");
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until cond(f) or timeout_ms; returns cond(f). */
static int run_until(struct fake *f, int (*cond)(struct fake *), int64_t timeout_ms)
{
    struct event *t = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = {0, 20000};
    event_add(t, &tv); /* keeps EVLOOP_ONCE from blocking past the deadline */
    int64_t end = mono_ms() + timeout_ms;
    while (!cond(f) && mono_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(t);
    return cond(f);
}

static int web_one(struct fake *f)
{
    return f->web_emits >= 1 && f->web_targets == 1;
}
static int web_two(struct fake *f)
{
    return f->web_targets == 2;
}
static int web_held(struct fake *f)
{
    for (int i = 0; i < MAX_HELD; i++)
        if (f->held[i] && strstr(evhttp_request_get_uri(f->held[i]), "/v1/health/service/web"))
            return 1;
    return 0;
}
static int web_gone(struct fake *f)
{
    return f->web_empty_emits >= 1;
}
static double failures(void)
{
    static const char *const lv[] = {"consul"};
    return pg_metric_value(pg_metric_counter("profgate_sd_refresh_failures_total",
                                             "Failed discovery refreshes by mechanism.",
                                             "mechanism"),
                           lv);
}

static int bad_token_seen(struct fake *f)
{
    return f->bad_token >= 2 && failures() >= f->fails_base + 2;
}

static const char WEB1[] =
    "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"127.0.0.1\",\"TaggedAddresses\":{},\"Meta\":{}},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"prof\"],\"Address\":\"\","
    "\"Port\":6060,\"Meta\":{}},\"Checks\":[{\"CheckID\":\"c\",\"Status\":\"passing\"}]}]";
static const char WEB2[] =
    "[{\"Node\":{\"Node\":\"n1\",\"Address\":\"127.0.0.1\"},"
    "\"Service\":{\"ID\":\"web-1\",\"Service\":\"web\",\"Tags\":[\"prof\"],\"Port\":6060},"
    "\"Checks\":[]},"
    "{\"Node\":{\"Node\":\"n2\",\"Address\":\"127.0.0.2\"},"
    "\"Service\":{\"ID\":\"web-2\",\"Service\":\"web\",\"Tags\":[\"prof\"],\"Port\":6060},"
    "\"Checks\":[{\"CheckID\":\"c\",\"Status\":\"critical\"}]}]";

static void test_mechanism_blocking(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof(f));
    fake_start(&f);
    f.token = "s3cret";
    f.catalog = "{\"web\":[\"prof\"],\"db\":[\"other\"]}";
    f.web = WEB1;

    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%d", f.port);
    char *tags[] = {"prof"};
    struct pg_cfg_consul_sd cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.server = server;
    cfg.path_prefix = "";
    cfg.scheme = "http";
    cfg.token = "s3cret";
    cfg.tags = tags;
    cfg.n_tags = 1;
    cfg.tag_separator = ",";
    cfg.allow_stale = 1;
    cfg.refresh_interval_ms = 50;
    cfg.health_filter = "Service.Port == 6060";
    pg_labels_init(&cfg.node_meta);
    assert_int_equal(pg_labels_set(&cfg.node_meta, "rack", "r 1"), 0);
    cfg.http.follow_redirects = 1;

    const struct pg_sd_mechanism *mech = &pg_sd_consul;
    assert_string_equal(mech->name, "consul");
    void *inst = mech->create(&cfg, "job-a");
    assert_non_null(inst);
    assert_int_equal(mech->start(inst, f.base, on_emit, &f), 0);

    /* datacenter from agent/self, then catalog (tag filter drops db), then web */
    assert_true(run_until(&f, web_one, 10000));
    assert_int_equal(f.self_calls, 1);
    assert_string_equal(f.web_dc, "dc9");
    assert_int_equal(f.db_calls, 0);
    assert_int_equal(f.bad_token, 0);
    assert_true(strstr(f.last_web_uri, "index=0") != NULL);
    assert_true(strstr(f.last_web_uri, "wait=120000ms") != NULL);
    assert_true(strstr(f.last_web_uri, "dc=dc9") != NULL);
    assert_true(strstr(f.last_web_uri, "&stale") != NULL);
    assert_true(strstr(f.last_web_uri, "tag=prof") != NULL);
    assert_true(strstr(f.last_web_uri, "node-meta=rack%3Ar%201") != NULL);
    assert_true(strstr(f.last_web_uri, "filter=Service.Port%20%3D%3D%206060") != NULL);

    /* the next query blocks on index 10 until the fake bumps it */
    assert_true(run_until(&f, web_held, 10000));
    assert_true(strstr(f.last_web_uri, "index=10") != NULL);
    int emits = f.web_emits;
    f.web = WEB2;
    fake_bump(&f);
    assert_true(run_until(&f, web_two, 10000));
    assert_int_equal(f.web_emits, emits + 1);

    /* a failing health query keeps the targets (no emit) and counts a failure */
    double fails = failures();
    assert_true(run_until(&f, web_held, 10000));
    f.fail_health = 1;
    emits = f.web_emits;
    fake_bump(&f);
    int64_t until = mono_ms() + 300;
    while (mono_ms() < until)
        event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_true(failures() >= fails + 1);
    assert_int_equal(f.web_emits, emits);
    assert_int_equal(f.web_targets, 2);
    f.fail_health = 0;

    /* the service leaves the catalog: its group is emitted empty */
    f.catalog = "{\"db\":[\"other\"]}";
    fake_bump(&f);
    assert_true(run_until(&f, web_gone, 10000));

    /* stop cancels the in-flight (held) queries; nothing is emitted afterwards */
    mech->stop(inst);
    emits = f.emits;
    f.catalog = "{\"web\":[\"prof\"]}";
    fake_bump(&f);
    until = mono_ms() + 200;
    while (mono_ms() < until)
        event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(f.emits, emits);
    mech->destroy(inst);

    /* a wrong token: 403 from the agent, no emit, failures counted */
    memset(f.held, 0, sizeof(f.held));
    f.emits = 0;
    f.bad_token = 0;
    cfg.token = "wrong";
    cfg.datacenter = "dc1"; /* skip agent/self: straight to the catalog */
    fails = f.fails_base = failures();
    inst = mech->create(&cfg, "job-b");
    assert_non_null(inst);
    assert_int_equal(mech->start(inst, f.base, on_emit, &f), 0);
    assert_true(run_until(&f, bad_token_seen, 10000)); /* first try + one retry after 1s */
    assert_int_equal(f.emits, 0);
    assert_true(failures() >= fails + 2);
    mech->destroy(inst);

    pg_labels_reset(&cfg.node_meta);
    evhttp_free(f.http);
    event_base_free(f.base);
    pg_metrics_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_group_labels), cmocka_unit_test(test_health_aggregation),
        cmocka_unit_test(test_catalog_names),        cmocka_unit_test(test_next_index),
        cmocka_unit_test(test_mechanism_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
