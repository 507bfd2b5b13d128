/* folded.h - converting folded stacks ("a;b;c 42") into a pprof profile.
 *
 * Pushed profiles in Pyroscope's text formats (format=folded|groups: "frame;frame;... count"
 * per line, format=lines: one stack per line counting 1) become a raw pprof here, as
 * Pyroscope's ingest adapter (convertMetadata + tree.Pprof) builds it: one function and
 * location per distinct frame name, one sample per distinct stack, values scaled to
 * nanoseconds for CPU and wall profiles. The input is untrusted (the push receiver hands
 * it the request body), so the work is linear in its size and the memory it takes is
 * bounded by a budget proportional to it. The caller picks the profile type (the receiver
 * reads it from the legacy name suffix, daemon/ingest_parse.h pg_ingest_legacy_type). */
#ifndef PG_FOLDED_H
#define PG_FOLDED_H

#include <stddef.h>
#include <stdint.h>

/* The memory a folded-stacks conversion may allocate: ratio x the body + slack, as
 * pg_pprof_check bounds pprof decoding (a hostile-input cap, profgate's, not Pyroscope's). */
#define PG_FOLDED_BUDGET_RATIO 16
#define PG_FOLDED_BUDGET_SLACK ((size_t)1 << 20)

/* Converts folded stacks into a raw (uncompressed) pprof: lines "root;...;leaf count"
 * (lines_format 0) or "root;...;leaf" counting 1 each (lines_format 1). The sample type is
 * type/unit; for process_cpu and wall with sample_rate > 0 the values are scaled to
 * nanoseconds by the period 1e9/sample_rate (sample type cpu or wall, period type
 * cpu/nanoseconds), as Pyroscope does. time_nanos = from_ns, duration = until - from.
 * Identical stacks are merged into one sample (their counts summed). The work is linear in
 * len (hash tables for frames and stacks), and everything it allocates, the result
 * included, is bounded by PG_FOLDED_BUDGET_RATIO x len + PG_FOLDED_BUDGET_SLACK.
 * Returns 0 with *out (new buffer, caller frees) and *outlen; -1 with a reason in err (a
 * line that does not parse, no samples, overflow, out of memory); or -2 with a reason in
 * err when the conversion would exceed the budget (too many distinct frames/stacks for
 * the body's size). */
int pg_folded_to_pprof(const uint8_t *body, size_t len, int lines_format, const char *metric,
                       const char *type, const char *unit, uint32_t sample_rate, int64_t from_ns,
                       int64_t until_ns, uint8_t **out, size_t *outlen, char *err, size_t errlen);

#endif
