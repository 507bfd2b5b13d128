/* limits.c - loads Prometheus's target and label limits (see limits.h). */
#include "config/limits.h"

void pg_cfg_load_limits(struct pg_cfg_ld *l, yaml_node_t *map, struct pg_cfg_limits *lim)
{
    pg_cfg_get_uint(l, map, "target_limit", &lim->target_limit);
    pg_cfg_get_uint(l, map, "label_limit", &lim->label_limit);
    pg_cfg_get_uint(l, map, "label_name_length_limit", &lim->label_name_length_limit);
    pg_cfg_get_uint(l, map, "label_value_length_limit", &lim->label_value_length_limit);
    pg_cfg_get_uint(l, map, "keep_dropped_targets", &lim->keep_dropped_targets);
}

void pg_cfg_inherit_limits(struct pg_cfg_limits *job, const struct pg_cfg_limits *global)
{
    if (job->target_limit == 0)
        job->target_limit = global->target_limit;
    if (job->label_limit == 0)
        job->label_limit = global->label_limit;
    if (job->label_name_length_limit == 0)
        job->label_name_length_limit = global->label_name_length_limit;
    if (job->label_value_length_limit == 0)
        job->label_value_length_limit = global->label_value_length_limit;
    if (job->keep_dropped_targets == 0)
        job->keep_dropped_targets = global->keep_dropped_targets;
}
