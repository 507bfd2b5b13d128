/* buffer.h - the durable profile buffer between producers (scraper, receiver) and the
 * sink backends.
 *
 * Profiles are appended to a SQLite database (dir/buffer.db, WAL mode) and read back
 * by each backend through its own cursor, so a slow or broken backend never holds back
 * the others and a restart resumes where each one stopped. A row is deleted once every
 * backend named at open has acknowledged it, or when eviction (total size over
 * max_size, or older than max_age_ms) removes it to bound the disk used.
 *
 * Durability: pg_buf_append only queues the row in an open transaction (appends are
 * batched). It is durable only after pg_buf_flush returns 0; the caller flushes on a
 * short timer and before acknowledging a profile to anyone. With WAL and
 * synchronous=NORMAL a flushed row survives a process crash (not necessarily a power
 * loss). pg_buf_read and pg_buf_close flush pending appends first; pg_buf_read_after
 * does not, and sees only rows of committed batches. An acknowledgement joins the pending
 * batch (durable at its commit; at once when no batch is open), so a busy buffer commits
 * once per flush, not once per ack or read. WAL checkpoints run on a thread of the
 * buffer's own (sink/walckpt.h), not in the commits.
 *
 * Layout: a new database has 64 KiB pages and the body as the last column (a 220 KB
 * profile is 4 overflow pages, not 55, and the columns before the body are read without
 * walking them); a database created before keeps its page size and column order.
 *
 * Requests: pg_buf_request_begin opens a savepoint inside the current batch;
 * pg_buf_request_end releases it (the request's rows stay in the batch) or rolls back to
 * it (every row appended since begin is gone; earlier rows of the batch stay). So a
 * producer that appends several profiles for one client request stores all or none.
 *
 * Exclusive use: pg_buf_open takes an advisory lock (flock) on dir/lock, holding our pid,
 * until pg_buf_close; a second open of the same dir (another process, or another open in
 * this one) fails with "storage.path <dir> is in use by another profgate (pid N; lock file
 * <dir>/lock)".
 *
 * Lock contention (an outside tool holding the database): each SQLite call waits up to
 * 1 s for the lock, and BEGIN/COMMIT are retried 3 more times on SQLITE_BUSY/LOCKED
 * before an append fails or a batch is rolled back and lost (counted). The wait blocks
 * the calling thread.
 *
 * Labels are stored in the labels column as a reversible text encoding: for each pair
 * in sorted order, "<decimal byte length of name>:<name><decimal byte length of
 * value>:<value>", concatenated with no separator (e.g. {job="a b"} is "3:job3:a b").
 * Any bytes except NUL round-trip.
 *
 * A struct pg_buf is not thread-safe: use it from one thread (the event loop); another
 * thread reads through a struct pg_buf_reader. */
#ifndef PG_SINK_BUFFER_H
#define PG_SINK_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"

struct pg_buf;

struct pg_buf_item {
    int64_t id;
    struct pg_labels labels; /* owned */
    char *name;              /* owned, may be NULL */
    int64_t from_ns, until_ns;
    char *tenant;  /* owned, may be NULL */
    uint8_t *body; /* owned, never NULL (even when len is 0) */
    size_t len;
    /* set by a queue (sink/wrelabel.h), never stored: */
    int tenant_from_label; /* tenant came from a __tenant_id__ label: it overrides an
                              X-Scope-OrgID header of the backend's config */
    int labels_final;      /* labels are already what the backend sends (external labels
                              merged and write_relabel_configs applied) */
};

struct pg_buf_stats {
    uint64_t rows;              /* rows currently buffered (committed or pending) */
    uint64_t bytes;             /* sum of body sizes of those rows */
    uint64_t appended;          /* successful appends since open */
    uint64_t evicted;           /* rows removed by eviction since open */
    uint64_t errors;            /* SQLite errors since open */
    uint64_t lost;              /* appended rows lost since open because their batch was rolled
                                   back (a failed commit, e.g. a full disk) */
    int64_t oldest_ms;          /* created_ms (unix ms) of the oldest row, 0 when empty */
    uint64_t checkpoints;       /* WAL checkpoints run by the checkpoint thread */
    uint64_t checkpoint_errors; /* of those, the failed ones (nothing is lost: the WAL
                                   keeps the pages until one succeeds) */
    char checkpoint_error[160]; /* the last failure's message, "" when none */
};

/* Opens (creating dir and the database if needed) the buffer in dir. backends borrows
 * n_backends names (copied); each gets a cursor, and one without a stored cursor starts
 * at 0 so nothing buffered is skipped. max_size (bytes of bodies) and max_age_ms bound
 * the buffer; 0 means unlimited. Returns a buffer the caller frees with pg_buf_close,
 * or NULL with a message in err (errlen bytes, may be 0) on failure. */
struct pg_buf *pg_buf_open(const char *dir, const char *const *backends, size_t n_backends,
                           uint64_t max_size, int64_t max_age_ms, char *err, size_t errlen);

/* Rolls back an open request, flushes pending appends, frees b and releases the lock.
 * Accepts NULL. */
void pg_buf_close(struct pg_buf *b);

/* Queues one profile into the current batch (all arguments borrowed and copied; name
 * and tenant may be NULL, body may be NULL when len is 0). Not durable until
 * pg_buf_flush. Evicts the oldest rows when the buffer is then over max_size. Returns
 * 0, or -1 on a SQLite error (counted in stats.errors) or when len alone exceeds
 * max_size (such a profile can never be kept). */
int pg_buf_append(struct pg_buf *b, const struct pg_labels *labels, const char *name,
                  int64_t from_ns, int64_t until_ns, const char *tenant, const uint8_t *body,
                  size_t len);

/* Commits the pending batch (no-op when nothing is pending). Returns 0, or -1 on a
 * SQLite error (counted; the batch is then rolled back and lost), or -1 with nothing
 * lost while a request is open (end it first). */
int pg_buf_flush(struct pg_buf *b);

/* Starts a request: the appends until pg_buf_request_end are kept or dropped together.
 * Requests do not nest. Returns 0, or -1 on a SQLite error or when one is already open. */
int pg_buf_request_begin(struct pg_buf *b);

/* Ends the open request. keep != 0: its appends stay in the pending batch (durable at
 * the next pg_buf_flush); returns 0, or -1 when that failed and the request was rolled
 * back instead. keep == 0: its appends are undone (the rows, the counters and any
 * eviction they caused; the rest of the batch stays); returns 0, or -1 when only the
 * whole batch could be rolled back (the batch's other rows are then lost, counted).
 * Also -1 when no request is open (e.g. a failed append made SQLite roll back the whole
 * transaction: the request's rows are gone then too). */
int pg_buf_request_end(struct pg_buf *b, int keep);

/* Reads, in id order, the rows after backend's cursor: at most max_items rows and
 * max_bytes of bodies (0 = unlimited), but at least one row if any exists. On 0,
 * *items is a new array the caller frees with pg_buf_items_free (NULL when *n is 0).
 * Does not move the cursor. Returns -1 for an unknown backend or a SQLite error. */
int pg_buf_read(struct pg_buf *b, const char *backend, size_t max_items, size_t max_bytes,
                struct pg_buf_item **items, size_t *n);

/* As pg_buf_read, but reads the rows with id > after_id, whatever any cursor says (a
 * queue that keeps several requests in flight reads past its durable cursor), and only
 * rows of committed batches: it does not flush (pending appends become readable at the
 * next pg_buf_flush). Returns 0 or -1 on a SQLite error. */
int pg_buf_read_after(struct pg_buf *b, int64_t after_id, size_t max_items, size_t max_bytes,
                      struct pg_buf_item **items, size_t *n);

/* The highest id of a committed batch: the bound for pg_buf_reader_read. */
int64_t pg_buf_committed_max(const struct pg_buf *b);

/* Readers: a read-only use of the buffer from another thread, through a SQLite
 * connection of its own (WAL lets it read while the owner's thread writes; it sees
 * committed rows only). A reader is used by one thread at a time and may outlive its
 * buffer (closing it last is fine). pg_buf_reader_open returns NULL on failure. */
struct pg_buf_reader;
struct pg_buf_reader *pg_buf_reader_open(const struct pg_buf *b);

/* As pg_buf_read_after, for rows after_id < id <= bound (pg_buf_committed_max read on the
 * owner's thread when the read was decided). Returns 0 or -1 (SQLite error or OOM). */
int pg_buf_reader_read(struct pg_buf_reader *r, int64_t after_id, int64_t bound, size_t max_items,
                       size_t max_bytes, struct pg_buf_item **items, size_t *n);

/* Closes r. Accepts NULL. */
void pg_buf_reader_close(struct pg_buf_reader *r);

/* Stores backend's durable cursor (the last acknowledged id, 0 when none) in *last_id.
 * Returns 0, or -1 for an unknown backend. */
int pg_buf_cursor(struct pg_buf *b, const char *backend, int64_t *last_id);

/* Returns the number of rows (committed or pending) with id > after_id, or -1 on a
 * SQLite error (counted in stats.errors). */
int64_t pg_buf_count_after(struct pg_buf *b, int64_t after_id);

/* Stores in *created_ms the created_ms (unix ms) of the first row with id > after_id, 0 when
 * there is none. Returns 0, or -1 on a SQLite error (counted in stats.errors). */
int pg_buf_oldest_after(struct pg_buf *b, int64_t after_id, int64_t *created_ms);

/* Frees n items and the array. Accepts NULL. */
void pg_buf_items_free(struct pg_buf_item *items, size_t n);

/* Advances backend's cursor to last_id (never backwards) and deletes the rows every
 * backend has acknowledged, in the pending batch: durable at the next pg_buf_flush, or
 * at once when no batch was open. A batch that fails to commit takes its acks back
 * (the cursor returns to its last durable value; the rows are read and sent again).
 * Returns 0, or -1 for an unknown backend, while a request is open, or on a SQLite error
 * (the ack is undone; the pending batch stays unless SQLite rolled it back). */
int pg_buf_ack(struct pg_buf *b, const char *backend, int64_t last_id);

/* Deletes oldest rows while the buffer is over max_size or they are older than
 * max_age_ms. Returns the number of rows evicted (also added to stats.evicted), or -1
 * on a SQLite error. Part of the pending batch when one is open. */
int pg_buf_evict(struct pg_buf *b);

/* Fills out with the current counters. Cannot fail. */
void pg_buf_stats(struct pg_buf *b, struct pg_buf_stats *out);

#endif
