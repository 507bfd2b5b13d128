/* ingest_parse.h - pure parsing for the push receiver (no I/O, no event loop).
 *
 * Everything the receiver must get exactly as Pyroscope does, kept apart so it can be
 * tested without sockets: the /ingest query (the `name=app{k=v,...}` label set as
 * Pyroscope's labelset.Parse reads it, from/until as its attime.Parse reads them, format,
 * spyName, sampleRate), multipart/form-data bodies (`profile`, `prev_profile`,
 * `sample_type_config` parts), the __name__ of a pprof body (Pyroscope's
 * RawProfile.metricName with sample_type_config display names), the legacy
 * name-suffix profile types (Pyroscope's ingest adapter convertMetadata; the folded stacks
 * they come with are converted to pprof by profile/folded.h), the series labels of an
 * /ingest profile, and the validation of a pushed series (Pyroscope's ValidateLabels with
 * its default limits) and tenant ids (dskit's rules). */
#ifndef PG_DAEMON_INGEST_PARSE_H
#define PG_DAEMON_INGEST_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"
#include "profile.pb-c.h"

/* Pyroscope's default validation limits (max_label_names_per_series,
 * max_label_name_length, max_label_value_length). */
#define PG_INGEST_MAX_LABEL_NAMES 30
#define PG_INGEST_MAX_NAME_LEN 1024
#define PG_INGEST_MAX_VALUE_LEN 2048
/* dskit's MaxTenantIDLength. */
/* Hostile-input caps (profgate's, not Pyroscope's; each is checked before the work it
 * bounds): {k=v} pairs in an /ingest name (twice what a series may carry) and entries in a
 * sample_type_config (the folded-stacks conversion's budget is profile/folded.h's). */
#define PG_INGEST_MAX_NAME_PAIRS (2 * PG_INGEST_MAX_LABEL_NAMES)
#define PG_INGEST_MAX_SAMPLE_TYPES 256

enum pg_ingest_format {
    PG_INGEST_AUTO = 0, /* no format: multipart, else pprof if it decodes, else groups */
    PG_INGEST_PPROF,    /* format=pprof */
    PG_INGEST_GROUPS,   /* format=folded|groups: "frame;frame;... count" per line */
    PG_INGEST_LINES,    /* format=lines: one stack per line, count 1 */
};

/* The metadata of one /ingest request. Strings and labels owned. */
struct pg_ingest_params {
    char *app;               /* name before '{', trimmed (e.g. "myapp" or "myapp.cpu") */
    struct pg_labels labels; /* the {k=v,...} part (empty values dropped) */
    int64_t from_ns, until_ns;
    enum pg_ingest_format format;
    char *spy_name;       /* spyName, default "unknown" */
    uint32_t sample_rate; /* sampleRate, default 100; unparsable -> 100 (as Pyroscope) */
};

/* Parses a Pyroscope label-set name "app{k=v,k2=v2}" (braces optional). app: trimmed,
 * non-empty, characters [A-Za-z0-9_./-]. Keys: trimmed, non-empty, [A-Za-z0-9_.] (dots
 * kept). Values: trimmed; a value may be double-quoted ("a,b}" with \" and \\ escapes),
 * which Pyroscope itself does not unquote. The last of repeated keys wins; empty values
 * are dropped. More than PG_INGEST_MAX_NAME_PAIRS pairs -> "too many labels" error. On success
 * returns 0 with *app (new string) and the pairs added to labels; on failure -1 with a reason in
 * err (nothing allocated; labels may hold some pairs). */
int pg_ingest_parse_name(const char *name, char **app, struct pg_labels *labels, char *err,
                         size_t errlen);

/* Parses a from/until value as Pyroscope's attime.Parse: digits only -> 8 digits that
 * form a date YYYYMMDD (UTC), else unix time in ms (13 digits), µs (16), ns (19) or
 * seconds (any other count); "now", "now-1h", "-10s", "now+5m" (units s, min/m, h, d, w,
 * mon/M, y) relative to now_ns. '_', ',' and ' ' are ignored. Returns 0 with *out_ns, or
 * -1 with a reason in err ("... out of range" when the result does not fit in int64 ns). */
int pg_ingest_parse_time(const char *s, int64_t now_ns, int64_t *out_ns, char *err, size_t errlen);

/* Parses the whole query string (percent-encoded; '+' decodes to a space, as Go's
 * url.ParseQuery) into p (zeroed by this call). from and
 * until default to now_ns, as in Pyroscope. format: absent -> AUTO, pprof, folded or
 * groups -> GROUPS, lines -> LINES; anything else is an error. Returns 0, or -1 with a
 * reason in err (p is then reset). */
int pg_ingest_parse_query(const char *query, int64_t now_ns, struct pg_ingest_params *p, char *err,
                          size_t errlen);

/* Frees what p owns and zeroes it. Accepts a zeroed p. */
void pg_ingest_params_reset(struct pg_ingest_params *p);

/* One part of a multipart/form-data body; data points into the parsed body. */
struct pg_ingest_part {
    char name[64]; /* form field name (Content-Disposition name=) */
    const uint8_t *data;
    size_t len;
};

/* Returns 1 if content_type is multipart/form-data, else 0. content_type may be NULL. */
int pg_ingest_is_multipart(const char *content_type);

/* Splits a multipart/form-data body (boundary from content_type) into at most max_parts
 * parts (more -> error). Returns 0 with *n set, or -1 with a reason in err. Parts borrow
 * body. */
int pg_ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                              struct pg_ingest_part *parts, size_t max_parts, size_t *n, char *err,
                              size_t errlen);

/* Parses a sample_type_config JSON object ({"<sample type>": {"display-name": ...,
 * "units": ..., ...}, ...}) into display (sample type -> display-name, for the entries
 * that have one). More than PG_INGEST_MAX_SAMPLE_TYPES entries is an error. Returns 0, or
 * -1 with a reason in err. */
int pg_ingest_sample_type_config(const uint8_t *json, size_t len, struct pg_labels *display,
                                 char *err, size_t errlen);

/* Pyroscope's default sample type display names (samples -> cpu, goroutine -> goroutines,
 * contentions -> mutex_count, delay -> mutex_duration), used when the request has no
 * sample_type_config. Adds them to display. Returns 0 or -1 (OOM). */
int pg_ingest_default_sample_types(struct pg_labels *display);

/* Derives __name__ from p's sample types as Pyroscope's RawProfile.metricName: "wall" if
 * any sample type is wall; else the first sample type whose display name (display maps
 * sample type -> display name, borrowed) contains cpu -> process_cpu; alloc_ or inuse_,
 * or is space or objects -> memory; mutex_ -> mutex; block_ -> block; goroutines ->
 * goroutines; else the last sample type's display name. Writes it into out. Returns 0, or
 * -1 with "unknown profile type: ..." in err when there is no sample type or the fallback
 * is not a valid metric name. */
int pg_ingest_metric_name(const Perftools__Profiles__Profile *p, const struct pg_labels *display,
                          char *out, size_t outlen, char *err, size_t errlen);

/* The legacy profile type named by an ingest name's last ".suffix" (no dot -> cpu), as
 * Pyroscope's convertMetadata: e.g. "app.alloc_space" -> app "app", metric "memory",
 * sample type "alloc_space", unit "bytes". Returns 0 with *app (new string) and the three
 * static strings, or -1 with "unknown profile type: X" in err. */
int pg_ingest_legacy_type(const char *app_full, char **app, const char **metric, const char **type,
                          const char **unit, char *err, size_t errlen);

/* Builds the series labels of an /ingest profile as Pyroscope does: __name__=metric,
 * __delta__="false", pyroscope_spy=spy_name (when non-empty), every name label except
 * those starting with "__" (but __session_id__), and service_name=app unless the name
 * labels carry service_name, in which case app_name=app (unless present). out is reset
 * first. Returns 0 or -1 (OOM). */
int pg_ingest_series_labels(const struct pg_labels *name_labels, const char *app,
                            const char *metric, const char *spy_name, struct pg_labels *out);

/* Validates a series' labels as Pyroscope's ValidateLabels with its default limits: at
 * least one label, at most PG_INGEST_MAX_LABEL_NAMES names, __name__ a valid metric name,
 * service_name non-empty, names non-empty valid UTF-8 of at most PG_INGEST_MAX_NAME_LEN
 * bytes, values valid UTF-8 of at most PG_INGEST_MAX_VALUE_LEN bytes (dots and other
 * UTF-8 in names are kept: Pyroscope sanitises them itself). Returns 0, or -1 with a
 * reason in err. */
int pg_ingest_validate_series(const struct pg_labels *ls, char *err, size_t errlen);

#endif
