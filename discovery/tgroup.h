/* tgroup.h - target groups, the unit every discovery mechanism produces.
 *
 * As in Prometheus (discovery/targetgroup), a group has a source id unique within its
 * mechanism instance, common labels, and a list of targets, each a label set holding at
 * least __address__. An empty group for a known source means "that source is gone". */
#ifndef PG_TGROUP_H
#define PG_TGROUP_H

#include <stddef.h>

#include "core/labels.h"

struct pg_tgroup {
    char *source;              /* owned */
    struct pg_labels labels;   /* group labels, owned */
    struct pg_labels *targets; /* owned array of owned sets */
    size_t n_targets;
};

/* Initialises g with a copy of source. Returns 0 or -1 (g then needs no free). */
int pg_tgroup_init(struct pg_tgroup *g, const char *source);

/* Appends an empty target label set to g and returns it (borrowed), or NULL on OOM. */
struct pg_labels *pg_tgroup_add_target(struct pg_tgroup *g);

/* Deep-copies src into dst (uninitialised). Returns 0 or -1 on OOM (dst then needs no
 * reset). */
int pg_tgroup_copy(struct pg_tgroup *dst, const struct pg_tgroup *src);

/* Frees what g owns (not g itself). Accepts a zeroed g. */
void pg_tgroup_reset(struct pg_tgroup *g);

/* Resets each of n groups and frees the array. Accepts NULL. */
void pg_tgroup_free_array(struct pg_tgroup *groups, size_t n);

#endif
