/* target_check.h - Prometheus's checks of a target after relabeling, and its limits.
 *
 * What scrape/target.go's PopulateLabels checks once relabeling is done (the scrape
 * interval and timeout labels, UTF-8 label values), the label limits scrape.go applies
 * to every series it appends (label_limit, label_name_length_limit,
 * label_value_length_limit), target_limit, and the per-target delta duration (the
 * seconds= of process_cpu follows a relabeled __scrape_interval__). Messages are
 * Prometheus's, word for word. Used by the scrape pools (scraper.c) and the `targets`
 * command, so both judge a target the same way. Pure functions: nothing is kept. */
#ifndef PG_SCRAPER_TARGET_CHECK_H
#define PG_SCRAPER_TARGET_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/labels.h"

/* Checks the final labels of a target (pg_target_populate's output): __scrape_interval__
 * and __scrape_timeout__ parse as durations, are not 0, the timeout is not above the
 * interval, the interval is at most a year (profgate's bound), and every label value is
 * valid UTF-8. Sets *interval_ms and *timeout_ms. Returns 0, or -1 with Prometheus's
 * message in err (e.g. `error parsing scrape interval: not a valid duration string:
 * "5x"`, `scrape timeout cannot be greater than scrape interval ("20s" > "10s")`,
 * `invalid label value for "a": "\xff"`). */
int pg_target_check(const struct pg_labels *fin, int64_t *interval_ms, int64_t *timeout_ms,
                    char *err, size_t errlen);

/* Checks the series labels a profile is sent with (public labels and __name__; other
 * "__" labels are internal and not counted) against lim's label limits. Returns 0, or
 * -1 with Prometheus's message in err (`label_limit exceeded (metric: memory, number of
 * labels: 7, limit: 5)`, and the name and value length ones). */
int pg_target_check_label_limits(const struct pg_cfg_limits *lim, const struct pg_labels *series,
                                 char *err, size_t errlen);

/* Returns 1 with `target_limit exceeded (number of targets: N, limit: M)` in err when a
 * job with n_targets active targets is over lim->target_limit, else 0. */
int pg_target_limit_exceeded(const struct pg_cfg_limits *lim, size_t n_targets, char *err,
                             size_t errlen);

/* Returns the delta profiling duration (ms) of a target with final labels fin: the job's
 * when the target keeps the job's scrape interval; otherwise the job's explicit
 * delta_profiling_duration if it is below the target's interval, else the target's
 * interval minus one second (the interval itself when it is 1 s or less), as the job's
 * default is derived. seconds= of process_cpu and fgprof is this in whole seconds. */
int64_t pg_target_delta_duration_ms(const struct pg_cfg_scrape *job, const struct pg_labels *fin);

#endif
