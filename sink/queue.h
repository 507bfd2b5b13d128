/* queue.h - one forwarding queue per backend: buffer cursor -> encode -> send -> ack.
 *
 * A queue reads the rows after what it has already taken from the buffer (starting at the
 * backend's durable cursor), encodes them into requests with its backend, and keeps up to
 * `concurrency` requests in flight. Completed batches are acknowledged to the buffer
 * strictly in id order, so the durable cursor never passes a profile that is not
 * delivered (a restart resends at most the in-flight window: at-least-once delivery).
 *
 * RETRY waits min_backoff * 2^(attempt-1), jittered, raised to the server's Retry-After,
 * and capped at max_backoff (so max_backoff bounds every wait), and resends the same request; after
 * max_retries retries (0 = forever) the batch is dropped. ERROR drops the batch at once and logs
 * the server's message. Dropped profiles are counted and acknowledged (the cursor moves on). A
 * queue never blocks the loop or other queues: a dead backend only grows its own backlog (bounded
 * by the buffer's max_size / max_age eviction).
 *
 * Metrics, label {remote}: profgate_remote_write_profiles_total (delivered),
 * profgate_remote_write_bytes_total (request bytes delivered),
 * profgate_remote_write_failed_profiles_total (profiles in failed attempts),
 * profgate_remote_write_retried_profiles_total, profgate_remote_write_dropped_profiles_total,
 * profgate_remote_write_request_duration_seconds (histogram), and gauges
 * profgate_remote_write_pending_profiles (rows not yet acknowledged) and
 * profgate_remote_write_in_flight_requests. */
#ifndef PG_SINK_QUEUE_H
#define PG_SINK_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/curlm.h"
#include "core/labels.h"
#include "sink/buffer.h"

struct event_base;
struct pg_sink_queue;

/* Creates the queue for backend cfg (borrowed; must outlive the queue; cfg->name is the
 * buffer cursor name, so buf must have been opened with it), with the global external
 * labels (copied), on base and cm (borrowed), reading buf (borrowed). Starts sending
 * what is already buffered. Returns NULL with a reason in err on failure. */
struct pg_sink_queue *pg_sink_queue_create(struct event_base *base, struct pg_curlm *cm,
                                           struct pg_buf *buf, const struct pg_cfg_remote *cfg,
                                           const struct pg_labels *global_external, char *err,
                                           size_t errlen);

/* As pg_sink_queue_create, but with the backend type given (borrowed, static) instead of
 * looked up from cfg->api: lets tests inject a fake backend. */
struct pg_sink_backend_type;
struct pg_sink_queue *pg_sink_queue_create_type(struct event_base *base, struct pg_curlm *cm,
                                                struct pg_buf *buf, const struct pg_cfg_remote *cfg,
                                                const struct pg_labels *global_external,
                                                const struct pg_sink_backend_type *type, char *err,
                                                size_t errlen);

/* Tells the queue new rows were flushed to the buffer: it sends now if it has a free
 * slot and is not backing off. Cheap; call after every pg_buf_flush. */
void pg_sink_queue_kick(struct pg_sink_queue *q);

/* Reads and encodes the next batches on wq's workers (borrowed; it must outlive the
 * queue's use of it) instead of the loop, through a SQLite reader of the queue's own.
 * wq NULL goes back to the loop (a fill job in flight still completes through the old
 * pool). Returns 0, or -1 when the reader cannot be opened (the queue is unchanged). */
struct pg_workq;
int pg_sink_queue_use_workq(struct pg_sink_queue *q, struct pg_workq *wq);

/* Returns 1 when nothing is in flight and nothing unsent is buffered for this backend. */
int pg_sink_queue_idle(const struct pg_sink_queue *q);

/* A queue's state for the web UI's backends page (/api/v1/backends). Strings are borrowed
 * from the queue until its next event-loop callback. Counters are since the queue started
 * (a reload that changes storage or remote_write starts new queues). */
struct pg_sink_queue_status {
    const char *name, *url, *api; /* url as configured (may hold credentials: redact) */
    int64_t pending;              /* rows after the durable cursor (-1: unknown) */
    int64_t oldest_unsent_ms;     /* created_ms of the oldest of them, 0 when none */
    size_t in_flight;             /* requests being sent */
    int64_t backoff_ms;           /* longest remaining backoff of a batch, 0 when none */
    unsigned attempt;             /* that batch's failed attempts */
    uint64_t sent, sent_bytes, failed, retried, dropped; /* profiles (bytes: delivered) */
    const char *last_error;                 /* the last failed attempt's message, "" when none */
    long last_error_status;                 /* its HTTP status (0: no response) */
    int64_t last_error_ms, last_success_ms; /* unix ms, 0 never */
};

/* Fills st with q's state (two small SQLite queries on the buffer). Loop thread. */
void pg_sink_queue_status(struct pg_sink_queue *q, struct pg_sink_queue_status *st);

/* Cancels in-flight requests (their batches stay unacknowledged, so they are resent
 * after a restart) and frees q. Accepts NULL. */
void pg_sink_queue_destroy(struct pg_sink_queue *q);

#endif
