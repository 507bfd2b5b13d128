/* backoff.h - exponential backoff with jitter for retries (remote_write, discovery).
 *
 * Delay for retry number attempt (1-based) is min_ms * 2^(attempt-1), capped at max_ms,
 * then jittered uniformly into [d/2, d] so that many retriers do not synchronise. A
 * server's Retry-After, when given, is a floor: the delay is never shorter than it, but
 * is still capped at max_ms. */
#ifndef PG_CORE_BACKOFF_H
#define PG_CORE_BACKOFF_H

#include <stdint.h>

/* Returns the delay in ms before retry attempt (>= 1). rng is the caller's PRNG state
 * (any non-zero seed; updated). retry_after_ms < 0 means "no Retry-After". Cannot fail. */
int64_t pg_backoff_delay(int64_t min_ms, int64_t max_ms, unsigned attempt, int64_t retry_after_ms,
                         uint64_t *rng);

/* Returns the next value of a xorshift64* PRNG, updating *state (non-zero). */
uint64_t pg_backoff_rand(uint64_t *state);

#endif
