/* writer.c - the sink writer (see writer.h): the pending-batch bookkeeping, the commit
 * timer, the request savepoint and the loss accounting in front of one struct pg_buf.
 * The writer owns its timer and counters; the buffer is borrowed. */
#include "sink/writer.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/metrics.h"
#include "sink/buffer.h"

/* one summary line per this many seconds while profiles keep being lost */
#define PG_SINK_WRITER_LOG_S 10

struct pg_sink_writer {
    struct pg_buf *buf;
    struct event *timer;
    pg_sink_writer_committed_fn committed;
    void *ud;
    size_t pending;        /* appends since the last commit (request's included) */
    size_t req_appends;    /* appends of the open request */
    int in_request;        /* a request is open */
    size_t lost_unlogged;  /* profiles lost since the last error line */
    int64_t lost_logged_s; /* when that line was written (unix s) */
    uint64_t lost_seen;    /* the buffer's stats.lost already counted */
    struct pg_metric *m_dropped;
    uint64_t dropped_commit, dropped_error; /* the counter's two reasons, for the web UI */
};

/* Logs lost profiles (a full disk fails every append and commit): the first loss at
 * once, then one summary line per PG_SINK_WRITER_LOG_S. */
static void log_loss(struct pg_sink_writer *w, size_t n)
{
    w->lost_unlogged += n;
    int64_t now = (int64_t)time(NULL);
    if (now - w->lost_logged_s < PG_SINK_WRITER_LOG_S)
        return;
    pg_log_error("buffer",
                 "msg=\"could not store profiles (disk full or SQLite error); profiles lost\" "
                 "profiles=%zu",
                 w->lost_unlogged);
    w->lost_unlogged = 0;
    w->lost_logged_s = now;
}

static void count_dropped(struct pg_sink_writer *w, const char *reason, size_t n)
{
    const char *lv[] = {reason};
    pg_metric_inc(w->m_dropped, lv, (double)n);
    if (!strcmp(reason, "commit_failed"))
        w->dropped_commit += n;
    else
        w->dropped_error += n;
    log_loss(w, n);
}

void pg_sink_writer_dropped(const struct pg_sink_writer *w, uint64_t *commit_failed,
                            uint64_t *buffer_error)
{
    *commit_failed = w->dropped_commit;
    *buffer_error = w->dropped_error;
}

void pg_sink_writer_account(struct pg_sink_writer *w)
{
    if (!w->buf)
        return;
    struct pg_buf_stats st;
    pg_buf_stats(w->buf, &st);
    if (st.lost <= w->lost_seen)
        return;
    count_dropped(w, "commit_failed", (size_t)(st.lost - w->lost_seen));
    w->lost_seen = st.lost;
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    pg_sink_writer_commit(ud);
}

/* Adopts buf (borrowed): losses are counted from its current total on. */
static void adopt(struct pg_sink_writer *w, struct pg_buf *buf)
{
    w->buf = buf;
    w->lost_seen = 0;
    if (buf) {
        struct pg_buf_stats st;
        pg_buf_stats(buf, &st);
        w->lost_seen = st.lost;
    }
}

struct pg_sink_writer *pg_sink_writer_create(struct event_base *base, struct pg_buf *buf,
                                             int flush_ms, pg_sink_writer_committed_fn committed,
                                             void *ud)
{
    struct pg_sink_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->committed = committed;
    w->ud = ud;
    w->m_dropped =
        pg_metric_counter("profgate_buffer_dropped_profiles_total",
                          "Profiles lost before reaching the buffer, by reason.", "reason");
    struct timeval tv = {flush_ms / 1000, (flush_ms % 1000) * 1000};
    w->timer = event_new(base, -1, EV_PERSIST, on_timer, w);
    if (!w->timer || event_add(w->timer, &tv) < 0) {
        pg_sink_writer_destroy(w);
        return NULL;
    }
    adopt(w, buf);
    return w;
}

void pg_sink_writer_destroy(struct pg_sink_writer *w)
{
    if (!w)
        return;
    pg_sink_writer_set_buffer(w, NULL);
    if (w->timer)
        event_free(w->timer);
    free(w);
}

void pg_sink_writer_set_buffer(struct pg_sink_writer *w, struct pg_buf *buf)
{
    if (w->in_request)
        pg_sink_writer_end_request(w, 0);
    pg_sink_writer_commit(w);
    pg_sink_writer_account(w);
    w->pending = 0; /* what could not be committed is lost with the old buffer */
    adopt(w, buf);
}

struct pg_buf *pg_sink_writer_buffer(struct pg_sink_writer *w)
{
    return w->buf;
}

int pg_sink_writer_append(struct pg_sink_writer *w, const struct pg_labels *labels,
                          const char *name, int64_t from_ns, int64_t until_ns, const char *tenant,
                          const uint8_t *body, size_t len)
{
    if (!w->buf || pg_buf_append(w->buf, labels, name, from_ns, until_ns, tenant, body, len) < 0) {
        if (!w->in_request)
            count_dropped(w, "buffer_error", 1);
        return -1;
    }
    w->pending++;
    if (w->in_request)
        w->req_appends++;
    return 0;
}

int pg_sink_writer_commit(struct pg_sink_writer *w)
{
    if (!w->buf || w->in_request)
        return -1;
    if (!w->pending)
        return 0;
    w->pending = 0;
    int rc = pg_buf_flush(w->buf);
    pg_sink_writer_account(w);
    if (rc < 0)
        return -1;
    if (w->committed)
        w->committed(w->ud);
    return 0;
}

int pg_sink_writer_begin_request(struct pg_sink_writer *w)
{
    if (!w->buf || w->in_request || pg_buf_request_begin(w->buf) < 0)
        return -1;
    w->in_request = 1;
    w->req_appends = 0;
    return 0;
}

int pg_sink_writer_end_request(struct pg_sink_writer *w, int keep)
{
    if (!w->in_request)
        return -1;
    w->in_request = 0;
    int rc = pg_buf_request_end(w->buf, keep);
    if (rc < 0 || !keep)
        w->pending -= w->req_appends < w->pending ? w->req_appends : w->pending;
    w->req_appends = 0;
    pg_sink_writer_account(w);
    return rc;
}
