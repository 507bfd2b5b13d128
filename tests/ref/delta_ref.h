/* delta_ref.h - the reference client-side delta on protobuf-c object graphs: a test
 * oracle and the "before" of tests/bench/bench_profile, not part of the daemon (which uses
 * the streaming profile/fastdelta.h). It was profgate's delta until the streaming one
 * replaced it; tests check that both give the same deltas.
 *
 * Go's allocs (alloc_objects, alloc_space), block and mutex (contentions, delay) profiles
 * are cumulative since process start. Like Grafana Alloy's pyroscope.scrape, profgate turns
 * them into per-interval profiles before sending: for each sample it keeps the cumulative
 * values seen at the previous scrape and replaces the current values with the difference.
 * One struct pg_delta holds that baseline for one (target x profile type). A sample is
 * identified by a 64-bit hash of its stack resolved to stable content (function name,
 * filename and line of every frame, so location/function ids may be renumbered between
 * scrapes) plus its labels (order-independent). Only the hash and the cumulative values
 * of the delta-ed sample types are kept: see pg_delta_apply for the memory bound. */
#ifndef PG_TESTS_DELTA_REF_H
#define PG_TESTS_DELTA_REF_H

#include <stddef.h>
#include <stdint.h>

#include "profile.pb-c.h"

struct pg_delta;

/* Creates an empty (unprimed) delta state. Returns NULL when out of memory. The caller
 * owns the state and frees it with pg_delta_destroy. */
struct pg_delta *pg_delta_create(void);

/* Frees a delta state and its baseline. Accepts NULL. */
void pg_delta_destroy(struct pg_delta *d);

/* Turns the cumulative values of the sample types named in delta_types[0..n_types) into
 * deltas against the previous call, in place, and makes p's cumulative values the new
 * baseline.
 *
 * - Each sample's value for a listed type becomes current - previous for the same key
 *   (previous missing = 0). A negative difference (counter reset, e.g. the target
 *   restarted, or a stack that disappeared and came back smaller) is clamped to 0, as
 *   Alloy does; the baseline still takes the new, smaller value. Samples with the same key
 *   are merged for the baseline: the first carries the key's whole delta, the others 0.
 * - Samples whose listed values are then all zero AND whose other values are zero too are
 *   removed from p (freed with protobuf-c, so p MUST come from protobuf-c unpacking, e.g.
 *   pg_pprof_check; it stays owned by the caller). Locations, functions and strings are
 *   left alone.
 * - On the first call (or when n_types differs from the previous call) nothing is
 *   changed in p, the baseline is stored and *primed_only is set to 1: the caller must not
 *   send this profile. Otherwise *primed_only is 0.
 *
 * Memory: the baseline is rebuilt from each profile, so it only covers the stacks of the
 * last profile. Per distinct sample of that profile it costs one table slot of
 * 8 + 8 * n_types bytes at a load factor between 1/4 and 1/2, i.e. at most
 * 4 * (8 + 8 * n_types) bytes (96 bytes for two delta types), plus a fixed header.
 * During the call about 9 bytes per sample (plus 8 per location and function when their
 * ids are not 1..n) are used temporarily and freed before returning.
 *
 * Returns 0, or -1 (p and the baseline unchanged) when a listed sample type is not in p,
 * an argument is NULL/empty or memory runs out. */
int pg_delta_apply(struct pg_delta *d, Perftools__Profiles__Profile *p,
                   const char *const *delta_types, size_t n_types, int *primed_only);

/* Packs p into a new protobuf buffer (not gzipped); the caller frees *out with free().
 * Returns 0, or -1 (nothing allocated) when out of memory or an argument is NULL. */
int pg_delta_encode(const Perftools__Profiles__Profile *p, uint8_t **out, size_t *len);

#endif
