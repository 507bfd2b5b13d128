/* workq.h - a pool of worker threads for CPU work, with results delivered on the event loop.
 *
 * The libevent loop thread does I/O and timers only; CPU-heavy work (inflate, validate,
 * delta, encode, compress) runs here. A job is an opaque pointer plus two functions:
 * work(job) runs on a worker thread, then done(job, status) runs on the loop thread (the
 * thread that runs base's dispatch). Completed jobs go onto a mutex-protected list and an
 * eventfd registered on base wakes the loop, whose callback drains the list and calls done
 * for each. Workers never call libevent.
 *
 * The queue is bounded: pg_workq_submit returns -1 instead of queueing more than
 * queue_cap jobs waiting for a worker (the caller sheds the work). At most queue_cap
 * waiting + n_workers running jobs exist at once, plus completed ones the loop has not
 * drained yet.
 *
 * Ownership: the job belongs to the queue from a successful submit until done is called;
 * done is called exactly once per accepted job and must free (or hand on) the job. work
 * must touch only the job (and thread-safe code): no loop state, no metrics.
 *
 * Priority: each worker lowers its own scheduling priority by PG_WORKQ_NICE (nice is per
 * thread on Linux). When the workers keep every core busy, the loop thread, at the
 * process's own priority, still runs as soon as it wakes: measured at 600 big targets on
 * 2 cores, its time waiting for a CPU fell from 5.8 s to 1.7 s per 15 s (docs/performance.md).
 *
 * Metrics (core/metrics.h, read by a collector at render time): gauges
 * profgate_processing_queue_length (jobs waiting for a worker) and
 * profgate_processing_workers, counter profgate_processing_busy_seconds_total (time the
 * workers spent in work functions). */
#ifndef PG_CORE_WORKQ_H
#define PG_CORE_WORKQ_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pg_workq;

/* How much lower than the process's nice value the workers run. */
#define PG_WORKQ_NICE 10

/* How a job ended, as passed to done. */
enum pg_workq_status {
    PG_WORKQ_DONE = 0,      /* work(job) ran */
    PG_WORKQ_CANCELLED = 1, /* the queue was freed before a worker took the job: work did
                               not run */
    PG_WORKQ_EVICTED = 2    /* a submit with a higher priority took the job's place in a
                               full queue: work did not run */
};

typedef void (*pg_workq_work_fn)(void *job);                              /* worker thread */
typedef void (*pg_workq_done_fn)(void *job, enum pg_workq_status status); /* loop thread */

/* Starts n_workers threads (0 = one per online CPU; capped at 256) and registers the
 * completion event on base (borrowed; must outlive the queue). queue_cap is the number of
 * jobs that may wait for a worker (0 is taken as 1). Returns NULL on failure (no thread
 * left running). Call from the loop thread. */
struct pg_workq *pg_workq_new(struct event_base *base, int n_workers, size_t queue_cap);

/* Queues job ahead of every waiting job, outside queue_cap and never evicted: for work
 * whose submitter bounds it itself (a forwarding queue has at most one job in flight) and
 * that must not be shed behind the scrapes. Loop thread only. Returns 0, or -1 on OOM or
 * while the pool stops (job untouched). */
int pg_workq_submit_urgent(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done,
                           void *job);

/* Queues job for work then done. Loop thread only. Returns 0 (the queue owns job until
 * done), or -1 when queue_cap jobs already wait or memory ran out (job untouched: the
 * caller still owns it and sheds the work). */
int pg_workq_submit(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done, void *job);

/* As pg_workq_submit with a priority (pg_workq_submit uses 0). When the queue is full, the
 * waiting job with the lowest priority, if it is lower than prio, is taken out (the
 * latest submitted of equals) and its done is called with PG_WORKQ_EVICTED before this
 * returns 0; otherwise -1. Submitters use it for fairness under overload: a submitter
 * shed many times in a row passes ahead of one that was not. */
int pg_workq_submit_prio(struct pg_workq *q, pg_workq_work_fn work, pg_workq_done_fn done,
                         void *job, unsigned prio);

/* Returns 1 when a submit with priority prio would be accepted now (the queue has room,
 * or holds a waiting job of lower priority), else 0. */
int pg_workq_would_accept(struct pg_workq *q, unsigned prio);

/* Jobs waiting for a worker (not counting running or completed ones). */
size_t pg_workq_depth(struct pg_workq *q);
/* The queue_cap the queue was created with. */
size_t pg_workq_capacity(const struct pg_workq *q);
/* Number of worker threads. */
int pg_workq_workers(const struct pg_workq *q);

/* Waits (on the loop thread, blocking it) until no job is waiting or running, at most
 * timeout_ms, then calls done (PG_WORKQ_DONE) for every finished job. For shutdown: the
 * work already accepted reaches its submitter instead of being dropped. Returns 0 when
 * the queue was idle, -1 when the timeout came first (finished jobs are still
 * delivered; the rest stay queued). */
int pg_workq_drain(struct pg_workq *q, int64_t timeout_ms);

/* Stops the workers (a running work call is finished first; jobs still waiting are not
 * started), then calls done on the calling (loop) thread for every job not yet delivered:
 * PG_WORKQ_DONE for jobs whose work ran, PG_WORKQ_CANCELLED for the rest. So whatever
 * done touches must still be alive: free or detach the submitters' state first (the
 * scraper orphans its jobs when its loops are freed). Accepts NULL. */
void pg_workq_free(struct pg_workq *q);

#endif
