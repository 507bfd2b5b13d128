/* clock.h - the daemon's two clocks in one place.
 *
 * Wall time (pg_clock_unix_*: CLOCK_REALTIME since the Unix epoch) is for timestamps that
 * leave the process or outlive it: profile time ranges, stored rows, metric values,
 * scrape schedules aligned to the wall clock. Monotonic time (pg_clock_mono_*:
 * CLOCK_MONOTONIC) is for durations and deadlines, which must not jump when the wall
 * clock is set. Header-only (inline), no state. */
#ifndef PG_CORE_CLOCK_H
#define PG_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t pg_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t pg_clock_unix_ns(void)
{
    return pg_clock_ns(CLOCK_REALTIME);
}

static inline int64_t pg_clock_unix_ms(void)
{
    return pg_clock_unix_ns() / 1000000;
}

static inline int64_t pg_clock_mono_ns(void)
{
    return pg_clock_ns(CLOCK_MONOTONIC);
}

static inline int64_t pg_clock_mono_ms(void)
{
    return pg_clock_mono_ns() / 1000000;
}

/* Seconds since start_ns, a pg_clock_mono_ns reading (durations in metrics). */
static inline double pg_clock_mono_since_s(int64_t start_ns)
{
    return (double)(pg_clock_mono_ns() - start_ns) / 1e9;
}

#endif
