/* test_sink_queue.c - unit tests for the per-backend forwarding queue (sink/queue.c).
 *
 * A fake backend type (encode: up to per_payload items per request, body = their ids;
 * send: completes on a libevent timer with a scripted result) drives the queue over a
 * real SQLite buffer in a fresh mkdtemp directory. Every wait is a deadline-bounded
 * event-loop run. A last test drives the real push backend against an in-process evhttp
 * server on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/curlm.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "sink/backend.h"
#include "sink/buffer.h"
#include "sink/queue.h"

/* ---- the fake backend ---- */

#define MAX_IDS 1024
#define MAX_SCRIPT 64

struct fake_ctl {
    const char *name; /* remote name this control applies to */
    size_t per_payload;
    enum pg_sink_result script[MAX_SCRIPT]; /* results of the first sends */
    int64_t script_retry_after[MAX_SCRIPT];
    int script_delay_ms[MAX_SCRIPT]; /* delay of the first sends (else delay_ms) */
    size_t n_script, n_delays;
    enum pg_sink_result dflt; /* result after the script */
    int delay_ms;
    int fail_start; /* number of sends that return NULL */
    /* observations */
    int64_t delivered[MAX_IDS];
    size_t n_delivered;
    size_t sends, live, max_live, cancels, created, destroyed;
    pthread_t loop;  /* the test's thread */
    size_t off_loop; /* encodes run on another thread (written by one worker at a time) */
    struct timespec send_at[MAX_SCRIPT];
};

static struct fake_ctl *g_ctl[4];

struct fake_inst {
    struct fake_ctl *ctl;
    struct event_base *base;
};

struct fake_send {
    struct fake_inst *inst;
    struct event *ev;
    enum pg_sink_result r;
    int64_t retry_after;
    int64_t ids[MAX_IDS];
    size_t n;
    pg_sink_done_fn done;
    void *ud;
};

static void *fake_create(const struct pg_cfg_remote *cfg, const struct pg_labels *global_external,
                         struct pg_curlm *cm, struct event_base *base, char *err, size_t errlen)
{
    (void)global_external;
    (void)cm;
    for (size_t i = 0; i < 4; i++) {
        if (g_ctl[i] && strcmp(g_ctl[i]->name, cfg->name) == 0) {
            struct fake_inst *fi = calloc(1, sizeof(*fi));
            if (!fi)
                return NULL;
            fi->ctl = g_ctl[i];
            fi->base = base;
            g_ctl[i]->created++;
            return fi;
        }
    }
    snprintf(err, errlen, "no fake control for %s", cfg->name);
    return NULL;
}

static int fake_encode(void *inst, const struct pg_buf_item *items, size_t n,
                       struct pg_sink_payload *out, char *err, size_t errlen)
{
    struct fake_inst *fi = inst;
    memset(out, 0, sizeof(*out));
    if (!pthread_equal(pthread_self(), fi->ctl->loop))
        fi->ctl->off_loop++;
    if (items[0].name && strcmp(items[0].name, "bad") == 0) {
        snprintf(err, errlen, "cannot encode \"bad\"");
        return -1;
    }
    size_t k = 0;
    while (k < n && k < fi->ctl->per_payload &&
           !(k > 0 && items[k].name && strcmp(items[k].name, "bad") == 0))
        k++;
    out->body = malloc(k * sizeof(int64_t));
    out->url = strdup("fake://x");
    assert_non_null(out->body);
    assert_non_null(out->url);
    for (size_t i = 0; i < k; i++) {
        memcpy(out->body + i * sizeof(int64_t), &items[i].id, sizeof(int64_t));
        out->profile_bytes += items[i].len;
    }
    out->len = k * sizeof(int64_t);
    out->n_items = k;
    return 0;
}

static void fake_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fake_send *s = arg;
    struct fake_ctl *ctl = s->inst->ctl;
    if (s->r == PG_SINK_OK)
        for (size_t i = 0; i < s->n && ctl->n_delivered < MAX_IDS; i++)
            ctl->delivered[ctl->n_delivered++] = s->ids[i];
    ctl->live--;
    pg_sink_done_fn done = s->done;
    void *ud = s->ud;
    enum pg_sink_result r = s->r;
    int64_t ra = s->retry_after;
    event_free(s->ev);
    free(s);
    done(ud, r,
         r == PG_SINK_OK      ? 200
         : r == PG_SINK_RETRY ? 503
                              : 400,
         ra, r == PG_SINK_OK ? NULL : "scripted \"failure\"");
}

static void *fake_send(void *inst, const struct pg_sink_payload *p, const char *tenant,
                       pg_sink_done_fn done, void *ud)
{
    (void)tenant;
    struct fake_inst *fi = inst;
    struct fake_ctl *ctl = fi->ctl;
    size_t idx = ctl->sends++;
    if (idx < MAX_SCRIPT)
        clock_gettime(CLOCK_MONOTONIC, &ctl->send_at[idx]);
    if (ctl->fail_start > 0) {
        ctl->fail_start--;
        return NULL;
    }
    struct fake_send *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->inst = fi;
    s->done = done;
    s->ud = ud;
    s->n = p->len / sizeof(int64_t);
    memcpy(s->ids, p->body, p->len);
    s->r = idx < ctl->n_script ? ctl->script[idx] : ctl->dflt;
    s->retry_after = idx < ctl->n_script ? ctl->script_retry_after[idx] : -1;
    int delay = idx < ctl->n_delays ? ctl->script_delay_ms[idx] : ctl->delay_ms;
    s->ev = evtimer_new(fi->base, fake_fire, s);
    assert_non_null(s->ev);
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    assert_int_equal(evtimer_add(s->ev, &tv), 0);
    if (++ctl->live > ctl->max_live)
        ctl->max_live = ctl->live;
    return s;
}

static void fake_cancel(void *inst, void *handle)
{
    struct fake_inst *fi = inst;
    struct fake_send *s = handle;
    event_free(s->ev);
    free(s);
    fi->ctl->live--;
    fi->ctl->cancels++;
}

static void fake_destroy(void *inst)
{
    struct fake_inst *fi = inst;
    if (!fi)
        return;
    fi->ctl->destroyed++;
    free(fi);
}

static const struct pg_sink_backend_type fake_type = {
    .name = "fake",
    .create = fake_create,
    .encode = fake_encode,
    .send = fake_send,
    .cancel = fake_cancel,
    .destroy = fake_destroy,
};

/* ---- fixtures and helpers ---- */

struct fx {
    char *dir;
    struct event_base *base;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->dir = strdup("/tmp/pg_queue_test.XXXXXX");
    if (!f->dir || !mkdtemp(f->dir) || !(f->base = event_base_new())) {
        free(f->dir);
        free(f);
        return -1;
    }
    memset(g_ctl, 0, sizeof(g_ctl));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    event_base_free(f->base);
    free(f->dir);
    free(f);
    pg_metrics_shutdown();
    return rc == 0 ? 0 : -1;
}

static struct pg_buf *open_buf(const char *dir, const char *const *be, size_t n)
{
    char err[256] = "";
    struct pg_buf *b = pg_buf_open(dir, be, n, 0, 0, err, sizeof(err));
    if (!b)
        fail_msg("open: %s", err);
    return b;
}

static void append_n(struct pg_buf *b, int from, int count, const char *name)
{
    struct pg_labels ls;
    pg_labels_init(&ls);
    assert_int_equal(pg_labels_set(&ls, "service_name", "api"), 0);
    uint8_t body[16];
    for (int i = from; i < from + count; i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "p%d", i);
        memset(body, i & 0xff, sizeof(body));
        assert_int_equal(
            pg_buf_append(b, &ls, name ? name : nm, i, i + 1, NULL, body, sizeof(body)), 0);
    }
    pg_labels_reset(&ls);
    assert_int_equal(pg_buf_flush(b), 0);
}

static void remote_init(struct pg_cfg_remote *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->name = (char *)name;
    r->url = (char *)"fake://x";
    r->api = PG_CFG_API_PUSH;
    pg_labels_init(&r->external_labels);
    pg_labels_init(&r->http.headers);
    r->remote_timeout_ms = 5000;
    r->min_backoff_ms = 10;
    r->max_backoff_ms = 1000;
    r->max_retries = 0;
    r->concurrency = 1;
    r->batch_max_bytes = 4u << 20;
}

static struct pg_sink_queue *queue_new(struct fx *f, struct pg_buf *b,
                                       const struct pg_cfg_remote *r)
{
    char err[256] = "";
    struct pg_labels ext;
    pg_labels_init(&ext);
    struct pg_sink_queue *q =
        pg_sink_queue_create_type(f->base, NULL, b, r, &ext, &fake_type, err, sizeof(err));
    if (!q)
        fail_msg("queue: %s", err);
    return q;
}

typedef int (*cond_fn)(void *arg);

/* Runs the loop until cond(arg) or the deadline; returns cond's last value. Also calls
 * check(arg) after every iteration when given (an invariant). */
static int run_until(struct event_base *base, cond_fn cond, void *arg, void (*check)(void *),
                     int timeout_ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (cond(arg))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (el > timeout_ms)
            return cond(arg);
        event_base_loop(base, EVLOOP_ONCE);
        if (check)
            check(arg);
    }
}

static double metric(const char *name, const char *remote)
{
    const char *lv[1] = {remote};
    struct pg_metric *m = pg_metric_counter(name, "x", "remote");
    return pg_metric_value(m, lv);
}

static double gauge(const char *name, const char *remote)
{
    const char *lv[1] = {remote};
    struct pg_metric *m = pg_metric_gauge(name, "x", "remote");
    return pg_metric_value(m, lv);
}

static int64_t cursor_of(struct pg_buf *b, const char *name)
{
    int64_t c = -1;
    assert_int_equal(pg_buf_cursor(b, name, &c), 0);
    return c;
}

static uint64_t rows_of(struct pg_buf *b)
{
    struct pg_buf_stats st;
    pg_buf_stats(b, &st);
    return st.rows;
}

struct wait_deliv {
    struct fake_ctl *ctl;
    size_t want;
    struct pg_sink_queue *q;
    struct pg_buf *b;
};

static int cond_delivered_idle(void *arg)
{
    struct wait_deliv *w = arg;
    return w->ctl->n_delivered >= w->want && pg_sink_queue_idle(w->q);
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* ---- tests ---- */

static const char *const one_a[] = {"a"};

static void test_delivers_in_order(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 10, NULL);
    struct fake_ctl ctl = {.name = "a", .per_payload = 3, .dflt = PG_SINK_OK};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    struct pg_sink_queue *q = queue_new(f, b, &r);
    assert_false(pg_sink_queue_idle(q));
    struct wait_deliv w = {&ctl, 10, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.n_delivered, 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(ctl.delivered[i], (int64_t)i + 1);
    assert_int_equal(ctl.sends, 4); /* 3+3+3+1 */
    assert_int_equal(rows_of(b), 0);
    assert_int_equal(cursor_of(b, "a"), 10);
    assert_int_equal(metric("profgate_remote_write_profiles_total", "a"), 10);
    assert_int_equal(metric("profgate_remote_write_bytes_total", "a"), 10 * 8);
    assert_int_equal(metric("profgate_remote_write_failed_profiles_total", "a"), 0);
    /* the request-duration histogram counted every request */
    const char *lv[1] = {"a"};
    assert_int_equal(
        pg_metric_value(
            pg_metric_histogram("profgate_remote_write_request_duration_seconds", "x", "remote"),
            lv),
        4);

    /* new rows after a kick */
    append_n(b, 10, 2, NULL);
    pg_sink_queue_kick(q);
    w.want = 12;
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.delivered[11], 12);
    assert_int_equal(rows_of(b), 0);

    /* the pending gauge is set by the collector at render time */
    append_n(b, 12, 3, NULL);
    struct evbuffer *out = evbuffer_new();
    assert_non_null(out);
    assert_int_equal(pg_metrics_render(out), 0);
    evbuffer_free(out);
    assert_int_equal(gauge("profgate_remote_write_pending_profiles", "a"), 3);
    /* no kick: the fallback poll picks the rows up */
    w.want = 15;
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    out = evbuffer_new();
    assert_int_equal(pg_metrics_render(out), 0);
    evbuffer_free(out);
    assert_int_equal(gauge("profgate_remote_write_pending_profiles", "a"), 0);

    pg_sink_queue_destroy(q);
    pg_sink_queue_destroy(NULL);
    assert_int_equal(ctl.destroyed, 1);
    pg_buf_close(b);
}

static void test_retry_then_ok(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 2, NULL);
    struct fake_ctl ctl = {.name = "a",
                           .per_payload = 1,
                           .script = {PG_SINK_RETRY, PG_SINK_RETRY, PG_SINK_RETRY, PG_SINK_OK,
                                      PG_SINK_RETRY, PG_SINK_OK},
                           .script_retry_after = {-1, -1, -1, -1, 150, -1},
                           .n_script = 6,
                           .dflt = PG_SINK_OK};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    struct pg_sink_queue *q = queue_new(f, b, &r);
    struct wait_deliv w = {&ctl, 2, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.n_delivered, 2);
    assert_int_equal(ctl.delivered[0], 1); /* delivered once, in order */
    assert_int_equal(ctl.delivered[1], 2);
    assert_int_equal(ctl.sends, 6);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "a"), 4);
    assert_int_equal(metric("profgate_remote_write_failed_profiles_total", "a"), 4);
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "a"), 0);
    assert_int_equal(metric("profgate_remote_write_profiles_total", "a"), 2);
    /* backoff: retry k waits at least half of 10ms * 2^(k-1) (jitter into [d/2, d]) */
    assert_true(ms_between(&ctl.send_at[0], &ctl.send_at[1]) >= 5);
    assert_true(ms_between(&ctl.send_at[1], &ctl.send_at[2]) >= 10);
    assert_true(ms_between(&ctl.send_at[2], &ctl.send_at[3]) >= 20);
    /* and at most d plus scheduling slack */
    assert_true(ms_between(&ctl.send_at[2], &ctl.send_at[3]) < 40 + 500);
    /* Retry-After is a floor */
    assert_true(ms_between(&ctl.send_at[4], &ctl.send_at[5]) >= 150);
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

static void test_error_drops(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 3, NULL);
    struct fake_ctl ctl = {.name = "a",
                           .per_payload = 1,
                           .script = {PG_SINK_ERROR},
                           .script_retry_after = {-1},
                           .n_script = 1,
                           .dflt = PG_SINK_OK};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    struct pg_sink_queue *q = queue_new(f, b, &r);
    struct wait_deliv w = {&ctl, 2, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.sends, 3); /* no retry of the failed one */
    assert_int_equal(ctl.delivered[0], 2);
    assert_int_equal(ctl.delivered[1], 3);
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "a"), 1);
    assert_int_equal(metric("profgate_remote_write_failed_profiles_total", "a"), 1);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "a"), 0);
    assert_int_equal(cursor_of(b, "a"), 3);
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

static void test_max_retries(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 2, NULL);
    struct fake_ctl ctl = {.name = "a",
                           .per_payload = 1,
                           .script = {PG_SINK_RETRY, PG_SINK_RETRY, PG_SINK_RETRY},
                           .script_retry_after = {-1, -1, -1},
                           .n_script = 3,
                           .dflt = PG_SINK_OK};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.max_retries = 2;
    struct pg_sink_queue *q = queue_new(f, b, &r);
    struct wait_deliv w = {&ctl, 1, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.sends, 4); /* 1 + 2 retries for row 1, then row 2 */
    assert_int_equal(ctl.n_delivered, 1);
    assert_int_equal(ctl.delivered[0], 2);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "a"), 2);
    assert_int_equal(metric("profgate_remote_write_failed_profiles_total", "a"), 3);
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "a"), 1);
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

/* An item encode rejects is dropped alone; send failing to start is a RETRY. */
static void test_encode_error_and_send_fail(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 2, NULL);
    append_n(b, 2, 1, "bad");
    append_n(b, 3, 2, NULL);
    struct fake_ctl ctl = {.name = "a", .per_payload = 10, .dflt = PG_SINK_OK, .fail_start = 2};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    struct pg_sink_queue *q = queue_new(f, b, &r);
    struct wait_deliv w = {&ctl, 4, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    assert_int_equal(ctl.n_delivered, 4);
    int64_t want[] = {1, 2, 4, 5};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ctl.delivered[i], want[i]);
    assert_int_equal(ctl.sends, 4); /* two that did not start, then [1,2] and [4,5] */
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "a"), 1);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "a"), 4);
    assert_int_equal(cursor_of(b, "a"), 5);
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

struct ooo {
    struct fake_ctl *ctl;
    struct pg_buf *b;
    struct pg_sink_queue *q;
    int violations;
};

static int delivered_has(const struct fake_ctl *ctl, int64_t id)
{
    for (size_t i = 0; i < ctl->n_delivered; i++)
        if (ctl->delivered[i] == id)
            return 1;
    return 0;
}

/* Invariant: every id at or below the durable cursor has been delivered. */
static void check_cursor(void *arg)
{
    struct ooo *o = arg;
    int64_t c = cursor_of(o->b, "a");
    for (int64_t id = 1; id <= c; id++)
        if (!delivered_has(o->ctl, id))
            o->violations++;
}

static int cond_ooo(void *arg)
{
    struct ooo *o = arg;
    return o->ctl->n_delivered >= 12 && pg_sink_queue_idle(o->q);
}

static void test_concurrency_out_of_order(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 12, NULL);
    /* batches of 2; the first of each window of 3 is the slowest */
    struct fake_ctl ctl = {.name = "a",
                           .per_payload = 2,
                           .script_delay_ms = {80, 10, 40, 60, 5, 20},
                           .n_delays = 6,
                           .dflt = PG_SINK_OK,
                           .delay_ms = 1};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.concurrency = 3;
    struct pg_sink_queue *q = queue_new(f, b, &r);
    /* one batch at create, the next ones one per loop iteration (the loop runs other
     * events between two batches' reads and encodes) */
    assert_int_equal(ctl.live, 1);
    assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
    assert_int_equal(ctl.live, 2);
    assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
    assert_int_equal(ctl.live, 3);
    struct ooo o = {&ctl, b, q, 0};
    assert_true(run_until(f->base, cond_ooo, &o, check_cursor, 5000));
    assert_int_equal(o.violations, 0);
    assert_int_equal(ctl.max_live, 3);
    assert_int_equal(ctl.n_delivered, 12);
    /* delivery really was out of order */
    int sorted = 1;
    for (size_t i = 1; i < ctl.n_delivered; i++)
        if (ctl.delivered[i] < ctl.delivered[i - 1])
            sorted = 0;
    assert_false(sorted);
    for (int64_t id = 1; id <= 12; id++)
        assert_true(delivered_has(&ctl, id));
    assert_int_equal(cursor_of(b, "a"), 12);
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

static int cond_all12(void *arg)
{
    struct ooo *o = arg;
    return o->ctl->n_delivered >= 12 && pg_sink_queue_idle(o->q);
}

/* With a worker pool the next batches are read (through the queue's own SQLite reader)
 * and encoded on a worker: every row is delivered once, the cursor never passes an
 * undelivered row and ends at the last id. */
static void test_workq_fill(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 12, NULL);
    struct fake_ctl ctl = {
        .name = "a", .per_payload = 2, .dflt = PG_SINK_OK, .delay_ms = 1, .loop = pthread_self()};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.concurrency = 2;
    struct pg_workq *wq = pg_workq_new(f->base, 2, 8);
    assert_non_null(wq);
    struct pg_sink_queue *q = queue_new(f, b, &r);
    assert_int_equal(ctl.off_loop, 0); /* the first batch, at create, on the loop */
    assert_int_equal(pg_sink_queue_use_workq(q, wq), 0);
    struct ooo o = {&ctl, b, q, 0};
    assert_true(run_until(f->base, cond_all12, &o, check_cursor, 5000));
    assert_int_equal(o.violations, 0);
    assert_int_equal(ctl.n_delivered, 12);
    for (int64_t id = 1; id <= 12; id++)
        assert_true(delivered_has(&ctl, id));
    assert_true(ctl.off_loop >= 5); /* the other 5 batches */
    assert_int_equal(cursor_of(b, "a"), 12);
    pg_sink_queue_destroy(q);
    pg_workq_free(wq);
    pg_buf_close(b);
}

/* A queue destroyed while its fill job is on the worker pool: destroy cancels the job if
 * no worker took it yet, or waits for the worker to finish with it, so that when it
 * returns the reader, the backend instance and the remote config (which the caller frees
 * next, on a reload) are no longer in use; the job's completion then only frees it
 * (ASan/LSan check the rest). */
static void test_workq_destroy_in_flight(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 6, NULL);
    struct fake_ctl ctl = {
        .name = "a", .per_payload = 2, .dflt = PG_SINK_OK, .delay_ms = 1, .loop = pthread_self()};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.concurrency = 2;
    setenv("PROFGATE_TEST_WORK_DELAY_MS", "200", 1); /* read by pg_workq_new */
    struct pg_workq *wq = pg_workq_new(f->base, 1, 8);
    unsetenv("PROFGATE_TEST_WORK_DELAY_MS");
    assert_non_null(wq);
    struct pg_sink_queue *q = queue_new(f, b, &r); /* one batch sent at create */
    assert_int_equal(pg_sink_queue_use_workq(q, wq), 0);
    pg_sink_queue_kick(q); /* a fill job for the second slot: 200 ms on the worker */
    assert_false(pg_sink_queue_idle(q));
    pg_sink_queue_destroy(q);
    assert_int_equal(ctl.destroyed, 1); /* nothing runs on it any more */
    int encoded = ctl.off_loop;
    memset(&r, 0x5a, sizeof r); /* as freeing the remote config after a reload would */
    assert_int_equal(pg_workq_drain(wq, 5000), 0);
    assert_int_equal(ctl.destroyed, 1);
    assert_int_equal(ctl.off_loop, encoded); /* no encode after destroy returned */
    assert_true(encoded <= 1);
    pg_workq_free(wq);
    pg_buf_close(b);
}

static const char *const fast_slow[] = {"fast", "slow"};

struct two_q {
    struct fake_ctl *fast, *slow;
    struct pg_sink_queue *qf, *qs;
    struct pg_buf *b;
};

static int cond_fast_done(void *arg)
{
    struct two_q *t = arg;
    return t->fast->n_delivered >= 20 && pg_sink_queue_idle(t->qf) && t->slow->sends >= 3;
}

static int cond_slow_done(void *arg)
{
    struct two_q *t = arg;
    return t->slow->n_delivered >= 20 && pg_sink_queue_idle(t->qs) && rows_of(t->b) == 0;
}

static void test_slow_backend_isolated(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, fast_slow, 2);
    append_n(b, 0, 20, NULL);
    struct fake_ctl fast = {.name = "fast", .per_payload = 4, .dflt = PG_SINK_OK};
    struct fake_ctl slow = {.name = "slow", .per_payload = 4, .dflt = PG_SINK_RETRY};
    g_ctl[0] = &fast;
    g_ctl[1] = &slow;
    struct pg_cfg_remote rf, rs;
    remote_init(&rf, "fast");
    remote_init(&rs, "slow");
    rs.max_backoff_ms = 40;
    rs.concurrency = 2;
    struct pg_sink_queue *qf = queue_new(f, b, &rf);
    struct pg_sink_queue *qs = queue_new(f, b, &rs);
    struct two_q t = {&fast, &slow, qf, qs, b};
    assert_true(run_until(f->base, cond_fast_done, &t, NULL, 5000));
    assert_int_equal(fast.n_delivered, 20);
    assert_int_equal(slow.n_delivered, 0);
    assert_int_equal(cursor_of(b, "fast"), 20);
    assert_int_equal(cursor_of(b, "slow"), 0);
    assert_int_equal(rows_of(b), 20); /* kept for the slow one */
    assert_false(pg_sink_queue_idle(qs));
    assert_true(metric("profgate_remote_write_retried_profiles_total", "slow") >= 8);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "fast"), 0);
    /* backing off: the slow queue does not pile up requests beyond its window */
    assert_true(slow.max_live <= 2);

    /* the backend recovers: the backlog drains and the buffer empties */
    slow.dflt = PG_SINK_OK;
    assert_true(run_until(f->base, cond_slow_done, &t, NULL, 5000));
    assert_int_equal(slow.n_delivered, 20);
    for (size_t i = 0; i < 20; i++)
        assert_true(delivered_has(&slow, (int64_t)i + 1));
    assert_int_equal(cursor_of(b, "slow"), 20);
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "slow"), 0);
    pg_sink_queue_destroy(qf);
    pg_sink_queue_destroy(qs);
    pg_buf_close(b);
}

static int cond_live2(void *arg)
{
    return ((struct fake_ctl *)arg)->live == 2;
}

static void test_destroy_in_flight_and_resend(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 5, NULL);
    struct fake_ctl hang = {.name = "a", .per_payload = 1, .dflt = PG_SINK_OK, .delay_ms = 60000};
    g_ctl[0] = &hang;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.concurrency = 2;
    struct pg_sink_queue *q = queue_new(f, b, &r);
    assert_true(run_until(f->base, cond_live2, &hang, NULL, 2000));
    /* one more retry-backoff batch would be fine too; here both are sending */
    pg_sink_queue_destroy(q);
    assert_int_equal(hang.cancels, 2);
    assert_int_equal(hang.live, 0);
    assert_int_equal(hang.destroyed, 1);
    assert_int_equal(hang.n_delivered, 0);
    assert_int_equal(cursor_of(b, "a"), 0);
    pg_buf_close(b);

    /* reopen: a new queue resends everything, including what was in flight */
    b = open_buf(f->dir, one_a, 1);
    assert_int_equal(rows_of(b), 5);
    struct fake_ctl ok = {.name = "a", .per_payload = 2, .dflt = PG_SINK_OK};
    g_ctl[0] = &ok;
    q = queue_new(f, b, &r);
    struct wait_deliv w = {&ok, 5, q, b};
    assert_true(run_until(f->base, cond_delivered_idle, &w, NULL, 5000));
    for (size_t i = 0; i < 5; i++)
        assert_true(delivered_has(&ok, (int64_t)i + 1));
    assert_int_equal(rows_of(b), 0);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
}

/* A backoff timer pending at destroy is freed too (ASan checks for leaks). */
static int cond_retried(void *arg)
{
    return ((struct fake_ctl *)arg)->sends >= 2;
}

static void test_destroy_in_backoff(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 3, NULL);
    struct fake_ctl ctl = {.name = "a", .per_payload = 1, .dflt = PG_SINK_RETRY};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.min_backoff_ms = 5;
    r.max_backoff_ms = 60000;
    struct pg_sink_queue *q = queue_new(f, b, &r);
    assert_true(run_until(f->base, cond_retried, &ctl, NULL, 2000));
    assert_int_equal(ctl.max_live, 1); /* one batch: it backs off, nothing else starts */
    pg_sink_queue_destroy(q);
    assert_int_equal(ctl.live, 0);
    assert_int_equal(cursor_of(b, "a"), 0);
    pg_buf_close(b);
}

static void test_create_errors(void **state)
{
    struct fx *f = *state;
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    struct pg_cfg_remote r;
    remote_init(&r, "unknown");
    char err[256] = "";
    struct pg_labels ext;
    pg_labels_init(&ext);
    /* no cursor for this remote in the buffer */
    assert_null(
        pg_sink_queue_create_type(f->base, NULL, b, &r, &ext, &fake_type, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown"));
    /* backend create fails: its reason is reported */
    remote_init(&r, "a");
    err[0] = '\0';
    assert_null(
        pg_sink_queue_create_type(f->base, NULL, b, &r, &ext, &fake_type, err, sizeof(err)));
    assert_non_null(strstr(err, "no fake control"));
    pg_buf_close(b);
}

/* ---- the real push backend against an in-process evhttp server ---- */

struct push_srv {
    int requests, fail_first;
    size_t bytes;
    char content_type[64];
};

static void push_handler(struct evhttp_request *req, void *arg)
{
    struct push_srv *s = arg;
    s->requests++;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    s->bytes += evbuffer_get_length(in);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    snprintf(s->content_type, sizeof(s->content_type), "%s", ct ? ct : "");
    if (s->fail_first > 0) {
        s->fail_first--;
        evhttp_send_reply(req, 503, "Unavailable", NULL);
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* ---- write_relabel_configs ---- */

/* Appends rows from..from+count-1 (ids follow) with a label n=<i>. */
static void append_labeled(struct pg_buf *b, int from, int count)
{
    uint8_t body[16];
    memset(body, 7, sizeof(body));
    for (int i = from; i < from + count; i++) {
        struct pg_labels ls;
        pg_labels_init(&ls);
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(pg_labels_set(&ls, "service_name", "api"), 0);
        assert_int_equal(pg_labels_set(&ls, "n", v), 0);
        assert_int_equal(pg_buf_append(b, &ls, "p", i, i + 1, NULL, body, sizeof(body)), 0);
        pg_labels_reset(&ls);
    }
    assert_int_equal(pg_buf_flush(b), 0);
}

struct wait_rl {
    struct fake_ctl *ctl;
    struct pg_buf *b;
    struct pg_sink_queue *q;
    size_t want;
    int64_t cursor;
};

static int cond_relabeled(void *arg)
{
    struct wait_rl *w = arg;
    return w->ctl->n_delivered >= w->want && cursor_of(w->b, "a") == w->cursor &&
           pg_sink_queue_idle(w->q);
}

/* Rows a backend's write_relabel_configs drops are not sent but acknowledged (in the
 * middle of a batch, after the last kept row, and a read of dropped rows only), counted in
 * profgate_remote_write_relabel_dropped_profiles_total; on the loop and on a worker. */
static void run_write_relabel(struct fx *f, int workers)
{
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_labeled(b, 1, 6);
    struct fake_ctl ctl = {
        .name = "a", .per_payload = 10, .dflt = PG_SINK_OK, .loop = pthread_self()};
    g_ctl[0] = &ctl;
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    char *src[] = {(char *)"n"};
    struct pg_relabel_rule rule = {.source_labels = src,
                                   .n_source = 1,
                                   .separator = (char *)";",
                                   .regex = (char *)"2|3|5|6|7|8",
                                   .replacement = (char *)"$1",
                                   .action = PG_RELABEL_DROP};
    char err[128] = "";
    assert_int_equal(pg_relabel_compile(&rule, err, sizeof(err)), 0);
    r.write_relabel = &rule;
    r.n_write_relabel = 1;
    struct pg_workq *wq = NULL;
    struct pg_sink_queue *q = queue_new(f, b, &r); /* the first read runs on the loop */
    if (workers) {
        wq = pg_workq_new(f->base, 1, 8);
        assert_non_null(wq);
        assert_int_equal(pg_sink_queue_use_workq(q, wq), 0);
    }
    struct wait_rl w = {&ctl, b, q, 2, 6};
    assert_true(run_until(f->base, cond_relabeled, &w, NULL, 5000));
    assert_int_equal(ctl.n_delivered, 2);
    assert_int_equal(ctl.delivered[0], 1);
    assert_int_equal(ctl.delivered[1], 4);
    assert_int_equal(rows_of(b), 0);
    assert_int_equal(metric("profgate_remote_write_relabel_dropped_profiles_total", "a"), 4);
    assert_int_equal(metric("profgate_remote_write_dropped_profiles_total", "a"), 0);
    /* a read of dropped rows only (7, 8) is acknowledged too */
    append_labeled(b, 7, 2);
    pg_sink_queue_kick(q);
    w.cursor = 8;
    assert_true(run_until(f->base, cond_relabeled, &w, NULL, 5000));
    assert_int_equal(ctl.n_delivered, 2);
    assert_int_equal(metric("profgate_remote_write_relabel_dropped_profiles_total", "a"), 6);
    pg_sink_queue_destroy(q);
    pg_workq_free(wq);
    pcre2_code_free(rule.re);
    pg_buf_close(b);
}

static void test_write_relabel_loop(void **state)
{
    run_write_relabel(*state, 0);
}

static void test_write_relabel_workers(void **state)
{
    run_write_relabel(*state, 1);
}

static void test_real_push(void **state)
{
    struct fx *f = *state;
    struct evhttp *http = evhttp_new(f->base);
    assert_non_null(http);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(sock);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &sl), 0);
    struct push_srv srv = {.fail_first = 1};
    evhttp_set_gencb(http, push_handler, &srv);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));

    struct pg_curlm *cm = pg_curlm_create(f->base);
    assert_non_null(cm);
    struct pg_buf *b = open_buf(f->dir, one_a, 1);
    append_n(b, 0, 5, NULL);
    struct pg_cfg_remote r;
    remote_init(&r, "a");
    r.url = url;
    r.api = PG_CFG_API_PUSH;
    r.http.follow_redirects = 1;
    char err[256] = "";
    struct pg_labels ext;
    pg_labels_init(&ext);
    struct pg_sink_queue *q = pg_sink_queue_create(f->base, cm, b, &r, &ext, err, sizeof(err));
    if (!q)
        fail_msg("queue: %s", err);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (rows_of(b) == 0 && pg_sink_queue_idle(q))
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ms_between(&t0, &now) > 10000)
            break;
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    assert_int_equal(rows_of(b), 0);
    assert_int_equal(srv.requests, 2); /* one 503, then all five in one request */
    assert_string_equal(srv.content_type, "application/proto");
    assert_true(srv.bytes > 5 * 16);
    assert_int_equal(metric("profgate_remote_write_profiles_total", "a"), 5);
    assert_int_equal(metric("profgate_remote_write_retried_profiles_total", "a"), 5);
    pg_sink_queue_destroy(q);
    pg_buf_close(b);
    pg_curlm_destroy(cm);
    evhttp_free(http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_then_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_error_and_send_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workq_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workq_destroy_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_backend_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_flight_and_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_relabel_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_relabel_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_push, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
