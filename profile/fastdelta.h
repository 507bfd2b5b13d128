/* fastdelta.h - streaming client-side delta of cumulative pprof profiles on the wire format.
 *
 * The manner of Datadog's fastdelta (dd-trace-go profiler/internal/fastdelta): instead of
 * decoding the profile into a protobuf-c object graph, a few passes over the encoded bytes
 * (profile/wire.h) index the profile and hash every function, mapping and location once by
 * CONTENT (location address, mapping file/build id, lines' function name, system name,
 * filename and line: ids may be renumbered between scrapes). A sample's key is XXH3 of its
 * location hashes in order, seeded with an order-independent sum of its label hashes.
 *
 * For the sample types to delta, each key's values become current - previous (samples with
 * the same key are summed; the first of them carries the key's delta, the others 0); a
 * key whose value went down gets 0 (Go scales heap samples by their average size, so one
 * stack's alloc_objects may shrink; Alloy clamps the same way). Only
 * samples with a non-zero value after the delta are written (a heap sample whose inuse
 * values are non-zero is kept); locations, functions and mappings no sample uses are
 * dropped, and strings nothing references any more are written as "" (indexes are kept, so
 * kept messages are copied byte for byte). Other top-level fields are copied unchanged.
 *
 * State kept per target between scrapes: one open-addressing table (linear probing, index
 * by fastrange (h * cap) >> 64, key 0 = empty) of 8-byte keys and 8 bytes per delta'd type,
 * rebuilt from each profile with cap = n + n/4 + 1 for n samples (load <= 0.8): for 2
 * delta'd types 24 * 1.25 = 30 bytes per distinct stack (measured 30.0 on the generator's
 * 3000-stack heap profile, see tests/bench/bench_profile.c), plus a 48-byte header. All
 * per-scrape scratch (index, keys, values, flags) lives in a per-thread buffer
 * (pg_pprof_index_thread), not in the state, so 600 targets do not each keep a profile's
 * worth of scratch. A 64-bit key collision would merge two stacks' values (probability
 * < 1e-11 per scrape at 10^4 stacks).
 *
 * Cost (tests/bench/bench_profile.c, generator's heap profile: 244 KB gzip, 556 KB decoded,
 * 3000 stacks, 4 sample types, 2 delta'd; 2-core machine shared with other builds, load ~6):
 * median 1.3 ms CPU per scrape (1.5 ms before the cheaper wire reading, docs/performance.md),
 * versus 17 ms for protobuf-c unpack + validate + the reference delta (tests/ref/delta_ref.h)
 * + pack in the same run. Callers
 * that run pg_fastdelta_apply need not run pg_pprof_wire_check first (use pg_pprof_unwrap).
 *
 * Not thread-safe per state; different states may be used from different threads
 * concurrently. */
#ifndef PG_FASTDELTA_H
#define PG_FASTDELTA_H

#include <stddef.h>
#include <stdint.h>

struct pg_fastdelta;

/* Creates an unprimed state, or NULL when out of memory. */
struct pg_fastdelta *pg_fastdelta_new(void);

/* Frees a state. Accepts NULL. */
void pg_fastdelta_free(struct pg_fastdelta *d);

/* Bytes kept between scrapes (header + table). */
size_t pg_fastdelta_state_bytes(const struct pg_fastdelta *d);

struct pg_fastdelta_result {
    uint8_t *out;       /* new uncompressed pprof (caller frees), NULL when primed or reset */
    size_t len;         /* bytes in out */
    int primed;         /* 1: first call (or other delta'd types than before): baseline only */
    int reset;          /* 1: the profile's total of every delta'd type went down (process
                         * restart): the baseline restarts from this profile and nothing is
                         * emitted */
    size_t samples_in;  /* samples in pb */
    size_t samples_out; /* samples written to out */
};

/* Deltas the sample types named types[0..n_types) (n_types == 0: every sample type) of the
 * uncompressed pprof pb[0..len) against the previous call and makes pb's cumulative values
 * the new baseline (covering exactly pb's stacks). pb is fully checked with the rules of
 * pg_pprof_wire_check, so unvalidated input fails safely. On the first call, or when the
 * delta'd types differ from the previous call, res->primed = 1 and nothing is emitted; on
 * a restart (every delta'd type's total went down) res->reset = 1 and nothing is emitted; otherwise
 * res->out is a valid pprof (protobuf-c and go tool pprof read it). Returns 0, or -1 with a reason
 * in err (a type not in the profile, more than 32 sample types, malformed input, out of memory);
 * then the state is unchanged and res->out is NULL. */
int pg_fastdelta_apply(struct pg_fastdelta *d, const uint8_t *pb, size_t len,
                       const char *const *types, size_t n_types, struct pg_fastdelta_result *res,
                       char *err, size_t errlen);

#endif
