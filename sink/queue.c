/* queue.c - the per-backend forwarding queue (see queue.h).
 *
 * A queue keeps a window of up to `concurrency` batches in id order. Each batch is one
 * encoded request covering a contiguous id range [first_id, last_id] of the buffer; it is
 * either being sent, waiting out a backoff before resending, or done (delivered or
 * dropped) and waiting for the batches before it. read_id is the last id taken from the
 * buffer (starting at the durable cursor); rows read but not yet encoded are kept as a
 * read-ahead so that a backend that takes one profile per request does not re-read the
 * batch for each. Whenever the oldest batch is done the cursor is acknowledged up to its
 * last_id, so the durable cursor never passes an undelivered profile. A 1 s fallback
 * timer retries reads and acknowledgements in case a kick was missed or an ack failed.
 *
 * With a worker pool (pg_sink_queue_use_workq), reading the next batch's rows and
 * encoding it run on a worker (a fill job: its own SQLite reader, the read-ahead moved
 * into the job and back); the loop only turns the result into a batch and sends it. One
 * fill job at a time per queue. A queue destroyed while its job runs hands the job its
 * reader and backend instance, which the job's done frees. */
#include "sink/queue.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/errmsg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/workq.h"
#include "relabel/relabel.h"
#include "sink/backend.h"
#include "sink/wrelabel.h"

#define QUEUE_READ_ITEMS 512     /* rows read from the buffer at a time */
#define QUEUE_MAX_CONCURRENCY 64 /* bound on the in-flight window */
#define QUEUE_POLL_MS 1000       /* fallback poll for missed kicks and failed acks */

enum batch_state { BATCH_SENDING = 0, BATCH_BACKOFF, BATCH_DONE };

struct batch {
    struct pg_sink_queue *q;
    int64_t first_id, last_id;
    size_t n_profiles;
    struct pg_sink_payload payload; /* zeroed for a batch dropped at encode time */
    char *tenant;
    unsigned attempt; /* failed attempts so far */
    enum batch_state state;
    void *handle;        /* running send, or NULL */
    struct event *timer; /* backoff timer, created on first use */
    int64_t started_ns;  /* pg_clock_mono_ns when the attempt started */
    int64_t retry_at_ms; /* unix ms the backoff ends (BATCH_BACKOFF) */
};

struct pg_sink_queue {
    struct event_base *base;
    struct pg_buf *buf;
    const struct pg_cfg_remote *cfg;
    const struct pg_sink_backend_type *type;
    void *inst;
    struct event *poll;
    struct event *more; /* fill the next batch in a later loop iteration */
    uint64_t rng;
    int64_t min_backoff, max_backoff;
    size_t max_bytes;

    int64_t read_id;  /* last id taken from the buffer */
    int64_t ack_want; /* last id of the delivered/dropped prefix */
    int64_t acked;    /* last id the buffer has durably acknowledged */

    struct pg_buf_item *ra; /* read-ahead: rows with id > read_id not yet encoded */
    size_t ra_n, ra_pos;
    int64_t ra_hi;          /* last id read, kept or dropped by pg_sink_wrelabel */
    struct pg_labels *gext; /* the global external labels (owned; a fill job's once
                               the queue is destroyed under it) */

    struct pg_workq *wq;      /* borrowed; NULL: read and encode on the loop */
    struct pg_buf_reader *rd; /* the fill jobs' connection (with wq) */
    struct fill_job *job;     /* the fill job in flight, or NULL */

    struct batch **win; /* window in id order */
    size_t n_win, cap_win;
    int filling;
    int read_failing, ack_failing; /* log a failure once, not on every poll */
    int collector;

    struct pg_metric *m_profiles, *m_bytes, *m_failed, *m_retried, *m_dropped, *m_duration,
        *m_pending, *m_in_flight, *m_relabel_dropped;
    /* for pg_sink_queue_status: the counters above since this queue started, the last
     * failure and the last delivery */
    uint64_t n_sent, n_bytes, n_failed, n_retried, n_dropped;
    char last_error[256];
    long last_error_status;
    int64_t last_error_ms, last_success_ms;
};

static void count(struct pg_sink_queue *q, struct pg_metric *m, double v)
{
    const char *lv[1] = {q->cfg->name};
    pg_metric_inc(m, lv, v);
    uint64_t *n = m == q->m_profiles  ? &q->n_sent
                  : m == q->m_bytes   ? &q->n_bytes
                  : m == q->m_failed  ? &q->n_failed
                  : m == q->m_retried ? &q->n_retried
                  : m == q->m_dropped ? &q->n_dropped
                                      : NULL;
    if (n)
        *n += (uint64_t)v;
}

/* Counts (and logs) what pg_sink_wrelabel left out of a read. */
static void count_wrelabel(struct pg_sink_queue *q, const struct pg_sink_wrelabel_stats *st)
{
    if (st->dropped)
        count(q, q->m_relabel_dropped, (double)st->dropped);
    if (st->bad_tenant) {
        count(q, q->m_dropped, (double)st->bad_tenant);
        char safe[160];
        pg_log_warn("sink.queue",
                    "remote=%s msg=\"dropping %zu profiles\" reason=invalid_tenant "
                    "tenant=\"%s\"",
                    q->cfg->name, st->bad_tenant, pg_log_safe(st->tenant, safe, sizeof(safe)));
    }
    pg_relabel_report_hits(); /* limit hits of a fill job on a worker */
}

static void update_in_flight(struct pg_sink_queue *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n_win; i++)
        n += q->win[i]->handle != NULL;
    const char *lv[1] = {q->cfg->name};
    pg_metric_set(q->m_in_flight, lv, (double)n);
}

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    if (b->handle)
        b->q->type->cancel(b->q->inst, b->handle);
    if (b->timer)
        event_free(b->timer);
    pg_sink_payload_reset(&b->payload);
    free(b->tenant);
    free(b);
}

static void send_done(void *ud, enum pg_sink_result r, long http_status, int64_t retry_after_ms,
                      const char *message);
static void advance(struct pg_sink_queue *q);
static void backoff_fired(evutil_socket_t fd, short what, void *arg);

/* Marks b done after a final failure. */
static void batch_drop(struct batch *b, long status, const char *why, const char *message)
{
    struct pg_sink_queue *q = b->q;
    char safe[512];
    count(q, q->m_dropped, (double)b->n_profiles);
    pg_log_warn("sink.queue",
                "remote=%s msg=\"dropping %zu profiles\" reason=%s status=%ld attempts=%u "
                "err=\"%s\"",
                q->cfg->name, b->n_profiles, why, status, b->attempt,
                pg_log_safe(message, safe, sizeof(safe)));
    b->state = BATCH_DONE;
}

/* Records the outcome of one attempt of b: done, or a backoff timer armed for the next. */
static void batch_result(struct batch *b, enum pg_sink_result r, long status,
                         int64_t retry_after_ms, const char *message)
{
    struct pg_sink_queue *q = b->q;
    if (r == PG_SINK_OK) {
        count(q, q->m_profiles, (double)b->n_profiles);
        count(q, q->m_bytes, (double)b->payload.len);
        q->last_success_ms = pg_clock_unix_ms();
        b->state = BATCH_DONE;
        return;
    }
    count(q, q->m_failed, (double)b->n_profiles);
    snprintf(q->last_error, sizeof(q->last_error), "%s", message ? message : "");
    q->last_error_status = status;
    q->last_error_ms = pg_clock_unix_ms();
    if (r != PG_SINK_RETRY) {
        batch_drop(b, status, "error", message);
        return;
    }
    b->attempt++;
    if (q->cfg->max_retries > 0 && b->attempt > q->cfg->max_retries) {
        batch_drop(b, status, "max_retries", message);
        return;
    }
    count(q, q->m_retried, (double)b->n_profiles);
    int64_t delay =
        pg_backoff_delay(q->min_backoff, q->max_backoff, b->attempt, retry_after_ms, &q->rng);
    char safe[512];
    pg_log_warn("sink.queue",
                "remote=%s msg=\"retrying\" profiles=%zu attempt=%u delay_ms=%lld status=%ld "
                "err=\"%s\"",
                q->cfg->name, b->n_profiles, b->attempt, (long long)delay, status,
                pg_log_safe(message, safe, sizeof(safe)));
    struct timeval tv = {.tv_sec = (time_t)(delay / 1000),
                         .tv_usec = (suseconds_t)((delay % 1000) * 1000)};
    b->state = BATCH_BACKOFF;
    b->retry_at_ms = pg_clock_unix_ms() + delay;
    if (!b->timer)
        b->timer = evtimer_new(q->base, backoff_fired, b);
    if (!b->timer || evtimer_add(b->timer, &tv) != 0) {
        /* cannot wait: without a timer the batch would hang, so drop it */
        batch_drop(b, status, "no_timer", "out of memory arming the backoff timer");
    }
}

/* Starts (or restarts) b's request. On a send that could not start, records a RETRY. */
static void batch_send(struct batch *b)
{
    struct pg_sink_queue *q = b->q;
    b->state = BATCH_SENDING;
    b->started_ns = pg_clock_mono_ns();
    b->handle = q->type->send(q->inst, &b->payload, b->tenant, send_done, b);
    if (!b->handle)
        batch_result(b, PG_SINK_RETRY, 0, -1, "request could not be started");
}

static void backoff_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct batch *b = arg;
    batch_send(b);
    advance(b->q);
}

static void send_done(void *ud, enum pg_sink_result r, long http_status, int64_t retry_after_ms,
                      const char *message)
{
    struct batch *b = ud;
    struct pg_sink_queue *q = b->q;
    b->handle = NULL;
    const char *lv[1] = {q->cfg->name};
    pg_metric_observe(q->m_duration, lv, pg_clock_mono_since_s(b->started_ns));
    batch_result(b, r, http_status, retry_after_ms, message);
    advance(q);
}

/* Removes the done prefix of the window and acknowledges it to the buffer. */
static void ack_done(struct pg_sink_queue *q)
{
    size_t k = 0;
    while (k < q->n_win && q->win[k]->state == BATCH_DONE) {
        if (q->win[k]->last_id > q->ack_want)
            q->ack_want = q->win[k]->last_id;
        batch_free(q->win[k]);
        k++;
    }
    if (k) {
        memmove(q->win, q->win + k, (q->n_win - k) * sizeof(*q->win));
        q->n_win -= k;
    }
    if (q->ack_want > q->acked) {
        if (pg_buf_ack(q->buf, q->cfg->name, q->ack_want) == 0) {
            q->acked = q->ack_want;
            if (q->ack_failing)
                pg_log_info("sink.queue", "remote=%s msg=\"buffer acknowledgement recovered\"",
                            q->cfg->name);
            q->ack_failing = 0;
        } else if (!q->ack_failing) {
            q->ack_failing = 1;
            pg_log_warn("sink.queue",
                        "remote=%s msg=\"cannot acknowledge to the buffer, will retry\" "
                        "last_id=%lld",
                        q->cfg->name, (long long)q->ack_want);
        }
    }
}

/* Returns 1 when a new batch may start: a free slot, and not every unfinished batch is
 * backing off (the backend is failing; new requests would only fail too). */
static int can_send(const struct pg_sink_queue *q)
{
    if (q->n_win >= q->cap_win)
        return 0;
    size_t active = 0, backoff = 0;
    for (size_t i = 0; i < q->n_win; i++) {
        active += q->win[i]->state != BATCH_DONE;
        backoff += q->win[i]->state == BATCH_BACKOFF;
    }
    return !(backoff > 0 && backoff == active);
}

static void ra_clear(struct pg_sink_queue *q)
{
    pg_buf_items_free(q->ra, q->ra_n);
    q->ra = NULL;
    q->ra_n = q->ra_pos = 0;
}

/* Makes sure the read-ahead holds at least one row. Returns 1 when it does, 0 when
 * nothing is buffered after read_id or on a read error (logged once). */
static int ra_fill(struct pg_sink_queue *q)
{
    if (q->ra_pos < q->ra_n)
        return 1;
    ra_clear(q);
    if (pg_buf_read_after(q->buf, q->read_id, QUEUE_READ_ITEMS, q->max_bytes, &q->ra, &q->ra_n) !=
        0) {
        if (!q->read_failing)
            pg_log_warn("sink.queue", "remote=%s msg=\"cannot read the buffer, will retry\"",
                        q->cfg->name);
        q->read_failing = 1;
        return 0;
    }
    q->read_failing = 0;
    if (q->ra_n > 0) {
        struct pg_sink_wrelabel_stats st;
        q->ra_hi = q->ra[q->ra_n - 1].id;
        q->ra_n = pg_sink_wrelabel(q->cfg, q->gext, q->ra, q->ra_n, &st);
        count_wrelabel(q, &st);
    }
    return q->ra_n > 0;
}

/* Appends a new batch to the window. Returns it, or NULL on OOM. */
static struct batch *batch_new(struct pg_sink_queue *q)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->q = q;
    q->win[q->n_win++] = b;
    return b;
}

/* Acknowledges the rows read after read_id that pg_sink_wrelabel dropped when no kept row
 * follows them, with one done batch (the window must have room). */
static void skip_dropped(struct pg_sink_queue *q)
{
    if (q->ra_pos < q->ra_n || q->ra_hi <= q->read_id)
        return;
    struct batch *b = batch_new(q);
    if (!b)
        return; /* the poll timer tries again */
    b->first_id = q->read_id + 1;
    b->last_id = q->ra_hi;
    b->state = BATCH_DONE;
    q->read_id = q->ra_hi;
    ra_clear(q);
    ack_done(q);
}

/* Turns the encode result (rc, pl, err) for the rows at the read-ahead's position into
 * a batch. Returns 1 when the batch was sent, 0 when the first row could not be encoded
 * (dropped, counted, acknowledged), -1 when the rows stay for a later attempt (OOM).
 * Takes pl's contents. */
static int take_batch(struct pg_sink_queue *q, struct pg_sink_payload *pl, int rc, const char *err)
{
    const struct pg_buf_item *items = q->ra + q->ra_pos;
    size_t n = q->ra_n - q->ra_pos;
    struct batch *b = batch_new(q);
    if (!b || rc != 0)
        pg_sink_payload_reset(pl);
    if (!b)
        return -1; /* the poll timer tries again */
    if (rc != 0) {
        b->first_id = b->last_id = items[0].id;
        b->n_profiles = 1;
        count(q, q->m_dropped, 1);
        char safe[300];
        pg_log_warn("sink.queue",
                    "remote=%s msg=\"dropping 1 profiles\" reason=encode id=%lld err=\"%s\"",
                    q->cfg->name, (long long)items[0].id, pg_log_safe(err, safe, sizeof(safe)));
        b->state = BATCH_DONE;
        q->ra_pos++;
        if (q->ra_pos >= q->ra_n && q->ra_hi > b->last_id)
            b->last_id = q->ra_hi; /* the dropped rows after it go with it */
        q->read_id = b->last_id;
        ack_done(q);
        return 0;
    }
    b->payload = *pl;
    memset(pl, 0, sizeof(*pl));
    size_t used = b->payload.n_items;
    if (used == 0)
        used = 1;
    if (used > n)
        used = n;
    b->first_id = items[0].id;
    b->last_id = items[used - 1].id;
    if (q->ra_pos + used >= q->ra_n && q->ra_hi > b->last_id)
        b->last_id = q->ra_hi; /* the rows write_relabel_configs dropped after it */
    b->n_profiles = used;
    b->payload.tenant_from_label = items[0].tenant_from_label;
    if (items[0].tenant && !(b->tenant = strdup(items[0].tenant))) {
        /* cannot keep the tenant: undo, leave the rows for the next attempt */
        q->n_win--;
        batch_free(b);
        return -1;
    }
    q->ra_pos += used;
    q->read_id = b->last_id;
    if (q->ra_pos >= q->ra_n)
        ra_clear(q);
    batch_send(b);
    ack_done(q); /* a send that could not start may have been dropped at once */
    return 1;
}

/* ---- fill jobs: read and encode on a worker ---- */

/* A fill job's progress, so that destroying its queue never leaves it running on what the
 * queue frees (the reader, the backend instance, the remote config and its compiled
 * write_relabel_configs): queued, on a worker, finished, or cancelled before it started. */
enum { FILL_QUEUED, FILL_RUNNING, FILL_FINISHED, FILL_CANCELLED };

struct fill_job {
    struct pg_sink_queue *q; /* NULL once the queue is gone: done only frees */
    atomic_int state;        /* FILL_*: set by the worker, or cancelled by the loop */
    struct pg_buf_reader *rd;
    const struct pg_sink_backend_type *type;
    void *inst;
    int64_t after_id, bound;
    size_t max_bytes;
    struct pg_buf_item *ra; /* the read-ahead, moved in and back out */
    size_t ra_n, ra_pos;
    int64_t ra_hi;
    const struct pg_cfg_remote *cfg; /* borrowed, as inst's */
    struct pg_labels *gext;          /* borrowed from the queue */
    struct pg_sink_wrelabel_stats wst;
    int read_failed, encoded, rc;
    struct pg_sink_payload payload;
    char err[256];
};

static void fill_job_free(struct fill_job *j)
{
    pg_buf_items_free(j->ra, j->ra_n);
    pg_sink_payload_reset(&j->payload);
    free(j);
}

/* Worker thread: refills the read-ahead when it is used up, then encodes a batch from it.
 * Touches only the job (the reader and the backend instance are the job's for now;
 * encode is pure). */
static void fill_work_run(struct fill_job *j)
{
    if (j->ra_pos >= j->ra_n) {
        pg_buf_items_free(j->ra, j->ra_n);
        j->ra = NULL;
        j->ra_n = j->ra_pos = 0;
        if (pg_buf_reader_read(j->rd, j->after_id, j->bound, QUEUE_READ_ITEMS, j->max_bytes, &j->ra,
                               &j->ra_n) != 0) {
            j->read_failed = 1;
            return;
        }
        if (j->ra_n > 0) {
            j->ra_hi = j->ra[j->ra_n - 1].id;
            pg_relabel_set_off_loop(1); /* this is a worker: no metrics here */
            j->ra_n = pg_sink_wrelabel(j->cfg, j->gext, j->ra, j->ra_n, &j->wst);
        }
    }
    if (j->ra_pos >= j->ra_n)
        return; /* nothing to send */
    j->encoded = 1;
    j->rc = j->type->encode(j->inst, j->ra + j->ra_pos, j->ra_n - j->ra_pos, &j->payload, j->err,
                            sizeof(j->err));
}

static void fill_work(void *p)
{
    struct fill_job *j = p;
    int queued = FILL_QUEUED;
    if (!atomic_compare_exchange_strong(&j->state, &queued, FILL_RUNNING))
        return; /* cancelled: the queue is gone */
    fill_work_run(j);
    atomic_store(&j->state, FILL_FINISHED);
}

/* Loop thread, destroying the queue: cancels j if no worker has started it, else waits
 * for the worker to finish with it (one batch: milliseconds), so the queue can free what j
 * borrows. j itself is freed by fill_done, which then only frees. */
static void fill_job_quiesce(struct fill_job *j)
{
    int queued = FILL_QUEUED;
    if (atomic_compare_exchange_strong(&j->state, &queued, FILL_CANCELLED))
        return;
    while (atomic_load(&j->state) == FILL_RUNNING)
        nanosleep(&(struct timespec){0, 100000}, NULL);
}

static void fill(struct pg_sink_queue *q);

/* Loop thread: takes the read-ahead back and sends the job's batch. */
static void fill_done(void *p, enum pg_workq_status st)
{
    struct fill_job *j = p;
    struct pg_sink_queue *q = j->q;
    if (!q) {
        fill_job_free(j);
        return;
    }
    q->job = NULL;
    ra_clear(q);
    q->ra = j->ra;
    q->ra_n = j->ra_n;
    q->ra_pos = j->ra_pos;
    q->ra_hi = j->ra_hi;
    j->ra = NULL;
    j->ra_n = 0;
    count_wrelabel(q, &j->wst);
    if (j->read_failed && !q->read_failing)
        pg_log_warn("sink.queue", "remote=%s msg=\"cannot read the buffer, will retry\"",
                    q->cfg->name);
    if (st == PG_WORKQ_DONE && !j->read_failed)
        q->read_failing = 0;
    else if (j->read_failed)
        q->read_failing = 1;
    int more = 0;
    if (st == PG_WORKQ_DONE && j->encoded) {
        q->filling = 1; /* a send that completes at once must not start a job meanwhile */
        more = take_batch(q, &j->payload, j->rc, j->err) >= 0;
        q->filling = 0;
        update_in_flight(q);
    } else if (st == PG_WORKQ_DONE && !j->read_failed) {
        int64_t before = q->read_id;
        skip_dropped(q); /* everything read was dropped by write_relabel_configs */
        more = q->read_id > before;
    }
    fill_job_free(j);
    if (more)
        fill(q); /* the next batch, if the window has room */
}

/* Starts a fill job when the window has room and none is in flight. On a full worker
 * queue or OOM nothing starts: the next kick or the poll timer tries again. */
static void fill_async(struct pg_sink_queue *q)
{
    if (!can_send(q))
        return;
    struct fill_job *j = calloc(1, sizeof(*j));
    if (!j)
        return;
    *j = (struct fill_job){.q = q,
                           .state = FILL_QUEUED,
                           .rd = q->rd,
                           .type = q->type,
                           .inst = q->inst,
                           .after_id = q->read_id,
                           .bound = pg_buf_committed_max(q->buf),
                           .max_bytes = q->max_bytes,
                           .ra = q->ra,
                           .ra_n = q->ra_n,
                           .ra_pos = q->ra_pos,
                           .ra_hi = q->ra_hi,
                           .cfg = q->cfg,
                           .gext = q->gext};
    if (pg_workq_submit_urgent(q->wq, fill_work, fill_done, j) != 0) {
        free(j); /* the read-ahead stays with the queue */
        return;
    }
    q->ra = NULL;
    q->ra_n = q->ra_pos = 0;
    q->job = j;
}

/* Takes rows from the buffer into one new batch when can_send allows, and when another
 * may follow, fills it in a later loop iteration: reading and encoding a batch (up to
 * batch_max_bytes) is the loop's longest step, so other events run between batches.
 * With a worker pool the read and the encode run in a fill job instead. */
static void fill(struct pg_sink_queue *q)
{
    if (q->filling || q->job)
        return;
    if (q->wq) {
        fill_async(q);
        return;
    }
    q->filling = 1;
    int sent = 0;
    while (can_send(q)) {
        if (sent) {
            /* a 0 s timer, not event_active: libevent runs events activated during a
             * callback in the same iteration, before it polls again */
            static const struct timeval now = {0, 0};
            event_add(q->more, &now);
            break;
        }
        if (!ra_fill(q)) {
            int64_t before = q->read_id;
            skip_dropped(q); /* what was read may all have been dropped */
            if (q->read_id > before)
                continue;
            break;
        }
        struct pg_sink_payload pl = {0};
        char err[256] = "";
        int rc =
            q->type->encode(q->inst, q->ra + q->ra_pos, q->ra_n - q->ra_pos, &pl, err, sizeof(err));
        int t = take_batch(q, &pl, rc, err);
        if (t < 0)
            break;
        sent = t > 0;
    }
    q->filling = 0;
    update_in_flight(q);
}
static void advance(struct pg_sink_queue *q)
{
    ack_done(q);
    fill(q);
}

static void poll_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    advance(arg);
}

static void collect(void *ud)
{
    struct pg_sink_queue *q = ud;
    int64_t cursor = 0;
    if (pg_buf_cursor(q->buf, q->cfg->name, &cursor) != 0)
        return;
    int64_t n = pg_buf_count_after(q->buf, cursor);
    const char *lv[1] = {q->cfg->name};
    if (n >= 0)
        pg_metric_set(q->m_pending, lv, (double)n);
    update_in_flight(q);
}

static void register_metrics(struct pg_sink_queue *q)
{
    q->m_profiles = pg_metric_counter("profgate_remote_write_profiles_total",
                                      "Profiles delivered to the remote.", "remote");
    q->m_bytes = pg_metric_counter("profgate_remote_write_bytes_total",
                                   "Request bytes delivered to the remote.", "remote");
    q->m_failed = pg_metric_counter("profgate_remote_write_failed_profiles_total",
                                    "Profiles in failed request attempts.", "remote");
    q->m_retried = pg_metric_counter("profgate_remote_write_retried_profiles_total",
                                     "Profiles in requests scheduled for a retry.", "remote");
    q->m_dropped =
        pg_metric_counter("profgate_remote_write_dropped_profiles_total",
                          "Profiles dropped after a final error or too many retries.", "remote");
    q->m_duration = pg_metric_histogram("profgate_remote_write_request_duration_seconds",
                                        "Duration of requests to the remote.", "remote");
    q->m_pending =
        pg_metric_gauge("profgate_remote_write_pending_profiles",
                        "Buffered profiles not yet acknowledged by the remote.", "remote");
    q->m_in_flight = pg_metric_gauge("profgate_remote_write_in_flight_requests",
                                     "Requests to the remote currently being sent.", "remote");
    q->m_relabel_dropped = pg_metric_counter(
        "profgate_remote_write_relabel_dropped_profiles_total",
        "Profiles not sent to the remote because its write_relabel_configs dropped them.",
        "remote");
}

struct pg_sink_queue *pg_sink_queue_create_type(struct event_base *base, struct pg_curlm *cm,
                                                struct pg_buf *buf, const struct pg_cfg_remote *cfg,
                                                const struct pg_labels *global_external,
                                                const struct pg_sink_backend_type *type, char *err,
                                                size_t errlen)
{
    struct pg_sink_queue *q = calloc(1, sizeof(*q));
    if (!q) {
        pg_errmsg_set(err, errlen, "out of memory");
        return NULL;
    }
    q->base = base;
    q->buf = buf;
    q->cfg = cfg;
    q->type = type;
    q->min_backoff = cfg->min_backoff_ms > 0 ? cfg->min_backoff_ms : 1;
    q->max_backoff = cfg->max_backoff_ms > q->min_backoff ? cfg->max_backoff_ms : q->min_backoff;
    q->max_bytes = (size_t)cfg->batch_max_bytes;
    uint64_t conc = cfg->concurrency ? cfg->concurrency : 1;
    q->cap_win = conc > QUEUE_MAX_CONCURRENCY ? QUEUE_MAX_CONCURRENCY : (size_t)conc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    q->rng = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)q;
    if (!q->rng)
        q->rng = 0x9e3779b97f4a7c15u;
    if (pg_buf_cursor(buf, cfg->name, &q->read_id) != 0) {
        pg_errmsg_set(err, errlen, "remote_write %s: the buffer has no cursor for it", cfg->name);
        goto fail;
    }
    q->ack_want = q->acked = q->read_id;
    q->ra_hi = q->read_id;
    if ((q->gext = calloc(1, sizeof(*q->gext))) != NULL) {
        pg_labels_init(q->gext);
        if (global_external && pg_labels_copy(q->gext, global_external) != 0) {
            pg_labels_reset(q->gext);
            free(q->gext);
            q->gext = NULL;
        }
    }
    if (!q->gext || !(q->win = calloc(q->cap_win, sizeof(*q->win)))) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    char berr[256] = "";
    if (!(q->inst = type->create(cfg, global_external, cm, base, berr, sizeof(berr)))) {
        pg_errmsg_set(err, errlen, "remote_write %s: %s", cfg->name, berr);
        goto fail;
    }
    struct timeval tv = {.tv_sec = QUEUE_POLL_MS / 1000, .tv_usec = (QUEUE_POLL_MS % 1000) * 1000};
    if (!(q->poll = event_new(base, -1, EV_PERSIST, poll_fired, q)) ||
        !(q->more = event_new(base, -1, 0, poll_fired, q)) || event_add(q->poll, &tv) != 0) {
        pg_errmsg_set(err, errlen, "remote_write %s: cannot arm the poll timer", cfg->name);
        goto fail;
    }
    register_metrics(q);
    if (pg_metrics_add_collector(collect, q) != 0) {
        pg_errmsg_set(err, errlen, "out of memory");
        goto fail;
    }
    q->collector = 1;
    pg_log_info("sink.queue", "remote=%s api=%s msg=\"queue started\" cursor=%lld concurrency=%zu",
                cfg->name, type->name, (long long)q->read_id, q->cap_win);
    fill(q);
    return q;
fail:
    pg_sink_queue_destroy(q);
    return NULL;
}

struct pg_sink_queue *pg_sink_queue_create(struct event_base *base, struct pg_curlm *cm,
                                           struct pg_buf *buf, const struct pg_cfg_remote *cfg,
                                           const struct pg_labels *global_external, char *err,
                                           size_t errlen)
{
    const struct pg_sink_backend_type *type = pg_sink_backend_for(cfg->api);
    if (!type) {
        pg_errmsg_set(err, errlen, "remote_write %s: unknown api", cfg->name);
        return NULL;
    }
    return pg_sink_queue_create_type(base, cm, buf, cfg, global_external, type, err, errlen);
}

void pg_sink_queue_kick(struct pg_sink_queue *q)
{
    if (q && can_send(q))
        fill(q);
}

int pg_sink_queue_use_workq(struct pg_sink_queue *q, struct pg_workq *wq)
{
    if (wq && !q->rd && !(q->rd = pg_buf_reader_open(q->buf)))
        return -1;
    q->wq = wq;
    return 0;
}

int pg_sink_queue_idle(const struct pg_sink_queue *q)
{
    if (q->n_win > 0 || q->job)
        return 0;
    return pg_buf_count_after(q->buf, q->read_id) == 0;
}

void pg_sink_queue_destroy(struct pg_sink_queue *q)
{
    if (!q)
        return;
    if (q->collector)
        pg_metrics_remove_collector(collect, q);
    for (size_t i = 0; i < q->n_win; i++)
        batch_free(q->win[i]); /* cancels running sends; their rows stay unacknowledged */
    free(q->win);
    ra_clear(q);
    if (q->poll)
        event_free(q->poll);
    if (q->more)
        event_free(q->more);
    if (q->job) {
        /* the job may be reading and encoding right now: let it finish, then free below
         * what it borrowed (the caller may free the remote config once we return) */
        fill_job_quiesce(q->job);
        q->job->q = NULL;
    }
    if (q->gext) {
        pg_labels_reset(q->gext);
        free(q->gext);
    }
    pg_buf_reader_close(q->rd);
    if (q->inst)
        q->type->destroy(q->inst);
    free(q);
}

void pg_sink_queue_status(struct pg_sink_queue *q, struct pg_sink_queue_status *st)
{
    memset(st, 0, sizeof(*st));
    st->name = q->cfg->name;
    st->url = q->cfg->url;
    st->api = q->type->name;
    st->pending = -1;
    int64_t cursor = 0;
    if (pg_buf_cursor(q->buf, q->cfg->name, &cursor) == 0) {
        st->pending = pg_buf_count_after(q->buf, cursor);
        if (pg_buf_oldest_after(q->buf, cursor, &st->oldest_unsent_ms) < 0)
            st->oldest_unsent_ms = 0;
    }
    int64_t now = pg_clock_unix_ms();
    for (size_t i = 0; i < q->n_win; i++) {
        const struct batch *b = q->win[i];
        st->in_flight += b->handle != NULL;
        if (b->state == BATCH_BACKOFF && b->retry_at_ms - now > st->backoff_ms) {
            st->backoff_ms = b->retry_at_ms - now;
            st->attempt = b->attempt;
        }
    }
    st->sent = q->n_sent;
    st->sent_bytes = q->n_bytes;
    st->failed = q->n_failed;
    st->retried = q->n_retried;
    st->dropped = q->n_dropped;
    st->last_error = q->last_error;
    st->last_error_status = q->last_error_status;
    st->last_error_ms = q->last_error_ms;
    st->last_success_ms = q->last_success_ms;
}
