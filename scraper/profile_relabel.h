/* profile_relabel.h - a scrape job's profile_relabel_configs (the analogue of Prometheus's
 * metric_relabel_configs and Alloy's pyroscope.relabel).
 *
 * The rules run on the series labels of a scraped profile (the target's public labels,
 * __name__, service_name, __delta__ where set, __tenant_id__ where set) before it is
 * buffered. A loop's series labels are fixed, so the scraper runs them once when it makes
 * the loop (scraper.c) and keeps the result in it (loop.h: sent, discard): a scrape costs
 * nothing more. drop/keep discard every profile of the loop (the scrape still runs and its
 * health is shown; counted in profgate_profiles_relabel_dropped_total{job}).
 *
 * Owner: the scraper. Pure: no I/O, no metrics. */
#ifndef PG_SCRAPER_PROFILE_RELABEL_H
#define PG_SCRAPER_PROFILE_RELABEL_H

#include <stddef.h>

#include "config/config.h"
#include "core/labels.h"

/* Applies job->profile_relabel to a copy of series into *out (initialised, replaced).
 * Afterwards labels whose names start with "__" are removed, except __name__, __delta__
 * and __tenant_id__. Returns 1 when the profiles are kept (*out holds the labels to send),
 * 0 when they are discarded: by a rule ("profile_relabel_configs[1] (drop)"), by a regex
 * limit, or because __name__ or service_name is missing or empty afterwards (the reason in
 * why; *out empty), or -1 on OOM. */
int pg_scrape_profile_relabel(const struct pg_cfg_scrape *job, const struct pg_labels *series,
                              struct pg_labels *out, char *why, size_t whylen);

#endif
