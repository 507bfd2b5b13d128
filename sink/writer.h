/* writer.h - the one way profiles enter the buffer: append, batching, commit and the
 * commit timer, shared by every producer (the scraper's sink and the push receiver).
 *
 * Appends go into the buffer's pending batch; a timer (flush_ms, 100 ms in the daemon)
 * commits it, so a scraped profile is durable within ~flush_ms. A producer that must
 * answer a client commits at once (pg_sink_writer_commit). After every successful commit
 * of a non-empty batch the writer calls committed(ud) (the daemon wakes its queues).
 *
 * Requests: pg_sink_writer_begin_request .. pg_sink_writer_end_request(keep) make the
 * appends in between all-or-nothing (a savepoint in the buffer's batch, see buffer.h).
 *
 * Losses: profiles the buffer lost to rolled-back batches (a failed commit, here or in a
 * queue's read/ack) and scraper profiles that could not be appended are counted in
 * profgate_buffer_dropped_profiles_total{reason="commit_failed"|"buffer_error"} and
 * logged (the first at once, then one summary line per 10 s). Failed appends inside a
 * request are not counted here: the producer answers the client and counts them.
 *
 * The writer borrows its buffer (the owner opens and closes it) and can be pointed at
 * another one when storage changes on reload. Event-loop thread only. */
#ifndef PG_SINK_WRITER_H
#define PG_SINK_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"

struct event_base;
struct pg_buf;
struct pg_sink_writer;

typedef void (*pg_sink_writer_committed_fn)(void *ud);

/* Creates a writer on base (borrowed) for buf (borrowed, may be NULL: every append then
 * fails) committing every flush_ms (> 0). committed may be NULL. Returns NULL on OOM. */
struct pg_sink_writer *pg_sink_writer_create(struct event_base *base, struct pg_buf *buf,
                                             int flush_ms, pg_sink_writer_committed_fn committed,
                                             void *ud);

/* Ends an open request (rolled back), commits the pending batch, stops the timer and
 * frees w (not the buffer). Accepts NULL. */
void pg_sink_writer_destroy(struct pg_sink_writer *w);

/* Commits the pending batch to the current buffer (as pg_sink_writer_commit) and then
 * writes to buf (borrowed, may be NULL) from now on. Call it before closing the old
 * buffer. */
void pg_sink_writer_set_buffer(struct pg_sink_writer *w, struct pg_buf *buf);

/* The current buffer (borrowed, may be NULL). */
struct pg_buf *pg_sink_writer_buffer(struct pg_sink_writer *w);

/* Queues one profile into the pending batch (arguments borrowed and copied; name and
 * tenant may be NULL). Not durable until the next commit. Returns 0, or -1 when there is
 * no buffer or the buffer refused it (outside a request: counted as buffer_error). */
int pg_sink_writer_append(struct pg_sink_writer *w, const struct pg_labels *labels,
                          const char *name, int64_t from_ns, int64_t until_ns, const char *tenant,
                          const uint8_t *body, size_t len);

/* Commits the pending batch now (no-op when empty) and calls committed. Returns 0 when
 * everything appended so far is durable, -1 when there is no buffer, a request is open,
 * or the commit failed (the batch is lost; counted and logged). */
int pg_sink_writer_commit(struct pg_sink_writer *w);

/* Starts a request (see above). Returns 0, or -1 (no buffer, SQLite error, or a request
 * is already open). */
int pg_sink_writer_begin_request(struct pg_sink_writer *w);

/* Ends the open request: keep != 0 keeps its appends in the pending batch, keep == 0
 * undoes them. Returns 0, or -1 when the request's appends are not in the batch (keep
 * failed, or SQLite had already rolled back), or when rolling back took the whole batch
 * with it (counted as commit_failed). */
int pg_sink_writer_end_request(struct pg_sink_writer *w, int keep);

/* Counts and logs the buffer's losses since the last call (also done after each
 * commit); the daemon calls it before rendering metrics. */
void pg_sink_writer_account(struct pg_sink_writer *w);

/* The profiles counted in profgate_buffer_dropped_profiles_total since the writer was
 * created, by reason. */
void pg_sink_writer_dropped(const struct pg_sink_writer *w, uint64_t *commit_failed,
                            uint64_t *buffer_error);

#endif
