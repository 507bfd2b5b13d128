/* walckpt.h - checkpoints the buffer's SQLite write-ahead log on a thread of its own, so
 * the event loop never waits for it.
 *
 * In WAL mode a commit only appends pages to dir/buffer.db-wal; a checkpoint copies them
 * into the database file and fsyncs both files. By default SQLite runs one inside the
 * commit that takes the WAL past 1000 pages (4 MB: about every 18 heap profiles of
 * 220 KB), so on the event loop every such commit stalled everything else for the copy
 * and two fsyncs (bench_receiver.py: loop lag p99 35-43 ms with it, 9-16 ms without).
 *
 * The buffer turns its connection's wal_autocheckpoint off and starts this thread, which
 * opens its own connection to the same file and runs PASSIVE checkpoints: they never wait
 * for, nor block, the writer or the readers. It runs one when kicked (after each commit)
 * and at least once a second, but at most one per 100 ms (each costs two fsyncs). The writer starts
 * the WAL over from its beginning at its next transaction once a checkpoint has copied all of it,
 * so the WAL stays about one commit batch long while the thread keeps up.
 *
 * A failed checkpoint (full disk, I/O error) loses nothing: the pages stay in the WAL and
 * the next checkpoint retries. Failures are counted and the last error kept for the
 * caller to log. The thread touches nothing but its own connection and this state. */
#ifndef PG_SINK_WALCKPT_H
#define PG_SINK_WALCKPT_H

#include <stddef.h>
#include <stdint.h>

struct pg_walckpt;

/* Opens a connection to the SQLite database at path (which must exist, in WAL mode) and
 * starts the thread. Returns NULL with a reason in err when either fails (the caller then
 * keeps SQLite's automatic checkpoints). */
struct pg_walckpt *pg_walckpt_start(const char *path, char *err, size_t errlen);

/* Asks for a checkpoint soon (cheap: a signal; calls while one is pending coalesce). */
void pg_walckpt_kick(struct pg_walckpt *c);

struct pg_walckpt_stats {
    uint64_t checkpoints; /* checkpoints run */
    uint64_t errors;      /* checkpoints that failed */
    char last_error[160]; /* the last failure's message, "" when none */
};

/* Copies the counters. */
void pg_walckpt_stats(struct pg_walckpt *c, struct pg_walckpt_stats *out);

/* Stops and joins the thread (a running checkpoint finishes first) and closes its
 * connection. Accepts NULL. */
void pg_walckpt_stop(struct pg_walckpt *c);

#endif
