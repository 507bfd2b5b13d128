/* target.h - turning discovered target groups into scrape targets, as Prometheus does.
 *
 * pg_target_populate follows Prometheus 3's scrape.PopulateLabels (no default port is
 * appended): group labels overlaid by the target's own, job defaults added where unset,
 * relabel_configs applied, the address checked, __meta_* removed and instance defaulted.
 * pg_target_profile then derives, for one profile type of the job, the series labels
 * (__name__, __profile_path__, service_name) and the URL to fetch: the path is
 * __profile_path_prefix__ joined with __profile_path__ when the target's labels have them
 * (from discovery, or from relabeling per type: scraper/target_type.h), else the job's
 * path_prefix and the type's path. Labels whose names start with "__" stay in the set
 * for internal use; only public ones are shown/sent. */
#ifndef PG_SCRAPER_TARGET_H
#define PG_SCRAPER_TARGET_H

#include <stddef.h>

#include "config/config.h"
#include "core/labels.h"
#include "relabel/relabel.h"

/* Builds the labels of one target. group_labels and target_labels are read only (either
 * may be NULL). discovered and out must be initialised sets owned by the caller; their
 * old contents are replaced. *discovered receives the group labels overlaid by the
 * target's labels (the target wins). *out receives the final labels: discovered plus
 * job, __scheme__, __scrape_interval__, __scrape_timeout__ and __param_<k> (first value)
 * where unset, after job->relabel (trace/ud are passed to pg_relabel_process), with
 * __meta_* removed and instance defaulted to __address__.
 * Returns 1 for an active target, 0 if relabelling dropped it (*out empty), or -1 on
 * error with a message in err ("no address", "<addr> is not a valid hostname", a
 * relabel error such as "relabel_configs[1]: regex match limit hit", or an allocation
 * failure; *out empty). */
int pg_target_populate(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                       const struct pg_labels *target_labels, struct pg_labels *discovered,
                       struct pg_labels *out, pg_relabel_trace_fn trace, void *ud, char *err,
                       size_t errlen);

/* The steps of pg_target_populate, for callers that relabel in stages
 * (scraper/target_type.h). pg_target_prepare fills *discovered and *out (both replaced)
 * as pg_target_populate does before relabeling; returns 0 or -1 (OOM, *out empty).
 * pg_target_finish does what follows relabeling on *out: the address check, removal of
 * __meta_*, the instance default; returns 1, or -1 with the reason in err (*out empty). */
int pg_target_prepare(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                      const struct pg_labels *target_labels, struct pg_labels *discovered,
                      struct pg_labels *out);
int pg_target_finish(struct pg_labels *out, char *err, size_t errlen);

/* Returns 1 if a label name is public (does not start with "__"), else 0. */
int pg_target_is_public(const char *name);

/* Sets service_name in ls when missing: the discovered
 * __meta_kubernetes_pod_annotation_pyroscope_io_service_name, else
 * "<__meta_kubernetes_namespace>/<__meta_kubernetes_pod_container_name>" when both are
 * present, else "unspecified". discovered may be NULL. Allocation failure leaves ls
 * without service_name. */
void pg_target_infer_service_name(struct pg_labels *ls, const struct pg_labels *discovered);

/* Builds the series labels and URL for profile type p of a target whose final labels
 * (from pg_target_populate) are labels. *out (initialised, caller-owned) is replaced by a
 * copy of labels with __name__ = p->sent_name (or the __name__ of labels when relabeling
 * changed it from p->name), __profile_path__ = prefix + path (see above),
 * __profile_path_prefix__ removed and service_name inferred. *url receives a new string
 * the caller frees: <__scheme__>://<__address__><prefix><path>?<query>, the query being every
 * __param_<k> label (sorted, URL-escaped like Go's url.Values.Encode) plus
 * seconds=<delta_profiling_duration in whole seconds> when p->seconds and no seconds
 * param is set. Returns 0, or -1 on allocation failure or missing __address__ (*url NULL,
 * *out empty). */
int pg_target_profile(const struct pg_cfg_scrape *job, const struct pg_labels *labels,
                      const struct pg_labels *discovered, const struct pg_cfg_profile *p,
                      struct pg_labels *out, char **url);

#endif
