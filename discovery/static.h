/* static.h - the config of the "static" discovery mechanism (Prometheus static_configs),
 * loaded by discovery/static.c and, for the legacy Pyroscope dialect, by config/legacy.c.
 *
 * A job's static_configs are one config and one instance (as Prometheus's StaticConfig):
 * its groups are emitted once, as sources "static/<index>". */
#ifndef PG_DISCOVERY_STATIC_H
#define PG_DISCOVERY_STATIC_H

#include <stddef.h>

#include "core/labels.h"

/* One static_configs entry: targets (each becomes {__address__: target}) and labels. */
struct pg_cfg_static_group {
    char **targets;
    size_t n_targets;
    struct pg_labels labels;
};

/* The static mechanism's config: all of a job's static_configs. */
struct pg_cfg_static_sd {
    struct pg_cfg_static_group *groups;
    size_t n_groups;
};

#endif
