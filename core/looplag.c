/* looplag.c - event loop lag histogram (see looplag.h). Uses CLOCK_MONOTONIC read at the
 * callback, not libevent's cached time, so the lag includes the callbacks that ran before. */
#include "core/looplag.h"

#include <event2/event.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

struct pg_looplag {
    struct event *ev;
    int64_t interval_ns;
    int64_t due_ns; /* monotonic */
    struct pg_metric *hist;
};

static const double lag_buckets[] = {.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};

static int arm(struct pg_looplag *l)
{
    /* libevent schedules from its cached time (this iteration's start): refresh it, or a
     * tick armed after a slow callback would fire early and hide the lag */
    event_base_update_cache_time(event_get_base(l->ev));
    l->due_ns = pg_clock_mono_ns() + l->interval_ns;
    struct timeval tv = {.tv_sec = (time_t)(l->interval_ns / 1000000000),
                         .tv_usec = (suseconds_t)((l->interval_ns % 1000000000) / 1000)};
    return evtimer_add(l->ev, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_looplag *l = arg;
    int64_t late = pg_clock_mono_ns() - l->due_ns;
    pg_metric_observe(l->hist, NULL, late > 0 ? (double)late / 1e9 : 0);
    if (arm(l) != 0)
        pg_log_error("app", "msg=\"cannot re-arm the loop lag timer\"");
}

struct pg_looplag *pg_looplag_new(struct event_base *base, int64_t interval_ms)
{
    struct pg_looplag *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->interval_ns = (interval_ms > 0 ? interval_ms : 250) * 1000000;
    l->hist = pg_metric_register(PG_METRIC_HISTOGRAM, "profgate_event_loop_lag_seconds",
                                 "How late the event loop ran a timer due every 250 ms.", NULL,
                                 lag_buckets, sizeof(lag_buckets) / sizeof(lag_buckets[0]));
    l->ev = evtimer_new(base, on_tick, l);
    if (l->ev == NULL || arm(l) != 0) {
        pg_looplag_free(l);
        return NULL;
    }
    return l;
}

void pg_looplag_free(struct pg_looplag *l)
{
    if (l == NULL)
        return;
    if (l->ev)
        event_free(l->ev);
    free(l);
}
