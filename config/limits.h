/* limits.h - Prometheus's per-job limits on targets and their labels, and their global
 * defaults.
 *
 * target_limit, label_limit, label_name_length_limit, label_value_length_limit and
 * keep_dropped_targets, each a non-negative integer where 0 means no limit, are accepted
 * both in a scrape job and in `global:` (as in Prometheus 2.47 and later); a job's 0
 * (or absent key) takes the global value, as Prometheus's ScrapeConfig.Validate does.
 * config.c calls these; the scraper (scraper/target_check.h) enforces them. */
#ifndef PG_CONFIG_LIMITS_H
#define PG_CONFIG_LIMITS_H

#include "config/config.h"
#include "yamlcfg/load.h"

/* The limit keys, for a key allow list: {..., PG_CFG_LIMIT_KEYS, NULL}. */
#define PG_CFG_LIMIT_KEYS                                                                          \
    "target_limit", "label_limit", "label_name_length_limit", "label_value_length_limit",          \
        "keep_dropped_targets"
#define PG_CFG_N_LIMIT_KEYS 5

/* Reads the limit keys of map (a job or the global block) into *lim; absent keys keep
 * *lim's values. Bad values (negative, not an integer) are reported into l. */
void pg_cfg_load_limits(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_cfg_limits *lim);

/* Gives every limit of *job that is 0 the value of *global. */
void pg_cfg_inherit_limits(struct pg_cfg_limits *job, const struct pg_cfg_limits *global);

#endif
