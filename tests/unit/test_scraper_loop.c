/* test_scraper_loop.c - the scrape manager and its loops (scraper/scraper.c, loop.c) over
 * real HTTP on loopback: an in-process evhttp server (two ports, so two targets) serves the
 * Go profiles in tests/data, an HTML page, 404s; a scraper on a real curl multi driver
 * hands profiles to a recording sink. Covers series labels, delta priming and zero deltas,
 * down targets (HTML, 404, body limit), dropped targets (relabel drop, timeout >
 * interval), per-type timeouts (seconds=), loops kept across syncs and reloads (schedule,
 * health and delta baseline), removed targets no longer scraped, restarts when job
 * settings change, stop, and the stable offset; processing on a worker pool, overload
 * shedding without false target-down, and loops freed while their job is on a worker.
 * Jobs scrape every 1s. */
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
#include <unistd.h>

#include "config/config.h"
#include "core/curlm.h"
#include "core/labels.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "discovery/tgroup.h"
#include "scraper/loop.h"
#include "profile/pprof.h"
#include "scraper/scraper.h"
#include "testutil.h"

/* ---- loopback server ---- */

struct hit {
    char key[192]; /* "host path" */
    int n;
};

struct server {
    struct evhttp *http;
    int port[2];
    uint8_t *allocs, *goroutine, *mutex;
    size_t allocs_len, goroutine_len, mutex_len;
    struct hit hits[64];
    size_t n_hits;
    int total;
    struct event_base *base;
    struct event *held_ev[8]; /* delayed replies for /slow */
    struct evhttp_request *held[8];
};

static void count_hit(struct server *s, const char *host, const char *path)
{
    char key[192];
    snprintf(key, sizeof key, "%s %s", host ? host : "", path);
    s->total++;
    for (size_t i = 0; i < s->n_hits; i++)
        if (!strcmp(s->hits[i].key, key)) {
            s->hits[i].n++;
            return;
        }
    if (s->n_hits < sizeof(s->hits) / sizeof(s->hits[0])) {
        strcpy(s->hits[s->n_hits].key, key);
        s->hits[s->n_hits++].n = 1;
    }
}

static int hits(const struct server *s, int port, const char *path)
{
    char key[192];
    snprintf(key, sizeof key, "127.0.0.1:%d %s", port, path);
    for (size_t i = 0; i < s->n_hits; i++)
        if (!strcmp(s->hits[i].key, key))
            return s->hits[i].n;
    return 0;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                  const void *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, len);
    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    for (int i = 0; i < 8; i++)
        if (s->held[i] && !evtimer_pending(s->held_ev[i], NULL)) {
            reply(s->held[i], 200, "OK", "application/octet-stream", s->goroutine,
                  s->goroutine_len);
            s->held[i] = NULL;
        }
}

/* Answers req with the goroutine body 1.5 s from now. */
static void hold(struct server *s, struct evhttp_request *req)
{
    for (int i = 0; i < 8; i++)
        if (s->held[i] == NULL) {
            if (s->held_ev[i] == NULL)
                s->held_ev[i] = evtimer_new(s->base, on_held, s);
            s->held[i] = req;
            struct timeval tv = {1, 500000};
            evtimer_add(s->held_ev[i], &tv);
            return;
        }
    reply(req, 503, "Service Unavailable", "text/plain", "busy\n", 5);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    char path[128];
    size_t n = strcspn(uri, "?");
    snprintf(path, sizeof path, "%.*s", (int)n, uri);
    count_hit(s, evhttp_find_header(evhttp_request_get_input_headers(req), "Host"), path);
    if (!strcmp(path, "/ok/debug/pprof/goroutine"))
        reply(req, 200, "OK", "application/octet-stream", s->goroutine, s->goroutine_len);
    else if (!strcmp(path, "/ok/debug/pprof/allocs"))
        reply(req, 200, "OK", "application/octet-stream", s->allocs, s->allocs_len);
    else if (!strcmp(path, "/ok/debug/pprof/mutex"))
        reply(req, 200, "OK", "application/octet-stream", s->mutex, s->mutex_len);
    else if (!strcmp(path, "/slow/debug/pprof/profile"))
        hold(s, req);
    else if (!strncmp(path, "/html/", 6)) {
        static const char page[] = "<!DOCTYPE html><html><body>pprof</body></html>";
        reply(req, 200, "OK", "text/html; charset=utf-8", page, sizeof page - 1);
    } else
        reply(req, 404, "Not Found", "text/plain", "404 page not found\n", 19);
}

static int bound_port(struct evhttp_bound_socket *h)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sa, &sl), 0);
    return ntohs(sa.sin_port);
}

/* ---- test sink ---- */

struct rec {
    char job[32], name[32], instance[64];
    struct pg_labels labels;
    int64_t from_ns, until_ns;
    uint8_t *body;
    size_t len;
    int allocs_hits_then; /* server allocs hits for this instance when the call came */
};

struct env {
    struct event_base *base;
    struct event *tick;
    struct pg_curlm *cm;
    struct pg_workq *wq;
    struct server srv;
    struct pg_scraper *s;
    struct pg_cfg *cfg;
    struct rec recs[512];
    size_t n_recs;
};

static int sink(void *ud, const struct pg_scrape_profile *p)
{
    struct env *e = ud;
    if (e->n_recs >= sizeof(e->recs) / sizeof(e->recs[0]))
        return -1;
    struct rec *r = &e->recs[e->n_recs++];
    snprintf(r->job, sizeof r->job, "%s", p->job);
    snprintf(r->name, sizeof r->name, "%s", p->name);
    const char *inst = pg_labels_get(p->labels, "instance");
    snprintf(r->instance, sizeof r->instance, "%s", inst ? inst : "");
    pg_labels_init(&r->labels);
    assert_int_equal(pg_labels_copy(&r->labels, p->labels), 0);
    r->from_ns = p->from_ns;
    r->until_ns = p->until_ns;
    r->body = malloc(p->len ? p->len : 1);
    memcpy(r->body, p->body, p->len);
    r->len = p->len;
    int port = 0;
    if (inst && strchr(inst, ':'))
        port = atoi(strchr(inst, ':') + 1);
    r->allocs_hits_then = hits(&e->srv, port, "/ok/debug/pprof/allocs");
    return 0;
}

static size_t count_recs(const struct env *e, const char *job, const char *name, int port)
{
    char inst[64];
    snprintf(inst, sizeof inst, "127.0.0.1:%d", port);
    size_t n = 0;
    for (size_t i = 0; i < e->n_recs; i++)
        if (!strcmp(e->recs[i].job, job) && !strcmp(e->recs[i].name, name) &&
            !strcmp(e->recs[i].instance, inst))
            n++;
    return n;
}

static const struct rec *find_rec(const struct env *e, const char *job, const char *name)
{
    for (size_t i = 0; i < e->n_recs; i++)
        if (!strcmp(e->recs[i].job, job) && !strcmp(e->recs[i].name, name))
            return &e->recs[i];
    return NULL;
}

/* ---- config ---- */

static const char *cfg_fmt = "global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: ok\n"
                             "    body_size_limit: %s\n"
                             "    profiling_config:\n"
                             "      path_prefix: /ok\n"
                             "      process_cpu: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "    relabel_configs:\n"
                             "      - source_labels: [drop]\n"
                             "        regex: 'yes'\n"
                             "        action: drop\n"
                             "  - job_name: html\n"
                             "    profiling_config:\n"
                             "      path_prefix: /html\n"
                             "      process_cpu: {enabled: false}\n"
                             "      memory: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "  - job_name: nf\n"
                             "    profiling_config:\n"
                             "      path_prefix: /nf\n"
                             "      process_cpu: {enabled: false}\n"
                             "      memory: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "  - job_name: big\n"
                             "    body_size_limit: 1KiB\n"
                             "    profiling_config:\n"
                             "      path_prefix: /ok\n"
                             "      process_cpu: {enabled: false}\n"
                             "      memory: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "  - job_name: cpu\n"
                             "    scrape_interval: 10s\n"
                             "    scrape_timeout: 5s\n"
                             "    delta_profiling_duration: 3s\n"
                             "    profiling_config:\n"
                             "      path_prefix: /nf\n"
                             "      memory: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "      goroutine: {enabled: false}\n"
                             "  - job_name: slow\n"
                             "    scrape_timeout: 1s\n"
                             "    delta_profiling_duration: 1s\n"
                             "    profiling_config:\n"
                             "      path_prefix: /slow\n"
                             "      memory: {enabled: false}\n"
                             "      block: {enabled: false}\n"
                             "      mutex: {enabled: false}\n"
                             "      goroutine: {enabled: false}\n";

static struct pg_cfg *load_cfg(const char *ok_limit)
{
    char text[4096], path[64];
    snprintf(text, sizeof text, cfg_fmt, ok_limit);
    pg_test_write_temp(text, path);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = pg_cfg_load(path, &errs);
    pg_cfg_errors_print(&errs, stderr);
    pg_cfg_errors_reset(&errs);
    unlink(path);
    assert_non_null(c);
    return c;
}

/* ---- environment ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* The scraper processes on a worker pool of n_workers threads with queue_cap waiting jobs;
 * delay_ms > 0 sets the test-only PROFGATE_TEST_WORK_DELAY_MS for this scraper. */
static int setup_with(void **state, int n_workers, size_t queue_cap, int delay_ms)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->base = event_base_new();
    assert_non_null(e->base);
    e->tick = event_new(e->base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = {0, 50000};
    event_add(e->tick, &tv);
    e->cm = pg_curlm_create(e->base);
    assert_non_null(e->cm);
    e->srv.allocs = pg_test_slurp("data/go_allocs.pb.gz", &e->srv.allocs_len);
    e->srv.goroutine = pg_test_slurp("data/go_goroutine.pb.gz", &e->srv.goroutine_len);
    e->srv.mutex = pg_test_slurp("data/go_mutex.pb.gz", &e->srv.mutex_len);
    e->srv.base = e->base;
    e->srv.http = evhttp_new(e->base);
    assert_non_null(e->srv.http);
    evhttp_set_gencb(e->srv.http, on_request, &e->srv);
    for (int i = 0; i < 2; i++) {
        struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(e->srv.http, "127.0.0.1", 0);
        assert_non_null(h);
        e->srv.port[i] = bound_port(h);
    }
    e->cfg = load_cfg("0");
    char ms[32];
    snprintf(ms, sizeof ms, "%d", delay_ms);
    setenv("PROFGATE_TEST_WORK_DELAY_MS", ms, 1); /* read by pg_workq_new */
    e->wq = pg_workq_new(e->base, n_workers, queue_cap);
    unsetenv("PROFGATE_TEST_WORK_DELAY_MS");
    assert_non_null(e->wq);
    e->s = pg_scraper_create(e->base, e->cm, e->wq, sink, e);
    assert_non_null(e->s);
    assert_int_equal(pg_scraper_apply(e->s, e->cfg), 0);
    *state = e;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 2, 64, 0);
}

/* One worker, one waiting job, 300 ms of processing per scrape. */
static int setup_slow(void **state)
{
    return setup_with(state, 1, 1, 300);
}

static int teardown(void **state)
{
    struct env *e = *state;
    pg_scraper_destroy(e->s); /* orphans jobs on the workers ... */
    pg_workq_free(e->wq);     /* ... which are freed here */
    pg_cfg_free(e->cfg);
    pg_curlm_destroy(e->cm);
    evhttp_free(e->srv.http);
    for (int i = 0; i < 8; i++)
        if (e->srv.held_ev[i])
            event_free(e->srv.held_ev[i]);
    event_free(e->tick);
    event_base_free(e->base);
    for (size_t i = 0; i < e->n_recs; i++) {
        pg_labels_reset(&e->recs[i].labels);
        free(e->recs[i].body);
    }
    free(e->srv.allocs);
    free(e->srv.goroutine);
    free(e->srv.mutex);
    free(e);
    pg_metrics_shutdown();
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the loop until cond(e) or for at most secs; returns cond's last value. */
static int run_until(struct env *e, int (*cond)(struct env *), double secs)
{
    double end = now_s() + secs;
    while (!(cond && cond(e)) && now_s() < end)
        event_base_loop(e->base, EVLOOP_ONCE);
    return cond ? cond(e) : 0;
}

/* ---- target groups ---- */

static void add_target(struct pg_tgroup *g, int port, const char *k, const char *v)
{
    struct pg_labels *t = pg_tgroup_add_target(g);
    assert_non_null(t);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(pg_labels_set(t, "__address__", addr), 0);
    if (k)
        assert_int_equal(pg_labels_set(t, k, v), 0);
}

static void sync1(struct env *e, const char *job, int port)
{
    struct pg_tgroup g;
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    add_target(&g, port, NULL, NULL);
    pg_scraper_sync(e->s, job, &g, 1);
    pg_tgroup_reset(&g);
}

/* ---- collecting status ---- */

struct active {
    char job[32], type[32], health[16], err[256], url[256];
    struct pg_labels labels, discovered;
    int64_t last_scrape_ms, interval_ms, timeout_ms;
};

struct listing {
    struct active a[32];
    size_t n;
    struct pg_labels dropped[32];
    char dropped_job[32][32];
    size_t n_dropped;
};

static void on_active(void *ud, const struct pg_scrape_target_info *t)
{
    struct listing *l = ud;
    assert_true(l->n < 32);
    struct active *a = &l->a[l->n++];
    snprintf(a->job, sizeof a->job, "%s", t->job);
    snprintf(a->type, sizeof a->type, "%s", t->profile_type);
    snprintf(a->health, sizeof a->health, "%s", t->health);
    snprintf(a->err, sizeof a->err, "%s", t->last_error);
    snprintf(a->url, sizeof a->url, "%s", t->url);
    pg_labels_init(&a->labels);
    pg_labels_init(&a->discovered);
    pg_labels_copy(&a->labels, t->labels);
    pg_labels_copy(&a->discovered, t->discovered);
    a->last_scrape_ms = t->last_scrape_ms;
    a->interval_ms = t->interval_ms;
    a->timeout_ms = t->timeout_ms;
}

static void on_dropped(void *ud, const struct pg_scrape_dropped_info *t)
{
    struct listing *l = ud;
    assert_true(l->n_dropped < 32);
    snprintf(l->dropped_job[l->n_dropped], 32, "%s", t->job);
    pg_labels_init(&l->dropped[l->n_dropped]);
    pg_labels_copy(&l->dropped[l->n_dropped++], t->discovered);
}

static void list(struct env *e, struct listing *l)
{
    memset(l, 0, sizeof(*l));
    pg_scraper_foreach_active(e->s, on_active, l);
    pg_scraper_foreach_dropped(e->s, on_dropped, l);
}

static void list_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        pg_labels_reset(&l->a[i].labels);
        pg_labels_reset(&l->a[i].discovered);
    }
    for (size_t i = 0; i < l->n_dropped; i++)
        pg_labels_reset(&l->dropped[i]);
}

static const struct active *find_active(const struct listing *l, const char *job, const char *type,
                                        int port)
{
    char inst[64];
    snprintf(inst, sizeof inst, "127.0.0.1:%d", port);
    for (size_t i = 0; i < l->n; i++) {
        const char *li = pg_labels_get(&l->a[i].labels, "instance");
        if (!strcmp(l->a[i].job, job) && !strcmp(l->a[i].type, type) && li && !strcmp(li, inst))
            return &l->a[i];
    }
    return NULL;
}

static const char *health_of(struct env *e, const char *job, const char *type, int port, char *err,
                             size_t errlen)
{
    static char h[16];
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    const struct active *a = find_active(l, job, type, port);
    snprintf(h, sizeof h, "%s", a ? a->health : "missing");
    if (err)
        snprintf(err, errlen, "%s", a ? a->err : "");
    list_free(l);
    free(l);
    return h;
}

/* ---- tests ---- */

static int first_wave_done(struct env *e)
{
    int p = e->srv.port[0];
    return count_recs(e, "ok", "goroutine", p) >= 1 && count_recs(e, "ok", "memory", p) >= 1 &&
           !strcmp(health_of(e, "html", "goroutine", p, NULL, 0), "down") &&
           !strcmp(health_of(e, "nf", "goroutine", p, NULL, 0), "down") &&
           !strcmp(health_of(e, "big", "goroutine", p, NULL, 0), "down");
}

static void test_scrape_profiles(void **state)
{
    struct env *e = *state;
    int p1 = e->srv.port[0], p2 = e->srv.port[1];

    struct pg_tgroup g;
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    assert_int_equal(pg_labels_set(&g.labels, "env", "test"), 0);
    add_target(&g, p1, NULL, NULL);
    add_target(&g, p1, "drop", "yes");              /* dropped by relabeling */
    add_target(&g, p2, "__scrape_timeout__", "5s"); /* timeout > interval: dropped */
    pg_scraper_sync(e->s, "ok", &g, 1);
    pg_tgroup_reset(&g);
    sync1(e, "html", p1);
    sync1(e, "nf", p1);
    sync1(e, "big", p1);
    assert_int_equal(pg_tgroup_init(&g, "test/cpu"), 0);
    add_target(&g, p1, NULL, NULL);
    add_target(&g, p2, "__param_seconds", "7");
    pg_scraper_sync(e->s, "cpu", &g, 1);
    pg_tgroup_reset(&g);
    pg_scraper_sync(e->s, "nosuchjob", NULL, 0); /* ignored */

    assert_true(run_until(e, first_wave_done, 8));

    /* goroutine: the body as served, series labels exactly the public ones + __name__ */
    const struct rec *r = find_rec(e, "ok", "goroutine");
    assert_non_null(r);
    assert_int_equal(r->len, e->srv.goroutine_len);
    assert_memory_equal(r->body, e->srv.goroutine, r->len);
    char inst[64];
    snprintf(inst, sizeof inst, "127.0.0.1:%d", p1);
    assert_int_equal(r->labels.n, 5);
    assert_string_equal(pg_labels_get(&r->labels, "__name__"), "goroutine");
    assert_string_equal(pg_labels_get(&r->labels, "job"), "ok");
    assert_string_equal(pg_labels_get(&r->labels, "instance"), inst);
    assert_string_equal(pg_labels_get(&r->labels, "service_name"), "unspecified");
    assert_string_equal(pg_labels_get(&r->labels, "env"), "test");
    assert_true(r->from_ns > 0 && r->from_ns <= r->until_ns);

    /* memory: first scrape primed (no sink call), then a zero delta of the same body */
    r = find_rec(e, "ok", "memory");
    assert_non_null(r);
    assert_true(r->allocs_hits_then >= 2);
    assert_int_equal(r->labels.n, 6);
    assert_string_equal(pg_labels_get(&r->labels, "__name__"), "memory");
    assert_string_equal(pg_labels_get(&r->labels, "__delta__"), "false");
    for (size_t i = 0; i < r->labels.n; i++)
        if (!strncmp(r->labels.v[i].name, "__", 2))
            assert_true(!strcmp(r->labels.v[i].name, "__name__") ||
                        !strcmp(r->labels.v[i].name, "__delta__"));
    assert_true(r->from_ns > 0);
    assert_true(r->until_ns - r->from_ns >= 500000000LL); /* previous start .. this end */
    assert_true(r->len >= 2 && r->body[0] == 0x1f && r->body[1] == 0x8b);
    uint8_t *raw;
    size_t rawlen;
    Perftools__Profiles__Profile *prof = NULL;
    char err[256];
    assert_int_equal(
        pg_pprof_check(r->body, r->len, NULL, 64 << 20, &raw, &rawlen, &prof, err, sizeof err), 0);
    assert_int_equal(prof->n_sample_type, 4);
    for (size_t t = 0; t < prof->n_sample_type; t++) {
        const char *tn = prof->string_table[prof->sample_type[t]->type];
        if (strcmp(tn, "alloc_objects") && strcmp(tn, "alloc_space"))
            continue;
        for (size_t i = 0; i < prof->n_sample; i++)
            assert_int_equal(prof->sample[i]->value[t], 0);
    }
    pg_pprof_free(prof);
    free(raw);

    /* status listing: config order, then target order; profile order within a target */
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 7);
    static const char *const order[][2] = {
        {"ok", "memory"},     {"ok", "goroutine"},    {"html", "goroutine"}, {"nf", "goroutine"},
        {"big", "goroutine"}, {"cpu", "process_cpu"}, {"cpu", "process_cpu"}};
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(l->a[i].job, order[i][0]);
        assert_string_equal(l->a[i].type, order[i][1]);
    }
    const struct active *a = find_active(l, "ok", "memory", p1);
    assert_non_null(a);
    assert_string_equal(a->health, "up");
    assert_string_equal(a->err, "");
    assert_null(pg_labels_get(&a->labels, "__delta__"));
    assert_string_equal(pg_labels_get(&a->labels, "__name__"), "memory");
    assert_int_equal(a->labels.n, 5);
    assert_non_null(pg_labels_get(&a->discovered, "__address__"));
    assert_string_equal(pg_labels_get(&a->discovered, "env"), "test");
    assert_true(a->last_scrape_ms > 0);
    assert_int_equal(a->interval_ms, 1000);
    assert_int_equal(a->timeout_ms, 1000);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/debug/pprof/allocs", p1);
    assert_string_equal(a->url, url);

    a = find_active(l, "html", "goroutine", p1);
    assert_string_equal(a->health, "down");
    assert_non_null(strstr(a->err, "HTML"));
    a = find_active(l, "nf", "goroutine", p1);
    assert_string_equal(a->health, "down");
    assert_string_equal(a->err, "server returned HTTP status 404 Not Found");
    a = find_active(l, "big", "goroutine", p1);
    assert_string_equal(a->health, "down");
    assert_non_null(strstr(a->err, "exceeds limit"));

    /* seconds= types: timeout = scrape_timeout + N */
    a = find_active(l, "cpu", "process_cpu", p1);
    assert_int_equal(a->interval_ms, 10000);
    assert_int_equal(a->timeout_ms, 8000);
    assert_non_null(strstr(a->url, "seconds=3"));
    a = find_active(l, "cpu", "process_cpu", p2);
    assert_int_equal(a->timeout_ms, 12000);
    assert_non_null(strstr(a->url, "seconds=7"));

    assert_int_equal(l->n_dropped, 2);
    assert_string_equal(l->dropped_job[0], "ok");
    assert_string_equal(pg_labels_get(&l->dropped[0], "drop"), "yes");
    assert_string_equal(pg_labels_get(&l->dropped[1], "__scrape_timeout__"), "5s");
    list_free(l);
    free(l);

    /* metrics */
    const char *lv_ok[] = {"ok", "goroutine"}, *lv_nf[] = {"nf", "goroutine"};
    assert_true(
        pg_metric_value(pg_metric_counter("profgate_scrapes_total", "", "job,type"), lv_ok) >= 1);
    assert_true(pg_metric_value(pg_metric_counter("profgate_scrape_profiles_total", "", "job,type"),
                                lv_ok) >= 1);
    assert_true(pg_metric_value(pg_metric_counter("profgate_scrape_failures_total", "", "job,type"),
                                lv_nf) >= 1);
    assert_true(pg_metric_value(pg_metric_counter("profgate_scrape_bytes_total", "", "job,type"),
                                lv_ok) >= (double)e->srv.goroutine_len);
    struct evbuffer *out = evbuffer_new();
    assert_int_equal(pg_metrics_render(out), 0);
    size_t olen = evbuffer_get_length(out);
    char *text = calloc(1, olen + 1);
    evbuffer_remove(out, text, olen);
    evbuffer_free(out);
    assert_non_null(strstr(text, "profgate_targets{job=\"ok\"} 2"));
    assert_non_null(strstr(text, "profgate_targets{job=\"cpu\"} 2"));
    assert_non_null(strstr(text, "profgate_scrape_lateness_seconds_bucket{le=\"0.0005\"}"));
    assert_true(
        pg_metric_value(pg_metric_register(PG_METRIC_HISTOGRAM, "profgate_scrape_lateness_seconds",
                                           "", NULL, NULL, 0),
                        NULL) >= 3);
    free(text);
}

static int kept_wave1(struct env *e)
{
    int p1 = e->srv.port[0], p2 = e->srv.port[1];
    return hits(&e->srv, p1, "/ok/debug/pprof/goroutine") >= 2 &&
           hits(&e->srv, p2, "/ok/debug/pprof/goroutine") >= 1 &&
           count_recs(e, "ok", "memory", p1) >= 1;
}

static int p1_base;
static int kept_wave2(struct env *e)
{
    return hits(&e->srv, e->srv.port[0], "/ok/debug/pprof/goroutine") >= p1_base + 2;
}

/* Every allocs scrape of p1 but the very first was sent: the baseline survived. */
static int baseline_kept(struct env *e)
{
    int p1 = e->srv.port[0];
    int h = hits(&e->srv, p1, "/ok/debug/pprof/allocs");
    return h >= 4 && (int)count_recs(e, "ok", "memory", p1) == h - 1;
}

static int64_t last_scrape(struct env *e, const char *type, int port, const char **health)
{
    static char h[16];
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    const struct active *a = find_active(l, "ok", type, port);
    int64_t v = a ? a->last_scrape_ms : -1;
    snprintf(h, sizeof h, "%s", a ? a->health : "missing");
    if (health)
        *health = h;
    list_free(l);
    free(l);
    return v;
}

static void test_keep_remove_reload(void **state)
{
    struct env *e = *state;
    int p1 = e->srv.port[0], p2 = e->srv.port[1];
    struct pg_tgroup g;
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    add_target(&g, p1, NULL, NULL);
    add_target(&g, p2, NULL, NULL);
    pg_scraper_sync(e->s, "ok", &g, 1);
    pg_tgroup_reset(&g);
    assert_true(run_until(e, kept_wave1, 6));

    /* p2 removed: p1's loops are kept as they were */
    const char *health;
    int64_t ls1 = last_scrape(e, "goroutine", p1, &health);
    assert_true(ls1 > 0);
    sync1(e, "ok", p1);
    int64_t ls2 = last_scrape(e, "goroutine", p1, &health);
    assert_true(ls2 >= ls1); /* not reset (a scrape may not complete during sync) */
    assert_string_equal(health, "up");
    assert_int_equal(last_scrape(e, "goroutine", p2, NULL), -1);

    /* reload with a fresh copy of the same config, the old one freed at once */
    struct pg_cfg *c2 = load_cfg("0");
    assert_int_equal(pg_scraper_apply(e->s, c2), 0);
    pg_cfg_free(e->cfg);
    e->cfg = c2;
    sync1(e, "ok", p1);
    assert_int_equal(last_scrape(e, "goroutine", p1, &health), ls2);
    assert_string_equal(health, "up");

    /* nothing more for p2; p1 goes on, and its memory delta keeps its baseline */
    run_until(e, NULL, 0.1); /* let a request cancelled in flight land */
    int p2_hits = hits(&e->srv, p2, "/ok/debug/pprof/goroutine");
    p1_base = hits(&e->srv, p1, "/ok/debug/pprof/goroutine");
    assert_true(run_until(e, kept_wave2, 5));
    assert_true(run_until(e, baseline_kept, 3));
    assert_int_equal(hits(&e->srv, p2, "/ok/debug/pprof/goroutine"), p2_hits);

    /* duplicate targets in one snapshot: one loop per key */
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    add_target(&g, p1, NULL, NULL);
    add_target(&g, p1, NULL, NULL);
    pg_scraper_sync(e->s, "ok", &g, 1);
    pg_tgroup_reset(&g);
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 2);
    list_free(l);
    free(l);
    assert_true(last_scrape(e, "goroutine", p1, NULL) >= ls2);

    /* a changed job setting (body_size_limit) restarts the loops at the next sync */
    struct pg_cfg *c3 = load_cfg("32MiB");
    assert_int_equal(pg_scraper_apply(e->s, c3), 0);
    pg_cfg_free(e->cfg);
    e->cfg = c3;
    assert_true(last_scrape(e, "goroutine", p1, NULL) > 0); /* kept until the sync */
    sync1(e, "ok", p1);
    assert_int_equal(last_scrape(e, "goroutine", p1, &health), 0);
    assert_string_equal(health, "unknown");

    /* stop: no request and no sink call afterwards */
    pg_scraper_stop(e->s);
    int total = e->srv.total;
    size_t recs = e->n_recs;
    run_until(e, NULL, 1.3);
    assert_int_equal(e->srv.total, total);
    assert_int_equal(e->n_recs, recs);
}

/* Clustering's owner predicate: asked once per target (not per type); it allows every
 * target except deny_key. */
struct owner {
    uint64_t asked[16];
    size_t n_asked;
    uint64_t deny_key;
};

static int owner_fn(void *ud, uint64_t key)
{
    struct owner *o = ud;
    if (o->n_asked < 16)
        o->asked[o->n_asked++] = key;
    return key != o->deny_key;
}

static void collect_key(void *ud, uint64_t key)
{
    struct owner *o = ud;
    o->asked[o->n_asked++] = key;
}

static void sync2(struct env *e)
{
    struct pg_tgroup g;
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    add_target(&g, e->srv.port[0], NULL, NULL);
    add_target(&g, e->srv.port[1], NULL, NULL);
    pg_scraper_sync(e->s, "ok", &g, 1);
    pg_tgroup_reset(&g);
}

/* A target another replica owns is neither active nor dropped; a sync with a changed
 * owner keeps the loops of the targets still owned; every valid target's key is listed. */
static void test_owner_filter(void **state)
{
    struct env *e = *state;
    int p1 = e->srv.port[0], p2 = e->srv.port[1];
    struct owner o = {.deny_key = 0};
    pg_scraper_set_owner(e->s, owner_fn, &o);
    sync2(e);
    assert_int_equal(o.n_asked, 2); /* two targets, two types each: one question each */
    assert_true(o.asked[0] != o.asked[1]);
    uint64_t k1 = o.asked[0], k2 = o.asked[1];
    assert_true(run_until(e, kept_wave1, 6));
    int64_t ls1 = last_scrape(e, "goroutine", p1, NULL);
    assert_true(ls1 > 0);

    /* p2 moves to another replica */
    o.deny_key = k2;
    o.n_asked = 0;
    sync2(e);
    assert_int_equal(o.n_asked, 2);
    assert_int_equal(o.asked[0], k1); /* the same target, the same key */
    assert_int_equal(last_scrape(e, "goroutine", p2, NULL), -1);
    assert_int_equal(last_scrape(e, "memory", p2, NULL), -1);
    assert_true(last_scrape(e, "goroutine", p1, NULL) >= ls1); /* kept, not restarted */
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->n_dropped, 0); /* not ours is not dropped */
    list_free(l);
    free(l);
    struct owner keys = {.n_asked = 0};
    pg_scraper_foreach_target_key(e->s, collect_key, &keys);
    assert_int_equal(keys.n_asked, 2); /* owned or not */

    /* no predicate: every target is ours again */
    pg_scraper_set_owner(e->s, NULL, NULL);
    sync2(e);
    assert_int_equal(last_scrape(e, "goroutine", p2, NULL), 0); /* new loop, not scraped yet */
    assert_true(last_scrape(e, "goroutine", p1, NULL) >= ls1);
}

static void test_target_key(void **state)
{
    (void)state;
    struct pg_labels a, b;
    pg_labels_init(&a);
    pg_labels_init(&b);
    pg_labels_set(&a, "instance", "h:1");
    pg_labels_set(&a, "job", "x");
    pg_labels_set(&b, "instance", "h:1");
    pg_labels_set(&b, "job", "x");
    pg_labels_set(&b, "__scrape_interval__", "1s"); /* private labels do not count */
    assert_true(pg_scraper_target_key("x", &a) == pg_scraper_target_key("x", &b));
    assert_true(pg_scraper_target_key("x", &a) != pg_scraper_target_key("y", &a));
    pg_labels_set(&b, "zone", "a");
    assert_true(pg_scraper_target_key("x", &a) != pg_scraper_target_key("x", &b));
    pg_labels_reset(&a);
    pg_labels_reset(&b);
}

static void test_apply_removes_jobs(void **state)
{
    struct env *e = *state;
    sync1(e, "ok", e->srv.port[0]);
    sync1(e, "html", e->srv.port[0]);
    char path[64];
    pg_test_write_temp("scrape_configs:\n  - job_name: html\n", path);
    struct pg_cfg_errors errs;
    pg_cfg_errors_init(&errs);
    struct pg_cfg *c = pg_cfg_load(path, &errs);
    pg_cfg_errors_reset(&errs);
    unlink(path);
    assert_non_null(c);
    assert_int_equal(pg_scraper_apply(e->s, c), 0);
    pg_cfg_free(e->cfg);
    e->cfg = c;
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    /* ok is gone; html kept its loop (until its next sync) */
    for (size_t i = 0; i < l->n; i++)
        assert_string_equal(l->a[i].job, "html");
    assert_int_equal(l->n, 1);
    list_free(l);
    free(l);
    sync1(e, "ok", e->srv.port[0]); /* unknown job now: ignored */
    l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 1);
    list_free(l);
    free(l);
}

static int two_slow(struct env *e)
{
    return count_recs(e, "slow", "process_cpu", e->srv.port[0]) >= 2;
}

/* A scrape still running when the next one is due makes that tick skip: process_cpu
 * gets timeout 1s + seconds=1, the server answers after 1.5s, the interval is 1s. */
static void test_skip_when_in_flight(void **state)
{
    struct env *e = *state;
    int p1 = e->srv.port[0];
    sync1(e, "slow", p1);
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->a[0].timeout_ms, 2000);
    list_free(l);
    free(l);
    assert_true(run_until(e, two_slow, 6));
    /* requests at T and T+2s (T+1s skipped); the one at T+4s is not due yet */
    assert_int_equal(hits(&e->srv, p1, "/slow/debug/pprof/profile"), 2);
    const char *lv[] = {"slow", "process_cpu"};
    assert_int_equal(
        (int)pg_metric_value(pg_metric_counter("profgate_scrapes_total", "", "job,type"), lv), 2);
    assert_string_equal(health_of(e, "slow", "process_cpu", p1, NULL, 0), "up");
    const struct rec *r = find_rec(e, "slow", "process_cpu");
    assert_true(r->until_ns - r->from_ns >= 1400000000LL);
    assert_null(pg_labels_get(&r->labels, "__delta__"));
}

static void test_offset(void **state)
{
    struct env *e = *state;
    const struct pg_cfg_scrape *job = &e->cfg->scrape[0];
    struct pg_labels ls;
    pg_labels_init(&ls);
    pg_labels_set(&ls, "instance", "a:1");
    uint64_t k1 =
        pg_scrape_loop_key(&ls, "http://a:1/x", 15000, 10000, "memory", PG_SCRAPE_DELTA_ALLOC, job);
    uint64_t k2 =
        pg_scrape_loop_key(&ls, "http://a:1/x", 15000, 10000, "memory", PG_SCRAPE_DELTA_ALLOC, job);
    uint64_t k3 =
        pg_scrape_loop_key(&ls, "http://a:1/y", 15000, 10000, "memory", PG_SCRAPE_DELTA_ALLOC, job);
    uint64_t k4 =
        pg_scrape_loop_key(&ls, "http://a:1/x", 15000, 11000, "memory", PG_SCRAPE_DELTA_ALLOC, job);
    pg_labels_reset(&ls);
    assert_true(k1 == k2);
    assert_true(k1 != k3 && k1 != k4);
    assert_true(pg_scrape_loop_offset(k1, 15000) == pg_scrape_loop_offset(k2, 15000));

    /* offsets spread over the interval, first due is the next aligned slot */
    int seen_low = 0, seen_high = 0;
    int64_t now = 1700000000123;
    for (uint64_t i = 0; i < 200; i++) {
        pg_labels_init(&ls);
        char inst[32];
        snprintf(inst, sizeof inst, "h%u:6060", (unsigned)i);
        pg_labels_set(&ls, "instance", inst);
        uint64_t k =
            pg_scrape_loop_key(&ls, inst, 15000, 10000, "goroutine", PG_SCRAPE_DELTA_NONE, job);
        pg_labels_reset(&ls);
        int64_t off = pg_scrape_loop_offset(k, 15000);
        assert_true(off >= 0 && off < 15000);
        seen_low |= off < 7500;
        seen_high |= off >= 7500;
        int64_t due = pg_scrape_loop_first_due(k, 15000, now);
        assert_true(due >= now && due < now + 15000);
        assert_int_equal(due % 15000, off);
        assert_int_equal(pg_scrape_loop_first_due(k, 15000, due), due);
    }
    assert_true(seen_low && seen_high);

    /* delta kinds */
    struct pg_cfg_profile p = {.name = "memory", .sent_name = "memory", .delta = 1};
    assert_int_equal(pg_scrape_loop_delta_kind(&p), PG_SCRAPE_DELTA_ALLOC);
    p.name = p.sent_name = "mutex";
    assert_int_equal(pg_scrape_loop_delta_kind(&p), PG_SCRAPE_DELTA_CONTENTION);
    p.name = p.sent_name = "my_custom";
    assert_int_equal(pg_scrape_loop_delta_kind(&p), PG_SCRAPE_DELTA_ALL);
    p.delta = 0;
    assert_int_equal(pg_scrape_loop_delta_kind(&p), PG_SCRAPE_DELTA_NONE);
}

/* 20 loops at 1 s on a pool that processes ~3 scrapes/s: the timer sheds what the workers
 * cannot take (skipped{reason="overloaded"}), no target is marked down for it, and the
 * profiles that are processed still reach the sink. */
static void test_overload_sheds(void **state)
{
    struct env *e = *state;
    struct pg_tgroup g;
    assert_int_equal(pg_tgroup_init(&g, "test/0"), 0);
    for (int i = 0; i < 10; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        add_target(&g, e->srv.port[0], "replica", v); /* distinct labels: distinct loops */
    }
    pg_scraper_sync(e->s, "ok", &g, 1);
    pg_tgroup_reset(&g);
    run_until(e, NULL, 3.5);

    const char *lv_mem[] = {"ok", "memory", "overloaded"},
               *lv_gr[] = {"ok", "goroutine", "overloaded"};
    struct pg_metric *skipped =
        pg_metric_counter("profgate_scrapes_skipped_total", "", "job,type,reason");
    assert_true(pg_metric_value(skipped, lv_mem) + pg_metric_value(skipped, lv_gr) > 0);
    const char *f_mem[] = {"ok", "memory"}, *f_gr[] = {"ok", "goroutine"};
    struct pg_metric *failures =
        pg_metric_counter("profgate_scrape_failures_total", "", "job,type");
    assert_true(pg_metric_value(failures, f_mem) == 0);
    assert_true(pg_metric_value(failures, f_gr) == 0);
    struct listing *l = malloc(sizeof(*l));
    list(e, l);
    assert_int_equal(l->n, 20);
    for (size_t i = 0; i < l->n; i++)
        assert_string_not_equal(l->a[i].health, "down");
    list_free(l);
    free(l);
    assert_true(e->n_recs >= 1);

    /* the loops go away while jobs are on the worker: those are orphaned, never reach the
     * sink, and are freed (teardown frees the pool; LSan checks nothing leaked) */
    pg_scraper_sync(e->s, "ok", NULL, 0);
    size_t recs = e->n_recs;
    run_until(e, NULL, 0.8);
    assert_int_equal(e->n_recs, recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_removes_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_filter, setup, teardown),
        cmocka_unit_test(test_target_key),
        cmocka_unit_test_setup_teardown(test_scrape_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_remove_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skip_when_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overload_sheds, setup_slow, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
