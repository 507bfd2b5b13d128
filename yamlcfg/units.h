/*
 * yamlcfg/units.h - duration and byte-size parsing/formatting for profgate config.
 *
 * Durations follow Prometheus model.ParseDuration / model.Duration.String:
 * "0" alone, or one or more integer+unit pairs with units in descending order,
 * each at most once: y (365d), w, d, h, m, s, ms. Values are milliseconds.
 * Sizes follow Prometheus/kingpin units.Base2Bytes: an integer with an optional
 * unit B, KB, MB, GB, TB, PB, EB, KiB, MiB, GiB, TiB, PiB, EiB. As in
 * Prometheus, the "KB"-style units are base-2 (KB == KiB == 1024).
 */
#ifndef PG_YAMLCFG_UNITS_H
#define PG_YAMLCFG_UNITS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse a Prometheus duration string into milliseconds.
 * Returns 0 and stores *out_ms on success; returns -1 on failure, leaving
 * *out_ms untouched and writing a NUL-terminated message into err (if err is
 * non-NULL and errlen > 0), e.g. `not a valid duration string: "xyz"`.
 */
int pg_units_parse_duration(const char *s, int64_t *out_ms, char *err, size_t errlen);

/*
 * Format milliseconds Prometheus-style ("1h30m", "15s", "500ms", "0s").
 * Returns 0 on success; -1 if ms is negative, buf is NULL or len is too small
 * (buf is then set to "" when len > 0).
 */
int pg_units_format_duration(int64_t ms, char *buf, size_t len);

/*
 * Parse a byte size ("512MiB", "1GB", "4096", "0") into bytes.
 * Returns 0 and stores *out_bytes on success; returns -1 on failure, leaving
 * *out_bytes untouched and writing a NUL-terminated message into err (if err
 * is non-NULL and errlen > 0).
 */
int pg_units_parse_size(const char *s, uint64_t *out_bytes, char *err, size_t errlen);

/*
 * Format bytes using the largest IEC unit that divides it exactly
 * (536870912 -> "512MiB", 1536 -> "1536B", 0 -> "0B"); the output always
 * parses back to the same value. Returns 0 on success; -1 if buf is NULL or
 * len is too small (buf is then set to "" when len > 0).
 */
int pg_units_format_size(uint64_t bytes, char *buf, size_t len);

#endif /* PG_YAMLCFG_UNITS_H */
