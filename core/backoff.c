/* backoff.c - exponential backoff with jitter for retries (remote_write, discovery).
 *
 * The delay doubles from min_ms per attempt up to max_ms and is then spread uniformly over
 * [d/2, d] with a xorshift64* PRNG whose state the caller keeps, so that many retriers
 * drift apart. A Retry-After from the server raises the result to at least that long, but
 * never past max_ms. Pure arithmetic: no clock, no allocation. */
#include "core/backoff.h"

uint64_t pg_backoff_rand(uint64_t *state)
{
    uint64_t x = *state;
    if (x == 0)
        x = 0x9E3779B97F4A7C15ull; /* a zero state would stay zero forever */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int64_t pg_backoff_delay(int64_t min_ms, int64_t max_ms, unsigned attempt, int64_t retry_after_ms,
                         uint64_t *rng)
{
    if (min_ms < 0)
        min_ms = 0;
    if (max_ms < min_ms)
        max_ms = min_ms;
    if (attempt < 1)
        attempt = 1;
    int64_t d = min_ms;
    for (unsigned i = 1; i < attempt && d > 0 && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    /* uniform in [d - d/2, d] */
    int64_t span = d / 2;
    if (span > 0)
        d -= (int64_t)(pg_backoff_rand(rng) % (uint64_t)(span + 1));
    if (retry_after_ms >= 0 && d < retry_after_ms)
        d = retry_after_ms < max_ms ? retry_after_ms : max_ms;
    return d;
}
