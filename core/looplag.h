/* looplag.h - measures how late the event loop runs its timers.
 *
 * A one-shot timer re-armed every interval observes, each time it fires, how much later
 * than due it ran into the histogram profgate_event_loop_lag_seconds (buckets from 0.5 ms
 * to 1 s, fine enough to read a p99 below 10 ms). A loop busy with CPU work shows here
 * first; with the processing workers (core/workq.h) it should stay near zero. */
#ifndef PG_CORE_LOOPLAG_H
#define PG_CORE_LOOPLAG_H

#include <stdint.h>

struct event_base;
struct pg_looplag;

/* Starts measuring on base (borrowed) every interval_ms (0 = 250). Returns NULL on OOM. */
struct pg_looplag *pg_looplag_new(struct event_base *base, int64_t interval_ms);

/* Stops and frees. Accepts NULL. */
void pg_looplag_free(struct pg_looplag *l);

#endif
