/* target_type.h - relabel_configs per target x profile type (Alloy's pyroscope.scrape).
 *
 * A job's relabel_configs run once per (target, enabled profile type), with the type
 * visible to them: before the rules, __name__ is the type's config name (process_cpu,
 * memory, godeltaprof_memory, a custom name), __profile_path__ its path and
 * __profile_path_prefix__ the job's path_prefix, the last two only where discovery did
 * not set them and not when empty (Alloy's setIfNotPresentAndNotEmpty). So a rule can drop
 * a type for some targets (source_labels [__name__], regex block|mutex, action drop), keep
 * a type only where an annotation asks for it, or change one type's path, port or scheme.
 * After the rules, scraper/target.h's pg_target_profile builds the URL from the relabeled
 * __scheme__, __address__, __profile_path_prefix__ and __profile_path__.
 *
 * Cost: relabeling per type multiplies the work by the number of types. The rules are
 * therefore split: those before the first rule that reads or writes a per-type label (its
 * source_labels or target_label is one of the three, a labelmap or labeldrop whose regex
 * matches one of them or a labelmap whose replacement may name one, a labelkeep whose regex
 * does not match all three, a target_label with a $ template) cannot tell the types apart
 * and run once per target (pg_target_populate_common); the rest run once per type
 * (pg_target_populate_type). A job whose rules never look at the type costs what it cost
 * before (one relabel per target). In the legacy Pyroscope dialect (job->legacy_app_name)
 * __name__ is the application name: the rules run once per target without the type, and
 * __name__ is removed after them (its rules copy it to service_name).
 *
 * Owner: the scraper (scraper.c's sync and the `targets` command, daemon/targets.c). */
#ifndef PG_SCRAPER_TARGET_TYPE_H
#define PG_SCRAPER_TARGET_TYPE_H

#include <stddef.h>

#include "config/config.h"
#include "core/labels.h"
#include "relabel/relabel.h"

/* *rule after a call that did not drop by a rule. */
#define PG_TARGET_NO_RULE ((size_t)-1)

/* Returns 1 if rule r reads or writes __name__, __profile_path__ or
 * __profile_path_prefix__ (as the header says), else 0. */
int pg_target_rule_per_type(const struct pg_relabel_rule *r);

/* Returns the index of job's first per-type rule, or job->n_relabel when there is none. */
size_t pg_target_type_split(const struct pg_cfg_scrape *job);

/* The per-target stage: pg_target_prepare, then rules [0, split) (trace/ud as in
 * pg_relabel_process, rule indices absolute), then, when split == job->n_relabel,
 * pg_target_finish. __name__ is removed from *out (each type sets its own). Returns 1
 * (kept), 0 (dropped by rule *rule) or -1 (error in err: "no address", "relabel_configs[2]:
 * regex match limit hit", ...; *rule is then the rule when one failed, else
 * PG_TARGET_NO_RULE). *out is empty unless 1. */
int pg_target_populate_common(const struct pg_cfg_scrape *job, const struct pg_labels *group_labels,
                              const struct pg_labels *target_labels, struct pg_labels *discovered,
                              struct pg_labels *out, size_t split, pg_relabel_trace_fn trace,
                              void *ud, size_t *rule, char *err, size_t errlen);

/* The per-type stage for profile type p on a kept common set (read only): *out (initialised,
 * replaced) = common plus the type's labels, then rules [split, n), then pg_target_finish.
 * Must only be called when split < job->n_relabel (otherwise common is already final and
 * pg_target_profile takes it as is). Returns as pg_target_populate_common. */
int pg_target_populate_type(const struct pg_cfg_scrape *job, const struct pg_labels *common,
                            size_t split, const struct pg_cfg_profile *p, struct pg_labels *out,
                            pg_relabel_trace_fn trace, void *ud, size_t *rule, char *err,
                            size_t errlen);

#endif
